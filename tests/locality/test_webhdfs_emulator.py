"""The WebHDFS emulator's wire shapes against Hadoop's WebHDFS JSON (``JsonUtil``), its
placement rule, its admin routes and its command line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from stratosd.locality.blocks import parse_block_locations, parse_located_blocks
from tests.emulators.webhdfs import WebHdfsEmulator
from tests.locality.conftest import BLOCK, HOSTS, run, write

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]

FILE_STATUS_KEYS = {
    "accessTime", "blockSize", "childrenNum", "fileId", "group", "length", "modificationTime", "owner",
    "pathSuffix", "permission", "replication", "storagePolicy", "type",
}  # fmt: skip
BLOCK_LOCATION_KEYS = {"cachedHosts", "corrupt", "hosts", "names", "topologyPaths", "storageTypes", "offset", "length"}
LOCATED_BLOCK_KEYS = {"block", "blockToken", "isCorrupt", "startOffset", "storageTypes", "locations", "cachedLocations"}
DATANODE_KEYS = {
    "ipAddr", "name", "hostName", "storageID", "xferPort", "infoPort", "infoSecurePort", "ipcPort", "capacity",
    "dfsUsed", "remaining", "blockPoolUsed", "cacheCapacity", "cacheUsed", "lastUpdate", "lastUpdateMonotonic",
    "xceiverCount", "networkLocation", "adminState", "lastBlockReportTime", "lastBlockReportMonotonic",
}  # fmt: skip


def sget(url: str, path: str, op: str, **params: Any) -> requests.Response:
    return requests.get(f"{url}/webhdfs/v1{path}", params={"op": op, "user.name": "tester", **params}, timeout=5)


async def get(url: str, path: str, op: str, **params: Any) -> requests.Response:
    """A WebHDFS GET from a thread: the emulator answers on this event loop."""
    return await asyncio.to_thread(sget, url, path, op, **params)


async def http(method: str, url: str, **kw: Any) -> requests.Response:
    return await asyncio.to_thread(requests.request, method, url, timeout=5, **kw)


def remote(response: requests.Response, status: int, exception: str, java: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()["RemoteException"]
    assert set(body) == {"exception", "javaClassName", "message"}
    assert body["exception"] == exception and body["javaClassName"] == java
    return str(body["message"])


def test_file_status_and_listing_shapes(mount: Path) -> None:
    part = mount / "data" / "2024-01" / "part-2"
    os.utime(part, (1_700_000_000.5, 1_700_000_123.25))

    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn:
            fs = (await get(nn.url, "/data/2024-01/part-2", "GETFILESTATUS")).json()["FileStatus"]
            assert set(fs) == FILE_STATUS_KEYS
            assert fs["type"] == "FILE" and fs["pathSuffix"] == ""
            assert fs["length"] == 2 * BLOCK + 500
            assert fs["modificationTime"] == 1_700_000_123_250
            assert fs["blockSize"] == BLOCK and fs["replication"] == 3
            assert fs["permission"] == format(part.stat().st_mode & 0o777, "o")
            d = (await get(nn.url, "/data", "GETFILESTATUS")).json()["FileStatus"]
            assert (d["type"], d["length"], d["replication"], d["blockSize"]) == ("DIRECTORY", 0, 0, 0)
            assert d["childrenNum"] == 5

            listing = (await get(nn.url, "/data/2024-01", "LISTSTATUS")).json()["FileStatuses"]["FileStatus"]
            assert [e["pathSuffix"] for e in listing] == ["meta.json", "part-0", "part-1", "part-2"]
            assert all(set(e) == FILE_STATUS_KEYS for e in listing)
            own = (await get(nn.url, "/data/2024-01/part-0", "LISTSTATUS")).json()["FileStatuses"]["FileStatus"]
            assert len(own) == 1 and own[0]["pathSuffix"] == "" and own[0]["type"] == "FILE"
            root = (await get(nn.url, "", "LISTSTATUS")).json()["FileStatuses"]["FileStatus"]
            assert [e["pathSuffix"] for e in root] == ["data"]
            assert (await get(nn.url, "/", "GETHOMEDIRECTORY")).json() == {"Path": "/user/tester"}

    run(body)


def test_block_locations_shape_and_placement(mount: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, replication=3, block_size=BLOCK) as nn:
            doc = (await get(nn.url, "/data/2024-02/part-2", "GETFILEBLOCKLOCATIONS")).json()
            locs = doc["BlockLocations"]["BlockLocation"]
            assert [(b["offset"], b["length"]) for b in locs] == [(0, BLOCK), (BLOCK, BLOCK), (2 * BLOCK, 500)]
            for b in locs:
                assert set(b) == BLOCK_LOCATION_KEYS
                assert len(b["hosts"]) == len(set(b["hosts"])) == 3 and set(b["hosts"]) <= set(HOSTS)
                assert len(b["names"]) == len(b["topologyPaths"]) == len(b["storageTypes"]) == 3
                for name, topo in zip(b["names"], b["topologyPaths"], strict=True):
                    ip, port = name.split(":")
                    assert ip.startswith("10.0.") and port == "9866" and topo == f"/default-rack/{name}"
            # offset/length select the overlapping blocks
            part = (
                await get(nn.url, "/data/2024-02/part-2", "GETFILEBLOCKLOCATIONS", offset=BLOCK + 1, length=10)
            ).json()
            assert [b["offset"] for b in part["BlockLocations"]["BlockLocation"]] == [BLOCK]
            empty = (await get(nn.url, "/data/empty", "GETFILEBLOCKLOCATIONS")).json()
            assert empty == {"BlockLocations": {"BlockLocation": []}}

            legacy = (await get(nn.url, "/data/2024-02/part-2", "GET_BLOCK_LOCATIONS")).json()["LocatedBlocks"]
            assert legacy["fileLength"] == 2 * BLOCK + 500
            assert legacy["isUnderConstruction"] is False and legacy["isLastBlockComplete"] is True
            assert len(legacy["locatedBlocks"]) == 3
            assert legacy["lastLocatedBlock"] == legacy["locatedBlocks"][-1]
            for lb in legacy["locatedBlocks"]:
                assert set(lb) == LOCATED_BLOCK_KEYS
                assert set(lb["block"]) == {"blockPoolId", "blockId", "numBytes", "generationStamp"}
                assert all(set(d) >= DATANODE_KEYS for d in lb["locations"])
            # both ops describe the same replicas
            assert parse_located_blocks({"LocatedBlocks": legacy}) == parse_block_locations(doc)
            empty_legacy = (await get(nn.url, "/data/empty", "GET_BLOCK_LOCATIONS")).json()["LocatedBlocks"]
            assert empty_legacy["locatedBlocks"] == [] and empty_legacy["lastLocatedBlock"] is None

            # /emulator/placements tells the same story
            placed = (await http("GET", f"{nn.url}/emulator/placements")).json()
            assert placed == nn.placements()
            assert placed["/data/2024-02/part-2"] == [
                {"offset": b["offset"], "length": b["length"], "hosts": b["hosts"]} for b in locs
            ]
            assert "/data/empty" in placed and placed["/data/empty"] == []
            assert set((await http("GET", f"{nn.admin_url}/emulator/placements?path=/data/2024-01")).json()) == {
                f"/data/2024-01/{n}" for n in ("meta.json", "part-0", "part-1", "part-2")
            }

    run(body)


def test_errors_are_remote_exceptions(mount: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn:
            msg = remote(
                await get(nn.url, "/nope", "GETFILESTATUS"),
                404,
                "FileNotFoundException",
                "java.io.FileNotFoundException",
            )
            assert msg == "File does not exist: /nope"
            msg = remote(
                await get(nn.url, "/nope", "LISTSTATUS"), 404, "FileNotFoundException", "java.io.FileNotFoundException"
            )
            assert msg == "File /nope does not exist."
            for op in ("GETFILEBLOCKLOCATIONS", "GET_BLOCK_LOCATIONS"):
                remote(await get(nn.url, "/nope", op), 404, "FileNotFoundException", "java.io.FileNotFoundException")
                msg = remote(
                    await get(nn.url, "/data", op), 404, "FileNotFoundException", "java.io.FileNotFoundException"
                )
                assert msg == "Path is not a file: /data"
            msg = remote(
                await get(nn.url, "/", "NOSUCHOP"),
                400,
                "IllegalArgumentException",
                "java.lang.IllegalArgumentException",
            )
            assert msg.endswith("GetOpParam.Op.NOSUCHOP")
            remote(
                await get(nn.url, "/data/empty", "GETFILEBLOCKLOCATIONS", offset=-1),
                400,
                "IllegalArgumentException",
                "java.lang.IllegalArgumentException",
            )
            remote(
                await get(nn.url, "/", "OPEN"),
                400,
                "UnsupportedOperationException",
                "java.lang.UnsupportedOperationException",
            )

        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK, old=True) as nn:
            msg = remote(
                await get(nn.url, "/data/2024-01/part-1", "GETFILEBLOCKLOCATIONS"),
                400,
                "IllegalArgumentException",
                "java.lang.IllegalArgumentException",
            )
            assert msg == (
                'Invalid value for webhdfs parameter "op": No enum constant '
                "org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.GETFILEBLOCKLOCATIONS"
            )
            assert (await get(nn.url, "/data/2024-01/part-1", "GET_BLOCK_LOCATIONS")).ok

    run(body)


def test_placement_is_deterministic_distinct_and_spread(tmp_path: Path) -> None:
    for i in range(200):
        write(tmp_path / "m" / f"f{i:03d}", BLOCK * (i % 3) + 100)

    async def body() -> None:
        async with (
            WebHdfsEmulator(tmp_path / "m", HOSTS, block_size=BLOCK) as a,
            WebHdfsEmulator(tmp_path / "m", HOSTS, block_size=BLOCK) as b,
            WebHdfsEmulator(tmp_path / "m", HOSTS, block_size=BLOCK, seed=7) as c,
            WebHdfsEmulator(tmp_path / "m", ["x", "y"], block_size=BLOCK, domain="cluster.local") as small,
        ):
            pa = a.placements()
            assert pa == b.placements() and pa != c.placements()
            assert len(pa) == 200 and sum(len(blocks) for blocks in pa.values()) == sum(i % 3 + 1 for i in range(200))
            per_host = {h: 0 for h in HOSTS}
            for blocks in pa.values():
                for block in blocks:
                    assert len(set(block["hosts"])) == 3
                    for h in block["hosts"]:
                        per_host[h] += 1
            assert min(per_host.values()) > 0.5 * sum(per_host.values()) / 8  # every host holds a fair share
            # replication is capped by the hosts there are; FQDNs with a domain
            assert all(
                sorted(block["hosts"]) == ["x.cluster.local", "y.cluster.local"]
                for blocks in small.placements().values()
                for block in blocks
            )

    run(body)


def test_pin_down_up_and_stats_over_http(mount: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn:
            pin = {"path": "/data/2024-01/part-1", "hosts": [["agent1", "agent2"], ["agent8"]]}
            assert (await http("POST", f"{nn.url}/emulator/placements", json=pin)).ok
            locs = (await get(nn.url, "/data/2024-01/part-1", "GETFILEBLOCKLOCATIONS")).json()["BlockLocations"]
            assert [b["hosts"] for b in locs["BlockLocation"]] == [["agent1", "agent2"], ["agent8"]]
            bad = await http("POST", f"{nn.url}/emulator/placements", json={"path": "/x", "hosts": [["zz"]]})
            assert bad.status_code == 400

            assert (await http("POST", f"{nn.url}/emulator/down", json={"mode": "refuse"})).json()["ok"]
            await_down = (await http("GET", f"{nn.admin_url}/emulator/stats")).json()
            assert await_down["down"] in ("refuse", None)  # the switch happens right after the answer
            with pytest.raises(requests.ConnectionError):
                for _ in range(50):  # at most a moment until the listener is closed
                    await get(nn.url, "/", "GETFILESTATUS")
                    await asyncio.sleep(0.02)
            assert (await http("POST", f"{nn.admin_url}/emulator/up")).ok
            assert (await get(nn.url, "/", "GETFILESTATUS")).ok

            await nn.down("503")
            assert (await get(nn.url, "/", "GETFILESTATUS")).status_code == 503
            await nn.up()
            stats = (await http("GET", f"{nn.url}/emulator/stats")).json()
            assert stats["down"] is None and stats["requests"]["GETFILESTATUS"] >= 1
            assert stats["max_inflight"] >= 1

    run(body)


def test_command_line(tmp_path: Path) -> None:
    write(tmp_path / "m" / "dir" / "file", 2500)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.webhdfs", "--port", "0", "--mount", str(tmp_path / "m"),
         "--hosts", "a1,a2,a3,a4", "--replication", "2", "--block-size", "1000", "--old"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:"), line
        admin = proc.stdout.readline().strip()
        assert admin.startswith("ADMIN http://127.0.0.1:"), admin
        url = line.split()[1]
        assert sget(url, "/dir/file", "GETFILEBLOCKLOCATIONS").status_code == 400
        legacy = sget(url, "/dir/file", "GET_BLOCK_LOCATIONS").json()["LocatedBlocks"]
        assert [len(b["locations"]) for b in legacy["locatedBlocks"]] == [2, 2, 2]
        assert (
            requests.get(f"{admin.split()[1]}/emulator/placements", timeout=5).json()["/dir/file"][2]["length"] == 500
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
