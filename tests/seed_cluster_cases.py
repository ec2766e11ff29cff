"""The seed's examples other than the gsnap batch, as cases for the real-cluster tests.

Each case runs the local test's own body (tests/integration/test_seed_examples.py) with a
cluster master, against a daemon the client auto-starts: the examples as written but for
the paths, with no daemon started beforehand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.test_seed_examples import (
    seed_map_reduce,
    seed_plain,
    seed_stream_incremental,
    seed_stream_object,
    seed_templates,
)

Case = Callable[[Path, dict[str, Any]], None]

CASES: dict[str, Case] = {
    "stream-incremental": lambda tmp, opts: seed_stream_incremental(**opts),
    "stream-object": lambda tmp, opts: seed_stream_object(**opts),
    "template-strings": lambda tmp, opts: seed_templates("strings", **opts),
    "template-lists": lambda tmp, opts: seed_templates("lists", **opts),
    "plain": lambda tmp, opts: seed_plain(**opts),
    "map-reduce": lambda tmp, opts: seed_map_reduce(tmp, **opts),
}
