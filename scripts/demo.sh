#!/bin/bash
# The README's "run" command: sets up and builds ctflushd, then runs its main
# job on a self-contained sandbox: a private network namespace whose
# conntrack table holds ~200k entries of 200 "VMs" and their peers, from
# which the entries of 20 deleted VMs are flushed in one bulk job. Checks that
# exactly those entries went, and cleans up after itself.
#
# (The long-running daemon is not built yet; this drives the same engine
# through `ctflushd --oneshot`.)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CTF_BUILD:-$top/build}

"$top/scripts/setup-deps.sh"
cmake -S "$top" -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

ns=ctflushd-demo-$$
work=$(mktemp -d /tmp/ctflushd-demo.XXXXXX)
max_file=/proc/sys/net/netfilter/nf_conntrack_max
old_max=$(cat "$max_file")
cleanup() {
    ip netns delete "$ns" 2>/dev/null || true
    echo "$old_max" >"$max_file" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
((old_max < 1000000)) && echo 1000000 >"$max_file"
ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }

spec=total=200000,locals=200,peers=1000,nat-pct=10,v6-pct=10,seed=42
echo "== filling the sandbox table: $spec"
in_ns "$build/ctfill" --gen "$spec"
before=$(in_ns "$build/ctfill" --count)
echo "   $before entries"

# 20 VMs go away: locals 10.1.0.1-20 and their IPv6 addresses.
locals=$work/deleted-vms.txt
for i in $(seq 1 20); do
    printf '10.1.0.%d\nfd00:1::%x\n' "$i" "$i"
done >"$locals"
expect=$(in_ns "$build/ctfill" --gen "$spec" --local "@$locals" --peers any --print-matching)
echo "== 20 VMs deleted: $expect entries involve them (by ctfill's own count)"

echo "== ctflushd --oneshot --local @deleted-vms.txt --peers any --verbose"
in_ns "$build/ctflushd" --oneshot --local "@$locals" --peers any --verbose --json \
    >"$work/result.json"
cat "$work/result.json"

after=$(in_ns "$build/ctfill" --count)
deleted=$(sed -n 's/.*"deleted":\([0-9]*\).*/\1/p' "$work/result.json")
echo "== table: $before -> $after entries"
if ((before - after != expect || deleted != expect)); then
    echo "FAIL: expected exactly $expect entries gone, table lost $((before - after))," \
         "ctflushd reports $deleted" >&2
    exit 1
fi
# Nothing of the deleted VMs is left: a second run finds nothing to match.
again=$(in_ns "$build/ctflushd" --oneshot --local "@$locals" --strategy dump --json)
matched=$(sed -n 's/.*"matched":\([0-9]*\).*/\1/p' <<<"$again")
if ((matched != 0)); then
    echo "FAIL: $matched entries of the deleted VMs survived" >&2
    exit 1
fi
echo "OK: exactly the $expect entries of the 20 deleted VMs are gone; the other $after are intact"
