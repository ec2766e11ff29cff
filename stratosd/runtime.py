"""The one asyncio loop that drives the core: events in, journal commit, then effects.

Every batch of queued events is handled in one core step; its journal actions are
committed in one transaction (group commit) before any effect runs, so a reply never
reaches a client for a change the journal does not hold, and a task is never
launched that the journal does not know was launched.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import shutil
import sqlite3
import stat
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, cast

from stratos_executor.spec import TaskSpec
from stratos_wire.errors import InvalidJobSpec, JobNotEnded, JobNotFound, JournalUnavailable
from stratosd.backends import survivors
from stratosd.backends.base import Backend, Capabilities
from stratosd.core import actions as act
from stratosd.core import paths
from stratosd.core.events import UNSENT, AttemptFact, DaemonStopping, Event, RemoveJobRequested, Request, Tick
from stratosd.core.model import JobSpec
from stratosd.core.state import SchedulerState, not_ended_message
from stratosd.core.types import AttemptRef, PoolKind
from stratosd.heap import Heap
from stratosd.locality.hdfs import BlockLocator, LocalityConfigError
from stratosd.store import Store

log = logging.getLogger("stratosd")


@dataclass(slots=True)
class Removal:
    """What removing one job removes (or would remove), measured before it is removed."""

    name: str
    key: int
    finished_at: float
    created: float
    tasks: int
    launched: list[int] = field(default_factory=list)
    results: int = 0
    journal_bytes: int = 0
    sandbox_directory: str = ""
    sandbox_bytes: int = 0
    #: output="disk": the job's directory under log_directory, and the files StratOS wrote there.
    output_directory: str = ""
    output_files: list[str] = field(default_factory=list)
    output_bytes: int = 0
    outputs_deleted: bool = False
    output_directory_removed: bool = False
    #: entries of the output directory StratOS did not write (never removed).
    other_files: int = 0


def tree_bytes(path: str | Path) -> int:
    """The bytes of the regular files under ``path`` (0 when it does not exist)."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def measure(removal: Removal) -> None:
    """Fill in the sizes of a removal and find exactly the output files StratOS wrote.

    Those are ``<task_id>.stdout`` and ``.stderr`` of the tasks that were launched, as
    regular files written since the job was created: anything else in the directory is
    the user's.
    """
    removal.sandbox_bytes = tree_bytes(removal.sandbox_directory)
    directory = removal.output_directory
    if not directory:
        return
    ours: set[str] = set()
    for task_id in removal.launched:
        for suffix in (".stdout", ".stderr"):
            path = os.path.join(directory, f"{task_id}{suffix}")
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mtime >= removal.created - 1:
                ours.add(os.path.basename(path))
                removal.output_files.append(path)
                removal.output_bytes += st.st_size
    try:
        removal.other_files = sum(1 for name in os.listdir(directory) if name not in ours)
    except OSError:
        removal.other_files = 0


def _measure_all(removals: list[Removal]) -> None:
    for removal in removals:
        measure(removal)


def delete_files(removal: Removal, sandboxes: Path, delete_outputs: bool) -> None:
    """Delete a removed job's sandboxes, and with ``delete_outputs`` its output files (only
    those :func:`measure` found), then their directory if that left it empty."""
    shutil.rmtree(paths.job_sandboxes(str(sandboxes), removal.key), ignore_errors=True)
    if not delete_outputs or not removal.output_directory:
        return
    for path in removal.output_files:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(path)
    removal.outputs_deleted = True
    if removal.other_files == 0:
        with contextlib.suppress(OSError):  # not empty after all: the user's files stay
            os.rmdir(removal.output_directory)
            removal.output_directory_removed = True


def _instance_id(state_dir: Path) -> str:
    path = state_dir / "instance-id"
    if not path.exists():
        path.write_text(uuid.uuid4().hex)
    return path.read_text().strip()


R = TypeVar("R")


class NamedJob(Protocol):
    """What placing a job's files needs of it (a Job or a JobView: the runtime holds neither)."""

    @property
    def key(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> JobSpec: ...


class Recorded(NamedTuple, Generic[R]):
    """A request whose encoded answer is journaled with its effect, for a retry to find."""

    #: the client's request id (a retry carries the same).
    client_id: str
    #: the RPC ("Submit", "CreateJob", ...).
    method: str
    encode: Callable[[R], bytes]

#: The environment variable naming a fault to inject, read once at start. TEST ONLY: with
#: ``submit-after-commit`` (or ``createjob-after-commit``, ``kill-after-commit``, ... any
#: method of a recorded request) the daemon exits with status 137, as after ``kill -9``,
#: right after the journal commit of such a request and before its reply is sent.
FAULT_VARIABLE = "STRATOS_FAULT"


class Runtime:
    def __init__(self, state: SchedulerState, store: Store, state_dir: Path) -> None:
        self.state = state
        self.store = store
        self.state_dir = state_dir
        #: the backends by pool kind, and by what each can do (base.Capabilities).
        self.can = Capabilities()
        self.backends: dict[PoolKind, Backend] = self.can.backends
        self._queue: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._changed = asyncio.Event()
        self._replies: dict[int, asyncio.Future[Any]] = {}
        #: requests whose reply is journaled with their effect (see ``request``).
        self._recorded: dict[int, Recorded[Any]] = {}
        #: their encoded replies, committed, waiting to be resolved.
        self._encoded: dict[int, bytes] = {}
        self._fault = os.environ.get(FAULT_VARIABLE, "").strip().lower()
        if self._fault:
            log.warning("%s=%s: this daemon will exit on purpose (a test's fault injection)",
                        FAULT_VARIABLE, self._fault)
        #: resolved once the events queued with them are committed (acknowledged reports).
        self._commit_waiters: list[asyncio.Future[None]] = []
        self._request_ids = itertools.count(1)
        self._stimuli = itertools.count(1)
        self._closing = False
        #: run() is looping; set once it has handled the last events after close().
        self._running = False
        self._stopped = asyncio.Event()
        self._retry_delay = 0.05
        self._sandboxes = str(state_dir / paths.SANDBOXES)
        # the core names each launch's sandbox under this state directory's
        state.sandboxes = self._sandboxes
        self._locators: dict[tuple[str, str], BlockLocator] = {}
        #: this state directory's daemon identity, in every local task's STRATOS_TASK_KEY.
        self.instance = _instance_id(state_dir)
        #: finished jobs older than this (seconds) are removed (stratosd run --retention-days).
        self.retention = 7 * 86400.0
        #: freezes what is alive after many task rows were journaled, so that garbage collections
        #: stay short (stratosd/heap.py); None (in-process tests): never. The daemon sets one.
        self.heap: Heap | None = None
        self._freeze_due = False

    def locator(self, namenode: str, mount_prefix: str) -> BlockLocator:
        """One WebHDFS block locator (with its cache) per namenode and mount."""
        key = (namenode, mount_prefix)
        locator = self._locators.get(key)
        if locator is None:
            try:
                locator = self._locators[key] = BlockLocator(namenode, mount_prefix=mount_prefix)
            except LocalityConfigError as err:
                raise InvalidJobSpec(f"hdfs={namenode!r}: {err}") from None
        return locator

    async def probe(self, kind: PoolKind, master: str) -> None:
        """Let a cluster backend refuse a master it cannot reach, before the job is created."""
        probe = self.can.probes.get(kind)
        if probe is not None:
            await probe.probe(master)

    def add_backend(self, backend: Backend) -> None:
        self.can.add(backend)
        self.emit(*backend.initial_events())

    # -- inputs -----------------------------------------------------------------------------

    def emit(self, *events: Event) -> None:
        """Queue facts for the core (backends call this); an event without a stimulus id gets one."""
        for e in events:
            if not e.stimulus_id:
                e = dataclasses.replace(e, stimulus_id=f"{type(e).__name__}-{next(self._stimuli)}")
            self._queue.append(e)
        self._wakeup.set()

    async def emit_committed(self, *events: Event) -> None:
        """Queue facts and return once the journal holds their consequences."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commit_waiters.append(future)
        self.emit(*events)
        await future

    def next_request_id(self) -> int:
        return next(self._request_ids)

    async def request(self, req: Request[R]) -> R:
        """Send a request to the core; return its answer once the journal holds its effect."""
        return cast(R, await self._send(req, None))

    async def request_recorded(self, req: Request[R], record: Recorded[R]) -> bytes:
        """Send a request; its answer, encoded by ``record.encode``, is journaled under the client's
        request id in the transaction of the request's effect and returned: a retry finds exactly
        that reply in the journal."""
        return cast(bytes, await self._send(req, record))

    async def _send(self, req: Request[Any], record: Recorded[Any] | None) -> object:
        request_id = next(self._request_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        if record is not None:
            self._recorded[request_id] = record
        name = type(req).__name__.removesuffix("Requested")
        self.emit(dataclasses.replace(req, request_id=request_id,
                                      stimulus_id=req.stimulus_id or f"{name}-{request_id}"))
        try:
            return await future
        finally:
            self._recorded.pop(request_id, None)
            self._encoded.pop(request_id, None)

    def _records(self, actions: list[act.Action]) -> list[tuple[str, str, bytes]]:
        """The replies to journal with this step: those of recorded requests that succeeded."""
        out = []
        for a in actions:
            if isinstance(a, act.Reply) and a.error is None and a.request_id in self._recorded:
                client_id, method, encode = self._recorded.pop(a.request_id)
                reply = encode(a.value)
                self._encoded[a.request_id] = reply
                out.append((client_id, method, reply))
        return out

    def _inject_fault(self, records: list[tuple[str, str, bytes]]) -> None:
        """TEST ONLY (STRATOS_FAULT): die like ``kill -9`` after the commit, before the reply."""
        if any(f"{method.lower()}-after-commit" == self._fault for _, method, _ in records):
            log.error("%s=%s: exiting after the commit, before the reply", FAULT_VARIABLE, self._fault)
            logging.shutdown()
            os._exit(137)

    def watch(self) -> asyncio.Event:
        """The event set by the next core step. Take it *before* reading state, then await it
        with :meth:`changed`: a step that happens in between is not missed."""
        return self._changed

    @staticmethod
    async def changed(watched: asyncio.Event, timeout: float | None = None) -> None:
        """Return once ``watched`` (from :meth:`watch`) is set, or after the timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watched.wait(), timeout)

    # -- the loop ----------------------------------------------------------------------------

    def restore(self) -> None:
        # A crashed daemon's local tasks may still run: end them before their tasks run again.
        killed = survivors.kill(self.instance)
        if killed:
            log.warning("killed %d task process(es) left running by the previous daemon", killed)
        # now: the adoption window opens (running tasks of pilot pools wait for their pilot to return)
        actions = self.state.restore(self.store.load_jobs(), now=time.time())
        self._commit_and_run(actions)

    async def tick(self, interval: float = 0.25) -> None:
        """While tasks wait for data-local hosts, tell the core the time (it has no clock)."""
        while not self._closing:
            await asyncio.sleep(interval)
            if self.state.needs_tick():
                self.emit(Tick(time.time()))

    async def run(self) -> None:
        self._running = True
        try:
            while not self._closing:
                await self._wakeup.wait()
                self._wakeup.clear()
                # Let the reports of tasks that ended together arrive, so they share one commit.
                await asyncio.sleep(0)
                self._step()
            self._step()  # the backends' last reports, sent while close() closed them
        finally:
            self._stopped.set()

    def _step(self) -> None:
        """Hand the queued events to the core, commit its journal actions, run its effects."""
        events = list(self._queue)
        self._queue.clear()
        waiters, self._commit_waiters = self._commit_waiters, []
        if events:
            with self.heap.step() if self.heap is not None else contextlib.nullcontext():
                actions = self.state.handle(*events)
                records = self._records(actions)
                try:
                    self.store.apply(actions, records)
                except (sqlite3.Error, OSError) as err:
                    failed: Exception | None = err
                else:
                    failed = None
            if failed is not None:
                for a in actions:
                    if isinstance(a, act.Reply):
                        self._encoded.pop(a.request_id, None)
                self._journal_failed(actions, events, waiters, failed)
                return
            if records and self._fault:
                self._inject_fault(records)
            self._commit_and_run(actions, committed=True)
            if self.heap is not None and not self._freeze_due and self.heap.journaled(
                    sum(len(a.tasks) for a in actions if isinstance(a, act.SaveTasks))):
                # after the callbacks this step scheduled (its replies), not before them
                self._freeze_due = True
                asyncio.get_running_loop().call_soon(self._freeze)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _freeze(self) -> None:
        self._freeze_due = False
        if self.heap is not None:
            self.heap.freeze()

    def _journal_failed(self, actions: list[act.Action], events: list[Event],
                        waiters: list[asyncio.Future[None]], err: Exception) -> None:
        """The journal refused a step (a full disk). Nothing of it may count as done.

        Requests of the step fail with JournalUnavailable; the core is rebuilt from the
        journal, keeping the attempts that still run; the backends' facts of the step are
        queued again and retried, so no task end and no result is lost, and the daemon
        goes on answering reads meanwhile.
        """
        log.error("journal commit failed (%s): rebuilding from the journal and retrying", err)
        for a in actions:
            if isinstance(a, act.Reply):
                self._resolve(a.request_id, None, JournalUnavailable(
                    f"stratosd cannot write its journal in {self.state_dir} ({err}): free some space there "
                    "and try again; nothing of this request was done."))
        facts = [e for e in events if not isinstance(e, Request)]
        live: dict[AttemptRef, str] = {}
        for tracker in self.can.trackers.values():
            live.update(tracker.live_attempts())
        for fact in facts:  # attempts whose end is still to be recorded keep their place too
            if isinstance(fact, AttemptFact):
                host = self.state.placed_host(fact.job_key, fact.task_id)
                if host:
                    live.setdefault(fact.ref, host)
        self.state.reset()
        self._run_effects(self.state.restore(self.store.load_jobs(), live))
        self._queue.extendleft(reversed(facts))
        self._retry_delay = min(5.0, max(0.1, self._retry_delay * 2))
        asyncio.get_running_loop().call_later(self._retry_delay, self._wakeup.set)
        for waiter in waiters:  # executors retry reports that were not acknowledged
            if not waiter.done():
                waiter.set_exception(JournalUnavailable(f"stratosd cannot write its journal ({err})"))

    def _commit_and_run(self, actions: list[act.Action], committed: bool = False) -> None:
        if not committed:
            self.store.apply(actions)
        self._retry_delay = 0.05
        self._run_effects(actions)

    def _run_effects(self, actions: list[act.Action]) -> None:
        for a in actions:
            if isinstance(a, act.JOURNAL_ACTIONS):
                continue
            if isinstance(a, act.Reply):
                self._resolve(a.request_id, a.value, a.error)
            elif isinstance(a, act.LaunchTask):
                self.can.standing[a.pool.kind].launch(a.job_key, a.host_id, self.task_spec(a))
            elif isinstance(a, act.AcceptOffer):
                launches = [(one.job_key, self.task_spec(one), one.cpus) for one in a.launches]
                self.can.offers[a.pool.kind].accept(a.pool, a.offer, launches)
            elif isinstance(a, act.LaunchExecutor):
                self.can.offers[a.pool.kind].launch_executor(a.pool, a.offer, a.executor_id, a.cpus, a.mem, a.disk)
            elif isinstance(a, act.GrowExecutor):
                self.can.offers[a.pool.kind].grow_executor(a.pool, a.offer, a.executor_id, a.room_id, a.cpus, a.mem,
                                                           a.disk)
            elif isinstance(a, act.ShrinkExecutor):
                self.can.offers[a.pool.kind].shrink_executor(a.pool, a.executor_id, a.room_id)
            elif isinstance(a, act.DeclineOffers):
                self.can.offers[a.pool.kind].decline(a.pool, a.offer_ids, a.refuse_seconds)
            elif isinstance(a, act.SuppressOffers):
                self.can.offers[a.pool.kind].suppress(a.pool)
            elif isinstance(a, act.ReviveOffers):
                self.can.clusters[a.pool.kind].revive(a.pool, a.grant)
            elif isinstance(a, act.ReleasePool):
                self.can.clusters[a.pool.kind].release(a.pool, a.now)
            elif isinstance(a, act.AdoptAttempts):
                adopter = self.can.adopters.get(a.pool.kind)
                if adopter is not None:  # pilots adopt by registering again (holding their attempts)
                    adopter.adopt(a.pool, a.attempts)
            elif isinstance(a, act.PoolDemand):
                supplier = self.can.suppliers.get(a.pool.kind)
                if supplier is not None:  # others have no supply to size (Mesos offers come by themselves)
                    supplier.demand(a.pool, a.pending, a.running, a.max_pilots, a.hosts, a.locality_wait)
            elif isinstance(a, act.StopExecutor):
                self.can.stoppers[a.pool.kind].stop_executor(a.host_id, a.cause)
            elif isinstance(a, act.KillTask):
                backend = self.backends.get(a.pool.kind)
                if backend is not None:
                    backend.kill(a.job_key, a.task_id, a.attempt, a.host_hint)
            else:
                raise TypeError(a)
        if actions:  # a step with no action (a task's start time) changed nothing a watcher reads
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def _resolve(self, request_id: int, value: object, error: BaseException | None) -> None:
        future = self._replies.pop(request_id, None)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(self._encoded.pop(request_id, value))

    def task_spec(self, a: act.LaunchTask) -> TaskSpec:
        """The core's description of the attempt; a local one also carries the key by which a
        restarted daemon finds its surviving processes."""
        if a.pool.kind is not PoolKind.LOCAL:
            return a.spec
        key = f"{self.instance}:{a.job_key}:{a.task_id}:{a.attempt}"
        return dataclasses.replace(a.spec, env={**a.spec.env, survivors.KEY_VARIABLE: key})

    def output_files(self, job: NamedJob, task_id: int) -> tuple[str, str]:
        """Where a task's stdout and stderr files are ("" when its mode keeps no such file):
        ``disk`` under log_directory/<job>/, ``mesos`` in its sandbox, none for scheduler and none.
        The sandbox of ``mesos`` is the executor's, on the host that ran the attempt (see ``files_host``)."""
        return paths.output_files(job.spec, job.name, self.task_sandbox(job.key, task_id)[0], task_id)

    def task_sandbox(self, job_key: int, task_id: int) -> tuple[str, str]:
        """(sandbox directory, its host) of a task's recorded attempt: a remote executor's own
        (its report says where), else the daemon's (host "")."""
        remote, host = self.store.ran_in(job_key, task_id)
        return (remote, host) if remote else (str(self.sandbox(job_key, task_id)), "")

    def sandbox(self, job_key: int, task_id: int) -> Path:
        return Path(paths.sandbox(self._sandboxes, job_key, task_id))

    def finished_before(self, cutoff: float) -> list[str]:
        """The jobs whose tasks have all ended, the last of them before ``cutoff``."""
        return [
            job.name for job in self.state.jobs.values()
            if not job.unended and not job.following and job.finished_at and job.finished_at < cutoff
        ]

    async def remove_jobs(self, names: Iterable[str], *, delete_outputs: bool = False,
                          dry_run: bool = False) -> list[Removal]:
        """Remove finished jobs: their records, results, sandboxes and spilled stdout.

        Output files (output="disk") are the user's and stay, unless ``delete_outputs``:
        then the ones StratOS wrote go, nothing else. Any job with unended tasks refuses
        the whole call (JobNotEnded); a job removed meanwhile by someone else is skipped.
        The core decides each removal; the files are deleted here, after it is journaled.
        """
        jobs = [self.state.job(name) for name in dict.fromkeys(names)]
        busy = [job for job in jobs if job.unended or job.following]
        if busy:
            raise JobNotEnded(" ".join(not_ended_message(job) for job in busy[:5])
                              + (f" ({len(busy) - 5} more jobs too.)" if len(busy) > 5 else ""))
        plans = []
        for job in jobs:
            results, journal_bytes = self.store.job_usage(job.key)
            plans.append(Removal(
                name=job.name, key=job.key, finished_at=job.finished_at, created=job.created,
                tasks=len(job.tasks), launched=[t.task_id for t in job.tasks if t.attempt > 0],
                results=results, journal_bytes=journal_bytes,
                sandbox_directory=paths.job_sandboxes(self._sandboxes, job.key),
                output_directory=os.path.join(job.spec.log_directory, job.name)
                if job.spec.output == "disk" and job.spec.log_directory else "",
            ))
        await asyncio.to_thread(_measure_all, plans)
        if dry_run:
            return plans
        removed = []
        for plan in plans:
            try:
                await self.request(RemoveJobRequested(UNSENT, plan.name, plan.key))
            except JobNotFound:
                continue  # removed (or renamed) by another request meanwhile
            removed.append(plan)
            await asyncio.to_thread(delete_files, plan, Path(self._sandboxes), delete_outputs)
        if removed:
            await self.reclaim()
        return removed

    async def purge_expired(self, retention: float, now: float) -> list[str]:
        """Remove finished jobs whose retention has passed (their output files stay); return their names."""
        expired = []
        for name in self.finished_before(now - retention):
            with contextlib.suppress(JobNotFound, JobNotEnded):  # changed meanwhile: a later round
                expired += [r.name for r in await self.remove_jobs([name])]
        return expired

    async def remove_orphan_sandboxes(self, dry_run: bool = False) -> tuple[int, int]:
        """Sandboxes of jobs that no longer exist (a removal interrupted by a crash): (count, bytes)."""
        root = Path(self._sandboxes)
        try:
            names = [entry.name for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)]
        except OSError:
            return 0, 0
        orphans = [root / name for name in names
                   if name.isdigit() and self.state.known_key(int(name)) and int(name) not in self.state.by_key]
        size = sum([await asyncio.to_thread(tree_bytes, path) for path in orphans])
        if not dry_run:
            for path in orphans:
                await asyncio.to_thread(shutil.rmtree, path, True)
        return len(orphans), size

    async def reclaim(self, convert: bool = False) -> None:
        """Give the journal's free pages back to the disk, a few MB per step so that the loop
        goes on between steps, and cut the WAL; ``convert`` (gc) first rewrites a journal made
        before incremental vacuum (a VACUUM: once, blocking for about a second per 100 MB)."""
        try:
            if convert and not self.store.incremental() and self.store.free_bytes():
                self.store.convert_to_incremental()
            for _ in range(1_000_000):  # at most 4 TB of pages; each step a few milliseconds
                if not self.store.reclaim_step():
                    break
                await asyncio.sleep(0)
            self.store.truncate_wal()
        except sqlite3.Error as err:
            log.warning("could not give the journal's free space back: %s", err)

    def usage(self) -> dict[str, int]:
        """The state directory's bytes by part (walks the directory: call it in a thread)."""
        journal = self.store.path.name
        parts = {"journal": 0, "sandboxes": 0, "pilot_logs": 0, "other": 0}
        try:
            entries = list(os.scandir(self.state_dir))
        except OSError:
            entries = []
        for entry in entries:
            try:
                if entry.name == "sandboxes":
                    parts["sandboxes"] += tree_bytes(entry.path)
                elif entry.name == "slurm-logs":
                    parts["pilot_logs"] += tree_bytes(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    parts["other"] += tree_bytes(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    parts["journal" if entry.name.startswith(journal) else "other"] += size
            except OSError:
                continue
        return parts

    async def close(self) -> None:
        """Daemon stop: the core launches nothing more; the backends close while the loop still
        runs, so their last reports (a local task stopped by the shutdown) reach the core."""
        self.emit(DaemonStopping(time.time()))
        for locator in self._locators.values():
            locator.close()
        for backend in self.backends.values():
            await backend.close()
        self._closing = True
        self._wakeup.set()
        if self._running:
            await self._stopped.wait()
