"""The daemon's watcher of followed patterns (``glob_stream(..., follow=True)``).

It scans every active followed pattern at a bounded interval and tells the core which files
it found (:class:`~stratosd.core.events.FilesFound`); the core decides which are new and makes
them tasks, each exactly once (core/follows.py). The watching is in the daemon, not in the
script, so every script sharing a job sees the same tasks, and it goes on after the script
that started it has exited or the daemon has restarted.

Polling, not inotify: inotify is no dependency of StratOS, sees nothing that other hosts write
to a shared file system (NFS, Lustre, an HDFS mount), and can overflow; a glob every
``interval`` seconds (1 s by default, never below 0.1 s) in a worker thread costs one
directory listing per pattern. A follow told to make its last scan (the job it runs after
has ended) is scanned at the next core step instead of waiting for the interval.
"""

from __future__ import annotations

import asyncio
import logging
import time

from stratos_wire.errors import JournalUnavailable
from stratosd import expand
from stratosd.core.events import FilesFound
from stratosd.core.model import Follow, Job
from stratosd.core.types import FollowState
from stratosd.runtime import Runtime

log = logging.getLogger("stratosd.follow")

#: seconds between two scans of one followed pattern.
FOLLOW_INTERVAL = 1.0
#: the shortest interval accepted, and the least time between two wake-ups of the watcher.
MIN_INTERVAL = 0.1


def scan(patterns: tuple[str, ...], cwd: str) -> list[str]:
    """The files matching any of the patterns, as matched, pattern by pattern (each sorted)."""
    found: list[str] = []
    for pattern in patterns:
        found.extend(expand.glob_files(pattern, cwd))
    return found


class FollowWatcher:
    """Scans the core's active followed patterns; one asyncio task (:meth:`run`)."""

    def __init__(self, runtime: Runtime, interval: float = FOLLOW_INTERVAL) -> None:
        self.runtime = runtime
        self.interval = max(MIN_INTERVAL, interval)
        #: (job key, follow id) -> when it was last scanned (monotonic).
        self._scanned: dict[tuple[int, int], float] = {}

    async def run(self) -> None:
        while True:
            watched = self.runtime.watch()
            await self.scan_due()
            # the next core step may tell a follow to make its last scan; else the interval passes
            await self.runtime.changed(watched, timeout=self.interval)
            await asyncio.sleep(MIN_INTERVAL)  # however busy the core is, a few wake-ups a second

    async def scan_due(self) -> None:
        """Scan each active follow whose interval has passed, and each told to make its last scan."""
        now = time.monotonic()
        due = []
        for job, follow in self.runtime.state.active_follows():
            key = (job.key, follow.follow_id)
            final = follow.state is FollowState.FINAL_SCAN
            if final or now - self._scanned.get(key, -self.interval) >= self.interval:
                self._scanned[key] = now
                due.append((job, follow, final))
        for job, follow, final in due:
            try:
                await self._scan(job, follow, final)
            except JournalUnavailable as err:  # a full disk: the next scan finds the same files again
                log.warning("job %s: files found under %s wait for the journal: %s", job.name,
                            ", ".join(follow.patterns), err)
            except Exception:
                log.exception("job %s: scanning %s failed", job.name, ", ".join(follow.patterns))

    async def _scan(self, job: Job, follow: Follow, final: bool) -> None:
        # ``final`` was read before the scan began: a last scan begins after the awaited job ended
        cwd = job.calls[follow.call_id].cwd
        found = await asyncio.to_thread(scan, follow.patterns, cwd)
        new = [f for f in dict.fromkeys(found) if f not in follow.seen]
        if not new and not final:
            return
        mount = follow.mount or None
        commands = tuple(expand.command_for(follow.template, f, cwd, mount) for f in new)
        await self.runtime.emit_committed(FilesFound(job.key, follow.follow_id, tuple(new), commands, final,
                                                     time.time()))
