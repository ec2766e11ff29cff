"""The public API on the real 3-host cluster: the seed's batch example, templates, plain commands
and a stream give the local backend's results, with tasks on the cluster's hosts (issue 13, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratos import Processor
from tests.realcluster.harness import HeadDaemon, RealCluster

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
GSNAP = ROOT / "examples" / "bin" / "gsnap"
SNAPSHOTS = ROOT / "examples" / "data" / "snapshots"


def run_all(job: Processor) -> list[tuple[str, str]]:
    """The same work submitted four ways; (command, stdout) of every task, in task order."""
    assert job.glob_batch(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_2*")["finished"] == 20
    assert job.template_batch("expr %c% + %c%", ["1, 2", "30, 4", "5, 600"])["finished"] == 3
    assert job.batch("echo plain; printf 'a\\nb\\n' | wc -l")["finished"] == 2
    job.stream(["echo streamed one", "echo streamed two >&2; echo out"])
    assert job.wait()
    return [(r.command, r.stdout) for r in sorted(job.get_results(details=True), key=lambda r: r.task_id)]


def test_seed_example_templates_plain_commands_and_a_stream_give_the_local_results(
        realcluster: RealCluster, head_daemon: HeadDaemon) -> None:
    job = Processor(master=realcluster.master, job_id="rc-api", mem_per_task=64, threads_per_task=1)
    got = run_all(job)
    expected = run_all(Processor(job_id="rc-api-local"))
    assert got == expected
    assert len(got) == 27
    hosts = {t.host for t in job.stream.tasks()}
    # on the agents (these tasks take milliseconds: one coarse executor may run them all before
    # another agent's offer comes; spreading is shown with longer tasks in test_coarse.py)
    assert hosts and hosts <= set(realcluster.hosts), hosts
    job.close()
