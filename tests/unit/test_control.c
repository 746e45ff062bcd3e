/*
 * test_control.c: unit tests for control.c, the control socket.
 *
 * A real event_base runs in the test process with control_open() on a socket
 * in a fresh temporary directory. Clients are plain non-blocking sockets
 * driven from the test; while waiting for a reply the test pumps the loop
 * (EVLOOP_NONBLOCK) and polls the client, with a deadline, so that a loop
 * that blocked or a reply that never came fails the test instead of hanging.
 * The authorisation tests fork children that drop to uid 65534 before they
 * connect; they are skipped when the test does not run as root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <linux/sockios.h>

#include "control.h"
#include "ctlproto.h"
#include "json.h"
#include "log.h"

#define NOBODY 65534
#define TEST_GROUP 4242         /* Need not exist in /etc/group. */
#define DEADLINE_MS 5000

struct fixture {
    char dir[64];
    char path[128];
    struct event_base *base;
    struct control *ctl;
    unsigned int calls[CTL_CMD_N];  /* Requests that reached the handler. */
    size_t flood_lines;             /* metrics: how many lines to send... */
    size_t flood_size;              /* ...of about this many bytes. */
    uint64_t flood_ms;              /* How long the flooding handler took. */
};

struct client {
    int fd;
    char buf[16384];
    size_t len;
};

/* ---- The handler the daemon would provide. ---- */

static void
reply_result_u64(struct control_client *c, const char *key, uint64_t v)
{
    struct json_out j;

    json_init(&j);
    ctlproto_reply_ok_begin(&j);
    json_object_begin(&j);
    json_key(&j, key);
    json_u64(&j, v);
    json_object_end(&j);
    ctlproto_reply_end(&j);
    control_reply(c, json_text(&j));
    json_destroy(&j);
}

static void
test_handler(struct control_client *c, struct ctlproto_request *req, void *aux)
{
    struct fixture *f = aux;

    f->calls[req->cmd]++;
    switch (req->cmd) {
    case CTL_CMD_STATUS:
        reply_result_u64(c, "uid", control_client_uid(c));
        break;
    case CTL_CMD_JOBS:
        /* Echoes the limit, so pipelined replies can be told apart. */
        reply_result_u64(c, "limit", req->limit);
        break;
    case CTL_CMD_METRICS: {
        /* Far more than a client that does not read can be allowed. */
        uint64_t start = ctf_time_msec();
        char *text = malloc(f->flood_size + 64);

        assert_non_null(text);
        for (size_t i = 0; i < f->flood_lines; i++) {
            size_t n = (size_t) snprintf(text, 64, "{\"ok\":true,\"result\":{\"text\":\"");
            memset(text + n, 'm', f->flood_size);
            snprintf(text + n + f->flood_size, 8, "\"}}");
            control_reply(c, text);
        }
        free(text);
        f->flood_ms = ctf_time_msec() - start;
        break;
    }
    case CTL_CMD_CANCEL: {
        /* Stands in for "flush --wait": reply, then follow the job. */
        assert_int_equal(control_client_watch(c, &req->id, 1), 0);
        reply_result_u64(c, "id", req->id);
        break;
    }
    case CTL_CMD_PORTS:
        break;                  /* A buggy handler: control.c must answer. */
    case CTL_CMD_RELOAD:
        control_reply(c, "{\"ok\":true,\n\"result\":null}");     /* Buggy too. */
        break;
    case CTL_CMD_RESUME:
    case CTL_CMD_FLUSH:
    case CTL_CMD_PAUSE:
    case CTL_CMD_SET_IPS:
    default:
        control_reply(c, "{\"ok\":true,\"result\":null}");
        break;
    }
}

/* ---- Fixture. ---- */

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f) {
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/test_control.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    /* The authorisation tests connect as nobody, who must reach the socket. */
    chmod(f->dir, 0755);
    snprintf(f->path, sizeof f->path, "%s/ctl.sock", f->dir);
    f->base = event_base_new();
    if (!f->base) {
        rmdir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char other[160];

    control_close(f->ctl);
    event_base_free(f->base);
    unlink(f->path);
    snprintf(other, sizeof other, "%s/other", f->dir);
    unlink(other);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const struct control_limits default_limits = {
    .max_clients = 8,
    .max_request_bytes = 4096,
    .client_timeout_ms = 5000,
    .max_output_bytes = 1 << 20,
};

static const struct control_auth default_auth = {
    .group = (gid_t) -1,
    .group_write = false,
    .mode = 0660,
};

/* Without an explicit auth the test's own group may write, so that the tests
 * of everything but authorisation pass without root too. */
static void
open_control(struct fixture *f, const struct control_limits *limits,
             const struct control_auth *auth)
{
    struct control_auth own = default_auth;
    char err[256] = "";

    own.group = getegid();
    own.group_write = true;
    int error = control_open(&f->ctl, f->base, f->path, auth ? auth : &own,
                             limits ? limits : &default_limits, test_handler, f,
                             err, sizeof err);
    if (error) {
        fail_msg("control_open: %s", err);
    }
}

/* Runs the loop until nothing is ready. */
static void
pump(struct fixture *f)
{
    event_base_loop(f->base, EVLOOP_NONBLOCK);
}

/* One turn of the loop: a callback that keeps itself ready (a listener
 * spinning on EMFILE) cannot hold the test in it. */
static void
pump_once(struct fixture *f)
{
    event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static struct control_stats
stats(struct fixture *f)
{
    struct control_stats s;

    control_get_stats(f->ctl, &s);
    return s;
}

/* Pumps the loop until the accepted client count reaches n. */
static void
wait_clients(struct fixture *f, unsigned int n)
{
    uint64_t deadline = ctf_time_msec() + DEADLINE_MS;

    while (stats(f).clients != n) {
        if (ctf_time_msec() > deadline) {
            fail_msg("clients stayed at %u, expected %u", stats(f).clients, n);
        }
        pump(f);
        poll(NULL, 0, 1);
    }
}

/* ---- Clients. ---- */

/* Safe in a forked child too: no cmocka. */
static struct sockaddr_un
sun_make(const char *path)
{
    struct sockaddr_un sun;
    size_t len = strlen(path);

    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (len >= sizeof sun.sun_path) {
        abort();
    }
    memcpy(sun.sun_path, path, len + 1);
    return sun;
}

static int
sock_connect(const char *path)
{
    struct sockaddr_un sun = sun_make(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        close(fd);
        return -1;
    }
    return fd;
}

static struct client *
client_new(struct fixture *f)
{
    struct client *cl = calloc(1, sizeof *cl);

    assert_non_null(cl);
    cl->fd = sock_connect(f->path);
    if (cl->fd < 0) {
        fail_msg("connect %s: %s", f->path, strerror(errno));
    }
    return cl;
}

static void
client_free(struct client *cl)
{
    if (cl) {
        if (cl->fd >= 0) {
            close(cl->fd);
        }
        free(cl);
    }
}

static void
client_send(struct fixture *f, struct client *cl, const char *text, size_t len)
{
    uint64_t deadline = ctf_time_msec() + DEADLINE_MS;
    size_t done = 0;

    while (done < len) {
        ssize_t n = send(cl->fd, text + done, len - done, MSG_NOSIGNAL);

        if (n > 0) {
            done += (size_t) n;
            continue;
        }
        if (n < 0 && errno != EAGAIN) {
            fail_msg("send: %s", strerror(errno));
        }
        if (ctf_time_msec() > deadline) {
            fail_msg("send: the daemon does not read");
        }
        pump(f);
        poll(NULL, 0, 1);
    }
}

static void
client_send_str(struct fixture *f, struct client *cl, const char *text)
{
    client_send(f, cl, text, strlen(text));
}

/* What one wait on a client brought. */
enum client_got { GOT_LINE, GOT_EOF, GOT_NOTHING };

/* Pumps the loop until the client has a whole line (copied to 'line',
 * without its newline), sees the connection end, or wait_ms passes. */
static enum client_got
client_wait(struct fixture *f, struct client *cl, char *line, size_t size, int wait_ms)
{
    uint64_t deadline = ctf_time_msec() + (uint64_t) wait_ms;

    for (;;) {
        char *nl = memchr(cl->buf, '\n', cl->len);

        if (nl) {
            size_t n = (size_t) (nl - cl->buf);

            assert_true(n < size);
            memcpy(line, cl->buf, n);
            line[n] = '\0';
            memmove(cl->buf, nl + 1, cl->len - n - 1);
            cl->len -= n + 1;
            return GOT_LINE;
        }
        if (cl->len == sizeof cl->buf) {
            fail_msg("line longer than the test's buffer");
        }
        ssize_t r = recv(cl->fd, cl->buf + cl->len, sizeof cl->buf - cl->len, MSG_DONTWAIT);
        if (r > 0) {
            cl->len += (size_t) r;
            continue;
        }
        /* A socket closed with our unread request still queued ends in
         * ECONNRESET rather than EOF; both mean "closed". */
        if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE))) {
            return GOT_EOF;
        }
        if (r < 0 && errno != EAGAIN) {
            fail_msg("recv: %s", strerror(errno));
        }
        if (ctf_time_msec() >= deadline) {
            return GOT_NOTHING;
        }
        pump(f);
        struct pollfd pfd = { .fd = cl->fd, .events = POLLIN };
        poll(&pfd, 1, 2);
    }
}

static void
expect_line(struct fixture *f, struct client *cl, char *line, size_t size)
{
    enum client_got got = client_wait(f, cl, line, size, DEADLINE_MS);

    if (got != GOT_LINE) {
        fail_msg("expected a reply line, got %s", got == GOT_EOF ? "EOF" : "nothing");
    }
}

static void
expect_reply(struct fixture *f, struct client *cl, const char *expected)
{
    char line[4096];

    expect_line(f, cl, line, sizeof line);
    assert_string_equal(line, expected);
}

/* The line is an error reply with this code. */
static void
expect_error(struct fixture *f, struct client *cl, const char *code)
{
    char line[4096];
    char prefix[128];

    expect_line(f, cl, line, sizeof line);
    snprintf(prefix, sizeof prefix, "{\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"",
             code);
    if (strncmp(line, prefix, strlen(prefix))) {
        fail_msg("expected a '%s' error, got %s", code, line);
    }
}

static void
expect_eof(struct fixture *f, struct client *cl, int wait_ms)
{
    char line[4096];
    enum client_got got = client_wait(f, cl, line, sizeof line, wait_ms);

    if (got == GOT_LINE) {
        fail_msg("expected the connection to close, got %s", line);
    } else if (got == GOT_NOTHING) {
        fail_msg("the connection stayed open");
    }
}

static void
expect_open(struct fixture *f, struct client *cl, int wait_ms)
{
    char line[4096];
    enum client_got got = client_wait(f, cl, line, sizeof line, wait_ms);

    if (got == GOT_LINE) {
        fail_msg("unexpected line %s", line);
    } else if (got == GOT_EOF) {
        fail_msg("the connection was closed");
    }
}

#define STATUS "{\"cmd\":\"status\"}\n"

/* The reply to STATUS from the test handler. */
static void
expect_status(struct fixture *f, struct client *cl)
{
    char expected[128];

    snprintf(expected, sizeof expected, "{\"ok\":true,\"result\":{\"uid\":%u}}",
             (unsigned int) geteuid());
    expect_reply(f, cl, expected);
}

/* ---- Opening the socket. ---- */

static void
test_open_mode(void **state)
{
    struct fixture *f = *state;
    struct control_auth auth = default_auth;
    struct stat st;

    auth.mode = 0660;
    open_control(f, NULL, &auth);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(st.st_gid, getegid());
    control_close(f->ctl);
    f->ctl = NULL;
    assert_int_equal(lstat(f->path, &st), -1);
    assert_int_equal(errno, ENOENT);

    /* A permissive umask does not leak into the socket's mode. */
    mode_t old = umask(0);
    auth.mode = 0600;
    open_control(f, NULL, &auth);
    umask(old);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    control_close(f->ctl);
    f->ctl = NULL;

    if (geteuid() == 0) {
        auth.mode = 0640;
        auth.group = TEST_GROUP;
        open_control(f, NULL, &auth);
        assert_int_equal(lstat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0640);
        assert_int_equal(st.st_gid, TEST_GROUP);
    }
}

static void
test_open_refusals(void **state)
{
    struct fixture *f = *state;
    char path[200];
    char err[256];
    struct control *ctl = NULL;
    struct stat st;
    int fd;

    /* Longer than sun_path. */
    memset(path, 'x', sizeof path);
    memcpy(path, "/tmp/", 5);
    path[sizeof path - 1] = '\0';
    assert_int_equal(control_open(&ctl, f->base, path, &default_auth, &default_limits,
                                  test_handler, f, err, sizeof err), ENAMETOOLONG);
    assert_null(ctl);
    assert_non_null(strstr(err, "too long"));

    /* No parent directory. */
    snprintf(path, sizeof path, "%s/missing/ctl.sock", f->dir);
    assert_int_equal(control_open(&ctl, f->base, path, &default_auth, &default_limits,
                                  test_handler, f, err, sizeof err), ENOENT);
    assert_null(ctl);

    /* Something that is not a socket is left alone. */
    fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(control_open(&ctl, f->base, f->path, &default_auth, &default_limits,
                                  test_handler, f, err, sizeof err), EEXIST);
    assert_null(ctl);
    assert_non_null(strstr(err, "not a socket"));
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(f->path);

    assert_int_equal(control_open(&ctl, f->base, "", &default_auth, &default_limits,
                                  test_handler, f, err, sizeof err), EINVAL);
}

/* A socket file nobody listens on is what a crashed daemon leaves. */
static void
test_stale_socket_replaced(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_un sun = sun_make(f->path);
    struct client *cl;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_int_equal(bind(fd, (struct sockaddr *) &sun, sizeof sun), 0);
    close(fd);

    open_control(f, NULL, NULL);
    cl = client_new(f);
    client_send_str(f, cl, STATUS);
    expect_status(f, cl);
    client_free(cl);
}

/* A second daemon must not steal a live one's socket. */
static void
test_live_socket_refused(void **state)
{
    struct fixture *f = *state;
    struct control *second = NULL;
    struct client *cl;
    char err[256];

    open_control(f, NULL, NULL);
    assert_int_equal(control_open(&second, f->base, f->path, &default_auth, &default_limits,
                                  test_handler, f, err, sizeof err), EADDRINUSE);
    assert_null(second);
    assert_non_null(strstr(err, "another daemon"));

    /* The first one still serves, on the same file. */
    cl = client_new(f);
    client_send_str(f, cl, STATUS);
    expect_status(f, cl);
    client_free(cl);
}

/* close unlinks only its own socket, not one a successor put there. */
static void
test_close_keeps_successor(void **state)
{
    struct fixture *f = *state;
    char other[160];
    struct stat st;

    open_control(f, NULL, NULL);
    snprintf(other, sizeof other, "%s/other", f->dir);
    assert_int_equal(rename(f->path, other), 0);
    int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    control_close(f->ctl);
    f->ctl = NULL;
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    control_close(NULL);
}

/* ---- Requests and replies. ---- */

static void
test_request_reply(void **state)
{
    struct fixture *f = *state;
    struct client *cl;
    struct control_stats s;

    open_control(f, NULL, NULL);
    cl = client_new(f);
    client_send_str(f, cl, STATUS);
    expect_status(f, cl);
    assert_int_equal(f->calls[CTL_CMD_STATUS], 1);

    /* A request that arrives in pieces. */
    client_send_str(f, cl, "{\"cmd\":");
    expect_open(f, cl, 50);
    client_send_str(f, cl, "\"jobs\",\"limit\":7");
    expect_open(f, cl, 50);
    client_send_str(f, cl, "}\r\n");
    expect_reply(f, cl, "{\"ok\":true,\"result\":{\"limit\":7}}");

    s = stats(f);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(s.clients, 1);
    assert_int_equal(s.requests, 2);
    assert_int_equal(s.errors, 0);
    client_free(cl);
}

static void
test_pipelining(void **state)
{
    struct fixture *f = *state;
    struct client *cl;

    open_control(f, NULL, NULL);
    cl = client_new(f);
    client_send_str(f, cl, "{\"cmd\":\"jobs\",\"limit\":1}\n{\"cmd\":\"jobs\",\"limit\":2}\n"
                    "\n   \n{\"cmd\":\"bogus\"}\n{\"cmd\":\"jobs\",\"limit\":3}\n" STATUS);
    expect_reply(f, cl, "{\"ok\":true,\"result\":{\"limit\":1}}");
    expect_reply(f, cl, "{\"ok\":true,\"result\":{\"limit\":2}}");
    expect_error(f, cl, CTL_E_UNKNOWN_CMD);
    expect_reply(f, cl, "{\"ok\":true,\"result\":{\"limit\":3}}");
    expect_status(f, cl);
    expect_open(f, cl, 50);         /* Blank lines got no reply. */
    assert_int_equal(stats(f).requests, 5);
    client_free(cl);
}

/* A bad request is answered and the client may go on. */
static void
test_bad_request_keeps_client(void **state)
{
    struct fixture *f = *state;
    struct client *cl;
    char line[512];

    open_control(f, NULL, NULL);
    cl = client_new(f);
    client_send_str(f, cl, "this is not json\n");
    expect_line(f, cl, line, sizeof line);
    assert_non_null(strstr(line, "\"code\":\"bad-request\""));
    assert_non_null(strstr(line, "not valid JSON"));

    client_send_str(f, cl, "{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"zone\":70000}\n");
    expect_reply(f, cl, "{\"ok\":false,\"error\":{\"code\":\"bad-request\","
                 "\"message\":\"zone: must be an integer 0..65535\"}}");

    client_send_str(f, cl, STATUS);
    expect_status(f, cl);
    assert_int_equal(f->calls[CTL_CMD_FLUSH], 0);
    assert_int_equal(stats(f).errors, 2);
    assert_int_equal(stats(f).requests, 3);

    /* A handler that forgets to reply: the client is answered anyway. */
    client_send_str(f, cl, "{\"cmd\":\"ports\"}\n");
    expect_error(f, cl, CTL_E_INTERNAL);
    client_send_str(f, cl, STATUS);
    expect_status(f, cl);

    /* One that would break the framing with a raw newline: not sent. */
    client_send_str(f, cl, "{\"cmd\":\"reload\"}\n" STATUS);
    expect_error(f, cl, CTL_E_INTERNAL);
    expect_status(f, cl);
    client_free(cl);
}

static void
test_too_large(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct client *cl;
    char big[3000];

    limits.max_request_bytes = 1024;
    open_control(f, &limits, NULL);

    /* No newline in sight. */
    memset(big, ' ', sizeof big);
    cl = client_new(f);
    client_send(f, cl, big, 2000);
    expect_error(f, cl, CTL_E_TOO_LARGE);
    expect_eof(f, cl, DEADLINE_MS);
    client_free(cl);

    /* A whole line, over the limit, after a good one. */
    cl = client_new(f);
    memcpy(big, STATUS, strlen(STATUS));
    big[1500] = '\n';
    client_send(f, cl, big, 1501);
    expect_status(f, cl);
    expect_error(f, cl, CTL_E_TOO_LARGE);
    expect_eof(f, cl, DEADLINE_MS);
    client_free(cl);

    /* Exactly the limit is fine. */
    cl = client_new(f);
    memset(big, ' ', sizeof big);
    memcpy(big, STATUS, strlen(STATUS) - 1);
    big[1024] = '\n';
    client_send(f, cl, big, 1025);
    expect_status(f, cl);
    client_free(cl);

    assert_int_equal(stats(f).errors, 2);
}

/* A started request must finish in time; the stall costs no one else. */
static void
test_stalled_request_times_out(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct client *cl, *other;
    uint64_t start;

    limits.client_timeout_ms = 200;
    open_control(f, &limits, NULL);
    cl = client_new(f);
    other = client_new(f);
    start = ctf_time_msec();
    client_send_str(f, cl, "{\"cmd\":\"sta");
    client_send_str(f, other, STATUS);
    expect_status(f, other);
    /* Dripping more bytes does not buy time. */
    for (int i = 0;; i++) {
        char line[512];
        enum client_got got = client_wait(f, cl, line, sizeof line, 50);

        if (got == GOT_LINE) {
            assert_non_null(strstr(line, "\"code\":\"timeout\""));
            break;
        }
        assert_int_equal(got, GOT_NOTHING);
        if (i == 40) {
            fail_msg("no timeout after 2 s");
        }
        client_send_str(f, cl, " ");
    }
    assert_true(ctf_time_msec() - start >= 190);
    assert_true(ctf_time_msec() - start < 1000);
    expect_eof(f, cl, DEADLINE_MS);
    assert_int_equal(stats(f).timeouts, 1);
    assert_int_equal(f->calls[CTL_CMD_STATUS], 1);
    client_free(cl);
    client_free(other);
}

/* What control_foreach_watching showed. */
struct watch_visit {
    unsigned int n;
    uint64_t id;
    bool unwatch;
};

static void
watch_visit(struct control_client *c, void *aux)
{
    struct watch_visit *v = aux;
    const uint64_t *ids;
    size_t n;

    v->n++;
    ids = control_client_watched(c, &n);
    assert_int_equal(n, 1);
    v->id = ids[0];
    control_reply(c, "{\"event\":\"progress\"}");
    if (v->unwatch) {
        control_reply(c, "{\"event\":\"end\"}");
        control_client_unwatch(c);
        ids = control_client_watched(c, &n);
        assert_int_equal(n, 0);
        assert_null(ids);
    }
}

/* Idle clients are closed after the timeout; watching ones are kept. */
static void
test_idle_and_watching(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct watch_visit visit = { 0, 0, false };
    struct client *idle, *watcher;

    limits.client_timeout_ms = 150;
    open_control(f, &limits, NULL);
    idle = client_new(f);
    watcher = client_new(f);
    client_send_str(f, watcher, "{\"cmd\":\"cancel\",\"id\":9}\n");
    expect_reply(f, watcher, "{\"ok\":true,\"result\":{\"id\":9}}");

    expect_eof(f, idle, DEADLINE_MS);
    expect_open(f, watcher, 600);
    assert_int_equal(stats(f).clients, 1);
    assert_int_equal(stats(f).timeouts, 0);

    /* The daemon finds it and sends it progress. */
    control_foreach_watching(f->ctl, watch_visit, &visit);
    assert_int_equal(visit.n, 1);
    assert_true(visit.id == 9);
    expect_reply(f, watcher, "{\"event\":\"progress\"}");
    expect_open(f, watcher, 300);

    /* The job ends: the client is idle again, and closed in time. */
    visit.unwatch = true;
    control_foreach_watching(f->ctl, watch_visit, &visit);
    assert_int_equal(visit.n, 2);
    expect_reply(f, watcher, "{\"event\":\"progress\"}");
    expect_reply(f, watcher, "{\"event\":\"end\"}");
    expect_eof(f, watcher, DEADLINE_MS);
    visit.n = 0;
    control_foreach_watching(f->ctl, watch_visit, &visit);
    assert_int_equal(visit.n, 0);
    assert_int_equal(stats(f).clients, 0);
    client_free(idle);
    client_free(watcher);
}

/* A client that sends its requests and shuts down its side still gets
 * every reply, the last request even without its newline. */
static void
test_half_close(void **state)
{
    struct fixture *f = *state;
    struct client *cl;

    open_control(f, NULL, NULL);
    cl = client_new(f);
    client_send_str(f, cl, "{\"cmd\":\"jobs\",\"limit\":1}\n" STATUS
                    "{\"cmd\":\"jobs\",\"limit\":2}");
    assert_int_equal(shutdown(cl->fd, SHUT_WR), 0);
    expect_reply(f, cl, "{\"ok\":true,\"result\":{\"limit\":1}}");
    expect_status(f, cl);
    expect_reply(f, cl, "{\"ok\":true,\"result\":{\"limit\":2}}");
    expect_eof(f, cl, DEADLINE_MS);
    client_free(cl);

    /* Half-closed while watching: kept until the watch ends. */
    struct watch_visit visit = { 0, 0, true };
    cl = client_new(f);
    client_send_str(f, cl, "{\"cmd\":\"cancel\",\"id\":3}\n");
    assert_int_equal(shutdown(cl->fd, SHUT_WR), 0);
    expect_reply(f, cl, "{\"ok\":true,\"result\":{\"id\":3}}");
    expect_open(f, cl, 100);
    control_foreach_watching(f->ctl, watch_visit, &visit);
    assert_int_equal(visit.n, 1);
    expect_reply(f, cl, "{\"event\":\"progress\"}");
    expect_reply(f, cl, "{\"event\":\"end\"}");
    expect_eof(f, cl, DEADLINE_MS);
    client_free(cl);
    wait_clients(f, 0);
}

static void
test_max_clients(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct client *a, *b, *c;

    limits.max_clients = 2;
    open_control(f, &limits, NULL);
    a = client_new(f);
    b = client_new(f);
    wait_clients(f, 2);

    c = client_new(f);
    client_send_str(f, c, STATUS);
    expect_error(f, c, CTL_E_BUSY);
    expect_eof(f, c, DEADLINE_MS);
    assert_int_equal(stats(f).refused_busy, 1);
    assert_int_equal(f->calls[CTL_CMD_STATUS], 0);
    client_free(c);

    /* Those in are served; a freed slot is taken by the next one. */
    client_send_str(f, a, STATUS);
    expect_status(f, a);
    client_free(a);
    wait_clients(f, 1);
    c = client_new(f);
    client_send_str(f, c, STATUS);
    expect_status(f, c);
    assert_int_equal(stats(f).accepted, 3);
    client_free(b);
    client_free(c);
}

/* Connects as euid (SO_PEERCRED reports the effective uid at connect). */
static struct client *
client_new_as(struct fixture *f, uid_t euid)
{
    struct client *cl = calloc(1, sizeof *cl);
    int err;

    assert_non_null(cl);
    assert_int_equal(seteuid(euid), 0);
    cl->fd = sock_connect(f->path);
    err = errno;
    assert_int_equal(seteuid(0), 0);
    if (cl->fd < 0) {
        fail_msg("connect %s as uid %u: %s", f->path, (unsigned int) euid, strerror(err));
    }
    return cl;
}

/* Read-only peers cannot take the slots kept for peers that may mutate:
 * with 4 slots, 2 are kept, so a third read-only client is busy while
 * root still gets in, up to the real limit. */
static void
test_privileged_slots(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct control_auth auth = default_auth;
    struct client *ro[3], *root[3];

    if (geteuid() != 0) {
        skip();
    }
    limits.max_clients = 4;
    auth.mode = 0666;
    open_control(f, &limits, &auth);
    ro[0] = client_new_as(f, NOBODY);
    ro[1] = client_new_as(f, NOBODY);
    wait_clients(f, 2);
    assert_int_equal(stats(f).readonly_clients, 2);

    ro[2] = client_new_as(f, NOBODY);
    expect_error(f, ro[2], CTL_E_BUSY);
    expect_eof(f, ro[2], DEADLINE_MS);
    assert_int_equal(stats(f).refused_busy, 1);
    client_free(ro[2]);

    root[0] = client_new(f);
    root[1] = client_new(f);
    wait_clients(f, 4);
    client_send_str(f, root[1], STATUS);
    expect_status(f, root[1]);
    root[2] = client_new(f);
    expect_error(f, root[2], CTL_E_BUSY);
    expect_eof(f, root[2], DEADLINE_MS);
    assert_int_equal(stats(f).refused_busy, 2);
    client_free(root[2]);

    /* A read-only client leaving frees a read-only slot. */
    client_free(ro[0]);
    wait_clients(f, 3);
    assert_int_equal(stats(f).readonly_clients, 1);
    ro[0] = client_new_as(f, NOBODY);
    client_send_str(f, ro[0], STATUS);
    expect_reply(f, ro[0], "{\"ok\":true,\"result\":{\"uid\":65534}}");
    assert_int_equal(stats(f).readonly_clients, 2);
    client_free(ro[0]);
    client_free(ro[1]);
    client_free(root[0]);
    client_free(root[1]);
    wait_clients(f, 0);
    assert_int_equal(stats(f).readonly_clients, 0);
}

/* Waits until the client's socket holds a whole line, without taking it. */
static void
wait_line_queued(struct fixture *f, struct client *cl)
{
    uint64_t deadline = ctf_time_msec() + DEADLINE_MS;
    char peek[512];

    for (;;) {
        ssize_t r = recv(cl->fd, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);

        if (r > 0 && memchr(peek, '\n', (size_t) r)) {
            return;
        }
        if (ctf_time_msec() > deadline) {
            fail_msg("no reply reached the socket");
        }
        pump(f);
        poll(NULL, 0, 1);
    }
}

/* A client that does not read its replies is dropped, the handler that
 * writes to it is never blocked, and the others are still served. What had
 * already reached its socket stays readable; nothing of the flood arrives
 * cut in the middle of a line. */
static void
test_slow_reader_dropped(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct client *slow, *other;
    char expected[128];

    limits.max_output_bytes = 256 * 1024;
    open_control(f, &limits, NULL);
    slow = client_new(f);
    other = client_new(f);

    /* A reply written to the socket before the trouble starts, left unread. */
    client_send_str(f, slow, STATUS);
    wait_line_queued(f, slow);

    f->flood_lines = 200;
    f->flood_size = 64 * 1024;      /* 12.5 MiB in all. */
    client_send_str(f, slow, "{\"cmd\":\"metrics\"}\n");
    wait_clients(f, 1);
    assert_int_equal(f->calls[CTL_CMD_METRICS], 1);
    assert_int_equal(stats(f).dropped_slow, 1);
    assert_int_equal(stats(f).output_bytes, 0);
    assert_true(f->flood_ms < 2000);

    client_send_str(f, other, STATUS);
    expect_status(f, other);
    client_free(other);

    /* What reached the slow client: the status reply, then whole lines
     * only, then the end. */
    char *buf = malloc(1 << 20);
    size_t len = 0;
    assert_non_null(buf);
    for (;;) {
        ssize_t r = recv(slow->fd, buf + len, (1 << 20) - len, MSG_DONTWAIT);
        if (r <= 0) {
            assert_true(r == 0 || errno == ECONNRESET);
            break;
        }
        len += (size_t) r;
        assert_true(len < (1 << 20));
    }
    snprintf(expected, sizeof expected, "{\"ok\":true,\"result\":{\"uid\":%u}}\n",
             (unsigned int) geteuid());
    assert_true(len >= strlen(expected));
    assert_memory_equal(buf, expected, strlen(expected));
    assert_int_equal(buf[len - 1], '\n');
    free(buf);
    client_free(slow);
}

/* Clients that each stay under their own output limit must not add up past
 * the total budget (64 MiB in control.c): the greediest are dropped until it
 * holds, and a client that reads is still served. */
static void
test_total_output_bounded(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct client *cl[12], *other;
    const size_t n = sizeof cl / sizeof cl[0];

    limits.max_output_bytes = 8u << 20;
    limits.max_clients = 64;
    open_control(f, &limits, NULL);
    for (size_t i = 0; i < n; i++) {
        cl[i] = client_new(f);
    }
    wait_clients(f, n);
    f->flood_lines = 112;
    f->flood_size = 64 * 1024;      /* 7 MiB each, under 8: 84 MiB in all. */
    for (size_t i = 0; i < n; i++) {
        client_send_str(f, cl[i], "{\"cmd\":\"metrics\"}\n");
    }
    uint64_t deadline = ctf_time_msec() + DEADLINE_MS;
    while (f->calls[CTL_CMD_METRICS] < n) {
        if (ctf_time_msec() > deadline) {
            fail_msg("only %u of %zu metrics requests handled", f->calls[CTL_CMD_METRICS], n);
        }
        pump(f);
        poll(NULL, 0, 1);
    }
    /* 84 MiB minus what the sockets hold is still over 64 MiB: at least two
     * clients go, and none for its own limit (each is under it). */
    assert_true(stats(f).dropped_slow >= 2);
    assert_true(stats(f).clients <= n - 2);

    other = client_new(f);
    client_send_str(f, other, STATUS);
    expect_status(f, other);
    client_free(other);
    for (size_t i = 0; i < n; i++) {
        client_free(cl[i]);
    }
}

/* A client that pipelines far more than the socket holds, reading its
 * replies only as it goes, is held back (its requests are left unread while
 * its replies queue), not dropped for a full output buffer. */
static void
test_pipelining_backpressure(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    uint64_t deadline = ctf_time_msec() + 4 * DEADLINE_MS;
    enum { N = 20000 };
    size_t cap = N * 32, len = 0, sent = 0;
    char *batch = malloc(cap);
    struct client *cl;
    int got = 0;

    assert_non_null(batch);
    limits.max_output_bytes = 4096;
    open_control(f, &limits, NULL);
    cl = client_new(f);
    for (int i = 0; i < N; i++) {
        len += (size_t) snprintf(batch + len, cap - len, "{\"cmd\":\"jobs\",\"limit\":%d}\n",
                                 i % 1000);
    }
    while (got < N) {
        char line[256];
        char expected[64];

        if (ctf_time_msec() > deadline) {
            fail_msg("only %d replies of %d", got, N);
        }
        if (sent < len) {
            ssize_t n = send(cl->fd, batch + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

            if (n > 0) {
                sent += (size_t) n;
            } else if (errno != EAGAIN) {
                fail_msg("send: %s", strerror(errno));
            }
        }
        pump(f);
        /* Reads what is there, no more: behind the daemon most of the time. */
        while (got < N && client_wait(f, cl, line, sizeof line, 0) == GOT_LINE) {
            snprintf(expected, sizeof expected, "{\"ok\":true,\"result\":{\"limit\":%d}}",
                     got % 1000);
            assert_string_equal(line, expected);
            got++;
        }
    }
    free(batch);
    assert_int_equal(stats(f).dropped_slow, 0);
    assert_int_equal(stats(f).requests, N);
    client_free(cl);
}

/* The reply the test handler sends to jobs with this limit, with its '\n'. */
static size_t
jobs_reply_len(int limit)
{
    char line[64];

    return (size_t) snprintf(line, sizeof line, "{\"ok\":true,\"result\":{\"limit\":%d}}\n",
                             limit);
}

/* Back-pressure as bytes on the sockets. A pipelining client that reads
 * nothing has its replies queued in its own socket first, then held in the
 * daemon up to half the output limit (plus the reply that crossed it);
 * from there on the daemon leaves the client's requests unread in the
 * socket, so the client's sends block. Every reply handled so far is in one
 * of the two places, nothing is dropped, and once the client reads, every
 * reply comes, in order. */
static void
test_backpressure_in_socket(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    enum { N = 20000 };
    size_t cap = N * 32, len = 0, sent = 0, replied = 0;
    char *batch = malloc(cap);
    struct client *cl;
    uint64_t deadline = ctf_time_msec() + DEADLINE_MS;
    uint64_t quiet_since = ctf_time_msec();
    unsigned int handled = 0, quiet_pumps = 0;
    bool refused = false;
    int inq = -1, outq = -1;
    int got = 0;

    assert_non_null(batch);
    limits.max_output_bytes = 4096;
    limits.client_timeout_ms = 60000;   /* Held back, not timed out. */
    open_control(f, &limits, NULL);
    cl = client_new(f);
    for (int i = 0; i < N; i++) {
        len += (size_t) snprintf(batch + len, cap - len, "{\"cmd\":\"jobs\",\"limit\":%d}\n",
                                 i % 1000);
    }

    /* Send without reading until nothing moves: the socket refuses more
     * and the daemon handles no further request. */
    while (!refused || quiet_pumps < 20 || ctf_time_msec() - quiet_since < 100) {
        ssize_t n = send(cl->fd, batch + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (ctf_time_msec() > deadline) {
            fail_msg("no steady state: %u requests handled, %zu of %zu bytes sent",
                     (unsigned int) stats(f).requests, sent, len);
        }
        if (n > 0) {
            sent += (size_t) n;
            refused = false;
        } else if (errno == EAGAIN) {
            refused = true;
        } else {
            fail_msg("send: %s", strerror(errno));
        }
        assert_true(sent < len);    /* The daemon took every request. */
        pump(f);
        if (stats(f).requests != handled) {
            handled = (unsigned int) stats(f).requests;
            quiet_pumps = 0;
            quiet_since = ctf_time_msec();
        } else {
            quiet_pumps++;
        }
        poll(NULL, 0, 1);
    }
    for (unsigned int i = 0; i < handled; i++) {
        replied += jobs_reply_len((int) (i % 1000));
    }
    assert_int_equal(ioctl(cl->fd, SIOCINQ, &inq), 0);
    assert_int_equal(ioctl(cl->fd, SIOCOUTQ, &outq), 0);
    assert_true(handled > 0 && handled < N);
    assert_int_equal(stats(f).dropped_slow, 0);
    assert_int_equal(stats(f).clients, 1);
    /* Held in the daemon: over half the limit by at most one reply. */
    assert_true(stats(f).output_bytes > limits.max_output_bytes / 2);
    assert_true(stats(f).output_bytes <= limits.max_output_bytes / 2 + jobs_reply_len(999));
    /* The rest of the replies wait in the client's socket... */
    assert_int_equal((size_t) inq + stats(f).output_bytes, replied);
    /* ...and its requests in the daemon's. */
    assert_true(outq > 0);

    /* Now it reads: everything comes, in order. */
    deadline = ctf_time_msec() + 4 * DEADLINE_MS;
    while (got < N) {
        char line[256];
        char expected[64];

        if (ctf_time_msec() > deadline) {
            fail_msg("only %d replies of %d", got, N);
        }
        if (sent < len) {
            ssize_t n = send(cl->fd, batch + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

            if (n > 0) {
                sent += (size_t) n;
            } else if (errno != EAGAIN) {
                fail_msg("send: %s", strerror(errno));
            }
        }
        pump(f);
        while (got < N && client_wait(f, cl, line, sizeof line, 0) == GOT_LINE) {
            snprintf(expected, sizeof expected, "{\"ok\":true,\"result\":{\"limit\":%d}}",
                     got % 1000);
            assert_string_equal(line, expected);
            got++;
        }
    }
    free(batch);
    assert_int_equal(ioctl(cl->fd, SIOCOUTQ, &outq), 0);
    assert_int_equal(outq, 0);
    assert_int_equal(stats(f).requests, N);
    assert_int_equal(stats(f).dropped_slow, 0);
    assert_int_equal(stats(f).output_bytes, 0);
    client_free(cl);
}

/* Requests held back resume as soon as the unread replies are down to half
 * the limit (the write low watermark), not only once they are all written:
 * a client that reads part of its replies gets further requests handled
 * while the rest still wait in the daemon. */
static void
test_backpressure_resumes_at_half(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct client *cl;
    uint64_t deadline = ctf_time_msec() + DEADLINE_MS;
    uint64_t quiet_since = ctf_time_msec();
    unsigned int handled = 0, quiet_pumps = 0;
    size_t held, freed = 0;
    char *buf = malloc(1 << 20);

    assert_non_null(buf);
    limits.max_output_bytes = 1 << 20;
    limits.client_timeout_ms = 60000;
    f->flood_lines = 1;             /* One 64 KiB reply per metrics request. */
    f->flood_size = 64 * 1024;
    open_control(f, &limits, NULL);
    cl = client_new(f);
    for (int i = 0; i < 100; i++) {
        client_send_str(f, cl, "{\"cmd\":\"metrics\"}\n");
    }
    while (quiet_pumps < 20 || ctf_time_msec() - quiet_since < 100) {
        if (ctf_time_msec() > deadline) {
            fail_msg("no steady state: %u requests handled", f->calls[CTL_CMD_METRICS]);
        }
        pump(f);
        if (f->calls[CTL_CMD_METRICS] != handled) {
            handled = f->calls[CTL_CMD_METRICS];
            quiet_pumps = 0;
            quiet_since = ctf_time_msec();
        } else {
            quiet_pumps++;
        }
        poll(NULL, 0, 1);
    }
    held = stats(f).output_bytes;
    assert_true(handled > 0 && handled < 100);
    assert_true(held > limits.max_output_bytes / 2);

    /* Read what the socket holds: less than the daemon holds, so writing
     * into the room it frees cannot empty the daemon's output. */
    for (;;) {
        ssize_t r = recv(cl->fd, buf, 1 << 20, MSG_DONTWAIT);

        if (r <= 0) {
            assert_true(r < 0 && errno == EAGAIN);
            break;
        }
        freed += (size_t) r;
    }
    assert_true(freed > 0 && freed + f->flood_size < held);
    while (f->calls[CTL_CMD_METRICS] == handled) {
        if (ctf_time_msec() > deadline + DEADLINE_MS) {
            fail_msg("no request handled after %zu bytes were read", freed);
        }
        pump(f);
        poll(NULL, 0, 1);
    }
    assert_true(stats(f).output_bytes > 0);
    assert_int_equal(stats(f).dropped_slow, 0);
    free(buf);
    client_free(cl);
}

/* More connections at once than one accept burst (32): one turn of the loop
 * takes a burst and serves the client already in, the listener comes back
 * on the next turn, and every connection is accepted and served. (libevent
 * alone would accept all of them in one go.) */
static void
test_accept_burst(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct client *first, *cl[100];
    const size_t n = sizeof cl / sizeof cl[0];

    limits.max_clients = 200;
    open_control(f, &limits, NULL);
    first = client_new(f);
    wait_clients(f, 1);
    client_send_str(f, first, STATUS);
    for (size_t i = 0; i < n; i++) {
        cl[i] = client_new(f);      /* All wait in the backlog. */
    }
    pump_once(f);
    assert_int_equal(stats(f).accepted, 1 + 32);
    assert_int_equal(f->calls[CTL_CMD_STATUS], 1);
    expect_status(f, first);
    client_free(first);

    wait_clients(f, n);
    for (size_t i = 0; i < n; i++) {
        client_send_str(f, cl[i], STATUS);
    }
    for (size_t i = 0; i < n; i++) {
        expect_status(f, cl[i]);
        client_free(cl[i]);
    }
    assert_int_equal(stats(f).accepted, 1 + n);
    wait_clients(f, 0);
}

/* Out of descriptors, accept() fails and the listener stays readable: new
 * connections pause (500 ms in control.c) rather than the loop spinning on
 * it, and the clients waiting are taken once descriptors are back, at the
 * end of the pause. Under valgrind, which emulates the descriptor limit,
 * the kernel's accept() succeeds and valgrind closes the new descriptor:
 * that first client sees its connection end instead, and the second one,
 * made after the descriptors are back, is what shows the pause. */
static void
test_accept_emfile_pause(void **state)
{
    struct fixture *f = *state;
    struct rlimit old, low;
    struct client *first, *second;
    int fillers[1100];
    size_t n_fill = 0;
    bool exhausted = false;
    uint64_t start, accepted_ms;
    uint64_t accepted_while_out = 0;
    char c;

    open_control(f, NULL, NULL);
    first = client_new(f);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    if (low.rlim_cur > 256) {
        low.rlim_cur = 256;
    }
    /* From here to the restore, nothing that can fail the test: cmocka
     * would leave the process without descriptors. */
    setrlimit(RLIMIT_NOFILE, &low);
    while (n_fill < sizeof fillers / sizeof fillers[0]) {
        int fd = dup(first->fd);

        if (fd < 0) {
            exhausted = errno == EMFILE;
            break;
        }
        fillers[n_fill++] = fd;
    }
    start = ctf_time_msec();
    if (exhausted) {
        while (ctf_time_msec() - start < 100) {
            pump_once(f);
            poll(NULL, 0, 1);
        }
        accepted_while_out = stats(f).accepted;
    }
    while (n_fill) {
        close(fillers[--n_fill]);
    }
    setrlimit(RLIMIT_NOFILE, &old);
    if (!exhausted) {
        client_free(first);
        skip();
    }

    assert_int_equal(accepted_while_out, 0);
    second = client_new(f);
    while (!stats(f).accepted) {
        if (ctf_time_msec() - start > DEADLINE_MS) {
            fail_msg("nothing accepted once descriptors were back");
        }
        pump_once(f);
        poll(NULL, 0, 1);
    }
    accepted_ms = ctf_time_msec() - start;
    /* Accepted at the end of the pause, which began after 'start'. */
    assert_true(accepted_ms >= 450);
    assert_true(accepted_ms < 3000);
    if (recv(first->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
        assert_int_equal(stats(f).accepted, 1);     /* valgrind closed the first. */
    } else {
        wait_clients(f, 2);
        client_send_str(f, first, STATUS);
        expect_status(f, first);
    }
    client_send_str(f, second, STATUS);
    expect_status(f, second);
    client_free(first);
    client_free(second);
}

/* ---- Authorisation. ---- */

/* Runs in a forked child: reads one line with a deadline. */
static int
child_roundtrip(int fd, const char *request, char *line, size_t size)
{
    size_t len = 0;

    if (send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t) strlen(request)) {
        return -1;
    }
    while (len + 1 < size) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t r;

        if (poll(&pfd, 1, DEADLINE_MS) != 1) {
            return -1;
        }
        r = recv(fd, line + len, 1, 0);
        if (r != 1) {
            return -1;
        }
        if (line[len] == '\n') {
            line[len] = '\0';
            return 0;
        }
        len++;
    }
    return -1;
}

/* Child exit codes. */
enum { CHILD_OK, CHILD_CREDS, CHILD_CONNECT, CHILD_IO, CHILD_MUTATE, CHILD_READ };

/* Supplementary groups a child may take: more than control.c reads in one
 * SO_PEERGROUPS call (64). */
#define CHILD_MAX_GROUPS 100

/* In a child: becomes uid/gid 65534 with n_other unrelated supplementary
 * groups and then the given one (or none), connects, tries a mutation and
 * a read. */
static int
child_main(const char *path, gid_t gid, gid_t supplementary, size_t n_other,
           bool expect_write)
{
    struct sockaddr_un sun = sun_make(path);
    gid_t groups[CHILD_MAX_GROUPS];
    size_t n = 0;
    char line[512];
    int fd;

    while (n < n_other && n + 1 < CHILD_MAX_GROUPS) {
        groups[n] = (gid_t) (TEST_GROUP + 1 + n);
        n++;
    }
    if (supplementary != (gid_t) -1) {
        groups[n++] = supplementary;
    }
    if (setgroups(n, groups) || setgid(gid) || setuid(NOBODY) || getuid() != NOBODY) {
        return CHILD_CREDS;
    }
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        return CHILD_CONNECT;
    }
    if (child_roundtrip(fd, "{\"cmd\":\"resume\"}\n", line, sizeof line)) {
        return CHILD_IO;
    }
    if (expect_write ? strcmp(line, "{\"ok\":true,\"result\":null}")
                     : !strstr(line, "{\"ok\":false,\"error\":{\"code\":\"forbidden\"")) {
        return CHILD_MUTATE;
    }
    if (child_roundtrip(fd, STATUS, line, sizeof line)) {
        return CHILD_IO;
    }
    if (strcmp(line, "{\"ok\":true,\"result\":{\"uid\":65534}}")) {
        return CHILD_READ;
    }
    close(fd);
    return CHILD_OK;
}

/* Forks a child as above and serves it until it exits. */
static void
run_child_groups(struct fixture *f, gid_t gid, gid_t supplementary, size_t n_other,
                 bool expect_write)
{
    uint64_t deadline = ctf_time_msec() + 2 * DEADLINE_MS;
    int status = 0;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(child_main(f->path, gid, supplementary, n_other, expect_write));
    }
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            break;
        }
        if (ctf_time_msec() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("child did not finish");
        }
        pump(f);
        poll(NULL, 0, 1);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != CHILD_OK) {
        fail_msg("child (gid %u, group %d, %s) failed: status 0x%x", (unsigned int) gid,
                 (int) supplementary, expect_write ? "writer" : "reader", status);
    }
}

static void
run_child(struct fixture *f, gid_t gid, gid_t supplementary, bool expect_write)
{
    run_child_groups(f, gid, supplementary, 0, expect_write);
}

static void
test_forbidden_for_others(void **state)
{
    struct fixture *f = *state;
    struct control_auth auth = default_auth;

    if (geteuid() != 0) {
        skip();
    }
    auth.mode = 0666;
    open_control(f, NULL, &auth);
    run_child(f, NOBODY, (gid_t) -1, false);
    assert_int_equal(f->calls[CTL_CMD_RESUME], 0);
    assert_int_equal(f->calls[CTL_CMD_STATUS], 1);
    assert_int_equal(stats(f).forbidden, 1);
    assert_int_equal(stats(f).errors, 0);
}

static void
test_group_may_write(void **state)
{
    struct fixture *f = *state;
    struct control_auth auth = default_auth;

    if (geteuid() != 0) {
        skip();
    }
    auth.mode = 0660;
    auth.group = TEST_GROUP;
    auth.group_write = true;
    open_control(f, NULL, &auth);
    /* By supplementary group, then by primary group. */
    run_child(f, NOBODY, TEST_GROUP, true);
    run_child(f, TEST_GROUP, (gid_t) -1, true);
    assert_int_equal(f->calls[CTL_CMD_RESUME], 2);
    assert_int_equal(stats(f).forbidden, 0);

    /* The group after 99 others: more than one SO_PEERGROUPS call reads
     * (ERANGE, then a second call with room for all). */
    run_child_groups(f, NOBODY, TEST_GROUP, CHILD_MAX_GROUPS - 1, true);
    assert_int_equal(f->calls[CTL_CMD_RESUME], 3);
    assert_int_equal(stats(f).forbidden, 0);
    /* 99 groups, none of them the one: open the file to all, still read-only. */
    assert_int_equal(chmod(f->path, 0666), 0);
    run_child_groups(f, NOBODY, (gid_t) -1, CHILD_MAX_GROUPS - 1, false);
    assert_int_equal(stats(f).forbidden, 1);
    control_close(f->ctl);
    f->ctl = NULL;

    /* Without group_write the group may connect and read only. */
    auth.group_write = false;
    open_control(f, NULL, &auth);
    run_child(f, NOBODY, TEST_GROUP, false);
    assert_int_equal(stats(f).forbidden, 1);
}

/* ---- Limits changed at run time. ---- */

static void
test_set_limits(void **state)
{
    struct fixture *f = *state;
    struct control_limits limits = default_limits;
    struct client *cl;
    uint64_t start;

    limits.client_timeout_ms = 60000;
    open_control(f, &limits, NULL);
    cl = client_new(f);
    client_send_str(f, cl, STATUS);
    expect_status(f, cl);

    /* A shorter timeout applies to clients already waiting on the old one. */
    start = ctf_time_msec();
    limits.client_timeout_ms = 100;
    control_set_limits(f->ctl, &limits);
    expect_eof(f, cl, DEADLINE_MS);
    assert_true(ctf_time_msec() - start < 3000);
    client_free(cl);

    /* No timeout at all. */
    limits.client_timeout_ms = 0;
    control_set_limits(f->ctl, &limits);
    cl = client_new(f);
    client_send_str(f, cl, "{\"cmd\":");
    expect_open(f, cl, 300);
    client_send_str(f, cl, "\"status\"}\n");
    expect_status(f, cl);
    client_free(cl);
}

/* Closing with clients connected frees them all (valgrind checks). */
static void
test_close_with_clients(void **state)
{
    struct fixture *f = *state;
    struct client *a, *b;

    open_control(f, NULL, NULL);
    a = client_new(f);
    b = client_new(f);
    client_send_str(f, a, "{\"cmd\":\"cancel\",\"id\":1}\n");
    expect_reply(f, a, "{\"ok\":true,\"result\":{\"id\":1}}");
    client_send_str(f, b, "{\"cmd\":\"sta");
    wait_clients(f, 2);
    control_close(f->ctl);
    f->ctl = NULL;
    expect_eof(f, a, DEADLINE_MS);
    expect_eof(f, b, DEADLINE_MS);
    client_free(a);
    client_free(b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_mode),
        T(test_open_refusals),
        T(test_stale_socket_replaced),
        T(test_live_socket_refused),
        T(test_close_keeps_successor),
        T(test_request_reply),
        T(test_pipelining),
        T(test_bad_request_keeps_client),
        T(test_too_large),
        T(test_stalled_request_times_out),
        T(test_idle_and_watching),
        T(test_half_close),
        T(test_max_clients),
        T(test_privileged_slots),
        T(test_slow_reader_dropped),
        T(test_total_output_bounded),
        T(test_pipelining_backpressure),
        T(test_backpressure_in_socket),
        T(test_backpressure_resumes_at_half),
        T(test_accept_burst),
        T(test_accept_emfile_pause),
        T(test_forbidden_for_others),
        T(test_group_may_write),
        T(test_set_limits),
        T(test_close_with_clients),
    };

    /* As in ctflushd: control.c writes with writev(), which has no
     * MSG_NOSIGNAL, and these tests hang up with replies pending. */
    signal(SIGPIPE, SIG_IGN);
    /* Quiet: the bad requests these tests send are logged by design. */
    log_init("test_control", LOG_LVL_ERR, false);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
