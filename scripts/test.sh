#!/bin/bash
# Sets up the dependencies, builds ctflushd and runs every test: unit tests,
# then the netns integration tests (real kernel conntrack table, real
# ovsdb-server), once in a normal build and once under ASan+UBSan (with a
# Release build in between, for the warnings only -O3 finds), then the
# test binaries under valgrind memcheck, then the daemon's integration tests
# with the daemon under valgrind memcheck, then each libFuzzer target for a
# bounded time (scripts/fuzz.sh). Run as root on Debian 12.
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
    ctest --test-dir "$dir" --output-on-failure --no-tests=error | tee "$dir/ctest.log"
    # A netns test skips (exit 77) when it lacks root or kernel features. CI
    # is root on a known kernel: a skip there means a test did not run.
    if [[ -n ${CI:-} ]] && grep -q "Skipped" "$dir/ctest.log"; then
        echo "CI: tests were skipped; every test must run in CI" >&2
        return 1
    fi
}

echo "== build and test (RelWithDebInfo)"
run_suite "$top/build"
((quick)) && exit 0

echo "== build (Release)"
# -O3 sees warnings -O2 does not (maybe-uninitialized), and -Werror makes
# them a broken build for whoever packages with it.
cmake -S "$top" -B "$top/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$top/build-release" -j"$(nproc)" >/dev/null

echo "== build and test under AddressSanitizer + UBSan"
# Sanitized binaries are several times slower: the integration tests'
# deadlines stretch by CTFD_TIME_SCALE (what they check does not change).
CTFD_TIME_SCALE=4 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$top/build-asan" -DCTF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

echo "== unit and engine tests under valgrind memcheck"
# The test binaries themselves, then the two shell-script tests with the
# program they drive under valgrind (CTF_TEST_WRAPPER): ctflushd --oneshot,
# and the OVSDB watcher through watcher_dump.
fail=0
for t in "$top"/build/tests/unit/test_* "$top"/build/tests/netns/test_*; do
    [[ -x $t && -f $t ]] || continue
    log=$top/build/valgrind-$(basename "$t").log
    if ! valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 --log-file="$log" "$t" >/dev/null 2>&1; then
        echo "valgrind: $(basename "$t") failed or reported errors:" >&2
        cat "$log" >&2
        fail=1
    else
        echo "valgrind: $(basename "$t") clean"
    fi
done
vg_wrap="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect"
vg_wrap+=" --error-exitcode=99"
vg_script() {   # vg_script SCRIPT ARG
    local log=$top/build/valgrind-$(basename "$1" .sh).log
    if ! CTF_TEST_WRAPPER=$vg_wrap bash "$1" "$2" >"$log" 2>&1; then
        echo "valgrind: $(basename "$1") failed or reported errors:" >&2
        cat "$log" >&2
        fail=1
    else
        echo "valgrind: $(basename "$1") clean"
    fi
}
vg_script "$top/tests/netns/test_oneshot_cli.sh" "$top/build"
vg_script "$top/tests/ovsdb/test_watcher.sh" "$top/build/tests/ovsdb/watcher_dump"
((fail)) && exit 1

echo "== daemon under valgrind memcheck"
# The Python integration tests again, with ctflushd and every process it
# forks without exec (OVSDB watcher, worker, the worker's probe) under
# memcheck. Each World reads its valgrind logs when it closes and fails the
# scenario on any error or definite/indirect leak (tests/netns/ctfd_world.py).
# On SIGTERM the parent closes its children's channels and they exit on
# their own, so each process gets an exit-time leak check (a child that a
# scenario SIGKILLs has its errors checked, not its leaks).
# Left out: enobufs (CTFD_SKIP_BIG, a 1M-entry table), run by the suites above.
vg_daemon="valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect"
vg_daemon+=" --child-silent-after-fork=no"
for t in test_daemon test_ctl test_faults test_userdp test_metrics; do
    log=$top/build/valgrind-daemon-$t.log
    rc=0
    CTFD_DAEMON_WRAPPER=$vg_daemon CTFD_TIME_SCALE=10 CTFD_SKIP_BIG=1 \
        python3 "$top/tests/netns/$t.py" "$top/build" >"$log" 2>&1 || rc=$?
    if ((rc == 77)) && [[ -z ${CI:-} ]]; then
        echo "valgrind: $t skipped: $(tail -1 "$log")"
    elif ((rc)); then
        echo "valgrind: $t failed (exit $rc):" >&2
        cat "$log" >&2
        fail=1
    else
        echo "valgrind: $t clean"
    fi
done
((fail)) && exit 1

echo "== libFuzzer targets, ${FUZZ_SECONDS:-60} s each (docs/fuzzing.md)"
"$top/scripts/fuzz.sh"
echo "== all tests passed"
