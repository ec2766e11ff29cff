"""Pilots: executors started outside the daemon (`stratos-executor pilot`) that pull tasks.

A pilot registers a host and its resources for one job (with the job's token), or for a
shared pool (with the pool's credential: it then runs any of the pool's jobs' tasks, each
assignment and report naming its job); to the core it is a host like the local machine or
a Mesos agent. Orders (tasks to start, attempts to kill) wait in
the pilot's queue until its next Fetch. Each call is reported to the core as ExecutorHeard
(at most a few a second per pilot); the core decides when a silent pilot is lost and says
so with StopExecutor. The Slurm backend builds on this by submitting pilots.

Translates: Register -> HostAdded (with the attempts it holds); each call -> ExecutorHeard
(coalesced); a launch for a pilot that is gone -> TaskLost.
Carries out: LaunchTask, KillTask (queued for the pilot's next Fetch), StopExecutor.
Decides: nothing about a task's fate (nor when a pilot is lost: the core's Tick does).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from stratos_executor.spec import TaskSpec
from stratos_wire import stratos_pb2 as pb
from stratosd.backends.base import Emit
from stratosd.core.actions import PoolGrant
from stratosd.core.events import Event, ExecutorHeard, HostAdded, TaskLost
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolKind

KIND = PoolKind.PILOTS


@dataclass
class Pilot:
    executor_id: str
    #: the job it registered for; None: a pool pilot (any job of ``pool``).
    job_key: int | None
    host: str
    pool: str = ""
    #: when the core was last told it was heard from (time.time()): ExecutorHeard is coalesced.
    told: float = 0.0
    tasks: list[pb.TaskAssignment] = field(default_factory=list)
    kills: list[pb.AttemptRef] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: the core told it to stop (StopExecutor): its next fetch says so and forgets it.
    stop: bool = False


def assignment(spec: TaskSpec, job_key: int = 0) -> pb.TaskAssignment:
    return pb.TaskAssignment(
        job_key=job_key, job_id=spec.job_id,
        task_id=spec.task_id, attempt=spec.attempt, command=spec.command, cwd=spec.cwd, env=dict(spec.env),
        threads=spec.threads, output=spec.output, stdout_file=spec.stdout_file or "",
        stderr_file=spec.stderr_file or "", monitor=spec.monitor or "", relauncher=spec.relauncher or "",
        update_interval=spec.update_interval, timeout=spec.timeout or 0.0,
        mem_limit=spec.mem_limit or 0.0, disk_limit=spec.disk_limit or 0.0,
    )


class PilotRetired(Exception):
    """A pilot that may not register again (its cluster job is being cancelled); says why."""


class PilotsBackend:
    pool = KIND

    def __init__(self, emit: Emit, *, lost_after: float = 30.0, fetch_wait: float = 5.0) -> None:
        self._emit = emit
        #: told to pilots when they register (the core, not this adapter, decides when one is lost:
        #: it is given the same setting).
        self.lost_after = lost_after
        #: a pilot's calls reach the core as ExecutorHeard at most this often.
        self.heard_every = min(1.0, lost_after / 4)
        self.fetch_wait = fetch_wait
        self.pilots: dict[str, Pilot] = {}
        #: (job key, task id, attempt) -> the pilot running it.
        self._placed: dict[tuple[int, int, int], str] = {}
        #: every executor id that registered since the daemon started (a pilot job that ended
        #: without one never reached the daemon).
        self.ever_registered: set[str] = set()
        #: executor id -> why it may not register again (see :meth:`retire`).
        self.retired: dict[str, str] = {}

    @property
    def emit(self) -> Emit:
        """How this backend (and the Slurm one built on it) reports to the core."""
        return self._emit

    def initial_events(self) -> list[Event]:
        return []

    # -- pilots ------------------------------------------------------------------------------

    def register(self, job_key: int, pool: str, executor_id: str, host: str, cpus: float, mem: float,
                 holding: tuple[tuple[int, int], ...] = (), *, shared: bool = False) -> None:
        """A pilot of one job (re)registers; ``holding``: (task id, attempt) it still runs or has yet to
        report. ``shared``: the job's pool is shared, so the pilot's host takes this job's tasks only."""
        self._register(Pilot(executor_id, job_key, host, pool), cpus, mem,
                       tuple(AttemptRef(job_key, task_id, attempt) for task_id, attempt in holding),
                       job_key if shared else None)

    def register_pool(self, pool: str, executor_id: str, host: str, cpus: float, mem: float,
                      holding: tuple[AttemptRef, ...] = ()) -> None:
        """A pool pilot (re)registers: it runs any of the pool's jobs' tasks; ``holding`` names each one's job."""
        self._register(Pilot(executor_id, None, host, pool), cpus, mem, holding, None)

    def retire(self, executor_id: str, why: str) -> None:
        """The pilot's cluster job is being cancelled: it is forgotten, and refused should it call
        again meanwhile (woken by the cancel's SIGCONT, it would take tasks it cannot finish)."""
        self.retired[executor_id] = why
        self._drop(executor_id)

    def _register(self, new: Pilot, cpus: float, mem: float, holding: tuple[AttemptRef, ...],
                  only_job: int | None) -> None:
        """Raises PilotRetired for a pilot whose cluster job is being cancelled."""
        if new.executor_id in self.retired:
            raise PilotRetired(f"executor {new.executor_id!r} may not register again: {self.retired[new.executor_id]}")
        pilot = self.pilots.get(new.executor_id)
        if pilot is not None:
            self.heard(pilot)
            return
        pilot = self.pilots[new.executor_id] = new
        self.ever_registered.add(new.executor_id)
        for ref in holding:  # kills of attempts the core no longer wants find their pilot
            self._placed[(ref.job_key, ref.task_id, ref.attempt)] = new.executor_id
        self._emit(HostAdded(new.executor_id, new.pool, cpus, mem, new.host, holding, job_key=only_job))
        self.heard(pilot)

    def heard(self, pilot: Pilot) -> None:
        """The pilot called: tell the core it lives (coalesced to one event per ``heard_every``)."""
        now = time.time()
        if now - pilot.told >= self.heard_every:
            pilot.told = now
            self._emit(ExecutorHeard(pilot.executor_id, now))

    def pilot(self, executor_id: str) -> Pilot | None:
        return self.pilots.get(executor_id)

    async def fetch(self, pilot: Pilot, wait: float) -> tuple[list[pb.TaskAssignment], list[pb.AttemptRef], bool]:
        """The pilot's orders: tasks to start, attempts to kill, and whether to stop (then it is forgotten)."""
        self.heard(pilot)
        if not pilot.tasks and not pilot.kills and not pilot.stop:
            pilot.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pilot.wake.wait(), min(max(wait, 0.0), self.fetch_wait))
        self.heard(pilot)
        tasks, kills = pilot.tasks, pilot.kills
        pilot.tasks, pilot.kills = [], []
        if pilot.stop and self.pilots.get(pilot.executor_id) is pilot:
            self._drop(pilot.executor_id)
        return tasks, kills, pilot.stop

    def stop_executor(self, host_id: str, cause: ExecutorStopCause) -> None:
        """The core removed this pilot's host. A silent one is forgotten (its next call must register
        again); any other is told to stop by its next fetch."""
        pilot = self.pilots.get(host_id)
        if pilot is None:
            return
        if cause is ExecutorStopCause.SILENT:
            self._drop(host_id)
            pilot.wake.set()  # a fetch still waiting returns (empty); the call after it is refused
            return
        pilot.stop = True
        pilot.wake.set()

    def drop(self, executor_id: str) -> bool:
        """Forget a pilot whose end the caller reports to the core (a Slurm job that ended)."""
        return self._drop(executor_id) is not None

    def _drop(self, executor_id: str) -> Pilot | None:
        pilot = self.pilots.pop(executor_id, None)
        for key in [k for k, v in self._placed.items() if v == executor_id]:
            del self._placed[key]
        return pilot

    def live_attempts(self) -> dict[AttemptRef, str]:
        return {AttemptRef(*key): host for key, host in self._placed.items()}

    def placed(self, job_key: int, task_id: int, attempt: int) -> bool:
        """Whether a pilot runs (or is to start) this attempt."""
        return (job_key, task_id, attempt) in self._placed

    def attempt_ended(self, job_key: int, task_id: int, attempt: int) -> None:
        self._placed.pop((job_key, task_id, attempt), None)

    # -- the Backend interface ------------------------------------------------------------------

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        pilot = self.pilots.get(host_id)
        if pilot is None:
            self._emit(TaskLost(job_key, spec.task_id, spec.attempt, f"pilot {host_id} is gone", time.time()))
            return
        self._placed[(job_key, spec.task_id, spec.attempt)] = host_id
        pilot.tasks.append(assignment(spec, job_key))
        pilot.wake.set()

    def kill(self, job_key: int, task_id: int, attempt: int, host_hint: str = "") -> None:
        host_id = self._placed.get((job_key, task_id, attempt))
        pilot = self.pilots.get(host_id) if host_id else None
        if pilot is not None:
            pilot.kills.append(pb.AttemptRef(task_id=task_id, attempt=attempt, job_key=job_key))
            pilot.wake.set()

    # Plain pilots are started by hand: there is nothing to ask a cluster for, or to give back.
    def revive(self, pool: str, grant: PoolGrant | None = None) -> None:
        pass

    def release(self, pool: str, now: bool = False) -> None:
        pass

    def jobs_pilots(self, job_key: int) -> list[Pilot]:
        return [p for p in self.pilots.values() if p.job_key == job_key]

    def pools_pilots(self, pool: str) -> list[Pilot]:
        return [p for p in self.pilots.values() if p.pool == pool]

    async def close(self) -> None:
        """Pilots keep running across a daemon restart: they retry until it is back."""
