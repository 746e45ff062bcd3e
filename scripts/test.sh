#!/bin/bash
# Sets up the dependencies, builds ctflushd and runs every test: unit tests,
# then the netns integration tests (real kernel conntrack table, real
# ovsdb-server), once in a normal build and once under ASan+UBSan, then the
# unit tests under valgrind memcheck. Run as root on Debian 12.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    the normal build only
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0
[[ ${1:-} == --quick ]] && quick=1

"$top/scripts/setup-deps.sh"

# Large test tables need room; restored on exit.
max_file=/proc/sys/net/netfilter/nf_conntrack_max
old_max=$(cat "$max_file" 2>/dev/null || echo)
restore() { [[ -n $old_max ]] && echo "$old_max" >"$max_file" 2>/dev/null || true; }
trap restore EXIT
if [[ -n $old_max && $old_max -lt 2000000 ]]; then
    echo 2000000 >"$max_file" 2>/dev/null || true
fi

run_suite() {
    local dir=$1; shift
    cmake -S "$top" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)" >/dev/null
    ctest --test-dir "$dir" --output-on-failure --no-tests=error
}

echo "== build and test (RelWithDebInfo)"
run_suite "$top/build"
((quick)) && exit 0

echo "== build and test under AddressSanitizer + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$top/build-asan" -DCTF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

echo "== unit and engine tests under valgrind memcheck"
ctest --test-dir "$top/build" --output-on-failure -L unit \
    --overwrite MemoryCheckCommand=/usr/bin/valgrind \
    --overwrite "MemoryCheckCommandOptions=--leak-check=full --error-exitcode=1 --errors-for-leak-kinds=definite" \
    -T memcheck >/dev/null || {
    echo "valgrind found errors:" >&2
    cat "$top"/build/Testing/Temporary/MemoryChecker.*.log >&2 2>/dev/null || true
    exit 1
}
# ctest -T memcheck does not fail on defects by itself: check the logs.
if grep -l "ERROR SUMMARY: [1-9]\|definitely lost: [1-9]" "$top"/build/Testing/Temporary/MemoryChecker.*.log 2>/dev/null; then
    echo "valgrind reported errors or leaks" >&2
    exit 1
fi
echo "== all tests passed"
