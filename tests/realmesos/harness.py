"""A real Apache Mesos 1.11 master with agents on loopback, for the tests marked `mesos`.

`ensure_setup()` runs setup.sh once (the result is cached on disk, see README.md);
`RealMesos(...).start()` runs start_master.sh on a free 127.0.0.1 port and waits until the
master is up with all its agents; `real_mesos_fixture()` makes a pytest fixture of the two.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

HERE = Path(__file__).resolve().parent
SETUP_SH = HERE / "setup.sh"
START_SH = HERE / "start_master.sh"
DEFAULT_RESOURCES = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
READY_LINE = "[run_local] READY"


class RealMesosError(RuntimeError):
    """Setup or start failed; the message carries the relevant log."""


def cache_dir() -> Path:
    """Where setup.sh prepares Mesos: $STRATOS_REALMESOS_DIR, else the user cache directory."""
    explicit = os.environ.get("STRATOS_REALMESOS_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stratos-realmesos"


def _tail(text: str, limit: int = 6000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group `proc` leads (it was started with start_new_session), then
    SIGKILL after `grace` seconds. Only signals while `proc` is unreaped, so its PID (= the
    group id) cannot have been reused by anything else."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            return


_setup_lock = threading.Lock()
_setup_done: dict[Path, Path] = {}


def ensure_setup(directory: Path | None = None, timeout: float = 420) -> Path:
    """Run setup.sh into `directory` (default `cache_dir()`) unless it already ran in this process;
    returns the prepared directory. Raises RealMesosError with setup.sh's output on failure."""
    target = (directory or cache_dir()).expanduser()
    with _setup_lock:
        if target in _setup_done:
            return _setup_done[target]
        env = dict(os.environ)
        # patch_versions.py and the psycopg2 wheel download need a Python 3 with pip: ours has one.
        if importlib.util.find_spec("pip") is not None:
            env.setdefault("PY3", sys.executable)
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(["bash", str(SETUP_SH), str(target)], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _stop_group(proc, grace=5)
                rc = None
            out.seek(0)
            output = out.read().decode(errors="replace")
        if rc != 0:
            why = f"timed out after {timeout:.0f} s" if rc is None else f"exited with status {rc}"
            raise RealMesosError(f"tests/realmesos/setup.sh {target} {why}:\n{_tail(output)}")
        lines = output.strip().splitlines()
        prepared = Path(lines[-1]) if lines else target
        if not (prepared / ".ready").exists():
            raise RealMesosError(f"setup.sh finished but {prepared}/.ready is missing:\n{_tail(output)}")
        _setup_done[target] = prepared
        return prepared


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RealMesos:
    """One real Mesos master plus agents in a single process (start_master.sh), on 127.0.0.1.

    Stops by its PID and process group only (the group is created by `start`). Everything it
    writes (agents' work directory, the log) is under `base_dir`; a base_dir it created itself
    is removed by `stop()`.
    """

    def __init__(self, directory: Path | None = None, base_dir: Path | None = None) -> None:
        self.directory = directory or cache_dir()
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="realmesos-"))
        self.work_dir = self.base_dir / "work"
        self.log_path = self.base_dir / "master.log"
        self.port: int | None = None
        self.num_agents = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        assert self.port is not None, "not started"
        return f"http://127.0.0.1:{self.port}"

    @property
    def scheduler_url(self) -> str:
        return self.url + "/api/v1/scheduler"

    def log(self, limit: int = 6000) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), limit)
        except FileNotFoundError:
            return ""

    def start(self, num_agents: int = 3, resources: str = DEFAULT_RESOURCES, timeout: float = 60,
              attempts: int = 3) -> RealMesos:
        """Start the master with `num_agents` agents, each offering `resources`; return once it
        printed READY and /master/state lists every agent. Retries on another port if the chosen
        one was taken meanwhile. Raises RealMesosError (with the log) otherwise."""
        assert self.proc is None, "already started"
        self.num_agents = num_agents
        began = time.monotonic()
        for attempt in range(1, attempts + 1):
            self._spawn(num_agents, resources)
            try:
                self._wait_ready(time.monotonic() + timeout)
            except RealMesosError as e:
                self.stop(remove=False)
                if attempt < attempts and "Address already in use" in str(e):
                    self.proc = None
                    continue
                raise
            self.start_seconds = time.monotonic() - began
            return self
        raise AssertionError("unreachable")

    def _spawn(self, num_agents: int, resources: str) -> None:
        self.port = free_port()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MESOS_NUM_SLAVES=str(num_agents), MESOS_RESOURCES=resources,
                   MESOS_WORK_DIR=str(self.work_dir / str(self.port)))
        env.pop("KEEP_WORK", None)
        with open(self.log_path, "ab") as log:
            log.write(f"=== start_master.sh {self.directory} {self.port} ({num_agents} agents)\n".encode())
            log.flush()
            self._log_offset = log.tell()
            self.proc = subprocess.Popen(["bash", str(START_SH), str(self.directory), str(self.port)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                         start_new_session=True)

    def _wait_ready(self, deadline: float) -> None:
        assert self.proc is not None
        ready = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RealMesosError(f"start_master.sh exited with status {self.proc.returncode} before "
                                     f"it was ready; log {self.log_path}:\n{self.log()}")
            if not ready:
                with open(self.log_path, "rb") as f:
                    f.seek(self._log_offset)
                    ready = READY_LINE.encode() in f.read()
            if ready:
                # READY means the master is up; the agents register on their own shortly after.
                with contextlib.suppress(OSError, ValueError):
                    agents = [a for a in self.state(timeout=5).get("slaves", []) if a.get("active")]
                    if len(agents) >= self.num_agents:
                        return
            time.sleep(0.1)
        what = "all agents registered" if ready else f"{READY_LINE!r}"
        raise RealMesosError(f"no {what} on 127.0.0.1:{self.port} within the deadline; "
                             f"log {self.log_path}:\n{self.log()}")

    def get_json(self, path: str, timeout: float = 10) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return json.loads(r.read())

    def state(self, timeout: float = 10) -> dict[str, Any]:
        """GET /master/state."""
        state: dict[str, Any] = self.get_json("/master/state", timeout)
        return state

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 10, remove: bool = True) -> int | None:
        """SIGTERM the master's process group, SIGKILL after `grace` s; returns its exit status.
        Removes base_dir if this object created it (and `remove`)."""
        rc = None
        if self.proc is not None:
            _stop_group(self.proc, grace)
            rc = self.proc.poll()
        if remove and self._own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        return rc

    def __enter__(self) -> RealMesos:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


Scope = Literal["session", "package", "module", "class", "function"]


def real_mesos_fixture(scope: Scope = "session", num_agents: int = 3, resources: str = DEFAULT_RESOURCES,
                       name: str | None = None) -> Any:
    """A pytest fixture yielding a started RealMesos (setup.sh first, cached). Setup or start
    failures FAIL the requesting tests with the log: they never skip.

    Use in a conftest.py:  real_mesos = real_mesos_fixture()"""

    @pytest.fixture(scope=scope, name=name)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMesos]:
        failure = ""
        try:
            directory = ensure_setup()
            mesos = RealMesos(directory, base_dir=tmp_path_factory.mktemp("realmesos"))
            mesos.start(num_agents=num_agents, resources=resources)
        except RealMesosError as e:
            failure = str(e)
        if failure:  # outside the except block: the report shows the log, not a chained traceback
            pytest.fail(f"real Mesos unavailable: {failure}", pytrace=False)
        try:
            yield mesos
        finally:
            mesos.stop()

    return fixture
