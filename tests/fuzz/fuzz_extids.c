/*
 * fuzz_extids.c: the external_ids rules (extids.h) on values and whole maps
 * built from the input. Whatever wrote OVSDB (a platform, an operator with
 * ovs-vsctl) is not trusted.
 *
 * Input layout. Shorter than FUZZ_EX_HDR bytes: the whole input is one value
 * for extids_parse_ips and extids_parse_zone. Otherwise:
 *   byte 0       rule flags (FUZZ_EX_* below)
 *   byte 1       size of the "bad item" buffer, 1 + (byte % 64)
 *   bytes 2..9   the Port's VLAN tag, int64_t little-endian
 *   then records separated by NUL bytes:
 *     record 0   a value for extids_parse_ips and extids_parse_zone
 *     record 1   the Interface's iface-id ("" for none)
 *     others     'b', 'i' or 'p' (bridge, Interface or Port external_ids),
 *                then KEY=VALUE (no '=': the value is ""); others skipped
 * The seeds in corpus/extids follow it (fuzz_mkseeds writes them).
 *
 * Oracles beyond the sanitizers: every address kept is a host prefix of a
 * usable unicast address, without duplicates, at most 256 of them; the bad
 * item text is terminated, printable ASCII and non-empty exactly when
 * something was bad; a zone parses only from plain decimal 0..65535; the
 * port's ip_source/zone_source agree with what was filled.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <sys/socket.h>

#include "extids.h"
#include "fuzz.h"

#define FUZZ_EX_HDR 10
#define FUZZ_EX_MAX_PAIRS 32            /* Per map; more records are dropped. */
#define FUZZ_EX_MAX_IPS 256             /* extids.c's bound, as documented. */

#define FUZZ_EX_VLAN_ZONE   0x01        /* zone_from_vlan_tag */
#define FUZZ_EX_ZONE_KEY    0x02        /* zone_key = "zone" */
#define FUZZ_EX_ZONE_EMPTY  0x04        /* zone_key = "" (overrides the above) */
#define FUZZ_EX_IP_KEYS     0x08        /* Several IP keys on both rows. */
#define FUZZ_EX_NO_IP_KEYS  0x10        /* Configured, but empty, key lists. */
#define FUZZ_EX_NO_PORT     0x20        /* No Port row (port_ids NULL). */
#define FUZZ_EX_NO_BRIDGE   0x40        /* No bridge row (bridge_ids NULL). */
#define FUZZ_EX_NO_RULES    0x80        /* rules NULL: the defaults. */

struct fuzz_map {
    const char *keys[FUZZ_EX_MAX_PAIRS];
    const char *values[FUZZ_EX_MAX_PAIRS];
    struct extids_map map;
};

static bool
fuzz_addr_unusable(const struct ctf_prefix *p)
{
    if (p->family == AF_INET) {
        uint32_t a = ntohl(p->addr.v4.s_addr);
        return a == 0 || a == UINT32_MAX || (a & 0xf0000000u) == 0xe0000000u;
    }
    return IN6_IS_ADDR_UNSPECIFIED(&p->addr.v6) || p->addr.b[0] == 0xff;
}

static void
fuzz_check_ips(const struct ctf_prefix_list *l)
{
    FUZZ_CHECK(l->n <= FUZZ_EX_MAX_IPS);
    for (size_t i = 0; i < l->n; i++) {
        const struct ctf_prefix *p = &l->items[i];

        FUZZ_CHECK(p->family == AF_INET || p->family == AF_INET6);
        FUZZ_CHECK(ctf_prefix_is_host(p));
        FUZZ_CHECK(!fuzz_addr_unusable(p));
        if (p->family == AF_INET) {
            FUZZ_CHECK(!p->addr.w[1] && !p->addr.w[2] && !p->addr.w[3]);
        }
        for (size_t j = 0; j < i; j++) {
            FUZZ_CHECK(ctf_prefix_cmp(&l->items[j], p) != 0);
        }
    }
}

/* 'bad' after a call that reported n_bad bad items (or, for zones, failed). */
static void
fuzz_check_bad(const char *bad, size_t badlen, bool any_bad)
{
    FUZZ_CHECK(fuzz_is_log_safe(bad, badlen, true));
    if (!any_bad) {
        FUZZ_CHECK(bad[0] == '\0');
    } else if (badlen > 1) {
        FUZZ_CHECK(bad[0] != '\0');
    }
}

static void
fuzz_check_value(const char *value, char *bad, size_t badlen)
{
    struct ctf_prefix_list ips = { 0 };
    uint16_t zone = 0;
    size_t n_bad;

    memset(bad, 'X', badlen);
    n_bad = extids_parse_ips(value, &ips, bad, badlen);
    fuzz_check_ips(&ips);
    fuzz_check_bad(bad, badlen, n_bad > 0);
    ctf_prefix_list_destroy(&ips);

    char why[128];
    if (!extids_parse_zone(value, &zone, why, sizeof why)) {
        size_t n = strlen(value);
        unsigned long v = strtoul(value, NULL, 10);

        /* Plain decimal without a leading zero (num.h). */
        FUZZ_CHECK(n >= 1 && n <= 5 && strspn(value, "0123456789") == n);
        FUZZ_CHECK(n == 1 || value[0] != '0');
        FUZZ_CHECK(v <= UINT16_MAX && v == zone);
    } else {
        /* The reason is one printable line. */
        for (const char *c = why; *c; c++) {
            FUZZ_CHECK(*c >= 0x20 && *c < 0x7f);
        }
    }
}

static void
fuzz_map_add(struct fuzz_map *m, char *record)
{
    char *eq;

    if (m->map.n == FUZZ_EX_MAX_PAIRS) {
        return;
    }
    eq = strchr(record, '=');
    if (eq) {
        *eq = '\0';
    }
    m->keys[m->map.n] = record;
    m->values[m->map.n] = eq ? eq + 1 : "";
    m->map.n++;
}

/* extids_get finds the first pair with a key. */
static void
fuzz_check_get(const struct fuzz_map *m)
{
    for (size_t i = 0; i < m->map.n; i++) {
        size_t first = i;

        for (size_t j = 0; j < i; j++) {
            if (!strcmp(m->keys[j], m->keys[i])) {
                first = j;
                break;
            }
        }
        FUZZ_CHECK(extids_get(&m->map, m->keys[i]) == m->values[first]);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const iface_keys[] = { "ip", "ipv6", "ip-address" };
    static const char *const port_keys[] = { "ip-address", "ip" };
    struct fuzz_map bridge = { .map = { bridge.keys, bridge.values, 0 } };
    struct fuzz_map iface = { .map = { iface.keys, iface.values, 0 } };
    struct fuzz_map port = { .map = { port.keys, port.values, 0 } };
    struct extids_rules rules = { 0 };
    struct port_info pi;
    uint8_t flags;
    size_t badlen, n_bad;
    uint64_t utag = 0;
    int64_t tag;
    char *bad, *text, *p, *end;
    int rc;

    if (size < FUZZ_EX_HDR) {
        text = fuzz_cstr(data, size);
        bad = fuzz_xmalloc(64);
        fuzz_check_value(text, bad, 64);
        free(bad);
        free(text);
        return 0;
    }

    flags = data[0];
    badlen = 1 + data[1] % 64;
    for (int i = 7; i >= 0; i--) {
        utag = utag << 8 | data[2 + i];
    }
    memcpy(&tag, &utag, sizeof tag);    /* Two's complement, no conversion. */
    text = fuzz_cstr(data + FUZZ_EX_HDR, size - FUZZ_EX_HDR);
    end = text + (size - FUZZ_EX_HDR);
    bad = fuzz_xmalloc(badlen);

    /* Record 0: a value on its own. */
    fuzz_check_value(text, bad, badlen);

    port_info_init(&pi);
    pi.name = strdup("tap-fuzz");
    FUZZ_CHECK(pi.name != NULL);
    p = text + strlen(text) + 1;
    if (p < end) {
        /* Record 1: the iface-id. */
        if (*p) {
            pi.iface_id = strdup(p);
            FUZZ_CHECK(pi.iface_id != NULL);
        }
        p += strlen(p) + 1;
    }
    for (; p < end; p += strlen(p) + 1) {
        switch (*p) {
        case 'b':
            fuzz_map_add(&bridge, p + 1);
            break;
        case 'i':
            fuzz_map_add(&iface, p + 1);
            break;
        case 'p':
            fuzz_map_add(&port, p + 1);
            break;
        default:
            break;
        }
    }
    fuzz_check_get(&bridge);
    fuzz_check_get(&iface);
    fuzz_check_get(&port);

    rules.zone_from_vlan_tag = flags & FUZZ_EX_VLAN_ZONE;
    if (flags & FUZZ_EX_ZONE_EMPTY) {
        rules.zone_key = "";
    } else if (flags & FUZZ_EX_ZONE_KEY) {
        rules.zone_key = "zone";
    }
    if (flags & FUZZ_EX_NO_IP_KEYS) {
        rules.iface_ip_keys = iface_keys;
        rules.port_ip_keys = port_keys;
    } else if (flags & FUZZ_EX_IP_KEYS) {
        rules.iface_ip_keys = iface_keys;
        rules.n_iface_ip_keys = sizeof iface_keys / sizeof iface_keys[0];
        rules.port_ip_keys = port_keys;
        rules.n_port_ip_keys = sizeof port_keys / sizeof port_keys[0];
    }
    const struct extids_rules *r = flags & FUZZ_EX_NO_RULES ? NULL : &rules;
    const struct extids_map *port_ids = flags & FUZZ_EX_NO_PORT ? NULL : &port.map;
    const struct extids_map *bridge_ids = flags & FUZZ_EX_NO_BRIDGE ? NULL : &bridge.map;

    /* IPs. */
    memset(bad, 'X', badlen);
    n_bad = extids_port_ips(r, &iface.map, port_ids, &pi, bad, badlen);
    fuzz_check_ips(&pi.ips);
    fuzz_check_bad(bad, badlen, n_bad > 0);
    FUZZ_CHECK((pi.ip_source == PORT_IP_NONE) == (pi.ips.n == 0));
    FUZZ_CHECK(pi.ip_source == PORT_IP_NONE || pi.ip_source == PORT_IP_INTERFACE
               || pi.ip_source == PORT_IP_PORT);
    FUZZ_CHECK(pi.ip_source != PORT_IP_PORT || port_ids);
    if (flags & FUZZ_EX_NO_IP_KEYS && !(flags & FUZZ_EX_NO_RULES)) {
        FUZZ_CHECK(pi.ips.n == 0 && n_bad == 0);
    }

    /* Zone. */
    memset(bad, 'X', badlen);
    rc = extids_port_zone(r, bridge_ids, &iface.map, port_ids, tag, &pi, bad, badlen);
    FUZZ_CHECK(rc == 0 || rc == EINVAL);
    fuzz_check_bad(bad, badlen, rc != 0);
    FUZZ_CHECK(pi.has_zone == (pi.zone_source != PORT_ZONE_NONE));
    if (pi.zone_source == PORT_ZONE_VLAN_TAG) {
        FUZZ_CHECK(r && r->zone_from_vlan_tag && tag >= 0 && tag <= UINT16_MAX);
        FUZZ_CHECK(pi.zone == (uint16_t) tag);
    }
    if (pi.zone_source == PORT_ZONE_OVN) {
        FUZZ_CHECK(bridge_ids && pi.iface_id);
    }
    if (pi.zone_source == PORT_ZONE_EXTERNAL_ID) {
        FUZZ_CHECK(r && r->zone_key && r->zone_key[0]);
    }
    if (!r) {
        /* The defaults know no zone key and no VLAN rule. */
        FUZZ_CHECK(pi.zone_source == PORT_ZONE_NONE || pi.zone_source == PORT_ZONE_OVN);
    }

    port_info_destroy(&pi);
    free(bad);
    free(text);
    return 0;
}
