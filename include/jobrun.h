/*
 * jobrun.h: a job's run as the parent and the workers both see it: the
 * strategies a worker may use, the counters a run reports (they cross the
 * wire in PROGRESS and DONE, and the parent keeps them in the job history),
 * and the bound on a run's dump threads that the config, the command line
 * and the wire reader all check.
 *
 * Owns: nothing; names and types.
 */
#ifndef CTF_JOBRUN_H
#define CTF_JOBRUN_H

#include <stddef.h>
#include <stdint.h>

enum ct_strategy {
    CT_STRATEGY_AUTO = 0,
    CT_STRATEGY_DUMP,
    CT_STRATEGY_FILTERED_FLUSH,
    CT_STRATEGY_ZONE_FLUSH,
    CT_STRATEGY_FILTERED_DUMP,
    CT_STRATEGY_COUNT           /* Not a strategy: how many there are. */
};

const char *ct_strategy_name(enum ct_strategy);
/* "auto", "dump", "filtered-flush", "zone-flush", "filtered-dump".
 * Returns 0 or EINVAL. */
int ct_strategy_parse(const char *, enum ct_strategy *);

struct engine_stats {
    enum ct_strategy strategy;  /* The last one used. */
    unsigned int strategies_used;   /* Bit (1 << strategy) for each one used. */
    uint64_t table_before;      /* nf_conntrack_count when the job started. */
    uint64_t scanned;           /* Entries looked at (walks count each pass). */
    uint64_t matched;           /* Entries that matched the job. */
    uint64_t deleted;           /* Entries the kernel deleted for us. */
    uint64_t already_gone;      /* ENOENT on delete: gone before we got there. */
    uint64_t errors;            /* Deletes that failed for another reason. */
    unsigned int chunks;        /* Sub-jobs run. */
    unsigned int passes;        /* Dumps or kernel walks made. */
    unsigned int dump_restarts; /* Dumps restarted after ENOBUFS. */
    unsigned int shared;        /* Jobs its passes served, itself included
                                 * (most of any one pass); 1 or 0: alone. */
    double elapsed_ms;
};

/* The most threads an operator may give a job's dumps (dump-threads). */
#define ENGINE_MAX_DUMP_THREADS 64

/* "dump", or "filtered-flush+dump" when a job's families went different
 * ways. */
const char *engine_strategies_name(const struct engine_stats *, char *buf, size_t len);

#endif
