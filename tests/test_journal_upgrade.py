"""Upgrades keep every job: a journal an earlier release wrote opens in this one, and its jobs go on.

``tests/journals/schemaN.sql`` are dumps (``sqlite3`` ``iterdump``) of journals written by the
releases that had schema N, each by the same script: a job ``before-upgrade`` of six template
tasks, stopped with ``stratosd stop`` while two of them ran. Tasks 0-3 (``sleep 0; echo slept-X``)
had ended and their results were published as seqs 1-4; tasks 4-5 (``sleep 8; echo slept-X``) were
running. Paths the daemon had recorded are placeholders filled in here: ``@STATE_DIR@``,
``@CWD@``, ``@LOG_DIRECTORY@``.

- schema1.sql: the release at commit bd30e80 (schema 1: no request ids, no task inputs).
- schema2.sql: the release at commit 6d10748 (schema 2).

A release that changes the schema adds a step to ``stratosd.store._MIGRATIONS``, a dump written
by the release before it here, and its name to ``RELEASES``.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import stratos
from stratosd.core.model import Status
from stratosd.store import SCHEMA_VERSION, JournalVersionError, Store
from tests.daemon import Daemon

JOURNALS = Path(__file__).parent / "journals"
RELEASES = ["schema1", "schema2"]


def _write_journal(name: str, path: Path, state_dir: Path, cwd: Path) -> None:
    script = (JOURNALS / f"{name}.sql").read_text()
    script = (script.replace("@STATE_DIR@", str(state_dir)).replace("@CWD@", str(cwd))
              .replace("@LOG_DIRECTORY@", str(cwd / "stratos-logs")))
    db = sqlite3.connect(path)
    db.executescript(script)
    db.close()


def _layout(db: sqlite3.Connection) -> dict[str, object]:
    """Every table's columns (name, type, not null, default, key) and every index's definition."""
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    layout: dict[str, object] = {t: sorted(tuple(c[1:]) for c in db.execute(f"PRAGMA table_info({t})"))
                                 for t in tables}
    layout["indexes"] = sorted(row for row in db.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"))
    return layout


@pytest.mark.parametrize("release", RELEASES)
def test_an_earlier_journal_upgrades_to_the_layout_a_new_journal_has(release: str, tmp_path: Path) -> None:
    _write_journal(release, tmp_path / "old.sqlite", tmp_path, tmp_path)
    assert int(release.removeprefix("schema")) < SCHEMA_VERSION
    upgraded = Store(tmp_path / "old.sqlite")
    fresh = Store(tmp_path / "new.sqlite")
    assert upgraded.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),)
    assert _layout(upgraded.db) == _layout(fresh.db)
    jobs = list(upgraded.load_jobs())
    assert [j.name for j in jobs] == ["before-upgrade"]
    assert [t.status for t in jobs[0].tasks] == [Status.FINISHED] * 4 + [Status.RUNNING] * 2
    assert [t.command for t in jobs[0].tasks][4] == "sleep 8; echo slept-e"
    upgraded.close()
    fresh.close()
    # opened again, the upgraded journal is left as it is
    assert _layout(Store(tmp_path / "old.sqlite").db) == _layout(Store(tmp_path / "new.sqlite").db)


def test_a_journal_of_a_newer_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    Store(tmp_path / "j.sqlite").close()
    db = sqlite3.connect(tmp_path / "j.sqlite")
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(JournalVersionError, match=f"schema {SCHEMA_VERSION + 1}.*use the stratosd release"):
        Store(tmp_path / "j.sqlite")


def test_a_journal_at_this_schema_lacking_a_column_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """Written by an unreleased build: it says this schema, yet lacks what the schema has."""
    Store(tmp_path / "j.sqlite").close()
    db = sqlite3.connect(tmp_path / "j.sqlite")
    db.execute("ALTER TABLE tasks DROP COLUMN reason_code")
    db.commit()
    db.close()
    with pytest.raises(JournalVersionError, match=f"says journal schema {SCHEMA_VERSION} but lacks "
                                                  r"tasks.reason_code: .*move the state directory aside"):
        Store(tmp_path / "j.sqlite")
    Store(tmp_path / "fresh.sqlite").close()  # a whole one opens again
    Store(tmp_path / "fresh.sqlite").close()


@pytest.mark.parametrize("release", RELEASES)
def test_a_job_an_earlier_release_stopped_mid_run_finishes_after_the_upgrade(
        release: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    daemon = Daemon()
    daemon.state_dir.mkdir(mode=0o700, parents=True)
    _write_journal(release, daemon.state_dir / "journal.sqlite", daemon.state_dir, tmp_path)
    daemon.start()
    for key, value in daemon.env.items():
        monkeypatch.setenv(key, value)
    try:
        job = stratos.Processor.attach("before-upgrade")
        assert job.wait()
        results = sorted(job.get_results(details=True), key=lambda r: r.task_id)  # a stream: in end order
        assert [(r.task_id, r.status, r.stdout) for r in results] == [
            (i, "finished", f"slept-{x}\n") for i, x in enumerate("abcdef")]
        # the four that had ended keep their results (seqs 1-4): only the two running ran again
        assert sorted(r.seq for r in results[:4]) == [1, 2, 3, 4]
        assert sorted(r.seq for r in results[4:]) == [5, 6]
        job.detach()
    finally:
        daemon.cleanup()


def test_stratosd_run_on_a_journal_of_another_build_says_what_to_do_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    tmp_path.chmod(0o700)
    Store(state / "journal.sqlite").close()
    db = sqlite3.connect(state / "journal.sqlite")
    db.execute("ALTER TABLE tasks DROP COLUMN reason_code")
    db.commit()
    db.close()
    done = subprocess.run([sys.executable, "-m", "stratosd", "run", "--state-dir", str(state),
                           "--socket", str(tmp_path / "s.sock")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("stratosd: ") and "lacks tasks.reason_code" in last and "move the state directory" in last
    assert "Traceback" not in done.stderr
