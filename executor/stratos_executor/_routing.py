"""Where a task's stdout and stderr go, per ``spec.output``.

Files are handed to the task directly ("disk", "mesos") so their bytes
never pass through this process; pipes are used only where the bytes are
wanted here (scheduler-mode stdout, the stderr tail, a monitor's view of
new output).
"""

from __future__ import annotations

import os

from ._notes import Notes
from ._output import FileCursor, NewOutput, StdoutStore, TailBuffer, file_tail
from ._proc import Sink
from ._spawn import devnull
from .spec import STDERR_NAME, STDERR_TAIL_BYTES, STDOUT_NAME, TaskRecord, TaskSpec


def _fan_out(first: Sink, second: Sink) -> Sink:
    def sink(data: bytes) -> None:
        first(data)
        second(data)

    return sink


def _open_output_file(path: str) -> int:
    """Create (truncate) an output file, and its directory; read-write so its tail can be read back."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)


class TaskOutputs:
    """The descriptors one task writes to, what reads them, and how they end up in the record.

    ``watch`` asks for the new-output views a monitor needs (:meth:`take_new`).
    Raises OSError (or ValueError for a spec without the files its mode needs)
    after closing whatever it opened.
    """

    def __init__(self, spec: TaskSpec, *, watch: bool, window: int) -> None:
        #: descriptors to give the child as its stdout and stderr.
        self.child_stdout = -1
        self.child_stderr = -1
        #: (read end, sink) of each pipe, for ``_proc.Process``.
        self.pipes: list[tuple[int, Sink]] = []
        self._child_only: list[int] = []  # closed once the child has them
        self._kept: list[int] = []  # files read back later; closed by finish()
        self._store: StdoutStore | None = None
        self._tail: TailBuffer | None = None
        self._stderr_file = -1
        self._new_stdout: NewOutput | FileCursor | None = None
        self._new_stderr: NewOutput | FileCursor | None = None
        try:
            if spec.output in ("disk", "mesos"):
                self._open_files(spec, watch, window)
            else:
                self._open_pipes(spec, watch, window)
        except BaseException:
            self.close()
            self.close_pipes()
            raise

    def _pipe(self, sink: Sink) -> int:
        read_end, write_end = os.pipe()
        self.pipes.append((read_end, sink))
        self._child_only.append(write_end)
        return write_end

    def _open_pipes(self, spec: TaskSpec, watch: bool, window: int) -> None:
        if spec.output == "scheduler":
            self._store = StdoutStore(os.path.join(spec.sandbox, STDOUT_NAME), result_limit=spec.result_limit)
            sink: Sink = self._store.write
            if watch:
                self._new_stdout = NewOutput(window)
                sink = _fan_out(sink, self._new_stdout.write)
            self.child_stdout = self._pipe(sink)
        elif spec.output == "none":
            if watch:  # discarded, but the monitor still sees it
                self._new_stdout = NewOutput(window)
                self.child_stdout = self._pipe(self._new_stdout.write)
            else:
                self.child_stdout = devnull()
        else:
            raise ValueError(f"unknown output mode {spec.output!r}")
        self._tail = TailBuffer(STDERR_TAIL_BYTES)
        sink = self._tail.write
        if watch:
            self._new_stderr = NewOutput(window)
            sink = _fan_out(sink, self._new_stderr.write)
        self.child_stderr = self._pipe(sink)

    def _open_files(self, spec: TaskSpec, watch: bool, window: int) -> None:
        if spec.output == "mesos":
            out_path = os.path.join(spec.sandbox, STDOUT_NAME)
            err_path = os.path.join(spec.sandbox, STDERR_NAME)
        else:
            if not spec.stdout_file or not spec.stderr_file:
                raise ValueError('output mode "disk" needs stdout_file and stderr_file')
            out_path, err_path = spec.stdout_file, spec.stderr_file
        self.child_stdout = _open_output_file(out_path)
        self._kept.append(self.child_stdout)
        if os.path.abspath(err_path) == os.path.abspath(out_path):
            self.child_stderr = self.child_stdout
        else:
            self.child_stderr = _open_output_file(err_path)
            self._kept.append(self.child_stderr)
        self._stderr_file = self.child_stderr
        if watch:
            self._new_stdout = FileCursor(self.child_stdout, window)
            if self.child_stderr != self.child_stdout:
                self._new_stderr = FileCursor(self.child_stderr, window)

    def after_spawn(self) -> None:
        """Close the child's ends of the pipes: EOF then means every writer is gone."""
        for fd in self._child_only:
            os.close(fd)
        self._child_only.clear()

    def take_new(self) -> tuple[bytes, bytes, bool]:
        """stdout and stderr written since the last call, and whether older parts had to be dropped."""
        out, out_dropped = self._new_stdout.take() if self._new_stdout is not None else (b"", False)
        err, err_dropped = self._new_stderr.take() if self._new_stderr is not None else (b"", False)
        return out, err, out_dropped or err_dropped

    def finish(self, record: TaskRecord, notes: Notes) -> None:
        """Fill the output fields of ``record`` and close the files. The pipes are closed by then."""
        if self._store is not None:
            self._store.finish(record, notes)
        if self._tail is not None:
            record.stderr_tail = self._tail.value()
        elif self._stderr_file >= 0:
            try:
                record.stderr_tail = file_tail(self._stderr_file, STDERR_TAIL_BYTES)
            except OSError as exc:
                notes.add(f"could not read the stderr tail: {exc}")
        self.close()

    def close(self) -> None:
        """Close every descriptor still open here (also the pipes' read ends, on a failed spawn)."""
        for fd in self._child_only + self._kept:
            os.close(fd)
        self._child_only.clear()
        self._kept.clear()
        self._stderr_file = -1
        self._new_stdout = self._new_stderr = None

    def close_pipes(self) -> None:
        """Close the read ends; only for a spawn that failed (``_proc.Process`` owns them otherwise)."""
        for fd, _ in self.pipes:
            os.close(fd)
        self.pipes.clear()
