"""Issue 16 against the real Mesos 1.11 master: no daemon started by the test (the client starts it)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from stratos import Processor
from stratos_wire import stratos_pb2 as pb
from stratosd.enroll import Enrollment
from tests.autostarted import AutoStarted, autostarted
from tests.realmesos.harness import RealMesos
from tests.rpc import hub_stub, stratos_stub

pytestmark = pytest.mark.mesos

ROOT = Path(__file__).resolve().parents[2]
GSNAP = ROOT / "examples" / "bin" / "gsnap"
SNAPSHOTS = ROOT / "examples" / "data" / "snapshots"


@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch) -> Iterator[AutoStarted]:
    yield from autostarted(monkeypatch)


def master(real_mesos: RealMesos) -> str:
    return real_mesos.url.removeprefix("http://")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        body: bytes = r.read()
        return body.decode(errors="replace")


def _everything_mesos_keeps(real_mesos: RealMesos) -> str:
    """The master's state endpoints, every agent's /state, and every file in the agents' work dirs."""
    texts = [_get(real_mesos.url + p) for p in ("/master/state", "/master/tasks?limit=10000",
                                                  "/master/frameworks")]
    for agent in json.loads(texts[0])["slaves"]:
        pid = agent["pid"]  # slave(N)@IP:PORT
        name, _, where = pid.partition("@")
        texts.append(_get(f"http://{where}/{name}/state"))
    for path in real_mesos.work_dir.rglob("*"):
        if path.is_file() and path.stat().st_size < (8 << 20):
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_the_seed_example_starts_the_daemon_and_its_tls_listener_itself(auto: AutoStarted,
                                                                        real_mesos: RealMesos) -> None:
    assert auto.pid() is None
    job = Processor(master=master(real_mesos), threads_per_task=1, job_id="demo", mem_per_task=128)
    counts = job.glob_batch(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_2*")
    assert counts["finished"] == 20 and len(job.get_results()) == 20
    assert auto.pid() is not None
    [listener] = auto.listeners()
    assert listener["tls"] and listener["serves"] == [master(real_mesos)]
    assert listener["bind"].startswith("127.0.0.1:")  # the route to a loopback master
    status = subprocess.run([sys.executable, "-m", "stratosd", "status", "--socket", str(auto.socket)],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stderr
    assert f"{listener['bind']}, TLS: executor calls only, for {master(real_mesos)}" in status.stdout
    assert "Unix socket (this user only)" in status.stdout
    assert max(len(line) for line in status.stdout.splitlines()) <= 80, status.stdout


def test_the_port_stays_across_a_daemon_restart(auto: AutoStarted, real_mesos: RealMesos) -> None:
    Processor(master=master(real_mesos), job_id="port1", mem_per_task=128).batch(["true"])
    before = auto.listeners()[0]["bind"]
    auto.stop(crash=True)  # kill -9: the client restarts it, and it reopens the listener on its port
    job = Processor(job_id="after-restart")
    job.batch(["true"])
    assert auto.listeners()[0]["bind"] == before
    assert Processor(master=master(real_mesos), job_id="port2", mem_per_task=128).batch(["true"])["finished"] == 1


def test_no_job_credential_in_mesos_state_sandboxes_or_command_lines(auto: AutoStarted,
                                                                      real_mesos: RealMesos) -> None:
    # fine mode: one Mesos task (and bootstrap) per task; test_coarse_real.py checks coarse executors
    job = Processor(master=master(real_mesos), job_id="secret-check", mem_per_task=128, mesos_mode="fine")
    token = job.token()
    s = job.stream(["sleep 3; echo done"] * 3)
    deadline = time.monotonic() + 60
    while s.count_running_tasks() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    cmdlines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                cmdlines.append((proc / "cmdline").read_bytes().decode(errors="replace"))
    assert job.wait() and job.get_results() == ["done\n"] * 3
    enrollment = Enrollment(auto.state_dir)
    credentials = [enrollment.credential(token, f"stratos.{key}.{task}.1")
                   for key in range(1, 20) for task in range(3)]
    kept = _everything_mesos_keeps(real_mesos)
    assert "STRATOS_BOOTSTRAP" in kept  # what Mesos does keep: a spent bootstrap
    for secret in (token, *credentials):
        assert secret not in kept
        assert not any(secret in line for line in cmdlines)
    # the bootstraps Mesos keeps are worthless now: Enroll with any of them is refused
    bootstraps = set(re.findall(r"b\.[0-9a-f]{24}\.[A-Za-z0-9_-]{43}", kept))
    assert len(bootstraps) >= 3  # in the agents' checkpointed TaskInfos
    state = json.loads(_get(real_mesos.url + "/master/state"))
    ids = [t["id"] for f in state["frameworks"] + state.get("completed_frameworks", []) if f["name"] == "secret-check"
           for t in f.get("tasks", []) + f.get("completed_tasks", [])]
    assert len(ids) == 3
    ca = (auto.state_dir / "tls" / "ca.pem").read_bytes()
    with grpc.secure_channel(auto.listeners()[0]["advertise"], grpc.ssl_channel_credentials(ca)) as channel:
        hub = hub_stub(channel)
        for bootstrap in bootstraps:
            for executor_id in ids:
                with pytest.raises(grpc.RpcError) as err:
                    hub.Enroll(pb.EnrollRequest(job_id="secret-check", executor_id=executor_id),
                               metadata=(("authorization", f"Bootstrap {bootstrap}"),), timeout=10)
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_auto_opened_listener_speaks_tls_only_and_serves_only_executor_calls(
        auto: AutoStarted, real_mesos: RealMesos) -> None:
    Processor(master=master(real_mesos), job_id="tls-check", mem_per_task=128)
    listener = auto.listeners()[0]
    address = listener["advertise"]
    request = pb.RegisterRequest(job_id="tls-check", executor_id="x", host="h", cpus=1, mem=1)
    with grpc.insecure_channel(address) as plain:  # plain text: no handshake, no answer
        with pytest.raises(grpc.RpcError) as err:
            hub_stub(plain).Register(request, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with grpc.secure_channel(address, grpc.ssl_channel_credentials()) as untrusted:  # the system CAs
        with pytest.raises(grpc.RpcError) as err:
            hub_stub(untrusted).Register(request, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    ca = (auto.state_dir / "tls" / "ca.pem").read_bytes()
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(ca)) as channel:
        hub = hub_stub(channel)
        with pytest.raises(grpc.RpcError) as err:  # the handshake worked; the call needs a credential
            hub.Register(request, metadata=(("authorization", "Bearer wrong"),), timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as err:  # submitting, listing: only on the user's socket
            stratos_stub(channel).ListJobs(pb.ListJobsRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _agents(real_mesos: RealMesos) -> list[dict[str, Any]]:
    return list(real_mesos.state()["slaves"])


@pytest.mark.parametrize("mode", ["fine", "coarse"])
def test_a_node_that_cannot_start_the_executor_fails_fast_and_its_tasks_run_elsewhere(
        mode: str, monkeypatch: pytest.MonkeyPatch, real_mesos: RealMesos) -> None:
    bad = _agents(real_mesos)[0]["id"]
    # one agent's executor program is missing (the real agents share this host: the sandbox path
    # names the agent); the others start StratOS's executor as usual
    script = (f'case "$MESOS_SANDBOX" in */slaves/{bad}/*) exec /nonexistent/stratos-executor "$@";; esac; '
              f'exec {sys.executable} -m stratos_executor "$@"')
    command = f"sh -c {shlex.quote(script)} stratos-executor"
    config = f"[stratosd]\nexecutor_command = {json.dumps(command)}\n"
    for _ in autostarted(monkeypatch, config):
        job = Processor(master=master(real_mesos), job_id="bad-node", mem_per_task=128, max_retries=3,
                        mesos_mode=mode)
        began = time.monotonic()
        counts = job.batch([f"echo {i}" for i in range(12)])  # 12 slots on 3 agents: every agent gets tasks
        assert counts["finished"] == 12, counts
        assert time.monotonic() - began < 120
        assert sorted(job.get_results()) == sorted(f"{i}\n" for i in range(12))
        state = real_mesos.state()
        mesos_tasks = [t for f in state["frameworks"] + state.get("completed_frameworks", [])
                       if f["name"] == "bad-node" for t in f.get("tasks", []) + f.get("completed_tasks", [])]
        assert any(t["slave_id"] == bad and t["state"] == "TASK_FAILED" for t in mesos_tasks)  # it was tried
        if mode == "fine":  # the bad agent's tasks were lost at once and ran again on the others
            assert any(job.stream.task(i).task.attempts > 1 for i in range(12))
        else:  # its executor never started: no task went there, the others' executors ran them all
            stories = [line.detail for i in range(12) for line in job.stream.story(i)]
            ran_on = [d for d in stories if d.startswith("launched on executor")]
            assert len(ran_on) >= 12 and not any(f"(agent {bad})" in d for d in ran_on), ran_on


@pytest.mark.parametrize("mode", ["fine", "coarse"])
def test_a_cluster_without_stratos_gives_lost_tasks_naming_host_and_program(
        mode: str, monkeypatch: pytest.MonkeyPatch, real_mesos: RealMesos) -> None:
    config = '[stratosd]\nexecutor_command = "/nonexistent/stratos-executor"\n'
    for _ in autostarted(monkeypatch, config):
        job = Processor(master=master(real_mesos), job_id="no-stratos", mem_per_task=128, max_retries=1,
                        mesos_mode=mode)
        began = time.monotonic()
        counts = job.batch(["echo never"])
        assert counts.get("lost") == 1, counts
        assert time.monotonic() - began < 60
        reason = job.stream.task(0).reason
        if mode == "fine":
            assert "the executor could not start on host" in reason, reason
            assert "/nonexistent/stratos-executor" in reason and "exit 127" in reason, reason
        else:  # each executor's start failed; after a few in a row the pending task is charged
            assert "Mesos executors in a row ended on localhost before reaching the daemon" in reason, reason
            # a custom executor that cannot start is "Executor terminated" to Mesos: the reason names the
            # host, the agent and the command that failed
            assert "could not start on host localhost (agent " in reason, reason
            assert "/nonexistent/stratos-executor" in reason and "Executor terminated" in reason, reason
        assert "no retries left" in reason
        assert os.environ.get("STRATOS_CONFIG")
