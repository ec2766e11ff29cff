"""kill -9 of the daemon on the local backend: nothing lost, nothing twice, never two live copies."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from stratos import Processor
from stratos.errors import DaemonUnavailable
from tests.daemon import Daemon, processes_of, wait_for


def _sleeping(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].endswith(b"sleep")
    except OSError:
        return False


def test_survivors_of_a_crash_are_killed_before_their_tasks_run_again(daemon: Daemon, tmp_path: Path) -> None:
    job = Processor(job_id="crashy")
    # the first run waits long enough to be killed however slow the restart; the second does not wait
    commands = [f"echo start >> {tmp_path}/{i}; [ $(wc -l < {tmp_path}/{i}) -gt 1 ] || sleep 60; "
                f"echo end >> {tmp_path}/{i}; echo out{i}" for i in range(2)]
    job.stream(commands)
    wait_for(lambda: all((tmp_path / str(i)).exists() for i in range(2)), "both tasks to start")
    # each shell forks `wc` and then `sleep 60`: look once both sleep, so the set is settled
    wait_for(lambda: sum(_sleeping(pid) for pid in processes_of("crashy")) == 2, "both tasks to sleep")
    before = set(processes_of("crashy"))
    assert before
    daemon.kill9()
    assert set(processes_of("crashy")) == before  # the tasks outlived the daemon...
    daemon.start()
    assert not before & set(processes_of("crashy"))  # ...and are gone once it is back
    again = Processor.attach("crashy")
    assert again.wait()
    assert sorted(again.get_results()) == ["out0\n", "out1\n"]
    for i in range(2):  # killed once, run again once, finished once
        assert (tmp_path / str(i)).read_text() == "start\nstart\nend\n"


@pytest.mark.slow
def test_kill9_at_random_points_loses_nothing_and_repeats_nothing(daemon: Daemon, tmp_path: Path) -> None:
    rng = random.Random(2026)
    total = 40
    commands = [f"echo start >> {tmp_path}/{i}; sleep {rng.uniform(0.05, 0.4):.2f}; "
                f"echo end >> {tmp_path}/{i}; echo out{i}" for i in range(total)]
    Processor(job_id="chaos").stream(commands)
    received: list[str] = []
    crashes = 0
    #: task id -> its start count when the daemon had it journaled as finished
    finished_starts: dict[int, int] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.0, 1.0))
        try:
            job = Processor.attach("chaos")
            received += job.get_results()
            done = job.status().unfinished == 0
        except DaemonUnavailable:
            done = False
        if done:
            received += Processor.attach("chaos").get_results()
            break
        try:
            for report in Processor.attach("chaos").stream.tasks("finished"):
                starts = (tmp_path / str(report.task_id)).read_text().split().count("start")
                finished_starts.setdefault(report.task_id, starts)
        except DaemonUnavailable:
            pass
        daemon.kill9()
        crashes += 1
        daemon.start()
    assert crashes >= 3
    assert sorted(received) == sorted(f"out{i}\n" for i in range(total))  # every result, exactly once
    assert finished_starts  # some tasks had finished before some crash
    for task_id, starts in finished_starts.items():  # a task journaled as finished never ran again
        assert (tmp_path / str(task_id)).read_text().split().count("start") == starts, task_id
    for i in range(total):
        assert (tmp_path / str(i)).read_text().split()[-1] == "end"  # every task's last run completed
    assert processes_of("chaos") == []
