"""Fixtures of the harness tier: a daemon's runtime in process (tests/harness/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.harness import Harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """One host of 2 cpus (the subprocess daemon tests' ``--cpus 2``); invariants checked at the end too."""
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        h.close()
