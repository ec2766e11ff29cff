"""Issue 16 against the real one-node Slurm: no daemon started by the test (the client starts it)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import Processor
from stratosd.enroll import Enrollment
from stratosd.listeners import route_address, slurm_controller
from tests.autostarted import AutoStarted, autostarted
from tests.integration.test_seed_examples import GSNAP, SNAPSHOTS, expected_gsnap
from tests.slurm.cluster import pilots_under, slurm

pytestmark = pytest.mark.slurm

#: where slurmctld keeps each job's script and environment (deploy/slurm/local-cluster.sh).
STATE_SAVE = Path("/var/tmp/stratos-slurm/state")


@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch, slurm_cluster: str) -> Iterator[AutoStarted]:
    started = autostarted(monkeypatch)
    daemon = next(started)
    yield daemon
    for _ in started:  # stops the daemon
        pass
    for slurm_id in pilots_under(daemon.state_dir):  # this daemon's pilots only
        slurm("scancel", slurm_id)


def test_the_seed_example_on_slurm_starts_the_daemon_and_a_tls_listener(auto: AutoStarted,
                                                                      slurm_cluster: str) -> None:
    assert auto.pid() is None
    job = Processor(master=f"slurm://{slurm_cluster}", threads_per_task=1, job_id="demo-slurm")
    job.glob_batch(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_2*")
    assert job.get_results() == expected_gsnap("*_2*")
    [listener] = auto.listeners()
    assert listener["tls"] and listener["serves"] == [f"slurm://{slurm_cluster}"]
    controller = slurm_controller(slurm("scontrol", "show", "config"))
    assert listener["bind"].rpartition(":")[0] == route_address(*controller)
    job.close()


def test_no_job_credential_in_slurms_records(auto: AutoStarted, slurm_cluster: str) -> None:
    job = Processor(master=f"slurm://{slurm_cluster}", job_id="slurm-secret", max_pilots=1)
    token = job.token()
    s = job.stream(["sleep 4; echo done"])
    deadline = time.monotonic() + 60
    while s.count_running_tasks() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    ids = list(pilots_under(auto.state_dir))
    assert ids, "no pilot job in squeue"
    records = [slurm("scontrol", "show", "job", "-dd", i) for i in ids]
    cmdlines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                cmdlines.append((proc / "cmdline").read_bytes().decode(errors="replace"))
    stored = []  # slurmctld's saved script and environment of each pilot job
    for path in STATE_SAVE.rglob("*"):
        if path.is_file() and any(f"job.{i}" in str(path) for i in ids):
            stored.append(path.read_bytes().decode(errors="replace"))
    assert stored, f"no saved state for {ids} under {STATE_SAVE}"
    accounting = slurm("scontrol", "show", "config")
    if "accounting_storage/none" not in accounting:
        records += [slurm("sacct", "-j", i, "--long", "-P") for i in ids]
    assert job.wait() and job.get_results() == ["done\n"]
    enrollment = Enrollment(auto.state_dir)
    pool = job.status().pool
    secrets_ = [token, enrollment.pool_credential(pool), *(enrollment.credential(token, f"slurm-{i}") for i in ids),
                *(enrollment.pool_credential(pool, f"slurm-{i}") for i in ids)]
    assert any("STRATOS_BOOTSTRAP" in text for text in stored)  # what Slurm keeps: a spent bootstrap
    for secret in secrets_:
        for text in records + stored + cmdlines:
            assert secret not in text
    job.close()
