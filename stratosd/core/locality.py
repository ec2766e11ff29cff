"""Matching a task's data to hosts: pure helpers the scheduler and the HDFS side share.

A task that marks files with `<[ ]>` carries, per host, how many of its marked bytes
that host holds. Its best hosts are those holding the most; it counts as data-local
when it runs on one of them.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

#: (canonical host, bytes of the task's marked files it holds), most bytes first.
HostBytes = tuple[tuple[str, int], ...]


@functools.lru_cache(maxsize=1 << 16)  # hot: every offer; a cluster's host names repeat
def canonical_host(name: str) -> str:
    """`NODE7.cluster.local.` -> `node7`; IP addresses stay as they are."""
    name = name.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        return name.split(".", 1)[0]


def best_hosts(host_bytes: Sequence[tuple[str, int]]) -> tuple[str, ...]:
    """The hosts tied for holding the most bytes (in any order); () when none holds any.

    The one definition: the HDFS side (``locality.blocks``) re-exports it.
    """
    top = max((size for _, size in host_bytes), default=0)
    if top <= 0:
        return ()
    return tuple(host for host, size in host_bytes if size == top)


def placed_figures(host: str, host_bytes: Sequence[tuple[str, int]], marked: int) -> tuple[int, int, int, int]:
    """What one task placed on ``host`` adds to its job's locality report: (1, 1 when ``host`` is
    one of its best hosts else 0, its marked bytes, the bytes of them ``host`` holds); zeros for a
    task without marked data or never placed (``host`` "")."""
    if not host_bytes or not host:
        return 0, 0, 0, 0
    where = canonical_host(host)
    held = next((size for name, size in host_bytes if name == where), 0)
    return 1, int(where in best_hosts(host_bytes)), marked, held


def normalize(host_bytes: dict[str, int]) -> HostBytes:
    """Canonical names, bytes added up per canonical host, most bytes first (ties by name);
    hosts holding none of the bytes are left out."""
    merged: dict[str, int] = {}
    for host, size in host_bytes.items():
        key = canonical_host(host)
        merged[key] = merged.get(key, 0) + size
    return tuple(sorted(((h, n) for h, n in merged.items() if n > 0), key=lambda item: (-item[1], item[0])))
