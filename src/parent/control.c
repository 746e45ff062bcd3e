/*
 * control.c: the control socket, served from the parent's event loop.
 *
 * libevent does the socket I/O, as it does for the child channels
 * (supervisor.c, watchlink.c): an evconnlistener accepts, and each client is
 * a socket bufferevent with its input and output buffers. Nothing here
 * blocks: libevent reads what the socket has and writes what it takes, and
 * the rest waits in the buffers, which the limits below keep bounded.
 *
 * How each limit of docs/protocol.md is expressed:
 * - max_request_bytes: the read high watermark is max_request_bytes + 1, so
 *   the input holds at most one longest line and its '\n'. A full input
 *   without a '\n' is "too-large"; libevent stops reading at the mark and
 *   the rest stays in the socket.
 * - back-pressure on unread replies: the write low watermark is half of
 *   max_output_bytes. Above it no further request of the client is handled
 *   and reading stops (its requests stay in the socket); libevent calls the
 *   write callback once the output has drained to the mark, which resumes
 *   them.
 * - unread replies over max_output_bytes, and over CONTROL_TOTAL_OUTPUT for
 *   all clients together: checked by hand each time a reply is queued. A
 *   watermark only signals a level; it refuses no bytes, and libevent has no
 *   bound across bufferevents.
 * - client-timeout-ms: one timer per client, by hand. A bufferevent read or
 *   write timeout is reset by every byte that moves, so a client dripping a
 *   byte at a time would never time out, and it cannot spare the clients
 *   that wait on jobs; the request deadline counts from the first byte of
 *   the request instead.
 * - max-clients and its reserve for peers that may mutate: at accept, before
 *   a bufferevent exists.
 * - fairness between clients: libevent reads at most one chunk per readable
 *   event (CONTROL_READ_CHUNK), and the listener is paused after
 *   CONTROL_ACCEPT_BURST connections so that a connect flood cannot hold the
 *   loop (evconnlistener itself accepts until the backlog is empty).
 *
 * bufferevents write with writev(), which takes no MSG_NOSIGNAL: the process
 * must ignore SIGPIPE (ctflushd does, before it opens the socket), or a
 * client that hangs up with replies pending would kill it.
 *
 * A client is never freed while anyone may hold a pointer to it: a handler,
 * a control_foreach_watching callback and this file's own line loop all keep
 * using the pointer after control_reply() may have found the client dead. So
 * "killing" a client gives its bufferevent back to libevent (which closes
 * the socket from the loop) and marks it dead; the client itself is released
 * by a reaper event that runs from the event loop on its own.
 */
#include "control.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "json.h"
#include "log.h"

/* Defaults for limits given as zero (those of config.h where it has them).
 * A zero client_timeout_ms is not replaced: it means "no timeouts". */
#define CONTROL_DEFAULT_MAX_CLIENTS 1024
/* Slots kept for peers that may mutate (root, the write group): the
 * operator's way in while read-only clients hold every other slot. */
#define CONTROL_PRIVILEGED_SLOTS 16
#define CONTROL_DEFAULT_MAX_REQUEST (64u * 1024)
#define CONTROL_DEFAULT_MAX_OUTPUT (4u * 1024 * 1024)
/* Unread replies over all clients. Without it the bound would be
 * max_clients x max_output_bytes (4 GiB at the defaults); over it, the
 * client holding the most is dropped. */
#define CONTROL_TOTAL_OUTPUT (64u * 1024 * 1024)

/* Bytes read from one client per readable event (bufferevent's max single
 * read): small enough that one busy client cannot starve the rest of the
 * loop. libevent 2.1 reads at most 4096 bytes a time anyway
 * (EVBUFFER_MAX_READ); this is the bound if a later one reads more. */
#define CONTROL_READ_CHUNK 16384

/* Connections accepted between two turns of the loop, for the same fairness
 * reason. */
#define CONTROL_ACCEPT_BURST 32

/* After accept() fails for lack of descriptors or memory the listener stays
 * readable; without a pause the loop would spin on it. */
#define CONTROL_ACCEPT_PAUSE_MS 500

/* The peer groups SO_PEERGROUPS can return without a second call. */
#define CONTROL_PEER_GROUPS 64

struct control_client {
    TAILQ_ENTRY(control_client) link;
    struct control *ctl;
    struct bufferevent *bev;        /* The socket and its buffers; NULL once dead. */
    struct evbuffer_cb_entry *out_cb;   /* Ours on the output: keeps out_total. */
    struct event *ev_timer;         /* The deadline of control_client_deadline(). */
    size_t scanned;                 /* Bytes of the input known to hold no '\n'. */
    bool in_pending;                /* The input held bytes when last looked at. */

    uid_t uid;                      /* SO_PEERCRED at accept time. */
    gid_t gid;
    pid_t pid;
    bool may_write;                 /* Computed once, at accept. */

    uint64_t last_progress_ms;      /* Last byte read or written, or accept. */
    uint64_t request_start_ms;      /* First byte of the unfinished request. */
    uint64_t replies;               /* Lines queued, to see if a handler replied. */

    bool read_eof;                  /* Peer shut down its sending side. */
    bool closing;                   /* Fatal error sent: flush, then close. */
    bool dead;                      /* Bufferevent freed; waiting for the reaper. */

    bool watching;
    uint64_t *watch_ids;
    size_t n_watch;
};

TAILQ_HEAD(control_client_list, control_client);

struct control {
    struct event_base *base;
    struct evconnlistener *listener;    /* Owns the listening socket. */
    char *path;
    bool bound;                     /* dev/ino name the socket file we bound, */
    dev_t dev;                      /* so that close unlinks only our own. */
    ino_t ino;
    struct event *ev_accept_pause;  /* Re-enables the listener after EMFILE. */
    struct event *ev_accept_turn;   /* Ends an accept burst: see control_accept_cb. */
    unsigned int accept_burst;      /* Accepted in this turn of the loop. */
    struct event *ev_reap;          /* Frees dead clients. */

    struct control_auth auth;
    struct control_limits limits;   /* Zeros already replaced by defaults. */
    control_request_fn *handler;
    void *aux;

    struct control_client_list clients;     /* Live and dead (until reaped). */
    struct control_stats stats;
    struct log_ratelimit log_rl;    /* Lines a client can trigger at will. */
    size_t out_total;               /* Unread reply bytes over live clients, kept
                                     * by control_out_cb so that the budget check
                                     * costs nothing per reply. */
};

static void control_client_update(struct control_client *);
static void control_client_timer_cb(evutil_socket_t, short, void *);

static void
control_limits_fill(struct control_limits *dst, const struct control_limits *src)
{
    if (src) {
        *dst = *src;
    } else {
        memset(dst, 0, sizeof *dst);
    }
    if (!dst->max_clients) {
        dst->max_clients = CONTROL_DEFAULT_MAX_CLIENTS;
    }
    if (!dst->max_request_bytes) {
        dst->max_request_bytes = CONTROL_DEFAULT_MAX_REQUEST;
    }
    if (!dst->max_output_bytes) {
        dst->max_output_bytes = CONTROL_DEFAULT_MAX_OUTPUT;
    }
}

/* ---- Creating the listening socket. ---- */

/* Removes the socket file if it is still the one we bound: another daemon
 * may have taken the path over since (after we were presumed dead), and its
 * socket is not ours to remove. */
static void
control_unlink_own(struct control *ctl)
{
    struct stat st;

    if (ctl->bound && !lstat(ctl->path, &st) && st.st_dev == ctl->dev
        && st.st_ino == ctl->ino) {
        unlink(ctl->path);
    }
    ctl->bound = false;
}

/* ---- Creating the listening socket. ---- */

/* The directory part of 'path' must exist: the daemon (or systemd's
 * RuntimeDirectory=) creates it with the right owner; creating it here would
 * guess at ownership and permissions. */
static int
control_check_parent(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    struct stat st;

    if (!slash) {
        return 0;               /* Relative to the working directory. */
    }
    if (slash == path) {
        snprintf(dir, sizeof dir, "/");
    } else {
        snprintf(dir, sizeof dir, "%.*s", (int) (slash - path), path);
    }
    if (stat(dir, &st)) {
        int error = errno;
        snprintf(err, errlen, "%s: directory %s: %s", path, dir, strerror(error));
        return error;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: %s is not a directory", path, dir);
        return ENOTDIR;
    }
    return 0;
}

/* Deals with whatever already exists at 'path'. A socket nobody listens on
 * (connect() says ECONNREFUSED) is left over from a daemon that died and is
 * removed; one that answers belongs to a running daemon, and starting a
 * second one would steal its clients. Anything that is not a socket is not
 * ours to delete. */
static int
control_clear_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
    const char *path = sun->sun_path;
    struct stat st;
    int error = 0;
    int fd;

    if (lstat(path, &st)) {
        if (errno == ENOENT) {
            return 0;
        }
        error = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(error));
        return error;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s: exists and is not a socket; not removing it", path);
        return EEXIST;
    }

    /* Non-blocking, so that a live daemon with a full backlog cannot hang
     * us here: that shows up as EAGAIN, which also means "alive". */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = errno;
        snprintf(err, errlen, "%s: socket: %s", path, strerror(error));
        return error;
    }
    if (!connect(fd, (const struct sockaddr *) sun, sizeof *sun)) {
        snprintf(err, errlen, "%s: another daemon is serving on this socket", path);
        error = EADDRINUSE;
    } else if (errno == EAGAIN || errno == EINPROGRESS) {
        snprintf(err, errlen, "%s: another daemon is serving on this socket "
                 "(its backlog is full)", path);
        error = EADDRINUSE;
    } else if (errno == ECONNREFUSED) {
        if (unlink(path) && errno != ENOENT) {
            error = errno;
            snprintf(err, errlen, "%s: removing stale socket: %s", path, strerror(error));
        } else {
            log_info("control: removed stale socket %s", path);
        }
    } else if (errno != ENOENT) {
        error = errno;
        snprintf(err, errlen, "%s: cannot tell whether the socket is in use: %s",
                 path, strerror(error));
    }
    close(fd);
    return error;
}

/* Binds and listens with the final owner and mode already in place. The
 * umask makes bind() create the file 0600, so nobody but us can reach it in
 * the moment before it gets its group and mode (and nobody can connect
 * before listen() anyway). The path is changed with lchown() and only after
 * lstat() says it is still a socket: the parent directory is expected to be
 * writable by root alone, and these checks keep a mistake there from
 * turning into a chmod of something else. */
static int
control_listen(struct control *ctl, const char *path, int *fdp, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    struct stat st;
    mode_t old_umask;
    int error;
    int fd;

    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (!*path) {
        snprintf(err, errlen, "control socket path is empty");
        return EINVAL;
    }
    if (strlen(path) >= sizeof sun.sun_path) {
        snprintf(err, errlen, "%s: path too long for a unix socket (%zu bytes at most)",
                 path, sizeof sun.sun_path - 1);
        return ENAMETOOLONG;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);

    error = control_check_parent(path, err, errlen);
    if (!error) {
        error = control_clear_stale(&sun, err, errlen);
    }
    if (error) {
        return error;
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = errno;
        snprintf(err, errlen, "%s: socket: %s", path, strerror(error));
        return error;
    }

    /* umask is process-wide; any thread creating files meanwhile gets a
     * stricter mode, never a looser one. */
    old_umask = umask(0177);
    if (bind(fd, (const struct sockaddr *) &sun, sizeof sun)) {
        error = errno;
        umask(old_umask);
        snprintf(err, errlen, "%s: bind: %s", path, strerror(error));
        close(fd);
        return error;
    }
    umask(old_umask);

    if (lstat(path, &st) || !S_ISSOCK(st.st_mode)) {
        error = EEXIST;
        snprintf(err, errlen, "%s: changed under us after bind", path);
        close(fd);
        return error;
    }
    ctl->dev = st.st_dev;
    ctl->ino = st.st_ino;
    ctl->bound = true;

    if (ctl->auth.group != (gid_t) -1
        && lchown(path, (uid_t) -1, ctl->auth.group)) {
        error = errno;
        snprintf(err, errlen, "%s: chown to group %u: %s", path,
                 (unsigned int) ctl->auth.group, strerror(error));
        goto fail;
    }
    if (lstat(path, &st) || st.st_ino != ctl->ino || st.st_dev != ctl->dev
        || !S_ISSOCK(st.st_mode)) {
        error = EEXIST;
        snprintf(err, errlen, "%s: changed under us after bind", path);
        goto fail;
    }
    if (chmod(path, ctl->auth.mode & 0777)) {
        error = errno;
        snprintf(err, errlen, "%s: chmod %03o: %s", path, ctl->auth.mode & 0777,
                 strerror(error));
        goto fail;
    }
    if (listen(fd, SOMAXCONN)) {
        error = errno;
        snprintf(err, errlen, "%s: listen: %s", path, strerror(error));
        goto fail;
    }
    *fdp = fd;
    return 0;

fail:
    close(fd);
    control_unlink_own(ctl);
    return error;
}

/* ---- Client life cycle. ---- */

static size_t
control_client_inlen(const struct control_client *c)
{
    return c->bev ? evbuffer_get_length(bufferevent_get_input(c->bev)) : 0;
}

static size_t
control_client_outlen(const struct control_client *c)
{
    return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

/* The watermarks that carry the limits (see the top of the file). */
static void
control_client_watermarks(struct control_client *c)
{
    const struct control_limits *l = &c->ctl->limits;
    size_t high = l->max_request_bytes < SIZE_MAX ? l->max_request_bytes + 1 : SIZE_MAX;

    bufferevent_setwatermark(c->bev, EV_READ, 0, high);
    bufferevent_setwatermark(c->bev, EV_WRITE, l->max_output_bytes / 2, 0);
}

/* Gives the bufferevent back to libevent, which closes the socket and frees
 * its buffers from the loop (bufferevent_free defers that to finalizers).
 * The unread replies leave the total budget at once. */
static void
control_client_release(struct control_client *c)
{
    struct evbuffer *out;

    if (!c->bev) {
        return;
    }
    out = bufferevent_get_output(c->bev);
    if (c->out_cb) {
        c->ctl->out_total -= evbuffer_get_length(out);
        evbuffer_remove_cb_entry(out, c->out_cb);
        c->out_cb = NULL;
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
}

/* Drops the client now (no more callbacks; libevent closes the socket from
 * the loop) and frees it later (see the top of the file). Safe to call more
 * than once. */
static void
control_client_kill(struct control_client *c)
{
    struct control *ctl = c->ctl;

    if (c->dead) {
        return;
    }
    c->dead = true;
    control_client_release(c);
    event_del(c->ev_timer);
    free(c->watch_ids);
    c->watch_ids = NULL;
    c->n_watch = 0;
    c->watching = false;
    ctl->stats.clients--;
    if (!c->may_write) {
        ctl->stats.readonly_clients--;
    }
    event_active(ctl->ev_reap, EV_TIMEOUT, 0);
}

static void
control_client_free(struct control_client *c)
{
    if (!c) {
        return;
    }
    control_client_release(c);
    if (c->ev_timer) {
        event_free(c->ev_timer);
    }
    free(c->watch_ids);
    free(c);
}

static void
control_reap_cb(evutil_socket_t fd, short what, void *ctl_)
{
    struct control *ctl = ctl_;
    struct control_client *c, *next;

    (void) fd;
    (void) what;
    for (c = TAILQ_FIRST(&ctl->clients); c; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->dead) {
            TAILQ_REMOVE(&ctl->clients, c, link);
            control_client_free(c);
        }
    }
}

/* Keeps out_total in step with every client's output buffer. Bytes leave
 * the buffer only when libevent writes them to the socket (a socket
 * bufferevent keeps the start of its output frozen), so that is progress. */
static void
control_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *c_)
{
    struct control_client *c = c_;

    (void) buf;
    c->ctl->out_total += info->n_added;
    c->ctl->out_total -= info->n_deleted;
    if (info->n_deleted) {
        c->last_progress_ms = ctf_time_msec();
    }
}

/* Drops the greediest readers while all unread replies together are over
 * CONTROL_TOTAL_OUTPUT: many clients that each stay under their own limit
 * must not add up to gigabytes. */
static void
control_enforce_total_output(struct control *ctl)
{
    while (ctl->out_total > CONTROL_TOTAL_OUTPUT) {
        struct control_client *c, *greediest = NULL;
        size_t most = 0;

        TAILQ_FOREACH (c, &ctl->clients, link) {
            size_t n = control_client_outlen(c);
            if (n > most) {
                most = n;
                greediest = c;
            }
        }
        if (!greediest) {
            return;
        }
        ctl->stats.dropped_slow++;
        if (log_ratelimit_ok(&ctl->log_rl)) {
            log_warnx("control: %zu bytes of replies unread over all clients: dropping "
                      "client pid %ld uid %u (%zu bytes)", ctl->out_total,
                      (long) greediest->pid, (unsigned int) greediest->uid, most);
        }
        control_client_kill(greediest);     /* Its replies leave the total. */
    }
}

/* Queues one line; libevent writes it once the socket is writable, after
 * the running callback. A client whose unread output goes over the limit
 * is not reading its replies and is dropped: holding on to more would let
 * one stuck client eat the daemon's memory. */
static void
control_client_send(struct control_client *c, const char *text, size_t len)
{
    struct control *ctl = c->ctl;
    size_t queued;

    if (c->dead || c->closing) {
        return;
    }
    c->replies++;
    if (bufferevent_write(c->bev, text, len) || bufferevent_write(c->bev, "\n", 1)) {
        control_client_kill(c);
        return;
    }
    queued = control_client_outlen(c);
    if (queued > ctl->limits.max_output_bytes) {
        ctl->stats.dropped_slow++;
        if (log_ratelimit_ok(&ctl->log_rl)) {
            log_warnx("control: dropping client pid %ld uid %u: %zu bytes of replies "
                      "unread", (long) c->pid, (unsigned int) c->uid, queued);
        }
        control_client_kill(c);
        return;
    }
    control_enforce_total_output(ctl);
}

/* An error reply, as JSON text without its newline, or NULL when out of
 * memory. The one place this file writes JSON. */
static char *
control_error_text(const char *code, const char *msg)
{
    struct json_out j;
    const char *text;
    char *copy = NULL;

    json_init(&j);
    ctlproto_reply_error(&j, code, msg);
    text = json_text(&j);
    if (text) {
        copy = strdup(text);
    }
    json_destroy(&j);
    return copy;
}

static void
control_client_send_error(struct control_client *c, const char *code, const char *msg)
{
    char *text = control_error_text(code, msg);

    if (text) {
        control_client_send(c, text, strlen(text));
    } else {
        control_client_kill(c);
    }
    free(text);
}

/* Sends a last error and closes once it is written: the input is discarded
 * (the stream is out of sync or the client out of time). */
static void
control_client_fail(struct control_client *c, const char *code, const char *msg)
{
    struct evbuffer *in;

    control_client_send_error(c, code, msg);
    if (c->dead) {
        return;
    }
    c->closing = true;
    in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    c->scanned = 0;
    c->in_pending = false;
    control_client_update(c);
}

static void
control_client_log_bad(struct control_client *c, const char *what, const char *msg)
{
    if (log_ratelimit_ok(&c->ctl->log_rl)) {
        log_warnx("control: %s from pid %ld uid %u: %s", what, (long) c->pid,
                  (unsigned int) c->uid, msg);
    }
}

/* ---- Requests. ---- */

static bool
control_line_is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!isspace((unsigned char) line[i])) {
            return false;
        }
    }
    return true;
}

/* One complete request line, without its newline. */
static void
control_client_request(struct control_client *c, const char *line, size_t len)
{
    struct control *ctl = c->ctl;
    struct ctlproto_request req;
    const char *code = CTL_E_INTERNAL;
    char msg[256] = "";
    uint64_t replies;
    int error;

    /* An empty line is not a request (a person typing into socat presses
     * Enter); it gets no reply, so it must not count as one. */
    if (control_line_is_blank(line, len)) {
        return;
    }
    ctl->stats.requests++;
    ctlproto_request_init(&req);
    /* The one call into the request parser. */
    error = ctlproto_request_parse(line, len, &req, &code, msg, sizeof msg);
    if (error) {
        ctl->stats.errors++;
        control_client_log_bad(c, "bad request", msg);
        control_client_send_error(c, code, msg);
        ctlproto_request_destroy(&req);
        return;
    }
    if (ctlproto_cmd_mutates(req.cmd) && !c->may_write) {
        ctl->stats.forbidden++;
        snprintf(msg, sizeof msg, "'%s' changes the daemon's state: it needs uid 0%s",
                 ctlproto_cmd_name(req.cmd),
                 ctl->auth.group_write && ctl->auth.group != (gid_t) -1
                 ? " or membership of the socket's group" : "");
        control_client_log_bad(c, "forbidden request", msg);
        control_client_send_error(c, CTL_E_FORBIDDEN, msg);
        ctlproto_request_destroy(&req);
        return;
    }

    replies = c->replies;
    ctl->handler(c, &req, ctl->aux);
    /* Every request gets exactly one reply line, or a client would wait
     * forever; a handler that forgot is a bug, answered here. */
    if (!c->dead && c->replies == replies && !c->watching) {
        if (log_ratelimit_ok(&ctl->log_rl)) {
            log_warnx("control: '%s' handler sent no reply", ctlproto_cmd_name(req.cmd));
        }
        control_client_send_error(c, CTL_E_INTERNAL, "the daemon sent no reply");
    }
    ctlproto_request_destroy(&req);
}

/* Replies to a client that is not reading them are held back: no further
 * requests are handled while more than half of the output limit (the write
 * low watermark) is waiting. The socket then fills and the client's own
 * writes block, which is the back-pressure a pipelining client needs; one
 * that never reads times out. */
static bool
control_client_gated(const struct control_client *c)
{
    return control_client_outlen(c) > c->ctl->limits.max_output_bytes / 2;
}

/* Handles every complete line in the input buffer. */
static void
control_client_process(struct control_client *c)
{
    struct control *ctl = c->ctl;
    size_t max = ctl->limits.max_request_bytes;
    bool too_large = false;

    while (!c->dead && !c->closing && !control_client_gated(c)) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        size_t avail = evbuffer_get_length(in);
        struct evbuffer_ptr start, eol;
        size_t eol_len = 0;
        unsigned char *line;

        if (!avail) {
            break;
        }
        /* Search only the bytes not searched before: a client sending one
         * byte at a time must not cost a rescan of its whole line each. */
        if (c->scanned > avail
            || evbuffer_ptr_set(in, &start, c->scanned, EVBUFFER_PTR_SET)) {
            c->scanned = 0;
            evbuffer_ptr_set(in, &start, 0, EVBUFFER_PTR_SET);
        }
        eol = evbuffer_search_eol(in, &start, &eol_len, EVBUFFER_EOL_LF);
        if (eol.pos < 0) {
            c->scanned = avail;
            if (avail > max) {
                too_large = true;   /* The read high watermark was reached. */
            } else if (c->read_eof) {
                /* The last request may lack its newline ("printf ... | nc -U"). */
                line = evbuffer_pullup(in, -1);
                if (!line) {
                    control_client_kill(c);
                    return;
                }
                control_client_request(c, (const char *) line, avail);
                if (c->dead) {
                    return;
                }
                evbuffer_drain(in, avail);
                c->scanned = 0;
            }
            break;
        }
        if ((size_t) eol.pos > max) {
            too_large = true;
            break;
        }
        line = evbuffer_pullup(in, eol.pos + (ev_ssize_t) eol_len);
        if (!line) {
            control_client_kill(c);
            return;
        }
        control_client_request(c, (const char *) line, (size_t) eol.pos);
        if (c->dead) {
            return;
        }
        evbuffer_drain(in, (size_t) eol.pos + eol_len);
        c->scanned = 0;
        c->last_progress_ms = ctf_time_msec();
        c->request_start_ms = c->last_progress_ms;
    }
    if (c->dead) {
        return;
    }
    c->in_pending = control_client_inlen(c) != 0;

    if (too_large) {
        char msg[128];

        ctl->stats.errors++;
        snprintf(msg, sizeof msg, "request line longer than %zu bytes", max);
        control_client_log_bad(c, "oversized request", msg);
        control_client_fail(c, CTL_E_TOO_LARGE, msg);
    }
}

/* ---- Deadlines. ---- */

/* The moment the client's current state runs out, or UINT64_MAX if it has
 * no deadline. */
static uint64_t
control_client_deadline(const struct control_client *c)
{
    uint64_t timeout = c->ctl->limits.client_timeout_ms;

    if (!timeout) {
        return UINT64_MAX;
    }
    if (!c->closing && control_client_inlen(c)) {
        return c->request_start_ms + timeout;   /* No slow-drip extension. */
    }
    if (!c->closing && c->watching && !control_client_outlen(c)) {
        return UINT64_MAX;
    }
    return c->last_progress_ms + timeout;
}

/* The timer is re-armed lazily: state changes only ever move a deadline
 * later than the pending timer, so when it fires the deadline is
 * recomputed and the timer set again if there is time left. */
static void
control_client_arm(struct control_client *c)
{
    uint64_t timeout = c->ctl->limits.client_timeout_ms;
    uint64_t deadline, now, ms;
    struct timeval tv;

    if (c->dead || !timeout) {
        return;
    }
    deadline = control_client_deadline(c);
    now = ctf_time_msec();
    ms = deadline == UINT64_MAX ? timeout : deadline > now ? deadline - now : 0;
    tv = ctf_timeval_ms(ms);
    event_add(c->ev_timer, &tv);
}

static void
control_client_timer_cb(evutil_socket_t fd, short what, void *c_)
{
    struct control_client *c = c_;
    struct control *ctl = c->ctl;
    uint64_t deadline = control_client_deadline(c);

    (void) fd;
    (void) what;
    if (c->dead) {
        return;
    }
    if (deadline == UINT64_MAX || ctf_time_msec() < deadline) {
        control_client_arm(c);
        return;
    }
    if (c->closing || c->read_eof) {
        control_client_kill(c);         /* Could not hand over the last words. */
    } else if (control_client_inlen(c)) {
        char msg[128];

        ctl->stats.timeouts++;
        snprintf(msg, sizeof msg, "request not completed within %u ms",
                 ctl->limits.client_timeout_ms);
        control_client_log_bad(c, "stalled request", msg);
        control_client_fail(c, CTL_E_TIMEOUT, msg);
        if (!c->dead) {
            control_client_arm(c);
        }
    } else if (control_client_outlen(c)) {
        ctl->stats.dropped_slow++;
        control_client_log_bad(c, "dropping client", "replies unread past the timeout");
        control_client_kill(c);
    } else {
        control_client_kill(c);         /* Idle: a plain close. */
    }
}

/* ---- bufferevent callbacks. ---- */

/* Sets reading to what the client's state calls for, and closes it once it
 * has nothing left to do. Writing stays enabled: libevent polls for it only
 * while the output holds bytes. */
static void
control_client_update(struct control_client *c)
{
    bool finished;

    if (c->dead) {
        return;
    }
    finished = c->closing
               || (c->read_eof && !control_client_inlen(c) && !c->watching);
    if (finished && !control_client_outlen(c)) {
        control_client_kill(c);
        return;
    }
    if (finished || c->read_eof || control_client_gated(c)) {
        bufferevent_disable(c->bev, EV_READ);
    } else {
        bufferevent_enable(c->bev, EV_READ);
    }
}

/* New bytes in the input (at most up to the read high watermark). */
static void
control_client_read_cb(struct bufferevent *bev, void *c_)
{
    struct control_client *c = c_;

    (void) bev;
    c->last_progress_ms = ctf_time_msec();
    if (!c->in_pending) {
        c->request_start_ms = c->last_progress_ms;
    }
    control_client_process(c);
    control_client_update(c);
}

/* The output drained to the write low watermark (or empty): lines held
 * back while it was fuller can go now, and a finished client can close. */
static void
control_client_write_cb(struct bufferevent *bev, void *c_)
{
    struct control_client *c = c_;

    (void) bev;
    control_client_process(c);
    control_client_update(c);
}

static void
control_client_event_cb(struct bufferevent *bev, short what, void *c_)
{
    struct control_client *c = c_;

    (void) bev;
    if ((what & BEV_EVENT_READING) && (what & BEV_EVENT_EOF)) {
        /* The peer shut down its sending side (libevent stopped reading);
         * its last request may lack the newline, and its replies are
         * still to be written. */
        c->read_eof = true;
        c->last_progress_ms = ctf_time_msec();
        control_client_process(c);
        control_client_update(c);
        return;
    }
    /* A read or write error (ECONNRESET, EPIPE): nobody left to answer. */
    control_client_kill(c);
}

/* ---- Accepting. ---- */

/* Whether 'group' is among the peer's supplementary groups as they were at
 * connect() time. SO_PEERGROUPS reads them from the socket itself: no race
 * with the peer exiting or changing credentials, and no NSS lookup that
 * could block the loop (getgrouplist() may ask LDAP). It exists since Linux
 * 4.13, older than any kernel ctflushd supports (Debian 12 has 6.1), so
 * there is no fallback (there was one reading /proc/PID/status): if the
 * call fails, the peer gets no group rights. */
static bool
control_peer_in_group(struct control *ctl, int fd, gid_t group)
{
    gid_t groups[CONTROL_PEER_GROUPS];
    gid_t *all = groups;
    socklen_t len = sizeof groups;
    bool found = false;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
        /* ERANGE: more groups than fit; len now says how many bytes. */
        all = errno == ERANGE && len > sizeof groups ? malloc(len) : NULL;
        if (!all || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, all, &len)) {
            if (log_ratelimit_ok(&ctl->log_rl)) {
                log_warn("control: SO_PEERGROUPS (no group rights for this peer)");
            }
            free(all);
            return false;
        }
    }
    for (size_t i = 0; i < len / sizeof all[0]; i++) {
        if (all[i] == group) {
            found = true;
            break;
        }
    }
    if (all != groups) {
        free(all);
    }
    return found;
}

static void
control_refuse_busy(struct control *ctl, int fd)
{
    char *text = control_error_text(CTL_E_BUSY, "too many control clients; try again later");

    if (text) {
        /* Best effort, on the bare socket (no bufferevent for one line): a
         * fresh socket has room for one short line. */
        char line[256];
        int n = snprintf(line, sizeof line, "%s\n", text);

        if (n > 0 && (size_t) n < sizeof line) {
            ssize_t ignored = send(fd, line, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void) ignored;
        }
    }
    free(text);
    close(fd);
    ctl->stats.refused_busy++;
}

static void
control_accept_one(struct control *ctl, int fd)
{
    struct control_client *c;
    struct ucred cred;
    socklen_t len = sizeof cred;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || len != sizeof cred) {
        if (log_ratelimit_ok(&ctl->log_rl)) {
            log_warn("control: SO_PEERCRED");
        }
        close(fd);
        return;
    }
    bool may_write = cred.uid == 0
                     || (ctl->auth.group_write && ctl->auth.group != (gid_t) -1
                         && (cred.gid == ctl->auth.group
                             || control_peer_in_group(ctl, fd, ctl->auth.group)));
    unsigned int reserved = ctl->limits.max_clients / 2;
    if (reserved > CONTROL_PRIVILEGED_SLOTS) {
        reserved = CONTROL_PRIVILEGED_SLOTS;
    }
    if (ctl->stats.clients >= ctl->limits.max_clients
        || (!may_write
            && ctl->stats.readonly_clients >= ctl->limits.max_clients - reserved)) {
        control_refuse_busy(ctl, fd);
        return;
    }

    c = calloc(1, sizeof *c);
    if (!c || !(c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
        free(c);
        close(fd);
        goto nomem;
    }
    c->ctl = ctl;
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->pid = cred.pid;
    c->may_write = may_write;
    c->ev_timer = evtimer_new(ctl->base, control_client_timer_cb, c);
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), control_out_cb, c);
    bufferevent_setcb(c->bev, control_client_read_cb, control_client_write_cb,
                      control_client_event_cb, c);
    bufferevent_set_max_single_read(c->bev, CONTROL_READ_CHUNK);
    control_client_watermarks(c);
    if (!c->ev_timer || !c->out_cb || bufferevent_enable(c->bev, EV_READ | EV_WRITE)) {
        control_client_free(c);     /* Closes the socket. */
        goto nomem;
    }
    c->last_progress_ms = ctf_time_msec();
    c->request_start_ms = c->last_progress_ms;
    TAILQ_INSERT_TAIL(&ctl->clients, c, link);
    ctl->stats.accepted++;
    ctl->stats.clients++;
    if (!may_write) {
        ctl->stats.readonly_clients++;
    }
    control_client_arm(c);
    return;

nomem:
    if (log_ratelimit_ok(&ctl->log_rl)) {
        log_warnx("control: out of memory accepting a client");
    }
}

static void
control_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                  int socklen, void *ctl_)
{
    struct control *ctl = ctl_;

    (void) sa;
    (void) socklen;
    control_accept_one(ctl, fd);
    /* evconnlistener accepts until the backlog is empty. The turn event,
     * activated by the first accept of a turn, runs once the listener and
     * the events ready with it have; after a full burst the listener sits
     * out until then. */
    if (ctl->accept_burst++ == 0) {
        event_active(ctl->ev_accept_turn, EV_TIMEOUT, 0);
    }
    if (ctl->accept_burst >= CONTROL_ACCEPT_BURST) {
        evconnlistener_disable(lev);
    }
}

static void
control_accept_turn_cb(evutil_socket_t fd, short what, void *ctl_)
{
    struct control *ctl = ctl_;
    bool full = ctl->accept_burst >= CONTROL_ACCEPT_BURST;

    (void) fd;
    (void) what;
    ctl->accept_burst = 0;
    if (full) {
        evconnlistener_enable(ctl->listener);
    }
}

/* accept() failed with something other than EAGAIN, EINTR or ECONNABORTED
 * (which libevent retries itself). */
static void
control_accept_error_cb(struct evconnlistener *lev, void *ctl_)
{
    struct control *ctl = ctl_;
    int error = EVUTIL_SOCKET_ERROR();

    if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        struct timeval tv = ctf_timeval_ms(CONTROL_ACCEPT_PAUSE_MS);

        if (log_ratelimit_ok(&ctl->log_rl)) {
            log_warnx("control: accept: %s (pausing new connections)", strerror(error));
        }
        evconnlistener_disable(lev);
        event_add(ctl->ev_accept_pause, &tv);
    } else if (log_ratelimit_ok(&ctl->log_rl)) {
        log_warnx("control: accept: %s", strerror(error));
    }
}

static void
control_accept_resume_cb(evutil_socket_t fd, short what, void *ctl_)
{
    struct control *ctl = ctl_;

    (void) fd;
    (void) what;
    evconnlistener_enable(ctl->listener);
}

/* ---- Public interface. ---- */

int
control_open(struct control **ctlp, struct event_base *base, const char *path,
             const struct control_auth *auth, const struct control_limits *limits,
             control_request_fn *handler, void *aux, char *err, size_t errlen)
{
    struct control *ctl;
    int error;
    int fd;

    *ctlp = NULL;
    if (errlen) {
        err[0] = '\0';
    }
    ctl = calloc(1, sizeof *ctl);
    if (!ctl) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    ctl->base = base;
    ctl->auth = *auth;
    control_limits_fill(&ctl->limits, limits);
    ctl->handler = handler;
    ctl->aux = aux;
    TAILQ_INIT(&ctl->clients);
    ctl->log_rl = (struct log_ratelimit) LOG_RATELIMIT_INIT(10);

    ctl->path = strdup(path);
    if (!ctl->path) {
        snprintf(err, errlen, "out of memory");
        free(ctl);
        return ENOMEM;
    }
    ctl->ev_accept_pause = evtimer_new(base, control_accept_resume_cb, ctl);
    ctl->ev_accept_turn = event_new(base, -1, 0, control_accept_turn_cb, ctl);
    ctl->ev_reap = event_new(base, -1, 0, control_reap_cb, ctl);
    if (!ctl->ev_accept_pause || !ctl->ev_accept_turn || !ctl->ev_reap) {
        snprintf(err, errlen, "%s: cannot set up events", path);
        control_close(ctl);
        return ENOMEM;
    }
    error = control_listen(ctl, path, &fd, err, errlen);
    if (error) {
        control_close(ctl);
        return error;
    }
    /* Backlog 0: control_listen has called listen() already, with the
     * final mode in place. */
    ctl->listener = evconnlistener_new(base, control_accept_cb, ctl,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!ctl->listener) {
        snprintf(err, errlen, "%s: cannot set up the listener", path);
        close(fd);
        control_close(ctl);
        return ENOMEM;
    }
    evconnlistener_set_error_cb(ctl->listener, control_accept_error_cb);
    *ctlp = ctl;
    return 0;
}

void
control_close(struct control *ctl)
{
    struct control_client *c;

    if (!ctl) {
        return;
    }
    while ((c = TAILQ_FIRST(&ctl->clients))) {
        TAILQ_REMOVE(&ctl->clients, c, link);
        /* libevent closes the descriptor only when the loop next runs (or
         * the base is freed); the peer is told now. */
        if (c->bev) {
            shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
        }
        control_client_free(c);
    }
    if (ctl->listener) {
        evconnlistener_free(ctl->listener);     /* Closes the socket. */
    }
    control_unlink_own(ctl);
    if (ctl->ev_accept_pause) {
        event_free(ctl->ev_accept_pause);
    }
    if (ctl->ev_accept_turn) {
        event_free(ctl->ev_accept_turn);
    }
    if (ctl->ev_reap) {
        event_free(ctl->ev_reap);
    }
    free(ctl->path);
    free(ctl);
}

void
control_set_limits(struct control *ctl, const struct control_limits *limits)
{
    struct control_client *c;

    control_limits_fill(&ctl->limits, limits);
    TAILQ_FOREACH (c, &ctl->clients, link) {
        if (c->dead) {
            continue;
        }
        control_client_watermarks(c);
        /* A shorter timeout must take effect now, not when each pending
         * timer (armed with the old one) fires. */
        if (ctl->limits.client_timeout_ms) {
            control_client_arm(c);
        } else {
            event_del(c->ev_timer);
        }
    }
}

void
control_get_stats(const struct control *ctl, struct control_stats *stats)
{
    *stats = ctl->stats;
    stats->output_bytes = ctl->out_total;
}

void
control_reply(struct control_client *c, const char *json_text)
{
    size_t len;

    if (!json_text) {
        /* json_text() gives NULL when the reply ran out of memory. */
        control_client_send_error(c, CTL_E_INTERNAL, "out of memory building the reply");
        return;
    }
    /* A raw newline would split the reply into two lines and put every
     * later reply out of step with its request. The JSON writer never emits
     * one; text from elsewhere might. */
    len = strlen(json_text);
    if (memchr(json_text, '\n', len)) {
        if (log_ratelimit_ok(&c->ctl->log_rl)) {
            log_warnx("control: reply with a raw newline not sent");
        }
        control_client_send_error(c, CTL_E_INTERNAL, "malformed reply");
        return;
    }
    control_client_send(c, json_text, len);
}

void
control_reply_error(struct control_client *c, const char *code, const char *msg)
{
    control_client_send_error(c, code, msg);
}

bool
control_client_may_write(const struct control_client *c)
{
    return c->may_write;
}

uid_t
control_client_uid(const struct control_client *c)
{
    return c->uid;
}

pid_t
control_client_pid(const struct control_client *c)
{
    return c->pid;
}

int
control_client_watch(struct control_client *c, const uint64_t *ids, size_t n)
{
    uint64_t *copy = NULL;

    if (c->dead) {
        return 0;               /* Gone: nothing will be listed anyway. */
    }
    if (n) {
        copy = malloc(n * sizeof *copy);
        if (!copy) {
            return ENOMEM;
        }
        memcpy(copy, ids, n * sizeof *copy);
    }
    free(c->watch_ids);
    c->watch_ids = copy;
    c->n_watch = n;
    c->watching = true;
    return 0;
}

void
control_client_unwatch(struct control_client *c)
{
    if (!c->watching) {
        return;
    }
    free(c->watch_ids);
    c->watch_ids = NULL;
    c->n_watch = 0;
    c->watching = false;
    /* The idle clock starts now, not at the last byte before the wait. */
    c->last_progress_ms = ctf_time_msec();
    /* A client that half-closed while watching is done once this drains. */
    control_client_update(c);
}

const uint64_t *
control_client_watched(const struct control_client *c, size_t *n)
{
    *n = c->n_watch;
    return c->watch_ids;
}

void
control_foreach_watching(struct control *ctl, control_client_fn *fn, void *aux)
{
    struct control_client *c;

    /* Dead clients stay in the list until the reaper runs from the loop, so
     * a callback that gets its client dropped does not break the walk. */
    TAILQ_FOREACH (c, &ctl->clients, link) {
        if (!c->dead && c->watching) {
            fn(c, aux);
        }
    }
}
