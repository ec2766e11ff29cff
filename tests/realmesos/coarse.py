"""What the coarse-grained Mesos tests read from the real master, its agents and /proc.

A job's executors are the Mesos tasks of its framework (named "<job> executor"); each runs
`stratos_executor pilot` with STRATOS_EXECUTOR_ID set to its Mesos task id. `Proxy` is a TCP
relay between the daemon and the master whose connections a test can cut.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.parse
import urllib.request
from typing import Any

from tests.daemon import processes_with
from tests.realmesos.harness import RealMesos


def master(real_mesos: RealMesos) -> str:
    return real_mesos.url.removeprefix("http://")


def frameworks(real_mesos: RealMesos, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The job's live and completed frameworks in /master/state."""
    state = real_mesos.state()
    live = [f for f in state["frameworks"] if f["name"] == name]
    done = [f for f in state.get("completed_frameworks", []) if f["name"] == name]
    return live, done


def executor_tasks(real_mesos: RealMesos, name: str) -> list[dict[str, Any]]:
    """Every Mesos task of the job's frameworks (live and completed, running and ended)."""
    live, done = frameworks(real_mesos, name)
    return [t for f in live + done for t in f.get("tasks", []) + f.get("completed_tasks", [])]


def running_executors(real_mesos: RealMesos, name: str) -> list[dict[str, Any]]:
    return [t for t in executor_tasks(real_mesos, name) if t["state"] in ("TASK_STAGING", "TASK_STARTING",
                                                                        "TASK_RUNNING")]


def teardown_new(real_mesos: RealMesos, before: set[str]) -> None:
    """Tear down the live frameworks not among ``before`` (the master's /teardown endpoint)."""
    for framework in real_mesos.state()["frameworks"]:
        if framework["id"] not in before:
            body = urllib.parse.urlencode({"frameworkId": framework["id"]}).encode()
            with contextlib.suppress(OSError):
                urllib.request.urlopen(real_mesos.url + "/master/teardown", data=body, timeout=10).close()


def agent_endpoint(real_mesos: RealMesos, agent_id: str) -> str:
    """http://IP:PORT/slave(N) of an agent (its `pid`)."""
    for agent in real_mesos.state()["slaves"]:
        if agent["id"] == agent_id:
            name, _, where = str(agent["pid"]).partition("@")
            return f"http://{where}/{name}"
    raise AssertionError(f"no agent {agent_id} in /master/state")


def get_text(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body: bytes = r.read()
        return body.decode(errors="replace")


def agent_state(real_mesos: RealMesos, agent_id: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(get_text(agent_endpoint(real_mesos, agent_id) + "/state"))
    return state


def executor_directory(real_mesos: RealMesos, agent_id: str, executor_id: str) -> str:
    """The executor's sandbox, as the agent's /state (and the web UI's sandbox link) gives it."""
    for framework in agent_state(real_mesos, agent_id).get("frameworks", []):
        for executor in framework.get("executors", []) + framework.get("completed_executors", []):
            if executor["id"] == executor_id:
                return str(executor["directory"])
    raise AssertionError(f"agent {agent_id} knows no executor {executor_id}")


def read_sandbox_file(real_mesos: RealMesos, agent_id: str, path: str) -> str:
    """A file through the agent's /files/read endpoint (what the Mesos web UI shows)."""
    base = agent_endpoint(real_mesos, agent_id).rsplit("/", 1)[0]  # /files is its own libprocess actor
    query = urllib.parse.urlencode({"path": path, "offset": 0, "length": 1 << 20})
    reply = json.loads(get_text(f"{base}/files/read?{query}"))
    return str(reply["data"])


def pilot_pids(executor_id: str) -> list[int]:
    """The `stratos_executor pilot` process of this executor: by its environment (STRATOS_EXECUTOR_ID)
    and command line, so nothing else is ever signalled; a child it forked (same command line, until
    it execs) is left out."""
    found = {p.pid: p.parent for p in processes_with(f"STRATOS_EXECUTOR_ID={executor_id}")
             if b"stratos_executor" in p.argv and b"pilot" in p.argv}
    return sorted(pid for pid, parent in found.items() if parent not in found)


class Proxy:
    """A TCP relay from a loopback port to the master; `cut()` breaks every connection it carries
    (the daemon's subscription stream among them) while it keeps accepting new ones. One thread
    per direction of each connection: each closes the socket it reads once its peer is done."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        src.close()

    def cut(self) -> int:
        """Break every connection carried so far; returns how many."""
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.cuts += 1
        return len(conns) // 2

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
        self._server.close()
        self.cut()
