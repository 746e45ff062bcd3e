#!/bin/bash
# Runs ovsdb_idl_check against a private ovsdb-server.
#
#     test_ovsdb_idl.sh PATH/TO/ovsdb_idl_check
#
# Builds an Open_vSwitch database in a temp dir, serves it from a private
# ovsdb-server (its own socket, pidfile and control socket, so the host's
# Open vSwitch, if any, is never touched), adds br0/p1 with external_ids, and
# checks that the IDL client reports them.  It also checks the other half of
# the contract: asking for an interface that does not exist must exit 1
# after the timeout.  No vswitchd runs, hence "ovs-vsctl --no-wait".
#
# Exit codes follow ctest: 0 pass, 1 fail, 77 skipped.

set -euo pipefail

schema=/usr/share/openvswitch/vswitch.ovsschema
export PATH=$PATH:/usr/sbin:/sbin

skip() {
    echo "SKIP: $*" >&2
    exit 77
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

[ $# -eq 1 ] || { echo "usage: $0 PATH/TO/ovsdb_idl_check" >&2; exit 2; }
check=$1
[ -x "$check" ] || fail "$check is not an executable"

# The netns label promises root; a private ovsdb-server does not strictly need
# it, but a run without it is not the configuration CI vouches for.
[ "$(id -u)" -eq 0 ] || skip "needs root"
for tool in ovsdb-server ovsdb-tool ovs-vsctl; do
    command -v "$tool" >/dev/null || skip "$tool not installed (openvswitch-switch)"
done
[ -r "$schema" ] || skip "$schema missing (openvswitch-common)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctf-ovsdb.XXXXXX")

# True while 'pid' runs.  A detached ovsdb-server is reparented to init, so
# once it exits it stays a zombie until init reaps it; kill -0 would still
# succeed on it, hence the look at the state field.
running() {
    local state

    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || true
    [ -n "$state" ] && [ "$state" != Z ]
}

# Runs on every way out, including set -e failures and signals (the INT/TERM
# traps turn those into an exit, which runs this).
cleanup() {
    local pid

    if [ -s "$tmp/pid" ]; then
        pid=$(cat "$tmp/pid")
        kill "$pid" 2>/dev/null || true
        # Give it a second to close its sockets, then stop asking nicely.
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            running "$pid" || break
            sleep 0.1
        done
        if running "$pid"; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Keep every path ovsdb-server or ovs-vsctl might default to inside $tmp.
export OVS_RUNDIR=$tmp OVS_LOGDIR=$tmp OVS_DBDIR=$tmp OVS_SYSCONFDIR=$tmp

ovsdb-tool create "$tmp/conf.db" "$schema"

# --detach returns only once the server listens, so no polling is needed.
# -vconsole:warn comes before --log-file, or the "opened log file" notice
# still reaches the console.
if ! ovsdb-server "$tmp/conf.db" -vconsole:warn \
        --remote="punix:$tmp/db.sock" --unixctl="$tmp/ctl" \
        --pidfile="$tmp/pid" --log-file="$tmp/ovsdb-server.log" \
        --no-chdir --detach; then
    cat "$tmp/ovsdb-server.log" >&2 2>/dev/null || true
    fail "ovsdb-server did not start"
fi

db=unix:$tmp/db.sock
vsctl() {
    ovs-vsctl --db="$db" --no-wait --timeout=10 "$@"
}
vsctl init
vsctl add-br br0 \
    -- add-port br0 p1 \
    -- set Interface p1 external_ids:ip=10.0.0.5 external_ids:iface-id=vm1

out=$("$check" --db="$db" --timeout=10 p1) || fail "ovsdb_idl_check p1 exited $?"
echo "ovsdb_idl_check p1: $out"
[ "$out" = "p1 iface-id=vm1 ip=10.0.0.5" ] ||
    fail "expected 'p1 iface-id=vm1 ip=10.0.0.5', got '$out'"

rc=0
out=$("$check" --db="$db" --timeout=1 nosuch 2>"$tmp/err") || rc=$?
cat "$tmp/err" >&2
[ "$rc" -eq 1 ] || fail "ovsdb_idl_check nosuch exited $rc, want 1"
[ -z "$out" ] || fail "ovsdb_idl_check nosuch printed '$out'"
grep -q 'timed out' "$tmp/err" || fail "no timeout message for nosuch"

echo "PASS"
