/*
 * engine.h: runs flush jobs against the conntrack table of the current
 * network namespace. This, with ctsock/ctmsg below it, is the only code that
 * deletes conntrack entries; in the daemon it runs in the forked worker.
 *
 * One job at a time (engine_run), or a group of jobs in one run
 * (engine_run_jobs): where the cost model finds one dump cheaper than the
 * jobs' own plans added up, the jobs share it, each keeping its own
 * counters and result; the others (and every job of a group that may not
 * share: a forced strategy, a delete-rate cap) run one after another.
 *
 * Owns: its netlink sockets and dump threads for the duration of a run.
 */
#ifndef CTF_ENGINE_H
#define CTF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "jobrun.h"
#include "planner.h"

/* The most jobs one run takes (one bit each in the match index). */
#define ENGINE_MAX_JOBS 64

/* One job of a run. The caller fills id and job; the engine the rest. */
struct engine_job {
    uint64_t id;                /* The caller's; handed back to the hooks. */
    const struct flush_job *job;
    struct engine_stats stats;
    int err;                    /* 0, or why this job failed (final). */
    char errbuf[256];           /* The reason, when err. */
    bool finished;              /* Its result is final; done() was called. */
    bool cancel;                /* Set (from the poll hook) to stop the job:
                                 * it ends with ECANCELED, the others go on. */
};

typedef void engine_progress_fn(uint64_t id, const struct engine_stats *, void *aux);

struct engine_opts {
    enum ct_strategy force;     /* AUTO: let the planner choose. */
    const struct ct_caps *caps; /* What the probe proved. */
    size_t max_local;           /* Chunking: local prefixes per sub-job (0: all). */
    size_t max_peers;           /* Chunking: peer prefixes per sub-job (0: all). */
    size_t batch_bytes;         /* Bytes of delete requests per sendmsg (0: default). */
    uint64_t max_delete_rate;   /* Deletes per second, 0 = unlimited. Under a
                                 * cap auto picks only strategies whose
                                 * deletes we send (kernel flushes cannot be
                                 * paced), and dumps run on one thread. */
    unsigned int dump_threads;  /* Threads a job's dumps may use, up to
                                 * ENGINE_MAX_DUMP_THREADS (0: what the probe
                                 * found, caps->dump_threads). */
    engine_progress_fn *progress;   /* Each unfinished job, every interval. */
    void *progress_aux;
    unsigned int progress_interval_ms;
    /* Called on the engine's thread every progress interval (whether or
     * not progress is set): the caller's chance to set jobs' cancel flags. */
    void (*poll)(void *aux);
    /* A job's result is final (in the order jobs finish). */
    void (*done)(const struct engine_job *, void *aux);
    void *hook_aux;             /* For poll and done. */
};

void engine_opts_init(struct engine_opts *);

/* Runs one job. Returns 0 (stats filled; stats->errors may still be > 0) or
 * a positive errno with a reason in errbuf. */
int engine_run(const struct flush_job *, const struct engine_opts *,
               struct engine_stats *, char *errbuf, size_t errlen);

/* Runs jobs[0..n) (n <= ENGINE_MAX_JOBS), in that order of preference.
 * Every job ends finished, with its own err and stats, and done() called
 * for it. Returns the number of jobs that failed. */
size_t engine_run_jobs(struct engine_job *jobs, size_t n, const struct engine_opts *);

/* nf_conntrack_count of the current namespace, or 0 if unreadable. */
uint64_t engine_table_count(void);

#endif
