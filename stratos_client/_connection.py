"""The client's one link to stratosd: a gRPC channel over the daemon's Unix socket.

Every RPC goes through a ``Connection`` method so that gRPC failures always surface as
the typed errors of ``stratos.errors``. ``connect`` also starts a local daemon in the
background when none answers, so ``Processor()`` works on a fresh machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import grpc

from . import _paths
from ._proto import stratos_pb2 as pb
from ._proto import stratos_pb2_grpc as pb_grpc
from ._protocol import PROTOCOL_VERSION, VERSION
from .errors import DaemonUnavailable, ProtocolMismatch, from_rpc_error

__all__ = ["Connection", "connect", "daemon_command"]

#: seconds a Hello may take before the daemon counts as not answering.
HELLO_TIMEOUT = 5.0
#: seconds a freshly started daemon has to answer.
START_TIMEOUT = 15.0
POLL_INTERVAL = 0.05
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

_CACHE: dict[tuple[int, str], Connection] = {}
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
) -> Connection:
    """A connection to the daemon at ``socket``, shared within this process.

    Args:
        socket: the daemon's socket; None: the default (``_paths.socket_path()``).
        state_dir: the state directory of a daemon started here; None: the default.
        autostart: start a daemon when none answers (unless STRATOS_NO_AUTOSTART is set).

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
    except RuntimeError as err:  # ~nouser/...
        raise DaemonUnavailable(f"cannot use the socket or state directory given: {err}") from None
    if any(c in str(path) for c in "?#%\0"):
        raise DaemonUnavailable(f"the socket path {str(path)!r} holds characters a gRPC address cannot: "
                                "choose another path (STRATOS_SOCKET)")
    key = (os.getpid(), str(path))
    with _CACHE_LOCK:
        conn = _CACHE.get(key)
        if conn is None:
            conn = Connection.open(path, state, autostart=autostart)
            _CACHE[key] = conn
        return conn


def _autostart_disabled() -> bool:
    value = os.environ.get("STRATOS_NO_AUTOSTART", "").strip().lower()
    return value not in ("", "0", "false", "no")


class Connection:
    """A channel to one daemon, with one typed method per RPC."""

    __slots__ = ("_channel", "_stub", "hello", "socket")

    def __init__(self, socket: Path, channel: grpc.Channel, hello: pb.HelloReply) -> None:
        #: the daemon's socket.
        self.socket = socket
        #: the daemon's answer to Hello (version, pid, state_dir, backends).
        self.hello = hello
        self._channel = channel
        self._stub: Any = pb_grpc.StratosStub(channel)

    @classmethod
    def open(cls, socket: Path, state: Path, *, autostart: bool) -> Connection:
        """Connect to ``socket``, starting a daemon there first if allowed and needed.

        Args:
            socket: the daemon's socket (absolute).
            state: the state directory for a daemon started here.
            autostart: whether starting a daemon is allowed.

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
            hello = _probe(channel, HELLO_TIMEOUT)
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
        return cls(socket, channel, hello)

    def close(self) -> None:
        """Close the channel and forget it (calls made afterwards fail)."""
        with _CACHE_LOCK:
            for key, conn in list(_CACHE.items()):
                if conn is self:
                    del _CACHE[key]
        self._channel.close()

    # -- unary calls -----------------------------------------------------------------

    def _unary(self, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def create_job(self, job_id: str, spec: pb.JobSpec) -> pb.JobInfo:
        """CreateJob; an empty ``job_id`` lets the daemon choose one."""
        reply: pb.JobInfo = self._unary("CreateJob", pb.CreateJobRequest(job_id=job_id, spec=spec))
        return reply

    def get_job(self, job_id: str) -> pb.JobInfo:
        """GetJob."""
        reply: pb.JobInfo = self._unary("GetJob", pb.JobRef(job_id=job_id))
        return reply

    def list_jobs(self) -> list[pb.JobStatus]:
        """ListJobs."""
        reply: pb.ListJobsReply = self._unary("ListJobs", pb.ListJobsRequest())
        return list(reply.jobs)

    def get_status(self, job_id: str) -> pb.JobStatus:
        """GetStatus."""
        reply: pb.JobStatus = self._unary("GetStatus", pb.JobRef(job_id=job_id))
        return reply

    def get_task(self, job_id: str, task_id: int) -> pb.TaskDetail:
        """GetTask."""
        reply: pb.TaskDetail = self._unary("GetTask", pb.TaskRef(job_id=job_id, task_id=task_id))
        return reply

    def kill(self, job_id: str, task_ids: Iterable[int]) -> int:
        """Kill; no ids means every unended task of the job. Returns how many were killed."""
        reply: pb.KillReply = self._unary(
            "Kill", pb.KillRequest(job_id=job_id, task_ids=list(task_ids))
        )
        return reply.killed

    def cancel(self, job_id: str, call_id: int | None = None) -> int:
        """Cancel the job, or one submission call of it. Returns how many tasks ended."""
        request = pb.CancelRequest(job_id=job_id)
        if call_id is not None:
            request.has_call = True
            request.call_id = call_id
        reply: pb.KillReply = self._unary("Cancel", request)
        return reply.killed

    def close_stream(self, job_id: str) -> pb.JobInfo:
        """CloseStream."""
        reply: pb.JobInfo = self._unary("CloseStream", pb.JobRef(job_id=job_id))
        return reply

    def remove(self, job_id: str, delete_outputs: bool = False) -> bool:
        """Remove one finished job (its output files only with ``delete_outputs``)."""
        reply = self.remove_jobs(pb.RemoveJobsRequest(job_ids=[job_id], delete_outputs=delete_outputs))
        return any(job.job_id == job_id for job in reply.jobs)

    def remove_jobs(self, request: pb.RemoveJobsRequest) -> pb.RemoveJobsReply:
        """RemoveJobs: several jobs, jobs finished before a time, gc; what was removed."""
        reply: pb.RemoveJobsReply = self._unary("RemoveJobs", request)
        return reply

    def close_job(self, job_id: str) -> None:
        """CloseJob."""
        self._unary("CloseJob", pb.JobRef(job_id=job_id))

    def job_token(self, job_id: str) -> str:
        """The secret a job's pilots present."""
        reply: pb.JobToken = self._unary("GetJobToken", pb.JobRef(job_id=job_id))
        return reply.token

    # -- streaming calls ---------------------------------------------------------------

    def submit(self, chunks: Iterator[pb.SubmitChunk]) -> pb.SubmitReply:
        """Submit, sending ``chunks`` (header first) as they are produced.

        An interrupted submission (Ctrl-C) cancels the call, so the daemon never sees
        the client half-close and creates no task from it.
        """
        future = self._stub.Submit.future(chunks)
        try:
            reply: pb.SubmitReply = future.result()
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        except BaseException:
            future.cancel()
            raise
        return reply

    def wait(self, request: pb.WaitRequest) -> Generator[pb.WaitProgress, None, None]:
        """Wait; stopping the iteration early cancels the call."""
        return _stream(self._stub.Wait(request))

    def list_tasks(self, job_id: str, state: str = "") -> Generator[pb.TaskSummary, None, None]:
        """ListTasks, page by page, flattened."""
        for page in _stream(self._stub.ListTasks(pb.ListTasksRequest(job_id=job_id, state=state))):
            yield from page.tasks

    def results(
        self, requests: Iterator[pb.ResultsClientMessage]
    ) -> Generator[pb.ResultsServerMessage, None, None]:
        """Results (bidirectional); stopping the iteration early cancels the call."""
        return _stream(self._stub.Results(requests))


def _stream(call: Any) -> Generator[Any, None, None]:
    """Iterate a response stream, translating errors and cancelling it when abandoned."""
    try:
        yield from call
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None
    finally:
        call.cancel()


def _new_channel(socket: Path) -> grpc.Channel:
    return grpc.insecure_channel("unix:" + str(socket), options=_CHANNEL_OPTIONS)


def _probe(channel: grpc.Channel, timeout: float, wait: bool = False) -> pb.HelloReply | None:
    """Hello, or None when nothing answers at the socket."""
    stub: Any = pb_grpc.StratosStub(channel)
    request = pb.HelloRequest(protocol_version=PROTOCOL_VERSION, client_version=VERSION)
    try:
        reply: pb.HelloReply = stub.Hello(request, timeout=timeout, wait_for_ready=wait)
    except grpc.RpcError as err:
        code = err.code() if isinstance(err, grpc.Call) else None
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return None
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
