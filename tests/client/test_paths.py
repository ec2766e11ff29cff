"""Default locations and the private-directory check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stratos.errors import PermissionDenied
from stratos_wire import paths as _paths


def test_socket_path_prefers_env_then_runtime_dir_then_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _paths.socket_path() == Path(f"/tmp/stratos-{os.getuid()}/stratosd.sock")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert _paths.socket_path() == tmp_path / "run" / "stratos" / "stratosd.sock"
    monkeypatch.setenv("STRATOS_SOCKET", str(tmp_path / "s.sock"))
    assert _paths.socket_path() == tmp_path / "s.sock"


def test_state_dir_prefers_env_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _paths.state_dir() == tmp_path / "home" / ".local" / "state" / "stratos"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert _paths.state_dir() == tmp_path / "xdg" / "stratos"
    monkeypatch.setenv("STRATOS_STATE_DIR", str(tmp_path / "st"))
    assert _paths.state_dir() == tmp_path / "st"


def test_config_path_default_and_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _paths.config_path() == tmp_path / "home" / ".config" / "stratos" / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert _paths.config_path() == tmp_path / "cfg" / "stratos" / "config.toml"


def test_lock_and_log_sit_next_to_socket_and_in_state() -> None:
    assert _paths.autostart_lock_path(Path("/r/stratosd.sock")) == Path("/r/stratosd.sock.lock")
    assert _paths.daemon_log_path(Path("/s")) == Path("/s/stratosd.log")


def test_ensure_private_dir_creates_mode_0700(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert _paths.ensure_private_dir(target) == target
    assert target.stat().st_mode & 0o777 == 0o700
    _paths.ensure_private_dir(target)  # an existing private directory is fine


def test_ensure_private_dir_refuses_open_directory(tmp_path: Path) -> None:
    target = tmp_path / "open"
    target.mkdir()
    target.chmod(0o755)
    with pytest.raises(PermissionDenied, match="chmod 700"):
        _paths.ensure_private_dir(target)


def test_ensure_private_dir_refuses_other_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "theirs"
    target.mkdir(mode=0o700)
    real = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real + 1)
    with pytest.raises(PermissionDenied, match=f"belongs to uid {real}"):
        _paths.ensure_private_dir(target)


def test_ensure_private_dir_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(PermissionDenied, match="not a directory"):
        _paths.ensure_private_dir(target)
