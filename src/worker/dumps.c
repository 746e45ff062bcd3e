/*
 * dumps.c: the dump-type strategies. A pass's dumps (whole-family, or one
 * kernel-filtered dump per address and way) run on a small pool of
 * threads, each with its own sockets, since the kernel serves dumps side by
 * side. Every entry a dump returns is matched against all the pass's jobs
 * at once (match_group), and the deletes for what matched go out on another
 * socket, many per sendmsg, while the dump is still running: memory stays
 * bounded by one batch per thread, whatever the table size. Each delete is
 * tagged with the jobs it serves, so a failure report is counted against
 * exactly those. A pool with fewer dumps than threads receives each dump on
 * a helper thread (ctpipe.h), since building the dump in the kernel costs
 * more than everything done with it here.
 */
#include "dumps.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ctmsg.h"
#include "ctpipe.h"
#include "ctsock.h"
#include "log.h"

#define DUMPS_MAX_RESTARTS 8            /* ENOBUFS restarts per dump. */
#define DUMPS_MAX_VERIFY_PASSES 3       /* Passes when delete reports were lost. */
#define DUMPS_PROGRESS_EVERY 4096       /* Entries between progress publishes. */

/* One dump request: a whole family (AF_UNSPEC: both), or one kernel filter
 * (addresses, or for a whole family only the protocol). */
struct dump_unit {
    int family;
    bool filtered;              /* Sent with filter. */
    bool by_addr;               /* The filter is one of a side's addresses. */
    struct ctmsg_filter filter;
};

/* The addresses one family's filtered dumps filter on, sorted. Address i
 * has one unit per position in pos (a bit per way, match.h: where this
 * side's addresses sit), at base + npos * i + the position's rank. */
struct dump_side {
    struct ctf_prefix_list addrs;
    size_t base;
    unsigned int pos;
    unsigned int npos;
};

/* Everything a pass's dumps share; read-only while they run. */
struct dump_plan {
    const struct dumps_member *members;
    size_t n_members;
    uint64_t all;                   /* Bit i for each member. */
    const uint64_t *active;         /* The engine's: members still wanted. */
    struct match_group group;       /* Every entry any dump returns is
                                     * checked against all members. */
    struct dump_unit *units;
    size_t n_units;
    struct dump_side side[2];       /* [0] IPv4, [1] IPv6. */
    /* Kernel-side filters the whole-family dumps carry: the members' common
     * zone or mark, where proven (else none). */
    bool zone_filter, mark_filter;
    uint16_t zone;
    uint32_t mark, mark_mask;
};

static void
dump_plan_destroy(struct dump_plan *p)
{
    match_group_destroy(&p->group);
    free(p->units);
    ctf_prefix_list_destroy(&p->side[0].addrs);
    ctf_prefix_list_destroy(&p->side[1].addrs);
}

/* The members' common zone and mark, for the whole-family dumps. */
static void
dump_plan_common(struct dump_plan *p, const struct ct_caps *caps)
{
    const struct flush_job *j0 = p->members[0].job;
    bool zone = j0->has_zone && caps->dump_zone_filter, mark = j0->has_mark;

    for (size_t i = 1; i < p->n_members; i++) {
        const struct flush_job *j = p->members[i].job;
        zone = zone && j->has_zone && j->zone == j0->zone;
        mark = mark && j->has_mark && j->mark_mask == j0->mark_mask
               && (j->mark & j->mark_mask) == (j0->mark & j0->mark_mask);
    }
    p->zone_filter = zone;
    p->zone = j0->zone;
    p->mark_filter = mark;
    p->mark = j0->mark & j0->mark_mask;
    p->mark_mask = j0->mark_mask;
}

/* The members' common protocol filter for a whole dump of family: only
 * without a zone or mark filter (the combination is unproven), and only
 * when every member has the same protocol (and port). */
static bool
dump_plan_whole_proto(const struct dump_plan *p, const struct ct_caps *caps, int family,
                      struct ctmsg_filter *f)
{
    if (p->zone_filter || p->mark_filter) {
        return false;
    }
    memset(f, 0, sizeof *f);
    f->family = family;
    for (size_t i = 0; i < p->n_members; i++) {
        uint8_t proto;
        bool has_dport;
        uint16_t dport;

        planner_proto_filter(p->members[i].job, caps, family, PLANNER_WHOLE_DUMP, &proto,
                             &has_dport, &dport);
        if (!proto || (i && (proto != f->proto || has_dport != f->has_dport
                             || dport != f->dport))) {
            return false;
        }
        f->proto = proto;
        f->has_dport = has_dport;
        f->dport = dport;
    }
    return true;
}

/* Whole-family dumps come first: they are the long ones, and a pool that
 * starts them first finishes sooner. fside[f] (NULL: none; a lone member
 * only) is the list whose addresses family f's filtered dumps filter on. */
static int
dump_plan_init(struct dump_plan *p, const struct dumps_member *members, size_t n,
               const uint64_t *active, const struct dumps_filtered *fd,
               const struct ct_caps *caps)
{
    const struct ctf_prefix_list *const *fside = fd->side;
    const struct flush_job *jobs[MATCH_GROUP_MAX];
    size_t nfilters = 0;
    int err;

    memset(p, 0, sizeof *p);
    if (!n || n > MATCH_GROUP_MAX || (n > 1 && (fside[0] || fside[1]))) {
        return EINVAL;
    }
    p->members = members;
    p->n_members = n;
    p->all = n == 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
    p->active = active;
    for (size_t i = 0; i < n; i++) {
        jobs[i] = members[i].job;
    }
    err = match_group_init(&p->group, jobs, n);
    if (err) {
        return err;
    }
    p->group.active = active;
    dump_plan_common(p, caps);

    for (int f = 0; f < 2; f++) {
        p->side[f].pos = planner_side_positions(jobs[0], fd->on_peers[f]);
        p->side[f].npos = (unsigned int) __builtin_popcount(p->side[f].pos);
        nfilters += fside[f] ? fside[f]->n : 0;
    }
    p->units = calloc(MATCH_WAYS * nfilters + 2, sizeof *p->units);
    if (!p->units) {
        dump_plan_destroy(p);
        return ENOMEM;
    }

    unsigned int fams = match_group_families(&p->group);
    bool filtered[2] = {
        fside[0] && (fams & ADDRSET_HAS_V4),
        fside[1] && (fams & ADDRSET_HAS_V6),
    };
    unsigned int whole = fams & ~((filtered[0] ? ADDRSET_HAS_V4 : 0u)
                                  | (filtered[1] ? ADDRSET_HAS_V6 : 0u));
    struct ctmsg_filter pf[2];
    bool proto[2] = {
        (whole & ADDRSET_HAS_V4) && dump_plan_whole_proto(p, caps, AF_INET, &pf[0]),
        (whole & ADDRSET_HAS_V6) && dump_plan_whole_proto(p, caps, AF_INET6, &pf[1]),
    };
    if (whole && !proto[0] && !proto[1]) {
        /* Both families in one AF_UNSPEC dump: every dump walks the whole
         * hash table. */
        p->units[p->n_units++].family = whole == (ADDRSET_HAS_V4 | ADDRSET_HAS_V6) ? AF_UNSPEC
                                        : whole & ADDRSET_HAS_V4 ? AF_INET : AF_INET6;
    } else {
        /* A protocol filter needs a family: one dump each. */
        for (int f = 0; f < 2; f++) {
            if (whole & (f ? ADDRSET_HAS_V6 : ADDRSET_HAS_V4)) {
                struct dump_unit *u = &p->units[p->n_units++];
                u->family = f ? AF_INET6 : AF_INET;
                u->filtered = proto[f];
                u->filter = pf[f];
            }
        }
    }
    for (int f = 0; f < 2; f++) {
        struct dump_side *side = &p->side[f];
        int family = f ? AF_INET6 : AF_INET;
        uint8_t fproto;
        bool fdport;
        uint16_t dport;

        if (!filtered[f]) {
            continue;
        }
        for (size_t i = 0; !err && i < fside[f]->n; i++) {
            if (fside[f]->items[i].family == family) {
                err = ctf_prefix_list_add(&side->addrs, &fside[f]->items[i]);
            }
        }
        if (err) {
            dump_plan_destroy(p);
            return err;
        }
        ctf_prefix_list_sort_unique(&side->addrs);
        /* The protocol and port ride along where proven; the rest of the
         * job is matched here anyway. */
        planner_proto_filter(jobs[0], caps, family, PLANNER_FILTERED_DUMP, &fproto, &fdport,
                             &dport);
        side->base = p->n_units;
        for (size_t i = 0; i < side->addrs.n; i++) {
            for (int pos = 0; pos < MATCH_WAYS; pos++) {
                if (!(side->pos & (1u << pos))) {
                    continue;
                }
                struct dump_unit *u = &p->units[p->n_units++];
                u->family = family;
                u->filtered = true;
                u->by_addr = true;
                u->filter.family = family;
                u->filter.reply = pos >> 1;
                u->filter.has_src = !(pos & 1);
                u->filter.has_dst = pos & 1;
                u->filter.src = u->filter.dst = side->addrs.items[i].addr;
                u->filter.proto = fproto;
                u->filter.has_dport = fdport;
                u->filter.dport = dport;
            }
        }
    }
    return 0;
}

/* The unit that dumps position pos of a side's address number i. */
static size_t
dump_plan_unit_of(const struct dump_side *side, size_t i, int pos)
{
    unsigned int rank = (unsigned int) __builtin_popcount(side->pos & ((1u << pos) - 1));

    return side->base + side->npos * i + rank;
}

/* False if a filtered unit before unit u also returns e: that one deletes
 * it. An entry whose address sits at several ends (both tuples of an
 * un-NATed entry, say) comes back from several dumps. */
static bool
dump_plan_first_unit(const struct dump_plan *p, size_t u, const struct ct_entry *e)
{
    const struct dump_side *side = &p->side[e->family == AF_INET6];

    for (int pos = 0; pos < MATCH_WAYS; pos++) {
        const struct ct_tuple_addrs *t = pos >> 1 ? &e->reply : &e->orig;
        struct ctf_prefix key = {
            .family = e->family,
            .plen = e->family == AF_INET ? 32 : 128,        /* Host prefixes. */
        };

        if (!(side->pos & (1u << pos)) || (pos >> 1 && !e->has_reply)) {
            continue;
        }
        key.addr = pos & 1 ? t->dst : t->src;
        const struct ctf_prefix *hit = ctf_prefix_list_find(&side->addrs, &key);
        if (hit && dump_plan_unit_of(side, (size_t) (hit - side->addrs.items), pos) < u) {
            return false;
        }
    }
    return true;
}

/* Members still wanted. */
static uint64_t
dump_plan_active(const struct dump_plan *p)
{
    return p->active ? __atomic_load_n(p->active, __ATOMIC_RELAXED) & p->all : p->all;
}

/* One thread's share of a pass's dumps. Its counters are its own; the
 * engine's thread reads the published copies (atomically) for progress and
 * the counters themselves once the thread has been joined. */
struct dump_thread {
    struct dump_pool *pool;
    struct ctsock del;          /* Where this thread's deletes go. */
    bool del_open;
    bool reports;               /* Runs on the engine's thread: reports
                                 * progress and honours the rate cap. */
    size_t unit;                /* The unit being dumped. */
    unsigned int seen;
    uint64_t scanned;
    unsigned int passes, restarts;
    bool send_failed;           /* The delete socket failed mid-dump. */
    /* Per member: entries matched, deletes that could not be built, deletes
     * the kernel took (a batch not yet sent is not deleted: a worker killed
     * now must not have reported it), and failure reports (ENOENT: already
     * gone; others: failed). */
    uint64_t matched[MATCH_GROUP_MAX], build_errors[MATCH_GROUP_MAX], sent[MATCH_GROUP_MAX];
    uint64_t enoent[MATCH_GROUP_MAX], failed[MATCH_GROUP_MAX];
    int last_errno;
    uint64_t pub_scanned;
    uint64_t pub_matched[MATCH_GROUP_MAX], pub_deleted[MATCH_GROUP_MAX];
    int err;
    char errbuf[160];
    pthread_t tid;
};

struct dump_pool {
    const struct dump_plan *plan;
    const struct ct_caps *caps;
    const struct dumps_hooks *hooks;
    struct dump_thread *threads;
    unsigned int n_threads;
    bool pipelined;             /* Each dump is received on a helper thread
                                 * of its own (ctpipe.h). */
    struct engine_stats base[MATCH_GROUP_MAX];  /* Members' stats before. */
    pthread_mutex_t lock;       /* Guards the three below. */
    pthread_cond_t done;        /* Signalled as each thread finishes. */
    size_t next_unit;
    unsigned int running;
    bool failed;                /* A thread failed: the others stop. */
};

static uint64_t
dump_thread_deleted(const struct dump_thread *t, size_t i)
{
    return t->sent[i] - t->enoent[i] - t->failed[i];
}

static void
dump_thread_publish(struct dump_thread *t)
{
    size_t n = t->pool->plan->n_members;

    __atomic_store_n(&t->pub_scanned, t->scanned, __ATOMIC_RELAXED);
    for (size_t i = 0; i < n; i++) {
        __atomic_store_n(&t->pub_matched[i], t->matched[i], __ATOMIC_RELAXED);
        __atomic_store_n(&t->pub_deleted[i], dump_thread_deleted(t, i), __ATOMIC_RELAXED);
    }
}

/* A delete was sent, or failed: count it for the members it was for. */
static void
dump_thread_report(void *aux, uint64_t tag, int err)
{
    struct dump_thread *t = aux;

    for (uint64_t m = tag; m; m &= m - 1) {
        unsigned int i = (unsigned int) __builtin_ctzll(m);
        if (!err) {
            t->sent[i]++;
        } else if (err == ENOENT) {
            t->enoent[i]++;
        } else {
            t->failed[i]++;
        }
    }
    if (err && err != ENOENT) {
        t->last_errno = err;
    }
}

/* Progress so far, from what the threads have published. */
static void
dump_pool_report(struct dump_pool *pool, bool force)
{
    const struct dump_plan *plan = pool->plan;
    uint64_t scanned = 0;

    for (unsigned int k = 0; k < pool->n_threads; k++) {
        scanned += __atomic_load_n(&pool->threads[k].pub_scanned, __ATOMIC_RELAXED);
    }
    for (size_t i = 0; i < plan->n_members; i++) {
        struct engine_stats *st = plan->members[i].stats;
        uint64_t matched = 0, deleted = 0;

        for (unsigned int k = 0; k < pool->n_threads; k++) {
            struct dump_thread *t = &pool->threads[k];
            matched += __atomic_load_n(&t->pub_matched[i], __ATOMIC_RELAXED);
            deleted += __atomic_load_n(&t->pub_deleted[i], __ATOMIC_RELAXED);
        }
        st->scanned = pool->base[i].scanned + scanned;
        st->matched = pool->base[i].matched + matched;
        st->deleted = pool->base[i].deleted + deleted;
    }
    pool->hooks->progress(pool->hooks->aux, force);
}

static int
dump_entry_cb(const void *nlh, size_t len, void *aux)
{
    struct dump_thread *t = aux;
    const struct dump_plan *plan = t->pool->plan;
    struct ct_entry e;

    t->scanned++;
    if (++t->seen % DUMPS_PROGRESS_EVERY == 0) {
        dump_thread_publish(t);
        if (t->reports) {
            dump_pool_report(t->pool, false);
        }
        if (!dump_plan_active(plan)) {
            return ECANCELED;   /* Every member was cancelled. */
        }
    }
    if (ctmsg_parse_entry(nlh, len, &e)) {
        return 0;               /* Not an entry we can match; leave it. */
    }
    uint64_t hit = match_group_match(&plan->group, &e);
    if (!hit) {
        return 0;
    }
    if (plan->units[t->unit].by_addr && !dump_plan_first_unit(plan, t->unit, &e)) {
        return 0;
    }
    for (uint64_t m = hit; m; m &= m - 1) {
        t->matched[__builtin_ctzll(m)]++;
    }
    void *slot = ctsock_batch_reserve(&t->del, CTMSG_MAX_LEN);
    if (!slot) {
        t->send_failed = true;
        return EIO;
    }
    size_t n = ctmsg_build_delete(slot, CTMSG_MAX_LEN, ctsock_next_seq(&t->del), &e);
    if (n) {
        /* Untagged (out of memory for the tag), a failure report of this
         * delete is counted in the socket's totals only. */
        (void) ctsock_batch_commit_tagged(&t->del, n, hit);
    } else {
        for (uint64_t m = hit; m; m &= m - 1) {
            t->build_errors[__builtin_ctzll(m)]++;
        }
    }
    if (t->reports) {
        t->pool->hooks->rate_limit(t->pool->hooks->aux);
    }
    return 0;
}

/* One unit: a dump the kernel cut short with ENOBUFS is dumped again. */
static int
dump_thread_run_unit(struct dump_thread *t, const struct dump_unit *u)
{
    const struct dump_plan *plan = t->pool->plan;
    uint16_t zone = plan->zone;
    uint32_t mark = plan->mark, mask = plan->mark_mask;
    char req[CTMSG_MAX_LEN];

    for (unsigned int attempt = 0;; attempt++) {
        struct ctsock dumper;
        int err = ctsock_open(&dumper, 0);

        if (err) {
            snprintf(t->errbuf, sizeof t->errbuf, "netlink socket: %s", strerror(err));
            return err;
        }
        size_t n = u->filtered
                   ? ctmsg_build_filtered_dump(req, sizeof req, ctsock_next_seq(&dumper),
                                               &u->filter)
                   : ctmsg_build_dump(req, sizeof req, ctsock_next_seq(&dumper), u->family,
                                      plan->zone_filter ? &zone : NULL,
                                      plan->mark_filter ? &mark : NULL,
                                      plan->mark_filter ? &mask : NULL);
        t->passes++;
        err = !n ? EINVAL
              : t->pool->pipelined ? ctpipe_dump(&dumper, req, n, dump_entry_cb, t)
              : ctsock_dump(&dumper, req, n, dump_entry_cb, t);
        ctsock_close(&dumper);
        if (t->send_failed) {
            snprintf(t->errbuf, sizeof t->errbuf, "sending deletes: %s", strerror(err));
            return err;
        }
        if (err == ENOBUFS && attempt < DUMPS_MAX_RESTARTS) {
            /* Part of the dump was lost. Send the deletes still batched
             * first: the kernel runs them within the send, so the next dump
             * sees only what is left and asks for nothing twice. */
            t->restarts++;
            log_info("dump overran the receive buffer, dumping again");
            err = ctsock_batch_flush(&t->del);
            if (err) {
                snprintf(t->errbuf, sizeof t->errbuf, "sending deletes: %s", strerror(err));
                return err;
            }
            continue;
        }
        if (err == ECANCELED) {
            snprintf(t->errbuf, sizeof t->errbuf, "cancelled");
        } else if (err) {
            snprintf(t->errbuf, sizeof t->errbuf, "dumping the conntrack table: %s",
                     strerror(err));
        }
        return err;
    }
}

/* Takes units until none is left or a thread has failed, then sends what
 * it still has batched. */
static void *
dump_thread_main(void *t_)
{
    struct dump_thread *t = t_;
    struct dump_pool *pool = t->pool;

    for (;;) {
        pthread_mutex_lock(&pool->lock);
        bool stop = pool->failed || !dump_plan_active(pool->plan);
        size_t u = stop ? pool->plan->n_units : pool->next_unit;
        if (u < pool->plan->n_units) {
            pool->next_unit++;
        }
        pthread_mutex_unlock(&pool->lock);
        if (u >= pool->plan->n_units) {
            break;
        }
        t->unit = u;
        t->err = dump_thread_run_unit(t, &pool->plan->units[u]);
        if (t->err) {
            break;
        }
    }
    if (!t->err) {
        t->err = ctsock_batch_flush(&t->del);
        if (t->err) {
            snprintf(t->errbuf, sizeof t->errbuf, "sending deletes: %s", strerror(t->err));
        }
    }
    dump_thread_publish(t);
    pthread_mutex_lock(&pool->lock);
    pool->failed |= t->err != 0;
    pool->running--;
    pthread_cond_signal(&pool->done);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Runs every unit once, on the pool's threads (or on this one, if it has
 * one thread or no other could be started), reporting progress meanwhile. */
static void
dump_pool_run(struct dump_pool *pool)
{
    unsigned int started = 0;

    pool->next_unit = 0;
    pool->failed = false;
    pool->running = pool->n_threads;
    for (unsigned int i = 0; pool->n_threads > 1 && i < pool->n_threads; i++) {
        if (pthread_create(&pool->threads[i].tid, NULL, dump_thread_main,
                           &pool->threads[i])) {
            break;
        }
        started++;
    }
    if (!started) {
        /* One thread's work, done here. */
        pool->running = 1;
        pool->threads[0].reports = true;
        dump_thread_main(&pool->threads[0]);
        pool->threads[0].reports = false;
        return;
    }
    /* A thread that could not start is one fewer at work. */
    pthread_mutex_lock(&pool->lock);
    pool->running -= pool->n_threads - started;
    while (pool->running) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pool->done, &pool->lock, &ts);
        pthread_mutex_unlock(&pool->lock);
        dump_pool_report(pool, false);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    for (unsigned int i = 0; i < started; i++) {
        pthread_join(pool->threads[i].tid, NULL);
    }
}

int
dumps_run(const struct dumps_member *members, size_t n_members, const uint64_t *active,
          const struct dumps_filtered *fd, const struct ct_caps *caps,
          size_t batch_bytes, const struct dumps_hooks *hooks, char *errbuf, size_t errlen)
{
    static const struct dumps_filtered none = { { NULL, NULL }, { false, false } };
    struct dump_plan plan;
    struct dump_pool pool;
    int err;

    if (!fd) {
        fd = &none;
    }
    err = dump_plan_init(&plan, members, n_members, active, fd, caps);

    if (err) {
        snprintf(errbuf, errlen, "building the match sets: %s", strerror(err));
        return err;
    }
    memset(&pool, 0, sizeof pool);
    pool.plan = &plan;
    pool.caps = caps;
    pool.hooks = hooks;
    for (size_t i = 0; i < n_members; i++) {
        pool.base[i] = *members[i].stats;
    }
    pool.n_threads = caps->dump_threads;
    if (pool.n_threads > plan.n_units) {
        pool.n_threads = (unsigned int) plan.n_units;
    }
    if (!pool.n_threads) {
        pool.n_threads = 1;
    }
    /* Fewer dumps than threads (one whole-table dump, typically): give each
     * a second thread, so that the kernel builds the next part of the dump
     * while this one is matched and deleted. */
    pool.pipelined = caps->dump_threads >= 2 * pool.n_threads;
    pool.threads = calloc(pool.n_threads, sizeof *pool.threads);
    if (!pool.threads) {
        dump_plan_destroy(&plan);
        snprintf(errbuf, errlen, "out of memory");
        return ENOMEM;
    }
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    /* Progress every 50 ms whatever the wall clock does. */
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.done, &cattr);
    pthread_condattr_destroy(&cattr);
    for (unsigned int i = 0; !err && i < pool.n_threads; i++) {
        pool.threads[i].pool = &pool;
        err = ctsock_open(&pool.threads[i].del, batch_bytes);
        pool.threads[i].del_open = !err;
        if (!err) {
            ctsock_set_report(&pool.threads[i].del, dump_thread_report, &pool.threads[i]);
        }
    }
    if (err) {
        snprintf(errbuf, errlen, "netlink socket: %s", strerror(err));
    }

    const char *what = fd->side[0] || fd->side[1] ? "filtered dumps" : "dump";
    for (unsigned int pass = 0; !err && plan.n_units && pass < DUMPS_MAX_VERIFY_PASSES;
         pass++) {
        uint64_t lost_before = 0, lost_after = 0;

        for (unsigned int i = 0; i < pool.n_threads; i++) {
            lost_before += pool.threads[i].del.bstats.lost_reports;
        }
        dump_pool_run(&pool);
        for (unsigned int i = 0; i < pool.n_threads; i++) {
            struct dump_thread *t = &pool.threads[i];
            lost_after += t->del.bstats.lost_reports;
            if (t->err && !err) {
                err = t->err;
                snprintf(errbuf, errlen, "%s", t->errbuf);
            }
        }
        if (err || lost_after == lost_before) {
            break;
        }
        /* Some failure reports were lost: we do not know which deletes
         * failed, so look again; whatever still matches is still there. */
        log_warnx("lost %llu delete reports; verifying %s with another pass",
                  (unsigned long long) (lost_after - lost_before), what);
    }
    if (!err && !dump_plan_active(&plan)) {
        err = ECANCELED;
        snprintf(errbuf, errlen, "cancelled");
    }

    uint64_t failed = 0;
    int last_errno = 0;
    for (size_t i = 0; i < n_members; i++) {
        struct engine_stats *st = members[i].stats;
        *st = pool.base[i];
        for (unsigned int k = 0; k < pool.n_threads; k++) {
            struct dump_thread *t = &pool.threads[k];
            st->scanned += t->scanned;
            st->matched += t->matched[i];
            st->deleted += dump_thread_deleted(t, i);
            st->already_gone += t->enoent[i];
            st->errors += t->failed[i] + t->build_errors[i];
            st->passes += t->passes;
            st->dump_restarts += t->restarts;
        }
        if (n_members > st->shared) {
            st->shared = (unsigned int) n_members;
        }
    }
    for (unsigned int k = 0; k < pool.n_threads; k++) {
        struct dump_thread *t = &pool.threads[k];
        failed += t->del.bstats.failed;
        if (t->del.bstats.failed) {
            last_errno = t->del.bstats.last_errno;
        }
        if (t->del_open) {
            ctsock_close(&t->del);
        }
    }
    if (failed) {
        log_warnx("%llu deletes failed (last: %s)", (unsigned long long) failed,
                  strerror(last_errno));
    }
    pthread_cond_destroy(&pool.done);
    pthread_mutex_destroy(&pool.lock);
    free(pool.threads);
    dump_plan_destroy(&plan);
    return err;
}
