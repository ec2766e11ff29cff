"""HTTP face of the WebHDFS namenode emulator (aiohttp) and :class:`WebHdfsEmulator`, the in-process handle.

Two listeners:

* the namenode port (``url``): ``GET /webhdfs/v1/<path>?op=...`` plus the admin routes;
* the admin port (``admin_url``): the admin routes only, so a test can bring the namenode
  port back after ``down``.

Admin routes (JSON): ``GET /emulator/placements[?path=/dir]``; ``POST /emulator/placements``
``{"path": "/a", "hosts": [["agent1", "agent2"], ...] | null}`` (pin / unpin);
``POST /emulator/down`` ``{"mode": "refuse" | "hang" | "503", "seconds": optional}``;
``POST /emulator/up``; ``GET /emulator/stats`` (requests per op, ``down`` mode, ``max_inflight``);
``POST /emulator/stats/reset``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from .namespace import Namespace, RemoteError, parse_hosts, unknown_op

JSON_TYPE = "application/json"
#: GetOpParam.Op values a 3.x NameNode knows but this emulator does not serve.
KNOWN_GET_OPS = frozenset(
    {
        "OPEN", "GETCONTENTSUMMARY", "GETQUOTAUSAGE", "GETFILECHECKSUM", "GETDELEGATIONTOKEN",
        "GETTRASHROOT", "GETXATTRS", "LISTXATTRS", "GETACLSTATUS", "CHECKACCESS", "GETALLSTORAGEPOLICY",
        "GETSTORAGEPOLICY", "GETSNAPSHOTDIFF", "GETSNAPSHOTTABLEDIRECTORYLIST", "GETSNAPSHOTLIST",
        "GETSERVERDEFAULTS", "GETLINKTARGET", "GETFILELINKSTATUS", "GETSTATUS", "GETECPOLICIES",
        "GETECCODECS", "GETTRASHROOTS", "LISTSTATUS_BATCH", "GETSNAPSHOTDIFFLISTING", "GETECPOLICY",
        "NULL",
    }
)  # fmt: skip
SERVED_OPS = frozenset(
    {"GETFILESTATUS", "LISTSTATUS", "GETFILEBLOCKLOCATIONS", "GET_BLOCK_LOCATIONS", "GETHOMEDIRECTORY"}
)
DOWN_MODES = ("refuse", "hang", "503")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type=JSON_TYPE)


def _remote(err: RemoteError) -> web.Response:
    return _json(err.body(), err.status)


def _long(query: Any, name: str, default: int | None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RemoteError(
            400, "IllegalArgumentException", f'Invalid value for webhdfs parameter "{name}": For input string: "{raw}"'
        ) from None
    if value < 0:
        raise RemoteError(
            400,
            "IllegalArgumentException",
            f'Invalid value for webhdfs parameter "{name}": Invalid parameter range: {name} = {value} < 0',
        )
    return value


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class WebHdfsEmulator:
    """A WebHDFS namenode serving the files under ``mount`` with blocks on the named ``hosts``.

    ``async with WebHdfsEmulator(mount=d, hosts=["agent1", "agent2"], replication=3) as nn: nn.url``.

    Args:
        mount: the directory whose contents are the HDFS namespace (HDFS ``/a/b`` = ``mount/a/b``).
        hosts: datanode names, optionally ``name=ip``; an agent's host name to match Mesos agents.
        replication: replicas per block (capped at the number of hosts).
        block_size: bytes per block.
        old: a namenode before Hadoop 3.2: ``GETFILEBLOCKLOCATIONS`` is an unknown op (400).
        domain: report datanode host names as ``name.domain`` (FQDNs).
        host, port, admin_port: where to listen (0 = any free port).
        seed: changes every placement.
        latency: seconds each WebHDFS request waits before it is answered (a slow namenode).
    """

    def __init__(
        self,
        mount: str | os.PathLike[str],
        hosts: str | Iterable[str] = ("agent1", "agent2", "agent3"),
        *,
        replication: int = 3,
        block_size: int = 128 * 1024 * 1024,
        old: bool = False,
        domain: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_port: int = 0,
        seed: int = 0,
        latency: float = 0.0,
    ) -> None:
        self.namespace = Namespace(
            mount, parse_hosts(hosts, domain), replication=replication, block_size=block_size, seed=seed
        )
        #: ops answered as unknown (``--old`` adds GETFILEBLOCKLOCATIONS); tests may add more.
        self.disabled_ops: set[str] = {"GETFILEBLOCKLOCATIONS"} if old else set()
        self.host = host
        self._requested = (port, admin_port)
        self.port = 0
        self.admin_port = 0
        #: requests served per op (and "admin").
        self.counts: Counter[str] = Counter()
        self.latency = latency
        #: WebHDFS requests being answered now, and the most at once so far.
        self.inflight = 0
        self.max_inflight = 0
        #: None while up; else "refuse", "hang" or "503".
        self.down_mode: str | None = None
        self._resume = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._admin_runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._auto_up: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.admin_port}"

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> WebHdfsEmulator:
        self._runner = web.AppRunner(self._app(admin_only=False), access_log=None, shutdown_timeout=0.5)
        self._admin_runner = web.AppRunner(self._app(admin_only=True), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._admin_runner.setup()
        sock = _bind(self.host, self._requested[0])
        self.port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()
        admin_sock = _bind(self.host, self._requested[1])
        self.admin_port = admin_sock.getsockname()[1]
        await web.SockSite(self._admin_runner, admin_sock).start()
        return self

    async def stop(self) -> None:
        self._resume.set()
        for task in [*self._tasks, *([self._auto_up] if self._auto_up else [])]:
            task.cancel()
        for runner in (self._runner, self._admin_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._admin_runner = self._site = None

    async def __aenter__(self) -> WebHdfsEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- failure injection and introspection ----------------------------------------------------------

    async def down(self, mode: str = "refuse", seconds: float | None = None) -> None:
        """Make the namenode unreachable: ``refuse`` closes its listener and open connections
        (clients get connection refused), ``hang`` accepts but answers nothing until :meth:`up`,
        ``503`` answers every request 503 (as a proxy in front of a dead namenode).
        ``seconds`` brings it back by itself."""
        if mode not in DOWN_MODES:
            raise ValueError(f"mode must be one of {DOWN_MODES}")
        await self.up()
        self.down_mode = mode
        self._resume.clear()
        if mode == "refuse" and self._site is not None and self._runner is not None:
            site, self._site = self._site, None
            await site.stop()
            server = self._runner.server
            for conn in server.connections if server is not None else ():
                conn.force_close()
        if seconds is not None:
            self._auto_up = asyncio.create_task(self._up_later(seconds))

    async def _up_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._auto_up = None
        await self.up()

    async def up(self) -> None:
        """Serve again (the same port)."""
        if self._auto_up is not None and self._auto_up is not asyncio.current_task():
            self._auto_up.cancel()
            self._auto_up = None
        if self.down_mode == "refuse" and self._runner is not None:
            self._site = web.SockSite(self._runner, _bind(self.host, self.port))
            await self._site.start()
        self.down_mode = None
        self._resume.set()

    def reset_stats(self) -> None:
        self.counts.clear()
        self.max_inflight = self.inflight

    def placements(self, path: str = "/") -> dict[str, list[dict[str, Any]]]:
        """HDFS path -> its blocks (``offset``, ``length``, ``hosts`` as reported) for every file below ``path``."""
        return self.namespace.placements(path)

    def pin(self, path: str, hosts: list[list[str]] | None) -> None:
        """Put ``path``'s blocks on these datanodes (one list of names per block); None: back to the seeded choice."""
        self.namespace.pin(path, hosts)

    # -- HTTP -------------------------------------------------------------------------------------------

    def _app(self, *, admin_only: bool) -> web.Application:
        app = web.Application(middlewares=[] if admin_only else [self._outage])
        app.add_routes(
            [
                web.get("/emulator/placements", self._get_placements),
                web.post("/emulator/placements", self._post_placements),
                web.post("/emulator/down", self._post_down),
                web.post("/emulator/up", self._post_up),
                web.get("/emulator/stats", self._get_stats),
                web.post("/emulator/stats/reset", self._reset_stats),
            ]
        )
        if not admin_only:
            app.add_routes([web.route("*", "/webhdfs/v1{path:.*}", self._webhdfs)])
        return app

    @web.middleware
    async def _outage(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/webhdfs/") and self.down_mode is not None:
            if self.down_mode == "503":
                return web.Response(status=503, text="<html><body>503 Service Unavailable</body></html>",
                                    content_type="text/html")  # fmt: skip
            await self._resume.wait()
        return await handler(request)

    async def _webhdfs(self, request: web.Request) -> web.Response:
        op = request.query.get("op", "").upper()
        self.counts[op or "(none)"] += 1
        path = self.namespace.normalize(request.match_info["path"] or "/")
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            if request.method != "GET":
                raise RemoteError(
                    400, "UnsupportedOperationException", f"{request.method} {op}: the emulator is read-only"
                )
            if not op:
                raise RemoteError(400, "IllegalArgumentException", 'Invalid value for webhdfs parameter "op": null')
            if op in self.disabled_ops or (op not in SERVED_OPS and op not in KNOWN_GET_OPS):
                raise unknown_op(op)
            if op not in SERVED_OPS:
                raise RemoteError(400, "UnsupportedOperationException", f"{op} is not supported by the emulator")
            return await asyncio.to_thread(self._serve, op, path, request.query)
        except RemoteError as err:
            return _remote(err)
        finally:
            self.inflight -= 1

    def _serve(self, op: str, path: str, query: Any) -> web.Response:
        ns = self.namespace
        if op == "GETFILESTATUS":
            return _json({"FileStatus": ns.file_status(path)})
        if op == "LISTSTATUS":
            return _json({"FileStatuses": {"FileStatus": ns.list_status(path)}})
        if op == "GETHOMEDIRECTORY":
            return _json({"Path": f"/user/{query.get('user.name') or 'dr.who'}"})
        offset = _long(query, "offset", 0) or 0
        length = _long(query, "length", None)
        if op == "GETFILEBLOCKLOCATIONS":
            return _json(ns.block_locations(path, offset, length))
        return _json(ns.located_blocks(path, offset, length))  # GET_BLOCK_LOCATIONS

    async def _get_placements(self, request: web.Request) -> web.Response:
        self.counts["admin"] += 1
        under = self.namespace.normalize(request.query.get("path", "/"))
        return _json(await asyncio.to_thread(self.namespace.placements, under))

    async def _post_placements(self, request: web.Request) -> web.Response:
        self.counts["admin"] += 1
        body = await request.json()
        try:
            self.namespace.pin(str(body["path"]), body.get("hosts"))
        except (KeyError, ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"ok": True})

    async def _post_down(self, request: web.Request) -> web.StreamResponse:
        self.counts["admin"] += 1
        body = await request.json() if request.can_read_body else {}
        mode = str(body.get("mode", "refuse"))
        seconds = body.get("seconds")
        if mode not in DOWN_MODES:
            return _json({"error": f"mode must be one of {DOWN_MODES}"}, 400)
        # Answer first: going down may close the very connection this request came on.
        response = _json({"ok": True, "mode": mode, "admin_url": self.admin_url})
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        task = asyncio.create_task(self.down(mode, None if seconds is None else float(seconds)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return response

    async def _post_up(self, request: web.Request) -> web.Response:
        self.counts["admin"] += 1
        await self.up()
        return _json({"ok": True})

    async def _get_stats(self, request: web.Request) -> web.Response:
        return _json({"requests": dict(self.counts), "down": self.down_mode, "max_inflight": self.max_inflight})

    async def _reset_stats(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return _json({"ok": True})
