"""Blocking until a job, or one submission call of it, has no pending or running task."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from stratos_wire import stratos_pb2 as pb

from ._connection import Connection
from ._progress import PROGRESS_INTERVAL, ProgressLine
from .errors import StratosError
from .records import Progress

__all__ = ["say_tasks_keep_running", "wait_until_done"]


def wait_until_done(
    conn: Connection,
    job_id: str,
    call_id: int | None = None,
    interval: float = 0.0,
    on_progress: Callable[[Progress], None] | None = None,
    progress: bool | str = False,
) -> Progress:
    """Follow the Wait stream to its final message.

    Args:
        conn: the daemon.
        job_id: the job.
        call_id: one submission call; None: the whole job.
        interval: seconds between calls of ``on_progress``; 0: only with the final message.
        on_progress: called with progress messages, the final one included.
        progress: the ``progress`` setting: whether a live progress line is shown meanwhile.

    Returns:
        The final progress (``done`` is true).

    Raises:
        StratosError: the daemon ended the stream without a final message.
        JobNotFound: the job does not exist.
    """
    line = ProgressLine(job_id, progress)
    wanted = min(interval or PROGRESS_INTERVAL, PROGRESS_INTERVAL) if line.on else interval
    request = pb.WaitRequest(job_id=job_id, progress_interval=wanted)
    if call_id is not None:
        request.has_call = True
        request.call_id = call_id
    stream = conn.wait(request)
    last = float("-inf")
    try:
        with line:
            for message in stream:
                current = Progress.from_proto(message)
                line.update(current)
                now = time.monotonic()
                if on_progress is not None and (current.done or (interval and now - last >= interval * 0.99)):
                    last = now
                    on_progress(current)
                if current.done:
                    return current
    finally:
        stream.close()
    raise StratosError(f"stratosd ended the wait on job {job_id!r} before its tasks were done")


def say_tasks_keep_running(conn: Connection, job_id: str) -> None:
    """Tell a user who pressed Ctrl-C in a wait that the job's tasks were not stopped.

    Only the wait ends: the daemon runs the tasks on. Batch calls cancel their tasks and
    say so; a stream's wait must say that it did not, and how to cancel or reattach.
    """
    try:
        counts = conn.get_status(job_id).counts
        left = f"the {counts.pending + counts.running} unended tasks"
    except StratosError:
        left = "the unended tasks"
    print(
        f"stratos: stopped waiting; {left} of job {job_id!r} keep running.\n"
        f"  cancel them:  stratosctl cancel {job_id}   (or job.cancel())\n"
        f"  wait again:   stratosctl wait {job_id}   "
        f"(or Processor.attach({job_id!r}).wait())",
        file=sys.stderr,
        flush=True,
    )
