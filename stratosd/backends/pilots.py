"""Pilots: executors started outside the daemon (`stratos-executor pilot`) that pull tasks.

A pilot registers a host and its resources for one job; to the core it is a host like
the local machine or a Mesos agent. Orders (tasks to start, attempts to kill) wait in
the pilot's queue until its next Fetch. A pilot that stops fetching is lost: the core
runs its tasks again elsewhere. The Slurm backend builds on this by submitting pilots.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from stratos._proto import stratos_pb2 as pb
from stratos_executor.spec import TaskSpec
from stratosd.backends.base import Emit
from stratosd.core.events import Event, HostAdded, HostRemoved, TaskLost

KIND = "pilots"


@dataclass
class Pilot:
    executor_id: str
    job_key: int
    host: str
    last_seen: float
    tasks: list[pb.TaskAssignment] = field(default_factory=list)
    kills: list[pb.AttemptRef] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def assignment(spec: TaskSpec) -> pb.TaskAssignment:
    return pb.TaskAssignment(
        task_id=spec.task_id, attempt=spec.attempt, command=spec.command, cwd=spec.cwd, env=dict(spec.env),
        threads=spec.threads, output=spec.output, stdout_file=spec.stdout_file or "",
        stderr_file=spec.stderr_file or "", monitor=spec.monitor or "", relauncher=spec.relauncher or "",
        update_interval=spec.update_interval, timeout=spec.timeout or 0.0,
    )


class PilotsBackend:
    pool = KIND

    def __init__(self, emit: Emit, *, lost_after: float = 30.0, fetch_wait: float = 5.0) -> None:
        self._emit = emit
        self.lost_after = lost_after
        self.fetch_wait = fetch_wait
        self.pilots: dict[str, Pilot] = {}
        #: (job key, task id, attempt) -> the pilot running it.
        self._placed: dict[tuple[int, int, int], str] = {}
        self._watcher: asyncio.Task[None] | None = None

    def initial_events(self) -> list[Event]:
        return []

    def start(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    # -- pilots ------------------------------------------------------------------------------

    def register(self, job_key: int, pool: str, executor_id: str, host: str, cpus: float, mem: float) -> None:
        pilot = self.pilots.get(executor_id)
        if pilot is not None:
            pilot.last_seen = time.monotonic()
            return
        self.pilots[executor_id] = Pilot(executor_id, job_key, host, time.monotonic())
        self._emit(HostAdded(executor_id, pool, cpus, mem, host))

    def pilot(self, executor_id: str) -> Pilot | None:
        return self.pilots.get(executor_id)

    async def fetch(self, pilot: Pilot, wait: float) -> tuple[list[pb.TaskAssignment], list[pb.AttemptRef]]:
        pilot.last_seen = time.monotonic()
        if not pilot.tasks and not pilot.kills:
            pilot.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pilot.wake.wait(), min(max(wait, 0.0), self.fetch_wait))
        pilot.last_seen = time.monotonic()
        tasks, kills = pilot.tasks, pilot.kills
        pilot.tasks, pilot.kills = [], []
        return tasks, kills

    def forget(self, executor_id: str, reason: str) -> None:
        pilot = self.pilots.pop(executor_id, None)
        if pilot is None:
            return
        for key in [k for k, v in self._placed.items() if v == executor_id]:
            del self._placed[key]
        self._emit(HostRemoved(executor_id, reason, time.time()))

    def live_attempts(self) -> dict[tuple[int, int, int], str]:
        return dict(self._placed)

    def attempt_ended(self, job_key: int, task_id: int, attempt: int) -> None:
        self._placed.pop((job_key, task_id, attempt), None)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.lost_after / 4))
            now = time.monotonic()
            for pilot in list(self.pilots.values()):
                if now - pilot.last_seen > self.lost_after:
                    self.forget(pilot.executor_id, f"no word from it for {self.lost_after:g} s")

    # -- the Backend interface ------------------------------------------------------------------

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        pilot = self.pilots.get(host_id)
        if pilot is None:
            self._emit(TaskLost(job_key, spec.task_id, spec.attempt, f"pilot {host_id} is gone", time.time()))
            return
        self._placed[(job_key, spec.task_id, spec.attempt)] = host_id
        pilot.tasks.append(assignment(spec))
        pilot.wake.set()

    def kill(self, job_key: int, task_id: int, attempt: int) -> None:
        host_id = self._placed.get((job_key, task_id, attempt))
        pilot = self.pilots.get(host_id) if host_id else None
        if pilot is not None:
            pilot.kills.append(pb.AttemptRef(task_id=task_id, attempt=attempt))
            pilot.wake.set()

    async def close(self) -> None:
        # Pilots keep running across a daemon restart: they retry until it is back.
        if self._watcher is not None:
            self._watcher.cancel()
