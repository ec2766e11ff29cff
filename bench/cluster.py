"""One job over files in HDFS on the real 3-host cluster (tests/realcluster), beside the local backend.

    python bench/cluster.py [--tasks 330] [--file-kb 256] [--rounds 1]      # as root

Brings the cluster up (`cluster.sh up 3`: Mesos 1.11 master and 3 agents of cpus:2, HDFS 2.7.3
NameNode and 3 DataNodes, each host a network namespace) and down at the end; with RC_REUSE=1 it
uses one already up (same RC_STATE_DIR / RC_NS_PREFIX) and leaves it. A `stratosd` runs in the
head namespace (executor listener on the head's address), with `--cpus 6`: its local backend has
the cluster's 6 slots.

Data: TASKS files of FILE_KB each, a third written into HDFS from each host with replication 1
(the writer's DataNode holds the only replica), mirrored in a directory that stands for the HDFS
mount (`hdfs_mount`; nothing mounts HDFS here, the hosts share one file system).

Job: `glob_batch("wc -c < %f%", ...)` over them (each file marked `<[ ]>`), 1 core and 64 MB per
task, results checked against the file sizes. Printed per backend: wall time from the batch call
to the last result, tasks/s, and from `stratosctl status` (JobReport) the fraction of data-local
tasks and of locally read bytes (the marked bytes on the host the task ran on), with those bytes.
Rounds alternate Mesos and local. The machine's load is printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from tests.realcluster.harness import SCRIPT, HeadDaemon, RealCluster, own_namespaces  # noqa: E402

MEM_PER_TASK = 64


def up(env: dict[str, str]) -> tuple[RealCluster, bool]:
    """The cluster (brought up here unless RC_REUSE=1 finds one); True when this run must bring it down."""
    prefix = env.get("RC_NS_PREFIX", "st-")
    started = False
    if not (env.get("RC_REUSE") == "1" and own_namespaces(prefix)):
        done = subprocess.run([str(SCRIPT), "up", "3"], capture_output=True, text=True, env=env, timeout=600,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SystemExit(f"FAIL: cluster.sh up 3: exit {done.returncode}\n{done.stderr[-3000:]}")
        started = True
    info = json.loads(subprocess.run([str(SCRIPT), "env", "--json"], capture_output=True, text=True, check=True,
                                     env=env, timeout=30).stdout)
    return RealCluster(info, env), started


def write_data(cluster: RealCluster, mount: Path, hdfs_dir: str, count: int, kb: int) -> dict[str, int]:
    """COUNT files spread over the hosts, each written from its host (replication 1). Path -> size."""
    local_dir = mount / hdfs_dir.strip("/")
    local_dir.mkdir(parents=True)
    sizes: dict[str, int] = {}
    for h, host in enumerate(cluster.hosts):
        mine = []
        for i in range(h, count, len(cluster.hosts)):
            path = local_dir / f"f{i:05d}-{host}.dat"
            data = os.urandom(kb * 1024 + i)  # distinct sizes: a wrong result shows
            path.write_bytes(data)
            sizes[str(path)] = len(data)
            mine.append(path)
        cluster.put(host, mine, hdfs_dir, replication=1)
    return sizes


def run_job(label: str, job_id: str, sizes: dict[str, int], pattern: str, **settings: object) -> dict[str, float]:
    job = Processor(job_id=job_id, threads_per_task=1, mem_per_task=MEM_PER_TASK, **settings)  # type: ignore[arg-type]
    started = time.perf_counter()
    counts = job.glob_batch("wc -c < %f%", pattern)
    results = job.get_results(details=True)
    wall = time.perf_counter() - started
    if counts.get("finished") != len(sizes) or len(results) != len(sizes):
        raise SystemExit(f"FAIL: {label}: counts {counts}, {len(results)} results for {len(sizes)} files")
    hosts: dict[str, int] = {}
    for r in results:
        path = r.command.split("<[", 1)[1].split("]>", 1)[0] if "<[" in r.command else r.command.split()[-1]
        if int(r.stdout) != sizes[path]:
            raise SystemExit(f"FAIL: {label}: task {r.task_id} ({path}) printed {r.stdout!r}, size {sizes[path]}")
        hosts[r.host] = hosts.get(r.host, 0) + 1
    status = job.status()
    job.close()
    total = sum(sizes.values())
    return {"wall": wall, "tasks_s": len(sizes) / wall,
            "local_tasks": status.locality_tasks if status.locality_tasks is not None else float("nan"),
            "local_bytes": status.locality_bytes if status.locality_bytes is not None else float("nan"),
            "bytes": float(total), "hosts": float(len(hosts))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=330, help="files, one task each (default 330)")
    parser.add_argument("--file-kb", type=int, default=256, help="size of each file, KiB (default 256)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of each backend (default 1)")
    opts = parser.parse_args()
    if opts.tasks < 300:
        parser.error("--tasks: at least 300")
    load = os.getloadavg()
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores", flush=True)
    if os.geteuid() != 0:
        print("FAIL: needs root (cluster.sh creates network namespaces)")
        return 1
    env = {**os.environ, "PY3": sys.executable}
    began = time.monotonic()
    cluster, started = up(env)
    print(f"cluster: {' '.join(cluster.hosts)} (+ head nn), Mesos {cluster.master}, WebHDFS {cluster.webhdfs}; "
          f"{'up in' if started else 'reused after'} {time.monotonic() - began:.0f} s", flush=True)
    daemon = HeadDaemon(cluster, "--mesos-idle-teardown", "2", cpus=6)
    rows: dict[str, list[dict[str, float]]] = {"mesos": [], "local": []}
    try:
        with tempfile.TemporaryDirectory(prefix="stratos-bench-cluster-") as tmp:
            mount = Path(tmp) / "dfs"
            t0 = time.monotonic()
            sizes = write_data(cluster, mount, "/bench", opts.tasks, opts.file_kb)
            print(f"data: {len(sizes)} files, {sum(sizes.values()) / 2**20:.1f} MiB, a third from each host "
                  f"(replication 1), written in {time.monotonic() - t0:.0f} s", flush=True)
            daemon.start()
            os.environ.update(daemon.env)
            pattern = f"{mount}/bench/*.dat"
            for r in range(opts.rounds):
                rows["mesos"].append(run_job("mesos", f"bench-cluster-{r}", sizes, pattern, master=cluster.master,
                                             hdfs=cluster.webhdfs, hdfs_mount=str(mount)))
                print(f"round {r + 1} mesos: {rows['mesos'][-1]['wall']:.2f} s", flush=True)
                rows["local"].append(run_job("local", f"bench-local-{r}", sizes, pattern, master="local",
                                             hdfs=cluster.webhdfs, hdfs_mount=str(mount)))
                print(f"round {r + 1} local: {rows['local'][-1]['wall']:.2f} s", flush=True)
    finally:
        daemon.cleanup()
        if started:
            subprocess.run([str(SCRIPT), "down"], capture_output=True, env=env, timeout=120)
            left = own_namespaces(env.get("RC_NS_PREFIX", "st-"))
            if left:
                print(f"FAIL: namespaces left after down: {left}")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"\n{'backend':28s} {'tasks':>6s} {'wall s':>7s} {'tasks/s':>8s} {'data-local':>11s} "
          f"{'bytes read locally':>22s}")
    for name, label in (("mesos", "Mesos, 3 hosts x 2 cpus"), ("local", "local backend, 6 slots")):
        wall = statistics.median(row["wall"] for row in rows[name])
        last = rows[name][-1]
        frac = last["local_bytes"]
        local_bytes = f"{frac:.2f} ({frac * last['bytes'] / 2**20:.1f} MiB)" if frac == frac else "-"
        tasks_frac = f"{last['local_tasks']:.2f}" if last["local_tasks"] == last["local_tasks"] else "-"
        print(f"{label:28s} {opts.tasks:6d} {wall:7.2f} {opts.tasks / wall:8.1f} {tasks_frac:>11s} "
              f"{local_bytes:>22s}")
    print("\n(data-local: stratosctl status's fractions of placed marked tasks on a best host, and of their "
          "marked bytes on the host that ran them; the local backend's single host holds no replica)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
