"""The scheduling core alone: events in, actions out. No sockets, threads or sleeps."""

from __future__ import annotations

import pytest

from stratos.errors import InsufficientResources, JobIdInUse, JobNotFound, TaskNotFound
from stratos_executor.spec import Relaunch, TaskRecord
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import Status
from stratosd.core.replies import JobCreated, Submitted
from stratosd.core.state import InvalidTransition, SchedulerState
from stratosd.core.transitions import move
from tests.core.helpers import add_host, create, end, launches, published, reply, status, submit, value


def test_submit_launches_as_many_as_fit_and_journals_first(state: SchedulerState) -> None:
    add_host(state, cpus=2)
    create(state)
    r, actions = submit(state, "demo", ["a", "b", "c"])
    assert r.value == (0, 0, 3, [], -1)  # -1: no followed pattern
    assert [(a.task_id, a.attempt) for a in launches(actions)] == [(0, 1), (1, 1)]
    kinds = [type(a) for a in actions]
    # every journal action precedes every effect
    last_journal = max(i for i, k in enumerate(kinds) if k in act.JOURNAL_ACTIONS)
    first_effect = min(i for i, k in enumerate(kinds) if k not in act.JOURNAL_ACTIONS)
    assert last_journal < first_effect
    assert status(state, "demo", 2) == "pending"


def test_a_freed_slot_launches_the_next_task(state: SchedulerState) -> None:
    add_host(state, cpus=2)
    create(state)
    submit(state, "demo", ["a", "b", "c"])
    actions = end(state, "demo", 1)
    assert [a.task_id for a in launches(actions)] == [2]
    assert status(state, "demo", 1) == "finished"


def test_batch_results_are_published_in_submission_order(state: SchedulerState) -> None:
    add_host(state, cpus=3)
    create(state)
    submit(state, "demo", ["a", "b", "c"])
    assert published(end(state, "demo", 2)) == []
    assert published(end(state, "demo", 1)) == []
    assert published(end(state, "demo", 0, exit_code=1)) == [(0, 1), (1, 2), (2, 3)]


def test_stream_results_are_published_in_arrival_order(state: SchedulerState) -> None:
    add_host(state, cpus=3)
    create(state)
    submit(state, "demo", ["a", "b", "c"], mode="stream")
    assert published(end(state, "demo", 2)) == [(2, 1)]
    assert published(end(state, "demo", 0)) == [(0, 2)]


def test_relaunch_replacements_take_the_place_of_the_task(state: SchedulerState) -> None:
    add_host(state, cpus=8)
    create(state)
    submit(state, "demo", ["a", "b"])
    end(state, "demo", 1)
    actions = end(state, "demo", 0, exit_code=None, signal=15, reason="relaunch", replacements=["r1", "r2"],
                  relaunch=Relaunch.REPLACED)
    assert status(state, "demo", 0) == "relaunched"
    assert state.jobs["demo"].tasks[0].children == (2, 3)
    assert {a.task_id for a in launches(actions)} == {2, 3}
    assert published(end(state, "demo", 3)) == []
    # the replacements' results come first, in order, then task 1's
    assert published(end(state, "demo", 2)) == [(2, 1), (3, 2), (1, 3)]
    assert state.jobs["demo"].tasks[2].parent == 0


def test_killed_and_relaunched_tasks_contribute_no_result(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    r = create(state, "other")
    assert r.error is None
    submit(state, "demo", ["a", "b", "c"])
    kill = reply(state.handle(ev.KillRequested(99, "demo", (1,))))
    assert kill.value == 1 and status(state, "demo", 1) == "killed"
    actions = state.handle(ev.KillRequested(100, "demo", (0,)))
    assert [a.task_id for a in actions if isinstance(a, act.KillTask)] == [0]
    assert status(state, "demo", 0) == "running"  # until the backend says it ended
    out = end(state, "demo", 0, exit_code=None, signal=15)
    assert status(state, "demo", 0) == "killed"
    assert published(out) == []
    assert published(end(state, "demo", 2)) == [(2, 1)]


def test_unknown_task_id_is_a_typed_error(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    submit(state, "demo", ["a"])
    r = reply(state.handle(ev.KillRequested(7, "demo", (5,))))
    assert isinstance(r.error, TaskNotFound)
    assert isinstance(reply(state.handle(ev.KillRequested(8, "nope", None))).error, JobNotFound)


def test_job_id_in_use_points_to_attach_and_finished_ids_are_renamed(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    submit(state, "demo", ["a"])
    r = create(state)
    assert isinstance(r.error, JobIdInUse) and 'Processor.attach("demo")' in str(r.error)
    end(state, "demo", 0)
    r = create(state)
    job, renamed = value(r, JobCreated)
    assert renamed == "demo.1" and job.name == "demo"
    assert state.jobs["demo.1"].tasks[0].status is Status.FINISHED
    assert value(create(state, "demo"), JobCreated)[1] == "demo.2"


def test_unnamed_jobs_get_unique_names(state: SchedulerState) -> None:
    names = {value(create(state, ""), JobCreated)[0].name for _ in range(3)}
    assert len(names) == 3


def test_memory_beyond_every_host_is_refused_and_threads_are_clamped(state: SchedulerState) -> None:
    add_host(state, cpus=2, mem=1000)
    create(state, "big", mem=2000)
    r, _ = submit(state, "big", ["a"])
    assert isinstance(r.error, InsufficientResources) and "mem_per_task" in str(r.error)
    create(state, "wide", cpus=8)
    r, actions = submit(state, "wide", ["a", "b"])
    assert "runs with all 2" in value(r, Submitted)[3][0]
    assert [a.cpus for a in launches(actions)] == [2]


def test_jobs_share_a_host_round_robin(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state, "a")
    create(state, "b")
    submit(state, "a", ["a0", "a1"])
    submit(state, "b", ["b0", "b1"])
    order = []
    for _ in range(4):
        running = [(j.name, t.task_id) for j in state.jobs.values() for t in j.tasks if t.status is Status.RUNNING]
        assert len(running) == 1
        order.append(running[0])
        end(state, *running[0])
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]


def test_stale_reports_are_ignored(state: SchedulerState) -> None:
    add_host(state)
    create(state, max_retries=2)
    submit(state, "demo", ["a"])
    key = state.jobs["demo"].key
    state.handle(ev.TaskLost(key, 0, 1, "agent lost", 3.0))
    assert status(state, "demo", 0) == "running" and state.jobs["demo"].tasks[0].attempt == 2
    assert published(end(state, "demo", 0, attempt=1)) == []  # the first attempt's late report
    assert status(state, "demo", 0) == "running"


def test_infrastructure_failures_are_retried_up_to_max_retries(state: SchedulerState) -> None:
    add_host(state)
    create(state, max_retries=1)
    submit(state, "demo", ["a"])
    key = state.jobs["demo"].key
    state.handle(ev.TaskLost(key, 0, 1, "executor died", 3.0))
    state.handle(ev.TaskLost(key, 0, 2, "executor died", 4.0))
    task = state.jobs["demo"].tasks[0]
    assert task.status is Status.LOST and "executor died" in task.reason and task.attempt == 2


def test_timeouts_fail_unless_timeout_retries_allow(state: SchedulerState) -> None:
    add_host(state)
    create(state, timeout_retries=1)
    submit(state, "demo", ["a"])
    end(state, "demo", 0, exit_code=None, signal=15, reason="timeout")
    assert status(state, "demo", 0) == "running"  # retried at once
    end(state, "demo", 0, exit_code=None, signal=15, reason="timeout")
    task = state.jobs["demo"].tasks[0]
    assert task.status is Status.FAILED and task.reason == "timeout"


def test_exit_codes_and_signals_mark_failed_with_a_reason(state: SchedulerState) -> None:
    add_host(state, cpus=2)
    create(state)
    submit(state, "demo", ["a", "b"])
    end(state, "demo", 0, exit_code=3)
    end(state, "demo", 1, exit_code=None, signal=9)
    tasks = state.jobs["demo"].tasks
    assert (tasks[0].status, tasks[0].reason) == (Status.FAILED, "exit code 3")
    assert (tasks[1].status, tasks[1].signal, tasks[1].reason) == (Status.FAILED, 9, "signal 9")


def test_cancel_one_call_leaves_the_others(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    submit(state, "demo", ["a", "b"], mode="stream")
    submit(state, "demo", ["c", "d"], mode="stream")
    r = reply(state.handle(ev.CancelRequested(5, "demo", 1)))
    assert r.value == 2
    assert [t.status.value for t in state.jobs["demo"].tasks] == ["running", "pending", "killed", "killed"]
    r = reply(state.handle(ev.CancelRequested(6, "demo", None)))
    assert r.value == 2 and state.jobs["demo"].cancelled


def test_output_modes_other_than_scheduler_publish_records_without_stdout(state: SchedulerState) -> None:
    add_host(state)
    create(state, output="disk", log_directory="/tmp/x")
    submit(state, "demo", ["a"])
    actions = end(state, "demo", 0)
    assert published(actions) == [(0, 1)]  # a record for get_results(details=True); no stdout kept
    saved = [a for a in actions if isinstance(a, act.SaveOutcome)]
    assert len(saved) == 1 and not saved[0].keep_stdout


def test_restore_requeues_tasks_that_were_running(state: SchedulerState) -> None:
    add_host(state, cpus=2)
    create(state)
    submit(state, "demo", ["a", "b", "c"])
    end(state, "demo", 0)
    jobs = list(state.jobs.values())
    fresh = SchedulerState()
    add_host(fresh, cpus=2)
    actions = fresh.restore(jobs)
    assert sorted(a.task_id for a in launches(actions)) == [1, 2]
    assert fresh.jobs["demo"].tasks[0].status is Status.FINISHED
    fresh.validate()
    state.hosts.clear()  # the old state's host accounting is no longer meaningful
    state.pools.clear()


def test_remove_refuses_an_active_job_and_deletes_a_finished_one(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    submit(state, "demo", ["a"])
    assert isinstance(reply(state.handle(ev.RemoveJobRequested(1, "demo"))).error, JobIdInUse)
    end(state, "demo", 0)
    actions = state.handle(ev.RemoveJobRequested(2, "demo"))
    assert any(isinstance(a, act.DeleteJob) for a in actions) and "demo" not in state.jobs


def test_illegal_transitions_raise(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    submit(state, "demo", ["a"])
    end(state, "demo", 0)
    job = state.jobs["demo"]
    with pytest.raises(InvalidTransition):
        move(state, job, job.tasks[0], Status.RUNNING)


def test_a_closed_stream_reopens_on_submission(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    submit(state, "demo", ["a"], mode="stream")
    state.handle(ev.CloseStreamRequested(3, "demo"))
    assert state.jobs["demo"].stream_closed
    submit(state, "demo", ["b"], mode="stream")
    assert not state.jobs["demo"].stream_closed and state.jobs["demo"].stream_opened


def test_the_record_reaches_the_journal_untouched(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    submit(state, "demo", ["a"])
    rec = TaskRecord(exit_code=0, stdout=b"x" * 10, stderr_tail=b"warn", peak_rss_kb=5)
    actions = state.handle(ev.TaskEnded(state.jobs["demo"].key, 0, 1, rec))
    saved = [a for a in actions if isinstance(a, act.SaveOutcome)]
    assert saved[0].record is rec and saved[0].keep_stdout


def test_a_start_is_journaled_with_the_end_not_by_itself(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    submit(state, "demo", ["a"])
    key = state.jobs["demo"].key
    started = state.handle(ev.TaskStarted(key, 0, 1, 4242, 7.0))
    assert not [a for a in started if isinstance(a, act.JOURNAL_ACTIONS)]
    assert state.jobs["demo"].tasks[0].started == 7.0
    ended = state.handle(ev.TaskEnded(key, 0, 1, TaskRecord(exit_code=0, started=7.0, ended=8.0)))
    rows = [t for a in ended if isinstance(a, act.SaveTasks) for t in a.tasks]
    assert [(t.started, t.ended) for t in rows] == [(7.0, 8.0)]
