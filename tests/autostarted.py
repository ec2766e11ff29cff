"""A daemon no test starts: the client auto-starts it in a private state directory; stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratos import _connection
from stratos_wire import paths as _paths


class AutoStarted:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "run" / "stratosd.sock"
        self.state_dir = root / "state"

    def pid(self) -> int | None:
        try:
            text = (self.state_dir / "stratosd.lock").read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def listeners(self) -> list[dict[str, Any]]:
        data = json.loads((self.state_dir / "executor-listeners.json").read_text())
        return list(data["listeners"])

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return _paths.daemon_log_path(self.state_dir).read_text(errors="replace")[-6000:]
        return ""

    def stop(self, crash: bool = False) -> None:
        """SIGTERM the daemon the client started (its PID from the state directory's lock), then SIGKILL;
        with ``crash``, SIGKILL at once."""
        pid = self.pid()
        if pid is None:
            return
        signals = ((signal.SIGKILL, 5.0),) if crash else ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0))
        for sig, wait in signals:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                with contextlib.suppress(ChildProcessError):  # our child (auto-started by this process)
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.05)


def autostarted(monkeypatch: pytest.MonkeyPatch, config: str = "", *, autostart: bool = True
                ) -> Iterator[AutoStarted]:
    """Point the client at a fresh socket and state directory with auto-start allowed (with
    ``autostart=False``: this process's client never starts one, a command run elsewhere does);
    stop the daemon after and remove the directory."""
    root = Path(tempfile.mkdtemp(prefix="sta-", dir="/tmp"))  # short: a Unix socket path
    os.chmod(root, 0o700)
    daemon = AutoStarted(root)
    monkeypatch.setenv("STRATOS_SOCKET", str(daemon.socket))
    monkeypatch.setenv("STRATOS_STATE_DIR", str(daemon.state_dir))
    if autostart:
        monkeypatch.delenv("STRATOS_NO_AUTOSTART", raising=False)
    else:
        monkeypatch.setenv("STRATOS_NO_AUTOSTART", "1")
    if config:
        (root / "config.toml").write_text(config)
        monkeypatch.setenv("STRATOS_CONFIG", str(root / "config.toml"))
    else:
        monkeypatch.delenv("STRATOS_CONFIG", raising=False)
    try:
        yield daemon
    finally:
        with contextlib.suppress(Exception):
            for key, conn in list(_connection._CACHE.items()):
                if key[1] == str(daemon.socket):
                    conn.close()
                    _connection._CACHE.pop(key, None)
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)
