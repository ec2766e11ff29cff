"""The pilots adapter carries out the core's StopExecutor (in process, no sockets)."""

from __future__ import annotations

import asyncio

from stratosd.backends.pilots import PilotsBackend
from stratosd.core.events import Event, HostAdded
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
    assert [type(e) for e in events] == [HostAdded]  # no HostRemoved: the core removed the host itself


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
