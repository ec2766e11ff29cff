"""``python -m tests.emulators.mesos --port P --agents agent1:cpus=4:mem=4096,agent2 ...``

Prints ``READY http://HOST:PORT`` on stdout once serving; SIGTERM or SIGINT stops it (and
every task process it started).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from .agent import AgentSpec
from .server import MesosEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.emulators.mesos", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5050, help="port (0 = any free port)")
    p.add_argument(
        "--agents",
        default="agent1",
        help="a count N (agents agent1..agentN with the defaults), or comma-separated "
        "NAME[:cpus=N][:mem=MB][:disk=MB][:ports=A-B][:KEY=VALUE attribute]...",
    )
    p.add_argument("--heartbeat", type=float, default=15.0, help="heartbeat interval, seconds (15)")
    p.add_argument("--allocation-interval", type=float, default=1.0, help="batch allocation interval, seconds (1)")
    p.add_argument("--retry-interval", type=float, default=10.0, help="first status update retry, seconds (10)")
    p.add_argument("--retry-max", type=float, default=600.0, help="status update retry cap, seconds (600)")
    p.add_argument("--work-dir", default=None, help="sandboxes go here (default: a temporary dir, removed)")
    p.add_argument("--hostname", default=None, help="the master's advertised hostname (default: --host)")
    p.add_argument("--redirect-to", default=None, metavar="HOST:PORT", help="act as a non-leader: 307 there")
    p.add_argument("--no-leader", action="store_true", help="act as a non-leader that knows no leader (503)")
    p.add_argument("--executor-env", default=None, metavar="JSON", help="agent flag --executor_environment_variables")
    p.add_argument("--seed", type=int, default=None, help="allocator shuffle seed")
    return p.parse_args(argv)


def _agents(text: str) -> list[AgentSpec]:
    if text.strip().isdigit():
        return [AgentSpec.parse(f"agent{i}") for i in range(1, int(text) + 1)]
    return [AgentSpec.parse(s) for s in text.split(",") if s.strip()]


async def _main(args: argparse.Namespace) -> None:
    emulator = MesosEmulator(
        _agents(args.agents),
        host=args.host,
        port=args.port,
        heartbeat_interval=args.heartbeat,
        allocation_interval=args.allocation_interval,
        status_update_retry_interval=args.retry_interval,
        status_update_retry_max=args.retry_max,
        work_dir=args.work_dir,
        hostname=args.hostname,
        redirect_to=args.redirect_to,
        no_leader=args.no_leader,
        executor_environment=json.loads(args.executor_env) if args.executor_env else None,
        seed=args.seed,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await emulator.start()
    print(f"READY {emulator.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_main(args))
    else:
        uvloop.run(_main(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
