"""Slurm across nodes (issue 13, item 6): the cluster's real Slurm 22.05 (slurmctld on the head, one
slurmd per host, `up --slurm`, started only because these tests use `realcluster_slurm`), the
daemon in the head namespace submitting pilot jobs with sbatch (`master="slurm://rc"`). The pilots
run on the hosts and reach the daemon's TLS executor listener on the head's address over the bridge.

- the seed's examples (tests/seed_cluster_cases.py) through pilots, a job's pilots on every node;
- a node cut off mid-job: its pilot is lost after 8 s of silence, its tasks run again on the other
  pilots, and when it comes back its late reports give no second result;
- the data-local fraction of a `<[ ]>` job on pilots, measured and printed (not asserted high:
  pilots land where Slurm puts them, and delay scheduling waits only `locality_wait` for them).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import Processor
from tests.realcluster.harness import HeadDaemon, RealCluster
from tests.realcluster.test_faults import every_result_once, started_on, started_there, wait_for
from tests.realcluster.test_locality import write_files
from tests.seed_cluster_cases import CASES

pytestmark = pytest.mark.cluster

#: the jobs tests/seed_cluster_cases.py creates
SEED_JOBS = ("demo-stream", "demo-object", "tmpl-strings", "tmpl-lists", "plain", "map", "red")


def slurm_master(cluster: RealCluster) -> str:
    return f"slurm://{cluster.env['RC_SLURM_PARTITION']}"


def report(request: pytest.FixtureRequest, line: str) -> None:
    """A line in the test run's output, captured or not (figures the tests measure, not assert)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print(f"\n{line}", flush=True)


def hosts_of(job_id: str) -> set[str]:
    return {t.host for t in Processor.attach(job_id).stream.tasks()}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", sorted(CASES))
def test_seed_example_on_slurm_pilots_across_the_cluster(
        case: str, realcluster_slurm: RealCluster, slurm_head_daemon: HeadDaemon, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    CASES[case](tmp_path, {"master": slurm_master(realcluster_slurm)})
    used: set[str] = set()
    for job_id in SEED_JOBS:
        try:
            used |= hosts_of(job_id)
        except Exception:
            continue
    assert used and used <= set(realcluster_slurm.hosts), used  # every task ran in a pilot on a node
    report(request, f"seed example {case} on Slurm pilots: tasks ran on {' '.join(sorted(used))}")


def test_a_jobs_pilots_run_on_every_node(realcluster_slurm: RealCluster, slurm_head_daemon: HeadDaemon) -> None:
    """Whole-node pilots (2 cores each, 3 at most): Slurm gives each its own node."""
    job = Processor(master=slurm_master(realcluster_slurm), job_id="rc-slurm-spread", threads_per_task=1,
                    pilot_cpus=2, max_pilots=3)
    counts = job.batch([f"sleep 2; echo {i} $(hostname)" for i in range(12)])
    assert counts["finished"] == 12, counts
    results = sorted(job.get_results(details=True), key=lambda r: r.task_id)
    for r in results:
        assert r.stdout == f"{r.task_id} {r.host}\n", r  # `hostname` in the task says what its record says
    assert {r.host for r in results} == set(realcluster_slurm.hosts)
    job.close()


@pytest.fixture
def slurm_nodes_restored(realcluster_slurm: RealCluster) -> Iterator[RealCluster]:
    """Every link healed and every Slurm node idle again after the test (ReturnToService=2)."""
    try:
        yield realcluster_slurm
    finally:
        for host in realcluster_slurm.hosts:
            realcluster_slurm.run("heal", host)
        realcluster_slurm.slurm("scancel", "--full", "-p", realcluster_slurm.env["RC_SLURM_PARTITION"])
        wait_for(lambda: realcluster_slurm.idle_slurm_nodes() == set(realcluster_slurm.hosts),
                 "every Slurm node to be idle again", 120)


@pytest.mark.timeout(300)
def test_a_node_cut_off_mid_job_its_pilots_tasks_run_elsewhere_each_result_once(
        slurm_nodes_restored: RealCluster, slurm_head_daemon: HeadDaemon, tmp_path: Path) -> None:
    cluster, runs, n = slurm_nodes_restored, tmp_path / "runs", 9
    runs.mkdir()
    job = Processor(master=slurm_master(cluster), job_id="rc-slurm-cut", threads_per_task=1, pilot_cpus=2,
                    max_pilots=3, max_retries=3)
    # long enough that the tasks on the cut node still run when it comes back
    job.stream([f"echo $(hostname) >> {runs}/{i}; sleep 20; echo result {i}" for i in range(n)])
    victim = cluster.hosts[1]
    cut = wait_for(lambda: started_there(job, runs, victim), f"tasks to run on {victim}", 120)  # one look
    cluster.run("cut", victim)
    try:
        # no word from its pilot for 8 s (--pilot-lost-after): the core runs its tasks on the others
        wait_for(lambda: all(len(started_on(runs, i)) >= 2 for i in cut), "the cut node's tasks to run again", 90)
        for i in cut:
            assert "left" in job.stream.task(i).reason or job.stream.task(i).task.attempts >= 2
    finally:
        cluster.run("heal", victim)
    # the first attempts kept running on the cut node; back, its pilot's reports give no second result
    every_result_once(job, n)
    for i in cut:
        where = started_on(runs, i)
        assert where[0] == victim and victim not in where[1:], (i, where)
        detail = job.stream.task(i)
        assert detail.task.host != victim and detail.task.attempts >= 2, detail
        assert detail.reason.startswith("retried after: "), detail.reason
    job.close()


@pytest.mark.timeout(300)
def test_data_local_fraction_of_a_marked_job_on_pilots_is_measured(
        realcluster_slurm: RealCluster, slurm_head_daemon: HeadDaemon, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    mount = tmp_path / "dfs"
    writer = write_files(realcluster_slurm, mount, "/slurm-in", per_host=4)
    job = Processor(master=slurm_master(realcluster_slurm), hdfs=realcluster_slurm.webhdfs, hdfs_mount=str(mount),
                    job_id="rc-slurm-local", threads_per_task=1, pilot_cpus=2, max_pilots=3)
    began = time.monotonic()
    counts = job.glob_batch("sleep 1; sha1sum < %f%", f"{mount}/slurm-in/*.txt")
    took = time.monotonic() - began
    assert counts["finished"] == len(writer) == 12, counts
    results = job.get_results(details=True)
    local = 0
    for r in results:
        path = next(p for p in writer if str(p) in r.command)
        assert f"<[{path}]>" in r.command and r.host in realcluster_slurm.hosts
        local += r.host == writer[path]
    ctl = subprocess.run([str(Path(sys.executable).parent / "stratosctl"), "status", "rc-slurm-local", "--json"],
                         capture_output=True, text=True, timeout=60, env=os.environ, check=True)
    status = json.loads(ctl.stdout)
    assert 0.0 <= status["locality_tasks"] <= 1.0 and 0.0 <= status["locality_bytes"] <= 1.0, status
    report(request, f"Slurm pilots, data-local: {local}/{len(results)} tasks on their file's only replica; "
                    f"stratosctl status: locality_tasks {status['locality_tasks']:.2f}, locality_bytes "
                    f"{status['locality_bytes']:.2f}; {len(results)} tasks in {took:.1f} s")
    job.close()
