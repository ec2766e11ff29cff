"""The task state machine as data: which moves are allowed, and the one function that makes them.

``move`` is the only place a task's status changes after it was created (restore and
a rebuild recompute the derived counters from the statuses they load). Anything not in
``TRANSITIONS`` raises :class:`InvalidTransition`: the core never guesses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratosd.core import results
from stratosd.core.locality import best_hosts
from stratosd.core.model import TERMINAL, Job, Status, Task
from stratosd.core.story import StoryEntry

if TYPE_CHECKING:
    from stratosd.core.state import SchedulerState

#: start -> the statuses a task may move to from it (terminal statuses but failed have no entry).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    # pending -> lost: no pilot of its pool ever started (PilotStartFailed), no retries left.
    # pending -> failed: the job it runs after (after=) failed or was cancelled; it never ran.
    Status.PENDING: frozenset({Status.RUNNING, Status.KILLED, Status.LOST, Status.FAILED}),
    # failed -> pending: the user resubmits it (RetryRequested), a new attempt of the same task.
    Status.FAILED: frozenset({Status.PENDING}),
    Status.RUNNING: frozenset(
        {Status.FINISHED, Status.FAILED, Status.KILLED, Status.RELAUNCHED, Status.LOST, Status.PENDING}
    ),
}


class InvalidTransition(Exception):
    """A move the table does not allow: a bug in the core, never a user's mistake."""

    def __init__(self, job: str, task_id: int, start: Status, finish: Status) -> None:
        super().__init__(f"job {job} task {task_id}: {start.value} -> {finish.value} is not allowed")
        self.start, self.finish = start, finish


def move(state: SchedulerState, job: Job, task: Task, new: Status, now: float = 0.0, detail: str | None = None
         ) -> None:
    """Move a task to ``new``: its status, the job's counts, the journal mark, and the story
    (``detail``: what the line says; the task's reason by default).

    A terminal move also settles what the end means for the job (results, releasing its pool).
    """
    old = task.status
    if new not in TRANSITIONS.get(old, ()):
        raise InvalidTransition(job.name, task.task_id, old, new)
    task.status = new
    if old is Status.PENDING and task.host_bytes:  # it no longer waits near its data (index() counts it in)
        for host in best_hosts(task.host_bytes):
            left = job.local_pending.get(host, 0) - 1
            if left > 0:
                job.local_pending[host] = left
            else:
                job.local_pending.pop(host, None)
    job.counts[old] -= 1
    job.counts[new] += 1
    by_call = job.calls[task.call_id].counts
    by_call[old] -= 1
    by_call[new] += 1
    state.diff.task(job, task)
    state.stories.add(job.key, StoryEntry(task.task_id, task.attempt, old, new, task.end,
                                          task.reason if detail is None else detail, state.event, state.stimulus,
                                          task.host, state.told))
    if new in TERMINAL:
        results.ended(state, job, task, now)
