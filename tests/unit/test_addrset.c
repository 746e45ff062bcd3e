/*
 * test_addrset.c: unit tests for addrset.c (hash sets of prefixes).
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

#include "addr.h"
#include "addrset.h"
#include "unit_helpers.h"

static void
add(struct addrset *s, const char *p)
{
    struct ctf_prefix x = pfx(p);

    assert_int_equal(addrset_add(s, &x), 0);
}

/* Looks up a textual address (v4 or v6, detected from the text). */
static bool
has(const struct addrset *s, const char *addr)
{
    union ctf_inaddr a;
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

    memset(&a, 0, sizeof a);
    if (inet_pton(family, addr, &a) != 1) {
        fail_msg("helper: bad address '%s'", addr);
    }
    return addrset_contains(s, family, &a);
}

static void
test_empty(void **state)
{
    struct addrset s;

    addrset_init(&s);
    assert_false(has(&s, "10.0.0.1"));
    assert_false(has(&s, "0.0.0.0"));
    assert_false(has(&s, "::"));
    assert_false(has(&s, "fd00::1"));
    assert_int_equal(s.n_members, 0);
    assert_int_equal(addrset_families(&s), 0);
    addrset_destroy(&s);
    addrset_destroy(NULL);
}

static void
test_hosts_v4(void **state)
{
    struct addrset s;

    addrset_init(&s);
    add(&s, "10.0.0.1");
    add(&s, "10.0.0.3");
    add(&s, "192.168.1.1");
    assert_true(has(&s, "10.0.0.1"));
    assert_true(has(&s, "10.0.0.3"));
    assert_true(has(&s, "192.168.1.1"));
    assert_false(has(&s, "10.0.0.2"));
    assert_false(has(&s, "10.0.0.0"));
    assert_false(has(&s, "1.0.0.10"));        /* Byte-swapped 10.0.0.1. */
    assert_false(has(&s, "192.168.1.2"));
    assert_int_equal(s.n_members, 3);
    assert_int_equal(addrset_families(&s), ADDRSET_HAS_V4);
    addrset_destroy(&s);
}

static void
test_hosts_v6(void **state)
{
    struct addrset s;

    addrset_init(&s);
    add(&s, "fd00::1");
    add(&s, "2001:db8::dead:beef");
    assert_true(has(&s, "fd00::1"));
    assert_true(has(&s, "2001:db8::dead:beef"));
    assert_false(has(&s, "fd00::2"));
    assert_false(has(&s, "fd00:0:0:1::1"));   /* Differs only in the second half. */
    assert_false(has(&s, "fd01::1"));         /* Differs only in the first word. */
    assert_int_equal(addrset_families(&s), ADDRSET_HAS_V6);
    addrset_destroy(&s);
}

static void
test_prefixes_v4(void **state)
{
    struct addrset s;

    addrset_init(&s);
    add(&s, "10.1.0.0/16");
    add(&s, "172.16.4.0/22");
    add(&s, "192.168.7.128/25");
    assert_true(has(&s, "10.1.0.0"));
    assert_true(has(&s, "10.1.255.255"));
    assert_false(has(&s, "10.2.0.0"));
    assert_false(has(&s, "10.0.255.255"));
    assert_true(has(&s, "172.16.7.9"));
    assert_false(has(&s, "172.16.8.0"));
    assert_false(has(&s, "172.16.3.255"));
    assert_true(has(&s, "192.168.7.200"));
    assert_false(has(&s, "192.168.7.127"));
    assert_int_equal(s.n_members, 3);
    addrset_destroy(&s);
}

static void
test_prefixes_v6(void **state)
{
    struct addrset s;

    addrset_init(&s);
    add(&s, "fd00:1::/32");
    add(&s, "2001:db8:0:8000::/49");
    add(&s, "fe80::/10");
    assert_true(has(&s, "fd00:1:ffff::1"));
    assert_false(has(&s, "fd00:2::1"));
    assert_true(has(&s, "2001:db8:0:ffff::1"));
    assert_false(has(&s, "2001:db8:0:7fff::1"));
    assert_true(has(&s, "febf::1"));
    assert_false(has(&s, "fec0::1"));
    addrset_destroy(&s);
}

static void
test_mixed_hosts_and_prefixes(void **state)
{
    struct addrset s;

    addrset_init(&s);
    add(&s, "10.0.0.0/8");
    add(&s, "10.1.2.3");               /* Inside the /8: still one more member. */
    add(&s, "11.0.0.1");
    add(&s, "fd00::/64");
    add(&s, "fd01::7");
    assert_true(has(&s, "10.200.0.1"));
    assert_true(has(&s, "11.0.0.1"));
    assert_false(has(&s, "11.0.0.2"));
    assert_true(has(&s, "fd00::ffff"));
    assert_true(has(&s, "fd01::7"));
    assert_false(has(&s, "fd01::8"));
    assert_int_equal(s.n_members, 5);
    assert_int_equal(addrset_families(&s), ADDRSET_HAS_V4 | ADDRSET_HAS_V6);
    addrset_destroy(&s);
}

static void
test_family_separation(void **state)
{
    struct addrset v4, v6;
    union ctf_inaddr a;

    addrset_init(&v4);
    addrset_init(&v6);
    add(&v4, "0.0.0.0/0");
    add(&v4, "10.0.0.1");
    add(&v6, "::/0");
    add(&v6, "::a00:1");              /* The bytes of 10.0.0.1, as v6. */

    /* A v4 address never matches a v6 set, and vice versa, even /0 sets. */
    assert_true(has(&v4, "10.0.0.1"));
    assert_false(has(&v6, "10.0.0.1"));
    assert_true(has(&v6, "::a00:1"));
    assert_false(has(&v4, "::a00:1"));
    assert_false(has(&v4, "::"));
    assert_false(has(&v6, "0.0.0.0"));

    /* Same 16 bytes, different family: the family decides. */
    addrset_destroy(&v6);
    addrset_init(&v6);
    add(&v6, "a00:1::");                  /* First 4 bytes = 10.0.0.1. */
    memset(&a, 0, sizeof a);
    a.b[0] = 10;
    a.b[3] = 1;
    assert_true(addrset_contains(&v4, AF_INET, &a));
    assert_false(addrset_contains(&v4, AF_INET6, &a));
    assert_true(addrset_contains(&v6, AF_INET6, &a));
    assert_false(addrset_contains(&v6, AF_INET, &a));
    assert_int_equal(addrset_families(&v4), ADDRSET_HAS_V4);
    assert_int_equal(addrset_families(&v6), ADDRSET_HAS_V6);
    addrset_destroy(&v4);
    addrset_destroy(&v6);

    /* Many small sets (one member in a 16-slot table), so that the v4 and
     * v6 lookups of the same bytes often start on the same slot. */
    for (uint32_t i = 0; i < 2000; i++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = i % 2 ? AF_INET6 : AF_INET;
        p.plen = p.family == AF_INET ? 32 : 128;
        p.addr.w[0] = htonl(0x0a000000u + i * 7);
        addrset_init(&v4);
        assert_int_equal(addrset_add(&v4, &p), 0);
        assert_true(addrset_contains(&v4, p.family, &p.addr));
        if (addrset_contains(&v4, p.family == AF_INET ? AF_INET6 : AF_INET, &p.addr)) {
            fail_msg("set %u: the same bytes matched in the other family", i);
        }
        addrset_destroy(&v4);
    }
}

static void
test_v4_ignores_tail_bytes(void **state)
{
    struct addrset s;
    union ctf_inaddr a;

    addrset_init(&s);
    add(&s, "10.0.0.1");
    add(&s, "172.16.0.0/12");
    memset(&a, 0x77, sizeof a);
    assert_int_equal(inet_pton(AF_INET, "10.0.0.1", &a.v4), 1);
    assert_true(addrset_contains(&s, AF_INET, &a));
    assert_int_equal(inet_pton(AF_INET, "172.31.0.1", &a.v4), 1);
    assert_true(addrset_contains(&s, AF_INET, &a));
    assert_int_equal(inet_pton(AF_INET, "172.32.0.1", &a.v4), 1);
    assert_false(addrset_contains(&s, AF_INET, &a));
    addrset_destroy(&s);
}

static void
test_any(void **state)
{
    struct addrset s;

    addrset_init_any(&s);
    assert_true(has(&s, "10.0.0.1"));
    assert_true(has(&s, "0.0.0.0"));
    assert_true(has(&s, "fd00::1"));
    assert_true(has(&s, "::"));
    assert_int_equal(addrset_families(&s), ADDRSET_HAS_V4 | ADDRSET_HAS_V6);
    addrset_destroy(&s);
    /* Destroyed, it is an empty set. */
    assert_false(has(&s, "10.0.0.1"));
}

static void
test_duplicates(void **state)
{
    struct addrset s;
    struct ctf_prefix_list l = { 0 };

    addrset_init(&s);
    assert_int_equal(ctf_prefix_list_parse(&l, "10.0.0.1 10.0.0.1 10.0.0.1/32 10.1.0.0/16 "
                                              "10.1.0.0/16 fd00::1 fd00::1/128 fd00::/64 "
                                              "fd00::/64 10.1.0.0/17", NULL, 0), 0);
    assert_int_equal(addrset_add_list(&s, &l), 0);
    assert_int_equal(s.n_members, 5);
    assert_int_equal(addrset_add_list(&s, &l), 0);
    assert_int_equal(s.n_members, 5);
    assert_true(has(&s, "10.1.200.1"));
    ctf_prefix_list_destroy(&l);
    addrset_destroy(&s);
}

static void
test_bad_family(void **state)
{
    struct addrset s;
    struct ctf_prefix p;

    memset(&p, 0, sizeof p);
    p.family = AF_UNIX;
    p.plen = 32;
    addrset_init(&s);
    assert_int_not_equal(addrset_add(&s, &p), 0);
    assert_int_equal(s.n_members, 0);
    assert_int_equal(addrset_families(&s), 0);
    addrset_destroy(&s);
}

/* Deterministic pseudo-random 32-bit values (xorshift). */
static uint32_t
rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void
test_many_v4_hosts(void **state)
{
    /* 100k members, all even addresses in 10.0.0.0/8 (shuffled by a
     * multiplier), then every member and every odd neighbour checked. */
    const uint32_t n = 100000;
    struct addrset s;
    union ctf_inaddr a;

    addrset_init(&s);
    for (uint32_t i = 0; i < n; i++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = AF_INET;
        p.plen = 32;
        p.addr.w[0] = htonl(0x0a000000u | (((i * 2654435761u) & 0x7fffffu) << 1));
        assert_int_equal(addrset_add(&s, &p), 0);
    }
    assert_int_equal(s.n_members, n);
    /* Load stays under 1/2. */
    assert_true(s.hosts.count * 2 <= s.hosts.mask + 1);
    memset(&a, 0, sizeof a);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = 0x0a000000u | (((i * 2654435761u) & 0x7fffffu) << 1);
        a.w[0] = htonl(h);
        if (!addrset_contains(&s, AF_INET, &a)) {
            fail_msg("member %u missing", i);
        }
        a.w[0] = htonl(h | 1);
        if (addrset_contains(&s, AF_INET, &a)) {
            fail_msg("non-member %08x found", h | 1);
        }
    }
    /* Outside the range entirely. */
    a.w[0] = htonl(0x0b000000u);
    assert_false(addrset_contains(&s, AF_INET, &a));
    addrset_destroy(&s);
}

static void
test_many_v6_hosts_and_prefixes(void **state)
{
    const uint32_t n = 100000;
    struct addrset s;
    union ctf_inaddr a;
    uint32_t x = 12345;

    addrset_init(&s);
    for (uint32_t i = 0; i < n; i++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = AF_INET6;
        p.plen = 128;
        p.addr.w[0] = htonl(0xfd000000u);
        p.addr.w[1] = htonl(rnd(&x) & ~1u);      /* Even: members. */
        p.addr.w[3] = htonl(i);
        assert_int_equal(addrset_add(&s, &p), 0);
    }
    /* A thousand /64s with random bits, and a few other lengths. */
    for (uint32_t i = 0; i < 1000; i++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = AF_INET6;
        p.plen = 64;
        p.addr.w[0] = htonl(0x20010db8u);
        p.addr.w[1] = htonl(i * 7919u);
        assert_int_equal(addrset_add(&s, &p), 0);
    }
    add(&s, "fe80::/10");
    add(&s, "2002::/16");
    assert_int_equal(s.n_members, n + 1000 + 2);
    assert_int_equal(s.n_lens[1], 3);

    x = 12345;
    memset(&a, 0, sizeof a);
    for (uint32_t i = 0; i < n; i++) {
        a.w[0] = htonl(0xfd000000u);
        uint32_t r = rnd(&x) & ~1u;
        a.w[1] = htonl(r);
        a.w[3] = htonl(i);
        if (!addrset_contains(&s, AF_INET6, &a)) {
            fail_msg("member %u missing", i);
        }
        a.w[1] = htonl(r | 1);
        if (addrset_contains(&s, AF_INET6, &a)) {
            fail_msg("non-member %u found", i);
        }
    }
    for (uint32_t i = 0; i < 1000; i++) {
        a.w[0] = htonl(0x20010db8u);
        a.w[1] = htonl(i * 7919u);
        a.w[2] = htonl(i);
        a.w[3] = htonl(~i);
        assert_true(addrset_contains(&s, AF_INET6, &a));
        a.w[1] = htonl(i * 7919u + 1);
        assert_false(addrset_contains(&s, AF_INET6, &a));
    }
    assert_true(has(&s, "fe80:1234::1"));
    assert_true(has(&s, "2002:ffff::1"));
    assert_false(has(&s, "2003::1"));
    addrset_destroy(&s);
}

static void
test_many_prefix_lengths(void **state)
{
    /* One prefix of every length: for length L, the prefix whose last
     * network bit is the only one set. They are disjoint and together cover
     * every address but the two lowest (0.0.0.0, 0.0.0.1 and ::, ::1). */
    struct addrset s;
    union ctf_inaddr a;

    addrset_init(&s);
    for (unsigned int len = 1; len < 32; len++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = AF_INET;
        p.plen = (uint8_t) len;
        p.addr.w[0] = htonl(1u << (32 - len));
        assert_int_equal(addrset_add(&s, &p), 0);
    }
    for (unsigned int len = 1; len < 128; len++) {
        struct ctf_prefix p;
        memset(&p, 0, sizeof p);
        p.family = AF_INET6;
        p.plen = (uint8_t) len;
        p.addr.b[(len - 1) / 8] = (uint8_t) (0x80u >> ((len - 1) % 8));
        assert_int_equal(addrset_add(&s, &p), 0);
    }
    assert_int_equal(s.n_members, 31 + 127);
    assert_int_equal(s.n_lens[0], 31);
    assert_int_equal(s.n_lens[1], 127);

    assert_false(has(&s, "0.0.0.0"));
    assert_false(has(&s, "0.0.0.1"));
    assert_false(has(&s, "::"));
    assert_false(has(&s, "::1"));
    for (unsigned int len = 1; len < 32; len++) {
        uint32_t lo = 1u << (32 - len), hi = lo | (lo - 1);
        memset(&a, 0, sizeof a);
        a.w[0] = htonl(lo);
        assert_true(addrset_contains(&s, AF_INET, &a));
        a.w[0] = htonl(hi);
        assert_true(addrset_contains(&s, AF_INET, &a));
    }
    for (unsigned int len = 1; len < 128; len++) {
        memset(&a, 0, sizeof a);
        a.b[(len - 1) / 8] = (uint8_t) (0x80u >> ((len - 1) % 8));
        assert_true(addrset_contains(&s, AF_INET6, &a));
        for (unsigned int bit = len; bit < 128; bit++) {       /* Top of the range. */
            a.b[bit / 8] |= (uint8_t) (0x80u >> (bit % 8));
        }
        assert_true(addrset_contains(&s, AF_INET6, &a));
    }
    assert_true(has(&s, "0.0.0.2"));
    assert_true(has(&s, "0.0.0.3"));
    assert_true(has(&s, "10.0.0.1"));
    assert_true(has(&s, "255.255.255.255"));
    assert_true(has(&s, "::2"));
    assert_true(has(&s, "fd00::1"));
    addrset_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_hosts_v4),
        cmocka_unit_test(test_hosts_v6),
        cmocka_unit_test(test_prefixes_v4),
        cmocka_unit_test(test_prefixes_v6),
        cmocka_unit_test(test_mixed_hosts_and_prefixes),
        cmocka_unit_test(test_family_separation),
        cmocka_unit_test(test_v4_ignores_tail_bytes),
        cmocka_unit_test(test_any),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_bad_family),
        cmocka_unit_test(test_many_v4_hosts),
        cmocka_unit_test(test_many_v6_hosts_and_prefixes),
        cmocka_unit_test(test_many_prefix_lengths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
