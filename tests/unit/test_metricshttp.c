/*
 * test_metricshttp.c: the /metrics endpoint over real TCP on 127.0.0.1 (a
 * port the kernel picks), with libevent's real evhttp: what each request
 * gets back byte for byte, the limits (header size, idle timeout, the
 * connection cap and its release), and that the loop serves others while
 * a client stalls. One thread: the test's client sockets are blocking with
 * a timeout, and the loop is turned between their steps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "log.h"
#include "metricshttp.h"

#define BODY "# HELP ctflushd_up 1 while ctflushd is running.\n" \
             "# TYPE ctflushd_up gauge\nctflushd_up 1\n"

struct fix {
    struct event_base *base;
    struct metricshttp *m;
    struct ctf_sockaddr addr;       /* Where it listens. */
    unsigned int renders;
    bool fail_render;
};

static char *
render(void *aux)
{
    struct fix *f = aux;

    f->renders++;
    return f->fail_render ? NULL : strdup(BODY);
}

static void
fix_open(struct fix *f, const struct metricshttp_limits *lim)
{
    struct ctf_sockaddr any;
    struct metricshttp_stats st;
    char err[256];

    memset(f, 0, sizeof *f);
    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(ctf_sockaddr_parse("127.0.0.1:0", &any, err, sizeof err), 0);
    if (metricshttp_open(&f->m, f->base, &any, lim, render, f, err, sizeof err)) {
        fail_msg("open: %s", err);
    }
    metricshttp_get_stats(f->m, &st);
    assert_int_equal(strncmp(st.address, "127.0.0.1:", 10), 0);
    assert_string_not_equal(st.address, "127.0.0.1:0");
    assert_int_equal(ctf_sockaddr_parse(st.address, &f->addr, err, sizeof err), 0);
}

static int
setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);

    fix_open(f, NULL);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fix *f = *state;

    metricshttp_close(f->m);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void
turn(struct fix *f)
{
    event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* A connected client socket, non-blocking. The kernel completes the
 * handshake from the listen backlog: no loop turn is needed. */
static int
client(struct fix *f)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &f->addr.ss, f->addr.len), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

static void
send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            poll(&p, 1, 10);
            continue;
        }
        assert_true(n > 0);
        buf += n;
        len -= (size_t) n;
    }
}

/* What the client has received when one whole response is in (headers and
 * Content-Length bytes), or the peer closed, or ms passed; turns the loop
 * meanwhile. *closed says whether the server closed. */
static char *
recv_response(struct fix *f, int fd, unsigned int ms, bool *closed)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = calloc(1, cap);
    uint64_t end = ctf_time_msec() + ms;

    *closed = false;
    assert_non_null(buf);
    while (ctf_time_msec() < end) {
        turn(f);
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n == 0) {
            *closed = true;
            break;
        }
        if (n > 0) {
            len += (size_t) n;
            buf[len] = '\0';
            char *hend = strstr(buf, "\r\n\r\n");
            const char *cl = strstr(buf, "Content-Length: ");
            if (hend && cl && cl < hend
                && len >= (size_t) (hend + 4 - buf) + strtoul(cl + 16, NULL, 10)) {
                break;
            }
            continue;
        }
        assert_true(errno == EAGAIN);
        usleep(1000);
    }
    buf[len] = '\0';
    return buf;
}

/* One request on a fresh connection; the response text. */
static char *
exchange(struct fix *f, const char *req)
{
    bool closed;
    int fd = client(f);

    send_all(fd, req, strlen(req));
    char *r = recv_response(f, fd, 3000, &closed);
    close(fd);
    return r;
}

static const char *
body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* The first line's status code. */
static int
status_of(const char *resp)
{
    int code = -1;

    sscanf(resp, "HTTP/1.%*d %d", &code);
    return code;
}

static bool
has_header(const char *resp, const char *line)
{
    char want[256];
    const char *end = strstr(resp, "\r\n\r\n");

    snprintf(want, sizeof want, "\r\n%s\r\n", line);
    const char *at = strstr(resp, want);
    return at && end && at < end;
}

static void
test_get_metrics(void **state)
{
    struct fix *f = *state;
    struct metricshttp_stats st;
    char cl[64];
    char *r = exchange(f, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    assert_int_equal(status_of(r), 200);
    assert_true(has_header(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    snprintf(cl, sizeof cl, "Content-Length: %zu", strlen(BODY));
    assert_true(has_header(r, cl));
    assert_string_equal(body_of(r), BODY);
    free(r);
    /* A query string is not part of the path. */
    r = exchange(f, "GET /metrics?name[]=up HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    assert_string_equal(body_of(r), BODY);
    free(r);
    /* HTTP/1.0, as simple scrapers speak it. */
    r = exchange(f, "GET /metrics HTTP/1.0\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    assert_string_equal(body_of(r), BODY);
    free(r);
    metricshttp_get_stats(f->m, &st);
    assert_int_equal(st.scrapes, 3);
    assert_int_equal(f->renders, 3);
    assert_int_equal(st.accepted, 3);
}

static void
test_head(void **state)
{
    struct fix *f = *state;
    bool closed;
    int fd = client(f);
    const char *req = "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    send_all(fd, req, strlen(req));
    char *r = recv_response(f, fd, 3000, &closed);
    /* Headers only, then the close. */
    for (int i = 0; i < 200 && !closed; i++) {
        bool c2;
        char *more = recv_response(f, fd, 10, &c2);
        assert_string_equal(more, "");
        free(more);
        closed = c2;
    }
    close(fd);
    assert_true(closed);
    assert_int_equal(status_of(r), 200);
    assert_true(has_header(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    /* GET's length, without the body. */
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %zu", strlen(BODY));
    assert_true(has_header(r, cl));
    assert_string_equal(body_of(r), "");
    free(r);
}

static void
test_not_found(void **state)
{
    struct fix *f = *state;
    static const char *const paths[] = { "/", "/metric", "/metrics/", "/Metrics", "/%6detrics",
                                         "/metricsx" };
    struct metricshttp_stats st;

    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        char *r = exchange(f, req);
        if (status_of(r) != 404) {
            fail_msg("GET %s: %s", paths[i], r);
        }
        assert_true(has_header(r, "Content-Type: text/plain; charset=utf-8"));
        assert_string_equal(body_of(r), "Not found: ctflushd serves /metrics only.\n");
        free(r);
    }
    /* A wrong path is 404 whatever the method. */
    char *r = exchange(f, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(status_of(r), 404);
    free(r);
    metricshttp_get_stats(f->m, &st);
    assert_int_equal(st.not_found, 7);
    assert_int_equal(st.scrapes, 0);
    assert_int_equal(f->renders, 0);
}

static void
test_bad_method(void **state)
{
    struct fix *f = *state;
    static const char *const methods[] = { "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
                                           "TRACE" };
    struct metricshttp_stats st;

    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        char req[128];
        snprintf(req, sizeof req, "%s /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                 methods[i]);
        char *r = exchange(f, req);
        if (status_of(r) != 405) {
            fail_msg("%s /metrics: %s", methods[i], r);
        }
        assert_true(has_header(r, "Allow: GET, HEAD"));
        assert_string_equal(body_of(r), "Method not allowed: /metrics takes GET and HEAD.\n");
        free(r);
    }
    metricshttp_get_stats(f->m, &st);
    assert_int_equal(st.bad_method, 6);
    assert_int_equal(f->renders, 0);
}

/* What evhttp refuses itself, and the endpoint serving on afterwards. */
static void
test_refused_by_evhttp(void **state)
{
    struct fix *f = *state;
    size_t big = METRICSHTTP_DEFAULT_MAX_HEADER_BYTES + 100;
    char *req = malloc(big + 64);
    char *r;

    assert_non_null(req);
    /* Under the header limit: served. Over it, in a header or in the
     * request line: 400 (evhttp's answer to headers it will not read). */
    int n = sprintf(req, "GET /metrics HTTP/1.1\r\nX-Pad: ");
    memset(req + n, 'a', METRICSHTTP_DEFAULT_MAX_HEADER_BYTES - 200);
    strcpy(req + n + METRICSHTTP_DEFAULT_MAX_HEADER_BYTES - 200, "\r\n\r\n");
    r = exchange(f, req);
    assert_int_equal(status_of(r), 200);
    free(r);
    memset(req + n, 'a', big);
    strcpy(req + n + big, "\r\n\r\n");
    r = exchange(f, req);
    assert_int_equal(status_of(r), 400);
    free(r);
    n = sprintf(req, "GET /metrics?");
    memset(req + n, 'a', big);
    strcpy(req + n + big, " HTTP/1.1\r\n\r\n");
    r = exchange(f, req);
    assert_int_equal(status_of(r), 400);
    free(r);
    /* A body is more than any request here may carry. */
    r = exchange(f, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_int_equal(status_of(r), 413);
    free(r);
    /* Not HTTP (a TLS hello): closed without a word. */
    r = exchange(f, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n");
    assert_string_equal(r, "");
    free(r);
    /* A method evhttp does not know. */
    r = exchange(f, "FROB /metrics HTTP/1.1\r\n\r\n");
    assert_int_equal(status_of(r), 501);
    free(r);
    free(req);
    r = exchange(f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    assert_string_equal(body_of(r), BODY);
    free(r);
    assert_int_equal(f->renders, 2);
}

static void
test_render_failure(void **state)
{
    struct fix *f = *state;
    struct metricshttp_stats st;

    f->fail_render = true;
    char *r = exchange(f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 500);
    assert_string_equal(body_of(r), "ctflushd could not render its metrics (out of memory).\n");
    free(r);
    f->fail_render = false;
    r = exchange(f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    free(r);
    metricshttp_get_stats(f->m, &st);
    assert_int_equal(st.failures, 1);
    assert_int_equal(st.scrapes, 1);
}

/* Prometheus keeps its connection: several scrapes on one. */
static void
test_keep_alive(void **state)
{
    struct fix *f = *state;
    struct metricshttp_stats st;
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = client(f);

    for (int i = 0; i < 3; i++) {
        bool closed;
        send_all(fd, req, strlen(req));
        char *r = recv_response(f, fd, 3000, &closed);
        assert_false(closed);
        assert_int_equal(status_of(r), 200);
        assert_string_equal(body_of(r), BODY);
        free(r);
    }
    metricshttp_get_stats(f->m, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.scrapes, 3);
    close(fd);
}

/* Turns the loop until the endpoint counts n open connections. */
static void
wait_connections(struct fix *f, unsigned int n, unsigned int ms)
{
    struct metricshttp_stats st;
    uint64_t end = ctf_time_msec() + ms;

    do {
        turn(f);
        metricshttp_get_stats(f->m, &st);
        if (st.connections == n) {
            return;
        }
        usleep(1000);
    } while (ctf_time_msec() < end);
    fail_msg("%u connections open after %u ms, not %u", st.connections, ms, n);
}

/* At max_conns the listener pauses: one more connection waits in the
 * backlog, unanswered, and is served once a slot frees. */
static void
test_connection_cap(void **state)
{
    struct fix *f = *state;
    struct metricshttp_limits lim = { .max_conns = 3 };
    struct metricshttp_stats st;
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    int idle[3];
    bool closed;

    metricshttp_close(f->m);
    event_base_free(f->base);
    fix_open(f, &lim);
    for (int i = 0; i < 3; i++) {
        idle[i] = client(f);
    }
    wait_connections(f, 3, 2000);
    int waiting = client(f);
    send_all(waiting, req, strlen(req));
    char *r = recv_response(f, waiting, 600, &closed);
    assert_string_equal(r, "");         /* Not accepted: nothing comes back. */
    assert_false(closed);
    free(r);
    metricshttp_get_stats(f->m, &st);
    assert_int_equal(st.connections, 3);
    assert_int_equal(st.accepted, 3);
    assert_int_equal(st.full, 1);
    /* One idle client goes: its slot frees within a sweep or two. */
    close(idle[0]);
    r = recv_response(f, waiting, 3000, &closed);
    assert_int_equal(status_of(r), 200);
    assert_string_equal(body_of(r), BODY);
    free(r);
    metricshttp_get_stats(f->m, &st);
    assert_int_equal(st.accepted, 4);
    close(waiting);
    close(idle[1]);
    close(idle[2]);
    wait_connections(f, 0, 3000);
}

/* An idle or stalled connection is closed after the timeout, and its slot
 * comes back; meanwhile others are served. */
static void
test_timeout(void **state)
{
    struct fix *f = *state;
    struct metricshttp_limits lim = { .timeout_ms = 300 };
    bool closed;

    metricshttp_close(f->m);
    event_base_free(f->base);
    fix_open(f, &lim);
    int idle = client(f);
    int stalled = client(f);
    send_all(stalled, "GET /metr", 9);
    uint64_t t0 = ctf_time_msec();
    char *r = exchange(f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    free(r);
    r = recv_response(f, stalled, 3000, &closed);
    uint64_t took = ctf_time_msec() - t0;
    assert_true(closed);
    assert_true(took >= 250 && took < 2500);
    free(r);
    r = recv_response(f, idle, 3000, &closed);
    assert_true(closed);
    assert_string_equal(r, "");
    free(r);
    close(idle);
    close(stalled);
    wait_connections(f, 0, 3000);
}

/* Closing with clients connected frees everything (valgrind checks). */
static void
test_close_with_clients(void **state)
{
    struct fix *f = *state;
    int a = client(f), b = client(f);

    send_all(b, "GET /met", 8);
    wait_connections(f, 2, 2000);
    metricshttp_close(f->m);
    f->m = NULL;
    /* The sockets are closed: the clients see the end. */
    for (int i = 0; i < 2; i++) {
        char c;
        struct pollfd p = { .fd = i ? b : a, .events = POLLIN };
        for (int k = 0; k < 100 && poll(&p, 1, 10) == 0; k++) {
            turn(f);
        }
        assert_int_equal(recv(p.fd, &c, 1, 0), 0);
    }
    close(a);
    close(b);
}

static void
test_bind_errors(void **state)
{
    struct fix *f = *state;
    struct metricshttp *m2 = NULL;
    struct ctf_sockaddr sa;
    char err[256];

    /* The port is taken: the reason names bind. */
    assert_int_equal(metricshttp_open(&m2, f->base, &f->addr, NULL, render, f, err, sizeof err),
                     EADDRINUSE);
    assert_null(m2);
    assert_non_null(strstr(err, "bind: "));
    /* No such local address. */
    assert_int_equal(ctf_sockaddr_parse("192.0.2.1:9462", &sa, err, sizeof err), 0);
    assert_int_equal(metricshttp_open(&m2, f->base, &sa, NULL, render, f, err, sizeof err),
                     EADDRNOTAVAIL);
    assert_null(m2);
    metricshttp_close(NULL);
}

/* IPv6 loopback, where the machine has it. */
static void
test_ipv6(void **state)
{
    struct fix *f = *state;
    struct metricshttp *m6 = NULL;
    struct metricshttp_stats st;
    struct ctf_sockaddr sa;
    char err[256];

    assert_int_equal(ctf_sockaddr_parse("[::1]:0", &sa, err, sizeof err), 0);
    int rc = metricshttp_open(&m6, f->base, &sa, NULL, render, f, err, sizeof err);
    if (rc == EADDRNOTAVAIL || rc == EAFNOSUPPORT) {
        skip();
    }
    assert_int_equal(rc, 0);
    metricshttp_get_stats(m6, &st);
    assert_int_equal(strncmp(st.address, "[::1]:", 6), 0);
    assert_int_equal(ctf_sockaddr_parse(st.address, &sa, err, sizeof err), 0);
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa.ss, sa.len), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, strlen(req));
    bool closed;
    char *r = recv_response(f, fd, 3000, &closed);
    assert_int_equal(status_of(r), 200);
    free(r);
    close(fd);
    metricshttp_close(m6);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_by_evhttp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
