"""The stream object of a job: adding tasks and looking at them while they run.

A thin handle (job id + connection): every method is one RPC, so several scripts and
``stratosctl`` see the same tasks, and a handle can be dropped and re-made at any time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from stratos_wire import stratos_pb2 as pb

from ._connection import Connection
from ._submit import Commands, split_commands, submit, task_ids
from ._waiting import say_tasks_keep_running, wait_until_done
from .records import Progress, TaskDetails, TaskReport, TaskStory

__all__ = ["Stream"]


class Stream:
    """The streaming side of a job (``job.stream``).

    Calling it, ``job.stream("cmd1; cmd2")``, submits commands in streaming mode, like
    ``add``. The counting and listing methods reflect the daemon's state at the moment
    of the call.
    """

    __slots__ = ("_calls", "_conn", "job_id", "progress")

    def __init__(self, conn: Connection, job_id: str, progress: bool | Literal["auto"] = "auto") -> None:
        self._conn = conn
        #: the job this stream belongs to.
        self.job_id = job_id
        #: the ``progress`` setting: a live progress line during wait() and wait_for_tasks().
        self.progress = progress
        #: when not None, the ids of the submission calls made through this handle are added to it.
        self._calls: list[int] | None = None

    def __repr__(self) -> str:
        return f"Stream(job_id={self.job_id!r})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the job, its counts by state and a progress bar."""
        from ._html import job_html  # only in a notebook

        return job_html("Stream", self._conn.get_status(self.job_id))

    def __call__(self, commands: Commands) -> Stream:
        """Submit commands in streaming mode (``job.stream(commands)``).

        Args:
            commands: one string of commands separated by newlines or semicolons, or a
                list of commands (semicolons inside a command are kept).

        Returns:
            This stream.

        Raises:
            InvalidSubmission: there is no command, or one is not a string.
            JobNotFound: the job no longer exists.
        """
        self.add(commands)
        return self

    def add(self, commands: Commands) -> Sequence[int]:
        """Add tasks to the job without waiting for them.

        Args:
            commands: one string of commands separated by newlines or semicolons, or a
                list of commands (semicolons inside a command are kept).

        Returns:
            The ids of the new tasks, in order (a range, unless another submission's tasks took
            ids between two parts of a large one).

        Raises:
            InvalidSubmission: there is no command, or one is not a string.
            JobNotFound: the job no longer exists.
        """
        reply = submit(
            self._conn, self.job_id, pb.PLAIN, pb.STREAM, items=split_commands(commands)
        )
        if self._calls is not None:
            self._calls.append(reply.call_id)
        return task_ids(reply)

    def kill(self, task_id: int, *more: int) -> int:
        """Stop tasks; a killed task is not run again.

        Args:
            task_id: a task of this job.
            *more: more tasks.

        Returns:
            How many tasks were stopped (ended tasks are left alone).

        Raises:
            TaskNotFound: a task id is not in this job.
        """
        return self._conn.kill(self.job_id, [task_id, *more])

    def kill_all(self) -> int:
        """Stop every pending or running task of the job.

        Returns:
            How many tasks were stopped.
        """
        return self._conn.kill(self.job_id, [])

    def stop_following(self, follow_id: int | None = None) -> int:
        """Stop following the job's patterns (``glob_stream(..., follow=True)``): files that
        appear from now on no longer become tasks; the tasks already made run on, and ``wait()``
        returns once they have ended.

        Args:
            follow_id: one followed pattern, by its id (``Processor.status().follows``);
                None: every pattern the job follows.

        Returns:
            How many followed patterns were stopped (0 when none was followed any more).

        Raises:
            InvalidSubmission: the job has no followed pattern ``follow_id``.
        """
        return self._conn.stop_following(self.job_id, follow_id)

    def closed(self) -> bool:
        """Whether wait() has been called and no task was submitted since.

        Returns:
            True once the stream is closed.
        """
        return self._conn.get_status(self.job_id).stream_closed

    def wait(self) -> bool:
        """Block until every task of the job has ended, then close the stream.

        Returns:
            True; False when the job never had a streaming submission (nothing to wait on).

        Raises:
            JobNotFound: the job no longer exists.
            KeyboardInterrupt: Ctrl-C; only the wait ends, the tasks keep running (a
                message on stderr says how to cancel them or wait again).
        """
        try:
            if not self._conn.get_status(self.job_id).stream_opened:
                return False
            wait_until_done(self._conn, self.job_id, progress=self.progress)
        except KeyboardInterrupt:
            say_tasks_keep_running(self._conn, self.job_id)
            raise
        self._conn.close_stream(self.job_id)
        return True

    def wait_for_tasks(
        self,
        on_progress: Callable[[Progress], None] | None = None,
        progress_interval: float = 1.0,
    ) -> Progress:
        """Block until every task of the job has ended, without closing the stream.

        Args:
            on_progress: called with the job's progress every ``progress_interval`` seconds.
            progress_interval: seconds between calls of ``on_progress``.

        Returns:
            The final counts.

        Raises:
            KeyboardInterrupt: Ctrl-C; only the wait ends, the tasks keep running (a
                message on stderr says how to cancel them or wait again).
        """
        interval = progress_interval if on_progress is not None else 0.0
        try:
            return wait_until_done(self._conn, self.job_id, None, interval, on_progress, self.progress)
        except KeyboardInterrupt:
            say_tasks_keep_running(self._conn, self.job_id)
            raise

    def count_running_tasks(self) -> int:
        """How many tasks are running now."""
        return self._conn.get_status(self.job_id).counts.running

    def list_running_tasks(self) -> list[int]:
        """The ids of the tasks running now."""
        return [task.task_id for task in self._conn.list_tasks(self.job_id, "running")]

    def count_unfinished_tasks(self) -> int:
        """How many tasks are pending or running."""
        counts = self._conn.get_status(self.job_id).counts
        return counts.pending + counts.running

    def count_total_tasks(self) -> int:
        """How many tasks the job has (every submission, relaunched tasks included)."""
        return self._conn.get_status(self.job_id).total

    def get_command(self, task_id: int) -> str:
        """The command of a task.

        Raises:
            TaskNotFound: no such task in this job.
        """
        return self._conn.get_task(self.job_id, task_id).summary.command

    def get_status(self, task_id: int) -> str:
        """A task's status: pending, running, finished, failed, killed, relaunched or lost.

        Raises:
            TaskNotFound: no such task in this job.
        """
        return self._conn.get_task(self.job_id, task_id).summary.status

    def tasks(self, state: str | None = None) -> list[TaskReport]:
        """The job's tasks, optionally only those with one status.

        Args:
            state: a status word; None: every task.

        Returns:
            The tasks in id order.
        """
        return [TaskReport.from_proto(t) for t in self._conn.list_tasks(self.job_id, state or "")]

    def task(self, task_id: int) -> TaskDetails:
        """Everything the daemon knows about one task.

        Raises:
            TaskNotFound: no such task in this job.
        """
        return TaskDetails.from_proto(self._conn.get_task(self.job_id, task_id))

    def story(self, task_id: int) -> TaskStory:
        """What happened to one task, line by line, as dask's ``story()``: each status it went
        through, the event that caused each move (and decisions that moved nothing), the host,
        the attempt and when.

        The daemon keeps stories in memory, bounded per job: after a restart an unended task's
        story begins again with a ``restore`` line, and ``truncated`` says earlier lines were
        dropped.

        Returns:
            A ``TaskStory`` whose ``lines`` (``StoryLine`` records) are oldest first; iterate it
            to go through them.

        Raises:
            JobNotFound: the job was removed.
            TaskNotFound: no such task in this job.
        """
        return TaskStory.from_proto(self._conn.task_story(self.job_id, task_id))
