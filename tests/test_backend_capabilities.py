"""Each backend is sorted once, by the Protocols it implements, into what the runtime dispatches to."""

from __future__ import annotations

from pathlib import Path

from stratosd.backends.base import Capabilities
from stratosd.backends.local import LocalBackend
from stratosd.backends.mesos.backend import MesosBackend
from stratosd.backends.pilots import PilotsBackend
from stratosd.backends.slurm import SlurmBackend
from stratosd.core.types import PoolKind


class NoStore:
    def meta(self, job_key: int, key: str) -> str | None:
        return None

    def set_meta(self, job_key: int, key: str, value: str | None) -> None:
        pass

    def get(self, job_key: int) -> str | None:
        return None

    def set(self, job_key: int, framework_id: str | None) -> None:
        pass


def test_backends_are_sorted_by_what_they_can_do(tmp_path: Path) -> None:
    can = Capabilities()
    pilots = PilotsBackend(lambda e: None)
    for backend in (LocalBackend(lambda e: None, cpus=1, mem=100), pilots,
                    SlurmBackend(pilots, meta=NoStore(), executor_address="h:1", log_dir=tmp_path),
                    MesosBackend(lambda e: None, framework_ids=NoStore(), executor_address="h:1")):
        can.add(backend)
    local, pilot, slurm, mesos = PoolKind.LOCAL, PoolKind.PILOTS, PoolKind.SLURM, PoolKind.MESOS
    assert set(can.backends) == {local, pilot, slurm, mesos}
    assert set(can.standing) == {local, pilot, slurm, mesos}  # hosts that stand: tasks go to a host id
    # (Mesos's: its coarse executors, which are the pilots backend's)
    assert set(can.trackers) == {local, pilot}  # (Slurm's pilots are the pilots backend's)
    assert set(can.offers) == {mesos}  # resources that come as offers
    assert set(can.clusters) == {pilot, slurm, mesos}  # a pool per job, opened and released
    assert set(can.stoppers) == {pilot, slurm, mesos}
    assert set(can.suppliers) == {slurm}
    assert set(can.adopters) == {mesos}
    assert set(can.probes) == {slurm, mesos}
    assert set(can.reports) == {slurm}
