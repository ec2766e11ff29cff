"""`stratosctl doctor` against the real Mesos 1.11 master (3 agents), with the daemon auto-started by it."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator

import pytest

from stratos import ctl
from stratos_wire import VERSION
from tests.autostarted import AutoStarted, autostarted
from tests.realmesos.harness import RealMesos

pytestmark = pytest.mark.mesos


@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch) -> Iterator[AutoStarted]:
    yield from autostarted(monkeypatch)


def master(real_mesos: RealMesos) -> str:
    return real_mesos.url.removeprefix("http://")


def doctor_frameworks(real_mesos: RealMesos) -> list[str]:
    return [f["id"] for f in real_mesos.state()["frameworks"] if f["name"] == "stratos-doctor"]


@pytest.mark.timeout(180)
def test_doctor_probes_every_agent_over_the_tls_listener_and_says_ok(
        auto: AutoStarted, real_mesos: RealMesos, capsys: pytest.CaptureFixture[str]) -> None:
    agents = {a["id"]: a["hostname"] for a in real_mesos.state()["slaves"]}
    assert ctl.main(["doctor", master(real_mesos), "--json", "--timeout", "60"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["reached"] == f"leading master {real_mesos.url}"
    assert sorted(n["where"] for n in report["nodes"]) == sorted(agents)  # one probe pinned to each agent
    for node in report["nodes"]:
        assert node["ok"] and node["node"] == agents[node["where"]] and node["version"] == VERSION, node
    [listener] = auto.listeners()
    assert listener["tls"] and report["listener"] == listener["advertise"]
    assert doctor_frameworks(real_mesos) == []  # its framework was torn down
    assert ctl.main(["doctor", master(real_mesos)]) == 0
    text = capsys.readouterr().out
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "3 of 3 nodes can run the executor." in text


@pytest.mark.timeout(180)
def test_doctor_names_the_agent_whose_executor_program_is_missing(
        monkeypatch: pytest.MonkeyPatch, real_mesos: RealMesos, capsys: pytest.CaptureFixture[str]) -> None:
    bad = real_mesos.state()["slaves"][0]["id"]
    # the real agents share this host: the sandbox path names the agent
    script = (f'case "$MESOS_SANDBOX" in */slaves/{bad}/*) exec /nonexistent/stratos-executor "$@";; esac; '
              f'exec {sys.executable} -m stratos_executor "$@"')
    command = f"sh -c {shlex.quote(script)} stratos-executor"
    for _ in autostarted(monkeypatch, f"[stratosd]\nexecutor_command = {json.dumps(command)}\n"):
        assert ctl.main(["doctor", master(real_mesos), "--json", "--timeout", "60"]) == 1
        report = json.loads(capsys.readouterr().out)
        by_agent = {n["where"]: n for n in report["nodes"]}
        assert len(by_agent) == 3 and not report["ok"]
        assert by_agent[bad]["problem"] == "program not found", by_agent[bad]
        assert "exited with status 127" in by_agent[bad]["detail"], by_agent[bad]
        assert all(n["ok"] for agent, n in by_agent.items() if agent != bad), by_agent
        assert ctl.main(["doctor", master(real_mesos)]) == 1
        text = capsys.readouterr().out
        assert all(len(line) <= 80 for line in text.splitlines()), text
        assert "FAIL  program not found" in text and "2 of 3 nodes can run the executor." in text, text
