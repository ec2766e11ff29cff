"""The remote side of the executor: a pilot that runs tasks for ``stratosd``: one job's (``--job``,
with the job's token), or any job's of a shared pool (``--pool``, with the pool's credential).

``stratos-executor pilot`` registers this host's resources with the daemon's
``ExecutorHub`` service, long-polls it (``Fetch``) for task assignments, kills
and stop, runs each assignment under :class:`TaskRunner`, and reports what
happened (``Report``: started, stdout pieces, ended). The daemon owns all state;
the pilot keeps only what runs now and the reports not yet delivered.

A pool pilot's assignments, kills, held attempts and reports each name their job (its key),
and each job's attempts get their sandboxes under WORK_DIR/<job>/ (0700): one pilot runs
tasks of several jobs, each with its own job's settings, environment, cwd and output routing.

Every RPC carries the job's token (or the pool's credential) and is retried with exponential backoff while
the daemon is unreachable, up to ``retry_for`` seconds; a retried report reuses
its ``report_id``, so the daemon applies it once.

Exit codes (:func:`run_pilot`): 0 stopped (by the daemon, a signal, or idleness),
1 unexpected error, 2 usage (no token, bad address), 3 the daemon stayed
unreachable for longer than ``retry_for``, 4 the daemon refused the pilot (bad
token, the job is gone). No task process outlives the pilot in any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from stratos_wire import PROTOCOL_HEADER, PROTOCOL_VERSION
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc

from . import mesos_link
from ._wire import describe_end, ended_report, inline_stdout, sandbox_path, spec_from_assignment, stdout_pieces
from .spec import StopReason, TaskRecord
from .supervisor import TaskRunner

log = logging.getLogger("stratos_executor.pilot")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4

DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_RETRY_FOR = 300.0
BACKOFF_START = 0.1
BACKOFF_FACTOR = 2.0
BACKOFF_CAP = 5.0
#: deadline of Register and Report calls; Fetch gets its wait on top.
RPC_TIMEOUT = 30.0
#: used when the daemon's RegisterReply says 0 (the daemon caps whatever we ask).
DEFAULT_FETCH_WAIT = 20.0

#: the daemon is not there (now): retry within the window.
#: ABORTED is the daemon's "register again" (it restarted, or had counted this executor lost).
RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED})
#: the daemon said no: retrying cannot help.
REFUSED_CODES = frozenset(
    {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND}
)

#: on every call: the protocol this executor speaks (the daemon refuses another one, saying so).
PROTOCOL = (PROTOCOL_HEADER, str(PROTOCOL_VERSION))

#: reasons given to TaskRunner.kill.
KILLED = StopReason.KILLED
EXECUTOR_STOPPED = StopReason.EXECUTOR_STOPPED

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    # grpc's own reconnect backoff grows to 120 s by default; a call on a channel in backoff fails at
    # once, so keep the channel's backoff within ours or a daemon that is back would go unseen.
    ("grpc.initial_reconnect_backoff_ms", int(BACKOFF_START * 1000)),
    ("grpc.min_reconnect_backoff_ms", int(BACKOFF_START * 1000)),
    ("grpc.max_reconnect_backoff_ms", int(BACKOFF_CAP * 1000)),
]


#: how long the end of a task killed by SIGTERM waits to learn whether the pilot is being stopped too.
STOP_SIGNAL_GRACE = 1.0
#: how long a started task may run before its start is reported by itself (short tasks: one report).
STARTED_REPORT_DELAY = 0.05


class PilotExit(Exception):
    """Ends the pilot with ``code``; ``message`` is what the log (and the user) sees."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PilotConfig:
    #: the daemon's ExecutorHub listener: HOST:PORT or unix:/path.
    target: str
    job_id: str
    token: str
    cpus: float
    #: MB
    mem: float
    host: str
    #: seconds with no running task and no assignment before exiting; 0: never.
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    #: seconds an unreachable daemon is retried before the pilot gives up (exit 3).
    retry_for: float = DEFAULT_RETRY_FOR
    #: parent of the attempts' sandboxes; None: a temporary directory removed at exit.
    work_dir: str | None = None
    executor_id: str = ""
    #: a PEM CA file: connect with TLS and verify the daemon against it.
    tls_ca: str | None = None
    #: the CA certificate itself (PEM; $STRATOS_TLS_CA_PEM, handed out by the daemon): TLS as with tls_ca.
    tls_ca_pem: str = ""
    #: a one-time secret ($STRATOS_BOOTSTRAP) traded for this executor's own credential (Enroll)
    #: before any other call; ``token`` is then unused.
    bootstrap: str = ""
    #: a shared pool's id: run any of its jobs' tasks (``job_id`` is then ""; ``token`` the pool's credential).
    pool: str = ""

    def __post_init__(self) -> None:
        if not self.executor_id:
            object.__setattr__(self, "executor_id", f"{self.host}-{os.getpid()}-{secrets.token_hex(4)}")


def check_target(target: str) -> str:
    """``target`` if it looks like HOST:PORT or unix:/path; raises ValueError otherwise."""
    if target.startswith("unix:"):
        if len(target) <= len("unix:"):
            raise ValueError(f"no socket path in {target!r}")
        return target
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT or unix:/path, got {target!r}")
    return target


def physical_memory_mb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 20)


def _env_number(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    digits = "".join(itertools.takewhile(lambda c: c.isdigit() or c == ".", text))  # "4(x2)", "2048M"
    try:
        value = float(digits)
    except ValueError:
        log.warning("ignoring %s=%r: not a number", name, text)
        return None
    return value if value > 0 else None


def default_resources(env: Mapping[str, str] | None = None) -> tuple[float, float]:
    """(cpus, mem MB) to offer: Slurm's allocation when in a Slurm job, else the whole host."""
    env = os.environ if env is None else env
    cpus = _env_number(env, "SLURM_CPUS_ON_NODE") or _env_number(env, "SLURM_CPUS_PER_TASK")
    if cpus is None:
        cpus = float(os.cpu_count() or 1)
    mem = _env_number(env, "SLURM_MEM_PER_NODE")
    if mem is None and (per_cpu := _env_number(env, "SLURM_MEM_PER_CPU")) is not None:
        mem = per_cpu * cpus
    if mem is None:
        mem = physical_memory_mb()
    return cpus, mem


def read_token(token_file: str | None, env: Mapping[str, str] | None = None) -> str:
    """The job's token from ``token_file``, else $STRATOS_TOKEN; raises PilotExit(2) when there is none."""
    env = os.environ if env is None else env
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise PilotExit(EXIT_USAGE, f"cannot read the token file {token_file}: {exc.strerror}") from None
        if not token:
            raise PilotExit(EXIT_USAGE, f"the token file {token_file} is empty")
        return token
    token = env.get("STRATOS_TOKEN", "").strip()
    if not token:
        raise PilotExit(
            EXIT_USAGE,
            "no token: pass --token-file FILE or set STRATOS_TOKEN (the job's token: `stratosctl token JOB`"
            " or Processor.token(); with --pool, the pool's credential: `stratosctl pilot-credential POOL`)",
        )
    return token


@dataclass(eq=False)
class _Attempt:
    """One assigned attempt: its runner, the task running it, the task reporting it."""

    task_id: int
    attempt: int
    sandbox: str
    output: str
    runner: TaskRunner
    started: asyncio.Future[tuple[int, float]]
    run_task: asyncio.Task[TaskRecord] | None = None
    report_task: asyncio.Task[None] | None = None
    #: its job: the key the daemon names it by (0 when it did not say), and its name.
    job_key: int = 0
    job_id: str = ""

    @property
    def key(self) -> tuple[int, int, int]:
        return self.job_key, self.task_id, self.attempt

    @property
    def running(self) -> bool:
        return self.run_task is not None and not self.run_task.done()

    def __str__(self) -> str:
        return f"job {self.job_id} task {self.task_id} attempt {self.attempt}"


class Pilot:
    """One pilot process's work for one job. Create it, then ``await run()`` once (it returns the exit code).

    :meth:`request_stop` (the CLI calls it on SIGTERM and SIGINT) kills what runs,
    reports it with reason "executor-stopped" and makes :meth:`run` return 0.
    """

    def __init__(self, config: PilotConfig) -> None:
        self.config = config
        self._metadata = (("authorization", f"Bearer {config.token}"),)
        self._enrolled = False
        self._stub: Any = None
        self._attempts: dict[tuple[int, int, int], _Attempt] = {}
        #: every attempt ever assigned here: an assignment seen again is not run twice.
        self._seen: set[tuple[int, int, int]] = set()
        self._report_numbers = itertools.count(1)
        self._work_dir = config.work_dir or ""
        self._fetch_wait = DEFAULT_FETCH_WAIT
        self._last_activity = time.monotonic()
        #: when the current run of failed calls began; None while the daemon answers.
        self._outage_since: float | None = None
        #: Register before the next call: at start, and after every outage (the daemon may have restarted).
        self._need_register = True
        self._registering: asyncio.Task[None] | None = None
        self._registrations = 0
        self._stop_requested = False
        self._failure: PilotExit | None = None
        #: set to end the fetch loop: a stop request or a failure.
        self._halt = asyncio.Event()
        self._failed = asyncio.Event()

    @property
    def executor_id(self) -> str:
        return self.config.executor_id

    # -- control ------------------------------------------------------------------------------

    def request_stop(self, why: str = "stop requested") -> None:
        """Kill every task (reason "executor-stopped"), report them, then end ``run`` with 0.

        A second request gives up on the reports still undelivered (exit 1);
        the task processes are still waited for.
        """
        if self._stop_requested:
            self._fail(PilotExit(EXIT_ERROR, f"{why} again: exiting without waiting for the reports"))
            return
        self._stop_requested = True
        running = sum(1 for a in self._attempts.values() if a.running)
        log.info("stopping (%s): killing %d running task(s)", why, running)
        self._kill_all(EXECUTOR_STOPPED)
        self._halt.set()

    def _fail(self, exc: PilotExit) -> None:
        if self._failure is None:
            self._failure = exc
            log.log(logging.INFO if exc.code == EXIT_OK else logging.ERROR, "%s", exc.message)
        self._halt.set()
        self._failed.set()

    def _kill_all(self, reason: str) -> None:
        for attempt in self._attempts.values():
            attempt.runner.kill(reason)

    # -- main ---------------------------------------------------------------------------------

    async def run(self) -> int:
        """Register, run what the daemon assigns until told to stop (or idle, or failed); the exit code."""
        temp_dir = None
        if not self._work_dir:
            temp_dir = self._work_dir = tempfile.mkdtemp(prefix="stratos-pilot-")
        if self.config.tls_ca or self.config.tls_ca_pem:
            if self.config.tls_ca:
                with open(self.config.tls_ca, "rb") as f:
                    roots = f.read()
            else:
                roots = self.config.tls_ca_pem.encode()
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            channel = grpc.aio.secure_channel(self.config.target, credentials, options=CHANNEL_OPTIONS)
        else:
            channel = grpc.aio.insecure_channel(self.config.target, options=CHANNEL_OPTIONS)
        stub_class: Any = pb_grpc.ExecutorHubStub
        self._stub = stub_class(channel)
        fetcher = asyncio.create_task(self._enrolled_then(self._fetch_loop))
        halted = asyncio.create_task(self._halt.wait())
        try:
            await asyncio.wait([fetcher, halted], return_when=asyncio.FIRST_COMPLETED)
            fetcher.cancel()
            await asyncio.wait([fetcher])
            ending = None
            if not fetcher.cancelled():
                exc = fetcher.exception()
                if isinstance(exc, PilotExit):
                    self._fail(exc)
                elif exc is not None:
                    raise exc
                else:
                    ending = fetcher.result()
            if self._failure is None:
                if ending == "stop":
                    self._kill_all(KILLED)
                await self._deliver_reports()
            if self._failure is not None:
                return self._failure.code
            log.info("exiting")
            return EXIT_OK
        finally:
            halted.cancel()
            await self._end_tasks()
            await channel.close(grace=None)
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)

    async def _enrolled_then(self, work: Any) -> str:
        """Trade the bootstrap for this executor's credential first, when started with one."""
        if self.config.bootstrap and not self._enrolled:
            request = pb.EnrollRequest(job_id=self.config.job_id, executor_id=self.config.executor_id,
                                       pool=self.config.pool)
            reply = await self._call("Enroll", request, timeout=RPC_TIMEOUT,
                                     metadata=(("authorization", f"Bootstrap {self.config.bootstrap}"),))
            self._metadata = (("authorization", f"Bearer {reply.credential}"),)
            self._enrolled = True
        result: str = await work()
        return result

    async def _deliver_reports(self) -> None:
        """Wait until every attempt has ended and been reported, or the pilot failed."""
        failed = asyncio.create_task(self._failed.wait())
        try:
            while not self._failed.is_set():
                pending = [a.report_task for a in self._attempts.values() if a.report_task is not None]
                if not pending:
                    return
                await asyncio.wait([*pending, failed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            failed.cancel()

    async def _end_tasks(self) -> None:
        """Kill whatever still runs, wait for the processes to be gone, drop undelivered reports."""
        attempts = list(self._attempts.values())
        running = [a for a in attempts if a.running]
        if running:
            log.info("killing %d running task(s)", len(running))
        for attempt in attempts:
            attempt.runner.kill(EXECUTOR_STOPPED)
        if self._registering is not None and not self._registering.done():
            self._registering.cancel()
            await asyncio.wait([self._registering])
        runs = [a.run_task for a in attempts if a.run_task is not None]
        if runs:
            await asyncio.wait(runs)  # bounded: kill_grace, then SIGKILL to the process group
        reports = [a.report_task for a in attempts if a.report_task is not None and not a.report_task.done()]
        for task in reports:
            task.cancel()
        if reports:
            await asyncio.wait(reports)
            log.warning("%d attempt(s) ended without their reports delivered", len(reports))

    # -- fetching -----------------------------------------------------------------------------

    async def _registered(self) -> None:
        """Register if needed; concurrent callers share one Register call (and its retries)."""
        while self._need_register:
            if self._registering is None or self._registering.done():
                self._registering = asyncio.create_task(self._register())
            task = self._registering
            await asyncio.wait([task])  # a cancelled caller does not cancel the others' registration
            error = task.exception()
            if error is not None:
                raise error

    async def _register(self) -> None:
        cfg = self.config
        holding = [pb.AttemptRef(task_id=task_id, attempt=attempt, job_key=job_key)
                   for job_key, task_id, attempt in self._attempts]
        request = pb.RegisterRequest(
            job_id=cfg.job_id, executor_id=cfg.executor_id, host=cfg.host, cpus=cfg.cpus, mem=cfg.mem,
            holding=holding, pool=cfg.pool,
        )
        self._need_register = False
        reply = await self._call("Register", request, timeout=RPC_TIMEOUT)
        self._fetch_wait = reply.fetch_wait if reply.fetch_wait > 0 else DEFAULT_FETCH_WAIT
        log.info(
            "registered%s with %s for %s as %s (cpus %g, mem %g MB); fetch wait %g s, lost after %g s",
            " again" if self._registrations else "", cfg.target,
            f"pool {cfg.pool}" if cfg.pool else f"job {cfg.job_id}", cfg.executor_id, cfg.cpus, cfg.mem,
            reply.fetch_wait, reply.lost_after,
        )
        self._registrations += 1

    async def _fetch_loop(self) -> str:
        """Fetch until the daemon says stop ("stop") or the pilot is idle for too long ("idle")."""
        cfg = self.config
        self._last_activity = time.monotonic()
        while True:
            await self._registered()
            wait = self._fetch_wait
            if cfg.idle_timeout > 0 and not any(a.running for a in self._attempts.values()):
                idle_left = self._last_activity + cfg.idle_timeout - time.monotonic()
                if idle_left <= 0:
                    log.info("idle for %g s: exiting", cfg.idle_timeout)
                    return "idle"
                wait = min(wait, idle_left)
            request = pb.FetchRequest(job_id=cfg.job_id, executor_id=cfg.executor_id, wait=wait, pool=cfg.pool)
            reply = await self._call("Fetch", request, timeout=wait + RPC_TIMEOUT)
            # no await from here to the end of the loop body: a reply is handled whole or not at all
            for assignment in reply.tasks:
                self._start(assignment)
            for ref in reply.kills:
                found = self._attempts.get((ref.job_key, ref.task_id, ref.attempt))
                if found is not None and found.running:
                    log.info("killing %s (the daemon asked)", found)
                    found.runner.kill(KILLED)
            if reply.stop:
                log.info("stopping (the daemon asked): killing %d running task(s)",
                         sum(1 for a in self._attempts.values() if a.running))
                return "stop"

    def _start(self, assignment: pb.TaskAssignment) -> None:
        key = (assignment.job_key, assignment.task_id, assignment.attempt)
        job_id = assignment.job_id or self.config.job_id
        if key in self._seen:
            log.warning("job %s task %d attempt %d was assigned again; ignored", job_id, *key[1:])
            return
        self._seen.add(key)
        self._last_activity = time.monotonic()
        sandbox = sandbox_path(self._work_dir, job_id, *key[1:])
        private_dir(os.path.dirname(sandbox))  # another job's tasks on this pilot cannot list or read it
        spec = spec_from_assignment(job_id, assignment, sandbox)
        loop = asyncio.get_running_loop()
        started: asyncio.Future[tuple[int, float]] = loop.create_future()

        def on_started(pid: int, when: float) -> None:
            if not started.done():
                started.set_result((pid, when))

        attempt = _Attempt(
            task_id=spec.task_id, attempt=spec.attempt, sandbox=sandbox, output=spec.output,
            runner=TaskRunner(spec, on_started=on_started), started=started, job_key=assignment.job_key,
            job_id=job_id,
        )
        self._attempts[key] = attempt
        attempt.run_task = loop.create_task(attempt.runner.run())
        attempt.run_task.add_done_callback(self._on_run_done)
        attempt.report_task = loop.create_task(self._report_attempt(attempt))
        if self._stop_requested or self._failure is not None:  # assigned while stopping: never started
            attempt.runner.kill(EXECUTOR_STOPPED)

    def _on_run_done(self, _: object) -> None:
        self._last_activity = time.monotonic()

    # -- reporting ----------------------------------------------------------------------------

    async def _report_attempt(self, attempt: _Attempt) -> None:
        """Started, stdout pieces, Ended: in this order, each delivered before the next is sent."""
        run_task = attempt.run_task
        assert run_task is not None
        try:
            first: list[asyncio.Future[Any]] = [run_task, attempt.started]
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            if attempt.started.done() and not run_task.done():
                # a task that ends soon is reported once: its end carries its pid and start time
                await asyncio.wait([run_task], timeout=STARTED_REPORT_DELAY)
            if attempt.started.done() and not run_task.done():
                pid, when = attempt.started.result()
                log.info("%s started: pid %d", attempt, pid)
                await self._report(attempt, started=pb.TaskStartedReport(pid=pid, started=when))
            await asyncio.wait([run_task])  # never cancels the run itself
            record = self._record_of(attempt, run_task)
            # where it ran: the daemon names these files (output mode "mesos") by this host and path
            record.host = self.config.host
            if attempt.output not in ("scheduler", "none"):  # the sandbox is kept
                record.sandbox = attempt.sandbox
            await self._stopped_with_us(record)
            log.info("%s ended: %s", attempt, describe_end(record))
            await self._report(attempt, ended=await self._send_stdout(attempt, record))
            if attempt.output in ("scheduler", "none"):  # only a stdout spill, delivered by now
                shutil.rmtree(attempt.sandbox, ignore_errors=True)
        except PilotExit as exc:
            self._fail(exc)
        finally:
            self._attempts.pop(attempt.key, None)

    async def _stopped_with_us(self, record: TaskRecord) -> None:
        """A task killed by SIGTERM while this pilot is being stopped was stopped with it.

        A cluster that ends a pilot's job (Slurm's scancel, time limit) signals every process of
        the job at once, the tasks too: a task may die of that SIGTERM just before the pilot
        learns it is stopping. Such an end waits up to STOP_SIGNAL_GRACE for the pilot's own stop;
        then it is "executor-stopped" (run again elsewhere), not the task's failure.
        """
        if record.stop is not StopReason.NONE or record.signal != signal.SIGTERM:
            return
        if not self._stop_requested:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt.wait(), STOP_SIGNAL_GRACE)
        if self._stop_requested:
            record.set_reason(EXECUTOR_STOPPED)

    def _record_of(self, attempt: _Attempt, run_task: asyncio.Task[TaskRecord]) -> TaskRecord:
        exc = run_task.exception()
        if exc is None:
            return run_task.result()
        # the supervisor itself failed: an infrastructure failure, for the daemon to run elsewhere
        log.error("%s: the supervisor failed: %r", attempt, exc)
        now = time.time()
        record = TaskRecord(started=now, ended=now, reason=EXECUTOR_STOPPED, notes=[f"executor error: {exc!r}"])
        if attempt.started.done():
            record.pid, record.started = attempt.started.result()
        return record

    async def _send_stdout(self, attempt: _Attempt, record: TaskRecord) -> pb.TaskEndedReport:
        """Send stdout too large to go inline as pieces; the Ended report that goes with it."""
        inline = inline_stdout(record)
        if inline is not None:
            return ended_report(record, inline=True, stdout=inline)
        size = 0
        pieces = stdout_pieces(record)
        while True:
            try:
                offset, data = next(pieces)
            except StopIteration:
                break
            except OSError as exc:
                record.notes.append(f"stdout could not be read back after {size} bytes: {exc}")
                record.stdout_truncated = True
                break
            await self._report(attempt, output=pb.TaskOutputReport(offset=offset, data=data))
            size = offset + len(data)
        return ended_report(record, inline=False, stdout_size=size)

    async def _report(
        self,
        attempt: _Attempt,
        *,
        started: pb.TaskStartedReport | None = None,
        output: pb.TaskOutputReport | None = None,
        ended: pb.TaskEndedReport | None = None,
    ) -> None:
        cfg = self.config
        request = pb.ReportRequest(
            job_id=attempt.job_id or cfg.job_id, executor_id=cfg.executor_id,
            report_id=f"{cfg.executor_id}-{next(self._report_numbers)}",  # kept by every retry below
            task_id=attempt.task_id, attempt=attempt.attempt, started=started, output=output, ended=ended,
            pool=cfg.pool, job_key=attempt.job_key,
        )
        await self._call("Report", request, timeout=RPC_TIMEOUT)

    # -- calls --------------------------------------------------------------------------------

    def _idle_for(self, now: float) -> float:
        """Seconds since the pilot last had work; 0 while a task runs or a report is undelivered."""
        busy = any(a.running or (a.report_task is not None and not a.report_task.done())
                   for a in self._attempts.values())
        return 0.0 if busy else now - self._last_activity

    async def _call(self, method: str, request: Any, *, timeout: float,
                    metadata: tuple[tuple[str, str], ...] | None = None) -> Any:
        """One RPC, retried with backoff while the daemon is unreachable; PilotExit when it cannot succeed."""
        cfg = self.config
        delay = BACKOFF_START
        while True:
            if method not in ("Register", "Enroll"):
                await self._registered()
            try:
                reply = await getattr(self._stub, method)(request, metadata=(*(metadata or self._metadata), PROTOCOL),
                                                          timeout=timeout)
            except grpc.aio.AioRpcError as err:
                code, details = err.code(), err.details() or ""
                if code in REFUSED_CODES:
                    raise PilotExit(EXIT_REFUSED, f"the daemon refused {method}: {code.name}: {details}") from None
                if code not in RETRY_CODES:
                    raise PilotExit(EXIT_ERROR, f"{method} failed: {code.name}: {details}") from None
                problem = f"{code.name}: {details}"
            except OSError as err:
                problem = str(err)
            else:
                if self._outage_since is not None:
                    log.info("the daemon answers again")
                    self._outage_since = None
                return reply
            now = time.monotonic()
            if self._outage_since is None:
                self._outage_since = now
            if method not in ("Register", "Enroll"):
                self._need_register = True
            left = self._outage_since + cfg.retry_for - now
            if method != "Report" and self._idle_for(now) >= cfg.idle_timeout > 0:
                # nothing runs and nothing is left to report: an idle pilot gives its host back rather
                # than hold it while it waits for a daemon that may never return (it would exit idle anyway)
                raise PilotExit(EXIT_OK, f"idle for {cfg.idle_timeout:g} s and the daemon at {cfg.target} is "
                                f"unreachable ({problem}): exiting")
            if left <= 0:
                raise PilotExit(
                    EXIT_UNREACHABLE,
                    f"the daemon at {cfg.target} has been unreachable for {cfg.retry_for:g} s ({problem});"
                    " giving up",
                )
            pause = min(delay, left)
            log.warning("retrying %s in %.1f s: %s", method, pause, problem)
            await asyncio.sleep(pause)
            delay = min(delay * BACKOFF_FACTOR, BACKOFF_CAP)


class OneTaskExecutor(Pilot):
    """Runs the one assignment it was started with and reports it: the executor of a Mesos task.

    The cluster manager, not the daemon, started it, so it does not register or fetch;
    the daemon vouches for its executor id (the Mesos task id) and takes its reports.
    """

    def __init__(self, config: PilotConfig, assignment: pb.TaskAssignment) -> None:
        super().__init__(config)
        self._assignment = assignment
        self._need_register = False

    async def _registered(self) -> None:
        return None

    async def _fetch_loop(self) -> str:
        self._start(self._assignment)
        a = self._assignment
        attempt = self._attempts.get((a.job_key, a.task_id, a.attempt))
        if attempt is not None and attempt.report_task is not None:
            await asyncio.wait([attempt.report_task])
        return "done"


def run_one_task(config: PilotConfig, assignment: pb.TaskAssignment) -> int:
    """Run one assignment with SIGTERM/SIGINT handling (a Mesos kill); return the exit code."""

    async def main() -> int:
        executor = OneTaskExecutor(config, assignment)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, executor.request_stop, signal.Signals(signum).name)
        return await executor.run()

    return asyncio.run(main())


def run_pilot(config: PilotConfig) -> int:
    """Run a pilot in a new event loop with SIGTERM/SIGINT handling; return its exit code."""

    async def main() -> int:
        pilot = Pilot(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, pilot.request_stop, signal.Signals(signum).name)
        link = None
        if mesos_link.launched_by_mesos(os.environ):  # a coarse Mesos executor: Mesos sees its rooms
            def shutdown(why: str) -> None:  # from the link's thread
                loop.call_soon_threadsafe(pilot.request_stop, why)

            link = mesos_link.MesosExecutorLink(shutdown)
            link.start()
        try:
            return await pilot.run()
        finally:
            if link is not None:
                await asyncio.to_thread(link.finish)
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signum)

    return asyncio.run(main())


def private_dir(path: str) -> None:
    """Make ``path`` (and its parents) if missing; ``path`` itself is the user's alone (0700)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def default_host() -> str:
    return socket.gethostname()
