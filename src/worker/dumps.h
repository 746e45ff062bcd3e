/*
 * dumps.h: the dump-type strategies (dump, filtered-dump) of one pass: a
 * pool of threads that dump the table, match every entry against the
 * pass's jobs and delete what matched in bulk. A pass serves one job (a
 * chunk of it, or one family's part), or several jobs at once (a group,
 * match.h's match_group): one dump for all of them, each job keeping its
 * own counters. Only the engine (engine.c) calls it; the engine keeps the
 * run's progress reports, delete-rate cap and cancellations, which the pool
 * reaches through hooks and the active mask.
 *
 * Owns: its dump threads, their netlink sockets and the match index, for
 * the duration of one dumps_run.
 */
#ifndef CTF_DUMPS_H
#define CTF_DUMPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "engine.h"
#include "job.h"
#include "planner.h"

/* Called on the engine's thread only: progress after the members' stats
 * were updated (force: report now, not at the next interval), and once per
 * delete while a rate cap applies (it may sleep). */
struct dumps_hooks {
    void (*progress)(void *aux, bool force);
    void (*rate_limit)(void *aux);
    void *aux;
};

/* One job of a pass, and the counters the pass adds to. */
struct dumps_member {
    const struct flush_job *job;
    struct engine_stats *stats;
};

/* Filtered dumps of a lone member: side[f] (f = 0 IPv4, 1 IPv6) is the
 * list whose addresses family f is dumped with a kernel filter on, or NULL
 * for one whole-family dump; on_peers[f] says whether it is the job's peer
 * side (its filters then sit at the other end of each way). */
struct dumps_filtered {
    const struct ctf_prefix_list *side[2];
    bool on_peers[2];
};

/* Runs one pass for members[0..n) (n <= MATCH_GROUP_MAX). fd (a lone
 * member only; NULL: none) says which families go to filtered dumps; the
 * rest is the plain dump path (one dump for the members' families). *active (may be NULL: all) has bit i while member i is still
 * wanted: the engine clears a bit to cancel a member, which then stops
 * matching, and the pass stops when no member is left. Returns 0 or a
 * positive errno with a reason in errbuf (ECANCELED when every member was
 * cancelled). */
int dumps_run(const struct dumps_member *members, size_t n, const uint64_t *active,
              const struct dumps_filtered *fd, const struct ct_caps *,
              size_t batch_bytes, const struct dumps_hooks *, char *errbuf, size_t errlen);

#endif
