"""Events: facts the core is told about, from clients (requests) and backends.

Requests carry a ``request_id``; the core answers each with exactly one
:class:`~stratosd.core.actions.Reply`, which the runtime delivers only after the
journal has committed the changes the request made.

Every event carries a ``stimulus_id`` (keyword-only, so events are still built
positionally): its producer names it, or :meth:`Runtime.emit` does, and the core
copies it onto every action it decides while handling the event.

Three base classes say what the core may rely on without probing attributes:
:class:`Timed` events tell the time (``now``), :class:`Request` events want a
reply (``request_id``), :class:`AttemptFact` events are about one task attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from stratos_executor.spec import TaskRecord
from stratosd.core.locality import HostBytes
from stratosd.core.model import CallMode, JobSpec, Offer
from stratosd.core.replies import JobCreated, JobRemoved, JobView, Killed, Retried, Submitted
from stratosd.core.types import AttemptRef, PoolId, PoolKind

#: the type of a request's answer.
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Event:
    #: what caused this event (an RPC, a backend report, a tick): copied onto the core's actions.
    #: Not compared: two events that say the same are equal whoever sent them.
    stimulus_id: str = field(default="", kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Timed(Event):
    """An event that tells the time: the core has no clock, its ``now`` is the latest one told."""

    if TYPE_CHECKING:  # each subclass declares the field, in its own positional place

        @property
        def now(self) -> float: ...


#: the ``request_id`` of a request not sent yet: :meth:`Runtime.request` gives it its own.
UNSENT = 0


@dataclass(frozen=True, slots=True)
class Request(Event, Generic[R]):
    """A client's request: the core answers it with exactly one Reply, an ``R`` or an error."""

    #: the runtime's id for it (0 until :meth:`Runtime.request` stamps it).
    request_id: int


@dataclass(frozen=True, slots=True)
class AttemptFact(Event):
    """A backend's report about one attempt of one task; stale when the attempt is not the current one."""

    job_key: int
    task_id: int
    attempt: int

    @property
    def ref(self) -> AttemptRef:
        return AttemptRef(self.job_key, self.task_id, self.attempt)


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
    #: a pilot registered with one job's token: in a shared pool it runs that job's tasks only (None: any job's).
    job_key: int | None = None


@dataclass(frozen=True, slots=True)
class Tick(Timed):
    """Time passed: tasks waiting for a data-local host may now take any; silent pilots are lost;
    after a restart, the running tasks whose pilot did not come back run again."""

    now: float


@dataclass(frozen=True, slots=True)
class ExecutorHeard(Timed):
    """A standing executor (a pilot) called the daemon: it is alive. Backends send it at most about
    once a second per executor; the core decides when one has been silent too long (on Tick)."""

    host_id: str
    now: float


@dataclass(frozen=True, slots=True)
class ExecutorsReachable(Timed):
    """The daemon serves executors again after a start (its listeners are open): pilots that kept
    their tasks through a restart have ``pilot_lost_after`` seconds from now to come back."""

    now: float


@dataclass(frozen=True, slots=True)
class DaemonStopping(Timed):
    """The daemon stops: nothing more is launched; what its backends stop reports DAEMON_STOP ends."""

    now: float


@dataclass(frozen=True, slots=True)
class HostRemoved(Timed):
    """A host left (a pilot exited or was lost): its running tasks are infrastructure failures."""

    host_id: str
    reason: str
    now: float


@dataclass(frozen=True, slots=True)
class PilotJobEnded(Timed):
    """The cluster job of a pilot that registered ended (Slurm no longer runs it): the pilot is gone,
    its running tasks are infrastructure failures (retried while retries are left)."""

    host_id: str
    #: what the cluster said ("its Slurm job 42 ended (COMPLETED)").
    detail: str
    now: float
    #: its pool when the backend knows it: a coarse executor that already left its pool (the core
    #: stopped it) is still forgotten there, so its agent may get a new one.
    pool: str = ""


@dataclass(frozen=True, slots=True)
class PilotsComing(Event):
    """The hosts a pilot of ``pool`` was asked of (Slurm's --nodelist) that has not registered yet
    (the whole set, replacing the last): tasks whose data is there wait for it past their
    locality_wait, as the backend bounds a queued pilot's wait by its node wait."""

    pool: str
    #: canonical host names (each Slurm node by its name, host name and address).
    hosts: frozenset[str]


@dataclass(frozen=True, slots=True)
class ExecutorRoomEnded(Timed):
    """A room the core did not give back ended (Mesos refused or lost that task): the executor is that
    much smaller. (Its first room ending is the executor's end: PilotJobEnded.)"""

    pool: str
    executor_id: str
    room_id: str
    now: float


@dataclass(frozen=True, slots=True)
class OffersReceived(Timed):
    """A cluster manager offers these resources to the job that owns ``pool``."""

    pool: str
    offers: tuple[Offer, ...]
    now: float


@dataclass(frozen=True, slots=True)
class CreateJobRequested(Request[JobCreated], Timed):
    #: "" lets the core choose a unique name.
    name: str
    spec: JobSpec
    #: the backend. LOCAL is shared by all jobs; Slurm and user-started pilots put the job in the
    #: shared pool its settings select (core/pools.py); own_pool gives it a pool of its own (Mesos).
    pool: PoolKind
    now: float
    own_pool: bool = False
    token: str = ""


@dataclass(frozen=True, slots=True)
class FollowPlan:
    """A glob_stream(..., follow=True): what to follow, and the files its first glob matched."""

    patterns: tuple[str, ...]
    template: str
    #: the HDFS mount ("" without HDFS).
    mount: str
    #: the file of each command of the submission, in order (they are seen: never made tasks again).
    files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubmitRequested(Request[Submitted], Timed):
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
    #: follow the patterns: files that appear later become tasks of this call too.
    follow: FollowPlan | None = None
    #: a later part of a submission too large for one step: its tasks join this call, which the
    #: first part made (None: the submission, or its first part, makes a new call).
    call_id: int | None = None


@dataclass(frozen=True, slots=True)
class KillRequested(Request[Killed]):
    name: str
    #: None: every unended task of the job.
    task_ids: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class RetryRequested(Request[Retried], Timed):
    """Run failed tasks of an ended job again, as new attempts of the same tasks."""

    name: str
    #: None: every failed task of the job.
    task_ids: tuple[int, ...] | None
    now: float


@dataclass(frozen=True, slots=True)
class CancelRequested(Request[Killed]):
    name: str
    #: None: the whole job.
    call_id: int | None


@dataclass(frozen=True, slots=True)
class StopFollowingRequested(Request[int]):
    """Stop following a job's patterns (``stop_following()``): answered with how many were stopped."""

    name: str
    #: None: every pattern the job follows.
    follow_id: int | None = None


@dataclass(frozen=True, slots=True)
class FilesFound(Timed):
    """A scan of a followed pattern found these files (the core makes tasks of those not seen yet)."""

    job_key: int
    follow_id: int
    #: the files as matched, and each one's command, in order.
    files: tuple[str, ...]
    commands: tuple[str, ...]
    #: the scan began after the follow was told to make its last one (FINAL_SCAN): it ends now.
    final: bool
    now: float


@dataclass(frozen=True, slots=True)
class CloseStreamRequested(Request[JobView]):
    name: str


@dataclass(frozen=True, slots=True)
class CloseJobRequested(Request[JobView]):
    name: str


@dataclass(frozen=True, slots=True)
class RemoveJobRequested(Request[JobRemoved]):
    name: str
    #: the job's key when the request was decided: another job given the name since is not removed.
    key: int | None = None


@dataclass(frozen=True, slots=True)
class TaskStarted(AttemptFact):
    pid: int
    started: float


@dataclass(frozen=True, slots=True)
class TaskEnded(AttemptFact):
    record: TaskRecord


@dataclass(frozen=True, slots=True)
class TaskRunningReported(AttemptFact):
    """A cluster manager says this attempt runs (a Mesos TASK_RUNNING update).

    The core kills it when the job no longer wants it (an attempt reported lost and run again,
    a job gone); otherwise this changes nothing.
    """

    pool: PoolId
    #: where the cluster says it runs (a Mesos agent id), for the kill; "" when not said.
    where: str = ""


@dataclass(frozen=True, slots=True)
class TaskLost(AttemptFact, Timed):
    """The task's executor or host failed: an infrastructure failure, retried up to max_retries."""

    reason: str
    now: float
    #: the host where the executor itself could not be started (not installed there, say): the
    #: job sends no more tasks there. "" when the failure says nothing about the host's fitness.
    unusable_host: str = ""
    #: the cluster's id of that host (a Mesos agent id): what the job avoids, since several agents
    #: may share one host name. "" when the backend has none (the host name is used).
    unusable_agent: str = ""


@dataclass(frozen=True, slots=True)
class PilotStartFailed(Timed):
    """A pilot job for ``pool`` ended before its executor reached the daemon (it never registered)."""

    pool: str
    #: the node it ran on ("" when the cluster manager did not say).
    node: str
    #: what went wrong, in the cluster's or the pilot's words (its log's last lines).
    detail: str
    now: float
    #: the executor's id when the backend named it (a Mesos coarse executor), else "".
    executor_id: str = ""
    #: the agent where a coarse executor ended before it ever reached the daemon: the job avoids it
    #: (unless every agent that offers is avoided: then it is tried again).
    unusable_agent: str = ""
