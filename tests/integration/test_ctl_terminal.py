"""stratosctl as a scientist sees it on day one: a real terminal, a real daemon, real tasks.

The terminal views run under a pseudo-terminal of a set width (``pty_helpers``), since
rich draws tables and reads markup only when stdout is a terminal. The rest drives the
same user steps through piped stratosctl and child Pythons.
"""

from __future__ import annotations

import json
import signal

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
    start_python,
    unique_id,
)
from tests.integration.pty_helpers import run_ctl_tty

pytestmark = pytest.mark.timeout(90)

#: task commands and output that rich would read as markup (or emoji codes).
MISSING_FILE = "wc -c 'odd/[br].txt'"
CLOSING_TAG = "echo '[/]'"
STDERR_LINE = "[ERROR] failed at [step 3] [/tmp/x]"
NOISY = f"sh -c 'echo \"{STDERR_LINE}\" >&2; exit 1'"
TAGS = "echo ':smile: [bold]x[/bold]'"


def _bracket_job(job_id: str) -> Processor:
    job = Processor(job_id=job_id)
    job.stream([MISSING_FILE, CLOSING_TAG, NOISY, TAGS])
    counts = job.wait_for_tasks().counts
    assert counts["finished"] == 2 and counts["failed"] == 2, counts
    return job


def test_terminal_views_print_brackets_literally(daemon: Daemon) -> None:
    job = _bracket_job(unique_id("br"))
    views = {
        "tasks": ["tasks", job.job_id],
        "task 2": ["task", job.job_id, "2"],
        "task 0": ["task", job.job_id, "0"],
        "results": ["results", job.job_id],
        "status": ["status", job.job_id],
        "jobs": ["jobs"],
    }
    screens = {name: run_ctl_tty(daemon, *argv, columns=80) for name, argv in views.items()}
    for name, screen in screens.items():
        assert screen.status == 0, (name, screen.stderr)
        assert no_traceback(screen.stderr), (name, screen.stderr)
        assert all(len(line) <= 80 for line in screen.lines), (name, screen.text)
    tasks = screens["tasks"].text
    for command in (MISSING_FILE, CLOSING_TAG, TAGS):
        assert command in tasks, (command, tasks)
    detail = screens["task 2"].text
    assert STDERR_LINE in detail and NOISY in detail, detail
    assert "odd/[br].txt" in screens["task 0"].text, screens["task 0"].text
    results = screens["results"].text
    assert "[/]" in results and ":smile: [bold]x[/bold]" in results, results
    assert job.job_id in screens["status"].text and job.job_id in screens["jobs"].text

    # `wait` redraws one progress line; its last drawing fits 80 columns, nothing cut off.
    wait = run_ctl_tty(daemon, "wait", job.job_id, columns=80)
    assert wait.status == 2 and no_traceback(wait.stderr), wait.stderr  # 2: a task failed
    last = job.job_id + wait.text.rstrip().rsplit(job.job_id, 1)[1]
    assert len(last) <= 80 and "4/4" in last and last.endswith("fin 2 fail 2"), last


def _header_and_rows(lines: list[str], job_ids: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    header = lines[0].split()
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip()}
    assert sorted(rows) == sorted(job_ids), lines  # one line per job: nothing wrapped
    return header, rows


def test_jobs_fit_80_columns_and_show_killed_tasks(daemon: Daemon) -> None:
    done = Processor(job_id=unique_id("done"))
    done.stream(["echo ok", "sh -c 'exit 3'"])
    done.wait_for_tasks()
    cancelled = Processor(job_id=unique_id("cancelled"))
    cancelled.stream(["echo first", *["sleep 30"] * 4])
    poll(lambda: cancelled.stream.count_running_tasks() == 2
         and cancelled.stream.get_status(0) == "finished", 15, "2 sleeps run after echo first")
    assert cancelled.cancel() == 4
    poll(lambda: cancelled.status().counts["killed"] == 4, 15, "the 4 sleeps are killed")
    ids = [done.job_id, cancelled.job_id]

    narrow = run_ctl_tty(daemon, "jobs", columns=80)
    assert narrow.status == 0, narrow.stderr
    assert all(len(line) <= 80 for line in narrow.lines), narrow.text
    header, rows = _header_and_rows(narrow.lines, ids)
    assert header[:2] == ["JOB", "STATE"]
    row = dict(zip(header, rows[cancelled.job_id], strict=False))
    assert (row["STATE"], row["TASKS"], row["KILL"], row["FIN"]) == ("cancelled", "5", "4", "1"), row
    row = dict(zip(header, rows[done.job_id], strict=False))
    assert (row["STATE"], row["FIN"], row["FAIL"], row["KILL"]) == ("finished", "1", "1", "0"), row
    assert all(" ".join(rows[i]).endswith("ago") for i in ids), narrow.text  # relative, one line

    wide = run_ctl_tty(daemon, "jobs", columns=160)
    assert wide.status == 0, wide.stderr
    wide_header, _ = _header_and_rows(wide.lines, ids)
    assert "MASTER" in wide_header and len(wide_header) > len(header), (header, wide_header)

    # Piped: the old columns stay where scripts read them; killed, relaunched, lost follow.
    piped = {line.split("\t")[0]: line.split("\t") for line in run_ctl(daemon, "jobs").stdout.splitlines()}
    assert piped[cancelled.job_id][3:8] == ["5", "0", "0", "1", "0"]
    assert piped[cancelled.job_id][10:] == ["4", "0", "0"]


def test_running_tasks_show_their_elapsed_time(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("elapsed"))
    job.stream(["sleep 30"])
    try:
        poll(lambda: job.stream.get_status(0) == "running", 15, "sleep 30 runs")

        def listed() -> float:
            (task,) = json.loads(run_ctl(daemon, "tasks", job.job_id, "--json").stdout)
            return float(task["duration"])

        first = poll(listed, 15, "`tasks --json` shows a running task's elapsed time")
        later = poll(lambda: (d := job.stream.tasks()[0].duration) > first and d, 15,
                     "Stream.tasks() shows the elapsed time growing")
        assert later > first > 0
        assert job.stream.get_status(0) == "running"
        row = run_ctl(daemon, "tasks", job.job_id).stdout.split("\t")
        assert float(row[5]) > 0, row
        assert job.stream.task(0).task.duration > 0
    finally:
        job.cancel()


WAIT_SCRIPT = """
    import sys
    from stratos import Processor
    job = Processor(job_id=sys.argv[1])
    job.stream(["sleep 60"])
    print("waiting", flush=True)
    {call}
"""


@pytest.mark.parametrize("call", ["job.wait()", "job.stream.wait()", "job.wait_for_tasks()"])
def test_ctrl_c_in_wait_says_the_tasks_keep_running(daemon: Daemon, call: str) -> None:
    job_id = unique_id("intr")
    child = start_python(daemon, WAIT_SCRIPT.format(call=call), job_id)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "waiting\n"
        job = Processor.attach(job_id)
        poll(lambda: job.stream.get_status(0) == "running", 15, "sleep 60 runs")
        poll(lambda: job_pids(job_id), 15, "the sleep process exists")
        child.send_signal(signal.SIGINT)
        status, _, err = finish(child, timeout=20)
    finally:
        reap(child)
    try:
        assert status != 0
        assert "KeyboardInterrupt" in err, err  # re-raised after the message
        assert "keep running" in err and f"stratosctl cancel {job_id}" in err, err
        assert "job.cancel()" in err and f"Processor.attach({job_id!r})" in err, err
        assert job.stream.get_status(0) == "running"
        assert job_pids(job_id)
    finally:
        job.cancel()


def test_errors_under_json_are_json(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("jerr"))
    job.stream(["echo hi"])
    job.wait_for_tasks()
    cases = [
        (["status", "no-such-job", "--json"], 1, "JobNotFound"),
        (["--json", "task", job.job_id, "7"], 1, "TaskNotFound"),
        (["kill", job.job_id, "0", "--json"], 1, "TaskAlreadyEnded"),
        (["tasks", "--json"], 2, "UsageError"),
    ]
    for argv, code, kind in cases:
        proc = run_ctl(daemon, *argv)
        assert proc.returncode == code, (argv, proc.stdout, proc.stderr)
        error = json.loads(proc.stderr)
        assert error["type"] == kind and error["error"], (argv, error)
        assert proc.stdout == "", (argv, proc.stdout)
    # without --json the message stays one readable line
    proc = run_ctl(daemon, "status", "no-such-job")
    assert proc.returncode == 1 and proc.stderr.startswith("stratosctl: "), proc.stderr


def test_kill_a_finished_task_says_it_had_already_finished(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("killdone"))
    job.stream(["echo done", "sleep 30"])
    try:
        poll(lambda: job.stream.get_status(0) == "finished"
             and job.stream.get_status(1) == "running", 15, "task 0 finished, task 1 runs")
        proc = run_ctl(daemon, "kill", job.job_id, "0")
        assert proc.returncode == 1, proc.stdout
        assert proc.stdout == ""
        assert proc.stderr.startswith("stratosctl: ") and no_traceback(proc.stderr), proc.stderr
        assert "task 0" in proc.stderr and "had already finished (exit 0)" in proc.stderr, proc.stderr
        assert job.stream.get_status(1) == "running"  # nothing else was touched

        # One ended and one running task: the running one is killed, the ended one reported.
        proc = run_ctl(daemon, "kill", job.job_id, "0", "1")
        assert proc.returncode == 1
        assert proc.stdout.strip() == "killed 1 task"
        assert "task 0" in proc.stderr and "already finished" in proc.stderr
        poll(lambda: job.stream.get_status(1) == "killed", 15, "task 1 is killed")
    finally:
        job.cancel()
