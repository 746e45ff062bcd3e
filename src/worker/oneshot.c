/*
 * oneshot.c: `ctflushd --oneshot`.
 */
#include "oneshot.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caps.h"
#include "engine.h"
#include "json.h"
#include "log.h"
#include "planner.h"
#include "probe.h"

#define EXIT_JOB_FAILED 1
#define EXIT_USAGE 2
#define EXIT_NOPRIV 4

static void
oneshot_usage(FILE *f)
{
    fprintf(f,
"usage: ctflushd --oneshot --local LIST|any [--peers LIST|any] [--zone N]\n"
"                [--mark MARK[/MASK]]\n"
"                [--strategy auto|dump|filtered-flush|zone-flush|filtered-dump]\n"
"                [--no-probe] [--max-local N] [--max-peers N] [--batch-bytes N]\n"
"                [--rate N] [--dump-threads N] [--json] [--verbose]\n"
"\n"
"Deletes, in the current network namespace, every conntrack entry one end of\n"
"whose original or reply tuple is in the local set and the other end in the\n"
"peer set (default: any), in the given zone (default: all zones).\n"
"LIST: comma-separated addresses or CIDRs, or @FILE with one or more per line.\n"
"--no-probe      trust nothing about the kernel: use the dump path only\n"
"--rate N        at most N deletes per second\n"
"--dump-threads N\n"
"                threads the job's dumps use (default: online CPUs, at most 4)\n"
"--json          print one JSON object with the job's counters on stdout\n");
}

/* Parses a decimal number in [min, max]. */
static int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;

    if (!s || !*s || *s == '-' || *s == '+') {
        return EINVAL;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v < min || v > max) {
        return EINVAL;
    }
    *out = v;
    return 0;
}

static int
parse_set(const char *arg, const char *what, struct ctf_prefix_list *list, bool *any)
{
    char err[256];

    if (flush_job_parse_side(list, any, arg, err, sizeof err)) {
        fprintf(stderr, "ctflushd: --%s: %s\n", what, err);
        return EINVAL;
    }
    return 0;
}

static void
oneshot_progress(const struct engine_stats *st, void *aux)
{
    (void) aux;
    fprintf(stderr, "ctflushd: %s: scanned %" PRIu64 " matched %" PRIu64
            " deleted %" PRIu64 " (%.0f ms)\n", ct_strategy_name(st->strategy),
            st->scanned, st->matched, st->deleted, st->elapsed_ms);
}

int
oneshot_main(int argc, char *argv[])
{
    enum { OPT_LOCAL = 256, OPT_PEERS, OPT_ZONE, OPT_MARK, OPT_STRATEGY, OPT_NO_PROBE,
           OPT_MAX_LOCAL, OPT_MAX_PEERS, OPT_BATCH, OPT_RATE, OPT_THREADS, OPT_JSON, OPT_VERBOSE,
           OPT_ONESHOT, OPT_HELP };
    static const struct option longopts[] = {
        { "oneshot", no_argument, NULL, OPT_ONESHOT },
        { "local", required_argument, NULL, OPT_LOCAL },
        { "peers", required_argument, NULL, OPT_PEERS },
        { "zone", required_argument, NULL, OPT_ZONE },
        { "mark", required_argument, NULL, OPT_MARK },
        { "strategy", required_argument, NULL, OPT_STRATEGY },
        { "no-probe", no_argument, NULL, OPT_NO_PROBE },
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
    struct flush_job job;
    struct engine_opts opts;
    struct engine_stats stats;
    struct ct_caps caps;
    bool json = false, verbose = false, probe = true, have_local = false;
    int rc = EXIT_USAGE, c;
    uint64_t v;

    flush_job_init(&job);
    engine_opts_init(&opts);
    job.peers_any = true;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_ONESHOT:
            break;
        case OPT_LOCAL:
            if (parse_set(optarg, "local", &job.local, &job.local_any)) {
                goto out;
            }
            have_local = true;
            break;
        case OPT_PEERS:
            if (parse_set(optarg, "peers", &job.peers, &job.peers_any)) {
                goto out;
            }
            break;
        case OPT_ZONE:
            if (parse_u64(optarg, 0, UINT16_MAX, &v)) {
                fprintf(stderr, "ctflushd: --zone: '%s' is not a zone (0-65535)\n", optarg);
                goto out;
            }
            job.has_zone = true;
            job.zone = (uint16_t) v;
            break;
        case OPT_MARK: {
            char buf[64], *slash;
            uint64_t mark, mask = UINT32_MAX;
            snprintf(buf, sizeof buf, "%s", optarg);
            slash = strchr(buf, '/');
            if (slash) {
                *slash = '\0';
            }
            if (parse_u64(buf, 0, UINT32_MAX, &mark)
                || (slash && parse_u64(slash + 1, 1, UINT32_MAX, &mask))) {
                fprintf(stderr, "ctflushd: --mark: '%s' is not MARK[/MASK]\n", optarg);
                goto out;
            }
            job.has_mark = true;
            job.mark = (uint32_t) mark;
            job.mark_mask = (uint32_t) mask;
            break;
        }
        case OPT_STRATEGY:
            if (ct_strategy_parse(optarg, &opts.force)) {
                fprintf(stderr, "ctflushd: --strategy: unknown strategy '%s'\n", optarg);
                goto out;
            }
            break;
        case OPT_NO_PROBE:
            probe = false;
            break;
        case OPT_MAX_LOCAL:
        case OPT_MAX_PEERS:
        case OPT_BATCH:
        case OPT_RATE:
            if (parse_u64(optarg, 0, UINT32_MAX, &v)) {
                fprintf(stderr, "ctflushd: %s: '%s' is not a number\n", argv[optind - 1], optarg);
                goto out;
            }
            if (c == OPT_MAX_LOCAL) {
                opts.max_local = v;
            } else if (c == OPT_MAX_PEERS) {
                opts.max_peers = v;
            } else if (c == OPT_BATCH) {
                opts.batch_bytes = v;
            } else {
                opts.max_delete_rate = v;
            }
            break;
        case OPT_THREADS:
            /* As the daemon's dump-threads key, without its "0: auto". */
            if (parse_u64(optarg, 1, ENGINE_MAX_DUMP_THREADS, &v)) {
                fprintf(stderr, "ctflushd: --dump-threads: '%s' is not a number from 1 to %d\n",
                        optarg, ENGINE_MAX_DUMP_THREADS);
                goto out;
            }
            opts.dump_threads = (unsigned int) v;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_VERBOSE:
            verbose = true;
            break;
        case OPT_HELP:
            oneshot_usage(stdout);
            rc = 0;
            goto out;
        default:
            fprintf(stderr, "ctflushd: unknown or incomplete option '%s'\n", argv[optind - 1]);
            oneshot_usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ctflushd: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (!have_local) {
        fprintf(stderr, "ctflushd: --oneshot needs --local LIST|any\n");
        goto out;
    }
    char err[256];
    if (flush_job_validate(&job, err, sizeof err)) {
        fprintf(stderr, "ctflushd: %s\n", err);
        goto out;
    }
    if (!caps_have_net_admin()) {
        fprintf(stderr, "ctflushd: CAP_NET_ADMIN is needed to change the conntrack table\n");
        rc = EXIT_NOPRIV;
        goto out;
    }

    log_init("ctflushd", verbose ? LOG_LVL_DEBUG : LOG_LVL_WARNING, false);
    if (probe && opts.force != CT_STRATEGY_DUMP) {
        probe_run(&caps, true);
    } else {
        ct_caps_init_unproven(&caps, probe ? "not needed for the dump path" : "--no-probe");
    }
    if (verbose) {
        char desc[512];
        log_info("kernel: %s", probe_describe(&caps, desc, sizeof desc));
        opts.progress = oneshot_progress;
    }
    opts.caps = &caps;

    int run_err = engine_run(&job, &opts, &stats, err, sizeof err);
    if (run_err) {
        fprintf(stderr, "ctflushd: %s\n", err);
        rc = run_err == EPERM ? EXIT_NOPRIV : EXIT_JOB_FAILED;
        goto out;
    }
    char names[64];
    if (json) {
        struct json_out j;
        json_init(&j);
        json_object_begin(&j);
        json_key(&j, "strategy");
        json_str(&j, engine_strategies_name(&stats, names, sizeof names));
        json_key(&j, "scanned");
        json_u64(&j, stats.scanned);
        json_key(&j, "matched");
        json_u64(&j, stats.matched);
        json_key(&j, "deleted");
        json_u64(&j, stats.deleted);
        json_key(&j, "errors");
        json_u64(&j, stats.errors);
        json_key(&j, "already_gone");
        json_u64(&j, stats.already_gone);
        json_key(&j, "passes");
        json_u64(&j, stats.passes);
        json_key(&j, "chunks");
        json_u64(&j, stats.chunks);
        json_key(&j, "dump_restarts");
        json_u64(&j, stats.dump_restarts);
        json_key(&j, "table_before");
        json_u64(&j, stats.table_before);
        json_key(&j, "elapsed_ms");
        json_double(&j, stats.elapsed_ms);
        json_object_end(&j);
        printf("%s\n", json_text(&j) ? json_text(&j) : "{}");
        json_destroy(&j);
    } else {
        printf("strategy %s: scanned %" PRIu64 ", matched %" PRIu64 ", deleted %" PRIu64
               ", already gone %" PRIu64 ", errors %" PRIu64 " in %.1f ms\n",
               engine_strategies_name(&stats, names, sizeof names), stats.scanned, stats.matched,
               stats.deleted, stats.already_gone, stats.errors, stats.elapsed_ms);
    }
    rc = stats.errors ? EXIT_JOB_FAILED : 0;
out:
    flush_job_destroy(&job);
    return rc;
}
