"""Mesos on the real 3-host cluster (tests/realcluster), coarse and fine mode, beside the local backend.

    python bench/cluster.py [--tasks 2000] [--fine-tasks 150] [--files 90] [--rounds 1]     # as root
    python bench/cluster.py --slurm-locality [--rounds 3]                                  # as root

Brings the cluster up (`cluster.sh up 3`: Mesos 1.11 master and 3 agents of cpus:2, HDFS 2.7.3
NameNode and 3 DataNodes, each host a network namespace) and down at the end; with RC_REUSE=1 it
uses one already up (same RC_STATE_DIR / RC_NS_PREFIX) and leaves it. A `stratosd` runs in the
head namespace (executor listener on the head's address), with `--cpus 6`: its local backend has
the cluster's 6 slots. The machine's load is printed first and last.

Runs, each one job of 1 core and 64 MB per task, wall time from the submitting call to the last
result, and each under a time limit (SIGALRM):
  throughput  bench/mesos.py's job: `batch` of TASKS `echo i`, then `get_results()`, checked
              complete and in submission order; coarse Mesos (the default: one executor per agent)
              beside the local backend, rounds alternating; the ratio local/coarse of tasks/s;
  fine        the same job, FINE_TASKS of them, with mesos_mode="fine" (a Mesos task, an executor
              start and three Python start-ups per task: far slower, so fewer tasks);
  locality    `glob_batch("wc -c < %f%")` over FILES files of FILE_KB, a third written into HDFS
              from each host with replication 1 (the writer's DataNode holds the only replica),
              mirrored in a directory standing for the HDFS mount; coarse mode; results checked
              against the file sizes; from `stratosctl status` (JobReport) the fraction of
              data-local tasks and of locally read bytes. Also on the local backend (wall time only).
Between runs every framework is torn down and the agents are free again.

--slurm-locality (issue 18, item 3) runs only this, on the cluster's Slurm 22.05 (`up 3 --slurm`: one
2-core node per host, each also a DataNode): 12 files, 4 written into HDFS from each host in turn
(replication 1), and per round a NEW job `glob_batch("sleep 1; sha1sum < %f%")` over them with
master="slurm://rc", pilot_cpus=2 (whole-node pilots), max_pilots=3, default locality_wait (3 s).
The daemon asks Slurm for pilots on the nodes holding the pending tasks' data (sbatch --nodelist);
it stops idle pilots after 1 s (--slurm-idle-release 1) and each round starts once none is left in
squeue, so every round pays for its pilots. Per round: wall time from glob_batch to its last result,
data-local tasks (`stratosctl status` locality_tasks, and counted from the results), and the nodes
the pilots were asked of (daemon log). `PASS/FAIL: data-local tasks >= 0.9 in every round`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from tests.realcluster.harness import SCRIPT, HeadDaemon, RealCluster, own_namespaces  # noqa: E402

MEM_PER_TASK = 64
SLOTS = 6  # 3 agents x cpus:2, 1 core per task
#: seconds per task allowed to a run (plus a minute): a run that hangs ends the bench, not the day.
LIMIT_PER_TASK = {"coarse": 0.5, "local": 0.5, "fine": 3.0, "locality": 2.0}


class RunTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int, what: str) -> Iterator[None]:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise RunTimeout(f"{what} took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def up(env: dict[str, str], slurm: bool = False) -> tuple[RealCluster, bool]:
    """The cluster (brought up here unless RC_REUSE=1 finds one); True when this run must bring it down."""
    prefix = env.get("RC_NS_PREFIX", "st-")
    started = False
    if not (env.get("RC_REUSE") == "1" and own_namespaces(prefix)):
        args = ["up", "3", *(["--slurm"] if slurm else [])]
        done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SystemExit(f"FAIL: cluster.sh {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}")
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


def settings(kind: str, cluster: RealCluster) -> dict[str, object]:
    if kind == "local":
        return {"master": "local"}
    return {"master": cluster.master, "mesos_mode": "fine" if kind == "fine" else "coarse"}


def run_echo(kind: str, job_id: str, tasks: int, cluster: RealCluster) -> dict[str, float]:
    """bench/mesos.py's job: TASKS `echo i`, results complete and in submission order."""
    commands = [f"echo {i}" for i in range(tasks)]
    with time_limit(int(60 + LIMIT_PER_TASK[kind] * tasks), f"{kind}, {tasks} tasks"):
        job = Processor(job_id=job_id, threads_per_task=1, mem_per_task=MEM_PER_TASK,
                        **settings(kind, cluster))  # type: ignore[arg-type]
        started = time.perf_counter()
        counts = job.batch(commands)
        results = job.get_results()
        wall = time.perf_counter() - started
    if counts.get("finished") != tasks or results != [f"{i}\n" for i in range(tasks)]:
        raise SystemExit(f"FAIL: {kind}: {job_id} gave wrong results: counts {counts}, {len(results)} results")
    hosts = {t.host for t in job.stream.tasks()}
    job.close()
    return {"wall": wall, "tasks": tasks, "hosts": len(hosts)}


def run_locality(kind: str, job_id: str, sizes: dict[str, int], pattern: str, cluster: RealCluster,
                 mount: Path) -> dict[str, float]:
    with time_limit(int(60 + LIMIT_PER_TASK["locality"] * len(sizes)), f"locality ({kind}), {len(sizes)} files"):
        job = Processor(job_id=job_id, threads_per_task=1, mem_per_task=MEM_PER_TASK, hdfs=cluster.webhdfs,
                        hdfs_mount=str(mount), **settings(kind, cluster))  # type: ignore[arg-type]
        started = time.perf_counter()
        counts = job.glob_batch("wc -c < %f%", pattern)
        results = job.get_results(details=True)
        wall = time.perf_counter() - started
    if counts.get("finished") != len(sizes) or len(results) != len(sizes):
        raise SystemExit(f"FAIL: locality ({kind}): counts {counts}, {len(results)} results for {len(sizes)} files")
    for r in results:
        path = r.command.split("<[", 1)[1].split("]>", 1)[0] if "<[" in r.command else r.command.split()[-1]
        if int(r.stdout) != sizes[path]:
            raise SystemExit(f"FAIL: locality ({kind}): task {r.task_id} ({path}) printed {r.stdout!r}, "
                             f"size {sizes[path]}")
    status = job.status()
    job.close()
    nan = float("nan")
    return {"wall": wall, "tasks": len(sizes),
            "local_tasks": status.locality_tasks if status.locality_tasks is not None else nan,
            "local_bytes": status.locality_bytes if status.locality_bytes is not None else nan,
            "bytes": float(sum(sizes.values()))}


def free(cluster: RealCluster, kind: str) -> None:
    """After a Mesos run: its framework gone and every agent free, so the next run gets whole offers."""
    if kind != "local":
        cluster.teardown_frameworks()


def fraction(value: float) -> str:
    return f"{value:.2f}" if value == value else "-"


#: the Slurm locality run: files per host, seconds any one round may take, and the target.
SLURM_FILES_PER_HOST, SLURM_ROUND_LIMIT, SLURM_LOCAL_TARGET = 4, 180, 0.9


def slurm_pilots_gone(cluster: RealCluster, timeout: float = 90) -> None:
    """Wait until no pilot job is left in the partition's queue (the daemon stops idle ones)."""
    deadline = time.monotonic() + timeout
    while cluster.slurm("squeue", "-h", "-p", cluster.env["RC_SLURM_PARTITION"], "-o", "%i").strip():
        if time.monotonic() > deadline:
            raise SystemExit(f"FAIL: pilot jobs still in squeue after {timeout:.0f} s")
        time.sleep(0.5)


def down(env: dict[str, str]) -> None:
    """Take down the cluster this run brought up; every namespace it made must be gone."""
    subprocess.run([str(SCRIPT), "down"], capture_output=True, env=env, timeout=120)
    left = own_namespaces(env.get("RC_NS_PREFIX", "st-"))
    if left:
        raise SystemExit(f"FAIL: namespaces left after down: {left}")


def slurm_locality(rounds: int) -> int:
    """Issue 18, item 3: pilots asked of the data's nodes; the data-local fraction per round."""
    env = {**os.environ, "PY3": sys.executable}
    began = time.monotonic()
    cluster, started = up(env, slurm=True)
    if "RC_SLURM_CONF" not in cluster.env:
        print("FAIL: the cluster runs no Slurm (RC_REUSE=1: bring it up with `cluster.sh up 3 --slurm`)")
        return 1
    print(f"cluster: {' '.join(cluster.hosts)} (+ head nn), Slurm partition {cluster.env['RC_SLURM_PARTITION']}; "
          f"{'up in' if started else 'reused after'} {time.monotonic() - began:.0f} s", flush=True)
    daemon = HeadDaemon(cluster, "--slurm-idle-release", "1", "--slurm-poll", "0.5",
                        env={"SLURM_CONF": cluster.slurm_conf})
    rows: list[tuple[float, float, int, str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="stratos-bench-slurm-") as tmp:
            daemon.start()
            os.environ.update(daemon.env)
            mount = Path(tmp) / "dfs"
            local_dir = mount / "slurm-bench"
            local_dir.mkdir(parents=True)
            writer: dict[str, str] = {}
            for host in cluster.hosts:
                mine = []
                for i in range(SLURM_FILES_PER_HOST):
                    path = local_dir / f"{host}-{i}.txt"
                    path.write_text(f"{host} {i}\n" * (100 + i))
                    mine.append(path)
                    writer[str(path)] = host
                cluster.put(host, mine, "/slurm-bench", replication=1)
            for r in range(rounds):
                slurm_pilots_gone(cluster)
                log_path = daemon.root / "daemon.log"
                log_before = log_path.stat().st_size
                with time_limit(SLURM_ROUND_LIMIT, f"Slurm locality round {r + 1}"):
                    job = Processor(master=f"slurm://{cluster.env['RC_SLURM_PARTITION']}", job_id=f"bench-sl-{r}",
                                    hdfs=cluster.webhdfs, hdfs_mount=str(mount), threads_per_task=1,
                                    mem_per_task=MEM_PER_TASK, pilot_cpus=2, max_pilots=3)
                    t0 = time.perf_counter()
                    counts = job.glob_batch("sleep 1; sha1sum < %f%", f"{local_dir}/*.txt")
                    results = job.get_results(details=True)
                    wall = time.perf_counter() - t0
                if counts.get("finished") != len(writer) or len(results) != len(writer):
                    raise SystemExit(f"FAIL: Slurm locality round {r + 1}: counts {counts}, {len(results)} results")
                local = sum(1 for res in results
                            if res.host == writer[res.command.split("<[", 1)[1].split("]>", 1)[0]])
                status = job.status()
                job.close()
                log = log_path.read_bytes()[log_before:].decode(errors="replace")  # this round's lines
                asked = sorted({h for h in cluster.hosts if f"on node {h})" in log})
                fraction_local = status.locality_tasks if status.locality_tasks is not None else float("nan")
                rows.append((wall, fraction_local, local, " ".join(asked) or "-"))
                print(f"round {r + 1}: {len(results)} tasks in {wall:.2f} s, data-local {local}/{len(results)} "
                      f"(locality_tasks {fraction(fraction_local)}), pilots asked of: {rows[-1][3]}", flush=True)
    except RunTimeout as exc:
        print(f"FAIL: {exc}")
        return 1
    finally:
        daemon.cleanup()
        with contextlib.suppress(Exception):
            cluster.slurm("scancel", "--full", "-p", cluster.env["RC_SLURM_PARTITION"])
        if started:
            down(env)
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    worst = min(row[1] for row in rows)
    print(f"median wall {statistics.median(row[0] for row in rows):.2f} s; data-local tasks per round: "
          f"{', '.join(fraction(row[1]) for row in rows)}")
    ok = worst >= SLURM_LOCAL_TARGET
    print(f"{'PASS' if ok else 'FAIL'}: data-local tasks >= {SLURM_LOCAL_TARGET} in every round (worst {worst:.2f})")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000, help="`echo i` tasks, coarse and local (default 2000)")
    parser.add_argument("--fine-tasks", type=int, default=150, help="`echo i` tasks in fine mode (default 150)")
    parser.add_argument("--files", type=int, default=90, help="files of the locality job (default 90)")
    parser.add_argument("--file-kb", type=int, default=256, help="size of each file, KiB (default 256)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of coarse and local (default 1), or of --slurm-locality (default 3)")
    parser.add_argument("--slurm-locality", action="store_true",
                        help="only the Slurm locality run (pilots asked of the data's nodes), on `up 3 --slurm`")
    opts = parser.parse_args()
    if opts.rounds is None:
        opts.rounds = 3 if opts.slurm_locality else 1
    if not (1 <= opts.tasks <= 20000 and 1 <= opts.fine_tasks <= 2000 and 3 <= opts.files <= 2000
            and 1 <= opts.rounds <= 5):
        parser.error("bounds: --tasks 1..20000, --fine-tasks 1..2000, --files 3..2000, --rounds 1..5")
    load = os.getloadavg()
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores", flush=True)
    if os.geteuid() != 0:
        print("FAIL: needs root (cluster.sh creates network namespaces)")
        return 1
    if opts.slurm_locality:
        return slurm_locality(opts.rounds)
    env = {**os.environ, "PY3": sys.executable}
    began = time.monotonic()
    cluster, started = up(env)
    print(f"cluster: {' '.join(cluster.hosts)} (+ head nn), Mesos {cluster.master}, WebHDFS {cluster.webhdfs}; "
          f"{'up in' if started else 'reused after'} {time.monotonic() - began:.0f} s", flush=True)
    daemon = HeadDaemon(cluster, "--mesos-idle-teardown", "2", cpus=SLOTS)
    rows: dict[str, list[dict[str, float]]] = {"coarse": [], "local": [], "fine": [], "locality": [],
                                               "locality-local": []}
    try:
        cluster.teardown_frameworks()
        with tempfile.TemporaryDirectory(prefix="stratos-bench-cluster-") as tmp:
            daemon.start()
            os.environ.update(daemon.env)
            for r in range(opts.rounds):
                for kind in ("coarse", "local"):
                    rows[kind].append(run_echo(kind, f"bench-{kind}-{r}", opts.tasks, cluster))
                    free(cluster, kind)
                    print(f"round {r + 1} {kind}: {opts.tasks} tasks in {rows[kind][-1]['wall']:.2f} s "
                          f"on {rows[kind][-1]['hosts']:.0f} host(s)", flush=True)
            rows["fine"].append(run_echo("fine", "bench-fine", opts.fine_tasks, cluster))
            free(cluster, "fine")
            print(f"fine: {opts.fine_tasks} tasks in {rows['fine'][-1]['wall']:.2f} s", flush=True)
            mount = Path(tmp) / "dfs"
            t0 = time.monotonic()
            sizes = write_data(cluster, mount, "/bench", opts.files, opts.file_kb)
            print(f"data: {len(sizes)} files, {sum(sizes.values()) / 2**20:.1f} MiB, a third from each host "
                  f"(replication 1), written in {time.monotonic() - t0:.0f} s", flush=True)
            pattern = f"{mount}/bench/*.dat"
            rows["locality"].append(run_locality("coarse", "bench-locality", sizes, pattern, cluster, mount))
            free(cluster, "coarse")
            rows["locality-local"].append(run_locality("local", "bench-locality-local", sizes, pattern, cluster,
                                                       mount))
            print(f"locality: coarse {rows['locality'][-1]['wall']:.2f} s, local "
                  f"{rows['locality-local'][-1]['wall']:.2f} s", flush=True)
    except RunTimeout as exc:
        print(f"FAIL: {exc}")
        return 1
    finally:
        daemon.cleanup()
        with contextlib.suppress(Exception):
            cluster.teardown_frameworks()
        if started:
            down(env)
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    def rate(name: str) -> tuple[float, float]:
        wall = statistics.median(row["wall"] for row in rows[name])
        return wall, rows[name][-1]["tasks"] / wall

    print(f"\n{'run':44s} {'tasks':>6s} {'wall s':>7s} {'tasks/s':>8s}")
    for name, label in (("coarse", "Mesos coarse, 3 hosts x 2 cpus"), ("local", f"local backend, {SLOTS} slots"),
                        ("fine", "Mesos fine, 3 hosts x 2 cpus")):
        wall, per_s = rate(name)
        print(f"{label:44s} {rows[name][-1]['tasks']:6.0f} {wall:7.2f} {per_s:8.1f}")
    print(f"ratio local/coarse tasks/s: {rate('local')[1] / rate('coarse')[1]:.2f}; "
          f"coarse/fine: {rate('coarse')[1] / rate('fine')[1]:.1f}")
    last = rows["locality"][-1]
    print(f"\nlocality job (glob_batch `wc -c`, {last['tasks']:.0f} files of {opts.file_kb} KiB, replication 1):")
    print(f"  Mesos coarse: {last['wall']:.2f} s, {last['tasks'] / last['wall']:.1f} tasks/s, data-local tasks "
          f"{fraction(last['local_tasks'])}, bytes read locally {fraction(last['local_bytes'])}")
    loc = rows["locality-local"][-1]
    print(f"  local backend: {loc['wall']:.2f} s, {loc['tasks'] / loc['wall']:.1f} tasks/s (its host holds no replica)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
