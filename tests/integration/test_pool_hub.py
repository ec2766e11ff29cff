"""Issue 18: a pilot pool's credential (`stratosctl pilot-credential`) lets a pilot run the tasks of
every job of its pool, and acts on nothing else: not another pool, not a job outside the pool."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from stratos import Processor
from stratos_wire import stratos_pb2 as pb
from tests.daemon import Daemon, daemon_fixture, wait_for
from tests.integration.ctl_helpers import run_ctl
from tests.rpc import hub_stub, stratos_stub

pool_daemon = daemon_fixture("--pilot-lost-after", "5", name="pool_daemon")
POOL = "pilots/default"


class PoolPilot:
    """Speaks ExecutorHub as a pool pilot (``--pool``), one call at a time."""

    def __init__(self, daemon: Daemon, credential: str, executor_id: str, pool: str = POOL, cpus: float = 4) -> None:
        self.channel = grpc.insecure_channel(f"unix:{daemon.socket}")
        self.stub = hub_stub(self.channel)
        self.pool, self.executor_id = pool, executor_id
        self.metadata = (("authorization", f"Bearer {credential}"),)
        self.stub.Register(pb.RegisterRequest(pool=pool, executor_id=executor_id, host="hand", cpus=cpus, mem=4000),
                           metadata=self.metadata, timeout=5)

    def fetch(self, wait: float = 2.0) -> list[pb.TaskAssignment]:
        reply = self.stub.Fetch(pb.FetchRequest(pool=self.pool, executor_id=self.executor_id, wait=wait),
                                metadata=self.metadata, timeout=10)
        return list(reply.tasks)

    def finish(self, job_key: int, task_id: int, attempt: int, stdout: bytes) -> None:
        ended = pb.TaskEndedReport(has_exit_code=True, exit_code=0, stdout_inline=True, stdout=stdout,
                                   started=time.time(), ended=time.time())
        self.stub.Report(pb.ReportRequest(pool=self.pool, job_key=job_key, executor_id=self.executor_id,
                                          report_id=f"{self.executor_id}-{job_key}-{task_id}-{attempt}",
                                          task_id=task_id, attempt=attempt, ended=ended),
                         metadata=self.metadata, timeout=10)


def credential_of(daemon: Daemon, pool: str = "pilots") -> str:
    with grpc.insecure_channel(f"unix:{daemon.socket}") as channel:
        reply = stratos_stub(channel).GetPoolCredential(pb.PoolCredentialRequest(pool=pool), timeout=5)
    assert reply.pool == POOL or pool != "pilots"
    return str(reply.credential)


def test_one_pool_pilot_runs_the_tasks_of_every_job_of_its_pool(pool_daemon: Daemon, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    a = Processor(job_id="pa", master="pilots")
    b = Processor(job_id="pb", master="pilots")
    for job, who in ((a, "a"), (b, "b")):  # each submission carries its environment and working directory
        (tmp_path / who).mkdir()
        monkeypatch.chdir(tmp_path / who)
        monkeypatch.setenv("WHO", who)
        job.stream([f"echo {who}0"])
    pilot = PoolPilot(pool_daemon, credential_of(pool_daemon), "pool-1")
    got: list[pb.TaskAssignment] = []
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        got += pilot.fetch(wait=1.0)
    by_job = {x.job_id: x for x in got}
    assert sorted(by_job) == ["pa", "pb"]  # each assignment names its job, with its own settings
    assert by_job["pa"].env["WHO"] == "a" and by_job["pb"].env["WHO"] == "b"
    assert by_job["pa"].cwd == str(tmp_path / "a") and by_job["pb"].cwd == str(tmp_path / "b")
    assert by_job["pa"].job_key != by_job["pb"].job_key and by_job["pa"].job_key > 0
    for x in got:
        pilot.finish(x.job_key, x.task_id, x.attempt, f"{x.job_id}\n".encode())
    assert a.wait() and b.wait()
    assert a.get_results() == ["pa\n"] and b.get_results() == ["pb\n"]


def test_a_pool_credential_acts_on_its_pools_jobs_only(pool_daemon: Daemon) -> None:
    credential = credential_of(pool_daemon)
    other = credential_of(pool_daemon, "slurm/default,1c,256M")
    assert other != credential
    for pool, offered in (("slurm/default,1c,256M", credential), (POOL, other), (POOL, "c.forged"),
                          ("local", credential)):
        with pytest.raises(grpc.RpcError) as err:
            PoolPilot(pool_daemon, offered, "x", pool=pool)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, pool
    # a job outside the pool (the daemon's first job: key 1), or no job at all: reports are refused
    local = Processor(job_id="outside")
    local.stream(["sleep 30"])
    pilot = PoolPilot(pool_daemon, credential, "pool-2")
    for key in (1, 2, 99):
        with pytest.raises(grpc.RpcError) as err:
            pilot.finish(key, 0, 1, b"forged\n")
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    local.cancel()
    assert local.status().counts["finished"] == 0
    # and a job token is no pool credential, nor the other way round
    Processor(job_id="tok", master="pilots")
    with grpc.insecure_channel(f"unix:{pool_daemon.socket}") as channel:
        token = stratos_stub(channel).GetJobToken(pb.JobRef(job_id="tok"), timeout=5).token
    with pytest.raises(grpc.RpcError) as err:
        PoolPilot(pool_daemon, token, "x")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        hub_stub(grpc.insecure_channel(f"unix:{pool_daemon.socket}")).Register(
            pb.RegisterRequest(job_id="tok", executor_id="y", host="h", cpus=1, mem=100),
            metadata=(("authorization", f"Bearer {credential}"),), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_stratosctl_prints_and_writes_the_pool_credential(pool_daemon: Daemon, tmp_path: Path) -> None:
    run = run_ctl(pool_daemon, "pilot-credential", "pilots")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == credential_of(pool_daemon)
    target = tmp_path / "cred"
    run = run_ctl(pool_daemon, "pilot-credential", "pilots", "-o", str(target))
    assert run.returncode == 0, run.stderr
    assert target.read_text().strip() == credential_of(pool_daemon)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    run = run_ctl(pool_daemon, "pilot-credential", "mesos:5")
    assert run.returncode != 0 and "not a pilot pool" in run.stderr
    assert "pilot-credential" in run_ctl(pool_daemon, "--help").stdout


def test_a_real_pool_pilot_runs_two_jobs_and_one_jobs_cancel_leaves_the_other_running(
        pool_daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cred = tmp_path / "cred"
    assert run_ctl(pool_daemon, "pilot-credential", "pilots", "-o", str(cred)).returncode == 0
    work = tmp_path / "work"
    pilot = subprocess.Popen(
        [sys.executable, "-m", "stratos_executor", "pilot", "--connect", f"unix:{pool_daemon.socket}",
         "--pool", POOL, "--token-file", str(cred), "--work-dir", str(work), "--cpus", "3", "--mem", "3000",
         "--idle-timeout", "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "pilot.log", "wb"))  # noqa: SIM115
    try:
        jobs = {}
        for who in ("x", "y"):
            (tmp_path / who).mkdir()
            monkeypatch.chdir(tmp_path / who)
            monkeypatch.setenv("WHO", who)
            jobs[who] = Processor(job_id=f"real-{who}", master="pilots")
            # a submission carries its environment and working directory
            jobs[who].stream(['sleep 1; echo "$WHO $(pwd) $STRATOS_JOB_ID ${STRATOS_TOKEN:-none}"'] * 3
                             if who == "x" else ["sleep 60"])
        wait_for(lambda: jobs["y"].status().counts["running"] == 1, "y's task running on the pool pilot")
        jobs["y"].cancel()
        assert jobs["x"].wait()
        assert jobs["x"].get_results() == [f"x {tmp_path / 'x'} real-x none\n"] * 3
        assert jobs["y"].status().counts["killed"] == 1
        assert pilot.poll() is None  # the cancel stopped y's task, not the pilot
        assert {t.attempts for t in jobs["x"].stream.tasks()} == {1}
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in work.iterdir()}
        assert modes == {"real-x": 0o700, "real-y": 0o700}  # each job's sandboxes: private to the user
    finally:
        pilot.terminate()
        pilot.wait(timeout=30)
