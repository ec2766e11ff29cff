"""The repository's own checks: generated code is fresh, lint and types are clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stratos_wire import stratos_pb2 as pb
from tests.rpc import ExecutorHubApi, StratosApi

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_generated_grpc_code_is_up_to_date() -> None:
    result = run(sys.executable, "protos/generate.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("targets", [
    ("-p", "stratos", "-p", "stratosd", "-p", "stratos_executor", "-p", "stratos_wire"),
    # a folder, not -p tests: that would skip the scripts in folders without __init__.py
    ("tests",),
], ids=["packages", "tests"])
def test_mypy_is_clean(targets: tuple[str, ...]) -> None:
    """Under the strict configuration in pyproject.toml (mypy takes packages or files, not both at once)."""
    result = run(sys.executable, "-m", "mypy", *targets)
    assert result.returncode == 0, result.stdout + result.stderr


def test_typed_stubs_match_the_proto() -> None:
    """tests/rpc.py's protocols name every RPC with its real request, reply and streaming shape."""
    # grpc's runtime classes are not generic, so the (postponed) annotations are read as text.
    shapes = {
        (False, False): "UnaryUnary",
        (False, True): "UnaryStream",
        (True, False): "StreamUnary",
        (True, True): "StreamStream",
    }
    pattern = re.compile(r"grpc\.(\w+)MultiCallable\[pb\.(\w+), pb\.(\w+)\]")
    for api, name in ((StratosApi, "Stratos"), (ExecutorHubApi, "ExecutorHub")):
        service = pb.DESCRIPTOR.services_by_name[name]
        written = {rpc: pattern.fullmatch(hint) for rpc, hint in api.__annotations__.items()}
        assert sorted(written) == sorted(m.name for m in service.methods), name
        for method in service.methods:
            match = written[method.name]
            assert match is not None, f"{method.full_name}: {api.__annotations__[method.name]}"
            assert match.groups() == (
                shapes[method.client_streaming, method.server_streaming],
                method.input_type.name,
                method.output_type.name,
            ), method.full_name
