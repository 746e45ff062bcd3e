/*
 * control.h: the control socket, served from the parent's event loop. It
 * accepts clients, frames their requests (ctlproto.h), checks who may do
 * what (SO_PEERCRED: uid 0, or the configured group with write rights, may
 * mutate; anyone who can connect may read), and hands each good request to
 * the daemon's handler. It never waits on a client: an evconnlistener
 * accepts and each client is a libevent bufferevent; a client that sends an
 * oversized line, stalls mid-request past the timeout, or does not read its
 * replies (output buffer over max_output_bytes) is answered if possible and
 * disconnected.
 *
 * The socket is created with the final permissions in place (umask around
 * bind, then chown/chmod before listen), replacing a stale socket only when
 * nothing answers on it.
 *
 * The process must ignore SIGPIPE before control_open: bufferevents write
 * with writev(), which has no MSG_NOSIGNAL.
 *
 * Owns: the listening socket, its clients and their buffers.
 */
#ifndef CTF_CONTROL_H
#define CTF_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctlproto.h"

struct event_base;
struct control;
struct control_client;

struct control_limits {
    unsigned int max_clients;       /* Over it: "busy" reply and close. The
                                     * last CONTROL_PRIVILEGED_SLOTS of them
                                     * (at most half) only take peers that may
                                     * mutate, so that no flood of read-only
                                     * clients locks the operator out. */
    size_t max_request_bytes;       /* One request line. */
    unsigned int client_timeout_ms; /* A started request must finish within it;
                                     * an idle client is closed after it too
                                     * unless it is waiting on jobs. */
    size_t max_output_bytes;        /* Unread replies kept per client. */
};

struct control_auth {
    gid_t group;                    /* Socket group; (gid_t)-1: root's. */
    bool group_write;               /* Members of group may mutate. */
    unsigned int mode;              /* Socket mode, e.g. 0660. */
};

struct control_stats {
    uint64_t accepted;
    uint64_t refused_busy;          /* Over max_clients. */
    uint64_t requests;
    uint64_t errors;                /* Bad requests of any kind. */
    uint64_t forbidden;
    uint64_t timeouts;
    uint64_t dropped_slow;          /* Closed for not reading replies. */
    unsigned int clients;           /* Connected now. */
    unsigned int readonly_clients;  /* Of them, peers that may not mutate. */
    size_t output_bytes;            /* Unread reply bytes held now, all clients. */
};

/* Called for each well-formed, authorised request. The handler must reply
 * (control_reply*) before returning or keep the client watching (see
 * control_client_watch). The request is the caller's; the handler may take
 * what it needs from it. */
typedef void control_request_fn(struct control_client *, struct ctlproto_request *, void *aux);

int control_open(struct control **, struct event_base *, const char *path,
                 const struct control_auth *, const struct control_limits *,
                 control_request_fn *, void *aux, char *err, size_t errlen);
/* Closes every client and the socket, unlinks the path. Accepts NULL. */
void control_close(struct control *);
void control_set_limits(struct control *, const struct control_limits *);
void control_get_stats(const struct control *, struct control_stats *);

/* Sends one line (json_text + '\n') to the client. */
void control_reply(struct control_client *, const char *json_text);
void control_reply_error(struct control_client *, const char *code, const char *msg);
bool control_client_may_write(const struct control_client *);
uid_t control_client_uid(const struct control_client *);
pid_t control_client_pid(const struct control_client *);

/* Marks the client as following jobs (flush --wait): it is kept open past
 * the idle timeout and listed by control_foreach_watching until
 * control_client_unwatch. The ids are copied. Returns 0 or ENOMEM. */
int control_client_watch(struct control_client *, const uint64_t *ids, size_t n);
void control_client_unwatch(struct control_client *);
const uint64_t *control_client_watched(const struct control_client *, size_t *n);
typedef void control_client_fn(struct control_client *, void *aux);
void control_foreach_watching(struct control *, control_client_fn *, void *aux);

#endif
