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

static bool
matches(const struct flush_job *job, const struct ct_entry *e)
{
    struct job_matcher m;
    bool r;

    assert_int_equal(job_matcher_init(&m, job), 0);
    r = job_matcher_match(&m, e);
    job_matcher_destroy(&m);
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
