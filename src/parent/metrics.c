/*
 * metrics.c: the Prometheus text exposition (format 0.0.4) of a metrics_view,
 * and the job duration histogram. Every family gets its # HELP and # TYPE
 * lines, as node_exporter's textfile collector and promtool expect.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Job durations run from a few milliseconds (one filtered flush) to minutes
 * (a rate-capped dump of a million-entry table). */
static const double metrics_bounds[METRICS_HIST_BUCKETS] = {
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600,
};

void
metrics_hist_init(struct metrics_hist *h)
{
    memset(h, 0, sizeof *h);
}

void
metrics_hist_observe(struct metrics_hist *h, double seconds)
{
    /* A NaN or infinity would poison _sum for the life of the process. */
    if (!isfinite(seconds)) {
        return;
    }
    if (seconds < 0) {
        seconds = 0;
    }
    h->count++;
    h->sum += seconds;
    for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
        if (seconds <= metrics_bounds[i]) {     /* "le": the bound is inclusive. */
            h->counts[i]++;
            return;
        }
    }
    h->inf++;
}

double
metrics_hist_bound(size_t i)
{
    return i < METRICS_HIST_BUCKETS ? metrics_bounds[i] : INFINITY;
}

/* A growing output buffer whose errors are sticky: format everything, check
 * once at the end. */
struct metrics_buf {
    char *s;
    size_t len;
    size_t cap;
    bool failed;
};

static void metrics_printf(struct metrics_buf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t) n >= b->cap - b->len) {
        size_t cap = b->cap;
        while (cap - b->len <= (size_t) n) {
            cap *= 2;
        }
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t) n;
}

/* Prometheus float syntax: Go's ParseFloat plus "+Inf", "-Inf", "NaN". */
static const char *
metrics_fmt_double(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, len, "%.15g", v);
    }
    return buf;
}

static void
metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
    metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metrics_u64(struct metrics_buf *b, const char *name, const char *type, const char *help,
            uint64_t v)
{
    metrics_family(b, name, type, help);
    metrics_printf(b, "%s %" PRIu64 "\n", name, v);
}

struct metrics_counter {
    const char *name;           /* Without the ctflushd_ prefix and _total. */
    size_t off;                 /* Of the uint64_t in struct metrics_view. */
    const char *help;
};

#define V(FIELD) offsetof(struct metrics_view, FIELD)

static const struct metrics_counter metrics_counters[] = {
    { "jobs_done", V(jobs_done), "Flush jobs that finished." },
    { "jobs_failed", V(jobs_failed), "Flush jobs that failed for good (after every retry)." },
    { "jobs_cancelled", V(jobs_cancelled), "Flush jobs cancelled by an operator." },
    { "job_retries", V(job_retries), "Job runs that failed and were queued again." },
    { "jobs_merged", V(jobs_merged), "Jobs merged into a queued job instead of queued." },
    { "entries_deleted", V(entries_deleted), "Conntrack entries deleted." },
    { "entries_scanned", V(entries_scanned),
      "Conntrack entries looked at (each pass counts)." },
    { "port_removals", V(port_removals), "Ports seen leaving OVSDB." },
    { "port_adds", V(port_adds), "Ports seen appearing in OVSDB." },
    { "replugs_cancelled", V(replugs_cancelled),
      "Port removals cancelled because the same VM came back within the batch window." },
    { "addresses_held_back", V(addresses_held_back),
      "Addresses left out of port-driven flushes because a live port holds them." },
    { "worker_starts", V(worker_starts), "Batch worker processes started." },
    { "worker_crashes", V(worker_crashes),
      "Batch workers that died by a signal or exited non-zero." },
    { "worker_hangs", V(worker_hangs), "Batch workers killed for making no progress." },
    { "userdp_starts", V(userdp_starts),
      "userdp children (ovs-vswitchd's conntrack table) started." },
    { "userdp_crashes", V(userdp_crashes),
      "userdp children that died by a signal or exited non-zero." },
    { "userdp_hangs", V(userdp_hangs), "userdp children killed for making no progress." },
    { "watcher_restarts", V(watcher_restarts), "OVSDB watcher processes restarted." },
    { "ovsdb_reconnects", V(ovsdb_reconnects), "Reconnections to OVSDB." },
    { "control_requests", V(control_requests), "Control socket requests." },
    { "control_errors", V(control_errors), "Control socket requests that were refused." },
    { "state_writes", V(state_writes), "State file writes that succeeded." },
    { "state_write_failures", V(state_write_failures), "State file writes that failed." },
};

#undef V

char *
metrics_format(const struct metrics_view *v)
{
    struct metrics_buf b = { .cap = 4096 };
    char num[64], name[96];

    b.s = malloc(b.cap);
    if (!b.s) {
        return NULL;
    }
    b.s[0] = '\0';

    /* Gauges. */
    metrics_u64(&b, "ctflushd_up", "gauge", "1 while ctflushd is running.", 1);
    metrics_family(&b, "ctflushd_uptime_seconds", "gauge", "Seconds since ctflushd started.");
    metrics_printf(&b, "ctflushd_uptime_seconds %s\n",
                   metrics_fmt_double(v->uptime_seconds, num, sizeof num));
    metrics_u64(&b, "ctflushd_ports", "gauge", "VM ports in the port table.", v->ports);
    metrics_u64(&b, "ctflushd_queue_jobs", "gauge", "Flush jobs queued (not running).",
                v->queue_jobs);
    metrics_u64(&b, "ctflushd_queue_prefixes", "gauge",
                "Address prefixes over all queued jobs.", v->queue_prefixes);
    metrics_u64(&b, "ctflushd_job_running", "gauge", "1 while a job runs.", v->running);
    metrics_u64(&b, "ctflushd_userdp_job_running", "gauge",
                "1 while a job for ovs-vswitchd's table (netdev bridges) runs.",
                v->userdp_running);
    metrics_u64(&b, "ctflushd_paused", "gauge", "1 while dispatching is paused.", v->paused);
    metrics_u64(&b, "ctflushd_ovsdb_connected", "gauge",
                "1 while the OVSDB watcher is connected.", v->ovsdb_connected);
    metrics_u64(&b, "ctflushd_state_ok", "gauge", "1 if the last state file write succeeded.",
                v->state_ok);
    metrics_u64(&b, "ctflushd_control_clients", "gauge", "Connected control clients.",
                v->control_clients);

    /* Counters. */
    for (size_t i = 0; i < sizeof metrics_counters / sizeof *metrics_counters; i++) {
        const struct metrics_counter *c = &metrics_counters[i];
        uint64_t value;

        memcpy(&value, (const char *) v + c->off, sizeof value);
        snprintf(name, sizeof name, "ctflushd_%s_total", c->name);
        metrics_u64(&b, name, "counter", c->help, value);
    }

    /* The histogram: buckets are exposed cumulative, ours are kept per
     * bucket so that observe is one increment. */
    const struct metrics_hist *h = v->job_duration;
    struct metrics_hist empty;
    if (!h) {
        metrics_hist_init(&empty);
        h = &empty;
    }
    metrics_family(&b, "ctflushd_job_duration_seconds", "histogram",
                   "Duration of job runs, in seconds.");
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        metrics_printf(&b, "ctflushd_job_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
                       metrics_fmt_double(metrics_bounds[i], num, sizeof num), cum);
    }
    /* +Inf and _count are both derived from the buckets, so the exposition
     * stays consistent (monotonic, +Inf == _count) even for a histogram a
     * caller filled by hand. observe keeps count equal to this total. */
    cum += h->inf;
    metrics_printf(&b, "ctflushd_job_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                   cum);
    metrics_printf(&b, "ctflushd_job_duration_seconds_sum %s\n",
                   metrics_fmt_double(h->sum, num, sizeof num));
    metrics_printf(&b, "ctflushd_job_duration_seconds_count %" PRIu64 "\n", cum);

    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
