"""How the Mesos adapter turns status updates into core events (a recording connection, no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

from stratosd.backends.mesos import translate as tr
from stratosd.backends.mesos.backend import Framework, MesosBackend
from stratosd.core import actions as act
from stratosd.core.actions import PoolGrant
from stratosd.core.events import Event, TaskEnded, TaskLost, TaskRunningReported
from stratosd.core.model import Job, JobSpec, Status, Task
from stratosd.core.state import SchedulerState
from stratosd.core.types import AttemptRef, PoolId


class RecordingConnection:
    framework_id = "F"
    stream_id = "S"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def call(self, body: dict[str, Any]) -> None:
        self.calls.append(body)


class NoIds:
    def get(self, job_key: int) -> str | None:
        return None

    def set(self, job_key: int, framework_id: str | None) -> None:
        pass


def setup() -> tuple[MesosBackend, Framework, RecordingConnection, list[Event], Job]:
    job = Job(7, "j", JobSpec(master="m:5050"), "mesos:7", 0.0)
    task = Task(0, 0, "cmd")
    task.status, task.attempt = Status.RUNNING, 2
    job.tasks.append(task)
    events: list[Event] = []
    state = SchedulerState()
    state.jobs[job.name] = state.by_key[job.key] = job

    def emit(event: Event) -> None:  # the core decides about running attempts; its kills go back to the backend
        events.append(event)
        for a in state.handle(event) if isinstance(event, TaskRunningReported) else ():
            if isinstance(a, act.KillTask):
                backend.kill(a.job_key, a.task_id, a.attempt, a.host_hint)

    backend = MesosBackend(emit, framework_ids=NoIds(), executor_address="x:1")
    conn = RecordingConnection()
    # the grant the core's ReviveOffers gave when it opened the framework: the adapter reads no job
    framework = Framework("mesos:7", 7, conn, grant=PoolGrant.of(job))  # type: ignore[arg-type]
    backend.frameworks["mesos:7"] = framework
    return backend, framework, conn, events, job


def update(task_id: str, state: str, reason: str = "", uuid: str | None = None) -> tr.TaskUpdate:
    return tr.TaskUpdate(task_id, state, "S1", uuid, reason, "", "SOURCE_AGENT")


def run(backend: MesosBackend, framework: Framework, u: tr.TaskUpdate) -> None:
    async def go() -> None:
        backend._on_update(framework, u)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(go())


def test_updates_with_a_uuid_are_acknowledged_and_others_not() -> None:
    backend, framework, conn, _, _ = setup()
    run(backend, framework, update("stratos.7.0.2", "TASK_RUNNING", uuid="AAECAwQFBgcICQoLDA0ODw=="))
    run(backend, framework, update("stratos.7.0.2", "TASK_RUNNING"))
    assert [c["type"] for c in conn.calls] == ["ACKNOWLEDGE"]


def test_lost_gone_dropped_and_error_are_infrastructure_failures() -> None:
    for state in ("TASK_LOST", "TASK_GONE", "TASK_DROPPED", "TASK_ERROR", "TASK_FAILED"):
        backend, framework, _, events, _ = setup()
        run(backend, framework, update("stratos.7.0.2", state, "REASON_AGENT_REMOVED"))
        assert [type(e) for e in events] == [TaskLost] and "AGENT_REMOVED" in events[0].reason  # type: ignore[attr-defined]


def test_a_memory_limit_kill_is_a_task_result_not_a_retry() -> None:
    backend, framework, _, events, _ = setup()
    run(backend, framework, update("stratos.7.0.2", "TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY"))
    (event,) = events
    assert isinstance(event, TaskEnded) and event.attempt == 2 and "MEMORY" in event.record.reason


def test_a_task_reported_lost_that_turns_up_running_is_killed() -> None:
    backend, framework, conn, events, job = setup()
    job.tasks[0].attempt = 3  # attempt 2 was lost and rerun
    run(backend, framework, update("stratos.7.0.2", "TASK_RUNNING"))
    assert [c["type"] for c in conn.calls] == ["KILL"]
    assert conn.calls[0]["kill"]["task_id"] == {"value": "stratos.7.0.2"}
    assert [type(e) for e in events] == [TaskRunningReported]


def test_a_late_running_update_of_an_attempt_that_ended_is_not_killed() -> None:
    # its executor reported the end first; the RUNNING update was retried after a lost acknowledgement
    for status, killed in ((Status.FINISHED, False), (Status.FAILED, False), (Status.PENDING, True)):
        backend, framework, conn, events, job = setup()
        job.tasks[0].status = status  # PENDING: attempt 2 was reported lost and waits to run again
        run(backend, framework, update("stratos.7.0.2", "TASK_RUNNING"))
        assert [c["type"] for c in conn.calls] == (["KILL"] if killed else []), status
        assert [type(e) for e in events] == [TaskRunningReported]


def test_foreign_and_other_jobs_tasks_are_left_alone() -> None:
    backend, framework, conn, events, _ = setup()
    run(backend, framework, update("someone-else", "TASK_LOST"))
    run(backend, framework, update("stratos.8.0.1", "TASK_LOST"))
    assert events == [] and conn.calls == []


def test_an_executor_the_shell_cannot_find_makes_a_loss_naming_the_host_and_the_program() -> None:
    backend, framework, _, events, _ = setup()
    backend.executor_command = "/opt/venv/bin/python -m stratos_executor"
    framework.live[tr.task_id(7, 0, 2)] = "S1"
    framework.hosts[tr.task_id(7, 0, 2)] = "node7"
    u = tr.TaskUpdate(tr.task_id(7, 0, 2), "TASK_FAILED", "", None, "", "Command exited with status 127",
                      "SOURCE_EXECUTOR")  # no agent id in the update: the one we launched on is used
    run(backend, framework, u)
    (lost,) = events
    assert isinstance(lost, TaskLost) and lost.unusable_host == "node7"
    assert lost.reason.startswith("host node7: cannot start the StratOS executor: /opt/venv/bin/python not found "
                                  "(exit status 127); is StratOS installed there?")
    assert "the executor could not start on host node7" in lost.reason and "(exit 127)" in lost.reason
    # any other failure of the Mesos task says nothing about the host's fitness
    events.clear()
    framework.live[tr.task_id(7, 0, 2)] = "S1"
    framework.hosts[tr.task_id(7, 0, 2)] = "node7"
    run(backend, framework, tr.TaskUpdate(tr.task_id(7, 0, 2), "TASK_FAILED", "S1", None, "",
                                          "Command exited with status 1", "SOURCE_EXECUTOR"))
    (lost,) = events
    assert isinstance(lost, TaskLost) and lost.unusable_host == ""
    assert "it ended before reaching the daemon (TASK_FAILED" in lost.reason, lost.reason


def test_a_framework_opened_after_a_restart_adopts_the_attempts_it_was_given(monkeypatch: Any) -> None:
    """AdoptAttempts then ReviveOffers: the framework subscribes with the grant's name, role and master,
    and takes the given attempts as live (to reconcile); it reads no job."""
    from stratosd.backends.mesos import backend as mesos_backend

    opened: list[tuple[str, dict[str, Any]]] = []

    class FakeConnection:
        framework_id = None
        stream_id = None

        def __init__(self, master: str, session: Any, subscribe: Any, on_event: Any, framework_id: Any) -> None:
            opened.append((master, subscribe(None)))

        def start(self) -> None:
            pass

        async def close(self) -> None:
            pass

    monkeypatch.setattr(mesos_backend, "SchedulerConnection", FakeConnection)
    job = Job(9, "adopting", JobSpec(master="m:5050", role="science"), "mesos:9", 0.0, "tok")

    async def go() -> None:
        backend = MesosBackend(lambda e: None, framework_ids=NoIds(), executor_address="x:1")
        backend.adopt(PoolId("mesos:9"), (AttemptRef(9, 0, 1), AttemptRef(9, 3, 2)))
        backend.revive("mesos:9", PoolGrant.of(job))
        framework = backend.frameworks["mesos:9"]
        assert framework.live == {tr.task_id(9, 0, 1): "", tr.task_id(9, 3, 2): ""}
        assert framework.grant == PoolGrant.of(job)
        # open already (a journal rebuild): nothing new is adopted
        backend.adopt(PoolId("mesos:9"), (AttemptRef(9, 5, 1),))
        assert tr.task_id(9, 5, 1) not in framework.live
        await backend.close()

    asyncio.run(go())
    ((master, subscribe),) = opened
    info = subscribe["subscribe"]["framework_info"]
    assert master == "m:5050" and info["name"] == "adopting" and info["role"] == "science"
