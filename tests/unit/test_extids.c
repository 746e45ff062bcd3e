/*
 * test_extids.c: unit tests for extids.c, the external_ids conventions:
 * IP lists as Kube-OVN and Antrea write them, OVN's ct-zone keys, the
 * configured zone key, VLAN tags, and what happens to garbage in each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "extids.h"
#include "portinfo.h"
#include "unit_helpers.h"

/* ---- Fixtures. ---- */

#define TMAP_MAX 16

/* An extids_map over arrays it owns, built from key/value pairs. */
struct tmap {
    const char *keys[TMAP_MAX];
    const char *values[TMAP_MAX];
    struct extids_map map;
};

/* Fills 't' from "key", "value", ... ending with NULL; returns its map. */
static const struct extids_map *
tmap(struct tmap *t, ...)
{
    va_list ap;
    const char *k;

    memset(t, 0, sizeof *t);
    t->map.keys = t->keys;
    t->map.values = t->values;
    va_start(ap, t);
    while ((k = va_arg(ap, const char *)) != NULL) {
        assert_true(t->map.n < TMAP_MAX);
        t->keys[t->map.n] = k;
        t->values[t->map.n] = va_arg(ap, const char *);
        t->map.n++;
    }
    va_end(ap);
    return &t->map;
}

/* The list as "a,b,c" (host prefixes print without "/plen"), "" if empty. */
static const char *
ips_str(const struct ctf_prefix_list *l)
{
    static char out[8192];
    char buf[CTF_PREFIX_STRLEN];
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        int n = snprintf(out + used, sizeof out - used, "%s%s", i ? "," : "",
                         ctf_prefix_format(&l->items[i], buf));
        assert_true(n > 0 && (size_t) n < sizeof out - used);
        used += (size_t) n;
    }
    return out;
}

/* Parses 'value' into a fresh list and checks the result. */
static void
check_ips(const char *value, const char *want, size_t want_bad, const char *want_badtext)
{
    struct ctf_prefix_list l = { 0 };
    char bad[128];

    memset(bad, 'x', sizeof bad);
    size_t n_bad = extids_parse_ips(value, &l, bad, sizeof bad);
    if (strcmp(ips_str(&l), want) || n_bad != want_bad
        || (want_badtext && strcmp(bad, want_badtext))) {
        fail_msg("'%s': got '%s' (%zu bad, '%s'), want '%s' (%zu bad, '%s')",
                 value ? value : "(null)", ips_str(&l), n_bad, bad, want, want_bad,
                 want_badtext ? want_badtext : "*");
    }
    for (size_t i = 0; i < l.n; i++) {
        assert_true(ctf_prefix_is_host(&l.items[i]));
    }
    ctf_prefix_list_destroy(&l);
}

static void
check_zone(const char *s, int want_err, uint16_t want)
{
    uint16_t zone = 4242;
    char why[128] = "";
    int err = extids_parse_zone(s, &zone, why, sizeof why);

    if (err != want_err || (!err && zone != want)) {
        fail_msg("zone '%s': got %d/%u, want %d/%u", s ? s : "(null)", err, zone,
                 want_err, want);
    }
    if (err) {
        assert_int_equal(zone, 4242);   /* Untouched on error. */
        assert_true(why[0]);            /* And a reason. */
    }
}

/* A port_info with an iface-id (or none), as the watcher fills it before
 * asking for the zone. */
static void
port_with_id(struct port_info *p, const char *iface_id)
{
    port_info_init(p);
    p->name = strdup("tap1");
    assert_non_null(p->name);
    if (iface_id) {
        p->iface_id = strdup(iface_id);
        assert_non_null(p->iface_id);
    }
}

/* ---- extids_get. ---- */

static void
test_get(void **state)
{
    struct tmap t;
    const struct extids_map *m = tmap(&t, "ip", "10.0.0.1", "iface-id", "vm1",
                                      "ip", "10.0.0.2", NULL);
    struct extids_map empty = { NULL, NULL, 0 };

    (void) state;
    assert_string_equal(extids_get(m, "ip"), "10.0.0.1");      /* The first. */
    assert_string_equal(extids_get(m, "iface-id"), "vm1");
    assert_null(extids_get(m, "IP"));                           /* Case matters. */
    assert_null(extids_get(m, "i"));
    assert_null(extids_get(m, ""));
    assert_null(extids_get(&empty, "ip"));
    assert_null(extids_get(NULL, "ip"));
    assert_null(extids_get(m, NULL));
}

/* ---- extids_parse_ips. ---- */

static void
test_ips_kube_ovn(void **state)
{
    (void) state;
    /* Interface external_ids:ip, single and dual stack. */
    check_ips("10.16.0.5", "10.16.0.5", 0, "");
    check_ips("10.16.0.5,fd00:10:16::5", "10.16.0.5,fd00:10:16::5", 0, "");
    check_ips("fd00:10:16::5,10.16.0.5", "fd00:10:16::5,10.16.0.5", 0, "");
    /* IPv4-mapped IPv6 is the VM's IPv4 address (its entries are IPv4). */
    check_ips("::ffff:10.16.0.7", "10.16.0.7", 0, "");
    check_ips("10.16.0.7,::ffff:10.16.0.7/120", "10.16.0.7", 0, "");
}

static void
test_ips_antrea(void **state)
{
    (void) state;
    /* Port external_ids:ip-address. */
    check_ips("10.10.1.5", "10.10.1.5", 0, "");
    check_ips("10.10.1.5,fd74:ca9b::5", "10.10.1.5,fd74:ca9b::5", 0, "");
}

static void
test_ips_plen_is_the_network(void **state)
{
    (void) state;
    /* "/plen" names the port's network; the item is still the host. */
    check_ips("10.16.0.5/16", "10.16.0.5", 0, "");
    check_ips("10.16.0.5/32", "10.16.0.5", 0, "");
    check_ips("10.16.0.5/0", "10.16.0.5", 0, "");
    check_ips("10.16.0.0/16", "10.16.0.0", 0, "");
    check_ips("fd00:10:16::5/64", "fd00:10:16::5", 0, "");
    check_ips("fd00:10:16::5/128", "fd00:10:16::5", 0, "");
    check_ips("10.16.0.5/16,fd00:10:16::5/64", "10.16.0.5,fd00:10:16::5", 0, "");
    check_ips("10.16.0.5/24,10.16.0.6", "10.16.0.5,10.16.0.6", 0, "");
}

static void
test_ips_bad_plen(void **state)
{
    (void) state;
    check_ips("10.0.0.1/33", "", 1, "10.0.0.1/33");
    check_ips("fd00::1/129", "", 1, "fd00::1/129");
    check_ips("10.0.0.1/", "", 1, "10.0.0.1/");
    check_ips("10.0.0.1/+8", "", 1, NULL);
    check_ips("10.0.0.1/0x8", "", 1, NULL);
    check_ips("10.0.0.1/-1", "", 1, NULL);
    check_ips("10.0.0.1/0008", "", 1, NULL);
    check_ips("10.0.0.1/024", "", 1, NULL);     /* A leading zero, as num.h refuses. */
    check_ips("10.0.0.1/24/8", "", 1, NULL);
    check_ips("/24", "", 1, "/24");
    check_ips("10.0.0.1//24", "", 1, NULL);
    /* A good item after a bad one is kept. */
    check_ips("10.0.0.1/99,10.0.0.2/8", "10.0.0.2", 1, "10.0.0.1/99");
}

static void
test_ips_whitespace(void **state)
{
    (void) state;
    check_ips(" 10.0.0.1", "10.0.0.1", 0, "");
    check_ips("10.0.0.1 ", "10.0.0.1", 0, "");
    check_ips("10.0.0.1, 10.0.0.2", "10.0.0.1,10.0.0.2", 0, "");
    check_ips("10.0.0.1 ,10.0.0.2", "10.0.0.1,10.0.0.2", 0, "");
    check_ips("10.0.0.1 10.0.0.2\t10.0.0.3\n10.0.0.4\r\n", "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4",
              0, "");
    check_ips(",,10.0.0.1,,,fd00::1,,", "10.0.0.1,fd00::1", 0, "");
    /* Inside an item a space splits it: "10.0.0.1 /24" is two items. */
    check_ips("10.0.0.1 /24", "10.0.0.1", 1, "/24");
}

static void
test_ips_empty(void **state)
{
    (void) state;
    check_ips("", "", 0, "");
    check_ips(" ", "", 0, "");
    check_ips(",", "", 0, "");
    check_ips(" , ,\t", "", 0, "");
    check_ips(NULL, "", 0, "");
}

static void
test_ips_duplicates(void **state)
{
    (void) state;
    check_ips("10.0.0.1,10.0.0.1", "10.0.0.1", 0, "");
    check_ips("10.0.0.1,10.0.0.1/24,10.0.0.1/32", "10.0.0.1", 0, "");
    /* Different spellings of one IPv6 address. */
    check_ips("fd00::1,fd00:0:0:0:0:0:0:1,FD00::1,fd00:0000::0001", "fd00::1", 0, "");
    check_ips("10.0.0.2,10.0.0.1,10.0.0.2", "10.0.0.2,10.0.0.1", 0, "");
}

static void
test_ips_v6_forms(void **state)
{
    (void) state;
    check_ips("fd00::", "fd00::", 0, "");
    check_ips("FD74:CA9B::5", "fd74:ca9b::5", 0, "");
    check_ips("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", 0, "");
    check_ips("::1", "::1", 0, "");
    check_ips("fe80::1", "fe80::1", 0, "");
    check_ips("::ffff:10.0.0.1", "10.0.0.1", 0, "");   /* IPv4-mapped: the IPv4 host. */
    check_ips("64:ff9b::10.0.0.1", "64:ff9b::a00:1", 0, "");
    /* Forms other tools print but OVSDB values never hold. */
    check_ips("fe80::1%eth0", "", 1, "fe80::1%eth0");
    check_ips("[fd00::1]", "", 1, "[fd00::1]");
    check_ips("fd00:::1", "", 1, NULL);
    check_ips("fd00::1::2", "", 1, NULL);
    check_ips("1:2:3:4:5:6:7:8:9", "", 1, NULL);
    check_ips("fd00::g", "", 1, NULL);
}

static void
test_ips_v4_garbage(void **state)
{
    (void) state;
    check_ips("10.0.0.256", "", 1, "10.0.0.256");
    check_ips("10.0.0", "", 1, NULL);
    check_ips("10.0.0.1.5", "", 1, NULL);
    check_ips("010.0.0.1", "", 1, NULL);     /* Octal or a typo: either way, no. */
    check_ips("10.0.0.1;10.0.0.2", "", 1, "10.0.0.1;10.0.0.2");
    check_ips("bogus", "", 1, "bogus");
    check_ips("10.0.0.1,bogus,10.0.0.2", "10.0.0.1,10.0.0.2", 1, "bogus");
    check_ips("x1,x2,x3", "", 3, "x1");      /* The first bad item is reported. */
    check_ips("null", "", 1, "null");
    check_ips("[\"10.0.0.1\"]", "", 1, NULL);
}

static void
test_ips_unusable_addresses(void **state)
{
    (void) state;
    /* No port has these as its own address. */
    check_ips("0.0.0.0", "", 1, "0.0.0.0");
    check_ips("::", "", 1, "::");
    check_ips("255.255.255.255", "", 1, NULL);
    check_ips("224.0.0.1", "", 1, NULL);
    check_ips("239.255.255.250", "", 1, NULL);
    check_ips("ff02::1", "", 1, NULL);
    check_ips("0.0.0.0/0,10.0.0.1", "10.0.0.1", 1, "0.0.0.0/0");
    /* Neighbours of those that are fine. */
    check_ips("223.255.255.255,240.0.0.1,0.0.0.1", "223.255.255.255,240.0.0.1,0.0.0.1",
              0, "");
}

static void
test_ips_overlong_item(void **state)
{
    char item[200];
    struct ctf_prefix_list l = { 0 };
    char bad[8];

    (void) state;
    memset(item, '1', sizeof item - 1);
    item[sizeof item - 1] = '\0';
    assert_int_equal(extids_parse_ips(item, &l, bad, sizeof bad), 1);
    assert_int_equal(l.n, 0);
    assert_string_equal(bad, "1111111");    /* Truncated to fit. */

    /* An address padded to past the item limit is not an address. */
    char padded[100];
    snprintf(padded, sizeof padded, "fd00:0000:0000:0000:0000:0000:0000:0001/0000128%s",
             "0000000000000000000000000000000000000");
    check_ips(padded, "", 1, NULL);
    ctf_prefix_list_destroy(&l);
}

static void
test_ips_overlong_value(void **state)
{
    size_t len = 400 * 16;
    char *value = malloc(len);
    struct ctf_prefix_list l = { 0 };
    char bad[64];
    size_t used = 0;

    (void) state;
    assert_non_null(value);
    value[0] = '\0';
    for (int i = 0; i < 300; i++) {
        used += (size_t) snprintf(value + used, len - used, "10.1.%d.%d,", i / 250, i % 250 + 1);
    }
    /* At most 256 distinct addresses; the rest are reported, not kept. */
    assert_int_equal(extids_parse_ips(value, &l, bad, sizeof bad), 300 - 256);
    assert_int_equal(l.n, 256);
    assert_string_equal(bad, "10.1.1.7");

    /* Repeats are not new addresses and do not count against the bound. */
    ctf_prefix_list_destroy(&l);
    used = 0;
    value[0] = '\0';
    for (int i = 0; i < 400; i++) {
        used += (size_t) snprintf(value + used, len - used, "10.0.0.%d ", i % 3 + 1);
    }
    assert_int_equal(extids_parse_ips(value, &l, bad, sizeof bad), 0);
    assert_string_equal(ips_str(&l), "10.0.0.1,10.0.0.2,10.0.0.3");
    ctf_prefix_list_destroy(&l);
    free(value);
}

static void
test_ips_bad_text_is_printable(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char bad[64];

    (void) state;
    assert_int_equal(extids_parse_ips("\x1b[31mred\x7f\xc3\xa9,10.0.0.1", &l, bad, sizeof bad), 1);
    assert_string_equal(bad, "?[31mred???");
    assert_string_equal(ips_str(&l), "10.0.0.1");
    ctf_prefix_list_destroy(&l);
}

static void
test_ips_bad_buffer_edges(void **state)
{
    struct ctf_prefix_list l = { 0 };
    char bad[4] = "zzz";

    (void) state;
    /* No buffer at all, and buffers too small for anything. */
    assert_int_equal(extids_parse_ips("bogus,10.0.0.1", &l, NULL, 0), 1);
    assert_int_equal(l.n, 1);
    assert_int_equal(extids_parse_ips("bogus", &l, bad, 1), 1);
    assert_int_equal(bad[0], '\0');
    assert_string_equal(bad + 1, "zz");     /* Nothing written past badlen. */
    assert_int_equal(extids_parse_ips("10.0.0.9", &l, bad, sizeof bad), 0);
    assert_string_equal(bad, "");           /* Cleared when all is well. */
    ctf_prefix_list_destroy(&l);
}

static void
test_ips_appends_without_duplicates(void **state)
{
    struct ctf_prefix_list l = { 0 };
    struct ctf_prefix p = pfx("10.0.0.1");

    (void) state;
    assert_int_equal(ctf_prefix_list_add(&l, &p), 0);
    assert_int_equal(extids_parse_ips("10.0.0.2,10.0.0.1", &l, NULL, 0), 0);
    assert_string_equal(ips_str(&l), "10.0.0.1,10.0.0.2");
    ctf_prefix_list_destroy(&l);
}

/* Random bytes in: no crash, no leak, and only clean output. */
static void
test_ips_random_input(void **state)
{
    static const char alphabet[] = "0123456789abcdefABCDEF:./, \t%[]x-+\x01\xff";
    unsigned int seed = 12345;
    char value[96];
    char bad[32];

    (void) state;
    for (int iter = 0; iter < 20000; iter++) {
        struct ctf_prefix_list l = { 0 };
        size_t n = (size_t) (rand_r(&seed) % (sizeof value - 1));

        for (size_t i = 0; i < n; i++) {
            value[i] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
        }
        value[n] = '\0';
        size_t n_bad = extids_parse_ips(value, &l, bad, sizeof bad);
        assert_true(strlen(bad) < sizeof bad);
        assert_true(n_bad || !bad[0]);
        for (size_t i = 0; i < l.n; i++) {
            assert_true(ctf_prefix_is_host(&l.items[i]));
            for (size_t j = i + 1; j < l.n; j++) {
                assert_int_not_equal(ctf_prefix_cmp(&l.items[i], &l.items[j]), 0);
            }
        }
        for (const char *c = bad; *c; c++) {
            assert_true(*c >= 0x20 && *c < 0x7f);
        }
        ctf_prefix_list_destroy(&l);

        uint16_t zone;
        (void) extids_parse_zone(value, &zone, NULL, 0);
    }
}

/* ---- extids_parse_zone. ---- */

static void
test_zone_parse(void **state)
{
    (void) state;
    check_zone("0", 0, 0);
    check_zone("1", 0, 1);
    check_zone("5", 0, 5);
    check_zone("4095", 0, 4095);
    check_zone("65535", 0, 65535);
    check_zone("65536", EINVAL, 0);
    check_zone("99999", EINVAL, 0);
    check_zone("100000", EINVAL, 0);
    check_zone("00005", EINVAL, 0);        /* Leading zeros: octal to some. */
    check_zone("010", EINVAL, 0);
    check_zone("000005", EINVAL, 0);
    check_zone("4294967301", EINVAL, 0);   /* 2^32 + 5: no wrap-around. */
    check_zone("-1", EINVAL, 0);
    check_zone("+5", EINVAL, 0);
    check_zone(" 5", EINVAL, 0);
    check_zone("5 ", EINVAL, 0);
    check_zone("0x10", EINVAL, 0);
    check_zone("1e3", EINVAL, 0);
    check_zone("12a", EINVAL, 0);
    check_zone("", EINVAL, 0);
    check_zone(NULL, EINVAL, 0);
}

/* The watcher refuses a zone with the words every entry point uses
 * (num.h): the same as `ctflushd --oneshot --zone` and `ctflushctl flush
 * --zone` (test_oneshotargs.c, test_ctlargs.c). */
static void
test_zone_parse_message(void **state)
{
    static const char *const bad[] = { "0x10", "010", "+5", " 5", "5 ", "65536", "-1" };
    uint16_t zone;
    char why[128], want[128];

    (void) state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(extids_parse_zone(bad[i], &zone, why, sizeof why), EINVAL);
        snprintf(want, sizeof want, "'%s' is not a decimal number from 0 to 65535", bad[i]);
        assert_string_equal(why, want);
    }
    assert_int_equal(extids_parse_zone("0x10", &zone, why, sizeof why), EINVAL);
    assert_string_equal(why, "'0x10' is not a decimal number from 0 to 65535");
}

/* ---- extids_port_ips. ---- */

static void
test_port_ips_interface_first(void **state)
{
    struct tmap ti, tp;
    const struct extids_map *iface = tmap(&ti, "iface-id", "vm1", "ip", "10.16.0.5", NULL);
    const struct extids_map *port = tmap(&tp, "ip-address", "10.10.1.5", NULL);
    struct extids_rules rules = { 0 };
    struct port_info p;
    char bad[64];

    (void) state;
    port_info_init(&p);
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 0);
    assert_string_equal(ips_str(&p.ips), "10.16.0.5");
    assert_int_equal(p.ip_source, PORT_IP_INTERFACE);
    assert_string_equal(bad, "");
    port_info_destroy(&p);
}

static void
test_port_ips_antrea_port_row(void **state)
{
    struct tmap ti, tp;
    const struct extids_map *iface = tmap(&ti, "attached-mac", "02:00:00:00:00:01", NULL);
    const struct extids_map *port = tmap(&tp, "ip-address", "10.10.1.5,fd74:ca9b::5", NULL);
    struct port_info p;

    (void) state;
    port_info_init(&p);
    /* NULL rules: the platform defaults. */
    assert_int_equal(extids_port_ips(NULL, iface, port, &p, NULL, 0), 0);
    assert_string_equal(ips_str(&p.ips), "10.10.1.5,fd74:ca9b::5");
    assert_int_equal(p.ip_source, PORT_IP_PORT);
    port_info_destroy(&p);
}

static void
test_port_ips_garbage_falls_through(void **state)
{
    struct tmap ti, tp;
    const struct extids_map *iface = tmap(&ti, "ip", "not-an-ip", NULL);
    const struct extids_map *port = tmap(&tp, "ip-address", "10.10.1.5/24", NULL);
    struct extids_rules rules = { 0 };
    struct port_info p;
    char bad[64];

    (void) state;
    port_info_init(&p);
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 1);
    assert_string_equal(ips_str(&p.ips), "10.10.1.5");
    assert_int_equal(p.ip_source, PORT_IP_PORT);
    assert_string_equal(bad, "ip=not-an-ip");

    /* Partly bad: the good part of the Interface value still wins. */
    iface = tmap(&ti, "ip", "10.16.0.5,oops", NULL);
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 1);
    assert_string_equal(ips_str(&p.ips), "10.16.0.5");
    assert_int_equal(p.ip_source, PORT_IP_INTERFACE);
    assert_string_equal(bad, "ip=oops");

    /* Bad everywhere: no IPs, both counted, the first reported. */
    iface = tmap(&ti, "ip", "x", NULL);
    port = tmap(&tp, "ip-address", "y,z", NULL);
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 3);
    assert_int_equal(p.ips.n, 0);
    assert_int_equal(p.ip_source, PORT_IP_NONE);
    assert_string_equal(bad, "ip=x");
    port_info_destroy(&p);
}

static void
test_port_ips_empty_values(void **state)
{
    struct tmap ti, tp;
    const struct extids_map *iface = tmap(&ti, "ip", "", NULL);
    const struct extids_map *port = tmap(&tp, "ip-address", " , ", NULL);
    struct port_info p;
    char bad[64];

    (void) state;
    port_info_init(&p);
    assert_int_equal(extids_port_ips(NULL, iface, port, &p, bad, sizeof bad), 0);
    assert_int_equal(p.ips.n, 0);
    assert_int_equal(p.ip_source, PORT_IP_NONE);
    assert_string_equal(bad, "");

    /* An empty Interface value does not hide the Port's. */
    port = tmap(&tp, "ip-address", "10.10.1.5", NULL);
    assert_int_equal(extids_port_ips(NULL, iface, port, &p, bad, sizeof bad), 0);
    assert_int_equal(p.ip_source, PORT_IP_PORT);
    port_info_destroy(&p);
}

static void
test_port_ips_no_port_row(void **state)
{
    struct tmap ti;
    const struct extids_map *iface = tmap(&ti, "iface-id", "vm1", NULL);
    struct port_info p;

    (void) state;
    port_info_init(&p);
    assert_int_equal(extids_port_ips(NULL, iface, NULL, &p, NULL, 0), 0);
    assert_int_equal(p.ip_source, PORT_IP_NONE);
    assert_int_equal(p.ips.n, 0);
    assert_int_equal(extids_port_ips(NULL, NULL, NULL, &p, NULL, 0), 0);
    assert_int_equal(p.ip_source, PORT_IP_NONE);
    port_info_destroy(&p);
}

static void
test_port_ips_configured_keys(void **state)
{
    static const char *const iface_keys[] = { "ovn-ip", "ip" };
    static const char *const port_keys[] = { "pod-ips" };
    struct tmap ti, tp;
    const struct extids_map *iface = tmap(&ti, "ip", "10.0.0.2", "ovn-ip", "10.0.0.1", NULL);
    const struct extids_map *port = tmap(&tp, "pod-ips", "10.0.0.3",
                                         "ip-address", "10.0.0.4", NULL);
    struct extids_rules rules = {
        .iface_ip_keys = iface_keys, .n_iface_ip_keys = 2,
        .port_ip_keys = port_keys, .n_port_ip_keys = 1,
    };
    struct port_info p;
    char bad[64];

    (void) state;
    port_info_init(&p);
    /* Key order is the rules' order, not the map's. */
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 0);
    assert_string_equal(ips_str(&p.ips), "10.0.0.1");
    assert_int_equal(p.ip_source, PORT_IP_INTERFACE);

    /* The first key is garbage: the second Interface key, before the Port. */
    iface = tmap(&ti, "ovn-ip", "garbage", "ip", "10.0.0.2", NULL);
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 1);
    assert_string_equal(ips_str(&p.ips), "10.0.0.2");
    assert_string_equal(bad, "ovn-ip=garbage");

    /* No Interface key: the configured Port key, never the default one. */
    iface = tmap(&ti, "iface-id", "vm1", NULL);
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 0);
    assert_string_equal(ips_str(&p.ips), "10.0.0.3");
    assert_int_equal(p.ip_source, PORT_IP_PORT);
    port = tmap(&tp, "ip-address", "10.0.0.4", NULL);
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 0);
    assert_int_equal(p.ip_source, PORT_IP_NONE);

    /* An empty list turns a source off. */
    rules.n_iface_ip_keys = 0;
    rules.port_ip_keys = NULL;          /* NULL: back to "ip-address". */
    iface = tmap(&ti, "ovn-ip", "10.0.0.1", "ip", "10.0.0.2", NULL);
    assert_int_equal(extids_port_ips(&rules, iface, port, &p, bad, sizeof bad), 0);
    assert_string_equal(ips_str(&p.ips), "10.0.0.4");
    assert_int_equal(p.ip_source, PORT_IP_PORT);
    port_info_destroy(&p);
}

static void
test_port_ips_replaces_previous(void **state)
{
    struct tmap ti;
    const struct extids_map *iface = tmap(&ti, "ip", "10.0.0.1,10.0.0.2", NULL);
    struct port_info p;

    (void) state;
    port_info_init(&p);
    assert_int_equal(extids_port_ips(NULL, iface, NULL, &p, NULL, 0), 0);
    assert_int_equal(p.ips.n, 2);
    iface = tmap(&ti, "ip", "10.0.0.3", NULL);
    assert_int_equal(extids_port_ips(NULL, iface, NULL, &p, NULL, 0), 0);
    assert_string_equal(ips_str(&p.ips), "10.0.0.3");
    iface = tmap(&ti, "other", "x", NULL);
    assert_int_equal(extids_port_ips(NULL, iface, NULL, &p, NULL, 0), 0);
    assert_int_equal(p.ips.n, 0);
    assert_int_equal(p.ip_source, PORT_IP_NONE);
    port_info_destroy(&p);
}

static void
test_port_ips_duplicates_across_items(void **state)
{
    struct tmap ti;
    const struct extids_map *iface = tmap(&ti, "ip",
                                          "10.16.0.5/16, 10.16.0.5 ,fd00::5/64,FD00::5", NULL);
    struct port_info p;

    (void) state;
    port_info_init(&p);
    assert_int_equal(extids_port_ips(NULL, iface, NULL, &p, NULL, 0), 0);
    assert_string_equal(ips_str(&p.ips), "10.16.0.5,fd00::5");
    port_info_destroy(&p);
}

/* ---- extids_port_zone. ---- */

static void
check_port_zone(const struct port_info *p, bool has, uint16_t zone, enum port_zone_source src)
{
    assert_int_equal(p->has_zone, has);
    assert_int_equal(p->zone, has ? zone : 0);
    assert_int_equal(p->zone_source, src);
}

static void
test_zone_ovn(void **state)
{
    struct tmap tb, ti;
    const struct extids_map *br = tmap(&tb, "ct-zone-vm10", "10", "ct-zone-vm1", "5",
                                       "ct-zone-vm1_dnat", "7", "ovn-bridge-mappings", "x", NULL);
    const struct extids_map *iface = tmap(&ti, "iface-id", "vm1", NULL);
    struct port_info p;
    char bad[64];

    (void) state;
    port_with_id(&p, "vm1");
    assert_int_equal(extids_port_zone(NULL, br, iface, NULL, -1, &p, bad, sizeof bad), 0);
    check_port_zone(&p, true, 5, PORT_ZONE_OVN);
    assert_string_equal(bad, "");
    port_info_destroy(&p);

    /* Only the exact key: neither a longer id nor OVN's router zones. */
    port_with_id(&p, "vm");
    assert_int_equal(extids_port_zone(NULL, br, iface, NULL, -1, &p, bad, sizeof bad), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    port_info_destroy(&p);
    port_with_id(&p, "vm10");
    assert_int_equal(extids_port_zone(NULL, br, iface, NULL, -1, &p, bad, sizeof bad), 0);
    check_port_zone(&p, true, 10, PORT_ZONE_OVN);
    port_info_destroy(&p);
}

static void
test_zone_ovn_needs_iface_id(void **state)
{
    struct tmap tb;
    const struct extids_map *br = tmap(&tb, "ct-zone-", "3", NULL);
    struct port_info p;

    (void) state;
    port_with_id(&p, NULL);
    assert_int_equal(extids_port_zone(NULL, br, NULL, NULL, -1, &p, NULL, 0), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    port_info_destroy(&p);
    port_with_id(&p, "");
    assert_int_equal(extids_port_zone(NULL, br, NULL, NULL, -1, &p, NULL, 0), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    port_info_destroy(&p);
}

static void
test_zone_precedence(void **state)
{
    struct tmap tb, ti, tp;
    const struct extids_map *br = tmap(&tb, "ct-zone-vm1", "5", NULL);
    const struct extids_map *iface = tmap(&ti, "ctf-zone", "6", NULL);
    const struct extids_map *port = tmap(&tp, "ctf-zone", "7", NULL);
    struct extids_rules rules = { .zone_key = "ctf-zone", .zone_from_vlan_tag = true };
    struct extids_map empty = { NULL, NULL, 0 };
    struct port_info p;
    char bad[64];

    (void) state;
    port_with_id(&p, "vm1");
    /* OVN, then the key on the Interface, then on the Port, then the tag. */
    assert_int_equal(extids_port_zone(&rules, br, iface, port, 8, &p, bad, sizeof bad), 0);
    check_port_zone(&p, true, 5, PORT_ZONE_OVN);
    assert_int_equal(extids_port_zone(&rules, &empty, iface, port, 8, &p, bad, sizeof bad), 0);
    check_port_zone(&p, true, 6, PORT_ZONE_EXTERNAL_ID);
    assert_int_equal(extids_port_zone(&rules, NULL, &empty, port, 8, &p, bad, sizeof bad), 0);
    check_port_zone(&p, true, 7, PORT_ZONE_EXTERNAL_ID);
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, 8, &p, bad, sizeof bad), 0);
    check_port_zone(&p, true, 8, PORT_ZONE_VLAN_TAG);
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, -1, &p, bad, sizeof bad), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    assert_string_equal(bad, "");
    port_info_destroy(&p);
}

static void
test_zone_bad_values_fall_through(void **state)
{
    struct tmap tb, ti, tp;
    const struct extids_map *br = tmap(&tb, "ct-zone-vm1", "abc", NULL);
    const struct extids_map *iface = tmap(&ti, "ctf-zone", "65536", NULL);
    const struct extids_map *port = tmap(&tp, "ctf-zone", "9", NULL);
    struct extids_rules rules = { .zone_key = "ctf-zone", .zone_from_vlan_tag = true };
    struct port_info p;
    char bad[64];

    (void) state;
    port_with_id(&p, "vm1");
    /* The port is still filled from the next rule; the first bad value is
     * reported. */
    assert_int_equal(extids_port_zone(&rules, br, iface, port, 8, &p, bad, sizeof bad), EINVAL);
    check_port_zone(&p, true, 9, PORT_ZONE_EXTERNAL_ID);
    assert_string_equal(bad, "ct-zone-vm1=abc");

    assert_int_equal(extids_port_zone(&rules, NULL, iface, NULL, 8, &p, bad, sizeof bad), EINVAL);
    check_port_zone(&p, true, 8, PORT_ZONE_VLAN_TAG);
    assert_string_equal(bad, "ctf-zone=65536");

    /* Out of range everywhere: no zone at all. */
    br = tmap(&tb, "ct-zone-vm1", "-1", NULL);
    port = tmap(&tp, "ctf-zone", "", NULL);
    assert_int_equal(extids_port_zone(&rules, br, iface, port, 70000, &p, bad, sizeof bad),
                     EINVAL);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    assert_string_equal(bad, "ct-zone-vm1=-1");

    /* A bad tag alone. */
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, 65536, &p, bad, sizeof bad),
                     EINVAL);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    assert_string_equal(bad, "tag=65536");
    port_info_destroy(&p);
}

static void
test_zone_key_rules(void **state)
{
    struct tmap ti;
    const struct extids_map *iface = tmap(&ti, "ctf-zone", "6", "", "4", NULL);
    struct extids_rules rules = { 0 };
    struct port_info p;

    (void) state;
    port_with_id(&p, "vm1");
    /* No zone key configured (NULL or ""): the Interface's keys mean nothing. */
    assert_int_equal(extids_port_zone(&rules, NULL, iface, NULL, 5, &p, NULL, 0), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    rules.zone_key = "";
    assert_int_equal(extids_port_zone(&rules, NULL, iface, NULL, 5, &p, NULL, 0), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    /* Nor does the tag unless asked for. */
    rules.zone_key = "other";
    assert_int_equal(extids_port_zone(&rules, NULL, iface, NULL, 5, &p, NULL, 0), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    port_info_destroy(&p);
}

static void
test_zone_vlan_tag(void **state)
{
    struct extids_rules rules = { .zone_from_vlan_tag = true };
    struct port_info p;

    (void) state;
    port_with_id(&p, NULL);
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, 42, &p, NULL, 0), 0);
    check_port_zone(&p, true, 42, PORT_ZONE_VLAN_TAG);
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, 4095, &p, NULL, 0), 0);
    check_port_zone(&p, true, 4095, PORT_ZONE_VLAN_TAG);
    /* Tag 0 is a tag; its zone is the default zone, which is still a zone. */
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, 0, &p, NULL, 0), 0);
    check_port_zone(&p, true, 0, PORT_ZONE_VLAN_TAG);
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, -1, &p, NULL, 0), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, INT64_MIN, &p, NULL, 0), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    assert_int_equal(extids_port_zone(&rules, NULL, NULL, NULL, INT64_MAX, &p, NULL, 0), EINVAL);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    port_info_destroy(&p);
}

static void
test_zone_replaces_previous(void **state)
{
    struct tmap tb;
    const struct extids_map *br = tmap(&tb, "ct-zone-vm1", "5", NULL);
    struct port_info p;
    char bad[16] = "stale";

    (void) state;
    port_with_id(&p, "vm1");
    assert_int_equal(extids_port_zone(NULL, br, NULL, NULL, -1, &p, bad, sizeof bad), 0);
    check_port_zone(&p, true, 5, PORT_ZONE_OVN);
    br = tmap(&tb, "ct-zone-vm2", "6", NULL);
    assert_int_equal(extids_port_zone(NULL, br, NULL, NULL, -1, &p, bad, sizeof bad), 0);
    check_port_zone(&p, false, 0, PORT_ZONE_NONE);
    assert_string_equal(bad, "");
    port_info_destroy(&p);
}

static void
test_zone_bad_text_truncated_and_clean(void **state)
{
    struct tmap tb;
    const struct extids_map *br = tmap(&tb, "ct-zone-vm1", "12\n34567890", NULL);
    struct port_info p;
    char bad[16];

    (void) state;
    port_with_id(&p, "vm1");
    assert_int_equal(extids_port_zone(NULL, br, NULL, NULL, -1, &p, bad, sizeof bad), EINVAL);
    assert_string_equal(bad, "ct-zone-vm1=12?");
    port_info_destroy(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_ips_kube_ovn),
        cmocka_unit_test(test_ips_antrea),
        cmocka_unit_test(test_ips_plen_is_the_network),
        cmocka_unit_test(test_ips_bad_plen),
        cmocka_unit_test(test_ips_whitespace),
        cmocka_unit_test(test_ips_empty),
        cmocka_unit_test(test_ips_duplicates),
        cmocka_unit_test(test_ips_v6_forms),
        cmocka_unit_test(test_ips_v4_garbage),
        cmocka_unit_test(test_ips_unusable_addresses),
        cmocka_unit_test(test_ips_overlong_item),
        cmocka_unit_test(test_ips_overlong_value),
        cmocka_unit_test(test_ips_bad_text_is_printable),
        cmocka_unit_test(test_ips_bad_buffer_edges),
        cmocka_unit_test(test_ips_appends_without_duplicates),
        cmocka_unit_test(test_ips_random_input),
        cmocka_unit_test(test_zone_parse),
        cmocka_unit_test(test_zone_parse_message),
        cmocka_unit_test(test_port_ips_interface_first),
        cmocka_unit_test(test_port_ips_antrea_port_row),
        cmocka_unit_test(test_port_ips_garbage_falls_through),
        cmocka_unit_test(test_port_ips_empty_values),
        cmocka_unit_test(test_port_ips_no_port_row),
        cmocka_unit_test(test_port_ips_configured_keys),
        cmocka_unit_test(test_port_ips_replaces_previous),
        cmocka_unit_test(test_port_ips_duplicates_across_items),
        cmocka_unit_test(test_zone_ovn),
        cmocka_unit_test(test_zone_ovn_needs_iface_id),
        cmocka_unit_test(test_zone_precedence),
        cmocka_unit_test(test_zone_bad_values_fall_through),
        cmocka_unit_test(test_zone_key_rules),
        cmocka_unit_test(test_zone_vlan_tag),
        cmocka_unit_test(test_zone_replaces_previous),
        cmocka_unit_test(test_zone_bad_text_truncated_and_clean),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
