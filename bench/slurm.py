"""StratOS's Slurm pilots: jobs back to back on the daemon's shared pilots, and 200 tasks beside a
plain Slurm job array of the same tasks, in one run.

    python bench/slurm.py [--jobs 6] [--rounds 3] [--array-rounds 3] [--tasks 200] [--partition debug]

Needs a running Slurm whose client commands work here (on one machine:
`deploy/slurm/local-cluster.sh start`) with the high-throughput scheduler settings
`SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000`:
they are checked first (`scontrol show config`) and printed; without them the array would
be measured at Slurm's slow defaults, so the run FAILs at once.

Back to back (issue 18; first): a stratosd with the default idle release (30 s) runs --jobs NEW jobs
of 20 `echo i` one after the other, each with master="slurm://PARTITION", pilot_cpus=2, max_pilots=1:
they share one pool, so the first pays for its pilot (sbatch, queue, start-up) and every later one
runs on the pilot the earlier left idle. Each job is timed from `Processor(...)` to its last result
(all 20 checked in order), and from `Processor(...)` to its first task running (the task's own
start time). Then, with the pilot idle, one more job of one task: `Processor(...)` to its first
task running. `PASS/FAIL: later jobs ...` (target: each later job < 1 s) and `PASS/FAIL: first
task on an idle pilot ...` (target < 0.5 s). The same jobs on the local backend are printed beside.

The same 200 tasks, `echo i`, 1 core each, both ways (rounds interleaved):
  pilots  a real stratosd (started here, warmed with a local job) runs a NEW job each round
          with master="slurm://PARTITION", pilot_cpus=2, max_pilots=1 (one pilot fills the
          2-core test node): from `Processor(...)` through `batch(...)` and `get_results()`,
          all 200 outputs checked in order. The pilot's sbatch, its wait in Slurm's queue
          and its start-up are inside the time: this daemon stops an idle pilot after 1 s
          (--slurm-idle-release 1), and the pilot has left squeue before the next round.
          Each round prints where its time went:
          job + sbatch (daemon log), Slurm queue + launch (until the pilot's process started:
          /proc, when the node is this host), pilot start-up + register (pilot log), first
          task, the tasks (their own start and end times), results.
  array   `sbatch --parsable --array=0-199 --wrap 'echo $SLURM_ARRAY_TASK_ID'`, each task's
          stdout in its own file (`--output DIR/%a.out`, stderr apart in `%a.err`) in a
          temporary directory: from sbatch until the array has left squeue (polled every
          0.2 s) and all 200 outputs are read back and checked. Slurm's own task start and
          end times (whole seconds) are printed beside it.
Prints the median of each (wall s, tasks/s) and `PASS/FAIL: pilots/array speedup = Nx
(target >= 20x)`; exits 0 on PASS, 1 on FAIL.

Rounds: the project asks for medians of at least 3 rounds. A 200-task array takes about
1.5 minutes on a 2-core node, so 3 array rounds make the run about 4.5 minutes; use
`--array-rounds 1` for a quick look (then the array figure is one sample, not a median).

Clean-up, also on failure, Ctrl-C or SIGTERM: the daemon is stopped by its PID and only
this run's Slurm jobs (its array and its jobs' pilots, found by their unique names) are
scancelled; the daemon does not cancel pilots when it stops, because pilots outlive a restart.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from stratosd.backends.slurm import pool_label  # noqa: E402
from tests.daemon import Daemon  # noqa: E402

TARGET = 20.0
#: back to back: each later job's Processor(...) to last result, and a first task on an idle pilot.
LATER_JOB_TARGET = 1.0
IDLE_FIRST_TASK_TARGET = 0.5
SMALL_JOB = 20
#: the scheduler settings the array is measured with: name -> (required value, "==" or ">=").
REQUIRED = {"batch_sched_delay": (0, "=="), "sched_min_interval": (0, "=="), "default_queue_depth": (1000, ">=")}
POLL = 0.2
ROUND_LIMIT = 900.0  # seconds any one round may take before it counts as failed


class Failed(Exception):
    """A round did not give the expected outputs (or did not end in time)."""


def slurm(*args: str, timeout: float = 30) -> str:
    """Run a Slurm client command; its stdout (a non-zero exit raises)."""
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def queued(*, name: str = "", job: str = "") -> list[tuple[str, str]]:
    """(job id, name) of the jobs squeue lists, by name or by job id; an array counts once, by its id."""
    args = ["squeue", "-h", "-o", "%F %j"]
    if name:
        args += ["--name", name]
    if job:
        args += ["--jobs", job]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:  # purged: certainly not queued
            return []
        raise RuntimeError(f"squeue exited {done.returncode}: {done.stderr.strip()}")
    rows = {tuple(line.split(None, 1)) for line in done.stdout.splitlines() if line.strip()}
    return sorted((row[0], row[1] if len(row) > 1 else "") for row in rows)


def check_scheduler() -> tuple[str, list[str]]:
    """The cluster's SchedulerParameters, and what is missing from the high-throughput ones."""
    line = ""
    for row in slurm("scontrol", "show", "config").splitlines():
        key, _, value = row.partition("=")
        if key.strip() == "SchedulerParameters":
            line = value.strip()
    have = dict(item.partition("=")[::2] for item in line.split(",") if item and line != "(null)")
    missing = []
    for name, (want, how) in REQUIRED.items():
        try:
            got = int(have[name])
        except (KeyError, ValueError):
            missing.append(f"{name}={want}")
            continue
        if (how == "==" and got != want) or (how == ">=" and got < want):
            missing.append(f"{name}={want} (have {got})")
    return line or "(none)", missing


def log_time(line: str) -> float:
    """The epoch time of a log line that starts with logging's asctime ("2025-01-31 12:00:00,123")."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


@dataclass
class Cleanup:
    """Names of this run's Slurm jobs (unique to the run), scancelled at the end if still queued."""

    names: set[str] = field(default_factory=set)

    def cancel(self, name: str) -> None:
        ids = [job for job, _ in queued(name=name)]
        if ids:
            slurm("scancel", *ids)

    def wait_gone(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while queued(name=name):
            if time.monotonic() > deadline:
                self.cancel(name)
                return
            time.sleep(POLL)

    def all(self) -> None:
        for name in sorted(self.names):
            try:
                self.cancel(name)
            except (RuntimeError, subprocess.SubprocessError) as exc:
                print(f"could not scancel {name}: {exc}", file=sys.stderr)


@dataclass
class Breakdown:
    """Where one pilots round's time went, in seconds from Processor(...)."""

    submitted: float  # the daemon's sbatch returned
    process: float | None  # Slurm started the pilot's process (None: not on this host)
    registered: float  # the pilot registered with the daemon (after Python imported the executor)
    first_start: float  # the first task started on the pilot
    last_end: float  # the last task ended
    total: float  # get_results() returned

    def __str__(self) -> str:
        if self.process is None:
            start = f"queue+start+register {self.registered - self.submitted:5.2f}"
        else:
            start = (f"slurm queue+launch {self.process - self.submitted:4.2f} | "
                     f"pilot start+register {self.registered - self.process:4.2f}")
        return (f"job+sbatch {self.submitted:4.2f} | {start} | first task {self.first_start - self.registered:4.2f}"
                f" | tasks {self.last_end - self.first_start:4.2f}"
                f" | results {self.total - self.last_end:4.2f}")


def process_started(pid: int, slurm_id: str) -> float | None:
    """The epoch time the pilot process (of Slurm job ``slurm_id``) started, 10 ms resolution; None when
    it is not on this host."""
    try:
        if f"SLURM_JOB_ID={slurm_id}".encode() not in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            return None
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    since_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: starttime in clock ticks
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot)


def pilot_name(job: Processor) -> str:
    """The Slurm job name of the pilots of the job's (shared) pool."""
    return f"stratos-{pool_label(job.status().pool)}"


def pilots_round(daemon: Daemon, partition: str, tasks: int, job_id: str, pilot_cpus: int, max_pilots: int,
                 cleanup: Cleanup) -> tuple[float, Breakdown | None]:
    expected = [f"{i}\n" for i in range(tasks)]
    t0 = time.time()
    started = time.perf_counter()
    job = Processor(master=f"slurm://{partition}", job_id=job_id, threads_per_task=1, pilot_cpus=pilot_cpus,
                    max_pilots=max_pilots)
    job.batch([f"echo {i}" for i in range(tasks)])
    results = job.get_results()
    elapsed = time.perf_counter() - started
    name = pilot_name(job)
    cleanup.names.add(name)
    if results != expected:
        wrong = [i for i, text in enumerate(expected) if i >= len(results) or results[i] != text]
        raise Failed(f"pilots round {job_id}: {len(results)} results, {len(wrong)} wrong, first at {wrong[:1]}")
    try:
        breakdown = profile(daemon, job, job_id, t0, elapsed, tasks)
    except (OSError, ValueError, StopIteration) as exc:
        print(f"  (no breakdown for {job_id}: {exc!r})")
        breakdown = None
    job.close()
    cleanup.wait_gone(name)  # the daemon stops its idle pilot after 1 s
    return elapsed, breakdown


def profile(daemon: Daemon, job: Processor, job_id: str, t0: float, total: float, tasks: int) -> Breakdown:
    label = pool_label(job.status().pool)
    marker = f"{label}: pilot job "
    daemon_log = (daemon.root / "daemon.log").read_text().splitlines()
    submitted = [line for line in daemon_log if marker in line and "submitted" in line and log_time(line) >= t0 - 1]
    slurm_id = submitted[0].split(marker)[1].split()[0]
    pilot_log = (daemon.state_dir / "slurm-logs" / f"{label}-pilot-{slurm_id}.log").read_text().splitlines()
    stamped = [line for line in pilot_log if line[:2].isdigit()]
    registered = next(line for line in stamped if " registered " in line)
    pid = int(registered.split(" pilot[", 1)[1].split("]", 1)[0])
    process = process_started(pid, slurm_id)  # the pilot still runs (idle) until the job is closed
    details = [job.stream.task(i) for i in range(tasks)]
    return Breakdown(
        submitted=log_time(submitted[0]) - t0, process=None if process is None else process - t0,
        registered=log_time(registered) - t0, first_start=min(d.started for d in details) - t0,
        last_end=max(d.ended for d in details) - t0, total=total)


@dataclass
class BackToBack:
    """Jobs of SMALL_JOB tasks one after the other: each one's wall time and time to its first task."""

    walls: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)
    idle_first: float = 0.0


def small_job(master: str, job_id: str, tasks: int, **settings: object) -> tuple[float, float]:
    """(Processor(...) to the last result, Processor(...) to the first task started), outputs checked."""
    t0 = time.time()
    started = time.perf_counter()
    job = Processor(master=master, job_id=job_id, threads_per_task=1, **settings)  # type: ignore[arg-type]
    job.batch([f"echo {i}" for i in range(tasks)])
    results = job.get_results()
    elapsed = time.perf_counter() - started
    if results != [f"{i}\n" for i in range(tasks)]:
        raise Failed(f"job {job_id}: {len(results)} results, not the {tasks} expected")
    first = min(job.stream.task(i).started for i in range(tasks)) - t0
    job.close()
    return elapsed, first


def back_to_back(partition: str, jobs: int, tag: str, cleanup: Cleanup) -> tuple[BackToBack, BackToBack]:
    """``jobs`` jobs back to back on shared Slurm pilots (a daemon with the default idle release), then
    one job on the idle pilot; and the same jobs on the local backend."""
    slurm_run, local_run = BackToBack(), BackToBack()
    daemon = Daemon("--slurm-poll", "0.5")
    saved = dict(os.environ)
    try:
        daemon.start()
        os.environ.update(daemon.env)
        warm = Processor(job_id=f"b2b-warm-{tag}", threads_per_task=1)  # imports, journal, connection
        warm.batch(["true"])
        warm.get_results()
        warm.close()
        for i in range(jobs):
            wall, first = small_job("local", f"b2b-local-{tag}-{i}", SMALL_JOB)
            local_run.walls.append(wall)
            local_run.firsts.append(first)
        master = f"slurm://{partition}"
        for i in range(jobs):
            wall, first = small_job(master, f"b2b-{tag}-{i}", SMALL_JOB, pilot_cpus=2, max_pilots=1)
            slurm_run.walls.append(wall)
            slurm_run.firsts.append(first)
            print(f"back-to-back job {i + 1}: {wall:6.3f} s to the last result, first task running after "
                  f"{first:6.3f} s (local: {local_run.walls[i]:.3f} s, {local_run.firsts[i]:.3f} s)", flush=True)
        time.sleep(1.0)  # the pilot idles (the daemon stops it only after 30 s)
        _, slurm_run.idle_first = small_job(master, f"b2b-idle-{tag}", 1, pilot_cpus=2, max_pilots=1)
        probe = Processor.attach(f"b2b-idle-{tag}")
        cleanup.names.add(pilot_name(probe))
        print(f"a job submitted while the pilot idles: first task running after {slurm_run.idle_first:.3f} s",
              flush=True)
    finally:
        daemon.cleanup()  # pilots outlive their daemon: scancelled by name at the end of the run
        os.environ.clear()
        os.environ.update(saved)
    return slurm_run, local_run


def array_round(partition: str, tasks: int, name: str, out_dir: Path, cleanup: Cleanup) -> tuple[float, str]:
    out_dir.mkdir()
    cleanup.names.add(name)
    started = time.perf_counter()
    # stdout alone in %a.out, as StratOS keeps a task's stdout: slurmstepd's own messages go to %a.err
    array_id = slurm("sbatch", "--parsable", f"--array=0-{tasks - 1}", f"--partition={partition}",
                     f"--job-name={name}", f"--chdir={out_dir}", f"--output={out_dir}/%a.out",
                     f"--error={out_dir}/%a.err", "--wrap", "echo $SLURM_ARRAY_TASK_ID").strip().split(";")[0]
    submitted = time.perf_counter() - started
    deadline = time.monotonic() + ROUND_LIMIT
    while queued(job=array_id):
        if time.monotonic() > deadline:
            raise Failed(f"array {array_id} still queued after {ROUND_LIMIT:g} s")
        time.sleep(POLL)
    files = [out_dir / f"{i}.out" for i in range(tasks)]
    deadline = time.monotonic() + 30  # left squeue: the files are written; allow a slow file system
    while not all(f.exists() for f in files):
        if time.monotonic() > deadline:
            raise Failed(f"array {array_id}: {sum(not f.exists() for f in files)} outputs missing")
        time.sleep(POLL)
    outputs = [f.read_text() for f in files]
    elapsed = time.perf_counter() - started
    wrong = [i for i, text in enumerate(outputs) if text != f"{i}\n"]
    if wrong:
        raise Failed(f"array {array_id}: {len(wrong)} wrong outputs, first {wrong[0]}: {outputs[wrong[0]]!r}")
    noisy = sum(1 for i in range(tasks) if (out_dir / f"{i}.err").exists() and (out_dir / f"{i}.err").stat().st_size)
    return elapsed, f"sbatch {submitted:.2f} s; {array_profile(array_id)}; {noisy} non-empty stderr files"


def array_profile(array_id: str) -> str:
    """When the array's tasks started and ended after its submission (Slurm's times, whole seconds)."""
    try:
        out = slurm("scontrol", "show", "job", "--oneliner", array_id)
    except RuntimeError as exc:
        return f"no task times ({exc})"
    submit, starts, ends = [], [], []
    for row in out.splitlines():
        fields = dict(word.partition("=")[::2] for word in row.split())
        try:
            submit.append(datetime.fromisoformat(fields["SubmitTime"]).timestamp())
            starts.append(datetime.fromisoformat(fields["StartTime"]).timestamp())
            ends.append(datetime.fromisoformat(fields["EndTime"]).timestamp())
        except (KeyError, ValueError):
            continue
    if not starts:
        return "no task times"
    t0 = min(submit)
    span = max(ends) - min(starts)
    return (f"{len(starts)} tasks: first started +{min(starts) - t0:.0f} s, last ended +{max(ends) - t0:.0f} s "
            f"({len(starts) / max(span, 1):.1f} tasks/s while running)")


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # run the clean-up in the finally blocks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="pilots rounds (default 3)")
    parser.add_argument("--array-rounds", type=int, default=3,
                        help="job array rounds, about 1.5 min each (default 3; 1 for a quick look)")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--partition", default="debug")
    parser.add_argument("--pilot-cpus", type=int, default=2)
    parser.add_argument("--max-pilots", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=6, help="jobs of 20 tasks back to back (default 6; 0: skip)")
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)

    params, missing = check_scheduler()
    print(f"SchedulerParameters = {params}")
    if missing:
        print(f"FAIL: the cluster lacks the high-throughput scheduler settings {', '.join(missing)} "
              "(see deploy/slurm/local-cluster.sh); the array would be measured at Slurm's slow defaults")
        return 1
    partitions = {p.rstrip("*") for p in slurm("sinfo", "-h", "-o", "%P").split()}
    if opts.partition not in partitions:
        print(f"FAIL: no partition {opts.partition!r} (have {', '.join(sorted(partitions))})")
        return 1
    node_cpus = slurm("sinfo", "-h", "-p", opts.partition, "-o", "%c").split()
    print(f"partition {opts.partition}: nodes with {'/'.join(node_cpus)} CPUs; pilots: {opts.max_pilots} x "
          f"{opts.pilot_cpus} cores; {opts.tasks} tasks of 1 core; rounds: pilots {opts.rounds}, "
          f"array {opts.array_rounds}")

    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    tag = f"{os.getpid()}"
    cleanup = Cleanup()
    times: dict[str, list[float]] = {"pilots": [], "array": []}
    verdicts: list[bool] = []
    if opts.jobs:
        try:
            shared, local = back_to_back(opts.partition, opts.jobs, tag, cleanup)
        except (Failed, RuntimeError, subprocess.SubprocessError) as exc:
            print(f"FAIL: back to back: {exc}")
            cleanup.all()
            return 1
        except KeyboardInterrupt:
            cleanup.all()
            print("FAIL: interrupted")
            return 130
        cleanup.all()
        later = shared.walls[1:]
        print(f"back to back: {opts.jobs} jobs of {SMALL_JOB} tasks in {sum(shared.walls):.2f} s on Slurm "
              f"(first {shared.walls[0]:.2f} s), {sum(local.walls):.2f} s on the local backend")
        if later:
            ok = max(later) < LATER_JOB_TARGET
            verdicts.append(ok)
            print(f"{'PASS' if ok else 'FAIL'}: later jobs on shared pilots: max {max(later):.3f} s, median "
                  f"{statistics.median(later):.3f} s from Processor(...) to the last result "
                  f"(target < {LATER_JOB_TARGET:g} s each)")
        ok = shared.idle_first < IDLE_FIRST_TASK_TARGET
        verdicts.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}: first task on an idle pilot: {shared.idle_first:.3f} s from "
              f"Processor(...) (target < {IDLE_FIRST_TASK_TARGET:g} s); later jobs' first tasks: max "
              f"{max(shared.firsts[1:] or [0.0]):.3f} s", flush=True)
    daemon = Daemon("--slurm-poll", "0.5", "--slurm-idle-release", "1")
    try:
        daemon.start()
        os.environ.update(daemon.env)
        warm = Processor(job_id=f"bench-warm-{tag}", threads_per_task=1)  # local: imports, journal, connection
        warm.batch([f"echo {i}" for i in range(20)])
        warm.get_results()
        warm.close()
        with tempfile.TemporaryDirectory(prefix="stratos-bench-slurm-") as tmp:
            for r in range(max(opts.rounds, opts.array_rounds)):  # interleaved: noise hits both alike
                if r < opts.rounds:
                    elapsed, breakdown = pilots_round(daemon, opts.partition, opts.tasks, f"bench-slurm-{tag}-{r}",
                                                      opts.pilot_cpus, opts.max_pilots, cleanup)
                    times["pilots"].append(elapsed)
                    print(f"pilots round {r + 1}: {elapsed:6.2f} s  {breakdown or ''}", flush=True)
                if r < opts.array_rounds:
                    name = f"stratos-bench-array-{tag}-{r}"
                    elapsed, note = array_round(opts.partition, opts.tasks, name, Path(tmp) / name, cleanup)
                    times["array"].append(elapsed)
                    print(f"array  round {r + 1}: {elapsed:6.2f} s  {note}", flush=True)
    except KeyboardInterrupt:
        print("FAIL: interrupted")
        return 130
    except (Failed, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"FAIL: {exc}")
        if daemon.proc is not None:
            print(daemon.log()[-2000:])
        return 1
    finally:
        cleanup.all()
        daemon.cleanup()

    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"\n{'':8s} {'rounds':>6s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'tasks/s':>8s}")
    medians = {}
    for name, samples in times.items():
        if not samples:
            continue
        medians[name] = statistics.median(samples)
        print(f"{name:8s} {len(samples):6d} {medians[name]:9.2f} {min(samples):7.2f} {max(samples):7.2f} "
              f"{opts.tasks / medians[name]:8.1f}")
    if len(medians) < 2:
        print("FAIL: no speedup without rounds of both (--rounds and --array-rounds >= 1)")
        return 1
    speedup = medians["array"] / medians["pilots"]
    passed = speedup >= TARGET
    print(f"{'PASS' if passed else 'FAIL'}: pilots/array speedup = {speedup:.1f}x (target >= {TARGET:g}x)")
    return 0 if passed and all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
