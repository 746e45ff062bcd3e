/*
 * ctflushctl.c: the operator's client for ctflushd's control socket.
 *
 * The command line becomes a request (ctlargs), the request one JSON line on
 * the socket, and the one reply line is printed (ctlout). flush --wait then
 * reads event lines until the "end" event. This file is only the socket
 * I/O and the exit codes scripts rely on:
 *   0  success;
 *   1  the request failed: an error reply, or a waited-on job failed;
 *   2  usage error;
 *   3  the daemon could not be reached or stopped answering: connect failed,
 *      connection lost, timeout, or a reply that is not the protocol.
 * A reply we cannot read counts as 3, like a timeout: in both cases we do
 * not know whether the daemon did what was asked, and a script should treat
 * that as "try again", not as "refused".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlargs.h"
#include "ctlout.h"
#include "ctlproto.h"
#include "json.h"
#include "log.h"

enum {
    CTFLUSHCTL_EXIT_OK = 0,
    CTFLUSHCTL_EXIT_FAILED = 1,
    CTFLUSHCTL_EXIT_USAGE = 2,
    CTFLUSHCTL_EXIT_UNREACHABLE = 3,
};

/* Longest reply or event line accepted. Replies are bounded by the daemon's
 * history and port count; this only stops a runaway peer from eating all
 * memory. */
#define CTFLUSHCTL_MAX_LINE (64u * 1024 * 1024)

struct ctflushctl_conn {
    int fd;
    const char *path;           /* For messages. */
    char *buf;                  /* Bytes read and not yet returned as lines. */
    size_t start;               /* First byte of the next line. */
    size_t len;                 /* End of the bytes read. */
    size_t scanned;             /* buf[start..scanned) holds no newline: a
                                 * long line is searched once, not on every
                                 * read. */
    size_t cap;
};

static void
ctflushctl_conn_init(struct ctflushctl_conn *c, const char *path)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->path = path;
}

static void
ctflushctl_conn_close(struct ctflushctl_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->buf);
    ctflushctl_conn_init(c, c->path);
}

/* Milliseconds left until deadline (a ctf_time_msec() value), for poll():
 * -1 when there is no deadline, 0 when it has passed. */
static int
ctflushctl_poll_ms(uint64_t deadline)
{
    uint64_t now;

    if (!deadline) {
        return -1;
    }
    now = ctf_time_msec();
    if (now >= deadline) {
        return 0;
    }
    return deadline - now > INT32_MAX ? INT32_MAX : (int) (deadline - now);
}

/* Waits until fd is ready for events. Returns 0, ETIMEDOUT, or an errno. */
static int
ctflushctl_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = events };
        int n = poll(&pfd, 1, ctflushctl_poll_ms(deadline));

        if (n > 0) {
            return 0;           /* Errors and hangups show in the next call. */
        } else if (!n) {
            return ETIMEDOUT;
        } else if (errno != EINTR) {
            return errno;
        }
    }
}

/* Connects, waiting at most timeout_ms: a daemon whose listen backlog is full
 * makes connect() block, and SO_SNDTIMEO is what bounds that wait for unix
 * stream sockets. The socket is then made non-blocking for poll(). */
static int
ctflushctl_connect(struct ctflushctl_conn *c, unsigned int timeout_ms)
{
    struct sockaddr_un sun;
    struct timeval tv = {
        .tv_sec = timeout_ms / 1000,
        .tv_usec = (suseconds_t) (timeout_ms % 1000) * 1000,
    };
    int fd, error;

    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (strlen(c->path) >= sizeof sun.sun_path) {
        return ENAMETOOLONG;    /* ctlargs refuses these; stay safe anyway. */
    }
    strcpy(sun.sun_path, c->path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv)) {
        error = errno;
        goto fail;
    }
    while (connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        if (errno != EINTR) {
            error = errno;
            goto fail;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        error = errno;
        goto fail;
    }
    c->fd = fd;
    return 0;

fail:
    close(fd);
    return error;
}

/* Writes all of data before deadline. MSG_NOSIGNAL: a daemon that goes away
 * mid-request is an error to report, not a SIGPIPE to die of. */
static int
ctflushctl_send(struct ctflushctl_conn *c, const char *data, size_t len, uint64_t deadline)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

        if (n > 0) {
            data += n;
            len -= (size_t) n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int error = ctflushctl_wait(c->fd, POLLOUT, deadline);
            if (error) {
                return error;
            }
        } else if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
    return 0;
}

/* Reads the next line (without its newline) before deadline (0: none).
 * *line points into the connection's buffer and is valid until the next
 * call. Returns 0 with *line set; 0 with *line NULL when the daemon closed
 * the connection first (a cut line counts as none); E2BIG for a line over
 * CTFLUSHCTL_MAX_LINE; ETIMEDOUT; ENOMEM; or the errno of a failed read. */
static int
ctflushctl_read_line(struct ctflushctl_conn *c, uint64_t deadline, char **line, size_t *len)
{
    *line = NULL;
    *len = 0;
    for (;;) {
        /* No memchr on the NULL buffer of a fresh connection, even for 0
         * bytes: that is undefined behaviour. */
        char *nl = c->len > c->scanned
                   ? memchr(c->buf + c->scanned, '\n', c->len - c->scanned) : NULL;

        if (nl) {
            *line = c->buf + c->start;
            *len = (size_t) (nl - *line);
            c->start = c->scanned = (size_t) (nl - c->buf) + 1;
            return 0;
        }
        c->scanned = c->len;
        if (c->len - c->start > CTFLUSHCTL_MAX_LINE) {
            return E2BIG;
        }

        /* Make room: first reuse what earlier lines freed, then grow. */
        if (c->start) {
            memmove(c->buf, c->buf + c->start, c->len - c->start);
            c->len -= c->start;
            c->scanned -= c->start;
            c->start = 0;
        }
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 65536;
            char *buf = realloc(c->buf, cap);
            if (!buf) {
                return ENOMEM;
            }
            c->buf = buf;
            c->cap = cap;
        }

        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (size_t) n;
        } else if (!n) {
            return 0;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int error = ctflushctl_wait(c->fd, POLLIN, deadline);
            if (error) {
                return error;
            }
        } else if (errno != EINTR) {
            return errno;
        }
    }
}

/* Reads and parses one line; on failure says why on stderr and returns
 * the exit code. what names the line for messages ("reply", "event"). */
static int
ctflushctl_read_json(struct ctflushctl_conn *c, uint64_t deadline, unsigned int timeout_ms,
                     const char *what, json_t **out)
{
    char *line, why[256];
    size_t len;
    int error;

    *out = NULL;
    error = ctflushctl_read_line(c, deadline, &line, &len);
    if (error == ETIMEDOUT) {
        fprintf(stderr, "ctflushctl: %s: no %s within %g s (%s)\n", c->path, what,
                timeout_ms / 1000.0, strerror(error));
        return CTFLUSHCTL_EXIT_UNREACHABLE;
    } else if (error == E2BIG) {
        fprintf(stderr, "ctflushctl: %s: %s line longer than %u bytes\n", c->path, what,
                CTFLUSHCTL_MAX_LINE);
        return CTFLUSHCTL_EXIT_UNREACHABLE;
    } else if (error) {
        fprintf(stderr, "ctflushctl: %s: reading the %s: %s\n", c->path, what,
                strerror(error));
        return CTFLUSHCTL_EXIT_UNREACHABLE;
    } else if (!line) {
        fprintf(stderr, "ctflushctl: %s: connection closed by ctflushd before the %s\n",
                c->path, what);
        return CTFLUSHCTL_EXIT_UNREACHABLE;
    }
    error = json_parse(line, len, out, why, sizeof why);
    if (error || !json_is_object(*out)) {
        fprintf(stderr, "ctflushctl: %s: the %s is not a JSON object: %s\n", c->path, what,
                error ? why : "wrong type");
        json_decref(*out);
        *out = NULL;
        return CTFLUSHCTL_EXIT_UNREACHABLE;
    }
    return CTFLUSHCTL_EXIT_OK;
}

/* flush --wait: follows the job(s) until the "end" event. There is no
 * deadline here: a job may wait in the queue behind others for a long time
 * without a word, so only a lost connection ends the wait early. */
static int
ctflushctl_follow(struct ctflushctl_conn *c, const struct ctlargs *args,
                  const json_t *result)
{
    const json_t *first = json_array_get(json_object_get(result, "jobs"), 0);
    bool tty = isatty(STDERR_FILENO);
    bool drawn = false;         /* A progress line is on the terminal. */

    if (tty && json_is_integer(first) && json_integer_value(first) >= 0) {
        fprintf(stderr, "\r[job %" JSON_INTEGER_FORMAT "] waiting\033[K",
                json_integer_value(first));
        fflush(stderr);
        drawn = true;
    }
    for (;;) {
        json_t *ev;
        int rc;

        rc = ctflushctl_read_json(c, 0, 0, "job event", &ev);
        if (rc) {
            if (drawn) {
                fputc('\n', stderr);
            }
            fprintf(stderr, "ctflushctl: %s: lost track of the job(s); they may still "
                    "run (see 'ctflushctl jobs')\n", c->path);
            return rc;
        }

        const char *event = json_string_value(json_object_get(ev, "event"));
        if (event && !strcmp(event, "progress")) {
            if (tty) {
                ctlout_progress(stderr, json_object_get(ev, "job"));
                fflush(stderr);
                drawn = true;
            }
        } else if (event && !strcmp(event, "end")) {
            if (drawn) {
                fputc('\n', stderr);
            }
            if (args->json) {
                ctlout_json(stdout, ev);
            } else {
                ctlout_wait_end(stdout, ev);
            }
            fflush(stdout);
            rc = ctlout_wait_check(stderr, ev) ? CTFLUSHCTL_EXIT_OK : CTFLUSHCTL_EXIT_FAILED;
            json_decref(ev);
            return rc;
        }
        /* Other events are a newer daemon's: skip them. */
        json_decref(ev);
    }
}

/* Sends the request and handles the reply. Returns the exit code. */
static int
ctflushctl_run(const struct ctlargs *args)
{
    struct ctflushctl_conn c;
    struct json_out req;
    json_t *reply = NULL;
    const json_t *ok;
    uint64_t deadline;
    int rc, error;

    json_init(&req);
    ctlproto_request_encode(&args->req, &req);
    if (!json_text(&req)) {
        fprintf(stderr, "ctflushctl: cannot encode the request: %s\n", strerror(ENOMEM));
        json_destroy(&req);
        return CTFLUSHCTL_EXIT_FAILED;
    }

    ctflushctl_conn_init(&c, args->socket_path);
    deadline = ctf_time_msec() + args->timeout_ms;
    error = ctflushctl_connect(&c, args->timeout_ms);
    if (error) {
        fprintf(stderr, "ctflushctl: %s: cannot connect to ctflushd: %s\n", c.path,
                strerror(error));
        rc = CTFLUSHCTL_EXIT_UNREACHABLE;
        goto out;
    }
    error = ctflushctl_send(&c, json_text(&req), strlen(json_text(&req)), deadline);
    if (!error) {
        error = ctflushctl_send(&c, "\n", 1, deadline);
    }
    json_destroy(&req);
    if (error == ETIMEDOUT) {
        fprintf(stderr, "ctflushctl: %s: request not taken within %g s (%s)\n", c.path,
                args->timeout_ms / 1000.0, strerror(error));
        rc = CTFLUSHCTL_EXIT_UNREACHABLE;
        goto out;
    } else if (error && error != EPIPE && error != ECONNRESET) {
        fprintf(stderr, "ctflushctl: %s: sending the request: %s\n", c.path, strerror(error));
        rc = CTFLUSHCTL_EXIT_UNREACHABLE;
        goto out;
    }
    /* After EPIPE/ECONNRESET the daemon may still have said why it hung up
     * (a "too-large" reply, say): read on and report that if it is there. */

    rc = ctflushctl_read_json(&c, deadline, args->timeout_ms, "reply", &reply);
    if (rc) {
        if (error) {
            fprintf(stderr, "ctflushctl: %s: sending the request: %s\n", c.path,
                    strerror(error));
        }
        goto out;
    }
    ok = json_object_get(reply, "ok");
    if (!json_is_boolean(ok)) {
        fprintf(stderr, "ctflushctl: %s: the reply has no \"ok\" member\n", c.path);
        rc = CTFLUSHCTL_EXIT_UNREACHABLE;
        goto out;
    }
    if (json_is_false(ok)) {
        const json_t *err = json_object_get(reply, "error");

        ctlout_error(stderr, err);
        if (args->json) {
            ctlout_json_error(stdout, err);
        }
        rc = CTFLUSHCTL_EXIT_FAILED;
        goto out;
    }

    const json_t *result = json_object_get(reply, "result");
    if (args->req.cmd == CTL_CMD_FLUSH && args->req.wait) {
        rc = ctflushctl_follow(&c, args, result);
    } else {
        error = args->json ? ctlout_json(stdout, result)
                           : ctlout_result(stdout, args->req.cmd, result);
        if (error) {
            fprintf(stderr, "ctflushctl: printing the reply: %s\n", strerror(error));
            rc = CTFLUSHCTL_EXIT_FAILED;
        }
    }

out:
    json_decref(reply);
    json_destroy(&req);
    ctflushctl_conn_close(&c);
    return rc;
}

int
main(int argc, char *argv[])
{
    struct ctlargs args;
    char err[512];
    int rc;

    ctlargs_init(&args);
    if (ctlargs_parse(&args, argc, argv, getenv(CTLARGS_SOCKET_ENV), err, sizeof err)) {
        fprintf(stderr, "ctflushctl: %s\n", err);
        ctlargs_usage(stderr, args.command);
        rc = CTFLUSHCTL_EXIT_USAGE;
    } else if (args.action == CTLARGS_HELP) {
        ctlargs_help(stdout, args.help_topic);
        rc = CTFLUSHCTL_EXIT_OK;
    } else if (args.action == CTLARGS_VERSION) {
        printf("ctflushctl %s\n", CTF_VERSION);
        rc = CTFLUSHCTL_EXIT_OK;
    } else {
        rc = ctflushctl_run(&args);
    }
    ctlargs_destroy(&args);

    /* Output that did not reach its reader is a failure a script must see. */
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "ctflushctl: writing the output: %s\n", strerror(errno));
        if (!rc) {
            rc = CTFLUSHCTL_EXIT_FAILED;
        }
    }
    return rc;
}
