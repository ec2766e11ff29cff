"""How many Slurm pilot jobs a job asks for, and how big: pure rules, no Slurm needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratos.errors import InvalidJobSpec
from stratosd import daemon_settings
from stratosd.backends.slurm import log_tail, partition_of, pilot_size, pilots_to_submit
from stratosd.core.model import Job, JobSpec


@pytest.mark.parametrize(("pending", "running", "slots", "pilots", "max_pilots", "more"), [
    (0, 5, 1, 0, 4, 0),     # nothing waits: no pilot, whatever runs
    (1, 0, 1, 0, 4, 1),
    (10, 0, 2, 0, 4, 4),    # capped by max_pilots
    (3, 0, 2, 0, 4, 2),     # 3 tasks, 2 per pilot
    (2, 2, 2, 2, 4, 0),     # the pilots there hold every task
    (5, 3, 1, 4, 4, 0),     # at the cap already
    (1, 0, 1, 6, 4, 0),     # over the cap (max lowered): never negative
])
def test_pilots_are_added_while_tasks_wait_up_to_max_pilots(
        pending: int, running: int, slots: int, pilots: int, max_pilots: int, more: int) -> None:
    assert pilots_to_submit(pending, running, slots, pilots, max_pilots) == more


def test_a_pilot_is_sized_from_the_job() -> None:
    def size(**spec: float) -> tuple[int, int, int]:
        return pilot_size(Job(1, "j", JobSpec(master="slurm", **spec), "slurm:1", 0.0))  # type: ignore[arg-type]

    assert size(cpus=1, mem=256) == (1, 256, 1)
    assert size(cpus=1, mem=256, pilot_cpus=4) == (4, 1024, 4)
    assert size(cpus=2, mem=100, pilot_cpus=5, pilot_mem=3000) == (5, 3000, 2)
    assert size(cpus=3, mem=100, pilot_cpus=2) == (2, 100, 1)  # a task bigger than the pilot: one at a time


def test_the_partition_comes_from_the_master() -> None:
    assert partition_of("slurm://debug") == "debug" and partition_of("slurm") == ""


def test_a_pilots_log_tail_is_its_last_lines_on_one_line(tmp_path: Path) -> None:
    log = tmp_path / "pilot.log"
    log.write_text("start\n\nline two\nsh: 1: exec: /x/stratos-executor: not found\n")
    assert log_tail(log, lines=2) == "line two | sh: 1: exec: /x/stratos-executor: not found"
    assert log_tail(tmp_path / "missing.log") == ""
    log.write_text("x" * 1000)
    assert log_tail(log, limit=10) == "..." + "x" * 10


def test_pilot_failures_before_lost_is_a_daemon_setting() -> None:
    assert daemon_settings.parse({"stratosd": {"pilot_failures_before_lost": 5}}) == {"pilot_failures_before_lost": "5"}
    for bad in (0, "3", True, 1.5):
        with pytest.raises(InvalidJobSpec, match="pilot_failures_before_lost must be a whole number"):
            daemon_settings.parse({"stratosd": {"pilot_failures_before_lost": bad}})
