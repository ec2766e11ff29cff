"""The repository's own checks: generated code is fresh, lint and types are clean, adapters hold no core records."""

from __future__ import annotations

import ast
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
#: the adapters between the core and the outside (issue 14: the core decides, the adapters adapt).
ADAPTERS = (*sorted((ROOT / "stratosd" / "backends").rglob("*.py")), ROOT / "stratosd" / "hub.py",
            ROOT / "stratosd" / "runtime.py")
#: the core's live records: an adapter that imports them is about to read or write a job's state.
CORE_RECORDS = frozenset({"Job", "Task", "Status"})


def core_record_imports(source: str) -> list[str]:
    """The core records a module's source imports, from any module of stratosd.core (``model`` for
    the records' module itself, ``*`` for a star import)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stratosd.core"):
            for alias in node.names:
                if alias.name in CORE_RECORDS or alias.name == "*" or (
                        node.module == "stratosd.core" and alias.name == "model"):
                    found.append(alias.name)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name == "stratosd.core.model"]
    return found


def test_the_core_record_check_finds_every_way_to_import_them() -> None:
    assert core_record_imports("from stratosd.core.model import JobSpec, Offer\n") == []
    assert core_record_imports("from stratosd.core.model import Offer, Job\n") == ["Job"]
    assert core_record_imports("from stratosd.core.state import Status as S\n") == ["Status"]
    assert core_record_imports("from stratosd.core import model\n") == ["model"]
    assert core_record_imports("import stratosd.core.model\n") == ["stratosd.core.model"]
    assert core_record_imports("from stratosd.core.model import *\n") == ["*"]
    assert core_record_imports("if TYPE_CHECKING:\n    from stratosd.core.model import Task\n") == ["Task"]


def test_no_adapter_imports_the_cores_live_records() -> None:
    """Backends, the executor hub and the runtime get values (actions, grants, views), never a Job,
    a Task or a Status to read or change."""
    names = {path.relative_to(ROOT).as_posix() for path in ADAPTERS}
    assert {"stratosd/backends/mesos/backend.py", "stratosd/backends/slurm.py", "stratosd/hub.py"} <= names
    offenders = {path.relative_to(ROOT).as_posix(): found for path in ADAPTERS
                 if (found := core_record_imports(path.read_text()))}
    assert offenders == {}


def test_each_backend_and_the_hub_say_what_they_translate_and_that_they_decide_no_fate() -> None:
    for relative in ("stratosd/backends/local.py", "stratosd/backends/pilots.py", "stratosd/backends/slurm.py",
                     "stratosd/backends/mesos/backend.py", "stratosd/hub.py"):
        doc = ast.get_docstring(ast.parse((ROOT / relative).read_text())) or ""
        assert "Translates:" in doc and "Decides: nothing about a task's fate" in doc, relative
