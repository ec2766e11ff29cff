"""The embedded local backend: threads, environment, working directory, output modes, sizes.

How many tasks run at once (the core's slots) is tested in process: tests/harness/test_slots.py.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from stratos import Processor
from tests.daemon import Daemon, processes_of


def test_more_threads_than_the_host_runs_with_all_of_them_and_warns(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    job = Processor(job_id="greedy", threads_per_task=16)
    with caplog.at_level(logging.WARNING, logger="stratos"):
        job.batch(["echo $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS $MKL_NUM_THREADS"])
    assert job.get_results() == ["2 2 2\n"]
    assert any("16" in r.getMessage() and "all 2" in r.getMessage() for r in caplog.records)


def test_thread_variables_follow_threads_per_task(daemon: Daemon) -> None:
    job = Processor(job_id="omp", threads_per_task=1)
    job.batch("echo $OMP_NUM_THREADS $VECLIB_MAXIMUM_THREADS $NUMEXPR_NUM_THREADS")
    assert job.get_results() == ["1 1 1\n"]


def test_tasks_run_in_the_callers_directory_with_its_environment(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STRATOS_TEST_VALUE", "from the caller")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a b.txt").write_text("12345")
    (tmp_path / "data" / "c.txt").write_text("1")
    (tmp_path / "data" / "sub").mkdir()
    (tmp_path / "data" / "sub" / "d.txt").write_text("22")
    job = Processor(job_id="cwd")
    job.batch(['pwd; echo "$STRATOS_TEST_VALUE"; cat; echo stdin-was-empty'])
    assert job.get_results() == [f"{tmp_path}\nfrom the caller\nstdin-was-empty\n"]
    job.glob_batch("wc -c < %f%", "data/*.txt")  # relative to the caller; a name with a space
    assert job.get_results() == ["5\n", "1\n"]
    job.glob_batch("wc -c < %f%", "data/**/*.txt")  # recursive
    assert job.get_results() == ["5\n", "1\n", "2\n"]
    job.glob_batch("echo %f%", "data/[c]*")
    assert job.get_results() == ["data/c.txt\n"]
    assert job.stream.get_command(1) == "wc -c < 'data/a b.txt'"  # quoted only where needed
    assert job.stream.get_command(2) == "wc -c < data/c.txt"


def test_output_none_and_mesos_modes(daemon: Daemon) -> None:
    quiet = Processor(job_id="quiet", output="none")
    assert quiet.batch("echo discarded")["finished"] == 1
    assert quiet.get_results() == []
    boxed = Processor(job_id="boxed", output="mesos")
    boxed.batch(["echo kept; echo warn >&2"])
    assert boxed.get_results() == []
    sandbox = Path(boxed.stream.task(0).sandbox)
    assert sandbox.is_dir() and str(sandbox).startswith(str(daemon.state_dir))
    assert (sandbox / "stdout").read_text() == "kept\n"
    assert (sandbox / "stderr").read_text() == "warn\n"


def test_failed_tasks_keep_their_stdout_and_stderr_tail(daemon: Daemon, caplog: pytest.LogCaptureFixture) -> None:
    job = Processor(job_id="fails")
    with caplog.at_level(logging.WARNING, logger="stratos"):
        counts = job.batch(["echo partial; echo 'it broke' >&2; exit 3", "echo fine"])
    assert counts == {**counts, "failed": 1, "finished": 1}
    assert "task 0 failed (exit 3)" in caplog.text  # names the failed task and how it ended
    details = job.get_results(details=True)
    assert [(d.task_id, d.status, d.exit_code, d.stdout) for d in details] == [
        (0, "failed", 3, "partial\n"), (1, "finished", 0, "fine\n")]
    assert details[0].command == "echo partial; echo 'it broke' >&2; exit 3" and details[0].host
    assert details[0].duration >= 0
    info = job.stream.task(0)
    assert info.stderr_tail == "it broke\n" and info.task.exit_code == 3 and "exit code 3" in info.reason


def test_a_task_killed_by_a_signal_is_failed_with_the_signal(daemon: Daemon) -> None:
    job = Processor(job_id="signalled")
    job.batch(["kill -9 $$"])
    report = job.stream.task(0).task
    assert report.status == "failed" and report.signal == 9 and report.exit_code is None


def test_kill_one_running_task_leaves_no_process(daemon: Daemon) -> None:
    job = Processor(job_id="killme")
    s = job.stream(["sleep 30 & sleep 30; echo never"])
    deadline = time.monotonic() + 10
    while s.count_running_tasks() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert s.kill(0) == 1
    assert job.wait()
    assert s.get_status(0) == "killed"
    assert job.get_results() == []
    assert processes_of("killme") == []


def test_results_larger_than_a_grpc_message_come_back_whole(daemon: Daemon) -> None:
    job = Processor(job_id="big")
    job.batch(["head -c 10000000 /dev/zero | tr '\\0' x", "echo small"])
    results = job.get_results()
    assert len(results) == 2 and results[0] == "x" * 10_000_000 and results[1] == "small\n"


def test_large_results_among_small_ones_come_back_in_order_once_across_pages_and_messages(daemon: Daemon) -> None:
    # inline results of 900,000 bytes: five fill a page of the journal's read (4 MiB) and each
    # nearly a gRPC message (1 MiB); one of 3,000,000 bytes is spilled to a file and sent in pieces
    def command(i: int) -> str:
        if i == 150:
            return "head -c 3000000 /dev/zero | tr '\\0' s"
        return f"head -c 900000 /dev/zero | tr '\\0' {chr(97 + i % 26)}" if i % 20 == 7 else f"echo {i}"

    def output(i: int) -> str:
        if i == 150:
            return "s" * 3_000_000
        return chr(97 + i % 26) * 900_000 if i % 20 == 7 else f"{i}\n"

    job = Processor(job_id="mixed")
    job.batch([command(i) for i in range(300)])
    expected = [output(i) for i in range(300)]
    assert job.get_results() == expected  # a batch's results come in submission order
    assert job.get_results() == []
    detailed = job.get_results("audit", details=True)
    assert [r.stdout for r in detailed] == expected and [r.task_id for r in detailed] == list(range(300))
    assert [r.seq for r in detailed] == list(range(1, 301))
    assert detailed[150].stdout_path and not detailed[0].stdout_path
    assert job.get_results(all=True) == expected


def test_undecodable_bytes_are_replaced(daemon: Daemon) -> None:
    job = Processor(job_id="bytes")
    job.batch(["printf 'a\\377b\\n'"])
    assert job.get_results() == ["a\ufffdb\n"]


def test_100000_commands_are_submitted_in_pieces(daemon: Daemon) -> None:
    job = Processor(job_id="many")
    s = job.stream([f"sleep 10 # {i}" for i in range(100_000)])
    assert s.count_total_tasks() == 100_000
    assert s.get_command(99_999) == "sleep 10 # 99999"
    assert job.cancel() == 100_000
    assert job.wait()
    assert len(s.tasks("killed")) == 100_000  # the listing is paged too


def test_file_names_never_reach_a_shell_unquoted(daemon: Daemon, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    hostile = ["$(touch pwned1)", "`touch pwned2`", "a; touch pwned3", "x'y\"z", "-rf"]
    for name in hostile:
        (tmp_path / name).write_text("1")
    job = Processor(job_id="hostile-names")
    job.glob_batch("cat -- %f%", "*")
    assert job.get_results() == ["1"] * len(hostile)
    assert not any((tmp_path / f"pwned{i}").exists() for i in (1, 2, 3))
