"""The core's invariants, checked after every step when ``SchedulerState(validate=True)``.

Tests run with it on (dask's ``validate`` flag); the daemon does not pay for it.
Each check raises AssertionError naming the first invariant broken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratosd.core.locality import best_hosts
from stratosd.core.model import TERMINAL, LocalityTally, Status
from stratosd.core.types import TaskEndReason

if TYPE_CHECKING:
    from stratosd.core.state import SchedulerState


def validate(state: SchedulerState) -> None:
    """Check every invariant of ``state``."""
    for job in state.jobs.values():
        assert state.by_key.get(job.key) is job, (job.name, "not indexed by its key")
        counts = dict.fromkeys(Status, 0)
        for task in job.tasks:
            counts[task.status] += 1
            # the shown reason always has a code (decisions read the code, never the text)
            assert not task.reason or task.end is not TaskEndReason.NONE, (job.name, task.task_id, task.reason)
        assert counts == job.counts, (job.name, counts, job.counts)
        pending = {t.task_id for t in job.tasks if t.status is Status.PENDING}
        assert pending <= set(job.pending), (job.name, "pending task missing from the queue")
        local: dict[str, int] = {}
        for task_id in pending:
            for where in best_hosts(job.tasks[task_id].host_bytes):
                local[where] = local.get(where, 0) + 1
        assert local == job.local_pending, (job.name, "pending tasks per data host", local, job.local_pending)
        tally = LocalityTally()
        for task in job.tasks:
            tally.count(task)
        assert tally.figures() == job.locality.figures(), (job.name, "locality report", tally.figures(),
                                                           job.locality.figures())
        for call in job.calls:
            unended = sum(1 for t in job.tasks if t.call_id == call.call_id and t.status not in TERMINAL)
            assert unended == call.unended, (job.name, call.call_id, unended, call.unended)
            by_status = dict.fromkeys(Status, 0)
            for t in job.tasks:
                if t.call_id == call.call_id:
                    by_status[t.status] += 1
            assert by_status == call.counts, (job.name, call.call_id, by_status, call.counts)
        assert job.published >= 0
    for host in state.hosts.values():
        used_cpus = used_mem = 0.0
        for key, task_id in host.running:
            job = state.by_key[key]
            assert job.tasks[task_id].status is Status.RUNNING
            assert state.book.placed.get((key, task_id)) == host.host_id, (host.host_id, key, task_id, "not placed")
            used_cpus += state.book.share(job, host.pool)
            used_mem += job.spec.mem
        assert abs(host.cpus - host.free_cpus - used_cpus) < 1e-6, (host.host_id, "cpus")
        assert abs(host.mem - host.free_mem - used_mem) < 1e-6, (host.host_id, "mem")
    for (key, task_id), host_id in state.book.placed.items():
        holder = state.hosts.get(host_id)
        if holder is not None:  # (a test may drop hosts from a state it is done with)
            assert (key, task_id) in holder.running, (host_id, key, task_id, "placed but not running there")
