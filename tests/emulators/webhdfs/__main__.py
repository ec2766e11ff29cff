"""``python -m tests.emulators.webhdfs --port 0 --mount DIR --hosts agent1,agent2,... [--replication 3]
[--block-size BYTES] [--old]``

Prints ``READY http://HOST:PORT`` (the namenode's WebHDFS address) and then
``ADMIN http://HOST:PORT`` (the admin-only listener, which stays up while the namenode is
down) on stdout once serving; SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .server import WebHdfsEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.emulators.webhdfs", description=__doc__)
    p.add_argument("--mount", required=True, help="directory served as the namespace (HDFS /a/b = DIR/a/b)")
    p.add_argument(
        "--hosts",
        default="agent1,agent2,agent3",
        help="datanodes: a count N (agent1..agentN) or comma-separated NAME[=IP] (default agent1,agent2,agent3)",
    )
    p.add_argument("--replication", type=int, default=3, help="replicas per block (3)")
    p.add_argument("--block-size", type=int, default=128 * 1024 * 1024, help="bytes per block (134217728)")
    p.add_argument("--old", action="store_true", help="a namenode before Hadoop 3.2: no GETFILEBLOCKLOCATIONS")
    p.add_argument("--domain", default=None, help="report datanode host names as NAME.DOMAIN")
    p.add_argument("--seed", type=int, default=0, help="placement seed (0)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every WebHDFS answer (0)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    p.add_argument("--port", type=int, default=9870, help="namenode HTTP port (9870; 0 = any free port)")
    p.add_argument("--admin-port", type=int, default=0, help="admin-only port (0 = any free port)")
    return p.parse_args(argv)


def _hosts(text: str) -> list[str]:
    if text.strip().isdigit():
        return [f"agent{i}" for i in range(1, int(text) + 1)]
    return [h for h in text.split(",") if h.strip()]


async def _main(args: argparse.Namespace) -> None:
    emulator = WebHdfsEmulator(
        args.mount,
        _hosts(args.hosts),
        replication=args.replication,
        block_size=args.block_size,
        old=args.old,
        domain=args.domain,
        host=args.host,
        port=args.port,
        admin_port=args.admin_port,
        seed=args.seed,
        latency=args.latency,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await emulator.start()
    print(f"READY {emulator.url}", flush=True)
    print(f"ADMIN {emulator.admin_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_main(parse_args(argv)))
    sys.exit(0)


if __name__ == "__main__":
    main()
