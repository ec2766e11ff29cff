"""Small value types shared by the core and its adapters: pool ids and attempt references.

A pool id is parsed once, where it is made (``PoolId.__new__``); everything else asks it
for its ``kind`` and ``job_key`` instead of splitting the string again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class PoolKind(StrEnum):
    """The backends a pool can belong to (the part of a pool id before the colon)."""

    LOCAL = "local"
    PILOTS = "pilots"
    SLURM = "slurm"
    MESOS = "mesos"

    @property
    def cluster(self) -> bool:
        """A cluster grants hosts per job: the core asks for them (ReviveOffers), gives them back
        (ReleasePool), and after a restart keeps running tasks running (the cluster still runs them)."""
        return self is not PoolKind.LOCAL

    @property
    def pilot_hosts(self) -> bool:
        """The pool's hosts are pilots that register with the executor hub."""
        return self is PoolKind.PILOTS or self is PoolKind.SLURM


class PoolId(str):
    """A pool's id: ``"local"`` (shared by all jobs), ``"<kind>:<job key>"`` (one job's own pool), or
    ``"<kind>/<name>"`` (a named pool shared by every job whose settings select it: Slurm pilots of one
    partition, account, QoS and shape; user-started pilots).

    A ``str`` on purpose: the journal column, dict keys and log lines keep the wire form.
    """

    kind: PoolKind
    #: the job that owns the pool; None for a shared pool.
    job_key: int | None
    #: a named shared pool's name ("" for the others).
    name: str

    def __new__(cls, value: str) -> PoolId:
        if isinstance(value, PoolId):
            return value
        head, slash, name = value.partition("/")
        if slash:  # checked first: a name may hold ':' (a Slurm time limit)
            if not name:
                raise ValueError(f"pool id {value!r}: a shared pool needs a name after '/'")
            self = super().__new__(cls, value)
            self.kind, self.job_key, self.name = PoolKind(head), None, name
            return self
        kind, sep, key = value.partition(":")
        if sep and not key.isdigit():
            raise ValueError(f"pool id {value!r}: the part after ':' must be a job key")
        self = super().__new__(cls, value)
        self.kind = PoolKind(kind)
        self.job_key = int(key) if sep else None
        self.name = ""
        return self

    @property
    def shared(self) -> bool:
        """Every job that names it runs in it (the local machine, a named pool)."""
        return self.job_key is None

    @classmethod
    def named(cls, kind: PoolKind | str, name: str) -> PoolId:
        """The named shared pool ``name`` of ``kind``."""
        return cls(f"{PoolKind(kind).value}/{name}")

    @classmethod
    def of(cls, kind: PoolKind | str, job_key: int | None = None) -> PoolId:
        """The shared pool of ``kind``, or ``job_key``'s own pool of that kind."""
        kind = PoolKind(kind)
        return cls(kind.value if job_key is None else f"{kind.value}:{job_key}")


class AttemptRef(NamedTuple):
    """One launch of one task: reports about any other attempt of it are stale."""

    job_key: int
    task_id: int
    attempt: int


class TaskEndReason(StrEnum):
    """The core's code for why a task is where it is; ``Task.reason`` is the text shown for it.

    Journaled (the tasks' ``reason_code`` column), so decisions never read the text back.
    """

    #: nothing to say: it has not ended, or it exited 0.
    NONE = ""
    #: it failed by its exit code, or by a signal nobody sent on purpose.
    EXITED = "exited"
    SIGNALLED = "signalled"
    KILLED = "killed"
    KILLED_BEFORE_START = "killed-before-start"
    TIMEOUT = "timeout"
    #: the executor stopped it for using more memory or disk than the job allows.
    LIMIT = "limit"
    #: the cluster manager stopped it for going over a limit.
    CLUSTER_LIMIT = "cluster-limit"
    RELAUNCHED = "relaunched"
    RELAUNCH_FAILED = "relaunch-failed"
    SPAWN_FAILED = "spawn-failed"
    #: its executor stopped it for another reason (the text says which).
    STOPPED = "stopped"
    #: its host or executor failed and it waits to run again: a clean exit later keeps this note.
    RETRIED = "retried"
    #: its host or executor failed and no retries were left.
    LOST = "lost"
    REQUEUED_AFTER_RESTART = "requeued-after-restart"
    #: a failed task run again at the user's request (`stratosctl retry`, Processor.retry_failed).
    RESUBMITTED = "resubmitted"
    #: never ran: the job it runs after (``after=``) failed or was cancelled.
    AFTER_FAILED = "after-failed"
    #: journaled before codes were: only the text says why.
    LEGACY = "legacy"


class ExecutorStopCause(StrEnum):
    """Why the core tells a standing executor (a pilot) to stop: it runs nothing any more."""

    #: its job was cancelled and has no unended task.
    JOB_CANCELLED = "job-cancelled"
    #: nothing was heard from it for ``pilot_lost_after`` seconds: it is lost (its next call must register again).
    SILENT = "silent"
    #: a daemon-owned pilot ran nothing for the pool's idle time while its pool had nothing pending.
    IDLE = "idle"
    #: a coarse Mesos executor the job no longer counts as its own (Mesos reported it ended, or it was
    #: lost) registered outside the adoption window after a restart: its tasks were run elsewhere.
    GONE = "gone"


class Hold(StrEnum):
    """Where a job with ``after=`` stands towards the job it runs after (journaled: jobs.hold)."""

    #: no ``after=``: its tasks run as they come.
    NONE = ""
    #: its tasks wait (pending, never placed) until the awaited job has ended.
    WAITING = "waiting"
    #: the awaited job ended well (or the user chose to run anyway): its tasks run.
    RELEASED = "released"
    #: the awaited job failed or was cancelled: its tasks end failed without running.
    BLOCKED = "blocked"


class FollowState(StrEnum):
    """A followed pattern (``glob_stream(..., follow=True)``); journaled: follows.state."""

    #: new files under the pattern become tasks, at every scan.
    FOLLOWING = "following"
    #: the awaited job has ended: one more scan, which starts after this was decided, then it ends.
    FINAL_SCAN = "final-scan"
    ENDED = "ended"
