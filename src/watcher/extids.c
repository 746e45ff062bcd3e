/*
 * extids.c: the external_ids conventions of the platforms ctflushd runs
 * beside, as pure functions over flattened maps (see extids.h).
 *
 * Everything here reads values that other software (or an operator with
 * ovs-vsctl) wrote, so nothing is trusted: a value that does not parse is
 * skipped and reported, never fatal, and what is reported is made safe to
 * put in a log line.
 */
#include "extids.h"
#include "num.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* One list item may not be longer than this.  The longest IPv6 text form
 * ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255") plus "/128" is 49
 * characters, so anything longer is garbage, whatever it is. */
#define EXTIDS_ITEM_MAX 64

/* Distinct addresses kept for one value.  A VM port has a handful; a value
 * with hundreds is garbage, and the bound keeps the duplicate check (which is
 * quadratic, to keep the platform's order) cheap on any input. */
#define EXTIDS_MAX_IPS 256

/* OVN's key in the integration bridge's external_ids: "ct-zone-" followed by
 * the logical port name, which is the Interface's iface-id. */
#define EXTIDS_OVN_ZONE_PREFIX "ct-zone-"

/* Separators between list items: Kube-OVN and Antrea write "a,b"; people
 * write "a, b" or "a b". */
#define EXTIDS_SEPARATORS ", \t\r\n\v\f"

static const char *const extids_default_iface_keys[] = { "ip" };
static const char *const extids_default_port_keys[] = { "ip-address" };

const char *
extids_get(const struct extids_map *map, const char *key)
{
    if (!map || !key) {
        return NULL;
    }
    for (size_t i = 0; i < map->n; i++) {
        if (map->keys[i] && !strcmp(map->keys[i], key)) {
            return map->values[i];
        }
    }
    return NULL;
}

/* Appends 'n' bytes of 's' to the string in 'buf' (size 'len'), truncating,
 * with bytes that are not printable ASCII replaced by '?': the text ends up
 * in log lines, and a value in OVSDB is whatever its writer put there. */
static void
extids_append_safe(char *buf, size_t len, const char *s, size_t n)
{
    size_t used = strlen(buf);

    for (size_t i = 0; i < n && used + 1 < len; i++) {
        unsigned char c = (unsigned char) s[i];
        buf[used++] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    buf[used] = '\0';
}

/* Records "KEY=TEXT" (or "TEXT" when key is NULL) in 'bad', unless a bad
 * item was already recorded there: the header promises the first one. */
static void
extids_note_bad(char *bad, size_t badlen, const char *key, const char *text, size_t n)
{
    if (!bad || !badlen || bad[0]) {
        return;
    }
    if (key) {
        extids_append_safe(bad, badlen, key, strlen(key));
        extids_append_safe(bad, badlen, "=", 1);
    }
    extids_append_safe(bad, badlen, text, n);
}

static void
extids_bad_reset(char *bad, size_t badlen)
{
    if (bad && badlen) {
        bad[0] = '\0';
    }
}

/* True for addresses that cannot be a VM port's own unicast address: the
 * unspecified address, multicast and the IPv4 limited broadcast.  Flushing
 * "every entry of 0.0.0.0" would be meaningless at best. */
static bool
extids_addr_is_unusable(const struct ctf_prefix *p)
{
    if (p->family == AF_INET) {
        uint32_t a = ntohl(p->addr.v4.s_addr);
        return a == 0 || a == UINT32_MAX || (a >> 28) == 0xe;
    }
    return IN6_IS_ADDR_UNSPECIFIED(&p->addr.v6) || IN6_IS_ADDR_MULTICAST(&p->addr.v6);
}

/* Parses one item, 's' of length 'n', into a host prefix.  "/plen" is the
 * length of the network the port sits on (Kube-OVN and Antrea both write the
 * address with it sometimes), so it is checked for range and then dropped:
 * "10.0.0.5/24" is the host 10.0.0.5, not a network. */
static int
extids_parse_item(const char *s, size_t n, struct ctf_prefix *out)
{
    char buf[EXTIDS_ITEM_MAX];
    char *slash;
    unsigned int plen = 0;
    bool has_plen = false;

    memset(out, 0, sizeof *out);
    if (!n || n >= sizeof buf) {
        return EINVAL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';

    slash = strchr(buf, '/');
    if (slash) {
        uint64_t v;

        /* As addr.c takes it: "+24", "0x18", "024" and " 24" are typos. */
        if (num_parse_u64(slash + 1, NUM_DEC, 0, 128, &v, NULL, 0)) {
            return EINVAL;
        }
        plen = (unsigned int) v;
        has_plen = true;
        *slash = '\0';
    }

    if (inet_pton(AF_INET, buf, &out->addr.v4) == 1) {
        out->family = AF_INET;
        out->plen = 32;
    } else if (inet_pton(AF_INET6, buf, &out->addr.v6) == 1) {
        out->family = AF_INET6;
        out->plen = 128;
    } else {
        return EINVAL;
    }
    if (has_plen && plen > out->plen) {
        return EINVAL;
    }
    if (out->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&out->addr.v6)) {
        /* ::ffff:10.0.0.5 is the VM's IPv4 address: its conntrack entries
         * are IPv4 ones, which an IPv6 prefix would never match. */
        uint8_t v4[4];
        memcpy(v4, &out->addr.b[12], 4);
        memset(&out->addr, 0, sizeof out->addr);
        memcpy(out->addr.b, v4, 4);
        out->family = AF_INET;
        out->plen = 32;
    }
    if (extids_addr_is_unusable(out)) {
        return EINVAL;
    }
    return 0;
}

static bool
extids_list_has(const struct ctf_prefix_list *l, const struct ctf_prefix *p)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!ctf_prefix_cmp(&l->items[i], p)) {
            return true;
        }
    }
    return false;
}

/* extids_parse_ips() without resetting 'bad', so that a caller trying
 * several keys keeps the first bad item of all of them; 'key' prefixes what
 * is recorded. */
static size_t
extids_parse_ips__(const char *value, const char *key, struct ctf_prefix_list *out,
                   char *bad, size_t badlen)
{
    size_t n_bad = 0;
    const char *p = value;

    if (!value) {
        return 0;
    }
    while (*p) {
        size_t n = strcspn(p, EXTIDS_SEPARATORS);
        struct ctf_prefix prefix;
        int err;

        if (!n) {
            p++;
            continue;
        }
        err = extids_parse_item(p, n, &prefix);
        if (!err && !extids_list_has(out, &prefix)) {
            err = out->n >= EXTIDS_MAX_IPS ? E2BIG : ctf_prefix_list_add(out, &prefix);
        }
        if (err) {
            extids_note_bad(bad, badlen, key, p, n);
            n_bad++;
        }
        p += n;
    }
    return n_bad;
}

size_t
extids_parse_ips(const char *value, struct ctf_prefix_list *out, char *bad, size_t badlen)
{
    extids_bad_reset(bad, badlen);
    return extids_parse_ips__(value, NULL, out, bad, badlen);
}

/* Tries each key of 'keys' in 'map'; on the first that yields an address,
 * leaves the addresses in port->ips and returns true. */
static bool
extids_ips_from(const struct extids_map *map, const char *const *keys, size_t n_keys,
                struct port_info *port, size_t *n_bad, char *bad, size_t badlen)
{
    if (!map) {
        return false;
    }
    for (size_t i = 0; i < n_keys; i++) {
        const char *value = extids_get(map, keys[i]);

        if (!value) {
            continue;
        }
        ctf_prefix_list_clear(&port->ips);
        *n_bad += extids_parse_ips__(value, keys[i], &port->ips, bad, badlen);
        if (port->ips.n) {
            return true;
        }
    }
    return false;
}

size_t
extids_port_ips(const struct extids_rules *rules, const struct extids_map *iface_ids,
                const struct extids_map *port_ids, struct port_info *port,
                char *bad, size_t badlen)
{
    const char *const *iface_keys = extids_default_iface_keys;
    size_t n_iface_keys = 1;
    const char *const *port_keys = extids_default_port_keys;
    size_t n_port_keys = 1;
    size_t n_bad = 0;

    /* NULL means "not configured": the platform defaults.  A list given
     * with no entries means the operator turned that source off. */
    if (rules && rules->iface_ip_keys) {
        iface_keys = rules->iface_ip_keys;
        n_iface_keys = rules->n_iface_ip_keys;
    }
    if (rules && rules->port_ip_keys) {
        port_keys = rules->port_ip_keys;
        n_port_keys = rules->n_port_ip_keys;
    }

    extids_bad_reset(bad, badlen);
    ctf_prefix_list_clear(&port->ips);
    port->ip_source = PORT_IP_NONE;

    if (extids_ips_from(iface_ids, iface_keys, n_iface_keys, port, &n_bad, bad, badlen)) {
        port->ip_source = PORT_IP_INTERFACE;
    } else if (extids_ips_from(port_ids, port_keys, n_port_keys, port, &n_bad,
                               bad, badlen)) {
        port->ip_source = PORT_IP_PORT;
    } else {
        ctf_prefix_list_clear(&port->ips);
    }
    return n_bad;
}

int
extids_parse_zone(const char *s, uint16_t *zone, char *err, size_t errlen)
{
    uint64_t v;

    /* Plain decimal, as OVN and ovs-vsctl write it: the same rule as every
     * other number ctflushd reads. */
    if (num_parse_u64(s, NUM_DEC, 0, UINT16_MAX, &v, err, errlen)) {
        return EINVAL;
    }
    *zone = (uint16_t) v;
    return 0;
}

/* Finds OVN's "ct-zone-<iface_id>" in 'bridge_ids' without building the key:
 * iface_id is arbitrary text of any length. */
static const char *
extids_get_ovn_zone(const struct extids_map *bridge_ids, const char *iface_id,
                    const char **key)
{
    size_t plen = strlen(EXTIDS_OVN_ZONE_PREFIX);

    for (size_t i = 0; i < bridge_ids->n; i++) {
        const char *k = bridge_ids->keys[i];

        if (k && !strncmp(k, EXTIDS_OVN_ZONE_PREFIX, plen) && !strcmp(k + plen, iface_id)) {
            *key = k;
            return bridge_ids->values[i];
        }
    }
    return NULL;
}

static void
extids_set_zone(struct port_info *port, uint16_t zone, enum port_zone_source source)
{
    port->has_zone = true;
    port->zone = zone;
    port->zone_source = source;
}

int
extids_port_zone(const struct extids_rules *rules, const struct extids_map *bridge_ids,
                 const struct extids_map *iface_ids, const struct extids_map *port_ids,
                 int64_t tag, struct port_info *port, char *bad, size_t badlen)
{
    int err = 0;
    uint16_t zone;

    extids_bad_reset(bad, badlen);
    port->has_zone = false;
    port->zone = 0;
    port->zone_source = PORT_ZONE_NONE;

    /* OVN first: when ovn-controller runs, its zone is the one the port's
     * entries are in, whatever else the rows say. */
    if (bridge_ids && port->iface_id && port->iface_id[0]) {
        const char *key = NULL;
        const char *value = extids_get_ovn_zone(bridge_ids, port->iface_id, &key);

        if (value) {
            if (!extids_parse_zone(value, &zone, NULL, 0)) {
                extids_set_zone(port, zone, PORT_ZONE_OVN);
                return err;
            }
            extids_note_bad(bad, badlen, key, value, strlen(value));
            err = EINVAL;
        }
    }

    if (rules && rules->zone_key && rules->zone_key[0]) {
        const struct extids_map *maps[] = { iface_ids, port_ids };

        for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
            const char *value = extids_get(maps[i], rules->zone_key);

            if (!value) {
                continue;
            }
            if (!extids_parse_zone(value, &zone, NULL, 0)) {
                extids_set_zone(port, zone, PORT_ZONE_EXTERNAL_ID);
                return err;
            }
            extids_note_bad(bad, badlen, rules->zone_key, value, strlen(value));
            err = EINVAL;
        }
    }

    if (rules && rules->zone_from_vlan_tag && tag >= 0) {
        if (tag <= UINT16_MAX) {
            extids_set_zone(port, (uint16_t) tag, PORT_ZONE_VLAN_TAG);
            return err;
        }
        char text[32];
        int n = snprintf(text, sizeof text, "%" PRId64, tag);
        extids_note_bad(bad, badlen, "tag", text, n > 0 ? (size_t) n : 0);
        err = EINVAL;
    }
    return err;
}
