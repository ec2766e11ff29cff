"""`stratos-executor`: run one command under StratOS's task supervision.

The same code the daemon uses for every task (output capture, monitor, relauncher,
time limit, process-group kill), from the shell: handy to try a monitor or a
relauncher on one task before running thousands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    return parser


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


def main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stratos-executor-") as sandbox:
        return asyncio.run(_run(opts, sandbox))


if __name__ == "__main__":
    sys.exit(main())
