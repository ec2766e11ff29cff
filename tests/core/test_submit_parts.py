"""A large submission comes to the core in parts: later parts join the call the first one made."""

from __future__ import annotations

import pytest

from stratos.errors import InvalidSubmission
from stratos_executor.spec import Relaunch
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import Status
from stratosd.core.replies import Killed, Submitted
from stratosd.core.state import SchedulerState
from tests.core.helpers import add_host, create, end, of, reply, submit, value


def _part(state: SchedulerState, commands: list[str], call_id: int, name: str = "demo") -> list[act.Action]:
    return state.handle(ev.SubmitRequested(90, name, "batch", "/tmp", {}, commands, 3.0, call_id=call_id))


def test_a_later_part_adds_its_tasks_to_the_first_part_s_call(state: SchedulerState) -> None:
    create(state)
    first = value(submit(state, "demo", ["a", "b"])[0], Submitted)
    actions = _part(state, ["c", "", "d"], first.call_id)
    assert value(reply(actions), Submitted) == (0, 2, 2, [], -1)  # blank commands make no task
    job = state.jobs["demo"]
    assert len(job.calls) == 1 and job.calls[0].roots == [0, 1, 2, 3]
    assert [t.command for t in job.tasks] == ["a", "b", "c", "d"]
    assert job.calls[0].counts[Status.PENDING] == job.counts[Status.PENDING] == 4 == job.calls[0].unended
    assert not of(act.SaveCall, actions)  # the call row came with the first part
    assert [t.task_id for a in of(act.SaveTasks, actions) for t in a.tasks] == [2, 3]


def test_a_later_part_s_tasks_run_and_publish_in_the_call_s_order(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    submit(state, "demo", ["a"])
    _part(state, ["b"], 0)
    out = end(state, "demo", 0)
    out += end(state, "demo", 1)
    assert [pair for a in of(act.PublishResults, out) for pair in a.seqs] == [(0, 1), (1, 2)]


def test_a_cancel_between_parts_reaches_the_parts_still_to_come(state: SchedulerState) -> None:
    create(state)
    submit(state, "demo", ["a", "b"])
    cancelled = state.handle(ev.CancelRequested(91, "demo", call_id=0))
    assert value(reply(cancelled), Killed) == 2
    actions = _part(state, ["c", "d"], 0)
    job = state.jobs["demo"]
    assert [t.status for t in job.tasks] == [Status.KILLED] * 4  # every command has its record
    assert job.unended == 0 and job.calls[0].unended == 0
    assert [t.status for a in of(act.SaveTasks, actions) for t in a.tasks] == [Status.KILLED] * 2


def test_a_job_cancel_between_parts_reaches_them_too_and_keeps_the_job_cancelled(state: SchedulerState) -> None:
    create(state)
    submit(state, "demo", ["a"])
    state.handle(ev.CancelRequested(92, "demo", None))
    _part(state, ["b"], 0)
    job = state.jobs["demo"]
    assert job.tasks[1].status is Status.KILLED and job.cancelled


def test_a_relaunch_between_parts_takes_the_next_id_and_the_part_follows_it(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    submit(state, "demo", ["a"])
    end(state, "demo", 0, exit_code=None, signal=15, reason="relaunch", relaunch=Relaunch.REPLACED,
        replacements=["a2"])
    assert [t.command for t in state.jobs["demo"].tasks] == ["a", "a2"]
    answer = value(reply(_part(state, ["b"], 0)), Submitted)
    assert (answer.first_task_id, answer.task_count) == (2, 1)  # the reply's ids skip the relaunched task


def test_a_part_of_an_unknown_call_is_refused(state: SchedulerState) -> None:
    create(state)
    with pytest.raises(InvalidSubmission, match="no submission call 3"):
        raise_of(_part(state, ["x"], 3))


def raise_of(actions: list[act.Action]) -> None:
    error = reply(actions).error
    if error is not None:
        raise error
