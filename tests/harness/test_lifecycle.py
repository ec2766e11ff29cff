"""The daemon's life without a subprocess: a restart keeps everything, job ids are reused or refused.

Moved from tests/integration/test_lifecycle.py (issue 14): their assertions are about what the
core and the journal decide, so the runtime runs in process here (the subprocess file keeps
what needs one: auto-start, signals, sockets, file modes, the schema check at start).
"""

from __future__ import annotations

import pytest

from stratos.errors import JobIdInUse
from tests.harness.backend import RUNS, Outcome
from tests.harness.harness import Harness


def test_stop_and_restart_keeps_finished_jobs_and_their_results(harness: Harness) -> None:
    """From tests/integration/test_lifecycle.py (same name); ``daemon.stop() == 0`` is the restart
    itself here (it fails the test if the runtime does not stop cleanly)."""
    job = harness.create("keep")
    harness.batch(job, [f"echo {i}" for i in range(50)])
    assert harness.results(job, consumer="early") == [f"{i}\n" for i in range(50)]
    stream_job = harness.create("keep-stream")
    harness.stream(stream_job, "echo s1; echo s2")
    assert harness.wait(stream_job)
    harness.restart()
    assert harness.counts("keep")["finished"] == 50
    assert harness.results("keep") == [f"{i}\n" for i in range(50)]  # the shared cursor never moved
    assert harness.results("keep", consumer="early") == []  # this one had them all, before the restart
    assert sorted(harness.results("keep-stream")) == ["s1\n", "s2\n"]
    assert harness.job("keep-stream").stream_closed


def test_tasks_running_at_a_stop_run_again_after_the_restart(harness: Harness) -> None:
    """From tests/integration/test_lifecycle.py (same name): the marker file that counted runs is
    the backend's record of launches; the first attempt runs until the stop, the second prints done."""
    command = "echo run >> runs; sleep 2; echo done"
    harness.backend.script(command, RUNS, Outcome(stdout="done\n"))
    job = harness.create("interrupted")
    harness.stream(job, [command])  # a list keeps the semicolons
    assert harness.backend.running(command)
    harness.restart()  # graceful: the running task is stopped, not orphaned
    assert not harness.backends[0].live
    assert harness.wait("interrupted")
    assert harness.results("interrupted") == ["done\n"]
    assert [launch.spec.command for launch in harness.launched()] == [command, command]  # "run\nrun\n"
    assert harness.task("interrupted", 0).attempt == 2


def test_finished_job_id_starts_a_new_run_and_keeps_the_old_one(harness: Harness) -> None:
    """From tests/integration/test_lifecycle.py (same name)."""
    first = harness.create("demo")
    harness.batch(first, "echo first")
    second = harness.create("demo")
    harness.batch(second, "echo second")
    third = harness.create("demo")
    assert harness.results(third) == []
    assert harness.results("demo.1") == ["first\n"]
    assert harness.results("demo.2") == ["second\n"]
    assert {"demo", "demo.1", "demo.2"} <= harness.names()


def test_an_unfinished_job_id_is_refused_with_a_pointer_to_attach(harness: Harness) -> None:
    """From tests/integration/test_lifecycle.py (same name)."""
    busy = harness.create("busy")
    harness.stream(busy, "sleep 5")
    with pytest.raises(JobIdInUse, match=r'Processor\.attach\("busy"\)'):
        harness.create("busy")
    harness.cancel(busy)


def test_jobs_without_an_id_get_unique_ones(harness: Harness) -> None:
    """From tests/integration/test_lifecycle.py (same name)."""
    ids = {harness.create() for _ in range(3)}
    assert len(ids) == 3
