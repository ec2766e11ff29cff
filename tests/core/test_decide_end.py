"""decide_end: an attempt's end -> its task's fate, as a table over the codes it decides on."""

from __future__ import annotations

import pytest

from stratos_executor.spec import Relaunch, TaskRecord
from stratosd.core.lifecycle import decide_end
from stratosd.core.model import JobSpec, Status, Task
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
