"""deploy/slurm/local-cluster.sh against the real one-node Slurm it runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.slurm.cluster import job_fields, run_script, sbatch_wrap, slurm, wait_gone_from_queue, wait_state

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]


def test_status_exits_0_and_shows_the_partition(slurm_cluster: str) -> None:
    done = run_script("status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slurmctld: running" in done.stdout
    assert "slurmd: running" in done.stdout
    assert f"{slurm_cluster}*" in done.stdout


def test_start_when_running_says_so(slurm_cluster: str) -> None:
    done = run_script("start")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already running" in done.stdout


def test_wrap_job_runs_to_completion_without_slurm_conf(slurm_cluster: str, tmp_path: Path) -> None:
    # sbatch_wrap() drops SLURM_CONF: the clients find the config at Slurm's default path.
    job_id = sbatch_wrap("echo hello from slurm", partition=slurm_cluster, chdir=tmp_path, output="job-%j.out")
    wait_gone_from_queue(job_id)
    fields = job_fields(job_id)
    assert fields["JobState"] == "COMPLETED"
    assert fields["ExitCode"] == "0:0"
    assert (tmp_path / f"job-{job_id}.out").read_text() == "hello from slurm\n"


def test_scancel_stops_a_running_job(slurm_cluster: str, tmp_path: Path) -> None:
    job_id = sbatch_wrap("sleep 100", partition=slurm_cluster, chdir=tmp_path, output="/dev/null")
    wait_state(job_id, "RUNNING")
    slurm("scancel", job_id)
    wait_gone_from_queue(job_id, timeout=30)
    assert job_fields(job_id)["JobState"] == "CANCELLED"


@pytest.mark.skipif(os.geteuid() != 0, reason="local-cluster.sh start needs root")
def test_start_refuses_to_overwrite_a_config_it_did_not_write(tmp_path: Path) -> None:
    # STRATOS_SLURM_CONF_PATH (tests only) keeps this away from the real /etc/slurm/slurm.conf,
    # STRATOS_SLURM_DIR from the running cluster's state.
    conf = tmp_path / "slurm.conf"
    foreign = "# someone else's cluster\nClusterName=theirs\n"
    conf.write_text(foreign)
    state = tmp_path / "state"
    done = run_script("start", env={"STRATOS_SLURM_CONF_PATH": str(conf), "STRATOS_SLURM_DIR": str(state)})
    assert done.returncode != 0
    assert f"refusing to overwrite {conf}" in done.stderr
    assert conf.read_text() == foreign
    assert not list(state.glob("*.pid")), "nothing may be started"
