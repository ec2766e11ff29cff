"""What one core step changed, as journal actions, in the order the journal needs them.

Handlers only say what changed (a job, a task, a call, an outcome...); a job or task changed
twice in a step is written once. ``flush`` orders the step's actions: jobs, then calls (tasks
reference them), then tasks, then outcomes, publications and deletions.
"""

from __future__ import annotations

from stratosd.core import actions as act
from stratosd.core.model import Job, Task


class JournalDiff:
    """The journal actions of the step being handled."""

    __slots__ = ("_actions", "_jobs", "_tasks")

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}
        self._tasks: dict[int, dict[int, Task]] = {}
        #: calls, outcomes, publications and deletions, in the order they were decided.
        self._actions: list[act.Action] = []

    def job(self, job: Job) -> None:
        """The job's own fields changed."""
        self._jobs[job.key] = job

    def task(self, job: Job, task: Task) -> None:
        """The task's fields changed."""
        self._tasks.setdefault(job.key, {})[task.task_id] = task

    def add(self, action: act.Action) -> None:
        """A SaveCall, SaveOutcome, PublishResults or DeleteJob."""
        self._actions.append(action)

    def forget(self, job_key: int) -> None:
        """The job is deleted in this step: none of its pending saves are written."""
        self._jobs.pop(job_key, None)
        self._tasks.pop(job_key, None)

    def job_keys(self) -> set[int]:
        """The jobs this step changed (their tasks, counts or fields), removed ones included."""
        keys = set(self._jobs) | set(self._tasks)
        keys.update(a.job_key for a in self._actions if isinstance(a, act.DeleteJob))
        return keys

    def flush(self, stimulus_id: str) -> list[act.Action]:
        """The step's journal actions, in journal order; the diff is empty afterwards."""
        out: list[act.Action] = [act.SaveJob(job, stimulus_id=stimulus_id) for job in self._jobs.values()]
        out.extend(a for a in self._actions if isinstance(a, act.SaveCall))
        out.extend(act.SaveTasks(key, tuple(tasks.values()), stimulus_id=stimulus_id)
                   for key, tasks in self._tasks.items())
        out.extend(a for a in self._actions if not isinstance(a, act.SaveCall))
        self._jobs, self._tasks, self._actions = {}, {}, []
        return out
