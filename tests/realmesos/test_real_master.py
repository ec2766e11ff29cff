"""The harness end to end: a minimal v1 HTTP scheduler (aiohttp, JSON, RecordIO) against the
real Mesos 1.11 master from tests/realmesos, with its 3 agents."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.realmesos.harness import RealMesos

# The first test also pays for setup.sh (cold: apt-get + PyPI downloads) and the master's start.
pytestmark = pytest.mark.timeout(600)

Json = dict[str, Any]


class MiniScheduler:
    """Just enough of a v1 scheduler: SUBSCRIBE (keeps the event stream), calls with the
    Mesos-Stream-Id header, RecordIO decoding ("<length>\\n<json>")."""

    def __init__(self, mesos: RealMesos, name: str) -> None:
        self.mesos = mesos
        self.name = name
        self.session: aiohttp.ClientSession | None = None
        self.stream: aiohttp.ClientResponse | None = None
        self.stream_id = ""
        self.framework_id: Json = {}
        self.subscribed: Json = {}
        self.torn_down = False
        self.heartbeats = 0

    async def __aenter__(self) -> MiniScheduler:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.framework_id and not self.torn_down:
                await self.call("TEARDOWN")
        finally:
            if self.stream is not None:
                self.stream.close()
            assert self.session is not None
            await self.session.close()

    async def subscribe(self) -> Json:
        assert self.session is not None
        body = {"type": "SUBSCRIBE",
                "subscribe": {"framework_info": {"user": "root", "name": self.name, "roles": ["*"],
                                                 "capabilities": [{"type": "MULTI_ROLE"}]}}}
        self.stream = await self.session.post(self.mesos.scheduler_url, data=json.dumps(body),
                                              headers={"Content-Type": "application/json",
                                                       "Accept": "application/json"})
        assert self.stream.status == 200, f"SUBSCRIBE -> {self.stream.status} {await self.stream.text()}"
        assert self.stream.headers.get("Content-Type", "").startswith("application/json")
        self.stream_id = self.stream.headers["Mesos-Stream-Id"]
        event = await self.next_event()
        assert event["type"] == "SUBSCRIBED", event
        self.subscribed = event["subscribed"]
        self.framework_id = self.subscribed["framework_id"]
        return event

    async def next_event(self, timeout: float = 30) -> Json:
        """The next RecordIO record of the subscription stream, decoded."""
        assert self.stream is not None

        async def read() -> Json:
            assert self.stream is not None
            line = await self.stream.content.readline()
            if not line:
                raise AssertionError("the master closed the event stream")
            size = int(line.strip())
            record: Json = json.loads(await self.stream.content.readexactly(size))
            return record

        return await asyncio.wait_for(read(), timeout)

    async def event(self, kind: str, timeout: float = 30) -> Json:
        """The next event of type `kind`; HEARTBEATs are counted, other kinds skipped (offers declined)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} event within {timeout} s")
            event = await self.next_event(left)
            if event["type"] == kind:
                return event
            if event["type"] == "HEARTBEAT":
                self.heartbeats += 1
            elif event["type"] == "OFFERS":
                await self.decline([o["id"] for o in event["offers"]["offers"]])
            elif event["type"] == "ERROR":
                raise AssertionError(f"ERROR event: {event}")

    async def call(self, kind: str, payload: Json | None = None, stream_id: str | None = None) -> int:
        """POST a call (on another connection than the stream); returns the HTTP status."""
        assert self.session is not None
        body: Json = {"framework_id": self.framework_id, "type": kind}
        if payload is not None:
            body[kind.lower()] = payload
        async with self.session.post(
            self.mesos.scheduler_url, data=json.dumps(body),
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "Mesos-Stream-Id": self.stream_id if stream_id is None else stream_id},
            timeout=aiohttp.ClientTimeout(total=15),
        ) as r:
            if kind == "TEARDOWN" and r.status == 202:
                self.torn_down = True
            return r.status

    async def decline(self, offer_ids: list[Json], refuse_seconds: float = 1) -> None:
        if offer_ids:
            status = await self.call("DECLINE", {"offer_ids": offer_ids, "filters": {"refuse_seconds": refuse_seconds}})
            assert status == 202, status

    async def offers_from_agents(self, count: int, timeout: float = 30) -> list[Json]:
        """Offers until `count` distinct agents have offered (the newest offer per agent is kept)."""
        by_agent: dict[str, Json] = {}
        deadline = time.monotonic() + timeout
        while len(by_agent) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"offers from {len(by_agent)} agents only within {timeout} s: {by_agent}")
            event = await self.event("OFFERS", left)
            for offer in event["offers"]["offers"]:
                old = by_agent.get(offer["agent_id"]["value"])
                if old is not None:
                    await self.decline([old["id"]])
                by_agent[offer["agent_id"]["value"]] = offer
        return list(by_agent.values())


def run(coro: Callable[[], Awaitable[None]], timeout: float = 120) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro(), timeout)

    asyncio.run(bounded())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def scalar(resources: list[Json], name: str) -> float:
    return float(sum(r["scalar"]["value"] for r in resources if r["name"] == name))


async def wait_state(mesos: RealMesos, predicate: Callable[[Json], bool], timeout: float = 20) -> Json:
    deadline = time.monotonic() + timeout
    while True:
        state = await asyncio.to_thread(mesos.state)
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"/master/state never matched within {timeout} s: {json.dumps(state)[:3000]}")
        await asyncio.sleep(0.2)


@pytest.mark.mesos
def test_subscribed_with_stream_id(real_mesos: RealMesos) -> None:
    async def main() -> None:
        async with MiniScheduler(real_mesos, unique("rm-subscribe")) as s:
            event = await s.subscribe()
            assert s.stream_id
            assert s.framework_id["value"]
            assert event["subscribed"]["heartbeat_interval_seconds"] > 0
            assert event["subscribed"]["master_info"]["version"] == "1.11.0"
            # A call with a wrong stream id is refused by the real master.
            assert await s.call("REVIVE", stream_id=str(uuid.uuid4())) == 400
            assert await s.call("REVIVE") == 202

    run(main)


@pytest.mark.mesos
def test_offers_from_three_agents(real_mesos: RealMesos) -> None:
    async def main() -> None:
        async with MiniScheduler(real_mesos, unique("rm-offers")) as s:
            await s.subscribe()
            offers = await s.offers_from_agents(3)
            assert len({o["agent_id"]["value"] for o in offers}) == 3
            assert {o["hostname"] for o in offers} == {"localhost"}
            for o in offers:
                assert o["framework_id"] == s.framework_id
                assert scalar(o["resources"], "cpus") == 4
                assert scalar(o["resources"], "mem") == 4096
            await s.decline([o["id"] for o in offers])

    run(main)


@pytest.mark.mesos
def test_echo_task_status_updates_and_acks(real_mesos: RealMesos) -> None:
    async def main() -> None:
        async with MiniScheduler(real_mesos, unique("rm-echo")) as s:
            await s.subscribe()
            offers = await s.offers_from_agents(3)
            offer, others = offers[0], offers[1:]
            await s.decline([o["id"] for o in others])
            task_id = {"value": unique("echo")}
            task = {"name": "echo", "task_id": task_id, "agent_id": offer["agent_id"],
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                  {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
                    "command": {"value": "echo hi"}}
            status = await s.call("ACCEPT", {"offer_ids": [offer["id"]],
                                             "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
                                             "filters": {"refuse_seconds": 1}})
            assert status == 202
            states: list[str] = []
            uuids: set[str] = set()
            while not states or states[-1] not in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED",
                                                    "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"):
                update = (await s.event("UPDATE"))["update"]["status"]
                assert update["task_id"] == task_id
                assert update["agent_id"] == offer["agent_id"]
                states.append(update["state"])
                # Executor updates carry a uuid and must be acknowledged before the agent sends the next.
                assert update.get("uuid"), update
                assert update["uuid"] not in uuids
                uuids.add(update["uuid"])
                ack = {"agent_id": update["agent_id"], "task_id": update["task_id"], "uuid": update["uuid"]}
                assert await s.call("ACKNOWLEDGE", ack) == 202
            assert states == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]

            state = await wait_state(real_mesos, lambda st: any(
                t["id"] == task_id["value"] for f in st["frameworks"] if f["id"] == s.framework_id["value"]
                for t in f["completed_tasks"]))
            framework = next(f for f in state["frameworks"] if f["id"] == s.framework_id["value"])
            done = next(t for t in framework["completed_tasks"] if t["id"] == task_id["value"])
            assert done["state"] == "TASK_FINISHED"
            assert done["slave_id"] == offer["agent_id"]["value"]

        # The task really ran: its sandbox stdout holds "hi".
        outputs = [p.read_text() for p in real_mesos.work_dir.rglob("stdout")
                   if s.framework_id["value"] in str(p) and task_id["value"] in str(p)]
        assert any(out.splitlines()[-1:] == ["hi"] for out in outputs), outputs

    run(main)


def process_group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # after "(comm)": state, ppid, pgrp, ...
            members.append(int(stat.parent.name))
    return members


@pytest.mark.mesos
def test_kill_ends_the_whole_task(real_mesos: RealMesos) -> None:
    async def main() -> None:
        async with MiniScheduler(real_mesos, unique("rm-kill")) as s:
            await s.subscribe()
            offer = (await s.offers_from_agents(1))[0]
            task_id = {"value": unique("sleeper")}
            task = {"name": "sleeper", "task_id": task_id, "agent_id": offer["agent_id"],
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
                    "command": {"value": "echo $$ > task.pid; sleep 300; echo not reached"}}
            assert await s.call("ACCEPT", {"offer_ids": [offer["id"]],
                                           "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]}) == 202
            states: list[str] = []
            pid_files: list[Path] = []
            deadline = time.monotonic() + 30
            while states[-1:] != ["TASK_KILLED"]:
                update = (await s.event("UPDATE", max(deadline - time.monotonic(), 0.1)))["update"]["status"]
                states.append(update["state"])
                ack = {"agent_id": update["agent_id"], "task_id": update["task_id"], "uuid": update["uuid"]}
                assert await s.call("ACKNOWLEDGE", ack) == 202
                if update["state"] == "TASK_RUNNING":
                    while not pid_files and time.monotonic() < deadline:
                        pid_files = [p for p in real_mesos.work_dir.rglob("task.pid") if task_id["value"] in str(p)]
                        await asyncio.sleep(0.05)
                    assert pid_files
                    assert await s.call("KILL", {"task_id": task_id, "agent_id": offer["agent_id"]}) == 202
            assert states == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]
            # The shell and its `sleep` (one process group) are both gone (zombies count as gone).
            shell = int(pid_files[0].read_text())
            while process_group_members(shell) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert process_group_members(shell) == []

    run(main)


@pytest.mark.mesos
def test_framework_listed_by_name_in_state(real_mesos: RealMesos) -> None:
    async def main() -> None:
        name = unique("rm-state")
        async with MiniScheduler(real_mesos, name) as s:
            await s.subscribe()
            state = await wait_state(real_mesos, lambda st: any(f["name"] == name for f in st["frameworks"]))
            framework = next(f for f in state["frameworks"] if f["name"] == name)
            assert framework["id"] == s.framework_id["value"]
            assert framework["active"] is True
            assert framework["user"] == "root"
            assert len([a for a in state["slaves"] if a["active"]]) == 3

    run(main)


@pytest.mark.mesos
def test_teardown_moves_framework_to_completed(real_mesos: RealMesos) -> None:
    async def main() -> None:
        name = unique("rm-teardown")
        async with MiniScheduler(real_mesos, name) as s:
            await s.subscribe()
            await wait_state(real_mesos, lambda st: any(f["name"] == name for f in st["frameworks"]))
            assert await s.call("TEARDOWN") == 202
            fid = s.framework_id["value"]
            state = await wait_state(real_mesos, lambda st: any(f["id"] == fid for f in st["completed_frameworks"]))
            assert all(f["id"] != fid for f in state["frameworks"])
            completed = next(f for f in state["completed_frameworks"] if f["id"] == fid)
            assert completed["name"] == name
            assert completed["active"] is False

    run(main)
