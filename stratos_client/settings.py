"""Every Processor parameter in one object, and where its values come from.

Values are layered: the defaults below, then a TOML file, then ``STRATOS_<NAME>``
environment variables, then the arguments given to ``Processor``. Loading never fails
on a bad value it can skip (so ``stratosctl`` keeps working with a half-broken config);
``validate()`` reports every such problem, and ``Processor`` always validates.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._paths import config_path
from ._proto import stratos_pb2 as pb
from .errors import InvalidJobSpec

__all__ = ["Backend", "Output", "Settings", "backend_of"]

Output = Literal["scheduler", "disk", "mesos", "none"]
Backend = Literal["local", "pilots", "mesos", "slurm"]

OUTPUTS: tuple[str, ...] = ("scheduler", "disk", "mesos", "none")

_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
_HOST_PORT = re.compile(rf"{_HOST}:(\d{{1,5}})")
_HTTP = re.compile(rf"https?://{_HOST}(?::(\d{{1,5}}))?/?")
_ZK = re.compile(r"zk://([^/\s]+)/[^\s]+")
_PARTITION = re.compile(r"[A-Za-z0-9_.-]+")

_MASTER_HELP = (
    'use "local" (this host), "pilots" (executors you start with `stratos-executor pilot`), '
    '"HOST:PORT", "http://HOST:PORT" or "https://HOST:PORT" '
    '(a Mesos master), "zk://H1:2181,H2:2181/mesos" (Mesos through ZooKeeper), or '
    '"slurm" / "slurm://PARTITION"'
)

# What each setting holds, for typed conversion of TOML values and environment variables.
_INT, _FLOAT, _STR, _OPT_STR = "int", "float", "str", "optional str"
_PROGRESS = "auto or bool"
_BOOL = "bool"
_INTS = "list of int"
_KINDS: dict[str, str] = {
    "master": _STR,
    "role": _STR,
    "threads_per_task": _INT,
    "mem_per_task": _FLOAT,
    "disk_per_task": _FLOAT,
    "monitor": _OPT_STR,
    "relauncher": _OPT_STR,
    "update_interval": _FLOAT,
    "output": _STR,
    "log_directory": _STR,
    "job_id": _OPT_STR,
    "task_timeout": _FLOAT,
    "timeout_retries": _INT,
    "max_retries": _INT,
    "retries": _INT,
    "retry_on_exit": _INTS,
    "after": _OPT_STR,
    "run_after_failure": _BOOL,
    "hdfs": _OPT_STR,
    "hdfs_mount": _STR,
    "locality_wait": _FLOAT,
    "slurm_account": _STR,
    "slurm_qos": _STR,
    "slurm_time_limit": _STR,
    "pilot_cpus": _FLOAT,
    "pilot_mem": _FLOAT,
    "max_pilots": _INT,
    "sbatch_options": _STR,
    "pilot_idle_timeout": _FLOAT,
    "socket": _OPT_STR,
    "state_dir": _OPT_STR,
    "reconnect_timeout": _FLOAT,
    "progress": _PROGRESS,
}
_PATH_SETTINGS = ("monitor", "relauncher", "log_directory", "socket", "state_dir")


def backend_of(master: str) -> Backend:
    """Which backend a ``master`` value selects.

    Args:
        master: the ``master`` setting.

    Returns:
        ``"local"``, ``"pilots"``, ``"mesos"`` or ``"slurm"``.

    Raises:
        InvalidJobSpec: the value has no known form.
    """
    if master in ("local", "pilots"):
        return master  # type: ignore[return-value]
    if master == "slurm" or (
        master.startswith("slurm://") and _PARTITION.fullmatch(master[len("slurm://"):])
    ):
        return "slurm"
    zk = _ZK.fullmatch(master)
    if zk is not None:
        if all(_valid_host_port(host) for host in zk.group(1).split(",")):
            return "mesos"
    elif _valid_host_port(master):
        return "mesos"
    else:
        match = _HTTP.fullmatch(master)
        if match and (match.group(1) is None or _valid_port(match.group(1))):
            return "mesos"
    raise InvalidJobSpec(f"master {master!r} is not understood: {_MASTER_HELP}.")


def _valid_port(text: str) -> bool:
    return 1 <= int(text) <= 65535


def _valid_host_port(text: str) -> bool:
    match = _HOST_PORT.fullmatch(text)
    return match is not None and _valid_port(match.group(1))


def _finite(value: float) -> bool:
    """math.isfinite, also for integers too large for a float (they are not settings either)."""
    try:
        return math.isfinite(value) and abs(value) < 1e15
    except OverflowError:
        return False


def resolve_program(value: str, cwd: str | None = None) -> str | None:
    """The absolute path of an executable file named by ``value``, or None.

    A relative name is looked up in ``cwd`` first and, when it has no slash, on PATH,
    because the daemon runs in another directory than the script that names it.
    """
    try:
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = Path(cwd or os.getcwd()) / path
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    except (RuntimeError, OSError, ValueError):  # ~nouser, a name too long, a NUL byte: not a program
        return None
    if "/" not in value:
        found = shutil.which(value)
        if found:
            return str(Path(found).absolute())
    return None


@dataclass(frozen=True)
class Settings:
    """The parameters of a job (a Processor) and how to reach the daemon.

    The first eleven are the seed's Processor arguments; the rest are StratOS additions.
    """

    #: "local" (this host); "HOST:PORT", "http(s)://HOST:PORT" or "zk://.../mesos" (Mesos);
    #: "slurm" or "slurm://PARTITION" (Slurm).
    master: str = "local"
    #: the Mesos role the job's resources come from.
    role: str = "*"
    #: CPU threads allocated to each task.
    threads_per_task: int = 1
    #: memory per task, in MB.
    mem_per_task: float = 256.0
    #: disk per task, in MB.
    disk_per_task: float = 256.0
    #: a program run as ``monitor PID TASK_OUTPUT`` every update_interval seconds.
    monitor: str | None = None
    #: a program run as ``relauncher MONITOR_OUTPUT`` after the monitor asks for a relaunch.
    relauncher: str | None = None
    #: seconds between calls of the monitor.
    update_interval: float = 10.0
    #: where each task's stdout goes: scheduler, disk, mesos or none.
    output: Output = "scheduler"
    #: directory for stdout with output="disk"; a relative path is resolved against the
    #: working directory of the script that creates the job.
    log_directory: str = "stratos-logs"
    #: the job's name; None lets the daemon make a unique one.
    job_id: str | None = None
    #: seconds a task may run before it is stopped; 0 means no limit.
    task_timeout: float = 0.0
    #: how many times a task that timed out is run again.
    timeout_retries: int = 0
    #: how many times a task whose host was lost is run again.
    max_retries: int = 3
    #: how many times a task that exits non-zero or dies of a signal (not a kill) is run again.
    retries: int = 0
    #: exit codes ``retries`` applies to (empty: every non-zero exit and every signal).
    retry_on_exit: tuple[int, ...] = ()
    #: the id of a job this one runs after: its tasks wait until that job has ended (None: none).
    after: str | None = None
    #: run them even when that job failed or was cancelled (otherwise they end failed, unrun).
    run_after_failure: bool = False
    #: the HDFS namenode's WebHDFS URL (http://namenode:9870) or an HdfsCLI alias; None: no locality.
    hdfs: str | None = None
    #: where HDFS is mounted on every node: /dfs/a/b is the HDFS path /a/b.
    hdfs_mount: str = "/dfs"
    #: seconds a task with `<[ ]>` files waits for a host holding its data before it takes any.
    locality_wait: float = 3.0
    #: Slurm: the account and QoS pilot jobs are charged to ("": the user's default).
    slurm_account: str = ""
    slurm_qos: str = ""
    #: Slurm: each pilot job's time limit, in Slurm's format ("2:00:00"); "": the partition's default.
    slurm_time_limit: str = ""
    #: Slurm: cores and memory (MB) of each pilot job; 0: the task's own size.
    pilot_cpus: float = 0.0
    pilot_mem: float = 0.0
    #: Slurm: at most this many pilot jobs at once (queued or running).
    max_pilots: int = 4
    #: Slurm: extra sbatch options, as shell words ("--constraint=ib --exclusive").
    sbatch_options: str = ""
    #: Slurm: seconds a pilot with nothing to run waits for more before it exits.
    pilot_idle_timeout: float = 60.0
    #: the daemon's Unix socket; None: the default (see ``stratos._paths.socket_path``).
    socket: str | None = None
    #: the daemon's state directory when this client starts it; None: the default.
    state_dir: str | None = None
    #: seconds a client that lost its daemon waits for it to answer again when it may not restart
    #: it itself (STRATOS_NO_AUTOSTART, a cluster master), before DaemonUnavailable.
    reconnect_timeout: float = 30.0
    #: a live progress line on stderr during blocking calls: "auto" (in a terminal or a notebook,
    #: not when stderr is piped), True (always), False (never). STRATOS_PROGRESS=auto|1|0.
    progress: bool | Literal["auto"] = "auto"
    #: problems found while loading (unknown keys, unconvertible values); reported by
    #: validate() so a broken config file only stops the code that needs it.
    _problems: tuple[str, ...] = field(default=(), repr=False, compare=False)
    #: settings the user gave (file, environment, argument) rather than left at their defaults.
    _explicit: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in _PATH_SETTINGS:
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, name, os.fspath(value))
        if isinstance(self.retry_on_exit, list | set | frozenset):  # a list from the caller or a file
            object.__setattr__(self, "retry_on_exit", tuple(sorted(self.retry_on_exit)))

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Settings:
        """Defaults, overridden by a TOML file, overridden by ``STRATOS_<NAME>`` variables.

        Args:
            path: the TOML file; None: ``$STRATOS_CONFIG``, else
                ``~/.config/stratos/config.toml`` when it exists. Its keys sit at the top
                level or in a ``[stratos]`` table.

        Returns:
            The settings, not yet validated.

        Raises:
            InvalidJobSpec: the file was named explicitly but is missing, or is not TOML.
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        file = _config_file(path)
        if file is not None:
            _read_toml(file, values, problems)
        _read_env(values, problems)
        return cls(**values, _problems=tuple(problems), _explicit=frozenset(values))

    @classmethod
    def from_proto(cls, spec: pb.JobSpec, **extra: Any) -> Settings:
        """The settings a daemon reports for a job (``JobInfo.spec``).

        Args:
            spec: the job's spec.
            **extra: settings the spec does not carry (job_id, socket, state_dir).

        Returns:
            The settings.
        """
        return cls(
            master=spec.master or "local",
            role=spec.role or "*",
            threads_per_task=round(spec.threads_per_task) or 1,
            mem_per_task=spec.mem_per_task or 256.0,
            disk_per_task=spec.disk_per_task or 256.0,
            monitor=spec.monitor or None,
            relauncher=spec.relauncher or None,
            update_interval=spec.update_interval or 10.0,
            output=spec.output or "scheduler",  # type: ignore[arg-type]
            log_directory=spec.log_directory or "stratos-logs",
            task_timeout=spec.task_timeout,
            timeout_retries=spec.timeout_retries,
            max_retries=spec.max_retries,
            retries=spec.retries,
            retry_on_exit=tuple(spec.retry_on_exit),
            after=spec.after or None,
            run_after_failure=spec.run_after_failure,
            hdfs=spec.hdfs or None,
            hdfs_mount=spec.hdfs_mount or "/dfs",
            locality_wait=spec.locality_wait if spec.has_locality_wait else 3.0,
            slurm_account=spec.slurm_account,
            slurm_qos=spec.slurm_qos,
            slurm_time_limit=spec.slurm_time_limit,
            pilot_cpus=spec.pilot_cpus,
            pilot_mem=spec.pilot_mem,
            max_pilots=spec.max_pilots or 4,
            sbatch_options=spec.sbatch_options,
            pilot_idle_timeout=spec.pilot_idle_timeout or 60.0,
            **extra,
            _explicit=frozenset(name for name, flag in (("mem_per_task", spec.mem_per_task_set),
                                                        ("disk_per_task", spec.disk_per_task_set)) if flag),
        )

    def replace(self, **overrides: Any) -> Settings:
        """A copy with some settings changed; None values are ignored.

        Args:
            **overrides: setting names and values.

        Returns:
            The new settings (not validated).

        Raises:
            InvalidJobSpec: a name is not a setting.
        """
        changes = {k: v for k, v in overrides.items() if v is not None}
        for name in changes:
            if name not in _KINDS:
                raise InvalidJobSpec(_unknown_message(name, "is not a Processor setting"))
        return dataclasses.replace(self, **changes, _explicit=self._explicit | frozenset(changes))

    def is_set(self, name: str) -> bool:
        """Whether the user gave ``name`` (argument, settings file, environment, or a non-default value).

        mem_per_task and disk_per_task are limits a task is stopped at only when set;
        left at their defaults they are sizes for packing tasks onto hosts.
        """
        default = type(self).__dataclass_fields__[name].default
        return name in self._explicit or getattr(self, name) != default

    def validate(self) -> Settings:
        """Check every value, so a mistake is reported before any task is created.

        Returns:
            ``self``, for chaining.

        Raises:
            InvalidJobSpec: with one line per problem, each naming the bad value and the fix.
        """
        problems = list(self._problems)
        problems += self._type_problems()
        if not problems:
            problems += self._value_problems()
        if problems:
            raise InvalidJobSpec("invalid StratOS settings:\n  " + "\n  ".join(problems))
        return self

    def _type_problems(self) -> list[str]:
        problems = []
        for name, kind in _KINDS.items():
            value = getattr(self, name)
            if not _has_kind(value, kind):
                problems.append(f"{name} must be {_KIND_WORDS[kind]}, got {value!r}")
        return problems

    def _value_problems(self) -> list[str]:
        problems = []
        if self.output not in OUTPUTS:
            problems.append(
                f"output {self.output!r} is not one of {', '.join(OUTPUTS)}: "
                'use "scheduler" to get stdout back in Python, "disk" to keep it in '
                'log_directory, "mesos" to leave it in the Mesos sandbox, "none" to drop it'
            )
        for name in ("threads_per_task", "mem_per_task", "disk_per_task", "update_interval"):
            value = getattr(self, name)
            if not _finite(value) or value <= 0:
                unit = {"mem_per_task": " MB", "disk_per_task": " MB", "update_interval": " s"}
                problems.append(
                    f"{name}={value!r}{unit.get(name, '')} must be a positive number"
                )
        if not _finite(self.task_timeout) or self.task_timeout < 0:
            problems.append(
                f"task_timeout={self.task_timeout!r} must be 0 (no limit) or a number of seconds"
            )
        if not _finite(self.reconnect_timeout) or self.reconnect_timeout < 0:
            problems.append(f"reconnect_timeout={self.reconnect_timeout!r} must be 0 or a number of seconds")
        if not _finite(self.locality_wait) or self.locality_wait < 0:
            problems.append(f"locality_wait={self.locality_wait!r} must be 0 or a number of seconds")
        if not self.hdfs_mount.startswith("/"):
            problems.append(f"hdfs_mount={self.hdfs_mount!r} must be an absolute path")
        for name in ("pilot_cpus", "pilot_mem"):
            if not _finite(getattr(self, name)) or getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)!r} must be 0 (the task's size) or a positive number")
        if not 1 <= self.max_pilots < 1 << 31:
            problems.append(f"max_pilots={self.max_pilots!r} must be 1 or more")
        if not _finite(self.pilot_idle_timeout) or self.pilot_idle_timeout <= 0:
            problems.append(f"pilot_idle_timeout={self.pilot_idle_timeout!r} must be a positive number of seconds")
        try:
            shlex.split(self.sbatch_options)
        except ValueError as err:
            problems.append(f"sbatch_options {self.sbatch_options!r} are not shell words ({err})")
        if not all(-(1 << 31) <= code < 1 << 31 for code in self.retry_on_exit):
            problems.append(f"retry_on_exit={self.retry_on_exit!r} must hold exit codes (1 to 255)")
        elif 0 in self.retry_on_exit:
            problems.append("retry_on_exit holds 0: exit code 0 is success and never retried; remove it")
        for name in ("timeout_retries", "max_retries", "retries"):
            if not 0 <= getattr(self, name) < 1 << 31:
                problems.append(f"{name}={getattr(self, name)!r} must be 0 or more (and below 2**31)")
        for name in ("monitor", "relauncher"):
            value = getattr(self, name)
            if value is not None and resolve_program(value) is None:
                problems.append(
                    f"{name} {value!r} is not an executable file: give the full path of the "
                    f"program and make it executable (chmod +x)"
                )
        try:
            backend_of(self.master)
        except InvalidJobSpec as err:
            problems.append(str(err).rstrip("."))
        if not self.role:
            problems.append('role must not be empty: use "*" for the default Mesos role')
        if not self.log_directory:
            problems.append('log_directory must not be empty: use "." for the working directory')
        if self.after is not None and not is_safe_job_id(self.after):
            problems.append(f"after={self.after!r} is not a job id: give the id of an existing job (`stratosctl jobs`)")
        elif self.after is not None and self.after == self.job_id:
            problems.append(f"after={self.after!r} is this job's own id: a job runs after another job")
        if self.job_id is not None and not is_safe_job_id(self.job_id):
            problems.append(
                f"job_id {self.job_id!r} is not a safe name: use 1-128 letters, digits, '_', "
                "'.' or '-', starting with a letter or digit, without '..'"
            )
        return problems

    def to_proto(self, cwd: str | None = None) -> pb.JobSpec:
        """The spec sent in CreateJob, with relative paths made absolute.

        Args:
            cwd: the directory relative paths are resolved against; None: ``os.getcwd()``.

        Returns:
            The spec.
        """
        base = Path(cwd or os.getcwd())
        try:
            log_dir = Path(self.log_directory).expanduser()
        except RuntimeError:
            raise InvalidJobSpec(f"log_directory {self.log_directory!r}: no such user's home directory") from None
        except ValueError as err:  # a NUL byte
            raise InvalidJobSpec(f"log_directory {self.log_directory!r} is not a usable path ({err})") from None
        return pb.JobSpec(
            master=self.master,
            role=self.role,
            threads_per_task=float(self.threads_per_task),
            mem_per_task=float(self.mem_per_task),
            disk_per_task=float(self.disk_per_task),
            mem_per_task_set=self.is_set("mem_per_task"),
            disk_per_task_set=self.is_set("disk_per_task"),
            monitor=self._program(self.monitor, str(base)),
            relauncher=self._program(self.relauncher, str(base)),
            update_interval=float(self.update_interval),
            output=self.output,
            log_directory=str(log_dir if log_dir.is_absolute() else base / log_dir),
            task_timeout=float(self.task_timeout),
            timeout_retries=self.timeout_retries,
            max_retries=self.max_retries,
            retries=self.retries,
            retry_on_exit=list(self.retry_on_exit),
            after=self.after or "",
            run_after_failure=self.run_after_failure,
            hdfs=self.hdfs or "",
            hdfs_mount=self.hdfs_mount,
            has_locality_wait=True,
            locality_wait=float(self.locality_wait),
            slurm_account=self.slurm_account,
            slurm_qos=self.slurm_qos,
            slurm_time_limit=self.slurm_time_limit,
            pilot_cpus=float(self.pilot_cpus),
            pilot_mem=float(self.pilot_mem),
            max_pilots=self.max_pilots,
            sbatch_options=self.sbatch_options,
            pilot_idle_timeout=float(self.pilot_idle_timeout),
        )

    @staticmethod
    def _program(value: str | None, cwd: str) -> str:
        if value is None:
            return ""
        return resolve_program(value, cwd) or value


def is_safe_job_id(job_id: str) -> bool:
    """Whether ``job_id`` can name files and directories without escaping them."""
    return _JOB_ID.fullmatch(job_id) is not None and ".." not in job_id


_KIND_WORDS = {
    _INT: "a whole number",
    _FLOAT: "a number",
    _STR: "a string",
    _OPT_STR: "a string (or unset)",
    _PROGRESS: '"auto", true or false',
    _BOOL: "true or false (in the environment: 1/0, true/false, yes/no, on/off)",
    _INTS: "a list of whole numbers (in the environment: separated by commas)",
}


def _has_kind(value: object, kind: str) -> bool:
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _FLOAT:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == _STR:
        return isinstance(value, str)
    if kind == _PROGRESS:
        return isinstance(value, bool) or value == "auto"
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INTS:
        return isinstance(value, list | tuple) and all(_has_kind(v, _INT) for v in value)
    return value is None or isinstance(value, str)


def _progress_word(text: str) -> bool | Literal["auto"]:
    """STRATOS_PROGRESS: auto, or a yes/no word (1/0, true/false, yes/no, on/off)."""
    word = text.lower()
    if word == "auto":
        return "auto"
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _unknown_message(name: str, what: str) -> str:
    close = difflib.get_close_matches(name, _KINDS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"valid names: {', '.join(_KINDS)}"
    return f"{name!r} {what}; {hint}"


def _config_file(path: str | os.PathLike[str] | None) -> Path | None:
    if path is None and os.environ.get("STRATOS_CONFIG"):
        path = os.environ["STRATOS_CONFIG"]
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise InvalidJobSpec(
                f"settings file {file} does not exist: create it, or unset STRATOS_CONFIG"
            )
        return file
    default = config_path()
    return default if default.is_file() else None


def _read_toml(file: Path, values: dict[str, Any], problems: list[str]) -> None:
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InvalidJobSpec(f"cannot read settings file {file}: {err}") from err
    # [stratosd] holds the daemon's own settings (stratosd/daemon_settings.py)
    table = {k: v for k, v in data.items() if k not in ("stratos", "stratosd")}
    section = data.get("stratos", {})
    if not isinstance(section, dict):
        problems.append(f"{file}: 'stratos' must be a table ([stratos]), got {section!r}")
        section = {}
    table.update(section)
    for key, value in table.items():
        if key not in _KINDS:
            problems.append(f"{file}: " + _unknown_message(key, "is not a StratOS setting"))
        elif _KINDS[key] == _FLOAT and _has_kind(value, _FLOAT):
            values[key] = float(value)
        elif _KINDS[key] == _INTS and _has_kind(value, _INTS):
            values[key] = tuple(value)
        elif _has_kind(value, _KINDS[key]):
            values[key] = value
        else:
            problems.append(f"{file}: {key} must be {_KIND_WORDS[_KINDS[key]]}, got {value!r}")


def _read_env(values: dict[str, Any], problems: list[str]) -> None:
    for name, kind in _KINDS.items():
        var = "STRATOS_" + name.upper()
        raw = os.environ.get(var)
        if raw is None:
            continue
        text = raw.strip()
        if not text:
            # Empty clears an optional setting and leaves a required one alone.
            if kind == _OPT_STR:
                values[name] = None
            continue
        try:
            if kind == _INT:
                values[name] = int(text)
            elif kind == _FLOAT:
                values[name] = float(text)
            elif kind == _PROGRESS:
                values[name] = _progress_word(text)
            elif kind == _BOOL:
                word = _progress_word(text)
                if word == "auto":
                    raise ValueError(text)
                values[name] = word
            elif kind == _INTS:
                values[name] = tuple(int(part) for part in text.split(",") if part.strip())
            else:
                values[name] = text
        except ValueError:
            problems.append(f"{var}={raw!r} is not {_KIND_WORDS[kind]}; fix or unset it")
