"""What an executor needs to run one attempt, decided with the launch itself.

The core builds the whole ``TaskSpec`` when it starts an attempt, so the runtime and the backends
carry a launch out without reading a job, a task or a call (issue 14: the core decides, the
adapters adapt). Strings only: the sandbox and output paths are spelled by ``core/paths.py``.
"""

from __future__ import annotations

import math

from stratos_executor.spec import TaskSpec
from stratosd.core import paths
from stratosd.core.model import Job, Task


def build(sandboxes: str, job: Job, task: Task, attempt: int, cpus: float) -> TaskSpec:
    """One attempt of ``task``: its command, where and with what it runs, where its output goes,
    its monitor and its limits."""
    spec = job.spec
    call = job.calls[task.call_id]
    sandbox = paths.sandbox(sandboxes, job.key, task.task_id)
    stdout_file = stderr_file = None
    if spec.output == "disk":
        stdout_file, stderr_file = paths.output_files(spec, job.name, sandbox, task.task_id)
    return TaskSpec(
        job_id=job.name,
        task_id=task.task_id,
        attempt=attempt,
        command=task.command,
        cwd=call.cwd,
        env=call.env,
        threads=max(1, math.ceil(cpus)),
        output=spec.output,
        sandbox=sandbox,
        stdout_file=stdout_file,
        stderr_file=stderr_file,
        monitor=spec.monitor,
        relauncher=spec.relauncher,
        update_interval=spec.update_interval,
        timeout=spec.task_timeout or None,
        mem_limit=spec.mem if spec.mem_set else None,
        disk_limit=spec.disk if spec.disk_set else None,
    )
