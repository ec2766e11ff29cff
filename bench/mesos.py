"""The Mesos backend on a real Mesos 1.11 master beside the local backend, in one run (issue 17).

    python bench/mesos.py [--rounds 1] [--tasks 2000] [--fine-tasks 100] [--warm 3]

One real master (tests/realmesos) with 2 agents of cpus:1, so Mesos and the local backend
(a daemon with --cpus 2) both have 2 slots. Tasks are `echo i` of 1 cpu, 128 MB, 64 MB disk;
every run is one `Processor.batch` then `get_results()`, checked complete and in submission
order, timed from the batch call to the last result. Printed side by side:
  local     2,000 tasks on the local backend;
  coarse    the same 2,000 through one Mesos daemon in coarse mode (the default: one long-lived
            executor per agent, `stratos-executor pilot`, that pulls the job's tasks);
  fine      fewer tasks (default 100) in fine mode (one Mesos task, and one Python executor,
            per StratOS task): tasks/s;
  ratio     coarse tasks/s / local tasks/s, target >= 0.3;
  warm      from `Processor(...)` to the first result of a new coarse job on the daemon that
            already ran the Mesos jobs above (a new framework: subscribe, offer, executor start,
            task), target < 2 s; the median of --warm jobs.
Rounds (--rounds) alternate local and coarse, so noise from elsewhere hits both alike.

From the master itself: its allocation interval (GET /flags) and, per job, its framework's
SUPPRESS and REVIVE calls and the offers it was sent, declined and accepted
(/metrics/snapshot's `master/frameworks/<job>/<id>/...` counters, read when the job's batch
ended and again just before its TEARDOWN), plus the master-wide `master/messages_suppress_offers`
and `master/messages_revive_offers` over the whole run. From the master's state: how many
executors (Mesos tasks) each coarse job launched and on how many agents; then a second
submission of 20 tasks to the same job must run on those executors (no new Mesos task).
From the daemon's debug log (`stratosd run -v`, logger `stratosd.mesos.offers`): the time
from an OFFERS event to its answer (ACCEPT or DECLINE handed to the connection). CPU per
task: the daemon's own; beside it the local daemon's task processes, the coarse job's
executors with their tasks (read from /proc before the TEARDOWN), or for fine mode the
master process with its agents and all they started (read once they exited).

Each phase has a time limit (SIGALRM): a hang ends the bench, not the machine's day.
About 3-5 minutes with the defaults on a 2-CPU machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import sys
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from tests.daemon import Daemon  # noqa: E402
from tests.realmesos.harness import RealMesos, ensure_setup  # noqa: E402

AGENTS = 2
AGENT_RESOURCES = "cpus:1;mem:2048;disk:4096;ports:[31000-32000]"
SLOTS = 2
TASK_CPUS, TASK_MEM, TASK_DISK = 1, 128.0, 64.0
RATIO_TARGET = 0.3
WARM_TARGET = 2.0
#: tasks of the second submission to a job whose first ended: its executors should run them.
AGAIN = 20
#: the master's metrics endpoint waits this long for slow gauges, then answers with what it has.
METRICS_TIMEOUT = "2secs"
ANSWER_LINE = re.compile(r"job (?P<job>\S+) round (?P<round>\d+) offer \S+ \([^)]*\): "
                         r"(?P<what>accepted|declined)\b.*?(?P<ms>[0-9.]+) ms after its OFFERS event")


class PhaseTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """SIGALRM after `seconds`: a blocking client call that hangs ends the bench."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise PhaseTimeout(f"{what} took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(the process's own CPU seconds, its reaped children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


@dataclass
class Run:
    """One backend (and mode) on one task count, over all rounds."""

    label: str
    tasks: int
    walls: list[float] = field(default_factory=list)
    daemon_cpu: list[float] = field(default_factory=list)
    #: local: the daemon's task processes; coarse: the job's executors with their tasks, read
    #: before its TEARDOWN; fine: the master process with its agents and everything they started
    #: (helper programs, executors, tasks), read once the job's Mesos tasks have ended.
    cluster_cpu: list[float] = field(default_factory=list)
    #: per job: the master's counters for its framework when its (first) batch ended and just
    #: before its TEARDOWN; Mesos tasks launched and agents used.
    framework: list[dict[str, float]] = field(default_factory=list)
    framework_end: list[dict[str, float]] = field(default_factory=list)
    executors: list[tuple[int, int]] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    #: Mesos: a second submission to the same job once the first ended: (seconds, Mesos tasks before, after).
    again: list[tuple[float, int, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.tasks / statistics.median(self.walls)


class Master:
    """The real master, and what it tells about itself."""

    def __init__(self) -> None:
        self.mesos = RealMesos(ensure_setup()).start(num_agents=AGENTS, resources=AGENT_RESOURCES)
        self.address = f"127.0.0.1:{self.mesos.port}"
        assert self.mesos.proc is not None
        #: start_master.sh execs the Python program that runs the master and agents in one process.
        self.pid = self.mesos.proc.pid

    def flags(self) -> dict[str, str]:
        flags: dict[str, str] = self.mesos.get_json("/flags")["flags"]
        return flags

    def metrics(self) -> dict[str, float]:
        snapshot: dict[str, float] = self.mesos.get_json(f"/metrics/snapshot?timeout={METRICS_TIMEOUT}", timeout=30)
        return snapshot

    def framework_counters(self, job_id: str) -> dict[str, float]:
        """The job's framework's counters (calls/suppress, calls/revive, offers/sent, ...), by their last two parts."""
        prefix = f"master/frameworks/{job_id}/"
        found: dict[str, float] = {}
        for key, value in self.metrics().items():
            if key.startswith(prefix):
                found["/".join(key.split("/")[-2:])] = value
        return found

    def executor_cpu(self, job_id: str) -> float:
        """CPU seconds of the job's running coarse executors (`stratos-executor pilot` with its
        sandbox under this master's work directory), their reaped tasks included."""
        total = 0.0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                if b"pilot" in argv and f"--job\0{job_id}\0".encode() in b"\0".join(argv) + b"\0" \
                        and any(a.startswith(str(self.mesos.work_dir).encode()) for a in argv):
                    total += sum(cpu_seconds(int(entry)))
        return total

    def executors(self, job_id: str) -> tuple[int, int]:
        """(Mesos tasks the job's framework launched, distinct agents they ran on), from /master/state."""
        tasks: list[dict[str, Any]] = []
        for framework in self.mesos.state().get("frameworks", []):
            if framework.get("name") == job_id:
                tasks += framework.get("tasks", []) + framework.get("completed_tasks", [])
        return len(tasks), len({t.get("slave_id") for t in tasks})


def offer_answers(daemon: Daemon, job_id: str) -> list[float]:
    """The job's offer answers' delays (ms after their OFFERS event) from the daemon's debug log."""
    found = []
    with open(daemon.root / "daemon.log", errors="replace") as log:
        for line in log:
            m = ANSWER_LINE.search(line)
            if m is not None and m["job"] == job_id:
                found.append(float(m["ms"]))
    return found


def processor(master: str, job_id: str, mode: str | None) -> Processor:
    extra: dict[str, Any] = {"mesos_mode": mode} if mode else {}
    return Processor(master=master, job_id=job_id, threads_per_task=TASK_CPUS, mem_per_task=TASK_MEM,
                     disk_per_task=TASK_DISK, **extra)


def check(label: str, job_id: str, counts: dict[str, int], results: list[str], n: int) -> None:
    if counts.get("finished") != n or results != [f"{i}\n" for i in range(n)]:
        raise SystemExit(f"{label}: {job_id} gave wrong results: counts {counts}, {len(results)} results "
                         f"(first {results[:3]!r})")


def run_round(run: Run, daemon: Daemon, job_id: str, master: Master | None, mode: str | None,
              limit: float) -> None:
    """One job of `run.tasks` `echo i`; for Mesos, the master's view of it before its TEARDOWN."""
    os.environ.update(daemon.env)
    assert daemon.proc is not None
    commands = [f"echo {i}" for i in range(run.tasks)]
    own_before, children_before = cpu_seconds(daemon.proc.pid)
    cluster_before = sum(cpu_seconds(master.pid)) if master else 0.0
    with time_limit(limit, f"{run.label}, {run.tasks} tasks"):
        job = processor(master.address if master else "local", job_id, mode)
        started = time.perf_counter()
        counts = job.batch(commands)
        results = job.get_results()
        wall = time.perf_counter() - started
    own_after, children_after = cpu_seconds(daemon.proc.pid)
    run.daemon_cpu.append(own_after - own_before)
    check(run.label, job_id, dict(counts), results, run.tasks)
    run.walls.append(wall)
    if master is None:
        run.cluster_cpu.append(children_after - children_before)
    else:
        run.framework.append(master.framework_counters(job_id))
        run.executors.append(master.executors(job_id))
        run.answer_ms += offer_answers(daemon, job_id)
        if mode == "coarse":
            run.cluster_cpu.append(master.executor_cpu(job_id))
            before = run.executors[-1][0]
            with time_limit(limit, f"{run.label}, second submission"):
                started = time.perf_counter()
                counts = job.batch([f"echo {i}" for i in range(AGAIN)])
                results = job.get_results()
                run.again.append((time.perf_counter() - started, before, master.executors(job_id)[0]))
            check(f"{run.label}, second submission", job_id, dict(counts), results, AGAIN)
        run.framework_end.append(master.framework_counters(job_id))
        with time_limit(60, f"closing {job_id}"):
            job.close()  # TEARDOWN now: the next job's framework gets the whole cluster
        wait_free(master, 60)
        if mode != "coarse":
            run.cluster_cpu.append(sum(cpu_seconds(master.pid)) - cluster_before)


def wait_free(master: Master, limit: float) -> None:
    """Until no framework but the harness's placeholder holds resources (the torn-down executors ended)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, urllib.error.URLError):
            used = sum(a.get("used_resources", {}).get("cpus", 0.0) for a in master.mesos.state().get("slaves", []))
            if used == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"the master's agents still held resources {limit:g} s after the job's TEARDOWN")


def first_result(run: Run, daemon: Daemon, master: Master, job_id: str, limit: float) -> None:
    """Seconds from `Processor(...)` to the first result of a one-task coarse job."""
    os.environ.update(daemon.env)
    with time_limit(limit, f"warm first result ({job_id})"):
        started = time.perf_counter()
        job = processor(master.address, job_id, "coarse")
        job.batch(["echo 0"])
        results = job.get_results()
        took = time.perf_counter() - started
    check("warm", job_id, {"finished": len(results)}, results, 1)
    run.walls.append(took)
    run.framework.append(master.framework_counters(job_id))
    run.framework_end.append(run.framework[-1])
    run.executors.append(master.executors(job_id))
    run.answer_ms += offer_answers(daemon, job_id)
    with time_limit(60, f"closing {job_id}"):
        job.close()
    wait_free(master, 60)


def summed(counters: list[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for one in counters:
        for key, value in one.items():
            total[key] = total.get(key, 0.0) + value
    return total


def framework_line(run: Run) -> str:
    """The master's counters summed over the run's jobs."""
    during, total = summed(run.framework), summed(run.framework_end)
    executors = ", ".join(f"{n} on {a} agent(s)" for n, a in run.executors)
    again = "".join(f"; a second submission of {AGAIN} tasks to the job took {w:.2f} s, its Mesos tasks "
                    f"{a} -> {b}" for w, a, b in run.again[:1])
    answers = (f"; offer answered {statistics.median(run.answer_ms):.2f} ms (median) after its OFFERS event"
               if run.answer_ms else "")
    return (f"{run.label}: per job, Mesos tasks {executors}; the master counted, until the batch ended, SUPPRESS "
            f"{during.get('calls/suppress', 0):g} and REVIVE {during.get('calls/revive', 0):g}; until TEARDOWN, "
            f"SUPPRESS {total.get('calls/suppress', 0):g}, REVIVE {total.get('calls/revive', 0):g}, offers sent "
            f"{total.get('offers/sent', 0):g}, declined {total.get('offers/declined', 0):g}, accepted "
            f"{total.get('offers/accepted', 0):g} over {len(run.framework)} job(s){answers}{again}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--fine-tasks", type=int, default=100)
    parser.add_argument("--warm", type=int, default=3, help="warm first-result jobs (the median is checked)")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR",
                        help="copy the daemons' logs (the Mesos daemon's at debug level) and the master's here")
    opts = parser.parse_args()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; real Mesos 1.11 master "
          f"with {AGENTS} agents of {AGENT_RESOURCES}; local backend --cpus {SLOTS}; tasks of {TASK_CPUS} cpu, "
          f"{TASK_MEM:g} MB, {TASK_DISK:g} MB disk", flush=True)
    local = Daemon(cpus=SLOTS).start()
    mesos = Daemon("-v").start()
    master: Master | None = None
    local_run = Run(f"local, {SLOTS} slots", opts.tasks)
    coarse = Run(f"Mesos coarse, {AGENTS} agents x 1 cpu", opts.tasks)
    fine = Run(f"Mesos fine, {AGENTS} agents x 1 cpu", opts.fine_tasks)
    warm = Run("Mesos coarse, warm first result", 1)
    try:
        master = Master()
        interval = master.flags().get("allocation_interval", "?")
        print(f"master 127.0.0.1:{master.mesos.port} up in {master.mesos.start_seconds:.1f} s; "
              f"allocation_interval={interval} (its /flags)", flush=True)
        before = master.metrics()
        for r in range(1, opts.rounds + 1):
            run_round(local_run, local, f"local-{r}", None, None, limit=max(120, opts.tasks / 20))
            run_round(coarse, mesos, f"coarse-{r}", master, "coarse", limit=max(300, opts.tasks / 5))
            print(f"round {r}: local {local_run.walls[-1]:.2f} s, coarse {coarse.walls[-1]:.2f} s", flush=True)
        for i in range(1, opts.warm + 1):
            first_result(warm, mesos, master, f"warm-{i}", limit=60)
            print(f"warm {i}: first result {warm.walls[-1]:.2f} s after Processor(...)", flush=True)
        run_round(fine, mesos, "fine-1", master, "fine", limit=max(300, opts.fine_tasks * 3))
        print(f"fine: {fine.walls[-1]:.2f} s", flush=True)
        after = master.metrics()
    finally:
        if opts.keep_logs:
            opts.keep_logs.mkdir(parents=True, exist_ok=True)
            for name, daemon in (("local", local), ("mesos", mesos)):
                shutil.copy(daemon.root / "daemon.log", opts.keep_logs / f"{name}-daemon.log")
            if master is not None:
                shutil.copy(master.mesos.log_path, opts.keep_logs / "master.log")
        for daemon in (local, mesos):
            daemon.cleanup()
        if master is not None:
            master.mesos.stop()
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    ratio = coarse.rate / local_run.rate
    warm_median = statistics.median(warm.walls)
    print()
    print(f"{'backend':34s} {'tasks':>6s} {'wall s':>8s} {'tasks/s':>8s} {'CPU ms/task: daemon':>20s} "
          f"{'other (*)':>10s}")
    for run in (local_run, coarse, fine):
        n = run.tasks * len(run.walls)
        print(f"{run.label:34s} {run.tasks:6d} {statistics.median(run.walls):8.2f} {run.rate:8.1f} "
              f"{1000 * sum(run.daemon_cpu) / n:20.2f} {1000 * sum(run.cluster_cpu) / n:10.2f}")
    print("(*) local: the daemon's task processes; coarse: its 2 executors with their tasks; fine: the master "
          "process with its agents and all they started (helper programs, executors, tasks)")
    print("wall s per round: " + "; ".join(f"{run.label}: " + ", ".join(f"{w:.2f}" for w in run.walls)
                                           for run in (local_run, coarse)))
    print()
    print(f"allocation_interval={interval} (the master's /flags; the harness leaves Mesos' default)")
    for run in (coarse, warm, fine):
        print(framework_line(run))
    grew = {k: after[f"master/messages_{k}_offers"] - before[f"master/messages_{k}_offers"]
            for k in ("suppress", "revive", "decline")}
    print("the master over the whole run: " + ", ".join(f"messages_{k}_offers +{v:g}" for k, v in grew.items()))
    print("warm first results: " + ", ".join(f"{w:.2f}" for w in warm.walls) + " s")
    print()
    ok_ratio = ratio >= RATIO_TARGET
    ok_warm = warm_median < WARM_TARGET
    print(f"{'PASS' if ok_ratio else 'FAIL'}: coarse/local = {coarse.rate:.1f}/{local_run.rate:.1f} tasks/s = "
          f"{ratio:.2f} (target >= {RATIO_TARGET})")
    print(f"{'PASS' if ok_warm else 'FAIL'}: warm daemon, Processor(...) to first result = {warm_median:.2f} s "
          f"(median of {len(warm.walls)}; target < {WARM_TARGET:g} s)")
    print(f"fine mode: {fine.rate:.1f} tasks/s ({fine.tasks} tasks); coarse/fine = {coarse.rate / fine.rate:.1f}x")
    return 0 if ok_ratio and ok_warm else 1


if __name__ == "__main__":
    raise SystemExit(main())
