"""`stratos-executor`: run commands under StratOS's task supervision.

`run`: the same code the daemon uses for every task (output capture, monitor,
relauncher, time limit, process-group kill), from the shell: handy to try a
monitor or a relauncher on one task before running thousands.

`pilot`: run one job's tasks on this host for a `stratosd` elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
from dataclasses import asdict

from stratos_executor.spec import TaskSpec
from stratos_executor.supervisor import TaskRunner


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stratos-executor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from stratos_wire import VERSION

    parser.add_argument("--version", action="version", version=f"stratos-executor {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run one shell command under supervision and print its record",
                         description="Run one shell command under supervision. Its stdout is printed; "
                         "its record (exit code or signal, usage, notes, relauncher commands) goes to "
                         "stderr as JSON. Exits with the task's exit code (128+N for signal N).")
    run.add_argument("shell_command", metavar="SHELL_COMMAND", help="the command, as for /bin/sh -c")
    run.add_argument("--cwd", default=os.getcwd(), help="working directory (default: the current one)")
    run.add_argument("--threads", type=int, default=1, help="sets OMP_NUM_THREADS and friends (default 1)")
    run.add_argument("--monitor", help="program run as `monitor PID TASK_OUTPUT` every --update-interval")
    run.add_argument("--relauncher", help="program run as `relauncher MONITOR_OUTPUT` on stratos_relaunch")
    run.add_argument("--update-interval", type=float, default=10.0, help="seconds between monitor calls")
    run.add_argument("--timeout", type=float, help="seconds before the task is stopped (default: none)")
    _add_pilot(sub)
    _add_task(sub)
    probe = sub.add_parser(
        "probe", help="check that this node reaches the daemon (stratosctl doctor starts it)",
        description="Call the daemon's executor listener once, as a task's executor would, with the "
        "one-time secret in $STRATOS_PROBE_SECRET (TLS verified with $STRATOS_TLS_CA_PEM or --tls-ca). "
        "Exit 0: reached; 3: unreachable within --timeout; 4: refused; 2: usage.")
    probe.add_argument("--connect", required=True, metavar="ADDR", help="the daemon: HOST:PORT or unix:/path")
    probe.add_argument("--tls-ca", metavar="PEM", help="connect with TLS, verifying the daemon with this CA")
    probe.add_argument("--timeout", type=_positive, default=20.0, metavar="S",
                       help="give up after S seconds of trying (default 20)")
    return parser


_PILOT_EPILOG = """\
exit codes:
  0  stopped: the daemon said stop, SIGTERM/SIGINT, or idle for --idle-timeout (also while
     the daemon is unreachable: an idle pilot does not hold its host for --retry-for)
  1  unexpected error (also: a second SIGTERM/SIGINT before the reports were delivered)
  2  usage: no token, bad address or option
  3  the daemon was unreachable for longer than --retry-for; the tasks were killed
  4  the daemon refused the pilot (wrong token, the job is gone); the tasks were killed
No task process outlives the pilot.
"""


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def _add_pilot(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pilot = sub.add_parser(
        "pilot", help="run one job's (or one pilot pool's) tasks on this host for a stratosd elsewhere",
        description="Offer this host's cores and memory to one job of a stratosd (--job, with the job's\n"
        "token), or to every job of a pilot pool (--pool, with the pool's credential from\n"
        "`stratosctl pilot-credential POOL`), run the tasks it assigns under supervision\n"
        "and report them back, until the daemon says stop, a\n"
        "SIGTERM/SIGINT (the running tasks are killed and reported as \"executor-stopped\",\n"
        "so the daemon runs them elsewhere), or --idle-timeout. Logs one line per event\n"
        "to stderr. Its executor id is $STRATOS_EXECUTOR_ID if set (the Slurm backend sets\n"
        "slurm-$SLURM_JOB_ID), else HOST-PID-RANDOM.",
        epilog=_PILOT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pilot.add_argument("--connect", required=True, metavar="ADDR",
                       help="the daemon's executor listener: HOST:PORT or unix:/path")
    whose = pilot.add_mutually_exclusive_group(required=True)
    whose.add_argument("--job", metavar="JOB", help="the job whose tasks to run")
    whose.add_argument("--pool", metavar="POOL",
                       help='the pilot pool whose jobs\' tasks to run ("pilots/default": jobs with master="pilots"; '
                       "`stratosctl status JOB` names a job's pool)")
    pilot.add_argument("--token-file", metavar="F",
                       help="file holding the job's token, or with --pool the pool's credential "
                       "(default: $STRATOS_TOKEN)")
    pilot.add_argument("--cpus", type=_positive, metavar="N",
                       help="cores to offer (default: $SLURM_CPUS_ON_NODE or $SLURM_CPUS_PER_TASK, else all)")
    pilot.add_argument("--mem", type=_positive, metavar="MB",
                       help="memory to offer, in MB (default: $SLURM_MEM_PER_NODE, else the physical memory)")
    pilot.add_argument("--host", metavar="NAME", help="host name to register (default: this host's name)")
    pilot.add_argument("--idle-timeout", type=_non_negative, default=300.0, metavar="S",
                       help="exit after S seconds with no task running and none assigned; 0: never (default 300)")
    pilot.add_argument("--retry-for", type=_non_negative, default=300.0, metavar="S",
                       help="keep retrying every call (backoff 0.1 s doubling up to 5 s) while the daemon is "
                       "unreachable for up to S seconds, default 300; reports are never dropped within that "
                       "window; beyond it the tasks are killed and the pilot exits with code 3")
    pilot.add_argument("--tls-ca", metavar="PEM", help="connect with TLS, verifying the daemon with this CA")
    pilot.add_argument("--work-dir", metavar="D",
                       help="where the attempts' sandboxes go, as D/JOB/TASK-ATTEMPT (default: a temporary "
                       "directory removed at exit)")


async def _run(opts: argparse.Namespace, sandbox: str) -> int:
    spec = TaskSpec(
        job_id="stratos-executor", task_id=0, attempt=1, command=opts.shell_command, cwd=opts.cwd,
        env=dict(os.environ), threads=opts.threads, output="scheduler", sandbox=sandbox,
        monitor=opts.monitor, relauncher=opts.relauncher, update_interval=opts.update_interval,
        timeout=opts.timeout,
    )
    runner = TaskRunner(spec)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, runner.kill, "killed")
    record = await runner.run()
    if record.stdout is not None:
        sys.stdout.buffer.write(record.stdout)
    elif record.stdout_path:
        with open(record.stdout_path, "rb") as f:
            while piece := f.read(1 << 20):
                sys.stdout.buffer.write(piece)
    sys.stdout.flush()
    report = asdict(record)
    report.pop("stdout")
    report["stderr_tail"] = record.stderr_tail.decode("utf-8", "replace")
    print(json.dumps(report, indent=2), file=sys.stderr)
    if record.exit_code is not None:
        return record.exit_code
    return 128 + (record.signal or 0) if record.signal else 1


def _pilot(opts: argparse.Namespace) -> int:
    from stratos_executor import remote  # grpc is imported only for the pilot

    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO,
        format="%(asctime)s stratos-executor pilot[%(process)d] %(levelname)s %(message)s",
    )
    bootstrap = "" if opts.token_file else os.environ.get("STRATOS_BOOTSTRAP", "").strip()
    try:
        target = remote.check_target(opts.connect)
        token = "" if bootstrap else remote.read_token(opts.token_file)
    except ValueError as exc:
        print(f"stratos-executor pilot: {exc}", file=sys.stderr)
        return remote.EXIT_USAGE
    except remote.PilotExit as exc:
        print(f"stratos-executor pilot: {exc.message}", file=sys.stderr)
        return exc.code
    cpus, mem = remote.default_resources()
    config = remote.PilotConfig(
        target=target, job_id=opts.job or "", pool=opts.pool or "", token=token, cpus=opts.cpus or cpus,
        mem=opts.mem or mem,
        host=opts.host or remote.default_host(), idle_timeout=opts.idle_timeout, retry_for=opts.retry_for,
        work_dir=opts.work_dir, tls_ca=opts.tls_ca, executor_id=os.environ.get("STRATOS_EXECUTOR_ID", ""),
        tls_ca_pem=os.environ.get("STRATOS_TLS_CA_PEM", ""), bootstrap=bootstrap,
    )
    return remote.run_pilot(config)


def _add_task(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    task = sub.add_parser(
        "task", help="run the one task a cluster manager started this executor for (Mesos)",
        description="Run the task described by $STRATOS_ASSIGNMENT (a base64 TaskAssignment) under\n"
        "supervision and report it to the daemon as executor $STRATOS_EXECUTOR_ID, with\n"
        "the credential it trades $STRATOS_BOOTSTRAP for (else $STRATOS_TOKEN), over TLS\n"
        "verified with $STRATOS_TLS_CA_PEM or --tls-ca when given. The Mesos backend\n"
        "starts this as each Mesos task's command;\n"
        "reports are retried while the daemon is unreachable, as a pilot's are.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    task.add_argument("--connect", required=True, metavar="ADDR", help="the daemon: HOST:PORT or unix:/path")
    task.add_argument("--job", required=True, metavar="JOB", help="the job the task belongs to")
    task.add_argument("--tls-ca", metavar="PEM", help="connect with TLS, verifying the daemon with this CA")
    task.add_argument("--retry-for", type=_non_negative, default=300.0, metavar="S",
                      help="retry reports for up to S seconds while the daemon is unreachable (default 300)")


def _task(opts: argparse.Namespace) -> int:
    import base64

    from stratos_executor import remote
    from stratos_wire import stratos_pb2 as pb

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s stratos-executor task[%(process)d] %(levelname)s %(message)s")
    try:
        target = remote.check_target(opts.connect)
        bootstrap = os.environ.get("STRATOS_BOOTSTRAP", "").strip()
        token = "" if bootstrap else remote.read_token(None)
        assignment = pb.TaskAssignment.FromString(base64.b64decode(os.environ["STRATOS_ASSIGNMENT"]))
        executor_id = os.environ["STRATOS_EXECUTOR_ID"]
    except (ValueError, KeyError) as exc:
        print(f"stratos-executor task: {exc!r}: needs STRATOS_ASSIGNMENT, STRATOS_EXECUTOR_ID and "
              "STRATOS_BOOTSTRAP (or STRATOS_TOKEN) in the environment", file=sys.stderr)
        return remote.EXIT_USAGE
    except remote.PilotExit as exc:
        print(f"stratos-executor task: {exc.message}", file=sys.stderr)
        return exc.code
    config = remote.PilotConfig(
        target=target, job_id=opts.job, token=token, cpus=1, mem=1, host=remote.default_host(),
        idle_timeout=0, retry_for=opts.retry_for, work_dir=os.getcwd(), executor_id=executor_id,
        tls_ca=opts.tls_ca, tls_ca_pem=os.environ.get("STRATOS_TLS_CA_PEM", ""), bootstrap=bootstrap,
    )
    return remote.run_one_task(config, assignment)


def main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_args(argv)
    if opts.command == "pilot":
        return _pilot(opts)
    if opts.command == "task":
        return _task(opts)
    if opts.command == "probe":
        from stratos_executor.probe import probe

        return probe(opts.connect, opts.tls_ca, opts.timeout)
    with tempfile.TemporaryDirectory(prefix="stratos-executor-") as sandbox:
        return asyncio.run(_run(opts, sandbox))


if __name__ == "__main__":
    sys.exit(main())
