/*
 * engine.c: runs a flush job with the strategy the planner picks.
 *
 * The dump path reads the table (once per family, or once per address and
 * direction with a kernel filter) and sends the deletes for what matched on
 * another socket, many per sendmsg, while the dump is still running: memory
 * stays bounded by one batch per thread, whatever the table size. A job's
 * dumps run on a small pool of threads, each with its own sockets, since the
 * kernel serves dumps side by side; a pool with fewer dumps than threads
 * receives each dump on a helper thread (ctpipe.h), since building the dump
 * in the kernel costs more than everything done with it here. Kernel-side
 * strategies (filtered flush, zone flush) are one acknowledged request per
 * walk.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctmsg.h"
#include "ctpipe.h"
#include "ctsock.h"
#include "log.h"

#define ENGINE_MAX_DUMP_RESTARTS 8
#define ENGINE_MAX_VERIFY_PASSES 3
#define ENGINE_DEFAULT_MAX_LOCAL 1024
#define ENGINE_DEFAULT_MAX_PEERS 4096
#define ENGINE_PROGRESS_EVERY 4096    /* Entries between clock reads. */

void
engine_opts_init(struct engine_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_local = ENGINE_DEFAULT_MAX_LOCAL;
    o->max_peers = ENGINE_DEFAULT_MAX_PEERS;
    o->progress_interval_ms = 250;
}

const char *
engine_strategies_name(const struct engine_stats *st, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int s = CT_STRATEGY_DUMP; s < CT_STRATEGY_COUNT; s++) {
        if (st->strategies_used & (1u << s)) {
            int n = snprintf(buf + used, len - used, "%s%s", used ? "+" : "",
                             ct_strategy_name((enum ct_strategy) s));
            if (n < 0 || (size_t) n >= len - used) {
                break;
            }
            used += (size_t) n;
        }
    }
    return used ? buf : ct_strategy_name(st->strategy);
}

uint64_t
engine_table_count(void)
{
    char buf[32];
    int fd = open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

/* State of one engine_run. */
struct engine_run {
    const struct engine_opts *opts;
    struct engine_stats *stats;
    double t0;
    uint64_t next_progress_ms;
    uint64_t rate_t0_ms;        /* Rate cap: start of the current slice. */
    uint64_t rate_sent;         /* Deletes sent in it. */
};

static void
engine_progress(struct engine_run *r, bool force)
{
    uint64_t now = ctf_time_msec();

    if (!r->opts->progress) {
        return;
    }
    if (!force && now < r->next_progress_ms) {
        return;
    }
    r->next_progress_ms = now + r->opts->progress_interval_ms;
    r->stats->elapsed_ms = (ctf_time_sec_f() - r->t0) * 1e3;
    r->opts->progress(r->stats, r->opts->progress_aux);
}

/* Holds deletes back to max_delete_rate per second, in slices of about
 * ENGINE_RATE_SLICE_MS: a smooth rate rather than a burst each second, and
 * a progress report during every wait, so that a throttled worker never
 * looks hung to the parent. */
#define ENGINE_RATE_SLICE_MS 100

static void
engine_rate_limit(struct engine_run *r)
{
    uint64_t rate = r->opts->max_delete_rate;

    if (!rate) {
        return;
    }
    uint64_t per_slice = rate * ENGINE_RATE_SLICE_MS / 1000;
    if (!per_slice) {
        per_slice = 1;
    }
    if (++r->rate_sent < per_slice) {
        return;
    }
    uint64_t slice_ms = per_slice * 1000 / rate;
    uint64_t now = ctf_time_msec();
    while (now - r->rate_t0_ms < slice_ms) {
        uint64_t ms = slice_ms - (now - r->rate_t0_ms);
        if (ms > ENGINE_RATE_SLICE_MS) {
            ms = ENGINE_RATE_SLICE_MS;
        }
        struct timespec ts = { (time_t) (ms / 1000), (long) (ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
        engine_progress(r, true);
        now = ctf_time_msec();
    }
    r->rate_t0_ms = now;
    r->rate_sent = 0;
}

/* ---- Dump path: whole-family and kernel-filtered dumps. ---- */

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
    struct engine_run *run;
    const struct dump_plan *plan;
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
    struct engine_stats *st = pool->run->stats;
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
    engine_progress(pool->run, force);
}

static int
dump_entry_cb(const void *nlh, size_t len, void *aux)
{
    struct dump_thread *t = aux;
    const struct dump_plan *plan = t->pool->plan;
    struct ct_entry e;

    t->scanned++;
    if (++t->seen % ENGINE_PROGRESS_EVERY == 0) {
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
        engine_rate_limit(t->pool->run);
    }
    return 0;
}

/* One unit: a dump the kernel cut short with ENOBUFS is dumped again. */
static int
dump_thread_run_unit(struct dump_thread *t, const struct dump_unit *u)
{
    const struct flush_job *job = t->pool->plan->job;
    const struct ct_caps *caps = t->pool->run->opts->caps;
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
        if (err == ENOBUFS && attempt < ENGINE_MAX_DUMP_RESTARTS) {
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

/* fside as for dump_plan_init: NULL for both families is the plain dump
 * path (one dump for the job's families). */
static int
engine_run_dumps(struct engine_run *r, const struct flush_job *job,
                 const struct ctf_prefix_list *const fside[2], char *errbuf, size_t errlen)
{
    struct engine_stats *st = r->stats;
    struct dump_plan plan;
    struct dump_pool pool;
    int err = dump_plan_init(&plan, job, fside);

    if (err) {
        snprintf(errbuf, errlen, "building the match sets: %s", strerror(err));
        return err;
    }
    memset(&pool, 0, sizeof pool);
    pool.run = r;
    pool.plan = &plan;
    pool.scanned0 = st->scanned;
    pool.matched0 = st->matched;
    pool.deleted0 = st->deleted;
    pool.n_threads = r->opts->caps->dump_threads;
    if (pool.n_threads > plan.n_units) {
        pool.n_threads = (unsigned int) plan.n_units;
    }
    if (!pool.n_threads) {
        pool.n_threads = 1;
    }
    /* Fewer dumps than threads (one whole-table dump, typically): give each
     * a second thread, so that the kernel builds the next part of the dump
     * while this one is matched and deleted. */
    pool.pipelined = r->opts->caps->dump_threads >= 2 * pool.n_threads;
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
        err = ctsock_open(&pool.threads[i].del, r->opts->batch_bytes);
        pool.threads[i].del_open = !err;
    }
    if (err) {
        snprintf(errbuf, errlen, "netlink socket: %s", strerror(err));
    }

    const char *what = fside[0] || fside[1] ? "filtered dumps" : "dump";
    for (unsigned int pass = 0; !err && plan.n_units && pass < ENGINE_MAX_VERIFY_PASSES;
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

/* ---- Kernel-side strategies. ---- */

/* One acknowledged flush request; accounts for what the walk removed. */
static int
engine_kernel_walk(struct engine_run *r, struct ctsock *s, void *msg, size_t len,
                   char *errbuf, size_t errlen)
{
    uint64_t before = engine_table_count();
    int err = ctsock_request(s, msg, len);
    uint64_t after = engine_table_count();

    r->stats->passes++;
    r->stats->scanned += before;
    if (err) {
        snprintf(errbuf, errlen, "kernel flush request: %s", strerror(err));
        return err;
    }
    /* The kernel does not say how many it removed; the table count is the
     * best we have (exact on a quiet table, approximate on a busy one). */
    uint64_t gone = before > after ? before - after : 0;
    r->stats->deleted += gone;
    r->stats->matched += gone;
    engine_progress(r, false);
    return 0;
}

static int
engine_filtered_walks(struct engine_run *r, struct ctsock *s, const struct flush_job *job,
                      const struct ctf_prefix *a, const struct ctf_prefix *b,
                      char *errbuf, size_t errlen)
{
    char msg[CTMSG_MAX_LEN];

    /* For ANY peers: A as source or destination of either tuple. For a pair:
     * (A,B) and (B,A) on either tuple. */
    for (int reply = 0; reply < 2; reply++) {
        for (int a_is_src = 0; a_is_src < 2; a_is_src++) {
            struct ctmsg_filter f = {
                .family = a->family,
                .reply = reply,
                .has_zone = job->has_zone,
                .zone = job->zone,
            };
            if (a_is_src) {
                f.has_src = true;
                f.src = a->addr;
                if (b) {
                    f.has_dst = true;
                    f.dst = b->addr;
                }
            } else {
                f.has_dst = true;
                f.dst = a->addr;
                if (b) {
                    f.has_src = true;
                    f.src = b->addr;
                }
            }
            size_t n = ctmsg_build_filtered_flush(msg, sizeof msg, ctsock_next_seq(s), &f, true);
            if (!n) {
                snprintf(errbuf, errlen, "cannot build a filtered flush");
                return EINVAL;
            }
            int err = engine_kernel_walk(r, s, msg, n, errbuf, errlen);
            if (err) {
                return err;
            }
        }
    }
    return 0;
}

static int
engine_run_filtered(struct engine_run *r, const struct flush_job *job,
                    char *errbuf, size_t errlen)
{
    struct ctsock s;
    int err = ctsock_open(&s, 0);

    if (err) {
        snprintf(errbuf, errlen, "netlink socket: %s", strerror(err));
        return err;
    }
    for (size_t i = 0; !err && i < job->local.n; i++) {
        const struct ctf_prefix *a = &job->local.items[i];
        if (job->peers_any) {
            err = engine_filtered_walks(r, &s, job, a, NULL, errbuf, errlen);
            continue;
        }
        for (size_t j = 0; !err && j < job->peers.n; j++) {
            const struct ctf_prefix *b = &job->peers.items[j];
            if (b->family == a->family) {
                err = engine_filtered_walks(r, &s, job, a, b, errbuf, errlen);
            }
        }
    }
    ctsock_close(&s);
    return err;
}

static int
engine_run_zone_flush(struct engine_run *r, const struct flush_job *job,
                      char *errbuf, size_t errlen)
{
    char msg[CTMSG_MAX_LEN];
    struct ctsock s;
    int err = ctsock_open(&s, 0);

    if (err) {
        snprintf(errbuf, errlen, "netlink socket: %s", strerror(err));
        return err;
    }
    size_t n = ctmsg_build_zone_flush(msg, sizeof msg, ctsock_next_seq(&s), job->zone, true);
    err = engine_kernel_walk(r, &s, msg, n, errbuf, errlen);
    ctsock_close(&s);
    return err;
}

/* The list family f's filtered dumps filter on (NULL: none). */
static const struct ctf_prefix_list *
engine_fdump_side(const struct flush_job *job, int family)
{
    bool on_peers;
    const struct ctf_prefix_list *side;

    if (!planner_filtered_dumps(job, &on_peers)) {
        return NULL;
    }
    side = on_peers ? &job->peers : &job->local;
    return ctf_prefix_list_has_family(side, family) ? side : NULL;
}

static void
engine_note_strategy(struct engine_run *r, enum ct_strategy s)
{
    r->stats->strategy = s;
    r->stats->strategies_used |= 1u << s;
}

static int
engine_run_planned(struct engine_run *r, const struct flush_job *job,
                   const struct ct_plan *plan, char *errbuf, size_t errlen)
{
    const struct ctf_prefix_list *fside[2] = { NULL, NULL };

    engine_note_strategy(r, plan->strategy);
    switch (plan->strategy) {
    case CT_STRATEGY_ZONE_FLUSH:
        return engine_run_zone_flush(r, job, errbuf, errlen);
    case CT_STRATEGY_FILTERED_FLUSH:
        return engine_run_filtered(r, job, errbuf, errlen);
    case CT_STRATEGY_FILTERED_DUMP:
        fside[0] = engine_fdump_side(job, AF_INET);
        fside[1] = engine_fdump_side(job, AF_INET6);
        return engine_run_dumps(r, job, fside, errbuf, errlen);
    case CT_STRATEGY_DUMP:
    case CT_STRATEGY_AUTO:
    case CT_STRATEGY_COUNT:
    default:
        return engine_run_dumps(r, job, fside, errbuf, errlen);
    }
}

static bool
is_dump_strategy(enum ct_strategy s)
{
    return s == CT_STRATEGY_DUMP || s == CT_STRATEGY_FILTERED_DUMP;
}

/* Plans each family of a chunk on its own (a kernel may be proven for one
 * family and not the other, and the costs differ), but runs one dump for
 * both when both want the dump. */
static int
engine_run_chunk(struct engine_run *r, const struct flush_job *chunk, size_t i, size_t n,
                 bool dry_run, char *errbuf, size_t errlen)
{
    const struct engine_opts *o = r->opts;
    uint64_t count = engine_table_count();
    struct flush_job part[2];
    struct ct_plan plan[2];
    bool have[2];
    int err = 0;

    if (!dry_run) {
        r->stats->chunks++;
    }
    for (int f = 0; f < 2; f++) {
        int ferr = flush_job_family_part(chunk, f ? AF_INET6 : AF_INET, &part[f]);
        have[f] = ferr == 0;
        if (ferr && ferr != ENOENT) {
            if (f && have[0]) {
                flush_job_destroy(&part[0]);
            }
            snprintf(errbuf, errlen, "splitting a chunk by family: %s", strerror(ferr));
            return ferr;
        }
    }
    if (!have[0] && !have[1] && !chunk->local_any) {
        /* Chunking can leave a chunk whose local and peer prefixes are of
         * different families: it matches nothing, and no strategy (a forced
         * filtered flush least of all) needs to run for it. */
        log_debug("chunk %zu/%zu: no same-family local/peer pair, nothing to do", i + 1, n);
        return 0;
    }
    if (!have[0] || !have[1]) {
        /* One family (or a whole-zone job): plan it as it is. */
        for (int f = 0; f < 2; f++) {
            if (have[f]) {
                flush_job_destroy(&part[f]);
            }
        }
        err = planner_choose(chunk, o->caps, count, o->force, &plan[0]);
        if (err) {
            snprintf(errbuf, errlen, "%s", plan[0].reason);
            return err;
        }
        if (dry_run) {
            return 0;
        }
        log_debug("chunk %zu/%zu: %s", i + 1, n, plan[0].reason);
        return engine_run_planned(r, chunk, &plan[0], errbuf, errlen);
    }

    for (int f = 0; !err && f < 2; f++) {
        err = planner_choose(&part[f], o->caps, count, o->force, &plan[f]);
        if (err) {
            snprintf(errbuf, errlen, "%s: %s", f ? "IPv6" : "IPv4", plan[f].reason);
        }
    }
    if (err || dry_run) {
        /* Nothing to run. */
    } else if (is_dump_strategy(plan[0].strategy) && is_dump_strategy(plan[1].strategy)) {
        /* Both families' dumps in one pool: they run side by side, and
         * whole-family dumps of both are one dump. */
        const struct ctf_prefix_list *fside[2];
        for (int f = 0; f < 2; f++) {
            fside[f] = plan[f].strategy == CT_STRATEGY_FILTERED_DUMP
                       ? engine_fdump_side(&part[f], f ? AF_INET6 : AF_INET) : NULL;
            log_debug("chunk %zu/%zu %s: %s", i + 1, n, f ? "IPv6" : "IPv4", plan[f].reason);
        }
        engine_note_strategy(r, plan[1].strategy);
        engine_note_strategy(r, plan[0].strategy);
        err = engine_run_dumps(r, chunk, fside, errbuf, errlen);
    } else {
        for (int f = 0; !err && f < 2; f++) {
            log_debug("chunk %zu/%zu %s: %s", i + 1, n, f ? "IPv6" : "IPv4", plan[f].reason);
            err = engine_run_planned(r, &part[f], &plan[f], errbuf, errlen);
        }
    }
    flush_job_destroy(&part[0]);
    flush_job_destroy(&part[1]);
    return err;
}

int
engine_run(const struct flush_job *job, const struct engine_opts *opts,
           struct engine_stats *stats, char *errbuf, size_t errlen)
{
    struct engine_run r = { opts, stats, ctf_time_sec_f(), 0, ctf_time_msec(), 0 };
    struct ct_caps caps;        /* What this run may use. */
    struct engine_opts o = *opts;
    struct flush_job *chunks = NULL;
    size_t n_chunks = 0;
    int err;

    memset(stats, 0, sizeof *stats);
    errbuf[0] = '\0';
    if (o.caps) {
        caps = *o.caps;
    } else {
        ct_caps_init_unproven(&caps, "not probed");
    }
    if (o.dump_threads) {
        caps.dump_threads = o.dump_threads;
    }
    if (o.max_delete_rate) {
        /* A rate cap is kept by one thread (more would only queue), and
         * only by strategies whose deletes we send: a kernel-side flush
         * deletes at the kernel's pace, so auto leaves them out. A forced
         * one still runs, unpaced, as asked. */
        caps.dump_threads = 1;
        if (o.force == CT_STRATEGY_AUTO) {
            caps.zone_flush = false;
            caps.filtered_flush = false;
        }
    }
    o.caps = &caps;
    r.opts = &o;
    err = flush_job_validate(job, errbuf, errlen);
    if (err) {
        return err;
    }
    err = flush_job_split(job, o.max_local, o.max_peers, &chunks, &n_chunks);
    if (err) {
        snprintf(errbuf, errlen, "splitting the job: %s", strerror(err));
        return err;
    }
    stats->table_before = engine_table_count();

    /* A forced strategy is checked against every chunk before the first one
     * runs: refusing half-way would leave the job half done (the earlier
     * chunks' entries already deleted) and still report a refusal. */
    for (size_t i = 0; !err && o.force != CT_STRATEGY_AUTO && i < n_chunks; i++) {
        err = engine_run_chunk(&r, &chunks[i], i, n_chunks, true, errbuf, errlen);
    }
    for (size_t i = 0; !err && i < n_chunks; i++) {
        err = engine_run_chunk(&r, &chunks[i], i, n_chunks, false, errbuf, errlen);
        engine_progress(&r, true);
    }
    flush_job_array_free(chunks, n_chunks);
    stats->elapsed_ms = (ctf_time_sec_f() - r.t0) * 1e3;
    return err;
}
