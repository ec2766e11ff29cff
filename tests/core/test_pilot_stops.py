"""Pilots of a cancelled job: the core removes their hosts and tells each to stop (StopExecutor)."""

from __future__ import annotations

import itertools

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec
from stratosd.core.state import SchedulerState
from stratosd.core.types import ExecutorStopCause, PoolId, PoolKind
from tests.core.helpers import end, launches, reply, submit

_ids = itertools.count(3000)


def pilots_job(state: SchedulerState, name: str = "p") -> PoolId:
    reply(state.handle(ev.CreateJobRequested(next(_ids), name, JobSpec(master="pilots"), PoolKind.PILOTS, 1.0, True)))
    return state.jobs[name].pool


def stops(actions: list[act.Action]) -> list[act.StopExecutor]:
    return [a for a in actions if isinstance(a, act.StopExecutor)]


def cancel(state: SchedulerState, name: str) -> list[act.Action]:
    return state.handle(ev.CancelRequested(next(_ids), name, None))


def test_a_cancelled_job_stops_its_pilots_once_its_last_task_ended(state: SchedulerState) -> None:
    pool = pilots_job(state)
    submit(state, "p", ["a", "b", "c"])
    state.handle(ev.HostAdded("x1", pool, 1, 4096, "n1"), ev.HostAdded("x2", pool, 1, 4096, "n2"))
    assert stops(cancel(state, "p")) == []  # two attempts still run: the pilots must report their ends
    assert set(state.hosts) == {"x1", "x2"}
    assert stops(end(state, "p", 0, None, signal=15, reason="killed")) == []
    actions = end(state, "p", 1, None, signal=15, reason="killed")
    assert stops(actions) == [act.StopExecutor(pool, "x1", ExecutorStopCause.JOB_CANCELLED),
                              act.StopExecutor(pool, "x2", ExecutorStopCause.JOB_CANCELLED)]
    assert state.hosts == {} and state.pools[pool] == []


def test_cancelling_a_job_that_runs_nothing_stops_its_pilots_at_once(state: SchedulerState) -> None:
    pool = pilots_job(state)
    submit(state, "p", ["a"])
    reply(state.handle(ev.KillRequested(next(_ids), "p", None)))  # nothing runs, nothing waits
    state.handle(ev.HostAdded("x1", pool, 1, 4096, "n1"))
    assert stops(cancel(state, "p")) == [act.StopExecutor(pool, "x1", ExecutorStopCause.JOB_CANCELLED)]


def test_a_pilot_registering_with_a_cancelled_job_is_stopped_and_given_nothing(state: SchedulerState) -> None:
    pool = pilots_job(state)
    submit(state, "p", ["a"])
    cancel(state, "p")
    actions = state.handle(ev.HostAdded("late", pool, 4, 4096, "n9"))
    assert stops(actions) == [act.StopExecutor(pool, "late", ExecutorStopCause.JOB_CANCELLED)]
    assert launches(actions) == [] and "late" not in state.hosts


def test_a_finished_job_keeps_its_pilots_and_one_submitted_again_uses_them(state: SchedulerState) -> None:
    pool = pilots_job(state)
    submit(state, "p", ["a"])
    state.handle(ev.HostAdded("x1", pool, 1, 4096, "n1"))
    assert stops(end(state, "p", 0)) == []  # done, not cancelled: pilots wait for more work
    _, actions = submit(state, "p", ["b"])
    assert [(a.task_id, a.host_id) for a in launches(actions)] == [(1, "x1")]


def test_a_job_submitted_to_again_after_a_cancel_keeps_new_pilots(state: SchedulerState) -> None:
    pool = pilots_job(state)
    submit(state, "p", ["a"])
    cancel(state, "p")
    submit(state, "p", ["b"])  # no longer cancelled
    actions = state.handle(ev.HostAdded("x1", pool, 1, 4096, "n1"))
    assert stops(actions) == [] and [a.task_id for a in launches(actions)] == [1]
