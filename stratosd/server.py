"""Builds and runs the daemon: journal, core, backends, gRPC listeners, signals."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hmac
import logging
import os
import resource
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from stratos_wire import paths as _paths
from stratos_wire import stratos_pb2_grpc as pb_grpc
from stratos_wire.settings import default
from stratosd.backends.local import LocalBackend
from stratosd.backends.mesos.backend import MesosBackend
from stratosd.backends.pilots import PilotsBackend
from stratosd.backends.slurm import SlurmBackend
from stratosd.core.events import ExecutorsReachable
from stratosd.core.state import SchedulerState
from stratosd.doctor import Doctor
from stratosd.enroll import Enrollment
from stratosd.follow import FOLLOW_INTERVAL, FollowWatcher
from stratosd.heap import Heap
from stratosd.hub import Hub
from stratosd.listeners import ExecutorListeners, ListenerSettings, is_loopback
from stratosd.runtime import Runtime
from stratosd.servicer import Servicer
from stratosd.store import Store

log = logging.getLogger("stratosd")


@dataclass(frozen=True)
class DaemonConfig:
    state_dir: Path
    socket: Path
    listen: str | None = None
    token: str | None = None
    cpus: float | None = None
    mem: float | None = None
    retention: float = 7 * 86400.0
    synchronous: str = "NORMAL"
    pilot_lost_after: float = 30.0
    #: a TCP listener for executors only (ExecutorHub, per-job credentials): HOST:PORT, port 0 = any;
    #: None: one is opened on demand per cluster, bound to the address that routes to its master.
    executor_listen: str | None = None
    #: where executors on cluster nodes reach this daemon (HOST or HOST:PORT); default: the listener's.
    advertise: str | None = None
    #: "auto": TLS on every executor listener except an operator's explicit loopback one; "on"; "off".
    executor_tls: str = default("executor_tls")
    #: PEM files: with both, the TCP listeners (--listen, executor listeners) speak TLS with them.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: the CA file executors on cluster nodes verify the daemon with (passed to them as --tls-ca).
    executor_tls_ca: str | None = None
    mesos_idle_teardown: float = 60.0
    mesos_failover_timeout: float = 4 * 7 * 86400.0
    #: how a cluster node starts the executor (default: this Python, `-m stratos_executor`).
    executor_command: str | None = None
    slurm_idle_release: float = 30.0
    slurm_poll: float = 2.0
    #: how long a pilot asked of a data node (--nodelist) may stay queued before one on any node replaces it.
    slurm_node_wait: float = default("slurm_node_wait")
    #: seconds between two scans of a followed pattern (glob_stream(..., follow=True)); at least 0.1.
    follow_interval: float = FOLLOW_INTERVAL
    #: pilot jobs of a job in a row that end without registering (none serving it) per retry charged.
    pilot_failures_before_lost: int = default("pilot_failures_before_lost")



class _JournalFrameworkIds:
    """Framework ids in the journal's job_meta table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, job_key: int) -> str | None:
        return self._store.meta(job_key, "mesos_framework_id")

    def set(self, job_key: int, framework_id: str | None) -> None:
        self._store.set_meta(job_key, "mesos_framework_id", framework_id)


class AlreadyRunning(RuntimeError):
    pass


class TokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """TCP listeners answer only callers holding the daemon's token (compared in constant time).

    ExecutorHub calls pass through: each of them must carry its job's own token, which the
    Hub checks against the job the call names.
    """

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        handler = await continuation(details)
        if details.method.startswith("/stratos.v1.ExecutorHub/"):
            return handler
        offered = dict(details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(str(offered).encode(), self._expected):
            return handler
        return _deny(handler)


def _deny(handler: Any) -> Any:
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid token is required on this listener")

    async def abort_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await abort(request, context)
        yield  # pragma: no cover

    if handler is None:
        return None
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort_stream)
    return grpc.unary_unary_rpc_method_handler(abort)


def _lock_state_dir(state_dir: Path) -> int:
    fd = os.open(state_dir / "stratosd.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"another stratosd is running with the state directory {state_dir}") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _raise_descriptor_limit() -> None:
    """Each running task holds a pidfd and two pipes: allow as many as the hard limit lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


def _add_port(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    if credentials is None:
        return int(server.add_insecure_port(address))
    return int(server.add_secure_port(address, credentials))


def _tls(config: DaemonConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    return grpc.ssl_server_credentials([(config.tls_key.read_bytes(), config.tls_cert.read_bytes())])


def _listener_settings(config: DaemonConfig) -> ListenerSettings:
    """TLS on unless turned off; "auto" leaves an operator's explicit loopback listener in plain text."""
    tls = config.executor_tls != "off"
    if config.executor_tls == "auto" and config.executor_listen:
        tls = not is_loopback(config.executor_listen.rpartition(":")[0].strip("[]"))
    return ListenerSettings(executor_listen=config.executor_listen, advertise=config.advertise, tls=tls,
                            tls_cert=config.tls_cert, tls_key=config.tls_key,
                            executor_tls_ca=config.executor_tls_ca)


async def serve(config: DaemonConfig, ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM, SIGINT or a Shutdown RPC."""
    lock_fd = _lock_state_dir(config.state_dir)
    with contextlib.suppress(FileNotFoundError):
        _paths.stopped_marker_path(config.state_dir).unlink()
    _raise_descriptor_limit()
    old_umask = os.umask(0o077)  # the journal is its user's alone (SQLite gives -wal/-shm its mode)
    try:
        store = Store(config.state_dir / "journal.sqlite", synchronous=config.synchronous)
    finally:
        os.umask(old_umask)
    runtime = Runtime(SchedulerState(pilot_failures_before_lost=config.pilot_failures_before_lost,
                                     pilot_lost_after=config.pilot_lost_after,
                                     pilot_idle_release=config.slurm_idle_release), store,
                      config.state_dir)
    runtime.retention = config.retention
    runtime.add_backend(LocalBackend(runtime.emit, cpus=config.cpus, mem=config.mem))
    pilots = PilotsBackend(runtime.emit, lost_after=config.pilot_lost_after)
    runtime.add_backend(pilots)
    options = [("grpc.max_receive_message_length", 16 << 20), ("grpc.max_send_message_length", 16 << 20)]
    executor_address = f"unix:{config.socket}"
    hubs: list[Hub] = []
    # Executors on cluster nodes: only the ExecutorHub is served on these, each call with a job's credential.
    listeners = ExecutorListeners(
        config.state_dir, _listener_settings(config),
        lambda server: pb_grpc.add_ExecutorHubServicer_to_server(hubs[0], server), options)
    enrollment = Enrollment(config.state_dir)

    mesos = MesosBackend(
        runtime.emit, framework_ids=_JournalFrameworkIds(store),
        executor_address=executor_address, executor_command=config.executor_command,
        executor_tls_ca=config.executor_tls_ca,
        idle_teardown=config.mesos_idle_teardown, failover_timeout=config.mesos_failover_timeout,
        listeners=listeners, enrollment=enrollment, pilots=pilots,
    )
    runtime.add_backend(mesos)
    slurm = SlurmBackend(
        pilots, meta=store, executor_address=executor_address, log_dir=config.state_dir / "slurm-logs",
        executor_command=config.executor_command, executor_tls_ca=config.executor_tls_ca,
        idle_release=config.slurm_idle_release, poll_interval=config.slurm_poll, node_wait=config.slurm_node_wait,
        listeners=listeners, enrollment=enrollment, emit=runtime.emit,
    )
    runtime.add_backend(slurm)
    runtime.restore()
    slurm.start()
    doctor = Doctor(slurm, mesos)
    hub = Hub(runtime, pilots, others=[mesos], enrollment=enrollment, probes=doctor.probes)
    hubs.append(hub)
    stop = asyncio.Event()

    async def request_stop() -> None:
        stop.set()

    servicer = Servicer(runtime, on_shutdown=request_stop, doctor=doctor, enrollment=enrollment)
    servers = []
    await listeners.restore()  # executors still running after a restart call the same ports
    if config.executor_listen:
        await listeners.ensure("*", None)  # the operator's: open now, for every cluster
    local = grpc.aio.server(options=options)
    pb_grpc.add_StratosServicer_to_server(servicer, local)
    pb_grpc.add_ExecutorHubServicer_to_server(hub, local)
    with contextlib.suppress(FileNotFoundError):
        config.socket.unlink()  # stale: we hold the state directory's lock
    old_umask = os.umask(0o177)
    try:
        local.add_insecure_port(f"unix:{config.socket}")
        await local.start()
    finally:
        os.umask(old_umask)
    os.chmod(config.socket, 0o600)
    servers.append(local)
    if config.listen:
        if not config.token:
            raise ValueError("--listen needs a token (--token-file)")
        remote = grpc.aio.server(options=options, interceptors=(TokenInterceptor(config.token),))
        pb_grpc.add_StratosServicer_to_server(servicer, remote)
        pb_grpc.add_ExecutorHubServicer_to_server(hub, remote)
        _add_port(remote, config.listen, _tls(config))
        await remote.start()
        servers.append(remote)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    core_loop = asyncio.create_task(runtime.run())
    runtime.emit(ExecutorsReachable(time.time()))  # every listener is open: the adoption window starts
    ticker = asyncio.create_task(runtime.tick())
    watcher = asyncio.create_task(FollowWatcher(runtime, config.follow_interval).run())
    purger = asyncio.create_task(_purge_forever(runtime, config.retention))
    # what is alive now (modules, gRPC, the jobs restored from the journal) stays out of every
    # later collection; from now on, so does what lives on after each large batch of task rows
    runtime.heap = Heap()
    runtime.heap.freeze()
    log.info("stratosd %d serving on %s", os.getpid(), config.socket)
    if ready:
        ready()
    await stop.wait()
    log.info("stratosd stopping")
    # An orderly stop leaves a marker, removed at the next start: a client that loses its daemon
    # reads it to tell a stop (which it must not undo) from a crash (after which it restarts the
    # daemon). Written before the listeners close, so a client that sees them close finds it.
    with contextlib.suppress(OSError):
        _paths.stopped_marker_path(config.state_dir).write_text(f"{os.getpid()} {time.time():.0f}\n")
    for server in servers:
        await server.stop(grace=2)
    await listeners.stop()
    purger.cancel()
    ticker.cancel()
    watcher.cancel()
    await runtime.close()
    core_loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await core_loop
    store.close()
    with contextlib.suppress(FileNotFoundError):
        config.socket.unlink()
    os.close(lock_fd)


async def _purge_forever(runtime: Runtime, retention: float) -> None:
    while True:
        try:
            removed = await runtime.purge_expired(retention, time.time())
            if removed:
                log.info("removed %d jobs past their retention: %s", len(removed), ", ".join(removed))
        except Exception:
            log.exception("purging expired jobs failed")
        await asyncio.sleep(min(3600.0, max(1.0, retention / 10)))
