"""Blocking until a job, or one submission call of it, has no pending or running task."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ._connection import Connection
from ._proto import stratos_pb2 as pb
from .errors import StratosError
from .records import Progress

__all__ = ["say_tasks_keep_running", "wait_until_done"]


def wait_until_done(
    conn: Connection,
    job_id: str,
    call_id: int | None = None,
    interval: float = 0.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Follow the Wait stream to its final message.

    Args:
        conn: the daemon.
        job_id: the job.
        call_id: one submission call; None: the whole job.
        interval: seconds between progress messages; 0: only the final one.
        on_progress: called with every message, the final one included.

    Returns:
        The final progress (``done`` is true).

    Raises:
        StratosError: the daemon ended the stream without a final message.
        JobNotFound: the job does not exist.
    """
    request = pb.WaitRequest(job_id=job_id, progress_interval=interval)
    if call_id is not None:
        request.has_call = True
        request.call_id = call_id
    stream = conn.wait(request)
    try:
        for message in stream:
            progress = Progress.from_proto(message)
            if on_progress is not None:
                on_progress(progress)
            if progress.done:
                return progress
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
