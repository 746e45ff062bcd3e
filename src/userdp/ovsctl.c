/*
 * ovsctl.c: ovs-vswitchd's unixctl socket (see ovsctl.h).
 *
 * ovs-vswitchd's replies are JSON objects one after another on the stream,
 * with nothing between them, so a reply ends where the JSON value ends:
 * jansson parses with JSON_DISABLE_EOF_CHECK and says how many bytes it
 * took; a value cut short means "read more", anything else is a protocol
 * error.
 */
#include "ovsctl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "num.h"

/* A reply bigger than this is not one we asked for (dump-conntrack is not
 * used; flush, version and ct-get-nconns answer in a line). */
#define OVSCTL_MAX_REPLY (16u << 20)

void
ovsctl_init(struct ovsctl *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

void
ovsctl_close(struct ovsctl *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

int
ovsctl_read_pid(const char *rundir, pid_t *pid)
{
    char path[4200], text[32];
    uint64_t v;

    snprintf(path, sizeof path, "%s/ovs-vswitchd.pid", rundir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    int err = n < 0 ? errno : 0;
    close(fd);
    if (err) {
        return err;
    }
    text[n] = '\0';
    text[strcspn(text, "\n")] = '\0';
    if (num_parse_u64(text, NUM_DEC, 1, INT32_MAX, &v, NULL, 0)) {
        return EINVAL;
    }
    *pid = (pid_t) v;
    return 0;
}

int
ovsctl_connect(struct ovsctl *c, const char *rundir, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    pid_t pid;
    int rc;

    ovsctl_close(c);
    rc = ovsctl_read_pid(rundir, &pid);
    if (rc) {
        snprintf(err, errlen, "%s/ovs-vswitchd.pid: %s", rundir,
                 rc == ENOENT ? "none (ovs-vswitchd is not running)"
                 : rc == EINVAL ? "not a pid" : strerror(rc));
        return rc;
    }
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (snprintf(sun.sun_path, sizeof sun.sun_path, "%s/ovs-vswitchd.%ld.ctl", rundir,
                 (long) pid) >= (int) sizeof sun.sun_path) {
        snprintf(err, errlen, "%s: the socket path is too long", rundir);
        return ENAMETOOLONG;
    }
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        rc = errno;
        snprintf(err, errlen, "socket: %s", strerror(rc));
        return rc;
    }
    /* A unix socket connects at once or fails at once (EAGAIN: the
     * listener's backlog is full, which is worth another try later). */
    if (connect(c->fd, (struct sockaddr *) &sun, sizeof sun) < 0) {
        rc = errno;
        snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(rc));
        ovsctl_close(c);
        return rc;
    }
    c->pid = pid;
    return 0;
}

/* Milliseconds left until deadline (monotonic), at least 0. */
static int
ovsctl_left(uint64_t deadline)
{
    uint64_t now = ctf_time_msec();

    return now >= deadline ? 0 : (int) (deadline - now);
}

static int
ovsctl_send_all(struct ovsctl *c, const char *p, size_t len, uint64_t deadline)
{
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN) {
            return errno;
        }
        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
        int left = ovsctl_left(deadline);
        if (!left) {
            return ETIMEDOUT;
        }
        if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
            return errno;
        }
    }
    return 0;
}

/* Reads more bytes into the buffer. Returns 0, ETIMEDOUT, ECONNRESET (the
 * peer closed) or an errno. */
static int
ovsctl_fill(struct ovsctl *c, uint64_t deadline)
{
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 8192;
            if (cap > OVSCTL_MAX_REPLY + 4096) {
                return EPROTO;
            }
            char *buf = realloc(c->buf, cap);
            if (!buf) {
                return ENOMEM;
            }
            c->buf = buf;
            c->cap = cap;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        if (n > 0) {
            c->len += (size_t) n;
            return 0;
        }
        if (n == 0) {
            return ECONNRESET;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            return errno;
        }
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int left = ovsctl_left(deadline);
        if (!left) {
            return ETIMEDOUT;
        }
        if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
            return errno;
        }
    }
}

/* The next whole JSON value in the buffer, or NULL with *err 0 (read more)
 * or EPROTO. */
static json_t *
ovsctl_next_value(struct ovsctl *c, int *err)
{
    json_error_t jerr;
    json_t *v;

    *err = 0;
    if (!c->len) {
        return NULL;
    }
    v = json_loadb(c->buf, c->len, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        if (json_error_code(&jerr) != json_error_premature_end_of_input) {
            *err = EPROTO;
        }
        return NULL;
    }
    size_t used = (size_t) jerr.position;
    if (used > c->len) {
        used = c->len;
    }
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    return v;
}

static char *
ovsctl_text(const json_t *v)
{
    /* OVS sends its errors as strings. */
    return strdup(json_is_string(v) ? json_string_value(v) : "(an error that is not a string)");
}

int
ovsctl_call(struct ovsctl *c, const char *method, const char *const *params, size_t n,
            unsigned int timeout_ms, char **result, char **error)
{
    uint64_t deadline = ctf_time_msec() + timeout_ms;
    unsigned int id = c->next_id++;
    int err = 0;

    *result = *error = NULL;
    if (c->fd < 0) {
        return ENOTCONN;
    }
    /* Written with our own writer: jansson's json_array(), json_string()
     * and json_object() share their names with libopenvswitch's accessors,
     * which the daemon's binary links for the watcher, and the binary's
     * definitions win. Reading (json_loadb, json_object_get) is safe. */
    struct json_out out;
    json_init(&out);
    json_object_begin(&out);
    json_key(&out, "method");
    json_str(&out, method);
    json_key(&out, "params");
    json_array_begin(&out);
    for (size_t i = 0; i < n; i++) {
        json_str(&out, params[i]);
    }
    json_array_end(&out);
    json_key(&out, "id");
    json_u64(&out, id);
    json_object_end(&out);
    const char *text = json_text(&out);
    if (!text) {
        json_destroy(&out);
        return ENOMEM;
    }
    err = ovsctl_send_all(c, text, strlen(text), deadline);
    json_destroy(&out);

    while (!err) {
        json_t *v = ovsctl_next_value(c, &err);
        if (!v) {
            if (!err) {
                err = ovsctl_fill(c, deadline);
            }
            continue;
        }
        json_t *vid = json_object_get(v, "id");
        if (!json_is_object(v) || !json_is_integer(vid)
            || json_integer_value(vid) != (json_int_t) id) {
            /* Not the answer to our request (a notification, a stale reply
             * of a call that timed out is impossible: we close on those). */
            json_decref(v);
            continue;
        }
        json_t *res = json_object_get(v, "result");
        json_t *e = json_object_get(v, "error");
        if (e && !json_is_null(e)) {
            *error = ovsctl_text(e);
            err = *error ? 0 : ENOMEM;
        } else if (res && json_is_string(res)) {
            *result = strdup(json_string_value(res));
            err = *result ? 0 : ENOMEM;
        } else {
            err = EPROTO;
        }
        json_decref(v);
        if (!err) {
            return 0;
        }
    }
    /* The stream is of no more use: a late reply would be taken for the
     * next call's. */
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->len = 0;
    return err;
}
