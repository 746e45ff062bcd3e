/*
 * engine.c: runs flush jobs with the strategies the planner picks.
 *
 * A job alone is split into chunks, each family of a chunk is planned, and
 * the plan run: the dump-type strategies through dumps.h (a pool of dump
 * threads), the kernel-side ones (filtered flush, zone flush) here, as one
 * acknowledged request per walk. A group of jobs is first offered one
 * shared dump: taken when it costs less than the jobs' own plans added up
 * (a whole zone's flush keeps it: the kernel deletes its entries for less
 * than we could). The engine owns the run's counters, the
 * progress reports, cancellations and the delete-rate cap, which the dump
 * threads reach through hooks and the active mask.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctmsg.h"
#include "ctsock.h"
#include "dumps.h"
#include "log.h"
#include "match.h"
#include "num.h"

#define ENGINE_DEFAULT_MAX_LOCAL 1024
#define ENGINE_DEFAULT_MAX_PEERS 4096

void
engine_opts_init(struct engine_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_local = ENGINE_DEFAULT_MAX_LOCAL;
    o->max_peers = ENGINE_DEFAULT_MAX_PEERS;
    o->progress_interval_ms = 250;
}

uint64_t
engine_table_count(void)
{
    char buf[32];
    int fd = open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC);
    ssize_t n;
    uint64_t v;

    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';     /* The kernel ends it with one. */
    return num_parse_u64(buf, NUM_DEC, 0, UINT64_MAX, &v, NULL, 0) ? 0 : v;
}

/* State of one engine_run_jobs. */
struct engine_run {
    const struct engine_opts *opts;
    struct engine_job *jobs;
    size_t n;
    struct engine_stats *stats;     /* The running job's (alone), for the
                                     * kernel walks and the rate cap. */
    size_t alone;                   /* That job's index (n: a shared pass). */
    /* The running pass's members: member i is jobs[member[i]]; bit i of
     * active while it is still wanted (dumps.h reads it). */
    size_t member[ENGINE_MAX_JOBS];
    size_t n_members;
    uint64_t active;
    double t0;
    double started[ENGINE_MAX_JOBS];    /* When each job's run began; 0: not yet. */
    uint64_t next_progress_ms;
    uint64_t rate_t0_ms;            /* Rate cap: start of the current slice. */
    uint64_t rate_sent;             /* Deletes sent in it. */
};

static void
engine_finish(struct engine_run *r, size_t i, int err, const char *why)
{
    struct engine_job *j = &r->jobs[i];

    if (j->finished) {
        return;
    }
    j->finished = true;
    j->err = err;
    if (err) {
        snprintf(j->errbuf, sizeof j->errbuf, "%s", why && *why ? why : strerror(err));
    } else {
        j->errbuf[0] = '\0';
    }
    if (r->started[i] > 0) {
        j->stats.elapsed_ms = (ctf_time_sec_f() - r->started[i]) * 1e3;
    }
    /* A finished member of the running pass stops matching. */
    for (size_t m = 0; m < r->n_members; m++) {
        if (r->member[m] == i) {
            __atomic_and_fetch(&r->active, ~(UINT64_C(1) << m), __ATOMIC_RELAXED);
        }
    }
    if (r->opts->done) {
        r->opts->done(j, r->opts->hook_aux);
    }
}

static void
engine_progress(struct engine_run *r, bool force)
{
    const struct engine_opts *o = r->opts;
    uint64_t now = ctf_time_msec();

    if (!force && now < r->next_progress_ms) {
        return;
    }
    r->next_progress_ms = now + o->progress_interval_ms;
    if (o->poll) {
        o->poll(o->hook_aux);
        for (size_t i = 0; i < r->n; i++) {
            if (r->jobs[i].cancel && !r->jobs[i].finished) {
                engine_finish(r, i, ECANCELED, "cancelled");
            }
        }
    }
    if (!o->progress) {
        return;
    }
    double t = ctf_time_sec_f();
    for (size_t i = 0; i < r->n; i++) {
        struct engine_job *j = &r->jobs[i];
        if (!j->finished) {
            j->stats.elapsed_ms = r->started[i] > 0 ? (t - r->started[i]) * 1e3 : 0;
            o->progress(j->id, &j->stats, o->progress_aux);
        }
    }
}

/* Whether the job running alone was cancelled (by a poll during its run). */
static bool
engine_alone_cancelled(const struct engine_run *r)
{
    return r->alone < r->n && r->jobs[r->alone].finished;
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

/* ---- Dump-type strategies (dumps.h). ---- */

static void
engine_hook_progress(void *aux, bool force)
{
    engine_progress(aux, force);
}

static void
engine_hook_rate_limit(void *aux)
{
    engine_rate_limit(aux);
}

/* The running job's dumps, alone (fd: its filtered dumps, or NULL). */
static int
engine_run_dumps(struct engine_run *r, const struct flush_job *job,
                 const struct dumps_filtered *fd, char *errbuf, size_t errlen)
{
    const struct dumps_hooks hooks = { engine_hook_progress, engine_hook_rate_limit, r };
    const struct dumps_member m = { job, r->stats };

    return dumps_run(&m, 1, &r->active, fd, r->opts->caps, r->opts->batch_bytes, &hooks,
                     errbuf, errlen);
}

/* ---- Kernel-side strategies. ---- */

/* One acknowledged flush request; accounts for what the walk removed. */
static int
engine_kernel_walk(struct engine_run *r, struct ctsock *s, void *msg, size_t len,
                   char *errbuf, size_t errlen)
{
    if (engine_alone_cancelled(r)) {
        snprintf(errbuf, errlen, "cancelled");
        return ECANCELED;
    }
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

/* One walk per way the job reads (match.h): for ANY peers, A at that way's
 * end of that tuple; for a pair, A there and B at the other end. */
static int
engine_filtered_walks(struct engine_run *r, struct ctsock *s, const struct flush_job *job,
                      const struct ctf_prefix *a, const struct ctf_prefix *b,
                      char *errbuf, size_t errlen)
{
    char msg[CTMSG_MAX_LEN];
    unsigned int ways = match_job_ways(job);
    struct ctmsg_filter base = {
        .family = a->family,
        .has_zone = job->has_zone,
        .zone = job->zone,
    };

    if (!planner_proto_filter(job, r->opts->caps, a->family, PLANNER_FILTERED_FLUSH, &base.proto,
                              &base.has_dport, &base.dport)) {
        /* The planner refuses such a job; never flush more than it asks. */
        snprintf(errbuf, errlen, "filtered-flush cannot select this protocol or port");
        return EINVAL;
    }
    for (int w = 0; w < MATCH_WAYS; w++) {
        struct ctmsg_filter f = base;

        if (!(ways & (1u << w))) {
            continue;
        }
        f.reply = w >> 1;
        if (!(w & 1)) {
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
        if (!flush_job_family_ok(job, a->family)) {
            continue;
        }
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

/* Family f's filtered dumps of a job: the list they filter on (NULL:
 * none), and whether it is the peers'. */
static void
engine_fdump_side(const struct flush_job *job, int family, struct dumps_filtered *fd)
{
    int f = family == AF_INET6;
    bool on_peers;
    const struct ctf_prefix_list *side;

    fd->side[f] = NULL;
    fd->on_peers[f] = false;
    if (!planner_filtered_dumps(job, &on_peers)) {
        return;
    }
    side = on_peers ? &job->peers : &job->local;
    if (ctf_prefix_list_has_family(side, family)) {
        fd->side[f] = side;
        fd->on_peers[f] = on_peers;
    }
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
    struct dumps_filtered fd;

    memset(&fd, 0, sizeof fd);
    engine_note_strategy(r, plan->strategy);
    switch (plan->strategy) {
    case CT_STRATEGY_ZONE_FLUSH:
        return engine_run_zone_flush(r, job, errbuf, errlen);
    case CT_STRATEGY_FILTERED_FLUSH:
        return engine_run_filtered(r, job, errbuf, errlen);
    case CT_STRATEGY_FILTERED_DUMP:
        engine_fdump_side(job, AF_INET, &fd);
        engine_fdump_side(job, AF_INET6, &fd);
        return engine_run_dumps(r, job, &fd, errbuf, errlen);
    case CT_STRATEGY_DUMP:
    case CT_STRATEGY_AUTO:
    case CT_STRATEGY_COUNT:
    default:
        return engine_run_dumps(r, job, NULL, errbuf, errlen);
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
         * different families (or none of the job's family): it matches
         * nothing, and no strategy (a forced filtered flush least of all)
         * needs to run for it. */
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
        struct dumps_filtered fd;
        memset(&fd, 0, sizeof fd);
        for (int f = 0; f < 2; f++) {
            if (plan[f].strategy == CT_STRATEGY_FILTERED_DUMP) {
                engine_fdump_side(&part[f], f ? AF_INET6 : AF_INET, &fd);
            }
            log_debug("chunk %zu/%zu %s: %s", i + 1, n, f ? "IPv6" : "IPv4", plan[f].reason);
        }
        engine_note_strategy(r, plan[1].strategy);
        engine_note_strategy(r, plan[0].strategy);
        err = engine_run_dumps(r, chunk, &fd, errbuf, errlen);
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

/* Runs jobs[k] on its own: chunk by chunk, each planned by family. */
static void
engine_run_alone(struct engine_run *r, size_t k)
{
    const struct engine_opts *o = r->opts;
    struct engine_job *j = &r->jobs[k];
    struct flush_job *chunks = NULL;
    size_t n_chunks = 0;
    char errbuf[sizeof j->errbuf];
    int err;

    errbuf[0] = '\0';
    r->stats = &j->stats;
    r->alone = k;
    r->member[0] = k;
    r->n_members = 1;
    __atomic_store_n(&r->active, 1, __ATOMIC_RELAXED);
    r->started[k] = ctf_time_sec_f();
    r->rate_t0_ms = ctf_time_msec();
    r->rate_sent = 0;
    err = flush_job_split(j->job, o->max_local, o->max_peers, &chunks, &n_chunks);
    if (err) {
        snprintf(errbuf, sizeof errbuf, "splitting the job: %s", strerror(err));
    }
    /* A forced strategy is checked against every chunk before the first one
     * runs: refusing half-way would leave the job half done (the earlier
     * chunks' entries already deleted) and still report a refusal. */
    for (size_t i = 0; !err && o->force != CT_STRATEGY_AUTO && i < n_chunks; i++) {
        err = engine_run_chunk(r, &chunks[i], i, n_chunks, true, errbuf, sizeof errbuf);
    }
    if (!err) {
        engine_progress(r, true);       /* Started (and not cancelled). */
    }
    for (size_t i = 0; !err && !j->finished && i < n_chunks; i++) {
        err = engine_run_chunk(r, &chunks[i], i, n_chunks, false, errbuf, sizeof errbuf);
        engine_progress(r, true);
    }
    flush_job_array_free(chunks, n_chunks);
    engine_finish(r, k, err, errbuf);
    r->n_members = 0;
    r->alone = r->n;
}

/* Runs the jobs marked in share[] as one dump. */
static void
engine_run_shared(struct engine_run *r, const bool *share)
{
    const struct dumps_hooks hooks = { engine_hook_progress, engine_hook_rate_limit, r };
    struct dumps_member members[ENGINE_MAX_JOBS];
    char errbuf[256];
    double t = ctf_time_sec_f();

    r->n_members = 0;
    r->alone = r->n;
    for (size_t i = 0; i < r->n; i++) {
        if (share[i] && !r->jobs[i].finished) {
            struct engine_stats *st = &r->jobs[i].stats;
            members[r->n_members].job = r->jobs[i].job;
            members[r->n_members].stats = st;
            r->member[r->n_members++] = i;
            st->strategy = CT_STRATEGY_DUMP;
            st->strategies_used |= 1u << CT_STRATEGY_DUMP;
            st->chunks++;
            r->started[i] = t;
        }
    }
    if (!r->n_members) {
        return;
    }
    uint64_t all = r->n_members == 64 ? UINT64_MAX : (UINT64_C(1) << r->n_members) - 1;
    __atomic_store_n(&r->active, all, __ATOMIC_RELAXED);
    log_debug("%zu jobs share one dump", r->n_members);
    /* Started: say so, and take any cancellation that came meanwhile. */
    engine_progress(r, true);
    errbuf[0] = '\0';
    int err = dumps_run(members, r->n_members, &r->active, NULL, r->opts->caps,
                        r->opts->batch_bytes, &hooks, errbuf, sizeof errbuf);
    engine_progress(r, true);
    for (size_t m = 0; m < r->n_members; m++) {
        engine_finish(r, r->member[m], err, errbuf);
    }
    r->n_members = 0;
}

/* Which jobs share one dump: those whose own plans (a whole zone's flush
 * aside) would cost more together than the dump. Filtered flushes share
 * too: twenty of them are eighty walks, which the kernel runs one at a
 * time. */
static void
engine_choose_shared(struct engine_run *r, bool *share)
{
    const struct engine_opts *o = r->opts;
    uint64_t count = engine_table_count();
    double sum = 0;
    size_t n = 0;

    memset(share, 0, r->n * sizeof *share);
    if (r->n < 2 || o->force != CT_STRATEGY_AUTO || o->max_delete_rate) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        bool zone_flush;
        if (r->jobs[i].finished) {
            continue;
        }
        double ms = planner_job_cost(r->jobs[i].job, o->caps, count, &zone_flush);
        if (!zone_flush) {
            share[i] = true;
            sum += ms;
            n++;
        }
    }
    double dump = planner_dump_cost(o->caps, count);
    if (n < 2 || sum <= dump) {
        memset(share, 0, r->n * sizeof *share);
        log_debug("group of %zu: %zu could share a dump (est %.1f ms alone, %.1f shared): "
                  "each runs alone", r->n, n, sum, dump);
        return;
    }
    log_debug("group of %zu: %zu share one dump (est %.1f ms alone, %.1f shared)", r->n, n,
              sum, dump);
}

size_t
engine_run_jobs(struct engine_job *jobs, size_t n, const struct engine_opts *opts)
{
    struct engine_run r;
    struct ct_caps caps;        /* What this run may use. */
    struct engine_opts o = *opts;
    bool share[ENGINE_MAX_JOBS];
    size_t failed = 0;

    memset(&r, 0, sizeof r);
    r.jobs = jobs;
    r.n = n > ENGINE_MAX_JOBS ? ENGINE_MAX_JOBS : n;
    r.alone = r.n;
    r.t0 = ctf_time_sec_f();
    r.rate_t0_ms = ctf_time_msec();
    if (!o.progress_interval_ms) {
        o.progress_interval_ms = 250;
    }
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

    uint64_t before = engine_table_count();
    for (size_t i = 0; i < n; i++) {
        char why[sizeof jobs[i].errbuf];
        memset(&jobs[i].stats, 0, sizeof jobs[i].stats);
        jobs[i].stats.table_before = before;
        jobs[i].finished = false;
        jobs[i].err = 0;
        jobs[i].errbuf[0] = '\0';
        if (i >= r.n) {
            /* More than a run takes: the caller broke the bound. */
            jobs[i].finished = true;
            jobs[i].err = E2BIG;
            snprintf(jobs[i].errbuf, sizeof jobs[i].errbuf, "more than %d jobs in one run",
                     ENGINE_MAX_JOBS);
            failed++;
            continue;
        }
        int err = flush_job_validate(jobs[i].job, why, sizeof why);
        if (err) {
            engine_finish(&r, i, err, why);
        }
    }
    engine_choose_shared(&r, share);
    bool shared_done = false;
    for (size_t i = 0; i < r.n; i++) {
        if (jobs[i].finished) {
            continue;
        }
        if (share[i]) {
            if (!shared_done) {
                engine_run_shared(&r, share);
                shared_done = true;
            }
            continue;
        }
        engine_run_alone(&r, i);
    }
    for (size_t i = 0; i < r.n; i++) {
        failed += jobs[i].err != 0;
    }
    return failed;
}

int
engine_run(const struct flush_job *job, const struct engine_opts *opts,
           struct engine_stats *stats, char *errbuf, size_t errlen)
{
    struct engine_job one;

    memset(&one, 0, sizeof one);
    one.job = job;
    engine_run_jobs(&one, 1, opts);
    *stats = one.stats;
    snprintf(errbuf, errlen, "%s", one.err ? one.errbuf : "");
    return one.err;
}
