"""Pure parts of the memory figures and the cgroup discovery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stratos_executor._cgroup import _mounts, _own_cgroups
from stratos_executor._usage import TreeMemory, memory_kb, session_of
from stratosd.core.model import JobSpec
from stratosd.core.state import limit_reason


def test_session_of_a_command_with_spaces_and_parens() -> None:
    assert session_of(b"42 (a) b (c)) S 1 40 41 0 -1") == 41


def test_memory_kb_reads_hwm_and_rss_and_none_for_a_zombie() -> None:
    assert memory_kb("Name:\tx\nVmHWM:\t  1824 kB\nVmRSS:\t  1000 kB\n") == (1824, 1000)
    assert memory_kb("Name:\tx\nState:\tZ (zombie)\n") is None


def test_wait4_figure_counts_only_above_what_the_child_inherited() -> None:
    tree = TreeMemory(peak_single_kb=700, peak_sum_kb=900)
    assert tree.finish(wait_maxrss_kb=65000, inherited_bound_kb=66000) == (700, 900)  # the daemon's, ignored
    assert tree.finish(wait_maxrss_kb=210000, inherited_bound_kb=66000) == (210000, 210000)


def test_cgroup_discovery_v1_and_v2() -> None:
    assert _own_cgroups("4:memory:/process_api/x\n0::/\n") == ("/process_api/x", "/")
    info = ("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
            "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    assert _mounts(info) == ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified")


def test_limit_reason_says_peak_against_the_limit() -> None:
    spec = JobSpec(mem=50.0, mem_set=True, disk=1.0, disk_set=True)
    assert limit_reason(spec, "memory-limit", 99 * 1024) == "memory limit: peak 99 MB > 50 MB"
    assert limit_reason(spec, "memory-limit", 50 * 1024) == "memory limit: peak 50 MB >= 50 MB"
    assert limit_reason(spec, "disk-limit", 5 * 1024) == "disk limit: 5 MB > 1 MB"


def test_the_executors_bound_is_its_own_image_not_what_it_inherited_at_exec() -> None:
    """A daemon exec'd by a big process (a notebook auto-starting it) inherits that process's peak in
    getrusage(RUSAGE_SELF); the bound on what its children inherit is its own image's VmHWM, so a
    task's exact wait4 figure above the daemon's real size is still used."""
    code = (
        "import os, sys\n"
        "big = bytearray(300 << 20)\n"
        "for i in range(0, len(big), 4096): big[i] = 1\n"
        "os.execv(sys.executable, [sys.executable, '-c', "
        "'from stratos_executor._usage import executor_peak_kb; print(executor_peak_kb())'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert 0 < int(out.stdout) < 200 * 1024, out.stdout


def test_a_tasks_tree_is_read_from_the_children_lists_and_its_session_finds_orphans_too(tmp_path: Path) -> None:
    """tree_pids follows /proc/PID/task/TID/children (threads included); a process whose parent
    exited leaves the tree but not the session, which the supervisor scans once samples are far
    apart (see TaskRunner._sample)."""
    import os
    import time

    from stratos_executor._usage import HAS_CHILDREN_LISTS, session_pids, tree_pids

    assert HAS_CHILDREN_LISTS  # this project's kernels list them; without, tree_pids is the session scan
    ready = tmp_path / "orphan"
    # a child, and a grandchild started from a thread of a Python child; an orphan whose parent exits
    script = ("import subprocess, threading, sys\n"
              "t = threading.Thread(target=lambda: subprocess.Popen(['sleep', '30']))\n"
              "t.start(); t.join(); sys.stdin.read()\n")
    proc = subprocess.Popen(["setsid", "sh", "-c",
                             f"(sleep 30 & echo $! > {ready}) ; {sys.executable} -c \"$0\"", script],
                            stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            tree = tree_pids(proc.pid)
            if len(tree) >= 3 and ready.exists() and ready.read_text().strip():
                break
            time.sleep(0.05)
        orphan = int(ready.read_text())
        tree, session = tree_pids(proc.pid), session_pids(proc.pid)
        assert len(tree) == 3 and tree[0] == proc.pid, tree  # sh, python, the thread's sleep
        assert orphan not in tree and set(session) == {*tree, orphan}, (tree, session, orphan)
        assert tree_pids(2**22 + 1) == []  # no such process
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
