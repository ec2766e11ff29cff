"""retries=N: a failed exit or signal runs the task again, preferring a host where it has not failed."""

from __future__ import annotations

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.state import SchedulerState
from stratosd.core.types import TaskEndReason as E
from tests.core.helpers import add_host, create, end, launches, of, published, status, submit
from tests.core.test_offers import mesos_job, offer


def test_a_failed_task_runs_again_and_only_its_last_attempt_is_its_result(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state, "r", retries=1)
    submit(state, "r", ["flaky"])
    actions = end(state, "r", 0, 3)
    assert status(state, "r", 0) == "running" and published(actions) == []  # retried at once, no result yet
    task = state.jobs["r"].tasks[0]
    assert task.attempt == 2 and task.reason == "retried after: exit code 3 (retry 1 of retries=1)"
    actions = end(state, "r", 0, 0)
    assert status(state, "r", 0) == "finished" and published(actions) == [(0, 1)]
    assert [(a.attempt, a.exit_code, a.end) for a in task.history] == [(1, 3, E.EXITED), (2, 0, E.NONE)]


def test_a_retry_takes_an_offer_from_another_host_over_the_one_it_failed_on(state: SchedulerState) -> None:
    pool = mesos_job(state, retries=2, cpus=1, mem=100)
    submit(state, "m", ["flaky"])
    # both agents have offered: the job knows two hosts
    state.handle(ev.OffersReceived(pool, (offer("o1", cpus=1, host="agent1"), offer("o2", cpus=1, host="agent2")),
                                   2.0))
    task = state.jobs["m"].tasks[0]
    first = task.host
    other = "agent2" if first == "agent1" else "agent1"
    end(state, "m", 0, 1)
    assert status(state, "m", 0) == "pending"
    # the host it failed on offers first: declined while the other host can take it...
    actions = state.handle(ev.OffersReceived(pool, (offer("o3", cpus=1, host=first),), 3.0))
    assert of(act.AcceptOffer, actions) == [] and status(state, "m", 0) == "pending"
    # ... which it then does
    actions = state.handle(ev.OffersReceived(pool, (offer("o4", cpus=1, host=other),), 4.0))
    assert [a.offer.offer_id for a in of(act.AcceptOffer, actions)] == ["o4"]
    assert task.host == other and task.attempt == 2


def test_a_retry_runs_where_it_failed_when_no_other_host_can_take_it(state: SchedulerState) -> None:
    add_host(state, cpus=1, host="only")
    create(state, "r", retries=1)
    submit(state, "r", ["flaky"])
    actions = end(state, "r", 0, 1)
    assert [a.task_id for a in launches(actions)] == [0]
    assert state.jobs["r"].tasks[0].host == "only"


def test_a_retry_on_standing_hosts_prefers_one_it_has_not_failed_on(state: SchedulerState) -> None:
    add_host(state, cpus=1, host="h1")
    add_host(state, cpus=1, host="h2")
    create(state, "r", retries=1)
    submit(state, "r", ["flaky", "other"])
    task = state.jobs["r"].tasks[0]
    failed_on = task.host
    end(state, "r", 1, 0)  # frees the other host
    end(state, "r", 0, 1)
    assert task.attempt == 2 and task.host != failed_on
