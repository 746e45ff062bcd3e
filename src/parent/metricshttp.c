/*
 * metricshttp.c: GET /metrics over evhttp (see metricshttp.h).
 *
 * evhttp does the HTTP: parsing, the header and body limits, the idle
 * timeout, keep-alive. What libevent 2.1 (Debian 12's) lacks is a cap on
 * connections (evhttp_set_max_connections is 2.2's), so this file keeps it:
 *
 * - every connection's bufferevent is made here (evhttp_set_bevcb), and a
 *   reference to it is kept beside evhttp's (bufferevent_incref). That
 *   counts connections as they are accepted, and pauses the listener at
 *   max_conns, from inside evconnlistener's accept loop, which stops there.
 * - evhttp gives a connection up with bufferevent_free, which clears its
 *   callbacks and drops evhttp's reference; ours keeps the bufferevent (and
 *   its descriptor) until a sweep, every METRICSHTTP_SWEEP_MS, finds it so,
 *   disables it and drops the last reference, which closes the socket.
 *   evhttp has already shut down its sending side, so the peer sees the
 *   close at once; only the slot comes back up to one sweep later. (libevent
 *   has no callback for "this bufferevent is being freed", and evhttp none
 *   for a connection that closes before its first request.)
 * - the sweep also resumes a listener that accept() failed on (out of
 *   descriptors): libevent would otherwise retry it on every loop turn.
 *
 * Reading stops at a high watermark a little above max_header_bytes, so a
 * connection evhttp has let go of cannot fill memory before the sweep.
 */
#include "metricshttp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "log.h"

#define METRICSHTTP_SWEEP_MS 250
#define METRICSHTTP_BACKLOG 64
/* Input kept per connection beyond the header limit: what evhttp needs to
 * see that the limit is passed. */
#define METRICSHTTP_READ_SLACK 1024

struct metricshttp_conn {
    TAILQ_ENTRY(metricshttp_conn) link;
    struct bufferevent *bev;        /* Our reference; evhttp holds the other. */
};

struct metricshttp {
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener;    /* evhttp's once bound (it frees it). */
    struct event *sweep;
    TAILQ_HEAD(, metricshttp_conn) conns;
    struct metricshttp_limits limits;
    metricshttp_render_fn *render;
    void *aux;
    bool full;                      /* Paused at max_conns. */
    struct metricshttp_stats st;
};

static void
metricshttp_err(char *err, size_t errlen, const char *what, int e)
{
    if (err && errlen) {
        snprintf(err, errlen, "%s: %s", what, strerror(e));
    }
}

/* Accepting goes on while there is a free slot. */
static void
metricshttp_update_listener(struct metricshttp *m)
{
    bool full = m->st.connections >= m->limits.max_conns;

    if (full && !m->full) {
        m->st.full++;
        log_debug("metrics: %u connections open: pausing accept", m->st.connections);
    }
    m->full = full;
    if (full) {
        evconnlistener_disable(m->listener);
    } else {
        evconnlistener_enable(m->listener);
    }
}

static void
metricshttp_conn_free(struct metricshttp *m, struct metricshttp_conn *c)
{
    TAILQ_REMOVE(&m->conns, c, link);
    m->st.connections--;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_decref(c->bev);     /* The last reference: closes the socket. */
    free(c);
}

/* evhttp frees a connection's bufferevent with bufferevent_free, which
 * clears every callback; while evhttp uses it, its event callback is always
 * set (evhttp_error_cb). */
static bool
metricshttp_conn_released(const struct metricshttp_conn *c)
{
    bufferevent_data_cb rd, wr;
    bufferevent_event_cb ev;

    bufferevent_getcb(c->bev, &rd, &wr, &ev, NULL);
    return !rd && !wr && !ev;
}

static void
metricshttp_sweep_cb(evutil_socket_t fd, short what, void *aux)
{
    struct metricshttp *m = aux;
    struct metricshttp_conn *c, *next;

    (void) fd;
    (void) what;
    for (c = TAILQ_FIRST(&m->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        if (metricshttp_conn_released(c)) {
            metricshttp_conn_free(m, c);
        }
    }
    metricshttp_update_listener(m);
}

/* evhttp's hook for a new connection's bufferevent. NULL makes evhttp
 * create its own, uncounted: only when memory is short. */
static struct bufferevent *
metricshttp_new_bev(struct event_base *base, void *aux)
{
    struct metricshttp *m = aux;
    struct metricshttp_conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = c ? bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)
                                : NULL;

    if (!bev) {
        free(c);
        return NULL;
    }
    bufferevent_incref(bev);
    bufferevent_setwatermark(bev, EV_READ, 0, m->limits.max_header_bytes
                                              + METRICSHTTP_READ_SLACK);
    c->bev = bev;
    TAILQ_INSERT_TAIL(&m->conns, c, link);
    m->st.connections++;
    m->st.accepted++;
    metricshttp_update_listener(m);
    return bev;
}

/* accept() failed for a reason a retry on the next loop turn would meet
 * again (no descriptors, no memory): pause until the next sweep. libevent
 * hands this callback evhttp's argument, not ours: the listener is all it
 * needs. */
static void
metricshttp_accept_error(struct evconnlistener *l, void *unused)
{
    static struct log_ratelimit rl = LOG_RATELIMIT_INIT(1);  /* Log lines only. */

    (void) unused;
    if (log_ratelimit_ok(&rl)) {
        log_warn("metrics: accept");
    }
    evconnlistener_disable(l);
}

static void
metricshttp_reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *text)
{
    struct evbuffer *buf = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (buf) {
        evbuffer_add(buf, text, strlen(text));
    }
    evhttp_send_reply(req, code, reason, buf);
    if (buf) {
        evbuffer_free(buf);
    }
}

static void
metricshttp_free_body(const void *data, size_t len, void *unused)
{
    (void) len;
    (void) unused;
    free((void *) data);
}

static void
metricshttp_request_cb(struct evhttp_request *req, void *aux)
{
    struct metricshttp *m = aux;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evbuffer *buf;
    char *body;

    if (!path || strcmp(path, "/metrics")) {
        m->st.not_found++;
        metricshttp_reply_text(req, HTTP_NOTFOUND, "Not Found",
                               "Not found: ctflushd serves /metrics only.\n");
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        m->st.bad_method++;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        metricshttp_reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
                               "Method not allowed: /metrics takes GET and HEAD.\n");
        return;
    }
    body = m->render(m->aux);
    buf = body ? evbuffer_new() : NULL;
    /* The body is handed over, not copied: it is freed once sent. */
    if (!buf || evbuffer_add_reference(buf, body, strlen(body), metricshttp_free_body, NULL)) {
        free(body);
        if (buf) {
            evbuffer_free(buf);
        }
        m->st.failures++;
        metricshttp_reply_text(req, HTTP_INTERNAL, "Internal Server Error",
                               "ctflushd could not render its metrics (out of memory).\n");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      METRICSHTTP_CONTENT_TYPE);
    if (cmd == EVHTTP_REQ_HEAD) {
        /* GET's length, and no body: evhttp would send the buffer even for
         * HEAD, and adds Content-Length only to replies that have one. */
        char len[32];
        snprintf(len, sizeof len, "%zu", evbuffer_get_length(buf));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
        evhttp_send_reply(req, HTTP_OK, "OK", NULL);
    } else {
        evhttp_send_reply(req, HTTP_OK, "OK", buf);
    }
    evbuffer_free(buf);
    m->st.scrapes++;
}

static int
metricshttp_listen_socket(const struct ctf_sockaddr *sa, char *err, size_t errlen)
{
    int one = 1, e;
    int fd = socket(sa->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        e = errno;
        metricshttp_err(err, errlen, e == EAFNOSUPPORT
                        ? "socket (is the address family allowed? under systemd, "
                          "systemctl daemon-reload and a restart apply it)"
                        : "socket", e);
        return -e;
    }
    /* A restart finds the port free despite connections in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
        /* [::]:PORT means IPv6 only, whatever the sysctl says: IPv4 is
         * asked for with its own address. */
        || (sa->ss.ss_family == AF_INET6
            && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)) {
        e = errno;
        metricshttp_err(err, errlen, "setsockopt", e);
        close(fd);
        return -e;
    }
    if (bind(fd, (const struct sockaddr *) &sa->ss, sa->len) < 0) {
        e = errno;
        metricshttp_err(err, errlen, "bind", e);
        close(fd);
        return -e;
    }
    if (listen(fd, METRICSHTTP_BACKLOG) < 0) {
        e = errno;
        metricshttp_err(err, errlen, "listen", e);
        close(fd);
        return -e;
    }
    return fd;
}

int
metricshttp_open(struct metricshttp **out, struct event_base *base,
                 const struct ctf_sockaddr *sa, const struct metricshttp_limits *limits,
                 metricshttp_render_fn *render, void *aux, char *err, size_t errlen)
{
    struct metricshttp *m;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    struct timeval tv, sweep;
    int fd;

    *out = NULL;
    if (err && errlen) {
        *err = '\0';
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        metricshttp_err(err, errlen, "metrics", ENOMEM);
        return ENOMEM;
    }
    TAILQ_INIT(&m->conns);
    m->base = base;
    m->render = render;
    m->aux = aux;
    if (limits) {
        m->limits = *limits;
    }
    if (!m->limits.max_conns) {
        m->limits.max_conns = METRICSHTTP_DEFAULT_MAX_CONNS;
    }
    if (!m->limits.max_header_bytes) {
        m->limits.max_header_bytes = METRICSHTTP_DEFAULT_MAX_HEADER_BYTES;
    }
    if (!m->limits.timeout_ms) {
        m->limits.timeout_ms = METRICSHTTP_DEFAULT_TIMEOUT_MS;
    }

    fd = metricshttp_listen_socket(sa, err, errlen);
    if (fd < 0) {
        free(m);
        return -fd;
    }
    if (getsockname(fd, (struct sockaddr *) &bound, &blen) == 0) {
        ctf_sockaddr_format((struct sockaddr *) &bound, m->st.address);
    }
    m->listener = evconnlistener_new(base, NULL, NULL,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!m->listener) {
        close(fd);
        goto nomem;
    }
    m->http = evhttp_new(base);
    if (!m->http || !evhttp_bind_listener(m->http, m->listener)) {
        evconnlistener_free(m->listener);   /* Not evhttp's yet. */
        m->listener = NULL;
        goto nomem;
    }
    m->sweep = event_new(base, -1, EV_PERSIST, metricshttp_sweep_cb, m);
    if (!m->sweep) {
        goto nomem;
    }
    tv = ctf_timeval_ms(m->limits.timeout_ms);
    sweep = ctf_timeval_ms(METRICSHTTP_SWEEP_MS);
    evhttp_set_timeout_tv(m->http, &tv);
    evhttp_set_max_headers_size(m->http, (ev_ssize_t) m->limits.max_header_bytes);
    /* No request here has a body. */
    evhttp_set_max_body_size(m->http, 0);
    /* Every method reaches the handler, which answers 405 (evhttp would say
     * 501 for those it was not told to allow). */
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD
                                        | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE
                                        | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE
                                        | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_bevcb(m->http, metricshttp_new_bev, m);
    evhttp_set_gencb(m->http, metricshttp_request_cb, m);
    evconnlistener_set_error_cb(m->listener, metricshttp_accept_error);
    if (event_add(m->sweep, &sweep)) {
        goto nomem;
    }
    *out = m;
    return 0;

nomem:
    metricshttp_close(m);
    metricshttp_err(err, errlen, "metrics", ENOMEM);
    return ENOMEM;
}

void
metricshttp_close(struct metricshttp *m)
{
    struct metricshttp_conn *c;

    if (!m) {
        return;
    }
    /* evhttp frees its listener and gives up every connection; then ours
     * are the last references. */
    if (m->http) {
        evhttp_free(m->http);
    }
    while ((c = TAILQ_FIRST(&m->conns)) != NULL) {
        metricshttp_conn_free(m, c);
    }
    if (m->sweep) {
        event_free(m->sweep);
    }
    free(m);
}

void
metricshttp_get_stats(const struct metricshttp *m, struct metricshttp_stats *st)
{
    if (!m) {
        memset(st, 0, sizeof *st);
        return;
    }
    *st = m->st;
}
