"""Backend reports that decide about an attempt without moving its task.

Kept apart from ``lifecycle.py`` (which moves tasks): these only answer with effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import Status

if TYPE_CHECKING:
    from stratosd.core.state import SchedulerState


def on_running_reported(state: SchedulerState, e: ev.TaskRunningReported) -> None:
    """A cluster says an attempt runs: kill it if the job no longer wants it.

    Unwanted: its job or task is unknown, it is not the task's current attempt (reported lost
    and run again elsewhere: it must not yield a second result), or the task waits to run again.
    An attempt that already ended by its executor's report is left alone: its RUNNING update can
    come late (retried after a lost acknowledgement) while the executor is still exiting.
    """
    job = state.by_key.get(e.job_key)
    task = job.tasks[e.task_id] if job is not None and 0 <= e.task_id < len(job.tasks) else None
    if task is not None and task.attempt == e.attempt and task.status is not Status.PENDING:
        return
    if job is not None and task is not None:
        state.note(job, task, f"attempt {e.attempt} runs but is no longer wanted: killing it")
    state.effects.append(act.KillTask(e.job_key, e.task_id, e.attempt, e.pool, e.where,
                                      stimulus_id=state.stimulus))


def on_daemon_stopping(state: SchedulerState, e: ev.DaemonStopping) -> None:
    """The daemon stops: place nothing more (its backends are closing)."""
    state.stopping = True
