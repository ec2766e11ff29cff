"""Pilots where the data is (issue 18, item 3): a Slurm pool's demand names the hosts holding the
largest shares of its pending tasks' data, summed over its jobs, without the hosts where a pilot of
the pool has room for them, with the longest locality_wait of those jobs; and on a shared pool each
pilot takes the tasks whose data is on its node (delay scheduling across the pool's jobs)."""

from __future__ import annotations

import itertools
from typing import Any

from stratosd.core import actions as act
from stratosd.core import events as ev
from stratosd.core.model import JobSpec
from stratosd.core.placement import WANTED_HOSTS
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolId, PoolKind
from tests.core.helpers import end, launches, of, reply

_ids = itertools.count(9100)


def slurm_job(state: SchedulerState, name: str, **spec: Any) -> PoolId:
    reply(state.handle(ev.CreateJobRequested(next(_ids), name, JobSpec(master="slurm", **spec), PoolKind.SLURM,
                                             1.0, token=f"tok-{name}")))
    return state.jobs[name].pool


def marked(state: SchedulerState, name: str, where: list[dict[str, int]], now: float = 2.0,
           plain: int = 0) -> list[act.Action]:
    """One task per entry, reading a file whose bytes the hosts hold as given; ``plain`` unmarked ones."""
    commands = [f"wc <[/dfs/{name}/{i}]>" for i in range(len(where))] + [f"echo {i}" for i in range(plain)]
    locality = [(sum(hb.values()), tuple(sorted(hb.items(), key=lambda x: (-x[1], x[0])))) for hb in where]
    locality += [(0, ())] * plain
    return state.handle(ev.SubmitRequested(next(_ids), name, "batch", "/tmp", {}, commands, now, locality))


def demand(actions: list[act.Action]) -> act.PoolDemand:
    told = of(act.PoolDemand, actions)
    assert told, actions
    return told[-1]


def test_the_demand_names_the_hosts_with_the_largest_pending_shares_summed_over_the_pools_jobs(
        state: SchedulerState) -> None:
    pool = slurm_job(state, "a", locality_wait=3.0)
    slurm_job(state, "b", locality_wait=7.0)
    told = demand(marked(state, "a", [{"h1": 10}, {"h1": 10}, {"h2": 10, "h1": 4}], plain=2))
    assert (told.pool, told.pending, told.hosts, told.locality_wait) == (pool, 5, (("h1", 2), ("h2", 1)), 3.0)
    # b's tasks join the sum (a task on two hosts equally counts for both); its longer wait wins
    told = demand(marked(state, "b", [{"h2": 5}, {"h2": 5}, {"h3": 9, "h2": 9}]))
    assert told.hosts == (("h2", 4), ("h1", 2), ("h3", 1)) and told.locality_wait == 7.0


def test_a_pilot_with_room_on_a_wanted_host_takes_its_tasks_and_the_host_leaves_the_demand(
        state: SchedulerState) -> None:
    pool = slurm_job(state, "a", locality_wait=3.0)
    marked(state, "a", [{"h1": 10}] * 3 + [{"h2": 10}])
    # a one-core pilot on h1: it takes one of h1's tasks; h1 still wants a pilot for the other two
    actions = state.handle(ev.HostAdded("slurm-1", pool, 1, 4096, "h1"))
    assert [(a.host_id, a.task_id) for a in launches(actions)] == [("slurm-1", 0)]
    assert demand(actions).hosts == (("h1", 2), ("h2", 1))
    # a two-core pilot on h2 takes h2's task and has room left: h2 leaves the demand
    actions = state.handle(ev.HostAdded("slurm-2", pool, 2, 4096, "h2"))
    assert [(a.host_id, a.task_id) for a in launches(actions)] == [("slurm-2", 3)]
    assert demand(actions).hosts == (("h1", 2),)
    # h1's pilot finishes its task and takes the next of h1's
    actions = end(state, "a", 0)
    assert [(a.host_id, a.task_id) for a in launches(actions)] == [("slurm-1", 1)]
    assert demand(actions).hosts == (("h1", 1),)


def test_tasks_that_gave_up_waiting_and_ran_elsewhere_leave_the_demand(state: SchedulerState) -> None:
    pool = slurm_job(state, "a", locality_wait=3.0)
    state.handle(ev.HostAdded("slurm-1", pool, 1, 4096, "h2"))
    assert demand(marked(state, "a", [{"h1": 10}, {"h1": 10}])).hosts == (("h1", 2),)
    actions = state.handle(ev.Tick(6.0))  # waited locality_wait: h2's pilot takes one, the other waits on
    assert [(a.host_id, a.task_id) for a in launches(actions)] == [("slurm-1", 0)]
    assert demand(actions).hosts == (("h1", 1),)
    told = demand(end(state, "a", 0))  # nothing waits near h1 any more: the demand names no host
    assert told.pending == 0 and told.hosts == () and told.locality_wait == 0.0


def test_held_jobs_unmarked_tasks_and_a_restart_keep_the_counts_exact() -> None:
    state = SchedulerState(validate=True)
    pool = slurm_job(state, "first")
    slurm_job(state, "then", after="first")
    marked(state, "first", [], plain=1)
    actions = marked(state, "then", [{"h4": 3}])  # held until "first" ends: no pilot for it
    assert all(t.hosts == () for t in of(act.PoolDemand, actions)) and state.demand[pool][3] == ()
    assert state.jobs["then"].local_pending == {"h4": 1}
    restored = SchedulerState(validate=True)
    restored.restore(list(state.jobs.values()))  # the per-host counts are rebuilt from the journal's tasks
    assert restored.jobs["then"].local_pending == {"h4": 1}
    restored.handle(ev.HostAdded("slurm-9", pool, 1, 4096, "h8"))
    end(restored, "first", 0)
    actions = restored.handle(ev.CloseStreamRequested(next(_ids), "first"))
    assert demand(actions).hosts == (("h4", 1),)  # released: its task wants h4, where no pilot stands


def test_the_demand_names_at_most_wanted_hosts_of_the_largest_shares(state: SchedulerState) -> None:
    slurm_job(state, "a")
    where = [{f"n{i:03d}": 10} for i in range(WANTED_HOSTS + 8)] + [{"n999": 10}] * 2
    told = demand(marked(state, "a", where))
    assert len(told.hosts) == WANTED_HOSTS and told.hosts[0] == ("n999", 2)


def test_mesos_pools_have_no_wanted_hosts(state: SchedulerState) -> None:
    reply(state.handle(ev.CreateJobRequested(next(_ids), "m", JobSpec(master="h:5050"), PoolKind.MESOS, 1.0,
                                             own_pool=True)))
    told = of(act.PoolDemand, marked(state, "m", [{"h1": 10}]))
    assert all(t.hosts == () for t in told)


def test_on_a_shared_pool_each_pilot_takes_the_tasks_whose_data_is_on_its_node(state: SchedulerState) -> None:
    """Two jobs with files on three nodes, pilots coming up one by one: every launch is data-local
    (delay scheduling holds across the jobs of a shared pool)."""
    pool = slurm_job(state, "a", locality_wait=30.0)
    slurm_job(state, "b", locality_wait=30.0)
    marked(state, "a", [{"h1": 1}, {"h2": 1}, {"h3": 1}] * 2)
    marked(state, "b", [{"h3": 1}, {"h2": 1}, {"h1": 1}] * 2)
    names = {j.key: j.name for j in state.jobs.values()}
    wants = {(name, i): f"h{i % 3 + 1}" if name == "a" else f"h{3 - i % 3}" for name in "ab" for i in range(6)}
    placed: dict[tuple[str, int], str] = {}
    hosts = {"slurm-1": "h2", "slurm-2": "h3", "slurm-3": "h1"}
    for n, (pilot, host) in enumerate(hosts.items()):
        actions = state.handle(ev.HostAdded(pilot, pool, 2, 4096, host), ev.Tick(3.0 + n))
        placed.update({(names[a.job_key], a.task_id): hosts[a.host_id] for a in launches(actions)})
    for now in range(10, 30):
        for (name, task_id), _ in list(placed.items()):
            if state.jobs[name].tasks[task_id].status.value == "running":
                actions = end(state, name, task_id)
                placed.update({(names[a.job_key], a.task_id): hosts[a.host_id] for a in launches(actions)})
        state.handle(ev.Tick(float(now)))
    assert placed == wants


def test_tasks_wait_past_their_locality_wait_for_a_pilot_on_its_way_to_their_data(state: SchedulerState) -> None:
    """A pilot asked of h1 that has not registered yet (PilotsComing): h1's tasks wait for it rather than
    run on h2's idle pilot once their locality_wait is up; when it is no longer coming (its backend gave
    up on the node), they run on h2."""
    pool = slurm_job(state, "a", locality_wait=3.0)
    marked(state, "a", [{"h1": 10}, {"h1": 10}, {"h2": 10}])
    state.handle(ev.PilotsComing(pool, frozenset({"h1", "10.0.0.1"})))
    actions = state.handle(ev.HostAdded("slurm-2", pool, 2, 4096, "h2"))
    assert [(a.host_id, a.task_id) for a in launches(actions)] == [("slurm-2", 2)]
    end(state, "a", 2)
    assert launches(state.handle(ev.Tick(30.0))) == []  # waited 28 s, past locality_wait: h1's pilot is coming
    actions = state.handle(ev.PilotsComing(pool, frozenset()))
    assert [(a.host_id, a.task_id) for a in launches(actions)] == [("slurm-2", 0), ("slurm-2", 1)]


def test_a_pilot_coming_elsewhere_does_not_hold_tasks_back(state: SchedulerState) -> None:
    pool = slurm_job(state, "a", locality_wait=3.0)
    marked(state, "a", [{"h1": 10}])
    state.handle(ev.PilotsComing(pool, frozenset({"h3"})))
    state.handle(ev.HostAdded("slurm-2", pool, 1, 4096, "h2"))
    assert [(a.host_id, a.task_id) for a in launches(state.handle(ev.Tick(6.0)))] == [("slurm-2", 0)]


def test_a_pool_left_by_its_last_job_forgets_where_pilots_were_coming(state: SchedulerState) -> None:
    pool = slurm_job(state, "a", locality_wait=3.0)
    marked(state, "a", [{"h1": 10}])
    state.handle(ev.PilotsComing(pool, frozenset({"h1"})))
    reply(state.handle(ev.CancelRequested(next(_ids), "a", None)))
    assert pool in state.coming  # the job is still there
    reply(state.handle(ev.RemoveJobRequested(next(_ids), "a")))
    assert pool not in state.coming
