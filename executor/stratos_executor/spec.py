"""What the daemon asks an executor to run, and what the executor reports back.

Plain data on purpose: the local backend passes these in-process, the
``stratos-executor`` program carries them over gRPC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from stratos_wire.settings import Output

OutputMode = Output

#: stdout kept in memory before it is spilled to a file (scheduler mode).
INLINE_STDOUT_LIMIT = 1 << 20
#: stdout returned to the scheduler per task; beyond it the file is kept and the record says so.
DEFAULT_RESULT_LIMIT = 64 << 20
#: bytes of stderr kept with every task record.
STDERR_TAIL_BYTES = 8 << 10
#: the scheduler-mode spill file and the "mesos" mode output files, in the sandbox.
STDOUT_NAME = "stdout"
STDERR_NAME = "stderr"


class Relaunch(StrEnum):
    """What came of a monitor's ``stratos_relaunch``: a fact the executor reports; the core decides
    the task's fate from it (a relaunch that gave no replacement must not lose the task silently)."""

    #: the monitor never asked (or the task ended before the stop took effect).
    NOT_ASKED = ""
    #: the relauncher printed replacement commands (``TaskRecord.replacements``).
    REPLACED = "replaced"
    #: the relauncher exited 0 and printed no command: the user chose to drop the task.
    NO_COMMANDS = "no-commands"
    #: the relauncher failed (non-zero exit, signal, timeout, could not start): ``relaunch_error`` says how.
    FAILED = "failed"
    #: the monitor asked but the job has no relauncher.
    NO_RELAUNCHER = "no-relauncher"


class StopReason(StrEnum):
    """Why an executor ended an attempt before it exited on its own: the wire word of
    ``TaskRecord.reason``, parsed once (:meth:`parse`) so that no one branches on the text."""

    #: it was not stopped: it exited (or was signalled) by itself.
    NONE = ""
    KILLED = "killed"
    TIMEOUT = "timeout"
    #: the monitor asked for a relaunch (``TaskRecord.relaunch`` says what came of it).
    RELAUNCH = "relaunch"
    SPAWN_FAILED = "spawn-failed"
    #: it used more than the job allows (``TaskRecord.limit_kb`` says what was measured).
    MEMORY_LIMIT = "memory-limit"
    DISK_LIMIT = "disk-limit"
    #: its executor was stopped (a pilot ending): an infrastructure failure, run again elsewhere.
    EXECUTOR_STOPPED = "executor-stopped"
    #: the daemon is shutting down: the journal keeps the task running, the restart runs it again.
    DAEMON_STOP = "daemon-stop"
    #: daemon side: the cluster manager stopped it for going over a limit (Mesos).
    CLUSTER_LIMIT = "cluster-limit"
    #: a reason this side has no word for (a kill with a message, "disk full: ..."): the text says it.
    OTHER = "other"

    @classmethod
    def parse(cls, reason: str) -> StopReason:
        """The code of a reason text; any text that is not a known word is OTHER."""
        try:
            return cls(reason)
        except ValueError:
            return cls.OTHER

    @property
    def limit(self) -> bool:
        """The executor stopped it for using more memory or disk than the job allows."""
        return self is StopReason.MEMORY_LIMIT or self is StopReason.DISK_LIMIT


@dataclass(frozen=True, slots=True)
class TaskSpec:
    job_id: str
    task_id: int
    attempt: int
    #: the user's command, `<[ ]>` markers still in it; the executor removes them.
    command: str
    cwd: str
    env: Mapping[str, str]
    threads: int
    output: OutputMode
    #: a private directory for this attempt: spilled stdout, the sandbox in "mesos" mode.
    sandbox: str
    #: "disk" mode: where stdout and stderr go (under log_directory/<job_id>/).
    stdout_file: str | None = None
    stderr_file: str | None = None
    monitor: str | None = None
    relauncher: str | None = None
    update_interval: float = 10.0
    #: seconds; None: no limit.
    timeout: float | None = None
    result_limit: int = DEFAULT_RESULT_LIMIT
    #: grace between SIGTERM and SIGKILL when a task is stopped.
    kill_grace: float = 3.0
    #: MB; a task whose processes use more is stopped ("memory-limit"). None: not enforced.
    mem_limit: float | None = None
    #: MB; a task whose sandbox and output files grow beyond is stopped ("disk-limit"). None: not enforced.
    disk_limit: float | None = None


@dataclass(slots=True)
class TaskRecord:
    """The outcome of one attempt."""

    pid: int = 0
    started: float = 0.0
    ended: float = 0.0
    exit_code: int | None = None
    #: the signal that ended the process, when one did.
    signal: int | None = None
    #: why the executor ended it, as text: "" (it exited), a StopReason word, or a message.
    reason: str = ""
    #: scheduler mode: stdout held in memory (small outputs)...
    stdout: bytes | None = None
    #: ... or the file it was spilled to (large outputs).
    stdout_path: str | None = None
    #: more stdout than result_limit was written; the returned part is the first result_limit bytes.
    stdout_truncated: bool = False
    stderr_tail: bytes = b""
    #: the largest peak RSS of any single process of the attempt (its own, not inherited), kB.
    peak_rss_kb: int = 0
    #: the peak of the sum of the attempt's processes' RSS (sampled), kB.
    peak_rss_sum_kb: int = 0
    cpu_seconds: float = 0.0
    #: space taken by the attempt's sandbox and output files at its end (or when stopped), kB.
    disk_kb: int = 0
    #: "memory-limit" / "disk-limit": the measured figure that exceeded the limit, kB.
    limit_kb: int = 0
    #: the monitor's most recent stdout.
    monitor_output: str = ""
    #: things the user should see in `stratosctl task` (monitor crashed, output truncated, ...).
    notes: list[str] = field(default_factory=list)
    #: relauncher output: one new command per line (relaunch is REPLACED).
    replacements: list[str] = field(default_factory=list)
    #: what came of the monitor's relaunch request, if it made one.
    relaunch: Relaunch = Relaunch.NOT_ASKED
    #: relaunch FAILED: the relauncher's exit status and the end of its stderr.
    relaunch_error: str = ""
    #: ``reason`` as a code (parsed from it when not given): what the daemon decides on.
    stop: StopReason = StopReason.NONE
    #: a remote executor's attempt: its sandbox directory and the host it is on ("": the daemon's own).
    sandbox: str = ""
    host: str = ""

    def __post_init__(self) -> None:
        if self.stop is StopReason.NONE and self.reason:
            self.stop = StopReason.parse(self.reason)

    def set_reason(self, reason: str) -> None:
        """Say why the attempt was stopped (a StopReason, or a message): text and code together."""
        self.reason = reason
        self.stop = StopReason.parse(reason)
