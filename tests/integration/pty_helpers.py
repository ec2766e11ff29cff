"""Run stratosctl the way a user sees it: in a real pseudo-terminal of a given width.

Rich only draws tables (and only reads markup) when stdout is a terminal, so bugs in the
terminal views do not show when stdout is piped. Here the child's stdin and stdout are
the slave side of a pty whose window size is set with TIOCSWINSZ; stderr stays a pipe,
so a traceback is seen apart from the screen.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time

from tests.daemon import Daemon
from tests.integration.ctl_helpers import REPO, STRATOSCTL, child_env

#: ANSI control sequences (colours, cursor moves) and OSC sequences (hyperlinks, titles).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


@dataclasses.dataclass(frozen=True)
class Screen:
    """What a stratosctl run in a pty printed."""

    status: int
    #: the terminal's text without control sequences, "\r\n" turned into "\n".
    text: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def run_ctl_tty(daemon: Daemon, *args: str, columns: int = 80, timeout: float = 30.0) -> Screen:
    """Run ``stratosctl ARGS`` with stdout on a pty ``columns`` wide; read its screen to the end."""
    return run_tty(daemon, [*STRATOSCTL, *args], columns=columns, timeout=timeout)


def run_tty(daemon: Daemon, argv: list[str], columns: int = 80, timeout: float = 30.0,
            stderr_on_tty: bool = False, extra_env: dict[str, str] | None = None) -> Screen:
    """Run ``argv`` with stdout (and with ``stderr_on_tty`` stderr too) on a pty ``columns`` wide."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = child_env(daemon)
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
                 "STRATOS_PROGRESS"):
        env.pop(name, None)  # rich would believe these over the terminal's own size
    env["TERM"] = "xterm-256color"
    env.update(extra_env or {})
    args = argv
    try:
        proc = subprocess.Popen(
            argv, env=env, cwd=REPO, stdin=slave, stdout=slave,
            stderr=slave if stderr_on_tty else subprocess.PIPE, text=False,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None and not select.select([master], [], [], 0.2)[0]:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError as err:  # EIO: every holder of the slave side has closed it
                if err.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            proc.kill()
            raise AssertionError(f"stratosctl {' '.join(args)} did not end within {timeout} s")
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr is not None else ""
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    text = _ESCAPES.sub("", b"".join(chunks).decode(errors="replace")).replace("\r\n", "\n")
    return Screen(status, text.replace("\r", ""), stderr)
