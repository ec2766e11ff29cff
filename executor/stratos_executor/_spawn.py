"""Starting processes: the task's command line, its environment, and a thread-free spawn.

``os.posix_spawn`` (glibc: clone with CLONE_VFORK, then exec) starts every
process; it costs the parent about half of ``subprocess.Popen``'s Python work,
and the parent waits the same (until the child has exec'd). Nothing here
waits for the child (see :mod:`._proc`), starts a thread or installs a
SIGCHLD handler.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import signal
import threading
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


#: a word the shell passes on as it is: no quote, expansion, glob, tilde, comment or operator in it.
_LITERAL_WORD = re.compile(r"[A-Za-z0-9_./+,:@%=-]+")


def direct_argv(command: str) -> list[str] | None:
    """The argv of a command that runs one program with literal words (`wc -c run1/snap_002.hdf5`);
    None for anything the shell must interpret. The program is looked up in the task's ``PATH``
    (:func:`spawn`); a task whose environment has none keeps the shell's default path.

    Such a command runs without a shell: the same process the shell would start, one exec
    instead of two (a shell's start cost more than ``wc -c`` itself). Conservative as
    :func:`exec_simple_command`, and stricter: every word is literal, so splitting at blanks
    is exactly the shell's splitting.
    """
    words = command.split()
    if not words or "\n" in command or any(not _LITERAL_WORD.fullmatch(w) for w in words):
        return None
    if words[0] in _SHELL_WORDS or "=" in words[0] or not _PROGRAM_WORD.fullmatch(words[0]):
        return None
    return words


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
) -> int:
    """Start ``argv`` in ``cwd``, in its own session, stdin on /dev/null; its pid. Raises OSError.

    The child gets descriptors 0-2 and nothing else: every other descriptor of this
    process is close-on-exec (Python and the libraries it loads open them so; what the
    process inherited is marked at the first spawn). Signals Python ignores (SIGPIPE,
    SIGXFSZ) are reset to their defaults, as ``subprocess`` does. posix_spawn cannot
    change directory in Python: ``sh -c SCRIPT`` gets ``cd`` prepended (its ``PWD`` is then
    ``cwd``), anything else is started from ``cwd`` with ``PWD`` set to it (:func:`_start_in`).
    A missing ``cwd`` or program raises FileNotFoundError, as with ``subprocess``; should the
    directory vanish in between, the child exits with 127 and the shell's message (a shell
    script) or the spawn raises (a program). The caller must reap the pid (``_proc.Process``).
    """
    global _descriptors_private
    if not _descriptors_private:
        _make_descriptors_private()
        _descriptors_private = True
    argv = list(argv)
    actions = _actions(stdout, stderr)
    with _DIRECTORY:  # no spawn inherits another thread's passing directory (_start_in)
        if not cwd:
            return _start(argv, env, actions)
        if not os.path.isdir(cwd):  # as exec would say it, before any process starts
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cwd)
        if not (len(argv) == 3 and argv[1] == "-c" and argv[0] in _SHELLS):
            return _start_in(cwd, argv, {**env, "PWD": cwd}, actions)
        # cd sets OLDPWD: give it back the value the environment had (or none), as a plain start would
        oldpwd = env.get("OLDPWD")
        restore = f"OLDPWD={shlex.quote(oldpwd)}" if oldpwd is not None else "unset OLDPWD"
        here = f"cd -- {shlex.quote(cwd)} || exit 127; {restore}"
        return _start([argv[0], "-c", f"{here}\n{argv[2]}"], env, actions)


def _actions(stdout: int, stderr: int) -> list[tuple[int, int, int]]:
    return [
        (os.POSIX_SPAWN_DUP2, devnull(), 0),
        (os.POSIX_SPAWN_DUP2, stdout, 1),
        (os.POSIX_SPAWN_DUP2, stderr, 2),
    ]


def _start(argv: list[str], env: Mapping[str, str], actions: list[tuple[int, int, int]],
           program: str | None = None) -> int:
    """posix_spawn ``program`` (default ``argv[0]``; without a "/" it is looked up in this process's PATH)."""
    program = program or argv[0]
    start = os.posix_spawn if "/" in program else os.posix_spawnp
    return start(program, argv, env, file_actions=actions, setsid=True, setsigdef=_DEFAULT_SIGNALS, setsigmask=())


def _start_in(cwd: str, argv: list[str], env: Mapping[str, str], actions: list[tuple[int, int, int]]) -> int:
    """Start a program (not a shell script) in ``cwd``: this process changes directory for the
    spawn and back, as posix_spawn in Python cannot give the child a directory and a shell to do
    it costs a second exec. For that moment the process's directory is ``cwd``: nothing in
    StratOS resolves a relative path (every path it uses is absolute, or joined to a directory
    it was given)."""
    here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(cwd)
        try:
            return _start(argv, env, actions, argv[0] if "/" in argv[0] else _search(argv[0], env))
        finally:
            os.fchdir(here)
    finally:
        os.close(here)


def _search(name: str, env: Mapping[str, str]) -> str:
    """The program ``name`` as the shell finds it: in the child's ``PATH`` (the environment it is
    given, not this process's), relative entries from the current directory."""
    for directory in os.get_exec_path(env):
        path = os.path.join(directory or os.curdir, name)  # always with a "/": never searched again
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


_SHELLS = frozenset({"/bin/sh", "sh"})
#: signals the Python runtime ignores, which a started program must find at their defaults.
_DEFAULT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))
_descriptors_private = False
#: held while a spawn runs: one in another thread must not start in _start_in's passing directory.
_DIRECTORY = threading.Lock()


def _make_descriptors_private() -> None:
    """Mark every descriptor above 2 close-on-exec: what this process inherited must not reach tasks."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):  # closed meanwhile (the listing's own descriptor)
                os.set_inheritable(fd, False)
