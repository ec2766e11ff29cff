"""The seed's public API on 3 real hosts (issue 13, item 2): map/reduce, a monitor and relauncher
(the monitor runs on the task's host), every output mode. Each gives what the local backend gives
for the same job, run by the same daemon."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stratos import Processor
from tests.realcluster.harness import HeadDaemon, RealCluster

pytestmark = pytest.mark.cluster

MONITOR = """#!/bin/sh
# $1: the task's pid, $2: its new output. One line per call: where it ran, and the pid's program.
echo "$(hostname) $1 $(tr '\\0\\n' '  ' < /proc/$1/cmdline)" >> "{log}"
case "$2" in *PLEASE_RELAUNCH*) echo stratos_relaunch; echo "stuck on $(hostname)";; esac
"""
RELAUNCHER = """#!/bin/sh
# $1: the monitor's output. Two replacements, one of which says where the relauncher ran.
echo "echo replacement-1 ok"
echo "echo replacement-2"
"""


def script(path: Path, body: str) -> str:
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


def cluster_job(cluster: RealCluster, job_id: str, **kw: object) -> Processor:
    return Processor(master=cluster.master, job_id=job_id, mem_per_task=64, threads_per_task=1, **kw)  # type: ignore[arg-type]


def test_monitor_on_the_tasks_host_and_relauncher_give_the_local_results(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    commands = ["echo before", "echo PLEASE_RELAUNCH; exec sleep 60", "echo after", "sleep 1.5; echo slow"]
    relauncher = script(tmp_path / "relauncher.sh", RELAUNCHER)
    runs = {}
    for where in ("cluster", "local"):
        log = tmp_path / f"monitor-{where}.log"
        monitor = script(tmp_path / f"monitor-{where}.sh", MONITOR.format(log=log))
        settings = dict(monitor=monitor, relauncher=relauncher, update_interval=0.5)
        job = (cluster_job(realcluster, "rc-monitor", **settings) if where == "cluster"
               else Processor(job_id="rc-monitor-local", **settings))  # type: ignore[arg-type]
        counts = job.batch(commands)
        assert counts["relaunched"] == 1 and counts["finished"] == 5, counts
        runs[where] = (job.get_results(), job)
    got, job = runs["cluster"]
    assert got == runs["local"][0] == ["before\n", "replacement-1 ok\n", "replacement-2\n", "after\n", "slow\n"]
    stuck = job.stream.task(1)
    assert stuck.task.status == "relaunched" and stuck.relaunched_as == (4, 5)
    assert f"stuck on {stuck.task.host}" in stuck.monitor_output  # the monitor ran on the task's host
    # every monitor call ran on the host of the task it watched (`hostname` in its own process),
    # and was given the pid of that task's program
    calls = [line.split(" ", 2) for line in (tmp_path / "monitor-cluster.log").read_text().splitlines()]
    assert calls
    hosts = {t.task_id: t.host for t in job.stream.tasks()}
    for host, _pid, cmdline in calls:
        assert host in realcluster.hosts, calls
        if cmdline.startswith("sleep 60"):
            assert host == hosts[1], (calls, hosts)
        elif cmdline.startswith("sleep 1.5"):
            assert host == hosts[3], (calls, hosts)
    assert any(c[2].startswith("sleep 60") for c in calls)
    job.close()


def test_map_and_reduce_jobs_on_the_cluster_give_the_local_results(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(9):
        (raw / f"doc{i}.txt").write_text(" ".join(f"w{j}" for j in range(3 * i + 1)) + "\n")
    # each map task sleeps a little, so the job's work outlasts one executor's 2 slots: instant tasks
    # may all run on the first agent's executor before another agent's offer comes (coarse mode)
    mapper = script(tmp_path / "mapper", '#!/bin/sh\nsleep 1; wc -w < "$1" > "$2/$(basename "$1").count"; hostname\n')
    outs = {}
    for where in ("cluster", "local"):
        results_dir = tmp_path / f"map-{where}"
        results_dir.mkdir()
        if where == "cluster":
            map_job, reduce_job = cluster_job(realcluster, "rc-map"), cluster_job(realcluster, "rc-red")
        else:
            map_job, reduce_job = Processor(job_id="rc-map-local"), Processor(job_id="rc-red-local")
        map_job.glob_stream(f"{mapper} %f% {results_dir}", f"{raw}/*")
        assert map_job.wait()
        mapped_on = map_job.get_results()
        reduce_job.glob_stream("cat %f%", f"{results_dir}/*")
        assert reduce_job.wait()
        outs[where] = sorted(reduce_job.get_results())
        if where == "cluster":
            assert len(mapped_on) == 9 and {h.strip() for h in mapped_on} <= set(realcluster.hosts)
            assert len({h.strip() for h in mapped_on}) >= 2, mapped_on  # spread over the hosts
            map_job.close()
            reduce_job.close()
    assert outs["cluster"] == outs["local"] == sorted(f"{3 * i + 1}\n" for i in range(9))


@pytest.mark.parametrize("mode", ["disk", "mesos", "none"])
def test_every_output_mode_on_the_cluster_gives_the_local_records_and_files(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path, mode: str) -> None:
    commands = ["echo out-a; hostname >&2", "echo err-b >&2; exit 2", "printf 'x%.0s' $(seq 1000)"]
    records = {}
    for where in ("cluster", "local"):
        logs = tmp_path / f"logs-{where}"
        settings = dict(output=mode, log_directory=str(logs))
        if where == "local" and mode == "mesos":
            continue  # the local backend has no Mesos sandbox: compared with "disk" below
        job = (cluster_job(realcluster, f"rc-out-{mode}", **settings) if where == "cluster"
               else Processor(job_id=f"rc-out-{mode}-local", **settings))  # type: ignore[arg-type]
        counts = job.batch(commands)
        assert counts["finished"] == 2 and counts["failed"] == 1, counts
        assert job.get_results() == []  # the output goes elsewhere
        records[where] = (job.get_results(details=True), job)
    got, job = records["cluster"]
    assert [(r.task_id, r.status, r.exit_code) for r in got] == [(0, "finished", 0), (1, "failed", 2),
                                                                 (2, "finished", 0)]
    assert job.get_results(details=True) == []  # once per cursor
    hosts = {t.task_id: t.host for t in job.stream.tasks()}
    assert set(hosts.values()) <= set(realcluster.hosts)
    expected_out = ["out-a\n", "", "x" * 1000]
    if mode == "none":
        assert all(r.stdout_path is None and r.stderr_path is None for r in got)
    else:
        for r, out in zip(got, expected_out, strict=True):
            assert r.stdout_path and r.stderr_path and Path(r.stdout_path).read_text() == out
        assert Path(got[0].stderr_path or "").read_text() == f"{hosts[0]}\n"  # written on its host
        assert Path(got[1].stderr_path or "").read_text() == "err-b\n"
        if mode == "disk":
            assert got[0].stdout_path == str(tmp_path / "logs-cluster" / job.job_id / "0.stdout")
        else:  # the executor's sandbox on the agent that ran it (in that agent's work directory)
            for r in got:
                agent_dir = realcluster.state_dir / "mesos" / hosts[r.task_id]
                assert Path(r.stdout_path or "").is_relative_to(agent_dir), (r.stdout_path, agent_dir)
                assert Path(r.stdout_path or "").parent.name == f"{r.task_id}-1", r.stdout_path  # TASK-ATTEMPT
            # stratosctl task shows where the output is: the host, and the path there
            ctl = subprocess.run([str(Path(sys.executable).parent / "stratosctl"), "task", job.job_id, "1"],
                                 capture_output=True, text=True, timeout=60, env=os.environ, check=True)
            assert f"stderr file\t{hosts[1]}:{got[1].stderr_path}" in ctl.stdout, ctl.stdout
            assert f"sandbox\t{hosts[1]}:{Path(got[1].stderr_path or '').parent}" in ctl.stdout, ctl.stdout
    if "local" in records:
        local = records["local"][0]
        assert [(r.task_id, r.status, r.exit_code) for r in local] == [(r.task_id, r.status, r.exit_code) for r in got]
        if mode != "none":
            assert [Path(r.stdout_path or "").read_text() for r in local] == expected_out
    job.close()
