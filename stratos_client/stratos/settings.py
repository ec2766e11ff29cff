"""Every Processor parameter in one object, and where its values come from.

Values are layered: the defaults, then a TOML file, then ``STRATOS_<NAME>`` environment
variables, then the arguments given to ``Processor``. Loading never fails on a bad value it
can skip (so ``stratosctl`` keeps working with a half-broken config); ``validate()`` reports
every such problem, and ``Processor`` always validates.

The settings themselves (names, types, defaults, rules, documentation) are declared once, in
``stratos_wire.settings``, which the daemon checks against too; this module loads and sends them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratos_wire import settings as declared
from stratos_wire import stratos_pb2 as pb
from stratos_wire.paths import config_path
from stratos_wire.settings import (
    SETTINGS,
    Backend,
    Kind,
    Output,
    PathUse,
    ProcessorSettings,
    Scope,
    backend_of,
    resolve_program,
)

from .errors import InvalidJobSpec

__all__ = ["Backend", "Output", "Settings", "backend_of"]

OUTPUTS: tuple[str, ...] = SETTINGS["output"].choices
#: what a script may set: the job's settings and the client's own.
_MINE = [s for s in SETTINGS.values() if s.scope is not Scope.DAEMON]
_NAMES = [s.name for s in _MINE]
_PATHS = [s.name for s in _MINE if s.path is not PathUse.NONE]
_LISTS = [s.name for s in _MINE if s.kind in (Kind.INTS, Kind.STRS)]


@dataclass(frozen=True)
class Settings(ProcessorSettings):
    """The parameters of a job (a Processor) and how to reach the daemon.

    Every field, its default and its meaning: ``stratos_wire.settings.ProcessorSettings``
    (and the README's settings table).
    """

    #: problems found while loading (unknown keys, unconvertible values); reported by
    #: validate() so a broken config file only stops the code that needs it.
    _problems: tuple[str, ...] = field(default=(), repr=False, compare=False)
    #: settings the user gave (file, environment, argument) rather than left at their defaults.
    _explicit: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in _PATHS:
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, name, os.fspath(value))
        for name in _LISTS:  # a list (or set) from the caller or a file
            value = getattr(self, name)
            if isinstance(value, list | set | frozenset):
                object.__setattr__(self, name, tuple(sorted(value) if SETTINGS[name].kind is Kind.INTS
                                                     or not isinstance(value, list) else value))

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

        Never fails: a field the spec leaves at a zero the setting cannot hold (an older
        daemon's spec, say) reads as the default.

        Args:
            spec: the job's spec.
            **extra: settings the spec does not carry (job_id, socket, state_dir).

        Returns:
            The settings.
        """
        values: dict[str, Any] = {}
        explicit = []
        for s in declared.spec_settings():
            raw = getattr(spec, s.name)
            sent = getattr(spec, s.presence) if s.presence else True
            try:
                value = s.default if declared.unset_on_wire(s, raw, sent) else declared.from_wire(s, raw)
            except ValueError:
                value = round(raw)
            if not raw and declared.check({s.name: value}, [s], wire=True):
                value = s.default
            values[s.name] = value
            if s.explicit and getattr(spec, s.explicit):
                explicit.append(s.name)
        return cls(**values, **extra, _explicit=frozenset(explicit))

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
            if name not in _NAMES:
                raise InvalidJobSpec(_unknown_message(name, "is not a Processor setting"))
        return dataclasses.replace(self, **changes, _explicit=self._explicit | frozenset(changes))

    def is_set(self, name: str) -> bool:
        """Whether the user gave ``name`` (argument, settings file, environment, or a non-default value).

        mem_per_task and disk_per_task are limits a task is stopped at only when set;
        left at their defaults they are sizes for packing tasks onto hosts.
        """
        return name in self._explicit or getattr(self, name) != SETTINGS[name].default

    def validate(self) -> Settings:
        """Check every value, so a mistake is reported before any task is created.

        The rules are the daemon's own (``stratos_wire.settings``).

        Returns:
            ``self``, for chaining.

        Raises:
            InvalidJobSpec: with one line per problem, each naming the bad value and the fix.
        """
        values = {name: getattr(self, name) for name in _NAMES}
        problems = list(self._problems)
        problems += declared.type_problems(values, _MINE)
        if not problems:
            problems += declared.check(values, _MINE, wire=False)
        if self.after is not None and self.after == self.job_id:  # the one rule across two settings
            problems.append(f"after={self.after!r} is this job's own id: a job runs after another job")
        if problems:
            raise declared.invalid(problems)
        return self

    def to_proto(self, cwd: str | None = None) -> pb.JobSpec:
        """The spec sent in CreateJob, with relative paths made absolute.

        Args:
            cwd: the directory relative paths are resolved against; None: ``os.getcwd()``.

        Returns:
            The spec.
        """
        base = Path(cwd or os.getcwd())
        fields: dict[str, Any] = {}
        for s in declared.spec_settings():
            value = getattr(self, s.name)
            if s.path is PathUse.PROGRAM and value is not None:
                value = resolve_program(value, str(base)) or value
            elif s.path is PathUse.DIRECTORY:
                value = _absolute(s.name, value, base)
            fields[s.name] = declared.to_wire(s, value)
            if s.presence:
                fields[s.presence] = True
            if s.explicit:
                fields[s.explicit] = self.is_set(s.name)
        return pb.JobSpec(**fields)


def _absolute(name: str, value: str, base: Path) -> str:
    """A directory setting made absolute against ``base`` (the daemon runs elsewhere)."""
    try:
        path = Path(value).expanduser()
    except RuntimeError:
        raise InvalidJobSpec(f"{name} {value!r}: no such user's home directory") from None
    except ValueError as err:  # a NUL byte
        raise InvalidJobSpec(f"{name} {value!r} is not a usable path ({err})") from None
    return str(path if path.is_absolute() else base / path)


def _unknown_message(name: str, what: str) -> str:
    import difflib  # only for a mistake's message

    close = difflib.get_close_matches(name, _NAMES, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"valid names: {', '.join(_NAMES)}"
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
    import tomllib  # only when a settings file exists: most scripts have none

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
        if key not in _NAMES:
            problems.append(f"{file}: " + _unknown_message(key, "is not a StratOS setting"))
            continue
        setting = SETTINGS[key]
        try:
            values[key] = declared.from_toml(setting, value)
        except ValueError:
            problems.append(f"{file}: {key} must be {declared.KIND_WORDS[setting.kind]}, got {value!r}")


def _read_env(values: dict[str, Any], problems: list[str]) -> None:
    for setting in _MINE:
        raw = os.environ.get(setting.env)
        if raw is None:
            continue
        try:
            value = declared.from_env(setting, raw)
        except ValueError:
            problems.append(f"{setting.env}={raw!r} is not {declared.KIND_WORDS[setting.kind]}; fix or unset it")
            continue
        if not declared.is_unset(value):
            values[setting.name] = value
