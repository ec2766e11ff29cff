"""The seed's other examples on the real one-node Slurm, with the daemon auto-started by the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.autostarted import AutoStarted, autostarted
from tests.seed_cluster_cases import CASES
from tests.slurm.cluster import slurm

pytestmark = pytest.mark.slurm

JOB_NAMES = ("demo-stream", "demo-object", "tmpl-strings", "tmpl-lists", "plain", "map", "red")


@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch, slurm_cluster: str) -> Iterator[AutoStarted]:
    yield from autostarted(monkeypatch)
    for name in JOB_NAMES:  # this file's pilots only
        for slurm_id in slurm("squeue", "-h", "-o", "%i", "--name", f"stratos-{name}").split():
            slurm("scancel", slurm_id)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("case", sorted(CASES))
def test_seed_example_on_slurm(case: str, auto: AutoStarted, slurm_cluster: str, tmp_path: Path) -> None:
    assert auto.pid() is None
    CASES[case](tmp_path, {"master": f"slurm://{slurm_cluster}"})
    assert auto.pid() is not None  # the examples started it
