"""Issue 19 item 5 without a subprocess: each kind of failure is retried by its own setting.

Moved from tests/integration/test_retries.py (issue 14). What the attempts did is scripted on the
recording backend (the executor's own tests cover how a real process exits, dies or times out);
the assertions are the core's decisions, unchanged. The subprocess file keeps what goes through
stratosctl.
"""

from __future__ import annotations

import signal

from tests.harness.backend import Outcome
from tests.harness.harness import Harness

#: fails on its first run (exit 3, a word on stderr), succeeds after (the shell of the original test).
FLAKY = ('n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count; '
         'if [ "$n" -ge 1 ]; then echo ok; else echo "boom $n" >&2; exit 3; fi')


def _flaky(harness: Harness) -> None:
    harness.backend.script(FLAKY, Outcome(exit_code=3, stderr="boom 0\n"), Outcome(stdout="ok\n"))


def test_a_signal_the_user_did_not_send_is_retried_too(harness: Harness) -> None:
    """From tests/integration/test_retries.py (same name): the first attempt dies of SIGKILL."""
    command = 'if [ -e "ran" ]; then echo ok; else touch "ran"; kill -9 $$; fi'
    harness.backend.script(command, Outcome(exit_code=None, signal=signal.SIGKILL), Outcome(stdout="ok\n"))
    job = harness.create("sig", retries=1)
    counts = harness.batch(job, [command])
    assert counts["finished"] == 1
    assert [a.signal for a in harness.task(job, 0).history] == [9, None]


def test_without_retries_or_outside_retry_on_exit_a_failure_is_final(harness: Harness) -> None:
    """From tests/integration/test_retries.py (same name)."""
    job = harness.create("narrow", retries=3, retry_on_exit=(75,))
    counts = harness.batch(job, ["exit 4", "exit 0"])
    assert counts["failed"] == 1
    task = harness.task(job, 0)
    assert task.attempt == 1 and task.exit_code == 4 and len(task.history) == 1
    plain = harness.create("plain")  # the default: retries=0
    assert harness.batch(plain, ["exit 3"])["failed"] == 1 and harness.task(plain, 0).attempt == 1


def test_a_timeout_is_retried_by_timeout_retries_not_by_retries(harness: Harness) -> None:
    """From tests/integration/test_retries.py (same name): each attempt is stopped by the executor
    for the timeout it was given (asserted on the launches), which tests/executor covers."""
    timed_out = Outcome(exit_code=None, signal=signal.SIGTERM, reason="timeout")
    harness.backend.script("sleep 30", timed_out, timed_out, timed_out)
    job = harness.create("slow", task_timeout=0.5, timeout_retries=1, retries=5)
    counts = harness.batch(job, ["sleep 30"])
    assert counts["failed"] == 1
    task = harness.task(job, 0)
    assert task.attempt == 2 and task.reason == "timeout"  # one timeout retry, then failed
    assert [launch.spec.timeout for launch in harness.launched()] == [0.5, 0.5]


def test_retry_failed_reruns_the_failed_tasks_and_their_results_join_the_job(harness: Harness) -> None:
    """From tests/integration/test_retries.py (same name). Its check that the batch summary names
    `stratosctl retry JOB --failed` is the client's and moved to tests/client/test_processor.py
    (test_batch_waits_for_its_call_and_returns_counts)."""
    _flaky(harness)
    job = harness.create("again")
    counts = harness.batch(job, ["echo one", FLAKY, "echo three"])
    assert counts["failed"] == 1
    assert harness.results(job, "reader") == ["one\n", "", "three\n"]  # the failed task's stdout (empty)
    assert harness.retry(job) == [1]  # Processor.retry_failed(): every failed task
    harness.wait_for_tasks(job)
    assert harness.counts(job)["failed"] == 0
    # a cursor that read the failed result gets the new one once; reading from the start shows the new one
    assert harness.results(job, "reader") == ["ok\n"]
    assert harness.results(job, "reader") == []
    assert harness.results(job) == ["one\n", "three\n", "ok\n"]
    task = harness.task(job, 1)
    assert task.attempt == 2 and [a.exit_code for a in task.history] == [3, 0]
