"""``stratosctl``: look at and steer the jobs of a stratosd from the shell.

Parsing and printing only: every action is a call into the client library. Listings
are rich tables in a terminal, tab-separated lines (no header) when piped, and JSON
with ``--json``. Errors print ``stratosctl: <message>`` (with ``--json``: a JSON object
``{"error": ..., "type": ...}``) on stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table
from rich.text import Text

from stratos_wire import VERSION
from stratos_wire import stratos_pb2 as pb

from ._connection import connect
from ._progress import eta_text, progress_text
from .errors import StratosError, TaskAlreadyEnded
from .processor import Processor
from .records import (
    STATUS_WORDS,
    FollowReport,
    JobReport,
    Progress,
    StoryLine,
    TaskDetails,
    TaskReport,
    TaskResult,
    TaskStory,
)
from .settings import Settings

__all__ = ["main"]

#: seconds between progress lines of `stratosctl wait` when stdout is not a terminal.
PLAIN_PROGRESS_INTERVAL = 5.0
#: seconds between redraws of `status --watch` and `jobs --watch`.
WATCH_INTERVAL = 0.5


# -- output ------------------------------------------------------------------------------


class Stamp(float):
    """A wall-clock time: ``YYYY-MM-DD HH:MM:SS`` when piped, "3 min ago" in a terminal."""


class Seconds(float):
    """A duration: seconds with one decimal when piped, "2m05s" in a terminal."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a terminal table."""

    header: str
    #: 0: always shown; otherwise the column is left out when the terminal is too narrow,
    #: the highest ``drop`` first, so wider terminals show more.
    drop: int = 0
    #: free text (a command): wraps at spaces and takes the width that is left; every
    #: other column keeps its cells on one line, so no word is broken inside a cell.
    wrap: bool = False
    right: bool = False


#: the narrowest a wrapping column is planned to get before optional columns are left out.
WRAP_MIN = 24


class Output:
    """Prints records as rich tables (terminal), tab-separated lines (pipe) or JSON.

    Everything shown comes from users or tasks (commands, stderr, notes, paths), so it is
    printed literally: cells are rich ``Text`` objects and the console reads no markup or
    emoji codes, so ``[/]`` or ``[step 3]`` in a command can neither crash a view nor vanish.
    """

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.tty = sys.stdout.isatty()

    @functools.cached_property
    def console(self) -> Console:
        return Console(highlight=False, markup=False, emoji=False)

    def json(self, value: Any) -> None:
        print(json.dumps(_jsonable(value), indent=None if isinstance(value, TaskResult) else 2))

    def error(self, err: BaseException) -> None:
        """An error on stderr: ``stratosctl: <message>``, or a JSON object with ``--json``."""
        if self.as_json:
            print(json.dumps({"error": str(err), "type": type(err).__name__}), file=sys.stderr)
        else:
            print(f"stratosctl: {err}", file=sys.stderr)

    def lines(self, rows: Iterable[Sequence[object]]) -> None:
        """Tab-separated lines without a header (stdout is not a terminal)."""
        for row in rows:
            print("\t".join(_cell(value) for value in row))

    def table(self, columns: Sequence[Column], rows: Iterable[Sequence[object]]) -> None:
        """A table fitted to the terminal's width; tab-separated lines when piped."""
        if not self.tty:
            self.lines(rows)
            return
        self.console.print(self.render_table(columns, rows))

    def render_table(self, columns: Sequence[Column], rows: Iterable[Sequence[object]]) -> Table:
        """The terminal table of ``table``, to print or to redraw in place."""
        cells = [[_display(value) for value in row] for row in rows]
        shown = _fit(columns, cells, self.console.width)
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for index in shown:
            column = columns[index]
            table.add_column(
                Text(column.header), justify="right" if column.right else "left",
                no_wrap=not column.wrap, overflow="fold",
            )
        for row in cells:
            table.add_row(*(Text(row[index]) for index in shown))
        return table

    def fields(self, pairs: Iterable[tuple[str, object]]) -> None:
        shown = [(key, value) for key, value in pairs if value not in (None, "", ())]
        if not self.tty:
            for key, value in shown:
                print(f"{key}\t{_cell(value)}")
            return
        self.console.print(render_fields(shown))

    def message(self, text: str, **data: Any) -> None:
        if self.as_json:
            self.json(data)
        else:
            print(text)


def render_fields(pairs: Iterable[tuple[str, object]]) -> Table:
    """Key/value lines as a terminal grid (values printed literally)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in pairs:
        if value not in (None, "", ()):
            grid.add_row(Text(key), Text(_display(value, multiline=True)))
    return grid


def _fit(columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int) -> list[int]:
    """The columns that fit in ``width``: optional ones are left out, highest ``drop`` first."""

    def need(index: int) -> int:
        column = columns[index]
        widest = max((cell_len(row[index]) for row in cells), default=0)
        return max(cell_len(column.header), min(widest, WRAP_MIN) if column.wrap else widest)

    shown = list(range(len(columns)))
    while sum(need(i) for i in shown) + 2 * (len(shown) - 1) > width:
        optional = [i for i in shown if columns[i].drop]
        if not optional:
            break
        shown.remove(max(optional, key=lambda i: (columns[i].drop, i)))
    return shown


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _cell(value: object, multiline: bool = False) -> str:
    """A value as piped: plain, one line unless ``multiline``."""
    if value is None:
        return "-"
    if isinstance(value, Stamp):
        return _time(value) or "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, tuple | list):
        return ("\n" if multiline else ", ").join(str(item) for item in value)
    text = str(value)
    return text if multiline else text.replace("\n", "\\n").replace("\t", " ")


def _display(value: object, multiline: bool = False, now: float | None = None) -> str:
    """A value as shown in a terminal: times relative, durations short.

    ``multiline``: a detail view, where a time is shown as a date and relative to now.
    """
    if isinstance(value, Stamp):
        if not value:
            return "-"
        ago = _ago(value, time.time() if now is None else now)
        return f"{_time(value)} ({ago})" if multiline else ago
    if isinstance(value, Seconds):
        return _short_duration(value)
    return _cell(value, multiline)


def _time(stamp: float) -> str | None:
    if not stamp:
        return None
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _ago(stamp: float, now: float) -> str:
    """How long ago ``stamp`` was, in words that fit a narrow column ("3 min ago")."""
    seconds = max(0.0, now - stamp)
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600:.0f} h ago"
    if seconds < 60 * 86400:
        return f"{seconds // 86400:.0f} days ago"
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d")


def _short_duration(seconds: float) -> str:
    """A duration without spaces, so a cell never wraps inside it ("12.5s", "2m05s", "3h07m")."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _outcome(exit_code: int | None, signal: int | None) -> str | None:
    if signal:
        return f"signal {signal}"
    return None if exit_code is None else f"exit {exit_code}"


def _tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{word} {counts[word]}" for word in STATUS_WORDS if counts.get(word))


def _counts_short(counts: dict[str, int]) -> str:
    """The non-zero counts with the table's short words, so a progress line fits 80 columns."""
    return " ".join(f"{COUNT_HEADERS[word].lower()} {counts[word]}"
                    for word in STATUS_WORDS if counts.get(word))


# -- commands ----------------------------------------------------------------------------


#: short headers of the task-count columns, so a job's row fits 80 columns.
COUNT_HEADERS: dict[str, str] = {
    "pending": "PEND", "running": "RUN", "finished": "FIN", "failed": "FAIL",
    "killed": "KILL", "relaunched": "RELNCH", "lost": "LOST",
}


def cmd_jobs(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    if getattr(args, "watch", False) and out.tty and not out.as_json:
        return _watch(out, lambda rates: _jobs_view(Processor.list_jobs(settings), out, rates))
    jobs = Processor.list_jobs(settings)
    if getattr(args, "watch", False) and not out.as_json:
        while any(j.unfinished for j in jobs):  # piped: the listing once every job has ended
            time.sleep(WATCH_INTERVAL)
            jobs = Processor.list_jobs(settings)
    if out.as_json:
        out.json(jobs)
        return 0
    if not out.tty:
        # Fixed columns for scripts; killed, relaunched and lost were added at the end.
        out.lines(
            (j.job_id, j.state, j.master, j.total, j.counts["pending"], j.counts["running"],
             j.counts["finished"], j.counts["failed"], j.results_available, Stamp(j.created),
             j.counts["killed"], j.counts["relaunched"], j.counts["lost"])
            for j in jobs
        )
        return 0
    if not jobs:
        print("no jobs")
        return 0
    # A column for each task state some job has, so a cancelled job shows its killed tasks.
    words = [word for word in STATUS_WORDS if any(j.counts[word] for j in jobs)]
    out.table(
        (Column("JOB"), Column("STATE"), Column("MASTER", drop=2), Column("TASKS", right=True),
         *(Column(COUNT_HEADERS[word], right=True) for word in words),
         Column("RESULTS", drop=1, right=True), Column("CREATED"), Column("ENDED", drop=3)),
        ((j.job_id, j.state, j.master, j.total, *(j.counts[word] for word in words),
          j.results_available, Stamp(j.created), Stamp(j.finished_at))
         for j in jobs),
    )
    return 0


class _Rates:
    """Tasks/s and ETA of watched jobs, from the tasks that ended since the watch began."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.first: dict[str, int] = {}

    def progress(self, report: JobReport) -> tuple[Progress, float | None]:
        progress = Progress(done=not report.unfinished, total=report.total, counts=report.counts)
        first = self.first.setdefault(report.job_id, progress.ended)
        elapsed = time.monotonic() - self.start
        ended = progress.ended - first
        return progress, (ended / elapsed if elapsed > 0.2 and ended > 0 else None)

    def figures(self, report: JobReport) -> str:
        """ "1200/2000 · 3 failed · 2 running · 850 tasks/s · ETA 0:01" (the progress line's)."""
        progress, rate = self.progress(report)
        if progress.done:
            return f"{progress.ended}/{progress.total} ended"
        return progress_text(progress, rate, time.monotonic() - self.start)


def _watch(out: Output, view: Callable[[_Rates], tuple[RenderableType, bool]]) -> int:
    """Redraw ``view`` in place every WATCH_INTERVAL until it says it is done (rich Live)."""
    rates = _Rates()
    renderable, done = view(rates)
    with Live(renderable, console=out.console, auto_refresh=False, transient=False) as live:
        while not done:
            time.sleep(WATCH_INTERVAL)
            renderable, done = view(rates)
            live.update(renderable, refresh=True)
    return 0


def _jobs_view(jobs: list[JobReport], out: Output, rates: _Rates) -> tuple[RenderableType, bool]:
    if not jobs:
        return Text("no jobs"), True
    words = [word for word in STATUS_WORDS if any(j.counts[word] for j in jobs)]
    table = out.render_table(
        (Column("JOB"), Column("STATE"), Column("MASTER", drop=3), Column("TASKS", right=True),
         *(Column(COUNT_HEADERS[word], right=True) for word in words),
         Column("RESULTS", drop=2, right=True), Column("CREATED", drop=1), Column("ETA", right=True)),
        ((j.job_id, j.state, j.master, j.total, *(j.counts[word] for word in words),
          j.results_available, Stamp(j.created),
          eta_text(*rates.progress(j)) if j.unfinished else "-")
         for j in jobs),
    )
    return table, not any(j.unfinished for j in jobs)


def _status_pairs(report: JobReport, rates: _Rates | None = None) -> list[tuple[str, object]]:
    ended = report.total - report.unfinished
    percent = f" ({100 * ended / report.total:.0f}%)" if report.total else ""
    progress: object = f"{ended}/{report.total} tasks ended{percent}"
    if rates is not None and report.unfinished:
        progress = rates.figures(report)
    return [
        ("job", report.job_id),
        ("state", report.state),
        ("master", report.master),
        ("progress", progress),
        *((word, report.counts[word]) for word in STATUS_WORDS),
        ("results available", report.results_available),
        ("cursor", report.cursor),
        ("stream", "closed" if report.stream_closed else "open" if report.stream_opened else None),
        ("created", Stamp(report.created) if report.created else None),
        ("finished at", Stamp(report.finished_at) if report.finished_at else None),
        ("data-local tasks", None if report.locality_tasks is None else f"{report.locality_tasks:.1%}"),
        ("data-local bytes", None if report.locality_bytes is None else f"{report.locality_bytes:.1%}"),
        ("pool", report.pool if "/" in report.pool else None),
        ("pilots", f"{report.pilots_running} running, {report.pilots_queued} queued"
         if report.pilots_queued or report.pilots_running else None),
        ("runs after", _after_text(report)),
        *((f"follows {f.follow_id}" if len(report.follows) > 1 else "follows", _follow_text(f))
          for f in report.follows),
        ("warnings", report.warnings),
    ]


def _after_text(report: JobReport) -> str | None:
    """ "map: waiting (3 tasks of job map have not ended)": the job it runs after, and where it stands."""
    if not report.after:
        return None
    how = {"waiting": "waiting", "released": "released", "blocked": "blocked: its tasks did not run"}
    text = f"{report.after}: {how.get(report.hold, report.hold)}"
    return f"{text} ({report.hold_reason})" if report.hold_reason else text


def _follow_text(f: FollowReport) -> str:
    """ "following out/* (12 files so far)", or how it ended."""
    patterns = ", ".join(f.patterns)
    files = f"{f.files} file{'s' if f.files != 1 else ''}"
    if f.state == "following":
        return f"following {patterns} ({files} so far)"
    if f.state == "final-scan":
        return f"{patterns}: one last scan ({files} so far)"
    return f"{patterns}: ended, {files} ({f.reason})" if f.reason else f"{patterns}: ended, {files}"


def cmd_status(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    job = Processor.attach(args.job, settings)
    report: JobReport = job.status()
    if args.watch and out.tty and not out.as_json:
        def view(rates: _Rates) -> tuple[RenderableType, bool]:
            now = job.status()
            return render_fields(_status_pairs(now, rates)), not now.unfinished and not now.following

        return _watch(out, view)
    if args.watch:  # piped or --json: the status once the job has ended
        job.wait_for_tasks()
        report = job.status()
    if out.as_json:
        out.json(report)
        return 0
    out.fields(_status_pairs(report))
    return 0


#: GNU Parallel's joblog columns (`parallel --joblog`), in its order.
JOBLOG_HEADER = ("Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive", "Exitval", "Signal", "Command")
#: columns of `tasks --format csv`.
CSV_HEADER = ("task_id", "call_id", "status", "host", "attempts", "started", "duration", "exit_code",
              "signal", "command")


def _joblog_row(t: TaskReport) -> list[str]:
    """One joblog line: Seq counts from 1 (the task id + 1, as parallel numbers its jobs), times
    with 3 decimals; a task ended by a signal has Exitval 0 and the signal, one that never
    exited by itself (lost, killed before it ran) Exitval -1."""
    exitval = t.exit_code if t.exit_code is not None else (0 if t.signal else -1)
    return [str(t.task_id + 1), t.host or ":", f"{t.started:.3f}", f"{t.duration:.3f}", "0", "0",
            str(exitval), str(t.signal or 0), t.command.replace("\n", " ").replace("\t", " ")]


def _write_tasks(tasks: list[TaskReport], form: str) -> None:
    if form == "joblog":
        # as `parallel --joblog`: a header, then each task that ran and ended, tab-separated
        print("\t".join(JOBLOG_HEADER))
        for t in tasks:
            if t.status not in ("pending", "running") and t.started:
                print("\t".join(_joblog_row(t)))
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for t in tasks:
        writer.writerow([t.task_id, t.call_id, t.status, t.host, t.attempts, f"{t.started:.3f}" if t.started else "",
                         f"{t.duration:.3f}", "" if t.exit_code is None else t.exit_code, t.signal or "", t.command])


def cmd_tasks(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    tasks: list[TaskReport] = Processor.attach(args.job, settings).stream.tasks(args.state)
    if args.format in ("joblog", "csv"):
        if out.as_json:
            raise StratosError(f"--format {args.format} and --json are two formats: give one")
        _write_tasks(tasks, args.format)
        return 0
    if out.as_json:
        out.json(tasks)
        return 0
    out.table(
        (Column("ID", right=True), Column("STATUS"), Column("HOST", drop=2),
         Column("TRIES", drop=1, right=True), Column("OUTCOME"), Column("TIME", right=True),
         Column("COMMAND", wrap=True)),
        ((t.task_id, t.status, t.host or None, t.attempts, _outcome(t.exit_code, t.signal),
          Seconds(t.duration), t.command) for t in tasks),
    )
    return 0


#: the columns of `task --story`; HOST and TRY are left out first on a narrow terminal.
STORY_COLUMNS = (
    Column("TIME"), Column("TRY", drop=1, right=True), Column("STATUS"), Column("CAUSE"),
    Column("HOST", drop=2), Column("DETAIL", wrap=True),
)


def _story_move(line: StoryLine) -> str:
    """``pending -> running``; a decision that moved nothing shows the status it left alone."""
    return f"{line.from_state} -> {line.to_state}" if line.moved else line.to_state


def _story_note(story: TaskStory) -> str | None:
    if not story.lines:
        return ("no story kept for this task (the daemon keeps stories in memory: a removed "
                "job's, or an ended task's from before a restart, is gone)")
    if story.truncated:
        return "earlier lines of this story were dropped (the job's story reached its bound)"
    return None


def _print_story(story: TaskStory, out: Output) -> None:
    """The story after the task's fields: a table in a terminal, ``story``-keyed tab-separated
    lines when piped (time, attempt, from, to, event, stimulus id, reason, host, detail)."""
    note = _story_note(story)
    if not out.tty:
        for line in story.lines:
            out.lines([("story", Stamp(line.time), line.attempt, line.from_state, line.to_state, line.event,
                        line.stimulus_id, line.reason or None, line.host or None, line.detail or None)])
        if note:
            print(f"story-note\t{note}")
        return
    out.console.print()
    out.console.print(Text("story", style="bold"))
    if story.lines:
        out.table(STORY_COLUMNS, ((Stamp(line.time), line.attempt, _story_move(line), line.event,
                                   line.host or None, line.detail or None) for line in story.lines))
    if note:
        out.console.print(Text(note))


def _on_host(detail: TaskDetails, path: str | None) -> str | None:
    """HOST:PATH for a path in the sandbox of a remote executor (it is on that host), else PATH."""
    if path and detail.files_host and detail.sandbox and (path + "/").startswith(detail.sandbox.rstrip("/") + "/"):
        return f"{detail.files_host}:{path}"
    return path


def cmd_task(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    job = Processor.attach(args.job, settings)
    detail: TaskDetails = job.stream.task(args.id)
    story = job.stream.story(args.id) if args.story else None
    if out.as_json:
        out.json(detail if story is None else {**dataclasses.asdict(detail), "story": dataclasses.asdict(story)})
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
        ("started", Stamp(detail.started) if detail.started else None),
        ("ended", Stamp(detail.ended) if detail.ended else None),
        ("submission call", detail.call_id),
        ("relaunched from", detail.relaunched_from),
        ("relaunched as", detail.relaunched_as),
        # Short keys, so the value column keeps its width at 80 columns; the values say what they measure.
        ("peak memory", f"{detail.peak_rss_kb / 1024:.1f} MB (largest process)" if detail.peak_rss_kb else None),
        ("memory, sum", f"{detail.peak_rss_sum_kb / 1024:.1f} MB (peak of all processes, sampled)"
         if detail.peak_rss_sum_kb else None),
        ("disk", f"{detail.disk_kb / 1024:.1f} MB (sandbox and output files)" if detail.disk_kb else None),
        ("cpu", f"{detail.cpu_seconds:.1f} s" if detail.cpu_seconds else None),
        ("cwd", detail.cwd),
        ("sandbox", _on_host(detail, detail.sandbox)),
        ("stdout file", _on_host(detail, detail.stdout_path)),
        ("stderr file", _on_host(detail, detail.stderr_path)),
        ("notes", detail.notes),
        ("monitor output", detail.monitor_output.rstrip()),
        ("stderr tail", detail.stderr_tail.rstrip()),
        *_attempt_fields(detail),
    ])
    if story is not None:
        _print_story(story, out)
    return 0


def _attempt_fields(detail: TaskDetails) -> list[tuple[str, object]]:
    """One line per ended attempt when there were several: how it ended, where, and its last stderr line."""
    if len(detail.attempts) < 2:
        return []
    pairs: list[tuple[str, object]] = []
    for a in detail.attempts:
        how = a.reason or _outcome(a.exit_code, a.signal) or "ended"
        took = f", {a.ended - a.started:.1f} s" if a.started and a.ended >= a.started else ""
        last = next((line for line in reversed(a.stderr_tail.splitlines()) if line.strip()), "")
        pairs.append((f"attempt {a.attempt}", f"{how} on {a.host or '(no host)'}{took}"
                      + (f"; stderr: {last}" if last else "")))
    return pairs


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
    elsewhere = job.settings.output != "scheduler"
    if elsewhere and not out.as_json:
        print(_where_output_goes(job), flush=True)
    for result in results:
        if out.as_json:
            out.json(result)
        elif elsewhere:  # no stdout to print: each task's outcome and its files
            print("\t".join((f"task {result.task_id}", result.status,
                              _outcome(result.exit_code, result.signal) or "-",
                              result.stdout_path or "-", result.stderr_path or "-")))
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


def _where_output_goes(job: Processor) -> str:
    """Why `results` prints no stdout for a job whose output mode keeps it elsewhere, and where it is."""
    mode, name = job.settings.output, job.job_id
    if mode == "disk":
        base = os.path.join(job.settings.log_directory, name)
        where = f"writes its output to disk: {base}/<task>.stdout and {base}/<task>.stderr"
    elif mode == "mesos":
        where = "keeps its output in each task's sandbox (`stratosctl task JOB ID` shows it)"
    else:
        where = 'discards its stdout (output="none"); `stratosctl task JOB ID` shows its stderr tail'
    return (f"job {name} {where}; get_results() is empty in this mode, get_results(details=True) "
            "lists each task's status and files (below: task, status, outcome, stdout, stderr)")


def cmd_add(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    commands = list(args.commands)
    if commands == ["-"]:
        commands = sys.stdin.read().splitlines()
    ids = Processor.attach(args.job, settings).stream.add(commands)
    if isinstance(ids, list):  # not one run: another submission's tasks took ids between its parts
        runs = f"{ids[0]}-{ids[-1]}, with gaps"
    else:
        runs = f"{ids[0]}" if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
    out.message(f"added {_tasks(len(ids))} ({runs})" if ids else "added no task",
                task_ids=list(ids))
    return 0


def cmd_kill(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    stream = Processor.attach(args.job, settings).stream
    if not args.ids:
        killed = stream.kill_all()
        out.message(f"killed {_tasks(killed)}", killed=killed)
        return 0
    # Named tasks that had already ended are an error, not a silent "killed 0 tasks": the
    # user meant to stop them and learns they were done, and how they ended.
    wanted = list(dict.fromkeys(args.ids))
    reports = {task_id: stream.task(task_id).task for task_id in wanted}
    ended = [reports[i] for i in wanted if reports[i].status not in ("pending", "running")]
    alive = [i for i in wanted if reports[i].status in ("pending", "running")]
    if alive:
        killed = stream.kill(*alive)
        out.message(f"killed {_tasks(killed)}", killed=killed)
    if ended:
        raise TaskAlreadyEnded(
            "; ".join(_already_ended(args.job, task) for task in ended)
            + f": nothing to kill. `stratosctl task {args.job} ID` shows how it ended."
        )
    return 0


def cmd_retry(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    job = Processor.attach(args.job, settings)
    retried = job.retry_failed(args.ids)
    if not retried:
        out.message(f"job {args.job} has no failed task: nothing to retry", retried=[])
        return 0
    shown = ", ".join(map(str, retried[:20])) + (", ..." if len(retried) > 20 else "")
    out.message(f"resubmitted {_tasks(len(retried))} of job {args.job} ({shown}); "
                f"`stratosctl wait {args.job}` waits for them", retried=retried)
    return 0


def _task_ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not task ids separated by commas (3,7)") from None
    if not ids or min(ids) < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not task ids separated by commas (3,7)")
    return ids


def _already_ended(job_id: str, task: TaskReport) -> str:
    how = {"killed": "been killed", "relaunched": "been relaunched", "lost": "been lost"}
    outcome = _outcome(task.exit_code, task.signal)
    return (f"task {task.task_id} of job {job_id} had already {how.get(task.status, task.status)}"
            + (f" ({outcome})" if outcome else ""))


def cmd_cancel(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    cancelled = Processor.attach(args.job, settings).cancel()
    out.message(f"cancelled {_tasks(cancelled)}", cancelled=cancelled)
    return 0


def cmd_rm(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    if not args.jobs and args.finished_before is None:
        print("stratosctl rm: name one or more jobs, or give --finished-before WHEN", file=sys.stderr)
        return 2
    request = pb.RemoveJobsRequest(job_ids=args.jobs, delete_outputs=args.delete_outputs,
                                   dry_run=args.dry_run)
    if args.finished_before is not None:
        request.has_finished_before, request.finished_before = True, args.finished_before
    reply = connect(settings.socket, settings.state_dir, autostart=True).remove_jobs(request)
    _print_removal(reply, out, args.delete_outputs)
    return 0


def cmd_gc(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    request = pb.RemoveJobsRequest(expired=True, dry_run=args.dry_run)
    if args.older_than is not None:
        request.has_older_than, request.older_than = True, args.older_than
    reply = connect(settings.socket, settings.state_dir, autostart=True).remove_jobs(request)
    _print_removal(reply, out)
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    conn = connect(settings.socket, settings.state_dir, autostart=True)
    if not out.as_json and out.tty:
        print(f"probing every node of {args.master} (up to {args.timeout:g} s) ...", file=sys.stderr, flush=True)
    reply = conn.doctor(args.master, args.timeout)
    nodes = list(reply.nodes)
    good = bool(nodes) and all(node.ok for node in nodes)
    if out.as_json:
        out.json({
            "master": reply.master, "reached": reply.reached, "executor_command": reply.executor_command,
            "listener": reply.listener, "daemon_version": reply.daemon_version, "ok": good,
            "nodes": [{"node": n.node, "ok": n.ok, "problem": n.problem, "detail": n.detail,
                       "version": n.version, "where": n.where} for n in nodes],
        })
    else:
        print(doctor_text(reply, out.console.width if out.tty else 80))
    return 0 if good else 1


def doctor_text(reply: pb.DoctorReply, width: int = 80) -> str:
    """The doctor's report as lines of at most ``width`` columns (long words are broken)."""
    import textwrap

    width = max(40, width)
    nodes = list(reply.nodes)
    name_width = min(max([len(n.node) for n in nodes] + [4]), 20)
    lines: list[str] = []

    def para(head: str, text: str, indent: int) -> None:
        lines.extend(textwrap.wrap(text, width, initial_indent=head, subsequent_indent=" " * indent,
                                   break_long_words=True, break_on_hyphens=False) or [head.rstrip()])

    para("master:   ", f"{reply.master}: {reply.reached}", 10)
    para("executor: ", f"{reply.executor_command} (daemon {reply.daemon_version}; listener {reply.listener})", 10)
    for node in nodes:
        head = f"{node.node[:name_width]:<{name_width}}  {'OK' if node.ok else 'FAIL':<4}  "
        para(head, node.problem if not node.ok else node.detail, len(head))
        if not node.ok and node.detail:
            para(" " * (name_width + 8), node.detail, name_width + 8)
    good = sum(1 for n in nodes if n.ok)
    if not nodes:
        para("", "no nodes: the master lists no agents or nodes", 0)
    else:
        para("", f"{good} of {len(nodes)} nodes can run the executor." + (
            "" if good == len(nodes) else " See deploy/README.md, \"What a node needs\"."), 0)
    return "\n".join(lines)


def _size(count: int) -> str:
    """Bytes as people read them: 512 B, 1.5 KB, 112.0 MB (powers of 1024)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


def _print_removal(reply: pb.RemoveJobsReply, out: Output, delete_outputs: bool = False) -> None:
    """What rm/gc removed (or, with --dry-run, would remove), job by job, then the total."""
    dry = reply.dry_run
    if out.as_json:
        out.json({
            "dry_run": dry, "bytes_freed": reply.bytes_freed, "state_dir": reply.state_dir,
            "journal_bytes_before": reply.journal_bytes_before, "journal_bytes_after": reply.journal_bytes_after,
            "orphan_sandboxes": reply.orphan_sandboxes,
            "jobs": [{
                "job": job.job_id, "finished_at": job.finished_at, "tasks": job.tasks, "results": job.results,
                "journal_bytes": job.journal_bytes, "sandbox_directory": job.sandbox_directory,
                "sandbox_bytes": job.sandbox_bytes, "output_directory": job.output_directory or None,
                "output_files": job.output_files, "output_bytes": job.output_bytes,
                "outputs_deleted": job.outputs_deleted, "output_directory_removed": job.output_directory_removed,
                "other_files": job.other_files,
            } for job in reply.jobs],
        })
        return
    verb = "would remove" if dry else "removed"
    for job in reply.jobs:
        ended = f" (ended {datetime.datetime.fromtimestamp(job.finished_at):%Y-%m-%d %H:%M})" \
            if job.finished_at else ""
        print(f"{verb} {job.job_id}{ended}: {_tasks(job.tasks)}, {job.results} results")
        print(f"  journal {_size(job.journal_bytes)}, sandboxes {_size(job.sandbox_bytes)}")
        if not job.output_directory:
            continue
        files = f"{job.output_files} output files ({_size(job.output_bytes)})"
        if job.outputs_deleted or (dry and delete_outputs):
            print(f"  {files} {'would be ' if dry else ''}deleted in {job.output_directory}")
            if job.other_files:
                print(f"  kept: {job.other_files} other files there, and the directory")
            elif job.output_directory_removed:
                print("  and the directory, which held nothing else")
        else:
            print(f"  {files} kept in {job.output_directory}")
    if reply.orphan_sandboxes:
        print(f"{verb} {reply.orphan_sandboxes} sandboxes of jobs removed before")
    if not reply.jobs and not reply.orphan_sandboxes:
        print("no finished job to remove")
    freed = f"{'would free about' if dry else 'freed'} {_size(reply.bytes_freed)}"
    journal = f"journal {_size(reply.journal_bytes_before)}"
    if not dry:
        journal += f" -> {_size(reply.journal_bytes_after)}"
    count = f"{len(reply.jobs)} job{'' if len(reply.jobs) == 1 else 's'}"
    print(f"{verb} {count}, {freed}; {journal}")


def _when(text: str) -> float:
    """--finished-before: a relative age (90s, 30m, 12h, 7d, 2w) or a local date/time
    (2026-12-01, 2026-12-01T18:00, "2026-12-01 18:00") as seconds since the epoch."""
    value = text.strip()
    unit = value[-1:].lower()
    if unit in _AGE_UNITS:
        try:
            age = float(value[:-1])
        except ValueError:
            age = -1.0
        if age >= 0 and age == age and age != float("inf"):
            return datetime.datetime.now().timestamp() - age * _AGE_UNITS[unit]
    try:
        return datetime.datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an age (such as 90s, 30m, 12h, 7d, 2w) nor a date/time "
            "(such as 2026-12-01 or 2026-12-01T18:00)") from None


def _age(text: str) -> float:
    """--older-than: a relative age in seconds."""
    value = text.strip()
    unit = value[-1:].lower()
    try:
        age = float(value[:-1]) * _AGE_UNITS[unit]
    except (KeyError, ValueError):
        age = -1.0
    if not 0 <= age < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 90s, 30m, 12h, 7d or 2w")
    return age


_AGE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def cmd_close(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    Processor.attach(args.job, settings).close()
    out.message(f"closed {args.job}", closed=True)
    return 0


def cmd_stop_following(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    stopped = Processor.attach(args.job, settings).stop_following()
    out.message(f"{args.job}: stopped following {stopped} pattern{'s' if stopped != 1 else ''}", stopped=stopped)
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    token = Processor.attach(args.job, settings).token()
    if out.as_json:
        out.json({"job": args.job, "token": token})
    else:
        print(token)
    return 0


def cmd_pilot_credential(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    conn = connect(settings.socket, settings.state_dir, autostart=True)
    pool, credential = conn.pool_credential(args.pool)
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(credential + "\n")
    if out.as_json:
        out.json({"pool": pool, "credential": credential, "file": args.output or ""})
    elif args.output:
        print(f"wrote the credential of pool {pool} to {args.output} (0600)")
    else:
        print(credential)
    return 0


def cmd_wait(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    job = Processor.attach(args.job, settings)
    if out.as_json:
        final = job.wait_for_tasks()
        out.json(final)
    elif out.tty:
        final = _wait_with_bar(job, out)
    else:
        rates = _Rates()

        def line(progress: Progress) -> None:
            _, rate = rates.progress(_as_report(job.job_id, progress))
            eta = "" if progress.done else f", {eta_text(progress, rate)}"
            print(f"{job.job_id}: {progress.ended}/{progress.total} ended "
                  f"({_counts_text(progress.counts)}){eta}", flush=True)

        final = job.wait_for_tasks(line, PLAIN_PROGRESS_INTERVAL)
    return 2 if final.counts["failed"] or final.counts["lost"] else 0


def _as_report(job_id: str, progress: Progress) -> JobReport:
    return JobReport(job_id=job_id, state="", master="", total=progress.total, counts=progress.counts,
                     results_available=0, cursor=0, created=0.0, finished_at=0.0, warnings=(),
                     stream_opened=False, stream_closed=False)


def _wait_with_bar(job: Processor, out: Output) -> Progress:
    rates = _Rates()
    with Bar(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), TextColumn("{task.fields[eta]}", markup=False),
             TextColumn("{task.fields[counts]}", markup=False),
             console=out.console) as bar:
        task = bar.add_task(job.job_id, total=None, counts="", eta="ETA --")

        def update(progress: Progress) -> None:
            _, rate = rates.progress(_as_report(job.job_id, progress))
            bar.update(task, total=progress.total, completed=progress.ended,
                       counts=_counts_short(progress.counts), eta=eta_text(progress, rate))

        return job.wait_for_tasks(update, 0.5)


# -- parsing -----------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, Settings, Output], int]


class _JsonErrorParser(argparse.ArgumentParser):
    """Reports usage errors as ``{"error": ..., "type": "UsageError"}`` (exit 2) for --json."""

    def error(self, message: str) -> NoReturn:
        print(json.dumps({"error": f"{self.prog}: {message}", "type": "UsageError"}),
              file=sys.stderr)
        sys.exit(2)


def build_parser(json_errors: bool = False) -> argparse.ArgumentParser:
    """The argument parser of stratosctl (every subcommand has --help).

    Args:
        json_errors: the command line asks for --json, so usage errors are JSON too.
    """
    parser_class = _JsonErrorParser if json_errors else argparse.ArgumentParser
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", default=argparse.SUPPRESS, metavar="PATH",
                        help="the daemon's socket (default: $STRATOS_SOCKET or the per-user one)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of tables")
    parser = parser_class(
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

    jobs = add("jobs", cmd_jobs, "list the daemon's jobs",
               "Piped columns: job, state, master, tasks, pending, running, finished, failed, "
               "results available, created, killed, relaunched, lost.")
    jobs.add_argument("--watch", action="store_true",
                      help="redraw in place (with each job's ETA) until no job has unended tasks")
    status = add("status", cmd_status, "a job's state and task counts")
    status.add_argument("job", metavar="JOB")
    status.add_argument("--watch", action="store_true",
                        help="redraw in place (tasks/s, ETA) until the job's tasks have ended")
    tasks = add("tasks", cmd_tasks, "list a job's tasks",
                "Piped columns: id, status, host, attempts, outcome, seconds, command. "
                "--format joblog writes GNU Parallel's joblog (Seq is the task id + 1; tasks that "
                "ran and ended), --format csv a header and one row per task.")
    tasks.add_argument("job", metavar="JOB")
    tasks.add_argument("--state", choices=STATUS_WORDS, help="only tasks with this status")
    tasks.add_argument("--format", choices=("table", "joblog", "csv"), default="table",
                       help="table (default: a table, or tab-separated when piped), joblog or csv")
    task = add("task", cmd_task, "everything about one task (command, outcome, stderr tail, ...)",
               "--story adds what happened to it, line by line: each status it went through, the event "
               "that caused each move (and decisions that moved nothing), the attempt, host and time. "
               "Piped, each story line is 'story' then time, attempt, from, to, event, stimulus id, "
               "reason, host and detail, tab-separated. Stories are kept in the daemon's memory: a "
               "restart begins an unended task's story again with a 'restore' line.")
    task.add_argument("job", metavar="JOB")
    task.add_argument("id", metavar="ID", type=int)
    task.add_argument("--story", action="store_true",
                      help="also show the task's story (its transitions, their causes, hosts and times)")
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
    kill = add("kill", cmd_kill, "stop tasks (all unended tasks of the job when no ID is given)",
               "An ID whose task had already ended is reported as an error (exit status 1).")
    kill.add_argument("job", metavar="JOB")
    kill.add_argument("ids", metavar="ID", type=int, nargs="*")
    retry = add("retry", cmd_retry, "run the failed tasks of a finished job again",
                "Each failed task runs again as a new attempt of the same task (`stratosctl task` lists "
                "its attempts); its new result joins the job's results once, after those already "
                "there. The job must have ended (`stratosctl wait JOB`).")
    retry.add_argument("job", metavar="JOB")
    which = retry.add_mutually_exclusive_group()
    which.add_argument("--failed", action="store_true", help="every failed task of the job (the default)")
    which.add_argument("--ids", type=_task_ids, metavar="ID,ID", help="only these failed tasks (3,7)")
    add("cancel", cmd_cancel, "cancel a job: stop every pending and running task"
        ).add_argument("job", metavar="JOB")
    rm = add("rm", cmd_rm, "remove finished jobs: their records, results and sandboxes",
             "Output files (output=\"disk\", under log_directory) are yours and are kept, "
             "unless --delete-outputs. A job with pending or running tasks is refused: "
             "wait for it or cancel it first.")
    rm.add_argument("jobs", metavar="JOB", nargs="*", help="jobs to remove")
    rm.add_argument("--finished-before", metavar="WHEN", type=_when,
                    help="also every finished job that ended before WHEN: an age (12h, 7d) "
                    "or a date/time (2026-12-01, 2026-12-01T18:00)")
    rm.add_argument("--delete-outputs", action="store_true",
                    help="also delete the stdout/stderr files StratOS wrote for the jobs' tasks "
                    "(nothing else; their directory only if that leaves it empty)")
    rm.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")
    gc = add("gc", cmd_gc, "free space now: remove finished jobs past the retention",
             "Applies stratosd's retention rule (--retention-days, default 7) at once: "
             "records, results, sandboxes and spilled stdout of jobs that ended before it "
             "are removed, output files are kept; the journal's free space is given back.")
    gc.add_argument("--older-than", metavar="AGE", type=_age,
                    help="instead of the retention: jobs that ended more than AGE ago (12h, 7d)")
    gc.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")
    add("close", cmd_close, "close a finished job: a cluster backend gives its resources back now",
        "Mesos: the job's framework is torn down. Submitting again opens the job again."
        ).add_argument("job", metavar="JOB")
    add("stop-following", cmd_stop_following, "stop following a job's patterns (glob_stream(..., follow=True))",
        "New files under them no longer become tasks; the tasks already made run on."
        ).add_argument("job", metavar="JOB")
    add("token", cmd_token, "print the job's executor token (for stratos-executor pilot --token-file)",
        "Anyone holding it can run tasks of this job: keep it as private as the job."
        ).add_argument("job", metavar="JOB")
    credential = add(
        "pilot-credential", cmd_pilot_credential,
        "print a pilot pool's credential (for stratos-executor pilot --pool POOL --token-file F)",
        "Pilots holding it run tasks of every job of that pool, and nothing else: keep it as private as those "
        'jobs. POOL is "pilots" (jobs with master="pilots") or a pool id as `stratosctl status JOB` shows it.')
    credential.add_argument("pool", metavar="POOL")
    credential.add_argument("-o", "--output", metavar="FILE", help="write it to FILE (mode 0600) instead")
    add("wait", cmd_wait, "wait until every task of a job has ended",
        "Exit status: 0 when no task failed or was lost, 2 otherwise."
        ).add_argument("job", metavar="JOB")
    doctor = add("doctor", cmd_doctor, "check that every node of a cluster can run the executor",
                 "Starts one probe per Mesos agent or Slurm node that runs the daemon's executor command "
                 "and reaches its executor listener over TLS, as every task must; prints per node OK or "
                 "what is missing. Exit status: 0 when every node can run the executor, 1 otherwise.")
    doctor.add_argument("master", metavar="MASTER",
                        help="HOST:5050, http(s)://HOST:5050 or zk://... (Mesos), slurm or slurm://PARTITION")
    doctor.add_argument("--timeout", type=_seconds, default=60.0, metavar="S",
                        help="how long to wait for the probes (default 60); a node whose probe has not "
                        "started by then is reported as not started")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 1 to 3600")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run stratosctl.

    Args:
        argv: the arguments; None: ``sys.argv[1:]``.

    Returns:
        The exit status.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(json_errors="--json" in arguments).parse_args(arguments)
    out = Output(getattr(args, "json", False))
    try:
        settings = Settings.load().replace(socket=getattr(args, "socket", None))
        # stratosctl may start a local daemon whatever master the config names; the
        # connection is cached, so the library calls below reuse it.
        connect(settings.socket, settings.state_dir, autostart=True, reconnect_timeout=settings.reconnect_timeout)
        status: int = args.func(args, settings, out)
        return status
    except StratosError as err:
        out.error(err)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, without a second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
