"""What one attempt's processes use: peak memory (per process and summed) and disk, from /proc.

Why not just ``wait4``'s ``ru_maxrss``: the task is started with ``posix_spawn``
(vfork + exec) and at exec the kernel folds the *parent's* high-water mark into
the child's ``signal->maxrss``, so every task would report at least the
executor's own RSS (~65 MB in the daemon). ``VmHWM`` in ``/proc/PID/status``
is the high-water mark of the process's own image (a fresh mm at exec), so it
is sampled for every process of the task's session; ``wait4``'s figure is used
only when it exceeds what the executor's own peak could have contributed, where
it is the kernel's exact figure (own image and reaped descendants).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
from collections.abc import Iterable
from dataclasses import dataclass

#: files visited per disk measurement: a sandbox with more is measured partly (and said so).
DISK_SCAN_LIMIT = 20000


def executor_peak_kb(proc: str = "/proc") -> int:
    """The high-water mark of this process's own image: what a child it spawns inherits in ``ru_maxrss``.

    Not ``getrusage(RUSAGE_SELF)``: that also holds what *this* process inherited at its own exec
    (a daemon auto-started by a 2 GB notebook reports 2 GB), which would hide every task's exact
    ``wait4`` figure below it.
    """
    with contextlib.suppress(OSError, ValueError):
        figures = memory_kb(read_status(f"{proc}/self/status"))
        if figures is not None:
            return max(figures)
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


_peak_seen_kb = 0


def inherited_bound_kb(child_maxrss_kb: int) -> int:
    """The most of ``child_maxrss_kb`` (an ended child's ``ru_maxrss``) that may be this process's
    own image, inherited at the spawn (see :func:`executor_peak_kb`).

    This process's high-water mark only grows, so it is read again only when the child's figure
    is above the last one read: most tasks' figure is the inherited one, and the read (a /proc
    file) is then saved. Read at the child's end, not its spawn, the bound is the same unless this
    process grew meanwhile; then a child whose own peak lay between the two is given its sampled
    peak instead of the exact one.
    """
    global _peak_seen_kb
    if child_maxrss_kb > _peak_seen_kb:
        _peak_seen_kb = executor_peak_kb()
    return _peak_seen_kb


def session_pids(sid: int, proc: str = "/proc") -> list[int]:
    """Every live process whose session is ``sid`` (a task runs in a session of its own)."""
    found = []
    try:
        names = os.listdir(proc)
    except OSError:
        return [sid]
    for name in names:
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"{proc}/{name}/stat", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # gone meanwhile
        try:
            stat = os.read(fd, 4096)  # one line, well under a page
        except OSError:
            continue
        finally:
            os.close(fd)
        if session_of(stat) == sid:
            found.append(int(name))
    return found


#: whether this kernel lists each thread's children (CONFIG_PROC_CHILDREN).
HAS_CHILDREN_LISTS = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def tree_pids(root: int, proc: str = "/proc") -> list[int]:
    """``root`` and its live descendants, by the kernel's lists of each thread's children
    (``/proc/PID/task/TID/children``): a few reads for a task's few processes, where a session
    scan reads the ``stat`` of every process of the machine. A descendant whose parent exited
    (reparented out of the tree, still in the session) is found by :func:`session_pids` only.
    Without those lists (a kernel built without them): the session scan."""
    if not HAS_CHILDREN_LISTS:
        return session_pids(root, proc)
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            threads = os.listdir(f"{proc}/{pid}/task")
        except OSError:
            continue  # gone meanwhile
        found.append(pid)
        for tid in threads:
            try:
                fd = os.open(f"{proc}/{pid}/task/{tid}/children", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                todo.extend(int(child) for child in os.read(fd, 65536).split())
            except OSError:
                continue
            finally:
                os.close(fd)
    return found


def session_of(stat: bytes) -> int | None:
    """The session id field of a ``/proc/PID/stat`` line (the command may contain spaces and ')')."""
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[3])  # state ppid pgrp session
    except (IndexError, ValueError):
        return None


def read_status(path: str) -> str:
    """A ``/proc`` file's text, read with plain system calls: it is read twice per task, so its cost counts."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while chunk := os.read(fd, 8192):
            parts.append(chunk)
    finally:
        os.close(fd)
    return b"".join(parts).decode(errors="replace")


#: a field at the start of a line (the first line is Name:, never one of these).
_HWM = re.compile(r"\nVmHWM:\s*(\d+)")
_RSS = re.compile(r"\nVmRSS:\s*(\d+)")


def memory_kb(status: str) -> tuple[int, int] | None:
    """(VmHWM, VmRSS) in kB from a ``/proc/PID/status`` text; None for a zombie or kernel thread."""
    hwm, rss = _HWM.search(status), _RSS.search(status)
    if hwm is None or rss is None:
        return None
    return int(hwm[1]), int(rss[1])


@dataclass(slots=True)
class TreeMemory:
    """Peaks seen over the samples of one task's processes."""

    #: the largest single process's own peak (VmHWM), kB.
    peak_single_kb: int = 0
    #: the largest sampled sum of the processes' current RSS, kB.
    peak_sum_kb: int = 0
    #: the sum at the latest sample, kB.
    current_sum_kb: int = 0

    def sample(self, pids: Iterable[int], proc: str = "/proc") -> None:
        """Read every process's status once and fold it into the peaks."""
        total = 0
        for pid in pids:
            try:
                figures = memory_kb(read_status(f"{proc}/{pid}/status"))
            except (OSError, ValueError):
                continue
            if figures is None:
                continue
            hwm, rss = figures
            self.peak_single_kb = max(self.peak_single_kb, hwm, rss)
            total += rss
        self.current_sum_kb = total
        self.peak_sum_kb = max(self.peak_sum_kb, total)

    def finish(self, wait_maxrss_kb: int, inherited_bound_kb: int) -> tuple[int, int]:
        """(largest single process, peak of the sum) once the task ended.

        ``wait_maxrss_kb`` is the direct child's ``ru_maxrss``: max(inherited, its own
        peak, its reaped descendants' peaks). Above ``inherited_bound_kb`` it can only
        be the task's own figure, and an exact one (the samples may have missed the end).
        """
        single = self.peak_single_kb
        if wait_maxrss_kb > inherited_bound_kb:
            single = max(single, wait_maxrss_kb)
        return single, max(self.peak_sum_kb, single)


def disk_kb(paths: Iterable[str]) -> tuple[int, bool]:
    """Space the files under ``paths`` take (allocated blocks, kB), and whether the scan was complete."""
    total = 0
    visited = 0
    complete = True
    seen: set[tuple[int, int]] = set()
    stack = [p for p in paths if p]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except OSError:
            continue
        visited += 1
        if visited > DISK_SCAN_LIMIT:
            complete = False
            break
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += st.st_blocks * 512 // 1024
        if os.path.isdir(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                stack.extend(os.path.join(path, name) for name in os.listdir(path))
    return total, complete
