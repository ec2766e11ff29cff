"""The core decides the fate of a task its monitor stopped, from the executor's typed relaunch outcome."""

from __future__ import annotations

from typing import Any

from stratos_executor.spec import Relaunch
from stratosd.core.state import SchedulerState
from tests.core.helpers import add_host, create, end, published, status, submit


def _stopped(state: SchedulerState, relaunch: Relaunch, error: str = "", replacements: list[str] | None = None,
             **spec: Any) -> list[tuple[int, int]]:
    add_host(state, cpus=8)
    create(state, **spec)
    submit(state, "demo", ["a", "b"])
    out = published(end(state, "demo", 1))
    out += published(end(state, "demo", 0, exit_code=None, signal=15, reason="relaunch",
                          relaunch=relaunch, relaunch_error=error, replacements=replacements))
    return out


def test_a_failed_relauncher_fails_the_task_and_keeps_its_stdout(state: SchedulerState) -> None:
    out = _stopped(state, Relaunch.FAILED, "relauncher /r.sh exited with status 3: boom")
    task = state.jobs["demo"].tasks[0]
    assert status(state, "demo", 0) == "failed"
    assert task.reason == "relaunch failed: relauncher /r.sh exited with status 3: boom"
    assert task.children == ()
    assert out == [(0, 1), (1, 2)]  # N inputs, N results: the stopped task's stdout so far is one
    state.validate()


def test_no_relauncher_fails_the_task(state: SchedulerState) -> None:
    out = _stopped(state, Relaunch.NO_RELAUNCHER)
    assert status(state, "demo", 0) == "failed"
    assert "no relauncher" in state.jobs["demo"].tasks[0].reason
    assert out == [(0, 1), (1, 2)]


def test_a_relauncher_that_prints_nothing_drops_the_task_on_purpose(state: SchedulerState) -> None:
    out = _stopped(state, Relaunch.NO_COMMANDS)
    assert status(state, "demo", 0) == "relaunched"
    assert "no replacement" in state.jobs["demo"].tasks[0].reason
    assert out == [(1, 1)]


def test_the_reason_string_alone_decides_nothing(state: SchedulerState) -> None:
    """An executor's reason text is for people; without the typed outcome a stopped task is a failure."""
    _stopped(state, Relaunch.NOT_ASKED, replacements=["x"])
    assert status(state, "demo", 0) == "failed"
    assert state.jobs["demo"].tasks[0].children == ()


def test_disk_mode_publishes_a_record_per_task_that_ran_in_submission_order(state: SchedulerState) -> None:
    add_host(state, cpus=8)
    create(state, output="disk", log_directory="/logs")
    submit(state, "demo", ["a", "b", "c"])
    assert published(end(state, "demo", 1, exit_code=2)) == []
    assert published(end(state, "demo", 0, exit_code=None, signal=15, reason="relaunch",
                         relaunch=Relaunch.REPLACED, replacements=["r"])) == []
    # the relaunched task, its replacement, then task 1
    assert published(end(state, "demo", 3)) == [(0, 1), (3, 2), (1, 3)]
    assert published(end(state, "demo", 2)) == [(2, 4)]


def test_none_mode_stream_publishes_records_as_tasks_end(state: SchedulerState) -> None:
    add_host(state, cpus=8)
    create(state, output="none")
    submit(state, "demo", ["a", "b"], mode="stream")
    assert published(end(state, "demo", 1, exit_code=1)) == [(1, 1)]
    assert published(end(state, "demo", 0)) == [(0, 2)]
