/*
 * test_wire.c: unit tests for wire.c (the parent/child message encoding and
 * the blocking send/receive loops).
 *
 * Decoders are fed exact-sized heap copies of their input, so that under
 * valgrind or ASan a read one byte past the end is caught, not just a wrong
 * answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "engine.h"
#include "job.h"
#include "wire.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

/* An exact-sized heap copy of n bytes, so overreads are visible. */
static uint8_t *
dup_exact(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);

    assert_non_null(c);
    if (n) {
        memcpy(c, p, n);
    }
    return c;
}

static void
assert_prefix_lists_equal(const struct ctf_prefix_list *a, const struct ctf_prefix_list *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(ctf_prefix_cmp(&a->items[i], &b->items[i]), 0);
    }
}

static void
assert_jobs_equal(const struct flush_job *a, const struct flush_job *b)
{
    assert_prefix_lists_equal(&a->local, &b->local);
    assert_prefix_lists_equal(&a->peers, &b->peers);
    assert_int_equal(a->local_any, b->local_any);
    assert_int_equal(a->peers_any, b->peers_any);
    assert_int_equal(a->has_zone, b->has_zone);
    assert_int_equal(a->zone, b->zone);
    assert_int_equal(a->has_mark, b->has_mark);
    assert_int_equal(a->mark, b->mark);
    assert_int_equal(a->mark_mask, b->mark_mask);
    assert_int_equal(a->direction, b->direction);
    assert_int_equal(a->tuple, b->tuple);
    assert_int_equal(a->proto, b->proto);
    assert_int_equal(a->has_dport, b->has_dport);
    assert_int_equal(a->dport_lo, b->dport_lo);
    assert_int_equal(a->dport_hi, b->dport_hi);
    assert_int_equal(a->family, b->family);
}

/* A raw prefix as the wire carries it: family, plen, address bytes. */
static void
put_raw_prefix(struct wbuf *b, uint8_t family, uint8_t plen, const void *addr, size_t alen)
{
    wbuf_put_u8(b, family);
    wbuf_put_u8(b, plen);
    wbuf_put_bytes(b, addr, alen);
}

/* Decodes a one-prefix list from b; returns whether the decode succeeded. */
static bool
decode_list(const struct wbuf *b, struct ctf_prefix_list *l)
{
    uint8_t *copy = dup_exact(b->data, b->len);
    struct rbuf r;

    rbuf_init(&r, copy, b->len);
    rbuf_get_prefix_list(&r, l);
    bool ok = rbuf_ok(&r);
    free(copy);
    return ok;
}

/* A job with a bit of everything: v4 and v6, hosts and CIDRs, zone, mark. */
static void
make_full_job(struct flush_job *job)
{
    job_make(job, "10.0.0.5,fd00::1,192.168.0.0/16", "1.2.3.4,2001:db8::/32,0.0.0.0/0");
    job->has_zone = true;
    job->zone = 65535;
    job->has_mark = true;
    job->mark = 0xdead0000;
    job->mark_mask = 0xffff0000;
    job->direction = FLUSH_DIRECTION_EGRESS;
    job->tuple = FLUSH_TUPLE_ORIG;
    job->proto = 132;                   /* sctp: ports, but not TCP or UDP. */
    job->has_dport = true;
    job->dport_lo = 1;
    job->dport_hi = 65535;
    job->family = FLUSH_FAMILY_IPV6;
}

static void
fill_stats(struct engine_stats *st)
{
    memset(st, 0, sizeof *st);
    st->strategy = CT_STRATEGY_FILTERED_FLUSH;
    st->strategies_used = (1u << CT_STRATEGY_DUMP) | (1u << CT_STRATEGY_FILTERED_FLUSH);
    st->table_before = 1000001;
    st->scanned = UINT64_MAX;
    st->matched = 3;
    st->deleted = 4;
    st->already_gone = 5;
    st->errors = 6;
    st->chunks = 7;
    st->passes = 8;
    st->dump_restarts = UINT32_MAX;
    st->shared = 17;
    st->elapsed_ms = 1234.5625;
}

/* ---- Scalars, bytes, strings. ---- */

static void
test_scalars_round_trip(void **state)
{
    static const uint8_t blob[5] = { 1, 2, 0, 4, 5 };
    struct wbuf b;
    struct rbuf r;
    uint8_t got[5];

    wbuf_init(&b);
    wbuf_put_u8(&b, 0);
    wbuf_put_u8(&b, UINT8_MAX);
    wbuf_put_u16(&b, 0x1234);
    wbuf_put_u16(&b, UINT16_MAX);
    wbuf_put_u32(&b, 0xdeadbeef);
    wbuf_put_u32(&b, UINT32_MAX);
    wbuf_put_u64(&b, 0x0123456789abcdefULL);
    wbuf_put_u64(&b, UINT64_MAX);
    wbuf_put_double(&b, -0.0);
    wbuf_put_double(&b, DBL_MAX);
    wbuf_put_double(&b, 1.0 / 3.0);
    wbuf_put_double(&b, INFINITY);
    wbuf_put_double(&b, NAN);
    wbuf_put_bytes(&b, blob, sizeof blob);
    wbuf_put_bytes(&b, NULL, 0);
    assert_false(b.oom);
    assert_int_equal(b.len, 2 + 4 + 8 + 16 + 5 * 8 + 5);

    uint8_t *copy = dup_exact(b.data, b.len);
    rbuf_init(&r, copy, b.len);
    assert_int_equal(rbuf_get_u8(&r), 0);
    assert_int_equal(rbuf_get_u8(&r), UINT8_MAX);
    assert_int_equal(rbuf_get_u16(&r), 0x1234);
    assert_int_equal(rbuf_get_u16(&r), UINT16_MAX);
    assert_int_equal(rbuf_get_u32(&r), 0xdeadbeef);
    assert_int_equal(rbuf_get_u32(&r), UINT32_MAX);
    assert_true(rbuf_get_u64(&r) == 0x0123456789abcdefULL);
    assert_true(rbuf_get_u64(&r) == UINT64_MAX);
    double z = rbuf_get_double(&r);
    assert_true(z == 0.0 && signbit(z));
    assert_true(rbuf_get_double(&r) == DBL_MAX);
    assert_true(rbuf_get_double(&r) == 1.0 / 3.0);
    assert_true(isinf(rbuf_get_double(&r)));
    assert_true(isnan(rbuf_get_double(&r)));
    assert_false(rbuf_ok(&r));              /* The blob is still unread. */
    assert_true(rbuf_get_bytes(&r, got, sizeof got));
    assert_memory_equal(got, blob, sizeof blob);
    assert_true(rbuf_get_bytes(&r, got, 0));
    assert_true(rbuf_ok(&r));

    /* One more read runs past the end: sticky error, zero value. */
    assert_int_equal(rbuf_get_u32(&r), 0);
    assert_true(r.err);
    assert_false(rbuf_ok(&r));
    assert_false(rbuf_get_bytes(&r, got, 0));   /* Sticky, even for nothing. */
    free(copy);
    wbuf_destroy(&b);
    wbuf_destroy(&b);                       /* Twice is harmless. */
    wbuf_destroy(NULL);
}

static void
test_rbuf_short_reads(void **state)
{
    static const uint8_t three[3] = { 1, 2, 3 };
    struct rbuf r;

    /* A too-short read consumes nothing and poisons the rest. */
    uint8_t *copy = dup_exact(three, sizeof three);
    rbuf_init(&r, copy, sizeof three);
    assert_int_equal(rbuf_get_u32(&r), 0);
    assert_true(r.err);
    assert_int_equal(rbuf_get_u8(&r), 0);   /* Would fit, but err is sticky. */
    assert_false(rbuf_ok(&r));
    free(copy);

    /* An empty buffer is ok until something is read from it. */
    rbuf_init(&r, NULL, 0);
    assert_true(rbuf_ok(&r));
    assert_int_equal(rbuf_get_u8(&r), 0);
    assert_false(rbuf_ok(&r));
}

static void
test_wbuf_growth(void **state)
{
    struct wbuf b;
    struct rbuf r;

    wbuf_init(&b);
    for (uint32_t i = 0; i < 100000; i++) {
        wbuf_put_u32(&b, i);
    }
    assert_false(b.oom);
    assert_int_equal(b.len, 400000);
    assert_true(b.cap >= b.len);
    rbuf_init(&r, b.data, b.len);
    for (uint32_t i = 0; i < 100000; i++) {
        if (rbuf_get_u32(&r) != i) {
            fail_msg("item %u", i);
        }
    }
    assert_true(rbuf_ok(&r));
    wbuf_destroy(&b);
}

static void
test_str_round_trip(void **state)
{
    char *max = malloc(WIRE_MAX_STR + 1);
    struct wbuf b;
    struct rbuf r;

    assert_non_null(max);
    memset(max, 'x', WIRE_MAX_STR);
    max[WIRE_MAX_STR] = '\0';

    wbuf_init(&b);
    wbuf_put_str(&b, "eth0");
    wbuf_put_str(&b, "");
    wbuf_put_str(&b, NULL);
    wbuf_put_str(&b, "caf\xc3\xa9");
    wbuf_put_str(&b, max);
    assert_false(b.oom);

    uint8_t *copy = dup_exact(b.data, b.len);
    rbuf_init(&r, copy, b.len);
    char *s1 = rbuf_get_str(&r);
    char *s2 = rbuf_get_str(&r);
    char *s3 = rbuf_get_str(&r);
    char *s4 = rbuf_get_str(&r);
    char *s5 = rbuf_get_str(&r);
    assert_true(rbuf_ok(&r));
    assert_string_equal(s1, "eth0");
    assert_string_equal(s2, "");
    assert_null(s3);                        /* NULL is not an error. */
    assert_string_equal(s4, "caf\xc3\xa9");
    assert_string_equal(s5, max);
    free(s1);
    free(s2);
    free(s4);
    free(s5);
    free(copy);
    wbuf_destroy(&b);

    /* One byte over the limit: the writer voids its buffer. */
    char *over = malloc(WIRE_MAX_STR + 2);
    assert_non_null(over);
    memset(over, 'y', WIRE_MAX_STR + 1);
    over[WIRE_MAX_STR + 1] = '\0';
    wbuf_init(&b);
    wbuf_put_str(&b, over);
    assert_true(b.oom);
    wbuf_put_u8(&b, 1);                     /* Sticky. */
    assert_true(b.oom);
    wbuf_destroy(&b);
    free(over);
    free(max);
}

static void
test_str_bad(void **state)
{
    struct wbuf b;
    struct rbuf r;
    uint8_t *copy;

    /* Longer than WIRE_MAX_STR on the wire, with all the bytes present. */
    wbuf_init(&b);
    wbuf_put_u32(&b, WIRE_MAX_STR + 1);
    for (unsigned int i = 0; i < WIRE_MAX_STR + 1; i++) {
        wbuf_put_u8(&b, 'a');
    }
    copy = dup_exact(b.data, b.len);
    rbuf_init(&r, copy, b.len);
    assert_null(rbuf_get_str(&r));
    assert_true(r.err);
    free(copy);
    wbuf_destroy(&b);

    /* An embedded NUL. */
    wbuf_init(&b);
    wbuf_put_u32(&b, 3);
    wbuf_put_bytes(&b, "a\0b", 3);
    copy = dup_exact(b.data, b.len);
    rbuf_init(&r, copy, b.len);
    assert_null(rbuf_get_str(&r));
    assert_true(r.err);
    free(copy);
    wbuf_destroy(&b);

    /* A length beyond the bytes left. */
    wbuf_init(&b);
    wbuf_put_u32(&b, 10);
    wbuf_put_bytes(&b, "abc", 3);
    copy = dup_exact(b.data, b.len);
    rbuf_init(&r, copy, b.len);
    assert_null(rbuf_get_str(&r));
    assert_true(r.err);
    free(copy);
    wbuf_destroy(&b);

    /* A length cut short. */
    wbuf_init(&b);
    wbuf_put_u16(&b, 1);
    copy = dup_exact(b.data, b.len);
    rbuf_init(&r, copy, b.len);
    assert_null(rbuf_get_str(&r));
    assert_true(r.err);
    free(copy);
    wbuf_destroy(&b);

    /* After an error, even a NULL string reads as an error. */
    wbuf_init(&b);
    wbuf_put_u32(&b, UINT32_MAX);
    copy = dup_exact(b.data, b.len);
    rbuf_init(&r, copy, b.len);
    r.err = true;
    assert_null(rbuf_get_str(&r));
    assert_false(rbuf_ok(&r));
    free(copy);
    wbuf_destroy(&b);
}

/* ---- Prefix lists. ---- */

static void
test_prefix_list_round_trip(void **state)
{
    static const char *const items[] = {
        "10.0.0.5", "0.0.0.0/0", "192.168.0.0/16", "255.255.255.255",
        "fd00::1", "::/0", "2001:db8::/32", "fe80::1:2:3:4",
    };
    struct ctf_prefix_list in = { 0 }, out = { 0 }, empty = { 0 };
    struct wbuf b;

    for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
        struct ctf_prefix p = pfx(items[i]);
        assert_int_equal(ctf_prefix_list_add(&in, &p), 0);
    }
    wbuf_init(&b);
    wbuf_put_prefix_list(&b, &in);
    assert_int_equal(b.len, 4 + 4 * 6 + 4 * 18);
    assert_true(decode_list(&b, &out));
    assert_prefix_lists_equal(&in, &out);
    wbuf_destroy(&b);

    /* Decoding appends. */
    wbuf_init(&b);
    wbuf_put_prefix_list(&b, &in);
    assert_true(decode_list(&b, &out));
    assert_int_equal(out.n, 2 * in.n);
    wbuf_destroy(&b);
    ctf_prefix_list_destroy(&out);

    /* The empty list. */
    wbuf_init(&b);
    wbuf_put_prefix_list(&b, &empty);
    assert_int_equal(b.len, 4);
    assert_true(decode_list(&b, &out));
    assert_int_equal(out.n, 0);
    wbuf_destroy(&b);

    ctf_prefix_list_destroy(&out);
    ctf_prefix_list_destroy(&in);
}

static void
test_prefix_list_bad(void **state)
{
    static const uint8_t v4_host[4] = { 10, 0, 0, 5 };
    static const uint8_t v4_net[4] = { 10, 0, 0, 0 };
    static const uint8_t v6_host[16] = { 0xfd, [15] = 1 };
    static const uint8_t zero16[16];
    static const struct {
        const char *what;
        uint8_t family;
        uint8_t plen;
        const uint8_t *addr;
        size_t alen;
    } cases[] = {
        { "v4 host bits", AF_INET, 24, v4_host, 4 },
        { "v4 plen 33", AF_INET, 33, v4_net, 4 },
        { "v4 plen 255", AF_INET, 255, v4_net, 4 },
        { "v6 host bits", AF_INET6, 64, v6_host, 16 },
        { "v6 plen 129", AF_INET6, 129, zero16, 16 },
        { "family 99", 99, 32, v4_host, 4 },
        { "family 0", 0, 0, v4_net, 4 },
        { "family AF_UNIX", AF_UNIX, 0, zero16, 16 },
        { "v6 cut short", AF_INET6, 128, v6_host, 8 },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ctf_prefix_list l = { 0 };
        struct wbuf b;

        wbuf_init(&b);
        wbuf_put_u32(&b, 2);
        put_raw_prefix(&b, AF_INET, 32, v4_host, 4);    /* A good one first. */
        put_raw_prefix(&b, cases[i].family, cases[i].plen, cases[i].addr, cases[i].alen);
        if (decode_list(&b, &l)) {
            fail_msg("%s: accepted", cases[i].what);
        }
        wbuf_destroy(&b);
        ctf_prefix_list_destroy(&l);
    }

    /* The good forms of the same, as a control. */
    struct ctf_prefix_list l = { 0 };
    struct wbuf b;
    wbuf_init(&b);
    wbuf_put_u32(&b, 3);
    put_raw_prefix(&b, AF_INET, 24, v4_net, 4);
    put_raw_prefix(&b, AF_INET, 32, v4_host, 4);
    put_raw_prefix(&b, AF_INET6, 128, v6_host, 16);
    assert_true(decode_list(&b, &l));
    assert_int_equal(l.n, 3);
    wbuf_destroy(&b);
    ctf_prefix_list_destroy(&l);
}

static void
test_prefix_list_count_cap(void **state)
{
    static const uint8_t v4[4] = { 10, 0, 0, 1 };
    struct ctf_prefix_list l = { 0 };
    struct wbuf b;

    /* A huge count with nothing behind it: refused before any item is
     * allocated. */
    wbuf_init(&b);
    wbuf_put_u32(&b, UINT32_MAX);
    put_raw_prefix(&b, AF_INET, 32, v4, 4);
    assert_false(decode_list(&b, &l));
    assert_int_equal(l.n, 0);
    assert_null(l.items);
    wbuf_destroy(&b);

    /* One more than the bytes can hold. */
    wbuf_init(&b);
    wbuf_put_u32(&b, 3);
    put_raw_prefix(&b, AF_INET, 32, v4, 4);
    put_raw_prefix(&b, AF_INET, 32, v4, 4);
    assert_false(decode_list(&b, &l));
    wbuf_destroy(&b);
    ctf_prefix_list_destroy(&l);

    /* Exactly as many as announced. */
    wbuf_init(&b);
    wbuf_put_u32(&b, 2);
    put_raw_prefix(&b, AF_INET, 32, v4, 4);
    put_raw_prefix(&b, AF_INET, 32, v4, 4);
    assert_true(decode_list(&b, &l));
    assert_int_equal(l.n, 2);
    wbuf_destroy(&b);
    ctf_prefix_list_destroy(&l);
}

/* ---- Jobs, job parameters, engine stats. ---- */

static void
test_job_round_trip(void **state)
{
    struct flush_job in, out;
    struct wbuf b;
    struct rbuf r;

    make_full_job(&in);
    wbuf_init(&b);
    wbuf_put_job(&b, &in);
    assert_false(b.oom);
    uint8_t *copy = dup_exact(b.data, b.len);
    flush_job_init(&out);
    rbuf_init(&r, copy, b.len);
    rbuf_get_job(&r, &out);
    assert_true(rbuf_ok(&r));
    assert_jobs_equal(&in, &out);
    free(copy);
    flush_job_destroy(&out);
    flush_job_destroy(&in);
    wbuf_destroy(&b);

    /* "Everything in zone 7", peers any. */
    flush_job_init(&in);
    in.local_any = in.peers_any = true;
    in.has_zone = true;
    in.zone = 7;
    wbuf_init(&b);
    wbuf_put_job(&b, &in);
    copy = dup_exact(b.data, b.len);
    flush_job_init(&out);
    rbuf_init(&r, copy, b.len);
    rbuf_get_job(&r, &out);
    assert_true(rbuf_ok(&r));
    assert_jobs_equal(&in, &out);
    assert_true(flush_job_is_whole_zone(&out));
    free(copy);
    flush_job_destroy(&out);
    flush_job_destroy(&in);
    wbuf_destroy(&b);
}

/* Encodes a job with its fields given one by one, bypassing the checks a
 * real flush_job would pass. */
struct sel_bytes {                      /* The selectors as raw wire bytes. */
    uint8_t direction, tuple, proto, has_dport;
    uint16_t lo, hi;
    uint8_t family;
    uint8_t datapath;
};

static void
put_job_fields_sel(struct wbuf *b, const char *local, const char *peers, uint8_t local_any,
                   uint8_t peers_any, uint8_t has_zone, uint8_t has_mark,
                   const struct sel_bytes *sel)
{
    struct ctf_prefix_list l = { 0 }, p = { 0 };
    char err[128];

    if ((local && ctf_prefix_list_parse(&l, local, err, sizeof err))
        || (peers && ctf_prefix_list_parse(&p, peers, err, sizeof err))) {
        fail_msg("helper: %s", err);
    }
    wbuf_put_prefix_list(b, &l);
    wbuf_put_prefix_list(b, &p);
    wbuf_put_u8(b, local_any);
    wbuf_put_u8(b, peers_any);
    wbuf_put_u8(b, has_zone);
    wbuf_put_u16(b, 5);
    wbuf_put_u8(b, has_mark);
    wbuf_put_u32(b, 1);
    wbuf_put_u32(b, 1);
    wbuf_put_u8(b, sel->direction);
    wbuf_put_u8(b, sel->tuple);
    wbuf_put_u8(b, sel->proto);
    wbuf_put_u8(b, sel->has_dport);
    wbuf_put_u16(b, sel->lo);
    wbuf_put_u16(b, sel->hi);
    wbuf_put_u8(b, sel->family);
    wbuf_put_u8(b, sel->datapath);
    ctf_prefix_list_destroy(&l);
    ctf_prefix_list_destroy(&p);
}

static void
put_job_fields(struct wbuf *b, const char *local, const char *peers, uint8_t local_any,
               uint8_t peers_any, uint8_t has_zone, uint8_t has_mark)
{
    static const struct sel_bytes none = { 0, 0, 0, 0, 0, 0, 0, 0 };

    put_job_fields_sel(b, local, peers, local_any, peers_any, has_zone, has_mark, &none);
}

static void
test_job_invalid(void **state)
{
    static const struct {
        const char *what;
        const char *local, *peers;
        uint8_t local_any, peers_any, has_zone, has_mark;
        bool ok;
    } cases[] = {
        { "control", "10.0.0.1", "10.0.0.2", 0, 0, 0, 0, true },
        { "control any peers", "10.0.0.1", NULL, 0, 1, 0, 1, true },
        { "control whole zone", NULL, NULL, 1, 1, 1, 0, true },
        { "empty local", NULL, "10.0.0.2", 0, 0, 0, 0, false },
        { "empty peers", "10.0.0.1", NULL, 0, 0, 0, 0, false },
        { "everything everywhere", NULL, NULL, 1, 1, 0, 0, false },
        { "local any, peers listed", NULL, "10.0.0.2", 1, 0, 1, 0, false },
        { "local any with addresses", "10.0.0.1", NULL, 1, 1, 1, 0, false },
        { "peers any with addresses", "10.0.0.1", "10.0.0.2", 0, 1, 0, 0, false },
        { "bool 2", "10.0.0.1", "10.0.0.2", 0, 0, 2, 0, false },
        { "bool 255", "10.0.0.1", "10.0.0.2", 0, 0, 0, 255, false },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct flush_job job;
        struct wbuf b;
        struct rbuf r;

        wbuf_init(&b);
        put_job_fields(&b, cases[i].local, cases[i].peers, cases[i].local_any,
                       cases[i].peers_any, cases[i].has_zone, cases[i].has_mark);
        uint8_t *copy = dup_exact(b.data, b.len);
        flush_job_init(&job);
        rbuf_init(&r, copy, b.len);
        rbuf_get_job(&r, &job);
        if (rbuf_ok(&r) != cases[i].ok) {
            fail_msg("%s: %s", cases[i].what, cases[i].ok ? "refused" : "accepted");
        }
        flush_job_destroy(&job);
        free(copy);
        wbuf_destroy(&b);
    }
}

/* Selector bytes the reader must refuse (out of range, or a job that
 * flush_job_validate refuses), and ones it must take. */
static void
test_job_selectors_invalid(void **state)
{
    static const struct {
        const char *what;
        const char *local, *peers;
        struct sel_bytes sel;
        bool ok;
    } cases[] = {
        { "control", "10.0.0.1", "10.0.0.2", { 0, 0, 0, 0, 0, 0, 0, 0 }, true },
        { "every selector", "10.0.0.1,fd00::1", "10.0.0.2",
          { FLUSH_DIRECTION_INGRESS, FLUSH_TUPLE_ORIG, 17, 1, 53, 54, FLUSH_FAMILY_IPV4, 0 }, true },
        { "direction 3", "10.0.0.1", "10.0.0.2", { 3, 0, 0, 0, 0, 0, 0, 0 }, false },
        { "direction 255", "10.0.0.1", "10.0.0.2", { 255, 0, 0, 0, 0, 0, 0, 0 }, false },
        { "tuple 2", "10.0.0.1", "10.0.0.2", { 0, 2, 0, 0, 0, 0, 0, 0 }, false },
        { "family 3", "10.0.0.1", "10.0.0.2", { 0, 0, 0, 0, 0, 0, 3, 0 }, false },
        { "has_dport 2", "10.0.0.1", "10.0.0.2", { 0, 0, 6, 2, 1, 1, 0, 0 }, false },
        { "dport without proto", "10.0.0.1", "10.0.0.2", { 0, 0, 0, 1, 1, 1, 0, 0 }, false },
        { "dport with icmp", "10.0.0.1", "10.0.0.2", { 0, 0, 1, 1, 1, 1, 0, 0 }, false },
        { "empty port range", "10.0.0.1", "10.0.0.2", { 0, 0, 6, 1, 9, 8, 0, 0 }, false },
        { "icmp in ipv6", "fd00::1", "fd00::2", { 0, 0, 1, 0, 0, 0, FLUSH_FAMILY_IPV6, 0 }, false },
        { "ipv6 job, v4 addresses", "10.0.0.1", "10.0.0.2",
          { 0, 0, 0, 0, 0, 0, FLUSH_FAMILY_IPV6, 0 }, false },
        { "netdev datapath", "10.0.0.1", "10.0.0.2",
          { 0, 0, 0, 0, 0, 0, 0, FLUSH_DATAPATH_NETDEV }, true },
        { "datapath 2", "10.0.0.1", "10.0.0.2", { 0, 0, 0, 0, 0, 0, 0, 2 }, false },
        { "datapath 255", "10.0.0.1", "10.0.0.2", { 0, 0, 0, 0, 0, 0, 0, 255 }, false },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct flush_job job;
        struct wbuf b;
        struct rbuf r;

        wbuf_init(&b);
        put_job_fields_sel(&b, cases[i].local, cases[i].peers, 0, 0, 0, 0, &cases[i].sel);
        uint8_t *copy = dup_exact(b.data, b.len);
        flush_job_init(&job);
        rbuf_init(&r, copy, b.len);
        rbuf_get_job(&r, &job);
        if (rbuf_ok(&r) != cases[i].ok) {
            fail_msg("%s: %s", cases[i].what, cases[i].ok ? "refused" : "accepted");
        }
        if (cases[i].ok && i == 1) {
            assert_int_equal(job.direction, FLUSH_DIRECTION_INGRESS);
            assert_int_equal(job.tuple, FLUSH_TUPLE_ORIG);
            assert_int_equal(job.proto, 17);
            assert_true(job.has_dport && job.dport_lo == 53 && job.dport_hi == 54);
            assert_int_equal(job.family, FLUSH_FAMILY_IPV4);
        }
        flush_job_destroy(&job);
        free(copy);
        wbuf_destroy(&b);
    }
}

static void
test_job_params_round_trip(void **state)
{
    struct wire_job_params in = {
        .strategy = CT_STRATEGY_FILTERED_DUMP,
        .max_local = 1,
        .max_peers = UINT32_MAX,
        .batch_bytes = 65536,
        .max_delete_rate = UINT64_MAX - 1,
        .dump_threads = 3,
        .progress_interval_ms = 250,
    };
    struct wire_job_params out;
    struct wbuf b;
    struct rbuf r;

    wbuf_init(&b);
    wbuf_put_job_params(&b, &in);
    uint8_t *copy = dup_exact(b.data, b.len);
    memset(&out, 0xa5, sizeof out);
    rbuf_init(&r, copy, b.len);
    rbuf_get_job_params(&r, &out);
    assert_true(rbuf_ok(&r));
    assert_int_equal(out.strategy, in.strategy);
    assert_int_equal(out.max_local, in.max_local);
    assert_int_equal(out.max_peers, in.max_peers);
    assert_int_equal(out.batch_bytes, in.batch_bytes);
    assert_true(out.max_delete_rate == in.max_delete_rate);
    assert_int_equal(out.dump_threads, in.dump_threads);
    assert_int_equal(out.progress_interval_ms, in.progress_interval_ms);
    free(copy);
    wbuf_destroy(&b);

    /* An unknown strategy is refused, and so is a thread count no
     * configuration can give. */
    for (int i = 0; i < 2; i++) {
        in.strategy = i ? CT_STRATEGY_AUTO : CT_STRATEGY_COUNT;
        in.dump_threads = i ? ENGINE_MAX_DUMP_THREADS + 1 : 1;
        wbuf_init(&b);
        wbuf_put_job_params(&b, &in);
        copy = dup_exact(b.data, b.len);
        rbuf_init(&r, copy, b.len);
        rbuf_get_job_params(&r, &out);
        assert_false(rbuf_ok(&r));
        free(copy);
        wbuf_destroy(&b);
    }
}

static void
test_engine_stats_round_trip(void **state)
{
    struct engine_stats in, out;
    struct wbuf b;
    struct rbuf r;

    fill_stats(&in);
    wbuf_init(&b);
    wbuf_put_engine_stats(&b, &in);
    uint8_t *copy = dup_exact(b.data, b.len);
    memset(&out, 0x5a, sizeof out);
    rbuf_init(&r, copy, b.len);
    rbuf_get_engine_stats(&r, &out);
    assert_true(rbuf_ok(&r));
    assert_int_equal(out.strategy, in.strategy);
    assert_int_equal(out.strategies_used, in.strategies_used);
    assert_true(out.table_before == in.table_before);
    assert_true(out.scanned == in.scanned);
    assert_true(out.matched == in.matched);
    assert_true(out.deleted == in.deleted);
    assert_true(out.already_gone == in.already_gone);
    assert_true(out.errors == in.errors);
    assert_int_equal(out.chunks, in.chunks);
    assert_int_equal(out.passes, in.passes);
    assert_int_equal(out.dump_restarts, in.dump_restarts);
    assert_int_equal(out.shared, in.shared);
    assert_true(out.elapsed_ms == in.elapsed_ms);
    free(copy);
    wbuf_destroy(&b);

    /* A strategy out of range never reaches the enum. */
    wbuf_init(&b);
    wbuf_put_engine_stats(&b, &in);
    uint32_t bad = 99;
    memcpy(b.data, &bad, sizeof bad);
    copy = dup_exact(b.data, b.len);
    rbuf_init(&r, copy, b.len);
    rbuf_get_engine_stats(&r, &out);
    assert_false(rbuf_ok(&r));
    assert_int_equal(out.strategy, CT_STRATEGY_AUTO);
    free(copy);
    wbuf_destroy(&b);
}

/* A whole WIRE_K_JOB payload: params, then two jobs with their ids. */
static void
build_job_message(struct wbuf *b)
{
    struct wire_job_params jp = { .strategy = CT_STRATEGY_DUMP, .max_local = 100 };
    struct flush_job job, whole;
    const struct flush_job *jobs[2] = { &job, &whole };
    const uint64_t ids[2] = { 42, 43 };

    make_full_job(&job);
    flush_job_init(&whole);
    whole.local_any = whole.peers_any = true;
    whole.has_zone = true;
    whole.zone = 9;
    wbuf_init(b);
    wbuf_put_job_batch(b, &jp, 2, ids, jobs);
    assert_false(b->oom);
    flush_job_destroy(&job);
}

static bool
decode_batch(const uint8_t *data, size_t len, struct wire_job_batch *batch)
{
    struct rbuf r;

    rbuf_init(&r, data, len);
    rbuf_get_job_batch(&r, batch);
    return rbuf_ok(&r);
}

static void
test_job_batch_round_trip(void **state)
{
    struct wire_job_batch *batch = calloc(1, sizeof *batch);
    struct flush_job want;
    struct wbuf b;

    assert_non_null(batch);
    build_job_message(&b);
    uint8_t *copy = dup_exact(b.data, b.len);
    assert_true(decode_batch(copy, b.len, batch));
    assert_int_equal(batch->n, 2);
    assert_int_equal(batch->id[0], 42);
    assert_int_equal(batch->id[1], 43);
    assert_int_equal(batch->params.strategy, CT_STRATEGY_DUMP);
    assert_int_equal(batch->params.max_local, 100);
    make_full_job(&want);
    assert_jobs_equal(&batch->job[0], &want);
    assert_true(flush_job_is_whole_zone(&batch->job[1]));
    assert_int_equal(batch->job[1].zone, 9);
    flush_job_destroy(&want);
    wire_job_batch_destroy(batch);
    free(copy);
    wbuf_destroy(&b);

    /* The writer refuses a count the reader would. */
    struct wire_job_params jp = { 0 };
    const uint64_t ids[1] = { 1 };
    const struct flush_job *none[1] = { NULL };
    wbuf_init(&b);
    wbuf_put_job_batch(&b, &jp, 0, ids, none);
    assert_true(b.oom);
    wbuf_destroy(&b);
    wbuf_init(&b);
    wbuf_put_job_batch(&b, &jp, WIRE_MAX_JOBS + 1, ids, none);
    assert_true(b.oom);
    wbuf_destroy(&b);

    /* The most the reader takes, and one more. */
    struct flush_job one;
    job_make(&one, "10.0.0.1", "any");
    for (size_t n = WIRE_MAX_JOBS; n <= WIRE_MAX_JOBS + 1; n++) {
        wbuf_init(&b);
        wbuf_put_job_params(&b, &jp);
        wbuf_put_u32(&b, (uint32_t) n);
        for (size_t i = 0; i < n; i++) {
            wbuf_put_u64(&b, i + 1);
            wbuf_put_job(&b, &one);
        }
        bool ok = decode_batch(b.data, b.len, batch);
        assert_int_equal(ok, n == WIRE_MAX_JOBS);
        if (ok) {
            assert_int_equal(batch->n, WIRE_MAX_JOBS);
        }
        wire_job_batch_destroy(batch);
        wbuf_destroy(&b);
    }
    /* No job; and one id twice. */
    wbuf_init(&b);
    wbuf_put_job_params(&b, &jp);
    wbuf_put_u32(&b, 0);
    assert_false(decode_batch(b.data, b.len, batch));
    wire_job_batch_destroy(batch);
    wbuf_destroy(&b);
    wbuf_init(&b);
    wbuf_put_job_params(&b, &jp);
    wbuf_put_u32(&b, 3);
    for (int i = 0; i < 3; i++) {
        wbuf_put_u64(&b, i == 2 ? 1 : (uint64_t) i + 1);
        wbuf_put_job(&b, &one);
    }
    assert_false(decode_batch(b.data, b.len, batch));
    wire_job_batch_destroy(batch);
    wbuf_destroy(&b);
    flush_job_destroy(&one);
    free(batch);
}

static void
test_job_message_truncated(void **state)
{
    struct wire_job_batch *batch = calloc(1, sizeof *batch);
    struct wbuf b;

    assert_non_null(batch);
    build_job_message(&b);
    for (size_t len = 0; len <= b.len; len++) {
        uint8_t *copy = dup_exact(b.data, len);
        bool ok = decode_batch(copy, len, batch);

        if (len < b.len && ok) {
            fail_msg("cut to %zu of %zu bytes: accepted", len, b.len);
        }
        if (len == b.len && (!ok || batch->n != 2 || batch->id[0] != 42
                             || batch->job[0].local.n != 3 || batch->job[0].peers.n != 3)) {
            fail_msg("the whole message is refused");
        }
        wire_job_batch_destroy(batch);
        free(copy);
    }

    /* One byte too many is an error too: rbuf_ok wants every byte read. */
    wbuf_put_u8(&b, 0);
    assert_false(decode_batch(b.data, b.len, batch));
    wire_job_batch_destroy(batch);
    wbuf_destroy(&b);
    free(batch);
}

static void
test_job_message_corrupted(void **state)
{
    /* Every single byte flipped to every interesting value: decoding may
     * accept or refuse, but must not crash, leak or read out of bounds. */
    static const uint8_t vals[] = { 0x00, 0x01, 0x02, 0x0a, 0x21, 0x80, 0xfe, 0xff };
    struct wire_job_batch *batch = calloc(1, sizeof *batch);
    struct wbuf b;

    assert_non_null(batch);
    build_job_message(&b);
    for (size_t i = 0; i < b.len; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            uint8_t *copy = dup_exact(b.data, b.len);

            copy[i] = vals[v];
            if (decode_batch(copy, b.len, batch)) {
                char why[160];
                for (size_t k = 0; k < batch->n; k++) {
                    assert_int_equal(flush_job_validate(&batch->job[k], why, sizeof why), 0);
                }
                assert_true(batch->n >= 1 && batch->n <= WIRE_MAX_JOBS);
            }
            wire_job_batch_destroy(batch);
            free(copy);
        }
    }
    wbuf_destroy(&b);
    free(batch);
}

/* ---- Framing. ---- */

static void
put_header(uint8_t *buf, uint32_t type, uint32_t len)
{
    memcpy(buf, &type, 4);
    memcpy(buf + 4, &len, 4);
}

static void
test_frame_peek(void **state)
{
    uint8_t buf[WIRE_HDR_LEN + 16];
    uint32_t type;
    size_t len;

    memset(buf, 0, sizeof buf);
    put_header(buf, WIRE_K_DONE, 16);

    /* Partial headers: need more. */
    for (size_t avail = 0; avail < WIRE_HDR_LEN; avail++) {
        assert_int_equal(wire_frame_peek(buf, avail, &type, &len), 0);
    }
    /* Header, partial payload: need more, but type and length are known. */
    for (size_t avail = WIRE_HDR_LEN; avail < sizeof buf; avail++) {
        len = 0;
        assert_int_equal(wire_frame_peek(buf, avail, &type, &len), 0);
        assert_int_equal(len, 16);
    }
    assert_int_equal(wire_frame_peek(buf, sizeof buf, &type, &len), 1);
    assert_int_equal(type, WIRE_K_DONE);
    assert_int_equal(len, 16);

    /* Bytes of the next message behind this one do not matter. */
    uint8_t two[2 * WIRE_HDR_LEN];
    put_header(two, WIRE_W_SYNC_BEGIN, 0);
    put_header(two + WIRE_HDR_LEN, WIRE_W_SYNC_END, 0);
    assert_int_equal(wire_frame_peek(two, sizeof two, &type, &len), 1);
    assert_int_equal(type, WIRE_W_SYNC_BEGIN);
    assert_int_equal(len, 0);

    /* The largest allowed length is not an error, just not complete. */
    put_header(buf, WIRE_K_JOB, WIRE_MAX_PAYLOAD);
    assert_int_equal(wire_frame_peek(buf, sizeof buf, &type, &len), 0);
    assert_int_equal(len, WIRE_MAX_PAYLOAD);

    /* Over the limit: refused as soon as the header is in. */
    put_header(buf, WIRE_K_JOB, WIRE_MAX_PAYLOAD + 1);
    assert_int_equal(wire_frame_peek(buf, WIRE_HDR_LEN - 1, &type, &len), 0);
    errno = 0;
    assert_int_equal(wire_frame_peek(buf, WIRE_HDR_LEN, &type, &len), -1);
    assert_int_equal(errno, EMSGSIZE);
    put_header(buf, WIRE_K_JOB, UINT32_MAX);
    assert_int_equal(wire_frame_peek(buf, sizeof buf, &type, &len), -1);
}

/* ---- Sending and receiving through a socketpair. ---- */

static void
make_pair(int sv[2], int bufsize)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    if (bufsize) {
        /* Small buffers so that big payloads need many short writes. */
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    }
}

static void
test_send_recv_small(void **state)
{
    struct wbuf b;
    uint8_t *payload;
    uint32_t type;
    size_t len;
    int sv[2];

    make_pair(sv, 0);
    wbuf_init(&b);
    wbuf_put_u64(&b, 7);
    wbuf_put_str(&b, "done");
    assert_int_equal(wire_send(sv[0], WIRE_K_DONE, &b), 0);
    assert_int_equal(wire_send(sv[0], WIRE_W_SYNC_BEGIN, NULL), 0);
    struct wbuf empty;
    wbuf_init(&empty);
    assert_int_equal(wire_send(sv[0], WIRE_W_SYNC_END, &empty), 0);

    assert_int_equal(wire_recv(sv[1], &type, &payload, &len), 0);
    assert_int_equal(type, WIRE_K_DONE);
    assert_int_equal(len, b.len);
    assert_memory_equal(payload, b.data, len);
    free(payload);

    assert_int_equal(wire_recv(sv[1], &type, &payload, &len), 0);
    assert_int_equal(type, WIRE_W_SYNC_BEGIN);
    assert_int_equal(len, 0);
    assert_null(payload);

    assert_int_equal(wire_recv(sv[1], &type, &payload, &len), 0);
    assert_int_equal(type, WIRE_W_SYNC_END);
    assert_null(payload);

    /* A clean close at a message boundary. */
    close(sv[0]);
    assert_int_equal(wire_recv(sv[1], &type, &payload, &len), ENOTCONN);
    assert_null(payload);
    assert_int_equal(len, 0);
    close(sv[1]);
    wbuf_destroy(&b);
}

struct reader {
    int fd;
    int err;
    uint32_t type;
    uint8_t *payload;
    size_t len;
    unsigned int msgs;              /* How many messages to read. */
};

static void *
reader_main(void *aux)
{
    struct reader *rd = aux;

    for (unsigned int i = 0; i < rd->msgs; i++) {
        free(rd->payload);
        rd->err = wire_recv(rd->fd, &rd->type, &rd->payload, &rd->len);
        if (rd->err) {
            break;
        }
    }
    return NULL;
}

static void
big_payload(struct wbuf *b, size_t n)
{
    wbuf_init(b);
    for (size_t i = 0; i < n; i++) {
        wbuf_put_u8(b, (uint8_t) (i * 7 + i / 251));
    }
    assert_false(b->oom);
}

static void
send_big(bool nonblocking)
{
    struct reader rd = { .msgs = 2 };
    pthread_t t;
    struct wbuf b;
    int sv[2];

    make_pair(sv, 4096);
    if (nonblocking) {
        /* The writer must wait for room, not fail with EAGAIN. */
        fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
        fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    }
    big_payload(&b, 4u << 20);
    rd.fd = sv[1];
    assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
    assert_int_equal(wire_send(sv[0], WIRE_K_JOB, &b), 0);
    assert_int_equal(wire_send(sv[0], WIRE_K_JOB, &b), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rd.err, 0);
    assert_int_equal(rd.type, WIRE_K_JOB);
    assert_int_equal(rd.len, b.len);
    assert_memory_equal(rd.payload, b.data, b.len);
    free(rd.payload);
    wbuf_destroy(&b);
    close(sv[0]);
    close(sv[1]);
}

static void
test_send_recv_big(void **state)
{
    send_big(false);
}

static void
test_send_recv_big_nonblocking(void **state)
{
    send_big(true);
}

static void
on_sigusr1(int sig)
{
}

static void
test_recv_eintr(void **state)
{
    /* A signal that interrupts a blocked read does not end the receive. */
    struct sigaction sa, old;
    struct reader rd = { .msgs = 1 };
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    pthread_t t;
    struct wbuf b;
    int sv[2];

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;     /* No SA_RESTART: read sees EINTR. */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);

    make_pair(sv, 0);
    rd.fd = sv[1];
    assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
    nanosleep(&ts, NULL);
    pthread_kill(t, SIGUSR1);
    nanosleep(&ts, NULL);
    wbuf_init(&b);
    wbuf_put_u32(&b, 12345);
    assert_int_equal(wire_send(sv[0], WIRE_K_READY, &b), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rd.err, 0);
    assert_int_equal(rd.type, WIRE_K_READY);
    assert_int_equal(rd.len, 4);
    free(rd.payload);
    wbuf_destroy(&b);
    close(sv[0]);
    close(sv[1]);
    sigaction(SIGUSR1, &old, NULL);
}

static void
test_recv_eof_mid_message(void **state)
{
    uint8_t hdr[WIRE_HDR_LEN];
    uint8_t *payload;
    uint32_t type;
    size_t len;
    int sv[2];

    /* EOF inside the header. */
    make_pair(sv, 0);
    put_header(hdr, WIRE_K_DONE, 8);
    assert_int_equal(write(sv[0], hdr, 5), 5);
    close(sv[0]);
    assert_int_equal(wire_recv(sv[1], &type, &payload, &len), ECONNRESET);
    assert_null(payload);
    close(sv[1]);

    /* EOF inside the payload. */
    make_pair(sv, 0);
    assert_int_equal(write(sv[0], hdr, sizeof hdr), sizeof hdr);
    assert_int_equal(write(sv[0], "abc", 3), 3);
    close(sv[0]);
    assert_int_equal(wire_recv(sv[1], &type, &payload, &len), ECONNRESET);
    assert_null(payload);
    assert_int_equal(len, 0);
    close(sv[1]);

    /* EOF right after a header announcing a payload. */
    make_pair(sv, 0);
    assert_int_equal(write(sv[0], hdr, sizeof hdr), sizeof hdr);
    close(sv[0]);
    assert_int_equal(wire_recv(sv[1], &type, &payload, &len), ECONNRESET);
    close(sv[1]);
}

static void
test_recv_oversized(void **state)
{
    uint8_t hdr[WIRE_HDR_LEN];
    uint8_t *payload;
    uint32_t type;
    size_t len;
    int sv[2];

    make_pair(sv, 0);
    put_header(hdr, WIRE_K_JOB, WIRE_MAX_PAYLOAD + 1);
    assert_int_equal(write(sv[0], hdr, sizeof hdr), sizeof hdr);
    assert_int_equal(wire_recv(sv[1], &type, &payload, &len), EMSGSIZE);
    assert_null(payload);
    assert_int_equal(len, 0);
    close(sv[0]);
    close(sv[1]);
}

static void
test_send_errors(void **state)
{
    struct wbuf b;
    int sv[2];

    /* The peer is gone: EPIPE, and no SIGPIPE ends the test. */
    make_pair(sv, 0);
    close(sv[1]);
    wbuf_init(&b);
    wbuf_put_u32(&b, 1);
    int err = wire_send(sv[0], WIRE_K_PROGRESS, &b);
    assert_true(err == EPIPE || err == ECONNRESET);

    /* A void buffer is not sent. */
    b.oom = true;
    assert_int_equal(wire_send(sv[0], WIRE_K_PROGRESS, &b), ENOMEM);
    b.oom = false;
    close(sv[0]);

    /* A payload over the limit is not sent (its bytes are never read). */
    struct wbuf huge = { .data = b.data, .len = WIRE_MAX_PAYLOAD + 1 };
    make_pair(sv, 0);
    assert_int_equal(wire_send(sv[0], WIRE_K_JOB, &huge), EMSGSIZE);
    close(sv[0]);
    close(sv[1]);

    /* Not a socket. */
    assert_int_equal(wire_send(-1, WIRE_K_JOB, &b), EBADF);
    wbuf_destroy(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_round_trip),
        cmocka_unit_test(test_rbuf_short_reads),
        cmocka_unit_test(test_wbuf_growth),
        cmocka_unit_test(test_str_round_trip),
        cmocka_unit_test(test_str_bad),
        cmocka_unit_test(test_prefix_list_round_trip),
        cmocka_unit_test(test_prefix_list_bad),
        cmocka_unit_test(test_prefix_list_count_cap),
        cmocka_unit_test(test_job_round_trip),
        cmocka_unit_test(test_job_invalid),
        cmocka_unit_test(test_job_selectors_invalid),
        cmocka_unit_test(test_job_batch_round_trip),
        cmocka_unit_test(test_job_params_round_trip),
        cmocka_unit_test(test_engine_stats_round_trip),
        cmocka_unit_test(test_job_message_truncated),
        cmocka_unit_test(test_job_message_corrupted),
        cmocka_unit_test(test_frame_peek),
        cmocka_unit_test(test_send_recv_small),
        cmocka_unit_test(test_send_recv_big),
        cmocka_unit_test(test_send_recv_big_nonblocking),
        cmocka_unit_test(test_recv_eintr),
        cmocka_unit_test(test_recv_eof_mid_message),
        cmocka_unit_test(test_recv_oversized),
        cmocka_unit_test(test_send_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
