"""Builders for events and matchers for actions, so tests read as scenarios."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, TypeVar

from stratos_executor.spec import Relaunch, TaskRecord
from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import CallMode, JobSpec
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolKind

_ids = itertools.count(1)
A = TypeVar("A", bound=act.Action)
V = TypeVar("V")


def add_host(state: SchedulerState, cpus: float = 2, mem: float = 4096, host: str = "h1",
             pool: str = "local") -> list[act.Action]:
    return state.handle(ev.HostAdded(host, pool, cpus, mem))


def reply(actions: list[act.Action]) -> act.Reply:
    replies = [a for a in actions if isinstance(a, act.Reply)]
    assert len(replies) == 1, replies
    return replies[0]


def value(r: act.Reply, kind: type[V]) -> V:
    """A reply's value, as the type its request promises (a Reply carries any request's answer)."""
    assert isinstance(r.value, kind), r
    return r.value


def of(kind: type[A], actions: Iterable[act.Action]) -> list[A]:
    """The actions of one type, typed as that type."""
    return [a for a in actions if isinstance(a, kind)]


def create(state: SchedulerState, name: str = "demo", pool: PoolKind = PoolKind.LOCAL, **spec: Any) -> act.Reply:
    return reply(state.handle(ev.CreateJobRequested(next(_ids), name, JobSpec(**spec), pool, 1.0)))


def submit(state: SchedulerState, name: str, commands: list[str], mode: CallMode = "batch"
           ) -> tuple[act.Reply, list[act.Action]]:
    actions = state.handle(ev.SubmitRequested(next(_ids), name, mode, "/tmp", {}, commands, 2.0))
    return reply(actions), actions


def launches(actions: list[act.Action]) -> list[act.LaunchTask]:
    return [a for a in actions if isinstance(a, act.LaunchTask)]


def published(actions: list[act.Action]) -> list[tuple[int, int]]:
    return [pair for a in actions if isinstance(a, act.PublishResults) for pair in a.seqs]


def end(state: SchedulerState, job: str, task_id: int, exit_code: int | None = 0, *, signal: int | None = None,
        reason: str = "", replacements: list[str] | None = None, attempt: int | None = None,
        relaunch: Relaunch = Relaunch.NOT_ASKED, relaunch_error: str = "", stderr: bytes = b"") -> list[act.Action]:
    j = state.jobs[job]
    rec = TaskRecord(exit_code=exit_code, signal=signal, reason=reason, started=5.0, ended=6.0,
                     stdout=b"out", replacements=replacements or [], relaunch=relaunch,
                     relaunch_error=relaunch_error, stderr_tail=stderr)
    return state.handle(ev.TaskEnded(j.key, task_id, attempt or j.tasks[task_id].attempt, rec))


def status(state: SchedulerState, job: str, task_id: int) -> str:
    return state.jobs[job].tasks[task_id].status.value
