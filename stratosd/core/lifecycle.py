"""Task lifecycle: what clients ask of jobs, and what a task's end or loss means for it.

Requests (create, submit, kill, cancel, close, remove) and backend reports (started,
ended, lost) are handled here; each handler is a function of the state and one event,
registered in ``state._HANDLERS``. A report about any attempt but the task's current one
is stale and ignored, which makes backend reports idempotent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from stratos_executor.spec import Relaunch, StopReason, TaskRecord
from stratos_wire.errors import (
    InsufficientResources,
    InvalidSubmission,
    JobIdInUse,
    JobNotEnded,
    JobNotFound,
    TaskNotFound,
)
from stratosd.core import actions as act
from stratosd.core import after, follows, placement, pools, story
from stratosd.core import events as ev
from stratosd.core.locality import HostBytes
from stratosd.core.model import ATTEMPT_STDERR_CHARS, EXITED, TERMINAL, Attempt, Call, Job, JobSpec, Status, Task
from stratosd.core.replies import JobCreated, JobRemoved, JobView, Killed, Submitted
from stratosd.core.transitions import move
from stratosd.core.types import PoolId, TaskEndReason

if TYPE_CHECKING:
    from stratosd.core.state import SchedulerState


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
    """Why a job with unended tasks (or a followed pattern) cannot be removed, and what to do."""
    if not job.unended and job.following:
        return (f"job {job.name} still follows a pattern, so more tasks may come: stop it "
                f"(`stratosctl stop-following {job.name}`, job.stream.stop_following()) or cancel the job "
                f"(`stratosctl cancel {job.name}`), then remove it.")
    return (
        f"job {job.name} still has {job.unended} unended tasks: wait for them (`stratosctl wait {job.name}`) "
        f"or cancel the job (`stratosctl cancel {job.name}`), then remove it."
    )


# -- requests ---------------------------------------------------------------------------------


def on_create_job(state: SchedulerState, e: ev.CreateJobRequested) -> None:
    name = e.name
    renamed = ""
    after_key = after.resolve(state, name, e.spec)
    if not name:
        name = f"job-{state.next_key}"
        while name in state.jobs:
            name += "x"
    elif name in state.jobs:
        old = state.jobs[name]
        if old.unended:
            raise JobIdInUse(
                f'job "{name}" still has {old.unended} unended tasks. Reattach to it with '
                f'Processor.attach("{name}"), wait for it or cancel it (`stratosctl cancel {name}`), '
                "or choose another job_id."
            )
        n = 1
        while f"{name}.{n}" in state.jobs:
            n += 1
        renamed = f"{name}.{n}"
        del state.jobs[name]
        old.name = renamed
        state.jobs[renamed] = old
        state.diff.job(old)
    pool = PoolId.of(e.pool, state.next_key) if e.own_pool else (pools.pool_of(e.pool, e.spec)
                                                                   or PoolId.of(e.pool))
    job = Job(state.next_key, name, e.spec, pool, e.now, e.token)
    state.next_key += 1
    state.jobs[name] = job
    state.by_key[job.key] = job
    state.members.setdefault(pool, set()).add(job.key)
    after.hold(state, job, after_key)
    state.diff.job(job)
    state.reply(e, JobCreated(JobView.of(job), renamed))

def on_submit(state: SchedulerState, e: ev.SubmitRequested) -> None:
    job = state.job(e.name)
    if e.call_id is not None:
        _on_submit_part(state, job, e)
        return
    commands, locality = _tasks_of(e)
    if not commands and e.follow is None:
        raise InvalidSubmission("the submission holds no command: nothing to run.")
    if e.follow is not None and len(e.follow.files) != len(commands):
        raise InvalidSubmission("a followed glob names one file per command.")
    warnings: list[str] = list(e.notes)
    job.warnings.extend(n for n in e.notes if n not in job.warnings)
    hosts = state.book.pools.get(job.pool, [])
    if hosts:
        most_mem = max(h.mem for h in hosts)
        most_cpus = max(h.cpus for h in hosts)
        if job.spec.mem > most_mem + placement.EPS:
            raise InsufficientResources(
                f"each task asks for {job.spec.mem:g} MB of memory but the largest host of this "
                f"backend has {most_mem:g} MB: lower mem_per_task."
            )
        if job.spec.cpus > most_cpus + placement.EPS:
            warnings.append(
                f"threads_per_task={job.spec.cpus:g} is more than the {most_cpus:g} cores this host "
                f"has: each task runs with all {most_cpus:g}."
            )
    call = Call(len(job.calls), e.mode, e.cwd, e.env)
    job.calls.append(call)
    state.diff.add(act.SaveCall(job.key, call, stimulus_id=state.stimulus))
    first = add_tasks(state, job, call, commands, e.now, locality)
    job.cancelled = False
    if e.mode == "stream":
        job.stream_opened = True
    job.stream_closed = False
    state.diff.job(job)
    follow_id = -1 if e.follow is None else follows.start(state, job, call, e.follow, first).follow_id
    after.fail_pending(state, job)  # a job whose awaited job failed runs nothing more
    state.reply(e, Submitted(call.call_id, first, len(commands), warnings, follow_id))


def _tasks_of(e: ev.SubmitRequested) -> tuple[list[str], list[tuple[int, HostBytes]] | None]:
    """The submission's commands that make tasks (not the blank ones), and their locality when it
    was given for exactly those."""
    commands = [c for c in e.commands if c.strip()]
    locality = e.locality if e.locality is not None and len(e.locality) == len(commands) else None
    return commands, locality


def _on_submit_part(state: SchedulerState, job: Job, e: ev.SubmitRequested) -> None:
    """A later part of a large submission: its tasks join the call its first part made.

    The parts are separate steps so the daemon answers other calls between them; the tasks of
    the parts already added are queued (and may run) meanwhile. A cancel of the call or job that
    came between the parts reaches the rest too: those tasks are added killed, so each command
    of the submission still has a task and a record.
    """
    assert e.call_id is not None
    if not 0 <= e.call_id < len(job.calls) or e.follow is not None:
        raise InvalidSubmission(f"job {job.name} has no submission call {e.call_id} to add tasks to.")
    call = job.calls[e.call_id]
    commands, locality = _tasks_of(e)
    first = add_tasks(state, job, call, commands, e.now, locality)
    if call.cancelled:
        kill(state, job, job.tasks[first:])
    after.fail_pending(state, job)
    state.reply(e, Submitted(call.call_id, first, len(commands), []))


def add_tasks(state: SchedulerState, job: Job, call: Call, commands: list[str], now: float,
              locality: list[tuple[int, HostBytes]] | None = None) -> int:
    """New pending tasks of ``call``, one per command, queued to run; the first one's id."""
    first = len(job.tasks)
    for number, command in enumerate(commands):
        task = Task(len(job.tasks), call.call_id, command)
        task.queued = now
        if locality is not None and locality[number][1]:
            task.marked, task.host_bytes = locality[number]
            placement.index(job, task)
        job.tasks.append(task)
        call.roots.append(task.task_id)
        job.pending.append(task.task_id)
        state.diff.task(job, task)
        state.stories.add(job.key, story.created(task.task_id, "submitted", state.event, state.stimulus, now))
    call.unended += len(commands)
    call.counts[Status.PENDING] += len(commands)
    job.counts[Status.PENDING] += len(commands)
    if commands:
        state.waiting.setdefault(job.pool, {})[job.key] = job
        if job.pool.kind.cluster:
            placement.revive(state, job)
    return first

def on_kill(state: SchedulerState, e: ev.KillRequested) -> None:
    job = state.job(e.name)
    if e.task_ids is None:
        targets = [t for t in job.tasks if t.status not in TERMINAL]
    else:
        for task_id in e.task_ids:
            if not 0 <= task_id < len(job.tasks):
                raise TaskNotFound(
                    f"job {job.name} has no task {task_id}: its ids run from 0 to {len(job.tasks) - 1}."
                )
        targets = [job.tasks[i] for i in e.task_ids]
    state.reply(e, kill(state, job, targets))

def on_cancel(state: SchedulerState, e: ev.CancelRequested) -> None:
    job = state.job(e.name)
    if e.call_id is None:
        targets = [t for t in job.tasks if t.status not in TERMINAL]
        job.cancelled = True
        state.diff.job(job)
        for call in job.calls:
            call.cancelled = True
    else:
        if not 0 <= e.call_id < len(job.calls):
            raise InvalidSubmission(f"job {job.name} has no submission call {e.call_id}.")
        targets = [t for t in job.tasks if t.call_id == e.call_id and t.status not in TERMINAL]
        job.calls[e.call_id].cancelled = True
    follows.stop(state, job, None, "the job was cancelled" if e.call_id is None else "its call was cancelled",
                 call_id=e.call_id)
    state.reply(e, kill(state, job, targets))
    placement.stop_pilots_if_cancelled(state, job)

def on_retry(state: SchedulerState, e: ev.RetryRequested) -> None:
    """Failed tasks of an ended job wait again as new attempts of the same tasks: their new result
    joins the job's results (GNU Parallel's --resume-failed)."""
    job = state.job(e.name)
    if job.unended:
        raise JobNotEnded(
            f"job {job.name} still has {job.unended} unended tasks: wait for it (`stratosctl wait {job.name}`), "
            "then retry its failed tasks."
        )
    if e.task_ids is None:
        targets = [t for t in job.tasks if t.status is Status.FAILED]
    else:
        targets = []
        for task_id in dict.fromkeys(e.task_ids):
            if not 0 <= task_id < len(job.tasks):
                raise TaskNotFound(
                    f"job {job.name} has no task {task_id}: its ids run from 0 to {len(job.tasks) - 1}."
                )
            task = job.tasks[task_id]
            if task.status is not Status.FAILED:
                raise InvalidSubmission(
                    f"task {task_id} of job {job.name} is {task.status.value}, not failed: only failed tasks are "
                    f"retried (`stratosctl tasks {job.name} --status failed` lists them)."
                )
            targets.append(task)
    for task in targets:
        if task.history:  # the retry settings count afresh for the new attempts
            last = task.history[-1]
            task.history = (*task.history[:-1], Attempt(
                last.attempt, last.host, last.started, last.ended, last.exit_code, last.signal, last.end,
                last.reason, last.stderr_tail, resubmitted=True))
        job.calls[task.call_id].unended += 1
        task.reason, task.end = f"resubmitted after: {task.reason}", TaskEndReason.RESUBMITTED
        move(state, job, task, Status.PENDING)
        task.queued = e.now
        placement.index(job, task)
        job.pending.append(task.task_id)
    if targets:
        job.cancelled = False
        after.retried(state, job)
        state.diff.job(job)
        state.waiting.setdefault(job.pool, {})[job.key] = job
        if job.pool.kind.cluster:
            placement.revive(state, job)
    state.reply(e, tuple(t.task_id for t in targets))

def kill(state: SchedulerState, job: Job, targets: list[Task]) -> Killed:
    """Kill pending targets now and ask the backend to stop running ones; return how many."""
    count = 0
    for task in targets:
        if task.status is Status.PENDING:
            task.reason, task.end = "killed before it started", TaskEndReason.KILLED_BEFORE_START
            move(state, job, task, Status.KILLED)
            count += 1
        elif task.status is Status.RUNNING and not task.kill_requested:
            task.kill_requested = True
            state.diff.task(job, task)
            state.note(job, task, "kill requested")
            state.effects.append(act.KillTask(job.key, task.task_id, task.attempt, job.pool,
                                              stimulus_id=state.stimulus))
            count += 1
    return count

def on_close_stream(state: SchedulerState, e: ev.CloseStreamRequested) -> None:
    job = state.job(e.name)
    job.stream_closed = True
    state.diff.job(job)
    state.reply(e, JobView.of(job))

def on_close_job(state: SchedulerState, e: ev.CloseJobRequested) -> None:
    job = state.job(e.name)
    if job.unended:
        raise JobIdInUse(
            f"job {job.name} still has {job.unended} unended tasks: wait for them or cancel the job "
            f"(`stratosctl cancel {job.name}`) before closing it."
        )
    job.stream_closed = True
    state.diff.job(job)
    if job.pool.kind.cluster and job.pool.job_key == job.key:  # a shared pool's pilots serve the other jobs
        state.effects.append(act.ReleasePool(job.pool, now=True, stimulus_id=state.stimulus))
    state.reply(e, JobView.of(job))

def on_remove(state: SchedulerState, e: ev.RemoveJobRequested) -> None:
    job = state.job(e.name)
    if e.key is not None and job.key != e.key:
        raise JobNotFound(f"job {e.name} was removed or renamed meanwhile: nothing was removed.")
    if job.unended or job.following:
        raise JobNotEnded(not_ended_message(job))
    # a removed job has ended: the jobs that run after it stop waiting, by its outcome
    job.stream_closed = True
    after.settle(state)
    state.held.pop(job.key, None)
    del state.jobs[job.name]
    del state.by_key[job.key]
    state.waiting.get(job.pool, {}).pop(job.key, None)
    members = state.members.get(job.pool)
    if members is not None:
        members.discard(job.key)
        if not members:
            del state.members[job.pool]
    if job.pool.kind.cluster and job.pool.job_key == job.key:  # a shared pool's pilots serve the other jobs
        state.effects.append(act.ReleasePool(job.pool, now=True, stimulus_id=state.stimulus))
    state.diff.forget(job.key)
    state.stories.forget(job.key)
    state.diff.add(act.DeleteJob(job.key, job.name, stimulus_id=state.stimulus))
    state.reply(e, JobRemoved(job.name, job.key))

class Fate(NamedTuple):
    """What an attempt's end means for its task: its next status, and its reason (text and code)."""

    status: Status
    reason: str
    end: TaskEndReason


def decide_end(spec: JobSpec, task: Task, rec: TaskRecord) -> Fate:
    """The fate of a running task whose current attempt ended with ``rec`` (pure: changes nothing).

    Decided on codes only: the executor's StopReason, the relaunch outcome, the exit, whether
    a kill was asked for, and the task's attempt against the job's retries.
    """
    stop = rec.stop
    reason, end = task.reason, task.end
    if stop is not StopReason.NONE or end is not TaskEndReason.RETRIED:
        # a clean exit keeps the note of why an earlier attempt was retried
        reason, end = rec.reason, _END_OF_STOP[stop]
    if task.kill_requested or stop is StopReason.KILLED:
        return Fate(Status.KILLED, reason, end)
    if rec.relaunch in (Relaunch.REPLACED, Relaunch.NO_COMMANDS):  # NO_COMMANDS: the user chose to drop it
        if not rec.replacements:
            return Fate(Status.RELAUNCHED, "relaunched with no replacement (the relauncher printed no command)",
                        TaskEndReason.RELAUNCHED)
        return Fate(Status.RELAUNCHED, reason, end)
    if rec.relaunch is not Relaunch.NOT_ASKED:
        # The monitor stopped it but nothing replaces it: it fails, so N inputs never give
        # N-1 results silently; its stdout so far is its result.
        why = ("the monitor asked for a relaunch (stratos_relaunch) but the job has no relauncher"
               if rec.relaunch is Relaunch.NO_RELAUNCHER
               else f"relaunch failed: {rec.relaunch_error or 'the relauncher failed'}")
        return Fate(Status.FAILED, why, TaskEndReason.RELAUNCH_FAILED)
    if stop is StopReason.TIMEOUT and task.used(TaskEndReason.TIMEOUT) < spec.timeout_retries:
        return Fate(Status.PENDING, reason, end)
    if stop.limit:
        return Fate(Status.FAILED, limit_reason(spec, stop, rec.limit_kb), TaskEndReason.LIMIT)
    if stop is StopReason.CLUSTER_LIMIT:
        return Fate(Status.FAILED, reason, end)  # the cluster's words stay the reason; no retry
    if stop is StopReason.NONE:
        if rec.exit_code == 0 and rec.signal is None:
            return Fate(Status.FINISHED, reason, end)
        what = f"signal {rec.signal}" if rec.signal is not None else f"exit code {rec.exit_code}"
        used = task.used(TaskEndReason.EXITED, TaskEndReason.SIGNALLED)
        if used < spec.retries and (not spec.retry_on_exit or (rec.signal is None
                                                                and rec.exit_code in spec.retry_on_exit)):
            return Fate(Status.PENDING, f"retried after: {what} (retry {used + 1} of retries={spec.retries})",
                        TaskEndReason.RETRIED)
        if rec.signal is not None:
            return Fate(Status.FAILED, what, TaskEndReason.SIGNALLED)
        return Fate(Status.FAILED, what, TaskEndReason.EXITED)
    return Fate(Status.FAILED, reason, end)


# -- backend reports --------------------------------------------------------------------------


def current(state: SchedulerState, job_key: int, task_id: int, attempt: int) -> tuple[Job, Task] | None:
    """The job and task a report is about, if the attempt is the task's current, running one."""
    job = state.by_key.get(job_key)
    if job is None or not 0 <= task_id < len(job.tasks):
        return None
    task = job.tasks[task_id]
    if task.attempt != attempt or task.status is not Status.RUNNING:
        state.note(job, task, f"a report about attempt {attempt} was ignored (stale)")
        return None  # stale: an earlier attempt, or already ended
    return job, task

def on_task_started(state: SchedulerState, e: ev.TaskStarted) -> None:
    """Only a time to show: journaled with the task's end (its record repeats it), so a task
    costs two journal commits (launch, end), not three. After a crash a task that was running
    shows no start time; it is running again or adopted either way."""
    found = current(state, e.job_key, e.task_id, e.attempt)
    if found:
        found[1].started = e.started

def on_task_ended(state: SchedulerState, e: ev.TaskEnded) -> None:
    found = current(state, e.job_key, e.task_id, e.attempt)
    if found is None:
        return
    job, task = found
    rec = e.record
    if rec.stop is StopReason.EXECUTOR_STOPPED:  # not the task's doing: an infrastructure failure
        lose(state, job, task, "its executor was stopped", rec.ended or state.now)
        return
    if rec.stop is StopReason.DAEMON_STOP:  # our own shutdown: the journal keeps it running
        state.note(job, task, "stopped by the daemon's shutdown; runs again after restart")
        return
    state.book.free(job, task.task_id)
    task.started = rec.started or task.started
    task.ended = rec.ended
    task.exit_code, task.signal = rec.exit_code, rec.signal
    new, task.reason, task.end = decide_end(job.spec, task, rec)
    tail = rec.stderr_tail.decode("utf-8", "replace")[-ATTEMPT_STDERR_CHARS:]
    remember(task, attempt_end(task, rec), rec.reason or _plain(rec), tail)
    rec.notes.extend(unenforced_notes(job.spec, rec))
    keep = new in EXITED and job.spec.output == "scheduler"
    state.diff.add(act.SaveOutcome(job.key, task.task_id, rec, keep, stimulus_id=state.stimulus))
    if new is Status.RELAUNCHED:
        add_replacements(state, job, task, rec.replacements)
    if new is Status.PENDING:
        requeue(state, job, task)
    else:
        move(state, job, task, new, now=rec.ended)


def attempt_end(task: Task, rec: TaskRecord) -> TaskEndReason:
    """How one attempt ended, whatever became of its task: the retry setting it charges."""
    if task.kill_requested or rec.stop is StopReason.KILLED:
        return TaskEndReason.KILLED
    if rec.stop is not StopReason.NONE:
        return _END_OF_STOP[rec.stop]
    if rec.signal is not None:
        return TaskEndReason.SIGNALLED
    return TaskEndReason.EXITED if rec.exit_code else TaskEndReason.NONE


def _plain(rec: TaskRecord) -> str:
    return f"signal {rec.signal}" if rec.signal is not None else f"exit code {rec.exit_code}"


def remember(task: Task, end: TaskEndReason, reason: str, stderr_tail: str = "", host: str | None = None) -> None:
    """Add the attempt that just ended to the task's history (journaled with the task)."""
    where = task.host if host is None else host
    task.history += (Attempt(task.attempt, where, task.started, task.ended, task.exit_code, task.signal,
                             end, reason, stderr_tail),)


def on_task_lost(state: SchedulerState, e: ev.TaskLost) -> None:
    found = current(state, e.job_key, e.task_id, e.attempt)
    if found is None:
        return
    job, task = found
    if e.unusable_host:
        placement.avoid(state, job, e.unusable_host, e.unusable_agent, e.reason)
    lose(state, job, task, e.reason, e.now)


def lose(state: SchedulerState, job: Job, task: Task, reason: str, now: float) -> None:
    """An infrastructure failure: run the task again while retries are left."""
    state.book.free(job, task.task_id)
    task.ended = now
    remember(task, TaskEndReason.KILLED if task.kill_requested else TaskEndReason.LOST, reason)
    if task.kill_requested:
        task.reason, task.end = reason, TaskEndReason.KILLED
        move(state, job, task, Status.KILLED, now=now)
    elif task.used(TaskEndReason.LOST) <= job.spec.max_retries:
        task.reason, task.end = f"retried after: {reason}", TaskEndReason.RETRIED
        requeue(state, job, task)
    else:
        task.reason = f"{reason} (no retries left: max_retries={job.spec.max_retries})"
        task.end = TaskEndReason.LOST
        task.ended = now
        move(state, job, task, Status.LOST, now=now)

def charge_pending(state: SchedulerState, job: Job, reason: str, now: float) -> None:
    """Charge each pending task of ``job`` one infrastructure failure for an attempt that never
    started (its pilots did not): it waits again while retries are left, else it is lost."""
    for task in job.tasks:
        if task.status is not Status.PENDING:
            continue
        task.attempt += 1  # the attempt its pilot never started: it counts against max_retries
        remember(task, TaskEndReason.LOST, reason, host="")
        if task.used(TaskEndReason.LOST) <= job.spec.max_retries:
            task.reason, task.end = f"retried after: {reason}", TaskEndReason.RETRIED
            state.diff.task(job, task)
            state.note(job, task, task.reason)
        else:
            task.reason = f"{reason} (no retries left: max_retries={job.spec.max_retries})"
            task.end = TaskEndReason.LOST
            task.ended = now
            move(state, job, task, Status.LOST, now=now)


def add_replacements(state: SchedulerState, job: Job, task: Task, commands: list[str]) -> None:
    """A relaunched task's replacement commands become new pending tasks of its call."""
    children = []
    call = job.calls[task.call_id]
    for command in commands:
        child = Task(len(job.tasks), task.call_id, command, parent=task.task_id)
        job.tasks.append(child)
        job.pending.append(child.task_id)
        job.counts[Status.PENDING] += 1
        call.counts[Status.PENDING] += 1
        call.unended += 1
        children.append(child.task_id)
        state.diff.task(job, child)
        state.stories.add(job.key, story.created(child.task_id, f"relaunched from task {task.task_id}",
                                                 state.event, state.stimulus, state.now))
    task.children = tuple(children)
    if children:
        state.waiting.setdefault(job.pool, {})[job.key] = job
        if job.pool.kind.cluster:
            placement.revive(state, job)

def requeue(state: SchedulerState, job: Job, task: Task) -> None:
    """A running task waits again (retried, or timed out with timeout_retries left), first in line."""
    move(state, job, task, Status.PENDING)
    task.queued = state.now
    placement.index(job, task)
    job.pending.appendleft(task.task_id)
    state.waiting.setdefault(job.pool, {})[job.key] = job
    if job.pool.kind.cluster:
        placement.revive(state, job)
