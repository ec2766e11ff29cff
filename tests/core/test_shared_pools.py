"""Shared pilot pools (issue 18): every Slurm job whose settings ask Slurm for the same pilots shares
one daemon-owned pool; its pilots run any of those jobs' tasks with fair share, the pool's demand sums
all its jobs, one idle timer stops a pilot (never with a task running), a job's cancel never stops
shared pilots, and a restarted daemon keeps the attempts of several jobs a returning pilot holds."""

from __future__ import annotations

import itertools
from typing import Any

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec, Status
from stratosd.core.pools import USER_PILOTS, slurm_pool
from stratosd.core.state import SchedulerState
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolId, PoolKind
from tests.core.helpers import end, launches, of, reply, submit

_ids = itertools.count(7000)


def slurm_job(state: SchedulerState, name: str, **spec: Any) -> PoolId:
    spec.setdefault("master", "slurm")
    reply(state.handle(ev.CreateJobRequested(next(_ids), name, JobSpec(**spec), PoolKind.SLURM,
                                             1.0, token=f"tok-{name}")))
    return state.jobs[name].pool


def demands(actions: list[act.Action]) -> list[tuple[str, int, int, int]]:
    return [(a.pool, a.pending, a.running, a.max_pilots) for a in of(act.PoolDemand, actions)]


def placed(actions: list[act.Action], state: SchedulerState) -> list[tuple[str, int]]:
    """(job name, task id) of each launch, in order."""
    names = {job.key: job.name for job in state.by_key.values()}
    return [(names[a.job_key], a.task_id) for a in launches(actions)]


def test_jobs_asking_slurm_for_the_same_pilots_share_one_named_pool(state: SchedulerState) -> None:
    a = slurm_job(state, "a")
    b = slurm_job(state, "b", max_pilots=9)  # not part of the pool's key
    c = slurm_job(state, "c", slurm_account="physics")
    d = slurm_job(state, "d", master="slurm://debug")
    assert a == b and a.shared and a.kind is PoolKind.SLURM and a.startswith("slurm/default,")
    assert c != a and "a=physics" in c and d != a and d.startswith("slurm/debug,")
    assert PoolId(str(c)) == c and PoolId(str(c)).job_key is None  # the journal's text reads back the same
    assert slurm_pool(state.jobs["c"].spec) == c
    reply(state.handle(ev.CreateJobRequested(next(_ids), "p", JobSpec(master="pilots"), PoolKind.PILOTS, 1.0)))
    assert state.jobs["p"].pool == USER_PILOTS


def test_a_time_limit_with_colons_makes_a_pool_id_that_reads_back(state: SchedulerState) -> None:
    pool = slurm_job(state, "t", slurm_time_limit="1-02:00:00")
    assert PoolId(str(pool)).name.endswith("t=1-02:00:00") and PoolId(str(pool)).kind is PoolKind.SLURM


def test_one_pilot_runs_two_jobs_tasks_fairly_and_each_launch_carries_its_own_jobs_settings(
        state: SchedulerState) -> None:
    pool = slurm_job(state, "a")
    slurm_job(state, "b")
    state.handle(ev.SubmitRequested(next(_ids), "a", "batch", "/data/a", {"WHO": "a"}, ["a0", "a1", "a2"], 2.0))
    state.handle(ev.SubmitRequested(next(_ids), "b", "batch", "/data/b", {"WHO": "b"}, ["b0", "b1", "b2"], 2.0))
    actions = state.handle(ev.HostAdded("slurm-1", pool, 2, 4096, "n1"))
    assert placed(actions, state) == [("a", 0), ("b", 0)]  # one of each, not a's two first
    by_job = {a.job_key: a.spec for a in launches(actions)}
    assert by_job[state.jobs["a"].key].cwd == "/data/a" and by_job[state.jobs["a"].key].env["WHO"] == "a"
    assert by_job[state.jobs["b"].key].cwd == "/data/b" and by_job[state.jobs["b"].key].env["WHO"] == "b"
    assert placed(end(state, "a", 0), state) == [("a", 1)]  # a's slot freed: b runs one, a runs one
    assert placed(end(state, "b", 0), state) == [("b", 1)]


def test_the_pools_demand_sums_its_jobs_and_allows_the_largest_max_pilots(state: SchedulerState) -> None:
    pool = slurm_job(state, "a", max_pilots=2)
    slurm_job(state, "b", max_pilots=6)
    _, actions = submit(state, "a", ["x", "y", "z"])
    assert demands(actions) == [(pool, 3, 0, 2)]  # b has nothing unended: its limit does not count yet
    _, actions = submit(state, "b", ["u", "v"])
    assert demands(actions) == [(pool, 5, 0, 6)]
    actions = state.handle(ev.HostAdded("slurm-1", pool, 3, 4096, "n1"))
    assert demands(actions) == [(pool, 2, 3, 6)]


def test_an_idle_pilot_stops_after_the_idle_time_while_its_pool_has_nothing_pending() -> None:
    state = SchedulerState(validate=True, pilot_idle_release=30.0, pilot_lost_after=1000.0)
    pool = slurm_job(state, "a")
    submit(state, "a", ["x"])
    state.handle(ev.HostAdded("slurm-1", pool, 1, 4096, "n1"), ev.Tick(3.0))
    end(state, "a", 0)
    assert of(act.ReleasePool, end(state, "a", 0)) == []  # a shared pool is never released by one job
    assert of(act.StopExecutor, state.handle(ev.Tick(10.0))) == []  # its idle time starts now
    assert of(act.StopExecutor, state.handle(ev.Tick(39.0))) == []
    stops = of(act.StopExecutor, state.handle(ev.Tick(40.0)))
    assert stops == [act.StopExecutor(pool, "slurm-1", ExecutorStopCause.IDLE)] and "slurm-1" not in state.hosts


def test_a_pilot_running_a_task_is_never_stopped_for_idleness_however_long_it_runs() -> None:
    state = SchedulerState(validate=True, pilot_idle_release=30.0, pilot_lost_after=1e9)
    pool = slurm_job(state, "a")
    submit(state, "a", ["sleep 1000"])
    state.handle(ev.HostAdded("slurm-1", pool, 2, 4096, "n1"))
    for now in range(5, 2000, 25):
        assert of(act.StopExecutor, state.handle(ev.Tick(float(now)))) == []
    assert state.jobs["a"].tasks[0].status is Status.RUNNING and "slurm-1" in state.hosts


def test_an_idle_pilot_is_kept_while_another_job_of_its_pool_has_tasks_waiting() -> None:
    state = SchedulerState(validate=True, pilot_idle_release=30.0, pilot_lost_after=1e9)
    pool = slurm_job(state, "a")
    slurm_job(state, "b", locality_wait=1e6)
    submit(state, "a", ["x"])
    state.handle(ev.HostAdded("slurm-1", pool, 1, 4096, "n1"))
    # b's task waits for the host holding its data, which this pilot is not
    state.handle(ev.SubmitRequested(next(_ids), "b", "stream", "/tmp", {}, ["wc <[/d/f]>"], 3.0,
                                    locality=[(10, (("n9", 10),))]))
    end(state, "a", 0)
    for now in (10.0, 50.0, 100.0):
        assert of(act.StopExecutor, state.handle(ev.Tick(now))) == []
    state.handle(ev.KillRequested(next(_ids), "b", None))
    state.handle(ev.Tick(101.0))
    assert of(act.StopExecutor, state.handle(ev.Tick(131.0))) == [
        act.StopExecutor(pool, "slurm-1", ExecutorStopCause.IDLE)]


def test_user_started_pilots_are_not_stopped_by_the_daemon_for_idleness() -> None:
    state = SchedulerState(validate=True, pilot_idle_release=30.0, pilot_lost_after=1e9)
    reply(state.handle(ev.CreateJobRequested(next(_ids), "p", JobSpec(master="pilots"), PoolKind.PILOTS, 1.0)))
    state.handle(ev.HostAdded("mine", USER_PILOTS, 1, 4096, "n1"))
    for now in (10.0, 100.0, 1000.0):
        assert of(act.StopExecutor, state.handle(ev.Tick(now))) == []


def test_cancelling_one_job_kills_its_tasks_only_and_stops_no_shared_pilot(state: SchedulerState) -> None:
    pool = slurm_job(state, "a")
    slurm_job(state, "b")
    submit(state, "a", ["a0"])
    submit(state, "b", ["b0", "b1"])
    actions = state.handle(ev.HostAdded("slurm-1", pool, 3, 4096, "n1"))
    assert sorted(placed(actions, state)) == [("a", 0), ("b", 0), ("b", 1)]
    actions = state.handle(ev.CancelRequested(next(_ids), "b", None))
    b = state.jobs["b"].key
    assert of(act.KillTask, actions) == [act.KillTask(b, 0, 1, pool), act.KillTask(b, 1, 1, pool)]
    assert of(act.StopExecutor, actions) == [] and of(act.ReleasePool, actions) == []
    for task_id in (0, 1):
        actions = end(state, "b", task_id, None, signal=15, reason="killed")
        assert of(act.StopExecutor, actions) == [] and of(act.ReleasePool, actions) == []
    assert state.jobs["a"].tasks[0].status is Status.RUNNING and "slurm-1" in state.hosts
    # the freed room takes the next job's task at once
    slurm_job(state, "c")
    _, actions = submit(state, "c", ["c0"])
    assert placed(actions, state) == [("c", 0)] and launches(actions)[0].host_id == "slurm-1"


def test_a_restarted_daemon_keeps_the_attempts_of_several_jobs_a_returning_pilot_holds(
        state: SchedulerState) -> None:
    pool = slurm_job(state, "a")
    slurm_job(state, "b")
    submit(state, "a", ["a0", "a1"])
    submit(state, "b", ["b0"])
    state.handle(ev.HostAdded("slurm-1", pool, 2, 4096, "n1"), ev.HostAdded("slurm-2", pool, 1, 4096, "n2"))
    a, b = state.jobs["a"].key, state.jobs["b"].key
    where = {(k, t): h for (k, t), h in state.book.placed.items()}
    fresh = SchedulerState(validate=True)
    fresh.restore(list(state.jobs.values()), now=100.0)
    held_1 = tuple(AttemptRef(k, t, 1) for (k, t), h in sorted(where.items()) if h == "slurm-1")
    actions = fresh.handle(ev.HostAdded("slurm-1", pool, 2, 4096, "n1", (*held_1, AttemptRef(b, 0, 7))))
    stale = [k for k in of(act.KillTask, actions)]
    assert (b, 0, 7) in [(k.job_key, k.task_id, k.attempt) for k in stale]  # an attempt it no longer wants
    assert not launches(actions)  # nothing runs twice
    held_2 = tuple(AttemptRef(k, t, 1) for (k, t), h in sorted(where.items()) if h == "slurm-2")
    actions = fresh.handle(ev.HostAdded("slurm-2", pool, 1, 4096, "n2", held_2))
    assert not launches(actions) and not of(act.KillTask, actions)
    assert fresh.unclaimed(PoolKind.SLURM) == []
    # the adoption window closes (the pilots still call): nothing is lost, nothing runs again
    actions = fresh.handle(ev.ExecutorHeard("slurm-1", 140.0), ev.ExecutorHeard("slurm-2", 140.0), ev.Tick(141.0))
    assert not launches(actions) and not of(act.KillTask, actions)
    assert {job: {t.status for t in fresh.by_key[job].tasks} for job in (a, b)} == {a: {Status.RUNNING},
                                                                                  b: {Status.RUNNING}}
    assert fresh.book.placed == where


def test_a_pilot_registered_with_one_jobs_token_runs_only_that_jobs_tasks(state: SchedulerState) -> None:
    reply(state.handle(ev.CreateJobRequested(next(_ids), "p", JobSpec(master="pilots"), PoolKind.PILOTS, 1.0)))
    reply(state.handle(ev.CreateJobRequested(next(_ids), "q", JobSpec(master="pilots"), PoolKind.PILOTS, 1.0)))
    submit(state, "p", ["p0"])
    submit(state, "q", ["q0", "q1"])
    actions = state.handle(ev.HostAdded("mine", USER_PILOTS, 4, 4096, "n1", job_key=state.jobs["q"].key))
    assert sorted(placed(actions, state)) == [("q", 0), ("q", 1)]
    actions = state.handle(ev.HostAdded("pool-pilot", USER_PILOTS, 4, 4096, "n2"))
    assert placed(actions, state) == [("p", 0)]


def test_pilot_jobs_of_a_shared_pool_that_never_start_charge_every_waiting_job(state: SchedulerState) -> None:
    pool = slurm_job(state, "a", max_retries=0)
    slurm_job(state, "b", max_retries=0)
    slurm_job(state, "idle")
    submit(state, "a", ["a0"])
    submit(state, "b", ["b0"])
    for n in range(state.pilot_failures_before_lost):
        state.handle(ev.PilotStartFailed(pool, "n1", f"Slurm job {n} FAILED", 5.0 + n))
    assert state.jobs["a"].tasks[0].status is Status.LOST and state.jobs["b"].tasks[0].status is Status.LOST
    assert "pilot jobs in a row" in state.jobs["a"].tasks[0].reason
