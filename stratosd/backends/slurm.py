"""Slurm: pilot jobs submitted with sbatch run the tasks of every job of a shared pool.

Pilots belong to the daemon: every job whose settings ask Slurm for the same pilots (partition,
account, QoS, cores, memory, time limit, extra sbatch options: core/pools.py) shares one pool,
and the core places any of its jobs' tasks on any of its pilots (backends/pilots.py carries the
orders). This adapter only keeps each pool supplied: it submits pilot jobs while tasks wait (up
to the core's demand for the pool and its max_pilots), watches them in squeue, and tells the core
when a pilot's Slurm job ended (it decides what becomes of its tasks). The core, not this adapter,
stops a pilot that stayed idle (StopExecutor IDLE): the pilot exits and its Slurm job ends.
A pool pilot carries only a one-time bootstrap through Slurm, traded for a pool credential.

Pilots where the data is: the core's demand names the hosts holding the largest shares of the
pool's pending tasks' data (without those where a pilot of the pool has room). New pilots are
asked of those nodes first (``sbatch --nodelist=NODE``, the host mapped to its Slurm node name
through ``scontrol show nodes``), one queued at a time per node; a pilot still queued after
``slurm_node_wait`` (or the jobs' longer ``locality_wait``) is scancelled and replaced by one
Slurm may place anywhere, and that node is not asked for again for as long. The core is told
where such pilots are on their way (PilotsComing): their node's tasks wait for them rather than
run elsewhere when their locality_wait is up during the pilot's start (seconds under load).
Pilot job ids are journaled (a shared pool's in job_meta under key 0, a job's own pool's under
the job), so a restarted daemon still knows the pilots that reconnect to it on their own.
(Jobs journaled before pools were shared keep their own pool, released when they are done.)

Translates: squeue's word on a registered pilot's job ending -> PilotJobEnded; a pilot job
that ended before its pilot registered -> PilotStartFailed (with Slurm's record and log tail);
the hosts of pilots asked of a node and not registered yet -> PilotsComing.
Carries out: ReviveOffers (keeps the grant), PoolDemand (sizes the supply: how many sbatch
calls, with backoff), ReleasePool (scancel), StopExecutor (through the pilots backend; a pilot
the core counted lost also has its Slurm job scancelled), and through the pilots backend
LaunchTask and KillTask.
Decides: nothing about a task's fate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stratos_executor.spec import TaskSpec
from stratos_wire.errors import BackendUnavailable, InvalidJobSpec
from stratos_wire.settings import default
from stratosd.backends.base import Emit
from stratosd.backends.pilots import PilotsBackend
from stratosd.core.actions import PoolGrant
from stratosd.core.events import Event, PilotJobEnded, PilotsComing, PilotStartFailed
from stratosd.core.locality import canonical_host
from stratosd.core.model import JobSpec
from stratosd.core.pools import partition_of as partition_of
from stratosd.core.pools import pilot_size as pilot_size
from stratosd.core.types import ExecutorStopCause, PoolId, PoolKind
from stratosd.enroll import Enrollment, pool_secret
from stratosd.listeners import ExecutorListeners, slurm_controller

log = logging.getLogger("stratosd.slurm")

KIND = PoolKind.SLURM
META_KEY = "slurm_pilots"
#: the job_meta row (job key 0: no job has it) holding every shared pool's pilot job ids.
POOLS_META_KEY, DAEMON_META = "slurm_pools", 0
#: for journals written before the daemon stored these defaults (they held 0 for "not given").
DEFAULT_MAX_PILOTS: int = default("max_pilots")
DEFAULT_IDLE_TIMEOUT: float = default("pilot_idle_timeout")
#: squeue states of a pilot that has not started yet (anything else listed is running or ending).
QUEUED_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                           "SUSPENDED", "RESIZING"})
#: pilot jobs in a row that end without registering before submitting slows down, and the longest pause.
FAILED_STARTS_BEFORE_BACKOFF = 3
FIRST_BACKOFF, MAX_BACKOFF = 30.0, 300.0
#: how long one sbatch/squeue/scancel call may take.
COMMAND_TIMEOUT = 30.0
#: how long a pilot asked of a data node may stay queued before one on any node replaces it.
DEFAULT_NODE_WAIT: float = default("slurm_node_wait")
#: how long the map of host names to Slurm node names is trusted before scontrol is asked again.
NODE_MAP_TTL = 60.0


def pilots_to_submit(pending: int, running: int, slots_per_pilot: int, pilots: int, max_pilots: int) -> int:
    """How many more pilot jobs to submit: enough for every unended task, never past max_pilots.

    Only while tasks wait: running tasks alone never ask for pilots.
    """
    if pending <= 0:
        return 0
    wanted = min(max_pilots, math.ceil((pending + running) / max(1, slots_per_pilot)))
    return max(0, wanted - pilots)


def node_names(scontrol_out: str, partition: str = "") -> dict[str, str]:
    """``scontrol show nodes -o`` -> canonical host -> Slurm node name, by each node's NodeName,
    NodeHostName and NodeAddr (HDFS names a DataNode by host name or address, Slurm by its own
    names, which may differ); only nodes of ``partition`` when one is given (--nodelist with a node
    outside the job's partition is refused)."""
    names: dict[str, str] = {}
    for line in scontrol_out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        node = fields.get("NodeName", "")
        if not node or (partition and partition not in fields.get("Partitions", "").split(",")):
            continue
        for key in ("NodeAddr", "NodeHostName", "NodeName"):  # the node's own name wins a clash
            value = fields.get(key, "")
            if value and value != "(null)":
                names[canonical_host(value)] = node
    return names


def nodes_to_ask(wanted: tuple[tuple[str, int], ...], nodes: dict[str, str], taken: set[str], count: int
                 ) -> list[str]:
    """The Slurm nodes the next ``count`` pilots are asked of, largest pending share first: wanted
    hosts Slurm knows, not ``taken`` (a pilot queued there already, or not to be had lately), each once.
    The rest of the ``count`` pilots go wherever Slurm puts them."""
    chosen: list[str] = []
    for host, _ in wanted:
        node = nodes.get(host)
        if node is not None and node not in taken and node not in chosen:
            chosen.append(node)
            if len(chosen) >= count:
                break
    return chosen


def pool_label(pool: str) -> str:
    """A shared pool's pilot jobs are named ``stratos-<label>`` and log to ``<label>-pilot-<id>.log``."""
    return "pool-" + re.sub(r"[^A-Za-z0-9_.=-]", "_", PoolId(pool).name)  # squeue --name splits at commas


def safety_idle_timeout(spec: JobSpec, idle_release: float) -> float:
    """A shared pool's pilot's own --idle-timeout: only a safety net for a daemon that no longer tells
    it to stop (the core stops idle pilots after ``idle_release``); well above it."""
    return max(spec.pilot_idle_timeout, 4 * idle_release, 300.0)


class Meta(Protocol):
    def meta(self, job_key: int, key: str) -> str | None: ...

    def set_meta(self, job_key: int, key: str, value: str | None) -> None: ...


@dataclass
class PilotPool:
    """One pool's pilot jobs: Slurm job id -> its last squeue state."""

    #: the job whose own pool it is (journals from before pools were shared); None: a shared pool.
    job_key: int | None
    pool: str
    pilots: dict[str, str] = field(default_factory=dict)
    release_at: float | None = None
    #: why pilots are not coming ("" when they are), shown in the job's status.
    problem: str = ""
    retry_at: float = 0.0
    #: pilot jobs in a row that ended without ever reaching the daemon.
    failed_starts: int = 0
    #: the job's name, token and settings, from the core's last ReviveOffers (None: not revived yet).
    grant: PoolGrant | None = None
    #: the core's last PoolDemand: the pool's tasks waiting and running, and its most pilots (0: the grant's).
    pending: int = 0
    running: int = 0
    max_pilots: int = 0
    #: ... where its pending tasks' data is (canonical host, tasks), and how long they wait for it.
    wanted: tuple[tuple[str, int], ...] = ()
    locality_wait: float = 0.0
    #: pilot jobs asked of one node (--nodelist) that have not registered yet: Slurm job id -> (node, when).
    pinned: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: nodes a pilot could not be had on lately -> until when (time.monotonic()) none is asked of them.
    unavailable: dict[str, float] = field(default_factory=dict)
    #: the hosts of ``pinned`` the core was last told of (PilotsComing); None: not told yet (a new
    #: pool object, after a release or a restart: the core may still hold an older word).
    told_coming: frozenset[str] | None = None

    @property
    def partition(self) -> str:
        """The Slurm partition its pilots are asked of ("" before the core's first ReviveOffers)."""
        return partition_of(self.grant.spec.master) if self.grant is not None else ""

    @property
    def label(self) -> str:
        """What names its pilot jobs and their log files: the job's name, or the shared pool's."""
        if self.job_key is None:
            return pool_label(self.pool)
        return self.grant.job_name if self.grant is not None else ""


class SlurmBackend:
    pool = KIND

    def __init__(
        self,
        pilots: PilotsBackend,
        *,
        meta: Meta,
        executor_address: str,
        log_dir: Path,
        executor_command: str | None = None,
        executor_tls_ca: str | None = None,
        idle_release: float = 30.0,
        poll_interval: float = 2.0,
        node_wait: float = DEFAULT_NODE_WAIT,
        listeners: ExecutorListeners | None = None,
        enrollment: Enrollment | None = None,
        emit: Emit | None = None,
    ) -> None:
        #: reports to the core (PilotStartFailed); default: the pilots backend's.
        self._emit = emit if emit is not None else pilots.emit
        #: executor listeners opened on demand (bound towards the controller); None: ``executor_address``.
        self.listeners = listeners
        #: with it, a pilot job carries a one-time bootstrap, never the job's token.
        self.enrollment = enrollment
        self.pilots = pilots
        self._meta = meta
        self.executor_address = executor_address
        self.executor_command = executor_command or f"{shlex.quote(sys.executable)} -m stratos_executor"
        self.executor_tls_ca = executor_tls_ca
        self.log_dir = log_dir
        self.idle_release = idle_release
        self.poll_interval = poll_interval
        #: how long a pilot asked of a data node may stay queued (slurm_node_wait).
        self.node_wait = node_wait
        #: partition -> (canonical host -> Slurm node name, when read): scontrol show nodes, cached.
        self._nodes: dict[str, tuple[dict[str, str], float]] = {}
        self.pools: dict[str, PilotPool] = {}
        #: job key -> the pool its grant named (a job's status shows its pool's pilots).
        self._job_pools: dict[int, str] = {}
        self._wake = asyncio.Event()
        saved = meta.meta(DAEMON_META, POOLS_META_KEY)  # a restarted daemon's shared pools' pilots
        for pool, ids in (json.loads(saved) if saved else {}).items():
            state = self._pool(pool)
            if state is not None:
                state.pilots.update(dict.fromkeys(ids, ""))
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def initial_events(self) -> list[Event]:
        return []

    # -- what the core asks for -----------------------------------------------------------------

    def revive(self, pool: str, grant: PoolGrant | None = None) -> None:
        """Tasks wait in the pool: make sure it has (or gets) pilots."""
        state = self._pool(pool)
        if state is None:
            return
        if grant is not None:
            state.grant = grant
            if grant.job_key:
                self._job_pools[grant.job_key] = pool
        state.release_at = None
        self._wake.set()

    def demand(self, pool: str, pending: int, running: int, max_pilots: int = 0,
               hosts: tuple[tuple[str, int], ...] = (), locality_wait: float = 0.0) -> None:
        """The core's count of the pool's waiting and running tasks (of all its jobs), and the hosts
        their data is on: the next supply round sizes and places from it."""
        state = self.pools.get(pool)
        if state is not None:
            state.pending, state.running, state.max_pilots = pending, running, max_pilots
            state.wanted, state.locality_wait = hosts, locality_wait
            if pending:
                self._wake.set()  # a job submitted while the pool has no room: ask Slurm now

    def release(self, pool: str, now: bool = False) -> None:
        """The job has nothing left to run: scancel its pilots, after ``idle_release`` unless more
        work comes (a closed or cancelled job: at once)."""
        state = self._pool(pool)
        if state is None:
            return
        wait = 0.0 if now else self.idle_release
        token = state.release_at = time.monotonic() + wait

        async def later() -> None:
            await asyncio.sleep(wait)
            if state.release_at == token and self.pools.get(pool) is state:
                await self._cancel_all(state)

        self._spawn(later())

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        self.pilots.launch(job_key, host_id, spec)

    def kill(self, job_key: int, task_id: int, attempt: int, host_hint: str = "") -> None:
        self.pilots.kill(job_key, task_id, attempt)

    def stop_executor(self, host_id: str, cause: ExecutorStopCause) -> None:
        self.pilots.stop_executor(host_id, cause)
        if cause is ExecutorStopCause.SILENT:
            self._cancel_lost(host_id)

    def _cancel_lost(self, host_id: str) -> None:
        """A pilot the core counted lost serves nothing more (its tasks run elsewhere), yet its Slurm
        job would hold its allocation, and be charged for it, until its time limit: it is scancelled.
        A node cut off gets the cancel from slurmctld once it is back; the pilot's late word is
        refused either way (it is no longer registered)."""
        slurm_id = host_id.removeprefix("slurm-")
        if slurm_id == host_id or not any(slurm_id in state.pilots for state in self.pools.values()):
            return
        self.pilots.retire(host_id, f"it was counted lost and its Slurm job {slurm_id} is cancelled")

        async def cancel() -> None:
            if await _scancel([slurm_id]):
                log.info("pilot %s was lost: its Slurm job %s is cancelled", host_id, slurm_id)

        self._spawn(cancel())

    # -- what the servicer shows -----------------------------------------------------------------

    def _job_pool(self, job_key: int) -> PilotPool | None:
        own = self.pools.get(PoolId.of(KIND, job_key))
        return own if own is not None else self.pools.get(self._job_pools.get(job_key, ""))

    def pilot_counts(self, job_key: int) -> tuple[int, int]:
        """(queued in Slurm, running) pilot jobs of a job's pool (a shared pool's serve all its jobs)."""
        state = self._job_pool(job_key)
        if state is None:
            return 0, 0
        registered = {p.executor_id for p in self.pilots.pools_pilots(state.pool)}
        queued = sum(1 for slurm_id, s in state.pilots.items()
                     if s in QUEUED_STATES and f"slurm-{slurm_id}" not in registered)  # squeue may lag
        return queued, len(state.pilots) - queued

    def job_notes(self, job_key: int) -> list[str]:
        state = self._job_pool(job_key)
        return [state.problem] if state is not None and state.problem else []

    async def probe(self, master: str) -> None:
        """Refuse a job whose cluster or partition is not there, before it is created."""
        try:
            code, out, err = await _run(["sinfo", "-h", "-o", "%P"])
        except FileNotFoundError:
            raise BackendUnavailable(
                "sinfo is not installed here: run stratosd on a host with the Slurm client commands "
                "(a login node), or see deploy/slurm/ for a one-node test cluster.") from None
        if code != 0:
            raise BackendUnavailable(f"Slurm does not answer (sinfo: {err.strip() or code}): is slurmctld up?")
        partitions = {p.rstrip("*") for p in out.split()}
        wanted = partition_of(master)
        if wanted and wanted not in partitions:
            raise InvalidJobSpec(f"Slurm has no partition {wanted!r}: use one of {', '.join(sorted(partitions))}.")
        if self.listeners is not None:
            code, out, err = await _run(["scontrol", "show", "config"])
            try:
                controller = slurm_controller(out) if code == 0 else None
                await self.listeners.ensure(master, controller)
            except (OSError, ValueError, RuntimeError) as exc:
                raise BackendUnavailable(
                    f"cannot open an executor listener for Slurm: {exc}. Set executor_listen (and "
                    "advertise) in the [stratosd] table of the settings file, or `stratosd run "
                    "--executor-listen HOST:PORT`.") from None

    # -- the loop -------------------------------------------------------------------------------

    def start(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        # Pilots running tasks keep running across a daemon restart: they reconnect, and the journal
        # names them. Shared pools' pilots that run nothing are scancelled: nobody would stop them.
        if self._watcher is not None:
            self._watcher.cancel()
        for task in list(self._background):
            task.cancel()
        busy = set(self.pilots.live_attempts().values())
        for state in [s for s in self.pools.values() if s.job_key is None]:
            idle = [slurm_id for slurm_id in state.pilots if f"slurm-{slurm_id}" not in busy]
            if not idle:
                continue
            if not await _scancel(idle):
                continue
            for slurm_id in idle:
                del state.pilots[slurm_id]
            self._save(state)
            log.info("pool %s: the daemon stops: cancelled its idle pilot jobs %s", state.pool, " ".join(idle))

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()
            try:
                await self._poll()
                for state in list(self.pools.values()):
                    await self._supply(state)
                    self._tell_coming(state)
            except Exception:  # a bad answer from Slurm must not stop the watching
                log.exception("watching Slurm pilots failed")

    async def _poll(self) -> None:
        """Take each pilot's state from squeue; a pilot no longer listed has ended."""
        ids = [i for state in self.pools.values() for i in state.pilots]
        if not ids:
            return
        code, out, err = await _run(["squeue", "-h", "-o", "%i %T", "--jobs", ",".join(ids)])
        if code != 0 and "Invalid job id" not in err:
            log.warning("squeue failed (%s): pilot states not updated", err.strip() or code)
            return
        listed = _states(out)
        if code != 0 and len(ids) > 1:  # one purged id spoils a list query: ask one by one
            listed = {}
            for slurm_id in ids:
                one, out, _ = await _run(["squeue", "-h", "-o", "%i %T", "--jobs", slurm_id])
                if one == 0:
                    listed.update(_states(out))
        for state in list(self.pools.values()):
            changed = False
            for slurm_id in list(state.pilots):
                now = listed.get(slurm_id, "").strip()
                if now and now not in ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
                                       "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"):
                    state.pilots[slurm_id] = now
                    if state.failed_starts and f"slurm-{slurm_id}" in self.pilots.ever_registered:
                        state.failed_starts, state.problem = 0, ""  # pilots reach the daemon again
                    continue
                del state.pilots[slurm_id]
                changed = True
                executor_id = f"slurm-{slurm_id}"
                if executor_id in self.pilots.ever_registered:
                    state.failed_starts = 0
                    # its tasks, if any, are infrastructure failures: the core decides, and runs them elsewhere
                    if self.pilots.drop(executor_id):
                        self._emit(PilotJobEnded(executor_id, f"its Slurm job {slurm_id} ended ({now or 'gone'})",
                                                 time.time()))
                else:
                    self._failed_start(state, slurm_id)
                    node, detail = await self._why_failed(state, slurm_id, now)
                    self._emit(PilotStartFailed(state.pool, node, detail, time.time()))
            if changed:
                self._save(state)

    async def _why_failed(self, state: PilotPool, slurm_id: str, squeue_state: str) -> tuple[str, str]:
        """(node, what went wrong) of a pilot job that ended without registering: Slurm's record
        of it (kept MinJobAge, 300 s by default) and the last lines of its output file."""
        code, out, _ = await _run(["scontrol", "show", "job", "-o", slurm_id])
        fields = dict(re.findall(r"(NodeList|ExitCode|StdOut|JobState|Reason)=(\S+)", out)) if code == 0 else {}
        node = fields.get("NodeList", "")
        node = "" if node in ("(null)", "None") else node
        name = state.label
        path = fields.get("StdOut") or (str(self.log_dir / f"{name}-pilot-{slurm_id}.log") if name else "")
        tail = log_tail(Path(path)) if path else ""
        words = [f"Slurm job {slurm_id}"]
        ended = fields.get("JobState") or squeue_state
        if ended:
            words.append(ended + (f" (exit {fields['ExitCode']})" if fields.get("ExitCode") else ""))
        detail = " ".join(words)
        detail += f": {tail}" if tail else f"; its log {path} is empty or not readable here" if path else ""
        return node, detail

    def _failed_start(self, state: PilotPool, slurm_id: str) -> None:
        """A pilot job ended before its pilot registered: after a few in a row, stop submitting
        for a while (doubling) rather than feed Slurm a pilot per poll that cannot work."""
        state.failed_starts += 1
        if state.failed_starts < FAILED_STARTS_BEFORE_BACKOFF:
            return
        pause = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (state.failed_starts - FAILED_STARTS_BEFORE_BACKOFF))
        state.retry_at = time.monotonic() + pause
        state.problem = (
            f"{state.failed_starts} pilot jobs in a row ended without reaching the daemon (the last: Slurm job "
            f"{slurm_id}, log in {self.log_dir}); is the executor command right and the executor listener "
            f"{self.executor_address} reachable from the nodes? Next try in {pause:.0f} s")
        log.warning("pool %s: %s", state.pool, state.problem)

    async def _supply(self, state: PilotPool) -> None:
        """Submit pilot jobs for the core's last demand (a removed job's pool was released already);
        a shared pool with nothing waiting scancels its pilot jobs still queued in Slurm (a running
        pilot is the core's to stop once it has been idle)."""
        grant = state.grant
        if state.job_key is None and not state.pending:
            await self._cancel_queued(state)
        if grant is None or not (state.pending + state.running) or time.monotonic() < state.retry_at:
            return
        cpus, mem, slots = pilot_size(grant.spec)
        await self._give_up_on_nodes(state)
        # a pilot the core counted lost (silent: its node cut off, say) serves nothing though Slurm
        # may still list it until its scancel takes effect: it does not count against max_pilots
        serving = sum(1 for slurm_id in state.pilots if f"slurm-{slurm_id}" in self.pilots.pilots
                      or f"slurm-{slurm_id}" not in self.pilots.ever_registered)
        count = pilots_to_submit(state.pending, state.running, slots, serving,
                                 state.max_pilots or grant.spec.max_pilots or DEFAULT_MAX_PILOTS)
        nodes = await self._nodes_for(state, count)
        for n in range(count):
            node = nodes[n] if n < len(nodes) else ""
            if node and await self._submit(state, grant, cpus, mem, node):
                continue
            if node:  # Slurm refused that node for these pilots: any node, and not that one again for a while
                state.unavailable[node] = time.monotonic() + self._node_wait(state)
            if not await self._submit(state, grant, cpus, mem):
                state.retry_at = time.monotonic() + 10 * self.poll_interval
                return

    def _node_wait(self, state: PilotPool) -> float:
        """How long a pilot asked of one node may stay queued: the daemon's slurm_node_wait, or the
        pool's tasks' locality_wait when longer (they would wait that long for such a host anyway)."""
        return max(self.node_wait, state.locality_wait)

    async def _nodes_for(self, state: PilotPool, count: int) -> list[str]:
        """The nodes the next ``count`` pilots are asked of (the rest: anywhere)."""
        now = time.monotonic()
        for node in [n for n, until in state.unavailable.items() if until <= now]:
            del state.unavailable[node]
        if not state.wanted or count <= 0:
            return []
        nodes = await self._node_map(state.partition)
        # one pilot per node is asked for: not where one is queued, nor where a pilot of the pool stands
        # (its tasks run one after the other there; more pilots go where Slurm has room)
        standing = {nodes.get(canonical_host(p.host)) for p in self.pilots.pools_pilots(state.pool)}
        taken = set(state.unavailable) | {node for node, _ in state.pinned.values()} | {n for n in standing if n}
        return nodes_to_ask(state.wanted, nodes, taken, count)

    async def _node_map(self, partition: str) -> dict[str, str]:
        """Canonical host -> Slurm node name (of ``partition``), from scontrol, cached NODE_MAP_TTL seconds;
        empty when scontrol fails (pilots then go wherever Slurm puts them)."""
        known = self._nodes.get(partition)
        if known is not None and time.monotonic() - known[1] < NODE_MAP_TTL:
            return known[0]
        try:
            code, out, err = await _run(["scontrol", "show", "nodes", "-o"])
        except FileNotFoundError:
            code, out, err = 127, "", "scontrol is not installed here"
        if code != 0:
            log.warning("scontrol show nodes failed (%s): pilots are not asked of the nodes holding the data",
                        err.strip() or code)
        names = node_names(out, partition) if code == 0 else {}
        self._nodes[partition] = (names, time.monotonic())
        return names

    async def _give_up_on_nodes(self, state: PilotPool) -> None:
        """A pilot asked of one node and still queued after the node wait is scancelled (its node busy,
        drained or down): this round submits one Slurm may place anywhere instead."""
        now, wait = time.monotonic(), self._node_wait(state)
        self._forget_arrived(state)
        late = [slurm_id for slurm_id, (_node, since) in state.pinned.items()
                if state.pilots[slurm_id] in QUEUED_STATES and now - since >= wait]
        if not late:
            return
        if not await _scancel(late):
            return
        for slurm_id in late:
            node, _ = state.pinned.pop(slurm_id)
            state.pilots.pop(slurm_id, None)
            state.unavailable[node] = now + wait
            log.info("pool %s: pilot job %s asked of node %s did not start within %g s: cancelled; the next "
                     "pilot goes to any node", state.pool, slurm_id, node, wait)
        self._save(state)

    def _forget_arrived(self, state: PilotPool) -> None:
        """Pilots asked of a node that registered (the node was had) or ended are pinned no more."""
        for slurm_id in list(state.pinned):
            if slurm_id not in state.pilots or f"slurm-{slurm_id}" in self.pilots.ever_registered:
                del state.pinned[slurm_id]

    def _tell_coming(self, state: PilotPool) -> None:
        """Tell the core where the pool's pilots asked of a node are on their way (PilotsComing), when
        that changed: the tasks whose data is there wait for them, not only their locality_wait (a
        pilot takes seconds to start), for at most the node wait."""
        self._forget_arrived(state)
        # one started by Slurm that never registers is not waited for past the node wait either
        now, wait = time.monotonic(), self._node_wait(state)
        asked = {node for node, since in state.pinned.values() if now - since < wait}
        known = self._nodes.get(state.partition)
        hosts = frozenset(host for host, node in (known[0] if known else {}).items() if node in asked)
        if hosts != state.told_coming:
            state.told_coming = hosts
            self._emit(PilotsComing(state.pool, hosts))

    async def _submit(self, state: PilotPool, grant: PoolGrant, cpus: int, mem: int, node: str = "") -> bool:
        spec = grant.spec
        shared = state.job_key is None
        if shared and self.enrollment is None:
            state.problem = "pilots of a shared pool need the daemon's executor key (enrollment): none here"
            return False
        self.log_dir.mkdir(parents=True, exist_ok=True)
        address, tls_ca, ca_pem = self.executor_address, self.executor_tls_ca, ""
        listener = self.listeners.for_master(spec.master) if self.listeners is not None else None
        if listener is not None:
            address, tls_ca, ca_pem = listener.advertise, listener.ca_path or None, listener.ca_pem
        if shared:  # the core stops idle pilots; the pilot's own timeout is only a safety net
            whose = ["--pool", state.pool]
            idle = safety_idle_timeout(spec, self.idle_release)
        else:
            whose = ["--job", grant.job_name]
            idle = spec.pilot_idle_timeout or DEFAULT_IDLE_TIMEOUT
        pilot = [*shlex.split(self.executor_command), "pilot", "--connect", address, *whose, "--idle-timeout",
                 f"{idle:g}"]
        label = state.label
        if tls_ca:
            pilot += ["--tls-ca", tls_ca]
        argv = ["sbatch", "--parsable", f"--job-name=stratos-{label}", f"--cpus-per-task={cpus}",
                f"--mem={mem}", "--nodes=1", "--ntasks=1", f"--output={self.log_dir}/{label}-pilot-%j.log"]
        partition = partition_of(spec.master)
        if partition:
            argv.append(f"--partition={partition}")
        for option, value in (("--account", spec.slurm_account), ("--qos", spec.slurm_qos),
                              ("--time", spec.slurm_time_limit)):
            if value:
                argv.append(f"{option}={value}")
        argv += shlex.split(spec.sbatch_options)
        if node:  # where the pending tasks' data is (after the user's options: this one wins)
            argv.append(f"--nodelist={node}")
        # the executor id names the Slurm job, so squeue's word on it reaches the right pilot
        argv.append("--wrap=STRATOS_EXECUTOR_ID=slurm-$SLURM_JOB_ID exec " + shlex.join(pilot))
        env = {k: v for k, v in os.environ.items() if k not in ("STRATOS_TOKEN", "STRATOS_BOOTSTRAP")}
        if ca_pem:
            env["STRATOS_TLS_CA_PEM"] = ca_pem  # the daemon's CA certificate: public
        if self.enrollment is not None:
            # Slurm keeps a job's environment (state files, `sacct --env-vars`): only a one-time
            # bootstrap goes there, which the pilot trades for its own credential over TLS.
            secret = pool_secret(state.pool) if shared else grant.token
            env["STRATOS_BOOTSTRAP"] = self.enrollment.bootstrap(secret)
        else:
            env["STRATOS_TOKEN"] = grant.token  # never on a command line
        try:
            code, out, err = await _run(argv, env)
        except FileNotFoundError:
            code, out, err = 127, "", "sbatch is not installed here"
        if code != 0 and node:
            log.warning("%s: Slurm refused a pilot job on node %s (sbatch: %s); asking for any node",
                        label, node, err.strip() or code)
            return False
        if code != 0:
            state.problem = f"Slurm refused a pilot job (sbatch: {err.strip() or code}); retrying"
            log.warning("%s: %s", label, state.problem)
            return False
        slurm_id = out.strip().split(";")[0]
        if node:
            state.pinned[slurm_id] = (node, time.monotonic())
        if state.failed_starts < FAILED_STARTS_BEFORE_BACKOFF:
            state.problem = ""
        state.pilots[slurm_id] = "PENDING"
        self._save(state)
        log.info("%s: pilot job %s submitted (%d cores, %d MB%s)", label, slurm_id, cpus, mem,
                 f", on node {node}" if node else "")
        return True

    async def _cancel_queued(self, state: PilotPool) -> None:
        ids = [slurm_id for slurm_id, now in state.pilots.items()
               if now in QUEUED_STATES and f"slurm-{slurm_id}" not in self.pilots.ever_registered]
        if not ids:
            return
        if not await _scancel(ids):
            return
        for slurm_id in ids:
            state.pilots.pop(slurm_id, None)
        self._save(state)
        log.info("pool %s: nothing waits any more: cancelled queued pilot jobs %s", state.pool, " ".join(ids))

    async def _cancel_all(self, state: PilotPool) -> None:
        self.pools.pop(state.pool, None)
        ids = list(state.pilots)
        if ids:
            await _scancel(ids)
            log.info("pool %s: cancelled pilot jobs %s", state.pool, " ".join(ids))
        self._save(state)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _pool(self, pool: str) -> PilotPool | None:
        state = self.pools.get(pool)
        if state is None:
            try:
                pool_id = PoolId(pool)
            except ValueError:
                return None
            if pool_id.kind is not KIND:
                return None
            state = self.pools[pool] = PilotPool(pool_id.job_key, pool)
            if state.job_key is not None:
                saved = self._meta.meta(state.job_key, META_KEY)  # a restarted daemon's pilots
                if saved:
                    state.pilots = dict.fromkeys(json.loads(saved), "")
        return state

    def _save(self, state: PilotPool) -> None:
        if state.job_key is not None:
            self._meta.set_meta(state.job_key, META_KEY,
                                json.dumps(sorted(state.pilots)) if state.pilots and state.pool in self.pools else None)
            return
        shared = {pool: sorted(s.pilots) for pool, s in sorted(self.pools.items()) if s.job_key is None and s.pilots}
        self._meta.set_meta(DAEMON_META, POOLS_META_KEY, json.dumps(shared) if shared else None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def log_tail(path: Path, lines: int = 3, limit: int = 400) -> str:
    """The last non-empty lines of a pilot's output file, on one line ("" if unreadable or empty)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4096))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined if len(joined) <= limit else "..." + joined[-limit:]


def _states(squeue_out: str) -> dict[str, str]:
    """squeue -o "%i %T" lines -> {job id: state}."""
    return {parts[0]: parts[1] for parts in (line.split() for line in squeue_out.splitlines()) if len(parts) == 2}


async def _scancel(ids: list[str]) -> bool:
    """Cancel these Slurm jobs; whether Slurm took it (a refusal is logged)."""
    code, _, err = await _run(["scancel", *ids])
    if code != 0:
        log.warning("scancel %s failed: %s", " ".join(ids), err.strip())
    return code == 0


async def _run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run one Slurm command; (exit code, stdout, stderr). A hung command counts as failed.

    subprocess.run (vfork, then exec) in a worker thread, not the event loop's fork-based
    spawn: a forked copy of the daemon runs gRPC's fork handlers, which can crash the child.
    Slurm commands are few (one squeue per poll, one sbatch per pilot), so a thread each is cheap.
    """
    try:
        done = await asyncio.to_thread(
            subprocess.run, argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"{argv[0]} did not answer within {COMMAND_TIMEOUT:g} s"
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


#: one Slurm command with a time limit (stratosd.doctor uses it too).
run_command = _run
