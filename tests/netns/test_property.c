/*
 * test_property.c: property test of the flush engine against the real kernel.
 *
 * For many random cases (a random table and a random job, both derived from
 * one seed) every strategy that can run the job is run on a fresh copy of the
 * table: auto (with the probed costs, and with costs that tempt the planner
 * towards kernel walks, towards filtered dumps or towards the dump), forced
 * dump, forced filtered flush when the planner can express the job, forced
 * filtered dump (on a random number of dump threads), forced zone flush for
 * whole-zone jobs, and auto with nothing proven (the dump fallback). After
 * each run the table is read back and must be exactly what a naive model
 * says: every entry the job does not match, nothing else. The model is
 * written here from the job's definition in job.h (linear scans, bit by bit
 * prefix compares) and shares no code with the engine's matcher, and the
 * table is read back with libnetfilter_conntrack's own dump
 * (nfct_query(NFCT_Q_DUMP)), not with ctsock/ctmsg, so a bug in the engine's
 * dump or parser cannot hide a wrong delete.
 *
 * The test moves itself into a fresh network namespace first: the table is
 * private and goes away with the process on every exit path.
 *
 * Environment:
 *   CTF_PROPERTY_SEED   master seed (decimal or 0x hex); case i uses seed+i,
 *                       so CTF_PROPERTY_SEED=<case seed> CTF_PROPERTY_ITERS=1
 *                       replays one failing case.
 *   CTF_PROPERTY_ITERS  number of cases (default 150; 100 under ASan and
 *                       under valgrind). From 100 cases on, the run also
 *                       checks that it exercised every proven strategy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "ctgen.h"
#include "ctsock.h"
#include "engine.h"
#include "job.h"
#include "log.h"
#include "netns_private.h"
#include "planner.h"
#include "probe.h"

#define DEFAULT_ITERS 150          /* ~0.13 s a case on the 2-core CI VM. */
#define DEFAULT_ITERS_ASAN 100
#define DEFAULT_ITERS_VALGRIND 100 /* ~1 s a case: walks are kernel time. */
#define COVERAGE_MIN_ITERS 100     /* Enough cases to check what was exercised. */
#define MIN_ENTRIES 200
#define MAX_ENTRIES 3000
#define POOL_SIZE 12            /* Addresses per pool and family. */
#define MAX_FORCED_WALKS 24     /* Forced filtered flushes above this are skipped
                                 * (each walk visits every bucket of the shared
                                 * hash table: ~20 ms on the CI VM). */
#define MAX_FORCED_DUMPS 48     /* The same for forced filtered dumps: each
                                 * visits every bucket too, if several at once. */

static struct ct_caps caps;     /* What probe_run proved, once for the run. */

/* ---- Reproducible randomness (splitmix64). ---- */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t
rnd_below(uint32_t n)
{
    return n ? (uint32_t) (rnd() % n) : 0;
}

static bool
chance(unsigned int percent)
{
    return rnd_below(100) < percent;
}

/* ---- Failure reporting: every failure says how to replay the case. ---- */

static char case_ctx[1024];     /* Seed and job of the current case. */
static char run_ctx[2048];      /* The strategy (or group) being run, if any. */

static void prop_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void
prop_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("%s:%d: %s\n%s\n%s%s\n", file, line, msg, case_ctx,
                run_ctx[0] ? "  run: " : "", run_ctx);
    fail();
    abort();                    /* fail() does not return; keeps noreturn honest. */
}

#define PCHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            prop_fail(__FILE__, __LINE__, __VA_ARGS__); \
        } \
    } while (0)

/* ---- The address universe. ---- */

enum pool { POOL_LOCAL, POOL_PEER, POOL_OTHER, POOL_FIP, N_POOLS };

/* A prefix as the model sees it: raw bytes, compared bit by bit. */
struct mpfx {
    int family;
    unsigned int plen;
    uint8_t a[16];
};

static void
pool_addr(int family, enum pool p, unsigned int i, uint8_t out[16])
{
    static const char *const v4[N_POOLS] = { "10.1.0.", "10.2.0.", "192.0.2.", "10.4.0." };
    static const char *const v6[N_POOLS] = { "fd00:1::", "fd00:2::", "2001:db8::", "fd00:4::" };
    char buf[64];

    memset(out, 0, 16);
    if (family == AF_INET) {
        snprintf(buf, sizeof buf, "%s%u", v4[p], i + 1);
    } else {
        snprintf(buf, sizeof buf, "%s%x", v6[p], i + 1);
    }
    if (inet_pton(family, buf, out) != 1) {
        abort();
    }
}

static struct mpfx
host_pfx(int family, enum pool p, unsigned int i)
{
    struct mpfx x;

    memset(&x, 0, sizeof x);
    x.family = family;
    x.plen = family == AF_INET ? 32 : 128;
    pool_addr(family, p, i, x.a);
    return x;
}

static struct mpfx
cidr_pfx(const char *text)
{
    struct mpfx x;
    char buf[64];
    char *slash;

    memset(&x, 0, sizeof x);
    snprintf(buf, sizeof buf, "%s", text);
    slash = strchr(buf, '/');
    if (!slash) {
        abort();
    }
    *slash = '\0';
    x.family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    x.plen = (unsigned int) atoi(slash + 1);
    if (inet_pton(x.family, buf, x.a) != 1) {
        abort();
    }
    return x;
}

static bool
mpfx_contains(const struct mpfx *p, int family, const uint8_t *a)
{
    if (p->family != family) {
        return false;
    }
    for (unsigned int bit = 0; bit < p->plen; bit++) {
        unsigned int byte = bit / 8, shift = 7 - bit % 8;
        if (((p->a[byte] >> shift) & 1) != ((a[byte] >> shift) & 1)) {
            return false;
        }
    }
    return true;
}

static void
mpfx_format(const struct mpfx *p, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];

    inet_ntop(p->family, p->a, a, sizeof a);
    if (p->plen == (p->family == AF_INET ? 32u : 128u)) {
        snprintf(buf, len, "%s", a);
    } else {
        snprintf(buf, len, "%s/%u", a, p->plen);
    }
}

/* ---- The model: a job and the entries of the table. ---- */

#define MJOB_MAX 12

struct mjob {
    bool local_any, peers_any;
    struct mpfx local[MJOB_MAX];
    size_t n_local;
    struct mpfx peers[MJOB_MAX];
    size_t n_peers;
    bool has_zone;
    uint16_t zone;
    bool has_mark;
    uint32_t mark, mask;
    size_t max_local, max_peers;    /* Engine chunking (0: the default). */
    size_t batch_bytes;             /* Engine send batch (0: the default). */
    uint64_t max_delete_rate;       /* Engine rate cap (0: none). */
    /* Selectors (job.h). */
    enum flush_direction direction;
    enum flush_tuple tuple;
    uint8_t proto;                  /* 0: any. */
    bool has_dport;
    uint16_t lo, hi;
    enum flush_family family;
};

/* Whether the job's family selector admits this family. */
static bool
m_admits(const struct mjob *j, int family)
{
    return j->family == FLUSH_FAMILY_BOTH
           || (j->family == FLUSH_FAMILY_IPV4 ? family == AF_INET : family == AF_INET6);
}

static bool
m_in(const struct mpfx *l, size_t n, bool any, int family, const uint8_t *a)
{
    if (any) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (mpfx_contains(&l[i], family, a)) {
            return true;
        }
    }
    return false;
}

/* One tuple read as s -> d: egress has LOCAL at the source, ingress at
 * the destination; the direction says which count. */
static bool
m_pair(const struct mjob *j, int family, const uint8_t *s, const uint8_t *d)
{
    bool egress = m_in(j->local, j->n_local, j->local_any, family, s)
                  && m_in(j->peers, j->n_peers, j->peers_any, family, d);
    bool ingress = m_in(j->local, j->n_local, j->local_any, family, d)
                   && m_in(j->peers, j->n_peers, j->peers_any, family, s);

    return j->direction == FLUSH_DIRECTION_INGRESS ? ingress
           : j->direction == FLUSH_DIRECTION_EGRESS ? egress : egress || ingress;
}

static const uint8_t *
reply_src(const struct ctgen_entry *e)
{
    return e->nat ? e->reply_src.b : e->orig_dst.b;
}

static const uint8_t *
reply_dst(const struct ctgen_entry *e)
{
    return e->nat ? e->reply_dst.b : e->orig_src.b;
}

/* job.h: zone (if any), mark (if any), family, protocol and original
 * destination port match, and LOCAL and PEERS sit the way the direction
 * wants on the original tuple or (tuple "any") on the reply tuple read
 * backwards, from its destination to its source. */
static bool
m_match(const struct mjob *j, const struct ctgen_entry *e, bool *by_reply_only)
{
    if (j->has_zone && e->zone != j->zone) {
        return false;
    }
    if (j->has_mark && (e->mark & j->mask) != (j->mark & j->mask)) {
        return false;
    }
    if (!m_admits(j, e->family) || (j->proto && e->l4proto != j->proto)
        || (j->has_dport && (e->dport < j->lo || e->dport > j->hi))) {
        return false;
    }
    bool o = m_pair(j, e->family, e->orig_src.b, e->orig_dst.b);
    bool r = j->tuple != FLUSH_TUPLE_ORIG && m_pair(j, e->family, reply_dst(e), reply_src(e));
    if (by_reply_only) {
        *by_reply_only = r && !o;
    }
    return o || r;
}

static bool
m_has_family(const struct mpfx *l, size_t n, int family)
{
    for (size_t i = 0; i < n; i++) {
        if (l[i].family == family) {
            return true;
        }
    }
    return false;
}

/* A local or peer prefix of this family that the job's family admits. */
static bool
m_has_admitted(const struct mjob *j, const struct mpfx *l, size_t n, int family)
{
    return m_admits(j, family) && m_has_family(l, n, family);
}

/* False when no local prefix has a peer prefix of its family: such a job
 * (or chunk) can match nothing, and the engine need not run anything. */
static bool
m_has_pair(const struct mjob *j)
{
    if (j->local_any) {
        return true;
    }
    for (size_t i = 0; i < j->n_local; i++) {
        int f = j->local[i].family;
        if (m_admits(j, f) && (j->peers_any || m_has_family(j->peers, j->n_peers, f))) {
            return true;
        }
    }
    return false;
}

static bool
m_whole_zone(const struct mjob *j)
{
    return j->local_any && j->peers_any && j->has_zone && !j->has_mark && !j->proto
           && !j->has_dport && j->family == FLUSH_FAMILY_BOTH;
}

/* True when some local prefix of this family has a peer of its family (or
 * peers are any), and the job admits the family: the job's part of that
 * family can match something. */
static bool
m_family_part(const struct mjob *j, int family)
{
    return m_has_admitted(j, j->local, j->n_local, family)
           && (j->peers_any || m_has_family(j->peers, j->n_peers, family));
}

enum run_expect { EXPECT_RUN, EXPECT_REFUSED, EXPECT_EITHER };

/* What forcing a filtered flush must do under these caps (read from
 * planner.h's description of each flag, not from planner.c). An IPv6 local
 * without an IPv6 peer needs no IPv6 flush: the engine may run the job or
 * refuse it conservatively, but nothing in between. */
static enum run_expect
m_filtered_expect(const struct mjob *j, const struct ct_caps *c)
{
    if (!c->filtered_flush) {
        return EXPECT_REFUSED;
    }
    if (j->has_zone && !(j->zone ? c->filtered_flush_zone : c->filtered_flush_zone_default)) {
        return EXPECT_REFUSED;
    }
    if (!c->filtered_flush_v6 && m_family_part(j, AF_INET6)) {
        return EXPECT_REFUSED;
    }
    /* A protocol must ride on the filter, proven for each family the
     * job's locals bring (planner.h). */
    for (int f = 0; j->proto && f < 2; f++) {
        int family = f ? AF_INET6 : AF_INET;
        if (!(f ? c->filtered_flush_proto_v6 : c->filtered_flush_proto)
            && m_family_part(j, family)) {
            return EXPECT_REFUSED;
        }
    }
    if (!c->filtered_flush_v6 && m_has_admitted(j, j->local, j->n_local, AF_INET6)) {
        return EXPECT_EITHER;
    }
    for (int f = 0; j->proto && f < 2; f++) {
        int family = f ? AF_INET6 : AF_INET;
        if (!(f ? c->filtered_flush_proto_v6 : c->filtered_flush_proto)
            && m_has_admitted(j, j->local, j->n_local, family)) {
            return EXPECT_EITHER;
        }
    }
    return EXPECT_RUN;
}

static bool
m_zone_flush_proven(const struct mjob *j, const struct ct_caps *c)
{
    return c->zone_flush && (j->zone != 0 || c->zone_flush_default);
}

/* The worse of two expectations: a refusal anywhere refuses the job (the
 * engine checks a forced strategy on every chunk before it runs one). */
static enum run_expect
m_expect_worse(enum run_expect a, enum run_expect b)
{
    return a == EXPECT_REFUSED || b == EXPECT_REFUSED ? EXPECT_REFUSED
           : a == EXPECT_EITHER || b == EXPECT_EITHER ? EXPECT_EITHER : EXPECT_RUN;
}

static bool
m_all_hosts(const struct mpfx *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (l[i].plen != (l[i].family == AF_INET ? 32u : 128u)) {
            return false;
        }
    }
    return n > 0;
}

/* A list of prefixes, as one part of a chunk. */
struct mside {
    struct mpfx a[MJOB_MAX];
    size_t n;
};

static void
mside_of(struct mside *out, const struct mpfx *l, size_t n, int family)
{
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (!family || l[i].family == family) {
            out->a[out->n++] = l[i];
        }
    }
}

/* Drops the prefixes of families the job does not admit. */
static void
mside_admitted(const struct mjob *j, struct mside *m)
{
    size_t k = 0;

    for (size_t i = 0; i < m->n; i++) {
        if (m_admits(j, m->a[i].family)) {
            m->a[k++] = m->a[i];
        }
    }
    m->n = k;
}

/* What forcing filtered dumps must do for what the engine plans as one
 * (a chunk, or one family's part of it), from planner.h: the dumps filter
 * on the side of exact addresses (the shorter one when both are; a tie may
 * go either way), which needs filtered_dump, and filtered_dump_v6 if it
 * holds an IPv6 address. An IPv6 address whose family has no pair here
 * needs no IPv6 dump: run or a conservative refusal. *dumps gets an upper
 * bound of the dumps it runs. */
static enum run_expect
m_fdump_unit_expect(const struct mside *l, const struct mside *p, bool peers_any,
                    bool v6_pairs, const struct ct_caps *c, unsigned int *dumps)
{
    bool local_ok = m_all_hosts(l->a, l->n);
    bool peers_ok = !peers_any && m_all_hosts(p->a, p->n);
    const struct mside *cand[2];
    size_t n_cand = 0;
    enum run_expect e = EXPECT_RUN;

    /* EINVAL: nothing to filter on. (Nor more than 1024 addresses on the
     * side, which a job of MJOB_MAX prefixes never has.) */
    if (!local_ok && !peers_ok) {
        return EXPECT_REFUSED;
    }
    if (!c->filtered_dump) {
        return EXPECT_REFUSED;
    }
    if (local_ok && (!peers_ok || l->n <= p->n)) {
        cand[n_cand++] = l;
    }
    if (peers_ok && (!local_ok || p->n <= l->n)) {
        cand[n_cand++] = p;
    }
    for (size_t i = 0; i < n_cand; i++) {
        enum run_expect ce = EXPECT_RUN;
        if (!c->filtered_dump_v6 && m_has_family(cand[i]->a, cand[i]->n, AF_INET6)) {
            ce = v6_pairs ? EXPECT_REFUSED : EXPECT_EITHER;
        }
        if (i && ce != e) {
            ce = EXPECT_EITHER;         /* The tie decides: either is right. */
        }
        e = ce;
        if (4 * cand[i]->n > *dumps) {
            *dumps = 4 * (unsigned int) cand[i]->n;
        }
    }
    return e;
}

/* One chunk: nothing to do without a same-family pair; one family's pair:
 * planned as it is; both families': each planned on its own (engine.c). */
static enum run_expect
m_fdump_chunk_expect(const struct mside *l, const struct mside *p, bool peers_any,
                     const struct ct_caps *c, unsigned int *dumps)
{
    bool part[2];
    enum run_expect e = EXPECT_RUN;

    for (int f = 0; f < 2; f++) {
        int family = f ? AF_INET6 : AF_INET;
        part[f] = m_has_family(l->a, l->n, family)
                  && (peers_any || m_has_family(p->a, p->n, family));
    }
    if (!part[0] && !part[1]) {
        return EXPECT_RUN;
    }
    if (!part[0] || !part[1]) {
        unsigned int d = 0;
        e = m_fdump_unit_expect(l, p, peers_any, part[1], c, &d);
        *dumps += d;
        return e;
    }
    for (int f = 0; f < 2; f++) {
        struct mside lf, pf;
        unsigned int d = 0;
        mside_of(&lf, l->a, l->n, f ? AF_INET6 : AF_INET);
        mside_of(&pf, p->a, p->n, f ? AF_INET6 : AF_INET);
        e = m_expect_worse(e, m_fdump_unit_expect(&lf, &pf, peers_any, f == 1, c, &d));
        *dumps += d;
    }
    return e;
}

/* What forcing a filtered dump must do under these caps, chunk by chunk as
 * the job is cut (max_local x max_peers, as engine.h says). */
static enum run_expect
m_fdump_expect(const struct mjob *j, const struct ct_caps *c, unsigned int *dumps)
{
    /* Peers "any" is one chunk of peers, of no prefix. */
    size_t n_peers = j->peers_any ? 1 : j->n_peers;
    size_t ml = j->max_local ? j->max_local : j->n_local;
    size_t mp = j->max_peers && !j->peers_any ? j->max_peers : n_peers;
    enum run_expect e = EXPECT_RUN;

    *dumps = 0;
    if (j->local_any) {
        return EXPECT_REFUSED;          /* EINVAL: no exact addresses. */
    }
    for (size_t i = 0; i < j->n_local; i += ml) {
        for (size_t k = 0; k < n_peers; k += mp) {
            struct mside l, p;
            mside_of(&l, j->local + i, i + ml > j->n_local ? j->n_local - i : ml, 0);
            mside_of(&p, j->peers + k, j->peers_any ? 0 : k + mp > n_peers ? n_peers - k : mp,
                     0);
            /* The engine cuts chunks first, then drops the families the job
             * does not admit. */
            mside_admitted(j, &l);
            mside_admitted(j, &p);
            e = m_expect_worse(e, m_fdump_chunk_expect(&l, &p, j->peers_any, c, dumps));
        }
    }
    return e;
}

static void
side_format(const struct mpfx *l, size_t n, bool any, char *buf, size_t len)
{
    size_t used = 0;

    if (any) {
        snprintf(buf, len, "any");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        char p[64];
        mpfx_format(&l[i], p, sizeof p);
        int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", p);
        if (w < 0) {
            break;
        }
        used += (size_t) w;
    }
}

static void
mjob_describe(const struct mjob *j, char *buf, size_t len)
{
    char l[512], p[512];

    side_format(j->local, j->n_local, j->local_any, l, sizeof l);
    side_format(j->peers, j->n_peers, j->peers_any, p, sizeof p);
    int w = snprintf(buf, len, "--local %s --peers %s", l, p);
    if (w < 0 || (size_t) w >= len) {
        return;
    }
    size_t used = (size_t) w;
    if (j->has_zone) {
        used += (size_t) snprintf(buf + used, len - used, " --zone %u", j->zone);
    }
    if (j->has_mark && used < len) {
        used += (size_t) snprintf(buf + used, len - used, " --mark 0x%" PRIx32 "/0x%" PRIx32,
                                  j->mark, j->mask);
    }
    if (j->direction && used < len) {
        used += (size_t) snprintf(buf + used, len - used, " --direction %s",
                                  flush_direction_name(j->direction));
    }
    if (j->tuple && used < len) {
        used += (size_t) snprintf(buf + used, len - used, " --tuple %s",
                                  flush_tuple_name(j->tuple));
    }
    if (j->proto && used < len) {
        used += (size_t) snprintf(buf + used, len - used, " --proto %u", j->proto);
    }
    if (j->has_dport && used < len) {
        used += (size_t) snprintf(buf + used, len - used, " --dport %u-%u", j->lo, j->hi);
    }
    if (j->family && used < len) {
        used += (size_t) snprintf(buf + used, len - used, " --family %s",
                                  flush_family_name(j->family));
    }
    if (used < len) {
        snprintf(buf + used, len - used,
                 " [max_local %zu max_peers %zu batch %zu rate %" PRIu64 "]",
                 j->max_local, j->max_peers, j->batch_bytes, j->max_delete_rate);
    }
}

/* The job as the engine gets it: parsed from the text an operator would
 * type, so the engine's lists come from addr.c, the model's from here. */
static void
mjob_to_flush_job(const struct mjob *j, struct flush_job *fj)
{
    char text[512], err[256];

    flush_job_init(fj);
    side_format(j->local, j->n_local, j->local_any, text, sizeof text);
    PCHECK(flush_job_parse_side(&fj->local, &fj->local_any, text, err, sizeof err) == 0,
           "local side '%s': %s", text, err);
    side_format(j->peers, j->n_peers, j->peers_any, text, sizeof text);
    PCHECK(flush_job_parse_side(&fj->peers, &fj->peers_any, text, err, sizeof err) == 0,
           "peer side '%s': %s", text, err);
    fj->has_zone = j->has_zone;
    fj->zone = j->zone;
    fj->has_mark = j->has_mark;
    fj->mark = j->mark;
    fj->mark_mask = j->mask;
    fj->direction = j->direction;
    fj->tuple = j->tuple;
    fj->proto = j->proto;
    fj->has_dport = j->has_dport;
    fj->dport_lo = j->lo;
    fj->dport_hi = j->hi;
    fj->family = j->family;
    PCHECK(flush_job_validate(fj, err, sizeof err) == 0, "generated an invalid job: %s", err);
}

/* ---- Random tables. ---- */

/* Destination ports of the table's entries, which jobs select on too. */
static const uint16_t table_dports[] = { 22, 53, 80, 123, 443, 853 };

static const uint16_t zones[] = { 0, 0, 0, 1, 7, 300 };

static uint16_t
pick_zone(void)
{
    return zones[rnd_below(sizeof zones / sizeof *zones)];
}

static uint32_t
pick_mark(void)
{
    static const uint32_t marks[] = { 0, 0, 0, 1, 2, 3, 0x100, 0xdeadbeef };
    return chance(10) ? (uint32_t) rnd() : marks[rnd_below(sizeof marks / sizeof *marks)];
}

static void
pick_addr(int family, union ctf_inaddr *out)
{
    static const enum pool weights[] = {
        POOL_LOCAL, POOL_LOCAL, POOL_LOCAL, POOL_PEER, POOL_PEER, POOL_PEER,
        POOL_OTHER, POOL_OTHER, POOL_FIP, POOL_FIP,
    };
    enum pool p = weights[rnd_below(sizeof weights / sizeof *weights)];

    memset(out, 0, sizeof *out);
    pool_addr(family, p, rnd_below(POOL_SIZE), out->b);
}

static void
pick_pool_addr(int family, enum pool p, union ctf_inaddr *out)
{
    memset(out, 0, sizeof *out);
    pool_addr(family, p, rnd_below(POOL_SIZE), out->b);
}

/* Every entry gets its own source port (>= 1024) and a well-known
 * destination port (< 1024), so no two entries can share an original or a
 * reply tuple, whatever the addresses and NAT: every insert must succeed. */
static size_t
gen_table(struct ctgen_entry *t)
{
    size_t n = MIN_ENTRIES + rnd_below(MAX_ENTRIES - MIN_ENTRIES + 1);

    for (size_t i = 0; i < n; i++) {
        struct ctgen_entry *e = &t[i];
        memset(e, 0, sizeof *e);
        e->family = chance(65) ? AF_INET : AF_INET6;
        e->l4proto = chance(50) ? IPPROTO_TCP : IPPROTO_UDP;
        e->sport = (uint16_t) (1024 + i);
        e->dport = table_dports[rnd_below(sizeof table_dports / sizeof *table_dports)];
        e->zone = pick_zone();
        e->mark = pick_mark();
        e->timeout = 3600;
        unsigned int kind = rnd_below(100);
        if (kind < 8) {
            /* A peer talks to a floating IP, DNAT'd to a local's fixed
             * address: the local is only in the reply tuple. */
            pick_pool_addr(e->family, POOL_PEER, &e->orig_src);
            pick_pool_addr(e->family, POOL_FIP, &e->orig_dst);
            e->nat = 1;
            pick_pool_addr(e->family, POOL_LOCAL, &e->reply_src);
            e->reply_dst = e->orig_src;
        } else if (kind < 16) {
            /* A VM talks out, SNAT'd to a local host address: the local is
             * only the reply destination. */
            pick_addr(e->family, &e->orig_src);
            pick_pool_addr(e->family, chance(50) ? POOL_PEER : POOL_OTHER, &e->orig_dst);
            e->nat = 1;
            e->reply_src = e->orig_dst;
            pick_pool_addr(e->family, POOL_LOCAL, &e->reply_dst);
        } else if (kind < 24) {
            /* Any NAT: either or both reply addresses rewritten. */
            pick_addr(e->family, &e->orig_src);
            pick_addr(e->family, &e->orig_dst);
            e->nat = 1;
            if (chance(50)) {
                pick_addr(e->family, &e->reply_src);
            } else {
                e->reply_src = e->orig_dst;
            }
            if (chance(50)) {
                pick_addr(e->family, &e->reply_dst);
            } else {
                e->reply_dst = e->orig_src;
            }
        } else if (kind < 30) {
            /* Between two locals. */
            pick_pool_addr(e->family, POOL_LOCAL, &e->orig_src);
            pick_pool_addr(e->family, POOL_LOCAL, &e->orig_dst);
        } else if (kind < 36) {
            /* Between two peers. */
            pick_pool_addr(e->family, POOL_PEER, &e->orig_src);
            pick_pool_addr(e->family, POOL_PEER, &e->orig_dst);
        } else if (kind < 44) {
            /* A peer and an address in no job's sets. */
            pick_pool_addr(e->family, POOL_PEER, &e->orig_src);
            pick_pool_addr(e->family, POOL_OTHER, &e->orig_dst);
            if (chance(50)) {
                union ctf_inaddr x = e->orig_src;
                e->orig_src = e->orig_dst;
                e->orig_dst = x;
            }
        } else {
            pick_addr(e->family, &e->orig_src);
            pick_addr(e->family, &e->orig_dst);
        }
    }
    return n;
}

/* ---- Random jobs. ---- */

static const char *const cidrs_local4[] = {
    "10.1.0.0/29", "10.1.0.8/30", "10.1.0.0/24", "10.0.0.0/8", "0.0.0.0/0", "10.1.0.4/31",
};
static const char *const cidrs_local6[] = {
    "fd00:1::/125", "fd00:1::8/126", "fd00:1::/64", "fd00::/8", "::/0",
};
static const char *const cidrs_peer4[] = { "10.2.0.0/28", "192.0.2.0/24", "10.2.0.4/30" };
static const char *const cidrs_peer6[] = { "fd00:2::/124", "2001:db8::/64", "fd00::/16" };

static void
add_unique(struct mpfx *l, size_t *n, const struct mpfx *p)
{
    for (size_t i = 0; i < *n; i++) {
        if (!memcmp(&l[i], p, sizeof *p)) {
            return;
        }
    }
    if (*n < MJOB_MAX) {
        l[(*n)++] = *p;
    }
}

static int
pick_family(unsigned int mode)
{
    return mode == 0 ? AF_INET : mode == 1 ? AF_INET6 : (chance(50) ? AF_INET : AF_INET6);
}

/* Random selectors (job.h), consistent with the job's addresses. */
static void
gen_selectors(struct mjob *j)
{
    if (chance(30)) {
        j->direction = chance(50) ? FLUSH_DIRECTION_INGRESS : FLUSH_DIRECTION_EGRESS;
    }
    if (chance(25)) {
        j->tuple = FLUSH_TUPLE_ORIG;
    }
    if (chance(30)) {
        j->proto = chance(50) ? IPPROTO_TCP : IPPROTO_UDP;
        if (chance(60)) {
            size_t n = sizeof table_dports / sizeof *table_dports;
            j->has_dport = true;
            j->lo = table_dports[rnd_below((uint32_t) n)];
            j->hi = chance(70) ? j->lo : table_dports[rnd_below((uint32_t) n)];
            if (j->hi < j->lo) {
                uint16_t t = j->lo;
                j->lo = j->hi;
                j->hi = t;
            }
        }
    }
    if (chance(15)) {
        /* A family both sides have (a side "any" has both). */
        int f = chance(50) ? AF_INET : AF_INET6;
        if ((j->local_any || m_has_family(j->local, j->n_local, f))
            && (j->peers_any || m_has_family(j->peers, j->n_peers, f))) {
            j->family = f == AF_INET ? FLUSH_FAMILY_IPV4 : FLUSH_FAMILY_IPV6;
        }
    }
}

static void
gen_job(struct mjob *j)
{
    memset(j, 0, sizeof *j);
    if (chance(12)) {
        /* Everything in one zone (sometimes with a mark, which makes it a
         * dump job). */
        j->local_any = j->peers_any = true;
        j->has_zone = true;
        j->zone = chance(20) ? 9 : pick_zone();     /* 9: a zone with no entries. */
        if (chance(15)) {
            j->has_mark = true;
            j->mask = chance(50) ? 0xffffffffu : 0x3u;
            j->mark = pick_mark() & j->mask;    /* Bits outside: refused (job.c). */
        }
    } else {
        /* Families: v4 only, v6 only, or both. */
        unsigned int fmode = chance(60) ? 0 : chance(50) ? 1 : 2;
        unsigned int n_hosts = chance(55) ? 1 : 2 + rnd_below(3);
        bool want_cidr = chance(20);
        for (unsigned int i = 0; i < n_hosts; i++) {
            int f = pick_family(fmode);
            enum pool p = chance(88) ? POOL_LOCAL : chance(50) ? POOL_PEER : POOL_FIP;
            struct mpfx x = host_pfx(f, p, rnd_below(POOL_SIZE));
            add_unique(j->local, &j->n_local, &x);
        }
        if (want_cidr) {
            int f = pick_family(fmode);
            struct mpfx x = f == AF_INET
                ? cidr_pfx(cidrs_local4[rnd_below(sizeof cidrs_local4 / sizeof *cidrs_local4)])
                : cidr_pfx(cidrs_local6[rnd_below(sizeof cidrs_local6 / sizeof *cidrs_local6)]);
            add_unique(j->local, &j->n_local, &x);
        }
        if (chance(45)) {
            j->peers_any = true;
        } else {
            unsigned int n_peers = 1 + rnd_below(4);
            for (unsigned int i = 0; i < n_peers; i++) {
                int f = pick_family(fmode);
                unsigned int r = rnd_below(100);
                enum pool p = r < 70 ? POOL_PEER : r < 85 ? POOL_LOCAL : r < 95 ? POOL_OTHER
                              : POOL_FIP;
                struct mpfx x = host_pfx(f, p, rnd_below(POOL_SIZE));
                add_unique(j->peers, &j->n_peers, &x);
            }
            if (chance(15)) {
                int f = pick_family(fmode);
                struct mpfx x = f == AF_INET
                    ? cidr_pfx(cidrs_peer4[rnd_below(sizeof cidrs_peer4 / sizeof *cidrs_peer4)])
                    : cidr_pfx(cidrs_peer6[rnd_below(sizeof cidrs_peer6 / sizeof *cidrs_peer6)]);
                add_unique(j->peers, &j->n_peers, &x);
            }
        }
        if (chance(30)) {
            j->has_zone = true;
            j->zone = chance(10) ? 9 : pick_zone();
        }
        if (chance(18)) {
            /* A mask of 0 and mark bits outside the mask are refused by
             * flush_job_validate (job.c), so never a job. */
            static const uint32_t masks[] = { 0xffffffffu, 0x3u, 0xffu, 0xffff0000u };
            j->has_mark = true;
            j->mask = masks[rnd_below(sizeof masks / sizeof *masks)];
            j->mark = pick_mark() & j->mask;
        }
    }
    gen_selectors(j);
    if (chance(25)) {
        j->max_local = 1 + rnd_below(2);
        j->max_peers = 1 + rnd_below(3);
    }
    if (chance(20)) {
        j->batch_bytes = 4096;
    }
    if (chance(8)) {
        j->max_delete_rate = 10000000;  /* A cap that never sleeps: dump path. */
    }
}

/* ---- The kernel table, read and written without the engine's code. ---- */

/* What identifies an entry. No padding: compared with memcmp. */
struct key {
    uint8_t family, proto;
    uint16_t zone;
    uint16_t sport, dport;      /* Original tuple, host order. */
    uint16_t rsport, rdport;    /* Reply tuple. */
    uint16_t pad;
    uint32_t mark;
    uint8_t os[16], od[16], rs[16], rd[16];
};

static struct key
key_of(const struct ctgen_entry *e)
{
    struct key k;

    memset(&k, 0, sizeof k);
    k.family = (uint8_t) e->family;
    k.proto = e->l4proto;
    k.zone = e->zone;
    k.sport = e->sport;
    k.dport = e->dport;
    k.rsport = e->dport;        /* ctgen mirrors the ports. */
    k.rdport = e->sport;
    k.mark = e->mark;
    size_t alen = e->family == AF_INET ? 4 : 16;
    memcpy(k.os, e->orig_src.b, alen);
    memcpy(k.od, e->orig_dst.b, alen);
    memcpy(k.rs, reply_src(e), alen);
    memcpy(k.rd, reply_dst(e), alen);
    return k;
}

static int
key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct key));
}

static void
key_format(const struct key *k, char *buf, size_t len)
{
    char os[INET6_ADDRSTRLEN], od[INET6_ADDRSTRLEN], rs[INET6_ADDRSTRLEN], rd[INET6_ADDRSTRLEN];
    int f = k->family;

    inet_ntop(f, k->os, os, sizeof os);
    inet_ntop(f, k->od, od, sizeof od);
    inet_ntop(f, k->rs, rs, sizeof rs);
    inet_ntop(f, k->rd, rd, sizeof rd);
    snprintf(buf, len, "%s %s:%u->%s:%u reply %s:%u->%s:%u zone %u mark 0x%" PRIx32,
             k->proto == IPPROTO_TCP ? "tcp" : "udp", os, k->sport, od, k->dport, rs,
             k->rsport, rd, k->rdport, k->zone, k->mark);
}

struct keyset {
    struct key *k;
    size_t n, cap;
    size_t unparsed;            /* Entries the dump could not describe. */
};

static int
dump_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
    struct keyset *s = data;
    struct key k;

    (void) type;
    memset(&k, 0, sizeof k);
    k.family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
    k.proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
    if ((k.family != AF_INET && k.family != AF_INET6)
        || !nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC) || !nfct_attr_is_set(ct, ATTR_REPL_PORT_SRC)) {
        s->unparsed++;
        return NFCT_CB_CONTINUE;
    }
    k.zone = nfct_attr_is_set(ct, ATTR_ZONE) ? nfct_get_attr_u16(ct, ATTR_ZONE) : 0;
    k.mark = nfct_attr_is_set(ct, ATTR_MARK) ? nfct_get_attr_u32(ct, ATTR_MARK) : 0;
    k.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
    k.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    k.rsport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
    k.rdport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
    if (k.family == AF_INET) {
        uint32_t a[4] = {
            nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC), nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST),
            nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC), nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST),
        };
        memcpy(k.os, &a[0], 4);
        memcpy(k.od, &a[1], 4);
        memcpy(k.rs, &a[2], 4);
        memcpy(k.rd, &a[3], 4);
    } else {
        memcpy(k.os, nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), 16);
        memcpy(k.od, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
        memcpy(k.rs, nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), 16);
        memcpy(k.rd, nfct_get_attr(ct, ATTR_REPL_IPV6_DST), 16);
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        struct key *nk = realloc(s->k, cap * sizeof *nk);
        if (!nk) {
            s->unparsed++;
            return NFCT_CB_STOP;
        }
        s->k = nk;
        s->cap = cap;
    }
    s->k[s->n++] = k;
    return NFCT_CB_CONTINUE;
}

/* The whole table of this namespace, sorted. */
static void
kernel_dump(struct keyset *s)
{
    struct nfct_handle *h = nfct_open(CONNTRACK, 0);
    uint32_t family = AF_UNSPEC;

    memset(s, 0, sizeof *s);
    PCHECK(h != NULL, "nfct_open: %s", strerror(errno));
    nfct_callback_register(h, NFCT_T_ALL, dump_cb, s);
    int rc = nfct_query(h, NFCT_Q_DUMP, &family);
    int err = errno;
    nfct_close(h);
    PCHECK(rc == 0, "nfct_query(NFCT_Q_DUMP): %s", strerror(err));
    PCHECK(s->unparsed == 0, "%zu dumped entries could not be read", s->unparsed);
    if (s->n) {
        qsort(s->k, s->n, sizeof *s->k, key_cmp);
    }
}

static void
kernel_flush(void)
{
    struct nfct_handle *h = nfct_open(CONNTRACK, 0);
    uint32_t family = AF_UNSPEC;

    PCHECK(h != NULL, "nfct_open: %s", strerror(errno));
    int rc = nfct_query(h, NFCT_Q_FLUSH, &family);
    int err = errno;
    nfct_close(h);
    PCHECK(rc == 0, "nfct_query(NFCT_Q_FLUSH): %s", strerror(err));
    PCHECK(engine_table_count() == 0, "table not empty after a flush");
}

static void
kernel_insert(const struct ctgen_entry *e, size_t n)
{
    struct ctsock sock;
    struct ctgen_stats st;

    if (!n) {
        return;
    }
    PCHECK(ctsock_open(&sock, 0) == 0, "ctsock_open");
    int rc = ctgen_insert(&sock, e, n, &st);
    ctsock_close(&sock);
    PCHECK(rc == 0 && st.inserted == n,
           "inserting %zu entries: %s (inserted %" PRIu64 ", exists %" PRIu64
           ", failed %" PRIu64 ")", n, strerror(rc), st.inserted, st.exists, st.failed);
}

/* Fails with a readable diff unless the table is exactly want[0..n). */
static void
expect_table(const struct key *want, size_t n_want, const char *when)
{
    struct keyset got;

    kernel_dump(&got);
    bool same = got.n == n_want
                && (n_want == 0 || !memcmp(got.k, want, n_want * sizeof *want));
    if (!same) {
        char line[512];
        size_t i = 0, j = 0, shown = 0, missing = 0, extra = 0;
        while (i < n_want || j < got.n) {
            int c = i == n_want ? 1 : j == got.n ? -1 : key_cmp(&want[i], &got.k[j]);
            if (c == 0) {
                i++;
                j++;
                continue;
            }
            const struct key *k = c < 0 ? &want[i++] : &got.k[j++];
            if (c < 0) {
                missing++;
            } else {
                extra++;
            }
            if (shown++ < 12) {
                key_format(k, line, sizeof line);
                print_error("  %s %s\n", c < 0 ? "wrongly deleted:" : "wrongly kept:   ", line);
            }
        }
        free(got.k);
        prop_fail(__FILE__, __LINE__,
                  "%s: table has %zu entries, model expects %zu (%zu wrongly deleted, "
                  "%zu wrongly kept)", when, got.n, n_want, missing, extra);
    }
    free(got.k);
}

/* ---- One case. ---- */

struct coverage {
    unsigned int cases, runs;
    unsigned int runs_by[CT_STRATEGY_COUNT];    /* Successful runs per strategy used. */
    unsigned int refused;           /* Forced strategies correctly refused. */
    uint64_t deleted, reply_only;   /* Entries deleted; of them matched by reply only. */
    unsigned int auto_filtered;     /* Auto runs that picked a filtered flush. */
    unsigned int auto_fdump;        /* Auto runs that picked filtered dumps. */
    unsigned int groups;            /* Groups run. */
    unsigned int groups_shared;     /* Of them, all in one shared dump. */
};

static struct coverage cov;

struct pcase {
    const struct mjob *job;
    struct flush_job fj;
    const struct ctgen_entry *table;
    size_t n;
    struct key *all;                /* Every entry's key, sorted. */
    struct key *survivors;          /* The model's expected table, sorted. */
    size_t n_survivors;
    struct ctgen_entry *matched;    /* What the job deletes, to put back. */
    size_t n_matched;
    char desc[768];
};

/* Runs the job once and checks the outcome; puts the table back after. */
static void
run_one(struct pcase *pc, const char *what, const struct ct_caps *run_caps,
        enum ct_strategy force, enum run_expect expect, unsigned int allowed_bits)
{
    struct engine_opts opts;
    struct engine_stats st;
    char err[256];

    snprintf(run_ctx, sizeof run_ctx, "%s", what);

    engine_opts_init(&opts);
    opts.caps = run_caps;
    opts.force = force;
    if (pc->job->max_local || pc->job->max_peers) {
        opts.max_local = pc->job->max_local;
        opts.max_peers = pc->job->max_peers;
    }
    opts.batch_bytes = pc->job->batch_bytes;
    opts.max_delete_rate = pc->job->max_delete_rate;

    PCHECK(engine_table_count() == pc->n, "table has %" PRIu64 " entries before the run, not %zu",
           engine_table_count(), pc->n);
    int rc = engine_run(&pc->fj, &opts, &st, err, sizeof err);
    cov.runs++;

    bool refused = rc == ENOTSUP || rc == EINVAL;
    if (expect == EXPECT_REFUSED || (expect == EXPECT_EITHER && refused)) {
        PCHECK(rc == ENOTSUP || rc == EINVAL,
               "a strategy the kernel did not prove must be refused: rc %d (%s), deleted %"
               PRIu64, rc, err, st.deleted);
        PCHECK(st.deleted == 0, "refused, yet %" PRIu64 " deleted", st.deleted);
        PCHECK(engine_table_count() == pc->n, "refused, yet the table went from %zu to %" PRIu64,
               pc->n, engine_table_count());
        cov.refused++;
        return;
    }
    PCHECK(rc == 0, "engine_run failed: %s (%s)", strerror(rc), err);
    /* A job without a same-family local/peer pair matches nothing: the
     * engine may run nothing at all for it. */
    if (st.strategies_used || m_has_pair(pc->job)) {
        if (force != CT_STRATEGY_AUTO) {
            PCHECK(st.strategy == force && st.strategies_used == 1u << force,
                   "forced %s, used %s (bits 0x%x)", ct_strategy_name(force),
                   ct_strategy_name(st.strategy), st.strategies_used);
        }
        PCHECK(st.strategies_used && !(st.strategies_used & ~allowed_bits),
               "used strategies 0x%x, allowed 0x%x", st.strategies_used, allowed_bits);
    }
    expect_table(pc->survivors, pc->n_survivors, what);
    PCHECK(st.deleted == pc->n_matched,
           "stats say %" PRIu64 " deleted, %zu were", st.deleted, pc->n_matched);
    PCHECK(st.errors == 0 && st.already_gone == 0,
           "errors %" PRIu64 ", already gone %" PRIu64 " on a quiet table", st.errors,
           st.already_gone);
    for (int s = CT_STRATEGY_DUMP; s < CT_STRATEGY_COUNT; s++) {
        if (st.strategies_used & (1u << s)) {
            cov.runs_by[s]++;
        }
    }
    if (force == CT_STRATEGY_AUTO && (st.strategies_used & (1u << CT_STRATEGY_FILTERED_FLUSH))) {
        cov.auto_filtered++;
    }
    if (force == CT_STRATEGY_AUTO && (st.strategies_used & (1u << CT_STRATEGY_FILTERED_DUMP))) {
        cov.auto_fdump++;
    }
    cov.deleted += st.deleted;

    /* Put back what went: the survivors are exactly the model's, so the
     * table is whole again when every matched entry is re-inserted. */
    kernel_insert(pc->matched, pc->n_matched);
    PCHECK(engine_table_count() == pc->n, "table not whole again after re-inserting");
}

/* Strategies auto may use with these caps. */
static unsigned int
auto_allowed(const struct mjob *j, const struct ct_caps *c)
{
    unsigned int bits = 1u << CT_STRATEGY_DUMP;

    /* A filtered flush carries the protocol where proven, and one TCP or
     * UDP port; never a range. */
    bool port_ok = !j->has_dport
                   || (j->lo == j->hi && (j->proto == IPPROTO_TCP || j->proto == IPPROTO_UDP));
    if (!j->local_any && !j->has_mark && port_ok && m_filtered_expect(j, c) != EXPECT_REFUSED) {
        bits |= 1u << CT_STRATEGY_FILTERED_FLUSH;
    }
    /* A mixed-family job may be proven for IPv4 only: its IPv4 part may
     * still go to a filtered flush. */
    if (!j->local_any && !j->has_mark && port_ok && c->filtered_flush
        && (!j->proto || c->filtered_flush_proto)
        && (!j->has_zone || (j->zone ? c->filtered_flush_zone : c->filtered_flush_zone_default))
        && m_has_admitted(j, j->local, j->n_local, AF_INET)) {
        bits |= 1u << CT_STRATEGY_FILTERED_FLUSH;
    }
    if (m_whole_zone(j) && m_zone_flush_proven(j, c)) {
        bits |= 1u << CT_STRATEGY_ZONE_FLUSH;
    }
    /* Filtered dumps, for any chunk or family part with a side of exact
     * addresses the caps prove. */
    if (!j->local_any && c->filtered_dump) {
        for (size_t i = 0; i < j->n_local + j->n_peers; i++) {
            const struct mpfx *x = i < j->n_local ? &j->local[i] : &j->peers[i - j->n_local];
            if (m_all_hosts(x, 1) && m_admits(j, x->family)
                && (x->family == AF_INET || c->filtered_dump_v6)) {
                bits |= 1u << CT_STRATEGY_FILTERED_DUMP;
            }
        }
    }
    return bits;
}

/* ---- Groups of jobs in one run. ---- */

#define GROUP_EXTRA_MAX 5

struct group_poll {
    struct engine_job *jobs;
    size_t n;
    size_t cancel;              /* Index cancelled at the first poll; n: none. */
    unsigned int polls;
};

static void
group_poll_cb(void *aux)
{
    struct group_poll *g = aux;

    if (!g->polls++ && g->cancel < g->n) {
        g->jobs[g->cancel].cancel = true;
    }
}

/* The case's job and a few random others, as one group: the table must
 * lose exactly what the jobs that were not cancelled match; a shared pass
 * counts every entry for every job it matches. */
static void
run_group(struct pcase *pc, const struct ct_caps *run_caps, const char *what)
{
    struct mjob mj[1 + GROUP_EXTRA_MAX];
    struct flush_job fj[1 + GROUP_EXTRA_MAX];
    struct engine_job ej[1 + GROUP_EXTRA_MAX];
    struct engine_opts opts;
    struct group_poll g;
    char desc[768];
    size_t n = 2 + rnd_below(GROUP_EXTRA_MAX);

    mj[0] = *pc->job;
    mj[0].max_delete_rate = 0;
    size_t used = (size_t) snprintf(run_ctx, sizeof run_ctx, "%s: group of %zu", what, n);
    for (size_t i = 1; i < n; i++) {
        gen_job(&mj[i]);
        mjob_describe(&mj[i], desc, sizeof desc);
        if (used < sizeof run_ctx) {
            used += (size_t) snprintf(run_ctx + used, sizeof run_ctx - used, "; + %s", desc);
        }
    }
    memset(ej, 0, sizeof ej);
    for (size_t i = 0; i < n; i++) {
        mjob_to_flush_job(&mj[i], &fj[i]);
        ej[i].id = i + 1;
        ej[i].job = &fj[i];
    }
    g.jobs = ej;
    g.n = n;
    g.cancel = chance(30) ? rnd_below((uint32_t) n) : n;
    g.polls = 0;
    engine_opts_init(&opts);
    opts.caps = run_caps;
    opts.poll = group_poll_cb;
    opts.hook_aux = &g;

    PCHECK(engine_table_count() == pc->n, "table not whole before the group");
    size_t failed = engine_run_jobs(ej, n, &opts);
    cov.runs++;

    /* The model: survivors and each job's own count. */
    struct key *want = calloc(pc->n, sizeof *want);
    struct ctgen_entry *gone = calloc(pc->n, sizeof *gone);
    size_t mine[1 + GROUP_EXTRA_MAX] = { 0 }, n_want = 0, n_gone = 0;
    PCHECK(want && gone, "out of memory");
    for (size_t k = 0; k < pc->n; k++) {
        bool del = false;
        for (size_t i = 0; i < n; i++) {
            bool m = m_match(&mj[i], &pc->table[k], NULL);
            mine[i] += m;
            del |= m && i != g.cancel;
        }
        if (del) {
            gone[n_gone++] = pc->table[k];
        } else {
            want[n_want++] = key_of(&pc->table[k]);
        }
    }
    qsort(want, n_want, sizeof *want, key_cmp);
    PCHECK(failed == (g.cancel < n), "%zu jobs failed, %s cancelled", failed,
           g.cancel < n ? "one" : "none");
    bool exact = true;
    for (size_t i = 0; i < n; i++) {
        const struct engine_job *j = &ej[i];
        PCHECK(j->finished, "job %zu not finished", i);
        if (i == g.cancel) {
            PCHECK(j->err == ECANCELED && j->stats.deleted == 0,
                   "cancelled job %zu: err %d, %" PRIu64 " deleted", i, j->err, j->stats.deleted);
            continue;
        }
        PCHECK(j->err == 0, "job %zu failed: %s", i, j->errbuf);
        PCHECK(j->stats.errors == 0 && j->stats.already_gone == 0,
               "job %zu: errors %" PRIu64 ", already gone %" PRIu64, i, j->stats.errors,
               j->stats.already_gone);
        PCHECK(j->stats.deleted <= mine[i], "job %zu: %" PRIu64 " deleted, it matches %zu", i,
               j->stats.deleted, mine[i]);
        exact &= j->stats.shared >= 2 && j->stats.strategies_used == 1u << CT_STRATEGY_DUMP;
    }
    for (size_t i = 0; exact && i < n; i++) {
        /* One pass for all: each saw the whole table as it was. */
        if (i != g.cancel) {
            PCHECK(ej[i].stats.matched == mine[i] && ej[i].stats.deleted == mine[i],
                   "shared pass, job %zu: matched %" PRIu64 " deleted %" PRIu64 ", the model "
                   "says %zu", i, ej[i].stats.matched, ej[i].stats.deleted, mine[i]);
        }
    }
    cov.groups++;
    cov.groups_shared += exact;
    expect_table(want, n_want, run_ctx);
    kernel_insert(gone, n_gone);
    PCHECK(engine_table_count() == pc->n, "table not whole again after the group");
    for (size_t i = 0; i < n; i++) {
        flush_job_destroy(&fj[i]);
    }
    free(want);
    free(gone);
}

static void
run_case(uint64_t seed, unsigned int index)
{
    struct mjob job;
    struct pcase pc;
    char what[128];

    memset(&pc, 0, sizeof pc);
    rng_state = seed;
    struct ctgen_entry *table = calloc(MAX_ENTRIES, sizeof *table);
    PCHECK(table != NULL, "out of memory");
    pc.n = gen_table(table);
    gen_job(&job);
    /* Cost models auto sees: as probed, tempted towards kernel walks, towards
     * the dump, or towards filtered dumps; and the threads forced filtered
     * dumps run on. Drawn now, so the case does not depend on caps. */
    unsigned int cost_variant = rnd_below(4);
    unsigned int fdump_threads = 1 + rnd_below(4);
    pc.table = table;
    pc.job = &job;

    mjob_describe(&job, pc.desc, sizeof pc.desc);
    run_ctx[0] = '\0';
    snprintf(case_ctx, sizeof case_ctx,
             "  case %u seed 0x%016" PRIx64 " (replay: CTF_PROPERTY_SEED=0x%016" PRIx64
             " CTF_PROPERTY_ITERS=1)\n  table: %zu entries\n  job: %s",
             index, seed, seed, pc.n, pc.desc);
    mjob_to_flush_job(&job, &pc.fj);

    /* The model. */
    pc.all = calloc(pc.n, sizeof *pc.all);
    pc.survivors = calloc(pc.n, sizeof *pc.survivors);
    pc.matched = calloc(pc.n, sizeof *pc.matched);
    PCHECK(pc.all && pc.survivors && pc.matched, "out of memory");
    for (size_t i = 0; i < pc.n; i++) {
        bool reply_only;
        pc.all[i] = key_of(&table[i]);
        if (m_match(&job, &table[i], &reply_only)) {
            pc.matched[pc.n_matched++] = table[i];
            cov.reply_only += reply_only;
        } else {
            pc.survivors[pc.n_survivors++] = pc.all[i];
        }
    }
    qsort(pc.all, pc.n, sizeof *pc.all, key_cmp);
    qsort(pc.survivors, pc.n_survivors, sizeof *pc.survivors, key_cmp);
    /* Sanity of the generator: all keys distinct. */
    for (size_t i = 1; i < pc.n; i++) {
        PCHECK(key_cmp(&pc.all[i - 1], &pc.all[i]) != 0, "generator made a duplicate");
    }

    /* The table, checked once against the model; later runs put back
     * exactly what they deleted. */
    kernel_flush();
    kernel_insert(table, pc.n);
    expect_table(pc.all, pc.n, "after building the table");

    /* Auto with the probed caps and one of three cost models. */
    struct ct_caps c = caps;
    if (cost_variant == 1) {
        c.walk_fixed_ms = 0.001;
        c.walk_ns_per_entry = 0.01;
        c.dump_fixed_ms = 1000;
        c.dump_ns_per_entry = 100000;
    } else if (cost_variant == 2) {
        c.walk_fixed_ms = 1000;
        c.walk_ns_per_entry = 100000;
        c.dump_fixed_ms = 0.001;
        c.dump_ns_per_entry = 0.01;
        c.fdump_fixed_ms = 1000;
        c.fdump_ns_per_entry = 100000;
    } else if (cost_variant == 3) {
        c.walk_fixed_ms = 1000;
        c.walk_ns_per_entry = 100000;
        c.dump_fixed_ms = 1000;
        c.dump_ns_per_entry = 100000;
        c.fdump_fixed_ms = 0.001;
        c.fdump_ns_per_entry = 0.01;
    }
    snprintf(what, sizeof what, "auto (cost model %u)", cost_variant);
    run_one(&pc, what, &c, CT_STRATEGY_AUTO, EXPECT_RUN, auto_allowed(&job, &c));

    run_one(&pc, "forced dump", &caps, CT_STRATEGY_DUMP, EXPECT_RUN, 1u << CT_STRATEGY_DUMP);

    unsigned int walks = planner_filtered_walks(&pc.fj);
    if (walks > 0 && walks <= MAX_FORCED_WALKS) {
        snprintf(what, sizeof what, "forced filtered flush (%u walks)", walks);
        run_one(&pc, what, &caps, CT_STRATEGY_FILTERED_FLUSH, m_filtered_expect(&job, &caps),
                1u << CT_STRATEGY_FILTERED_FLUSH);
    }
    unsigned int dumps;
    enum run_expect fdump_expect = m_fdump_expect(&job, &caps, &dumps);
    if (fdump_expect == EXPECT_REFUSED || dumps <= MAX_FORCED_DUMPS) {
        struct ct_caps ct = caps;
        ct.dump_threads = fdump_threads;
        snprintf(what, sizeof what, "forced filtered dump (<= %u dumps, %u threads)", dumps,
                 fdump_threads);
        run_one(&pc, what, &ct, CT_STRATEGY_FILTERED_DUMP, fdump_expect,
                1u << CT_STRATEGY_FILTERED_DUMP);
    }
    if (m_whole_zone(&job)) {
        run_one(&pc, "forced zone flush", &caps, CT_STRATEGY_ZONE_FLUSH,
                m_zone_flush_proven(&job, &caps) ? EXPECT_RUN : EXPECT_REFUSED,
                1u << CT_STRATEGY_ZONE_FLUSH);
    }

    /* Nothing proven: auto must fall back to the dump and still be exact. */
    struct ct_caps none;
    ct_caps_init_unproven(&none, "property test: fallback");
    run_one(&pc, "auto, nothing proven (fallback)", &none, CT_STRATEGY_AUTO, EXPECT_RUN,
            1u << CT_STRATEGY_DUMP);

    /* The job with others: one shared dump (costs that make it cheapest),
     * and as the probed costs decide. */
    struct ct_caps share = caps;
    share.walk_fixed_ms = share.fdump_fixed_ms = 1000;
    share.dump_fixed_ms = 0.001;
    share.dump_ns_per_entry = 0.01;
    run_group(&pc, &share, "group, shared");
    run_group(&pc, &caps, "group, probed costs");

    cov.cases++;
    flush_job_destroy(&pc.fj);
    free(pc.all);
    free(pc.survivors);
    free(pc.matched);
    free(table);
}

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    char *end;

    if (!s || !*s) {
        return dflt;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) {
        fprintf(stderr, "%s=%s: not a number\n", name, s);
        exit(2);
    }
    return v;
}

static void
test_property(void **state)
{
    (void) state;
    unsigned int dflt = DEFAULT_ITERS;
#if defined(__SANITIZE_ADDRESS__)
    dflt = DEFAULT_ITERS_ASAN;
#endif
    if (RUNNING_ON_VALGRIND) {
        dflt = DEFAULT_ITERS_VALGRIND;
    }
    unsigned int iters = (unsigned int) env_u64("CTF_PROPERTY_ITERS", dflt);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t master = env_u64("CTF_PROPERTY_SEED",
                              ((uint64_t) ts.tv_sec << 20) ^ (uint64_t) ts.tv_nsec
                              ^ ((uint64_t) getpid() << 40));
    fprintf(stderr, "property: %u cases from seed 0x%016" PRIx64
            " (CTF_PROPERTY_SEED=0x%016" PRIx64 " replays the run)\n", iters, master, master);

    for (unsigned int i = 0; i < iters; i++) {
        run_case(master + i, i);
    }
    fprintf(stderr,
            "property: %u cases, %u runs: %u dump, %u filtered-flush (%u picked by auto), "
            "%u filtered-dump (%u picked by auto), %u zone-flush, %u refused; %" PRIu64
            " entries deleted, %" PRIu64 " of them matched by the reply tuple only; %u groups, "
            "%u in one shared dump\n",
            cov.cases, cov.runs, cov.runs_by[CT_STRATEGY_DUMP],
            cov.runs_by[CT_STRATEGY_FILTERED_FLUSH], cov.auto_filtered,
            cov.runs_by[CT_STRATEGY_FILTERED_DUMP], cov.auto_fdump,
            cov.runs_by[CT_STRATEGY_ZONE_FLUSH], cov.refused, cov.deleted, cov.reply_only,
            cov.groups, cov.groups_shared);
    /* A run long enough to mean something must have exercised what the
     * kernel proved; otherwise the generator has drifted. */
    if (iters >= COVERAGE_MIN_ITERS) {
        run_ctx[0] = '\0';
        snprintf(case_ctx, sizeof case_ctx, "  coverage over seed 0x%016" PRIx64, master);
        PCHECK(cov.deleted > 0 && cov.reply_only > 0, "no deletes, or none by reply tuple");
        PCHECK(!caps.filtered_flush || cov.runs_by[CT_STRATEGY_FILTERED_FLUSH] > 0,
               "filtered flush is proven but never ran");
        PCHECK(!caps.zone_flush || cov.runs_by[CT_STRATEGY_ZONE_FLUSH] > 0,
               "zone flush is proven but never ran");
        PCHECK(!caps.filtered_dump || cov.runs_by[CT_STRATEGY_FILTERED_DUMP] > 0,
               "filtered dump is proven but never ran");
        PCHECK(cov.groups_shared > 0, "no group ever shared a dump");
    }
}

int
main(void)
{
    int skip = netns_private_enter();

    if (skip) {
        return skip;
    }
    log_init("test_property", LOG_LVL_WARNING, false);
    if (probe_run(&caps, false) || !caps.probed) {
        char desc[512];
        fprintf(stderr, "skipped: the probe did not run: %s\n",
                probe_describe(&caps, desc, sizeof desc));
        return 77;
    }
    char desc[512];
    fprintf(stderr, "probe: %s\n", probe_describe(&caps, desc, sizeof desc));

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
