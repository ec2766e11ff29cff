"""How many tasks run at once on a host: the core's slot accounting, without processes.

Moved from tests/integration/test_local_backend.py (issue 14): the subprocess version watched
real processes (a mkdir lock, a start/end log); here every attempt runs until the test ends it,
so the number running at once is read from the backend after each end, exactly.
"""

from __future__ import annotations

from tests.harness.backend import RUNS
from tests.harness.harness import Harness


def _run_one_at_a_time(harness: Harness, job: str) -> int:
    """End the running attempts one by one until none is left; the most that ran at once."""
    peak = 0
    while running := harness.backend.running():
        peak = max(peak, len(running))
        harness.backend.finish(running[0])
        harness.settle()
    harness.wait_for_tasks(job)
    return peak


def test_tasks_run_as_many_at_once_as_the_cores_allow(harness: Harness) -> None:
    """From tests/integration/test_local_backend.py (same name)."""
    # 2 advertised cores and 2 threads per task: never two at once.
    lock = "mkdir lock || exit 7; sleep 0.1; rmdir lock"
    harness.backend.script(lock, *[RUNS] * 6)
    job = harness.create("wide", cpus=2)
    harness.submit(job, [lock] * 6)
    assert _run_one_at_a_time(harness, job) == 1
    assert harness.counts(job)["finished"] == 6
    # 1 thread per task: two at once, never three.
    command = "echo start >> log; sleep 0.4; echo end >> log"
    harness.backend.script(command, *[RUNS] * 4)
    job1 = harness.create("narrow", cpus=1)
    harness.stream(job1, [command] * 4)
    assert _run_one_at_a_time(harness, job1) == 2
    assert harness.counts(job1)["finished"] == 4
