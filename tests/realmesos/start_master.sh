#!/bin/bash
# Run a real Mesos 1.11.0 "local" cluster (master + MESOS_NUM_SLAVES agents, default 1) in the
# foreground, serving HTTP on 127.0.0.1:PORT (/api/v1/scheduler, /master/api/v1/scheduler,
# /master/state, /master/api/v1, ...). "[run_local] READY" on stderr when up; SIGTERM stops it.
# Usage: start_master.sh DIR PORT     (DIR as prepared by setup.sh)
#        start_master.sh PORT         (DIR: $STRATOS_REALMESOS_DIR, else ${XDG_CACHE_HOME:-~/.cache}/stratos-realmesos)
# Environment: MESOS_NUM_SLAVES, MESOS_RESOURCES (per agent), MESOS_WORK_DIR (default DIR/runs/PORT),
# KEEP_WORK=1 (do not empty MESOS_WORK_DIR first).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
USAGE="usage: start_master.sh [DIR] PORT"
if [ $# -eq 1 ]; then
  D=${STRATOS_REALMESOS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stratos-realmesos}; PORT=$1
else
  D=${1:?$USAGE}; PORT=${2:?$USAGE}
fi
D=$(cd "$D" && pwd)
[ -f "$D/.ready" ] || { echo "start_master.sh: run setup.sh $D first" >&2; exit 1; }
export REALMESOS_DIR="$D"
export LD_LIBRARY_PATH="$D/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LIBPROCESS_IP=127.0.0.1 LIBPROCESS_PORT=$PORT
export MESOS_WORK_DIR=${MESOS_WORK_DIR:-$D/runs/$PORT}
export MESOS_NUM_SLAVES=${MESOS_NUM_SLAVES:-1}
export MESOS_LAUNCHER=${MESOS_LAUNCHER:-posix}
export MESOS_ISOLATION=${MESOS_ISOLATION:-posix/cpu,posix/mem}
export MESOS_SYSTEMD_ENABLE_SUPPORT=false
export MESOS_HTTP_COMMAND_EXECUTOR=${MESOS_HTTP_COMMAND_EXECUTOR:-true}
export MESOS_LAUNCHER_DIR=${MESOS_LAUNCHER_DIR:-$HERE/bin}
export MESOS_RESOURCES=${MESOS_RESOURCES:-"cpus:4;mem:4096;disk:10000;ports:[31000-32000]"}
[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$MESOS_WORK_DIR"
mkdir -p "$MESOS_WORK_DIR"
exec "$(cat "$D/.py2")" "$HERE/run_local.py"
