"""WAL checkpoints in a thread of their own, off the event loop.

Why: SQLite checkpoints the write-ahead log inside the commit that makes it pass
``wal_autocheckpoint`` pages: that commit then copies the log's pages into the journal and
syncs it, and on a million-task job that took over 100 ms every few seconds, during which the
daemon answered nothing (its commits run on the event loop). Here a second connection
checkpoints (PASSIVE: it never waits for the writer, nor the writer for it) at most every
``interval`` seconds while commits come; the SQLite call releases the GIL, so the loop goes on.
The journal connection keeps an automatic checkpoint at a much larger log as a backstop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("stratosd")

#: seconds between checkpoints while the journal is written.
INTERVAL = 1.0


class Checkpointer:
    """Checkpoints ``path``'s WAL from a daemon thread after commits are noted."""

    def __init__(self, path: Path, interval: float = INTERVAL) -> None:
        self.interval = interval
        #: checkpoints run (and failed), for tests and `stratosd` debugging.
        self.runs = 0
        self.failures = 0
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._due = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stratosd-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """A commit was made: a checkpoint is due within ``interval`` seconds."""
        self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            if self._closing.wait(self.interval):
                return
            self._due.clear()
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as err:  # a full disk: the next commit tries again, the backstop remains
                self.failures += 1
                log.warning("journal checkpoint failed: %s", err)
            self.runs += 1

    def close(self) -> None:
        self._closing.set()
        self._due.set()
        self._thread.join()
        self._db.close()
