"""The ExecutorHub servicer: executors outside the daemon register, fetch orders, report.

Every call carries the job's token (a token acts on its own job only), or a pool pilot's
credential (``pool`` set: it acts on the executor calls of that pool's jobs only). Reports are
answered only after the journal holds what they said, so an executor that got its
answer can forget the report, and one that did not simply sends it again.

Translates: Register/Fetch/Report calls -> the pilots backend's HostAdded/ExecutorHeard,
TaskStarted, TaskEnded (the executor's reason word parsed once into StopReason); Fetch
answers with the pilot's queued orders and the core's StopExecutor.
Decides: nothing about a task's fate (it reads jobs only as JobView snapshots, to check tokens).
"""

from __future__ import annotations

import hmac
import math
import os
from collections.abc import Sequence
from typing import Any, Protocol

import grpc

from stratos_executor.spec import DEFAULT_RESULT_LIMIT, Relaunch, StopReason, TaskRecord
from stratos_wire import PROTOCOL_HEADER, PROTOCOL_VERSION, VERSION
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc
from stratos_wire.errors import JournalUnavailable
from stratosd.backends.pilots import Pilot, PilotRetired, PilotsBackend
from stratosd.core.events import TaskEnded, TaskStarted
from stratosd.core.model import pilot_hosted
from stratosd.core.replies import JobView
from stratosd.core.types import AttemptRef, PoolId, PoolKind
from stratosd.doctor import Probes
from stratosd.enroll import Enrollment, pool_secret
from stratosd.runtime import Runtime


class ExecutorRegistry(Protocol):
    def executor_job(self, executor_id: str) -> int | None:
        """The job key an executor (not a pilot) may report for, or None."""
        ...


class Hub(pb_grpc.ExecutorHubServicer):
    def __init__(self, runtime: Runtime, backend: PilotsBackend, others: Sequence[ExecutorRegistry] = (),
                 enrollment: Enrollment | None = None, probes: Probes | None = None) -> None:
        #: doctor probes under way (stratosctl doctor).
        self.probes = probes
        self.runtime = runtime
        #: executors on cluster nodes trade a one-time bootstrap for a credential of their own.
        self.enrollment = enrollment
        self.backend = backend
        #: backends that start one executor per task (Mesos): they vouch for their executors' ids.
        self.others = list(others)

    async def _same_protocol(self, context: Any) -> None:
        """Refuse an executor of another protocol version, naming both and what to do."""
        theirs = str(dict(context.invocation_metadata() or ()).get(PROTOCOL_HEADER, "1"))
        if theirs != str(PROTOCOL_VERSION):
            peer = str(context.peer() or "the executor")
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{peer} speaks StratOS protocol {theirs}, this stratosd ({VERSION}) speaks {PROTOCOL_VERSION}: "
                f"install StratOS {VERSION} on that node, or point executor_command at it "
                "(`stratosctl doctor MASTER` checks every node); the job's other tasks go on")

    async def _job(self, job_id: str, context: Any, executor_id: str = "") -> JobView:
        await self._same_protocol(context)
        job = self.runtime.state.view(job_id)
        offered = str(dict(context.invocation_metadata() or ()).get("authorization", ""))
        expected = f"Bearer {job.token}" if job is not None else "Bearer \0"
        allowed = hmac.compare_digest(offered.encode(), expected.encode())
        if not allowed and job is not None and self.enrollment is not None and offered.startswith("Bearer c."):
            # an executor's own credential (Enroll), good for its executor id only
            allowed = self.enrollment.valid_credential(job.token, executor_id, offered.removeprefix("Bearer "))
        if job is None or not allowed:
            # The same answer for an unknown job and a wrong token: a token reveals nothing else.
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"no job {job_id!r} for this token")
        assert job is not None
        if job.pool.kind is PoolKind.LOCAL:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"job {job_id} runs on this host's own executor, not on remote ones")
        return job

    async def _pool(self, pool: str, executor_id: str, context: Any) -> PoolId:
        """A pool pilot's call: its credential must be the pool's (for this executor, or any)."""
        await self._same_protocol(context)
        offered = str(dict(context.invocation_metadata() or ()).get("authorization", ""))
        try:
            pool_id: PoolId | None = PoolId(pool)
        except ValueError:
            pool_id = None
        allowed = (pool_id is not None and pool_id.name != "" and pool_id.kind.pilot_hosts
                   and self.enrollment is not None and offered.startswith("Bearer c.")
                   and self.enrollment.valid_pool_credential(pool, executor_id, offered.removeprefix("Bearer ")))
        if not allowed or pool_id is None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"no pilot pool {pool!r} for this credential")
        assert pool_id is not None
        return pool_id

    async def _pool_job(self, request: pb.ReportRequest, context: Any) -> JobView:
        """The job a pool pilot reports for: one of its pool's, by key (the same refusal for any other)."""
        pool = await self._pool(request.pool, request.executor_id, context)
        job = self.runtime.state.view_key(request.job_key)
        if job is None or job.pool != pool:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"no job {request.job_id or request.job_key!r} in pool {pool!r} for this credential")
        assert job is not None
        pilot = self.backend.pilot(request.executor_id)
        if pilot is None or pilot.pool != pool or pilot.job_key is not None:
            await context.abort(grpc.StatusCode.ABORTED,
                                f"executor {request.executor_id!r} is not registered for pool {pool}: register again")
        assert pilot is not None
        self.backend.heard(pilot)
        return job

    async def _pilot(self, job: JobView, executor_id: str, context: Any) -> Pilot:
        pilot = self.backend.pilot(executor_id)
        if pilot is None or pilot.job_key != job.key:
            # ABORTED: retry after registering again (the daemon restarted, or counted the pilot lost).
            await context.abort(grpc.StatusCode.ABORTED,
                                f"executor {executor_id!r} is not registered for job {job.name}: register again")
        assert pilot is not None
        return pilot

    async def _reporter(self, job: JobView, executor_id: str, context: Any) -> None:
        """A pilot of this job, or a one-task executor another backend launched for it."""
        if any(other.executor_job(executor_id) == job.key for other in self.others):
            return
        pilot = await self._pilot(job, executor_id, context)
        self.backend.heard(pilot)

    async def Enroll(self, request: pb.EnrollRequest, context: Any) -> pb.EnrollReply:
        await self._same_protocol(context)
        offered = str(dict(context.invocation_metadata() or ()).get("authorization", ""))
        if request.pool:  # a Slurm pool pilot trades its bootstrap for a pool credential of its own
            credential = None
            if self.enrollment is not None and offered.startswith("Bootstrap "):
                credential = self.enrollment.redeem(pool_secret(request.pool), request.executor_id,
                                                    offered.removeprefix("Bootstrap "))
            if credential is None:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                    f"no pilot pool {request.pool!r} for this bootstrap secret, or it was spent "
                                    "already (each is good for one pilot start)")
            return pb.EnrollReply(credential=credential)
        job = self.runtime.state.view(request.job_id)
        credential = None
        if job is not None and self.enrollment is not None and offered.startswith("Bootstrap "):
            credential = self.enrollment.redeem(job.token, request.executor_id, offered.removeprefix("Bootstrap "))
        for other in self.others:  # the executor started: a later failure is not its node's
            other.executor_job(request.executor_id)
        if job is None or credential is None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"no job {request.job_id!r} for this bootstrap secret, or it was spent already "
                                "(each is good for one executor start)")
        return pb.EnrollReply(credential=credential)

    async def Probe(self, request: pb.ProbeRequest, context: Any) -> pb.ProbeReply:
        """A doctor probe reached the daemon from its node; its one-time secret says which."""
        offered = str(dict(context.invocation_metadata() or ()).get("authorization", ""))
        if self.probes is None or not offered.startswith("Probe ") or not self.probes.reached(request, offered):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"no doctor check waits for probe {request.probe_id!r} with this secret")
        return pb.ProbeReply()

    async def Register(self, request: pb.RegisterRequest, context: Any) -> pb.RegisterReply:
        if request.pool:
            pool = await self._pool(request.pool, request.executor_id, context)
            if not (math.isfinite(request.cpus) and math.isfinite(request.mem)) or request.cpus <= 0 \
                    or request.mem <= 0 or not request.executor_id:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an executor needs an id, cpus > 0 and mem > 0")
            held = tuple(AttemptRef(ref.job_key, ref.task_id, ref.attempt) for ref in request.holding)
            try:
                self.backend.register_pool(pool, request.executor_id, request.host, request.cpus, request.mem, held)
            except PilotRetired as refused:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(refused))
            return pb.RegisterReply(fetch_wait=self.backend.fetch_wait, lost_after=self.backend.lost_after)
        job = await self._job(request.job_id, context, request.executor_id)
        if not pilot_hosted(job.pool, job.spec):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"job {job.name} runs on {job.spec.master!r}, not on pilots")
        if not (math.isfinite(request.cpus) and math.isfinite(request.mem)) or request.cpus <= 0 \
                or request.mem <= 0 or not request.executor_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an executor needs an id, cpus > 0 and mem > 0")
        holding = tuple((ref.task_id, ref.attempt) for ref in request.holding)
        try:
            self.backend.register(job.key, job.pool, request.executor_id, request.host, request.cpus, request.mem,
                                  holding, shared=job.pool.shared)
        except PilotRetired as refused:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(refused))
        return pb.RegisterReply(fetch_wait=self.backend.fetch_wait, lost_after=self.backend.lost_after)

    async def Fetch(self, request: pb.FetchRequest, context: Any) -> pb.FetchReply:
        if request.pool:
            pool = await self._pool(request.pool, request.executor_id, context)
            found = self.backend.pilot(request.executor_id)
            if found is None or found.pool != pool or found.job_key is not None:
                await context.abort(grpc.StatusCode.ABORTED, f"executor {request.executor_id!r} is not "
                                                             f"registered for pool {pool}: register again")
            assert found is not None
            pilot = found
        else:
            job = await self._job(request.job_id, context, request.executor_id)
            pilot = await self._pilot(job, request.executor_id, context)
        wait = request.wait if math.isfinite(request.wait) else 0.0
        tasks, kills, stop = await self.backend.fetch(pilot, wait)  # stop: the core's StopExecutor
        return pb.FetchReply(tasks=tasks, kills=kills, stop=stop)

    async def Report(self, request: pb.ReportRequest, context: Any) -> pb.ReportReply:
        try:
            return await self._report(request, context)
        except JournalUnavailable as err:  # not recorded: the executor keeps the report and retries
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
            raise  # pragma: no cover - abort raises

    async def _report(self, request: pb.ReportRequest, context: Any) -> pb.ReportReply:
        if request.pool:
            job = await self._pool_job(request, context)
        else:
            job = await self._job(request.job_id, context, request.executor_id)
            await self._reporter(job, request.executor_id, context)
        task_id, attempt = request.task_id, request.attempt
        if not 0 <= task_id < self.runtime.state.task_count(job.key):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"job {job.name} has no task {task_id}")
        if request.HasField("started"):
            await self.runtime.emit_committed(
                TaskStarted(job.key, task_id, attempt, request.started.pid, request.started.started))
        elif request.HasField("output"):
            piece = request.output
            if piece.offset < 0 or piece.offset + len(piece.data) > DEFAULT_RESULT_LIMIT + (1 << 20):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"an output piece at offset {piece.offset} is outside a result's size")
            self._write_piece(job, task_id, attempt, piece)
        elif request.HasField("ended"):
            ended = request.ended
            if not 0 <= ended.stdout_size <= DEFAULT_RESULT_LIMIT + (1 << 20):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"stdout_size {ended.stdout_size} is impossible")
            self.backend.attempt_ended(job.key, task_id, attempt)
            stop = StopReason.parse(ended.reason)  # the one place a remote executor's reason word is read
            record = self._record(job, task_id, attempt, ended, stop)  # the core decides what the end means
            await self.runtime.emit_committed(TaskEnded(job.key, task_id, attempt, record))
        return pb.ReportReply()

    def _spool(self, job: JobView, task_id: int, attempt: int) -> str:
        return str(self.runtime.sandbox(job.key, task_id) / f"remote-stdout-{attempt}")

    def _write_piece(self, job: JobView, task_id: int, attempt: int, piece: pb.TaskOutputReport) -> None:
        path = self._spool(job, task_id, attempt)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, piece.data, piece.offset)  # at its offset: a retried piece lands on itself
        finally:
            os.close(fd)

    def _record(self, job: JobView, task_id: int, attempt: int, e: pb.TaskEndedReport, stop: StopReason
                ) -> TaskRecord:
        record = TaskRecord(
            pid=e.pid, started=e.started, ended=e.ended, exit_code=e.exit_code if e.has_exit_code else None,
            signal=e.signal or None, reason=e.reason, stdout_truncated=e.stdout_truncated,
            stderr_tail=e.stderr_tail, peak_rss_kb=e.peak_rss_kb, cpu_seconds=e.cpu_seconds,
            monitor_output=e.monitor_output, notes=list(e.notes), replacements=list(e.replacements),
            peak_rss_sum_kb=e.peak_rss_sum_kb, disk_kb=e.disk_kb, limit_kb=e.limit_kb,
            relaunch=_relaunch(e.relaunch), relaunch_error=e.relaunch_error, stop=stop,
            sandbox=e.sandbox, host=e.host,
        )
        if e.stdout_inline:
            record.stdout = e.stdout
        elif e.stdout_size:
            path = self._spool(job, task_id, attempt)
            if os.path.exists(path):
                os.truncate(path, e.stdout_size)
                record.stdout_path = path
            else:
                record.notes.append("the executor's stdout pieces never arrived")
                record.stdout = b""
        else:
            record.stdout = b""
        return record


def _relaunch(value: str) -> Relaunch:
    """The report's relaunch outcome; a value this daemon does not know counts as a failed relaunch."""
    try:
        return Relaunch(value)
    except ValueError:
        return Relaunch.FAILED
