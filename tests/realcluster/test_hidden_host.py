"""A host without StratOS installed (issue 13, item 2): `RC_HIDE_hN` hides the project's venv from
one host. The cheapest reliable way on the session's cluster: write the host's hide list and
restart its Mesos agent (it recovers under the same agent id; tasks it starts inherit its mount
namespace, so they no longer see the venv); undo both afterwards.

The job must not hang: the executor cannot start there, Mesos reports the Mesos task failed, the
core runs it again elsewhere, stops sending the job's tasks to that host, and the job's warnings
and the task's record name the host and what it lacks."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import Processor
from tests.realcluster.harness import ClusterError, HeadDaemon, RealCluster

pytestmark = pytest.mark.cluster


def active_agents(cluster: RealCluster) -> set[str]:
    return {a["hostname"] for a in cluster.http(f"http://{cluster.master}/master/slaves")["slaves"] if a.get("active")}


def restart_agent(cluster: RealCluster, host: str, timeout: float = 90) -> None:
    cluster.run("kill-agent", host)
    cluster.run("start-agent", host)
    deadline = time.monotonic() + timeout
    while active_agents(cluster) != set(cluster.hosts):
        if time.monotonic() > deadline:
            raise ClusterError(f"agent {host} not active again after {timeout} s:\n"
                               f"{cluster.log_tail('mesos-agent-' + host)}")
        time.sleep(0.5)


@pytest.fixture
def hidden_host(realcluster: RealCluster) -> Iterator[str]:
    """The last host, its agent restarted without the project's venv in sight."""
    host = realcluster.hosts[-1]
    hide = realcluster.state_dir / "hide" / host
    hide.write_text(sys.prefix + "\n")
    try:
        restart_agent(realcluster, host)
        # the agent's own view: the venv is an empty directory there
        pid = (realcluster.state_dir / "run" / f"mesos-agent-{host}.pid").read_text().split()[0]
        assert not Path(f"/proc/{pid}/root{sys.executable}").exists()
        yield host
    finally:
        hide.unlink()
        restart_agent(realcluster, host)


def test_a_host_without_stratos_is_named_and_the_tasks_run_elsewhere(
        realcluster: RealCluster, hidden_host: str, head_daemon: HeadDaemon) -> None:
    job = Processor(master=realcluster.master, job_id="rc-hidden", mem_per_task=64, threads_per_task=1,
                    mesos_mode="fine")
    counts = job.batch([f"echo task {i}; hostname" for i in range(12)])
    assert counts["finished"] == 12, counts
    results = sorted(job.get_results(details=True), key=lambda r: r.task_id)
    assert [r.stdout.split("\n")[0] for r in results] == [f"task {i}" for i in range(12)]
    for r in results:
        assert r.host != hidden_host and r.stdout.split("\n")[1] == r.host, r
    # the job's warning names the host and what it lacks, once
    warnings = [w for w in job.status().warnings if hidden_host in w]
    assert len(warnings) == 1, job.status().warnings
    assert f"host {hidden_host}: cannot start the StratOS executor: {sys.executable} not found" in warnings[0]
    assert "is StratOS installed there?" in warnings[0]
    # every task that was tried there says so in its record, and then ran on another host
    tried = [d for d in (job.stream.task(t.task_id) for t in job.stream.tasks()) if hidden_host in d.reason]
    assert tried, "no task was offered to the host without StratOS"
    for d in tried:
        assert d.reason.startswith(f"retried after: host {hidden_host}: cannot start the StratOS executor"), d.reason
        assert d.task.status == "finished" and d.task.host != hidden_host and d.task.attempts >= 2
    job.close()


def test_coarse_a_host_without_stratos_gets_no_task_and_the_job_names_it(
        realcluster: RealCluster, hidden_host: str, head_daemon: HeadDaemon) -> None:
    """Coarse mode: the executor on that host never reaches the daemon, so no task is ever placed
    there (none is charged a retry); the job's warning names the host and the executor command."""
    job = Processor(master=realcluster.master, job_id="rc-hidden-coarse", mem_per_task=64, threads_per_task=1)
    counts = job.batch([f"echo task {i}; hostname" for i in range(12)])
    assert counts["finished"] == 12, counts
    results = sorted(job.get_results(details=True), key=lambda r: r.task_id)
    assert [r.stdout.split("\n")[0] for r in results] == [f"task {i}" for i in range(12)]
    for r in results:
        assert r.host != hidden_host and r.stdout.split("\n")[1] == r.host, r
    assert all(job.stream.task(t.task_id).task.attempts == 1 for t in job.stream.tasks())
    warnings = [w for w in job.status().warnings if hidden_host in w]
    assert len(warnings) == 1, job.status().warnings
    assert f"host {hidden_host}" in warnings[0] and sys.executable in warnings[0], warnings[0]
    job.close()
