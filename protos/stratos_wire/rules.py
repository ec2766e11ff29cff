"""What a setting's value must satisfy: the rules the client and the daemon both apply.

Each rule is a small typed object: ``problem(name, value, wire)`` says what is wrong with a value
of the setting's kind (None when nothing is), and ``samples()`` gives values on both sides of
its boundaries, from which the tests generate their cases. ``wire`` is True on the daemon's side,
where the client has already made paths absolute. ``settings.py`` attaches rules to settings.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import InvalidJobSpec

__all__ = [
    "AbsolutePath", "Backend", "Each", "ExitCodes", "HostPort", "MasterForm", "NotEmpty", "OneOf", "Program",
    "Range", "Rule", "SafeJobId", "ShellWords", "backend_of", "finite", "is_safe_job_id", "resolve_program",
]

Backend = Literal["local", "pilots", "mesos", "slurm"]

_INT_LIMIT = 1 << 31  # int32/uint32 proto fields; nobody means more
_FLOAT_LIMIT = 1e15   # beyond it a float is a typo (or an int too large to be a float)


def finite(value: float) -> bool:
    """math.isfinite, also for integers too large for a float (they are not settings either)."""
    try:
        return math.isfinite(value) and abs(value) < _FLOAT_LIMIT
    except OverflowError:
        return False


@dataclass(frozen=True)
class Range:
    """A finite number at least ``lowest`` (above it when ``above``); a whole number below 2**31."""

    lowest: float
    above: bool
    #: what the value must be, for the message ("a positive number").
    need: str
    #: the unit shown after the value in the message (" MB").
    unit: str = ""
    #: set for whole-number settings (from their type): they travel in 32-bit proto fields.
    whole: bool = False

    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        fits = finite(value) and (value > self.lowest if self.above else value >= self.lowest)
        if fits and (not self.whole or value < _INT_LIMIT):
            return None
        return f"{name}={value!r}{self.unit} must be {self.need}"

    def samples(self) -> list[Any]:
        low = self.lowest
        return [low, low + 1, low - 1, low + 0.5, low - 0.5, math.nan, math.inf, -math.inf, 10**400,
                _INT_LIMIT - 1, _INT_LIMIT, 3 * 10**9, 1e16]


@dataclass(frozen=True)
class OneOf:
    """One of the setting's choices (its ``Literal`` type)."""

    choices: tuple[str, ...]
    #: what each choice does, after the list.
    hint: str = ""

    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        if value in self.choices:
            return None
        return f"{name} {value!r} is not one of {', '.join(self.choices)}" + (f": {self.hint}" if self.hint else "")

    def samples(self) -> list[Any]:
        return [*self.choices, "bogus", self.choices[0].upper(), ""]


@dataclass(frozen=True)
class NotEmpty:
    hint: str

    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        return None if value else f"{name} must not be empty: {self.hint}"

    def samples(self) -> list[Any]:
        return ["", "x"]


@dataclass(frozen=True)
class AbsolutePath:
    """An absolute path (the daemon normalises it); with ``on_wire_only``, only once the client has
    made it absolute; with ``dotdot=False`` without ``..`` (a mount point must name itself)."""

    on_wire_only: bool = False
    dotdot: bool = True

    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        if self.on_wire_only and not wire:
            return None
        if not os.path.isabs(value):
            return f"{name}={value!r} must be an absolute path"
        if not self.dotdot and ".." in value.split("/"):
            return f"{name}={value!r} must be an absolute path without '..'"
        return None

    def samples(self) -> list[Any]:
        return ["/dfs", "/mnt/hdfs/", "dfs", "/a/../b", "relative/dir", "/", "//x//y/"]


@dataclass(frozen=True)
class Program:
    """An executable file; a relative name is resolved by the client (the daemon gets it absolute)."""

    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        found = resolve_program(value) if not wire else (value if os.path.isabs(value) and _executable(value)
                                                          else None)
        if found is not None:
            return None
        return (f"{name} {value!r} is not an executable file: give the full path of the "
                f"program and make it executable (chmod +x)")

    def samples(self) -> list[Any]:
        return ["/bin/sh", "sh", "/etc/passwd", "/no/such/program", "no-such-program-here", "/"]


@dataclass(frozen=True)
class MasterForm:
    """A ``master`` value of a known form (``backend_of``)."""

    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        try:
            backend_of(value)
        except InvalidJobSpec as err:
            return str(err).rstrip(".")
        return None

    def samples(self) -> list[Any]:
        return ["local", "pilots", "foam:5050", "[::1]:5050", "http://foam:5050", "zk://h1:2181,h2:2181/mesos",
                "slurm", "slurm://gpu", "", "foam", "foam:0", "ftp://x", "slurm://a b", "zk://h1/mesos", "Local",
                "my_host:5050"]


@dataclass(frozen=True)
class SafeJobId:
    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        if is_safe_job_id(value):
            return None
        return (f"{name} {value!r} is not a safe name: use 1-128 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit, without '..'")

    def samples(self) -> list[Any]:
        return ["demo", "map.1", "x" * 128, "x" * 129, "", "../etc", ".hidden", "a..b", "a b"]


@dataclass(frozen=True)
class ShellWords:
    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        try:
            shlex.split(value)
        except ValueError as err:
            return f"{name} {value!r} are not shell words ({err})"
        return None

    def samples(self) -> list[Any]:
        return ["--constraint=ib --exclusive", "'unclosed", ""]


@dataclass(frozen=True)
class ExitCodes:
    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        if not all(-_INT_LIMIT <= code < _INT_LIMIT for code in value):
            return f"{name}={value!r} must hold exit codes (1 to 255)"
        if 0 in value:
            return f"{name} holds 0: exit code 0 is success and never retried; remove it"
        return None

    def samples(self) -> list[Any]:
        return [(75, 111), (0,), (1, 0), (_INT_LIMIT,), (-1,)]


@dataclass(frozen=True)
class HostPort:
    """``HOST:PORT`` (or empty)."""

    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        if not value:
            return None
        host, sep, port = value.rpartition(":")
        return None if sep and host and port.isdigit() else f"{name} {value!r} is not HOST:PORT"

    def samples(self) -> list[Any]:
        return ["0.0.0.0:7070", "[::1]:0", "7070", "host:", ":7070", ""]


@dataclass(frozen=True)
class Each:
    """``rule`` for every item of a list setting."""

    rule: SafeJobId | NotEmpty | HostPort | MasterForm

    def problem(self, name: str, value: Any, wire: bool) -> str | None:
        for item in value:
            problem = self.rule.problem(name, item, wire)
            if problem is not None:
                return problem
        return None

    def samples(self) -> list[Any]:
        return [(), *((v,) for v in self.rule.samples()), tuple(self.rule.samples()[:2])]


#: what a setting's ``rules`` may hold; each has ``problem(name, value, wire)`` and ``samples()`` (tests).
Rule = (Each | Range | OneOf | NotEmpty | AbsolutePath | Program | MasterForm | SafeJobId | ShellWords | ExitCodes
        | HostPort)


# -- what the rules ask ------------------------------------------------------------------------------

#: a job id names files and directories (sandboxes, log directories): letters, digits, ``_.-``.
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def is_safe_job_id(job_id: str) -> bool:
    """Whether ``job_id`` can name files and directories without escaping them."""
    return JOB_ID.fullmatch(job_id) is not None and ".." not in job_id


def _executable(path: str) -> bool:
    try:
        return os.path.isfile(path) and os.access(path, os.X_OK)
    except (OSError, ValueError):
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
