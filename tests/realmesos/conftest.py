"""`real_mesos`: one real Mesos 1.11 master with 3 agents for the whole session (see harness.py)."""

from __future__ import annotations

from tests.realmesos.harness import real_mesos_fixture

real_mesos = real_mesos_fixture(scope="session", num_agents=3)
