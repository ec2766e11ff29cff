"""Issue 19 item 5: each kind of failure is retried by its own setting, each attempt is kept and shown.

Through a real daemon and stratosctl; the retry decisions alone are tested in process in
tests/harness/test_retries.py.
"""

from __future__ import annotations

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


# -- item 6: stratosctl retry / Processor.retry_failed -----------------------------------------------
# (Processor.retry_failed's scheduling, and the other retry settings: tests/harness/test_retries.py)


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
