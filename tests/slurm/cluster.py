"""Helpers for tests against the one-node Slurm of deploy/slurm/local-cluster.sh."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "slurm" / "local-cluster.sh"


def run_script(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run local-cluster.sh (its daemons write to their own log files, so the pipes close)."""
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
        check=False,
    )


def slurm(*args: str, timeout: float = 30) -> str:
    """Run a Slurm client command against the config at Slurm's default path; its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def sbatch_wrap(command: str, *, partition: str, chdir: Path, output: str) -> str:
    """Submit `sbatch --wrap COMMAND`; the job id."""
    job_id = slurm(
        "sbatch", "--parsable", f"--partition={partition}", f"--chdir={chdir}", f"--output={output}", "--wrap", command
    ).strip()
    if not job_id.isdigit():
        raise RuntimeError(f"sbatch --parsable printed {job_id!r}")
    return job_id


def default_partition() -> str:
    """The partition sinfo marks with '*'."""
    for line in slurm("sinfo", "-h", "-o", "%P").split():
        if line.endswith("*"):
            return line[:-1]
    raise RuntimeError("sinfo shows no default partition")


def job_fields(job_id: str) -> dict[str, str]:
    """`scontrol show job` as KEY=VALUE pairs (finished jobs stay visible for MinJobAge, 300 s)."""
    fields: dict[str, str] = {}
    for word in slurm("scontrol", "show", "job", "--oneliner", job_id).split():
        key, sep, value = word.partition("=")
        if sep:
            fields.setdefault(key, value)
    return fields


def wait_gone_from_queue(job_id: str, timeout: float = 60) -> None:
    """Until squeue no longer lists the job (pending, running or completing)."""
    deadline = time.monotonic() + timeout
    while slurm("squeue", "-h", "-j", job_id, "-o", "%i").strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still queued after {timeout} s")
        time.sleep(0.1)


def wait_state(job_id: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while job_fields(job_id).get("JobState") != state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} not {state} after {timeout} s: {job_fields(job_id).get('JobState')}")
        time.sleep(0.1)


def wait_node_up(node: str, timeout: float = 30) -> None:
    """Wait until slurmctld hears from ``node`` again: after ``State=RESUME`` it shows ``idle*``
    (not responding) until its next ping, which the next test would see as a cluster that is down."""
    deadline = time.monotonic() + timeout
    while (state := slurm("sinfo", "-h", "-n", node, "-o", "%T").strip()) not in ("idle", "mixed", "allocated"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"node {node} not up after {timeout} s: {state!r}")
        time.sleep(0.2)


def pool_pilots(pool: str) -> dict[str, str]:
    """Slurm job id -> state of a shared pool's pilot jobs still in squeue (any daemon's)."""
    from stratosd.backends.slurm import pool_label

    out = slurm("squeue", "-h", "-o", "%i %T", "--name", f"stratos-{pool_label(pool)}")
    return dict(line.split() for line in out.splitlines())


def pilots_under(root: Path) -> dict[str, str]:
    """Slurm job id -> state of the pilot jobs whose output file lies under ``root`` (one test daemon's)."""
    out = slurm("squeue", "-h", "-O", "JobID:20,State:20,STDOUT:500")
    found = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[2].strip().startswith(f"{root}/"):
            found[parts[0]] = parts[1]
    return found


def scancel_orphans() -> None:
    """scancel pilot jobs of test daemons that are gone (their output directory was removed)."""
    out = slurm("squeue", "-h", "-O", "JobID:20,Name:80,STDOUT:500")
    for line in out.splitlines():
        parts = line.split(None, 2)
        if (len(parts) == 3 and parts[1].startswith("stratos-") and parts[2].startswith("/tmp/st")
                and not Path(parts[2].strip()).parent.exists()):
            slurm("scancel", parts[0])
