"""Clients survive a daemon that dies or restarts (issue 12, item 4); they do not undo a stop.

Real daemons and processes throughout. Tests that auto-start daemons give them their own
socket and state directory, and stop every daemon they started by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from stratos import DaemonStopped, DaemonUnavailable, Processor, Settings, _connection
from stratos._submit import submit
from stratos_wire import stratos_pb2 as pb
from stratosd.servicer import SUBMIT_PART
from tests.daemon import Daemon, wait_for
from tests.integration.ctl_helpers import REPO, STRATOSCTL
from tests.rpc import stratos_stub

SERVING = "serving on"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie (a child of this process) has stopped too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _stop_pid(pid: int, sig: int = signal.SIGTERM) -> None:
    """Stop one daemon this test started, by its PID, and wait until it is gone."""
    if pid <= 0 or _gone(pid):
        return
    os.kill(pid, sig)
    wait_for(lambda: _gone(pid), f"stratosd {pid} to exit")


def _hello(socket: Path) -> pb.HelloReply | None:
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        try:
            reply: pb.HelloReply = stratos_stub(channel).Hello(pb.HelloRequest(protocol_version=1), timeout=2)
            return reply
        except grpc.RpcError:
            return None


def _ended(socket: Path, job_id: str) -> int:
    """How many tasks of the job have ended (0 while it does not exist yet)."""
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        try:
            counts = stratos_stub(channel).GetStatus(pb.JobRef(job_id=job_id), timeout=2).counts
        except grpc.RpcError:
            return 0
    return int(counts.finished + counts.failed)


class Home:
    """A private socket and state directory for auto-started daemons; stops them all by PID."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="st-rc-", dir="/tmp"))
        os.chmod(self.root, 0o700)
        self.socket = self.root / "run" / "d.sock"
        self.state = self.root / "state"
        self.pids: set[int] = set()

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATOS_")}
        return {**env, "STRATOS_SOCKET": str(self.socket), "STRATOS_STATE_DIR": str(self.state)}

    def starts(self) -> int:
        """How many daemons started in this state directory (their log lines)."""
        log = self.state / "stratosd.log"
        return log.read_text(errors="replace").count(SERVING) if log.exists() else 0

    def pid(self) -> int:
        hello = _hello(self.socket)
        assert hello is not None, "no daemon answers"
        self.pids.add(hello.pid)
        return hello.pid

    def cleanup(self) -> None:
        hello = _hello(self.socket)
        if hello is not None:
            self.pids.add(hello.pid)
        for pid in self.pids:
            _stop_pid(pid)
        for proc in _connection._STARTED:  # started by this process: reap them
            if proc.poll() is None:
                proc.terminate()
            proc.wait(30)
        _connection._STARTED.clear()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """This process's client pointed at a private home, auto-start on, nothing else inherited."""
    h = Home()
    for name in list(os.environ):
        if name.startswith("STRATOS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STRATOS_SOCKET", str(h.socket))
    monkeypatch.setenv("STRATOS_STATE_DIR", str(h.state))
    _connection._CACHE.clear()
    try:
        yield h
    finally:
        for conn in list(_connection._CACHE.values()):
            conn.close()
        h.cleanup()


def _kill9(home: Home, pid: int) -> None:
    home.pids.add(pid)
    _stop_pid(pid, signal.SIGKILL)
    for proc in _connection._STARTED:
        if proc.pid == pid:
            proc.wait(30)


# -- a crashed local daemon is restarted and the client carries on ------------------------------

SCRIPT = """
import json, sys
from stratos import Processor
job = Processor(job_id="crashbatch")
print("PID", job._conn.hello.pid, flush=True)
counts = job.template_batch("sleep %c%; echo out-%c%", [["0.4", str(i)] for i in range(16)])
results = job.get_results()
print(json.dumps({"counts": counts, "results": results, "pid": job._conn.hello.pid}), flush=True)
"""


def test_kill9_during_a_blocking_batch_the_script_finishes_with_every_result_once(home: Home) -> None:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SCRIPT)], env=home.env, cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("PID "), first + proc.stderr.read() if proc.stderr else ""
        pid = int(first.split()[1])
        home.pids.add(pid)
        wait_for(lambda: _ended(home.socket, "crashbatch") >= 2, "some tasks to end")
        _stop_pid(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    home.pids.add(report["pid"])
    assert report["pid"] != pid
    assert report["counts"]["finished"] == 16
    assert sorted(report["results"]) == sorted(f"out-{i}\n" for i in range(16))  # each exactly once
    assert home.starts() == 2  # the first start and one restart
    again = Processor.attach("crashbatch")
    assert again.get_results() == []  # nothing left behind the cursor


def test_after_a_crash_new_processors_and_attach_work_in_the_same_process(home: Home) -> None:
    job = Processor(job_id="first")
    job.batch("echo one")
    pid = home.pid()
    _kill9(home, pid)
    other = Processor(job_id="second")  # the cached connection recovers: the daemon is restarted
    assert other.batch("echo two")["finished"] == 1
    assert other.get_results() == ["two\n"]
    again = Processor.attach("first")
    assert again.get_results() == ["one\n"]
    assert home.pid() != pid
    assert home.starts() == 2
    assert len(_connection._STARTED) == 2


def test_clients_racing_to_restart_a_crashed_daemon_start_one(home: Home) -> None:
    conns = [_connection.Connection.open(home.socket.absolute(), home.state, autostart=True) for _ in range(4)]
    pid = home.pid()
    _kill9(home, pid)
    errors: list[BaseException] = []
    pids: list[int] = []

    def call(conn: _connection.Connection) -> None:
        try:
            conn.list_jobs()
            pids.append(conn.hello.pid)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=call, args=(conn,)) for conn in conns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for conn in conns:
        conn.close()
    assert errors == []
    assert len(set(pids)) == 1 and pids[0] != pid
    assert len(_connection._STARTED) == 2
    assert home.starts() == 2


# -- a request whose reply was lost is not applied twice ----------------------------------------

def _faulty_daemon(home: Home, fault: str, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    """A daemon in ``home`` that dies (137) after the commit of ``fault``'s request; restarts lack it."""
    d = Daemon(root=home.root)
    d.socket, d.state_dir = home.socket, home.state
    monkeypatch.setenv("STRATOS_FAULT", fault)
    try:
        d.start()
    finally:
        monkeypatch.delenv("STRATOS_FAULT")  # the daemon the client restarts has no fault
    assert d.proc is not None
    home.pids.add(d.proc.pid)
    return d


def test_submit_retried_after_a_crash_between_commit_and_reply_creates_its_tasks_once(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty = _faulty_daemon(home, "submit-after-commit", monkeypatch)
    job = Processor(job_id="dedup")
    reply = submit(job._conn, "dedup", pb.PLAIN, pb.STREAM, items=["echo a", "echo b"])
    assert faulty.proc is not None and faulty.proc.wait(30) == 137  # it died after the commit
    home.pid()
    assert (reply.call_id, reply.first_task_id, reply.count) == (0, 0, 2)  # the original reply
    assert job.status().total == 2
    assert job.wait()
    assert sorted(job.get_results()) == ["a\n", "b\n"]
    assert [t.command for t in job.stream.tasks()] == ["echo a", "echo b"]


def test_a_large_submission_cut_by_a_crash_between_its_parts_is_completed_by_the_retry(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon applies a large submission in parts; it dies after the first part's commit. The
    client's retry (to the daemon it restarts) adds only the missing parts: every command once."""
    faulty = _faulty_daemon(home, "submit-after-commit", monkeypatch)
    Processor(job_id="open")  # the big job runs after it, so its tasks wait: none starts
    job = Processor(job_id="big", after="open")
    commands = [f"echo {i}" for i in range(2 * SUBMIT_PART + 7)]
    reply = submit(job._conn, "big", pb.PLAIN, pb.STREAM, items=commands)
    assert faulty.proc is not None and faulty.proc.wait(30) == 137  # it died after the first part
    home.pid()
    assert (reply.call_id, reply.first_task_id, reply.count, list(reply.ranges)) == (0, 0, len(commands), [])
    assert job.status().total == len(commands)
    assert [t.command for t in job.stream.tasks()] == commands
    assert {t.call_id for t in job.stream.tasks()} == {0}


def test_create_job_retried_after_a_crash_between_commit_and_reply_creates_one_job(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty = _faulty_daemon(home, "createjob-after-commit", monkeypatch)
    job = Processor(job_id="once")
    assert faulty.proc is not None and faulty.proc.wait(30) == 137
    home.pid()
    # A second CreateJob would have renamed the first (a job without tasks) to "once.1".
    assert [j.job_id for j in Processor.list_jobs()] == ["once"]
    assert job.job_id == "once"


def test_a_repeated_request_id_gets_the_first_reply(home: Home) -> None:
    Processor(job_id="rid")  # starts the daemon
    home.pid()
    with grpc.insecure_channel(f"unix:{home.socket}") as channel:
        stub = stratos_stub(channel)
        create = pb.CreateJobRequest(job_id="twice", spec=Settings().to_proto(), request_id="r-1")
        first, second = stub.CreateJob(create), stub.CreateJob(create)
        assert first == second and not first.renamed_previous

        def chunks(request_id: str) -> Iterator[pb.SubmitChunk]:
            yield pb.SubmitChunk(header=pb.SubmitHeader(job_id="twice", kind=pb.PLAIN, mode=pb.STREAM,
                                                        cwd="/", request_id=request_id))
            yield pb.SubmitChunk(items=["true"])

        one, two = stub.Submit(chunks("s-1")), stub.Submit(chunks("s-1"))
        assert one == two
        assert stub.Submit(chunks("s-2")).first_task_id == 1  # another id: another submission
        status = stub.GetStatus(pb.JobRef(job_id="twice"))
        assert status.total == 2
        cancel = pb.CancelRequest(job_id="twice", request_id="c-1")
        assert stub.Cancel(cancel) == stub.Cancel(cancel)


# -- an orderly stop is not undone ---------------------------------------------------------------

def test_after_stratosd_stop_a_client_says_so_and_starts_nothing(home: Home) -> None:
    job = Processor(job_id="stopped")
    pid = home.pid()
    stop = subprocess.run([sys.executable, "-m", "stratosd", "stop", "--socket", str(home.socket)],
                          env=home.env, capture_output=True, text=True, timeout=60, check=False)
    assert stop.returncode == 0, stop.stderr
    assert _gone(pid)
    with pytest.raises(DaemonStopped) as info:
        job.status()
    message = str(info.value)
    assert "was stopped" in message and "stratosd run" in message and "Processor.attach('stopped')" in message
    with pytest.raises(DaemonStopped):
        Processor(job_id="another")
    assert _hello(home.socket) is None  # nothing was restarted
    assert home.starts() == 1 and len(_connection._STARTED) == 1


# -- a daemon the client may not start: bounded wait, then the job id ---------------------------

def test_without_autostart_the_client_waits_reconnect_timeout_then_names_the_job(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    _connection._CACHE.clear()
    job = Processor(job_id="patient", reconnect_timeout=1.0)
    job.batch("echo x")
    daemon.kill9()
    started = time.monotonic()
    with pytest.raises(DaemonUnavailable) as info:
        job.status()
    assert time.monotonic() - started >= 1.0
    assert not isinstance(info.value, DaemonStopped)
    assert "Processor.attach('patient')" in str(info.value) and "1 s" in str(info.value)
    assert _hello(daemon.socket) is None  # nothing was started
    # Back within the time: the call succeeds.
    timer = threading.Timer(1.0, daemon.start)
    timer.start()
    try:
        Processor.attach("patient", Settings.load().replace(reconnect_timeout=60.0))
        assert job.status().counts["finished"] == 1
        assert job.get_results() == ["x\n"]
    finally:
        timer.join()
    monkeypatch.setenv("STRATOS_RECONNECT_TIMEOUT", "0.5")
    assert Settings.load().reconnect_timeout == 0.5


# -- stratosctl ----------------------------------------------------------------------------------

def test_stratosctl_wait_goes_on_across_a_daemon_kill9(home: Home) -> None:
    job = Processor(job_id="ctlwait")
    job.stream([f"sleep 0.5; echo {i}" for i in range(8)])
    pid = home.pid()
    proc = subprocess.Popen([*STRATOSCTL, "wait", "ctlwait"], env=home.env, cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        _kill9(home, pid)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert home.pid() != pid
    assert home.starts() == 2
    assert job.status().counts["finished"] == 8  # this process's connection recovers too
    assert sorted(job.get_results()) == sorted(f"{i}\n" for i in range(8))


def test_stratosd_stop_during_a_blocking_batch_is_reported_as_a_stop(home: Home) -> None:
    job = Processor(job_id="stopwait")
    pid = home.pid()
    errors: list[BaseException] = []

    def blocking() -> None:
        try:
            job.batch(["sleep 30"])
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=blocking)
    thread.start()
    wait_for(lambda: job.status().counts["running"] == 1, "the task to run")
    stop = subprocess.run([sys.executable, "-m", "stratosd", "stop", "--socket", str(home.socket)],
                          env=home.env, capture_output=True, text=True, timeout=60, check=False)
    assert stop.returncode == 0, stop.stderr
    thread.join(60)
    assert _gone(pid)
    assert len(errors) == 1 and isinstance(errors[0], DaemonStopped), errors
    assert "Processor.attach('stopwait')" in str(errors[0])
    assert _hello(home.socket) is None and home.starts() == 1
