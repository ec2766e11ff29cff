#!/bin/bash
# Prepare a runnable, real Apache Mesos 1.11.0 master (+ agents) in DIR, from registry packages only:
#   mesos.scheduler 1.11.0 (PyPI; a Python 2.7 extension that contains all of libmesos),
#   OpenSSL 1.0.2 shared libraries from psycopg2-binary 2.7.7's manylinux1 wheel (PyPI),
#   protobuf 3.17.3 + mesos.interface 1.11.0 for Python 2.7 (PyPI),
#   pyelftools (PyPI, into DIR, for patch_versions.py),
#   libsvn1, libapr1, libcurl3-gnutls, patchelf (Debian).
# Usage: setup.sh [DIR]
#   DIR defaults to $STRATOS_REALMESOS_DIR, else ${XDG_CACHE_HOME:-~/.cache}/stratos-realmesos.
#   PY2 (a Python 2.7 interpreter; default: the newest pyenv 2.7.x) and PY3 (a Python 3 with pip;
#   default: python3) may be set in the environment.
# Idempotent: exits at once when DIR/.ready exists; concurrent runs on one DIR serialise on DIR/.lock.
# Prints DIR as its last line of stdout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
D=${1:-${STRATOS_REALMESOS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stratos-realmesos}}
mkdir -p "$D" && D=$(cd "$D" && pwd)
[ -f "$D/.ready" ] && { echo "$D"; exit 0; }
exec 9>"$D/.lock"
flock 9
[ -f "$D/.ready" ] && { echo "$D"; exit 0; }
PY2=${PY2:-$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/2.7*/bin/python 2>/dev/null | tail -1)}
[ -n "$PY2" ] && [ -x "$PY2" ] || { echo "setup.sh: no Python 2.7 found (set PY2)" >&2; exit 1; }
PY3=${PY3:-python3}
if ! dpkg -s libsvn1 libapr1 libcurl3-gnutls patchelf >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libsvn1 libapr1 libcurl3-gnutls patchelf >/dev/null
fi
mkdir -p "$D/dl" "$D/lib"
# pyelftools for patch_versions.py, kept in DIR (the machine's Python is left alone).
PYTHONPATH="$D/py3tools" "$PY3" -c 'import elftools' 2>/dev/null || \
  "$PY3" -m pip install -q --disable-pip-version-check --target "$D/py3tools" pyelftools
cd "$D/dl"
# Python 2.7's pip keeps the downloaded file although it cannot build it (it has no setup.py).
[ -f mesos.scheduler-1.11.0.linux-x86_64.tar.gz ] || \
  "$PY2" -m pip download -q --no-deps -d . "mesos.scheduler==1.11.0.linux-x86_64" >/dev/null 2>&1 || true
[ -f mesos.scheduler-1.11.0.linux-x86_64.tar.gz ] || { echo "setup.sh: could not download mesos.scheduler" >&2; exit 1; }
tar xzf mesos.scheduler-1.11.0.linux-x86_64.tar.gz
SRC=usr/local/lib/python2.7/dist-packages/mesos/scheduler
[ -f psycopg2_binary-2.7.7-cp27-cp27mu-manylinux1_x86_64.whl ] || \
  "$PY3" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
    --python-version 27 --implementation cp --abi cp27mu --platform manylinux1_x86_64 psycopg2-binary==2.7.7 -d .
rm -rf pg && mkdir pg && "$PY3" -m zipfile -e psycopg2_binary-2.7.7-cp27-cp27mu-manylinux1_x86_64.whl pg
cp pg/psycopg2/.libs/* "$D/lib/"
"$PY2" -m pip install -q --disable-pip-version-check --upgrade --target "$D/py2site" protobuf==3.17.3 mesos.interface==1.11.0
mkdir -p "$D/py2site/mesos/scheduler"
cp "$SRC/__init__.py" "$SRC/_scheduler.so" "$D/py2site/mesos/scheduler/"
SO="$D/py2site/mesos/scheduler/_scheduler.so"
PYTHONPATH="$D/py3tools" "$PY3" "$HERE/patch_versions.py" "$SO" >/dev/null
patchelf --replace-needed libssl.so.1.0.0 libssl-c0c2ede4.so.1.0.2q \
         --replace-needed libcrypto.so.1.0.0 libcrypto-c1fa9491.so.1.0.2q \
         --replace-needed libcurl.so.4 libcurl-gnutls.so.4 "$SO"
if LD_LIBRARY_PATH="$D/lib" ldd "$SO" | grep -q '=> not found'; then
  echo "setup.sh: unresolved libraries:" >&2; LD_LIBRARY_PATH="$D/lib" ldd "$SO" | grep 'not found' >&2; exit 1
fi
rm -rf "$D/dl/usr" "$D/dl/pg"
echo "$PY2" > "$D/.py2"; touch "$D/.ready"
echo "$D"
