/*
 * extids.h: turns OVSDB external_ids maps into a port's IPs and conntrack
 * zone, following the conventions of the platforms ctflushd runs beside:
 * Kube-OVN (Interface external_ids:ip), Antrea (Port external_ids:ip-address),
 * OVN (ct-zone-<iface-id> in the integration bridge's external_ids), neutron's
 * openvswitch firewall (the Port's local VLAN tag is the zone). Pure
 * functions over plain key/value arrays, so OVS types stay in the watcher and
 * every rule here is unit-tested and fuzzed.
 *
 * Owns: nothing beyond the lists it fills.
 */
#ifndef CTF_EXTIDS_H
#define CTF_EXTIDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "portinfo.h"
#include "watcher.h"

/* One external_ids map as parallel key/value arrays (an OVS smap, flattened). */
struct extids_map {
    const char *const *keys;
    const char *const *values;
    size_t n;
};

/* Looks a key up; NULL if absent. */
const char *extids_get(const struct extids_map *, const char *key);

/* Parses an IP list value as platforms write it: items separated by commas
 * and/or whitespace, each an IPv4 or IPv6 address with or without "/plen".
 * "/plen" is the interface's network (10.0.0.5/24 is the host 10.0.0.5 on a
 * /24), so every item becomes a host prefix. Duplicates are dropped. Items
 * that do not parse are skipped and counted; the first one is copied
 * (truncated) into bad. Returns the number of bad items. */
size_t extids_parse_ips(const char *value, struct ctf_prefix_list *out,
                        char *bad, size_t badlen);

/* Fills ips/ip_source of *port from the first configured key that is present
 * and yields at least one address: Interface keys first, then Port keys.
 * port_ids may be NULL (an Interface with no Port row yet). Returns the
 * number of bad items seen (see extids_parse_ips). */
size_t extids_port_ips(const struct extids_rules *, const struct extids_map *iface_ids,
                       const struct extids_map *port_ids, struct port_info *port,
                       char *bad, size_t badlen);

/* Parses a zone number, decimal "0".."65535" (0 is the default zone), by
 * the rule of every number ctflushd reads (num.h). Returns 0, or EINVAL
 * with the reason in err (which may be NULL). */
int extids_parse_zone(const char *, uint16_t *, char *err, size_t errlen);

/* Fills has_zone/zone/zone_source of *port, in order: OVN's
 * ct-zone-<iface-id> in bridge_ids (if iface_id is set), the configured
 * zone_key on the Interface then the Port, the Port's VLAN tag when the rules
 * say so (tag < 0: none), else no zone. A present but unparsable value is
 * skipped (and reported through bad, truncated) and the next rule tried.
 * Returns 0, or EINVAL when a value was bad (the port is still filled). */
int extids_port_zone(const struct extids_rules *, const struct extids_map *bridge_ids,
                     const struct extids_map *iface_ids, const struct extids_map *port_ids,
                     int64_t tag, struct port_info *port, char *bad, size_t badlen);

#endif
