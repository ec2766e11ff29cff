"""The Mesos backend: each job is its own framework, named by its job id, with its role.

The core decides what to do with offers; this adapter only speaks Mesos. In coarse mode
(the default) an accepted offer starts one long-lived executor on its agent: a Mesos task
running `stratos-executor pilot`, which registers with the daemon's ExecutorHub like any
pilot and runs the tasks the core places on it (backends/pilots.py carries the orders), so
a task costs no Mesos round trip and no executor start. In fine mode each StratOS task is
its own Mesos task running `stratos-executor task`. Either way Mesos's own status updates
only tell the core about executors that died without a word (infrastructure failures).
The framework id is journaled and `failover_timeout` is long, so a daemon restart
re-subscribes to the same framework; fine tasks are adopted by reconciliation, coarse
executors register again holding their tasks.

Translates: OFFERS -> OffersReceived; a coarse executor's end -> PilotJobEnded (it had
registered) or PilotStartFailed (it never did); UPDATE -> TaskRunningReported (non-terminal),
TaskEnded(CLUSTER_LIMIT) (a limit kill, read by translate.end_cause) or TaskLost (any other
end; an executor that could not start names its host); an offer gone -> TaskLost.
Carries out: ReviveOffers (subscribe with the grant), AdoptAttempts, AcceptOffer, LaunchExecutor,
DeclineOffers, SuppressOffers, ReleasePool (TEARDOWN), KillTask, and through the pilots backend
LaunchTask and StopExecutor for coarse executors.
Decides: nothing about a task's fate.
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import logging
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from stratos_executor.spec import TaskRecord, TaskSpec
from stratos_wire.errors import BackendUnavailable
from stratos_wire.settings import default
from stratosd.backends.base import Emit
from stratosd.backends.mesos import translate as tr
from stratosd.backends.mesos.client import SchedulerConnection, resolve
from stratosd.backends.pilots import PilotsBackend, assignment
from stratosd.core.actions import PoolGrant
from stratosd.core.events import (
    Event,
    ExecutorRoomEnded,
    OffersReceived,
    PilotJobEnded,
    PilotStartFailed,
    TaskEnded,
    TaskLost,
    TaskRunningReported,
)
from stratosd.core.model import Offer
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolId, PoolKind
from stratosd.enroll import Enrollment
from stratosd.listeners import ExecutorListeners, mesos_endpoint

log = logging.getLogger("stratosd.mesos")
#: one debug line per offer answered: what went into it and how long after its OFFERS event (bench/mesos.py).
offers_log = logging.getLogger("stratosd.mesos.offers")

KIND = PoolKind.MESOS
#: the longest a closed job's framework waits for its executors to exit before TEARDOWN.
RELEASE_GRACE = 10.0
#: a finished job's framework stays subscribed this long for more work before TEARDOWN.
DEFAULT_IDLE_TEARDOWN = 60.0
#: four weeks, as the Mesos docs suggest for batch frameworks: a daemon restart never kills tasks.
DEFAULT_FAILOVER_TIMEOUT = 4 * 7 * 86400.0
#: a coarse executor with nothing to run exits after this long unless the job says otherwise.
DEFAULT_IDLE_TIMEOUT: float = default("mesos_idle_timeout")


class FrameworkIds(Protocol):
    """Where framework ids survive a daemon restart (the journal)."""

    def get(self, job_key: int) -> str | None: ...

    def set(self, job_key: int, framework_id: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class HeldOffer:
    """An offer the core has yet to answer."""

    offer: tr.MesosOffer
    #: time.perf_counter() when its OFFERS event came.
    received: float
    #: that OFFERS event's number on its framework: the offer round.
    round: int


@dataclass
class Framework:
    pool: str
    job_key: int
    conn: SchedulerConnection
    #: Mesos task id -> agent id, for the tasks we launched or adopted and not yet saw end.
    live: dict[str, str] = field(default_factory=dict)
    offers: dict[str, HeldOffer] = field(default_factory=dict)
    #: OFFERS events received so far.
    rounds: int = 0
    #: the job is done: TEARDOWN once Mesos has seen every task end (or at this deadline).
    release_at: float | None = None
    #: Mesos task id -> the agent's host name, for the reasons of tasks whose executor never started.
    hosts: dict[str, str] = field(default_factory=dict)
    #: Mesos task ids whose executor called the daemon (it started).
    heard: set[str] = field(default_factory=set)
    #: the job's name, token and settings (the core's latest ReviveOffers): what its tasks are launched with.
    grant: PoolGrant | None = None
    #: coarse executors (their Mesos task ids) -> agent id, while Mesos runs them.
    executors: dict[str, str] = field(default_factory=dict)
    #: a coarse executor's ExecutorInfo, which every room it grows by must repeat exactly.
    executor_infos: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: rooms (Mesos task ids) the core gave back: their end is expected.
    shrinking: set[str] = field(default_factory=set)


class MesosBackend:
    pool = KIND

    def __init__(
        self,
        emit: Emit,
        *,
        framework_ids: FrameworkIds,
        executor_address: str,
        executor_command: str | None = None,
        failover_timeout: float = DEFAULT_FAILOVER_TIMEOUT,
        idle_teardown: float = DEFAULT_IDLE_TEARDOWN,
        executor_tls_ca: str | None = None,
        listeners: ExecutorListeners | None = None,
        enrollment: Enrollment | None = None,
        pilots: PilotsBackend | None = None,
    ) -> None:
        #: coarse executors register with the hub as pilots; this backend carries their orders.
        self.pilots = pilots if pilots is not None else PilotsBackend(emit)
        self.executor_tls_ca = executor_tls_ca
        #: executor listeners opened per master on demand; None: ``executor_address`` for all.
        self.listeners = listeners
        #: with it, tasks carry a one-time bootstrap, never the job's token.
        self.enrollment = enrollment
        self.idle_teardown = idle_teardown
        self._emit = emit
        #: pool -> Mesos task ids the journal says run there, for its framework to adopt when it opens.
        self._adopt: dict[str, set[str]] = {}
        self._ids = framework_ids
        self.executor_address = executor_address
        self.executor_command = executor_command or f"{shlex.quote(sys.executable)} -m stratos_executor"
        self.failover_timeout = failover_timeout
        self.user = getpass.getuser()
        self.hostname = socket.gethostname()
        self.frameworks: dict[str, Framework] = {}
        self._session: aiohttp.ClientSession | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def initial_events(self) -> list[Event]:
        return []

    async def probe(self, master: str, timeout: float = 5.0) -> None:
        """Fail fast, at job creation, when the master cannot be reached at all."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        leader = (await resolve(master)).removesuffix("/api/v1/scheduler")
        url = leader + "/master/redirect"
        try:
            async with self._session.get(url, allow_redirects=False,
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                if response.status >= 500 and response.status != 503:
                    raise BackendUnavailable(f"the Mesos master at {master} answered {response.status}.")
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:  # ValueError: a bad host name
            raise BackendUnavailable(
                f"cannot reach the Mesos master at {master} ({err or type(err).__name__}): check the "
                "address, or that the master runs."
            ) from None
        if self.listeners is not None:
            try:
                await self.listeners.ensure(master, mesos_endpoint(leader))
            except (OSError, ValueError, RuntimeError) as err:
                raise BackendUnavailable(
                    f"cannot open an executor listener for the Mesos master at {master}: {err}. Set "
                    "executor_listen (and advertise) in the [stratosd] table of the settings file, or "
                    "`stratosd run --executor-listen HOST:PORT`.") from None

    # -- frameworks ------------------------------------------------------------------------------

    def _open(self, pool: str, grant: PoolGrant) -> Framework | None:
        framework = self.frameworks.get(pool)
        if framework is not None:
            return framework
        job_key = PoolId(pool).job_key
        if job_key is None:
            return None
        if self._session is None:
            self._session = aiohttp.ClientSession()

        def subscribe_call(framework_id: str | None) -> dict[str, Any]:
            return tr.subscribe(name=grant.job_name, user=self.user, role=grant.spec.role,
                                failover_timeout=self.failover_timeout, framework_id=framework_id,
                                hostname=self.hostname)

        conn = SchedulerConnection(
            grant.spec.master, self._session, subscribe_call,
            lambda event: self._on_event(pool, event), framework_id=self._ids.get(job_key),
        )
        framework = Framework(pool, job_key, conn, grant=grant)
        # Tasks the journal says run on this framework are ours to adopt (after a restart: AdoptAttempts).
        framework.live.update(dict.fromkeys(self._adopt.pop(pool, ()), ""))
        self.frameworks[pool] = framework
        conn.start()
        log.info("mesos: framework for job %s subscribing to %s", grant.job_name, grant.spec.master)
        return framework

    def adopt(self, pool: str, attempts: tuple[AttemptRef, ...]) -> None:
        """The journal says these attempts run on the pool's framework: the framework opened next
        (by the ReviveOffers that follows) takes them as its own and reconciles them."""
        if pool not in self.frameworks:
            self._adopt.setdefault(pool, set()).update(tr.task_id(*ref) for ref in attempts)

    def _on_event(self, pool: str, event: dict[str, Any]) -> None:
        framework = self.frameworks.get(pool)
        if framework is None:
            return
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            self._ids.set(framework.job_key, framework.conn.framework_id)
            framework.offers.clear()
            if framework.live:  # after a failover: learn what became of the tasks we had
                tasks = [(task_id, agent or None) for task_id, agent in framework.live.items()]
                self._send(framework, tr.reconcile(self._fid(framework), tasks))
        elif kind == "OFFERS":
            received = time.perf_counter()
            framework.rounds += 1
            offers = tr.offers(event)
            for offer in offers:
                framework.offers[offer.offer_id] = HeldOffer(offer, received, framework.rounds)
            core = tuple(Offer(o.offer_id, o.agent_id, o.hostname, o.cpus, o.mem, o.disk) for o in offers)
            self._emit(OffersReceived(pool, core, time.time()))
        elif kind == "RESCIND":
            framework.offers.pop(tr.rescinded_offer(event), None)
        elif kind == "UPDATE":
            self._on_update(framework, tr.update(event))
        elif kind == "ERROR":
            log.error("mesos: framework %s: %s", framework.conn.framework_id, tr.error_message(event))

    def _on_update(self, framework: Framework, update: tr.TaskUpdate) -> None:
        log.debug("mesos update %s %s %s", update.task_id, update.state, update.uuid)
        if update.uuid:
            self._send(framework, tr.acknowledge(self._fid(framework), update))
        if tr.executor_job_key(update.task_id) == framework.job_key:
            if tr.executor_of(update.task_id) != update.task_id:
                self._on_room_update(framework, update)
            else:
                self._on_executor_update(framework, update)
            return
        ids = tr.parse_task_id(update.task_id)
        if ids is None or ids[0] != framework.job_key:
            return
        if update.agent_id and update.task_id in framework.live:
            framework.live[update.task_id] = update.agent_id
        why = " ".join(p for p in (update.state, update.reason, update.message) if p)
        if update.state in tr.TERMINAL_STATES:
            if update.task_id in framework.live and not update.agent_id:
                update = tr.TaskUpdate(update.task_id, update.state, framework.live[update.task_id], update.uuid,
                                       update.reason, update.message, update.source)
            framework.live.pop(update.task_id, None)
            # When the executor reported the task's end first, the core ignores these as stale.
            stop = tr.end_cause(update)
            if stop is not None:  # the cluster killed it over its limits: the core decides its fate
                record = TaskRecord(ended=time.time(), reason=f"killed by Mesos: {why}", stdout=b"", signal=9,
                                    stop=stop)
                self._emit(TaskEnded(ids[0], ids[1], ids[2], record))
            else:
                never_heard = update.task_id not in framework.heard
                # An executor the node could not even start (126/127 from the shell, before it ever
                # reached the daemon) makes that host unusable for the job: the core decides what follows.
                missing = never_heard and tr.executor_missing(update)
                unusable = framework.hosts.get(update.task_id, "") if missing else ""
                self._emit(TaskLost(ids[0], ids[1], ids[2], self._lost_reason(framework, update, why),
                                    time.time(), unusable_host=unusable,
                                    unusable_agent=update.agent_id if unusable else ""))
            framework.heard.discard(update.task_id)
            framework.hosts.pop(update.task_id, None)
            if framework.release_at is not None and not framework.live \
                    and time.monotonic() >= framework.release_at:
                self._teardown(framework)  # closed, and now Mesos has seen every executor exit
        else:  # the core kills it if the job no longer wants this attempt
            self._emit(TaskRunningReported(ids[0], ids[1], ids[2], PoolId(framework.pool), update.agent_id))

    def _on_executor_update(self, framework: Framework, update: tr.TaskUpdate) -> None:
        """A coarse executor's Mesos task changed state: its end is its host's (and tasks') end."""
        executor_id = update.task_id
        if update.state not in tr.TERMINAL_STATES:
            framework.executors[executor_id] = update.agent_id or framework.executors.get(executor_id, "")
            return
        why = " ".join(p for p in (update.state, update.reason, update.message) if p)
        reason = self._lost_reason(framework, update, why)  # (names the host and the command)
        framework.executors.pop(executor_id, None)
        framework.executor_infos.pop(executor_id, None)
        host = framework.hosts.pop(executor_id, "")
        registered = executor_id in self.pilots.ever_registered
        self.pilots.drop(executor_id)
        if registered:  # (one the core already stopped is forgotten too: its agent may get a new one)
            self._emit(PilotJobEnded(executor_id, f"its Mesos executor {executor_id} ended ({why})", time.time(),
                                     framework.pool))
        else:
            # an executor that never reached the daemon: the job's tasks avoid its agent while others offer
            self._emit(PilotStartFailed(framework.pool, host, reason, time.time(), executor_id=executor_id,
                                        unusable_agent=update.agent_id))
        framework.heard.discard(executor_id)
        if framework.release_at is not None and not framework.live and not framework.executors \
                and time.monotonic() >= framework.release_at:
            self._teardown(framework)

    def _on_room_update(self, framework: Framework, update: tr.TaskUpdate) -> None:
        """A room an executor grew by ended: expected when the core gave it back; otherwise (Mesos
        refused or lost it) the core learns the executor is smaller, unless the executor itself ended."""
        if update.state not in tr.TERMINAL_STATES:
            return
        executor_id = tr.executor_of(update.task_id)
        if update.task_id in framework.shrinking:
            framework.shrinking.discard(update.task_id)
        elif executor_id in framework.executors:
            log.warning("mesos: room %s of executor %s ended (%s %s)", update.task_id, executor_id, update.state,
                        update.message)
            self._emit(ExecutorRoomEnded(framework.pool, executor_id, update.task_id, time.time()))

    def _lost_reason(self, framework: Framework, update: tr.TaskUpdate, why: str) -> str:
        """Why a task was lost; when its executor never reached the daemon, where and what failed."""
        if update.task_id in framework.heard or update.state not in ("TASK_FAILED", "TASK_FINISHED", "TASK_ERROR"):
            return f"Mesos: {why}"
        host = framework.hosts.get(update.task_id) or "?"
        where = (f"the executor could not start on host {host} (agent {update.agent_id or '?'}) "
                 f"with `{self.executor_command}`")
        advice = ("; check the nodes with `stratosctl doctor MASTER`, or set executor_command in [stratosd] "
                  "(stratosd run --executor-command)")
        missing = tr.executor_missing(update)
        if missing:
            program = (shlex.split(self.executor_command) or ["?"])[0]
            code = missing.rsplit(" ", 1)[-1].rstrip(")")
            return (f"host {host}: cannot start the StratOS executor: {program} {missing}; is StratOS installed "
                    f"there? It needs the same Python and version, installed or on a shared file system; "
                    f"{where} (exit {code}){advice}")
        return f"{where}: it ended before reaching the daemon ({why}){advice}"

    @staticmethod
    def _fid(framework: Framework) -> str:
        return framework.conn.framework_id or ""

    def _send(self, framework: Framework, call: dict[str, Any]) -> None:
        async def send() -> None:
            try:
                await framework.conn.call(call)
            except Exception as err:
                log.warning("mesos %s call failed: %s", call.get("type"), err)

        task = asyncio.get_running_loop().create_task(send())
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    # -- what the core decided ----------------------------------------------------------------------

    def revive(self, pool: str, grant: PoolGrant | None = None) -> None:
        framework = self.frameworks.get(pool)
        if framework is not None:
            framework.release_at = None  # more work came before the TEARDOWN
            if grant is not None:
                framework.grant = grant
        if framework is None:
            if grant is not None:
                self._open(pool, grant)  # a new subscription gets offers without asking
        elif framework.conn.stream_id is not None:
            self._send(framework, tr.revive(self._fid(framework)))

    def accept(self, pool: str, offer: Offer, launches: list[tuple[int, TaskSpec, float]]) -> None:
        framework = self.frameworks.get(pool)
        held = framework.offers.pop(offer.offer_id, None) if framework else None
        grant = framework.grant if framework is not None else None
        if framework is None or held is None or grant is None:
            for job_key, spec, _ in launches:
                self._emit(TaskLost(job_key, spec.task_id, spec.attempt, "the offer is gone", time.time()))
            return
        mesos_offer = held.offer
        infos = []
        for job_key, spec, cpus in launches:
            mesos_task_id = tr.task_id(job_key, spec.task_id, spec.attempt)
            command, environment = self._executor(grant, spec, mesos_task_id)
            infos.append(tr.task_info(mesos_task_id=mesos_task_id, name=f"{grant.job_name}:{spec.task_id}",
                                      offer=mesos_offer, cpus=cpus, mem=grant.spec.mem, disk=grant.spec.disk,
                                      command=command, environment=environment))
            framework.live[mesos_task_id] = mesos_offer.agent_id
            framework.hosts[mesos_task_id] = mesos_offer.hostname
        self._send(framework, tr.accept(self._fid(framework), [offer.offer_id], infos))
        offers_log.debug("job %s round %d offer %s (cpus=%g mem=%g disk=%g): accepted with %d task(s) of "
                         "cpus=%g mem=%g disk=%g (%d retried), %.3f ms after its OFFERS event", grant.job_name,
                         held.round, offer.offer_id, mesos_offer.cpus, mesos_offer.mem, mesos_offer.disk, len(infos),
                         grant.spec.cpus, grant.spec.mem, grant.spec.disk,
                         sum(spec.attempt > 1 for _, spec, _ in launches), 1000 * (time.perf_counter() - held.received))

    def launch_executor(self, pool: str, offer: Offer, executor_id: str, cpus: float, mem: float,
                        disk: float) -> None:
        """Coarse mode: start one long-lived executor of the job on the offer's agent, holding these resources."""
        framework = self.frameworks.get(pool)
        held = framework.offers.pop(offer.offer_id, None) if framework else None
        grant = framework.grant if framework is not None else None
        if framework is None or held is None or grant is None:
            self._emit(PilotStartFailed(pool, offer.hostname, "the offer is gone", time.time(),
                                        executor_id=executor_id))
            return
        command, environment = self._pilot_command(grant, executor_id, cpus, mem, held.offer.hostname)
        executor = tr.executor_info(executor_id=executor_id, framework_id=self._fid(framework),
                                    name=f"{grant.job_name} executor", command=command, environment=environment)
        info = tr.task_info(mesos_task_id=executor_id, name=f"{grant.job_name} executor", offer=held.offer,
                            cpus=cpus, mem=mem, disk=disk, executor=executor)
        framework.executor_infos[executor_id] = executor
        framework.executors[executor_id] = held.offer.agent_id
        framework.hosts[executor_id] = held.offer.hostname
        self._send(framework, tr.accept(self._fid(framework), [offer.offer_id], [info]))
        offers_log.debug("job %s round %d offer %s (cpus=%g mem=%g disk=%g): accepted for executor %s of "
                         "cpus=%g mem=%g disk=%g, %.3f ms after its OFFERS event", grant.job_name, held.round,
                         offer.offer_id, held.offer.cpus, held.offer.mem, held.offer.disk, executor_id, cpus, mem,
                         disk, 1000 * (time.perf_counter() - held.received))

    def grow_executor(self, pool: str, offer: Offer, executor_id: str, room_id: str, cpus: float, mem: float,
                      disk: float) -> None:
        """One more room for a running executor: a task launched with its very ExecutorInfo goes to it."""
        framework = self.frameworks.get(pool)
        held = framework.offers.pop(offer.offer_id, None) if framework else None
        executor = framework.executor_infos.get(executor_id) if framework else None
        if framework is None or held is None or executor is None or framework.grant is None:
            self._emit(ExecutorRoomEnded(pool, executor_id, room_id, time.time()))
            return
        info = tr.task_info(mesos_task_id=room_id, name=f"{framework.grant.job_name} executor", offer=held.offer,
                            cpus=cpus, mem=mem, disk=disk, executor=executor)
        self._send(framework, tr.accept(self._fid(framework), [offer.offer_id], [info]))
        offers_log.debug("job %s offer %s: executor %s grows by cpus=%g mem=%g disk=%g (%s)",
                         framework.grant.job_name, offer.offer_id, executor_id, cpus, mem, disk, room_id)

    def shrink_executor(self, pool: str, executor_id: str, room_id: str) -> None:
        """Give a room back: its task is killed; the executor and what it runs stay."""
        framework = self.frameworks.get(pool)
        if framework is not None:
            framework.shrinking.add(room_id)
            self._send(framework, tr.kill(self._fid(framework), room_id, framework.executors.get(executor_id)))

    def _connection(self, grant: PoolGrant) -> tuple[str, str | None, str]:
        """Where executors reach the daemon for this job's master: address, CA path, CA certificate."""
        address, tls_ca, ca_pem = self.executor_address, self.executor_tls_ca, ""
        listener = self.listeners.for_master(grant.spec.master) if self.listeners is not None else None
        if listener is not None:
            address, tls_ca, ca_pem = listener.advertise, listener.ca_path or None, listener.ca_pem
        return address, tls_ca, ca_pem

    def _secrets(self, grant: PoolGrant, executor_id: str, env: dict[str, str], ca_pem: str) -> None:
        """What lets an executor in: Mesos shows a task's environment in /master/state, so only a
        one-time bootstrap bound to this executor goes there; it is traded for a credential over TLS."""
        if ca_pem:
            env["STRATOS_TLS_CA_PEM"] = ca_pem  # the daemon's CA certificate: public
        if self.enrollment is not None:
            env["STRATOS_BOOTSTRAP"] = self.enrollment.bootstrap(grant.token, executor_id)
        else:
            env["STRATOS_TOKEN"] = grant.token

    def _pilot_command(self, grant: PoolGrant, executor_id: str, cpus: float, mem: float, hostname: str
                       ) -> tuple[str, dict[str, str]]:
        """A coarse executor's command: a pilot offering what the offer gave it; its tasks' sandboxes
        (and their stdout and stderr files with output="mesos") go under its Mesos sandbox."""
        address, tls_ca, ca_pem = self._connection(grant)
        idle = grant.spec.mesos_idle_timeout or DEFAULT_IDLE_TIMEOUT
        command = (f"{self.executor_command} pilot --connect {shlex.quote(address)} --job {shlex.quote(grant.job_name)}"
                   f" --cpus {cpus:g} --mem {mem:g} --idle-timeout {idle:g} --host {shlex.quote(hostname)}"
                   ' --work-dir "${MESOS_SANDBOX:-$PWD}/tasks"')
        if tls_ca:
            command += f" --tls-ca {shlex.quote(tls_ca)}"
        env = {"STRATOS_EXECUTOR_ID": executor_id}
        self._secrets(grant, executor_id, env, ca_pem)
        return command, env

    def _executor(self, grant: PoolGrant, spec: TaskSpec, mesos_task_id: str) -> tuple[str, dict[str, str]]:
        """The Mesos task's command: our executor, which runs the user's command under supervision."""
        address, tls_ca, ca_pem = self._connection(grant)
        command = (f"{self.executor_command} task --connect {shlex.quote(address)} "
                   f"--job {shlex.quote(grant.job_name)}")
        if tls_ca:
            command += f" --tls-ca {shlex.quote(tls_ca)}"
        encoded = base64.b64encode(assignment(spec).SerializeToString()).decode()
        env = {"STRATOS_ASSIGNMENT": encoded, "STRATOS_EXECUTOR_ID": mesos_task_id}
        self._secrets(grant, mesos_task_id, env, ca_pem)
        return command, env

    def decline(self, pool: str, offer_ids: tuple[str, ...], refuse_seconds: float) -> None:
        framework = self.frameworks.get(pool)
        if framework is not None:
            held = [h for h in (framework.offers.pop(offer_id, None) for offer_id in offer_ids) if h is not None]
            self._send(framework, tr.decline(self._fid(framework), list(offer_ids), refuse_seconds))
            if held and offers_log.isEnabledFor(logging.DEBUG):
                name = framework.grant.job_name if framework.grant else pool
                for h in held:
                    offers_log.debug("job %s round %d offer %s (cpus=%g mem=%g disk=%g): declined, %.3f ms after "
                                     "its OFFERS event", name, h.round, h.offer.offer_id,
                                     h.offer.cpus, h.offer.mem, h.offer.disk,
                                     1000 * (time.perf_counter() - h.received))

    def suppress(self, pool: str) -> None:
        framework = self.frameworks.get(pool)
        if framework is not None and framework.conn.stream_id is not None:
            self._send(framework, tr.suppress(self._fid(framework)))

    def release(self, pool: str, now: bool = False) -> None:
        """The job has nothing left to run: TEARDOWN its framework (it moves to completed_frameworks).

        A finished job keeps its framework for ``idle_teardown`` seconds, in case more work
        comes; an explicit close does not wait. Either way, executors report a task's end
        before they exit, so Mesos may still count them as running: the TEARDOWN waits until
        Mesos has seen them all end (at most RELEASE_GRACE), lest it show them as TASK_KILLED.
        """
        framework = self.frameworks.get(pool)
        if framework is None:
            return
        wait = 0.0 if now else self.idle_teardown
        if not framework.live and wait <= 0:
            self._teardown(framework)
            return
        token = framework.release_at = time.monotonic() + wait

        async def deadline() -> None:
            await asyncio.sleep(wait)
            if framework.release_at != token:
                return  # more work came meanwhile
            if framework.live:  # let Mesos see the executors exit first
                framework.release_at = time.monotonic()
                await asyncio.sleep(RELEASE_GRACE)
                if framework.release_at is None:
                    return
            self._teardown(framework)

        task = asyncio.get_running_loop().create_task(deadline())
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _teardown(self, framework: Framework) -> None:
        if self.frameworks.get(framework.pool) is not framework:
            return
        del self.frameworks[framework.pool]
        self._ids.set(framework.job_key, None)
        for executor_id in list(framework.executors):  # TEARDOWN ends them: their hosts leave the pool
            if executor_id in self.pilots.ever_registered:
                self.pilots.drop(executor_id)
                self._emit(PilotJobEnded(executor_id, "its job's Mesos framework was torn down", time.time(),
                                         framework.pool))
        framework.conn.stop_reconnecting()

        async def teardown() -> None:
            try:
                if framework.conn.framework_id:
                    await framework.conn.call(tr.teardown(self._fid(framework)))
            except Exception as err:
                log.warning("mesos TEARDOWN failed: %s", err)
            finally:
                await framework.conn.close()

        task = asyncio.get_running_loop().create_task(teardown())
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def executor_job(self, executor_id: str) -> int | None:
        """The job whose Mesos task this executor id names, while that task is live."""
        ids = tr.parse_task_id(executor_id)
        if ids is None:
            return None
        framework = self.frameworks.get(PoolId.of(KIND, ids[0]))
        if framework is None or executor_id not in framework.live:
            return None
        framework.heard.add(executor_id)  # it started: a later failure is not the node's
        return ids[0]

    # -- the Backend interface -----------------------------------------------------------------------

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        """Coarse mode: the task goes to the executor the core placed it on, at its next fetch."""
        self.pilots.launch(job_key, host_id, spec)

    def stop_executor(self, host_id: str, cause: ExecutorStopCause) -> None:
        """The core removed a coarse executor's host: it exits at its next call (its Mesos task ends)."""
        self.pilots.stop_executor(host_id, cause)

    def kill(self, job_key: int, task_id: int, attempt: int, host_hint: str = "") -> None:
        if self.pilots.placed(job_key, task_id, attempt):
            self.pilots.kill(job_key, task_id, attempt)
            return
        framework = self.frameworks.get(PoolId.of(KIND, job_key))
        if framework is not None:
            mesos_task_id = tr.task_id(job_key, task_id, attempt)
            if mesos_task_id not in framework.live:
                # Reported lost (and run again elsewhere), yet it runs: it must not yield a second result.
                log.warning("mesos: %s runs but is no longer wanted: killing it", mesos_task_id)
            self._send(framework, tr.kill(self._fid(framework), mesos_task_id,
                                          framework.live.get(mesos_task_id) or host_hint or None))

    async def close(self) -> None:
        """Daemon stop: leave the frameworks (and their tasks) running; the restart re-subscribes."""
        for framework in list(self.frameworks.values()):
            await framework.conn.close()
        if self._calls:
            await asyncio.wait(list(self._calls), timeout=5)
        if self._session is not None:
            await self._session.close()
