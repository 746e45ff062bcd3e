#!/bin/bash
#
# bench/run.sh: times ctflushd against the usual ways of deleting conntrack
# entries, on identical, freshly refilled tables in a private network
# namespace. Method and scenarios: docs/benchmark.md.
#
# Run by hand as root (not a ctest test: it takes minutes and raises the
# global nf_conntrack_max for a while):
#
#   bench/run.sh [--quick] [--build DIR] [--out FILE] [--budget SEC]
#                [--strategies LIST] [--scenarios LIST] [--keep]
#
# Scenarios S1-S4 are one job each (--oneshot's engine time against the
# baselines and the floors), OS the whole --oneshot process, Z and ST the
# daemon through OVSDB (bench/daemon.py).
#
# Exit status: 0 all counts agree and every target passed; 1 a count did not
# agree or a method failed; 2 usage or set-up error; 3 counts agree but a
# target failed (full runs only: --quick never fails on a target).

set -u -o pipefail

PROG=bench/run.sh
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF
usage: $PROG [OPTIONS]

Benchmarks 'ctflushd --oneshot' against per-pair and per-IP 'conntrack -D',
dump + one acknowledged delete per entry, and a kernel flush of exactly the
matching entries, in a private network namespace. Needs root.

  --quick            small tables (20k/100k) and short sampling: a smoke run
  --build DIR        build directory (default: $SRCDIR/build)
  --out FILE         results file (default: $SRCDIR/bench/results/latest.json)
  --budget SEC       time allowed to each sampled baseline before it is
                     extrapolated (default: 20, quick: 3)
  --strategies LIST  ctflushd strategies to run, comma separated
                     (default: auto; e.g. auto,dump,filtered-flush)
  --scenarios LIST   subset of S1,S2,S3,S4,OS,Z,ST (default: all)
  --repeat N         runs of ctflushd, b3 and b4 per scenario, median kept
                     (default: 3, quick: 1)
  --keep             keep the work directory (lists, raw outputs)
  -h, --help
EOF
}

QUICK=0
BUILD=$SRCDIR/build
OUT=$SRCDIR/bench/results/latest.json
BUDGET=
STRATEGIES=auto
SCENARIOS=S1,S2,S3,S4,OS,Z,ST
KEEP=0
REPEAT=
ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --build) BUILD=${2:?--build needs a directory}; shift ;;
    --build=*) BUILD=${1#*=} ;;
    --out) OUT=${2:?--out needs a file}; shift ;;
    --out=*) OUT=${1#*=} ;;
    --budget) BUDGET=${2:?--budget needs seconds}; shift ;;
    --budget=*) BUDGET=${1#*=} ;;
    --strategies) STRATEGIES=${2:?}; shift ;;
    --strategies=*) STRATEGIES=${1#*=} ;;
    --scenarios) SCENARIOS=${2:?}; shift ;;
    --scenarios=*) SCENARIOS=${1#*=} ;;
    --repeat) REPEAT=${2:?--repeat needs a number}; shift ;;
    --repeat=*) REPEAT=${1#*=} ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$PROG: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ -n "$BUDGET" ] || BUDGET=$([ $QUICK = 1 ] && echo 3 || echo 20)
[ -n "$REPEAT" ] || REPEAT=$([ $QUICK = 1 ] && echo 1 || echo 3)
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "$PROG: --repeat wants a positive number" >&2; exit 2; }
[[ $BUDGET =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "$PROG: --budget wants seconds" >&2; exit 2; }

die() {
    echo "$PROG: $*" >&2
    exit 2
}

SYSCTL_MAX=/proc/sys/net/netfilter/nf_conntrack_max
COUNT_FILE=/proc/sys/net/netfilter/nf_conntrack_count

# ---------------------------------------------------------------------------
# Outer part, in the caller's namespace: nf_conntrack_max is global and can
# only be written from the initial namespace, so it is raised (and restored
# on every exit path) here; everything else runs in a fresh namespace that
# dies with the inner process.
if [ -z "${CTF_BENCH_INNER:-}" ]; then
    [ "$(id -u)" = 0 ] || die "must run as root"
    command -v unshare >/dev/null || die "unshare not found"
    command -v conntrack >/dev/null || die "conntrack (conntrack-tools) not found"
    for b in "$BUILD/ctfill" "$BUILD/bench/bench_ct_baseline" "$BUILD/ctflushd"; do
        [ -x "$b" ] || die "$b not found: build first (cmake --build $BUILD)"
    done
    [ -r $SYSCTL_MAX ] || die "$SYSCTL_MAX missing: is nf_conntrack loaded?"

    need=$([ $QUICK = 1 ] && echo 400000 || echo 2000000)
    old_max=$(cat $SYSCTL_MAX)
    restore_max() {
        if [ "$(cat $SYSCTL_MAX)" != "$old_max" ]; then
            echo "$old_max" > $SYSCTL_MAX && echo "$PROG: nf_conntrack_max restored to $old_max" >&2
        fi
    }
    inner=
    stop_inner() {
        # The inner run must not outlive the raised limit.
        if [ -n "$inner" ]; then
            kill -TERM "$inner" 2>/dev/null
            wait "$inner" 2>/dev/null
        fi
        exit "$1"
    }
    trap 'stop_inner 130' INT
    trap 'stop_inner 143' TERM
    if [ "$old_max" -lt "$need" ]; then
        trap restore_max EXIT
        echo "$need" > $SYSCTL_MAX || die "cannot raise nf_conntrack_max"
        echo "$PROG: nf_conntrack_max raised from $old_max to $need for the run" >&2
    fi
    # unshare execs bash in the new namespace, so $! is the inner run itself.
    CTF_BENCH_INNER=1 unshare --net -- bash "${BASH_SOURCE[0]}" "${ARGS[@]}" &
    inner=$!
    wait "$inner"
    rc=$?
    inner=
    exit $rc
fi

# ---------------------------------------------------------------------------
# Inner part: in our own network namespace from here on.

CTFILL=$BUILD/ctfill
BASELINE=$BUILD/bench/bench_ct_baseline
CTFLUSHD=$BUILD/ctflushd

WORK=$(mktemp -d /tmp/ctf-bench.XXXXXX) || die "mktemp failed"
# The run's own probe findings: the first --oneshot proves the kernel, the
# others (and OS's timed runs, "after boot") take what it proved.
PROBE_CACHE=$WORK/probe.cache
cleanup() {
    local pids
    pids=$(jobs -p)
    [ -z "$pids" ] || kill $pids 2>/dev/null
    if [ $KEEP = 1 ]; then
        echo "$PROG: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The tables. Both have the same shape (per-local density, mix of peers,
# external hosts, NAT, IPv6, zones); only size and number of locals differ.
SHAPE="seed=42,bg-pct=25,ext-pct=40,nat-pct=20,v6-pct=10,hot-pct=5,zones=4"
if [ $QUICK = 1 ]; then
    T_SMALL="total=20000,locals=200,peers=100,$SHAPE"
    T_LARGE="total=100000,locals=1000,peers=100,$SHAPE"
else
    T_SMALL="total=200000,locals=200,peers=100,$SHAPE"
    T_LARGE="total=1000000,locals=1000,peers=100,$SHAPE"
fi

# name  table  locals(range)  peers(range|any)
SCENARIO_DEFS="
S1 T_SMALL 0 any
S2 T_SMALL 0-19 0-99
S3 T_SMALL all 0-4
S4 T_LARGE 0-199 any
"

now() { echo "$EPOCHREALTIME"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }
ct_count() { cat $COUNT_FILE; }
table_total() { sed -n 's/.*total=\([0-9]*\).*/\1/p' <<<"$1"; }

# Value of a top-level key of a flat JSON object (numbers and strings).
json_get() {
    sed -n "s/.*\"$2\":\(\"\([^\"]*\)\"\|\([-0-9.eE+]*\)\).*/\2\3/p" <<<"$1" | head -1
}

FAILURES=0
fail() {
    echo "  FAIL: $*" >&2
    FAILURES=$((FAILURES + 1))
}

# Objects in the kernel's nf_conntrack slab, every namespace included.
slab_objs() {
    awk '$1 == "nf_conntrack" { print $2; found = 1 } END { if (!found) print 0 }' \
        /proc/slabinfo 2>/dev/null || echo 0
}

# Waits until no other namespace is tearing down a table (ctflushd's start-up
# probe, other tests on the machine): freeing a dying namespace's entries
# competes with whatever we time next.
wait_quiet() {
    local prev cur i
    prev=$(slab_objs)
    for i in $(seq 1 100); do
        sleep 0.2
        cur=$(slab_objs)
        if [ $((prev - cur)) -lt 2000 ] && [ $((cur - prev)) -lt 2000 ]; then
            return 0
        fi
        prev=$cur
    done
    echo "  note: conntrack slab still changing after 20 s; timing anyway" >&2
}

empty_table() {
    local i
    conntrack -F >/dev/null 2>&1
    for i in $(seq 1 50); do
        [ "$(ct_count)" = 0 ] && return 0
        sleep 0.1
    done
    die "table does not empty (count $(ct_count))"
}

# refill SPEC [ctfill selection args...]: a fresh table of exactly what ctfill
# makes of SPEC (optionally only the matching entries).
refill() {
    local spec=$1 expect out
    shift
    empty_table
    out=$("$CTFILL" --gen "$spec" "$@" 2>&1) || die "ctfill failed: $out"
    if [ $# -gt 0 ]; then
        expect=$("$CTFILL" -q --gen "$spec" "$@" --print-matching)
    else
        expect=$(table_total "$spec")
    fi
    [ "$(ct_count)" = "$expect" ] || die "table holds $(ct_count) entries, expected $expect"
    wait_quiet
}

# One result row: scenario method seconds deleted expected mode units note json
# mode: full | extrapolated | failed. Empty fields are stored as "-" because
# read(1) merges adjacent tabs.
RESULTS=$WORK/results.tsv
: > "$RESULTS"
record() {
    local f line=
    for f in "$@"; do
        line+="${f:--}"$'\t'
    done
    printf '%s\n' "${line%$'\t'}" >> "$RESULTS"
}
undash() {
    local v
    for v in "$@"; do
        [ "${!v}" != - ] || printf -v "$v" '%s' ""
    done
}

machine_info() {
    NPROC=$(nproc)
    KERNEL=$(uname -r)
    CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 | tr -d '"\\')
    [ -n "$CPU" ] || CPU=unknown
    BUCKETS=$(cat /proc/sys/net/netfilter/nf_conntrack_buckets 2>/dev/null || echo "?")
    CT_VERSION=$(conntrack --version 2>&1 | sed -n 's/.*\(v[0-9.]*\).*/\1/p' | head -1)
    MAX_NOW=$(cat $SYSCTL_MAX)
}

# ---------------------------------------------------------------------------
# Methods. Each expects the scenario's variables: SCN SPEC LFILE PEERS_ARG
# (@file or any) PFILE K.

# The fast methods (ctflushd, b3, b4) run REPEAT times, each time on a fresh
# table, and the median is kept: the machine may be shared, and one slow run
# should not decide a target. A *_once function sets ONCE_SEC, ONCE_DEL,
# ONCE_NOTE and ONCE_JSON, and returns non-zero if the method failed (after
# saying why with fail).
# repeat_method NAME-PREFIX FN [ARGS...]; sets MEDIAN_SEC and ONCE_NAME.
repeat_method() {
    local name=$1 i times=() jsons=() notes=() n mid sorted
    shift
    MEDIAN_SEC=
    for ((i = 0; i < REPEAT; i++)); do
        ONCE_SEC= ONCE_DEL= ONCE_NOTE= ONCE_JSON=null ONCE_NAME=$name
        if ! "$@"; then
            record "$SCN" "$ONCE_NAME" "" "$ONCE_DEL" "$K" failed "" "$ONCE_NOTE" "null"
            return 1
        fi
        times+=("$ONCE_SEC")
        jsons+=("$ONCE_JSON")
        notes+=("$ONCE_NOTE")
    done
    n=${#times[@]}
    sorted=$(printf '%s\n' "${times[@]}" | sort -g | tr '\n' ' ')
    MEDIAN_SEC=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (n + 1) / 2 ))p")
    for ((i = 0; i < n; i++)); do
        [ "${times[$i]}" = "$MEDIAN_SEC" ] && mid=$i && break
    done
    local note=${notes[$mid]}
    [ "$n" -gt 1 ] && note+=$(printf '; median of %d: %s' "$n" \
        "$(for t in $sorted; do printf '%.3f ' "$t"; done | sed 's/ $//')")
    record "$SCN" "$ONCE_NAME" "$MEDIAN_SEC" "$ONCE_DEL" "$K" full "" "$note" "${jsons[$mid]}"
}

ms_to_s() { awk -v m="$1" 'BEGIN { printf "%.6f", m / 1000 }'; }

ctflushd_once() {
    local strat=$1 before after t0 t1 out rc json_del ms used sargs=()
    [ "$strat" = auto ] || sargs=(--strategy "$strat")
    refill "$SPEC"
    before=$(ct_count)
    t0=$(now)
    out=$("$CTFLUSHD" --oneshot --local "@$LFILE" --peers "$PEERS_ARG" --json "${sargs[@]}" \
          --probe-cache "$PROBE_CACHE" \
          2>"$WORK/$SCN.ctflushd.$strat.err")
    rc=$?
    t1=$(now)
    after=$(ct_count)
    echo "$out" >> "$WORK/$SCN.ctflushd.$strat.json"
    ONCE_DEL=$((before - after))
    if [ $rc != 0 ] || [ -z "$out" ]; then
        ONCE_NOTE="exit $rc"
        fail "$SCN ctflushd --strategy $strat exited $rc: $(head -c 300 "$WORK/$SCN.ctflushd.$strat.err")"
        return 1
    fi
    json_del=$(json_get "$out" deleted)
    ms=$(json_get "$out" elapsed_ms)
    used=$(json_get "$out" strategy)
    if [ "$ONCE_DEL" != "$K" ] || [ "$json_del" != "$K" ]; then
        fail "$SCN ctflushd ($strat): table lost $ONCE_DEL, reported $json_del, expected $K"
    fi
    ONCE_NAME="ctflushd ($strat: $used)"
    ONCE_SEC=$(ms_to_s "$ms")
    ONCE_NOTE=$(printf 'wall %.3f s incl. start-up' "$(fsub "$t1" "$t0")")
    ONCE_JSON=$out
}

run_ctflushd() {
    repeat_method "ctflushd ($1)" ctflushd_once "$1" || return
    # The reference for ratios: auto, or the first strategy if auto is not run.
    if [ "$1" = auto ] || [ -z "$CTFLUSHD_SEC" ]; then
        CTFLUSHD_SEC=$MEDIAN_SEC
    fi
}

# Runs FN on each line of UNITS (in a fixed shuffled order, families
# alternating) until all are done or BUDGET seconds have passed, timing each
# family on its own: a v4 unit walks a much bigger dump than a v6 one, so the
# extrapolation weights each family's mean by how many units it has.
# Sets: DONE_FILE SAMPLE_SEC EST_SEC N_DONE N_TOTAL
run_sampled() {
    local units=$1 kind=$2 fn=$3 t_start t0 t1 line fam f missing
    local -A spent=() done_n=() total_n=()
    DONE_FILE=$WORK/$SCN.$kind.done
    : > "$DONE_FILE"
    N_TOTAL=$(wc -l < "$units")
    N_DONE=0
    while read -r line; do
        fam=v4; [[ $line == *:* ]] && fam=v6
        total_n[$fam]=$(( ${total_n[$fam]:-0} + 1 ))
    done < "$units"
    awk 'BEGIN { srand(7) } { printf "%d\t%s\n", rand() * 1e9, $0 }' "$units" \
        | sort -n | cut -f2- \
        | awk '{ if ($0 ~ /:/) v6[n6++] = $0; else v4[n4++] = $0 }
               END { for (i = 0; i < n4 || i < n6; i++) {
                         if (i < n4) print v4[i]; if (i < n6) print v6[i] } }' \
        > "$units.order"
    t_start=$(now)
    while read -r line; do
        fam=v4; [[ $line == *:* ]] && fam=v6
        t0=$(now)
        "$fn" $line < /dev/null
        t1=$(now)
        spent[$fam]=$(awk -v s="${spent[$fam]:-0}" -v d="$(fsub "$t1" "$t0")" \
                          'BEGIN { printf "%.6f", s + d }')
        done_n[$fam]=$(( ${done_n[$fam]:-0} + 1 ))
        N_DONE=$((N_DONE + 1))
        echo "$line" >> "$DONE_FILE"
        if awk -v e="$(fsub "$(now)" "$t_start")" -v b="$BUDGET" 'BEGIN { exit !(e > b) }'; then
            # Over budget: stop, once every family has been sampled.
            missing=0
            for f in "${!total_n[@]}"; do
                [ "${done_n[$f]:-0}" -gt 0 ] || missing=1
            done
            [ $missing = 1 ] || break
        fi
    done < "$units.order"
    SAMPLE_SEC=$(fsub "$(now)" "$t_start")
    EST_SEC=0
    for fam in "${!total_n[@]}"; do
        EST_SEC=$(awk -v e="$EST_SEC" -v s="${spent[$fam]:-0}" -v d="${done_n[$fam]:-1}" \
                      -v t="${total_n[$fam]}" 'BEGIN { printf "%.6f", e + s / d * t }')
    done
}

run_unit_pair() {
    # Four commands, because the job matches either end in either tuple.
    conntrack -D -s "$1" -d "$2" >/dev/null 2>&1
    conntrack -D -s "$2" -d "$1" >/dev/null 2>&1
    conntrack -D --reply-src "$1" --reply-dst "$2" >/dev/null 2>&1
    conntrack -D --reply-src "$2" --reply-dst "$1" >/dev/null 2>&1
}

run_unit_ip() {
    conntrack -D -s "$1" >/dev/null 2>&1
    conntrack -D -d "$1" >/dev/null 2>&1
    conntrack -D --reply-src "$1" >/dev/null 2>&1
    conntrack -D --reply-dst "$1" >/dev/null 2>&1
}

# b1 and b2 share the bookkeeping: name, unit function, unit list, and what
# ctfill needs to count the entries of the units that were run.
run_conntrack_baseline() {
    local name=$1 fn=$2 units=$3 kind=$4 before after deleted expect mode note
    refill "$SPEC"
    before=$(ct_count)
    run_sampled "$units" "$kind" "$fn"
    after=$(ct_count)
    deleted=$((before - after))
    if [ "$kind" = pairs ]; then
        expect=$("$CTFILL" -q --gen "$SPEC" --pairs "$DONE_FILE" --print-matching)
    else
        expect=$("$CTFILL" -q --gen "$SPEC" --local "@$DONE_FILE" --peers any --print-matching)
    fi
    if [ "$N_DONE" = "$N_TOTAL" ]; then
        mode=full
        note="all $N_TOTAL $kind"
        [ "$deleted" = "$K" ] || fail "$SCN $name deleted $deleted, expected $K"
        EST_SEC=$SAMPLE_SEC
    else
        mode=extrapolated
        note=$(printf '%d of %d %s in %.1f s' "$N_DONE" "$N_TOTAL" "$kind" "$SAMPLE_SEC")
        [ "$deleted" = "$expect" ] || fail "$SCN $name sample deleted $deleted, expected $expect"
    fi
    record "$SCN" "$name" "$EST_SEC" "$deleted" "$([ $mode = full ] && echo "$K" || echo "$expect")" \
           "$mode" "$N_DONE/$N_TOTAL" "$note" "null"
}

run_b1() {
    # Same-family (local, peer) pairs.
    awk 'NR == FNR { l[n++] = $1; next }
         { for (i = 0; i < n; i++) if ((l[i] ~ /:/) == ($1 ~ /:/)) print l[i], $1 }' \
        "$LFILE" "$PFILE" > "$WORK/$SCN.pairs"
    run_conntrack_baseline "b1 conntrack -D x4/pair" run_unit_pair "$WORK/$SCN.pairs" pairs
}

run_b2() {
    run_conntrack_baseline "b2 conntrack -D x4/IP" run_unit_ip "$LFILE" ips
}

b3_once() {
    local out rc del before after
    refill "$SPEC"
    before=$(ct_count)
    out=$("$BASELINE" per-entry --local "@$LFILE" --peers "$PEERS_ARG" 2>"$WORK/$SCN.b3.err")
    rc=$?
    after=$(ct_count)
    echo "$out" >> "$WORK/$SCN.b3.json"
    ONCE_DEL=$((before - after))
    if [ $rc != 0 ] || [ -z "$out" ]; then
        ONCE_NOTE="exit $rc"
        fail "$SCN dump+per-entry exited $rc: $(head -c 300 "$WORK/$SCN.b3.err")"
        return 1
    fi
    del=$(json_get "$out" deleted)
    [ "$ONCE_DEL" = "$K" ] && [ "$del" = "$K" ] \
        || fail "$SCN dump+per-entry: table lost $ONCE_DEL, reported $del, expected $K"
    ONCE_SEC=$(ms_to_s "$(json_get "$out" elapsed_ms)")
    ONCE_NOTE="dump $(json_get "$out" dump_ms) ms + deletes $(json_get "$out" delete_ms) ms"
    ONCE_JSON=$out
}

run_b3() {
    repeat_method "b3 dump+per-entry" b3_once && B3_SEC=$MEDIAN_SEC
}

b4_once() {
    local out rc
    if [ "$PEERS_ARG" = any ]; then
        refill "$SPEC" --local "@$LFILE" --peers any --only-matching
    else
        refill "$SPEC" --local "@$LFILE" --peers "@$PFILE" --only-matching
    fi
    out=$("$BASELINE" flush 2>"$WORK/$SCN.b4.err")
    rc=$?
    echo "$out" >> "$WORK/$SCN.b4.json"
    if [ $rc != 0 ] || [ -z "$out" ]; then
        ONCE_NOTE="exit $rc"
        fail "$SCN limit exited $rc: $(head -c 300 "$WORK/$SCN.b4.err")"
        return 1
    fi
    ONCE_DEL=$(json_get "$out" deleted)
    [ "$ONCE_DEL" = "$K" ] || fail "$SCN limit deleted $ONCE_DEL, expected $K"
    ONCE_SEC=$(ms_to_s "$(json_get "$out" elapsed_ms)")
    ONCE_NOTE="table of K only"
    ONCE_JSON=$out
}

run_b4() {
    repeat_method "b4 limit (flush of K)" b4_once && B4_SEC=$MEDIAN_SEC
}

# The floors delete nothing, so consecutive runs share one table.
floor_once() {
    local mode=$1 out rc
    [ "$(ct_count)" = "$(table_total "$SPEC")" ] || refill "$SPEC"
    wait_quiet
    out=$("$BASELINE" "$mode" 2>"$WORK/$SCN.$mode.err")
    rc=$?
    echo "$out" >> "$WORK/$SCN.$mode.json"
    if [ $rc != 0 ] || [ -z "$out" ]; then
        ONCE_NOTE="exit $rc"
        fail "$SCN $mode exited $rc: $(head -c 300 "$WORK/$SCN.$mode.err")"
        return 1
    fi
    ONCE_DEL=$(( $(table_total "$SPEC") - $(ct_count) ))
    [ "$ONCE_DEL" = 0 ] || fail "$SCN $mode: the table lost $ONCE_DEL entries"
    if [ "$mode" = dump-only ] && [ "$(json_get "$out" entries)" != "$(table_total "$SPEC")" ]; then
        fail "$SCN dump-only received $(json_get "$out" entries) entries, table holds $(table_total "$SPEC")"
    fi
    ONCE_SEC=$(ms_to_s "$(json_get "$out" elapsed_ms)")
    ONCE_NOTE=$([ "$mode" = walk ] && echo "one filtered dump that returns nothing" \
                || echo "$(json_get "$out" entries) entries received, none parsed")
    ONCE_JSON=$out
}

run_b5() {
    repeat_method "b5 floor: raw dump" floor_once dump-only && B5_SEC=$MEDIAN_SEC
}

run_b6() {
    repeat_method "b6 floor: one kernel walk" floor_once walk && B6_SEC=$MEDIAN_SEC
}

# ---------------------------------------------------------------------------

machine_info
[ "$(ct_count)" = 0 ] || die "the new namespace's table is not empty?"
echo "ctflushd benchmark$([ $QUICK = 1 ] && echo ' (quick)')"
echo "machine: $NPROC CPUs, $CPU, kernel $KERNEL, conntrack $CT_VERSION," \
     "nf_conntrack_buckets $BUCKETS, nf_conntrack_max $MAX_NOW"
echo "small table: $T_SMALL"
echo "large table: $T_LARGE"
echo "sampling budget per slow baseline: $BUDGET s; runs per fast method: $REPEAT (median kept)"
echo

T_START=$(now)
declare -A TARGET_CTF TARGET_B3 TARGET_B4 TARGET_B5 TARGET_B6 SCN_K SCN_SPEC SCN_LOCALS SCN_PEERS
SCN_ORDER=()
while read -r SCN tname lrange prange; do
    [ -n "$SCN" ] || continue
    [[ ",$SCENARIOS," == *",$SCN,"* ]] || continue
    SCN_ORDER+=("$SCN")
    SPEC=${!tname}
    LFILE=$WORK/$SCN.locals
    PFILE=$WORK/$SCN.peers
    "$CTFILL" --gen "$SPEC" --print-locals "$lrange" > "$LFILE" || die "ctfill --print-locals"
    if [ "$prange" = any ]; then
        PEERS_ARG=any
        : > "$PFILE"
        K=$("$CTFILL" -q --gen "$SPEC" --local "@$LFILE" --peers any --print-matching)
    else
        "$CTFILL" --gen "$SPEC" --print-peers "$prange" > "$PFILE" || die "ctfill --print-peers"
        PEERS_ARG=@$PFILE
        K=$("$CTFILL" -q --gen "$SPEC" --local "@$LFILE" --peers "@$PFILE" --print-matching)
    fi
    SCN_K[$SCN]=$K
    SCN_SPEC[$SCN]=$SPEC
    SCN_LOCALS[$SCN]="$lrange ($(wc -l < "$LFILE") addresses)"
    SCN_PEERS[$SCN]=$([ "$prange" = any ] && echo any || echo "$prange ($(wc -l < "$PFILE") addresses)")
    echo "== $SCN: table $(table_total "$SPEC"), locals ${SCN_LOCALS[$SCN]}, peers ${SCN_PEERS[$SCN]}: K = $K"

    CTFLUSHD_SEC= B3_SEC= B4_SEC= B5_SEC= B6_SEC=
    for strat in ${STRATEGIES//,/ }; do
        echo "   ctflushd --strategy $strat"
        run_ctflushd "$strat"
    done
    if [ "$PEERS_ARG" = any ]; then
        echo "   b2: conntrack -D per local IP"
        run_b2
    else
        echo "   b1: conntrack -D per (local, peer) pair"
        run_b1
    fi
    echo "   b3: dump + one acknowledged delete per entry"
    run_b3
    echo "   b4: the limit (kernel flush of a table of the K entries)"
    run_b4
    echo "   b5, b6: the floors (a raw dump; one kernel walk)"
    run_b5
    run_b6
    TARGET_CTF[$SCN]=$CTFLUSHD_SEC
    TARGET_B3[$SCN]=$B3_SEC
    TARGET_B4[$SCN]=$B4_SEC
    TARGET_B5[$SCN]=$B5_SEC
    TARGET_B6[$SCN]=$B6_SEC
done <<<"$SCENARIO_DEFS"
empty_table

# ---------------------------------------------------------------------------
# OS: the whole --oneshot process for one VM's address (local 0's IPv4 one),
# against the four conntrack -D a per-IP agent runs for it, each on a fresh
# copy of the small table. The probe's findings are this run's, as they are
# after boot: a first run proves the kernel (timed apart, in the note).
OS_SEC= OS_B2_SEC= OS_NOTE=
oneshot_wall_once() {
    local t0 t1 out rc before after
    refill "$SPEC"
    before=$(ct_count)
    t0=$(now)
    out=$("$CTFLUSHD" --oneshot --local "$OS_IP" --json --probe-cache "$PROBE_CACHE" \
          2>"$WORK/OS.ctflushd.err")
    rc=$?
    t1=$(now)
    after=$(ct_count)
    ONCE_DEL=$((before - after))
    if [ $rc != 0 ]; then
        ONCE_NOTE="exit $rc"
        fail "OS ctflushd --oneshot exited $rc: $(head -c 300 "$WORK/OS.ctflushd.err")"
        return 1
    fi
    [ "$ONCE_DEL" = "$K" ] || fail "OS ctflushd deleted $ONCE_DEL, expected $K"
    ONCE_SEC=$(fsub "$t1" "$t0")
    ONCE_NOTE=$(printf 'whole process; its job %.3f s (%s)' \
                "$(ms_to_s "$(json_get "$out" elapsed_ms)")" "$(json_get "$out" strategy)")
    ONCE_JSON=$out
}
four_conntrack_once() {
    local t0 t1 before after
    refill "$SPEC"
    before=$(ct_count)
    t0=$(now)
    run_unit_ip "$OS_IP"
    t1=$(now)
    after=$(ct_count)
    ONCE_DEL=$((before - after))
    [ "$ONCE_DEL" = "$K" ] || fail "OS conntrack -D x4 deleted $ONCE_DEL, expected $K"
    ONCE_SEC=$(fsub "$t1" "$t0")
    ONCE_NOTE="-s, -d, --reply-src, --reply-dst"
}
if [[ ",$SCENARIOS," == *",OS,"* ]]; then
    SCN=OS
    SPEC=$T_SMALL
    SCN_ORDER+=("OS")
    OS_IP=$("$CTFILL" --gen "$SPEC" --print-locals 0 | grep -v : | head -1)
    K=$("$CTFILL" -q --gen "$SPEC" --local "$OS_IP" --peers any --print-matching)
    SCN_K[OS]=$K
    SCN_SPEC[OS]=$SPEC
    SCN_LOCALS[OS]="$OS_IP (local 0's IPv4 address)"
    SCN_PEERS[OS]=any
    echo "== OS: table $(table_total "$SPEC"), --oneshot for $OS_IP, peers any: K = $K"
    if [ ! -s "$PROBE_CACHE" ]; then
        # Proves the kernel and keeps the findings; not a timed run.
        ONCE_NOTE=
        oneshot_wall_once && OS_NOTE=$(printf 'the first run, which probed the kernel: %.3f s' "$ONCE_SEC")
    fi
    echo "   ctflushd --oneshot, whole process"
    repeat_method "ctflushd --oneshot (process)" oneshot_wall_once && OS_SEC=$MEDIAN_SEC
    echo "   conntrack -D x4 for the address"
    repeat_method "conntrack -D x4 (one IP)" four_conntrack_once && OS_B2_SEC=$MEDIAN_SEC
    [ -z "$OS_NOTE" ] || echo "   ($OS_NOTE)"
    empty_table
fi

# Z, ST: the daemon, through OVSDB (bench/daemon.py). Each world has its own
# namespace and ovsdb-server.
declare -A DAEMON_JSON
for d in Z:zones ST:storm; do
    SCN=${d%%:*}
    name=${d#*:}
    [[ ",$SCENARIOS," == *",$SCN,"* ]] || continue
    SCN_ORDER+=("$SCN")
    echo "== $SCN: the daemon, $name (bench/daemon.py)"
    wait_quiet
    out=$(python3 "$SRCDIR/bench/daemon.py" "$BUILD" "$name" $([ $QUICK = 1 ] && echo --quick) \
          2> >(sed 's/^/   /' >&2))
    rc=$?
    if [ $rc = 0 ] || [ $rc = 3 ]; then
        DAEMON_JSON[$SCN]=$out
        echo "$out" > "$WORK/$SCN.daemon.json"
    else
        fail "$SCN: bench/daemon.py $name exited $rc"
    fi
done
TOTAL_SEC=$(fsub "$(now)" "$T_START")

# ---------------------------------------------------------------------------
# Report.

echo
printf '%-4s %-34s %11s %9s %9s  %s\n' scen method seconds deleted "x ctflushd" note
printf '%s\n' "$(printf '%.0s-' $(seq 1 100))"
while IFS=$'\t' read -r scn method sec del exp mode units note json; do
    undash sec del exp units note
    ref=${TARGET_CTF[$scn]:-}
    ratio=-
    if [ -n "$sec" ] && [ -n "$ref" ]; then
        ratio=$(awk -v s="$sec" -v r="$ref" 'BEGIN { if (r > 0) printf "%.2fx", s / r; else print "-" }')
    fi
    shown=$([ -n "$sec" ] && printf '%.3f' "$sec" || echo "n/a")
    [ "$mode" = extrapolated ] && shown="~$shown"
    [ "$mode" = extrapolated ] && del="$del*"
    printf '%-4s %-34s %11s %9s %9s  %s\n' "$scn" "$method" "$shown" "$del" "$ratio" "$note"
done < "$RESULTS"
echo "~ extrapolated from a timed sample; * entries deleted by the sample only (checked against ctfill)"
echo "x ctflushd: method seconds / ctflushd (auto) seconds; ctflushd seconds = its engine's elapsed_ms"

echo
echo "ctflushd against the per-entry agent, the limit and the floors:"
for s in "${SCN_ORDER[@]}"; do
    [[ $s == S* ]] && [ "$s" != ST ] || continue
    awk -v n="$s" -v c="${TARGET_CTF[$s]:-}" -v b3="${TARGET_B3[$s]:-}" -v b4="${TARGET_B4[$s]:-}" \
        -v b5="${TARGET_B5[$s]:-}" -v b6="${TARGET_B6[$s]:-}" '
        function r(x, y) { return (x == "" || y == "" || y + 0 == 0) ? "n/a" : sprintf("%.3fx", x / y) }
        BEGIN { printf "  %s: ctflushd %s s = %s dump+per-entry, %s limit, %s raw dump, %s one walk\n", n,
                       (c == "" ? "n/a" : sprintf("%.3f", c)), r(c, b3), r(c, b4), r(c, b5), r(c, b6) }'
done

# Targets: ctflushd time over the baseline's, or absolute seconds. Each is
# also turned into seconds (its limit times the baseline) and shown beside
# the floors of its scenario: below one kernel walk (b6) it is out of reach
# of anything that must find the entries in the table; below the raw dump
# (b5) it can be met only by kernel filters or by dumps that run faster in
# parallel than one does alone.
TARGETS=$WORK/targets.tsv
: > "$TARGETS"
target() {  # name scn kind(ratio-b3|ratio-b4|ratio-b5|abs) limit
    local name=$1 scn=$2 kind=$3 limit=$4 ctf=${TARGET_CTF[$2]:-} base val verdict secs
    [[ " ${SCN_ORDER[*]} " == *" $scn "* ]] || return 0
    case $kind in
    ratio-b3) base=${TARGET_B3[$scn]:-} ;;
    ratio-b4) base=${TARGET_B4[$scn]:-} ;;
    ratio-b5) base=${TARGET_B5[$scn]:-} ;;
    abs) base=1 ;;
    esac
    if [ -z "$ctf" ] || [ -z "$base" ]; then
        val=
        verdict=FAIL
    else
        val=$(awk -v c="$ctf" -v b="$base" 'BEGIN { printf "%.4f", (b > 0 ? c / b : 1e9) }')
        verdict=$(awk -v v="$val" -v l="$limit" 'BEGIN { print (v <= l ? "PASS" : "FAIL") }')
    fi
    secs=$([ -n "$base" ] && awk -v b="$base" -v l="$limit" 'BEGIN { printf "%.4f", b * l }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${val:-null}" "$limit" "$verdict" \
        "${secs:-null}" "${TARGET_B5[$scn]:-null}" "${TARGET_B6[$scn]:-null}" >> "$TARGETS"
}
target "S2 ctflushd <= 0.33x dump+per-entry" S2 ratio-b3 0.33
target "S2 ctflushd <= 4x limit" S2 ratio-b4 4
target "S1 ctflushd <= 0.5x dump+per-entry" S1 ratio-b3 0.5
target "S4 ctflushd <= 1.5 s" S4 abs 1.5
target "S2 ctflushd <= 1.1x raw dump" S2 ratio-b5 1.1
target "S4 ctflushd <= 1.1x raw dump" S4 ratio-b5 1.1
# A target measured elsewhere: name value limit (value null: not measured).
target_given() {
    local verdict=FAIL
    [ "$2" != null ] && verdict=$(awk -v v="$2" -v l="$3" 'BEGIN { print (v <= l ? "PASS" : "FAIL") }')
    printf '%s\t%s\t%s\t%s\tnull\tnull\tnull\n' "$1" "$2" "$3" "$verdict" >> "$TARGETS"
}
if [[ " ${SCN_ORDER[*]} " == *" OS "* ]]; then
    target_given "OS --oneshot process <= 0.5x four conntrack -D" \
        "$(awk -v a="${OS_SEC:-}" -v b="${OS_B2_SEC:-}" \
              'BEGIN { if (a == "" || b == "" || b <= 0) print "null"; else printf "%.4f", a / b }')" 0.5
fi
for s in Z ST; do
    [ -n "${DAEMON_JSON[$s]:-}" ] || continue
    python3 -c '
import json, sys
for t in json.loads(sys.argv[1])["targets"]:
    print("%s\t%s\t%s\t%s\tnull\tnull\tnull" % (t["name"], t["value"], t["limit"],
                                                  "PASS" if t["pass"] else "FAIL"))
' "${DAEMON_JSON[$s]}" >> "$TARGETS"
done

echo
echo "targets$([ $QUICK = 1 ] && echo ' (quick run: informational only)'):"
TARGET_FAILS=0
while IFS=$'\t' read -r name val limit verdict secs b5 b6; do
    printf '  %-4s %-48s %-20s %s\n' "$verdict" "$name" "(measured $val)" \
        "$(awk -v t="$secs" -v d="$b5" -v w="$b6" -v l="$limit" 'BEGIN {
            if (t == "null") { printf "limit %s", l; exit }
            printf "= %.3f s; raw dump %s, one walk %s%s", t,
                   (d == "null" ? "n/a" : sprintf("%.3f s", d)), (w == "null" ? "n/a" : sprintf("%.3f s", w)),
                   (w != "null" && t < w ? ": BELOW ONE WALK" : d != "null" && t < d ? ": below the raw dump" : "") }')"
    [ "$verdict" = PASS ] || TARGET_FAILS=$((TARGET_FAILS + 1))
done < "$TARGETS"
if [ -n "${OS_SEC:-}" ]; then
    printf 'OS: the --oneshot process %.3f s, four conntrack -D %.3f s%s\n' "$OS_SEC" \
        "${OS_B2_SEC:-0}" "${OS_NOTE:+; $OS_NOTE}"
fi
for s in Z ST; do
    [ -n "${DAEMON_JSON[$s]:-}" ] || continue
    python3 -c '
import json, sys
d = json.loads(sys.argv[2])
extra = ", storm %.3f s" % d["storm_s"] if "storm_s" in d else ""
print("%s: W %.3f s (the daemon'"'"'s pass over %d entries), clean %.3f s%s, %d jobs, %.2f passes"
      % (sys.argv[1], d["W_s"], d["table"], d["clean_s"], extra, d["jobs"], d["passes"]))
' "$s" "${DAEMON_JSON[$s]}"
done
echo "raw dump (b5): the kernel serialising the whole table once; one walk (b6): the"
echo "kernel visiting every entry and sending none, the least a method that finds"
echo "entries in the table can take"
echo
echo "counts: $([ $FAILURES = 0 ] && echo "every method deleted exactly the expected entries" || echo "$FAILURES FAILURE(S)")"
printf 'total run time: %.1f s\n' "$TOTAL_SEC"

# ---------------------------------------------------------------------------
# Machine-readable results.

jstr() { printf '"%s"' "$(sed 's/\\/\\\\/g; s/"/\\"/g' <<<"$1")"; }
jnum() { [ -n "$1" ] && echo "$1" || echo null; }
mkdir -p "$(dirname "$OUT")" || die "cannot create $(dirname "$OUT")"
{
    echo "{"
    echo "  \"version\": 1,"
    echo "  \"date\": $(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),"
    echo "  \"quick\": $([ $QUICK = 1 ] && echo true || echo false),"
    echo "  \"budget_s\": $BUDGET,"
    echo "  \"repeat\": $REPEAT,"
    echo "  \"machine\": {\"nproc\": $NPROC, \"cpu\": $(jstr "$CPU"), \"kernel\": $(jstr "$KERNEL"),"
    echo "              \"conntrack\": $(jstr "$CT_VERSION"), \"nf_conntrack_buckets\": $(jstr "$BUCKETS")},"
    echo "  \"tables\": {\"small\": $(jstr "$T_SMALL"), \"large\": $(jstr "$T_LARGE")},"
    echo "  \"scenarios\": ["
    sep=
    for s in "${SCN_ORDER[@]}"; do
        if [ -n "${DAEMON_JSON[$s]:-}" ]; then
            printf '%s    {"name": "%s", "daemon": %s}' "$sep" "$s" "${DAEMON_JSON[$s]}"
        elif [ -n "${SCN_SPEC[$s]:-}" ]; then
            printf '%s    {"name": "%s", "table": %s, "table_size": %s, "locals": %s, "peers": %s, "expected": %s}' \
                "$sep" "$s" "$(jstr "${SCN_SPEC[$s]}")" "$(table_total "${SCN_SPEC[$s]}")" \
                "$(jstr "${SCN_LOCALS[$s]}")" "$(jstr "${SCN_PEERS[$s]}")" "${SCN_K[$s]}"
        else
            continue
        fi
        sep=$',\n'
    done
    printf '\n  ],\n  "results": [\n'
    sep=
    while IFS=$'\t' read -r scn method sec del exp mode units note json; do
        undash sec del exp units note
        printf '%s    {"scenario": "%s", "method": %s, "seconds": %s, "deleted": %s, "expected": %s, "mode": "%s", "units": %s, "note": %s, "raw": %s}' \
            "$sep" "$scn" "$(jstr "$method")" "$(jnum "$sec")" "$(jnum "$del")" "$(jnum "$exp")" \
            "$mode" "$(jstr "$units")" "$(jstr "$note")" "${json:-null}"
        sep=$',\n'
    done < "$RESULTS"
    printf '\n  ],\n  "targets": [\n'
    sep=
    while IFS=$'\t' read -r name val limit verdict secs b5 b6; do
        printf '%s    {"name": %s, "value": %s, "limit": %s, "pass": %s, "target_s": %s, "raw_dump_s": %s, "one_walk_s": %s}' \
            "$sep" "$(jstr "$name")" "$val" "$limit" "$([ "$verdict" = PASS ] && echo true || echo false)" \
            "$secs" "$b5" "$b6"
        sep=$',\n'
    done < "$TARGETS"
    printf '\n  ],\n'
    echo "  \"count_failures\": $FAILURES,"
    echo "  \"total_s\": $TOTAL_SEC"
    echo "}"
} > "$OUT"
echo "results: $OUT"

if [ $FAILURES != 0 ]; then
    exit 1
elif [ $TARGET_FAILS != 0 ] && [ $QUICK = 0 ]; then
    exit 3
fi
exit 0
