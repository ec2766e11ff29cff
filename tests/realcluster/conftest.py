"""`realcluster`: one real 3-host cluster (Mesos 1.11, HDFS 2.7.3; Slurm 22.05 when a test of the
session uses `realcluster_slurm`) for the whole session (harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daemon import pointed_at
from tests.realcluster.harness import SLURM_FIXTURE, HeadDaemon, RealCluster, realcluster_fixture, slurm_daemon

#: a silent agent is unreachable for the master after ~6 s (2 s x 3) instead of 75 s (test_faults.py)
realcluster = realcluster_fixture(hosts=3, scope="session", MESOS_AGENT_PING_TIMEOUT="2secs",
                                  MESOS_MAX_AGENT_PING_TIMEOUTS="3")


@pytest.fixture
def head_daemon(realcluster: RealCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[HeadDaemon]:
    """A fresh stratosd in the head namespace; this process's client is pointed at its socket.
    Afterwards the frameworks it left on the master are torn down (RealCluster.teardown_frameworks)."""
    try:
        yield from pointed_at(HeadDaemon(realcluster, "--mesos-idle-teardown", "2"), monkeypatch)
    finally:
        realcluster.teardown_frameworks()  # what it left holds agents (coarse executors) otherwise


@pytest.fixture
def realcluster_slurm(realcluster: RealCluster) -> Iterator[RealCluster]:
    """The session's cluster with its Slurm (started by `up --slurm` because this fixture is used);
    every pilot job left in its partition is cancelled after the test."""
    assert SLURM_FIXTURE == "realcluster_slurm"
    if "RC_SLURM_CONF" not in realcluster.env:
        pytest.fail("the cluster runs no Slurm (RC_REUSE=1: bring it up with `cluster.sh up 3 --slurm`)",
                    pytrace=False)
    try:
        yield realcluster
    finally:
        realcluster.slurm("scancel", "--full", "-p", realcluster.env["RC_SLURM_PARTITION"])


@pytest.fixture
def slurm_head_daemon(realcluster_slurm: RealCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[HeadDaemon]:
    """A stratosd on the head for the cluster's Slurm (see slurm_daemon)."""
    yield from slurm_daemon(realcluster_slurm, monkeypatch)
