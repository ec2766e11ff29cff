"""The daemon's own settings: the ``[stratosd]`` table of the settings file.

These belong to the daemon, not to a job (several scripts share one daemon), so
``Processor(...)`` cannot set them; ``stratosd run`` flags win over the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from stratos_wire import paths as _paths
from stratos_wire.errors import InvalidJobSpec

#: key -> (type words, check)
KEYS: dict[str, str] = {
    "executor_listen": "HOST:PORT the executor listener binds to (port 0: any, kept across restarts)",
    "advertise": "HOST or HOST:PORT executors are told to use",
    "executor_tls": '"auto", "on" or "off" (true/false too)',
    "executor_command": "how a cluster node starts the executor",
    "executor_tls_ca": "path on the nodes of the CA file for an operator's own certificate",
    "pilot_failures_before_lost": "a whole number >= 1: Slurm pilot jobs of a job in a row that end without "
                                  "reaching the daemon, while none serves it, before its waiting tasks are "
                                  "charged one retry (lost when none are left)",
}


def _check(key: str, value: Any) -> str:
    if key == "executor_tls":
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str) and value in ("auto", "on", "off"):
            return value
        raise ValueError
    if key == "pilot_failures_before_lost":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError
        return str(value)
    if not isinstance(value, str):
        raise ValueError
    if key == "executor_listen" and value:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError
    return value


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
