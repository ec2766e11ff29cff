"""Starting processes: the task's command line, its environment, and a thread-free spawn.

``subprocess.Popen`` is used only for its vfork-based fork/exec with
``start_new_session``; it is never waited on (see :mod:`._proc`), so
nothing here starts a thread or installs a SIGCHLD handler.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence

from .spec import TaskSpec

_MARKER = re.compile(r"<\[(.*?)\]>", re.DOTALL)

#: thread-count variables set to the task's ``threads`` so numeric libraries don't oversubscribe.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

_devnull: int | None = None


def strip_markers(command: str) -> str:
    """Turn every ``<[path]>`` marker into plain ``path``: markers only tell StratOS what the inputs are."""
    if "<[" not in command:
        return command
    return _MARKER.sub(r"\1", command)


def task_environment(spec: TaskSpec) -> dict[str, str]:
    """The task's environment: ``spec.env``, thread limits, and the ``STRATOS_*`` identifiers."""
    env = dict(spec.env)
    threads = str(spec.threads)
    for name in THREAD_VARIABLES:
        env[name] = threads
    env["STRATOS_JOB_ID"] = spec.job_id
    env["STRATOS_TASK_ID"] = str(spec.task_id)
    env["STRATOS_ATTEMPT"] = str(spec.attempt)
    return env


def devnull() -> int:
    """One shared read-write ``/dev/null`` descriptor (close-on-exec), opened once per process."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return _devnull


def spawn(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str],
    stdout: int,
    stderr: int,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session with stdin on /dev/null; raises OSError/SubprocessError on failure.

    The caller owns the returned process: it must reap it (``_proc.Process``)
    and set ``returncode`` so that ``Popen.__del__`` never tries to.
    """
    return subprocess.Popen(
        argv,
        stdin=devnull(),
        stdout=stdout,
        stderr=stderr,
        cwd=cwd or None,
        env=env,
        close_fds=True,
        start_new_session=True,
    )
