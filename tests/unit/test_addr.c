/*
 * test_addr.c: unit tests for addr.c (prefix parsing, lists, @FILE,
 * formatting, containment and masking).
 *
 * The @FILE reader's allocation failure is reached through a link-time seam:
 * this test is linked with -Wl,--wrap=realloc, so addr.c's realloc() calls
 * land in __wrap_realloc below, which fails on request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "unit_helpers.h"

/* ---- Seam: realloc that fails on request. ---- */

void *__real_realloc(void *, size_t);
void *__wrap_realloc(void *, size_t);

/* When nonzero, the next realloc() asking for more than this many bytes
 * fails (once). */
static size_t fail_realloc_size;

void *
__wrap_realloc(void *p, size_t n)
{
    if (fail_realloc_size && n > fail_realloc_size) {
        fail_realloc_size = 0;
        return NULL;
    }
    return __real_realloc(p, n);
}

/* ---- Temp files, removed by each test's teardown. ---- */

#define MAX_TMP 8
static char tmp_paths[MAX_TMP][256];
static int n_tmp;

static const char *
tmp_write(const void *data, size_t len)
{
    const char *dir = getenv("TMPDIR");
    char *path;
    int fd;

    assert_true(n_tmp < MAX_TMP);
    path = tmp_paths[n_tmp];
    snprintf(path, sizeof tmp_paths[0], "%s/ctf_addr_XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    n_tmp++;
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        assert_true(w > 0);
        p += w;
        len -= (size_t) w;
    }
    assert_int_equal(close(fd), 0);
    return path;
}

static const char *
tmp_write_str(const char *s)
{
    return tmp_write(s, strlen(s));
}

static int
tmp_teardown(void **state)
{
    for (int i = 0; i < n_tmp; i++) {
        unlink(tmp_paths[i]);
    }
    n_tmp = 0;
    fail_realloc_size = 0;
    return 0;
}

/* ---- Helpers. ---- */

static void
expect_prefix(const char *s, int family, unsigned int plen, const char *addr)
{
    struct ctf_prefix p;
    union ctf_inaddr want;

    memset(&want, 0, sizeof want);
    assert_int_equal(inet_pton(family, addr, &want), 1);
    if (ctf_prefix_parse(s, &p) != 0) {
        fail_msg("'%s' should parse", s);
    }
    assert_int_equal(p.family, family);
    assert_int_equal(p.plen, plen);
    assert_memory_equal(&p.addr, &want, sizeof want);
}

static void
expect_bad(const char *s)
{
    struct ctf_prefix p;
    int err = ctf_prefix_parse(s, &p);

    if (err != EINVAL) {
        fail_msg("'%s' should be rejected with EINVAL, got %d", s, err);
    }
}

static union ctf_inaddr
ina(int family, const char *s)
{
    union ctf_inaddr a;

    memset(&a, 0, sizeof a);
    assert_int_equal(inet_pton(family, s, &a), 1);
    return a;
}

static const char *
fmt_item(const struct ctf_prefix_list *l, size_t i, char buf[CTF_PREFIX_STRLEN])
{
    assert_true(i < l->n);
    return ctf_prefix_format(&l->items[i], buf);
}

/* ---- ctf_prefix_parse. ---- */

static void
test_parse_good_v4(void **state)
{
    expect_prefix("10.0.0.5", AF_INET, 32, "10.0.0.5");
    expect_prefix("10.0.0.0/24", AF_INET, 24, "10.0.0.0");
    expect_prefix("10.0.0.5/32", AF_INET, 32, "10.0.0.5");
    expect_prefix("0.0.0.0/0", AF_INET, 0, "0.0.0.0");
    expect_prefix("192.168.128.0/17", AF_INET, 17, "192.168.128.0");
    expect_prefix("255.255.255.255", AF_INET, 32, "255.255.255.255");
    expect_prefix("10.0.0.0/8", AF_INET, 8, "10.0.0.0");
}

static void
test_parse_good_v6(void **state)
{
    expect_prefix("fd00::1", AF_INET6, 128, "fd00::1");
    expect_prefix("fd00::1/128", AF_INET6, 128, "fd00::1");
    expect_prefix("fd00::/64", AF_INET6, 64, "fd00::");
    expect_prefix("::/0", AF_INET6, 0, "::");
    expect_prefix("::", AF_INET6, 128, "::");
    expect_prefix("2001:db8:0:8000::/49", AF_INET6, 49, "2001:db8:0:8000::");
    expect_prefix("::ffff:10.0.0.1", AF_INET6, 128, "::ffff:10.0.0.1");
    expect_prefix("FD00:AB::/32", AF_INET6, 32, "fd00:ab::");
}

static void
test_parse_v4_has_zero_tail(void **state)
{
    struct ctf_prefix p;
    static const uint8_t zeros[12];

    /* The union is compared and hashed whole elsewhere: the 12 bytes after a
     * v4 address must be zero. */
    memset(&p, 0xa5, sizeof p);
    assert_int_equal(ctf_prefix_parse("1.2.3.4", &p), 0);
    assert_memory_equal(&p.addr.b[4], zeros, sizeof zeros);
}

static void
test_parse_host_bits_rejected(void **state)
{
    expect_bad("10.0.0.5/24");
    expect_bad("10.0.0.1/31");
    expect_bad("128.0.0.0/0");
    expect_bad("fd00::1/64");
    expect_bad("fd00::1/127");
    expect_bad("2001:db8:0:8000::/48");
}

static void
test_parse_prefix_len_rejected(void **state)
{
    expect_bad("10.0.0.0/33");
    expect_bad("0.0.0.0/99");
    expect_bad("fd00::/129");
    expect_bad("fd00::/999");
    expect_bad("fd00::/0128");      /* Four digits. */
    expect_bad("10.0.0.0/+8");
    expect_bad("10.0.0.0/ 8");
    expect_bad("10.0.0.0/0x8");
    expect_bad("10.0.0.0/-8");
    expect_bad("10.0.0.0/8 ");
    expect_bad("10.0.0.0/8/8");
    expect_bad("1.2.3.4/");
    expect_bad("0.0.0.0/");         /* Must not become /0 (everything). */
    expect_bad("::/");
    expect_bad("/24");
    expect_bad("/");
}

static void
test_parse_garbage_rejected(void **state)
{
    char longbuf[200];

    expect_bad("");
    expect_bad("10.0.0.1 ");
    expect_bad(" 10.0.0.1");
    expect_bad("10.0.0.1x");
    expect_bad("10.0.0");
    expect_bad("10.0.0.256");
    expect_bad("10.0.0.1.2");
    expect_bad("fd00::1::2");
    expect_bad("fd00::g");
    expect_bad("fe80::1%eth0");
    expect_bad("localhost");
    expect_bad("any");
    expect_bad("10.0.0.1,10.0.0.2");
    assert_int_equal(ctf_prefix_parse(NULL, &(struct ctf_prefix) { 0 }), EINVAL);

    /* Overlong: a valid address followed by a long run of zeros-ish text,
     * and a long run of digits. */
    memset(longbuf, '1', sizeof longbuf - 1);
    longbuf[sizeof longbuf - 1] = '\0';
    expect_bad(longbuf);
    snprintf(longbuf, sizeof longbuf, "0000:0000:0000:0000:0000:0000:0000:0001%060d", 0);
    expect_bad(longbuf);
}

/* ---- ctf_prefix_list_parse. ---- */

static void
test_list_separators(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char err[128] = "untouched";
    char b[CTF_PREFIX_STRLEN];

    assert_int_equal(ctf_prefix_list_parse(&l, "10.0.0.1,10.0.0.2 10.0.0.0/24\n"
                                              "  fd00::1 ,\t, fd00::/64\r\n"
                                              "# a whole-line comment 1.1.1.1\n"
                                              "10.9.9.9#trailing comment, 8.8.8.8\n"
                                              ",,,\n", err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(l.n, 6);
    assert_string_equal(fmt_item(&l, 0, b), "10.0.0.1");
    assert_string_equal(fmt_item(&l, 1, b), "10.0.0.2");
    assert_string_equal(fmt_item(&l, 2, b), "10.0.0.0/24");
    assert_string_equal(fmt_item(&l, 3, b), "fd00::1");
    assert_string_equal(fmt_item(&l, 4, b), "fd00::/64");
    assert_string_equal(fmt_item(&l, 5, b), "10.9.9.9");
    ctf_prefix_list_destroy(&l);
}

static void
test_list_appends(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char b[CTF_PREFIX_STRLEN];

    assert_int_equal(ctf_prefix_list_parse(&l, "1.1.1.1", NULL, 0), 0);
    assert_int_equal(ctf_prefix_list_parse(&l, "2.2.2.2", NULL, 0), 0);
    assert_int_equal(ctf_prefix_list_parse(&l, "", NULL, 0), 0);
    assert_int_equal(ctf_prefix_list_parse(&l, " , \n# nothing\n", NULL, 0), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(fmt_item(&l, 1, b), "2.2.2.2");
    assert_int_equal(ctf_prefix_list_parse(&l, NULL, NULL, 0), EINVAL);
    ctf_prefix_list_destroy(&l);
}

static void
test_list_bad_item(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char err[128];
    char b[CTF_PREFIX_STRLEN];

    assert_int_equal(ctf_prefix_list_parse(&l, "10.0.0.1, 10.0.0.2, 10.0.0.5/24, 10.0.0.3",
                                           err, sizeof err), EINVAL);
    assert_non_null(strstr(err, "10.0.0.5/24"));
    /* What came before the bad item is kept, nothing after it. */
    assert_int_equal(l.n, 2);
    assert_string_equal(fmt_item(&l, 1, b), "10.0.0.2");

    ctf_prefix_list_clear(&l);
    assert_int_equal(ctf_prefix_list_parse(&l, "10.0.0.1\n\n1.2.3.4/ 5", err, sizeof err),
                     EINVAL);
    assert_int_equal(l.n, 1);
    assert_non_null(strstr(err, "1.2.3.4/"));

    /* A too-long item names its line. */
    char longlist[256];
    memset(longlist, 0, sizeof longlist);
    strcpy(longlist, "1.1.1.1\n2.2.2.2\n");
    memset(longlist + strlen(longlist), '7', 100);
    ctf_prefix_list_clear(&l);
    assert_int_equal(ctf_prefix_list_parse(&l, longlist, err, sizeof err), EINVAL);
    assert_int_equal(l.n, 2);
    assert_non_null(strstr(err, "line 3"));
    assert_non_null(strstr(err, "too long"));

    /* errbuf may be NULL, and a tiny errbuf is still NUL-terminated. */
    ctf_prefix_list_clear(&l);
    assert_int_equal(ctf_prefix_list_parse(&l, "bogus", NULL, 0), EINVAL);
    char tiny[4] = "xxx";
    assert_int_equal(ctf_prefix_list_parse(&l, "bogus", tiny, sizeof tiny), EINVAL);
    assert_int_equal(strlen(tiny), 3);
    ctf_prefix_list_destroy(&l);
}

/* ---- @FILE. ---- */

static void
test_file_good(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char arg[300], err[256] = "untouched";
    char b[CTF_PREFIX_STRLEN];
    const char *path = tmp_write_str("# ports of VM 42\n"
                                     "10.1.0.1\n"
                                     "10.1.0.2, 10.1.0.3   # two on a line\n"
                                     "\n"
                                     "   fd00:1::/64\n"
                                     "10.2.0.0/16");   /* No final newline. */

    snprintf(arg, sizeof arg, "@%s", path);
    assert_int_equal(ctf_prefix_list_parse(&l, arg, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(l.n, 5);
    assert_string_equal(fmt_item(&l, 0, b), "10.1.0.1");
    assert_string_equal(fmt_item(&l, 2, b), "10.1.0.3");
    assert_string_equal(fmt_item(&l, 3, b), "fd00:1::/64");
    assert_string_equal(fmt_item(&l, 4, b), "10.2.0.0/16");
    ctf_prefix_list_destroy(&l);
}

static void
test_file_empty(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char arg[300];

    snprintf(arg, sizeof arg, "@%s", tmp_write_str(""));
    assert_int_equal(ctf_prefix_list_parse(&l, arg, NULL, 0), 0);
    assert_int_equal(l.n, 0);
    ctf_prefix_list_destroy(&l);
}

static void
test_file_missing(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char err[256];

    assert_int_equal(ctf_prefix_list_parse(&l, "@/nonexistent/ctf/addrs.txt", err, sizeof err),
                     ENOENT);
    assert_non_null(strstr(err, "/nonexistent/ctf/addrs.txt"));
    assert_int_equal(l.n, 0);
    assert_int_not_equal(ctf_prefix_list_parse(&l, "@", err, sizeof err), 0);
    ctf_prefix_list_destroy(&l);
}

static void
test_file_is_directory(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char err[256];

    /* fopen() succeeds on a directory; the read must fail, not yield "". */
    assert_int_not_equal(ctf_prefix_list_parse(&l, "@/", err, sizeof err), 0);
    assert_int_equal(l.n, 0);
    ctf_prefix_list_destroy(&l);
}

static void
test_file_bad_line(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char arg[300], err[512], want[400];
    const char *path = tmp_write_str("10.0.0.1\n"
                                     "# comment\n"
                                     "10.0.0.2 10.0.0.3\n"
                                     "10.0.0.4, 10.0.0.300\n"
                                     "10.0.0.5\n");

    snprintf(arg, sizeof arg, "@%s", path);
    assert_int_equal(ctf_prefix_list_parse(&l, arg, err, sizeof err), EINVAL);
    snprintf(want, sizeof want, "%s:4:", path);
    if (strncmp(err, want, strlen(want))) {
        fail_msg("error '%s' does not start with '%s'", err, want);
    }
    assert_non_null(strstr(err, "10.0.0.300"));
    assert_int_equal(l.n, 4);
    ctf_prefix_list_destroy(&l);
}

static void
test_file_nul_byte(void **state)
{
    static const char data[] = "10.0.0.1\n10.0.0.2\0\n10.0.0.3\n";
    struct ctf_prefix_list l = { 0 };
    char arg[300], err[512];
    const char *path = tmp_write(data, sizeof data - 1);

    snprintf(arg, sizeof arg, "@%s", path);
    assert_int_equal(ctf_prefix_list_parse(&l, arg, err, sizeof err), EINVAL);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "NUL"));
    assert_int_equal(l.n, 0);
    ctf_prefix_list_destroy(&l);
}

static void
test_file_large(void **state)
{
    /* Several times the reader's first 4 KiB buffer. */
    const size_t n = 5000;
    size_t cap = n * 20, len = 0;
    char *text = malloc(cap);
    struct ctf_prefix_list l = { 0 };
    char arg[300];

    assert_non_null(text);
    for (size_t i = 0; i < n; i++) {
        len += (size_t) snprintf(text + len, cap - len, "10.%zu.%zu.%zu\n",
                                 i >> 16, (i >> 8) & 0xff, i & 0xff);
    }
    snprintf(arg, sizeof arg, "@%s", tmp_write(text, len));
    free(text);
    assert_int_equal(ctf_prefix_list_parse(&l, arg, NULL, 0), 0);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(l.items[i].family, AF_INET);
        assert_int_equal(l.items[i].plen, 32);
        assert_int_equal(ntohl(l.items[i].addr.w[0]), (10u << 24) | (uint32_t) i);
    }
    ctf_prefix_list_destroy(&l);
}

static void
test_file_read_enomem(void **state)
{
    /* A file bigger than the reader's first buffer (4096 bytes), laid out so
     * that byte 4095 falls inside "10.1.2.34": cut there, the item would
     * read as the valid but different address 10.1.2.3. When growing the
     * buffer fails, the parse must fail, not go on with a truncated text. */
    char text[8192];
    size_t len = 0;
    struct ctf_prefix_list l = { 0 };
    char arg[300];

    while (len < 4095 - 8) {
        text[len++] = '#';
    }
    /* "10.1.2.3" ends at byte 4094, '4' is byte 4095. */
    text[len - 1] = '\n';
    memcpy(text + len, "10.1.2.34\n", 10);
    len += 10;
    assert_int_equal(text[4095], '4');
    snprintf(arg, sizeof arg, "@%s", tmp_write(text, len));

    fail_realloc_size = 4096;       /* The reader's first growth. */
    int err = ctf_prefix_list_parse(&l, arg, NULL, 0);
    int armed = fail_realloc_size != 0;
    fail_realloc_size = 0;
    bool wrong = false;
    for (size_t i = 0; i < l.n; i++) {
        char b[CTF_PREFIX_STRLEN];
        wrong |= !strcmp(ctf_prefix_format(&l.items[i], b), "10.1.2.3");
    }
    ctf_prefix_list_destroy(&l);
    if (armed) {
        skip();                     /* The reader never grew its buffer. */
    }
    if (wrong) {
        fail_msg("a truncated read produced the wrong address 10.1.2.3 (error %d)", err);
    }
    assert_int_equal(err, ENOMEM);

    /* Without the failure the same file parses to the right address. */
    assert_int_equal(ctf_prefix_list_parse(&l, arg, NULL, 0), 0);
    assert_int_equal(l.n, 1);
    char b[CTF_PREFIX_STRLEN];
    assert_string_equal(fmt_item(&l, 0, b), "10.1.2.34");
    ctf_prefix_list_destroy(&l);
}

/* ---- List management. ---- */

static void
test_list_copy_destroy(void **state)
{
    struct ctf_prefix_list a = { 0 }, b = { 0 };

    assert_int_equal(ctf_prefix_list_parse(&a, "1.1.1.1 2.2.2.0/24 fd00::1", NULL, 0), 0);
    assert_int_equal(ctf_prefix_list_parse(&b, "9.9.9.9 8.8.8.8", NULL, 0), 0);
    assert_int_equal(ctf_prefix_list_copy(&b, &a), 0);
    assert_int_equal(b.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ctf_prefix_cmp(&a.items[i], &b.items[i]), 0);
    }
    assert_ptr_not_equal(a.items, b.items);
    for (int i = 0; i < 100; i++) {
        struct ctf_prefix p = pfx("3.3.3.3");
        assert_int_equal(ctf_prefix_list_add(&b, &p), 0);
    }
    assert_int_equal(b.n, 103);
    assert_true(b.cap >= b.n);
    ctf_prefix_list_destroy(&a);
    ctf_prefix_list_destroy(&b);
    assert_null(b.items);
    assert_int_equal(b.n, 0);
    ctf_prefix_list_destroy(NULL);
}

/* ---- Formatting, comparison, containment, masking. ---- */

static void
test_format_round_trip(void **state)
{
    static const char *const forms[] = {
        "10.0.0.5", "10.0.0.0/24", "0.0.0.0/0", "255.255.255.255",
        "fd00::1", "fd00::/64", "::/0", "2001:db8::/32", "::ffff:10.0.0.1",
        "2001:db8:0:8000::/49",
    };
    char b[CTF_PREFIX_STRLEN];

    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        struct ctf_prefix p = pfx(forms[i]), q;
        assert_string_equal(ctf_prefix_format(&p, b), forms[i]);
        assert_int_equal(ctf_prefix_parse(b, &q), 0);
        assert_int_equal(ctf_prefix_cmp(&p, &q), 0);
    }
    /* "/32" and "/128" are printed as plain hosts. */
    struct ctf_prefix p = pfx("10.0.0.5/32");
    assert_string_equal(ctf_prefix_format(&p, b), "10.0.0.5");
    p = pfx("FD00:0:0::1/128");
    assert_string_equal(ctf_prefix_format(&p, b), "fd00::1");
    /* The longest v6 form fits. */
    p = pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
    assert_string_equal(ctf_prefix_format(&p, b), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
}

static void
test_is_host_and_cmp(void **state)
{
    struct ctf_prefix a = pfx("10.0.0.1"), b = pfx("10.0.0.0/24"), c = pfx("fd00::1"),
                      d = pfx("fd00::/127"), e = pfx("10.0.0.0/25");

    assert_true(ctf_prefix_is_host(&a));
    assert_false(ctf_prefix_is_host(&b));
    assert_true(ctf_prefix_is_host(&c));
    assert_false(ctf_prefix_is_host(&d));
    assert_true(ctf_prefix_cmp(&a, &c) < 0);      /* AF_INET < AF_INET6. */
    assert_true(ctf_prefix_cmp(&c, &a) > 0);
    assert_true(ctf_prefix_cmp(&b, &a) < 0);      /* 10.0.0.0 < 10.0.0.1 */
    assert_true(ctf_prefix_cmp(&b, &e) < 0);      /* Same address, /24 < /25. */
    assert_true(ctf_prefix_cmp(&e, &b) > 0);
    assert_int_equal(ctf_prefix_cmp(&a, &a), 0);
}

static void
test_list_sort_unique_find(void **state)
{
    static const char *const in[] = {
        "fd00::1", "10.0.0.2", "10.0.0.0/24", "10.0.0.2", "fd00::1", "10.0.0.1", "10.0.0.0/25",
    };
    static const char *const want[] = {
        "10.0.0.0/24", "10.0.0.0/25", "10.0.0.1", "10.0.0.2", "fd00::1",
    };
    struct ctf_prefix_list l = { 0 };

    /* Empty: nothing to sort, nothing found. */
    ctf_prefix_list_sort_unique(&l);
    assert_int_equal(l.n, 0);
    struct ctf_prefix key = pfx("10.0.0.1");
    assert_null(ctf_prefix_list_find(&l, &key));

    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        struct ctf_prefix p = pfx(in[i]);
        assert_int_equal(ctf_prefix_list_add(&l, &p), 0);
    }
    ctf_prefix_list_sort_unique(&l);
    assert_int_equal(l.n, sizeof want / sizeof *want);
    for (size_t i = 0; i < l.n; i++) {
        struct ctf_prefix p = pfx(want[i]);
        assert_int_equal(ctf_prefix_cmp(&l.items[i], &p), 0);
        assert_ptr_equal(ctf_prefix_list_find(&l, &p), &l.items[i]);
    }
    /* Equal means equal: same address, other length, is not found. */
    key = pfx("10.0.0.0/23");
    assert_null(ctf_prefix_list_find(&l, &key));
    key = pfx("fd00::2");
    assert_null(ctf_prefix_list_find(&l, &key));
    assert_true(ctf_prefix_list_has_family(&l, AF_INET));
    assert_true(ctf_prefix_list_has_family(&l, AF_INET6));
    l.n--;                      /* Without fd00::1, the last. */
    assert_false(ctf_prefix_list_has_family(&l, AF_INET6));
    l.n++;
    ctf_prefix_list_destroy(&l);
}

static void
test_contains(void **state)
{
    struct ctf_prefix net = pfx("10.1.0.0/16"), host = pfx("10.1.2.3"),
                      all4 = pfx("0.0.0.0/0"), net6 = pfx("fd00:1::/32"),
                      all6 = pfx("::/0");
    union ctf_inaddr a;

    a = ina(AF_INET, "10.1.255.255");
    assert_true(ctf_prefix_contains(&net, AF_INET, &a));
    a = ina(AF_INET, "10.2.0.0");
    assert_false(ctf_prefix_contains(&net, AF_INET, &a));
    a = ina(AF_INET, "10.0.255.255");
    assert_false(ctf_prefix_contains(&net, AF_INET, &a));
    a = ina(AF_INET, "10.1.2.3");
    assert_true(ctf_prefix_contains(&host, AF_INET, &a));
    a = ina(AF_INET, "10.1.2.4");
    assert_false(ctf_prefix_contains(&host, AF_INET, &a));
    assert_true(ctf_prefix_contains(&all4, AF_INET, &a));
    /* Family mismatch never matches, even for /0. */
    assert_false(ctf_prefix_contains(&all6, AF_INET, &a));
    a = ina(AF_INET6, "fd00:1:ffff::1");
    assert_true(ctf_prefix_contains(&net6, AF_INET6, &a));
    assert_true(ctf_prefix_contains(&all6, AF_INET6, &a));
    assert_false(ctf_prefix_contains(&all4, AF_INET6, &a));
    a = ina(AF_INET6, "fd00:2::1");
    assert_false(ctf_prefix_contains(&net6, AF_INET6, &a));
    /* Bytes past a v4 address do not matter. */
    a = ina(AF_INET, "10.1.2.3");
    memset(&a.b[4], 0xee, 12);
    assert_true(ctf_prefix_contains(&host, AF_INET, &a));
    assert_true(ctf_prefix_contains(&net, AF_INET, &a));
}

static void
test_contains_odd_lengths(void **state)
{
    struct ctf_prefix p = pfx("10.1.2.0/23");   /* 10.1.2.0 - 10.1.3.255 */
    union ctf_inaddr a = ina(AF_INET, "10.1.3.200");

    assert_true(ctf_prefix_contains(&p, AF_INET, &a));
    a = ina(AF_INET, "10.1.4.0");
    assert_false(ctf_prefix_contains(&p, AF_INET, &a));
    a = ina(AF_INET, "10.1.1.255");
    assert_false(ctf_prefix_contains(&p, AF_INET, &a));

    p = pfx("fd00:0:0:0:8000::/65");
    a = ina(AF_INET6, "fd00::ffff:0:0:1");
    assert_true(ctf_prefix_contains(&p, AF_INET6, &a));
    a = ina(AF_INET6, "fd00::7fff:0:0:1");
    assert_false(ctf_prefix_contains(&p, AF_INET6, &a));
}

static void
test_inaddr_mask(void **state)
{
    static const struct {
        int family;
        const char *in;
        unsigned int plen;
        const char *out;
    } cases[] = {
        { AF_INET, "255.255.255.255", 32, "255.255.255.255" },
        { AF_INET, "255.255.255.255", 31, "255.255.255.254" },
        { AF_INET, "255.255.255.255", 20, "255.255.240.0" },
        { AF_INET, "255.255.255.255", 9, "255.128.0.0" },
        { AF_INET, "255.255.255.255", 8, "255.0.0.0" },
        { AF_INET, "255.255.255.255", 1, "128.0.0.0" },
        { AF_INET, "255.255.255.255", 0, "0.0.0.0" },
        { AF_INET, "10.1.2.3", 24, "10.1.2.0" },
        { AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128,
          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
        { AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 127,
          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe" },
        { AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65, "ffff:ffff:ffff:ffff:8000::" },
        { AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 64, "ffff:ffff:ffff:ffff::" },
        { AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 3, "e000::" },
        { AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, "::" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        union ctf_inaddr a = ina(cases[i].family, cases[i].in);
        union ctf_inaddr want = ina(cases[i].family, cases[i].out);
        ctf_inaddr_mask(cases[i].family, &a, cases[i].plen);
        if (memcmp(&a, &want, sizeof a)) {
            fail_msg("case %zu: %s/%u", i, cases[i].in, cases[i].plen);
        }
    }
    /* v4 masking clears whatever sits after the 4 address bytes. */
    union ctf_inaddr a;
    memset(&a, 0xff, sizeof a);
    ctf_inaddr_mask(AF_INET, &a, 32);
    union ctf_inaddr want = ina(AF_INET, "255.255.255.255");
    assert_memory_equal(&a, &want, sizeof a);
}

/* metrics-listen's rule: a literal address and a port, back in the same
 * words by ctf_sockaddr_format. */
static void
test_sockaddr_parse(void **state)
{
    static const struct {
        const char *in;
        int family;
        unsigned int port;
        const char *out;        /* NULL: refused. */
    } cases[] = {
        { "127.0.0.1:9462", AF_INET, 9462, "127.0.0.1:9462" },
        { "0.0.0.0:0", AF_INET, 0, "0.0.0.0:0" },
        { "[::1]:9462", AF_INET6, 9462, "[::1]:9462" },
        { "[::]:65535", AF_INET6, 65535, "[::]:65535" },
        { "[FD00:0::1]:80", AF_INET6, 80, "[fd00::1]:80" },
        { "[::ffff:127.0.0.1]:1", AF_INET6, 1, "[::ffff:127.0.0.1]:1" },
        { "", 0, 0, NULL },
        { "127.0.0.1", 0, 0, NULL },
        { "127.0.0.1:", 0, 0, NULL },
        { ":9462", 0, 0, NULL },
        { "127.1:9462", 0, 0, NULL },
        { "localhost:9462", 0, 0, NULL },
        { "127.0.0.1:65536", 0, 0, NULL },
        { "127.0.0.1:+80", 0, 0, NULL },
        { "127.0.0.1:080", 0, 0, NULL },
        { "127.0.0.1:0x50", 0, 0, NULL },
        { "127.0.0.1: 80", 0, 0, NULL },
        { "::1:9462", 0, 0, NULL },
        { "[::1]", 0, 0, NULL },
        { "[::1]9462", 0, 0, NULL },
        { "[]:9462", 0, 0, NULL },
        { "[127.0.0.1]:9462", 0, 0, NULL },
        { "[fe80::1%eth0]:9462", 0, 0, NULL },
        { "[::1]:9462 ", 0, 0, NULL },
    };
    char err[128], buf[CTF_SOCKADDR_STRLEN];

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ctf_sockaddr sa;
        int rc = ctf_sockaddr_parse(cases[i].in, &sa, err, sizeof err);
        if (!cases[i].out) {
            if (rc != EINVAL || !*err) {
                fail_msg("'%s' was taken", cases[i].in);
            }
            continue;
        }
        if (rc) {
            fail_msg("'%s': %s", cases[i].in, err);
        }
        assert_int_equal(sa.ss.ss_family, cases[i].family);
        assert_int_equal(sa.len, cases[i].family == AF_INET ? sizeof(struct sockaddr_in)
                                                            : sizeof(struct sockaddr_in6));
        assert_int_equal(ntohs(((struct sockaddr_in *) &sa.ss)->sin_port), cases[i].port);
        assert_string_equal(ctf_sockaddr_format((struct sockaddr *) &sa.ss, buf),
                            cases[i].out);
    }
    /* No error buffer is fine; the reason names the part. */
    assert_int_equal(ctf_sockaddr_parse("x:1", &(struct ctf_sockaddr) { 0 }, NULL, 0), EINVAL);
    ctf_sockaddr_parse("127.0.0.1:99999", &(struct ctf_sockaddr) { 0 }, err, sizeof err);
    assert_string_equal(err, "port: '99999' is not a decimal number from 0 to 65535");
    struct sockaddr other = { .sa_family = AF_UNIX };
    assert_string_equal(ctf_sockaddr_format(&other, buf), "?");
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good_v4),
        cmocka_unit_test(test_parse_good_v6),
        cmocka_unit_test(test_parse_v4_has_zero_tail),
        cmocka_unit_test(test_parse_host_bits_rejected),
        cmocka_unit_test(test_parse_prefix_len_rejected),
        cmocka_unit_test(test_parse_garbage_rejected),
        cmocka_unit_test(test_list_separators),
        cmocka_unit_test(test_list_appends),
        cmocka_unit_test(test_list_bad_item),
        cmocka_unit_test_teardown(test_file_good, tmp_teardown),
        cmocka_unit_test_teardown(test_file_empty, tmp_teardown),
        cmocka_unit_test_teardown(test_file_missing, tmp_teardown),
        cmocka_unit_test_teardown(test_file_is_directory, tmp_teardown),
        cmocka_unit_test_teardown(test_file_bad_line, tmp_teardown),
        cmocka_unit_test_teardown(test_file_nul_byte, tmp_teardown),
        cmocka_unit_test_teardown(test_file_large, tmp_teardown),
        cmocka_unit_test_teardown(test_file_read_enomem, tmp_teardown),
        cmocka_unit_test(test_list_copy_destroy),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_is_host_and_cmp),
        cmocka_unit_test(test_list_sort_unique_find),
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_contains_odd_lengths),
        cmocka_unit_test(test_inaddr_mask),
        cmocka_unit_test(test_sockaddr_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
