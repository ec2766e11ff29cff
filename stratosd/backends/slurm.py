"""Slurm: pilot jobs submitted with sbatch run a job's tasks (its pool's hosts are pilots).

The core places tasks on pilots as on any host (backends/pilots.py carries the orders).
This adapter only keeps each job's pool supplied: it submits pilot jobs while tasks wait
(up to max_pilots), watches them in squeue, has a pilot whose Slurm job ended counted lost
(its tasks run again elsewhere), and scancels the job's pilots when the job is done.
Pilot job ids are journaled (job_meta), so a restarted daemon still knows, and can cancel,
the pilots that reconnect to it on their own.
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
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stratos.errors import BackendUnavailable, InvalidJobSpec
from stratos_executor.spec import TaskSpec
from stratosd.backends.base import Emit
from stratosd.backends.pilots import PilotsBackend
from stratosd.core.events import Event, PilotStartFailed
from stratosd.core.model import Job, Offer, Status
from stratosd.core.types import PoolId, PoolKind
from stratosd.enroll import Enrollment
from stratosd.listeners import ExecutorListeners, slurm_controller

log = logging.getLogger("stratosd.slurm")

KIND = PoolKind.SLURM
META_KEY = "slurm_pilots"
DEFAULT_MAX_PILOTS = 4
DEFAULT_IDLE_TIMEOUT = 60.0
#: squeue states of a pilot that has not started yet (anything else listed is running or ending).
QUEUED_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                           "SUSPENDED", "RESIZING"})
#: pilot jobs in a row that end without registering before submitting slows down, and the longest pause.
FAILED_STARTS_BEFORE_BACKOFF = 3
FIRST_BACKOFF, MAX_BACKOFF = 30.0, 300.0
#: how long one sbatch/squeue/scancel call may take.
COMMAND_TIMEOUT = 30.0


def pilots_to_submit(pending: int, running: int, slots_per_pilot: int, pilots: int, max_pilots: int) -> int:
    """How many more pilot jobs to submit: enough for every unended task, never past max_pilots.

    Only while tasks wait: running tasks alone never ask for pilots.
    """
    if pending <= 0:
        return 0
    wanted = min(max_pilots, math.ceil((pending + running) / max(1, slots_per_pilot)))
    return max(0, wanted - pilots)


def partition_of(master: str) -> str:
    """"slurm://debug" -> "debug"; "slurm" -> "" (the cluster's default partition)."""
    return master[len("slurm://"):] if master.startswith("slurm://") else ""


def pilot_size(job: Job) -> tuple[int, int, int]:
    """A pilot's cores, memory (MB) and the tasks it runs at once, from the job's settings."""
    spec = job.spec
    cpus = max(1, math.ceil(spec.pilot_cpus or spec.cpus))
    slots = max(1, math.floor(cpus / max(spec.cpus, 1e-9) + 1e-9))
    mem = math.ceil(spec.pilot_mem or spec.mem * slots)
    return cpus, mem, slots


class Meta(Protocol):
    def meta(self, job_key: int, key: str) -> str | None: ...

    def set_meta(self, job_key: int, key: str, value: str | None) -> None: ...


@dataclass
class PilotPool:
    """One job's pilot jobs: Slurm job id -> its last squeue state."""

    job_key: int
    pool: str
    pilots: dict[str, str] = field(default_factory=dict)
    release_at: float | None = None
    #: why pilots are not coming ("" when they are), shown in the job's status.
    problem: str = ""
    retry_at: float = 0.0
    #: pilot jobs in a row that ended without ever reaching the daemon.
    failed_starts: int = 0


class SlurmBackend:
    pool = KIND

    def __init__(
        self,
        pilots: PilotsBackend,
        *,
        jobs: Callable[[int], Job | None],
        meta: Meta,
        executor_address: str,
        log_dir: Path,
        executor_command: str | None = None,
        executor_tls_ca: str | None = None,
        idle_release: float = 30.0,
        poll_interval: float = 2.0,
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
        self._jobs = jobs
        self._meta = meta
        self.executor_address = executor_address
        self.executor_command = executor_command or f"{shlex.quote(sys.executable)} -m stratos_executor"
        self.executor_tls_ca = executor_tls_ca
        self.log_dir = log_dir
        self.idle_release = idle_release
        self.poll_interval = poll_interval
        self.pools: dict[str, PilotPool] = {}
        self._wake = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def initial_events(self) -> list[Event]:
        return []

    # -- what the core asks for -----------------------------------------------------------------

    def revive(self, pool: str) -> None:
        """Tasks wait in the pool: make sure it has (or gets) pilots."""
        state = self._pool(pool)
        if state is None:
            return
        state.release_at = None
        self._wake.set()

    def suppress(self, pool: str) -> None:
        pass

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

    def accept(self, pool: str, offer: Offer, launches: list[tuple[int, TaskSpec, float]]) -> None:
        raise TypeError("Slurm pilots take no offers")

    def decline(self, pool: str, offer_ids: tuple[str, ...], refuse_seconds: float) -> None:
        raise TypeError("Slurm pilots take no offers")

    # -- what the servicer shows -----------------------------------------------------------------

    def pilot_counts(self, job_key: int) -> tuple[int, int]:
        """(queued in Slurm, running) pilot jobs of a job."""
        state = self.pools.get(PoolId.of(KIND, job_key))
        if state is None:
            return 0, 0
        registered = {p.executor_id for p in self.pilots.jobs_pilots(job_key)}
        queued = sum(1 for slurm_id, s in state.pilots.items()
                     if s in QUEUED_STATES and f"slurm-{slurm_id}" not in registered)  # squeue may lag
        return queued, len(state.pilots) - queued

    def job_notes(self, job_key: int) -> list[str]:
        state = self.pools.get(PoolId.of(KIND, job_key))
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
        # Pilots keep running across a daemon restart: they reconnect, and the journal names them.
        if self._watcher is not None:
            self._watcher.cancel()
        for task in list(self._background):
            task.cancel()

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()
            try:
                await self._poll()
                for state in list(self.pools.values()):
                    await self._supply(state)
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
                    # its tasks, if any, are infrastructure failures: the core runs them elsewhere
                    self.pilots.forget(executor_id, f"its Slurm job {slurm_id} ended ({now or 'gone'})")
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
        job = self._jobs(state.job_key)
        path = fields.get("StdOut") or (str(self.log_dir / f"{job.name}-pilot-{slurm_id}.log") if job else "")
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
        log.warning("job key %d: %s", state.job_key, state.problem)

    async def _supply(self, state: PilotPool) -> None:
        job = self._jobs(state.job_key)
        if job is None:
            self.pools.pop(state.pool, None)
            return
        if not job.unended or job.held or time.monotonic() < state.retry_at:
            return  # nothing to run, or its tasks wait for the job it runs after (after=)
        cpus, mem, slots = pilot_size(job)
        count = pilots_to_submit(job.counts[Status.PENDING], job.counts[Status.RUNNING], slots,
                                 len(state.pilots), job.spec.max_pilots or DEFAULT_MAX_PILOTS)
        for _ in range(count):
            if not await self._submit(state, job, cpus, mem):
                state.retry_at = time.monotonic() + 10 * self.poll_interval
                return

    async def _submit(self, state: PilotPool, job: Job, cpus: int, mem: int) -> bool:
        spec = job.spec
        self.log_dir.mkdir(parents=True, exist_ok=True)
        address, tls_ca, ca_pem = self.executor_address, self.executor_tls_ca, ""
        listener = self.listeners.for_master(spec.master) if self.listeners is not None else None
        if listener is not None:
            address, tls_ca, ca_pem = listener.advertise, listener.ca_path or None, listener.ca_pem
        pilot = [
            *shlex.split(self.executor_command), "pilot", "--connect", address, "--job", job.name,
            "--idle-timeout", f"{spec.pilot_idle_timeout or DEFAULT_IDLE_TIMEOUT:g}",
        ]
        if tls_ca:
            pilot += ["--tls-ca", tls_ca]
        argv = ["sbatch", "--parsable", f"--job-name=stratos-{job.name}", f"--cpus-per-task={cpus}", f"--mem={mem}",
                "--nodes=1", "--ntasks=1", f"--output={self.log_dir}/{job.name}-pilot-%j.log"]
        partition = partition_of(spec.master)
        if partition:
            argv.append(f"--partition={partition}")
        for option, value in (("--account", spec.slurm_account), ("--qos", spec.slurm_qos),
                              ("--time", spec.slurm_time_limit)):
            if value:
                argv.append(f"{option}={value}")
        argv += shlex.split(spec.sbatch_options)
        # the executor id names the Slurm job, so squeue's word on it reaches the right pilot
        argv.append("--wrap=STRATOS_EXECUTOR_ID=slurm-$SLURM_JOB_ID exec " + shlex.join(pilot))
        env = {k: v for k, v in os.environ.items() if k not in ("STRATOS_TOKEN", "STRATOS_BOOTSTRAP")}
        if ca_pem:
            env["STRATOS_TLS_CA_PEM"] = ca_pem  # the daemon's CA certificate: public
        if self.enrollment is not None:
            # Slurm keeps a job's environment (state files, `sacct --env-vars`): only a one-time
            # bootstrap goes there, which the pilot trades for its own credential over TLS.
            env["STRATOS_BOOTSTRAP"] = self.enrollment.bootstrap(job.token)
        else:
            env["STRATOS_TOKEN"] = job.token  # never on a command line
        try:
            code, out, err = await _run(argv, env)
        except FileNotFoundError:
            code, out, err = 127, "", "sbatch is not installed here"
        if code != 0:
            state.problem = f"Slurm refused a pilot job (sbatch: {err.strip() or code}); retrying"
            log.warning("job %s: %s", job.name, state.problem)
            return False
        slurm_id = out.strip().split(";")[0]
        if state.failed_starts < FAILED_STARTS_BEFORE_BACKOFF:
            state.problem = ""
        state.pilots[slurm_id] = "PENDING"
        self._save(state)
        log.info("job %s: pilot job %s submitted (%d cores, %d MB)", job.name, slurm_id, cpus, mem)
        return True

    async def _cancel_all(self, state: PilotPool) -> None:
        self.pools.pop(state.pool, None)
        ids = list(state.pilots)
        if ids:
            code, _, err = await _run(["scancel", *ids])
            if code != 0:
                log.warning("scancel %s failed: %s", " ".join(ids), err.strip())
            log.info("job key %d: cancelled pilot jobs %s", state.job_key, " ".join(ids))
        self._meta.set_meta(state.job_key, META_KEY, None)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _pool(self, pool: str) -> PilotPool | None:
        state = self.pools.get(pool)
        if state is None:
            key = PoolId(pool).job_key
            if key is None:
                return None
            state = self.pools[pool] = PilotPool(key, pool)
            saved = self._meta.meta(state.job_key, META_KEY)  # a restarted daemon's pilots
            if saved:
                state.pilots = dict.fromkeys(json.loads(saved), "")
        return state

    def _save(self, state: PilotPool) -> None:
        self._meta.set_meta(state.job_key, META_KEY, json.dumps(sorted(state.pilots)) if state.pilots else None)

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
