"""The narrow interface every backend implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from stratos_executor.spec import TaskSpec
from stratosd.core.actions import PoolGrant
from stratosd.core.events import Event
from stratosd.core.model import Offer
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolKind

#: how a backend reports facts: the runtime feeds them to the core.
Emit = Callable[[Event], None]


class Backend(Protocol):
    """A backend with standing hosts (the local machine, pilots)."""

    #: the pool of hosts this backend runs tasks on (the core keys placement by it).
    pool: PoolKind

    def initial_events(self) -> list[Event]:
        """Hosts known at start (HostAdded), fed to the core before any job runs."""
        ...

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        """Start one task attempt; report TaskStarted, then TaskEnded or TaskLost."""
        ...

    def kill(self, job_key: int, task_id: int, attempt: int, host_hint: str = "") -> None:
        """Stop one task attempt; it still reports TaskEnded.

        ``host_hint``: where the core was told it runs (a Mesos agent id), for an attempt the
        backend may no longer track; "" when not said.
        """
        ...

    async def close(self) -> None:
        """Stop every task this backend runs (daemon shutdown)."""
        ...


class OfferBackend(Backend, Protocol):
    """A backend whose resources come as offers (Mesos): the core accepts or declines them."""

    def accept(self, pool: str, offer: Offer, launches: list[tuple[int, TaskSpec, float]]) -> None:
        """Launch (job key, spec, cpus) tasks on one offer."""
        ...

    def decline(self, pool: str, offer_ids: tuple[str, ...], refuse_seconds: float) -> None: ...

    def revive(self, pool: str, grant: PoolGrant | None = None) -> None:
        """The pool has work: subscribe if needed (for ``grant``'s job) and ask for offers."""
        ...

    def suppress(self, pool: str) -> None:
        """The pool has nothing pending: stop offers until revive()."""
        ...

    def release(self, pool: str, now: bool = False) -> None:
        """The pool's job is done (now: closed): hand its resources back."""
        ...


class ExecutorStopper(Backend, Protocol):
    """A backend whose standing executors (pilots) the core can tell to stop."""

    def stop_executor(self, host_id: str, cause: ExecutorStopCause) -> None:
        """The core removed this executor's host: tell it to stop at its next call."""
        ...


@runtime_checkable
class PoolSupplier(Protocol):
    """A backend that supplies a pool's hosts itself (Slurm submits pilot jobs): it sizes the
    supply from the core's PoolDemand."""

    def demand(self, pool: str, pending: int, running: int) -> None:
        """The pool's tasks now waiting and running."""
        ...


@runtime_checkable
class AttemptAdopter(Protocol):
    """A backend whose cluster keeps tasks running across a daemon restart (Mesos): it takes the
    journal's running attempts as its own when it opens their pool (AdoptAttempts)."""

    def adopt(self, pool: str, attempts: tuple[AttemptRef, ...]) -> None: ...
