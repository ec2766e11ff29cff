"""Normalising commands and parameters, and cutting submissions into chunks."""

from __future__ import annotations

import pytest

from stratos import InvalidSubmission
from stratos._submit import (
    MAX_CHUNK_BYTES,
    chunked,
    make_chunks,
    normalize_params,
    normalize_patterns,
    split_commands,
)
from stratos_wire import stratos_pb2 as pb


def test_string_commands_split_on_newlines_and_semicolons() -> None:
    text = "gsnap a; gsnap b\n  gsnap c  \r\n\n;;echo d;"
    assert split_commands(text) == ["gsnap a", "gsnap b", "gsnap c", "echo d"]


def test_list_commands_keep_semicolons_and_drop_empty_ones() -> None:
    commands = ["cd /x; make", "  ", "", " echo done "]
    assert split_commands(commands) == ["cd /x; make", "echo done"]
    assert split_commands(c for c in ("a", "b")) == ["a", "b"]


def test_empty_input_gives_no_command() -> None:
    assert split_commands("") == []
    assert split_commands(" ;\n ") == []


def test_commands_must_be_text() -> None:
    with pytest.raises(InvalidSubmission, match="each command must be a string"):
        split_commands(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidSubmission, match="not bytes"):
        split_commands(b"echo")  # type: ignore[arg-type]


def test_params_as_comma_delimited_strings() -> None:
    params = ["0.3 1.1 0.67, file1", "0.2 0.9 0.7,file1 ", "s1, s2, s3"]
    assert normalize_params(params) == [
        ["0.3 1.1 0.67", "file1"], ["0.2 0.9 0.7", "file1"], ["s1", "s2", "s3"],
    ]


def test_params_as_lists_are_stripped_and_numbers_converted() -> None:
    params = [[" 0.3 1.1 0.67", "file1 "], ("a,b", 7), [2.5]]
    assert normalize_params(params) == [["0.3 1.1 0.67", "file1"], ["a,b", "7"], ["2.5"]]


def test_params_forms_may_mix() -> None:
    assert normalize_params(["a, b", ["c", "d"]]) == [["a", "b"], ["c", "d"]]


def test_params_must_be_a_list_of_rows() -> None:
    with pytest.raises(InvalidSubmission, match="not one string"):
        normalize_params("a, b")
    with pytest.raises(InvalidSubmission, match="each row of params"):
        normalize_params([3])  # type: ignore[list-item]
    with pytest.raises(InvalidSubmission, match="must be a string"):
        normalize_params([["a", None]])
    with pytest.raises(InvalidSubmission, match="must be a string"):
        normalize_params([["a", True]])


def test_patterns_are_forwarded_unchanged() -> None:
    assert normalize_patterns("/dfs/snapshots/*_2*") == ["/dfs/snapshots/*_2*"]
    assert normalize_patterns(["a/*", "b/?"]) == ["a/*", "b/?"]
    with pytest.raises(InvalidSubmission):
        normalize_patterns([1])  # type: ignore[list-item]


def test_chunks_hold_at_most_max_items() -> None:
    parts = list(chunked(list(range(2500)), lambda _: 1, max_items=1000))
    assert [len(p) for p in parts] == [1000, 1000, 500]
    assert [x for p in parts for x in p] == list(range(2500))


def test_chunks_stay_under_max_bytes_and_big_items_travel_alone() -> None:
    items = ["a" * 400, "b" * 400, "c" * 400, "d" * 5000, "e"]
    parts = list(chunked(items, len, max_bytes=1000))
    assert parts == [["a" * 400, "b" * 400], ["c" * 400], ["d" * 5000], ["e"]]


def test_no_items_no_chunks() -> None:
    assert list(chunked([], len)) == []


def test_header_travels_alone_then_items() -> None:
    header = pb.SubmitHeader(job_id="j", kind=pb.PLAIN, mode=pb.BATCH)
    messages = list(make_chunks(header, items=[f"echo {i}" for i in range(100_000)]))
    assert messages[0].header == header
    assert not messages[0].items
    assert all(not m.HasField("header") for m in messages[1:])
    assert all(len(m.items) <= 1000 for m in messages[1:])
    assert all(m.ByteSize() <= MAX_CHUNK_BYTES + 64 for m in messages)
    assert [i for m in messages[1:] for i in m.items] == [f"echo {i}" for i in range(100_000)]


def test_rows_are_chunked_by_bytes() -> None:
    header = pb.SubmitHeader(job_id="j", kind=pb.TEMPLATE, mode=pb.STREAM)
    rows = [["x" * 2000, str(i)] for i in range(3000)]
    messages = list(make_chunks(header, rows=rows))[1:]
    assert len(messages) > 3  # ~2 kB rows: the byte limit cuts before 1,000 rows
    assert all(m.ByteSize() <= MAX_CHUNK_BYTES + 64 for m in messages)
    assert [list(r.values) for m in messages for r in m.rows] == rows
