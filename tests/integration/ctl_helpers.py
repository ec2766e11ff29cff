"""Helpers for integration tests that drive real processes: stratosctl, child Pythons, /proc.

Everything here talks to a real daemon (``tests.daemon.Daemon``) through real
subprocesses; nothing is mocked. Waiting is always a poll with a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from tests.daemon import Daemon

T = TypeVar("T")

#: how stratosctl is run: the module, with this interpreter (the console script in
#: .venv/bin is the same entry point, ``stratos.ctl:main``).
STRATOSCTL: tuple[str, ...] = (sys.executable, "-m", "stratos.ctl")
#: the repository root: child processes run there so ``tests`` is importable.
REPO = Path(__file__).resolve().parents[2]


def unique_id(prefix: str) -> str:
    """A job id no other test (or concurrently running suite) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def child_env(daemon: Daemon) -> dict[str, str]:
    """This process's environment pointed at ``daemon`` (and never starting another one)."""
    env = {**os.environ, **daemon.env}
    env.pop("STRATOS_JOB_ID", None)  # a Settings source; never inherit one by accident
    return env


def run_ctl(
    daemon: Daemon,
    *args: str,
    timeout: float = 30.0,
    stdin: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``stratosctl ARGS`` against ``daemon`` with stdout piped; never raises on exit status.

    ``extra_env`` overrides variables of the daemon's environment (e.g. another socket).
    """
    return subprocess.run(
        [*STRATOSCTL, *args],
        env={**child_env(daemon), **(extra_env or {})},
        cwd=REPO,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_ctl(daemon: Daemon, *args: str) -> subprocess.Popen[str]:
    """Start ``stratosctl ARGS`` in the background (stdout and stderr piped)."""
    return subprocess.Popen(
        [*STRATOSCTL, *args],
        env=child_env(daemon),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_ctl_many(
    daemon: Daemon, argvs: Sequence[Sequence[str]], timeout: float = 30.0
) -> list[tuple[int, str, str]]:
    """Run several ``stratosctl`` commands at once; return (status, stdout, stderr) of each."""
    procs = [start_ctl(daemon, *argv) for argv in argvs]
    try:
        return [finish(proc, timeout) for proc in procs]
    finally:
        for proc in procs:
            reap(proc)


def start_python(daemon: Daemon, code: str, *args: str) -> subprocess.Popen[str]:
    """Start a child Python running ``code`` (dedented) with ``args`` as sys.argv[1:]."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=child_env(daemon),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str, str]:
    """Wait for ``proc`` (killing it by its PID if it overruns); return (status, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"{proc.args!r} did not end within {timeout} s\nstdout: {out}\nstderr: {err}"
        ) from None
    return proc.returncode, out, err


def reap(proc: subprocess.Popen[str]) -> None:
    """End ``proc`` by its PID if it still runs, and collect it (test cleanup)."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def poll(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02
) -> T:
    """Call ``probe`` until it returns something truthy, or fail after ``timeout`` seconds.

    Args:
        probe: returns a falsy value while the awaited condition does not hold.
        timeout: seconds before giving up.
        what: the condition, for the failure message.
        interval: seconds between calls.

    Returns:
        The first truthy value ``probe`` returned.
    """
    deadline = time.monotonic() + timeout
    last = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what} (last: {last!r})")
        time.sleep(interval)
        last = probe()
    return last


def job_pids(job_id: str) -> list[int]:
    """PIDs of the live processes whose environment says they are tasks of ``job_id``.

    The executor sets STRATOS_JOB_ID in every task's environment, so this finds a task's
    processes wherever they are in the process tree. Zombies (empty environ) are skipped.
    """
    needle = f"STRATOS_JOB_ID={job_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def no_traceback(stderr: str) -> bool:
    """Whether stderr is free of a Python traceback."""
    return "Traceback" not in stderr
