"""Every action says which event caused it (its stimulus id), so logs and stories can tell."""

from __future__ import annotations

from stratos_executor.spec import TaskRecord
from stratosd.core import events as ev
from stratosd.core.state import SchedulerState
from tests.core.helpers import add_host, create


def test_actions_carry_the_stimulus_id_of_the_event_that_caused_them(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    actions = state.handle(ev.SubmitRequested(90, "demo", "batch", "/tmp", {}, ["a", "b"], 2.0,
                                              stimulus_id="Submit-90"))
    assert actions and {a.stimulus_id for a in actions} == {"Submit-90"}
    job = state.jobs["demo"]
    ended = state.handle(ev.TaskEnded(job.key, 0, 1, TaskRecord(exit_code=0, stdout=b""),
                                      stimulus_id="report-7"))
    assert ended and {a.stimulus_id for a in ended} == {"report-7"}


def test_the_stimulus_id_does_not_make_equal_events_differ() -> None:
    assert ev.Tick(1.0, stimulus_id="a") == ev.Tick(1.0, stimulus_id="b")
