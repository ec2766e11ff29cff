"""Issue 20, target 5: one 1,000,000-task job, StratOS alone.

    python bench/million.py [--tasks 1000000] [--slots 2] [--phases stream,glob] [--timeout 3600]

Two phases, each on its own fresh stratosd (local backend, `--cpus SLOTS`, journal on, in a
private temporary directory), so each phase's peak memory is its own:
  stream  ONE `job.stream(commands)` call of --tasks commands `echo I` (I = 0..N-1)
  glob    ONE `job.glob_batch("echo %f%", ROOT/d*/f*)` over --tasks empty files, 1,000 per
          directory (made before the phase, removed after it). `echo` is a shell builtin, so the
          task is as cheap as a task with an output can be, and its output is the file's path: the
          read-back checks every result against the sorted file list, i.e. in submission order.

Each phase:
  1. a job "hold" runs SLOTS `sleep` tasks, so every slot is taken and the big job's tasks stay
     queued (pending, none started) until "hold" is cancelled;
  2. submission: from the call until its Submit RPC returned. The daemon answers Submit only once
     the journal commit holding the submission's effect is done (Runtime.request: "its answer once
     the journal holds its effect"; for a glob the inputs of the tasks are journaled too, before the
     reply is sent), so the figure covers the client's chunking and sending, the daemon's glob
     expansion, the core's step and the journal commit. For glob_batch (which submits, then waits)
     the return of its Submit RPC is taken from a wrapper around the client's Connection.submit.
     Target < 10 s;
  3. queued: --queued-window seconds with every task pending (checked: none running); the
     daemon's peak RSS (VmHWM of /proc/PID/status, which covers the submission's transient memory
     too) at the end of that window: target < 1.5 GB. Also printed: VmRSS growth per queued task;
  4. running: "hold" is cancelled, the job's tasks run to the end (bounded by --timeout, past
     which the job is cancelled and the phase FAILs); tasks/s from the release to the last end; the
     daemon's VmHWM at the end (peak over the whole phase): target < 2 GB, and the highest VmRSS
     sampled (every 0.1 s, in a background thread) while running;
  5. read-back: after the job ended, ONE `get_results()` of all N results, timed; the count and
     the order are checked (glob: exactly the sorted files' paths; stream: every `I` exactly once,
     in the job's result order, which for a stream call is the order the tasks ended, so the
     number of results out of submission order is only printed): target > 200,000 results/s.
Throughout each phase (from just before the submission to after the read-back) a separate
process (its own connection, so this process's work does not delay it) calls the Status RPC
(GetStatus of the job) every 0.1 s: max and p99 per stage, target max < 100 ms; and
`stratosctl status JOB` as a whole command (with bytecode caching on, as an installed package
has) is timed when queued, every 10 s while running and after the read-back: target max < 500 ms.
Prints PASS/FAIL per target and phase, naming N; exits 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from stratos._connection import Connection  # noqa: E402
from stratos_wire import stratos_pb2 as pb  # noqa: E402
from tests.daemon import Daemon  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from scale import cpu_seconds, wait_until  # noqa: E402

SUBMIT_LIMIT_S = 10.0
QUEUED_RSS_LIMIT = 1.5e9
RUNNING_RSS_LIMIT = 2.0e9
READBACK_LIMIT_PER_S = 200_000.0
STATUS_LIMIT_S = 0.100
CTL_LIMIT_S = 0.500

FILES_PER_DIR = 1000
#: seconds between Status RPCs of the sampler process, RSS samples, `stratosctl status` runs.
STATUS_INTERVAL_S = 0.1
RSS_INTERVAL_S = 0.1
CTL_INTERVAL_S = 10.0
#: the longest any single wait other than the run itself may take.
WAIT_LIMIT_S = 600.0

SAMPLER = """
import sys, time
from stratos._connection import connect
socket, state, job, interval, path, lifetime = sys.argv[1:7]
conn = connect(socket, state)
end = time.monotonic() + float(lifetime)
with open(path, "w", buffering=1) as out:
    while time.monotonic() < end:
        sent, start = time.time(), time.perf_counter()
        conn.get_status(job)
        took = time.perf_counter() - start
        out.write(f"{sent:.4f} {took:.6f}\\n")
        time.sleep(max(0.0, float(interval) - took))
"""


class Report:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, text: str) -> None:
        if not ok:
            self.failed.append(name)
        print(f"{'PASS' if ok else 'FAIL'}: {name}: {text}", flush=True)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid``, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def mb(n: float) -> str:
    """Bytes in decimal megabytes, as the targets are written (1.5 GB = 1,500 MB)."""
    return f"{n / 1e6:,.0f} MB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


class RssSampler(threading.Thread):
    """(wall time, VmRSS) of the daemon every RSS_INTERVAL_S until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.samples.append((time.time(), proc_status(self.pid)["VmRSS"]))
            except OSError:
                return
            self.done.wait(RSS_INTERVAL_S)

    def peak(self, start: float, end: float) -> int:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)


class CtlTimer(threading.Thread):
    """Times `stratosctl status JOB` as a whole command, every CTL_INTERVAL_S until stopped."""

    def __init__(self, job_id: str) -> None:
        super().__init__(daemon=True)
        self.job_id = job_id
        self.times: list[float] = []
        self.errors: list[str] = []
        self.done = threading.Event()

    def once(self, timed: bool = True) -> None:
        # With bytecode caching on, as an installed package has its modules compiled: a
        # PYTHONDONTWRITEBYTECODE=1 in the environment would make every run compile the client.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        start = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).parent / "stratosctl"), "status", self.job_id],
                              capture_output=True, text=True, timeout=60, env=env)
        if timed:
            self.times.append(time.perf_counter() - start)
        if done.returncode != 0:
            self.errors.append(done.stderr[-500:])

    def run(self) -> None:
        while not self.done.wait(CTL_INTERVAL_S):
            self.once()



class SubmitClock:
    """When each Submit RPC of this process returned: a wrapper around the client's Connection.submit
    (glob_batch submits and then waits in one call; this separates the two)."""

    def __init__(self) -> None:
        self.returned: list[float] = []
        self._original: Callable[[Connection, Iterator[pb.SubmitChunk]], pb.SubmitReply] = Connection.submit

    def __enter__(self) -> SubmitClock:
        original = self._original

        def timed(conn: Connection, chunks: Iterator[pb.SubmitChunk]) -> pb.SubmitReply:
            reply = original(conn, chunks)
            self.returned.append(time.perf_counter())
            return reply

        Connection.submit = timed  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        Connection.submit = self._original  # type: ignore[method-assign, assignment]


def make_tree(root: Path, n: int) -> list[str]:
    """``n`` empty files, FILES_PER_DIR per directory; their paths in sorted (glob) order."""
    paths = []
    for d in range(math.ceil(n / FILES_PER_DIR)):
        folder = root / f"d{d:04d}"
        folder.mkdir()
        for f in range(min(FILES_PER_DIR, n - d * FILES_PER_DIR)):
            path = f"{folder}/f{f:03d}"
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            paths.append(path)
    return paths


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    tasks: int
    submit_s: float = math.nan
    base_rss: int = 0
    queued_rss: int = 0
    queued_hwm: int = 0
    run_s: float = math.nan
    finished: int = 0
    running_hwm: int = 0
    running_rss_max: int = 0
    daemon_cpu_s: float = math.nan
    readback_s: float = math.nan
    results_ok: bool = False
    results_note: str = ""
    status: dict[str, list[float]] = field(default_factory=dict)
    ctl: list[float] = field(default_factory=list)
    ctl_errors: list[str] = field(default_factory=list)
    timed_out: bool = False


def run_phase(name: str, tasks: int, slots: int, timeout: float, queued_window: float, tmp: Path) -> Phase:
    phase = Phase(name, tasks)
    expected: list[str]
    if name == "glob":
        tree = tmp / "tree"
        tree.mkdir()
        start = time.perf_counter()
        paths = make_tree(tree, tasks)
        print(f"  ({tasks} files in {math.ceil(tasks / FILES_PER_DIR)} directories made in "
              f"{time.perf_counter() - start:.1f} s)", flush=True)
        expected = [f"{p}\n" for p in paths]
        del paths
    else:
        commands = [f"echo {i}" for i in range(tasks)]
        expected = [f"{i}\n" for i in range(tasks)]
    daemon = Daemon(cpus=slots).start()
    sampler: subprocess.Popen[bytes] | None = None
    rss = ctl = None
    try:
        os.environ.update(daemon.env)
        assert daemon.proc is not None
        pid = daemon.proc.pid
        rss = RssSampler(pid)
        rss.start()
        hold = Processor(job_id="hold", threads_per_task=1)
        hold.stream.add([f"sleep {int(timeout) + 600}"] * slots)
        wait_until(lambda: hold.stream.count_running_tasks() == slots, "the hold job to take every slot", 60)
        job_id = f"million-{name}"
        job = Processor(job_id=job_id, threads_per_task=1)
        status_log = tmp / f"status-{name}.log"
        sampler = subprocess.Popen(
            [sys.executable, "-c", SAMPLER, str(daemon.socket), str(daemon.state_dir), job_id,
             str(STATUS_INTERVAL_S), str(status_log), str(3 * timeout + 3 * WAIT_LIMIT_S)],
            cwd=ROOT, stdin=subprocess.DEVNULL,
        )
        wait_until(lambda: status_log.exists() and status_log.stat().st_size > 0, "the Status sampler", 60)
        time.sleep(0.5)
        ctl = CtlTimer(job_id)
        ctl.once(timed=False)  # writes the client's bytecode caches, if missing, before any timed run
        phase.base_rss = proc_status(pid)["VmRSS"]
        marks = {"submit": time.time()}

        # -- submission --------------------------------------------------------------------
        batch_error: list[BaseException] = []
        batch_thread = None
        with SubmitClock() as clock:
            called = time.perf_counter()
            if name == "stream":
                job.stream(commands)
                del commands
            else:
                def glob() -> None:
                    try:
                        job.glob_batch("echo %f%", f"{tmp}/tree/d*/f*")
                    except BaseException as err:  # reported below
                        batch_error.append(err)

                batch_thread = threading.Thread(target=glob, daemon=True)
                batch_thread.start()
            wait_until(lambda: clock.returned or batch_error, "the Submit RPC to return")
        if batch_error:
            raise RuntimeError(f"glob_batch failed: {batch_error[0]!r}")
        phase.submit_s = clock.returned[0] - called
        marks["queued"] = time.time()
        print(f"  ({name}: {tasks} tasks submitted in {phase.submit_s:.2f} s)", flush=True)

        # -- queued ------------------------------------------------------------------------
        time.sleep(queued_window)
        counts = job._conn.get_status(job_id).counts
        if counts.pending != tasks or counts.running != 0:
            raise RuntimeError(f"not every task is queued: {counts.pending} pending, {counts.running} running "
                               "(the queued memory figure would be wrong)")
        now = proc_status(pid)
        phase.queued_rss, phase.queued_hwm = now["VmRSS"], now["VmHWM"]
        ctl.once()

        # -- running -----------------------------------------------------------------------
        cpu0 = cpu_seconds(pid)
        marks["running"] = time.time()
        released = time.perf_counter()
        hold.cancel()
        ctl.start()
        timer = threading.Timer(timeout, job.cancel)
        timer.start()
        try:
            if batch_thread is None:
                job.wait()
            else:
                batch_thread.join(timeout + WAIT_LIMIT_S)
        finally:
            timer.cancel()
        phase.run_s = time.perf_counter() - released
        phase.daemon_cpu_s = cpu_seconds(pid) - cpu0
        phase.timed_out = phase.run_s >= timeout
        ctl.done.set()
        ctl.join(60)
        marks["readback"] = time.time()
        phase.running_hwm = proc_status(pid)["VmHWM"]
        phase.running_rss_max = rss.peak(marks["running"], marks["readback"])
        if batch_error:
            raise RuntimeError(f"glob_batch failed: {batch_error[0]!r}")
        phase.finished = job._conn.get_status(job_id).counts.finished

        # -- read-back ---------------------------------------------------------------------
        start = time.perf_counter()
        got = job.get_results()
        phase.readback_s = time.perf_counter() - start
        marks["end"] = time.time()
        if name == "glob":
            phase.results_ok = got == expected
            phase.results_note = (f"{len(got)} results, {'equal to' if phase.results_ok else 'NOT'} the "
                                  "sorted files' paths in order")
        else:
            seen = sorted(int(r) for r in got) if all(r.strip().isdigit() for r in got) else []
            phase.results_ok = len(got) == tasks and seen == list(range(tasks))
            moved = sum(1 for r, e in zip(got, expected, strict=False) if r != e)
            phase.results_note = (f"{len(got)} results, {'each' if phase.results_ok else 'NOT each'} `echo I` "
                                  f"exactly once; {moved} not at their submission position (stream: "
                                  "completion order)")
        ctl.once()
        time.sleep(2 * STATUS_INTERVAL_S)
        phase.ctl, phase.ctl_errors = ctl.times, ctl.errors

        # -- the Status samples, by stage ----------------------------------------------------
        sampler.terminate()
        sampler.wait(30)
        bounds = [("submission", marks["submit"], marks["queued"]), ("queued", marks["queued"], marks["running"]),
                  ("running", marks["running"], marks["readback"]), ("read-back", marks["readback"], marks["end"])]
        samples = [tuple(float(v) for v in line.split()) for line in status_log.read_text().splitlines()
                   if len(line.split()) == 2]
        for stage, lo, hi in bounds:
            phase.status[stage] = [took for sent, took in samples if lo <= sent < hi]
        # a call sent before a stage boundary and still waiting belongs to the stage it was sent in
        phase.status["throughout"] = [took for sent, took in samples if marks["submit"] <= sent < marks["end"]]
        return phase
    finally:
        if sampler is not None and sampler.poll() is None:
            sampler.terminate()
            sampler.wait(30)
        if rss is not None:
            rss.done.set()
        if ctl is not None:
            ctl.done.set()
        daemon.cleanup()
        if name == "glob":
            shutil.rmtree(tmp / "tree", ignore_errors=True)


def report_phase(report: Report, p: Phase, slots: int) -> None:
    n, tag = p.tasks, f"{p.name} N={p.tasks}"
    per_task = (p.queued_rss - p.base_rss) / n
    print(f"  {tag}: daemon VmRSS {mb(p.base_rss)} before, {mb(p.queued_rss)} queued "
          f"({per_task:.0f} bytes per queued task); ran {p.finished} in {p.run_s:.1f} s on {slots} slots "
          f"({p.finished / p.run_s:.0f} tasks/s, daemon CPU {1000 * p.daemon_cpu_s / n:.3f} ms/task)", flush=True)
    for stage, values in p.status.items():
        if values:
            print(f"  {tag}: Status RPC {stage}: {len(values)} calls, median {ms(statistics.median(values))}, "
                  f"p99 {ms(p99(values))}, max {ms(max(values))}", flush=True)
    report.check(f"{tag} submit", p.submit_s < SUBMIT_LIMIT_S,
                 f"{n} tasks submitted and journaled in {p.submit_s:.2f} s, target < {SUBMIT_LIMIT_S:g} s")
    report.check(f"{tag} queued RSS", p.queued_hwm < QUEUED_RSS_LIMIT,
                 f"daemon peak RSS (VmHWM) up to the end of the queued stage {mb(p.queued_hwm)}, "
                 f"target < {mb(QUEUED_RSS_LIMIT)}")
    done = p.finished == n and not p.timed_out
    report.check(f"{tag} ran", done, f"{p.finished} of {n} tasks finished in {p.run_s:.1f} s"
                 + (" (timed out: the job was cancelled)" if p.timed_out else ""))
    report.check(f"{tag} running RSS", done and p.running_hwm < RUNNING_RSS_LIMIT,
                 f"daemon peak RSS (VmHWM) through the run {mb(p.running_hwm)} (highest sampled VmRSS "
                 f"while running {mb(p.running_rss_max)}), target < {mb(RUNNING_RSS_LIMIT)}")
    rate = n / p.readback_s
    report.check(f"{tag} read-back", p.results_ok and rate > READBACK_LIMIT_PER_S,
                 f"get_results() of {n} results in {p.readback_s:.3f} s = {rate:,.0f} results/s, "
                 f"target > {READBACK_LIMIT_PER_S:,.0f}/s; {p.results_note}")
    values = p.status.get("throughout", [])
    worst = max(values, default=math.inf)
    report.check(f"{tag} Status RPC", worst < STATUS_LIMIT_S,
                 f"{len(values)} GetStatus calls throughout: max {ms(worst)}, "
                 f"p99 {ms(p99(values)) if values else '-'}, target max < {ms(STATUS_LIMIT_S)}")
    worst_ctl = max(p.ctl, default=math.inf)
    report.check(f"{tag} stratosctl status", worst_ctl < CTL_LIMIT_S and not p.ctl_errors,
                 f"`stratosctl status` as a command, {len(p.ctl)} runs: max {ms(worst_ctl)}, "
                 f"median {ms(statistics.median(p.ctl)) if p.ctl else '-'}, target < {ms(CTL_LIMIT_S)} "
                 f"(queued, while running, after: {', '.join(f'{t * 1000:.0f}' for t in p.ctl)} ms)"
                 + (f"; {len(p.ctl_errors)} failed: {p.ctl_errors[0]}" if p.ctl_errors else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks per phase (1,000,000)")
    parser.add_argument("--slots", type=int, default=os.cpu_count() or 2, help="the daemon's --cpus (the cores)")
    parser.add_argument("--phases", default="stream,glob", help="comma-separated: stream, glob")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds each phase's tasks may run; past it the job is cancelled: FAIL")
    parser.add_argument("--queued-window", type=float, default=2.0,
                        help="seconds every task stays queued before the slots are released")
    opts = parser.parse_args()
    report = Report()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
          f"N={opts.tasks} tasks per phase, {opts.slots} slots", flush=True)
    for name in opts.phases.split(","):
        if name not in ("stream", "glob"):
            parser.error(f"unknown phase {name!r}")
        with tempfile.TemporaryDirectory(prefix="stratos-million-") as tmp:
            start = time.perf_counter()
            phase = run_phase(name, opts.tasks, opts.slots, opts.timeout, opts.queued_window, Path(tmp))
            print(f"  ({name} phase took {time.perf_counter() - start:.0f} s; load average "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
            report_phase(report, phase, opts.slots)
    if report.failed:
        print(f"FAILED: {', '.join(report.failed)}")
        return 1
    print("all figures PASS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
