"""The runtime freezes what is alive after a large batch of task rows (stratosd/heap.py): the core's
task objects leave the generations the garbage collector walks, and a removed job's frozen objects
are still given back (reference counting: a job holds no reference cycle)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from stratosd.heap import Heap
from tests.harness.harness import Harness

#: task rows after which this test's runtime freezes (the daemon's is stratosd.heap.FREEZE_AFTER).
AFTER = 2_000


@pytest.fixture
def heap(harness: Harness) -> Iterator[Heap]:
    """A freezing runtime, as the daemon's; everything this test process froze is unfrozen after it."""
    harness.runtime.heap = Heap(after=AFTER)
    try:
        yield harness.runtime.heap
    finally:
        gc.unfreeze()


def walked() -> set[int]:
    """The ids of the objects the collector walks (its three generations, not the frozen ones)."""
    return {id(o) for o in gc.get_objects()}


def test_a_large_submission_leaves_the_collected_generations(harness: Harness, heap: Heap) -> None:
    job = harness.create("big")
    before = gc.get_freeze_count()
    harness.submit(job, ["sleep 1"] * (AFTER + 1000))  # the host runs 2, the rest wait
    tasks = harness.job(job).tasks
    assert heap.freezes == 1 and heap.saved == 0
    assert gc.get_freeze_count() >= before + len(tasks)
    ids = walked()
    assert not any(id(t) in ids for t in tasks)
    # fewer rows than AFTER since: the next submission's tasks stay where the collector walks
    harness.submit(job, ["sleep 1"] * 500)
    ids = walked()
    assert all(id(t) in ids for t in harness.job(job).tasks[AFTER + 1000:])
    assert heap.freezes == 1 and heap.saved == 500


def test_a_removed_frozen_job_is_given_back(harness: Harness, heap: Heap) -> None:
    job = harness.create("big")
    harness.submit(job, ["sleep 1"] * (AFTER + 1000))
    harness.cancel(job)  # every task ends (killed): the job can be removed
    assert heap.freezes == 2  # the submission's rows, then the cancel's
    frozen = gc.get_freeze_count()
    harness.remove(job)
    # its tasks (and their attempts) were frozen and are freed all the same
    assert gc.get_freeze_count() <= frozen - (AFTER + 1000)


def test_no_freeze_without_a_heap(harness: Harness) -> None:
    """In-process runtimes (the harness, tests) do not freeze unless given a Heap: the daemon sets one."""
    assert harness.runtime.heap is None
    before = gc.get_freeze_count()
    job = harness.create("big")
    harness.submit(job, ["sleep 1"] * (AFTER + 1000))
    assert gc.get_freeze_count() == before


def test_no_collection_runs_inside_a_step() -> None:
    """Heap.step: what a step allocates (here 200,000 objects, which would start collections of
    every generation) is not walked until the step is over; the collector is on again after it."""
    seen: list[int] = []

    def collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(collection)
    try:
        with Heap().step():
            held: list[list[int]] = [[] for _ in range(200_000)]
            inside = len(seen)
        assert inside == 0 and gc.isenabled()
        more: list[list[int]] = [[] for _ in range(1_000)]  # outside a step, allocations collect as usual
        assert seen
    finally:
        gc.callbacks.remove(collection)
    assert len(held) + len(more) == 201_000


def test_a_freeze_does_not_count_the_frozen_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """gc.get_freeze_count() walks every frozen object: called at each freeze (for a log line) it
    made the pause grow with the job, 25 -> 66 ms over 200,000 tasks, about 0.25 s at 1,000,000."""
    def walks_them_all() -> int:
        raise AssertionError("gc.get_freeze_count() walks the whole permanent generation")

    monkeypatch.setattr(gc, "get_freeze_count", walks_them_all)
    heap = Heap()
    heap.freeze()
    assert heap.freezes == 1 and heap.saved == 0
