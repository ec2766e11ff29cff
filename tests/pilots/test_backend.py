"""The pilots adapter carries out the core's StopExecutor (in process, no sockets)."""

from __future__ import annotations

import asyncio

import pytest

from stratosd.backends.pilots import PilotsBackend
from stratosd.core.events import Event, ExecutorHeard, HostAdded
from stratosd.core.types import ExecutorStopCause


def test_a_stopped_pilot_is_told_on_its_waiting_fetch_and_forgotten() -> None:
    events: list[Event] = []

    async def scenario() -> None:
        backend = PilotsBackend(events.append, fetch_wait=5.0)
        backend.register(3, "pilots:3", "x1", "n1", 1, 1000)
        pilot = backend.pilot("x1")
        assert pilot is not None
        fetching = asyncio.get_running_loop().create_task(backend.fetch(pilot, 5.0))
        await asyncio.sleep(0)
        backend.stop_executor("x1", ExecutorStopCause.JOB_CANCELLED)
        tasks, kills, stop = await asyncio.wait_for(fetching, 1.0)  # woken, not after fetch_wait
        assert (tasks, kills, stop) == ([], [], True)
        assert backend.pilot("x1") is None  # its next call must register again

    asyncio.run(scenario())
    # no report of the pilot leaving goes back: the core removed the host itself
    assert [type(e) for e in events if not isinstance(e, ExecutorHeard)] == [HostAdded]


def test_a_pilot_not_told_to_stop_fetches_on() -> None:
    async def scenario() -> None:
        backend = PilotsBackend(lambda e: None, fetch_wait=0.01)
        backend.register(3, "pilots:3", "x1", "n1", 1, 1000)
        pilot = backend.pilot("x1")
        assert pilot is not None
        backend.stop_executor("someone-else", ExecutorStopCause.JOB_CANCELLED)
        assert await backend.fetch(pilot, 1.0) == ([], [], False)
        assert backend.pilot("x1") is pilot

    asyncio.run(scenario())


def test_calls_reach_the_core_as_executor_heard_coalesced_per_pilot(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("stratosd.backends.pilots.time.time", lambda: clock[0])
    events: list[Event] = []
    backend = PilotsBackend(events.append, lost_after=30.0)
    backend.register(3, "pilots:3", "x1", "n1", 1, 1000)
    pilot = backend.pilot("x1")
    assert pilot is not None
    clock[0] = 1000.5
    backend.heard(pilot)  # within a second of the last word: not told again
    backend.register(3, "pilots:3", "x1", "n1", 1, 1000)  # registering again is a word too
    clock[0] = 1001.2
    backend.heard(pilot)
    assert [(type(e), getattr(e, "now", None)) for e in events] == [
        (HostAdded, None), (ExecutorHeard, 1000.0), (ExecutorHeard, 1001.2)]


def test_a_pilot_the_core_found_silent_is_forgotten_and_must_register_again() -> None:
    async def scenario() -> None:
        backend = PilotsBackend(lambda e: None, fetch_wait=5.0)
        backend.register(3, "pilots:3", "x1", "n1", 1, 1000, holding=((0, 1),))
        pilot = backend.pilot("x1")
        assert pilot is not None
        fetching = asyncio.get_running_loop().create_task(backend.fetch(pilot, 5.0))
        await asyncio.sleep(0)
        backend.stop_executor("x1", ExecutorStopCause.SILENT)
        assert await asyncio.wait_for(fetching, 1.0) == ([], [], False)  # not told to stop: it registers again
        assert backend.pilot("x1") is None and backend.live_attempts() == {}

    asyncio.run(scenario())
