"""stratosctl: parsing and printing over the client library (fake daemon)."""

from __future__ import annotations

import json
import re
import sys

import grpc
import pytest

from stratos import ctl
from stratos_wire import stratos_pb2 as pb

from .fake_daemon import FakeStratos


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = ctl.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def job(daemon: FakeStratos) -> FakeStratos:
    daemon.jobs["demo"] = pb.JobInfo(job_id="demo", state="active")
    daemon.status = pb.JobStatus(
        job_id="demo", state="active", master="local", total=10,
        counts=pb.StatusCounts(pending=2, running=3, finished=4, failed=1),
        results_available=4, stream_opened=True, created=1.7e9,
    )
    return daemon


@pytest.mark.parametrize(
    "command", [[], ["jobs"], ["status"], ["tasks"], ["task"], ["results"], ["add"], ["kill"],
                ["cancel"], ["rm"], ["gc"], ["wait"]],
)
def test_every_subcommand_has_help(command: list[str], capsys: pytest.CaptureFixture[str]
                                   ) -> None:
    with pytest.raises(SystemExit) as info:
        ctl.main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: stratosctl" in capsys.readouterr().out


def test_jobs_piped_is_tab_separated(job: FakeStratos, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    status, out, _ = _run(capsys, "jobs")
    assert status == 0
    fields = out.splitlines()[0].split("\t")
    assert fields[:9] == ["demo", "active", "local", "10", "2", "3", "4", "1", "4"]


def test_jobs_json(job: FakeStratos, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "--json", "jobs")
    assert status == 0
    (entry,) = json.loads(out)
    assert entry["job_id"] == "demo"
    assert entry["counts"]["running"] == 3


def test_status_piped_and_json_after_the_subcommand(
    job: FakeStratos, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _run(capsys, "status", "demo")
    lines = dict(line.split("\t", 1) for line in out.splitlines())
    assert lines["progress"] == "5/10 tasks ended (50%)"
    assert lines["failed"] == "1"
    assert lines["stream"] == "open"
    _, out, _ = _run(capsys, "status", "demo", "--json")
    assert json.loads(out)["total"] == 10


def test_tasks_and_task(job: FakeStratos, capsys: pytest.CaptureFixture[str]) -> None:
    job.tasks = [
        pb.TaskSummary(task_id=1, status="finished", command="echo 1", host="h",
                       attempts=1, has_exit_code=True, exit_code=0, duration=1.25),
        pb.TaskSummary(task_id=2, status="killed", command="sleep 9", signal=15),
    ]
    _, out, _ = _run(capsys, "tasks", "demo")
    assert out.splitlines() == ["1\tfinished\th\t1\texit 0\t1.2\techo 1",
                                "2\tkilled\t-\t0\tsignal 15\t0.0\tsleep 9"]
    _, out, _ = _run(capsys, "tasks", "demo", "--state", "killed")
    assert len(out.splitlines()) == 1
    job.task_detail = pb.TaskDetail(
        summary=job.tasks[0], stderr_tail="warning: x\n", sandbox="/s/1", has_parent=True,
        relaunched_from=0, relaunched_as=[7, 8], notes=["monitor crashed"],
    )
    _, out, _ = _run(capsys, "task", "demo", "1")
    lines = dict(line.split("\t", 1) for line in out.splitlines())
    assert lines["command"] == "echo 1"
    assert lines["outcome"] == "exit 0"
    assert lines["relaunched from"] == "0"
    assert lines["relaunched as"] == "7, 8"
    assert lines["stderr tail"] == "warning: x"
    assert lines["sandbox"] == "/s/1"


def _story_line(**fields: object) -> pb.StoryLine:
    line = {"time": 1.7e9, "attempt": 1, "from_status": "running", "to_status": "pending", "event": "TaskEnded",
            "stimulus_id": "TaskEnded-5", "reason": "timeout", "host": "node-1", "detail": "timeout"}
    return pb.StoryLine(**{**line, **fields})  # type: ignore[arg-type]


def test_task_story_piped_json_and_notes(job: FakeStratos, capsys: pytest.CaptureFixture[str]) -> None:
    job.task_detail = pb.TaskDetail(summary=pb.TaskSummary(task_id=1, status="pending", command="x"))
    job.task_story = pb.TaskStory(job_id="demo", task_id=1, lines=[
        _story_line(attempt=0, from_status="pending", to_status="pending", event="SubmitRequested",
                    stimulus_id="Submit-1", reason="", host="", detail="submitted"),
        _story_line(detail="tab\there\nnewline"),
    ])
    _, out, _ = _run(capsys, "task", "demo", "1", "--story")
    story = [line.split("\t") for line in out.splitlines() if line.startswith("story\t")]
    assert [cells[2:] for cells in story] == [
        ["0", "pending", "pending", "SubmitRequested", "Submit-1", "-", "-", "submitted"],
        ["1", "running", "pending", "TaskEnded", "TaskEnded-5", "timeout", "node-1", "tab here\\nnewline"],
    ]
    assert "story-note" not in out
    _, out, _ = _run(capsys, "task", "demo", "1")  # without --story: no story asked for, none printed
    assert "story" not in out
    _, out, _ = _run(capsys, "--json", "task", "demo", "1", "--story")
    data = json.loads(out)
    assert data["task"]["task_id"] == 1 and data["story"]["truncated"] is False
    assert data["story"]["lines"][1] == {
        "time": 1.7e9, "attempt": 1, "from_state": "running", "to_state": "pending", "event": "TaskEnded",
        "stimulus_id": "TaskEnded-5", "reason": "timeout", "host": "node-1", "detail": "tab\there\nnewline",
    }
    job.task_story = pb.TaskStory(job_id="demo", task_id=1, lines=[_story_line()], truncated=True)
    _, out, _ = _run(capsys, "task", "demo", "1", "--story")
    assert "story-note\tearlier lines of this story were dropped" in out
    job.task_story = pb.TaskStory(job_id="demo", task_id=1)
    _, out, _ = _run(capsys, "task", "demo", "1", "--story")
    assert "story-note\tno story kept for this task" in out
    job.fail["GetTaskStory"] = ("TaskNotFound", grpc.StatusCode.NOT_FOUND, "job demo has no task 1")
    status, _, err = _run(capsys, "task", "demo", "1", "--story")
    assert (status, err) == (1, "stratosctl: job demo has no task 1\n")


def test_task_story_in_a_narrow_terminal_drops_host_and_try_first(
    job: FakeStratos, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "60")
    job.task_detail = pb.TaskDetail(summary=pb.TaskSummary(task_id=1, status="pending", command="x"))
    job.task_story = pb.TaskStory(job_id="demo", task_id=1, lines=[
        _story_line(host="a-very-long-host-name.cluster.example.org", detail="[bold]retried after: " + "x " * 40),
    ])
    _, out, _ = _run(capsys, "task", "demo", "1", "--story")
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert all(len(line) <= 60 for line in out.splitlines()), out
    assert "HOST" not in out and "TRY" not in out and "running -> pending" in out
    assert "[bold]retried" in out  # literally, wrapped at a space


def test_results_read_without_consuming(job: FakeStratos, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    job.results_script = [
        pb.ResultsServerMessage(batch=pb.ResultBatch(records=[
            pb.ResultRecord(seq=1, task_id=1, stdout=b"one"),
            pb.ResultRecord(seq=2, task_id=2, stdout=b"two\n"),
        ])),
        pb.ResultsServerMessage(end=pb.ResultsEnd(upto_seq=2)),
    ]
    _, out, _ = _run(capsys, "results", "demo", "--from", "1")
    assert out == "one\ntwo\n"
    assert job.results_opens[-1].consume is False
    assert job.results_opens[-1].from_seq == 1
    _, out, _ = _run(capsys, "--json", "results", "demo")
    assert [json.loads(line)["stdout"] for line in out.splitlines()] == ["one", "two\n"]
    assert job.acks == []


def test_results_consume(job: FakeStratos, capsys: pytest.CaptureFixture[str]) -> None:
    job.results_script = [pb.ResultsServerMessage(end=pb.ResultsEnd(upto_seq=4)), "ack"]
    status, _, _ = _run(capsys, "results", "demo", "--consume", "--consumer", "me")
    assert status == 0
    assert job.acks == [4]
    assert job.results_opens[-1].consumer == "me"
    status, _, err = _run(capsys, "results", "demo", "--consume", "--follow")
    assert (status, err.startswith("stratosctl: --consume")) == (1, True)


def test_add_kill_cancel_rm(job: FakeStratos, capsys: pytest.CaptureFixture[str]) -> None:
    job.submit_reply = pb.SubmitReply(first_task_id=11, count=2)
    assert _run(capsys, "add", "demo", "echo a; echo b", "echo c")[1] == "added 2 tasks (11-12)\n"
    assert job.submissions[-1].items == ["echo a; echo b", "echo c"]
    job.submit_reply = pb.SubmitReply(first_task_id=11, count=3, ranges=[pb.TaskRange(first=11, count=2),
                                                                          pb.TaskRange(first=14, count=1)])
    assert _run(capsys, "add", "demo", "echo a; echo b", "echo c")[1] == "added 3 tasks (11-14, with gaps)\n"
    assert json.loads(_run(capsys, "--json", "add", "demo", "x")[1])["task_ids"] == [11, 12, 14]
    job.task_detail = pb.TaskDetail(summary=pb.TaskSummary(status="running"))
    assert _run(capsys, "kill", "demo", "3", "4")[1] == "killed 2 tasks\n"
    assert _run(capsys, "kill", "demo")[1] == "killed 5 tasks\n"
    assert _run(capsys, "--json", "cancel", "demo")[1].strip() == '{\n  "cancelled": 3\n}'
    assert _run(capsys, "rm", "demo")[1].splitlines()[0] == "removed demo: 2 tasks, 2 results"
    assert job.removed == ["demo"]


def test_wait_piped_prints_lines_and_exit_status(
    job: FakeStratos, capsys: pytest.CaptureFixture[str]
) -> None:
    job.wait_messages = [
        pb.WaitProgress(done=False, total=2, counts=pb.StatusCounts(running=2)),
        pb.WaitProgress(done=True, total=2, counts=pb.StatusCounts(finished=1, failed=1)),
    ]
    status, out, _ = _run(capsys, "wait", "demo")
    assert status == 2
    assert out.splitlines() == ["demo: 0/2 ended (running 2), ETA --",
                                "demo: 2/2 ended (finished 1, failed 1)"]


def test_terminal_output_uses_rich(job: FakeStratos, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    _, out, _ = _run(capsys, "jobs")
    assert "JOB" in out and "demo" in out
    job.wait_messages = [pb.WaitProgress(done=True, total=1, counts=pb.StatusCounts(finished=1))]
    assert _run(capsys, "wait", "demo")[0] == 0


def test_errors_are_one_line_and_exit_1(daemon: FakeStratos,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "status", "nope")
    assert (status, out) == (1, "")
    assert err == "stratosctl: no job 'nope'\n"
    daemon.fail["Hello"] = ("PermissionDenied", grpc.StatusCode.PERMISSION_DENIED, "go away")
    from stratos import _connection

    _connection._CACHE.clear()
    status, _, err = _run(capsys, "jobs")
    assert (status, err) == (1, "stratosctl: go away\n")


def test_terminal_cells_relative_times_short_durations_and_fitting() -> None:
    now = 1.7e9
    assert ctl._display(ctl.Stamp(now - 5), now=now) == "5 s ago"
    assert ctl._display(ctl.Stamp(now - 180), now=now) == "3 min ago"
    assert ctl._display(ctl.Stamp(now - 3 * 86400), now=now) == "3 days ago"
    assert ctl._display(ctl.Stamp(0), now=now) == "-"
    assert ctl._cell(ctl.Stamp(0)) == "-"  # piped: the absolute time, or "-"
    assert [ctl._display(ctl.Seconds(s)) for s in (1.25, 125, 11220)] == ["1.2s", "2m05s", "3h07m"]
    assert ctl._cell(ctl.Seconds(125)) == "125.0"  # piped: plain seconds
    assert ctl._cell("[bold]x[/]") == "[bold]x[/]"
    columns = [ctl.Column("A"), ctl.Column("B", drop=1), ctl.Column("C", drop=2), ctl.Column("D")]
    cells = [["a" * 10, "b" * 10, "c" * 10, "d" * 10]]
    assert ctl._fit(columns, cells, 46) == [0, 1, 2, 3]
    assert ctl._fit(columns, cells, 45) == [0, 1, 3]  # the highest drop goes first
    assert ctl._fit(columns, cells, 20) == [0, 3]  # never a column without drop
