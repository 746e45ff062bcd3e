/*
 * watcher.h: the OVSDB watcher, a child of the parent and the only code that
 * uses libopenvswitch. It keeps an IDL replica of the Interface, Port and
 * Bridge tables, turns rows into port_info (extids.h rules), and posts what
 * changed to the parent over a socketpair (wire.h WIRE_W_* messages):
 *  - after every (re)connect, once the replica is loaded: SYNC_BEGIN, one
 *    PORT per port with IPs or a zone... (every Interface with a name), SYNC_END;
 *  - then, from change tracking: PORT for a new or changed port, PORT_GONE
 *    for a deleted Interface (with its last external_ids);
 *  - STATUS on every connection change and every heartbeat_ms.
 * OVS's poll loop cannot share libevent's, which is why this is a process of
 * its own: if it dies, the parent restarts it and the new one resyncs.
 *
 * Owns: the IDL, its connection, and the channel's child end.
 */
#ifndef CTF_WATCHER_H
#define CTF_WATCHER_H

#include <stdbool.h>
#include <stddef.h>

/* How a port's IPs and zone are read from external_ids (the parent's
 * settings; the watcher applies them with src/watcher/extids.h). */
struct extids_rules {
    const char *const *iface_ip_keys;   /* Searched in order on the Interface. */
    size_t n_iface_ip_keys;             /* Default: "ip". */
    const char *const *port_ip_keys;    /* Then on the Port. Default: "ip-address". */
    size_t n_port_ip_keys;
    const char *zone_key;               /* external_ids key holding a zone number,
                                         * on the Interface then the Port; NULL: none. */
    bool zone_from_vlan_tag;            /* Use the Port's tag as the zone. */
};

struct watcher_config {
    const char *remote;             /* e.g. "unix:/run/openvswitch/db.sock". */
    struct extids_rules rules;
    unsigned int heartbeat_ms;      /* STATUS at least this often. */
};

/* Runs in the forked child: watches OVSDB and writes to fd until the parent
 * closes its end (then exits 0). Never returns. */
void watcher_main(int fd, const struct watcher_config *) __attribute__((noreturn));

#endif
