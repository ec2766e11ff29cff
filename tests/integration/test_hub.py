"""The ExecutorHub protocol against a real daemon, driven by hand like a pilot would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import grpc
import pytest

from stratos import Processor
from stratos_wire import PROTOCOL_HEADER, PROTOCOL_VERSION, VERSION
from stratos_wire import stratos_pb2 as pb
from tests.daemon import Daemon, daemon_fixture
from tests.rpc import hub_stub, stratos_stub

# an explicit loopback executor listener, open from the start, in plain text (see test_tls for the default)
pilots_daemon = daemon_fixture("--pilot-lost-after", "1.5", "--executor-listen", "127.0.0.1:0", name="pilots_daemon")


class HandPilot:
    """Speaks ExecutorHub over the daemon's socket, one call at a time."""

    def __init__(self, daemon: Daemon, job_id: str, token: str, executor_id: str, cpus: float = 1,
                 holding: tuple[tuple[int, int], ...] = ()) -> None:
        self.channel = grpc.insecure_channel(f"unix:{daemon.socket}")
        self.stub = hub_stub(self.channel)
        self.job_id, self.executor_id = job_id, executor_id
        self.metadata = (("authorization", f"Bearer {token}"),)
        refs = [pb.AttemptRef(task_id=t, attempt=a) for t, a in holding]
        self.stub.Register(pb.RegisterRequest(job_id=job_id, executor_id=executor_id, host="hand", cpus=cpus,
                                              mem=1000, holding=refs), metadata=self.metadata, timeout=5)

    def fetch(self, wait: float = 2.0) -> pb.FetchReply:
        reply: pb.FetchReply = self.stub.Fetch(
            pb.FetchRequest(job_id=self.job_id, executor_id=self.executor_id, wait=wait),
            metadata=self.metadata, timeout=10)
        return reply

    def report(self, report_id: str, task_id: int, attempt: int, **kind: object) -> None:
        self.stub.Report(pb.ReportRequest(job_id=self.job_id, executor_id=self.executor_id, report_id=report_id,
                                          task_id=task_id, attempt=attempt, **kind),  # type: ignore[arg-type]
                         metadata=self.metadata, timeout=10)

    def finish(self, a: pb.TaskAssignment, stdout: bytes, report_id: str | None = None) -> None:
        ended = pb.TaskEndedReport(has_exit_code=True, exit_code=0, stdout_inline=True, stdout=stdout,
                                   started=time.time(), ended=time.time())
        self.report(report_id or f"{self.executor_id}-{a.task_id}-{a.attempt}", a.task_id, a.attempt, ended=ended)


def token_of(daemon: Daemon, job_id: str) -> str:
    with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
        return str(stratos_stub(channel).GetJobToken(pb.JobRef(job_id=job_id), timeout=5).token)


def test_a_token_acts_on_its_own_job_only(pilots_daemon: Daemon) -> None:
    Processor(job_id="a", master="pilots")
    Processor(job_id="b", master="pilots")
    token_a = token_of(pilots_daemon, "a")
    assert token_a != token_of(pilots_daemon, "b") and len(token_a) >= 32
    for job_id, token in (("b", token_a), ("a", "not-the-token"), ("nope", token_a)):
        with pytest.raises(grpc.RpcError) as err:
            HandPilot(pilots_daemon, job_id, token, "x")
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    HandPilot(pilots_daemon, "a", token_a, "x")  # the right one works


def test_tasks_go_to_a_registered_pilot_and_reports_are_idempotent(pilots_daemon: Daemon) -> None:
    job = Processor(job_id="hand", master="pilots")
    pilot = HandPilot(pilots_daemon, "hand", token_of(pilots_daemon, "hand"), "p1", cpus=2)
    s = job.stream(["echo 0", "echo 1", "echo 2"])
    got = list(pilot.fetch().tasks)
    assert [(a.task_id, a.attempt, a.command) for a in got] == [(0, 1, "echo 0"), (1, 1, "echo 1")]
    pilot.report("p1-s0", 0, 1, started=pb.TaskStartedReport(pid=4242, started=time.time()))
    assert s.get_status(0) == "running"
    pilot.finish(got[0], b"zero\n", report_id="p1-e0")
    pilot.finish(got[0], b"zero\n", report_id="p1-e0")  # a retry after a lost answer
    assert job.get_results() == ["zero\n"]
    # stdout too large to send inline arrives in pieces, possibly retried
    big = b"0123456789abcdef" * 131072  # 2 MiB
    half = len(big) // 2
    for offset in (0, half, half):
        pilot.report(f"p1-o{offset}", 1, 1, output=pb.TaskOutputReport(offset=offset, data=big[offset:offset + half]))
    pilot.report("p1-e1", 1, 1, ended=pb.TaskEndedReport(has_exit_code=True, exit_code=0, stdout_inline=False,
                                                         stdout_size=len(big)))
    assert job.get_results() == [big.decode()]
    nxt = list(pilot.fetch().tasks)
    assert [a.task_id for a in nxt] == [2]
    pilot.finish(nxt[0], b"two\n")
    assert job.wait()
    assert s.count_total_tasks() == 3 and job.status().counts["finished"] == 3


def test_a_silent_pilot_is_lost_and_its_tasks_run_elsewhere(pilots_daemon: Daemon) -> None:
    job = Processor(job_id="lossy", master="pilots", max_retries=2)
    token = token_of(pilots_daemon, "lossy")
    doomed = HandPilot(pilots_daemon, "lossy", token, "doomed")
    job.stream(["echo a"])
    assert [a.task_id for a in doomed.fetch().tasks] == [0]
    # the doomed pilot goes silent; a healthy one registers and keeps fetching
    healthy = HandPilot(pilots_daemon, "lossy", token, "healthy")
    results: list[pb.TaskAssignment] = []
    deadline = time.monotonic() + 15
    while not results and time.monotonic() < deadline:
        results = list(healthy.fetch(wait=1.0).tasks)
    assert [(a.task_id, a.attempt) for a in results] == [(0, 2)]
    info = job.stream.task(0)
    assert "doomed" in info.reason and info.task.attempts == 2
    doomed_report = pb.TaskEndedReport(has_exit_code=True, exit_code=0, stdout_inline=True, stdout=b"late\n")
    with pytest.raises(grpc.RpcError) as err:  # the lost pilot's late word is refused
        doomed.report("late", 0, 1, ended=doomed_report)
    assert err.value.code() == grpc.StatusCode.ABORTED  # "register again"
    healthy.finish(results[0], b"a\n")
    assert job.wait() and job.get_results() == ["a\n"]


def test_kills_reach_the_pilot(pilots_daemon: Daemon) -> None:
    job = Processor(job_id="killer", master="pilots")
    pilot = HandPilot(pilots_daemon, "killer", token_of(pilots_daemon, "killer"), "k1")
    s = job.stream(["sleep 100"])
    assert [a.task_id for a in pilot.fetch().tasks] == [0]
    fetched: list[pb.FetchReply] = []
    waiter = threading.Thread(target=lambda: fetched.append(pilot.fetch(wait=5)))
    waiter.start()
    time.sleep(0.2)
    s.kill(0)
    waiter.join(10)
    assert [(k.task_id, k.attempt) for k in fetched[0].kills] == [(0, 1)]
    pilot.report("k1-e", 0, 1, ended=pb.TaskEndedReport(signal=15, reason="killed", stdout_inline=True))
    assert s.get_status(0) == "killed"


def test_stratosctl_token_prints_the_jobs_token(pilots_daemon: Daemon) -> None:
    import json
    import os
    import subprocess
    import sys

    Processor(job_id="tok", master="pilots")
    env = dict(os.environ, **pilots_daemon.env)
    out = subprocess.run([sys.executable, "-m", "stratos.ctl", "token", "tok"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == token_of(pilots_daemon, "tok")
    out = subprocess.run([sys.executable, "-m", "stratos.ctl", "--json", "token", "tok"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert json.loads(out.stdout)["token"] == token_of(pilots_daemon, "tok")


def test_the_executor_listener_serves_only_executor_calls_with_job_tokens(pilots_daemon: Daemon) -> None:
    import re

    match = re.search(r"executors reach this daemon at (127\.0\.0\.1:\d+)", pilots_daemon.log())
    assert match, pilots_daemon.log()
    Processor(job_id="tcp", master="pilots")
    with grpc.insecure_channel(match.group(1)) as channel:
        with pytest.raises(grpc.RpcError) as err:  # the user-facing service is not there
            stratos_stub(channel).ListJobs(pb.ListJobsRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        hub = hub_stub(channel)
        request = pb.RegisterRequest(job_id="tcp", executor_id="t1", host="h", cpus=1, mem=100)
        with pytest.raises(grpc.RpcError) as err:
            hub.Register(request, metadata=(("authorization", "Bearer wrong"),), timeout=5)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        token = token_of(pilots_daemon, "tcp")
        hub.Register(request, metadata=(("authorization", f"Bearer {token}"),), timeout=5)


def test_a_real_pilot_process_gives_the_results_of_the_in_process_executor(pilots_daemon: Daemon) -> None:
    import os
    import subprocess
    import sys

    commands = [f"echo {i}; echo err{i} >&2; exit {i % 2}" for i in range(12)]
    local = Processor(job_id="same-local")
    local.batch(commands)
    expected = local.get_results(details=True)
    job = Processor(job_id="same-pilot", master="pilots")
    env = dict(os.environ, **pilots_daemon.env, STRATOS_TOKEN=token_of(pilots_daemon, "same-pilot"))
    pilot = subprocess.Popen([sys.executable, "-m", "stratos_executor", "pilot", "--connect",
                              f"unix:{pilots_daemon.socket}", "--job", "same-pilot", "--cpus", "2", "--mem", "1000",
                              "--idle-timeout", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        counts = job.batch(commands)
        assert counts["finished"] == 6 and counts["failed"] == 6
        got = job.get_results(details=True)
        assert [(d.task_id, d.stdout, d.exit_code, d.status) for d in got] == [
            (d.task_id, d.stdout, d.exit_code, d.status) for d in expected]
        assert job.stream.task(3).stderr_tail == "err3\n"
    finally:
        pilot.send_signal(signal.SIGTERM)
        pilot.wait(30)
    assert pilot.returncode == 0



def test_a_pilot_killed_with_sigkill_is_an_infrastructure_failure_retried_elsewhere(pilots_daemon: Daemon) -> None:
    import os
    import subprocess
    import sys

    from tests.daemon import wait_for

    job = Processor(job_id="pilot-dies", master="pilots", max_retries=2)
    env = dict(os.environ, **pilots_daemon.env, STRATOS_TOKEN=token_of(pilots_daemon, "pilot-dies"))

    def pilot() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "stratos_executor", "pilot", "--connect",
                                 f"unix:{pilots_daemon.socket}", "--job", "pilot-dies", "--cpus", "1",
                                 "--mem", "1000", "--idle-timeout", "0"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    first = pilot()
    s = job.stream(["sleep 1; echo survived"])
    wait_for(lambda: s.get_status(0) == "running" and s.task(0).started > 0, "the task to start on the first pilot")
    first.kill()  # SIGKILL: no goodbye, no report
    first.wait(10)
    second = pilot()
    try:
        assert job.wait()
        assert job.get_results() == ["survived\n"]
        info = s.task(0)
        assert info.task.attempts == 2 and "left" in info.reason  # "host ... left: no word from it ..."
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)


def test_after_a_daemon_crash_pilots_keep_their_tasks_and_absent_pilots_tasks_run_again(
        pilots_daemon: Daemon) -> None:
    job = Processor(job_id="survive", master="pilots", max_retries=2)
    token = token_of(pilots_daemon, "survive")
    staying = HandPilot(pilots_daemon, "survive", token, "staying", cpus=2)
    job.stream(["echo 0", "echo 1", "echo 2"])
    first = list(staying.fetch().tasks)
    gone = HandPilot(pilots_daemon, "survive", token, "gone")
    second = list(gone.fetch().tasks)
    assert [a.task_id for a in first] == [0, 1] and [a.task_id for a in second] == [2]
    staying.finish(first[0], b"zero\n")
    pilots_daemon.kill9()
    pilots_daemon.start()
    # the pilot registers again holding task 1 (still running) and a stale attempt the daemon never gave it
    back = HandPilot(pilots_daemon, "survive", token, "staying", cpus=2, holding=((1, 1), (0, 7)))
    kills: list[tuple[int, int]] = []
    fetched: list[tuple[int, int]] = []
    deadline = time.monotonic() + 15
    while not fetched and time.monotonic() < deadline:  # task 2's pilot never returns: it runs here
        reply = back.fetch(wait=1.0)
        kills += [(k.task_id, k.attempt) for k in reply.kills]
        fetched += [(a.task_id, a.attempt) for a in reply.tasks]
    assert fetched == [(2, 2)], "task 1 must stay with its pilot, task 2 must come back with a new attempt"
    assert kills == [(0, 7)]
    assert "did not come back" in job.stream.task(2).reason
    back.finish(first[1], b"one\n")
    back.finish(pb.TaskAssignment(task_id=2, attempt=2), b"two\n")
    assert job.wait()
    assert sorted(job.get_results()) == ["one\n", "two\n", "zero\n"]
    assert [job.stream.task(i).task.attempts for i in range(3)] == [1, 1, 2]


def test_output_mesos_on_a_pilot_names_the_pilots_sandbox_and_host(pilots_daemon: Daemon, tmp_path: Path) -> None:
    """output="mesos": the files are in the executor's own sandbox (WORK_DIR/JOB/TASK-ATTEMPT) on its
    host, which its end report names; the records, GetTask and `stratosctl task` (HOST:PATH) say so."""
    work = tmp_path / "pilot-work"
    job = Processor(job_id="mesos-out", master="pilots", output="mesos")
    env = dict(os.environ, **pilots_daemon.env, STRATOS_TOKEN=token_of(pilots_daemon, "mesos-out"))
    pilot = subprocess.Popen([sys.executable, "-m", "stratos_executor", "pilot", "--connect",
                              f"unix:{pilots_daemon.socket}", "--job", "mesos-out", "--cpus", "1", "--mem", "1000",
                              "--idle-timeout", "0", "--host", "far-node", "--work-dir", str(work)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        counts = job.batch(["echo out-0; echo err-0 >&2", "echo out-1; exit 3"])
        assert counts == {**counts, "finished": 1, "failed": 1}, counts
        got = sorted(job.get_results(details=True), key=lambda r: r.task_id)
        for r in got:
            sandbox = work / "mesos-out" / f"{r.task_id}-1"
            assert (r.stdout_path, r.stderr_path) == (str(sandbox / "stdout"), str(sandbox / "stderr"))
            assert r.stdout_path is not None  # implied by the line above; narrows the type
            assert Path(r.stdout_path).read_text() == f"out-{r.task_id}\n"
        detail = job.stream.task(0)
        assert detail.files_host == "far-node" and detail.sandbox == str(work / "mesos-out" / "0-1")
        assert detail.stderr_path == str(work / "mesos-out" / "0-1" / "stderr")
        ctl = subprocess.run([str(Path(sys.executable).parent / "stratosctl"), "task", "mesos-out", "0"],
                             capture_output=True, text=True, timeout=60, env=os.environ, check=True)
        assert f"stderr file\tfar-node:{work}/mesos-out/0-1/stderr" in ctl.stdout, ctl.stdout
        assert f"sandbox\tfar-node:{work}/mesos-out/0-1\n" in ctl.stdout, ctl.stdout
    finally:
        pilot.send_signal(signal.SIGTERM)
        pilot.wait(30)


def test_an_executor_of_another_protocol_is_refused_naming_both_versions_and_the_job_goes_on(
        pilots_daemon: Daemon) -> None:
    job = Processor(job_id="versions", master="pilots")
    token = token_of(pilots_daemon, "versions")
    other = (("authorization", f"Bearer {token}"), (PROTOCOL_HEADER, str(PROTOCOL_VERSION + 1)))
    with grpc.insecure_channel(f"unix:{pilots_daemon.socket}") as channel:
        stub = hub_stub(channel)
        register = pb.RegisterRequest(job_id="versions", executor_id="new", host="n", cpus=1, mem=100)
        enroll = pb.EnrollRequest(job_id="versions", executor_id="new")
        for call in (partial(stub.Register, register), partial(stub.Enroll, enroll)):
            with pytest.raises(grpc.RpcError) as err:
                call(metadata=other, timeout=5)
            assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            words = err.value.details() or ""
            assert f"speaks StratOS protocol {PROTOCOL_VERSION + 1}" in words, words
            assert f"this stratosd ({VERSION}) speaks {PROTOCOL_VERSION}" in words, words
            assert f"install StratOS {VERSION} on that node" in words, words
    # an executor of this protocol (or of a release before the header: protocol 1) runs the job's work
    pilot = HandPilot(pilots_daemon, "versions", token, "same")
    stream = job.template_stream("echo %c%", ["ok"])
    (task,) = pilot.fetch().tasks
    pilot.finish(task, b"ok\n")
    stream.wait()
    assert job.get_results() == ["ok\n"]
