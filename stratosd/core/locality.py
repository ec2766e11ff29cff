"""Matching a task's data to hosts: pure helpers the scheduler and the HDFS side share.

A task that marks files with `<[ ]>` carries, per host, how many of its marked bytes
that host holds. Its best hosts are those holding the most; it counts as data-local
when it runs on one of them.
"""

from __future__ import annotations

import functools
import ipaddress

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


def best_hosts(host_bytes: HostBytes) -> tuple[str, ...]:
    """The hosts tied for holding the most bytes."""
    if not host_bytes:
        return ()
    top = host_bytes[0][1]
    return tuple(host for host, size in host_bytes if size == top)


def normalize(host_bytes: dict[str, int]) -> HostBytes:
    """Canonical names, bytes added up per canonical host, most bytes first (ties by name)."""
    merged: dict[str, int] = {}
    for host, size in host_bytes.items():
        key = canonical_host(host)
        merged[key] = merged.get(key, 0) + size
    return tuple(sorted(merged.items(), key=lambda item: (-item[1], item[0])))
