/*
 * metrics.h: ctflushd's counters and gauges in the Prometheus text
 * exposition format (version 0.0.4), for `ctflushctl metrics` and
 * node_exporter's textfile collector. Every name starts with ctflushd_.
 *
 * Owns: the job duration histogram; the rest is a view filled by the caller.
 */
#ifndef CTF_METRICS_H
#define CTF_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_HIST_BUCKETS 12

/* Job durations in seconds; buckets 0.01 .. 600 and +Inf. */
struct metrics_hist {
    uint64_t counts[METRICS_HIST_BUCKETS];  /* Non-cumulative, per bucket. */
    uint64_t inf;                           /* Above the last bound. */
    uint64_t count;
    double sum;
};

void metrics_hist_init(struct metrics_hist *);
void metrics_hist_observe(struct metrics_hist *, double seconds);
/* Upper bound of bucket i (i < METRICS_HIST_BUCKETS). */
double metrics_hist_bound(size_t i);

/* A snapshot of everything exported, filled by the parent. */
struct metrics_view {
    double uptime_seconds;
    /* Gauges. */
    uint64_t ports;
    uint64_t queue_jobs;
    uint64_t queue_prefixes;
    bool running;
    bool userdp_running;            /* A job for ovs-vswitchd's table runs. */
    bool paused;
    bool ovsdb_connected;
    bool state_ok;                  /* The last state write succeeded. */
    uint64_t control_clients;
    /* Counters. */
    uint64_t jobs_done;
    uint64_t jobs_failed;
    uint64_t jobs_cancelled;
    uint64_t job_retries;
    uint64_t jobs_merged;
    uint64_t entries_deleted;
    uint64_t entries_scanned;
    uint64_t port_removals;         /* Ports seen leaving OVSDB. */
    uint64_t port_adds;
    uint64_t replugs_cancelled;
    uint64_t addresses_held_back;   /* Left out of port-driven flushes: a
                                     * live port holds them. */
    uint64_t worker_starts;
    uint64_t worker_crashes;        /* Died by a signal or exited non-zero. */
    uint64_t worker_hangs;          /* Killed for making no progress. */
    uint64_t userdp_starts;         /* The same for the userdp child. */
    uint64_t userdp_crashes;
    uint64_t userdp_hangs;
    uint64_t watcher_restarts;
    uint64_t ovsdb_reconnects;
    uint64_t control_requests;
    uint64_t control_errors;
    uint64_t state_writes;
    uint64_t state_write_failures;
    const struct metrics_hist *job_duration;
};

/* The whole exposition as a malloc'd NUL-terminated string (HELP and TYPE
 * lines included), or NULL on allocation failure. */
char *metrics_format(const struct metrics_view *);

#endif
