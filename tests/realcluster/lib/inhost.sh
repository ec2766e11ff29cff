#!/bin/sh
# inhost.sh NAME UTS CMD...: run by cluster.sh as `ip netns exec NS unshare --mount [--uts] inhost.sh ...`:
# puts the cluster's hosts file over /etc/hosts in this private mount namespace (so h1..hN and nn
# resolve, e.g. WebHDFS redirects to http://h2:9864/...), hides the paths listed for it, names the
# host NAME when UTS=1 (its own UTS namespace), and execs CMD. Refuses if the namespaces are not private.
set -e
name=$1 uts=$2; shift 2
if [ "$(readlink /proc/self/ns/mnt)" = "$RC_CALLER_MNTNS" ]; then
  echo "inhost.sh: not in a private mount namespace; refusing to mount over /etc/hosts" >&2; exit 1
fi
if [ "$uts" = 1 ]; then
  [ "$(readlink /proc/self/ns/uts)" != "$RC_CALLER_UTSNS" ] || { echo "inhost.sh: not in a private UTS namespace; refusing to rename the host" >&2; exit 1; }
  hostname "$name"
fi
mount --bind "$RC_STATE_DIR/hosts" /etc/hosts
# RC_HIDE_<name> at `up` (kept in $RC_STATE_DIR/hide/<name>): paths this host must not see, such as
# the project's venv (a host without StratOS installed). An empty read-only tmpfs goes over each.
if [ -f "$RC_STATE_DIR/hide/$name" ]; then
  while read -r path; do
    [ -z "$path" ] || [ ! -d "$path" ] || mount -t tmpfs -o ro,size=4k,mode=0755 "rc-hidden" "$path"
  done <"$RC_STATE_DIR/hide/$name"
fi
exec "$@"
