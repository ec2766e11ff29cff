#!/usr/bin/env bash
# Install what the tests need, as on a fresh machine, and run the whole suite: the default
# tests first, then the heavier marked ones (the real Mesos 1.11 master, ZooKeeper, soak).
# This is the README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
if [ ! -x /usr/share/zookeeper/bin/zkServer.sh ]; then  # ZooKeeper for the zk:// tests (Debian)
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null
fi

.venv/bin/python -m pytest -q                            # default suite (no external engines)
.venv/bin/python -m pytest -q -m "mesos or slow" -p no:cacheprovider   # real Mesos master (tests/realmesos sets it up), ZooKeeper
