"""How many Slurm pilot jobs a job asks for, and how big: pure rules, no Slurm needed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stratos.errors import InvalidJobSpec
from stratosd import daemon_settings
from stratosd.backends.slurm import log_tail, partition_of, pilot_size, pilots_to_submit
from stratosd.core.model import JobSpec


@pytest.mark.parametrize(("pending", "running", "slots", "pilots", "max_pilots", "more"), [
    (0, 5, 1, 0, 4, 0),     # nothing waits: no pilot, whatever runs
    (1, 0, 1, 0, 4, 1),
    (10, 0, 2, 0, 4, 4),    # capped by max_pilots
    (3, 0, 2, 0, 4, 2),     # 3 tasks, 2 per pilot
    (2, 2, 2, 2, 4, 0),     # the pilots there hold every task
    (5, 3, 1, 4, 4, 0),     # at the cap already
    (1, 0, 1, 6, 4, 0),     # over the cap (max lowered): never negative
])
def test_pilots_are_added_while_tasks_wait_up_to_max_pilots(
        pending: int, running: int, slots: int, pilots: int, max_pilots: int, more: int) -> None:
    assert pilots_to_submit(pending, running, slots, pilots, max_pilots) == more


def test_a_pilot_is_sized_from_the_job() -> None:
    def size(**spec: float) -> tuple[int, int, int]:
        return pilot_size(JobSpec(master="slurm", **spec))  # type: ignore[arg-type]

    assert size(cpus=1, mem=256) == (1, 256, 1)
    assert size(cpus=1, mem=256, pilot_cpus=4) == (4, 1024, 4)
    assert size(cpus=2, mem=100, pilot_cpus=5, pilot_mem=3000) == (5, 3000, 2)
    assert size(cpus=3, mem=100, pilot_cpus=2) == (2, 100, 1)  # a task bigger than the pilot: one at a time


def test_the_partition_comes_from_the_master() -> None:
    assert partition_of("slurm://debug") == "debug" and partition_of("slurm") == ""


def test_a_pilots_log_tail_is_its_last_lines_on_one_line(tmp_path: Path) -> None:
    log = tmp_path / "pilot.log"
    log.write_text("start\n\nline two\nsh: 1: exec: /x/stratos-executor: not found\n")
    assert log_tail(log, lines=2) == "line two | sh: 1: exec: /x/stratos-executor: not found"
    assert log_tail(tmp_path / "missing.log") == ""
    log.write_text("x" * 1000)
    assert log_tail(log, limit=10) == "..." + "x" * 10


def test_pilot_failures_before_lost_is_a_daemon_setting() -> None:
    assert daemon_settings.parse({"stratosd": {"pilot_failures_before_lost": 5}}) == {"pilot_failures_before_lost": "5"}
    for bad in (0, "3", True, 1.5):
        with pytest.raises(InvalidJobSpec, match="pilot_failures_before_lost must be a whole number"):
            daemon_settings.parse({"stratosd": {"pilot_failures_before_lost": bad}})


class NoMeta:
    def meta(self, job_key: int, key: str) -> str | None:
        return None

    def set_meta(self, job_key: int, key: str, value: str | None) -> None:
        pass


def test_pilot_jobs_are_submitted_for_the_cores_demand_with_the_grants_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter reads no job: the grant (ReviveOffers) and the demand (PoolDemand) are all it knows."""
    from stratosd.backends import slurm
    from stratosd.backends.pilots import PilotsBackend
    from stratosd.core.actions import PoolGrant

    calls: list[tuple[list[str], dict[str, str]]] = []

    async def fake_run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
        calls.append((argv, env or {}))
        return 0, f"{100 + len(calls)};cluster\n", ""

    monkeypatch.setattr(slurm, "_run", fake_run)

    async def scenario() -> None:
        backend = slurm.SlurmBackend(PilotsBackend(lambda e: None), meta=NoMeta(), executor_address="h:1",
                                     log_dir=tmp_path)
        grant = PoolGrant("j", "tok", JobSpec(master="slurm://debug", cpus=1, mem=100, pilot_cpus=2, max_pilots=3))
        backend.revive("slurm:5", grant)
        state = backend.pools["slurm:5"]
        await backend._supply(state)
        assert calls == []  # no demand told yet: nothing waits
        backend.demand("slurm:5", 5, 0)
        await backend._supply(state)
        assert len(calls) == 3  # 5 tasks, 2 per pilot, at most 3 pilots
        argv, env = calls[0]
        assert "--job-name=stratos-j" in argv and "--cpus-per-task=2" in argv and "--mem=200" in argv
        assert "--partition=debug" in argv and env["STRATOS_TOKEN"] == "tok"
        backend.demand("slurm:5", 0, 2)
        await backend._supply(state)
        assert len(calls) == 3  # running tasks alone ask for no more pilots
        backend.demand("slurm:6", 9, 0)  # a pool it was never asked to open: ignored
        assert "slurm:6" not in backend.pools

    asyncio.run(scenario())


def test_a_registered_pilot_whose_slurm_job_ended_is_reported_to_the_core(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stratosd.backends import slurm
    from stratosd.backends.pilots import PilotsBackend
    from stratosd.core.events import Event, ExecutorHeard, HostAdded, PilotJobEnded

    async def squeue_lists_nothing(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
        return 0, "", ""

    monkeypatch.setattr(slurm, "_run", squeue_lists_nothing)
    events: list[Event] = []

    async def scenario() -> None:
        pilots = PilotsBackend(events.append)
        backend = slurm.SlurmBackend(pilots, meta=NoMeta(), executor_address="h:1", log_dir=tmp_path)
        backend.revive("slurm:5")
        backend.pools["slurm:5"].pilots["77"] = "RUNNING"
        pilots.register(5, "slurm:5", "slurm-77", "n1", 1, 100)
        await backend._poll()
        assert pilots.pilot("slurm-77") is None and backend.pools["slurm:5"].pilots == {}

    asyncio.run(scenario())
    told = [e for e in events if not isinstance(e, ExecutorHeard)]
    assert [type(e) for e in told] == [HostAdded, PilotJobEnded]
    ended = told[1]
    assert isinstance(ended, PilotJobEnded) and ended.host_id == "slurm-77"
    assert ended.detail == "its Slurm job 77 ended (gone)"


def test_a_shared_pool_submits_pool_pilots_for_its_summed_demand_and_never_counts_a_lost_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared pool's pilots run `--pool POOL` with a one-time bootstrap (no job token), are sized by the
    core's demand for the whole pool and its max_pilots, scancel the queued ones once nothing waits, and
    a pilot the core counted lost leaves room for another."""
    from stratosd.backends import slurm
    from stratosd.backends.pilots import PilotsBackend
    from stratosd.core.actions import PoolGrant
    from stratosd.core.types import ExecutorStopCause
    from stratosd.enroll import Enrollment

    calls: list[tuple[list[str], dict[str, str]]] = []
    ids = iter(range(101, 200))

    async def fake_run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
        calls.append((argv, env or {}))
        return 0, f"{next(ids)};cluster\n", ""

    monkeypatch.setattr(slurm, "_run", fake_run)
    pool = "slurm/debug,1c,100M"

    async def scenario() -> None:
        pilots = PilotsBackend(lambda e: None)
        backend = slurm.SlurmBackend(pilots, meta=NoMeta(), executor_address="h:1", log_dir=tmp_path,
                                     enrollment=Enrollment(tmp_path), idle_release=30.0)
        backend.revive(pool, PoolGrant("j", "tok", JobSpec(master="slurm://debug", cpus=1, mem=100, max_pilots=1), 7))
        state = backend.pools[pool]
        backend.demand(pool, 3, 0, 2)  # the pool allows 2 (the largest of its jobs'), not the grant's 1
        await backend._supply(state)
        assert len(calls) == 2
        argv, env = calls[0]
        wrap = argv[-1]
        assert f"--pool {pool}" in wrap and "--job" not in wrap and "--idle-timeout 300" in wrap
        assert "STRATOS_TOKEN" not in env and env["STRATOS_BOOTSTRAP"].startswith("a.")
        assert "--job-name=stratos-pool-debug_1c_100M" in argv
        assert backend.pilot_counts(7) == (2, 0)  # a job of the pool sees the pool's pilots
        # one registers, then falls silent: the core stops it (lost); Slurm still lists it running
        pilots.register_pool(pool, "slurm-101", "n1", 1, 100)
        state.pilots["101"] = "RUNNING"
        pilots.stop_executor("slurm-101", ExecutorStopCause.SILENT)
        calls.clear()
        await backend._supply(state)
        assert len(calls) == 1 and calls[0][0][0] == "sbatch"  # room for one more: the lost one serves nothing
        backend.demand(pool, 0, 0, 2)  # nothing waits: the pilot jobs still queued go
        calls.clear()
        await backend._supply(state)
        assert calls and calls[0][0][0] == "scancel" and sorted(calls[0][0][1:]) == ["102", "103"]
        assert sorted(state.pilots) == ["101"]

    asyncio.run(scenario())


def test_a_pilot_the_core_counted_lost_has_its_slurm_job_scancelled_an_idle_one_stops_by_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost pilot would hold (and be charged for) its allocation until its time limit."""
    from stratosd.backends import slurm
    from stratosd.backends.pilots import PilotRetired, PilotsBackend
    from stratosd.core.types import ExecutorStopCause

    calls: list[list[str]] = []

    async def fake_run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
        calls.append(argv)
        return 0, "", ""

    monkeypatch.setattr(slurm, "_run", fake_run)

    async def scenario() -> None:
        pilots = PilotsBackend(lambda e: None)
        backend = slurm.SlurmBackend(pilots, meta=NoMeta(), executor_address="h:1", log_dir=tmp_path)
        backend.revive("slurm:5")
        backend.pools["slurm:5"].pilots.update({"77": "RUNNING", "78": "RUNNING"})
        pilots.register(5, "slurm:5", "slurm-77", "n1", 1, 100)
        pilots.register(5, "slurm:5", "slurm-78", "n2", 1, 100)
        backend.stop_executor("slurm-78", ExecutorStopCause.IDLE)  # told to stop: it exits, its job ends
        backend.stop_executor("slurm-77", ExecutorStopCause.SILENT)
        backend.stop_executor("slurm-99", ExecutorStopCause.SILENT)  # not a pilot job of any pool: nothing
        for _ in range(3):
            await asyncio.sleep(0)
        assert calls == [["scancel", "77"]]
        assert pilots.pilot("slurm-77") is None
        # woken by the cancel (SIGCONT), it may call before it dies: refused, it would take tasks it cannot finish
        with pytest.raises(PilotRetired, match="Slurm job 77 is cancelled"):
            pilots.register(5, "slurm:5", "slurm-77", "n1", 1, 100)
        pilots.register(5, "slurm:5", "slurm-78", "n2", 1, 100)  # an idle-stopped one is not refused

    asyncio.run(scenario())


SCONTROL_NODES = (
    "NodeName=n01 Arch=x86_64 CoresPerSocket=1 CPUAlloc=0 CPUTot=2 NodeAddr=10.1.0.11 "
    "NodeHostName=node01.cluster.example Version=22.05 OS=Linux 6.1.0 #1 SMP RealMemory=1024 "
    "State=IDLE Partitions=batch,debug CfgTRES=cpu=2,mem=1G,billing=2\n"
    "NodeName=n02 Arch=x86_64 NodeAddr=10.1.0.12 NodeHostName=node02 State=MIXED Partitions=batch\n"
    "NodeName=gpu1 NodeAddr=gpu1 NodeHostName=gpu1 State=IDLE Partitions=gpu\n"
)


def test_hosts_are_mapped_to_slurm_node_names_by_name_host_name_and_address() -> None:
    from stratosd.backends.slurm import node_names

    every = node_names(SCONTROL_NODES)
    assert every["node01"] == every["10.1.0.11"] == every["n01"] == "n01"  # HDFS may name it any of these
    assert every["node02"] == "n02" and every["gpu1"] == "gpu1"
    debug = node_names(SCONTROL_NODES, "debug")
    assert set(debug.values()) == {"n01"}  # --nodelist outside the job's partition is refused: left out
    assert node_names("", "debug") == {} and node_names("garbage without fields\n") == {}


def test_pilots_are_asked_of_the_largest_shares_known_nodes_not_taken_each_once() -> None:
    from stratosd.backends.slurm import nodes_to_ask

    nodes = {"h1": "n1", "h2": "n2", "h3": "n3", "10.0.0.2": "n2"}
    wanted = (("h2", 9), ("hdfs-only", 7), ("10.0.0.2", 5), ("h1", 4), ("h3", 1))
    assert nodes_to_ask(wanted, nodes, set(), 5) == ["n2", "n1", "n3"]  # the rest of the 5: anywhere
    assert nodes_to_ask(wanted, nodes, {"n2"}, 5) == ["n1", "n3"]
    assert nodes_to_ask(wanted, nodes, set(), 1) == ["n2"]
    assert nodes_to_ask((), nodes, set(), 3) == [] and nodes_to_ask(wanted, {}, set(), 3) == []


def test_pilots_go_to_the_data_nodes_and_fall_back_to_any_node_after_the_node_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sbatch --nodelist=NODE for the nodes holding the largest pending shares (mapped through scontrol),
    one per node (none where a pilot of the pool stands), the core told where they are coming until
    they register or are given up; one still queued after the node wait is scancelled and replaced by
    a pilot on any node, and its node is not asked for again meanwhile; a node Slurm refuses: any node
    at once."""
    from stratosd.backends import slurm
    from stratosd.backends.pilots import PilotsBackend
    from stratosd.core.actions import PoolGrant
    from stratosd.core.events import Event, PilotsComing
    from stratosd.enroll import Enrollment

    calls: list[list[str]] = []
    ids = iter(range(201, 300))
    refuse = {"--nodelist=n03"}

    async def fake_run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
        calls.append(argv)
        if argv[:3] == ["scontrol", "show", "nodes"]:
            return 0, SCONTROL_NODES.replace("gpu1", "n03").replace("Partitions=gpu", "Partitions=batch"), ""
        if argv[0] == "sbatch" and refuse & set(argv):
            return 1, "", "sbatch: error: Required node not available (down, drained or reserved)"
        return 0, f"{next(ids)};cluster\n" if argv[0] == "sbatch" else "", ""

    def nodelists(argv_list: list[list[str]]) -> list[str]:
        return [next((a for a in argv if a.startswith("--nodelist=")), "any") for argv in argv_list
                if argv[0] == "sbatch"]

    monkeypatch.setattr(slurm, "_run", fake_run)
    pool = "slurm/batch,2c,512M"

    coming: list[frozenset[str]] = []

    def told(event: Event) -> None:
        if isinstance(event, PilotsComing):
            coming.append(event.hosts)

    async def scenario() -> None:
        pilots = PilotsBackend(told)
        backend = slurm.SlurmBackend(pilots, meta=NoMeta(), executor_address="h:1", log_dir=tmp_path,
                                     enrollment=Enrollment(tmp_path), node_wait=0.3)
        backend.revive(pool, PoolGrant("j", "tok", JobSpec(master="slurm://batch", cpus=1, mem=256, pilot_cpus=2), 7))
        state = backend.pools[pool]
        # 7 tasks: 4 on node01 (by its host name), 2 on 10.1.0.12 (n02's address), 1 on a host Slurm lacks
        backend.demand(pool, 7, 0, 3, (("node01", 4), ("10.1.0.12", 2), ("hdfs-only", 1)), 0.1)
        await backend._supply(state)
        assert nodelists(calls) == ["--nodelist=n01", "--nodelist=n02", "any"]  # 3 pilots (max), 2 placed
        assert [a for a in calls if a[0] == "scontrol"] == [["scontrol", "show", "nodes", "-o"]]
        assert calls[1][-1].startswith("--wrap=") and "--nodelist=n01" in calls[1]
        assert {node for node, _ in state.pinned.values()} == {"n01", "n02"}
        # the core is told where those pilots are coming (each node by its every canonical name), once
        backend._tell_coming(state)
        backend._tell_coming(state)
        assert coming == [frozenset({"n01", "node01", "10.1.0.11",
                                     "n02", "node02", "10.1.0.12"})]
        # n01's pilot starts and registers; n02's stays queued (its node busy)
        state.pilots["201"] = "RUNNING"
        pilots.register_pool(pool, "slurm-201", "node01", 2, 512)
        backend._tell_coming(state)
        assert coming[-1] == frozenset({"n02", "node02", "10.1.0.12"})
        # had Slurm started n02's and its pilot not registered within the node wait: not waited for
        since = state.pinned["202"][1]
        state.pilots["202"], state.pinned["202"] = "RUNNING", ("n02", since - 1.0)
        backend._tell_coming(state)
        assert coming[-1] == frozenset()
        state.pilots["202"], state.pinned["202"] = "PENDING", ("n02", since)
        backend._tell_coming(state)
        assert coming[-1] == frozenset({"n02", "node02", "10.1.0.12"})
        backend.demand(pool, 5, 2, 3, (("10.1.0.12", 2), ("node01", 2), ("hdfs-only", 1)), 0.1)  # n01's busy
        calls.clear()
        await backend._supply(state)
        assert calls == []  # within the node wait: nothing more
        await asyncio.sleep(0.35)
        await backend._supply(state)
        assert calls[0] == ["scancel", "202"] and nodelists(calls) == ["any"]
        assert "202" not in state.pilots and list(state.unavailable) == ["n02"] and state.pinned == {}
        backend._tell_coming(state)
        assert coming[-1] == frozenset()  # n02's tasks no longer wait for a pilot there
        # n02's tasks still want it, but it is not asked for again within the wait
        backend.demand(pool, 5, 2, 4, (("10.1.0.12", 2),), 0.1)
        calls.clear()
        await backend._supply(state)
        assert nodelists(calls) == ["any"]
        # after it, n02 may be asked again; a node Slurm refuses is replaced at once by any node
        await asyncio.sleep(0.35)
        assert len(state.pilots) == 4  # 201 (registered), 203 (any node), 204 (202's replacement), 205
        backend.demand(pool, 9, 2, 7, (("node01", 3), ("10.1.0.12", 2), ("n03", 1)), 0.1)
        calls.clear()
        await backend._supply(state)  # 2 more: none asked of n01, where a pilot of the pool stands
        assert nodelists(calls) == ["--nodelist=n02", "--nodelist=n03", "any"]
        assert "n03" in state.unavailable and {node for node, _ in state.pinned.values()} == {"n02"}

    asyncio.run(scenario())


def test_the_jobs_longer_locality_wait_stretches_the_node_wait(tmp_path: Path) -> None:
    from stratosd.backends import slurm
    from stratosd.backends.pilots import PilotsBackend

    backend = slurm.SlurmBackend(PilotsBackend(lambda e: None), meta=NoMeta(), executor_address="h:1",
                                 log_dir=tmp_path, node_wait=20.0)
    state = slurm.PilotPool(None, "slurm/x,1c,1M")
    state.locality_wait = 3.0
    assert backend._node_wait(state) == 20.0
    state.locality_wait = 90.0
    assert backend._node_wait(state) == 90.0
    assert daemon_settings.parse({"stratosd": {"slurm_node_wait": 5}}) == {"slurm_node_wait": "5.0"}
    assert daemon_settings.from_flag("slurm_node_wait", "2.5") == "2.5"
    with pytest.raises(InvalidJobSpec, match="slurm_node_wait must be"):
        daemon_settings.parse({"stratosd": {"slurm_node_wait": -1}})


def test_a_new_pool_object_tells_the_core_where_pilots_are_coming_even_when_nowhere(tmp_path: Path) -> None:
    """After a release (or a restart) the backend's pool starts afresh: its first word replaces
    whatever the core last heard for that pool, so no task waits for a pilot nobody asked for."""
    from stratosd.backends import slurm
    from stratosd.backends.pilots import PilotsBackend
    from stratosd.core.events import Event, PilotsComing
    from stratosd.enroll import Enrollment

    told: list[Event] = []
    backend = slurm.SlurmBackend(PilotsBackend(told.append), meta=NoMeta(), executor_address="h:1",
                                 log_dir=tmp_path, enrollment=Enrollment(tmp_path))
    state = backend._pool("slurm/batch,2c,512M")
    assert state is not None
    backend._tell_coming(state)
    backend._tell_coming(state)
    assert told == [PilotsComing("slurm/batch,2c,512M", frozenset())]
