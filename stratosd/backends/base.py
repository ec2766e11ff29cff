"""The narrow interface every backend implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from stratos_executor.spec import TaskSpec
from stratosd.core.events import Event

#: how a backend reports facts: the runtime feeds them to the core.
Emit = Callable[[Event], None]


class Backend(Protocol):
    #: the pool of hosts this backend runs tasks on (the core keys placement by it).
    pool: str

    def initial_events(self) -> list[Event]:
        """Hosts known at start (HostAdded), fed to the core before any job runs."""
        ...

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        """Start one task attempt; report TaskStarted, then TaskEnded or TaskLost."""
        ...

    def kill(self, job_key: int, task_id: int, attempt: int) -> None:
        """Stop one task attempt; it still reports TaskEnded."""
        ...

    async def close(self) -> None:
        """Stop every task this backend runs (daemon shutdown)."""
        ...
