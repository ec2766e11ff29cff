"""Data locality end to end: the Mesos emulator's 8 named agents and a WebHDFS namenode emulator
placing each file's blocks on those agents; the real daemon in between."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratos import Processor
from tests.daemon import Daemon, daemon_fixture, wait_for
from tests.integration.test_mesos_emulated import Emulator

AGENTS = [f"agent{i}" for i in range(1, 9)]
BLOCK = 1000


class Namenode:
    def __init__(self, mount: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulators.webhdfs", "--port", "0", "--mount", str(mount),
             "--hosts", ",".join(AGENTS), "--replication", "3", "--block-size", str(BLOCK), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().split()[1]
        self.admin = self.proc.stdout.readline().split()[1]

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.admin + path, data=data, method="POST" if data else "GET",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    """200 files of 1 to 3 blocks under MOUNT/data (HDFS path /data)."""
    rng = random.Random(7)
    data = tmp_path / "dfs" / "data"
    data.mkdir(parents=True)
    for i in range(200):
        (data / f"part_{i:03d}").write_bytes(b"x" * rng.randint(1, 3 * BLOCK))
    return tmp_path / "dfs"


@pytest.fixture
def cluster(mount: Path) -> Iterator[tuple[Emulator, Namenode]]:
    mesos = Emulator(8)
    namenode = Namenode(mount)
    try:
        yield mesos, namenode
    finally:
        namenode.stop()
        mesos.stop()


daemon = daemon_fixture("--mesos-idle-teardown", "1")


@pytest.fixture(autouse=True)
def fine_grained(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's agents run command tasks only (no custom executors): these tests are of
    fine-grained mode; coarse mode is tested on the real master (tests/realmesos)."""
    monkeypatch.setenv("STRATOS_MESOS_MODE", "fine")


def best_hosts(placements: dict[str, Any], paths: list[str]) -> set[str]:
    held: dict[str, int] = {}
    for path in paths:
        for block in placements[path]:
            for host in block["hosts"]:
                held[host] = held.get(host, 0) + block["length"]
    top = max(held.values())
    return {h for h, n in held.items() if n == top}


def mesos_hosts(mesos: Emulator, job_id: str) -> dict[int, str]:
    """Where the emulator actually ran each task: task id -> agent host name."""
    state = mesos.get("/master/state")
    agents = {s["id"]: s["hostname"] for s in state["slaves"]}
    out = {}
    for f in state["frameworks"] + state.get("completed_frameworks", []):
        if f["name"] != job_id:
            continue
        for t in f.get("tasks", []) + f.get("completed_tasks", []):
            if t["state"] == "TASK_FINISHED":
                out[int(t["name"].rsplit(":", 1)[1])] = agents[t["slave_id"]]
    return out


def test_a_glob_over_hdfs_runs_data_local_and_reports_it_truly(daemon: Daemon, cluster: tuple[Emulator, Namenode],
                                                             mount: Path) -> None:
    mesos, namenode = cluster
    job = Processor(master=mesos.address, job_id="local-data", threads_per_task=1, mem_per_task=256,
                    hdfs=namenode.url, hdfs_mount=str(mount))
    counts = job.glob_batch("wc -c < %f%", f"{mount}/data/part_*")
    assert counts["finished"] == 200
    results = job.get_results()
    assert [int(r) for r in results] == [(mount / "data" / f"part_{i:03d}").stat().st_size for i in range(200)]
    assert job.stream.get_command(0) == f"wc -c < <[{mount}/data/part_000]>"  # marked automatically
    placements = namenode.call("/emulator/placements")
    ran_on = wait_for(lambda: (lambda r: r if len(r) == 200 else None)(mesos_hosts(mesos, "local-data")),
                      "every TASK_FINISHED in the master's state")
    local = sum(ran_on[i] in best_hosts(placements, [f"/data/part_{i:03d}"]) for i in range(200))
    assert local / 200 >= 0.95
    report = job.status()
    assert report.locality_tasks == pytest.approx(local / 200)  # what the job reports is what happened
    assert all(job.stream.task(i).task.host == ran_on[i] for i in range(0, 200, 17))


def test_a_task_of_several_files_runs_where_most_of_their_bytes_are(
        daemon: Daemon, cluster: tuple[Emulator, Namenode], mount: Path) -> None:
    mesos, namenode = cluster
    namenode.call("/emulator/placements", {"path": "/data/part_001", "hosts": [["agent1", "agent2", "agent3"]] * 3})
    namenode.call("/emulator/placements", {"path": "/data/part_002", "hosts": [["agent3", "agent4", "agent5"]] * 3})
    job = Processor(master=mesos.address, job_id="multi", mem_per_task=256, hdfs=namenode.url,
                    hdfs_mount=str(mount))
    job.batch([f"cat <[{mount}/data/part_001]> <[{mount}/data/part_002]> | wc -c"])
    ran_on = wait_for(lambda: mesos_hosts(mesos, "multi"), "the task in the master's state")
    assert ran_on == {0: "agent3"}  # the only host holding both files
    assert job.status().locality_bytes == 1.0


def test_hdfs_patterns_expand_like_mounted_ones(daemon: Daemon, cluster: tuple[Emulator, Namenode],
                                              mount: Path) -> None:
    mesos, namenode = cluster
    job = Processor(master=mesos.address, job_id="scheme", mem_per_task=256, hdfs=namenode.url,
                    hdfs_mount=str(mount))
    job.glob_batch("wc -c < %f%", "hdfs:///data/part_01*")
    mounted = Processor(job_id="mounted", hdfs=namenode.url, hdfs_mount=str(mount))
    mounted.glob_batch("wc -c < %f%", f"{mount}/data/part_01*")
    assert job.get_results() == mounted.get_results() and len(job.get_results(consumer="x")) == 10
    assert job.stream.get_command(0) == f"wc -c < <[{mount}/data/part_010]>"


def test_with_the_namenode_down_the_job_completes_without_locality(
        daemon: Daemon, cluster: tuple[Emulator, Namenode], mount: Path) -> None:
    mesos, namenode = cluster
    namenode.call("/emulator/down", {"mode": "refuse"})
    job = Processor(master=mesos.address, job_id="blind", mem_per_task=256, hdfs=namenode.url,
                    hdfs_mount=str(mount))
    counts = job.glob_batch("wc -c < %f%", f"{mount}/data/part_00*")
    assert counts["finished"] == 10
    report = job.status()
    assert any("unreachable" in w and "without data locality" in w for w in report.warnings)
    assert report.locality_tasks is None
