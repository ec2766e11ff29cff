"""Leader detection through ZooKeeper (`zk://h1:2181,h2:2181/mesos`), as Mesos publishes it.

Every master writes its MasterInfo as JSON into a sequential znode `json.info_<seq>`
under the path; the lowest sequence number is the leader. kazoo is an optional extra
(`pip install 'stratos[zookeeper]'`); it is synchronous, so lookups run in a thread.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from stratos_wire.errors import BackendUnavailable

INFO_PREFIX = "json.info_"


def parse_zk(url: str) -> tuple[str, str]:
    """`zk://h1:2181,h2:2181/mesos` -> ("h1:2181,h2:2181", "/mesos")."""
    rest = url.removeprefix("zk://")
    hosts, slash, path = rest.partition("/")
    if not hosts or not slash or not path:
        raise BackendUnavailable(f"{url!r} is not zk://HOST:PORT[,HOST:PORT...]/PATH")
    return hosts, "/" + path.rstrip("/")


def leader_address(info: dict[str, Any]) -> str:
    """HOST:PORT of a master from its MasterInfo JSON (address, else the legacy fields)."""
    address = info.get("address") or {}
    host = address.get("hostname") or address.get("ip") or info.get("hostname")
    port = address.get("port") or info.get("port")
    if not host or not port:
        raise BackendUnavailable(f"the leading master's info has no address: {info}")
    return f"{host}:{port}"


def _lookup(url: str, timeout: float) -> str:
    try:
        from kazoo.client import KazooClient
        from kazoo.exceptions import NoNodeError
    except ImportError:
        raise BackendUnavailable(
            f"master {url!r} needs ZooKeeper support: pip install 'stratos[zookeeper]'"
        ) from None
    hosts, path = parse_zk(url)
    client = KazooClient(hosts=hosts, timeout=timeout)
    try:
        client.start(timeout=timeout)
        children = sorted(c for c in client.get_children(path) if c.startswith(INFO_PREFIX))
        if not children:
            raise BackendUnavailable(f"no Mesos master is registered under {path} in ZooKeeper {hosts}")
        data, _ = client.get(f"{path}/{children[0]}")
        return leader_address(json.loads(data))
    except NoNodeError:
        raise BackendUnavailable(f"ZooKeeper {hosts} has no {path}: is that the Mesos masters' path?") from None
    except BackendUnavailable:
        raise
    except Exception as err:  # kazoo's timeouts are not KazooExceptions; any failure means no leader
        raise BackendUnavailable(f"cannot read the Mesos leader from ZooKeeper {hosts}: {err!r}") from None
    finally:
        client.stop()
        client.close()


async def leading_master(url: str, timeout: float = 5.0) -> str:
    """HOST:PORT of the leading master named in ZooKeeper."""
    return await asyncio.to_thread(_lookup, url, timeout)
