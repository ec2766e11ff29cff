"""The locality report the core keeps (Job.locality) equals the full scan it replaced, after every
step of seeded random event sequences: placements, retries on other hosts, losses, kills, user
retries, hosts leaving, and a rebuild from the jobs' tasks. No I/O."""

from __future__ import annotations

import dataclasses
import random

import pytest

from stratos_executor.spec import TaskRecord
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.locality import best_hosts, canonical_host, normalize
from stratosd.core.model import Job, JobSpec, Offer, Status
from stratosd.core.replies import JobCreated
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolId, PoolKind
from tests.core.helpers import reply, value

#: data hosts: Mesos agents (some named as a datanode would not be: case, domain) and pilot machines.
AGENTS = ("h1", "H2.example.org", "h3", "h4", "h5")
NODES = ("node1", "node2.cluster", "node3")
DATA_NAMES = ("h1", "h2", "h3.example.org", "h4", "node1", "NODE2", "node3", "elsewhere")
STEPS = 400


def scan(job: Job) -> tuple[int, int, int, int]:
    """The report as it was computed before it was kept: a walk over every task of the job."""
    placed = local = marked = local_bytes = 0
    for task in job.tasks:
        if not task.host_bytes or not task.host:
            continue
        where = canonical_host(task.host)
        placed += 1
        marked += task.marked
        if where in best_hosts(task.host_bytes):
            local += 1
        local_bytes += next((size for host, size in task.host_bytes if host == where), 0)
    return placed, local, marked, local_bytes


class Driver:
    """Random but seeded stimuli for one Mesos job ("m") and one pilot job ("p")."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.state = SchedulerState(validate=False)  # the check under test is the scan above, not validate()
        self.now = 1.0
        self.offers = 0
        spec = JobSpec(cpus=1, mem=10, disk=1, locality_wait=2.0, retries=2, max_retries=2)
        created = reply(self.state.handle(ev.CreateJobRequested(
            1, "p", spec, PoolKind.PILOTS, self.now, own_pool=True)))
        self.pilot_pool = value(created, JobCreated).job.pool
        created = reply(self.state.handle(ev.CreateJobRequested(
            2, "m", dataclasses.replace(spec, mesos_mode="fine"), PoolKind.MESOS, self.now, own_pool=True)))
        self.mesos_pool: PoolId = value(created, JobCreated).job.pool
        self.pilots: dict[str, str] = {}  # standing pilot id -> its machine
        self.pilot_serial = 0
        self.requests = 10

    def step(self) -> str:
        """One random stimulus; returns its name (the failure message says which step broke)."""
        rng, state = self.rng, self.state
        self.now += rng.choice((0.1, 0.5, 1.5))
        self.requests += 1
        kind = rng.choices(("submit", "offers", "pilot", "end", "lost", "kill", "retry", "tick", "unpilot"),
                           (2, 5, 1, 6, 2, 1, 1, 2, 1))[0]
        name = rng.choice(("m", "p"))
        job = state.jobs[name]
        running = [t for t in job.tasks if t.status is Status.RUNNING]
        if kind == "submit":
            n = rng.randint(1, 8)
            locality = [(0, ()) if rng.random() < 0.2 else self._data() for _ in range(n)]
            state.handle(ev.SubmitRequested(self.requests, name, "batch", "/", {}, [f"t{i}" for i in range(n)],
                                            self.now, locality))
        elif kind == "offers":
            self.offers += 1
            offers = tuple(Offer(f"o{self.offers}-{i}", f"A-{host}", host, rng.choice((1, 2)), 4096, 1000)
                           for i, host in enumerate(rng.sample(AGENTS, rng.randint(1, 3))))
            state.handle(ev.OffersReceived(self.mesos_pool, offers, self.now))
        elif kind == "pilot" and len(self.pilots) < 3:
            self.pilot_serial += 1
            pilot = f"pilot-{self.pilot_serial}"
            self.pilots[pilot] = rng.choice(NODES)
            state.handle(ev.HostAdded(pilot, self.pilot_pool, rng.choice((1, 2)), 1000, self.pilots[pilot]))
        elif kind == "unpilot" and self.pilots:
            pilot = rng.choice(sorted(self.pilots))
            del self.pilots[pilot]
            state.handle(ev.HostRemoved(pilot, "gone", self.now))
        elif kind == "end" and running:
            task = rng.choice(running)
            record = TaskRecord(exit_code=rng.choice((0, 0, 1)), signal=None, reason="", started=self.now - 0.1,
                                ended=self.now, stdout=b"")
            state.handle(ev.TaskEnded(job.key, task.task_id, task.attempt, record))
        elif kind == "lost" and running:
            task = rng.choice(running)
            state.handle(ev.TaskLost(job.key, task.task_id, task.attempt, "executor lost", self.now))
        elif kind == "kill" and job.tasks:
            state.handle(ev.KillRequested(self.requests, name, (rng.randrange(len(job.tasks)),)))
        elif kind == "retry" and not job.unended and job.counts[Status.FAILED]:
            state.handle(ev.RetryRequested(self.requests, name, None, self.now))
        else:
            state.handle(ev.Tick(self.now))
        return kind

    def _data(self) -> tuple[int, tuple[tuple[str, int], ...]]:
        """Marked bytes and where they live; ties between hosts on purpose (sizes from a short list)."""
        held = {host: self.rng.choice((10, 20, 20, 40)) for host in self.rng.sample(DATA_NAMES, self.rng.randint(1, 4))}
        return max(held.values()) + self.rng.choice((0, 5)), normalize(held)


@pytest.mark.parametrize("seed", range(8))
def test_the_kept_report_equals_the_full_scan_after_every_step(seed: int) -> None:
    driver = Driver(seed)
    state = driver.state
    replaced = 0
    for number in range(STEPS):
        kind = driver.step()
        for job in state.jobs.values():
            assert state.locality_report(job) == scan(job), (seed, number, kind, job.name)
        replaced = max(replaced, sum(1 for job in state.jobs.values() for t in job.tasks
                                     if t.host_bytes and t.attempt >= 2))
    # the sequence did what the test is about: tasks with data placed, some non-locally, some placed again
    reports = [scan(job) for job in state.jobs.values()]
    assert all(placed > 0 for placed, _, _, _ in reports), reports
    assert any(local < placed for placed, local, _, _ in reports), reports
    assert replaced > 0
    # a rebuild from the tasks (a restart, a journal reload) counts them afresh, not on top of the old figures
    fresh = SchedulerState(validate=True)
    jobs = list(state.jobs.values())
    fresh.restore(jobs)
    for job in jobs:
        assert fresh.locality_report(job) == scan(job) != (0, 0, 0, 0)


def test_a_placement_elsewhere_trades_the_old_figures_for_the_new(state: SchedulerState) -> None:
    """One task, lost on its data host and placed again away from it: it counts once, where it is now."""
    created = reply(state.handle(ev.CreateJobRequested(
        1, "m", JobSpec(mesos_mode="fine", cpus=1, mem=1, disk=1, locality_wait=0.0, max_retries=1),
        PoolKind.MESOS, 0.0, own_pool=True)))
    pool = value(created, JobCreated).job.pool
    state.handle(ev.SubmitRequested(2, "m", "batch", "/", {}, ["t"], 0.0, [(100, normalize({"h1": 70, "h2": 30}))]))
    actions = state.handle(ev.OffersReceived(pool, (Offer("o1", "A1", "h1", 1, 100, 100),), 1.0))
    assert [t.task_id for a in actions if isinstance(a, act.AcceptOffer) for t in a.launches] == [0]
    job = state.jobs["m"]
    assert state.locality_report(job) == (1, 1, 100, 70)
    state.handle(ev.TaskLost(job.key, 0, 1, "agent lost", 2.0, unusable_host="h1", unusable_agent="A1"))
    assert state.locality_report(job) == (1, 1, 100, 70)  # still counted where it last ran, until placed again
    state.handle(ev.OffersReceived(pool, (Offer("o2", "A2", "h2", 1, 100, 100),), 3.0))
    assert job.tasks[0].attempt == 2 and job.tasks[0].host == "h2"
    assert state.locality_report(job) == (1, 0, 100, 30)
