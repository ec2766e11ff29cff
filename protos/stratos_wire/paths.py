"""Default locations shared by the client and the daemon.

Both sides import these functions so that a script, ``stratosctl`` and a ``stratosd``
started by hand agree on where the socket, the state and the config file live without
any of them being configured.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from .errors import PermissionDenied

__all__ = [
    "autostart_lock_path",
    "config_path",
    "daemon_log_path",
    "ensure_private_dir",
    "socket_path",
    "state_dir",
]

SOCKET_NAME = "stratosd.sock"
LOG_NAME = "stratosd.log"


def socket_path() -> Path:
    """The daemon's Unix socket.

    Returns:
        ``$STRATOS_SOCKET``, else ``$XDG_RUNTIME_DIR/stratos/stratosd.sock``, else
        ``/tmp/stratos-<uid>/stratosd.sock``.
    """
    explicit = os.environ.get("STRATOS_SOCKET")
    if explicit:
        return Path(explicit).expanduser()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "stratos" / SOCKET_NAME
    return Path(f"/tmp/stratos-{os.getuid()}") / SOCKET_NAME


def state_dir() -> Path:
    """Where the daemon keeps its journal, results, sandboxes and log.

    Returns:
        ``$STRATOS_STATE_DIR``, else ``$XDG_STATE_HOME/stratos``, else
        ``~/.local/state/stratos``.
    """
    explicit = os.environ.get("STRATOS_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg) / "stratos"
    return Path.home() / ".local" / "state" / "stratos"


def config_path() -> Path:
    """The default settings file (it need not exist).

    Returns:
        ``$XDG_CONFIG_HOME/stratos/config.toml``, else ``~/.config/stratos/config.toml``.
    """
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "stratos" / "config.toml"


def autostart_lock_path(socket: Path) -> Path:
    """The lock file that keeps two scripts from starting two daemons on one socket."""
    return socket.with_name(socket.name + ".lock")


def stopped_marker_path(state: Path) -> Path:
    """Left by an orderly daemon stop, removed at start: clients tell a stop from a crash by it."""
    return state / "stratosd.stopped"


def daemon_log_path(state: Path) -> Path:
    """The file a background daemon's stdout and stderr are appended to."""
    return state / LOG_NAME


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) or check that an existing one is private.

    The socket directory is the security boundary of the daemon: anyone who can open
    the socket can run commands as this user, so a directory that someone else owns
    or that the group or others can enter is refused rather than used.

    Args:
        path: the directory.

    Returns:
        ``path``.

    Raises:
        PermissionDenied: the directory belongs to another user, is accessible to the
            group or others, or is not a directory.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # created meanwhile: checked below
            path.mkdir(mode=0o700)
    try:
        info = path.stat()
    except OSError as err:
        raise PermissionDenied(f"cannot use {path}: {err.strerror}") from err
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionDenied(f"{path} is not a directory; remove it or choose another location")
    if info.st_uid != os.getuid():
        raise PermissionDenied(
            f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}); "
            "someone else may be trying to intercept StratOS. Remove it or choose another "
            "location (STRATOS_SOCKET / STRATOS_STATE_DIR)."
        )
    if info.st_mode & 0o077:
        raise PermissionDenied(
            f"{path} is accessible to other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run `chmod 700 {path}` or choose another location."
        )
    return path
