"""Rules about a job's settings that the client and the daemon both apply."""

from __future__ import annotations

import re

#: a job id names files and directories (sandboxes, log directories): letters, digits, ``_.-``.
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def is_safe_job_id(job_id: str) -> bool:
    """Whether ``job_id`` can name files and directories without escaping them."""
    return JOB_ID.fullmatch(job_id) is not None and ".." not in job_id
