"""The layout issue 15 asks for: folders named as they import, one wire package, a pure core."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import stratos
import stratos_executor
import stratos_wire
import stratosd

ROOT = Path(__file__).resolve().parent.parent


def _fresh(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the modules it left loaded."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    loaded: list[str] = json.loads(out.stdout.splitlines()[-1])
    return loaded


def _roots(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_each_package_sits_in_a_folder_of_its_import_name_under_a_top_level_folder() -> None:
    for package, top in ((stratos, "stratos_client"), (stratos_executor, "executor"),
                         (stratos_wire, "protos"), (stratosd, ".")):
        folder = Path(package.__file__ or "").parent
        assert folder.name == package.__name__, folder
        assert folder.parent == (ROOT / top).resolve(), folder
    assert not (ROOT / "typecheck").exists()


def test_the_version_is_written_once_and_the_installed_one_is_it() -> None:
    assert importlib.metadata.version("stratos") == stratos_wire.VERSION
    assert "version =" not in (ROOT / "pyproject.toml").read_text().split("[project]")[1].split("[")[0]


def test_importing_the_core_loads_no_io_event_loop_or_rpc() -> None:
    loaded = _fresh("import pkgutil, importlib, stratosd.core as c\n"
                    "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('stratosd.core.' + m.name)")
    assert "stratosd.core.lifecycle" in loaded  # the whole core was imported
    assert not _roots(loaded) & {"grpc", "asyncio", "sqlite3", "subprocess", "socket", "google", "stratos"}


def test_the_daemon_and_the_executor_never_import_the_client() -> None:
    loaded = _fresh(
        "import pkgutil, importlib, stratosd, stratos_executor\n"
        "for pkg in (stratosd, stratos_executor):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "import stratosd.__main__, stratos_executor.__main__")
    assert "stratosd.servicer" in loaded and "stratos_executor.remote" in loaded
    assert "stratos" not in _roots(loaded), sorted(m for m in loaded if m.split(".")[0] == "stratos")


def test_the_clients_errors_are_the_wire_contracts_own() -> None:
    from stratos import errors as public
    from stratos_wire import errors as wire

    assert sorted(public.__all__) == sorted([*wire.__all__, "ERROR_METADATA_KEY", "from_rpc_error"])
    assert all(getattr(public, name) is getattr(wire, name) for name in public.__all__)


def _layout_rows() -> dict[str, str]:
    """The README's layout table: the folder of each row and the row's text."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        if line.startswith("| `"):
            folder = line.split("`")[1]
            rows[folder.rstrip("/")] = line
    return rows


def test_the_readme_layout_table_matches_the_tree() -> None:
    rows = _layout_rows()
    for folder in rows:
        assert (ROOT / folder).is_dir(), f"README names {folder}/, which does not exist"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    top = {path.split("/")[0] for path in tracked.splitlines() if "/" in path and not path.startswith(".")}
    named = {folder.split("/")[0] for folder in rows}
    assert top <= named, f"top-level folders missing from the README's layout table: {sorted(top - named)}"
    # every module and sub-package of the daemon is named in its row
    daemon = rows["stratosd"]
    parts = [p.name for p in (ROOT / "stratosd").iterdir() if p.name != "__pycache__" and not p.name.startswith(".")
             and (p.suffix == ".py" or p.is_dir()) and p.name not in ("__init__.py", "__main__.py")]
    missing = [p for p in parts if f"`{p}" not in daemon]
    assert not missing, f"the README's stratosd row does not name {missing}"


def test_no_document_points_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:
        path = ROOT / name
        for target in re.findall(r"\]\(([^)#]+)\)|`(\.\./[^`\s]+)`", path.read_text()):
            link = next(t for t in target if t)
            if "://" in link:
                continue
            resolved = (path.parent / link).resolve()
            assert resolved.is_relative_to(ROOT), f"{name} points outside the repository: {link}"
            assert resolved.exists(), f"{name} points at {link}, which does not exist"
