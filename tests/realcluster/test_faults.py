"""Faults on real hosts (issue 13, item 5): an agent killed, a host cut off and healed, the daemon
`kill -9`ed, one task's executor killed on its host. Each time every result is delivered exactly
once and none is lost. Every task appends "<attempt host>" to a file of its own when it starts, so
the tests see where each ran; results come from the daemon alone.

Jobs run in the default (coarse) Mesos mode: one executor per agent, a pilot that runs the job's
tasks. The agent kill also runs in fine mode (one Mesos task per task); killing one task's own
executor is a fine-mode fault (test_coarse.py kills a coarse executor).

The session's cluster runs with MESOS_AGENT_PING_TIMEOUT=2secs and MESOS_MAX_AGENT_PING_TIMEOUTS=3
(conftest.py): a silent agent is unreachable for the master after ~6 s instead of 75 s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from stratos import Processor
from tests.realcluster.harness import HeadDaemon, RealCluster

pytestmark = pytest.mark.cluster
T = TypeVar("T")


def wait_for(fn: Callable[[], T | None], what: str, timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def active_agents(cluster: RealCluster) -> set[str]:
    return {a["hostname"] for a in cluster.http(f"http://{cluster.master}/master/slaves")["slaves"] if a.get("active")}


def all_agents_back(cluster: RealCluster, timeout: float = 120) -> None:
    wait_for(lambda: active_agents(cluster) == set(cluster.hosts), "every agent to be active again", timeout)


def commands(runs: Path, count: int, seconds: float) -> list[str]:
    runs.mkdir(exist_ok=True)
    return [f"echo $(hostname) >> {runs}/{i}; sleep {seconds}; echo result {i}" for i in range(count)]


def started_on(runs: Path, i: int) -> list[str]:
    path = runs / str(i)
    return path.read_text().split() if path.exists() else []


def running_on(job: Processor, host: str) -> list[int]:
    return [t.task_id for t in job.stream.tasks("running") if t.host == host]


def started_there(job: Processor, runs: Path, host: str) -> list[int] | None:
    """The tasks running on ``host`` once each has started its command (written its file), else None.

    One look at the running tasks: Mesos says TASK_RUNNING when the executor starts, before it has
    reached the daemon and started the command, so a task may be "running" with no file yet.
    """
    ids = running_on(job, host)
    return ids if ids and all(started_on(runs, i) for i in ids) else None


def every_result_once(job: Processor, count: int) -> None:
    assert job.wait()
    results = job.get_results()
    assert sorted(results) == sorted(f"result {i}\n" for i in range(count)), results
    assert job.get_results() == []  # nothing comes twice
    counts = job.status().counts
    assert counts["finished"] == count and counts["lost"] == 0, counts


@pytest.fixture
def agents_restored(realcluster: RealCluster) -> Iterator[RealCluster]:
    """Whatever a test did to agents and links, every host is back and active afterwards."""
    try:
        yield realcluster
    finally:
        for host in realcluster.hosts:
            realcluster.run("heal", host)
            if not (realcluster.state_dir / "run" / f"mesos-agent-{host}.pid").exists():  # killed
                realcluster.run("start-agent", host)
        all_agents_back(realcluster)


@pytest.mark.parametrize("mode", ["coarse", "fine"])
def test_an_agent_killed_mid_job_its_tasks_run_again_elsewhere_each_result_once(
        agents_restored: RealCluster, head_daemon: HeadDaemon, tmp_path: Path, mode: str) -> None:
    cluster, runs, n = agents_restored, tmp_path / "runs", 9
    job = Processor(master=cluster.master, job_id="rc-kill-agent", mem_per_task=64, threads_per_task=1,
                    mesos_mode=mode)
    job.stream(commands(runs, n, 8))
    victim = cluster.hosts[0]
    doomed = wait_for(lambda: started_there(job, runs, victim), f"tasks to run on {victim}")
    cluster.run("kill-agent", victim)
    # the real master reports them (agent removed: TASK_LOST), the core runs them again elsewhere
    every_result_once(job, n)
    for i in doomed:
        where = started_on(runs, i)
        assert where[0] == victim and where[-1] != victim, (i, where)
        # Mesos: TASK_LOST, or the executor stopped as the stand-in command executor does without its agent
        assert job.stream.task(i).reason.startswith("retried after: "), job.stream.task(i).reason
    job.close()


def test_a_host_cut_off_mid_job_and_healed_later_gives_each_result_once(
        agents_restored: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    cluster, runs, n = agents_restored, tmp_path / "runs", 9
    job = Processor(master=cluster.master, job_id="rc-cut", mem_per_task=64, threads_per_task=1)
    # long enough that the tasks on the cut host still run when it comes back
    job.stream(commands(runs, n, 25))
    victim = cluster.hosts[1]
    # one look at the running tasks (two could differ: a task reported running between them would be
    # taken without its file, i.e. before its command started, and the cut would find nothing to rerun)
    cut = wait_for(lambda: started_there(job, runs, victim), f"tasks to run on {victim}")
    cluster.run("cut", victim)
    try:
        # the master marks the agent unreachable (~6 s): the core runs its tasks again elsewhere
        wait_for(lambda: all(len(started_on(runs, i)) >= 2 for i in cut), "the cut host's tasks to run again", 90)
        assert victim not in active_agents(cluster)
    finally:
        cluster.run("heal", victim)
    # the first attempts kept running on the cut host; healed, they must not yield a second result
    every_result_once(job, n)
    for i in cut:
        where = started_on(runs, i)
        assert where[0] == victim and victim not in where[1:], (i, where)
        assert job.stream.task(i).task.host != victim
    all_agents_back(cluster)
    time.sleep(3)  # the re-registered agent's reports of its old tasks have come in by now
    assert job.get_results() == []
    job.close()


def test_daemon_kill9_mid_job_on_the_cluster_adopts_the_tasks_none_runs_twice(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    runs, n = tmp_path / "runs", 9
    job = Processor(master=realcluster.master, job_id="rc-kill9", mem_per_task=64, threads_per_task=1)
    job.stream(commands(runs, n, 6))
    wait_for(lambda: len(job.stream.tasks("running")) >= 4 and sum(bool(started_on(runs, i)) for i in range(n)) >= 4,
             "tasks to run")
    head_daemon.kill9()
    head_daemon.start()  # same state dir: the journaled framework id, the executors' listener port
    again = Processor.attach("rc-kill9")
    every_result_once(again, n)
    hosts = set()
    for i in range(n):
        where = started_on(runs, i)
        assert len(where) == 1, (i, where)  # adopted, not run again
        hosts.add(where[0])
    assert len(hosts) >= 2, hosts
    again.close()


def mesos_task_id(cluster: RealCluster, job_id: str, task_id: int) -> tuple[str, str] | None:
    """(framework id, Mesos task id) of a running task of a fine-mode job, as the real master lists them. Task
    ids repeat across the tests' daemons (each starts at job key 1): only the pair is unique."""
    for framework in cluster.master_state()["frameworks"]:
        if framework["name"] == job_id and framework["active"]:
            for task in framework.get("tasks", []):
                if task["name"] == f"{job_id}:{task_id}" and task["state"] == "TASK_RUNNING":
                    return str(framework["id"]), str(task["id"])
    return None


def executor_pid(cluster: RealCluster, host: str, mesos_task: tuple[str, str]) -> int | None:
    """The pid of the `stratos_executor` of Mesos task MESOS_TASK, found in /proc (the hosts share
    the pid namespace) among the processes in HOST's network namespace."""
    host_net = os.stat(f"/run/netns/{cluster.env['RC_NETNS_PREFIX']}{host}").st_ino
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino != host_net:
                continue
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        # the python process itself, not the `sh -c` around it
        if b"stratos_executor" in cmdline and f"MESOS_FRAMEWORK_ID={mesos_task[0]}".encode() in environ \
                and f"STRATOS_EXECUTOR_ID={mesos_task[1]}".encode() in environ:
            return int(entry.name)
    return None


def test_an_executor_killed_on_its_host_its_task_runs_again_once(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    runs, n = tmp_path / "runs", 4
    job = Processor(master=realcluster.master, job_id="rc-kill-exec", mem_per_task=64, threads_per_task=1,
                    mesos_mode="fine")  # one Mesos task, named JOB:TASK, per task
    job.stream(commands(runs, n, 8))
    t = wait_for(lambda: next((t for t in job.stream.tasks("running") if started_on(runs, t.task_id)), None),
                 "a task to run")
    mesos_task = wait_for(lambda: mesos_task_id(realcluster, "rc-kill-exec", t.task_id), "its Mesos task")
    pid = wait_for(lambda: executor_pid(realcluster, t.host, mesos_task), f"task {t.task_id}'s executor")
    assert started_on(runs, t.task_id) == [t.host]
    # from inside that host, by pid
    realcluster.exec(t.host, "kill", "-KILL", str(pid))
    every_result_once(job, n)
    where = started_on(runs, t.task_id)
    assert len(where) == 2 and where[0] == t.host, where  # the killed attempt, and the one that gave the result
    assert "retried after: Mesos: TASK_FAILED" in job.stream.task(t.task_id).reason
    job.close()
