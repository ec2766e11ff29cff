"""Issue 16 on the 3-host cluster: nothing started beforehand. The client runs on the head host (its
network, UTS and mount namespaces: `cluster.sh exec nn`) and auto-starts the daemon there; the
daemon opens its TLS executor listener on demand, bound to the local address of the route to the
master, the head's bridge address, which the agents on the other hosts reach.

- the seed's examples (tests/seed_cluster_cases.py) on the Mesos master, from the head;
- `stratosctl doctor HEAD:5050` from the head: every agent OK; with one host hiding the project's
  venv (test_hidden_host.py's technique), that host is named and the others are OK.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import Processor
from tests.autostarted import AutoStarted, autostarted
from tests.realcluster.harness import RealCluster
from tests.realcluster.test_hidden_host import hidden_host  # noqa: F401 - a fixture
from tests.seed_cluster_cases import CASES

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
STRATOSCTL = str(Path(sys.executable).parent / "stratosctl")
SEED_JOBS = ("demo-stream", "demo-object", "tmpl-strings", "tmpl-lists", "plain", "map", "red")


@pytest.fixture
def head_auto(realcluster: RealCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AutoStarted]:
    """A fresh socket and state directory for a daemon the client on the head starts itself.
    This process's own client may use that daemon but never starts one (STRATOS_NO_AUTOSTART).
    Afterwards the frameworks it left on the master are torn down (RealCluster.teardown_frameworks)."""
    try:
        yield from autostarted(monkeypatch, autostart=False)  # the daemon stopped by its PID (same PID namespace)
    finally:
        realcluster.teardown_frameworks()


def on_head(cluster: RealCluster, daemon: AutoStarted, *cmd: str, timeout: float = 240,
            check: bool = True) -> tuple[int, str, str]:
    """CMD run as the head host, pointed at DAEMON's socket and state directory, auto-start allowed."""
    env = ["env", "-u", "STRATOS_NO_AUTOSTART", "-u", "STRATOS_CONFIG", f"STRATOS_SOCKET={daemon.socket}",
           f"STRATOS_STATE_DIR={daemon.state_dir}", f"PYTHONPATH={ROOT}"]
    done = cluster.exec("nn", *env, *cmd, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} on the head: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
                             f"\ndaemon log:\n{daemon.log()}")
    return done.returncode, done.stdout, done.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", sorted(CASES))
def test_seed_example_from_the_head_auto_starts_the_daemon_and_runs_on_the_hosts(
        case: str, realcluster: RealCluster, head_auto: AutoStarted, tmp_path: Path) -> None:
    assert head_auto.pid() is None
    code = ("import sys; from pathlib import Path; from tests.seed_cluster_cases import CASES; "
            f"CASES[{case!r}](Path({str(tmp_path)!r}), {{'master': {realcluster.master!r}, 'mem_per_task': 64}}); "
            "print('case done')")
    _, out, _ = on_head(realcluster, head_auto, sys.executable, "-c", code)
    assert "case done" in out
    assert head_auto.pid() is not None  # the example started it, on the head
    [listener] = head_auto.listeners()
    assert listener["tls"] and listener["serves"] == [realcluster.master]
    assert listener["bind"].rpartition(":")[0] == realcluster.head_ip  # the route to the master
    hosts: set[str] = set()
    for job_id in SEED_JOBS:
        with contextlib.suppress(Exception):  # the jobs this case did not create
            hosts |= {t.host for t in Processor.attach(job_id).stream.tasks()}
    assert hosts and hosts <= set(realcluster.hosts), hosts  # every task ran on an agent's host


@pytest.mark.timeout(240)
def test_doctor_from_the_head_says_every_agent_is_ok(realcluster: RealCluster, head_auto: AutoStarted) -> None:
    _, out, _ = on_head(realcluster, head_auto, STRATOSCTL, "doctor", realcluster.master, "--json",
                        "--timeout", "60")
    report = json.loads(out)
    assert report["ok"], report
    assert sorted(n["node"] for n in report["nodes"]) == sorted(realcluster.hosts), report
    assert all(n["ok"] for n in report["nodes"]), report
    [listener] = head_auto.listeners()
    assert listener["bind"].rpartition(":")[0] == realcluster.head_ip and report["listener"] == listener["advertise"]
    _, text, _ = on_head(realcluster, head_auto, STRATOSCTL, "doctor", realcluster.master)
    assert "3 of 3 nodes can run the executor." in text, text


@pytest.mark.timeout(240)
def test_doctor_from_the_head_names_the_host_without_stratos(
        realcluster: RealCluster, hidden_host: str, head_auto: AutoStarted) -> None:  # noqa: F811
    status, out, _ = on_head(realcluster, head_auto, STRATOSCTL, "doctor", realcluster.master, "--json",
                             "--timeout", "60", check=False)
    report = json.loads(out)
    assert status == 1 and not report["ok"], report
    by_node = {n["node"]: n for n in report["nodes"]}
    assert sorted(by_node) == sorted(realcluster.hosts), report
    assert not by_node[hidden_host]["ok"] and by_node[hidden_host]["problem"] == "program not found", by_node
    assert all(n["ok"] for host, n in by_node.items() if host != hidden_host), by_node
    status, text, _ = on_head(realcluster, head_auto, STRATOSCTL, "doctor", realcluster.master, check=False)
    assert status == 1 and "2 of 3 nodes can run the executor." in text, text
    assert hidden_host in text and "program not found" in text, text
