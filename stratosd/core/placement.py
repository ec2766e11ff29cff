"""Placement: hosts and pools, fair share between jobs, delay scheduling, offer packing.

:class:`HostBook` is the one place a host's free capacity and running set change, so
what restore, a returning executor, a launch and a task's end do to a host cannot drift
apart (``validate`` checks the same arithmetic).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from stratos_wire.settings import default
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core import lifecycle, taskspec
from stratosd.core.locality import best_hosts, canonical_host
from stratosd.core.model import CoarseExecutor, Host, Job, Offer, Room, Status, Task
from stratosd.core.transitions import move
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolId, PoolKind

if TYPE_CHECKING:
    from stratosd.core.state import SchedulerState

EPS = 1e-9
#: refuse an offer this long when the job has nothing to run (revived when it has).
IDLE_REFUSE_SECONDS = 120.0
#: ... and this long when its pending tasks did not fit the offer.
BUSY_REFUSE_SECONDS = 1.0
#: pilot jobs of a pool in a row that end without registering before its pending tasks are charged.
PILOT_FAILURES_BEFORE_LOST: int = default("pilot_failures_before_lost")


class HostBook:
    """Every standing host, grouped by pool, and where each running task is placed."""

    __slots__ = ("hosts", "placed", "pools")

    def __init__(self) -> None:
        #: host id -> host.
        self.hosts: dict[str, Host] = {}
        #: pool -> its hosts.
        self.pools: dict[PoolId, list[Host]] = {}
        #: (job key, task id) -> host id of every running task placed on a standing host.
        self.placed: dict[tuple[int, int], str] = {}

    def share(self, job: Job, pool: PoolId) -> float:
        """The cores one task of ``job`` takes on a host of ``pool``: at most the largest host's."""
        return min(job.spec.cpus, max(h.cpus for h in self.pools[pool]))

    def reserve(self, host: Host, job: Job, task_id: int, cpus: float) -> None:
        """Place a running task on ``host``."""
        host.free_cpus -= cpus
        host.free_mem -= job.spec.mem
        host.idle_since = 0.0
        host.running.add((job.key, task_id))
        self.placed[(job.key, task_id)] = host.host_id

    def resize(self, host_id: str, cpus: float, mem: float) -> None:
        """The host grew (or shrank, negative) by this much; what runs there stays placed."""
        host = self.hosts.get(host_id)
        if host is not None:
            host.cpus += cpus
            host.free_cpus += cpus
            host.mem += mem
            host.free_mem += mem

    def remove(self, host_id: str) -> Host | None:
        """The host leaves its pool (its running tasks are the caller's to decide on)."""
        host = self.hosts.pop(host_id, None)
        if host is not None:
            self.pools[host.pool].remove(host)
        return host

    def free(self, job: Job, task_id: int) -> None:
        """The task no longer runs where it was placed (if it was)."""
        host_id = self.placed.pop((job.key, task_id), None)
        host = self.hosts.get(host_id) if host_id else None
        if host is None:
            return
        host.running.discard((job.key, task_id))
        host.free_cpus += self.share(job, host.pool)
        host.free_mem += job.spec.mem


# -- hosts ------------------------------------------------------------------------------------


def on_host_added(state: SchedulerState, e: ev.HostAdded) -> None:
    book = state.book
    if e.host_id in book.hosts:
        return
    if refused_executor(state, e):
        return
    host = Host(e.host_id, PoolId(e.pool), e.cpus, e.mem, canonical_host(e.hostname or e.host_id),
                free_cpus=e.cpus, free_mem=e.mem, last_seen=state.now, only_job=e.job_key)
    book.hosts[e.host_id] = host
    book.pools.setdefault(host.pool, []).append(host)
    state.arrived.setdefault(host.pool, {})[host.hostname] = state.now
    state.pilot_failures.pop(host.pool, None)  # a pilot reached the daemon: the pool works
    owner = pool_owner(state, host.pool)
    if owner is not None and owner.pilot_hosted and host.pool.kind is PoolKind.MESOS:
        executor = owner.executors.get(e.host_id)
        if executor is None:  # one that outlived a daemon restart (refused_executor): it stands for its host
            slots = max(1, math.floor(e.cpus / max(owner.spec.cpus, EPS) + EPS))
            executor = owner.executors[e.host_id] = CoarseExecutor(e.host_id, "", host.hostname, slots)
        executor.registered = True
    for ref in e.holding:
        claim(state, host, AttemptRef(*ref))
    job = pool_owner(state, host.pool)
    if job is not None:
        stop_pilots_if_cancelled(state, job)  # a pilot of a cancelled job registering (again)


def refused_executor(state: SchedulerState, e: ev.HostAdded) -> bool:
    """A coarse Mesos executor the job does not count as its own may register only in the adoption
    window after a restart (it outlived the daemon). Any other time it is one whose Mesos task was
    reported ended, or that was lost, before it (re)registered: its tasks ran elsewhere, and
    standing it up again would put a second executor on its agent. It is told to stop."""
    pool = PoolId(e.pool)
    owner = pool_owner(state, pool)
    if owner is None or pool.kind is not PoolKind.MESOS or not owner.pilot_hosted:
        return False
    if e.host_id in owner.executors or state.adopt_until:
        return False
    state.effects.append(act.StopExecutor(pool, e.host_id, ExecutorStopCause.GONE, stimulus_id=state.stimulus))
    for job_key, task_id, attempt in e.holding:
        state.effects.append(act.KillTask(job_key, task_id, attempt, pool, stimulus_id=state.stimulus))
    return True


def claim(state: SchedulerState, host: Host, ref: AttemptRef) -> None:
    """A returning executor holds this attempt: keep it where it runs, or stop it if it is stale."""
    job_key, task_id, attempt = ref
    job = state.by_key.get(job_key)
    task = job.tasks[task_id] if job is not None and 0 <= task_id < len(job.tasks) else None
    if (job is None or task is None or job.pool != host.pool or task.attempt != attempt
            or task.status is not Status.RUNNING or (job_key, task_id) in state.book.placed
            or host.only_job not in (None, job_key)):
        state.effects.append(act.KillTask(job_key, task_id, attempt, host.pool, stimulus_id=state.stimulus))
        if task is not None and job is not None:
            state.note(job, task, f"attempt {attempt} held by returning executor {host.host_id}: stopped (stale)")
        return
    state.book.reserve(host, job, task_id, state.book.share(job, host.pool))
    state.note(job, task, f"kept running on its returning executor {host.host_id}")


def on_host_removed(state: SchedulerState, e: ev.HostRemoved) -> None:
    """A host left: its running tasks failed with it (retried while retries are left)."""
    lose_host(state, e.host_id, e.reason, e.now)


def on_executor_heard(state: SchedulerState, e: ev.ExecutorHeard) -> None:
    host = state.book.hosts.get(e.host_id)
    if host is not None and e.now > host.last_seen:
        host.last_seen = e.now


def on_executors_reachable(state: SchedulerState, e: ev.ExecutorsReachable) -> None:
    """The adoption window opened at restore runs from when pilots can reach the daemon again, not
    from when the journal was read (a slow start must not spend the returning pilots' time)."""
    if state.adopt_until:
        state.adopt_until = max(state.adopt_until, e.now + state.pilot_lost_after)


def on_tick(state: SchedulerState, e: ev.Tick) -> None:
    """Pilot liveness, by the time events tell (the core has no clock): a pilot not heard from for
    ``pilot_lost_after`` seconds is lost with its tasks and told to stop (its backend forgets it, so
    its next call must register again); once the adoption window after a restart closes, the running
    tasks no returning pilot holds are lost (they run again)."""
    lost_after = state.pilot_lost_after
    if state.adopt_until and e.now > state.adopt_until:
        state.adopt_until = 0.0
        for kind in (k for k in PoolKind if k.cluster):
            for job_key, task_id, _attempt in state.unclaimed(kind):
                job = state.by_key[job_key]
                lifecycle.lose(state, job, job.tasks[task_id], "its pilot did not come back after the daemon restarted",
                               e.now)
    for pool, hosts in state.book.pools.items():  # only pools with standing coarse executors can shrink
        owner = pool_owner(state, pool) if hosts and pool.kind is PoolKind.MESOS else None
        if owner is not None:
            shrink_unused_rooms(state, owner, e.now)
    for pool, hosts in state.book.pools.items():
        if not pool.kind.cluster:  # a cluster pool's standing hosts are executors that register
            continue
        for host in [h for h in hosts if e.now - h.last_seen > lost_after]:
            lose_host(state, host.host_id, f"no word from it for {lost_after:g} s", e.now)
            state.effects.append(act.StopExecutor(pool, host.host_id, ExecutorStopCause.SILENT,
                                                  stimulus_id=state.stimulus))
    for pool, hosts in list(state.book.pools.items()):
        if daemon_owned(pool):
            stop_idle_pilots(state, pool, hosts, e.now)


def daemon_owned(pool: PoolId) -> bool:
    """A shared pool whose pilots the daemon starts (Slurm): it also stops them when idle.
    User-started pilots leave by their own --idle-timeout; a job's own pool is released whole."""
    return pool.kind is PoolKind.SLURM and pool.shared


def stop_idle_pilots(state: SchedulerState, pool: PoolId, hosts: list[Host], now: float) -> None:
    """The one idle timer of daemon-owned pilots: a pilot that has run nothing for ``pilot_idle_release``
    seconds while no job of its pool had a task waiting leaves the pool and is told to stop
    (StopExecutor IDLE). Never one with a task running: a running task keeps its pilot busy.
    Measured at Ticks (about a second apart), so a stop comes up to one Tick late."""
    waiting = pool_pending(state, pool) > 0
    for host in hosts:
        if host.running:
            host.idle_since = 0.0
        elif waiting or not host.idle_since:  # idle time counts while the pool has nothing waiting
            host.idle_since = now
    if waiting:
        return
    for host in [h for h in hosts if not h.running and h.idle_since and now - h.idle_since >= state.pilot_idle_release]:
        state.book.remove(host.host_id)
        state.effects.append(act.StopExecutor(pool, host.host_id, ExecutorStopCause.IDLE, stimulus_id=state.stimulus))


def pool_jobs(state: SchedulerState, pool: PoolId) -> list[Job]:
    """The jobs whose tasks run in ``pool``, by key."""
    return [state.by_key[key] for key in sorted(state.members.get(pool, ())) if key in state.by_key]


def pool_pending(state: SchedulerState, pool: PoolId) -> int:
    """Tasks of the pool's jobs that wait to be placed (not those held by after=)."""
    return sum(0 if job.held else job.counts[Status.PENDING] for job in pool_jobs(state, pool))


def on_pilot_job_ended(state: SchedulerState, e: ev.PilotJobEnded) -> None:
    """A pilot's cluster job (or a coarse Mesos executor's task) ended: it is gone with whatever it ran."""
    host = state.book.hosts.get(e.host_id)
    pool = host.pool if host is not None else PoolId(e.pool) if e.pool else None
    if pool is not None:
        forget_executor(state, pool, e.host_id)
    lose_host(state, e.host_id, e.detail, e.now)
    job = pool_owner(state, pool) if pool is not None else None
    if job is not None and job.pool.kind is PoolKind.MESOS and job.pilot_hosted and uncovered_tasks(state, job) > 0:
        revive(state, job)  # (suppressed while this executor held the work)


def forget_executor(state: SchedulerState, pool: PoolId, executor_id: str) -> None:
    """A coarse executor's Mesos task ended: its agent may get a new one of the job."""
    job = pool_owner(state, pool)
    if job is not None:
        job.executors.pop(executor_id, None)


def lose_host(state: SchedulerState, host_id: str, why: str, now: float) -> None:
    """The host is gone: its running tasks failed with it (retried while retries are left)."""
    host = state.book.remove(host_id)
    if host is None:
        return
    if host.pool.kind is PoolKind.MESOS:
        forget_executor(state, host.pool, host_id)  # its agent may get a new one (it may not come back)
    for job_key, task_id in sorted(host.running):
        job = state.by_key[job_key]
        lifecycle.lose(state, job, job.tasks[task_id], f"host {host_id} left: {why}", now)


def revive(state: SchedulerState, job: Job) -> None:
    """The job's pool has work: ask its backend for hosts (the grant says for whom; for a shared
    pool, the job's settings say what its pilots look like: the same for every job of the pool)."""
    state.effects.append(act.ReviveOffers(job.pool, act.PoolGrant.of(job), stimulus_id=state.stimulus))


def tell_demand(state: SchedulerState, keys: set[int]) -> None:
    """PoolDemand for the cluster pools of these jobs whose numbers changed since last told: a
    shared pool's sum over all its jobs (one supply for them all), up to the largest ``max_pilots``
    of its jobs with unended tasks. A job's own pool that is gone is dropped (it is released)."""
    pools: set[PoolId] = set()
    for key in keys:
        job = state.by_key.get(key)
        if job is not None:
            pools.add(job.pool)
        else:  # removed: which pool it was in is not known here any more; recount the shared ones
            pools.update(p for p in state.demand if p.shared)
            pools.update(p for p in state.demand if p.job_key == key)
    for pool in sorted(pools):
        if not pool.kind.cluster:
            continue
        jobs = pool_jobs(state, pool)
        if jobs or pool.shared:  # a shared pool's backend is told when its last job has gone
            tell_pool_demand(state, pool, jobs)
        if not jobs:
            state.demand.pop(pool, None)
            state.coming.pop(pool, None)


def tell_pool_demand(state: SchedulerState, pool: PoolId, jobs: list[Job]) -> None:
    """PoolDemand for ``pool``'s jobs, when it differs from what its backend was last told."""
    # a job whose tasks wait for another (after=) asks for no pilots until it is released
    pending = sum(0 if job.held else job.counts[Status.PENDING] for job in jobs)
    running = sum(job.counts[Status.RUNNING] for job in jobs)
    max_pilots = max((job.spec.max_pilots for job in jobs if job.unended), default=0)
    hosts, wait = wanted_hosts(state, pool, jobs) if pool.kind is PoolKind.SLURM and pending else ((), 0.0)
    now = (pending, running, max_pilots, hosts, wait)
    if state.demand.get(pool) != now:
        state.demand[pool] = now
        state.effects.append(act.PoolDemand(pool, pending, running, max_pilots, hosts, wait,
                                            stimulus_id=state.stimulus))


#: at most this many hosts in a pool's demand (the largest shares): pilots are few, sbatch calls cost.
WANTED_HOSTS = 32


def wanted_hosts(state: SchedulerState, pool: PoolId, jobs: list[Job]) -> tuple[tuple[tuple[str, int], ...], float]:
    """Where a Slurm pool's pending tasks want pilots: (canonical host, pending tasks whose data it
    holds best), summed over the pool's jobs that are not held, largest share first (ties by name),
    leaving out hosts where a pilot of the pool has room for such a task (delay scheduling places
    them there at the next step; a new pilot would stand idle); and the longest ``locality_wait`` of
    the jobs with such tasks. Counts are exact (Job.local_pending), so this is cheap per step."""
    counts: dict[str, int] = {}
    cpus, mem, wait = math.inf, math.inf, 0.0
    for job in jobs:
        if job.held or not job.local_pending:
            continue
        for host, n in job.local_pending.items():
            counts[host] = counts.get(host, 0) + n
        cpus, mem = min(cpus, job.spec.cpus), min(mem, job.spec.mem)
        wait = max(wait, job.spec.locality_wait)
    if not counts:
        return (), 0.0
    for standing in state.book.pools.get(pool, ()):
        if (standing.hostname in counts and standing.free_cpus + EPS >= min(cpus, standing.cpus)
                and standing.free_mem + EPS >= mem):
            del counts[standing.hostname]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:WANTED_HOSTS]
    return tuple(ranked), wait if ranked else 0.0


def stop_pilots_if_cancelled(state: SchedulerState, job: Job) -> None:
    """A cancelled job with no unended task needs its pilots no more: their hosts leave its pool
    and each pilot is told to stop (StopExecutor); a later submission asks for pilots anew."""
    if not job.cancelled or job.unended or not job.pilot_hosted or job.pool.job_key != job.key:
        return
    for host in list(state.book.pools.get(job.pool, ())):
        if host.running:  # (none: the pool is the job's own and it runs nothing)
            continue
        state.book.remove(host.host_id)
        state.effects.append(act.StopExecutor(job.pool, host.host_id, ExecutorStopCause.JOB_CANCELLED,
                                              stimulus_id=state.stimulus))


def on_pilots_coming(state: SchedulerState, e: ev.PilotsComing) -> None:
    """Where the pool's pilots asked of a node are on their way now (see ``awaits_pilot``)."""
    if e.hosts:
        state.coming[PoolId(e.pool)] = e.hosts
    else:
        state.coming.pop(PoolId(e.pool), None)


def on_pilot_start_failed(state: SchedulerState, e: ev.PilotStartFailed) -> None:
    """A pilot job ended without registering. While the pool has pilots, its tasks run on them;
    with none, every ``pilot_failures_before_lost`` failures in a row charge each pending task
    one infrastructure failure (as a failed launch would): retried while retries are left, else
    lost with the reason. So a job whose pilots cannot start ends instead of waiting forever."""
    pool = PoolId(e.pool)
    job = pool_owner(state, pool)
    if e.executor_id:
        forget_executor(state, pool, e.executor_id)
        if job is not None and uncovered_tasks(state, job) > 0:
            revive(state, job)  # its offers were suppressed while this executor was to hold the work
    if job is not None and e.unusable_agent:
        avoid(state, job, e.node or e.unusable_agent, e.unusable_agent, e.detail)
    # a shared pool's failures charge every job of it with tasks waiting
    jobs = [job] if job is not None else [j for j in pool_jobs(state, pool) if j.counts[Status.PENDING]]
    if not jobs or state.book.pools.get(pool):
        state.pilot_failures.pop(pool, None)
        return
    failures = state.pilot_failures.setdefault(pool, [])
    failures.append((e.node, e.detail))
    if len(failures) < state.pilot_failures_before_lost:
        return
    del state.pilot_failures[pool]
    for one in jobs:
        lifecycle.charge_pending(state, one, pilot_failure_reason(failures, pool.kind), e.now)


def pilot_failure_reason(failures: list[tuple[str, str]], kind: PoolKind = PoolKind.SLURM) -> str:
    """Why pending tasks are charged: how many pilot jobs (Mesos: executors) failed, on which nodes,
    and the last one's words."""
    nodes = sorted({node for node, _ in failures if node})
    where = f" on {', '.join(nodes)}" if nodes else ""
    detail = next((d for _, d in reversed(failures) if d), "")
    what = ("Mesos executors", "reaching") if kind is PoolKind.MESOS else ("pilot jobs", "their executor reached")
    return (f"{len(failures)} {what[0]} in a row ended{where} before {what[1]} the daemon"
            + (f": {detail}" if detail else ""))


# -- offers -----------------------------------------------------------------------------------


def on_offers(state: SchedulerState, e: ev.OffersReceived) -> None:
    """Pack each offer with the pool's pending tasks; decline what is left unused."""
    pool = PoolId(e.pool)
    job = pool_owner(state, pool)
    if job is not None and job.pilot_hosted:
        offer_executors(state, job, e)
        return
    declined: list[str] = []
    for offer in e.offers:
        launches: list[act.LaunchTask] = []
        free_cpus, free_mem = offer.cpus, offer.mem
        free_disk = offer.disk
        host_key = canonical_host(offer.hostname)
        # an agent is avoided by its id (several agents may share a host name), else by its name
        agent = offer.agent_id or host_key
        if job is not None and offer.cpus + EPS >= job.spec.cpus and offer.mem + EPS >= job.spec.mem:
            job.offered[agent] = host_key  # an agent that could run one of its tasks
        # Avoided agents get the job's tasks only when every agent that offered is avoided: the
        # tasks then use up their retries there and end lost with the reason; the job never hangs.
        avoided = job is not None and (agent in job.avoid or host_key in job.avoid)
        if job is not None and (not avoided or no_usable_host(job)):
            cpus, disk = job.spec.cpus, job.spec.disk
            while (free_cpus + EPS >= cpus and free_mem + EPS >= job.spec.mem
                   and free_disk + EPS >= disk):
                task = pick(state, job, host_key)
                if task is None:
                    break
                launches.append(start(state, job, task, offer.hostname, cpus))
                free_cpus -= cpus
                free_mem -= job.spec.mem
                free_disk -= disk
        if launches:
            state.effects.append(act.AcceptOffer(pool, offer, tuple(launches), stimulus_id=state.stimulus))
        else:
            declined.append(offer.offer_id)
    busy = job is not None and next_pending(job) is not None
    if declined:
        refuse = BUSY_REFUSE_SECONDS if busy else IDLE_REFUSE_SECONDS
        state.effects.append(act.DeclineOffers(pool, tuple(declined), refuse, stimulus_id=state.stimulus))
    if not busy:
        state.effects.append(act.SuppressOffers(pool, stimulus_id=state.stimulus))


def offer_executors(state: SchedulerState, job: Job, e: ev.OffersReceived) -> None:
    """Coarse-grained Mesos: an offer from an agent where the job has no executor, while its pending
    tasks outnumber the free slots of its executors, becomes one executor holding room for that many
    tasks (at most what the offer holds); the core then places tasks on it as on a pilot. Every
    other offer is declined, and offers are suppressed once the executors can hold the pending work.

    Data locality: pending tasks whose data an agent's host holds best wait for that host (delay
    scheduling), so they ask for an executor (or more room) there even when executors elsewhere have
    free slots; offers stay unsuppressed while such a host has no executor of the job.
    """
    spec, pool = job.spec, job.pool
    uncovered = uncovered_tasks(state, job)
    declined: list[str] = []
    local = local_waiting(job)

    def slots_in(offer: Offer) -> int:
        return min(math.floor(offer.cpus / max(spec.cpus, EPS) + EPS), math.floor(offer.mem / max(spec.mem, EPS) + EPS),
                   math.floor(offer.disk / spec.disk + EPS) if spec.disk > 0 else max(uncovered, 1))

    for offer in e.offers:  # every agent that could run one of its tasks, before any is avoided
        if slots_in(offer) >= 1:
            job.offered[offer.agent_id or canonical_host(offer.hostname)] = canonical_host(offer.hostname)
    for offer in e.offers:
        host_key = canonical_host(offer.hostname)
        agent = offer.agent_id or host_key
        slots = slots_in(offer)
        avoided = agent in job.avoid or host_key in job.avoid
        there = next((x for x in job.executors.values()
                      if (x.agent_id == offer.agent_id if x.agent_id else x.hostname == host_key)), None)
        growable = there is not None and bool(there.rooms) and there.executor_id in state.book.hosts
        want = max(uncovered, local.get(host_key, 0) - (free_slots(state, job, there) if there else 0))
        if want <= 0 or slots < 1 or (there is not None and not growable) \
                or (avoided and not no_usable_host(job)):
            declined.append(offer.offer_id)
            continue
        slots = min(slots, want)
        uncovered -= min(slots, max(uncovered, 0))
        local.pop(host_key, None)
        if there is not None:  # the agent's executor grows by one more room
            grow(state, job, there, offer, slots)
            continue
        state.executor_serial += 1  # with the time, unique across restarts too (Mesos task ids must be)
        executor_id = f"stratos-{job.key}-executor-{int(state.now * 1000):x}-{state.executor_serial}"
        executor = job.executors[executor_id] = CoarseExecutor(executor_id, offer.agent_id, host_key, slots)
        executor.rooms[executor_id] = Room(slots * spec.cpus, slots * spec.mem, slots)
        executor.grown = 1
        state.effects.append(act.LaunchExecutor(pool, offer, executor_id, slots * spec.cpus, slots * spec.mem,
                                                slots * spec.disk, stimulus_id=state.stimulus))
    standing = {x.hostname for x in job.executors.values()}
    starved = any(n > 0 and host not in standing for host, n in local.items())
    if declined:
        refuse = BUSY_REFUSE_SECONDS if uncovered > 0 or starved else IDLE_REFUSE_SECONDS
        state.effects.append(act.DeclineOffers(pool, tuple(declined), refuse, stimulus_id=state.stimulus))
    if uncovered <= 0 and not starved:
        state.effects.append(act.SuppressOffers(pool, stimulus_id=state.stimulus))


def local_waiting(job: Job) -> dict[str, int]:
    """Canonical host -> the job's pending tasks whose data it holds best (none while the job is held)."""
    return {} if job.held else dict(job.local_pending)


def free_slots(state: SchedulerState, job: Job, executor: CoarseExecutor) -> int:
    """Tasks of the job the executor can start now (all its slots while it has not registered yet)."""
    host = state.book.hosts.get(executor.executor_id)
    if host is None:
        return 0 if executor.registered else executor.slots
    return max(0, min(math.floor(host.free_cpus / max(job.spec.cpus, EPS) + EPS),
                      math.floor(host.free_mem / max(job.spec.mem, EPS) + EPS)))


def grow(state: SchedulerState, job: Job, executor: CoarseExecutor, offer: Offer, slots: int) -> None:
    """One more room for a running executor: its host can take that many more tasks at once now."""
    spec = job.spec
    executor.grown += 1
    room_id = f"{executor.executor_id}-room-{executor.grown}"
    room = executor.rooms[room_id] = Room(slots * spec.cpus, slots * spec.mem, slots)
    executor.slots += slots
    state.book.resize(executor.executor_id, room.cpus, room.mem)
    state.effects.append(act.GrowExecutor(job.pool, offer, executor.executor_id, room_id, room.cpus, room.mem,
                                          slots * spec.disk, stimulus_id=state.stimulus))


def shrink_unused_rooms(state: SchedulerState, job: Job, now: float) -> None:
    """Give back the rooms an executor grew by once they went unused for the job's idle time
    (``mesos_idle_timeout``) while nothing waited: never one a running task needs (its host keeps
    room for what runs), never the first (the executor leaves whole when idle, by itself)."""
    idle = job.spec.mesos_idle_timeout
    waiting = job.counts[Status.PENDING] > 0 and not job.held
    for executor in job.executors.values():
        host = state.book.hosts.get(executor.executor_id)
        if host is None:
            continue
        for room_id in [r for r in reversed(executor.rooms) if r != executor.executor_id]:
            room = executor.rooms[room_id]
            if waiting or host.free_cpus + EPS < room.cpus or host.free_mem + EPS < room.mem:
                room.unused_since = 0.0
                continue
            if not room.unused_since:
                room.unused_since = now
            elif now - room.unused_since >= idle:
                del executor.rooms[room_id]
                executor.slots -= room.slots
                state.book.resize(executor.executor_id, -room.cpus, -room.mem)
                state.effects.append(act.ShrinkExecutor(job.pool, executor.executor_id, room_id,
                                                        stimulus_id=state.stimulus))


def on_executor_room_ended(state: SchedulerState, e: ev.ExecutorRoomEnded) -> None:
    """A room ended that the core did not give back: the executor holds that much less."""
    job = pool_owner(state, PoolId(e.pool))
    executor = job.executors.get(e.executor_id) if job is not None else None
    room = executor.rooms.pop(e.room_id, None) if executor is not None else None
    if executor is None or room is None or job is None:
        return
    executor.slots -= room.slots
    state.book.resize(e.executor_id, -room.cpus, -room.mem)
    if uncovered_tasks(state, job) > 0:
        revive(state, job)


def uncovered_tasks(state: SchedulerState, job: Job) -> int:
    """Pending tasks of a coarse job beyond what its executors can start: free slots on those that
    registered, every slot of those still starting."""
    if job.held:
        return 0
    return job.counts[Status.PENDING] - sum(free_slots(state, job, x) for x in job.executors.values())


def avoid(state: SchedulerState, job: Job, host: str, agent: str, reason: str) -> None:
    """The executor could not start on ``host`` (agent id ``agent``, "" if none): the job's tasks
    go there no more, unless every agent that offers is avoided (see on_offers); warned once."""
    key = agent or canonical_host(host)
    if key not in job.avoid:
        job.avoid[key] = reason
        job.warnings.append(f"{reason}; no more tasks of this job go to {host}")
        state.diff.job(job)


def no_usable_host(job: Job) -> bool:
    """Whether every agent that offered the job room is avoided (by its id or its host's name)."""
    return bool(job.avoid) and all(agent in job.avoid or host in job.avoid for agent, host in job.offered.items())


def pool_owner(state: SchedulerState, pool: PoolId) -> Job | None:
    """The job whose own pool this is (None for a shared pool or a job that is gone)."""
    key = pool.job_key
    job = state.by_key.get(key) if key is not None else None
    return job if job is not None and job.pool == pool else None


# -- standing hosts ---------------------------------------------------------------------------


def schedule(state: SchedulerState) -> None:
    """Launch pending tasks where they fit, one task per job per round (fair share)."""
    last_launch = state.last_launch
    for pool, waiting in state.waiting.items():
        hosts = state.book.pools.get(pool)
        if not hosts:
            continue
        progress = True
        while waiting and progress:
            progress = False
            # Fewest running tasks first, then the job that launched least recently.
            order = sorted(waiting, key=lambda k: (waiting[k].counts[Status.RUNNING], last_launch.get(k, 0)))
            for key in order:
                job = waiting[key]
                if next_pending(job) is None:
                    del waiting[key]
                    continue
                cpus = min(job.spec.cpus, max(h.cpus for h in hosts))
                for host in hosts:
                    if (host.free_cpus + EPS >= cpus and host.free_mem + EPS >= job.spec.mem
                            and host.only_job in (None, key)):
                        task = pick(state, job, host.hostname)
                        if task is not None:
                            launch(state, job, task, host, cpus)
                            progress = True
                            break
                if next_pending(job) is None:
                    del waiting[key]


def index(job: Job, task: Task) -> None:
    """Queue a pending task under the hosts that hold its data best (and count it there)."""
    for host in best_hosts(task.host_bytes):
        job.by_host.setdefault(host, deque()).append(task.task_id)
        job.local_pending[host] = job.local_pending.get(host, 0) + 1


def pick(state: SchedulerState, job: Job, host: str) -> Task | None:
    """Delay scheduling: the task to run on ``host`` now, or None to leave the host to others.

    First a pending task whose data this host holds best; else the longest-waiting pending
    task, if it has no data to be near or no longer waits for a host that has (``waits_for_data``).
    None while the job waits for the job it runs after (core/after.py).
    """
    if job.held:
        return None
    local = job.by_host.get(host)
    while local:
        task = job.tasks[local.popleft()]
        if task.status is Status.PENDING:
            return task
    head = next_pending(job)
    if head is None:
        return None
    if head.history and shuns(state, job, head, host):
        return _first_not_shunning(state, job, host)
    if not head.host_bytes or not waits_for_data(state, job, head):
        return head
    return None


def waits_for_data(state: SchedulerState, job: Job, task: Task) -> bool:
    """Whether a pending task leaves hosts without its data to others: for ``locality_wait`` since
    it was queued, or since a host holding its data best joined the pool (pilots start seconds
    apart: the tasks that waited for a late one are left to its slots for that long, not taken by
    an idle early pilot the moment it arrives), and while a pilot asked of such a host is on its way."""
    since = task.queued
    arrived = state.arrived.get(job.pool)
    if arrived:
        since = max([since, *(arrived.get(host, since) for host in best_hosts(task.host_bytes))])
    return state.now - since < job.spec.locality_wait or awaits_pilot(state, job, task)


def awaits_pilot(state: SchedulerState, job: Job, task: Task) -> bool:
    """Whether a pilot asked of a host holding ``task``'s data best is on its way (PilotsComing):
    the task waits for it past its locality_wait (its backend gives up on a pilot that stays queued)."""
    coming = state.coming.get(job.pool)
    return coming is not None and any(host in coming for host in best_hosts(task.host_bytes))


#: pending tasks looked at past one that shuns a host, for one that does not (bounds a pick).
SHUN_SCAN = 64


def shuns(state: SchedulerState, job: Job, task: Task, host: str) -> bool:
    """Whether a retried task leaves ``host`` (a canonical name) to others: an attempt of it failed
    there and another host of its job's pool, standing or one that offered, can take it (GNU
    Parallel's --retries: "on another computer on which it has not failed")."""
    failed = task.failed_hosts()
    if host not in failed:
        return False
    others = {h.hostname for h in state.book.pools.get(job.pool, ())} | set(job.offered.values())
    return bool(others - failed - {host} - set(job.avoid))


def _first_not_shunning(state: SchedulerState, job: Job, host: str) -> Task | None:
    """The longest-waiting pending task (of the next ``SHUN_SCAN``) with no reason to leave ``host``."""
    for n, task_id in enumerate(job.pending):
        if n > SHUN_SCAN:
            break
        task = job.tasks[task_id]
        if task.status is Status.PENDING and not task.host_bytes and not (task.history
                                                                           and shuns(state, job, task, host)):
            return task
    return None


def next_pending(job: Job) -> Task | None:
    """The longest-waiting pending task (the queue is cleaned lazily of tasks killed meanwhile);
    None while the job waits for the job it runs after."""
    if job.held:
        return None
    while job.pending:
        task = job.tasks[job.pending[0]]
        if task.status is Status.PENDING:
            return task
        job.pending.popleft()  # killed while queued
    return None


def set_host(job: Job, task: Task, host: str) -> None:
    """Place ``task`` on ``host`` (the one writer of ``task.host`` in the core): the job's locality
    figures trade the task's former placement for this one."""
    job.locality.count(task, -1)
    task.host = host
    job.locality.count(task, 1)


def start(state: SchedulerState, job: Job, task: Task, host_id: str, cpus: float,
          detail: str = "launched", hostname: str = "") -> act.LaunchTask:
    """Mark a task running as a new attempt; the caller places it. ``hostname``: the machine, when
    the host id is an executor's (what users are shown, and what the story line names)."""
    task.attempt += 1
    set_host(job, task, hostname or host_id)
    task.kill_requested = False
    task.exit_code = task.signal = None
    task.started = task.ended = 0.0
    move(state, job, task, Status.RUNNING, detail=detail)
    state.launches += 1
    state.last_launch[job.key] = state.launches
    spec = taskspec.build(state.sandboxes, job, task, task.attempt, cpus)
    return act.LaunchTask(job.key, task.task_id, task.attempt, host_id, job.pool, cpus, spec,
                          stimulus_id=state.stimulus)


def launch(state: SchedulerState, job: Job, task: Task, host: Host, cpus: float) -> None:
    """Start a task on a standing host."""
    executor = job.executors.get(host.host_id)
    detail = "launched"
    if executor is not None:  # a coarse Mesos executor: the story says which one, and on which agent
        detail = f"launched on executor {executor.executor_id} (agent {executor.agent_id or host.hostname})"
    # a pilot's host id is its executor id; users want the machine
    action = start(state, job, task, host.host_id, cpus, detail, host.hostname)
    state.book.reserve(host, job, task.task_id, cpus)
    state.effects.append(action)
