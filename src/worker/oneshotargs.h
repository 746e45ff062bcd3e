/*
 * oneshotargs.h: `ctflushd --oneshot`'s command line, turned into a flush job
 * and engine options. Parsed one way with the daemon's (cliopt.h), its
 * numbers, zone and mark by the rules every entry point shares (num.h,
 * job.h); pure apart from reading @FILE lists, so it is unit-tested without
 * root.
 *
 * Owns: the job in struct oneshot_args (its lists).
 */
#ifndef CTF_ONESHOTARGS_H
#define CTF_ONESHOTARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "engine.h"
#include "job.h"

struct oneshot_args {
    struct flush_job job;       /* --local, --peers (default any), --zone, --mark. */
    struct engine_opts opts;    /* --strategy, --max-local, --max-peers,
                                 * --batch-bytes, --rate, --dump-threads. */
    bool probe;                 /* Not --no-probe. */
    bool reprobe;               /* --reprobe: prove again, whatever the cache says. */
    const char *probe_cache;    /* --probe-cache FILE (NULL: none); points into
                                 * argv or at PROBE_CACHE_DEFAULT. */
    bool json;                  /* --json. */
    bool verbose;               /* --verbose. */
    bool help;                  /* --help: print oneshot_usage, run nothing. */
};

void oneshot_args_init(struct oneshot_args *);
void oneshot_args_destroy(struct oneshot_args *);      /* Accepts NULL. */

/* Parses argv as ctflushd received it ("--oneshot" may stand anywhere among
 * the options). Returns 0, or EINVAL (or the errno of an unreadable @FILE)
 * with one line in err. With --help, returns 0 at once. */
int oneshot_args_parse(struct oneshot_args *, int argc, char *argv[], char *err,
                       size_t errlen);

void oneshot_usage(FILE *);

#endif
