"""The gRPC servicer: turns RPCs into core events and answers from committed state."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
import math
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from stratos_wire import PROTOCOL_VERSION, VERSION
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc
from stratos_wire.errors import (
    ERROR_METADATA_KEY,
    BackendUnavailable,
    InvalidJobSpec,
    InvalidSubmission,
    StratosError,
    TaskNotFound,
)
from stratosd import convert, expand
from stratosd.core import events as ev
from stratosd.core.locality import HostBytes, normalize
from stratosd.core.model import CallMode, Job, Status
from stratosd.core.pools import USER_PILOTS
from stratosd.core.replies import JobView, Killed, Retried, Submitted
from stratosd.core.types import PoolId, PoolKind, TaskEndReason
from stratosd.doctor import Doctor
from stratosd.enroll import Enrollment
from stratosd.locality.hdfs import LocalityUnavailable
from stratosd.runtime import Recorded, Runtime

#: bytes of stdout per ResultBatch message (gRPC's default limit is 4 MiB).
RESULT_MESSAGE_BYTES = 1 << 20
#: a record's bytes besides its stdout, as counted towards RESULT_MESSAGE_BYTES (details: plus its size).
RECORD_OVERHEAD = 64
TASK_PAGE = 1000
FAILED_IDS_SHOWN = 1000
#: RemoveJobs replies kept for retries.
RECENT_REMOVALS = 100
#: tasks per part of a large submission: one core step and commit of this many takes about 20 ms here.
SUBMIT_PART = 5_000
#: seconds the daemon serves other calls between two parts. A gRPC call needs a few turns of the
#: event loop (its arrival, its request, its answer): with parts back to back each turn waited for
#: a part, and a Status call took three parts' time.
PART_GAP = 0.003

logger = logging.getLogger("stratosd.servicer")
F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=Message)
R = TypeVar("R")


#: error details are capped (in UTF-8 bytes, which gRPC then percent-encodes up to 3x): they may
#: quote hostile input, and gRPC drops trailers over 8 KiB, the error's type with them.
MAX_DETAILS = 1000


async def _abort(context: grpc.aio.ServicerContext[Any, Any], err: StratosError) -> None:
    details = str(err)
    if len(details.encode()) > MAX_DETAILS:
        details = details.encode()[: MAX_DETAILS - 20].decode("utf-8", "ignore") + " ... (shortened)"
    await context.abort(
        getattr(grpc.StatusCode, err.status), details, trailing_metadata=((ERROR_METADATA_KEY, type(err).__name__),)
    )


def _unary(method: F) -> F:
    """Translate StratosError into its status code, with the error's class in the trailers."""

    @functools.wraps(method)
    async def wrapper(self: Servicer, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except StratosError as err:
            await _abort(context, err)

    return wrapper  # type: ignore[return-value]


def _streaming(method: F) -> F:
    @functools.wraps(method)
    async def wrapper(self: Servicer, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for item in method(self, request, context):
                yield item
        except StratosError as err:
            await _abort(context, err)

    return wrapper  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    """A submission's commands, with each one's file (glob) or values (template), blank ones dropped."""

    commands: list[str]
    files: list[str]
    rows: list[list[str]]


def _prepare(header: pb.SubmitHeader, cwd: str, items: list[str], rows: list[list[str]], mount: str | None,
             found: dict[str, list[str]]) -> Prepared:
    """Expand and check a submission's commands (a glob is listed here)."""
    if any("\0" in item for item in items):
        raise InvalidSubmission("the working directory or a pattern contains a NUL byte.")
    files: list[str] = []
    if header.kind == pb.GLOB:
        commands = expand.expand_glob(header.template, items, cwd, mount, found, files, header.follow)
    elif header.kind == pb.TEMPLATE:
        commands = expand.expand_template(header.template, rows)
    elif header.kind == pb.PLAIN:
        commands = items
    else:
        raise InvalidSubmission("the submission's kind must be PLAIN, GLOB or TEMPLATE.")
    if header.kind != pb.TEMPLATE:
        rows = []
    if any("\0" in c for c in commands):
        raise InvalidSubmission("a command contains a NUL byte, which no shell command can hold.")
    if not all(c.strip() for c in commands):  # a blank command is no task: its file or values go with it
        kept = [i for i, c in enumerate(commands) if c.strip()]
        commands = [commands[i] for i in kept]
        files = [files[i] for i in kept] if files else files
        rows = [rows[i] for i in kept] if rows else rows
    return Prepared(commands, files, rows)


def _part_reply(answer: Submitted) -> pb.SubmitReply:
    return pb.SubmitReply(call_id=answer.call_id, first_task_id=answer.first_task_id, count=answer.task_count,
                          warnings=answer.warnings, following=answer.follow_id >= 0,
                          follow_id=max(0, answer.follow_id))


def _whole_reply(parts: list[pb.SubmitReply]) -> pb.SubmitReply:
    """The reply to a submission applied in ``parts``: its tasks' ids as one run, or as ranges."""
    runs: list[list[int]] = []
    for part in parts:
        if runs and runs[-1][0] + runs[-1][1] == part.first_task_id:
            runs[-1][1] += part.count
        elif part.count or not runs:
            runs.append([part.first_task_id, part.count])
    first = parts[0]
    reply = pb.SubmitReply(call_id=first.call_id, first_task_id=runs[0][0], count=sum(p.count for p in parts),
                           warnings=first.warnings, following=first.following, follow_id=first.follow_id)
    if len(runs) > 1:
        reply.ranges.extend(pb.TaskRange(first=f, count=c) for f, c in runs)
    return reply


def _last_part(whole: pb.SubmitReply, count: int) -> pb.SubmitReply:
    """The last part's own reply, from the whole submission's: its tasks end the last run of ids."""
    end = (whole.ranges[-1].first + whole.ranges[-1].count) if whole.ranges else whole.first_task_id + whole.count
    return pb.SubmitReply(call_id=whole.call_id, first_task_id=end - count, count=count)


def _recorder(done: tuple[pb.SubmitReply, ...], last: bool) -> Callable[[Submitted], pb.SubmitReply]:
    """How a part's answer is recorded: a part's own reply, or (the last) the whole submission's."""
    if not last:
        return _part_reply
    return lambda answer: _whole_reply([*done, _part_reply(answer)])


class Servicer(pb_grpc.StratosServicer):
    def __init__(self, runtime: Runtime, *, on_shutdown: Callable[[], Awaitable[None]],
                 doctor: Doctor | None = None, enrollment: Enrollment | None = None) -> None:
        #: stratosctl doctor's probes (None: a daemon without cluster backends, in tests).
        self.doctor = doctor
        #: makes pool credentials (stratosctl pilot-credential); None: none are given.
        self.enrollment = enrollment
        self.runtime = runtime
        self.state = runtime.state
        self.store = runtime.store
        self._on_shutdown = on_shutdown
        self._cursor_locks: dict[tuple[int, str], asyncio.Lock] = {}
        #: client request ids being applied now: a retry that arrives meanwhile waits for the first.
        self._in_flight: dict[str, asyncio.Future[bytes]] = {}
        #: replies of recent RemoveJobs calls by client request id (oldest first), for their retries.
        self._removals: dict[str, pb.RemoveJobsReply] = {}
        #: submissions being applied (held: a client that left does not stop them).
        self._applying: set[asyncio.Future[pb.SubmitReply]] = set()

    async def _once(self, request_id: str, method: str, reply_type: type[M], req: ev.Request[R],
                    encode: Callable[[R], M]) -> M:
        """Apply a non-idempotent request at most once per client request id.

        With a request id the core's committed answer is journaled, encoded, in the transaction
        of its effect, so a retry (after a crash between commit and reply, or a lost connection)
        gets that same reply and changes nothing. Without a request id (an older client) the
        request is simply applied.
        """
        if not request_id:
            return encode(await self.runtime.request(req))
        stored = self.store.request_reply(request_id)
        if stored is not None:
            return reply_type.FromString(stored[1])
        running = self._in_flight.get(request_id)
        if running is not None:
            return reply_type.FromString(await asyncio.shield(running))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._in_flight[request_id] = future
        try:
            data = await self.runtime.request_recorded(
                req, Recorded(request_id, method, lambda value: encode(value).SerializeToString()))
            future.set_result(data)
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved: a retry that is not waiting must not log it as lost
            raise
        finally:
            self._in_flight.pop(request_id, None)
        return reply_type.FromString(data)

    # -- jobs ---------------------------------------------------------------------------------

    @_unary
    async def Hello(self, request: pb.HelloRequest, context: Any) -> pb.HelloReply:
        # Always answer with our version: the client compares and raises ProtocolMismatch,
        # naming both versions and the socket, so any future daemon can still say who it is.
        return pb.HelloReply(
            protocol_version=PROTOCOL_VERSION, daemon_version=VERSION, pid=os.getpid(),
            state_dir=str(self.runtime.state_dir), backends=sorted(self.runtime.backends),
        )

    @_unary
    async def CreateJob(self, request: pb.CreateJobRequest, context: Any) -> pb.JobInfo:
        name = convert.check_job_id(request.job_id) if request.job_id else ""
        spec = convert.spec_from_proto(request.spec)
        pool, own_pool = convert.pool_for(spec.master)
        if request.request_id and self.store.request_reply(request.request_id) is not None:
            pass  # a retry: answered below from the journal, without probing the cluster again
        elif pool in (PoolKind.MESOS, PoolKind.SLURM):  # backends that can refuse an unreachable master
            await self.runtime.probe(pool, spec.master)
        token = secrets.token_urlsafe(32)
        req = ev.CreateJobRequested(ev.UNSENT, name, spec, pool, time.time(), own_pool, token)
        info = await self._once(request.request_id, "CreateJob", pb.JobInfo, req,
                                lambda answer: convert.job_info(answer.job, answer.renamed_previous))
        renamed = info.renamed_previous
        # the earlier run's disk logs move with its new name, so this run cannot overwrite them
        if renamed and renamed in self.state.jobs:
            earlier = self.state.jobs[renamed].spec
            if earlier.output == "disk" and earlier.log_directory:
                source = os.path.join(earlier.log_directory, name)
                target = os.path.join(earlier.log_directory, renamed)
                if os.path.isdir(source) and not os.path.exists(target):
                    with contextlib.suppress(OSError):
                        os.rename(source, target)
        return info

    @_unary
    async def GetJobToken(self, request: pb.JobRef, context: Any) -> pb.JobToken:
        job = self.state.job(request.job_id)
        return pb.JobToken(job_id=job.name, token=job.token)

    @_unary
    async def GetPoolCredential(self, request: pb.PoolCredentialRequest, context: Any) -> pb.PoolCredential:
        pool = request.pool.strip()
        if pool == "pilots":
            pool = USER_PILOTS
        try:
            pool_id: PoolId | None = PoolId(pool)
        except ValueError:
            pool_id = None
        if pool_id is None or not pool_id.name or not pool_id.kind.pilot_hosts:
            raise InvalidJobSpec(
                f"{request.pool!r} is not a pilot pool: give \"pilots\" (jobs with master=\"pilots\") or a pool id "
                "as `stratosctl status JOB` shows it (\"slurm/default,1c,256M\").")
        if self.enrollment is None:
            raise BackendUnavailable("this daemon gives no pool credentials (it has no executor key)")
        return pb.PoolCredential(pool=pool_id, credential=self.enrollment.pool_credential(pool_id))

    @_unary
    async def GetJob(self, request: pb.JobRef, context: Any) -> pb.JobInfo:
        return convert.job_info(JobView.of(self.state.job(request.job_id)))

    @_unary
    async def ListJobs(self, request: pb.ListJobsRequest, context: Any) -> pb.ListJobsReply:
        return pb.ListJobsReply(jobs=[self._status(job) for job in self.state.jobs.values()])

    @_unary
    async def GetStatus(self, request: pb.JobRef, context: Any) -> pb.JobStatus:
        return self._status(self.state.job(request.job_id))

    def _status(self, job: Job) -> pb.JobStatus:
        cursor = self.store.cursor(job.key, "")
        placed, local, marked, local_bytes = self.state.locality_report(job)
        report = self.runtime.can.reports.get(job.pool.kind)
        queued, running = report.pilot_counts(job.key) if report is not None else (0, 0)
        notes = report.job_notes(job.key) if report is not None else []
        return pb.JobStatus(
            pilots_queued=queued, pilots_running=running, pool=job.pool,
            locality_tasks=placed, locality_tasks_local=local, locality_bytes=marked,
            locality_bytes_local=local_bytes,
            job_id=job.name, state=job.state, master=job.spec.master, total=len(job.tasks),
            counts=convert.counts(job.counts), results_available=job.published - cursor, cursor=cursor,
            created=job.created, finished_at=job.finished_at, warnings=[*job.warnings, *notes],
            stream_opened=job.stream_opened, stream_closed=job.stream_closed,
            after_job=self._after_name(job), hold=job.hold.value, hold_reason=self._hold_text(job),
            follows=[pb.FollowInfo(follow_id=f.follow_id, patterns=f.patterns, state=f.state.value, files=len(f.seen),
                                   reason=f.reason, call_id=f.call_id) for f in job.follows],
        )

    def _after_name(self, job: Job) -> str:
        """The current name of the job this one runs after (it may have been renamed or removed since)."""
        if job.after_key is None:
            return ""
        awaited = self.state.by_key.get(job.after_key)
        return awaited.name if awaited is not None else f"{job.spec.after} (removed)"

    def _hold_text(self, job: Job) -> str:
        """Why the job's tasks wait (what the awaited job still lacks), or why they were released or blocked."""
        if not job.held or job.after_key is None:
            return job.hold_reason
        awaited = self.state.by_key.get(job.after_key)
        if awaited is None:
            return ""
        name = awaited.name
        if awaited.held:
            return f"job {name} waits for the job it runs after"
        if awaited.unended:
            return f"{awaited.unended} tasks of job {name} have not ended"
        if awaited.following:
            return f"job {name} follows a pattern (stop_following() ends that)"
        return (f"job {name} has no unended task but is still open: once everything is submitted to it, "
                f"close it ({name}.close(), `stratosctl close {name}`) or wait() for it")

    @_unary
    async def StopFollowing(self, request: pb.StopFollowingRequest, context: Any) -> pb.StopFollowingReply:
        follow_id = request.follow_id if request.has_follow else None
        stopped = await self.runtime.request(ev.StopFollowingRequested(ev.UNSENT, request.job_id, follow_id))
        return pb.StopFollowingReply(stopped=stopped)

    # -- submission ----------------------------------------------------------------------------

    @_unary
    async def Submit(self, request_iterator: AsyncIterator[pb.SubmitChunk], context: Any) -> pb.SubmitReply:
        header: pb.SubmitHeader | None = None
        items: list[str] = []
        rows: list[list[str]] = []
        async for chunk in request_iterator:
            if header is None:
                if not chunk.HasField("header"):
                    raise InvalidSubmission("a submission must start with its header.")
                header = chunk.header
            items.extend(chunk.items)
            rows.extend(list(r.values) for r in chunk.rows)
        if header is None:
            raise InvalidSubmission("empty submission.")
        if header.request_id and (stored := self.store.request_reply(header.request_id)) is not None:
            return pb.SubmitReply.FromString(stored[1])  # a retry of an applied submission: its reply
        cwd = header.cwd or "/"
        if "\0" in cwd:
            raise InvalidSubmission("the working directory or a pattern contains a NUL byte.")
        if not os.path.isabs(cwd):
            raise InvalidSubmission(f"the working directory {cwd!r} must be absolute.")
        job = self.state.job(header.job_id)
        mount = job.spec.hdfs_mount if job.spec.hdfs else None
        notes: list[str] = []
        follow: ev.FollowPlan | None = None
        if header.follow and (header.kind != pb.GLOB or header.mode != pb.STREAM):
            raise InvalidSubmission("follow=True follows glob patterns: use it with glob_stream().")
        if header.follow and any(p.startswith("hdfs://") for p in items):
            raise InvalidSubmission("follow=True scans patterns on this machine's file systems, not hdfs:// URLs: "
                                    f"follow the mounted path instead (under {job.spec.hdfs_mount}).")
        found = await self._hdfs_globs(job, items) if header.kind == pb.GLOB else {}
        # In a thread: a million commands take seconds to expand and check, and RPCs go on meanwhile.
        work = await asyncio.to_thread(_prepare, header, cwd, items, rows, mount, found)
        if header.follow:
            follow = ev.FollowPlan(tuple(items), header.template, mount or "", tuple(work.files))
        mode: CallMode = "stream" if header.mode == pb.STREAM else "batch"
        locality = await self._locality(job, work.commands, notes)
        req = ev.SubmitRequested(ev.UNSENT, header.job_id, mode, cwd, dict(header.env), work.commands, time.time(),
                                 locality, tuple(notes), follow)
        # Shielded: once the commands are here the submission is applied whole, even when the
        # client goes away between two of its parts.
        applying = asyncio.ensure_future(self._apply(job, header.request_id, req, work))
        self._applying.add(applying)
        applying.add_done_callback(self._applying.discard)
        return await asyncio.shield(applying)

    async def _apply(self, job: Job, request_id: str, req: ev.SubmitRequested, work: Prepared) -> pb.SubmitReply:
        """Apply a submission in parts of SUBMIT_PART tasks, each its own core step and commit, so
        the daemon answers other calls between them (a million tasks take seconds to journal).

        Each part is applied at most once: with a client request id, part k is recorded under
        ``ID#k`` and the last one under ``ID`` itself with the whole submission's reply, so a retry
        after a crash mid-way adds only the parts still missing. A followed glob is one part.
        """
        size = len(req.commands) if req.follow is not None else SUBMIT_PART
        starts = range(0, max(1, len(req.commands)), max(1, size))
        parts: list[pb.SubmitReply] = []
        for number, start in enumerate(starts):
            if number:
                await asyncio.sleep(PART_GAP)
            stop = start + size
            last = number == len(starts) - 1
            part = req if len(starts) == 1 else dataclasses.replace(
                req, commands=req.commands[start:stop], now=time.time(),
                locality=None if req.locality is None else req.locality[start:stop],
                notes=req.notes if number == 0 else (), call_id=parts[0].call_id if parts else None)
            reply = await self._once(
                request_id if last or not request_id else f"{request_id}#{number}", "Submit", pb.SubmitReply, part,
                _recorder(tuple(parts), last))
            own = _last_part(reply, len(part.commands)) if last else reply
            parts.append(own)
            self._save_inputs(job, own, work.files[start:stop], work.rows[start:stop])
        return reply

    def _save_inputs(self, job: Job, reply: pb.SubmitReply, files: list[str], rows: list[list[str]]) -> None:
        """Journal what each new task's placeholders stood for, for its result record. Best effort: a
        journal that cannot take them (full disk) leaves those records without an input, the tasks run."""
        try:
            self.store.save_inputs(job.key, reply.first_task_id, files[:reply.count], rows[:reply.count])
        except sqlite3.Error as err:
            logger.warning("job %s: the inputs of tasks %d.. were not journaled: %s", job.name,
                           reply.first_task_id, err)

    async def _hdfs_globs(self, job: Job, patterns: list[str]) -> dict[str, list[str]]:
        """`hdfs://` patterns expanded through WebHDFS listings, as mounted paths."""
        wanted = [p for p in patterns if p.startswith("hdfs://")]
        if not wanted:
            return {}
        if not job.spec.hdfs:
            raise InvalidSubmission("hdfs:// patterns need the job's `hdfs` setting (the namenode's WebHDFS URL).")
        locator = self.runtime.locator(job.spec.hdfs, job.spec.hdfs_mount)
        try:
            return {p: [locator.to_mount(h) for h in await locator.glob(p)] for p in wanted}
        except LocalityUnavailable as err:
            raise BackendUnavailable(f"cannot list {wanted[0]!r}: the HDFS namenode is unreachable ({err}).") from None

    async def _locality(self, job: Job, commands: list[str], notes: list[str]) -> list[tuple[int, HostBytes]] | None:
        """Where each command's `<[ ]>` files live; None without HDFS, or (noted) when the namenode is down."""
        if not job.spec.hdfs or not any("<[" in c for c in commands):
            return None
        locator = self.runtime.locator(job.spec.hdfs, job.spec.hdfs_mount)
        try:
            found = await locator.locate_commands(commands, job.spec.hdfs_mount)
        except LocalityUnavailable as err:
            notes.append(f"the HDFS namenode {job.spec.hdfs} was unreachable ({err}): these tasks are "
                         "scheduled without data locality")
            return None
        # Agents known by IP address match the datanodes at that address, too (CommandLocality.held).
        return [(c.total_bytes, normalize(c.held())) for c in found]

    # -- waiting -------------------------------------------------------------------------------

    @_streaming
    async def Wait(self, request: pb.WaitRequest, context: Any) -> AsyncIterator[pb.WaitProgress]:
        job = self.state.job(request.job_id)
        call = None
        if request.has_call:
            if request.call_id >= len(job.calls):
                raise InvalidSubmission(f"job {job.name} has no submission call {request.call_id}.")
            call = job.calls[request.call_id]
        # 0 (or nonsense) means: only the final message; otherwise at most 20 messages a second.
        wanted = request.progress_interval
        interval = max(0.05, wanted) if math.isfinite(wanted) and wanted > 0 else None
        last = 0.0
        while True:
            watched = self.runtime.watch()
            # a job that follows a pattern has not ended: files may still come
            unended = call.unended if call is not None else job.unended or job.following
            now = time.monotonic()
            if not unended or (interval and now - last >= interval):
                by_status = convert.call_counts(job, call) if call is not None else job.counts
                reply = pb.WaitProgress(
                    done=not unended, total=sum(by_status.values()), counts=convert.counts(by_status)
                )
                if not unended:
                    # the first few ids only, and no walk over the tasks when the counts say there are none
                    failed = list(itertools.islice((
                        t.task_id for t in job.tasks
                        if t.status is Status.FAILED and (call is None or t.call_id == call.call_id)
                    ), FAILED_IDS_SHOWN)) if by_status[Status.FAILED] else []
                    reply.failed_task_ids.extend(failed)
                    reply.failures.extend(self._failure(job, i) for i in failed)
                    if by_status[Status.RELAUNCHED]:
                        reply.unreplaced_task_ids.extend(itertools.islice((
                            t.task_id for t in job.tasks
                            if t.status is Status.RELAUNCHED and not t.children
                            and (call is None or t.call_id == call.call_id)
                        ), FAILED_IDS_SHOWN))
                    yield reply
                    return
                last = now
                yield reply
            await self.runtime.changed(watched, timeout=interval or 1.0)

    def _failure(self, job: Job, task_id: int) -> pb.FailedTask:
        """How a failed task failed, for the batch warning: exit or signal, the core's reason when it
        is more than that, and whether its stderr says a file or program was not found."""
        task = job.tasks[task_id]
        outcome = self.store.outcome(job.key, task_id)
        stderr = bytes(outcome["stderr_tail"]) if outcome else b""
        return pb.FailedTask(
            task_id=task_id, has_exit_code=task.exit_code is not None, exit_code=task.exit_code or 0,
            signal=task.signal or 0, reason="" if task.end in _PLAIN_ENDS else task.reason,
            missing_file=task.exit_code == 127 or b"No such file" in stderr,
        )

    # -- results -------------------------------------------------------------------------------

    @_streaming
    async def Results(
        self, request_iterator: AsyncIterator[pb.ResultsClientMessage], context: Any
    ) -> AsyncIterator[pb.ResultsServerMessage]:
        first = await anext(request_iterator, None)
        if first is None or not first.HasField("open"):
            raise InvalidSubmission("a Results stream must start with Open.")
        opened = first.open
        job = self.state.job(opened.job_id)
        if not opened.consume:
            after = max(0, opened.from_seq - 1)
            while True:
                watched = self.runtime.watch()
                upto = job.published if opened.details or job.spec.output == "scheduler" else after
                async for message in self._result_messages(job, after, upto, opened.details):
                    yield message
                after = max(after, upto)
                if not opened.follow or (not job.unended and not job.following and after >= job.published):
                    yield pb.ResultsServerMessage(end=pb.ResultsEnd(upto_seq=after))
                    return
                await self.runtime.changed(watched, timeout=1.0)
        consumer = opened.consumer
        lock = self._cursor_locks.setdefault((job.key, consumer), asyncio.Lock())
        async with lock:  # one delivery per cursor at a time: no result reaches two callers
            cursor = self.store.cursor(job.key, consumer)
            # Outside "scheduler" mode the records carry no stdout: get_results() returns [] and
            # leaves them to get_results(details=True), which delivers each once per cursor.
            upto = job.published if opened.details or job.spec.output == "scheduler" else cursor
            async for message in self._result_messages(job, cursor, upto, opened.details):
                yield message
            yield pb.ResultsServerMessage(end=pb.ResultsEnd(upto_seq=upto))
            ack = await anext(request_iterator, None)
            if ack is None or not ack.HasField("ack"):
                return  # the client went away before it had everything: the cursor stays
            position = min(ack.ack.upto_seq, upto)
            if position > cursor:
                self.store.set_cursor(job.key, consumer, position)
            yield pb.ResultsServerMessage(committed=pb.ResultsCommitted(cursor=max(position, cursor)))

    async def _result_messages(
        self, job: Job, after: int, upto: int, details: bool
    ) -> AsyncIterator[pb.ResultsServerMessage]:
        """The results after < seq <= upto in messages of about RESULT_MESSAGE_BYTES at most.

        A message is sent before a record that would take it past that size, so only a lone
        record (one piece of at most that size, and its details) can exceed it. The usual record,
        a whole small stdout without details, is filled field by field: a few hundred
        thousand of them a second is the target of a read-back.
        """
        batch = pb.ResultBatch()
        add = batch.records.add
        size = 0
        for page in self.store.results(job.key, after, upto):
            inputs = self._inputs(job, [row[1] for row in page]) if details else {}
            for seq, task_id, stdout, stdout_path, truncated in page:
                if not details and stdout is not None and len(stdout) <= RESULT_MESSAGE_BYTES:
                    # what _stdout_pieces gives for it: one piece, no more
                    if size + len(stdout) + RECORD_OVERHEAD > RESULT_MESSAGE_BYTES and size:
                        yield pb.ResultsServerMessage(batch=batch)
                        batch, size = pb.ResultBatch(), 0
                        add = batch.records.add
                    record = add()
                    record.seq, record.task_id, record.stdout = seq, task_id, stdout
                    size += len(stdout) + RECORD_OVERHEAD
                    continue
                for index, (piece, more) in enumerate(_stdout_pieces(stdout, stdout_path)):
                    if size + len(piece) + RECORD_OVERHEAD > RESULT_MESSAGE_BYTES and size:
                        yield pb.ResultsServerMessage(batch=batch)
                        batch, size = pb.ResultBatch(), 0
                        add = batch.records.add
                    record = add(seq=seq, task_id=task_id, stdout=piece, more=more)
                    size += len(piece) + RECORD_OVERHEAD
                    if index == 0 and details:
                        self._fill_details(record, job, task_id, bool(truncated), stdout_path or "")
                        file, params = inputs.get(task_id, (None, None))
                        record.input_file = file or ""
                        record.input_params.extend(params or ())
                        size += record.ByteSize() - len(piece)
            await asyncio.sleep(0)
        if batch.records:
            yield pb.ResultsServerMessage(batch=batch)

    def _inputs(self, job: Job, task_ids: list[int]) -> dict[int, tuple[str | None, tuple[str, ...] | None]]:
        """Each task's input; a relauncher's replacement has the input of the task it replaces."""
        roots: dict[int, int] = {}
        for task_id in task_ids:
            root = task_id
            while job.tasks[root].parent is not None:
                root = job.tasks[root].parent  # type: ignore[assignment]
            roots[task_id] = root
        found = self.store.inputs(job.key, list(roots.values()))
        return {task_id: found[root] for task_id, root in roots.items() if root in found}

    def _fill_details(self, record: pb.ResultRecord, job: Job, task_id: int, truncated: bool, path: str) -> None:
        task = job.tasks[task_id]
        record.call_id = task.call_id
        record.command, record.status, record.host = task.command, task.status.value, task.host
        record.has_exit_code = task.exit_code is not None
        record.exit_code, record.signal = task.exit_code or 0, task.signal or 0
        record.duration, record.truncated, record.stdout_path = convert.duration(task), truncated, path
        if job.spec.output != "scheduler":
            record.stdout_path, record.stderr_path = self.runtime.output_files(job, task_id)

    # -- tasks ---------------------------------------------------------------------------------

    @_streaming
    async def ListTasks(self, request: pb.ListTasksRequest, context: Any) -> AsyncIterator[pb.TaskPage]:
        job = self.state.job(request.job_id)
        wanted = None
        if request.state:
            try:
                wanted = Status(request.state)
            except ValueError:
                raise InvalidSubmission(
                    f"unknown task state {request.state!r}: use one of "
                    + ", ".join(s.value for s in Status) + "."
                ) from None
        page = pb.TaskPage()
        for task in job.tasks:
            if wanted is None or task.status is wanted:
                page.tasks.append(convert.task_summary(task))
                if len(page.tasks) >= TASK_PAGE:
                    yield page
                    page = pb.TaskPage()
        if page.tasks or not job.tasks:
            yield page

    @_unary
    async def GetTaskStory(self, request: pb.TaskRef, context: Any) -> pb.TaskStory:
        # a read of the core's in-memory story log: JobNotFound / TaskNotFound as GetTask
        job = self.state.job(request.job_id)
        return convert.task_story(job.name, request.task_id, self.state.story(request.job_id, request.task_id))

    @_unary
    async def GetTask(self, request: pb.TaskRef, context: Any) -> pb.TaskDetail:
        job = self.state.job(request.job_id)
        if not 0 <= request.task_id < len(job.tasks):
            raise TaskNotFound(f"job {job.name} has no task {request.task_id} (it has {len(job.tasks)} tasks).")
        task = job.tasks[request.task_id]
        detail = pb.TaskDetail(
            summary=convert.task_summary(task), call_id=task.call_id, started=task.started, ended=task.ended,
            reason=task.reason, has_parent=task.parent is not None, relaunched_from=task.parent or 0,
            relaunched_as=list(task.children), cwd=job.calls[task.call_id].cwd,
        )
        for a in task.history:
            detail.attempts.append(pb.AttemptInfo(
                attempt=a.attempt, host=a.host, started=a.started, ended=a.ended,
                has_exit_code=a.exit_code is not None, exit_code=a.exit_code or 0,
                has_signal=a.signal is not None, signal=a.signal or 0, reason=a.reason, stderr_tail=a.stderr_tail))
        detail.stdout_path, detail.stderr_path = self.runtime.output_files(job, task.task_id)
        sandbox, files_host = self.runtime.task_sandbox(job.key, task.task_id)
        if job.spec.output == "mesos" or files_host or os.path.exists(sandbox):
            detail.sandbox, detail.files_host = sandbox, files_host
        outcome = self.store.outcome(job.key, task.task_id)
        if outcome:
            detail.stderr_tail = bytes(outcome["stderr_tail"]).decode("utf-8", "replace")
            detail.peak_rss_kb, detail.cpu_seconds = outcome["peak_rss_kb"], outcome["cpu_seconds"]
            detail.peak_rss_sum_kb, detail.disk_kb = outcome["peak_rss_sum_kb"], outcome["disk_kb"]
            detail.monitor_output = outcome["monitor_output"]
            detail.notes.extend(outcome["notes"])
            if outcome["truncated"]:
                detail.notes.append("stdout was longer than the result limit; the full output is in "
                                    + str(outcome["stdout_path"]))
        return detail

    # -- control -------------------------------------------------------------------------------

    @_unary
    async def Kill(self, request: pb.KillRequest, context: Any) -> pb.KillReply:
        ids = tuple(request.task_ids) or None
        return await self._once(request.request_id, "Kill", pb.KillReply,
                                ev.KillRequested(ev.UNSENT, request.job_id, ids), _killed)

    @_unary
    async def Retry(self, request: pb.RetryRequest, context: Any) -> pb.RetryReply:
        ids = tuple(request.task_ids) or None
        return await self._once(request.request_id, "Retry", pb.RetryReply,
                                ev.RetryRequested(ev.UNSENT, request.job_id, ids, time.time()), _retried)

    @_unary
    async def Cancel(self, request: pb.CancelRequest, context: Any) -> pb.KillReply:
        call_id = request.call_id if request.has_call else None
        return await self._once(request.request_id, "Cancel", pb.KillReply,
                                ev.CancelRequested(ev.UNSENT, request.job_id, call_id), _killed)

    @_unary
    async def CloseStream(self, request: pb.JobRef, context: Any) -> pb.JobInfo:
        return await self._once(request.request_id, "CloseStream", pb.JobInfo,
                                ev.CloseStreamRequested(ev.UNSENT, request.job_id), convert.job_info)

    @_unary
    async def CloseJob(self, request: pb.JobRef, context: Any) -> pb.JobInfo:
        return await self._once(request.request_id, "CloseJob", pb.JobInfo,
                                ev.CloseJobRequested(ev.UNSENT, request.job_id), convert.job_info)

    @_unary
    async def Remove(self, request: pb.JobRef, context: Any) -> pb.RemoveReply:
        # An older client's call: no request id, output files kept.
        removed = await self.runtime.remove_jobs([request.job_id])
        self._forget({r.key for r in removed})
        return pb.RemoveReply(removed=bool(removed))

    @_unary
    async def RemoveJobs(self, request: pb.RemoveJobsRequest, context: Any) -> pb.RemoveJobsReply:
        # A retry (a lost connection) of a removal that was applied gets its first reply. Removal is
        # idempotent, so these replies are kept in memory only: journaling one would grow the journal
        # the reply has just measured. After a daemon crash a retry removes what is left, and a job it
        # names that is already gone is JobNotFound.
        if request.request_id and (stored := self._removals.get(request.request_id)) is not None:
            return stored
        reply = await self._remove_jobs(request)
        if request.request_id:
            self._removals[request.request_id] = reply
            while len(self._removals) > RECENT_REMOVALS:
                del self._removals[next(iter(self._removals))]
        return reply

    async def _remove_jobs(self, request: pb.RemoveJobsRequest) -> pb.RemoveJobsReply:
        names = list(request.job_ids)
        now = time.time()
        if request.has_finished_before:
            names += self.runtime.finished_before(request.finished_before)
        if request.expired:
            age = request.older_than if request.has_older_than else self.runtime.retention
            if not math.isfinite(age) or age < 0:
                raise InvalidSubmission(f"older than {age} s: give a positive age such as 7d or 12h.")
            names += self.runtime.finished_before(now - age)
        before = self.store.file_bytes()
        removed = await self.runtime.remove_jobs(names, delete_outputs=request.delete_outputs,
                                                 dry_run=request.dry_run)
        orphans, orphan_bytes = 0, 0
        if request.expired:  # gc: also what an interrupted removal left, and an old journal's free pages
            orphans, orphan_bytes = await self.runtime.remove_orphan_sandboxes(request.dry_run)
            if not request.dry_run:
                await self.runtime.reclaim(convert=True)
        if not request.dry_run:
            self._forget({r.key for r in removed})
        after = self.store.file_bytes()
        freed = orphan_bytes + sum(
            r.sandbox_bytes + (r.output_bytes if request.delete_outputs else 0) for r in removed)
        freed += sum(r.journal_bytes for r in removed) if request.dry_run else max(0, before - after)
        return pb.RemoveJobsReply(
            jobs=[convert.removed_job(r) for r in removed], dry_run=request.dry_run, bytes_freed=freed,
            journal_bytes_before=before, journal_bytes_after=after, orphan_sandboxes=orphans,
            state_dir=str(self.runtime.state_dir), retention_days=self.runtime.retention / 86400.0,
        )

    @_unary
    async def GetStateUsage(self, request: pb.StateUsageRequest, context: Any) -> pb.StateUsage:
        parts = await asyncio.to_thread(self.runtime.usage)
        return pb.StateUsage(
            state_dir=str(self.runtime.state_dir), total_bytes=sum(parts.values()),
            journal_bytes=parts["journal"], journal_free_bytes=self.store.free_bytes(),
            sandbox_bytes=parts["sandboxes"], pilot_log_bytes=parts["pilot_logs"], other_bytes=parts["other"],
            retention_days=self.runtime.retention / 86400.0,
        )

    def _forget(self, keys: set[int]) -> None:
        """Drop the cursor locks of removed jobs."""
        self._cursor_locks = {k: v for k, v in self._cursor_locks.items() if k[0] not in keys}

    @_unary
    async def Doctor(self, request: pb.DoctorRequest, context: Any) -> pb.DoctorReply:
        if self.doctor is None:
            raise InvalidJobSpec("this daemon runs no cluster backends: nothing to check")
        return await self.doctor.check(request.master, request.timeout)

    @_unary
    async def Shutdown(self, request: pb.ShutdownRequest, context: Any) -> pb.ShutdownReply:
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._on_shutdown()))
        return pb.ShutdownReply(pid=os.getpid())


#: a failed task's reason that only repeats its exit code or signal: the warning shows those already.
_PLAIN_ENDS = frozenset({TaskEndReason.NONE, TaskEndReason.EXITED, TaskEndReason.SIGNALLED})


def _retried(task_ids: Retried) -> pb.RetryReply:
    return pb.RetryReply(task_ids=list(task_ids))


def _killed(count: Killed) -> pb.KillReply:
    return pb.KillReply(killed=count)


def _stdout_pieces(stdout: bytes | None, path: str | None) -> Iterator[tuple[bytes, bool]]:
    """A result's stdout as (piece, more) pairs that each fit one message; files are read lazily."""
    if stdout is not None or not path:
        data = bytes(stdout or b"")
        for start in range(0, max(len(data), 1), RESULT_MESSAGE_BYTES):
            yield data[start : start + RESULT_MESSAGE_BYTES], start + RESULT_MESSAGE_BYTES < len(data)
        return
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, across yields
    except OSError:
        yield b"", False
        return
    with f:
        size = os.fstat(f.fileno()).st_size
        done = 0
        while True:
            piece = f.read(RESULT_MESSAGE_BYTES)
            done += len(piece)
            more = bool(piece) and done < size
            yield piece, more
            if not more:
                return


__all__ = ["Servicer"]
