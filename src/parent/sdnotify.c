/*
 * sdnotify.c: systemd's notify protocol without libsystemd. A state is one
 * datagram to $NOTIFY_SOCKET; systemd reads the sender's pid from the
 * socket's credentials, so nothing else is needed.
 */
#include "sdnotify.h"
#include "num.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(sizeof ((struct sdnotify *) 0)->path
               == sizeof ((struct sockaddr_un *) 0)->sun_path,
               "struct sdnotify's path must hold a whole sun_path");

/* The watchdog applies to us only if systemd named our pid, or named no pid
 * at all. A child that inherited the environment (the worker, the watcher)
 * must not believe it is the one being watched. */
static int
sdnotify_read_watchdog(uint64_t *usec)
{
    const char *s = getenv("WATCHDOG_USEC");
    const char *pid_s = getenv("WATCHDOG_PID");
    uint64_t v, pid;

    *usec = 0;
    if (!s) {
        return 0;
    }
    if (pid_s) {
        if (num_parse_u64(pid_s, NUM_DEC, 1, UINT64_MAX, &pid, NULL, 0)) {
            return EINVAL;
        }
        if (pid != (uint64_t) getpid()) {
            return 0;
        }
    }
    /* Decimal, as systemd writes it; never 0 or "infinity" (UINT64_MAX):
     * either is garbage. */
    if (num_parse_u64(s, NUM_DEC, 1, UINT64_MAX - 1, &v, NULL, 0)) {
        return EINVAL;
    }
    *usec = v;
    return 0;
}

int
sdnotify_open(struct sdnotify *sd)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t len;
    int err;

    memset(sd, 0, sizeof *sd);
    sd->fd = -1;

    /* A bad WATCHDOG_USEC is reported, but the socket is still opened: READY
     * and STOPPING matter more than the watchdog. */
    err = sdnotify_read_watchdog(&sd->watchdog_usec);

    if (!path || !*path) {
        sd->watchdog_usec = 0;      /* Nobody to send WATCHDOG=1 to. */
        return err;
    }
    len = strlen(path);
    if (path[0] == '@') {
        /* Abstract: a leading NUL and no terminator, the whole sun_path
         * usable. */
        if (len > sizeof sd->path) {
            sd->watchdog_usec = 0;
            return ENAMETOOLONG;
        }
        memcpy(sd->path, path, len);
        sd->path[0] = '\0';
    } else if (path[0] == '/') {
        /* A filesystem path keeps its terminator inside sun_path. */
        if (len >= sizeof sd->path) {
            sd->watchdog_usec = 0;
            return ENAMETOOLONG;
        }
        memcpy(sd->path, path, len + 1);
    } else {
        /* systemd only hands out these two forms (newer versions also
         * "vsock:", for VMs, which a hypervisor daemon never sees). */
        sd->watchdog_usec = 0;
        return EAFNOSUPPORT;
    }
    sd->path_len = (unsigned int) len;

    sd->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sd->fd < 0) {
        int e = errno;
        sd->path_len = 0;
        sd->watchdog_usec = 0;
        return e;
    }
    return err;
}

int
sdnotify_send(const struct sdnotify *sd, const char *state)
{
    struct sockaddr_un sun;
    socklen_t salen;
    size_t len;
    ssize_t n;

    if (!sd || sd->fd < 0) {
        return 0;
    }
    if (!state || !*state) {
        return EINVAL;
    }
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, sd->path, sd->path_len);
    salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + sd->path_len);

    len = strlen(state);
    /* Never blocking: a systemd that is not reading (reloading, wedged) must
     * not stall the event loop; a lost READY or WATCHDOG is its problem to
     * time out on, and ours to log. MSG_NOSIGNAL for the same reason. */
    do {
        n = sendto(sd->fd, state, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                   (const struct sockaddr *) &sun, salen);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno;
    }
    return (size_t) n == len ? 0 : EMSGSIZE;
}

void
sdnotify_close(struct sdnotify *sd)
{
    if (!sd) {
        return;
    }
    if (sd->fd >= 0) {
        close(sd->fd);
    }
    sd->fd = -1;
    sd->path_len = 0;
    sd->watchdog_usec = 0;
}
