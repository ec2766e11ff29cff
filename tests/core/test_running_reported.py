"""A cluster says an attempt runs (TaskRunningReported): the core kills what the job no longer wants."""

from __future__ import annotations

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolId
from tests.core.helpers import end, of, submit
from tests.core.test_offers import mesos_job, offer


def running(state: SchedulerState, pool: str) -> int:
    submit(state, "m", ["t0"])
    state.handle(ev.OffersReceived(pool, (offer("o1"),), 3.0))
    return state.jobs["m"].key


def test_the_current_attempt_running_is_left_alone(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=100)
    key = running(state, pool)
    assert of(act.KillTask, state.handle(ev.TaskRunningReported(key, 0, 1, PoolId(pool), "A-agent1"))) == []


def test_an_attempt_reported_lost_that_turns_up_running_is_killed_where_it_runs(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=100, max_retries=3)
    key = running(state, pool)
    state.handle(ev.TaskLost(key, 0, 1, "agent lost", 4.0))  # pending again (no offer yet)
    kills = of(act.KillTask, state.handle(ev.TaskRunningReported(key, 0, 1, PoolId(pool), "A-agent1")))
    assert kills == [act.KillTask(key, 0, 1, PoolId(pool), "A-agent1")]
    state.handle(ev.OffersReceived(pool, (offer("o2"),), 5.0))  # attempt 2 runs
    assert state.jobs["m"].tasks[0].attempt == 2
    kills = of(act.KillTask, state.handle(ev.TaskRunningReported(key, 0, 1, PoolId(pool), "A-agent1")))
    assert kills == [act.KillTask(key, 0, 1, PoolId(pool), "A-agent1")]
    assert of(act.KillTask, state.handle(ev.TaskRunningReported(key, 0, 2, PoolId(pool), "A-agent1"))) == []


def test_a_late_running_report_of_an_attempt_that_ended_is_not_killed(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=100)
    key = running(state, pool)
    end(state, "m", 0, 0)
    assert of(act.KillTask, state.handle(ev.TaskRunningReported(key, 0, 1, PoolId(pool)))) == []


def test_an_attempt_of_an_unknown_job_or_task_is_killed(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=100)
    key = running(state, pool)
    unknown = PoolId.of("mesos", 99)
    assert of(act.KillTask, state.handle(ev.TaskRunningReported(99, 0, 1, unknown, "S1"))) == [
        act.KillTask(99, 0, 1, unknown, "S1")]
    assert of(act.KillTask, state.handle(ev.TaskRunningReported(key, 5, 1, PoolId(pool)))) == [
        act.KillTask(key, 5, 1, PoolId(pool))]
