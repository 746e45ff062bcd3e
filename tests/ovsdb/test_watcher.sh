#!/bin/bash
# Runs the OVSDB watcher (through watcher_dump) against a private
# ovsdb-server and checks every message it sends.
#
#     test_watcher.sh PATH/TO/watcher_dump
#
# The world: a database built in a temp dir, served by a private
# ovsdb-server (its own socket, pidfile and control socket; the host's Open
# vSwitch, if any, is never touched), changed with the real ovs-vsctl.  No
# vswitchd runs, hence "ovs-vsctl --no-wait" and ofport -1.
#
# What is checked, in order:
#   1. the first snapshot: STATUS connected=0, SYNC_BEGIN, PORT per
#      Interface, SYNC_END, STATUS connected=1; Kube-OVN (Interface ip) and
#      Antrea (Port ip-address, with /plen) IPs, dual stack;
#   2. changes: OVN (iface-id + ct-zone-<id> on the bridge, set after the
#      port as ovn-controller does, changed, removed), VLAN tag zone, the
#      configured zone key beating the tag, IPv6 only, garbage values skipped
#      with a log line, a change that alters nothing sends nothing, a Port
#      tag change, an Antrea Port row change, ofport, a Port moved between
#      bridges (only the Bridge rows change), the heartbeat;
#   3. deletions: PORT_GONE with the last IPs and zone, including IPs from a
#      Port row and a zone from a bridge key deleted in the same
#      transaction; 50 ports deleted in one transaction; a re-plug in one
#      transaction (GONE, then PORT);
#   4. ovsdb-server killed and restarted: STATUS connected=0 (repeated: it
#      is the heartbeat), then a complete new snapshot and no GONE at all;
#   5. a port deleted while the server was down (the database edited
#      offline with ovsdb-tool): missing from the next snapshot, still no
#      GONE (the parent learns it from the snapshot diff);
#   6. the parent closing the channel: the watcher exits 0.
#
# CTF_TEST_WRAPPER, if set, is put in front of watcher_dump, e.g.
# "valgrind --leak-check=full --error-exitcode=99" (the forked watcher runs
# under it too, and a non-zero exit of the watcher fails step 6).
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

[ $# -eq 1 ] || { echo "usage: $0 PATH/TO/watcher_dump" >&2; exit 2; }
dump=$1
[ -x "$dump" ] || fail "$dump is not an executable"

[ "$(id -u)" -eq 0 ] || skip "needs root"
for tool in ovsdb-server ovsdb-tool ovs-vsctl; do
    command -v "$tool" >/dev/null || skip "$tool not installed (openvswitch-switch)"
done
[ -r "$schema" ] || skip "$schema missing (openvswitch-common)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctf-watcher.XXXXXX")
out=$tmp/out            # watcher_dump's stdout: one line per message.
err=$tmp/err            # Its stderr: the watcher's log lines.
dump_pid=

# True while 'pid' runs (a detached ovsdb-server that exited may stay a
# zombie until init reaps it, so kill -0 is not enough).
running() {
    local state

    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || true
    [ -n "$state" ] && [ "$state" != Z ]
}

# Stops the ovsdb-server started from $tmp, if it runs; waits until it is
# gone so that a restart can take over its socket.
stop_server() {
    local pid

    [ -s "$tmp/pid" ] || return 0
    pid=$(cat "$tmp/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        running "$pid" || break
        sleep 0.1
    done
    if running "$pid"; then
        kill -9 "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$tmp/pid"
}

# Runs on every way out, including set -e failures and signals (the INT and
# TERM traps turn those into an exit, which runs this).
cleanup() {
    local rc=$?

    if [ -n "$dump_pid" ] && running "$dump_pid"; then
        kill -TERM "$dump_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            running "$dump_pid" || break
            sleep 0.1
        done
        kill -9 "$dump_pid" 2>/dev/null || true
    fi
    stop_server
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        echo "---- watcher_dump output (last 60 lines) ----" >&2
        tail -n 60 "$out" >&2 2>/dev/null || true
        echo "---- watcher_dump stderr ----" >&2
        tail -n 30 "$err" >&2 2>/dev/null || true
        echo "---- ovsdb-server log ----" >&2
        tail -n 20 "$tmp/ovsdb-server.log" >&2 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Keep every path ovsdb-server or ovs-vsctl might default to inside $tmp.
export OVS_RUNDIR=$tmp OVS_LOGDIR=$tmp OVS_DBDIR=$tmp OVS_SYSCONFDIR=$tmp

start_server() {
    # --detach returns once the server listens.  -vconsole:warn comes before
    # --log-file, or the "opened log file" notice reaches the console.
    ovsdb-server "$tmp/conf.db" -vconsole:warn \
        --remote="punix:$tmp/db.sock" --unixctl="$tmp/ctl" \
        --pidfile="$tmp/pid" --log-file="$tmp/ovsdb-server.log" \
        --no-chdir --detach || fail "ovsdb-server did not start"
}

db=unix:$tmp/db.sock
vsctl() {
    ovs-vsctl --db="$db" --no-wait --timeout=10 "$@"
}

# ---- Reading the output. ----

# The number of lines so far: later checks look only past it.
mark() {
    wc -l <"$out"
}

# The lines after mark $1.
since() {
    tail -n "+$(($1 + 1))" "$out"
}

# Waits (up to $3 seconds, default 15) for a line after mark $1 that is
# exactly $2.
expect_line() {
    local m=$1 line=$2 t=${3:-15} i

    for ((i = 0; i < t * 20; i++)); do
        if since "$m" | grep -qFx -- "$line"; then
            return 0
        fi
        running "$dump_pid" || fail "watcher_dump died waiting for '$line'"
        sleep 0.05
    done
    fail "no '$line' within ${t}s"
}

# Waits for a line matching the ERE $2 after mark $1.
expect_match() {
    local m=$1 re=$2 t=${3:-15} i

    for ((i = 0; i < t * 20; i++)); do
        if since "$m" | grep -qE -- "$re"; then
            return 0
        fi
        running "$dump_pid" || fail "watcher_dump died waiting for /$re/"
        sleep 0.05
    done
    fail "nothing matching /$re/ within ${t}s"
}

# The number of lines after mark $1 matching the ERE $2.
count() {
    since "$1" | grep -cE -- "$2" || true
}

# The line number (in the whole output) of the first line after mark $1
# that is exactly $2, or nothing.
line_no() {
    local n

    n=$(since "$1" | grep -nFx -- "$2" | head -n 1 | cut -d: -f1)
    [ -n "$n" ] || fail "line_no: no '$2'"
    echo $((n + $1))
}

# What the snapshot after mark $1 holds: its PORT lines, sorted.
snapshot_after() {
    since "$1" | sed -n '/^SYNC_BEGIN$/,/^SYNC_END$/p' | grep '^PORT ' | sort
}

# Waits until the log has a line containing $1.
expect_log() {
    local i

    for ((i = 0; i < 200; i++)); do
        grep -qF -- "$1" "$err" && return 0
        sleep 0.05
    done
    fail "no log line containing '$1'"
}

# A port line as watcher_dump prints it.
port_line() {   # KIND NAME IFACE BRIDGE IPS IPSRC ZONE ZONESRC [OFPORT]
    echo "$1 name=$2 iface=$3 bridge=$4 ofport=${9:--1} ips=$5 ipsrc=$6 zone=$7 zonesrc=$8"
}

# ---- 1. The first snapshot. ----

ovsdb-tool create "$tmp/conf.db" "$schema"
start_server
vsctl init
vsctl add-br br0 \
    -- add-port br0 ko1 \
    -- set Interface ko1 'external_ids:ip="10.16.0.5,fd00:10:16::5"' \
    -- add-port br0 an1 \
    -- set Port an1 'external_ids:ip-address="10.10.1.5/24,fd74:ca9b::5/64"'

: >"$out"
: >"$err"
# shellcheck disable=SC2086 # The wrapper is words on purpose.
${CTF_TEST_WRAPPER:-} "$dump" --db="$db" --vlan-zone --zone-key=ctf-zone \
    --heartbeat-ms=200 >"$out" 2>"$err" &
dump_pid=$!

ko1=$(port_line PORT ko1 - br0 10.16.0.5,fd00:10:16::5 interface - none)
an1=$(port_line PORT an1 - br0 10.10.1.5,fd74:ca9b::5 port - none)
expect_line 0 "SYNC_END" 30
expect_line 0 "STATUS connected=1 remote=$db error=\"\""
[ "$(head -n 1 "$out")" = "STATUS connected=0 remote=$db error=\"\"" ] ||
    fail "the first message is not STATUS connected=0: $(head -n 1 "$out")"
snap=$(snapshot_after 0)
want=$(printf '%s\n' "$an1" "$(port_line PORT br0 - br0 - none - none)" "$ko1" | sort)
[ "$snap" = "$want" ] || fail "first snapshot: got
$snap
want
$want"
[ "$(line_no 0 SYNC_END)" -lt "$(line_no 0 "STATUS connected=1 remote=$db error=\"\"")" ] ||
    fail "STATUS connected=1 came before SYNC_END"
echo "ok 1 - first snapshot"

# ---- 2. Changes. ----

m=$(mark)
# OVN: the port first, then ovn-controller's zone key on the bridge.
vsctl add-br br-int \
    -- add-port br-int ovn1 \
    -- set Interface ovn1 external_ids:iface-id=lsp1 external_ids:ip=10.20.0.5
expect_line "$m" "$(port_line PORT ovn1 lsp1 br-int 10.20.0.5 interface - none)"
vsctl set Bridge br-int external_ids:ct-zone-lsp1=7 external_ids:ct-zone-other=3
expect_line "$m" "$(port_line PORT ovn1 lsp1 br-int 10.20.0.5 interface 7 ovn)"
# A key for another port does not disturb this one; its own key does.
vsctl set Bridge br-int external_ids:ct-zone-other=4
vsctl set Bridge br-int external_ids:ct-zone-lsp1=8
expect_line "$m" "$(port_line PORT ovn1 lsp1 br-int 10.20.0.5 interface 8 ovn)"
[ "$(count "$m" '^PORT name=ovn1 ')" -eq 3 ] ||
    fail "ovn1: want 3 PORT lines (new, zone 7, zone 8), got $(count "$m" '^PORT name=ovn1 ')"
echo "ok 2 - OVN zone from the bridge"

m=$(mark)
vsctl add-port br0 vl1 tag=42 -- set Interface vl1 external_ids:ip=10.30.0.5
expect_line "$m" "$(port_line PORT vl1 - br0 10.30.0.5 interface 42 vlan-tag)"
vsctl set Port vl1 tag=44
expect_line "$m" "$(port_line PORT vl1 - br0 10.30.0.5 interface 44 vlan-tag)"
vsctl add-port br0 zk1 tag=43 \
    -- set Interface zk1 external_ids:ip=10.31.0.5 external_ids:ctf-zone=9
expect_line "$m" "$(port_line PORT zk1 - br0 10.31.0.5 interface 9 external-id)"
echo "ok 3 - VLAN tag zone and the configured zone key"

m=$(mark)
vsctl add-port br0 v6 -- set Interface v6 'external_ids:ip="fd00::1:5/64"'
expect_line "$m" "$(port_line PORT v6 - br0 fd00::1:5 interface - none)"
echo "ok 4 - IPv6"

m=$(mark)
vsctl add-port br0 junk \
    -- set Interface junk 'external_ids:ip="10.40.0.5,not-an-ip,10.40.0.300"' \
       external_ids:ctf-zone=99999
expect_line "$m" "$(port_line PORT junk - br0 10.40.0.5 interface - none)"
expect_log "port junk: skipping bad external_ids value: ip=not-an-ip, ctf-zone=99999"
echo "ok 5 - garbage skipped and logged"

m=$(mark)
vsctl set Interface ko1 external_ids:ip=10.16.0.6
expect_line "$m" "$(port_line PORT ko1 - br0 10.16.0.6 interface - none)"
# Nothing the parent sees changes: no message.  The v6 change after it is
# the marker that the watcher has processed both.
vsctl set Interface ko1 external_ids:note=unrelated
vsctl set Interface v6 'external_ids:ip="fd00::1:6"'
expect_line "$m" "$(port_line PORT v6 - br0 fd00::1:6 interface - none)"
[ "$(count "$m" '^PORT name=ko1 ')" -eq 1 ] || fail "an unrelated change was sent"
echo "ok 6 - only real changes are sent"

m=$(mark)
# Antrea changes the Port row, not the Interface.
vsctl set Port an1 'external_ids:ip-address="10.10.1.6/24,fd74:ca9b::6/64"'
expect_line "$m" "$(port_line PORT an1 - br0 10.10.1.6,fd74:ca9b::6 port - none)"
# vswitchd assigning an OpenFlow port number.
vsctl set Interface zk1 ofport=7
expect_line "$m" "$(port_line PORT zk1 - br0 10.31.0.5 interface 9 external-id 7)"
# A Port moved between bridges without its rows changing: only the two
# Bridge rows' 'ports' columns say so.
vl1_port=$(vsctl get Port vl1 _uuid)
vsctl remove Bridge br0 ports "$vl1_port" -- add Bridge br-int ports "$vl1_port"
expect_line "$m" "$(port_line PORT vl1 - br-int 10.30.0.5 interface 44 vlan-tag)"
vsctl remove Bridge br-int ports "$vl1_port" -- add Bridge br0 ports "$vl1_port"
expect_line "$m" "$(port_line PORT vl1 - br0 10.30.0.5 interface 44 vlan-tag)"
echo "ok 7 - Port row changes, ofport, a Port moving between bridges"

m=$(mark)
# The bridge turns userspace (OVS-DPDK): its ports' table is now
# ovs-vswitchd's, and each is sent again saying so; and back.
ovn1=$(port_line PORT ovn1 lsp1 br-int 10.20.0.5 interface 8 ovn)
vsctl set Bridge br-int datapath_type=netdev
expect_line "$m" "$ovn1 dp=netdev"
vsctl add-port br-int dp1 -- set Interface dp1 'external_ids:ip="10.60.0.5"'
expect_line "$m" "$(port_line PORT dp1 - br-int 10.60.0.5 interface - none) dp=netdev"
m=$(mark)
vsctl set Bridge br-int datapath_type=system
expect_line "$m" "$(port_line PORT dp1 - br-int 10.60.0.5 interface - none)"
expect_line "$m" "$ovn1"
m=$(mark)
# Deleted in the transaction that turns the bridge netdev: GONE carries
# what was last sent, the kernel's, which is where its entries are.
vsctl set Bridge br-int datapath_type=netdev -- del-port br-int dp1
expect_line "$m" "$(port_line GONE dp1 - br-int 10.60.0.5 interface - none)"
expect_line "$m" "$ovn1 dp=netdev"
m=$(mark)
vsctl set Bridge br-int 'datapath_type=""'
expect_line "$m" "$ovn1"
echo "ok 7b - a bridge's datapath_type: netdev ports say so, and change with it"

m=$(mark)
sleep 1
n=$(count "$m" '^STATUS connected=1 ')
[ "$n" -ge 3 ] || fail "heartbeat: $n STATUS in 1s at 200ms"
echo "ok 8 - heartbeat"

# ---- 3. Deletions. ----

m=$(mark)
vsctl del-port an1
expect_line "$m" "$(port_line GONE an1 - br0 10.10.1.6,fd74:ca9b::6 port - none)"
# The zone key goes in the same transaction, as when ovn-controller cleans
# up: the GONE still carries the last zone.
vsctl del-port ovn1 -- remove Bridge br-int external_ids ct-zone-lsp1
expect_line "$m" "$(port_line GONE ovn1 lsp1 br-int 10.20.0.5 interface 8 ovn)"
echo "ok 9 - GONE with the last IPs and zone"

m=$(mark)
args=()
for i in $(seq 1 50); do
    args+=(-- add-port br0 "bulk$i" -- set Interface "bulk$i" "external_ids:ip=10.50.0.$i")
done
vsctl "${args[@]}"
expect_line "$m" "$(port_line PORT bulk50 - br0 10.50.0.50 interface - none)"
for ((i = 0; i < 100 && $(count "$m" '^PORT name=bulk') < 50; i++)); do
    sleep 0.05
done
[ "$(count "$m" '^PORT name=bulk')" -eq 50 ] || fail "50 adds: $(count "$m" '^PORT name=bulk') PORT"
m=$(mark)
args=()
for i in $(seq 1 50); do
    args+=(-- del-port "bulk$i")
done
vsctl "${args[@]}"
expect_line "$m" "$(port_line GONE bulk50 - br0 10.50.0.50 interface - none)"
for ((i = 0; i < 100 && $(count "$m" '^GONE name=bulk') < 50; i++)); do
    sleep 0.05
done
[ "$(count "$m" '^GONE name=bulk')" -eq 50 ] || fail "50 deletes: $(count "$m" '^GONE name=bulk') GONE"
[ "$(count "$m" '^(PORT|GONE) ')" -eq 50 ] || fail "50 deletes: unexpected other messages"
echo "ok 10 - 50 ports deleted in one transaction"

m=$(mark)
vsctl del-port ko1 -- add-port br0 ko1 -- set Interface ko1 external_ids:ip=10.16.0.7
gone=$(port_line GONE ko1 - br0 10.16.0.6 interface - none)
back=$(port_line PORT ko1 - br0 10.16.0.7 interface - none)
expect_line "$m" "$back"
expect_line "$m" "$gone" 1
[ "$(line_no "$m" "$gone")" -lt "$(line_no "$m" "$back")" ] || fail "re-plug: PORT before GONE"
echo "ok 11 - re-plug in one transaction"

# ---- 4. ovsdb-server restart. ----

present=$(vsctl --bare --columns=name list Interface | grep -v '^$' | sort)
m=$(mark)
stop_server
expect_match "$m" '^STATUS connected=0 '
sleep 1
[ "$(count "$m" '^STATUS connected=0 ')" -ge 3 ] || fail "no heartbeat while disconnected"
start_server
expect_line "$m" "SYNC_END" 30
expect_match "$m" '^STATUS connected=1 '
got=$(snapshot_after "$m" | sed 's/^PORT name=\([^ ]*\) .*/\1/' | sort)
[ "$got" = "$present" ] || fail "snapshot after restart: got
$got
want
$present"
snapshot_after "$m" | grep -qFx "$(port_line PORT vl1 - br0 10.30.0.5 interface 44 vlan-tag)" ||
    fail "vl1 changed across the restart"
[ "$(count "$m" '^GONE ')" -eq 0 ] || fail "GONE after a restart: $(since "$m" | grep '^GONE ')"
# The delta path still works on the new connection.
vsctl set Interface v6 'external_ids:ip="fd00::1:7"'
expect_line "$m" "$(port_line PORT v6 - br0 fd00::1:7 interface - none)"
echo "ok 12 - restart: a new snapshot, no GONE"

# ---- 5. A port deleted while the server is down. ----

v6_port=$(vsctl get Port v6 _uuid)
m=$(mark)
stop_server
expect_match "$m" '^STATUS connected=0 '
# Taking the Port out of the bridge is enough: Port and Interface are not
# root tables, so the commit garbage-collects both rows.
ovsdb-tool transact "$tmp/conf.db" "[\"Open_vSwitch\",
    {\"op\": \"mutate\", \"table\": \"Bridge\", \"where\": [[\"name\", \"==\", \"br0\"]],
     \"mutations\": [[\"ports\", \"delete\", [\"uuid\", \"$v6_port\"]]]}]" >/dev/null
start_server
[ -z "$(vsctl --bare --columns=name find Interface name=v6)" ] ||
    fail "ovsdb-tool transact did not remove v6"
expect_line "$m" "SYNC_END" 30
got=$(snapshot_after "$m" | sed 's/^PORT name=\([^ ]*\) .*/\1/' | sort)
want=$(echo "$present" | grep -vx v6)
[ "$got" = "$want" ] || fail "snapshot after an offline delete: got
$got
want
$want"
[ "$(count "$m" '^GONE ')" -eq 0 ] || fail "GONE after an offline delete"
echo "ok 13 - offline delete: missing from the snapshot"

# ---- 6. The parent goes away. ----

m=$(mark)
kill -USR1 "$dump_pid"
rc=0
wait "$dump_pid" || rc=$?
dump_pid=
[ "$rc" -eq 0 ] || fail "watcher_dump exited $rc: $(since "$m" | grep CHILD || true)"
[ "$(since "$m" | grep -c '^CHILD_EXIT status=0$' || true)" -eq 1 ] ||
    fail "the watcher did not exit 0 when the channel closed"
echo "ok 14 - the watcher exits when the parent closes the channel"

echo "PASS"
