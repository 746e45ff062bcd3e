/*
 * test_job.c: unit tests for job.c (validation, the zone and MARK[/MASK]
 * parsers, splitting into chunks, the entry matcher).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "job.h"
#include "match.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

static union ctf_inaddr
ina(const char *s)
{
    union ctf_inaddr a;
    int family = strchr(s, ':') ? AF_INET6 : AF_INET;

    memset(&a, 0, sizeof a);
    if (inet_pton(family, s, &a) != 1) {
        fail_msg("helper: bad address '%s'", s);
    }
    return a;
}

/* An entry with the given original tuple; reply is the mirror image (no NAT)
 * unless rsrc/rdst are given. */
static struct ct_entry
entry(const char *osrc, const char *odst, const char *rsrc, const char *rdst)
{
    struct ct_entry e;

    memset(&e, 0, sizeof e);
    e.family = strchr(osrc, ':') ? AF_INET6 : AF_INET;
    e.orig.src = ina(osrc);
    e.orig.dst = ina(odst);
    e.reply.src = ina(rsrc ? rsrc : odst);
    e.reply.dst = ina(rdst ? rdst : osrc);
    e.has_reply = true;
    e.l4proto = 6;
    return e;
}

/* Members the group of check_group_agrees puts around the job under test:
 * other addresses, zones, directions and protocols, some overlapping it. */
static void
filler_jobs(struct flush_job *f, size_t n)
{
    static const char *const locals[] = { "10.0.0.1", "10.0.0.0/8", "fd00::1", "192.168.1.7",
                                          "172.16.0.0/12", "fd00::/16" };
    static const char *const peers[] = { "any", "8.8.8.8", "any", "10.0.0.2", "fd00::2" };

    for (size_t i = 0; i < n; i++) {
        job_make(&f[i], locals[i % 6], peers[i % 5]);
        if (!ctf_prefix_list_has_family(&f[i].local, AF_INET6)
            != !ctf_prefix_list_has_family(&f[i].peers, AF_INET6) && !f[i].peers_any) {
            flush_job_destroy(&f[i]);
            job_make(&f[i], locals[i % 6], "any");
        }
        f[i].has_zone = i % 3 == 1;
        f[i].zone = (uint16_t) i;
        f[i].direction = (enum flush_direction) (i % FLUSH_DIRECTION_COUNT);
        f[i].tuple = (enum flush_tuple) (i / 3 % FLUSH_TUPLE_COUNT);
        f[i].proto = i % 4 == 2 ? 6 : 0;
    }
}

/* The group matcher must say of job what the single one says, whatever
 * members sit around it and at whatever bit. */
static void
check_group_agrees(const struct flush_job *job, const struct ct_entry *e, bool want)
{
    struct flush_job fill[MATCH_GROUP_MAX];
    const struct flush_job *jobs[MATCH_GROUP_MAX];
    static const size_t sizes[] = { 1, 2, 7, MATCH_GROUP_MAX };

    filler_jobs(fill, MATCH_GROUP_MAX);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k], at = n - 1 - (k % n);
        struct match_group g;
        struct job_matcher m;

        for (size_t i = 0; i < n; i++) {
            jobs[i] = i == at ? job : &fill[i];
        }
        assert_int_equal(match_group_init(&g, jobs, n), 0);
        uint64_t hit = match_group_match(&g, e);
        if (((hit >> at) & 1) != want) {
            fail_msg("group of %zu, member %zu: group says %d, single matcher %d", n, at,
                     (int) ((hit >> at) & 1), want);
        }
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(job_matcher_init(&m, jobs[i]), 0);
            assert_int_equal((hit >> i) & 1, job_matcher_match(&m, e));
            job_matcher_destroy(&m);
        }
        /* A member that is no longer active matches nothing. */
        uint64_t active = ~(UINT64_C(1) << at);
        g.active = &active;
        assert_int_equal((match_group_match(&g, e) >> at) & 1, 0);
        match_group_destroy(&g);
    }
    for (size_t i = 0; i < MATCH_GROUP_MAX; i++) {
        flush_job_destroy(&fill[i]);
    }
}

static bool
matches(const struct flush_job *job, const struct ct_entry *e)
{
    struct job_matcher m;
    bool r;

    assert_int_equal(job_matcher_init(&m, job), 0);
    r = job_matcher_match(&m, e);
    job_matcher_destroy(&m);
    check_group_agrees(job, e, r);
    return r;
}

/* ---- Validation. ---- */

static void
expect_invalid(const struct flush_job *job, const char *why)
{
    char err[256] = "";

    assert_int_equal(flush_job_validate(job, err, sizeof err), EINVAL);
    if (!strstr(err, why)) {
        fail_msg("reason '%s' does not mention '%s'", err, why);
    }
}

static void
expect_valid(const struct flush_job *job)
{
    char err[256] = "";

    if (flush_job_validate(job, err, sizeof err)) {
        fail_msg("job refused: %s", err);
    }
}

static void
test_validate(void **state)
{
    struct flush_job job;

    flush_job_init(&job);
    expect_invalid(&job, "local");                  /* Both sides empty. */
    flush_job_destroy(&job);

    job_make(&job, "10.0.0.1", "any");
    job.peers_any = false;                          /* Empty peers, not any. */
    expect_invalid(&job, "peer");
    flush_job_destroy(&job);

    job_make(&job, "any", "10.0.0.1");
    job.has_zone = true;
    expect_invalid(&job, "local 'any'");
    flush_job_destroy(&job);

    job_make(&job, "any", "any");
    expect_invalid(&job, "every entry of every zone");
    job.has_mark = true;                            /* A mark is not a zone. */
    job.mark = job.mark_mask = 1;
    expect_invalid(&job, "every entry of every zone");
    flush_job_destroy(&job);

    /* Accepted forms. */
    job_make(&job, "10.0.0.1", "any");
    expect_valid(&job);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.1 10.0.0.0/24 fd00::1", "192.168.0.0/16 fd00:1::/64");
    expect_valid(&job);
    flush_job_destroy(&job);
    job_make(&job, "any", "any");
    job.has_zone = true;
    job.zone = 7;
    expect_valid(&job);
    job.zone = 0;                                   /* Zone 0 is a zone too. */
    expect_valid(&job);
    flush_job_destroy(&job);
}

static void
test_is_whole_zone(void **state)
{
    struct flush_job job;

    job_make(&job, "any", "any");
    assert_false(flush_job_is_whole_zone(&job));    /* No zone. */
    job.has_zone = true;
    job.zone = 3;
    assert_true(flush_job_is_whole_zone(&job));
    job.zone = 0;
    assert_true(flush_job_is_whole_zone(&job));
    job.has_mark = true;
    job.mark_mask = 0xff;
    assert_false(flush_job_is_whole_zone(&job));
    flush_job_destroy(&job);

    job_make(&job, "10.0.0.1", "any");
    job.has_zone = true;
    assert_false(flush_job_is_whole_zone(&job));
    flush_job_destroy(&job);
    job_make(&job, "any", "10.0.0.1");
    job.has_zone = true;
    assert_false(flush_job_is_whole_zone(&job));
    flush_job_destroy(&job);
}

static void
test_copy(void **state)
{
    struct flush_job a, b;

    job_make(&a, "10.0.0.1 10.0.0.2", "fd00::/64");
    a.has_zone = true;
    a.zone = 9;
    a.has_mark = true;
    a.mark = 0x10;
    a.mark_mask = 0xf0;
    assert_int_equal(flush_job_copy(&b, &a), 0);
    assert_int_equal(b.local.n, 2);
    assert_int_equal(b.peers.n, 1);
    assert_ptr_not_equal(b.local.items, a.local.items);
    assert_true(b.has_zone && b.zone == 9 && b.has_mark && b.mark == 0x10 && b.mark_mask == 0xf0);
    flush_job_destroy(&a);
    char buf[CTF_PREFIX_STRLEN];
    assert_string_equal(ctf_prefix_format(&b.local.items[1], buf), "10.0.0.2");
    flush_job_destroy(&b);
    flush_job_destroy(NULL);
}

/* ---- Splitting. ---- */

/* Writes, for each item of sub, its index in whole; returns sub->n. */
static size_t
index_items(const struct ctf_prefix_list *whole, const struct ctf_prefix_list *sub,
            size_t *idx)
{
    for (size_t i = 0; i < sub->n; i++) {
        size_t k = 0;
        while (k < whole->n && ctf_prefix_cmp(&whole->items[k], &sub->items[i])) {
            k++;
        }
        if (k == whole->n) {
            fail_msg("sub-job item %zu is not in the job", i);
        }
        idx[i] = k;
    }
    return sub->n;
}

/* Checks the split of job by (ml, mp): chunk counts and sizes, fields
 * carried over, and that every (local, peer) combination of the job lands
 * in exactly one sub-job. */
static void
check_split(const struct flush_job *job, size_t ml, size_t mp,
            size_t want_nl, size_t want_np)
{
    struct flush_job *subs;
    size_t n;

    assert_int_equal(flush_job_split(job, ml, mp, &subs, &n), 0);
    assert_int_equal(n, want_nl * want_np);
    assert_non_null(subs);

    for (size_t k = 0; k < n; k++) {
        const struct flush_job *s = &subs[k];
        assert_int_equal(s->local_any, job->local_any);
        assert_int_equal(s->peers_any, job->peers_any);
        assert_int_equal(s->has_zone, job->has_zone);
        assert_int_equal(s->zone, job->zone);
        assert_int_equal(s->has_mark, job->has_mark);
        assert_int_equal(s->mark, job->mark);
        assert_int_equal(s->mark_mask, job->mark_mask);
        if (job->local_any) {
            assert_int_equal(s->local.n, 0);
        } else {
            assert_true(s->local.n >= 1);
            assert_true(!ml || s->local.n <= ml);
        }
        if (job->peers_any) {
            assert_int_equal(s->peers.n, 0);
        } else {
            assert_true(s->peers.n >= 1);
            assert_true(!mp || s->peers.n <= mp);
        }
        if (s->local.items) {
            assert_ptr_not_equal(s->local.items, job->local.items);     /* Deep copies. */
        }
    }

    /* Chunk sizes: full chunks, the last one holding the remainder. */
    size_t total_local = 0, total_peers = 0;
    for (size_t k = 0; k < n; k++) {
        total_local += subs[k].local.n;
        total_peers += subs[k].peers.n;
    }
    assert_int_equal(total_local, job->local.n * want_np);
    assert_int_equal(total_peers, job->peers.n * want_nl);

    /* Every (local item, peer item) combination in exactly one sub-job
     * (items are distinct in these jobs, so an item has one index). */
    size_t nli = job->local_any ? 1 : job->local.n;
    size_t npi = job->peers_any ? 1 : job->peers.n;
    unsigned char *seen = calloc(nli * npi, 1);
    size_t *li = calloc(nli, sizeof *li), *pi = calloc(npi, sizeof *pi);
    assert_true(seen && li && pi);
    for (size_t k = 0; k < n; k++) {
        size_t nl = job->local_any ? 1 : index_items(&job->local, &subs[k].local, li);
        size_t np = job->peers_any ? 1 : index_items(&job->peers, &subs[k].peers, pi);
        if (job->local_any) {
            li[0] = 0;
        }
        if (job->peers_any) {
            pi[0] = 0;
        }
        for (size_t a = 0; a < nl; a++) {
            for (size_t b = 0; b < np; b++) {
                if (seen[li[a] * npi + pi[b]] < 255) {
                    seen[li[a] * npi + pi[b]]++;
                }
            }
        }
    }
    for (size_t i = 0; i < nli; i++) {
        for (size_t j = 0; j < npi; j++) {
            if (seen[i * npi + j] != 1) {
                fail_msg("local %zu x peer %zu is in %u sub-jobs", i, j, seen[i * npi + j]);
            }
        }
    }
    free(seen);
    free(li);
    free(pi);
    flush_job_array_free(subs, n);
}

/* A job of nl distinct local hosts and np distinct peer hosts. */
static void
job_hosts(struct flush_job *job, size_t nl, size_t np)
{
    flush_job_init(job);
    for (size_t i = 0; i < nl; i++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = AF_INET;
        p.plen = 32;
        p.addr.w[0] = htonl(0x0a000000u + (uint32_t) i);
        assert_int_equal(ctf_prefix_list_add(&job->local, &p), 0);
    }
    for (size_t i = 0; i < np; i++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = AF_INET6;
        p.plen = 128;
        p.addr.w[0] = htonl(0xfd000000u);
        p.addr.w[3] = htonl((uint32_t) i + 1);
        assert_int_equal(ctf_prefix_list_add(&job->peers, &p), 0);
    }
}

static void
test_split_sizes(void **state)
{
    struct flush_job job;

    job_hosts(&job, 10, 7);
    job.has_zone = true;
    job.zone = 12;
    job.has_mark = true;
    job.mark = 0x5;
    job.mark_mask = 0xf;
    check_split(&job, 0, 0, 1, 1);          /* No limits. */
    check_split(&job, 3, 2, 4, 4);          /* 3+3+3+1 x 2+2+2+1 */
    check_split(&job, 5, 0, 2, 1);          /* Exact multiple. */
    check_split(&job, 0, 7, 1, 1);          /* Limit == size. */
    check_split(&job, 100, 100, 1, 1);      /* Limit > size. */
    check_split(&job, 1, 1, 10, 7);         /* One pair per sub-job. */
    check_split(&job, 9, 6, 2, 2);          /* Remainders of 1. */
    flush_job_destroy(&job);
}

static void
test_split_chunk_contents(void **state)
{
    /* Chunks are consecutive slices, in order, of the expected sizes. */
    struct flush_job job, *subs;
    size_t n;
    static const size_t want_local[] = { 4, 4, 2 };
    static const size_t want_peers[] = { 3, 2 };

    job_hosts(&job, 10, 5);
    assert_int_equal(flush_job_split(&job, 4, 3, &subs, &n), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 2; j++) {
            const struct flush_job *s = &subs[i * 2 + j];
            assert_int_equal(s->local.n, want_local[i]);
            assert_int_equal(s->peers.n, want_peers[j]);
            for (size_t k = 0; k < s->local.n; k++) {
                assert_int_equal(ctf_prefix_cmp(&s->local.items[k], &job.local.items[i * 4 + k]), 0);
            }
            for (size_t k = 0; k < s->peers.n; k++) {
                assert_int_equal(ctf_prefix_cmp(&s->peers.items[k], &job.peers.items[j * 3 + k]), 0);
            }
        }
    }
    flush_job_array_free(subs, n);
    flush_job_destroy(&job);
}

static void
test_split_any_sides(void **state)
{
    struct flush_job job;

    /* Peers any: only the local side is cut. */
    job_hosts(&job, 10, 0);
    job.peers_any = true;
    check_split(&job, 4, 2, 3, 1);
    check_split(&job, 0, 1, 1, 1);
    flush_job_destroy(&job);

    /* Local any, peers any, zone: one job, never cut. */
    job_make(&job, "any", "any");
    job.has_zone = true;
    job.zone = 4;
    check_split(&job, 1, 1, 1, 1);
    flush_job_destroy(&job);

    /* Local any with peers (refused by validate, but split must not cut
     * the any side either). */
    job_hosts(&job, 0, 5);
    job.local_any = true;
    check_split(&job, 1, 2, 1, 3);
    flush_job_destroy(&job);
}

static void
test_split_union_matches_original(void **state)
{
    /* Matching with the sub-jobs, one after the other, deletes exactly what
     * the original job deletes: checked on every local x peer combination,
     * in both orders and through NAT, plus non-members. */
    static const char *const locals[] = {
        "10.0.0.1", "10.0.0.2", "10.0.1.0/24", "10.0.0.3", "fd00::1", "10.0.0.4", "10.0.0.5",
    };
    static const char *const probes_l[] = {
        "10.0.0.1", "10.0.0.2", "10.0.1.77", "10.0.0.3", "fd00::1", "10.0.0.4", "10.0.0.5",
        "10.0.0.9", "fd00::2",
    };
    static const char *const probes_p[] = {
        "192.168.0.1", "192.168.0.2", "172.16.9.9", "fd00:1::5", "192.168.0.3", "8.8.8.8",
        "fd00:2::1",
    };
    struct flush_job job, *subs;
    size_t n;
    char list[512] = "";

    for (size_t i = 0; i < sizeof locals / sizeof *locals; i++) {
        strcat(list, locals[i]);
        strcat(list, " ");
    }
    job_make(&job, list, "192.168.0.1 192.168.0.2 172.16.0.0/16 fd00:1::/64 192.168.0.3");
    job.has_zone = true;
    job.zone = 2;
    assert_int_equal(flush_job_split(&job, 2, 2, &subs, &n), 0);
    assert_int_equal(n, 4 * 3);

    struct job_matcher whole, *parts = calloc(n, sizeof *parts);
    assert_non_null(parts);
    assert_int_equal(job_matcher_init(&whole, &job), 0);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(job_matcher_init(&parts[k], &subs[k]), 0);
    }
    for (size_t i = 0; i < sizeof probes_l / sizeof *probes_l; i++) {
        for (size_t j = 0; j < sizeof probes_p / sizeof *probes_p; j++) {
            bool v6l = strchr(probes_l[i], ':'), v6p = strchr(probes_p[j], ':');
            if (v6l != v6p) {
                continue;
            }
            struct ct_entry es[3] = {
                entry(probes_l[i], probes_p[j], NULL, NULL),
                entry(probes_p[j], probes_l[i], NULL, NULL),
                entry(v6l ? "2001::1" : "1.1.1.1", v6l ? "2001::2" : "2.2.2.2",
                      probes_l[i], probes_p[j]),
            };
            for (int t = 0; t < 3; t++) {
                es[t].zone = 2;
                bool want = job_matcher_match(&whole, &es[t]);
                unsigned int got = 0;
                for (size_t k = 0; k < n; k++) {
                    got += job_matcher_match(&parts[k], &es[t]);
                }
                if ((want && got != 1) || (!want && got)) {
                    fail_msg("%s <-> %s (form %d): whole %d, %u sub-jobs",
                             probes_l[i], probes_p[j], t, want, got);
                }
            }
        }
    }
    job_matcher_destroy(&whole);
    for (size_t k = 0; k < n; k++) {
        job_matcher_destroy(&parts[k]);
    }
    free(parts);
    flush_job_array_free(subs, n);
    flush_job_destroy(&job);
}

static void
test_split_large_counts(void **state)
{
    struct flush_job job;

    job_hosts(&job, 1000, 300);
    check_split(&job, 64, 0, 16, 1);
    check_split(&job, 1000, 100, 1, 3);
    check_split(&job, 999, 299, 2, 2);
    flush_job_destroy(&job);
    flush_job_array_free(NULL, 0);
}

/* ---- Matcher. ---- */

static void
test_match_orig_both_orders(void **state)
{
    struct flush_job job;
    struct ct_entry e;

    job_make(&job, "10.0.0.1", "192.168.1.0/24 172.16.0.5");
    /* The orig tuple alone (no reply to fall back on), in both orders. */
    e = entry("10.0.0.1", "192.168.1.7", NULL, NULL);
    e.has_reply = false;
    assert_true(matches(&job, &e));
    e = entry("192.168.1.7", "10.0.0.1", NULL, NULL);
    e.has_reply = false;
    assert_true(matches(&job, &e));
    e = entry("10.0.0.1", "192.168.2.7", NULL, NULL);
    e.has_reply = false;
    assert_false(matches(&job, &e));
    /* The reply tuple alone, in both orders. */
    e = entry("1.1.1.1", "2.2.2.2", "10.0.0.1", "172.16.0.5");
    assert_true(matches(&job, &e));
    e = entry("1.1.1.1", "2.2.2.2", "172.16.0.5", "10.0.0.1");
    assert_true(matches(&job, &e));
    /* Mirrored reply, as the kernel sends it for un-NATed flows. */
    e = entry("10.0.0.1", "192.168.1.7", NULL, NULL);     /* Local as source. */
    assert_true(matches(&job, &e));
    e = entry("192.168.1.7", "10.0.0.1", NULL, NULL);     /* Local as destination. */
    assert_true(matches(&job, &e));
    e = entry("172.16.0.5", "10.0.0.1", NULL, NULL);
    assert_true(matches(&job, &e));
    e = entry("10.0.0.1", "172.16.0.6", NULL, NULL);      /* Not a peer. */
    assert_false(matches(&job, &e));
    e = entry("10.0.0.2", "192.168.1.7", NULL, NULL);     /* Not local. */
    assert_false(matches(&job, &e));
    e = entry("192.168.1.7", "192.168.1.8", NULL, NULL);  /* Peer to peer. */
    assert_false(matches(&job, &e));
    e = entry("10.0.0.1", "10.0.0.1", NULL, NULL);        /* Local to itself. */
    assert_false(matches(&job, &e));
    e = entry("10.0.0.1", "192.168.2.1", NULL, NULL);     /* Outside the /24. */
    assert_false(matches(&job, &e));
    flush_job_destroy(&job);
}

static void
test_match_reply_nat(void **state)
{
    struct flush_job job;
    struct ct_entry e;

    job_make(&job, "10.0.0.1", "192.168.1.0/24");

    /* DNAT to the local fixed IP: the client talks to a floating IP; only
     * the reply tuple (local -> peer) names the local address. */
    e = entry("192.168.1.9", "203.0.113.10", "10.0.0.1", "192.168.1.9");
    assert_true(matches(&job, &e));
    /* SNAT of the local address: reply (peer -> masquerade address). */
    e = entry("10.0.0.1", "198.51.100.1", "198.51.100.1", "10.0.0.1");
    assert_false(matches(&job, &e));      /* Peer not in the set. */
    e = entry("1.1.1.1", "2.2.2.2", "192.168.1.20", "10.0.0.1");
    assert_true(matches(&job, &e));       /* Reply: peer -> local. */

    /* Orig unrelated, reply local -> peer, but the kernel sent no reply. */
    e = entry("1.1.1.1", "2.2.2.2", "10.0.0.1", "192.168.1.9");
    e.has_reply = false;
    assert_false(matches(&job, &e));
    /* Reply unrelated too. */
    e = entry("1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4");
    assert_false(matches(&job, &e));
    /* One end of orig local and the other end of reply a peer: neither
     * tuple has both. */
    e = entry("10.0.0.1", "5.5.5.5", "6.6.6.6", "192.168.1.1");
    assert_false(matches(&job, &e));
    flush_job_destroy(&job);
}

static void
test_match_peers_any(void **state)
{
    struct flush_job job;
    struct ct_entry e;

    job_make(&job, "10.0.0.1 fd00::1", "any");
    e = entry("10.0.0.1", "8.8.8.8", NULL, NULL);
    assert_true(matches(&job, &e));
    e = entry("9.9.9.9", "10.0.0.1", NULL, NULL);
    assert_true(matches(&job, &e));
    e = entry("9.9.9.9", "8.8.8.8", NULL, NULL);
    assert_false(matches(&job, &e));
    e = entry("fd00::1", "2001:db8::1", NULL, NULL);
    assert_true(matches(&job, &e));
    e = entry("fd00::2", "2001:db8::1", NULL, NULL);
    assert_false(matches(&job, &e));
    flush_job_destroy(&job);
}

static void
test_match_zone(void **state)
{
    struct flush_job job;
    struct ct_entry e;

    job_make(&job, "10.0.0.1", "any");
    e = entry("10.0.0.1", "8.8.8.8", NULL, NULL);
    e.zone = 77;
    assert_true(matches(&job, &e));       /* No zone in the job: any zone. */
    job.has_zone = true;
    job.zone = 5;
    assert_false(matches(&job, &e));
    e.zone = 5;
    assert_true(matches(&job, &e));
    e.zone = 0;
    assert_false(matches(&job, &e));
    job.zone = 0;
    assert_true(matches(&job, &e));
    e.zone = 5;
    assert_false(matches(&job, &e));
    flush_job_destroy(&job);

    /* Whole zone. */
    job_make(&job, "any", "any");
    job.has_zone = true;
    job.zone = 3;
    e = entry("1.2.3.4", "5.6.7.8", NULL, NULL);
    e.zone = 3;
    assert_true(matches(&job, &e));
    e = entry("fd00::9", "fd00::8", NULL, NULL);
    e.zone = 3;
    assert_true(matches(&job, &e));
    e.zone = 4;
    assert_false(matches(&job, &e));
    flush_job_destroy(&job);
}

static void
test_match_mark(void **state)
{
    struct flush_job job;
    struct ct_entry e;

    job_make(&job, "10.0.0.1", "any");
    e = entry("10.0.0.1", "8.8.8.8", NULL, NULL);
    e.mark = 0xdeadbeef;
    assert_true(matches(&job, &e));       /* No mark in the job: any mark. */

    job.has_mark = true;
    job.mark = 0x10;
    job.mark_mask = 0xf0;
    e.mark = 0x1f;
    assert_true(matches(&job, &e));
    e.mark = 0xff10;
    assert_true(matches(&job, &e));
    e.mark = 0x20;
    assert_false(matches(&job, &e));
    e.mark = 0;
    assert_false(matches(&job, &e));

    /* Bits of the mark outside the mask do not count. */
    job.mark = 0xab1c;
    e.mark = 0x10;
    assert_true(matches(&job, &e));

    /* Mask 0: every mark matches. */
    job.mark = 0x1234;
    job.mark_mask = 0;
    e.mark = 0x9999;
    assert_true(matches(&job, &e));

    /* Full mask: exact. */
    job.mark = 0x1234;
    job.mark_mask = 0xffffffff;
    e.mark = 0x1234;
    assert_true(matches(&job, &e));
    e.mark = 0x1235;
    assert_false(matches(&job, &e));
    /* Right mark but wrong addresses. */
    e = entry("10.0.0.2", "8.8.8.8", NULL, NULL);
    e.mark = 0x1234;
    assert_false(matches(&job, &e));
    flush_job_destroy(&job);
}

static void
test_match_v6_and_families(void **state)
{
    struct flush_job job;
    struct ct_entry e;

    job_make(&job, "fd00::1 10.0.0.1", "fd00:1::/64 192.168.0.0/16");
    e = entry("fd00::1", "fd00:1::abcd", NULL, NULL);
    assert_true(matches(&job, &e));
    e = entry("fd00:1::abcd", "fd00::1", NULL, NULL);
    assert_true(matches(&job, &e));
    e = entry("fd00::1", "fd00:2::abcd", NULL, NULL);
    assert_false(matches(&job, &e));
    e = entry("2001:db8::1", "2001:db8::2", "fd00::1", "fd00:1::ffff:1");
    assert_true(matches(&job, &e));       /* v6 NAT via the reply tuple. */

    /* A v4 entry whose 16 bytes happen to spell a v6 member: no match. */
    memset(&e, 0, sizeof e);
    e.family = AF_INET;
    e.orig.src = ina("fd00::1");
    e.orig.dst = ina("fd00:1::1");
    assert_false(matches(&job, &e));

    struct job_matcher m;
    assert_int_equal(job_matcher_init(&m, &job), 0);
    assert_int_equal(job_matcher_families(&m), ADDRSET_HAS_V4 | ADDRSET_HAS_V6);
    job_matcher_destroy(&m);
    flush_job_destroy(&job);

    job_make(&job, "10.0.0.1 fd00::1", "fd00:1::/64");
    assert_int_equal(job_matcher_init(&m, &job), 0);
    assert_int_equal(job_matcher_families(&m), ADDRSET_HAS_V6);
    job_matcher_destroy(&m);
    flush_job_destroy(&job);

    job_make(&job, "10.0.0.1", "any");
    assert_int_equal(job_matcher_init(&m, &job), 0);
    assert_int_equal(job_matcher_families(&m), ADDRSET_HAS_V4);
    job_matcher_destroy(&m);
    flush_job_destroy(&job);

    job_make(&job, "10.0.0.1", "fd00::/8");       /* Nothing can match. */
    assert_int_equal(job_matcher_init(&m, &job), 0);
    assert_int_equal(job_matcher_families(&m), 0);
    job_matcher_destroy(&m);
    flush_job_destroy(&job);

    job_make(&job, "any", "any");
    job.has_zone = true;
    assert_int_equal(job_matcher_init(&m, &job), 0);
    assert_int_equal(job_matcher_families(&m), ADDRSET_HAS_V4 | ADDRSET_HAS_V6);
    job_matcher_destroy(&m);
    flush_job_destroy(&job);
}

static void
test_match_cidr_both_sides(void **state)
{
    struct flush_job job;
    struct ct_entry e;

    job_make(&job, "10.0.0.0/24", "10.0.0.0/8");
    /* Inside the local /24 talking to elsewhere in the /8. */
    e = entry("10.0.0.5", "10.9.9.9", NULL, NULL);
    assert_true(matches(&job, &e));
    /* Both ends local: local is also a peer (the /8 covers it). */
    e = entry("10.0.0.5", "10.0.0.6", NULL, NULL);
    assert_true(matches(&job, &e));
    e = entry("10.0.1.5", "10.9.9.9", NULL, NULL);
    assert_false(matches(&job, &e));
    e = entry("10.0.0.5", "11.0.0.1", NULL, NULL);
    assert_false(matches(&job, &e));
    flush_job_destroy(&job);
}

/* ---- One family's part of a job. ---- */

static void
expect_items(const struct ctf_prefix_list *l, const char *want)
{
    char got[512] = "", b[CTF_PREFIX_STRLEN];

    for (size_t i = 0; i < l->n; i++) {
        if (i) {
            strcat(got, " ");
        }
        strcat(got, ctf_prefix_format(&l->items[i], b));
    }
    assert_string_equal(got, want);
}

static void
test_family_part(void **state)
{
    struct flush_job job, part;

    job_make(&job, "10.0.0.1 fd00::1 10.0.0.0/24 fd00::/64", "192.168.0.1 fd00:1::/64 10.9.9.9");
    job.has_zone = true;
    job.zone = 8;
    job.has_mark = true;
    job.mark = 0x10;
    job.mark_mask = 0xf0;

    assert_int_equal(flush_job_family_part(&job, AF_INET, &part), 0);
    expect_items(&part.local, "10.0.0.1 10.0.0.0/24");
    expect_items(&part.peers, "192.168.0.1 10.9.9.9");
    assert_false(part.local_any || part.peers_any);
    assert_true(part.has_zone && part.zone == 8);
    assert_true(part.has_mark && part.mark == 0x10 && part.mark_mask == 0xf0);
    assert_ptr_not_equal(part.local.items, job.local.items);
    flush_job_destroy(&part);

    assert_int_equal(flush_job_family_part(&job, AF_INET6, &part), 0);
    expect_items(&part.local, "fd00::1 fd00::/64");
    expect_items(&part.peers, "fd00:1::/64");
    flush_job_destroy(&part);
    flush_job_destroy(&job);

    /* Peers any stay any. */
    job_make(&job, "fd00::1 10.0.0.1", "any");
    assert_int_equal(flush_job_family_part(&job, AF_INET6, &part), 0);
    expect_items(&part.local, "fd00::1");
    assert_true(part.peers_any);
    assert_int_equal(part.peers.n, 0);
    flush_job_destroy(&part);
    flush_job_destroy(&job);

    /* Nothing of that family on the local side, or on the peer side. */
    job_make(&job, "10.0.0.1", "any");
    assert_int_equal(flush_job_family_part(&job, AF_INET6, &part), ENOENT);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.1 fd00::1", "192.168.0.0/16");
    assert_int_equal(flush_job_family_part(&job, AF_INET6, &part), ENOENT);
    assert_int_equal(flush_job_family_part(&job, AF_INET, &part), 0);
    flush_job_destroy(&part);
    flush_job_destroy(&job);

    /* Local any: not split by family. */
    job_make(&job, "any", "any");
    job.has_zone = true;
    assert_int_equal(flush_job_family_part(&job, AF_INET, &part), ENOENT);
    assert_int_equal(flush_job_family_part(&job, AF_INET6, &part), ENOENT);
    flush_job_destroy(&job);
}

static void
test_family_part_matches_like_whole(void **state)
{
    /* On entries of its family, a part matches exactly what the job does;
     * on entries of the other family, nothing. */
    static const char *const v4[] = { "10.0.0.1", "10.0.0.77", "192.168.3.3", "10.9.9.9", "8.8.8.8" };
    static const char *const v6[] = { "fd00::1", "fd00::ffff", "fd00:1::3", "fd00:2::1", "2001::1" };
    struct flush_job job, part4, part6;

    job_make(&job, "10.0.0.1 fd00::1 10.0.0.0/25 fd00::/112", "192.168.0.0/16 fd00:1::/64 10.9.9.9");
    assert_int_equal(flush_job_family_part(&job, AF_INET, &part4), 0);
    assert_int_equal(flush_job_family_part(&job, AF_INET6, &part6), 0);
    for (int fam = 0; fam < 2; fam++) {
        const char *const *a = fam ? v6 : v4;
        const struct flush_job *mine = fam ? &part6 : &part4, *other = fam ? &part4 : &part6;
        for (size_t i = 0; i < 5; i++) {
            for (size_t j = 0; j < 5; j++) {
                struct ct_entry e = entry(a[i], a[j], NULL, NULL);
                bool whole = matches(&job, &e);
                if (matches(mine, &e) != whole) {
                    fail_msg("%s -> %s: part %d, whole %d", a[i], a[j], !whole, whole);
                }
                assert_false(matches(other, &e));
            }
        }
    }
    flush_job_destroy(&part4);
    flush_job_destroy(&part6);
    flush_job_destroy(&job);
}

/* ---- flush_job_parse_zone and flush_job_parse_mark: the one zone rule and
 * the one MARK[/MASK] rule of both command lines. ---- */

static void
test_parse_zone(void **state)
{
    struct flush_job job;
    char err[256];

    (void) state;
    flush_job_init(&job);
    assert_int_equal(flush_job_parse_zone(&job, "0", err, sizeof err), 0);
    assert_true(job.has_zone);
    assert_int_equal(job.zone, 0);
    assert_int_equal(flush_job_parse_zone(&job, "65535", err, sizeof err), 0);
    assert_int_equal(job.zone, 65535);

    static const char *const bad[] = { "0x10", "010", "+5", " 5", "5 ", "65536", "-1", "" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char want[128];

        job.zone = 42;
        assert_int_equal(flush_job_parse_zone(&job, bad[i], err, sizeof err), EINVAL);
        assert_int_equal(job.zone, 42);         /* Untouched. */
        snprintf(want, sizeof want, "'%s' is not a decimal number from 0 to 65535", bad[i]);
        assert_string_equal(err, want);
    }
    flush_job_destroy(&job);
}

static void
test_parse_mark(void **state)
{
    static const struct {
        const char *text;
        uint32_t mark, mask;
    } good[] = {
        { "16", 16, 0xffffffff }, { "0x10", 16, 0xffffffff }, { "0", 0, 0xffffffff },
        { "1/1", 1, 1 }, { "0x100/0xF00", 0x100, 0xf00 }, { "0/1", 0, 1 },
        { "4294967295", 0xffffffff, 0xffffffff }, { "0x0000ff00/0x0000ff00", 0xff00, 0xff00 },
        { "0/0xffffffff", 0, 0xffffffff }, { "0X10", 16, 0xffffffff },
    };
    static const char *const bad[] = {
        "", "/", "1/", "/1", "1/0", "1/0x0", "-1", "+1", "0x", "010", "1/010", "0x100000000",
        "4294967296", "1/4294967296", "1/2/3", "1 /1", "1/ 1", " 1", "1 ", "0x1g", "abc",
        "0x10 ", "1/0x",
        "00000000000000000000000000000000000000000000000000000000000000001",
    };
    struct flush_job job;
    char err[256], want[256];

    (void) state;
    flush_job_init(&job);
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        memset(&job, 0, sizeof job);
        if (flush_job_parse_mark(&job, good[i].text, err, sizeof err)) {
            fail_msg("'%s' refused: %s", good[i].text, err);
        }
        assert_true(job.has_mark);
        assert_int_equal(job.mark, good[i].mark);
        assert_int_equal(job.mark_mask, good[i].mask);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&job, 0, sizeof job);
        assert_int_equal(flush_job_parse_mark(&job, bad[i], err, sizeof err), EINVAL);
        assert_false(job.has_mark);
        snprintf(want, sizeof want, "'%.64s' is not MARK[/MASK] (32-bit numbers, decimal or "
                 "0x hex; MASK not 0)", bad[i]);
        assert_string_equal(err, want);
    }
    /* mark(E) & MASK can never equal such a MARK. */
    memset(&job, 0, sizeof job);
    assert_int_equal(flush_job_parse_mark(&job, "0x100/0xff", err, sizeof err), EINVAL);
    assert_string_equal(err, "'0x100/0xff' has bits outside the mask");
    assert_false(job.has_mark);
}

/* ---- Selectors. ---- */

static void
test_selector_words(void **state)
{
    enum flush_direction d;
    enum flush_tuple t;
    enum flush_family f;
    uint8_t p;
    uint16_t lo, hi;

    for (int i = 0; i < FLUSH_DIRECTION_COUNT; i++) {
        assert_int_equal(flush_direction_parse(flush_direction_name(i), &d), 0);
        assert_int_equal(d, i);
    }
    for (int i = 0; i < FLUSH_TUPLE_COUNT; i++) {
        assert_int_equal(flush_tuple_parse(flush_tuple_name(i), &t), 0);
        assert_int_equal(t, i);
    }
    for (int i = 0; i < FLUSH_FAMILY_COUNT; i++) {
        assert_int_equal(flush_family_parse(flush_family_name(i), &f), 0);
        assert_int_equal(f, i);
    }
    assert_string_equal(flush_direction_name(FLUSH_DIRECTION_INGRESS), "ingress");
    assert_string_equal(flush_tuple_name(FLUSH_TUPLE_ORIG), "orig");
    assert_string_equal(flush_family_name(FLUSH_FAMILY_IPV6), "ipv6");
    assert_int_equal(flush_direction_parse("in", &d), EINVAL);
    assert_int_equal(flush_direction_parse("", &d), EINVAL);
    assert_int_equal(flush_direction_parse(NULL, &d), EINVAL);
    assert_int_equal(flush_tuple_parse("reply", &t), EINVAL);
    assert_int_equal(flush_family_parse("inet", &f), EINVAL);

    static const struct { const char *s; int num; } protos[] = {
        { "tcp", 6 }, { "udp", 17 }, { "sctp", 132 }, { "icmp", 1 }, { "icmpv6", 58 },
        { "ipv6-icmp", 58 }, { "dccp", 33 }, { "udplite", 136 }, { "gre", 47 }, { "any", 0 },
        { "1", 1 }, { "255", 255 }, { "017", -1 },  /* num.h: no leading zero. */
        { "0", -1 }, { "256", -1 }, { "1000", -1 }, { "-6", -1 }, { "0x11", -1 }, { "TCP", -1 },
        { "", -1 }, { "6 ", -1 }, { " 6", -1 },
    };
    for (size_t i = 0; i < sizeof protos / sizeof *protos; i++) {
        p = 99;
        int rc = flush_proto_parse(protos[i].s, &p);
        if (protos[i].num < 0 ? rc != EINVAL : (rc || p != protos[i].num)) {
            fail_msg("proto '%s': rc %d, %u", protos[i].s, rc, p);
        }
    }
    assert_string_equal(flush_proto_name(17), "udp");
    assert_string_equal(flush_proto_name(0), "any");
    assert_null(flush_proto_name(200));
    assert_true(flush_proto_has_ports(6) && flush_proto_has_ports(17) && flush_proto_has_ports(132));
    assert_false(flush_proto_has_ports(1) || flush_proto_has_ports(58) || flush_proto_has_ports(0));

    static const struct { const char *s; int lo, hi; } ports[] = {
        { "53", 53, 53 }, { "0", 0, 0 }, { "65535", 65535, 65535 }, { "1-1024", 1, 1024 },
        { "8080-8080", 8080, 8080 }, { "0-65535", 0, 65535 },
        { "65536", -1, 0 }, { "10-9", -1, 0 }, { "-5", -1, 0 }, { "5-", -1, 0 }, { "", -1, 0 },
        { "1-2-3", -1, 0 }, { "a", -1, 0 }, { "053x", -1, 0 }, { "053", -1, 0 }, { "+5", -1, 0 }, { "123456", -1, 0 }, { " 5", -1, 0 },
    };
    for (size_t i = 0; i < sizeof ports / sizeof *ports; i++) {
        int rc = flush_dport_parse(ports[i].s, &lo, &hi);
        if (ports[i].lo < 0 ? rc != EINVAL : (rc || lo != ports[i].lo || hi != ports[i].hi)) {
            fail_msg("dport '%s': rc %d, %u-%u", ports[i].s, rc, lo, hi);
        }
    }
}

static void
test_validate_selectors(void **state)
{
    struct flush_job job;

    job_make(&job, "10.0.0.1 fd00::1", "any");
    job.proto = 17;
    job.has_dport = true;
    job.dport_lo = job.dport_hi = 53;
    expect_valid(&job);
    job.dport_lo = 54;
    expect_invalid(&job, "empty");
    job.dport_lo = 53;
    job.proto = 1;
    expect_invalid(&job, "protocol with ports");
    job.proto = 0;
    expect_invalid(&job, "protocol with ports");
    job.has_dport = false;
    expect_valid(&job);

    job.proto = 1;                              /* icmp */
    job.family = FLUSH_FAMILY_IPV6;
    expect_invalid(&job, "does not exist");
    job.proto = 58;                             /* icmpv6 */
    expect_valid(&job);
    job.family = FLUSH_FAMILY_IPV4;
    expect_invalid(&job, "does not exist");
    job.proto = 0;
    expect_valid(&job);
    flush_job_destroy(&job);

    /* A family none of a side's addresses has matches nothing: refused. */
    job_make(&job, "10.0.0.1", "fd00::2 10.0.0.2");
    job.family = FLUSH_FAMILY_IPV6;
    expect_invalid(&job, "no local address");
    job.family = FLUSH_FAMILY_IPV4;
    expect_valid(&job);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.1 fd00::1", "fd00::2");
    job.family = FLUSH_FAMILY_IPV4;
    expect_invalid(&job, "no peer address");
    flush_job_destroy(&job);

    /* Out of range (a corrupt job from elsewhere). */
    job_make(&job, "10.0.0.1", "any");
    job.direction = FLUSH_DIRECTION_COUNT;
    expect_invalid(&job, "out of range");
    job.direction = 0;
    job.tuple = FLUSH_TUPLE_COUNT;
    expect_invalid(&job, "out of range");
    job.tuple = 0;
    job.family = FLUSH_FAMILY_COUNT;
    expect_invalid(&job, "out of range");
    flush_job_destroy(&job);

    /* A whole zone with selectors is a job, but not a zone flush's. */
    job_make(&job, "any", "any");
    job.has_zone = true;
    job.zone = 4;
    assert_true(flush_job_is_whole_zone(&job));
    assert_false(flush_job_has_selectors(&job));
    job.proto = 6;
    expect_valid(&job);
    assert_true(flush_job_has_selectors(&job));
    assert_false(flush_job_is_whole_zone(&job));
    job.proto = 0;
    job.family = FLUSH_FAMILY_IPV6;
    expect_valid(&job);
    assert_false(flush_job_is_whole_zone(&job));
    flush_job_destroy(&job);
}

/* One entry in each of the four ways (job.h), seen from local L = 10.0.0.1
 * and peer P = 192.168.1.9, and what each direction/tuple selects. */
static void
test_match_direction_tuple(void **state)
{
    static const struct {
        const char *what;
        const char *os, *od, *rs, *rd;      /* rs/rd NULL: mirrored. */
        /* Expected for [direction][tuple]. */
        bool want[FLUSH_DIRECTION_COUNT][FLUSH_TUPLE_COUNT];
    } cases[] = {
        /* L -> P, un-NATed: egress on both tuples. */
        { "L to P", "10.0.0.1", "192.168.1.9", NULL, NULL,
          { { true, true }, { false, false }, { true, true } } },
        /* P -> L, un-NATed: ingress. */
        { "P to L", "192.168.1.9", "10.0.0.1", NULL, NULL,
          { { true, true }, { true, true }, { false, false } } },
        /* DNAT: P -> floating IP, reply from L's fixed address: ingress of L,
         * by the reply tuple only. */
        { "DNAT to L", "192.168.1.9", "203.0.113.5", "10.0.0.1", "192.168.1.9",
          { { true, false }, { true, false }, { false, false } } },
        /* SNAT of P's outgoing traffic to L: P -> X, reply X -> L (L as the
         * translated source): egress of L by the reply tuple. */
        { "SNAT to L", "192.168.1.9", "8.8.8.8", "8.8.8.8", "10.0.0.1",
          { { false, false }, { false, false }, { false, false } } },
        { "SNAT P to L", "8.8.4.4", "8.8.8.8", "192.168.1.9", "10.0.0.1",
          { { true, false }, { false, false }, { true, false } } },
        /* Unrelated. */
        { "other", "10.0.0.2", "192.168.1.9", NULL, NULL,
          { { false, false }, { false, false }, { false, false } } },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int d = 0; d < FLUSH_DIRECTION_COUNT; d++) {
            for (int t = 0; t < FLUSH_TUPLE_COUNT; t++) {
                struct flush_job job;
                job_make(&job, "10.0.0.1", "192.168.1.9");
                job.direction = (enum flush_direction) d;
                job.tuple = (enum flush_tuple) t;
                struct ct_entry e = entry(cases[i].os, cases[i].od, cases[i].rs, cases[i].rd);
                if (matches(&job, &e) != cases[i].want[d][t]) {
                    fail_msg("%s: direction %s tuple %s: expected %d", cases[i].what,
                             flush_direction_name(d), flush_tuple_name(t), cases[i].want[d][t]);
                }
                flush_job_destroy(&job);
            }
        }
    }
}

static void
test_match_proto_ports_family(void **state)
{
    struct flush_job job;
    struct ct_entry e;

    job_make(&job, "10.0.0.1 fd00::1", "any");
    job.proto = 17;
    job.has_dport = true;
    job.dport_lo = 53;
    job.dport_hi = 60;
    e = entry("192.168.1.9", "10.0.0.1", NULL, NULL);
    e.l4proto = 17;
    e.has_ports = true;
    e.sport = 40000;
    for (unsigned int port = 50; port <= 62; port++) {
        e.dport = (uint16_t) port;
        assert_int_equal(matches(&job, &e), port >= 53 && port <= 60);
    }
    e.dport = 53;
    e.sport = 53;
    assert_true(matches(&job, &e));
    e.dport = 40000;                /* The source port is not what counts. */
    assert_false(matches(&job, &e));
    e.dport = 53;
    e.has_ports = false;            /* No ports parsed: no port match. */
    assert_false(matches(&job, &e));
    e.has_ports = true;
    e.l4proto = 6;                  /* Another protocol. */
    assert_false(matches(&job, &e));
    /* The port is the original tuple's destination: an entry where L is
     * the source and its peer's port is 53 matches too (egress). */
    e = entry("10.0.0.1", "1.1.1.1", NULL, NULL);
    e.l4proto = 17;
    e.has_ports = true;
    e.dport = 53;
    assert_true(matches(&job, &e));
    job.direction = FLUSH_DIRECTION_INGRESS;
    assert_false(matches(&job, &e));
    job.direction = FLUSH_DIRECTION_EITHER;

    /* Proto without ports. */
    job.has_dport = false;
    e.l4proto = 17;
    e.has_ports = false;
    assert_true(matches(&job, &e));

    /* Family. */
    job.proto = 0;
    e = entry("fd00::9", "fd00::1", NULL, NULL);
    assert_true(matches(&job, &e));
    job.family = FLUSH_FAMILY_IPV4;
    assert_false(matches(&job, &e));
    job.family = FLUSH_FAMILY_IPV6;
    assert_true(matches(&job, &e));
    e = entry("10.9.9.9", "10.0.0.1", NULL, NULL);
    assert_false(matches(&job, &e));
    flush_job_destroy(&job);

    /* A whole zone restricted to one family and protocol. */
    job_make(&job, "any", "any");
    job.has_zone = true;
    job.zone = 3;
    job.family = FLUSH_FAMILY_IPV6;
    job.proto = 58;
    e = entry("fd00::9", "fd00::1", NULL, NULL);
    e.zone = 3;
    e.l4proto = 58;
    assert_true(matches(&job, &e));
    e.zone = 4;
    assert_false(matches(&job, &e));
    e.zone = 3;
    e.l4proto = 1;
    assert_false(matches(&job, &e));
    e = entry("10.0.0.9", "10.0.0.1", NULL, NULL);
    e.zone = 3;
    e.l4proto = 58;
    assert_false(matches(&job, &e));
    struct job_matcher m;
    assert_int_equal(job_matcher_init(&m, &job), 0);
    assert_int_equal(job_matcher_families(&m), ADDRSET_HAS_V6);
    job_matcher_destroy(&m);
    flush_job_destroy(&job);
}

/* Deterministic randomness for the group test. */
static uint64_t
mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
rand_addr(uint64_t *s, int family, char *buf, size_t len)
{
    unsigned int a = (unsigned int) (mix(s) % 6);
    if (family == AF_INET) {
        snprintf(buf, len, "10.0.%u.%u", a / 3, a % 3 + 1);
    } else {
        snprintf(buf, len, "fd00::%u:%u", a / 3, a % 3 + 1);
    }
}

/* Random groups of random jobs over a small address universe, against the
 * single matcher member by member. */
static void
test_group_random(void **state)
{
    uint64_t seed = 0x5eed;

    for (int round = 0; round < 300; round++) {
        size_t n = 1 + (size_t) (mix(&seed) % MATCH_GROUP_MAX);
        struct flush_job *jobs = calloc(n, sizeof *jobs);
        const struct flush_job **ptrs = calloc(n, sizeof *ptrs);
        struct job_matcher *single = calloc(n, sizeof *single);
        assert_true(jobs && ptrs && single);

        for (size_t i = 0; i < n; i++) {
            char l[256] = "", p[256] = "", a[64];
            int nl = 1 + (int) (mix(&seed) % 3), np = (int) (mix(&seed) % 3);
            for (int k = 0; k < nl; k++) {
                int fam = mix(&seed) % 3 ? AF_INET : AF_INET6;
                rand_addr(&seed, fam, a, sizeof a);
                if (mix(&seed) % 5 == 0) {
                    /* A short prefix (refused when it has host bits). */
                    strcat(a, fam == AF_INET ? "/31" : "/127");
                }
                snprintf(l + strlen(l), sizeof l - strlen(l), "%s%s", k ? "," : "", a);
            }
            for (int k = 0; k < np; k++) {
                rand_addr(&seed, mix(&seed) % 3 ? AF_INET : AF_INET6, a, sizeof a);
                snprintf(p + strlen(p), sizeof p - strlen(p), "%s%s", k ? "," : "", a);
            }
            char err[128];
            flush_job_init(&jobs[i]);
            /* Prefixes with host bits are refused by the parser: fall back
             * to the host address. */
            if (ctf_prefix_list_parse(&jobs[i].local, l, err, sizeof err)) {
                ctf_prefix_list_clear(&jobs[i].local);
                rand_addr(&seed, AF_INET, a, sizeof a);
                assert_int_equal(ctf_prefix_list_parse(&jobs[i].local, a, err, sizeof err), 0);
            }
            if (np) {
                assert_int_equal(ctf_prefix_list_parse(&jobs[i].peers, p, err, sizeof err), 0);
            } else {
                jobs[i].peers_any = true;
            }
            jobs[i].direction = (enum flush_direction) (mix(&seed) % FLUSH_DIRECTION_COUNT);
            jobs[i].tuple = (enum flush_tuple) (mix(&seed) % FLUSH_TUPLE_COUNT);
            jobs[i].has_zone = mix(&seed) % 3 == 0;
            jobs[i].zone = (uint16_t) (mix(&seed) % 3);
            jobs[i].proto = mix(&seed) % 3 == 0 ? (mix(&seed) % 2 ? 6 : 17) : 0;
            jobs[i].has_dport = jobs[i].proto && mix(&seed) % 2;
            jobs[i].dport_lo = (uint16_t) (mix(&seed) % 4);
            jobs[i].dport_hi = (uint16_t) (jobs[i].dport_lo + mix(&seed) % 3);
            jobs[i].has_mark = mix(&seed) % 5 == 0;
            jobs[i].mark = (uint32_t) (mix(&seed) % 4);
            jobs[i].mark_mask = 3;
            ptrs[i] = &jobs[i];
            assert_int_equal(job_matcher_init(&single[i], &jobs[i]), 0);
        }
        struct match_group g;
        assert_int_equal(match_group_init(&g, ptrs, n), 0);
        for (int k = 0; k < 200; k++) {
            char a[4][64];
            int fam = mix(&seed) % 3 ? AF_INET : AF_INET6;
            for (int x = 0; x < 4; x++) {
                rand_addr(&seed, fam, a[x], sizeof a[x]);
            }
            bool nat = mix(&seed) % 3 == 0;
            struct ct_entry e = entry(a[0], a[1], nat ? a[2] : NULL, nat ? a[3] : NULL);
            e.has_reply = mix(&seed) % 8 != 0;
            e.zone = (uint16_t) (mix(&seed) % 3);
            e.mark = (uint32_t) (mix(&seed) % 8);
            e.l4proto = mix(&seed) % 2 ? 6 : 17;
            e.has_ports = mix(&seed) % 8 != 0;
            e.dport = (uint16_t) (mix(&seed) % 6);
            uint64_t want = 0;
            for (size_t i = 0; i < n; i++) {
                want |= (uint64_t) job_matcher_match(&single[i], &e) << i;
            }
            assert_int_equal(match_group_match(&g, &e), want);
        }
        unsigned int fams = 0;
        for (size_t i = 0; i < n; i++) {
            fams |= job_matcher_families(&single[i]);
            job_matcher_destroy(&single[i]);
            flush_job_destroy(&jobs[i]);
        }
        assert_int_equal(match_group_families(&g), fams);
        match_group_destroy(&g);
        free(jobs);
        free(ptrs);
        free(single);
    }
    struct match_group g;
    const struct flush_job *none[1] = { NULL };
    assert_int_equal(match_group_init(&g, none, MATCH_GROUP_MAX + 1), EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_is_whole_zone),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_split_sizes),
        cmocka_unit_test(test_split_chunk_contents),
        cmocka_unit_test(test_split_any_sides),
        cmocka_unit_test(test_split_union_matches_original),
        cmocka_unit_test(test_split_large_counts),
        cmocka_unit_test(test_match_orig_both_orders),
        cmocka_unit_test(test_match_reply_nat),
        cmocka_unit_test(test_match_peers_any),
        cmocka_unit_test(test_match_zone),
        cmocka_unit_test(test_match_mark),
        cmocka_unit_test(test_parse_zone),
        cmocka_unit_test(test_parse_mark),
        cmocka_unit_test(test_match_v6_and_families),
        cmocka_unit_test(test_match_cidr_both_sides),
        cmocka_unit_test(test_family_part),
        cmocka_unit_test(test_family_part_matches_like_whole),
        cmocka_unit_test(test_selector_words),
        cmocka_unit_test(test_validate_selectors),
        cmocka_unit_test(test_match_direction_tuple),
        cmocka_unit_test(test_match_proto_ports_family),
        cmocka_unit_test(test_group_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
