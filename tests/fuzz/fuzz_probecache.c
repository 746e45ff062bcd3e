/*
 * fuzz_probecache.c: the probe cache's parser (probecache.h), which reads a
 * file that decides which kernel-side flushes ctflushd trusts.
 *
 * The key is fixed (the one the seeds were written with), so mutations of a
 * good file reach the fields, the checks and the checksum, not only the key.
 *
 * Oracles beyond the sanitizers: an accepted file gives findings the probe
 * could make (every dependent flag with its base, costs finite, >= 0 and
 * bounded, the helper-thread ratio in range, probed set); they format to a
 * file that parses back to the same findings; and an accepted file parses
 * the same under any other key only if that key is equal (ESTALE else).
 */
#include <errno.h>
#include <math.h>

#include "fuzz.h"
#include "probecache.h"

static struct probe_cache_key
fuzz_key(void)
{
    struct probe_cache_key k;

    memset(&k, 0, sizeof k);
    snprintf(k.boot_id, sizeof k.boot_id, "0d1b5e2c-4e6f-4a7b-9c8d-123456789abc");
    snprintf(k.kernel, sizeof k.kernel, "6.18.44 #1 SMP PREEMPT_DYNAMIC Debian 6.18.44-1");
    snprintf(k.version, sizeof k.version, "0.1.0");
    return k;
}

static bool
fuzz_cost_ok(double d)
{
    return isfinite(d) && d >= 0 && d <= 3.6e6;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct probe_cache_key key = fuzz_key();
    struct ct_caps c, back;
    char why[64];
    char *copy = fuzz_xmalloc(size ? size : 1);

    memcpy(copy, data, size);
    int err = probe_cache_parse(copy, size, &key, &c, why, sizeof why);
    FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
    if (err) {
        FUZZ_CHECK(err == EINVAL || err == ESTALE);
        free(copy);
        return 0;
    }
    FUZZ_CHECK(c.probed);
    FUZZ_CHECK(!c.zone_flush_default || c.zone_flush);
    FUZZ_CHECK(!(c.filtered_flush_v6 || c.filtered_flush_zone || c.filtered_flush_zone_default
                 || c.filtered_flush_proto) || c.filtered_flush);
    FUZZ_CHECK(!c.filtered_flush_proto_v6 || (c.filtered_flush_v6 && c.filtered_flush_proto));
    FUZZ_CHECK(!(c.filtered_dump_v6 || c.filtered_dump_proto) || c.filtered_dump);
    FUZZ_CHECK(!c.filtered_dump_proto_v6 || (c.filtered_dump_v6 && c.filtered_dump_proto));
    FUZZ_CHECK(fuzz_cost_ok(c.dump_fixed_ms) && fuzz_cost_ok(c.dump_ns_per_entry));
    FUZZ_CHECK(fuzz_cost_ok(c.walk_fixed_ms) && fuzz_cost_ok(c.walk_ns_per_entry));
    FUZZ_CHECK(fuzz_cost_ok(c.fdump_fixed_ms) && fuzz_cost_ok(c.fdump_ns_per_entry));
    FUZZ_CHECK(c.dump_piped_ratio >= 0.1 && c.dump_piped_ratio <= 4);
    FUZZ_CHECK(c.dump_threads >= 1);

    /* Formatted again, it reads back the same. */
    char buf[PROBE_CACHE_MAX];
    size_t n = probe_cache_format(buf, sizeof buf, &key, &c, 1);
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(probe_cache_parse(buf, n, &key, &back, why, sizeof why) == 0);
    FUZZ_CHECK(back.zone_flush == c.zone_flush && back.filtered_flush == c.filtered_flush
               && back.filtered_flush_v6 == c.filtered_flush_v6
               && back.filtered_dump_v6 == c.filtered_dump_v6
               && back.dump_proto_filter_v6 == c.dump_proto_filter_v6);
    FUZZ_CHECK(back.dump_ns_per_entry == c.dump_ns_per_entry
               && back.walk_ns_per_entry == c.walk_ns_per_entry);

    /* Another boot's key never accepts it. */
    struct probe_cache_key other = key;
    other.boot_id[0] = 'x';
    FUZZ_CHECK(probe_cache_parse(copy, size, &other, &back, why, sizeof why) == ESTALE);
    free(copy);
    return 0;
}
