"""decide_end: an attempt's end -> its task's fate, as a table over the codes it decides on."""

from __future__ import annotations

import pytest

from stratos_executor.spec import Relaunch, TaskRecord
from stratosd.core.lifecycle import decide_end
from stratosd.core.model import Attempt, JobSpec, Status, Task
from stratosd.core.types import TaskEndReason as E

S = Status
SPEC = JobSpec(max_retries=3, timeout_retries=1, mem=50, mem_set=True)

# (executor's reason word, relaunch outcome, replacements, exit, signal, kill requested, attempt, task's prior code)
#   -> (status, code)
TABLE = [
    ("", Relaunch.NOT_ASKED, [], 0, None, False, 1, E.NONE, S.FINISHED, E.NONE),
    ("", Relaunch.NOT_ASKED, [], 2, None, False, 1, E.NONE, S.FAILED, E.EXITED),
    ("", Relaunch.NOT_ASKED, [], None, 9, False, 1, E.NONE, S.FAILED, E.SIGNALLED),
    ("", Relaunch.NOT_ASKED, [], 0, None, False, 2, E.RETRIED, S.FINISHED, E.RETRIED),  # keeps its note
    ("", Relaunch.NOT_ASKED, [], 1, None, False, 2, E.RETRIED, S.FAILED, E.EXITED),
    ("", Relaunch.NOT_ASKED, [], 0, None, True, 1, E.NONE, S.KILLED, E.NONE),  # the kill was asked for
    ("killed", Relaunch.NOT_ASKED, [], None, 15, False, 1, E.NONE, S.KILLED, E.KILLED),
    ("timeout", Relaunch.NOT_ASKED, [], None, 15, False, 1, E.NONE, S.PENDING, E.TIMEOUT),
    ("timeout", Relaunch.NOT_ASKED, [], None, 15, False, 2, E.TIMEOUT, S.FAILED, E.TIMEOUT),
    ("memory-limit", Relaunch.NOT_ASKED, [], None, 9, False, 1, E.NONE, S.FAILED, E.LIMIT),
    ("disk-limit", Relaunch.NOT_ASKED, [], None, 15, False, 1, E.NONE, S.FAILED, E.LIMIT),
    ("relaunch", Relaunch.REPLACED, ["b"], None, 15, False, 1, E.NONE, S.RELAUNCHED, E.RELAUNCHED),
    ("relaunch", Relaunch.NO_COMMANDS, [], None, 15, False, 1, E.NONE, S.RELAUNCHED, E.RELAUNCHED),
    ("relaunch", Relaunch.FAILED, [], None, 15, False, 1, E.NONE, S.FAILED, E.RELAUNCH_FAILED),
    ("relaunch", Relaunch.NO_RELAUNCHER, [], None, 15, False, 1, E.NONE, S.FAILED, E.RELAUNCH_FAILED),
    ("spawn-failed", Relaunch.NOT_ASKED, [], None, None, False, 1, E.NONE, S.FAILED, E.SPAWN_FAILED),
    ("disk full: no space left under /x", Relaunch.NOT_ASKED, [], 0, None, False, 1, E.NONE, S.FAILED, E.STOPPED),
]


@pytest.mark.parametrize(("word", "relaunch", "replacements", "exit_code", "signal", "kill", "attempt", "prior",
                          "status", "code"), TABLE)
def test_the_fate_of_an_ended_attempt(word: str, relaunch: Relaunch, replacements: list[str], exit_code: int | None,
                                      signal: int | None, kill: bool, attempt: int, prior: E, status: Status,
                                      code: E) -> None:
    task = Task(0, 0, "cmd")
    task.status, task.attempt, task.kill_requested, task.end = Status.RUNNING, attempt, kill, prior
    task.reason = "retried after: host h1 left" if prior is E.RETRIED else ("timeout" if prior is E.TIMEOUT else "")
    # the earlier attempts, each charged to the setting the prior code names (lost: max_retries)
    task.history = tuple(Attempt(n, "h1", 0.0, 0.0, None, None, E.LOST if prior is E.RETRIED else prior, "")
                         for n in range(1, attempt))
    rec = TaskRecord(reason=word, relaunch=relaunch, replacements=replacements, exit_code=exit_code, signal=signal,
                     limit_kb=60 * 1024)
    fate = decide_end(SPEC, task, rec)
    assert (fate.status, fate.end) == (status, code)
    assert task.status is Status.RUNNING and task.end is prior  # pure: the task is not touched
    assert bool(fate.reason) == (fate.end is not E.NONE)  # a reason text always comes with its code


def test_a_cluster_limit_fails_the_task_with_the_cluster_s_words() -> None:
    from stratos_executor.spec import StopReason

    task = Task(0, 0, "cmd")
    task.status, task.attempt = Status.RUNNING, 1
    rec = TaskRecord(reason="killed by Mesos: TASK_FAILED REASON_CONTAINER_LIMITATION_MEMORY", signal=9,
                     stop=StopReason.CLUSTER_LIMIT)
    assert decide_end(SPEC, task, rec) == (Status.FAILED, rec.reason, E.CLUSTER_LIMIT)


def _ended(task: Task, exit_code: int | None, signal: int | None = None) -> None:
    task.history += (Attempt(task.attempt, "h1", 0.0, 1.0, exit_code, signal,
                             E.SIGNALLED if signal is not None else E.EXITED, ""),)
    task.attempt += 1


def test_retries_runs_a_failed_exit_or_signal_again_up_to_n_times() -> None:
    spec = JobSpec(retries=2)
    task = Task(0, 0, "cmd")
    task.status, task.attempt = Status.RUNNING, 1
    fate = decide_end(spec, task, TaskRecord(exit_code=3))
    assert (fate.status, fate.end) == (Status.PENDING, E.RETRIED)
    assert fate.reason == "retried after: exit code 3 (retry 1 of retries=2)"
    _ended(task, 3)
    fate = decide_end(spec, task, TaskRecord(signal=11))
    assert (fate.status, fate.end) == (Status.PENDING, E.RETRIED)
    _ended(task, None, 11)
    fate = decide_end(spec, task, TaskRecord(exit_code=3))  # the third failure: no retries left
    assert (fate.status, fate.end, fate.reason) == (Status.FAILED, E.EXITED, "exit code 3")
    # a clean exit after a retry keeps the note of why it was retried
    assert decide_end(spec, task, TaskRecord(exit_code=0)).status is Status.FINISHED


def test_retries_leave_kills_timeouts_and_lost_hosts_to_their_own_settings() -> None:
    spec = JobSpec(retries=5, timeout_retries=0, max_retries=0)
    from stratos_executor.spec import StopReason

    task = Task(0, 0, "cmd")
    task.status, task.attempt = Status.RUNNING, 1
    assert decide_end(spec, task, TaskRecord(signal=15, stop=StopReason.TIMEOUT)).status is Status.FAILED
    assert decide_end(spec, task, TaskRecord(signal=15, stop=StopReason.KILLED)).status is Status.KILLED
    task.kill_requested = True  # the user's kill: its signal is not retried
    assert decide_end(spec, task, TaskRecord(signal=15)).status is Status.KILLED


def test_retry_on_exit_narrows_retries_to_those_exit_codes() -> None:
    spec = JobSpec(retries=3, retry_on_exit=(75,))
    task = Task(0, 0, "cmd")
    task.status, task.attempt = Status.RUNNING, 1
    assert decide_end(spec, task, TaskRecord(exit_code=75)).status is Status.PENDING
    assert decide_end(spec, task, TaskRecord(exit_code=1)).status is Status.FAILED
    assert decide_end(spec, task, TaskRecord(signal=9)).status is Status.FAILED  # a signal has no exit code


def test_exit_retries_do_not_use_up_max_retries_or_timeout_retries() -> None:
    from stratos_executor.spec import StopReason

    spec = JobSpec(retries=2, timeout_retries=1)
    task = Task(0, 0, "cmd")
    task.status, task.attempt = Status.RUNNING, 1
    _ended(task, 1)
    _ended(task, 1)
    # two exit retries spent; a timeout still has its own retry
    assert decide_end(spec, task, TaskRecord(signal=15, stop=StopReason.TIMEOUT)).status is Status.PENDING
