#!/bin/bash
# ctflushd --oneshot as a script would use it: exit codes and messages on bad
# input, one JSON object on stdout, and the entries really gone from the
# kernel table of a private namespace (checked against ctfill's own count).
#
#   test_oneshot_cli.sh BUILD_DIR
set -u -o pipefail

build=${1:?usage: test_oneshot_cli.sh BUILD_DIR}
ctfill=$build/ctfill
# CTF_TEST_WRAPPER, if set, is put in front of ctflushd, e.g. "valgrind
# --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect
# --error-exitcode=99": an error or leak then changes the exit code every
# check compares.
ctflushd=$build/ctflushd
if [[ -n ${CTF_TEST_WRAPPER:-} ]]; then
    wrapped=$(mktemp)
    trap 'rm -f "$wrapped"' EXIT
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$CTF_TEST_WRAPPER" "$build/ctflushd" >"$wrapped"
    chmod 755 "$wrapped"
    ctflushd=$wrapped
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: needs root" >&2
    exit 77
fi

fails=0
check() {   # check NAME WANT_RC WANT_STDERR_SUBSTRING -- CMD...
    local name=$1 want_rc=$2 want_err=$3
    shift 4
    local err rc
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [[ $rc -ne $want_rc || $err != *"$want_err"* ]]; then
        echo "FAIL $name: rc=$rc (want $want_rc), stderr: $err" >&2
        fails=$((fails + 1))
    else
        echo "ok   $name"
    fi
}

check bad-address 2 "bad address or prefix '10.1.2.300'" -- \
    "$ctflushd" --oneshot --local 10.1.2.300
check host-bits 2 "bad address or prefix '10.1.2.3/24'" -- \
    "$ctflushd" --oneshot --local 10.1.2.3/24
check unknown-option 2 "unknown option '--frobnicate' (see ctflushd --oneshot --help)" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --frobnicate
check no-local 2 "needs --local" -- "$ctflushd" --oneshot
check bad-zone 2 "ctflushd: --zone: '65536' is not a decimal number from 0 to 65535" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --zone 65536
# strtoull's base 0 once read these as 16 and 8 here, while the config file
# and ctflushctl took decimal only: now the one rule, in the same words.
check hex-zone 2 "ctflushd: --zone: '0x10' is not a decimal number from 0 to 65535" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --zone 0x10
check octal-zone 2 "ctflushd: --zone: '010' is not a decimal number from 0 to 65535" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --zone 010
check octal-mark 2 "ctflushd: --mark: '010' is not MARK[/MASK]" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --mark 010
check everything 2 "refusing to flush every entry" -- \
    "$ctflushd" --oneshot --local any --peers any
check missing-file 2 "/nonexistent/list: No such file" -- \
    "$ctflushd" --oneshot --local @/nonexistent/list
check bad-strategy 2 "unknown strategy" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --strategy fastest
check bad-dump-threads 2 "--dump-threads: '0' is not a decimal number from 1 to 64" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --dump-threads 0
# The two binaries refuse a zone in the same words (num.h), whatever the
# spelling: compare ctflushd --oneshot's line with ctflushctl's.
for zone in 0x10 010 +5 " 5" "5 " 65536 -1; do
    a=$("$ctflushd" --oneshot --local 10.0.0.1 --zone "$zone" 2>&1 >/dev/null | head -n1)
    b=$("$build/ctflushctl" flush --local 10.0.0.1 --zone "$zone" 2>&1 >/dev/null | head -n1)
    want="--zone: '$zone' is not a decimal number from 0 to 65535"
    if [[ $a != "ctflushd: $want" || $b != "ctflushctl: $want" ]]; then
        echo "FAIL one-rule '$zone': ctflushd said '$a', ctflushctl said '$b'" >&2
        fails=$((fails + 1))
    else
        echo "ok   one-rule '$zone'"
    fi
done
check dport-no-proto 2 "dport needs a protocol" -- "$ctflushd" --oneshot --local 10.0.0.1 --dport 53
check bad-direction 2 "is not ingress, egress or either" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --direction inbound
check bad-family 2 "no local address is of it" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --family ipv6
check empty-probe-cache 2 "give a file, or none" -- \
    "$ctflushd" --oneshot --local 10.0.0.1 --probe-cache ""

# Without CAP_NET_ADMIN: refused before touching anything.
check no-cap-net-admin 4 "CAP_NET_ADMIN is needed" -- \
    setpriv --inh-caps=-all --bounding-set=-net_admin "$ctflushd" --oneshot --local 10.0.0.1

# A real job in a private namespace, its probe's findings kept in a file of
# this test's (never the host's /var/lib/ctflushd).
cache_dir=$(mktemp -d /tmp/ctf-oneshot-cache.XXXXXX)
trap 'rm -rf "$cache_dir"' EXIT
out=$(unshare -n bash -c '
    set -e
    spec=total=20000,locals=50,peers=50,nat-pct=20,v6-pct=20,seed=3
    "$1" -q --gen "$spec"
    want=$("$1" --gen "$spec" --local 10.1.0.1,10.1.0.2,fd00:1::1 --peers any --print-matching)
    before=$("$1" --count)
    # Two threads: the dump is received on a helper thread (ctpipe).
    json=$("$2" --oneshot --local 10.1.0.1,10.1.0.2,fd00:1::1 --dump-threads 2 --json \
           --probe-cache "$3/probe.cache")
    after=$("$1" --count)
    echo "$want $before $after"
    echo "$json"
' _ "$ctfill" "$ctflushd" "$cache_dir")
rc=$?
read -r want before after <<<"$(head -n1 <<<"$out")"
json=$(tail -n1 <<<"$out")
if [[ $rc -ne 0 ]]; then
    echo "FAIL real-job: rc=$rc: $out" >&2
    fails=$((fails + 1))
elif ! python3 -c '
import json, sys
o = json.loads(sys.argv[1])
want = int(sys.argv[2])
for k in ("strategy", "scanned", "matched", "deleted", "errors", "elapsed_ms"):
    assert k in o, k
assert o["deleted"] == want and o["errors"] == 0, o
' "$json" "$want"; then
    echo "FAIL real-job: JSON $json (want $want deleted)" >&2
    fails=$((fails + 1))
elif ((before - after != want || want == 0)); then
    echo "FAIL real-job: table $before -> $after, want $want gone" >&2
    fails=$((fails + 1))
else
    echo "ok   real-job ($want entries gone, JSON parses)"
fi

# The findings were kept, and the next run takes them; --reprobe does not.
if [[ ! -s $cache_dir/probe.cache ]] || ! grep -q '^ctflushd-probe-cache ' "$cache_dir/probe.cache"; then
    echo "FAIL probe-cache: no findings kept in $cache_dir/probe.cache" >&2
    fails=$((fails + 1))
else
    kept=$(unshare -n "$ctflushd" --oneshot --local 10.9.9.9 --verbose \
           --probe-cache "$cache_dir/probe.cache" 2>&1 >/dev/null | grep 'kernel:')
    again=$(unshare -n "$ctflushd" --oneshot --local 10.9.9.9 --verbose --reprobe \
            --probe-cache "$cache_dir/probe.cache" 2>&1 >/dev/null | grep 'kernel:')
    # A corrupt file is not trusted: proved again (and replaced).
    echo garbage >> "$cache_dir/probe.cache"
    corrupt=$(unshare -n "$ctflushd" --oneshot --local 10.9.9.9 --verbose \
              --probe-cache "$cache_dir/probe.cache" 2>&1 >/dev/null | grep 'kernel:')
    if [[ $kept != *"kept for this boot"* || $again == *"kept for this boot"* \
          || $corrupt == *"kept for this boot"* ]]; then
        echo "FAIL probe-cache: kept '$kept' / reprobe '$again' / corrupt '$corrupt'" >&2
        fails=$((fails + 1))
    else
        echo "ok   probe-cache (kept, --reprobe and a corrupt file prove again)"
    fi
fi

if ((fails)); then
    echo "$fails failed" >&2
    exit 1
fi
echo PASS
