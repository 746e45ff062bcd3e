/*
 * oneshotargs.c: `ctflushd --oneshot`'s command line (oneshotargs.h).
 */
#include "oneshotargs.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cliopt.h"
#include "num.h"
#include "probecache.h"

enum {
    OPT_LOCAL = 256, OPT_PEERS, OPT_ZONE, OPT_MARK, OPT_STRATEGY, OPT_NO_PROBE,
    OPT_REPROBE, OPT_PROBE_CACHE, OPT_DIRECTION, OPT_TUPLE, OPT_PROTO, OPT_DPORT, OPT_FAMILY,
    OPT_MAX_LOCAL, OPT_MAX_PEERS, OPT_BATCH, OPT_RATE, OPT_THREADS, OPT_JSON, OPT_VERBOSE,
    OPT_ONESHOT, OPT_HELP,
};

static const struct option oneshot_longopts[] = {
    { "oneshot", no_argument, NULL, OPT_ONESHOT },
    { "local", required_argument, NULL, OPT_LOCAL },
    { "peers", required_argument, NULL, OPT_PEERS },
    { "zone", required_argument, NULL, OPT_ZONE },
    { "mark", required_argument, NULL, OPT_MARK },
    { "strategy", required_argument, NULL, OPT_STRATEGY },
    { "no-probe", no_argument, NULL, OPT_NO_PROBE },
    { "reprobe", no_argument, NULL, OPT_REPROBE },
    { "probe-cache", required_argument, NULL, OPT_PROBE_CACHE },
    { "direction", required_argument, NULL, OPT_DIRECTION },
    { "tuple", required_argument, NULL, OPT_TUPLE },
    { "proto", required_argument, NULL, OPT_PROTO },
    { "dport", required_argument, NULL, OPT_DPORT },
    { "family", required_argument, NULL, OPT_FAMILY },
    { "max-local", required_argument, NULL, OPT_MAX_LOCAL },
    { "max-peers", required_argument, NULL, OPT_MAX_PEERS },
    { "batch-bytes", required_argument, NULL, OPT_BATCH },
    { "rate", required_argument, NULL, OPT_RATE },
    { "dump-threads", required_argument, NULL, OPT_THREADS },
    { "json", no_argument, NULL, OPT_JSON },
    { "verbose", no_argument, NULL, OPT_VERBOSE },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

/* The options the usage text describes one by one; printed through one
 * format, so the column cannot drift when a longer one is added. */
static const struct {
    const char *opt;
    const char *help;
} oneshot_help[] = {
    { "--direction D", "ingress: the local address is the original destination and" },
    { "", "the peer the source; egress: the reverse (default: either)" },
    { "--tuple orig", "the original tuple only, as conntrack -D -s/-d reads it" },
    { "", "(default any: also the reply tuple, read backwards, which" },
    { "", "holds a DNATed flow's fixed address)" },
    { "--proto P", "only entries of that protocol (a name or 1..255)" },
    { "--dport LO[-HI]", "only entries whose original destination port is in range" },
    { "", "(with a protocol that has ports)" },
    { "--family F", "only ipv4 or ipv6 entries (default: both)" },
    { "--no-probe", "trust nothing about the kernel: use the dump path only" },
    { "--reprobe", "prove the kernel again, whatever this boot's findings say" },
    { "--probe-cache FILE", "where the probe's findings are kept for the boot" },
    { "", "(default " PROBE_CACHE_DEFAULT ", the daemon's; none: not kept)" },
    { "--rate N", "at most N deletes per second" },
    { "--dump-threads N", "dump threads (default: the online CPUs, at most 4)" },
    { "--json", "print one JSON object with the job's counters on stdout" },
    { "--verbose", "log the kernel's capabilities and the job's progress" },
};

void
oneshot_usage(FILE *f)
{
    fprintf(f,
"usage: ctflushd --oneshot --local LIST|any [--peers LIST|any] [--zone N]\n"
"                [--mark MARK[/MASK]] [--direction ingress|egress|either]\n"
"                [--tuple orig|any] [--proto NAME|NUMBER] [--dport PORT[-PORT]]\n"
"                [--family ipv4|ipv6|both]\n"
"                [--strategy auto|dump|filtered-flush|zone-flush|filtered-dump]\n"
"                [--no-probe] [--reprobe] [--probe-cache FILE|none]\n"
"                [--max-local N] [--max-peers N] [--batch-bytes N]\n"
"                [--rate N] [--dump-threads N] [--json] [--verbose]\n"
"\n"
"Deletes, in the current network namespace, every conntrack entry one end of\n"
"whose original or reply tuple is in the local set and the other end in the\n"
"peer set (default: any), in the given zone (default: all zones).\n"
"LIST: comma-separated addresses or CIDRs, or @FILE with one or more per line.\n"
"N: decimal digits only. MARK, MASK: decimal or 0x hex; MASK defaults to\n"
"0xffffffff.\n"
"\n");
    for (size_t i = 0; i < sizeof oneshot_help / sizeof *oneshot_help; i++) {
        fprintf(f, "%-19s %s\n", oneshot_help[i].opt, oneshot_help[i].help);
    }
}

void
oneshot_args_init(struct oneshot_args *a)
{
    memset(a, 0, sizeof *a);
    flush_job_init(&a->job);
    a->job.peers_any = true;
    engine_opts_init(&a->opts);
    a->probe = true;
    a->probe_cache = PROBE_CACHE_DEFAULT;
}

void
oneshot_args_destroy(struct oneshot_args *a)
{
    if (a) {
        flush_job_destroy(&a->job);
    }
}

int
oneshot_args_parse(struct oneshot_args *a, int argc, char *argv[], char *err, size_t errlen)
{
    bool have_local = false;
    struct cliopt c;
    char why[256];
    uint64_t v;
    int opt, rc = 0;

    if (err && errlen) {
        err[0] = '\0';
    }
    cliopt_init(&c, argc, argv, oneshot_longopts, "", " (see ctflushd --oneshot --help)");
    while ((opt = cliopt_next(&c, err, errlen)) != CLIOPT_END) {
        /* Each option leaves its reason in why; the name is put in front
         * once, below. */
        switch (opt) {
        case CLIOPT_ERROR:
            return EINVAL;
        case OPT_ONESHOT:
            break;
        case OPT_LOCAL:
            rc = flush_job_parse_side(&a->job.local, &a->job.local_any, c.value, why,
                                      sizeof why);
            have_local = true;
            break;
        case OPT_PEERS:
            rc = flush_job_parse_side(&a->job.peers, &a->job.peers_any, c.value, why,
                                      sizeof why);
            break;
        case OPT_ZONE:
            rc = flush_job_parse_zone(&a->job, c.value, why, sizeof why);
            break;
        case OPT_MARK:
            rc = flush_job_parse_mark(&a->job, c.value, why, sizeof why);
            break;
        case OPT_STRATEGY:
            if (ct_strategy_parse(c.value, &a->opts.force)) {
                snprintf(why, sizeof why, "unknown strategy '%s'", c.value);
                rc = EINVAL;
            }
            break;
        case OPT_NO_PROBE:
            a->probe = false;
            break;
        case OPT_DIRECTION:
            if (flush_direction_parse(c.value, &a->job.direction)) {
                snprintf(why, sizeof why, "'%s' is not ingress, egress or either", c.value);
                rc = EINVAL;
            }
            break;
        case OPT_TUPLE:
            if (flush_tuple_parse(c.value, &a->job.tuple)) {
                snprintf(why, sizeof why, "'%s' is not orig or any", c.value);
                rc = EINVAL;
            }
            break;
        case OPT_PROTO:
            if (flush_proto_parse(c.value, &a->job.proto)) {
                snprintf(why, sizeof why, "'%s' is not a protocol name or a number from 1 to 255",
                         c.value);
                rc = EINVAL;
            }
            break;
        case OPT_DPORT:
            if (flush_dport_parse(c.value, &a->job.dport_lo, &a->job.dport_hi)) {
                snprintf(why, sizeof why, "'%s' is not PORT or LO-HI (0-65535)", c.value);
                rc = EINVAL;
            }
            a->job.has_dport = true;
            break;
        case OPT_FAMILY:
            if (flush_family_parse(c.value, &a->job.family)) {
                snprintf(why, sizeof why, "'%s' is not ipv4, ipv6 or both", c.value);
                rc = EINVAL;
            }
            break;
        case OPT_REPROBE:
            a->reprobe = true;
            break;
        case OPT_PROBE_CACHE:
            if (!*c.value) {
                snprintf(why, sizeof why, "give a file, or none");
                rc = EINVAL;
                break;
            }
            a->probe_cache = strcmp(c.value, "none") ? c.value : NULL;
            break;
        case OPT_MAX_LOCAL:
        case OPT_MAX_PEERS:
        case OPT_BATCH:
        case OPT_RATE:
            rc = num_parse_u64(c.value, NUM_DEC, 0, UINT32_MAX, &v, why, sizeof why);
            if (rc) {
                break;
            }
            if (opt == OPT_RATE) {
                a->opts.max_delete_rate = v;
            } else {
                *(opt == OPT_MAX_LOCAL ? &a->opts.max_local
                  : opt == OPT_MAX_PEERS ? &a->opts.max_peers : &a->opts.batch_bytes) = v;
            }
            break;
        case OPT_THREADS:
            /* As the daemon's dump-threads key, without its "0: auto". */
            rc = num_parse_u64(c.value, NUM_DEC, 1, ENGINE_MAX_DUMP_THREADS, &v, why,
                               sizeof why);
            a->opts.dump_threads = rc ? 0 : (unsigned int) v;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_VERBOSE:
            a->verbose = true;
            break;
        case OPT_HELP:
            a->help = true;
            return 0;
        default:
            snprintf(why, sizeof why, "not handled");
            rc = EINVAL;
            break;
        }
        if (rc) {
            snprintf(err, errlen, "--%s: %s", c.name, why);
            return rc;
        }
    }
    if (!have_local) {
        snprintf(err, errlen, "--oneshot needs --local LIST|any");
        return EINVAL;
    }
    if (flush_job_validate(&a->job, why, sizeof why)) {
        snprintf(err, errlen, "%s", why);
        return EINVAL;
    }
    return 0;
}
