"""The daemon's life as a process: auto-start, versions, the journal's schema, listeners, file modes.

What a restart keeps and how job ids are reused or refused need no process: tests/harness/test_lifecycle.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stratos._connection
from stratos import Processor
from stratos.errors import ProtocolMismatch
from stratos_wire import PROTOCOL_VERSION
from stratosd.store import SCHEMA_VERSION
from tests.daemon import Daemon


def test_a_script_starts_the_daemon_and_it_outlives_the_script(tmp_path: Path) -> None:
    root = Path(os.path.realpath(os.path.join("/tmp", f"st-auto-{os.getpid()}")))
    root.mkdir(mode=0o700)
    env = dict(os.environ, STRATOS_SOCKET=str(root / "run" / "stratosd.sock"), STRATOS_STATE_DIR=str(root / "state"))
    env.pop("STRATOS_NO_AUTOSTART", None)
    script = "from stratos import Processor; j = Processor(job_id='auto'); j.batch('echo hi'); print(j.get_results())"
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    daemon = Daemon(root=root)
    try:
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "['hi\\n']"
        hello = daemon.hello()
        assert hello is not None, "the daemon should keep running after the script exits"
        assert elapsed < 30
        # a second script reuses it and sees the first one's job
        script2 = "from stratos import Processor; print(Processor.attach('auto').status().counts['finished'])"
        out2 = subprocess.run([sys.executable, "-c", script2], env=env, capture_output=True, text=True, timeout=60)
        assert out2.stdout.strip() == "1", out2.stderr
        assert daemon.hello() is not None and daemon.hello().pid == hello.pid  # type: ignore[union-attr]
    finally:
        hello = daemon.hello()
        if hello is not None:
            os.kill(hello.pid, signal.SIGTERM)  # the daemon this test caused to start, by its pid
            deadline = time.monotonic() + 20
            while daemon.socket.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        daemon.cleanup()


def test_protocol_versions_are_compared_on_connect(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stratos._connection, "PROTOCOL_VERSION", 999)
    with pytest.raises(ProtocolMismatch, match="999") as caught:
        Processor(job_id="versions")
    words = str(caught.value)  # both versions, and what to do
    assert f"speaks {PROTOCOL_VERSION}" in words and "`stratosd stop`" in words, words


def test_the_journal_carries_a_schema_version(daemon: Daemon) -> None:
    Processor(job_id="v").batch("true")
    assert daemon.stop() == 0
    db = sqlite3.connect(daemon.state_dir / "journal.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="schema 99"):
        daemon.start(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_tcp_listener_answers_only_the_token_holder(tmp_path: Path) -> None:
    import grpc

    from stratos_wire import stratos_pb2 as pb
    from tests.rpc import stratos_stub

    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-0123456789\n")
    port = _free_port()
    d = Daemon("--listen", f"127.0.0.1:{port}", "--token-file", str(token_file)).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = stratos_stub(channel)
            for metadata in ((), (("authorization", "Bearer wrong-token-0123456789"),)):
                with pytest.raises(grpc.RpcError) as err:
                    stub.ListJobs(pb.ListJobsRequest(), metadata=metadata, timeout=5)
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as err:  # streaming methods are guarded too
                list(stub.ListTasks(pb.ListTasksRequest(job_id="x"), timeout=5))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            good = (("authorization", "Bearer s3cret-token-0123456789"),)
            assert stub.ListJobs(pb.ListJobsRequest(), metadata=good, timeout=5).jobs == []
        assert d.hello() is not None  # the owner's Unix socket needs no token
        assert oct(d.socket.stat().st_mode & 0o777) == "0o600"
    finally:
        d.cleanup()


def test_listen_without_a_token_is_refused(tmp_path: Path) -> None:
    d = Daemon("--listen", f"127.0.0.1:{_free_port()}")
    try:
        with pytest.raises(RuntimeError, match="token"):
            d.start(timeout=10)
    finally:
        d.cleanup()


def test_the_socket_and_state_directory_are_private_to_their_user(daemon: Daemon) -> None:
    import stat

    Processor(job_id="private").batch("true")
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(daemon.socket.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(daemon.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((daemon.state_dir / "journal.sqlite").stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE((daemon.state_dir / "journal.sqlite-wal").stat().st_mode) & 0o077 == 0
