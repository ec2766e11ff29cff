"""Data-local placement through the public API on a real cluster: 3 hosts, each a Mesos 1.11 agent
and an HDFS 2.7.3 DataNode of its own name and address (tests/realcluster).

Nothing mounts HDFS on these hosts (no FUSE/NFS gateway here), so `hdfs_mount` is a directory that
mirrors the HDFS tree: every file is written there and into HDFS from a chosen host; tasks read
the mirror (the hosts share one file system), the daemon locates the same paths in HDFS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stratos import Processor
from tests.realcluster.harness import HeadDaemon, RealCluster, block_hosts

pytestmark = pytest.mark.cluster


def write_files(realcluster: RealCluster, mount: Path, hdfs_dir: str, per_host: int) -> dict[Path, str]:
    """`per_host` files per host in the mirror, each written into HDFS from its host alone, with
    replication 1. Mirror path -> the host holding its only replica, as the NameNode says: the
    writer's own DataNode as a rule, but HDFS may place it elsewhere (it passes over a DataNode
    it finds busy), and where the data is, not who wrote it, is what tasks are placed by."""
    holder = {}
    local_dir = mount / hdfs_dir.strip("/")
    local_dir.mkdir(parents=True, exist_ok=True)
    for host in realcluster.hosts:
        mine = []
        for i in range(per_host):
            path = local_dir / f"{host}-{i}.txt"
            path.write_text("".join(f"{host} line {n} of file {i}\n" for n in range(50 + 17 * i)))
            mine.append(path)
        realcluster.put(host, mine, hdfs_dir, replication=1)
        for path in mine:
            (only,) = {h for hosts in block_hosts(realcluster, f"{hdfs_dir}/{path.name}") for h in hosts}
            holder[path] = only
    return holder


def test_glob_batch_runs_every_task_on_the_host_holding_its_file(realcluster: RealCluster, head_daemon: HeadDaemon,
                                                        tmp_path: Path) -> None:
    mount = tmp_path / "dfs"
    holder = write_files(realcluster, mount, "/in", per_host=2)
    where = tmp_path / "where"
    where.mkdir()
    # stdout is the file's content digest; the host the task ran on goes to a file of its own
    command = f"sha1sum < %f%; wc -l < %f%; hostname > {where}/$STRATOS_JOB_ID.$STRATOS_TASK_ID"
    job = Processor(master=realcluster.master, hdfs=realcluster.webhdfs, hdfs_mount=str(mount),
                    job_id="rc-locality", mem_per_task=64, threads_per_task=1)
    counts = job.glob_batch(command, f"{mount}/in/*.txt")
    assert counts["finished"] == len(holder) == 6, counts
    results = sorted(job.get_results(details=True), key=lambda r: r.task_id)
    for r in results:
        path = next(p for p in holder if str(p) in r.command)
        assert f"<[{path}]>" in r.command  # a glob match under hdfs_mount is marked
        ran_on = (where / f"rc-locality.{r.task_id}").read_text().strip()
        assert ran_on == r.host, f"task {r.task_id}: `hostname` says {ran_on}, its record {r.host}"
        assert r.host == holder[path], f"task {r.task_id} ({path.name}) ran on {r.host}, not where its data is"
    # stratosctl reports the job as data-local
    ctl = subprocess.run([str(Path(sys.executable).parent / "stratosctl"), "status", "rc-locality", "--json"],
                         capture_output=True, text=True, timeout=60, env=os.environ, check=True)
    report = json.loads(ctl.stdout)
    assert report["locality_tasks"] >= 0.9 and report["locality_bytes"] >= 0.9, report
    # the local backend gives the same results for the same job
    local = Processor(job_id="rc-locality-local")
    local.glob_batch(command, f"{mount}/in/*.txt")
    expected = sorted(local.get_results(details=True), key=lambda r: r.task_id)
    assert [r.stdout for r in results] == [r.stdout for r in expected]
    job.close()
