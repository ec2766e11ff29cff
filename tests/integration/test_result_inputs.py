"""Issue 19, items 7-10: each result names its input, every result again without moving the
cursor, results as a DataFrame, and the task list as GNU Parallel's joblog or a CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import sys
from pathlib import Path

import pytest

from stratos import MissingDependency, Processor
from stratosd.store import Store
from tests.daemon import Daemon, daemon_fixture
from tests.integration.ctl_helpers import run_ctl, unique_id
from tests.integration.pty_helpers import run_ctl_tty

pytestmark = pytest.mark.timeout(120)
daemon = daemon_fixture()

SNAPSHOTS = "examples/data/snapshots/*_20*"


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])


def _job(prefix: str) -> Processor:
    return Processor(job_id=unique_id(prefix), progress=False)


def test_each_result_names_its_input(daemon: Daemon) -> None:
    job = _job("inputs")
    job.glob_batch("wc -c %f%", SNAPSHOTS)
    job.template_batch("echo %c% %q%", [["0.3 1.1", "a b"], ["2", "c"]])
    job.batch("echo one; echo two")
    records = job.get_results(details=True)
    files = sorted(str(p.relative_to(Path.cwd())) for p in Path.cwd().glob(SNAPSHOTS))
    globbed = [r for r in records if r.call_id == 0]
    assert [r.file for r in globbed] == files and all(r.params is None for r in globbed)
    assert [r.input for r in globbed] == files
    templated = [r for r in records if r.call_id == 1]
    assert [r.params for r in templated] == [("0.3 1.1", "a b"), ("2", "c")]
    assert templated[0].stdout == "0.3 1.1 a b\n" and templated[0].file is None
    plain = [r for r in records if r.call_id == 2]
    assert [(r.file, r.params, r.input) for r in plain] == [(None, None, "echo one"), (None, None, "echo two")]
    assert [r.task_id for r in records] == list(range(len(records)))
    # stratosctl results --json carries the same fields
    lines = [json.loads(line) for line in run_ctl(daemon, "results", job.job_id, "--json").stdout.splitlines()]
    assert lines[0]["file"] == files[0] and lines[0]["call_id"] == 0 and lines[0]["task_id"] == 0
    assert lines[len(files)]["params"] == ["0.3 1.1", "a b"] and lines[len(files)]["call_id"] == 1


def test_results_by_input_reads_everything_without_moving_the_cursor(daemon: Daemon) -> None:
    job = _job("byinput")
    job.glob_batch("wc -c %f%", SNAPSHOTS)
    job.template_batch("echo %c%", ["x", "y"])
    job.batch("echo plain")
    first = Path(sorted(Path.cwd().glob(SNAPSHOTS))[0]).relative_to(Path.cwd())
    by_input = job.results_by_input()
    assert by_input[str(first)].endswith(f"{first}\n")
    assert by_input[("x",)] == "x\n" and by_input[("y",)] == "y\n" and by_input["echo plain"] == "plain\n"
    assert job.results_by_input(details=True)[("x",)].call_id == 1
    assert len(job.get_results()) == len(by_input)  # the cursor had not moved


def test_results_frame(daemon: Daemon) -> None:
    pandas = pytest.importorskip("pandas")
    job = _job("frame")
    job.template_batch("sh -c 'echo %c%; exit %c%' x", [["a", "0"], ["b", "2"]])
    frame = job.results_frame()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns)[:9] == ["task_id", "call_id", "input", "status", "exit_code", "signal", "host",
                                       "duration", "stdout"]
    assert frame["task_id"].tolist() == [0, 1]
    assert frame["input"].tolist() == [("a", "0"), ("b", "2")]
    assert frame["status"].tolist() == ["finished", "failed"]
    assert frame["exit_code"].tolist() == [0, 2] and str(frame["exit_code"].dtype) == "Int64"
    assert frame["stdout"].tolist() == ["a\n", "b\n"]
    assert (frame["duration"] >= 0).all() and frame["host"].astype(bool).all()
    assert len(job.get_results()) == 2  # the cursor had not moved


def test_results_frame_without_pandas_names_the_extra(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    job = _job("nopandas")
    job.batch("true")
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    with pytest.raises(MissingDependency, match=re.escape("pip install 'stratos[pandas]'")):
        job.results_frame()


def test_tasks_as_joblog_and_csv(daemon: Daemon) -> None:
    job = _job("joblog")
    job.batch(["echo a", "exit 3", "sh -c 'kill -9 $$'"])
    result = run_ctl(daemon, "tasks", job.job_id, "--format", "joblog")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert all(re.fullmatch(r"\d{10}\.\d{3}", r[2]) and re.fullmatch(r"\d+\.\d{3}", r[3]) for r in rows)
    assert [(r[4], r[5], r[6], r[7]) for r in rows] == [("0", "0", "0", "0"), ("0", "0", "3", "0"),
                                                        ("0", "0", "0", "9")]
    assert [r[8] for r in rows] == ["echo a", "exit 3", "sh -c 'kill -9 $$'"]
    table = list(csv.reader(io.StringIO(run_ctl(daemon, "tasks", job.job_id, "--format", "csv").stdout)))
    assert table[0] == ["task_id", "call_id", "status", "host", "attempts", "started", "duration", "exit_code",
                        "signal", "command"]
    assert [(r[0], r[2], r[7], r[8], r[9]) for r in table[1:]] == [
        ("0", "finished", "0", "", "echo a"), ("1", "failed", "3", "", "exit 3"),
        ("2", "failed", "", "9", "sh -c 'kill -9 $$'")]


def test_status_and_jobs_watch_redraw_until_the_job_ends(daemon: Daemon) -> None:
    job = _job("watch")
    # long enough that stratosctl, started on a busy machine, still finds the job running
    job.stream(["sleep 3"] * 6)
    screen = run_ctl_tty(daemon, "status", job.job_id, "--watch", timeout=60)
    assert screen.status == 0, screen.stderr
    assert "tasks/s" in screen.text and "ETA" in screen.text  # the progress line's figures
    assert "6/6 tasks ended (100%)" in screen.text  # the last frame
    job.stream(["sleep 3"] * 4)
    screen = run_ctl_tty(daemon, "jobs", "--watch", timeout=60)
    assert screen.status == 0, screen.stderr
    assert "ETA" in screen.text and re.search(r"\d:\d\d", screen.text)
    assert job.stream.count_unfinished_tasks() == 0
    job.stream(["sleep 3"] * 4)
    screen = run_ctl_tty(daemon, "wait", job.job_id, timeout=60)
    assert "ETA" in screen.text


def test_an_old_journal_without_inputs_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        # as a journal written before the table existed: schema 1 (tests/journals/schema1.sql is one)
        db.execute("DROP TABLE task_inputs")
        db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    store = Store(path)
    assert store.inputs(1, [0, 1]) == {}
    store.save_inputs(1, 0, ["a"], None)
    assert store.inputs(1, [0, 1]) == {0: ("a", None)}
    store.close()
