"""Issue 12, what a scientist hit on day one: each test performs the user's steps on a real daemon."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from stratos import Processor
from stratos.errors import InvalidSubmission
from stratos.settings import Output
from tests.daemon import Daemon
from tests.integration.ctl_helpers import child_env, run_ctl

MONITOR = """#!/bin/sh
case "$2" in *PLEASE_RELAUNCH*) echo "stratos_relaunch"; echo "need more memory";; esac
exit 0
"""

#: names a shell would split or interpret: a space, &, quotes, brackets, unicode.
ODD_NAMES = ["odd/with space.txt", "amp&.txt", "it's \"quoted\".txt", "[bracket] (x).txt", "ünïcødé ☃.txt"]


def _script(path: Path, body: str) -> str:
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


# -- item 3: a relaunch that replaces nothing never loses a task silently ---------------------------

@pytest.mark.parametrize(
    "relauncher_body, reason",
    [("#!/bin/sh\necho 'no budget left for $1' >&2\nexit 3\n", "exited with status 3: no budget left"),
     (None, "no relauncher")],
    ids=["relauncher-fails", "no-relauncher"],
)
def test_a_stopped_task_nothing_replaces_fails_with_the_reason_and_keeps_its_stdout(
    daemon: Daemon, tmp_path: Path, caplog: pytest.LogCaptureFixture, relauncher_body: str | None, reason: str
) -> None:
    monitor = _script(tmp_path / "monitor.sh", MONITOR)
    relauncher = _script(tmp_path / "relauncher.sh", relauncher_body) if relauncher_body else None
    job = Processor(job_id="stuck", monitor=monitor, relauncher=relauncher, update_interval=0.3)
    with caplog.at_level(logging.WARNING, logger="stratos"):
        counts = job.batch(["echo before", "echo PLEASE_RELAUNCH; exec sleep 60", "echo after"])
    assert counts["failed"] == 1 and counts["relaunched"] == 0 and counts["finished"] == 2
    assert job.get_results() == ["before\n", "PLEASE_RELAUNCH\n", "after\n"]  # 3 inputs, 3 results
    info = job.stream.task(1)
    assert info.task.status == "failed" and reason in info.reason
    assert "task 1 failed (" in caplog.text and reason in caplog.text


def test_a_relauncher_that_prints_nothing_drops_the_task_and_the_warning_says_so(
    daemon: Daemon, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = _script(tmp_path / "monitor.sh", MONITOR)
    relauncher = _script(tmp_path / "relauncher.sh", "#!/bin/sh\nexit 0\n")
    job = Processor(job_id="dropped", monitor=monitor, relauncher=relauncher, update_interval=0.3)
    with caplog.at_level(logging.WARNING, logger="stratos"):
        counts = job.batch(["echo before", "echo PLEASE_RELAUNCH; exec sleep 60"])
    assert counts["relaunched"] == 1 and counts["failed"] == 0
    assert job.get_results() == ["before\n"]
    assert "task 1 relaunched with no replacement" in caplog.text


# -- item 8: output modes other than scheduler say where the output went ----------------------------

@pytest.mark.parametrize("mode", ["disk", "mesos", "none"])
def test_output_elsewhere_gives_records_with_the_files_once_per_cursor(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Output
) -> None:
    monkeypatch.chdir(tmp_path)
    job = Processor(job_id=f"elsewhere-{mode}", output=mode, log_directory="my logs")
    counts = job.batch(["echo out-a", "echo err-b >&2; exit 2"])
    assert counts["finished"] == 1 and counts["failed"] == 1
    assert job.get_results() == []  # the seed: the output goes elsewhere
    records = job.get_results(details=True)  # ... and get_results() did not eat the records
    assert [(r.task_id, r.status, r.exit_code) for r in records] == [(0, "finished", 0), (1, "failed", 2)]
    if mode == "none":
        assert all(r.stdout_path is None and r.stderr_path is None for r in records)
    else:
        for record, (out, err) in zip(records, [("out-a\n", ""), ("", "err-b\n")], strict=True):
            assert record.stdout_path and os.path.isabs(record.stdout_path) and record.stderr_path
            assert Path(record.stdout_path).read_text() == out
            assert Path(record.stderr_path).read_text() == err
        if mode == "disk":
            assert records[0].stdout_path == str(tmp_path / "my logs" / job.job_id / "0.stdout")
    assert job.get_results(details=True) == []  # delivered once per cursor
    task = run_ctl(daemon, "task", job.job_id, "1")
    assert task.returncode == 0
    if mode != "none":
        assert f"stderr file\t{records[1].stderr_path}" in task.stdout
    results = run_ctl(daemon, "results", job.job_id)
    assert results.returncode == 0
    assert "get_results() is empty in this mode" in results.stdout
    if mode == "disk":
        assert f"writes its output to disk: {tmp_path / 'my logs' / job.job_id}/<task>.stdout" in results.stdout
        assert records[1].stderr_path is not None and records[1].stderr_path in results.stdout


# -- item 9: relative paths are taken from the working directory ------------------------------------

def test_relative_paths_are_the_working_directorys_and_settings_show_them_absolute(
    daemon: Daemon, tmp_path: Path
) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("hello\n")
    script = tmp_path / "work" / "x.py"
    script.write_text(textwrap.dedent("""
        from stratos import Processor
        job = Processor(job_id="rel", output="disk", log_directory="rel-logs")
        print(job.settings.log_directory)
        print(job.glob_batch("cat %f%; pwd", "data/*.txt")["finished"])
    """))
    run = subprocess.run([sys.executable, "work/x.py"], cwd=tmp_path, env=child_env(daemon),
                         capture_output=True, text=True, timeout=60, check=False)  # cd /tmp/..; python work/x.py
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(tmp_path / "rel-logs"), "1"]
    assert (tmp_path / "rel-logs" / "rel" / "0.stdout").read_text() == f"hello\n{tmp_path}\n"
    assert Processor.attach("rel").settings.log_directory == str(tmp_path / "rel-logs")


# -- item 10: %q% passes a value as one quoted word -------------------------------------------------

def test_q_placeholder_passes_odd_file_names_whole_and_the_warning_points_to_it(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd").mkdir()
    for number, name in enumerate(ODD_NAMES):
        (tmp_path / name).write_text("x" * (number + 1))
    job = Processor(job_id="odd-names")
    counts = job.template_batch("wc -c < %q%", [[name] for name in ODD_NAMES])
    assert counts["finished"] == len(ODD_NAMES)
    assert [int(r) for r in job.get_results()] == list(range(1, len(ODD_NAMES) + 1))
    # the seed's %c% stays as it was: one value may carry several words
    assert job.template_batch("echo %c%", [["a  b"]])["finished"] == 1 and job.get_results() == ["a b\n"]
    with caplog.at_level(logging.WARNING, logger="stratos"):
        counts = job.template_batch("wc -c %c%", [["odd/with space.txt"], ["amp&.txt"]])
    assert counts["failed"] == 2
    assert "tasks 6, 7 failed as if a file or program did not exist" in caplog.text
    assert "use %q%" in caplog.text


# -- item 14: the inputs a scientist passes first ---------------------------------------------------

def test_none_and_numpy_inputs_and_a_home_glob(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = Processor(job_id="inputs")
    with pytest.raises(InvalidSubmission, match="commands must be a string or a list of strings"):
        job.batch(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidSubmission, match="glob pattern"):
        job.glob_batch("cat %f%", None)  # type: ignore[arg-type]
    assert job.template_batch("echo %c% %c%", np.array([["a", "1"], ["b", "2"]]))["finished"] == 2
    assert job.template_batch("echo %c% %c%", np.array([[0.5, 1], [2, 3]]))["finished"] == 2
    assert job.template_batch("echo %c% %c%", np.array(["c, 3", "d, 4"]))["finished"] == 2
    assert job.get_results() == ["a 1\n", "b 2\n", "0.5 1.0\n", "2.0 3.0\n", "c 3\n", "d 4\n"]
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "snap_2.txt").write_text("home\n")
    assert job.glob_batch("cat %f%", "~/snap_*")["finished"] == 1
    assert job.get_results() == ["home\n"]


def test_failed_tasks_are_named_with_their_exits_and_bounded(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    job = Processor(job_id="failing")
    with caplog.at_level(logging.WARNING, logger="stratos"):
        job.batch(["true", "exit 1", "true", "exit 2"])
    assert "tasks 1, 3 failed (exit 1, 2)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stratos"):
        job.batch([f"exit {n}" for n in range(1, 14)])
    assert "tasks 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 and 3 more failed (exit 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)" \
        in caplog.text


def test_reusing_a_finished_job_id_warns(daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    Processor(job_id="again").batch(["true"])
    with caplog.at_level(logging.WARNING, logger="stratos"):
        Processor(job_id="again")
    (record,) = [r for r in caplog.records if "renamed" in r.getMessage()]
    assert record.levelno == logging.WARNING and "'again.1'" in record.getMessage()
