"""Every setting StratOS has, declared once: its name, type, default, rules, meaning and owner.

``ProcessorSettings`` holds what a script sets (a job's settings, sent in the ``JobSpec``, and
the client's own); ``DaemonSettings`` the daemon's own (the ``[stratosd]`` table). Each field's
type annotation is the setting's type, its default the default, and ``declare(...)`` records the
rest. Everything else is derived from these two classes or checked against them by a test:
the client's ``Settings`` (a subclass), TOML and ``STRATOS_<NAME>`` parsing, validation on both
sides (the client's ``validate()`` and the daemon's ``spec_from_proto`` apply the same rules),
the proto conversions, the core's ``JobSpec`` defaults and the README's settings table.

Adding a setting: one field here (``name: type = declare(default, "doc", *rules)``). That gives
it ``Settings.name``, ``Processor(name=...)``, TOML and ``STRATOS_NAME``, its checks on both
sides and its README row (``python protos/generate.py`` rewrites the table). A job-scope setting
also needs a field of the same name in ``protos/stratos.proto``'s ``JobSpec`` (then
``python protos/generate.py``) and ``name: type = default("name")`` in ``stratosd/core/model.py``'s
``JobSpec``; ``tests/test_settings_declaration.py`` names whatever is missing. When the proto's
zero value ("", 0) is not a valid value, say ``unset_zero=True``: a spec from a client that
predates the setting then reads as the default, as does a journal (the core's default).

The rules themselves are in ``rules.py``. This module imports nothing heavy (no gRPC, protobuf
or I/O): the daemon's pure core imports it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args, get_origin

from .errors import InvalidJobSpec
from .rules import (
    AbsolutePath,
    Backend,
    Each,
    ExitCodes,
    HostPort,
    MasterForm,
    NotEmpty,
    OneOf,
    Program,
    Range,
    Rule,
    SafeJobId,
    ShellWords,
    backend_of,
    finite,
    is_safe_job_id,
    resolve_program,
)

__all__ = [
    "SETTINGS", "AbsolutePath", "Backend", "DaemonSettings", "Each", "Kind", "MesosMode", "Output", "PathUse",
    "ProcessorSettings", "SafeJobId", "Scope", "Setting", "TlsMode", "backend_of", "check", "collect", "declare",
    "default", "from_env", "from_toml", "from_wire", "invalid", "is_safe_job_id", "markdown_table",
    "resolve_program", "spec_settings", "to_wire", "type_problems",
]

Output = Literal["scheduler", "disk", "mesos", "none"]
TlsMode = Literal["auto", "on", "off"]
MesosMode = Literal["coarse", "fine"]


class Scope(StrEnum):
    """Who a setting belongs to."""

    #: the job's: sent in CreateJob (the ``JobSpec``, or the request's job id) and kept by the daemon.
    JOB = "job"
    #: this client's own: how it reaches the daemon and what it shows; never sent.
    CLIENT = "client"
    #: the daemon's own (several scripts share one daemon): ``[stratosd]`` or ``stratosd run`` flags.
    DAEMON = "daemon"


class Kind(StrEnum):
    """What a setting's value is, read from its type annotation."""

    INT = "int"
    FLOAT = "float"
    STR = "str"
    OPTIONAL_STR = "optional str"
    INTS = "list of int"
    STRS = "list of str"
    SWITCH = "auto or bool"
    BOOL = "bool"


#: how each kind is named in messages.
KIND_WORDS: dict[Kind, str] = {
    Kind.INT: "a whole number",
    Kind.FLOAT: "a number",
    Kind.STR: "a string",
    Kind.OPTIONAL_STR: "a string (or unset)",
    Kind.SWITCH: '"auto", true or false',
    Kind.BOOL: "true or false (in the environment: 1/0, true/false, yes/no, on/off)",
    Kind.INTS: "a list of whole numbers (in the environment: separated by commas)",
    Kind.STRS: "a list of strings (in the environment: separated by commas)",
}


class PathUse(StrEnum):
    """How the client reads a path setting before it sends it (the daemon runs elsewhere)."""

    NONE = ""
    #: an executable: a relative name is looked up in the working directory, then on PATH.
    PROGRAM = "program"
    #: a directory: a relative one is taken from the working directory.
    DIRECTORY = "directory"
    #: a path on this machine that is never sent (socket, state directory).
    LOCAL = "local"


# -- the declaration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Declared:
    """What ``declare`` records; ``Setting`` adds what the field itself says (name, kind, default)."""

    doc: str
    scope: Scope
    rules: tuple[Rule, ...]
    core: str
    unset_zero: bool
    presence: str
    explicit: str
    path: PathUse
    in_spec: bool
    pilot_pool: bool
    booleans: tuple[str, str] | None
    expect: str


def declare(default: Any, doc: str, *rules: Rule, scope: Scope = Scope.JOB, core: str = "",
            unset_zero: bool = False, presence: str = "", explicit: str = "", path: PathUse = PathUse.NONE,
            in_spec: bool = True, pilot_pool: bool = False, booleans: tuple[str, str] | None = None,
            expect: str = "") -> Any:
    """One setting's field: its default, one line of documentation, its rules and how it travels.

    Args:
        default: the default value.
        doc: one line for the README's settings table.
        *rules: what a value must satisfy, checked by the client and the daemon alike.
        scope: whose setting it is.
        core: its field name in the core's ``JobSpec`` when that differs (threads_per_task -> cpus).
        unset_zero: on the wire, the proto's zero value ("", 0) means "not given": the default.
        presence: the proto bool that says the field was sent at all (zero is then a value).
        explicit: the proto bool saying the user set it (a limit, not only a size); the core's
            field is ``<core>_set``.
        path: how the client reads it as a path.
        in_spec: a job setting sent outside the ``JobSpec`` (the job id travels in the request).
        pilot_pool: selects the Slurm pool a job's tasks run in (jobs that differ in it get different
            pools of daemon-owned pilots; max_pilots: the pool allows the largest of its jobs').
        booleans: TOML true/false stand for these two choices.
        expect: the accepted form in the daemon's ``[stratosd]`` messages.
    """
    return field(default=default, metadata={"stratos": _Declared(
        doc, scope, rules, core, unset_zero, presence, explicit, path, in_spec, pilot_pool, booleans, expect)})


_OUTPUT_HINT = ('use "scheduler" to get stdout back in Python, "disk" to keep it in '
                'log_directory, "mesos" to leave it in the Mesos sandbox, "none" to drop it')
_RETRIES = Range(0, False, "0 or more (and below 2**31)")


@dataclass(frozen=True)
class ProcessorSettings:
    """What a script sets: the job's settings (the first eleven are the seed's Processor arguments)
    and the client's own. The client's ``stratos.Settings`` is this plus loading and checking."""

    master: str = declare(
        "local", '"local" (this host), "pilots", "HOST:PORT", "http(s)://HOST:PORT" or "zk://.../mesos" (Mesos), '
        '"slurm" or "slurm://PARTITION"', MasterForm(), unset_zero=True)
    role: str = declare("*", "the Mesos role the job's resources come from",
                        NotEmpty('use "*" for the default Mesos role'), unset_zero=True)
    threads_per_task: int = declare(
        1, "CPU threads allocated to each task", Range(0, True, "a positive number"), core="cpus")
    mem_per_task: float = declare(
        256.0, "memory per task, in MB: a size for packing tasks onto hosts, a limit only when set",
        Range(0, True, "a positive number", " MB"), core="mem", explicit="mem_per_task_set")
    disk_per_task: float = declare(
        256.0, "disk per task, in MB: a size for packing tasks onto hosts, a limit only when set",
        Range(0, True, "a positive number", " MB"), core="disk", explicit="disk_per_task_set")
    monitor: str | None = declare(
        None, "a program run as `monitor PID TASK_OUTPUT` every update_interval seconds", Program(),
        path=PathUse.PROGRAM)
    relauncher: str | None = declare(
        None, "a program run as `relauncher MONITOR_OUTPUT` after the monitor asks for a relaunch", Program(),
        path=PathUse.PROGRAM)
    update_interval: float = declare(
        10.0, "seconds between calls of the monitor", Range(0, True, "a positive number", " s"))
    output: Output = declare(
        "scheduler", "where each task's stdout goes: scheduler, disk, mesos or none",
        OneOf(get_args(Output), _OUTPUT_HINT), unset_zero=True)
    log_directory: str = declare(
        "stratos-logs", 'directory for output="disk"; a relative one is taken from the working directory '
        "and stored absolute", NotEmpty('use "." for the working directory'), AbsolutePath(on_wire_only=True),
        path=PathUse.DIRECTORY)
    job_id: str | None = declare(
        None, "the job's name; unset: the daemon makes a unique `job-N`", SafeJobId(), in_spec=False)
    task_timeout: float = declare(
        0.0, "seconds a task may run before it is stopped (failed, reason timeout); 0: no limit",
        Range(0, False, "0 (no limit) or a number of seconds"))
    timeout_retries: int = declare(0, "how many times a task that timed out is run again", _RETRIES)
    max_retries: int = declare(
        3, "how many times a task whose host, executor or pilot was lost is run again", _RETRIES)
    retries: int = declare(
        0, "how many times a task that exits non-zero or dies of a signal (not a kill) is run again", _RETRIES)
    retry_on_exit: tuple[int, ...] = declare(
        (), "the exit codes `retries` applies to (empty: every non-zero exit and every signal)", ExitCodes())
    after: str | None = declare(
        None, "the id of a job this one runs after: its tasks wait until that job has ended; unset: none",
        SafeJobId())
    run_after_failure: bool = declare(
        False, "run them even when that job failed or was cancelled (otherwise they end failed, unrun)")
    hdfs: str | None = declare(
        None, "the HDFS namenode's WebHDFS URL (http://namenode:9870) or an HdfsCLI alias; unset: no locality")
    hdfs_mount: str = declare(
        "/dfs", "where HDFS is mounted on every node: /dfs/a/b is the HDFS path /a/b", AbsolutePath(dotdot=False),
        unset_zero=True)
    locality_wait: float = declare(
        3.0, "seconds a task with `<[ ]>` files waits for a host holding its data before it takes any",
        Range(0, False, "0 or a number of seconds"), presence="has_locality_wait")
    mesos_mode: MesosMode = declare(
        "coarse", 'Mesos: "coarse" runs the job\'s tasks in one long-lived executor per agent, "fine" makes '
        "each task its own Mesos task", OneOf(get_args(MesosMode), 'use "coarse" (fast, the default) or "fine" '
        "(per-task Mesos accounting)"), unset_zero=True)
    mesos_idle_timeout: float = declare(
        5.0, "Mesos coarse executors: seconds one keeps a room (or, when it runs nothing, itself) with nothing "
        "of the job to run before giving it back", Range(0, True, "a positive number of seconds"), unset_zero=True)
    slurm_account: str = declare(
        "", 'Slurm: the account pilot jobs are charged to ("": the user\'s default)', pilot_pool=True)
    slurm_qos: str = declare("", 'Slurm: the QoS of pilot jobs ("": the default)', pilot_pool=True)
    slurm_time_limit: str = declare(
        "", 'Slurm: each pilot job\'s time limit in Slurm\'s format ("2:00:00"; "": the partition\'s default)',
        pilot_pool=True)
    pilot_cpus: float = declare(
        0.0, "Slurm: cores of each pilot job; 0: one task's",
        Range(0, False, "0 (the task's size) or a positive number"), pilot_pool=True)
    pilot_mem: float = declare(
        0.0, "Slurm: memory (MB) of each pilot job; 0: what its tasks need",
        Range(0, False, "0 (the task's size) or a positive number"), pilot_pool=True)
    max_pilots: int = declare(
        4, "Slurm: at most this many pilot jobs at once (queued or running) in the job's pool (the pool "
        "allows the largest of its active jobs')", Range(1, False, "1 or more"),
        unset_zero=True, pilot_pool=True)
    sbatch_options: str = declare(
        "", 'Slurm: extra sbatch options, as shell words ("--constraint=ib --exclusive")', ShellWords(),
        pilot_pool=True)
    pilot_idle_timeout: float = declare(
        60.0, "Slurm: the least time a pilot with nothing to run waits before it exits by itself (the daemon "
        "stops idle pilots sooner: its slurm idle release)", Range(0, True, "a positive number of seconds"),
        unset_zero=True)
    socket: str | None = declare(
        None, "the daemon's Unix socket; unset: $XDG_RUNTIME_DIR/stratos/stratosd.sock or /tmp/stratos-UID/",
        scope=Scope.CLIENT, path=PathUse.LOCAL)
    state_dir: str | None = declare(
        None, "the daemon's state directory when this client starts it; unset: ~/.local/state/stratos",
        scope=Scope.CLIENT, path=PathUse.LOCAL)
    reconnect_timeout: float = declare(
        30.0, "seconds a client that lost its daemon and may not restart it waits before DaemonUnavailable",
        Range(0, False, "0 or a number of seconds"), scope=Scope.CLIENT)
    progress: bool | Literal["auto"] = declare(
        "auto", 'a progress line on stderr during blocking calls: "auto" (a terminal or notebook), true, false',
        scope=Scope.CLIENT)


@dataclass(frozen=True)
class DaemonSettings:
    """The daemon's own settings: the ``[stratosd]`` table of the settings file (``stratosd run``
    flags win over it). ``Processor(...)`` cannot set them: several scripts share one daemon."""

    executor_listen: str | None = declare(
        None, "HOST:PORT the executor listener binds to, open from the start; unset: opened on demand",
        HostPort(), scope=Scope.DAEMON,
        expect="HOST:PORT the executor listener binds to (port 0: any, kept across restarts)")
    advertise: str | None = declare(
        None, "the HOST or HOST:PORT executors are told to use; unset: the listener's", scope=Scope.DAEMON,
        expect="HOST or HOST:PORT executors are told to use")
    executor_tls: TlsMode = declare(
        "auto", "TLS on executor listeners: auto (on, except on an explicit loopback executor_listen), on, off",
        scope=Scope.DAEMON, booleans=("on", "off"), expect='"auto", "on" or "off" (true/false too)')
    executor_command: str | None = declare(
        None, "how a cluster node starts the executor; unset: this Python with -m stratos_executor",
        scope=Scope.DAEMON, expect="how a cluster node starts the executor")
    executor_tls_ca: str | None = declare(
        None, "with your own TLS certificate: the CA file (its path on the nodes) executors verify it with",
        scope=Scope.DAEMON, expect="path on the nodes of the CA file for an operator's own certificate")
    pilot_failures_before_lost: int = declare(
        3, "Slurm pilot jobs of a job in a row that end without reaching the daemon, while none serves it, "
        "before each waiting task is charged one retry", Range(1, False, "1 or more"), scope=Scope.DAEMON,
        expect="a whole number >= 1: Slurm pilot jobs of a job in a row that end without reaching the daemon, "
               "while none serves it, before its waiting tasks are charged one retry (lost when none are left)")
    slurm_node_wait: float = declare(
        20.0, "Slurm: seconds a pilot asked of the node holding pending tasks' data (sbatch --nodelist) may stay "
        "queued before one on any node replaces it (the jobs' locality_wait when longer)",
        Range(0, False, "0 or a number of seconds"), scope=Scope.DAEMON,
        expect="a number of seconds >= 0: how long a Slurm pilot asked of a data node may stay queued before one "
               "on any node replaces it")


@dataclass(frozen=True)
class Setting:
    """One setting, as the rest of StratOS reads it."""

    name: str
    kind: Kind
    default: Any
    #: the choices of a ``Literal`` type (empty: any value of its kind).
    choices: tuple[str, ...]
    doc: str
    scope: Scope
    rules: tuple[Rule, ...]
    #: its field name in the core's JobSpec (job settings in the spec only).
    core: str
    unset_zero: bool
    presence: str
    explicit: str
    path: PathUse
    in_spec: bool
    pilot_pool: bool
    booleans: tuple[str, str] | None
    expect: str

    @property
    def env(self) -> str:
        """Its environment variable (scripts' settings only)."""
        return "STRATOS_" + self.name.upper()

    @property
    def sent(self) -> bool:
        """Whether it travels in the ``JobSpec``."""
        return self.scope is Scope.JOB and self.in_spec


def _kind_of(hint: Any) -> tuple[Kind, tuple[str, ...]]:
    """A field's kind and choices, from its type annotation."""
    if hint in (int, float, str):
        return Kind(hint.__name__), ()
    if hint is bool:
        return Kind.BOOL, ()
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return Kind.STR, tuple(args)
    if origin is tuple and args == (int, ...):
        return Kind.INTS, ()
    if origin is tuple and args == (str, ...):
        return Kind.STRS, ()
    if origin in (types.UnionType, typing.Union):
        if set(args) == {str, type(None)}:
            return Kind.OPTIONAL_STR, ()
        if bool in args and any(get_origin(a) is Literal for a in args):
            return Kind.SWITCH, ()
    raise TypeError(f"no setting kind for the type {hint!r}")


def collect(*classes: type) -> dict[str, Setting]:
    out: dict[str, Setting] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            d: _Declared = f.metadata["stratos"]
            kind, choices = _kind_of(hints[f.name])
            rules = tuple(dataclasses.replace(r, whole=True) if isinstance(r, Range) and kind is Kind.INT else r
                          for r in d.rules)
            if choices and not any(isinstance(r, OneOf) for r in rules):
                rules = (OneOf(choices), *rules)
            out[f.name] = Setting(
                f.name, kind, f.default, choices, d.doc, d.scope, rules,
                (d.core or f.name) if d.scope is Scope.JOB and d.in_spec else "", d.unset_zero, d.presence,
                d.explicit, d.path, d.in_spec, d.pilot_pool, d.booleans, d.expect)
    return out


#: every setting by name: the script's (job and client) first, then the daemon's.
SETTINGS: dict[str, Setting] = collect(ProcessorSettings, DaemonSettings)


def default(name: str) -> Any:
    """A setting's default (the core's JobSpec takes its defaults from here)."""
    return SETTINGS[name].default


def spec_settings() -> list[Setting]:
    """The settings the ``JobSpec`` carries, in declaration order."""
    return [s for s in SETTINGS.values() if s.sent]


# -- reading values -----------------------------------------------------------------------------------


def has_kind(value: object, kind: Kind) -> bool:
    """Whether ``value`` is of ``kind`` (booleans are not numbers)."""
    if kind is Kind.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is Kind.FLOAT:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is Kind.STR:
        return isinstance(value, str)
    if kind is Kind.SWITCH:
        return isinstance(value, bool) or value == "auto"
    if kind is Kind.BOOL:
        return isinstance(value, bool)
    if kind is Kind.INTS:
        return isinstance(value, list | tuple) and all(has_kind(v, Kind.INT) for v in value)
    if kind is Kind.STRS:
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    return value is None or isinstance(value, str)


def from_toml(setting: Setting, value: Any) -> Any:
    """A TOML value as the setting's value; raises ValueError when it is of another kind."""
    if setting.booleans is not None and isinstance(value, bool):
        return setting.booleans[0] if value else setting.booleans[1]
    if not has_kind(value, setting.kind):
        raise ValueError(value)
    if setting.kind is Kind.FLOAT:
        return float(value) if finite(value) else value  # an int too large for a float: the rules refuse it
    if setting.kind in (Kind.INTS, Kind.STRS):
        return tuple(value)
    return value


def _switch_word(text: str) -> bool | Literal["auto"]:
    """auto, or a yes/no word (1/0, true/false, yes/no, on/off)."""
    word = text.lower()
    if word == "auto":
        return "auto"
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


_UNSET = object()


def from_env(setting: Setting, raw: str) -> Any:
    """A ``STRATOS_<NAME>`` value; raises ValueError when unreadable.

    Returns ``_UNSET`` for an empty value of a required setting (it leaves the setting alone);
    empty clears an optional one.
    """
    text = raw.strip()
    if not text:
        return None if setting.kind is Kind.OPTIONAL_STR else _UNSET
    if setting.kind is Kind.INT:
        return int(text)
    if setting.kind is Kind.FLOAT:
        return float(text)
    if setting.kind is Kind.SWITCH:
        return _switch_word(text)
    if setting.kind is Kind.BOOL:
        word = _switch_word(text)
        if word == "auto":
            raise ValueError(text)
        return word
    if setting.kind is Kind.INTS:
        return tuple(int(part) for part in text.split(",") if part.strip())
    if setting.kind is Kind.STRS:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text


def is_unset(value: object) -> bool:
    """``from_env``'s answer for an empty value of a required setting."""
    return value is _UNSET


def to_wire(setting: Setting, value: Any) -> Any:
    """The value as the ``JobSpec`` field holds it (None is "", tuples are lists)."""
    if value is None:
        return ""
    if setting.kind in (Kind.INTS, Kind.STRS):
        return list(value)
    return value


def from_wire(setting: Setting, raw: Any) -> Any:
    """A ``JobSpec`` field as the setting's value; raises ValueError when it is not one.

    A whole-number setting carried in a double field must hold a whole number.
    """
    if setting.kind is Kind.OPTIONAL_STR:
        return raw or None
    if setting.kind in (Kind.INTS, Kind.STRS):
        return tuple(raw)
    if setting.kind is Kind.INT and isinstance(raw, float):
        if not raw.is_integer():
            raise ValueError(raw)
        return int(raw)
    if setting.kind is Kind.FLOAT:
        return float(raw)
    return raw


def unset_on_wire(setting: Setting, raw: Any, sent: bool = True) -> bool:
    """Whether a ``JobSpec`` field means "not given" (the daemon then takes the default)."""
    if setting.presence:
        return not sent
    return (setting.unset_zero or setting.kind is Kind.OPTIONAL_STR) and not raw


# -- checking values ----------------------------------------------------------------------------------


def type_problems(values: Mapping[str, Any], settings: Iterable[Setting]) -> list[str]:
    """One line per value of the wrong kind."""
    return [f"{s.name} must be {KIND_WORDS[s.kind]}, got {values[s.name]!r}"
            for s in settings if not has_kind(values[s.name], s.kind)]


def check(values: Mapping[str, Any], settings: Iterable[Setting], *, wire: bool) -> list[str]:
    """One line per broken rule; values of the wrong kind are ``type_problems``'.

    Args:
        values: setting name -> value (each of its kind).
        settings: the settings to check.
        wire: the daemon's side: paths must already be absolute.
    """
    problems = []
    for s in settings:
        value = values[s.name]
        if value is None:
            continue
        for rule in s.rules:
            problem = rule.problem(s.name, value, wire)
            if problem is not None:
                problems.append(problem)
                break
    return problems


def invalid(problems: list[str]) -> InvalidJobSpec:
    """The error both sides raise for broken settings: one line per problem."""
    return InvalidJobSpec("invalid StratOS settings:\n  " + "\n  ".join(problems))


# -- the README's table -------------------------------------------------------------------------------


def shown(value: Any) -> str:
    """A default as the README shows it (TOML's spelling; unset for None)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]`"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def markdown_table() -> str:
    """The README's settings table: every setting, its default, whose it is and what it does."""
    lines = ["| setting | default | scope | what |", "| --- | --- | --- | --- |"]
    for s in SETTINGS.values():
        scope = s.scope.value + (", pilot pool" if s.pilot_pool else "")
        lines.append(f"| `{s.name}` | {shown(s.default)} | {scope} | {s.doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
