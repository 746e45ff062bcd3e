/*
 * test_porttab.c: unit tests for porttab.c (updates and change reports,
 * operator IPs, control-only entries, resync, restore, sorting, size).
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

#include "portinfo.h"
#include "porttab.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

static void
list_make(struct ctf_prefix_list *l, const char *ips)
{
    char err[128];

    memset(l, 0, sizeof *l);
    if (*ips && ctf_prefix_list_parse(l, ips, err, sizeof err)) {
        fail_msg("helper: ips '%s': %s", ips, err);
    }
}

/* True when l holds exactly the addresses of 'ips' (order ignored). */
static bool
ips_are(const struct ctf_prefix_list *l, const char *ips)
{
    struct port_info a, b;
    bool same;

    port_info_init(&a);
    port_info_init(&b);
    list_make(&a.ips, ips);
    b.ips = *l;
    same = port_info_same_flush_target(&a, &b) || (!a.ips.n && !l->n);
    port_info_destroy(&a);
    return same;
}

/* Updates a port from text and returns the change (old destroyed). */
static struct porttab_change
update(struct porttab *tab, const char *name, const char *iface_id, const char *ips,
       int zone)
{
    struct port_info pi;
    struct porttab_change ch;

    port_make(&pi, name, iface_id, ips, zone);
    assert_int_equal(porttab_update(tab, &pi, &ch), 0);
    port_info_destroy(&pi);
    return ch;
}

static void
set_ips(struct porttab *tab, const char *name, const char *ips,
        struct porttab_change *ch)
{
    struct ctf_prefix_list l;

    list_make(&l, ips);
    assert_int_equal(porttab_set_control(tab, name, &(struct porttab_control) { .ips = &l }, ch), 0);
    ctf_prefix_list_destroy(&l);
}

/* What sync_end reported. */
struct gone_log {
    char *names[16];
    size_t n;
    size_t total;
};

static void
gone_collect(struct port_info *gone, void *aux)
{
    struct gone_log *log = aux;

    if (log->n < 16) {
        log->names[log->n++] = strdup(gone->name);
    }
    log->total++;
    port_info_destroy(gone);
}

static bool
gone_has(const struct gone_log *log, const char *name)
{
    for (size_t i = 0; i < log->n; i++) {
        if (!strcmp(log->names[i], name)) {
            return true;
        }
    }
    return false;
}

static void
gone_free(struct gone_log *log)
{
    for (size_t i = 0; i < log->n; i++) {
        free(log->names[i]);
    }
    memset(log, 0, sizeof *log);
}

/* ---- Tests. ---- */

static void
test_update_reports_changes(void **state)
{
    struct porttab tab;
    struct porttab_change ch;
    const struct porttab_entry *e;

    porttab_init(&tab);
    assert_null(porttab_find(&tab, "tap1"));

    ch = update(&tab, "tap1", "vm-1", "10.0.0.1", 5);
    assert_true(ch.is_new);
    assert_true(ch.target_changed);
    port_info_destroy(&ch.old);
    assert_int_equal(porttab_count(&tab), 1);
    e = porttab_find(&tab, "tap1");
    assert_non_null(e);
    assert_true(e->in_ovsdb);
    assert_false(e->has_control_ips);
    assert_string_equal(e->effective.name, "tap1");
    assert_string_equal(e->effective.iface_id, "vm-1");
    assert_true(ips_are(&e->effective.ips, "10.0.0.1"));
    assert_int_equal(e->effective.ip_source, PORT_IP_INTERFACE);
    assert_true(e->effective.has_zone);
    assert_int_equal(e->effective.zone, 5);

    /* The same again: nothing changed. */
    ch = update(&tab, "tap1", "vm-1", "10.0.0.1", 5);
    assert_false(ch.is_new);
    assert_false(ch.target_changed);
    assert_true(ips_are(&ch.old.ips, "10.0.0.1"));
    port_info_destroy(&ch.old);

    /* Only the bridge or ofport changed: not a new target. */
    struct port_info pi;
    port_make(&pi, "tap1", "vm-1", "10.0.0.1", 5);
    pi.ofport = 99;
    assert_int_equal(porttab_update(&tab, &pi, &ch), 0);
    assert_false(ch.target_changed);
    assert_int_equal(ch.old.ofport, 7);
    port_info_destroy(&ch.old);
    port_info_destroy(&pi);
    assert_int_equal(porttab_find(&tab, "tap1")->effective.ofport, 99);

    /* New IPs: the old target comes back for the caller to flush. */
    ch = update(&tab, "tap1", "vm-1", "10.0.0.1, 10.0.0.2", 5);
    assert_false(ch.is_new);
    assert_true(ch.target_changed);
    assert_true(ips_are(&ch.old.ips, "10.0.0.1"));
    assert_true(ch.old.has_zone);
    port_info_destroy(&ch.old);

    /* Same IPs in another order: the same target. */
    ch = update(&tab, "tap1", "vm-1", "10.0.0.2, 10.0.0.1", 5);
    assert_false(ch.target_changed);
    port_info_destroy(&ch.old);

    /* A zone change is a target change, and so is losing the zone. */
    ch = update(&tab, "tap1", "vm-1", "10.0.0.2, 10.0.0.1", 6);
    assert_true(ch.target_changed);
    assert_int_equal(ch.old.zone, 5);
    port_info_destroy(&ch.old);
    ch = update(&tab, "tap1", "vm-1", "10.0.0.2, 10.0.0.1", -1);
    assert_true(ch.target_changed);
    port_info_destroy(&ch.old);

    /* A first sighting with no IPs is no target at all. */
    ch = update(&tab, "tap2", NULL, "", -1);
    assert_true(ch.is_new);
    assert_false(ch.target_changed);
    port_info_destroy(&ch.old);

    /* A NULL change pointer is allowed. */
    port_make(&pi, "tap3", NULL, "10.0.0.3", -1);
    assert_int_equal(porttab_update(&tab, &pi, NULL), 0);
    assert_int_equal(porttab_update(&tab, &pi, NULL), 0);
    port_info_destroy(&pi);
    assert_int_equal(porttab_count(&tab), 3);

    porttab_destroy(&tab);
    porttab_destroy(NULL);
}

static void
test_remove(void **state)
{
    struct porttab tab;
    struct porttab_change ch;
    struct port_info old;

    porttab_init(&tab);
    assert_int_equal(porttab_remove(&tab, "nope", &old), ENOENT);
    port_info_destroy(&old);

    ch = update(&tab, "tap1", "vm-1", "10.0.0.1", 3);
    port_info_destroy(&ch.old);
    ch = update(&tab, "tap2", "vm-2", "10.0.0.2", 3);
    port_info_destroy(&ch.old);

    assert_int_equal(porttab_remove(&tab, "tap1", &old), 0);
    assert_string_equal(old.name, "tap1");
    assert_string_equal(old.iface_id, "vm-1");
    assert_true(ips_are(&old.ips, "10.0.0.1"));
    assert_int_equal(old.zone, 3);
    port_info_destroy(&old);
    assert_null(porttab_find(&tab, "tap1"));
    assert_non_null(porttab_find(&tab, "tap2"));
    assert_int_equal(porttab_count(&tab), 1);
    assert_int_equal(porttab_remove(&tab, "tap1", &old), ENOENT);
    port_info_destroy(&old);

    /* The last effective info is what comes back: operator IPs included. */
    set_ips(&tab, "tap2", "192.168.0.2", &ch);
    port_info_destroy(&ch.old);
    assert_int_equal(porttab_remove(&tab, "tap2", NULL), 0);
    assert_int_equal(porttab_count(&tab), 0);

    ch = update(&tab, "tap2", "vm-2", "10.0.0.2", 3);
    port_info_destroy(&ch.old);
    set_ips(&tab, "tap2", "192.168.0.2", &ch);
    port_info_destroy(&ch.old);
    assert_int_equal(porttab_remove(&tab, "tap2", &old), 0);
    assert_true(ips_are(&old.ips, "192.168.0.2"));
    assert_int_equal(old.ip_source, PORT_IP_CONTROL);
    port_info_destroy(&old);

    porttab_destroy(&tab);
}

static void
test_control_ips_win(void **state)
{
    struct porttab tab;
    struct porttab_change ch;
    const struct porttab_entry *e;

    porttab_init(&tab);
    ch = update(&tab, "tap1", "vm-1", "10.0.0.1", 4);
    port_info_destroy(&ch.old);

    set_ips(&tab, "tap1", "192.168.1.1, fd00::1", &ch);
    assert_false(ch.is_new);
    assert_true(ch.target_changed);
    assert_true(ips_are(&ch.old.ips, "10.0.0.1"));
    port_info_destroy(&ch.old);
    e = porttab_find(&tab, "tap1");
    assert_true(e->has_control_ips);
    assert_true(ips_are(&e->effective.ips, "192.168.1.1, fd00::1"));
    assert_int_equal(e->effective.ip_source, PORT_IP_CONTROL);
    assert_int_equal(e->effective.zone, 4);      /* The zone is still OVSDB's. */
    assert_true(ips_are(&e->ovsdb.ips, "10.0.0.1"));

    /* OVSDB changes its IPs: the operator's still win, nothing to flush. */
    ch = update(&tab, "tap1", "vm-1", "10.0.0.9", 4);
    assert_false(ch.target_changed);
    port_info_destroy(&ch.old);
    e = porttab_find(&tab, "tap1");
    assert_true(ips_are(&e->effective.ips, "192.168.1.1, fd00::1"));
    assert_true(ips_are(&e->ovsdb.ips, "10.0.0.9"));

    /* ...but a zone change from OVSDB still counts. */
    ch = update(&tab, "tap1", "vm-1", "10.0.0.9", 8);
    assert_true(ch.target_changed);
    port_info_destroy(&ch.old);

    /* The same operator list again: no change. */
    set_ips(&tab, "tap1", "fd00::1, 192.168.1.1", &ch);
    assert_false(ch.target_changed);
    port_info_destroy(&ch.old);

    /* Clearing them: OVSDB's IPs are back. */
    set_ips(&tab, "tap1", "", &ch);
    assert_true(ch.target_changed);
    assert_true(ips_are(&ch.old.ips, "192.168.1.1, fd00::1"));
    port_info_destroy(&ch.old);
    e = porttab_find(&tab, "tap1");
    assert_false(e->has_control_ips);
    assert_true(ips_are(&e->effective.ips, "10.0.0.9"));
    assert_int_equal(e->effective.ip_source, PORT_IP_INTERFACE);

    /* A NULL list clears too. */
    set_ips(&tab, "tap1", "10.9.9.9", &ch);
    port_info_destroy(&ch.old);
    assert_int_equal(porttab_set_control(&tab, "tap1", &(struct porttab_control) { .ips = NULL }, NULL), 0);
    assert_false(porttab_find(&tab, "tap1")->has_control_ips);

    porttab_destroy(&tab);
}

static void
test_control_only_entry(void **state)
{
    struct porttab tab;
    struct porttab_change ch;
    struct port_info old;
    struct gone_log log;
    const struct porttab_entry *e;

    memset(&log, 0, sizeof log);
    porttab_init(&tab);

    /* Clearing IPs of an unknown port creates nothing. */
    set_ips(&tab, "tap9", "", &ch);
    port_info_destroy(&ch.old);
    assert_int_equal(porttab_count(&tab), 0);

    set_ips(&tab, "tap9", "10.1.1.1", &ch);
    assert_true(ch.is_new);
    port_info_destroy(&ch.old);
    e = porttab_find(&tab, "tap9");
    assert_non_null(e);
    assert_false(e->in_ovsdb);
    assert_true(e->has_control_ips);
    assert_string_equal(e->effective.name, "tap9");
    assert_true(ips_are(&e->effective.ips, "10.1.1.1"));

    /* Never seen in OVSDB: it cannot be removed or resynced away. */
    assert_int_equal(porttab_remove(&tab, "tap9", &old), ENOENT);
    port_info_destroy(&old);
    porttab_sync_begin(&tab);
    porttab_sync_end(&tab, gone_collect, &log);
    assert_int_equal(log.total, 0);
    assert_non_null(porttab_find(&tab, "tap9"));

    /* OVSDB shows it: new to OVSDB, with the operator's IPs. */
    ch = update(&tab, "tap9", "vm-9", "10.0.0.9", 2);
    assert_true(ch.is_new);
    port_info_destroy(&ch.old);
    e = porttab_find(&tab, "tap9");
    assert_true(e->in_ovsdb);
    assert_true(ips_are(&e->effective.ips, "10.1.1.1"));
    assert_int_equal(e->effective.ip_source, PORT_IP_CONTROL);
    assert_string_equal(e->effective.iface_id, "vm-9");
    assert_int_equal(porttab_count(&tab), 1);

    /* A control-only entry whose IPs are cleared goes away. */
    set_ips(&tab, "tap8", "10.1.1.8", &ch);
    port_info_destroy(&ch.old);
    assert_int_equal(porttab_count(&tab), 2);
    set_ips(&tab, "tap8", "", &ch);
    assert_true(ch.target_changed);
    port_info_destroy(&ch.old);
    assert_null(porttab_find(&tab, "tap8"));
    assert_int_equal(porttab_count(&tab), 1);

    porttab_destroy(&tab);
}

static void
test_sync_removes_exactly_unseen(void **state)
{
    struct porttab tab;
    struct porttab_change ch;
    struct gone_log log;
    char name[16];

    memset(&log, 0, sizeof log);
    porttab_init(&tab);
    for (int i = 0; i < 6; i++) {
        char ip[32];
        snprintf(name, sizeof name, "tap%d", i);
        snprintf(ip, sizeof ip, "10.0.0.%d", i + 1);
        ch = update(&tab, name, NULL, ip, -1);
        port_info_destroy(&ch.old);
    }
    set_ips(&tab, "ctl-only", "10.9.0.1", &ch);
    port_info_destroy(&ch.old);
    /* An OVSDB port with operator IPs is still an OVSDB port. */
    set_ips(&tab, "tap5", "10.9.0.5", &ch);
    port_info_destroy(&ch.old);

    /* A stray end with no begin must not flush the host. */
    porttab_sync_end(&tab, gone_collect, &log);
    assert_int_equal(log.total, 0);
    assert_int_equal(porttab_count(&tab), 7);

    porttab_sync_begin(&tab);
    assert_true(tab.in_sync);
    ch = update(&tab, "tap0", NULL, "10.0.0.1", -1);
    port_info_destroy(&ch.old);
    ch = update(&tab, "tap2", NULL, "10.0.0.99", -1);     /* Changed, still seen. */
    assert_true(ch.target_changed);
    port_info_destroy(&ch.old);
    ch = update(&tab, "tap4", NULL, "10.0.0.5", -1);
    port_info_destroy(&ch.old);
    ch = update(&tab, "tapnew", NULL, "10.0.0.50", -1);   /* New during the sync. */
    assert_true(ch.is_new);
    port_info_destroy(&ch.old);
    assert_int_equal(porttab_remove(&tab, "tap1", NULL), 0); /* Gone meanwhile. */
    porttab_sync_end(&tab, gone_collect, &log);
    assert_false(tab.in_sync);

    assert_int_equal(log.total, 2);
    assert_true(gone_has(&log, "tap3"));
    assert_true(gone_has(&log, "tap5"));
    assert_null(porttab_find(&tab, "tap3"));
    assert_null(porttab_find(&tab, "tap5"));
    assert_non_null(porttab_find(&tab, "tap0"));
    assert_non_null(porttab_find(&tab, "tap2"));
    assert_non_null(porttab_find(&tab, "tap4"));
    assert_non_null(porttab_find(&tab, "tapnew"));
    assert_non_null(porttab_find(&tab, "ctl-only"));
    assert_int_equal(porttab_count(&tab), 5);
    gone_free(&log);

    /* A second sync starts from clean marks: nothing seen, all OVSDB ports go
     * (and a NULL callback just frees them). */
    porttab_sync_begin(&tab);
    ch = update(&tab, "tap0", NULL, "10.0.0.1", -1);
    port_info_destroy(&ch.old);
    porttab_sync_end(&tab, gone_collect, &log);
    assert_int_equal(log.total, 3);
    assert_false(gone_has(&log, "tap0"));
    assert_int_equal(porttab_count(&tab), 2);
    gone_free(&log);

    porttab_sync_begin(&tab);
    porttab_sync_end(&tab, NULL, NULL);
    assert_int_equal(porttab_count(&tab), 1);
    assert_non_null(porttab_find(&tab, "ctl-only"));

    porttab_destroy(&tab);
}

/* The gone callback sees the entry's effective info and may use the table. */
struct gone_check {
    struct porttab *tab;
    int calls;
};

static void
gone_check_fn(struct port_info *gone, void *aux)
{
    struct gone_check *gc = aux;

    assert_string_equal(gone->name, "tapx");
    assert_true(ips_are(&gone->ips, "172.16.0.1"));
    assert_int_equal(gone->ip_source, PORT_IP_CONTROL);
    assert_null(porttab_find(gc->tab, "tapx"));
    gc->calls++;
    port_info_destroy(gone);
}

static void
test_sync_gone_info(void **state)
{
    struct porttab tab;
    struct porttab_change ch;
    struct gone_check gc = { &tab, 0 };

    porttab_init(&tab);
    ch = update(&tab, "tapx", "vm-x", "10.0.0.1", 1);
    port_info_destroy(&ch.old);
    set_ips(&tab, "tapx", "172.16.0.1", &ch);
    port_info_destroy(&ch.old);
    porttab_sync_begin(&tab);
    porttab_sync_end(&tab, gone_check_fn, &gc);
    assert_int_equal(gc.calls, 1);
    porttab_destroy(&tab);
}

static void
test_readd(void **state)
{
    struct porttab tab;
    struct porttab_change ch;
    struct gone_log log;

    memset(&log, 0, sizeof log);
    porttab_init(&tab);
    ch = update(&tab, "tap1", "vm-1", "10.0.0.1", -1);
    port_info_destroy(&ch.old);
    assert_int_equal(porttab_remove(&tab, "tap1", NULL), 0);

    ch = update(&tab, "tap1", "vm-1", "10.0.0.1", -1);
    assert_true(ch.is_new);
    port_info_destroy(&ch.old);
    assert_true(porttab_find(&tab, "tap1")->in_ovsdb);

    /* Gone in a resync, back in the next one. */
    porttab_sync_begin(&tab);
    porttab_sync_end(&tab, gone_collect, &log);
    assert_int_equal(log.total, 1);
    gone_free(&log);
    assert_null(porttab_find(&tab, "tap1"));
    porttab_sync_begin(&tab);
    ch = update(&tab, "tap1", "vm-1", "10.0.0.2", -1);
    assert_true(ch.is_new);
    port_info_destroy(&ch.old);
    porttab_sync_end(&tab, gone_collect, &log);
    assert_int_equal(log.total, 0);
    assert_true(ips_are(&porttab_find(&tab, "tap1")->effective.ips, "10.0.0.2"));

    porttab_destroy(&tab);
}

static void
test_restore(void **state)
{
    struct porttab tab;
    struct port_info pi;
    struct ctf_prefix_list ctl, empty;
    struct gone_log log;
    const struct porttab_entry *e;

    memset(&log, 0, sizeof log);
    memset(&empty, 0, sizeof empty);
    porttab_init(&tab);

    port_make(&pi, "tap1", "vm-1", "10.0.0.1", 12);
    list_make(&ctl, "192.168.5.5");
    assert_int_equal(porttab_restore(&tab, &pi, true, &(struct porttab_control) { .ips = &ctl }), 0);
    assert_int_equal(porttab_restore(&tab, &pi, true, NULL), EEXIST);
    port_info_destroy(&pi);

    e = porttab_find(&tab, "tap1");
    assert_non_null(e);
    assert_true(e->in_ovsdb);
    assert_false(e->seen_in_sync);
    assert_true(e->has_control_ips);
    assert_true(ips_are(&e->ovsdb.ips, "10.0.0.1"));
    assert_true(ips_are(&e->effective.ips, "192.168.5.5"));
    assert_int_equal(e->effective.ip_source, PORT_IP_CONTROL);
    assert_int_equal(e->effective.zone, 12);
    assert_string_equal(e->effective.bridge, "br-int");

    /* A control-only entry from the file, and one with an empty list (which
     * is no list). */
    port_make(&pi, "tap2", NULL, "", -1);
    assert_int_equal(porttab_restore(&tab, &pi, false, &(struct porttab_control) { .ips = &ctl }), 0);
    port_info_destroy(&pi);
    port_make(&pi, "tap3", NULL, "10.0.0.3", -1);
    assert_int_equal(porttab_restore(&tab, &pi, true, &(struct porttab_control) { .ips = &empty }), 0);
    port_info_destroy(&pi);
    assert_false(porttab_find(&tab, "tap3")->has_control_ips);
    assert_true(ips_are(&porttab_find(&tab, "tap3")->effective.ips, "10.0.0.3"));
    ctf_prefix_list_destroy(&ctl);

    /* The first resync after a restart: the restored OVSDB ports that are
     * gone are reported, the control-only one stays. */
    porttab_sync_begin(&tab);
    porttab_sync_end(&tab, gone_collect, &log);
    assert_int_equal(log.total, 2);
    assert_true(gone_has(&log, "tap1"));
    assert_true(gone_has(&log, "tap3"));
    assert_non_null(porttab_find(&tab, "tap2"));
    gone_free(&log);

    porttab_destroy(&tab);
}

static void
test_sorted(void **state)
{
    static const char *const names[] = { "tap-c", "tap-a", "eth0", "tap-b", "vnet10" };
    struct porttab tab;
    struct porttab_change ch;
    const struct porttab_entry **v;
    size_t n;

    porttab_init(&tab);
    v = porttab_sorted(&tab, &n);
    assert_null(v);
    assert_int_equal(n, 0);

    for (size_t i = 0; i < 5; i++) {
        ch = update(&tab, names[i], NULL, "10.0.0.1", -1);
        port_info_destroy(&ch.old);
    }
    set_ips(&tab, "a-ctl", "10.0.0.2", &ch);
    port_info_destroy(&ch.old);

    v = porttab_sorted(&tab, &n);
    assert_non_null(v);
    assert_int_equal(n, 6);
    assert_string_equal(v[0]->ovsdb.name, "a-ctl");
    assert_string_equal(v[1]->ovsdb.name, "eth0");
    assert_string_equal(v[2]->ovsdb.name, "tap-a");
    assert_string_equal(v[3]->ovsdb.name, "tap-b");
    assert_string_equal(v[4]->ovsdb.name, "tap-c");
    assert_string_equal(v[5]->ovsdb.name, "vnet10");
    free(v);
    porttab_destroy(&tab);
}

static void
test_10k_entries(void **state)
{
    enum { N = 10000 };
    struct porttab tab;
    struct gone_log log;
    const struct porttab_entry **v;
    char name[32], ip[32];
    size_t n;

    memset(&log, 0, sizeof log);
    porttab_init(&tab);
    for (int i = 0; i < N; i++) {
        struct port_info pi;

        snprintf(name, sizeof name, "tap%05d", i);
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        port_make(&pi, name, NULL, ip, i % 100);
        assert_int_equal(porttab_update(&tab, &pi, NULL), 0);
        port_info_destroy(&pi);
    }
    assert_int_equal(porttab_count(&tab), N);
    assert_true(tab.n_buckets >= N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "tap%05d", i);
        const struct porttab_entry *e = porttab_find(&tab, name);
        assert_non_null(e);
        assert_int_equal(e->effective.zone, i % 100);
    }
    v = porttab_sorted(&tab, &n);
    assert_int_equal(n, N);
    for (size_t i = 1; i < n; i++) {
        assert_true(strcmp(v[i - 1]->ovsdb.name, v[i]->ovsdb.name) < 0);
    }
    free(v);

    /* A resync that sees the even half. */
    porttab_sync_begin(&tab);
    for (int i = 0; i < N; i += 2) {
        struct port_info pi;

        snprintf(name, sizeof name, "tap%05d", i);
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        port_make(&pi, name, NULL, ip, i % 100);
        assert_int_equal(porttab_update(&tab, &pi, NULL), 0);
        port_info_destroy(&pi);
    }
    porttab_sync_end(&tab, gone_collect, &log);
    assert_int_equal(log.total, N / 2);
    gone_free(&log);
    assert_int_equal(porttab_count(&tab), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "tap%05d", i);
        assert_true((porttab_find(&tab, name) != NULL) == (i % 2 == 0));
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(name, sizeof name, "tap%05d", i);
        assert_int_equal(porttab_remove(&tab, name, NULL), 0);
    }
    assert_int_equal(porttab_count(&tab), 0);
    porttab_destroy(&tab);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_reports_changes),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_control_ips_win),
        cmocka_unit_test(test_control_only_entry),
        cmocka_unit_test(test_sync_removes_exactly_unseen),
        cmocka_unit_test(test_sync_gone_info),
        cmocka_unit_test(test_readd),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_sorted),
        cmocka_unit_test(test_10k_entries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
