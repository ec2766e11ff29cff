"""The shared vocabulary: stimulus ids on every action, stop reasons parsed once, typed pool ids."""

from __future__ import annotations

from stratos_executor.spec import TaskRecord
from stratosd.core import events as ev
from stratosd.core.state import SchedulerState
from tests.core.helpers import add_host, create


def test_actions_carry_the_stimulus_id_of_the_event_that_caused_them(state: SchedulerState) -> None:
    add_host(state, cpus=1)
    create(state)
    actions = state.handle(ev.SubmitRequested(90, "demo", "batch", "/tmp", {}, ["a", "b"], 2.0,
                                              stimulus_id="Submit-90"))
    assert actions and {a.stimulus_id for a in actions} == {"Submit-90"}
    job = state.jobs["demo"]
    ended = state.handle(ev.TaskEnded(job.key, 0, 1, TaskRecord(exit_code=0, stdout=b""),
                                      stimulus_id="report-7"))
    assert ended and {a.stimulus_id for a in ended} == {"report-7"}


def test_the_stimulus_id_does_not_make_equal_events_differ() -> None:
    assert ev.Tick(1.0, stimulus_id="a") == ev.Tick(1.0, stimulus_id="b")


def test_stop_reasons_are_parsed_once_from_the_executor_s_words() -> None:
    from stratos_executor.spec import StopReason

    assert TaskRecord(reason="timeout").stop is StopReason.TIMEOUT
    assert TaskRecord(reason="disk full: no space left under /x").stop is StopReason.OTHER
    assert TaskRecord().stop is StopReason.NONE
    record = TaskRecord()
    record.set_reason("memory-limit")
    assert record.stop is StopReason.MEMORY_LIMIT and record.stop.limit and record.reason == "memory-limit"


def test_a_pool_id_is_parsed_once_and_stays_a_string() -> None:
    from stratosd.core.types import PoolId, PoolKind

    pool = PoolId("slurm:7")
    assert pool == "slurm:7" and pool.kind is PoolKind.SLURM and pool.job_key == 7 and pool.kind.pilot_hosts
    assert PoolId.of(PoolKind.MESOS, 3) == "mesos:3" and PoolId("local").job_key is None
    assert not PoolId("local").kind.cluster and PoolId("pilots:1").kind.cluster
