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

_devnull: tuple[int, int, int] | None = None  # fd, st_dev, st_ino

# A command with none of these is a single simple command (maybe with expansions and quotes).
_SIMPLE_COMMAND = re.compile(r"[^;&|<>()`\\\n]*")
_PROGRAM_WORD = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./+,:@%-]*")
# dash's builtins and reserved words: these must keep running inside the shell.
_SHELL_WORDS_TEXT = """
    . : [ alias bg break cd chdir command continue echo eval exec exit export false fc fg getopts hash jobs
    kill local printf pwd read readonly return set shift test times trap true type ulimit umask unalias unset
    wait ! { } case do done elif else esac fi for if in then until while
"""
_SHELL_WORDS = frozenset(_SHELL_WORDS_TEXT.split())


def strip_markers(command: str) -> str:
    """Turn every ``<[path]>`` marker into plain ``path``: markers only tell StratOS what the inputs are."""
    if "<[" not in command:
        return command
    return _MARKER.sub(r"\1", command)


def exec_simple_command(command: str) -> str:
    """Prefix a single simple command that runs a program with ``exec``; leave anything else alone.

    The shell then becomes the user's program, so the task's pid is the
    program itself (what a monitor reading /proc/PID wants) and no shell
    process waits around. Debian's dash 0.5.12 does not do this by itself.
    Conservative: any operator, redirection, grouping, substitution,
    backslash, assignment or builtin leaves the command unchanged.
    """
    text = command.strip()
    if not text or not _SIMPLE_COMMAND.fullmatch(text):
        return command
    program = text.split(None, 1)[0]
    if not _PROGRAM_WORD.fullmatch(program) or program in _SHELL_WORDS:
        return command
    return "exec " + text


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
    """One shared read-write ``/dev/null`` descriptor (close-on-exec), opened once per process.

    Checked on every use: a daemon that closes all descriptors after import
    must not leave a stale number here that now means some other file.
    """
    global _devnull
    if _devnull is not None:
        fd, dev, ino = _devnull
        try:
            st = os.fstat(fd)
        except OSError:
            pass
        else:
            if (st.st_dev, st.st_ino) == (dev, ino):
                return fd
    fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    st = os.fstat(fd)
    _devnull = (fd, st.st_dev, st.st_ino)
    return fd


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
