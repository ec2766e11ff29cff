"""What importing the client loads: ``import stratos`` and ``stratos.errors`` stay cheap (issue 20).

Each check runs in a new interpreter, so modules other tests imported do not hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import stratos

HEAVY = ("grpc", "google.protobuf", "stratos_wire.stratos_pb2", "stratos.processor")


def loaded_after(code: str) -> set[str]:
    """The modules in ``sys.modules`` after ``code`` ran in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("code", [
    "import stratos",
    "import stratos.errors",
    "from stratos.errors import JobNotFound, StratosError",
    "import stratos; stratos.__version__; stratos.StratosError",
])
def test_import_stratos_loads_no_grpc_or_protobuf(code: str) -> None:
    assert heavy(loaded_after(code)) == []


def test_first_use_of_a_public_name_loads_it() -> None:
    modules = loaded_after("import stratos\nassert stratos.Processor.__name__ == 'Processor'")
    assert "grpc" in modules and "stratos.processor" in modules


def test_a_script_with_its_daemon_running_needs_no_subprocess_uuid_or_html() -> None:
    """The modules a Processor() call pulls in only to start a daemon or draw a notebook view."""
    modules = loaded_after("from stratos import Processor, Settings, TaskResult")
    assert {"uuid", "html", "tomllib", "difflib", "stratos._html"} & modules == set()


def test_every_public_name_resolves_and_unknown_names_fail() -> None:
    for name in stratos.__all__:
        assert getattr(stratos, name) is not None
    assert set(stratos.__all__) <= set(dir(stratos))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        stratos.Nope  # noqa: B018
    from stratos import Processor
    from stratos.processor import Processor as Defined

    assert Processor is Defined
