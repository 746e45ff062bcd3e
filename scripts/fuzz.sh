#!/bin/bash
# Builds the libFuzzer targets of tests/fuzz (clang, -DCTF_FUZZ=ON, in a build
# directory of their own) and runs each one for a bounded time, starting from
# a temporary copy of its seed corpus. Fails (exit 1) on any crash, leak,
# timeout, out-of-memory, UBSan report or broken invariant; the inputs that
# did it are kept. Run as root on Debian 12 (it installs what it needs with
# apt-get); as another user it only checks that clang and libFuzzer are there.
# See docs/fuzzing.md.
#
#   scripts/fuzz.sh                    every target, 60 s each
#   scripts/fuzz.sh state ctmsg        only these
#   FUZZ_SECONDS=600 scripts/fuzz.sh   longer
#
# Environment:
#   FUZZ_SECONDS      time per target (default 60)
#   FUZZ_TIMEOUT      seconds one input may take before it counts as a hang (10)
#   FUZZ_BUILD_DIR    build directory (default build-fuzz in the source tree)
#   FUZZ_KEEP_CORPUS  1: keep each target's grown corpus in the results
#   CC                the clang to use (default clang)
#
# Results (logs, statistics, crash inputs) go to $FUZZ_BUILD_DIR/fuzz-results.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
build=${FUZZ_BUILD_DIR:-$top/build-fuzz}
results=$build/fuzz-results
cc=${CC:-clang}

all_targets=(json ctlproto addr extids state ctmsg probecache)
# Longest input per target: a little above the largest thing that parser
# meets in practice (a request line, an external_ids value, a dump message;
# the state file is bounded by time, not by this).
declare -A max_len=(
    [json]=4096 [ctlproto]=4096 [addr]=1024 [extids]=2048 [state]=16384 [ctmsg]=1024
    [probecache]=4200
)

die() {
    echo "fuzz: $*" >&2
    exit 2
}

[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SECONDS must be a positive integer"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "FUZZ_TIMEOUT must be a positive integer"

targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
    [[ -n ${max_len[$t]:-} ]] || die "unknown target '$t' (targets: ${all_targets[*]})"
done

grep -q 'CTF_FUZZ' "$top/CMakeLists.txt" ||
    die "the top-level CMakeLists.txt has no CTF_FUZZ option (see docs/fuzzing.md)"

# True if $cc can build and link a libFuzzer target with the sanitizers.
fuzzer_toolchain_ok() {
    local d rc=0
    d=$(mktemp -d)
    cat >"$d/t.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { (void) data; return size == 7; }
EOF
    "$cc" -fsanitize=fuzzer,address,undefined "$d/t.c" -o "$d/t" >/dev/null 2>&1 || rc=1
    rm -rf "$d"
    return $rc
}

# Dependencies: the project's own (configuring the tree needs them all),
# then clang and the libFuzzer runtime. On Debian 12 that runtime,
# libclang_rt.fuzzer-x86_64.a, is in libclang-rt-14-dev, which clang only
# recommends; libclang-rt-dev follows the default clang version.
if [[ $(id -u) -eq 0 ]]; then
    "$top/scripts/setup-deps.sh"
    if ! fuzzer_toolchain_ok; then
        echo "fuzz: installing clang and the libFuzzer runtime" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
    fi
fi
fuzzer_toolchain_ok ||
    die "$cc cannot build libFuzzer targets (as root: apt-get install clang libclang-rt-dev)"

# A build directory configured with another compiler cannot be switched.
if [[ -f $build/CMakeCache.txt ]] &&
        ! grep -q "^CMAKE_C_COMPILER:[A-Z]*=.*clang" "$build/CMakeCache.txt"; then
    echo "fuzz: $build was configured with another compiler; starting it afresh" >&2
    rm -rf "$build"
fi
cmake_args=(-DCTF_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
# The fuzz targets never link libopenvswitch; leave the watcher out entirely
# where the tree allows it.
if grep -q 'option(CTF_WITH_OVS' "$top/CMakeLists.txt"; then
    cmake_args+=(-DCTF_WITH_OVS=OFF)
fi
echo "== configure and build the fuzz targets in $build"
CC=$cc cmake -S "$top" -B "$build" "${cmake_args[@]}" >/dev/null
cmake --build "$build" --target ctf_fuzz -j"$(nproc)" >/dev/null

# One of libFuzzer's -print_final_stats=1 lines ("stat::NAME: VALUE").
final_stat() {
    sed -n "s/^stat::$2: *//p" "$1" | tail -1
}

rm -rf "$results"
mkdir -p "$results"
summary=$results/summary.txt
printf '%-9s %-6s %12s %9s %6s %6s %6s  %s\n' \
    target result execs exec/s cov ft corpus seconds | tee "$summary"

failed=()
for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$t
    work=$(mktemp -d "${TMPDIR:-/tmp}/ctf-fuzz-$t.XXXXXX")
    out=$results/$t
    mkdir -p "$out" "$work/artifacts"
    # The repository's seeds are never written to: libFuzzer adds what it
    # finds to the first corpus directory, which is this copy.
    cp -R "$top/tests/fuzz/corpus/$t" "$work/corpus"
    args=(
        -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout="$timeout"
        -rss_limit_mb=2560 -malloc_limit_mb=1024 -detect_leaks=1
        -print_final_stats=1 -artifact_prefix="$work/artifacts/"
    )
    if [[ -f $top/tests/fuzz/dict/$t.dict ]]; then
        args+=(-dict="$top/tests/fuzz/dict/$t.dict")
    fi

    rc=0
    ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$bin" "${args[@]}" "$work/corpus" >"$out/fuzz.log" 2>&1 || rc=$?

    # libFuzzer exits non-zero on a crash, leak, timeout or OOM; a report
    # in the log counts too, whatever the exit code.
    bad=0
    ((rc == 0)) || bad=1
    if grep -qE 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY: [A-Za-z]+Sanitizer|fuzz invariant failed' \
            "$out/fuzz.log"; then
        bad=1
    fi
    if compgen -G "$work/artifacts/*" >/dev/null; then
        cp "$work/artifacts/"* "$out/"
        bad=1
    fi

    last=$(grep -E '^#[0-9]+.*cov: ' "$out/fuzz.log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    result=ok
    ((bad)) && result=FAIL
    printf '%-9s %-6s %12s %9s %6s %6s %6s  %s\n' "$t" "$result" \
        "$(final_stat "$out/fuzz.log" number_of_executed_units)" \
        "$(final_stat "$out/fuzz.log" average_exec_per_sec)" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$seconds" | tee -a "$summary"

    if [[ ${FUZZ_KEEP_CORPUS:-0} == 1 ]]; then
        mv "$work/corpus" "$out/corpus"
    fi
    rm -rf "$work"
    if ((bad)); then
        failed+=("$t")
        echo "fuzz: $t: FAILED (exit $rc); log and inputs in $out:" >&2
        grep -E -m 20 'ERROR:|SUMMARY:|runtime error:|fuzz invariant failed|Test unit written' \
            "$out/fuzz.log" >&2 || true
        for a in "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/slow-unit-*; do
            [[ -e $a ]] && echo "fuzz:   reproduce: $bin $a" >&2
        done
    fi
done

if ((${#failed[@]})); then
    echo "fuzz: findings in: ${failed[*]} (see $results)" >&2
    exit 1
fi
echo "== fuzzing: no findings (${#targets[@]} targets, ${seconds} s each)"
