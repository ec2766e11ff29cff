"""The Mesos backend's throughput and offer cycle, beside the local backend's, in one run.

    python bench/mesos.py [--rounds 3] [--skip-real] [--real-tasks 500] [--emulator-tasks 10000]

Runs (each: one `Processor.batch` of `echo i` tasks, then `get_results()`, checked complete and in
submission order; wall time from the batch call to the last result; 16 slots everywhere):
  real      a real Mesos 1.11 master with 4 agents of cpus:4 (tests/realmesos, set up on first
            use) running 500 tasks, beside the local backend (--cpus 16) on the same 500;
  emulator  the Mesos emulator (tests/emulators/mesos) with 8 agents of cpus=2, allocating every
            second as a real master does by default, running 10,000 tasks, beside the local
            backend on the same 10,000.
Rounds alternate local and Mesos, so noise from elsewhere on the machine hits both alike.

Offer cycle: the Mesos daemon runs with -v, so its backend logs one line per offer it answers
(logger `stratosd.mesos.offers`): the offer's resources, the tasks it launched and the time
from the arrival of its OFFERS event to the ACCEPT (or DECLINE) call being handed to the
connection, which covers the core's decision, the journal commit of the launches and the
translation into TaskInfos. One offer round is one OFFERS event; its cost is that of its last
answered offer. Medians and p95 are over every round of every run. (-v also logs the other
debug lines, about ten per task: a few per cent of the daemon's CPU, none of the executors'.)

Packing: an offer must launch as many tasks as fit it (cpus, mem and disk), or every task
still pending when it was answered. The ratio is tasks launched / that number over all offers;
PASS when every offer with pending tasks was filled. Pending, replayed in the order offers were
answered: tasks submitted minus tasks launched, plus each task launched again (a lost attempt
run again, which the offer line counts as "retried"), pending from that launch on.

On the real master each task also pays for the harness's stand-in helper programs (the agent's
`mesos-containerizer launch` and command executor, Python programs in tests/realmesos/bin).
On every Mesos run each task also starts `stratos-executor task` (a Python process) on its
agent, where the local backend supervises tasks inside the daemon: the "cluster-side CPU"
detail line shows what those processes cost per task.

Takes about an hour with the defaults on a 2-CPU machine (the emulator's 10,000 tasks dominate).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from tests.daemon import Daemon  # noqa: E402
from tests.realmesos.harness import RealMesos, ensure_setup  # noqa: E402

SLOTS = 16
REAL_AGENTS, REAL_CPUS = 4, 4  # the harness's default resources: cpus:4;mem:4096;disk:10000
EMULATOR_AGENTS, EMULATOR_CPUS = 8, 2
TASK_CPUS, TASK_MEM, TASK_DISK = 1.0, 128.0, 64.0
#: seconds after a Mesos round before the cluster's CPU time is read.
SETTLE = 3.0
NUMBER = r"[0-9.e+-]+"
OFFER_LINE = re.compile(
    rf"job (?P<job>\S+) round (?P<round>\d+) offer (?P<offer>\S+) \(cpus=(?P<cpus>{NUMBER}) mem=(?P<mem>{NUMBER}) "
    rf"disk=(?P<disk>{NUMBER})\): (?:accepted with (?P<tasks>\d+) task\(s\) of cpus=(?P<tcpus>{NUMBER}) "
    rf"mem=(?P<tmem>{NUMBER}) disk=(?P<tdisk>{NUMBER}) \((?P<retried>\d+) retried\)|declined), "
    rf"(?P<ms>{NUMBER}) ms after its OFFERS event"
)


@dataclass
class Run:
    """One backend on one task count, over all rounds."""

    label: str
    tasks: int
    note: str = ""
    walls: list[float] = field(default_factory=list)
    daemon_cpu: list[float] = field(default_factory=list)
    cluster_cpu: list[float] = field(default_factory=list)
    offers: bool = False
    #: per offer round (OFFERS event), the time until its last offer was answered.
    round_ms: list[float] = field(default_factory=list)
    accepts: int = 0
    declines: int = 0
    launched: int = 0
    #: per offer, min(tasks that fit it, tasks pending when it was answered).
    fillable: int = 0
    offer_cpus: float = 0.0
    unpacked: list[str] = field(default_factory=list)
    #: launches of a task's second or later attempt, and why the earlier attempts ended.
    retried: int = 0
    retry_reasons: list[str] = field(default_factory=list)


class RoundTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int, what: str) -> Iterator[None]:
    """SIGALRM after `seconds`: a blocking client call that hangs ends the bench instead of the machine's day."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise RoundTimeout(f"{what} took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(the process's own CPU seconds, its reaped children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


class Emulator:
    """`python -m tests.emulators.mesos` with named agents, in a child process stopped by its PID."""

    def __init__(self, agents: int, cpus: float, allocation_interval: float) -> None:
        spec = ",".join(f"agent{i}:cpus={cpus:g}:mem=4096:disk=10000" for i in range(1, agents + 1))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulators.mesos", "--host", "127.0.0.1", "--port", "0", "--agents", spec,
             "--allocation-interval", str(allocation_interval)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the emulator prints READY once it serves
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the Mesos emulator did not start: {line!r}")
        self.address = line.split()[1].removeprefix("http://")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def run_round(run: Run, daemon: Daemon, job_id: str, cluster_pid: int, master: str | None, limit: int) -> None:
    os.environ.update(daemon.env)
    assert daemon.proc is not None
    commands = [f"echo {i}" for i in range(run.tasks)]
    own_before, children_before = cpu_seconds(daemon.proc.pid)
    cluster_before = sum(cpu_seconds(cluster_pid))
    with time_limit(limit, f"{run.label}, {run.tasks} tasks"):
        job = Processor(master=master or "local", job_id=job_id, threads_per_task=int(TASK_CPUS),
                        mem_per_task=TASK_MEM, disk_per_task=TASK_DISK)
        started = time.perf_counter()
        counts = job.batch(commands)
        results = job.get_results()
        wall = time.perf_counter() - started
    if counts.get("finished") != run.tasks or results != [f"{i}\n" for i in range(run.tasks)]:
        raise SystemExit(f"{run.label}: {job_id} gave wrong results: counts {counts}, {len(results)} results")
    own_after, children_after = cpu_seconds(daemon.proc.pid)
    if master:
        job.close()  # TEARDOWN now: the next round's framework gets the whole cluster
        time.sleep(SETTLE)  # executors exit (and are reaped, so counted) a little after their report
    run.walls.append(wall)
    run.daemon_cpu.append(own_after - own_before)
    # Mesos: the master or emulator with everything its agents started; local: the daemon's task processes.
    run.cluster_cpu.append(sum(cpu_seconds(cluster_pid)) - cluster_before if master
                           else children_after - children_before)
    if master and read_offers(run, daemon, job_id):
        for task in job.stream.tasks():  # who ran again, and why
            if task.attempts > 1:
                details = job.stream.task(task.task_id)
                run.retry_reasons.append(f"{job_id} task {task.task_id}, {task.attempts} attempts: "
                                         + "; ".join(filter(None, (details.reason, *details.notes))))


def read_offers(run: Run, daemon: Daemon, job_id: str) -> int:
    """The job's offer lines from the daemon's debug log: round costs and packing, in the order answered.
    Returns how many launches were of a task's later attempt (it had become pending again)."""
    run.offers = True
    rounds: dict[int, float] = {}
    remaining = run.tasks
    lines = retried = 0
    with open(daemon.root / "daemon.log", errors="replace") as log:
        for line in log:
            m = OFFER_LINE.search(line)
            if m is None or m["job"] != job_id:
                continue
            lines += 1
            cpus, mem, disk = float(m["cpus"]), float(m["mem"]), float(m["disk"])
            if m["tasks"] is not None and (float(m["tcpus"]), float(m["tmem"]), float(m["tdisk"])) != (
                    TASK_CPUS, TASK_MEM, TASK_DISK):
                raise SystemExit(f"{job_id}: tasks launched with other resources than asked: {line.strip()}")
            fits = min(math.floor(free / need + 1e-9) for free, need in
                       ((cpus, TASK_CPUS), (mem, TASK_MEM), (disk, TASK_DISK)))
            launched = int(m["tasks"] or 0)
            # A task lost and run again was pending again from its loss until this launch at the latest.
            retried += int(m["retried"] or 0)
            remaining += int(m["retried"] or 0)
            fillable = min(fits, max(remaining, 0))
            if launched != fillable:
                run.unpacked.append(f"{job_id} round {m['round']} offer {m['offer']}: launched {launched}, "
                                    f"{fits} fit and {remaining} were pending")
            remaining -= launched
            run.launched += launched
            run.fillable += fillable
            run.offer_cpus += cpus
            if m["tasks"] is None:
                run.declines += 1
            else:
                run.accepts += 1
            key = int(m["round"])
            rounds[key] = max(rounds.get(key, 0.0), float(m["ms"]))
    if not lines:
        raise SystemExit(f"{job_id}: no offer lines in the daemon's log (is it running with -v?)")
    run.retried += retried
    run.round_ms.extend(rounds.values())
    return retried


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def report(runs: list[Run]) -> bool:
    print()
    print(f"{'backend':38s} {'tasks':>6s} {'wall s':>8s} {'tasks/s':>8s} {'offer cycle ms':>16s}  {'packing':12s}")
    print(f"{'':38s} {'':>6s} {'':>8s} {'':>8s} {'median':>7s} {'p95':>8s}")
    ok = True
    for run in runs:
        if not run.walls:
            continue
        wall = statistics.median(run.walls)
        cycle = packing = ""
        if run.offers:
            cycle = f"{statistics.median(run.round_ms):7.2f} {p95(run.round_ms):8.2f}"
            passed = not run.unpacked
            ok &= passed
            packing = f"{run.launched / max(run.fillable, 1):.3f} {'PASS' if passed else 'FAIL'}"
        else:
            cycle = f"{'-':>7s} {'-':>8s}"
            packing = "-"
        note = f"  ({run.note})" if run.note else ""
        print(f"{run.label:38s} {run.tasks:6d} {wall:8.2f} {run.tasks / wall:8.1f} {cycle}  {packing:12s}{note}")
    print()
    for run in runs:
        if not run.walls:
            continue
        n = run.tasks * len(run.walls)
        print(f"{run.label}, {run.tasks} tasks, {len(run.walls)} round(s): wall "
              + ", ".join(f"{w:.2f}" for w in run.walls) + " s; "
              f"daemon CPU {1000 * sum(run.daemon_cpu) / n:.1f} ms/task, "
              f"{'cluster-side' if run.offers else 'task-process'} CPU {1000 * sum(run.cluster_cpu) / n:.1f} ms/task")
        if run.offers:
            offers = run.accepts + run.declines
            print(f"    {len(run.round_ms)} offer rounds, {offers} offers ({run.accepts} accepted, {run.declines} "
                  f"declined), {run.offer_cpus / max(offers, 1):.2f} cpus per offer, "
                  f"{run.launched / max(run.accepts, 1):.2f} tasks per ACCEPT; "
                  f"{run.launched} launched / {run.fillable} that fitted and were pending")
            if run.retried:
                print(f"    {run.retried} launch(es) of a task's later attempt (counted as pending from their launch)")
            for line in run.retry_reasons[:10]:
                print(f"    ran again: {line}")
            for line in run.unpacked[:10]:
                print(f"    not packed: {line}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-real", action="store_true", help="no real Mesos master (machines without the harness)")
    parser.add_argument("--skip-emulator", action="store_true")
    parser.add_argument("--real-tasks", type=int, default=500)
    parser.add_argument("--emulator-tasks", type=int, default=10_000)
    parser.add_argument("--allocation-interval", type=float, default=1.0,
                        help="the emulator's batch allocation interval in seconds (default 1, a real master's)")
    opts = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {SLOTS} slots per backend; tasks of {TASK_CPUS:g} cpu, {TASK_MEM:g} MB, "
          f"{TASK_DISK:g} MB disk", flush=True)
    local = Daemon(cpus=SLOTS).start()
    mesos = Daemon("-v", "--mesos-idle-teardown", "1").start()
    assert local.proc is not None
    runs: list[Run] = []
    try:
        if not opts.skip_real:
            real_local = Run(f"local, {SLOTS} slots", opts.real_tasks)
            real = Run(f"Mesos 1.11 master, {REAL_AGENTS} agents x {REAL_CPUS} cpus", opts.real_tasks,
                       note="* also pays for the harness's stand-in helper programs per task")
            runs += [real_local, real]
            master = RealMesos(ensure_setup()).start(num_agents=REAL_AGENTS)
            assert master.proc is not None and master.port is not None
            try:
                for r in range(1, opts.rounds + 1):
                    run_round(real_local, local, f"local-{opts.real_tasks}-{r}", local.proc.pid, None,
                              limit=600)
                    run_round(real, mesos, f"real-{r}", master.proc.pid, f"127.0.0.1:{master.port}",
                              limit=max(600, opts.real_tasks * 3))
                    print(f"round {r}: local {real_local.walls[-1]:.2f} s, real master {real.walls[-1]:.2f} s",
                          flush=True)
            finally:
                master.stop()
        if not opts.skip_emulator:
            emu_local = Run(f"local, {SLOTS} slots", opts.emulator_tasks)
            emu = Run(f"Mesos emulator, {EMULATOR_AGENTS} agents x {EMULATOR_CPUS} cpus", opts.emulator_tasks)
            runs += [emu_local, emu]
            emulator = Emulator(EMULATOR_AGENTS, EMULATOR_CPUS, opts.allocation_interval)
            try:
                for r in range(1, opts.rounds + 1):
                    run_round(emu_local, local, f"local-{opts.emulator_tasks}-{r}", local.proc.pid, None,
                              limit=max(600, opts.emulator_tasks // 10))
                    run_round(emu, mesos, f"emulated-{r}", emulator.proc.pid, emulator.address,
                              limit=max(600, opts.emulator_tasks))
                    print(f"round {r}: local {emu_local.walls[-1]:.2f} s, emulator {emu.walls[-1]:.2f} s", flush=True)
            finally:
                emulator.stop()
    finally:
        for daemon in (local, mesos):
            daemon.cleanup()
    ok = report(runs)
    if any(run.note and run.walls for run in runs):
        print("* each task on the real master also runs the harness's stand-in `mesos-containerizer launch` and "
              "command executor (Python programs, tests/realmesos/bin).")
    if any(run.offers and run.walls for run in runs):
        print("Every Mesos task starts `stratos-executor task` (a Python process) on its agent; the local backend "
              "supervises its tasks inside the daemon.")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
