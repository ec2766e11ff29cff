"""The client's one link to stratosd: a gRPC channel over the daemon's Unix socket.

Every RPC goes through a ``Connection`` method so that gRPC failures always surface as
the typed errors of ``stratos.errors``. ``connect`` also starts a local daemon in the
background when none answers, so ``Processor()`` works on a fresh machine.

This is also the one place that survives a daemon that dies or restarts: a call that loses
its daemon (UNAVAILABLE without a StratOS error type) reopens the channel (``recover``),
restarting a crashed daemon the client may start, or waiting ``reconnect_timeout`` for one
it may not, and is sent again. Non-idempotent calls carry a request id, the same in every
attempt, that the daemon journals with their effect, so a retry whose first attempt was
applied gets the first reply and changes nothing. Streams resume: Wait and ListTasks here,
Results (from the acknowledged cursor) in ``_results``. A daemon stopped in an orderly way
(it leaves ``_paths.stopped_marker_path``) is not restarted: ``DaemonStopped``.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import sys
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from stratos_wire import PROTOCOL_VERSION, VERSION
from stratos_wire import paths as _paths
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc

from .errors import ERROR_METADATA_KEY, DaemonStopped, DaemonUnavailable, ProtocolMismatch, from_rpc_error

if TYPE_CHECKING:
    import subprocess

__all__ = ["Connection", "ConnectionLost", "connect", "daemon_command"]

#: seconds a Hello may take before the daemon counts as not answering.
HELLO_TIMEOUT = 5.0
#: more seconds for a daemon that took the first Hello but is too busy to answer it.
BUSY_TIMEOUT = 25.0
#: seconds a freshly started daemon has to answer.
START_TIMEOUT = 15.0
POLL_INTERVAL = 0.05
#: attempts of one call: the first and its retries, each after reconnecting (a daemon that
#: fails every call must not be retried for ever).
MAX_ATTEMPTS = 6
#: seconds one look for a daemon that came back may take.
PROBE_TIMEOUT = 2.0
#: seconds to wait for a daemon this client may not start (the `reconnect_timeout` setting).
DEFAULT_RECONNECT_TIMEOUT = 30.0
#: sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107

_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    # A local daemon that restarts should be reachable again at once, not after
    # gRPC's default backoff of up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 1000),
]

_CACHE: dict[tuple[int, str, bool], Connection] = {}
_CACHE_LOCK = threading.Lock()
#: daemons this process started; kept so Popen does not warn that they still run.
_STARTED: list[subprocess.Popen[bytes]] = []


def daemon_command(state: Path, socket: Path) -> list[str]:
    """The command that runs a daemon in the background (``stratosd run``)."""
    return [
        sys.executable, "-m", "stratosd", "run",
        "--state-dir", str(state), "--socket", str(socket),
    ]


def connect(
    socket: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    *,
    autostart: bool = False,
    reconnect_timeout: float | None = None,
) -> Connection:
    """A connection to the daemon at ``socket``, shared within this process.

    Args:
        socket: the daemon's socket; None: the default (``_paths.socket_path()``).
        state_dir: the state directory of a daemon started here; None: the default.
        autostart: start a daemon when none answers (unless STRATOS_NO_AUTOSTART is set),
            and again when it crashed.
        reconnect_timeout: seconds to wait for a lost daemon that this client may not start;
            None: $STRATOS_RECONNECT_TIMEOUT or 30. The latest value given wins.

    Returns:
        A connection whose daemon has answered Hello with our protocol version.

    Raises:
        DaemonUnavailable: no daemon answers and none could be started.
        ProtocolMismatch: the daemon speaks another protocol version.
        PermissionDenied: the socket or state directory is not private.
    """
    try:
        path = Path(socket).expanduser() if socket else _paths.socket_path()
        path = path.absolute()
        state = Path(state_dir).expanduser().absolute() if state_dir else _paths.state_dir()
    except (RuntimeError, ValueError) as err:  # ~nouser/..., or ~ followed by a NUL byte (a user name lookup)
        raise DaemonUnavailable(f"cannot use the socket or state directory given: {err}") from None
    if any(c in str(path) for c in "?#%\0"):
        raise DaemonUnavailable(f"the socket path {str(path)!r} holds characters a gRPC address cannot: "
                                "choose another path (STRATOS_SOCKET)")
    # One connection per autostart choice: a job that may not start the daemon never does.
    key = (os.getpid(), str(path), autostart)
    with _CACHE_LOCK:
        conn = _CACHE.get(key)
        if conn is None:
            conn = Connection.open(path, state, autostart=autostart, reconnect_timeout=reconnect_timeout)
            _CACHE[key] = conn
        elif reconnect_timeout is not None:
            conn.reconnect_timeout = reconnect_timeout
        return conn


def _default_reconnect_timeout() -> float:
    """$STRATOS_RECONNECT_TIMEOUT, or the default when unset or not a number."""
    try:
        value = float(os.environ.get("STRATOS_RECONNECT_TIMEOUT", "").strip() or DEFAULT_RECONNECT_TIMEOUT)
    except ValueError:
        return DEFAULT_RECONNECT_TIMEOUT
    return value if 0 <= value < 1e9 else DEFAULT_RECONNECT_TIMEOUT


class ConnectionLost(DaemonUnavailable):
    """A call lost its daemon (it died, restarted or stopped): ``Connection.recover`` and retry."""


def _lost(err: grpc.RpcError) -> bool:
    """The transport failed (UNAVAILABLE without a StratOS error type), not the request."""
    code = err.code() if isinstance(err, grpc.Call) else None
    if code is not grpc.StatusCode.UNAVAILABLE:
        return False
    trailing = err.trailing_metadata() if isinstance(err, grpc.Call) else None
    return not any(key == ERROR_METADATA_KEY for key, _ in trailing or ())


def _request_id() -> str:
    """A fresh client request id: the daemon applies a request at most once per id."""
    return os.urandom(16).hex()  # as unique as uuid4, without importing uuid (and platform)


def _autostart_disabled() -> bool:
    value = os.environ.get("STRATOS_NO_AUTOSTART", "").strip().lower()
    return value not in ("", "0", "false", "no")


class Connection:
    """A channel to one daemon, with one typed method per RPC, that survives daemon restarts."""

    __slots__ = ("_channel", "_generation", "_lock", "_stub", "autostart", "hello", "reconnect_timeout",
                 "socket", "state")

    def __init__(self, socket: Path, channel: grpc.Channel, hello: pb.HelloReply, state: Path | None = None,
                 *, autostart: bool = False, reconnect_timeout: float | None = None) -> None:
        #: the daemon's socket.
        self.socket = socket
        #: the daemon's answer to Hello (version, pid, state_dir, backends).
        self.hello = hello
        #: the state directory for a daemon started here (the daemon's own, when it says).
        self.state = Path(hello.state_dir) if hello.state_dir else state or _paths.state_dir()
        #: whether this client may start (and restart) the daemon.
        self.autostart = autostart
        #: seconds to wait for a lost daemon this client may not start.
        self.reconnect_timeout = (
            _default_reconnect_timeout() if reconnect_timeout is None else reconnect_timeout
        )
        self._channel = channel
        self._stub: Any = pb_grpc.StratosStub(channel)
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """How many times the channel was reopened; pass it to ``recover``."""
        return self._generation

    @classmethod
    def open(cls, socket: Path, state: Path, *, autostart: bool,
             reconnect_timeout: float | None = None) -> Connection:
        """Connect to ``socket``, starting a daemon there first if allowed and needed.

        Args:
            socket: the daemon's socket (absolute).
            state: the state directory for a daemon started here.
            autostart: whether starting a daemon is allowed.
            reconnect_timeout: see ``connect``.

        Returns:
            The connection.

        Raises:
            DaemonUnavailable: no daemon answers and none could be started.
            ProtocolMismatch: the daemon speaks another protocol version.
            PermissionDenied: the socket or state directory is not private.
        """
        if len(os.fsencode(socket)) > MAX_SOCKET_PATH:
            raise DaemonUnavailable(
                f"the socket path {socket} is longer than the {MAX_SOCKET_PATH} bytes a Unix "
                "socket allows; set STRATOS_SOCKET (or the `socket` setting) to a shorter path"
            )
        channel = _new_channel(socket)
        try:
            hello = _first_hello(channel, socket)
            if hello is None and (not autostart or _autostart_disabled()) and socket.exists():
                # a daemon too loaded to accept at once refuses like an absent one: look again briefly
                channel.close()
                channel, hello = _look_again(socket)
            if hello is None:
                if not autostart or _autostart_disabled():
                    raise DaemonUnavailable(
                        f"stratosd is not running at {socket}; start it with `stratosd run`"
                    )
                # The failed probe may leave this channel waiting out a reconnect backoff,
                # in which calls fail at once: use a fresh one for the new daemon.
                channel.close()
                _start_daemon(socket, state)
                channel = _new_channel(socket)
                hello = _probe(channel, HELLO_TIMEOUT, wait=True)
                if hello is None:
                    raise DaemonUnavailable(f"stratosd started but stopped answering at {socket}")
            if hello.protocol_version != PROTOCOL_VERSION:
                raise ProtocolMismatch(
                    f"client speaks protocol {PROTOCOL_VERSION}, stratosd at {socket} speaks "
                    f"{hello.protocol_version}: upgrade/restart the daemon with `stratosd stop`"
                )
        except BaseException:
            channel.close()
            raise
        return cls(socket, channel, hello, state, autostart=autostart, reconnect_timeout=reconnect_timeout)

    # -- surviving a daemon that died, restarted or stopped --------------------------------

    def recover(self, job_id: str = "", generation: int | None = None) -> None:
        """Reopen the channel after a call lost the daemon (``ConnectionLost``).

        A crashed daemon is started again when this client may start it (once per loss, under
        the auto-start lock, so racing clients start one); otherwise the daemon has
        ``reconnect_timeout`` seconds to answer again. Threads that lost the same channel
        reconnect once: pass the ``generation`` read before the failed call.

        Raises:
            DaemonStopped: the daemon was stopped with `stratosd stop` (it is not restarted).
            DaemonUnavailable: no daemon answers in time (the message names ``job_id``).
            ProtocolMismatch: the daemon that answers now speaks another protocol version.
        """
        with self._lock:
            if generation is not None and generation != self._generation:
                return  # another thread has reconnected already
            self._reopen(job_id)
            self._generation += 1

    def _may_start(self) -> bool:
        return self.autostart and not _autostart_disabled()

    def _reopen(self, job_id: str) -> None:
        may_start = self._may_start()
        limit = START_TIMEOUT + HELLO_TIMEOUT if may_start else self.reconnect_timeout
        deadline = time.monotonic() + limit
        delay, started = POLL_INTERVAL, False
        for _ in range(int(limit / POLL_INTERVAL) + 3):  # bounded by the deadline too
            channel = _new_channel(self.socket)
            try:
                hello = _probe(channel, min(PROBE_TIMEOUT, max(0.1, deadline - time.monotonic())))
            except BaseException:
                channel.close()
                raise
            if hello is not None:
                if hello.protocol_version != PROTOCOL_VERSION:
                    channel.close()
                    raise ProtocolMismatch(
                        f"client speaks protocol {PROTOCOL_VERSION}, the stratosd that answers at "
                        f"{self.socket} now speaks {hello.protocol_version}: restart this script"
                    )
                # The old channel is left to the garbage collector: calls of other threads may
                # still be failing on it, and should see it fail, not be cancelled.
                self._channel, self._stub, self.hello = channel, pb_grpc.StratosStub(channel), hello
                return
            channel.close()
            stopped = _paths.stopped_marker_path(self.state).exists()
            if stopped and may_start:
                raise DaemonStopped(self._stopped_message(job_id))
            if may_start and not started:
                started = True
                _start_daemon(self.socket, self.state)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)
        if _paths.stopped_marker_path(self.state).exists():
            raise DaemonStopped(self._stopped_message(job_id))
        raise DaemonUnavailable(
            f"stratosd at {self.socket} stopped answering and did not answer again within {limit:g} s "
            "(the `reconnect_timeout` setting, STRATOS_RECONNECT_TIMEOUT): start it (`stratosd run`); "
            "the jobs live on in its journal." + _reattach_hint(job_id)
        )

    def _stopped_message(self, job_id: str) -> str:
        return (
            f"stratosd at {self.socket} was stopped (`stratosd stop` or SIGTERM), so it is not "
            "restarted behind your back: start it again with `stratosd run` (any new script or "
            "stratosctl command also starts it)." + _reattach_hint(job_id)
        )

    def _error(self, err: grpc.RpcError, job_id: str) -> Exception:
        """The typed error of a failed call; a lost daemon's names the job to reattach to."""
        typed = from_rpc_error(err)
        if _lost(err):
            return ConnectionLost(str(typed) + _reattach_hint(job_id))
        return typed

    def close(self) -> None:
        """Close the channel and forget it (calls made afterwards fail)."""
        with _CACHE_LOCK:
            for key, conn in list(_CACHE.items()):
                if conn is self:
                    del _CACHE[key]
        self._channel.close()

    # -- unary calls -----------------------------------------------------------------

    def _unary(self, method: str, request: Any, job_id: str = "", timeout: float | None = None) -> Any:
        """One call, sent again after reconnecting when it lost the daemon.

        A non-idempotent ``request`` carries a request id (the same in every attempt).
        """
        for attempt in range(MAX_ATTEMPTS):
            generation, stub = self._generation, self._stub
            try:
                return getattr(stub, method)(request, timeout=timeout)
            except grpc.RpcError as err:
                if not _lost(err) or attempt == MAX_ATTEMPTS - 1:
                    raise self._error(err, job_id) from None
            self.recover(job_id, generation)
        raise AssertionError("unreachable")  # pragma: no cover

    def create_job(self, job_id: str, spec: pb.JobSpec) -> pb.JobInfo:
        """CreateJob; an empty ``job_id`` lets the daemon choose one."""
        request = pb.CreateJobRequest(job_id=job_id, spec=spec, request_id=_request_id())
        reply: pb.JobInfo = self._unary("CreateJob", request, job_id)
        return reply

    def get_job(self, job_id: str) -> pb.JobInfo:
        """GetJob."""
        reply: pb.JobInfo = self._unary("GetJob", pb.JobRef(job_id=job_id), job_id)
        return reply

    def list_jobs(self) -> list[pb.JobStatus]:
        """ListJobs."""
        reply: pb.ListJobsReply = self._unary("ListJobs", pb.ListJobsRequest())
        return list(reply.jobs)

    def get_status(self, job_id: str) -> pb.JobStatus:
        """GetStatus."""
        reply: pb.JobStatus = self._unary("GetStatus", pb.JobRef(job_id=job_id), job_id)
        return reply

    def get_task(self, job_id: str, task_id: int) -> pb.TaskDetail:
        """GetTask."""
        reply: pb.TaskDetail = self._unary("GetTask", pb.TaskRef(job_id=job_id, task_id=task_id), job_id)
        return reply

    def task_story(self, job_id: str, task_id: int) -> pb.TaskStory:
        """GetTaskStory (a read: sent again as it is after a reconnect)."""
        reply: pb.TaskStory = self._unary("GetTaskStory", pb.TaskRef(job_id=job_id, task_id=task_id), job_id)
        return reply

    def kill(self, job_id: str, task_ids: Iterable[int]) -> int:
        """Kill; no ids means every unended task of the job. Returns how many were killed."""
        request = pb.KillRequest(job_id=job_id, task_ids=list(task_ids), request_id=_request_id())
        reply: pb.KillReply = self._unary("Kill", request, job_id)
        return reply.killed

    def retry(self, job_id: str, task_ids: Iterable[int]) -> list[int]:
        """Retry failed tasks of an ended job; no ids means every failed task. Returns their ids."""
        request = pb.RetryRequest(job_id=job_id, task_ids=list(task_ids), request_id=_request_id())
        reply: pb.RetryReply = self._unary("Retry", request, job_id)
        return list(reply.task_ids)

    def cancel(self, job_id: str, call_id: int | None = None) -> int:
        """Cancel the job, or one submission call of it. Returns how many tasks ended."""
        request = pb.CancelRequest(job_id=job_id, request_id=_request_id())
        if call_id is not None:
            request.has_call = True
            request.call_id = call_id
        reply: pb.KillReply = self._unary("Cancel", request, job_id)
        return reply.killed

    def stop_following(self, job_id: str, follow_id: int | None = None) -> int:
        """StopFollowing (idempotent: sent again as it is after a reconnect). Returns how many were stopped."""
        request = pb.StopFollowingRequest(job_id=job_id)
        if follow_id is not None:
            request.has_follow, request.follow_id = True, follow_id
        reply: pb.StopFollowingReply = self._unary("StopFollowing", request, job_id)
        return reply.stopped

    def close_stream(self, job_id: str) -> pb.JobInfo:
        """CloseStream."""
        reply: pb.JobInfo = self._unary("CloseStream", pb.JobRef(job_id=job_id, request_id=_request_id()), job_id)
        return reply

    def remove(self, job_id: str, delete_outputs: bool = False) -> bool:
        """Remove one finished job (its output files only with ``delete_outputs``)."""
        reply = self.remove_jobs(pb.RemoveJobsRequest(job_ids=[job_id], delete_outputs=delete_outputs), job_id)
        return any(job.job_id == job_id for job in reply.jobs)

    def remove_jobs(self, request: pb.RemoveJobsRequest, job_id: str = "") -> pb.RemoveJobsReply:
        """RemoveJobs: several jobs, jobs finished before a time, gc; what was removed."""
        if not request.dry_run and not request.request_id:
            request.request_id = _request_id()
        reply: pb.RemoveJobsReply = self._unary("RemoveJobs", request, job_id)
        return reply

    def close_job(self, job_id: str) -> None:
        """CloseJob."""
        self._unary("CloseJob", pb.JobRef(job_id=job_id, request_id=_request_id()), job_id)

    def doctor(self, master: str, timeout: float) -> pb.DoctorReply:
        """Doctor: one probe per node of ``master``; the daemon answers within about ``timeout`` s."""
        reply: pb.DoctorReply = self._unary("Doctor", pb.DoctorRequest(master=master, timeout=timeout),
                                            timeout=timeout + 90)
        return reply

    def pool_credential(self, pool: str) -> tuple[str, str]:
        """(the pool's id, the credential its hand-started pilots present)."""
        reply: pb.PoolCredential = self._unary("GetPoolCredential", pb.PoolCredentialRequest(pool=pool))
        return reply.pool, reply.credential

    def job_token(self, job_id: str) -> str:
        """The secret a job's pilots present."""
        reply: pb.JobToken = self._unary("GetJobToken", pb.JobRef(job_id=job_id), job_id)
        return reply.token

    # -- streaming calls ---------------------------------------------------------------

    def submit(self, chunks: Iterator[pb.SubmitChunk]) -> pb.SubmitReply:
        """Submit, sending ``chunks`` (header first) as they are produced.

        The header gets a request id; a submission that lost the daemon is sent again, whole
        and with the same id, so the daemon creates its tasks once. An interrupted submission
        (Ctrl-C) cancels the call, so the daemon never sees the client half-close and creates
        no task from it.
        """
        replay = _Replayable(chunks, _request_id())
        job_id = replay.job_id
        for attempt in range(MAX_ATTEMPTS):
            generation = self._generation
            future = self._stub.Submit.future(iter(replay))
            try:
                reply: pb.SubmitReply = future.result()
                return reply
            except grpc.RpcError as err:
                job_id = replay.job_id
                if not _lost(err) or attempt == MAX_ATTEMPTS - 1:
                    raise self._error(err, job_id) from None
            except BaseException:
                future.cancel()
                raise
            self.recover(job_id, generation)
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(self, request: pb.WaitRequest) -> Generator[pb.WaitProgress, None, None]:
        """Wait, following the job across daemon restarts; stopping the iteration early cancels the call."""
        for attempt in range(MAX_ATTEMPTS):
            generation = self._generation
            try:
                yield from _stream(self._stub.Wait(request), self, request.job_id)
                return
            except ConnectionLost:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
            self.recover(request.job_id, generation)

    def list_tasks(self, job_id: str, state: str = "") -> Generator[pb.TaskSummary, None, None]:
        """ListTasks, page by page, flattened; after a lost daemon it goes on past the last task yielded."""
        last = -1
        for attempt in range(MAX_ATTEMPTS):
            generation = self._generation
            try:
                call = self._stub.ListTasks(pb.ListTasksRequest(job_id=job_id, state=state))
                for page in _stream(call, self, job_id):
                    for task in page.tasks:
                        if task.task_id > last:  # pages come in task id order
                            last = task.task_id
                            yield task
                return
            except ConnectionLost:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
            self.recover(job_id, generation)

    def results(
        self, requests: Iterator[pb.ResultsClientMessage], job_id: str = ""
    ) -> Generator[pb.ResultsServerMessage, None, None]:
        """Results (bidirectional), one attempt: ``_results`` resumes after ``ConnectionLost``.

        Stopping the iteration early cancels the call.
        """
        return _stream(self._stub.Results(requests), self, job_id)


class _Replayable:
    """The chunks of a submission, sendable again: a retry replays what was produced so far.

    Thread-safe, as gRPC reads a request stream from its own thread (and a failed attempt's
    reader may still be running when the retry starts).
    """

    def __init__(self, chunks: Iterator[pb.SubmitChunk], request_id: str) -> None:
        self._source = iter(chunks)
        self._sent: list[pb.SubmitChunk] = []
        self._lock = threading.Lock()
        self._request_id = request_id
        #: the submission's job, once its header has been produced.
        self.job_id = ""

    def __iter__(self) -> Iterator[pb.SubmitChunk]:
        index = 0
        while True:
            with self._lock:
                if index < len(self._sent):
                    chunk = self._sent[index]
                else:
                    produced = next(self._source, None)
                    if produced is None:
                        return
                    if not self._sent and produced.HasField("header"):
                        produced.header.request_id = self._request_id
                        self.job_id = produced.header.job_id
                    self._sent.append(produced)
                    chunk = produced
            index += 1
            yield chunk


def _reattach_hint(job_id: str) -> str:
    """The sentence that tells where the job of a failed call is picked up again."""
    if not job_id:
        return ""
    return f" Job {job_id!r} goes on: reattach with Processor.attach({job_id!r}) (or `stratosctl wait {job_id}`)."


def _stream(call: Any, conn: Connection, job_id: str) -> Generator[Any, None, None]:
    """Iterate a response stream, translating errors and cancelling it when abandoned.

    Raises:
        ConnectionLost: the daemon went away (``conn.recover`` and call again).
    """
    try:
        yield from call
    except grpc.RpcError as err:
        raise conn._error(err, job_id) from None
    finally:
        call.cancel()


def _new_channel(socket: Path) -> grpc.Channel:
    return grpc.insecure_channel("unix:" + str(socket), options=_CHANNEL_OPTIONS)


def _first_hello(channel: grpc.Channel, socket: Path) -> pb.HelloReply | None:
    """Hello at connect: None when nothing listens. A daemon that took the call but is too busy
    to answer within HELLO_TIMEOUT (a large submission, a slow disk) gets up to BUSY_TIMEOUT
    before the caller is told it is not answering: it is running, not absent."""
    reply = _hello(channel, HELLO_TIMEOUT)
    if reply is _Silence.BUSY:
        reply = _hello(channel, BUSY_TIMEOUT, wait=True)
        if reply is _Silence.BUSY:
            raise DaemonUnavailable(
                f"stratosd at {socket} is running but has not answered for {HELLO_TIMEOUT + BUSY_TIMEOUT:g} s "
                "(busy or stuck): try again, or see its log (`stratosd status`)")
    return reply if isinstance(reply, pb.HelloReply) else None


#: more looks, REFUSED_PAUSE seconds apart, at a socket that exists but refused the first Hello.
REFUSED_LOOKS = 5
REFUSED_PAUSE = 0.2


def _look_again(socket: Path) -> tuple[grpc.Channel, pb.HelloReply | None]:
    """A fresh channel and its Hello for a socket that refused one (None after REFUSED_LOOKS)."""
    for _ in range(REFUSED_LOOKS):
        time.sleep(REFUSED_PAUSE)
        channel = _new_channel(socket)
        hello = _probe(channel, HELLO_TIMEOUT)
        if hello is not None:
            return channel, hello
        channel.close()
    return _new_channel(socket), None


def _probe(channel: grpc.Channel, timeout: float, wait: bool = False) -> pb.HelloReply | None:
    """Hello, or None when nothing answers at the socket."""
    reply = _hello(channel, timeout, wait)
    return reply if isinstance(reply, pb.HelloReply) else None


class _Silence(enum.Enum):
    """Why Hello got no answer: nothing listens, or a daemon took the call but did not reply in time."""

    ABSENT = "absent"
    BUSY = "busy"


def _hello(channel: grpc.Channel, timeout: float, wait: bool = False) -> pb.HelloReply | _Silence:
    stub: Any = pb_grpc.StratosStub(channel)
    request = pb.HelloRequest(protocol_version=PROTOCOL_VERSION, client_version=VERSION)
    try:
        reply: pb.HelloReply = stub.Hello(request, timeout=timeout, wait_for_ready=wait)
    except grpc.RpcError as err:
        code = err.code() if isinstance(err, grpc.Call) else None
        if code is grpc.StatusCode.UNAVAILABLE:
            return _Silence.ABSENT
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return _Silence.BUSY
        raise from_rpc_error(err) from None
    return reply


def _answers(socket: Path) -> bool:
    """Whether a daemon answers Hello at ``socket`` now.

    Each look uses a new channel, so it is one immediate connection attempt rather than
    a wait for the reconnect backoff of a channel that has already failed.
    """
    channel = _new_channel(socket)
    try:
        return _probe(channel, HELLO_TIMEOUT) is not None
    finally:
        channel.close()


def _start_daemon(socket: Path, state: Path) -> None:
    """Start ``stratosd run`` in the background and wait until it answers Hello.

    A lock file next to the socket makes concurrent scripts start one daemon: the
    others wait for the lock and then find the daemon answering.
    """
    import subprocess  # only to start a daemon: a script whose daemon runs never loads it

    _paths.ensure_private_dir(socket.parent)
    _paths.ensure_private_dir(state)
    log = _paths.daemon_log_path(state)
    with _locked(_paths.autostart_lock_path(socket), START_TIMEOUT + HELLO_TIMEOUT):
        if _answers(socket):
            return
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                daemon_command(state, socket),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=state,
            )
        _STARTED.append(proc)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            exited = proc.poll() is not None
            # Once it has exited, one last look in case another daemon took the socket.
            if _answers(socket):
                return
            if exited:
                raise DaemonUnavailable(
                    f"stratosd exited with status {proc.returncode} before answering at "
                    f"{socket}; see {log}{_tail(log)}"
                )
            time.sleep(POLL_INTERVAL)
    raise DaemonUnavailable(
        f"stratosd did not answer at {socket} within {START_TIMEOUT:g} s of being started; "
        f"see {log}{_tail(log)}"
    )


@contextlib.contextmanager
def _locked(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive flock on ``path``, giving up after ``timeout`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DaemonUnavailable(
                        f"another process has been starting stratosd for {timeout:.0f} s "
                        f"(it holds {path}); check it, or remove the lock file"
                    ) from None
                time.sleep(POLL_INTERVAL)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _tail(log: Path, lines: int = 10) -> str:
    """The end of the daemon's log, to put in an error message."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 8192))
            text = handle.read().decode(errors="replace").rstrip().splitlines()[-lines:]
    except OSError:
        return ""
    return (":\n    " + "\n    ".join(text)) if text else ""
