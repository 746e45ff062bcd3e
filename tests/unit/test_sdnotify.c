/*
 * test_sdnotify.c: unit tests for sdnotify.c against fake NOTIFY_SOCKETs:
 * a datagram socket bound in a temp directory, and one in the abstract
 * namespace. Each must receive exactly the bytes sent, one datagram each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

/* The fake systemd end: a bound datagram socket and how to name it. */
struct fake {
    int fd;
    char dir[64];               /* Temp directory ("" for abstract). */
    char env[100];              /* NOTIFY_SOCKET value. */
};

static void
env_clear(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

static int
fake_setup_path(void **state)
{
    struct fake *fk = calloc(1, sizeof *fk);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };

    env_clear();
    if (!fk) {
        return -1;
    }
    snprintf(fk->dir, sizeof fk->dir, "/tmp/test_sdnotify.XXXXXX");
    if (!mkdtemp(fk->dir)) {
        free(fk);
        return -1;
    }
    snprintf(fk->env, sizeof fk->env, "%s/notify", fk->dir);
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fk->env);
    fk->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fk->fd < 0 || bind(fk->fd, (struct sockaddr *) &sun, sizeof sun)) {
        return -1;
    }
    setenv("NOTIFY_SOCKET", fk->env, 1);
    *state = fk;
    return 0;
}

static int
fake_setup_abstract(void **state)
{
    struct fake *fk = calloc(1, sizeof *fk);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    socklen_t len;

    env_clear();
    if (!fk) {
        return -1;
    }
    /* Unique per process so parallel test runs do not collide. */
    snprintf(fk->env, sizeof fk->env, "@ctflushd-test-sdnotify-%ld-%d", (long) getpid(),
             rand());
    memcpy(sun.sun_path, fk->env, strlen(fk->env));
    sun.sun_path[0] = '\0';
    len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(fk->env));
    fk->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fk->fd < 0 || bind(fk->fd, (struct sockaddr *) &sun, len)) {
        return -1;
    }
    setenv("NOTIFY_SOCKET", fk->env, 1);
    *state = fk;
    return 0;
}

static int
fake_teardown(void **state)
{
    struct fake *fk = *state;

    env_clear();
    if (fk) {
        close(fk->fd);
        if (fk->dir[0]) {
            unlink(fk->env);
            rmdir(fk->dir);
        }
        free(fk);
    }
    return 0;
}

static int
env_setup(void **state)
{
    env_clear();
    *state = NULL;
    return 0;
}

/* The next datagram, whole; fails the test if none arrives within 1 s. */
static void
fake_expect(struct fake *fk, const char *want)
{
    struct pollfd pfd = { .fd = fk->fd, .events = POLLIN };
    char buf[4096];
    ssize_t n;

    assert_int_equal(poll(&pfd, 1, 1000), 1);
    n = recv(fk->fd, buf, sizeof buf, MSG_TRUNC);
    assert_true(n >= 0);
    assert_int_equal((size_t) n, strlen(want));
    assert_memory_equal(buf, want, (size_t) n);
}

static void
fake_expect_nothing(struct fake *fk)
{
    struct pollfd pfd = { .fd = fk->fd, .events = POLLIN };

    assert_int_equal(poll(&pfd, 1, 0), 0);
}

static void
send_the_three(struct fake *fk)
{
    struct sdnotify sd;

    assert_int_equal(sdnotify_open(&sd), 0);
    assert_true(sd.fd >= 0);
    assert_int_equal(sdnotify_send(&sd, "READY=1"), 0);
    assert_int_equal(sdnotify_send(&sd, "WATCHDOG=1"), 0);
    assert_int_equal(sdnotify_send(&sd, "STOPPING=1"), 0);
    assert_int_equal(sdnotify_send(&sd, "READY=1\nSTATUS=watching 12 ports"), 0);
    fake_expect(fk, "READY=1");
    fake_expect(fk, "WATCHDOG=1");
    fake_expect(fk, "STOPPING=1");
    fake_expect(fk, "READY=1\nSTATUS=watching 12 ports");
    fake_expect_nothing(fk);

    /* The socket is close-on-exec: children that exec must not hold it. */
    int flags = fcntl(sd.fd, F_GETFD);
    assert_true(flags >= 0 && (flags & FD_CLOEXEC));
    sdnotify_close(&sd);
    assert_int_equal(sd.fd, -1);
    /* After close, sends are no-ops. */
    assert_int_equal(sdnotify_send(&sd, "READY=1"), 0);
    fake_expect_nothing(fk);
    sdnotify_close(&sd);
    sdnotify_close(NULL);
}

static void
test_path_socket(void **state)
{
    struct fake *fk = *state;
    struct sdnotify sd;

    send_the_three(fk);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.path_len, strlen(fk->env));
    assert_string_equal(sd.path, fk->env);
    sdnotify_close(&sd);
}

static void
test_abstract_socket(void **state)
{
    struct fake *fk = *state;
    struct sdnotify sd;

    send_the_three(fk);
    assert_int_equal(sdnotify_open(&sd), 0);
    /* '@' became the leading NUL of an abstract address. */
    assert_int_equal(sd.path[0], '\0');
    assert_int_equal(sd.path_len, strlen(fk->env));
    assert_memory_equal(sd.path + 1, fk->env + 1, strlen(fk->env) - 1);
    sdnotify_close(&sd);
}

static void
test_unset_is_noop(void **state)
{
    struct sdnotify sd;

    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.fd, -1);
    assert_int_equal(sd.watchdog_usec, 0);
    assert_int_equal(sdnotify_send(&sd, "READY=1"), 0);
    sdnotify_close(&sd);

    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.fd, -1);
    sdnotify_close(&sd);

    /* A watchdog without a socket to report to is no watchdog. */
    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.watchdog_usec, 0);
    sdnotify_close(&sd);
    (void) state;
}

static void
test_watchdog(void **state)
{
    struct sdnotify sd;
    char pid[32];

    (void) state;
    /* No WATCHDOG_USEC: no watchdog. */
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.watchdog_usec, 0);
    sdnotify_close(&sd);

    /* WATCHDOG_USEC alone: ours. */
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.watchdog_usec, 30000000);
    sdnotify_close(&sd);

    /* With our pid: ours. */
    snprintf(pid, sizeof pid, "%ld", (long) getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.watchdog_usec, 30000000);
    sdnotify_close(&sd);

    /* Another pid (a parent's, inherited): not ours, and not an error. */
    snprintf(pid, sizeof pid, "%ld", (long) getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.watchdog_usec, 0);
    assert_true(sd.fd >= 0);
    sdnotify_close(&sd);

    /* Garbage: reported, watchdog off, the socket still usable. */
    static const char *const bad_usec[] = {
        "", "0", "abc", "30s", "-5", " 5", "+5", "18446744073709551615",
        "99999999999999999999999",
    };
    unsetenv("WATCHDOG_PID");
    for (size_t i = 0; i < sizeof bad_usec / sizeof *bad_usec; i++) {
        setenv("WATCHDOG_USEC", bad_usec[i], 1);
        int rc = sdnotify_open(&sd);
        if (rc != EINVAL && rc != ERANGE) {
            fail_msg("WATCHDOG_USEC='%s' gave %d", bad_usec[i], rc);
        }
        assert_int_equal(sd.watchdog_usec, 0);
        assert_true(sd.fd >= 0);
        sdnotify_close(&sd);
    }
    static const char *const bad_pid[] = { "", "0", "x", "-1", "12a" };
    setenv("WATCHDOG_USEC", "1000000", 1);
    for (size_t i = 0; i < sizeof bad_pid / sizeof *bad_pid; i++) {
        setenv("WATCHDOG_PID", bad_pid[i], 1);
        assert_int_equal(sdnotify_open(&sd), EINVAL);
        assert_int_equal(sd.watchdog_usec, 0);
        assert_true(sd.fd >= 0);
        sdnotify_close(&sd);
    }
    /* The smallest and a large valid value. */
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "1", 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.watchdog_usec, 1);
    sdnotify_close(&sd);
    setenv("WATCHDOG_USEC", "18446744073709551614", 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_true(sd.watchdog_usec == UINT64_MAX - 1);
    sdnotify_close(&sd);
}

static void
test_bad_addresses(void **state)
{
    struct sdnotify sd;
    char path[300];

    (void) state;
    /* 108 bytes: a path needs room for its NUL, so one byte too many. */
    path[0] = '/';
    memset(path + 1, 'p', 107);
    path[108] = '\0';
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "1000000", 1);
    assert_int_equal(sdnotify_open(&sd), ENAMETOOLONG);
    assert_int_equal(sd.fd, -1);
    assert_int_equal(sd.watchdog_usec, 0);
    assert_int_equal(sdnotify_send(&sd, "READY=1"), 0);
    sdnotify_close(&sd);

    /* 107 is the longest path: accepted (nothing listens, sends fail). */
    path[107] = '\0';
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_true(sd.fd >= 0);
    assert_int_equal(sdnotify_send(&sd, "READY=1"), ENOENT);
    sdnotify_close(&sd);

    /* Abstract: the whole sun_path, 108 bytes, but no more. */
    path[0] = '@';
    memset(path + 1, 'a', 107);
    path[108] = '\0';
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sd.path_len, 108);
    sdnotify_close(&sd);
    path[108] = 'a';
    path[109] = '\0';
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sdnotify_open(&sd), ENAMETOOLONG);
    assert_int_equal(sd.fd, -1);
    sdnotify_close(&sd);

    memset(path, 'x', 250);
    path[0] = '/';
    path[250] = '\0';
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sdnotify_open(&sd), ENAMETOOLONG);
    sdnotify_close(&sd);

    /* Neither a path nor '@': not a form we speak. */
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    assert_int_equal(sdnotify_open(&sd), EAFNOSUPPORT);
    assert_int_equal(sd.fd, -1);
    sdnotify_close(&sd);
    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    assert_int_equal(sdnotify_open(&sd), EAFNOSUPPORT);
    sdnotify_close(&sd);
}

/* Errors come back as values: a vanished receiver, an empty state. */
static void
test_send_errors(void **state)
{
    struct fake *fk = *state;
    struct sdnotify sd;

    assert_int_equal(sdnotify_open(&sd), 0);
    assert_int_equal(sdnotify_send(&sd, ""), EINVAL);
    assert_int_equal(sdnotify_send(&sd, NULL), EINVAL);
    fake_expect_nothing(fk);
    close(fk->fd);
    unlink(fk->env);
    fk->fd = socket(AF_UNIX, SOCK_DGRAM, 0);    /* For teardown to close. */
    assert_int_equal(sdnotify_send(&sd, "READY=1"), ENOENT);
    sdnotify_close(&sd);
}

/* A receiver that is not reading makes sends fail with EAGAIN instead of
 * blocking the caller. */
static void
test_send_never_blocks(void **state)
{
    struct fake *fk = *state;
    struct sdnotify sd;
    int rc = 0;

    assert_int_equal(sdnotify_open(&sd), 0);
    /* A send that blocks would hang here: SIGALRM ends the run instead. */
    alarm(20);
    for (int i = 0; i < 100000 && !rc; i++) {
        rc = sdnotify_send(&sd, "WATCHDOG=1");
    }
    alarm(0);
    assert_int_equal(rc, EAGAIN);
    fake_expect(fk, "WATCHDOG=1");          /* What was queued is intact. */
    sdnotify_close(&sd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_path_socket, fake_setup_path, fake_teardown),
        cmocka_unit_test_setup_teardown(test_abstract_socket, fake_setup_abstract,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_unset_is_noop, env_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_watchdog, fake_setup_path, fake_teardown),
        cmocka_unit_test_setup_teardown(test_bad_addresses, env_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_send_errors, fake_setup_path, fake_teardown),
        cmocka_unit_test_setup_teardown(test_send_never_blocks, fake_setup_abstract,
                                        fake_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
