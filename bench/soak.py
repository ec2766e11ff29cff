"""Soak: a 100,000-task job, 20 clients at once, 1,000 tasks of 1 MB stdout; the daemon's memory.

    python bench/soak.py [--tasks 100000] [--clients 20] [--big 1000]

Starts its own stratosd (local backend, 2 advertised cores) in a private state
directory, samples the daemon's resident memory throughout, and checks:
- one glob over --tasks files and one plain list of --tasks commands complete, and
  every result comes back once, with the daemon's peak RSS under 300 MB;
- --clients processes submitting to and reading from the daemon at once lose nothing;
- --big tasks printing 1 MB each come back whole.
Prints peak RSS and throughput per phase and PASS/FAIL lines; exits 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stratos import Processor  # noqa: E402
from tests.daemon import Daemon  # noqa: E402

RSS_LIMIT_MB = 300.0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.1)


CLIENT = """
import sys
from stratos import Processor
n, me = int(sys.argv[1]), sys.argv[2]
job = Processor(job_id=f"client-{me}")
job.stream([f"echo {me}-{i}" for i in range(n)])
got = []
while len(got) < n:
    got += job.get_results()
assert job.wait()
got += job.get_results()
assert sorted(got) == sorted(f"{me}-{i}\\n" for i in range(n)), (len(got), n)
print("ok")
"""


def phase(name: str, fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"{name}: {seconds:.1f} s")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=500)
    parser.add_argument("--big", type=int, default=1000)
    opts = parser.parse_args()
    failures = []
    daemon = Daemon(cpus=2).start()
    os.environ.update(daemon.env)
    assert daemon.proc is not None
    sampler = RssSampler(daemon.proc.pid)
    sampler.start()
    try:
        with tempfile.TemporaryDirectory(prefix="stratos-soak-") as data:
            for i in range(opts.tasks):
                Path(data, f"f{i:06d}").touch()
            glob_job = Processor(job_id="soak-glob")
            seconds = phase(f"glob over {opts.tasks} files", lambda: glob_job.glob_batch("echo %f%", f"{data}/f*"))
            results = glob_job.get_results()
            print(f"  {opts.tasks / seconds:.0f} tasks/s; {len(results)} results")
            if len(results) != opts.tasks or len(set(results)) != opts.tasks:
                failures.append(f"glob job returned {len(results)} results ({len(set(results))} distinct)")
        list_job = Processor(job_id="soak-list")
        seconds = phase(f"list of {opts.tasks} commands",
                        lambda: list_job.batch([f"echo {i}" for i in range(opts.tasks)]))
        results = list_job.get_results()
        print(f"  {opts.tasks / seconds:.0f} tasks/s")
        if results != [f"{i}\n" for i in range(opts.tasks)]:
            failures.append("the list job's results are not every output once, in order")
        print(f"peak daemon RSS so far: {sampler.peak_kb / 1024:.0f} MB")

        def clients() -> None:
            procs = [subprocess.Popen([sys.executable, "-c", CLIENT, str(opts.per_client), str(c)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for c in range(opts.clients)]
            for c, proc in enumerate(procs):
                out, err = proc.communicate(timeout=600)
                if proc.returncode != 0 or out.strip() != "ok":
                    failures.append(f"client {c} failed: {err.strip()[-300:]}")

        seconds = phase(f"{opts.clients} clients x {opts.per_client} tasks", clients)
        print(f"  {opts.clients * opts.per_client / seconds:.0f} tasks/s")
        big = Processor(job_id="soak-big")
        phase(f"{opts.big} tasks of 1 MB stdout", lambda: big.batch(
            [f"head -c 1000000 /dev/zero | tr '\\0' {chr(97 + i % 26)}" for i in range(opts.big)]))
        got = big.get_results()
        if [len(r) for r in got] != [1_000_000] * opts.big or any(
                r != chr(97 + i % 26) * 1_000_000 for i, r in enumerate(got)):
            failures.append("a 1 MB result did not come back whole")
    finally:
        sampler.running = False
        daemon.cleanup()
    peak_mb = sampler.peak_kb / 1024
    print(f"peak daemon RSS: {peak_mb:.0f} MB")
    if peak_mb >= RSS_LIMIT_MB:
        failures.append(f"peak daemon RSS {peak_mb:.0f} MB >= {RSS_LIMIT_MB:.0f} MB")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print(f"PASS: nothing lost; peak daemon RSS {peak_mb:.0f} MB < {RSS_LIMIT_MB:.0f} MB")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
