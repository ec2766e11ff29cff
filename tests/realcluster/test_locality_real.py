"""Data locality on real block locations (issue 13, item 3): delay scheduling when the best host is
busy, a file spread over hosts, DataNodes killed before and during a job, and tasks that read their
input through HDFS itself, with each DataNode's own read counters showing the bytes came from the
task's host. Tasks read the mirror under `hdfs_mount` except in the WebHDFS test (test_locality.py
says why)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stratos import Processor
from tests.realcluster.harness import HeadDaemon, RealCluster, block_hosts

pytestmark = pytest.mark.cluster
MiB = 1 << 20


def ctl_status(job_id: str) -> dict[str, Any]:
    out = subprocess.run([str(Path(sys.executable).parent / "stratosctl"), "status", job_id, "--json"],
                         capture_output=True, text=True, timeout=60, env=os.environ, check=True).stdout
    report: dict[str, Any] = json.loads(out)  # stratosctl status --json
    return report


def write(cluster: RealCluster, mount: Path, hdfs_dir: str, name: str, parts: list[tuple[str, int]],
          replication: int = 1) -> Path:
    """A file of the mirror written into HDFS in PARTS: (host, bytes) each, the first `put` from its
    host and the others appended from theirs. Parts of whole blocks (1 MiB) land on their writer."""
    path = mount / hdfs_dir.strip("/") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    for n, (host, size) in enumerate(parts):
        staging = mount.parent / f"part{n}"
        staging.mkdir(exist_ok=True)
        piece = staging / name
        piece.write_bytes(bytes([65 + n]) * (size - 1) + b"\n")
        with path.open("ab") as f:
            f.write(piece.read_bytes())
        if n == 0:
            cluster.put(host, [piece], hdfs_dir, replication=replication)
        else:
            cluster.dfs(host, "-appendToFile", str(piece), f"{hdfs_dir}/{name}")
    return path


def fresh(cluster: RealCluster, *hdfs_dirs: str) -> None:
    """Remove what an earlier run left in HDFS_DIRS."""
    cluster.dfs(cluster.hosts[0], "-rm", "-r", "-f", "-skipTrash", *hdfs_dirs)


def test_a_file_spread_over_hosts_runs_on_the_host_with_the_largest_share(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    h1, h2, h3 = realcluster.hosts
    mount = tmp_path / "dfs"
    fresh(realcluster, "/spread")
    files = {
        write(realcluster, mount, "/spread", "a", [(h1, MiB), (h2, 3 * MiB)]): h2,
        write(realcluster, mount, "/spread", "b", [(h3, 2 * MiB), (h1, MiB)]): h3,
        write(realcluster, mount, "/spread", "c", [(h2, MiB), (h1, 2 * MiB), (h3, MiB)]): h1,
    }
    for path, best in files.items():  # the NameNode's own view: blocks on their writers
        hosts = [b[0] for b in block_hosts(realcluster, f"/spread/{path.name}")]
        assert max(set(hosts), key=hosts.count) == best, (path.name, hosts)
    job = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                    job_id="rc-spread", mem_per_task=64, threads_per_task=1, locality_wait=30)
    assert job.glob_batch("wc -c < %f%", f"{mount}/spread/*")["finished"] == 3
    for r in job.get_results(details=True):
        path = next(p for p in files if str(p) in r.command)
        assert r.host == files[path], (path.name, r.host)
        assert int(r.stdout) == path.stat().st_size
    report = ctl_status("rc-spread")
    assert report["locality_tasks"] == 1.0, report
    assert 0.4 < float(report["locality_bytes"]) < 1.0, report  # the largest share, not all of it
    job.close()


def test_delay_scheduling_waits_for_the_busy_best_host_then_runs_elsewhere(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    best = realcluster.hosts[0]
    mount = tmp_path / "dfs"
    fresh(realcluster, "/busy", "/blocker")
    paths = [write(realcluster, mount, "/busy", f"f{i}", [(best, 1000 + i)]) for i in range(4)]
    # another job fills the best host (2 cpus) with its own data-local tasks for a while
    blocker_file = write(realcluster, mount, "/blocker", "b", [(best, 500)])
    blocker = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                        job_id="rc-blocker", mem_per_task=64, threads_per_task=1, locality_wait=600,
                        mesos_mode="fine")  # (fine: its two tasks hold exactly the best host's two cpus)
    gate = tmp_path / "release-blocker"
    blocker.stream([f"cat <[{blocker_file}]> >/dev/null; while [ ! -e {gate} ]; do sleep 0.2; done; hostname"] * 2)
    deadline = time.monotonic() + 60
    while blocker.stream.count_running_tasks() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {t.host for t in blocker.stream.tasks("running")} == {best}
    try:
        wait = 2.0
        job = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                        job_id="rc-delay", mem_per_task=64, threads_per_task=1, locality_wait=wait)
        submitted = time.time()
        assert job.glob_batch("cat %f% | wc -c", f"{mount}/busy/*")["finished"] == 4
        for r in job.get_results(details=True):
            assert r.host != best  # it ran elsewhere ...
            assert job.stream.task(r.task_id).started >= submitted + wait - 0.5  # ... after waiting for the best host
        report = ctl_status("rc-delay")
        assert report["locality_tasks"] == 0.0, report
        # a job that may wait longer than the best host stays busy runs there once it is free
        patient = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                            job_id="rc-patient", mem_per_task=64, threads_per_task=1, locality_wait=600)
        patient.glob_stream("cat %f% | wc -c", f"{mount}/busy/*")
        time.sleep(wait + 3)
        assert patient.stream.count_running_tasks() == 0 and patient.stream.count_unfinished_tasks() == 4
        gate.touch()
        assert patient.wait()
        assert {t.host for t in patient.stream.tasks()} == {best}
        assert ctl_status("rc-patient")["locality_tasks"] == 1.0
        patient.close()
        job.close()
    finally:
        gate.touch()
        blocker.wait()
        blocker.close()
    del paths


def wait_datanodes(cluster: RealCluster, count: int) -> None:
    cluster.wait_live_datanodes(count, timeout=150)


def test_a_datanode_dead_before_the_job_places_on_the_remaining_replicas_and_one_dying_during_it_changes_nothing(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    h1 = realcluster.hosts[0]
    mount = tmp_path / "dfs"
    fresh(realcluster, "/dead")
    paths = [write(realcluster, mount, "/dead", f"f{i}", [(h1, 3000 + i)], replication=2) for i in range(6)]
    other = {p: next(h for h in block_hosts(realcluster, f"/dead/{p.name}")[0] if h != h1) for p in paths}
    realcluster.run("kill-datanode", h1)
    try:
        wait_datanodes(realcluster, 2)  # the NameNode has declared it dead
        # LiveNodes drops it first; its replicas leave the block locations at the next heartbeat check
        deadline = time.monotonic() + 120
        while any(h1 in hosts for p in paths for hosts in block_hosts(realcluster, f"/dead/{p.name}")):
            assert time.monotonic() < deadline, "the dead DataNode is still in the block locations"
            time.sleep(1)
        job = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                        job_id="rc-dead-dn", mem_per_task=64, threads_per_task=1, locality_wait=30)
        assert job.glob_batch("wc -c < %f%", f"{mount}/dead/*")["finished"] == 6
        for r in job.get_results(details=True):
            path = next(p for p in paths if str(p) in r.command)
            # the remaining replica's host, or the one the NameNode re-replicated the block to once
            # h1 was declared dead (replication 2: it restores the second copy on a live DataNode)
            holders = set(block_hosts(realcluster, f"/dead/{path.name}")[0])
            assert r.host != h1 and r.host in holders | {other[path]}, (path.name, r.host, holders, job.status())
        assert ctl_status("rc-dead-dn")["locality_tasks"] == 1.0
        job.close()
    finally:
        realcluster.run("start-datanode", h1)
        wait_datanodes(realcluster, 3)
    # during a job: a DataNode killed while its tasks run; the job finishes, every result once
    job = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                    job_id="rc-dying-dn", mem_per_task=64, threads_per_task=1, locality_wait=30)
    job.glob_stream("sleep 3; wc -c < %f%", f"{mount}/dead/*")
    deadline = time.monotonic() + 60
    while job.stream.count_running_tasks() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    victim = next(t.host for t in job.stream.tasks("running"))
    realcluster.run("kill-datanode", victim)
    try:
        assert job.wait()
        assert sorted(int(x) for x in job.get_results()) == sorted(p.stat().st_size for p in paths)
        assert job.status().counts["finished"] == 6
        job.close()
    finally:
        realcluster.run("start-datanode", victim)
        wait_datanodes(realcluster, 3)


def datanode_bytes_read(cluster: RealCluster) -> dict[str, int]:
    """Each DataNode's own counter of bytes it served (its /jmx, DataNodeActivity)."""
    out = {}
    for host in cluster.hosts:
        beans = cluster.http(f"http://{cluster.ip(host)}:9864/jmx?qry=Hadoop:service=DataNode,name=DataNodeActivity-*")
        out[host] = sum(int(b["BytesRead"]) for b in beans["beans"])
    return out


def test_tasks_reading_through_webhdfs_are_served_by_their_own_hosts_datanode(
        realcluster: RealCluster, head_daemon: HeadDaemon, tmp_path: Path) -> None:
    mount = tmp_path / "dfs"
    fresh(realcluster, "/webin")
    sizes: dict[str, int] = {}
    writer: dict[str, str] = {}
    for host in realcluster.hosts:
        for i in range(2):
            name = f"{host}-{i}"
            path = write(realcluster, mount, "/webin", name, [(host, 2 * MiB + 1000 * i)], replication=2)
            sizes[name], writer[name] = path.stat().st_size, host
    before = datanode_bytes_read(realcluster)
    # the task reads the file through HDFS from its own host: the NameNode redirects OPEN to a
    # DataNode holding the first block, the nearest (its own) first; `sha1sum` proves the bytes
    url = f"{realcluster.webhdfs}/webhdfs/v1/webin"
    command = f"curl -sfL --max-time 60 '{url}/%n%?op=OPEN' | wc -c; # <[%f%]>"
    job = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                    job_id="rc-webhdfs", mem_per_task=64, threads_per_task=1, locality_wait=30)
    names = sorted(sizes)
    assert job.template_batch(command.replace("%n%", "%c%").replace("%f%", "%c%"),
                              [[n, str(mount / "webin" / n)] for n in names])["finished"] == 6
    total = sum(sizes.values())
    deadline = time.monotonic() + 60  # the DataNodes' JMX values are refreshed every 10 s
    while True:
        after = datanode_bytes_read(realcluster)
        if sum(after.values()) - sum(before.values()) >= total or time.monotonic() > deadline:
            break
        time.sleep(1)
    ran_on: dict[str, int] = {h: 0 for h in realcluster.hosts}
    for r in job.get_results(details=True):
        name = names[r.task_id]
        assert int(r.stdout) == sizes[name]  # it read the whole file
        blocks = block_hosts(realcluster, f"/webin/{name}")
        every_block = set.intersection(*(set(b) for b in blocks))  # the largest share: all of it
        assert writer[name] in every_block
        assert r.host in every_block, (name, r.host, blocks)
        ran_on[r.host] += sizes[name]
    served = {h: after[h] - before[h] for h in realcluster.hosts}
    # every host's DataNode served what its own tasks read (a little more: checksum chunks), and
    # nothing of the others' (one file read from the other replica would add 2 MiB)
    for host in realcluster.hosts:
        assert ran_on[host] <= served[host] < ran_on[host] + 256 * 1024, (served, ran_on)
    report = ctl_status("rc-webhdfs")
    assert report["locality_tasks"] == 1.0 and report["locality_bytes"] == 1.0, report
    job.close()
