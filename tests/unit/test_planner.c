/*
 * test_planner.c: unit tests for planner.c (strategy names, filtered-walk
 * count, forced strategies, and the automatic choice).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "job.h"
#include "planner.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

/* n distinct hosts of one family, appended to l. */
static void
add_hosts(struct ctf_prefix_list *l, int family, size_t n, uint32_t base)
{
    for (size_t i = 0; i < n; i++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = family;
        p.plen = family == AF_INET ? 32 : 128;
        if (family == AF_INET) {
            p.addr.w[0] = htonl(base + (uint32_t) i);
        } else {
            p.addr.w[0] = htonl(0xfd000000u);
            p.addr.w[3] = htonl(base + (uint32_t) i);
        }
        assert_int_equal(ctf_prefix_list_add(l, &p), 0);
    }
}

static void
whole_zone_job(struct flush_job *job, uint16_t zone)
{
    job_make(job, "any", "any");
    job->has_zone = true;
    job->zone = zone;
}

/* Probed caps with everything proven and the given per-entry costs (fixed
 * costs 1 ms each). */
static struct ct_caps
caps_all(double dump_ns, double walk_ns)
{
    struct ct_caps c;

    ct_caps_init_unproven(&c, NULL);
    c.probed = true;
    c.zone_flush = c.zone_flush_default = true;
    c.filtered_flush = c.filtered_flush_v6 = true;
    c.filtered_flush_zone = c.filtered_flush_zone_default = true;
    c.dump_zone_filter = true;
    c.dump_ns_per_entry = dump_ns;
    c.walk_ns_per_entry = walk_ns;
    c.dump_fixed_ms = 1;
    c.walk_fixed_ms = 1;
    return c;
}

static void
expect_choice(const struct flush_job *job, const struct ct_caps *caps, uint64_t count,
              enum ct_strategy force, int want_err, enum ct_strategy want)
{
    struct ct_plan plan;
    int err;

    memset(&plan, 0x5a, sizeof plan);
    err = planner_choose(job, caps, count, force, &plan);
    if (err != want_err) {
        fail_msg("force %s: error %d, want %d (%s)", ct_strategy_name(force), err, want_err,
                 plan.reason);
    }
    /* There is always a reason, success or not. */
    assert_true(memchr(plan.reason, '\0', sizeof plan.reason) != NULL);
    assert_true(plan.reason[0] != '\0');
    if (!want_err && plan.strategy != want) {
        fail_msg("force %s: chose %s, want %s (%s)", ct_strategy_name(force),
                 ct_strategy_name(plan.strategy), ct_strategy_name(want), plan.reason);
    }
}

/* ---- Names. ---- */

static void
test_strategy_names(void **state)
{
    static const struct {
        const char *name;
        enum ct_strategy s;
    } known[] = {
        { "auto", CT_STRATEGY_AUTO },
        { "dump", CT_STRATEGY_DUMP },
        { "filtered-flush", CT_STRATEGY_FILTERED_FLUSH },
        { "zone-flush", CT_STRATEGY_ZONE_FLUSH },
        { "filtered-dump", CT_STRATEGY_FILTERED_DUMP },
    };
    enum ct_strategy s;

    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        s = (enum ct_strategy) 99;
        assert_int_equal(ct_strategy_parse(known[i].name, &s), 0);
        assert_int_equal(s, known[i].s);
        assert_string_equal(ct_strategy_name(known[i].s), known[i].name);
    }
    static const char *const bad[] = {
        "", "Dump", "AUTO", "zone_flush", "filtered", "dump ", " dump", "zone-flush-all", "?",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s = CT_STRATEGY_DUMP;
        assert_int_equal(ct_strategy_parse(bad[i], &s), EINVAL);
        assert_int_equal(s, CT_STRATEGY_DUMP);              /* Untouched. */
    }
    assert_int_equal(ct_strategy_parse("count", &s), EINVAL);
    assert_string_equal(ct_strategy_name(CT_STRATEGY_COUNT), "?");
    assert_string_equal(ct_strategy_name((enum ct_strategy) -1), "?");
}

static void
test_caps_unproven(void **state)
{
    struct ct_caps c;

    memset(&c, 0xff, sizeof c);
    ct_caps_init_unproven(&c, "no CAP_SYS_ADMIN");
    assert_false(c.probed);
    assert_false(c.zone_flush || c.zone_flush_default || c.filtered_flush
                 || c.filtered_flush_v6 || c.filtered_flush_zone || c.filtered_flush_zone_default
                 || c.dump_zone_filter);
    assert_true(c.dump_ns_per_entry > 0 && c.walk_ns_per_entry > 0);
    assert_true(c.dump_fixed_ms >= 0 && c.walk_fixed_ms >= 0);
    assert_string_equal(c.note, "no CAP_SYS_ADMIN");
    ct_caps_init_unproven(&c, NULL);
    assert_string_equal(c.note, "");
}

/* ---- Filtered-walk count. ---- */

static void
test_filtered_walks(void **state)
{
    struct flush_job job;

    job_make(&job, "10.0.0.1 10.0.0.2 fd00::1", "any");
    assert_int_equal(planner_filtered_walks(&job), 12);       /* 4 per local. */
    flush_job_destroy(&job);

    job_make(&job, "10.0.0.1", "any");
    assert_int_equal(planner_filtered_walks(&job), 4);
    flush_job_destroy(&job);

    /* 4 per same-family pair: 2 v4 x 2 v4 + 1 v6 x 3 v6 = 7 pairs. */
    job_make(&job, "10.0.0.1 10.0.0.2 fd00::1", "192.168.0.1 192.168.0.2 fd00:1::1 fd00:1::2 fd00:1::3");
    assert_int_equal(planner_filtered_walks(&job), 28);
    flush_job_destroy(&job);

    /* No same-family pair: nothing to walk. */
    job_make(&job, "10.0.0.1", "fd00::1");
    assert_int_equal(planner_filtered_walks(&job), 0);
    flush_job_destroy(&job);

    /* CIDRs on either side. */
    job_make(&job, "10.0.0.0/24", "any");
    assert_int_equal(planner_filtered_walks(&job), 0);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.1 10.0.0.0/31", "192.168.0.1");
    assert_int_equal(planner_filtered_walks(&job), 0);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.1", "192.168.0.1 192.168.0.0/24");
    assert_int_equal(planner_filtered_walks(&job), 0);
    flush_job_destroy(&job);
    job_make(&job, "fd00::1", "fd00:1::/64");
    assert_int_equal(planner_filtered_walks(&job), 0);
    flush_job_destroy(&job);

    /* Local any (with a zone or not). */
    whole_zone_job(&job, 5);
    assert_int_equal(planner_filtered_walks(&job), 0);
    flush_job_destroy(&job);

    /* A mark cannot be expressed by a filtered flush. */
    job_make(&job, "10.0.0.1", "any");
    job.has_mark = true;
    job.mark = 1;
    job.mark_mask = 1;
    assert_int_equal(planner_filtered_walks(&job), 0);
    flush_job_destroy(&job);

    /* A zone can. */
    job_make(&job, "10.0.0.1", "192.168.0.1");
    job.has_zone = true;
    job.zone = 9;
    assert_int_equal(planner_filtered_walks(&job), 4);
    flush_job_destroy(&job);
}

static void
test_filtered_walks_limit(void **state)
{
    struct flush_job job;

    /* 1024 locals x 4 = 4096 walks: the most allowed. */
    flush_job_init(&job);
    job.peers_any = true;
    add_hosts(&job.local, AF_INET, 1024, 0x0a000000u);
    assert_int_equal(planner_filtered_walks(&job), 4096);
    add_hosts(&job.local, AF_INET, 1, 0x0b000000u);
    assert_int_equal(planner_filtered_walks(&job), 0);        /* Too many. */
    flush_job_destroy(&job);

    /* 32 x 32 pairs = 1024 pairs = 4096 walks; 33 x 32 is too many. */
    flush_job_init(&job);
    add_hosts(&job.local, AF_INET, 32, 0x0a000000u);
    add_hosts(&job.peers, AF_INET, 32, 0xc0a80000u);
    assert_int_equal(planner_filtered_walks(&job), 4096);
    add_hosts(&job.local, AF_INET, 1, 0x0b000000u);
    assert_int_equal(planner_filtered_walks(&job), 0);
    /* Other-family peers do not count toward the pairs... */
    flush_job_destroy(&job);
    flush_job_init(&job);
    add_hosts(&job.local, AF_INET, 32, 0x0a000000u);
    add_hosts(&job.peers, AF_INET, 32, 0xc0a80000u);
    add_hosts(&job.peers, AF_INET6, 500, 1);
    assert_int_equal(planner_filtered_walks(&job), 4096);
    flush_job_destroy(&job);

    /* A huge pair count must not wrap around into a small one. */
    flush_job_init(&job);
    add_hosts(&job.local, AF_INET, 70000, 0x0a000000u);
    add_hosts(&job.peers, AF_INET, 70000, 0xc0000000u);
    assert_int_equal(planner_filtered_walks(&job), 0);
    flush_job_destroy(&job);
}

/* ---- Forced strategies. ---- */

static void
test_force_dump(void **state)
{
    struct flush_job job;
    struct ct_caps caps;
    struct ct_plan plan;

    ct_caps_init_unproven(&caps, "test");
    job_make(&job, "10.0.0.0/8", "any");
    job.has_mark = true;
    job.mark_mask = 1;
    assert_int_equal(planner_choose(&job, &caps, 1000000, CT_STRATEGY_DUMP, &plan), 0);
    assert_int_equal(plan.strategy, CT_STRATEGY_DUMP);
    assert_int_equal(plan.walks, 1);
    /* 1e6 entries x default dump cost + fixed part. */
    assert_true(fabs(plan.est_ms - (1e6 * caps.dump_ns_per_entry / 1e6 + caps.dump_fixed_ms))
                < 1e-6);
    flush_job_destroy(&job);
}

static void
test_force_zone_flush(void **state)
{
    struct flush_job job;
    struct ct_caps caps;
    struct ct_plan plan;

    /* Not a whole-zone job: EINVAL, whatever the kernel can do. */
    caps = caps_all(400, 1);
    job_make(&job, "10.0.0.1", "any");
    job.has_zone = true;
    job.zone = 5;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_ZONE_FLUSH, EINVAL, 0);
    flush_job_destroy(&job);
    whole_zone_job(&job, 5);
    job.has_mark = true;
    job.mark_mask = 0xff;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_ZONE_FLUSH, EINVAL, 0);
    flush_job_destroy(&job);

    /* Whole zone, unproven: ENOTSUP. */
    whole_zone_job(&job, 5);
    ct_caps_init_unproven(&caps, "test");
    expect_choice(&job, &caps, 1000, CT_STRATEGY_ZONE_FLUSH, ENOTSUP, 0);
    /* Proven only for zones other than 0. */
    caps.probed = true;
    caps.zone_flush = true;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_ZONE_FLUSH, 0, CT_STRATEGY_ZONE_FLUSH);
    job.zone = 0;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_ZONE_FLUSH, ENOTSUP, 0);
    caps.zone_flush_default = true;
    assert_int_equal(planner_choose(&job, &caps, 1000, CT_STRATEGY_ZONE_FLUSH, &plan), 0);
    assert_int_equal(plan.strategy, CT_STRATEGY_ZONE_FLUSH);
    assert_int_equal(plan.walks, 1);
    /* zone_flush_default alone (zone_flush unproven) is not enough. */
    caps.zone_flush = false;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_ZONE_FLUSH, ENOTSUP, 0);
    flush_job_destroy(&job);
}

static void
test_force_filtered_flush(void **state)
{
    struct flush_job job;
    struct ct_caps caps;
    struct ct_plan plan;

    /* Inexpressible jobs: EINVAL even on a kernel that can. */
    caps = caps_all(400, 1);
    job_make(&job, "10.0.0.0/24", "any");
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, EINVAL, 0);
    flush_job_destroy(&job);
    whole_zone_job(&job, 4);
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, EINVAL, 0);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.1", "any");
    job.has_mark = true;
    job.mark_mask = 1;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, EINVAL, 0);
    flush_job_destroy(&job);

    /* Expressible, unproven: ENOTSUP. */
    job_make(&job, "10.0.0.1 10.0.0.2", "192.168.0.1");
    ct_caps_init_unproven(&caps, "test");
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, ENOTSUP, 0);
    caps.probed = true;
    caps.filtered_flush = true;
    assert_int_equal(planner_choose(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, &plan), 0);
    assert_int_equal(plan.strategy, CT_STRATEGY_FILTERED_FLUSH);
    assert_int_equal(plan.walks, 8);
    assert_true(fabs(plan.est_ms - 8 * (1000 * caps.walk_ns_per_entry / 1e6 + caps.walk_fixed_ms))
                < 1e-6);

    /* In a zone other than 0: needs filtered_flush_zone. */
    job.has_zone = true;
    job.zone = 3;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, ENOTSUP, 0);
    caps.filtered_flush_zone_default = true;      /* The wrong one. */
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, ENOTSUP, 0);
    caps.filtered_flush_zone = true;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, 0, CT_STRATEGY_FILTERED_FLUSH);

    /* In zone 0: needs filtered_flush_zone_default. */
    job.zone = 0;
    caps.filtered_flush_zone_default = false;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, ENOTSUP, 0);
    caps.filtered_flush_zone_default = true;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, 0, CT_STRATEGY_FILTERED_FLUSH);

    /* The zone bits without filtered_flush itself are not enough. */
    caps.filtered_flush = false;
    expect_choice(&job, &caps, 1000, CT_STRATEGY_FILTERED_FLUSH, ENOTSUP, 0);
    flush_job_destroy(&job);
}

/* ---- Automatic choice. ---- */

static void
test_auto_unproven_is_dump(void **state)
{
    struct flush_job job;
    struct ct_caps caps;
    struct ct_plan plan;

    ct_caps_init_unproven(&caps, "test");
    /* Even with costs that would favour walks. */
    caps.walk_ns_per_entry = 0.001;
    caps.walk_fixed_ms = 0;

    whole_zone_job(&job, 5);
    expect_choice(&job, &caps, 1000000, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.1", "any");
    assert_int_equal(planner_choose(&job, &caps, 1000000, CT_STRATEGY_AUTO, &plan), 0);
    assert_int_equal(plan.strategy, CT_STRATEGY_DUMP);
    assert_int_equal(plan.walks, 1);
    assert_true(fabs(plan.est_ms - (1e6 * caps.dump_ns_per_entry / 1e6 + caps.dump_fixed_ms))
                < 1e-6);
    flush_job_destroy(&job);
}

static void
test_auto_zone_flush(void **state)
{
    struct flush_job job;
    struct ct_caps caps = caps_all(400, 100);
    struct ct_plan plan;

    whole_zone_job(&job, 5);
    assert_int_equal(planner_choose(&job, &caps, 100000, CT_STRATEGY_AUTO, &plan), 0);
    assert_int_equal(plan.strategy, CT_STRATEGY_ZONE_FLUSH);
    assert_int_equal(plan.walks, 1);
    assert_true(fabs(plan.est_ms - (100000 * 100 / 1e6 + 1)) < 1e-6);

    /* Zone 0: only when proven for zone 0. */
    job.zone = 0;
    caps.zone_flush_default = false;
    expect_choice(&job, &caps, 100000, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    caps.zone_flush_default = true;
    expect_choice(&job, &caps, 100000, CT_STRATEGY_AUTO, 0, CT_STRATEGY_ZONE_FLUSH);

    /* With a mark it is no longer a whole-zone job. */
    job.zone = 5;
    job.has_mark = true;
    job.mark_mask = 1;
    expect_choice(&job, &caps, 100000, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    flush_job_destroy(&job);

    /* Not a whole-zone job: never a zone flush, however cheap. */
    job_make(&job, "10.0.0.0/8", "any");
    job.has_zone = true;
    job.zone = 5;
    expect_choice(&job, &caps, 100000, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    flush_job_destroy(&job);
}

static void
test_auto_zone_flush_uncalibrated_walk(void **state)
{
    /* A kernel that proved zone flush but not filtered flush (6.8 - 6.11):
     * the probe only calibrates walk costs when filtered flush works, so
     * the walk cost is the unproven default. A whole-zone job must still
     * get the zone flush: one in-kernel walk, where the dump path has to
     * dump the table AND send one delete per entry of the zone (a cost
     * dump_ns_per_entry does not include). */
    struct flush_job job;
    struct ct_caps caps;

    ct_caps_init_unproven(&caps, NULL);
    caps.probed = true;
    caps.zone_flush = true;
    caps.dump_zone_filter = true;
    whole_zone_job(&job, 5);
    expect_choice(&job, &caps, 200000, CT_STRATEGY_AUTO, 0, CT_STRATEGY_ZONE_FLUSH);
    flush_job_destroy(&job);
}

static void
test_auto_filtered_flush_by_cost(void **state)
{
    struct flush_job job;
    struct ct_caps caps = caps_all(400, 50);
    struct ct_plan plan;
    const uint64_t count = 1000000;

    /* One local, peers any: 4 walks x (50 ms + 1 ms) = 204 ms < dump 401 ms. */
    job_make(&job, "10.0.0.1", "any");
    assert_int_equal(planner_choose(&job, &caps, count, CT_STRATEGY_AUTO, &plan), 0);
    assert_int_equal(plan.strategy, CT_STRATEGY_FILTERED_FLUSH);
    assert_int_equal(plan.walks, 4);
    assert_true(fabs(plan.est_ms - 204.0) < 1e-6);
    flush_job_destroy(&job);

    /* Two locals: 8 x 51 = 408 ms > 401 ms: dump. */
    job_make(&job, "10.0.0.1 10.0.0.2", "any");
    assert_int_equal(planner_choose(&job, &caps, count, CT_STRATEGY_AUTO, &plan), 0);
    assert_int_equal(plan.strategy, CT_STRATEGY_DUMP);
    assert_int_equal(plan.walks, 1);
    assert_true(fabs(plan.est_ms - 401.0) < 1e-6);
    flush_job_destroy(&job);

    /* Walks dearer per entry than a dump: dump even for a single walk set. */
    caps = caps_all(400, 500);
    job_make(&job, "10.0.0.1", "192.168.0.1");
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    /* ...but on a tiny table the fixed parts decide: 4 x 1 ms vs 1 ms. */
    expect_choice(&job, &caps, 0, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    caps.dump_fixed_ms = 10;
    expect_choice(&job, &caps, 0, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_FLUSH);
    flush_job_destroy(&job);

    /* Cheap walks but an inexpressible job: dump. */
    caps = caps_all(400, 1);
    job_make(&job, "10.0.0.0/24", "any");
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    flush_job_destroy(&job);

    /* Cheap walks, expressible, but not proven in this zone. */
    job_make(&job, "10.0.0.1", "any");
    job.has_zone = true;
    job.zone = 0;
    caps.filtered_flush_zone_default = false;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    caps.filtered_flush_zone_default = true;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_FLUSH);
    job.zone = 6;
    caps.filtered_flush_zone = false;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    caps.filtered_flush_zone = true;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_FLUSH);
    caps.filtered_flush = false;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    flush_job_destroy(&job);
}

static void
test_filtered_flush_v6_needs_its_own_proof(void **state)
{
    /* Some kernels delete NON-matching entries on a v6 filtered flush: a job
     * with a v6 local address may use it only when v6 was proven. */
    struct flush_job job;
    struct ct_caps caps = caps_all(400, 1);
    const uint64_t count = 1000000;

    caps.filtered_flush_v6 = false;
    job_make(&job, "fd00::1", "any");
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_FLUSH, ENOTSUP, 0);
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    caps.filtered_flush_v6 = true;
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_FLUSH, 0, CT_STRATEGY_FILTERED_FLUSH);
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_FLUSH);
    flush_job_destroy(&job);

    /* Mixed families: the v6 part needs the v6 proof too. */
    caps.filtered_flush_v6 = false;
    job_make(&job, "10.0.0.1 fd00::1", "192.168.0.1 fd00:1::1");
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_FLUSH, ENOTSUP, 0);
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    flush_job_destroy(&job);

    /* A v4-only job does not. */
    job_make(&job, "10.0.0.1", "any");
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_FLUSH, 0, CT_STRATEGY_FILTERED_FLUSH);
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_FLUSH);
    flush_job_destroy(&job);

    /* v6 proven, but not v4's base capability: nothing. */
    caps.filtered_flush_v6 = true;
    caps.filtered_flush = false;
    job_make(&job, "fd00::1", "any");
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_FLUSH, ENOTSUP, 0);
    flush_job_destroy(&job);
}

static void
test_filtered_dumps_count(void **state)
{
    struct flush_job job;
    bool on_peers = true;

    job_make(&job, "10.0.0.1", "any");
    assert_int_equal(planner_filtered_dumps(&job, &on_peers), 4);
    assert_false(on_peers);
    flush_job_destroy(&job);

    /* The side with fewer addresses. */
    job_make(&job, "10.0.0.1 10.0.0.2 10.0.0.3", "192.168.0.1");
    assert_int_equal(planner_filtered_dumps(&job, &on_peers), 4);
    assert_true(on_peers);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.1 fd00::1", "192.168.0.1 192.168.0.2 fd00:9::1");
    assert_int_equal(planner_filtered_dumps(&job, &on_peers), 8);
    assert_false(on_peers);
    flush_job_destroy(&job);

    /* A CIDR rules its side out, not the job. */
    job_make(&job, "10.0.0.0/24", "192.168.0.1 192.168.0.2");
    assert_int_equal(planner_filtered_dumps(&job, &on_peers), 8);
    assert_true(on_peers);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.0/24", "192.168.0.0/16");
    assert_int_equal(planner_filtered_dumps(&job, &on_peers), 0);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.0/24", "any");
    assert_int_equal(planner_filtered_dumps(&job, &on_peers), 0);
    flush_job_destroy(&job);

    /* Too many addresses on both sides. */
    flush_job_init(&job);
    add_hosts(&job.local, AF_INET, 1025, 0x0a000000u);
    add_hosts(&job.peers, AF_INET, 1025, 0x0b000000u);
    assert_int_equal(planner_filtered_dumps(&job, &on_peers), 0);
    flush_job_destroy(&job);
}

/* caps_all, plus filtered dumps proven, costing what a filtered walk does. */
static struct ct_caps
caps_fdump(unsigned int threads)
{
    struct ct_caps c = caps_all(2000, 250);

    c.filtered_dump = c.filtered_dump_v6 = true;
    c.fdump_ns_per_entry = 250;
    c.fdump_fixed_ms = 1;
    c.dump_threads = threads;
    return c;
}

static void
test_auto_filtered_dump_by_cost(void **state)
{
    struct flush_job job;
    struct ct_caps caps = caps_fdump(2);
    const uint64_t count = 200000;

    /* One address, peers any: 4 dumps in 2 rounds of 51 ms beat 4 serial
     * filtered walks (204 ms) and a dump (401 ms). */
    job_make(&job, "10.0.0.1", "any");
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_DUMP);
    /* One thread: they cost what the walks do, and the walks stay. */
    caps.dump_threads = 1;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_FLUSH);
    /* No filtered flush at all (6.1): filtered dumps still beat the dump. */
    caps.filtered_flush = false;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_DUMP);
    flush_job_destroy(&job);

    /* 20 addresses: 80 dumps in 40 rounds (2 s) lose to one dump. */
    caps = caps_fdump(2);
    flush_job_init(&job);
    add_hosts(&job.local, AF_INET, 20, 0x0a000000u);
    job.peers_any = true;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    flush_job_destroy(&job);

    /* Unproven: never chosen, refused when forced. */
    caps = caps_fdump(2);
    caps.filtered_dump = false;
    job_make(&job, "10.0.0.1", "any");
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_FLUSH);
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_DUMP, ENOTSUP, 0);
    flush_job_destroy(&job);

    /* Forced on a job it cannot express. */
    caps = caps_fdump(2);
    job_make(&job, "10.0.0.0/24", "any");
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_DUMP, EINVAL, 0);
    flush_job_destroy(&job);
    /* Forced on one it can: mark and zone are checked in userspace. */
    job_make(&job, "10.0.0.1", "192.168.0.1");
    job.has_zone = true;
    job.zone = 5;
    job.has_mark = true;
    job.mark = job.mark_mask = 1;
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_DUMP, 0, CT_STRATEGY_FILTERED_DUMP);
    flush_job_destroy(&job);
}

/* A lone dump is received on a helper thread when two threads may be used,
 * and costed at the share of the one-thread time the probe measured. */
static void
test_dump_cost_on_a_helper_thread(void **state)
{
    struct flush_job job;
    struct ct_caps caps = caps_fdump(2);
    struct ct_plan plan;
    const uint64_t count = 200000;

    caps.filtered_flush = false;
    caps.dump_piped_ratio = 0.2;
    job_make(&job, "10.0.0.1", "any");
    /* Two threads: the dump (401 ms x 0.2) beats 4 filtered dumps in 2
     * rounds of 51 ms. */
    assert_int_equal(planner_choose(&job, &caps, count, CT_STRATEGY_DUMP, &plan), 0);
    assert_true(fabs(plan.est_ms - 401.0 * 0.2) < 1e-6);
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    /* One thread: no helper, the full 401 ms, and 4 rounds of filtered
     * dumps (204 ms) win. */
    caps.dump_threads = 1;
    assert_int_equal(planner_choose(&job, &caps, count, CT_STRATEGY_DUMP, &plan), 0);
    assert_true(fabs(plan.est_ms - 401.0) < 1e-6);
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_DUMP);
    flush_job_destroy(&job);
}

static void
test_filtered_dump_v6_needs_its_own_proof(void **state)
{
    /* 6.18 returns the NON-matching v6 entries: a side with a v6 address
     * may be filtered only when v6 was proven. */
    struct flush_job job;
    struct ct_caps caps = caps_fdump(2);
    const uint64_t count = 200000;

    caps.filtered_dump_v6 = false;
    caps.filtered_flush_v6 = false;
    job_make(&job, "fd00::1", "any");
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_DUMP, ENOTSUP, 0);
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_DUMP);
    caps.filtered_dump_v6 = true;
    expect_choice(&job, &caps, count, CT_STRATEGY_AUTO, 0, CT_STRATEGY_FILTERED_DUMP);
    flush_job_destroy(&job);

    /* The side filtered on is what counts: v6 peers, v4-only side chosen. */
    caps.filtered_dump_v6 = false;
    job_make(&job, "10.0.0.1", "192.168.0.1 192.168.0.2 fd00::2");
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_DUMP, 0, CT_STRATEGY_FILTERED_DUMP);
    flush_job_destroy(&job);

    /* ... and only its addresses that can pair: a v6 local with v4 peers
     * only is never dumped for, so it neither needs the v6 proof nor
     * counts. */
    job_make(&job, "10.0.0.1 fd00::1", "192.168.0.1 192.168.0.2 192.168.0.3");
    bool on_peers = true;
    assert_int_equal(planner_filtered_dumps(&job, &on_peers), 4);
    assert_false(on_peers);
    expect_choice(&job, &caps, count, CT_STRATEGY_FILTERED_DUMP, 0, CT_STRATEGY_FILTERED_DUMP);
    flush_job_destroy(&job);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strategy_names),
        cmocka_unit_test(test_caps_unproven),
        cmocka_unit_test(test_filtered_walks),
        cmocka_unit_test(test_filtered_walks_limit),
        cmocka_unit_test(test_force_dump),
        cmocka_unit_test(test_force_zone_flush),
        cmocka_unit_test(test_force_filtered_flush),
        cmocka_unit_test(test_auto_unproven_is_dump),
        cmocka_unit_test(test_auto_zone_flush),
        cmocka_unit_test(test_auto_zone_flush_uncalibrated_walk),
        cmocka_unit_test(test_auto_filtered_flush_by_cost),
        cmocka_unit_test(test_filtered_flush_v6_needs_its_own_proof),
        cmocka_unit_test(test_filtered_dumps_count),
        cmocka_unit_test(test_auto_filtered_dump_by_cost),
        cmocka_unit_test(test_filtered_dump_v6_needs_its_own_proof),
        cmocka_unit_test(test_dump_cost_on_a_helper_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
