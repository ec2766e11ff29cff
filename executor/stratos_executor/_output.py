"""Bounded homes for a task's output bytes.

Every store here has a fixed memory ceiling, whatever the task writes:
output beyond it goes to a file or is read and dropped, never buffered.
"""

from __future__ import annotations

import os

from ._notes import Notes
from .spec import INLINE_STDOUT_LIMIT, TaskRecord


def _skip_partial_char(data: bytes) -> bytes:
    """Drop UTF-8 continuation bytes at the start of a tail cut in the middle of a character."""
    start = 0
    while start < min(3, len(data)) and 0x80 <= data[start] <= 0xBF:
        start += 1
    return data[start:] if start else data


def _append_tail(buf: bytearray, data: bytes, size: int) -> bytearray:
    """``buf + data`` cut to its last ``size`` bytes (``buf`` may be reused)."""
    if len(data) >= size:
        return bytearray(data[len(data) - size :])
    buf += data
    excess = len(buf) - size
    if excess > 0:
        del buf[:excess]  # cheap: bytearray trims its front without moving the rest
    return buf


class TailBuffer:
    """The last ``size`` bytes written (the stderr tail of every record)."""

    __slots__ = ("_buf", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._buf = bytearray()

    def write(self, data: bytes) -> None:
        self._buf = _append_tail(self._buf, data, self._size)

    def value(self) -> bytes:
        return bytes(self._buf)


class NewOutput:
    """Output written to a pipe since the last :meth:`take`, the newest ``size`` bytes of it."""

    __slots__ = ("_buf", "_size", "_written")

    def __init__(self, size: int) -> None:
        self._size = size
        self._buf = bytearray()
        self._written = 0

    def write(self, data: bytes) -> None:
        self._written += len(data)
        self._buf = _append_tail(self._buf, data, self._size)

    def take(self) -> tuple[bytes, bool]:
        """The new output and whether older new output had to be dropped to keep within ``size``."""
        data, dropped = bytes(self._buf), self._written > self._size
        self._buf = bytearray()
        self._written = 0
        return (_skip_partial_char(data) if dropped else data), dropped


class FileCursor:
    """New bytes of a file the task writes directly (disk and mesos modes), at most ``size`` per take."""

    __slots__ = ("_fd", "_offset", "_size")

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size
        self._offset = 0

    def take(self) -> tuple[bytes, bool]:
        end = os.fstat(self._fd).st_size
        if end < self._offset:  # the task truncated its output file
            self._offset = 0
        dropped = end - self._offset > self._size
        start = end - self._size if dropped else self._offset
        data = os.pread(self._fd, end - start, start) if end > start else b""
        self._offset = end
        return (_skip_partial_char(data) if dropped else data), dropped


def file_tail(fd: int, size: int) -> bytes:
    """The last ``size`` bytes of an open file."""
    end = os.fstat(fd).st_size
    start = max(0, end - size)
    return os.pread(fd, end - start, start) if end > start else b""


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class StdoutStore:
    """Scheduler-mode stdout: in memory while small, spilled to ``path`` beyond ``inline_limit``.

    At most ``result_limit`` bytes are stored; more is counted and dropped
    (the pipe must still be drained or the task would block). The spill
    file and its directory are created only when needed, so small outputs
    touch no file system.
    """

    __slots__ = ("_buf", "_error", "_fd", "_inline", "_limit", "_path", "_seen", "_stored")

    def __init__(self, path: str, *, result_limit: int, inline_limit: int = INLINE_STDOUT_LIMIT) -> None:
        self._path = path
        self._limit = max(0, result_limit)
        self._inline = inline_limit
        self._buf = bytearray()
        self._fd = -1
        self._seen = 0
        self._stored = 0
        self._error: str | None = None

    def write(self, data: bytes) -> None:
        self._seen += len(data)
        room = self._limit - self._stored
        if room <= 0 or self._error is not None:
            return
        if len(data) > room:
            data = data[:room]
        if self._fd < 0:
            if len(self._buf) + len(data) <= self._inline:
                self._buf += data
                self._stored += len(data)
                return
            if not self._spill():
                return
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            self._error = f"could not write stdout to {self._path}: {exc}"
            return
        self._stored += len(data)

    def _spill(self) -> bool:
        try:
            os.makedirs(os.path.dirname(self._path) or ".", exist_ok=True)
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
            _write_all(self._fd, self._buf)
        except OSError as exc:
            self._error = f"could not spill stdout to {self._path}: {exc}"
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            return False
        self._buf = bytearray()
        return True

    def finish(self, record: TaskRecord, notes: Notes) -> None:
        """Put the stdout (or its file) in ``record`` and close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -2  # spilled and closed
            record.stdout_path = self._path
            record.stdout = None
        elif self._fd == -1:
            record.stdout = bytes(self._buf)
        if self._seen > self._stored:
            record.stdout_truncated = True
            if self._error is not None:
                notes.add(f"{self._error}; stdout kept: the first {self._stored} of {self._seen} bytes")
            else:
                notes.add(
                    f"stdout truncated: the task wrote {self._seen} bytes, only the first {self._stored}"
                    f" were kept (result limit {self._limit} bytes)"
                )
