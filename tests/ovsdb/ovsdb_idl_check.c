/*
 * ovsdb_idl_check: proves that an OVSDB IDL client built against our static
 * libopenvswitch links, connects to a real ovsdb-server and sees rows.
 *
 *     ovsdb_idl_check --db=REMOTE [--timeout=SECONDS] INTERFACE
 *
 * Waits until the IDL has received the Open_vSwitch database and has seen an
 * Interface row named INTERFACE, then prints "INTERFACE key=value ..." (its
 * external_ids, sorted by key) and exits 0.  Exits 1 if that does not happen
 * within the timeout, 2 on a usage error.
 *
 * It drives the IDL the way the OVSDB watcher will: a table and tracked
 * columns registered before the first run, then run -> walk tracked rows ->
 * clear -> wait -> poll_block.  So a pass here also says that change tracking
 * delivers the initial snapshot.
 */

/* OVS's config.h must come before any OVS header: they choose atomics and
 * struct layouts from its HAVE_* macros.  It is named through its parent
 * directory because a plain <config.h> resolves to ctflushd's own
 * src/parent/config.h, which tests see (-I directories are searched before
 * OVS's -isystem ones); the check below catches either mistake. */
#include <../config.h>
#if !defined(PACKAGE_NAME) || !defined(HAVE_STDATOMIC_H) || defined(CTF_CONFIG_H)
#error "ovsdb_idl_check.c must see Open vSwitch's config.h before anything else"
#endif

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "smap.h"
#include "timeval.h"
#include "util.h"
#include "vswitch-idl.h"

#define IDLCHECK_DEFAULT_TIMEOUT 10     /* Seconds. */

static void idlcheck_usage(const char *prog);
static const struct ovsrec_interface *
idlcheck_find_tracked(struct ovsdb_idl *, const char *name);
static void idlcheck_print(const struct ovsrec_interface *);

static void
idlcheck_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --db=REMOTE [--timeout=SECONDS] INTERFACE\n"
            "Waits until the Open_vSwitch database at REMOTE (e.g. "
            "unix:/run/openvswitch/db.sock)\n"
            "has an Interface named INTERFACE and prints its external_ids.\n"
            "Default timeout: %d seconds.\n",
            prog, IDLCHECK_DEFAULT_TIMEOUT);
}

/* Returns the Interface row called 'name' among the rows that changed since
 * the last ovsdb_idl_track_clear(), or NULL.  The first batch of tracked
 * changes after connecting is the whole table, so a row that already existed
 * is found on the first pass and a row added later when it arrives. */
static const struct ovsrec_interface *
idlcheck_find_tracked(struct ovsdb_idl *idl, const char *name)
{
    const struct ovsrec_interface *iface;

    OVSREC_INTERFACE_FOR_EACH_TRACKED (iface, idl) {
        if (!ovsrec_interface_is_deleted(iface)
            && !strcmp(iface->name, name)) {
            return iface;
        }
    }
    return NULL;
}

/* Sorted so that the output does not depend on hash order. */
static void
idlcheck_print(const struct ovsrec_interface *iface)
{
    const struct smap_node **nodes = smap_sort(&iface->external_ids);
    size_t n = smap_count(&iface->external_ids);

    printf("%s", iface->name);
    for (size_t i = 0; i < n; i++) {
        printf(" %s=%s", nodes[i]->key, nodes[i]->value);
    }
    printf("\n");
    free(nodes);
}

int
main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"db", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *remote = NULL;
    long timeout = IDLCHECK_DEFAULT_TIMEOUT;
    int opt;

    set_program_name(argv[0]);
    /* Connection retries log at INFO; only real problems belong on stderr. */
    vlog_set_levels(NULL, VLF_CONSOLE, VLL_WARN);

    while ((opt = getopt_long(argc, argv, "d:t:h", long_options, NULL))
           != -1) {
        char *end;

        switch (opt) {
        case 'd':
            remote = optarg;
            break;
        case 't':
            errno = 0;
            timeout = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || timeout <= 0
                || timeout > INT_MAX / 1000) {
                fprintf(stderr, "%s: bad --timeout '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'h':
            idlcheck_usage(argv[0]);
            return 0;
        default:
            idlcheck_usage(argv[0]);
            return 2;
        }
    }
    if (!remote || optind != argc - 1) {
        idlcheck_usage(argv[0]);
        return 2;
    }
    const char *name = argv[optind];

    /* Monitor nothing by default, then just the columns we look at, as the
     * watcher will: the Open_vSwitch database can be large and we would pay
     * for every column we replicate. */
    struct ovsdb_idl *idl = ovsdb_idl_create(remote, &ovsrec_idl_class,
                                             false, true);
    ovsdb_idl_add_table(idl, &ovsrec_table_interface);
    ovsdb_idl_track_add_column(idl, &ovsrec_interface_col_name);
    ovsdb_idl_track_add_column(idl, &ovsrec_interface_col_external_ids);

    long long int deadline = time_msec() + timeout * 1000;
    const struct ovsrec_interface *found = NULL;
    int status = 1;

    for (;;) {
        ovsdb_idl_run(idl);
        if (!ovsdb_idl_is_alive(idl)) {
            /* With retry on, this means a fatal protocol error, e.g. a
             * schema that lacks a table or column we asked for. */
            int error = ovsdb_idl_get_last_error(idl);

            fprintf(stderr, "%s: %s: IDL gave up: %s\n", argv[0], remote,
                    error ? ovs_retval_to_string(error) : "unknown error");
            break;
        }

        found = idlcheck_find_tracked(idl, name);
        if (found) {
            idlcheck_print(found);
            status = 0;
            break;
        }
        ovsdb_idl_track_clear(idl);

        if (time_msec() >= deadline) {
            bool connected = ovsdb_idl_is_connected(idl);
            bool synced = ovsdb_idl_has_ever_connected(idl);
            int error = ovsdb_idl_get_last_error(idl);

            fprintf(stderr, "%s: timed out after %ld s waiting for Interface "
                    "'%s' at %s (%s%s%s)\n", argv[0], timeout, name, remote,
                    !connected ? "not connected"
                    : !synced ? "connected, database not received yet"
                    : "connected and synced, no such interface",
                    error ? ": " : "",
                    error ? ovs_retval_to_string(error) : "");
            break;
        }

        ovsdb_idl_wait(idl);
        poll_timer_wait_until(deadline);
        poll_block();
    }

    ovsdb_idl_destroy(idl);
    return status;
}
