"""Fixtures of the client tests: an isolated environment and a scripted fake daemon."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import _connection

from .fake_daemon import FakeStratos, serve


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No user config, no STRATOS_* variables, no connection shared between tests."""
    for name in list(os.environ):
        if name.startswith(("STRATOS_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield
    for conn in list(_connection._CACHE.values()):
        conn.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A private directory with a short path (Unix socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="st-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStratos]:
    """A fake stratosd answering at $STRATOS_SOCKET; auto-start is off."""
    socket = short_dir / "d.sock"
    server, fake = serve(str(socket))
    monkeypatch.setenv("STRATOS_SOCKET", str(socket))
    monkeypatch.setenv("STRATOS_NO_AUTOSTART", "1")
    yield fake
    server.stop(None)
