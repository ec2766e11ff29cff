"""Issue 12: each attempt's own memory figures, and mem/disk_per_task as limits when the user sets them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import Processor
from stratos_executor._cgroup import CgroupUnavailable, MemoryCgroup
from tests.daemon import Daemon, daemon_fixture

daemon = daemon_fixture()
MB = 1024
TOUCH = "b=bytearray({mb}<<20)\nfor i in range(0,len(b),4096): b[i]=1\n"
# grows 10 MB at a time (at most 400 MB), so a sampling watchdog sees it pass a limit
GROW = "import time\nx=[]\nfor _ in range(40):\n    x.append(bytearray(10<<20)); time.sleep(0.03)\ntime.sleep(5)\n"


def _py(tmp_path: Path, name: str, code: str) -> str:
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    return f"{sys.executable} {script}"


@pytest.fixture
def watchdog_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A daemon told to enforce memory limits with its watchdog, not a cgroup."""
    monkeypatch.setenv("STRATOS_MEMORY_WATCHDOG", "1")
    d = Daemon()
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    d.start()
    try:
        yield d
    finally:
        d.stop()
        d.cleanup()


def test_bin_true_reports_its_own_peak_not_the_daemons(daemon: Daemon) -> None:
    job = Processor(job_id="tiny")
    job.batch(["/bin/true", "sleep 0.3"])
    for task_id in (0, 1):
        info = job.stream.task(task_id)
        assert info.task.status == "finished"
        assert info.peak_rss_kb <= 2 * MB and info.peak_rss_sum_kb <= 2 * MB


def test_a_200_mb_task_matches_usr_bin_time(daemon: Daemon, tmp_path: Path) -> None:
    if shutil.which("time") is None and not Path("/usr/bin/time").exists():
        pytest.fail("/usr/bin/time is needed (apt-get install time)")
    command = _py(tmp_path, "touch", TOUCH.format(mb=200))
    timed = subprocess.run(["/usr/bin/time", "-v", *command.split()], capture_output=True, text=True,
                           timeout=60, check=True)
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed.stderr)
    assert match is not None
    expected = int(match.group(1))
    job = Processor(job_id="touch200")
    job.batch([command])
    info = job.stream.task(0)
    assert abs(info.peak_rss_kb - expected) <= expected * 0.10, (info.peak_rss_kb, expected)


def test_each_attempt_reports_its_own_figure(daemon: Daemon) -> None:
    job = Processor(job_id="twice", task_timeout=0.5, timeout_retries=1)
    job.batch(["sleep 30"])
    info = job.stream.task(0)
    assert info.task.status == "failed" and info.task.attempts == 2 and info.reason == "timeout"
    assert 0 < info.peak_rss_kb <= 2 * MB  # sleep's own, not the daemon's nor two attempts'


def test_each_attempt_reports_its_own_cpu_time(daemon: Daemon, tmp_path: Path) -> None:
    """Two attempts that each burn 0.4 s of CPU, then hang until the timeout: the record's CPU time
    is the last attempt's (about 0.4 s), never the two added together."""
    burn = _py(tmp_path, "burn", "import time\nwhile time.process_time() < 0.4:\n    pass\ntime.sleep(60)\n")
    job = Processor(job_id="cpu-twice", task_timeout=3, timeout_retries=1)
    job.batch([burn])
    info = job.stream.task(0)
    assert info.task.attempts == 2 and info.reason == "timeout"
    assert 0.35 <= info.cpu_seconds < 0.75, info.cpu_seconds


def test_a_multi_process_task_reports_largest_and_sum(daemon: Daemon, tmp_path: Path) -> None:
    hold = "import time\n" + TOUCH + "time.sleep(1.5)\n"
    big = _py(tmp_path, "big", hold.format(mb=80))
    small = _py(tmp_path, "small", hold.format(mb=40))
    job = Processor(job_id="tree")
    job.batch([f"sh -c '{big} & {small} & wait'"])
    info = job.stream.task(0)
    assert 80 * MB <= info.peak_rss_kb <= 110 * MB, info.peak_rss_kb
    assert info.peak_rss_sum_kb >= 120 * MB and info.peak_rss_sum_kb > info.peak_rss_kb
    out = subprocess.run([sys.executable, "-m", "stratos.ctl", "task", "tree", "0"], capture_output=True,
                         text=True, timeout=30)
    assert "MB (largest process)" in out.stdout and "MB (peak of all processes, sampled)" in out.stdout, out


def _cgroup_usable() -> bool:
    try:
        MemoryCgroup.create("stratos-test-probe", 64 << 20).remove()
    except CgroupUnavailable:
        return False
    return True


def test_mem_per_task_is_enforced_by_a_cgroup(daemon: Daemon, tmp_path: Path) -> None:
    if not _cgroup_usable():
        pytest.skip("no memory cgroup can be created here")
    job = Processor(job_id="capped", mem_per_task=50)
    job.batch([_py(tmp_path, "grow", GROW)])
    info = job.stream.task(0)
    assert info.task.status == "failed"
    assert re.fullmatch(r"memory limit: peak \d+ MB >=? 50 MB", info.reason), info.reason
    assert any("by the kernel (cgroup" in note for note in info.notes), info.notes


def test_mem_per_task_is_enforced_by_the_watchdog(watchdog_daemon: Daemon, tmp_path: Path) -> None:
    job = Processor(job_id="watched", mem_per_task=50)
    job.batch([_py(tmp_path, "grow", GROW)])
    info = job.stream.task(0)
    assert info.task.status == "failed"
    match = re.fullmatch(r"memory limit: peak (\d+) MB > 50 MB", info.reason)
    assert match is not None and int(match.group(1)) < 400, info.reason
    assert any("watchdog" in note for note in info.notes), info.notes


def test_the_unset_default_is_not_a_limit_but_noted(daemon: Daemon, tmp_path: Path) -> None:
    job = Processor(job_id="roomy")
    job.batch([_py(tmp_path, "touch", TOUCH.format(mb=300))])
    info = job.stream.task(0)
    assert info.task.status == "finished"
    assert any("more than mem_per_task=256 MB" in note for note in info.notes), info.notes


def test_disk_per_task_is_reported_and_enforced_when_set(daemon: Daemon, tmp_path: Path) -> None:
    write = "head -c 5000000 /dev/zero; sleep 3"
    free = Processor(job_id="diskfree", output="disk", log_directory=str(tmp_path / "logs"))
    free.batch([write])
    info = free.stream.task(0)
    assert info.task.status == "finished" and info.disk_kb >= 4800, info.disk_kb
    capped = Processor(job_id="diskcap", output="disk", log_directory=str(tmp_path / "logs"), disk_per_task=1)
    capped.batch([write])
    info = capped.stream.task(0)
    assert info.task.status == "failed"
    assert re.fullmatch(r"disk limit: \d+ MB > 1 MB", info.reason), info.reason
