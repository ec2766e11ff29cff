"""Shared helpers for the executor tests: specs, running a runner under either loop, /proc scans."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from stratos_executor.spec import TaskRecord, TaskSpec
from stratos_executor.supervisor import TaskRunner

T = TypeVar("T")
LOOPS = ["asyncio", "uvloop"]


def make_spec(tmp_path: Path, command: str, **overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "job_id": "job-1",
        "task_id": 7,
        "attempt": 2,
        "command": command,
        "cwd": str(tmp_path),
        "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        "threads": 3,
        "output": "scheduler",
        "sandbox": str(tmp_path / "sandbox"),
        "kill_grace": 1.0,
    }
    fields.update(overrides)
    return TaskSpec(**fields)


def run_loop(main: Callable[[], Coroutine[Any, Any, T]], loop: str = "asyncio") -> T:
    if loop == "uvloop":
        return uvloop.run(main())
    return asyncio.run(main())


def run_task(
    spec: TaskSpec, loop: str = "asyncio", on_started: Callable[[int, float], None] | None = None
) -> TaskRecord:
    async def main() -> TaskRecord:
        return await TaskRunner(spec, on_started=on_started).run()

    return run_loop(main, loop)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def pids_with_arg(marker: str) -> list[int]:
    """Live processes whose command line contains ``marker`` (zombies have an empty cmdline)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry == str(os.getpid()):
            continue
        if marker.encode() in _read(f"/proc/{entry}/cmdline"):
            found.append(int(entry))
    return found


def pids_in_group(pgid: int) -> list[int]:
    """Members of a process group that can still run code.

    Zombies (waiting for init to reap them) do not count, nor do processes
    already inside exit() that gave up their memory (empty cmdline): they
    closed their files, so the runner may legitimately see EOF before they
    turn into zombies.
    """
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            if stat:
                fields = stat.rsplit(b")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != b"Z" and _read(f"/proc/{entry}/cmdline"):
                    found.append(int(entry))
    return found


def write_script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)
