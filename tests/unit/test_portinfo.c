/*
 * test_portinfo.c: unit tests for portinfo.c (struct port_info: copies, the "same
 * flush target" and "same VM" tests, source names, wire encoding).
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

#include "addr.h"
#include "portinfo.h"
#include "wire.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

static char *
xstrdup(const char *s)
{
    char *c = s ? strdup(s) : NULL;

    if (s) {
        assert_non_null(c);
    }
    return c;
}

/* A port with the given IPs (a comma list, or NULL) and zone (-1: none). */
static void
port_bare(struct port_info *pi, const char *name, const char *iface_id,
          const char *ips, int zone)
{
    char err[128];

    port_info_init(pi);
    pi->name = xstrdup(name);
    pi->iface_id = xstrdup(iface_id);
    if (ips && ctf_prefix_list_parse(&pi->ips, ips, err, sizeof err)) {
        fail_msg("helper: %s", err);
    }
    if (zone >= 0) {
        pi->has_zone = true;
        pi->zone = (uint16_t) zone;
    }
}

static void
assert_ports_equal(const struct port_info *a, const struct port_info *b)
{
    assert_string_equal(a->name, b->name);
    if (a->iface_id || b->iface_id) {
        assert_non_null(a->iface_id);
        assert_non_null(b->iface_id);
        assert_string_equal(a->iface_id, b->iface_id);
    }
    if (a->bridge || b->bridge) {
        assert_non_null(a->bridge);
        assert_non_null(b->bridge);
        assert_string_equal(a->bridge, b->bridge);
    }
    assert_true(a->ofport == b->ofport);
    assert_int_equal(a->ips.n, b->ips.n);
    for (size_t i = 0; i < a->ips.n; i++) {
        assert_int_equal(ctf_prefix_cmp(&a->ips.items[i], &b->ips.items[i]), 0);
    }
    assert_int_equal(a->ip_source, b->ip_source);
    assert_int_equal(a->has_zone, b->has_zone);
    assert_int_equal(a->zone, b->zone);
    assert_int_equal(a->zone_source, b->zone_source);
}

/* Encodes pi, decodes it into a fresh port_info from an exact-sized copy;
 * returns rbuf_ok. */
static bool
port_round_trip(const struct port_info *pi, struct port_info *out)
{
    struct wbuf b;
    struct rbuf r;

    wbuf_init(&b);
    wbuf_put_port_info(&b, pi);
    assert_false(b.oom);
    uint8_t *copy = malloc(b.len);
    assert_non_null(copy);
    memcpy(copy, b.data, b.len);
    port_info_init(out);
    rbuf_init(&r, copy, b.len);
    rbuf_get_port_info(&r, out);
    bool ok = rbuf_ok(&r);
    free(copy);
    wbuf_destroy(&b);
    return ok;
}

/* ---- Life cycle. ---- */

static void
test_init_destroy(void **state)
{
    struct port_info pi;

    port_info_init(&pi);
    assert_null(pi.name);
    assert_null(pi.iface_id);
    assert_null(pi.bridge);
    assert_true(pi.ofport == -1);
    assert_int_equal(pi.ips.n, 0);
    assert_int_equal(pi.ip_source, PORT_IP_NONE);
    assert_false(pi.has_zone);
    assert_int_equal(pi.zone_source, PORT_ZONE_NONE);
    port_info_destroy(&pi);
    port_info_destroy(NULL);

    port_bare(&pi, "tap0", "vm-1", "10.0.0.1,fd00::1", 3);
    pi.bridge = xstrdup("br-int");
    port_info_destroy(&pi);
    /* Destroyed means empty again: destroying twice is harmless. */
    assert_null(pi.name);
    assert_int_equal(pi.ips.n, 0);
    port_info_destroy(&pi);
}

static void
test_copy(void **state)
{
    struct port_info a, b;

    port_bare(&a, "tap0", "vm-1", "10.0.0.1,fd00::1,192.168.1.0/24", 3);
    a.bridge = xstrdup("br-int");
    a.ofport = 17;
    a.ip_source = PORT_IP_PORT;
    a.zone_source = PORT_ZONE_VLAN_TAG;
    assert_int_equal(port_info_copy(&b, &a), 0);
    assert_ports_equal(&a, &b);
    /* A deep copy: nothing is shared. */
    assert_ptr_not_equal(a.name, b.name);
    assert_ptr_not_equal(a.iface_id, b.iface_id);
    assert_ptr_not_equal(a.bridge, b.bridge);
    assert_ptr_not_equal(a.ips.items, b.ips.items);
    port_info_destroy(&a);
    assert_string_equal(b.name, "tap0");
    assert_int_equal(b.ips.n, 3);
    port_info_destroy(&b);

    /* NULL strings and no IPs copy as such. */
    port_bare(&a, "tap1", NULL, NULL, -1);
    assert_int_equal(port_info_copy(&b, &a), 0);
    assert_ports_equal(&a, &b);
    assert_null(b.iface_id);
    assert_null(b.bridge);
    port_info_destroy(&a);
    port_info_destroy(&b);
}

/* ---- Comparisons. ---- */

static void
test_same_flush_target(void **state)
{
    static const struct {
        const char *ips_a;
        int zone_a;
        const char *ips_b;
        int zone_b;
        bool same;
    } cases[] = {
        { "10.0.0.1", -1, "10.0.0.1", -1, true },
        { NULL, -1, NULL, -1, true },
        { NULL, 5, NULL, 5, true },
        { "10.0.0.1,fd00::1", 5, "fd00::1,10.0.0.1", 5, true },
        { "10.0.0.1,10.0.0.1", -1, "10.0.0.1", -1, true },
        { "10.0.0.1", -1, "10.0.0.2", -1, false },
        { "10.0.0.1", -1, "10.0.0.1,10.0.0.2", -1, false },
        { "10.0.0.1,10.0.0.2", -1, "10.0.0.1", -1, false },
        { "10.0.0.1", -1, NULL, -1, false },
        { NULL, -1, "10.0.0.1", -1, false },
        { "10.0.0.1", 5, "10.0.0.1", 6, false },
        { "10.0.0.1", 5, "10.0.0.1", -1, false },
        { "10.0.0.1", -1, "10.0.0.1", 0, false },
        { "10.0.0.0/24", -1, "10.0.0.0/25", -1, false },
        { "::", -1, "::/127", -1, false },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct port_info a, b;

        port_bare(&a, "a", NULL, cases[i].ips_a, cases[i].zone_a);
        port_bare(&b, "b", NULL, cases[i].ips_b, cases[i].zone_b);
        if (port_info_same_flush_target(&a, &b) != cases[i].same
            || port_info_same_flush_target(&b, &a) != cases[i].same) {
            fail_msg("case %zu: [%s] z%d vs [%s] z%d: expected %s", i,
                     cases[i].ips_a ? cases[i].ips_a : "", cases[i].zone_a,
                     cases[i].ips_b ? cases[i].ips_b : "", cases[i].zone_b,
                     cases[i].same ? "same" : "different");
        }
        port_info_destroy(&a);
        port_info_destroy(&b);
    }

    /* Only the flush target counts, not names or where values came from. */
    struct port_info a, b;
    port_bare(&a, "tap0", "vm-1", "10.0.0.1", 1);
    port_bare(&b, "tap9", "vm-2", "10.0.0.1", 1);
    a.ip_source = PORT_IP_INTERFACE;
    b.ip_source = PORT_IP_CONTROL;
    a.zone_source = PORT_ZONE_OVN;
    b.ofport = 99;
    assert_true(port_info_same_flush_target(&a, &b));
    port_info_destroy(&a);
    port_info_destroy(&b);
}

static void
test_same_flush_target_large(void **state)
{
    /* Large sets take the sorted path; the answer must not change. */
    struct port_info a, b;

    port_info_init(&a);
    port_info_init(&b);
    for (unsigned int i = 0; i < 500; i++) {
        char s[32];
        snprintf(s, sizeof s, "10.%u.%u.1", i / 256, i % 256);
        struct ctf_prefix p = pfx(s);
        assert_int_equal(ctf_prefix_list_add(&a.ips, &p), 0);
        snprintf(s, sizeof s, "10.%u.%u.1", (499 - i) / 256, (499 - i) % 256);
        p = pfx(s);
        assert_int_equal(ctf_prefix_list_add(&b.ips, &p), 0);
    }
    assert_true(port_info_same_flush_target(&a, &b));

    /* A duplicate in one of them changes nothing. */
    struct ctf_prefix dup = pfx("10.0.0.1");
    assert_int_equal(ctf_prefix_list_add(&a.ips, &dup), 0);
    assert_true(port_info_same_flush_target(&a, &b));

    /* One address different. */
    b.ips.items[250] = pfx("192.0.2.1");
    assert_false(port_info_same_flush_target(&a, &b));
    assert_false(port_info_same_flush_target(&b, &a));

    /* One large and one small set. */
    ctf_prefix_list_clear(&b.ips);
    struct ctf_prefix one = pfx("10.0.0.1");
    assert_int_equal(ctf_prefix_list_add(&b.ips, &one), 0);
    assert_false(port_info_same_flush_target(&a, &b));
    port_info_destroy(&a);
    port_info_destroy(&b);
}

static void
test_vm_key(void **state)
{
    struct port_info pi;

    port_bare(&pi, "tap0", "vm-1", NULL, -1);
    assert_string_equal(port_info_vm_key(&pi), "vm-1");
    port_info_destroy(&pi);

    port_bare(&pi, "tap0", NULL, NULL, -1);
    assert_string_equal(port_info_vm_key(&pi), "tap0");
    port_info_destroy(&pi);

    /* An empty iface-id names no VM. */
    port_bare(&pi, "tap0", "", NULL, -1);
    assert_string_equal(port_info_vm_key(&pi), "tap0");
    port_info_destroy(&pi);
}

/* ---- Names. ---- */

static void
test_source_names(void **state)
{
    static const struct {
        enum port_ip_source v;
        const char *name;
    } ips[] = {
        { PORT_IP_NONE, "none" },
        { PORT_IP_INTERFACE, "interface" },
        { PORT_IP_PORT, "port" },
        { PORT_IP_CONTROL, "control" },
    };
    static const struct {
        enum port_zone_source v;
        const char *name;
    } zones[] = {
        { PORT_ZONE_NONE, "none" },
        { PORT_ZONE_OVN, "ovn" },
        { PORT_ZONE_EXTERNAL_ID, "external-id" },
        { PORT_ZONE_VLAN_TAG, "vlan-tag" },
    };

    for (size_t i = 0; i < sizeof ips / sizeof *ips; i++) {
        enum port_ip_source v = PORT_IP_NONE;
        assert_string_equal(port_ip_source_name(ips[i].v), ips[i].name);
        assert_int_equal(port_ip_source_parse(ips[i].name, &v), 0);
        assert_int_equal(v, ips[i].v);
    }
    for (size_t i = 0; i < sizeof zones / sizeof *zones; i++) {
        enum port_zone_source v = PORT_ZONE_NONE;
        assert_string_equal(port_zone_source_name(zones[i].v), zones[i].name);
        assert_int_equal(port_zone_source_parse(zones[i].name, &v), 0);
        assert_int_equal(v, zones[i].v);
    }

    /* Out of range values have a name too, never a crash. */
    assert_string_equal(port_ip_source_name((enum port_ip_source) 99), "?");
    assert_string_equal(port_zone_source_name((enum port_zone_source) -1), "?");

    /* Unknown, differently cased, or prefixed names are refused, and the
     * output is left alone. */
    static const char *const bad[] = { "", "Interface", "ports", "vlan", "?", "none " };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        enum port_ip_source iv = PORT_IP_CONTROL;
        enum port_zone_source zv = PORT_ZONE_OVN;
        assert_int_equal(port_ip_source_parse(bad[i], &iv), EINVAL);
        assert_int_equal(port_zone_source_parse(bad[i], &zv), EINVAL);
        assert_int_equal(iv, PORT_IP_CONTROL);
        assert_int_equal(zv, PORT_ZONE_OVN);
    }
    enum port_ip_source iv;
    enum port_zone_source zv;
    assert_int_equal(port_ip_source_parse(NULL, &iv), EINVAL);
    assert_int_equal(port_zone_source_parse(NULL, &zv), EINVAL);
}

/* ---- Wire encoding. ---- */

static void
test_wire_round_trip(void **state)
{
    struct port_info in, out;

    port_bare(&in, "tap0", "5f0e-vm", "10.0.0.1,fd00::1,10.0.0.0/8", 65535);
    in.bridge = xstrdup("br-int");
    in.ofport = 123456789012LL;
    in.ip_source = PORT_IP_CONTROL;
    in.zone_source = PORT_ZONE_EXTERNAL_ID;
    assert_true(port_round_trip(&in, &out));
    assert_ports_equal(&in, &out);
    port_info_destroy(&out);
    port_info_destroy(&in);

    /* The smallest port: a name and nothing else. */
    port_bare(&in, "x", NULL, NULL, -1);
    assert_true(port_round_trip(&in, &out));
    assert_ports_equal(&in, &out);
    assert_null(out.iface_id);
    assert_null(out.bridge);
    assert_true(out.ofport == -1);
    port_info_destroy(&out);
    port_info_destroy(&in);
}

static void
test_wire_refill(void **state)
{
    /* Decoding into a port that already holds values replaces them, with
     * nothing leaked (valgrind checks that part). */
    struct port_info in, out;
    struct wbuf b;
    struct rbuf r;

    port_bare(&in, "tap1", "vm-b", "10.0.0.2", -1);
    port_bare(&out, "tap0", "vm-a", "10.0.0.1,10.0.0.3", 4);
    out.bridge = xstrdup("br-old");
    wbuf_init(&b);
    wbuf_put_port_info(&b, &in);
    rbuf_init(&r, b.data, b.len);
    rbuf_get_port_info(&r, &out);
    assert_true(rbuf_ok(&r));
    assert_ports_equal(&in, &out);
    wbuf_destroy(&b);
    port_info_destroy(&in);
    port_info_destroy(&out);
}

static void
test_wire_bad(void **state)
{
    struct port_info in, out;

    /* No name, or an empty one. */
    port_bare(&in, NULL, "vm", NULL, -1);
    assert_false(port_round_trip(&in, &out));
    port_info_destroy(&out);
    port_info_destroy(&in);
    port_bare(&in, "", "vm", NULL, -1);
    assert_false(port_round_trip(&in, &out));
    port_info_destroy(&out);
    port_info_destroy(&in);

    /* Enum values out of range. */
    port_bare(&in, "tap0", NULL, NULL, -1);
    in.ip_source = (enum port_ip_source) 4;
    assert_false(port_round_trip(&in, &out));
    assert_int_equal(out.ip_source, PORT_IP_NONE);
    port_info_destroy(&out);
    in.ip_source = PORT_IP_NONE;
    in.zone_source = (enum port_zone_source) 77;
    assert_false(port_round_trip(&in, &out));
    assert_int_equal(out.zone_source, PORT_ZONE_NONE);
    port_info_destroy(&out);
    port_info_destroy(&in);

    /* Every truncation of a full port fails cleanly. */
    struct wbuf b;
    port_bare(&in, "tap0", "vm-1", "10.0.0.1,fd00::1", 9);
    in.bridge = xstrdup("br-int");
    wbuf_init(&b);
    wbuf_put_port_info(&b, &in);
    for (size_t len = 0; len < b.len; len++) {
        struct rbuf r;
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, b.data, len);
        port_info_init(&out);
        rbuf_init(&r, copy, len);
        rbuf_get_port_info(&r, &out);
        if (rbuf_ok(&r)) {
            fail_msg("cut to %zu of %zu bytes: accepted", len, b.len);
        }
        port_info_destroy(&out);
        free(copy);
    }

    /* A datapath byte out of range. */
    b.data[b.len - 1] = FLUSH_DATAPATH_COUNT;
    {
        struct rbuf r;
        port_info_init(&out);
        rbuf_init(&r, b.data, b.len);
        rbuf_get_port_info(&r, &out);
        assert_false(rbuf_ok(&r));
        port_info_destroy(&out);
    }
    b.data[b.len - 1] = FLUSH_DATAPATH_NETDEV;
    {
        struct rbuf r;
        port_info_init(&out);
        rbuf_init(&r, b.data, b.len);
        rbuf_get_port_info(&r, &out);
        assert_true(rbuf_ok(&r));
        assert_int_equal(out.datapath, FLUSH_DATAPATH_NETDEV);
        port_info_destroy(&out);
    }

    /* A has_zone byte other than 0 or 1. */
    size_t zone_flag_at = b.len - 1 - 4 - 2 - 1;
    b.data[zone_flag_at] = 2;
    struct rbuf r;
    port_info_init(&out);
    rbuf_init(&r, b.data, b.len);
    rbuf_get_port_info(&r, &out);
    assert_false(rbuf_ok(&r));
    port_info_destroy(&out);
    wbuf_destroy(&b);
    port_info_destroy(&in);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_destroy),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_same_flush_target),
        cmocka_unit_test(test_same_flush_target_large),
        cmocka_unit_test(test_vm_key),
        cmocka_unit_test(test_source_names),
        cmocka_unit_test(test_wire_round_trip),
        cmocka_unit_test(test_wire_refill),
        cmocka_unit_test(test_wire_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
