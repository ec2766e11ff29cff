"""`stratosctl doctor` against the real one-node Slurm, with the daemon auto-started by it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stratos import ctl
from stratos_wire import VERSION
from tests.autostarted import AutoStarted, autostarted
from tests.slurm.cluster import slurm, wait_node_up

pytestmark = pytest.mark.slurm

MISSING = "/nonexistent/stratos-executor"


def _no_probe_left() -> None:
    for slurm_id in slurm("squeue", "-h", "-o", "%i", "--name", "stratos-doctor").split():
        slurm("scancel", slurm_id)


@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch, slurm_cluster: str) -> Iterator[AutoStarted]:
    yield from autostarted(monkeypatch)
    _no_probe_left()


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch, slurm_cluster: str) -> Iterator[AutoStarted]:
    yield from autostarted(monkeypatch, f'[stratosd]\nexecutor_command = "{MISSING}"\n')
    _no_probe_left()


def nodes() -> list[str]:
    return sorted(set(slurm("sinfo", "-h", "-N", "-o", "%N").split()))


@pytest.mark.timeout(180)
def test_doctor_says_every_node_runs_the_executor_and_reaches_the_daemon(
        auto: AutoStarted, slurm_cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert auto.pid() is None
    assert ctl.main(["doctor", f"slurm://{slurm_cluster}", "--json", "--timeout", "60"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and "UP" in report["reached"]
    assert sorted(n["node"] for n in report["nodes"]) == nodes()
    for node in report["nodes"]:
        assert node["ok"] and node["problem"] == "" and node["version"] == VERSION, node
        assert node["where"] == slurm_cluster
    [listener] = auto.listeners()  # the probe went through the TLS listener real tasks use
    assert listener["tls"] and report["listener"] == listener["advertise"]
    assert ctl.main(["doctor", f"slurm://{slurm_cluster}"]) == 0
    text = capsys.readouterr().out
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert f"{len(nodes())} of {len(nodes())} nodes can run the executor." in text


@pytest.mark.timeout(180)
def test_doctor_names_a_node_that_cannot_start_the_executor_and_exits_1(
        broken: AutoStarted, slurm_cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ctl.main(["doctor", f"slurm://{slurm_cluster}", "--timeout", "60"]) == 1
    text = capsys.readouterr().out
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "FAIL  program not found" in text and MISSING in text, text
    assert ctl.main(["doctor", f"slurm://{slurm_cluster}", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"]
    for node in report["nodes"]:
        assert node["problem"] == "program not found" and "not found" in node["detail"], node


@pytest.mark.timeout(120)
def test_doctor_reports_a_node_whose_probe_never_starts(
        auto: AutoStarted, slurm_cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    [node] = nodes()[:1]
    slurm("scontrol", "update", f"NodeName={node}", "State=DRAIN", "Reason=stratos-doctor-test")
    try:
        assert ctl.main(["doctor", f"slurm://{slurm_cluster}", "--json", "--timeout", "5"]) == 1
    finally:
        slurm("scontrol", "update", f"NodeName={node}", "State=RESUME")
        wait_node_up(node)  # the next test finds the cluster as this one did
    report = json.loads(capsys.readouterr().out)
    [check] = [n for n in report["nodes"] if n["node"] == node]
    assert check["problem"] == "not started within 5 s (queue busy or node down)", check
    assert not slurm("squeue", "-h", "-o", "%i", "--name", "stratos-doctor").split()  # its probe was cancelled
