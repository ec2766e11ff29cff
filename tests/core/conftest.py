"""A bare SchedulerState fed events directly; invariants are checked after every step and every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stratosd.core.state import SchedulerState


@pytest.fixture
def state() -> Iterator[SchedulerState]:
    s = SchedulerState(validate=True)
    yield s
    s.validate()
