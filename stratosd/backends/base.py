"""What backends can do, as small typed Protocols, and the table the runtime dispatches by.

Every backend is a :class:`Backend`. Beyond that each implements only what its cluster has:
hosts that stand (:class:`StandingHosts`: the local machine, pilots) or resources offered
for a while (:class:`Offers`: Mesos); pools opened per job (:class:`ClusterPools`); and a few
narrow extras. :class:`Capabilities` sorts a backend into these once, when it is added, so
nothing probes attributes at run time and no backend carries stubs that raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from stratos_executor.spec import TaskSpec
from stratosd.core.actions import PoolGrant
from stratosd.core.events import Event
from stratosd.core.model import Offer
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolKind

#: how a backend reports facts: the runtime feeds them to the core.
Emit = Callable[[Event], None]


class Backend(Protocol):
    """What every backend does."""

    #: the kind of pool this backend runs tasks on (the core keys placement by it).
    pool: PoolKind

    def initial_events(self) -> list[Event]:
        """Hosts known at start (HostAdded), fed to the core before any job runs."""
        ...

    def kill(self, job_key: int, task_id: int, attempt: int, host_hint: str = "") -> None:
        """Stop one task attempt; it still reports TaskEnded.

        ``host_hint``: where the core was told it runs (a Mesos agent id), for an attempt the
        backend may no longer track; "" when not said.
        """
        ...

    async def close(self) -> None:
        """Daemon shutdown: stop what must stop (local tasks); clusters keep theirs running."""
        ...


@runtime_checkable
class StandingHosts(Backend, Protocol):
    """Hosts that stand (the local machine, pilots): the core launches tasks on a host id."""

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        """Start one task attempt; report TaskStarted, then TaskEnded or TaskLost."""
        ...


@runtime_checkable
class AttemptTracker(Protocol):
    """A backend that knows which attempts it runs on which host (a journal rebuild keeps them in place)."""

    def live_attempts(self) -> dict[AttemptRef, str]:
        """The attempts it runs now -> their host id."""
        ...


@runtime_checkable
class ClusterPools(Backend, Protocol):
    """Each job gets a pool of its own from a cluster: opened while it has work, given back when done."""

    def revive(self, pool: str, grant: PoolGrant | None = None) -> None:
        """The pool has work: open it if needed (for ``grant``'s job) and get hosts or offers."""
        ...

    def release(self, pool: str, now: bool = False) -> None:
        """The pool's job is done (now: closed): hand its resources back."""
        ...


@runtime_checkable
class Offers(ClusterPools, Protocol):
    """Resources come as offers (Mesos): the core accepts or declines each."""

    def accept(self, pool: str, offer: Offer, launches: list[tuple[int, TaskSpec, float]]) -> None:
        """Launch (job key, spec, cpus) tasks on one offer."""
        ...

    def launch_executor(self, pool: str, offer: Offer, executor_id: str, cpus: float, mem: float,
                        disk: float) -> None:
        """Start one long-lived executor (coarse mode) on the offer's agent, holding these resources."""
        ...

    def grow_executor(self, pool: str, offer: Offer, executor_id: str, room_id: str, cpus: float, mem: float,
                      disk: float) -> None:
        """Add the offer's resources to a running executor on its agent, as its task ``room_id``."""
        ...

    def shrink_executor(self, pool: str, executor_id: str, room_id: str) -> None:
        """Give back one room of an executor (its Mesos task ends)."""
        ...

    def decline(self, pool: str, offer_ids: tuple[str, ...], refuse_seconds: float) -> None: ...

    def suppress(self, pool: str) -> None:
        """The pool has nothing pending: stop offers until revive()."""
        ...


@runtime_checkable
class ExecutorStopper(Protocol):
    """A backend whose standing executors (pilots) the core can tell to stop."""

    def stop_executor(self, host_id: str, cause: ExecutorStopCause) -> None:
        """The core removed this executor's host: tell it to stop (or forget it) at its next call."""
        ...


@runtime_checkable
class PoolSupplier(Protocol):
    """A backend that supplies a pool's hosts itself (Slurm submits pilot jobs): it sizes the
    supply from the core's PoolDemand."""

    def demand(self, pool: str, pending: int, running: int, max_pilots: int = 0,
               hosts: tuple[tuple[str, int], ...] = (), locality_wait: float = 0.0) -> None:
        """The pool's tasks now waiting and running, the most pilots it may have (0: not said), and
        where the pending tasks' data is (canonical host, tasks; largest first) with how long they wait for it."""
        ...


@runtime_checkable
class AttemptAdopter(Protocol):
    """A backend whose cluster keeps tasks running across a daemon restart (Mesos): it takes the
    journal's running attempts as its own when it opens their pool (AdoptAttempts)."""

    def adopt(self, pool: str, attempts: tuple[AttemptRef, ...]) -> None: ...


@runtime_checkable
class MasterProbe(Protocol):
    """A backend that can check a job's master before the job is created."""

    async def probe(self, master: str) -> None:
        """Raise a typed StratosError when ``master`` cannot serve a job."""
        ...


@runtime_checkable
class PilotReport(Protocol):
    """A backend that submits pilot jobs reports on them in a job's status."""

    def pilot_counts(self, job_key: int) -> tuple[int, int]:
        """(queued in the cluster, running) pilot jobs of a job."""
        ...

    def job_notes(self, job_key: int) -> list[str]:
        """Why a job's pilots are not coming, if that is so."""
        ...


@dataclass
class Capabilities:
    """The backends by pool kind, sorted once by what each can do (see the Protocols above)."""

    backends: dict[PoolKind, Backend] = field(default_factory=dict)
    standing: dict[PoolKind, StandingHosts] = field(default_factory=dict)
    trackers: dict[PoolKind, AttemptTracker] = field(default_factory=dict)
    clusters: dict[PoolKind, ClusterPools] = field(default_factory=dict)
    offers: dict[PoolKind, Offers] = field(default_factory=dict)
    stoppers: dict[PoolKind, ExecutorStopper] = field(default_factory=dict)
    suppliers: dict[PoolKind, PoolSupplier] = field(default_factory=dict)
    adopters: dict[PoolKind, AttemptAdopter] = field(default_factory=dict)
    probes: dict[PoolKind, MasterProbe] = field(default_factory=dict)
    reports: dict[PoolKind, PilotReport] = field(default_factory=dict)

    def add(self, backend: Backend) -> None:
        kind = backend.pool
        self.backends[kind] = backend
        if isinstance(backend, StandingHosts):
            self.standing[kind] = backend
        if isinstance(backend, AttemptTracker):
            self.trackers[kind] = backend
        if isinstance(backend, ClusterPools):
            self.clusters[kind] = backend
        if isinstance(backend, Offers):
            self.offers[kind] = backend
        if isinstance(backend, ExecutorStopper):
            self.stoppers[kind] = backend
        if isinstance(backend, PoolSupplier):
            self.suppliers[kind] = backend
        if isinstance(backend, AttemptAdopter):
            self.adopters[kind] = backend
        if isinstance(backend, MasterProbe):
            self.probes[kind] = backend
        if isinstance(backend, PilotReport):
            self.reports[kind] = backend
