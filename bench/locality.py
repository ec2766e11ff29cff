"""Data locality of the scheduling core alone: delay scheduling against greedy placement.

    python bench/locality.py [--agents 1000] [--tasks 100000] [--seed 1]

No I/O: the real SchedulerState is fed simulated Mesos offers. 1,000 agents with 4
slots each; every task marks one file of 1 to 3 blocks of 128 MiB, each block on 3
random agents. Each allocation round (0.1 s of simulated time) offers every agent's
free slots; tasks run 5 to 15 s. "greedy" is the same core with locality_wait=0: an
offer still takes a task whose data it holds if one is pending, else the oldest task
at once. "fifo" ignores where data lives (as a framework without locality would):
oldest task first on any offer. Prints one line per policy, then PASS/FAIL for the targets (delay: locality
>= 0.95 and >= 100,000 decisions per second). A decision is one task placed on an
offer, or one offer declined (held back for locality or unused); the rate is timed
over the core's handling of the offers alone, journal actions included. Launches per
second are printed too.
"""

from __future__ import annotations

import argparse
import heapq
import random
import time

from stratos_executor.spec import TaskRecord
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.locality import normalize
from stratosd.core.model import JobSpec, Offer
from stratosd.core.state import SchedulerState

SLOTS = 4
BLOCK = 128 << 20
ROUND = 0.1


def workload(agents: int, tasks: int, rng: random.Random) -> list[tuple[int, dict[str, int]]]:
    hosts = [f"agent{i}" for i in range(agents)]
    out = []
    for _ in range(tasks):
        held: dict[str, int] = {}
        blocks = rng.randint(1, 3)
        size = 0
        for b in range(blocks):
            length = BLOCK if b < blocks - 1 else rng.randint(1, BLOCK)
            size += length
            for host in rng.sample(hosts, 3):
                held[host] = held.get(host, 0) + length
        out.append((size, held))
    return out


def simulate(policy: str, agents: int, tasks: int, seed: int) -> tuple[float, float, float, float]:
    rng = random.Random(seed)
    files = workload(agents, tasks, rng)
    state = SchedulerState(story_length=1)
    wait = 3.0 if policy == "delay" else 0.0
    spec = JobSpec(master="sim:5050", cpus=1, mem=1, disk=1, locality_wait=wait)
    create = state.handle(ev.CreateJobRequested(1, "sim", spec, "mesos", 0.0, own_pool=True))
    assert next(a for a in create if isinstance(a, act.Reply)).error is None
    job = state.jobs["sim"]  # the live job (a reply carries a JobView snapshot)
    pool = job.pool
    commands = [f"task {i}" for i in range(tasks)]
    prefs = [(size, normalize(held)) for size, held in files]
    state.handle(ev.SubmitRequested(2, "sim", "batch", "/", {}, commands, 0.0, None if policy == "fifo" else prefs))
    free = {f"agent{i}": SLOTS for i in range(agents)}
    running: list[tuple[float, int, str]] = []  # (ends at, task id, host)
    now, decisions, launches, offer_seconds, serial = 0.0, 0, 0, 0.0, 0
    ended = 0
    while ended < tasks:
        now += ROUND
        finished = []
        while running and running[0][0] <= now:
            _, task_id, host = heapq.heappop(running)
            free[host] += 1
            finished.append(ev.TaskEnded(job.key, task_id, 1, TaskRecord(exit_code=0, ended=now)))
        if finished:
            state.handle(*finished)
            ended += len(finished)
        offers = []
        for host, slots in free.items():
            if slots:
                serial += 1
                offers.append(Offer(f"o{serial}", host, host, float(slots), float(slots), float(slots)))
        if not offers:
            continue
        started = time.perf_counter()
        actions = state.handle(ev.OffersReceived(pool, tuple(offers), now))
        offer_seconds += time.perf_counter() - started
        for a in actions:
            if isinstance(a, act.DeclineOffers):
                decisions += len(a.offer_ids)
            elif isinstance(a, act.AcceptOffer):
                for launch in a.launches:
                    free[a.offer.hostname] -= 1
                    decisions += 1
                    launches += 1
                    heapq.heappush(running, (now + rng.uniform(5, 15), launch.task_id, a.offer.hostname))
    if policy == "fifo":  # the core knew nothing of the data: score its placements here
        for task, (size, host_bytes) in zip(job.tasks, prefs, strict=True):
            task.marked, task.host_bytes = size, host_bytes
    placed, local, marked, local_bytes = state.locality_report(job)
    assert placed == tasks, (placed, tasks)
    return local / placed, local_bytes / marked, decisions / offer_seconds, launches / offer_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    opts = parser.parse_args()
    results = {}
    for policy in ("delay", "greedy", "fifo"):
        locality, bytes_local, rate, launch_rate = simulate(policy, opts.agents, opts.tasks, opts.seed)
        results[policy] = (locality, rate)
        print(f"{policy}: locality={locality:.3f} decisions_per_s={rate:.0f} "
              f"(launches_per_s={launch_rate:.0f} bytes_local={bytes_local:.3f})")
    locality, rate = results["delay"]
    ok_locality, ok_rate = locality >= 0.95, rate >= 100_000
    print(f"{'PASS' if ok_locality else 'FAIL'}: delay scheduling locality {locality:.3f} (target >= 0.95)")
    print(f"{'PASS' if ok_rate else 'FAIL'}: delay scheduling {rate:.0f} decisions/s (target >= 100000)")
    return 0 if ok_locality and ok_rate else 1


if __name__ == "__main__":
    raise SystemExit(main())
