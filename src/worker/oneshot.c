/*
 * oneshot.c: `ctflushd --oneshot`: runs the job its command line
 * (oneshotargs.c) describes and reports it.
 */
#include "oneshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caps.h"
#include "engine.h"
#include "json.h"
#include "log.h"
#include "oneshotargs.h"
#include "planner.h"
#include "probe.h"
#include "probecache.h"

#define EXIT_JOB_FAILED 1
#define EXIT_USAGE 2
#define EXIT_NOPRIV 4

static void
oneshot_progress(uint64_t id, const struct engine_stats *st, void *aux)
{
    (void) id;
    (void) aux;
    fprintf(stderr, "ctflushd: %s: scanned %" PRIu64 " matched %" PRIu64
            " deleted %" PRIu64 " (%.0f ms)\n", ct_strategy_name(st->strategy),
            st->scanned, st->matched, st->deleted, st->elapsed_ms);
}

int
oneshot_main(int argc, char *argv[])
{
    struct oneshot_args a;
    struct engine_stats stats;
    struct ct_caps caps;
    char err[512];
    int rc = EXIT_USAGE;

    oneshot_args_init(&a);
    if (oneshot_args_parse(&a, argc, argv, err, sizeof err)) {
        fprintf(stderr, "ctflushd: %s\n", err);
        goto out;
    }
    if (a.help) {
        oneshot_usage(stdout);
        rc = 0;
        goto out;
    }
    if (!caps_have_net_admin()) {
        fprintf(stderr, "ctflushd: CAP_NET_ADMIN is needed to change the conntrack table\n");
        rc = EXIT_NOPRIV;
        goto out;
    }

    log_init("ctflushd", a.verbose ? LOG_LVL_DEBUG : LOG_LVL_WARNING, false);
    if (a.probe && a.opts.force != CT_STRATEGY_DUMP) {
        bool cached;
        probe_cached(a.probe_cache, a.reprobe, &caps, &cached);
    } else {
        ct_caps_init_unproven(&caps, a.probe ? "not needed for the dump path" : "--no-probe");
    }
    if (a.verbose) {
        char desc[512];
        log_info("kernel: %s", probe_describe(&caps, desc, sizeof desc));
        a.opts.progress = oneshot_progress;
    }
    a.opts.caps = &caps;

    int run_err = engine_run(&a.job, &a.opts, &stats, err, sizeof err);
    if (run_err) {
        fprintf(stderr, "ctflushd: %s\n", err);
        rc = run_err == EPERM ? EXIT_NOPRIV : EXIT_JOB_FAILED;
        goto out;
    }
    char names[64];
    if (a.json) {
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
    oneshot_args_destroy(&a);
    return rc;
}
