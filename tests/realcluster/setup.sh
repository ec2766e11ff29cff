#!/bin/bash
# Prepare everything cluster.sh needs, from registry packages only, into CACHE_DIR:
#   - libmesos (PyPI mesos.scheduler 1.11.0) via tests/realmesos/setup.sh, into CACHE_DIR/mesos
#     (or the directory REALMESOS_DIR names, to share an existing one);
#   - the symbol offsets run_agent.py needs, read from that libmesos with nm;
#   - Hadoop 2.7.3 (HDFS) jars: the ones HDFS needs, taken from PyPI's pyspark 2.4.8 sdist
#     (which is deleted afterwards), plus Jersey 1.19 from Debian (apt-get download);
#   - Debian packages, if missing: iproute2 util-linux curl binutils openjdk-17-jre-headless,
#     and with RC_WITH_SLURM=1 (cluster.sh up --slurm sets it) slurm-wlm munge.
# Usage: setup.sh [CACHE_DIR]   (default $RC_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/stratos-realcluster).
# Idempotent (concurrent runs serialise on CACHE_DIR/.lock); prints CACHE_DIR on its last line.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RM_KIT=$(cd "$HERE/../realmesos" && pwd)
C=${1:-${RC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stratos-realcluster}}
mkdir -p "$C" && C=$(cd "$C" && pwd)
STAMP="realcluster-setup-3"
ready() { [ -f "$C/.ready" ] && [ "$(cat "$C/.ready")" = "$STAMP" ]; }
slurm_ready() { [ "${RC_WITH_SLURM:-0}" = 0 ] || { command -v slurmctld && command -v munged; } >/dev/null 2>&1; }
if ready && slurm_ready; then echo "$C"; exit 0; fi
exec 8>"$C/.lock"
flock 8
if ready && slurm_ready; then echo "$C"; exit 0; fi
say() { echo "setup.sh: $*" >&2; }
die() { echo "setup.sh: $*" >&2; exit 1; }

# --- Debian packages (apt-get update at most once) -------------------------------------------
APT_UPDATED=0
apt_update_once() { [ $APT_UPDATED = 1 ] || { say "apt-get update"; apt-get update -qq; APT_UPDATED=1; }; }
need=()
for pc in iproute2:ip util-linux:unshare util-linux:setpriv util-linux:flock curl:curl binutils:nm openjdk-17-jre-headless:java; do
  command -v "${pc#*:}" >/dev/null 2>&1 || need+=("${pc%%:*}")
done
if [ "${RC_WITH_SLURM:-0}" = 1 ]; then
  for pc in slurmctld:slurmctld slurmd:slurmd slurm-client:srun munge:munged munge:mungekey; do
    command -v "${pc#*:}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pc#*:}" ] || need+=("${pc%%:*}")
  done
fi
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${need[*]}); run as root to install them"
  apt_update_once
  say "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
java -version 2>&1 | head -1 | grep -q '"1[1-9]\|"2[0-9]\|"1\.8' || die "needs Java 8..21 (java -version: $(java -version 2>&1 | head -1))"

# --- libmesos (realmesos kit) and the offsets of two symbols in it ----------------------------
M=${REALMESOS_DIR:-$C/mesos}
say "libmesos: tests/realmesos/setup.sh $M"
M=$("$RM_KIT/setup.sh" "$M" | tail -1)
SO="$M/py2site/mesos/scheduler/_scheduler.so"
[ -f "$SO" ] || die "no $SO after realmesos setup"
# process::UPID::UPID(const char*) (exported) gives the load base; mesos::internal::local::detector
# is the file-static StandaloneMasterDetector* that local::launch() hands to its agents.
syms=$(nm "$SO" | awk '$3=="_ZN7process4UPIDC1EPKc" || $3=="_ZN5mesos8internal5localL8detectorE" {print $3, $1}')
UPID=$(awk '$1=="_ZN7process4UPIDC1EPKc"{print $2}' <<<"$syms")
DET=$(awk '$1=="_ZN5mesos8internal5localL8detectorE"{print $2}' <<<"$syms")
[ -n "$UPID" ] && [ -n "$DET" ] || die "nm found no UPID constructor / local::detector in $SO (a stripped or different build?)"
dsyms=$(nm -D --defined-only "$SO")
for s in _ZN7process9terminateERKNS_4UPIDEb _ZN5mesos6master8detector24StandaloneMasterDetector7appointERKN7process4UPIDE; do
  grep -q " $s\$" <<<"$dsyms" || die "$SO does not export $s"
done
printf 'REALMESOS_DIR=%s\nUPID_CTOR_OFF=%s\nDETECTOR_OFF=%s\n' "$M" "$UPID" "$DET" > "$C/mesos.env"
say "offsets: UPID_CTOR_OFF=$UPID DETECTOR_OFF=$DET"

# --- Hadoop 2.7.3 jars ------------------------------------------------------------------------
# Loaded by NameNode, DataNode and FsShell (java -Xlog:class+load) ...
PYSPARK_JARS="activation-1.1.1 apache-log4j-extras-1.2.17 commons-cli-1.2 commons-codec-1.10
 commons-collections-3.2.2 commons-configuration-1.6 commons-io-2.4 commons-lang-2.6
 commons-logging-1.1.3 guava-14.0.1 hadoop-annotations-2.7.3 hadoop-auth-2.7.3 hadoop-common-2.7.3
 hadoop-hdfs-2.7.3 hadoop-mapreduce-client-core-2.7.3 htrace-core-3.1.0-incubating httpclient-4.5.6
 httpcore-4.4.10 jackson-core-asl-1.9.13 jackson-mapper-asl-1.9.13 javax.annotation-api-1.2
 javax.servlet-api-3.1.0 jaxb-api-2.2.2 jcl-over-slf4j-1.7.16 jetty-6.1.26 jetty-util-6.1.26
 log4j-1.2.17 netty-all-4.1.47.Final osgi-resource-locator-1.0.1 protobuf-java-2.5.0
 slf4j-api-1.7.16 slf4j-log4j12-1.7.16 xercesImpl-2.9.1
 xmlenc-0.52 commons-compress-1.20 commons-math3-3.4.1 commons-net-3.1 jsr305-1.3.9
 commons-beanutils-1.9.4 commons-digester-1.8 gson-2.2.4 netty-3.9.9.Final"
# ... the last line: other hadoop-common/hdfs 2.7.3 dependencies, for code paths not exercised there.
DEB_JARS="libjersey1-core-java:jersey1-core.jar libjersey1-server-java:jersey1-server.jar
 libjersey1-servlet-java:jersey1-servlet.jar libjsr311-api-java:jsr311-api-1.1.1.jar"
J="$C/hadoop/jars"; mkdir -p "$J"
missing=()
for j in $PYSPARK_JARS; do [ -s "$J/$j.jar" ] || missing+=("pyspark-2.4.8/deps/jars/$j.jar"); done
if [ ${#missing[@]} -gt 0 ]; then
  PY2=$(cat "$M/.py2")
  DL="$C/dl"; rm -rf "$DL"; mkdir -p "$DL"
  say "downloading pyspark 2.4.8 sdist (220 MB) with Python 2.7's pip"
  # Python 3's pip deletes the file when the sdist's metadata step fails (it needs pypandoc);
  # Python 2.7's pip keeps it. Either way the step fails, so its status is ignored.
  "$PY2" -m pip download -q --no-deps --no-binary :all: --no-cache-dir -d "$DL" pyspark==2.4.8 >"$DL/pip.log" 2>&1 || true
  SD="$DL/pyspark-2.4.8.tar.gz"
  [ -s "$SD" ] || { tail -5 "$DL/pip.log" >&2; die "could not download pyspark-2.4.8.tar.gz"; }
  echo "${RC_PYSPARK_SHA256:-3a19b71b8dc8dd91ebc943604a05e1ab01bce052456d42937035632d852d78dc}  $SD" \
    | sha256sum -c --quiet - || die "pyspark-2.4.8.tar.gz: unexpected sha256"
  tar xzf "$SD" -C "$DL" --no-same-owner "${missing[@]}"
  for m in "${missing[@]}"; do mv "$DL/$m" "$J/"; done
  rm -rf "$DL"
fi
for dj in $DEB_JARS; do
  pkg=${dj%%:*} jar=${dj#*:}
  [ -s "$J/$jar" ] && continue
  T=$(mktemp -d); cd "$T"
  apt-get download -qq "$pkg" >/dev/null 2>&1 || { apt_update_once; apt-get download -qq "$pkg" >/dev/null; }
  dpkg -x ./*.deb x
  cp -L "x/usr/share/java/$jar" "$J/$jar"; cd /; rm -rf "$T"
done
# HttpServer2 finds its web apps as classpath resources webapps/<name>; empty ones suffice here.
mkdir -p "$C/hadoop/webroot/webapps/"{hdfs,datanode,secondary,journal,static}
n=$(ls "$J"/*.jar | wc -l)
say "hadoop: $n jars, $(du -sh "$J" | cut -f1) in $J"
echo "$STAMP" > "$C/.ready"
echo "$C"
