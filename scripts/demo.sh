#!/bin/bash
# The README's "run" command: sets up and builds ctflushd, then runs the
# daemon on a self-contained sandbox and deletes VMs the way a cloud does:
#
#   - a private ovsdb-server (its own DB, socket and pidfile in a temp dir;
#     the host's Open vSwitch, if any, is never touched) with 300 VM ports on
#     br-int, each with external_ids:ip as Kube-OVN writes it;
#   - a network namespace whose conntrack table holds ~200k entries between
#     those VMs, their peers, and unrelated hosts;
#   - ctflushd running in that namespace, watching that ovsdb-server;
#   - 20 ports deleted in one ovs-vsctl transaction (20 VMs deleted), with
#     `ctflushctl status` and `ctflushctl jobs` shown while the flush runs
#     and after;
#   - a check that exactly the entries of those 20 VMs are gone (counted
#     independently by ctfill and by conntrack -L), and nothing else.
#
# Everything is removed again on exit, also on failure or Ctrl-C.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CTF_BUILD:-$top/build}
export PATH=$PATH:/usr/sbin:/sbin

"$top/scripts/setup-deps.sh"
cmake -S "$top" -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

ns=ctflushd-demo-$$
work=$(mktemp -d /tmp/ctflushd-demo.XXXXXX)
max_file=/proc/sys/net/netfilter/nf_conntrack_max
old_max=$(cat "$max_file")
daemon_pid=

cleanup() {
    if [[ -n $daemon_pid ]]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [[ -s $work/ovsdb.pid ]]; then
        kill "$(cat "$work/ovsdb.pid")" 2>/dev/null || true
    fi
    ip netns delete "$ns" 2>/dev/null || true
    echo "$old_max" >"$max_file" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export OVS_RUNDIR=$work OVS_LOGDIR=$work OVS_DBDIR=$work OVS_SYSCONFDIR=$work
db=unix:$work/db.sock
vsctl() { ovs-vsctl --db="$db" --no-wait "$@"; }
in_ns() { ip netns exec "$ns" "$@"; }
ctl() { "$build/ctflushctl" --socket "$work/ctflushd.sock" "$@"; }

# ctfill --gen numbers its local hosts from local-base + 1: VM i has
# 10.1.0.0 + 1 + i (and fd00:1::1 + i); the ports get the same addresses.
ip4() { local n=$((1 + $1)); echo "10.1.$((n / 256)).$((n % 256))"; }
ip6() { printf 'fd00:1::%x' $((1 + $1)); }

vms=300
spec=total=200000,locals=$vms,peers=1000,nat-pct=10,v6-pct=10,seed=42

echo "== a private ovsdb-server with $vms VM ports on br-int"
ovsdb-tool create "$work/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server --remote=punix:"$work/db.sock" --unixctl="$work/ovsdb.ctl" \
    --pidfile="$work/ovsdb.pid" --detach --no-chdir --log-file="$work/ovsdb.log" \
    "$work/conf.db"
vsctl init
vsctl add-br br-int
args=()
for ((i = 0; i < vms; i++)); do
    args+=(-- add-port br-int "tap$i" -- set Interface "tap$i"
           "external_ids:iface-id=vm-$i" "external_ids:ip=\"$(ip4 "$i"),$(ip6 "$i")\"")
done
vsctl "${args[@]:1}"

echo "== a network namespace with a ~200k-entry conntrack table: $spec"
((old_max < 1000000)) && echo 1000000 >"$max_file"
ip netns add "$ns"
in_ns "$build/ctfill" --gen "$spec"
before=$(in_ns "$build/ctfill" --count)

echo "== ctflushd in the namespace (deletes capped at 5000/s so the flush can be watched)"
: >"$work/ctflushd.conf"
# Not through in_ns: $! must be the daemon itself (ip netns exec execs it),
# not a subshell around it.
ip netns exec "$ns" "$build/ctflushd" --config "$work/ctflushd.conf" --ovsdb "$db" \
    --control "$work/ctflushd.sock" --state-dir "$work/state" \
    --max-delete-rate 5000 2>"$work/ctflushd.log" &
daemon_pid=$!
for _ in $(seq 100); do
    ctl --json status 2>/dev/null | grep -q '"synced":true' && break
    sleep 0.1
done
ctl status

# 20 VMs are deleted: their ports leave OVSDB in one transaction.
deleted=$work/deleted-vms.txt
args=()
for ((i = 0; i < 20; i++)); do
    printf '%s\n%s\n' "$(ip4 "$i")" "$(ip6 "$i")"
    args+=(-- del-port br-int "tap$i")
done >"$deleted"
expect=$(in_ns "$build/ctfill" --gen "$spec" --local "@$deleted" --peers any --print-matching)
echo
echo "== deleting 20 VM ports in one transaction; $expect of the $before entries involve them"
vsctl "${args[@]:1}"

for _ in $(seq 100); do
    ctl --json status | grep -q '"running":{' && break
    sleep 0.1
done
echo "== while the flush runs:"
ctl status
for _ in $(seq 300); do
    ctl --json status | grep -q '"running":null,' && \
        ctl --json status | grep -q '"queue_depth":0,' && \
        ctl --json status | grep -q '"batch_pending":0,' && break
    sleep 0.1
done
echo
echo "== after:"
ctl status
echo
ctl jobs

after=$(in_ns "$build/ctfill" --count)
# Any tuple end (original or reply, source or destination) of a deleted VM.
left=$(in_ns conntrack -L 2>/dev/null \
       | grep -cFf <(sed 's/.*/src=& \
dst=& /' "$deleted") || true)
echo
echo "== table: $before -> $after entries"
if ((before - after != expect)); then
    echo "FAIL: expected exactly $expect entries gone, the table lost $((before - after))" >&2
    exit 1
fi
if ((left != 0)); then
    echo "FAIL: conntrack -L still shows $left entries of the deleted VMs" >&2
    exit 1
fi
echo "OK: exactly the $expect entries of the 20 deleted VMs are gone (conntrack -L finds none);"
echo "    the other $after entries are intact"
