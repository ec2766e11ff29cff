"""Issue 14, a story for every task: `stratosctl task JOB ID --story` and `Stream.story` on a
real daemon, for a task that finished, one retried after a timeout, one relaunched and one lost.

Each story is read twice: typed records through the client, and stratosctl piped (the
``story``-keyed tab-separated lines) or with --json; one terminal view is checked at 80 columns.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest

from stratos import Processor
from stratos.errors import JobNotFound, TaskNotFound
from stratos.records import StoryLine, TaskStory
from stratos_wire import stratos_pb2 as pb
from tests.daemon import Daemon, daemon_fixture
from tests.integration.ctl_helpers import run_ctl, unique_id
from tests.integration.pty_helpers import run_ctl_tty
from tests.rpc import hub_stub, stratos_stub

pytestmark = pytest.mark.timeout(90)

# a pilot silent for 1.5 s is lost (the ExecutorHub driven by hand, as tests/integration/test_hub.py)
pilots_daemon = daemon_fixture("--pilot-lost-after", "1.5", "--executor-listen", "127.0.0.1:0", name="pilots_daemon")

MONITOR = """#!/bin/sh
case "$2" in *PLEASE_RELAUNCH*) echo "stratos_relaunch"; echo "need more memory";; esac
exit 0
"""


def _script(path: Path, body: str) -> str:
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


def _moves(story: TaskStory) -> list[tuple[int, str, str]]:
    """(attempt, from, to) of the lines that moved the task."""
    return [(line.attempt, line.from_state, line.to_state) for line in story if line.moved]


def _piped(daemon: Daemon, job_id: str, task_id: int) -> list[list[str]]:
    """The ``story`` lines of piped `stratosctl task --story`, split at tabs (without the key)."""
    run = run_ctl(daemon, "task", job_id, str(task_id), "--story")
    assert run.returncode == 0, run.stderr
    assert f"task\t{task_id}" in run.stdout.splitlines()  # the usual fields come first
    return [line.split("\t")[1:] for line in run.stdout.splitlines() if line.startswith("story\t")]


def _same_lines(piped: list[list[str]], story: TaskStory) -> None:
    """Piped columns: time, attempt, from, to, event, stimulus id, reason, host, detail."""
    assert [(int(a), f, t, e, s) for _, a, f, t, e, s, *_ in piped] == [
        (line.attempt, line.from_state, line.to_state, line.event, line.stimulus_id) for line in story
    ]
    assert all(len(cells) == 9 for cells in piped)


def test_a_finished_tasks_story_is_pending_running_finished(daemon: Daemon) -> None:
    job_id = unique_id("story-done")
    job = Processor(job_id=job_id)
    before = time.time()
    assert job.batch(["echo hello"])["finished"] == 1
    story = job.stream.story(0)
    assert story == job.story(0) and isinstance(story[0], StoryLine)
    assert story.job_id == job_id and story.task_id == 0 and not story.truncated
    assert story[0].from_state == story[0].to_state == "pending" and story[0].detail == "submitted"
    assert _moves(story) == [(1, "pending", "running"), (1, "running", "finished")]
    assert all(before - 1 <= line.time <= time.time() + 1 for line in story)
    assert [line.time for line in story] == sorted(line.time for line in story)
    running = next(line for line in story if line.to_state == "running")
    assert running.host and running.event and running.stimulus_id
    assert story[-1].event == "TaskEnded" and story[-1].host == running.host
    _same_lines(_piped(daemon, job_id, 0), story)
    # --json: the task's fields and its story's lines
    run = run_ctl(daemon, "--json", "task", job_id, "0", "--story")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["task"]["status"] == "finished"
    assert [(x["from_state"], x["to_state"]) for x in data["story"]["lines"]] == [
        (line.from_state, line.to_state) for line in story
    ]


def test_a_timed_out_task_retried_once_shows_both_attempts_and_why(daemon: Daemon, tmp_path: Path) -> None:
    job_id = unique_id("story-retry")
    marker = tmp_path / "first-attempt-ran"
    job = Processor(job_id=job_id, task_timeout=1.0, timeout_retries=1)
    # the first attempt hangs past the timeout; the second finds the marker and finishes
    counts = job.batch([f"if [ -e '{marker}' ]; then echo second; else touch '{marker}'; exec sleep 60; fi"])
    assert counts["finished"] == 1
    story = job.stream.story(0)
    assert _moves(story) == [
        (1, "pending", "running"), (1, "running", "pending"), (2, "pending", "running"), (2, "running", "finished"),
    ]
    retry = next(line for line in story if line.from_state == "running" and line.to_state == "pending")
    assert retry.reason == "timeout" and "timeout" in retry.detail.lower(), retry
    # dated when they happened: the first attempt ran its 1 s timeout before the retry ended it
    moved = [line for line in story if line.moved]
    assert [line.time for line in moved] == sorted(line.time for line in moved)
    assert moved[1].time - moved[0].time >= 0.9, [line.time for line in moved]
    piped = _piped(daemon, job_id, 0)
    _same_lines(piped, story)
    assert any(cells[2:4] == ["running", "pending"] and "timeout" in cells[8].lower() for cells in piped)


def test_a_relaunched_tasks_story_names_its_replacement(daemon: Daemon, tmp_path: Path) -> None:
    job_id = unique_id("story-relaunch")
    monitor = _script(tmp_path / "monitor.sh", MONITOR)
    relauncher = _script(tmp_path / "relauncher.sh", "#!/bin/sh\necho 'echo replacement'\n")
    job = Processor(job_id=job_id, monitor=monitor, relauncher=relauncher, update_interval=0.3)
    counts = job.batch(["echo PLEASE_RELAUNCH; exec sleep 60"])
    assert counts["relaunched"] == 1 and counts["finished"] == 1
    story = job.stream.story(0)
    assert _moves(story)[0] == (1, "pending", "running")
    assert (1, "running", "relaunched") in _moves(story)
    (child,) = job.stream.task(0).relaunched_as
    child_story = job.stream.story(child)
    assert child_story[0].detail == "relaunched from task 0", child_story
    assert _moves(child_story) == [(1, "pending", "running"), (1, "running", "finished")]
    _same_lines(_piped(daemon, job_id, 0), story)
    _same_lines(_piped(daemon, job_id, child), child_story)


class _HandPilot:
    """A pilot speaking ExecutorHub by hand: it takes one task, says it started, then goes silent."""

    def __init__(self, daemon: Daemon, job_id: str, executor_id: str) -> None:
        self.channel = grpc.insecure_channel(f"unix:{daemon.socket}")
        token = stratos_stub(self.channel).GetJobToken(pb.JobRef(job_id=job_id), timeout=5).token
        self.stub = hub_stub(self.channel)
        self.job_id, self.executor_id = job_id, executor_id
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.stub.Register(pb.RegisterRequest(job_id=job_id, executor_id=executor_id, host="hand-host", cpus=1,
                                              mem=1000), metadata=self.metadata, timeout=5)

    def take_and_start(self) -> pb.TaskAssignment:
        reply = self.stub.Fetch(pb.FetchRequest(job_id=self.job_id, executor_id=self.executor_id, wait=2.0),
                                metadata=self.metadata, timeout=10)
        (task,) = reply.tasks
        self.stub.Report(pb.ReportRequest(job_id=self.job_id, executor_id=self.executor_id, report_id="s",
                                          task_id=task.task_id, attempt=task.attempt,
                                          started=pb.TaskStartedReport(pid=4242, started=time.time())),
                         metadata=self.metadata, timeout=10)
        return task


def test_a_lost_tasks_story_says_its_pilot_went_silent(pilots_daemon: Daemon) -> None:
    job_id = unique_id("story-lost")
    job = Processor(job_id=job_id, master="pilots", max_retries=0)
    stream = job.stream(["sleep 60"])
    pilot = _HandPilot(pilots_daemon, job_id, "doomed")
    try:
        pilot.take_and_start()
        assert stream.get_status(0) == "running"
        deadline = time.monotonic() + 20
        while stream.get_status(0) != "lost" and time.monotonic() < deadline:
            time.sleep(0.1)
        story = stream.story(0)
    finally:
        pilot.channel.close()
    assert _moves(story) == [(1, "pending", "running"), (1, "running", "lost")], story
    lost = story[-1]
    assert lost.reason == "lost" and lost.host == "hand-host" and "doomed" in lost.detail, lost
    _same_lines(_piped(pilots_daemon, job_id, 0), story)


def test_story_errors_are_typed(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("story-none"))
    job.batch(["true"])
    with pytest.raises(TaskNotFound):
        job.story(5)
    run = run_ctl(daemon, "task", job.job_id, "5", "--story")
    assert run.returncode == 1 and "has no task 5" in run.stderr
    assert job.remove()
    with pytest.raises(JobNotFound):
        job.stream.story(0)
    run = run_ctl(daemon, "task", job.job_id, "0", "--story")
    assert run.returncode != 0 and "no job named" in run.stderr


def test_the_story_fits_80_columns_and_prints_text_literally(daemon: Daemon) -> None:
    job_id = unique_id("story-tty")
    job = Processor(job_id=job_id, task_timeout=0.5)
    command = "echo '[bold]x[/bold] :smile:'; exec sleep 30"
    assert job.batch([command])["failed"] == 1
    story = job.stream.story(0)
    screen = run_ctl_tty(daemon, "task", job_id, "0", "--story", columns=80)
    assert screen.status == 0, screen.stderr
    assert "Traceback" not in screen.stderr
    assert all(len(line) <= 80 for line in screen.lines), screen.text
    assert "[bold]x[/bold] :smile:" in screen.text  # the command, literally
    head = next(i for i, line in enumerate(screen.lines) if line.split() == ["story"])
    table = screen.lines[head + 1:]
    assert table[0].split()[:3] == ["TIME", "TRY", "STATUS"] or table[0].split()[:2] == ["TIME", "STATUS"]
    for text in ("pending -> running", "running -> failed", "TaskEnded" if story[-1].event == "TaskEnded" else
                 story[-1].event, "ago"):
        assert text in "\n".join(table), (text, screen.text)
