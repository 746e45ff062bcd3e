/*
 * portevents.h: what the parent does when a port changes. The watcher's
 * PORT, PORT_GONE and snapshots (watchlink.c decodes them) and the control
 * API's set-ips (ctlcmd.c) update the port table; what changed becomes batch
 * events; closed batch windows become queued jobs. docs/architecture.md,
 * "What is flushed when", is the rule this module carries out:
 *  - a port leaves OVSDB (live PORT_GONE, or missing from a resync
 *    snapshot): its IPs x any, in its zone;
 *  - a live port loses IPs or changes zone: the IPs it lost, as a removal;
 *  - a port appears, or gains IPs, in a live update (not in a snapshot):
 *    with flush-on-add, its new IPs x any, to clear what a previous owner
 *    of the IP left. Ports first seen in a snapshot may already be carrying
 *    traffic (they were added while we were not watching), so they are
 *    never flushed: killing a live VM's sessions is the worse mistake;
 *  - a port that comes back as the same VM inside the batch window cancels
 *    its pending removal (re-plug, agent restart);
 *  - none of these covers an address in a zone where another live port
 *    holds it (a VIP, an allowed-address pair): a port holds its IPs in its
 *    zone, or in every zone when it has none. An address removed from one
 *    port and added to another in the same window (a VIP moving) is not
 *    flushed either. What is held back is recorded on the job (or on a
 *    "held" entry in the history when nothing is left to flush). Decided
 *    when the window closes, against the port table as it is then.
 *
 * No I/O and no clocks: times are passed in, and what it needs of the
 * daemon (a state save, a dispatch, the batch timer) are callbacks, so the
 * whole path from a port event to a queued job is tested without root.
 *
 * Owns: its counters; it works on the port table, batch and queue it is
 * given, which the daemon owns.
 */
#ifndef CTF_PORTEVENTS_H
#define CTF_PORTEVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "batch.h"
#include "jobq.h"
#include "porttab.h"

struct portevents_ops {
    void (*state_changed)(void *aux);   /* The port table or the queue changed. */
    void (*queued)(void *aux);          /* Jobs were queued: dispatch. */
    /* The batch window closes at deadline_ms (monotonic): call
     * portevents_batch_run then. */
    void (*batch_deadline)(void *aux, uint64_t deadline_ms);
};

struct portevents_counters {
    uint64_t port_removals;     /* Ports that left OVSDB. */
    uint64_t port_adds;         /* Ports that appeared in a live update. */
    uint64_t held_back;         /* Addresses a port-driven flush left out. */
};

struct portevents {
    struct porttab *ports;
    struct batch *batch;
    struct jobq *queue;
    bool flush_on_add;          /* The flush-on-add setting. */
    struct portevents_counters counters;
    const struct portevents_ops *ops;
    void *aux;
};

void portevents_init(struct portevents *, struct porttab *, struct batch *, struct jobq *,
                     const struct portevents_ops *, void *aux);

/* The watcher's messages. A port seen between sync_begin and sync_end is
 * part of a snapshot (not a live update). */
void portevents_present(struct portevents *, const struct port_info *, uint64_t now_ms);
void portevents_gone(struct portevents *, const struct port_info *, uint64_t now_ms);
void portevents_sync_begin(struct portevents *);
void portevents_sync_end(struct portevents *, uint64_t now_ms);

/* set-ips from the control API: its IPs and zone override OVSDB's for the
 * port (none given: no override), and a migrating port's gains are not
 * flushed-on-add (the VM arrives with its connections alive; its removal
 * still flushes). What a port first seen in a snapshot gains from its first
 * set-ips is not flushed either. Returns 0 or ENOMEM. */
int portevents_set_ips(struct portevents *, const char *name, const struct porttab_control *,
                       uint64_t now_ms);

/* Turns the closed batch window (every pending event when force) into
 * queued jobs, and asks for the next deadline. */
void portevents_batch_run(struct portevents *, uint64_t now_ms, double now_wall, bool force);

#endif
