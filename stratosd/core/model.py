"""The core's records: jobs, submission calls, tasks and hosts.

Plain mutable objects with ``__slots__``: a queued task must cost well under 1 KB.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from stratos_wire.settings import MesosMode, Output, default
from stratosd.core.locality import HostBytes, canonical_host, placed_figures
from stratosd.core.types import FollowState, Hold, PoolId, PoolKind, TaskEndReason


class Status(StrEnum):
    """The documented status words (`Stream.get_status`)."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"
    RELAUNCHED = "relaunched"
    LOST = "lost"


TERMINAL = frozenset({Status.FINISHED, Status.FAILED, Status.KILLED, Status.RELAUNCHED, Status.LOST})
#: the statuses whose stdout is a result (the task ended by exiting).
EXITED = frozenset({Status.FINISHED, Status.FAILED})

OutputMode = Output
CallMode = Literal["batch", "stream"]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job's settings as the daemon uses them (validated).

    One field per job setting of ``stratos_wire.settings`` (named as there, except
    threads_per_task -> cpus, mem_per_task -> mem, disk_per_task -> disk), with the declared
    defaults: meaning, rules and units are documented there. The daemon fills every field
    from the client's spec; a journal written before a setting existed loads with its default.
    """

    master: str = default("master")
    role: str = default("role")
    cpus: float = default("threads_per_task")
    mem: float = default("mem_per_task")
    disk: float = default("disk_per_task")
    monitor: str | None = default("monitor")
    relauncher: str | None = default("relauncher")
    update_interval: float = default("update_interval")
    output: OutputMode = default("output")
    #: absolute (the client resolves it against the script's working directory).
    log_directory: str = default("log_directory")
    task_timeout: float = default("task_timeout")
    timeout_retries: int = default("timeout_retries")
    max_retries: int = default("max_retries")
    locality_wait: float = default("locality_wait")
    hdfs: str | None = default("hdfs")
    hdfs_mount: str = default("hdfs_mount")
    slurm_account: str = default("slurm_account")
    slurm_qos: str = default("slurm_qos")
    slurm_time_limit: str = default("slurm_time_limit")
    pilot_cpus: float = default("pilot_cpus")
    pilot_mem: float = default("pilot_mem")
    max_pilots: int = default("max_pilots")
    sbatch_options: str = default("sbatch_options")
    pilot_idle_timeout: float = default("pilot_idle_timeout")
    mesos_mode: MesosMode = default("mesos_mode")
    mesos_idle_timeout: float = default("mesos_idle_timeout")
    #: the user set mem / disk: they are limits a task is stopped at, not only sizes for packing.
    mem_set: bool = False
    disk_set: bool = False
    retries: int = default("retries")
    retry_on_exit: tuple[int, ...] = default("retry_on_exit")
    #: the name of the job this one runs after (None: none): its tasks wait until that job has ended.
    after: str | None = default("after")
    #: run them even when that job failed or was cancelled (otherwise they end failed, unrun).
    run_after_failure: bool = default("run_after_failure")


@dataclass(slots=True)
class Call:
    """One submission (a `glob_batch`, `stream(...)`, ...): shared cwd and environment."""

    call_id: int
    mode: CallMode
    cwd: str
    env: dict[str, str]
    #: tasks of this call and their replacements that have not ended.
    unended: int = 0
    #: those tasks by status: a call's progress without a scan of the job's tasks (``Wait`` sends
    #: it several times a second for a progress line, whatever the job's size).
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    #: batch calls publish results in submission order: the call's own tasks, in order...
    roots: list[int] = field(default_factory=list)
    #: ... and the index of the first root whose results are not yet published.
    next_root: int = 0
    #: a cancel reached the call (or its job): parts of its submission still to come add their
    #: tasks killed, so a cancel during a large submission stops all of it.
    cancelled: bool = False


@dataclass(slots=True)
class Follow:
    """A pattern whose new files become tasks of one stream call (``glob_stream(..., follow=True)``).

    ``seen`` holds every file already made a task: it is journaled with those tasks, in the same
    transaction, so each file becomes a task exactly once, across daemon restarts too.
    """

    follow_id: int
    call_id: int
    patterns: tuple[str, ...]
    template: str
    #: the HDFS mount ("" without HDFS): files under it are marked `<[ ]>`, as a glob's are.
    mount: str
    state: FollowState = FollowState.FOLLOWING
    seen: set[str] = field(default_factory=set)
    #: why it ended ("stop_following() was called", "job map ended").
    reason: str = ""

    @property
    def active(self) -> bool:
        return self.state is not FollowState.ENDED


@dataclass(frozen=True, slots=True)
class Attempt:
    """One ended attempt of a task (journaled with it; `stratosctl task` lists them)."""

    attempt: int
    host: str
    started: float
    ended: float
    exit_code: int | None
    signal: int | None
    #: how this attempt ended (EXITED, SIGNALLED, TIMEOUT, LOST...): which retry setting it charges.
    end: TaskEndReason
    reason: str
    stderr_tail: str = ""
    #: the user resubmitted the task after this attempt: the retry settings count afresh from here.
    resubmitted: bool = False


#: the ends of an attempt that count as failing on its host (a retry prefers another host).
FAILED_ON_HOST = frozenset({TaskEndReason.EXITED, TaskEndReason.SIGNALLED, TaskEndReason.TIMEOUT,
                            TaskEndReason.LOST, TaskEndReason.SPAWN_FAILED, TaskEndReason.STOPPED})
#: characters of stderr kept per attempt in the history.
ATTEMPT_STDERR_CHARS = 2000


class Task:
    """One command of a job. Its id is its index in the job's task list."""

    __slots__ = (
        "attempt",
        "call_id",
        "children",
        "command",
        "end",
        "ended",
        "exit_code",
        "history",
        "host",
        "host_bytes",
        "kill_requested",
        "marked",
        "parent",
        "queued",
        "reason",
        "signal",
        "started",
        "status",
        "task_id",
    )

    def __init__(self, task_id: int, call_id: int, command: str, parent: int | None = None) -> None:
        self.task_id = task_id
        self.call_id = call_id
        self.command = command
        self.status = Status.PENDING
        #: attempts launched so far (a retry after an infrastructure failure adds one).
        self.attempt = 0
        self.host = ""
        #: the task this one was relaunched from, and the tasks it was relaunched as.
        self.parent = parent
        self.children: tuple[int, ...] = ()
        self.kill_requested = False
        self.exit_code: int | None = None
        self.signal: int | None = None
        #: why it ended when not by a plain exit: "killed", "timeout", "relaunch", "lost: ..." (shown)...
        self.reason = ""
        #: ... and the same as a code, which is what the core decides on.
        self.end = TaskEndReason.NONE
        self.started = 0.0
        self.ended = 0.0
        #: per host, the bytes of this task's marked (`<[ ]>`) files it holds; () without markers.
        self.host_bytes: HostBytes = ()
        #: the size of its marked files (the denominator of "bytes read locally").
        self.marked = 0
        #: when it last became pending (delay scheduling measures its wait from here).
        self.queued = 0.0
        #: its ended attempts, oldest first.
        self.history: tuple[Attempt, ...] = ()

    def used(self, *ends: TaskEndReason) -> int:
        """How many of its ended attempts ended in one of these ways."""
        used = 0
        for a in self.history:
            used = 0 if a.resubmitted else used + (a.end in ends)
        return used

    def failed_hosts(self) -> frozenset[str]:
        """The hosts (canonical names) where an attempt of it failed."""
        return frozenset(canonical_host(a.host) for a in self.history if a.end in FAILED_ON_HOST and a.host)

    def __repr__(self) -> str:
        return f"<Task {self.task_id} {self.status.value} attempt={self.attempt}>"


class LocalityTally:
    """A job's locality report, kept as its tasks are placed: tasks with marked data that were
    placed, of them on a best host, their marked bytes, and the bytes of them their host holds.

    Each task counts with its latest placement (``task.host``), so the figures change only where
    a task's host does (``placement.set_host``) and ``Status`` answers without a scan of the job's
    tasks (35 ms at 1,000,000 tasks, on every call).
    """

    __slots__ = ("local", "local_bytes", "marked", "placed")

    def __init__(self) -> None:
        self.placed = self.local = self.marked = self.local_bytes = 0

    def count(self, task: Task, sign: int = 1) -> None:
        """Add (``sign`` 1) or take back (-1) what ``task``, where it is placed now, adds to the figures."""
        if not task.host_bytes or not task.host:
            return
        placed, local, marked, held = placed_figures(task.host, task.host_bytes, task.marked)
        self.placed += sign * placed
        self.local += sign * local
        self.marked += sign * marked
        self.local_bytes += sign * held

    def figures(self) -> tuple[int, int, int, int]:
        return self.placed, self.local, self.marked, self.local_bytes


class Job:
    """A Processor's job: its tasks, its calls and its result sequence."""

    __slots__ = (
        "after_key",
        "avoid",
        "by_host",
        "calls",
        "cancelled",
        "counts",
        "created",
        "executors",
        "finished_at",
        "follows",
        "hold",
        "hold_reason",
        "key",
        "local_pending",
        "locality",
        "name",
        "offered",
        "pending",
        "pool",
        "published",
        "spec",
        "stream_closed",
        "stream_opened",
        "tasks",
        "token",
        "warnings",
    )

    def __init__(self, key: int, name: str, spec: JobSpec, pool: str, created: float, token: str = "") -> None:
        #: the journal's primary key; stable across a rename (`demo` -> `demo.1`).
        self.key = key
        self.name = name
        self.spec = spec
        #: where its tasks run: "local", or a pool of its own ("pilots:7") for cluster backends.
        self.pool = PoolId(pool)
        #: the secret its remote executors present (made by the daemon, not the core).
        self.token = token
        self.created = created
        self.finished_at = 0.0
        self.cancelled = False
        self.tasks: list[Task] = []
        self.calls: list[Call] = []
        #: ids of pending tasks in launch order.
        self.pending: deque[int] = deque()
        #: canonical host -> pending tasks whose data it holds best (lazily cleaned, like `pending`).
        self.by_host: dict[str, deque[int]] = {}
        #: canonical host -> how many pending tasks' data it holds best (exact: kept by placement.index
        #: and transitions.move; what a Slurm pool's demand asks pilots near).
        self.local_pending: dict[str, int] = {}
        self.counts: dict[Status, int] = dict.fromkeys(Status, 0)
        #: the locality report of its placed tasks with marked data (kept by placement.set_host).
        self.locality = LocalityTally()
        #: results published so far; the last result's sequence number.
        self.published = 0
        self.stream_opened = False
        self.stream_closed = False
        self.warnings: list[str] = []
        #: agents (ids, else canonical host names) where the executor could not start -> why; their offers are declined
        #: (not journaled: after a restart it is learnt again, at the cost of one attempt per host).
        self.avoid: dict[str, str] = {}
        #: agents (ids, else canonical host names) that offered resources to this job -> their canonical host.
        self.offered: dict[str, str] = {}
        #: the key of the job this one runs after (spec.after, resolved when created); None: none.
        self.after_key: int | None = None
        #: where it stands towards that job, and why it was released or blocked (core/after.py).
        self.hold = Hold.NONE
        self.hold_reason = ""
        #: its followed patterns, by follow id.
        self.follows: list[Follow] = []
        #: coarse-grained Mesos: its executors, launched or returned after a restart, by executor id
        #: (not journaled: returning ones register again).
        self.executors: dict[str, CoarseExecutor] = {}

    @property
    def pilot_hosted(self) -> bool:
        return pilot_hosted(self.pool, self.spec)

    @property
    def unended(self) -> int:
        return self.counts[Status.PENDING] + self.counts[Status.RUNNING]

    @property
    def held(self) -> bool:
        """Its pending tasks wait for the job it runs after: none is placed."""
        return self.hold is Hold.WAITING

    @property
    def following(self) -> bool:
        """A pattern of it is still followed: more tasks may come without a submission."""
        return any(f.active for f in self.follows)

    @property
    def state(self) -> str:
        if self.unended or self.following:
            return "active"
        return "cancelled" if self.cancelled else "finished"


def pilot_hosted(pool: PoolId, spec: JobSpec) -> bool:
    """Whether the pool's hosts are executors that register with the hub and pull tasks: pilots,
    Slurm's pilot jobs, and a coarse-grained Mesos job's executors (one per agent)."""
    return pool.kind.pilot_hosts or (pool.kind is PoolKind.MESOS and spec.mesos_mode == "coarse")


@dataclass(slots=True)
class Room:
    """Resources a coarse executor holds as one Mesos task: its first (launched with it, its id
    the executor's) or one it grew by (a later offer from its agent, shrunk again when unused)."""

    cpus: float
    mem: float
    slots: int
    #: since when it could have been given back without touching a running task (0: it could not).
    unused_since: float = 0.0


@dataclass(slots=True)
class CoarseExecutor:
    """A coarse-grained Mesos executor of a job: launched on an agent from an offer, it registers
    with the hub like a pilot and runs up to ``slots`` of the job's tasks at once until its Mesos
    task ends. It grows by rooms taken from later offers of its agent and shrinks by giving them back."""

    executor_id: str
    #: the agent it runs on ("" for one that returned after a restart: then ``hostname`` tells).
    agent_id: str
    hostname: str
    slots: int
    registered: bool = False
    #: its rooms by Mesos task id, the first under the executor's own id; none for one that returned
    #: after a restart (its rooms are not known: it is neither grown nor shrunk, only left whole).
    rooms: dict[str, Room] = field(default_factory=dict)
    #: rooms launched so far (their ids' serial).
    grown: int = 0


@dataclass(frozen=True, slots=True)
class Offer:
    """Resources a cluster manager offers a job's pool for a while (a Mesos offer)."""

    offer_id: str
    agent_id: str
    hostname: str
    cpus: float
    mem: float
    disk: float = 0.0


@dataclass(slots=True)
class Host:
    """A place tasks run: the local machine, a Mesos agent's offer, a Slurm pilot."""

    host_id: str
    pool: PoolId
    cpus: float
    mem: float
    #: the canonical host name, matched against where a task's data lives.
    hostname: str = ""
    free_cpus: float = 0.0
    free_mem: float = 0.0
    running: set[tuple[int, int]] = field(default_factory=set)
    #: when its executor was last heard from (ExecutorHeard); a pilot silent for too long is lost.
    last_seen: float = 0.0
    #: a pilot that registered with one job's token in a shared pool runs that job's tasks only.
    only_job: int | None = None
    #: since when it runs nothing (0: it runs something, or no Tick has seen it idle yet).
    idle_since: float = 0.0
