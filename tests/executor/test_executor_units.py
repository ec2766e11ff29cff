"""Process-free tests: command preparation, the monitor protocol, the output stores, notes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stratos_executor._notes import Notes
from stratos_executor._output import FileCursor, NewOutput, StdoutStore, TailBuffer, file_tail
from stratos_executor._spawn import THREAD_VARIABLES, direct_argv, exec_simple_command, strip_markers, task_environment
from stratos_executor.monitor import (
    MAX_ARG_STRLEN,
    build_task_output,
    parse_monitor_output,
    parse_relauncher_output,
    relauncher_argument,
)
from stratos_executor.spec import TaskRecord
from tests.executor.executor_helpers import make_spec

# -- command and environment -------------------------------------------------------------------


def test_strip_markers() -> None:
    assert strip_markers("echo hi") == "echo hi"
    assert strip_markers("cat <[a.txt]>") == "cat a.txt"
    assert strip_markers("paste <[/d/a b.txt]> <[b]> > <[out/c]>") == "paste /d/a b.txt b > out/c"
    assert strip_markers("x <[multi\nline]> y <[]>") == "x multi\nline y "
    assert strip_markers("echo <[a]>]> <[") == "echo a]> <["


def test_exec_simple_command() -> None:
    assert exec_simple_command("sleep 5") == "exec sleep 5"
    assert exec_simple_command("  ./prog 'a b' \"$HOME\"/x *.txt ") == "exec ./prog 'a b' \"$HOME\"/x *.txt"
    assert exec_simple_command("/usr/bin/python3 -c 'print(1)'") == "/usr/bin/python3 -c 'print(1)'"  # parens
    for unchanged in (
        "echo 5",  # builtin: stays in the shell, no extra exec
        "cd /tmp",
        "a; b",
        "a && b",
        "a | b",
        "a > out",
        "a &",
        "X=1 prog",
        "$PROG arg",
        "prog $(date)",
        "prog `date`",
        "prog a\\\nb",
        "if true",
        "{ a",
        "",
        "   ",
        "-x",
    ):
        assert exec_simple_command(unchanged) == unchanged, unchanged


def test_direct_argv_takes_only_a_program_with_literal_words() -> None:
    assert direct_argv("wc -c run1/snap_002.hdf5") == ["wc", "-c", "run1/snap_002.hdf5"]
    assert direct_argv("  ./fit --n=3 a,b x:y @f 50% +1\t") == ["./fit", "--n=3", "a,b", "x:y", "@f", "50%", "+1"]
    for shell in (
        "echo 5",  # a builtin stays in the shell
        "exit 3", "cd /tmp", "true", "[ -f x ]",
        "X=1 prog",  # an assignment
        "prog 'a b'", 'prog "a"', "prog a\\ b",  # quotes and backslashes
        "prog $HOME", "prog ~/x", "prog *.txt", "prog a?", "prog [ab]",  # expansions and globs
        "prog #comment", "prog a;b", "prog >out", "prog a|b", "prog &", "prog (x)",
        "prog a\nprog b", "", "   ", "-x", "=x",
    ):
        assert direct_argv(shell) is None, shell


def test_task_environment(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "true", env={"A": "1", "OMP_NUM_THREADS": "64"}, threads=4)
    env = task_environment(spec)
    assert env["A"] == "1"
    for name in THREAD_VARIABLES:
        assert env[name] == "4"
    assert env["STRATOS_JOB_ID"] == "job-1"
    assert env["STRATOS_TASK_ID"] == "7"
    assert env["STRATOS_ATTEMPT"] == "2"
    assert dict(spec.env) == {"A": "1", "OMP_NUM_THREADS": "64"}  # the spec is not modified


# -- monitor protocol ----------------------------------------------------------------------------


def test_build_task_output_small() -> None:
    text, cut = build_task_output(b"out\n", b"err\n")
    assert text == "<stdout>out\n</stdout><stderr>err\n</stderr>"
    assert not cut
    assert build_task_output(b"", b"") == ("<stdout></stdout><stderr></stderr>", False)


def test_build_task_output_drops_nul_and_replaces_bad_utf8() -> None:
    text, cut = build_task_output(b"a\0b\xffc", "é".encode())
    assert text == "<stdout>ab\ufffdc</stdout><stderr>é</stderr>"
    assert "\0" not in text
    assert not cut


def test_build_task_output_keeps_newest_part_within_limit() -> None:
    stdout = b"old" + b"x" * 200_000 + b"NEWEST"
    text, cut = build_task_output(stdout, b"small stderr")
    assert cut
    assert len(text.encode()) <= MAX_ARG_STRLEN - 1
    assert len(text.encode()) >= MAX_ARG_STRLEN - 10
    assert text.endswith("NEWEST</stdout><stderr>small stderr</stderr>")
    assert "old" not in text


def test_build_task_output_both_streams_large_share_the_room() -> None:
    text, cut = build_task_output(b"o" * 100_000 + b"O", b"e" * 100_000 + b"E", limit=1000)
    assert cut
    assert len(text.encode()) <= 1000
    out = text[len("<stdout>") : text.index("</stdout>")]
    err = text[text.index("<stderr>") + len("<stderr>") : -len("</stderr>")]
    assert out.endswith("O") and err.endswith("E")
    assert abs(len(out) - len(err)) <= 1


def test_build_task_output_cuts_on_character_boundary() -> None:
    stdout = "é".encode() * 1000  # two bytes each
    text, cut = build_task_output(stdout, b"", limit=35 + 101)
    assert cut
    out = text[len("<stdout>") : text.index("</stdout>")]
    assert set(out) == {"é"}
    assert len(text.encode()) <= 136


def test_parse_monitor_output() -> None:
    assert parse_monitor_output("") == (False, "")
    assert parse_monitor_output("all fine\n") == (False, "")
    assert parse_monitor_output("stratos_relaunch\n") == (True, "")
    assert parse_monitor_output("stratos_relaunch  need 8G\n") == (True, "need 8G")
    assert parse_monitor_output("note\nstratos_relaunch x stratos_relaunch\n") == (
        True,
        "note\n x stratos_relaunch",
    )


def test_parse_relauncher_output() -> None:
    assert parse_relauncher_output("") == []
    assert parse_relauncher_output("  cmd one \n\n\t\ncmd two\n") == ["cmd one", "cmd two"]


def test_relauncher_argument() -> None:
    assert relauncher_argument("a\0b") == ("ab", False)
    arg, cut = relauncher_argument("é" * 10, limit=5)
    assert cut and arg == "éé"


# -- output stores -------------------------------------------------------------------------------


def test_tail_buffer() -> None:
    tail = TailBuffer(5)
    tail.write(b"ab")
    tail.write(b"cd")
    assert tail.value() == b"abcd"
    tail.write(b"efg")
    assert tail.value() == b"cdefg"
    tail.write(b"0123456789")
    assert tail.value() == b"56789"


def test_new_output_reports_dropped() -> None:
    new = NewOutput(4)
    new.write(b"ab")
    assert new.take() == (b"ab", False)
    assert new.take() == (b"", False)
    new.write(b"abc")
    new.write(b"def")
    assert new.take() == (b"cdef", True)
    new.write(b"xy\xc3\xa9")  # exactly full: nothing dropped
    assert new.take() == (b"xy\xc3\xa9", False)
    new.write(b"\xc3\xa9yzw")  # cut inside the 2-byte character: the stray byte goes
    assert new.take() == (b"yzw", True)


def test_file_cursor(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        cursor = FileCursor(fd, 4)
        assert cursor.take() == (b"", False)
        os.write(fd, b"ab")
        assert cursor.take() == (b"ab", False)
        os.write(fd, b"cdefgh")
        assert cursor.take() == (b"efgh", True)
        assert cursor.take() == (b"", False)
        assert file_tail(fd, 3) == b"fgh"
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"new", 0)
        assert cursor.take() == (b"new", False)
    finally:
        os.close(fd)


def test_stdout_store_small_stays_in_memory(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    store = StdoutStore(str(sandbox / "stdout"), result_limit=1000, inline_limit=10)
    store.write(b"12345")
    store.write(b"67890")
    record = TaskRecord()
    store.finish(record, Notes(record.notes))
    assert record.stdout == b"1234567890"
    assert record.stdout_path is None
    assert not record.stdout_truncated and record.notes == []
    assert not sandbox.exists()


def test_stdout_store_spills_and_truncates(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "stdout"
    store = StdoutStore(str(path), result_limit=25, inline_limit=10)
    for chunk in (b"0123456789", b"abcdefghij", b"ABCDEFGHIJ", b"more"):
        store.write(chunk)
    record = TaskRecord()
    store.finish(record, Notes(record.notes))
    assert record.stdout is None
    assert record.stdout_path == str(path)
    assert path.read_bytes() == b"0123456789abcdefghijABCDE"
    assert record.stdout_truncated
    assert len(record.notes) == 1 and "34" in record.notes[0] and "25" in record.notes[0]


def test_stdout_store_truncates_in_memory(tmp_path: Path) -> None:
    store = StdoutStore(str(tmp_path / "stdout"), result_limit=3, inline_limit=10)
    store.write(b"abcdef")
    record = TaskRecord()
    store.finish(record, Notes(record.notes))
    assert record.stdout == b"abc" and record.stdout_truncated and record.stdout_path is None


def test_stdout_store_spill_failure_is_a_note(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = StdoutStore(str(blocker / "sub" / "stdout"), result_limit=100, inline_limit=2)
    store.write(b"ab")
    store.write(b"cd")
    record = TaskRecord()
    store.finish(record, Notes(record.notes))
    assert record.stdout == b"ab"
    assert record.stdout_truncated
    assert "could not spill" in record.notes[0]


def test_notes_deduplicate() -> None:
    lines: list[str] = []
    notes = Notes(lines)
    notes.add("a")
    notes.add("monitor failed: x", kind="m")
    notes.add("a")
    notes.add("monitor failed: y", kind="m")
    notes.add("monitor failed: z", kind="m")
    assert lines == ["a (2 times)", "monitor failed: z (3 times)"]


def test_the_inherited_bound_is_read_again_only_when_a_childs_figure_is_above_the_last_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A spawned child's ru_maxrss starts at this process's high-water mark, which only grows: the
    /proc read is saved for every child whose figure is not above the last value read."""
    from stratos_executor import _usage

    peaks = iter([60_000, 90_000])
    reads: list[int] = []

    def peak() -> int:
        reads.append(1)
        return next(peaks)

    monkeypatch.setattr(_usage, "executor_peak_kb", peak)
    monkeypatch.setattr(_usage, "_peak_seen_kb", 0)
    assert _usage.inherited_bound_kb(60_000) == 60_000 and len(reads) == 1  # the first: read
    assert _usage.inherited_bound_kb(60_000) == 60_000 and len(reads) == 1  # inherited: no read
    assert _usage.inherited_bound_kb(1_000) == 60_000 and len(reads) == 1
    assert _usage.inherited_bound_kb(90_000) == 90_000 and len(reads) == 2  # this process grew: read
    peaks = iter([90_000])
    # a child above it (its own peak, which the caller then keeps): read again, still this process's
    assert _usage.inherited_bound_kb(250_000) == 90_000 and len(reads) == 3
