"""Offer pools (Mesos): accept, decline, revive, release, adopt after restart. No I/O."""

from __future__ import annotations

from typing import Any

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec, Offer, Status
from stratosd.core.replies import JobCreated
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolId, PoolKind
from tests.core.helpers import create, end, of, reply, submit, value


def fine_spec(spec: dict[str, Any]) -> JobSpec:
    """Offer packing is fine-grained mode's: one Mesos task per StratOS task."""
    return JobSpec(**{"mesos_mode": "fine", **spec})


def mesos_job(state: SchedulerState, name: str = "m", **spec: Any) -> PoolId:
    r = reply(state.handle(ev.CreateJobRequested(1, name, fine_spec(spec), PoolKind.MESOS, 1.0, own_pool=True)))
    return value(r, JobCreated).job.pool


def offer(oid: str, cpus: float = 4, mem: float = 4096, host: str = "agent1", disk: float = 10000) -> Offer:
    return Offer(oid, f"A-{host}", host, cpus, mem, disk)


def test_offers_are_packed_and_leftovers_declined(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=1000)
    assert pool.startswith("mesos:")
    _, actions = submit(state, "m", [f"t{i}" for i in range(5)])
    assert of(act.ReviveOffers, actions) == [act.ReviveOffers(pool)]
    actions = state.handle(ev.OffersReceived(pool, (offer("o1", cpus=2, mem=8000), offer("o2", cpus=4, host="agent2"),
                                                    offer("o3", host="agent3")), 3.0))
    accepts = of(act.AcceptOffer, actions)
    assert [(a.offer.offer_id, [t.task_id for t in a.launches]) for a in accepts] == [
        ("o1", [0, 1]), ("o2", [2, 3, 4])]
    assert of(act.DeclineOffers, actions) == [act.DeclineOffers(pool, ("o3",), SchedulerState.IDLE_REFUSE_SECONDS)]
    assert [t.host for t in state.jobs["m"].tasks] == ["agent1", "agent1", "agent2", "agent2", "agent2"]


def test_an_offer_too_small_is_declined_briefly_while_work_waits(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=2, mem=1000)
    submit(state, "m", ["t"])
    actions = state.handle(ev.OffersReceived(pool, (offer("small", cpus=1),), 3.0))
    assert of(act.DeclineOffers, actions) == [act.DeclineOffers(pool, ("small",), SchedulerState.BUSY_REFUSE_SECONDS)]
    assert state.jobs["m"].tasks[0].status is Status.PENDING


def test_offers_for_another_pool_never_launch_its_tasks(state: SchedulerState) -> None:
    mesos_job(state, "a")
    pool_b = mesos_job(state, "b")
    submit(state, "a", ["t"])
    actions = state.handle(ev.OffersReceived(pool_b, (offer("o"),), 3.0))
    assert of(act.AcceptOffer, actions) == []
    assert state.jobs["a"].tasks[0].status is Status.PENDING


def test_a_finished_job_releases_its_pool_and_retries_revive(state: SchedulerState) -> None:
    pool = mesos_job(state, max_retries=1)
    submit(state, "m", ["t"])
    state.handle(ev.OffersReceived(pool, (offer("o"),), 3.0))
    key = state.jobs["m"].key
    actions = state.handle(ev.TaskLost(key, 0, 1, "agent removed", 4.0))
    assert of(act.ReviveOffers, actions) == [act.ReviveOffers(pool)]  # the retry needs offers again
    state.handle(ev.OffersReceived(pool, (offer("o2", host="agent2"),), 5.0))
    actions = end(state, "m", 0)
    assert of(act.ReleasePool, actions) == [act.ReleasePool(pool)]


def test_restore_adopts_running_tasks_of_offer_pools(state: SchedulerState) -> None:
    from tests.core.helpers import add_host

    add_host(state)
    create(state, "local")
    submit(state, "local", ["l"])
    pool = mesos_job(state)
    submit(state, "m", ["a", "b"])
    state.handle(ev.OffersReceived(pool, (offer("o", cpus=1),), 3.0))
    jobs = list(state.jobs.values())
    fresh = SchedulerState()
    add_host(fresh)
    actions = fresh.restore(jobs)
    assert fresh.jobs["m"].tasks[0].status is Status.RUNNING  # adopted, not rerun
    assert fresh.jobs["m"].tasks[1].status is Status.PENDING
    assert of(act.ReviveOffers, actions) == [act.ReviveOffers(pool)]
    assert [a.task_id for a in of(act.LaunchTask, actions)] == [0]  # the local task runs again
    assert fresh.jobs["local"].tasks[0].attempt == 2
    fresh.validate()
    state.hosts.clear()
    state.pools.clear()


def test_disk_limits_packing_and_an_idle_pool_is_suppressed(state: SchedulerState) -> None:
    pool = mesos_job(state, cpus=1, mem=100, disk=300)
    submit(state, "m", ["a", "b", "c"])
    actions = state.handle(ev.OffersReceived(pool, (offer("o", cpus=8, mem=8000, disk=700),), 3.0))
    (accept,) = of(act.AcceptOffer, actions)
    assert len(accept.launches) == 2  # disk for two, not three
    assert of(act.SuppressOffers, actions) == []  # task c still waits
    actions = state.handle(ev.OffersReceived(pool, (offer("o2", disk=300), offer("o3")), 4.0))
    assert of(act.SuppressOffers, actions) == [act.SuppressOffers(pool)]  # nothing pending now
    assert of(act.DeclineOffers, actions)[0].offer_ids == ("o3",)


def test_a_host_that_cannot_start_the_executor_gets_no_more_of_the_jobs_tasks(state: SchedulerState) -> None:
    """Issue 13: before, the retry could go back to the same host until max_retries ran out (the
    task ended lost with "Mesos: TASK_FAILED Command exited with status 127"), and nothing named it."""
    pool = mesos_job(state, cpus=1, mem=100, max_retries=3)
    submit(state, "m", ["t0", "t1"])
    key = state.jobs["m"].key
    actions = state.handle(ev.OffersReceived(pool, (offer("o1", cpus=2, host="bad"), offer("o0", host="good")), 3.0))
    assert [a.offer.offer_id for a in of(act.AcceptOffer, actions)] == ["o1"]
    why = "host bad: cannot start the StratOS executor: /venv/bin/python not found (exit status 127)"
    for task_id in (0, 1):
        state.handle(ev.TaskLost(key, task_id, 1, why, 4.0, unusable_host="bad"))
    job = state.jobs["m"]
    assert job.warnings == [f"{why}; no more tasks of this job go to bad"]  # once, naming the host
    for _ in range(5):  # the bad host offers again and again: declined, never launched there
        actions = state.handle(ev.OffersReceived(pool, (offer("again", cpus=2, host="BAD.cluster"),), 5.0))
        assert of(act.AcceptOffer, actions) == [] and of(act.DeclineOffers, actions)
    actions = state.handle(ev.OffersReceived(pool, (offer("o2", cpus=2, host="good"),), 6.0))
    assert [sorted(t.task_id for t in a.launches) for a in of(act.AcceptOffer, actions)] == [[0, 1]]
    assert [t.reason for t in job.tasks] == [f"retried after: {why}"] * 2
    for task_id in (0, 1):
        end(state, "m", task_id, attempt=2)
    assert [t.status for t in job.tasks] == [Status.FINISHED] * 2


def test_a_job_whose_every_offering_host_cannot_start_the_executor_ends_lost_not_pending(
        state: SchedulerState) -> None:
    """When the only agents that offer are avoided, they still get the tasks: each uses up its
    retries there and ends lost with the reason, so the job ends instead of waiting forever."""
    pool = mesos_job(state, cpus=1, mem=100, max_retries=1)
    submit(state, "m", ["t0"])
    key = state.jobs["m"].key
    why = "host bad: cannot start the StratOS executor: python not found (exit status 127)"
    for attempt in (1, 2):
        actions = state.handle(ev.OffersReceived(pool, (offer(f"o{attempt}", cpus=1, host="bad"),), 3.0 + attempt))
        assert [a.offer.offer_id for a in of(act.AcceptOffer, actions)] == [f"o{attempt}"]
        state.handle(ev.TaskLost(key, 0, attempt, why, 4.0 + attempt, unusable_host="bad"))
    job = state.jobs["m"]
    assert job.tasks[0].status is Status.LOST
    assert job.tasks[0].reason == f"{why} (no retries left: max_retries=1)"
    assert not job.unended
    state.validate()


def test_agents_sharing_a_host_name_are_avoided_one_by_one(state: SchedulerState) -> None:
    """Several agents may run on one host name (a one-machine cluster): the one whose executor
    cannot start is avoided by its agent id, and its neighbour keeps getting the job's tasks."""
    pool = mesos_job(state, cpus=1, mem=100, max_retries=3)
    submit(state, "m", ["t0", "t1"])
    key = state.jobs["m"].key

    def at(oid: str, agent: str) -> Offer:
        return Offer(oid, agent, "localhost", 1, 4096, 10000)

    actions = state.handle(ev.OffersReceived(pool, (at("o1", "A-bad"), at("o2", "A-good")), 3.0))
    assert len(of(act.AcceptOffer, actions)) == 2
    why = "host localhost: cannot start the StratOS executor: python not found (exit status 127)"
    state.handle(ev.TaskLost(key, 0, 1, why, 4.0, unusable_host="localhost", unusable_agent="A-bad"))
    actions = state.handle(ev.OffersReceived(pool, (at("o3", "A-bad"),), 5.0))
    assert of(act.AcceptOffer, actions) == []  # its neighbour on the same host name has offered
    actions = state.handle(ev.OffersReceived(pool, (at("o4", "A-good"),), 6.0))
    assert [a.offer.offer_id for a in of(act.AcceptOffer, actions)] == ["o4"]
    assert state.jobs["m"].tasks[0].attempt == 2 and state.jobs["m"].tasks[0].status is Status.RUNNING
