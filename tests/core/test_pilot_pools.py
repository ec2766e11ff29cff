"""Pools of pilots (Slurm, hand-started): provisioning, adoption after a restart, locality."""

from __future__ import annotations

import itertools
from typing import Any

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec, Status
from stratosd.core.state import SchedulerState
from stratosd.core.types import AttemptRef, PoolId, PoolKind
from tests.core.helpers import end, launches, of, reply, submit

_ids = itertools.count(1000)


def slurm_job(state: SchedulerState, name: str = "s", **spec: Any) -> PoolId:
    reply(state.handle(ev.CreateJobRequested(next(_ids), name, JobSpec(master="slurm", **spec), PoolKind.SLURM, 1.0,
                                             True)))
    return state.jobs[name].pool


def test_waiting_work_asks_for_pilots_and_a_finished_job_gives_them_back(state: SchedulerState) -> None:
    pool = slurm_job(state)
    assert pool.startswith("slurm:")
    _, actions = submit(state, "s", ["a", "b"])
    assert of(act.ReviveOffers, actions) == [act.ReviveOffers(pool)] and not launches(actions)
    actions = state.handle(ev.HostAdded("slurm-11", pool, 2, 4096, "node1"))
    assert [(a.task_id, a.host_id) for a in launches(actions)] == [(0, "slurm-11"), (1, "slurm-11")]
    end(state, "s", 0)
    assert of(act.ReleasePool, end(state, "s", 1)) == [act.ReleasePool(pool)]


def test_a_pilot_registering_again_keeps_what_it_holds_and_stops_stale_attempts(state: SchedulerState) -> None:
    pool = slurm_job(state)
    submit(state, "s", ["a", "b", "c"])
    state.handle(ev.HostAdded("p1", pool, 2, 4096, "node1"), ev.HostAdded("p2", pool, 1, 4096, "node2"))
    jobs = list(state.jobs.values())
    key = jobs[0].key
    fresh = SchedulerState()  # the daemon restarted: the journal's running tasks stay running
    fresh.restore(jobs)
    assert [t.status for t in fresh.jobs["s"].tasks] == [Status.RUNNING] * 3
    assert fresh.unclaimed(PoolKind.SLURM) == [(key, 0, 1), (key, 1, 1), (key, 2, 1)]
    actions = fresh.handle(ev.HostAdded("p1", pool, 2, 4096, "node1", (AttemptRef(key, 0, 1), AttemptRef(key, 1, 3),
                                                                   AttemptRef(key, 9, 1))))
    assert of(act.KillTask, actions) == [act.KillTask(key, 1, 3, pool), act.KillTask(key, 9, 1, pool)]
    assert fresh.unclaimed(PoolKind.SLURM) == [(key, 1, 1), (key, 2, 1)]
    # p2 never comes back: its task is lost and retried on the free core of p1
    actions = fresh.handle(ev.TaskLost(key, 2, 1, "its pilot did not come back", 9.0))
    assert [(a.task_id, a.attempt, a.host_id) for a in launches(actions)] == [(2, 2, "p1")]
    fresh.validate()


def test_a_task_prefers_the_pilot_on_the_host_holding_its_data(state: SchedulerState) -> None:
    pool = slurm_job(state, locality_wait=5.0)
    state.handle(ev.HostAdded("p1", pool, 1, 4096, "node1"), ev.HostAdded("p2", pool, 1, 4096, "node2"))
    actions = state.handle(ev.SubmitRequested(
        next(_ids), "s", "stream", "/tmp", {}, ["wc <[/dfs/a]>", "wc <[/dfs/b]>"], 3.0,
        locality=[(100, (("node2", 100),)), (100, (("node1", 100),))],
    ))
    placed = {a.task_id: a.host_id for a in launches(actions)}
    assert placed == {0: "p2", 1: "p1"}
