"""Processor and Stream against a scripted fake daemon: what the client sends and returns."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import grpc
import pytest

from stratos import (
    DaemonUnavailable,
    InvalidJobSpec,
    JobIdInUse,
    JobNotFound,
    Processor,
    ProtocolMismatch,
    Settings,
    StratosError,
    Stream,
    TaskResult,
)
from stratos_wire import stratos_pb2 as pb

from .fake_daemon import FakeStratos


def _counts(**values: int) -> pb.StatusCounts:
    return pb.StatusCounts(**values)


def _batch(*records: pb.ResultRecord) -> pb.ResultsServerMessage:
    return pb.ResultsServerMessage(batch=pb.ResultBatch(records=records))


def _end(upto: int) -> pb.ResultsServerMessage:
    return pb.ResultsServerMessage(end=pb.ResultsEnd(upto_seq=upto))


# -- connecting and creating -------------------------------------------------------------


def test_processor_creates_the_job_with_its_spec(daemon: FakeStratos, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    job = Processor(threads_per_task=2, job_id="demo", task_timeout=30.0)
    assert job.job_id == "demo"
    (request,) = daemon.created
    assert request.job_id == "demo"
    assert request.spec.threads_per_task == 2.0
    assert request.spec.task_timeout == 30.0
    assert request.spec.log_directory == str(tmp_path / "stratos-logs")
    assert isinstance(job.stream, Stream)
    assert job.settings.job_id == "demo"


def test_daemon_chooses_the_id_when_none_is_given(daemon: FakeStratos) -> None:
    assert Processor().job_id == "job-1"
    assert daemon.created[0].job_id == ""


def test_invalid_settings_fail_before_any_rpc(daemon: FakeStratos) -> None:
    with pytest.raises(InvalidJobSpec, match="output"):
        Processor(output="stdout")  # type: ignore[arg-type]
    with pytest.raises(InvalidJobSpec, match="did you mean 'max_retries'"):
        Processor(max_retry=1)
    assert daemon.created == []


def test_settings_object_is_the_base(daemon: FakeStratos) -> None:
    job = Processor(settings=Settings(mem_per_task=1024.0), threads_per_task=3)
    spec = daemon.created[0].spec
    assert (spec.mem_per_task, spec.threads_per_task) == (1024.0, 3.0)
    assert job.settings.mem_per_task == 1024.0


def test_job_id_in_use_surfaces_the_daemons_message(daemon: FakeStratos) -> None:
    message = 'job "demo" still has 4 unended tasks: use Processor.attach("demo")'
    daemon.fail["CreateJob"] = ("JobIdInUse", grpc.StatusCode.ALREADY_EXISTS, message)
    with pytest.raises(JobIdInUse) as info:
        Processor(job_id="demo")
    assert str(info.value) == message


def test_attach_gets_the_job(daemon: FakeStratos) -> None:
    Processor(job_id="demo", mem_per_task=64.0)
    again = Processor.attach("demo")
    assert again.job_id == "demo"
    assert again.settings.mem_per_task == 64.0
    with pytest.raises(JobNotFound, match="no job 'other'"):
        Processor.attach("other")


def test_protocol_mismatch(daemon: FakeStratos) -> None:
    daemon.protocol_version = 99
    with pytest.raises(ProtocolMismatch, match=r"client speaks protocol 1, stratosd at .* speaks 99"
                       r": upgrade/restart the daemon with `stratosd stop`"):
        Processor()


def test_no_daemon_and_no_autostart(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    socket = short_dir / "none.sock"
    monkeypatch.setenv("STRATOS_SOCKET", str(socket))
    monkeypatch.setenv("STRATOS_NO_AUTOSTART", "1")
    with pytest.raises(DaemonUnavailable) as info:
        Processor()
    assert str(info.value) == (
        f"stratosd is not running at {socket}; start it with `stratosd run`"
    )


def test_no_autostart_means_no_daemon_for_any_master(short_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Every master may start the daemon (issue 16); STRATOS_NO_AUTOSTART still forbids it.
    monkeypatch.setenv("STRATOS_SOCKET", str(short_dir / "none.sock"))
    monkeypatch.setenv("STRATOS_NO_AUTOSTART", "1")
    monkeypatch.setenv("STRATOS_RECONNECT_TIMEOUT", "0")
    with pytest.raises(DaemonUnavailable, match="stratosd is not running"):
        Processor(master="foam:5050")
    assert not (short_dir / "none.sock.lock").exists()


def test_socket_path_too_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOS_SOCKET", str(tmp_path / ("x" * 120) / "s.sock"))
    with pytest.raises(DaemonUnavailable, match="longer than the 107 bytes"):
        Processor()


# -- submissions -------------------------------------------------------------------------


def test_glob_stream_sends_header_and_pattern(daemon: FakeStratos, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MY_VAR", "42")
    job = Processor(job_id="demo")
    assert job.glob_stream("gsnap -nt 01111 %f%", "snap/*_2*") is job.stream
    (sub,) = daemon.submissions
    assert sub.header.job_id == "demo"
    assert sub.header.kind == pb.GLOB
    assert sub.header.mode == pb.STREAM
    assert sub.header.template == "gsnap -nt 01111 %f%"
    assert sub.header.cwd == str(tmp_path)
    assert sub.header.env["MY_VAR"] == "42"
    assert sub.items == ["snap/*_2*"]


def test_template_stream_sends_normalised_rows(daemon: FakeStratos) -> None:
    Processor().template_stream("program -direction %c% %c%", ["0.3 1.1 0.67, file1", "a ,b"])
    (sub,) = daemon.submissions
    assert (sub.header.kind, sub.header.mode) == (pb.TEMPLATE, pb.STREAM)
    assert sub.rows == [["0.3 1.1 0.67", "file1"], ["a", "b"]]


def test_stream_call_and_add_submit_plain_commands(daemon: FakeStratos) -> None:
    daemon.submit_reply = pb.SubmitReply(call_id=1, first_task_id=10, count=2)
    job = Processor()
    assert job.stream("echo a; echo b") is job.stream
    assert job.stream.add(["cd /x; make", "echo c"]) == range(10, 12)
    first, second = daemon.submissions
    assert (first.header.kind, first.header.mode) == (pb.PLAIN, pb.STREAM)
    assert first.items == ["echo a", "echo b"]
    assert second.items == ["cd /x; make", "echo c"]


def test_hundred_thousand_commands_arrive_in_bounded_chunks(daemon: FakeStratos) -> None:
    daemon.wait_messages = [pb.WaitProgress(done=True, total=100_000,
                                            counts=_counts(finished=100_000))]
    commands = "\n".join(f"echo {i}" for i in range(100_000))
    counts = Processor().batch(commands)
    (sub,) = daemon.submissions
    assert len(sub.items) == 100_000
    assert sub.items[-1] == "echo 99999"
    assert max(sub.chunk_sizes) <= 1000
    assert max(sub.chunk_bytes) <= (1 << 20) + 64
    assert counts["finished"] == 100_000


def test_submit_warnings_are_logged(daemon: FakeStratos, caplog: pytest.LogCaptureFixture) -> None:
    daemon.submit_reply = pb.SubmitReply(warnings=["pattern 'x*' matched nothing"])
    with caplog.at_level(logging.WARNING, logger="stratos"):
        Processor().glob_stream("cat %f%", "x*")
    assert "pattern 'x*' matched nothing" in caplog.text


def test_batch_waits_for_its_call_and_returns_counts(
    daemon: FakeStratos, caplog: pytest.LogCaptureFixture
) -> None:
    daemon.submit_reply = pb.SubmitReply(call_id=7, first_task_id=1, count=4)
    daemon.wait_messages = [
        pb.WaitProgress(done=False, total=4, counts=_counts(running=4)),
        pb.WaitProgress(done=True, total=4, counts=_counts(finished=2, failed=2),
                        failed_task_ids=[3, 4],
                        failures=[pb.FailedTask(task_id=3, has_exit_code=True, exit_code=1),
                                  pb.FailedTask(task_id=4, has_exit_code=True, exit_code=2)]),
    ]
    with caplog.at_level(logging.WARNING, logger="stratos"):
        counts = Processor(job_id="demo").template_batch("p %c%", [["1"], ["2"], ["3"], ["4"]])
    assert counts == {"pending": 0, "running": 0, "finished": 2, "failed": 2, "killed": 0,
                      "relaunched": 0, "lost": 0}
    (wait,) = daemon.waits
    assert (wait.job_id, wait.has_call, wait.call_id) == ("demo", True, 7)
    # one record: the summary (counts, time, rate), then the failed tasks
    assert "job 'demo': 4 tasks in " in caplog.text
    assert "2 finished, 2 failed; tasks 3, 4 failed (exit 1, 2)" in caplog.text
    assert "`stratosctl retry demo --failed`" in caplog.text  # the summary says how to run them again
    assert daemon.submissions[0].header.mode == pb.BATCH


def test_ctrl_c_during_a_batch_cancels_its_call(
    daemon: FakeStratos, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.submit_reply = pb.SubmitReply(call_id=5)
    daemon.wait_messages = [pb.WaitProgress(done=False, total=3), None]

    def interrupt(self: Processor, progress: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Processor, "_log_progress", interrupt)
    with pytest.raises(KeyboardInterrupt):
        Processor(job_id="demo").glob_batch("cat %f%", "*")
    (cancel,) = daemon.cancels
    assert (cancel.job_id, cancel.has_call, cancel.call_id) == ("demo", True, 5)
    assert "cancelled 3 tasks of this call" in capsys.readouterr().err


def test_wait_ending_without_done_is_an_error(daemon: FakeStratos) -> None:
    daemon.wait_messages = [pb.WaitProgress(done=False)]
    with pytest.raises(StratosError, match="ended the wait"):
        Processor().batch("true")


# -- wait, status, tasks -----------------------------------------------------------------


def test_wait_without_stream_returns_false(daemon: FakeStratos) -> None:
    daemon.status = pb.JobStatus(stream_opened=False)
    assert Processor().wait() is False
    assert daemon.waits == [] and daemon.closed_streams == []


def test_wait_waits_for_the_job_then_closes_the_stream(daemon: FakeStratos) -> None:
    daemon.status = pb.JobStatus(stream_opened=True)
    job = Processor(job_id="demo")
    assert job.wait() is True
    (wait,) = daemon.waits
    assert (wait.job_id, wait.has_call) == ("demo", False)
    assert daemon.closed_streams == ["demo"]


def test_stream_counts_and_lookups(daemon: FakeStratos) -> None:
    daemon.status = pb.JobStatus(total=10, counts=_counts(pending=3, running=2, finished=5),
                                 stream_closed=True)
    daemon.tasks = [pb.TaskSummary(task_id=i, status="running" if i % 2 else "pending")
                    for i in range(1, 8)]
    daemon.task_detail = pb.TaskDetail(
        summary=pb.TaskSummary(task_id=423, command="gsnap f", status="finished"))
    s = Processor().stream
    assert s.count_running_tasks() == 2
    assert s.count_unfinished_tasks() == 5
    assert s.count_total_tasks() == 10
    assert s.list_running_tasks() == [1, 3, 5, 7]
    assert s.get_command(423) == "gsnap f"
    assert s.get_status(423) == "finished"
    assert s.closed() is True
    assert [t.task_id for t in s.tasks("pending")] == [2, 4, 6]


def test_kill_and_cancel(daemon: FakeStratos) -> None:
    job = Processor(job_id="demo")
    assert job.stream.kill(4) == 1
    assert job.stream.kill(4, 5, 6) == 3
    assert job.stream.kill_all() == 5
    assert [list(k.task_ids) for k in daemon.kills] == [[4], [4, 5, 6], []]
    assert job.cancel() == 3
    assert daemon.cancels[0].has_call is False


# -- results -----------------------------------------------------------------------------


def test_get_results_reassembles_acks_and_returns_strings(daemon: FakeStratos) -> None:
    daemon.results_script = [
        _batch(pb.ResultRecord(seq=1, task_id=1, stdout=b"1\t2.5\n"),
               pb.ResultRecord(seq=2, task_id=2, stdout=b"part one ", more=True)),
        _batch(pb.ResultRecord(seq=2, task_id=2, stdout=b"part two")),
        _end(2),
        "ack",
    ]
    results = Processor(job_id="demo").get_results()
    assert results == ["1\t2.5\n", "part one part two"]
    assert daemon.acks == [2]
    (opened,) = daemon.results_opens
    assert (opened.job_id, opened.consumer, opened.consume, opened.details) == (
        "demo", "", True, False)


def test_get_results_with_details_and_a_consumer(daemon: FakeStratos) -> None:
    daemon.results_script = [
        _batch(pb.ResultRecord(seq=5, task_id=3, stdout=b"x", command="c", status="failed",
                               has_exit_code=True, exit_code=2, host="n1", duration=0.5)),
        _end(5),
        "ack",
    ]
    (result,) = Processor().get_results("mine", details=True)
    assert result == TaskResult(task_id=3, command="c", status="failed", exit_code=2,
                                signal=None, host="n1", duration=0.5, stdout="x",
                                truncated=False, seq=5)
    assert daemon.results_opens[0].consumer == "mine"
    assert daemon.results_opens[0].details is True


def test_no_new_results_still_acknowledges(daemon: FakeStratos) -> None:
    daemon.results_script = [_end(9), "ack"]
    assert Processor().get_results() == []
    assert daemon.acks == [9]


def test_broken_stream_acknowledges_nothing(daemon: FakeStratos) -> None:
    daemon.results_script = [_batch(pb.ResultRecord(seq=1, task_id=1, stdout=b"a")), "break"]
    with pytest.raises(DaemonUnavailable):
        Processor().get_results()
    assert daemon.acks == []


def test_end_in_the_middle_of_a_task_acknowledges_nothing(daemon: FakeStratos) -> None:
    daemon.results_script = [
        _batch(pb.ResultRecord(seq=1, task_id=1, stdout=b"a", more=True)), _end(1), "ack",
    ]
    with pytest.raises(StratosError, match="middle of a task"):
        Processor().get_results()
    assert daemon.acks == []


def test_read_results_does_not_consume(daemon: FakeStratos) -> None:
    daemon.results_script = [
        _batch(pb.ResultRecord(seq=3, task_id=1, stdout=b"a"),
               pb.ResultRecord(seq=4, task_id=2, stdout=b"b")),
        _end(4),
    ]
    results = list(Processor().read_results(from_seq=3))
    assert [r.seq for r in results] == [3, 4]
    (opened,) = daemon.results_opens
    assert (opened.consume, opened.from_seq, opened.follow) == (False, 3, False)
    assert daemon.acks == []


def test_connections_are_shared_per_socket(daemon: FakeStratos) -> None:
    first, second = Processor(), Processor()
    assert first._conn is second._conn
    assert os.environ["STRATOS_SOCKET"] == str(first._conn.socket)
