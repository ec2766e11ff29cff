"""`stratosctl task JOB ID --story` content through the runtime, in process: each line names the
request or backend report (its stimulus id, as the runtime stamps it) that moved the task.

tests/integration/test_ctl_story.py covers the same four stories through a real daemon and
stratosctl; these run in milliseconds and check what the lines say against what was sent.
"""

from __future__ import annotations

import signal

from stratos_executor.spec import Relaunch
from stratos_wire import stratos_pb2 as pb
from tests.harness.backend import RUNS, Outcome
from tests.harness.harness import Harness


def _story(harness: Harness, job: str, task_id: int) -> list[pb.StoryLine]:
    """What GetTaskStory answers (stratosctl task --story prints it)."""
    story = harness.call(harness.servicer.GetTaskStory, pb.TaskRef(job_id=job, task_id=task_id))
    assert not story.truncated
    return list(story.lines)


def _moves(lines: list[pb.StoryLine]) -> list[tuple[int, str, str]]:
    return [(line.attempt, line.from_status, line.to_status) for line in lines if line.from_status != line.to_status]


def _moved(lines: list[pb.StoryLine]) -> list[pb.StoryLine]:
    return [line for line in lines if line.from_status != line.to_status]


def test_a_finished_tasks_story(harness: Harness) -> None:
    job = harness.create("done")
    harness.backend.script("work", RUNS)
    harness.submit(job, ["work"])
    submitted = harness.clock()
    harness.clock.advance(5)
    (ref,) = harness.backend.running()
    harness.backend.finish(ref, Outcome(stdout="hi\n"))
    harness.settle()
    lines = _story(harness, job, 0)
    assert (lines[0].from_status, lines[0].to_status, lines[0].detail) == ("pending", "pending", "submitted")
    assert lines[0].event == "SubmitRequested" and lines[0].stimulus_id.startswith("Submit-")
    assert _moves(lines) == [(1, "pending", "running"), (1, "running", "finished")]
    running, finished = _moved(lines)
    assert running.host == finished.host == "h1"
    assert finished.event == "TaskEnded" and finished.stimulus_id.startswith("TaskEnded-")
    assert running.time == submitted and finished.time == submitted + 5  # when each report said


def test_a_retried_tasks_story_says_why_it_ran_again(harness: Harness) -> None:
    timed_out = Outcome(exit_code=None, signal=signal.SIGTERM, reason="timeout")
    harness.backend.script("slow", timed_out, Outcome(stdout="second\n"))
    job = harness.create("retried", task_timeout=1.0, timeout_retries=1)
    assert harness.batch(job, ["slow"])["finished"] == 1
    lines = _story(harness, job, 0)
    assert _moves(lines) == [
        (1, "pending", "running"), (1, "running", "pending"), (2, "pending", "running"), (2, "running", "finished"),
    ]
    retry = _moved(lines)[1]
    assert retry.reason == "timeout" and "timeout" in retry.detail.lower() and retry.event == "TaskEnded"
    # launched by the submission; the first end both sends it back and launches it again; the second ends it
    launch, ended, relaunch, finished = (line.stimulus_id for line in _moved(lines))
    assert launch.startswith("Submit-") and ended == relaunch != finished and finished.startswith("TaskEnded-")


def test_a_relaunched_tasks_story_names_its_replacement(harness: Harness) -> None:
    harness.backend.script("stuck", Outcome(exit_code=None, signal=signal.SIGTERM, reason="relaunch",
                                            relaunch=Relaunch.REPLACED, replacements=("echo replacement",)))
    job = harness.create("relaunch", relauncher="/bin/relaunch")
    counts = harness.batch(job, ["stuck"])
    assert counts["relaunched"] == 1 and counts["finished"] == 1
    lines = _story(harness, job, 0)
    assert _moves(lines) == [(1, "pending", "running"), (1, "running", "relaunched")]
    (child,) = harness.task(job, 0).children
    child_lines = _story(harness, job, child)
    assert child_lines[0].detail == "relaunched from task 0"
    assert child_lines[0].stimulus_id == _moved(lines)[-1].stimulus_id  # the same report made it
    assert _moves(child_lines) == [(1, "pending", "running"), (1, "running", "finished")]
    assert harness.results(job) == ["replacement\n"]


def test_a_lost_tasks_story_names_the_host_that_went(harness: Harness) -> None:
    job = harness.create("lost", max_retries=0)
    harness.stream(job, ["sleep 60"])
    harness.backend.lose_host("h1", "pilot silent for 30 s")
    harness.settle()
    lines = _story(harness, job, 0)
    assert _moves(lines) == [(1, "pending", "running"), (1, "running", "lost")]
    lost = lines[-1]
    assert lost.reason == "lost" and lost.host == "h1" and "pilot silent" in lost.detail, lost
    assert lost.event == "HostRemoved" and lost.stimulus_id.startswith("HostRemoved-")
