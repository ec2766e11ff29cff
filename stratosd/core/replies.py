"""What the core answers to requests: named, typed values, never live core objects.

The servicer gets a snapshot (:class:`JobView`) taken when the request was decided, so it
never reads a ``Job`` that a later step is changing. The values are ``NamedTuple``s: named
and typed, and still equal to the plain tuples the core used to answer with.
"""

from __future__ import annotations

from typing import NamedTuple

from stratosd.core.model import Job, JobSpec
from stratosd.core.types import PoolId


class JobView(NamedTuple):
    """A job as it was when a request about it was decided."""

    key: int
    name: str
    pool: PoolId
    spec: JobSpec
    #: "active", "finished" or "cancelled" (Job.state).
    state: str
    created: float
    stream_opened: bool
    stream_closed: bool
    token: str

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(job.key, job.name, job.pool, job.spec, job.state, job.created, job.stream_opened,
                   job.stream_closed, job.token)


class JobCreated(NamedTuple):
    """CreateJobRequested's answer."""

    job: JobView
    #: the name an earlier, ended job of the same name was given ("" when none was renamed).
    renamed_previous: str


class Submitted(NamedTuple):
    """SubmitRequested's answer."""

    call_id: int
    #: the call's tasks have the ids first_task_id ... first_task_id + task_count - 1.
    first_task_id: int
    task_count: int
    warnings: list[str]
    #: the follow it started (glob_stream(..., follow=True)); -1: none.
    follow_id: int = -1


class JobRemoved(NamedTuple):
    """RemoveJobRequested's answer."""

    name: str
    key: int


#: KillRequested's and CancelRequested's answer: how many tasks were killed or told to stop.
Killed = int
#: the ids of the failed tasks a retry request resubmitted.
Retried = tuple[int, ...]
