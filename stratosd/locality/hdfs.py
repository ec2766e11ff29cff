"""HDFS block locations over WebHDFS, for data-local placement.

Theory of operation
-------------------
:class:`LocalityClient` is HdfsCLI's :class:`hdfs.Client` plus the two operations HdfsCLI lacks:
``GETFILEBLOCKLOCATIONS`` (public, NameNode >= 3.2) and, when the namenode answers 400 for it
(an older NameNode rejects the op name with ``IllegalArgumentException``; HttpFS answers 400 too),
the private ``GET_BLOCK_LOCATIONS`` whose ``LocatedBlocks`` are converted to the public shape.
Once a namenode has rejected the public op the client goes straight to the private one.
It is synchronous (``requests``), as HdfsCLI is.

:class:`BlockLocator` is the daemon's asyncio face. Every look-up runs in a bounded thread pool
(``max_workers`` threads, one shared HTTP connection pool of the same size), so a submission's
files are looked up concurrently without blocking the event loop. Per file it keeps:

* the last ``FileStatus`` seen (from ``GETFILESTATUS`` or from a ``LISTSTATUS`` made by
  :meth:`BlockLocator.glob`), trusted for ``status_ttl`` seconds (default 2 s; 0 = ask every time);
* the file's blocks, reused while the status shows the same modification time and length and
  the blocks are younger than ``block_ttl`` (default 10 min: replicas move without the file
  changing, e.g. after a datanode dies; locality is a hint, so this staleness is harmless).

So a first look-up costs two requests, a repeat within ``status_ttl`` none, a later one one.

Errors: a missing path, a directory, or a file the user may not read is ``None`` in the
result. Anything else (connection refused or timed out, HTTP 5xx, standby namenodes only,
authentication failure, a namenode that supports neither block op, an unparsable answer)
makes the whole call raise :class:`LocalityUnavailable` at the first such failure: the
remaining look-ups are cancelled, and for ``retry_after`` seconds further calls raise at once
without touching the network. Each request is bounded by ``timeout`` (connect and read), so
an unreachable namenode is reported within about ``timeout`` seconds (per namenode URL, when
several HA URLs are configured and all fail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from getpass import getuser
from typing import Any, TypeVar

import requests
from hdfs.client import Client, _Request  # type: ignore[import-untyped,unused-ignore]
from hdfs.config import Config  # type: ignore[import-untyped,unused-ignore]
from hdfs.util import HdfsError  # type: ignore[import-untyped,unused-ignore]
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError

from stratosd.locality.blocks import (
    Block,
    FileBlocks,
    best_hosts,
    canonical_host,
    extract_marked,
    has_magic,
    host_bytes,
    ip_bytes,
    local_bytes,
    located_blocks_to_block_locations,
    match_segment,
    parse_block_locations,
    split_pattern,
    strip_scheme,
    to_hdfs,
    to_mount,
)

# The Kerberos extension registers ``KerberosClient`` for ``client = KerberosClient`` aliases; it
# needs requests-kerberos, which may be absent.
with contextlib.suppress(ImportError):
    import hdfs.ext.kerberos  # type: ignore[import-untyped,unused-ignore]  # noqa: F401

__all__ = [
    "Block",
    "BlockLocator",
    "CommandLocality",
    "FileBlocks",
    "LocalityClient",
    "LocalityConfigError",
    "LocalityUnavailable",
    "WebHdfsError",
    "best_hosts",
    "canonical_host",
    "extract_marked",
    "host_bytes",
    "ip_bytes",
    "local_bytes",
]

log = logging.getLogger("stratosd.locality")

T = TypeVar("T")
Status = dict[str, Any]

#: RemoteException names that concern one path, not the namenode: the path's result is None.
PER_PATH_EXCEPTIONS = frozenset({"FileNotFoundException", "AccessControlException"})


class LocalityUnavailable(Exception):
    """The namenode cannot be reached or used: schedule without locality (the job must not fail)."""


class LocalityConfigError(ValueError):
    """The namenode setting is unusable: an unknown HdfsCLI alias or client class, a bad URL."""


class WebHdfsError(HdfsError):  # type: ignore[misc,unused-ignore]
    """A WebHDFS error answer: HTTP ``status``, RemoteException ``exception`` name and message."""

    def __init__(self, message: str, *, status: int = 0, exception: str | None = None) -> None:
        super().__init__(message, exception=exception)
        self.status = status

    @property
    def per_path(self) -> bool:
        """Whether this concerns the path only (missing, not a file, no permission).

        A 404 without a RemoteException body is no namenode's answer (a wrong address): not per path.
        """
        return self.exception in PER_PATH_EXCEPTIONS


def _error(response: requests.Response) -> WebHdfsError:
    """A non-2xx WebHDFS answer as :class:`WebHdfsError` (RemoteException JSON when there is one)."""
    exception: str | None = None
    message = ""
    try:
        remote = response.json()["RemoteException"]
        exception = remote.get("exception")
        message = str(remote.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        message = response.text[:300]
    return WebHdfsError(
        f"{response.status_code} {exception or 'error'}: {message}".strip(),
        status=response.status_code,
        exception=exception,
    )


class LocalityClient(Client):  # type: ignore[misc,unused-ignore]
    """HdfsCLI's WebHDFS client with block locations (and status/listing calls that tell "missing" apart).

    Args:
        url: the namenode's WebHDFS address, ``http://namenode:9870`` (HA: several, ``;``-separated).
        user: ``user.name`` sent with every request (security off); default: the current user.
            Ignored when ``session`` is given (it carries its own authentication).
        root, proxy, timeout, session: as :class:`hdfs.Client`.
        pool_size: HTTP connections kept per namenode (set it to the number of calling threads).
    """

    _get_file_block_locations = _Request("GET")  # the metaclass makes it op=GETFILEBLOCKLOCATIONS
    # The op name keeps its underscores, which the metaclass' naming rule would strip.
    _get_block_locations_legacy = _Request("GET").to_method("GET_BLOCK_LOCATIONS")

    #: None until the namenode answered a block op; True once it rejected GETFILEBLOCKLOCATIONS.
    legacy: bool | None = None

    def __init__(
        self,
        url: str,
        user: str | None = None,
        *,
        root: str | None = None,
        proxy: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        session: requests.Session | None = None,
        pool_size: int = 16,
    ) -> None:
        if not url or not all(u.strip().startswith(("http://", "https://")) for u in url.split(";") if u.strip()):
            raise LocalityConfigError(f"not a WebHDFS address (http[s]://host:port): {url!r}")
        if session is None:
            session = requests.Session()
            session.params = {"user.name": user or getuser()}
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_size))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self.session = session
        super().__init__(url, root=root, proxy=proxy, timeout=timeout, session=session)

    @classmethod
    def from_client(cls, client: Any, *, timeout: float | None = None, pool_size: int = 16) -> LocalityClient:
        """The same namenode, authentication (session), root, proxy and timeout as another HdfsCLI client.

        ``timeout`` applies when ``client`` has none.
        """
        if isinstance(client, LocalityClient):
            return client
        return cls(
            client.url,
            root=client.root,
            proxy=getattr(client, "_proxy", None),
            timeout=getattr(client, "_timeout", None) or timeout,
            session=getattr(client, "_session", None) or requests.Session(),
            pool_size=pool_size,
        )

    @classmethod
    def from_alias(
        cls,
        alias: str | None = None,
        *,
        config_path: str | None = None,
        timeout: float | None = None,
        pool_size: int = 16,
    ) -> LocalityClient:
        """The client of an HdfsCLI alias (``[ALIAS.alias]`` in ``~/.hdfscli.cfg`` or ``$HDFSCLI_CONFIG``).

        Whatever client class the alias names (``InsecureClient``, ``TokenClient``,
        ``KerberosClient`` when requests-kerberos is installed, or one from ``autoload.modules``)
        builds the session; this class reuses it. ``None`` means the config's ``default.alias``.

        Raises:
            LocalityConfigError: no such alias, an unknown client class, invalid options, or an
                ``autoload`` module that cannot be loaded.
        """
        try:
            base = Config(config_path).get_client(alias)
        except HdfsError as exc:
            raise LocalityConfigError(f"HdfsCLI alias {alias!r}: {exc}") from exc
        except SystemExit as exc:  # Config exits when an autoload module fails to import
            raise LocalityConfigError(f"HdfsCLI config: an autoload module could not be loaded ({exc})") from exc
        return cls.from_client(base, timeout=timeout, pool_size=pool_size)

    # -- calls ------------------------------------------------------------------------------------

    def file_status(self, hdfs_path: str) -> Status | None:
        """``GETFILESTATUS``; None when the path does not exist. Raises :class:`WebHdfsError` otherwise."""
        response = self._get_file_status(hdfs_path, strict=False)
        if not response.ok:
            err = _error(response)
            if err.exception == "FileNotFoundException":
                return None
            raise err
        status: Status = response.json()["FileStatus"]
        return status

    def list_status(self, hdfs_path: str) -> list[Status] | None:
        """``LISTSTATUS`` entries (``pathSuffix`` = child name); None when the path does not exist.

        A file's listing is its own status with ``pathSuffix`` "".
        """
        response = self._list_status(hdfs_path, strict=False)
        if not response.ok:
            err = _error(response)
            if err.exception == "FileNotFoundException":
                return None
            raise err
        entries: list[Status] = response.json()["FileStatuses"]["FileStatus"] or []
        return entries

    def file_block_locations(self, hdfs_path: str, offset: int = 0, length: int | None = None) -> list[dict[str, Any]]:
        """The file's ``BlockLocation`` list (offset order), from either block op.

        Raises:
            WebHdfsError: ``FileNotFoundException`` for a missing path or a directory; status
                400 with ``UnsupportedOperationException`` when the namenode has neither op.
        """
        params: dict[str, Any] = {"offset": offset}
        if length is not None:
            params["length"] = length
        if self.legacy is not True:
            response = self._get_file_block_locations(hdfs_path, strict=False, **params)
            if response.ok:
                self.legacy = False
                return list(response.json()["BlockLocations"]["BlockLocation"] or [])
            err = _error(response)
            if err.status != 400:
                raise err
            log.info("%s: GETFILEBLOCKLOCATIONS unsupported (%s); using GET_BLOCK_LOCATIONS", self.url, err)
            self.legacy = True
        response = self._get_block_locations_legacy(hdfs_path, strict=False, **params)
        if response.ok:
            return located_blocks_to_block_locations(response.json(), offset, length)
        err = _error(response)
        if err.status == 400:
            self.legacy = None  # ask again next time: the namenode may have been upgraded
            raise WebHdfsError(
                f"{self.url} answers neither GETFILEBLOCKLOCATIONS nor GET_BLOCK_LOCATIONS ({err})",
                status=400,
                exception="UnsupportedOperationException",
            )
        raise err

    def blocks(self, hdfs_path: str) -> tuple[Block, ...]:
        """The file's blocks with their datanodes' host names (and IPs)."""
        return parse_block_locations(self.file_block_locations(hdfs_path))


# -- the daemon's face ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandLocality:
    """Where one command's marked (``<[ ]>``) files live.

    ``host_bytes``: per canonical host, the marked bytes it holds, most first (ties by name);
    ``total_bytes``: the marked files' size (each file once); ``unresolved``: marked paths
    outside the mount prefix or not found in HDFS (in order, as written); ``ip_bytes``: per
    datanode IP address, the marked bytes held there (as ``host_bytes``).
    """

    host_bytes: tuple[tuple[str, int], ...]
    total_bytes: int
    unresolved: tuple[str, ...]
    ip_bytes: tuple[tuple[str, int], ...] = ()

    @property
    def best_hosts(self) -> tuple[str, ...]:
        return best_hosts(self.host_bytes)

    def held(self) -> dict[str, int]:
        """Host name or IP address -> marked bytes held there: what placement matches agents against.

        Agents known by IP address match the datanodes at that address, computed from the blocks
        themselves, so several datanodes sharing one address (distinct ports) all count for it.
        A datanode whose host name is its address counts once.
        """
        held = dict(self.host_bytes)
        for ip, size in self.ip_bytes:
            held[ip] = max(held.get(ip, 0), size)
        return held


@dataclass
class _Cached:
    files: FileBlocks
    fetched: float


class _Aborted(Exception):
    """Another look-up of the same call failed; this one gives up without a request."""


class BlockLocator:
    """Resolves HDFS paths to their blocks' hosts, concurrently and cached (see the module doc).

    Args:
        namenode: a WebHDFS URL (``http://namenode:9870``; HA: ``;``-separated), an HdfsCLI
            alias (any string without ``://``), or a factory returning an HdfsCLI client.
        mount_prefix: where HDFS is mounted on every node (``/dfs/a/b`` is HDFS ``/a/b``).
        max_workers: concurrent WebHDFS requests.
        timeout: seconds, per request (connect and read).
        user: ``user.name`` for a URL (default: the current user).
        config_path: the HdfsCLI config file for an alias (default ``$HDFSCLI_CONFIG`` or ``~/.hdfscli.cfg``).
        status_ttl: seconds a file status (its modification time) is trusted without asking again.
        block_ttl: seconds a file's block locations are reused while its modification time is unchanged.
        retry_after: seconds after a failure during which calls raise at once (default: ``timeout``).
        cache_size: files remembered (least recently used dropped first).

    Raises:
        LocalityConfigError: the namenode setting is unusable (checked here, without network I/O).
    """

    def __init__(
        self,
        namenode: str | Callable[[], Any],
        *,
        mount_prefix: str = "/dfs",
        max_workers: int = 16,
        timeout: float = 10.0,
        user: str | None = None,
        config_path: str | None = None,
        status_ttl: float = 2.0,
        block_ttl: float = 600.0,
        retry_after: float | None = None,
        cache_size: int = 100_000,
    ) -> None:
        if not mount_prefix.startswith("/"):
            raise LocalityConfigError(f"the mount prefix must be an absolute path: {mount_prefix!r}")
        self.mount_prefix = mount_prefix
        self.timeout = timeout
        self.status_ttl = status_ttl
        self.block_ttl = block_ttl
        self.retry_after = timeout if retry_after is None else retry_after
        self.cache_size = cache_size
        if callable(namenode):
            self.client = LocalityClient.from_client(namenode(), timeout=timeout, pool_size=max_workers)
        elif "://" in namenode:
            self.client = LocalityClient(namenode, user, timeout=(timeout, timeout), pool_size=max_workers)
        else:
            self.client = LocalityClient.from_alias(
                namenode or None, config_path=config_path, timeout=timeout, pool_size=max_workers
            )
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="stratos-webhdfs")
        self._lock = threading.Lock()
        self._files: OrderedDict[str, _Cached] = OrderedDict()
        self._status: OrderedDict[str, tuple[Status, float]] = OrderedDict()
        self._datanodes: dict[str, str] = {}
        self._down_until = 0.0
        self._down_reason = ""

    # -- paths --------------------------------------------------------------------------------------

    def to_hdfs(self, local_path: str) -> str | None:
        """``/dfs/a/b`` -> ``/a/b``; None for a path outside the mount prefix."""
        return to_hdfs(local_path, self.mount_prefix)

    def to_mount(self, hdfs_path: str) -> str:
        """``/a/b`` (or ``hdfs:///a/b``) -> ``/dfs/a/b``."""
        return to_mount(hdfs_path, self.mount_prefix)

    def datanodes(self) -> dict[str, str]:
        """``ip:xferPort`` (or the IP address where no port was given) -> host name, for every
        datanode seen in a block location so far. Datanodes sharing an address stay apart."""
        with self._lock:
            return dict(self._datanodes)

    @property
    def available(self) -> bool:
        """False while a recent failure makes calls raise without trying (``retry_after``)."""
        return time.monotonic() >= self._down_until

    # -- public calls -------------------------------------------------------------------------------

    async def locate(self, paths: Sequence[str]) -> dict[str, FileBlocks | None]:
        """Each HDFS path (``/a/b`` or ``hdfs:///a/b``) -> its blocks, or None (missing, a directory,
        not readable, or not an absolute path). Keys are the paths as given.

        Raises:
            LocalityUnavailable: the namenode could not be reached or used (see the module doc).
        """
        wanted = {p: self._hdfs_path(p) for p in paths}
        unique = sorted({p for p in wanted.values() if p is not None})
        found = dict(zip(unique, await self._run_all(self._locate_one, unique), strict=True)) if unique else {}
        return {given: (found[p] if p is not None else None) for given, p in wanted.items()}

    async def locate_commands(self, commands: Sequence[str], mount_prefix: str | None = None) -> list[CommandLocality]:
        """:class:`CommandLocality` per command: its markers' mounted paths, located in one batch.

        ``mount_prefix`` overrides the locator's (a job's own ``hdfs_mount``).

        Raises:
            LocalityUnavailable: as :meth:`locate`.
        """
        prefix = self.mount_prefix if mount_prefix is None else mount_prefix
        marked = [extract_marked(c) for c in commands]
        hdfs_of = {p: to_hdfs(p, prefix) for paths in marked for p in paths}
        found = await self.locate(sorted({h for h in hdfs_of.values() if h is not None}))
        out = []
        for paths in marked:
            files = {h: found[h] for p in paths if (h := hdfs_of[p]) is not None}
            located = [f for f in files.values() if f is not None]
            out.append(
                CommandLocality(
                    tuple(host_bytes(located)),
                    sum(f.size for f in located),
                    tuple(p for p in paths if hdfs_of[p] is None or files.get(hdfs_of[p] or "") is None),
                    tuple(ip_bytes(located)),
                )
            )
        return out

    async def glob(self, pattern: str) -> list[str]:
        """HDFS paths matching ``pattern`` (``hdfs:///dir/*_2*`` or ``/dir/*_2*``), sorted.

        Client-side, as :func:`glob.glob` on a mounted path: ``*``, ``?`` and ``[...]`` per
        path component (a leading dot must be matched literally; no ``**`` recursion, no
        braces); wildcard components are expanded with ``LISTSTATUS``, literal ones checked
        with ``GETFILESTATUS``. No match (or a missing directory) gives [].

        Raises:
            ValueError: a relative pattern.
            LocalityUnavailable: the namenode could not be reached or used.
        """
        parts = split_pattern(pattern)
        candidates = ["/"]
        checked = True  # every candidate is known to exist
        for i, segment in enumerate(parts):
            if not has_magic(segment):
                candidates = [_join(c, segment) for c in candidates]
                checked = False
                continue
            last = i == len(parts) - 1
            listings = await self._run_all(self._list_one, candidates)
            matched = []
            now = time.monotonic()
            for parent, entries in zip(candidates, listings, strict=True):
                for entry in entries:
                    name = str(entry.get("pathSuffix", ""))
                    if not name or not match_segment(name, segment):
                        continue
                    if not last and entry.get("type") != "DIRECTORY":
                        continue
                    path = _join(parent, name)
                    matched.append(path)
                    if entry.get("type") == "FILE":
                        self._remember_status(path, entry, now)
            candidates, checked = matched, True
            if not candidates:
                return []
        if not checked:
            statuses = await self._run_all(self._status_one, candidates)
            candidates = [c for c, s in zip(candidates, statuses, strict=True) if s is not None]
        return sorted(set(candidates))

    def close(self) -> None:
        """Stop the worker threads (look-ups in flight end within ``timeout``) and the HTTP pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.session.close()

    async def __aenter__(self) -> BlockLocator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # -- machinery ----------------------------------------------------------------------------------

    def _hdfs_path(self, path: str) -> str | None:
        text = strip_scheme(path)
        if not text.startswith("/"):
            return None
        return "/" + "/".join(split_pattern(text))

    async def _run_all(self, fn: Callable[[str, threading.Event], T], items: Sequence[str]) -> list[T]:
        """``fn(item, abort)`` for every item in the pool; the first LocalityUnavailable cancels the rest."""
        if time.monotonic() < self._down_until:
            raise LocalityUnavailable(self._down_reason)
        loop = asyncio.get_running_loop()
        abort = threading.Event()
        futures: list[asyncio.Future[T]] = []
        try:
            for item in items:
                futures.append(loop.run_in_executor(self._pool, fn, item, abort))
            return list(await asyncio.gather(*futures))
        except BaseException as exc:
            abort.set()
            for future in futures:
                future.cancel()
            if isinstance(exc, LocalityUnavailable):
                self._down_reason = str(exc)
                self._down_until = time.monotonic() + self.retry_after
                log.warning("HDFS locality unavailable: %s", exc)
                raise
            if isinstance(exc, _Aborted | RuntimeError):  # _Aborted cannot come first; RuntimeError: closed
                raise LocalityUnavailable(f"WebHDFS look-up failed: {exc!r}") from exc
            raise

    def _call(self, abort: threading.Event, fn: Callable[[], T]) -> T:
        """One WebHDFS request; errors that are not about the path become LocalityUnavailable."""
        if abort.is_set():
            raise _Aborted
        try:
            try:
                return fn()
            except requests.ConnectionError as exc:
                # A kept-alive connection the namenode closed meanwhile: once more on a new one.
                if not exc.args or not isinstance(exc.args[0], ProtocolError) or abort.is_set():
                    raise
                return fn()
        except WebHdfsError as exc:
            if exc.per_path:
                raise
            raise LocalityUnavailable(f"namenode {self.client.url}: {exc}") from exc
        except (requests.RequestException, HdfsError, ValueError, KeyError, TypeError) as exc:
            # connection refused/timed out, standby only, 401, unparsable JSON: the namenode is unusable
            raise LocalityUnavailable(f"namenode {self.client.url}: {type(exc).__name__}: {exc}") from exc

    def _status_one(self, path: str, abort: threading.Event) -> Status | None:
        try:
            return self._call(abort, lambda: self.client.file_status(path))
        except WebHdfsError as exc:  # per-path: no permission
            log.info("HDFS %s: %s", path, exc)
            return None

    def _list_one(self, path: str, abort: threading.Event) -> list[Status]:
        try:
            return self._call(abort, lambda: self.client.list_status(path)) or []
        except WebHdfsError as exc:
            log.info("HDFS %s: %s", path, exc)
            return []

    def _remember_status(self, path: str, status: Status, now: float) -> None:
        with self._lock:
            self._status[path] = (status, now)
            self._status.move_to_end(path)
            while len(self._status) > self.cache_size:
                self._status.popitem(last=False)

    def _forget(self, path: str) -> None:
        with self._lock:
            self._status.pop(path, None)
            self._files.pop(path, None)

    def _locate_one(self, path: str, abort: threading.Event) -> FileBlocks | None:
        now = time.monotonic()
        with self._lock:
            seen = self._status.get(path)
            cached = self._files.get(path)
        if seen is not None and now - seen[1] < self.status_ttl:
            status: Status = seen[0]
        else:
            fresh = self._status_one(path, abort)
            if fresh is None:
                self._forget(path)
                return None
            status = fresh
            self._remember_status(path, status, now)
        if status.get("type") != "FILE":
            return None
        try:
            size, mtime = int(status["length"]), int(status["modificationTime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LocalityUnavailable(f"namenode {self.client.url}: bad FileStatus for {path}: {status}") from exc
        if (
            cached is not None
            and cached.files.mtime == mtime
            and cached.files.size == size
            and now - cached.fetched < self.block_ttl
        ):
            with self._lock:
                if path in self._files:
                    self._files.move_to_end(path)
            return cached.files
        try:
            blocks = self._call(abort, lambda: self.client.blocks(path))
        except WebHdfsError as exc:  # removed (or replaced by a directory) since its status
            log.info("HDFS %s: %s", path, exc)
            self._forget(path)
            return None
        files = FileBlocks(path, size, mtime, blocks)
        with self._lock:
            self._files[path] = _Cached(files, now)
            self._files.move_to_end(path)
            while len(self._files) > self.cache_size:
                self._files.popitem(last=False)
            for block in blocks:
                self._datanodes.update(block.datanodes())
        return files


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name
