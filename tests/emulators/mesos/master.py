"""The emulated Mesos master: frameworks, the allocator, offers, calls, events and state.

Everything here is synchronous and runs on the event loop; the HTTP layer (``server.py``)
parses and validates requests and calls into :class:`Master`. Behaviour follows Mesos 1.11
(``src/master/master.cpp``, ``http.cpp``, ``validation.cpp``, the hierarchical allocator), and
the wire shapes were checked against
a real 1.11 master.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import socket
import struct
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .agent import Agent, AgentSpec, Task, is_terminal
from .resources import ResourceError, Resources

VERSION = "1.11.0"
MAX_REFUSE_SECONDS = 31536000.0
#: master flag --min_allocatable_resources default "cpus:0.01|mem:32".
MIN_ALLOCATABLE = (Resources.of(cpus=0.01), Resources.of(mem=32))


@dataclass
class EmulatorConfig:
    """Knobs; the defaults are the real master's and agent's."""

    heartbeat_interval: float = 15.0
    allocation_interval: float = 1.0
    status_update_retry_min: float = 10.0
    status_update_retry_max: float = 600.0
    default_refuse_seconds: float = 5.0
    work_dir: str = ""
    #: the master's advertised hostname (master_info, /master/redirect Location).
    hostname: str = "127.0.0.1"
    ip: str = "127.0.0.1"
    #: agent flag --executor_environment_variables (None: only the Mesos variables and PATH).
    executor_environment: dict[str, str] | None = None
    max_completed_frameworks: int = 50
    max_completed_tasks_per_framework: int = 1000
    #: "leader", "redirect" (to ``redirect_to`` = "host:port") or "none" (503 No leader elected).
    leader_mode: str = "leader"
    redirect_to: str | None = None
    #: seed for the allocator's agent shuffle (None: random).
    seed: int | None = None


def encode_record(event: dict[str, Any]) -> bytes:
    """One RecordIO record: ``<length>\\n<json>``."""
    payload = json.dumps(event, separators=(",", ":")).encode()
    return b"%d\n%s" % (len(payload), payload)


def uuid_bytes(b64: str) -> bytes | None:
    try:
        return base64.b64decode(b64, validate=True)
    except (ValueError, TypeError):
        return None


def validate_role(role: str) -> str | None:
    """``src/common/roles.cpp`` rules; None when valid."""
    if role == "*":
        return None
    if role.startswith("/"):
        return f"Role '{role}' cannot start with a slash"
    if role.endswith("/"):
        return f"Role '{role}' cannot end with a slash"
    for component in role.split("/"):
        if component == "":
            return f"Role '{role}' cannot contain two adjacent slashes"
        if component in (".", "..", "*"):
            return f"Role component '{component}' is invalid"
        if component.startswith("-"):
            return f"Role component '{component}' is invalid because it starts with a dash"
        if any(c.isspace() or c == "\b" for c in component):
            return f"Role component '{component}' is invalid because it contains backspace or whitespace"
    return None


def validate_framework_info(info: dict[str, Any], suppressed: list[str]) -> str | None:
    """The FrameworkInfo checks that make the master answer with an ERROR event."""
    caps = {c.get("type") for c in info.get("capabilities") or [] if isinstance(c, dict)}
    roles = info.get("roles") or []
    if "MULTI_ROLE" in caps:
        if "role" in info:
            return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
        seen: set[str] = set()
        for role in roles:
            error = validate_role(str(role))
            if error:
                return f"'FrameworkInfo.roles' contains invalid role: {error}"
            if role in seen:
                return f"'FrameworkInfo.roles' contains duplicate role '{role}'"
            seen.add(role)
        allowed = seen
    else:
        if roles:
            return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
        role = str(info.get("role", "*"))
        error = validate_role(role)
        if error:
            return f"'FrameworkInfo.role' is not a valid role: {error}"
        allowed = {role}
    for role in suppressed:
        if role not in allowed:
            return f"Suppressed role '{role}' is not contained in the set of roles"
    timeout = info.get("failover_timeout", 0.0)
    if not isinstance(timeout, (int, float)) or timeout != timeout or timeout < 0:
        return f"Invalid 'FrameworkInfo.failover_timeout': {timeout!r}"
    return None


class Stream:
    """The body of one SUBSCRIBE response: records queued by the master, written by the handler."""

    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self._chunks: list[bytes] = []
        self._wake = asyncio.Event()
        self.closed = False

    def send(self, data: bytes) -> None:
        if not self.closed:
            self._chunks.append(data)
            self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def pump(self, write: Any) -> None:
        """Write queued records until closed; several queued records go out as one chunk."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._chunks:
                data = b"".join(self._chunks)
                self._chunks.clear()
                await write(data)
            if self.closed and not self._chunks:
                return


@dataclass
class Offer:
    id: str
    framework: Framework
    agent: Agent
    role: str
    resources: Resources
    created: float = field(default_factory=time.time)


class Framework:
    def __init__(self, master: Master, framework_id: str, info: dict[str, Any]) -> None:
        self.master = master
        self.id = framework_id
        self.info = dict(info)
        self.info["id"] = {"value": framework_id}
        self.stream: Stream | None = None
        self.active = False
        self.registered_time = time.time()
        self.reregistered_time: float | None = None
        self.unregistered_time = 0.0
        self.suppressed: set[str] = set()
        #: (role, agent id) -> [(expiry, refused resources)]
        self.filters: dict[tuple[str, str], list[tuple[float, Resources]]] = {}
        self.offers: dict[str, Offer] = {}
        self.tasks: dict[str, Task] = {}
        self.unreachable_tasks: dict[str, Task] = {}
        self.completed_tasks: deque[Task] = deque(maxlen=master.config.max_completed_tasks_per_framework)
        self.failover_handle: asyncio.TimerHandle | None = None
        self.heartbeat_handle: asyncio.TimerHandle | None = None
        #: failure injection: "none", "all" (every event) or "heartbeats".
        self.pause = "none"
        self.pause_hold = False
        self.held: list[bytes] = []
        self.drop_acks = 0

    # -- FrameworkInfo views ------------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self.info.get("name", ""))

    @property
    def capabilities(self) -> list[str]:
        return [c["type"] for c in self.info.get("capabilities") or [] if isinstance(c, dict) and "type" in c]

    @property
    def multi_role(self) -> bool:
        return "MULTI_ROLE" in self.capabilities

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def roles(self) -> list[str]:
        if self.multi_role:
            return [str(r) for r in self.info.get("roles") or []]
        return [str(self.info.get("role", "*"))]

    @property
    def connected(self) -> bool:
        return self.stream is not None

    def used(self) -> Resources:
        total = Resources()
        for task in self.tasks.values():
            if not task.resources_released:
                total = total + task.resources
        return total

    def offered(self) -> Resources:
        total = Resources()
        for offer in self.offers.values():
            total = total + offer.resources
        return total

    # -- events -------------------------------------------------------------------------------

    def send(self, event: dict[str, Any]) -> None:
        stats = self.master.stats
        if self.stream is None:
            stats["events_dropped_disconnected"] += 1
            return
        data = encode_record(event)
        if self.pause == "all" or (self.pause == "heartbeats" and event["type"] == "HEARTBEAT"):
            if self.pause_hold:
                self.held.append(data)
            else:
                stats["events_dropped_paused"] += 1
            return
        stats["events_sent"] += 1
        self.stream.send(data)

    def _heartbeat(self) -> None:
        self.heartbeat_handle = None
        if self.stream is None:
            return
        self.send({"type": "HEARTBEAT"})
        self.heartbeat_handle = asyncio.get_running_loop().call_later(
            self.master.config.heartbeat_interval, self._heartbeat
        )


class Master:
    def __init__(self, config: EmulatorConfig, agents: list[AgentSpec]) -> None:
        self.config = config
        self.id = str(uuid.uuid4())
        self.port = 0
        self.start_time = time.time()
        self.stats: Counter[str] = Counter()
        self.agents: dict[str, Agent] = {}
        self.removed_agents: dict[str, Agent] = {}
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: deque[Framework] = deque(maxlen=config.max_completed_frameworks)
        self.completed_ids: set[str] = set()
        self.drop_acks = 0
        self._framework_seq = itertools.count()
        self._agent_seq = itertools.count()
        self._offer_seq = itertools.count()
        self._sandboxes: dict[str, Path] = {}
        self._random = random.Random(config.seed)
        self._allocation_soon: asyncio.Handle | None = None
        self._allocation_timer: asyncio.TimerHandle | None = None
        self._initial_agents = agents

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, port: int) -> None:
        self.port = port
        for spec in self._initial_agents:
            self.add_agent(spec)
        self._allocation_timer = asyncio.get_running_loop().call_later(
            self.config.allocation_interval, self._allocation_tick
        )

    def stop(self) -> None:
        for handle in (self._allocation_soon, self._allocation_timer):
            if handle is not None:
                handle.cancel()
        self._allocation_soon = self._allocation_timer = None
        for fw in list(self.frameworks.values()):
            for handle in (fw.failover_handle, fw.heartbeat_handle):
                if handle is not None:
                    handle.cancel()
            if fw.stream is not None:
                fw.stream.close()
        for agent in list(self.agents.values()) + list(self.removed_agents.values()):
            agent.shutdown()

    @property
    def leading(self) -> bool:
        return self.config.leader_mode == "leader"

    def master_info(self) -> dict[str, Any]:
        ip = self.config.ip
        return {
            "id": self.id,
            "ip": struct.unpack("<I", socket.inet_aton(ip))[0],
            "port": self.port,
            "pid": f"master@{ip}:{self.port}",
            "hostname": self.config.hostname,
            "version": VERSION,
            "address": {"hostname": self.config.hostname, "ip": ip, "port": self.port},
            # QUOTA_V2 has no v1 enum value, so it serializes as an empty object.
            "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"}, {}],
        }

    # -- agents -------------------------------------------------------------------------------

    def add_agent(self, spec: AgentSpec) -> Agent:
        if any(a.hostname == spec.name for a in self.agents.values()):
            raise ValueError(f"agent {spec.name!r} already exists")
        index = next(self._agent_seq)
        agent = Agent(self, spec, f"{self.id}-S{index}", index + 1)
        self.agents[agent.id] = agent
        self.request_allocation()
        return agent

    def find_agent(self, name_or_id: str) -> Agent | None:
        if name_or_id in self.agents:
            return self.agents[name_or_id]
        return next((a for a in self.agents.values() if a.hostname == name_or_id), None)

    def remove_agent(self, agent: Agent, *, unreachable: bool = True, message: str | None = None) -> None:
        """Agent lost: kill its tasks, TASK_LOST (or UNREACHABLE) them, RESCIND offers, FAILURE."""
        agent.removed = True
        self.agents.pop(agent.id, None)
        self.removed_agents[agent.id] = agent
        now = time.time()
        if unreachable:
            text = f"Agent {agent.hostname} is unreachable: {message or 'health check timed out'}"
        else:
            text = f"Slave {agent.hostname} removed: {message or 'agent removed'}"
        for fw in list(self.frameworks.values()):
            for task in [t for t in fw.tasks.values() if t.agent is agent]:
                agent.discard_task(task, grace=None)
                self._release(task)
                state = "TASK_UNREACHABLE" if (fw.partition_aware and unreachable) else "TASK_LOST"
                status: dict[str, Any] = {
                    "task_id": {"value": task.task_id},
                    "state": state,
                    "message": text,
                    "source": "SOURCE_MASTER",
                    "reason": "REASON_AGENT_REMOVED",
                    "agent_id": {"value": agent.id},
                    "timestamp": now,
                }
                if unreachable:
                    status["unreachable_time"] = {"nanoseconds": int(now * 1e9)}
                task.state = state
                task.statuses.append({"state": state, "timestamp": now})
                task.last_forwarded = status
                del fw.tasks[task.task_id]
                if state == "TASK_UNREACHABLE":
                    fw.unreachable_tasks[task.task_id] = task
                else:
                    task.removed = True
                    fw.completed_tasks.append(task)
                fw.send({"type": "UPDATE", "update": {"status": status}})
        for fw in list(self.frameworks.values()):
            for offer in [o for o in fw.offers.values() if o.agent is agent]:
                del fw.offers[offer.id]
                fw.send({"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})
        agent.offered = Resources()
        for fw in list(self.frameworks.values()):
            fw.send({"type": "FAILURE", "failure": {"agent_id": {"value": agent.id}}})
        agent.tasks.clear()

    # -- subscription -------------------------------------------------------------------------

    def subscribe(self, call: dict[str, Any], stream: Stream) -> tuple[Framework | None, str | None]:
        """SUBSCRIBE: returns the framework, or the message of the ERROR event to answer with."""
        sub = call["subscribe"]
        info = sub["framework_info"]
        suppressed = [str(r) for r in sub.get("suppressed_roles") or []]
        error = validate_framework_info(info, suppressed)
        if error:
            return None, error
        fid = (info.get("id") or {}).get("value")
        now = time.time()
        if fid is not None and fid in self.completed_ids:
            return None, "Framework has been removed"
        fw = self.frameworks.get(fid) if fid is not None else None
        if fw is None:
            if fid is None:
                fid = f"{self.id}-{next(self._framework_seq):04d}"
            fw = Framework(self, fid, info)
            self.frameworks[fid] = fw
        else:
            old = fw.stream
            if old is not None:
                fw.stream = None
                old.send(encode_record({"type": "ERROR", "error": {"message": "Framework failed over"}}))
                old.close()
            if fw.failover_handle is not None:
                fw.failover_handle.cancel()
                fw.failover_handle = None
            if fw.heartbeat_handle is not None:
                fw.heartbeat_handle.cancel()
                fw.heartbeat_handle = None
            keep: dict[str, Any] = {k: fw.info[k] for k in ("user", "checkpoint", "principal") if k in fw.info}
            fw.info = {**info, **keep, "id": {"value": fid}}
            fw.reregistered_time = now
            for offer in list(fw.offers.values()):
                self._remove_offer(offer, refuse_seconds=None)
        fw.filters.clear()
        fw.suppressed = set(suppressed)
        fw.pause, fw.pause_hold, fw.held = "none", False, []
        fw.stream = stream
        fw.active = True
        fw.unregistered_time = 0.0
        self.stats["subscriptions"] += 1
        fw.send(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "framework_id": {"value": fw.id},
                    "heartbeat_interval_seconds": float(self.config.heartbeat_interval),
                    "master_info": self.master_info(),
                },
            }
        )
        fw._heartbeat()
        for agent in list(self.agents.values()):
            agent.resend_pending(fw.id)
        self.request_allocation()
        return fw, None

    def stream_closed(self, fw: Framework, stream: Stream) -> None:
        """The SUBSCRIBE connection ended (client went away or the master closed it)."""
        if fw.stream is not stream:
            return
        fw.stream = None
        fw.active = False
        self.stats["disconnections"] += 1
        if fw.heartbeat_handle is not None:
            fw.heartbeat_handle.cancel()
            fw.heartbeat_handle = None
        fw.held.clear()
        for offer in list(fw.offers.values()):
            self._remove_offer(offer, refuse_seconds=None)
        timeout = float(fw.info.get("failover_timeout", 0.0) or 0.0)
        if timeout <= 0:
            self.remove_framework(fw)
        else:
            fw.failover_handle = asyncio.get_running_loop().call_later(min(timeout, 1e9), self._failover_expired, fw)

    def _failover_expired(self, fw: Framework) -> None:
        fw.failover_handle = None
        if fw.stream is None and fw.id in self.frameworks:
            self.remove_framework(fw)

    def remove_framework(self, fw: Framework) -> None:
        """TEARDOWN or failover timeout: kill every task, move to completed_frameworks."""
        now = time.time()
        for handle in (fw.failover_handle, fw.heartbeat_handle):
            if handle is not None:
                handle.cancel()
        fw.failover_handle = fw.heartbeat_handle = None
        if fw.stream is not None:
            fw.stream.close()  # the stream just ends, no event
            fw.stream = None
        for offer in list(fw.offers.values()):
            self._remove_offer(offer, refuse_seconds=None)
        for task in [*fw.tasks.values(), *fw.unreachable_tasks.values()]:
            task.agent.discard_task(task, grace=5.0)
            self._release(task)
            task.statuses.append({"state": "TASK_KILLED", "timestamp": now})
            if not is_terminal(task.state):
                task.state = "TASK_KILLED"
            task.removed = True
            fw.completed_tasks.append(task)
        fw.tasks.clear()
        fw.unreachable_tasks.clear()
        fw.active = False
        fw.unregistered_time = now
        self.frameworks.pop(fw.id, None)
        self.completed_frameworks.append(fw)
        self.completed_ids.add(fw.id)
        self.stats["frameworks_removed"] += 1

    # -- allocator ----------------------------------------------------------------------------

    def request_allocation(self) -> None:
        """Events that can create offers run a batch allocation soon (as Mesos' allocate())."""
        if self._allocation_soon is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._allocation_soon = loop.call_soon(self._allocate_now)

    def _allocate_now(self) -> None:
        self._allocation_soon = None
        self.allocate()

    def _allocation_tick(self) -> None:
        self._allocation_timer = asyncio.get_running_loop().call_later(
            self.config.allocation_interval, self._allocation_tick
        )
        self.allocate()

    def _filtered(self, fw: Framework, role: str, agent: Agent, candidate: Resources, now: float) -> bool:
        entries = fw.filters.get((role, agent.id))
        if not entries:
            return False
        live = [(expiry, res) for expiry, res in entries if expiry > now]
        if live:
            fw.filters[(role, agent.id)] = live
        else:
            del fw.filters[(role, agent.id)]
        return any(res.contains(candidate) for _, res in live)

    def _dominant_share(self, fw: Framework, totals: Resources) -> float:
        held = fw.used() + fw.offered()
        shares = [
            held.scalars.get(name, 0) / totals.scalars[name]
            for name in ("cpus", "mem", "disk")
            if totals.scalars.get(name)
        ]
        return max(shares, default=0.0)

    def allocate(self) -> None:
        """One batch allocation: each agent's whole free pool to one framework role (DRF order)."""
        now = time.time()
        candidates = [
            (fw, role)
            for fw in self.frameworks.values()
            if fw.active and fw.stream is not None
            for role in fw.roles
            if role not in fw.suppressed
        ]
        if not candidates:
            return
        totals = Resources()
        for agent in self.agents.values():
            totals = totals + agent.total
        order = list(self.agents.values())
        self._random.shuffle(order)
        shares = {fw.id: self._dominant_share(fw, totals) for fw, _ in candidates}
        seq = {fw.id: i for i, fw in enumerate(self.frameworks.values())}
        new_offers: dict[str, list[Offer]] = {}
        for agent in order:
            free = agent.free()
            if not any(free.contains(minimum) for minimum in MIN_ALLOCATABLE):
                continue
            for fw, role in sorted(candidates, key=lambda c: (shares[c[0].id], seq[c[0].id])):
                if self._filtered(fw, role, agent, free, now):
                    continue
                offer = Offer(f"{self.id}-O{next(self._offer_seq)}", fw, agent, role, free)
                fw.offers[offer.id] = offer
                agent.offered = agent.offered + free
                new_offers.setdefault(fw.id, []).append(offer)
                shares[fw.id] = self._dominant_share(fw, totals)
                self.stats["offers_made"] += 1
                break
        for fid, offers in new_offers.items():
            fw = self.frameworks[fid]
            fw.send({"type": "OFFERS", "offers": {"offers": [self.offer_json(o) for o in offers]}})

    def offer_json(self, offer: Offer) -> dict[str, Any]:
        fw, agent = offer.framework, offer.agent
        role = offer.role if fw.multi_role else None
        out: dict[str, Any] = {
            "id": {"value": offer.id},
            "framework_id": {"value": fw.id},
            "agent_id": {"value": agent.id},
            "hostname": agent.hostname,
            "url": agent.url_json(),
        }
        if role is not None:
            out["allocation_info"] = {"role": role}
        out["resources"] = offer.resources.to_json(
            role_field="RESERVATION_REFINEMENT" not in fw.capabilities, allocation_role=role
        )
        attributes = agent.attributes_json()
        if attributes:
            out["attributes"] = attributes
        return out

    def _remove_offer(self, offer: Offer, *, refuse_seconds: float | None) -> None:
        offer.framework.offers.pop(offer.id, None)
        self._recover(offer.framework, offer.role, offer.agent, offer.resources, refuse_seconds)

    def _recover(
        self, fw: Framework, role: str, agent: Agent, resources: Resources, refuse_seconds: float | None
    ) -> None:
        """Resources go back from an offer; a positive ``refuse_seconds`` installs a filter."""
        if not agent.removed:
            agent.offered = agent.offered - resources
        self._add_filter(fw, role, agent, resources, refuse_seconds)

    def _add_filter(
        self, fw: Framework, role: str, agent: Agent, resources: Resources, refuse_seconds: float | None
    ) -> None:
        if refuse_seconds and refuse_seconds > 0 and not resources.is_empty():
            fw.filters.setdefault((role, agent.id), []).append((time.time() + refuse_seconds, resources))

    def refuse_seconds(self, filters: Any) -> float:
        if not isinstance(filters, dict) or "refuse_seconds" not in filters:
            return self.config.default_refuse_seconds
        value = filters["refuse_seconds"]
        if not isinstance(value, (int, float)) or value != value or value < 0:
            return self.config.default_refuse_seconds
        return min(float(value), MAX_REFUSE_SECONDS)

    # -- calls --------------------------------------------------------------------------------

    def teardown(self, fw: Framework) -> None:
        self.remove_framework(fw)

    def decline(self, fw: Framework, body: dict[str, Any]) -> None:
        refuse = self.refuse_seconds(body.get("filters"))
        for oid in body.get("offer_ids") or []:
            offer = fw.offers.get(oid.get("value"))
            if offer is not None:
                self._remove_offer(offer, refuse_seconds=refuse)
                self.stats["offers_declined"] += 1

    def revive(self, fw: Framework, body: dict[str, Any] | None) -> None:
        roles = set((body or {}).get("roles") or fw.roles)
        fw.suppressed -= roles
        for key in [k for k in fw.filters if k[0] in roles]:
            del fw.filters[key]
        self.request_allocation()

    def suppress(self, fw: Framework, body: dict[str, Any] | None) -> None:
        fw.suppressed |= set((body or {}).get("roles") or fw.roles)

    def _master_status(
        self, task_id: str, state: str, message: str, reason: str, agent_id: str | None
    ) -> dict[str, Any]:
        status: dict[str, Any] = {
            "task_id": {"value": task_id},
            "state": state,
            "message": message,
            "source": "SOURCE_MASTER",
            "reason": reason,
        }
        if agent_id is not None:
            status["agent_id"] = {"value": agent_id}
        status["timestamp"] = time.time()
        return status

    def accept(self, fw: Framework, body: dict[str, Any]) -> None:
        offer_ids = [str((o or {}).get("value", "")) for o in body.get("offer_ids") or []]
        operations = [op for op in body.get("operations") or [] if isinstance(op, dict)]
        launches = [
            ti
            for op in operations
            if op.get("type") == "LAUNCH"
            for ti in (op.get("launch") or {}).get("task_infos") or []
        ]
        error: str | None = None
        offers: list[Offer] = []
        if not offer_ids:
            error = "No offers specified"
        seen: set[str] = set()
        for oid in offer_ids:
            if oid in seen:
                error = error or f"Duplicate offer {oid} in offer list"
                continue
            seen.add(oid)
            offer = fw.offers.get(oid)
            if offer is None:
                error = error or f"Offer {oid} is no longer valid"
                continue
            if offers and error is None:
                if offer.agent is not offers[0].agent:
                    error = (
                        "Aggregated offers must belong to one single agent. Offer "
                        f"{offer.id} uses agent {offer.agent.id} and agent {offers[0].agent.id}"
                    )
                elif offer.role != offers[0].role:
                    error = (
                        "Aggregated offers must be allocated to the same role. Offer "
                        f"{offer.id} uses role {offer.role} and offer {offers[0].id} uses role {offers[0].role}"
                    )
            offers.append(offer)
        for offer in offers:
            fw.offers.pop(offer.id, None)
        self.stats["accepts"] += 1
        if error is not None:
            for offer in offers:
                self._recover(fw, offer.role, offer.agent, offer.resources, None)
            state = "TASK_DROPPED" if fw.partition_aware else "TASK_LOST"
            for ti in launches:
                tid = str(((ti or {}).get("task_id") or {}).get("value", ""))
                aid = ((ti or {}).get("agent_id") or {}).get("value")
                fw.send(
                    {
                        "type": "UPDATE",
                        "update": {
                            "status": self._master_status(
                                tid, state, f"Task launched with invalid offers: {error}", "REASON_INVALID_OFFERS", aid
                            )
                        },
                    }
                )
            return
        agent, role = offers[0].agent, offers[0].role
        available = Resources()
        for offer in offers:
            available = available + offer.resources
        remaining = available.copy()
        accepted: list[Task] = []
        for op in operations:
            kind = op.get("type")
            if kind == "LAUNCH":
                for ti in (op.get("launch") or {}).get("task_infos") or []:
                    problem, resources = self._validate_task(fw, agent, role, ti, remaining, accepted, op)
                    tid = str(ti["task_id"]["value"])
                    if problem is not None:
                        fw.send(
                            {
                                "type": "UPDATE",
                                "update": {
                                    "status": self._master_status(
                                        tid, "TASK_ERROR", problem, "REASON_TASK_INVALID", ti["agent_id"]["value"]
                                    )
                                },
                            }
                        )
                        self.stats["tasks_invalid"] += 1
                        continue
                    remaining = remaining - resources
                    accepted.append(Task(framework_id=fw.id, info=ti, agent=agent, resources=resources, role=role))
            elif kind == "LAUNCH_GROUP":
                for ti in ((op.get("launch_group") or {}).get("task_group") or {}).get("tasks") or []:
                    tid = str(((ti or {}).get("task_id") or {}).get("value", ""))
                    fw.send(
                        {
                            "type": "UPDATE",
                            "update": {
                                "status": self._master_status(
                                    tid,
                                    "TASK_ERROR",
                                    "LAUNCH_GROUP is not supported by the emulator",
                                    "REASON_TASK_GROUP_INVALID",
                                    agent.id,
                                )
                            },
                        }
                    )
            # Other operations (RESERVE, CREATE, ...) are not emulated: their resources stay unused.
        agent.offered = agent.offered - available
        for task in accepted:
            agent.used = agent.used + task.resources
            fw.tasks[task.task_id] = task
        self._add_filter(fw, role, agent, remaining, self.refuse_seconds(body.get("filters")))
        for task in accepted:
            self.stats["tasks_launched"] += 1
            agent.launch(task, fw.info)

    def _validate_task(
        self,
        fw: Framework,
        agent: Agent,
        role: str,
        ti: dict[str, Any],
        remaining: Resources,
        accepted: list[Task],
        op: dict[str, Any],
    ) -> tuple[str | None, Resources]:
        tid = str(ti["task_id"]["value"])
        empty = Resources()
        if "id" in op:
            return "The 'id' field is not allowed on LAUNCH operations", empty
        if not tid:
            return "ID must not be empty", empty
        if len(tid) > 255:
            return "ID must not be greater than 255 characters", empty
        if tid in (".", ".."):
            return f"'{tid}' is disallowed", empty
        if any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in tid):
            return f"'{tid}' contains invalid characters", empty
        if tid in fw.tasks or tid in fw.unreachable_tasks or any(t.task_id == tid for t in accepted):
            return f"Task has duplicate ID: {tid}", empty
        aid = ti["agent_id"]["value"]
        if aid != agent.id:
            return f"Task uses invalid agent {aid} while agent {agent.id} is expected", empty
        try:
            resources = Resources.from_json(ti.get("resources") or [])
        except ResourceError as exc:
            return f"Invalid resources: {exc}", empty
        if resources.is_empty():
            return "Task uses no resources", empty
        has_command, has_executor = "command" in ti, "executor" in ti
        if has_command == has_executor:
            return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present", empty
        if has_executor:
            return "Custom executors are not supported by the emulator (use CommandInfo)", empty
        if not remaining.contains(resources):
            return (
                f"Total resources {resources.to_string(role)} required by task and its executor is more than "
                f"available {remaining.to_string(role)}"
            ), empty
        return None, resources

    def kill(self, fw: Framework, body: dict[str, Any]) -> None:
        tid = str(body["task_id"]["value"])
        task = fw.tasks.get(tid)
        if task is None:
            self.reconcile(fw, {"tasks": [{k: body[k] for k in ("task_id", "agent_id") if k in body}]})
            return
        policy = body.get("kill_policy") or {}
        ns = (policy.get("grace_period") or {}).get("nanoseconds")
        task.agent.kill_task(task, None if ns is None else int(ns), "TASK_KILLING_STATE" in fw.capabilities)

    def acknowledge(self, fw: Framework, body: dict[str, Any]) -> None:
        self.stats["acks_received"] += 1
        if fw.drop_acks > 0 or self.drop_acks > 0:
            if fw.drop_acks > 0:
                fw.drop_acks -= 1
            else:
                self.drop_acks -= 1
            self.stats["acks_dropped"] += 1
            return
        task = fw.tasks.get(str(body["task_id"]["value"]))
        if task is None or task.agent.id != body["agent_id"]["value"] or task.agent.removed:
            self.stats["acks_ignored"] += 1
            return
        want = uuid_bytes(str(body["uuid"]))
        head = task.pending[0].get("uuid") if task.pending else None
        if head is None or uuid_bytes(head) != want or not task.agent.acknowledge(task, head):
            self.stats["acks_ignored"] += 1

    def _reconcile_known(self, task: Task) -> dict[str, Any]:
        last = task.last_forwarded
        state = last["state"] if last is not None else task.state
        if task.task_id in self.frameworks[task.framework_id].unreachable_tasks:
            message = "Reconciliation: Task is unreachable"
        else:
            message = "Reconciliation: Latest task state"
        status = self._master_status(task.task_id, state, message, "REASON_RECONCILIATION", task.agent.id)
        if last is not None:
            for key in ("healthy", "container_status", "unreachable_time"):
                if key in last:
                    status[key] = last[key]
        return status

    def reconcile(self, fw: Framework, body: dict[str, Any]) -> None:
        items = body.get("tasks") or []
        replies: list[dict[str, Any]] = []
        if not items:
            replies = [self._reconcile_known(t) for t in [*fw.tasks.values(), *fw.unreachable_tasks.values()]]
        for item in items:
            tid = str(item["task_id"]["value"])
            aid = (item.get("agent_id") or {}).get("value")
            task = fw.tasks.get(tid) or fw.unreachable_tasks.get(tid)
            if task is not None:
                replies.append(self._reconcile_known(task))
            elif aid is not None and aid in self.agents:
                state = "TASK_GONE" if fw.partition_aware else "TASK_LOST"
                replies.append(
                    self._master_status(
                        tid, state, "Reconciliation: Task is unknown to the agent", "REASON_RECONCILIATION", aid
                    )
                )
            elif aid is not None and aid in self.removed_agents:
                state = "TASK_UNREACHABLE" if fw.partition_aware else "TASK_LOST"
                replies.append(
                    self._master_status(tid, state, "Reconciliation: Task is unreachable", "REASON_RECONCILIATION", aid)
                )
            else:
                state = "TASK_UNKNOWN" if fw.partition_aware else "TASK_LOST"
                replies.append(
                    self._master_status(tid, state, "Reconciliation: Task is unknown", "REASON_RECONCILIATION", aid)
                )
        self.stats["reconciliation_replies"] += len(replies)
        for status in replies:
            fw.send({"type": "UPDATE", "update": {"status": status}})

    def update_framework(self, fw: Framework, body: dict[str, Any]) -> str | None:
        info = body["framework_info"]
        suppressed = [str(r) for r in body.get("suppressed_roles") or []]
        if (info.get("id") or {}).get("value") != fw.id:
            return "'framework_info.id' must match the framework being updated"
        for key in ("user", "principal", "checkpoint"):
            old, new = fw.info.get(key), info.get(key)
            if key == "checkpoint":
                old, new = bool(old), bool(new)
            if old != new:
                return (
                    f"FrameworkInfo update is not valid: Updating 'FrameworkInfo.{key}' is unsupported; "
                    f"attempted to update from '{old if old is not None else ''}' to '{new if new is not None else ''}'"
                )
        error = validate_framework_info(info, suppressed)
        if error:
            return error
        fw.info = {**info, "id": {"value": fw.id}}
        fw.suppressed = set(suppressed)
        for offer in [o for o in fw.offers.values() if o.role not in fw.roles]:
            self._remove_offer(offer, refuse_seconds=None)
            fw.send({"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})
        self.request_allocation()
        return None

    # -- status updates (called by agents) ----------------------------------------------------

    def forward_update(self, task: Task, status: dict[str, Any], *, latest_state: str) -> None:
        """The agent forwards a queue head (with its latest state) and the master passes it on."""
        if task.removed:
            return
        previous = task.state
        task.state = latest_state
        if task.last_forwarded is None or task.last_forwarded.get("uuid") != status.get("uuid"):
            entry: dict[str, Any] = {"state": status["state"], "timestamp": status["timestamp"]}
            container = status.get("container_status")
            if container is not None:
                entry["container_status"] = {k: v for k, v in container.items() if k != "executor_pid"}
            task.statuses.append(entry)
        task.last_forwarded = status
        if not is_terminal(previous) and is_terminal(latest_state):
            self._release(task)
        fw = self.frameworks.get(task.framework_id)
        if fw is None:
            return
        self.stats["updates_forwarded"] += 1
        fw.send({"type": "UPDATE", "update": {"status": status}})

    def _release(self, task: Task) -> None:
        if not task.resources_released:
            task.resources_released = True
            if not task.agent.removed:
                task.agent.used = task.agent.used - task.resources

    def terminal_update_acknowledged(self, task: Task) -> None:
        fw = self.frameworks.get(task.framework_id)
        self._release(task)
        task.removed = True
        if fw is not None and fw.tasks.get(task.task_id) is task:
            del fw.tasks[task.task_id]
            fw.completed_tasks.append(task)
        self.stats["tasks_completed"] += 1

    # -- sandboxes ----------------------------------------------------------------------------

    def register_sandbox(self, task: Task) -> None:
        assert task.sandbox is not None
        self._sandboxes[f"/frameworks/{task.framework_id}/executors/{task.task_id}/runs/latest"] = task.sandbox

    def resolve_sandbox_path(self, path: str) -> Path | None:
        """A /files path: the virtual ``/frameworks/F/executors/E/runs/latest/...`` or a host path."""
        for prefix, sandbox in self._sandboxes.items():
            if path == prefix or path.startswith(prefix + "/"):
                candidate = (sandbox / path[len(prefix) :].lstrip("/")).resolve()
                break
        else:
            candidate = Path(path).resolve()
        root = Path(self.config.work_dir).resolve()
        if candidate != root and root not in candidate.parents:
            return None
        return candidate

    # -- failure injection --------------------------------------------------------------------

    def pause_framework(self, fw: Framework, *, what: str = "all", hold: bool = False) -> None:
        if what not in ("all", "heartbeats"):
            raise ValueError("what must be 'all' or 'heartbeats'")
        fw.pause, fw.pause_hold = what, hold

    def resume_framework(self, fw: Framework) -> None:
        fw.pause, fw.pause_hold = "none", False
        held, fw.held = fw.held, []
        if fw.stream is not None:
            for data in held:
                fw.stream.send(data)

    def disconnect_framework(self, fw: Framework) -> None:
        """The master sees the SUBSCRIBE connection break (it closes it without an event)."""
        stream = fw.stream
        if stream is not None:
            stream.close()
            self.stream_closed(fw, stream)

    def set_leader(self, mode: str, redirect_to: str | None = None, *, close_streams: bool = True) -> None:
        if mode not in ("leader", "redirect", "none"):
            raise ValueError("mode must be 'leader', 'redirect' or 'none'")
        if mode == "redirect" and not redirect_to:
            raise ValueError("redirect needs redirect_to='host:port'")
        self.config.leader_mode = mode
        self.config.redirect_to = redirect_to if mode == "redirect" else None
        if mode != "leader" and close_streams:
            for fw in list(self.frameworks.values()):
                stream = fw.stream
                if stream is not None:
                    stream.close()
                    fw.stream = None
                    fw.active = False
                    if fw.heartbeat_handle is not None:
                        fw.heartbeat_handle.cancel()
                        fw.heartbeat_handle = None
                    for offer in list(fw.offers.values()):
                        self._remove_offer(offer, refuse_seconds=None)

    def check_invariants(self) -> list[str]:
        """Resource accounting problems (double allocation, leaks); empty when all is well."""
        errors: list[str] = []
        used: dict[str, Resources] = {aid: Resources() for aid in self.agents}
        offered: dict[str, Resources] = {aid: Resources() for aid in self.agents}
        for fw in self.frameworks.values():
            for task in fw.tasks.values():
                if not task.resources_released and task.agent.id in used:
                    used[task.agent.id] = used[task.agent.id] + task.resources
            for offer in fw.offers.values():
                if offer.agent.id not in offered:
                    errors.append(f"offer {offer.id} is on removed agent {offer.agent.id}")
                    continue
                offered[offer.agent.id] = offered[offer.agent.id] + offer.resources
        for aid, agent in self.agents.items():
            if agent.used != used[aid]:
                errors.append(f"agent {agent.hostname}: used {agent.used} != tasks' {used[aid]}")
            if agent.offered != offered[aid]:
                errors.append(f"agent {agent.hostname}: offered {agent.offered} != offers' {offered[aid]}")
            if not agent.total.contains(used[aid] + offered[aid]):
                errors.append(f"agent {agent.hostname}: used + offered exceeds total (double allocation)")
            if not agent.free().nonnegative():
                errors.append(f"agent {agent.hostname}: negative free resources {agent.free()}")
        return errors

    # -- /master/state ------------------------------------------------------------------------

    def _task_json(self, task: Task) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": task.task_id,
            "name": task.name,
            "framework_id": task.framework_id,
            "executor_id": "",
            "slave_id": task.agent.id,
            "state": task.state,
            "resources": task.resources.summary(),
            "role": task.role,
            "statuses": task.statuses,
        }
        user = (task.info.get("command") or {}).get("user")
        if user:
            out["user"] = user
        labels = (task.info.get("labels") or {}).get("labels")
        if labels:
            out["labels"] = labels
        return out

    def _framework_json(self, fw: Framework) -> dict[str, Any]:
        used, offered = fw.used(), fw.offered()
        out: dict[str, Any] = {
            "id": fw.id,
            "name": fw.name,
            "used_resources": used.summary(),
            "offered_resources": offered.summary(),
            "capabilities": fw.capabilities,
            "hostname": str(fw.info.get("hostname", "")),
            "webui_url": str(fw.info.get("webui_url", "")),
            "active": fw.active,
            "connected": fw.connected,
            "recovered": False,
            "user": str(fw.info.get("user", "")),
            "failover_timeout": float(fw.info.get("failover_timeout", 0.0) or 0.0),
            "checkpoint": bool(fw.info.get("checkpoint", False)),
            "registered_time": fw.registered_time,
            "unregistered_time": fw.unregistered_time,
        }
        if fw.info.get("principal"):
            out["principal"] = fw.info["principal"]
        out["resources"] = (used + offered).summary()
        if fw.reregistered_time is not None:
            out["reregistered_time"] = fw.reregistered_time
        if fw.multi_role:
            out["roles"] = fw.roles
        else:
            out["role"] = fw.roles[0]
        out["tasks"] = [self._task_json(t) for t in fw.tasks.values()]
        out["unreachable_tasks"] = [self._task_json(t) for t in fw.unreachable_tasks.values()]
        out["completed_tasks"] = [self._task_json(t) for t in fw.completed_tasks]
        out["offers"] = [
            {
                "id": o.id,
                "framework_id": fw.id,
                "allocation_info": {"role": o.role},
                "slave_id": o.agent.id,
                "resources": o.resources.summary(),
            }
            for o in fw.offers.values()
        ]
        out["executors"] = []
        labels = (fw.info.get("labels") or {}).get("labels")
        if labels:
            out["labels"] = labels
        out["offer_constraints"] = {}
        return out

    def _agent_json(self, agent: Agent) -> dict[str, Any]:
        return {
            "id": agent.id,
            "hostname": agent.hostname,
            "port": self.port,
            "attributes": {
                a["name"]: a["scalar"]["value"] if a["type"] == "SCALAR" else a["text"]["value"]
                for a in agent.attributes_json()
            },
            "pid": agent.pid,
            "registered_time": agent.registered_time,
            "resources": agent.total.summary(),
            "used_resources": agent.used.summary(),
            "offered_resources": agent.offered.summary(),
            "reserved_resources": {},
            "unreserved_resources": agent.total.summary(),
            "active": True,
            "deactivated": False,
            "version": VERSION,
            "capabilities": [
                "MULTI_ROLE",
                "HIERARCHICAL_ROLE",
                "RESERVATION_REFINEMENT",
                "RESOURCE_PROVIDER",
                "RESIZE_VOLUME",
                "AGENT_OPERATION_FEEDBACK",
                "AGENT_DRAINING",
                "TASK_RESOURCE_LIMITS",
            ],
        }

    def state(self) -> dict[str, Any]:
        ip, port = self.config.ip, self.port
        out: dict[str, Any] = {
            "version": VERSION,
            "git_tag": VERSION,
            "build_date": "2020-11-24 15:38:37",
            "build_time": 1606232317.0,
            "build_user": "emulator",
            "start_time": self.start_time,
            "id": self.id,
            "pid": f"master@{ip}:{port}",
            "hostname": self.config.hostname,
            "capabilities": ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"],
        }
        if self.leading:
            out["elected_time"] = self.start_time
        out.update(
            {
                "activated_slaves": float(len(self.agents)),
                "deactivated_slaves": 0.0,
                "unreachable_slaves": float(len(self.removed_agents)),
            }
        )
        if self.leading:
            out["leader"] = f"master@{ip}:{port}"
            out["leader_info"] = {"id": self.id, "pid": out["leader"], "port": port, "hostname": self.config.hostname}
        elif self.config.leader_mode == "redirect" and self.config.redirect_to:
            host, _, leader_port = self.config.redirect_to.rpartition(":")
            out["leader"] = f"master@{host}:{leader_port}"
        out["flags"] = {
            "allocation_interval": f"{self.config.allocation_interval:g}secs",
            "max_completed_frameworks": str(self.config.max_completed_frameworks),
            "max_completed_tasks_per_framework": str(self.config.max_completed_tasks_per_framework),
            "min_allocatable_resources": "cpus:0.01|mem:32",
            "port": str(port),
            "root_submissions": "true",
            "work_dir": str(Path(self.config.work_dir) / "master"),
        }
        if self.leading:
            out["slaves"] = [self._agent_json(a) for a in self.agents.values()]
            out["frameworks"] = [self._framework_json(f) for f in self.frameworks.values()]
            out["completed_frameworks"] = [self._framework_json(f) for f in self.completed_frameworks]
        else:
            out["slaves"], out["frameworks"], out["completed_frameworks"] = [], [], []
        out["recovered_slaves"] = []
        out["orphan_tasks"] = []
        out["unregistered_frameworks"] = []
        return out
