"""The Mesos emulator driven by a minimal v1 scheduler written here (aiohttp + inline RecordIO).

Expected wire shapes and texts are the ones a real Mesos 1.11 master produced for the same
calls (probed with tests/realmesos); the emulator exists for what that master cannot show:
named hosts, agent loss, leader redirects, heartbeat loss and missed acknowledgements.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
import pytest

from tests.emulators.mesos import AgentSpec, MesosEmulator

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
Event = dict[str, Any]


def run(body: Callable[[], Awaitable[None]], timeout: float = 25.0) -> None:
    asyncio.run(asyncio.wait_for(body(), timeout))


def emulator(tmp_path: Path | None, agents: list[AgentSpec] | None = None, **kw: Any) -> MesosEmulator:
    """An emulator with test timings; ``tmp_path`` None keeps sandboxes in its own (tmpfs) dir."""
    kw.setdefault("allocation_interval", 0.1)
    kw.setdefault("status_update_retry_interval", 0.3)
    work_dir = None if tmp_path is None else tmp_path / "work"
    return MesosEmulator(agents or [AgentSpec("agent1", cpus=2, mem=1024)], work_dir=work_dir, **kw)


async def records(content: aiohttp.StreamReader) -> Any:
    """RecordIO: ``<decimal length>\\n<payload>``, read from the de-chunked body."""
    while True:
        line = await content.readline()
        if not line:
            return
        if not line.strip():
            continue
        yield json.loads(await content.readexactly(int(line)))


def uuid_ok(value: str) -> bool:
    raw = base64.b64decode(value, validate=True)
    return len(raw) == 16 and raw != bytes(16)


class Scheduler:
    """Just enough of a v1 scheduler: one SUBSCRIBE stream, calls on other connections."""

    def __init__(self, session: aiohttp.ClientSession, url: str, name: str = "test", **info: Any) -> None:
        self.session = session
        self.url = url
        self.info: dict[str, Any] = {"user": "tester", "name": name, "failover_timeout": 3600.0, **info}
        self.framework_id: str | None = None
        self.stream_id: str | None = None
        self.response: aiohttp.ClientResponse | None = None
        self.inbox: list[Event] = []
        self.all_events: list[Event] = []
        self.ended = False
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @property
    def subscribed_id(self) -> str:
        """The framework id the master gave this scheduler (it must have subscribed)."""
        assert self.framework_id is not None, "the scheduler has not subscribed"
        return self.framework_id

    async def subscribe(self, framework_id: str | None = None) -> Event:
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": dict(self.info)}}
        if framework_id is not None:
            body["framework_id"] = {"value": framework_id}
            body["subscribe"]["framework_info"]["id"] = {"value": framework_id}
        self.response = await self.session.post(
            f"{self.url}/api/v1/scheduler", json=body, headers=JSON, timeout=aiohttp.ClientTimeout(total=None)
        )
        assert self.response.status == 200, await self.response.text()
        self.stream_id = self.response.headers.get("Mesos-Stream-Id")
        self.inbox, self.ended = [], False
        self._reader = asyncio.create_task(self._read(self.response))
        event = await self.take("SUBSCRIBED", "ERROR")
        if event["type"] == "SUBSCRIBED":
            self.framework_id = event["subscribed"]["framework_id"]["value"]
        return event

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        try:
            async for event in records(response.content):
                self.inbox.append(event)
                self.all_events.append(event)
                self._arrived.set()
        except (aiohttp.ClientError, asyncio.IncompleteReadError):
            pass
        finally:
            self.ended = True
            self._arrived.set()

    async def take(self, *types: str, where: Callable[[Event], bool] | None = None, timeout: float = 5.0) -> Event:
        """Remove and return the first pending event of one of ``types`` (and matching ``where``)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.inbox):
                if event["type"] in types and (where is None or where(event)):
                    return self.inbox.pop(i)
            left = deadline - time.monotonic()
            if left <= 0 or self.ended:
                raise AssertionError(f"no {types} event; pending: {[e['type'] for e in self.inbox]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def update(self, task_id: str, state: str | None = None, timeout: float = 5.0) -> Event:
        def match(e: Event) -> bool:
            s = e["update"]["status"]
            return bool(s["task_id"]["value"] == task_id and (state is None or s["state"] == state))

        status: Event = (await self.take("UPDATE", where=match, timeout=timeout))["update"]["status"]
        return status

    async def quiet(self, seconds: float, *types: str) -> list[Event]:
        """Wait ``seconds`` and return the events of ``types`` that arrived meanwhile (consumed)."""
        await asyncio.sleep(seconds)
        got = [e for e in self.inbox if e["type"] in types]
        self.inbox = [e for e in self.inbox if e["type"] not in types]
        return got

    async def call(self, kind: str, body: Any = None, *, stream_id: str | None = None) -> tuple[int, str]:
        data: dict[str, Any] = {"type": kind, "framework_id": {"value": self.framework_id}}
        if body is not None:
            data[kind.lower()] = body
        headers = {**JSON, "Mesos-Stream-Id": stream_id or self.stream_id or ""}
        async with self.session.post(f"{self.url}/api/v1/scheduler", json=data, headers=headers) as r:
            return r.status, await r.text()

    async def ack(self, status: Event) -> None:
        body = {"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}
        assert await self.call("ACKNOWLEDGE", body) == (202, "")

    async def offers(self, n: int = 1, timeout: float = 5.0) -> list[Event]:
        got: list[Event] = []
        while len(got) < n:
            got += (await self.take("OFFERS", timeout=timeout))["offers"]["offers"]
        return got

    async def launch(self, offers: list[Event], *tasks: Event, refuse: float | None = None) -> None:
        body: dict[str, Any] = {
            "offer_ids": [o["id"] for o in offers],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}],
        }
        if refuse is not None:
            body["filters"] = {"refuse_seconds": refuse}
        assert await self.call("ACCEPT", body) == (202, "")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.response is not None:
            self.response.close()


def task(task_id: str, offer: Event, command: str, *, cpus: float = 0.1, mem: float = 32, **cmd: Any) -> Event:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": command, **cmd},
    }


async def get_state(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(f"{url}/master/state") as r:
        assert r.status == 200
        return await r.json()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# -- subscription and offers ---------------------------------------------------------------------


def test_subscribe_then_offers_from_each_named_agent(tmp_path: Path) -> None:
    agents = [AgentSpec("agent1", cpus=4, mem=4096), AgentSpec("agent2", cpus=2, mem=2048, attributes={"rack": "r2"})]

    async def body() -> None:
        async with emulator(tmp_path, agents) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            subscribed = await sched.subscribe()
            assert sched.response is not None
            assert sched.response.headers["Content-Type"] == "application/json"
            assert sched.response.headers.get("Transfer-Encoding") == "chunked"
            uuid.UUID(sched.stream_id)
            master_id = m.master.id
            assert sched.all_events[0]["type"] == "SUBSCRIBED"
            info = subscribed["subscribed"]
            assert info["framework_id"]["value"] == f"{master_id}-0000"
            assert info["heartbeat_interval_seconds"] == 15.0
            assert info["master_info"]["id"] == master_id and info["master_info"]["version"] == "1.11.0"
            await sched.take("HEARTBEAT")
            assert sched.all_events[1]["type"] == "HEARTBEAT"  # right after SUBSCRIBED
            offers = await sched.offers(2)
            by_host = {o["hostname"]: o for o in offers}
            assert set(by_host) == {"agent1", "agent2"}
            o1 = by_host["agent1"]
            assert o1["id"]["value"].startswith(f"{master_id}-O")
            assert o1["agent_id"]["value"].startswith(f"{master_id}-S")
            assert o1["framework_id"]["value"] == sched.framework_id
            assert o1["url"]["address"]["hostname"] == "agent1" and o1["url"]["path"].startswith("/slave(")
            assert "allocation_info" not in o1
            assert o1["resources"] == [
                {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}, "role": "*"},
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4.0}, "role": "*"},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 4096.0}, "role": "*"},
                {"name": "disk", "type": "SCALAR", "scalar": {"value": 10000.0}, "role": "*"},
            ]
            assert by_host["agent2"]["attributes"] == [{"name": "rack", "type": "TEXT", "text": {"value": "r2"}}]
            state = await get_state(s, m.url)
            (fw,) = state["frameworks"]
            assert fw["name"] == "test" and fw["active"] and fw["connected"] and fw["role"] == "*"
            assert {o["slave_id"] for o in fw["offers"]} == {o["agent_id"]["value"] for o in offers}
            assert {a["hostname"] for a in state["slaves"]} == {"agent1", "agent2"}
            await sched.close()

    run(body)


# -- launching, updates, acknowledgements --------------------------------------------------------


def test_launch_reports_starting_running_finished_and_acks_complete_it(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            await sched.subscribe()
            (offer,) = await sched.offers()
            env = {"variables": [{"name": "PART", "value": "17"}]}
            await sched.launch(
                [offer],
                task("ok", offer, "env > env.txt; pwd; echo oops >&2", environment=env),
                task("bad", offer, "exit 3"),
            )
            seen: dict[str, list[Event]] = {"ok": [], "bad": []}
            for tid in ("ok", "bad"):
                for state in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED" if tid == "ok" else "TASK_FAILED"):
                    status = await sched.update(tid, state)
                    assert status["source"] == "SOURCE_EXECUTOR"
                    assert status["agent_id"] == offer["agent_id"]
                    assert status["executor_id"] == {"value": tid}
                    assert uuid_ok(status["uuid"])
                    assert status["container_status"]["executor_pid"] > 0
                    assert isinstance(status["timestamp"], float)
                    seen[tid].append(status)
                    await sched.ack(status)
            assert len({st["uuid"] for sts in seen.values() for st in sts}) == 6
            assert seen["ok"][-1]["message"] == "Command exited with status 0"
            assert seen["bad"][-1]["message"] == "Command exited with status 3"
            state = await get_state(s, m.url)
            (fw,) = state["frameworks"]
            assert fw["tasks"] == []
            done = {t["id"]: t for t in fw["completed_tasks"]}
            assert done["ok"]["state"] == "TASK_FINISHED" and done["bad"]["state"] == "TASK_FAILED"
            assert [st["state"] for st in done["ok"]["statuses"]] == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
            assert done["ok"]["executor_id"] == "" and done["ok"]["slave_id"] == offer["agent_id"]["value"]
            # the sandbox: cwd, stdout/stderr files, the environment the agent and executor give
            path = f"/frameworks/{sched.framework_id}/executors/ok/runs/latest/stdout"
            async with s.get(f"{m.url}/files/read", params={"path": path, "offset": "0"}) as r:
                read = await r.json()
            sandbox = read["data"].strip()
            assert Path(sandbox).is_relative_to(tmp_path / "work")
            assert (Path(sandbox) / "stderr").read_text() == "oops\n"
            env_vars = dict(line.split("=", 1) for line in (Path(sandbox) / "env.txt").read_text().splitlines())
            assert env_vars["PART"] == "17"
            assert env_vars["MESOS_SANDBOX"] == env_vars["MESOS_DIRECTORY"] == sandbox
            assert env_vars["MESOS_FRAMEWORK_ID"] == sched.framework_id
            assert env_vars["MESOS_EXECUTOR_ID"] == "ok"
            assert env_vars["MESOS_SLAVE_ID"] == offer["agent_id"]["value"]
            assert env_vars["MESOS_AGENT_ENDPOINT"] == f"127.0.0.1:{m.port}"
            assert env_vars["MESOS_ALLOCATION_ROLE"] == "*"
            assert "MESOS_TASK_ID" not in env_vars  # Mesos does not set it
            assert m.check_invariants() == []
            await sched.close()

    run(body)


def test_unacknowledged_updates_are_resent_and_gate_the_next_one(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path, status_update_retry_interval=0.25) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            await sched.subscribe()
            (offer,) = await sched.offers()
            await sched.launch([offer], task("t", offer, "true"))
            first = await sched.update("t", "TASK_STARTING")
            # never acked: the same update comes again (10 s doubling in real Mesos, 0.25 s here)
            for _ in range(2):  # after 0.25 s, then 0.5 s later (backoff doubles)
                again = await sched.update("t", timeout=2)
                assert again["state"] == "TASK_STARTING" and again["uuid"] == first["uuid"]
            state = await get_state(s, m.url)
            (t,) = state["frameworks"][0]["tasks"]
            assert t["state"] == "TASK_FINISHED"  # the latest state the agent knows...
            assert [st["state"] for st in t["statuses"]] == ["TASK_STARTING"]  # ...but only STARTING was sent
            assert [e for e in sched.inbox if e["type"] == "UPDATE"] == []
            # an acknowledgement the emulator is told to lose changes nothing
            m.drop_acknowledgements(1)
            await sched.ack(first)
            assert (await sched.update("t", timeout=2))["uuid"] == first["uuid"]
            await sched.ack(first)
            running = await sched.update("t", "TASK_RUNNING")
            await sched.ack(running)
            finished = await sched.update("t", "TASK_FINISHED")
            assert m.stats()["acks_dropped"] == 1
            await sched.ack(finished)
            await wait_until(lambda: not m.master.frameworks[sched.subscribed_id].tasks)
            assert m.check_invariants() == []
            await sched.close()

    run(body)


def test_kill_running_task_and_unknown_task(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url, capabilities=[{"type": "TASK_KILLING_STATE"}])
            await sched.subscribe()
            (offer,) = await sched.offers()
            await sched.launch([offer], task("sleeper", offer, "sleep 30 & echo $! > child; wait"))
            for state in ("TASK_STARTING", "TASK_RUNNING"):
                await sched.ack(await sched.update("sleeper", state))
            sandbox = m.master.frameworks[sched.subscribed_id].tasks["sleeper"].sandbox
            assert sandbox is not None
            await wait_until(lambda: (sandbox / "child").exists() and (sandbox / "child").read_text().strip() != "")
            child = int((sandbox / "child").read_text())
            assert await sched.call("KILL", {"task_id": {"value": "sleeper"}}) == (202, "")
            killing = await sched.update("sleeper", "TASK_KILLING")  # TASK_KILLING_STATE capability
            await sched.ack(killing)
            killed = await sched.update("sleeper", "TASK_KILLED")
            assert uuid_ok(killed["uuid"]) and killed["source"] == "SOURCE_EXECUTOR"
            assert killed["message"] == "Command terminated with signal Terminated"
            await sched.ack(killed)
            await wait_until(lambda: not pid_alive(child))  # the whole process group went
            # an unknown task: the master answers as explicit reconciliation does
            assert await sched.call("KILL", {"task_id": {"value": "ghost"}}) == (202, "")
            lost = await sched.update("ghost")
            assert lost["state"] == "TASK_LOST" and lost["reason"] == "REASON_RECONCILIATION"
            assert lost["source"] == "SOURCE_MASTER" and "uuid" not in lost
            assert lost["message"] == "Reconciliation: Task is unknown"
            await sched.close()

    run(body)


def test_reconcile_explicit_and_implicit(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            await sched.subscribe()
            (offer,) = await sched.offers()
            agent_id = offer["agent_id"]
            await sched.launch([offer], task("a", offer, "sleep 30"), task("b", offer, "sleep 30"))
            for tid in ("a", "b"):
                await sched.ack(await sched.update(tid, "TASK_STARTING"))
                await sched.ack(await sched.update(tid, "TASK_RUNNING"))
            items = [
                {"task_id": {"value": "a"}, "agent_id": agent_id},
                {"task_id": {"value": "nope"}, "agent_id": agent_id},
                {"task_id": {"value": "nope2"}},
            ]
            assert await sched.call("RECONCILE", {"tasks": items}) == (202, "")
            a = await sched.update("a")
            assert a["state"] == "TASK_RUNNING" and a["reason"] == "REASON_RECONCILIATION"
            assert a["message"] == "Reconciliation: Latest task state" and "uuid" not in a
            assert a["source"] == "SOURCE_MASTER" and a["agent_id"] == agent_id
            nope = await sched.update("nope")
            assert (nope["state"], nope["message"]) == ("TASK_LOST", "Reconciliation: Task is unknown to the agent")
            nope2 = await sched.update("nope2")
            assert (nope2["state"], nope2["message"]) == ("TASK_LOST", "Reconciliation: Task is unknown")
            assert "agent_id" not in nope2
            assert await sched.call("RECONCILE", {"tasks": []}) == (202, "")
            implicit = {(await sched.update(tid))["state"] for tid in ("a", "b")}
            assert implicit == {"TASK_RUNNING"}
            await sched.close()

    run(body)


def test_teardown_kills_tasks_and_moves_framework_to_completed(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            await sched.subscribe()
            (offer,) = await sched.offers()
            await sched.launch([offer], task("long", offer, "echo $$ > pid; exec sleep 30"))
            await sched.ack(await sched.update("long", "TASK_STARTING"))
            await sched.ack(await sched.update("long", "TASK_RUNNING"))
            sandbox = m.master.frameworks[sched.subscribed_id].tasks["long"].sandbox
            assert sandbox is not None
            await wait_until(lambda: (sandbox / "pid").exists() and (sandbox / "pid").read_text().strip() != "")
            pid = int((sandbox / "pid").read_text())
            assert await sched.call("TEARDOWN") == (202, "")
            await wait_until(lambda: sched.ended)  # the stream just ends
            await wait_until(lambda: not pid_alive(pid))
            state = await get_state(s, m.url)
            assert state["frameworks"] == []
            (done,) = state["completed_frameworks"]
            assert done["id"] == sched.framework_id and not done["active"] and not done["connected"]
            assert done["unregistered_time"] > 0
            assert [(t["id"], t["state"]) for t in done["completed_tasks"]] == [("long", "TASK_KILLED")]
            assert await sched.call("REVIVE") == (400, "Framework cannot be found")
            again = Scheduler(s, m.url)
            error = await again.subscribe(sched.framework_id)
            assert error == {"type": "ERROR", "error": {"message": "Framework has been removed"}}
            await wait_until(lambda: again.ended)
            assert m.check_invariants() == []
            await again.close()
            await sched.close()

    run(body)


def test_command_forms_fetcher_and_completion_time(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("payload\n")
    (tmp_path / "tool.sh").write_text("#!/bin/sh\necho tool ran\n")
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "inner.txt").write_text("from the archive\n")
    subprocess.run(["tar", "czf", str(tmp_path / "bundle.tar.gz"), "-C", str(pack), "inner.txt"], check=True)

    async def body() -> None:
        async with emulator(tmp_path, executor_environment={"FROM_AGENT": "1"}) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            await sched.subscribe()
            (offer,) = await sched.offers()
            uris = [
                {"value": str(tmp_path / "data.txt")},
                {"value": f"file://{tmp_path / 'tool.sh'}", "executable": True},
                {"value": str(tmp_path / "bundle.tar.gz")},
            ]
            fetched = task("fetched", offer, "cat data.txt inner.txt; ./tool.sh; echo $FROM_AGENT", uris=uris)
            argv = task("argv", offer, "/bin/echo", shell=False, arguments=["echo", "two words", "$HOME"])
            slow = task("slow", offer, "sleep 30")
            slow["max_completion_time"] = {"nanoseconds": 200_000_000}
            missing = task("missing", offer, "true", uris=[{"value": str(tmp_path / "nope")}])
            await sched.launch([offer], fetched, argv, slow, missing)
            final: dict[str, Event] = {}
            while len(final) < 4:
                status = (await sched.take("UPDATE", timeout=5))["update"]["status"]
                await sched.ack(status)
                if status["state"] not in ("TASK_STARTING", "TASK_RUNNING"):
                    final[status["task_id"]["value"]] = status
            assert final["fetched"]["state"] == "TASK_FINISHED"
            assert final["argv"]["state"] == "TASK_FINISHED"
            assert final["slow"]["state"] == "TASK_FAILED"
            assert final["slow"]["reason"] == "REASON_MAX_COMPLETION_TIME_REACHED"
            failed = final["missing"]
            assert (failed["state"], failed["source"]) == ("TASK_FAILED", "SOURCE_AGENT")
            assert failed["reason"] == "REASON_CONTAINER_LAUNCH_FAILED" and uuid_ok(failed["uuid"])

            async def stdout(tid: str) -> str:
                path = f"/frameworks/{sched.framework_id}/executors/{tid}/runs/latest/stdout"
                async with s.get(f"{m.url}/files/read", params={"path": path, "offset": "0"}) as r:
                    return str((await r.json())["data"])

            assert await stdout("fetched") == "payload\nfrom the archive\ntool ran\n1\n"
            assert await stdout("argv") == "two words $HOME\n"  # no shell: nothing is expanded
            await sched.close()

    run(body)


def test_multi_role_framework_and_update_framework(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url, roles=["batch"], capabilities=[{"type": "MULTI_ROLE"}])
            await sched.subscribe()
            (offer,) = await sched.offers()
            assert offer["allocation_info"] == {"role": "batch"}
            assert all(r["allocation_info"] == {"role": "batch"} for r in offer["resources"])
            await sched.launch([offer], task("r", offer, "echo $MESOS_ALLOCATION_ROLE"))
            await sched.update("r", "TASK_STARTING")
            state = await get_state(s, m.url)
            (fw,) = state["frameworks"]
            assert fw["roles"] == ["batch"] and "role" not in fw
            assert fw["tasks"][0]["role"] == "batch"
            info = {**sched.info, "id": {"value": sched.framework_id}, "name": "renamed"}
            assert await sched.call("UPDATE_FRAMEWORK", {"framework_info": info}) == (200, "")
            assert (await get_state(s, m.url))["frameworks"][0]["name"] == "renamed"
            bad = {**info, "user": "someone-else"}
            status, text = await sched.call("UPDATE_FRAMEWORK", {"framework_info": bad})
            assert status == 400 and "user" in text
            # invalid FrameworkInfo on SUBSCRIBE: 200, one ERROR event, end of stream
            other = Scheduler(s, m.url, role="-bad")
            error = await other.subscribe()
            assert error["type"] == "ERROR" and "starts with a dash" in error["error"]["message"]
            await wait_until(lambda: other.ended)
            await other.close()
            await sched.close()

    run(body)


# -- HTTP-level errors ----------------------------------------------------------------------------


def test_http_status_codes(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path) as m, aiohttp.ClientSession() as s:
            api = f"{m.url}/api/v1/scheduler"

            async def post(data: Any, headers: dict[str, str], skip: tuple[str, ...] = ()) -> tuple[int, str]:
                raw = data if isinstance(data, bytes) else json.dumps(data).encode()
                async with s.post(api, data=raw, headers=headers, skip_auto_headers=skip) as r:
                    return r.status, await r.text()

            async with s.get(api) as r:
                assert r.status == 405 and r.headers["Allow"] == "POST"
            async with s.get(f"{m.url}/master/api/v1/scheduler") as r:
                assert r.status == 405
            assert await post({}, {}, skip=("Content-Type",)) == (400, "Expecting 'Content-Type' to be present")
            for ct in ("application/json; charset=utf-8", "text/plain", "Application/JSON"):
                status, text = await post({}, {"Content-Type": ct})
                assert status == 415, ct
                assert text == "Expecting 'Content-Type' of application/json or application/x-protobuf"
            status, text = await post(b"{bad", JSON)
            assert status == 400 and text.startswith("Failed to parse body into JSON")
            assert await post({}, JSON) == (400, "Failed to validate scheduler::Call: Expecting 'type' to be present")
            assert await post({"type": "REVIVE"}, JSON) == (
                400,
                "Failed to validate scheduler::Call: Expecting 'framework_id' to be present",
            )
            assert await post({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}}, JSON) == (
                400,
                "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user",
            )
            sub = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "x"}}}
            assert await post(sub, {**JSON, "Mesos-Stream-Id": "x"}) == (
                400,
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            )
            status, _ = await post(sub, {**JSON, "Accept": "text/html"})
            assert status == 406
            assert await post({"type": "REVIVE", "framework_id": {"value": "zz"}}, JSON) == (
                400,
                "Framework cannot be found",
            )

            sched = Scheduler(s, m.url)
            await sched.subscribe()
            revive = {"type": "REVIVE", "framework_id": {"value": sched.framework_id}}
            assert await post(revive, JSON) == (
                400,
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
            )
            status, text = await sched.call("REVIVE", stream_id="bogus")
            assert status == 400 and text.startswith("The stream ID 'bogus' included in this request didn't match")
            assert await sched.call("ACCEPT") == (
                400,
                "Failed to validate scheduler::Call: Expecting 'accept' to be present",
            )
            ack = {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": base64.b64encode(b"short").decode()}
            assert await sched.call("ACKNOWLEDGE", ack) == (400, "Failed to validate scheduler::Call: Not a valid UUID")
            assert await sched.call("SUPPRESS") == (202, "")
            # the subscription connection drops: the framework is disconnected (failover_timeout > 0)
            await sched.close()
            await wait_until(lambda: not m.master.frameworks[sched.subscribed_id].connected)
            assert await sched.call("REVIVE") == (403, "Framework is not subscribed")
            state = await get_state(s, m.url)
            (fw,) = state["frameworks"]
            assert not fw["active"] and not fw["connected"] and fw["offers"] == []

    run(body)


# -- offers: validation, filters, sharing ---------------------------------------------------------


def test_invalid_accepts_and_refuse_filters(tmp_path: Path) -> None:
    async def body() -> None:
        agents = [AgentSpec("agent1", cpus=2, mem=1024), AgentSpec("agent2", cpus=2, mem=1024)]
        async with emulator(tmp_path, agents) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            await sched.subscribe()
            o1, o2 = await sched.offers(2)
            # two agents in one ACCEPT: both offers are used up, the task is LOST (no uuid)
            await sched.launch([o1, o2], task("mixed", o1, "true"))
            lost = await sched.update("mixed")
            assert lost["state"] == "TASK_LOST" and lost["reason"] == "REASON_INVALID_OFFERS"
            assert lost["source"] == "SOURCE_MASTER" and "uuid" not in lost
            assert lost["message"].startswith("Task launched with invalid offers: Aggregated offers must belong")
            await sched.launch([o1], task("reused", o1, "true"))
            reused = await sched.update("reused")
            assert (
                reused["message"] == f"Task launched with invalid offers: Offer {o1['id']['value']} is no longer valid"
            )
            # resources come back unfiltered and are offered again
            fresh = {o["hostname"]: o for o in await sched.offers(2)}
            offer = fresh["agent1"]
            await sched.launch([offer], task("huge", offer, "true", cpus=64), task("fits", offer, "sleep 30"), refuse=0)
            error = await sched.update("huge")
            assert error["state"] == "TASK_ERROR" and error["reason"] == "REASON_TASK_INVALID"
            assert "required by task and its executor is more than available" in error["message"]
            await sched.update("fits", "TASK_STARTING")
            # unused resources of an ACCEPT with refuse_seconds 0 come straight back, minus the task's
            again = await sched.take("OFFERS", where=lambda e: e["offers"]["offers"][0]["hostname"] == "agent1")
            cpus = {r["name"]: r.get("scalar", {}).get("value") for r in again["offers"]["offers"][0]["resources"]}
            assert cpus["cpus"] == pytest.approx(1.9)
            # DECLINE with a filter: no offers from agent2 for that long, unless REVIVE
            declined = fresh["agent2"]
            assert await sched.call("DECLINE", {"offer_ids": [declined["id"]], "filters": {"refuse_seconds": 60}}) == (
                202,
                "",
            )
            later = await sched.quiet(0.5, "OFFERS")
            assert all(o["hostname"] != "agent2" for e in later for o in e["offers"]["offers"])
            assert await sched.call("REVIVE") == (202, "")
            revived = await sched.take("OFFERS", where=lambda e: e["offers"]["offers"][0]["hostname"] == "agent2")
            assert revived["offers"]["offers"][0]["id"] != declined["id"]
            # SUPPRESS: no more offers at all
            assert await sched.call("SUPPRESS") == (202, "")
            await asyncio.sleep(0.15)  # offers made before the SUPPRESS arrive, then are declined
            for e in [e for e in sched.inbox if e["type"] == "OFFERS"]:
                ids = [o["id"] for o in e["offers"]["offers"]]
                assert await sched.call("DECLINE", {"offer_ids": ids, "filters": {"refuse_seconds": 0}}) == (202, "")
            sched.inbox = [e for e in sched.inbox if e["type"] != "OFFERS"]
            assert await sched.quiet(0.5, "OFFERS") == []
            assert m.check_invariants() == []
            await sched.close()

    run(body)


def test_two_frameworks_never_share_resources(tmp_path: Path) -> None:
    agents = [AgentSpec(f"agent{i}", cpus=2, mem=1024) for i in range(1, 4)]

    async def body() -> None:
        async with emulator(tmp_path, agents, allocation_interval=0.05) as m, aiohttp.ClientSession() as s:
            scheds = [Scheduler(s, m.url, name=f"fw{i}") for i in range(2)]
            for sched in scheds:
                await sched.subscribe()
            owner: dict[str, str] = {}
            launched = 0
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                for sched in scheds:
                    pending = [e for e in sched.inbox if e["type"] == "OFFERS"]
                    sched.inbox = [e for e in sched.inbox if e["type"] not in ("OFFERS", "UPDATE", "HEARTBEAT")]
                    for event in pending:
                        for offer in event["offers"]["offers"]:
                            assert owner.setdefault(offer["id"]["value"], sched.info["name"]) == sched.info["name"]
                            if launched < 12 and launched % 2 == 0:
                                tid = f"{sched.info['name']}-{launched}"
                                await sched.launch([offer], task(tid, offer, "sleep 0.2", cpus=1, mem=128), refuse=0)
                            else:
                                ids = {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 0}}
                                assert await sched.call("DECLINE", ids) == (202, "")
                            launched += 1
                    assert m.check_invariants() == []
                state = await get_state(s, m.url)
                for agent in state["slaves"]:
                    for name in ("cpus", "mem"):
                        held = agent["used_resources"][name] + agent["offered_resources"][name]
                        assert held <= agent["resources"][name] + 1e-9
                await asyncio.sleep(0.02)
            got = {name for name in owner.values()}
            assert got == {"fw0", "fw1"}  # both were offered something, never the same offer
            assert m.stats()["tasks_launched"] >= 2
            for sched in scheds:
                await sched.close()

    run(body)


# -- failures ------------------------------------------------------------------------------------


def test_agent_removal_sends_task_lost_rescind_and_failure(tmp_path: Path) -> None:
    agents = [AgentSpec("agent1", cpus=2, mem=1024), AgentSpec("agent2", cpus=2, mem=1024)]

    async def body() -> None:
        async with emulator(tmp_path, agents) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            await sched.subscribe()
            offers = {o["hostname"]: o for o in await sched.offers(2)}
            first = offers["agent1"]
            await sched.launch([first], task("victim", first, "echo $$ > pid; exec sleep 30"), refuse=0)
            await sched.ack(await sched.update("victim", "TASK_STARTING"))
            await sched.ack(await sched.update("victim", "TASK_RUNNING"))
            leftover = await sched.take("OFFERS", where=lambda e: e["offers"]["offers"][0]["hostname"] == "agent1")
            leftover_id = leftover["offers"]["offers"][0]["id"]
            sandbox = m.master.frameworks[sched.subscribed_id].tasks["victim"].sandbox
            assert sandbox is not None
            await wait_until(lambda: (sandbox / "pid").exists() and (sandbox / "pid").read_text().strip() != "")
            pid = int((sandbox / "pid").read_text())
            async with s.delete(f"{m.url}/emulator/agents/agent1") as r:
                assert r.status == 200
            lost = await sched.update("victim")
            assert lost["state"] == "TASK_LOST" and lost["reason"] == "REASON_AGENT_REMOVED"
            assert lost["source"] == "SOURCE_MASTER" and "uuid" not in lost
            assert lost["agent_id"] == first["agent_id"]
            rescind = await sched.take("RESCIND")
            assert rescind["rescind"]["offer_id"] == leftover_id
            failure = await sched.take("FAILURE")
            assert failure["failure"] == {"agent_id": first["agent_id"]}
            await wait_until(lambda: not pid_alive(pid))
            state = await get_state(s, m.url)
            assert [a["hostname"] for a in state["slaves"]] == ["agent2"]
            assert [(t["id"], t["state"]) for t in state["frameworks"][0]["completed_tasks"]] == [
                ("victim", "TASK_LOST")
            ]
            # a new agent joins and is offered
            async with s.post(f"{m.url}/emulator/agents", json={"spec": "agent3:cpus=1:mem=512"}) as r:
                assert r.status == 201
            await sched.take("OFFERS", where=lambda e: e["offers"]["offers"][0]["hostname"] == "agent3")
            assert m.check_invariants() == []
            await sched.close()

    run(body)


def test_failover_resubscribe_keeps_tasks_and_resends_pending_updates(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path, status_update_retry_interval=30.0) as m, aiohttp.ClientSession() as s:
            old = Scheduler(s, m.url)
            await old.subscribe()
            (offer,) = await old.offers()
            await old.launch([offer], task("keep", offer, "sleep 30"))
            starting = await old.update("keep", "TASK_STARTING")  # not acknowledged
            new = Scheduler(s, m.url)
            await new.subscribe(old.framework_id)
            assert new.framework_id == old.framework_id and new.stream_id != old.stream_id
            error = await old.take("ERROR")
            assert error["error"]["message"] == "Framework failed over"
            await wait_until(lambda: old.ended)
            resent = await new.update("keep")  # pending update re-sent at once (retry is 30 s)
            assert resent["uuid"] == starting["uuid"]
            assert (await old.call("REVIVE"))[0] == 400  # old stream id
            await new.ack(resent)
            await new.ack(await new.update("keep", "TASK_RUNNING"))
            state = await get_state(s, m.url)
            (fw,) = state["frameworks"]
            assert fw["tasks"][0]["state"] == "TASK_RUNNING" and "reregistered_time" in fw
            await old.close()
            await new.close()

    run(body)


def test_failover_timeout_expiry_removes_the_framework(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url, failover_timeout=0.5)
            await sched.subscribe()
            (offer,) = await sched.offers()
            await sched.launch([offer], task("orphan", offer, "exec sleep 30"))
            running = await sched.update("orphan", "TASK_STARTING")
            pid = running["container_status"]["executor_pid"]
            await sched.close()  # the scheduler goes away
            await wait_until(lambda: not m.master.frameworks[sched.subscribed_id].connected)
            assert pid_alive(pid)  # within failover_timeout the task keeps running
            await wait_until(lambda: sched.framework_id not in m.master.frameworks, timeout=3)
            await wait_until(lambda: not pid_alive(pid))
            state = await get_state(s, m.url)
            (done,) = state["completed_frameworks"]
            assert done["id"] == sched.framework_id
            assert [(t["id"], t["state"]) for t in done["completed_tasks"]] == [("orphan", "TASK_KILLED")]
            assert m.check_invariants() == []

    run(body)


def test_heartbeats_and_partition_injection(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path, heartbeat_interval=0.2) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            subscribed = await sched.subscribe()
            assert subscribed["subscribed"]["heartbeat_interval_seconds"] == 0.2
            assert len(await sched.quiet(0.7, "HEARTBEAT")) >= 3
            fid = sched.subscribed_id
            async with s.post(f"{m.url}/emulator/frameworks/{fid}/pause", json={"what": "heartbeats"}) as r:
                assert r.status == 200
            await sched.quiet(0.1, "HEARTBEAT")  # any sent before the pause
            assert await sched.quiet(0.6, "HEARTBEAT") == []
            # other events still flow while only heartbeats are lost
            assert await sched.call("RECONCILE", {"tasks": [{"task_id": {"value": "x"}}]}) == (202, "")
            await sched.update("x")
            m.resume_framework(fid)
            assert len(await sched.quiet(0.5, "HEARTBEAT")) >= 1
            # a full partition that holds events back, then delivers them
            m.pause_framework(fid, what="all", hold=True)
            await sched.quiet(0.1, "HEARTBEAT")
            assert await sched.call("RECONCILE", {"tasks": [{"task_id": {"value": "y"}}]}) == (202, "")
            assert await sched.quiet(0.4, "UPDATE", "HEARTBEAT") == []
            m.resume_framework(fid)
            await sched.update("y")
            # the master sees the connection break: the stream ends, calls get 403
            m.disconnect_framework(fid)
            await wait_until(lambda: sched.ended)
            assert await sched.call("REVIVE") == (403, "Framework is not subscribed")
            await sched.close()

    run(body)


def test_leader_redirect_and_no_leader(tmp_path: Path) -> None:
    async def body() -> None:
        async with emulator(tmp_path / "leader") as leader, aiohttp.ClientSession() as s:
            target = f"127.0.0.1:{leader.port}"
            async with emulator(tmp_path / "other", redirect_to=target) as other:
                sub = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "r"}}}
                for path in ("/api/v1/scheduler", "/master/api/v1/scheduler"):
                    used = f"{other.url}{path}"
                    async with s.post(used, json=sub, headers=JSON, allow_redirects=False) as r:
                        assert r.status == 307
                        location = r.headers["Location"]
                    assert location == f"//{target}{path}"  # protocol-relative
                    assert urljoin(used, location) == f"{leader.url}{path}"
                async with s.get(f"{other.url}/master/redirect", allow_redirects=False) as r:
                    assert r.status == 307 and r.headers["Location"] == f"//{target}"
                async with s.post(f"{other.url}/emulator/leader", json={"mode": "none"}) as r:
                    assert r.status == 200
                async with s.post(f"{other.url}/api/v1/scheduler", json=sub, headers=JSON) as r:
                    assert (r.status, await r.text()) == (503, "No leader elected")
            async with s.get(f"{leader.url}/master/redirect", allow_redirects=False) as r:
                assert r.status == 307 and r.headers["Location"] == f"//127.0.0.1:{leader.port}"
            # the leader steps down: its streams end and it redirects from then on
            sched = Scheduler(s, leader.url)
            await sched.subscribe()
            leader.set_leader("redirect", "127.0.0.1:1")
            await wait_until(lambda: sched.ended)
            async with s.post(f"{leader.url}/api/v1/scheduler", json={}, headers=JSON, allow_redirects=False) as r:
                assert r.status == 307 and r.headers["Location"] == "//127.0.0.1:1/api/v1/scheduler"
            await sched.close()

    run(body)


# -- scale and the command line ------------------------------------------------------------------


def test_many_short_tasks_over_eight_agents() -> None:
    """A small version of the 10,000-task benchmark: 400 tasks, acks, no leaked resources."""
    agents = [AgentSpec(f"node{i}", cpus=8, mem=8192) for i in range(8)]
    total = 400

    async def body() -> None:
        async with emulator(None, agents, allocation_interval=0.05) as m, aiohttp.ClientSession() as s:
            sched = Scheduler(s, m.url)
            await sched.subscribe()
            queued = [f"t{i}" for i in range(total)]
            finished: set[str] = set()
            hosts: set[str] = set()
            start = time.monotonic()
            while len(finished) < total:
                event = await sched.take("OFFERS", "UPDATE", timeout=10)
                if event["type"] == "OFFERS":
                    for offer in event["offers"]["offers"]:
                        cpus = next((r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus"), 0.0)
                        batch = [queued.pop() for _ in range(min(len(queued), int(cpus / 0.5 + 1e-9)))]
                        if batch:
                            hosts.add(offer["hostname"])
                        tasks = [task(t, offer, "true", cpus=0.5, mem=64) for t in batch]
                        await sched.launch([offer], *tasks, refuse=0)
                else:
                    status = event["update"]["status"]
                    assert status["state"] in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"), status
                    if status["state"] == "TASK_FINISHED":
                        finished.add(status["task_id"]["value"])
                    await sched.ack(status)
            elapsed = time.monotonic() - start
            assert hosts == {f"node{i}" for i in range(8)}
            await wait_until(lambda: not m.master.frameworks[sched.subscribed_id].tasks)
            assert m.check_invariants() == []
            assert elapsed < 15, elapsed
            await sched.close()

    run(body, timeout=40)


def test_command_line_serves_and_stops_its_tasks(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.mesos", "--port", "0", "--agents", "hostA:cpus=1:mem=256,hostB"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:"), line
        url = line.split()[1]

        async def body() -> None:
            async with aiohttp.ClientSession() as s:
                state = await get_state(s, url)
                assert sorted(a["hostname"] for a in state["slaves"]) == ["hostA", "hostB"]
                sched = Scheduler(s, url)
                await sched.subscribe()
                offer = next(o for o in await sched.offers(2) if o["hostname"] == "hostA")
                await sched.launch([offer], task("t", offer, "exec sleep 30"))
                await sched.update("t", "TASK_STARTING")
                await sched.close()

        run(body)
        children = proc_children(proc.pid)
        assert children  # the task's process
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        for pid in children:
            assert not pid_alive(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def proc_children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the emulator's task processes)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out
