"""StratOS's local backend beside the ways people run many commands today, in one run.

    python bench/peers.py [--rounds 5] [--skip-setup] [--workloads W1,W2,W2S,W3,W3E,W4,W4L] [--peers ...]

Workloads (each result includes submitting and getting every output back in order):
  W1   2,000 tasks `echo i`, outputs collected, 2 slots
  W2   200 tasks `sleep 0.05`, 8 slots (the daemon advertises 8 cores)
  W3   20 CPU-bound tasks (a shell loop), 2 slots
  W2S  W2 at 2 slots, and W3E 20 tasks of about 224 ms CPU at 2 slots: with W2, the three
       workloads of parallel efficiency, N x the task's bare serial time / (slots x wall)
  W4   `wc -c` over 1,000 small files, 2 slots (StratOS: glob_batch, and batch of the same commands)
  W4L  the same over 20,000 files (xargs and StratOS only: the slow peers would take most of an hour)
Peers: xargs -P, GNU Parallel (installed by the set-up from Debian), a Python thread pool
with subprocess.run, Dask distributed, HyperQueue (PyPI `hyperqueue`: its LocalCluster runs
a real HQ server and worker in this process) and Ray (both installed by the set-up from
PyPI). Dask, HyperQueue and Ray are started once and stay warm, as a StratOS daemon does;
the rows without such a cluster are measured first, then each framework's alone, its cluster
started for its rows and stopped after them (a warm Dask's idle workers alone took a third of
a core, which the other rows would have paid for).

StratOS rows: `stratos` is from after `import stratos` to the last result in Python, with the
daemon already running ("inner"); `st-whole` (W1) is a whole `python -c` script (interpreter,
`import stratos`, `Processor(...)`, submit, results) as a process; `st-batch` (W4, W4L) runs
`batch()` of the same `wc -c` commands glob_batch makes, so the glob's own cost shows.

Prints the load average first (the machine is shared: compare ratios measured in the same
run), a table of medians of interleaved rounds (wall s, tasks/s, ratio to xargs) and one
PASS/FAIL line per target (issue 20's targets 1, 2 and 6, and the earlier ones).

    python bench/peers.py --progress-pair [--rounds 5]

runs only W1 through StratOS with the live progress line forced on and off (interleaved
rounds), and prints the two medians side by side: the line must cost the job nothing measurable.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from tests.daemon import Daemon  # noqa: E402

CPU_TASK = "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo $i"
#: about 224 ms of CPU on the project's machine (issue 20, target 4).
EFFICIENCY_CPU_TASK = "i=0; while [ $i -lt 190000 ]; do i=$((i+1)); done; echo $i"
#: workloads whose parallel efficiency is compared with xargs' (issue 20, target 4), and how far
#: below xargs' StratOS's may be.
EFFICIENCY_WORKLOADS = ("W2", "W2S", "W3E")
EFFICIENCY_MARGIN = 0.03
#: files per workload that reads files.
FILES = {"W4": 1000, "W4L": 20000}
#: the peers that run the large glob (the others would take most of an hour at 20,000 tasks).
LARGE_PEERS = ("stratos", "st-batch", "xargs")
FRAMEWORKS = ("parallel", "dask", "hq", "ray")
#: the frameworks whose clusters stay warm between jobs: each runs its rows alone (see main).
WARM = ("dask", "hq", "ray")
#: (workload, row, limit, peer): the row's median within ``limit`` times the peer's.
TARGETS = [
    ("W1", "stratos", 1.2, "xargs"),  # issue 20, target 2 (inner)
    ("W1", "st-whole", 1.4, "xargs"),  # issue 20, target 2 (whole script)
    ("W4", "stratos", 1.3, "xargs"),  # issue 20, target 1
    ("W4", "stratos", 1.15, "st-batch"),
    ("W4L", "stratos", 1.3, "xargs"),
    ("W4L", "stratos", 1.15, "st-batch"),
    ("W1", "stratos", 0.4, "parallel"),
    ("W2", "stratos", 1.2, "xargs"),
    ("W3", "stratos", 1.10, "xargs"),
]


def setup() -> None:
    if shutil.which("parallel") is None:
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq parallel",
                       shell=True, check=True, stdout=subprocess.DEVNULL)
    wanted = {"distributed": "dask[distributed]", "hyperqueue": "hyperqueue", "ray": "ray"}
    missing = []
    for module, package in wanted.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)


def commands(workload: str, files: Path) -> tuple[list[str], int]:
    if workload == "W1":
        return [f"echo {i}" for i in range(2000)], 2
    if workload == "W2":
        return ["sleep 0.05"] * 200, 8
    if workload == "W2S":
        return ["sleep 0.05"] * 200, 2
    if workload == "W3E":
        return [EFFICIENCY_CPU_TASK] * 20, 2
    if workload == "W3":
        return [CPU_TASK] * 20, 2
    return [f"wc -c {p}" for p in sorted(files.iterdir())], 2


def xargs(cmds: list[str], slots: int) -> list[str]:
    data = "\0".join(cmds).encode()
    # one shell per command, as StratOS runs them
    out = subprocess.run(["xargs", "-0", f"-P{slots}", "-I{}", "sh", "-c", "{}"], input=data,
                         capture_output=True, check=True).stdout
    return out.decode().splitlines()


def gnu_parallel(cmds: list[str], slots: int) -> list[str]:
    out = subprocess.run(["parallel", "--will-cite", "-k", f"-j{slots}"], input="\n".join(cmds).encode(),
                         capture_output=True, check=True).stdout
    return out.decode().splitlines()


def _shell(command: str) -> str:
    return subprocess.run(command, shell=True, capture_output=True, text=True).stdout


def thread_pool(cmds: list[str], slots: int) -> list[str]:
    with concurrent.futures.ThreadPoolExecutor(slots) as pool:
        return list(pool.map(_shell, cmds))


class Warm:
    """Dask, HyperQueue and Ray clusters, started once per slot count and reused by every round."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.stack = contextlib.ExitStack()
        self.dask_clients: dict[int, Any] = {}
        self.hq_clients: dict[int, Any] = {}
        self.ray_started = False

    def dask(self, cmds: list[str], slots: int) -> list[str]:
        if slots not in self.dask_clients:
            import logging

            import dask
            from distributed import Client, LocalCluster

            logging.getLogger("distributed").setLevel(logging.CRITICAL)  # shutdown chatter, not results
            # its scratch files in the run's temporary directory (removed after it), not /tmp
            dask.config.set({"temporary-directory": str(self.tmp / "dask")})
            cluster = self.stack.enter_context(LocalCluster(n_workers=slots, threads_per_worker=1, processes=True,
                                                            dashboard_address=None))
            self.dask_clients[slots] = self.stack.enter_context(Client(cluster))
        client = self.dask_clients[slots]
        return list(client.gather(client.map(_shell, cmds, pure=False)))

    def hq(self, cmds: list[str], slots: int) -> list[str]:
        from hyperqueue import Job, LocalCluster  # type: ignore[import-untyped]
        from hyperqueue.cluster import WorkerConfig  # type: ignore[import-untyped]

        if slots not in self.hq_clients:
            cluster = LocalCluster(str(self.tmp / f"hq-{slots}"), WorkerConfig(cores=slots))
            self.stack.callback(cluster.stop)
            self.hq_clients[slots] = cluster.client()
        client = self.hq_clients[slots]
        out = Path(tempfile.mkdtemp(dir=self.tmp, prefix="hq-out-"))
        job = Job()
        for i, command in enumerate(cmds):
            job.program(["sh", "-c", command], stdout=str(out / f"{i}"), stderr=None)
        with contextlib.redirect_stderr(io.StringIO()):  # its progress bar
            client.wait_for_jobs([client.submit(job)])
        results = [(out / f"{i}").read_text() for i in range(len(cmds))]
        shutil.rmtree(out, ignore_errors=True)
        return results

    def ray(self, cmds: list[str], slots: int) -> list[str]:
        import logging

        import ray

        if not self.ray_started:
            # its session files in the run's temporary directory (removed after it), not /tmp/ray
            ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                     _temp_dir=str(self.tmp / "ray"))
            self.stack.callback(ray.shutdown)
            self.ray_started = True
        run = ray.remote(_shell).options(num_cpus=8 // slots)  # slots tasks at a time
        return list(ray.get([run.remote(c) for c in cmds]))

    def close(self) -> None:
        self.stack.close()


def stratos(daemons: dict[int, Daemon], progress: bool = False,
            glob: bool = True) -> Callable[[list[str], int, str, Path], list[str]]:
    def run(cmds: list[str], slots: int, workload: str, files: Path) -> list[str]:
        os.environ.update(daemons[slots].env)
        job = Processor(threads_per_task=1, progress=progress)
        if workload.startswith("W4") and glob:
            job.glob_batch("wc -c %f%", f"{files}/*")
        else:
            job.batch(cmds)
        return job.get_results()

    return run


WHOLE_SCRIPT = """
import sys
from stratos import Processor
job = Processor(threads_per_task=1)
job.batch([f"echo {i}" for i in range(int(sys.argv[1]))])
assert len(job.get_results()) == int(sys.argv[1])
"""


#: CPU seconds (user + system) of each whole-script process: what the client side costs, which
#: the machine's load disturbs far less than its wall time.
WHOLE_CPU: list[float] = []


def stratos_whole(daemon: Daemon, count: int) -> None:
    """The W1 script as a user runs it: a new interpreter, import, job, results.

    It runs with bytecode caching on, as an installed package has its modules compiled: a
    PYTHONDONTWRITEBYTECODE=1 in this environment would make every run compile the client's
    modules again (about 70 ms of CPU), which no installed client does.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.Popen([sys.executable, "-c", WHOLE_SCRIPT, str(count)], env={**env, **daemon.env}, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    WHOLE_CPU.append(usage.ru_utime + usage.ru_stime)


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
    on_s, off_s = statistics.median(times[True]), statistics.median(times[False])
    print(f"W1 progress on  {on_s:7.3f} s {len(cmds) / on_s:7.0f} tasks/s | "
          f"off {off_s:7.3f} s {len(cmds) / off_s:7.0f} tasks/s | on/off x{on_s / off_s:.3f} (median of {rounds})")
    return 0


@contextlib.contextmanager
def file_trees(tmp: Path) -> Iterator[dict[str, Path]]:
    trees = {}
    for workload, count in FILES.items():
        tree = tmp / workload
        tree.mkdir()
        for i in range(count):
            (tree / f"f{i:05d}").write_text("x" * (i % 97 + 1))
        trees[workload] = tree
    yield trees


def _measured(workload: str, row: str) -> bool:
    """Which rows a workload has: st-whole for W1, st-batch for the globs, the large glob's few peers."""
    if workload == "W4L":
        return row in LARGE_PEERS
    if row == "st-whole":
        return workload == "W1"
    return row != "st-batch" or workload == "W4"


def bare_seconds(command: str, runs: int = 5) -> float:
    """The task's own time: the median of ``runs`` serial runs of ``sh -c command``, nothing beside it."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["sh", "-c", command], stdout=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


#: workload -> (bare serial seconds of one task, tasks, slots), for parallel efficiency.
BARE: dict[str, tuple[float, int, int]] = {}


def efficiency(workload: str, wall: float) -> float:
    bare, tasks, slots = BARE[workload]
    return tasks * bare / (slots * wall)


def check(table: dict[tuple[str, str], float]) -> bool:
    """Print one PASS/FAIL line per target whose rows were measured."""
    ok = True
    for workload in EFFICIENCY_WORKLOADS:  # issue 20, target 4
        if workload in BARE and (workload, "stratos") in table and (workload, "xargs") in table:
            ours, theirs = (efficiency(workload, table[(workload, row)]) for row in ("stratos", "xargs"))
            passed = ours >= theirs - EFFICIENCY_MARGIN
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'}: {workload} parallel efficiency {ours:.3f}, xargs {theirs:.3f}"
                  f" (target: within {EFFICIENCY_MARGIN} of xargs')")
    for workload, row, limit, peer in TARGETS:
        if (workload, row) not in table or (workload, peer) not in table:
            continue
        ratio = table[(workload, row)] / table[(workload, peer)]
        passed = ratio <= limit
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}: {workload} {row}/{peer} = {ratio:.2f} (target <= {limit})")
    # issue 20, target 6: ahead of every framework on every workload
    for workload in sorted({w for w, _ in table}):
        ours = table[(workload, "stratos")]
        for peer in FRAMEWORKS:
            if (workload, peer) in table:
                passed = ours < table[(workload, peer)]
                ok &= passed
                print(f"{'PASS' if passed else 'FAIL'}: {workload} stratos/{peer} = "
                      f"{ours / table[(workload, peer)]:.2f} (target < 1)")
    return ok


def measure(workload: str, names: list[str], trees: dict[str, Path], daemons: dict[int, Daemon], warm: Warm,
            rounds: int, table: dict[tuple[str, str], float]) -> None:
    """One workload's rows among ``names``, in interleaved rounds; medians into ``table``, printed."""
    files = trees.get(workload, Path("/"))
    cmds, slots = commands(workload, files)
    if workload in EFFICIENCY_WORKLOADS and workload not in BARE:
        BARE[workload] = (bare_seconds(cmds[0]), len(cmds), slots)
    run_stratos, run_batch = stratos(daemons), stratos(daemons, glob=False)
    peers: dict[str, Callable[[], object]] = {
        "stratos": lambda: run_stratos(cmds, slots, workload, files),
        "st-whole": lambda: stratos_whole(daemons[slots], len(cmds)),
        "st-batch": lambda: run_batch(cmds, slots, workload, files),
        "xargs": lambda: xargs(cmds, slots),
        "parallel": lambda: gnu_parallel(cmds, slots),
        "threads": lambda: thread_pool(cmds, slots),
        "dask": lambda: warm.dask(cmds, slots),
        "hq": lambda: warm.hq(cmds, slots),
        "ray": lambda: warm.ray(cmds, slots),
    }
    peers = {n: fn for n, fn in peers.items() if n in names and _measured(workload, n)}
    for name in WARM:  # warm-up: a framework's start is not its per-job cost
        if name in peers:
            getattr(warm, name)(["true"], slots)
    times: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(rounds):  # interleaved rounds: noise hits every peer alike
        for name, fn in peers.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    for name, samples in times.items():
        table[(workload, name)] = statistics.median(samples)
    base = table.get((workload, "xargs"))
    for name in peers:
        t = table[(workload, name)]
        ratio = f"x{t / base:5.2f} of xargs" if base else ""
        cpu = (f"  (the script's own CPU: {1000 * statistics.median(WHOLE_CPU):.0f} ms, median)"
               if name == "st-whole" and WHOLE_CPU else "")
        if workload in BARE:
            cpu += f"  efficiency {efficiency(workload, t):.3f}"
        print(f"{workload:4s} {name:9s} {t:7.3f} s {len(cmds) / t:9.0f} tasks/s  {ratio}{cpu}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument("--workloads", default="W1,W2,W2S,W3,W3E,W4,W4L")
    parser.add_argument("--peers", default="stratos,st-whole,st-batch,xargs,parallel,threads,dask,hq,ray",
                        help="rows to run (stratos is always run)")
    parser.add_argument("--progress-pair", action="store_true",
                        help="only W1 through StratOS, with the progress line forced on and off")
    opts = parser.parse_args()
    if opts.progress_pair:
        return progress_pair(opts.rounds)
    one, five, fifteen = os.getloadavg()
    print(f"load average (1, 5, 15 min): {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores", flush=True)
    if not opts.skip_setup:
        setup()
    chosen = set(opts.peers.split(",")) | {"stratos"}
    daemons = {slots: Daemon(cpus=slots).start() for slots in (2, 8)}
    table: dict[tuple[str, str], float] = {}
    # the rows without a warm cluster first, then each warm framework alone, started for its own
    # rows and stopped after them: a warm Dask's idle workers alone took a third of a core here,
    # which the other rows would pay for
    order = ["stratos", "st-whole", "st-batch", "xargs", "parallel", "threads"]
    phases = [[n for n in order if n in chosen], *[[n] for n in WARM if n in chosen]]
    with tempfile.TemporaryDirectory(prefix="stratos-peers-") as tmp, file_trees(Path(tmp)) as trees:
        try:
            for phase in phases:
                warm = Warm(Path(tmp))
                try:
                    for workload in opts.workloads.split(","):
                        measure(workload, phase, trees, daemons, warm, opts.rounds, table)
                finally:
                    warm.close()
        finally:
            for daemon in daemons.values():
                daemon.cleanup()
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0 if check(table) else 1


if __name__ == "__main__":
    raise SystemExit(main())
