"""The real cluster of `cluster.sh` (network namespaces, Mesos 1.11, HDFS 2.7.3) for pytest.

`realcluster_fixture()` brings it up once (`cluster.sh up`, which also prepares the download
cache when needed) and down at the end, even after failed tests; a cluster that cannot start
FAILS the tests with its log tail, it never skips them. `HeadDaemon` runs a real `stratosd` in the
head namespace, where the agents' executors can reach its listener; the test process talks to it
over its Unix socket (a file: it works across network namespaces), so the tests themselves stay in
the machine's own namespace.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.daemon import Daemon, pointed_at

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "cluster.sh"
#: `up` (with a cold cache: setup.sh's downloads, about a minute) and `down`.
UP_TIMEOUT = 600
DOWN_TIMEOUT = 120


T = TypeVar("T")
CLONE_NEWNET = 0x40000000


class ClusterError(RuntimeError):
    pass


class RealCluster:
    """A running `cluster.sh` cluster: its addresses, and its commands as methods."""

    def __init__(self, env: dict[str, str], script_env: dict[str, str]) -> None:
        self.env = env
        self.script_env = script_env
        self.hosts: list[str] = env["RC_HOSTS"].split()
        self.head_ip = env["RC_HEAD_IP"]
        self.master = env["RC_MASTER"]  # HOST:PORT, as Processor(master=...) takes it
        self.webhdfs = env["RC_NAMENODE_HTTP"]  # http://HEAD:9870, as Processor(hdfs=...) takes it
        self.state_dir = Path(env["RC_STATE_DIR"])

    def ip(self, host: str) -> str:
        return self.head_ip if host == "nn" else self.env[f"RC_IP_{host}"]

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`cluster.sh ARGS...`; raises ClusterError (with its output) when it fails and `check`."""
        done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                              env=self.script_env, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise ClusterError(f"cluster.sh {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def exec(self, host: str, *cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run CMD as HOST (its network, UTS and mount namespaces)."""
        return self.run("exec", host, *cmd, timeout=timeout, check=check)

    def dfs(self, host: str, *args: str, timeout: float = 120) -> str:
        """An HDFS FsShell command run on HOST with its configuration (one JVM, about 2 s)."""
        return self.run("dfs", host, *args, timeout=timeout).stdout

    def put(self, host: str, files: Sequence[Path], hdfs_dir: str, replication: int | None = None) -> None:
        """Write FILES into HDFS_DIR from HOST: HDFS keeps the first replica of every block on the
        writer's DataNode, so with `replication=1` HOST alone holds them."""
        opts = ["-D", f"dfs.replication={replication}"] if replication else []
        self.dfs(host, *opts, "-mkdir", "-p", hdfs_dir)
        self.dfs(host, *opts, "-put", "-f", *(str(f) for f in files), hdfs_dir)

    def http(self, url: str, timeout: float = 10) -> Any:
        """GET URL (an address inside the cluster) from the head; its JSON."""
        return json.loads(self.exec("nn", "curl", "-sf", "--max-time", str(timeout), url, timeout=timeout + 10).stdout)

    def master_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.http(f"http://{self.master}/master/state")
        return state

    def agents(self) -> list[dict[str, Any]]:
        """The master's agents (`/master/slaves`), with their hostnames and used resources."""
        agents: list[dict[str, Any]] = self.http(f"http://{self.master}/master/slaves")["slaves"]
        return agents

    def teardown_frameworks(self, timeout: float = 60) -> list[str]:
        """Tear down every framework the master still holds (operator `/master/teardown`) and wait
        until no agent has anything allocated; the names of those torn down.

        A stopped daemon leaves its jobs' frameworks registered (failover, so that a restart adopts
        what runs) and, in coarse mode, their executors running until they give up on the daemon
        (`stratos_executor pilot --retry-for`, 300 s), holding their agents' cpus: the next test's
        daemon would get no usable offers meanwhile. Each test starts from a free cluster."""
        names = []
        for framework in self.master_state()["frameworks"]:
            self.exec("nn", "curl", "-sf", "--max-time", "10", "-X", "POST", "-d", f"frameworkId={framework['id']}",
                      f"http://{self.master}/master/teardown", timeout=30)
            names.append(str(framework["name"]))
        deadline = time.monotonic() + timeout
        while True:
            busy = {a["hostname"]: a["used_resources"].get("cpus", 0) for a in self.agents()
                    if a["used_resources"].get("cpus", 0) > 0}
            if not busy:
                return names
            if time.monotonic() > deadline:
                raise ClusterError(f"agents still busy {timeout} s after tearing down {names}: {busy}")
            time.sleep(0.5)

    def live_datanodes(self) -> dict[str, dict[str, Any]]:
        """The NameNode's live DataNodes: `host:xferPort` (as the NameNode names them) -> their JMX record."""
        beans = self.http(f"{self.webhdfs}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo")["beans"]
        live: dict[str, dict[str, Any]] = json.loads(beans[0]["LiveNodes"])
        return live

    def wait_live_datanodes(self, count: int, timeout: float = 60) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            live = self.live_datanodes()
            if len(live) == count or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if len(live) != count:
            raise ClusterError(f"{len(live)} live DataNodes after {timeout} s, wanted {count}: {sorted(live)}")
        return live

    def in_head(self, fn: Callable[[], T], timeout: float = 120) -> T:
        """`fn()` run in a thread of this process moved into the head's network namespace (setns
        changes only the calling thread; threads it starts inherit it), so it reaches the cluster's
        addresses; the rest of the process stays where it is."""
        box: dict[str, Any] = {}

        def body() -> None:
            try:
                fd = os.open(f"/run/netns/{self.env['RC_HEAD_NETNS']}", os.O_RDONLY)
                try:
                    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns into the head namespace")
                finally:
                    os.close(fd)
                box["value"] = fn()
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=body, name="in-head-netns", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"in_head: no answer after {timeout} s")
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value

    @property
    def slurm_conf(self) -> str:
        """The cluster's slurm.conf (clients need SLURM_CONF); ClusterError when up without --slurm."""
        if "RC_SLURM_CONF" not in self.env:
            raise ClusterError("the cluster runs no Slurm (cluster.sh up --slurm)")
        return self.env["RC_SLURM_CONF"]

    def slurm(self, *args: str, timeout: float = 30) -> str:
        """A Slurm client command (squeue, sinfo, scancel...) run on the head; its stdout."""
        return self.exec("nn", "env", f"SLURM_CONF={self.slurm_conf}", "timeout", str(timeout), *args,
                         timeout=timeout + 15).stdout

    def idle_slurm_nodes(self) -> set[str]:
        return {line.split()[0] for line in self.slurm("sinfo", "-h", "-N", "-o", "%N %t").splitlines()
                if line.split()[1:] == ["idle"]}

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.state_dir / "log" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else f"(no {path})"


def own_namespaces(prefix: str) -> list[str]:
    """The network namespaces of the cluster (`PREFIXnn`, `PREFIXh<i>`) that exist now."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n == f"{prefix}nn" or (n.startswith(f"{prefix}h") and n[len(prefix) + 1:].isdigit())]


#: the fixture of the tests that need Slurm: `up` starts it (--slurm) only when one of them runs.
SLURM_FIXTURE = "realcluster_slurm"


def wants_slurm(session: pytest.Session) -> bool:
    """Whether a test of the session uses the cluster's Slurm (its fixture SLURM_FIXTURE)."""
    return any(SLURM_FIXTURE in getattr(item, "fixturenames", ()) for item in session.items)


def realcluster_fixture(hosts: int = 3, scope: str = "session", **knobs: str) -> Any:
    """A pytest fixture: `cluster.sh up HOSTS` (environment KNOBS, e.g. RC_DFS_REPLICATION="1")
    once for `scope`, `cluster.sh down` afterwards; yields a RealCluster. Slurm (`up --slurm`: munged,
    slurmctld, one slurmd per host, a few seconds more) is started only when a selected test uses
    the fixture SLURM_FIXTURE."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload,misc,untyped-decorator,unused-ignore]
    def realcluster(request: pytest.FixtureRequest) -> Iterator[RealCluster]:
        env = {**os.environ, **knobs}
        up_args = [str(hosts), *(["--slurm"] if wants_slurm(request.session) else [])]
        # setup.sh's pip steps use this interpreter (the venv's, which has pip), as tests/realmesos does
        env.setdefault("PY3", sys.executable)
        prefix = env.get("RC_NS_PREFIX", "st-")

        def down() -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(SCRIPT), "down"], capture_output=True, text=True, timeout=DOWN_TIMEOUT,
                                  env=env, stdin=subprocess.DEVNULL)

        if env.get("RC_REUSE") == "1" and own_namespaces(prefix):
            # development: a cluster brought up by hand (`cluster.sh up`) is used and left running
            if subprocess.run([str(SCRIPT), "status"], capture_output=True, env=env, timeout=60).returncode != 0:
                pytest.fail("RC_REUSE=1: the running cluster is not healthy (cluster.sh status)", pytrace=False)
            info = json.loads(subprocess.run([str(SCRIPT), "env", "--json"], capture_output=True, text=True,
                                             check=True, env=env, timeout=30).stdout)
            yield RealCluster(info, env)
            return
        if own_namespaces(prefix):  # remains of a run that was killed before its clean-up
            down()
        try:
            up = subprocess.run([str(SCRIPT), "up", *up_args], capture_output=True, text=True,
                                timeout=UP_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            down()
            pytest.fail(f"cluster.sh up {' '.join(up_args)} did not finish in {UP_TIMEOUT} s:\n{exc.stderr!r}"[-6000:],
                        pytrace=False)
        if up.returncode != 0:
            # `up` cleans up after itself on failure; `down` again in case it was interrupted
            down()
            pytest.fail(f"the real cluster did not start (cluster.sh up {' '.join(up_args)}: exit {up.returncode}):\n"
                        f"{up.stderr[-6000:]}", pytrace=False)
        try:
            info = json.loads(subprocess.run([str(SCRIPT), "env", "--json"], capture_output=True, text=True,
                                             check=True, env=env, timeout=30).stdout)
            yield RealCluster(info, env)
        finally:
            done = down()
            left = own_namespaces(prefix)
            if done.returncode != 0 or left:
                raise ClusterError(f"cluster.sh down: exit {done.returncode}, namespaces left: {left}\n"
                                   f"{done.stderr[-3000:]}")

    return realcluster


class HeadDaemon(Daemon):
    """A real `stratosd` run in the cluster's head namespace (`cluster.sh exec nn`), with its executor
    listener on the head's address so that agents reach it. `cluster.sh exec` execs all the way
    down, so `proc.pid` is the daemon's own pid and `stop()` signals it alone."""

    def __init__(self, cluster: RealCluster, *args: str, cpus: float = 1, env: dict[str, str] | None = None) -> None:
        super().__init__("--executor-listen", f"{cluster.head_ip}:0", *args, cpus=cpus)
        self.cluster = cluster
        #: more environment for the daemon (e.g. SLURM_CONF, for its sbatch and squeue)
        self.extra_env = env or {}

    def start(self, timeout: float = 30) -> HeadDaemon:
        log = open(self.root / "daemon.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [str(SCRIPT), "exec", "nn", sys.executable, "-m", "stratosd", "run",
             "--state-dir", str(self.state_dir), "--socket", str(self.socket), *self.args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**self.cluster.script_env, **self.extra_env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stratosd (head namespace) exited: {self.log()}")
            if self.socket.exists() and self.hello() is not None:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"stratosd (head namespace) did not start: {self.log()}")


def slurm_daemon(cluster: RealCluster, monkeypatch: pytest.MonkeyPatch, *args: str) -> Iterator[HeadDaemon]:
    """A fresh stratosd in the head namespace that submits pilots to the cluster's Slurm (SLURM_CONF),
    with ``args``; a pilot silent for 8 s (more than its 5 s long poll) is lost: its tasks run again
    elsewhere. This process's client is pointed at it."""
    yield from pointed_at(HeadDaemon(cluster, "--pilot-lost-after", "8", *args,
                                     env={"SLURM_CONF": cluster.slurm_conf}), monkeypatch)


def block_hosts(cluster: RealCluster, hdfs_path: str) -> list[list[str]]:
    """The DataNode names holding each block, as the NameNode says (WebHDFS GET_BLOCK_LOCATIONS)."""
    located = cluster.http(f"{cluster.webhdfs}/webhdfs/v1{hdfs_path}?op=GET_BLOCK_LOCATIONS")
    return [[loc["hostName"] for loc in b["locations"]] for b in located["LocatedBlocks"]["locatedBlocks"]]
