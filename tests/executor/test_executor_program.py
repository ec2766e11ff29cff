"""`stratos-executor run`: the supervision code as a program."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stratos_executor", *args], capture_output=True, text=True,
                          timeout=60)


def test_prints_stdout_and_the_record_and_exits_with_the_tasks_code() -> None:
    out = run("run", "echo hi; echo oops >&2; exit 3")
    assert out.returncode == 3
    assert out.stdout == "hi\n"
    record = json.loads(out.stderr)
    assert record["exit_code"] == 3 and record["stderr_tail"] == "oops\n"


def test_a_time_limit_stops_the_task() -> None:
    out = run("run", "--timeout", "0.3", "sleep 20")
    record = json.loads(out.stderr)
    assert record["reason"] == "timeout" and out.returncode == 128 + record["signal"]


def test_help() -> None:
    assert "supervision" in run("--help").stdout
    assert "--monitor" in run("run", "--help").stdout
