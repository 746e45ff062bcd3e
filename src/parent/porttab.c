/*
 * porttab.c: the parent's table of VM ports, a chained hash table keyed by
 * interface name, and the rule that turns what OVSDB says plus what an
 * operator said into the effective flush target of each port.
 */
#include "porttab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Buckets allocated with the first entry; the table doubles when the load
 * passes one entry per bucket. */
#define PORTTAB_MIN_BUCKETS 64

static uint64_t
porttab_hash(const char *name)
{
    /* FNV-1a: names are short and trusted (they come from OVSDB or a local
     * root operator), so a keyed hash buys nothing here. */
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void
porttab_init(struct porttab *tab)
{
    memset(tab, 0, sizeof *tab);
}

static void
porttab_entry_free(struct porttab_entry *e)
{
    if (e) {
        port_info_destroy(&e->ovsdb);
        port_info_destroy(&e->effective);
        ctf_prefix_list_destroy(&e->control_ips);
        free(e);
    }
}

void
porttab_destroy(struct porttab *tab)
{
    if (!tab) {
        return;
    }
    for (size_t i = 0; i < tab->n_buckets; i++) {
        struct porttab_entry *e = tab->buckets[i];
        while (e) {
            struct porttab_entry *next = e->next;
            porttab_entry_free(e);
            e = next;
        }
    }
    free(tab->buckets);
    memset(tab, 0, sizeof *tab);
}

static struct porttab_entry **
porttab_slot(const struct porttab *tab, const char *name)
{
    if (!tab->n_buckets) {
        return NULL;
    }
    return &tab->buckets[porttab_hash(name) & (tab->n_buckets - 1)];
}

/* The link that points at the entry called 'name', or NULL. Returning the
 * link rather than the entry lets callers unlink without a second walk. */
static struct porttab_entry **
porttab_link(const struct porttab *tab, const char *name)
{
    struct porttab_entry **link = porttab_slot(tab, name);

    while (link && *link) {
        if (!strcmp((*link)->ovsdb.name, name)) {
            return link;
        }
        link = &(*link)->next;
    }
    return NULL;
}

const struct porttab_entry *
porttab_find(const struct porttab *tab, const char *name)
{
    struct porttab_entry **link = name ? porttab_link(tab, name) : NULL;

    return link ? *link : NULL;
}

size_t
porttab_count(const struct porttab *tab)
{
    return tab->count;
}

/* Doubles the bucket array. A failed allocation is not an error: chains get
 * longer, lookups slower, and nothing is lost. */
static void
porttab_grow(struct porttab *tab)
{
    size_t n = tab->n_buckets ? tab->n_buckets * 2 : PORTTAB_MIN_BUCKETS;
    struct porttab_entry **buckets;

    if (n < tab->n_buckets || n > SIZE_MAX / sizeof *buckets) {
        return;
    }
    buckets = calloc(n, sizeof *buckets);
    if (!buckets) {
        return;
    }
    for (size_t i = 0; i < tab->n_buckets; i++) {
        struct porttab_entry *e = tab->buckets[i];
        while (e) {
            struct porttab_entry *next = e->next;
            size_t b = porttab_hash(e->ovsdb.name) & (n - 1);
            e->next = buckets[b];
            buckets[b] = e;
            e = next;
        }
    }
    free(tab->buckets);
    tab->buckets = buckets;
    tab->n_buckets = n;
}

/* Links a new entry in. Only the very first bucket array can fail to
 * appear, and then there is nowhere to put the entry. */
static int
porttab_insert(struct porttab *tab, struct porttab_entry *e)
{
    if (tab->count >= tab->n_buckets) {
        porttab_grow(tab);
    }
    if (!tab->n_buckets) {
        return ENOMEM;
    }
    struct porttab_entry **slot = porttab_slot(tab, e->ovsdb.name);
    e->next = *slot;
    *slot = e;
    tab->count++;
    return 0;
}

static void
porttab_unlink(struct porttab *tab, struct porttab_entry **link)
{
    struct porttab_entry *e = *link;

    *link = e->next;
    e->next = NULL;
    tab->count--;
}

/* Builds the effective info of an entry from its parts into *out (which is
 * initialised here). Returns 0 or ENOMEM, with *out left empty on error. */
static int
porttab_compute_effective(const struct port_info *ovsdb,
                          const struct ctf_prefix_list *control_ips,
                          bool has_control_ips, bool has_control_zone, uint16_t control_zone,
                          struct port_info *out)
{
    int err;

    port_info_init(out);
    err = port_info_copy(out, ovsdb);
    if (!err && has_control_ips) {
        err = ctf_prefix_list_copy(&out->ips, control_ips);
        out->ip_source = PORT_IP_CONTROL;
    }
    if (!err && has_control_zone) {
        out->has_zone = true;
        out->zone = control_zone;
        out->zone_source = PORT_ZONE_CONTROL;
    }
    if (err) {
        port_info_destroy(out);
        port_info_init(out);
    }
    return err;
}

/* A new entry holding only a name: the OVSDB part of a control-only entry
 * until OVSDB shows the port. */
static struct porttab_entry *
porttab_entry_new(const char *name)
{
    struct porttab_entry *e = calloc(1, sizeof *e);

    if (!e) {
        return NULL;
    }
    port_info_init(&e->ovsdb);
    port_info_init(&e->effective);
    e->ovsdb.name = strdup(name);
    if (!e->ovsdb.name) {
        free(e);
        return NULL;
    }
    return e;
}

static void
porttab_change_init(struct porttab_change *change)
{
    if (change) {
        change->is_new = false;
        change->target_changed = false;
        port_info_init(&change->old);
    }
}

/* Fills *change from an entry's previous effective info (moved in, NULL for
 * an entry that did not exist) and its new one. The "no entry" case compares
 * against an empty target, so a first sighting with IPs is a change. */
static void
porttab_change_fill(struct porttab_change *change, bool is_new,
                    struct port_info *old, const struct port_info *now)
{
    struct port_info none;

    if (!change) {
        if (old) {
            port_info_destroy(old);
            port_info_init(old);
        }
        return;
    }
    change->is_new = is_new;
    if (old) {
        change->target_changed = !port_info_same_flush_target(old, now);
        change->old = *old;
        port_info_init(old);
    } else {
        port_info_init(&none);
        change->target_changed = !port_info_same_flush_target(&none, now);
        port_info_destroy(&none);
    }
}

int
porttab_update(struct porttab *tab, const struct port_info *info,
               struct porttab_change *change)
{
    struct porttab_entry **link;
    struct porttab_entry *e;
    struct port_info ovsdb, effective;
    int err;

    porttab_change_init(change);
    if (!info->name) {
        return EINVAL;
    }
    port_info_init(&ovsdb);
    err = port_info_copy(&ovsdb, info);
    if (err) {
        port_info_destroy(&ovsdb);
        return err;
    }

    link = porttab_link(tab, info->name);
    if (!link) {
        e = porttab_entry_new(info->name);
        if (!e) {
            port_info_destroy(&ovsdb);
            return ENOMEM;
        }
        err = porttab_compute_effective(&ovsdb, NULL, false, false, 0, &e->effective);
        if (!err) {
            err = porttab_insert(tab, e);
        }
        if (err) {
            port_info_destroy(&ovsdb);
            porttab_entry_free(e);
            return err;
        }
        port_info_destroy(&e->ovsdb);
        e->ovsdb = ovsdb;
        e->in_ovsdb = true;
        e->appeared_live = !tab->in_sync;
        e->seen_in_sync = tab->in_sync;
        porttab_change_fill(change, true, NULL, &e->effective);
        return 0;
    }

    /* Build everything before touching the entry, so that running out of
     * memory leaves it as it was. */
    e = *link;
    err = porttab_compute_effective(&ovsdb, &e->control_ips, e->has_control_ips,
                                    e->has_control_zone, e->control_zone, &effective);
    if (err) {
        port_info_destroy(&ovsdb);
        return err;
    }
    bool was_in_ovsdb = e->in_ovsdb;
    if (!was_in_ovsdb) {
        e->appeared_live = !tab->in_sync;
    }
    struct port_info old = e->effective;

    port_info_destroy(&e->ovsdb);
    e->ovsdb = ovsdb;
    e->effective = effective;
    e->in_ovsdb = true;
    if (tab->in_sync) {
        e->seen_in_sync = true;
    }
    porttab_change_fill(change, !was_in_ovsdb, &old, &e->effective);
    port_info_destroy(&old);
    return 0;
}

int
porttab_remove(struct porttab *tab, const char *name, struct port_info *old)
{
    struct porttab_entry **link = name ? porttab_link(tab, name) : NULL;
    struct porttab_entry *e;

    if (old) {
        port_info_init(old);
    }
    if (!link || !(*link)->in_ovsdb) {
        return ENOENT;
    }
    e = *link;
    porttab_unlink(tab, link);
    if (old) {
        *old = e->effective;
        port_info_init(&e->effective);
    }
    porttab_entry_free(e);
    return 0;
}

int
porttab_set_control(struct porttab *tab, const char *name, const struct porttab_control *c,
                     struct porttab_change *change)
{
    struct porttab_entry **link;
    struct porttab_entry *e;
    struct ctf_prefix_list control;
    struct port_info effective;
    bool has = c->ips && c->ips->n > 0;
    int err;

    porttab_change_init(change);
    if (!name) {
        return EINVAL;
    }
    link = porttab_link(tab, name);
    if (!link) {
        if (!has && !c->has_zone) {
            return 0;           /* Clearing what was never set. */
        }
        e = porttab_entry_new(name);
        if (!e) {
            return ENOMEM;
        }
        err = has ? ctf_prefix_list_copy(&e->control_ips, c->ips) : 0;
        e->has_control_ips = has;
        e->has_control_zone = c->has_zone;
        e->control_zone = c->has_zone ? c->zone : 0;
        e->migrating = c->migrating;
        if (!err) {
            err = porttab_compute_effective(&e->ovsdb, &e->control_ips, has, e->has_control_zone,
                                            e->control_zone, &e->effective);
        }
        if (!err) {
            err = porttab_insert(tab, e);
        }
        if (err) {
            porttab_entry_free(e);
            return err;
        }
        porttab_change_fill(change, true, NULL, &e->effective);
        return 0;
    }

    e = *link;
    if (!has && !c->has_zone && !e->in_ovsdb) {
        /* A control-only entry that overrides nothing stands for nothing. */
        struct port_info old = e->effective;

        port_info_init(&e->effective);
        port_info_init(&effective);
        porttab_unlink(tab, link);
        porttab_entry_free(e);
        porttab_change_fill(change, true, &old, &effective);
        port_info_destroy(&old);
        return 0;
    }

    memset(&control, 0, sizeof control);
    if (has) {
        err = ctf_prefix_list_copy(&control, c->ips);
        if (err) {
            ctf_prefix_list_destroy(&control);
            return err;
        }
    }
    uint16_t zone = c->has_zone ? c->zone : 0;
    err = porttab_compute_effective(&e->ovsdb, &control, has, c->has_zone, zone, &effective);
    if (err) {
        ctf_prefix_list_destroy(&control);
        return err;
    }
    struct port_info old = e->effective;

    ctf_prefix_list_destroy(&e->control_ips);
    e->control_ips = control;
    e->has_control_ips = has;
    e->has_control_zone = c->has_zone;
    e->control_zone = zone;
    e->migrating = c->migrating;
    e->effective = effective;
    porttab_change_fill(change, !e->in_ovsdb, &old, &e->effective);
    port_info_destroy(&old);
    return 0;
}

void
porttab_sync_begin(struct porttab *tab)
{
    for (size_t i = 0; i < tab->n_buckets; i++) {
        for (struct porttab_entry *e = tab->buckets[i]; e; e = e->next) {
            e->seen_in_sync = false;
        }
    }
    tab->in_sync = true;
}

size_t
porttab_holders(const struct porttab *tab, const struct ctf_prefix *p, bool has_zone,
                uint16_t zone, const char *except, porttab_holder_fn *fn, void *aux)
{
    size_t n = 0;

    for (size_t i = 0; i < tab->n_buckets; i++) {
        for (const struct porttab_entry *e = tab->buckets[i]; e; e = e->next) {
            const struct port_info *pi = &e->effective;
            if ((except && !strcmp(pi->name, except))
                || (has_zone && pi->has_zone && pi->zone != zone)) {
                continue;
            }
            for (size_t k = 0; k < pi->ips.n; k++) {
                if (ctf_prefix_overlaps(&pi->ips.items[k], p)) {
                    n++;
                    if (fn && !fn(e, aux)) {
                        return n;
                    }
                    break;
                }
            }
        }
    }
    return n;
}

void
porttab_sync_abort(struct porttab *tab)
{
    tab->in_sync = false;
}

void
porttab_sync_end(struct porttab *tab, porttab_gone_fn *gone_fn, void *aux)
{
    struct porttab_entry *gone = NULL;

    /* An end without a begin would find nothing marked and flush every VM
     * of the host: ignore it. */
    if (!tab->in_sync) {
        return;
    }
    tab->in_sync = false;

    /* Unlink first and report after, so that gone_fn may use the table. */
    for (size_t i = 0; i < tab->n_buckets; i++) {
        struct porttab_entry **link = &tab->buckets[i];
        while (*link) {
            struct porttab_entry *e = *link;
            if (e->in_ovsdb && !e->seen_in_sync) {
                porttab_unlink(tab, link);
                e->next = gone;
                gone = e;
            } else {
                link = &e->next;
            }
        }
    }
    while (gone) {
        struct porttab_entry *e = gone;
        struct port_info info = e->effective;

        gone = e->next;
        port_info_init(&e->effective);
        porttab_entry_free(e);
        if (gone_fn) {
            gone_fn(&info, aux);
        } else {
            port_info_destroy(&info);
        }
    }
}

int
porttab_restore(struct porttab *tab, const struct port_info *ovsdb, bool in_ovsdb,
                const struct porttab_control *c)
{
    const struct ctf_prefix_list *control_ips = c ? c->ips : NULL;
    struct porttab_entry *e;
    int err;

    if (!ovsdb->name) {
        return EINVAL;
    }
    if (porttab_link(tab, ovsdb->name)) {
        return EEXIST;
    }
    /* An empty operator list means "none", as in set_control_ips. */
    bool has_control_ips = control_ips && control_ips->n > 0;

    e = porttab_entry_new(ovsdb->name);
    if (!e) {
        return ENOMEM;
    }
    port_info_destroy(&e->ovsdb);
    port_info_init(&e->ovsdb);
    err = port_info_copy(&e->ovsdb, ovsdb);
    if (!err && has_control_ips) {
        err = ctf_prefix_list_copy(&e->control_ips, control_ips);
    }
    if (!err) {
        e->has_control_ips = has_control_ips;
        e->has_control_zone = c && c->has_zone;
        e->control_zone = e->has_control_zone ? c->zone : 0;
        e->migrating = c && c->migrating;
        e->in_ovsdb = in_ovsdb;
        err = porttab_compute_effective(&e->ovsdb, &e->control_ips, has_control_ips,
                                        e->has_control_zone, e->control_zone, &e->effective);
    }
    if (!err) {
        err = porttab_insert(tab, e);
    }
    if (err) {
        porttab_entry_free(e);
    }
    return err;
}

static int
porttab_cmp_name(const void *a_, const void *b_)
{
    const struct porttab_entry *const *a = a_;
    const struct porttab_entry *const *b = b_;

    return strcmp((*a)->ovsdb.name, (*b)->ovsdb.name);
}

const struct porttab_entry **
porttab_sorted(const struct porttab *tab, size_t *n)
{
    const struct porttab_entry **v;
    size_t k = 0;

    *n = 0;
    if (!tab->count) {
        return NULL;
    }
    v = malloc(tab->count * sizeof *v);
    if (!v) {
        return NULL;
    }
    for (size_t i = 0; i < tab->n_buckets; i++) {
        for (const struct porttab_entry *e = tab->buckets[i]; e; e = e->next) {
            v[k++] = e;
        }
    }
    qsort(v, k, sizeof *v, porttab_cmp_name);
    *n = k;
    return v;
}
