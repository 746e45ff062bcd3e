/*
 * port.c: struct port_info, its comparisons, names and wire encoding.
 */
#include "portinfo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const port_ip_source_names[] = {
    [PORT_IP_NONE] = "none",
    [PORT_IP_INTERFACE] = "interface",
    [PORT_IP_PORT] = "port",
    [PORT_IP_CONTROL] = "control",
};

static const char *const port_zone_source_names[] = {
    [PORT_ZONE_NONE] = "none",
    [PORT_ZONE_OVN] = "ovn",
    [PORT_ZONE_EXTERNAL_ID] = "external-id",
    [PORT_ZONE_VLAN_TAG] = "vlan-tag",
    [PORT_ZONE_CONTROL] = "control",
};

#define PORT_N_IP_SOURCES \
    (sizeof port_ip_source_names / sizeof *port_ip_source_names)
#define PORT_N_ZONE_SOURCES \
    (sizeof port_zone_source_names / sizeof *port_zone_source_names)

/* Up to this many addresses per side, IP sets are compared pairwise; past
 * it, sorted copies keep a large set from costing n * m comparisons. */
#define PORT_SMALL_SET 16

void
port_info_init(struct port_info *pi)
{
    memset(pi, 0, sizeof *pi);
    pi->ofport = -1;
}

void
port_info_destroy(struct port_info *pi)
{
    if (pi) {
        free(pi->name);
        free(pi->iface_id);
        free(pi->bridge);
        ctf_prefix_list_destroy(&pi->ips);
        port_info_init(pi);
    }
}

/* strdup that keeps NULL as NULL; sets *err on allocation failure. */
static char *
port_strdup(const char *s, int *err)
{
    if (!s) {
        return NULL;
    }
    char *copy = strdup(s);
    if (!copy) {
        *err = ENOMEM;
    }
    return copy;
}

/* dst is overwritten, not freed first (as flush_job_copy does); on failure
 * it is left empty, as after port_info_init. */
int
port_info_copy(struct port_info *dst, const struct port_info *src)
{
    int err = 0;

    port_info_init(dst);
    dst->name = port_strdup(src->name, &err);
    dst->iface_id = port_strdup(src->iface_id, &err);
    dst->bridge = port_strdup(src->bridge, &err);
    dst->ofport = src->ofport;
    if (!err) {
        err = ctf_prefix_list_copy(&dst->ips, &src->ips);
    }
    dst->ip_source = src->ip_source;
    dst->has_zone = src->has_zone;
    dst->zone = src->zone;
    dst->zone_source = src->zone_source;
    dst->datapath = src->datapath;
    if (err) {
        port_info_destroy(dst);
    }
    return err;
}

static bool
port_list_has(const struct ctf_prefix_list *l, const struct ctf_prefix *p)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!ctf_prefix_cmp(&l->items[i], p)) {
            return true;
        }
    }
    return false;
}

static int
port_prefix_qsort_cmp(const void *a, const void *b)
{
    return ctf_prefix_cmp(a, b);
}

/* A sorted copy of l with duplicates removed, or NULL (with *n 0 and
 * ENOMEM) when l is large and memory is short. */
static struct ctf_prefix *
port_sorted_set(const struct ctf_prefix_list *l, size_t *n)
{
    struct ctf_prefix *v = malloc(l->n * sizeof *v);
    size_t k = 0;

    if (!v) {
        *n = 0;
        return NULL;
    }
    memcpy(v, l->items, l->n * sizeof *v);
    qsort(v, l->n, sizeof *v, port_prefix_qsort_cmp);
    for (size_t i = 0; i < l->n; i++) {
        if (!k || ctf_prefix_cmp(&v[k - 1], &v[i])) {
            v[k++] = v[i];
        }
    }
    *n = k;
    return v;
}

/* Set equality: the same addresses, in any order, duplicates ignored (an
 * operator listing an address twice has not named a different VM). */
static bool
port_ip_sets_equal(const struct ctf_prefix_list *a, const struct ctf_prefix_list *b)
{
    if (!a->n || !b->n) {
        return a->n == b->n;
    }
    if (a->n > PORT_SMALL_SET || b->n > PORT_SMALL_SET) {
        size_t na, nb;
        struct ctf_prefix *sa = port_sorted_set(a, &na);
        struct ctf_prefix *sb = sa ? port_sorted_set(b, &nb) : NULL;

        if (sa && sb) {
            bool same = na == nb;
            for (size_t i = 0; same && i < na; i++) {
                same = !ctf_prefix_cmp(&sa[i], &sb[i]);
            }
            free(sa);
            free(sb);
            return same;
        }
        /* Out of memory: the pairwise walk below is slow but still right. */
        free(sa);
    }
    for (size_t i = 0; i < a->n; i++) {
        if (!port_list_has(b, &a->items[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        if (!port_list_has(a, &b->items[i])) {
            return false;
        }
    }
    return true;
}

bool
port_info_same_flush_target(const struct port_info *a, const struct port_info *b)
{
    if (a->has_zone != b->has_zone || (a->has_zone && a->zone != b->zone)
        || a->datapath != b->datapath) {
        return false;
    }
    return port_ip_sets_equal(&a->ips, &b->ips);
}

const char *
port_info_vm_key(const struct port_info *pi)
{
    return pi->iface_id && *pi->iface_id ? pi->iface_id : pi->name;
}

const char *
port_ip_source_name(enum port_ip_source s)
{
    return (unsigned int) s < PORT_N_IP_SOURCES ? port_ip_source_names[s] : "?";
}

const char *
port_zone_source_name(enum port_zone_source s)
{
    return (unsigned int) s < PORT_N_ZONE_SOURCES ? port_zone_source_names[s] : "?";
}

int
port_ip_source_parse(const char *s, enum port_ip_source *out)
{
    for (size_t i = 0; s && i < PORT_N_IP_SOURCES; i++) {
        if (!strcmp(s, port_ip_source_names[i])) {
            *out = (enum port_ip_source) i;
            return 0;
        }
    }
    return EINVAL;
}

int
port_zone_source_parse(const char *s, enum port_zone_source *out)
{
    for (size_t i = 0; s && i < PORT_N_ZONE_SOURCES; i++) {
        if (!strcmp(s, port_zone_source_names[i])) {
            *out = (enum port_zone_source) i;
            return 0;
        }
    }
    return EINVAL;
}

void
wbuf_put_port_info(struct wbuf *b, const struct port_info *pi)
{
    wbuf_put_str(b, pi->name);
    wbuf_put_str(b, pi->iface_id);
    wbuf_put_str(b, pi->bridge);
    wbuf_put_u64(b, (uint64_t) pi->ofport);
    wbuf_put_prefix_list(b, &pi->ips);
    wbuf_put_u32(b, (uint32_t) pi->ip_source);
    wbuf_put_u8(b, pi->has_zone);
    wbuf_put_u16(b, pi->zone);
    wbuf_put_u32(b, (uint32_t) pi->zone_source);
    wbuf_put_u8(b, (uint8_t) pi->datapath);
}

void
rbuf_get_port_info(struct rbuf *r, struct port_info *pi)
{
    uint32_t ip_source, zone_source;
    uint8_t has_zone, datapath;

    /* Whatever an earlier fill left is replaced, not leaked. */
    free(pi->name);
    free(pi->iface_id);
    free(pi->bridge);
    ctf_prefix_list_clear(&pi->ips);

    pi->name = rbuf_get_str(r);
    pi->iface_id = rbuf_get_str(r);
    pi->bridge = rbuf_get_str(r);
    pi->ofport = (int64_t) rbuf_get_u64(r);
    rbuf_get_prefix_list(r, &pi->ips);
    ip_source = rbuf_get_u32(r);
    has_zone = rbuf_get_u8(r);
    pi->zone = rbuf_get_u16(r);
    zone_source = rbuf_get_u32(r);
    datapath = rbuf_get_u8(r);

    /* The enums are range-checked before they are stored: their names are
     * looked up by value. */
    if (ip_source >= PORT_N_IP_SOURCES || zone_source >= PORT_N_ZONE_SOURCES
        || has_zone > 1 || datapath >= FLUSH_DATAPATH_COUNT) {
        r->err = true;
        ip_source = PORT_IP_NONE;
        zone_source = PORT_ZONE_NONE;
        has_zone = 0;
        datapath = FLUSH_DATAPATH_KERNEL;
    }
    pi->datapath = (enum flush_datapath) datapath;
    pi->ip_source = (enum port_ip_source) ip_source;
    pi->zone_source = (enum port_zone_source) zone_source;
    pi->has_zone = has_zone;
    if (!pi->name || !*pi->name) {
        r->err = true;          /* The name is the key everywhere. */
    }
}
