"""stratosctl doctor's pure parts: verdicts from a probe's words, one-time probe secrets, 80-column text."""

from __future__ import annotations

import asyncio

from stratos.ctl import doctor_text
from stratos_wire import VERSION
from stratos_wire import stratos_pb2 as pb
from stratosd.doctor import Probes, judge

ADDR = "10.0.0.5:7070"


def test_a_probe_that_called_is_ok_unless_its_version_differs() -> None:
    ok = judge("n1", pb.ProbeRequest(probe_id="p", version=VERSION, python="3.11.7", host="n1"), "", ADDR)
    assert ok.ok and ok.problem == "" and ok.version == VERSION
    old = judge("n1", pb.ProbeRequest(probe_id="p", version="0.0.9", python="3.11.7", host="n1"), "", ADDR)
    assert not old.ok and old.problem == "wrong version" and "0.0.9 on the node" in old.detail


def test_what_a_probe_that_never_called_says_becomes_what_is_missing() -> None:
    def problem(words: str, status: str = "") -> str:
        return judge("n1", None, words, ADDR, status).problem

    assert problem("slurm_script: 4: exec: /x/stratos-executor: not found", "127") == "program not found"
    assert problem("Command exited with status 127", "127") == "program not found"
    assert problem("/usr/bin/python3: No module named stratos_executor", "1") == \
        "stratos_executor not installed for that Python"
    assert problem("stratos-executor: error: argument COMMAND: invalid choice: 'probe'", "2").startswith(
        "wrong version")
    assert problem(f"stratos-executor probe: cannot reach the daemon at {ADDR} within 20 s", "3") == \
        f"cannot reach the daemon at {ADDR}"
    assert problem("Segmentation fault", "139") == "the executor command failed (exit 139)"


def test_a_probe_secret_is_good_once_and_for_its_own_probe_only() -> None:
    async def scenario() -> None:
        probes = Probes()
        secret, future = probes.expect("p1")
        other, _ = probes.expect("p2")
        request = pb.ProbeRequest(probe_id="p1", version=VERSION)
        assert not probes.reached(request, f"Probe {other}")
        assert not probes.reached(request, "Probe wrong")
        assert probes.reached(request, f"Probe {secret}") and future.result() is request
        assert not probes.reached(request, f"Probe {secret}")  # spent

    asyncio.run(scenario())


def test_the_report_fits_80_columns_with_long_names_and_details() -> None:
    reply = pb.DoctorReply(master="zk://zk1.example.org:2181,zk2.example.org:2181/mesos",
                           reached="leading master http://master-1.cluster.example.org:5050",
                           executor_command="/shared/very/long/path/to/a/virtualenv/bin/python -m stratos_executor",
                           listener="login-node-1.cluster.example.org:7070", daemon_version=VERSION)
    reply.nodes.add(node="node-0001.cluster.example.org", ok=True, detail="stratos-executor 0.1.0, Python 3.11")
    reply.nodes.add(node="n2", ok=False, problem="program not found",
                    detail="/var/spool/slurmd/job00042/slurm_script: 4: exec: " + "/x" * 60 + ": not found")
    text = doctor_text(reply, 80)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "FAIL  program not found" in text and text.endswith('See deploy/README.md, "What a node needs".')
    assert "1 of 2 nodes can run the executor." in text
