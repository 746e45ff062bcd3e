/*
 * test_portevents.c: unit tests for portevents.c, the parent's path from a
 * port event (the watcher's PORT, PORT_GONE and snapshots, set-ips) through
 * the port table and the batch window to queued jobs. Real port table,
 * batch and queue; the daemon's callbacks are recorded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "jobq.h"
#include "log.h"
#include "portevents.h"
#include "porttab.h"
#include "unit_helpers.h"

#define WINDOW_MS 200

/* The daemon, as portevents sees it. */
struct fake_daemon {
    unsigned int state_changed;
    unsigned int queued;
    uint64_t deadline;          /* Last batch deadline asked for. */
    unsigned int deadlines;
};

struct world {
    struct porttab ports;
    struct batch batch;
    struct jobq queue;
    struct portevents pe;
    struct fake_daemon d;
    uint64_t now;               /* Monotonic ms. */
};

static void
fake_state_changed(void *aux)
{
    ((struct fake_daemon *) aux)->state_changed++;
}

static void
fake_queued(void *aux)
{
    ((struct fake_daemon *) aux)->queued++;
}

static void
fake_deadline(void *aux, uint64_t deadline)
{
    struct fake_daemon *d = aux;

    d->deadline = deadline;
    d->deadlines++;
}

static const struct portevents_ops fake_ops = {
    .state_changed = fake_state_changed,
    .queued = fake_queued,
    .batch_deadline = fake_deadline,
};

static int
setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    struct jobq_limits l;

    if (!w) {
        return -1;
    }
    porttab_init(&w->ports);
    batch_init(&w->batch, WINDOW_MS);
    jobq_limits_default(&l);
    jobq_init(&w->queue, &l);
    portevents_init(&w->pe, &w->ports, &w->batch, &w->queue, &fake_ops, &w->d);
    w->now = 1000;
    *state = w;
    return 0;
}

static int
teardown(void **state)
{
    struct world *w = *state;

    batch_destroy(&w->batch);
    jobq_destroy(&w->queue);
    porttab_destroy(&w->ports);
    free(w);
    return 0;
}

/* The watcher says the port is there (zone < 0: none). */
static void
present(struct world *w, const char *name, const char *vm, const char *ips, int zone)
{
    struct port_info pi;

    port_make(&pi, name, vm, ips, zone);
    portevents_present(&w->pe, &pi, w->now);
    port_info_destroy(&pi);
}

static void
gone(struct world *w, const char *name)
{
    struct port_info pi;

    port_make(&pi, name, NULL, "", -1);
    portevents_gone(&w->pe, &pi, w->now);
    port_info_destroy(&pi);
}

/* A snapshot that shows exactly these ports ("name vm ips zone" lines). */
static void
snapshot(struct world *w, const char *const *ports, size_t n)
{
    portevents_sync_begin(&w->pe);
    for (size_t i = 0; i < n; i++) {
        char name[32], vm[32], ips[128];
        int zone;
        assert_int_equal(sscanf(ports[i], "%31s %31s %127s %d", name, vm, ips, &zone), 4);
        present(w, name, vm, ips, zone);
    }
    portevents_sync_end(&w->pe, w->now);
}

/* Closes the window: time passes, the timer fires. */
static void
run_window(struct world *w)
{
    w->now += WINDOW_MS;
    portevents_batch_run(&w->pe, w->now, 1e9, false);
}

/* The queued jobs, oldest first. */
static size_t
n_queued(const struct world *w)
{
    return w->queue.n_queued;
}

static const struct qjob *
queued(const struct world *w, size_t i)
{
    const struct qjob *q = w->queue.queue;

    for (; q && i; q = q->next, i--) {
    }
    assert_non_null(q);
    return q;
}

/* Runs every queued job to completion, so later jobs do not merge into it. */
static void
drain_all(struct world *w)
{
    struct qjob *q;

    while ((q = jobq_peek(&w->queue, w->now))) {
        struct engine_stats st;
        uint64_t id = q->id;
        memset(&st, 0, sizeof st);
        jobq_start(&w->queue, q, 1e9);
        jobq_finish(&w->queue, id, 0, false, "", "dump", &st, w->now, 1e9);
    }
}

/* The job's local side, as text: "10.0.0.1,10.0.0.2". */
static const char *
local_text(const struct qjob *q, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < q->job.local.n; i++) {
        char p[CTF_PREFIX_STRLEN];
        used += (size_t) snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                                  ctf_prefix_format(&q->job.local.items[i], p));
    }
    return buf;
}

static void
assert_job(const struct qjob *q, enum job_origin origin, const char *local, int zone)
{
    char buf[512];

    assert_int_equal(q->origin, origin);
    assert_string_equal(local_text(q, buf, sizeof buf), local);
    assert_true(q->job.peers_any);
    assert_false(q->job.local_any);
    if (zone < 0) {
        assert_false(q->job.has_zone);
    } else {
        assert_true(q->job.has_zone);
        assert_int_equal(q->job.zone, zone);
    }
}

/* ---- Tests. ---- */

static void
test_removal_after_window(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "tap1 vm1 10.0.0.1,fd00::1 5", "tap2 vm2 10.0.0.2 5" };

    snapshot(w, snap, 2);
    assert_int_equal(porttab_count(&w->ports), 2);
    assert_int_equal(n_queued(w), 0);           /* A snapshot flushes nothing. */

    w->now += 10;
    gone(w, "tap1");
    assert_int_equal(porttab_count(&w->ports), 1);
    assert_int_equal(w->pe.counters.port_removals, 1);
    /* The window is open: nothing queued yet, the timer asked for. */
    assert_int_equal(batch_pending(&w->batch), 1);
    assert_int_equal(w->d.deadline, w->now + WINDOW_MS);
    portevents_batch_run(&w->pe, w->now + WINDOW_MS - 1, 1e9, false);
    assert_int_equal(n_queued(w), 0);

    run_window(w);
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.0.0.1,fd00::1", 5);
    assert_int_equal(queued(w, 0)->n_ports, 1);
    assert_string_equal(queued(w, 0)->ports[0], "tap1");
    assert_int_equal(w->d.queued, 1);
    assert_true(w->d.state_changed > 0);
}

static void
test_removals_coalesce_per_zone(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.0.0.1 5", "b vb 10.0.0.2 5", "c vc 10.0.0.3 6",
                           "d vd 10.0.0.4 -1", "e ve 10.0.0.5 5" };

    snapshot(w, snap, 5);
    gone(w, "a");
    gone(w, "b");
    gone(w, "c");
    gone(w, "d");
    run_window(w);
    /* One job per zone: zone 5 (a, b), zone 6 (c), no zone (d); e stays. */
    assert_int_equal(n_queued(w), 3);
    size_t seen = 0;
    for (size_t i = 0; i < 3; i++) {
        const struct qjob *q = queued(w, i);
        char buf[128];
        if (q->job.has_zone && q->job.zone == 5) {
            assert_string_equal(local_text(q, buf, sizeof buf), "10.0.0.1,10.0.0.2");
            assert_int_equal(q->n_ports, 2);
            seen |= 1;
        } else if (q->job.has_zone && q->job.zone == 6) {
            assert_string_equal(local_text(q, buf, sizeof buf), "10.0.0.3");
            seen |= 2;
        } else {
            assert_false(q->job.has_zone);
            assert_string_equal(local_text(q, buf, sizeof buf), "10.0.0.4");
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    assert_int_equal(w->pe.counters.port_removals, 4);
}

static void
test_snapshot_diff(void **state)
{
    struct world *w = *state;
    const char *first[] = { "a va 10.0.0.1 5", "b vb 10.0.0.2 5" };
    const char *second[] = { "b vb 10.0.0.2 5", "c vc 10.0.0.3 5" };

    snapshot(w, first, 2);
    /* A reconnect: a went while we were not watching, c came. */
    w->now += 5000;
    snapshot(w, second, 2);
    run_window(w);
    /* a's removal only: c was first seen in a snapshot, so it may carry
     * traffic already and is not flushed-on-add. */
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.0.0.1", 5);
    assert_non_null(porttab_find(&w->ports, "c"));
    assert_null(porttab_find(&w->ports, "a"));
    assert_int_equal(w->pe.counters.port_adds, 0);
}

static void
test_flush_on_add(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.0.0.1 5" };

    snapshot(w, snap, 1);
    present(w, "n", "vn", "10.0.0.9,fd00::9", 5);
    run_window(w);
    assert_int_equal(w->pe.counters.port_adds, 1);
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_ADD, "10.0.0.9,fd00::9", 5);

    /* Off: a new port flushes nothing. */
    w->pe.flush_on_add = false;
    present(w, "m", "vm", "10.0.0.8", 5);
    run_window(w);
    assert_int_equal(n_queued(w), 1);
    assert_int_equal(w->pe.counters.port_adds, 2);
}

static void
test_replug_cancels_removal(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.0.0.1 5" };

    snapshot(w, snap, 1);
    gone(w, "a");
    w->now += 50;
    present(w, "a", "va", "10.0.0.1", 5);     /* Back as the same VM. */
    run_window(w);
    assert_int_equal(n_queued(w), 0);
    assert_int_equal(w->batch.replugs_cancelled, 1);
    assert_non_null(porttab_find(&w->ports, "a"));

    /* Back as another VM: the removal stands, and the new VM's IPs are
     * flushed-on-add. */
    gone(w, "a");
    w->now += 50;
    present(w, "a", "other-vm", "10.0.0.1", 5);
    run_window(w);
    assert_int_equal(n_queued(w), 2);
}

static void
test_lost_ips_and_zone_change(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.0.0.1,10.0.0.2 5" };

    snapshot(w, snap, 1);
    present(w, "a", "va", "10.0.0.2", 5);     /* Lost 10.0.0.1. */
    run_window(w);
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.0.0.1", 5);

    /* A zone change: the old zone loses the IP (merged into the removal
     * still queued for that zone), the new one gets a stale flush. */
    present(w, "a", "va", "10.0.0.2", 7);
    run_window(w);
    assert_int_equal(n_queued(w), 2);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.0.0.1,10.0.0.2", 5);
    assert_job(queued(w, 1), JOB_ORIGIN_PORT_ADD, "10.0.0.2", 7);
}

/* set-ips as the control API gives it. */
static void
set_ips(struct world *w, const char *name, const char *ips, int zone, bool migrating)
{
    struct ctf_prefix_list l;
    char err[128];

    memset(&l, 0, sizeof l);
    if (*ips && ctf_prefix_list_parse(&l, ips, err, sizeof err)) {
        fail_msg("helper: %s", err);
    }
    struct porttab_control c = { .ips = &l, .has_zone = zone >= 0,
                                 .zone = zone >= 0 ? (uint16_t) zone : 0,
                                 .migrating = migrating };
    assert_int_equal(portevents_set_ips(&w->pe, name, &c, w->now), 0);
    ctf_prefix_list_destroy(&l);
}

static void
test_set_ips(void **state)
{
    struct world *w = *state;

    /* A neutron port: OVSDB has no IPs for it; it appears while we watch. */
    present(w, "tap1", "vm1", "", 5);
    set_ips(w, "tap1", "10.0.0.5,fd00::5", -1, false);
    run_window(w);
    /* The port gained IPs in a live update: stale entries of a previous
     * owner go. */
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_ADD, "10.0.0.5,fd00::5", 5);

    /* Its removal from OVSDB flushes the IPs set-ips gave it. */
    gone(w, "tap1");
    run_window(w);
    assert_int_equal(n_queued(w), 2);
    assert_job(queued(w, 1), JOB_ORIGIN_PORT_REMOVE, "10.0.0.5,fd00::5", 5);

    /* set-ips for a port OVSDB has not shown: kept, nothing flushed. */
    set_ips(w, "tap9", "10.0.0.6", -1, false);
    run_window(w);
    assert_int_equal(n_queued(w), 2);
    assert_non_null(porttab_find(&w->ports, "tap9"));
}

static void
test_set_ips_after_snapshot(void **state)
{
    struct world *w = *state;

    /* Ports that were there before we looked (a first start, a lost state
     * file): the agent's first set-ips is no news, nothing is flushed... */
    portevents_sync_begin(&w->pe);
    present(w, "tap1", "vm1", "", 5);
    portevents_sync_end(&w->pe, w->now);
    set_ips(w, "tap1", "10.0.0.5", -1, false);
    run_window(w);
    assert_int_equal(n_queued(w), 0);
    assert_int_equal(porttab_find(&w->ports, "tap1")->effective.ips.n, 1);

    /* ...but what a later one adds is. */
    set_ips(w, "tap1", "10.0.0.5,10.0.0.7", -1, false);
    run_window(w);
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_ADD, "10.0.0.7", 5);
}

static void
test_set_ips_zone(void **state)
{
    struct world *w = *state;
    /* Two tenants' VMs with the same address, told apart only by the zones
     * neutron's driver gave their ports. */
    present(w, "t1", "vm1", "", -1);
    present(w, "t2", "vm2", "", -1);
    set_ips(w, "t1", "10.0.0.5", 4097, false);
    set_ips(w, "t2", "10.0.0.5", 4098, false);
    const struct porttab_entry *e = porttab_find(&w->ports, "t1");
    assert_true(e->effective.has_zone);
    assert_int_equal(e->effective.zone, 4097);
    assert_int_equal(e->effective.zone_source, PORT_ZONE_CONTROL);
    run_window(w);
    drain_all(w);

    /* Removing one touches only its zone: the other VM does not hold the
     * address in zone 4097. */
    gone(w, "t1");
    run_window(w);
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.0.0.5", 4097);
    assert_int_equal(queued(w, 0)->n_held, 0);
}

static void
test_set_ips_migrating(void **state)
{
    struct world *w = *state;

    /* The destination of a live migration: the VM arrives with its
     * connections; its addresses are not flushed-on-add. */
    present(w, "tapm", "vm-m", "", 7);
    set_ips(w, "tapm", "10.0.0.8", -1, true);
    run_window(w);
    assert_int_equal(n_queued(w), 0);
    assert_true(porttab_find(&w->ports, "tapm")->migrating);

    /* Migration over: the same IPs, no longer migrating: still nothing. */
    set_ips(w, "tapm", "10.0.0.8", -1, false);
    run_window(w);
    assert_int_equal(n_queued(w), 0);
    assert_false(porttab_find(&w->ports, "tapm")->migrating);

    /* A port that is not migrating still loses a previous owner's entries. */
    present(w, "tapn", "vm-n", "", 7);
    set_ips(w, "tapn", "10.0.0.9", -1, false);
    run_window(w);
    assert_int_equal(n_queued(w), 1);

    /* A migrating port's removal (the source side) flushes as usual. */
    set_ips(w, "tapm", "10.0.0.8", -1, true);
    gone(w, "tapm");
    run_window(w);
    assert_int_equal(n_queued(w), 2);
    assert_job(queued(w, 1), JOB_ORIGIN_PORT_REMOVE, "10.0.0.8", 7);
}

static void
test_aborted_snapshot(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.0.0.1 5" };

    snapshot(w, snap, 1);
    /* A watcher dies halfway through its snapshot: the table must neither
     * remove what the snapshot did not get to, nor treat later updates as
     * part of a snapshot. */
    portevents_sync_begin(&w->pe);
    porttab_sync_abort(&w->ports);
    present(w, "n", "vn", "10.0.0.9", 5);
    run_window(w);
    assert_non_null(porttab_find(&w->ports, "a"));
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_ADD, "10.0.0.9", 5);
}

static void
test_force_takes_open_window(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.0.0.1 5" };

    snapshot(w, snap, 1);
    gone(w, "a");
    /* Shutting down: the open window becomes jobs now, to be saved. */
    portevents_batch_run(&w->pe, w->now, 1e9, true);
    assert_int_equal(n_queued(w), 1);
    assert_int_equal(batch_pending(&w->batch), 0);
}

/* ---- Shared addresses (VIPs, allowed-address pairs). ---- */

/* The finished "held" entry of the history, newest first, or NULL. */
static const struct qjob *
held_entry(const struct world *w)
{
    for (const struct qjob *q = w->queue.history; q; q = q->next) {
        if (q->state == JOB_HELD) {
            return q;
        }
    }
    return NULL;
}

static bool
job_held_has(const struct qjob *q, const char *addr, enum job_held_reason why,
             const char *port)
{
    struct ctf_prefix a = pfx(addr);

    for (size_t i = 0; i < q->n_held; i++) {
        if (!ctf_prefix_cmp(&q->held[i].addr, &a) && q->held[i].reason == why
            && !strcmp(q->held[i].port, port)) {
            return true;
        }
    }
    return false;
}

static void
test_shared_removal_keeps_vip(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.1.0.1,10.1.0.100 5", "b vb 10.1.0.2,10.1.0.100 5" };

    snapshot(w, snap, 2);
    gone(w, "a");
    run_window(w);
    /* a's own address goes; the VIP b still serves stays. */
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.1.0.1", 5);
    assert_int_equal(queued(w, 0)->n_held, 1);
    assert_true(job_held_has(queued(w, 0), "10.1.0.100", JOB_HELD_LIVE_PORT, "b"));
    assert_int_equal(w->pe.counters.held_back, 1);

    /* The last holder leaves: the VIP goes with it. */
    gone(w, "b");
    run_window(w);
    assert_int_equal(n_queued(w), 1);     /* Merged into the queued zone-5 removal. */
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.1.0.1,10.1.0.2,10.1.0.100", 5);
}

static void
test_shared_flush_on_add(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "b vb 10.1.0.2,10.1.0.100 5" };

    snapshot(w, snap, 1);
    /* A second VRRP member arrives: b's live VIP entries are not a previous
     * owner's. */
    present(w, "c", "vc", "10.1.0.3,10.1.0.100", 5);
    run_window(w);
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_ADD, "10.1.0.3", 5);
    assert_true(job_held_has(queued(w, 0), "10.1.0.100", JOB_HELD_LIVE_PORT, "b"));

    /* Without a holder, a new port's VIP does lose stale entries. */
    present(w, "d", "vd", "10.1.0.200", 5);
    run_window(w);
    assert_int_equal(n_queued(w), 2);
    assert_job(queued(w, 1), JOB_ORIGIN_PORT_ADD, "10.1.0.200", 5);
    assert_int_equal(queued(w, 1)->n_held, 0);
}

static void
test_shared_address_lost(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.1.0.1,10.1.0.100 5", "b vb 10.1.0.2,10.1.0.100 5" };

    snapshot(w, snap, 2);
    present(w, "a", "va", "10.1.0.1", 5);     /* a gives the VIP up; b keeps it. */
    run_window(w);
    assert_int_equal(n_queued(w), 0);
    const struct qjob *h = held_entry(w);
    assert_non_null(h);
    assert_int_equal(h->origin, JOB_ORIGIN_PORT_REMOVE);
    assert_string_equal(h->ports[0], "a");
    assert_true(job_held_has(h, "10.1.0.100", JOB_HELD_LIVE_PORT, "b"));
    assert_string_equal(job_state_name(h->state), "held");
}

static void
test_shared_zones(void **state)
{
    struct world *w = *state;
    /* Overlapping tenant networks: the same address in two zones is two
     * hosts. A zoneless port holds its address in every zone. */
    const char *snap[] = { "a va 10.0.0.5 5", "b vb 10.0.0.5 6", "c vc 10.0.0.9 5",
                           "z vz 10.0.0.9 -1" };

    snapshot(w, snap, 4);
    gone(w, "a");
    gone(w, "c");
    run_window(w);
    /* a's 10.0.0.5 in zone 5 goes (b's is zone 6's); c's 10.0.0.9 is held
     * by zoneless z. */
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.0.0.5", 5);
    assert_true(job_held_has(queued(w, 0), "10.0.0.9", JOB_HELD_LIVE_PORT, "z"));

}

static void
test_shared_zoneless_removal(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "b vb 10.0.0.6 6", "y vy 10.0.0.6 -1" };

    /* A zoneless port's removal would flush every zone, b's zone among
     * them, where b holds the address: held. */
    snapshot(w, snap, 2);
    gone(w, "y");
    run_window(w);
    const struct qjob *h = held_entry(w);
    assert_non_null(h);
    assert_false(h->job.has_zone);
    assert_true(job_held_has(h, "10.0.0.6", JOB_HELD_LIVE_PORT, "b"));
}

static void
test_shared_both_removed_once(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.1.0.1,10.1.0.100 5", "b vb 10.1.0.2,10.1.0.100 5" };

    snapshot(w, snap, 2);
    gone(w, "a");
    gone(w, "b");
    run_window(w);
    assert_int_equal(n_queued(w), 1);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.1.0.1,10.1.0.2,10.1.0.100", 5);
    assert_int_equal(queued(w, 0)->n_held, 0);
}

static void
test_shared_vip_moves(void **state)
{
    struct world *w = *state;
    const char *snap[] = { "a va 10.1.0.1,10.1.0.100 5" };

    snapshot(w, snap, 1);
    /* Within one window the VIP leaves a (a goes) and lands on c. */
    gone(w, "a");
    present(w, "c", "vc", "10.1.0.3,10.1.0.100", 5);
    run_window(w);
    assert_int_equal(n_queued(w), 2);
    assert_job(queued(w, 0), JOB_ORIGIN_PORT_REMOVE, "10.1.0.1", 5);
    assert_true(job_held_has(queued(w, 0), "10.1.0.100", JOB_HELD_LIVE_PORT, "c"));
    assert_job(queued(w, 1), JOB_ORIGIN_PORT_ADD, "10.1.0.3", 5);
    assert_true(job_held_has(queued(w, 1), "10.1.0.100", JOB_HELD_MOVED, "a"));
}

/* ---- Property: random port tables with shared addresses. ---- */

#define PROP_POOL 8             /* Addresses 10.1.0.1..8: small, so they are shared. */
#define PROP_MAX_PORTS 24

struct prop_port {
    bool live;
    char name[16];
    unsigned int ips;           /* Bit i: 10.1.0.(i+1). */
    int zone;                   /* -1: none. */
};

struct prop_event {
    enum batch_kind kind;
    int port;
    unsigned int ips;
    int zone;
};

static bool
prop_zones_meet(int a, int b)
{
    return a < 0 || b < 0 || a == b;
}

static void
prop_ips_text(unsigned int ips, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < PROP_POOL; i++) {
        if (ips & (1u << i)) {
            used += (size_t) snprintf(buf + used, len - used, "%s10.1.0.%d", used ? "," : "",
                                      i + 1);
        }
    }
}

static void
prop_present(struct world *w, const struct prop_port *pp)
{
    char ips[256];

    prop_ips_text(pp->ips, ips, sizeof ips);
    present(w, pp->name, pp->name, ips, pp->zone);
}

/* Flushes seen in the queue since the last call, as a set of (origin,
 * zone + 1, address) bits; every job is run to completion so that nothing
 * merges across windows. */
static void
prop_drain(struct world *w, bool flushed[2][8][PROP_POOL])
{
    struct qjob *q;

    memset(flushed, 0, sizeof(bool) * 2 * 8 * PROP_POOL);
    while ((q = jobq_peek(&w->queue, w->now))) {
        int o = q->origin == JOB_ORIGIN_PORT_REMOVE ? 0 : 1;
        int z = q->job.has_zone ? q->job.zone : -1;
        assert_true(z >= -1 && z < 7);
        for (size_t i = 0; i < q->job.local.n; i++) {
            char a[CTF_PREFIX_STRLEN];
            int last;
            ctf_prefix_format(&q->job.local.items[i], a);
            assert_int_equal(sscanf(a, "10.1.0.%d", &last), 1);
            assert_true(last >= 1 && last <= PROP_POOL);
            flushed[o][z + 1][last - 1] = true;
        }
        uint64_t id = q->id;
        struct engine_stats st;
        memset(&st, 0, sizeof st);
        jobq_start(&w->queue, q, 1e9);
        jobq_finish(&w->queue, id, 0, false, "", "dump", &st, w->now, 1e9);
    }
}

static void
prop_run(unsigned int seed)
{
    struct world *w = NULL;
    struct prop_port ports[PROP_MAX_PORTS];
    size_t n_ports = 0;
    const int zones[] = { -1, 5, 6 };

    assert_int_equal(setup((void **) &w), 0);
    assert_non_null(w);
    memset(ports, 0, sizeof ports);
    srand(seed);
    for (int round = 0; round < 60; round++) {
        struct prop_event ev[PROP_MAX_PORTS * 2];
        size_t n_ev = 0;
        bool touched[PROP_MAX_PORTS] = { false };
        int ops = 1 + rand() % 5;

        for (int k = 0; k < ops; k++) {
            int what = rand() % 4;
            int i = n_ports ? rand() % (int) n_ports : 0;
            if (what == 0 || !n_ports) {
                if (n_ports == PROP_MAX_PORTS) {
                    continue;
                }
                struct prop_port *pp = &ports[n_ports];
                pp->live = true;
                snprintf(pp->name, sizeof pp->name, "p%zu", n_ports);
                pp->ips = 1u << (rand() % PROP_POOL) | 1u << (rand() % PROP_POOL);
                pp->zone = zones[rand() % 3];
                touched[n_ports] = true;
                prop_present(w, pp);
                ev[n_ev++] = (struct prop_event) { BATCH_ADD, (int) n_ports, pp->ips, pp->zone };
                n_ports++;
                continue;
            }
            struct prop_port *pp = &ports[i];
            if (!pp->live || touched[i]) {
                continue;       /* One change per port and window. */
            }
            touched[i] = true;
            if (what == 1) {
                pp->live = false;
                gone(w, pp->name);
                ev[n_ev++] = (struct prop_event) { BATCH_REMOVE, i, pp->ips, pp->zone };
            } else if (what == 2) {
                unsigned int ips = 1u << (rand() % PROP_POOL) | 1u << (rand() % PROP_POOL);
                unsigned int lost = pp->ips & ~ips, gained = ips & ~pp->ips;
                pp->ips = ips;
                prop_present(w, pp);
                if (lost) {
                    ev[n_ev++] = (struct prop_event) { BATCH_REMOVE, i, lost, pp->zone };
                }
                if (gained) {
                    ev[n_ev++] = (struct prop_event) { BATCH_ADD, i, gained, pp->zone };
                }
            } else {
                int zone = zones[rand() % 3];
                if (zone == pp->zone) {
                    continue;
                }
                ev[n_ev++] = (struct prop_event) { BATCH_REMOVE, i, pp->ips, pp->zone };
                ev[n_ev++] = (struct prop_event) { BATCH_ADD, i, pp->ips, zone };
                pp->zone = zone;
                prop_present(w, pp);
            }
        }

        /* The model: what the rule says this window flushes. */
        bool want[2][8][PROP_POOL];
        size_t want_held = 0;
        memset(want, 0, sizeof want);
        for (size_t e = 0; e < n_ev; e++) {
            for (int a = 0; a < PROP_POOL; a++) {
                if (!(ev[e].ips & (1u << a))) {
                    continue;
                }
                bool held = false;
                for (size_t q = 0; q < n_ports && !held; q++) {
                    held = ports[q].live && (int) q != ev[e].port && (ports[q].ips & (1u << a))
                           && prop_zones_meet(ports[q].zone, ev[e].zone);
                }
                for (size_t r = 0; r < n_ev && !held && ev[e].kind == BATCH_ADD; r++) {
                    held = ev[r].kind == BATCH_REMOVE && ev[r].port != ev[e].port
                           && (ev[r].ips & (1u << a)) && prop_zones_meet(ev[r].zone, ev[e].zone);
                }
                if (held) {
                    want_held++;
                } else {
                    want[ev[e].kind == BATCH_REMOVE ? 0 : 1][ev[e].zone + 1][a] = true;
                }
            }
        }

        uint64_t held_before = w->pe.counters.held_back;
        run_window(w);
        bool got[2][8][PROP_POOL];
        prop_drain(w, got);
        if (memcmp(want, got, sizeof want)) {
            fail_msg("seed %u round %d: the flushes differ from the model", seed, round);
        }
        if (w->pe.counters.held_back - held_before != want_held) {
            fail_msg("seed %u round %d: %llu held back, the model says %zu", seed, round,
                     (unsigned long long) (w->pe.counters.held_back - held_before), want_held);
        }
    }
    void *st = w;
    teardown(&st);
}

static void
test_shared_property(void **state)
{
    (void) state;
    log_init("test_portevents", LOG_LVL_WARNING, false);
    for (unsigned int seed = 1; seed <= 200; seed++) {
        prop_run(seed);
    }
    log_init("test_portevents", LOG_LVL_INFO, false);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_removal_after_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removals_coalesce_per_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_diff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_on_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replug_cancels_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_ips_and_zone_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_ips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_ips_after_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_ips_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_ips_migrating, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aborted_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_force_takes_open_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_removal_keeps_vip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_flush_on_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_address_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_zones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_zoneless_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_both_removed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_vip_moves, setup, teardown),
        cmocka_unit_test(test_shared_property),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
