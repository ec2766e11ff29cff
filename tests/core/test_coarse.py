"""Coarse-grained Mesos (the default mode): offers become one executor per agent, tasks go to
executors as to pilots, an executor's end is its tasks' infrastructure failure. No I/O."""

from __future__ import annotations

from typing import Any

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec, Offer, Status
from stratosd.core.replies import JobCreated
from stratosd.core.state import SchedulerState
from stratosd.core.types import AttemptRef, ExecutorStopCause, PoolId, PoolKind
from tests.core.helpers import end, of, reply, submit, value


def coarse_job(state: SchedulerState, name: str = "c", **spec: Any) -> PoolId:
    spec.setdefault("cpus", 1)
    spec.setdefault("mem", 100)
    spec.setdefault("disk", 10)
    r = reply(state.handle(ev.CreateJobRequested(1, name, JobSpec(**spec), PoolKind.MESOS, 1.0, own_pool=True)))
    return value(r, JobCreated).job.pool


def offer(oid: str, host: str = "agent1", cpus: float = 4, mem: float = 4096, disk: float = 10000) -> Offer:
    return Offer(oid, f"A-{host}", host, cpus, mem, disk)


def executors(actions: list[act.Action]) -> list[act.LaunchExecutor]:
    return of(act.LaunchExecutor, actions)


def register(state: SchedulerState, pool: PoolId, launch: act.LaunchExecutor, now: float = 5.0,
             holding: tuple[AttemptRef, ...] = ()) -> list[act.Action]:
    """The executor's pilot registers with the hub (what PilotsBackend.register emits)."""
    return state.handle(ev.HostAdded(launch.executor_id, pool, launch.cpus, launch.mem, launch.offer.hostname,
                                     holding), ev.ExecutorHeard(launch.executor_id, now))


def test_the_default_mode_is_coarse() -> None:
    assert JobSpec().mesos_mode == "coarse"


def test_offers_become_one_executor_per_agent_sized_to_the_pending_work(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", [f"t{i}" for i in range(6)])
    actions = state.handle(ev.OffersReceived(pool, (offer("o1", "agent1", cpus=4), offer("o2", "agent2", cpus=4),
                                                    offer("o3", "agent3", cpus=4)), 3.0))
    launched = executors(actions)
    # 4 tasks fit agent1's offer, the other 2 agent2's; agent3 is not needed
    assert [(e.offer.offer_id, e.cpus, e.mem, e.disk) for e in launched] == [("o1", 4, 400, 40), ("o2", 2, 200, 20)]
    assert launched[0].executor_id != launched[1].executor_id
    assert all(e.executor_id.startswith(f"stratos-{pool.job_key}-executor-") for e in launched)
    assert of(act.DeclineOffers, actions) == [act.DeclineOffers(pool, ("o3",), SchedulerState.IDLE_REFUSE_SECONDS)]
    assert of(act.SuppressOffers, actions) == [act.SuppressOffers(pool)]  # the executors hold the work
    assert of(act.AcceptOffer, actions) == [] and of(act.LaunchTask, actions) == []  # tasks wait for them
    assert all(t.status is Status.PENDING for t in state.jobs["c"].tasks)


def test_an_agent_with_an_executor_of_the_job_gets_no_second_one(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", [f"t{i}" for i in range(8)])
    (first,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=2),), 3.0)))
    actions = state.handle(ev.OffersReceived(pool, (offer("o2", cpus=2),), 4.0))  # the same agent again
    assert executors(actions) == []
    assert of(act.DeclineOffers, actions) == [act.DeclineOffers(pool, ("o2",), SchedulerState.BUSY_REFUSE_SECONDS)]
    # ... while another agent does get one
    (second,) = executors(state.handle(ev.OffersReceived(pool, (offer("o3", "agent2", cpus=2),), 4.0)))
    assert second.offer.agent_id == "A-agent2" and first.offer.agent_id == "A-agent1"


def test_a_registered_executor_runs_the_tasks_and_the_story_names_it_and_its_agent(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a", "b", "c"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=2),), 3.0)))
    actions = register(state, pool, launch)
    tasks = of(act.LaunchTask, actions)
    assert [(t.task_id, t.host_id, t.pool) for t in tasks] == [(0, launch.executor_id, pool),
                                                               (1, launch.executor_id, pool)]
    job = state.jobs["c"]
    assert job.tasks[0].host == "agent1"  # the machine, for users and locality
    story = state.story("c", 0)
    (launched,) = [line for line in story.entries if line.finish is Status.RUNNING]
    assert launched.detail == f"launched on executor {launch.executor_id} (agent A-agent1)"
    assert launched.host == "agent1"  # the machine, as on every other line of the story
    # a task ends: the free slot takes the third task, no new offer needed
    actions = end(state, "c", 0)
    assert [(t.task_id, t.host_id) for t in of(act.LaunchTask, actions)] == [(2, launch.executor_id)]


def test_more_pending_work_than_the_executors_hold_asks_for_more(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=4),), 3.0)))
    assert launch.cpus == 1  # sized to the one pending task
    register(state, pool, launch)
    actions = submit(state, "c", ["b", "c"])[1]
    assert of(act.ReviveOffers, actions)  # two wait and the executor has no free slot
    launched = executors(state.handle(ev.OffersReceived(pool, (offer("o2", "agent2", cpus=4),), 6.0)))
    assert [e.cpus for e in launched] == [2]


def test_an_executor_that_ends_loses_its_running_tasks_which_run_again_elsewhere(state: SchedulerState) -> None:
    pool = coarse_job(state, max_retries=1)
    submit(state, "c", ["a", "b"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=2),), 3.0)))
    register(state, pool, launch)
    job = state.jobs["c"]
    assert [t.status for t in job.tasks] == [Status.RUNNING, Status.RUNNING]
    actions = state.handle(ev.PilotJobEnded(launch.executor_id, "its Mesos executor ended (TASK_KILLED)", 8.0))
    assert [t.status for t in job.tasks] == [Status.PENDING, Status.PENDING]  # infrastructure failures, retried
    assert all("TASK_KILLED" in t.history[-1].reason for t in job.tasks)
    assert of(act.ReviveOffers, actions)
    assert launch.executor_id not in job.executors
    # the same agent may get a new executor now
    (again,) = executors(state.handle(ev.OffersReceived(pool, (offer("o2", cpus=2),), 9.0)))
    assert again.offer.agent_id == "A-agent1"
    register(state, pool, again, now=10.0)
    state.handle(ev.PilotJobEnded(again.executor_id, "its Mesos executor ended (TASK_LOST)", 11.0))
    assert [t.status for t in job.tasks] == [Status.LOST, Status.LOST]  # max_retries=1 spent


def test_an_executor_that_never_started_frees_its_agent_and_a_missing_program_avoids_it(
        state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1"),), 3.0)))
    state.handle(ev.PilotStartFailed(pool, "agent1", "host agent1: cannot start the StratOS executor: exit 127",
                                     4.0, executor_id=launch.executor_id, unusable_agent="A-agent1"))
    job = state.jobs["c"]
    assert job.executors == {} and "A-agent1" in job.avoid
    assert job.warnings == ["host agent1: cannot start the StratOS executor: exit 127; no more tasks of this job "
                            "go to agent1"]  # the backend's words, naming the host and what failed
    actions = state.handle(ev.OffersReceived(pool, (offer("o2"), offer("o3", "agent2")), 5.0))
    assert [e.offer.agent_id for e in executors(actions)] == ["A-agent2"]


def test_after_a_restart_returning_executors_keep_their_tasks_and_unclaimed_ones_run_again(
        state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a", "b", "c", "d"])
    launched = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=2), offer("o2", "agent2", cpus=2)),
                                                       3.0)))
    for launch in launched:
        register(state, pool, launch)
    job = state.jobs["c"]
    on_first = sorted(t.task_id for t in job.tasks if t.status is Status.RUNNING and t.host == "agent1")
    fresh = SchedulerState(validate=True, pilot_lost_after=30.0)
    for old in state.jobs.values():
        old.executors.clear()  # as read from the journal (executors are not journaled)
    actions = fresh.restore(list(state.jobs.values()), now=100.0)
    assert of(act.AdoptAttempts, actions) == []  # executors register again holding their tasks
    assert of(act.ReviveOffers, actions) == [act.ReviveOffers(pool)]
    restored = fresh.jobs["c"]
    assert all(t.status is Status.RUNNING for t in restored.tasks)
    first = launched[0]
    held = tuple(AttemptRef(restored.key, i, 1) for i in on_first)
    fresh.handle(ev.HostAdded(first.executor_id, pool, first.cpus, first.mem, "agent1", held),
                 ev.ExecutorHeard(first.executor_id, 125.0))
    assert restored.executors[first.executor_id].registered
    # agent2's executor never comes back: its tasks run again after the adoption window
    fresh.handle(ev.Tick(131.0))
    statuses = {t.task_id: t.status for t in restored.tasks}
    assert all(statuses[i] is Status.RUNNING for i in on_first)
    assert all(statuses[i] is Status.PENDING for i in statuses if i not in on_first)
    assert all(t.attempt == 1 for t in restored.tasks if t.task_id in on_first)
    # an offer from agent1 is declined (its returning executor stands for it), agent2's gets one
    actions = fresh.handle(ev.OffersReceived(pool, (offer("o3", cpus=2), offer("o4", "agent2", cpus=2)), 132.0))
    assert [e.offer.agent_id for e in executors(actions)] == ["A-agent2"]
    state.hosts.clear()  # (the jobs are the fresh state's now)
    state.pools.clear()


def test_an_executor_on_the_data_host_gets_the_tasks_whose_blocks_are_there(state: SchedulerState) -> None:
    from stratosd.core.locality import normalize

    pool = coarse_job(state, locality_wait=60.0)
    state.handle(ev.SubmitRequested(9, "c", "batch", "/", {}, ["a", "b"], 2.0,
                                    [(10, normalize({"agent2": 10})), (10, normalize({"agent1": 10}))]))
    launched = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=1), offer("o2", "agent2", cpus=1)),
                                                       3.0)))
    placed = {}
    for launch in launched:
        for task in of(act.LaunchTask, register(state, pool, launch)):
            placed[task.task_id] = launch.offer.hostname
    assert placed == {0: "agent2", 1: "agent1"}


def test_fine_mode_still_packs_tasks_into_offers(state: SchedulerState) -> None:
    pool = coarse_job(state, mesos_mode="fine")
    submit(state, "c", ["a", "b"])
    actions = state.handle(ev.OffersReceived(pool, (offer("o1", cpus=2),), 3.0))
    assert executors(actions) == [] and [len(a.launches) for a in of(act.AcceptOffer, actions)] == [2]


def test_an_executor_grows_by_a_later_offer_from_its_agent_and_shrinks_when_that_room_goes_unused(
        state: SchedulerState) -> None:
    pool = coarse_job(state, mesos_idle_timeout=10.0)
    submit(state, "c", ["a"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=4),), 3.0)))
    register(state, pool, launch)
    executor_id = launch.executor_id
    host = state.hosts[executor_id]
    assert (host.cpus, host.free_cpus) == (1, 0)
    submit(state, "c", ["b", "c", "d"])
    # the agent offers what is left: the executor grows by a room of three tasks, which run at once
    actions = state.handle(ev.OffersReceived(pool, (offer("o2", cpus=3),), 6.0))
    (grown,) = of(act.GrowExecutor, actions)
    assert (grown.executor_id, grown.room_id, grown.cpus, grown.mem, grown.disk) == (
        executor_id, f"{executor_id}-room-2", 3, 300, 30)
    assert executors(actions) == []
    assert [(t.task_id, t.host_id) for t in of(act.LaunchTask, actions)] == [
        (1, executor_id), (2, executor_id), (3, executor_id)]
    assert (host.cpus, host.free_cpus) == (4, 0)
    # two tasks end: the room is not yet free (tasks still use it), nothing is given back
    end(state, "c", 1)
    end(state, "c", 2)
    assert of(act.ShrinkExecutor, state.handle(ev.Tick(7.0), ev.Tick(30.0))) == []
    end(state, "c", 3)  # now three cores are free and nothing waits: the room is unused from here
    assert of(act.ShrinkExecutor, state.handle(ev.Tick(31.0))) == []
    assert of(act.ShrinkExecutor, state.handle(ev.ExecutorHeard(executor_id, 39.0), ev.Tick(40.0))) == []
    actions = state.handle(ev.ExecutorHeard(executor_id, 41.0), ev.Tick(41.5))
    assert of(act.ShrinkExecutor, actions) == [act.ShrinkExecutor(pool, executor_id, f"{executor_id}-room-2")]
    assert (host.cpus, host.free_cpus) == (1, 0)  # task a still runs in the first room, never given back
    assert state.jobs["c"].tasks[0].status is Status.RUNNING


def test_work_arriving_resets_a_rooms_idle_time(state: SchedulerState) -> None:
    pool = coarse_job(state, mesos_idle_timeout=10.0)
    submit(state, "c", ["a"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=1),), 3.0)))
    register(state, pool, launch)
    submit(state, "c", ["b"])
    (grown,) = of(act.GrowExecutor, state.handle(ev.OffersReceived(pool, (offer("o2", cpus=1),), 4.0)))
    end(state, "c", 1)
    state.handle(ev.ExecutorHeard(launch.executor_id, 5.0), ev.Tick(5.0))  # unused from 5 s
    submit(state, "c", ["c"])  # ... until this task takes it
    state.handle(ev.ExecutorHeard(launch.executor_id, 12.0), ev.Tick(12.0))
    end(state, "c", 2)
    state.handle(ev.ExecutorHeard(launch.executor_id, 14.0), ev.Tick(14.0))  # unused again from 14 s
    assert of(act.ShrinkExecutor, state.handle(ev.ExecutorHeard(launch.executor_id, 20.0), ev.Tick(20.0))) == []
    actions = state.handle(ev.ExecutorHeard(launch.executor_id, 24.5), ev.Tick(24.5))
    assert of(act.ShrinkExecutor, actions) == [act.ShrinkExecutor(pool, launch.executor_id, grown.room_id)]


def test_a_room_mesos_did_not_keep_makes_the_executor_smaller(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=1),), 3.0)))
    register(state, pool, launch)
    submit(state, "c", ["b", "c"])
    (grown,) = of(act.GrowExecutor, state.handle(ev.OffersReceived(pool, (offer("o2", cpus=2),), 4.0)))
    end(state, "c", 1)
    end(state, "c", 2)
    state.handle(ev.ExecutorRoomEnded(pool, launch.executor_id, grown.room_id, 5.0))
    host = state.hosts[launch.executor_id]
    assert (host.cpus, host.free_cpus) == (1, 0)
    assert state.jobs["c"].executors[launch.executor_id].slots == 1


def test_an_executor_that_returned_after_a_restart_is_not_grown(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a", "b"])
    fresh = SchedulerState(validate=True)
    fresh.restore(list(state.jobs.values()), now=3.0)  # the adoption window is open
    # an executor this daemon did not launch registers (its ExecutorInfo is not known here)
    fresh.handle(ev.HostAdded("stratos-1-executor-old", pool, 1, 100, "agent1"),
                 ev.ExecutorHeard("stratos-1-executor-old", 3.0))
    assert "stratos-1-executor-old" in fresh.hosts
    actions = fresh.handle(ev.OffersReceived(pool, (offer("o1", cpus=3),), 3.5))
    assert of(act.GrowExecutor, actions) == [] and executors(actions) == []
    assert of(act.DeclineOffers, actions)


def test_a_lost_executor_frees_its_agent_and_refuses_to_stand_again_if_it_comes_back(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=1),), 3.0)))
    register(state, pool, launch)
    # silent: the core counts it lost (its task runs again), removes its host and forgets it
    state.handle(ev.Tick(100.0))
    job = state.jobs["c"]
    assert launch.executor_id not in state.hosts and job.tasks[0].status is Status.PENDING
    assert job.executors == {}
    (again,) = executors(state.handle(ev.OffersReceived(pool, (offer("o2", cpus=1),), 101.0)))
    assert again.offer.agent_id == "A-agent1"  # its agent gets a new executor
    # the old one calls again: it is told to stop, and what it still holds is killed
    ref = AttemptRef(job.key, 0, 1)
    actions = register(state, pool, launch, now=102.0, holding=(ref,))
    assert of(act.StopExecutor, actions) == [act.StopExecutor(pool, launch.executor_id, ExecutorStopCause.GONE)]
    assert of(act.KillTask, actions) == [act.KillTask(job.key, 0, 1, pool)]
    assert launch.executor_id not in state.hosts and of(act.LaunchTask, actions) == []
    state.handle(ev.PilotJobEnded(launch.executor_id, "its Mesos executor ended (TASK_LOST)", 103.0, pool))
    assert list(job.executors) == [again.executor_id]


def test_an_executor_mesos_reported_lost_before_it_registered_is_not_stood_up(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=1),), 3.0)))
    state.handle(ev.PilotStartFailed(pool, "agent1", "Mesos: TASK_LOST (agent marked gone)", 4.0,
                                     executor_id=launch.executor_id, unusable_agent="A-agent1"))
    actions = register(state, pool, launch, now=4.5)  # its pilot had not reached the daemon yet
    assert of(act.StopExecutor, actions) == [act.StopExecutor(pool, launch.executor_id, ExecutorStopCause.GONE)]
    assert state.jobs["c"].tasks[0].status is Status.PENDING and of(act.LaunchTask, actions) == []
    (again,) = executors(state.handle(ev.OffersReceived(pool, (offer("o2", "agent2", cpus=1),), 5.0)))
    assert [t.host_id for t in of(act.LaunchTask, register(state, pool, again, now=6.0))] == [again.executor_id]


def test_tasks_waiting_for_their_data_host_get_an_executor_there_though_others_have_room(
        state: SchedulerState) -> None:
    from stratosd.core.locality import normalize

    pool = coarse_job(state, locality_wait=600.0)
    state.handle(ev.SubmitRequested(9, "c", "batch", "/", {}, ["a", "b", "c"], 2.0,
                                    [(10, normalize({"agent1": 10})), (10, normalize({"agent1": 10})),
                                     (10, normalize({"agent2": 10}))]))
    # agent1 offers first and takes room for all three (nothing else stands yet) ...
    (first,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=4),), 3.0)))
    assert first.cpus == 3
    placed = {t.task_id for t in of(act.LaunchTask, register(state, pool, first))}
    assert placed == {0, 1}  # c waits for agent2, where its data is, though agent1 has a free slot
    # ... so offers are not suppressed, and agent2's offer gets an executor for c
    actions = state.handle(ev.OffersReceived(pool, (offer("o2", "agent2", cpus=4),), 4.0))
    (second,) = executors(actions)
    assert second.offer.agent_id == "A-agent2" and second.cpus == 1
    assert [t.task_id for t in of(act.LaunchTask, register(state, pool, second))] == [2]
    assert state.jobs["c"].tasks[2].host == "agent2"


def test_an_executor_that_ends_while_offers_are_suppressed_revives_them_for_its_tasks(state: SchedulerState) -> None:
    pool = coarse_job(state)
    submit(state, "c", ["a", "b", "c"])
    (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer("o1", cpus=2),), 3.0)))
    assert of(act.SuppressOffers, state.handle(ev.OffersReceived(pool, (offer("o2", "agent2", cpus=1),), 3.5)))
    register(state, pool, launch)  # a and b run; c is covered by agent2's executor ... which never comes
    actions = state.handle(ev.PilotJobEnded(launch.executor_id, "its Mesos executor ended (TASK_FAILED)", 6.0,
                                            pool))
    assert of(act.ReviveOffers, actions)


def test_a_jobs_mesos_executors_failing_to_start_charge_its_tasks_in_mesos_words(state: SchedulerState) -> None:
    pool = coarse_job(state, max_retries=0)
    submit(state, "c", ["a"])
    for n in range(3):
        (launch,) = executors(state.handle(ev.OffersReceived(pool, (offer(f"o{n}", f"agent{n}"),), 3.0 + n)))
        state.handle(ev.PilotStartFailed(pool, f"agent{n}", "exit 1", 3.5 + n, executor_id=launch.executor_id))
    task = state.jobs["c"].tasks[0]
    assert task.status is Status.LOST
    assert task.reason.startswith("3 Mesos executors in a row ended on agent0, agent1, agent2 before reaching "
                                  "the daemon: exit 1"), task.reason
