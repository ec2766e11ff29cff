"""`realcluster`: one real 3-host cluster (Mesos 1.11, HDFS 2.7.3) for the whole session (harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.realcluster.harness import HeadDaemon, RealCluster, realcluster_fixture

#: a silent agent is unreachable for the master after ~6 s (2 s x 3) instead of 75 s (test_faults.py)
realcluster = realcluster_fixture(hosts=3, scope="session", MESOS_AGENT_PING_TIMEOUT="2secs",
                                  MESOS_MAX_AGENT_PING_TIMEOUTS="3")


@pytest.fixture
def head_daemon(realcluster: RealCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[HeadDaemon]:
    """A fresh stratosd in the head namespace; this process's client is pointed at its socket."""
    d = HeadDaemon(realcluster, "--mesos-idle-teardown", "2").start()
    for key, value in d.env.items():
        monkeypatch.setenv(key, value)
    try:
        yield d
    finally:
        d.cleanup()
