"""Coarse-grained Mesos on the real 1.11 master (3 agents of 4 cpus): an executor grows by later
offers of its agent (more Mesos tasks of the same executor, which Mesos adds to its container)
and gives that room back when it goes unused, then leaves whole when idle."""

from __future__ import annotations

from typing import Any

import pytest

from stratos import Processor
from tests.daemon import Daemon, daemon_fixture, wait_for
from tests.realmesos.harness import RealMesos

pytestmark = pytest.mark.mesos

daemon = daemon_fixture("--mesos-idle-teardown", "30")


def framework(real_mesos: RealMesos, name: str) -> dict[str, Any] | None:
    return next((f for f in real_mesos.state()["frameworks"] if f["name"] == name), None)


def executor_tasks(real_mesos: RealMesos, name: str, executor_id: str) -> list[dict[str, Any]]:
    """Every Mesos task (live or completed) of one executor of the job's framework."""
    f = framework(real_mesos, name) or {}
    return [t for t in f.get("tasks", []) + f.get("completed_tasks", []) if t.get("executor_id") == executor_id]


def test_an_executor_grows_with_its_agents_offers_and_gives_the_room_back_when_unused(
        daemon: Daemon, real_mesos: RealMesos) -> None:
    name = "grow-mesos"
    job = Processor(master=real_mesos.url.removeprefix("http://"), job_id=name, mem_per_task=64,
                    disk_per_task=16, mesos_idle_timeout=3)
    s = job.stream(["sleep 60"])
    wait_for(lambda: s.get_status(0) == "running" and s.task(0).started > 0, "the first task to start", 60)
    first = wait_for(lambda: [t for t in (framework(real_mesos, name) or {}).get("tasks", [])
                              if t["state"] == "TASK_RUNNING"], "the first executor to run")
    assert len(first) == 1
    executor_id, agent = first[0]["id"], first[0]["slave_id"]
    assert first[0]["executor_id"] == executor_id and first[0]["resources"]["cpus"] == 1  # sized to one task
    # 12 more tasks: 11 cores are free on the 3 agents, so every offer is taken, the first agent's
    # as a second room of the executor already there
    s.add(["sleep 3"] * 12)
    rooms = wait_for(lambda: (lambda ts: ts if len(ts) >= 2 else None)(
        [t for t in executor_tasks(real_mesos, name, executor_id) if t["state"] == "TASK_RUNNING"]),
        "the executor to grow by a second room", 60)
    assert {t["slave_id"] for t in rooms} == {agent}
    assert sum(t["resources"]["cpus"] for t in rooms) == 4  # its agent's 4 cores, in one executor
    tasks = (framework(real_mesos, name) or {}).get("tasks", [])
    per_agent: dict[str, set[str]] = {}
    for t in tasks:
        per_agent.setdefault(t["slave_id"], set()).add(t["executor_id"])
    assert all(len(ids) == 1 for ids in per_agent.values())  # one executor per agent
    wait_for(lambda: all(s.get_status(i) == "finished" for i in range(1, 13)), "the short tasks", 120)
    # nothing waits, the second room is unused: after mesos_idle_timeout it is given back (killed),
    # while the first room keeps running the long task
    given_back = wait_for(lambda: [t for t in executor_tasks(real_mesos, name, executor_id)
                                   if t["id"] != executor_id and t["state"] == "TASK_KILLED"],
                          "the grown room to be given back", 60)
    assert given_back
    base = [t for t in executor_tasks(real_mesos, name, executor_id) if t["id"] == executor_id]
    assert [t["state"] for t in base] == ["TASK_RUNNING"] and s.get_status(0) == "running"
    assert s.kill(0) == 1
    assert s.wait()
    # idle, the executor leaves whole: its first room ends, its resources go back
    done = wait_for(lambda: [t for t in executor_tasks(real_mesos, name, executor_id)
                             if t["id"] == executor_id and t["state"] != "TASK_RUNNING"],
                    "the executor to leave when idle", 60)
    assert done[0]["state"] == "TASK_FINISHED"
    assert s.get_status(0) == "killed" and all(s.get_status(i) == "finished" for i in range(1, 13))
