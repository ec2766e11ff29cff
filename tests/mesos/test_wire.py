"""RecordIO decoding and the JSON translation, both ways. No I/O."""

from __future__ import annotations

import json

import pytest

from stratos_executor.spec import StopReason
from stratosd.backends.mesos import translate as tr
from stratosd.backends.mesos.recordio import Decoder, RecordIOError, encode


def test_records_split_across_chunks_and_several_per_chunk() -> None:
    events = [json.dumps({"type": "HEARTBEAT"}).encode(), b'{"type":"OFFERS","offers":{"offers":[]}}', b"x" * 300]
    stream = b"".join(encode(e) for e in events)
    for size in (1, 2, 3, 7, 64, len(stream)):
        decoder = Decoder()
        got: list[bytes] = []
        for i in range(0, len(stream), size):
            got += decoder.feed(stream[i : i + size])
        assert got == events
    assert Decoder().feed(b"\n" + encode(b"ab")) == [b"ab"]  # blank lines between records are tolerated


@pytest.mark.parametrize("bad", [b"abc\nxyz", b"0\n", b"-5\nabcde", b"99999999999999999999999\n", b"1" * 40])
def test_a_malformed_length_poisons_the_decoder(bad: bytes) -> None:
    decoder = Decoder()
    with pytest.raises(RecordIOError):
        decoder.feed(bad)
    with pytest.raises(RecordIOError):
        decoder.feed(encode(b"fine"))


def test_subscribe_first_time_and_after_failover() -> None:
    first = tr.subscribe(name="demo", user="root", role="batch", failover_timeout=604800.0, framework_id=None,
                         hostname="h")
    assert first["type"] == "SUBSCRIBE" and "framework_id" not in first
    info = first["subscribe"]["framework_info"]
    assert info["name"] == "demo" and info["role"] == "batch" and info["failover_timeout"] == 604800.0
    assert "id" not in info and info["checkpoint"] is True
    again = tr.subscribe(name="demo", user="root", role="*", failover_timeout=1.0, framework_id="F1", hostname="h")
    assert again["framework_id"] == {"value": "F1"} and again["subscribe"]["framework_info"]["id"] == {"value": "F1"}


def test_offers_and_updates_are_read_from_events() -> None:
    event = {"type": "OFFERS", "offers": {"offers": [{
        "id": {"value": "O1"}, "framework_id": {"value": "F"}, "agent_id": {"value": "S1"}, "hostname": "node7",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 8}, "role": "*"},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 30720.0}, "role": "*"},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 400000}, "role": "batch"},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}, "role": "*"},
        ]}]}}
    (offer,) = tr.offers(event)
    assert (offer.offer_id, offer.agent_id, offer.hostname, offer.cpus, offer.mem, offer.disk) == (
        "O1", "S1", "node7", 8.0, 30720.0, 400000.0)
    assert offer.roles["disk"] == "batch"
    info = tr.task_info(mesos_task_id=tr.task_id(3, 17, 2), name="demo-17", offer=offer, cpus=1, mem=512, disk=64,
                        command="run it", environment={"B": "2", "A": "1"})
    assert info["agent_id"] == {"value": "S1"} and info["task_id"] == {"value": "stratos.3.17.2"}
    assert [r["name"] for r in info["resources"]] == ["cpus", "mem", "disk"]
    assert info["resources"][2]["role"] == "batch"
    assert info["command"]["environment"]["variables"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    call = tr.accept("F", ["O1"], [info])
    assert call["type"] == "ACCEPT" and call["accept"]["operations"][0]["launch"]["task_infos"] == [info]
    up = tr.update({"type": "UPDATE", "update": {"status": {
        "task_id": {"value": "stratos.3.17.2"}, "state": "TASK_FINISHED", "agent_id": {"value": "S1"},
        "uuid": "AAECAwQFBgcICQoLDA0ODw==", "source": "SOURCE_EXECUTOR"}}})
    assert tr.parse_task_id(up.task_id) == (3, 17, 2) and up.state in tr.TERMINAL_STATES
    ack = tr.acknowledge("F", up)
    assert ack["acknowledge"] == {"agent_id": {"value": "S1"}, "task_id": {"value": "stratos.3.17.2"},
                                  "uuid": "AAECAwQFBgcICQoLDA0ODw=="}
    assert len(tr.decode_uuid(up.uuid or "")) == 16


def test_foreign_task_ids_are_not_ours() -> None:
    for value in ("other.1.2.3", "stratos.1.2", "stratos.a.b.c", ""):
        assert tr.parse_task_id(value) is None


def test_error_events_in_both_documented_shapes() -> None:
    assert tr.error_message({"type": "ERROR", "error": {"message": "Framework failed over"}}) == "Framework failed over"
    assert tr.error_message({"type": "ERROR", "message": "old shape"}) == "old shape"


def test_calls_carry_the_framework_id() -> None:
    for call in (tr.decline("F", ["O"], 5), tr.kill("F", "t", "S"), tr.reconcile("F", [("t", None)]),
                 tr.revive("F"), tr.suppress("F"), tr.teardown("F")):
        assert call["framework_id"] == {"value": "F"}
    assert tr.teardown("F") == {"framework_id": {"value": "F"}, "type": "TEARDOWN"}
    assert tr.reconcile("F", [])["reconcile"] == {"tasks": []}


def test_only_a_limit_failure_is_the_tasks_own_end() -> None:
    def u(state: str, reason: str) -> tr.TaskUpdate:
        return tr.TaskUpdate("stratos.1.0.1", state, "S1", None, reason, "", "SOURCE_AGENT")

    for reason in sorted(tr.LIMIT_REASONS):
        assert tr.end_cause(u("TASK_FAILED", reason)) is StopReason.CLUSTER_LIMIT
    assert tr.end_cause(u("TASK_FAILED", "REASON_AGENT_REMOVED")) is None
    assert tr.end_cause(u("TASK_KILLED", "REASON_CONTAINER_LIMITATION_MEMORY")) is None
