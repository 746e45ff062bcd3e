#!/bin/bash
# systemd/ctflushd-generator against the built ctflushd: which drop-in it
# writes for which configuration (ctflushd --print-config reads the file).
#
#   test_generator.sh SRC BUILD
set -uo pipefail

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
gen=$src/systemd/ctflushd-generator
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# case NAME CONFIG-TEXT EXPECTED-FAMILIES ("" = no drop-in)
case_() {
    local name=$1 text=$2 want=$3 out=$tmp/$1 got
    mkdir -p "$out"
    printf '%s' "$text" >"$tmp/$name.conf"
    if ! CTFLUSHD=$build/ctflushd CTFLUSHD_CONFIG=$tmp/$name.conf sh "$gen" "$out" "$out.early" "$out.late"; then
        echo "FAIL: $name: the generator failed"
        failed=$((failed + 1))
        return
    fi
    local f=$out/ctflushd.service.d/50-address-families.conf
    got=
    [[ -f $f ]] && got=$(sed -n 's/^RestrictAddressFamilies=//p' "$f")
    if [[ $got == "$want" ]] && { [[ -n $want ]] || [[ ! -e $out/ctflushd.service.d ]]; } &&
       { [[ -z $want ]] || grep -qx '\[Service\]' "$f"; }; then
        echo "ok: $name: ${want:-no drop-in}"
        passed=$((passed + 1))
    else
        echo "FAIL: $name: wanted '${want:-no drop-in}', got '${got:-no drop-in}'"
        [[ -f $f ]] && cat "$f"
        failed=$((failed + 1))
    fi
}

case_ defaults "" ""
case_ v4 "metrics-listen = 127.0.0.1:9462
" "AF_INET"
case_ v6 "metrics-listen = [::1]:9462
" "AF_INET6"
case_ off "metrics-listen =
" ""
case_ ovsdb-tcp "ovsdb = tcp:192.0.2.1:6640
" "AF_INET AF_INET6"
case_ ovsdb-cluster "ovsdb = unix:/run/openvswitch/db.sock,ssl:[fd00::1]:6640
" "AF_INET AF_INET6"
case_ both "ovsdb = ssl:192.0.2.1:6640
metrics-listen = [::1]:9462
" "AF_INET AF_INET6"
# A file ctflushd refuses gets no drop-in (the daemon will say why).
case_ bad "metrics-listen = localhost:9462
" ""
case_ unknown-key "metrics = yes
metrics-listen = 127.0.0.1:9462
" ""
# No ctflushd at all: nothing, and no failure.
mkdir -p "$tmp/none"
if CTFLUSHD=$tmp/nope sh "$gen" "$tmp/none" && [[ -z $(ls -A "$tmp/none") ]]; then
    echo "ok: no ctflushd: nothing written"; passed=$((passed + 1))
else
    echo "FAIL: no ctflushd"; failed=$((failed + 1))
fi
if sh "$gen" 2>/dev/null; then
    echo "FAIL: no directory given, yet it succeeded"; failed=$((failed + 1))
else
    echo "ok: no directory: usage error"; passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
((failed == 0))
