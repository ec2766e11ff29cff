"""Short garbage collections while the daemon holds a million tasks: the core's records are frozen.

Why: CPython's full (generation 2) collection walks every container object the process holds,
and nothing else runs meanwhile, so no RPC is answered. A queued task is about 1.3 such objects
(its ``Task``; an ended one also its ``Attempt`` and the tuple holding it), and a full collection
took 0.12-0.17 s at 300,000 queued tasks (about 0.5 s at 1,000,000); a large submission, and a
large job running, triggers several. ``Status`` must answer within 100 ms throughout such a job.

What: once the task rows journaled since the last freeze reach ``FREEZE_AFTER`` (a large
submission; a stretch of a large job's run), the runtime runs one full collection and then
``gc.freeze()``: every object alive then moves to the permanent generation, which no later
collection walks. So a full collection walks only what came after the last freeze: fewer than
``FREEZE_AFTER`` task rows' worth (some tens of milliseconds), however large the jobs are, plus the
last step's own objects when one step adds more (a one-call submission of N tasks is walked once,
by the collection before its freeze: about 40 ms at 100,000 tasks, 0.1 s at 300,000). The
daemon also freezes once after its start (modules, gRPC, the jobs restored from the journal).
During each core step and its commit the collector is off (``Heap.step``), so a large submission
is walked once, by the collection before its freeze, not by several full collections inside it.

Why not the alternatives: raising the thresholds (``gc.set_threshold``) or disabling the
collector only postpones the full collection, which then walks every object all the same, and
an automatic one comes at an unchosen moment; a full collection is a pause whatever its timing.

The cost, and why it is small: frozen objects are still freed by reference counting (a removed
job's tasks, attempts and calls hold no reference cycle: tests/harness/test_heap.py checks
that removing a frozen job gives its objects back). Only a reference cycle among frozen objects
that becomes garbage after the freeze is never collected: the few objects of requests in flight
at that moment (asyncio tasks, gRPC calls), once per freeze, i.e. once per ``FREEZE_AFTER`` task
rows. The collection before each freeze keeps the garbage that already exists out of the frozen
set; it walks only what came since the last freeze, so it is as short as the collections it saves.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator

log = logging.getLogger("stratosd")

#: task rows journaled (a submitted task: one; a task that runs: about two, its start and its end)
#: after which the runtime freezes what is alive. A running job's rows bring more objects than a
#: queued one's (attempts, records, story lines): the collection before a freeze took 66-72 ms
#: after 50,000 rows of a running job, 5-61 ms after 20,000 (bench/README.md). A 1,000,000-task
#: job is frozen about 100 times.
FREEZE_AFTER = 20_000


class Heap:
    """Counts the task rows the runtime journals and says when a freeze is due."""

    def __init__(self, after: int | None = None) -> None:
        self.after = FREEZE_AFTER if after is None else after
        #: task rows journaled since the last freeze.
        self.saved = 0
        #: freezes done, and the seconds the last one's collection took (logged, for `stratosd` debugging).
        self.freezes = 0
        self.last_pause = 0.0

    def journaled(self, rows: int) -> bool:
        """Count ``rows`` task rows of a committed step; whether a freeze is now due."""
        self.saved += rows
        return self.saved >= self.after

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """No automatic collection during one core step and its commit: a large submission would
        otherwise run several full ones inside the step, each over every task added so far (at
        each 25 % growth of the long-lived objects), about four times the one collection of the
        freeze that follows it. A step's garbage is collected at the next collection as usual."""
        if not gc.isenabled():
            yield
            return
        gc.disable()
        try:
            yield
        finally:
            gc.enable()

    def freeze(self) -> None:
        """Collect what is garbage now (only what came since the last freeze is walked), then freeze
        what is alive, so that later collections walk none of it."""
        self.saved = 0
        start = time.perf_counter()
        gc.collect()
        gc.freeze()
        self.last_pause = time.perf_counter() - start
        self.freezes += 1
        # not gc.get_freeze_count(): it walks every frozen object (0.2 s at a million tasks)
        log.debug("freeze %d (collection before it: %.1f ms)", self.freezes, 1000 * self.last_pause)
