"""Followed patterns (``glob_stream(..., follow=True)``): new files become tasks, each exactly once.

The daemon's watcher (stratosd/follow.py) scans each active pattern at a bounded interval and
tells the core what it found (:class:`~stratosd.core.events.FilesFound`); the core makes tasks
of the files it has not seen and journals them with the follow's ``seen`` set in one
transaction, so a file is never made a task twice, whatever the watcher sends again, and none
is lost across a restart (the next scan finds what appeared meanwhile).

A follow ends when ``stop_following()`` is called, when its call or job is cancelled, or, in a
job that runs after another (``after=``), when that job has ended: it is then told to make one
last scan (``FINAL_SCAN``), begun after the awaited job ended, so every file that job wrote is
taken; if the awaited job failed (the job is blocked) it ends at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratos_wire.errors import InvalidSubmission
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core import lifecycle
from stratosd.core.model import Call, Follow, Job
from stratosd.core.types import FollowState, Hold

if TYPE_CHECKING:
    from stratosd.core.state import SchedulerState


def start(state: SchedulerState, job: Job, call: Call, plan: ev.FollowPlan, first_task_id: int) -> Follow:
    """Follow a submission's patterns; its first glob's files are seen already."""
    follow = Follow(len(job.follows), call.call_id, plan.patterns, plan.template, plan.mount, seen=set(plan.files))
    if job.hold is Hold.RELEASED:  # the awaited job has ended already: one more scan is all there is
        follow.state = FollowState.FINAL_SCAN
    elif job.hold is Hold.BLOCKED:
        follow.state, follow.reason = FollowState.ENDED, job.hold_reason
    job.follows.append(follow)
    files = tuple((first_task_id + i, f) for i, f in enumerate(plan.files))
    state.diff.add(act.SaveFollow(job.key, follow, files, stimulus_id=state.stimulus))
    return follow


def on_files_found(state: SchedulerState, e: ev.FilesFound) -> None:
    job = state.by_key.get(e.job_key)
    if job is None or not 0 <= e.follow_id < len(job.follows):
        return
    follow = job.follows[e.follow_id]
    if not follow.active:
        return  # stopped meanwhile: what the scan found is not wanted
    new: dict[str, str] = {}
    for file, command in zip(e.files, e.commands, strict=False):  # the watcher sends them in pairs
        if file not in follow.seen and file not in new:
            new[file] = command
    first = len(job.tasks)
    if new:
        lifecycle.add_tasks(state, job, job.calls[follow.call_id], list(new.values()), e.now)
        follow.seen.update(new)
    if e.final and follow.state is FollowState.FINAL_SCAN:
        _end(state, job, follow, f"{job.hold_reason}: its last scan was made" if job.hold_reason
             else "its last scan was made")
    if new:  # the files are journaled with their tasks, in this step's transaction
        state.diff.add(act.SaveFollow(job.key, follow, tuple((first + i, f) for i, f in enumerate(new)),
                                      stimulus_id=state.stimulus))


def on_stop_following(state: SchedulerState, e: ev.StopFollowingRequested) -> None:
    job = state.job(e.name)
    if e.follow_id is not None and not 0 <= e.follow_id < len(job.follows):
        raise InvalidSubmission(f"job {job.name} has no followed pattern {e.follow_id} "
                                f"(`stratosctl status {job.name}` lists what it follows).")
    state.reply(e, stop(state, job, e.follow_id, "stop_following() was called"))


def stop(state: SchedulerState, job: Job, follow_id: int | None, reason: str, call_id: int | None = None) -> int:
    """End the job's active follows (one of them, or those of one call); how many were ended."""
    count = 0
    for follow in job.follows:
        if follow.active and (follow_id is None or follow.follow_id == follow_id) and (
                call_id is None or follow.call_id == call_id):
            _end(state, job, follow, reason)
            count += 1
    return count


def awaited_ended(state: SchedulerState, job: Job, run: bool) -> None:
    """The job this one runs after has ended: follows make their last scan (``run``), or end now."""
    for follow in job.follows:
        if follow.state is FollowState.FOLLOWING and run:
            follow.state = FollowState.FINAL_SCAN
            state.diff.add(act.SaveFollow(job.key, follow, stimulus_id=state.stimulus))
        elif follow.active and not run:
            _end(state, job, follow, job.hold_reason)


def _end(state: SchedulerState, job: Job, follow: Follow, reason: str) -> None:
    follow.state, follow.reason = FollowState.ENDED, reason
    state.diff.add(act.SaveFollow(job.key, follow, stimulus_id=state.stimulus))
    if not job.unended and not job.following:  # nothing more can come: the job has finished
        job.finished_at = state.now
        state.diff.job(job)
