"""Several DataNodes on one address, against the real NameNode (issue 13, item 4).

A MiniDFSCluster, or any test cluster on one machine, runs several DataNodes on one IP address
with distinct ports. `cluster.sh add-datanode h3` starts a second DataNode `h3-2` in host h3 (its
address, ports +10). The locator must keep both (keyed by `ip:xferPort`), credit each file's bytes
to the DataNode name that holds them, and credit the shared address with every block either holds,
once. Before the fix it kept one DataNode per address, the last seen.

This test removes its DataNode again and waits until the NameNode has declared it dead (~20 s),
so that later writes from h3 are not sent to it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stratosd.locality.hdfs import BlockLocator, CommandLocality
from tests.realcluster.harness import RealCluster

pytestmark = pytest.mark.cluster


def test_datanodes_sharing_an_address_stay_apart_and_all_count_for_it(realcluster: RealCluster,
                                                                       tmp_path: Path) -> None:
    host = realcluster.hosts[-1]
    ip = realcluster.ip(host)
    n = len(realcluster.hosts)
    extra = realcluster.run("add-datanode", host).stdout.split()[-1]
    try:
        live = realcluster.wait_live_datanodes(n + 1)
        # the NameNode's own view: two DataNodes at the one address, distinct transfer ports
        assert {v["xferaddr"] for k, v in live.items() if k.split(":")[0] in (host, extra)} == {
            f"{ip}:9866", f"{ip}:9876"}, live

        mount = tmp_path / "dfs"
        (mount / "shared").mkdir(parents=True)
        everywhere = mount / "shared" / "everywhere.txt"  # one replica on every DataNode
        everywhere.write_text("x" * 3000)
        realcluster.put(host, [everywhere], "/shared", replication=n + 1)
        # replication 1 from h3: the NameNode picks one of h3's two DataNodes at random per file
        singles = []
        for i in range(12):
            path = mount / "shared" / f"single-{i}.txt"
            path.write_text(f"{i}\n" * (100 + i))
            singles.append(path)
        realcluster.put(host, singles, "/shared", replication=1)

        async def locate() -> tuple[dict[str, str], list[CommandLocality]]:
            async with BlockLocator(realcluster.webhdfs, mount_prefix=str(mount), timeout=10) as loc:
                found = await loc.locate_commands([f"cat <[{p}]>" for p in [everywhere, *singles]])
                return loc.datanodes(), found

        datanodes, found = realcluster.in_head(lambda: asyncio.run(locate()))
        # both DataNodes of h3 are known, each by its own ip:xferPort
        assert datanodes[f"{ip}:9866"] == host and datanodes[f"{ip}:9876"] == extra, datanodes
        assert len(datanodes) == n + 1
        # the file on every DataNode: each address holds it once, each name holds it
        size = everywhere.stat().st_size
        assert dict(found[0].ip_bytes) == {realcluster.ip(h): size for h in realcluster.hosts}
        assert dict(found[0].host_bytes) == {**{h: size for h in realcluster.hosts}, extra: size}
        # single-replica files: bytes go to the DataNode that holds them, and to h3's address
        holders = []
        for path, c in zip(singles, found[1:], strict=True):
            size = path.stat().st_size
            (holder, held), = c.host_bytes
            assert holder in (host, extra) and held == size
            assert dict(c.ip_bytes) == {ip: size}
            assert c.held() == {holder: size, ip: size}
            holders.append(holder)
        # 12 files at random over two DataNodes: both hold some (all on one: p = 2**-11)
        assert set(holders) == {host, extra}, holders
    finally:
        realcluster.dfs(host, "-rm", "-r", "-f", "-skipTrash", "/shared")
        realcluster.run("kill-datanode", extra)
        realcluster.wait_live_datanodes(n, timeout=90)
