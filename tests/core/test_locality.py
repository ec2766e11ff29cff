"""Delay scheduling: tasks wait up to locality_wait for a host holding their data. No I/O."""

from __future__ import annotations

from typing import Any

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.locality import best_hosts, canonical_host, normalize
from stratosd.core.model import JobSpec, Offer
from stratosd.core.replies import JobCreated
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolId, PoolKind
from tests.core.helpers import reply, value


def fine_spec(spec: dict[str, Any]) -> JobSpec:
    """Offer packing is fine-grained mode's: one Mesos task per StratOS task."""
    return JobSpec(**{"mesos_mode": "fine", **spec})


def mesos_job(state: SchedulerState, **spec: Any) -> PoolId:
    r = reply(state.handle(ev.CreateJobRequested(1, "m", fine_spec(spec), PoolKind.MESOS, 0.0, own_pool=True)))
    return value(r, JobCreated).job.pool


def submit(state: SchedulerState, commands: list[str], locality: list[tuple[int, dict[str, int]]], now: float = 0.0,
           name: str = "m") -> None:
    state.handle(ev.SubmitRequested(9, name, "batch", "/", {}, commands, now,
                                    [(total, normalize(hb)) for total, hb in locality]))


def offer(host: str, oid: str = "", cpus: float = 1) -> Offer:
    return Offer(oid or f"o-{host}", f"A-{host}", host, cpus, 4096, 10000)


def launched(actions: list[act.Action]) -> list[tuple[str, int]]:
    return [(a.offer.hostname, t.task_id) for a in actions if isinstance(a, act.AcceptOffer) for t in a.launches]


def test_helpers() -> None:
    assert canonical_host("NODE7.cluster.local.") == "node7" and canonical_host("10.0.0.7") == "10.0.0.7"
    hb = normalize({"a.x": 10, "A": 5, "b": 15, "c": 3})
    assert hb == (("a", 15), ("b", 15), ("c", 3)) and best_hosts(hb) == ("a", "b")


def test_a_task_waits_for_its_host_then_takes_any(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=1, disk=1, locality_wait=3.0)
    submit(state, ["t0"], [(100, {"h1": 100, "h2": 100, "h3": 100})], now=10.0)
    actions = state.handle(ev.OffersReceived(pool, (offer("h9"),), 11.0))
    assert launched(actions) == []  # not local, and it has waited only 1 s
    decline = [a for a in actions if isinstance(a, act.DeclineOffers)]
    assert decline and decline[0].refuse_seconds < 3.0  # refusals stay shorter than the locality wait
    assert launched(state.handle(ev.OffersReceived(pool, (offer("h9"),), 13.5))) == [("h9", 0)]


def test_an_offer_from_a_data_host_takes_its_tasks_first(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=1, disk=1)
    submit(state, ["t0", "t1", "t2"], [(10, {"h1": 10}), (10, {"h2": 10}), (10, {"h2.example.org": 10})])
    actions = state.handle(ev.OffersReceived(pool, (offer("H2.example.org", cpus=2), offer("h1")), 0.5))
    assert sorted(launched(actions)) == [("H2.example.org", 1), ("H2.example.org", 2), ("h1", 0)]
    placed, local, marked, local_bytes = state.locality_report(state.jobs["m"])
    assert (placed, local, marked, local_bytes) == (3, 3, 30, 30)


def test_several_files_prefer_the_host_with_the_largest_fraction(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=1, disk=1)
    # file A (100 bytes) on h1,h2,h3; file B (300 bytes) on h3,h4,h5: h3 holds all 400
    submit(state, ["t"], [(400, {"h1": 100, "h2": 100, "h3": 400, "h4": 300, "h5": 300})])
    assert launched(state.handle(ev.OffersReceived(pool, (offer("h4"), offer("h1")), 1.0))) == []
    assert launched(state.handle(ev.OffersReceived(pool, (offer("h3"),), 1.5))) == [("h3", 0)]


def test_a_late_non_local_placement_is_reported(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=1, disk=1, locality_wait=1.0)
    submit(state, ["t"], [(100, {"h1": 60, "h2": 40})])
    state.handle(ev.OffersReceived(pool, (offer("h2"),), 5.0))  # waited long enough: takes h2
    placed, local, marked, local_bytes = state.locality_report(state.jobs["m"])
    assert (placed, local, marked, local_bytes) == (1, 0, 100, 40)


def test_tasks_without_marked_files_are_not_delayed(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=1, disk=1)
    state.handle(ev.SubmitRequested(3, "m", "batch", "/", {}, ["plain"], 0.0))
    assert launched(state.handle(ev.OffersReceived(pool, (offer("any"),), 0.1))) == [("any", 0)]


def test_standing_hosts_prefer_data_and_ticks_end_the_wait(state: SchedulerState) -> None:
    state.handle(ev.HostAdded("pilot-1", "pilots:1", 1, 1000, "node1.cluster"),
                 ev.HostAdded("pilot-2", "pilots:1", 1, 1000, "node2"))
    reply(state.handle(ev.CreateJobRequested(1, "p", JobSpec(cpus=1, mem=10, locality_wait=2.0), PoolKind.PILOTS, 0.0,
                                             own_pool=True)))
    actions = state.handle(ev.SubmitRequested(4, "p", "batch", "/", {}, ["a", "b"], 0.0,
                                              [(5, normalize({"node2": 5})), (5, normalize({"node9": 5}))]))
    launches = [(a.host_id, a.task_id) for a in actions if isinstance(a, act.LaunchTask)]
    assert launches == [("pilot-2", 0)]  # b's data is on no pilot's host: it waits
    assert state.needs_tick()
    assert [a for a in state.handle(ev.Tick(1.0)) if isinstance(a, act.LaunchTask)] == []
    later = [(a.host_id, a.task_id) for a in state.handle(ev.Tick(2.5)) if isinstance(a, act.LaunchTask)]
    assert later == [("pilot-1", 1)]
    assert state.jobs["p"].tasks[1].host == "node1"  # the machine, not the executor id


def test_one_best_hosts_rule_for_the_core_and_hdfs() -> None:
    from stratosd.locality import blocks

    assert blocks.best_hosts is best_hosts
    assert best_hosts((("a", 0),)) == ()  # nobody holds any of the bytes: no host is better
    assert best_hosts([("b", 3), ("a", 5), ("c", 5)]) == ("a", "c")  # the input need not be sorted
    assert normalize({"a": 0, "B.x": 4}) == (("b", 4),)
    assert normalize({"a": 0}) == ()


def test_a_late_pilot_s_tasks_wait_locality_wait_from_its_arrival(state: SchedulerState) -> None:
    """Pilots start seconds apart: the tasks that already waited past locality_wait for a host
    holding their data are not taken by an idle pilot elsewhere the moment that host's pilot
    arrives (its one slot runs one of them; the other waits for it locality_wait from then)."""
    state.handle(ev.HostAdded("pilot-1", "pilots:1", 2, 1000, "node1"))
    reply(state.handle(ev.CreateJobRequested(1, "p", JobSpec(cpus=1, mem=10, locality_wait=2.0), PoolKind.PILOTS, 0.0,
                                             own_pool=True)))
    actions = state.handle(ev.SubmitRequested(4, "p", "batch", "/", {}, ["a", "b", "c"], 0.0,
                                              [(5, normalize({"node1": 5})), (5, normalize({"node2": 5})),
                                               (5, normalize({"node2": 5}))]))
    assert [(a.host_id, a.task_id) for a in actions if isinstance(a, act.LaunchTask)] == [("pilot-1", 0)]
    assert not [a for a in state.handle(ev.Tick(1.0)) if isinstance(a, act.LaunchTask)]
    arrival = state.handle(ev.HostAdded("pilot-2", "pilots:1", 1, 1000, "node2.cluster"))
    assert [(a.host_id, a.task_id) for a in arrival if isinstance(a, act.LaunchTask)] == [("pilot-2", 1)]
    # c waited 2.5 s since it was queued, but only 1.5 s since node2's pilot came: pilot-1 leaves it
    assert not [a for a in state.handle(ev.Tick(2.5)) if isinstance(a, act.LaunchTask)]
    later = [(a.host_id, a.task_id) for a in state.handle(ev.Tick(3.1)) if isinstance(a, act.LaunchTask)]
    assert later == [("pilot-1", 2)]
