"""How the Mesos adapter answers offers, and the debug line it logs for each (a recording connection, no sockets)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

from stratos_executor.spec import TaskSpec
from stratosd.backends.mesos.backend import MesosBackend
from stratosd.core.events import Event, OffersReceived
from stratosd.core.model import Offer
from tests.mesos.test_backend_updates import setup


def offers_event(*offers: tuple[str, float]) -> dict[str, Any]:
    def resources(cpus: float) -> list[dict[str, Any]]:
        return [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}, "role": "*"},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 4096}, "role": "*"},
                {"name": "disk", "type": "SCALAR", "scalar": {"value": 10000}, "role": "*"}]

    return {"type": "OFFERS", "offers": {"offers": [
        {"id": {"value": oid}, "agent_id": {"value": f"S-{oid}"}, "hostname": f"h-{oid}", "resources": resources(cpus)}
        for oid, cpus in offers]}}


def spec(task_id: int, attempt: int = 1) -> TaskSpec:
    return TaskSpec(job_id="j", task_id=task_id, attempt=attempt, command=f"echo {task_id}", cwd="/", env={},
                    threads=1, output="scheduler", sandbox="/tmp/none")


def answer(backend: MesosBackend, events: list[Event], launches: int) -> None:
    """What the runtime does with the core's answer to the first OffersReceived: the first offer
    gets ``launches`` tasks (task 0 a second attempt), the others are declined."""
    (received,) = [e for e in events if isinstance(e, OffersReceived)]
    first, *rest = received.offers

    async def go() -> None:
        backend.accept("mesos:7", first, [(7, spec(i, attempt=2 if i == 0 else 1), 1.0) for i in range(launches)])
        backend.decline("mesos:7", tuple(o.offer_id for o in rest), 1.0)
        await asyncio.sleep(0)

    asyncio.run(go())


def test_each_answered_offer_logs_its_round_contents_and_delay(caplog: pytest.LogCaptureFixture) -> None:
    backend, framework, conn, events, _ = setup()
    caplog.set_level(logging.DEBUG, logger="stratosd.mesos.offers")
    backend._on_event("mesos:7", offers_event(("O1", 4), ("O2", 2)))
    answer(backend, events, launches=4)
    assert [c["type"] for c in conn.calls] == ["ACCEPT", "DECLINE"]
    assert len(conn.calls[0]["accept"]["operations"][0]["launch"]["task_infos"]) == 4
    assert framework.offers == {} and framework.rounds == 1
    accepted, declined = (r.getMessage() for r in caplog.records if r.name == "stratosd.mesos.offers")
    assert re.fullmatch(r"job j round 1 offer O1 \(cpus=4 mem=4096 disk=10000\): accepted with 4 task\(s\) of "
                        r"cpus=1 mem=256 disk=256 \(1 retried\), \d+\.\d{3} ms after its OFFERS event",
                        accepted), accepted
    assert re.fullmatch(r"job j round 1 offer O2 \(cpus=2 mem=4096 disk=10000\): declined, \d+\.\d{3} ms after "
                        r"its OFFERS event", declined), declined


def test_the_next_offers_event_is_the_next_round() -> None:
    backend, framework, _, _, _ = setup()
    backend._on_event("mesos:7", offers_event(("O1", 1)))
    backend._on_event("mesos:7", offers_event(("O2", 1), ("O3", 1)))
    assert framework.rounds == 2
    assert {oid: h.round for oid, h in framework.offers.items()} == {"O1": 1, "O2": 2, "O3": 2}
    assert framework.offers["O2"].received == framework.offers["O3"].received >= framework.offers["O1"].received


def test_an_offer_that_is_gone_logs_nothing_and_loses_its_tasks(caplog: pytest.LogCaptureFixture) -> None:
    backend, _, conn, events, _ = setup()
    caplog.set_level(logging.DEBUG, logger="stratosd.mesos.offers")

    async def go() -> None:
        backend.accept("mesos:7", Offer("rescinded", "S1", "h", 1, 1024), [(7, spec(0), 1.0)])

    asyncio.run(go())
    assert conn.calls == [] and [type(e).__name__ for e in events] == ["TaskLost"]
    assert not [r for r in caplog.records if r.name == "stratosd.mesos.offers"]
