"""Issue 16 on the real one-node Slurm: a node that cannot start the executor ends the job, no hang."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from stratos import Processor
from tests.autostarted import AutoStarted, autostarted
from tests.slurm.cluster import slurm

pytestmark = pytest.mark.slurm

#: the daemon's executor_command: a program no node has.
MISSING = "/nonexistent/stratos-executor"


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch, slurm_cluster: str) -> Iterator[AutoStarted]:
    yield from autostarted(monkeypatch, f'[stratosd]\nexecutor_command = "{MISSING}"\n')
    for slurm_id in slurm("squeue", "-h", "-o", "%i", "--name", "stratos-slurm-nonode").split():
        slurm("scancel", slurm_id)


@pytest.mark.timeout(240)
def test_pilots_that_cannot_start_the_executor_end_the_job_with_lost_tasks_and_the_reason(
        broken: AutoStarted, slurm_cluster: str) -> None:
    job = Processor(master=f"slurm://{slurm_cluster}", job_id="slurm-nonode", max_retries=0)
    began = time.monotonic()
    counts = job.batch(["echo a", "echo b"])
    took = time.monotonic() - began
    assert counts["lost"] == 2 and sum(counts.values()) == 2, counts
    assert took < 120, f"the job took {took:.0f} s to end"
    node = slurm("sinfo", "-h", "-N", "-o", "%N").split()[0]
    for task_id in (0, 1):
        reason = job.stream.task(task_id).reason
        assert "3 pilot jobs in a row ended" in reason and f" on {node} " in reason, reason
        assert MISSING in reason and "not found" in reason, reason  # the pilot's own log says why
        assert "no retries left: max_retries=0" in reason, reason
    deadline = time.monotonic() + 60  # the job is over: its pilots are cancelled, none is left queued
    while slurm("squeue", "-h", "-o", "%i", "--name", "stratos-slurm-nonode").split():
        assert time.monotonic() < deadline, "pilot jobs left in the queue after the job ended"
        time.sleep(0.5)
    job.close()
