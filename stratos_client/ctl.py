"""``stratosctl``: look at and steer the jobs of a stratosd from the shell.

Parsing and printing only: every action is a call into the client library. Listings
are rich tables in a terminal, tab-separated lines (no header) when piped, and JSON
with ``--json``. Errors print ``stratosctl: <message>`` and exit with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table

from ._connection import connect
from ._protocol import VERSION
from .errors import StratosError
from .processor import Processor
from .records import STATUS_WORDS, JobReport, Progress, TaskDetails, TaskReport, TaskResult
from .settings import Settings

__all__ = ["main"]

#: seconds between progress lines of `stratosctl wait` when stdout is not a terminal.
PLAIN_PROGRESS_INTERVAL = 5.0


# -- output ------------------------------------------------------------------------------


class Output:
    """Prints records as rich tables (terminal), tab-separated lines (pipe) or JSON."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.tty = sys.stdout.isatty()

    @functools.cached_property
    def console(self) -> Console:
        return Console(highlight=False)

    def json(self, value: Any) -> None:
        print(json.dumps(_jsonable(value), indent=None if isinstance(value, TaskResult) else 2))

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        if not self.tty:
            for row in rows:
                print("\t".join(_cell(value) for value in row))
            return
        table = Table(box=None, header_style="bold")
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(value) for value in row))
        self.console.print(table)

    def fields(self, pairs: Iterable[tuple[str, object]]) -> None:
        shown = [(key, value) for key, value in pairs if value not in (None, "", ())]
        if not self.tty:
            for key, value in shown:
                print(f"{key}\t{_cell(value)}")
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        for key, value in shown:
            grid.add_row(key, _cell(value, multiline=True))
        self.console.print(grid)

    def message(self, text: str, **data: Any) -> None:
        if self.as_json:
            self.json(data)
        else:
            print(text)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _cell(value: object, multiline: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, tuple | list):
        return ("\n" if multiline else ", ").join(str(item) for item in value)
    text = str(value)
    return text if multiline else text.replace("\n", "\\n").replace("\t", " ")


def _time(stamp: float) -> str | None:
    if not stamp:
        return None
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _outcome(exit_code: int | None, signal: int | None) -> str | None:
    if signal:
        return f"signal {signal}"
    return None if exit_code is None else f"exit {exit_code}"


def _tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{word} {counts[word]}" for word in STATUS_WORDS if counts.get(word))


# -- commands ----------------------------------------------------------------------------


def cmd_jobs(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    jobs = Processor.list_jobs(settings)
    if out.as_json:
        out.json(jobs)
        return 0
    out.table(
        ("JOB", "STATE", "MASTER", "TASKS", "PENDING", "RUNNING", "FINISHED", "FAILED",
         "RESULTS", "CREATED"),
        ((j.job_id, j.state, j.master, j.total, j.counts["pending"], j.counts["running"],
          j.counts["finished"], j.counts["failed"], j.results_available, _time(j.created))
         for j in jobs),
    )
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    report: JobReport = Processor.attach(args.job, settings).status()
    if out.as_json:
        out.json(report)
        return 0
    ended = report.total - report.unfinished
    percent = f" ({100 * ended / report.total:.0f}%)" if report.total else ""
    out.fields([
        ("job", report.job_id),
        ("state", report.state),
        ("master", report.master),
        ("progress", f"{ended}/{report.total} tasks ended{percent}"),
        *((word, report.counts[word]) for word in STATUS_WORDS),
        ("results available", report.results_available),
        ("cursor", report.cursor),
        ("stream", "closed" if report.stream_closed else "open" if report.stream_opened else None),
        ("created", _time(report.created)),
        ("finished at", _time(report.finished_at)),
        ("data-local tasks", None if report.locality_tasks is None else f"{report.locality_tasks:.1%}"),
        ("data-local bytes", None if report.locality_bytes is None else f"{report.locality_bytes:.1%}"),
        ("pilots", f"{report.pilots_running} running, {report.pilots_queued} queued"
         if report.pilots_queued or report.pilots_running else None),
        ("warnings", report.warnings),
    ])
    return 0


def cmd_tasks(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    tasks: list[TaskReport] = Processor.attach(args.job, settings).stream.tasks(args.state)
    if out.as_json:
        out.json(tasks)
        return 0
    out.table(
        ("ID", "STATUS", "HOST", "ATTEMPTS", "OUTCOME", "SECONDS", "COMMAND"),
        ((t.task_id, t.status, t.host or None, t.attempts, _outcome(t.exit_code, t.signal),
          t.duration, t.command) for t in tasks),
    )
    return 0


def cmd_task(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    detail: TaskDetails = Processor.attach(args.job, settings).stream.task(args.id)
    if out.as_json:
        out.json(detail)
        return 0
    task = detail.task
    out.fields([
        ("task", task.task_id),
        ("command", task.command),
        ("status", task.status),
        ("host", task.host),
        ("outcome", _outcome(task.exit_code, task.signal)),
        ("reason", detail.reason),
        ("attempts", task.attempts),
        ("duration", f"{task.duration:.1f} s" if task.duration else None),
        ("started", _time(detail.started)),
        ("ended", _time(detail.ended)),
        ("submission call", detail.call_id),
        ("relaunched from", detail.relaunched_from),
        ("relaunched as", detail.relaunched_as),
        ("peak memory", f"{detail.peak_rss_kb / 1024:.1f} MB" if detail.peak_rss_kb else None),
        ("cpu", f"{detail.cpu_seconds:.1f} s" if detail.cpu_seconds else None),
        ("cwd", detail.cwd),
        ("sandbox", detail.sandbox),
        ("notes", detail.notes),
        ("monitor output", detail.monitor_output.rstrip()),
        ("stderr tail", detail.stderr_tail.rstrip()),
    ])
    return 0


def cmd_results(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    job = Processor.attach(args.job, settings)
    if args.consume:
        if args.follow or args.from_seq is not None:
            raise StratosError("--consume takes what the cursor has; drop --follow / --from")
        results: Iterable[TaskResult] = job.get_results(args.consumer, details=True)
    elif args.consumer:
        raise StratosError("--consumer names a cursor to move: add --consume")
    else:
        results = job.read_results(args.from_seq or 0, args.follow)
    for result in results:
        if out.as_json:
            out.json(result)
        else:
            if out.tty:
                status = " · ".join(filter(None, (
                    f"task {result.task_id}", f"seq {result.seq}", result.status,
                    _outcome(result.exit_code, result.signal),
                    "truncated" if result.truncated else "",
                )))
                out.console.print(f"── {status} ──", style="dim", markup=False)
            text = result.stdout
            sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    return 0


def cmd_add(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    commands = list(args.commands)
    if commands == ["-"]:
        commands = sys.stdin.read().splitlines()
    ids = Processor.attach(args.job, settings).stream.add(commands)
    first = f"{ids.start}" if len(ids) == 1 else f"{ids.start}-{ids.stop - 1}"
    out.message(f"added {_tasks(len(ids))} ({first})" if ids else "added no task",
                task_ids=list(ids))
    return 0


def cmd_kill(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    stream = Processor.attach(args.job, settings).stream
    killed = stream.kill(*args.ids) if args.ids else stream.kill_all()
    out.message(f"killed {_tasks(killed)}", killed=killed)
    return 0


def cmd_cancel(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    cancelled = Processor.attach(args.job, settings).cancel()
    out.message(f"cancelled {_tasks(cancelled)}", cancelled=cancelled)
    return 0


def cmd_rm(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    removed = Processor.attach(args.job, settings).remove()
    out.message(f"removed {args.job}" if removed else f"{args.job} was not removed",
                removed=removed)
    return 0 if removed else 1


def cmd_close(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    Processor.attach(args.job, settings).close()
    out.message(f"closed {args.job}", closed=True)
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    token = Processor.attach(args.job, settings).token()
    if out.as_json:
        out.json({"job": args.job, "token": token})
    else:
        print(token)
    return 0


def cmd_wait(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    job = Processor.attach(args.job, settings)
    if out.as_json:
        final = job.wait_for_tasks()
        out.json(final)
    elif out.tty:
        final = _wait_with_bar(job)
    else:
        def line(progress: Progress) -> None:
            print(f"{job.job_id}: {progress.ended}/{progress.total} ended "
                  f"({_counts_text(progress.counts)})", flush=True)

        final = job.wait_for_tasks(line, PLAIN_PROGRESS_INTERVAL)
    return 2 if final.counts["failed"] or final.counts["lost"] else 0


def _wait_with_bar(job: Processor) -> Progress:
    with Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), TextColumn("{task.fields[counts]}")) as bar:
        task = bar.add_task(job.job_id, total=None, counts="")

        def update(progress: Progress) -> None:
            bar.update(task, total=progress.total, completed=progress.ended,
                       counts=_counts_text(progress.counts))

        return job.wait_for_tasks(update, 0.5)


# -- parsing -----------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, Settings, Output], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of stratosctl (every subcommand has --help)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", default=argparse.SUPPRESS, metavar="PATH",
                        help="the daemon's socket (default: $STRATOS_SOCKET or the per-user one)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of tables")
    parser = argparse.ArgumentParser(
        prog="stratosctl", parents=[common],
        description="Look at and steer the jobs of stratosd (starts it when it is not running).",
    )
    parser.add_argument("--version", action="version", version=f"stratosctl {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, text: str, epilog: str | None = None
            ) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, parents=[common], help=text, description=text, epilog=epilog)
        cmd.set_defaults(func=func)
        return cmd

    add("jobs", cmd_jobs, "list the daemon's jobs",
        "Piped columns: job, state, master, tasks, pending, running, finished, failed, "
        "results available, created.")
    add("status", cmd_status, "a job's state and task counts").add_argument("job", metavar="JOB")
    tasks = add("tasks", cmd_tasks, "list a job's tasks",
                "Piped columns: id, status, host, attempts, outcome, seconds, command.")
    tasks.add_argument("job", metavar="JOB")
    tasks.add_argument("--state", choices=STATUS_WORDS, help="only tasks with this status")
    task = add("task", cmd_task, "everything about one task (command, outcome, stderr tail, ...)")
    task.add_argument("job", metavar="JOB")
    task.add_argument("id", metavar="ID", type=int)
    results = add(
        "results", cmd_results, "print a job's results",
        "Without --consume the job's cursor does not move, so a script calling "
        "get_results() still gets every result.",
    )
    results.add_argument("job", metavar="JOB")
    results.add_argument("--follow", action="store_true", help="keep printing new results")
    results.add_argument("--from", dest="from_seq", type=int, metavar="N",
                         help="start at sequence number N (default: the first result)")
    results.add_argument("--consume", action="store_true",
                         help="take the results past the cursor and move it, like get_results()")
    results.add_argument("--consumer", metavar="NAME",
                         help="with --consume: a named cursor instead of the job's shared one")
    add_cmd = add("add", cmd_add, "add tasks to a job in streaming mode",
                  'Each argument is one command: stratosctl add demo "gsnap f1" "gsnap f2". '
                  "A single - reads commands from stdin, one per line.")
    add_cmd.add_argument("job", metavar="JOB")
    add_cmd.add_argument("commands", metavar="COMMAND", nargs="+")
    kill = add("kill", cmd_kill, "stop tasks (all unended tasks of the job when no ID is given)")
    kill.add_argument("job", metavar="JOB")
    kill.add_argument("ids", metavar="ID", type=int, nargs="*")
    add("cancel", cmd_cancel, "cancel a job: stop every pending and running task"
        ).add_argument("job", metavar="JOB")
    add("rm", cmd_rm, "delete a job with its results, sandboxes and logs"
        ).add_argument("job", metavar="JOB")
    add("close", cmd_close, "close a finished job: a cluster backend gives its resources back now",
        "Mesos: the job's framework is torn down. Submitting again opens the job again."
        ).add_argument("job", metavar="JOB")
    add("token", cmd_token, "print the job's executor token (for stratos-executor pilot --token-file)",
        "Anyone holding it can run tasks of this job: keep it as private as the job."
        ).add_argument("job", metavar="JOB")
    add("wait", cmd_wait, "wait until every task of a job has ended",
        "Exit status: 0 when no task failed or was lost, 2 otherwise."
        ).add_argument("job", metavar="JOB")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run stratosctl.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Returns:
        The exit status.
    """
    args = build_parser().parse_args(argv)
    out = Output(getattr(args, "json", False))
    try:
        settings = Settings.load().replace(socket=getattr(args, "socket", None))
        # stratosctl may start a local daemon whatever master the config names; the
        # connection is cached, so the library calls below reuse it.
        connect(settings.socket, settings.state_dir, autostart=True, reconnect_timeout=settings.reconnect_timeout)
        status: int = args.func(args, settings, out)
        return status
    except StratosError as err:
        print(f"stratosctl: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, without a second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
