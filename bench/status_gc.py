"""Garbage-collection pauses and Status latency with a large queued job, with and without the freeze.

    python bench/status_gc.py [--tasks 100000,300000] [--rounds 1] [--slots 2] [--queued 8] [--running 40]

For each N, daemons with the freeze off and on (stratosd/heap.py) run one after the other
(off, on, off, on... for --rounds), each a fresh `stratosd run` (local backend, --cpus SLOTS)
started through this script, which first adds a gc.callbacks hook timing every collection of
the daemon process (generation, seconds) into a log. "off" replaces Heap.freeze and Heap.step by
no-ops in that daemon: the daemon as it was before them. Each run:
  1. a job "hold" takes every slot (SLOTS `sleep` tasks), so the big job stays queued;
  2. ONE `job.stream()` of N `echo I` (as bench/million.py), until its Submit RPC returned;
  3. queued: --queued seconds, every task pending;
  4. running: "hold" is cancelled, the job runs for --running seconds; then the daemon stops.
Throughout, a separate process calls the Status RPC (GetStatus) every 0.02 s. Printed per run and
stage (submission, queued, running): the collections of generation 2 (count, max and total
pause) and GetStatus max / p99. The submission stage's GetStatus figure is the submission step
itself (one core step and one journal commit on the event loop), whatever the collector does.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

STATUS_INTERVAL_S = 0.02


def daemon_child(argv: list[str]) -> int:
    """`stratosd` with every collection timed into ``argv[0]``; ``argv[1]`` "off": no freeze."""
    log_path, mode, *rest = argv
    out = open(log_path, "w", buffering=1)  # noqa: SIM115 - the daemon's whole life
    began = [0.0]

    def timing(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            out.write(f"{time.time():.4f} {info['generation']} {time.perf_counter() - began[0]:.6f} "
                      f"{gc.get_freeze_count()}\n")

    gc.callbacks.append(timing)
    if mode == "off":  # the daemon as before stratosd/heap.py: no freeze, collections inside steps
        import contextlib

        from stratosd import heap

        def no_freeze(self: heap.Heap) -> None:
            self.saved = 0

        def no_pause(self: heap.Heap) -> contextlib.nullcontext[None]:
            return contextlib.nullcontext()

        heap.Heap.freeze = no_freeze  # type: ignore[method-assign]
        heap.Heap.step = no_pause  # type: ignore[method-assign, assignment]
    from stratosd.__main__ import main

    return main(rest)


def run(n: int, mode: str, slots: int, queued: float, running: float, tmp: Path) -> dict[str, Any]:
    import million

    from stratos import Processor
    from tests.daemon import Daemon

    gc_log = tmp / f"gc-{n}-{mode}.log"
    status_log = tmp / f"status-{n}-{mode}.log"

    class GcDaemon(Daemon):
        def start(self, timeout: float = 20) -> Daemon:
            log = open(self.root / "daemon.log", "ab")  # noqa: SIM115 - owned by the process
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--daemon-child", str(gc_log), mode, "run", "--state-dir",
                 str(self.state_dir), "--socket", str(self.socket), *self.args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=ROOT)
            million.wait_until(lambda: self.socket.exists() and self.hello() is not None, "the daemon", timeout)
            return self

    daemon = GcDaemon(cpus=slots).start()
    sampler: subprocess.Popen[bytes] | None = None
    try:
        os.environ.update(daemon.env)
        hold = Processor(job_id="hold", threads_per_task=1)
        hold.stream.add([f"sleep {int(queued + running) + 600}"] * slots)
        million.wait_until(lambda: hold.stream.count_running_tasks() == slots, "the hold job", 60)
        job_id = "big"
        job = Processor(job_id=job_id, threads_per_task=1)
        sampler = subprocess.Popen(
            [sys.executable, "-c", million.SAMPLER, str(daemon.socket), str(daemon.state_dir), job_id,
             str(STATUS_INTERVAL_S), str(status_log), str(3 * (queued + running) + 600)],
            cwd=ROOT, stdin=subprocess.DEVNULL)
        million.wait_until(lambda: status_log.exists() and status_log.stat().st_size > 0, "the sampler", 60)
        time.sleep(0.5)
        commands = [f"echo {i}" for i in range(n)]
        marks = {"submission": time.time()}
        job.stream(commands)
        marks["queued"] = time.time()
        time.sleep(queued)
        counts = job._conn.get_status(job_id).counts
        if counts.pending != n:
            raise RuntimeError(f"{counts.pending} of {n} pending before the release")
        marks["running"] = time.time()
        hold.cancel()
        time.sleep(running)
        marks["end"] = time.time()
        ran = job._conn.get_status(job_id).counts.finished
    finally:
        if sampler is not None:
            sampler.terminate()
            sampler.wait(30)
        daemon.cleanup()
    pauses = [(float(t), int(g), float(s)) for t, g, s, _ in (line.split() for line in gc_log.read_text().splitlines())]
    samples = [(float(t), float(s)) for t, s in (line.split() for line in status_log.read_text().splitlines())]
    stages = [("submission", marks["submission"], marks["queued"]), ("queued", marks["queued"], marks["running"]),
              ("running", marks["running"], marks["end"])]
    out: dict[str, Any] = {"n": n, "mode": mode, "ran": ran}
    for stage, lo, hi in stages:
        full = [s for t, g, s in pauses if g == 2 and lo <= t < hi]
        status = [s for t, s in samples if lo <= t < hi]
        out[stage] = (len(full), max(full, default=0.0), sum(full), max(status, default=math.nan),
                      million.p99(status) if status else math.nan, len(status))
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--daemon-child":
        return daemon_child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="100000,300000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--queued", type=float, default=8.0)
    parser.add_argument("--running", type=float, default=40.0)
    opts = parser.parse_args()
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="stgc-", dir="/tmp"))
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for n in (int(x) for x in opts.tasks.split(",")):
        for _ in range(opts.rounds):
            for mode in ("off", "on"):
                r = run(n, mode, opts.slots, opts.queued, opts.running, tmp)
                rows.append(r)
                print(f"N={n:>7} freeze {mode:>3}: ran {r['ran']} in {opts.running:g} s", flush=True)
                for stage in ("submission", "queued", "running"):
                    count, top, total, smax, sp99, calls = r[stage]
                    print(f"    {stage:>10}: gen-2 collections {count:>2}, max {1000 * top:6.1f} ms, total "
                          f"{1000 * total:7.1f} ms | GetStatus {calls:>4} calls, max {1000 * smax:7.1f} ms, "
                          f"p99 {1000 * sp99:6.1f} ms", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
