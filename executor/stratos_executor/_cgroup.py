"""A memory cgroup per attempt, where this process may create one: the kernel enforces the limit.

Children are made under this process's own memory cgroup (v1: the ``memory``
hierarchy; v2: the unified one, when ``memory`` is enabled in its
``cgroup.subtree_control``). Anything unusable (no controller, read-only
mount, no permission) makes :func:`create` return None with the reason, and
the supervisor's watchdog enforces the limit instead. Setting the environment
variable ``STRATOS_MEMORY_WATCHDOG=1`` forces the watchdog (tests, hosts whose
cgroups are managed by something else).
"""

from __future__ import annotations

import contextlib
import os
import re
import time

FORCE_WATCHDOG = "STRATOS_MEMORY_WATCHDOG"
#: rmdir retries while the kernel finishes moving the last exited processes out.
_REMOVE_TRIES = 50
_REMOVE_PAUSE = 0.01


class CgroupUnavailable(Exception):
    """Why no cgroup could be made (said in the task's notes)."""


def _own_cgroups(text: str) -> tuple[str | None, str | None]:
    """(v1 memory path, v2 path) of this process, from ``/proc/self/cgroup``."""
    v1 = v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if "memory" in controllers.split(","):
            v1 = path
        elif controllers == "" and parts[0] == "0":
            v2 = path
    return v1, v2


def _mounts(text: str) -> tuple[str | None, str | None]:
    """(v1 memory mount point, v2 mount point) from ``/proc/self/mountinfo``."""
    v1 = v2 = None
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        fstype, options = extra[0], extra[2].split(",")
        if fields[3] != "/":
            continue  # a bind mount of a sub-tree: paths would not line up
        if fstype == "cgroup" and "memory" in options and v1 is None:
            v1 = fields[4]
        elif fstype == "cgroup2" and v2 is None:
            v2 = fields[4]
    return v1, v2


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:200]


class MemoryCgroup:
    """One attempt's cgroup: its limit, what the kernel measured, and its removal."""

    def __init__(self, path: str, version: int) -> None:
        self.path = path
        self.version = version

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup:
        """Make ``name`` under this process's memory cgroup with ``limit_bytes``. Raises CgroupUnavailable."""
        if os.environ.get(FORCE_WATCHDOG, "") not in ("", "0"):
            raise CgroupUnavailable(f"{FORCE_WATCHDOG} is set")
        try:
            with open("/proc/self/cgroup") as f:
                own_v1, own_v2 = _own_cgroups(f.read())
            with open("/proc/self/mountinfo") as f:
                mount_v1, mount_v2 = _mounts(f.read())
        except OSError as err:
            raise CgroupUnavailable(f"cannot read this process's cgroups: {err}") from None
        if own_v1 is not None and mount_v1 is not None:
            parent, version = os.path.join(mount_v1, own_v1.lstrip("/")), 1
        elif own_v2 is not None and mount_v2 is not None:
            parent, version = os.path.join(mount_v2, own_v2.lstrip("/")), 2
            try:
                with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                    enabled = f.read().split()
            except OSError as err:
                raise CgroupUnavailable(f"cgroup v2 at {parent}: {err}") from None
            if "memory" not in enabled:
                raise CgroupUnavailable(f"cgroup v2 at {parent}: the memory controller is not enabled for children")
        else:
            raise CgroupUnavailable("no memory cgroup controller is mounted")
        path = os.path.join(parent, _safe(name))
        try:
            os.mkdir(path)
        except FileExistsError:
            pass  # left by an executor that died: reuse it (its processes are gone with their session)
        except OSError as err:
            raise CgroupUnavailable(f"cannot create a cgroup under {parent}: {err.strerror}") from None
        group = cls(path, version)
        try:
            group._write("memory.limit_in_bytes" if version == 1 else "memory.max", str(limit_bytes))
            if version == 1:
                with contextlib.suppress(OSError):  # no swap accounting: the memory limit alone
                    group._write("memory.memsw.limit_in_bytes", str(limit_bytes))
        except OSError as err:
            group.remove()
            raise CgroupUnavailable(f"cannot set a memory limit in {path}: {err.strerror}") from None
        return group

    @property
    def procs_file(self) -> str:
        """The file a process writes its pid to in order to join."""
        return os.path.join(self.path, "cgroup.procs")

    def _write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def _read(self, name: str) -> str:
        with open(os.path.join(self.path, name)) as f:
            return f.read()

    def oom_kills(self) -> int:
        """Processes the kernel killed for the limit so far."""
        try:
            text = self._read("memory.oom_control" if self.version == 1 else "memory.events")
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def peak_kb(self) -> int:
        """The kernel's peak of the memory charged to the group (the tree's sum, page cache included)."""
        try:
            text = self._read("memory.max_usage_in_bytes" if self.version == 1 else "memory.peak")
        except OSError:
            return 0
        return int(text.split()[0]) // 1024

    def remove(self) -> None:
        """Remove the group; the task's processes are gone (its session was SIGKILLed), retry briefly."""
        for _ in range(_REMOVE_TRIES):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                with contextlib.suppress(OSError):  # a straggler: kill it, the group goes with it
                    for pid in self._read("cgroup.procs").split():
                        os.kill(int(pid), 9)
                time.sleep(_REMOVE_PAUSE)
