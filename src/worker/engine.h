/*
 * engine.h: runs one flush job against the conntrack table of the current
 * network namespace. This, with ctsock/ctmsg below it, is the only code that
 * deletes conntrack entries; in the daemon it runs in the forked worker.
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

typedef void engine_progress_fn(const struct engine_stats *, void *aux);

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
    engine_progress_fn *progress;
    void *progress_aux;
    unsigned int progress_interval_ms;
};

void engine_opts_init(struct engine_opts *);

/* Runs the job. Returns 0 (stats filled; stats->errors may still be > 0) or
 * a positive errno with a reason in errbuf. */
int engine_run(const struct flush_job *, const struct engine_opts *,
               struct engine_stats *, char *errbuf, size_t errlen);

/* nf_conntrack_count of the current namespace, or 0 if unreadable. */
uint64_t engine_table_count(void);

#endif
