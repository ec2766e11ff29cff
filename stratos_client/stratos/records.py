"""Plain, immutable records the client returns instead of protobuf messages.

Callers (scripts, ``stratosctl --json``) get ordinary dataclasses they can compare,
print and serialise, and the wire format stays private to the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, overload

from stratos_wire import stratos_pb2 as pb

__all__ = [
    "STATUS_WORDS",
    "BatchSummary",
    "FailedTask",
    "JobReport",
    "Progress",
    "StatusWord",
    "StoryLine",
    "TaskDetails",
    "TaskReport",
    "TaskResult",
    "TaskStory",
    "counts_to_dict",
]

StatusWord = Literal["pending", "running", "finished", "failed", "killed", "relaunched", "lost"]
#: every task status, in the order a task usually goes through them.
STATUS_WORDS: tuple[StatusWord, ...] = (
    "pending", "running", "finished", "failed", "killed", "relaunched", "lost",
)


def counts_to_dict(counts: pb.StatusCounts) -> dict[str, int]:
    """Task counts keyed by status word (every word present, zeros included)."""
    return {word: int(getattr(counts, word)) for word in STATUS_WORDS}


def _exit_code(has_exit_code: bool, exit_code: int) -> int | None:
    return exit_code if has_exit_code else None


@dataclass(frozen=True)
class TaskResult:
    """One task's output as returned by ``get_results(details=True)``."""

    task_id: int
    command: str
    status: str
    #: None when the process did not exit by itself (killed by a signal, lost, ...).
    exit_code: int | None
    #: the signal that ended the process, or None.
    signal: int | None
    host: str
    #: seconds the task ran.
    duration: float
    #: stdout decoded as UTF-8 (undecodable bytes replaced).
    stdout: str
    #: the task wrote more than the daemon returns; ``stdout`` is its beginning.
    truncated: bool
    #: the result's sequence number in the job (``stratosctl results --from``).
    seq: int = 0
    #: where the full stdout is kept on disk (output="disk" or "mesos", or a truncated result), if anywhere.
    stdout_path: str | None = None
    #: where its stderr went (output="disk" or "mesos"), if to a file.
    stderr_path: str | None = None
    #: the submission call the task belongs to (``stratosctl task`` shows it too).
    call_id: int = 0
    #: ``glob_*``: the file ``%f%`` stood for, as the pattern matched it; else None.
    file: str | None = None
    #: ``template_*``: the values the row's ``%c%``/``%q%`` stood for, in order; else None.
    params: tuple[str, ...] | None = None

    @property
    def input(self) -> str | tuple[str, ...]:
        """What the task was run on: its file, else its template values, else its command."""
        if self.file is not None:
            return self.file
        if self.params is not None:
            return self.params
        return self.command


@dataclass(frozen=True)
class FailedTask:
    """How one failed task failed (the end of a batch call names them in its warning)."""

    task_id: int
    exit_code: int | None
    signal: int | None
    #: why, when it is more than its exit or signal (timeout, relaunch failed, ...); else "".
    reason: str
    #: exit 127 or "No such file" on its stderr: a word was taken for a missing program or file.
    missing_file: bool

    @classmethod
    def from_proto(cls, msg: pb.FailedTask) -> FailedTask:
        """Convert a WaitProgress entry."""
        return cls(
            task_id=msg.task_id, exit_code=_exit_code(msg.has_exit_code, msg.exit_code),
            signal=msg.signal or None, reason=msg.reason, missing_file=msg.missing_file,
        )


@dataclass(frozen=True)
class Progress:
    """Where a job (or one submission call) stands, from the Wait stream."""

    #: no task is pending or running any more.
    done: bool
    total: int
    #: task counts by status word.
    counts: dict[str, int]
    #: with done: the failed tasks (at most 1,000 of them).
    failed_task_ids: tuple[int, ...] = ()
    #: with done: how the first of them failed.
    failures: tuple[FailedTask, ...] = ()
    #: with done: relaunched tasks whose relauncher printed no replacement.
    unreplaced_task_ids: tuple[int, ...] = ()

    @classmethod
    def from_proto(cls, msg: pb.WaitProgress) -> Progress:
        """Convert a Wait stream message."""
        return cls(
            done=msg.done,
            total=msg.total,
            counts=counts_to_dict(msg.counts),
            failed_task_ids=tuple(msg.failed_task_ids),
            failures=tuple(FailedTask.from_proto(f) for f in msg.failures),
            unreplaced_task_ids=tuple(msg.unreplaced_task_ids),
        )

    @property
    def ended(self) -> int:
        """Tasks that are neither pending nor running."""
        return self.total - self.counts["pending"] - self.counts["running"]


class BatchSummary(dict[str, int]):
    """What a ``*_batch`` call returns: its task counts by status word, plus how it went.

    It is the dict of counts batch calls have always returned (``summary == {...}``,
    ``summary["finished"]``), with the failed tasks' ids, the elapsed time and the rate.
    """

    #: the job and the submission call the summary is about.
    job_id: str
    call_id: int
    #: every failed task of the call (relaunched replacements included), in id order.
    failed_ids: tuple[int, ...]
    #: seconds from the submission to the last task's end, as the client saw them.
    elapsed: float

    def __init__(self, counts: dict[str, int], *, job_id: str = "", call_id: int = 0,
                 failed_ids: tuple[int, ...] = (), elapsed: float = 0.0) -> None:
        super().__init__(counts)
        self.job_id = job_id
        self.call_id = call_id
        self.failed_ids = failed_ids
        self.elapsed = elapsed

    @property
    def total(self) -> int:
        """Tasks of the call, replacements included."""
        return sum(self.values())

    @property
    def tasks_per_second(self) -> float:
        """Tasks ended per second of the call (0.0 when it took no measurable time)."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0

    def __reduce__(self) -> tuple[Any, ...]:
        return (_summary, (dict(self), self.job_id, self.call_id, self.failed_ids, self.elapsed))


def _summary(counts: dict[str, int], job_id: str, call_id: int, failed: tuple[int, ...], elapsed: float
             ) -> BatchSummary:
    return BatchSummary(counts, job_id=job_id, call_id=call_id, failed_ids=failed, elapsed=elapsed)


@dataclass(frozen=True)
class FollowReport:
    """A pattern a job follows (``glob_stream(..., follow=True)``)."""

    follow_id: int
    patterns: tuple[str, ...]
    #: following | final-scan (the job it runs after has ended: one last scan) | ended
    state: str
    #: files made tasks so far.
    files: int
    #: why it ended ("" while it follows).
    reason: str

    @classmethod
    def from_proto(cls, msg: pb.FollowInfo) -> FollowReport:
        return cls(msg.follow_id, tuple(msg.patterns), msg.state, msg.files, msg.reason)


@dataclass(frozen=True)
class JobReport:
    """A job's state and task counts (``stratosctl status``, ``Processor.status()``)."""

    job_id: str
    #: active | finished | cancelled
    state: str
    master: str
    total: int
    counts: dict[str, int]
    #: results published but not yet past the job's shared cursor.
    results_available: int
    cursor: int
    created: float
    #: 0 while the job is active.
    finished_at: float
    warnings: tuple[str, ...]
    stream_opened: bool
    stream_closed: bool
    #: fraction of the placed tasks with `<[ ]>` files that ran on a host holding most of
    #: their data, and fraction of their marked bytes that were on the host they ran on;
    #: None when no such task has been placed.
    locality_tasks: float | None = None
    locality_bytes: float | None = None
    #: Slurm pilot jobs still queued in the cluster, and running.
    pilots_queued: int = 0
    pilots_running: int = 0
    #: after=: the job it runs after ("" when none), where it stands (waiting, released, blocked)
    #: and why (while waiting: what that job still lacks).
    after: str = ""
    hold: str = ""
    hold_reason: str = ""
    #: the patterns it follows or followed.
    follows: tuple[FollowReport, ...] = ()
    #: the pool its tasks run in (a shared pilot pool's id names what its pilots ask the cluster for).
    pool: str = ""

    @classmethod
    def from_proto(cls, msg: pb.JobStatus) -> JobReport:
        """Convert a GetStatus / ListJobs reply."""
        return cls(
            job_id=msg.job_id,
            state=msg.state,
            master=msg.master,
            total=msg.total,
            counts=counts_to_dict(msg.counts),
            results_available=msg.results_available,
            cursor=msg.cursor,
            created=msg.created,
            finished_at=msg.finished_at,
            warnings=tuple(msg.warnings),
            stream_opened=msg.stream_opened,
            stream_closed=msg.stream_closed,
            locality_tasks=msg.locality_tasks_local / msg.locality_tasks if msg.locality_tasks else None,
            locality_bytes=msg.locality_bytes_local / msg.locality_bytes if msg.locality_bytes else None,
            pilots_queued=msg.pilots_queued,
            pilots_running=msg.pilots_running,
            after=msg.after_job,
            hold=msg.hold,
            hold_reason=msg.hold_reason,
            follows=tuple(FollowReport.from_proto(f) for f in msg.follows),
            pool=msg.pool,
        )

    @property
    def unfinished(self) -> int:
        """Tasks pending or running."""
        return self.counts["pending"] + self.counts["running"]

    @property
    def following(self) -> bool:
        """Whether a pattern is still followed (more tasks may come)."""
        return any(f.state != "ended" for f in self.follows)


@dataclass(frozen=True)
class TaskReport:
    """One line of a task listing."""

    task_id: int
    status: str
    command: str
    host: str
    attempts: int
    exit_code: int | None
    signal: int | None
    duration: float
    #: when its last attempt started (epoch seconds); 0: it never ran.
    started: float = 0.0
    #: the submission call it belongs to.
    call_id: int = 0

    @classmethod
    def from_proto(cls, msg: pb.TaskSummary) -> TaskReport:
        """Convert a ListTasks entry."""
        return cls(
            task_id=msg.task_id,
            status=msg.status,
            command=msg.command,
            host=msg.host,
            attempts=msg.attempts,
            exit_code=_exit_code(msg.has_exit_code, msg.exit_code),
            signal=msg.signal or None,
            duration=msg.duration,
            started=msg.started,
            call_id=msg.call_id,
        )


@dataclass(frozen=True)
class AttemptReport:
    """One ended attempt of a task (a retried task has several; the last is its outcome)."""

    attempt: int
    host: str
    started: float
    ended: float
    exit_code: int | None
    signal: int | None
    #: how it ended, in words ("exit code 3", "timeout", "host node2 left: ...").
    reason: str
    #: the end of its stderr (the task's ``stderr_tail`` is its last attempt's).
    stderr_tail: str

    @classmethod
    def from_proto(cls, msg: pb.AttemptInfo) -> AttemptReport:
        """Convert one attempt of a GetTask reply."""
        return cls(msg.attempt, msg.host, msg.started, msg.ended,
                   msg.exit_code if msg.has_exit_code else None, msg.signal if msg.has_signal else None,
                   msg.reason, msg.stderr_tail)


@dataclass(frozen=True)
class TaskDetails:
    """Everything the daemon knows about one task (``stratosctl task``)."""

    task: TaskReport
    #: the submission call that created the task.
    call_id: int
    started: float
    ended: float
    #: why it ended when it did not just exit: killed, timeout, relaunch, lost, ...
    reason: str
    stderr_tail: str
    sandbox: str
    #: the task this one replaces (relauncher output), if any.
    relaunched_from: int | None
    #: the tasks that replace this one.
    relaunched_as: tuple[int, ...]
    #: the largest peak RSS of any single process of the task's last attempt, kB.
    peak_rss_kb: int
    cpu_seconds: float
    monitor_output: str
    notes: tuple[str, ...]
    cwd: str
    #: the peak of the sum of the RSS of all its processes (sampled), kB.
    peak_rss_sum_kb: int = 0
    #: space its sandbox and output files took, kB.
    disk_kb: int = 0
    #: output="disk" or "mesos": the absolute paths of its stdout and stderr files.
    stdout_path: str | None = None
    stderr_path: str | None = None
    #: its ended attempts, oldest first (retries, timeouts retried, lost hosts).
    attempts: tuple[AttemptReport, ...] = ()
    #: the host ``sandbox`` (and, with output="mesos", the stdout and stderr files) is on, when a
    #: remote executor ran the task; "" when it is the daemon's own.
    files_host: str = ""

    @classmethod
    def from_proto(cls, msg: pb.TaskDetail) -> TaskDetails:
        """Convert a GetTask reply."""
        return cls(
            task=TaskReport.from_proto(msg.summary),
            call_id=msg.call_id,
            started=msg.started,
            ended=msg.ended,
            reason=msg.reason,
            stderr_tail=msg.stderr_tail,
            sandbox=msg.sandbox,
            relaunched_from=msg.relaunched_from if msg.has_parent else None,
            relaunched_as=tuple(msg.relaunched_as),
            peak_rss_kb=msg.peak_rss_kb,
            cpu_seconds=msg.cpu_seconds,
            monitor_output=msg.monitor_output,
            notes=tuple(msg.notes),
            cwd=msg.cwd,
            peak_rss_sum_kb=msg.peak_rss_sum_kb,
            disk_kb=msg.disk_kb,
            stdout_path=msg.stdout_path or None,
            stderr_path=msg.stderr_path or None,
            attempts=tuple(AttemptReport.from_proto(a) for a in msg.attempts),
            files_host=msg.files_host,
        )


@dataclass(frozen=True)
class StoryLine:
    """One line of a task's story: a move from one status to another, or a decision that
    moved nothing (``from_state == to_state``: a kill asked for, a stale report, ...)."""

    #: when it happened (epoch seconds): an executor's start or end time for the lines its reports
    #: caused, else the scheduler's latest time from requests, losses and timers.
    time: float
    #: the attempt it concerns (0: before the task first ran).
    attempt: int
    from_state: str
    to_state: str
    #: what caused it: the event the scheduler was handling (``TaskEnded``, ``KillRequested``,
    #: ``Tick``, ...; ``restore`` when the daemon restarted).
    event: str
    #: the id of the stimulus (a request, an executor's report, a timer) behind the event.
    stimulus_id: str
    #: the scheduler's code for why the task is where it is (``timeout``, ``retried``,
    #: ``lost``, ...; empty: nothing to say).
    reason: str
    #: the host of the attempt; empty before it was placed.
    host: str
    #: what the line says: the task's reason, or what was decided.
    detail: str

    @property
    def moved(self) -> bool:
        """Whether the task changed status (False for a decision that moved nothing)."""
        return self.from_state != self.to_state

    @classmethod
    def from_proto(cls, msg: pb.StoryLine) -> StoryLine:
        """Convert one GetTaskStory line."""
        return cls(
            time=msg.time,
            attempt=msg.attempt,
            from_state=msg.from_status,
            to_state=msg.to_status,
            event=msg.event,
            stimulus_id=msg.stimulus_id,
            reason=msg.reason,
            host=msg.host,
            detail=msg.detail,
        )


@dataclass(frozen=True)
class TaskStory:
    """What happened to one task, oldest line first (``Stream.story``).

    Iterating, ``len`` and indexing go through its lines. The daemon keeps stories in
    memory, bounded per job: ``truncated`` says earlier lines of this task were dropped, and a
    restarted daemon begins each unended task's story again with a ``restore`` line.
    """

    job_id: str
    task_id: int
    lines: tuple[StoryLine, ...]
    #: earlier lines of this task may have been dropped (the job's story reached its bound).
    truncated: bool = False
    #: the time of the job's oldest kept line (0: the job has none).
    kept_since: float = 0.0

    def __iter__(self) -> Iterator[StoryLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, index: int) -> StoryLine: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[StoryLine, ...]: ...

    def __getitem__(self, index: int | slice) -> StoryLine | tuple[StoryLine, ...]:
        return self.lines[index]

    @classmethod
    def from_proto(cls, msg: pb.TaskStory) -> TaskStory:
        """Convert a GetTaskStory reply."""
        return cls(
            job_id=msg.job_id,
            task_id=msg.task_id,
            lines=tuple(StoryLine.from_proto(line) for line in msg.lines),
            truncated=msg.truncated,
            kept_since=msg.kept_since,
        )
