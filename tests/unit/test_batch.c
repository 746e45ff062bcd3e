/*
 * test_batch.c: unit tests for batch.c (coalescing into one job per kind and
 * zone, re-plug cancellation, events of one port adding up, filtering, the
 * window).
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
#include "portinfo.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

/* batch_add from text; returns *replug. */
static bool
add(struct batch *b, enum batch_kind kind, const char *name, const char *iface_id,
    const char *ips, int zone, uint64_t now)
{
    struct port_info pi;
    bool replug = true;

    port_make(&pi, name, iface_id, ips, zone);
    assert_int_equal(batch_add(b, kind, &pi, now, &replug), 0);
    port_info_destroy(&pi);
    return replug;
}

static bool
group_has_port(const struct batch_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_ports; i++) {
        if (!strcmp(g->ports[i], name)) {
            return true;
        }
    }
    return false;
}

static bool
list_has(const struct ctf_prefix_list *l, const char *s)
{
    struct ctf_prefix p = pfx(s);

    for (size_t i = 0; i < l->n; i++) {
        if (!ctf_prefix_cmp(&l->items[i], &p)) {
            return true;
        }
    }
    return false;
}

/* Every group's job is one the queue would accept: IPs x any. */
static void
check_group_job(const struct batch_group *g)
{
    char err[128];

    assert_int_equal(flush_job_validate(&g->job, err, sizeof err), 0);
    assert_false(g->job.local_any);
    assert_true(g->job.peers_any);
    assert_int_equal(g->job.peers.n, 0);
    assert_false(g->job.has_mark);
}

/* ---- Tests. ---- */

static void
test_50_removals_one_group(void **state)
{
    struct batch b;
    struct batch_group *groups;
    size_t n;

    batch_init(&b, 100);
    assert_int_equal(batch_deadline(&b), 0);
    for (int i = 0; i < 50; i++) {
        char name[16], ip[32];
        snprintf(name, sizeof name, "tap%d", i);
        snprintf(ip, sizeof ip, "10.0.%d.%d", i / 200, i % 200 + 1);
        assert_false(add(&b, BATCH_REMOVE, name, NULL, ip, 9, 1000 + (uint64_t) i));
    }
    assert_int_equal(batch_pending(&b), 50);
    assert_int_equal(batch_deadline(&b), 1100);   /* From the first event. */

    assert_int_equal(batch_take(&b, 1099, false, &groups, &n), 0);
    assert_int_equal(n, 0);
    assert_null(groups);
    assert_int_equal(batch_pending(&b), 50);

    assert_int_equal(batch_take(&b, 1100, false, &groups, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(groups[0].kind, BATCH_REMOVE);
    assert_int_equal(groups[0].n_ports, 50);
    assert_int_equal(groups[0].job.local.n, 50);
    assert_true(groups[0].job.has_zone);
    assert_int_equal(groups[0].job.zone, 9);
    check_group_job(&groups[0]);
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "tap%d", i);
        assert_true(group_has_port(&groups[0], name));
    }
    /* Ports in arrival order. */
    assert_string_equal(groups[0].ports[0], "tap0");
    assert_string_equal(groups[0].ports[49], "tap49");
    batch_groups_free(groups, n);

    assert_int_equal(batch_pending(&b), 0);
    assert_int_equal(batch_deadline(&b), 0);
    assert_int_equal(batch_take(&b, 5000, true, &groups, &n), 0);
    assert_int_equal(n, 0);
    batch_destroy(&b);
}

static void
test_mixed_zones(void **state)
{
    struct batch b;
    struct batch_group *groups;
    size_t n;

    batch_init(&b, 50);
    add(&b, BATCH_ADD, "new1", NULL, "10.1.0.1", 1, 10);
    add(&b, BATCH_REMOVE, "a", NULL, "10.0.0.1", 2, 10);
    add(&b, BATCH_REMOVE, "b", NULL, "10.0.0.2", 1, 11);
    add(&b, BATCH_REMOVE, "c", NULL, "10.0.0.3", -1, 12);
    add(&b, BATCH_REMOVE, "d", NULL, "10.0.0.4", 2, 13);
    add(&b, BATCH_REMOVE, "e", NULL, "fd00::5", -1, 14);
    add(&b, BATCH_REMOVE, "f", NULL, "10.0.0.6", 1, 15);
    add(&b, BATCH_ADD, "new2", NULL, "10.1.0.2", -1, 16);
    assert_int_equal(batch_pending(&b), 8);

    assert_int_equal(batch_take(&b, 60, false, &groups, &n), 0);
    assert_int_equal(n, 5);

    /* Removals first; within a kind, no zone first, then zones ascending. */
    assert_int_equal(groups[0].kind, BATCH_REMOVE);
    assert_false(groups[0].job.has_zone);
    assert_int_equal(groups[0].n_ports, 2);
    assert_true(group_has_port(&groups[0], "c"));
    assert_true(group_has_port(&groups[0], "e"));
    assert_true(list_has(&groups[0].job.local, "10.0.0.3"));
    assert_true(list_has(&groups[0].job.local, "fd00::5"));

    assert_int_equal(groups[1].kind, BATCH_REMOVE);
    assert_true(groups[1].job.has_zone);
    assert_int_equal(groups[1].job.zone, 1);
    assert_int_equal(groups[1].n_ports, 2);
    assert_string_equal(groups[1].ports[0], "b");
    assert_string_equal(groups[1].ports[1], "f");
    assert_int_equal(groups[1].job.local.n, 2);

    assert_int_equal(groups[2].kind, BATCH_REMOVE);
    assert_int_equal(groups[2].job.zone, 2);
    assert_int_equal(groups[2].n_ports, 2);
    assert_true(group_has_port(&groups[2], "a"));
    assert_true(group_has_port(&groups[2], "d"));

    assert_int_equal(groups[3].kind, BATCH_ADD);
    assert_false(groups[3].job.has_zone);
    assert_int_equal(groups[3].n_ports, 1);
    assert_string_equal(groups[3].ports[0], "new2");

    assert_int_equal(groups[4].kind, BATCH_ADD);
    assert_int_equal(groups[4].job.zone, 1);
    assert_string_equal(groups[4].ports[0], "new1");
    assert_true(list_has(&groups[4].job.local, "10.1.0.1"));

    for (size_t i = 0; i < n; i++) {
        check_group_job(&groups[i]);
    }
    batch_groups_free(groups, n);
    batch_destroy(&b);
}

static void
test_local_deduplicated(void **state)
{
    struct batch b;
    struct batch_group *groups;
    size_t n;

    batch_init(&b, 10);
    add(&b, BATCH_REMOVE, "a", NULL, "10.0.0.1, 10.0.0.2", 4, 0);
    add(&b, BATCH_REMOVE, "b", NULL, "10.0.0.2, 10.0.0.3, 10.0.0.1", 4, 1);
    assert_int_equal(batch_take(&b, 10, false, &groups, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(groups[0].n_ports, 2);
    assert_int_equal(groups[0].job.local.n, 3);
    assert_true(list_has(&groups[0].job.local, "10.0.0.1"));
    assert_true(list_has(&groups[0].job.local, "10.0.0.2"));
    assert_true(list_has(&groups[0].job.local, "10.0.0.3"));
    batch_groups_free(groups, n);
    batch_destroy(&b);
}

/* Removals on two tables in one window are two jobs even in the same zone
 * (kernel first), each saying its datapath; a port coming back on the
 * other table is not a re-plug of the removal (its entries are elsewhere). */
static void
test_datapaths(void **state)
{
    struct batch b;
    struct batch_group *groups;
    struct port_info pi;
    size_t n;
    bool replug = true;

    batch_init(&b, 100);
    port_make(&pi, "dpdk1", "vm-1", "10.0.0.1", 3);
    pi.datapath = FLUSH_DATAPATH_NETDEV;
    assert_int_equal(batch_add(&b, BATCH_REMOVE, &pi, 10, &replug), 0);
    port_info_destroy(&pi);
    assert_false(add(&b, BATCH_REMOVE, "tap2", "vm-2", "10.0.0.2", 3, 11));
    /* vm-1 back on a kernel bridge: not the same table, no re-plug. */
    assert_false(add(&b, BATCH_ADD, "tap1", "vm-1", "10.0.0.1", 3, 12));
    assert_int_equal(batch_pending(&b), 3);
    assert_int_equal(b.replugs_cancelled, 0);

    assert_int_equal(batch_take(&b, 1000, false, &groups, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(groups[0].kind, BATCH_REMOVE);
    assert_int_equal(groups[0].job.datapath, FLUSH_DATAPATH_KERNEL);
    assert_true(group_has_port(&groups[0], "tap2"));
    assert_int_equal(groups[1].kind, BATCH_REMOVE);
    assert_int_equal(groups[1].job.datapath, FLUSH_DATAPATH_NETDEV);
    assert_true(group_has_port(&groups[1], "dpdk1"));
    assert_true(list_has(&groups[1].job.local, "10.0.0.1"));
    assert_int_equal(groups[2].kind, BATCH_ADD);
    assert_int_equal(groups[2].job.datapath, FLUSH_DATAPATH_KERNEL);
    batch_groups_free(groups, n);

    /* On the same table it is a re-plug. */
    port_make(&pi, "dpdk1", "vm-1", "10.0.0.1", 3);
    pi.datapath = FLUSH_DATAPATH_NETDEV;
    assert_int_equal(batch_add(&b, BATCH_REMOVE, &pi, 2000, &replug), 0);
    assert_int_equal(batch_add(&b, BATCH_ADD, &pi, 2001, &replug), 0);
    assert_true(replug);
    assert_int_equal(batch_pending(&b), 0);
    port_info_destroy(&pi);
    batch_destroy(&b);
    (void) state;
}

static void
test_replug_cancels(void **state)
{
    struct batch b;
    struct batch_group *groups;
    size_t n;

    batch_init(&b, 100);
    assert_false(add(&b, BATCH_REMOVE, "tap1", "vm-1", "10.0.0.1, fd00::1", 3, 10));
    assert_false(add(&b, BATCH_REMOVE, "tap2", "vm-2", "10.0.0.2", 3, 11));
    assert_int_equal(batch_pending(&b), 2);

    /* The same VM comes back, IPs in another order: both events vanish. */
    assert_true(add(&b, BATCH_ADD, "tap1", "vm-1", "fd00::1, 10.0.0.1", 3, 20));
    assert_int_equal(batch_pending(&b), 1);
    assert_int_equal(b.replugs_cancelled, 1);

    /* Re-plugged under another interface name: iface-id says same VM. */
    assert_true(add(&b, BATCH_ADD, "tap2-new", "vm-2", "10.0.0.2", 3, 21));
    assert_int_equal(batch_pending(&b), 0);
    assert_int_equal(batch_deadline(&b), 0);
    assert_int_equal(b.replugs_cancelled, 2);

    assert_int_equal(batch_take(&b, 1000, true, &groups, &n), 0);
    assert_int_equal(n, 0);

    /* Without an iface-id, the name is the VM key. */
    assert_false(add(&b, BATCH_REMOVE, "tap3", NULL, "10.0.0.3", -1, 30));
    assert_false(add(&b, BATCH_ADD, "tap3x", NULL, "10.0.0.3", -1, 31));
    assert_int_equal(batch_pending(&b), 2);
    assert_true(add(&b, BATCH_ADD, "tap3", NULL, "10.0.0.3", -1, 32));
    assert_int_equal(batch_pending(&b), 1);       /* tap3x's add stays. */
    assert_int_equal(b.replugs_cancelled, 3);

    /* A NULL replug pointer is allowed. */
    struct port_info pi;
    port_make(&pi, "tap4", NULL, "10.0.0.4", -1);
    assert_int_equal(batch_add(&b, BATCH_REMOVE, &pi, 40, NULL), 0);
    assert_int_equal(batch_add(&b, BATCH_ADD, &pi, 41, NULL), 0);
    port_info_destroy(&pi);
    assert_int_equal(batch_pending(&b), 1);
    assert_int_equal(b.replugs_cancelled, 4);

    batch_destroy(&b);
}

static void
test_replug_changed_target_does_not_cancel(void **state)
{
    struct batch b;
    struct batch_group *groups;
    size_t n;

    batch_init(&b, 100);
    add(&b, BATCH_REMOVE, "tap1", "vm-1", "10.0.0.1,10.0.0.8", 3, 10);
    /* Back with some IPs of its own and a new one: what it takes back is a
     * re-plug (neither removed nor added), what it left behind is still
     * removed, and the new one is added. */
    assert_true(add(&b, BATCH_ADD, "tap1", "vm-1", "10.0.0.1, 10.0.0.9", 3, 11));
    assert_int_equal(b.replugs_cancelled, 1);
    /* Different zone: not a re-plug. */
    add(&b, BATCH_REMOVE, "tap2", "vm-2", "10.0.0.2", 3, 12);
    assert_false(add(&b, BATCH_ADD, "tap2", "vm-2", "10.0.0.2", 4, 13));
    /* Same IPs, another VM (an address handed to a new instance). */
    add(&b, BATCH_REMOVE, "tap3", "vm-3", "10.0.0.3", 3, 14);
    assert_false(add(&b, BATCH_ADD, "tap3b", "vm-3b", "10.0.0.3", 3, 15));
    assert_int_equal(b.replugs_cancelled, 1);
    assert_int_equal(batch_pending(&b), 6);

    assert_int_equal(batch_take(&b, 110, false, &groups, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(groups[0].kind, BATCH_REMOVE);
    assert_int_equal(groups[0].n_ports, 3);
    assert_int_equal(groups[0].job.local.n, 3);
    assert_true(list_has(&groups[0].job.local, "10.0.0.8"));
    assert_false(list_has(&groups[0].job.local, "10.0.0.1"));
    assert_int_equal(groups[1].kind, BATCH_ADD);
    assert_int_equal(groups[1].job.zone, 3);
    assert_int_equal(groups[1].n_ports, 2);
    assert_int_equal(groups[1].job.local.n, 2);
    assert_true(list_has(&groups[1].job.local, "10.0.0.9"));
    assert_false(list_has(&groups[1].job.local, "10.0.0.1"));
    assert_int_equal(groups[2].kind, BATCH_ADD);
    assert_int_equal(groups[2].job.zone, 4);
    batch_groups_free(groups, n);

    /* A removal arriving after an add of the same port is not a re-plug. */
    assert_false(add(&b, BATCH_ADD, "tap5", "vm-5", "10.0.0.5", -1, 200));
    assert_false(add(&b, BATCH_REMOVE, "tap5", "vm-5", "10.0.0.5", -1, 201));
    assert_int_equal(batch_pending(&b), 2);
    batch_destroy(&b);
}

static void
test_same_port_events_add_up(void **state)
{
    struct batch b;
    struct batch_group *groups;
    size_t n;

    batch_init(&b, 100);
    /* A port loses one IP, then leaves: both are owed. */
    add(&b, BATCH_REMOVE, "tap1", NULL, "10.0.0.1", 3, 10);
    add(&b, BATCH_REMOVE, "tap1", NULL, "10.0.0.7", 3, 150);
    assert_int_equal(batch_pending(&b), 1);
    assert_int_equal(batch_deadline(&b), 110);    /* A second event does not extend. */
    /* The same port's removal in another zone (it changed zone) is owed
     * there. */
    add(&b, BATCH_REMOVE, "tap1", NULL, "10.0.0.7", 4, 160);
    assert_int_equal(batch_pending(&b), 2);

    assert_int_equal(batch_take(&b, 110, false, &groups, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(groups[0].job.zone, 3);
    assert_int_equal(groups[0].n_ports, 1);
    assert_int_equal(groups[0].job.local.n, 2);
    assert_true(list_has(&groups[0].job.local, "10.0.0.1"));
    assert_true(list_has(&groups[0].job.local, "10.0.0.7"));
    assert_int_equal(groups[1].job.zone, 4);
    assert_int_equal(groups[1].job.local.n, 1);
    batch_groups_free(groups, n);
    batch_destroy(&b);
}

/* Keeps what is not in the "drop" list, and records what it saw. */
struct filter_probe {
    const char *drop;           /* One address to drop. */
    size_t calls;
    size_t events_seen;         /* batch_pending when keep() ran. */
};

static bool
filter_keep(const struct batch *b, const struct batch_event *ev, const struct ctf_prefix *p,
            void *aux)
{
    struct filter_probe *f = aux;
    struct ctf_prefix d = pfx(f->drop);

    (void) ev;
    f->calls++;
    f->events_seen = batch_pending(b);
    return ctf_prefix_cmp(&d, p) != 0;
}

static void
test_filter(void **state)
{
    struct batch b;
    struct batch_group *groups;
    size_t n;
    struct filter_probe f = { .drop = "10.0.0.2" };

    batch_init(&b, 100);
    add(&b, BATCH_REMOVE, "tap1", NULL, "10.0.0.1,10.0.0.2", 3, 10);
    add(&b, BATCH_REMOVE, "tap2", NULL, "10.0.0.2", 3, 20);
    add(&b, BATCH_ADD, "tap3", NULL, "10.0.0.3", 3, 30);
    assert_int_equal(batch_filter(&b, filter_keep, &f), 0);
    assert_int_equal(f.calls, 4);
    /* Every verdict saw the whole batch, though tap2 is dropped. */
    assert_int_equal(f.events_seen, 3);
    assert_int_equal(batch_pending(&b), 2);
    assert_int_equal(batch_deadline(&b), 110);

    assert_int_equal(batch_take(&b, 110, false, &groups, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(groups[0].n_ports, 1);
    assert_int_equal(groups[0].job.local.n, 1);
    assert_true(list_has(&groups[0].job.local, "10.0.0.1"));
    batch_groups_free(groups, n);
    batch_destroy(&b);
}

static void
test_no_ips_ignored(void **state)
{
    struct batch b;

    batch_init(&b, 100);
    assert_false(add(&b, BATCH_REMOVE, "tap1", NULL, "", 3, 10));
    assert_false(add(&b, BATCH_ADD, "tap2", NULL, "", -1, 10));
    assert_int_equal(batch_pending(&b), 0);
    assert_int_equal(batch_deadline(&b), 0);
    batch_destroy(&b);
    batch_destroy(NULL);
    batch_groups_free(NULL, 0);
}

static void
test_window(void **state)
{
    struct batch b;
    struct batch_group *groups;
    size_t n;

    batch_init(&b, 200);
    add(&b, BATCH_REMOVE, "a", NULL, "10.0.0.1", -1, 500);
    add(&b, BATCH_REMOVE, "b", NULL, "10.0.0.2", -1, 650);
    assert_int_equal(batch_deadline(&b), 700);

    /* Not closed: nothing is taken, whatever the time before the deadline. */
    assert_int_equal(batch_take(&b, 0, false, &groups, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(batch_take(&b, 699, false, &groups, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(batch_pending(&b), 2);

    /* Force takes an open window. */
    assert_int_equal(batch_take(&b, 600, true, &groups, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(groups[0].n_ports, 2);
    batch_groups_free(groups, n);
    assert_int_equal(batch_deadline(&b), 0);

    /* The next event opens a fresh window. */
    add(&b, BATCH_ADD, "c", NULL, "10.0.0.3", -1, 800);
    assert_int_equal(batch_deadline(&b), 1000);
    assert_int_equal(batch_take(&b, 2000, false, &groups, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(groups[0].kind, BATCH_ADD);
    batch_groups_free(groups, n);

    /* A cancelled window reopens from the next event. */
    add(&b, BATCH_REMOVE, "d", NULL, "10.0.0.4", -1, 3000);
    add(&b, BATCH_ADD, "d", NULL, "10.0.0.4", -1, 3100);
    assert_int_equal(batch_deadline(&b), 0);
    add(&b, BATCH_REMOVE, "e", NULL, "10.0.0.5", -1, 3150);
    assert_int_equal(batch_deadline(&b), 3350);
    batch_destroy(&b);

    /* A zero window closes at once, even at time zero. */
    batch_init(&b, 0);
    add(&b, BATCH_REMOVE, "a", NULL, "10.0.0.1", -1, 0);
    assert_int_not_equal(batch_deadline(&b), 0);
    assert_int_equal(batch_take(&b, 1, false, &groups, &n), 0);
    assert_int_equal(n, 1);
    batch_groups_free(groups, n);
    add(&b, BATCH_REMOVE, "a", NULL, "10.0.0.1", -1, 77);
    assert_int_equal(batch_take(&b, 77, false, &groups, &n), 0);
    assert_int_equal(n, 1);
    batch_groups_free(groups, n);
    batch_destroy(&b);
}

static void
test_destroy_pending(void **state)
{
    struct batch b;

    batch_init(&b, 100);
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        add(&b, i % 2 ? BATCH_ADD : BATCH_REMOVE, name, NULL, "10.0.0.1", i % 3, 1);
    }
    assert_int_equal(batch_pending(&b), 100);
    batch_destroy(&b);
}

static void
test_cancel_removal_alone(void **state)
{
    struct batch b;
    struct port_info pi;

    batch_init(&b, 100);
    add(&b, BATCH_REMOVE, "tap1", "vm-1", "10.0.0.1", 3, 10);
    add(&b, BATCH_ADD, "tap2", "vm-2", "10.0.0.2", 3, 10);

    /* Nothing of that VM pending, or another target: nothing dropped. */
    port_make(&pi, "tap2", "vm-2", "10.0.0.2", 3);
    assert_false(batch_cancel_removal(&b, &pi));
    port_info_destroy(&pi);
    port_make(&pi, "tap1", "vm-1", "10.0.0.1", 4);
    assert_false(batch_cancel_removal(&b, &pi));
    port_info_destroy(&pi);
    assert_int_equal(batch_pending(&b), 2);
    assert_int_equal(b.replugs_cancelled, 0);

    /* The same VM: its removal goes, the unrelated add stays, and no add of
     * its own is queued (flush-on-add off). */
    port_make(&pi, "tap1-new", "vm-1", "10.0.0.1", 3);
    assert_true(batch_cancel_removal(&b, &pi));
    assert_false(batch_cancel_removal(&b, &pi));
    port_info_destroy(&pi);
    assert_int_equal(batch_pending(&b), 1);
    assert_int_equal(b.events[0].kind, BATCH_ADD);
    assert_int_equal(b.replugs_cancelled, 1);
    assert_int_equal(batch_deadline(&b), 110);
    batch_destroy(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_50_removals_one_group),
        cmocka_unit_test(test_mixed_zones),
        cmocka_unit_test(test_local_deduplicated),
        cmocka_unit_test(test_replug_cancels),
        cmocka_unit_test(test_datapaths),
        cmocka_unit_test(test_replug_changed_target_does_not_cancel),
        cmocka_unit_test(test_cancel_removal_alone),
        cmocka_unit_test(test_same_port_events_add_up),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_no_ips_ignored),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_destroy_pending),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
