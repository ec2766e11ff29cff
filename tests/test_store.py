"""The journal's SQLite adapter: what one core step writes is what a reader finds."""

from __future__ import annotations

from pathlib import Path

from stratos_executor.spec import TaskRecord
from stratosd.core import actions as act
from stratosd.store import Store


def _outcome(task_id: int, stdout: bytes) -> act.SaveOutcome:
    return act.SaveOutcome(1, task_id, TaskRecord(exit_code=0, stdout=stdout), keep_stdout=True)


def test_results_published_with_their_outcome_or_later_both_get_their_seq(tmp_path: Path) -> None:
    store = Store(tmp_path / "journal.db")
    # task 1 ends first but waits for task 0 (batch order); task 0's step publishes both
    store.apply([_outcome(1, b"second")])
    assert list(store.results(1, 0, 10)) == []
    store.apply([_outcome(0, b"first"), act.PublishResults(1, ((0, 1), (1, 2)))])
    assert [row for page in store.results(1, 0, 10) for row in page] == [
        (1, 0, b"first", None, 0), (2, 1, b"second", None, 0)]
    store.close()
