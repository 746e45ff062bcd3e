/*
 * test_engine_netns.c: runs flush jobs against the real kernel conntrack
 * table and checks that exactly the intended entries went.
 *
 * The test process moves itself into a fresh network namespace first, so the
 * table is private and goes away with the process on every exit path. The
 * expected outcome comes from a deliberately naive model (linear scans over
 * the job's lists), not from the engine's own matcher.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctgen.h"
#include "ctmsg.h"
#include "ctsock.h"
#include "engine.h"
#include "job.h"
#include "log.h"
#include "netns_private.h"
#include "planner.h"
#include "probe.h"

static struct ct_caps caps;       /* Proven once for the whole run. */
static struct ct_caps probed;     /* As proven: caps is put back to it after
                                   * each test, even one that failed half-way
                                   * with dump_threads changed. */
static struct ctgen_entry *table; /* The table every test starts from. */
static unsigned long pipe_dumps;  /* Calls to ctpipe_dump (wrapped below). */
static unsigned int opt_dump_threads;   /* engine_opts.dump_threads for
                                         * check_job_once (0 after each test). */
static size_t table_n;

int __real_ctpipe_dump(struct ctsock *, const void *, size_t, ctsock_dump_cb *, void *);
int __wrap_ctpipe_dump(struct ctsock *, const void *, size_t, ctsock_dump_cb *, void *);

/* Counts the dumps the engine receives on a helper thread. */
int
__wrap_ctpipe_dump(struct ctsock *s, const void *req, size_t len, ctsock_dump_cb *cb, void *aux)
{
    __atomic_add_fetch(&pipe_dumps, 1, __ATOMIC_RELAXED);
    return __real_ctpipe_dump(s, req, len, cb, aux);
}

static union ctf_inaddr
v4(const char *s)
{
    union ctf_inaddr a;
    memset(&a, 0, sizeof a);
    assert_int_equal(inet_pton(AF_INET, s, &a.v4), 1);
    return a;
}

static union ctf_inaddr
v4n(uint32_t base, uint32_t i)
{
    union ctf_inaddr a;
    memset(&a, 0, sizeof a);
    a.w[0] = htonl(base + i);
    return a;
}

static union ctf_inaddr
v6n(const char *prefix, unsigned int i)
{
    char buf[64];
    union ctf_inaddr a;
    memset(&a, 0, sizeof a);
    snprintf(buf, sizeof buf, "%s%x", prefix, i);
    assert_int_equal(inet_pton(AF_INET6, buf, &a.v6), 1);
    return a;
}

static void
add(int family, uint8_t proto, union ctf_inaddr os, union ctf_inaddr od,
    const union ctf_inaddr *rs, const union ctf_inaddr *rd, uint16_t sport,
    uint16_t zone, uint32_t mark)
{
    struct ctgen_entry *e = &table[table_n++];
    memset(e, 0, sizeof *e);
    e->family = family;
    e->l4proto = proto;
    e->orig_src = os;
    e->orig_dst = od;
    if (rs) {
        e->nat = 1;
        e->reply_src = *rs;
        e->reply_dst = *rd;
    }
    e->sport = sport;
    e->dport = proto == IPPROTO_TCP ? 443 : 53;
    e->zone = zone;
    e->mark = mark;
    e->timeout = 1200;
}

#define LOCALS 20               /* 10.1.0.1-20, fd00:1::1-20 */
#define PEERS 10                /* 10.2.0.1-10, fd00:2::1-10 */
#define BACKGROUND 3000

/* A table with v4 and v6, two zones, marks, DNAT'd and SNAT'd entries whose
 * reply tuples differ from the original, and unrelated background. */
static void
build_table(void)
{
    table = calloc(8192, sizeof *table);
    assert_non_null(table);
    for (uint32_t l = 1; l <= LOCALS; l++) {
        for (uint32_t p = 1; p <= PEERS; p++) {
            union ctf_inaddr L = v4n(0x0a010000, l), P = v4n(0x0a020000, p);
            add(AF_INET, IPPROTO_UDP, L, P, NULL, NULL, 1000, 0, l % 4);
            add(AF_INET, IPPROTO_TCP, P, L, NULL, NULL, 2000, 0, 0);
            add(AF_INET, IPPROTO_UDP, L, P, NULL, NULL, 1000, 7, 0);
            union ctf_inaddr L6 = v6n("fd00:1::", l), P6 = v6n("fd00:2::", p);
            add(AF_INET6, IPPROTO_TCP, L6, P6, NULL, NULL, 3000, 0, 0);
            add(AF_INET6, IPPROTO_UDP, P6, L6, NULL, NULL, 3001, 7, 0);
        }
        /* DNAT: a client talks to a floating IP; the reply comes from the
         * VM's fixed address. */
        union ctf_inaddr client = v4n(0x0a030000, l), fip = v4n(0x0a040000, l);
        union ctf_inaddr fixed = v4n(0x0a010000, l);
        add(AF_INET, IPPROTO_TCP, client, fip, &fixed, &client, 4000, 0, 0);
        /* SNAT: the VM talks out; the reply goes to the host's address. */
        union ctf_inaddr out = v4("8.8.8.8"), snat = v4n(0x0a050000, 1);
        add(AF_INET, IPPROTO_UDP, fixed, out, &out, &snat, (uint16_t) (5000 + l), 0, 0);
        /* Two locals talking to each other, and a hairpin DNAT (a local
         * reaches a floating IP that leads to the next local): a job's
         * addresses at several ends of one entry, which several filtered
         * dumps return. */
        union ctf_inaddr next = v4n(0x0a010000, l % LOCALS + 1);
        add(AF_INET, IPPROTO_TCP, fixed, next, NULL, NULL, 6000, 0, 0);
        union ctf_inaddr hairpin = v4n(0x0a060000, l);
        add(AF_INET, IPPROTO_TCP, fixed, hairpin, &next, &fixed, 7000, 0, 0);
        add(AF_INET6, IPPROTO_TCP, v6n("fd00:1::", l), v6n("fd00:1::", l % LOCALS + 1), NULL,
            NULL, 6000, 0, 0);
    }
    for (uint32_t i = 0; i < BACKGROUND; i++) {
        add(AF_INET, IPPROTO_UDP, v4n(0xac100000, i / 50), v4n(0xc0a80000, i % 50), NULL, NULL,
            (uint16_t) (10000 + i), (uint16_t) (i % 3 == 0 ? 7 : 0), 0);
    }
}

/* ---- The naive model. ---- */

static bool
in_list(const struct ctf_prefix_list *l, bool any, int family, const union ctf_inaddr *a)
{
    if (any) {
        return true;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (ctf_prefix_contains(&l->items[i], family, a)) {
            return true;
        }
    }
    return false;
}

/* One tuple read as src -> dst (job.h): egress has LOCAL at the source,
 * ingress at the destination. */
static bool
model_pair(const struct flush_job *j, int f, const union ctf_inaddr *s, const union ctf_inaddr *d)
{
    bool egress = in_list(&j->local, j->local_any, f, s) && in_list(&j->peers, j->peers_any, f, d);
    bool ingress = in_list(&j->local, j->local_any, f, d)
                   && in_list(&j->peers, j->peers_any, f, s);

    return j->direction == FLUSH_DIRECTION_INGRESS ? ingress
           : j->direction == FLUSH_DIRECTION_EGRESS ? egress : ingress || egress;
}

static bool
model_match(const struct flush_job *j, const struct ctgen_entry *e)
{
    if (j->has_zone && e->zone != j->zone) {
        return false;
    }
    if (j->has_mark && (e->mark & j->mark_mask) != (j->mark & j->mark_mask)) {
        return false;
    }
    if ((j->family == FLUSH_FAMILY_IPV4 && e->family != AF_INET)
        || (j->family == FLUSH_FAMILY_IPV6 && e->family != AF_INET6)) {
        return false;
    }
    if (j->proto && e->l4proto != j->proto) {
        return false;
    }
    if (j->has_dport && (e->dport < j->dport_lo || e->dport > j->dport_hi)) {
        return false;
    }
    const union ctf_inaddr *rs = e->nat ? &e->reply_src : &e->orig_dst;
    const union ctf_inaddr *rd = e->nat ? &e->reply_dst : &e->orig_src;
    /* The reply tuple read backwards: its destination is the original's
     * source. */
    return model_pair(j, e->family, &e->orig_src, &e->orig_dst)
        || (j->tuple != FLUSH_TUPLE_ORIG && model_pair(j, e->family, rd, rs));
}

/* ---- The kernel side. ---- */

/* What identifies an entry of our table in a dump. */
struct seen_key {
    int family;
    uint8_t proto;
    uint16_t zone;
    uint32_t mark;
    union ctf_inaddr os, od, rs, rd;
};

struct seen {
    struct seen_key *keys;
    size_t n;
};

static int
seen_cb(const void *nlh, size_t len, void *aux)
{
    struct seen *s = aux;
    struct ct_entry e;
    if (ctmsg_parse_entry(nlh, len, &e)) {
        return 0;
    }
    struct seen_key *k = &s->keys[s->n++];
    memset(k, 0, sizeof *k);
    k->family = e.family;
    k->proto = e.l4proto;
    k->zone = e.zone;
    k->mark = e.mark;
    k->os = e.orig.src;
    k->od = e.orig.dst;
    k->rs = e.reply.src;
    k->rd = e.reply.dst;
    return 0;
}

static struct seen_key
key_of(const struct ctgen_entry *e)
{
    struct seen_key k;
    memset(&k, 0, sizeof k);
    k.family = e->family;
    k.proto = e->l4proto;
    k.zone = e->zone;
    k.mark = e->mark;
    k.os = e->orig_src;
    k.od = e->orig_dst;
    k.rs = e->nat ? e->reply_src : e->orig_dst;
    k.rd = e->nat ? e->reply_dst : e->orig_src;
    return k;
}

static int
key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct seen_key));
}

static void
dump_table(struct seen *s)
{
    struct ctsock sock;
    char req[CTMSG_MAX_LEN];

    s->keys = calloc(table_n + 16, sizeof *s->keys);
    s->n = 0;
    assert_int_equal(ctsock_open(&sock, 0), 0);
    size_t n = ctmsg_build_dump(req, sizeof req, ctsock_next_seq(&sock), AF_UNSPEC, NULL,
                                NULL, NULL);
    assert_int_equal(ctsock_dump(&sock, req, n, seen_cb, s), 0);
    ctsock_close(&sock);
    qsort(s->keys, s->n, sizeof *s->keys, key_cmp);
}

static void
reset_table(void)
{
    struct ctsock sock;
    struct ctgen_stats st;
    char msg[CTMSG_MAX_LEN];

    assert_int_equal(ctsock_open(&sock, 0), 0);
    size_t n = ctmsg_build_flush(msg, sizeof msg, ctsock_next_seq(&sock), AF_UNSPEC, true);
    assert_int_equal(ctsock_request(&sock, msg, n), 0);
    assert_int_equal(ctgen_insert(&sock, table, table_n, &st), 0);
    assert_int_equal(st.inserted, table_n);
    ctsock_close(&sock);
    assert_int_equal(engine_table_count(), table_n);
}

/* An IPv6 local address the job's family admits. */
static bool
job_has_v6(const struct flush_job *job)
{
    return flush_job_family_ok(job, AF_INET6) && ctf_prefix_list_has_family(&job->local, AF_INET6);
}

/* True if the side a filtered dump filters on (the one with fewer exact
 * addresses; local when peers are any) has an IPv6 address. */
static bool
fdump_side_has_v6(const struct flush_job *job)
{
    bool on_peers;

    if (!planner_filtered_dumps(job, &on_peers) || !flush_job_family_ok(job, AF_INET6)) {
        return false;
    }
    return ctf_prefix_list_has_family(on_peers ? &job->peers : &job->local, AF_INET6);
}

/* Runs job once with strategy (and a delete-rate cap, 0: none) and checks
 * the survivors are exactly the model's. Its stats go to *out if not NULL. */
static void
check_job_once(struct flush_job *job, enum ct_strategy strategy, size_t max_local,
               size_t max_peers, uint64_t rate, size_t expect_min_deleted,
               struct engine_stats *out)
{
    struct engine_opts opts;
    struct engine_stats st;
    char err[256];
    struct seen after;

    reset_table();
    engine_opts_init(&opts);
    opts.caps = &caps;
    opts.force = strategy;
    opts.max_local = max_local;
    opts.max_peers = max_peers;
    opts.max_delete_rate = rate;
    opts.dump_threads = opt_dump_threads;
    int rc = engine_run(job, &opts, &st, err, sizeof err);
    if (out) {
        *out = st;
    }
    if ((strategy == CT_STRATEGY_FILTERED_FLUSH && job_has_v6(job) && !caps.filtered_flush_v6)
        || (strategy == CT_STRATEGY_FILTERED_DUMP && fdump_side_has_v6(job)
            && !caps.filtered_dump_v6)) {
        /* Unproven for IPv6 (6.18 deletes, or dumps, the NON-matching
         * entries): the engine must refuse and leave the table alone. */
        assert_int_equal(rc, ENOTSUP);
        assert_int_equal(st.deleted, 0);
        assert_int_equal(engine_table_count(), table_n);
        return;
    }
    if (rc) {
        print_error("engine_run: %s\n", err);
    }
    assert_int_equal(rc, 0);
    if (strategy != CT_STRATEGY_AUTO) {
        assert_int_equal(st.strategy, strategy);
    }

    /* Expected survivors. */
    struct seen_key *want = calloc(table_n, sizeof *want);
    size_t n_want = 0;
    for (size_t i = 0; i < table_n; i++) {
        if (!model_match(job, &table[i])) {
            want[n_want++] = key_of(&table[i]);
        }
    }
    qsort(want, n_want, sizeof *want, key_cmp);
    dump_table(&after);

    size_t gone = table_n - n_want;
    assert_true(gone >= expect_min_deleted);    /* The job was not vacuous. */
    assert_int_equal(st.deleted, gone);
    /* On a quiet table every entry is matched (and deleted) once: an entry
     * that several filtered dumps return is deleted by one of them only. */
    assert_int_equal(st.matched, gone);
    assert_int_equal(st.already_gone, 0);
    assert_int_equal(st.errors, 0);
    assert_int_equal(after.n, n_want);
    for (size_t i = 0; i < n_want; i++) {
        assert_memory_equal(&after.keys[i], &want[i], sizeof *want);
    }
    free(want);
    free(after.keys);
}

/* Dumps run on the engine's own thread (1) and on a pool (4: filtered dumps
 * side by side, a single dump received on a helper thread). */
static const unsigned int dump_threads_tried[] = { 1, 4 };
#define N_DUMP_THREADS_TRIED (sizeof dump_threads_tried / sizeof *dump_threads_tried)

/* As check_job_once; a dump or filtered dump runs once per entry of
 * dump_threads_tried, out[i] (if not NULL) getting run i's stats. */
static void
check_job_rate(struct flush_job *job, enum ct_strategy strategy, size_t max_local,
               size_t max_peers, uint64_t rate, size_t expect_min_deleted,
               struct engine_stats out[N_DUMP_THREADS_TRIED])
{
    unsigned int saved = caps.dump_threads;

    if (strategy != CT_STRATEGY_FILTERED_DUMP && strategy != CT_STRATEGY_DUMP) {
        check_job_once(job, strategy, max_local, max_peers, rate, expect_min_deleted, out);
        return;
    }
    for (size_t i = 0; i < N_DUMP_THREADS_TRIED; i++) {
        caps.dump_threads = dump_threads_tried[i];
        check_job_once(job, strategy, max_local, max_peers, rate, expect_min_deleted,
                       out ? &out[i] : NULL);
        caps.dump_threads = saved;
    }
}

static int
restore_caps(void **state)
{
    (void) state;
    caps = probed;
    opt_dump_threads = 0;
    return 0;
}

static void
check_job(struct flush_job *job, enum ct_strategy strategy, size_t max_local,
          size_t max_peers, size_t expect_min_deleted)
{
    check_job_rate(job, strategy, max_local, max_peers, 0, expect_min_deleted, NULL);
}

/* Forcing strategy on job under c must fail with rc and touch nothing. */
static void
check_refused(const struct flush_job *job, const struct ct_caps *c, enum ct_strategy strategy,
              int rc)
{
    struct engine_opts opts;
    struct engine_stats st;
    char err[256];

    reset_table();
    engine_opts_init(&opts);
    opts.caps = c;
    opts.force = strategy;
    assert_int_equal(engine_run(job, &opts, &st, err, sizeof err), rc);
    assert_int_equal(st.deleted, 0);
    assert_int_equal(engine_table_count(), table_n);
}

static void
job_set(struct flush_job *job, const char *local, const char *peers)
{
    char err[128];

    flush_job_init(job);
    assert_int_equal(flush_job_parse_side(&job->local, &job->local_any, local, err, sizeof err), 0);
    assert_int_equal(flush_job_parse_side(&job->peers, &job->peers_any, peers, err, sizeof err), 0);
}

static const enum ct_strategy addr_strategies[] = {
    CT_STRATEGY_DUMP, CT_STRATEGY_FILTERED_FLUSH, CT_STRATEGY_FILTERED_DUMP, CT_STRATEGY_AUTO,
};
#define N_ADDR_STRATEGIES (sizeof addr_strategies / sizeof *addr_strategies)

static void
test_one_local_any_peer(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_ADDR_STRATEGIES; i++) {
        struct flush_job job;
        job_set(&job, "10.1.0.3", "any");
        /* 10 peers x 3 entries, the DNAT'd and the SNAT'd entry. */
        check_job(&job, addr_strategies[i], 0, 0, 32);
        flush_job_destroy(&job);
    }
}

static void
test_v6_local(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_ADDR_STRATEGIES; i++) {
        struct flush_job job;
        job_set(&job, "fd00:1::4,fd00:1::5", "any");
        check_job(&job, addr_strategies[i], 0, 0, 40);
        flush_job_destroy(&job);
    }
}

static void
test_locals_x_peers(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_ADDR_STRATEGIES; i++) {
        struct flush_job job;
        job_set(&job, "10.1.0.1,10.1.0.2,fd00:1::1", "10.2.0.1,10.2.0.2,fd00:2::2");
        check_job(&job, addr_strategies[i], 0, 0, 12);
        flush_job_destroy(&job);
    }
}

static void
test_zone(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_ADDR_STRATEGIES; i++) {
        struct flush_job job;
        job_set(&job, "10.1.0.7", "any");
        job.has_zone = true;
        job.zone = 7;
        check_job(&job, addr_strategies[i], 0, 0, 10);
        flush_job_destroy(&job);
        /* Zone 0 is a zone too, not "every zone". */
        job_set(&job, "10.1.0.8", "any");
        job.has_zone = true;
        job.zone = 0;
        check_job(&job, addr_strategies[i], 0, 0, 22);
        flush_job_destroy(&job);
    }
}

static void
test_whole_zone(void **state)
{
    (void) state;
    const enum ct_strategy s[] = { CT_STRATEGY_ZONE_FLUSH, CT_STRATEGY_DUMP, CT_STRATEGY_AUTO };
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        struct flush_job job;
        job_set(&job, "any", "any");
        job.has_zone = true;
        job.zone = 7;
        check_job(&job, s[i], 0, 0, 1000);
        flush_job_destroy(&job);
    }
    /* No exact addresses on either side: nothing to filter a dump on. */
    struct flush_job job;
    job_set(&job, "any", "any");
    job.has_zone = true;
    job.zone = 7;
    check_refused(&job, &caps, CT_STRATEGY_FILTERED_DUMP, EINVAL);
    flush_job_destroy(&job);
}

static void
test_nat_reply_tuple(void **state)
{
    (void) state;
    /* The VM's fixed address appears only in the reply tuple of the DNAT'd
     * entry, and the host's SNAT address only in a reply tuple. */
    for (size_t i = 0; i < N_ADDR_STRATEGIES; i++) {
        struct flush_job job;
        job_set(&job, "10.1.0.9", "10.3.0.9");
        check_job(&job, addr_strategies[i], 0, 0, 1);
        flush_job_destroy(&job);
        job_set(&job, "10.5.0.1", "any");
        check_job(&job, addr_strategies[i], 0, 0, LOCALS);
        flush_job_destroy(&job);
    }
}

static void
test_cidrs_dump_only(void **state)
{
    (void) state;
    struct flush_job job;
    job_set(&job, "10.1.0.0/29", "10.2.0.0/30,fd00:2::/120");
    check_job(&job, CT_STRATEGY_DUMP, 0, 0, 50);
    check_job(&job, CT_STRATEGY_AUTO, 0, 0, 50);

    /* A filtered flush cannot express a CIDR, nor a filtered dump CIDRs on
     * both sides: refused, table untouched. */
    check_refused(&job, &caps, CT_STRATEGY_FILTERED_FLUSH, EINVAL);
    check_refused(&job, &caps, CT_STRATEGY_FILTERED_DUMP, EINVAL);
    flush_job_destroy(&job);
}

static void
test_chunking(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_ADDR_STRATEGIES; i++) {
        struct flush_job job;
        job_set(&job, "10.1.0.1,10.1.0.2,10.1.0.3", "10.2.0.1,10.2.0.2");
        check_job(&job, addr_strategies[i], 1, 1, 18);
        flush_job_destroy(&job);
    }
}

static void
test_mark(void **state)
{
    (void) state;
    struct flush_job job;
    job_set(&job, "10.1.0.0/24", "any");
    job.has_mark = true;
    job.mark = 2;
    job.mark_mask = 3;
    check_job(&job, CT_STRATEGY_DUMP, 0, 0, 50);
    check_job(&job, CT_STRATEGY_AUTO, 0, 0, 50);
    flush_job_destroy(&job);
}

/* A kernel that failed a probe is never sent that kind of message. */
static void
test_unproven_never_sent(void **state)
{
    (void) state;
    struct ct_caps none;
    struct engine_opts opts;
    struct engine_stats st;
    char err[256];
    struct flush_job job;

    ct_caps_init_unproven(&none, "forced unsupported");
    reset_table();
    engine_opts_init(&opts);
    opts.caps = &none;

    job_set(&job, "any", "any");
    job.has_zone = true;
    job.zone = 7;
    opts.force = CT_STRATEGY_ZONE_FLUSH;
    assert_int_equal(engine_run(&job, &opts, &st, err, sizeof err), ENOTSUP);
    assert_int_equal(engine_table_count(), table_n);
    /* Auto falls back to the dump path, which still does the job. */
    opts.force = CT_STRATEGY_AUTO;
    assert_int_equal(engine_run(&job, &opts, &st, err, sizeof err), 0);
    assert_int_equal(st.strategy, CT_STRATEGY_DUMP);
    assert_true(st.deleted >= 1000);
    flush_job_destroy(&job);

    reset_table();
    job_set(&job, "10.1.0.3", "any");
    opts.force = CT_STRATEGY_FILTERED_FLUSH;
    assert_int_equal(engine_run(&job, &opts, &st, err, sizeof err), ENOTSUP);
    assert_int_equal(engine_table_count(), table_n);
    opts.force = CT_STRATEGY_FILTERED_DUMP;
    assert_int_equal(engine_run(&job, &opts, &st, err, sizeof err), ENOTSUP);
    assert_int_equal(engine_table_count(), table_n);
    opts.force = CT_STRATEGY_AUTO;
    assert_int_equal(engine_run(&job, &opts, &st, err, sizeof err), 0);
    assert_int_equal(st.strategy, CT_STRATEGY_DUMP);
    flush_job_destroy(&job);

    /* IPv4 filtered dumps proven, IPv6 not: an IPv6 address on the side
     * the dumps would filter on (here the peers, the shorter exact side)
     * is refused. */
    struct ct_caps v4only = caps;
    v4only.filtered_dump = true;
    v4only.filtered_dump_v6 = false;
    job_set(&job, "10.1.0.0/29,fd00:1::/120", "fd00:2::1");
    check_refused(&job, &v4only, CT_STRATEGY_FILTERED_DUMP, ENOTSUP);
    flush_job_destroy(&job);
}

/* How many of the side's addresses sit at the four ends of e (original
 * source and destination, reply source and destination). */
static unsigned int
ends_in(const struct ctf_prefix_list *side, const struct ctgen_entry *e)
{
    const union ctf_inaddr *ends[4] = {
        &e->orig_src, &e->orig_dst,
        e->nat ? &e->reply_src : &e->orig_dst, e->nat ? &e->reply_dst : &e->orig_src,
    };
    unsigned int n = 0;

    for (int k = 0; k < 4; k++) {
        n += in_list(side, false, e->family, ends[k]);
    }
    return n;
}

/* An entry whose filtered-side address sits at several ends (an un-NATed
 * entry has it as original source and reply destination; an entry between
 * two of the side's addresses has them at all four) comes back from
 * several filtered dumps, and must still be deleted exactly once: no
 * ENOENT from a second delete, matched == deleted == the model's count. */
static void
test_filtered_dump_duplicates(void **state)
{
    (void) state;
    static const struct { const char *local, *peers; bool on_peers; } jobs[] = {
        { "10.1.0.1,10.1.0.2", "any", false },
        /* The shorter exact side is the peers'. */
        { "10.1.0.1,10.1.0.2,10.1.0.3", "10.1.0.2,10.1.0.3", true },
        /* Only the peers are exact addresses. */
        { "10.1.0.0/27", "10.1.0.4,10.1.0.5", true },
    };

    for (size_t i = 0; i < sizeof jobs / sizeof *jobs; i++) {
        struct flush_job job;
        bool on_peers;
        job_set(&job, jobs[i].local, jobs[i].peers);
        assert_true(planner_filtered_dumps(&job, &on_peers) > 0);
        assert_int_equal(on_peers, jobs[i].on_peers);

        /* The table has what this test is about: matched entries whose
         * filtered-side addresses sit at two and at four ends. */
        const struct ctf_prefix_list *side = on_peers ? &job.peers : &job.local;
        size_t twice = 0, four = 0, n_match = 0;
        for (size_t k = 0; k < table_n; k++) {
            if (model_match(&job, &table[k])) {
                unsigned int ends = ends_in(side, &table[k]);
                n_match++;
                twice += ends >= 2;
                four += ends == 4;
            }
        }
        assert_true(twice > 0);
        assert_true(four > 0);

        struct engine_stats st[N_DUMP_THREADS_TRIED];
        check_job_rate(&job, CT_STRATEGY_FILTERED_DUMP, 0, 0, 0, 1, st);
        for (size_t t = 0; t < N_DUMP_THREADS_TRIED; t++) {
            assert_int_equal(st[t].strategies_used, 1u << CT_STRATEGY_FILTERED_DUMP);
            assert_int_equal(st[t].matched, n_match);
            assert_int_equal(st[t].deleted, n_match);
            assert_int_equal(st[t].already_gone, 0);
        }
        flush_job_destroy(&job);
    }
}

/* A delete-rate cap holds filtered dumps to one thread (whatever
 * dump_threads says) and paces their deletes; they must still delete
 * exactly the job's entries. */
static void
test_filtered_dump_rate(void **state)
{
    (void) state;
    struct flush_job job;
    struct engine_stats st[N_DUMP_THREADS_TRIED];
    const uint64_t rate = 200;

    job_set(&job, "10.1.0.3,10.1.0.4", "any");
    check_job_rate(&job, CT_STRATEGY_FILTERED_DUMP, 0, 0, rate, 60, st);
    for (size_t t = 0; t < N_DUMP_THREADS_TRIED; t++) {
        /* 200/s in slices of 20: every full slice takes 100 ms. */
        double slices = (double) (st[t].deleted / (rate / 10));
        assert_true(st[t].elapsed_ms >= (slices - 1) * 100.0);
        assert_int_equal(st[t].already_gone, 0);
    }
    flush_job_destroy(&job);
}

/* One dump with a thread to spare is received on a helper thread (ctpipe);
 * on one thread it is not, nor under a rate cap (one thread keeps it). The
 * same entries go every time. */
static void
test_dump_pipelined(void **state)
{
    (void) state;
    struct flush_job job;
    static const struct {
        unsigned int threads;   /* What the probe found. */
        unsigned int opt;       /* engine_opts.dump_threads (dump-threads). */
        uint64_t rate;
        unsigned long pipe_dumps;
    } runs[] = {
        { 1, 0, 0, 0 }, { 2, 0, 0, 1 }, { 4, 0, 0, 1 }, { 4, 0, 100000, 0 },
        { 4, 1, 0, 0 }, { 1, 2, 0, 1 },
    };

    job_set(&job, "10.1.0.0/28,fd00:1::/124", "any");
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        caps.dump_threads = runs[i].threads;
        opt_dump_threads = runs[i].opt;
        pipe_dumps = 0;
        check_job_once(&job, CT_STRATEGY_DUMP, 0, 0, runs[i].rate, 100, NULL);
        assert_int_equal(pipe_dumps, runs[i].pipe_dumps);
    }
    flush_job_destroy(&job);
}

/* Under a delete-rate cap auto still picks filtered dumps when they are
 * cheaper (their deletes are ours to pace), but never a kernel-side flush,
 * which deletes at the kernel's pace. */
static void
test_rate_cap_auto(void **state)
{
    (void) state;
    struct flush_job job;
    struct engine_stats st;

    /* Costs that make filtered dumps the cheapest way for one address. */
    caps.fdump_fixed_ms = 0.01;
    caps.fdump_ns_per_entry = 1;
    job_set(&job, "10.1.0.3", "any");
    check_job_once(&job, CT_STRATEGY_AUTO, 0, 0, 100000, 20, &st);
    assert_int_equal(st.strategy, CT_STRATEGY_FILTERED_DUMP);
    flush_job_destroy(&job);

    /* A whole zone: zone-flush without a cap, the dump with one. */
    job_set(&job, "any", "any");
    job.has_zone = true;
    job.zone = 7;
    check_job_once(&job, CT_STRATEGY_AUTO, 0, 0, 0, 1000, &st);
    assert_int_equal(st.strategy, CT_STRATEGY_ZONE_FLUSH);
    check_job_once(&job, CT_STRATEGY_AUTO, 0, 0, 1000000, 1000, &st);
    assert_int_equal(st.strategy, CT_STRATEGY_DUMP);
    /* Forced, it runs as asked. */
    check_job_once(&job, CT_STRATEGY_ZONE_FLUSH, 0, 0, 1000000, 1000, &st);
    assert_int_equal(st.strategy, CT_STRATEGY_ZONE_FLUSH);
    flush_job_destroy(&job);
}

/* Selectors against every strategy, with exact survivors. */
static void
test_selectors(void **state)
{
    (void) state;
    static const struct {
        const char *local, *peers;
        enum flush_direction direction;
        enum flush_tuple tuple;
        uint8_t proto;
        int lo, hi;             /* -1: no port. */
        enum flush_family family;
        size_t min;             /* Entries it must delete at least. */
    } cases[] = {
        /* Ingress of one VM: peers to it, and DNAT'd flows to it (reply). */
        { "10.1.0.3", "any", FLUSH_DIRECTION_INGRESS, FLUSH_TUPLE_ANY, 0, -1, -1, 0, 10 },
        /* What conntrack -D -d 10.1.0.3 deletes: no DNAT'd entry. */
        { "10.1.0.3", "any", FLUSH_DIRECTION_INGRESS, FLUSH_TUPLE_ORIG, 0, -1, -1, 0, 10 },
        { "10.1.0.3", "any", FLUSH_DIRECTION_EGRESS, FLUSH_TUPLE_ANY, 0, -1, -1, 0, 20 },
        { "10.1.0.3", "any", FLUSH_DIRECTION_EGRESS, FLUSH_TUPLE_ORIG, 0, -1, -1, 0, 20 },
        /* A Kubernetes-style service flush: UDP to a port. */
        { "10.1.0.4", "any", FLUSH_DIRECTION_EITHER, FLUSH_TUPLE_ANY, IPPROTO_UDP, 53, 53, 0, 20 },
        { "10.1.0.4,fd00:1::4", "any", FLUSH_DIRECTION_EITHER, FLUSH_TUPLE_ANY, IPPROTO_TCP, 400,
          500, 0, 20 },
        { "10.1.0.5,fd00:1::5", "10.2.0.1,10.2.0.2,fd00:2::1", FLUSH_DIRECTION_INGRESS,
          FLUSH_TUPLE_ORIG, IPPROTO_TCP, 443, 443, 0, 2 },
        { "10.1.0.6,fd00:1::6", "any", FLUSH_DIRECTION_EITHER, FLUSH_TUPLE_ANY, 0, -1, -1,
          FLUSH_FAMILY_IPV6, 20 },
        { "10.1.0.6,fd00:1::6", "any", FLUSH_DIRECTION_EGRESS, FLUSH_TUPLE_ANY, IPPROTO_UDP, -1, -1,
          FLUSH_FAMILY_IPV4, 10 },
        /* The SNAT address on the reply tuple, read backwards: egress. */
        { "10.5.0.1", "any", FLUSH_DIRECTION_INGRESS, FLUSH_TUPLE_ANY, 0, -1, -1, 0, 0 },
        { "10.5.0.1", "any", FLUSH_DIRECTION_EGRESS, FLUSH_TUPLE_ANY, 0, -1, -1, 0, LOCALS },
    };

    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        for (size_t i = 0; i < N_ADDR_STRATEGIES; i++) {
            struct flush_job job;
            job_set(&job, cases[c].local, cases[c].peers);
            job.direction = cases[c].direction;
            job.tuple = cases[c].tuple;
            job.proto = cases[c].proto;
            job.has_dport = cases[c].lo >= 0;
            job.dport_lo = (uint16_t) (cases[c].lo >= 0 ? cases[c].lo : 0);
            job.dport_hi = (uint16_t) (cases[c].hi >= 0 ? cases[c].hi : 0);
            job.family = cases[c].family;
            enum ct_strategy st = addr_strategies[i];
            /* A port range cannot be a kernel filter: a forced filtered
             * flush must refuse it. */
            if (st == CT_STRATEGY_FILTERED_FLUSH && job.has_dport && job.dport_lo != job.dport_hi) {
                check_refused(&job, &caps, st, EINVAL);
            } else if (st == CT_STRATEGY_FILTERED_FLUSH && job.proto
                       && !caps.filtered_flush_proto) {
                check_refused(&job, &caps, st, ENOTSUP);
            } else {
                check_job(&job, st, 0, 0, cases[c].min);
            }
            flush_job_destroy(&job);
        }
    }
    /* The DNAT'd entry to 10.1.0.3's fixed address: ingress by the reply
     * tuple only, so "orig" keeps it and "any" takes it. */
    struct flush_job a, o;
    job_set(&a, "10.1.0.3", "10.3.0.3");
    a.direction = FLUSH_DIRECTION_INGRESS;
    job_set(&o, "10.1.0.3", "10.3.0.3");
    o.direction = FLUSH_DIRECTION_INGRESS;
    o.tuple = FLUSH_TUPLE_ORIG;
    size_t na = 0, no = 0;
    for (size_t k = 0; k < table_n; k++) {
        na += model_match(&a, &table[k]);
        no += model_match(&o, &table[k]);
    }
    assert_int_equal(na, 1);
    assert_int_equal(no, 0);
    check_job(&a, CT_STRATEGY_AUTO, 0, 0, 1);
    flush_job_destroy(&a);
    flush_job_destroy(&o);
}

/* ---- Groups of jobs in one run. ---- */

struct group_rec {
    unsigned int polls;
    size_t cancel_at;           /* Job index to cancel at the first poll (SIZE_MAX: none). */
    bool cancel_all;
    struct engine_job *jobs;
    size_t n;
    unsigned int done_order[ENGINE_MAX_JOBS];
    size_t n_done;
};

static void
group_poll(void *aux)
{
    struct group_rec *g = aux;

    if (g->polls++ == 0) {
        for (size_t i = 0; i < g->n; i++) {
            if (g->cancel_all || i == g->cancel_at) {
                g->jobs[i].cancel = true;
            }
        }
    }
}

static void
group_done(const struct engine_job *j, void *aux)
{
    struct group_rec *g = aux;

    assert_true(j->finished);
    g->done_order[g->n_done++] = (unsigned int) (j - g->jobs);
}

/* Runs jobs[0..n) as one group under c; checks each job's own counts and
 * the table left. cancelled[i] (may be NULL) says which jobs are to be
 * cancelled before their pass: they must end ECANCELED with nothing of
 * theirs deleted (but what another job also matches). */
static void
check_group(struct flush_job *jobs, size_t n, const struct ct_caps *c, const bool *cancelled,
            bool want_shared, struct engine_job *out)
{
    struct engine_job ej[ENGINE_MAX_JOBS];
    struct engine_opts opts;
    struct group_rec g;
    struct seen after;

    reset_table();
    memset(ej, 0, sizeof ej);
    memset(&g, 0, sizeof g);
    g.cancel_at = SIZE_MAX;
    g.jobs = ej;
    g.n = n;
    for (size_t i = 0; i < n; i++) {
        ej[i].id = 100 + i;
        ej[i].job = &jobs[i];
        if (cancelled && cancelled[i]) {
            g.cancel_at = i;
        }
    }
    g.cancel_all = cancelled && cancelled[n];   /* One past the end: all. */
    engine_opts_init(&opts);
    opts.caps = c;
    opts.poll = group_poll;
    opts.done = group_done;
    opts.hook_aux = &g;
    size_t failed = engine_run_jobs(ej, n, &opts);

    /* Expected: every entry some job that was not cancelled matches goes. */
    struct seen_key *want = calloc(table_n, sizeof *want);
    size_t n_want = 0, n_failed = 0;
    for (size_t k = 0; k < table_n; k++) {
        bool gone = false;
        for (size_t i = 0; i < n; i++) {
            bool cancel = cancelled && (cancelled[i] || cancelled[n]);
            gone |= !cancel && model_match(&jobs[i], &table[k]);
        }
        if (!gone) {
            want[n_want++] = key_of(&table[k]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        bool cancel = cancelled && (cancelled[i] || cancelled[n]);
        size_t mine = 0;
        for (size_t k = 0; k < table_n; k++) {
            mine += model_match(&jobs[i], &table[k]);
        }
        assert_true(ej[i].finished);
        if (cancel) {
            assert_int_equal(ej[i].err, ECANCELED);
            assert_int_equal(ej[i].stats.deleted, 0);
            n_failed++;
            continue;
        }
        if (ej[i].err) {
            print_error("job %zu: %s\n", i, ej[i].errbuf);
        }
        assert_int_equal(ej[i].err, 0);
        /* In one shared pass each job counts every entry it matches; run
         * after another, it finds gone what that one also matched. */
        if (want_shared) {
            assert_int_equal(ej[i].stats.matched, mine);
            assert_int_equal(ej[i].stats.deleted, mine);
        } else {
            assert_true(ej[i].stats.deleted <= mine);
            assert_int_equal(ej[i].stats.matched, ej[i].stats.deleted);
        }
        assert_int_equal(ej[i].stats.errors, 0);
        assert_int_equal(ej[i].stats.already_gone, 0);
        if (want_shared) {
            assert_true(ej[i].stats.shared >= 2);
            assert_int_equal(ej[i].stats.strategy, CT_STRATEGY_DUMP);
        }
    }
    assert_int_equal(failed, n_failed);
    assert_int_equal(g.n_done, n);
    qsort(want, n_want, sizeof *want, key_cmp);
    dump_table(&after);
    assert_int_equal(after.n, n_want);
    for (size_t k = 0; k < n_want; k++) {
        assert_memory_equal(&after.keys[k], &want[k], sizeof *want);
    }
    if (out) {
        memcpy(out, ej, n * sizeof *ej);
    }
    free(want);
    free(after.keys);
}

/* Costs that make one shared dump the cheapest way for any group. */
static struct ct_caps
caps_share(void)
{
    struct ct_caps c = caps;

    c.walk_fixed_ms = c.fdump_fixed_ms = 1000;
    c.dump_fixed_ms = 1;
    c.dump_ns_per_entry = 1;
    return c;
}

static void
group_jobs(struct flush_job *j)
{
    /* Overlapping locals, zones, directions, protocols and families. */
    job_set(&j[0], "10.1.0.1,fd00:1::1", "any");
    j[0].has_zone = true;
    j[0].zone = 7;
    job_set(&j[1], "10.1.0.1,10.1.0.2", "10.2.0.0/29");
    job_set(&j[2], "10.1.0.3", "any");
    j[2].direction = FLUSH_DIRECTION_INGRESS;
    j[2].tuple = FLUSH_TUPLE_ORIG;
    job_set(&j[3], "10.1.0.4,fd00:1::4", "any");
    j[3].proto = IPPROTO_UDP;
    j[3].has_dport = true;
    j[3].dport_lo = j[3].dport_hi = 53;
    job_set(&j[4], "fd00:1::5,10.1.0.5", "any");
    j[4].family = FLUSH_FAMILY_IPV6;
    job_set(&j[5], "10.1.0.9", "10.3.0.9");     /* DNAT, by the reply tuple. */
    job_set(&j[6], "10.1.0.0/28", "any");
    j[6].has_mark = true;
    j[6].mark = 2;
    j[6].mark_mask = 3;
}

static void
test_group_shared(void **state)
{
    (void) state;
    struct flush_job j[7];
    struct ct_caps c = caps_share();

    group_jobs(j);
    check_group(j, 7, &c, NULL, true, NULL);
    /* On one thread, and received on a helper thread. */
    c.dump_threads = 1;
    check_group(j, 7, &c, NULL, true, NULL);
    c.dump_threads = 4;
    check_group(j, 7, &c, NULL, true, NULL);
    /* Nothing proven: still one dump, still exact. */
    struct ct_caps none;
    ct_caps_init_unproven(&none, "test");
    check_group(j, 7, &none, NULL, true, NULL);
    for (size_t i = 0; i < 7; i++) {
        flush_job_destroy(&j[i]);
    }
}

/* When the jobs' own plans are cheaper, each runs alone, exactly; jobs
 * that would each dump anyway share one dump. */
static void
test_group_alone(void **state)
{
    (void) state;
    struct flush_job j[7];
    struct ct_caps c = caps;
    struct engine_job out[7];

    /* Exact IPv4 addresses: kernel filters serve each. */
    job_set(&j[0], "10.1.0.3", "any");
    job_set(&j[1], "10.1.0.4", "any");
    j[1].proto = IPPROTO_UDP;
    j[1].has_dport = true;
    j[1].dport_lo = j[1].dport_hi = 53;
    job_set(&j[2], "10.1.0.5", "10.2.0.1,10.2.0.2");
    j[2].direction = FLUSH_DIRECTION_INGRESS;
    j[2].tuple = FLUSH_TUPLE_ORIG;
    c.dump_fixed_ms = 1e6;           /* The shared dump looks hopeless. */
    c.walk_fixed_ms = c.fdump_fixed_ms = 0.001;
    c.walk_ns_per_entry = c.fdump_ns_per_entry = 0.001;
    check_group(j, 3, &c, NULL, false, out);
    for (size_t i = 0; i < 3; i++) {
        assert_true(out[i].stats.shared <= 1);
        assert_false(out[i].stats.strategies_used & (1u << CT_STRATEGY_DUMP));
        flush_job_destroy(&j[i]);
    }
    /* The seven of group_jobs: those that need a dump whatever (CIDRs, a
     * mark, IPv6 where its filters are unproven) share one. */
    group_jobs(j);
    check_group(j, 7, &c, NULL, false, out);
    unsigned int dumped = 0;
    for (size_t i = 0; i < 7; i++) {
        if (out[i].stats.strategies_used & (1u << CT_STRATEGY_DUMP)) {
            dumped++;
            assert_true(out[i].stats.shared >= 2);
        }
        flush_job_destroy(&j[i]);
    }
    assert_true(dumped >= 2);

    /* A whole zone keeps its zone flush while the others share a dump. */
    struct flush_job z[3];
    struct ct_caps cs = caps_share();
    job_set(&z[0], "10.1.0.3", "any");
    job_set(&z[1], "any", "any");
    z[1].has_zone = true;
    z[1].zone = 7;
    job_set(&z[2], "10.1.0.5,fd00:1::5", "any");
    check_group(z, 3, &cs, NULL, false, out);
    assert_int_equal(out[1].stats.strategy, CT_STRATEGY_ZONE_FLUSH);
    assert_true(out[0].stats.shared == 2 && out[2].stats.shared == 2);
    for (size_t i = 0; i < 3; i++) {
        flush_job_destroy(&z[i]);
    }
}

/* Cancelling one job of a group before its pass costs the others nothing;
 * cancelling all stops the pass. */
static void
test_group_cancel(void **state)
{
    (void) state;
    struct flush_job j[7];
    struct ct_caps c = caps_share();
    bool cancel[8];

    group_jobs(j);
    for (size_t k = 0; k < 7; k += 3) {
        memset(cancel, 0, sizeof cancel);
        cancel[k] = true;
        check_group(j, 7, &c, cancel, true, NULL);
    }
    /* Alone, one after another: the cancelled one never runs. */
    struct ct_caps alone = c;
    alone.dump_fixed_ms = 1e6;
    memset(cancel, 0, sizeof cancel);
    cancel[2] = true;
    check_group(j, 7, &alone, cancel, false, NULL);
    /* Everything cancelled. */
    memset(cancel, 0, sizeof cancel);
    cancel[7] = true;
    check_group(j, 7, &c, cancel, false, NULL);
    for (size_t i = 0; i < 7; i++) {
        flush_job_destroy(&j[i]);
    }
}

/* A forced strategy or a rate cap: the group runs one job at a time. */
static void
test_group_no_sharing(void **state)
{
    (void) state;
    struct flush_job j[3];
    struct engine_job ej[3];
    struct engine_opts opts;
    struct ct_caps c = caps_share();

    job_set(&j[0], "10.1.0.1", "any");
    job_set(&j[1], "10.1.0.2", "any");
    job_set(&j[2], "10.1.0.3", "any");
    for (int variant = 0; variant < 2; variant++) {
        reset_table();
        memset(ej, 0, sizeof ej);
        for (size_t i = 0; i < 3; i++) {
            ej[i].job = &j[i];
        }
        engine_opts_init(&opts);
        opts.caps = &c;
        if (variant) {
            opts.max_delete_rate = 1000000;
        } else {
            opts.force = CT_STRATEGY_DUMP;
        }
        assert_int_equal(engine_run_jobs(ej, 3, &opts), 0);
        for (size_t i = 0; i < 3; i++) {
            assert_true(ej[i].stats.shared <= 1);
            assert_int_equal(ej[i].stats.passes, 1);
            assert_true(ej[i].stats.deleted >= 20);
        }
    }
    for (size_t i = 0; i < 3; i++) {
        flush_job_destroy(&j[i]);
    }
}

/* Many locals at once over a larger table: one dump, bulk deletes. */
static void
test_bulk(void **state)
{
    (void) state;
    struct flush_job job;
    job_set(&job, "10.1.0.0/27,172.16.0.0/26", "any");
    check_job(&job, CT_STRATEGY_AUTO, 0, 0, 2000);
    flush_job_destroy(&job);
}

int
main(void)
{
    int skip = netns_private_enter();

    if (skip) {
        return skip;
    }
    log_init("test_engine_netns", LOG_LVL_WARNING, false);
    if (probe_run(&caps, false) || !caps.probed) {
        fprintf(stderr, "probe: %s\n", caps.note);
    }
    /* The strategies under test must all be proven on the kernels we run
     * CI on (6.12+; filtered dumps 5.8+). An older kernel skips rather than
     * pretending. */
    if (!caps.zone_flush || !caps.filtered_flush || !caps.filtered_flush_zone
        || !caps.filtered_flush_zone_default || !caps.filtered_dump) {
        char desc[512];
        fprintf(stderr, "skipped: kernel lacks proven flush kinds: %s\n",
                probe_describe(&caps, desc, sizeof desc));
        return 77;
    }
    probed = caps;
    build_table();

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_one_local_any_peer, restore_caps),
        cmocka_unit_test_teardown(test_v6_local, restore_caps),
        cmocka_unit_test_teardown(test_locals_x_peers, restore_caps),
        cmocka_unit_test_teardown(test_zone, restore_caps),
        cmocka_unit_test_teardown(test_whole_zone, restore_caps),
        cmocka_unit_test_teardown(test_nat_reply_tuple, restore_caps),
        cmocka_unit_test_teardown(test_cidrs_dump_only, restore_caps),
        cmocka_unit_test_teardown(test_chunking, restore_caps),
        cmocka_unit_test_teardown(test_mark, restore_caps),
        cmocka_unit_test_teardown(test_unproven_never_sent, restore_caps),
        cmocka_unit_test_teardown(test_filtered_dump_duplicates, restore_caps),
        cmocka_unit_test_teardown(test_filtered_dump_rate, restore_caps),
        cmocka_unit_test_teardown(test_dump_pipelined, restore_caps),
        cmocka_unit_test_teardown(test_rate_cap_auto, restore_caps),
        cmocka_unit_test_teardown(test_bulk, restore_caps),
        cmocka_unit_test_teardown(test_selectors, restore_caps),
        cmocka_unit_test_teardown(test_group_shared, restore_caps),
        cmocka_unit_test_teardown(test_group_alone, restore_caps),
        cmocka_unit_test_teardown(test_group_cancel, restore_caps),
        cmocka_unit_test_teardown(test_group_no_sharing, restore_caps),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(table);
    return rc;
}
