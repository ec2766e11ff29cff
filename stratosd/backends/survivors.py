"""Tasks that outlived a crashed daemon on this host: found by their environment, then killed.

Every task the daemon starts here carries `STRATOS_TASK_KEY=<daemon instance>:<job>:<task>:<attempt>`
in its environment. After a `kill -9` of the daemon its tasks may still run; before the
restarted daemon runs them again it kills their process groups, so a task never runs as
two live copies (the local backend's recovery is "run again exactly once").
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

KEY_VARIABLE = "STRATOS_TASK_KEY"


def find(instance: str) -> dict[int, str]:
    """pid -> task key of every process on this host that belongs to this daemon instance."""
    prefix = f"{KEY_VARIABLE}={instance}:".encode()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                found[int(entry)] = item.split(b"=", 1)[1].decode(errors="replace")
                break
    return found


def kill(instance: str, timeout: float = 10.0) -> int:
    """SIGKILL the process groups of this instance's surviving tasks; wait until they are gone."""
    survivors = find(instance)
    for pid in survivors:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while survivors and time.monotonic() < deadline and find(instance):
        time.sleep(0.02)
    return len(survivors)
