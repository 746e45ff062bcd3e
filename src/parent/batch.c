/*
 * batch.c: the batch window. Events are kept in arrival order in a flat
 * array: a window holds at most a few thousand ports, and a linear scan per
 * event is cheaper than keeping an index in step with re-plug cancellation.
 */
#include "batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
batch_init(struct batch *b, unsigned int window_ms)
{
    memset(b, 0, sizeof *b);
    b->window_ms = window_ms;
}

static void
batch_clear_events(struct batch *b)
{
    for (size_t i = 0; i < b->n_events; i++) {
        port_info_destroy(&b->events[i].port);
    }
    b->n_events = 0;
    b->deadline_ms = 0;
}

void
batch_destroy(struct batch *b)
{
    if (b) {
        batch_clear_events(b);
        free(b->events);
        b->events = NULL;
        b->cap_events = 0;
    }
}

static void
batch_drop_event(struct batch *b, size_t i)
{
    port_info_destroy(&b->events[i].port);
    memmove(&b->events[i], &b->events[i + 1],
            (b->n_events - i - 1) * sizeof *b->events);
    b->n_events--;
    if (!b->n_events) {
        b->deadline_ms = 0;     /* Nothing left: the next event opens a window. */
    }
}

static bool
batch_same_vm(const struct port_info *a, const struct port_info *b)
{
    const char *ka = port_info_vm_key(a);
    const char *kb = port_info_vm_key(b);

    return ka && kb && !strcmp(ka, kb);
}

/* The same zone of the same table: a zone of ovs-vswitchd's table and the
 * kernel zone of that number are unrelated. */
static bool
batch_same_zone(const struct port_info *a, const struct port_info *b)
{
    return a->datapath == b->datapath && a->has_zone == b->has_zone
           && (!a->has_zone || a->zone == b->zone);
}

/* Drops from *a every prefix that b has; returns how many went. */
static size_t
batch_ips_subtract(struct ctf_prefix_list *a, const struct ctf_prefix_list *b)
{
    size_t k = 0;

    for (size_t i = 0; i < a->n; i++) {
        bool drop = false;
        for (size_t j = 0; j < b->n && !drop; j++) {
            drop = !ctf_prefix_cmp(&a->items[i], &b->items[j]);
        }
        if (!drop) {
            a->items[k++] = a->items[i];
        }
    }
    size_t gone = a->n - k;
    a->n = k;
    return gone;
}

/* Adds to *dst the prefixes of src it lacks. Returns 0 or ENOMEM. */
static int
batch_ips_union(struct ctf_prefix_list *dst, const struct ctf_prefix_list *src)
{
    for (size_t i = 0; i < src->n; i++) {
        bool have = false;
        for (size_t j = 0; j < dst->n && !have; j++) {
            have = !ctf_prefix_cmp(&src->items[i], &dst->items[j]);
        }
        if (!have && ctf_prefix_list_add(dst, &src->items[i])) {
            return ENOMEM;
        }
    }
    return 0;
}

/* 'port' is back as the same VM: the IPs it holds again leave its pending
 * removals in the same zone (a removal left empty is dropped), and are
 * added to *taken when taken is given. Two ports can share a VM key while
 * OVSDB catches up with a rename; the VM is back either way, so none of
 * them may flush what it holds. Returns the number of removals touched. */
static size_t
batch_take_back(struct batch *b, const struct port_info *port, struct ctf_prefix_list *taken)
{
    size_t n = 0;

    for (size_t i = 0; i < b->n_events;) {
        struct batch_event *ev = &b->events[i];
        if (ev->kind != BATCH_REMOVE || !batch_same_vm(&ev->port, port)
            || !batch_same_zone(&ev->port, port)) {
            i++;
            continue;
        }
        size_t before = ev->port.ips.n;
        if (taken) {
            for (size_t k = 0; k < ev->port.ips.n; k++) {
                for (size_t j = 0; j < port->ips.n; j++) {
                    if (!ctf_prefix_cmp(&ev->port.ips.items[k], &port->ips.items[j])) {
                        /* Out of memory only makes the add flush more. */
                        (void) ctf_prefix_list_add(taken, &port->ips.items[j]);
                    }
                }
            }
        }
        if (!batch_ips_subtract(&ev->port.ips, &port->ips)) {
            i++;
            continue;
        }
        n++;
        if (before && !ev->port.ips.n) {
            batch_drop_event(b, i);
        } else {
            i++;
        }
    }
    b->replugs_cancelled += n;
    return n;
}

bool
batch_cancel_removal(struct batch *b, const struct port_info *port)
{
    return batch_take_back(b, port, NULL) > 0;
}

int
batch_add(struct batch *b, enum batch_kind kind, const struct port_info *port,
          uint64_t now_ms, bool *replug)
{
    struct port_info copy;
    int err;

    if (replug) {
        *replug = false;
    }
    if (!port->name || !port->ips.n) {
        return 0;               /* Nothing to flush. */
    }

    port_info_init(&copy);
    err = port_info_copy(&copy, port);
    if (err) {
        port_info_destroy(&copy);
        return err;
    }
    if (kind == BATCH_ADD) {
        /* What the same VM takes back from its pending removal is neither
         * flushed as removed nor as added: it is a re-plug. */
        struct ctf_prefix_list taken;
        memset(&taken, 0, sizeof taken);
        if (batch_take_back(b, port, &taken)) {
            if (replug) {
                *replug = true;
            }
            batch_ips_subtract(&copy.ips, &taken);
        }
        ctf_prefix_list_destroy(&taken);
        if (!copy.ips.n) {
            port_info_destroy(&copy);
            return 0;
        }
    }

    /* A second event of the same port, kind and zone adds its IPs to the
     * first: a port that loses one IP and then another (or then leaves)
     * within one window owes the flush of both. */
    for (size_t i = 0; i < b->n_events; i++) {
        struct batch_event *ev = &b->events[i];
        if (ev->kind == kind && !strcmp(ev->port.name, port->name)
            && batch_same_zone(&ev->port, port)) {
            err = batch_ips_union(&ev->port.ips, &copy.ips);
            port_info_destroy(&copy);
            return err;
        }
    }

    if (b->n_events == b->cap_events) {
        size_t cap = b->cap_events ? b->cap_events * 2 : 16;
        struct batch_event *events = NULL;

        if (cap <= SIZE_MAX / sizeof *events) {
            events = realloc(b->events, cap * sizeof *events);
        }
        if (!events) {
            port_info_destroy(&copy);
            return ENOMEM;
        }
        b->events = events;
        b->cap_events = cap;
    }
    if (!b->n_events) {
        /* Zero means "no window", so a window never closes at time zero. */
        b->deadline_ms = now_ms + b->window_ms;
        if (!b->deadline_ms) {
            b->deadline_ms = 1;
        }
    }
    b->events[b->n_events].kind = kind;
    b->events[b->n_events].port = copy;
    b->n_events++;
    return 0;
}

int
batch_filter(struct batch *b, batch_keep_fn *keep, void *aux)
{
    size_t total = 0;

    for (size_t i = 0; i < b->n_events; i++) {
        total += b->events[i].port.ips.n;
    }
    if (!total) {
        return 0;
    }
    bool *verdict = malloc(total * sizeof *verdict);
    if (!verdict) {
        return ENOMEM;
    }
    /* Every verdict first, on the batch as it is: whether one event's
     * address stays may depend on another event's. */
    size_t k = 0;
    for (size_t i = 0; i < b->n_events; i++) {
        const struct batch_event *ev = &b->events[i];
        for (size_t j = 0; j < ev->port.ips.n; j++) {
            verdict[k++] = keep(b, ev, &ev->port.ips.items[j], aux);
        }
    }
    uint64_t deadline = b->deadline_ms;
    k = 0;
    for (size_t i = 0; i < b->n_events;) {
        struct ctf_prefix_list *ips = &b->events[i].port.ips;
        size_t kept = 0;
        for (size_t j = 0; j < ips->n; j++) {
            if (verdict[k++]) {
                ips->items[kept++] = ips->items[j];
            }
        }
        ips->n = kept;
        if (!kept) {
            batch_drop_event(b, i);
        } else {
            i++;
        }
    }
    free(verdict);
    if (b->n_events) {
        b->deadline_ms = deadline;
    }
    return 0;
}

uint64_t
batch_deadline(const struct batch *b)
{
    return b->n_events ? b->deadline_ms : 0;
}

size_t
batch_pending(const struct batch *b)
{
    return b->n_events;
}

/* Sorting context: qsort has no aux pointer, so events are sorted as
 * (event pointer, arrival index) pairs. */
struct batch_ref {
    const struct batch_event *ev;
    size_t index;
};

static int
batch_ref_cmp(const void *a_, const void *b_)
{
    const struct batch_ref *a = a_;
    const struct batch_ref *b = b_;
    const struct port_info *pa = &a->ev->port;
    const struct port_info *pb = &b->ev->port;

    if (a->ev->kind != b->ev->kind) {
        return a->ev->kind == BATCH_REMOVE ? -1 : 1;
    }
    if (pa->datapath != pb->datapath) {
        return pa->datapath < pb->datapath ? -1 : 1;    /* The kernel's first. */
    }
    if (pa->has_zone != pb->has_zone) {
        return pa->has_zone ? 1 : -1;   /* No zone first. */
    }
    if (pa->has_zone && pa->zone != pb->zone) {
        return pa->zone < pb->zone ? -1 : 1;
    }
    return a->index < b->index ? -1 : a->index > b->index;
}

static bool
batch_same_group(const struct batch_event *a, const struct batch_event *b)
{
    return a->kind == b->kind && batch_same_zone(&a->port, &b->port);
}

/* Builds one group from refs[0..n), which share kind and zone. */
static int
batch_group_build(struct batch_group *g, const struct batch_ref *refs, size_t n)
{
    const struct port_info *first = &refs[0].ev->port;
    struct flush_job *job = &g->job;
    int err = 0;

    memset(g, 0, sizeof *g);
    flush_job_init(job);
    g->kind = refs[0].ev->kind;
    job->peers_any = true;
    job->has_zone = first->has_zone;
    job->zone = first->has_zone ? first->zone : 0;
    job->datapath = first->datapath;

    g->ports = calloc(n, sizeof *g->ports);
    if (!g->ports) {
        return ENOMEM;
    }
    for (size_t i = 0; i < n && !err; i++) {
        const struct port_info *p = &refs[i].ev->port;

        g->ports[i] = strdup(p->name);
        if (!g->ports[i]) {
            err = ENOMEM;
            break;
        }
        g->n_ports++;
        for (size_t k = 0; k < p->ips.n && !err; k++) {
            err = ctf_prefix_list_add(&job->local, &p->ips.items[k]);
        }
    }
    if (err) {
        return err;
    }

    /* Sorted and deduplicated: two ports may carry the same address while
     * OVSDB catches up with a move. */
    ctf_prefix_list_sort_unique(&job->local);
    return 0;
}

static void
batch_group_destroy(struct batch_group *g)
{
    flush_job_destroy(&g->job);
    for (size_t i = 0; i < g->n_ports; i++) {
        free(g->ports[i]);
    }
    free(g->ports);
}

int
batch_take(struct batch *b, uint64_t now_ms, bool force,
           struct batch_group **groups_out, size_t *n_out)
{
    struct batch_group *groups = NULL;
    struct batch_ref *refs;
    size_t n_groups = 0;
    int err = 0;

    *groups_out = NULL;
    *n_out = 0;
    if (!b->n_events || (!force && now_ms < b->deadline_ms)) {
        return 0;
    }

    refs = malloc(b->n_events * sizeof *refs);
    if (!refs) {
        return ENOMEM;
    }
    for (size_t i = 0; i < b->n_events; i++) {
        refs[i].ev = &b->events[i];
        refs[i].index = i;
    }
    qsort(refs, b->n_events, sizeof *refs, batch_ref_cmp);

    /* Count the groups (runs of equal keys) to size the array. */
    size_t max_groups = 1;
    for (size_t i = 1; i < b->n_events; i++) {
        if (!batch_same_group(refs[i - 1].ev, refs[i].ev)) {
            max_groups++;
        }
    }
    groups = calloc(max_groups, sizeof *groups);
    if (!groups) {
        free(refs);
        return ENOMEM;
    }
    for (size_t start = 0; start < b->n_events && !err;) {
        size_t end = start + 1;

        while (end < b->n_events && batch_same_group(refs[start].ev, refs[end].ev)) {
            end++;
        }
        err = batch_group_build(&groups[n_groups], &refs[start], end - start);
        n_groups++;
        start = end;
    }
    free(refs);
    if (err) {
        batch_groups_free(groups, n_groups);
        return err;
    }

    batch_clear_events(b);
    *groups_out = groups;
    *n_out = n_groups;
    return 0;
}

void
batch_groups_free(struct batch_group *groups, size_t n)
{
    for (size_t i = 0; groups && i < n; i++) {
        batch_group_destroy(&groups[i]);
    }
    free(groups);
}
