/*
 * sdnotify.h: systemd's notify protocol (READY=1, STOPPING=1, WATCHDOG=1,
 * STATUS=...) spoken directly over $NOTIFY_SOCKET, an AF_UNIX datagram
 * socket (a path, or '@' for the abstract namespace). No libsystemd: the
 * protocol is one sendmsg.
 *
 * Owns: its socket.
 */
#ifndef CTF_SDNOTIFY_H
#define CTF_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct sdnotify {
    int fd;                     /* -1: not under systemd (or not Type=notify). */
    char path[108];             /* sun_path as given ('@' turned into NUL). */
    unsigned int path_len;
    uint64_t watchdog_usec;     /* From WATCHDOG_USEC if WATCHDOG_PID is us; 0: none. */
};

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. Returns 0 (also when
 * not under systemd: then fd = -1 and every send is a no-op) or an errno.
 * Either way the struct may be used and must be closed; after a bad
 * WATCHDOG_* value (EINVAL) the socket still works, without a watchdog. */
int sdnotify_open(struct sdnotify *);
/* Sends one state string ("READY=1\nSTATUS=..."), never blocking. Returns 0
 * or a positive errno. */
int sdnotify_send(const struct sdnotify *, const char *state);
void sdnotify_close(struct sdnotify *);

#endif
