"""stratosctl as a user runs it: a real subprocess against a real daemon and real tasks.

Every job here is created with ``Processor`` in the test, then inspected and steered
with ``python -m stratos.ctl`` (the same entry point as the ``stratosctl`` console
script). stdout is a pipe, so listings are tab-separated lines; ``--json`` output is
parsed with ``json.loads``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratos import Processor
from tests.daemon import Daemon
from tests.integration.ctl_helpers import (
    finish,
    job_pids,
    no_traceback,
    poll,
    reap,
    run_ctl,
    run_ctl_many,
    start_ctl,
    unique_id,
)

pytestmark = pytest.mark.timeout(60)

FAILING = "sh -c 'echo oops >&2; exit 3'"


def _fields(stdout: str) -> dict[str, str]:
    """The key<TAB>value lines of a piped `status` / `task`."""
    return dict(line.split("\t", 1) for line in stdout.splitlines())


def _pairs(stdout: str) -> list[tuple[str, str]]:
    return [(key, value) for key, value in (line.split("\t", 1) for line in stdout.splitlines())]


def _rows(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def _json_lines(stdout: str) -> list[dict[str, Any]]:
    """`results --json` prints one JSON object per line."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _run(job: Processor, commands: list[str]) -> dict[str, int]:
    """Submit ``commands`` in streaming mode and wait until every task of the job has ended.

    (Streaming plus a wait without progress messages: see test_reattach's test of how
    promptly a batch call returns.)
    """
    job.stream(commands)
    return job.wait_for_tasks().counts


def _done_job(job_id: str) -> Processor:
    """A finished job: tasks 0 and 2 print a line, task 1 fails with exit 3 and stderr."""
    job = Processor(job_id=job_id)
    counts = _run(job, ["echo alpha", FAILING, "echo gamma"])
    assert counts["finished"] == 2 and counts["failed"] == 1, counts
    return job


def _running(job: Processor, count: int) -> None:
    poll(lambda: job.stream.count_running_tasks() == count, 15, f"{count} tasks of {job.job_id} run")


# -- help and errors ------------------------------------------------------------------------


SUBCOMMANDS = ("jobs", "status", "tasks", "task", "results", "add", "kill", "cancel", "rm", "gc", "wait")


def test_help_exits_0_with_usage(daemon: Daemon) -> None:
    commands = [[], *([name] for name in SUBCOMMANDS)]
    outcomes = run_ctl_many(daemon, [[*command, "--help"] for command in commands])
    for command, (status, out, err) in zip(commands, outcomes, strict=True):
        assert status == 0, (command, err)
        assert out.startswith("usage: stratosctl"), (command, out)
        if command:
            assert out.splitlines()[0].startswith(f"usage: stratosctl {command[0]} "), (command, out)
        else:
            for name in SUBCOMMANDS:
                assert f"    {name} " in out, (name, out)


def test_unknown_job_exits_1_with_a_message(daemon: Daemon) -> None:
    job = "no-such-job"
    argvs = [["status", job], ["tasks", job], ["task", job, "0"], ["results", job],
             ["results", job, "--follow"], ["results", job, "--consume"], ["add", job, "echo x"],
             ["kill", job], ["kill", job, "0"], ["cancel", job], ["rm", job], ["wait", job]]
    for argv, (status, out, err) in zip(argvs, run_ctl_many(daemon, argvs), strict=True):
        assert status == 1, (argv, out, err)
        assert out == "", (argv, out)
        assert err.startswith("stratosctl: ") and job in err, (argv, err)
        assert no_traceback(err), (argv, err)
    assert Processor.list_jobs() == []  # `add` did not create the job


def test_unknown_task_exits_1_with_a_message(daemon: Daemon) -> None:
    job = _done_job(unique_id("ctl"))
    for args in (["task", job.job_id, "7"], ["kill", job.job_id, "7"]):
        proc = run_ctl(daemon, *args)
        assert proc.returncode == 1, (args, proc.stdout)
        assert proc.stderr.startswith("stratosctl: ") and "7" in proc.stderr, proc.stderr
        assert no_traceback(proc.stderr), proc.stderr


# -- listings ---------------------------------------------------------------------------------


def test_jobs_plain_and_json(daemon: Daemon) -> None:
    done = _done_job(unique_id("done"))
    empty = Processor(job_id=unique_id("empty"))

    proc = run_ctl(daemon, "jobs")
    assert proc.returncode == 0, proc.stderr
    rows = {row[0]: row for row in _rows(proc.stdout)}
    assert set(rows) == {done.job_id, empty.job_id}
    # job, state, master, tasks, pending, running, finished, failed, results available
    assert rows[done.job_id][:9] == [done.job_id, "finished", "local", "3", "0", "0", "2", "1", "3"]
    assert rows[empty.job_id][3] == "0"

    proc = run_ctl(daemon, "jobs", "--json")
    assert proc.returncode == 0, proc.stderr
    by_id = {entry["job_id"]: entry for entry in json.loads(proc.stdout)}
    assert set(by_id) == {done.job_id, empty.job_id}
    assert by_id[done.job_id]["total"] == 3
    assert by_id[done.job_id]["counts"] == {
        "pending": 0, "running": 0, "finished": 2, "failed": 1, "killed": 0, "relaunched": 0, "lost": 0,
    }
    assert by_id[done.job_id]["results_available"] == 3
    # --json before the subcommand works too
    assert json.loads(run_ctl(daemon, "--json", "jobs").stdout) == json.loads(proc.stdout)


def test_status_plain_and_json(daemon: Daemon) -> None:
    job = _done_job(unique_id("st"))
    proc = run_ctl(daemon, "status", job.job_id)
    assert proc.returncode == 0, proc.stderr
    pairs = _pairs(proc.stdout)
    for expected in [("job", job.job_id), ("state", "finished"), ("progress", "3/3 tasks ended (100%)"),
                     ("finished", "2"), ("failed", "1"), ("running", "0"), ("results available", "3")]:
        assert expected in pairs, (expected, pairs)

    report = json.loads(run_ctl(daemon, "status", job.job_id, "--json").stdout)
    assert report["job_id"] == job.job_id
    assert report["state"] == "finished"
    assert report["total"] == 3
    assert report["counts"]["finished"] == 2 and report["counts"]["failed"] == 1
    assert report["results_available"] == 3 and report["cursor"] == 0


def test_status_piped_keys_are_unique(daemon: Daemon) -> None:
    """Piped `status` is key<TAB>value lines: a script reading them needs each key once.

    The count of finished tasks and the time the job finished must not share a key.
    """
    job = _done_job(unique_id("keys"))
    keys = [key for key, _ in _pairs(run_ctl(daemon, "status", job.job_id).stdout)]
    assert len(keys) == len(set(keys)), f"duplicate keys in `stratosctl status`: {keys}"
    assert _fields(run_ctl(daemon, "status", job.job_id).stdout)["finished"] == "2"


def test_status_of_a_running_job(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("run"))
    job.stream(["sleep 30", "sleep 30", "sleep 30"])
    _running(job, 2)  # the daemon advertises 2 cores
    try:
        report = json.loads(run_ctl(daemon, "status", job.job_id, "--json").stdout)
        assert report["state"] == "active"
        assert report["counts"]["running"] == 2 and report["counts"]["pending"] == 1
        assert _fields(run_ctl(daemon, "status", job.job_id).stdout)["progress"] == "0/3 tasks ended (0%)"
    finally:
        job.cancel()


def test_tasks_all_and_by_state(daemon: Daemon) -> None:
    job = _done_job(unique_id("tasks"))
    proc = run_ctl(daemon, "tasks", job.job_id)
    assert proc.returncode == 0, proc.stderr
    rows = _rows(proc.stdout)
    # id, status, host, attempts, outcome, seconds, command
    assert [(r[0], r[1], r[4], r[6]) for r in rows] == [
        ("0", "finished", "exit 0", "echo alpha"),
        ("1", "failed", "exit 3", FAILING),
        ("2", "finished", "exit 0", "echo gamma"),
    ]

    proc = run_ctl(daemon, "tasks", job.job_id, "--state", "finished")
    assert [r[0] for r in _rows(proc.stdout)] == ["0", "2"]
    proc = run_ctl(daemon, "tasks", job.job_id, "--state", "failed", "--json")
    (failed,) = json.loads(proc.stdout)
    assert failed["task_id"] == 1 and failed["exit_code"] == 3 and failed["command"] == FAILING
    assert json.loads(run_ctl(daemon, "tasks", job.job_id, "--state", "killed", "--json").stdout) == []
    listed = json.loads(run_ctl(daemon, "tasks", job.job_id, "--json").stdout)
    assert [t["status"] for t in listed] == ["finished", "failed", "finished"]

    bad = run_ctl(daemon, "tasks", job.job_id, "--state", "bogus")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_task_shows_a_failed_tasks_command_outcome_and_stderr(daemon: Daemon) -> None:
    job = _done_job(unique_id("task"))
    proc = run_ctl(daemon, "task", job.job_id, "1")
    assert proc.returncode == 0, proc.stderr
    fields = _fields(proc.stdout)
    assert fields["command"] == FAILING
    assert fields["status"] == "failed"
    assert fields["outcome"] == "exit 3"
    assert fields["stderr tail"] == "oops"

    detail = json.loads(run_ctl(daemon, "task", job.job_id, "1", "--json").stdout)
    assert detail["task"]["command"] == FAILING
    assert detail["task"]["status"] == "failed"
    assert detail["task"]["exit_code"] == 3
    assert detail["stderr_tail"] == "oops\n"

    ok = _fields(run_ctl(daemon, "task", job.job_id, "0").stdout)
    assert (ok["status"], ok["outcome"], ok["command"]) == ("finished", "exit 0", "echo alpha")
    assert "stderr tail" not in ok


# -- results ----------------------------------------------------------------------------------


def test_results_reads_without_moving_the_cursor(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("res"))
    _run(job, [f"echo line{i}" for i in range(5)])
    proc = run_ctl(daemon, "results", job.job_id)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.splitlines()
    assert sorted(printed) == [f"line{i}" for i in range(5)]
    assert run_ctl(daemon, "results", job.job_id).stdout == proc.stdout  # again: all of them

    assert json.loads(run_ctl(daemon, "status", job.job_id, "--json").stdout)["cursor"] == 0
    # A script attaching afterwards still gets every result, in the same (sequence) order.
    assert Processor.attach(job.job_id).get_results() == [line + "\n" for line in printed]


def test_results_consume_moves_the_cursor(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("cons"))
    _run(job, [f"echo line{i}" for i in range(4)])
    proc = run_ctl(daemon, "results", job.job_id, "--consume")
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == [f"line{i}" for i in range(4)]

    assert json.loads(run_ctl(daemon, "status", job.job_id, "--json").stdout)["cursor"] == 4
    assert run_ctl(daemon, "results", job.job_id, "--consume").stdout == ""
    assert Processor.attach(job.job_id).get_results() == []
    # Reading without --consume still shows everything.
    assert run_ctl(daemon, "results", job.job_id).stdout == proc.stdout


def test_results_consume_with_a_named_consumer(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("named"))
    _run(job, ["echo a", "echo b"])
    proc = run_ctl(daemon, "results", job.job_id, "--consume", "--consumer", "audit")
    assert sorted(proc.stdout.splitlines()) == ["a", "b"]
    assert run_ctl(daemon, "results", job.job_id, "--consume", "--consumer", "audit").stdout == ""
    assert sorted(job.get_results()) == ["a\n", "b\n"]  # the shared cursor did not move
    assert job.get_results(consumer="audit") == []


def test_results_from_a_sequence_number(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("from"))
    _run(job, [f"echo r{i}" for i in range(6)])
    everything = _json_lines(run_ctl(daemon, "results", job.job_id, "--json").stdout)
    assert [r["seq"] for r in everything] == [1, 2, 3, 4, 5, 6]
    assert sorted(r["stdout"] for r in everything) == [f"r{i}\n" for i in range(6)]
    assert all(r["stdout"] == f"r{r['task_id']}\n" for r in everything)
    assert all(r["status"] == "finished" and r["exit_code"] == 0 for r in everything)

    proc = run_ctl(daemon, "results", job.job_id, "--from", "4")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [r["stdout"].strip() for r in everything[3:]]
    records = _json_lines(run_ctl(daemon, "results", job.job_id, "--from", "5", "--json").stdout)
    assert records == everything[4:]
    assert run_ctl(daemon, "results", job.job_id, "--from", "7").stdout == ""
    assert len(job.get_results()) == 6  # --from never consumes


def test_results_follow_prints_new_results_and_ends_with_the_job(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("follow"))
    job.stream(["sleep 0.6; echo first", "sleep 1.2; echo second"])
    assert job.status().results_available == 0
    follower = start_ctl(daemon, "results", job.job_id, "--follow")
    try:
        status, out, err = finish(follower, timeout=20)
    finally:
        reap(follower)
    assert status == 0, err
    assert out.splitlines() == ["first", "second"]
    report = job.status()
    assert report.unfinished == 0 and report.cursor == 0


def test_results_consume_rejects_follow(daemon: Daemon) -> None:
    job = _done_job(unique_id("rej"))
    proc = run_ctl(daemon, "results", job.job_id, "--consume", "--follow")
    assert proc.returncode == 1 and proc.stderr.startswith("stratosctl: ")
    assert job.status().cursor == 0


# -- steering ---------------------------------------------------------------------------------


def test_add_creates_a_task_whose_result_arrives(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("add"))
    _run(job, ["echo before"])
    proc = run_ctl(daemon, "add", job.job_id, "echo added")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "added 1 task (1)"
    assert job.stream.get_command(1) == "echo added"
    job.wait_for_tasks()
    assert job.stream.get_status(1) == "finished"
    assert job.get_results() == ["before\n", "added\n"]

    proc = run_ctl(daemon, "add", job.job_id, "-", "--json", stdin="echo x\necho y\n")
    assert json.loads(proc.stdout) == {"task_ids": [2, 3]}
    job.wait_for_tasks()
    assert sorted(job.get_results()) == ["x\n", "y\n"]


def test_kill_one_running_task(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("kill"))
    job.stream(["sleep 30", "echo survivor"])
    poll(lambda: job.stream.get_status(0) == "running", 15, "sleep 30 runs")
    poll(lambda: job_pids(job.job_id), 15, "the sleep process exists")
    proc = run_ctl(daemon, "kill", job.job_id, "0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "killed 1 task"
    poll(lambda: job.stream.get_status(0) == "killed", 15, "task 0 is killed")
    assert poll(lambda: not job_pids(job.job_id), 15, "no process of the job is left")
    assert job.stream.get_status(1) == "finished"
    assert _fields(run_ctl(daemon, "task", job.job_id, "0").stdout)["status"] == "killed"
    # killing an ended task stops nothing, and says so (test_ctl_terminal)
    again = run_ctl(daemon, "kill", job.job_id, "0", "--json")
    assert again.returncode == 1 and again.stdout == ""
    assert json.loads(again.stderr)["type"] == "TaskAlreadyEnded"


def test_cancel_stops_every_task_of_the_job(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("cancel"))
    job.stream(["sleep 30"] * 3)
    _running(job, 2)
    proc = run_ctl(daemon, "cancel", job.job_id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "cancelled 3 tasks"
    poll(lambda: job.status().counts["killed"] == 3, 15, "all 3 tasks are killed")
    assert job.status().state == "cancelled"
    assert poll(lambda: not job_pids(job.job_id), 15, "no process of the job is left")


def test_rm_removes_the_job(daemon: Daemon) -> None:
    job = _done_job(unique_id("rm"))
    proc = run_ctl(daemon, "rm", job.job_id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"removed {job.job_id} (ended "), proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("removed 1 job, freed ")

    gone = run_ctl(daemon, "status", job.job_id)
    assert gone.returncode == 1
    assert gone.stdout == ""
    assert gone.stderr.startswith("stratosctl: ") and job.job_id in gone.stderr
    assert no_traceback(gone.stderr), gone.stderr
    assert job.job_id not in run_ctl(daemon, "jobs").stdout


def test_rm_refuses_a_job_with_running_tasks(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("rmrun"))
    job.stream(["sleep 30"])
    try:
        proc = run_ctl(daemon, "rm", job.job_id)
        assert proc.returncode == 1
        assert proc.stderr.startswith("stratosctl: ") and "cancel" in proc.stderr
        assert no_traceback(proc.stderr), proc.stderr
        assert job.status().unfinished == 1
    finally:
        job.cancel()


def test_wait_blocks_until_done_and_exits_0(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("wait"))
    job.stream(["sleep 1; echo a", "echo b"])
    proc = run_ctl(daemon, "wait", job.job_id)
    assert proc.returncode == 0, proc.stderr
    assert job.status().unfinished == 0  # it returned only once every task had ended
    lines = proc.stdout.splitlines()
    assert lines, "piped wait prints progress lines"
    assert "\x1b" not in proc.stdout  # plain lines, no terminal control sequences
    assert lines[-1] == f"{job.job_id}: 2/2 ended (finished 2)"


def test_wait_exits_2_when_a_task_failed(daemon: Daemon) -> None:
    job = _done_job(unique_id("waitf"))
    proc = run_ctl(daemon, "wait", job.job_id)
    assert proc.returncode == 2
    assert proc.stdout.splitlines()[-1] == f"{job.job_id}: 3/3 ended (finished 2, failed 1)"

    final = json.loads(run_ctl(daemon, "wait", job.job_id, "--json").stdout)
    assert final["done"] is True
    assert final["counts"]["failed"] == 1 and final["failed_task_ids"] == [1]
