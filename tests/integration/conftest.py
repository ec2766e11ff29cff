from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daemon import Daemon


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A fresh daemon (2 advertised cores); the client in this process talks to it."""
    d = Daemon().start()
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    try:
        yield d
    finally:
        d.cleanup()
