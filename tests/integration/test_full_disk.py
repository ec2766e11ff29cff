"""A full disk under the state directory or a log directory: clear failures, nothing lost, recovery.

Each test mounts a small tmpfs it owns (root can, on these machines) and unmounts it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import Processor
from stratos.errors import JournalUnavailable
from tests.daemon import Daemon, wait_for


@pytest.fixture
def small_disk() -> Iterator[Path]:
    mountpoint = Path(tempfile.mkdtemp(prefix="st-tmpfs-", dir="/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        os.rmdir(mountpoint)


def resize(mountpoint: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mountpoint)], check=True)


def test_a_full_state_directory_fails_requests_clearly_and_loses_nothing(
        small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(tempfile.mkdtemp(prefix="st-", dir="/tmp"))
    os.chmod(root, 0o700)
    d = Daemon(root=root)
    d.state_dir = small_disk / "state"
    d.start()
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    try:
        job = Processor(job_id="fills-disk")
        # 40 results of 200 kB each cannot fit in the 4 MB the journal lives on
        job.stream([f"head -c 200000 /dev/zero | tr '\\0' {chr(97 + i % 26)}" for i in range(40)])
        wait_for(lambda: "journal commit failed" in d.log(), "the journal to fill up")
        with pytest.raises(JournalUnavailable, match="free some space"):  # writes that cannot fit fail clearly
            Processor(job_id="another").stream([f"echo {'x' * 2000} {i}" for i in range(3000)])
        assert job.status().total == 40  # ...reads go on
        resize(small_disk, "64m")  # space comes back
        assert job.wait()
        results = job.get_results()
        assert sorted(results) == sorted(chr(97 + i % 26) * 200_000 for i in range(40))  # all, once
        assert job.status().counts["finished"] == 40
        Processor(job_id="another").batch("echo works again")
    finally:
        d.cleanup()


def test_a_full_log_directory_fails_the_affected_tasks_with_the_reason(daemon: Daemon, small_disk: Path) -> None:
    job = Processor(job_id="full-logs", output="disk", log_directory=str(small_disk))
    counts = job.batch(["head -c 8000000 /dev/zero"])
    assert counts["failed"] == 1
    info = job.stream.task(0)
    assert info.reason == f"disk full: no space left under {small_disk}/full-logs", info
    assert any("is full" in note for note in info.notes)
    assert Processor(job_id="still-serving").batch("true")["finished"] == 1  # the daemon serves on
    resize(small_disk, "64m")  # space returns: tasks writing there work again
    assert job.batch(["echo small"])["finished"] == 1
    assert (small_disk / "full-logs" / "1.stdout").read_text() == "small\n"
