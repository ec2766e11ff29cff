"""The Slurm backend against the real one-node Slurm: pilots submitted with sbatch run the tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import Processor
from stratos.errors import InvalidJobSpec
from stratosd.backends.slurm import pool_label
from tests.daemon import Daemon, daemon_fixture, wait_for
from tests.integration.test_seed_examples import GSNAP, SNAPSHOTS, expected_gsnap
from tests.slurm.cluster import pilots_under, pool_pilots, scancel_orphans, slurm

pytestmark = pytest.mark.slurm


daemon = daemon_fixture("--slurm-poll", "0.5", "--slurm-idle-release", "1", "--pilot-lost-after", "5")


@pytest.fixture(autouse=True)
def no_pilots_left(slurm_cluster: str) -> Iterator[None]:
    """Set up before the daemon, so it runs after the daemon has stopped: scancel what is left."""
    yield
    scancel_orphans()  # only the pilots of test daemons that are gone


def pilots_of(job_id: str) -> dict[str, str]:
    """Slurm job id -> state of the pilots of the job's (shared) pool still in squeue, of this test's daemon."""
    mine = pilots_under(Path(os.environ["STRATOS_STATE_DIR"]))
    return {k: v for k, v in pool_pilots(Processor.attach(job_id).status().pool).items() if k in mine}


def test_the_seed_examples_give_the_local_backends_results(daemon: Daemon, slurm_cluster: str) -> None:
    got = {}
    for master in ("local", f"slurm://{slurm_cluster}"):
        name = "seed-local" if master == "local" else "seed-slurm"
        job = Processor(master=master, job_id=name, threads_per_task=1, pilot_cpus=2, max_pilots=2)
        job.glob_batch(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_2*")
        batch = job.get_results()
        job.template_batch("echo program -direction %c% %c%", [["0.3 1.1 0.67", "file1"], ["0.2 0.9", "file2"]])
        template = job.get_results()
        job.glob_stream(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_4*")
        job.stream.add(["echo 'a;b'", "printf 'c\\n'"])
        assert job.wait()
        streamed = sorted(job.get_results())
        got[master] = (batch, template, streamed)
        job.close()
    local, remote = got.values()
    assert local == remote
    assert local[0] == expected_gsnap("*_2*")
    assert Processor.attach("seed-slurm").stream.task(0).task.host == os.uname().nodename.split(".")[0]


def test_an_unknown_partition_is_refused_before_the_job_exists(daemon: Daemon) -> None:
    with pytest.raises(InvalidJobSpec, match="no partition 'nowhere'"):
        Processor(master="slurm://nowhere", job_id="nowhere")


def test_queued_pilots_show_in_status_and_a_cancelled_jobs_queued_pilots_are_scancelled(
        daemon: Daemon, slurm_cluster: str) -> None:
    # --begin keeps the pilot queued in Slurm for a minute
    job = Processor(master="slurm", job_id="queued", sbatch_options="--begin=now+60", max_pilots=1)
    job.stream(["echo never"])
    wait_for(lambda: pilots_of("queued"), "a pilot job in squeue")
    assert list(pilots_of("queued").values()) == ["PENDING"]
    report = wait_for(lambda: (r := job.status()).pilots_queued == 1 and r, "the queued pilot in the status")
    assert report.pilots_running == 0
    ctl = subprocess.run([sys.executable, "-m", "stratos.ctl", "status", "queued"], capture_output=True, text=True,
                         env=dict(os.environ, **daemon.env), check=True)
    assert "0 running, 1 queued" in ctl.stdout
    job.cancel()  # its pool has nothing waiting any more: the pilot job still queued goes
    wait_for(lambda: not pilots_of("queued"), "the pilot scancelled", timeout=15)


def test_pilots_end_when_the_job_is_done(daemon: Daemon, slurm_cluster: str) -> None:
    job = Processor(master=f"slurm://{slurm_cluster}", job_id="plain", pilot_cpus=1, max_pilots=2,
                    pilot_idle_timeout=300)
    job.batch([f"echo {i}" for i in range(8)])
    assert job.get_results() == [f"{i}\n" for i in range(8)]
    # the pilots' own idle timeout is a safety net: the daemon stops them once they have idled for 1 s
    wait_for(lambda: not pilots_of("plain"), "the idle pilots stopped", timeout=20)


def test_a_scancelled_pilots_tasks_run_again_and_every_result_comes_once(daemon: Daemon, slurm_cluster: str) -> None:
    job = Processor(master="slurm", job_id="scancel", pilot_cpus=1, max_pilots=2, max_retries=3)
    job.stream([f"sleep 1.5; echo {i}" for i in range(8)])
    running = wait_for(lambda: len(r := {k: v for k, v in pilots_of("scancel").items() if v == "RUNNING"}) == 2
                       and r, "two running pilots", timeout=60)
    wait_for(lambda: job.status().counts["running"] == 2, "tasks running on both pilots")
    victim = sorted(running)[0]
    slurm("scancel", victim)
    assert job.wait()
    results = job.get_results()
    assert sorted(results) == sorted(f"{i}\n" for i in range(8)) and len(results) == 8
    tasks = job.stream.tasks()
    retried = [t for t in tasks if t.attempts > 1]
    assert retried, "the scancelled pilot's task must have run again"
    assert all(t.status == "finished" for t in tasks)
    assert all("retried after" in job.stream.task(t.task_id).reason for t in retried)


def test_a_daemon_killed_mid_job_gets_its_pilots_back_and_every_result_once(
        daemon: Daemon, slurm_cluster: str) -> None:
    job = Processor(master="slurm", job_id="crash", pilot_cpus=2, max_pilots=1)
    job.stream([f"sleep 2; echo {i}" for i in range(6)])
    wait_for(lambda: job.status().counts["running"] == 2, "two tasks running on the pilot", timeout=60)
    (pilot,) = pilots_of("crash")
    daemon.kill9()
    time.sleep(1)
    daemon.start()
    job = Processor.attach("crash")
    assert job.wait()
    results = job.get_results()
    assert sorted(results) == sorted(f"{i}\n" for i in range(6)) and len(results) == 6
    tasks = job.stream.tasks()
    assert all(t.status == "finished" for t in tasks)
    assert all(t.attempts == 1 for t in tasks), "the pilot kept its tasks: none ran twice"
    assert pilot in pilots_of("crash") or not pilots_of("crash")  # the same pilot, never a second one
    label = pool_label(job.status().pool)
    assert "registered again" in (daemon.root / "state" / "slurm-logs" / f"{label}-pilot-{pilot}.log").read_text()


def test_pilots_that_cannot_reach_the_daemon_are_not_resubmitted_forever(slurm_cluster: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    d = Daemon("--slurm-poll", "0.3", "--executor-command", "/bin/false").start()
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    pool = ""
    try:
        job = Processor(master="slurm", job_id="broken", max_pilots=1)
        pool = job.status().pool
        job.stream(["echo never"])
        report = wait_for(lambda: (r := job.status()).warnings and r, "a warning about the pilots", timeout=60)
        assert "ended without reaching the daemon" in report.warnings[0]
        submitted = d.log().count(" submitted (")
        time.sleep(5)  # backing off (30 s): no pilot job submitted meanwhile
        assert d.log().count(" submitted (") == submitted
        assert 3 <= submitted <= 4
    finally:
        mine = pilots_under(d.state_dir)
        d.cleanup()
        for slurm_id in pool_pilots(pool) if pool else {}:
            if slurm_id in mine:
                slurm("scancel", slurm_id)
