"""The seed's other examples on the real Mesos master, with the daemon auto-started by the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.autostarted import AutoStarted, autostarted
from tests.realmesos.harness import RealMesos
from tests.seed_cluster_cases import CASES

pytestmark = pytest.mark.mesos


@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch) -> Iterator[AutoStarted]:
    yield from autostarted(monkeypatch)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("case", sorted(CASES))
def test_seed_example_on_real_mesos(case: str, auto: AutoStarted, real_mesos: RealMesos, tmp_path: Path) -> None:
    assert auto.pid() is None
    CASES[case](tmp_path, {"master": real_mesos.url.removeprefix("http://"), "mem_per_task": 128})
    assert auto.pid() is not None  # the examples started it
