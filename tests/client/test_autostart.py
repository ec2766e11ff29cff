"""Starting a local daemon in the background when none answers."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import DaemonUnavailable, Processor, _connection
from stratos._connection import connect

from . import fake_daemon

FAKE = str(Path(fake_daemon.__file__))


@pytest.fixture
def dirs(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    socket, state = short_dir / "run" / "d.sock", short_dir / "state"
    monkeypatch.setenv("STRATOS_SOCKET", str(socket))
    monkeypatch.setenv("STRATOS_STATE_DIR", str(state))
    return socket, state


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Daemons the test started, stopped at the end."""
    yield _connection._STARTED
    for proc in _connection._STARTED:
        proc.kill()
        proc.wait()
    _connection._STARTED.clear()


def test_daemon_command_is_stratosd_run(tmp_path: Path) -> None:
    assert _connection.daemon_command(tmp_path / "st", tmp_path / "s.sock") == [
        sys.executable, "-m", "stratosd", "run",
        "--state-dir", str(tmp_path / "st"), "--socket", str(tmp_path / "s.sock"),
    ]


def test_local_processor_starts_one_daemon(
    dirs: tuple[Path, Path], started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    socket, state = dirs
    monkeypatch.setattr(_connection, "daemon_command",
                        lambda st, sock: [sys.executable, FAKE, "--socket", str(sock)])
    job = Processor()
    assert job.job_id == "job-1"
    assert len(started) == 1
    assert (socket.parent.stat().st_mode & 0o777, state.stat().st_mode & 0o777) == (0o700, 0o700)
    assert "fake stratosd serving" in (state / "stratosd.log").read_text()
    # Other "scripts" (threads, with the per-process cache emptied) find it running.
    _connection._CACHE.clear()
    errors: list[BaseException] = []

    def attach() -> None:
        try:
            connect(autostart=True)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=attach) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(started) == 1


def test_concurrent_cold_starts_start_one_daemon(
    dirs: tuple[Path, Path], started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        _connection, "daemon_command",
        lambda st, sock: [sys.executable, FAKE, "--socket", str(sock), "--delay", "0.3"],
    )
    socket, state = dirs
    results: list[object] = []

    def open_one() -> None:
        # Connection.open bypasses the cache, like separate processes would.
        results.append(_connection.Connection.open(socket, state, autostart=True))

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    assert len(started) == 1


def test_daemon_that_dies_is_reported_with_its_log(
    dirs: tuple[Path, Path], started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        _connection, "daemon_command",
        lambda st, sock: [sys.executable, "-c", "import sys; sys.exit('bad config: boom')"],
    )
    with pytest.raises(DaemonUnavailable) as info:
        Processor()
    message = str(info.value)
    assert "stratosd exited with status 1" in message
    assert str(dirs[1] / "stratosd.log") in message
    assert "bad config: boom" in message


def test_daemon_that_never_answers_times_out(
    dirs: tuple[Path, Path], started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_connection, "START_TIMEOUT", 0.5)
    monkeypatch.setattr(_connection, "daemon_command",
                        lambda st, sock: [sys.executable, "-c", "import time; time.sleep(30)"])
    with pytest.raises(DaemonUnavailable, match=r"did not answer .* within 0.5 s.*stratosd\.log"):
        Processor()


def test_open_socket_directory_is_refused(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stratos import PermissionDenied

    dirs[0].parent.mkdir(mode=0o755)
    dirs[0].parent.chmod(0o755)
    with pytest.raises(PermissionDenied, match="accessible to other users"):
        Processor()
