"""Result cursors without a subprocess: the real servicer's Results call, in process.

Moved from tests/integration/test_result_inputs.py and tests/integration/test_reattach.py
(issue 14): what they assert is the daemon's cursor bookkeeping, which needs no socket.
"""

from __future__ import annotations

from stratos_wire import stratos_pb2 as pb
from tests.harness.harness import Harness


def test_get_results_all_returns_everything_again(harness: Harness) -> None:
    """From tests/integration/test_result_inputs.py (same name)."""
    job = harness.create("all")
    harness.batch(job, ["echo 1", "echo 2", "echo 3"])
    assert harness.results(job) == ["1\n", "2\n", "3\n"]
    assert harness.results(job) == []  # the notebook cell run again
    assert harness.results(job, all=True) == ["1\n", "2\n", "3\n"]
    assert harness.result_seqs(job) == [1, 2, 3]
    harness.batch(job, "echo 4")
    assert harness.results(job) == ["4\n"]  # all=True left the cursor where it was
    assert harness.results(job, all=True) == ["1\n", "2\n", "3\n", "4\n"]


def test_named_consumer_keeps_its_own_cursor(harness: Harness) -> None:
    """From tests/integration/test_reattach.py (same name)."""
    job = harness.create("named")
    harness.stream(job, [f"echo n{i}" for i in range(5)])
    harness.wait_for_tasks(job)
    shared = harness.results(job)
    assert sorted(shared) == [f"n{i}\n" for i in range(5)]
    assert harness.results(job, consumer="audit") == shared  # same results, same (sequence) order
    assert harness.results(job, consumer="audit") == []
    assert harness.results(job) == []

    harness.stream(job, ["echo late1", "echo late2"])
    harness.wait_for_tasks(job)
    assert sorted(harness.results(job, consumer="audit")) == ["late1\n", "late2\n"]
    assert len(harness.results(job, consumer="other")) == 7  # a new name starts at the beginning
    assert sorted(harness.results(job)) == ["late1\n", "late2\n"]
    status = harness.call(harness.servicer.GetStatus, pb.JobRef(job_id=job))
    assert status.cursor == 7  # the shared cursor, whatever the named ones did
