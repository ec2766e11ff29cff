"""HTTP face of the emulator (aiohttp) and :class:`MesosEmulator`, the in-process handle.

Endpoints, as a real 1.11 master (and its agents' ``/files``) serve them on one port:

* ``POST /api/v1/scheduler`` and ``/master/api/v1/scheduler``: the v1 scheduler API;
* ``GET /master/state`` (``/state``, ``/master/state.json``, ``/state.json``; ``?jsonp=cb``);
* ``GET /master/redirect`` and ``/redirect``; ``GET /master/health`` and ``/health``;
* ``GET /files/read``, ``/files/download``, ``/files/browse`` for sandboxes;
* ``/emulator/...``: failure injection and introspection for tests (JSON), see ``admin_routes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import pwd
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from .agent import AgentSpec
from .calls import CallError, convert, validate
from .master import EmulatorConfig, Framework, Master, Stream, encode_record

APPLICATION_JSON = "application/json"
APPLICATION_PROTOBUF = "application/x-protobuf"


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8", headers=headers)


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


def _accepts(header: str | None, media: str) -> bool:
    """``Request::acceptsMediaType``: no Accept header accepts everything."""
    if header is None:
        return True
    major = media.split("/")[0] + "/*"
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for param in fields[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q > 0 and fields[0].lower() in (media, major, "*/*"):
            return True
    return False


class _Handlers:
    def __init__(self, master: Master) -> None:
        self.master = master

    # -- leader / redirect --------------------------------------------------------------------

    def _not_leader(self, request: web.Request) -> web.Response | None:
        config = self.master.config
        if config.leader_mode == "leader":
            return None
        if config.leader_mode == "none" or not config.redirect_to:
            return _text(503, "No leader elected")
        base = f"//{config.redirect_to}"
        if request.path in ("/redirect", "/master/redirect"):
            return web.Response(status=307, headers={"Location": base})
        if request.path.startswith(("/redirect/", "/master/redirect/")):
            return web.Response(status=404)
        return web.Response(status=307, headers={"Location": base + request.path_qs})

    async def redirect(self, request: web.Request) -> web.Response:
        answer = self._not_leader(request)
        if answer is not None:
            return answer
        if request.path.startswith(("/redirect/", "/master/redirect/")):
            return web.Response(status=404)
        return web.Response(status=307, headers={"Location": f"//{self.master.config.hostname}:{self.master.port}"})

    # -- scheduler API ------------------------------------------------------------------------

    async def scheduler(self, request: web.Request) -> web.StreamResponse:
        answer = self._not_leader(request)
        if answer is not None:
            return answer
        if request.method != "POST":
            return _text(
                405,
                f"405 Method Not Allowed. Expecting one of {{ 'POST' }}, but received '{request.method}'.",
                {"Allow": "POST"},
            )
        content_type = request.headers.get("Content-Type")
        if content_type is None:
            return _text(400, "Expecting 'Content-Type' to be present")
        if content_type == APPLICATION_PROTOBUF:
            return _text(415, "The Mesos emulator speaks only application/json, not application/x-protobuf")
        if content_type != APPLICATION_JSON:
            return _text(415, f"Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}")
        body = await request.read()
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _text(400, f"Failed to parse body into JSON: {exc}")
        try:
            call = convert(data)
            validate(call)
        except CallError as exc:
            return _text(exc.status, exc.text)
        kind = call["type"]
        if kind == "SUBSCRIBE":
            return await self._subscribe(request, call)
        master = self.master
        fw = master.frameworks.get(call["framework_id"]["value"])
        if fw is None:
            return _text(400, "Framework cannot be found")
        if fw.stream is None:
            return _text(403, "Framework is not subscribed")
        stream_id = request.headers.get("Mesos-Stream-Id")
        if stream_id is None:
            return _text(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
        if stream_id != fw.stream.id:
            return _text(
                400,
                f"The stream ID '{stream_id}' included in this request didn't match the stream ID currently "
                f"associated with framework ID {fw.id}",
            )
        master.stats[f"calls_{kind.lower()}"] += 1
        return self._dispatch(fw, kind, call)

    def _dispatch(self, fw: Framework, kind: str, call: dict[str, Any]) -> web.Response:
        master = self.master
        if kind == "TEARDOWN":
            master.teardown(fw)
        elif kind == "ACCEPT":
            master.accept(fw, call["accept"])
        elif kind == "DECLINE":
            master.decline(fw, call["decline"])
        elif kind == "REVIVE":
            master.revive(fw, call.get("revive"))
        elif kind == "SUPPRESS":
            master.suppress(fw, call.get("suppress"))
        elif kind == "KILL":
            master.kill(fw, call["kill"])
        elif kind == "ACKNOWLEDGE":
            master.acknowledge(fw, call["acknowledge"])
        elif kind == "RECONCILE":
            master.reconcile(fw, call["reconcile"])
        elif kind == "UPDATE_FRAMEWORK":
            error = master.update_framework(fw, call["update_framework"])
            if error is not None:
                return _text(400, error)
            return web.Response(status=200)
        elif kind == "RECONCILE_OPERATIONS":
            body = {"type": "RECONCILE_OPERATIONS", "reconcile_operations": {"operation_statuses": []}}
            return web.json_response(body)
        elif kind == "UNKNOWN":
            return _text(501, "Received an unexpected UNKNOWN call")
        # SHUTDOWN, MESSAGE (custom executors), REQUEST (ignored by the built-in allocator),
        # inverse offers and operation acknowledgements: accepted, nothing to do here.
        return web.Response(status=202)

    async def _subscribe(self, request: web.Request, call: dict[str, Any]) -> web.StreamResponse:
        accept = request.headers.get("Accept")
        if not _accepts(accept, APPLICATION_JSON):
            if _accepts(accept, APPLICATION_PROTOBUF):
                return _text(406, "The Mesos emulator speaks only application/json, not application/x-protobuf")
            return _text(406, f"Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'")
        if "Mesos-Stream-Id" in request.headers:
            return _text(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
        stream = Stream()
        fw, error = self.master.subscribe(call, stream)
        response = web.StreamResponse(status=200, headers={"Content-Type": APPLICATION_JSON})
        if fw is None:
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(encode_record({"type": "ERROR", "error": {"message": error}}))
            await response.write_eof()
            return response
        response.headers["Mesos-Stream-Id"] = stream.id
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            await stream.pump(response.write)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            stream.close()
            self.master.stream_closed(fw, stream)
        return response

    # -- state --------------------------------------------------------------------------------

    async def state(self, request: web.Request) -> web.Response:
        body = json.dumps(self.master.state())
        callback = request.query.get("jsonp")
        if callback:
            return web.Response(text=f"{callback}({body});", content_type="text/javascript")
        return web.Response(text=body, content_type=APPLICATION_JSON)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    # -- /files -------------------------------------------------------------------------------

    def _file(self, request: web.Request) -> Path | web.Response:
        path = request.query.get("path")
        if not path:
            return _text(400, "Expecting 'path=value' in query.")
        resolved = self.master.resolve_sandbox_path(path)
        if resolved is None or not resolved.exists():
            return _text(404, "File not found")
        return resolved

    async def files_read(self, request: web.Request) -> web.Response:
        found = self._file(request)
        if isinstance(found, web.Response):
            return found
        if found.is_dir():
            return _text(400, "Cannot read a directory")
        try:
            offset = int(request.query.get("offset", "0"))
            length = int(request.query["length"]) if "length" in request.query else None
        except ValueError:
            return _text(400, "Failed to parse offset/length")
        size = found.stat().st_size
        if offset == -1:
            return web.json_response({"data": "", "offset": size})
        if offset < 0 or (length is not None and length < 0):
            return _text(400, "Negative offset or length provided")
        with found.open("rb") as f:
            f.seek(min(offset, size))
            data = f.read(length if length is not None else 16 << 20)
        return web.json_response({"data": data.decode("utf-8", "replace"), "offset": offset})

    async def files_download(self, request: web.Request) -> web.StreamResponse:
        found = self._file(request)
        if isinstance(found, web.Response):
            return found
        if found.is_dir():
            return _text(400, "Cannot download a directory")
        return web.FileResponse(found)

    async def files_browse(self, request: web.Request) -> web.Response:
        found = self._file(request)
        if isinstance(found, web.Response):
            return found
        virtual = request.query["path"].rstrip("/")
        entries = []
        for child in sorted(found.iterdir()) if found.is_dir() else [found]:
            st = child.lstat()
            entries.append(
                {
                    "gid": _group(st.st_gid),
                    "mode": stat.filemode(st.st_mode),
                    "mtime": float(int(st.st_mtime)),
                    "nlink": st.st_nlink,
                    "path": f"{virtual}/{child.name}" if found.is_dir() else virtual,
                    "size": st.st_size,
                    "uid": _user(st.st_uid),
                }
            )
        return web.json_response(entries)

    # -- /emulator admin ----------------------------------------------------------------------

    async def _json(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            data = await request.json()
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"bad JSON: {exc}") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="expecting a JSON object")
        return data

    def _framework(self, request: web.Request) -> Framework:
        fw = self.master.frameworks.get(request.match_info["framework_id"])
        if fw is None:
            raise web.HTTPNotFound(text="no such framework")
        return fw

    async def admin_agents(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "id": a.id,
                    "hostname": a.hostname,
                    "resources": a.total.summary(),
                    "used": a.used.summary(),
                    "offered": a.offered.summary(),
                    "tasks": sorted(tid for _, tid in a.tasks),
                }
                for a in self.master.agents.values()
            ]
        )

    async def admin_add_agent(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        try:
            spec = AgentSpec.parse(str(data["spec"])) if "spec" in data else AgentSpec(**data)
            agent = self.master.add_agent(spec)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({"id": agent.id, "hostname": agent.hostname}, status=201)

    async def admin_remove_agent(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        agent = self.master.find_agent(request.match_info["agent"])
        if agent is None:
            raise web.HTTPNotFound(text="no such agent")
        self.master.remove_agent(agent, unreachable=bool(data.get("unreachable", True)), message=data.get("message"))
        return web.json_response({"id": agent.id, "hostname": agent.hostname})

    async def admin_pause(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        try:
            self.master.pause_framework(
                self._framework(request), what=str(data.get("what", "all")), hold=bool(data.get("hold", False))
            )
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({})

    async def admin_resume(self, request: web.Request) -> web.Response:
        self.master.resume_framework(self._framework(request))
        return web.json_response({})

    async def admin_disconnect(self, request: web.Request) -> web.Response:
        self.master.disconnect_framework(self._framework(request))
        return web.json_response({})

    async def admin_drop_acks(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        count = int(data.get("count", 1))
        fid = data.get("framework_id")
        if fid is None:
            self.master.drop_acks += count
        else:
            fw = self.master.frameworks.get(str(fid))
            if fw is None:
                raise web.HTTPNotFound(text="no such framework")
            fw.drop_acks += count
        return web.json_response({})

    async def admin_leader(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        try:
            self.master.set_leader(
                str(data.get("mode", "leader")),
                data.get("redirect_to"),
                close_streams=bool(data.get("close_streams", True)),
            )
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({})

    async def admin_stats(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.master.stats))

    async def admin_invariants(self, request: web.Request) -> web.Response:
        errors = self.master.check_invariants()
        return web.json_response({"ok": not errors, "errors": errors})


def build_app(master: Master) -> web.Application:
    h = _Handlers(master)
    app = web.Application(client_max_size=64 << 20)
    for path in ("/api/v1/scheduler", "/master/api/v1/scheduler"):
        app.router.add_route("*", path, h.scheduler)
    for path in ("/master/state", "/state", "/master/state.json", "/state.json"):
        app.router.add_get(path, h.state)
    for path in ("/master/redirect", "/redirect"):
        app.router.add_route("*", path, h.redirect)
    app.router.add_route("*", r"/master/redirect/{tail:.*}", h.redirect)
    app.router.add_route("*", r"/redirect/{tail:.*}", h.redirect)
    for path in ("/master/health", "/health"):
        app.router.add_get(path, h.health)
    app.router.add_get("/files/read", h.files_read)
    app.router.add_get("/files/read.json", h.files_read)
    app.router.add_get("/files/download", h.files_download)
    app.router.add_get("/files/browse", h.files_browse)
    app.router.add_get("/emulator/agents", h.admin_agents)
    app.router.add_post("/emulator/agents", h.admin_add_agent)
    app.router.add_delete("/emulator/agents/{agent}", h.admin_remove_agent)
    app.router.add_post("/emulator/agents/{agent}/remove", h.admin_remove_agent)
    app.router.add_post("/emulator/frameworks/{framework_id}/pause", h.admin_pause)
    app.router.add_post("/emulator/frameworks/{framework_id}/resume", h.admin_resume)
    app.router.add_post("/emulator/frameworks/{framework_id}/disconnect", h.admin_disconnect)
    app.router.add_post("/emulator/acks/drop", h.admin_drop_acks)
    app.router.add_post("/emulator/leader", h.admin_leader)
    app.router.add_get("/emulator/stats", h.admin_stats)
    app.router.add_get("/emulator/invariants", h.admin_invariants)
    return app


class MesosEmulator:
    """A Mesos 1.11 master with named agents, served on ``host:port`` (0 = any free port).

    ``async with MesosEmulator(agents=[AgentSpec("agent1", cpus=4, mem=4096)]) as m: m.url``.
    Timing knobs default to the real master's: ``heartbeat_interval`` 15 s,
    ``allocation_interval`` 1 s, status update retries from 10 s doubling up to 10 min.
    """

    def __init__(
        self,
        agents: Iterable[AgentSpec] = (AgentSpec("agent1"),),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: float = 15.0,
        allocation_interval: float = 1.0,
        status_update_retry_interval: float = 10.0,
        status_update_retry_max: float = 600.0,
        work_dir: str | os.PathLike[str] | None = None,
        hostname: str | None = None,
        redirect_to: str | None = None,
        no_leader: bool = False,
        executor_environment: dict[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._own_work_dir = work_dir is None
        if work_dir is None:
            # Sandboxes on tmpfs when there is one: creating a task's directories and files costs
            # about 3 ms on this kind of disk and 0.03 ms in memory.
            shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            self.work_dir = Path(tempfile.mkdtemp(prefix="mesos-emulator-", dir=shm))
        else:
            self.work_dir = Path(work_dir)
        mode = "none" if no_leader else ("redirect" if redirect_to else "leader")
        self.config = EmulatorConfig(
            heartbeat_interval=heartbeat_interval,
            allocation_interval=allocation_interval,
            status_update_retry_min=status_update_retry_interval,
            status_update_retry_max=max(status_update_retry_max, status_update_retry_interval),
            work_dir=str(self.work_dir),
            hostname=hostname or host,
            ip=host,
            executor_environment=executor_environment,
            leader_mode=mode,
            redirect_to=redirect_to,
            seed=seed,
        )
        self.master = Master(self.config, list(agents))
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def scheduler_url(self) -> str:
        return f"{self.url}/api/v1/scheduler"

    async def start(self) -> MesosEmulator:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(
            build_app(self.master), handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.master.start(self.port)
        return self

    async def stop(self) -> None:
        self.master.stop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    async def __aenter__(self) -> MesosEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- failure injection and introspection (same as the /emulator HTTP API) -------------------

    def _fw(self, framework_id: str) -> Framework:
        return self.master.frameworks[framework_id]

    def add_agent(self, spec: AgentSpec) -> str:
        return self.master.add_agent(spec).id

    def remove_agent(self, name_or_id: str, *, unreachable: bool = True, message: str | None = None) -> None:
        agent = self.master.find_agent(name_or_id)
        if agent is None:
            raise KeyError(name_or_id)
        self.master.remove_agent(agent, unreachable=unreachable, message=message)

    def pause_framework(self, framework_id: str, *, what: str = "all", hold: bool = False) -> None:
        self.master.pause_framework(self._fw(framework_id), what=what, hold=hold)

    def resume_framework(self, framework_id: str) -> None:
        self.master.resume_framework(self._fw(framework_id))

    def disconnect_framework(self, framework_id: str) -> None:
        self.master.disconnect_framework(self._fw(framework_id))

    def drop_acknowledgements(self, count: int, framework_id: str | None = None) -> None:
        if framework_id is None:
            self.master.drop_acks += count
        else:
            self._fw(framework_id).drop_acks += count

    def set_leader(self, mode: str, redirect_to: str | None = None, *, close_streams: bool = True) -> None:
        self.master.set_leader(mode, redirect_to, close_streams=close_streams)

    def state(self) -> dict[str, Any]:
        return self.master.state()

    def stats(self) -> dict[str, int]:
        return dict(self.master.stats)

    def check_invariants(self) -> list[str]:
        return self.master.check_invariants()


async def serve_forever(emulator: MesosEmulator, ready: Any = None) -> None:
    """CLI helper: start, report, run until cancelled."""
    await emulator.start()
    if ready is not None:
        ready(emulator)
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await emulator.stop()
