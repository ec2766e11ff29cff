"""Where a file's bytes live, as data: blocks, hosts, marked paths. No I/O here.

WebHDFS answers two shapes for a file's block locations (Hadoop's ``JsonUtil`` and the WebHDFS
REST documentation): ``BlockLocations`` from the public
``GETFILEBLOCKLOCATIONS`` op and ``LocatedBlocks`` from the older private
``GET_BLOCK_LOCATIONS``. Both become a tuple of :class:`Block`. The scheduler then only needs
per-host byte counts (:func:`host_bytes`) and the hosts tied for the most (:func:`best_hosts`),
with datanode names compared through :func:`canonical_host`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stratosd.core.locality import best_hosts, canonical_host  # one rule for datanodes and agents

__all__ = [
    "Block",
    "FileBlocks",
    "best_hosts",
    "canonical_host",
    "extract_marked",
    "has_magic",
    "host_bytes",
    "ip_bytes",
    "local_bytes",
    "located_blocks_to_block_locations",
    "match_segment",
    "parse_block_locations",
    "parse_located_blocks",
    "split_pattern",
    "strip_scheme",
    "to_hdfs",
    "to_mount",
]

#: ``<[path]>``: the shortest text between ``<[`` and the next ``]>`` (as the executor strips them).
_MARKER = re.compile(r"<\[(.*?)\]>", re.DOTALL)
_MAGIC = re.compile(r"[*?[]")
#: ``hdfs://authority/path`` or ``hdfs:///path``: the authority is dropped (we ask the configured namenode).
_SCHEME = re.compile(r"^(?:hdfs|webhdfs|swebhdfs)://[^/]*", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    """One block (or erasure-coded block group) of a file and the datanodes holding a replica.

    ``hosts`` are datanode host names as the namenode reports them; ``ips`` are the same
    datanodes' IP addresses in the same order ("" where the namenode gave none), or ``()``;
    ``names`` their ``ip:xferPort`` (what tells apart several datanodes sharing one address, as
    in a MiniDFSCluster or a test cluster on one machine), or ``()``.
    """

    offset: int
    length: int
    hosts: tuple[str, ...]
    ips: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def datanodes(self) -> dict[str, str]:
        """Datanode key -> host name for this block's replicas: the key is ``ip:xferPort`` where
        the namenode gave it, else the IP address (replicas with neither are left out)."""
        out = {}
        for i, host in enumerate(self.hosts):
            key = (self.names[i] if i < len(self.names) else "") or (self.ips[i] if i < len(self.ips) else "")
            if key and host:
                out[key] = host
        return out


@dataclass(frozen=True)
class FileBlocks:
    """A file's size (bytes), modification time (ms since the epoch, as HDFS) and blocks."""

    path: str
    size: int
    mtime: int
    blocks: tuple[Block, ...]


# -- host names ---------------------------------------------------------------------------------


def host_bytes(files: Sequence[FileBlocks | None]) -> list[tuple[str, int]]:
    """Per canonical host, the bytes of ``files`` it holds a replica of; most first, ties by name.

    A file listed twice counts once (same path); ``None`` entries (files not found) are skipped;
    a host listed twice for one block counts once.
    """
    return _bytes_by(files, lambda block: {canonical_host(h) for h in block.hosts if h})


def ip_bytes(files: Sequence[FileBlocks | None]) -> list[tuple[str, int]]:
    """Per datanode IP address, the bytes of ``files`` held there; most first, ties by address.

    An address counts a block once however many of its datanodes hold a replica (several
    datanodes may share one address); otherwise as :func:`host_bytes`.
    """
    return _bytes_by(files, lambda block: {ip for ip in block.ips if ip})


def _bytes_by(files: Sequence[FileBlocks | None], keys: Callable[[Block], set[str]]) -> list[tuple[str, int]]:
    """Bytes of ``files`` per key (a block counts once per key it names); most first, ties by key."""
    seen: set[str] = set()
    totals: dict[str, int] = {}
    for fb in files:
        if fb is None or fb.path in seen:
            continue
        seen.add(fb.path)
        for block in fb.blocks:
            for key in keys(block):
                totals[key] = totals.get(key, 0) + block.length
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def local_bytes(files: Sequence[FileBlocks | None], host: str) -> int:
    """The bytes of ``files`` that ``host`` (any spelling :func:`canonical_host` accepts) holds."""
    key = canonical_host(host)
    return next((size for name, size in host_bytes(files) if name == key), 0)


# -- markers and paths --------------------------------------------------------------------------


def extract_marked(command: str) -> list[str]:
    """The paths inside ``<[ ]>`` markers, in order (duplicates kept, text taken verbatim)."""
    if "<[" not in command:
        return []
    return _MARKER.findall(command)


def strip_scheme(path: str) -> str:
    """``hdfs://nn:8020/a/b`` or ``hdfs:///a/b`` -> ``/a/b``; other strings unchanged."""
    match = _SCHEME.match(path)
    if match is None:
        return path
    return path[match.end() :] or "/"


def has_magic(text: str) -> bool:
    """Whether ``text`` holds a glob wildcard (``*``, ``?`` or ``[``), as :mod:`glob` decides."""
    return _MAGIC.search(text) is not None


def split_pattern(pattern: str) -> list[str]:
    """An absolute HDFS path pattern's components: ``/a/*/c*`` -> ``["a", "*", "c*"]``.

    Raises ValueError for a relative pattern. ``.`` and ``..`` are resolved first.
    """
    path = strip_scheme(pattern)
    if not path.startswith("/"):
        raise ValueError(f"not an absolute HDFS path pattern: {pattern!r}")
    path = posixpath.normpath(path)
    return [part for part in path.split("/") if part]


def match_segment(name: str, segment: str) -> bool:
    """:func:`glob.glob`'s rule for one component: case-sensitive, and a leading dot must be matched literally."""
    if name.startswith(".") and not segment.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, segment)


# -- WebHDFS JSON -> Block ------------------------------------------------------------------------


def _ip_of(name: object) -> str:
    """``10.0.0.21:9866`` -> ``10.0.0.21``; ``[::1]:9866`` -> ``::1``; anything else -> ""."""
    if not isinstance(name, str) or not name:
        return ""
    text = name
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.rsplit(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def _name_of(name: str, ip: str) -> str:
    """``10.0.0.21:9866`` (its IP being ``ip``) as ``10.0.0.21:9866``; anything else -> ""."""
    if not ip or not name:
        return ""
    _, sep, port = name.rpartition(":")
    if not sep or not port.isdigit() or _ip_of(name) != ip:
        return ""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def parse_block_locations(payload: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> tuple[Block, ...]:
    """``GETFILEBLOCKLOCATIONS``' answer (the whole document or its ``BlockLocation`` list) as blocks.

    ``hosts`` come from ``hosts``; ``ips`` and ``names`` from ``names`` (``ip:xferPort``), falling
    back to the ``topologyPaths`` leaf. Unknown keys are ignored; blocks come out in offset order.
    """
    if isinstance(payload, Mapping):
        inner = payload.get("BlockLocations", payload)
        entries: Iterable[Any] = inner.get("BlockLocation") or [] if isinstance(inner, Mapping) else []
    else:
        entries = payload
    blocks = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        hosts = _strings(entry.get("hosts"))
        names = _strings(entry.get("names"))
        topology = _strings(entry.get("topologyPaths"))
        ips, keys = [], []
        for i in range(len(hosts)):
            name = names[i] if i < len(names) else ""
            ip = _ip_of(name)
            if not ip and i < len(topology):
                name = topology[i].rsplit("/", 1)[-1]
                ip = _ip_of(name)
            ips.append(ip)
            keys.append(_name_of(name, ip))
        blocks.append(
            Block(
                int(entry.get("offset", 0)),
                int(entry.get("length", 0)),
                tuple(hosts),
                tuple(ips) if any(ips) else (),
                tuple(keys) if any(keys) else (),
            )
        )
    return tuple(sorted(blocks, key=lambda b: b.offset))


def located_to_block_location(located: Mapping[str, Any]) -> dict[str, Any]:
    """One ``LocatedBlock`` (``GET_BLOCK_LOCATIONS``) as the ``BlockLocation`` the public op would give."""
    locations = [d for d in located.get("locations") or [] if isinstance(d, Mapping)]
    cached = [d for d in located.get("cachedLocations") or [] if isinstance(d, Mapping)]
    block = located.get("block") or {}

    def name(d: Mapping[str, Any]) -> str:
        if d.get("name"):
            return str(d["name"])
        ip, port = d.get("ipAddr", ""), d.get("xferPort")
        return f"{ip}:{port}" if ip and port is not None else str(ip)

    def host(d: Mapping[str, Any]) -> str:
        return str(d.get("hostName") or d.get("ipAddr") or "")

    return {
        "cachedHosts": [host(d) for d in cached],
        "corrupt": bool(located.get("isCorrupt", False)),
        "hosts": [host(d) for d in locations],
        "names": [name(d) for d in locations],
        "topologyPaths": [f"{d.get('networkLocation', '/default-rack')}/{name(d)}" for d in locations],
        "storageTypes": list(located.get("storageTypes") or []),
        "offset": int(located.get("startOffset", 0)),
        "length": int(block.get("numBytes", 0)) if isinstance(block, Mapping) else 0,
    }


def located_blocks_to_block_locations(
    payload: Mapping[str, Any], offset: int = 0, length: int | None = None
) -> list[dict[str, Any]]:
    """``{"LocatedBlocks": {...}}`` (or its inside) as a ``BlockLocation`` list, offset order.

    ``lastLocatedBlock`` is added when ``locatedBlocks`` lacks it and it overlaps the range
    asked for (``offset``, ``length``; None = to the end): the block being written of a file
    under construction is only there.
    """
    inner = payload.get("LocatedBlocks", payload)
    if not isinstance(inner, Mapping):
        return []
    located = [b for b in inner.get("locatedBlocks") or [] if isinstance(b, Mapping)]
    last = inner.get("lastLocatedBlock")
    if isinstance(last, Mapping) and all(b.get("startOffset") != last.get("startOffset") for b in located):
        start = int(last.get("startOffset", 0))
        block = last.get("block")
        size = int(block.get("numBytes", 0)) if isinstance(block, Mapping) else 0
        if (length is None or start < offset + length) and (start + size > offset or size == 0):
            located.append(last)
    out = [located_to_block_location(b) for b in located]
    out.sort(key=lambda b: int(b["offset"]))
    return out


def parse_located_blocks(payload: Mapping[str, Any]) -> tuple[Block, ...]:
    """``GET_BLOCK_LOCATIONS``' answer as blocks (host = ``hostName``, ip = ``ipAddr``)."""
    return parse_block_locations(located_blocks_to_block_locations(payload))


# -- mount prefix <-> HDFS paths -----------------------------------------------------------------


def _norm(path: str) -> str:
    path = posixpath.normpath(path)
    return "/" + path.lstrip("/") if path.startswith("//") else path


def to_hdfs(local_path: str, mount_prefix: str = "/dfs") -> str | None:
    """``/dfs/a/b`` -> ``/a/b`` for mount prefix ``/dfs``; None for a path outside the prefix.

    Purely textual (``.``/``..`` resolved, symbolic links not followed); a relative path is
    outside. A prefix of ``/`` maps every absolute path to itself.
    """
    if not local_path.startswith("/"):
        return None
    path, prefix = _norm(local_path), _norm(mount_prefix)
    if prefix == "/":
        return path
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return None


def to_mount(hdfs_path: str, mount_prefix: str = "/dfs") -> str:
    """``/a/b`` (or ``hdfs:///a/b``) -> ``/dfs/a/b``; raises ValueError for a relative path."""
    path = strip_scheme(hdfs_path)
    if not path.startswith("/"):
        raise ValueError(f"not an absolute HDFS path: {hdfs_path!r}")
    path, prefix = _norm(path), _norm(mount_prefix)
    if prefix == "/":
        return path
    return prefix if path == "/" else prefix + path
