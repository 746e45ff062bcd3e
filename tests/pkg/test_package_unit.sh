#!/bin/bash
# The Debian package and its systemd unit under a real systemd, in a
# container: the unit as shipped, every hardening line in force.
#
#   test_package_unit.sh SRC BUILD
#
# Builds the .deb (tests/pkg/build_deb.sh, cached under BUILD/pkgtest), and
# a second, higher version of it to upgrade to. Then mounts an overlay whose
# lower dir is the host's / and whose upper and work dirs are fresh, installs
# the package into it (chroot + dpkg -i), and boots systemd there with
# systemd-nspawn on a target that wants ovsdb-server.service and
# ctflushd.service. The container has its own network namespace, so its
# conntrack table is its own. Everything inside is driven through
# nsenter into the container's PID 1. The host's systemd is never involved
# (this host runs none), and nothing is written outside the overlay.
#
# What it asserts, in the container:
#   - systemctl start reaches active (running) through Type=notify READY,
#   - systemctl stop ends it within TimeoutStopSec with exit status 0,
#   - the watchdog (3 s, the one drop-in) is fed: the daemon outlives it
#     several times over; a SIGSTOPped daemon is killed by it and restarted,
#   - with the probe, the OVSDB watcher and the worker all confined by the
#     unit, a port removed from OVSDB flushes its entries from the table,
#   - systemctl kill -s KILL gets it restarted, with the set-ips state kept,
#   - systemctl reload applies a changed config (and keeps the old one when
#     the new one is bad),
#   - metrics-listen set: a restart without daemon-reload fails (AF_INET is
#     not allowed yet); after it, ctflushd-generator's drop-in allows
#     AF_INET and GET /metrics answers under the hardened unit; the
#     node_exporter textfile timer is there, disabled, and its service
#     writes ctflushd.prom,
#   - dpkg -i of the higher version upgrades it: restarted, state and the
#     changed conffile kept; dpkg --purge leaves nothing of it behind,
#   - lintian has nothing to say about the .deb,
#   - systemd-analyze security ctflushd (printed, kept in
#     BUILD/pkgtest/security.txt) rates the unit no worse than CTF_MAX_EXPOSURE.
# Exits 77 when it lacks root or a tool.
set -uo pipefail

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$build/pkgtest
# Overall exposure systemd-analyze gives the unit today is 2.1; a hardening
# line lost would push it up.
max_exposure=${CTF_MAX_EXPOSURE:-2.5}
# The test ends itself (and its container) before ctest's TIMEOUT would.
deadline=${CTF_PKG_DEADLINE:-780}

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root"
for tool in systemd-nspawn dpkg-buildpackage nsenter chroot conntrack ovs-vsctl python3; do
    command -v "$tool" >/dev/null || skip "$tool not found"
done
[[ -f /lib/systemd/system/ovsdb-server.service ]] || skip "openvswitch-switch not installed"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    grep -qw overlay /proc/filesystems || skip "no overlayfs"
if [[ -d /run/systemd/system ]]; then
    # A host booted with systemd works too, but this test was written for
    # one without: --keep-unit --register=no keep it away from the host's
    # manager either way.
    echo "note: the host runs systemd; the container is still self-contained"
fi

passed=0 failed=0
check() {   # check DESCRIPTION COMMAND...: counts, and says what failed.
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAIL: $what"
    fi
}
fatal() { echo "FATAL: $*"; failed=$((failed + 1)); exit 1; }

tmp= merged= nspawn_pid= pid1= watchdog_pid=
# The container's PID 1: the child of systemd-nspawn that is PID 1 in a PID
# namespace of its own (NSpid ends in 1). nspawn's first child is a helper
# that exits once it has started it.
find_pid1() {
    local kid
    for kid in $(cat /proc/"$nspawn_pid"/task/*/children 2>/dev/null); do
        if awk '/^NSpid:/ { ok = NF > 2 && $NF == 1 } END { exit !ok }' \
               /proc/"$kid"/status 2>/dev/null; then
            echo "$kid"
            return 0
        fi
    done
    return 1
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    [[ -n $watchdog_pid ]] && kill "$watchdog_pid" 2>/dev/null
    if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
        [[ -n $pid1 ]] || pid1=$(find_pid1)
        if [[ -n $pid1 ]] && ((failed || rc)); then
            echo "== the daemon's journal in the container"
            timeout 10 nsenter -t "$pid1" -a journalctl -u ctflushd -o short-monotonic --no-pager
        fi
        if [[ -n $pid1 && -n ${CTF_PKG_HOLD:-} ]]; then
            echo "holding the container for $CTF_PKG_HOLD s: nsenter -t $pid1 -a ..."
            sleep "$CTF_PKG_HOLD"
        fi
        if [[ -n $pid1 ]]; then
            timeout 10 nsenter -t "$pid1" -a systemctl poweroff >/dev/null 2>&1
        fi
        for _ in $(seq 100); do
            kill -0 "$nspawn_pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$nspawn_pid" 2>/dev/null; then
            echo "cleanup: the container did not power off: killing it"
            # Killing its PID 1 kills every process in its PID namespace.
            [[ -n $pid1 ]] && kill -KILL "$pid1" 2>/dev/null
            kill -KILL "$nspawn_pid" 2>/dev/null
            # Only then may its root go: gone first, it would be unmounted
            # (lazily) and deleted under a running system.
            for _ in $(seq 50); do
                [[ -n $pid1 && -e /proc/$pid1 ]] || break
                sleep 0.2
            done
        fi
        wait "$nspawn_pid" 2>/dev/null
    fi
    if [[ -n $tmp ]]; then
        if [[ -n $merged ]] && grep -q " $merged " /proc/mounts; then
            umount "$merged" 2>/dev/null || umount -l "$merged"
        fi
        rm -rf "$tmp"
    fi
    if ((failed || rc)); then
        ((rc)) || rc=1
    fi
    echo "package_unit: $passed passed, $failed failed"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 1' INT TERM HUP

# Ends the whole test, container included, if it runs too long. The sleep
# is killed with its subshell: left running, it would hold ctest's output
# pipe open until it ended.
(
    sleep "$deadline" &
    sleep_pid=$!
    trap 'kill "$sleep_pid" 2>/dev/null; exit 0' TERM
    wait "$sleep_pid" && echo "TIMEOUT after $deadline s" && kill -TERM $$
) &
watchdog_pid=$!

t_start=$SECONDS
echo "== building the packages"
deb1=$(bash "$here/build_deb.sh" "$src" "$work") || fatal "building the package failed"
deb1=$(tail -n 1 <<<"$deb1")
# The neutron integration, built beside it from python/.
pydeb1=$(ls "$(dirname "$deb1")"/python3-ctflushd_*.deb 2>/dev/null | head -n 1)
[[ -n $pydeb1 ]] || fatal "no python3-ctflushd package beside $deb1"
v1=$(dpkg-deb -f "$deb1" Version)
v2=$v1+pkgtest1
deb2=$(bash "$here/build_deb.sh" "$src" "$work" "$v2") || fatal "building $v2 failed"
deb2=$(tail -n 1 <<<"$deb2")
echo "packages ready after $((SECONDS - t_start)) s: $deb1 $deb2"

# Every tag, down to pedantic ones, fails it; debian/ctflushd.lintian-overrides
# holds the one kept on purpose (docs/packaging.md says why).
if command -v lintian >/dev/null; then
    check "lintian finds nothing (info and pedantic included)" \
        lintian --fail-on error,warning,info,pedantic -I --pedantic "$deb1"
    check "lintian finds nothing in python3-ctflushd either" \
        lintian --fail-on error,warning,info,pedantic -I --pedantic "$pydeb1"
else
    check "lintian is installed" false
fi

# Not under /tmp: the container's own tmpfiles clean-up empties its /tmp
# (only in the overlay, but our mount point would be in the way).
tmp=$(mktemp -d /var/tmp/ctfpkg.XXXXXX)
mkdir "$tmp/upper" "$tmp/work" "$tmp/merged"
merged=$tmp/merged
mount -t overlay overlay -o "lowerdir=/,upperdir=$tmp/upper,workdir=$tmp/work" "$merged" ||
    fatal "cannot mount the overlay"

echo "== installing $v1 into the overlay (chroot dpkg -i)"
cp "$deb1" "$deb2" "$pydeb1" "$merged/root/"
if ! chroot "$merged" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        dpkg -i "/root/$(basename "$deb1")" "/root/$(basename "$pydeb1")" </dev/null \
        >"$tmp/dpkg-install.log" 2>&1; then
    cat "$tmp/dpkg-install.log"
    fatal "dpkg -i $v1 failed"
fi
check "the install enables the unit" \
    test -L "$merged/etc/systemd/system/multi-user.target.wants/ctflushd.service"

# This host's image carries Docker's policy-rc.d ("exit 101"), which makes
# the maintainer scripts leave services alone; a real host has none. Only
# the overlay loses it.
rm -f "$merged/usr/sbin/policy-rc.d"

cat >"$merged/etc/systemd/system/ctf-test.target" <<'EOF'
[Unit]
Description=ctflushd package test
Wants=ovsdb-server.service ctflushd.service
EOF
# The one change to the unit: a short watchdog, so that "outlives it" and
# "is killed by it" take seconds. Every hardening line stays as shipped.
mkdir -p "$merged/etc/systemd/system/ctflushd.service.d"
cat >"$merged/etc/systemd/system/ctflushd.service.d/50-test-watchdog.conf" <<'EOF'
[Service]
WatchdogSec=3s
EOF

echo "== booting systemd in the container"
machine=ctfpkg-$$
uuid=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
systemd-nspawn -D "$merged" --machine="$machine" --register=no --keep-unit \
    --private-network --uuid="$uuid" --console=read-only \
    -b -- systemd.unit=ctf-test.target >"$tmp/console.log" 2>&1 </dev/null &
nspawn_pid=$!
for _ in $(seq 150); do
    pid1=$(find_pid1) && break
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.2
done
[[ -n $pid1 ]] || { cat "$tmp/console.log"; fatal "the container did not start"; }

# Runs a command inside the container, with a clean environment.
ctr() {
    nsenter -t "$pid1" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}
prop() { ctr systemctl show -P "$2" "$1"; }
# wait_for SECONDS COMMAND...: until it succeeds; false on time-out.
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS >= end)) && return 1
        sleep 0.2
    done
}
running() { [[ $(prop ctflushd ActiveState)/$(prop ctflushd SubState) == active/running ]]; }
journal() { ctr journalctl -u ctflushd -o cat --no-pager; }
# The journal of the daemon since the last time 'mark' ran.
mark() { cursor=$(ctr journalctl -u ctflushd -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p'); }
journal_since() { ctr journalctl -u ctflushd -o cat --no-pager ${cursor:+--after-cursor="$cursor"}; }
# Not grep -q: it would leave at the first match, journalctl would die of
# SIGPIPE, and pipefail would call the pipeline failed.
logged() { journal_since | grep -- "$1" >/dev/null; }
ctl() { ctr ctflushctl "$@"; }
# json EXPR: evaluates a Python expression over j, the JSON on stdin.
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# Until the manager answers and has finished booting (systemctl fails
# until its private socket is up).
booted() {
    state=$(ctr systemctl is-system-running 2>/dev/null)
    [[ $state == running || $state == degraded ]]
}
wait_for 120 booted || fatal "the container did not boot (state: ${state:-no answer})"
echo "container booted ($state) after $((SECONDS - t_start)) s"
if [[ $state != running ]]; then
    ctr systemctl --failed --no-pager
fi
# debian/changelog and CMake's project(VERSION) must not drift apart.
check "the package's version is the program's ($v1)" \
    test "$(ctr ctflushctl --version)" = "ctflushctl $v1"
check "ovsdb-server.service is active" test "$(prop ovsdb-server ActiveState)" = active
check "the boot target started ctflushd: active (running)" running
# neutron finds the packaged pieces by entry point, and the client reaches
# the packaged daemon on its default socket.
check "python3-ctflushd: neutron's entry points are there" ctr /usr/bin/python3 -c '
import importlib.metadata as m
ext = {e.name for e in m.entry_points(group="neutron.agent.l2.extensions")}
fw = {e.name for e in m.entry_points(group="neutron.agent.firewall_drivers")}
assert "ctflushd" in ext, ext
assert {"ctflushd_iptables_hybrid", "ctflushd_iptables", "ctflushd_openvswitch"} <= fw, fw'
check "python3-ctflushd: ctflushd.client talks to the daemon" \
    test "$(ctr /usr/bin/python3 -c 'import ctflushd.client as c; print(c.Client().status()["version"])' \
            2>&1)" = "$v1"

echo "== start, through Type=notify READY"
ctr systemctl stop ctflushd
mark
check "systemctl start succeeds" ctr systemctl start ctflushd
check "after start: active (running)" running
check "Type=notify, NotifyAccess=main" \
    test "$(prop ctflushd Type)/$(prop ctflushd NotifyAccess)" = notify/main
# STATUS= is sent in the same datagram as READY=1: systemd has it only if
# the daemon's notification reached it through the unit's NOTIFY_SOCKET.
check "the READY notification carried STATUS=watching OVSDB" \
    test "$(prop ctflushd StatusText)" = "watching OVSDB"
check "the daemon logged its start-up" logged "watching unix:/run/openvswitch/db.sock"
# The probe gives up after 20 s and the worker falls back to the dump path;
# a machine busy with other work can make it that slow (it does so outside
# any sandbox too). A refusal by the sandbox fails at once, with EPERM, and
# again on every try; a time-out gets two more tries with a fresh worker.
probe_ok=0
for try in 1 2 3; do
    wait_for 90 logged "worker .* ready: " || break
    journal_since | grep "worker .* ready: " | tail -n 1
    if logged "ready: probed in a throwaway namespace"; then
        probe_ok=1
        break
    fi
    logged "probe failed (Connection timed out)" || break
    echo "probe timed out (try $try; load average $(cut -d" " -f1-3 /proc/loadavg)): restarting for a fresh worker"
    mark
    ctr systemctl restart ctflushd
done
check "the worker's probe ran under the sandbox (unshare of a netns)" test "$probe_ok" = 1

echo "== stop: within TimeoutStopSec, exit status 0"
stop_limit_us=$(prop ctflushd TimeoutStopUSec)
t0=$(date +%s%N)
ctr systemctl stop ctflushd
stop_ms=$((($(date +%s%N) - t0) / 1000000))
echo "stop took $stop_ms ms (TimeoutStopSec: $stop_limit_us)"
check "stop finished well within TimeoutStopSec (30 s)" test "$stop_ms" -lt 30000
check "stopped: inactive (dead)" test "$(prop ctflushd ActiveState)" = inactive
check "Result=success, the main process exited with status 0" \
    test "$(prop ctflushd Result)/$(prop ctflushd ExecMainCode)/$(prop ctflushd ExecMainStatus)" = success/1/0
check "systemd removed the runtime directory" ctr test ! -e /run/ctflushd
check "the state directory is the unit's, mode 0700" \
    test "$(ctr stat -c %a /var/lib/ctflushd)" = 700
ctr systemctl start ctflushd
check "started again" running

echo "== the watchdog is fed"
check "WatchdogSec is the drop-in's 3 s" test "$(prop ctflushd WatchdogUSec)" = 3s
pid=$(prop ctflushd MainPID)
restarts=$(prop ctflushd NRestarts)
mark
sleep 10
check "still running after 10 s, three watchdog periods" running
check "same main process, no restart" \
    test "$(prop ctflushd MainPID)/$(prop ctflushd NRestarts)" = "$pid/$restarts"
no_watchdog_msg() { ! journal_since | grep -i watchdog; }
check "no watchdog complaint in the journal meanwhile" no_watchdog_msg

echo "== a port removed from OVSDB: its entries leave the container's table"
ctr ovs-vsctl --no-wait add-br br-ctf
ctr ovs-vsctl --no-wait add-port br-ctf vm1 -- set Interface vm1 type=internal external_ids:ip=10.1.0.5
ctr ovs-vsctl --no-wait add-port br-ctf vm2 -- set Interface vm2 type=internal external_ids:ip=10.1.0.6
# port_is NAME IPS: the daemon has port NAME with exactly these IPs in effect.
port_is() {
    [[ $(ctl --json ports | json "','.join(','.join(p['ips']) for p in j['ports'] if p['name']=='$1')") == "$2" ]]
}
# job_done ORIGIN PORT: a finished job of that origin names the port.
job_done() {
    [[ $(ctl --json jobs | json "int(any(x['origin']=='$1' and x['state']=='done' and '$2' in x['ports'] for x in j['finished']))") == 1 ]]
}
idle() {
    [[ $(ctl --json status | json "int(j['queue_depth']==0 and j['running'] is None and j['batch_pending']==0)") == 1 ]]
}
check "the watcher sees vm1 with 10.1.0.5" wait_for 30 port_is vm1 10.1.0.5
check "the watcher sees vm2 with 10.1.0.6" wait_for 30 port_is vm2 10.1.0.6
check "the port-add jobs are done" wait_for 30 job_done port-add vm1
wait_for 30 job_done port-add vm2 && wait_for 30 idle
# Entries both ways: vm1 as the client and as the server, TCP and UDP; and
# vm2's, which must stay.
ct_add() { ctr conntrack -I "$@" -t 600 >/dev/null 2>&1; }
ct_add -p tcp -s 10.1.0.5 -d 10.2.0.1 --sport 40001 --dport 80 --state ESTABLISHED -u ASSURED
ct_add -p tcp -s 10.2.0.2 -d 10.1.0.5 --sport 40002 --dport 22 --state ESTABLISHED -u ASSURED
ct_add -p udp -s 10.1.0.5 -d 10.2.0.3 --sport 40003 --dport 53
ct_add -p tcp -s 10.1.0.6 -d 10.2.0.1 --sport 40004 --dport 80 --state ESTABLISHED -u ASSURED
ct_add -p udp -s 10.2.0.4 -d 10.1.0.6 --sport 40005 --dport 53
ct_count() { ctr conntrack -L 2>/dev/null | grep -c -w "$1"; }
check "the container's table holds vm1's 3 entries" test "$(ct_count 10.1.0.5)" -eq 3
check "and vm2's 2" test "$(ct_count 10.1.0.6)" -eq 2
ctr ovs-vsctl --no-wait del-port br-ctf vm1
check "a port-remove job for vm1 finished" wait_for 30 job_done port-remove vm1
ctl jobs
deleted=$(ctl --json jobs |
    json "[x['deleted'] for x in j['finished'] if x['origin']=='port-remove' and 'vm1' in x['ports']][0]")
check "it deleted vm1's 3 entries (deleted=$deleted)" test "$deleted" = 3
check "vm1's entries are gone from the container's table" test "$(ct_count 10.1.0.5)" -eq 0
check "vm2's entries are still there" test "$(ct_count 10.1.0.6)" -eq 2

echo "== systemctl kill -s KILL: restarted, state kept"
check "set-ips on a port neutron would name" ctl set-ips tap-neutron1 10.3.0.7,fd00::7
# The reply comes before the save (coalesced, 100 ms): what a kill must not
# lose is what was saved.
saved() { ctr grep -q '"control_ips":\["10.3.0.7","fd00::7"\]' /var/lib/ctflushd/state.json; }
check "the daemon saved it to its state file" wait_for 30 saved
pid=$(prop ctflushd MainPID)
restarts=$(prop ctflushd NRestarts)
ctr systemctl kill -s KILL ctflushd
restarted() { running && [[ $(prop ctflushd NRestarts) -gt $restarts && $(prop ctflushd MainPID) != "$pid" ]]; }
check "systemd restarted it (Restart=on-failure)" wait_for 30 restarted
check "the set-ips port survived the kill" wait_for 30 port_is tap-neutron1 10.3.0.7,fd00::7
check "the OVSDB ports came back too" wait_for 30 port_is vm2 10.1.0.6

echo "== systemctl reload applies a changed configuration"
pid=$(prop ctflushd MainPID)
ctr sh -c 'printf "iface-ip-keys = ip,ctf-test-ip\n" >>/etc/ctflushd/ctflushd.conf'
mark
ctr systemctl reload ctflushd
check "the daemon logged the reload, watcher restarted for the new keys" \
    wait_for 30 logged "SIGHUP: configuration reloaded; OVSDB watcher restarted"
ctr ovs-vsctl --no-wait add-port br-ctf vm3 -- set Interface vm3 type=internal external_ids:ctf-test-ip=10.4.0.9
check "the new key is in force: vm3 has 10.4.0.9" wait_for 30 port_is vm3 10.4.0.9
check "same process (a reload, not a restart)" test "$(prop ctflushd MainPID)" = "$pid"
ctr sh -c 'printf "no-such-key = 1\n" >>/etc/ctflushd/ctflushd.conf'
mark
ctr systemctl reload ctflushd
check "a bad config is refused and logged" wait_for 30 logged "configuration not reloaded"
check "and the daemon runs on with the old one" running
ctr sed -i '/^no-such-key/d' /etc/ctflushd/ctflushd.conf

echo "== the watchdog kills a stopped daemon"
pid=$(prop ctflushd MainPID)
restarts=$(prop ctflushd NRestarts)
mark
t0=$SECONDS
ctr systemctl kill -s STOP --kill-who=main ctflushd
check "restarted after the watchdog fired" wait_for 60 restarted
echo "watchdog restart took $((SECONDS - t0)) s"
ctr journalctl -u ctflushd -o cat --no-pager ${cursor:+--after-cursor="$cursor"} | grep -i watchdog
check "systemd logged the watchdog timeout" logged "Watchdog timeout"
check "the state survived that too" wait_for 30 port_is tap-neutron1 10.3.0.7,fd00::7

echo "== systemd-analyze security ctflushd"
ctr systemd-analyze security --no-pager ctflushd >"$work/security.txt" 2>&1
cat "$work/security.txt"
exposure=$(sed -n 's/.*Overall exposure level for ctflushd.service: \([0-9.]*\).*/\1/p' "$work/security.txt")
check "overall exposure $exposure is at most $max_exposure" \
    python3 -c "import sys; sys.exit(not float('${exposure:-99}') <= $max_exposure)"

echo "== metrics-listen: the generator's drop-in lets the hardened unit serve /metrics"
# http_get URL: status and body, from inside the container's network.
http_get() {
    ctr /usr/bin/python3 -c '
import sys, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status, r.headers["Content-Type"]); sys.stdout.write(r.read().decode())
except Exception as e:
    print("error", e)' "$1"
}
metrics_ok() { http_get http://127.0.0.1:9462/metrics | grep -qx "ctflushd_up 1"; }
ctr sh -c 'printf "metrics-listen = 127.0.0.1:9462\n" >>/etc/ctflushd/ctflushd.conf'
mark
# Without daemon-reload the unit still allows no AF_INET: the start fails,
# and says why.
if ctr systemctl restart ctflushd 2>/dev/null; then restart_rc=0; else restart_rc=1; fi
check "before daemon-reload, the restart fails (AF_INET not allowed yet)" test "$restart_rc" = 1
check "and the daemon says why" wait_for 30 logged "is the address family allowed?"
ctr systemctl stop ctflushd
ctr systemctl reset-failed ctflushd
ctr systemctl daemon-reload
dropin=/run/systemd/generator/ctflushd.service.d/50-address-families.conf
check "the generator wrote $dropin" ctr grep -qx "RestrictAddressFamilies=AF_INET" "$dropin"
families=$(prop ctflushd RestrictAddressFamilies)
check "the unit now allows AF_INET beside AF_UNIX AF_NETLINK ($families)" \
    bash -c "[[ ' $families ' == *' AF_INET '* && ' $families ' == *' AF_UNIX '* && ' $families ' == *' AF_NETLINK '* && ' $families ' != *AF_INET6* ]]"
ctr systemctl start ctflushd
check "started with metrics-listen: active (running)" running
check "GET /metrics answers under the hardened unit" wait_for 30 metrics_ok
content_type_ok() {
    [[ $(http_get http://127.0.0.1:9462/metrics | head -n 1) == "200 text/plain; version=0.0.4; charset=utf-8" ]]
}
check "200, Content-Type: text/plain; version=0.0.4; charset=utf-8" content_type_ok
check "ctflushctl status names the endpoint" \
    bash -c "nsenter -t $pid1 -a ctflushctl status | grep -q 'metrics http: http://127.0.0.1:9462/metrics'"

echo "== the node_exporter textfile timer: shipped, not enabled"
check "ctflushd-textfile.timer is there and disabled" \
    test "$(prop ctflushd-textfile.timer LoadState)/$(ctr systemctl is-enabled ctflushd-textfile.timer 2>/dev/null)" = loaded/disabled
check "and not running" test "$(prop ctflushd-textfile.timer ActiveState)" = inactive
ctr mkdir -p /var/lib/prometheus/node-exporter
check "its service runs once, sandboxed" ctr systemctl start ctflushd-textfile.service
prom=/var/lib/prometheus/node-exporter/ctflushd.prom
check "and wrote $prom (ctflushd_up 1, mode 644, no temp file left)" \
    ctr sh -c "grep -qx 'ctflushd_up 1' $prom && test \$(stat -c %a $prom) = 644 && test ! -e $prom.tmp"
ctr rm -rf /var/lib/prometheus/node-exporter
ctr sed -i '/^metrics-listen/d' /etc/ctflushd/ctflushd.conf
ctr systemctl daemon-reload
check "metrics-listen gone, daemon-reload: the generator's drop-in is gone" ctr test ! -e "$dropin"

echo "== upgrade to $v2 (dpkg -i inside the running container)"
pid=$(prop ctflushd MainPID)
if ctr env DEBIAN_FRONTEND=noninteractive dpkg -i "/root/$(basename "$deb2")" </dev/null \
        >"$tmp/dpkg-upgrade.log" 2>&1; then
    check "dpkg -i $v2 succeeds" true
else
    cat "$tmp/dpkg-upgrade.log"
    check "dpkg -i $v2 succeeds" false
fi
check "$v2 is installed" test "$(ctr dpkg-query -W -f '${Version}' ctflushd)" = "$v2"
new_main() { [[ $(prop ctflushd MainPID) != "$pid" ]]; }
check "the upgrade restarted the daemon" wait_for 30 new_main
check "running after the upgrade" wait_for 30 running
check "the changed conffile was kept" ctr grep -q '^iface-ip-keys = ip,ctf-test-ip' /etc/ctflushd/ctflushd.conf
check "the state survived the upgrade" wait_for 30 port_is tap-neutron1 10.3.0.7,fd00::7

echo "== purge"
rm -f "$merged/root/$(basename "$deb1")" "$merged/root/$(basename "$deb2")" \
    "$merged/root/$(basename "$pydeb1")"
if ctr env DEBIAN_FRONTEND=noninteractive dpkg --purge python3-ctflushd ctflushd </dev/null \
        >"$tmp/dpkg-purge.log" 2>&1; then
    check "dpkg --purge succeeds" true
else
    cat "$tmp/dpkg-purge.log"
    check "dpkg --purge succeeds" false
fi
check "no ctflushd process is left" bash -c "! nsenter -t $pid1 -a pgrep -x ctflushd >/dev/null"
check "dpkg knows nothing of it" bash -c "! nsenter -t $pid1 -a dpkg-query -W ctflushd >/dev/null 2>&1"
check "systemd has no such unit any more" test "$(prop ctflushd LoadState)" = not-found
# Anything named after the package in the container's file system that
# the host's does not have: only the test's own drop-in (an admin's file,
# which policy keeps) and the journal may remain.
leftovers=$(cd "$tmp/upper" && find . -path ./var/log/journal -prune -o \
    -path ./etc/systemd/system/ctflushd.service.d -prune -o \
    \( -name '*ctflushd*' -o -name '*ctflushctl*' \) ! -type c -print)
check "purge left nothing behind${leftovers:+: $leftovers}" test -z "$leftovers"
for p in /etc/ctflushd /var/lib/ctflushd /run/ctflushd /usr/sbin/ctflushd /usr/bin/ctflushctl; do
    check "$p is gone" ctr test ! -e "$p"
done

if ((failed)); then
    echo "== the daemon's journal in the container"
    ctr journalctl -u ctflushd -o short-monotonic --no-pager
fi

echo "== power off"
ctr systemctl poweroff >/dev/null 2>&1
check "the container powered off" wait_for 30 bash -c "! kill -0 $nspawn_pid 2>/dev/null"
echo "total $((SECONDS - t_start)) s"
