"""Issue 19 item 5: each kind of failure is retried by its own setting, each attempt is kept and shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stratos import Processor
from tests.daemon import Daemon
from tests.integration.ctl_helpers import run_ctl

#: fails on its first run (exit 3, a word on stderr), succeeds after: a counter file in the cwd.
FLAKY = ('n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count; '
         'if [ "$n" -ge 1 ]; then echo ok; else echo "boom $n" >&2; exit 3; fi')


def test_retries_runs_a_failed_task_again_and_keeps_each_attempt(daemon: Daemon, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    job = Processor(job_id="flaky", retries=2)
    counts = job.batch([FLAKY])
    assert counts["finished"] == 1 and counts["failed"] == 0
    assert job.get_results() == ["ok\n"]  # the last attempt's stdout is the result, delivered once
    info = job.stream.task(0)
    assert info.task.status == "finished" and info.task.attempts == 2
    assert [(a.attempt, a.exit_code) for a in info.attempts] == [(1, 3), (2, 0)]
    assert "boom 0" in info.attempts[0].stderr_tail and info.attempts[0].host
    assert "retried after: exit code 3" in info.reason
    shown = run_ctl(daemon, "task", "flaky", "0")
    assert shown.returncode == 0, shown.stderr
    assert "attempt 1" in shown.stdout and "exit code 3" in shown.stdout and "boom 0" in shown.stdout
    lines = [line for line in shown.stdout.splitlines() if line.startswith("attempt ")]
    assert lines[0].startswith("attempt 1\texit code 3 on ") and lines[0].endswith("; stderr: boom 0")
    assert lines[1].startswith("attempt 2\texit code 0 on ")


def test_a_signal_the_user_did_not_send_is_retried_too(daemon: Daemon, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    job = Processor(job_id="sig", retries=1)
    counts = job.batch([f'if [ -e "{marker}" ]; then echo ok; else touch "{marker}"; kill -9 $$; fi'])
    assert counts["finished"] == 1
    assert [a.signal for a in job.stream.task(0).attempts] == [9, None]


def test_without_retries_or_outside_retry_on_exit_a_failure_is_final(daemon: Daemon, tmp_path: Path) -> None:
    job = Processor(job_id="narrow", retries=3, retry_on_exit=[75])
    counts = job.batch(["exit 4", "exit 0"])
    assert counts["failed"] == 1
    info = job.stream.task(0)
    assert info.task.attempts == 1 and info.task.exit_code == 4 and len(info.attempts) == 1
    plain = Processor(job_id="plain")  # the default: retries=0
    assert plain.batch(["exit 3"])["failed"] == 1 and plain.stream.task(0).task.attempts == 1


def test_a_timeout_is_retried_by_timeout_retries_not_by_retries(daemon: Daemon) -> None:
    job = Processor(job_id="slow", task_timeout=0.5, timeout_retries=1, retries=5)
    counts = job.batch(["sleep 30"])
    assert counts["failed"] == 1
    info = job.stream.task(0)
    assert info.task.attempts == 2 and info.reason == "timeout"  # one timeout retry, then failed


# -- item 6: stratosctl retry / Processor.retry_failed -----------------------------------------------

def test_retry_failed_reruns_the_failed_tasks_and_their_results_join_the_job(
        daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    job = Processor(job_id="again")
    with caplog.at_level(logging.WARNING, logger="stratos"):
        counts = job.batch(["echo one", FLAKY, "echo three"])
    assert counts["failed"] == 1
    assert "`stratosctl retry again --failed`" in caplog.text  # the summary says how
    assert job.get_results("reader") == ["one\n", "", "three\n"]  # the failed task's stdout (empty)
    assert job.retry_failed() == [1]
    job.wait_for_tasks()
    assert job.status().counts["failed"] == 0
    # a cursor that read the failed result gets the new one once; reading from the start shows the new one
    assert job.get_results("reader") == ["ok\n"]
    assert job.get_results("reader") == []
    assert job.get_results() == ["one\n", "three\n", "ok\n"]
    info = job.stream.task(1)
    assert info.task.attempts == 2 and [a.exit_code for a in info.attempts] == [3, 0]


def test_stratosctl_retry_takes_ids_and_refuses_tasks_that_did_not_fail(daemon: Daemon) -> None:
    job = Processor(job_id="cli")
    job.batch(["exit 1", "exit 2", "true"])
    refused = run_ctl(daemon, "retry", "cli", "--ids", "2")
    assert refused.returncode != 0 and "task 2 of job cli is finished, not failed" in refused.stderr
    done = run_ctl(daemon, "retry", "cli", "--ids", "1")
    assert done.returncode == 0, done.stderr
    assert "resubmitted 1 task of job cli (1)" in done.stdout
    job.wait_for_tasks()
    assert job.stream.task(1).task.attempts == 2 and job.stream.task(0).task.attempts == 1
    assert run_ctl(daemon, "retry", "cli", "--failed").stdout.startswith("resubmitted 2 tasks")
    job.wait_for_tasks()
    assert run_ctl(daemon, "wait", "cli").returncode == 2  # still failing: exit 1 and exit 2
