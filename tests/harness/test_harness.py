"""The harness itself: it records what the core asks, plays what the test scripts, and fails a
test whose scenario breaks one of the core's invariants."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stratos.errors import JobNotFound, TaskNotFound
from stratos_executor.spec import TaskRecord
from stratos_wire import stratos_pb2 as pb
from stratosd.core.events import OffersReceived, TaskEnded
from stratosd.core.model import Offer, Status
from stratosd.core.types import AttemptRef, PoolId, PoolKind
from tests.harness.backend import Closed, Killed, Outcome
from tests.harness.harness import Harness


def test_launches_are_recorded_with_the_spec_the_runtime_built(harness: Harness) -> None:
    name = harness.create("rec", retries=1)
    assert harness.batch(name, ["echo a", "exit 3"]) == {**dict.fromkeys(harness.counts(name), 0),
                                                          "finished": 1, "failed": 1}
    launched = harness.backend.launched()
    assert [(a.spec.task_id, a.spec.attempt, a.spec.command) for a in launched] == [
        (0, 1, "echo a"), (1, 1, "exit 3"), (1, 2, "exit 3")]  # exit 3 retried once
    assert {a.host_id for a in launched} == {"h1"}
    assert launched[0].spec.job_id == name and launched[0].spec.cwd == "/"
    assert harness.results(name) == ["a\n", ""]


def test_a_scripted_attempt_runs_until_the_test_ends_it(harness: Harness) -> None:
    name = harness.create("manual")
    harness.backend.script("work", None)
    harness.stream(name, ["work"])
    (ref,) = harness.backend.running()
    assert harness.task(name, 0).status is Status.RUNNING
    harness.backend.finish(ref, Outcome(stdout="done\n"))
    harness.settle()
    assert harness.task(name, 0).status is Status.FINISHED and harness.results(name) == ["done\n"]


def test_a_kill_is_recorded_and_answered_as_a_stopped_process(harness: Harness) -> None:
    name = harness.create("kill")
    harness.stream(name, ["sleep 30", "sleep 30"])
    assert harness.kill(name, (1,)) == 1
    assert harness.backend.killed() == [Killed(AttemptRef(harness.job(name).key, 1, 1), "")]
    task = harness.task(name, 1)
    assert task.status is Status.KILLED and task.signal == signal.SIGTERM
    assert harness.task(name, 0).status is Status.RUNNING


def test_a_lost_host_makes_its_tasks_run_again_elsewhere(tmp_path: Path) -> None:
    h = Harness(tmp_path, hosts={"h1": (1.0, 4096.0), "h2": (1.0, 4096.0)})
    try:
        name = h.create("hosts")
        h.stream(name, ["sleep 30", "sleep 30"])
        assert {a.host_id for a in h.backend.launched()} == {"h1", "h2"}
        h.backend.lose_host("h1")
        h.settle()
        assert h.counts(name)["pending"] == 1  # waits for a host: h2 is busy
        (left,) = h.backend.running()
        h.backend.finish(left)
        h.settle()
        again = h.backend.launched()[-1]
        assert again.host_id == "h2" and again.spec.attempt == 2
    finally:
        h.close()


def test_offers_are_recorded_and_accepted_launches_run(tmp_path: Path) -> None:
    h = Harness(tmp_path, offers=True)
    try:
        name = h.create("offers", pool=PoolKind.MESOS, master="mesos.example:5050", mesos_mode="fine")
        pool = PoolId.of(PoolKind.MESOS, h.job(name).key)
        h.submit(name, ["echo x"])
        assert [c.name for c in h.offers.offer_calls()] == ["revive"]
        h.emit(OffersReceived(pool, (Offer("o1", "agent-1", "node1", 2.0, 1024.0, 1024.0),), h.clock()))
        assert h.offers.offer_calls("accept")[0].detail == ("o1", 1)
        assert h.counts(name)["finished"] == 1 and h.results(name) == ["x\n"]
        assert h.task(name, 0).host == "node1"
    finally:
        h.close()


def test_stop_ends_live_attempts_as_the_local_backend_does(harness: Harness) -> None:
    name = harness.create("stop")
    harness.stream(name, ["sleep 30"])
    before = harness.backend
    harness.restart()
    assert before.actions[-1] == Closed() and not before.live  # its attempt was stopped, as DAEMON_STOP
    assert harness.backend is not before  # the restarted daemon's backend launched it again
    assert [a.spec.attempt for a in harness.backend.launched()] == [2]
    assert harness.task(name, 0).status is Status.RUNNING and harness.task(name, 0).attempt == 2


def test_servicer_errors_come_back_typed(harness: Harness) -> None:
    with pytest.raises(JobNotFound):
        harness.call(harness.servicer.GetTask, pb.TaskRef(job_id="nope", task_id=0))
    name = harness.create("typed")
    with pytest.raises(TaskNotFound):
        harness.call(harness.servicer.GetTask, pb.TaskRef(job_id=name, task_id=5))


def test_a_broken_invariant_fails_the_step_that_broke_it(harness: Harness) -> None:
    name = harness.create("broken")
    harness.stream(name, ["sleep 30"])
    job = harness.job(name)
    job.counts[Status.FINISHED] += 1  # a bug's effect: the counts no longer match the tasks
    (ref,) = harness.backend.running()
    harness.backend.live.pop(ref)
    with pytest.raises(AssertionError, match=r"loop stopped: AssertionError\(\('broken', "):
        harness.emit(TaskEnded(*ref, record=TaskRecord(exit_code=0, stdout=b"")))
