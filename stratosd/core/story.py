"""Task stories: a bounded, in-memory log of every transition and decision, per job.

Each line says what happened to which attempt, why, where, and which event (with its
stimulus id) caused it, so ``SchedulerState.story(job, task)`` can answer "what happened
to task 7?" the way dask's ``story()`` does. Not journaled: a restart begins each unended
task's story again with a "restored" line.

Bounds: each job keeps its last ``per_job`` lines; past ``total`` lines in all, the stories
of the oldest ended jobs are dropped first; a removed job's story goes with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from stratosd.core.model import Status
from stratosd.core.types import TaskEndReason


class StoryEntry(NamedTuple):
    """One line of a task's story. ``start == finish`` for a decision that moved nothing."""

    task_id: int
    attempt: int
    start: Status
    finish: Status
    why: TaskEndReason
    #: the text shown (the task's reason, or what was decided).
    detail: str
    #: the class name of the event being handled ("restore" while restoring).
    event: str
    stimulus_id: str
    host: str
    #: the core's time when it happened (the latest time an event told it).
    when: float


class TaskStory(NamedTuple):
    """A task's story as kept."""

    entries: tuple[StoryEntry, ...]
    #: lines of this task may have been dropped (the job's story reached its bound).
    truncated: bool
    #: the time of the job's oldest kept line (0 when it has none).
    kept_since: float


class StoryLog:
    """Per job, the last lines of its tasks' stories."""

    __slots__ = ("_count", "_dropped", "_jobs", "per_job", "total")

    def __init__(self, per_job: int = 20_000, total: int = 500_000) -> None:
        self.per_job = max(1, per_job)
        self.total = max(1, total)
        self._jobs: dict[int, deque[StoryEntry]] = {}
        #: job key -> lines its deque dropped (it was full).
        self._dropped: dict[int, int] = {}
        self._count = 0

    def add(self, job_key: int, entry: StoryEntry) -> None:
        lines = self._jobs.get(job_key)
        if lines is None:
            lines = self._jobs[job_key] = deque(maxlen=self.per_job)
        if len(lines) == self.per_job:
            self._dropped[job_key] = self._dropped.get(job_key, 0) + 1
        else:
            self._count += 1
        lines.append(entry)

    def forget(self, job_key: int) -> None:
        """The job was removed: its story goes too."""
        lines = self._jobs.pop(job_key, None)
        self._dropped.pop(job_key, None)
        if lines is not None:
            self._count -= len(lines)

    def trim(self, jobs: Iterable[int], ended: Callable[[int], bool]) -> None:
        """Past the total bound, drop the stories of ended jobs, oldest (lowest key) first."""
        if self._count <= self.total:
            return
        for key in sorted(k for k in jobs if k in self._jobs and ended(k)):
            self.forget(key)
            if self._count <= self.total:
                return

    def __len__(self) -> int:
        return self._count

    def story(self, job_key: int, task_id: int) -> TaskStory:
        lines = self._jobs.get(job_key, ())
        entries = tuple(e for e in lines if e.task_id == task_id)
        dropped = self._dropped.get(job_key, 0) > 0 or job_key not in self._jobs
        complete = bool(entries) and _begins(entries[0])
        kept_since = lines[0].when if lines else 0.0
        return TaskStory(entries, dropped and not complete, kept_since)


#: the event name of the lines written while restoring from the journal.
RESTORE = "restore"


def created(task_id: int, detail: str, event: str, stimulus_id: str, when: float) -> StoryEntry:
    """The first line of a new task's story (submitted, or a relaunched task's replacement)."""
    return StoryEntry(task_id, 0, Status.PENDING, Status.PENDING, TaskEndReason.NONE, detail, event,
                      stimulus_id, "", when)


def _begins(entry: StoryEntry) -> bool:
    """Whether a story's first kept line is its beginning (creation, or a restart's restore)."""
    return entry.event == RESTORE or (entry.attempt == 0 and entry.start is entry.finish is Status.PENDING)
