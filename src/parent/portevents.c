/*
 * portevents.c: port events -> port table -> batch window -> jobs (see
 * portevents.h).
 */
#include "portevents.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Shared by every portevents of the process: a log line per port event in a
 * flood of them would drown the log, whichever table it came from. */
static struct log_ratelimit portevents_rl = LOG_RATELIMIT_INIT(10);

void
portevents_init(struct portevents *pe, struct porttab *ports, struct batch *batch,
                struct jobq *queue, const struct portevents_ops *ops, void *aux)
{
    memset(pe, 0, sizeof *pe);
    pe->ports = ports;
    pe->batch = batch;
    pe->queue = queue;
    pe->flush_on_add = true;
    pe->ops = ops;
    pe->aux = aux;
}

static void
portevents_state_changed(struct portevents *pe)
{
    pe->ops->state_changed(pe->aux);
}

static void
portevents_arm(struct portevents *pe)
{
    uint64_t deadline = batch_deadline(pe->batch);

    if (deadline) {
        pe->ops->batch_deadline(pe->aux, deadline);
    }
}

/* Queues a batch event, counting re-plugs. */
static void
portevents_batch_add(struct portevents *pe, enum batch_kind kind, const struct port_info *pi,
                     uint64_t now_ms)
{
    bool replug = false;

    if (!pi->ips.n) {
        return;
    }
    if (batch_add(pe->batch, kind, pi, now_ms, &replug)) {
        /* Out of memory: the port table already forgot the port, so this
         * removal would be lost; keeping the daemon alive matters less
         * than saying so loudly. */
        log_warnx("port %s: cannot queue its flush: out of memory", pi->name);
        return;
    }
    if (replug) {
        log_info("port %s: re-plugged as the same VM within the batch window: "
                 "its flush is cancelled", pi->name);
    }
    portevents_arm(pe);
}

/* The part of a's IPs that b lacks (all of them when the zones differ),
 * as a port_info named like a. */
static int
portevents_ips_lost(const struct port_info *a, const struct port_info *b, struct port_info *out)
{
    port_info_init(out);
    if (port_info_copy(out, a)) {
        return ENOMEM;
    }
    /* A port whose bridge changed datapath left one table for another. */
    bool same_zone = a->datapath == b->datapath && a->has_zone == b->has_zone
                     && (!a->has_zone || a->zone == b->zone);
    if (same_zone) {
        ctf_prefix_list_clear(&out->ips);
        for (size_t i = 0; i < a->ips.n; i++) {
            bool kept = false;
            for (size_t j = 0; j < b->ips.n && !kept; j++) {
                kept = !ctf_prefix_cmp(&a->ips.items[i], &b->ips.items[j]);
            }
            if (!kept && ctf_prefix_list_add(&out->ips, &a->ips.items[i])) {
                port_info_destroy(out);
                return ENOMEM;
            }
        }
    }
    return 0;
}

/* Whether what entry e gains now is flushed as a previous owner's: with
 * flush-on-add, in a live update, and not for a VM arriving by live
 * migration (its connections come with it). */
static bool
portevents_flush_gains(const struct portevents *pe, const struct porttab_entry *e, bool live)
{
    return live && pe->flush_on_add && !(e && e->migrating);
}

/* A present port's flush target moved from old to new. */
static void
portevents_target_changed(struct portevents *pe, const struct port_info *old,
                          const struct port_info *new_, bool flush_gained, uint64_t now_ms)
{
    struct port_info lost, gained;

    if (!portevents_ips_lost(old, new_, &lost)) {
        if (lost.ips.n) {
            log_info("port %s: lost %zu IP(s) or changed zone: flushing them", old->name,
                     lost.ips.n);
            portevents_batch_add(pe, BATCH_REMOVE, &lost, now_ms);
        }
        port_info_destroy(&lost);
    }
    if (flush_gained && !portevents_ips_lost(new_, old, &gained)) {
        portevents_batch_add(pe, BATCH_ADD, &gained, now_ms);
        port_info_destroy(&gained);
    }
}

void
portevents_present(struct portevents *pe, const struct port_info *pi, uint64_t now_ms)
{
    struct porttab_change ch;
    bool live = !pe->ports->in_sync;

    memset(&ch, 0, sizeof ch);
    if (porttab_update(pe->ports, pi, &ch)) {
        log_warnx("port %s: out of memory updating the port table", pi->name);
        return;
    }
    const struct porttab_entry *e = porttab_find(pe->ports, pi->name);
    if (ch.is_new) {
        if (live) {
            pe->counters.port_adds++;
        }
        /* A pending removal of this same VM is a re-plug, in a live update
         * or in a snapshot after a reconnect alike; a live add flushes what
         * the re-plug does not take back. */
        if (e && portevents_flush_gains(pe, e, live) && e->effective.ips.n) {
            portevents_batch_add(pe, BATCH_ADD, &e->effective, now_ms);
        } else if (e && batch_cancel_removal(pe->batch, &e->effective)) {
            log_info("port %s: back as the same VM within the batch window: "
                     "its removal is cancelled", pi->name);
        }
    } else if (ch.target_changed && e) {
        portevents_target_changed(pe, &ch.old, &e->effective, portevents_flush_gains(pe, e, live),
                                  now_ms);
    }
    port_info_destroy(&ch.old);
    portevents_state_changed(pe);
}

static void
portevents_removed(struct portevents *pe, struct port_info *old, uint64_t now_ms)
{
    pe->counters.port_removals++;
    if (old->ips.n) {
        log_info("port %s (%s): removed, flushing %zu IP(s)%s", old->name,
                 old->iface_id ? old->iface_id : "no iface-id", old->ips.n,
                 old->has_zone ? " in its zone" : "");
    } else if (log_ratelimit_ok(&portevents_rl)) {
        log_info("port %s: removed; no IPs known, nothing to flush", old->name);
    }
    portevents_batch_add(pe, BATCH_REMOVE, old, now_ms);
}

void
portevents_gone(struct portevents *pe, const struct port_info *pi, uint64_t now_ms)
{
    struct port_info old;

    port_info_init(&old);
    if (!porttab_remove(pe->ports, pi->name, &old)) {
        portevents_removed(pe, &old, now_ms);
        portevents_state_changed(pe);
    }
    port_info_destroy(&old);
}

void
portevents_sync_begin(struct portevents *pe)
{
    porttab_sync_begin(pe->ports);
}

struct portevents_sync_gone {
    struct portevents *pe;
    uint64_t now_ms;
};

static void
portevents_sync_gone_cb(struct port_info *gone, void *aux)
{
    struct portevents_sync_gone *g = aux;

    portevents_removed(g->pe, gone, g->now_ms);
    port_info_destroy(gone);
}

void
portevents_sync_end(struct portevents *pe, uint64_t now_ms)
{
    struct portevents_sync_gone g = { pe, now_ms };

    porttab_sync_end(pe->ports, portevents_sync_gone_cb, &g);
    portevents_state_changed(pe);
}

int
portevents_set_ips(struct portevents *pe, const char *name, const struct porttab_control *c,
                   uint64_t now_ms)
{
    struct porttab_change ch;
    const struct porttab_entry *e = porttab_find(pe->ports, name);
    bool knew = e && e->has_control_ips;

    memset(&ch, 0, sizeof ch);
    int err = porttab_set_control(pe->ports, name, c, &ch);
    if (err) {
        return err;
    }
    e = porttab_find(pe->ports, name);
    if (e && e->in_ovsdb && !ch.is_new && ch.target_changed) {
        /* IPs that set-ips gives a port are news, to be flushed as a previous
         * owner's, when the port appeared in a live update or its IPs were
         * known already. A port first seen in a snapshot, whose first set-ips
         * comes after it (a first start, a lost state file), may be carrying
         * traffic: as for the snapshot, nothing it gains is flushed. */
        portevents_target_changed(pe, &ch.old, &e->effective,
                                  portevents_flush_gains(pe, e, e->appeared_live || knew),
                                  now_ms);
    }
    port_info_destroy(&ch.old);
    portevents_state_changed(pe);
    return 0;
}

/* ---- Shared addresses. ---- */

/* What one closing window held back, per event. */
struct portevents_held_item {
    enum batch_kind kind;
    bool has_zone;              /* The event's zone: the group it would join. */
    uint16_t zone;
    char port[JOBQ_HELD_PORT_LEN];  /* The event's port. */
    struct job_held held;
};

struct portevents_hold {
    struct portevents *pe;
    struct portevents_held_item *items;
    size_t n, cap;
    bool oom;
};

static bool
portevents_first_holder(const struct porttab_entry *e, void *aux)
{
    snprintf(aux, JOBQ_HELD_PORT_LEN, "%s", e->effective.name);
    return false;               /* One name is enough to say why. */
}

/* An address removed from another port in the same window and zone. */
static const char *
portevents_removed_elsewhere(const struct batch *b, const struct batch_event *ev,
                             const struct ctf_prefix *p)
{
    for (size_t i = 0; i < b->n_events; i++) {
        const struct port_info *r = &b->events[i].port;
        if (b->events[i].kind != BATCH_REMOVE || !strcmp(r->name, ev->port.name)
            || (ev->port.has_zone && r->has_zone && ev->port.zone != r->zone)) {
            continue;
        }
        for (size_t k = 0; k < r->ips.n; k++) {
            if (ctf_prefix_overlaps(&r->ips.items[k], p)) {
                return r->name;
            }
        }
    }
    return NULL;
}

static bool
portevents_keep(const struct batch *b, const struct batch_event *ev, const struct ctf_prefix *p,
                void *aux)
{
    struct portevents_hold *h = aux;
    const struct port_info *pi = &ev->port;
    char holder[JOBQ_HELD_PORT_LEN] = "";
    enum job_held_reason reason = JOB_HELD_LIVE_PORT;
    const char *from;

    if (porttab_holders(h->pe->ports, p, pi->has_zone, pi->zone, pi->name,
                        portevents_first_holder, holder)) {
        reason = JOB_HELD_LIVE_PORT;
    } else if (ev->kind == BATCH_ADD && (from = portevents_removed_elsewhere(b, ev, p))) {
        reason = JOB_HELD_MOVED;
        snprintf(holder, sizeof holder, "%s", from);
    } else {
        return true;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        struct portevents_held_item *items = realloc(h->items, cap * sizeof *items);
        if (!items) {
            h->oom = true;      /* Still held: only the record is lost. */
            return false;
        }
        h->items = items;
        h->cap = cap;
    }
    struct portevents_held_item *it = &h->items[h->n++];
    memset(it, 0, sizeof *it);
    it->kind = ev->kind;
    it->has_zone = pi->has_zone;
    it->zone = pi->has_zone ? pi->zone : 0;
    snprintf(it->port, sizeof it->port, "%s", pi->name);
    it->held.addr = *p;
    it->held.has_zone = pi->has_zone;
    it->held.zone = it->zone;
    it->held.reason = reason;
    snprintf(it->held.port, sizeof it->held.port, "%s", holder);
    return false;
}

static void
portevents_log_held(const struct portevents_held_item *it)
{
    char a[CTF_PREFIX_STRLEN], zone[16] = "every zone";

    if (it->has_zone) {
        snprintf(zone, sizeof zone, "zone %u", it->zone);
    }
    if (it->held.reason == JOB_HELD_LIVE_PORT) {
        log_info("port %s: %s is not flushed in %s: live port %s holds it", it->port,
                 ctf_prefix_format(&it->held.addr, a), zone, it->held.port);
    } else {
        log_info("port %s: %s is not flushed in %s: it moved here from port %s in the same "
                 "batch window", it->port, ctf_prefix_format(&it->held.addr, a), zone,
                 it->held.port);
    }
}

static bool
portevents_item_in_group(const struct portevents_held_item *it, const struct batch_group *g)
{
    return it->kind == g->kind && it->has_zone == g->job.has_zone
           && (!it->has_zone || it->zone == g->job.zone);
}

/* Puts what was held back on the jobs of its group, or, for a group that
 * lost every address, on a "held" history entry of its own. */
static void
portevents_record_held(struct portevents *pe, struct portevents_hold *h,
                       const struct batch_group *groups, const uint64_t *ids, size_t n,
                       double now_wall)
{
    bool *done = calloc(h->n ? h->n : 1, sizeof *done);

    if (!done) {
        return;
    }
    for (size_t i = 0; i < h->n; i++) {
        portevents_log_held(&h->items[i]);
        for (size_t g = 0; g < n && !done[i]; g++) {
            if (ids[g] && portevents_item_in_group(&h->items[i], &groups[g])) {
                (void) jobq_note_held(pe->queue, ids[g], &h->items[i].held, 1);
                done[i] = true;
            }
        }
    }
    /* The rest, one history entry per (kind, zone). */
    for (size_t i = 0; i < h->n; i++) {
        if (done[i]) {
            continue;
        }
        const struct portevents_held_item *first = &h->items[i];
        struct job_held *held = calloc(h->n - i, sizeof *held);
        const char **ports = calloc(h->n - i, sizeof *ports);
        size_t nh = 0, np = 0;
        for (size_t k = i; held && ports && k < h->n; k++) {
            const struct portevents_held_item *it = &h->items[k];
            if (done[k] || it->kind != first->kind || it->has_zone != first->has_zone
                || it->zone != first->zone) {
                continue;
            }
            held[nh++] = it->held;
            bool dup = false;
            for (size_t q = 0; q < np && !dup; q++) {
                dup = !strcmp(ports[q], it->port);
            }
            if (!dup) {
                ports[np++] = it->port;
            }
            done[k] = true;
        }
        uint64_t id = 0;
        enum job_origin origin = first->kind == BATCH_REMOVE ? JOB_ORIGIN_PORT_REMOVE
                                                            : JOB_ORIGIN_PORT_ADD;
        if (held && ports && !jobq_record_held(pe->queue, origin, first->has_zone, first->zone,
                                               ports, np, held, nh, now_wall, &id)) {
            log_info("job %llu: %s of %zu port(s): every address is held, nothing to flush",
                     (unsigned long long) id, job_origin_name(origin), np);
        }
        done[i] = true;
        free(held);
        free(ports);
    }
    free(done);
}

void
portevents_batch_run(struct portevents *pe, uint64_t now_ms, double now_wall, bool force)
{
    struct batch_group *groups = NULL;
    struct portevents_hold hold = { .pe = pe };
    size_t n = 0;

    uint64_t deadline = batch_deadline(pe->batch);
    if (deadline && (force || now_ms >= deadline)) {
        /* The window closes: what live ports hold stays. */
        if (batch_filter(pe->batch, portevents_keep, &hold)) {
            log_warnx("batch: out of memory; retrying");
            free(hold.items);
            portevents_arm(pe);
            return;
        }
        if (hold.oom) {
            log_warnx("batch: out of memory: some held-back addresses are not recorded");
        }
        pe->counters.held_back += hold.n;
    }
    if (batch_take(pe->batch, now_ms, force, &groups, &n)) {
        log_warnx("batch: out of memory; retrying");
        portevents_arm(pe);
        return;
    }
    uint64_t *ids = calloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        struct batch_group *g = &groups[i];
        enum job_origin origin = g->kind == BATCH_REMOVE ? JOB_ORIGIN_PORT_REMOVE
                                                          : JOB_ORIGIN_PORT_ADD;
        uint64_t id = 0;
        bool merged = false;
        char err[160] = "";
        int rc = jobq_add(pe->queue, origin, &g->job, (const char *const *) g->ports,
                          g->n_ports, now_wall, &id, &merged, err, sizeof err);
        if (ids) {
            ids[i] = rc ? 0 : id;
        }
        if (rc) {
            log_warnx("batch: %zu port(s): cannot queue their flush: %s", g->n_ports,
                      err[0] ? err : strerror(rc));
            continue;
        }
        char zone[16] = "all zones";
        if (g->job.has_zone) {
            snprintf(zone, sizeof zone, "zone %u", g->job.zone);
        }
        log_info("job %llu: %s of %zu port(s), %zu IP(s), %s%s",
                 (unsigned long long) id, job_origin_name(origin), g->n_ports,
                 g->job.local.n, zone, merged ? " (merged into a queued job)" : "");
    }
    if (hold.n && ids) {
        portevents_record_held(pe, &hold, groups, ids, n, now_wall);
    }
    free(ids);
    free(hold.items);
    batch_groups_free(groups, n);
    if (n) {
        portevents_state_changed(pe);
        pe->ops->queued(pe->aux);
    }
    portevents_arm(pe);
}
