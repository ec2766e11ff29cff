"""after= and glob_stream(..., follow=True) through a real daemon on the local backend."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from stratos import Processor
from stratos.errors import InvalidJobSpec, InvalidSubmission, JobNotFound, UnknownDependency
from tests.daemon import Daemon, daemon_fixture, wait_for
from tests.integration.ctl_helpers import run_ctl

# a scan every 0.2 s keeps these tests short; the default is 1 s (stratosd run --follow-interval)
daemon = daemon_fixture("--follow-interval", "0.2")


def _counter(tmp_path: Path) -> Path:
    """A 'reducer' that records each file it is given in a log, one line per run, and prints it."""
    log = tmp_path / "reduced.log"
    program = tmp_path / "count"
    program.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {log}\necho "$1"\n')
    program.chmod(0o755)
    return program


def _runs(tmp_path: Path) -> list[str]:
    log = tmp_path / "reduced.log"
    return log.read_text().splitlines() if log.exists() else []


def test_after_a_failed_job_the_tasks_end_failed_unrun_naming_it(daemon: Daemon, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    first = Processor(job_id="first")
    second = Processor(job_id="second", after="first")
    anyway = Processor(job_id="anyway", after="first", run_after_failure=True)
    first.stream(["true", "exit 3"])
    second.stream([f"touch {ran}"])
    anyway.stream(["echo ran anyway"])
    assert second.status().hold == "waiting"
    assert "tasks of job first have not ended" in second.status().hold_reason or first.status().unfinished == 0
    first.wait()
    assert second.wait() and anyway.wait()
    task = second.stream.task(0)
    assert task.task.status == "failed" and task.attempts == () and task.task.attempts == 0
    assert "job first failed (1 failed)" in task.reason and "after='first'" in task.reason
    assert "stratosctl retry second --failed" in task.reason
    assert not ran.exists()
    assert second.get_results() == []  # it never ran: no stdout to return
    assert second.status().hold == "blocked"
    assert anyway.get_results() == ["ran anyway\n"]
    assert anyway.status().hold_reason == "job first failed (1 failed); run anyway (run_after_failure=True)"
    # the user's choice to run them after all
    assert second.retry_failed() == [0]
    second.wait_for_tasks()
    assert ran.exists() and second.status().hold == "released"


def test_after_an_unknown_job_is_a_typed_error_that_says_what_to_do(daemon: Daemon) -> None:
    with pytest.raises(UnknownDependency) as caught:
        Processor(job_id="red", after="no-such-job")
    assert isinstance(caught.value, JobNotFound)
    assert 'after="no-such-job"' in str(caught.value) and "stratosctl jobs" in str(caught.value)
    with pytest.raises(JobNotFound):
        Processor.attach("red")  # nothing was created
    with pytest.raises(InvalidJobSpec, match="own id"):
        Processor(job_id="red", after="red")


def test_stop_following_ends_the_follow_and_lets_wait_return(daemon: Daemon, tmp_path: Path) -> None:
    counter = _counter(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    job = Processor(job_id="watcher")
    stream = job.glob_stream(f"{counter} %f%", f"{inbox}/*.txt", follow=True)  # nothing there yet: no error
    for name in ("a.txt", "b.txt", "skip.dat"):
        (inbox / name).write_text(name)
    wait_for(lambda: len(_runs(tmp_path)) == 2, "both .txt files to be processed")
    assert job.status().state == "active" and job.status().following
    waiter = threading.Thread(target=stream.wait)
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive()  # a followed pattern: more may come
    assert stream.stop_following() == 1
    waiter.join(20)
    assert not waiter.is_alive()
    (inbox / "c.txt").write_text("late")
    time.sleep(1.0)  # five scan intervals: a follow that had not stopped would take it
    assert sorted(_runs(tmp_path)) == [f"{inbox}/a.txt", f"{inbox}/b.txt"]
    report = job.status()
    assert [(f.state, f.files, f.reason) for f in report.follows] == [("ended", 2, "stop_following() was called")]
    assert stream.stop_following() == 0  # idempotent
    with pytest.raises(InvalidSubmission, match="glob_stream"):
        _follow_a_batch(job)


def test_hdfs_urls_are_not_followed(daemon: Daemon) -> None:
    job = Processor(job_id="remote")
    with pytest.raises(InvalidSubmission, match="follow the mounted path"):
        job.glob_stream("cat %f%", "hdfs:///data/*", follow=True)


def _follow_a_batch(job: Processor) -> None:
    from stratos._submit import submit
    from stratos_wire import stratos_pb2 as pb

    submit(job._conn, job.job_id, pb.GLOB, pb.BATCH, "cat %f%", ["*"], follow=True)


def test_file_names_with_spaces_brackets_and_unicode_are_each_one_word(daemon: Daemon, tmp_path: Path) -> None:
    counter = _counter(tmp_path)
    inbox = tmp_path / "in box"
    inbox.mkdir()
    names = ["plain.txt", "two words.txt", "brackets [1].txt", "quote's & $dollar.txt", "ünïcødé ☃.txt"]
    job = Processor(job_id="odd")
    job.glob_stream(f"{counter} %f%", f"{inbox}/*", follow=True)
    for name in names:
        (inbox / name).write_text(name)
    wait_for(lambda: len(_runs(tmp_path)) == len(names), "every file to be processed")
    job.stop_following()
    assert job.wait()
    assert sorted(_runs(tmp_path)) == sorted(f"{inbox}/{n}" for n in names)
    assert set(job.results_by_input()) == {f"{inbox}/{n}" for n in names}  # each result names its file


def test_files_appearing_while_the_first_glob_is_expanded_are_each_taken_once(daemon: Daemon, tmp_path: Path
                                                                              ) -> None:
    counter = _counter(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    total = 300
    started = threading.Event()

    def write() -> None:
        for i in range(total):
            (inbox / f"f{i:04d}").write_text(str(i))
            if i == 20:
                started.set()

    writer = threading.Thread(target=write)
    writer.start()
    started.wait(10)
    job = Processor(job_id="racing")
    job.glob_stream(f"{counter} %f%", f"{inbox}/*", follow=True)  # while the writer is still writing
    writer.join()
    wait_for(lambda: len(_runs(tmp_path)) >= total, "every file to be processed", timeout=60)
    job.stop_following()
    assert job.wait()
    runs = _runs(tmp_path)
    assert len(runs) == total and len(set(runs)) == total


def test_a_kill9_mid_follow_loses_no_file_and_processes_none_twice(daemon: Daemon, tmp_path: Path) -> None:
    counter = _counter(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    job = Processor(job_id="survivor")
    job.glob_stream(f"{counter} %f%", f"{inbox}/*", follow=True)
    for i in range(10):
        (inbox / f"before{i}").write_text("x")
    wait_for(lambda: len(_runs(tmp_path)) >= 3, "some files to be processed")
    daemon.kill9()
    for i in range(10):  # written while no daemon runs
        (inbox / f"down{i}").write_text("x")
    daemon.start()
    for i in range(10):
        (inbox / f"after{i}").write_text("x")
    again = Processor.attach("survivor")
    wait_for(lambda: len(set(_runs(tmp_path))) >= 30, "every file to be processed", timeout=60)
    again.stop_following()
    assert again.wait()
    runs = _runs(tmp_path)
    expected = {f"{inbox}/{p}{i}" for p in ("before", "down", "after") for i in range(10)}
    assert set(runs) == expected
    # a task that was running at the kill runs again (the local backend's rule): count the tasks, not runs
    tasks = again.stream.tasks()
    assert sorted(t.command.split(" ", 1)[1] for t in tasks) == sorted(expected)
    assert len(runs) - len(expected) <= sum(1 for t in tasks if t.attempts > 1)


def test_after_and_follow_survive_a_kill9_while_waiting(daemon: Daemon, tmp_path: Path) -> None:
    counter = _counter(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    first = Processor(job_id="producer")
    later = Processor(job_id="consumer", after="producer")
    later.glob_stream(f"{counter} %f%", f"{out}/*", follow=True)
    first.stream([f"echo {i} > {out}/r{i}" for i in range(3)])
    wait_for(lambda: len(list(out.iterdir())) == 3, "the producer's files")
    wait_for(lambda: Processor.attach("consumer").status().total == 3, "the files to become held tasks")
    daemon.kill9()
    daemon.start()
    assert Processor.attach("consumer").status().hold == "waiting"
    (out / "r3").write_text("written after the restart")
    first = Processor.attach("producer")
    first.stream([f"echo 4 > {out}/r4"])
    assert first.wait()
    later = Processor.attach("consumer")
    assert later.wait()
    assert sorted(_runs(tmp_path)) == [f"{out}/r{i}" for i in range(5)]


def test_stratosctl_status_says_what_a_job_waits_for_and_follows(daemon: Daemon, tmp_path: Path) -> None:
    first = Processor(job_id="upstream")
    Processor(job_id="downstream", after="upstream").glob_stream("cat %f%", f"{tmp_path}/*.out", follow=True)
    first.batch(["true"])  # its tasks have ended, but it is still open
    lines = run_ctl(daemon, "status", "downstream").stdout.splitlines()
    assert any(line.startswith("runs after\tupstream: waiting (job upstream has no unended task but is still "
                               "open") for line in lines), lines
    assert f"follows\tfollowing {tmp_path}/*.out (0 files so far)" in lines
    assert run_ctl(daemon, "close", "upstream").returncode == 0
    Processor.attach("downstream").wait()
    lines = run_ctl(daemon, "status", "downstream").stdout.splitlines()
    assert "runs after\tupstream: released (job upstream ended)" in lines
    assert f"follows\t{tmp_path}/*.out: ended, 0 files (job upstream ended: its last scan was made)" in lines
    stop = run_ctl(daemon, "stop-following", "downstream")
    assert stop.returncode == 0 and "stopped following 0 patterns" in stop.stdout
