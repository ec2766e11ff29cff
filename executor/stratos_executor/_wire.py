"""Between the ExecutorHub messages and the executor's own types (pilot side).

``TaskAssignment`` -> :class:`TaskSpec`, :class:`TaskRecord` -> ``TaskEndedReport``,
and a task's stdout cut into the pieces sent as ``TaskOutputReport``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import cast

from stratos_wire import stratos_pb2 as pb

from .spec import INLINE_STDOUT_LIMIT, OutputMode, TaskRecord, TaskSpec

#: bytes of stdout per TaskOutputReport (and the most sent inline in a TaskEndedReport).
PIECE_SIZE = 1 << 20
assert INLINE_STDOUT_LIMIT <= PIECE_SIZE
#: TaskSpec's default monitor interval, used when an assignment carries none (0).
_DEFAULT_UPDATE_INTERVAL = 10.0


def sandbox_path(work_dir: str, job_id: str, task_id: int, attempt: int) -> str:
    """WORK_DIR/JOB/<task_id>-<attempt>: one private directory per attempt."""
    return os.path.join(work_dir, job_id.replace(os.sep, "_"), f"{task_id}-{attempt}")


def spec_from_assignment(job_id: str, assignment: pb.TaskAssignment, sandbox: str) -> TaskSpec:
    """The TaskSpec of one assignment. Proto3 defaults mean "unset": "" -> None, 0 -> no limit / default."""
    a = assignment
    output = a.output or "scheduler"  # a bad mode is not hidden: the runner reports it as spawn-failed
    return TaskSpec(
        job_id=job_id,
        task_id=a.task_id,
        attempt=a.attempt,
        command=a.command,
        cwd=a.cwd,
        env=dict(a.env),
        threads=max(1, a.threads),
        output=cast(OutputMode, output),
        sandbox=sandbox,
        stdout_file=a.stdout_file or None,
        stderr_file=a.stderr_file or None,
        monitor=a.monitor or None,
        relauncher=a.relauncher or None,
        update_interval=a.update_interval if a.update_interval > 0 else _DEFAULT_UPDATE_INTERVAL,
        timeout=a.timeout if a.timeout > 0 else None,
        mem_limit=a.mem_limit if a.mem_limit > 0 else None,
        disk_limit=a.disk_limit if a.disk_limit > 0 else None,
    )


def ended_report(record: TaskRecord, *, inline: bool, stdout: bytes = b"", stdout_size: int = 0) -> pb.TaskEndedReport:
    """Every TaskEndedReport field from ``record``; the stdout fields as the caller sent them."""
    return pb.TaskEndedReport(
        has_exit_code=record.exit_code is not None,
        exit_code=record.exit_code if record.exit_code is not None else 0,
        signal=record.signal or 0,
        reason=record.reason,
        started=record.started,
        ended=record.ended,
        stdout_inline=inline,
        stdout=stdout if inline else b"",
        stdout_size=0 if inline else stdout_size,
        stdout_truncated=record.stdout_truncated,
        stderr_tail=record.stderr_tail,
        peak_rss_kb=record.peak_rss_kb,
        cpu_seconds=record.cpu_seconds,
        monitor_output=record.monitor_output,
        notes=list(record.notes),
        replacements=list(record.replacements),
        pid=record.pid,
        peak_rss_sum_kb=record.peak_rss_sum_kb,
        disk_kb=record.disk_kb,
        limit_kb=record.limit_kb,
        relaunch=record.relaunch.value,
        relaunch_error=record.relaunch_error,
        sandbox=record.sandbox,
        host=record.host,
    )


def inline_stdout(record: TaskRecord) -> bytes | None:
    """The stdout to send inline, or None when it goes in pieces.

    A record with no stdout at all (output modes other than "scheduler", a task
    killed before it started, a failed spawn) is sent inline and empty.
    """
    if record.stdout is not None:
        return record.stdout if len(record.stdout) <= PIECE_SIZE else None
    return None if record.stdout_path else b""


def stdout_pieces(record: TaskRecord) -> Iterator[tuple[int, bytes]]:
    """(offset, data) pieces of at most PIECE_SIZE bytes, read from the spill file one at a time.

    Raises OSError when the spill file cannot be read; pieces already yielded stay valid.
    """
    if record.stdout is not None:
        for offset in range(0, len(record.stdout), PIECE_SIZE):
            yield offset, record.stdout[offset : offset + PIECE_SIZE]
        return
    if not record.stdout_path:
        return
    with open(record.stdout_path, "rb") as f:
        offset = 0
        while piece := f.read(PIECE_SIZE):
            yield offset, piece
            offset += len(piece)


def describe_end(record: TaskRecord) -> str:
    """"exit code 3", "signal 15 (killed)", ... for the log."""
    if record.exit_code is not None:
        text = f"exit code {record.exit_code}"
    elif record.signal is not None:
        text = f"signal {record.signal}"
    else:
        text = "no exit status"
    return f"{text} ({record.reason})" if record.reason else text
