"""``Processor``: the seed's job object, a thin handle on a job that stratosd owns.

A Processor holds only the job id, the settings it was made with and a connection;
every method is a call to the daemon. That is what lets several scripts (and
``stratosctl``) share a job, and a script re-attach to one after a restart.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from stratos_wire import stratos_pb2 as pb

from . import _results
from ._connection import Connection, connect
from ._submit import Commands, Params, normalize_params, normalize_patterns, split_commands, submit, task_ids
from ._waiting import wait_until_done
from .errors import HandleDetached, JobIdInUse, MissingDependency, StratosError
from .records import STATUS_WORDS, BatchSummary, FailedTask, JobReport, Progress, TaskResult, TaskStory
from .settings import Output, Settings
from .stream import Stream

if TYPE_CHECKING:
    import pandas

__all__ = ["Processor"]

logger = logging.getLogger("stratos")

#: seconds between the progress messages a batch call logs (at DEBUG level).
BATCH_PROGRESS_INTERVAL = 5.0
#: task ids named per clause of the warning after a batch call (then "and N more").
FAILED_IDS_SHOWN = 10
_PLACEHOLDER = re.compile("%[cq]%")
#: characters that never need shell quoting (as the daemon's %f% and %q% quoting).
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]*")


#: Processors bound to each connection (by id): the last one to detach closes it.
_USERS: dict[int, int] = {}
_USERS_LOCK = threading.Lock()


class _Detached:
    """What a detached handle holds instead of its connection: every call says how to go on."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def __getattr__(self, name: str) -> Any:
        raise HandleDetached(
            f"this handle on job {self.job_id!r} was detached when its `with` block ended; "
            f"use Processor.attach({self.job_id!r}) to work with the job again"
        )


def summary_line(summary: BatchSummary) -> str:
    """ "job 'demo': 20 tasks in 3.2 s (6.2 tasks/s): 18 finished, 2 failed": a batch call's end."""
    counts = ", ".join(f"{summary[word]} {word}" for word in STATUS_WORDS if summary.get(word))
    noun = "task" if summary.total == 1 else "tasks"
    return (f"job {summary.job_id!r}: {summary.total} {noun} in {summary.elapsed:.1f} s "
            f"({summary.tasks_per_second:.3g} tasks/s): {counts or 'none'}")


def _connect(settings: Settings) -> Connection:
    # Any master may start the daemon: it opens the executor listener a cluster needs on demand.
    return connect(settings.socket, settings.state_dir, autostart=True,
                   reconnect_timeout=settings.reconnect_timeout)


def _ids(ids: list[int], total: int | None = None) -> str:
    """ "task 3" / "tasks 3, 7" / "tasks 1, 2, ... and 40 more": at most FAILED_IDS_SHOWN ids."""
    total = len(ids) if total is None else total
    shown = ids[:FAILED_IDS_SHOWN]
    text = ("task " if total == 1 else "tasks ") + ", ".join(str(i) for i in shown)
    return text + (f" and {total - len(shown)} more" if total > len(shown) else "")


def _how(failures: list[FailedTask]) -> str:
    """ "exit 1, 2, signal 9, timeout": each task's end, the kind named once per run of the same kind."""
    out, previous = [], ""
    for f in failures:
        if f.reason:
            kind, value = "", f.reason
        elif f.exit_code is not None:
            kind, value = "exit", str(f.exit_code)
        elif f.signal is not None:
            kind, value = "signal", str(f.signal)
        else:
            kind, value = "", "no exit status"
        out.append(value if not kind or kind == previous else f"{kind} {value}")
        previous = kind
    return ", ".join(out)


def batch_problems(progress: Progress, unquoted: AbstractSet[int] = frozenset()) -> list[str]:
    """The clauses of a batch call's warning: failed tasks with how they failed, tasks a relauncher
    dropped, and failures that look like unquoted template values split by the shell.

    Args:
        progress: the call's final progress.
        unquoted: ids of the call's tasks whose ``%c%`` values hold shell characters.
    """
    problems = []
    failed = progress.counts["failed"]
    if failed:
        shown = list(progress.failures[:FAILED_IDS_SHOWN]) or [
            FailedTask(i, None, None, "", False) for i in progress.failed_task_ids[:FAILED_IDS_SHOWN]
        ]
        how = _how(shown) if progress.failures else ""
        problems.append(f"{_ids([f.task_id for f in shown], failed)} failed" + (f" ({how})" if how else ""))
    if progress.unreplaced_task_ids:
        ids = list(progress.unreplaced_task_ids)
        problems.append(f"{_ids(ids)} relaunched with no replacement (the relauncher printed no command)")
    split = [f.task_id for f in progress.failures if f.missing_file and f.task_id in unquoted]
    if split:
        problems.append(
            f"{_ids(split)} failed as if a file or program did not exist, and their %c% values hold "
            "spaces or shell characters, which %c% inserts unquoted: use %q% to pass each value "
            "as one quoted word"
        )
    return problems


def _unquoted_rows(template: str, rows: list[list[str]], ids: Sequence[int]) -> set[int]:
    """Ids of the tasks (``ids``: the rows' tasks, in order) whose ``%c%`` values hold characters
    the shell interprets: the tasks a "No such file" or exit 127 may come from word splitting."""
    kinds = _PLACEHOLDER.findall(template)
    return {
        task_id for task_id, row in zip(ids, rows, strict=False)
        if any(kind == "%c%" and not _SHELL_SAFE.fullmatch(value) for kind, value in zip(kinds, row, strict=False))
    }


class Processor:
    """A job: submit commands in batch or streaming mode and collect their stdout.

    :param master: "local" (default), a Mesos master ("HOST:PORT", "http(s)://HOST:PORT",
        "zk://H1:2181,H2:2181/mesos") or Slurm ("slurm", "slurm://PARTITION").
    :param role: the Mesos role of the job's resources ("*").
    :param threads_per_task: CPU threads allocated to each task (1).
    :param mem_per_task: memory per task, in MB (256).
    :param disk_per_task: disk per task, in MB (256).
    :param monitor: program run as ``monitor PID TASK_OUTPUT`` every update_interval.
    :param relauncher: program run as ``relauncher MONITOR_OUTPUT`` on "stratos_relaunch".
    :param update_interval: seconds between monitor calls (10).
    :param output: where stdout goes: "scheduler" (default), "disk", "mesos" or "none".
    :param log_directory: directory for output="disk" ("stratos-logs"; a relative one is
        taken from the working directory, as every shell tool does, and stored absolute).
    :param job_id: the job's name; None lets the daemon choose a unique one.
    :param settings: a ``Settings`` to start from instead of ``Settings.load()``.
    :param more_settings: other settings (task_timeout, timeout_retries, max_retries,
        retries, retry_on_exit, after, run_after_failure, socket, state_dir).
        ``after="map"`` holds this job's tasks (pending, never started) until the job "map"
        has ended: none of its tasks unended, none of its patterns followed, and closed
        (its ``wait()`` returned, ``close()`` or ``cancel()`` was called). When "map" failed
        (a task failed, was lost or killed) or was cancelled, this job's tasks end ``failed``
        without running, the reason naming "map", unless ``run_after_failure=True``.
    :raises InvalidJobSpec: a setting is invalid.
    :raises JobIdInUse: a job with this id still has unended tasks (``Processor.attach``).
    :raises UnknownDependency: ``after`` names no existing job.
    :raises DaemonUnavailable: stratosd is not running and could not be started.
    """

    __slots__ = ("_conn", "job_id", "settings", "stream")

    def __init__(
        self,
        master: str | None = None,
        role: str | None = None,
        threads_per_task: int | None = None,
        mem_per_task: float | None = None,
        disk_per_task: float | None = None,
        monitor: str | None = None,
        relauncher: str | None = None,
        update_interval: float | None = None,
        output: Output | None = None,
        log_directory: str | None = None,
        job_id: str | None = None,
        settings: Settings | None = None,
        **more_settings: Any,
    ) -> None:
        chosen = (settings if settings is not None else Settings.load()).replace(
            master=master, role=role, threads_per_task=threads_per_task,
            mem_per_task=mem_per_task, disk_per_task=disk_per_task, monitor=monitor,
            relauncher=relauncher, update_interval=update_interval, output=output,
            log_directory=log_directory, job_id=job_id, **more_settings,
        ).validate()
        conn = _connect(chosen)
        info = conn.create_job(chosen.job_id or "", chosen.to_proto())
        if info.renamed_previous:
            # A user re-running a script may expect to continue the old run: say where it went.
            logger.warning(
                "job id %r was used by a finished job; that earlier run was renamed to %r "
                "(its results and logs are there) and this is a new job",
                info.job_id, info.renamed_previous,
            )
        # The job's settings as the daemon holds them: log_directory made absolute, so what
        # ``settings`` shows is where the files go wherever the script changes directory later.
        self._bind(conn, info.job_id, chosen.replace(
            job_id=info.job_id, log_directory=info.spec.log_directory or chosen.log_directory
        ))

    def _bind(self, conn: Connection, job_id: str, settings: Settings) -> None:
        self._conn = conn
        with _USERS_LOCK:
            _USERS[id(conn)] = _USERS.get(id(conn), 0) + 1
        #: the job's id (chosen by the daemon when none was given).
        self.job_id = job_id
        #: the settings the job was created with.
        self.settings = settings
        #: the job's stream object; ``job.stream(commands)`` submits in streaming mode.
        self.stream = Stream(conn, job_id, settings.progress)

    @classmethod
    def attach(cls, job_id: str, settings: Settings | None = None) -> Processor:
        """A handle on an existing job, e.g. one created by another script.

        Args:
            job_id: the job.
            settings: where the daemon is (socket, state_dir); None: ``Settings.load()``.

        Returns:
            The handle; its ``settings`` are the job's.

        Raises:
            JobNotFound: no job has this id.
            DaemonUnavailable: stratosd is not running and could not be started.
        """
        base = settings if settings is not None else Settings.load()
        conn = _connect(base)
        info = conn.get_job(job_id)
        handle = cls.__new__(cls)
        handle._bind(conn, info.job_id, Settings.from_proto(
            info.spec, job_id=info.job_id, socket=base.socket, state_dir=base.state_dir,
            reconnect_timeout=base.reconnect_timeout, progress=base.progress,
        ))
        return handle

    @classmethod
    def list_jobs(cls, settings: Settings | None = None) -> list[JobReport]:
        """Every job the daemon knows.

        Args:
            settings: where the daemon is; None: ``Settings.load()``.

        Returns:
            The jobs with their states and task counts.
        """
        base = settings if settings is not None else Settings.load()
        return [JobReport.from_proto(job) for job in _connect(base).list_jobs()]

    def __repr__(self) -> str:
        return f"Processor(job_id={self.job_id!r}, master={self.settings.master!r})"

    def _repr_html_(self) -> str:
        """Jupyter's view: job id, backend, counts by state and a progress bar (as Dask's ``Client``)."""
        from ._html import job_html  # only in a notebook

        try:
            return job_html("Processor", self._conn.get_status(self.job_id))
        except StratosError as err:
            from html import escape

            return f"<div><strong>StratOS Processor</strong> {escape(self.job_id)}: {escape(str(err))}</div>"

    # -- with Processor(...) as job: -----------------------------------------------------

    def __enter__(self) -> Processor:
        """``with Processor(...) as job:``: the handle is detached when the block is left."""
        self.stream._calls = []
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Detach; never cancel tasks, except on Ctrl-C (KeyboardInterrupt), which cancels the
        tasks submitted in the block, as Ctrl-C in a batch call cancels that call's tasks."""
        calls, self.stream._calls = self.stream._calls or [], None
        if kind is not None and issubclass(kind, KeyboardInterrupt) and not isinstance(self._conn, _Detached):
            self._cancel_calls(calls)
        self.detach()

    def _cancel_calls(self, calls: list[int]) -> None:
        try:
            cancelled = sum(self._conn.cancel(self.job_id, call_id) for call_id in dict.fromkeys(calls))
        except StratosError as err:
            print(f"stratos: interrupted; could not cancel the tasks of this block: {err}", file=sys.stderr)
            return
        print(f"stratos: interrupted; cancelled {cancelled} unended tasks submitted in this `with` block "
              f"of job {self.job_id!r} (tasks submitted elsewhere keep running)", file=sys.stderr, flush=True)

    def detach(self) -> None:
        """Let go of the job without touching its tasks (what leaving a ``with`` block does).

        The connection is released (closed once no other handle in this process uses it), and on a
        cluster backend a job with no unended task gives its resources back, as ``close()`` does; a
        job with tasks still running gives them back when they end and it stays idle
        (``stratosd run --mesos-idle-teardown``, ``--slurm-idle-release``). The handle is then
        unusable (``HandleDetached``); ``Processor.attach(job_id)`` makes a new one.
        """
        conn = self._conn
        if isinstance(conn, _Detached):
            return
        try:
            cluster = self.settings.master not in ("local", "pilots")
            if cluster and not Stream(conn, self.job_id).count_unfinished_tasks():
                conn.close_job(self.job_id)
        except (JobIdInUse, StratosError):
            pass  # tasks arrived meanwhile, or the daemon is gone: the idle rules give resources back
        detached = cast(Connection, _Detached(self.job_id))
        self._conn = self.stream._conn = detached
        with _USERS_LOCK:
            left = _USERS.get(id(conn), 1) - 1
            if left > 0:
                _USERS[id(conn)] = left
            else:
                _USERS.pop(id(conn), None)
        if left <= 0:
            conn.close()

    # -- submission ----------------------------------------------------------------------

    def glob_batch(self, command: str, pattern: str | Iterable[str]) -> BatchSummary:
        """Run ``command`` on every file matching ``pattern`` and wait for all of them.

        Args:
            command: the command, with ``%f%`` where the file name goes.
            pattern: a ``glob.glob`` pattern (or a list of them), relative to the
                working directory unless absolute; a leading ``~`` is the home directory.

        Returns:
            A ``BatchSummary``: the dict of this call's task counts by status word (finished,
            failed, killed, ...) with ``failed_ids``, ``elapsed`` and ``tasks_per_second``.
            One log record (logger "stratos"; INFO, or WARNING naming failed tasks) says the same.

        Raises:
            InvalidSubmission: no file matches, or the command has no ``%f%``.
            KeyboardInterrupt: Ctrl-C; the tasks of this call are cancelled first.
        """
        return self._batch(pb.GLOB, command, items=normalize_patterns(pattern))

    def glob_stream(self, command: str, pattern: str | Iterable[str], follow: bool = False) -> Stream:
        """Like glob_batch, without waiting.

        Args:
            command: the command, with ``%f%`` where the file name goes.
            pattern: a ``glob.glob`` pattern (or a list of them), as for glob_batch.
            follow: keep going: the daemon scans the pattern (every second, ``stratosd run
                --follow-interval``) and each file that appears under it becomes a task, exactly
                once, across daemon restarts too. It stops when ``stop_following()`` is called
                (``job.stream.stop_following()``, ``stratosctl stop-following JOB``), when the job
                is cancelled, or, in a job made with ``after=``, once the job it runs after has
                ended (after one last scan, so every file that job wrote is taken). A pattern that
                matches nothing yet is no error. Until it stops, ``wait()`` does not return.
                Files are taken as soon as they appear: a writer that is not in the ``after=``
                job should write elsewhere and rename into the pattern (``mv`` is atomic).

        Returns:
            The job's stream object.

        Raises:
            InvalidSubmission: no file matches (without ``follow``), or the command has no ``%f%``.
        """
        reply = submit(self._conn, self.job_id, pb.GLOB, pb.STREAM, command, normalize_patterns(pattern),
                       follow=follow)
        self._note_call(reply.call_id)
        return self.stream

    def stop_following(self) -> int:
        """Stop following every pattern of the job (``job.stream.stop_following()``).

        Returns:
            How many followed patterns were stopped.
        """
        return self.stream.stop_following()

    def template_batch(self, command_template: str, params: Params) -> BatchSummary:
        """Run one command per row of ``params`` and wait for all of them.

        Args:
            command_template: the command, with one placeholder per value of a row:
                ``%c%`` inserts the value as given (so it may carry several words), ``%q%``
                as one shell word, quoted when needed (file names with spaces, ``&``, quotes).
            params: comma-delimited strings (``["0.3 1.1, file1", ...]``), lists of
                strings (``[["0.3 1.1", "file1"], ...]``), or a numpy array (2-D: one row
                per command; 1-D of strings: comma-delimited rows).

        Returns:
            A ``BatchSummary``: this call's task counts by status word, ``failed_ids``,
            ``elapsed`` and ``tasks_per_second`` (see glob_batch).

        Raises:
            InvalidSubmission: a row's length differs from the number of placeholders.
            KeyboardInterrupt: Ctrl-C; the tasks of this call are cancelled first.
        """
        return self._batch(pb.TEMPLATE, command_template, rows=normalize_params(params))

    def template_stream(self, command_template: str, params: Params) -> Stream:
        """Like template_batch, without waiting.

        Returns:
            The job's stream object.
        """
        rows = normalize_params(params)
        reply = submit(self._conn, self.job_id, pb.TEMPLATE, pb.STREAM, command_template, rows=rows)
        self._note_call(reply.call_id)
        return self.stream

    def batch(self, commands: Commands) -> BatchSummary:
        """Run commands and wait for all of them.

        Args:
            commands: one string of commands separated by newlines or semicolons, or a
                list of commands (semicolons inside a command are kept).

        Returns:
            A ``BatchSummary``: this call's task counts by status word, ``failed_ids``,
            ``elapsed`` and ``tasks_per_second`` (see glob_batch).

        Raises:
            InvalidSubmission: there is no command.
            KeyboardInterrupt: Ctrl-C; the tasks of this call are cancelled first.
        """
        return self._batch(pb.PLAIN, "", items=split_commands(commands))

    def _batch(
        self,
        kind: pb.SubmitKind,
        template: str,
        items: list[str] | None = None,
        rows: list[list[str]] | None = None,
    ) -> BatchSummary:
        started = time.monotonic()
        reply = submit(self._conn, self.job_id, kind, pb.BATCH, template, items or (), rows or ())
        self._note_call(reply.call_id)
        try:
            progress = wait_until_done(
                self._conn, self.job_id, reply.call_id, BATCH_PROGRESS_INTERVAL, self._log_progress,
                self.settings.progress,
            )
        except KeyboardInterrupt:
            self._cancel_call(reply.call_id)
            raise
        summary = BatchSummary(progress.counts, job_id=self.job_id, call_id=reply.call_id,
                               failed_ids=self._failed_ids(reply.call_id, progress),
                               elapsed=time.monotonic() - started)
        unquoted = _unquoted_rows(template, rows or [], task_ids(reply)) if kind == pb.TEMPLATE else set()
        problems = batch_problems(progress, unquoted)
        # One record: the counts, time and rate, then what went wrong (failed ids, at most ten).
        if problems:
            again = (f"; run the failed tasks again with `stratosctl retry {self.job_id} --failed` "
                     "(or Processor.retry_failed())" if summary["failed"] else "")
            logger.warning("%s; %s; see `stratosctl task %s ID`%s", summary_line(summary), "; ".join(problems),
                           self.job_id, again)
        else:
            logger.log(logging.WARNING if summary["lost"] else logging.INFO, "%s", summary_line(summary))
        return summary

    def _failed_ids(self, call_id: int, progress: Progress) -> tuple[int, ...]:
        """Every failed task of the call: the Wait reply names the first 1,000, the task list the rest."""
        if progress.counts["failed"] <= len(progress.failed_task_ids):
            return tuple(progress.failed_task_ids)
        return tuple(t.task_id for t in self._conn.list_tasks(self.job_id, "failed") if t.call_id == call_id)

    def _note_call(self, call_id: int) -> None:
        if self.stream._calls is not None:
            self.stream._calls.append(call_id)

    def _log_progress(self, progress: Progress) -> None:
        logger.debug("job %r: %d of %d tasks ended", self.job_id, progress.ended, progress.total)

    def _cancel_call(self, call_id: int) -> None:
        try:
            cancelled = self._conn.cancel(self.job_id, call_id)
        except StratosError as err:
            print(f"stratos: could not cancel the tasks of this call: {err}", file=sys.stderr)
        else:
            print(f"stratos: cancelled {cancelled} tasks of this call", file=sys.stderr)

    # -- waiting and control -------------------------------------------------------------

    def wait(self) -> bool:
        """Block until every task of the job has ended, then close the stream.

        Returns:
            True; False when the job never had a streaming submission.

        Raises:
            JobNotFound: the job no longer exists.
            KeyboardInterrupt: Ctrl-C; only the wait ends, the tasks keep running (a
                message on stderr says how to cancel them or wait again).
        """
        return self.stream.wait()

    def wait_for_tasks(
        self,
        on_progress: Callable[[Progress], None] | None = None,
        progress_interval: float = 1.0,
    ) -> Progress:
        """Block until every task of the job has ended, without closing the stream.

        Args:
            on_progress: called with the job's progress every ``progress_interval`` seconds.
            progress_interval: seconds between calls of ``on_progress``.

        Returns:
            The final counts.

        Raises:
            KeyboardInterrupt: Ctrl-C; only the wait ends, the tasks keep running (a
                message on stderr says how to cancel them or wait again).
        """
        return self.stream.wait_for_tasks(on_progress, progress_interval)

    def retry_failed(self, task_ids: Iterable[int] | None = None) -> list[int]:
        """Run the failed tasks of this ended job again (GNU Parallel's ``--resume-failed``).

        Each runs as a new attempt of the same task (its earlier attempts stay in its
        record); its new result joins the job's results once, after those already there.
        A cursor that already read the failed attempt's stdout gets the new stdout as one
        more result of the same task; reading from the start shows only the new one.
        The job's retry settings (``retries``, ...) count afresh. Returns at once: wait
        with ``wait_for_tasks()`` (or ``stratosctl wait JOB``).

        Args:
            task_ids: the failed tasks to retry; None: every failed task of the job.

        Returns:
            The ids of the tasks resubmitted (empty when none had failed).

        Raises:
            JobNotEnded: the job still has tasks that have not ended: wait first.
            InvalidSubmission: one of ``task_ids`` did not fail.
            TaskNotFound: one of ``task_ids`` is not a task of this job.
        """
        return self._conn.retry(self.job_id, [] if task_ids is None else list(task_ids))

    def cancel(self) -> int:
        """Stop every pending and running task of the job.

        Returns:
            How many tasks were stopped.
        """
        return self._conn.cancel(self.job_id)

    def status(self) -> JobReport:
        """The job's state and task counts."""
        return JobReport.from_proto(self._conn.get_status(self.job_id))

    def story(self, task_id: int) -> TaskStory:
        """What happened to one task, line by line (each move, its cause, host, attempt, time);
        the same as ``job.stream.story(task_id)``, which says more.

        Raises:
            JobNotFound: the job was removed.
            TaskNotFound: no such task in this job.
        """
        return self.stream.story(task_id)

    def close(self) -> None:
        """Say the job is complete: a cluster backend gives its resources back now (Mesos: TEARDOWN).

        Without it a finished job's framework is torn down after it has been idle for a while
        (`stratosd run --mesos-idle-teardown`). Submitting again opens the job again.

        Raises:
            JobIdInUse: tasks of the job have not ended yet.
        """
        self._conn.close_job(self.job_id)

    def token(self) -> str:
        """The job's executor token: what `stratos-executor pilot` presents (keep it secret).

        Returns:
            The token.
        """
        return self._conn.job_token(self.job_id)

    def remove(self, delete_outputs: bool = False) -> bool:
        """Delete the finished job's records, results and sandboxes.

        Its output files (``output="disk"``, under ``log_directory``) are yours and stay.

        Args:
            delete_outputs: also delete the stdout and stderr files StratOS wrote for the
                job's tasks (nothing else in that directory, which is removed only when
                that leaves it empty).

        Returns:
            Whether the daemon removed it.

        Raises:
            JobNotEnded: the job still has pending or running tasks (wait or cancel first).
        """
        return self._conn.remove(self.job_id, delete_outputs)

    # -- results -------------------------------------------------------------------------

    @overload
    def get_results(
        self, consumer: str | None = None, details: Literal[False] = False, all: bool = False
    ) -> list[str]: ...

    @overload
    def get_results(
        self, consumer: str | None, details: Literal[True], all: bool = False
    ) -> list[TaskResult]: ...

    @overload
    def get_results(
        self, consumer: str | None = None, *, details: Literal[True], all: bool = False
    ) -> list[TaskResult]: ...

    @overload
    def get_results(
        self, consumer: str | None = None, details: bool = False, all: bool = False
    ) -> list[str] | list[TaskResult]: ...

    def get_results(
        self, consumer: str | None = None, details: bool = False, all: bool = False
    ) -> list[str] | list[TaskResult]:
        """The results that arrived since the previous call (all of them the first time).

        Which to use: ``get_results()`` when collecting as tasks end (a stream, a loop): each result
        comes once, so ``results += job.get_results()`` never repeats one. ``get_results(all=True)``
        in a notebook cell you may run again, or to look at a finished job: every result of the
        job so far, each time, and the cursor is left where it is.

        Args:
            consumer: a name for an independent cursor, so several readers each get
                every result; None: the job's shared cursor. Not used with all=True.
            details: return ``TaskResult`` records instead of stdout strings.
            all: every result of the job so far, in the job's order (sequence numbers), without
                moving any cursor (as ``read_results(0)``).

        Returns:
            Each task's stdout (UTF-8, undecodable bytes replaced), in completion order,
            or ``TaskResult`` records with details=True.

        Raises:
            JobNotFound: the job no longer exists.
            StratosError: the result stream broke; nothing was consumed, call again.
        """
        if not details:  # only stdout: no TaskResult is built
            if all:
                return _results.read_stdout(self._conn, self.job_id)
            return _results.consume_stdout(self._conn, self.job_id, consumer or "")
        if all:
            results = list(_results.read(self._conn, self.job_id, 0, False, details=details))
        else:
            results = _results.consume(self._conn, self.job_id, consumer or "", details)
        if details:
            return results
        return [result.stdout for result in results]

    @overload
    def results_by_input(self, details: Literal[False] = False) -> dict[str | tuple[str, ...], str]: ...

    @overload
    def results_by_input(self, details: Literal[True]) -> dict[str | tuple[str, ...], TaskResult]: ...

    def results_by_input(
        self, details: bool = False
    ) -> dict[str | tuple[str, ...], str] | dict[str | tuple[str, ...], TaskResult]:
        """Every result of the job so far, keyed by what its task ran on; the cursor is not moved.

        The key is the file ``%f%`` stood for (as the pattern matched it, e.g.
        ``"data/a_2.dat"``), the tuple of a template row's values (``("0.3 1.1 0.67", "file1")``),
        or the command of a plain command. A relaunched task's replacements count under the
        input of the task they replace; when several results share an input (a file globbed
        twice, a replacement), the last one to end is kept.

        Args:
            details: ``TaskResult`` records as values instead of stdout strings.

        Returns:
            A dict in the job's order.
        """
        if details:
            return {r.input: r for r in self.read_results(0)}
        return {r.input: r.stdout for r in self.read_results(0)}

    def results_frame(self) -> pandas.DataFrame:
        """Every result of the job so far as a pandas DataFrame; the cursor is not moved.

        Columns: task_id, call_id, input (as ``results_by_input``), status, exit_code (a
        nullable integer), signal, host, duration (seconds), stdout, command.

        Raises:
            MissingDependency: pandas is not installed (``pip install 'stratos[pandas]'``).
        """
        try:
            import pandas
        except ImportError:
            raise MissingDependency(
                "results_frame() needs pandas, which is not installed: pip install 'stratos[pandas]' "
                "(or pip install pandas); get_results(all=True, details=True) gives the same records"
            ) from None
        results = list(self.read_results(0))
        frame = pandas.DataFrame({
            "task_id": pandas.array([r.task_id for r in results], dtype="int64"),
            "call_id": pandas.array([r.call_id for r in results], dtype="int64"),
            "input": pandas.Series([r.input for r in results], dtype=object),
            "status": pandas.Series([r.status for r in results], dtype=object),
            "exit_code": pandas.array([r.exit_code for r in results], dtype="Int64"),
            "signal": pandas.array([r.signal for r in results], dtype="Int64"),
            "host": pandas.Series([r.host for r in results], dtype=object),
            "duration": pandas.array([r.duration for r in results], dtype="float64"),
            "stdout": pandas.Series([r.stdout for r in results], dtype=object),
            "command": pandas.Series([r.command for r in results], dtype=object),
        })
        return frame

    def read_results(
        self, from_seq: int = 0, follow: bool = False
    ) -> Iterator[TaskResult]:
        """Results from a sequence number on, without moving any cursor.

        Args:
            from_seq: the first sequence number to read.
            follow: keep waiting for new results instead of stopping at the last one.

        Yields:
            Results with details, in sequence order.
        """
        return _results.read(self._conn, self.job_id, from_seq, follow, details=True)
