/*
 * porttab.h: the parent's table of VM ports (name -> port_info), what it last
 * saw in OVSDB merged with IPs set through the control API.
 *
 * Effective IPs: an operator's set-ips list wins over OVSDB's when both
 * exist (it is the explicit word of the platform that owns the VM); with
 * neither, the port has no IPs and its removal flushes nothing.
 *
 * Only ports that were seen in OVSDB can be "removed": a set-ips for a port
 * that OVSDB has not shown yet waits for it and is never flushed by a
 * resync.
 *
 * Owns: its entries and their port_info copies.
 */
#ifndef CTF_PORTTAB_H
#define CTF_PORTTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portinfo.h"

struct porttab_entry {
    struct port_info ovsdb;     /* As OVSDB last showed it (name always set). */
    struct ctf_prefix_list control_ips; /* From set-ips; used when has_control_ips. */
    bool has_control_ips;
    bool has_control_zone;      /* set-ips gave a zone: it wins over OVSDB's. */
    uint16_t control_zone;
    bool migrating;             /* set-ips: a VM arriving by live migration, its
                                 * connections alive: no flush-on-add. */
    bool in_ovsdb;              /* Seen in OVSDB (now or, from the state file, before). */
    bool appeared_live;         /* First seen in a live update, not in a snapshot
                                 * or the state file. */
    bool seen_in_sync;          /* Marked during a resync snapshot. */
    struct port_info effective; /* What a flush uses: ovsdb with control IPs applied. */
    struct porttab_entry *next; /* Hash chain. */
};

struct porttab {
    struct porttab_entry **buckets;
    size_t n_buckets;           /* Power of two. */
    size_t count;
    bool in_sync;               /* Between sync_begin and sync_end. */
};

/* What an update changed, for the caller to turn into jobs. */
struct porttab_change {
    bool is_new;                /* The port was not in OVSDB before. */
    bool target_changed;        /* Effective IPs or zone changed. */
    struct port_info old;       /* Old effective info (valid if !is_new). */
};

void porttab_init(struct porttab *);
void porttab_destroy(struct porttab *);

const struct porttab_entry *porttab_find(const struct porttab *, const char *name);
size_t porttab_count(const struct porttab *);

/* OVSDB shows the port (new or changed). *change is filled (destroy its
 * 'old' with port_info_destroy). During a sync the entry is marked seen.
 * Returns 0 or ENOMEM. */
int porttab_update(struct porttab *, const struct port_info *, struct porttab_change *);

/* OVSDB no longer has the port: the entry is removed and its last effective
 * info moved into *old. Returns 0, or ENOENT if it was not in OVSDB (a
 * control-only entry stays). */
int porttab_remove(struct porttab *, const char *name, struct port_info *old);

/* What set-ips says of a port: it replaces what an earlier one said. */
struct porttab_control {
    const struct ctf_prefix_list *ips;  /* NULL or empty: no override. */
    bool has_zone;              /* A zone override. */
    uint16_t zone;
    bool migrating;
};

/* Operator IPs and zone (set-ips). Creates a control-only entry when the
 * port is unknown (dropped again when a later call overrides nothing).
 * *change says whether the effective target changed. Returns 0 or ENOMEM. */
int porttab_set_control(struct porttab *, const char *name, const struct porttab_control *,
                        struct porttab_change *);

/* Resync: begin clears every seen mark; updates during the sync set them;
 * end removes every in_ovsdb entry not seen and hands each one's effective
 * info to gone_fn (the callee takes ownership of *gone). */
void porttab_sync_begin(struct porttab *);
typedef void porttab_gone_fn(struct port_info *gone, void *aux);
void porttab_sync_end(struct porttab *, porttab_gone_fn *, void *aux);
/* The snapshot will never end (its watcher died): nothing is removed, and
 * updates are live again until the next sync_begin. */
void porttab_sync_abort(struct porttab *);

/* Restores an entry from the state file as it was: in_ovsdb, OVSDB info and
 * what set-ips said (c may be NULL: nothing). Returns 0, EEXIST or ENOMEM. */
int porttab_restore(struct porttab *, const struct port_info *ovsdb, bool in_ovsdb,
                    const struct porttab_control *);

/* Who else holds an address. A port holds its effective IPs in its zone,
 * or in every zone when it has none; a flush in no zone covers every zone.
 * Calls fn (when given) for every entry but the one named except (NULL:
 * none) that holds an address overlapping p in a zone that overlaps the
 * flush's (has_zone, zone), and returns how many there are; fn returning
 * false stops the walk there. One linear pass: a host has thousands of
 * ports at most, and this runs once per address when a window closes. */
typedef bool porttab_holder_fn(const struct porttab_entry *, void *aux);
size_t porttab_holders(const struct porttab *, const struct ctf_prefix *p, bool has_zone,
                       uint16_t zone, const char *except, porttab_holder_fn *fn, void *aux);

/* Every entry, sorted by name, as a malloc'd array of pointers (free() it);
 * NULL with *n = 0 when empty or out of memory. */
const struct porttab_entry **porttab_sorted(const struct porttab *, size_t *n);

#endif
