#!/usr/bin/env bash
# Install what the tests need, as on a fresh machine, and run the whole suite: the default
# tests first, then the heavier marked ones (the real Mesos 1.11 master, the real one-node
# Slurm, ZooKeeper, soak), then the real multi-host cluster (Mesos + HDFS over network
# namespaces; needs root). This is the README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
if [ ! -x /usr/share/zookeeper/bin/zkServer.sh ]; then  # ZooKeeper for the zk:// tests (Debian)
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null
fi
if [ ! -x /usr/bin/time ]; then  # GNU time: the reference peak RSS in tests/integration/test_task_resources.py
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi

.venv/bin/python -m pytest -q                            # default suite (no external engines)

# A real Slurm (Debian's slurm-wlm + MUNGE, one node on loopback): installed and started by the
# script if needed, stopped at the end only if this run started it.
slurm_was_up=0
deploy/slurm/local-cluster.sh status >/dev/null 2>&1 && slurm_was_up=1
deploy/slurm/local-cluster.sh start
if [ "$slurm_was_up" = 0 ]; then trap 'deploy/slurm/local-cluster.sh stop >/dev/null' EXIT; fi

# real Mesos master (tests/realmesos sets it up), real Slurm, ZooKeeper, soak
.venv/bin/python -m pytest -q -m "mesos or slurm or slow" -p no:cacheprovider

# the real multi-host cluster (tests/realcluster: network namespaces, Mesos 1.11 agents, HDFS 2.7.3
# DataNodes); its fixture builds the download cache when needed, brings it up once and down at the end
.venv/bin/python -m pytest -q -m cluster -p no:cacheprovider
