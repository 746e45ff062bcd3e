/*
 * test_ctpipe_netns.c: a dump received on a helper thread (ctpipe) against
 * the real kernel table: every entry handed over exactly once, on the
 * caller's thread, with the receiving done elsewhere; a ring far smaller than
 * the dump loses nothing when the handler is slow; a handler that gives up
 * stops the dump without hanging.
 *
 * recv is wrapped at link time (as test_probe_safety wraps send) to see
 * which thread received the dump.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctgen.h"
#include "ctmsg.h"
#include "ctpipe.h"
#include "ctsock.h"
#include "engine.h"
#include "job.h"
#include "log.h"
#include "netns_private.h"

#define TABLE_N 20000           /* Some 200 datagrams: many times the ring. */
#define BASE 0x0a000001u        /* Entry i's original source is BASE + i. */

/* Which threads called recv: the test's own, and any other. */
static pthread_t main_thread;
static unsigned long recv_main, recv_other;

ssize_t __real_recv(int, void *, size_t, int);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);

ssize_t
__wrap_recv(int fd, void *buf, size_t len, int flags)
{
    if (pthread_equal(pthread_self(), main_thread)) {
        __atomic_add_fetch(&recv_main, 1, __ATOMIC_RELAXED);
    } else {
        __atomic_add_fetch(&recv_other, 1, __ATOMIC_RELAXED);
    }
    return __real_recv(fd, buf, len, flags);
}

struct tally {
    unsigned char seen[TABLE_N];
    size_t entries;             /* Callbacks. */
    size_t dups, strangers;     /* Entries seen twice; not ours. */
    size_t off_thread;          /* Callbacks not on the caller's thread. */
    size_t stop_after;          /* Give up after this many (0: never). */
    unsigned int slow_us;       /* Sleep this long every 500 entries. */
};

static int
tally_cb(const void *nlh, size_t len, void *aux)
{
    struct tally *t = aux;
    struct ct_entry e;

    t->entries++;
    if (!pthread_equal(pthread_self(), main_thread)) {
        t->off_thread++;
    }
    if (ctmsg_parse_entry(nlh, len, &e) || e.family != AF_INET) {
        t->strangers++;
    } else {
        uint32_t i = ntohl(e.orig.src.w[0]) - BASE;
        if (i >= TABLE_N) {
            t->strangers++;
        } else if (t->seen[i]++) {
            t->dups++;
        }
    }
    if (t->slow_us && t->entries % 500 == 0) {
        struct timespec ts = { 0, (long) t->slow_us * 1000 };
        nanosleep(&ts, NULL);
    }
    if (t->stop_after && t->entries == t->stop_after) {
        return ECANCELED;
    }
    return 0;
}

static void
fill_table(void)
{
    struct ctgen_entry *g = calloc(TABLE_N, sizeof *g);
    struct ctgen_stats st;
    struct ctsock sock;

    assert_non_null(g);
    for (uint32_t i = 0; i < TABLE_N; i++) {
        g[i].family = AF_INET;
        g[i].l4proto = i % 3 ? IPPROTO_UDP : IPPROTO_TCP;
        g[i].orig_src.w[0] = htonl(BASE + i);
        g[i].orig_dst.w[0] = htonl(0x0b000001u);
        g[i].sport = (uint16_t) (1024 + i % 50000);
        g[i].dport = 53;
        g[i].timeout = 1200;
    }
    assert_int_equal(ctsock_open(&sock, 0), 0);
    assert_int_equal(ctgen_insert(&sock, g, TABLE_N, &st), 0);
    assert_int_equal(st.inserted, TABLE_N);
    ctsock_close(&sock);
    free(g);
    assert_int_equal(engine_table_count(), TABLE_N);
}

/* One dump of the whole table through ctpipe (or ctsock_dump). */
static int
run_dump(struct tally *t, bool pipe)
{
    struct ctsock sock;
    char req[CTMSG_MAX_LEN];

    assert_int_equal(ctsock_open(&sock, 0), 0);
    size_t n = ctmsg_build_dump(req, sizeof req, ctsock_next_seq(&sock), AF_UNSPEC, NULL,
                                NULL, NULL);
    assert_true(n > 0);
    recv_main = recv_other = 0;
    int rc = pipe ? ctpipe_dump(&sock, req, n, tally_cb, t)
                  : ctsock_dump(&sock, req, n, tally_cb, t);
    ctsock_close(&sock);
    return rc;
}

static void
assert_all_once(const struct tally *t)
{
    assert_int_equal(t->entries, TABLE_N);
    assert_int_equal(t->dups, 0);
    assert_int_equal(t->strangers, 0);
    for (size_t i = 0; i < TABLE_N; i++) {
        assert_int_equal(t->seen[i], 1);
    }
}

/* The whole table, once, handled here and received elsewhere. */
static void
test_every_entry_once(void **state)
{
    (void) state;
    struct tally *t = calloc(1, sizeof *t);

    assert_non_null(t);
    assert_int_equal(run_dump(t, true), 0);
    assert_all_once(t);
    assert_int_equal(t->off_thread, 0);
    assert_int_equal(recv_main, 0);
    assert_true(recv_other > 8);    /* More datagrams than the ring holds. */

    /* The same as the one-thread dump, which receives here. */
    memset(t, 0, sizeof *t);
    assert_int_equal(run_dump(t, false), 0);
    assert_all_once(t);
    assert_true(recv_main > 0);
    assert_int_equal(recv_other, 0);
    free(t);
}

/* A handler far slower than the kernel: the receiver waits for room in the
 * ring (the kernel's dump waits with it) and nothing is lost. */
static void
test_slow_handler_loses_nothing(void **state)
{
    (void) state;
    struct tally *t = calloc(1, sizeof *t);

    assert_non_null(t);
    t->slow_us = 2000;
    assert_int_equal(run_dump(t, true), 0);
    assert_all_once(t);
    free(t);
}

/* A handler that gives up: its error comes back, no entry is handed over
 * after it, and the call returns (the receiver stops). */
static void
test_handler_gives_up(void **state)
{
    (void) state;
    struct tally *t = calloc(1, sizeof *t);

    assert_non_null(t);
    t->stop_after = 1234;
    assert_int_equal(run_dump(t, true), ECANCELED);
    assert_int_equal(t->entries, 1234);
    assert_int_equal(t->dups, 0);
    /* A fresh dump afterwards sees the whole table again. */
    memset(t, 0, sizeof *t);
    assert_int_equal(run_dump(t, true), 0);
    assert_all_once(t);
    free(t);
}

int
main(void)
{
    int skip = netns_private_enter();

    if (skip) {
        return skip;
    }
    log_init("test_ctpipe_netns", LOG_LVL_WARNING, false);
    main_thread = pthread_self();
    fill_table();

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_entry_once),
        cmocka_unit_test(test_slow_handler_loses_nothing),
        cmocka_unit_test(test_handler_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
