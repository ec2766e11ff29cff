"""The Mesos backend against the emulated master with named agents: what the real one cannot show here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from stratos import Processor
from tests.daemon import Daemon, daemon_fixture, wait_for


class Emulator:
    """`python -m tests.emulators.mesos` in a subprocess; stopped by its PID."""

    def __init__(self, agents: int = 4, *extra: str) -> None:
        spec = ",".join(f"agent{i}:cpus=2:mem=2048" for i in range(1, agents + 1))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulators.mesos", "--port", "0", "--agents", spec,
             "--allocation-interval", "0.1", "--retry-interval", "0.5", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("READY "), line
        self.url = line.split()[1]

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            data = response.read()
            return json.loads(data) if data else None

    def invariants_ok(self) -> None:
        result = self.get("/emulator/invariants")
        assert result["ok"], result["errors"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


daemon = daemon_fixture("--mesos-idle-teardown", "1")


@pytest.fixture(autouse=True)
def fine_grained(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's agents run command tasks only (no custom executors): these tests are of
    fine-grained mode; coarse mode is tested on the real master (tests/realmesos)."""
    monkeypatch.setenv("STRATOS_MESOS_MODE", "fine")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    e = Emulator(agents=4)
    try:
        yield e
    finally:
        e.stop()



def framework_id(emulator: Emulator, name: str) -> str:
    return str(wait_for(lambda: next((f["id"] for f in emulator.get("/master/state")["frameworks"]
                                      if f["name"] == name), None), f"framework {name}"))


def test_results_match_the_local_backend_across_four_named_agents(daemon: Daemon, emulator: Emulator) -> None:
    commands = [f"echo {i}; sleep 0.1" for i in range(24)]
    local = Processor(job_id="local-twin")
    local.batch(commands)
    expected = local.get_results()
    job = Processor(master=emulator.address, job_id="emu", threads_per_task=1, mem_per_task=512)
    assert job.batch(commands)["finished"] == 24
    assert job.get_results() == expected
    hosts = {job.stream.task(i).task.host for i in range(24)}
    assert hosts <= {f"agent{i}" for i in range(1, 5)} and len(hosts) >= 3
    emulator.invariants_ok()


def test_two_jobs_share_the_cluster_without_exceeding_any_agent(daemon: Daemon, emulator: Emulator) -> None:
    a = Processor(master=emulator.address, job_id="share-a", threads_per_task=1, mem_per_task=1024)
    b = Processor(master=emulator.address, job_id="share-b", threads_per_task=2, mem_per_task=512)
    a.stream([f"sleep 0.3; echo a{i}" for i in range(12)])
    b.stream([f"sleep 0.3; echo b{i}" for i in range(6)])
    peak = 0
    deadline = time.monotonic() + 60
    while (a.stream.count_unfinished_tasks() or b.stream.count_unfinished_tasks()) and time.monotonic() < deadline:
        emulator.invariants_ok()  # never more than an agent has: no double allocation
        peak = max(peak, a.stream.count_running_tasks() + b.stream.count_running_tasks())
        time.sleep(0.05)
    assert a.wait() and b.wait()
    assert sorted(a.get_results()) == sorted(f"a{i}\n" for i in range(12))
    assert sorted(b.get_results()) == sorted(f"b{i}\n" for i in range(6))
    assert peak > 4  # both ran side by side on the 8 cores


def test_agent_loss_mid_job_relaunches_its_tasks_elsewhere(daemon: Daemon, emulator: Emulator) -> None:
    job = Processor(master=emulator.address, job_id="lossy", threads_per_task=2, mem_per_task=512)
    s = job.stream([f"sleep 1; echo r{i}" for i in range(4)])
    wait_for(lambda: s.count_running_tasks() == 4, "one task on each agent")
    victim = s.task(0).task.host
    emulator.post(f"/emulator/agents/{victim}/remove")
    assert job.wait()
    assert sorted(job.get_results()) == sorted(f"r{i}\n" for i in range(4))  # complete, each once
    moved = [i for i in range(4) if s.task(i).task.attempts == 2]
    assert moved and all(s.task(i).task.host != victim for i in moved)
    assert any("AGENT_REMOVED" in s.task(i).reason or "Mesos" in s.task(i).reason for i in moved)


def test_dropped_acknowledgements_are_resent_and_acknowledged(emulator: Emulator,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # A job kept open (no idle TEARDOWN), so the test waits for the acknowledgements themselves:
    # the retried updates' backoff (0.5 s, doubling) must not race a teardown on a loaded machine.
    d = Daemon("--mesos-idle-teardown", "600").start()
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    try:
        job = Processor(master=emulator.address, job_id="acks", mem_per_task=256)
        job.stream(["sleep 0.5"])
        fid = framework_id(emulator, "acks")
        emulator.post("/emulator/acks/drop", {"count": 3, "framework_id": fid})
        job.stream(["echo one", "echo two"])
        assert job.wait()
        assert sorted(job.get_results()) == ["", "one\n", "two\n"]

        def acknowledged() -> dict[str, Any] | None:  # a terminal update acknowledged moves its task here
            fw = next((f for f in emulator.get("/master/state").get("frameworks", []) if f["name"] == "acks"), None)
            return fw if fw is not None and not fw["tasks"] and len(fw["completed_tasks"]) == 3 else None

        fw = wait_for(acknowledged, "every task's terminal update acknowledged", timeout=90)
        assert all(t["state"] == "TASK_FINISHED" for t in fw["completed_tasks"]), fw["completed_tasks"]
        assert emulator.get("/emulator/stats")["acks_dropped"] == 3  # the three were dropped, and resent
        job.close()
    finally:
        d.cleanup()


def test_a_redirecting_master_sends_the_client_to_the_leader(daemon: Daemon, emulator: Emulator) -> None:
    follower = Emulator(1, "--redirect-to", emulator.address)
    try:
        job = Processor(master=follower.address, job_id="redirected", mem_per_task=256)
        assert job.batch(["echo led"])["finished"] == 1
        assert job.get_results() == ["led\n"]
        wait_for(lambda: any(f["name"] == "redirected"
                             for f in emulator.get("/master/state").get("completed_frameworks", [])),
                 "the leader to hold the completed framework")
    finally:
        follower.stop()


def test_heartbeat_loss_resubscribes_with_the_same_framework_id(daemon: Daemon) -> None:
    emulator = Emulator(2, "--heartbeat", "0.3")
    try:
        job = Processor(master=emulator.address, job_id="silent", mem_per_task=256)
        job.stream(["sleep 0.2"])
        fid = framework_id(emulator, "silent")
        emulator.post(f"/emulator/frameworks/{fid}/pause", {"what": "all"})
        job.stream([f"sleep 2; echo late{i}" for i in range(2)])  # needs offers, which come after resubscribing
        assert job.wait()
        assert sorted(job.get_results()) == ["", "late0\n", "late1\n"]
        completed = wait_for(lambda: [f for f in emulator.get("/master/state").get("completed_frameworks", [])
                                      if f["name"] == "silent"], "the framework to complete")
        assert [f["id"] for f in completed] == [fid]  # one framework throughout
    finally:
        emulator.stop()


def test_the_emulator_is_not_imported_by_the_product() -> None:
    out = subprocess.run([sys.executable, "-c", "import stratosd.server, stratos, stratos_executor.remote, sys;"
                          "print([m for m in sys.modules if m.startswith('tests')])"],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.stdout.strip() == "[]"


def test_close_tears_down_at_once_and_a_new_submission_subscribes_again(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Daemon().start()  # the default 60 s idle teardown
    emulator = Emulator(8)  # the count form: agent1..agent8
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    try:
        assert len(emulator.get("/master/state")["slaves"]) == 8
        job = Processor(master=emulator.address, job_id="closable", mem_per_task=256)
        job.batch(["echo one"])
        first = framework_id(emulator, "closable")
        assert not any(f["name"] == "closable" for f in emulator.get("/master/state").get("completed_frameworks", []))
        job.close()
        wait_for(lambda: any(f["id"] == first for f in emulator.get("/master/state").get("completed_frameworks", [])),
                 "TEARDOWN on close")
        job.batch(["echo two"])  # a closed job opens again, as a new framework
        assert job.get_results() == ["one\n", "two\n"]
        assert framework_id(emulator, "closable") != first or any(
            f["name"] == "closable" and f["id"] != first
            for f in emulator.get("/master/state").get("completed_frameworks", []))
    finally:
        emulator.stop()
        d.cleanup()
