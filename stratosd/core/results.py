"""Results: when an ended task's output becomes a numbered result, and in which order.

Stream calls publish a result when its task ends. Batch calls publish in submission order:
a relaunched task's replacements take its place, so a root is published once its whole
relaunch tree has ended. ``publish`` is the only writer of ``Job.published``.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from stratosd.core import actions as act
from stratosd.core import placement
from stratosd.core.model import EXITED, TERMINAL, Job, Task

if TYPE_CHECKING:
    from stratosd.core.state import SchedulerState


def ended(state: SchedulerState, job: Job, task: Task, now: float) -> None:
    """A task reached a terminal status: count it, finish the job, publish what is ready."""
    call = job.calls[task.call_id]
    call.unended -= 1
    if not job.unended:
        job.finished_at = now
        state.diff.job(job)
        if job.pool.kind.cluster and job.pool.job_key == job.key:  # a shared pool's idle pilots: on_tick
            state.effects.append(act.ReleasePool(job.pool, stimulus_id=state.stimulus))
        placement.stop_pilots_if_cancelled(state, job)
    if call.mode == "stream":
        if has_record(job, task):
            publish(state, job, [task.task_id])
        return
    if already_passed(job, call.roots, call.next_root, task):
        # a resubmitted task of a batch whose place was published: its new result comes now, once
        if has_record(job, task):
            publish(state, job, [task.task_id])
        return
    ready: list[int] = []
    while call.next_root < len(call.roots) and tree_ended(job, call.roots[call.next_root]):
        ready.extend(tree_results(job, call.roots[call.next_root]))
        call.next_root += 1
    if ready:
        publish(state, job, ready)


def already_passed(job: Job, roots: list[int], next_root: int, task: Task) -> bool:
    """Whether the batch root of ``task`` (itself, or the task it replaces) was published."""
    while task.parent is not None:
        task = job.tasks[task.parent]
    return bisect_left(roots, task.task_id) < next_root  # roots are in task id order


def tree_ended(job: Job, root: int) -> bool:
    """Whether a task and all its replacements (recursively) have ended."""
    task = job.tasks[root]
    return task.status in TERMINAL and all(tree_ended(job, c) for c in task.children)


def tree_results(job: Job, root: int) -> list[int]:
    """The tasks of a relaunch tree that have a result record, in replacement order."""
    task = job.tasks[root]
    if job.spec.output == "scheduler" and task.status in EXITED:
        # its stdout replaces nothing: its children (none) add nothing either
        return [root] if has_record(job, task) else []
    own = [root] if has_record(job, task) else []
    return own + [r for c in task.children for r in tree_results(job, c)]


def has_record(job: Job, task: Task) -> bool:
    """Whether an ended task gets a result sequence number.

    "scheduler": the tasks that exited (their stdout is the result). Other modes keep the
    output elsewhere, so every task that ran gets a record (status, exit, where its files
    are) for ``get_results(details=True)``, delivered once per cursor like results.
    """
    if job.spec.output == "scheduler":  # a task failed before it ran (after=) has no stdout
        return task.status in EXITED and task.attempt > 0
    return task.attempt > 0


def publish(state: SchedulerState, job: Job, task_ids: list[int]) -> None:
    """Give these tasks' records the job's next sequence numbers."""
    seqs = []
    for task_id in task_ids:
        job.published += 1
        seqs.append((task_id, job.published))
    state.diff.add(act.PublishResults(job.key, tuple(seqs), stimulus_id=state.stimulus))
