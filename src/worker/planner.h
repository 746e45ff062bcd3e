/*
 * planner.h: picks the cheapest proven strategy for a job.
 *
 * Strategies:
 *  - DUMP: one dump per family (kernel-filtered by zone where proven), every
 *    entry matched in userspace against hash sets, deletes sent in bulk. Works
 *    on every kernel, handles CIDRs and any set size.
 *  - FILTERED_FLUSH: one kernel walk per (address, direction, end) with
 *    CTA_FILTER (6.12+). Exact addresses only; worth it only when the number
 *    of walks is small.
 *  - ZONE_FLUSH: one kernel walk deleting everything in a zone (6.8+), for
 *    "everything in zone Z" jobs.
 *  - FILTERED_DUMP: one kernel-filtered dump per (address, direction, end)
 *    of the job's smaller exact side (5.8+), whatever comes back matched in
 *    userspace and deleted in bulk like the dump path's. Each dump walks the
 *    table but sends back only that address's entries, and dumps (unlike
 *    flush walks) run side by side on several CPUs.
 * The cost model compares table_count * per-entry cost (calibrated by the
 * probe) times the number of walks each strategy needs; a dump is costed as
 * the engine will run it, on one thread or received on a helper thread.
 *
 * Selectors (job.h): a kernel filter has one tuple and one end per walk, so
 * a direction or "orig only" means fewer walks (one per way the job reads,
 * instead of four). A protocol, and a destination port that is one port of
 * TCP or UDP, ride on the filter where the probe proved the kernel honours
 * them for that family: a filtered flush must carry them (it deletes what
 * the kernel selects), a dump may (it is matched in userspace anyway).
 *
 * Owns: nothing; pure functions.
 */
#ifndef CTF_PLANNER_H
#define CTF_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "jobrun.h"

/* What the running kernel was proven to do, and what it costs. */
struct ct_caps {
    bool probed;                /* The probe ran to completion. */
    bool zone_flush;            /* Top-level CTA_ZONE flush deletes one zone only. */
    bool zone_flush_default;    /* ... also for zone 0. */
    bool filtered_flush;        /* CTA_FILTER flush on orig and reply src/dst (IPv4). */
    bool filtered_flush_v6;     /* ... also for IPv6 (6.18 deletes NON-matching v6
                                 * entries: this is proven, never assumed). */
    bool filtered_flush_zone;   /* ... restricted to a zone other than 0. */
    bool filtered_flush_zone_default;   /* ... restricted to zone 0. */
    bool dump_zone_filter;      /* Dump with CTA_ZONE returns one zone only. */
    bool filtered_dump;         /* CTA_FILTER dump on orig and reply src/dst
                                 * returns exactly those entries (IPv4). */
    bool filtered_dump_v6;      /* ... also for IPv6 (6.18 returns the NON-
                                 * matching v6 entries, as its flush deletes
                                 * them). */
    bool filtered_flush_proto;  /* A filtered flush also filtered on the
                                 * protocol, alone or with a TCP/UDP
                                 * destination port, deletes exactly those
                                 * entries (IPv4). */
    bool filtered_flush_proto_v6;   /* ... IPv6. */
    bool filtered_dump_proto;   /* The same for a filtered dump (IPv4). */
    bool filtered_dump_proto_v6;
    bool dump_proto_filter;     /* A whole-family dump filtered on the
                                 * protocol (and port) alone returns exactly
                                 * those entries (IPv4). */
    bool dump_proto_filter_v6;
    unsigned int dump_threads;  /* Dumps run at once (online CPUs, capped). */
    /* Costs: a walk over the kernel's hash table has a fixed part (every
     * bucket is visited, even empty ones and other namespaces' entries) and
     * a part per entry of ours. */
    double dump_fixed_ms;       /* One dump of an empty table, on one thread. */
    double dump_ns_per_entry;   /* Dump + parse + match, per table entry. */
    double dump_piped_ratio;    /* A lone dump received on a helper thread
                                 * (ctpipe.h, as the engine runs it when
                                 * dump_threads >= 2) takes this share of
                                 * the one-thread time; 1 if unmeasured. */
    double walk_fixed_ms;       /* One filtered kernel walk of an empty table. */
    double walk_ns_per_entry;   /* One filtered kernel walk, per table entry. */
    double fdump_fixed_ms;      /* One filtered dump that returns nothing. */
    double fdump_ns_per_entry;
    char note[128];             /* Why something is unproven, for status. */
};

/* Nothing proven: the dump path only, default costs. */
void ct_caps_init_unproven(struct ct_caps *, const char *why);

struct ct_plan {
    enum ct_strategy strategy;
    unsigned int walks;         /* Kernel walks the strategy needs. */
    double est_ms;              /* Estimated cost. */
    char reason[160];
};

/* Number of filtered-flush walks a job needs (one per way it reads, per
 * local address, or per same-family address pair), or 0 if it cannot be
 * expressed as filtered flushes (CIDRs, any on the local side, a mark, a
 * port range, ...). Only addresses of the job's families count. */
unsigned int planner_filtered_walks(const struct flush_job *);

/* Number of filtered dumps a job needs (one per way it reads, per address
 * of its side with fewer exact addresses, counting only addresses of a
 * family the job admits and the other side has), or 0 if neither side is a
 * list of exact addresses. *on_peers says which side they filter on. */
unsigned int planner_filtered_dumps(const struct flush_job *, bool *on_peers);

/* The ways (match.h, a bit each) a side's filters sit at: for the local
 * side the job's ways themselves, for the peer side the other end of each
 * (a way's tuple with its source and destination swapped). A filter for
 * way w of the local side is on the reply tuple if w >> 1, on the source if
 * !(w & 1). */
unsigned int planner_side_positions(const struct flush_job *, bool on_peers);

/* Which kernel filter a job's protocol and port go into. */
enum planner_filter {
    PLANNER_FILTERED_FLUSH,         /* Address filter of a flush. */
    PLANNER_FILTERED_DUMP,          /* Address filter of a dump. */
    PLANNER_WHOLE_DUMP,             /* A whole-family dump, no address. */
};

/* The protocol and port of the job that a kernel filter of this kind and
 * family may carry (*proto 0: none), as proven in caps. Returns true when
 * the filter then selects exactly by the job's protocol and port (always,
 * for a job without them); false when it cannot (unproven, or a port range,
 * or a port of another protocol than TCP or UDP): a flush must not run
 * then, a dump carries what was filled in and matches the rest itself. */
bool planner_proto_filter(const struct flush_job *, const struct ct_caps *, int family,
                          enum planner_filter, uint8_t *proto, bool *has_dport, uint16_t *dport);

/* What running the job alone would cost, as planner_choose would plan each
 * of its families (whole-family dumps of both are one dump, as the engine
 * runs them). Returns the estimate in ms; *zone_flush says the job is a
 * whole zone the kernel flushes in one walk (cheaper than any dump we would
 * share with it: we would send every one of its deletes). */
double planner_job_cost(const struct flush_job *, const struct ct_caps *, uint64_t table_count,
                        bool *zone_flush);

/* What one dump shared by several jobs costs. */
double planner_dump_cost(const struct ct_caps *, uint64_t table_count);

/* Chooses a strategy for the job. With force != AUTO, checks the forced
 * strategy is both proven and able to express the job, else EINVAL/ENOTSUP
 * with the reason in plan->reason. Returns 0 or a positive errno. */
int planner_choose(const struct flush_job *, const struct ct_caps *,
                   uint64_t table_count, enum ct_strategy force, struct ct_plan *);

#endif
