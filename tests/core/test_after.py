"""after= and followed patterns in the core alone: holds, releases, blocks, files made tasks once."""

from __future__ import annotations

import itertools

import pytest

from stratos_wire.errors import InvalidJobSpec, InvalidSubmission, JobNotEnded, UnknownDependency
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import Job, JobSpec, Status, Task
from stratosd.core.replies import Submitted
from stratosd.core.state import SchedulerState
from stratosd.core.types import FollowState, Hold, TaskEndReason
from tests.core.helpers import add_host, create, end, launches, reply, submit, value

_ids = itertools.count(10_000)



def _hold(state: SchedulerState, name: str) -> Hold:
    """Read afresh (a helper keeps mypy from narrowing the attribute across the steps between)."""
    return state.jobs[name].hold


def _status(task: Task) -> Status:
    return task.status


def _follow_state(job: Job) -> FollowState:
    return job.follows[0].state

def _state() -> SchedulerState:
    state = SchedulerState(validate=True)
    add_host(state, cpus=4)
    return state


def _close(state: SchedulerState, name: str) -> list[act.Action]:
    return state.handle(ev.CloseStreamRequested(next(_ids), name))


def _follow(state: SchedulerState, name: str, files: list[str]) -> act.Reply:
    plan = ev.FollowPlan(("out/*",), "cat %f%", "", tuple(files))
    return reply(state.handle(ev.SubmitRequested(next(_ids), name, "stream", "/tmp", {},
                                                 [f"cat {f}" for f in files], 2.0, follow=plan)))


def _found(state: SchedulerState, name: str, files: list[str], final: bool = False, follow_id: int = 0
           ) -> list[act.Action]:
    job = state.jobs[name]
    return state.handle(ev.FilesFound(job.key, follow_id, tuple(files), tuple(f"cat {f}" for f in files), final, 3.0))


def test_a_job_after_another_holds_its_tasks_until_that_job_has_ended_and_is_closed() -> None:
    state = _state()
    create(state, "map")
    create(state, "red", after="map")
    _, acts = submit(state, "map", ["m0"], mode="stream")
    assert [state.jobs["map"].tasks[a.task_id].command for a in launches(acts)] == ["m0"]
    _, acts = submit(state, "red", ["r0", "r1"], mode="stream")
    assert launches(acts) == []  # held: pending, never placed
    assert _hold(state, "red") is Hold.WAITING
    assert launches(end(state, "map", 0)) == []  # ended but not closed: more may be submitted
    acts = _close(state, "map")
    assert len(launches(acts)) == 2
    assert _hold(state, "red") is Hold.RELEASED
    assert state.jobs["red"].hold_reason == "job map ended"


def test_when_the_awaited_job_failed_the_held_tasks_end_failed_unrun_naming_it() -> None:
    state = _state()
    create(state, "map")
    create(state, "red", after="map")
    submit(state, "map", ["m0", "m1"], mode="stream")
    submit(state, "red", ["r0"], mode="stream")
    end(state, "map", 0, 0)
    end(state, "map", 1, 3)
    acts = _close(state, "map")
    red = state.jobs["red"]
    task = red.tasks[0]
    assert launches(acts) == []
    assert red.hold is Hold.BLOCKED
    assert (task.status, task.end, task.attempt) == (Status.FAILED, TaskEndReason.AFTER_FAILED, 0)
    assert "job map failed (1 failed)" in task.reason and "retry red --failed" in task.reason
    assert not any(isinstance(a, act.PublishResults) for a in acts)  # it never ran: no stdout result
    # later submissions fail at once too; a retry is the user's choice to run them anyway
    submit(state, "red", ["r1"], mode="stream")
    assert red.tasks[1].status is Status.FAILED
    acts = state.handle(ev.RetryRequested(next(_ids), "red", None, 4.0))
    assert len(launches(acts)) == 2
    assert _hold(state, "red") is Hold.RELEASED


def test_run_after_failure_runs_the_tasks_anyway_and_says_so() -> None:
    state = _state()
    create(state, "map")
    create(state, "red", after="map", run_after_failure=True)
    submit(state, "red", ["r0"], mode="stream")
    acts = state.handle(ev.CancelRequested(next(_ids), "map", None))
    assert len(launches(acts)) == 1
    assert state.jobs["red"].hold_reason == "job map was cancelled; run anyway (run_after_failure=True)"


def test_after_an_unknown_job_or_itself_is_a_typed_error() -> None:
    state = _state()
    err = create(state, "red", after="nope").error
    assert isinstance(err, UnknownDependency)
    assert 'after="nope"' in str(err) and 'Processor(job_id="nope")' in str(err)
    assert "red" not in state.jobs
    create(state, "red")
    assert isinstance(create(state, "red2", after="red2").error, InvalidJobSpec)


def test_chains_settle_in_one_step_and_the_awaited_job_is_known_by_key_not_name() -> None:
    state = _state()
    create(state, "a")
    create(state, "b", after="a")
    create(state, "c", after="b")
    submit(state, "c", ["c0"], mode="stream")
    _close(state, "b")
    assert state.jobs["c"].held  # b ended, but only once it no longer waits for a
    acts = _close(state, "a")
    assert len(launches(acts)) == 1
    assert _hold(state, "b") is Hold.RELEASED and _hold(state, "c") is Hold.RELEASED
    # a job after "a" that ended is released at once; a new "a" is another job
    create(state, "d", after="a")
    assert _hold(state, "d") is Hold.RELEASED


def test_a_followed_pattern_makes_each_file_a_task_once_and_journals_them_together() -> None:
    state = _state()
    create(state, "red")
    r = _follow(state, "red", ["out/a"])
    assert value(r, Submitted).follow_id == 0 and value(r, Submitted).task_count == 1
    acts = _found(state, "red", ["out/a", "out/b", "out/b", "out/c d"])
    red = state.jobs["red"]
    assert [t.command for t in red.tasks] == ["cat out/a", "cat out/b", "cat out/c d"]
    saves = [a for a in acts if isinstance(a, act.SaveFollow)]
    assert [a.files for a in saves] == [((1, "out/b"), (2, "out/c d"))]
    order = [type(a) for a in acts if isinstance(a, act.JOURNAL_ACTIONS)]
    assert order.index(act.SaveTasks) < order.index(act.SaveFollow)  # one transaction, tasks first
    assert not any(isinstance(a, act.SaveTasks) for a in _found(state, "red", ["out/a", "out/b"]))
    assert len(red.tasks) == 3
    assert red.state == "active"
    for task in list(red.tasks):
        if task.status is Status.RUNNING:
            end(state, "red", task.task_id)
    assert red.state == "active"  # still following: more may come
    stopped = reply(state.handle(ev.StopFollowingRequested(next(_ids), "red")))
    assert stopped.value == 1
    assert red.state == "finished" and red.follows[0].reason == "stop_following() was called"
    _found(state, "red", ["out/z"])
    assert len(red.tasks) == 3  # a scan that raced the stop adds nothing


def test_a_followed_pattern_after_a_job_ends_with_a_last_scan_begun_after_that_job_ended() -> None:
    state = _state()
    create(state, "map")
    create(state, "red", after="map")
    _follow(state, "red", [])
    red = state.jobs["red"]
    _found(state, "red", ["out/a"])
    assert red.tasks[0].status is Status.PENDING  # held
    assert isinstance(reply(state.handle(ev.RemoveJobRequested(next(_ids), "red"))).error, JobNotEnded)
    _close(state, "map")
    assert red.follows[0].state is FollowState.FINAL_SCAN
    assert _status(red.tasks[0]) is Status.RUNNING
    _found(state, "red", ["out/a", "out/b"], final=False)  # began before: not the last
    assert red.follows[0].state is FollowState.FINAL_SCAN
    _found(state, "red", ["out/a", "out/b", "out/c"], final=True)
    assert _follow_state(red) is FollowState.ENDED
    assert [t.command for t in red.tasks] == ["cat out/a", "cat out/b", "cat out/c"]


def test_a_follow_ends_at_once_when_the_awaited_job_failed_or_the_job_is_cancelled() -> None:
    state = _state()
    create(state, "map")
    create(state, "red", after="map")
    _follow(state, "red", [])
    state.handle(ev.CancelRequested(next(_ids), "map", None))
    red = state.jobs["red"]
    assert red.follows[0].state is FollowState.ENDED and red.follows[0].reason == "job map was cancelled"
    assert red.state == "finished"
    create(state, "solo")
    _follow(state, "solo", [])
    state.handle(ev.CancelRequested(next(_ids), "solo", None))
    assert not state.jobs["solo"].following


def test_follow_ids_are_checked_and_an_empty_submission_needs_a_follow() -> None:
    state = _state()
    create(state, "red")
    assert isinstance(reply(state.handle(ev.StopFollowingRequested(next(_ids), "red", 3))).error,
                      InvalidSubmission)
    r, _ = submit(state, "red", [], mode="stream")
    assert isinstance(r.error, InvalidSubmission)


def test_holds_and_follows_survive_a_restore() -> None:
    state = _state()
    create(state, "map")
    create(state, "red", after="map")
    _follow(state, "red", ["out/a"])
    red = state.jobs["red"]
    # what the journal gives back: the same jobs, loaded afresh
    again = SchedulerState(validate=True)
    add_host(again, cpus=4)
    acts = again.restore([state.jobs["map"], red])
    assert launches(acts) == [] and again.held == {red.key: red}
    acts = _close(again, "map")
    assert len(launches(acts)) == 1


@pytest.mark.parametrize("status", ["failed", "lost", "killed"])
def test_each_unsuccessful_end_of_an_awaited_task_blocks(status: str) -> None:
    state = _state()
    create(state, "map", max_retries=0)
    create(state, "red", after="map")
    submit(state, "map", ["m0"], mode="stream")
    submit(state, "red", ["r0"], mode="stream")
    map_job = state.jobs["map"]
    if status == "failed":
        end(state, "map", 0, 1)
    elif status == "lost":
        state.handle(ev.TaskLost(map_job.key, 0, 1, "host gone", 5.0))
    else:
        state.handle(ev.KillRequested(next(_ids), "map", (0,)))
        end(state, "map", 0, None, signal=15)
    _close(state, "map")
    assert _hold(state, "red") is Hold.BLOCKED
    assert f"1 {status}" in state.jobs["red"].hold_reason


def test_job_spec_defaults_have_no_after() -> None:
    assert JobSpec().after is None and JobSpec().run_after_failure is False


def test_the_awaited_job_is_known_by_its_key_when_a_new_job_takes_its_name() -> None:
    state = _state()
    create(state, "map")
    create(state, "red", after="map")
    submit(state, "red", ["r0"], mode="stream")
    submit(state, "map", ["m0"], mode="stream")
    end(state, "map", 0)
    assert create(state, "map").error is None  # the ended, still open run is renamed map.1
    assert state.jobs["red"].held
    _close(state, "map")  # the new "map" is another job
    assert state.jobs["red"].held
    acts = _close(state, "map.1")
    assert len(launches(acts)) == 1 and state.jobs["red"].hold_reason == "job map.1 ended"


def test_removing_the_awaited_job_ends_the_wait_by_its_outcome() -> None:
    state = _state()
    create(state, "map")
    create(state, "red", after="map")
    submit(state, "map", ["m0"], mode="stream")
    submit(state, "red", ["r0"], mode="stream")
    end(state, "map", 0, 2)
    state.handle(ev.RemoveJobRequested(next(_ids), "map"))
    assert "map" not in state.jobs
    assert _hold(state, "red") is Hold.BLOCKED and state.jobs["red"].tasks[0].status is Status.FAILED
