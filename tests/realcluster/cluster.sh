#!/bin/bash
# A real multi-host cluster on one machine: each host is a Linux network namespace (plus its own
# UTS namespace, so `hostname` says its name), joined by a bridge. Real Mesos 1.11 master + one agent
# per host, real HDFS 2.7.3 NameNode + one DataNode per host, optionally real Slurm 22.05 (slurmctld +
# one slurmd per host). Needs root; `up` runs ./setup.sh (downloads, cached) when needed. Agents use
# the stand-in helper programs of ../realmesos/bin. See usage() or README.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROG=cluster.sh
RM_KIT=$(realpath -m "$HERE/../realmesos")   # tests/realmesos: run_local.py and the agents' bin/
S=$(realpath -m "${RC_STATE_DIR:-/tmp/stratos-realcluster}")
C=$(realpath -m "${RC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stratos-realcluster}")
P=${RC_NS_PREFIX:-st-}
NET=${RC_SUBNET:-10.213.0}
HEAD_IP=$NET.1
MPORT=${RC_MASTER_PORT:-5050}
APORT=${RC_AGENT_PORT:-5051}
NN_RPC=${RC_NN_RPC_PORT:-8020}
NN_HTTP=${RC_NN_HTTP_PORT:-9870}
START_TIMEOUT=${RC_START_TIMEOUT:-180}
STOP_TIMEOUT=${RC_STOP_TIMEOUT:-10}
export PATH="/usr/sbin:/sbin:$PATH"
export RC_STATE_DIR=$S
RC_CALLER_MNTNS=$(readlink /proc/self/ns/mnt); RC_CALLER_UTSNS=$(readlink /proc/self/ns/uts)
export RC_CALLER_MNTNS RC_CALLER_UTSNS

usage() {
  cat <<EOF
usage: $PROG up [N] [--slurm] | down | status | env [--json]
       $PROG exec HOST [CMD...]           run CMD (default: bash) as HOST (nn = head, h1..hN)
       $PROG put hN LOCAL HDFS_PATH       write LOCAL into HDFS from host hN (FsShell -put -f)
       $PROG dfs hN ARGS...               any FsShell command from host hN (e.g. -ls -R /)
       $PROG kill-agent hN | start-agent hN         SIGKILL / restart (recovering) hN's Mesos agent
       $PROG kill-datanode DN | start-datanode DN   SIGKILL / restart DataNode DN (hN, or hN-K with RC_DN_PER_HOST)
       $PROG add-datanode hN              start one more DataNode hN-K in hN (same address, ports +10); prints DN
       $PROG cut hN | heal hN             ip link set eth0 down / up inside hN

up: head namespace ${P}nn (bridge br0, $HEAD_IP/24: Mesos master :$MPORT, NameNode :$NN_RPC,
WebHDFS :$NN_HTTP, with --slurm munged + slurmctld) and hosts ${P}h1..${P}hN (eth0 $NET.1<i>: Mesos
agent :$APORT named h<i>, DataNode, with --slurm slurmd -N h<i>); waits until the master lists N agents,
the NameNode N live DataNodes (and Slurm N idle nodes); writes the addresses to $S/env.
Default N=3 (at most 20). Everything it starts is recorded by pid and stopped by pid on 'down',
which also kills what is left inside its namespaces (tasks, job steps) and deletes them.

Environment (defaults): RC_STATE_DIR (/tmp/stratos-realcluster), RC_CACHE_DIR (~/.cache/stratos-realcluster),
RC_NS_PREFIX (st-), RC_SUBNET (10.213.0), RC_UTS (1: each host its own hostname; 0: the machine's),
RC_AGENT_RESOURCES ("cpus:2;mem:2048;disk:10000;ports:[31000-32000]"), RC_AGENT_RESOURCES_h<i>,
RC_AGENT_ATTRIBUTES[_h<i>] (none), MESOS_* (passed to master and agents, e.g. MESOS_AGENT_PING_TIMEOUT),
RC_DFS_REPLICATION (2), RC_DFS_BLOCKSIZE (1048576), RC_DFS_RECHECK_MS (5000: dead DataNode after ~20 s),
RC_NN_HEAP (256m), RC_DN_HEAP (128m),
RC_DN_PER_HOST (1; K > 1: DataNodes hN, hN-2..hN-K in each host, one address, ports +10 each),
RC_HIDE_h<i> (paths hidden from host h<i> by an empty tmpfs mounted over each, e.g. a venv), RC_SLURM (0; 1 = --slurm), RC_SLURM_CPUS (2), RC_SLURM_MEM (1024),
RC_SLURMD_TIMEOUT (30), RC_SANDBOX_STDIO (1: task stdout/stderr into the sandbox files),
RC_SLURM_PARTITION (rc), RC_N (3), RC_START_TIMEOUT (180 s), RC_STOP_TIMEOUT (10 s), RC_KEEP_ON_FAIL (0).
EOF
}

say() { echo "$PROG: $*" >&2; }
die() { echo "$PROG: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "needs root (it creates network namespaces, veths and a bridge)"; }

ip_of() { if [ "$1" = nn ]; then echo "$HEAD_IP"; else echo "$NET.1${1#h}"; fi; }
valid_host() { [ "$1" = nn ] || grep -qx "$1" "$S/hosts.list" 2>/dev/null || die "no host '$1' (hosts: nn $(tr '\n' ' ' <"$S/hosts.list" 2>/dev/null))"; }
load_state() {
  [ -f "$S/cluster.conf" ] || die "no cluster state in $S (run '$PROG up' first)"
  # shellcheck disable=SC1091
  . "$S/cluster.conf"
}

# host_argv HOST: A=(the command prefix that runs a program as HOST)
host_argv() {
  if [ "${UTS:-1}" = 1 ]; then
    A=(ip netns exec "$P$1" unshare --uts --mount --propagation private "$HERE/lib/inhost.sh" "$1" 1)
  else
    A=(ip netns exec "$P$1" unshare --mount --propagation private "$HERE/lib/inhost.sh" "$1" 0)
  fi
}

# --- processes, recorded as "PID STARTTIME" in $S/run/NAME.pid --------------------------------------
starttime() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo "${20}"; }
rec_alive() {  # rec_alive NAME: its recorded process still runs (same start time, not a zombie)
  local f="$S/run/$1.pid" pid st s
  [ -f "$f" ] || return 1
  read -r pid st <"$f" || return 1
  s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [ "${s%% *}" != Z ] && [ "$(starttime "$pid")" = "$st" ]
}
rec_pid() { local pid st; read -r pid st <"$S/run/$1.pid" 2>/dev/null && echo "$pid"; }
# start_proc NAME HOST CMD...: start CMD as HOST in the background, its own session, log in $S/log/NAME.log
start_proc() {
  local name=$1 host=$2; shift 2
  host_argv "$host"
  mkdir -p "$S/run" "$S/log"
  (cd / && exec setsid "${A[@]}" "$@" </dev/null >>"$S/log/$name.log" 2>&1 9>&-) &
  local pid=$!
  echo "$pid $(starttime "$pid")" >"$S/run/$name.pid"
}
# stop_procs SIG NAME...: signal the recorded processes, wait up to STOP_TIMEOUT, then SIGKILL
stop_procs() {
  local sig=$1 n pid deadline left; shift
  local live=()
  for n in "$@"; do
    if rec_alive "$n"; then live+=("$n"); kill "-$sig" "$(rec_pid "$n")" 2>/dev/null || true; fi
  done
  deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    left=()
    for n in "${live[@]}"; do rec_alive "$n" && left+=("$n"); done
    [ ${#left[@]} = 0 ] && break
    if ((SECONDS >= deadline)); then
      for n in "${left[@]}"; do say "$n (pid $(rec_pid "$n")) still running: SIGKILL"; kill -KILL "$(rec_pid "$n")" 2>/dev/null || true; done
      deadline=$((SECONDS + 5))
    fi
    sleep 0.2
  done
  for n in "${live[@]}"; do say "stopped $n (pid $(rec_pid "$n"), SIG$sig)"; done
  for n in "$@"; do rm -f "$S/run/$n.pid"; done
}

curl_head() { ip netns exec "${P}nn" curl -sf --max-time "${2:-3}" "$1"; }
agents_up() {  # number of active agents with distinct hostnames
  curl_head "http://$HEAD_IP:$MPORT/master/slaves" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)["slaves"]
print(len({a["hostname"] for a in s if a.get("active")}))' 2>/dev/null || echo 0
}
datanodes_up() {  # live DataNodes, or -1 while the NameNode is in safe mode
  curl_head "http://$HEAD_IP:$NN_HTTP/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo" 2>/dev/null | python3 -c '
import json, sys
b = json.load(sys.stdin)["beans"][0]
print(-1 if b.get("Safemode") else len(json.loads(b["LiveNodes"])))' 2>/dev/null || echo 0
}
slurm_idle() {
  ip netns exec "${P}nn" env SLURM_CONF="$S/slurm/slurm.conf" timeout 5 sinfo -h -N -o '%N %t' 2>/dev/null \
    | awk '$2=="idle"' | sort -u | wc -l
}

# --- configuration files --------------------------------------------------------------------------
write_hosts() {
  {
    echo "127.0.0.1 localhost"
    [ "$UTS" = 1 ] || echo "127.0.0.1 $(hostname)"   # every host keeps the machine's name then
    echo "$HEAD_IP nn"; for h in $HOSTS; do echo "$(ip_of "$h") $(dn_names "$h" | tr '\n' ' ')"; done
  } >"$S/hosts"
  printf '%s\n' $HOSTS >"$S/hosts.list"
}
# dn_names hN: the DataNodes of host hN (hN; with RC_DN_PER_HOST=K also hN-2..hN-K), one a line
dn_names() { local k; echo "$1"; for ((k = 2; k <= ${DN_PER_HOST:-1}; k++)); do echo "$1-$k"; done; }
dn_host() { echo "${1%%-*}"; }                                   # hN-2 -> hN
dn_index() { case $1 in *-*) echo "${1##*-}" ;; *) echo 1 ;; esac; }   # hN-2 -> 2, hN -> 1
hdfs_conf() {  # hdfs_conf NAME: $S/hdfs/conf/NAME (core-site, hdfs-site, log4j) for nn or a DataNode
  local h=$1 d="$S/hdfs/conf/$1" ip off extra=""
  mkdir -p "$d"
  if [ "$h" != nn ]; then
    ip=$(ip_of "$(dn_host "$h")"); off=$((10 * ($(dn_index "$h") - 1)))
    extra="<property><name>dfs.datanode.data.dir</name><value>$S/hdfs/dn-$h</value></property>
<property><name>dfs.datanode.hostname</name><value>$h</value></property>
<property><name>dfs.datanode.address</name><value>$ip:$((9866 + off))</value></property>
<property><name>dfs.datanode.http.address</name><value>$ip:$((9864 + off))</value></property>
<property><name>dfs.datanode.ipc.address</name><value>$ip:$((9867 + off))</value></property>"
  fi
  cat >"$d/core-site.xml" <<EOF
<configuration>
<property><name>fs.defaultFS</name><value>hdfs://$HEAD_IP:$NN_RPC</value></property>
<property><name>hadoop.tmp.dir</name><value>$S/hdfs/tmp-$h</value></property>
</configuration>
EOF
  cat >"$d/hdfs-site.xml" <<EOF
<configuration>
<property><name>dfs.namenode.name.dir</name><value>$S/hdfs/name</value></property>
<property><name>dfs.namenode.rpc-address</name><value>$HEAD_IP:$NN_RPC</value></property>
<property><name>dfs.namenode.http-address</name><value>$HEAD_IP:$NN_HTTP</value></property>
<property><name>dfs.namenode.secondary.http-address</name><value>$HEAD_IP:0</value></property>
<property><name>dfs.replication</name><value>${RC_DFS_REPLICATION:-2}</value></property>
<property><name>dfs.blocksize</name><value>${RC_DFS_BLOCKSIZE:-1048576}</value></property>
<property><name>dfs.namenode.fs-limits.min-block-size</name><value>0</value></property>
<property><name>dfs.namenode.datanode.registration.ip-hostname-check</name><value>false</value></property>
<property><name>dfs.heartbeat.interval</name><value>1</value></property>
<property><name>dfs.namenode.heartbeat.recheck-interval</name><value>${RC_DFS_RECHECK_MS:-5000}</value></property>
<property><name>dfs.namenode.safemode.extension</name><value>0</value></property>
<!-- the first replica goes to the writer's own DataNode even while it serves other transfers:
     with considerLoad a node above twice the cluster's average load is passed over, which on
     three nodes is one busy transfer, and tests write from each host to place data there -->
<property><name>dfs.namenode.replication.considerLoad</name><value>false</value></property>
$extra
</configuration>
EOF
  cat >"$d/log4j.properties" <<'EOF'
hadoop.root.logger=INFO,console
log4j.rootLogger=${hadoop.root.logger}
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{HH:mm:ss} %p %c{1}: %m%n
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
EOF
}
# hjava HOST HEAP CLASS ARGS...: J=(java command line for a Hadoop class with HOST's configuration)
hjava() {
  local h=$1 heap=$2; shift 2
  mkdir -p "$S/tmp"
  # jetty.home: the web server's scratch goes under "$jetty.home/work" when such a folder exists
  # (unset: the working directory's, which for daemons started in / is /work on some machines);
  # else under java.io.tmpdir. Both in the state directory, removed with it.
  J=(java "-Xmx$heap" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true
     "-Djetty.home=$S" "-Djava.io.tmpdir=$S/tmp" "-Dhadoop.log.dir=$S/log" "-Dhadoop.home.dir=$C/hadoop" -Dhadoop.id.str=root
     -cp "$S/hdfs/conf/$h:$C/hadoop/webroot:$C/hadoop/jars/*" "$@")
}
slurm_conf() {
  local d="$S/slurm" ctl=nn h
  [ "${UTS:-1}" = 1 ] || ctl=$(hostname -s)   # slurmctld must run on a host named SlurmctldHost
  mkdir -p "$d/state" "$d/log"
  for h in $HOSTS; do mkdir -p "$d/spool/$h"; done
  : >"$d/plugstack.conf"
  # 'ip netns exec' mounts a fresh /sys, without the cgroup file systems under /sys/fs/cgroup, where
  # slurmd's cgroup autodetection fails ("No filesystem mounted on /sys/fs/cgroup"). Nothing here
  # uses cgroups (proctrack/linuxproc, task/none); naming the plugin skips the detection.
  echo "CgroupPlugin=cgroup/v1" >"$d/cgroup.conf"
  {
    cat <<EOF
# realcluster: a Slurm cluster over the namespaces ${P}h*; clients need SLURM_CONF=$d/slurm.conf
ClusterName=realcluster
SlurmctldHost=$ctl($HEAD_IP)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge/munge.socket
PlugStackConfig=$d/plugstack.conf
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000
SlurmdParameters=config_overrides
ReturnToService=2
SlurmdTimeout=${RC_SLURMD_TIMEOUT:-30}
KillWait=5
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
EOF
    for h in $HOSTS; do
      echo "NodeName=$h NodeAddr=$(ip_of "$h") CPUs=${RC_SLURM_CPUS:-2} RealMemory=${RC_SLURM_MEM:-1024} State=UNKNOWN"
    done
    echo "PartitionName=${RC_SLURM_PARTITION:-rc} Nodes=$(echo $HOSTS | tr ' ' ,) Default=YES MaxTime=INFINITE State=UP"
  } >"$d/slurm.conf"
}

# --- daemons --------------------------------------------------------------------------------------
mesos_env() {  # mesos_env IP PORT HOSTNAME WORKDIR: E=(env ...) for run_local.py / run_agent.py
  E=(env "REALMESOS_DIR=$REALMESOS_DIR" "LD_LIBRARY_PATH=$REALMESOS_DIR/lib" "LIBPROCESS_IP=$1" "LIBPROCESS_PORT=$2"
     "MESOS_HOSTNAME=$3" "MESOS_WORK_DIR=$4" MESOS_LAUNCHER=posix MESOS_ISOLATION=posix/cpu,posix/mem
     MESOS_SYSTEMD_ENABLE_SUPPORT=false MESOS_HTTP_COMMAND_EXECUTOR=true "MESOS_LAUNCHER_DIR=$RM_KIT/bin")
}
start_master() {
  mesos_env "$HEAD_IP" "$MPORT" nn "$S/mesos/master"
  mkdir -p "$S/mesos/master"
  start_proc mesos-master nn "${E[@]}" MESOS_NUM_SLAVES=0 "$PY2" "$RM_KIT/run_local.py"
}
start_agent() {
  local h=$1 res attr v
  v="RC_AGENT_RESOURCES_$h"; res=${!v:-${RC_AGENT_RESOURCES:-"cpus:2;mem:2048;disk:10000;ports:[31000-32000]"}}
  v="RC_AGENT_ATTRIBUTES_$h"; attr=${!v:-${RC_AGENT_ATTRIBUTES:-}}
  mesos_env "$(ip_of "$h")" "$APORT" "$h" "$S/mesos/$h"
  mkdir -p "$S/mesos/$h"
  E+=(MESOS_NUM_SLAVES=1 "MESOS_RESOURCES=$res" "REMOTE_MASTER=master@$HEAD_IP:$MPORT"
      "UPID_CTOR_OFF=$UPID_CTOR_OFF" "DETECTOR_OFF=$DETECTOR_OFF")
  [ -z "$attr" ] || E+=("MESOS_ATTRIBUTES=$attr")
  start_proc "mesos-agent-$h" "$h" "${E[@]}" "$PY2" "$HERE/lib/run_agent.py"
}
start_namenode() { hjava nn "${RC_NN_HEAP:-256m}" org.apache.hadoop.hdfs.server.namenode.NameNode; start_proc namenode nn "${J[@]}"; }
start_datanode() {  # start_datanode DN (hN or hN-K): runs in host hN
  hjava "$1" "${RC_DN_HEAP:-128m}" org.apache.hadoop.hdfs.server.datanode.DataNode
  start_proc "datanode-$1" "$(dn_host "$1")" "${J[@]}"
}
start_slurm() {
  local h
  command -v slurmctld >/dev/null && command -v munged >/dev/null || die "--slurm needs slurm-wlm and munge (setup.sh installs them)"
  chmod a+x "$S"   # munged checks that everyone may reach its socket directory
  install -d -o munge -g munge -m 0755 "$S/munge"
  mungekey --create --keyfile="$S/munge/munge.key" --force
  chown munge:munge "$S/munge/munge.key"; chmod 0400 "$S/munge/munge.key"
  start_proc munged nn setpriv --reuid=munge --regid=munge --init-groups munged -F \
    --socket="$S/munge/munge.socket" --key-file="$S/munge/munge.key" --pid-file="$S/munge/munged.pid" \
    --log-file="$S/munge/munged.log" --seed-file="$S/munge/munged.seed"
  local i
  for ((i = 0; ; i++)); do
    munge -S "$S/munge/munge.socket" -n 2>/dev/null | unmunge -S "$S/munge/munge.socket" >/dev/null 2>&1 && break
    rec_alive munged && ((i < 100)) || { tail -5 "$S/log/munged.log" "$S/munge/munged.log" >&2 2>/dev/null; die "munged does not answer"; }
    sleep 0.1
  done
  slurm_conf
  start_proc slurmctld nn slurmctld -D -f "$S/slurm/slurm.conf"
  for h in $HOSTS; do start_proc "slurmd-$h" "$h" slurmd -D -f "$S/slurm/slurm.conf" -N "$h"; done
}

make_netns() {
  local n=$1 err
  err=$(ip netns add "$P$n" 2>&1) || die "'ip netns add $P$n' failed: $err (needs root with CAP_SYS_ADMIN and network namespaces)"
  echo "$P$n" >>"$S/netns.list"
  ip -n "$P$n" link set lo up
}
make_network() {
  local h
  make_netns nn
  ip -n "${P}nn" link add br0 type bridge
  ip -n "${P}nn" addr add "$HEAD_IP/24" dev br0
  ip -n "${P}nn" link set br0 up
  for h in $HOSTS; do
    make_netns "$h"
    # Both ends are created inside their namespaces: nothing appears in the caller's namespace.
    ip link add "v$h" netns "${P}nn" type veth peer name eth0 netns "$P$h"
    ip -n "${P}nn" link set "v$h" master br0 up
    ip -n "$P$h" addr add "$(ip_of "$h")/24" dev eth0
    ip -n "$P$h" link set eth0 up
  done
}

# --- commands -------------------------------------------------------------------------------------
take_lock() { mkdir -p "$S"; exec 9>"$S/lock"; flock -w 60 9 || die "another $PROG holds $S/lock"; }
own_netns() {  # namespaces of this kit that exist now: recorded ones and ${P}nn / ${P}h<digits>
  { cat "$S/netns.list" 2>/dev/null; ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${P}(nn|h[0-9]+)\$" || true; } | sort -u \
    | while read -r ns; do [ -e "/run/netns/$ns" ] && echo "$ns"; done
}

cmd_up() {
  local n=${RC_N:-3} slurm=${RC_SLURM:-0} a
  for a in "$@"; do
    case $a in --slurm) slurm=1 ;; [0-9]*) n=$a ;; *) die "up: unknown argument '$a'" ;; esac
  done
  [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 20)) || die "up: N must be 1..20"
  need_root
  [[ "${RC_DN_PER_HOST:-1}" =~ ^[1-9]$ ]] || die "RC_DN_PER_HOST must be 1..9"
  # setup.sh returns at once when the cache is ready; otherwise it downloads (minutes) into it.
  RC_WITH_SLURM=$slurm "$HERE/setup.sh" "$C" >/dev/null || die "setup.sh $C failed"
  # shellcheck disable=SC1091
  . "$C/mesos.env"
  PY2=$(cat "$REALMESOS_DIR/.py2")
  [ -x "$RM_KIT/run_local.py" ] || [ -f "$RM_KIT/run_local.py" ] || die "no realmesos kit at $RM_KIT"
  take_lock
  [ -z "$(own_netns)" ] || die "namespaces $(own_netns | tr '\n' ' ')exist: a cluster is up or left over; run '$PROG down' first"
  [ ! -f "$S/cluster.conf" ] || die "$S/cluster.conf exists: run '$PROG down' first"
  local f t0=$SECONDS
  for f in "$S"/run/*.pid; do
    [ -e "$f" ] || continue
    ! rec_alive "$(basename "$f" .pid)" || die "$(basename "$f" .pid) (pid $(rec_pid "$(basename "$f" .pid)")) still runs: run '$PROG down' first"
  done
  rm -f "$S/netns.list" "$S/env"
  HOSTS=$(seq -f 'h%g' 1 "$n" | tr '\n' ' '); HOSTS=${HOSTS% }
  UTS=${RC_UTS:-1}; SLURM=$slurm; DN_PER_HOST=${RC_DN_PER_HOST:-1}
  printf 'HOSTS="%s"\nUTS=%s\nSLURM=%s\nDN_PER_HOST=%s\nC=%s\nRM_KIT=%s\nPY2=%s\nREALMESOS_DIR=%s\nUPID_CTOR_OFF=%s\nDETECTOR_OFF=%s\n' \
    "$HOSTS" "$UTS" "$SLURM" "$DN_PER_HOST" "$C" "$RM_KIT" "$PY2" "$REALMESOS_DIR" "$UPID_CTOR_OFF" "$DETECTOR_OFF" >"$S/cluster.conf"
  if [ "${RC_KEEP_ON_FAIL:-0}" != 1 ]; then
    trap 'rc=$?; trap - EXIT INT TERM; if [ $rc != 0 ]; then say "up failed (logs in $S/log): cleaning up"; do_down >&2 || true; fi; exit $rc' EXIT
    trap 'exit 130' INT TERM
  fi
  write_hosts
  make_network   # the first change to the system: 'ip netns add' failing stops here
  rm -rf "$S/run" "$S/log" "$S/hdfs" "$S/mesos" "$S/slurm" "$S/munge" "$S/hide" || die "cannot clear the previous state under $S"
  mkdir -p "$S/run" "$S/log" "$S/hide"
  for h in $HOSTS; do  # RC_HIDE_hN: paths lib/inhost.sh covers with an empty tmpfs in that host
    v="RC_HIDE_$h"; [ -z "${!v:-}" ] || printf '%s\n' ${!v} >"$S/hide/$h"
  done
  say "network: ${P}nn $HEAD_IP + $(for h in $HOSTS; do printf '%s ' "$P$h=$(ip_of "$h")"; done)"
  start_master
  for h in $HOSTS; do start_agent "$h"; done
  DNS=$(for h in $HOSTS; do dn_names "$h"; done | tr '\n' ' '); DNS=${DNS% }
  for h in nn $DNS; do hdfs_conf "$h"; done
  hjava nn 256m org.apache.hadoop.hdfs.server.namenode.NameNode -format -force -nonInteractive -clusterid realcluster
  host_argv nn
  "${A[@]}" "${J[@]}" >"$S/log/namenode-format.log" 2>&1 </dev/null || { tail -20 "$S/log/namenode-format.log" >&2; die "NameNode -format failed"; }
  start_namenode
  for h in $DNS; do start_datanode "$h"; done
  [ "$SLURM" = 1 ] && start_slurm
  local sltxt=""; [ "$SLURM" = 1 ] && sltxt=", $n idle Slurm nodes"
  local ndn=$((n * DN_PER_HOST))
  say "started $(ls "$S/run" | wc -l) processes; waiting for $n agents, $ndn live DataNodes$sltxt"
  local deadline=$((SECONDS + START_TIMEOUT)) ag=0 dn=0 sl=0 ok f
  while :; do
    for f in "$S"/run/*.pid; do
      [ -e "$f" ] || continue
      f=$(basename "$f" .pid)
      rec_alive "$f" || { tail -25 "$S/log/$f.log" >&2 2>/dev/null; die "$f exited during start (log: $S/log/$f.log)"; }
    done
    ag=$(agents_up); dn=$(datanodes_up); ok=1
    [ "$ag" = "$n" ] && [ "$dn" = "$ndn" ] || ok=0
    if [ "$SLURM" = 1 ]; then sl=$(slurm_idle); [ "$sl" = "$n" ] || ok=0; fi
    [ $ok = 1 ] && break
    ((SECONDS < deadline)) || die "not up after ${START_TIMEOUT}s: $ag/$n agents, $dn/$ndn live DataNodes (-1: safe mode)${sltxt:+, $sl/$n idle Slurm nodes}"
    sleep 0.5
  done
  write_env
  trap - EXIT INT TERM
  say "up in $((SECONDS - t0)) s: $n hosts ($HOSTS), $n agents, $ndn DataNodes${sltxt:+, $n Slurm nodes}"
  cat "$S/env"
}

write_env() {
  {
    echo "export RC_STATE_DIR=$S"
    echo "export RC_HOSTS=\"$HOSTS\""
    echo "export RC_NETNS_PREFIX=$P RC_HEAD_NETNS=${P}nn"
    echo "export RC_HEAD_IP=$HEAD_IP"
    for h in $HOSTS; do echo "export RC_IP_$h=$(ip_of "$h")"; done
    echo "export RC_MASTER=$HEAD_IP:$MPORT"
    echo "export RC_MASTER_URL=http://$HEAD_IP:$MPORT"
    echo "export RC_NAMENODE_URL=hdfs://$HEAD_IP:$NN_RPC"
    echo "export RC_NAMENODE_HTTP=http://$HEAD_IP:$NN_HTTP"
    echo "export RC_WEBHDFS_URL=http://$HEAD_IP:$NN_HTTP/webhdfs/v1"
    echo "export RC_HADOOP_CONF_DIR=$S/hdfs/conf/nn"
    echo "export RC_DATANODES=\"$(for h in $HOSTS; do dn_names "$h"; done | tr '\n' ' ' | sed 's/ $//')\""
    if [ "$SLURM" = 1 ]; then
      echo "export RC_SLURM_CONF=$S/slurm/slurm.conf RC_SLURM_PARTITION=${RC_SLURM_PARTITION:-rc}"
    fi
  } >"$S/env"
}

do_down() {  # stop everything recorded, sweep our namespaces, delete them
  local names=() f ns pids p
  trap '' PIPE   # a reader that went away (| head) must not stop the cleanup half-way
  if [ -f "$S/slurm/slurm.conf" ] && rec_alive slurmctld; then
    ip netns exec "${P}nn" env SLURM_CONF="$S/slurm/slurm.conf" timeout 10 scancel --full -p "${RC_SLURM_PARTITION:-rc}" 2>/dev/null || true
  fi
  for f in "$S"/run/*.pid; do [ -e "$f" ] && names+=("$(basename "$f" .pid)"); done
  [ ${#names[@]} = 0 ] || stop_procs TERM "${names[@]}"
  for ns in $(own_netns); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    if [ -n "${pids// /}" ]; then
      for p in $pids; do say "killing pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) left in $ns"; done
      kill -TERM $pids 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do sleep 0.3; [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; done
      pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
      [ -z "${pids// /}" ] || kill -KILL $pids 2>/dev/null || true
    fi
  done
  for ns in $(own_netns | grep -v "^${P}nn\$") $(own_netns | grep -x "${P}nn"); do  # the head last
    ip netns del "$ns" && say "deleted netns $ns"
  done
  rm -f "$S/netns.list" "$S/cluster.conf" "$S/env"
}
cmd_down() {
  need_root
  take_lock
  if [ -z "$(own_netns)" ] && ! ls "$S"/run/*.pid >/dev/null 2>&1; then say "nothing to stop"; rm -f "$S/cluster.conf" "$S/env"; return 0; fi
  do_down
  say "down (logs kept in $S/log)"
}

cmd_status() {
  load_state
  local rc=0 f n
  echo "hosts: nn $HOSTS   state: $S   namespaces: $(own_netns | tr '\n' ' ')"
  for f in "$S"/run/*.pid; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .pid)
    if rec_alive "$n"; then echo "  $n: running (pid $(rec_pid "$n"))"; else echo "  $n: NOT running"; rc=3; fi
  done
  n=$(echo $HOSTS | wc -w)
  local ag dn sl
  local ndn; ndn=$(find "$S/hdfs/conf" -mindepth 1 -maxdepth 1 -type d ! -name nn | wc -l)  # add-datanode too
  ag=$(agents_up); dn=$(datanodes_up); [ "$ag" = "$n" ] && [ "$dn" = "$ndn" ] || rc=3
  echo "mesos: $ag/$n active agents at http://$HEAD_IP:$MPORT"
  echo "hdfs: $dn/$ndn live DataNodes at hdfs://$HEAD_IP:$NN_RPC (-1: safe mode)"
  if [ "$SLURM" = 1 ]; then
    sl=$(slurm_idle); [ "$sl" = "$n" ] || rc=3
    echo "slurm: $sl/$n idle nodes"
    ip netns exec "${P}nn" env SLURM_CONF="$S/slurm/slurm.conf" timeout 5 sinfo -N 2>/dev/null | sed 's/^/  /' || true
  fi
  return $rc
}

cmd_exec() {
  load_state
  local h=${1:?exec HOST CMD...}; shift
  valid_host "$h"
  host_argv "$h"
  [ $# -gt 0 ] || set -- bash
  exec "${A[@]}" "$@"
}
cmd_dfs() {
  load_state
  local h=${1:?dfs hN ARGS...}; shift
  valid_host "$h"
  host_argv "$h"
  hjava "$h" 128m -Dhadoop.root.logger=WARN,console org.apache.hadoop.fs.FsShell "$@"
  "${A[@]}" "${J[@]}"
}
cmd_put() {
  local h=${1:?put hN LOCAL HDFS_PATH} local=${2:?put hN LOCAL HDFS_PATH} dst=${3:?put hN LOCAL HDFS_PATH}
  [ -f "$local" ] || die "put: no file $local"
  local=$(realpath "$local")
  [[ "$dst" == /* ]] || die "put: HDFS_PATH must be absolute"
  cmd_dfs "$h" -mkdir -p "$(dirname "$dst")"
  cmd_dfs "$h" -put -f "$local" "$dst"
}
host_cmd() {  # common checks for the fault helpers
  need_root; load_state; valid_host "$1"; [ "$1" != nn ] || die "$2 applies to h1..hN"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env)
    load_state; [ -f "$S/env" ] || die "cluster not (fully) up"
    if [ "${2:-}" = --json ]; then
      env -i PATH=/usr/bin:/bin bash -c '. "$1"; exec python3 -c "import json, os; print(json.dumps({k: v for k, v in sorted(os.environ.items()) if k.startswith(\"RC_\")}, indent=1))"' _ "$S/env"
    else cat "$S/env"; fi ;;
  exec) shift; need_root; cmd_exec "$@" ;;
  put) shift; need_root; cmd_put "$@" ;;
  dfs) shift; need_root; cmd_dfs "$@" ;;
  kill-agent)
    host_cmd "${2:?kill-agent hN}" kill-agent
    rec_alive "mesos-agent-$2" || die "agent on $2 is not running"
    stop_procs KILL "mesos-agent-$2" ;;
  start-agent)
    host_cmd "${2:?start-agent hN}" start-agent
    rec_alive "mesos-agent-$2" && die "agent on $2 is running"
    start_agent "$2"; say "started mesos-agent-$2 (pid $(rec_pid "mesos-agent-$2"))" ;;
  kill-datanode)
    host_cmd "$(dn_host "${2:?kill-datanode DN}")" kill-datanode
    rec_alive "datanode-$2" || die "DataNode $2 is not running"
    stop_procs KILL "datanode-$2" ;;
  start-datanode)
    host_cmd "$(dn_host "${2:?start-datanode DN}")" start-datanode
    [ -d "$S/hdfs/conf/$2" ] || die "no DataNode $2"
    rec_alive "datanode-$2" && die "DataNode $2 is running"
    start_datanode "$2"; say "started datanode-$2 (pid $(rec_pid "datanode-$2"))" ;;
  add-datanode)
    host_cmd "${2:?add-datanode hN}" add-datanode
    take_lock
    k=2; while [ -d "$S/hdfs/conf/$2-$k" ]; do k=$((k + 1)); done
    ((k <= 9)) || die "add-datanode: $2 has 9 DataNodes already"
    hdfs_conf "$2-$k"
    # the hosts file is bind-mounted into every host: rewrite it in place (same inode, not sed -i)
    hosts=$(sed "s/^\($(ip_of "$2")\) \(.*\)\$/\1 \2 $2-$k/" "$S/hosts"); printf '%s\n' "$hosts" >"$S/hosts"
    start_datanode "$2-$k"; say "started datanode-$2-$k (pid $(rec_pid "datanode-$2-$k"))"
    echo "$2-$k" ;;
  cut) host_cmd "${2:?cut hN}" cut; ip -n "$P$2" link set eth0 down; say "$2: eth0 down" ;;
  heal) host_cmd "${2:?heal hN}" heal; ip -n "$P$2" link set eth0 up; say "$2: eth0 up" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
