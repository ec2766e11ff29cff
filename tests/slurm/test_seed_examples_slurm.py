"""The seed's other examples on the real one-node Slurm, with the daemon auto-started by the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.autostarted import AutoStarted, autostarted
from tests.seed_cluster_cases import CASES
from tests.slurm.cluster import pilots_under, slurm

pytestmark = pytest.mark.slurm

@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch, slurm_cluster: str) -> Iterator[AutoStarted]:
    started = autostarted(monkeypatch)
    daemon = next(started)
    yield daemon
    for _ in started:  # stops the daemon (which scancels its idle pilots)
        pass
    for slurm_id in pilots_under(daemon.state_dir):  # this daemon's pilots only
        slurm("scancel", slurm_id)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("case", sorted(CASES))
def test_seed_example_on_slurm(case: str, auto: AutoStarted, slurm_cluster: str, tmp_path: Path) -> None:
    assert auto.pid() is None
    CASES[case](tmp_path, {"master": f"slurm://{slurm_cluster}"})
    assert auto.pid() is not None  # the examples started it
