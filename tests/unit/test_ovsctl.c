/*
 * test_ovsctl.c: unit tests for ovsctl.c (ovs-vswitchd's unixctl client)
 * against a fake server on a unix socket in a temp dir, found through a
 * pidfile as the real one is: a reply split over writes, two values in
 * one read, an error reply, a reply for another id, garbage, a server that
 * hangs up or says nothing (the deadline), no pidfile, a stale socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ovsctl.h"

struct fake {
    char dir[64];
    int lfd;
    const char *const *script;  /* What to write after each request; NULL ends. */
    char request[4096];         /* The last request read. */
    bool hang_up;               /* Close after the script. */
    pthread_t thread;
};

static void
fake_write(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        assert_true(n > 0);
        s += n;
        len -= (size_t) n;
    }
}

/* Reads until the request's closing brace, writes the next script line;
 * "|" in a line splits it into two writes with a pause between. */
static void *
fake_main(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);

    if (fd < 0) {
        return NULL;
    }
    for (size_t i = 0; f->script[i]; i++) {
        size_t got = 0;
        while (got < sizeof f->request - 1) {
            ssize_t n = read(fd, f->request + got, sizeof f->request - 1 - got);
            if (n <= 0) {
                close(fd);
                return NULL;
            }
            got += (size_t) n;
            f->request[got] = '\0';
            if (f->request[got - 1] == '}') {
                break;
            }
        }
        const char *line = f->script[i];
        if (!*line) {
            sleep(1);           /* Say nothing: the client's deadline. */
            continue;
        }
        const char *bar = strchr(line, '|');
        if (bar) {
            char first[512];
            snprintf(first, sizeof first, "%.*s", (int) (bar - line), line);
            fake_write(fd, first);
            usleep(50000);
            fake_write(fd, bar + 1);
        } else {
            fake_write(fd, line);
        }
    }
    if (f->hang_up) {
        close(fd);
    } else {
        sleep(1);
        close(fd);
    }
    return NULL;
}

static void
fake_start(struct fake *f, const char *const *script, bool hang_up)
{
    struct sockaddr_un sun;
    char path[128];

    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ovsctl.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof path, "%s/ovs-vswitchd.pid", f->dir);
    FILE *pf = fopen(path, "w");
    assert_non_null(pf);
    fprintf(pf, "4242\n");
    fclose(pf);
    f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s/ovs-vswitchd.4242.ctl", f->dir);
    assert_int_equal(bind(f->lfd, (struct sockaddr *) &sun, sizeof sun), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    f->script = script;
    f->hang_up = hang_up;
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
    char cmd[160];

    shutdown(f->lfd, SHUT_RDWR);
    pthread_join(f->thread, NULL);
    close(f->lfd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_calls(void **state)
{
    static const char *const script[] = {
        /* version: split over two writes. */
        "{\"id\":0,\"result\":\"ovs-vswitchd (Open |vSwitch) 3.1.0\\n\",\"error\":null}",
        /* flush: an error reply, then a stale reply for another id before ours
         * in the same write. */
        "{\"id\":1,\"error\":\"no datapaths exist\",\"result\":null}",
        "{\"id\":99,\"result\":\"x\",\"error\":null}{\"id\":2,\"result\":\"\",\"error\":null}",
        NULL,
    };
    struct fake f;
    struct ovsctl c;
    char err[256];
    char *result, *error;
    const char *args[] = { "zone=5", "ct_nw_src=10.0.0.\"1" };

    fake_start(&f, script, true);
    ovsctl_init(&c);
    assert_int_equal(ovsctl_connect(&c, f.dir, err, sizeof err), 0);
    assert_int_equal(c.pid, 4242);

    assert_int_equal(ovsctl_call(&c, "version", NULL, 0, 2000, &result, &error), 0);
    assert_string_equal(result, "ovs-vswitchd (Open vSwitch) 3.1.0\n");
    assert_null(error);
    free(result);
    assert_string_equal(f.request, "{\"method\":\"version\",\"params\":[],\"id\":0}");

    assert_int_equal(ovsctl_call(&c, "dpctl/flush-conntrack", args, 2, 2000, &result, &error),
                     0);
    assert_null(result);
    assert_string_equal(error, "no datapaths exist");
    free(error);
    /* Strings are escaped on the way out. */
    assert_string_equal(f.request, "{\"method\":\"dpctl/flush-conntrack\","
                        "\"params\":[\"zone=5\",\"ct_nw_src=10.0.0.\\\"1\"],\"id\":1}");

    assert_int_equal(ovsctl_call(&c, "x", NULL, 0, 2000, &result, &error), 0);
    assert_string_equal(result, "");
    free(result);

    /* The server hung up: the next call says so (on the send or on the
     * read, depending on when the close lands), and the client is closed. */
    int rc = ovsctl_call(&c, "x", NULL, 0, 2000, &result, &error);
    assert_true(rc == ECONNRESET || rc == EPIPE);
    assert_int_equal(c.fd, -1);
    assert_int_equal(ovsctl_call(&c, "x", NULL, 0, 2000, &result, &error), ENOTCONN);
    ovsctl_close(&c);
    fake_stop(&f);
    (void) state;
}

static void
test_bad_replies(void **state)
{
    static const char *const garbage[] = { "{\"id\":0,\"result\":nope}", NULL };
    static const char *const silent[] = { "", NULL };
    static const char *const not_string[] = { "{\"id\":0,\"result\":[1],\"error\":null}", NULL };
    struct fake f;
    struct ovsctl c;
    char err[256];
    char *result, *error;

    fake_start(&f, garbage, false);
    ovsctl_init(&c);
    assert_int_equal(ovsctl_connect(&c, f.dir, err, sizeof err), 0);
    assert_int_equal(ovsctl_call(&c, "version", NULL, 0, 2000, &result, &error), EPROTO);
    assert_int_equal(c.fd, -1);
    ovsctl_close(&c);
    fake_stop(&f);

    fake_start(&f, not_string, false);
    ovsctl_init(&c);            /* Ids start again at 0, as the script's. */
    assert_int_equal(ovsctl_connect(&c, f.dir, err, sizeof err), 0);
    assert_int_equal(ovsctl_call(&c, "version", NULL, 0, 2000, &result, &error), EPROTO);
    ovsctl_close(&c);
    fake_stop(&f);

    fake_start(&f, silent, false);
    ovsctl_init(&c);
    assert_int_equal(ovsctl_connect(&c, f.dir, err, sizeof err), 0);
    assert_int_equal(ovsctl_call(&c, "version", NULL, 0, 200, &result, &error), ETIMEDOUT);
    assert_null(result);
    assert_null(error);
    ovsctl_close(&c);
    fake_stop(&f);
    (void) state;
}

static void
test_not_running(void **state)
{
    struct ovsctl c;
    char dir[] = "/tmp/ovsctl.XXXXXX", path[128], err[256];
    pid_t pid;

    assert_non_null(mkdtemp(dir));
    ovsctl_init(&c);
    assert_int_equal(ovsctl_connect(&c, dir, err, sizeof err), ENOENT);
    assert_non_null(strstr(err, "not running"));

    snprintf(path, sizeof path, "%s/ovs-vswitchd.pid", dir);
    FILE *pf = fopen(path, "w");
    fprintf(pf, "12x\n");
    fclose(pf);
    assert_int_equal(ovsctl_read_pid(dir, &pid), EINVAL);

    /* A pidfile without its socket (ovs-vswitchd killed): refused. */
    pf = fopen(path, "w");
    fprintf(pf, "4243\n");
    fclose(pf);
    assert_int_equal(ovsctl_read_pid(dir, &pid), 0);
    assert_int_equal(pid, 4243);
    assert_int_equal(ovsctl_connect(&c, dir, err, sizeof err), ENOENT);
    assert_int_equal(c.fd, -1);
    unlink(path);
    rmdir(dir);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_bad_replies),
        cmocka_unit_test(test_not_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
