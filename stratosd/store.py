"""The journal: SQLite in WAL mode, one transaction per core step (group commit).

The runtime applies every journal action of one :meth:`SchedulerState.handle` call in
a single transaction before anything is acknowledged, and rebuilds the core from
these tables after a restart. Result cursors are written here directly: they are
the clients' own state, not the scheduler's.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from stratos_wire.errors import StratosError
from stratosd.checkpoint import Checkpointer
from stratosd.core import actions as act
from stratosd.core.model import Attempt, Call, Follow, Job, JobSpec, Status, Task
from stratosd.core.types import FollowState, Hold, TaskEndReason

#: The journal's layout. Each release that changes it adds one step to ``_MIGRATIONS`` and bumps
#: this; a journal written by any earlier release is upgraded in place when opened (tested from
#: journals the earlier releases wrote: tests/journals/).
SCHEMA_VERSION = 3
#: seconds a request's reply is kept for a retry to find (a client retries for minutes at most).
REQUEST_RETENTION = 7 * 86400.0
#: free pages given back per incremental-vacuum step (1 MiB of 4 KiB pages).
RECLAIM_PAGES = 256
#: a page of Store.results ends at this many rows or this much inline stdout, whichever first.
RESULT_PAGE_ROWS = 4096
RESULT_PAGE_BYTES = 4 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    key INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, pool TEXT NOT NULL,
    created REAL NOT NULL, finished_at REAL NOT NULL, cancelled INTEGER NOT NULL,
    stream_opened INTEGER NOT NULL, stream_closed INTEGER NOT NULL, token TEXT NOT NULL,
    after_key INTEGER, hold TEXT NOT NULL DEFAULT '', hold_reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS calls (
    job_key INTEGER NOT NULL, call_id INTEGER NOT NULL, mode TEXT NOT NULL, cwd TEXT NOT NULL,
    env TEXT NOT NULL, PRIMARY KEY (job_key, call_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (
    job_key INTEGER NOT NULL, task_id INTEGER NOT NULL, call_id INTEGER NOT NULL, command TEXT NOT NULL,
    status TEXT NOT NULL, attempt INTEGER NOT NULL, host TEXT NOT NULL, parent INTEGER,
    children TEXT NOT NULL, kill_requested INTEGER NOT NULL, exit_code INTEGER, signal INTEGER,
    reason TEXT NOT NULL, started REAL NOT NULL, ended REAL NOT NULL, locality TEXT NOT NULL,
    reason_code TEXT NOT NULL DEFAULT '', history TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_key, task_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outcomes (
    job_key INTEGER NOT NULL, task_id INTEGER NOT NULL, seq INTEGER, stdout BLOB, stdout_path TEXT,
    truncated INTEGER NOT NULL, stderr_tail BLOB NOT NULL, peak_rss_kb INTEGER NOT NULL,
    cpu_seconds REAL NOT NULL, monitor_output TEXT NOT NULL, notes TEXT NOT NULL,
    peak_rss_sum_kb INTEGER NOT NULL DEFAULT 0, disk_kb INTEGER NOT NULL DEFAULT 0,
    sandbox TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_key, task_id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS outcomes_by_seq ON outcomes (job_key, seq) WHERE seq IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_meta (
    job_key INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (job_key, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors (
    job_key INTEGER NOT NULL, consumer TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (job_key, consumer)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_inputs (
    job_key INTEGER NOT NULL, task_id INTEGER NOT NULL, file TEXT, params TEXT,
    PRIMARY KEY (job_key, task_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS follows (
    job_key INTEGER NOT NULL, follow_id INTEGER NOT NULL, call_id INTEGER NOT NULL, patterns TEXT NOT NULL,
    template TEXT NOT NULL, mount TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (job_key, follow_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS follow_files (
    job_key INTEGER NOT NULL, follow_id INTEGER NOT NULL, file TEXT NOT NULL,
    PRIMARY KEY (job_key, follow_id, file)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, method TEXT NOT NULL, reply BLOB NOT NULL, created REAL NOT NULL) WITHOUT ROWID;
"""


class JournalVersionError(StratosError, RuntimeError):
    """The journal was written by another build of stratosd: the message says what to do
    (``stratosd run`` prints it and exits 1)."""

    status = "FAILED_PRECONDITION"


def _columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    """Table -> its column names."""
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {table: {row[1] for row in db.execute(f"PRAGMA table_info({table})")} for table in tables}


@functools.cache
def _expected_columns() -> dict[str, frozenset[str]]:
    """The tables and columns of a journal at SCHEMA_VERSION (as a new one is made)."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA)
        return {table: frozenset(columns) for table, columns in _columns(db).items()}
    finally:
        db.close()


class _Column(NamedTuple):
    """A column a migration adds, with the default its existing rows get."""

    table: str
    name: str
    declaration: str


class _Migration(NamedTuple):
    """What one schema step adds: new tables (their CREATE statements) and columns."""

    tables: tuple[str, ...] = ()
    columns: tuple[_Column, ...] = ()


def _create(table: str) -> str:
    """The CREATE statement of one table (and its indexes) in ``_SCHEMA``."""
    return ";".join(s for s in _SCHEMA.split(";") if f"EXISTS {table} " in s or f"ON {table} " in s)


#: schema N -> N+1, for each N a released journal may have. Adding a column or a table is "if
#: missing", so a journal written by a development build between two releases upgrades too.
_MIGRATIONS: dict[int, _Migration] = {
    # 1 -> 2: client request ids with their replies; files of a task's inputs; per-task usage
    # figures; the reason as a code; a task's attempts.
    1: _Migration(
        tables=("requests", "task_inputs"),
        columns=(
            _Column("outcomes", "peak_rss_sum_kb", "INTEGER NOT NULL DEFAULT 0"),
            _Column("outcomes", "disk_kb", "INTEGER NOT NULL DEFAULT 0"),
            # Task.end: "" in rows written before it, derived from the reason text when loaded.
            _Column("tasks", "reason_code", "TEXT NOT NULL DEFAULT ''"),
            # Task.history (its ended attempts, JSON): "" in rows written before it.
            _Column("tasks", "history", "TEXT NOT NULL DEFAULT ''"),
        ),
    ),
    # 2 -> 3: a remote executor's sandbox and host (output="mesos" files are there); after=: the
    # awaited job's key (NULL: none), where the job stands towards it and why; followed patterns
    # and the files they made tasks of.
    2: _Migration(
        tables=("follows", "follow_files"),
        columns=(
            _Column("outcomes", "sandbox", "TEXT NOT NULL DEFAULT ''"),
            _Column("outcomes", "host", "TEXT NOT NULL DEFAULT ''"),
            _Column("jobs", "after_key", "INTEGER"),
            _Column("jobs", "hold", "TEXT NOT NULL DEFAULT ''"),
            _Column("jobs", "hold_reason", "TEXT NOT NULL DEFAULT ''"),
        ),
    ),
}


class Store:
    """The daemon's journal in ``<state_dir>/journal.sqlite``."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # A new journal gives the pages of removed jobs back to the disk (reclaim()); this takes
        # effect only in a database still empty (before WAL mode), an older one is converted by gc.
        self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        # The WAL is checkpointed by a thread of its own (stratosd/checkpoint.py), not inside a
        # commit: commits run on the event loop, between one task's end and the next one's launch.
        # The automatic checkpoint stays, at a log of ~256 MB, should that thread fall behind.
        self.db.execute("PRAGMA wal_autocheckpoint=65536")
        self.db.execute("PRAGMA foreign_keys=OFF")
        self._open_schema()
        self.db.execute("DELETE FROM requests WHERE created < ?", (time.time() - REQUEST_RETENTION,))
        self.checkpoints = Checkpointer(path)

    def _open_schema(self) -> None:
        """Create a new journal at SCHEMA_VERSION, or upgrade an older one step by step, in one
        transaction (a crash mid-upgrade leaves the old journal as it was)."""
        db = self.db
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            db.executescript(_SCHEMA)
            db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version != SCHEMA_VERSION and version not in _MIGRATIONS:
            raise JournalVersionError(
                f"{self.path} has journal schema {version}, this stratosd reads schemas 1 to {SCHEMA_VERSION}: "
                "use the stratosd release that wrote it, or move the state directory aside."
            )
        if version == SCHEMA_VERSION:
            self._check_layout(version)
            return
        db.execute("BEGIN")
        try:
            for step in range(version, SCHEMA_VERSION):
                self._migrate(_MIGRATIONS[step])
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _check_layout(self, version: int) -> None:
        """A journal that says it is at this schema must have its tables and columns: one written
        by an unreleased build may say so without them, and would fail later on a raw SQL error."""
        have = _columns(self.db)
        missing = [f"{table}.{column}" for table, columns in _expected_columns().items()
                   for column in sorted(columns - have.get(table, set()))]
        if missing:
            raise JournalVersionError(
                f"{self.path} says journal schema {version} but lacks {', '.join(missing[:5])}"
                f"{' and more' if len(missing) > 5 else ''}: it was written by another build of stratosd. "
                "Use the build that wrote it, or move the state directory aside."
            )

    def _migrate(self, migration: _Migration) -> None:
        for table in migration.tables:
            for statement in _create(table).split(";"):
                self.db.execute(statement)
        for column in migration.columns:
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({column.table})")}
            if column.name not in have:
                self.db.execute(f"ALTER TABLE {column.table} ADD COLUMN {column.name} {column.declaration}")

    def close(self) -> None:
        self.checkpoints.close()
        self.db.close()

    # -- writes -------------------------------------------------------------------------------

    def apply(self, actions: Sequence[act.Action], requests: Sequence[tuple[str, str, bytes]] = ()) -> None:
        """Commit the journal actions of one core step in one transaction.

        ``requests`` are (client request id, method, encoded reply) of the step's requests: they
        are committed with the step's effect, so a retried request finds its reply exactly when
        its effect happened.
        """
        journal = [a for a in actions if isinstance(a, act.JOURNAL_ACTIONS)]
        if not journal and not requests:
            return
        db = self.db
        # A result published in the step that saves it gets its seq in the same INSERT.
        seqs = {(a.job_key, task_id): seq for a in journal if isinstance(a, act.PublishResults)
                for task_id, seq in a.seqs}
        saved: set[tuple[int, int]] = set()
        db.execute("BEGIN")
        try:
            for a in journal:
                if isinstance(a, act.SaveTasks):
                    self._save_tasks(a.job_key, a.tasks)
                elif isinstance(a, act.SaveOutcome):
                    key = (a.job_key, a.task_id)
                    self._save_outcome(a, seqs.get(key))
                    saved.add(key)
                elif isinstance(a, act.PublishResults):
                    # A record-only result (output modes other than "scheduler") may belong to a task
                    # that has no outcome (lost): it gets an empty one, so its seq is never skipped.
                    unsaved = [(a.job_key, task_id, seq) for task_id, seq in a.seqs
                               if (a.job_key, task_id) not in saved]
                    if not unsaved:
                        continue  # the usual case: every result's seq went in with its outcome
                    db.executemany(
                        "INSERT INTO outcomes (job_key, task_id, seq, stdout, stdout_path, truncated, stderr_tail,"
                        " peak_rss_kb, cpu_seconds, monitor_output, notes)"
                        " VALUES (?,?,?,NULL,NULL,0,x'',0,0,'','[]') "
                        "ON CONFLICT (job_key, task_id) DO UPDATE SET seq=excluded.seq",
                        unsaved,
                    )
                elif isinstance(a, act.SaveJob):
                    j = a.job
                    db.execute(
                        f"INSERT OR REPLACE INTO jobs ({_JOB_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (j.key, j.name, json.dumps(asdict(j.spec)), j.pool, j.created, j.finished_at,
                         int(j.cancelled), int(j.stream_opened), int(j.stream_closed), j.token, j.after_key,
                         j.hold.value, j.hold_reason),
                    )
                elif isinstance(a, act.SaveFollow):
                    self._save_follow(a)
                elif isinstance(a, act.SaveCall):
                    c = a.call
                    db.execute(
                        "INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?)",
                        (a.job_key, c.call_id, c.mode, c.cwd, json.dumps(c.env)),
                    )
                elif isinstance(a, act.DeleteJob):
                    for table in ("jobs", "calls", "tasks", "outcomes", "cursors", "job_meta", "task_inputs",
                                  "follows", "follow_files"):
                        column = "key" if table == "jobs" else "job_key"
                        db.execute(f"DELETE FROM {table} WHERE {column}=?", (a.job_key,))
            if requests:
                now = time.time()
                db.executemany("INSERT OR REPLACE INTO requests VALUES (?,?,?,?)",
                               [(rid, method, reply, now) for rid, method, reply in requests])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.checkpoints.committed()

    def _save_tasks(self, job_key: int, tasks: Sequence[Task]) -> None:
        """Task rows; a task as submitted (pending, never started, nothing but its command and
        locality) binds only those: a large submission's rows are most of its journal commit."""
        fresh: list[Task] = []
        other: list[Task] = []
        for t in tasks:
            (fresh if _is_fresh(t) else other).append(t)
        if fresh:
            self.db.executemany(
                f"INSERT OR REPLACE INTO tasks ({_TASK_COLUMNS}) VALUES (?,?,?,?,{_FRESH_TASK_VALUES})",
                [(job_key, t.task_id, t.call_id, t.command, json.dumps([t.marked, t.host_bytes]) if t.host_bytes
                  else "") for t in fresh],
            )
        if other:
            self.db.executemany(
                f"INSERT OR REPLACE INTO tasks ({_TASK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [_task_row(job_key, t) for t in other],
            )

    def _save_outcome(self, a: act.SaveOutcome, seq: int | None) -> None:
        rec = a.record
        stdout = rec.stdout if a.keep_stdout else None
        path = rec.stdout_path if a.keep_stdout else None
        self.db.execute(
            "INSERT OR REPLACE INTO outcomes (job_key, task_id, seq, stdout, stdout_path, truncated, stderr_tail,"
            " peak_rss_kb, cpu_seconds, monitor_output, notes, peak_rss_sum_kb, disk_kb, sandbox, host)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (a.job_key, a.task_id, seq, stdout, path, int(rec.stdout_truncated), rec.stderr_tail,
             rec.peak_rss_kb, rec.cpu_seconds, rec.monitor_output, json.dumps(rec.notes), rec.peak_rss_sum_kb,
             rec.disk_kb, rec.sandbox, rec.host),
        )

    def _save_follow(self, a: act.SaveFollow) -> None:
        """A followed pattern, the files it made tasks of, and those tasks' inputs (their %f%)."""
        f = a.follow
        self.db.execute(
            "INSERT OR REPLACE INTO follows VALUES (?,?,?,?,?,?,?,?)",
            (a.job_key, f.follow_id, f.call_id, json.dumps(list(f.patterns)), f.template, f.mount, f.state.value,
             f.reason),
        )
        self.db.executemany("INSERT OR IGNORE INTO follow_files VALUES (?,?,?)",
                            [(a.job_key, f.follow_id, file) for _, file in a.files])
        self.db.executemany("INSERT OR REPLACE INTO task_inputs VALUES (?,?,?,NULL)",
                            [(a.job_key, task_id, file) for task_id, file in a.files])

    def save_inputs(self, job_key: int, first_task_id: int, files: Sequence[str] | None,
                    rows: Sequence[Sequence[str]] | None) -> None:
        """What the placeholders of a submission's tasks stood for (task ``first_task_id`` on):
        each glob task's file, or each template task's values. Written after the tasks are
        committed; a journal written before this table existed just has no inputs."""
        if files:
            sql = "INSERT OR REPLACE INTO task_inputs VALUES (?,?,?,NULL)"
            data: Iterable[tuple[int, int, str]] = zip(itertools.repeat(job_key), itertools.count(first_task_id), files)
        elif rows:
            sql = "INSERT OR REPLACE INTO task_inputs VALUES (?,?,NULL,?)"
            data = zip(itertools.repeat(job_key), itertools.count(first_task_id), (json.dumps(list(r)) for r in rows))
        else:
            return
        self.db.execute("BEGIN")
        try:
            self.db.executemany(sql, data)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def inputs(self, job_key: int, task_ids: Sequence[int]) -> dict[int, tuple[str | None, tuple[str, ...] | None]]:
        """The saved inputs of some tasks of a job: task id -> (file, params); tasks without one are left out."""
        out: dict[int, tuple[str | None, tuple[str, ...] | None]] = {}
        ids = sorted(set(task_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for task_id, file, params in self.db.execute(
                f"SELECT task_id, file, params FROM task_inputs WHERE job_key=? AND task_id IN ({marks})",
                (job_key, *chunk),
            ):
                out[int(task_id)] = (file, tuple(json.loads(params)) if params is not None else None)
        return out

    def set_cursor(self, job_key: int, consumer: str, position: int) -> None:
        self.db.execute(
            "INSERT INTO cursors VALUES (?,?,?) ON CONFLICT (job_key, consumer) "
            "DO UPDATE SET position=max(position, excluded.position)",
            (job_key, consumer, position),
        )

    def set_meta(self, job_key: int, key: str, value: str | None) -> None:
        """A backend's own durable fact about a job (a Mesos framework id)."""
        if value is None:
            self.db.execute("DELETE FROM job_meta WHERE job_key=? AND key=?", (job_key, key))
        else:
            self.db.execute("INSERT OR REPLACE INTO job_meta VALUES (?,?,?)", (job_key, key, value))

    def meta(self, job_key: int, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM job_meta WHERE job_key=? AND key=?", (job_key, key)).fetchone()
        return str(row[0]) if row else None

    # -- space ------------------------------------------------------------------------------

    def file_bytes(self) -> int:
        """The journal's size on disk: the database with its -wal and -shm files."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.stat(f"{self.path}{suffix}").st_size
        return total

    def free_bytes(self) -> int:
        """Bytes of free pages in the database: reused by later writes, returned by reclaim()."""
        (pages,) = self.db.execute("PRAGMA freelist_count").fetchone()
        (size,) = self.db.execute("PRAGMA page_size").fetchone()
        return int(pages) * int(size)

    def job_usage(self, job_key: int) -> tuple[int, int]:
        """(results, bytes) of one job's outcomes: how many, and their stdout and stderr tails."""
        count, size = self.db.execute(
            "SELECT count(*), coalesce(sum(length(stdout)), 0) + coalesce(sum(length(stderr_tail)), 0) "
            "FROM outcomes WHERE job_key=?", (job_key,)
        ).fetchone()
        return int(count), int(size)

    def incremental(self) -> bool:
        (mode,) = self.db.execute("PRAGMA auto_vacuum").fetchone()
        return int(mode) == 2

    def reclaim_step(self, pages: int = RECLAIM_PAGES) -> bool:
        """Give up to ``pages`` free pages back to the file system; whether some remain.

        The caller loops, so other work runs between steps (each takes milliseconds).
        A journal made before incremental vacuum keeps its free pages for later writes.
        """
        if not self.incremental():
            return False
        # executescript steps the pragma to its end; execute() would free a single page.
        self.db.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
        (left,) = self.db.execute("PRAGMA freelist_count").fetchone()
        return int(left) > 0

    def convert_to_incremental(self) -> None:
        """Rewrite a journal made without incremental vacuum (VACUUM: blocks for a time that
        grows with the live data, about a second per 100 MB here); done once, by gc."""
        self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self.db.execute("VACUUM")

    def truncate_wal(self) -> None:
        """Copy the WAL into the database and cut it to zero bytes (it never shrinks by itself)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    # -- reads --------------------------------------------------------------------------------

    def request_reply(self, request_id: str) -> tuple[str, bytes] | None:
        """(method, encoded reply) of a request already applied, or None."""
        row = self.db.execute("SELECT method, reply FROM requests WHERE request_id=?", (request_id,)).fetchone()
        return (str(row[0]), bytes(row[1])) if row else None

    def cursor(self, job_key: int, consumer: str) -> int:
        row = self.db.execute(
            "SELECT position FROM cursors WHERE job_key=? AND consumer=?", (job_key, consumer)
        ).fetchone()
        return int(row[0]) if row else 0

    def load_jobs(self) -> Iterator[Job]:
        """Rebuild every job from the journal (derived counters are the core's to recompute)."""
        for (key, name, spec, pool, created, finished_at, cancelled, s_open, s_closed, token, after_key, hold,
             hold_reason) in self.db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY key").fetchall():
            fields = json.loads(spec)
            fields["retry_on_exit"] = tuple(fields.get("retry_on_exit", ()))
            job = Job(key, name, JobSpec(**fields), pool, created, token)
            job.finished_at, job.cancelled = finished_at, bool(cancelled)
            job.stream_opened, job.stream_closed = bool(s_open), bool(s_closed)
            job.after_key, job.hold, job.hold_reason = after_key, Hold(hold), hold_reason
            job.follows = self._load_follows(key)
            for call_id, mode, cwd, env in self.db.execute(
                "SELECT call_id, mode, cwd, env FROM calls WHERE job_key=? ORDER BY call_id", (key,)
            ):
                job.calls.append(Call(call_id, mode, cwd, json.loads(env)))
            for row in self.db.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE job_key=? ORDER BY task_id", (key,)):
                job.tasks.append(_task_from_row(row))
            (published,) = self.db.execute(
                "SELECT coalesce(max(seq), 0) FROM outcomes WHERE job_key=?", (key,)
            ).fetchone()
            job.published = int(published)
            yield job

    def _load_follows(self, job_key: int) -> list[Follow]:
        follows = []
        for follow_id, call_id, patterns, template, mount, state, reason in self.db.execute(
            "SELECT follow_id, call_id, patterns, template, mount, state, reason FROM follows WHERE job_key=? "
            "ORDER BY follow_id", (job_key,)
        ):
            seen = {str(file) for (file,) in self.db.execute(
                "SELECT file FROM follow_files WHERE job_key=? AND follow_id=?", (job_key, follow_id))}
            follows.append(Follow(follow_id, call_id, tuple(json.loads(patterns)), template, mount,
                                  FollowState(state), seen, reason))
        return follows

    def results(
        self, job_key: int, after: int, upto: int, rows: int = RESULT_PAGE_ROWS, size: int = RESULT_PAGE_BYTES
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Pages of (seq, task_id, stdout, stdout_path, truncated) for after < seq <= upto.

        A page is held whole, and inline stdout may be up to 1 MiB a row: it ends at ``rows`` rows
        or once its stdout reaches ``size`` bytes, whichever comes first (so at most ``size`` plus
        one row). Many rows a query, as each query costs as much as tens of small rows.
        """
        while after < upto:
            cursor = self.db.execute(
                "SELECT seq, task_id, stdout, stdout_path, truncated FROM outcomes "
                "WHERE job_key=? AND seq>? AND seq<=? ORDER BY seq LIMIT ?",
                (job_key, after, upto, rows),
            )
            page: list[tuple[Any, ...]] = []
            held = 0
            for row in cursor:
                page.append(row)
                if row[2] is not None:
                    held += len(row[2])
                    if held >= size:
                        break
            cursor.close()  # the rest of a page cut by size is read again by the next query
            if not page:
                return
            yield page
            after = page[-1][0]

    def ran_in(self, job_key: int, task_id: int) -> tuple[str, str]:
        """(sandbox, host) of the task's recorded attempt when a remote executor ran it; ("", "") otherwise."""
        row = self.db.execute("SELECT sandbox, host FROM outcomes WHERE job_key=? AND task_id=?",
                              (job_key, task_id)).fetchone()
        return (str(row[0]), str(row[1])) if row is not None else ("", "")

    def outcome(self, job_key: int, task_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT seq, stdout_path, truncated, stderr_tail, peak_rss_kb, cpu_seconds, monitor_output, notes, "
            "peak_rss_sum_kb, disk_kb, sandbox, host "
            "FROM outcomes WHERE job_key=? AND task_id=?",
            (job_key, task_id),
        ).fetchone()
        if row is None:
            return None
        keys = ("seq", "stdout_path", "truncated", "stderr_tail", "peak_rss_kb", "cpu_seconds",
                "monitor_output", "notes", "peak_rss_sum_kb", "disk_kb", "sandbox", "host")
        out = dict(zip(keys, row, strict=True))
        out["notes"] = json.loads(out["notes"])
        return out


_JOB_COLUMNS = ("key, name, spec, pool, created, finished_at, cancelled, stream_opened, stream_closed, token, "
                "after_key, hold, hold_reason")
_TASK_COLUMNS = ("job_key, task_id, call_id, command, status, attempt, host, parent, children, kill_requested, "
                 "exit_code, signal, reason, started, ended, locality, reason_code, history")


#: the columns after (job_key, task_id, call_id, command) of a task as submitted, and its locality.
_FRESH_TASK_VALUES = f"'{Status.PENDING.value}',0,'',NULL,'',0,NULL,NULL,'',0,0,?,'{TaskEndReason.NONE.value}',''"


def _is_fresh(t: Task) -> bool:
    """Whether ``t`` is as submitted: its row is _FRESH_TASK_VALUES but for its command and locality."""
    return (t.status is Status.PENDING and not t.attempt and not t.host and t.parent is None and not t.children
            and not t.kill_requested and t.exit_code is None and t.signal is None and not t.reason
            and not t.started and not t.ended and t.end is TaskEndReason.NONE and not t.history)


def _task_row(job_key: int, t: Task) -> tuple[Any, ...]:
    return (
        job_key, t.task_id, t.call_id, t.command, t.status.value, t.attempt, t.host, t.parent,
        json.dumps(t.children) if t.children else "", int(t.kill_requested), t.exit_code, t.signal,
        t.reason, t.started, t.ended, json.dumps([t.marked, t.host_bytes]) if t.host_bytes else "",
        t.end.value, json.dumps([[a.attempt, a.host, a.started, a.ended, a.exit_code, a.signal, a.end.value,
                                  a.reason, a.stderr_tail, a.resubmitted] for a in t.history]) if t.history else "",
    )


def legacy_end_reason(reason: str, exit_code: int | None = None, signal: int | None = None) -> TaskEndReason:
    """The code of a task journaled before codes were, from its reason text.

    The only place the core's old reason texts are still read: a task retried after an
    infrastructure failure keeps that note through a clean exit, and a failure's reason that
    only repeats its exit code or signal is not shown again, so those must be known.
    """
    if reason == f"exit code {exit_code}":
        return TaskEndReason.EXITED
    if reason == f"signal {signal}":
        return TaskEndReason.SIGNALLED
    if reason.startswith("retried after"):
        return TaskEndReason.RETRIED
    if reason == "requeued after a daemon restart":
        return TaskEndReason.REQUEUED_AFTER_RESTART
    if reason == "killed before it started":
        return TaskEndReason.KILLED_BEFORE_START
    return TaskEndReason.LEGACY if reason else TaskEndReason.NONE


def _task_from_row(row: Iterable[Any]) -> Task:
    (_, task_id, call_id, command, status, attempt, host, parent, children, killed, exit_code, signal,
     reason, started, ended, locality, code, history) = row
    task = Task(task_id, call_id, command, parent)
    task.end = TaskEndReason(code) if code else legacy_end_reason(reason, exit_code, signal)
    task.status = Status(status)
    task.attempt, task.host, task.kill_requested = attempt, host, bool(killed)
    task.children = tuple(json.loads(children)) if children else ()
    task.exit_code, task.signal, task.reason, task.started, task.ended = exit_code, signal, reason, started, ended
    if history:
        task.history = tuple(Attempt(n, h, s, e, x, sig, TaskEndReason(end), why, tail, bool(again))
                             for n, h, s, e, x, sig, end, why, tail, again in json.loads(history))
    if locality:
        marked, host_bytes = json.loads(locality)
        task.marked, task.host_bytes = marked, tuple((host, size) for host, size in host_bytes)
    return task
