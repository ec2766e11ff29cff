"""Actions: what the core decides. Journal actions are committed before any other runs.

Each carries the ``stimulus_id`` of the event the core was handling when it decided it
(keyword-only), so a log line can say which report or request caused a launch or a kill.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stratos_executor.spec import TaskRecord, TaskSpec
from stratosd.core.model import Call, Follow, Job, JobSpec, Offer, Task
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolId


@dataclass(frozen=True, slots=True)
class Action:
    #: the event that caused it (see Event.stimulus_id); not compared, like the event's.
    stimulus_id: str = field(default="", kw_only=True, compare=False)


# -- journal: applied in one transaction, before the effects below ---------------------


@dataclass(frozen=True, slots=True)
class SaveJob(Action):
    job: Job


@dataclass(frozen=True, slots=True)
class SaveCall(Action):
    job_key: int
    call: Call


@dataclass(frozen=True, slots=True)
class SaveTasks(Action):
    job_key: int
    tasks: tuple[Task, ...]


@dataclass(frozen=True, slots=True)
class SaveOutcome(Action):
    """A task attempt's record: stdout (a result when ``seq`` is set later), stderr tail, usage."""

    job_key: int
    task_id: int
    record: TaskRecord
    keep_stdout: bool


@dataclass(frozen=True, slots=True)
class PublishResults(Action):
    """Give these tasks' stored stdout their sequence numbers: they become results."""

    job_key: int
    seqs: tuple[tuple[int, int], ...]  # (task_id, seq)


@dataclass(frozen=True, slots=True)
class SaveFollow(Action):
    """A followed pattern's state, and the files newly made tasks: (task id, file), in the same
    transaction as those tasks, so a file is never made a task twice."""

    job_key: int
    follow: Follow
    files: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteJob(Action):
    job_key: int
    name: str


JOURNAL_ACTIONS = (SaveJob, SaveCall, SaveTasks, SaveOutcome, PublishResults, SaveFollow, DeleteJob)


# -- effects ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaunchTask(Action):
    job_key: int
    task_id: int
    attempt: int
    host_id: str
    pool: PoolId
    cpus: float
    #: everything the executor needs to run the attempt (command, cwd, environment, sandbox,
    #: output routing, monitor, limits), built by the core (core/launch.py).
    spec: TaskSpec = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class KillTask(Action):
    job_key: int
    task_id: int
    attempt: int
    pool: PoolId
    #: where the attempt runs when the backend may not know it (a Mesos agent id); "" when not said.
    host_hint: str = ""


@dataclass(frozen=True, slots=True)
class AcceptOffer(Action):
    """Launch these tasks on one offer (the offer's unused resources go back)."""

    pool: PoolId
    offer: Offer
    launches: tuple[LaunchTask, ...]


@dataclass(frozen=True, slots=True)
class LaunchExecutor(Action):
    """Coarse-grained Mesos: start one executor of the job on this offer's agent, holding these
    resources; it registers with the hub (as ``executor_id``) and runs the tasks the core places on it."""

    pool: PoolId
    offer: Offer
    executor_id: str
    cpus: float
    mem: float
    disk: float


@dataclass(frozen=True, slots=True)
class GrowExecutor(Action):
    """Coarse-grained Mesos: add this offer's resources to a running executor of the job on the
    same agent, as one more Mesos task (``room_id``) of that executor."""

    pool: PoolId
    offer: Offer
    executor_id: str
    room_id: str
    cpus: float
    mem: float
    disk: float


@dataclass(frozen=True, slots=True)
class ShrinkExecutor(Action):
    """Coarse-grained Mesos: give back a room the executor no longer needs (kill its Mesos task)."""

    pool: PoolId
    executor_id: str
    room_id: str


@dataclass(frozen=True, slots=True)
class DeclineOffers(Action):
    pool: PoolId
    offer_ids: tuple[str, ...]
    #: how long the cluster manager should not offer these resources again.
    refuse_seconds: float


@dataclass(frozen=True, slots=True)
class PoolGrant:
    """What a cluster backend needs to ask for hosts for one job's pool, as values (never the live job):
    the job's name and token (its executors present them), and its settings (master, role, sizes)."""

    job_name: str
    token: str
    spec: JobSpec
    #: the job's key (a shared pool's backend reports its pilots in each of its jobs' status).
    job_key: int = 0

    @classmethod
    def of(cls, job: Job) -> PoolGrant:
        return cls(job.name, job.token, job.spec, job.key)


@dataclass(frozen=True, slots=True)
class ReviveOffers(Action):
    """The pool has work again: open it and ask for offers (clears earlier refusals)."""

    pool: PoolId
    #: the job's grant, for a backend that opens the pool now; not compared (it follows from the pool).
    grant: PoolGrant | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class AdoptAttempts(Action):
    """After a restart: these attempts run in the pool's cluster (the journal says so); the backend
    that opens the pool takes them as its own (a Mesos framework reconciles them). Sent before the
    pool's ReviveOffers."""

    pool: PoolId
    attempts: tuple[AttemptRef, ...]


@dataclass(frozen=True, slots=True)
class PoolDemand(Action):
    """How many of the pool's tasks wait and run now (a shared pool: of all its jobs together): a
    backend that supplies hosts (Slurm pilots) sizes its supply from it. Sent at the end of a step
    when the numbers changed."""

    pool: PoolId
    pending: int
    running: int
    #: the most pilots the pool may have: the largest max_pilots of its jobs with unended tasks
    #: (0: none said; the backend keeps its own).
    max_pilots: int = 0
    #: where the pending tasks' data is (Slurm pools): (canonical host, pending tasks whose data it
    #: holds best), largest share first, only hosts where no pilot of the pool has room for one of
    #: them; new pilots are asked of these nodes first (placement.wanted_hosts).
    hosts: tuple[tuple[str, int], ...] = ()
    #: the longest locality_wait of the jobs with such tasks: how long they wait for such a host
    #: (the backend waits at least this long for a node it asked for before it takes any).
    locality_wait: float = 0.0


@dataclass(frozen=True, slots=True)
class SuppressOffers(Action):
    """The pool has nothing pending: stop sending offers until ReviveOffers."""

    pool: PoolId


@dataclass(frozen=True, slots=True)
class ReleasePool(Action):
    """The pool's job has nothing left to run: give the cluster its resources back.

    ``now`` is True for an explicit close; otherwise the backend may wait a while for more work.
    """

    pool: PoolId
    now: bool = False


@dataclass(frozen=True, slots=True)
class StopExecutor(Action):
    """Tell a standing executor (a pilot) to stop at its next call; the core has already removed its host."""

    pool: PoolId
    host_id: str
    cause: ExecutorStopCause


@dataclass(frozen=True, slots=True)
class Reply(Action):
    """The answer to a request: a value, or the typed error to raise to the client."""

    request_id: int
    value: object = None
    error: Exception | None = None
