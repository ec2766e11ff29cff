"""Issue 17 against the real Mesos 1.11 master: coarse-grained mode (the default), end to end.

A coarse job's Mesos tasks are its executors, at most one per agent, each a `stratos_executor
pilot` that registers with the daemon and runs the job's tasks. What is checked here is what
Mesos itself shows (/master/state, the agents' /state and /files/read) and what the user sees
(results, stories, `stratosctl task`), through failures of executors, agents and the daemon.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest

from stratos import Processor
from stratos_wire import stratos_pb2 as pb
from stratosd.enroll import Enrollment
from tests.daemon import Daemon, daemon_fixture, processes_of, wait_for
from tests.realmesos import coarse
from tests.realmesos.coarse import executor_tasks, frameworks, master, running_executors
from tests.realmesos.harness import RealMesos, real_mesos_fixture
from tests.rpc import hub_stub

pytestmark = pytest.mark.mesos

daemon = daemon_fixture("--mesos-idle-teardown", "1")
#: a finished job keeps its framework (and so its executors, until they are idle) for a minute.
lingering = daemon_fixture("--mesos-idle-teardown", "60", name="lingering")
#: a cluster of its own, for a test that removes one of its agents.
own_mesos = real_mesos_fixture(scope="function", num_agents=3, name="own_mesos")

EXECUTOR_ID = re.compile(r"launched on executor (\S+) \(agent (\S+)\)")



def ctl(daemon: Daemon, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "stratos.ctl", *args], env=dict(os.environ, **daemon.env),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def launches(job: Processor, task_id: int) -> list[tuple[str, str]]:
    """(executor id, agent id) of each attempt's launch, from the task's story."""
    found = []
    for line in job.stream.story(task_id):
        m = EXECUTOR_ID.search(line.detail)
        if m is not None:
            found.append((m.group(1), m.group(2)))
    return found


def slots(task: dict[str, Any], cpus: float, mem: float, disk: float) -> int:
    """How many of the job's tasks an executor's Mesos resources hold room for; they must be that
    many tasks' worth of each resource exactly."""
    res = task["resources"]
    n: int = round(float(res["cpus"]) / cpus)
    assert n >= 1 and res["cpus"] == pytest.approx(n * cpus), res
    assert res["mem"] == pytest.approx(n * mem), res
    assert res.get("disk", 0) == pytest.approx(n * disk), res
    return n


def test_many_short_tasks_run_in_at_most_one_executor_per_agent(
        daemon: Daemon, real_mesos: RealMesos) -> None:
    job = Processor(master=master(real_mesos), job_id="co-many", threads_per_task=1, mem_per_task=64,
                    disk_per_task=16)
    total = 60
    counts = job.batch([f"echo {i}" for i in range(total)])
    assert counts["finished"] == total, counts
    assert job.get_results() == [f"{i}\n" for i in range(total)]  # complete and in order
    tasks = executor_tasks(real_mesos, "co-many")
    agents = {a["id"] for a in real_mesos.state()["slaves"]}
    assert 1 <= len(tasks) <= len(agents), tasks  # not one Mesos task per StratOS task
    assert {t["name"] for t in tasks} == {"co-many executor"}
    assert len({t["slave_id"] for t in tasks}) == len(tasks)  # at most one per agent
    for t in tasks:
        assert slots(t, 1, 64, 16) <= 4  # no more than the agent offered (4 cpus)
    where = {t["id"]: t["slave_id"] for t in tasks}
    for i in range(total):  # each story names the executor that ran the task and its agent
        [(executor_id, agent_id)] = launches(job, i)
        assert where.get(executor_id) == agent_id, (i, executor_id, agent_id, where)
    story = ctl(daemon, "task", "co-many", "7", "--story")
    assert f"launched on executor {launches(job, 7)[0][0]} (agent {launches(job, 7)[0][1]})" in story, story


def test_an_executor_holds_room_for_the_pending_work_only(daemon: Daemon, real_mesos: RealMesos) -> None:
    job = Processor(master=master(real_mesos), job_id="co-size", threads_per_task=1, mem_per_task=100,
                    disk_per_task=10)
    s = job.stream(["sleep 3; echo a", "sleep 3; echo b"])  # 2 tasks; every agent could hold 4
    wait_for(lambda: s.count_running_tasks() == 2, "both tasks to run", timeout=60)
    tasks = executor_tasks(real_mesos, "co-size")
    assert {t["name"] for t in tasks} == {"co-size executor"}
    assert sum(slots(t, 1, 100, 10) for t in tasks) <= 2, tasks  # two tasks' worth, not the offers
    assert job.wait() and sorted(job.get_results()) == ["a\n", "b\n"]


def test_output_mesos_leaves_each_tasks_files_in_the_executors_sandbox(
        daemon: Daemon, real_mesos: RealMesos) -> None:
    job = Processor(master=master(real_mesos), job_id="co-files", mem_per_task=64, output="mesos")
    s = job.stream(["sleep 60"] + [f"echo out{i}; echo err{i} >&2" for i in range(1, 5)])
    wait_for(lambda: all(s.get_status(i) == "finished" for i in range(1, 5)), "the short tasks to finish",
             timeout=90)
    # the long task keeps its executor (and so its sandbox's files endpoint) alive while we read
    where = {t["id"]: t["slave_id"] for t in executor_tasks(real_mesos, "co-files")}
    for i in range(1, 5):
        detail = s.task(i)
        [(executor_id, agent_id)] = launches(job, i)
        assert where[executor_id] == agent_id
        sandbox = coarse.executor_directory(real_mesos, agent_id, executor_id)
        assert detail.stdout_path and detail.stderr_path, detail
        for path, text in ((detail.stdout_path, f"out{i}\n"), (detail.stderr_path, f"err{i}\n")):
            assert path.startswith(sandbox + "/"), (path, sandbox)  # in the executor's Mesos sandbox
            assert coarse.read_sandbox_file(real_mesos, agent_id, path) == text
        shown = ctl(daemon, "task", "co-files", str(i))
        assert detail.stdout_path in shown and detail.stderr_path in shown, shown
    assert s.kill(0) == 1
    assert job.wait()


def test_an_idle_executor_exits_and_gives_its_resources_back(lingering: Daemon, real_mesos: RealMesos) -> None:
    job = Processor(master=master(real_mesos), job_id="co-idle", mem_per_task=64, mesos_idle_timeout=2)
    s = job.stream(["echo one", "echo two"])
    wait_for(lambda: s.count_unfinished_tasks() == 0, "the first tasks to finish", timeout=60)
    first = {t["id"] for t in executor_tasks(real_mesos, "co-idle")}
    assert first

    def released() -> bool:
        live, _ = frameworks(real_mesos, "co-idle")
        ended = {t["id"]: t["state"] for t in executor_tasks(real_mesos, "co-idle") if t["id"] in first}
        return (len(live) == 1 and live[0]["used_resources"]["cpus"] == 0
                and ended == dict.fromkeys(first, "TASK_FINISHED"))

    began = time.monotonic()
    wait_for(released, "the idle executors to exit and free their resources", timeout=30)
    assert time.monotonic() - began < 20  # 2 s idle timeout, not the framework's 60 s teardown
    assert frameworks(real_mesos, "co-idle")[0][0]["active"]  # the framework itself stays for more work
    s.add(["echo three"])
    wait_for(lambda: s.get_status(2) == "finished", "the later task to run", timeout=60)
    results = job.get_results()  # a stream's results come as tasks end
    assert sorted(results[:2]) == ["one\n", "two\n"] and results[2:] == ["three\n"]
    [(executor_id, _)] = launches(job, 2)
    assert executor_id not in first  # a new executor
    assert executor_id in {t["id"] for t in executor_tasks(real_mesos, "co-idle")}


def test_kill9_of_an_executor_reruns_its_tasks_elsewhere_once(daemon: Daemon, real_mesos: RealMesos,
                                                               tmp_path: Path) -> None:
    job = Processor(master=master(real_mesos), job_id="co-kill", threads_per_task=1, mem_per_task=64)
    total = 10
    s = job.stream([f"echo run >> {tmp_path}/{i}; sleep 4; echo o{i}" for i in range(total)])
    wait_for(lambda: s.count_running_tasks() >= 3, "tasks to run", timeout=60)
    running = [i for i in s.list_running_tasks() if launches(job, i)]
    victim = launches(job, running[0])[-1][0]
    on_victim = [i for i in running if launches(job, i)[-1][0] == victim]
    [pid] = coarse.pilot_pids(victim)
    os.kill(pid, signal.SIGKILL)
    assert job.wait()
    assert sorted(job.get_results()) == sorted(f"o{i}\n" for i in range(total))  # every result, once
    for i in on_victim:  # its tasks ran again, on another executor
        tries = launches(job, i)
        assert len(tries) >= 2 and tries[-1][0] != victim, (i, tries)
        assert s.task(i).task.attempts >= 2
    state = {t["id"]: t["state"] for t in executor_tasks(real_mesos, "co-kill")}
    assert state[victim] == "TASK_FAILED", state


def test_an_agent_marked_gone_has_its_tasks_run_on_the_others(monkeypatch: pytest.MonkeyPatch,
                                                              own_mesos: RealMesos) -> None:
    d = Daemon("--mesos-idle-teardown", "1").start()
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    try:
        job = Processor(master=master(own_mesos), job_id="co-gone", threads_per_task=1, mem_per_task=64)
        total = 12
        s = job.stream([f"sleep 4; echo o{i}" for i in range(total)])  # 12 slots on 3 agents
        wait_for(lambda: s.count_running_tasks() >= 6, "tasks to run", timeout=60)
        running = [i for i in s.list_running_tasks() if launches(job, i)]
        gone = launches(job, running[0])[-1][1]
        on_gone = [i for i in running if launches(job, i)[-1][1] == gone]
        body = json.dumps({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": gone}}}).encode()
        request = urllib.request.Request(own_mesos.url + "/api/v1", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200  # the real master accepts it
        wait_for(lambda: gone not in {a["id"] for a in own_mesos.state()["slaves"]}, "the agent to be removed")
        assert job.wait()
        assert sorted(job.get_results()) == sorted(f"o{i}\n" for i in range(total))
        for i in on_gone:
            tries = launches(job, i)
            assert len(tries) >= 2 and tries[-1][1] != gone, (i, tries)
    finally:
        d.cleanup()


def test_daemon_kill9_mid_job_the_executors_keep_their_tasks(daemon: Daemon, real_mesos: RealMesos,
                                                            tmp_path: Path) -> None:
    job = Processor(master=master(real_mesos), job_id="co-restart", threads_per_task=1, mem_per_task=64)
    total = 10
    s = job.stream([f"echo run >> {tmp_path}/{i}; sleep 4; echo o{i}" for i in range(total)])

    def started() -> list[int]:  # the tasks their executor reported running
        return [i for i in range(total) if s.task(i).task.started > 0]

    running = wait_for(lambda: (lambda ids: ids if len(ids) >= 4 else None)(started()), "tasks to start",
                       timeout=60)
    before = {t["id"] for t in running_executors(real_mesos, "co-restart")}
    framework_id = frameworks(real_mesos, "co-restart")[0][0]["id"]
    daemon.kill9()
    daemon.start()  # same state dir: the journal knows the framework and the running attempts
    again = Processor.attach("co-restart")
    assert again.wait()
    assert sorted(again.get_results()) == sorted(f"o{i}\n" for i in range(total))  # every result, once
    for i in range(total):  # and no task ran twice: the executors kept them and were adopted
        assert (tmp_path / str(i)).read_text() == "run\n", i
    for i in running:  # (one placed but not yet started when the daemon died may start again)
        assert again.stream.task(i).task.attempts == 1, i
    assert before <= {t["id"] for t in executor_tasks(real_mesos, "co-restart")}
    live, done = frameworks(real_mesos, "co-restart")
    assert [f["id"] for f in live + done] == [framework_id]  # the same framework, re-subscribed


def _everything_mesos_shows(real_mesos: RealMesos) -> str:
    """The master's and every agent's state endpoints (Mesos 1.11 shows neither a task's command
    nor its environment there) and the agents' container list."""
    texts = [coarse.get_text(real_mesos.url + p) for p in ("/master/state", "/master/tasks?limit=10000")]
    for agent in real_mesos.state()["slaves"]:
        endpoint = coarse.agent_endpoint(real_mesos, agent["id"])
        texts += [coarse.get_text(endpoint + "/state"), coarse.get_text(endpoint + "/containers")]
    return "\n".join(texts)


def _environ_and_cmdline(pid: int) -> str:
    try:
        return b"\n".join(Path(f"/proc/{pid}/{what}").read_bytes() for what in ("environ", "cmdline")).decode(
            errors="replace")
    except OSError:
        return ""


def test_mesos_keeps_no_job_secret_and_the_bootstrap_it_keeps_is_spent(
        daemon: Daemon, real_mesos: RealMesos) -> None:
    job = Processor(master=master(real_mesos), job_id="co-secret", threads_per_task=1, mem_per_task=64)
    token = job.token()
    s = job.stream(["sleep 4; echo done"] * 6)
    wait_for(lambda: s.count_running_tasks() == 6, "the tasks to run", timeout=60)
    executors = [t["id"] for t in running_executors(real_mesos, "co-secret")]
    assert executors
    shown = _everything_mesos_shows(real_mesos)
    files = {p: p.read_text(errors="replace") for p in real_mesos.work_dir.rglob("*")
             if p.is_file() and p.stat().st_size < (8 << 20)}
    processes = [_environ_and_cmdline(pid) for e in executors for pid in coarse.pilot_pids(e)]
    processes += [_environ_and_cmdline(pid) for pid in processes_of("co-secret")]
    assert len(processes) >= len(executors) + 6  # each executor's pilot and the 6 tasks
    enrollment = Enrollment(daemon.state_dir)
    secrets = (token, *(enrollment.credential(token, e) for e in executors))
    for text in (shown, *files.values(), *processes):
        assert not any(secret in text for secret in secrets)
    # what each executor was started with (the agent keeps its ExecutorInfo, environment included,
    # in its work directory): a one-time bootstrap bound to its id, already traded for its credential
    listeners = json.loads((daemon.state_dir / "executor-listeners.json").read_text())["listeners"]
    ca = (daemon.state_dir / "tls" / "ca.pem").read_bytes()
    with grpc.secure_channel(listeners[0]["advertise"], grpc.ssl_channel_credentials(ca)) as channel:
        hub = hub_stub(channel)
        for executor_id in executors:
            [info] = [text for path, text in files.items()
                      if path.name == "executor.info" and path.parent.name == executor_id]
            assert "STRATOS_BOOTSTRAP" in info and "STRATOS_TOKEN" not in info
            [bootstrap] = set(re.findall(r"b\.[0-9a-f]{24}\.[A-Za-z0-9_-]{43}", info))
            with pytest.raises(grpc.RpcError) as err:  # replayed: refused, it was spent
                hub.Enroll(pb.EnrollRequest(job_id="co-secret", executor_id=executor_id),
                           metadata=(("authorization", f"Bootstrap {bootstrap}"),), timeout=10)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert job.wait() and job.get_results() == ["done\n"] * 6


def test_a_cut_subscription_resubscribes_the_same_framework_and_reruns_nothing(
        daemon: Daemon, real_mesos: RealMesos, tmp_path: Path) -> None:
    assert real_mesos.port is not None
    proxy = coarse.Proxy(real_mesos.port)  # the daemon reaches the master only through it
    try:
        job = Processor(master=proxy.address, job_id="co-cut", threads_per_task=1, mem_per_task=64)
        total = 8
        s = job.stream([f"echo run >> {tmp_path}/{i}; sleep 5; echo o{i}" for i in range(total)])
        wait_for(lambda: s.count_running_tasks() >= 4, "tasks to run", timeout=60)
        [framework] = frameworks(real_mesos, "co-cut")[0]
        assert "reregistered_time" not in framework
        assert proxy.cut() >= 1  # the subscription stream (and any other call) is gone; the daemon lives
        again = wait_for(lambda: [f for f in frameworks(real_mesos, "co-cut")[0] if "reregistered_time" in f],
                         "the framework to subscribe again", timeout=60)
        assert again[0]["id"] == framework["id"]  # the same framework id: a failover, not a new one
        assert job.wait()
        assert sorted(job.get_results()) == sorted(f"o{i}\n" for i in range(total))
        for i in range(total):  # the executors kept running their tasks: none ran twice
            assert (tmp_path / str(i)).read_text() == "run\n", i
            assert s.task(i).task.attempts == 1
        live, done = frameworks(real_mesos, "co-cut")
        assert [f["id"] for f in live + done] == [framework["id"]]
    finally:
        proxy.close()
