"""Events: facts the core is told about, from clients (requests) and backends.

Requests carry a ``request_id``; the core answers each with exactly one
:class:`~stratosd.core.actions.Reply`, which the runtime delivers only after the
journal has committed the changes the request made.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratos_executor.spec import TaskRecord
from stratosd.core.locality import HostBytes
from stratosd.core.model import CallMode, JobSpec, Offer
from stratosd.core.types import AttemptRef, PoolKind


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class HostAdded(Event):
    host_id: str
    pool: str
    cpus: float
    mem: float
    #: the machine's name (a pilot's host_id is its executor id); default: host_id.
    hostname: str = ""
    #: the attempts the host already runs: an executor registering again.
    holding: tuple[AttemptRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Tick(Event):
    """Time passed: tasks waiting for a data-local host may now take any."""

    now: float


@dataclass(frozen=True, slots=True)
class HostRemoved(Event):
    """A host left (a pilot exited or was lost): its running tasks are infrastructure failures."""

    host_id: str
    reason: str
    now: float


@dataclass(frozen=True, slots=True)
class OffersReceived(Event):
    """A cluster manager offers these resources to the job that owns ``pool``."""

    pool: str
    offers: tuple[Offer, ...]
    now: float


@dataclass(frozen=True, slots=True)
class CreateJobRequested(Event):
    request_id: int
    #: "" lets the core choose a unique name.
    name: str
    spec: JobSpec
    #: the backend; LOCAL is shared by all jobs, other kinds give the job a pool of its own (own_pool).
    pool: PoolKind
    now: float
    own_pool: bool = False
    token: str = ""


@dataclass(frozen=True, slots=True)
class SubmitRequested(Event):
    request_id: int
    name: str
    mode: CallMode
    cwd: str
    env: dict[str, str]
    commands: list[str]
    now: float
    #: per command, (size of its marked files, the bytes of them each host holds); None: no locality.
    locality: list[tuple[int, HostBytes]] | None = None
    #: what the daemon noticed preparing it (the namenode was unreachable, ...): kept on the job.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KillRequested(Event):
    request_id: int
    name: str
    #: None: every unended task of the job.
    task_ids: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class CancelRequested(Event):
    request_id: int
    name: str
    #: None: the whole job.
    call_id: int | None


@dataclass(frozen=True, slots=True)
class CloseStreamRequested(Event):
    request_id: int
    name: str


@dataclass(frozen=True, slots=True)
class CloseJobRequested(Event):
    request_id: int
    name: str


@dataclass(frozen=True, slots=True)
class RemoveJobRequested(Event):
    request_id: int
    name: str
    #: the job's key when the request was decided: another job given the name since is not removed.
    key: int | None = None


@dataclass(frozen=True, slots=True)
class TaskStarted(Event):
    job_key: int
    task_id: int
    attempt: int
    pid: int
    started: float


@dataclass(frozen=True, slots=True)
class TaskEnded(Event):
    job_key: int
    task_id: int
    attempt: int
    record: TaskRecord


@dataclass(frozen=True, slots=True)
class TaskLost(Event):
    """The task's executor or host failed: an infrastructure failure, retried up to max_retries."""

    job_key: int
    task_id: int
    attempt: int
    reason: str
    now: float
