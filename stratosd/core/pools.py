"""Which pool a job's tasks run in: shared pilot pools are keyed by what the cluster gives and charges.

A Slurm job does not get pilots of its own: every job whose settings ask Slurm for the same thing
(partition, account, QoS, the pilot's cores, memory and time limit, extra sbatch options: the
settings declared ``pilot_pool=True`` in ``stratos_wire.settings``) shares one named pool, so an
idle pilot of one job takes the next job's tasks at once. Jobs on user-started pilots
(``master="pilots"``) share the pool ``pilots/default``.
"""

from __future__ import annotations

import hashlib
import math

from stratosd.core.model import JobSpec
from stratosd.core.types import PoolId, PoolKind

#: the pool of every job with master="pilots" (pilots started by hand with a pool credential).
USER_PILOTS = PoolId.named(PoolKind.PILOTS, "default")


def pilot_size(spec: JobSpec) -> tuple[int, int, int]:
    """A pilot's cores, memory (MB) and the tasks of this job it runs at once, from the job's settings."""
    cpus = max(1, math.ceil(spec.pilot_cpus or spec.cpus))
    slots = max(1, math.floor(cpus / max(spec.cpus, 1e-9) + 1e-9))
    mem = math.ceil(spec.pilot_mem or spec.mem * slots)
    return cpus, mem, slots


def partition_of(master: str) -> str:
    """"slurm://debug" -> "debug"; "slurm" -> "" (the cluster's default partition)."""
    return master[len("slurm://"):] if master.startswith("slurm://") else ""


def slurm_pool(spec: JobSpec) -> PoolId:
    """The shared Slurm pool of a job's settings: ``slurm/<partition>,<cores>c,<MB>M[,a=..][,q=..][,t=..][,o=..]``
    (readable in `stratosctl status` and pilot job names; extra sbatch options by a short hash)."""
    cpus, mem, _ = pilot_size(spec)
    parts = [partition_of(spec.master) or "default", f"{cpus}c", f"{mem}M"]
    for tag, value in (("a", spec.slurm_account), ("q", spec.slurm_qos), ("t", spec.slurm_time_limit)):
        if value:
            parts.append(f"{tag}={value}")
    if spec.sbatch_options.strip():
        parts.append("o=" + hashlib.sha256(spec.sbatch_options.strip().encode()).hexdigest()[:8])
    return PoolId.named(PoolKind.SLURM, ",".join(parts))


def pool_of(kind: PoolKind, spec: JobSpec) -> PoolId | None:
    """The shared named pool a job of this backend joins, or None (local: "local"; Mesos: its own)."""
    if kind is PoolKind.SLURM:
        return slurm_pool(spec)
    if kind is PoolKind.PILOTS:
        return USER_PILOTS
    return None
