"""The daemon's own settings: the ``[stratosd]`` table of the settings file.

These belong to the daemon, not to a job (several scripts share one daemon), so
``Processor(...)`` cannot set them; ``stratosd run`` flags win over the file. They are
declared with every other setting in ``stratos_wire.settings`` (``DaemonSettings``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from stratos_wire import paths as _paths
from stratos_wire import settings as declared
from stratos_wire.errors import InvalidJobSpec
from stratos_wire.settings import SETTINGS, Kind, Scope

#: key -> the accepted form, as the messages name it.
KEYS: dict[str, str] = {s.name: s.expect or declared.KIND_WORDS[s.kind]
                        for s in SETTINGS.values() if s.scope is Scope.DAEMON}


def _check(key: str, value: Any) -> str:
    """The value as text (what ``stratosd run`` flags give); raises ValueError when it is not one."""
    setting = SETTINGS[key]
    value = declared.from_toml(setting, value)
    if declared.check({key: value}, [setting], wire=True):
        raise ValueError(value)
    return "" if value is None else str(value)


def parse(data: dict[str, Any], source: str = "the settings file") -> dict[str, str]:
    """The ``[stratosd]`` table of parsed TOML, checked; raises InvalidJobSpec naming every problem."""
    table = data.get("stratosd", {})
    if not isinstance(table, dict):
        raise InvalidJobSpec(f"{source}: 'stratosd' must be a table ([stratosd])")
    out: dict[str, str] = {}
    problems = []
    for key, value in table.items():
        if key not in KEYS:
            problems.append(f"{key!r} is not a daemon setting (known: {', '.join(KEYS)})")
            continue
        try:
            out[key] = _check(key, value)
        except ValueError:
            problems.append(f"{key} must be {KEYS[key]}, got {value!r}")
    if problems:
        raise InvalidJobSpec(f"{source} [stratosd]: " + "; ".join(problems))
    return out


def from_flag(key: str, text: str) -> str:
    """A ``stratosd run`` flag's value, checked by the rules the ``[stratosd]`` table follows."""
    setting = SETTINGS[key]
    value: Any = text
    if setting.kind in (Kind.INT, Kind.FLOAT):
        try:
            value = int(text) if setting.kind is Kind.INT else float(text)
        except ValueError:
            value = None
    if value is None or declared.check({key: value}, [setting], wire=True):
        raise InvalidJobSpec(f"--{key.replace('_', '-')} must be {KEYS[key]}, got {text!r}")
    return text


def load(path: Path | None = None) -> dict[str, str]:
    """The daemon settings from ``path``, else $STRATOS_CONFIG, else the default file (if any)."""
    if path is None:
        explicit = os.environ.get("STRATOS_CONFIG")
        path = Path(explicit).expanduser() if explicit else _paths.config_path()
        if not explicit and not path.is_file():
            return {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InvalidJobSpec(f"cannot read settings file {path}: {err}") from err
    return parse(data, str(path))
