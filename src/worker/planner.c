/*
 * planner.c: the cost model that picks a strategy per job.
 */
#include "planner.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "match.h"

/* Costs used until the probe has measured this machine: a dump + match is
 * cheaper per entry than a filtered kernel walk (which deletes under the
 * table's locks), measured on a 200k table on a 2-core VM. */
#define DEFAULT_DUMP_NS_PER_ENTRY 400.0
#define DEFAULT_WALK_NS_PER_ENTRY 500.0
#define DEFAULT_DUMP_FIXED_MS 5.0
#define DEFAULT_WALK_FIXED_MS 5.0
/* Dumps side by side: more than this buys little but lock contention and
 * takes CPUs from the hypervisor's real work. */
#define MAX_DUMP_THREADS 4

/* Four walks per exact address pair: source and destination of the original
 * tuple, source and destination of the reply tuple. More than this many walks
 * are never worth considering, whatever the model says. */
#define MAX_FILTERED_WALKS 4096

void
ct_caps_init_unproven(struct ct_caps *caps, const char *why)
{
    memset(caps, 0, sizeof *caps);
    caps->dump_ns_per_entry = DEFAULT_DUMP_NS_PER_ENTRY;
    caps->walk_ns_per_entry = DEFAULT_WALK_NS_PER_ENTRY;
    caps->dump_fixed_ms = DEFAULT_DUMP_FIXED_MS;
    caps->dump_piped_ratio = 1;
    caps->walk_fixed_ms = DEFAULT_WALK_FIXED_MS;
    caps->fdump_ns_per_entry = DEFAULT_WALK_NS_PER_ENTRY;
    caps->fdump_fixed_ms = DEFAULT_WALK_FIXED_MS;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    caps->dump_threads = cpus < 1 ? 1 : cpus > MAX_DUMP_THREADS ? MAX_DUMP_THREADS
                                                                : (unsigned int) cpus;
    snprintf(caps->note, sizeof caps->note, "%s", why ? why : "");
}

/* Every prefix of the list that the job's family admits is a host. */
static bool
all_hosts(const struct flush_job *job, const struct ctf_prefix_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (flush_job_family_ok(job, l->items[i].family) && !ctf_prefix_is_host(&l->items[i])) {
            return false;
        }
    }
    return true;
}

static unsigned int
n_ways(const struct flush_job *job)
{
    return (unsigned int) __builtin_popcount(match_job_ways(job));
}

/* A port a kernel filter can carry: one port, of TCP or UDP. */
static bool
kernel_port_ok(const struct flush_job *job)
{
    return !job->has_dport
           || (job->dport_lo == job->dport_hi
               && (job->proto == IPPROTO_TCP || job->proto == IPPROTO_UDP));
}

unsigned int
planner_filtered_walks(const struct flush_job *job)
{
    uint64_t walks;

    if (job->local_any || job->has_mark || !all_hosts(job, &job->local) || !kernel_port_ok(job)) {
        return 0;
    }
    if (job->peers_any) {
        uint64_t n = 0;
        for (size_t i = 0; i < job->local.n; i++) {
            n += flush_job_family_ok(job, job->local.items[i].family);
        }
        walks = n_ways(job) * n;
    } else {
        if (!all_hosts(job, &job->peers)) {
            return 0;
        }
        /* Pairs of different families can never match: skip them. */
        uint64_t pairs = 0;
        for (size_t i = 0; i < job->local.n; i++) {
            int family = job->local.items[i].family;
            if (!flush_job_family_ok(job, family)) {
                continue;
            }
            for (size_t j = 0; j < job->peers.n && pairs <= MAX_FILTERED_WALKS; j++) {
                pairs += family == job->peers.items[j].family;
            }
        }
        walks = n_ways(job) * pairs;
    }
    return walks > MAX_FILTERED_WALKS || !walks ? 0 : (unsigned int) walks;
}

/* Addresses of a side that can pair with the other side (and that the
 * job's family admits): only those are ever dumped for. */
static size_t
side_pairing(const struct flush_job *job, const struct ctf_prefix_list *side,
             const struct ctf_prefix_list *other, bool other_any, unsigned int *families)
{
    size_t n = 0;

    *families = 0;
    for (size_t i = 0; i < side->n; i++) {
        int family = side->items[i].family;
        if (flush_job_family_ok(job, family)
            && (other_any || ctf_prefix_list_has_family(other, family))) {
            n++;
            *families |= family == AF_INET6 ? 2u : 1u;
        }
    }
    return n;
}

/* The side filtered dumps filter on, and the families they dump for (bit 0
 * IPv4, bit 1 IPv6); returns the number of dumps, 0 if none can. */
static unsigned int
fdump_side(const struct flush_job *job, bool *on_peers, unsigned int *families)
{
    bool local_ok = !job->local_any && job->local.n && all_hosts(job, &job->local);
    bool peers_ok = !job->peers_any && job->peers.n && all_hosts(job, &job->peers);
    unsigned int lfam = 0, pfam = 0, ways = n_ways(job);
    size_t nl = local_ok ? side_pairing(job, &job->local, &job->peers, job->peers_any, &lfam) : 0;
    size_t np = peers_ok ? side_pairing(job, &job->peers, &job->local, job->local_any, &pfam) : 0;

    *on_peers = np && (!nl || np < nl);
    *families = *on_peers ? pfam : lfam;
    size_t n = *on_peers ? np : nl;
    return n && n * ways <= MAX_FILTERED_WALKS ? (unsigned int) (ways * n) : 0;
}

unsigned int
planner_filtered_dumps(const struct flush_job *job, bool *on_peers)
{
    unsigned int families;

    return fdump_side(job, on_peers, &families);
}

unsigned int
planner_side_positions(const struct flush_job *job, bool on_peers)
{
    unsigned int ways = match_job_ways(job), pos = 0;

    if (!on_peers) {
        return ways;
    }
    for (unsigned int w = 0; w < MATCH_WAYS; w++) {
        if (ways & (1u << w)) {
            pos |= 1u << (w ^ 1);
        }
    }
    return pos;
}

bool
planner_proto_filter(const struct flush_job *job, const struct ct_caps *caps, int family,
                     enum planner_filter kind, uint8_t *proto, bool *has_dport, uint16_t *dport)
{
    bool v6 = family == AF_INET6, proven;

    *proto = 0;
    *has_dport = false;
    *dport = 0;
    if (!job->proto) {
        return true;
    }
    switch (kind) {
    case PLANNER_FILTERED_FLUSH:
        proven = v6 ? caps->filtered_flush_proto_v6 : caps->filtered_flush_proto;
        break;
    case PLANNER_FILTERED_DUMP:
        proven = v6 ? caps->filtered_dump_proto_v6 : caps->filtered_dump_proto;
        break;
    case PLANNER_WHOLE_DUMP:
    default:
        proven = v6 ? caps->dump_proto_filter_v6 : caps->dump_proto_filter;
        break;
    }
    if (!proven) {
        return false;
    }
    *proto = job->proto;
    if (!job->has_dport) {
        return true;
    }
    if (!kernel_port_ok(job)) {
        return false;
    }
    *has_dport = true;
    *dport = job->dport_lo;
    return true;
}

/* Whether the kernel can filter-flush the job's protocol and port for every
 * family its local addresses bring. */
static bool
flush_proto_ok(const struct flush_job *job, const struct ct_caps *caps)
{
    uint8_t proto;
    bool has_dport;
    uint16_t dport;

    for (int f = 0; f < 2; f++) {
        int family = f ? AF_INET6 : AF_INET;
        if (flush_job_family_ok(job, family) && ctf_prefix_list_has_family(&job->local, family)
            && !planner_proto_filter(job, caps, family, PLANNER_FILTERED_FLUSH, &proto,
                                     &has_dport, &dport)) {
            return false;
        }
    }
    return true;
}

/* A job's whole-table dump: the engine receives it on a helper thread when
 * it may use two (dumps.c), which the probe timed both ways. */
static double
dump_cost_ms(const struct ct_caps *caps, uint64_t table_count)
{
    double ms = table_count * caps->dump_ns_per_entry / 1e6 + caps->dump_fixed_ms;

    return caps->dump_threads >= 2 ? ms * caps->dump_piped_ratio : ms;
}

/* Dumps run in rounds of dump_threads. */
static double
fdump_cost_ms(const struct ct_caps *caps, uint64_t table_count, unsigned int dumps)
{
    unsigned int threads = caps->dump_threads ? caps->dump_threads : 1;
    unsigned int rounds = (dumps + threads - 1) / threads;

    return rounds * (table_count * caps->fdump_ns_per_entry / 1e6 + caps->fdump_fixed_ms);
}

static double
walk_cost_ms(const struct ct_caps *caps, uint64_t table_count, unsigned int walks)
{
    return walks * (table_count * caps->walk_ns_per_entry / 1e6 + caps->walk_fixed_ms);
}

static int
plan_forced(struct ct_plan *plan, enum ct_strategy s, unsigned int walks, double est_ms)
{
    plan->strategy = s;
    plan->walks = walks;
    plan->est_ms = est_ms;
    snprintf(plan->reason, sizeof plan->reason, "forced");
    return 0;
}

/* Takes strategy s if it is cheaper than what the plan has. */
static bool
plan_if_cheaper(struct ct_plan *plan, enum ct_strategy s, unsigned int walks, double est_ms)
{
    if (est_ms >= plan->est_ms) {
        return false;
    }
    plan->strategy = s;
    plan->walks = walks;
    plan->est_ms = est_ms;
    return true;
}

int
planner_choose(const struct flush_job *job, const struct ct_caps *caps,
               uint64_t table_count, enum ct_strategy force, struct ct_plan *plan)
{
    bool whole_zone = flush_job_is_whole_zone(job);
    bool zone_flush_ok = whole_zone && caps->zone_flush
                         && (job->zone != 0 || caps->zone_flush_default);
    unsigned int fwalks = planner_filtered_walks(job);
    bool filtered_ok = fwalks && caps->filtered_flush
                       && (!ctf_prefix_list_has_family(&job->local, AF_INET6)
                           || !flush_job_family_ok(job, AF_INET6) || caps->filtered_flush_v6)
                       && flush_proto_ok(job, caps)
                       && (!job->has_zone
                           || (job->zone != 0 ? caps->filtered_flush_zone
                                              : caps->filtered_flush_zone_default));
    bool fdump_on_peers;
    unsigned int fdump_families;
    unsigned int fdumps = fdump_side(job, &fdump_on_peers, &fdump_families);
    bool fdump_ok = fdumps && caps->filtered_dump
                    && (!(fdump_families & 2u) || caps->filtered_dump_v6);
    double dump_ms = dump_cost_ms(caps, table_count);

    memset(plan, 0, sizeof *plan);
    switch (force) {
    case CT_STRATEGY_DUMP:
        return plan_forced(plan, CT_STRATEGY_DUMP, 1, dump_ms);
    case CT_STRATEGY_ZONE_FLUSH:
        if (!whole_zone) {
            snprintf(plan->reason, sizeof plan->reason,
                     "zone-flush needs a whole-zone job (--local any --peers any --zone N)");
            return EINVAL;
        }
        if (!zone_flush_ok) {
            snprintf(plan->reason, sizeof plan->reason,
                     "zone-flush is not proven safe on this kernel");
            return ENOTSUP;
        }
        return plan_forced(plan, CT_STRATEGY_ZONE_FLUSH, 1, walk_cost_ms(caps, table_count, 1));
    case CT_STRATEGY_FILTERED_FLUSH:
        if (!fwalks) {
            snprintf(plan->reason, sizeof plan->reason,
                     "filtered-flush needs exact addresses (no CIDRs, no mark, at most one TCP or "
                     "UDP port) and at most %d walks", MAX_FILTERED_WALKS);
            return EINVAL;
        }
        if (!filtered_ok) {
            snprintf(plan->reason, sizeof plan->reason,
                     "filtered-flush%s%s is not proven on this kernel",
                     job->has_zone ? " in this zone" : "", job->proto ? " by protocol" : "");
            return ENOTSUP;
        }
        return plan_forced(plan, CT_STRATEGY_FILTERED_FLUSH, fwalks, walk_cost_ms(caps, table_count, fwalks));
    case CT_STRATEGY_FILTERED_DUMP:
        if (!fdumps) {
            snprintf(plan->reason, sizeof plan->reason,
                     "filtered-dump needs one side of exact addresses (no CIDRs), at most %d",
                     MAX_FILTERED_WALKS / 4);
            return EINVAL;
        }
        if (!fdump_ok) {
            snprintf(plan->reason, sizeof plan->reason,
                     "filtered-dump is not proven on this kernel");
            return ENOTSUP;
        }
        return plan_forced(plan, CT_STRATEGY_FILTERED_DUMP, fdumps, fdump_cost_ms(caps, table_count, fdumps));
    case CT_STRATEGY_AUTO:
    case CT_STRATEGY_COUNT:
        break;
    }

    plan->strategy = CT_STRATEGY_DUMP;
    plan->walks = 1;
    plan->est_ms = dump_ms;
    snprintf(plan->reason, sizeof plan->reason, "dump: est %.1f ms", dump_ms);

    if (zone_flush_ok) {
        double ms = walk_cost_ms(caps, table_count, 1);
        plan->strategy = CT_STRATEGY_ZONE_FLUSH;
        plan->est_ms = ms;
        snprintf(plan->reason, sizeof plan->reason,
                 "zone-flush: 1 in-kernel walk est %.1f ms (dump est %.1f ms + deletes)",
                 ms, dump_ms);
        return 0;
    }
    if (filtered_ok && plan_if_cheaper(plan, CT_STRATEGY_FILTERED_FLUSH, fwalks,
                                       walk_cost_ms(caps, table_count, fwalks))) {
        snprintf(plan->reason, sizeof plan->reason,
                 "filtered-flush: %u walks est %.1f ms < dump est %.1f ms",
                 fwalks, plan->est_ms, dump_ms);
    }
    if (fdump_ok && plan_if_cheaper(plan, CT_STRATEGY_FILTERED_DUMP, fdumps,
                                    fdump_cost_ms(caps, table_count, fdumps))) {
        snprintf(plan->reason, sizeof plan->reason,
                 "filtered-dump: %u dumps on %u threads est %.1f ms < dump est %.1f ms",
                 fdumps, caps->dump_threads, plan->est_ms, dump_ms);
    }
    return 0;
}

double
planner_dump_cost(const struct ct_caps *caps, uint64_t table_count)
{
    return dump_cost_ms(caps, table_count);
}

double
planner_job_cost(const struct flush_job *job, const struct ct_caps *caps, uint64_t table_count,
                 bool *zone_flush)
{
    struct flush_job part[2];
    struct ct_plan plan[2];
    bool have[2];
    double ms = 0;

    *zone_flush = false;
    for (int f = 0; f < 2; f++) {
        have[f] = !flush_job_family_part(job, f ? AF_INET6 : AF_INET, &part[f]);
    }
    if (!have[0] && !have[1]) {
        /* A whole zone (or nothing to pair): planned as it is. */
        if (job->local_any && !planner_choose(job, caps, table_count, CT_STRATEGY_AUTO, &plan[0])) {
            *zone_flush = plan[0].strategy == CT_STRATEGY_ZONE_FLUSH;
            return plan[0].est_ms;
        }
        return 0;
    }
    bool whole_dump = false;
    for (int f = 0; f < 2; f++) {
        if (!have[f]) {
            continue;
        }
        if (planner_choose(&part[f], caps, table_count, CT_STRATEGY_AUTO, &plan[f])) {
            plan[f].strategy = CT_STRATEGY_DUMP;
            plan[f].est_ms = dump_cost_ms(caps, table_count);
        }
        flush_job_destroy(&part[f]);
        if (plan[f].strategy == CT_STRATEGY_DUMP) {
            /* Both families' whole dumps are one dump. */
            if (!whole_dump) {
                ms += plan[f].est_ms;
            }
            whole_dump = true;
        } else {
            ms += plan[f].est_ms;
        }
    }
    return ms;
}
