/*
 * dumps.h: the dump-type strategies (dump, filtered-dump) of one chunk of a
 * job: a pool of threads that dump the table, match every entry against the
 * job and delete what matched in bulk. Only the engine (engine.c) calls it;
 * the engine keeps the run's progress reports and delete-rate cap, which
 * the pool reaches through hooks.
 *
 * Owns: its dump threads, their netlink sockets and the match sets, for the
 * duration of one dumps_run.
 */
#ifndef CTF_DUMPS_H
#define CTF_DUMPS_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "engine.h"
#include "job.h"
#include "planner.h"

/* Called on the engine's thread only: progress after the stats were
 * updated (force: report now, not at the next interval), and once per
 * delete while a rate cap applies (it may sleep). */
struct dumps_hooks {
    void (*progress)(void *aux, bool force);
    void (*rate_limit)(void *aux);
    void *aux;
};

/* Runs the job's dumps. fside[f] (f = 0 IPv4, 1 IPv6) is the list whose
 * addresses family f is dumped with a kernel filter on, or NULL for one
 * whole-family dump; NULL for both is the plain dump path (one dump for the
 * job's families). The threads' counters are added to *stats. Returns 0 or
 * a positive errno with a reason in errbuf. */
int dumps_run(const struct flush_job *, const struct ctf_prefix_list *const fside[2],
              const struct ct_caps *, size_t batch_bytes, struct engine_stats *,
              const struct dumps_hooks *, char *errbuf, size_t errlen);

#endif
