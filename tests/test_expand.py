"""Glob expansion in the daemon: the scandir path gives exactly what glob.glob and a stat per
match give, on the names real users have."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from stratosd.expand import command_for, glob_files


def by_glob_and_stat(pattern: str, cwd: str) -> list[str]:
    """The reference: what glob_files returned before it read directories itself."""
    return sorted(m for m in glob.glob(pattern, root_dir=cwd, recursive=True) if os.path.isfile(os.path.join(cwd, m)))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    # "run", "run 1" and "run-a": ' ' and '-' sort before '/', so "run/..." paths come after the others
    for d in ("run 1", "run[2]", "rün3", ".hidden", "run4", "run", "run-a"):
        (tmp_path / "data" / d).mkdir(parents=True)
        for f in ("snap_000.dat", "snap 001.dat", "snap'002\".dat", ".snap_003.dat", "snap_[4].dat", "notes.txt"):
            (tmp_path / "data" / d / f).write_text(f)
    (tmp_path / "data" / "run4" / "snap_dir.dat").mkdir()  # a directory named like a file
    (tmp_path / "data" / "run5.dat").write_text("a file where a directory is looked for")
    (tmp_path / "data" / "run 1" / "link.dat").symlink_to(tmp_path / "data" / "run4" / "notes.txt")
    (tmp_path / "data" / "run 1" / "broken.dat").symlink_to(tmp_path / "nowhere")
    (tmp_path / "data" / "run 1" / "dirlink.dat").symlink_to(tmp_path / "data" / "run4")
    (tmp_path / "data" / "runlink").symlink_to(tmp_path / "data" / "run4")
    (tmp_path / "data" / "run6").mkdir()
    (tmp_path / "data" / "run6" / "snap_9.dat").write_text("")
    return tmp_path


@pytest.mark.parametrize("pattern", [
    "data/*/snap*.dat", "data/run*/*.dat", "data/*/.snap*", "data/.*/snap_000.dat", "data/*/*", "data/run 1/*",
    "data/run[[]2]/*.dat", "data/r?n*/snap_[[]4].dat", "data/*", "data/missing/*", "data/run5.dat/*",
    "data/run4/snap_000.dat", "data/**/*.dat", "**/notes.txt", "data/*/", "*", "data/runlink/*.txt",
    "data/[!r]*/*", "data/rün3/*.dat",
])
def test_glob_files_matches_glob_and_a_stat_per_match(tree: Path, pattern: str) -> None:
    cwd = str(tree)
    assert glob_files(pattern, cwd) == by_glob_and_stat(pattern, cwd)
    absolute = os.path.join(cwd, pattern)  # an absolute pattern gives absolute paths, cwd or not
    assert glob_files(absolute, "/") == by_glob_and_stat(absolute, "/")


def test_the_fast_path_finds_files_only_and_skips_hidden_names(tree: Path) -> None:
    found = glob_files("data/r*/snap*.dat", str(tree))
    assert "data/run 1/snap 001.dat" in found and "data/rün3/snap'002\".dat" in found
    assert not any(".snap" in f or "snap_dir" in f or ".hidden" in f for f in found)
    # four in each of run 1, run[2], rün3, run4 (not its directory), runlink (run4 again), run and
    # run-a, one in run6
    assert len(found) == 7 * 4 + 1
    assert found == sorted(found)


def test_a_command_quotes_its_file_and_marks_it_only_on_the_mount() -> None:
    assert command_for("wc -c %f%", "data/run 1/snap 001.dat", "/home/u", None) == "wc -c 'data/run 1/snap 001.dat'"
    assert command_for("wc -c %f%", "a.dat", "/dfs/x", "/dfs") == "wc -c <[/dfs/x/a.dat]>"
    assert command_for("wc -c %f%", "a.dat", "/dfsx", "/dfs") == "wc -c a.dat"
