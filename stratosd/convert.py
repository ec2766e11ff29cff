"""Protobuf <-> core conversions, and the daemon's own validation of what clients send."""

from __future__ import annotations

import math
import os
import re
import shlex
import time
from typing import TYPE_CHECKING, cast, get_args

from stratos._proto import stratos_pb2 as pb
from stratos.errors import InvalidJobSpec
from stratos.settings import is_safe_job_id
from stratosd.core.model import Call, Job, JobSpec, OutputMode, Status, Task
from stratosd.core.replies import JobView
from stratosd.core.story import TaskStory
from stratosd.core.types import PoolKind

if TYPE_CHECKING:
    from stratosd.runtime import Removal

SLURM_MASTER = re.compile(r"^slurm://[A-Za-z0-9_.-]+$")
MESOS_MASTER = re.compile(r"^(?:https?://)?[A-Za-z0-9_.-]+:\d+/?$|^zk://.+")


def check_job_id(job_id: str) -> str:
    # job ids become directory names (log_directory/<job_id>/); the client checks the same rule
    if not is_safe_job_id(job_id):
        raise InvalidJobSpec(
            f"job_id {job_id!r} is not a safe name: use 1 to 128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, without '..'."
        )
    return job_id


def pool_for(master: str) -> tuple[PoolKind, bool]:
    """The kind of pool a master names, and whether the job gets a pool of its own."""
    master = master or "local"
    if master == "local":
        return PoolKind.LOCAL, False
    if master == "pilots":
        return PoolKind.PILOTS, True
    if master == "slurm" or SLURM_MASTER.match(master):
        return PoolKind.SLURM, True
    if master.startswith("slurm://"):
        raise InvalidJobSpec(f"master {master!r}: a Slurm partition name is letters, digits, '_', '-' or '.'.")
    if MESOS_MASTER.match(master):
        return PoolKind.MESOS, True
    raise InvalidJobSpec(
        f"master {master!r} is not a known kind: use 'local', 'HOST:PORT' or 'http(s)://HOST:PORT' "
        "or 'zk://HOSTS/PATH' for Mesos, or 'slurm' / 'slurm://PARTITION'."
    )


def spec_from_proto(m: pb.JobSpec) -> JobSpec:
    output = cast(OutputMode, m.output or "scheduler")
    if output not in get_args(OutputMode):
        raise InvalidJobSpec(f"output={output!r} is not one of scheduler, disk, mesos, none.")
    for name in ("threads_per_task", "mem_per_task", "disk_per_task", "update_interval"):
        value = getattr(m, name)
        if not math.isfinite(value) or value <= 0:
            raise InvalidJobSpec(f"{name}={value:g} must be a positive, finite number.")
    locality_wait = m.locality_wait if m.has_locality_wait else 3.0
    if not math.isfinite(locality_wait) or locality_wait < 0:
        raise InvalidJobSpec(f"locality_wait={locality_wait:g} must be 0 or a number of seconds.")
    hdfs_mount = m.hdfs_mount or "/dfs"
    if not hdfs_mount.startswith("/") or ".." in hdfs_mount.split("/"):
        raise InvalidJobSpec(f"hdfs_mount {hdfs_mount!r} must be an absolute path.")
    if not math.isfinite(m.task_timeout) or m.task_timeout < 0:
        raise InvalidJobSpec(f"task_timeout={m.task_timeout:g} must be 0 (off) or a positive number of seconds.")
    for name in ("monitor", "relauncher"):
        path = getattr(m, name)
        if path and not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise InvalidJobSpec(f"{name} {path!r} is not an executable file: give the full path of a program.")
    if output == "disk" and not m.log_directory:
        raise InvalidJobSpec('output="disk" needs a log_directory.')
    for name in ("pilot_cpus", "pilot_mem", "pilot_idle_timeout"):
        if not math.isfinite(getattr(m, name)) or getattr(m, name) < 0:
            raise InvalidJobSpec(f"{name}={getattr(m, name):g} must be 0 (the default) or a positive number.")
    try:
        shlex.split(m.sbatch_options)
    except ValueError as err:
        raise InvalidJobSpec(f"sbatch_options {m.sbatch_options!r} are not shell words ({err}).") from None
    if m.log_directory and not os.path.isabs(m.log_directory):
        raise InvalidJobSpec(f"log_directory {m.log_directory!r} must be an absolute path.")
    return JobSpec(
        master=m.master or "local", role=m.role or "*", cpus=m.threads_per_task, mem=m.mem_per_task,
        disk=m.disk_per_task, monitor=m.monitor or None, relauncher=m.relauncher or None,
        update_interval=m.update_interval, output=output, log_directory=os.path.normpath(m.log_directory)
        if m.log_directory else "", task_timeout=m.task_timeout, timeout_retries=m.timeout_retries,
        max_retries=m.max_retries, locality_wait=locality_wait, hdfs=m.hdfs,
        hdfs_mount=os.path.normpath(hdfs_mount), slurm_account=m.slurm_account, slurm_qos=m.slurm_qos,
        slurm_time_limit=m.slurm_time_limit, pilot_cpus=m.pilot_cpus, pilot_mem=m.pilot_mem,
        max_pilots=m.max_pilots, sbatch_options=m.sbatch_options, pilot_idle_timeout=m.pilot_idle_timeout,
        mem_set=m.mem_per_task_set, disk_set=m.disk_per_task_set, retries=m.retries,
        retry_on_exit=tuple(m.retry_on_exit), after=m.after,
        run_after_failure=m.run_after_failure,
    )


def spec_to_proto(s: JobSpec) -> pb.JobSpec:
    return pb.JobSpec(
        master=s.master, role=s.role, threads_per_task=s.cpus, mem_per_task=s.mem, disk_per_task=s.disk,
        monitor=s.monitor or "", relauncher=s.relauncher or "", update_interval=s.update_interval,
        output=s.output, log_directory=s.log_directory, task_timeout=s.task_timeout,
        timeout_retries=s.timeout_retries, max_retries=s.max_retries, hdfs=s.hdfs, hdfs_mount=s.hdfs_mount,
        has_locality_wait=True, locality_wait=s.locality_wait, slurm_account=s.slurm_account,
        slurm_qos=s.slurm_qos, slurm_time_limit=s.slurm_time_limit, pilot_cpus=s.pilot_cpus, pilot_mem=s.pilot_mem,
        max_pilots=s.max_pilots, sbatch_options=s.sbatch_options, pilot_idle_timeout=s.pilot_idle_timeout,
        mem_per_task_set=s.mem_set, disk_per_task_set=s.disk_set, retries=s.retries,
        retry_on_exit=list(s.retry_on_exit), after=s.after, run_after_failure=s.run_after_failure,
    )


def job_info(job: JobView, renamed: str = "") -> pb.JobInfo:
    return pb.JobInfo(
        job_id=job.name, spec=spec_to_proto(job.spec), state=job.state, created=job.created,
        stream_opened=job.stream_opened, stream_closed=job.stream_closed, renamed_previous=renamed,
    )


def counts(by_status: dict[Status, int]) -> pb.StatusCounts:
    return pb.StatusCounts(**{status.value: n for status, n in by_status.items()})


def call_counts(job: Job, call: Call) -> dict[Status, int]:
    out = dict.fromkeys(Status, 0)
    for task in job.tasks:
        if task.call_id == call.call_id:
            out[task.status] += 1
    return out


def duration(task: Task, now: float | None = None) -> float:
    """Seconds the task ran; for a running task, the seconds since it started (wall clock).

    The elapsed time is computed here, where a report is built: the core has no clock and
    its decisions never look at it.
    """
    if task.started and task.ended:
        return max(0.0, task.ended - task.started)
    if task.started and task.status is Status.RUNNING:
        return max(0.0, (time.time() if now is None else now) - task.started)
    return 0.0


def task_summary(task: Task) -> pb.TaskSummary:
    return pb.TaskSummary(
        task_id=task.task_id, status=task.status.value, command=task.command, host=task.host,
        attempts=task.attempt, has_exit_code=task.exit_code is not None, exit_code=task.exit_code or 0,
        signal=task.signal or 0, duration=duration(task), started=task.started, call_id=task.call_id,
    )


def removed_job(r: Removal) -> pb.RemovedJob:
    return pb.RemovedJob(
        job_id=r.name, finished_at=r.finished_at, tasks=r.tasks, results=r.results,
        journal_bytes=r.journal_bytes, sandbox_directory=r.sandbox_directory, sandbox_bytes=r.sandbox_bytes,
        output_directory=r.output_directory, output_files=len(r.output_files), output_bytes=r.output_bytes,
        outputs_deleted=r.outputs_deleted, output_directory_removed=r.output_directory_removed,
        other_files=r.other_files,
    )


def task_story(job_id: str, task_id: int, story: TaskStory) -> pb.TaskStory:
    """A task's story (core/story.py) as GetTaskStory answers it."""
    return pb.TaskStory(
        job_id=job_id, task_id=task_id, truncated=story.truncated, kept_since=story.kept_since,
        lines=[
            pb.StoryLine(
                time=e.when, attempt=e.attempt, from_status=e.start.value, to_status=e.finish.value,
                event=e.event, stimulus_id=e.stimulus_id, reason=e.why.value, host=e.host, detail=e.detail,
            )
            for e in story.entries
        ],
    )
