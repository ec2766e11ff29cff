"""A real stratosd in a subprocess, with its own socket and state directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import grpc
import pytest

from stratos_wire import PROTOCOL_VERSION
from stratos_wire import stratos_pb2 as pb
from tests.rpc import stratos_stub


class Daemon:
    """Starts `python -m stratosd run` and stops it by its PID (never anything else)."""

    def __init__(self, *args: str, cpus: float = 2, root: Path | None = None) -> None:
        # Unix socket paths are limited to 107 bytes: keep the root short.
        self.root = root or Path(tempfile.mkdtemp(prefix="st-", dir="/tmp"))
        os.chmod(self.root, 0o700)
        self.socket = self.root / "run" / "stratosd.sock"
        self.state_dir = self.root / "state"
        self.args = [*args, "--cpus", str(cpus)]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"STRATOS_SOCKET": str(self.socket), "STRATOS_STATE_DIR": str(self.state_dir),
                "STRATOS_NO_AUTOSTART": "1"}

    def start(self, timeout: float = 20) -> Daemon:
        log = open(self.root / "daemon.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stratosd", "run", "--state-dir", str(self.state_dir),
             "--socket", str(self.socket), *self.args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stratosd exited: {self.log()}")
            if self.socket.exists() and self.hello() is not None:
                return self
            time.sleep(0.02)
        raise RuntimeError(f"stratosd did not start: {self.log()}")

    def hello(self) -> pb.HelloReply | None:
        with grpc.insecure_channel(f"unix:{self.socket}") as channel:
            try:
                return stratos_stub(channel).Hello(pb.HelloRequest(protocol_version=PROTOCOL_VERSION), timeout=2)
            except grpc.RpcError:
                return None

    def log(self) -> str:
        path = self.root / "daemon.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


D = TypeVar("D", bound=Daemon)


def pointed_at(d: D, monkeypatch: pytest.MonkeyPatch) -> Iterator[D]:
    """Start ``d`` and point the client in this process at it while the caller runs; stop it after."""
    d.start()
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    try:
        yield d
    finally:
        d.cleanup()


def daemon_fixture(*args: str, name: str = "daemon") -> Any:
    """A pytest fixture: a fresh daemon started with ``args``, the client in this process pointed at it."""

    @pytest.fixture(name=name)
    def fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
        yield from pointed_at(Daemon(*args), monkeypatch)

    return fixture


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll ``probe`` until it returns something true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Proc(NamedTuple):
    """A process found by its environment: what the tests tell processes apart by."""

    pid: int
    argv: list[bytes]
    #: its state letter ("Z": a zombie) and its parent's pid, from /proc/PID/stat.
    state: bytes
    parent: int


def processes_with(variable: str) -> list[Proc]:
    """Every process whose environment holds ``variable`` ("NAME=value"), so that a test signals
    or counts only what it started; one that ends while it is read is left out."""
    needle = variable.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            found.append(Proc(int(entry), argv, fields[0], int(fields[1])))
        except (OSError, ValueError, IndexError):
            continue
    return found


def processes_of(job_id: str) -> list[int]:
    """PIDs whose environment says they belong to this job's tasks (the executor sets STRATOS_JOB_ID)."""
    return [p.pid for p in processes_with(f"STRATOS_JOB_ID={job_id}")]
