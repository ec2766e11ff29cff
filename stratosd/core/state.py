"""The scheduler's state machine.

Theory of operation
-------------------
Everything the daemon knows about jobs, tasks, hosts and results lives here, and
only :meth:`SchedulerState.handle` changes it. Events come in (client requests,
backend reports); actions go out. The runtime commits the journal actions of one
``handle`` call in one transaction *before* it runs any effect (launch, kill,
reply), so nothing is acknowledged that a crash could lose.

Task states (the user's status words)::

    pending --launch--> running --exit 0--> finished
       |                   |----exit !=0 / signal / timeout--> failed
       |                   |----kill requested--> killed
       |                   |----monitor said stratos_relaunch--> relaunched
       |                   |----host or executor failed, retries left--> pending
       |                   '----host or executor failed, no retries--> lost
       '--kill--> killed

Rules:

1. ``transitions.TRANSITIONS`` is the whole table; ``transitions.move`` refuses anything
   else with :class:`InvalidTransition`.
2. A report about an attempt that is not the task's current one is stale and ignored,
   which makes backend reports idempotent.
3. Results get sequence numbers here. Stream calls publish a result when its task
   ends; batch calls publish in submission order (a relaunched task's replacements
   take its place), so a client cursor is one integer per consumer.
4. Hosts are grouped in pools (the local machine; one per Mesos framework or Slurm
   job). A job only ever runs on its own pool's hosts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from stratos.errors import (
    InsufficientResources,
    InvalidSubmission,
    JobIdInUse,
    JobNotEnded,
    JobNotFound,
    StratosError,
    TaskNotFound,
)
from stratos_executor.spec import Relaunch, StopReason, TaskRecord
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.locality import best_hosts, canonical_host
from stratosd.core.model import EXITED, TERMINAL, Call, Host, Job, JobSpec, Status, Task
from stratosd.core.replies import JobCreated, JobRemoved, JobView, Submitted
from stratosd.core.transitions import InvalidTransition, move
from stratosd.core.types import AttemptRef, PoolId, PoolKind, TaskEndReason
from stratosd.core.validate import validate

R = TypeVar("R")

_EPS = 1e-9


#: the code a task's end gets from the executor's reason for stopping it.
_END_OF_STOP = {
    StopReason.NONE: TaskEndReason.NONE,
    StopReason.KILLED: TaskEndReason.KILLED,
    StopReason.TIMEOUT: TaskEndReason.TIMEOUT,
    StopReason.RELAUNCH: TaskEndReason.RELAUNCHED,
    StopReason.SPAWN_FAILED: TaskEndReason.SPAWN_FAILED,
    StopReason.MEMORY_LIMIT: TaskEndReason.LIMIT,
    StopReason.DISK_LIMIT: TaskEndReason.LIMIT,
    StopReason.CLUSTER_LIMIT: TaskEndReason.CLUSTER_LIMIT,
    StopReason.EXECUTOR_STOPPED: TaskEndReason.STOPPED,
    StopReason.DAEMON_STOP: TaskEndReason.STOPPED,
    StopReason.OTHER: TaskEndReason.STOPPED,
}


def _mb(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def limit_reason(spec: JobSpec, stop: str, measured_kb: int) -> str:
    """The failed task's reason: what it used against what the job allows (as Mesos reports it)."""
    memory = StopReason.parse(stop) is StopReason.MEMORY_LIMIT
    kind, limit = ("memory", spec.mem) if memory else ("disk", spec.disk)
    word = "peak " if kind == "memory" else ""
    relation = ">" if measured_kb > limit * 1024 else ">="  # a kernel limit stops it at the limit itself
    return f"{kind} limit: {word}{_mb(measured_kb)} MB {relation} {limit:g} MB"


def unenforced_notes(spec: JobSpec, rec: TaskRecord) -> list[str]:
    """A task above a size the user did not set is not stopped (jobs that worked keep working): noted."""
    notes = []
    if not spec.mem_set and rec.peak_rss_sum_kb > spec.mem * 1024:
        notes.append(f"used {_mb(rec.peak_rss_sum_kb)} MB of memory, more than mem_per_task={spec.mem:g} MB "
                     "(the default, used to pack tasks, not enforced; set mem_per_task to make it a limit)")
    if not spec.disk_set and rec.disk_kb > spec.disk * 1024:
        notes.append(f"used {_mb(rec.disk_kb)} MB of disk, more than disk_per_task={spec.disk:g} MB "
                     "(the default, not enforced; set disk_per_task to make it a limit)")
    return notes


def not_ended_message(job: Job) -> str:
    """Why a job with unended tasks cannot be removed, and what to do."""
    return (
        f"job {job.name} still has {job.unended} unended tasks: wait for them (`stratosctl wait {job.name}`) "
        f"or cancel the job (`stratosctl cancel {job.name}`), then remove it."
    )


class SchedulerState:
    """All jobs, tasks and hosts of one daemon."""

    def __init__(self, *, story_length: int = 10_000, validate: bool = False) -> None:
        #: check every invariant after every step (tests; see core/validate.py).
        self.validating = validate
        #: jobs by their current name, and by their journal key.
        self.jobs: dict[str, Job] = {}
        self.by_key: dict[int, Job] = {}
        self.hosts: dict[str, Host] = {}
        #: pool name -> its hosts.
        self.pools: dict[PoolId, list[Host]] = {}
        #: pool name -> jobs with pending tasks, in round-robin order.
        self._waiting: dict[PoolId, dict[int, Job]] = {}
        #: (job key, task id) -> host id of every running task.
        self._placed: dict[tuple[int, int], str] = {}
        self._next_key = 1
        #: the latest time any event told us (the core has no clock of its own).
        self._now = 0.0
        #: the stimulus id of the event being handled: every action decided now carries it.
        self._stimulus = ""
        #: job key -> serial number of its latest launch (fair-share tie breaker).
        self._last_launch: dict[int, int] = {}
        self._launches = 0
        #: recent transitions, for debugging: (job name, task id, from, to, why).
        self.story: deque[tuple[str, int, str, str, str]] = deque(maxlen=story_length)
        self._effects: list[act.Action] = []
        self._dirty_jobs: dict[int, Job] = {}
        self._dirty_tasks: dict[int, dict[int, Task]] = {}
        self._journal: list[act.Action] = []
        self._handlers: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.HostAdded: self._on_host_added,
            ev.HostRemoved: self._on_host_removed,
            ev.OffersReceived: self._on_offers,
            ev.Tick: lambda e: None,
            ev.CreateJobRequested: self._on_create_job,
            ev.SubmitRequested: self._on_submit,
            ev.KillRequested: self._on_kill,
            ev.CancelRequested: self._on_cancel,
            ev.CloseStreamRequested: self._on_close_stream,
            ev.RemoveJobRequested: self._on_remove,
            ev.CloseJobRequested: self._on_close_job,
            ev.TaskStarted: self._on_task_started,
            ev.TaskEnded: self._on_task_ended,
            ev.TaskLost: self._on_task_lost,
        }

    # -- the one mutator -----------------------------------------------------------------

    def handle(self, *events: ev.Event) -> list[act.Action]:
        """Apply events; return journal actions first, then effects, in order."""
        for event in events:
            self._stimulus = event.stimulus_id
            if isinstance(event, ev.Timed) and event.now > self._now:
                self._now = event.now
            handler = self._handlers.get(type(event))
            if handler is None:
                raise TypeError(event)
            if not isinstance(event, ev.Request):
                handler(event)
                continue
            try:
                handler(event)
            except StratosError as err:
                self._effects.append(act.Reply(event.request_id, error=err, stimulus_id=self._stimulus))
        self._schedule()
        out = self._flush_journal()
        out.extend(self._effects)
        self._effects = []
        if self.validating:
            validate(self)
        return out

    def _reply(self, request: ev.Request[R], value: R) -> None:
        """Answer a request (typed: each request class says what its answer is)."""
        self._effects.append(act.Reply(request.request_id, value, stimulus_id=self._stimulus))

    # -- restore ---------------------------------------------------------------------------

    def restore(self, jobs: Iterable[Job], live: Mapping[AttemptRef, str] | None = None
                ) -> list[act.Action]:
        """Load jobs from the journal.

        Tasks that were running when the daemon stopped run again, except in offer pools
        (the cluster kept them running, and its backend reconciles them) and the attempts in
        ``live`` (job key, task id, attempt -> host id): a backend still runs them, so they
        keep their place (a rebuild after a failed journal commit).
        """
        live = live or {}
        self._stimulus = "restore"
        for job in jobs:
            self.jobs[job.name] = job
            self.by_key[job.key] = job
            self._next_key = max(self._next_key, job.key + 1)
            adopt = self._cluster_pool(job.pool)
            for task in job.tasks:
                host = self.hosts.get(live.get(AttemptRef(job.key, task.task_id, task.attempt), ""))
                if task.status is Status.RUNNING and host is not None:
                    cpus = min(job.spec.cpus, max(h.cpus for h in self.pools[host.pool]))
                    host.free_cpus -= cpus
                    host.free_mem -= job.spec.mem
                    host.running.add((job.key, task.task_id))
                    self._placed[(job.key, task.task_id)] = host.host_id
                elif task.status is Status.RUNNING and not adopt:
                    task.status = Status.PENDING
                    task.reason, task.end = "requeued after a daemon restart", TaskEndReason.REQUEUED_AFTER_RESTART
                    self._mark(job, task)
            self._rebuild(job)
            if adopt and job.unended:  # subscribe again: reconcile what runs, get offers for what waits
                self._effects.append(act.ReviveOffers(job.pool, stimulus_id=self._stimulus))
        self._schedule()
        if self.validating:
            validate(self)
        return self._flush_journal() + self._take_effects()

    def reset(self) -> None:
        """Forget everything but the hosts' capacities (before a rebuild from the journal).

        In place, so every adapter holding this object sees the rebuilt state.
        """
        hosts = [(h.host_id, h.pool, h.cpus, h.mem, h.hostname) for h in self.hosts.values()]
        story = self.story
        self.__init__(story_length=story.maxlen or 1, validate=self.validating)  # type: ignore[misc]
        self.story = story
        for host_id, pool, cpus, mem, hostname in hosts:
            self._on_host_added(ev.HostAdded(host_id, pool, cpus, mem, hostname))

    @staticmethod
    def _cluster_pool(pool: PoolId) -> bool:
        """Whether a cluster grants this pool's hosts per job (see PoolKind.cluster)."""
        return pool.kind.cluster

    def _rebuild(self, job: Job) -> None:
        """Recompute what is derived from the tasks: counts, queue, per-call progress."""
        job.counts = dict.fromkeys(Status, 0)
        for call in job.calls:
            call.unended = 0
            call.roots = []
        job.pending = deque()
        job.by_host = {}
        for task in job.tasks:
            job.counts[task.status] += 1
            call = job.calls[task.call_id]
            if task.status not in TERMINAL:
                call.unended += 1
            if task.parent is None:
                call.roots.append(task.task_id)
            if task.status is Status.PENDING:
                job.pending.append(task.task_id)
                task.queued = self._now
                self._index(job, task)
        for call in job.calls:
            call.next_root = 0
            if call.mode == "batch":
                while call.next_root < len(call.roots) and self._tree_ended(job, call.roots[call.next_root]):
                    call.next_root += 1
        if job.pending:
            self._waiting.setdefault(job.pool, {})[job.key] = job

    # -- requests ----------------------------------------------------------------------------

    def _on_host_added(self, e: ev.HostAdded) -> None:
        if e.host_id in self.hosts:
            return
        host = Host(e.host_id, PoolId(e.pool), e.cpus, e.mem, canonical_host(e.hostname or e.host_id),
                    free_cpus=e.cpus, free_mem=e.mem)
        self.hosts[e.host_id] = host
        self.pools.setdefault(host.pool, []).append(host)
        for job_key, task_id, attempt in e.holding:
            self._claim(host, job_key, task_id, attempt)

    def _claim(self, host: Host, job_key: int, task_id: int, attempt: int) -> None:
        """A returning executor holds this attempt: keep it where it runs, or stop it if it is stale."""
        job = self.by_key.get(job_key)
        task = job.tasks[task_id] if job is not None and 0 <= task_id < len(job.tasks) else None
        if (job is None or task is None or job.pool != host.pool or task.attempt != attempt
                or task.status is not Status.RUNNING or (job_key, task_id) in self._placed):
            self._effects.append(act.KillTask(job_key, task_id, attempt, host.pool, stimulus_id=self._stimulus))
            return
        cpus = min(job.spec.cpus, max(h.cpus for h in self.pools[host.pool]))
        host.free_cpus -= cpus
        host.free_mem -= job.spec.mem
        host.running.add((job_key, task_id))
        self._placed[(job_key, task_id)] = host.host_id

    def _on_host_removed(self, e: ev.HostRemoved) -> None:
        host = self.hosts.pop(e.host_id, None)
        if host is None:
            return
        self.pools[host.pool].remove(host)
        for job_key, task_id in sorted(host.running):
            job = self.by_key[job_key]
            self._lose(job, job.tasks[task_id], f"host {e.host_id} left: {e.reason}", e.now)

    def _on_create_job(self, e: ev.CreateJobRequested) -> None:
        name = e.name
        renamed = ""
        if not name:
            name = f"job-{self._next_key}"
            while name in self.jobs:
                name += "x"
        elif name in self.jobs:
            old = self.jobs[name]
            if old.unended:
                raise JobIdInUse(
                    f'job "{name}" still has {old.unended} unended tasks. Reattach to it with '
                    f'Processor.attach("{name}"), wait for it or cancel it (`stratosctl cancel {name}`), '
                    "or choose another job_id."
                )
            n = 1
            while f"{name}.{n}" in self.jobs:
                n += 1
            renamed = f"{name}.{n}"
            del self.jobs[name]
            old.name = renamed
            self.jobs[renamed] = old
            self._dirty_jobs[old.key] = old
        pool = PoolId.of(e.pool, self._next_key) if e.own_pool else PoolId.of(e.pool)
        job = Job(self._next_key, name, e.spec, pool, e.now, e.token)
        self._next_key += 1
        self.jobs[name] = job
        self.by_key[job.key] = job
        self._dirty_jobs[job.key] = job
        self._reply(e, JobCreated(JobView.of(job), renamed))

    def job(self, name: str) -> Job:
        """The job named ``name``; raises JobNotFound."""
        job = self.jobs.get(name)
        if job is None:
            raise JobNotFound(f'no job named "{name}": `stratosctl jobs` lists the jobs this daemon knows.')
        return job

    def _on_submit(self, e: ev.SubmitRequested) -> None:
        job = self.job(e.name)
        commands = [c for c in e.commands if c.strip()]
        if not commands:
            raise InvalidSubmission("the submission holds no command: nothing to run.")
        warnings: list[str] = list(e.notes)
        job.warnings.extend(n for n in e.notes if n not in job.warnings)
        hosts = self.pools.get(job.pool, [])
        if hosts:
            most_mem = max(h.mem for h in hosts)
            most_cpus = max(h.cpus for h in hosts)
            if job.spec.mem > most_mem + _EPS:
                raise InsufficientResources(
                    f"each task asks for {job.spec.mem:g} MB of memory but the largest host of this "
                    f"backend has {most_mem:g} MB: lower mem_per_task."
                )
            if job.spec.cpus > most_cpus + _EPS:
                warnings.append(
                    f"threads_per_task={job.spec.cpus:g} is more than the {most_cpus:g} cores this host "
                    f"has: each task runs with all {most_cpus:g}."
                )
        call = Call(len(job.calls), e.mode, e.cwd, e.env)
        job.calls.append(call)
        self._journal.append(act.SaveCall(job.key, call, stimulus_id=self._stimulus))
        first = len(job.tasks)
        locality = e.locality if e.locality is not None and len(e.locality) == len(commands) else None
        for number, command in enumerate(commands):
            task = Task(len(job.tasks), call.call_id, command)
            task.queued = e.now
            if locality is not None and locality[number][1]:
                task.marked, task.host_bytes = locality[number]
                self._index(job, task)
            job.tasks.append(task)
            call.roots.append(task.task_id)
            job.pending.append(task.task_id)
            self._mark(job, task)
        call.unended = len(commands)
        job.counts[Status.PENDING] += len(commands)
        job.cancelled = False
        if e.mode == "stream":
            job.stream_opened = True
        job.stream_closed = False
        self._dirty_jobs[job.key] = job
        self._waiting.setdefault(job.pool, {})[job.key] = job
        if self._cluster_pool(job.pool):
            self._effects.append(act.ReviveOffers(job.pool, stimulus_id=self._stimulus))
        self._reply(e, Submitted(call.call_id, first, len(commands), warnings))

    def _on_kill(self, e: ev.KillRequested) -> None:
        job = self.job(e.name)
        if e.task_ids is None:
            targets = [t for t in job.tasks if t.status not in TERMINAL]
        else:
            for task_id in e.task_ids:
                if not 0 <= task_id < len(job.tasks):
                    raise TaskNotFound(
                        f"job {job.name} has no task {task_id}: its ids run from 0 to {len(job.tasks) - 1}."
                    )
            targets = [job.tasks[i] for i in e.task_ids]
        self._reply(e, self._kill(job, targets))

    def _on_cancel(self, e: ev.CancelRequested) -> None:
        job = self.job(e.name)
        if e.call_id is None:
            targets = [t for t in job.tasks if t.status not in TERMINAL]
            job.cancelled = True
            self._dirty_jobs[job.key] = job
        else:
            if not 0 <= e.call_id < len(job.calls):
                raise InvalidSubmission(f"job {job.name} has no submission call {e.call_id}.")
            targets = [t for t in job.tasks if t.call_id == e.call_id and t.status not in TERMINAL]
        self._reply(e, self._kill(job, targets))

    def _kill(self, job: Job, targets: list[Task]) -> int:
        count = 0
        for task in targets:
            if task.status is Status.PENDING:
                task.reason, task.end = "killed before it started", TaskEndReason.KILLED_BEFORE_START
                move(self, job, task, Status.KILLED)
                count += 1
            elif task.status is Status.RUNNING and not task.kill_requested:
                task.kill_requested = True
                self._mark(job, task)
                self._effects.append(act.KillTask(job.key, task.task_id, task.attempt, job.pool,
                                                  stimulus_id=self._stimulus))
                count += 1
        return count

    def _on_close_stream(self, e: ev.CloseStreamRequested) -> None:
        job = self.job(e.name)
        job.stream_closed = True
        self._dirty_jobs[job.key] = job
        self._reply(e, JobView.of(job))

    def _on_close_job(self, e: ev.CloseJobRequested) -> None:
        job = self.job(e.name)
        if job.unended:
            raise JobIdInUse(
                f"job {job.name} still has {job.unended} unended tasks: wait for them or cancel the job "
                f"(`stratosctl cancel {job.name}`) before closing it."
            )
        job.stream_closed = True
        self._dirty_jobs[job.key] = job
        if self._cluster_pool(job.pool):
            self._effects.append(act.ReleasePool(job.pool, now=True, stimulus_id=self._stimulus))
        self._reply(e, JobView.of(job))

    def _on_remove(self, e: ev.RemoveJobRequested) -> None:
        job = self.job(e.name)
        if e.key is not None and job.key != e.key:
            raise JobNotFound(f"job {e.name} was removed or renamed meanwhile: nothing was removed.")
        if job.unended:
            raise JobNotEnded(not_ended_message(job))
        del self.jobs[job.name]
        del self.by_key[job.key]
        self._waiting.get(job.pool, {}).pop(job.key, None)
        if self._cluster_pool(job.pool):
            self._effects.append(act.ReleasePool(job.pool, now=True, stimulus_id=self._stimulus))
        self._dirty_jobs.pop(job.key, None)
        self._dirty_tasks.pop(job.key, None)
        self._journal.append(act.DeleteJob(job.key, job.name, stimulus_id=self._stimulus))
        self._reply(e, JobRemoved(job.name, job.key))

    # -- backend reports ---------------------------------------------------------------------

    def _current(self, job_key: int, task_id: int, attempt: int) -> tuple[Job, Task] | None:
        job = self.by_key.get(job_key)
        if job is None or not 0 <= task_id < len(job.tasks):
            return None
        task = job.tasks[task_id]
        if task.attempt != attempt or task.status is not Status.RUNNING:
            return None  # stale: an earlier attempt, or already ended
        return job, task

    def _on_task_started(self, e: ev.TaskStarted) -> None:
        """Only a time to show: journaled with the task's end (its record repeats it), so a task
        costs two journal commits (launch, end), not three. After a crash a task that was running
        shows no start time; it is running again or adopted either way."""
        found = self._current(e.job_key, e.task_id, e.attempt)
        if found:
            found[1].started = e.started

    def _on_task_ended(self, e: ev.TaskEnded) -> None:
        found = self._current(e.job_key, e.task_id, e.attempt)
        if found is None:
            return
        job, task = found
        rec = e.record
        stop = rec.stop
        self._release(job, task)
        task.started = rec.started or task.started
        task.ended = rec.ended
        task.exit_code, task.signal = rec.exit_code, rec.signal
        if stop is not StopReason.NONE or task.end is not TaskEndReason.RETRIED:
            # a clean exit keeps the note of why an earlier attempt was retried
            task.reason, task.end = rec.reason, _END_OF_STOP[stop]
        if task.kill_requested or stop is StopReason.KILLED:
            new = Status.KILLED
        elif rec.relaunch in (Relaunch.REPLACED, Relaunch.NO_COMMANDS):
            new = Status.RELAUNCHED  # NO_COMMANDS: the user's relauncher chose to drop it
            if not rec.replacements:
                task.reason = "relaunched with no replacement (the relauncher printed no command)"
                task.end = TaskEndReason.RELAUNCHED
        elif rec.relaunch is not Relaunch.NOT_ASKED:
            # The monitor stopped it but nothing replaces it: it fails, so N inputs never give
            # N-1 results silently; its stdout so far is its result.
            new = Status.FAILED
            task.reason = (
                "the monitor asked for a relaunch (stratos_relaunch) but the job has no relauncher"
                if rec.relaunch is Relaunch.NO_RELAUNCHER
                else f"relaunch failed: {rec.relaunch_error or 'the relauncher failed'}"
            )
            task.end = TaskEndReason.RELAUNCH_FAILED
        elif stop is StopReason.TIMEOUT and task.attempt <= job.spec.timeout_retries:
            new = Status.PENDING
        elif stop.limit:
            new = Status.FAILED
            task.reason, task.end = limit_reason(job.spec, stop, rec.limit_kb), TaskEndReason.LIMIT
        elif stop is StopReason.CLUSTER_LIMIT:
            new = Status.FAILED  # the cluster's words stay the reason; no retry
        elif rec.exit_code == 0 and rec.signal is None and stop is StopReason.NONE:
            new = Status.FINISHED
        else:
            new = Status.FAILED
            if stop is StopReason.NONE:
                if rec.signal is not None:
                    task.reason, task.end = f"signal {rec.signal}", TaskEndReason.SIGNALLED
                else:
                    task.reason, task.end = f"exit code {rec.exit_code}", TaskEndReason.EXITED
        rec.notes.extend(unenforced_notes(job.spec, rec))
        keep = new in EXITED and job.spec.output == "scheduler"
        self._journal.append(act.SaveOutcome(job.key, task.task_id, rec, keep, stimulus_id=self._stimulus))
        if new is Status.RELAUNCHED:
            self._add_replacements(job, task, rec.replacements)
        if new is Status.PENDING:
            self._requeue(job, task)
        else:
            move(self, job, task, new, now=rec.ended)

    def _on_task_lost(self, e: ev.TaskLost) -> None:
        found = self._current(e.job_key, e.task_id, e.attempt)
        if found is not None:
            self._lose(*found, e.reason, e.now)

    def _lose(self, job: Job, task: Task, reason: str, now: float) -> None:
        """An infrastructure failure: run the task again while retries are left."""
        self._release(job, task)
        if task.kill_requested:
            task.reason, task.end = reason, TaskEndReason.KILLED
            move(self, job, task, Status.KILLED, now=now)
        elif task.attempt <= job.spec.max_retries:
            task.reason, task.end = f"retried after: {reason}", TaskEndReason.RETRIED
            self._requeue(job, task)
        else:
            task.reason = f"{reason} (no retries left: max_retries={job.spec.max_retries})"
            task.end = TaskEndReason.LOST
            task.ended = now
            move(self, job, task, Status.LOST, now=now)

    def _add_replacements(self, job: Job, task: Task, commands: list[str]) -> None:
        children = []
        call = job.calls[task.call_id]
        for command in commands:
            child = Task(len(job.tasks), task.call_id, command, parent=task.task_id)
            job.tasks.append(child)
            job.pending.append(child.task_id)
            job.counts[Status.PENDING] += 1
            call.unended += 1
            children.append(child.task_id)
            self._mark(job, child)
        task.children = tuple(children)
        if children:
            self._waiting.setdefault(job.pool, {})[job.key] = job
            if self._cluster_pool(job.pool):
                self._effects.append(act.ReviveOffers(job.pool, stimulus_id=self._stimulus))

    # -- transitions ---------------------------------------------------------------------------

    def _requeue(self, job: Job, task: Task) -> None:
        move(self, job, task, Status.PENDING)
        task.queued = self._now
        self._index(job, task)
        job.pending.appendleft(task.task_id)
        self._waiting.setdefault(job.pool, {})[job.key] = job
        if self._cluster_pool(job.pool):
            self._effects.append(act.ReviveOffers(job.pool, stimulus_id=self._stimulus))

    def _ended(self, job: Job, task: Task, now: float) -> None:
        call = job.calls[task.call_id]
        call.unended -= 1
        if not job.unended:
            job.finished_at = now
            self._dirty_jobs[job.key] = job
            if self._cluster_pool(job.pool):
                self._effects.append(act.ReleasePool(job.pool, stimulus_id=self._stimulus))
        if call.mode == "stream":
            if self._has_record(job, task):
                self._publish(job, [task.task_id])
            return
        ready: list[int] = []
        while call.next_root < len(call.roots) and self._tree_ended(job, call.roots[call.next_root]):
            ready.extend(self._tree_results(job, call.roots[call.next_root]))
            call.next_root += 1
        if ready:
            self._publish(job, ready)

    def _tree_ended(self, job: Job, root: int) -> bool:
        task = job.tasks[root]
        return task.status in TERMINAL and all(self._tree_ended(job, c) for c in task.children)

    def _tree_results(self, job: Job, root: int) -> list[int]:
        """The tasks of a relaunch tree that have a result record, in replacement order."""
        task = job.tasks[root]
        if job.spec.output == "scheduler" and task.status in EXITED:
            return [root]  # its stdout replaces nothing: its children (none) add nothing either
        own = [root] if self._has_record(job, task) else []
        return own + [r for c in task.children for r in self._tree_results(job, c)]

    @staticmethod
    def _has_record(job: Job, task: Task) -> bool:
        """Whether an ended task gets a result sequence number.

        "scheduler": the tasks that exited (their stdout is the result). Other modes keep the
        output elsewhere, so every task that ran gets a record (status, exit, where its files
        are) for ``get_results(details=True)``, delivered once per cursor like results.
        """
        if job.spec.output == "scheduler":
            return task.status in EXITED
        return task.attempt > 0

    def _publish(self, job: Job, task_ids: list[int]) -> None:
        seqs = []
        for task_id in task_ids:
            job.published += 1
            seqs.append((task_id, job.published))
        self._journal.append(act.PublishResults(job.key, tuple(seqs), stimulus_id=self._stimulus))

    # -- offers ----------------------------------------------------------------------------------

    #: refuse an offer this long when the job has nothing to run (revived when it has).
    IDLE_REFUSE_SECONDS = 120.0
    #: ... and this long when its pending tasks did not fit the offer.
    BUSY_REFUSE_SECONDS = 1.0

    def _on_offers(self, e: ev.OffersReceived) -> None:
        """Pack each offer with the pool's pending tasks; decline what is left unused."""
        pool = PoolId(e.pool)
        job = self._pool_owner(pool)
        declined: list[str] = []
        for offer in e.offers:
            launches: list[act.LaunchTask] = []
            free_cpus, free_mem = offer.cpus, offer.mem
            free_disk = offer.disk
            if job is not None:
                cpus, disk = job.spec.cpus, job.spec.disk
                host_key = canonical_host(offer.hostname)
                while (free_cpus + _EPS >= cpus and free_mem + _EPS >= job.spec.mem
                       and free_disk + _EPS >= disk):
                    task = self._pick(job, host_key)
                    if task is None:
                        break
                    launches.append(self._start(job, task, offer.hostname, cpus))
                    free_cpus -= cpus
                    free_mem -= job.spec.mem
                    free_disk -= disk
            if launches:
                self._effects.append(act.AcceptOffer(pool, offer, tuple(launches), stimulus_id=self._stimulus))
            else:
                declined.append(offer.offer_id)
        busy = job is not None and self._next_pending(job) is not None
        if declined:
            refuse = self.BUSY_REFUSE_SECONDS if busy else self.IDLE_REFUSE_SECONDS
            self._effects.append(act.DeclineOffers(pool, tuple(declined), refuse, stimulus_id=self._stimulus))
        if not busy:
            self._effects.append(act.SuppressOffers(pool, stimulus_id=self._stimulus))

    def _pool_owner(self, pool: PoolId) -> Job | None:
        key = pool.job_key
        job = self.by_key.get(key) if key is not None else None
        return job if job is not None and job.pool == pool else None

    # -- placement -------------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Launch pending tasks where they fit, one task per job per round (fair share)."""
        for pool, waiting in self._waiting.items():
            hosts = self.pools.get(pool)
            if not hosts:
                continue
            progress = True
            while waiting and progress:
                progress = False
                # Fewest running tasks first, then the job that launched least recently.
                order = sorted(waiting, key=lambda k: (waiting[k].counts[Status.RUNNING], self._last_launch.get(k, 0)))
                for key in order:
                    job = waiting[key]
                    if self._next_pending(job) is None:
                        del waiting[key]
                        continue
                    cpus = min(job.spec.cpus, max(h.cpus for h in hosts))
                    for host in hosts:
                        if host.free_cpus + _EPS >= cpus and host.free_mem + _EPS >= job.spec.mem:
                            task = self._pick(job, host.hostname)
                            if task is not None:
                                self._launch(job, task, host, cpus)
                                progress = True
                                break
                    if self._next_pending(job) is None:
                        del waiting[key]

    def _index(self, job: Job, task: Task) -> None:
        for host in best_hosts(task.host_bytes):
            job.by_host.setdefault(host, deque()).append(task.task_id)

    def _pick(self, job: Job, host: str) -> Task | None:
        """Delay scheduling: the task to run on ``host`` now, or None to leave the host to others.

        First a pending task whose data this host holds best; else the longest-waiting pending
        task, if it has no data to be near or has waited ``locality_wait`` for a host that has.
        """
        local = job.by_host.get(host)
        while local:
            task = job.tasks[local.popleft()]
            if task.status is Status.PENDING:
                return task
        head = self._next_pending(job)
        if head is None:
            return None
        if not head.host_bytes or self._now - head.queued >= job.spec.locality_wait:
            return head
        return None

    @staticmethod
    def locality_report(job: Job) -> tuple[int, int, int, int]:
        """(tasks with marked data that were placed, of them on a best host, marked bytes, bytes local)."""
        placed = local = marked = local_bytes = 0
        for task in job.tasks:
            if not task.host_bytes or not task.host:
                continue
            where = canonical_host(task.host)
            placed += 1
            marked += task.marked
            if where in best_hosts(task.host_bytes):
                local += 1
            local_bytes += next((size for host, size in task.host_bytes if host == where), 0)
        return placed, local, marked, local_bytes

    def placed_host(self, job_key: int, task_id: int) -> str:
        """The host id a running task was placed on ("" if none)."""
        return self._placed.get((job_key, task_id), "")

    def unclaimed(self, kind: PoolKind) -> list[AttemptRef]:
        """The attempts running in pools of this kind that no host holds: after a restart, those
        whose executor never came back are to be reported lost."""
        return [
            AttemptRef(job.key, task.task_id, task.attempt)
            for job in self.by_key.values() if job.pool.kind == kind and job.unended
            for task in job.tasks if task.status is Status.RUNNING and (job.key, task.task_id) not in self._placed
        ]

    def known_key(self, key: int) -> bool:
        """Whether ``key`` was given to a job (that may have been removed since)."""
        return key < self._next_key

    def needs_tick(self) -> bool:
        """Whether tasks wait for data-local hosts (the runtime then sends Tick events)."""
        return any(job.by_host for waiting in self._waiting.values() for job in waiting.values())

    @staticmethod
    def _next_pending(job: Job) -> Task | None:
        while job.pending:
            task = job.tasks[job.pending[0]]
            if task.status is Status.PENDING:
                return task
            job.pending.popleft()  # killed while queued
        return None

    def _start(self, job: Job, task: Task, host_id: str, cpus: float) -> act.LaunchTask:
        """Mark a task running as a new attempt; the caller places it."""
        task.attempt += 1
        task.host = host_id
        task.kill_requested = False
        task.exit_code = task.signal = None
        task.started = task.ended = 0.0
        move(self, job, task, Status.RUNNING)
        self._launches += 1
        self._last_launch[job.key] = self._launches
        return act.LaunchTask(job.key, task.task_id, task.attempt, host_id, job.pool, cpus, stimulus_id=self._stimulus)

    def _launch(self, job: Job, task: Task, host: Host, cpus: float) -> None:
        launch = self._start(job, task, host.host_id, cpus)
        if host.hostname and host.hostname != host.host_id:
            task.host = host.hostname  # a pilot's host id is its executor id; users want the machine
        host.free_cpus -= cpus
        host.free_mem -= job.spec.mem
        host.running.add((job.key, task.task_id))
        self._placed[(job.key, task.task_id)] = host.host_id
        self._effects.append(launch)

    def _release(self, job: Job, task: Task) -> None:
        host_id = self._placed.pop((job.key, task.task_id), None)
        host = self.hosts.get(host_id) if host_id else None
        if host is None:
            return
        host.running.discard((job.key, task.task_id))
        host.free_cpus += min(job.spec.cpus, max(h.cpus for h in self.pools[host.pool]))
        host.free_mem += job.spec.mem

    # -- journal bookkeeping -----------------------------------------------------------------

    def _mark(self, job: Job, task: Task) -> None:
        self._dirty_tasks.setdefault(job.key, {})[task.task_id] = task

    def _flush_journal(self) -> list[act.Action]:
        out: list[act.Action] = [act.SaveJob(job, stimulus_id=self._stimulus) for job in self._dirty_jobs.values()]
        # Calls before tasks (tasks reference them), outcomes and publications after.
        out.extend(a for a in self._journal if isinstance(a, act.SaveCall))
        out.extend(act.SaveTasks(key, tuple(tasks.values()), stimulus_id=self._stimulus)
                   for key, tasks in self._dirty_tasks.items())
        out.extend(a for a in self._journal if not isinstance(a, act.SaveCall))
        self._dirty_jobs, self._dirty_tasks, self._journal = {}, {}, []
        return out

    def _take_effects(self) -> list[act.Action]:
        out, self._effects = self._effects, []
        return out

    # -- reads (no changes) --------------------------------------------------------------------

    def validate(self) -> None:
        """Check the invariants; raise AssertionError naming the first one broken."""
        validate(self)


__all__ = ["InvalidTransition", "SchedulerState", "limit_reason", "not_ended_message", "unenforced_notes"]
