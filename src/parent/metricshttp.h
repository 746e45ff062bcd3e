/*
 * metricshttp.h: the Prometheus endpoint: GET /metrics over HTTP, served by
 * libevent's evhttp from the parent's event loop. Off unless metrics-listen
 * is set. The body is whatever the render callback returns; ctflushd.c
 * hands it ctlcmd_metrics_text, the text `ctflushctl metrics` prints, so the
 * two cannot differ in what they show.
 *
 * What it answers: GET and HEAD of /metrics (a query string is ignored)
 * with 200 and Content-Type METRICSHTTP_CONTENT_TYPE; any other path 404;
 * any other method on /metrics 405 with "Allow: GET, HEAD"; a body that
 * cannot be made 500. evhttp itself answers a request it cannot parse,
 * or whose request line and headers pass max_header_bytes, with 400, and
 * one with a body with 413.
 *
 * Bounded, and never blocking the loop: at most max_conns connections at
 * once (at the cap the listener pauses, and new ones wait in the kernel's
 * backlog until a slot frees), a connection idle or stalled for timeout_ms
 * is closed, reads stop at a high watermark, and the body is rendered from
 * the parent's own memory and written by a bufferevent.
 *
 * Owns: the listening socket, the evhttp server and its connections.
 */
#ifndef CTF_METRICSHTTP_H
#define CTF_METRICSHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct event_base;
struct metricshttp;

#define METRICSHTTP_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Zero members take these. */
#define METRICSHTTP_DEFAULT_MAX_CONNS 16
#define METRICSHTTP_DEFAULT_MAX_HEADER_BYTES 8192
#define METRICSHTTP_DEFAULT_TIMEOUT_MS 10000

struct metricshttp_limits {
    unsigned int max_conns;         /* Connections open at once. */
    size_t max_header_bytes;        /* Request line and headers. */
    unsigned int timeout_ms;        /* A connection idle or stalled this long is closed. */
};

/* The exposition text, malloc'd and NUL-terminated (the endpoint frees
 * it), or NULL if it cannot be made. */
typedef char *metricshttp_render_fn(void *aux);

struct metricshttp_stats {
    char address[CTF_SOCKADDR_STRLEN];  /* Bound to: the kernel's pick for port 0. */
    unsigned int connections;       /* Open now (including those evhttp has
                                     * just closed, until the next sweep). */
    uint64_t accepted;              /* Connections. */
    uint64_t scrapes;               /* 200 replies. */
    uint64_t not_found;             /* 404 replies. */
    uint64_t bad_method;            /* 405 replies. */
    uint64_t failures;              /* 500 replies. */
    uint64_t full;                  /* Times the listener paused at max_conns. */
};

/* Binds, listens and serves on base. limits may be NULL (the defaults).
 * Returns 0, or an errno with the reason in err: EADDRINUSE, EACCES,
 * EADDRNOTAVAIL (no such local address) or EAFNOSUPPORT (the family is not
 * allowed, as under systemd's RestrictAddressFamilies=) are the usual. */
int metricshttp_open(struct metricshttp **, struct event_base *, const struct ctf_sockaddr *,
                     const struct metricshttp_limits *, metricshttp_render_fn *, void *aux,
                     char *err, size_t errlen);
/* Closes the socket and every connection. Accepts NULL. */
void metricshttp_close(struct metricshttp *);
void metricshttp_get_stats(const struct metricshttp *, struct metricshttp_stats *);

#endif
