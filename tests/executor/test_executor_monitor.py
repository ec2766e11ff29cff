"""The monitor and relauncher with real scripts: relaunch, new-output slicing, broken monitors, memory watch."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from stratos_executor.monitor import MAX_ARG_STRLEN
from stratos_executor.spec import Relaunch
from tests.executor.executor_helpers import LOOPS, make_spec, pids_with_arg, run_task, write_script

RS = "\036"  # record separator the logging monitor puts after each argument


@pytest.mark.parametrize("loop", LOOPS)
def test_relaunch_on_keyword(tmp_path: Path, loop: str) -> None:
    monitor = write_script(
        tmp_path / "monitor.sh",
        'case "$2" in *BAD_THING*) echo "stratos_relaunch more memory please";; *) echo fine;; esac\n',
    )
    relauncher = write_script(
        tmp_path / "relauncher.sh",
        'printf "  first --hint=\'%s\'  \\n\\n  second\\n" "$1"\n',
    )
    spec = make_spec(
        tmp_path,
        "echo working; sleep 0.1; echo BAD_THING; sleep 30",
        monitor=monitor,
        relauncher=relauncher,
        update_interval=0.3,
    )
    record = run_task(spec, loop)
    assert record.reason == "relaunch"
    assert record.signal == signal.SIGTERM
    assert record.ended - record.started < 2 * 0.3 + 0.15
    assert record.monitor_output == "stratos_relaunch more memory please\n"
    assert record.replacements == ["first --hint='more memory please'", "second"]
    assert record.stdout == b"working\nBAD_THING\n"
    assert record.notes == []


def test_relaunch_without_relauncher(tmp_path: Path) -> None:
    monitor = write_script(tmp_path / "m.sh", "echo stratos_relaunch\n")
    record = run_task(make_spec(tmp_path, "sleep 30", monitor=monitor, update_interval=0.1))
    assert record.reason == "relaunch" and record.replacements == [] and record.notes == []
    assert record.relaunch is Relaunch.NO_RELAUNCHER


@pytest.mark.parametrize(
    "relauncher_body, note, outcome",
    [("echo oops >&2; exit 2\n", "status 2: oops", Relaunch.FAILED),
     ("true\n", "printed no command", Relaunch.NO_COMMANDS),
     ("echo cmd; exit 1\n", "ignored", Relaunch.FAILED)],
)
def test_failing_relauncher_is_a_note_and_a_typed_outcome(
    tmp_path: Path, relauncher_body: str, note: str, outcome: Relaunch
) -> None:
    monitor = write_script(tmp_path / "m.sh", "echo stratos_relaunch\n")
    relauncher = write_script(tmp_path / "r.sh", relauncher_body)
    spec = make_spec(tmp_path, "sleep 30", monitor=monitor, relauncher=relauncher, update_interval=0.1)
    record = run_task(spec)
    assert record.reason == "relaunch" and record.replacements == []
    assert len(record.notes) == 1 and note in record.notes[0]
    assert record.relaunch is outcome
    assert (outcome is Relaunch.FAILED) == bool(record.relaunch_error)


def test_missing_relauncher_is_a_note(tmp_path: Path) -> None:
    monitor = write_script(tmp_path / "m.sh", "echo stratos_relaunch\n")
    spec = make_spec(tmp_path, "sleep 30", monitor=monitor, relauncher=str(tmp_path / "nope"), update_interval=0.1)
    record = run_task(spec)
    assert record.reason == "relaunch" and "could not be started" in record.notes[0]
    assert record.relaunch is Relaunch.FAILED and "could not be started" in record.relaunch_error


def _logged_arguments(log: Path) -> list[tuple[str, str, str]]:
    """(pid, stdout part, stderr part) of each monitor call."""
    calls = []
    for entry in log.read_text().split(RS)[:-1]:
        pid, argument = entry.split(" ", 1)
        assert argument.startswith("<stdout>") and argument.endswith("</stderr>")
        out, err = argument[len("<stdout>") : -len("</stderr>")].split("</stdout><stderr>")
        calls.append((pid, out, err))
    return calls


@pytest.mark.parametrize("output", ["scheduler", "disk", "none", "mesos"])
def test_monitor_sees_only_new_output(tmp_path: Path, output: str) -> None:
    log = tmp_path / "monitor.log"
    monitor = write_script(tmp_path / "monitor.sh", f'printf "%s %s{RS}" "$1" "$2" >> {log}\n')
    command = "echo one; sleep 0.35; echo two; echo err-a >&2; sleep 0.35; echo err-b >&2; echo three; sleep 0.35"
    spec = make_spec(
        tmp_path,
        command,
        monitor=monitor,
        update_interval=0.15,
        output=output,
        stdout_file=str(tmp_path / "o.txt"),
        stderr_file=str(tmp_path / "e.txt"),
    )
    record = run_task(spec)
    assert record.exit_code == 0 and record.reason == "" and record.notes == []
    calls = _logged_arguments(log)
    assert len(calls) >= 4
    assert {pid for pid, _, _ in calls} == {str(record.pid)}
    # every byte shows up in exactly one call, in order (the last write may come after the last call)
    stdout_seen = "".join(out for _, out, _ in calls)
    stderr_seen = "".join(err for _, _, err in calls)
    assert "one\ntwo\nthree\n".startswith(stdout_seen) and stdout_seen.startswith("one\ntwo\n")
    assert "err-a\nerr-b\n".startswith(stderr_seen) and stderr_seen.startswith("err-a\n")
    assert sum(1 for _, out, _ in calls if out) >= 2  # really split across calls


def test_monitor_input_is_cut_to_one_argument(tmp_path: Path) -> None:
    sizes = tmp_path / "sizes"
    monitor = write_script(tmp_path / "m.sh", f'printf "%s" "$2" | wc -c >> {sizes}\n')
    command = "head -c 400000 /dev/zero | tr '\\0' a; printf '\\0\\0TAIL'; head -c 300000 /dev/zero >&2; sleep 0.5"
    record = run_task(make_spec(tmp_path, command, monitor=monitor, update_interval=0.2))
    assert record.exit_code == 0
    first = int(sizes.read_text().split()[0])
    assert MAX_ARG_STRLEN - 200 < first <= MAX_ARG_STRLEN - 1
    assert len(record.notes) == 1 and "truncated" in record.notes[0]


def test_stuck_monitor_is_killed_and_task_completes(tmp_path: Path) -> None:
    marker = "306.125"
    monitor = write_script(tmp_path / "m.sh", f"sleep {marker}\n")
    record = run_task(make_spec(tmp_path, "sleep 1.5; echo done", monitor=monitor, update_interval=0.2))
    assert record.exit_code == 0 and record.reason == "" and record.stdout == b"done\n"
    assert len(record.notes) == 1 and "ran longer than update_interval" in record.notes[0]
    assert "times)" in record.notes[0]  # deduplicated
    time.sleep(0.05)
    assert pids_with_arg(marker) == []


def test_crashing_monitor_is_a_note(tmp_path: Path) -> None:
    monitor = write_script(tmp_path / "m.sh", "echo partial; echo boom >&2; exit 3\n")
    record = run_task(make_spec(tmp_path, "sleep 0.5; echo done", monitor=monitor, update_interval=0.15))
    assert record.exit_code == 0 and record.reason == "" and record.stdout == b"done\n"
    assert len(record.notes) == 1 and "exited with status 3: boom" in record.notes[0]
    assert record.monitor_output == "partial\n"


@pytest.mark.parametrize("kind", ["missing", "not-executable"])
def test_unusable_monitor_is_a_note(tmp_path: Path, kind: str) -> None:
    monitor = tmp_path / "m.sh"
    if kind == "not-executable":
        monitor.write_text("#!/bin/sh\necho stratos_relaunch\n")
    record = run_task(make_spec(tmp_path, "sleep 0.4; echo done", monitor=str(monitor), update_interval=0.1))
    assert record.exit_code == 0 and record.reason == "" and record.stdout == b"done\n"
    assert len(record.notes) == 1 and "could not be started" in record.notes[0]


def test_no_monitor_call_after_exit(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    monitor = write_script(tmp_path / "m.sh", f"echo call >> {log}\n")
    record = run_task(make_spec(tmp_path, "echo quick", monitor=monitor, update_interval=0.2))
    assert record.exit_code == 0
    time.sleep(0.4)
    assert not log.exists()


@pytest.mark.parametrize("loop", LOOPS)
def test_memory_monitor_relaunches_growing_task(tmp_path: Path, loop: str) -> None:
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    limit_kb = 150 * 1024
    monitor = write_script(
        tmp_path / "mem.sh",
        f"read size resident rest < /proc/$1/statm || exit 0\nkb=$((resident * {page_kb}))\n"
        f'if [ "$kb" -gt {limit_kb} ]; then echo "stratos_relaunch rss=$kb"; else echo "rss=$kb"; fi\n',
    )
    grow = tmp_path / "grow.py"
    grow.write_text(
        "import time\nblocks = []\nfor _ in range(50):  # 1 GB at most, whatever happens\n"
        "    blocks.append(bytearray(20_000_000))\n    time.sleep(0.05)\ntime.sleep(30)\n"
    )
    spec = make_spec(tmp_path, f"{sys.executable} {grow}", monitor=monitor, update_interval=0.2, timeout=20)
    record = run_task(spec, loop)
    assert record.reason == "relaunch", record
    assert record.peak_rss_kb > limit_kb
    assert record.monitor_output.startswith("stratos_relaunch rss=")
    assert record.ended - record.started < 10
