"""zk:// masters: the leader is read from a real ZooKeeper, where it is published as Mesos publishes it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stratos import Processor
from stratos.errors import BackendUnavailable
from stratosd.backends.mesos.detector import leader_address, parse_zk
from tests.daemon import Daemon, daemon_fixture
from tests.realmesos.harness import RealMesos
from tests.zookeeper import ZooKeeper

pytestmark = pytest.mark.mesos


@pytest.fixture(scope="module")
def zookeeper() -> Iterator[ZooKeeper]:
    zk = ZooKeeper().start()
    try:
        yield zk
    finally:
        zk.stop()


daemon = daemon_fixture()


def master_info(host: str, port: int) -> bytes:
    """MasterInfo as a Mesos master writes it to ZooKeeper (JSON, in json.info_<seq>)."""
    return json.dumps({
        "address": {"hostname": host, "ip": host, "port": port}, "hostname": host,
        "id": f"master-{port}", "ip": 16777343, "pid": f"master@{host}:{port}", "port": port,
        "version": "1.11.0",
    }).encode()


def publish(zk: ZooKeeper, path: str, infos: list[bytes]) -> None:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zk.hosts)
    client.start(timeout=10)
    try:
        client.ensure_path(path)
        for info in infos:  # sequential nodes, as the masters' contenders create them
            client.create(f"{path}/json.info_", info, sequence=True)
    finally:
        client.stop()
        client.close()


def test_parsing() -> None:
    assert parse_zk("zk://h1:2181,h2:2181/mesos") == ("h1:2181,h2:2181", "/mesos")
    assert leader_address(json.loads(master_info("10.1.2.3", 5050))) == "10.1.2.3:5050"
    with pytest.raises(BackendUnavailable):
        parse_zk("zk://h1:2181")


def test_a_zk_master_runs_the_job_on_the_leader(daemon: Daemon, real_mesos: RealMesos, zookeeper: ZooKeeper) -> None:
    port = int(real_mesos.url.rsplit(":", 1)[1])
    # the leader (lowest sequence number) is the real master; a later contender points nowhere
    publish(zookeeper, "/mesos", [master_info("127.0.0.1", port), master_info("127.0.0.1", 9)])
    job = Processor(master=f"zk://{zookeeper.hosts}/mesos", job_id="zk-job", mem_per_task=128)
    assert job.batch(["echo via-zookeeper"])["finished"] == 1
    assert job.get_results() == ["via-zookeeper\n"]


def test_no_leader_in_zookeeper_is_a_clear_error(daemon: Daemon, zookeeper: ZooKeeper) -> None:
    publish(zookeeper, "/empty", [])
    with pytest.raises(BackendUnavailable, match="no Mesos master is registered under /empty"):
        Processor(master=f"zk://{zookeeper.hosts}/empty", job_id="zk-none")
    with pytest.raises(BackendUnavailable, match="has no /nowhere"):
        Processor(master=f"zk://{zookeeper.hosts}/nowhere", job_id="zk-nowhere")
