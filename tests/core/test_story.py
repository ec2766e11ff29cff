"""Task stories: each transition and decision, with the event and stimulus id that caused it."""

from __future__ import annotations

from stratos_executor.spec import Relaunch
from stratosd.core import events as ev
from stratosd.core.model import Status
from stratosd.core.state import SchedulerState
from stratosd.core.story import StoryEntry
from stratosd.core.types import TaskEndReason
from tests.core.helpers import add_host, create, end, reply, submit

P, R = Status.PENDING, Status.RUNNING


def moves(entries: tuple[StoryEntry, ...]) -> list[tuple[int, Status, Status]]:
    return [(e.attempt, e.start, e.finish) for e in entries]


def test_a_finished_task_s_story(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    state.handle(ev.SubmitRequested(7, "demo", "batch", "/tmp", {}, ["a"], 2.0, stimulus_id="Submit-7"))
    end(state, "demo", 0)
    story = state.story("demo", 0)
    assert moves(story.entries) == [(0, P, P), (1, P, R), (1, R, Status.FINISHED)]
    submitted, launched, finished = story.entries
    assert (submitted.detail, submitted.event, submitted.stimulus_id) == ("submitted", "SubmitRequested", "Submit-7")
    assert (launched.detail, launched.host, launched.stimulus_id) == ("launched", "h1", "Submit-7")
    assert finished.event == "TaskEnded" and not story.truncated


def test_a_retried_then_lost_task_s_story(state: SchedulerState) -> None:
    add_host(state, host="h1")
    create(state, max_retries=1)
    submit(state, "demo", ["a"])
    state.handle(ev.HostRemoved("h1", "no word from it", 3.0, stimulus_id="tick-1"))
    add_host(state, host="h2")
    state.handle(ev.TaskLost(state.jobs["demo"].key, 0, 2, "its executor was stopped", 4.0, stimulus_id="report-9"))
    entries = state.story("demo", 0).entries
    assert moves(entries) == [(0, P, P), (1, P, R), (1, R, P), (2, P, R), (2, R, Status.LOST)]
    retried, lost = entries[2], entries[4]
    assert retried.why is TaskEndReason.RETRIED and retried.stimulus_id == "tick-1" and retried.host == "h1"
    assert retried.detail == "retried after: host h1 left: no word from it"
    assert lost.why is TaskEndReason.LOST and lost.stimulus_id == "report-9" and lost.when == 4.0


def test_a_relaunched_task_and_its_replacements_s_story(state: SchedulerState) -> None:
    add_host(state, cpus=4)
    create(state)
    submit(state, "demo", ["a"])
    end(state, "demo", 0, exit_code=None, signal=15, reason="relaunch", relaunch=Relaunch.REPLACED,
        replacements=["b", "c"])
    assert moves(state.story("demo", 0).entries)[-1] == (1, R, Status.RELAUNCHED)
    child = state.story("demo", 1).entries
    assert child[0].detail == "relaunched from task 0" and child[0].event == "TaskEnded"
    assert moves(child) == [(0, P, P), (1, P, R)]


def test_decisions_that_move_nothing_are_in_the_story_too(state: SchedulerState) -> None:
    add_host(state)
    create(state)
    submit(state, "demo", ["a"])
    key = state.jobs["demo"].key
    state.handle(ev.KillRequested(8, "demo", (0,), stimulus_id="Kill-8"))
    end(state, "demo", 0, attempt=7)  # a report about an attempt that never ran
    details = [(e.detail, e.start, e.finish) for e in state.story("demo", 0).entries[2:]]
    assert details == [("kill requested", R, R), ("a report about attempt 7 was ignored (stale)", R, R)]
    assert state.stories.story(key, 0) == state.story("demo", 0)


def test_a_story_is_bounded_per_job_and_goes_with_its_job() -> None:
    state = SchedulerState(story_length=4, validate=True)
    add_host(state, cpus=1)
    create(state)
    submit(state, "demo", ["a", "b", "c"])
    for task_id in range(3):
        end(state, "demo", task_id)
    story = state.story("demo", 0)
    assert story.entries == () and story.truncated  # its lines were the oldest: dropped
    last = state.story("demo", 2)
    assert moves(last.entries) == [(1, P, R), (1, R, Status.FINISHED)] and last.truncated  # its creation dropped
    assert len(state.stories) == 4
    reply(state.handle(ev.RemoveJobRequested(9, "demo")))
    assert len(state.stories) == 0


def test_a_restart_begins_the_stories_of_unended_tasks_again(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    submit(state, "demo", ["a", "b"])
    fresh = SchedulerState(validate=True)
    add_host(fresh, cpus=1)
    fresh.restore(list(state.jobs.values()))
    state.hosts.clear()  # the old state's host accounting is no longer meaningful
    state.pools.clear()
    story = fresh.story("demo", 1)
    assert story.entries[0].detail == "restored from the journal: pending" and story.entries[0].event == "restore"
    assert not story.truncated
