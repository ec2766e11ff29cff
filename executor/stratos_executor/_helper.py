"""Running a short user helper (monitor, relauncher) with a deadline and capturing what it prints.

Same thread-free machinery as the task itself; a helper that overruns its
deadline, or whose caller is cancelled, has its whole process group killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._output import TailBuffer
from ._proc import Process
from ._spawn import spawn

#: stdout kept from one helper call; more is read and dropped.
HELPER_STDOUT_LIMIT = 1 << 20
HELPER_STDERR_TAIL = 1 << 10


@dataclass(slots=True)
class HelperResult:
    stdout: bytes = b""
    stderr_tail: bytes = b""
    #: Popen convention (negative: killed by that signal); None if it never ran or was killed on timeout.
    returncode: int | None = None
    timed_out: bool = False
    #: why it could not be started.
    error: str | None = None


class _Capped:
    __slots__ = ("buf", "limit")

    def __init__(self, limit: int) -> None:
        self.buf = bytearray()
        self.limit = limit

    def write(self, data: bytes) -> None:
        room = self.limit - len(self.buf)
        if room > 0:
            self.buf += data[:room]


async def run_helper(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str],
    timeout: float,
    stdout_limit: int = HELPER_STDOUT_LIMIT,
) -> HelperResult:
    """Run ``argv`` (no shell) for at most ``timeout`` seconds; never raises for the helper's failures."""
    loop = asyncio.get_running_loop()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        pid = spawn(argv, cwd=cwd, env=env, stdout=out_write, stderr=err_write)
    except (OSError, ValueError) as exc:
        os.close(out_read)
        os.close(err_read)
        return HelperResult(error=str(exc))
    finally:
        os.close(out_write)
        os.close(err_write)
    stdout = _Capped(stdout_limit)
    stderr = TailBuffer(HELPER_STDERR_TAIL)
    process = Process(loop, pid, [(out_read, stdout.write), (err_read, stderr.write)])
    result = HelperResult()

    def overran() -> None:
        result.timed_out = True
        process.signal_group(signal.SIGKILL)

    timer = loop.call_later(max(0.0, timeout), overran)
    try:
        await process.done
    except asyncio.CancelledError:
        process.signal_group(signal.SIGKILL)  # reaped later by the Process callbacks
        raise
    finally:
        timer.cancel()
    result.stdout = bytes(stdout.buf)
    result.stderr_tail = stderr.value()
    if not result.timed_out:
        result.returncode = process.returncode
    return result
