/*
 * ovsctl.h: a client of ovs-vswitchd's unixctl socket, the one ovs-appctl
 * talks to: JSON-RPC 1.0 over a unix stream socket, one request at a time
 * ({"method", "params": [strings], "id"} -> {"result": string, "error",
 * "id"}). The socket is found the way ovs-appctl finds it: the pid in
 * RUNDIR/ovs-vswitchd.pid, then RUNDIR/ovs-vswitchd.PID.ctl. Written here
 * rather than taken from libopenvswitch so that the userdp child links no
 * OVS code (libopenvswitch stays in the watcher); jansson does the JSON.
 *
 * Every call has a deadline: ovs-vswitchd restarting, hung or gone costs a
 * timeout or a connection error, never a wait without end.
 *
 * Owns: its socket and receive buffer.
 */
#ifndef CTF_OVSCTL_H
#define CTF_OVSCTL_H

#include <stddef.h>
#include <sys/types.h>

struct ovsctl {
    int fd;                     /* -1 when not connected. */
    pid_t pid;                  /* ovs-vswitchd's, from the pidfile. */
    unsigned int next_id;       /* JSON-RPC request id. */
    char *buf;                  /* Bytes received and not yet parsed. */
    size_t len, cap;
};

void ovsctl_init(struct ovsctl *);
/* Reads RUNDIR/ovs-vswitchd.pid. Returns 0, ENOENT (no pidfile: not
 * running), EINVAL (not a pid) or an errno. */
int ovsctl_read_pid(const char *rundir, pid_t *pid);
/* Connects to the running ovs-vswitchd's socket (closing any earlier
 * connection). Returns 0, or an errno with the reason in err. */
int ovsctl_connect(struct ovsctl *, const char *rundir, char *err, size_t errlen);
/* Runs one command. Returns 0 when ovs-vswitchd answered: *result holds its
 * reply text, or *error its error text (the other is NULL; free both), or
 * an errno when it did not (ETIMEDOUT, ECONNRESET, EPIPE, EPROTO for a
 * reply that is not JSON-RPC; the connection is then closed). */
int ovsctl_call(struct ovsctl *, const char *method, const char *const *params, size_t n,
                unsigned int timeout_ms, char **result, char **error);
void ovsctl_close(struct ovsctl *);     /* Also frees the buffer. */

#endif
