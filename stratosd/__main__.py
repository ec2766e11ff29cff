"""`stratosd`: run, stop or inspect the StratOS daemon."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import grpc

from stratos_wire import PROTOCOL_VERSION, VERSION
from stratos_wire import paths as _paths
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc
from stratos_wire.errors import StratosError
from stratos_wire.settings import SETTINGS, default


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stratosd",
        description="The StratOS daemon: owns the scheduler, every job's state and the backends. "
        "Scripts and stratosctl start it on demand; run it by hand to choose its options.",
    )
    parser.add_argument("--version", action="version", version=f"stratosd {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon in the foreground",
                         description="Run the daemon in the foreground until SIGTERM, Ctrl-C or `stratosd stop`.")
    run.add_argument("--state-dir", type=Path, help="journal, sandboxes and log (default: $STRATOS_STATE_DIR "
                     "or ~/.local/state/stratos)")
    run.add_argument("--socket", type=Path, help="Unix socket to listen on (default: $STRATOS_SOCKET or "
                     "$XDG_RUNTIME_DIR/stratos/stratosd.sock)")
    run.add_argument("--listen", metavar="HOST:PORT", help="also listen on TCP (executors on cluster nodes); "
                     "needs --token-file")
    run.add_argument("--token-file", type=Path, help="file holding the token TCP callers must present")
    run.add_argument("--cpus", type=float, help="cores the local backend offers (default: this host's)")
    run.add_argument("--mem", type=float, help="memory in MB the local backend offers (default: this host's)")
    run.add_argument("--retention-days", type=float, default=7.0,
                     help="remove finished jobs' records, results, sandboxes and spilled stdout "
                     "this long after they ended; output files are kept (default: 7)")
    run.add_argument("--sync", choices=["NORMAL", "FULL"], default="NORMAL",
                     help="SQLite synchronous mode: NORMAL survives a daemon crash, FULL also a power loss")
    run.add_argument("--pilot-lost-after", type=float, default=30.0, metavar="SECONDS",
                     help="a pilot that has not fetched work for this long is lost (default: 30)")
    run.add_argument("--executor-listen", metavar="HOST:PORT",
                     help="bind the executor listener (only executor calls, each with its job's "
                     "credential) here, open from the start; default: opened when a cluster job "
                     "comes, on the address that routes to its master, port kept across restarts")
    run.add_argument("--advertise", metavar="HOST[:PORT]",
                     help="the address executors are told to use (default: the listener's)")
    run.add_argument("--executor-tls", choices=SETTINGS["executor_tls"].choices,
                     help="TLS on executor listeners (default auto: on, with the daemon's own CA, "
                     "except on an explicit loopback --executor-listen); off needs saying")
    run.add_argument("--tls-cert", type=Path, metavar="PEM",
                     help="your own TLS certificate for the TCP listeners (default: the daemon's CA's)")
    run.add_argument("--tls-key", type=Path, metavar="PEM", help="its private key (with --tls-cert: TLS only)")
    run.add_argument("--executor-tls-ca", metavar="PEM",
                     help="with --tls-cert: the CA file (its path on the nodes) executors verify it with")
    run.add_argument("--mesos-idle-teardown", type=float, default=60.0, metavar="SECONDS",
                     help="tear down a finished job's Mesos framework after this long without new work "
                     "(default 60; Processor.close() or `stratosctl close` does it at once)")
    run.add_argument("--slurm-idle-release", type=float, default=30.0, metavar="SECONDS",
                     help="stop a Slurm pilot after this long with nothing to run while its pool has "
                     "nothing waiting: the one idle timer of the daemon's shared pilots (default 30)")
    run.add_argument("--slurm-poll", type=float, default=2.0, metavar="SECONDS",
                     help="how often squeue is asked about pilot jobs (default 2)")
    run.add_argument("--follow-interval", type=float, default=1.0, metavar="SECONDS",
                     help="seconds between two scans of a pattern a job follows (glob_stream(..., follow=True)); "
                          "at least 0.1 (default 1)")
    run.add_argument("--pilot-failures-before-lost", type=int, metavar="N",
                     help="Slurm pilot jobs of a job in a row that end without reaching the daemon, while "
                     "none serves it, before each waiting task is charged one retry (lost with the pilots' "
                     f"log when none are left; default {default('pilot_failures_before_lost')})")
    run.add_argument("--slurm-node-wait", type=float, metavar="SECONDS",
                     help="how long a Slurm pilot asked of the node holding pending tasks' data may stay queued "
                     "before one on any node replaces it (the jobs' locality_wait when longer; "
                     f"default {default('slurm_node_wait'):g})")
    run.add_argument("--mesos-failover-timeout", type=float, default=4 * 7 * 86400.0, metavar="SECONDS",
                     help="how long Mesos keeps a job's tasks running while the daemon is away (default 4 weeks)")
    run.add_argument("--executor-command", metavar="COMMAND",
                     help="how a cluster node starts the executor (default: this Python with -m stratos_executor)")
    run.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    for name, text in (("stop", "stop the daemon (running tasks are stopped and run again after a restart)"),
                       ("status", "show whether the daemon runs, its pid, version, jobs and state size")):
        cmd = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        cmd.add_argument("--socket", type=Path, help="the daemon's socket (default as for `run`)")
    return parser


#: seconds a thread holds the GIL while another waits for it (Python's default: 0.005). The event
#: loop gives the GIL up at each system call (a /proc read, a socket write) and must wait this long
#: to get it back while a thread computes (a glob's expansion): a scan of /proc, a hundred reads,
#: then kept a Status call waiting 0.3-0.7 s; with 0.5 ms, at most 0.11 s in the same run.
SWITCH_INTERVAL = 0.0005


def main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_args(argv)
    socket = opts.socket or _paths.socket_path()
    try:
        if opts.command == "run":
            return _run(opts, socket)
        if opts.command == "stop":
            return _stop(socket)
        return _status(socket)
    except StratosError as err:
        print(f"stratosd: {err}", file=sys.stderr)
        return 1


def _run(opts: argparse.Namespace, socket: Path) -> int:
    import uvloop

    from stratosd.server import AlreadyRunning, DaemonConfig, serve

    logging.basicConfig(level=logging.DEBUG if opts.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    state_dir = opts.state_dir or _paths.state_dir()
    _paths.ensure_private_dir(state_dir)
    _paths.ensure_private_dir(socket.parent)
    if (opts.tls_cert is None) != (opts.tls_key is None):
        print("stratosd: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    token = None
    if opts.listen:
        if not opts.token_file:
            print("stratosd: --listen needs --token-file (callers over TCP must present it)", file=sys.stderr)
            return 2
        token = opts.token_file.read_text().strip()
        if len(token) < 16:
            print("stratosd: the token must be at least 16 characters", file=sys.stderr)
            return 2
    from stratosd import daemon_settings

    fromfile = daemon_settings.load()  # [stratosd] in the settings file; flags win
    for key in daemon_settings.KEYS:  # flags follow the table's rules
        if getattr(opts, key, None) is not None:
            daemon_settings.from_flag(key, str(getattr(opts, key)))

    def pick(flag: str | None, key: str) -> str | None:
        return flag if flag is not None else fromfile.get(key) or None

    config = DaemonConfig(
        state_dir=state_dir, socket=socket, listen=opts.listen, token=token, cpus=opts.cpus, mem=opts.mem,
        retention=opts.retention_days * 86400.0, synchronous=opts.sync, pilot_lost_after=opts.pilot_lost_after,
        advertise=pick(opts.advertise, "advertise"),
        executor_command=pick(opts.executor_command, "executor_command"),
        executor_listen=pick(opts.executor_listen, "executor_listen") or None,
        executor_tls=pick(opts.executor_tls, "executor_tls") or default("executor_tls"),
        tls_cert=opts.tls_cert, tls_key=opts.tls_key,
        executor_tls_ca=pick(opts.executor_tls_ca, "executor_tls_ca"), mesos_idle_teardown=opts.mesos_idle_teardown,
        mesos_failover_timeout=opts.mesos_failover_timeout, slurm_idle_release=opts.slurm_idle_release,
        slurm_poll=opts.slurm_poll,
        slurm_node_wait=float(pick(None if opts.slurm_node_wait is None else str(opts.slurm_node_wait),
                                   "slurm_node_wait") or default("slurm_node_wait")),
        follow_interval=opts.follow_interval,
        pilot_failures_before_lost=int(pick(None if opts.pilot_failures_before_lost is None
                                            else str(opts.pilot_failures_before_lost), "pilot_failures_before_lost")
                                       or default("pilot_failures_before_lost")),
    )
    try:
        sys.setswitchinterval(SWITCH_INTERVAL)
        uvloop.run(serve(config))
    except AlreadyRunning as err:
        print(f"stratosd: {err}", file=sys.stderr)
        return 1
    return 0


def _stub(socket: Path) -> tuple[grpc.Channel, pb_grpc.StratosStub]:
    channel = grpc.insecure_channel(f"unix:{socket}")
    return channel, pb_grpc.StratosStub(channel)


def _hello(stub: pb_grpc.StratosStub) -> pb.HelloReply | None:
    try:
        reply: pb.HelloReply = stub.Hello(
            pb.HelloRequest(protocol_version=PROTOCOL_VERSION, client_version=VERSION), timeout=5
        )
        return reply
    except grpc.RpcError:
        return None


def _stop(socket: Path) -> int:
    channel, stub = _stub(socket)
    with channel:
        hello = _hello(stub)
        if hello is None:
            print(f"stratosd is not running at {socket}")
            return 0
        stub.Shutdown(pb.ShutdownRequest(), timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not _alive(hello.pid):
            print(f"stratosd {hello.pid} stopped")
            return 0
        time.sleep(0.05)
    print(f"stratosd {hello.pid} did not stop within 30 s", file=sys.stderr)
    return 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our own child in tests) has stopped too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _status(socket: Path) -> int:
    channel, stub = _stub(socket)
    with channel:
        hello = _hello(stub)
        if hello is None:
            print(f"stratosd is not running at {socket}")
            return 3
        jobs = stub.ListJobs(pb.ListJobsRequest(), timeout=10).jobs
        try:
            usage: pb.StateUsage | None = stub.GetStateUsage(pb.StateUsageRequest(), timeout=60)
        except grpc.RpcError:  # an older daemon
            usage = None
    active = sum(1 for j in jobs if j.state == "active")
    print(f"stratosd {hello.daemon_version} running, pid {hello.pid}")
    print(f"socket:    {socket}")
    print(f"state dir: {hello.state_dir}")
    if usage is not None:
        print(f"size:      {_size(usage.total_bytes)}: journal {_size(usage.journal_bytes)} "
              f"({_size(usage.journal_free_bytes)} free),")
        print(f"           sandboxes {_size(usage.sandbox_bytes)}, pilot logs {_size(usage.pilot_log_bytes)}, "
              f"other {_size(usage.other_bytes)}")
        print(f"retention: {usage.retention_days:g} days (`stratosctl gc` frees space now)")
    print(f"backends:  {', '.join(hello.backends)}")
    print(f"jobs:      {len(jobs)} ({active} active)")
    print("listeners:")
    for line in listener_lines(socket, Path(hello.state_dir)):
        head, sep, tail = line.partition(": ")
        if len(line) > 76 and sep:  # 80 columns
            print(f"  {head}:\n    {tail}")
        else:
            print(f"  {line}")
    return 0


def listener_lines(socket: Path, state_dir: Path) -> list[str]:
    """What `stratosd status` says of each listener: where, how, for what."""
    import json

    lines = ["Unix socket (this user only): submitting, results, stratosctl"]
    try:
        data = json.loads((state_dir / "executor-listeners.json").read_text())
    except (OSError, ValueError):
        data = {}
    for item in data.get("listeners", []) if isinstance(data, dict) else []:
        serves = ", ".join(m for m in item.get("serves", []) if m != "*") or "every cluster"
        tls = "TLS" if item.get("tls") else "plain text"
        advertised = item.get("advertise", "")
        where = item.get("bind", "?") + (f" (advertised {advertised})" if advertised != item.get("bind") else "")
        lines.append(f"{where}, {tls}: executor calls only, for {serves}")
    if len(lines) == 1:
        lines.append("no executor listener yet (one opens when a cluster job comes)")
    return lines


def _size(count: int) -> str:
    """Bytes as people read them: 512 B, 1.5 KB, 112.0 MB (powers of 1024)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


if __name__ == "__main__":
    sys.exit(main())
