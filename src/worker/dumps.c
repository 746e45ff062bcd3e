/*
 * dumps.c: the dump-type strategies. A job's dumps (whole-family, or one
 * kernel-filtered dump per address and direction) run on a small pool of
 * threads, each with its own sockets, since the kernel serves dumps side by
 * side. Every entry a dump returns is matched against the whole job, and the
 * deletes for what matched go out on another socket, many per sendmsg,
 * while the dump is still running: memory stays bounded by one batch per
 * thread, whatever the table size. A pool with fewer dumps than threads
 * receives each dump on a helper thread (ctpipe.h), since building the dump
 * in the kernel costs more than everything done with it here.
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

/* One dump request: a whole family (AF_UNSPEC: both), or one kernel filter. */
struct dump_unit {
    int family;
    bool filtered;
    struct ctmsg_filter filter;
};

/* The addresses one family's filtered dumps filter on, sorted. Address i
 * has the four units base + 4 * i + pos, pos = 2 * reply + (end is dst). */
struct dump_side {
    struct ctf_prefix_list addrs;
    size_t base;
};

/* Everything a job's dumps share; read-only while they run. */
struct dump_plan {
    const struct flush_job *job;
    struct job_matcher matcher;     /* The whole job's: every entry any dump
                                     * returns is checked against it. */
    struct dump_unit *units;
    size_t n_units;
    struct dump_side side[2];       /* [0] IPv4, [1] IPv6. */
};

static void
dump_plan_destroy(struct dump_plan *p)
{
    job_matcher_destroy(&p->matcher);
    free(p->units);
    ctf_prefix_list_destroy(&p->side[0].addrs);
    ctf_prefix_list_destroy(&p->side[1].addrs);
}

/* Whole-family dumps come first: they are the long ones, and a pool that
 * starts them first finishes sooner. fside[f] (NULL: none) is the list
 * whose addresses family f's filtered dumps filter on. */
static int
dump_plan_init(struct dump_plan *p, const struct flush_job *job,
               const struct ctf_prefix_list *const fside[2])
{
    size_t nfilters = 0;
    int err;

    memset(p, 0, sizeof *p);
    p->job = job;
    err = job_matcher_init(&p->matcher, job);
    if (err) {
        return err;
    }
    for (int f = 0; f < 2; f++) {
        nfilters += fside[f] ? fside[f]->n : 0;
    }
    p->units = calloc(4 * nfilters + 1, sizeof *p->units);
    if (!p->units) {
        dump_plan_destroy(p);
        return ENOMEM;
    }

    unsigned int fams = job_matcher_families(&p->matcher);
    bool filtered[2] = {
        fside[0] && (fams & ADDRSET_HAS_V4),
        fside[1] && (fams & ADDRSET_HAS_V6),
    };
    unsigned int whole = fams & ~((filtered[0] ? ADDRSET_HAS_V4 : 0u)
                                  | (filtered[1] ? ADDRSET_HAS_V6 : 0u));
    if (whole) {
        /* Both families in one AF_UNSPEC dump: every dump walks the whole
         * hash table. */
        p->units[p->n_units++].family = whole == (ADDRSET_HAS_V4 | ADDRSET_HAS_V6) ? AF_UNSPEC
                                        : whole & ADDRSET_HAS_V4 ? AF_INET : AF_INET6;
    }
    for (int f = 0; f < 2; f++) {
        struct dump_side *side = &p->side[f];
        int family = f ? AF_INET6 : AF_INET;

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
        side->base = p->n_units;
        for (size_t i = 0; i < side->addrs.n; i++) {
            for (int pos = 0; pos < 4; pos++) {
                struct dump_unit *u = &p->units[p->n_units++];
                u->family = family;
                u->filtered = true;
                u->filter.family = family;
                u->filter.reply = pos >> 1;
                u->filter.has_src = !(pos & 1);
                u->filter.has_dst = pos & 1;
                u->filter.src = u->filter.dst = side->addrs.items[i].addr;
            }
        }
    }
    return 0;
}

/* False if a filtered unit before unit u also returns e: that one deletes
 * it. An entry whose address sits at several ends (both tuples of an
 * un-NATed entry, say) comes back from several dumps. */
static bool
dump_plan_first_unit(const struct dump_plan *p, size_t u, const struct ct_entry *e)
{
    const struct dump_side *side = &p->side[e->family == AF_INET6];

    for (int pos = 0; pos < 4; pos++) {
        const struct ct_tuple_addrs *t = pos >> 1 ? &e->reply : &e->orig;
        struct ctf_prefix key = {
            .family = e->family,
            .plen = e->family == AF_INET ? 32 : 128,        /* Host prefixes. */
        };

        if (pos >> 1 && !e->has_reply) {
            continue;
        }
        key.addr = pos & 1 ? t->dst : t->src;
        const struct ctf_prefix *hit = ctf_prefix_list_find(&side->addrs, &key);
        if (hit && side->base + 4 * (size_t) (hit - side->addrs.items) + (size_t) pos < u) {
            return false;
        }
    }
    return true;
}

/* One thread's share of a job's dumps. Its counters are its own; the
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
    uint64_t scanned, matched, build_errors;
    unsigned int passes, restarts;
    bool send_failed;           /* The delete socket failed mid-dump. */
    uint64_t pub_scanned, pub_matched, pub_deleted;
    int err;
    char errbuf[160];
    pthread_t tid;
};

struct dump_pool {
    const struct dump_plan *plan;
    const struct ct_caps *caps;
    const struct dumps_hooks *hooks;
    struct engine_stats *stats;     /* The run's; updated for progress. */
    struct dump_thread *threads;
    unsigned int n_threads;
    bool pipelined;             /* Each dump is received on a helper thread
                                 * of its own (ctpipe.h). */
    uint64_t scanned0, matched0, deleted0;  /* r->stats before the dumps. */
    pthread_mutex_t lock;       /* Guards the three below. */
    pthread_cond_t done;        /* Signalled as each thread finishes. */
    size_t next_unit;
    unsigned int running;
    bool failed;                /* A thread failed: the others stop. */
};

static uint64_t
dump_thread_deleted(const struct dump_thread *t)
{
    const struct ctsock_batch_stats *b = &t->del.bstats;

    return b->sent - b->enoent - b->failed;
}

static void
dump_thread_publish(struct dump_thread *t)
{
    __atomic_store_n(&t->pub_scanned, t->scanned, __ATOMIC_RELAXED);
    __atomic_store_n(&t->pub_matched, t->matched, __ATOMIC_RELAXED);
    __atomic_store_n(&t->pub_deleted, dump_thread_deleted(t), __ATOMIC_RELAXED);
}

/* Progress so far, from what the threads have published. */
static void
dump_pool_report(struct dump_pool *pool, bool force)
{
    struct engine_stats *st = pool->stats;
    uint64_t scanned = 0, matched = 0, deleted = 0;

    for (unsigned int i = 0; i < pool->n_threads; i++) {
        struct dump_thread *t = &pool->threads[i];
        scanned += __atomic_load_n(&t->pub_scanned, __ATOMIC_RELAXED);
        matched += __atomic_load_n(&t->pub_matched, __ATOMIC_RELAXED);
        deleted += __atomic_load_n(&t->pub_deleted, __ATOMIC_RELAXED);
    }
    st->scanned = pool->scanned0 + scanned;
    st->matched = pool->matched0 + matched;
    st->deleted = pool->deleted0 + deleted;
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
    }
    if (ctmsg_parse_entry(nlh, len, &e)) {
        return 0;               /* Not an entry we can match; leave it. */
    }
    if (!job_matcher_match(&plan->matcher, &e)) {
        return 0;
    }
    if (plan->units[t->unit].filtered && !dump_plan_first_unit(plan, t->unit, &e)) {
        return 0;
    }
    t->matched++;
    void *slot = ctsock_batch_reserve(&t->del, CTMSG_MAX_LEN);
    if (!slot) {
        t->send_failed = true;
        return EIO;
    }
    size_t n = ctmsg_build_delete(slot, CTMSG_MAX_LEN, ctsock_next_seq(&t->del), &e);
    if (n) {
        ctsock_batch_commit(&t->del, n);
    } else {
        t->build_errors++;
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
    const struct flush_job *job = t->pool->plan->job;
    const struct ct_caps *caps = t->pool->caps;
    uint16_t zone = job->zone;
    uint32_t mark = job->mark & job->mark_mask, mask = job->mark_mask;
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
                                      job->has_zone && caps->dump_zone_filter ? &zone : NULL,
                                      job->has_mark ? &mark : NULL,
                                      job->has_mark ? &mask : NULL);
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
        if (err) {
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
        size_t u = pool->failed ? pool->plan->n_units : pool->next_unit;
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
dumps_run(const struct flush_job *job, const struct ctf_prefix_list *const fside[2],
          const struct ct_caps *caps, size_t batch_bytes, struct engine_stats *st,
          const struct dumps_hooks *hooks, char *errbuf, size_t errlen)
{
    struct dump_plan plan;
    struct dump_pool pool;
    int err = dump_plan_init(&plan, job, fside);

    if (err) {
        snprintf(errbuf, errlen, "building the match sets: %s", strerror(err));
        return err;
    }
    memset(&pool, 0, sizeof pool);
    pool.plan = &plan;
    pool.caps = caps;
    pool.hooks = hooks;
    pool.stats = st;
    pool.scanned0 = st->scanned;
    pool.matched0 = st->matched;
    pool.deleted0 = st->deleted;
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
    }
    if (err) {
        snprintf(errbuf, errlen, "netlink socket: %s", strerror(err));
    }

    const char *what = fside[0] || fside[1] ? "filtered dumps" : "dump";
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

    uint64_t failed = 0;
    int last_errno = 0;
    st->scanned = pool.scanned0;
    st->matched = pool.matched0;
    st->deleted = pool.deleted0;
    for (unsigned int i = 0; i < pool.n_threads; i++) {
        struct dump_thread *t = &pool.threads[i];
        const struct ctsock_batch_stats *b = &t->del.bstats;
        st->scanned += t->scanned;
        st->matched += t->matched;
        st->deleted += dump_thread_deleted(t);
        st->already_gone += b->enoent;
        st->errors += b->failed + t->build_errors;
        st->passes += t->passes;
        st->dump_restarts += t->restarts;
        failed += b->failed;
        if (b->failed) {
            last_errno = b->last_errno;
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
