/*
 * netns_private.c: see netns_private.h.
 */
#include "netns_private.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
netns_private_enter(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)\n");
        return 77;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "skipped: cannot create a network namespace: %s\n", strerror(errno));
        return 77;
    }
    return 0;
}
