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
       |                   (failed --the user retries it (RetryRequested)--> pending)
       |--kill--> killed
       '--its pilots never start (PilotStartFailed), no retries--> lost

Rules:

1. ``transitions.TRANSITIONS`` is the whole table; ``transitions.move`` refuses anything
   else with :class:`InvalidTransition`.
2. A report about an attempt that is not the task's current one is stale and ignored,
   which makes backend reports idempotent.
3. Results get sequence numbers here. Stream calls publish a result when its task
   ends; batch calls publish in submission order (a relaunched task's replacements
   take its place), so a client cursor is one integer per consumer.
4. Hosts are grouped in pools (the local machine; one per Mesos framework; named pools
   shared by every job whose settings select them: Slurm pilots, user-started pilots).
   A job only ever runs on its pool's hosts; jobs of a shared pool share them fairly.

Layout (one mutator, composed of plain functions, dask's WorkerState without the size):

- ``state.py`` (this file): the attributes, ``handle()`` -- the only entry that changes
  anything --, ``restore()``/``reset()`` and read-only queries;
- ``lifecycle.py``: requests and backend reports, and what a task's end or loss means;
- ``placement.py``: hosts (``HostBook``, the one place host capacity changes), fair share,
  delay scheduling, offer packing;
- ``results.py``: result sequence numbers (the only writer of ``Job.published``);
- ``transitions.py``: the transition table and ``move()``, the only writer of a task's status;
- ``journal.py``: the step's journal diff; ``validate.py``: the invariants.

Handlers are module functions ``(state, event)``, registered in ``_HANDLERS``; every action
they decide carries the stimulus id of the event being handled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from stratos_wire.errors import JobNotFound, StratosError, TaskNotFound
from stratosd.core import actions as act
from stratosd.core import after, follows, lifecycle, paths, placement, reports
from stratosd.core import events as ev
from stratosd.core.journal import JournalDiff
from stratosd.core.lifecycle import limit_reason, not_ended_message, unenforced_notes
from stratosd.core.model import TERMINAL, Follow, Host, Job, LocalityTally, Status, Task
from stratosd.core.placement import HostBook
from stratosd.core.replies import JobView
from stratosd.core.results import tree_ended
from stratosd.core.story import RESTORE, StoryEntry, StoryLog, TaskStory
from stratosd.core.transitions import InvalidTransition
from stratosd.core.types import AttemptRef, PoolId, PoolKind, TaskEndReason
from stratosd.core.validate import validate

R = TypeVar("R")

#: event type -> its handler (state, event); a request's handler may raise StratosError.
_HANDLERS: dict[type[ev.Event], Callable[[SchedulerState, Any], None]] = {
    ev.HostAdded: placement.on_host_added,
    ev.HostRemoved: placement.on_host_removed,
    ev.PilotJobEnded: placement.on_pilot_job_ended,
    ev.OffersReceived: placement.on_offers,
    ev.ExecutorRoomEnded: placement.on_executor_room_ended,
    ev.Tick: placement.on_tick,
    ev.ExecutorsReachable: placement.on_executors_reachable,
    ev.ExecutorHeard: placement.on_executor_heard,
    ev.CreateJobRequested: lifecycle.on_create_job,
    ev.SubmitRequested: lifecycle.on_submit,
    ev.KillRequested: lifecycle.on_kill,
    ev.CancelRequested: lifecycle.on_cancel,
    ev.RetryRequested: lifecycle.on_retry,
    ev.CloseStreamRequested: lifecycle.on_close_stream,
    ev.RemoveJobRequested: lifecycle.on_remove,
    ev.CloseJobRequested: lifecycle.on_close_job,
    ev.StopFollowingRequested: follows.on_stop_following,
    ev.FilesFound: follows.on_files_found,
    ev.TaskStarted: lifecycle.on_task_started,
    ev.TaskEnded: lifecycle.on_task_ended,
    ev.TaskLost: lifecycle.on_task_lost,
    ev.TaskRunningReported: reports.on_running_reported,
    ev.DaemonStopping: reports.on_daemon_stopping,
    ev.PilotStartFailed: placement.on_pilot_start_failed,
    ev.PilotsComing: placement.on_pilots_coming,
}

#: pilot jobs of a pool in a row that end without registering before its pending tasks are charged.
PILOT_FAILURES_BEFORE_LOST = placement.PILOT_FAILURES_BEFORE_LOST
#: seconds without a word from a pilot before it counts as lost.
PILOT_LOST_AFTER = 30.0
#: seconds a daemon-owned (Slurm) pilot of a shared pool runs nothing, its pool nothing pending, before it is stopped.
PILOT_IDLE_RELEASE = 30.0


class SchedulerState:
    """All jobs, tasks and hosts of one daemon."""

    #: offers refused while a job is idle / busy (see placement.on_offers).
    IDLE_REFUSE_SECONDS = placement.IDLE_REFUSE_SECONDS
    BUSY_REFUSE_SECONDS = placement.BUSY_REFUSE_SECONDS

    def __init__(self, *, story_length: int = 20_000, story_total: int = 500_000, validate: bool = False,
                 pilot_failures_before_lost: int = PILOT_FAILURES_BEFORE_LOST,
                 pilot_lost_after: float = PILOT_LOST_AFTER, sandboxes: str = paths.SANDBOXES,
                 pilot_idle_release: float = PILOT_IDLE_RELEASE) -> None:
        #: the directory of the tasks' sandboxes (the daemon's state directory/sandboxes): a launch
        #: names its attempt's sandbox under it.
        self.sandboxes = sandboxes
        #: check every invariant after every step (tests; see core/validate.py).
        self.validating = validate
        #: a pool with no registered pilot whose pilot jobs fail this many times in a row charges each
        #: of its pending tasks one infrastructure failure (lost when no retries are left).
        self.pilot_failures_before_lost = max(1, pilot_failures_before_lost)
        #: a pilot not heard from (ExecutorHeard) for this many seconds is lost; after a restart, the
        #: running tasks no returning pilot holds are lost this long after the restore (adopt_until).
        self.pilot_lost_after = pilot_lost_after
        self.adopt_until = 0.0
        #: a Slurm pilot of a shared pool that ran nothing for this long, while its pool had nothing
        #: pending, is told to stop (StopExecutor IDLE): the one idle timer of daemon-owned pilots.
        self.pilot_idle_release = pilot_idle_release
        #: pool -> (node, detail) of its pilot jobs that failed since one last registered.
        self.pilot_failures: dict[PoolId, list[tuple[str, str]]] = {}
        #: pool -> the hosts a pilot of it is on its way to (PilotsComing): their tasks wait for it.
        self.coming: dict[PoolId, frozenset[str]] = {}
        #: pool -> host name -> when a standing host of that name last joined it: the tasks whose data is
        #: there wait locality_wait from then too (a pilot's first slots go to those already waiting).
        self.arrived: dict[PoolId, dict[str, float]] = {}
        #: jobs by their current name, and by their journal key.
        self.jobs: dict[str, Job] = {}
        self.by_key: dict[int, Job] = {}
        #: standing hosts, their pools, and where running tasks are placed.
        self.book = HostBook()
        #: pool -> jobs with pending tasks, in round-robin order.
        self.waiting: dict[PoolId, dict[int, Job]] = {}
        #: the key the next job gets.
        self.next_key = 1
        #: the latest time any event told us (the core has no clock of its own).
        self.now = 0.0
        self.told = 0.0
        #: the stimulus id of the event being handled: every action decided now carries it.
        self.stimulus = ""
        #: job key -> serial number of its latest launch (fair-share tie breaker).
        self.last_launch: dict[int, int] = {}
        self.launches = 0
        #: coarse Mesos executors launched since the daemon started (part of their ids).
        self.executor_serial = 0
        #: the class name of the event being handled ("restore" while restoring): for the story.
        self.event = ""
        #: per job, the last ``story_length`` lines of its tasks' stories (see core/story.py).
        self.stories = StoryLog(story_length, story_total)
        #: the step's effects (launches, kills, replies...), run after its journal actions commit.
        self.effects: list[act.Action] = []
        #: the step's journal actions.
        self.diff = JournalDiff()
        #: cluster pool -> the (pending, running, max_pilots, hosts, locality_wait) its backend was last told
        #: (PoolDemand).
        self.demand: dict[PoolId, tuple[int, int, int, tuple[tuple[str, int], ...], float]] = {}
        #: pool -> the keys of the jobs in it (a shared pool's demand sums them).
        self.members: dict[PoolId, set[int]] = {}
        #: the daemon stops (DaemonStopping): nothing more is placed or launched.
        self.stopping = False
        #: jobs whose tasks wait for the job they run after (``after=``), by key (core/after.py).
        self.held: dict[int, Job] = {}

    @property
    def hosts(self) -> dict[str, Host]:
        """Standing hosts by id."""
        return self.book.hosts

    @property
    def pools(self) -> dict[PoolId, list[Host]]:
        """Standing hosts by pool."""
        return self.book.pools

    # -- the one mutator -----------------------------------------------------------------

    def handle(self, *events: ev.Event) -> list[act.Action]:
        """Apply events; return journal actions first, then effects, in order."""
        for event in events:
            self.stimulus = event.stimulus_id
            self.event = type(event).__name__
            if isinstance(event, ev.Timed) and event.now > self.now:
                self.now = event.now
            #: when this event's story lines happened: an executor's start or end time where the event
            #: carries one (story only: decisions keep to the clock of requests and ticks, ``now``).
            self.told = (event.started if isinstance(event, ev.TaskStarted) and event.started
                         else event.record.ended if isinstance(event, ev.TaskEnded) and event.record.ended
                         else self.now)
            handler = _HANDLERS.get(type(event))
            if handler is None:
                raise TypeError(event)
            if not isinstance(event, ev.Request):
                handler(self, event)
                continue
            try:
                handler(self, event)
            except StratosError as err:
                self.effects.append(act.Reply(event.request_id, error=err, stimulus_id=self.stimulus))
        after.settle(self)
        if not self.stopping:
            placement.schedule(self)
        placement.tell_demand(self, self.diff.job_keys())
        by_key = self.by_key
        self.stories.trim(by_key, lambda key: not by_key[key].unended)
        out = self.diff.flush(self.stimulus)
        out.extend(self.effects)
        self.effects = []
        if self.validating:
            validate(self)
        return out

    def note(self, job: Job, task: Task, detail: str) -> None:
        """A story line for a decision that moves nothing (a kill asked for, a stale report...)."""
        self.stories.add(job.key, StoryEntry(task.task_id, task.attempt, task.status, task.status, task.end, detail,
                                             self.event, self.stimulus, task.host, self.told))

    def reply(self, request: ev.Request[R], value: R) -> None:
        """Answer a request (typed: each request class says what its answer is)."""
        self.effects.append(act.Reply(request.request_id, value, stimulus_id=self.stimulus))

    # -- restore ---------------------------------------------------------------------------

    def restore(self, jobs: Iterable[Job], live: Mapping[AttemptRef, str] | None = None, *,
                now: float = 0.0) -> list[act.Action]:
        """Load jobs from the journal.

        Tasks that were running when the daemon stopped run again, except in offer pools
        (the cluster kept them running, and its backend reconciles them) and the attempts in
        ``live`` (job key, task id, attempt -> host id): a backend still runs them, so they
        keep their place (a rebuild after a failed journal commit).

        ``now`` (a daemon start) opens the adoption window: running tasks of pilot pools wait
        ``pilot_lost_after`` seconds for their pilot to register again holding them (see on_tick).
        """
        live = live or {}
        if now:
            self.adopt_until = now + self.pilot_lost_after
        self.stimulus = self.event = RESTORE
        book = self.book
        for job in jobs:
            self.jobs[job.name] = job
            self.by_key[job.key] = job
            self.members.setdefault(job.pool, set()).add(job.key)
            self.next_key = max(self.next_key, job.key + 1)
            adopt = job.pool.kind.cluster
            for task in job.tasks:
                host = book.hosts.get(live.get(AttemptRef(job.key, task.task_id, task.attempt), ""))
                if task.status is Status.RUNNING and host is not None:
                    book.reserve(host, job, task.task_id, book.share(job, host.pool))
                elif task.status is Status.RUNNING and not adopt:
                    task.status = Status.PENDING
                    task.reason, task.end = "requeued after a daemon restart", TaskEndReason.REQUEUED_AFTER_RESTART
                    self.diff.task(job, task)
            self._rebuild(job)
            if job.held:
                self.held[job.key] = job
            for task in job.tasks:
                if task.status in (Status.PENDING, Status.RUNNING):
                    self.note(job, task, f"restored from the journal: {task.status.value}")
            if adopt and job.unended:  # subscribe again: reconcile what runs, get offers for what waits
                running = tuple(AttemptRef(job.key, t.task_id, t.attempt) for t in job.tasks
                                if t.status is Status.RUNNING)
                if running and not job.pilot_hosted:  # a coarse job's executors register again, holding them
                    self.effects.append(act.AdoptAttempts(job.pool, running, stimulus_id=self.stimulus))
                placement.revive(self, job)
        after.settle(self)
        placement.schedule(self)
        placement.tell_demand(self, {key for key, job in self.by_key.items() if job.unended})
        if self.validating:
            validate(self)
        out = self.diff.flush(self.stimulus)
        out.extend(self.effects)
        self.effects = []
        return out

    def reset(self) -> None:
        """Forget everything but the hosts' capacities (before a rebuild from the journal).

        In place, so every adapter holding this object sees the rebuilt state.
        """
        hosts = [(h.host_id, h.pool, h.cpus, h.mem, h.hostname, h.last_seen, h.only_job) for h in self.hosts.values()]
        stories, stopping, adopt_until = self.stories, self.stopping, self.adopt_until
        self.__init__(validate=self.validating,  # type: ignore[misc]
                      pilot_failures_before_lost=self.pilot_failures_before_lost,
                      pilot_lost_after=self.pilot_lost_after, sandboxes=self.sandboxes,
                      pilot_idle_release=self.pilot_idle_release)
        self.stories, self.stopping, self.adopt_until = stories, stopping, adopt_until
        for host_id, pool, cpus, mem, hostname, last_seen, only_job in hosts:
            placement.on_host_added(self, ev.HostAdded(host_id, pool, cpus, mem, hostname, job_key=only_job))
            self.hosts[host_id].last_seen = last_seen  # a rebuild is no word from anyone

    def _rebuild(self, job: Job) -> None:
        """Recompute what is derived from the tasks: counts, queue, per-call progress."""
        job.counts = dict.fromkeys(Status, 0)
        for call in job.calls:
            call.unended = 0
            call.counts = dict.fromkeys(Status, 0)
            call.roots = []
        job.pending = deque()
        job.by_host = {}
        job.local_pending = {}
        job.locality = LocalityTally()
        for task in job.tasks:
            job.locality.count(task)
            job.counts[task.status] += 1
            call = job.calls[task.call_id]
            call.counts[task.status] += 1
            if task.status not in TERMINAL:
                call.unended += 1
            if task.parent is None:
                call.roots.append(task.task_id)
            if task.status is Status.PENDING:
                job.pending.append(task.task_id)
                task.queued = self.now
                placement.index(job, task)
        for call in job.calls:
            call.next_root = 0
            if call.mode == "batch":
                while call.next_root < len(call.roots) and tree_ended(job, call.roots[call.next_root]):
                    call.next_root += 1
        if job.pending:
            self.waiting.setdefault(job.pool, {})[job.key] = job

    # -- reads (no changes) --------------------------------------------------------------------

    def job(self, name: str) -> Job:
        """The job named ``name``; raises JobNotFound."""
        job = self.jobs.get(name)
        if job is None:
            raise JobNotFound(f'no job named "{name}": `stratosctl jobs` lists the jobs this daemon knows.')
        return job

    @staticmethod
    def locality_report(job: Job) -> tuple[int, int, int, int]:
        """(tasks with marked data that were placed, of them on a best host, marked bytes, bytes local):
        kept as tasks are placed (``Job.locality``), no scan of the job's tasks."""
        return job.locality.figures()

    def view(self, name: str) -> JobView | None:
        """A snapshot of the job named ``name`` (None if there is none), for adapters that must not hold a Job."""
        job = self.jobs.get(name)
        return JobView.of(job) if job is not None else None

    def view_key(self, key: int) -> JobView | None:
        """A snapshot of the job with this journal key (None if there is none): a pool pilot names jobs by key."""
        job = self.by_key.get(key)
        return JobView.of(job) if job is not None else None

    def task_count(self, job_key: int) -> int:
        """How many tasks the job has (0 when it is gone)."""
        job = self.by_key.get(job_key)
        return len(job.tasks) if job is not None else 0

    def placed_host(self, job_key: int, task_id: int) -> str:
        """The host id a running task was placed on ("" if none)."""
        return self.book.placed.get((job_key, task_id), "")

    def unclaimed(self, kind: PoolKind) -> list[AttemptRef]:
        """The attempts running in pools of this kind that no host holds: after a restart, those
        whose executor never came back are to be reported lost."""
        placed = self.book.placed
        return [
            AttemptRef(job.key, task.task_id, task.attempt)
            for job in self.by_key.values() if job.pool.kind == kind and job.pilot_hosted and job.unended
            for task in job.tasks if task.status is Status.RUNNING and (job.key, task.task_id) not in placed
        ]

    def known_key(self, key: int) -> bool:
        """Whether ``key`` was given to a job (that may have been removed since)."""
        return key < self.next_key

    def active_follows(self) -> list[tuple[Job, Follow]]:
        """Every followed pattern still active, with its job (the watcher scans these)."""
        return [(job, f) for job in self.by_key.values() for f in job.follows if f.active]

    def needs_tick(self) -> bool:
        """Whether time matters now (the runtime then sends Tick events): tasks wait for data-local
        hosts, pilots stand (their silence is timed), or the adoption window after a restart is open."""
        return (bool(self.adopt_until)
                or any(hosts for pool, hosts in self.book.pools.items() if pool.kind.cluster)
                or any(job.by_host for waiting in self.waiting.values() for job in waiting.values()))

    def story(self, name: str, task_id: int) -> TaskStory:
        """What happened to a task, line by line (see core/story.py); raises JobNotFound, TaskNotFound."""
        job = self.job(name)
        if not 0 <= task_id < len(job.tasks):
            raise TaskNotFound(f"job {job.name} has no task {task_id} (it has {len(job.tasks)} tasks).")
        return self.stories.story(job.key, task_id)

    def validate(self) -> None:
        """Check the invariants; raise AssertionError naming the first one broken."""
        validate(self)


__all__ = [
    "PILOT_FAILURES_BEFORE_LOST", "InvalidTransition", "SchedulerState", "limit_reason", "not_ended_message",
    "unenforced_notes",
]
