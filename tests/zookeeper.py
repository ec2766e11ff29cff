"""A private ZooKeeper server (Debian's `zookeeper` package) on loopback, for tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ZK_SERVER = Path("/usr/share/zookeeper/bin/zkServer.sh")


class ZooKeeper:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="stratos-zk-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ZooKeeper:
        if not ZK_SERVER.exists():
            raise RuntimeError("ZooKeeper is not installed: apt-get install zookeeper (.ci/run does)")
        (self.root / "data").mkdir()
        config = self.root / "zoo.cfg"
        config.write_text(f"tickTime=500\ndataDir={self.root / 'data'}\nclientPort={self.port}\n"
                          "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n")
        log = open(self.root / "zk.log", "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([str(ZK_SERVER), "start-foreground", str(config)], stdout=log, stderr=log,
                                     env=dict(os.environ, ZOO_LOG_DIR=str(self.root)), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"ruok")
                    if s.recv(4) == b"imok":
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("ZooKeeper did not start: " + (self.root / "zk.log").read_text(errors="replace")[-2000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this test started (the JVM under the script)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)
