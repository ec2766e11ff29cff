"""Slurm across nodes (issue 13, item 6): the cluster's real Slurm 22.05 (slurmctld on the head, one
slurmd per host, `up --slurm`, started only because these tests use `realcluster_slurm`), the
daemon in the head namespace submitting pilot jobs with sbatch (`master="slurm://rc"`). The pilots
run on the hosts and reach the daemon's TLS executor listener on the head's address over the bridge.

- the seed's examples (tests/seed_cluster_cases.py) through pilots, a job's pilots on every node;
- a node cut off mid-job: its pilot is lost after 8 s of silence, its tasks run again on the other
  pilots, and when it comes back its late reports give no second result;
- pilots where the data is (issue 18, item 3): a `<[ ]>` job's pilots are asked of the nodes holding
  its files (sbatch --nodelist), at least 0.9 of its tasks data-local; a pilot asked of a node another
  Slurm job holds is replaced by one elsewhere after the node wait, and the tasks run there.
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
from typing import Any

import pytest

from stratos import Processor
from tests.realcluster.harness import HeadDaemon, RealCluster, slurm_daemon
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
    """Whole-node pilots (2 cores each, 3 at most) of the job's pool: Slurm gives each its own node."""
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


def glob_local(cluster: RealCluster, job: Processor, holder: dict[Path, str], job_id: str
               ) -> tuple[int, dict[str, Any]]:
    """A finished glob_batch's tasks run on their file's only replica, and `stratosctl status` of it."""
    results = job.get_results(details=True)
    local = 0
    for r in results:
        path = next(p for p in holder if str(p) in r.command)
        assert f"<[{path}]>" in r.command and r.host in cluster.hosts
        local += r.host == holder[path]
    ctl = subprocess.run([str(Path(sys.executable).parent / "stratosctl"), "status", job_id, "--json"],
                         capture_output=True, text=True, timeout=60, env=os.environ, check=True)
    status: dict[str, Any] = json.loads(ctl.stdout)
    return local, status


@pytest.mark.timeout(300)
def test_pilots_are_asked_of_the_nodes_holding_the_data_and_tasks_run_data_local(
        realcluster_slurm: RealCluster, slurm_head_daemon: HeadDaemon, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    """Issue 18, item 3: files written from each node in turn (its DataNode holds the only replica);
    the pool's pilots are asked of those nodes (sbatch --nodelist), so at least 0.9 of the tasks run
    on their data's node (before: 0.33-0.83, Slurm placing pilots where it liked)."""
    assert realcluster_slurm.idle_slurm_nodes() == set(realcluster_slurm.hosts)  # its nodes are free
    mount = tmp_path / "dfs"
    holder = write_files(realcluster_slurm, mount, "/slurm-in", per_host=4)
    job = Processor(master=slurm_master(realcluster_slurm), hdfs=realcluster_slurm.webhdfs, hdfs_mount=str(mount),
                    job_id="rc-slurm-local", threads_per_task=1, pilot_cpus=2, max_pilots=3)
    began = time.monotonic()
    counts = job.glob_batch("sleep 1; sha1sum < %f%", f"{mount}/slurm-in/*.txt")
    took = time.monotonic() - began
    assert counts["finished"] == len(holder) == 12, counts
    local, status = glob_local(realcluster_slurm, job, holder, "rc-slurm-local")
    log = slurm_head_daemon.log()
    asked = {host for host in realcluster_slurm.hosts if f"on node {host})" in log}
    report(request, f"Slurm pilots asked of the data's nodes ({' '.join(sorted(asked))}): data-local {local}/12 "
                    f"tasks; stratosctl status: locality_tasks {status['locality_tasks']:.2f}, locality_bytes "
                    f"{status['locality_bytes']:.2f}; 12 tasks in {took:.1f} s")
    assert asked == set(realcluster_slurm.hosts), log[-3000:]  # sbatch --nodelist for each data node
    # the daemon's log says when each pilot registered and where each task went
    assert status["locality_tasks"] >= 0.9 and local >= 11, (local, status, log[-3000:])
    job.close()


@pytest.fixture
def slurm_daemon_short_node_wait(realcluster_slurm: RealCluster, monkeypatch: pytest.MonkeyPatch
                                 ) -> Iterator[HeadDaemon]:
    """A stratosd on the head that gives a pilot asked of one node 5 s in Slurm's queue."""
    yield from slurm_daemon(realcluster_slurm, monkeypatch, "--slurm-node-wait", "5")


@pytest.mark.timeout(300)
def test_a_pilot_asked_of_a_busy_data_node_is_replaced_by_one_elsewhere_after_the_node_wait(
        slurm_nodes_restored: RealCluster, slurm_daemon_short_node_wait: HeadDaemon, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    """Another Slurm job holds the node where the data is: the pilot asked of it stays queued, is
    scancelled after the node wait (5 s), and one Slurm places on a free node runs the tasks."""
    cluster, daemon = slurm_nodes_restored, slurm_daemon_short_node_wait
    busy = cluster.hosts[0]
    mount = tmp_path / "dfs"
    local_dir = mount / "busy-in"
    local_dir.mkdir(parents=True)
    files = []
    for i in range(4):
        path = local_dir / f"{busy}-{i}.txt"
        path.write_text(f"{busy} file {i}\n" * (20 + i))
        files.append(path)
    cluster.put(busy, files, "/busy-in", replication=1)
    blocker = cluster.slurm("sbatch", "--parsable", "-p", cluster.env["RC_SLURM_PARTITION"], f"--nodelist={busy}",
                            "--exclusive", "--job-name=rc-blocker", "--output=/dev/null", "--wrap",
                            "sleep 600").strip().split(";")[0]
    wait_for(lambda: cluster.slurm("squeue", "-h", "-j", blocker, "-o", "%T").strip() == "RUNNING",
             f"the blocking job {blocker} to run on {busy}", 60)
    job = Processor(master=slurm_master(cluster), hdfs=cluster.webhdfs, hdfs_mount=str(mount), job_id="rc-slurm-busy",
                    threads_per_task=1, pilot_cpus=2, max_pilots=1)
    began = time.monotonic()
    counts = job.glob_batch("sha1sum < %f%", f"{local_dir}/*.txt")
    took = time.monotonic() - began
    assert counts["finished"] == 4, counts
    hosts = {r.host for r in job.get_results(details=True)}
    assert hosts and busy not in hosts and hosts <= set(cluster.hosts), hosts
    log = daemon.log()
    assert f"on node {busy})" in log and f"asked of node {busy} did not start within 5 s: cancelled" in log, log[-3000:]
    assert took >= 5.0, took  # the pilot on any node came after the node wait
    report(request, f"a pilot asked of busy {busy}: replaced after the 5 s node wait; 4 tasks on "
                    f"{' '.join(sorted(hosts))} in {took:.1f} s")
    assert cluster.slurm("squeue", "-h", "-j", blocker, "-o", "%T").strip() == "RUNNING"  # the other job untouched
    job.close()


# -- shared pools across nodes (issue 18, items 1 and 2, on the 3-node Slurm) ----------------------------------

#: prints the executor id of the pilot running the task: the nearest ancestor whose environment names one
#: (tasks do not inherit the pilot's environment; hosts share one pid space here).
PILOT = ('pilot=none; p=$$; while [ "$p" -gt 1 ]; do '
         'e=$(tr "\\0" "\\n" < /proc/$p/environ 2>/dev/null | grep "^STRATOS_EXECUTOR_ID="); '
         'if [ -n "$e" ]; then pilot=${e#*=}; break; fi; p=$(cut -d" " -f4 /proc/$p/stat); done; ')


def shared_job(cluster: RealCluster, name: str, where: Path, who: str, monkeypatch: pytest.MonkeyPatch,
               **settings: Any) -> Processor:
    """A job created from ``where`` with WHO=``who`` in the environment, on whole-node pilots (2 cores)."""
    where.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(where)
    monkeypatch.setenv("WHO", who)
    return Processor(master=slurm_master(cluster), job_id=name, pilot_cpus=2, **settings)


@pytest.mark.timeout(300)
def test_two_jobs_with_their_own_settings_and_environments_share_the_pools_pilots_across_nodes(
        realcluster_slurm: RealCluster, slurm_head_daemon: HeadDaemon, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = realcluster_slurm
    probe = PILOT + 'sleep 1; echo "$WHO $(pwd) $pilot $(hostname)"'
    a = shared_job(cluster, "rc-share-a", tmp_path / "a", "a", monkeypatch, max_pilots=2)
    a.stream([probe] * 6 + ["sleep 4; echo slow-a"])
    # b differs in a setting that is the job's own, not the pool's: its tasks time out after 2 s
    b = shared_job(cluster, "rc-share-b", tmp_path / "b", "b", monkeypatch, max_pilots=2, task_timeout=2,
                   timeout_retries=0)
    b.stream([probe] * 6 + ["sleep 4; echo slow-b"])
    assert a.status().pool == b.status().pool and a.status().pool.startswith("slurm/")
    assert a.wait() and b.wait()
    lines = {name: [r.split() for r in job.get_results() if r.startswith(f"{name} ")]
             for name, job in (("a", a), ("b", b))}
    for name, rows in lines.items():
        assert len(rows) == 6 and all(r[:2] == [name, str(tmp_path / name)] for r in rows), rows
        assert all(r[2].startswith("slurm-") and r[3] in cluster.hosts for r in rows), rows
    pilots_a, pilots_b = {r[2] for r in lines["a"]}, {r[2] for r in lines["b"]}
    assert pilots_a & pilots_b, (pilots_a, pilots_b)  # one pilot ran tasks of both jobs
    assert len({r[3] for rows in lines.values() for r in rows}) == 2  # the pool's two pilots: two nodes
    assert a.stream.task(6).task.status == "finished"  # a's slow task ran on: no timeout for a
    assert b.stream.task(6).task.status == "failed" and "timeout" in b.stream.task(6).reason  # b's own timeout
    a.close()
    b.close()


@pytest.mark.timeout(300)
def test_cancelling_one_job_leaves_the_other_running_on_the_shared_pilots(
        realcluster_slurm: RealCluster, slurm_head_daemon: HeadDaemon, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = realcluster_slurm
    a = shared_job(cluster, "rc-cancel-a", tmp_path / "a", "a", monkeypatch, max_pilots=2)
    b = shared_job(cluster, "rc-cancel-b", tmp_path / "b", "b", monkeypatch, max_pilots=2)
    a.stream([PILOT + f'sleep 3; echo "a{i} $pilot"' for i in range(6)])
    b.stream(["sleep 120"] * 4)
    wait_for(lambda: b.status().counts["running"] >= 1 and a.status().counts["running"] >= 1,
             "both jobs running on the pool's pilots", 120)
    b.cancel()
    assert a.wait()
    results = a.get_results()
    assert sorted(r.split()[0] for r in results) == [f"a{i}" for i in range(6)]
    assert all(t.attempts == 1 for t in a.stream.tasks())  # nothing of a was stopped by b's cancel
    assert b.status().counts["killed"] == 4
    a.close()


@pytest.mark.timeout(300)
def test_a_daemon_killed_with_shared_pilots_running_on_several_nodes_keeps_every_task_where_it_runs(
        realcluster_slurm: RealCluster, slurm_head_daemon: HeadDaemon, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, daemon = realcluster_slurm, slurm_head_daemon
    side = tmp_path / "side"
    side.mkdir()
    command = (f'echo run >> {side}/"$STRATOS_JOB_ID-$STRATOS_TASK_ID"; sleep 6; '
               'echo "$WHO $STRATOS_TASK_ID $(hostname)"')
    jobs = {}
    for name in ("rc-kill-a", "rc-kill-b"):  # each submitted with its own WHO
        jobs[name] = shared_job(cluster, name, tmp_path / name, name, monkeypatch, max_pilots=3)
        jobs[name].stream([command] * 3)
    # started on a pilot (its side effect written), not only launched by the core: a task whose
    # assignment was still on its way to a pilot at the kill is held by none after it, and runs
    # (once) as a second attempt when the adoption window closes
    wait_for(lambda: len(list(side.iterdir())) >= 4, "tasks of both jobs started on the pool's pilots", 120)
    started = {p.name for p in side.iterdir()}
    daemon.kill9()
    time.sleep(1)
    daemon.start()
    hosts: set[str] = set()
    for name in jobs:
        job = Processor.attach(name)
        assert job.wait()
        results = [r.split() for r in job.get_results()]
        assert sorted((r[0], r[1]) for r in results) == [(name, str(i)) for i in range(3)], results
        hosts |= {r[2] for r in results}
        again = [t.task_id for t in job.stream.tasks() if f"{name}-{t.task_id}" in started and t.attempts != 1]
        assert not again, f"tasks running at the kill were started again after the restart: {again}"
    runs = {p.name: p.read_text().count("run") for p in side.iterdir()}
    assert runs == {f"{name}-{i}": 1 for name in jobs for i in range(3)}  # each side effect exactly once
    assert len(hosts) >= 2 and hosts <= set(cluster.hosts), hosts
