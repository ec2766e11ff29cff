"""A large submission is applied in parts (the servicer's Submit), each its own step and commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stratos._submit import task_ids
from stratos_wire import stratos_pb2 as pb
from stratosd import servicer
from stratosd.core.model import Status
from tests.harness.harness import Harness, _Context


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servicer, "SUBMIT_PART", 3)
    monkeypatch.setattr(servicer, "PART_GAP", 0.2)


async def _chunks(job: str, commands: list[str], request_id: str = "") -> AsyncIterator[pb.SubmitChunk]:
    yield pb.SubmitChunk(header=pb.SubmitHeader(job_id=job, kind=pb.PLAIN, mode=pb.STREAM, cwd="/",
                                                request_id=request_id))
    yield pb.SubmitChunk(items=commands)


def _submit(h: Harness, job: str, commands: list[str], request_id: str = "") -> pb.SubmitReply:
    return h._run(h.servicer.Submit(_chunks(job, commands, request_id), _Context()))


def test_parts_make_one_call_whose_ids_are_one_run(harness: Harness) -> None:
    job = harness.create("big")
    reply = _submit(harness, job, [f"echo {i}" for i in range(8)], "r-1")
    assert (reply.call_id, reply.first_task_id, reply.count, list(reply.ranges)) == (0, 0, 8, [])
    assert len(harness.job(job).calls) == 1
    assert [t.command for t in harness.job(job).tasks] == [f"echo {i}" for i in range(8)]
    # each part is recorded once: parts under r-1#0 and r-1#1, the last with the whole reply under r-1
    assert [harness.store.request_reply(rid) is not None for rid in ("r-1#0", "r-1#1", "r-1#2", "r-1")] == [
        True, True, False, True]
    again = _submit(harness, job, [f"echo {i}" for i in range(8)], "r-1")
    assert again == reply and len(harness.job(job).tasks) == 8  # a retry adds nothing


def test_a_call_between_two_parts_takes_ids_and_the_reply_lists_the_runs(harness: Harness) -> None:
    job = harness.create("big")

    async def both() -> tuple[pb.SubmitReply, pb.SubmitReply]:
        big = asyncio.ensure_future(harness.servicer.Submit(_chunks(job, ["a1", "a2", "a3", "a4", "a5"]),
                                                            _Context()))
        while not harness.job(job).tasks:  # the first part is in: the next waits PART_GAP
            await asyncio.sleep(0.001)
        small = await harness.servicer.Submit(_chunks(job, ["b1"]), _Context())
        return await big, small

    big, small = harness._run(both())
    assert (small.first_task_id, small.count) == (3, 1)
    assert [(r.first, r.count) for r in big.ranges] == [(0, 3), (4, 2)] and big.count == 5
    assert list(task_ids(big)) == [0, 1, 2, 4, 5]
    assert [harness.job(job).tasks[i].command for i in task_ids(big)] == ["a1", "a2", "a3", "a4", "a5"]


def test_a_cancel_between_parts_kills_the_rest_as_it_comes(harness: Harness) -> None:
    harness.create("never")  # open, so the job after it holds its tasks: none starts
    job = harness.create("big", after="never")

    async def cancel_midway() -> pb.SubmitReply:
        big = asyncio.ensure_future(harness.servicer.Submit(_chunks(job, [f"x{i}" for i in range(7)]), _Context()))
        while not harness.job(job).tasks:
            await asyncio.sleep(0.001)
        await harness.servicer.Cancel(pb.CancelRequest(job_id=job), _Context())
        return await big

    reply = harness._run(cancel_midway())
    assert reply.count == 7
    assert [t.status for t in harness.job(job).tasks] == [Status.KILLED] * 7


def test_a_client_that_goes_away_between_parts_leaves_the_submission_applied_whole(harness: Harness) -> None:
    job = harness.create("big")

    async def leave_midway() -> int:
        big = asyncio.ensure_future(harness.servicer.Submit(_chunks(job, [f"y{i}" for i in range(8)]), _Context()))
        while not harness.job(job).tasks:
            await asyncio.sleep(0.001)
        big.cancel()  # what gRPC does to the handler when the client's call is gone
        for _ in range(200):  # the rest comes in PART_GAP steps (bounded: 2 s)
            if len(harness.job(job).tasks) == 8:
                break
            await asyncio.sleep(0.01)
        return len(harness.job(job).tasks)

    assert harness._run(leave_midway()) == 8
    assert [t.command for t in harness.job(job).tasks] == [f"y{i}" for i in range(8)]
