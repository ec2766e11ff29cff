"""A mount directory of real files and a runner with a hard deadline for the async tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

HOSTS = [f"agent{i}" for i in range(1, 9)]
BLOCK = 1024


def run(body: Callable[[], Awaitable[None]], timeout: float = 20.0) -> None:
    asyncio.run(asyncio.wait_for(body(), timeout))


def write(path: Path, size: int, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(i % 251 for i in range(size)))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    """``/data/2024-0{1,2}/part-{0..2}`` (1-3 blocks of 1 KiB), a meta file, a hidden one, an empty one."""
    root = tmp_path / "mount"
    for month in ("2024-01", "2024-02"):
        for i in range(3):
            write(root / "data" / month / f"part-{i}", BLOCK * i + 500)
        write(root / "data" / month / "meta.json", 10)
    write(root / "data" / ".hidden", 10)
    write(root / "data" / "empty", 0)
    (root / "data" / "nothing-here").mkdir()
    return root
