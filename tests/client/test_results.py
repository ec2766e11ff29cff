"""Reassembling results whose stdout arrives in several records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from stratos._connection import Connection, ConnectionLost
from stratos._results import ResultAssembler, consume, consume_stdout, read_stdout
from stratos.records import TaskResult
from stratos_wire import stratos_pb2 as pb


def _rec(task_id: int, stdout: bytes, more: bool = False, **extra: Any) -> pb.ResultRecord:
    return pb.ResultRecord(seq=task_id, task_id=task_id, stdout=stdout, more=more, **extra)


def test_single_records_are_results() -> None:
    assembler = ResultAssembler()
    results = assembler.feed([_rec(1, b"a\n"), _rec(2, b"b\n")])
    assert [r.stdout for r in results] == ["a\n", "b\n"]
    assert not assembler.incomplete


def test_pieces_are_joined_across_batches() -> None:
    assembler = ResultAssembler()
    assert assembler.feed([_rec(1, b"one"), _rec(2, b"first ", more=True)])[1:] == []
    assert assembler.incomplete
    results = assembler.feed([_rec(2, b"second ", more=True), _rec(2, b"third")])
    assert [r.stdout for r in results] == ["first second third"]
    assert not assembler.incomplete


def test_utf8_split_between_pieces_decodes_and_bad_bytes_are_replaced() -> None:
    snowman = "\u2603".encode()
    assembler = ResultAssembler()
    results = assembler.feed([
        _rec(1, b"x" + snowman[:1], more=True), _rec(1, snowman[1:] + b"\xff"),
    ])
    assert results[0].stdout == "x\u2603\ufffd"


def test_details_are_kept() -> None:
    record = _rec(
        4, b"out", command="gsnap f", status="finished", has_exit_code=True, exit_code=0,
        host="node1", duration=1.5, truncated=True, stdout_path="/s/4.out",
    )
    (result,) = ResultAssembler().feed([record])
    assert result == TaskResult(
        task_id=4, command="gsnap f", status="finished", exit_code=0, signal=None,
        host="node1", duration=1.5, stdout="out", truncated=True, seq=4,
        stdout_path="/s/4.out",
    )


def test_killed_task_has_signal_and_no_exit_code() -> None:
    (result,) = ResultAssembler().feed([_rec(9, b"", status="killed", signal=9)])
    assert (result.exit_code, result.signal, result.stdout_path) == (None, 9, None)


def test_a_result_in_one_record_equals_the_same_result_joined_from_pieces() -> None:
    # One record is turned into a result directly (the usual case, and a fast one for 100,000
    # results); it must give exactly what joining pieces gives.
    record = _rec(
        5, b"caf\xc3\xa9 \xff", command="c", status="failed", has_exit_code=True, exit_code=2,
        host="h", duration=0.25, stdout_path="/p",
    )
    (whole,) = ResultAssembler().feed([record])
    (joined,) = ResultAssembler().feed([_rec(5, b"", more=True), record])
    assert whole == joined
    assert (whole.stdout, whole.exit_code, whole.signal) == ("caf\u00e9 \ufffd", 2, None)


def test_stdout_only_gives_what_the_full_results_give() -> None:
    batches = [
        [_rec(1, b"a\n"), _rec(2, b"caf\xc3")],
        [_rec(3, b"first ", more=True)],  # a result in pieces, across batches
        [_rec(3, b"second"), _rec(4, b"\xa9\xff")],
        [],
        [_rec(5, b"x", more=True), _rec(5, b"y"), _rec(6, b"z")],
    ]
    full, stdout_only = ResultAssembler(), ResultAssembler()
    expected, got, last = [], [], 0
    for batch in batches:
        expected += [r.stdout for r in full.feed(batch)]
        texts, last = stdout_only.feed_stdout(batch, last)
        got += texts
    assert got == expected == ["a\n", "caf\ufffd", "first second", "\ufffd\ufffd", "xy", "z"]
    assert last == 6 and not stdout_only.incomplete


def test_stdout_only_skips_the_results_already_held() -> None:
    # a resumed stream starts again at the daemon's cursor: what was held is not returned twice
    assembler = ResultAssembler()
    assert assembler.feed_stdout([_rec(1, b"1"), _rec(2, b"2"), _rec(3, b"3")], 2) == (["3"], 3)
    assert assembler.feed_stdout([_rec(1, b"1"), _rec(2, b"2")], 2) == ([], 2)
    assert assembler.feed_stdout([_rec(3, b"3", more=True), _rec(3, b"!"), _rec(4, b"4")], 2) == (["3!", "4"], 4)


class _LosingConnection:
    """A daemon lost in the middle of its first Results stream, which had not committed the
    cursor: the second stream sends every result again, from the start."""

    def __init__(self, batches: list[list[pb.ResultRecord]], lose_after: int) -> None:
        self.batches, self.lose_after = batches, lose_after
        self.generation, self.opened = 0, 0

    def results(
        self, requests: Iterator[pb.ResultsClientMessage], job_id: str = ""
    ) -> Iterator[pb.ResultsServerMessage]:
        self.opened += 1
        first = self.opened == 1
        for index, records in enumerate(self.batches):
            if first and index == self.lose_after:
                raise ConnectionLost("lost")
            yield pb.ResultsServerMessage(batch=pb.ResultBatch(records=records))
        last = self.batches[-1][-1].seq
        yield pb.ResultsServerMessage(end=pb.ResultsEnd(upto_seq=last))
        yield pb.ResultsServerMessage(committed=pb.ResultsCommitted(cursor=last))

    def recover(self, job_id: str, generation: int) -> None:
        self.generation += 1


@pytest.mark.parametrize("lose_after", [1, 2, 3])
def test_a_stream_lost_midway_gives_each_result_once_with_or_without_details(lose_after: int) -> None:
    batches = [
        [_rec(1, b"1"), _rec(2, b"2")],
        [_rec(3, b"3"), _rec(4, b"four ", more=True)],  # lost here (lose_after=2): 4 is incomplete
        [_rec(4, b"pieces"), _rec(5, b"5")],
        [_rec(6, b"6")],
    ]
    expected = ["1", "2", "3", "four pieces", "5", "6"]
    conn = _LosingConnection(batches, lose_after)
    assert consume_stdout(cast(Connection, conn), "job") == expected
    assert conn.opened == 2
    conn = _LosingConnection(batches, lose_after)
    assert [r.stdout for r in consume(cast(Connection, conn), "job")] == expected
    conn = _LosingConnection(batches, lose_after)
    assert read_stdout(cast(Connection, conn), "job") == expected
