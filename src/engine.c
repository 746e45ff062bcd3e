/*
 * engine.c: runs a flush job with the strategy the planner picks.
 *
 * The dump path reads the table once per family on one socket and sends the
 * deletes for what matched on a second socket, many per sendmsg, while the
 * dump is still running: memory stays bounded by one batch, whatever the
 * table size. Kernel-side strategies (filtered flush, zone flush) are one
 * acknowledged request per walk.
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
    for (int s = CT_STRATEGY_DUMP; s <= CT_STRATEGY_ZONE_FLUSH; s++) {
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

/* ---- Dump path. ---- */

struct dump_ctx {
    struct engine_run *run;
    const struct job_matcher *matcher;
    struct ctsock *del;
    int err;                    /* First hard error from the delete socket. */
    unsigned int seen;
    uint64_t deleted_before;    /* stats->deleted when this run started. */
};

/* Deletes confirmed so far: sent, minus what the kernel has reported back. */
static void
dump_update_deleted(struct dump_ctx *d)
{
    const struct ctsock_batch_stats *b = &d->del->bstats;
    d->run->stats->deleted = d->deleted_before + b->sent - b->enoent - b->failed;
}

static int
dump_entry_cb(const void *nlh, size_t len, void *aux)
{
    struct dump_ctx *d = aux;
    struct engine_stats *st = d->run->stats;
    struct ct_entry e;

    st->scanned++;
    if (++d->seen % ENGINE_PROGRESS_EVERY == 0) {
        dump_update_deleted(d);
        engine_progress(d->run, false);
    }
    if (ctmsg_parse_entry(nlh, len, &e)) {
        return 0;               /* Not an entry we can match; leave it. */
    }
    if (!job_matcher_match(d->matcher, &e)) {
        return 0;
    }
    st->matched++;
    void *slot = ctsock_batch_reserve(d->del, CTMSG_MAX_LEN);
    if (!slot) {
        d->err = EIO;
        return EIO;
    }
    size_t n = ctmsg_build_delete(slot, CTMSG_MAX_LEN, ctsock_next_seq(d->del), &e);
    if (n) {
        ctsock_batch_commit(d->del, n);
    } else {
        st->errors++;
    }
    engine_rate_limit(d->run);
    return 0;
}

static int
engine_dump_family(struct engine_run *r, const struct flush_job *job,
                   const struct job_matcher *m, struct ctsock *del, int family,
                   uint64_t deleted_before, char *errbuf, size_t errlen)
{
    const struct ct_caps *caps = r->opts->caps;
    uint16_t zone = job->zone;
    uint32_t mark = job->mark & job->mark_mask, mask = job->mark_mask;
    char req[CTMSG_MAX_LEN];

    for (unsigned int attempt = 0;; attempt++) {
        struct ctsock dumper;
        struct dump_ctx d = { r, m, del, 0, 0, deleted_before };
        int err = ctsock_open(&dumper, 0);

        if (err) {
            snprintf(errbuf, errlen, "netlink socket: %s", strerror(err));
            return err;
        }
        size_t n = ctmsg_build_dump(req, sizeof req, ctsock_next_seq(&dumper), family,
                                    job->has_zone && caps->dump_zone_filter ? &zone : NULL,
                                    job->has_mark ? &mark : NULL,
                                    job->has_mark ? &mask : NULL);
        r->stats->passes++;
        err = ctsock_dump(&dumper, req, n, dump_entry_cb, &d);
        ctsock_close(&dumper);
        if (d.err) {
            snprintf(errbuf, errlen, "sending deletes: %s", strerror(d.err));
            return d.err;
        }
        if (err == ENOBUFS && attempt < ENGINE_MAX_DUMP_RESTARTS) {
            /* Part of the dump was lost. Send the deletes still batched
             * first: the kernel runs them within the send, so the next dump
             * sees only what is left and asks for nothing twice. */
            r->stats->dump_restarts++;
            log_info("dump overran the receive buffer, dumping again");
            err = ctsock_batch_flush(del);
            if (err) {
                snprintf(errbuf, errlen, "sending deletes: %s", strerror(err));
                return err;
            }
            continue;
        }
        if (err) {
            snprintf(errbuf, errlen, "dumping the conntrack table: %s", strerror(err));
            return err;
        }
        return 0;
    }
}

static int
engine_run_dump(struct engine_run *r, const struct flush_job *job,
                char *errbuf, size_t errlen)
{
    struct job_matcher m;
    struct ctsock del;
    int err = job_matcher_init(&m, job);

    if (err) {
        snprintf(errbuf, errlen, "building the match sets: %s", strerror(err));
        return err;
    }
    err = ctsock_open(&del, r->opts->batch_bytes);
    if (err) {
        job_matcher_destroy(&m);
        snprintf(errbuf, errlen, "netlink socket: %s", strerror(err));
        return err;
    }

    uint64_t deleted_before = r->stats->deleted;
    unsigned int fams = job_matcher_families(&m);
    for (unsigned int pass = 0; !err && pass < ENGINE_MAX_VERIFY_PASSES; pass++) {
        uint64_t lost_before = del.bstats.lost_reports;
        /* One dump per family the job can match; both families in one
         * AF_UNSPEC dump, since every dump walks the whole hash table. */
        int family = fams == (ADDRSET_HAS_V4 | ADDRSET_HAS_V6) ? AF_UNSPEC
                     : fams & ADDRSET_HAS_V4 ? AF_INET : AF_INET6;
        if (fams) {
            err = engine_dump_family(r, job, &m, &del, family, deleted_before, errbuf, errlen);
        }
        if (!err) {
            err = ctsock_batch_flush(&del);
            if (err) {
                snprintf(errbuf, errlen, "sending deletes: %s", strerror(err));
            }
        }
        if (err || del.bstats.lost_reports == lost_before) {
            break;
        }
        /* Some failure reports were lost: we do not know which deletes
         * failed, so look again; whatever still matches is still there. */
        log_warnx("lost %llu delete reports; verifying with another pass",
                  (unsigned long long) (del.bstats.lost_reports - lost_before));
    }

    struct ctsock_batch_stats *b = &del.bstats;
    r->stats->already_gone += b->enoent;
    r->stats->errors += b->failed;
    r->stats->deleted = deleted_before + b->sent - b->enoent - b->failed;
    if (b->failed) {
        log_warnx("%llu deletes failed (last: %s)", (unsigned long long) b->failed,
                  strerror(b->last_errno));
    }
    ctsock_close(&del);
    job_matcher_destroy(&m);
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

static int
engine_run_planned(struct engine_run *r, const struct flush_job *job,
                   const struct ct_plan *plan, char *errbuf, size_t errlen)
{
    r->stats->strategy = plan->strategy;
    r->stats->strategies_used |= 1u << plan->strategy;
    switch (plan->strategy) {
    case CT_STRATEGY_ZONE_FLUSH:
        return engine_run_zone_flush(r, job, errbuf, errlen);
    case CT_STRATEGY_FILTERED_FLUSH:
        return engine_run_filtered(r, job, errbuf, errlen);
    case CT_STRATEGY_DUMP:
    case CT_STRATEGY_AUTO:
    default:
        return engine_run_dump(r, job, errbuf, errlen);
    }
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
    /* A kernel-side flush deletes at the kernel's pace: only the dump path
     * can honour a delete-rate cap, so a cap rules the others out. */
    enum ct_strategy force = o->force == CT_STRATEGY_AUTO && o->max_delete_rate
                             ? CT_STRATEGY_DUMP : o->force;
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
        err = planner_choose(chunk, o->caps, count, force, &plan[0]);
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
        err = planner_choose(&part[f], o->caps, count, force, &plan[f]);
        if (err) {
            snprintf(errbuf, errlen, "%s: %s", f ? "IPv6" : "IPv4", plan[f].reason);
        }
    }
    if (err || dry_run) {
        /* Nothing to run. */
    } else if (plan[0].strategy == CT_STRATEGY_DUMP && plan[1].strategy == CT_STRATEGY_DUMP) {
        log_debug("chunk %zu/%zu: dump (both families, one pass)", i + 1, n);
        err = engine_run_planned(r, chunk, &plan[0], errbuf, errlen);
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
    struct ct_caps unproven;
    struct engine_opts o = *opts;
    struct flush_job *chunks = NULL;
    size_t n_chunks = 0;
    int err;

    memset(stats, 0, sizeof *stats);
    errbuf[0] = '\0';
    if (!o.caps) {
        ct_caps_init_unproven(&unproven, "not probed");
        o.caps = &unproven;
    }
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
