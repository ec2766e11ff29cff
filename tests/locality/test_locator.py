"""LocalityClient and BlockLocator against the WebHDFS emulator (new and old namenodes)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import hdfs  # type: ignore[import-untyped,unused-ignore]
import pytest

from stratosd.locality.hdfs import (
    Block,
    BlockLocator,
    CommandLocality,
    FileBlocks,
    LocalityClient,
    LocalityConfigError,
    LocalityUnavailable,
    best_hosts,
    host_bytes,
)
from tests.emulators.webhdfs import WebHdfsEmulator
from tests.locality.conftest import BLOCK, HOSTS, run, write

pytestmark = pytest.mark.timeout(60)


def expected(nn: WebHdfsEmulator, path: str) -> list[tuple[int, int, list[str]]]:
    return [(b["offset"], b["length"], b["hosts"]) for b in nn.placements(path)[path]]


def shape(files: FileBlocks | None) -> list[tuple[int, int, list[str]]]:
    assert files is not None
    return [(b.offset, b.length, list(b.hosts)) for b in files.blocks]


@pytest.mark.parametrize("old", [False, True], ids=["GETFILEBLOCKLOCATIONS", "GET_BLOCK_LOCATIONS"])
def test_locate_matches_the_namenodes_placement(mount: Path, old: bool) -> None:
    async def body() -> None:
        async with (
            WebHdfsEmulator(mount, HOSTS, block_size=BLOCK, old=old) as nn,
            BlockLocator(nn.url, timeout=5) as loc,
        ):
            paths = [f"/data/2024-0{m}/part-{i}" for m in (1, 2) for i in range(3)]
            found = await loc.locate([*paths, "hdfs:///data/empty", "/data/2024-01/part-0"])
            for path in paths:
                assert shape(found[path]) == expected(nn, path)
                assert found[path] is not None and found[path].path == path  # type: ignore[union-attr]
                assert found[path].size == (mount / path.lstrip("/")).stat().st_size  # type: ignore[union-attr]
            assert found["hdfs:///data/empty"] == FileBlocks("/data/empty", 0, found["hdfs:///data/empty"].mtime, ())  # type: ignore[union-attr]
            assert all(len(b.ips) == len(b.hosts) == 3 for f in found.values() if f for b in f.blocks)
            assert set(loc.datanodes().values()) <= set(HOSTS) and len(loc.datanodes()) == len(HOSTS)
            assert loc.client.legacy is old
            if old:
                assert nn.counts["GET_BLOCK_LOCATIONS"] == len(paths) + 1
                probes = nn.counts["GETFILEBLOCKLOCATIONS"]
                assert 1 <= probes <= len(paths) + 1  # concurrent first look-ups may each probe once
                await asyncio.to_thread(loc.client.blocks, "/data/2024-02/part-1")
                assert nn.counts["GETFILEBLOCKLOCATIONS"] == probes  # then never again
            else:
                assert nn.counts["GET_BLOCK_LOCATIONS"] == 0

    run(body)


def test_old_and_new_namenodes_give_identical_blocks(mount: Path) -> None:
    async def body() -> None:
        async with (
            WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as new,
            WebHdfsEmulator(mount, HOSTS, block_size=BLOCK, old=True) as old,
        ):
            a = LocalityClient(new.url, timeout=5)
            b = LocalityClient(old.url, timeout=5)
            for path in ("/data/2024-01/part-2", "/data/2024-02/part-1", "/data/empty"):
                assert await asyncio.to_thread(a.blocks, path) == await asyncio.to_thread(b.blocks, path)
            raw = await asyncio.to_thread(b.file_block_locations, "/data/2024-01/part-2", BLOCK, 10)
            assert [x["offset"] for x in raw] == [BLOCK]

    run(body)


def test_missing_paths_directories_and_relative_paths_are_none(mount: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn, BlockLocator(nn.url, timeout=5) as loc:
            found = await loc.locate(
                ["/nope", "/data", "/", "relative/file", "/data/2024-01/part-1/x", "/data/.hidden"]
            )
            assert found["/nope"] is None and found["/data"] is None and found["/"] is None
            assert found["relative/file"] is None and found["/data/2024-01/part-1/x"] is None
            assert found["/data/.hidden"] is not None
            assert await loc.locate([]) == {}

    run(body)


def test_cache_and_refresh_on_modification_time(mount: Path) -> None:
    target = mount / "data" / "2024-01" / "part-0"
    os.utime(target, (1_700_000_000, 1_700_000_000))

    async def body() -> None:
        async with (
            WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn,
            BlockLocator(nn.url, timeout=5, status_ttl=0) as loc,
        ):
            first = (await loc.locate(["/data/2024-01/part-0"]))["/data/2024-01/part-0"]
            assert first is not None and first.mtime == 1_700_000_000_000 and len(first.blocks) == 1
            assert nn.counts["GETFILEBLOCKLOCATIONS"] == 1
            again = (await loc.locate(["/data/2024-01/part-0"]))["/data/2024-01/part-0"]
            assert again is first  # same status: the cached blocks, one GETFILESTATUS only
            assert (nn.counts["GETFILESTATUS"], nn.counts["GETFILEBLOCKLOCATIONS"]) == (2, 1)

            write(target, 3 * BLOCK, mtime=1_700_000_100)  # rewritten: new mtime, 3 blocks
            fresh = (await loc.locate(["/data/2024-01/part-0"]))["/data/2024-01/part-0"]
            assert fresh is not None and fresh.mtime == 1_700_000_100_000 and fresh.size == 3 * BLOCK
            assert shape(fresh) == expected(nn, "/data/2024-01/part-0") and len(fresh.blocks) == 3
            assert nn.counts["GETFILEBLOCKLOCATIONS"] == 2

            target.unlink()
            assert (await loc.locate(["/data/2024-01/part-0"])) == {"/data/2024-01/part-0": None}

        # a status seen within status_ttl is trusted: no request at all
        async with (
            WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn,
            BlockLocator(nn.url, timeout=5, status_ttl=30) as loc,
        ):
            await loc.locate(["/data/2024-01/part-1"])
            before = dict(nn.counts)
            await loc.locate(["/data/2024-01/part-1"])
            assert dict(nn.counts) == before

    run(body)


def test_two_hundred_files_concurrently(tmp_path: Path) -> None:
    for i in range(200):
        write(tmp_path / "m" / "snap" / f"snapshot_{i:03d}", BLOCK * (i % 3) + 1 + i)

    async def body() -> None:
        # 20 ms per request: one at a time, 400 requests would take 8 s
        async with (
            WebHdfsEmulator(tmp_path / "m", HOSTS, block_size=BLOCK, latency=0.02) as nn,
            BlockLocator(nn.url, timeout=5, max_workers=16) as loc,
        ):
            paths = [f"/snap/snapshot_{i:03d}" for i in range(200)]
            start = time.monotonic()
            found = await loc.locate(paths)
            elapsed = time.monotonic() - start
            assert elapsed < 3.0, elapsed
            assert 8 < nn.max_inflight <= 16
            placed = nn.placements()
            for path in paths:
                assert shape(found[path]) == [(b["offset"], b["length"], b["hosts"]) for b in placed[path]]
            # a task marking three files: its best host holds the most of their bytes
            three = [found[p] for p in paths[:3]]
            ranked = host_bytes(three)
            truth: dict[str, int] = {}
            for p in paths[:3]:
                for b in placed[p]:
                    for h in b["hosts"]:
                        truth[h] = truth.get(h, 0) + b["length"]
            assert dict(ranked) == truth
            assert best_hosts(ranked) == tuple(sorted(h for h, n in truth.items() if n == max(truth.values())))

    run(body)


@pytest.mark.parametrize("mode", ["refuse", "hang", "503"])
def test_namenode_down_is_unavailable_within_the_timeout(mount: Path, mode: str) -> None:
    async def body() -> None:
        async with (
            WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn,
            BlockLocator(nn.url, timeout=0.5, retry_after=0.3, status_ttl=0) as loc,
        ):
            paths = [f"/data/2024-0{m}/part-{i}" for m in (1, 2) for i in range(3)]
            assert all((await loc.locate(paths)).values())
            await nn.down(mode)
            start = time.monotonic()
            with pytest.raises(LocalityUnavailable):
                await loc.locate(paths)
            assert time.monotonic() - start < 1.5
            assert not loc.available
            start = time.monotonic()
            with pytest.raises(LocalityUnavailable):  # within retry_after: at once, no request
                await loc.glob("/data/*")
            assert time.monotonic() - start < 0.1
            await nn.up()
            await asyncio.sleep(0.7)  # retry_after, and the hung requests' timeout
            assert loc.available
            assert all((await loc.locate(paths)).values())

    run(body)


def test_never_reachable_namenode(tmp_path: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(tmp_path, HOSTS) as nn:
            url = nn.url
        async with BlockLocator(url, timeout=1) as loc:  # nothing listens there any more
            start = time.monotonic()
            with pytest.raises(LocalityUnavailable):
                await loc.locate([f"/f{i}" for i in range(100)])
            assert time.monotonic() - start < 1.0

    run(body)


def test_a_namenode_without_either_block_op_is_unavailable(mount: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn, BlockLocator(nn.url, timeout=5) as loc:
            nn.disabled_ops |= {"GETFILEBLOCKLOCATIONS", "GET_BLOCK_LOCATIONS"}  # as HttpFS
            with pytest.raises(LocalityUnavailable, match="neither"):
                await loc.locate(["/data/2024-01/part-1"])
            # not a WebHDFS server at all (plain 404s): unavailable, not "every file missing"
            async with BlockLocator(nn.admin_url, timeout=5) as wrong:
                with pytest.raises(LocalityUnavailable, match="404"):
                    await wrong.locate(["/data/2024-01/part-1"])
                with pytest.raises(LocalityUnavailable):
                    await wrong.glob("/data/*")

    run(body)


def test_glob(mount: Path) -> None:
    write(mount / "data" / "2024-01" / "sub" / "deep" / "part-9", 10)
    write(mount / "other" / "part-0", 10)

    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn, BlockLocator(nn.url, timeout=5) as loc:
            parts = [f"/data/2024-0{m}/part-{i}" for m in (1, 2) for i in range(3)]
            assert await loc.glob("hdfs:///data/*/part-*") == parts
            assert await loc.glob("/data/2024-0[2]/part-?") == parts[3:]
            assert await loc.glob("hdfs://nn.example:8020/data/*") == [
                "/data/2024-01", "/data/2024-02", "/data/empty", "/data/nothing-here",
            ]  # fmt: skip
            assert await loc.glob("/data/.h*") == ["/data/.hidden"]
            assert await loc.glob("/*/*/sub/*/part-*") == ["/data/2024-01/sub/deep/part-9"]
            assert await loc.glob("/*/part-0") == ["/other/part-0"]
            assert await loc.glob("/data/*/meta.json") == ["/data/2024-01/meta.json", "/data/2024-02/meta.json"]
            assert await loc.glob("/data/2024-01/part-1") == ["/data/2024-01/part-1"]  # no wildcard: exists
            assert await loc.glob("/data/2024-01/part-7") == []
            assert await loc.glob("/data/*_2*") == []  # no match
            assert await loc.glob("/nowhere/*/x*") == []  # missing directory
            assert await loc.glob("/data/nothing-here/*") == []
            assert await loc.glob("/data/empty/*") == []  # a file is no directory
            with pytest.raises(ValueError):
                await loc.glob("data/*")

            # the listings' statuses serve the next look-up (within status_ttl): blocks only
            nn.reset_stats()
            found = await loc.locate(await loc.glob("/data/2024-02/part-*"))
            assert len(found) == 3 and all(found.values())
            assert nn.counts["GETFILESTATUS"] == 0 and nn.counts["GETFILEBLOCKLOCATIONS"] == 3

    run(body)


def test_mount_prefix_on_the_locator(tmp_path: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(tmp_path, HOSTS) as nn, BlockLocator(nn.url, mount_prefix="/mnt/hdfs") as loc:
            assert loc.to_hdfs("/mnt/hdfs/a/b") == "/a/b"
            assert loc.to_hdfs("/dfs/a/b") is None
            assert loc.to_mount("hdfs:///a/b") == "/mnt/hdfs/a/b"

    run(body)
    with pytest.raises(LocalityConfigError):
        BlockLocator("http://127.0.0.1:1", mount_prefix="dfs")


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hdfscli.cfg"
    path.write_text(text)
    return str(path)


def test_hdfscli_alias_factory_and_user(mount: Path, tmp_path: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK, old=True) as nn:
            cfg = write_config(
                tmp_path,
                f"[global]\ndefault.alias = dev\n\n[dev.alias]\nurl = {nn.url}\nuser = alice\ntimeout = 5\n",
            )
            for alias in ("dev", ""):  # "" = the config's default alias
                async with BlockLocator(alias, config_path=cfg) as loc:
                    assert shape((await loc.locate(["/data/2024-01/part-1"]))["/data/2024-01/part-1"]) == expected(
                        nn, "/data/2024-01/part-1"
                    )
                    assert loc.client.session.params["user.name"] == "alice"
                    home = await asyncio.to_thread(loc.client._get_home_directory, "/")
                    assert home.json() == {"Path": "/user/alice"}

            def factory() -> Any:
                return hdfs.InsecureClient(nn.url, user="bob")

            async with BlockLocator(factory, timeout=5) as loc:
                assert all((await loc.locate(["/data/2024-02/part-2"])).values())
                assert loc.client.session.params["user.name"] == "bob"

            client = LocalityClient(nn.url, user="carol", timeout=5)
            assert await asyncio.to_thread(client.blocks, "/data/empty") == ()
            assert isinstance((await asyncio.to_thread(client.blocks, "/data/2024-01/part-1"))[0], Block)

    run(body)


def test_bad_namenode_settings(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "[dev.alias]\nurl = http://127.0.0.1:1\n")
    with pytest.raises(LocalityConfigError, match="nope"):
        BlockLocator("nope", config_path=cfg)
    with pytest.raises(LocalityConfigError):
        BlockLocator("", config_path=cfg)  # no default alias
    with pytest.raises(LocalityConfigError):
        BlockLocator("ftp://namenode:9870")
    broken = write_config(tmp_path, "[global]\nautoload.modules = no_such_module_here\n[dev.alias]\nurl = http://x:1\n")
    with pytest.raises(LocalityConfigError, match="autoload"):
        BlockLocator("dev", config_path=broken)
    kerberos = write_config(tmp_path, "[k.alias]\nurl = http://127.0.0.1:1\nclient = KerberosClient\n")
    try:
        import requests_kerberos  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(LocalityConfigError, match="KerberosClient"):
            BlockLocator("k", config_path=kerberos)
    else:
        BlockLocator("k", config_path=kerberos).close()


def test_locate_commands(mount: Path) -> None:
    async def body() -> None:
        async with WebHdfsEmulator(mount, HOSTS, block_size=BLOCK) as nn, BlockLocator(nn.url, timeout=5) as loc:
            a, b = "/dfs/data/2024-01/part-2", "/dfs/data/2024-02/part-1"
            commands = [
                f"paste <[{a}]> <[{b}]> <[{a}]>",
                "echo no markers",
                "cat <[/home/me/local.txt]> <[/dfs/data/missing]>",
                f"wc -c <[{b}]>",
            ]
            got = await loc.locate_commands(commands)
            placed = nn.placements()
            truth: dict[str, int] = {}
            for path in ("/data/2024-01/part-2", "/data/2024-02/part-1"):
                for block in placed[path]:
                    for host in block["hosts"]:
                        truth[host] = truth.get(host, 0) + block["length"]
            assert dict(got[0].host_bytes) == truth
            assert got[0].total_bytes == (2 * BLOCK + 500) + (BLOCK + 500)
            assert got[0].unresolved == () and got[0].best_hosts == best_hosts(got[0].host_bytes)
            assert got[1] == CommandLocality((), 0, ())
            assert got[2] == CommandLocality((), 0, ("/home/me/local.txt", "/dfs/data/missing"))
            assert got[3].total_bytes == BLOCK + 500 and 3 <= len(got[3].host_bytes) <= 6
            assert nn.counts["GETFILEBLOCKLOCATIONS"] == 2  # each file once for the whole batch
            other = await loc.locate_commands([f"cat <[/mnt/h{a.removeprefix('/dfs')}]>"], mount_prefix="/mnt/h")
            assert other[0].total_bytes == 2 * BLOCK + 500 and other[0].unresolved == ()

    run(body)


def _response(status: int, body: str, content_type: str = "application/json") -> Any:
    import requests

    r = requests.Response()
    r.status_code = status
    r._content = body.encode()
    r.headers["Content-Type"] = content_type
    return r


def test_error_classification() -> None:
    from stratosd.locality.hdfs import _error

    def exc(name: str) -> str:
        return json.dumps({"RemoteException": {"exception": name, "javaClassName": "x", "message": "m"}})

    assert _error(_response(404, exc("FileNotFoundException"))).per_path
    assert _error(_response(403, exc("AccessControlException"))).per_path
    for err in (
        _error(_response(403, exc("StandbyException"))),
        _error(_response(500, exc("IOException"))),
        _error(_response(404, "<html>Not Found</html>", "text/html")),
        _error(_response(503, "")),
    ):
        assert not err.per_path
    err = _error(_response(400, exc("IllegalArgumentException")))
    assert (err.status, err.exception) == (400, "IllegalArgumentException") and "m" in str(err)
