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


def test_a_task_journaled_before_reason_codes_gets_its_code_from_its_text(tmp_path: Path) -> None:
    from stratosd.core.model import Job, JobSpec, Task
    from stratosd.core.types import TaskEndReason

    store = Store(tmp_path / "journal.db")
    job = Job(1, "demo", JobSpec(), "local", 1.0)
    tasks = [Task(i, 0, "true") for i in range(3)]
    tasks[0].reason, tasks[0].end = "retried after: host h1 left: gone", TaskEndReason.RETRIED
    tasks[1].reason, tasks[1].end = "exit code 3", TaskEndReason.EXITED
    store.apply([act.SaveJob(job), act.SaveTasks(1, tuple(tasks))])
    assert [t.end for t in next(store.load_jobs()).tasks] == [
        TaskEndReason.RETRIED, TaskEndReason.EXITED, TaskEndReason.NONE]
    # what a release before the reason_code column wrote: the column's default
    store.db.execute("UPDATE tasks SET reason_code=''")
    assert [t.end for t in next(store.load_jobs()).tasks] == [
        TaskEndReason.RETRIED, TaskEndReason.LEGACY, TaskEndReason.NONE]
    store.close()


def test_a_legacy_failure_that_only_repeats_its_exit_or_signal_is_known_as_such() -> None:
    from stratosd.core.types import TaskEndReason
    from stratosd.store import legacy_end_reason

    assert legacy_end_reason("exit code 3", 3, None) is TaskEndReason.EXITED
    assert legacy_end_reason("signal 9", None, 9) is TaskEndReason.SIGNALLED
    assert legacy_end_reason("exit code 3", 4, None) is TaskEndReason.LEGACY


def test_a_task_s_attempts_and_its_job_s_retry_settings_are_journaled(tmp_path: Path) -> None:
    from stratosd.core.model import Attempt, Job, JobSpec, Task
    from stratosd.core.types import TaskEndReason

    store = Store(tmp_path / "journal.db")
    job = Job(1, "demo", JobSpec(retries=2, retry_on_exit=(3, 75)), "local", 1.0)
    task = Task(0, 0, "true")
    task.history = (Attempt(1, "h1", 1.0, 2.0, 3, None, TaskEndReason.EXITED, "exit code 3", "boom\n"),
                    Attempt(2, "h2", 3.0, 4.0, None, 9, TaskEndReason.SIGNALLED, "signal 9"))
    store.apply([act.SaveJob(job), act.SaveTasks(1, (task,))])
    loaded = next(store.load_jobs())
    assert loaded.spec == job.spec and loaded.tasks[0].history == task.history
    store.close()


def test_a_schema_2_journal_opens_and_gains_the_after_columns_and_follow_tables(tmp_path: Path) -> None:
    from stratosd.core.model import Follow, Job, JobSpec, Task
    from stratosd.core.types import FollowState, Hold

    store = Store(tmp_path / "journal.db")
    for column in ("after_key", "hold", "hold_reason"):
        store.db.execute(f"ALTER TABLE jobs DROP COLUMN {column}")
    store.db.execute("DROP TABLE follows")
    store.db.execute("DROP TABLE follow_files")
    store.db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    store.db.execute("INSERT INTO jobs VALUES (1, 'old', '{}', 'local', 1.0, 0.0, 0, 0, 0, 't')")
    store.close()
    store = Store(tmp_path / "journal.db")  # what the release before after= wrote
    assert store.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("3",)
    old = next(store.load_jobs())
    assert (old.after_key, old.hold, old.follows, old.spec.after) == (None, Hold.NONE, [], None)
    job = Job(2, "red", JobSpec(after="old"), "local", 1.0)
    job.after_key, job.hold, job.hold_reason = 1, Hold.BLOCKED, "job old failed (1 failed)"
    follow = Follow(0, 0, ("out/*",), "cat %f%", "", FollowState.FINAL_SCAN, {"out/a b"})
    job.follows = [follow]
    store.apply([act.SaveJob(job), act.SaveTasks(2, (Task(0, 0, "cat 'out/a b'"),)),
                 act.SaveFollow(2, follow, ((0, "out/a b"),))])
    loaded = list(store.load_jobs())[1]
    assert (loaded.after_key, loaded.hold, loaded.hold_reason) == (1, Hold.BLOCKED, "job old failed (1 failed)")
    assert loaded.spec.after == "old"
    assert [(f.patterns, f.state, f.seen) for f in loaded.follows] == [(("out/*",), FollowState.FINAL_SCAN,
                                                                         {"out/a b"})]
    assert store.inputs(2, [0]) == {0: ("out/a b", None)}
    store.apply([act.DeleteJob(2, "red")])
    assert store.db.execute("SELECT count(*) FROM follow_files").fetchone() == (0,)
    store.close()


def test_result_pages_end_at_their_row_count_or_their_bytes_and_together_hold_every_result_once(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "journal.db")
    sizes = [1, 1, 600, 1, 1, 1, 1, 1, 500, 500, 1, 1]  # bytes of each task's stdout
    store.apply([_outcome(i, bytes([65 + i]) * n) for i, n in enumerate(sizes)]
                + [act.PublishResults(1, tuple((i, i + 1) for i in range(len(sizes))))])
    pages = list(store.results(1, 0, len(sizes), rows=4, size=1000))
    # tasks 0-3 (4 rows, 603 bytes); 4-7 (4 rows); 8-9: 500 + 500 reaches 1000 bytes; then 10-11
    assert [[row[0] for row in page] for page in pages] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10], [11, 12]]
    assert [row for page in pages for row in page] == [
        (i + 1, i, bytes([65 + i]) * n, None, 0) for i, n in enumerate(sizes)]
    # a row larger than the byte bound alone is a page of its own, and nothing past upto comes
    assert [[row[0] for row in page] for page in store.results(1, 2, 10, rows=100, size=500)] == [
        [3], [4, 5, 6, 7, 8, 9], [10]]
    store.close()


def test_a_task_as_submitted_is_journaled_with_the_row_every_task_gets(tmp_path: Path) -> None:
    """Fresh tasks bind only their command and locality (the rest written as constants); their rows
    are the ones the general path writes, and a task past submission still gets its own."""
    from stratosd.core.model import Job, JobSpec, Task
    from stratosd.core.types import TaskEndReason
    from stratosd.store import _TASK_COLUMNS, _is_fresh, _task_row

    store = Store(tmp_path / "journal.db")
    job = Job(1, "demo", JobSpec(), "local", 1.0)
    fresh = [Task(0, 2, "echo 'it''s' \"a b\" [x] ü"), Task(1, 2, "wc <[/dfs/a]>")]
    fresh[1].host_bytes, fresh[1].marked = (("h1", 10), ("h2", 4)), 10
    ran = Task(2, 2, "false")
    ran.attempt, ran.host, ran.exit_code, ran.reason, ran.end = 1, "h1", 1, "exit code 1", TaskEndReason.EXITED
    assert [_is_fresh(t) for t in (*fresh, ran)] == [True, True, False]
    store.apply([act.SaveJob(job), act.SaveTasks(1, (*fresh, ran))])
    rows = store.db.execute(f"SELECT {_TASK_COLUMNS} FROM tasks ORDER BY task_id").fetchall()
    assert rows == [_task_row(1, t) for t in (*fresh, ran)]
    store.close()


def test_the_wal_is_checkpointed_by_its_thread_after_commits_not_inside_them(tmp_path: Path) -> None:
    """A commit does not copy the log into the journal (that took over 100 ms on a large job, on
    the event loop): it notes itself, and the checkpoint thread copies within its interval."""
    import time

    store = Store(tmp_path / "j.sqlite")
    try:
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone() == (65536,)
        before = store.checkpoints.runs
        journal = (tmp_path / "j.sqlite").stat()
        store.apply([_outcome(task_id, b"x" * 5000) for task_id in range(1, 200)])
        assert (tmp_path / "j.sqlite").stat().st_mtime_ns == journal.st_mtime_ns  # the commit is in the log only
        deadline = time.monotonic() + 10
        while store.checkpoints.runs == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.checkpoints.runs == before + 1 and store.checkpoints.failures == 0
        busy, logged, copied = store.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and logged > 0 and copied == logged
    finally:
        store.close()
    assert not store.checkpoints._thread.is_alive()
