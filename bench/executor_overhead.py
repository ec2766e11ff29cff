"""The executor's own cost: 2,000 `echo i` tasks, two at a time, against `xargs -P2` in the same run.

    python bench/executor_overhead.py [--tasks N] [--rounds R]

TaskRunner alone (no daemon, no journal): the floor the local backend builds on.
Prints the median of R interleaved rounds of each, their ratio, and PASS/FAIL
against a 1.5x budget.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time

import uvloop

from stratos_executor.spec import TaskRecord, TaskSpec
from stratos_executor.supervisor import TaskRunner


def xargs_seconds(tasks: int) -> float:
    start = time.perf_counter()
    subprocess.run(f"seq {tasks} | xargs -P2 -I{{}} /bin/sh -c 'echo {{}}' > /dev/null", shell=True, check=True)
    return time.perf_counter() - start


def runner_seconds(tasks: int, workdir: str) -> float:
    env = dict(os.environ)
    specs = [
        TaskSpec(job_id="bench", task_id=i, attempt=1, command=f"echo {i}", cwd=workdir, env=env, threads=1,
                 output="scheduler", sandbox=os.path.join(workdir, "sandbox"))
        for i in range(tasks)
    ]
    records: list[TaskRecord] = []

    async def main() -> float:
        queue = iter(specs)

        async def worker() -> None:
            for spec in queue:
                records.append(await TaskRunner(spec).run())

        start = time.perf_counter()
        await asyncio.gather(worker(), worker())
        return time.perf_counter() - start

    seconds = uvloop.run(main())
    if sorted(int(r.stdout or b"-1") for r in records) != list(range(tasks)):
        raise SystemExit("wrong outputs")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    ours, peer = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(opts.rounds):
            peer.append(xargs_seconds(opts.tasks))
            ours.append(runner_seconds(opts.tasks, workdir))
    ours_s, peer_s = statistics.median(ours), statistics.median(peer)
    ratio = ours_s / peer_s
    print(f"TaskRunner: {ours_s:.3f} s ({opts.tasks / ours_s:.0f} tasks/s)")
    print(f"xargs -P2:  {peer_s:.3f} s ({opts.tasks / peer_s:.0f} tasks/s)")
    print(f"{'PASS' if ratio <= 1.5 else 'FAIL'}: ratio {ratio:.2f} (budget 1.5)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
