"""RetryRequested (`stratosctl retry`, Processor.retry_failed): failed tasks of an ended job run again."""

from __future__ import annotations

import pytest

from stratos.errors import InvalidSubmission, JobNotEnded
from stratosd.core import events as ev
from stratosd.core.model import Status
from stratosd.core.state import SchedulerState
from stratosd.core.transitions import TRANSITIONS
from stratosd.core.types import TaskEndReason as E
from tests.core.helpers import add_host, create, end, published, reply, status, submit


def retry(state: SchedulerState, name: str, ids: tuple[int, ...] | None = None) -> object:
    r = reply(state.handle(ev.RetryRequested(1, name, ids, 10.0)))
    if r.error is not None:
        raise r.error
    return r.value


def test_failed_is_pending_again_only_by_the_user_s_retry() -> None:
    assert TRANSITIONS[Status.FAILED] == frozenset({Status.PENDING})


def test_the_failed_tasks_of_a_batch_run_again_and_their_new_result_is_published_once(
        state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state, "b")
    submit(state, "b", ["a", "b", "c"])
    assert published(end(state, "b", 0, 0)) == [(0, 1)]
    assert published(end(state, "b", 1, 2)) == [(1, 2)]  # the failed stdout is a result (seq 2)
    assert published(end(state, "b", 2, 0)) == [(2, 3)]
    assert state.jobs["b"].state == "finished"
    assert retry(state, "b") == (1,)
    task = state.jobs["b"].tasks[1]
    assert status(state, "b", 1) == "running" and task.attempt == 2  # launched at once on the free host
    assert task.end is E.RESUBMITTED and task.history[-1].resubmitted
    assert published(end(state, "b", 1, 0)) == [(1, 4)]  # the new result, once, after the others
    assert status(state, "b", 1) == "finished" and state.jobs["b"].state == "finished"


def test_only_failed_tasks_of_an_ended_job_are_retried(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state, "b")
    submit(state, "b", ["a", "b"])
    with pytest.raises(JobNotEnded):
        retry(state, "b")
    end(state, "b", 0, 0)
    end(state, "b", 1, 1)
    with pytest.raises(InvalidSubmission, match="task 0 of job b is finished, not failed"):
        retry(state, "b", (0, 1))
    assert status(state, "b", 1) == "failed"  # nothing changed
    assert retry(state, "b", (1,)) == (1,)


def test_a_resubmitted_task_gets_its_retries_afresh(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state, "b", retries=1)
    submit(state, "b", ["a"])
    end(state, "b", 0, 1)
    end(state, "b", 0, 1)
    assert status(state, "b", 0) == "failed"
    retry(state, "b")
    end(state, "b", 0, 1)
    assert status(state, "b", 0) == "running"  # retries=1 applies to the new attempts too
    end(state, "b", 0, 0)
    assert [a.attempt for a in state.jobs["b"].tasks[0].history] == [1, 2, 3, 4]


def test_a_stream_s_resubmitted_task_publishes_when_it_ends(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state, "s")
    submit(state, "s", ["a"], mode="stream")
    assert published(end(state, "s", 0, 1)) == [(0, 1)]
    retry(state, "s")
    assert published(end(state, "s", 0, 0)) == [(0, 2)]
