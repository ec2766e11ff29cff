"""PoolDemand: the core tells a supplying backend how many tasks wait and run, when that changes;
PilotJobEnded: a pilot whose cluster job ended is gone with its tasks (the core decides)."""

from __future__ import annotations

import itertools

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec, Status
from stratosd.core.state import SchedulerState
from stratosd.core.types import AttemptRef, PoolId, PoolKind
from tests.core.helpers import end, reply, submit

_ids = itertools.count(4000)


def slurm_job(state: SchedulerState, name: str = "s", **spec: object) -> PoolId:
    reply(state.handle(ev.CreateJobRequested(next(_ids), name, JobSpec(master="slurm", **spec), PoolKind.SLURM, 1.0,  # type: ignore[arg-type]
                                             True, "tok")))
    return state.jobs[name].pool


def demands(actions: list[act.Action]) -> list[tuple[str, int, int]]:
    return [(a.pool, a.pending, a.running) for a in actions if isinstance(a, act.PoolDemand)]


def test_demand_is_told_when_the_pools_numbers_change_and_only_then(state: SchedulerState) -> None:
    pool = slurm_job(state)
    _, actions = submit(state, "s", ["a", "b", "c"])
    assert demands(actions) == [(pool, 3, 0)]
    revive = [a for a in actions if isinstance(a, act.ReviveOffers)]
    assert revive[0].grant == act.PoolGrant("s", "tok", state.jobs["s"].spec, state.jobs["s"].key)
    assert demands(state.handle(ev.HostAdded("p1", pool, 2, 4096, "n1"))) == [(pool, 1, 2)]
    assert demands(state.handle(ev.Tick(3.0))) == []  # nothing moved
    assert demands(state.handle(ev.TaskStarted(state.jobs["s"].key, 0, 1, 42, 3.0))) == []  # still running
    assert demands(end(state, "s", 0)) == [(pool, 0, 2)]  # c took the freed slot


def test_a_local_job_tells_no_demand(state: SchedulerState) -> None:
    reply(state.handle(ev.CreateJobRequested(next(_ids), "l", JobSpec(), PoolKind.LOCAL, 1.0)))
    _, actions = submit(state, "l", ["a"])
    assert demands(actions) == []


def test_restore_tells_the_demand_of_unended_cluster_jobs(state: SchedulerState) -> None:
    pool = slurm_job(state)
    submit(state, "s", ["a", "b"])
    slurm_job(state, "done")
    submit(state, "done", ["x"])
    state.handle(ev.KillRequested(next(_ids), "done", None))
    fresh = SchedulerState(validate=True)
    actions = fresh.restore(list(state.jobs.values()))
    assert demands(actions) == [(pool, 2, 0)]
    revive = [a for a in actions if isinstance(a, act.ReviveOffers)]
    assert [(a.pool, a.grant and a.grant.job_name) for a in revive] == [(pool, "s")]
    # ReviveOffers comes before the demand: the backend knows the pool when the numbers arrive
    kinds = [type(a) for a in actions if isinstance(a, act.ReviveOffers | act.PoolDemand)]
    assert kinds == [act.ReviveOffers, act.PoolDemand]


def test_a_pilot_whose_cluster_job_ended_loses_its_tasks_to_a_retry(state: SchedulerState) -> None:
    pool = slurm_job(state, max_retries=1)
    submit(state, "s", ["a"])
    state.handle(ev.HostAdded("slurm-7", pool, 1, 4096, "n1"))
    actions = state.handle(ev.PilotJobEnded("slurm-7", "its Slurm job 7 ended (TIMEOUT)", 9.0))
    task = state.jobs["s"].tasks[0]
    assert task.status is Status.PENDING and "slurm-7" not in state.hosts
    assert task.reason == "retried after: host slurm-7 left: its Slurm job 7 ended (TIMEOUT)"
    assert demands(actions) == [(pool, 1, 0)]
    assert state.handle(ev.PilotJobEnded("slurm-7", "again", 10.0)) == []  # told twice: nothing more


def test_restore_has_a_cluster_pools_running_attempts_adopted_before_it_is_revived(state: SchedulerState) -> None:
    reply(state.handle(ev.CreateJobRequested(next(_ids), "m", JobSpec(master="m:5050", mesos_mode="fine"),
                                             PoolKind.MESOS, 1.0, True, "t")))
    pool = state.jobs["m"].pool
    submit(state, "m", ["a", "b", "c"])
    job = state.jobs["m"]
    for task_id in (0, 2):  # as if launched on offers and journaled running
        job.tasks[task_id].status, job.tasks[task_id].attempt = Status.RUNNING, 1 + task_id
    job.counts[Status.RUNNING], job.counts[Status.PENDING] = 2, 1
    fresh = SchedulerState(validate=True)
    actions = fresh.restore([job])
    adopted = [a for a in actions if isinstance(a, act.AdoptAttempts)]
    assert adopted == [act.AdoptAttempts(pool, (AttemptRef(job.key, 0, 1), AttemptRef(job.key, 2, 3)))]
    order = [type(a) for a in actions if isinstance(a, act.AdoptAttempts | act.ReviveOffers)]
    assert order == [act.AdoptAttempts, act.ReviveOffers]
    assert [t.status for t in fresh.jobs["m"].tasks] == [Status.RUNNING, Status.PENDING, Status.RUNNING]


def test_a_local_job_adopts_nothing_after_a_restart() -> None:
    state = SchedulerState()  # (its jobs are handed to the restored state, which changes them)
    reply(state.handle(ev.CreateJobRequested(next(_ids), "l", JobSpec(), PoolKind.LOCAL, 1.0)))
    state.handle(ev.HostAdded("h1", "local", 1, 4096))
    submit(state, "l", ["a"])
    fresh = SchedulerState(validate=True)
    actions = fresh.restore(list(state.jobs.values()))
    assert [a for a in actions if isinstance(a, act.AdoptAttempts)] == []
    assert fresh.jobs["l"].tasks[0].status is Status.PENDING  # it runs again
