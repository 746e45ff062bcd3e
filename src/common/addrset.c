/*
 * addrset.c: prefix sets for the matcher's hot path.
 *
 * The dump path tests two to four addresses per conntrack entry, millions of
 * times per job, so lookups avoid pointers and branches where they can: one
 * flat table of (family, address) slots per prefix length, linear probing,
 * load kept under 1/2.
 */
#include "addrset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct addrset_slot {
    union ctf_inaddr addr;      /* Masked to the table's prefix length. */
    uint8_t used;
    uint8_t family;             /* AF_INET or AF_INET6 (fits in a byte). */
};

static inline int
fam_index(int family)
{
    return family == AF_INET6;
}

static inline bool
slot_eq(const struct addrset_slot *s, int family, const union ctf_inaddr *a)
{
    if (s->family != family) {
        return false;
    }
    if (family == AF_INET) {
        return s->addr.w[0] == a->w[0];
    }
    return !memcmp(&s->addr, a, 16);
}

static bool
table_lookup(const struct addrset_table *t, int family, const union ctf_inaddr *a)
{
    if (!t->count) {
        return false;
    }
    for (size_t i = ctf_inaddr_hash(family, a) & t->mask;; i = (i + 1) & t->mask) {
        const struct addrset_slot *s = &t->slots[i];
        if (!s->used) {
            return false;
        }
        if (slot_eq(s, family, a)) {
            return true;
        }
    }
}

static void
table_put(struct addrset_table *t, int family, const union ctf_inaddr *a)
{
    for (size_t i = ctf_inaddr_hash(family, a) & t->mask;; i = (i + 1) & t->mask) {
        struct addrset_slot *s = &t->slots[i];
        if (!s->used) {
            s->used = 1;
            s->family = (uint8_t) family;
            s->addr = *a;
            t->count++;
            return;
        }
        if (slot_eq(s, family, a)) {
            return;
        }
    }
}

static int
table_grow(struct addrset_table *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 16;
    struct addrset_table bigger = { calloc(cap, sizeof(struct addrset_slot)), cap - 1, 0 };

    if (!bigger.slots) {
        return ENOMEM;
    }
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        if (t->slots[i].used) {
            table_put(&bigger, t->slots[i].family, &t->slots[i].addr);
        }
    }
    free(t->slots);
    *t = bigger;
    return 0;
}

/* Adds a; returns 0 (added or already there) or ENOMEM; *added says which. */
static int
table_add(struct addrset_table *t, int family, const union ctf_inaddr *a, bool *added)
{
    *added = false;
    if (t->slots && table_lookup(t, family, a)) {
        return 0;
    }
    if (!t->slots || (t->count + 1) * 2 > t->mask + 1) {
        int err = table_grow(t);
        if (err) {
            return err;
        }
    }
    table_put(t, family, a);
    *added = true;
    return 0;
}

void
addrset_init(struct addrset *s)
{
    memset(s, 0, sizeof *s);
}

void
addrset_init_any(struct addrset *s)
{
    addrset_init(s);
    s->any = true;
}

void
addrset_destroy(struct addrset *s)
{
    if (!s) {
        return;
    }
    free(s->hosts.slots);
    for (int f = 0; f < 2; f++) {
        for (int l = 0; l <= 128; l++) {
            if (s->by_len[f][l]) {
                free(s->by_len[f][l]->slots);
                free(s->by_len[f][l]);
            }
        }
    }
    memset(s, 0, sizeof *s);
}

int
addrset_add(struct addrset *s, const struct ctf_prefix *p)
{
    int f = fam_index(p->family);
    struct addrset_table *t;
    bool added;
    int err;

    if (p->family != AF_INET && p->family != AF_INET6) {
        return EAFNOSUPPORT;
    }
    if (ctf_prefix_is_host(p)) {
        t = &s->hosts;
    } else {
        t = s->by_len[f][p->plen];
        if (!t) {
            t = calloc(1, sizeof *t);
            if (!t) {
                return ENOMEM;
            }
            s->by_len[f][p->plen] = t;
            s->lens[f][s->n_lens[f]++] = p->plen;
        }
    }
    union ctf_inaddr a = p->addr;
    ctf_inaddr_mask(p->family, &a, p->plen);
    err = table_add(t, p->family, &a, &added);
    if (err) {
        return err;
    }
    if (added) {
        s->n_members++;
        s->families |= p->family == AF_INET ? ADDRSET_HAS_V4 : ADDRSET_HAS_V6;
    }
    return 0;
}

int
addrset_add_list(struct addrset *s, const struct ctf_prefix_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        int err = addrset_add(s, &l->items[i]);
        if (err) {
            return err;
        }
    }
    return 0;
}

bool
addrset_contains(const struct addrset *s, int family, const union ctf_inaddr *a)
{
    int f = fam_index(family);

    if (s->any) {
        return true;
    }
    if (table_lookup(&s->hosts, family, a)) {
        return true;
    }
    for (unsigned int i = 0; i < s->n_lens[f]; i++) {
        unsigned int plen = s->lens[f][i];
        union ctf_inaddr m = *a;
        ctf_inaddr_mask(family, &m, plen);
        if (table_lookup(s->by_len[f][plen], family, &m)) {
            return true;
        }
    }
    return false;
}

unsigned int
addrset_families(const struct addrset *s)
{
    return s->any ? ADDRSET_HAS_V4 | ADDRSET_HAS_V6 : s->families;
}
