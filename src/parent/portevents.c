/*
 * portevents.c: port events -> port table -> batch window -> jobs (see
 * portevents.h).
 */
#include "portevents.h"

#include <errno.h>
#include <stdio.h>
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
    bool same_zone = a->has_zone == b->has_zone && (!a->has_zone || a->zone == b->zone);
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

/* A present port's flush target moved from old to new. */
static void
portevents_target_changed(struct portevents *pe, const struct port_info *old,
                          const struct port_info *new_, bool live, uint64_t now_ms)
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
    if (live && pe->flush_on_add && !portevents_ips_lost(new_, old, &gained)) {
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
         * or in a snapshot after a reconnect alike. */
        if (e && batch_cancel_removal(pe->batch, &e->effective)) {
            log_info("port %s: back as the same VM within the batch window: "
                     "its removal is cancelled", pi->name);
        } else if (e && live && pe->flush_on_add && e->effective.ips.n) {
            portevents_batch_add(pe, BATCH_ADD, &e->effective, now_ms);
        }
    } else if (ch.target_changed && e) {
        portevents_target_changed(pe, &ch.old, &e->effective, live, now_ms);
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
portevents_set_ips(struct portevents *pe, const char *name, const struct ctf_prefix_list *ips,
                   uint64_t now_ms)
{
    struct porttab_change ch;

    memset(&ch, 0, sizeof ch);
    int err = porttab_set_control_ips(pe->ports, name, ips, &ch);
    if (err) {
        return err;
    }
    const struct porttab_entry *e = porttab_find(pe->ports, name);
    if (e && e->in_ovsdb && !ch.is_new && ch.target_changed) {
        portevents_target_changed(pe, &ch.old, &e->effective, true, now_ms);
    }
    port_info_destroy(&ch.old);
    portevents_state_changed(pe);
    return 0;
}

void
portevents_batch_run(struct portevents *pe, uint64_t now_ms, double now_wall, bool force)
{
    struct batch_group *groups = NULL;
    size_t n = 0;

    if (batch_take(pe->batch, now_ms, force, &groups, &n)) {
        log_warnx("batch: out of memory; retrying");
        portevents_arm(pe);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct batch_group *g = &groups[i];
        enum job_origin origin = g->kind == BATCH_REMOVE ? JOB_ORIGIN_PORT_REMOVE
                                                          : JOB_ORIGIN_PORT_ADD;
        uint64_t id = 0;
        bool merged = false;
        char err[160] = "";
        int rc = jobq_add(pe->queue, origin, &g->job, (const char *const *) g->ports,
                          g->n_ports, now_wall, &id, &merged, err, sizeof err);
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
    batch_groups_free(groups, n);
    if (n) {
        portevents_state_changed(pe);
        pe->ops->queued(pe->aux);
    }
    portevents_arm(pe);
}
