"""The embedded default backend: tasks run on this host under the executor's supervision.

Translates: this host -> HostAdded; a supervised process -> TaskStarted, TaskEnded (its
record, DAEMON_STOP when the daemon's shutdown stopped it), TaskLost (the executor failed).
Carries out: LaunchTask, KillTask.
Decides: nothing about a task's fate.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

from stratos_executor.spec import StopReason, TaskRecord, TaskSpec
from stratos_executor.supervisor import TaskRunner
from stratosd.backends.base import Emit
from stratosd.core.events import Event, HostAdded, TaskEnded, TaskLost, TaskStarted
from stratosd.core.types import AttemptRef, PoolKind

POOL = PoolKind.LOCAL
#: why the local backend stops its tasks when the daemon stops (not a task outcome).
DAEMON_STOP = StopReason.DAEMON_STOP


def host_memory_mb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 20)


class LocalBackend:
    """One host (this machine) with configurable advertised cores and memory, like a Mesos agent."""

    pool = POOL

    def __init__(self, emit: Emit, *, cpus: float | None = None, mem: float | None = None) -> None:
        self._emit = emit
        self.cpus = float(cpus or os.cpu_count() or 1)
        self.mem = float(mem or host_memory_mb())
        self.hostname = socket.gethostname()
        self._runners: dict[tuple[int, int, int], TaskRunner] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def initial_events(self) -> list[Event]:
        return [HostAdded(self.hostname, POOL, self.cpus, self.mem)]

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        key = (job_key, spec.task_id, spec.attempt)

        def started(pid: int, when: float) -> None:
            self._emit(TaskStarted(job_key, spec.task_id, spec.attempt, pid, when))

        runner = TaskRunner(spec, on_started=started)
        self._runners[key] = runner
        task = asyncio.get_running_loop().create_task(self._run(job_key, spec, runner))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job_key: int, spec: TaskSpec, runner: TaskRunner) -> None:
        try:
            record: TaskRecord = await runner.run()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the supervisor itself failed: an infrastructure failure
            self._emit(TaskLost(job_key, spec.task_id, spec.attempt, f"executor error: {err!r}", time.time()))
            return
        finally:
            self._runners.pop((job_key, spec.task_id, spec.attempt), None)
        self._emit(TaskEnded(job_key, spec.task_id, spec.attempt, record))

    def live_attempts(self) -> dict[AttemptRef, str]:
        """The attempts that run now, and their host id."""
        return {AttemptRef(*key): self.hostname for key in self._runners}

    def kill(self, job_key: int, task_id: int, attempt: int, host_hint: str = "") -> None:
        runner = self._runners.get((job_key, task_id, attempt))
        if runner is not None:
            runner.kill("killed")

    async def close(self) -> None:
        for runner in list(self._runners.values()):
            runner.kill(DAEMON_STOP)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
