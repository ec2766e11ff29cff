"""Ends that are not the task's doing: the core, not the adapter, decides what they mean."""

from __future__ import annotations

from stratos_executor.spec import StopReason, TaskRecord
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import Status
from stratosd.core.state import SchedulerState
from tests.core.helpers import add_host, create, submit


def stopped(state: SchedulerState, attempt: int, stop: StopReason, ended: float = 4.0) -> list[act.Action]:
    key = state.jobs["demo"].key
    rec = TaskRecord(ended=ended, reason=str(stop), signal=15, stop=stop)
    return state.handle(ev.TaskEnded(key, 0, attempt, rec))


def test_a_stopped_executor_is_an_infrastructure_failure_retried_up_to_max_retries(state: SchedulerState) -> None:
    add_host(state)
    create(state, max_retries=1)
    submit(state, "demo", ["a"])
    actions = stopped(state, 1, StopReason.EXECUTOR_STOPPED)
    task = state.jobs["demo"].tasks[0]
    assert task.status is Status.RUNNING and task.attempt == 2  # requeued and launched again
    assert task.reason == "retried after: its executor was stopped"
    assert not [a for a in actions if isinstance(a, act.SaveOutcome)]  # no record: it is a loss, not a result
    stopped(state, 2, StopReason.EXECUTOR_STOPPED, ended=7.0)
    task = state.jobs["demo"].tasks[0]  # the same task; read again so the checker forgets the narrowing above
    assert task.status is Status.LOST and task.ended == 7.0
    assert task.reason == "its executor was stopped (no retries left: max_retries=1)"


def test_a_stopped_executor_of_a_task_asked_to_die_is_killed(state: SchedulerState) -> None:
    add_host(state)
    create(state, max_retries=3)
    submit(state, "demo", ["a"])
    state.handle(ev.KillRequested(99, "demo", (0,)))
    stopped(state, 1, StopReason.EXECUTOR_STOPPED)
    assert state.jobs["demo"].tasks[0].status is Status.KILLED


def test_a_task_stopped_by_the_daemons_shutdown_stays_running_with_no_journal_write(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    submit(state, "demo", ["a", "b"])
    assert state.handle(ev.DaemonStopping(3.0)) == []
    actions = stopped(state, 1, StopReason.DAEMON_STOP)
    assert actions == []  # no journal write, no launch: the restart runs it again
    task = state.jobs["demo"].tasks[0]
    assert task.status is Status.RUNNING and task.attempt == 1
    assert "stopped by the daemon's shutdown" in state.story("demo", 0).entries[-1].detail


def test_nothing_is_launched_once_the_daemon_stops(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    submit(state, "demo", ["a", "b"])
    state.handle(ev.DaemonStopping(3.0))
    key = state.jobs["demo"].key
    actions = state.handle(ev.TaskEnded(key, 0, 1, TaskRecord(exit_code=0, ended=4.0)))
    assert state.jobs["demo"].tasks[0].status is Status.FINISHED  # a real end is still recorded
    assert not [a for a in actions if isinstance(a, act.LaunchTask)]
    assert state.jobs["demo"].tasks[1].status is Status.PENDING
