"""One framework's connection to a Mesos master over the v1 scheduler HTTP API (aiohttp).

SUBSCRIBE holds a streaming response of RecordIO-framed JSON events; every other
call is a separate POST carrying `Mesos-Stream-Id`. The connection follows 307
redirects to the leading master, retries 503s and lost connections with backoff,
and re-subscribes with the same framework id when the stream breaks or falls silent
for five heartbeat intervals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import aiohttp

from stratos_wire.errors import BackendUnavailable
from stratosd.backends.mesos.recordio import Decoder, RecordIOError

log = logging.getLogger("stratosd.mesos")

API_PATH = "/api/v1/scheduler"
JSON = "application/json"
#: give up following redirects after this many hops (a redirect loop).
MAX_REDIRECTS = 5


class MesosCallError(RuntimeError):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"Mesos answered {status}: {text}")
        self.status = status
        self.text = text


def master_url(master: str) -> str:
    """`host:port` or `http(s)://host:port` -> the scheduler endpoint's URL."""
    if master.startswith(("http://", "https://")):
        return master.rstrip("/") + API_PATH
    return f"http://{master}{API_PATH}"


async def resolve(master: str) -> str:
    """The scheduler endpoint for a master setting; `zk://` asks ZooKeeper for the leader."""
    if master.startswith("zk://"):
        from stratosd.backends.mesos.detector import leading_master

        return master_url(await leading_master(master))
    return master_url(master)


class SchedulerConnection:
    """Keeps one framework subscribed and passes its events to ``on_event``."""

    def __init__(
        self,
        master: str,
        session: aiohttp.ClientSession,
        subscribe_call: Callable[[str | None], dict[str, Any]],
        on_event: Callable[[dict[str, Any]], None],
        *,
        framework_id: str | None = None,
        backoff_cap: float = 15.0,
    ) -> None:
        self.master = master
        #: the endpoint in use; found again (ZooKeeper) on every new subscription.
        self.url = master_url(master) if not master.startswith("zk://") else ""
        self.session = session
        self.framework_id = framework_id
        self.stream_id: str | None = None
        self.heartbeat_interval = 15.0
        self._subscribe_call = subscribe_call
        self._on_event = on_event
        self._backoff_cap = backoff_cap
        self._subscribed = asyncio.Event()
        self._closing = False
        self._resubscribe = True
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_subscribed(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    # -- the subscription --------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                await self._subscribe_once()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, RecordIOError, MesosCallError, ValueError,
                    BackendUnavailable) as err:
                if not self._resubscribe:
                    log.info("mesos subscription to %s ended after TEARDOWN", self.url)
                    return
                log.warning("mesos subscription to %s ended: %s; retrying in %.1f s", self.url, err, delay)
            self._subscribed.clear()
            self.stream_id = None
            if self._closing or not self._resubscribe:
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(self._backoff_cap, delay * 2)

    async def _subscribe_once(self) -> None:
        body = json.dumps(self._subscribe_call(self.framework_id)).encode()
        url = self.url = await resolve(self.master)
        for _ in range(MAX_REDIRECTS):
            response = await self.session.post(
                url, data=body, headers={"Content-Type": JSON, "Accept": JSON},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
            if response.status == 307:
                url = urljoin(url, response.headers.get("Location", ""))
                response.release()
                log.info("mesos: following the leader to %s", url)
                continue
            break
        else:
            raise MesosCallError(307, "too many redirects")
        async with response:
            if response.status != 200:
                raise MesosCallError(response.status, (await response.text()).strip())
            self.url = url  # calls go to the master that holds the stream
            self.stream_id = response.headers.get("Mesos-Stream-Id")
            decoder = Decoder()
            while not self._closing:
                # Silence for five heartbeat intervals means a partition: subscribe again.
                chunk = await asyncio.wait_for(response.content.readany(), 5 * self.heartbeat_interval)
                if not chunk:
                    raise aiohttp.ClientPayloadError("the master closed the event stream")
                for record in decoder.feed(chunk):
                    self._dispatch(json.loads(record))

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            subscribed = event.get("subscribed", {})
            self.framework_id = subscribed.get("framework_id", {}).get("value", self.framework_id)
            self.heartbeat_interval = float(subscribed.get("heartbeat_interval_seconds", 15.0))
            self._subscribed.set()
        self._on_event(event)

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, body: dict[str, Any], *, attempts: int = 6) -> None:
        """POST one call; retry 503s and connection failures with backoff."""
        payload = json.dumps(body).encode()
        delay = 0.1
        for attempt in range(attempts):
            if self.stream_id is None:
                await self.wait_subscribed(timeout=30)
            headers = {"Content-Type": JSON, "Mesos-Stream-Id": self.stream_id or ""}
            try:
                async with self.session.post(self.url, data=payload, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=75)) as response:
                    if response.status in (200, 202):
                        log.debug("mesos call %s accepted", body.get("type"))
                        return
                    text = (await response.text()).strip()
                    if response.status == 307:
                        self.url = urljoin(self.url, response.headers.get("Location", ""))
                        continue
                    if response.status not in (503,) and not (response.status == 403 and attempt < attempts - 1):
                        raise MesosCallError(response.status, text)
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                if attempt == attempts - 1:
                    raise
                log.debug("mesos call %s failed (%s), retrying", body.get("type"), err)
            await asyncio.sleep(delay)
            delay = min(self._backoff_cap, delay * 2)
        raise MesosCallError(503, f"{body.get('type')} did not go through after {attempts} attempts")

    def stop_reconnecting(self) -> None:
        """The stream is about to end on purpose (TEARDOWN): do not subscribe again.

        The stream itself stays open until then: closing it would disconnect the framework
        and the master would refuse the TEARDOWN ("Framework is not subscribed")."""
        self._resubscribe = False

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
