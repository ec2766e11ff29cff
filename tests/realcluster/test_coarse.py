"""Coarse-grained Mesos on the real 3-host cluster (issue 17): each job starts at most one long-lived
executor per agent (a Mesos task named "<job> executor" running `stratos_executor pilot`), and the
core places the job's tasks on those executors.

- map/reduce: every task's story says which executor (and agent) ran it, `stratosctl task --story`
  shows it, the master lists that executor on that agent, and no agent ran two of a job's executors;
- an executor `kill -9`ed by pid inside its host: the tasks it ran are run again on another
  executor, each result once (the agent kill, in both modes, is in test_faults.py);
- data locality: a `glob_batch` over files each written into HDFS from one host runs at least 0.9 of
  its tasks on a host holding their data (`locality_tasks` in the job's status).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stratos import Processor
from tests.realcluster.harness import HeadDaemon, RealCluster
from tests.realcluster.test_faults import commands, every_result_once, started_on, wait_for
from tests.realcluster.test_locality import write_files

pytestmark = pytest.mark.cluster

STRATOSCTL = str(Path(sys.executable).parent / "stratosctl")
LAUNCHED = re.compile(r"launched on executor (\S+) \(agent (\S+)\)")


def launches(job: Processor, task_id: int) -> list[tuple[int, str, str]]:
    """(attempt, executor id, Mesos agent id) of each launch of a task, from its story."""
    found = []
    for line in job.stream.story(task_id):
        m = LAUNCHED.fullmatch(line.detail)
        if m is not None:
            found.append((line.attempt, m.group(1), m.group(2)))
    return found


def agent_names(cluster: RealCluster) -> dict[str, str]:
    """Mesos agent id -> its host name."""
    return {a["id"]: a["hostname"] for a in cluster.agents()}


def executors_on_master(cluster: RealCluster, job_id: str, known: set[str]) -> dict[str, dict[str, Any]]:
    """The Mesos tasks of the job's coarse executors, running or ended, as the master lists them, in
    the frameworks that hold one of the KNOWN executor ids (earlier tests' jobs had the same names)."""
    state = cluster.master_state()
    found = {}
    for framework in state["frameworks"] + state.get("completed_frameworks", []):
        tasks = framework.get("tasks", []) + framework.get("completed_tasks", [])
        if framework["name"] == job_id and known & {t["id"] for t in tasks}:
            found.update({t["id"]: t for t in tasks if t["name"] == f"{job_id} executor"})
    return found


def check_executors(cluster: RealCluster, job: Processor, job_id: str, count: int) -> set[str]:
    """Every task's record says which executor on which agent ran it, as the master knows them;
    at most one executor of the job per agent. The hosts the tasks ran on."""
    names = agent_names(cluster)
    ran = {i: launches(job, i) for i in range(count)}
    on_master = executors_on_master(cluster, job_id, {e for tries in ran.values() for _, e, _ in tries})
    per_agent = Counter(t["slave_id"] for t in on_master.values())
    assert on_master and max(per_agent.values()) == 1, per_agent  # one executor per agent at most
    hosts = set()
    for i, tries in ran.items():
        record = job.stream.task(i).task
        [(attempt, executor, agent)] = tries  # one attempt each: no fault here
        assert attempt == 1 and executor in on_master, (i, tries, sorted(on_master))
        assert on_master[executor]["slave_id"] == agent and names[agent] == record.host, (i, tries, record)
        hosts.add(record.host)
    return hosts


def test_map_reduce_in_coarse_mode_each_task_names_its_executor_one_per_agent(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    raw, counted = tmp_path / "raw", tmp_path / "counted"
    raw.mkdir()
    counted.mkdir()
    n = 12
    for i in range(n):
        (raw / f"doc{i:02d}.txt").write_text(" ".join(f"w{j}" for j in range(2 * i + 1)) + "\n")
    # each map task sleeps a little, so the job's work outlasts one executor's 2 slots
    mapper = f'sleep 1; wc -w < %f% > {counted}/$(basename %f%).count; hostname'
    map_job = Processor(master=realcluster.master, job_id="rc-coarse-map", mem_per_task=64, threads_per_task=1,
                        mesos_mode="coarse")
    assert map_job.glob_batch(mapper, f"{raw}/*.txt")["finished"] == n
    ran_on = {r.task_id: r.stdout.strip() for r in map_job.get_results(details=True)}
    reduce_job = Processor(master=realcluster.master, job_id="rc-coarse-red", mem_per_task=64, threads_per_task=1)
    reduce_job.glob_stream("cat %f%", f"{counted}/*.count")
    assert reduce_job.wait()
    assert sorted(reduce_job.get_results()) == sorted(f"{2 * i + 1}\n" for i in range(n))

    hosts = check_executors(realcluster, map_job, "rc-coarse-map", n)
    assert len(hosts) >= 2 and hosts <= set(realcluster.hosts), hosts  # spread over the agents
    for i, host in ran_on.items():  # `hostname` in the task itself agrees with its record
        assert host == map_job.stream.task(i).task.host, (i, host)
    check_executors(realcluster, reduce_job, "rc-coarse-red", n)
    # stratosctl says it too
    ctl = subprocess.run([STRATOSCTL, "task", "rc-coarse-map", "0", "--story"], capture_output=True, text=True,
                         timeout=60, env=os.environ, check=True)
    [(_, executor, agent)] = launches(map_job, 0)
    assert f"launched on executor {executor} (agent {agent})" in ctl.stdout, ctl.stdout
    assert map_job.stream.task(0).task.host in ctl.stdout, ctl.stdout
    map_job.close()
    reduce_job.close()


def pilot_pid(cluster: RealCluster, host: str, executor_id: str) -> int | None:
    """The pid of the coarse executor EXECUTOR_ID (the `stratos_executor pilot` Python process, not
    the `sh -c` around it) among the processes of HOST's network namespace (`ip netns pids`)."""
    ns = f"{cluster.env['RC_NETNS_PREFIX']}{host}"
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=True).stdout.split()
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"stratos_executor" in cmdline and b"pilot" in cmdline \
                and f"STRATOS_EXECUTOR_ID={executor_id}".encode() in environ:
            return int(pid)
    return None


def test_a_coarse_executor_killed_on_its_host_its_tasks_run_again_on_another_each_result_once(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    runs, n = tmp_path / "runs", 9
    job = Processor(master=realcluster.master, job_id="rc-kill-pilot", mem_per_task=64, threads_per_task=1,
                    mesos_mode="coarse")
    job.stream(commands(runs, n, 8))

    def victim() -> tuple[str, str, list[int]] | None:
        """An executor whose running tasks have all started their commands: (executor, host, tasks)."""
        on: dict[str, list[int]] = {}
        for t in job.stream.tasks("running"):
            found = launches(job, t.task_id)
            if found and found[-1][0] == t.attempts:
                on.setdefault(found[-1][1], []).append(t.task_id)
        names = agent_names(realcluster)
        for executor, ids in on.items():
            if all(started_on(runs, i) for i in ids):
                return executor, names[launches(job, ids[0])[-1][2]], ids
        return None

    executor, host, doomed = wait_for(victim, "an executor's tasks to run")
    pid = wait_for(lambda: pilot_pid(realcluster, host, executor), f"executor {executor}'s pid on {host}")
    realcluster.exec(host, "kill", "-KILL", str(pid))  # from inside that host, by pid
    every_result_once(job, n)
    for i in doomed:
        where, tries = started_on(runs, i), launches(job, i)
        assert len(where) == 2 and where[0] == host, (i, where)  # the killed attempt, and the one that gave the result
        assert len(tries) == 2 and tries[0][1] == executor and tries[1][1] != executor, (i, tries)
        assert agent_names(realcluster)[tries[1][2]] == where[1] == job.stream.task(i).task.host, (i, tries, where)
        assert job.stream.task(i).reason.startswith("retried after: "), job.stream.task(i).reason
    for i in set(range(n)) - set(doomed):
        assert len(started_on(runs, i)) == 1, (i, started_on(runs, i))  # the others ran once
    job.close()


def test_glob_batch_in_coarse_mode_is_data_local(realcluster: RealCluster, head_daemon: HeadDaemon,
                                                 tmp_path: Path) -> None:
    mount = tmp_path / "dfs"
    holder = write_files(realcluster, mount, "/coarse-in", per_host=4)
    job = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                    job_id="rc-coarse-locality", mem_per_task=64, threads_per_task=1, mesos_mode="coarse")
    counts = job.glob_batch("wc -l < %f%; hostname", f"{mount}/coarse-in/*.txt")
    assert counts["finished"] == len(holder) == 12, counts
    local, names = 0, agent_names(realcluster)
    for r in job.get_results(details=True):
        path = next(p for p in holder if f"<[{p}]>" in r.command)
        lines, ran_on = r.stdout.split()
        assert int(lines) == len(path.read_text().splitlines()) and ran_on == r.host, (r.task_id, r.stdout)
        assert names[launches(job, r.task_id)[-1][2]] == r.host  # placed on an executor on that host's agent
        local += r.host == holder[path]
    status = job.status()
    assert status.locality_tasks is not None and status.locality_tasks >= 0.9, status
    assert local >= 0.9 * len(holder), (local, len(holder))  # the tasks' own `hostname` agrees
    job.close()
