#!/bin/bash
# A real one-node Slurm (22.05, Debian's slurm-wlm) on this machine, for the Slurm backend's
# pilot jobs and its tests. Needs root (SlurmUser=root; MUNGE is started as the munge user).
# See usage() below, or run with -h.
set -euo pipefail

PROG=local-cluster.sh
MARK="# written by stratos deploy/slurm/local-cluster.sh (delete this file to let another tool own it)"
MARK_PREFIX="# written by stratos deploy/slurm/local-cluster.sh"
DEFAULT_CONF=/etc/slurm/slurm.conf   # the path compiled into Debian's Slurm 22.05

# The daemons and Debian's tools live in sbin.
export PATH="/usr/sbin:/sbin:$PATH"

DIR=$(realpath -m "${STRATOS_SLURM_DIR:-/var/tmp/stratos-slurm}")
CONF=${STRATOS_SLURM_CONF_PATH:-$DEFAULT_CONF}
PARTITION=${STRATOS_SLURM_PARTITION:-debug}
START_TIMEOUT=${STRATOS_SLURM_START_TIMEOUT:-60}
STOP_TIMEOUT=${STRATOS_SLURM_STOP_TIMEOUT:-30}

usage() {
  cat <<EOF
usage: $PROG start|stop|status

Runs a real one-node Slurm cluster on this machine (loopback only): slurmctld and slurmd
in the background, MUNGE if no munged answers yet. Needs root.

  start   install slurm-wlm and munge from Debian if missing (apt-get), start munged (as the
          munge user) unless one already answers 'munge -n | unmunge', write the config to
          Slurm's default path $DEFAULT_CONF (so sbatch/squeue/scancel/sinfo need no
          SLURM_CONF), start 'slurmctld -D' and 'slurmd -D', and wait (at most
          \$STRATOS_SLURM_START_TIMEOUT s, default 60) until the node is idle.
          Already running (its recorded PIDs alive): says so, exits 0.
          Refuses (exit 1) to overwrite a config it did not write: its own config starts
          with the line '$MARK_PREFIX ...'.
  stop    cancel every job, stop the processes it started (by their
          recorded PIDs: slurmctld, slurmd, and munged only if it started munged), wait for
          them to exit (at most \$STRATOS_SLURM_STOP_TIMEOUT s, default 30, then SIGKILL).
          The config and the state directory stay, so 'start' resumes with the same job-id
          counter; delete the state directory for a clean slate.
  status  whether each of its processes runs, and 'sinfo'. Exit 0 if the cluster is up, 3 if not.

The node is NodeName=<short hostname> NodeAddr=127.0.0.1 with the machine's CPUs (as reported
by 'slurmd -C', each CPU declared a core, SelectTypeParameters=CR_Core) so that as many
single-CPU jobs run at once as the machine has CPUs; one partition (Default=YES,
MaxTime=INFINITE). Memory is not a consumable resource.

Environment:
  STRATOS_SLURM_DIR        state, spool, pid and log files (default /var/tmp/stratos-slurm);
                           logs in \$STRATOS_SLURM_DIR/log, finished jobs in log/jobcomp.txt
  STRATOS_SLURM_PARTITION  partition name (default debug)
  STRATOS_SLURM_CPUS       CPUs to declare (default: the real count). More than the real count
                           oversubscribes the machine (adds SlurmdParameters=config_overrides).
  STRATOS_SLURM_CONF_PATH  for tests only: write/read the config here instead of $DEFAULT_CONF
                           (then clients need SLURM_CONF pointing at it)
EOF
}

say() { echo "$PROG: $*"; }
die() { echo "$PROG: $*" >&2; exit 1; }

recorded_pid() { if [ -f "$1" ]; then tr -dc '0-9' <"$1"; fi; }
# pid_is NAME PID: PID is a live process of the program NAME (so a recycled PID is never
# taken for ours). A zombie counts as gone: our daemons are orphans, and PID 1 may reap late.
pid_is() {
  local name=$1 pid=$2 stat
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
own_alive() {
  local name=$1
  pid_is "$name" "$(recorded_pid "$DIR/$name.pid")"
}

munge_answers() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

node_name() { local n; n=$(uname -n); echo "${n%%.*}"; }

# One start or stop at a time (two test sessions may start the cluster together).
take_lock() {
  mkdir -p "$DIR"
  exec 9>"$DIR/lock"
  flock -w 120 9 || die "another $PROG start/stop holds $DIR/lock"
}

# Clients talk to the config at its default path unless a test moved it.
if [ "$CONF" != "$DEFAULT_CONF" ]; then export SLURM_CONF="$CONF"; fi

check_conf_is_ours() {
  local first=""
  [ -e "$CONF" ] || return 0
  first=$(head -n 1 "$CONF")
  if [[ "$first" != "$MARK_PREFIX"* ]]; then
    die "refusing to overwrite $CONF: it exists and was not written by this script" \
        "(its first line is not '$MARK_PREFIX ...'). Move it away if this machine's Slurm should be ours."
  fi
}

install_if_missing() {
  local missing=0 cmd
  for cmd in sbatch squeue scancel sinfo scontrol slurmctld slurmd munged munge unmunge; do
    command -v "$cmd" >/dev/null 2>&1 || missing=1
  done
  [ $missing = 0 ] && return 0
  say "installing slurm-wlm and munge from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge
}

start_munge() {
  if munge_answers; then
    if own_alive munged; then say "munged already running (pid $(recorded_pid "$DIR/munged.pid"))"
    else say "using the munged that already answers (not started by this script)"; rm -f "$DIR/munged.pid"
    fi
    return 0
  fi
  rm -f "$DIR/munged.pid"
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  (cd / && exec setsid setpriv --reuid=munge --regid=munge --init-groups munged -F \
    </dev/null >>"$DIR/log/munged.out" 2>&1 9>&-) &
  local pid=$! i
  echo "$pid" >"$DIR/munged.pid"
  for ((i = 0; i < 100; i++)); do
    munge_answers && { say "started munged (pid $pid)"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$DIR/log/munged.out" /var/log/munge/munged.log >&2 2>/dev/null || true
  die "munged (pid $pid) does not answer 'munge -n | unmunge'"
}

write_conf() {
  local node cpus real_cpus mem extra=""
  node=$(node_name)
  [ -n "$node" ] || die "empty short hostname"
  # slurmd -C: what slurmd will report; declaring no more than that keeps the node from draining.
  local hw
  hw=$(slurmd -C | head -n 1)
  real_cpus=$(sed -n 's/.*\bCPUs=\([0-9]*\).*/\1/p' <<<"$hw")
  mem=$(sed -n 's/.*\bRealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  [ -n "$real_cpus" ] || real_cpus=$(nproc)
  [ -n "$mem" ] || mem=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
  cpus=${STRATOS_SLURM_CPUS:-$real_cpus}
  mem=$((mem * 9 / 10))   # leave slurmd's check some slack
  # Every CPU a core (Sockets=1 CoresPerSocket=CPUs ThreadsPerCore=1): with CR_Core a one-CPU
  # job then takes one CPU, also on a machine with hyperthreads. When the declared layout is not
  # the hardware's, slurmd must be told to report the configured one rather than drain the node.
  if [ "$cpus" != "$real_cpus" ] || ! grep -q 'ThreadsPerCore=1\b' <<<"$hw" \
    || ! grep -q "CoresPerSocket=$real_cpus\b" <<<"$hw"; then
    extra="SlurmdParameters=config_overrides"
  fi
  mkdir -p "$(dirname "$CONF")"
  local tmp="$CONF.tmp.$$"
  cat >"$tmp" <<EOF
$MARK
# A one-node loopback cluster for StratOS's Slurm backend (pilot jobs). Everything the daemons
# keep (state, spool, pids, logs) is under $DIR.
ClusterName=stratos-local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
# No cgroups on this kind of machine.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No database: finished jobs are appended to a text file.
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# High throughput: schedule at once on every submission and completion.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000
ReturnToService=2
# A cancelled job gets SIGKILL 5 s after SIGTERM (default 30).
KillWait=5
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$extra
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 0644 "$tmp"
  mv -f "$tmp" "$CONF"
}

start_daemon() {
  local name=$1; shift
  if own_alive "$name"; then say "$name already running (pid $(recorded_pid "$DIR/$name.pid"))"; return 0; fi
  # setsid: out of the caller's process group (a Ctrl-C there must not stop the cluster);
  # stdio to files: a caller reading our stdout must not wait for the daemons to close it;
  # 9>&-: the daemons must not hold our lock; cd /: a daemon must not keep (or outlive) the caller's
  # working directory (jobs' steps would warn that they cannot get it).
  (cd / && exec setsid "$name" -D "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 9>&-) &
  local pid=$!
  echo "$pid" >"$DIR/$name.pid"
  sleep 0.2
  pid_is "$name" "$pid" || {
    tail -n 20 "$DIR/log/$name.out" "$DIR/log/$name.log" >&2 2>/dev/null || true
    die "$name exited at once (see $DIR/log/$name.out and $name.log)"
  }
  say "started $name (pid $pid)"
}

refuse_foreign_daemons() {
  local name pid own
  for name in slurmctld slurmd; do
    own=$(recorded_pid "$DIR/$name.pid")
    for pid in $(pgrep -x "$name" || true); do
      [ "$pid" = "$own" ] && continue
      pid_is "$name" "$pid" || continue   # exited, not yet reaped
      die "a $name (pid $pid) is running that this script did not start (not in $DIR/$name.pid); stop it first"
    done
  done
}

wait_idle() {
  local deadline=$((SECONDS + START_TIMEOUT)) state=""
  while ((SECONDS < deadline)); do
    for name in slurmctld slurmd; do
      own_alive "$name" || {
        tail -n 20 "$DIR/log/$name.out" "$DIR/log/$name.log" >&2 2>/dev/null || true
        die "$name stopped while the cluster was starting (see $DIR/log/)"
      }
    done
    state=$(timeout 10 sinfo -h -o %T 2>/dev/null | head -n 1 || true)
    case "$state" in
      idle | mixed | allocated | completing) say "node is $state: cluster up (partition $PARTITION)"; return 0 ;;
    esac
    sleep 0.5
  done
  timeout 10 sinfo -R >&2 || true
  tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 2>/dev/null || true
  die "node not idle after ${START_TIMEOUT}s (last sinfo state: '${state:-none}'); logs in $DIR/log/"
}

cmd_start() {
  [ "$(id -u)" = 0 ] || die "needs root (SlurmUser=root, and MUNGE is started as the munge user)"
  if own_alive slurmctld && own_alive slurmd && munge_answers; then
    say "already running (slurmctld pid $(recorded_pid "$DIR/slurmctld.pid"), slurmd pid $(recorded_pid "$DIR/slurmd.pid"))"
    return 0
  fi
  check_conf_is_ours
  take_lock
  if own_alive slurmctld && own_alive slurmd && munge_answers; then
    say "already running (started meanwhile by another $PROG)"
    return 0
  fi
  refuse_foreign_daemons
  install_if_missing
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/run" "$DIR/log"
  chmod 0755 "$DIR" "$DIR/log"
  start_munge
  if own_alive slurmctld; then
    say "slurmctld already running: keeping its config"
  else
    write_conf
    say "wrote $CONF"
  fi
  local node
  node=$(node_name)
  local started_ctld=0 log_offset=0
  if ! own_alive slurmctld; then
    started_ctld=1
    log_offset=$(stat -c %s "$DIR/log/slurmctld.log" 2>/dev/null || echo 0)
  fi
  start_daemon slurmctld -f "$CONF"
  start_daemon slurmd -f "$CONF" -N "$node"
  wait_idle
  [ $started_ctld = 1 ] && wait_first_schedule "$log_offset"
  return 0
}

# Until its first scheduling pass (about 3 s after start), slurmctld has not read
# SchedulerParameters: a job submitted before then waits batch_sched_delay's default 3 s.
# The pass logs "SchedulerParameters=..."; wait for it (bounded) so that 'start' returns a
# cluster that runs the next job at once.
wait_first_schedule() {
  local offset=$1 deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    tail -c "+$((offset + 1))" "$DIR/log/slurmctld.log" 2>/dev/null | grep -q 'SchedulerParameters=' && return 0
    sleep 0.2
  done
  say "note: slurmctld's first scheduling pass not seen in its log; the first job may wait ~3 s"
}

# stop_pid NAME: SIGTERM the recorded process, wait, SIGKILL after STOP_TIMEOUT.
stop_pid() {
  local name=$1 pid deadline
  pid=$(recorded_pid "$DIR/$name.pid")
  if ! pid_is "$name" "$pid"; then
    [ -f "$DIR/$name.pid" ] && say "$name not running"
    rm -f "$DIR/$name.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while pid_is "$name" "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if pid_is "$name" "$pid"; then
    say "$name (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_is "$name" "$pid"; do sleep 0.1; done
  fi
  rm -f "$DIR/$name.pid"
  say "stopped $name (pid $pid)"
}

cmd_stop() {
  [ -d "$DIR" ] || { say "nothing to stop ($DIR does not exist)"; return 0; }
  take_lock
  if own_alive slurmctld; then
    # Cancel every job (any user, any partition) so that no job step outlives slurmd.
    local parts
    parts=$(timeout 10 sinfo -h -o %R 2>/dev/null | paste -sd, || true)
    [ -z "$parts" ] || timeout 20 scancel --partition="$parts" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)) && [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null || true)" ]; do
      sleep 0.5
    done
    [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null || true)" ] || say "some jobs are still in the queue"
  fi
  stop_pid slurmd
  stop_pid slurmctld
  stop_pid munged
}

cmd_status() {
  local up=0 name pid
  for name in slurmctld slurmd; do
    pid=$(recorded_pid "$DIR/$name.pid")
    if pid_is "$name" "$pid"; then echo "$name: running (pid $pid)"; else echo "$name: not running"; up=3; fi
  done
  pid=$(recorded_pid "$DIR/munged.pid")
  if pid_is munged "$pid"; then
    echo "munged: running (pid $pid, started by this script)"
  elif munge_answers; then
    echo "munged: answering (not started by this script)"
  else
    echo "munged: not answering"; up=3
  fi
  echo "config: $CONF   state: $DIR"
  if own_alive slurmctld; then
    timeout 15 sinfo || up=3
    local state
    state=$(timeout 10 sinfo -h -o %T 2>/dev/null | head -n 1 || true)
    case "$state" in
      idle | mixed | allocated | completing) ;;
      *) echo "node state: '${state:-unknown}' (not up)"; up=3 ;;
    esac
  fi
  return $up
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) rc=0; cmd_status || rc=$?; exit $rc ;;
  -h | --help | help) usage ;;
  "") usage; exit 2 ;;
  *) usage >&2; exit 2 ;;
esac
