"""Jobs that run after another (``Processor(after="map")``): holding their tasks, then releasing them.

A job created with ``after`` names an existing job, resolved to its key when the job is created
(a later job given the same name is not the one awaited). While the job is ``WAITING`` its
pending tasks are never placed (placement asks ``Job.held``). At the end of every core step
:func:`settle` looks at the waiting jobs: once the awaited job has *ended* -- not waiting
itself, no unended task, no followed pattern, and closed (its stream closed by ``wait()``, ``close()``, a ``with``
block left, or the job cancelled or removed) -- the waiting job is

- ``RELEASED`` when every task of the awaited job finished (or relaunched), or when the user
  chose ``run_after_failure=True``: its tasks run;
- ``BLOCKED`` otherwise (a task failed, was lost or killed, or the job was cancelled): its
  pending tasks, and any it is given later, end ``failed`` without running, with a reason
  naming the awaited job. ``stratosctl retry JOB --failed`` runs them anyway.

Followed patterns of the job end with the wait (core/follows.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratos_wire.errors import InvalidJobSpec, UnknownDependency
from stratosd.core import follows, placement
from stratosd.core.model import Job, JobSpec, Status
from stratosd.core.transitions import move
from stratosd.core.types import Hold, TaskEndReason

if TYPE_CHECKING:
    from stratosd.core.state import SchedulerState

#: the task statuses of an awaited job that make it a failure for the jobs that run after it.
FAILING = (Status.FAILED, Status.LOST, Status.KILLED)


def resolve(state: SchedulerState, name: str, spec: JobSpec) -> int | None:
    """The key of the job ``spec.after`` names (None when it names none); raises when there is none."""
    if not spec.after:
        return None
    if spec.after == name:
        raise InvalidJobSpec(f'job "{name}" cannot run after itself: after= names another, existing job.')
    awaited = state.jobs.get(spec.after)
    if awaited is None:
        raise UnknownDependency(
            f'after="{spec.after}": no job of that name exists. Create the job to run after first '
            f'(Processor(job_id="{spec.after}")), or check its name with `stratosctl jobs`.'
        )
    return awaited.key


def hold(state: SchedulerState, job: Job, after_key: int | None) -> None:
    """A new job waits for the job it runs after."""
    if after_key is None:
        return
    job.after_key, job.hold = after_key, Hold.WAITING
    state.held[job.key] = job


def ended(job: Job) -> bool:
    """Whether jobs waiting for ``job`` may stop waiting: nothing of it runs, waits, or may come."""
    return not job.held and not job.unended and not job.following and (job.stream_closed or job.cancelled)


def failure(job: Job) -> str:
    """Why an ended job counts as failed for the jobs after it ("" when it did not fail)."""
    if job.cancelled:
        return f"job {job.name} was cancelled"
    bad = [f"{job.counts[s]} {s.value}" for s in FAILING if job.counts[s]]
    return f"job {job.name} failed ({', '.join(bad)})" if bad else ""


def settle(state: SchedulerState) -> None:
    """Release or block every waiting job whose awaited job has ended (chains settle in one step)."""
    changed = True
    while changed and state.held:
        changed = False
        for job in list(state.held.values()):
            awaited = state.by_key.get(job.after_key) if job.after_key is not None else None
            if awaited is not None and not ended(awaited):
                continue
            why = failure(awaited) if awaited is not None else ""
            name = awaited.name if awaited is not None else job.spec.after
            if not why:
                release(state, job, Hold.RELEASED, f"job {name} ended")
            elif job.spec.run_after_failure:
                release(state, job, Hold.RELEASED, f"{why}; run anyway (run_after_failure=True)")
            else:
                release(state, job, Hold.BLOCKED, why)
            changed = True


def release(state: SchedulerState, job: Job, to: Hold, why: str) -> None:
    """End the wait: the tasks run (RELEASED) or end failed unrun (BLOCKED); followed patterns end."""
    job.hold, job.hold_reason = to, why
    state.held.pop(job.key, None)
    state.diff.job(job)
    follows.awaited_ended(state, job, run=to is Hold.RELEASED)
    if to is Hold.BLOCKED:
        fail_pending(state, job)
        return
    for task in job.tasks:
        if task.status is Status.PENDING:
            state.note(job, task, f"released: {why}")
    if job.pending:
        state.waiting.setdefault(job.pool, {})[job.key] = job
        if job.pool.kind.cluster:
            placement.revive(state, job)


def fail_pending(state: SchedulerState, job: Job) -> None:
    """A blocked job's pending tasks end failed without running, saying why and what to do."""
    if job.hold is not Hold.BLOCKED:
        return
    reason = (f"not run: {job.hold_reason}, and this job runs after it (after={job.spec.after!r}); "
              f"`stratosctl retry {job.name} --failed` runs these tasks anyway, as run_after_failure=True would")
    for task in job.tasks:
        if task.status is Status.PENDING:
            task.reason, task.end, task.ended = reason, TaskEndReason.AFTER_FAILED, state.now
            move(state, job, task, Status.FAILED, now=state.now)


def retried(state: SchedulerState, job: Job) -> None:
    """The user retries a blocked job's tasks: their choice to run them anyway."""
    if job.hold is Hold.BLOCKED:
        job.hold, job.hold_reason = Hold.RELEASED, f"{job.hold_reason}; run anyway (retried)"
        state.diff.job(job)
