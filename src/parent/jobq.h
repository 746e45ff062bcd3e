/*
 * jobq.h: the parent's job queue and job history. Every flush ctflushd owes
 * is a qjob here until it is done, failed for good, or cancelled: the worker
 * only ever holds a copy. Jobs are dispatched by priority (port-add stale
 * flushes first: they race the new VM's first packets; then manual; then
 * removals), FIFO within a priority, skipping jobs waiting out a retry
 * backoff.
 *
 * Merging: a new job equal to a queued one (same sets, zone, mark and
 * selectors) is merged into it; a port-removal job with peers = any is merged
 * into a queued port-removal job of the same zone while the union stays
 * within max_local.
 *
 * Groups: the jobs dispatched together (jobq_pick_group) for the worker to
 * run in one pass where that is cheaper. Each keeps its own state, attempts,
 * progress and history entry; a job being retried is never grouped, so one
 * that keeps failing cannot cost the others their attempts.
 *
 * Limits: at most max_jobs queued jobs and max_prefixes prefixes over all of
 * them. A manual job over a limit is refused with ENOSPC; port-driven jobs
 * are never refused (a removal is a debt) but merged into the newest queued
 * job of their kind and zone, which bounds memory by the number of ports.
 *
 * Owns: its qjobs, their flush_jobs and port name lists.
 */
#ifndef CTF_JOBQ_H
#define CTF_JOBQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobrun.h"
#include "job.h"

enum job_origin {
    JOB_ORIGIN_PORT_REMOVE,     /* A port left OVSDB (VM deleted or migrated). */
    JOB_ORIGIN_PORT_ADD,        /* A new port or new IPs: stale entries. */
    JOB_ORIGIN_MANUAL,          /* ctflushctl flush / the control API. */
};

enum job_state {
    JOB_QUEUED,                 /* Waiting (maybe for not_before_ms). */
    JOB_RUNNING,                /* Handed to the worker. */
    JOB_DONE,
    JOB_FAILED,                 /* Gave up after max_attempts, or refused. */
    JOB_CANCELLED,
    JOB_HELD,                   /* Nothing to run: every address of a port-driven
                                 * flush is held by a live port (kept in the
                                 * history only, to say so). */
};

/* An address a port-driven flush left out, and why (docs/architecture.md,
 * "What is flushed when"). */
enum job_held_reason {
    JOB_HELD_LIVE_PORT,         /* Another live port holds it in that zone. */
    JOB_HELD_MOVED,             /* Removed from one port and added to another
                                 * in the same batch window (a VIP moving). */
};

#define JOBQ_HELD_PORT_LEN 256  /* Port names are at most 255 bytes. */

struct job_held {
    struct ctf_prefix addr;
    bool has_zone;              /* The zone the flush was for. */
    uint16_t zone;
    enum job_held_reason reason;
    char port[JOBQ_HELD_PORT_LEN];  /* The live holder (LIVE_PORT) or the
                                     * port it was removed from (MOVED). */
};

#define JOBQ_ERROR_LEN 192
#define JOBQ_MAX_PORT_NAMES 64  /* Names kept per job for display; n_ports counts all. */
#define JOBQ_MAX_HELD 32        /* Held addresses kept per job; n_held_total counts all. */

struct qjob {
    uint64_t id;                /* Unique, increasing; survives restarts. */
    enum job_origin origin;
    enum job_state state;
    struct flush_job job;
    char **ports;               /* Up to JOBQ_MAX_PORT_NAMES names. */
    size_t n_port_names;
    size_t n_ports;             /* Ports covered, counting merged ones. */
    unsigned int attempts;      /* Runs started (failed ones included). */
    uint64_t not_before_ms;     /* Monotonic; 0: ready now. */
    double created;             /* Wall clock (time(2) as double) for display. */
    double started;             /* Of the last attempt; 0 if never. */
    double finished;            /* 0 while not finished. */
    struct engine_stats stats;  /* Last progress, or the final result. */
    char strategy[48];          /* engine_strategies_name of the last run. */
    char error[JOBQ_ERROR_LEN]; /* Last failure reason; "" if none. */
    struct job_held *held;      /* Up to JOBQ_MAX_HELD addresses held back. */
    size_t n_held;
    size_t n_held_total;        /* Counting the ones not kept. */
    struct qjob *next;          /* List link (queue order or history order). */
};

struct jobq_limits {
    size_t max_jobs;            /* Queued jobs (default 4096). */
    size_t max_prefixes;        /* Prefixes over all queued jobs (default 1M). */
    size_t max_local;           /* Merge/chunk bound on a job's local set (default 1024). */
    size_t max_peers;           /* Chunk bound on a job's peer set (default 1024). */
    size_t history;             /* Finished jobs kept (default 100). */
    unsigned int max_attempts;  /* Runs before a job fails for good (default 5). */
    unsigned int backoff_base_ms;   /* Retry n waits base * 2^(n-1) (default 1000), */
    unsigned int backoff_max_ms;    /* capped (default 60000). */
};

struct jobq_counters {
    uint64_t done;
    uint64_t failed;
    uint64_t cancelled;
    uint64_t retries;           /* Attempts after the first. */
    uint64_t merged;            /* Jobs merged into queued ones. */
    uint64_t entries_deleted;
    uint64_t entries_scanned;
};

struct jobq {
    struct jobq_limits limits;
    struct qjob *queue;         /* Queued jobs, in arrival order. */
    struct qjob *running;       /* Handed to the worker, in the order they
                                 * were started (one group at a time). */
    size_t n_running;
    struct qjob *history;       /* Finished, newest first. */
    size_t n_queued;
    size_t n_prefixes;          /* Over queued jobs. */
    size_t n_history;
    uint64_t next_id;
    struct jobq_counters counters;
};

void jobq_limits_default(struct jobq_limits *);
void jobq_init(struct jobq *, const struct jobq_limits *);
void jobq_destroy(struct jobq *);

/* Queues a job (deep-copied; split into chunks of max_local x max_peers, each
 * its own qjob). ports/n_ports name the ports behind it (may be 0). On
 * success *first_id is the id of the first chunk (or of the job it merged
 * into, with *merged true). Returns 0, EINVAL (flush_job_validate failed; the
 * reason in errbuf), ENOSPC (queue full; manual only) or ENOMEM. */
int jobq_add(struct jobq *, enum job_origin, const struct flush_job *,
             const char *const *ports, size_t n_ports, double now_wall,
             uint64_t *first_id, bool *merged, char *errbuf, size_t errlen);

/* Records on job id (queued, running or finished) addresses that its
 * flush left out. Returns 0, ENOENT or ENOMEM. */
int jobq_note_held(struct jobq *, uint64_t id, const struct job_held *, size_t n);
/* A port-driven flush left nothing to run: keeps a JOB_HELD entry in the
 * history saying what was held and why; *id is its id. Returns 0 or
 * ENOMEM. */
int jobq_record_held(struct jobq *, enum job_origin, bool has_zone, uint16_t zone,
                     const char *const *ports, size_t n_ports, const struct job_held *,
                     size_t n, double now_wall, uint64_t *id);

/* The next job to run at now_ms, of any datapath, or NULL (also while any
 * job runs). Does not change it. */
struct qjob *jobq_peek(struct jobq *, uint64_t now_ms);
/* Whether a job of that table is running (each table has its own child:
 * the worker for the kernel's, the userdp child for ovs-vswitchd's). */
bool jobq_datapath_running(const struct jobq *, enum flush_datapath);

/* Bounds of one group. */
#define JOBQ_GROUP_MAX_JOBS 64                  /* The worker's bound (wire.h). */
#define JOBQ_GROUP_MAX_PREFIXES (64u * 1024)    /* Prefixes over its jobs. */

/* The jobs of datapath dp to dispatch together at now_ms (none while a job
 * of dp runs; the other table's jobs do not stop them): the first in
 * jobq_peek's order, then (when share is true) other ready jobs of dp in
 * the same order of priority, up to max jobs and JOBQ_GROUP_MAX_PREFIXES
 * prefixes; a job being retried (attempts > 0) goes alone, and none joins
 * it. Returns how many were written to out (0: nothing to run). Changes
 * nothing. */
size_t jobq_pick_group(struct jobq *, uint64_t now_ms, enum flush_datapath dp, bool share,
                       struct qjob **out, size_t max);
/* When the earliest backed-off job becomes ready (0: none waiting). */
uint64_t jobq_next_ready_ms(const struct jobq *);

/* Moves a queued job to running (after those already running); counts the
 * attempt. */
void jobq_start(struct jobq *, struct qjob *, double now_wall);
/* Live progress of the running job (ignored if id is not running). */
void jobq_progress(struct jobq *, uint64_t id, const struct engine_stats *);
/* The running job ended. err == 0: done (to history). Otherwise retried with
 * backoff from now_ms, or failed for good after max_attempts (to history)
 * when retryable, else failed at once. Returns the job's new state. */
enum job_state jobq_finish(struct jobq *, uint64_t id, int err, bool retryable,
                           const char *reason, const char *strategy,
                           const struct engine_stats *, uint64_t now_ms, double now_wall);
/* Every running job goes back to the head of the queue, in order, without
 * counting the attempt (pause --now, worker restarted by us). */
void jobq_requeue_running(struct jobq *);
/* The same for the running jobs of one datapath only (its child was
 * stopped; the other child's jobs go on). */
void jobq_requeue_running_datapath(struct jobq *, enum flush_datapath);
/* Cancels a queued job (to history as cancelled): 0, ENOENT, or EBUSY if it
 * is running (then the caller calls jobq_cancel_running and tells the
 * worker to stop it). */
int jobq_cancel(struct jobq *, uint64_t id, double now_wall);
/* Moves running job id to the history as cancelled (no-op if it is not
 * running). */
void jobq_cancel_running(struct jobq *, uint64_t id, double now_wall);

/* Lookup in queue, running and history. */
const struct qjob *jobq_find(const struct jobq *, uint64_t id);

/* Restores a queued job from the state file with its id and attempts. Keeps
 * next_id above every restored id. Returns 0, EEXIST, EINVAL or ENOMEM. */
int jobq_restore(struct jobq *, uint64_t id, enum job_origin, const struct flush_job *,
                 const char *const *ports, size_t n_ports, size_t n_ports_total,
                 unsigned int attempts, double created);

const char *job_origin_name(enum job_origin);   /* "port-remove", "port-add", "manual" */
int job_origin_parse(const char *, enum job_origin *);
const char *job_state_name(enum job_state);     /* "queued", "running", ... */
const char *job_held_reason_name(enum job_held_reason);     /* "live-port", "moved" */

#endif
