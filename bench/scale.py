"""Scale: what 100,000 tasks cost one daemon, and how fast and quiet it is when idle.

    python bench/scale.py [--rounds 3] [--tasks 100000] [--only submit,results,...]

Every figure is measured against a real stratosd (local backend) in a private temporary
directory, with the journal on; timed figures are the median of --rounds runs (warm: of
3 x --rounds runs).
  submit   --tasks commands passed to ONE `job.stream.add(...)` are accepted (in the daemon's
           journal) when the call returns: < 1 s (daemon with 1 slot; the job is cancelled after)
  results  `get_results()` of --tasks finished results (`echo i`, run beforehand on 8 advertised
           cores), every one in order: < 1 s
  memory   the daemon's RSS (VmRSS) grows < 1 KB per queued task: --tasks tasks queued behind
           a `sleep` that holds the only slot
  idle     a daemon holding 10 open stream jobs with nothing pending uses < 1% CPU
           (utime+stime over a 5 s window)
  warm     a running daemon starts the first task (`date +%s.%N > FILE`) of a new script's new
           job < 50 ms after that script calls `Processor(...)` (its own new connection)
  flat     cost as the job grows (issue 20, target 3): W1 (`echo i` through batch(), 2 slots)
           at 2,000, 20,000 and 100,000 tasks and glob_batch("wc -c %f%") over 1,000 and
           20,000 files, each size on a fresh warm daemon (medians of 5 small, 3 middle and 1
           large run, the larger runs in the middle of the smaller ones): tasks/s of the largest
           size >= 90% of the smallest's, and the daemon's own CPU per task (utime+stime, which a
           busy machine disturbs less than wall time) at most 1/0.9 of the smallest's. Not in
           the default --only (about 15 minutes); --flat-sizes "W1=2000,20000;glob=1000" overrides.
  cold     no daemon running: a new Python process running `Processor(...).stream(...)`
           auto-starts one (fresh STRATOS_SOCKET/STRATOS_STATE_DIR) and its first task starts
           < 1.5 s after the process was spawned; the daemon is stopped by its PID afterwards
Prints each figure with PASS/FAIL; exits 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from stratos._connection import connect  # noqa: E402
from stratos.errors import StratosError  # noqa: E402
from tests.daemon import Daemon  # noqa: E402

SUBMIT_LIMIT_S = 1.0
RESULTS_LIMIT_S = 1.0
MEMORY_LIMIT_BYTES = 1024.0
IDLE_LIMIT_PERCENT = 1.0
IDLE_WINDOW_S = 5.0
IDLE_JOBS = 10
WARM_LIMIT_S = 0.050
#: warm-start runs per round.
WARM_SAMPLES = 3
COLD_LIMIT_S = 1.5
#: the longest any single wait of this benchmark may take (every loop is bounded by it).
WAIT_LIMIT_S = 600.0

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: flat: job sizes per workload, the floor on tasks/s against the smallest size, rounds per size.
FLAT_SIZES = {"W1": (2000, 20000, 100_000), "glob": (1000, 20000)}
FLAT_FLOOR = 0.9
#: rounds per size: the smaller sizes are short, so more of them steady the median.
FLAT_ROUNDS = {2000: 5, 1000: 5, 20000: 3}
#: the longest one flat run may take (a 100,000-task W1 takes about 100 s on a quiet machine):
#: past it the job is cancelled.
FLAT_LIMIT_S = 900.0


class Report:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, value: float, limit: float, text: str, detail: str = "") -> None:
        ok = value < limit
        if not ok:
            self.failed.append(name)
        print(f"{'PASS' if ok else 'FAIL'}: {name}: {text}{f' ({detail})' if detail else ''}", flush=True)


def use(daemon: Daemon) -> int:
    """Point this process's client at ``daemon``; return the daemon's PID."""
    os.environ.update(daemon.env)
    assert daemon.proc is not None
    return daemon.proc.pid


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def wait_until(probe: Callable[[], object], what: str, limit: float = WAIT_LIMIT_S) -> None:
    deadline = time.monotonic() + limit
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


def started_at(path: Path, limit: float = 30.0) -> float:
    """The `date +%s.%N` a task wrote to ``path`` (waits until the whole line is there)."""

    def line() -> str:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return ""
        return text if text.endswith("\n") else ""

    wait_until(line, f"a task to write {path}", limit)
    return float(path.read_text())


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# -- the figures ------------------------------------------------------------------------------


def submit(report: Report, tasks: int, rounds: int) -> None:
    daemon = Daemon(cpus=1).start()
    try:
        use(daemon)
        commands = [f"echo {i}" for i in range(tasks)]
        times = []
        for r in range(rounds):
            job = Processor(job_id=f"submit-{r}")
            start = time.perf_counter()
            ids = job.stream.add(commands)
            times.append(time.perf_counter() - start)
            if len(ids) != tasks:
                raise RuntimeError(f"the daemon accepted {len(ids)} of {tasks} tasks")
            job.cancel()
            job.wait()
        median = statistics.median(times)
        report.check("submit", median, SUBMIT_LIMIT_S,
                     f"{tasks} commands in one stream() call accepted in {median:.3f} s (median), "
                     f"target < {SUBMIT_LIMIT_S:g} s", "runs: " + ", ".join(f"{t:.3f}" for t in times))
    finally:
        daemon.cleanup()


def results(report: Report, tasks: int, rounds: int) -> None:
    daemon = Daemon(cpus=8).start()
    try:
        use(daemon)
        job = Processor(job_id="results")
        start = time.perf_counter()
        job.batch([f"echo {i}" for i in range(tasks)])
        print(f"  (ran {tasks} tasks for the results figure in {time.perf_counter() - start:.0f} s)", flush=True)
        expected = [f"{i}\n" for i in range(tasks)]
        times = []
        for r in range(rounds):
            # A named cursor per round: each round reads every result, as a first get_results() does.
            consumer = None if r == 0 else f"round-{r}"
            start = time.perf_counter()
            got = job.get_results(consumer)
            times.append(time.perf_counter() - start)
            if got != expected:
                raise RuntimeError(f"get_results() returned {len(got)} results, not all {tasks} in order")
        median = statistics.median(times)
        report.check("results", median, RESULTS_LIMIT_S,
                     f"get_results() of {tasks} finished results in {median:.3f} s (median), "
                     f"target < {RESULTS_LIMIT_S:g} s", "runs: " + ", ".join(f"{t:.3f}" for t in times))
    finally:
        daemon.cleanup()


def memory(report: Report, tasks: int) -> None:
    daemon = Daemon(cpus=1).start()
    try:
        pid = use(daemon)
        job = Processor(job_id="memory")
        job.stream.add(["sleep 600"])
        wait_until(lambda: job.stream.count_running_tasks() == 1, "the blocking task to start", 30)
        time.sleep(0.5)
        before = rss_bytes(pid)
        job.stream.add([f"echo {i}" for i in range(tasks)])
        time.sleep(1.0)
        after = rss_bytes(pid)
        if job.stream.count_unfinished_tasks() != tasks + 1:
            raise RuntimeError("queued tasks started: the memory figure would be wrong")
        per_task = (after - before) / tasks
        report.check("memory", per_task, MEMORY_LIMIT_BYTES,
                     f"daemon RSS grew {per_task:.0f} bytes per queued task, target < {MEMORY_LIMIT_BYTES:.0f}",
                     f"{before / 2**20:.1f} MB -> {after / 2**20:.1f} MB for {tasks} tasks")
        job.cancel()
    finally:
        daemon.cleanup()


def idle(report: Report, rounds: int) -> None:
    daemon = Daemon(cpus=2).start()
    try:
        pid = use(daemon)
        jobs = [Processor(job_id=f"idle-{i}") for i in range(IDLE_JOBS)]
        for job in jobs:
            job.stream("true")
        for job in jobs:
            job.wait_for_tasks()  # the streams stay open
        time.sleep(1.0)
        shares = []
        for _ in range(rounds):
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            time.sleep(IDLE_WINDOW_S)
            shares.append(100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0))
        if any(job.stream.closed() for job in jobs):
            raise RuntimeError("a stream was closed")
        median = statistics.median(shares)
        report.check("idle", median, IDLE_LIMIT_PERCENT,
                     f"daemon with {IDLE_JOBS} open idle jobs used {median:.2f}% CPU over {IDLE_WINDOW_S:g} s "
                     f"(median), target < {IDLE_LIMIT_PERCENT:g}%",
                     "windows: " + ", ".join(f"{s:.2f}%" for s in shares))
    finally:
        daemon.cleanup()


def warm(report: Report, rounds: int, tmp: Path) -> None:
    daemon = Daemon(cpus=2).start()
    try:
        use(daemon)
        Processor(job_id="warm-up").batch("true")
        env = {**os.environ, **daemon.env}
        scripts, here = [], []
        for r in range(WARM_SAMPLES * rounds):  # each run is short: more of them steady the median
            # A new script (its own connection), timed from its Processor() call...
            path = tmp / f"warm-{r}"
            _, called = client(path, f"warm-{r}", env, tmp)
            scripts.append(started_at(path) - called)
            Processor.attach(f"warm-{r}").wait()
            # ... and a new job from this process, whose connection is open already.
            path = tmp / f"warm-here-{r}"
            start = time.time()
            job = Processor(job_id=f"warm-here-{r}")
            job.stream(f"date +%s.%N > {path}")
            here.append(started_at(path) - start)
            job.wait()
        median = statistics.median(scripts)
        report.check("warm", median, WARM_LIMIT_S,
                     f"warm daemon started a new script's first task {fmt_ms(median)} after its Processor() call "
                     f"(median), target < {fmt_ms(WARM_LIMIT_S)}",
                     f"{len(scripts)} runs, {fmt_ms(min(scripts))} to {fmt_ms(max(scripts))}"
                     + f"; from a process already connected: {fmt_ms(statistics.median(here))}")
    finally:
        daemon.cleanup()


CLIENT = """
import sys, time
from stratos import Processor
called = time.time()
job = Processor(job_id=sys.argv[2])
job.stream(f"date +%s.%N > {sys.argv[1]}")
print(called, flush=True)
"""


def client(path: Path, job_id: str, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Run CLIENT in a new Python process; return when it was spawned and when it called Processor()."""
    spawned = time.time()
    done = subprocess.run([sys.executable, "-c", CLIENT, str(path), job_id], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"the client process failed: {done.stderr[-2000:]}")
    return spawned, float(done.stdout)


def daemon_pid(socket: Path, state: Path) -> int | None:
    """The PID of the daemon at ``socket``: its answer to Hello, else its state directory's held lock."""
    try:
        conn = connect(socket, state)
    except StratosError:
        pass
    else:
        conn.close()
        return int(conn.hello.pid)
    try:
        fd = os.open(state / "stratosd.lock", os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # nobody holds it: no daemon runs there (the PID in it may be anyone's now)
    except BlockingIOError:
        return int(os.read(fd, 32).decode().strip() or 0) or None
    finally:
        os.close(fd)


def stop_pid(pid: int) -> None:
    """SIGTERM the daemon we caused to start (not our child: it is in its own session), SIGKILL if it lingers."""

    def gone() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    with_signal = signal.SIGTERM
    for limit in (30.0, 5.0):
        if gone():
            return
        os.kill(pid, with_signal)
        deadline = time.monotonic() + limit
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.05)
        with_signal = signal.SIGKILL


def cold(report: Report, rounds: int) -> None:
    latencies, from_call = [], []
    for _ in range(rounds):
        root = Path(tempfile.mkdtemp(prefix="st-cold-", dir="/tmp"))  # short: a Unix socket path
        os.chmod(root, 0o700)
        socket, state, path = root / "run" / "d.sock", root / "state", root / "started"
        env = {k: v for k, v in os.environ.items() if k != "STRATOS_NO_AUTOSTART"}
        env.update(STRATOS_SOCKET=str(socket), STRATOS_STATE_DIR=str(state))
        try:
            spawned, called = client(path, "cold", env, root)
            started = started_at(path)
            latencies.append(started - spawned)
            from_call.append(started - called)
        finally:
            pid = daemon_pid(socket, state) if socket.exists() or state.exists() else None
            if pid is not None:
                stop_pid(pid)
            shutil.rmtree(root, ignore_errors=True)
    median = statistics.median(latencies)
    report.check("cold", median, COLD_LIMIT_S,
                 f"no daemon running: first task started {median:.3f} s after the client process was spawned "
                 f"(median), target < {COLD_LIMIT_S:g} s",
                 "runs: " + ", ".join(f"{t:.3f}" for t in latencies)
                 + f"; {statistics.median(from_call):.3f} s after its Processor() call")


def flat_once(workload: str, size: int, files: Path) -> tuple[float, float, float]:
    """One job of ``size`` tasks on a fresh daemon: (wall s, daemon CPU s, this client's CPU s)."""
    daemon = Daemon(cpus=2).start()
    try:
        pid = use(daemon)
        Processor(job_id="warm-up", threads_per_task=1).batch([f"echo {i}" for i in range(200)])
        cpu0, client0 = cpu_seconds(pid), time.process_time()
        start = time.perf_counter()
        job = Processor(threads_per_task=1)
        # the bound: past it the job is cancelled, so the batch call returns and the check below fails
        timer = threading.Timer(FLAT_LIMIT_S, job.cancel)
        timer.start()
        try:
            if workload == "W1":
                job.batch([f"echo {i}" for i in range(size)])
            else:
                job.glob_batch("wc -c %f%", f"{files}/*")
        finally:
            timer.cancel()
        got = job.get_results()
        wall = time.perf_counter() - start
        cpu, client_cpu = cpu_seconds(pid) - cpu0, time.process_time() - client0
        if wall > FLAT_LIMIT_S:
            raise RuntimeError(f"{workload} at {size} took {wall:.0f} s, past the {FLAT_LIMIT_S:g} s bound")
        if len(got) != size:
            raise RuntimeError(f"{workload}: {len(got)} results of {size}")
        return wall, cpu, client_cpu
    finally:
        daemon.cleanup()


def flat_schedule(counts: tuple[int, ...]) -> list[int]:
    """The order of the runs: each size's rounds in the middle of the smaller sizes' rounds, so a
    change in the machine's load during the long runs reaches the small runs that bracket them."""
    rounds = {size: FLAT_ROUNDS.get(size, 1) for size in counts}
    total = max(rounds.values())
    order = []
    for i in range(total):
        for size in counts:
            first = (total - rounds[size]) // 2
            if first <= i < first + rounds[size]:
                order.append(size)
    return order


def flat(report: Report, sizes: dict[str, tuple[int, ...]], tmp: Path) -> None:
    """Tasks/s and CPU per task at each size; the largest size against the smallest."""
    for workload, counts in sizes.items():
        runs: dict[int, list[tuple[float, float, float]]] = {size: [] for size in counts}
        for size in counts:
            files = tmp / f"flat-{size}"
            if workload == "glob":
                files.mkdir(exist_ok=True)
                for i in range(size):
                    (files / f"f{i:06d}").write_text("x" * (i % 97 + 1))
        for size in flat_schedule(counts):
            runs[size].append(flat_once(workload, size, tmp / f"flat-{size}"))
            print(f"  ({workload} {size} tasks: {runs[size][-1][0]:.1f} s, load {os.getloadavg()[0]:.1f})", flush=True)
        figures: dict[int, tuple[float, float, float]] = {}
        for size in counts:
            wall, cpu, client_cpu = (statistics.median(r[k] for r in runs[size]) for k in range(3))
            figures[size] = (size / wall, 1000 * cpu / size, 1000 * client_cpu / size)
            print(f"  {workload} {size:7d} tasks: {size / wall:7.0f} tasks/s, "
                  f"daemon {figures[size][1]:.3f} ms CPU/task, client {figures[size][2]:.3f} ms CPU/task "
                  f"(median of {len(runs[size])}; walls " + ", ".join(f"{r[0]:.1f}" for r in runs[size]) + " s)",
                  flush=True)
        if workload == "glob":
            for size in counts:
                with contextlib.suppress(OSError):
                    shutil.rmtree(tmp / f"flat-{size}")
        small, large = min(figures), max(figures)
        rate = figures[large][0] / figures[small][0]
        report.check(f"flat {workload} tasks/s", -rate, -FLAT_FLOOR,
                     f"{workload} at {large} tasks ran {rate:.0%} of the tasks/s at {small}, "
                     f"target >= {FLAT_FLOOR:.0%}")
        grown = figures[large][1] / figures[small][1]
        report.check(f"flat {workload} CPU/task", grown, 1 / FLAT_FLOOR,
                     f"{workload} at {large} tasks cost the daemon {grown:.2f}x the CPU per task at {small}, "
                     f"target <= {1 / FLAT_FLOOR:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--only", default="submit,results,memory,idle,warm,cold",
                        help="comma-separated figures to measure (flat too, which is not in the default)")
    parser.add_argument("--flat", action="store_true", help="only the flat figures (--only flat)")
    parser.add_argument("--flat-sizes", default="", metavar="W1=2000,20000,100000;glob=1000,20000",
                        help="the flat figures' job sizes per workload")
    opts = parser.parse_args()
    wanted = {"flat"} if opts.flat else set(opts.only.split(","))
    sizes = dict(FLAT_SIZES)
    for part in filter(None, opts.flat_sizes.split(";")):
        name, _, counts = part.partition("=")
        sizes[name] = tuple(int(c) for c in counts.split(","))
    report = Report()
    # Timings on a busy host mean little: say how busy this one was.
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    with tempfile.TemporaryDirectory(prefix="stratos-scale-") as tmp:
        if "submit" in wanted:
            submit(report, opts.tasks, opts.rounds)
        if "results" in wanted:
            results(report, opts.tasks, opts.rounds)
        if "memory" in wanted:
            memory(report, opts.tasks)
        if "idle" in wanted:
            idle(report, opts.rounds)
        if "warm" in wanted:
            warm(report, opts.rounds, Path(tmp))
        if "cold" in wanted:
            cold(report, opts.rounds)
        if "flat" in wanted:
            flat(report, sizes, Path(tmp))
    if report.failed:
        print(f"FAILED: {', '.join(report.failed)}")
        return 1
    print("all figures PASS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
