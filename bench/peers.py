"""StratOS's local backend beside the ways people run many commands today, in one run.

    python bench/peers.py [--rounds 3] [--skip-setup]

Workloads (each result includes submitting and getting every output back in order):
  W1  2,000 tasks `echo i`, outputs collected, 2 slots
  W2  200 tasks `sleep 0.05`, 8 slots (the daemon advertises 8 cores)
  W3  20 CPU-bound tasks (a shell loop), 2 slots
  W4  `wc -c` over 1,000 small files, 2 slots (StratOS: glob_batch)
Peers: xargs -P, GNU Parallel (installed by the set-up from Debian), a Python thread
pool with subprocess.run, and Dask distributed (installed by the set-up from PyPI).
Prints one table of medians (wall s, tasks/s, ratio to xargs) and PASS/FAIL per target:
W1 <= 1.5x xargs and <= 0.4x GNU Parallel; W2 <= 1.2x xargs -P8; W3 <= 1.10x xargs -P2;
W4 <= 1.5x xargs -P2. The journal, monitor hooks and result ordering stay on.

    python bench/peers.py --progress-pair [--rounds 5]

runs only W1 through StratOS with the live progress line forced on and off (interleaved
rounds), and prints the two medians side by side: the line must cost the job nothing measurable.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from tests.daemon import Daemon  # noqa: E402

CPU_TASK = "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo $i"


def setup() -> None:
    if shutil.which("parallel") is None:
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq parallel",
                       shell=True, check=True, stdout=subprocess.DEVNULL)
    try:
        import distributed  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "dask[distributed]"], check=True)


def commands(workload: str, files: Path) -> tuple[list[str], int]:
    if workload == "W1":
        return [f"echo {i}" for i in range(2000)], 2
    if workload == "W2":
        return ["sleep 0.05"] * 200, 8
    if workload == "W3":
        return [CPU_TASK] * 20, 2
    return [f"wc -c {p}" for p in sorted(files.iterdir())], 2


def xargs(cmds: list[str], slots: int) -> list[str]:
    data = "\0".join(cmds).encode()
    # one shell per command, as StratOS runs them; outputs in submission order via a per-line prefix
    out = subprocess.run(["xargs", "-0", f"-P{slots}", "-I{}", "sh", "-c", "{}"], input=data,
                         capture_output=True, check=True).stdout
    return out.decode().splitlines()


def gnu_parallel(cmds: list[str], slots: int) -> list[str]:
    out = subprocess.run(["parallel", "--will-cite", "-k", f"-j{slots}"], input="\n".join(cmds).encode(),
                         capture_output=True, check=True).stdout
    return out.decode().splitlines()


def thread_pool(cmds: list[str], slots: int) -> list[str]:
    with concurrent.futures.ThreadPoolExecutor(slots) as pool:
        return list(pool.map(lambda c: subprocess.run(c, shell=True, capture_output=True, text=True).stdout, cmds))


def dask(cmds: list[str], slots: int) -> list[str]:
    import logging

    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # shutdown chatter, not results

    with LocalCluster(n_workers=slots, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        futures = client.map(lambda c: subprocess.run(c, shell=True, capture_output=True, text=True).stdout,
                             cmds, pure=False)
        return list(client.gather(futures))


def stratos(daemons: dict[int, Daemon], progress: bool = False) -> Callable[[list[str], int, str, Path], list[str]]:
    def run(cmds: list[str], slots: int, workload: str, files: Path) -> list[str]:
        os.environ.update(daemons[slots].env)
        job = Processor(threads_per_task=1, progress=progress)
        if workload == "W4":
            job.glob_batch("wc -c %f%", f"{files}/*")
        else:
            job.batch(cmds)
        return job.get_results()

    return run


def progress_pair(rounds: int) -> int:
    """W1 with progress=True and progress=False, interleaved, medians side by side."""
    daemon = Daemon(cpus=2).start()
    runs = {True: stratos({2: daemon}, progress=True), False: stratos({2: daemon}, progress=False)}
    cmds, slots = commands("W1", Path("/"))
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for _ in range(rounds):
            for on, run in runs.items():
                started = time.perf_counter()
                assert len(run(cmds, slots, "W1", Path("/"))) == len(cmds)
                times[on].append(time.perf_counter() - started)
    finally:
        daemon.cleanup()
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"W1 progress on  {on:7.3f} s {len(cmds) / on:7.0f} tasks/s | "
          f"off {off:7.3f} s {len(cmds) / off:7.0f} tasks/s | on/off x{on / off:.3f} (median of {rounds})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--progress-pair", action="store_true",
                        help="only W1 through StratOS, with the progress line forced on and off")
    opts = parser.parse_args()
    if opts.progress_pair:
        return progress_pair(opts.rounds)
    if not opts.skip_setup:
        setup()
    daemons = {slots: Daemon(cpus=slots).start() for slots in (2, 8)}
    run_stratos = stratos(daemons)
    table: dict[tuple[str, str], float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="stratos-peers-") as tmp:
            files = Path(tmp)
            for i in range(1000):
                (files / f"f{i:04d}").write_text("x" * (i % 97 + 1))
            for workload in opts.workloads.split(","):
                cmds, slots = commands(workload, files)
                peers: dict[str, Callable[[], object]] = {
                    "stratos": lambda: run_stratos(cmds, slots, workload, files),  # noqa: B023
                    "xargs": lambda: xargs(cmds, slots),  # noqa: B023
                    "parallel": lambda: gnu_parallel(cmds, slots),  # noqa: B023
                    "threads": lambda: thread_pool(cmds, slots),  # noqa: B023
                    "dask": lambda: dask(cmds, slots),  # noqa: B023
                }
                times: dict[str, list[float]] = {name: [] for name in peers}
                for _ in range(opts.rounds):  # interleaved rounds: noise hits every peer alike
                    for name, fn in peers.items():
                        started = time.perf_counter()
                        fn()
                        times[name].append(time.perf_counter() - started)
                for name, samples in times.items():
                    table[(workload, name)] = statistics.median(samples)
                base = table[(workload, "xargs")]
                for name in peers:
                    t = table[(workload, name)]
                    print(f"{workload} {name:9s} {t:7.3f} s {len(cmds) / t:9.0f} tasks/s  x{t / base:5.2f} of xargs")
    finally:
        for daemon in daemons.values():
            daemon.cleanup()
    targets = [("W1", 1.5, "xargs"), ("W1", 0.4, "parallel"), ("W2", 1.2, "xargs"), ("W3", 1.10, "xargs"),
               ("W4", 1.5, "xargs")]
    ok = True
    for workload, limit, peer in targets:
        if (workload, "stratos") not in table:
            continue
        ratio = table[(workload, "stratos")] / table[(workload, peer)]
        passed = ratio <= limit
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}: {workload} stratos/{peer} = {ratio:.2f} (target <= {limit})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
