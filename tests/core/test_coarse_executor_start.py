"""Coarse-grained Mesos: an executor that never started gives its room back to the job's offers. No I/O."""

from __future__ import annotations

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec, Offer
from stratosd.core.replies import JobCreated
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolKind
from tests.core.helpers import of, reply, submit, value


def test_an_executor_that_fails_to_start_revives_the_offers_it_suppressed(state: SchedulerState) -> None:
    r = reply(state.handle(ev.CreateJobRequested(1, "c", JobSpec(mesos_mode="coarse", cpus=1, mem=100),
                                                 PoolKind.MESOS, 1.0, own_pool=True)))
    pool = value(r, JobCreated).job.pool
    submit(state, "c", ["t0", "t1"])
    actions = state.handle(ev.OffersReceived(pool, (Offer("o1", "A1", "agent1", 4, 4096, 10000),), 3.0))
    [launch] = of(act.LaunchExecutor, actions)
    assert of(act.SuppressOffers, actions)  # the executor is to hold both tasks: no more offers
    actions = state.handle(ev.PilotStartFailed(pool, "agent1", "exit 127", 4.0, executor_id=launch.executor_id,
                                               unusable_agent="A1"))
    assert of(act.ReviveOffers, actions)  # else the job waits for offers that never come
    # the next offer (another agent) gets an executor for the same work
    actions = state.handle(ev.OffersReceived(pool, (Offer("o2", "A2", "agent2", 4, 4096, 10000),), 5.0))
    assert [(a.offer.offer_id, a.cpus) for a in of(act.LaunchExecutor, actions)] == [("o2", 2)]
