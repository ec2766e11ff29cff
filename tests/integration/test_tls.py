"""TLS on the TCP listeners: the operator's listener and the executor listener."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from stratos import Processor
from stratos_wire import stratos_pb2 as pb
from tests.daemon import Daemon
from tests.integration.test_lifecycle import _free_port
from tests.rpc import stratos_stub


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tcp_listeners_speak_tls_only(tmp_path: Path, certificate: tuple[Path, Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate
    token_file = tmp_path / "token"
    token_file.write_text("tls-operator-token-0123456789")
    listen, executors = _free_port(), _free_port()
    d = Daemon("--listen", f"127.0.0.1:{listen}", "--token-file", str(token_file), "--tls-cert", str(cert),
               "--tls-key", str(key), "--executor-listen", f"127.0.0.1:{executors}").start()
    for name, value in d.env.items():
        monkeypatch.setenv(name, value)
    pilot = None
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        good = (("authorization", "Bearer tls-operator-token-0123456789"),)
        with grpc.secure_channel(f"127.0.0.1:{listen}", credentials) as channel:
            assert stratos_stub(channel).ListJobs(pb.ListJobsRequest(), metadata=good, timeout=10).jobs == []
            with pytest.raises(grpc.RpcError) as err:  # TLS does not replace the token
                stratos_stub(channel).ListJobs(pb.ListJobsRequest(), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # plaintext is not spoken
        with grpc.insecure_channel(f"127.0.0.1:{listen}") as channel, pytest.raises(grpc.RpcError):
            stratos_stub(channel).ListJobs(pb.ListJobsRequest(), metadata=good, timeout=3)
        job = Processor(job_id="tls-pilots", master="pilots")
        env = dict(os.environ, STRATOS_TOKEN=job.token())
        pilot = subprocess.Popen([sys.executable, "-m", "stratos_executor", "pilot", "--connect",
                                  f"127.0.0.1:{executors}", "--tls-ca", str(cert), "--job", "tls-pilots",
                                  "--cpus", "2", "--mem", "1000", "--idle-timeout", "0"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert job.batch(["echo over-tls"])["finished"] == 1
        assert job.get_results() == ["over-tls\n"]
    finally:
        if pilot is not None:
            pilot.send_signal(signal.SIGTERM)
            pilot.wait(30)
        d.cleanup()


def test_cert_without_key_is_refused(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    d = Daemon("--tls-cert", str(certificate[0]))
    try:
        with pytest.raises(RuntimeError, match="go together"):
            d.start(timeout=10)
    finally:
        d.cleanup()
