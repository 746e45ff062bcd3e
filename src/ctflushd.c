/*
 * ctflushd.c: the ctflushd entry point.
 *
 * `--oneshot` runs one job in the foreground. The long-running daemon (OVSDB
 * watcher, job queue, forked worker, control socket) is being built on top of
 * the same engine and is not in this version yet.
 */
#include <stdio.h>
#include <string.h>

#include "oneshot.h"

int
main(int argc, char *argv[])
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--oneshot")) {
            return oneshot_main(argc, argv);
        }
        if (!strcmp(argv[i], "--version")) {
            printf("ctflushd %s\n", CTF_VERSION);
            return 0;
        }
    }
    fprintf(stderr,
            "ctflushd %s: only --oneshot is available in this version; the daemon\n"
            "mode (OVSDB watch, job queue, control socket) is not implemented yet.\n"
            "Try 'ctflushd --oneshot --help'.\n", CTF_VERSION);
    return 2;
}
