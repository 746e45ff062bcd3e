/*
 * port.h: what ctflushd knows about one VM port: its name, its iface-id, its
 * IP addresses and conntrack zone, and where each came from. The watcher
 * builds these from OVSDB rows, the control API from operators, the state
 * file from disk; all of them go through this one type.
 *
 * Owns: struct port_info and its strings and list.
 */
#ifndef CTF_PORT_H
#define CTF_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "wire.h"

enum port_ip_source {
    PORT_IP_NONE = 0,
    PORT_IP_INTERFACE,          /* An external_ids key of the Interface row. */
    PORT_IP_PORT,               /* An external_ids key of the Port row. */
    PORT_IP_CONTROL,            /* Set through the control API (set-ips). */
};

enum port_zone_source {
    PORT_ZONE_NONE = 0,         /* No zone: its flushes cover every zone. */
    PORT_ZONE_OVN,              /* ct-zone-<iface-id> in the bridge's external_ids. */
    PORT_ZONE_EXTERNAL_ID,      /* The configured external_ids key. */
    PORT_ZONE_VLAN_TAG,         /* The Port's tag (neutron's openvswitch firewall). */
    PORT_ZONE_CONTROL,          /* set-ips (neutron: the zone its driver gave the port). */
};

struct port_info {
    char *name;                 /* Interface name: the key everywhere. */
    char *iface_id;             /* external_ids:iface-id, or NULL. */
    char *bridge;               /* Bridge name, or NULL if unknown. */
    int64_t ofport;             /* -1 when unassigned. */
    struct ctf_prefix_list ips; /* Host prefixes (/32, /128) of the VM. */
    enum port_ip_source ip_source;
    bool has_zone;
    uint16_t zone;
    enum port_zone_source zone_source;
    enum flush_datapath datapath;   /* Its bridge's table (datapath_type);
                                     * the kernel's when unknown. */
};

void port_info_init(struct port_info *);
void port_info_destroy(struct port_info *);     /* Accepts NULL. */
int port_info_copy(struct port_info *dst, const struct port_info *src);  /* 0/ENOMEM */
/* Same IP set (order ignored), same zone and same datapath. */
bool port_info_same_flush_target(const struct port_info *, const struct port_info *);
/* The key that says "the same VM" for re-plug detection: iface-id if set,
 * else the name. */
const char *port_info_vm_key(const struct port_info *);

const char *port_ip_source_name(enum port_ip_source);       /* "interface", ... */
const char *port_zone_source_name(enum port_zone_source);   /* "ovn", ... */
int port_ip_source_parse(const char *, enum port_ip_source *);     /* 0/EINVAL */
int port_zone_source_parse(const char *, enum port_zone_source *); /* 0/EINVAL */

void wbuf_put_port_info(struct wbuf *, const struct port_info *);
/* Fills an initialised port_info; a missing name is an error. */
void rbuf_get_port_info(struct rbuf *, struct port_info *);

#endif
