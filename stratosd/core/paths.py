"""Where a task's files are: the one place these layouts are spelled.

Strings only, no I/O: the runtime (launches, removal, GetTask) and the Hub (remote stdout
spools) ask here, so a sandbox is never spelled two ways.
"""

from __future__ import annotations

import posixpath

from stratos_executor.spec import STDERR_NAME, STDOUT_NAME
from stratosd.core.model import JobSpec

#: the sandboxes' directory under the state directory.
SANDBOXES = "sandboxes"


def job_sandboxes(root: str, job_key: int) -> str:
    """One job's sandboxes (removed with the job)."""
    return f"{root}/{job_key}"


def sandbox(root: str, job_key: int, task_id: int) -> str:
    """One task's private directory (per task, shared by its attempts)."""
    return f"{root}/{job_key}/{task_id}"


def output_files(spec: JobSpec, job_name: str, task_sandbox: str, task_id: int) -> tuple[str, str]:
    """Where a task's stdout and stderr files are ("" when its mode keeps no such file):
    ``disk`` under log_directory/<job>/, ``mesos`` in its sandbox, none for scheduler and none."""
    if spec.output == "disk":
        base = posixpath.join(spec.log_directory, job_name, str(task_id))
        return base + ".stdout", base + ".stderr"
    if spec.output == "mesos":
        return f"{task_sandbox}/{STDOUT_NAME}", f"{task_sandbox}/{STDERR_NAME}"
    return "", ""
