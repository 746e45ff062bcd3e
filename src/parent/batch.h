/*
 * batch.h: the batch window between "a port changed in OVSDB" and "a job is
 * queued". Port removals (and port additions that want a stale flush) that
 * arrive within one window are coalesced into one job per (kind, datapath,
 * zone): m
 * deleted VMs become one job, not m. A port that comes back inside the window
 * as the same VM (same iface-id, same IPs and zone) cancels its pending
 * removal: agent restarts and interface re-plugs must not kill live sessions.
 *
 * The window opens at the first event and closes window_ms later; then all
 * pending events are taken. Times are passed in (monotonic ms), so the module
 * is pure and tested without clocks.
 *
 * Owns: its pending events and their port_info copies.
 */
#ifndef CTF_BATCH_H
#define CTF_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "portinfo.h"

enum batch_kind {
    BATCH_REMOVE,               /* The port left: flush its IPs x any. */
    BATCH_ADD,                  /* A new port (or new IPs): flush stale entries. */
};

struct batch_event {
    enum batch_kind kind;
    struct port_info port;      /* IPs to flush, zone, names. */
};

struct batch {
    unsigned int window_ms;
    uint64_t deadline_ms;       /* When the open window closes; 0: none open. */
    struct batch_event *events;
    size_t n_events;
    size_t cap_events;
    uint64_t replugs_cancelled; /* Removals cancelled by a re-plug, ever. */
};

/* One coalesced job: every event of one kind, datapath and zone of a
 * closed window. */
struct batch_group {
    enum batch_kind kind;
    struct flush_job job;       /* local = union of the ports' IPs, peers = any,
                                 * zone and datapath as the ports'. */
    char **ports;               /* Names of the ports it covers. */
    size_t n_ports;
};

void batch_init(struct batch *, unsigned int window_ms);
void batch_destroy(struct batch *);

/* Adds an event at now_ms (opens a window if none is open). A port with no
 * IPs is ignored (nothing to flush). A BATCH_ADD for a port whose same VM
 * (port_info_vm_key) has a pending BATCH_REMOVE in the same zone is a
 * re-plug for the IPs both have: they leave the removal (a removal left
 * empty is dropped) and the add (*replug set); what is left of the add is
 * added. A second event for the same port name, kind and zone adds its IPs
 * to the first. Returns 0 or ENOMEM. */
int batch_add(struct batch *, enum batch_kind, const struct port_info *, uint64_t now_ms,
              bool *replug);

/* A port is back: the IPs that the same VM (port_info_vm_key) had pending
 * for removal in the same zone leave the removal (a re-plug; a removal left
 * empty is dropped). Returns true if any did. Used on its own when
 * flush-on-add is off or the port was seen in a snapshot. */
bool batch_cancel_removal(struct batch *, const struct port_info *);

/* Decides for each address of each pending event whether it stays: keep
 * sees the batch as it is before anything is dropped (one event's verdict
 * may depend on another event). Addresses it refuses are dropped, and so
 * are events left without any; the window keeps its deadline. Returns 0 or
 * ENOMEM (then nothing changed). */
typedef bool batch_keep_fn(const struct batch *, const struct batch_event *,
                           const struct ctf_prefix *, void *aux);
int batch_filter(struct batch *, batch_keep_fn *, void *aux);

/* When the open window closes, or 0 when nothing is pending. */
uint64_t batch_deadline(const struct batch *);
size_t batch_pending(const struct batch *);

/* If the window has closed at now_ms (or force), takes every pending event,
 * grouped by (kind, zone) in a stable order (removals first, then by zone):
 * *groups is a malloc'd array of *n groups (free with batch_groups_free).
 * Returns 0 (with *n = 0 when the window is still open) or ENOMEM (then the
 * events stay pending). */
int batch_take(struct batch *, uint64_t now_ms, bool force,
               struct batch_group **groups, size_t *n);
void batch_groups_free(struct batch_group *, size_t n);

#endif
