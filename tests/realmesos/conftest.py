"""`real_mesos`: one real Mesos 1.11 master with 3 agents for the whole session (see harness.py).

Every test that uses it leaves it as it found it: the frameworks it started and left live (a
stopped daemon leaves its jobs' frameworks for its restart, and a coarse job's executors hold
their agents' resources until they idle out) are torn down after it, so the next test gets offers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.realmesos.coarse import teardown_new
from tests.realmesos.harness import RealMesos, real_mesos_fixture

real_mesos = real_mesos_fixture(scope="session", num_agents=3)


@pytest.fixture(autouse=True)
def _frameworks_torn_down(request: pytest.FixtureRequest) -> Iterator[None]:
    """Set up before the test's other fixtures, so torn down after them (after its daemons stop)."""
    if "real_mesos" not in request.fixturenames:
        yield
        return
    mesos: RealMesos = request.getfixturevalue("real_mesos")
    before = {f["id"] for f in mesos.state()["frameworks"]}
    yield
    teardown_new(mesos, before)
