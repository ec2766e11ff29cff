"""StratOS's Mesos backend against the real Mesos 1.11 master (3 agents), end to end."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from stratos import Processor
from tests.daemon import Daemon, daemon_fixture, wait_for
from tests.realmesos.coarse import frameworks, master
from tests.realmesos.harness import RealMesos

pytestmark = pytest.mark.mesos

ROOT = Path(__file__).resolve().parents[2]
GSNAP = ROOT / "examples" / "bin" / "gsnap"
SNAPSHOTS = ROOT / "examples" / "data" / "snapshots"


daemon = daemon_fixture("--mesos-idle-teardown", "1")





def test_seed_batch_example_gives_the_local_backends_results(daemon: Daemon, real_mesos: RealMesos) -> None:
    local = Processor(job_id="seed-local")
    local.glob_batch(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_2*")
    expected = local.get_results()
    job = Processor(master=master(real_mesos), job_id="seed-mesos", threads_per_task=1, mem_per_task=128)
    counts = job.glob_batch(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_2*")
    assert counts["finished"] == 20
    assert job.get_results() == expected
    # the job ran as its own framework, named by its job id; TEARDOWN on completion
    live, done = wait_for(lambda: (lambda f: f if f[1] else None)(frameworks(real_mesos, "seed-mesos")),
                          "the framework to complete")
    assert live == [] and len(done) == 1
    # coarse-grained (the default): the Mesos tasks are the job's executors, at most one per agent
    executors = done[0].get("completed_tasks", [])
    assert 1 <= len(executors) <= 3 and {t["name"] for t in executors} == {"seed-mesos executor"}
    assert len({t["slave_id"] for t in executors}) == len(executors)


def test_coarse_executors_exit_when_the_framework_is_torn_down(daemon: Daemon, real_mesos: RealMesos) -> None:
    """Executors that would idle for ten minutes still end with their job's framework (TEARDOWN)."""
    job = Processor(master=master(real_mesos), job_id="teardown-mesos", mem_per_task=64, mesos_idle_timeout=600)
    assert job.batch([f"echo {i}" for i in range(8)])["finished"] == 8
    live, done = wait_for(lambda: (lambda f: f if f[1] else None)(frameworks(real_mesos, "teardown-mesos")),
                          "the framework to be torn down (--mesos-idle-teardown 1)")
    assert live == []
    executors = done[0].get("completed_tasks", [])
    assert executors and {t["state"] for t in executors} == {"TASK_KILLED"}, executors  # ended by the TEARDOWN


def test_stream_templates_and_disk_output_through_mesos(daemon: Daemon, real_mesos: RealMesos,
                                                        tmp_path: Path) -> None:
    job = Processor(master=master(real_mesos), job_id="stream-mesos", mem_per_task=128, output="disk",
                    log_directory=str(tmp_path / "logs"))
    job.template_stream("echo %c% %c%", ["a, 1", "b, 2"])
    job.stream(["echo three >&2"])
    assert job.wait()
    assert (tmp_path / "logs" / "stream-mesos" / "0.stdout").read_text() == "a 1\n"
    assert (tmp_path / "logs" / "stream-mesos" / "2.stderr").read_text() == "three\n"
    info = job.stream.task(1)
    assert info.task.status == "finished" and info.task.host  # the agent's host name


def test_the_job_is_a_live_framework_while_it_runs_and_kill_gives_task_killed(
        daemon: Daemon, real_mesos: RealMesos) -> None:
    job = Processor(master=master(real_mesos), job_id="kill-mesos", mem_per_task=128, mesos_mode="fine")
    s = job.stream(["sleep 60", "echo fine"])
    live = wait_for(lambda: frameworks(real_mesos, "kill-mesos")[0], "the framework to subscribe")
    assert live[0]["active"]
    wait_for(lambda: s.get_status(0) == "running" and s.task(0).started > 0, "task 0 to start")
    assert s.kill(0) == 1
    assert job.wait()
    assert s.get_status(0) == "killed" and job.get_results() == ["fine\n"]
    _, done = wait_for(lambda: (lambda f: f if f[1] else None)(frameworks(real_mesos, "kill-mesos")),
                       "the framework to complete")
    states = {t["name"]: t["state"] for t in done[0].get("completed_tasks", [])}
    assert states["kill-mesos:0"] == "TASK_KILLED"


def test_daemon_kill9_mid_job_resubscribes_and_delivers_every_result_once(
        daemon: Daemon, real_mesos: RealMesos, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    job = Processor(master=master(real_mesos), job_id="failover", mem_per_task=128)
    commands = [f"echo start >> {runs}/{i}; sleep 2; echo out{i}" for i in range(6)]
    job.stream(commands)
    wait_for(lambda: job.stream.count_running_tasks() >= 3, "tasks to run")
    framework_id = frameworks(real_mesos, "failover")[0][0]["id"]
    daemon.kill9()
    daemon.start()  # same state dir: the journal knows the framework id
    again = Processor.attach("failover")
    assert again.wait()
    results = again.get_results()
    assert sorted(results) == sorted(f"out{i}\n" for i in range(6))  # every result, once
    for i in range(6):  # and no task ran twice: the running ones were adopted, not rerun
        assert (runs / str(i)).read_text() == "start\n", i
    _, done = wait_for(lambda: (lambda f: f if f[1] else None)(frameworks(real_mesos, "failover")),
                          "the framework to complete")
    assert done[0]["id"] == framework_id  # the same framework, re-subscribed


def test_stratosctl_shows_mesos_tasks(daemon: Daemon, real_mesos: RealMesos) -> None:
    import os
    import sys

    job = Processor(master=master(real_mesos), job_id="ctl-mesos", mem_per_task=128)
    job.batch(["echo via-mesos"])
    out = subprocess.run([sys.executable, "-m", "stratos.ctl", "task", "ctl-mesos", "0"],
                         env=dict(os.environ, **daemon.env), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "finished" in out.stdout


def test_kill9_at_random_points_on_mesos_loses_nothing_and_repeats_nothing(
        daemon: Daemon, real_mesos: RealMesos, tmp_path: Path) -> None:
    import random

    from stratos.errors import DaemonUnavailable

    rng = random.Random(11)
    total = 16
    Processor(master=master(real_mesos), job_id="mesos-chaos", mem_per_task=128).stream(
        [f"echo start >> {tmp_path}/{i}; sleep {rng.uniform(2, 5):.2f}; echo end >> {tmp_path}/{i}; echo o{i}"
         for i in range(total)])
    received: list[str] = []
    crashes = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.3, 1.0))
        try:
            job = Processor.attach("mesos-chaos")
            received += job.get_results()
            if job.status().unfinished == 0:
                received += job.get_results()
                break
        except DaemonUnavailable:
            pass
        if crashes < 4:
            daemon.kill9()
            crashes += 1
            daemon.start()
    assert crashes >= 3
    assert sorted(received) == sorted(f"o{i}\n" for i in range(total))  # every result, exactly once
    for i in range(total):  # adopted, not rerun: Mesos kept them running across the crashes
        assert (tmp_path / str(i)).read_text() == "start\nend\n", i


def test_the_framework_registers_with_the_jobs_role(daemon: Daemon, real_mesos: RealMesos) -> None:
    job = Processor(master=master(real_mesos), job_id="with-role", role="batch", mem_per_task=128)
    job.stream(["sleep 2", "echo in-role"])
    live = wait_for(lambda: frameworks(real_mesos, "with-role")[0], "the framework to subscribe")
    assert live[0].get("role") == "batch" or "batch" in live[0].get("roles", [])
    assert job.wait() and sorted(job.get_results()) == ["", "in-role\n"]
