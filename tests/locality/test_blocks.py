"""The pure side of HDFS locality: host names, byte counts, markers, paths, WebHDFS JSON."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratos_executor._spawn import strip_markers
from stratosd.locality.blocks import (
    Block,
    FileBlocks,
    has_magic,
    ip_bytes,
    local_bytes,
    located_blocks_to_block_locations,
    match_segment,
    parse_block_locations,
    parse_located_blocks,
    split_pattern,
    strip_scheme,
    to_hdfs,
    to_mount,
)
from stratosd.locality.hdfs import CommandLocality, best_hosts, canonical_host, extract_marked, host_bytes


def fb(path: str, *blocks: tuple[int, tuple[str, ...]]) -> FileBlocks:
    out, offset = [], 0
    for length, hosts in blocks:
        out.append(Block(offset, length, hosts))
        offset += length
    return FileBlocks(path, offset, 0, tuple(out))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("node7.cluster.local", "node7"),
        ("NODE7", "node7"),
        ("node7.", "node7"),
        ("Node7.Cluster.Local.", "node7"),
        (" node7 ", "node7"),
        ("10.0.0.21", "10.0.0.21"),
        ("10.0.0.21.", "10.0.0.21"),
        ("fe80::1", "fe80::1"),
        ("FE80::1", "fe80::1"),
        ("localhost", "localhost"),
    ],
)
def test_canonical_host(name: str, expected: str) -> None:
    assert canonical_host(name) == expected


def test_canonical_host_agrees_with_the_cores_rule() -> None:
    core = pytest.importorskip("stratosd.core.locality")
    for name in ["node7.cluster.local", "NODE7", "node7.", "10.0.0.21", "fe80::1", "a.b.c."]:
        assert canonical_host(name) == core.canonical_host(name)


def test_host_bytes_ranks_hosts_by_marked_bytes_then_name() -> None:
    a = fb("/a", (100, ("dn1.x", "dn2.x", "dn3.x")), (50, ("dn2.x", "dn3.x", "dn4.x")))
    b = fb("/b", (70, ("DN4", "dn1.", "dn5")))
    assert host_bytes([a, b]) == [("dn1", 170), ("dn2", 150), ("dn3", 150), ("dn4", 120), ("dn5", 70)]
    assert best_hosts(host_bytes([a, b])) == ("dn1",)
    assert best_hosts(host_bytes([a])) == ("dn2", "dn3")
    assert local_bytes([a, b], "DN2.x.") == 150
    assert local_bytes([a, b], "elsewhere") == 0


def test_host_bytes_counts_a_file_once_and_skips_missing_files() -> None:
    a = fb("/a", (10, ("h1", "h2")))
    assert host_bytes([a, a, None]) == [("h1", 10), ("h2", 10)]
    # the same datanode twice in one block (two spellings) holds the block once
    assert host_bytes([fb("/c", (5, ("h1.d", "H1", "h2")))]) == [("h1", 5), ("h2", 5)]
    assert host_bytes([]) == []
    assert host_bytes([fb("/empty")]) == []


def test_best_hosts_ties_and_nothing() -> None:
    assert best_hosts([("a", 5), ("b", 5), ("c", 4)]) == ("a", "b")
    assert best_hosts([]) == ()
    assert best_hosts([("a", 0)]) == ()
    assert best_hosts((("x", 3),)) == ("x",)  # the core's tuple form works too


@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 1000), st.lists(st.sampled_from(["a", "B", "a.d", "c", "10.0.0.1"]), max_size=4)),
            max_size=4,
        ),
        max_size=5,
    )
)
def test_host_bytes_totals(files: list[list[tuple[int, list[str]]]]) -> None:
    built = [fb(f"/f{i}", *((n, tuple(h)) for n, h in blocks)) for i, blocks in enumerate(files)]
    ranked = host_bytes(built)
    assert sum(n for _, n in ranked) == sum(
        b.length * len({canonical_host(h) for h in b.hosts}) for f in built for b in f.blocks
    )
    assert ranked == sorted(ranked, key=lambda item: (-item[1], item[0]))
    top = best_hosts(ranked)
    assert all(n == ranked[0][1] for h, n in ranked if h in top)


@pytest.mark.parametrize(
    "command",
    [
        "cat <[a.txt]>",
        "paste <[/d/a b.txt]> <[b]> > <[out/c]>",
        "x <[multi\nline]> y <[]>",
        "echo <[a]>]> <[",
        "no markers at all",
        "gsnap -nt 01111 <[/dfs/snapshots/snapshot_200]>",
    ],
)
def test_extract_marked_matches_what_the_executor_strips(command: str) -> None:
    marked = extract_marked(command)
    rebuilt = command
    for path in marked:
        rebuilt = rebuilt.replace(f"<[{path}]>", path, 1)
    assert rebuilt == strip_markers(command)


def test_extract_marked_in_order() -> None:
    assert extract_marked("paste <[/d/a b.txt]> <[b]> > <[out/c]>") == ["/d/a b.txt", "b", "out/c"]
    assert extract_marked("cat <[x]> <[x]>") == ["x", "x"]
    assert extract_marked("echo <[a]>]> <[") == ["a"]
    assert extract_marked("plain") == []


def test_mount_prefix_mapping() -> None:
    assert to_hdfs("/dfs/a/b") == "/a/b"
    assert to_hdfs("/dfs") == "/"
    assert to_hdfs("/dfs/") == "/"
    assert to_hdfs("/dfs/a/../b") == "/b"
    assert to_hdfs("/dfsx/a") is None
    assert to_hdfs("/other/a") is None
    assert to_hdfs("dfs/a") is None
    assert to_hdfs("/dfs/../etc/passwd") is None
    assert to_hdfs("/mnt/hdfs/x", "/mnt/hdfs/") == "/x"
    assert to_hdfs("/a/b", "/") == "/a/b"
    assert to_mount("/a/b") == "/dfs/a/b"
    assert to_mount("hdfs:///a/b") == "/dfs/a/b"
    assert to_mount("hdfs://nn:8020/a/b", "/mnt/hdfs/") == "/mnt/hdfs/a/b"
    assert to_mount("/") == "/dfs"
    assert to_mount("/a", "/") == "/a"
    with pytest.raises(ValueError):
        to_mount("a/b")
    for path in ["/a", "/a/b c/d", "/"]:
        assert to_hdfs(to_mount(path)) == path


def test_pattern_helpers() -> None:
    assert strip_scheme("hdfs:///snap/*_2*") == "/snap/*_2*"
    assert strip_scheme("hdfs://nn.example:8020/snap") == "/snap"
    assert strip_scheme("HDFS://nn") == "/"
    assert strip_scheme("/plain") == "/plain"
    assert split_pattern("hdfs:///snap/*_2*") == ["snap", "*_2*"]
    assert split_pattern("/a//b/./c/../d") == ["a", "b", "d"]
    assert split_pattern("/") == []
    with pytest.raises(ValueError):
        split_pattern("relative/*")
    assert has_magic("a*") and has_magic("a?") and has_magic("[ab]") and not has_magic("plain_name")
    assert match_segment("snapshot_200", "*_2*")
    assert not match_segment("Snapshot_300", "*_2*")
    assert not match_segment(".hidden", "*")
    assert match_segment(".hidden", ".h*")
    assert match_segment("part-7", "part-[0-9]")
    assert not match_segment("PART-7", "part-[0-9]")  # HDFS names are case-sensitive


# The protocol file's GETFILEBLOCKLOCATIONS example (§2.2), completed.
BLOCK_LOCATIONS = {
    "BlockLocations": {
        "BlockLocation": [
            {
                "cachedHosts": [],
                "corrupt": False,
                "hosts": ["dn1.example", "dn2.example", "dn3.example"],
                "names": ["10.0.0.21:9866", "10.0.0.22:9866", "10.0.0.23:9866"],
                "topologyPaths": [
                    "/default-rack/10.0.0.21:9866",
                    "/default-rack/10.0.0.22:9866",
                    "/default-rack/10.0.0.23:9866",
                ],
                "storageTypes": ["DISK", "DISK", "DISK"],
                "offset": 0,
                "length": 134217728,
            },
            {
                "cachedHosts": [],
                "corrupt": False,
                "hosts": ["dn2.example", "dn4.example"],
                "names": [],
                "topologyPaths": ["/r2/10.0.0.22:9866", "/r2/10.0.0.24:9866"],
                "storageTypes": ["DISK", "SSD"],
                "offset": 134217728,
                "length": 62599364,
            },
        ]
    }
}


def test_parse_block_locations() -> None:
    blocks = parse_block_locations(BLOCK_LOCATIONS)
    assert blocks == (
        Block(0, 134217728, ("dn1.example", "dn2.example", "dn3.example"), ("10.0.0.21", "10.0.0.22", "10.0.0.23"),
              ("10.0.0.21:9866", "10.0.0.22:9866", "10.0.0.23:9866")),
        Block(134217728, 62599364, ("dn2.example", "dn4.example"), ("10.0.0.22", "10.0.0.24"),
              ("10.0.0.22:9866", "10.0.0.24:9866")),  # from topologyPaths: `names` is empty there
    )
    assert blocks[0].datanodes() == {
        "10.0.0.21:9866": "dn1.example", "10.0.0.22:9866": "dn2.example", "10.0.0.23:9866": "dn3.example"}
    assert parse_block_locations(BLOCK_LOCATIONS["BlockLocations"]["BlockLocation"]) == blocks
    assert parse_block_locations({"BlockLocations": {"BlockLocation": []}}) == ()
    assert parse_block_locations([{"hosts": ["h"], "offset": 0, "length": 3}]) == (Block(0, 3, ("h",)),)


def _datanode(host: str, ip: str) -> dict[str, object]:
    return {
        "ipAddr": ip,
        "name": f"{ip}:9866",
        "hostName": host,
        "storageID": "x",
        "xferPort": 9866,
        "networkLocation": "/default-rack",
        "adminState": "NORMAL",
        "someFutureKey": 1,
    }


def _located(offset: int, size: int, *nodes: tuple[str, str]) -> dict[str, object]:
    return {
        "block": {"blockPoolId": "BP-1", "blockId": 1073741825 + offset, "numBytes": size, "generationStamp": 1001},
        "blockToken": {"urlString": ""},
        "isCorrupt": False,
        "startOffset": offset,
        "storageTypes": ["DISK"] * len(nodes),
        "locations": [_datanode(h, ip) for h, ip in nodes],
        "cachedLocations": [],
    }


def test_parse_located_blocks_matches_the_public_shape() -> None:
    first = _located(
        0, 134217728, ("dn1.example", "10.0.0.21"), ("dn2.example", "10.0.0.22"), ("dn3.example", "10.0.0.23")
    )
    last = _located(134217728, 62599364, ("dn2.example", "10.0.0.22"), ("dn4.example", "10.0.0.24"))
    doc = {
        "LocatedBlocks": {
            "fileLength": 196817092,
            "isUnderConstruction": False,
            "isLastBlockComplete": True,
            "locatedBlocks": [first, last],
            "lastLocatedBlock": last,
        }
    }
    assert parse_located_blocks(doc) == parse_block_locations(BLOCK_LOCATIONS)
    converted = located_blocks_to_block_locations(doc)
    assert converted[0]["names"] == BLOCK_LOCATIONS["BlockLocations"]["BlockLocation"][0]["names"]
    assert converted[0]["topologyPaths"] == BLOCK_LOCATIONS["BlockLocations"]["BlockLocation"][0]["topologyPaths"]
    # lastLocatedBlock outside locatedBlocks (a partial range) is added; null is fine
    doc["LocatedBlocks"]["locatedBlocks"] = [first]
    assert len(parse_located_blocks(doc)) == 2
    assert [b["offset"] for b in located_blocks_to_block_locations(doc, 0, 10)] == [0]  # a range before it
    assert [b["offset"] for b in located_blocks_to_block_locations(doc, 134217728)] == [0, 134217728]
    assert (
        parse_located_blocks({"LocatedBlocks": {"fileLength": 0, "locatedBlocks": [], "lastLocatedBlock": None}}) == ()
    )


def _shared(offset: int, size: int, *nodes: tuple[str, str]) -> dict[str, object]:
    """A BlockLocation whose replicas are (host, ip:port) pairs."""
    return {"hosts": [h for h, _ in nodes], "names": [n for _, n in nodes], "offset": offset, "length": size}


def test_datanodes_sharing_one_address_stay_apart_and_all_count_for_it() -> None:
    """Several datanodes on one IP with distinct ports (a MiniDFSCluster, a test cluster on one
    machine): each is its own datanode (``ip:xferPort``), its bytes go to its own host name, and
    an agent known by that IP address is credited with every block any of them holds, once."""
    a = FileBlocks("/a", 30, 1, parse_block_locations([
        _shared(0, 10, ("dn1", "127.0.0.1:9866"), ("dn3", "10.0.0.3:9866")),
        _shared(10, 20, ("dn2", "127.0.0.1:9876"), ("dn1", "127.0.0.1:9866")),
    ]))
    b = FileBlocks("/b", 7, 1, parse_block_locations([_shared(0, 7, ("dn2", "127.0.0.1:9876"))]))
    assert a.blocks[1].datanodes() == {"127.0.0.1:9876": "dn2", "127.0.0.1:9866": "dn1"}
    assert host_bytes([a]) == [("dn1", 30), ("dn2", 20), ("dn3", 10)]
    assert ip_bytes([a]) == [("127.0.0.1", 30), ("10.0.0.3", 10)]  # block 2 once, though twice there
    assert ip_bytes([b]) == [("127.0.0.1", 7)]  # dn2's file: its address, whatever was seen last
    held = CommandLocality(tuple(host_bytes([a, b])), 37, (), tuple(ip_bytes([a, b]))).held()
    assert held == {"dn1": 30, "dn2": 27, "dn3": 10, "127.0.0.1": 37, "10.0.0.3": 10}
    # a datanode named by its address counts once for it; IPv6 names keep their brackets
    c = FileBlocks("/c", 5, 1, parse_block_locations([
        _shared(0, 5, ("10.0.0.9", "10.0.0.9:9866"), ("h6", "[::1]:9866"))]))
    assert c.blocks[0].names == ("10.0.0.9:9866", "[::1]:9866")
    assert CommandLocality(tuple(host_bytes([c])), 5, (), tuple(ip_bytes([c]))).held() == {
        "10.0.0.9": 5, "h6": 5, "::1": 5}
