"""Pilot jobs that never reach the daemon: the core ends a job no pilot can serve, within max_retries."""

from __future__ import annotations

import itertools
from typing import Any

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec, Status
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolId, PoolKind
from tests.core.helpers import end, launches, reply, submit

_ids = itertools.count(2000)
MISSING = "slurm_script: line 4: exec: /nope/stratos-executor: not found"


def slurm_job(state: SchedulerState, name: str = "s", **spec: Any) -> PoolId:
    reply(state.handle(ev.CreateJobRequested(next(_ids), name, JobSpec(master="slurm", **spec), PoolKind.SLURM, 1.0,
                                             True)))
    return state.jobs[name].pool


def fail(state: SchedulerState, pool: str, times: int, node: str = "n1") -> list[act.Action]:
    actions: list[act.Action] = []
    for i in range(times):
        actions += state.handle(ev.PilotStartFailed(pool, node, MISSING, 10.0 + i))
    return actions


def statuses(state: SchedulerState, job: str = "s") -> list[Status]:
    return [t.status for t in state.jobs[job].tasks]


def test_pending_tasks_are_lost_naming_the_node_and_the_pilots_words(state: SchedulerState) -> None:
    pool = slurm_job(state, max_retries=0)
    submit(state, "s", ["a", "b"])
    assert fail(state, pool, 2) == [] and statuses(state) == [Status.PENDING] * 2  # not yet: N = 3
    actions = fail(state, pool, 1)
    assert statuses(state) == [Status.LOST] * 2
    reason = state.jobs["s"].tasks[0].reason
    assert "3 pilot jobs in a row ended on n1 before their executor reached the daemon" in reason
    assert MISSING in reason and "no retries left: max_retries=0" in reason
    assert [a for a in actions if isinstance(a, act.ReleasePool)] == [act.ReleasePool(pool)]  # pilots go
    assert state.jobs["s"].unended == 0 and state.jobs["s"].finished_at == 10.0  # the last event's time


def test_each_round_of_failed_pilots_is_one_retry(state: SchedulerState) -> None:
    pool = slurm_job(state, max_retries=1)
    submit(state, "s", ["a"])
    fail(state, pool, 3)
    [task] = state.jobs["s"].tasks
    assert task.status is Status.PENDING and task.reason.startswith("retried after: 3 pilot jobs")
    fail(state, pool, 2, node="n2")
    assert task.status is Status.PENDING
    fail(state, pool, 1, node="n2")
    [task] = state.jobs["s"].tasks  # the same task; read again so the checker forgets the narrowing above
    assert task.status is Status.LOST and " on n2 " in task.reason


def test_a_registered_pilot_resets_the_count_and_a_pool_with_pilots_is_not_charged(state: SchedulerState) -> None:
    pool = slurm_job(state, max_retries=0)
    submit(state, "s", ["a", "b"])
    fail(state, pool, 2)
    state.handle(ev.HostAdded("slurm-7", pool, 1, 4096, "n1"))  # one works: runs task 0
    fail(state, pool, 5)  # others fail while it serves the pool: the tasks wait for it
    assert statuses(state) == [Status.RUNNING, Status.PENDING]
    actions = end(state, "s", 0)
    assert [(a.task_id, a.attempt) for a in launches(actions)] == [(1, 1)]
    state.handle(ev.HostRemoved("slurm-7", "its Slurm job ended", 20.0))
    fail(state, pool, 2)
    assert statuses(state) == [Status.FINISHED, Status.LOST]  # task 1 was running: lost as any other
    assert state.jobs["s"].tasks[1].reason.startswith("host slurm-7 left")


def test_a_task_charged_for_failed_pilots_runs_as_its_next_attempt(state: SchedulerState) -> None:
    pool = slurm_job(state, max_retries=3)
    submit(state, "s", ["a"])
    fail(state, pool, 3)
    actions = state.handle(ev.HostAdded("slurm-9", pool, 1, 4096, "n1"))
    assert [(a.task_id, a.attempt) for a in launches(actions)] == [(0, 2)]
    end(state, "s", 0)
    assert statuses(state) == [Status.FINISHED]


def test_failures_of_another_jobs_pool_or_an_unknown_pool_change_nothing(state: SchedulerState) -> None:
    slurm_job(state, max_retries=0)
    submit(state, "s", ["a"])
    assert fail(state, "slurm:999", 5) == []
    assert statuses(state) == [Status.PENDING]
