"""The daemon's life: restart keeps everything, job ids, auto-start, versions."""

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
from stratos.errors import JobIdInUse, ProtocolMismatch
from stratosd.store import SCHEMA_VERSION
from tests.daemon import Daemon


def test_stop_and_restart_keeps_finished_jobs_and_their_results(daemon: Daemon) -> None:
    job = Processor(job_id="keep")
    job.batch([f"echo {i}" for i in range(50)])
    assert job.get_results(consumer="early") == [f"{i}\n" for i in range(50)]
    stream_job = Processor(job_id="keep-stream")
    stream_job.stream("echo s1; echo s2")
    assert stream_job.wait()
    assert daemon.stop() == 0
    daemon.start()
    again = Processor.attach("keep")
    assert again.status().counts["finished"] == 50
    assert again.get_results() == [f"{i}\n" for i in range(50)]  # the shared cursor never moved
    assert again.get_results(consumer="early") == []  # this one had them all, before the restart
    assert sorted(Processor.attach("keep-stream").get_results()) == ["s1\n", "s2\n"]
    assert Processor.attach("keep-stream").stream.closed()


def test_tasks_running_at_a_stop_run_again_after_the_restart(daemon: Daemon, tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    job = Processor(job_id="interrupted")
    job.stream([f"echo run >> {marker}; sleep 2; echo done"])  # a list keeps the semicolons
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert daemon.stop() == 0  # graceful: the running task is stopped, not orphaned
    daemon.start()
    again = Processor.attach("interrupted")
    assert again.wait()
    assert again.get_results() == ["done\n"]
    assert marker.read_text() == "run\nrun\n"
    assert again.stream.task(0).task.attempts == 2


def test_finished_job_id_starts_a_new_run_and_keeps_the_old_one(daemon: Daemon) -> None:
    first = Processor(job_id="demo")
    first.batch("echo first")
    second = Processor(job_id="demo")
    second.batch("echo second")
    third = Processor(job_id="demo")
    assert third.get_results() == []
    assert Processor.attach("demo.1").get_results() == ["first\n"]
    assert Processor.attach("demo.2").get_results() == ["second\n"]
    names = {j.job_id for j in Processor.list_jobs()}
    assert {"demo", "demo.1", "demo.2"} <= names


def test_an_unfinished_job_id_is_refused_with_a_pointer_to_attach(daemon: Daemon) -> None:
    busy = Processor(job_id="busy")
    busy.stream("sleep 5")
    with pytest.raises(JobIdInUse, match=r'Processor\.attach\("busy"\)'):
        Processor(job_id="busy")
    busy.cancel()


def test_jobs_without_an_id_get_unique_ones(daemon: Daemon) -> None:
    ids = {Processor().job_id for _ in range(3)}
    assert len(ids) == 3


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
    with pytest.raises(ProtocolMismatch, match="999"):
        Processor(job_id="versions")


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

    from stratos._proto import stratos_pb2 as pb
    from stratos._proto import stratos_pb2_grpc as pb_grpc

    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-0123456789\n")
    port = _free_port()
    d = Daemon("--listen", f"127.0.0.1:{port}", "--token-file", str(token_file)).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.StratosStub(channel)
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
