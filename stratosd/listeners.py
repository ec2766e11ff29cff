"""The daemon's executor listeners: TCP endpoints that serve only the ExecutorHub.

A cluster job needs one that its nodes can reach. Unless the operator named one
(``executor_listen``), it is opened on demand when a job for a cluster is created,
bound to the local address of the route to that cluster's master (or Slurm controller):
a UDP ``connect()`` to it and ``getsockname()`` give that address without sending a
packet. Its port is kept in ``<state dir>/executor-listeners.json`` and taken again
after a restart, because executors still running retry the address they were given.
A listener speaks TLS with the daemon's own CA (``stratosd.tls``) unless the operator
turned TLS off; executors get the CA certificate in their environment.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc

from stratosd import tls

log = logging.getLogger("stratosd.listeners")

STATE_FILE = "executor-listeners.json"
#: the Slurm controller's port when `scontrol show config` does not say.
SLURMCTLD_PORT = 6817


def route_address(host: str, port: int) -> str:
    """The local address this host uses to reach ``host:port`` (no packet is sent)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"cannot resolve {host}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.connect(address)
        return str(probe.getsockname()[0])


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def mesos_endpoint(url: str) -> tuple[str, int]:
    """(host, port) of a Mesos master given as HOST:PORT or http(s)://HOST:PORT/..."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        raise ValueError(f"no host in the Mesos master {url!r}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 5050)


def slurm_controller(config_text: str) -> tuple[str, int]:
    """(host, port) of the first Slurm controller in `scontrol show config` output."""
    host, port = "", SLURMCTLD_PORT
    for line in config_text.splitlines():
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not host and (key.startswith("SlurmctldHost") or key == "ControlMachine"):
            # "name(addr)" or "name"
            match = re.fullmatch(r"([^()\s]+)(?:\(([^()\s]+)\))?", value)
            if match:
                host = match.group(2) or match.group(1)
        elif key == "SlurmctldPort":
            with contextlib.suppress(ValueError):
                port = int(value.split("-")[0])
    if not host:
        raise ValueError("`scontrol show config` names no SlurmctldHost")
    return host, port


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


@dataclass
class Listener:
    bind: str
    port: int
    #: HOST:PORT executors are told to use.
    advertise: str
    tls: bool
    #: the masters it was opened for (shown by `stratosd status`).
    serves: set[str] = field(default_factory=set)
    #: PEM of the CA executors verify it with ("" without TLS or with the operator's own certificate).
    ca_pem: str = ""
    #: a path on the nodes to the operator's CA file (--executor-tls-ca), when the operator gave one.
    ca_path: str = ""
    server: Any = None

    def describe(self) -> dict[str, Any]:
        return {"bind": f"{self.bind}:{self.port}", "advertise": self.advertise, "tls": self.tls,
                "serves": sorted(self.serves)}


@dataclass(frozen=True)
class ListenerSettings:
    """The operator's choices (TOML ``[stratosd]`` or ``stratosd run`` flags)."""

    #: HOST:PORT to bind every executor listener to; None: chosen per cluster, on demand.
    executor_listen: str | None = None
    #: HOST or HOST:PORT executors are told to use (a name the nodes resolve); None: the bound address.
    advertise: str | None = None
    #: False only when the operator turned TLS off explicitly.
    tls: bool = True
    #: the operator's own certificate and key (PEM files); None: the daemon's own CA.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: with the operator's own certificate: where the CA file is on the nodes.
    executor_tls_ca: str | None = None


class ExecutorListeners:
    def __init__(self, state_dir: Path, settings: ListenerSettings, add_services: Callable[[Any], None],
                 options: list[tuple[str, Any]]) -> None:
        self.state_dir = state_dir
        self.settings = settings
        self._add_services = add_services
        self._options = options
        self.listeners: dict[str, Listener] = {}  # by bind host
        #: master -> bind host, for the backends' synchronous lookups.
        self.by_master: dict[str, str] = {}
        self._saved = self._load()

    # -- persistence ----------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads((self.state_dir / STATE_FILE).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        data = {
            "pid": os.getpid(), "updated": time.time(),
            "ports": {**self._saved.get("ports", {}), **{b: lst.port for b, lst in self.listeners.items()}},
            "masters": {**self._saved.get("masters", {}), **self.by_master},
            "listeners": [lst.describe() for lst in self.listeners.values()],
        }
        self._saved = data
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.state_dir / STATE_FILE)

    # -- opening ----------------------------------------------------------------------------------

    async def restore(self) -> None:
        """Reopen the listeners of the previous run (executors may still call them)."""
        for master, bind in dict(self._saved.get("masters", {})).items():
            try:
                await self._open(bind, master)
            except (OSError, RuntimeError, ValueError) as err:
                log.warning("cannot reopen the executor listener on %s for %s: %s", bind, master, err)

    async def ensure(self, master: str, target: tuple[str, int] | None) -> Listener:
        """The listener executors of ``master`` use, opened now if needed.

        ``target``: the (host, port) of the master or controller the route is taken to.
        """
        if self.settings.executor_listen:
            bind = _split(self.settings.executor_listen)[0]
        elif target is None:
            bind = "127.0.0.1"
        else:
            try:
                bind = route_address(*target)
            except OSError as err:
                raise OSError(f"no route to {target[0]}:{target[1]} ({err}): set executor_listen") from None
        return await self._open(bind, master)

    def for_master(self, master: str) -> Listener | None:
        bind = self.by_master.get(master)
        if bind is None and self.settings.executor_listen:
            bind = _split(self.settings.executor_listen)[0]
        return self.listeners.get(bind) if bind is not None else None

    async def _open(self, bind: str, master: str) -> Listener:
        listener = self.listeners.get(bind)
        if listener is None:
            listener = await self._start(bind)
            self.listeners[bind] = listener
        if master not in listener.serves or self.by_master.get(master) != bind:
            listener.serves.add(master)
            self.by_master[master] = bind
            self._save()
        return listener

    def _credentials(self, names: set[str]) -> tuple[grpc.ServerCredentials | None, str]:
        s = self.settings
        if s.tls_cert is not None and s.tls_key is not None:
            pair = [(s.tls_key.read_bytes(), s.tls_cert.read_bytes())]
            return grpc.ssl_server_credentials(pair), ""
        made = tls.server_tls(self.state_dir, names)
        return grpc.ssl_server_credentials([(made.key_pem, made.cert_pem)]), made.ca_pem.decode()

    async def _start(self, bind: str) -> Listener:
        s = self.settings
        fixed_port = _split(s.executor_listen)[1] if s.executor_listen else 0
        remembered = int(self._saved.get("ports", {}).get(bind, 0))
        use_tls = s.tls or (s.tls_cert is not None)
        adv_host = bind
        adv_port: int | None = None
        if s.advertise:
            name, sep, number = s.advertise.rpartition(":")
            if sep and number.isdigit():
                adv_host, adv_port = name.strip("[]"), int(number)
            else:
                adv_host = s.advertise
        names = {bind, adv_host}
        if bind in ("0.0.0.0", "::"):
            names.discard(bind)
            names.add(socket.getfqdn())
        credentials, ca_pem = self._credentials(names) if use_tls else (None, "")
        host = f"[{bind}]" if ":" in bind else bind
        server = grpc.aio.server(options=self._options)
        self._add_services(server)
        port = 0
        for candidate in ([fixed_port] if fixed_port else [remembered, 0] if remembered else [0]):
            address = f"{host}:{candidate}"
            try:
                port = server.add_secure_port(address, credentials) if credentials else \
                    server.add_insecure_port(address)
            except RuntimeError:
                port = 0
            if port:
                break
        if not port:
            raise OSError(f"cannot bind an executor listener on {bind}:{fixed_port or 'any port'}")
        await server.start()
        advertise = f"{adv_host}:{adv_port or port}"
        listener = Listener(bind, port, advertise, credentials is not None, ca_pem=ca_pem,
                            ca_path=s.executor_tls_ca or "", server=server)
        log.info("executors reach this daemon at %s (bound to %s:%d, %s)", advertise, bind, port,
                 "TLS" if listener.tls else "plain text")
        if not listener.tls and not is_loopback(bind):
            log.warning("the executor listener on %s:%d speaks plain text (TLS was turned off)", bind, port)
        return listener

    async def stop(self) -> None:
        for listener in self.listeners.values():
            if listener.server is not None:
                await listener.server.stop(grace=2)
