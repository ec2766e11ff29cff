"""A daemon too busy to answer the first Hello in time is running, not absent."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from stratos import _connection
from stratos.errors import DaemonUnavailable
from stratos_wire import PROTOCOL_VERSION, VERSION
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc


class SlowHello(pb_grpc.StratosServicer):
    """Answers Hello after ``delay`` s, the first ``slow_calls`` times."""

    def __init__(self, delay: float, slow_calls: int = 1) -> None:
        self.delay = delay
        self.slow_calls = slow_calls
        self.calls = 0

    def Hello(self, request: pb.HelloRequest, context: Any) -> pb.HelloReply:
        self.calls += 1
        if self.calls <= self.slow_calls:
            time.sleep(self.delay)
        return pb.HelloReply(protocol_version=PROTOCOL_VERSION, daemon_version=VERSION)


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="st-", dir="/tmp") as root:
        yield Path(root)


def _serve(servicer: SlowHello, socket: Path) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_StratosServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"unix:{socket}")
    server.start()
    return server


def test_a_daemon_slow_to_answer_hello_is_waited_for_not_called_absent(
        socket_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_connection, "HELLO_TIMEOUT", 0.3)
    monkeypatch.setattr(_connection, "BUSY_TIMEOUT", 5.0)
    servicer = SlowHello(delay=1.0)
    server = _serve(servicer, socket_dir / "s.sock")
    try:
        conn = _connection.Connection.open(socket_dir / "s.sock", socket_dir, autostart=False)
        assert conn.hello.daemon_version == VERSION
        conn.close()
    finally:
        server.stop(None)


def test_a_daemon_that_never_answers_is_reported_as_running_but_silent(
        socket_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_connection, "HELLO_TIMEOUT", 0.3)
    monkeypatch.setattr(_connection, "BUSY_TIMEOUT", 0.5)
    servicer = SlowHello(delay=2.0, slow_calls=2)
    server = _serve(servicer, socket_dir / "s.sock")
    try:
        with pytest.raises(DaemonUnavailable, match=r"is running but has not answered for 0\.8 s"):
            _connection.Connection.open(socket_dir / "s.sock", socket_dir, autostart=False)
    finally:
        server.stop(None)


def test_nothing_at_the_socket_is_not_running(socket_dir: Path) -> None:
    with pytest.raises(DaemonUnavailable, match="stratosd is not running at"):
        _connection.Connection.open(socket_dir / "s.sock", socket_dir, autostart=False)


def test_a_socket_that_refuses_the_first_hello_then_answers_is_a_running_daemon(socket_dir: Path) -> None:
    """A daemon too loaded to accept at once refuses like an absent one: a socket that exists is
    looked at again briefly before the client says nothing runs there."""
    import socket as sockets
    import threading

    path = socket_dir / "s.sock"
    refusing = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    refusing.bind(str(path))  # the file exists, nothing listens: connect() is refused
    servers: list[grpc.Server] = []

    def start_listening() -> None:
        time.sleep(0.3)
        refusing.close()
        path.unlink()
        servers.append(_serve(SlowHello(delay=0.0, slow_calls=0), path))

    later = threading.Thread(target=start_listening)
    later.start()
    try:
        conn = _connection.Connection.open(path, socket_dir, autostart=False)
        assert conn.hello.daemon_version == VERSION
        conn.close()
    finally:
        later.join()
        for server in servers:
            server.stop(None)


def test_a_socket_that_keeps_refusing_is_not_running(socket_dir: Path) -> None:
    import socket as sockets

    path = socket_dir / "s.sock"
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as refusing:
        refusing.bind(str(path))
        began = time.monotonic()
        with pytest.raises(DaemonUnavailable, match="stratosd is not running at"):
            _connection.Connection.open(path, socket_dir, autostart=False)
        assert time.monotonic() - began < 10
