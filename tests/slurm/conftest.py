"""`slurm_cluster`: the one-node Slurm of deploy/slurm/local-cluster.sh for the whole session.

It yields the default partition's name. A cluster that was already up when the session began is
left running; one the fixture started is stopped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.slurm.cluster import SCRIPT, default_partition, run_script


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip(f"{SCRIPT.name} needs root (SlurmUser=root, MUNGE started as the munge user)")
    was_up = run_script("status").returncode == 0
    if not was_up:
        started = run_script("start")
        if started.returncode != 0:
            pytest.fail(f"{SCRIPT} start exited {started.returncode}:\n{started.stdout}{started.stderr}")
    try:
        yield default_partition()
    finally:
        if not was_up:
            run_script("stop")
