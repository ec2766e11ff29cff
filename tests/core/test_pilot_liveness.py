"""Pilot liveness is the core's: ExecutorHeard keeps a pilot, a Tick past pilot_lost_after loses it,
and after a restart the running tasks no returning pilot holds are lost when the window closes."""

from __future__ import annotations

import itertools

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec, Status
from stratosd.core.state import SchedulerState
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolId, PoolKind
from tests.core.helpers import launches, reply, submit

_ids = itertools.count(5000)


def slurm_job(state: SchedulerState, name: str = "s", **spec: object) -> PoolId:
    reply(state.handle(ev.CreateJobRequested(next(_ids), name, JobSpec(master="slurm", **spec), PoolKind.SLURM, 1.0,  # type: ignore[arg-type]
                                             True)))
    return state.jobs[name].pool


def stops(actions: list[act.Action]) -> list[act.StopExecutor]:
    return [a for a in actions if isinstance(a, act.StopExecutor)]


def test_a_pilot_silent_past_lost_after_is_lost_with_its_tasks_and_told_to_stop() -> None:
    state = SchedulerState(validate=True, pilot_lost_after=30.0)
    pool = slurm_job(state, max_retries=2)
    submit(state, "s", ["a", "b"])
    state.handle(ev.HostAdded("p1", pool, 1, 4096, "n1"), ev.ExecutorHeard("p1", 10.0),
                 ev.HostAdded("p2", pool, 1, 4096, "n2"), ev.ExecutorHeard("p2", 10.0))
    assert state.needs_tick()  # pilots stand: their silence is timed
    state.handle(ev.ExecutorHeard("p2", 35.0))
    assert stops(state.handle(ev.Tick(40.0))) == []  # exactly lost_after: not yet
    actions = state.handle(ev.Tick(40.5))
    assert stops(actions) == [act.StopExecutor(pool, "p1", ExecutorStopCause.SILENT)]
    assert set(state.hosts) == {"p2"}
    task = state.jobs["s"].tasks[0]
    assert task.status is Status.PENDING and task.reason == "retried after: host p1 left: no word from it for 30 s"
    # p2 goes on being heard and keeps running its task; a late word from p1 changes nothing
    state.handle(ev.ExecutorHeard("p2", 60.0), ev.ExecutorHeard("p1", 60.0))
    assert stops(state.handle(ev.Tick(70.0))) == [] and set(state.hosts) == {"p2"}
    state.validate()


def test_the_local_host_is_never_timed(state: SchedulerState) -> None:
    state.handle(ev.HostAdded("h1", "local", 2, 4096))
    assert not state.needs_tick()
    assert stops(state.handle(ev.Tick(1e9))) == [] and "h1" in state.hosts


def test_after_a_restart_tasks_whose_pilot_did_not_come_back_are_lost_when_the_window_closes() -> None:
    state = SchedulerState(validate=True, pilot_lost_after=30.0)
    pool = slurm_job(state, max_retries=1)
    submit(state, "s", ["a", "b"])
    state.handle(ev.HostAdded("p1", pool, 1, 4096, "n1"), ev.HostAdded("p2", pool, 1, 4096, "n2"))
    key = state.jobs["s"].key
    fresh = SchedulerState(validate=True, pilot_lost_after=30.0)
    fresh.restore(list(state.jobs.values()), now=100.0)
    assert fresh.needs_tick()  # the window is open, though no pilot stands yet
    fresh.handle(ev.HostAdded("p1", pool, 1, 4096, "n1", (AttemptRef(key, 0, 1),)), ev.ExecutorHeard("p1", 101.0))
    fresh.handle(ev.ExecutorHeard("p1", 125.0))
    assert fresh.handle(ev.Tick(129.0)) == []  # still waiting for p2
    actions = fresh.handle(ev.Tick(130.5))
    tasks = fresh.jobs["s"].tasks
    assert tasks[0].status is Status.RUNNING  # p1 holds it
    assert tasks[1].status is Status.PENDING
    assert tasks[1].reason == "retried after: its pilot did not come back after the daemon restarted"
    assert launches(actions) == []  # p1's one core is busy
    assert fresh.adopt_until == 0.0


def test_a_journal_rebuild_keeps_when_pilots_were_last_heard() -> None:
    state = SchedulerState(validate=True, pilot_lost_after=30.0)
    pool = slurm_job(state)
    state.handle(ev.HostAdded("p1", pool, 1, 4096, "n1"), ev.ExecutorHeard("p1", 500.0))
    jobs = list(state.jobs.values())
    state.reset()
    state.restore(jobs)
    assert stops(state.handle(ev.Tick(520.0))) == [] and "p1" in state.hosts


def test_the_adoption_window_runs_from_when_executors_can_reach_the_daemon_again() -> None:
    """A daemon slow to open its listeners after reading the journal does not spend the returning
    pilots' time: the window runs from ExecutorsReachable, never shorter than from the restore."""
    state = SchedulerState(validate=True, pilot_lost_after=5.0)
    pool = slurm_job(state, max_retries=1)
    submit(state, "s", ["a"])
    state.handle(ev.HostAdded("p1", pool, 1, 4096, "n1"))
    key = state.jobs["s"].key
    fresh = SchedulerState(validate=True, pilot_lost_after=5.0)
    fresh.restore(list(state.jobs.values()), now=100.0)
    fresh.handle(ev.ExecutorsReachable(109.0))  # listeners open 9 s after the journal was read
    assert fresh.handle(ev.Tick(112.0)) == []  # 12 s after the restore, 3 s after they opened
    assert fresh.jobs["s"].tasks[0].status is Status.RUNNING
    fresh.handle(ev.HostAdded("p1", pool, 1, 4096, "n1", (AttemptRef(key, 0, 1),)), ev.ExecutorHeard("p1", 113.0))
    fresh.handle(ev.Tick(114.5))
    assert fresh.adopt_until == 0.0 and fresh.jobs["s"].tasks[0].status is Status.RUNNING  # adopted, not rerun
    # an early ExecutorsReachable never shortens the window
    other = SchedulerState(validate=True, pilot_lost_after=5.0)
    other.restore(list(state.jobs.values()), now=100.0)
    other.handle(ev.ExecutorsReachable(90.0))
    assert other.adopt_until == 105.0
