"""Protobuf <-> core conversions, and the daemon's own validation of what clients send."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from stratos_wire import settings as declared
from stratos_wire import stratos_pb2 as pb
from stratos_wire.errors import InvalidJobSpec
from stratos_wire.settings import AbsolutePath, SafeJobId, backend_of
from stratosd.core.model import Call, Job, JobSpec, Status, Task
from stratosd.core.replies import JobView
from stratosd.core.story import TaskStory
from stratosd.core.types import PoolKind

if TYPE_CHECKING:
    from stratosd.runtime import Removal

#: Slurm and user-started pilots: the core puts the job in the shared pool its settings select (core/pools.py).
_POOLS = {"local": (PoolKind.LOCAL, False), "pilots": (PoolKind.PILOTS, False), "slurm": (PoolKind.SLURM, False),
          "mesos": (PoolKind.MESOS, True)}


def check_job_id(job_id: str) -> str:
    # job ids become directory names (log_directory/<job_id>/); the client checks the same rule
    problem = SafeJobId().problem("job_id", job_id, wire=True)
    if problem is not None:
        raise InvalidJobSpec(problem + ".")
    return job_id


def pool_for(master: str) -> tuple[PoolKind, bool]:
    """The kind of pool a master names, and whether the job gets a pool of its own."""
    return _POOLS[backend_of(master or "local")]


def spec_from_proto(m: pb.JobSpec) -> JobSpec:
    """The core's spec of a client's, checked by the rules the client applies (``stratos_wire.settings``).

    Fields the proto leaves unset take the declared defaults; paths must already be absolute
    (the client resolves them where the script runs) and are normalised.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    settings = declared.spec_settings()
    for s in settings:
        raw = getattr(m, s.name)
        if declared.unset_on_wire(s, raw, getattr(m, s.presence) if s.presence else True):
            values[s.name] = s.default
            continue
        try:
            values[s.name] = declared.from_wire(s, raw)
        except ValueError:
            problems.append(f"{s.name} must be {declared.KIND_WORDS[s.kind]}, got {raw!r}")
            values[s.name] = s.default
    problems += declared.check(values, settings, wire=True)
    if problems:
        raise declared.invalid(problems)
    fields: dict[str, Any] = {}
    for s in settings:
        value = values[s.name]
        if any(isinstance(rule, AbsolutePath) for rule in s.rules):
            value = os.path.normpath(value)
        fields[s.core] = value
        if s.explicit:
            fields[s.core + "_set"] = getattr(m, s.explicit)
    return JobSpec(**fields)


def spec_to_proto(s: JobSpec) -> pb.JobSpec:
    fields: dict[str, Any] = {}
    for setting in declared.spec_settings():
        fields[setting.name] = declared.to_wire(setting, getattr(s, setting.core))
        if setting.presence:
            fields[setting.presence] = True
        if setting.explicit:
            fields[setting.explicit] = getattr(s, setting.core + "_set")
    return pb.JobSpec(**fields)


def job_info(job: JobView, renamed: str = "") -> pb.JobInfo:
    return pb.JobInfo(
        job_id=job.name, spec=spec_to_proto(job.spec), state=job.state, created=job.created,
        stream_opened=job.stream_opened, stream_closed=job.stream_closed, renamed_previous=renamed,
    )


def counts(by_status: dict[Status, int]) -> pb.StatusCounts:
    return pb.StatusCounts(**{status.value: n for status, n in by_status.items()})


def call_counts(job: Job, call: Call) -> dict[Status, int]:
    """The call's tasks by status (the core keeps them: no scan of the job's tasks)."""
    return dict(call.counts)


def duration(task: Task, now: float | None = None) -> float:
    """Seconds the task ran; for a running task, the seconds since it started (wall clock).

    The elapsed time is computed here, where a report is built: the core has no clock and
    its decisions never look at it.
    """
    if task.started and task.ended:
        return max(0.0, task.ended - task.started)
    if task.started and task.status is Status.RUNNING:
        return max(0.0, (time.time() if now is None else now) - task.started)
    return 0.0


def task_summary(task: Task) -> pb.TaskSummary:
    return pb.TaskSummary(
        task_id=task.task_id, status=task.status.value, command=task.command, host=task.host,
        attempts=task.attempt, has_exit_code=task.exit_code is not None, exit_code=task.exit_code or 0,
        signal=task.signal or 0, duration=duration(task), started=task.started, call_id=task.call_id,
    )


def removed_job(r: Removal) -> pb.RemovedJob:
    return pb.RemovedJob(
        job_id=r.name, finished_at=r.finished_at, tasks=r.tasks, results=r.results,
        journal_bytes=r.journal_bytes, sandbox_directory=r.sandbox_directory, sandbox_bytes=r.sandbox_bytes,
        output_directory=r.output_directory, output_files=len(r.output_files), output_bytes=r.output_bytes,
        outputs_deleted=r.outputs_deleted, output_directory_removed=r.output_directory_removed,
        other_files=r.other_files,
    )


def task_story(job_id: str, task_id: int, story: TaskStory) -> pb.TaskStory:
    """A task's story (core/story.py) as GetTaskStory answers it."""
    return pb.TaskStory(
        job_id=job_id, task_id=task_id, truncated=story.truncated, kept_since=story.kept_since,
        lines=[
            pb.StoryLine(
                time=e.when, attempt=e.attempt, from_status=e.start.value, to_status=e.finish.value,
                event=e.event, stimulus_id=e.stimulus_id, reason=e.why.value, host=e.host, detail=e.detail,
            )
            for e in story.entries
        ],
    )
