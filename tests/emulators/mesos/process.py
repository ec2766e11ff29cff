"""One task process watched from the event loop: no thread per child.

The child runs in its own process group (as the posix launcher's container). Its exit is
learnt from a pidfd that the loop watches; the zombie is peeked at with ``WNOWAIT`` first so
that the rest of its group can be SIGKILLed while the group id is still pinned (the real
agent destroys the whole container when the command exits), then it is reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

_POLL_FIRST = 0.002
_POLL_MAX = 0.05


_DEVNULL = -1


def _devnull() -> int:
    """One /dev/null descriptor for every task's stdin (opening it per spawn costs)."""
    global _DEVNULL
    if _DEVNULL < 0:
        _DEVNULL = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _DEVNULL


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return


class TaskProcess:
    """Spawn ``argv`` with stdout/stderr appended to files; ``on_exit(returncode)`` once it ended.

    ``returncode`` follows Popen: negative means killed by that signal.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        stdout_path: str,
        stderr_path: str,
        on_exit: Callable[[int], None],
        executable: str | None = None,
    ) -> None:
        self._loop = loop
        self._on_exit = on_exit
        self.returncode: int | None = None
        self.exited = False
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        out = os.open(stdout_path, flags, 0o644)
        err = os.open(stderr_path, flags, 0o644)
        try:
            self._popen: subprocess.Popen[bytes] | None = subprocess.Popen(
                list(argv),
                executable=executable,
                cwd=cwd,
                env=dict(env),
                stdin=_devnull(),
                stdout=out,
                stderr=err,
                process_group=0,
                close_fds=True,
            )
        finally:
            os.close(out)
            os.close(err)
        self.pid = self._popen.pid
        self._poll_delay = _POLL_FIRST
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except OSError:  # kernel without pidfd: poll
            self._pidfd = -1
            loop.call_later(self._poll_delay, self._poll)
        else:
            loop.add_reader(self._pidfd, self._reap)

    def signal_group(self, sig: int) -> None:
        if not self.exited:
            _killpg(self.pid, sig)

    def _poll(self) -> None:
        self._reap()
        if not self.exited:
            self._poll_delay = min(self._poll_delay * 2, _POLL_MAX)
            self._loop.call_later(self._poll_delay, self._poll)

    def _reap(self) -> None:
        if self.exited:
            return
        try:
            if self._pidfd >= 0:
                peek = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            else:
                peek = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if peek is None:
                return
            _killpg(self.pid, signal.SIGKILL)  # whatever the command left in its group
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            self.returncode = -signal.SIGKILL
        self.exited = True
        if self._popen is not None:
            self._popen.returncode = self.returncode  # Popen must never reap it itself
            self._popen = None
        self.close()
        self._on_exit(self.returncode)

    def close(self) -> None:
        """Stop watching (the loop is going away); the process itself is left alone."""
        if self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1

    def kill_and_reap(self) -> None:
        """Shutdown path: SIGKILL the group and reap synchronously, without callbacks."""
        if self.exited:
            return
        _killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.exited = True
        if self._popen is not None:
            self._popen.returncode = -signal.SIGKILL
            self._popen = None
        self.close()
