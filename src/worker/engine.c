/*
 * engine.c: runs a flush job with the strategy the planner picks.
 *
 * It splits the job into chunks, plans each family of a chunk, and runs the
 * plan: the dump-type strategies through dumps.h (a pool of dump threads),
 * the kernel-side ones (filtered flush, zone flush) here, as one
 * acknowledged request per walk. It owns the run's counters, its progress
 * reports and the delete-rate cap, which the dump threads reach through
 * hooks.
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

static int
engine_run_dumps(struct engine_run *r, const struct flush_job *job,
                 const struct ctf_prefix_list *const fside[2], char *errbuf, size_t errlen)
{
    const struct dumps_hooks hooks = { engine_hook_progress, engine_hook_rate_limit, r };

    return dumps_run(job, fside, r->opts->caps, r->opts->batch_bytes, r->stats, &hooks,
                     errbuf, errlen);
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
