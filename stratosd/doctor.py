"""`stratosctl doctor MASTER`: can every node of a cluster run the executor and reach this daemon?

The daemon runs the check because it owns what a real task needs: the executor command, the
executor listener (opened towards that master, TLS with the daemon's CA) and the cluster client.
It starts one probe per node (`EXECUTOR_COMMAND probe`, see stratos_executor/probe.py): a Slurm
job pinned with `sbatch -w NODE`, or a Mesos task on each agent's offer from a small framework of
its own (`stratos-doctor`, torn down after). A probe proves itself with a one-time secret that
lives in this daemon's memory only while the check runs (what Mesos or Slurm keep of it is
worthless after). Each node gets OK, or what is missing, in words an operator can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import os
import re
import secrets
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from stratos_wire import VERSION
from stratos_wire import stratos_pb2 as pb
from stratos_wire.errors import BackendUnavailable, InvalidJobSpec
from stratosd.backends.mesos import translate as tr
from stratosd.backends.mesos.backend import MesosBackend
from stratosd.backends.mesos.client import SchedulerConnection, resolve
from stratosd.backends.slurm import SlurmBackend, log_tail, partition_of, run_command
from stratosd.convert import pool_for

log = logging.getLogger("stratosd.doctor")

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
#: how often Slurm is asked about the probe jobs.
POLL = 1.0
#: a probe's cpus and memory (MB): as small as a cluster manager takes.
PROBE_CPUS, PROBE_MEM = 0.1, 64.0


@dataclass
class NodeResult:
    node: str
    ok: bool = False
    problem: str = ""
    detail: str = ""
    version: str = ""
    where: str = ""

    def message(self) -> pb.NodeCheck:
        return pb.NodeCheck(node=self.node, ok=self.ok, problem=self.problem, detail=self.detail,
                            version=self.version, where=self.where)


@dataclass
class _Waiting:
    secret: str
    reached: asyncio.Future[pb.ProbeRequest]


@dataclass
class Probes:
    """Probes under way, by probe id; each secret is good once, for its own probe id."""

    waiting: dict[str, _Waiting] = field(default_factory=dict)

    def expect(self, probe_id: str) -> tuple[str, asyncio.Future[pb.ProbeRequest]]:
        secret = secrets.token_urlsafe(24)
        future: asyncio.Future[pb.ProbeRequest] = asyncio.get_running_loop().create_future()
        self.waiting[probe_id] = _Waiting(secret, future)
        return secret, future

    def reached(self, request: pb.ProbeRequest, authorization: str) -> bool:
        """A probe called in: True (and its check is done) when its secret is right and unspent."""
        waiting = self.waiting.get(request.probe_id)
        offered = authorization.removeprefix("Probe ")
        if waiting is None or not hmac.compare_digest(offered.encode(), waiting.secret.encode()):
            return False
        del self.waiting[request.probe_id]
        if not waiting.reached.done():
            waiting.reached.set_result(request)
        return True

    def forget(self, probe_id: str) -> None:
        self.waiting.pop(probe_id, None)


def judge(node: str, reached: pb.ProbeRequest | None, words: str, target: str, exit_status: str = "") -> NodeResult:
    """A node's verdict from what its probe said (``reached``) or, when it never called, its words."""
    if reached is not None:
        if reached.version != VERSION:
            return NodeResult(node, False, "wrong version",
                              f"StratOS {reached.version or '?'} on the node, {VERSION} in the daemon: install "
                              f"{VERSION} there (the same as the daemon's)", reached.version)
        return NodeResult(node, True, "", f"stratos-executor {reached.version}, Python {reached.python}, "
                          f"host {reached.host}", reached.version)
    lower = words.lower()
    if exit_status in ("127", "126") or "not found" in lower or "no such file" in lower:
        problem = "program not found" if exit_status != "126" else "program not executable"
    elif "no module named" in lower:
        problem = "stratos_executor not installed for that Python"
    elif "invalid choice: 'probe'" in lower or "unrecognized arguments" in lower:
        problem = f"wrong version (its stratos-executor has no `probe`: older than {VERSION})"
    elif "cannot reach the daemon" in lower or exit_status == "3":
        problem = f"cannot reach the daemon at {target}"
    elif "refused the probe" in lower or exit_status == "4":
        problem = "the daemon refused the probe (a stale probe, or another daemon at that address)"
    else:
        problem = "the executor command failed" + (f" (exit {exit_status})" if exit_status else "")
    return NodeResult(node, False, problem, words)


def probe_env(probe_id: str, secret: str, ca_pem: str) -> dict[str, str]:
    env = {"STRATOS_PROBE_ID": probe_id, "STRATOS_PROBE_SECRET": secret}
    if ca_pem:
        env["STRATOS_TLS_CA_PEM"] = ca_pem
    return env


class Doctor:
    def __init__(self, slurm: SlurmBackend, mesos: MesosBackend) -> None:
        self.slurm = slurm
        self.mesos = mesos
        self.probes = Probes()

    async def check(self, master: str, timeout: float) -> pb.DoctorReply:
        """Probe every node of ``master``; raises BackendUnavailable when the master is not there."""
        timeout = DEFAULT_TIMEOUT if not timeout or not math.isfinite(timeout) else min(max(timeout, 1.0),
                                                                                         MAX_TIMEOUT)
        kind, _ = pool_for(master)
        if kind == "slurm":
            return await self._slurm(master, timeout)
        if kind == "mesos":
            return await self._mesos(master, timeout)
        raise InvalidJobSpec(f"stratosctl doctor checks a cluster (a Mesos master or slurm://PARTITION), "
                             f"not {master!r}: local and pilots need no check.")

    def _listener(self, master: str, default: str, default_ca: str | None, listeners: Any) -> tuple[str, str, str]:
        """(address, tls-ca path on the nodes, CA PEM) the probes must use, as a task's executor would."""
        listener = listeners.for_master(master) if listeners is not None else None
        if listener is None:
            return default, default_ca or "", ""
        return listener.advertise, listener.ca_path or "", listener.ca_pem

    def _probe_command(self, executor_command: str, address: str, tls_ca: str, timeout: float) -> str:
        command = (f"{executor_command} probe --connect {shlex.quote(address)} "
                   f"--timeout {max(5.0, min(20.0, timeout / 3)):g}")
        return command + (f" --tls-ca {shlex.quote(tls_ca)}" if tls_ca else "")

    # -- Slurm ----------------------------------------------------------------------------------

    async def _slurm(self, master: str, timeout: float) -> pb.DoctorReply:
        backend = self.slurm
        await backend.probe(master)  # sinfo answers, the partition exists, the listener is open
        address, tls_ca, ca_pem = self._listener(master, backend.executor_address, backend.executor_tls_ca,
                                                 backend.listeners)
        code, ping, err = await run_command(["scontrol", "ping"])
        reached = " ".join(ping.split()) if code == 0 else f"scontrol ping: {err.strip() or code}"
        partition = partition_of(master)
        code, out, err = await run_command(["sinfo", "-h", "-N", "-o", "%N %P %t"]
                                           + ([f"--partition={partition}"] if partition else []))
        if code != 0:
            raise BackendUnavailable(f"sinfo -N failed ({err.strip() or code}): is slurmctld up?")
        nodes: dict[str, list[str]] = {}
        states: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3:
                nodes.setdefault(parts[0], []).append(parts[1].rstrip("*"))
                states[parts[0]] = parts[2]
        reply = pb.DoctorReply(master=master, reached=reached, executor_command=backend.executor_command,
                               listener=address, daemon_version=VERSION)
        backend.log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        jobs: dict[str, tuple[str, str, asyncio.Future[pb.ProbeRequest]]] = {}  # slurm id -> node, probe id
        results: dict[str, NodeResult] = {}
        command = self._probe_command(backend.executor_command, address, tls_ca, timeout)
        minutes = max(1, math.ceil(timeout / 60) + 1)
        for node in nodes:
            probe_id = f"doctor-{secrets.token_hex(6)}"
            secret, future = self.probes.expect(probe_id)
            argv = ["sbatch", "--parsable", "--job-name=stratos-doctor", f"--nodelist={node}", "--nodes=1",
                    "--ntasks=1", "--cpus-per-task=1", f"--time={minutes}",
                    f"--output={backend.log_dir}/doctor-%j.log"]
            if partition:
                argv.append(f"--partition={partition}")
            argv.append(f"--wrap=STRATOS_PROBE_ID={probe_id} exec {command}")
            env = {k: v for k, v in os.environ.items() if not k.startswith("STRATOS_")}
            env.update(probe_env(probe_id, secret, ca_pem))
            code, out, err = await run_command(argv, env)
            if code != 0:
                self.probes.forget(probe_id)
                results[node] = NodeResult(node, False, "Slurm refused the probe job",
                                           f"sbatch: {err.strip() or code}")
                continue
            jobs[out.strip().split(";")[0]] = (node, probe_id, future)
        try:
            await self._watch_slurm(jobs, results, started + timeout, address, timeout, states)
        finally:
            for _, probe_id, _ in jobs.values():
                self.probes.forget(probe_id)
            left = [slurm_id for slurm_id, (node, _, _) in jobs.items() if node not in results or
                    not results[node].ok]
            if left:
                await run_command(["scancel", *left])
        for node, where in nodes.items():
            result = results.get(node) or NodeResult(node, False, "no answer")
            result.where = ",".join(sorted(set(where)))
            reply.nodes.append(result.message())
        return reply

    async def _watch_slurm(self, jobs: dict[str, tuple[str, str, asyncio.Future[pb.ProbeRequest]]],
                           results: dict[str, NodeResult], deadline: float, address: str, timeout: float,
                           states: dict[str, str]) -> None:
        last_state: dict[str, str] = {}
        for _ in range(int(timeout / POLL) + 2):  # bounded in count as in time
            for node, _, future in jobs.values():
                if node not in results and future.done():
                    results[node] = judge(node, future.result(), "", address)
            open_ids = [i for i, (node, _, _) in jobs.items() if node not in results]
            if not open_ids or time.monotonic() >= deadline:
                break
            code, out, _ = await run_command(["squeue", "-h", "-o", "%i %T", "--jobs", ",".join(open_ids)])
            listed = dict(line.split(None, 1) for line in out.splitlines() if len(line.split()) == 2) \
                if code == 0 else None
            for slurm_id in open_ids:
                node, _, future = jobs[slurm_id]
                now = (listed or {}).get(slurm_id, "").strip()
                if now:
                    last_state[slurm_id] = now
                if listed is not None and (not now or now in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
                                                              "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL")):
                    await asyncio.sleep(0.2)  # its call may still be on its way
                    if future.done():
                        continue
                    results[node] = await self._slurm_failure(slurm_id, node, address)
            await asyncio.sleep(POLL)
        for slurm_id, (node, _, future) in jobs.items():
            if node in results:
                continue
            if future.done():
                results[node] = judge(node, future.result(), "", address)
            elif last_state.get(slurm_id, "PENDING") in ("PENDING", "CONFIGURING"):
                state = states.get(node, "")
                results[node] = NodeResult(node, False, f"not started within {timeout:g} s (queue busy or node "
                                           "down)", f"Slurm job {slurm_id} still {last_state.get(slurm_id,'PENDING')}"
                                           + (f"; sinfo says the node is {state}" if state else ""))
            else:
                results[node] = NodeResult(node, False, f"cannot reach the daemon at {address}",
                                           f"Slurm job {slurm_id} ran but its probe did not call within "
                                           f"{timeout:g} s")

    async def _slurm_failure(self, slurm_id: str, node: str, address: str) -> NodeResult:
        code, out, _ = await run_command(["scontrol", "show", "job", "-o", slurm_id])
        fields = dict(re.findall(r"(ExitCode|StdOut|JobState)=(\S+)", out)) if code == 0 else {}
        path = fields.get("StdOut") or str(self.slurm.log_dir / f"doctor-{slurm_id}.log")
        tail = log_tail(Path(path))
        status = fields.get("ExitCode", "").split(":")[0]
        words = tail or f"Slurm job {slurm_id} {fields.get('JobState', 'ended')}, its log {path} is empty"
        return judge(node, None, words, address, status)

    # -- Mesos ----------------------------------------------------------------------------------

    async def _mesos(self, master: str, timeout: float) -> pb.DoctorReply:
        backend = self.mesos
        await backend.probe(master)  # the master answers, the listener is open
        address, tls_ca, ca_pem = self._listener(master, backend.executor_address, backend.executor_tls_ca,
                                                 backend.listeners)
        leader = (await resolve(master)).removesuffix("/api/v1/scheduler")
        reply = pb.DoctorReply(master=master, reached=f"leading master {leader}",
                               executor_command=backend.executor_command, listener=address, daemon_version=VERSION)
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(leader + "/master/slaves", timeout=aiohttp.ClientTimeout(total=10)) as r:
                    agents = [a for a in (await r.json(content_type=None)).get("slaves", []) if a.get("active", True)]
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
                raise BackendUnavailable(f"cannot list the agents of {leader} ({err}): is the master up?") from None
            names = {a["id"]: a.get("hostname", a["id"]) for a in agents}
            results = await _MesosProbe(self, backend, master, session, names, address, tls_ca, ca_pem,
                                        timeout).run()
        for agent_id, host in sorted(names.items(), key=lambda item: (item[1], item[0])):
            result = results.get(agent_id) or NodeResult(host, False, f"not started within {timeout:g} s "
                                                                       "(no offer: agent busy, reserved or down)")
            result.node, result.where = host, agent_id
            reply.nodes.append(result.message())
        return reply


class _MesosProbe:
    """A framework of its own (`stratos-doctor`): one probe task on each agent's first offer."""

    def __init__(self, doctor: Doctor, backend: MesosBackend, master: str, session: aiohttp.ClientSession,
                 agents: dict[str, str], address: str, tls_ca: str, ca_pem: str, timeout: float) -> None:
        self.doctor, self.backend, self.agents, self.address = doctor, backend, agents, address
        self.timeout, self.ca_pem = timeout, ca_pem
        self.command = doctor._probe_command(backend.executor_command, address, tls_ca, timeout)
        self.results: dict[str, NodeResult] = {}
        #: mesos task id -> (agent id, probe id, its future)
        self.tasks: dict[str, tuple[str, str, asyncio.Future[pb.ProbeRequest]]] = {}
        self.changed = asyncio.Event()

        def subscribe(framework_id: str | None) -> dict[str, Any]:
            return tr.subscribe(name="stratos-doctor", user=backend.user, role="*", failover_timeout=0.0,
                                framework_id=framework_id, hostname=backend.hostname)

        self.conn = SchedulerConnection(master, session, subscribe, self._on_event)
        self._calls: set[asyncio.Task[None]] = set()

    def _send(self, call: dict[str, Any]) -> None:
        async def send() -> None:
            with contextlib.suppress(Exception):
                await self.conn.call(call, attempts=3)

        task = asyncio.get_running_loop().create_task(send())
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        fid = self.conn.framework_id or ""
        if kind == "OFFERS":
            declined = []
            for offer in tr.offers(event):
                if offer.agent_id in self.agents and offer.agent_id not in self.results \
                        and all(a != offer.agent_id for a, _, _ in self.tasks.values()) \
                        and offer.cpus >= PROBE_CPUS and offer.mem >= PROBE_MEM:
                    probe_id = f"doctor-{secrets.token_hex(6)}"
                    secret, future = self.doctor.probes.expect(probe_id)
                    future.add_done_callback(lambda _: self.changed.set())
                    self.tasks[probe_id] = (offer.agent_id, probe_id, future)
                    info = tr.task_info(mesos_task_id=probe_id, name="stratos doctor probe", offer=offer,
                                        cpus=PROBE_CPUS, mem=PROBE_MEM, disk=0.0,
                                        command=f"exec {self.command}",
                                        environment=probe_env(probe_id, secret, self.ca_pem))
                    self._send(tr.accept(fid, [offer.offer_id], [info]))
                else:
                    declined.append(offer.offer_id)
            if declined:
                self._send(tr.decline(fid, declined, 3600.0))
        elif kind == "UPDATE":
            update = tr.update(event)
            if update.uuid:
                self._send(tr.acknowledge(fid, update))
            found = self.tasks.get(update.task_id)
            if found is None or update.state not in tr.TERMINAL_STATES:
                return
            agent_id, _, future = found
            if agent_id in self.results or future.done():
                return
            status = update.message.rsplit(" ", 1)[-1] if "exited with status" in update.message else ""
            words = " ".join(p for p in (update.state, update.reason, update.message) if p)
            host = self.agents.get(agent_id, agent_id)
            self.results[agent_id] = judge(host, None, f"`{self.command}`: {words}", self.address, status)
            self.changed.set()

    async def run(self) -> dict[str, NodeResult]:
        deadline = time.monotonic() + self.timeout
        self.conn.start()
        try:
            for _ in range(int(self.timeout / 0.2) + 2):  # bounded in count as in time
                for agent_id, _, future in self.tasks.values():
                    if agent_id not in self.results and future.done():
                        self.results[agent_id] = judge(self.agents[agent_id], future.result(), "", self.address)
                left = deadline - time.monotonic()
                if len(self.results) >= len(self.agents) or left <= 0:
                    break
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), min(0.2, left))
            for agent_id, _, future in self.tasks.values():
                if agent_id not in self.results and future.done():
                    self.results[agent_id] = judge(self.agents[agent_id], future.result(), "", self.address)
                elif agent_id not in self.results:
                    self.results[agent_id] = NodeResult(
                        self.agents[agent_id], False, f"cannot reach the daemon at {self.address}",
                        f"its probe task started but did not call within {self.timeout:g} s")
        finally:
            for _, probe_id, _ in self.tasks.values():
                self.doctor.probes.forget(probe_id)
            self.conn.stop_reconnecting()
            if self.conn.framework_id:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.conn.call(tr.teardown(self.conn.framework_id), attempts=2), 10)
            await self.conn.close()
            for task in list(self._calls):
                task.cancel()
        return self.results


__all__ = ["Doctor", "NodeResult", "Probes", "judge"]
