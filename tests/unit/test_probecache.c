/*
 * test_probecache.c: unit tests for probecache.c: the file's format (round
 * trip, every way of breaking it, another key), and the checks on the file
 * itself (owner and mode of it and its directory, type, size, symlinks).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "planner.h"
#include "probecache.h"

static struct probe_cache_key
key_fixed(void)
{
    struct probe_cache_key k;

    memset(&k, 0, sizeof k);
    snprintf(k.boot_id, sizeof k.boot_id, "0d1b5e2c-4e6f-4a7b-9c8d-123456789abc");
    snprintf(k.kernel, sizeof k.kernel, "6.18.44 #1 SMP PREEMPT_DYNAMIC Debian 6.18.44-1");
    snprintf(k.version, sizeof k.version, "0.1.0");
    return k;
}

/* Findings as a 6.18 probe makes them: no IPv6 filters. */
static struct ct_caps
caps_618(void)
{
    struct ct_caps c;

    ct_caps_init_unproven(&c, "probed");
    c.probed = true;
    c.zone_flush = c.zone_flush_default = true;
    c.filtered_flush = c.filtered_flush_zone = c.filtered_flush_zone_default = true;
    c.filtered_dump = true;
    c.dump_zone_filter = true;
    c.filtered_flush_proto = c.filtered_dump_proto = true;
    c.dump_proto_filter = c.dump_proto_filter_v6 = true;
    c.dump_fixed_ms = 12.25;
    c.dump_ns_per_entry = 2213.000000001;
    c.dump_piped_ratio = 0.84;
    c.walk_fixed_ms = 45.5;
    c.walk_ns_per_entry = 250.125;
    c.fdump_fixed_ms = 47;
    c.fdump_ns_per_entry = 0.1;
    return c;
}

static void
assert_caps_equal(const struct ct_caps *a, const struct ct_caps *b)
{
    assert_int_equal(a->probed, b->probed);
    assert_int_equal(a->zone_flush, b->zone_flush);
    assert_int_equal(a->zone_flush_default, b->zone_flush_default);
    assert_int_equal(a->filtered_flush, b->filtered_flush);
    assert_int_equal(a->filtered_flush_v6, b->filtered_flush_v6);
    assert_int_equal(a->filtered_flush_zone, b->filtered_flush_zone);
    assert_int_equal(a->filtered_flush_zone_default, b->filtered_flush_zone_default);
    assert_int_equal(a->dump_zone_filter, b->dump_zone_filter);
    assert_int_equal(a->filtered_dump, b->filtered_dump);
    assert_int_equal(a->filtered_dump_v6, b->filtered_dump_v6);
    assert_int_equal(a->filtered_flush_proto, b->filtered_flush_proto);
    assert_int_equal(a->filtered_flush_proto_v6, b->filtered_flush_proto_v6);
    assert_int_equal(a->filtered_dump_proto, b->filtered_dump_proto);
    assert_int_equal(a->filtered_dump_proto_v6, b->filtered_dump_proto_v6);
    assert_int_equal(a->dump_proto_filter, b->dump_proto_filter);
    assert_int_equal(a->dump_proto_filter_v6, b->dump_proto_filter_v6);
    /* %.17g gives every double back exactly. */
    assert_true(a->dump_fixed_ms == b->dump_fixed_ms);
    assert_true(a->dump_ns_per_entry == b->dump_ns_per_entry);
    assert_true(a->dump_piped_ratio == b->dump_piped_ratio);
    assert_true(a->walk_fixed_ms == b->walk_fixed_ms);
    assert_true(a->walk_ns_per_entry == b->walk_ns_per_entry);
    assert_true(a->fdump_fixed_ms == b->fdump_fixed_ms);
    assert_true(a->fdump_ns_per_entry == b->fdump_ns_per_entry);
}

static void
test_round_trip(void **state)
{
    struct probe_cache_key k = key_fixed();
    struct ct_caps in = caps_618(), out, fresh;
    char buf[PROBE_CACHE_MAX], why[160];
    size_t n = probe_cache_format(buf, sizeof buf, &k, &in, 1733000000);

    assert_true(n > 0 && n < sizeof buf);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), 0);
    assert_caps_equal(&in, &out);
    assert_non_null(strstr(out.note, "kept for this boot"));
    /* The thread count is this host's now, not the file's. */
    ct_caps_init_unproven(&fresh, NULL);
    assert_int_equal(out.dump_threads, fresh.dump_threads);
    /* Everything proven, and nothing: both round-trip. */
    struct ct_caps all = in;
    all.filtered_flush_v6 = all.filtered_dump_v6 = true;
    all.filtered_flush_proto_v6 = all.filtered_dump_proto_v6 = true;
    n = probe_cache_format(buf, sizeof buf, &k, &all, 0);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), 0);
    assert_caps_equal(&all, &out);
    struct ct_caps none;
    ct_caps_init_unproven(&none, NULL);
    none.probed = true;
    n = probe_cache_format(buf, sizeof buf, &k, &none, 0);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), 0);
    assert_caps_equal(&none, &out);
    /* Too small a buffer. */
    assert_int_equal(probe_cache_format(buf, 40, &k, &in, 0), 0);
    assert_int_equal(probe_cache_format(buf, 0, &k, &in, 0), 0);
}

/* Another boot, kernel, build or version: ESTALE, the probe runs again. */
static void
test_other_key(void **state)
{
    struct probe_cache_key k = key_fixed();
    struct ct_caps c = caps_618(), out;
    char buf[PROBE_CACHE_MAX], why[160];
    size_t n = probe_cache_format(buf, sizeof buf, &k, &c, 1);

    struct probe_cache_key other = k;
    other.boot_id[0] = '1';
    assert_int_equal(probe_cache_parse(buf, n, &other, &out, why, sizeof why), ESTALE);
    assert_non_null(strstr(why, "boot"));
    other = k;
    snprintf(other.kernel, sizeof other.kernel, "6.18.44 #2 SMP PREEMPT_DYNAMIC Debian 6.18.44-1");
    assert_int_equal(probe_cache_parse(buf, n, &other, &out, why, sizeof why), ESTALE);
    assert_non_null(strstr(why, "kernel"));
    other = k;
    snprintf(other.version, sizeof other.version, "0.1.1");
    assert_int_equal(probe_cache_parse(buf, n, &other, &out, why, sizeof why), ESTALE);
    /* A format this build does not write. */
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    nl[-1] = '2';
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), ESTALE);
}

/* Any change to the text is refused: every byte flipped, every cut. */
static void
test_corrupt(void **state)
{
    struct probe_cache_key k = key_fixed();
    struct ct_caps c = caps_618(), out;
    char buf[PROBE_CACHE_MAX], copy[PROBE_CACHE_MAX], why[160];
    size_t n = probe_cache_format(buf, sizeof buf, &k, &c, 1733000000);

    for (size_t len = 0; len < n; len++) {
        if (probe_cache_parse(buf, len, &k, &out, why, sizeof why) == 0) {
            fail_msg("cut to %zu of %zu bytes: accepted", len, n);
        }
    }
    static const char vals[] = { '0', '1', 'x', ' ', '\n', '\0', '-', 'y', 'n', '9' };
    for (size_t i = 0; i < n; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            if (buf[i] == vals[v]) {
                continue;
            }
            memcpy(copy, buf, n);
            copy[i] = vals[v];
            if (probe_cache_parse(copy, n, &k, &out, why, sizeof why) == 0) {
                fail_msg("byte %zu set to 0x%02x: accepted", i, (unsigned char) vals[v]);
            }
        }
    }
    /* A byte after the checksum. */
    memcpy(copy, buf, n);
    copy[n] = '\n';
    assert_int_not_equal(probe_cache_parse(copy, n + 1, &k, &out, why, sizeof why), 0);
    /* Over the size bound. */
    assert_int_not_equal(probe_cache_parse(buf, PROBE_CACHE_MAX + 1, &k, &out, why, sizeof why),
                         0);
}

/* Lines in the right order with a right checksum, but values the probe
 * never produces: refused. */
static void
test_implausible(void **state)
{
    struct probe_cache_key k = key_fixed();
    char buf[PROBE_CACHE_MAX], why[160];
    struct ct_caps out;

    struct ct_caps c = caps_618();
    c.filtered_flush = false;              /* ...but its zone variants proven. */
    size_t n = probe_cache_format(buf, sizeof buf, &k, &c, 1);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), EINVAL);
    c = caps_618();
    c.filtered_dump_proto_v6 = true;        /* Without filtered_dump_v6. */
    n = probe_cache_format(buf, sizeof buf, &k, &c, 1);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), EINVAL);
    c = caps_618();
    c.zone_flush = false;
    n = probe_cache_format(buf, sizeof buf, &k, &c, 1);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), EINVAL);
    c = caps_618();
    c.dump_piped_ratio = 9;
    n = probe_cache_format(buf, sizeof buf, &k, &c, 1);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), EINVAL);
    c = caps_618();
    c.walk_ns_per_entry = -1;
    n = probe_cache_format(buf, sizeof buf, &k, &c, 1);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), EINVAL);
    c = caps_618();
    c.dump_fixed_ms = 1e300;
    n = probe_cache_format(buf, sizeof buf, &k, &c, 1);
    assert_int_equal(probe_cache_parse(buf, n, &k, &out, why, sizeof why), EINVAL);
}

static char dir[64];
static char path[128];

static int
setup_dir(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/ctf-probecache.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/probe.cache", dir);
    return 0;
}

static int
teardown_dir(void **state)
{
    char cmd[160];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
test_store_load(void **state)
{
    struct probe_cache_key k = key_fixed();
    struct ct_caps c = caps_618(), out;
    char why[160];
    struct stat st;

    assert_int_equal(probe_cache_load(path, &k, &out, why, sizeof why), ENOENT);
    assert_int_equal(probe_cache_store(path, &k, &c), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(probe_cache_load(path, &k, &out, why, sizeof why), 0);
    assert_caps_equal(&c, &out);
    /* Stored again over it: still one good file, no temporary left. */
    c.walk_fixed_ms = 1;
    assert_int_equal(probe_cache_store(path, &k, &c), 0);
    assert_int_equal(probe_cache_load(path, &k, &out, why, sizeof why), 0);
    assert_true(out.walk_fixed_ms == 1);
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long) getpid());
    assert_int_equal(access(tmp, F_OK), -1);

    /* Writable by others: not trusted, whatever it says. */
    assert_int_equal(chmod(path, 0622), 0);
    assert_int_equal(probe_cache_load(path, &k, &out, why, sizeof why), EPERM);
    assert_int_equal(chmod(path, 0660), 0);
    assert_int_equal(probe_cache_load(path, &k, &out, why, sizeof why), EPERM);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(probe_cache_load(path, &k, &out, why, sizeof why), 0);
    /* Nor in a directory others can write. */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(probe_cache_load(path, &k, &out, why, sizeof why), EPERM);
    assert_int_equal(chmod(dir, 0700), 0);

    /* A symlink to a good file is refused (O_NOFOLLOW). */
    char link[200];
    snprintf(link, sizeof link, "%s/link.cache", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(probe_cache_load(link, &k, &out, why, sizeof why), EPERM);
    /* Not a regular file. */
    char fifo[200];
    snprintf(fifo, sizeof fifo, "%s/fifo.cache", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(probe_cache_load(fifo, &k, &out, why, sizeof why), EINVAL);
    /* Too big. */
    char big[200];
    snprintf(big, sizeof big, "%s/big.cache", dir);
    int fd = open(big, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, PROBE_CACHE_MAX + 1), 0);
    close(fd);
    assert_int_equal(probe_cache_load(big, &k, &out, why, sizeof why), EFBIG);
    /* Garbage. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello\n", 6), 6);
    close(fd);
    assert_int_equal(probe_cache_load(path, &k, &out, why, sizeof why), EINVAL);
    /* Another boot's. */
    assert_int_equal(probe_cache_store(path, &k, &c), 0);
    struct probe_cache_key other = k;
    other.boot_id[1] = 'X';
    assert_int_equal(probe_cache_load(path, &other, &out, why, sizeof why), ESTALE);

    /* The directory's last part is made when missing. */
    char deep[200];
    snprintf(deep, sizeof deep, "%s/sub/probe.cache", dir);
    assert_int_equal(probe_cache_store(deep, &k, &c), 0);
    assert_int_equal(probe_cache_load(deep, &k, &out, why, sizeof why), 0);
    char sub[200];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

static void
test_key_now(void **state)
{
    struct probe_cache_key a, b;

    assert_int_equal(probe_cache_key_now(&a), 0);
    assert_int_equal(probe_cache_key_now(&b), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(strlen(a.boot_id) >= 32);
    assert_non_null(strchr(a.kernel, ' '));
    assert_string_equal(a.version, CTF_VERSION);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_other_key),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_implausible),
        cmocka_unit_test_setup_teardown(test_store_load, setup_dir, teardown_dir),
        cmocka_unit_test(test_key_now),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
