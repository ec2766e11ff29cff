"""The emulated namenode's namespace: real files under a mount directory, blocks placed on named datanodes.

HDFS path ``/a/b`` is ``MOUNT/a/b``. A file of ``n`` bytes has ``ceil(n / block_size)`` blocks;
block ``i`` has ``replication`` replicas on distinct datanodes chosen by a generator seeded with
(seed, path, i), so placements are stable across runs and processes, and change only when the
path, the datanode list, the replication or the block size do (or a test pins them).

JSON shapes follow Hadoop's ``JsonUtil`` (FileStatus, BlockLocations, LocatedBlocks with
DatanodeInfo) as the WebHDFS REST documentation describes them.
"""

from __future__ import annotations

import grp
import hashlib
import math
import os
import posixpath
import pwd
import random
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLOCK_POOL_ID = "BP-1451417066-127.0.0.1-1700000000000"
XFER_PORT = 9866
INFO_PORT = 9864
IPC_PORT = 9867
GIB = 1 << 30

JAVA_CLASSES = {
    "FileNotFoundException": "java.io.FileNotFoundException",
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
    "UnsupportedOperationException": "java.lang.UnsupportedOperationException",
    "AccessControlException": "org.apache.hadoop.security.AccessControlException",
    "StandbyException": "org.apache.hadoop.ipc.StandbyException",
}


class RemoteError(Exception):
    """An error the namenode answers as ``{"RemoteException": {...}}`` with an HTTP status."""

    def __init__(self, status: int, exception: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.exception = exception
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "RemoteException": {
                "exception": self.exception,
                "javaClassName": JAVA_CLASSES.get(self.exception, "java.io.IOException"),
                "message": self.message,
            }
        }


def not_found(message: str) -> RemoteError:
    return RemoteError(404, "FileNotFoundException", message)


def unknown_op(op: str) -> RemoteError:
    """A NameNode's answer to an op name its ``GetOpParam.Op`` enum lacks (GETFILEBLOCKLOCATIONS before 3.2)."""
    return RemoteError(
        400,
        "IllegalArgumentException",
        f'Invalid value for webhdfs parameter "op": No enum constant '
        f"org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.{op}",
    )


@dataclass(frozen=True)
class Datanode:
    name: str  # the name given (an agent's host name)
    hostname: str  # as reported: name, plus ".domain" when one is set
    ip: str

    @property
    def xfer_name(self) -> str:
        return f"{self.ip}:{XFER_PORT}"

    def info(self, now_ms: int) -> dict[str, Any]:
        """``DatanodeInfo`` as ``JsonUtil.toJsonMap(DatanodeInfo)`` writes it."""
        return {
            "ipAddr": self.ip,
            "name": self.xfer_name,
            "hostName": self.hostname,
            "storageID": "DS-" + hashlib.md5(self.name.encode()).hexdigest()[:24],
            "xferPort": XFER_PORT,
            "infoPort": INFO_PORT,
            "infoSecurePort": 0,
            "ipcPort": IPC_PORT,
            "capacity": 100 * GIB,
            "dfsUsed": GIB,
            "nonDfsUsed": 0,
            "remaining": 99 * GIB,
            "blockPoolUsed": GIB,
            "cacheCapacity": 0,
            "cacheUsed": 0,
            "lastUpdate": now_ms,
            "lastUpdateMonotonic": now_ms,
            "xceiverCount": 1,
            "networkLocation": "/default-rack",
            "adminState": "NORMAL",
            "lastBlockReportTime": now_ms,
            "lastBlockReportMonotonic": now_ms,
        }


def parse_hosts(spec: str | Iterable[str], domain: str | None = None) -> list[Datanode]:
    """``agent1,agent2=10.1.0.2`` (or a list of such items) -> datanodes.

    Without ``=IP`` the i-th datanode gets ``10.0.<i // 250>.<i % 250 + 1>``.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    nodes = []
    for i, item in enumerate(x.strip() for x in items if x.strip()):
        name, _, ip = item.partition("=")
        ip = ip.strip() or f"10.0.{i // 250}.{i % 250 + 1}"
        name = name.strip()
        nodes.append(Datanode(name, f"{name}.{domain.strip('.')}" if domain else name, ip))
    if len({n.name for n in nodes}) != len(nodes):
        raise ValueError(f"duplicate datanode names in {spec!r}")
    return nodes


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Namespace:
    """The namespace and block map; every method takes normalized absolute HDFS paths."""

    def __init__(
        self,
        mount: str | os.PathLike[str],
        datanodes: Sequence[Datanode],
        *,
        replication: int = 3,
        block_size: int = 128 * 1024 * 1024,
        seed: int = 0,
    ) -> None:
        if not datanodes:
            raise ValueError("at least one datanode host is needed")
        if block_size <= 0 or replication <= 0:
            raise ValueError("block_size and replication must be positive")
        self.mount = Path(mount)
        self.datanodes = list(datanodes)
        self.by_name = {d.name: d for d in self.datanodes}
        self.replication = replication
        self.block_size = block_size
        self.seed = seed
        #: path -> per block, datanode names pinned by a test (blocks beyond the list are placed as usual).
        self.pins: dict[str, list[list[str]]] = {}

    # -- paths --------------------------------------------------------------------------------------

    @staticmethod
    def normalize(path: str) -> str:
        path = posixpath.normpath("/" + path.lstrip("/"))
        return "/" + path.lstrip("/")

    def local(self, path: str) -> Path:
        return self.mount / self.normalize(path).lstrip("/")

    def _stat(self, path: str, missing: str) -> os.stat_result:
        try:
            return os.stat(self.local(path))
        except (FileNotFoundError, NotADirectoryError):
            raise not_found(missing) from None
        except PermissionError:
            raise RemoteError(403, "AccessControlException", f"Permission denied: path={path}") from None

    # -- statuses -----------------------------------------------------------------------------------

    def file_status(self, path: str, suffix: str = "", st: os.stat_result | None = None) -> dict[str, Any]:
        """``FileStatus`` JSON; ``suffix`` is ``pathSuffix`` ("" for the queried path itself)."""
        st = st or self._stat(path, f"File does not exist: {path}")
        is_dir = stat.S_ISDIR(st.st_mode)
        children = 0
        if is_dir:
            try:
                children = sum(1 for _ in os.scandir(self.local(path)))
            except OSError:
                children = 0
        return {
            "accessTime": 0 if is_dir else _ms(st.st_atime),
            "blockSize": 0 if is_dir else self.block_size,
            "childrenNum": children,
            "fileId": 16385 + st.st_ino % 10**9,
            "group": _group(st.st_gid),
            "length": 0 if is_dir else st.st_size,
            "modificationTime": _ms(st.st_mtime),
            "owner": _user(st.st_uid),
            "pathSuffix": suffix,
            "permission": format(st.st_mode & 0o777, "o"),
            "replication": 0 if is_dir else self.replication,
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }

    def list_status(self, path: str) -> list[dict[str, Any]]:
        """``LISTSTATUS`` entries sorted by name; a file lists itself with ``pathSuffix`` ""."""
        st = self._stat(path, f"File {path} does not exist.")
        if not stat.S_ISDIR(st.st_mode):
            return [self.file_status(path, "", st)]
        try:
            names = sorted(os.listdir(self.local(path)))
        except PermissionError:
            raise RemoteError(403, "AccessControlException", f"Permission denied: path={path}") from None
        out = []
        for name in names:
            child = posixpath.join(path, name)
            try:
                out.append(self.file_status(child, name))
            except RemoteError:  # vanished or a dangling symbolic link
                continue
        return out

    def walk_files(self, under: str = "/") -> list[str]:
        """Every file's HDFS path below ``under`` (sorted)."""
        root = self.local(under)
        if root.is_file():
            return [self.normalize(under)]
        out: list[str] = []
        for dirpath, _dirs, files in os.walk(root):
            rel = os.path.relpath(dirpath, self.mount)
            base = "/" if rel == "." else "/" + rel.replace(os.sep, "/")
            out.extend(posixpath.join(base, f) for f in files if os.path.isfile(os.path.join(dirpath, f)))
        return sorted(out)

    # -- blocks -------------------------------------------------------------------------------------

    def replicas(self, path: str, index: int) -> list[Datanode]:
        """The datanodes holding block ``index`` of ``path``: pinned, or a seeded sample."""
        pinned = self.pins.get(path)
        if pinned is not None and index < len(pinned):
            return [self.by_name[n] for n in pinned[index]]
        digest = hashlib.sha256(f"{self.seed}\0{path}\0{index}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        return rng.sample(self.datanodes, min(self.replication, len(self.datanodes)))

    def pin(self, path: str, hosts: Sequence[Sequence[str]] | None) -> None:
        """Place ``path``'s blocks on the named datanodes (one list per block); None unpins."""
        path = self.normalize(path)
        if hosts is None:
            self.pins.pop(path, None)
            return
        for names in hosts:
            unknown = [n for n in names if n not in self.by_name]
            if unknown:
                raise ValueError(f"unknown datanode(s) {unknown}; known: {sorted(self.by_name)}")
        self.pins[path] = [list(names) for names in hosts]

    def _file(self, path: str) -> os.stat_result:
        st = self._stat(path, f"File does not exist: {path}")
        if stat.S_ISDIR(st.st_mode):
            raise not_found(f"Path is not a file: {path}")
        return st

    def blocks(self, path: str, st: os.stat_result | None = None) -> list[tuple[int, int, int, list[Datanode]]]:
        """(index, offset, length, datanodes) for every block of the file."""
        size = (st or self._file(path)).st_size
        count = math.ceil(size / self.block_size)
        return [
            (i, i * self.block_size, min(self.block_size, size - i * self.block_size), self.replicas(path, i))
            for i in range(count)
        ]

    def _range(self, path: str, offset: int, length: int | None) -> tuple[os.stat_result, list[Any]]:
        st = self._file(path)
        end = st.st_size if length is None else offset + length
        chosen = [b for b in self.blocks(path, st) if b[1] < end and b[1] + b[2] > offset]
        return st, chosen

    def block_locations(self, path: str, offset: int = 0, length: int | None = None) -> dict[str, Any]:
        """``GETFILEBLOCKLOCATIONS``: ``{"BlockLocations": {"BlockLocation": [...]}}``."""
        _st, chosen = self._range(path, offset, length)
        return {
            "BlockLocations": {
                "BlockLocation": [
                    {
                        "cachedHosts": [],
                        "corrupt": False,
                        "hosts": [d.hostname for d in nodes],
                        "names": [d.xfer_name for d in nodes],
                        "topologyPaths": [f"/default-rack/{d.xfer_name}" for d in nodes],
                        "storageTypes": ["DISK"] * len(nodes),
                        "offset": off,
                        "length": size,
                    }
                    for _i, off, size, nodes in chosen
                ]
            }
        }

    def _block_id(self, path: str, index: int) -> int:
        digest = hashlib.sha256(f"{path}\0{index}".encode()).digest()
        return 1073741825 + int.from_bytes(digest[:4], "big") % 10**9

    def _located(self, path: str, block: tuple[int, int, int, list[Datanode]], now_ms: int) -> dict[str, Any]:
        index, offset, size, nodes = block
        return {
            "block": {
                "blockPoolId": BLOCK_POOL_ID,
                "blockId": self._block_id(path, index),
                "numBytes": size,
                "generationStamp": 1001 + index,
            },
            "blockToken": {"urlString": "AAAAAA"},
            "cachedLocations": [],
            "isCorrupt": False,
            "locations": [d.info(now_ms) for d in nodes],
            "startOffset": offset,
            "storageTypes": ["DISK"] * len(nodes),
        }

    def located_blocks(self, path: str, offset: int = 0, length: int | None = None) -> dict[str, Any]:
        """``GET_BLOCK_LOCATIONS``: ``{"LocatedBlocks": {...}}`` (a closed file: complete, not under construction)."""
        st, chosen = self._range(path, offset, length)
        now_ms = _ms(st.st_mtime)
        every = self.blocks(path, st)
        return {
            "LocatedBlocks": {
                "fileLength": st.st_size,
                "isUnderConstruction": False,
                "isLastBlockComplete": True,
                "locatedBlocks": [self._located(path, b, now_ms) for b in chosen],
                "lastLocatedBlock": self._located(path, every[-1], now_ms) if every else None,
            }
        }

    def placements(self, under: str = "/") -> dict[str, list[dict[str, Any]]]:
        """path -> its blocks' ``offset``, ``length`` and ``hosts`` (as reported), for every file below ``under``."""
        out: dict[str, list[dict[str, Any]]] = {}
        for path in self.walk_files(under):
            try:
                blocks = self.blocks(path)
            except RemoteError:
                continue
            out[path] = [
                {"offset": off, "length": size, "hosts": [d.hostname for d in nodes]} for _i, off, size, nodes in blocks
            ]
        return out
