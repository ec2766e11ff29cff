"""Removing jobs and keeping the state directory small, as a user does it (issue 12, 6 and 7).

A real daemon, real tasks, ``stratosctl`` as a subprocess. The user's output files
(``output="disk"``) are theirs: ``rm`` and retention remove the daemon's records,
results and sandboxes; ``rm --delete-outputs`` removes only the files StratOS wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stratos import Processor
from stratos.errors import JobNotEnded
from tests.daemon import Daemon
from tests.integration.ctl_helpers import REPO, child_env, no_traceback, poll, run_ctl, unique_id

pytestmark = pytest.mark.timeout(90)


def _disk_job(logs: Path, commands: list[str]) -> Processor:
    job = Processor(job_id=unique_id("disk"), output="disk", log_directory=str(logs))
    job.stream(commands)
    assert job.wait_for_tasks().counts["finished"] == len(commands)
    return job


def _listed(job_id: str) -> bool:
    return any(j.job_id == job_id for j in Processor.list_jobs())


def _sandboxes(daemon: Daemon) -> list[str]:
    root = daemon.state_dir / "sandboxes"
    return sorted(os.listdir(root)) if root.exists() else []


def test_rm_keeps_the_users_output_files_and_says_what_it_removed(daemon: Daemon, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    job = _disk_job(logs, ["echo one", "echo two >&2"])
    out_dir = logs / job.job_id
    assert sorted(os.listdir(out_dir)) == ["0.stderr", "0.stdout", "1.stderr", "1.stdout"]

    proc = run_ctl(daemon, "rm", job.job_id)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert f"removed {job.job_id}" in text and "2 tasks" in text
    assert "4 output files" in text and f"kept in {out_dir}" in text, text
    assert all(len(line) <= 80 for line in text.splitlines() if str(out_dir) not in line), text
    assert not _listed(job.job_id)  # the records are gone ...
    assert sorted(os.listdir(out_dir)) == ["0.stderr", "0.stdout", "1.stderr", "1.stdout"]  # ... the files stay
    assert (out_dir / "0.stdout").read_text() == "one\n"


def test_rm_delete_outputs_removes_only_the_files_stratos_wrote(daemon: Daemon, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    job = _disk_job(logs, ["echo one", "echo two"])
    out_dir = logs / job.job_id
    (out_dir / "notes.txt").write_text("mine")
    (out_dir / "7.stdout").write_text("also mine: no task 7 ran")

    dry = run_ctl(daemon, "rm", "--dry-run", "--delete-outputs", "--json", job.job_id)
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True and report["jobs"][0]["output_files"] == 4
    assert report["jobs"][0]["other_files"] == 2
    assert _listed(job.job_id) and len(os.listdir(out_dir)) == 6  # a dry run removes nothing

    proc = run_ctl(daemon, "rm", "--delete-outputs", "--json", job.job_id)
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout)["jobs"][0]
    assert done["outputs_deleted"] is True and done["output_directory_removed"] is False
    assert sorted(os.listdir(out_dir)) == ["7.stdout", "notes.txt"]  # the user's files and directory stay
    assert not _listed(job.job_id)

    alone = _disk_job(logs, ["echo three"])
    assert run_ctl(daemon, "rm", "--delete-outputs", alone.job_id).returncode == 0
    assert not (logs / alone.job_id).exists()  # it held nothing else
    assert logs.exists()


def test_rm_several_jobs_and_finished_before_and_dry_run(daemon: Daemon, tmp_path: Path) -> None:
    first, second = Processor(job_id=unique_id("a")), Processor(job_id=unique_id("b"))
    for job in (first, second):
        job.batch(["echo x", "head -c 1500000 /dev/zero"])  # the second one spills to its sandbox
    assert len(_sandboxes(daemon)) == 2

    dry = run_ctl(daemon, "rm", "--dry-run", first.job_id, second.job_id)
    assert dry.returncode == 0, dry.stderr
    assert f"would remove {first.job_id}" in dry.stdout and f"would remove {second.job_id}" in dry.stdout
    assert _listed(first.job_id) and _listed(second.job_id)

    proc = run_ctl(daemon, "rm", first.job_id, second.job_id)
    assert proc.returncode == 0, proc.stderr
    assert "removed 2 jobs" in proc.stdout, proc.stdout
    assert not _listed(first.job_id) and not _listed(second.job_id)
    assert _sandboxes(daemon) == []

    old = Processor(job_id=unique_id("old"))
    old.batch("echo old")
    time.sleep(1.5)
    recent = Processor(job_id=unique_id("new"))
    recent.batch("echo new")
    proc = run_ctl(daemon, "rm", "--finished-before", "1s", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [j["job"] for j in json.loads(proc.stdout)["jobs"]] == [old.job_id]
    assert not _listed(old.job_id) and _listed(recent.job_id)

    bad = run_ctl(daemon, "rm", "--finished-before", "yesterday-ish")
    assert bad.returncode == 2 and "neither an age" in bad.stderr and no_traceback(bad.stderr)
    none = run_ctl(daemon, "rm")
    assert none.returncode == 2 and "--finished-before" in none.stderr


def test_rm_refuses_a_job_with_unended_tasks_with_a_typed_error(daemon: Daemon) -> None:
    busy = Processor(job_id=unique_id("busy"))
    done = Processor(job_id=unique_id("done"))
    done.batch("echo ok")
    busy.stream(["sleep 30"])
    try:
        proc = run_ctl(daemon, "rm", done.job_id, busy.job_id)
        assert proc.returncode == 1
        assert "wait" in proc.stderr and "cancel" in proc.stderr and no_traceback(proc.stderr), proc.stderr
        assert _listed(done.job_id) and _listed(busy.job_id)  # nothing of the request was done
        with pytest.raises(JobNotEnded, match="cancel"):
            busy.remove()
    finally:
        busy.cancel()
    poll(lambda: busy.status().unfinished == 0, 15, "the cancelled task has ended")
    assert busy.remove() is True


def test_processor_remove_keeps_outputs_unless_asked(daemon: Daemon, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    kept = _disk_job(logs, ["echo keep"])
    assert kept.remove() is True
    assert (logs / kept.job_id / "0.stdout").read_text() == "keep\n"
    gone = _disk_job(logs, ["echo gone"])
    assert gone.remove(delete_outputs=True) is True
    assert not (logs / gone.job_id).exists()


def test_gc_frees_the_space_of_expired_jobs_and_status_shows_it(daemon: Daemon, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    big = Processor(job_id=unique_id("big"))
    # 3 tasks of 3 MB stdout each: spilled to their sandboxes and kept in the journal
    big.batch(["head -c 3000000 /dev/zero | tr '\\0' x"] * 3)
    disk = _disk_job(logs, ["echo mine"])
    status = subprocess.run([sys.executable, "-m", "stratosd", "status", "--socket", str(daemon.socket)],
                            env=child_env(daemon), cwd=REPO, capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stderr
    assert "size:" in status.stdout and "journal" in status.stdout and "sandboxes" in status.stdout
    assert all(len(line) <= 80 for line in status.stdout.splitlines() if str(daemon.state_dir) not in line)
    sandboxes_line = status.stdout.split("sandboxes", 1)[1]
    assert sandboxes_line.split(",")[0].strip().endswith("MB"), status.stdout

    assert "no finished job" in run_ctl(daemon, "gc").stdout  # nothing past the 7 days
    dry = json.loads(run_ctl(daemon, "gc", "--older-than", "0s", "--dry-run", "--json").stdout)
    assert dry["bytes_freed"] >= 9_000_000 and _listed(big.job_id)
    proc = run_ctl(daemon, "gc", "--older-than", "0s", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert sorted(j["job"] for j in report["jobs"]) == sorted([big.job_id, disk.job_id])
    assert report["bytes_freed"] >= 9_000_000, report
    assert not _listed(big.job_id) and _sandboxes(daemon) == []
    assert (logs / disk.job_id / "0.stdout").read_text() == "mine\n"  # gc keeps output files
    text = run_ctl(daemon, "gc", "--older-than", "0s").stdout
    assert "removed 0 jobs, freed" in text


def test_retention_keeps_output_files_and_removes_records_and_sandboxes(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    d = Daemon("--retention-days", str(2 / 86400)).start()  # two seconds
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    try:
        logs = tmp_path / "logs"
        job = Processor(job_id="old", output="disk", log_directory=str(logs))
        job.batch(["echo x", "echo y"])
        spill = Processor(job_id="spill")
        spill.batch("head -c 2000000 /dev/zero")
        assert (logs / "old" / "0.stdout").exists()
        assert _sandboxes(d)
        poll(lambda: not _listed("old") and not _listed("spill") and not _sandboxes(d), 30,
             "retention removed both jobs and their sandboxes")
        assert (logs / "old" / "0.stdout").read_text() == "x\n"  # the user's files stay
        assert sorted(os.listdir(logs / "old")) == ["0.stderr", "0.stdout", "1.stderr", "1.stdout"]
    finally:
        d.cleanup()


def test_the_journal_gives_the_space_of_removed_results_back(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("inline"))
    job.batch(["head -c 800000 /dev/zero"] * 10)  # 8 MB of results kept inline in the journal
    report = json.loads(run_ctl(daemon, "rm", "--json", job.job_id).stdout)
    assert report["jobs"][0]["results"] == 10 and report["jobs"][0]["journal_bytes"] >= 8_000_000
    assert report["journal_bytes_before"] - report["journal_bytes_after"] >= 6_000_000, report
    journal = sum(p.stat().st_size for p in daemon.state_dir.glob("journal.sqlite*"))
    assert journal == report["journal_bytes_after"] and journal < 4_000_000
