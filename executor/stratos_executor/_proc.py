"""Watching a spawned process from the event loop, with no thread per child.

Exit is learnt from a pidfd (readable once the process is a zombie), the
zombie is reaped with ``wait4`` for its rusage, and output pipes are read
with non-blocking ``os.read`` from loop readers. This works the same under
asyncio's default loop and uvloop; asyncio's own subprocess API is avoided
because Python 3.11's child watcher starts a thread per child.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import time
from collections.abc import Callable, Sequence

#: receives each chunk read from a pipe.
Sink = Callable[[bytes], None]

READ_CHUNK = 65536
#: bytes taken from one pipe per wake-up before other work gets a turn.
READ_BUDGET = 1 << 20
#: how long pipes are still read after the process exited and its group was killed. Only a
#: process that left the group (setsid, its own process group) can hold them open that long.
DRAIN_TIMEOUT = 2.0
_POLL_FIRST = 0.001
_POLL_MAX = 0.05


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # group already gone
        return


class Process:
    """One child: its exit, its rusage and its output pipes, all driven by loop callbacks.

    When the main process exits, whatever is left of its process group is
    SIGKILLed (while the zombie still pins the group id, so it cannot have
    been reused), then the zombie is reaped and the pipes are read to EOF.
    ``done`` resolves once that is over, whether or not anyone awaits it.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pid: int,
        pipes: Sequence[tuple[int, Sink]],
        *,
        on_exit: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
        drain_timeout: float | None = None,
    ) -> None:
        self.pid = pid
        #: Popen convention: negative means killed by that signal. None if the status was lost.
        self.returncode: int | None = None
        self.rusage: resource.struct_rusage | None = None
        self.exited = False
        self.ended = 0.0
        #: set when the status could not be collected (another part of the program reaped the child).
        self.wait_error: str | None = None
        #: set when a pipe was still open DRAIN_TIMEOUT after the exit and was closed unread.
        self.pipes_abandoned = False
        self.done: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._on_exit = on_exit
        self._on_done = on_done
        self._drain_timeout = DRAIN_TIMEOUT if drain_timeout is None else drain_timeout
        self._drain_timer: asyncio.TimerHandle | None = None
        self._pipes: dict[int, Sink] = {}
        for fd, sink in pipes:
            os.set_blocking(fd, False)
            self._pipes[fd] = sink
            loop.add_reader(fd, self._on_readable, fd, sink)
        self._poll_delay = _POLL_FIRST
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except OSError:  # kernel without pidfd (< 5.3): poll instead
            self._pidfd = -1
            loop.call_later(self._poll_delay, self._poll)
        else:
            loop.add_reader(self._pidfd, self._on_pidfd)

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the child's process group, unless the child has been reaped already."""
        if not self.exited:
            _killpg(self.pid, sig)

    # -- exit ---------------------------------------------------------------------------------

    def _on_pidfd(self) -> None:
        try:
            self._reap()
        finally:
            if self.exited and self._pidfd >= 0:
                self._loop.remove_reader(self._pidfd)
                os.close(self._pidfd)
                self._pidfd = -1

    def _poll(self) -> None:
        self._reap()
        if not self.exited:
            self._poll_delay = min(self._poll_delay * 2, _POLL_MAX)
            self._loop.call_later(self._poll_delay, self._poll)

    def _reap(self) -> None:
        # Peek first: only our own unreaped zombie pins the group id; if something else in this
        # program reaped the child, the id may already belong to a stranger and must not be signalled.
        try:
            if self._pidfd >= 0:
                exited = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            else:
                exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if exited is None:
                return  # still running
            _killpg(self.pid, signal.SIGKILL)
            _, status, rusage = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.wait_error = "the exit status was collected by another part of the program"
        else:
            self.returncode = os.waitstatus_to_exitcode(status)
            self.rusage = rusage
        self.exited = True
        self.ended = time.time()
        try:
            if self._on_exit is not None:
                self._on_exit()
        finally:
            if self._pipes:
                self._drain_timer = self._loop.call_later(self._drain_timeout, self._abandon_pipes)
            else:
                self._finish()

    # -- output -------------------------------------------------------------------------------

    def _on_readable(self, fd: int, sink: Sink) -> None:
        got = 0
        while got < READ_BUDGET:
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_pipe(fd)
                return
            sink(data)
            got += len(data)

    def _close_pipe(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        os.close(fd)
        del self._pipes[fd]
        if self.exited and not self._pipes:
            self._finish()

    def _abandon_pipes(self) -> None:
        self._drain_timer = None
        self.pipes_abandoned = True
        for fd, sink in list(self._pipes.items()):
            self._on_readable(fd, sink)  # whatever is already buffered
            if fd in self._pipes:
                self._close_pipe(fd)

    def _finish(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        try:
            if self._on_done is not None:
                self._on_done()
        finally:
            if not self.done.done():
                self.done.set_result(None)
