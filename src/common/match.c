/*
 * match.c: the entry matchers (see match.h). Both run once per dumped
 * entry, millions of times per pass: what can be decided without touching
 * an address (zone, family, protocol) is decided first, and an address is
 * looked up once per entry whatever number of ways or members read it.
 */
#include "match.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

unsigned int
match_job_ways(const struct flush_job *job)
{
    unsigned int orig = 0, reply = 0;

    if (job->direction != FLUSH_DIRECTION_INGRESS) {
        orig |= 1u << MATCH_ORIG_EGRESS;
        reply |= 1u << MATCH_REPLY_EGRESS;
    }
    if (job->direction != FLUSH_DIRECTION_EGRESS) {
        orig |= 1u << MATCH_ORIG_INGRESS;
        reply |= 1u << MATCH_REPLY_INGRESS;
    }
    return job->tuple == FLUSH_TUPLE_ORIG ? orig : orig | reply;
}

static unsigned int
family_bits(const struct flush_job *job)
{
    return (flush_job_family_ok(job, AF_INET) ? ADDRSET_HAS_V4 : 0u)
           | (flush_job_family_ok(job, AF_INET6) ? ADDRSET_HAS_V6 : 0u);
}

static inline unsigned int
entry_family_bit(const struct ct_entry *e)
{
    return e->family == AF_INET6 ? ADDRSET_HAS_V6 : ADDRSET_HAS_V4;
}

/* ---- One job. ---- */

int
job_matcher_init(struct job_matcher *m, const struct flush_job *job)
{
    int err = 0;

    memset(m, 0, sizeof *m);
    if (job->local_any) {
        addrset_init_any(&m->local);
    } else {
        addrset_init(&m->local);
        err = addrset_add_list(&m->local, &job->local);
    }
    if (job->peers_any) {
        addrset_init_any(&m->peers);
    } else {
        addrset_init(&m->peers);
        if (!err) {
            err = addrset_add_list(&m->peers, &job->peers);
        }
    }
    if (err) {
        job_matcher_destroy(m);
        return err;
    }
    m->has_zone = job->has_zone;
    m->zone = job->zone;
    m->has_mark = job->has_mark;
    m->mark = job->mark & job->mark_mask;
    m->mark_mask = job->mark_mask;
    m->ways = match_job_ways(job);
    m->families = family_bits(job);
    m->proto = job->proto;
    m->has_dport = job->has_dport;
    m->dport_lo = job->dport_lo;
    m->dport_hi = job->dport_hi;
    return 0;
}

void
job_matcher_destroy(struct job_matcher *m)
{
    if (m) {
        addrset_destroy(&m->local);
        addrset_destroy(&m->peers);
    }
}

static inline bool
pair_in(const struct job_matcher *m, int family, const union ctf_inaddr *l,
        const union ctf_inaddr *p)
{
    return addrset_contains(&m->local, family, l) && addrset_contains(&m->peers, family, p);
}

bool
job_matcher_match(const struct job_matcher *m, const struct ct_entry *e)
{
    unsigned int ways = m->ways;
    int f = e->family;

    if (m->has_zone && e->zone != m->zone) {
        return false;
    }
    if (m->has_mark && (e->mark & m->mark_mask) != m->mark) {
        return false;
    }
    if (!(m->families & entry_family_bit(e))) {
        return false;
    }
    if (m->proto && e->l4proto != m->proto) {
        return false;
    }
    if (m->has_dport
        && (!e->has_ports || e->dport < m->dport_lo || e->dport > m->dport_hi)) {
        return false;
    }
    if (((ways >> MATCH_ORIG_EGRESS) & 1) && pair_in(m, f, &e->orig.src, &e->orig.dst)) {
        return true;
    }
    if (((ways >> MATCH_ORIG_INGRESS) & 1) && pair_in(m, f, &e->orig.dst, &e->orig.src)) {
        return true;
    }
    if (!e->has_reply) {
        return false;
    }
    if (((ways >> MATCH_REPLY_INGRESS) & 1) && pair_in(m, f, &e->reply.src, &e->reply.dst)) {
        return true;
    }
    return ((ways >> MATCH_REPLY_EGRESS) & 1) && pair_in(m, f, &e->reply.dst, &e->reply.src);
}

unsigned int
job_matcher_families(const struct job_matcher *m)
{
    return addrset_families(&m->local) & addrset_families(&m->peers) & m->families;
}

/* ---- Several jobs: the combined index. ---- */

struct match_index_slot {
    union ctf_inaddr addr;          /* Masked to the table's prefix length. */
    uint8_t used;
    uint8_t family;
    uint64_t local;                 /* Members with this prefix as a local one. */
    uint64_t peers;                 /* ... as a peer. */
};

static inline bool
addr_eq(int family, const union ctf_inaddr *a, const union ctf_inaddr *b)
{
    if (family == AF_INET) {
        return a->w[0] == b->w[0];
    }
    return !memcmp(a, b, 16);
}

static struct match_index_slot *
index_find(const struct match_index_table *t, int family, const union ctf_inaddr *a)
{
    if (!t->count) {
        return NULL;
    }
    for (size_t i = ctf_inaddr_hash(family, a) & t->mask;; i = (i + 1) & t->mask) {
        struct match_index_slot *s = &t->slots[i];
        if (!s->used) {
            return NULL;
        }
        if (s->family == family && addr_eq(family, &s->addr, a)) {
            return s;
        }
    }
}

static struct match_index_slot *
index_put(struct match_index_table *t, int family, const union ctf_inaddr *a)
{
    for (size_t i = ctf_inaddr_hash(family, a) & t->mask;; i = (i + 1) & t->mask) {
        struct match_index_slot *s = &t->slots[i];
        if (!s->used) {
            s->used = 1;
            s->family = (uint8_t) family;
            s->addr = *a;
            t->count++;
            return s;
        }
        if (s->family == family && addr_eq(family, &s->addr, a)) {
            return s;
        }
    }
}

static int
index_grow(struct match_index_table *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 16;
    struct match_index_table bigger = { calloc(cap, sizeof(struct match_index_slot)), cap - 1, 0 };

    if (!bigger.slots) {
        return ENOMEM;
    }
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        const struct match_index_slot *old = &t->slots[i];
        if (old->used) {
            struct match_index_slot *s = index_put(&bigger, old->family, &old->addr);
            s->local = old->local;
            s->peers = old->peers;
        }
    }
    free(t->slots);
    *t = bigger;
    return 0;
}

/* Adds member bit to prefix p's local (or peer) bitmap. */
static int
index_add(struct match_group *g, const struct ctf_prefix *p, uint64_t bit, bool local)
{
    int f = p->family == AF_INET6;
    struct match_index_table *t;

    if (p->family != AF_INET && p->family != AF_INET6) {
        return EINVAL;
    }
    if (ctf_prefix_is_host(p)) {
        t = &g->hosts;
    } else {
        t = g->by_len[f][p->plen];
        if (!t) {
            t = calloc(1, sizeof *t);
            if (!t) {
                return ENOMEM;
            }
            g->by_len[f][p->plen] = t;
            g->lens[f][g->n_lens[f]++] = p->plen;
        }
    }
    union ctf_inaddr a = p->addr;
    ctf_inaddr_mask(p->family, &a, p->plen);
    struct match_index_slot *s = index_find(t, p->family, &a);
    if (!s) {
        if (!t->slots || (t->count + 1) * 2 > t->mask + 1) {
            int err = index_grow(t);
            if (err) {
                return err;
            }
        }
        s = index_put(t, p->family, &a);
    }
    if (local) {
        s->local |= bit;
    } else {
        s->peers |= bit;
    }
    return 0;
}

int
match_group_init(struct match_group *g, const struct flush_job *const *jobs, size_t n)
{
    int err = 0;

    memset(g, 0, sizeof *g);
    if (n > MATCH_GROUP_MAX) {
        return EINVAL;
    }
    g->n = (unsigned int) n;
    for (size_t i = 0; !err && i < n; i++) {
        const struct flush_job *job = jobs[i];
        struct match_member *mm = &g->member[i];
        uint64_t bit = UINT64_C(1) << i;
        unsigned int ways = match_job_ways(job), fams = family_bits(job);

        for (int w = 0; w < MATCH_WAYS; w++) {
            if (ways & (1u << w)) {
                g->way[w] |= bit;
            }
        }
        if (fams & ADDRSET_HAS_V4) {
            g->family[0] |= bit;
        }
        if (fams & ADDRSET_HAS_V6) {
            g->family[1] |= bit;
        }
        mm->has_zone = job->has_zone;
        mm->zone = job->zone;
        mm->has_mark = job->has_mark;
        mm->mark = job->mark & job->mark_mask;
        mm->mark_mask = job->mark_mask;
        mm->proto = job->proto;
        mm->has_dport = job->has_dport;
        mm->dport_lo = job->dport_lo;
        mm->dport_hi = job->dport_hi;
        if (mm->has_zone || mm->has_mark || mm->proto || mm->has_dport) {
            g->confirm |= bit;
        }
        if (job->local_any) {
            g->local_any |= bit;
        }
        if (job->peers_any) {
            g->peers_any |= bit;
        }
        for (size_t k = 0; !err && !job->local_any && k < job->local.n; k++) {
            err = index_add(g, &job->local.items[k], bit, true);
        }
        for (size_t k = 0; !err && !job->peers_any && k < job->peers.n; k++) {
            err = index_add(g, &job->peers.items[k], bit, false);
        }
    }
    if (err) {
        match_group_destroy(g);
    }
    return err;
}

void
match_group_destroy(struct match_group *g)
{
    if (!g) {
        return;
    }
    free(g->hosts.slots);
    for (int f = 0; f < 2; f++) {
        for (unsigned int i = 0; i < g->n_lens[f]; i++) {
            struct match_index_table *t = g->by_len[f][g->lens[f][i]];
            free(t->slots);
            free(t);
        }
    }
    memset(g, 0, sizeof *g);
}

/* The members that have a as a local (*l) and as a peer (*p) address. */
static inline void
index_lookup(const struct match_group *g, int family, const union ctf_inaddr *a,
             uint64_t *l, uint64_t *p)
{
    int f = family == AF_INET6;
    uint64_t lb = g->local_any, pb = g->peers_any;
    const struct match_index_slot *s = index_find(&g->hosts, family, a);

    if (s) {
        lb |= s->local;
        pb |= s->peers;
    }
    for (unsigned int i = 0; i < g->n_lens[f]; i++) {
        unsigned int plen = g->lens[f][i];
        union ctf_inaddr m = *a;
        ctf_inaddr_mask(family, &m, plen);
        s = index_find(g->by_len[f][plen], family, &m);
        if (s) {
            lb |= s->local;
            pb |= s->peers;
        }
    }
    *l = lb;
    *p = pb;
}

static inline bool
member_confirms(const struct match_member *mm, const struct ct_entry *e)
{
    return (!mm->has_zone || e->zone == mm->zone)
           && (!mm->has_mark || (e->mark & mm->mark_mask) == mm->mark)
           && (!mm->proto || e->l4proto == mm->proto)
           && (!mm->has_dport
               || (e->has_ports && e->dport >= mm->dport_lo && e->dport <= mm->dport_hi));
}

uint64_t
match_group_match(const struct match_group *g, const struct ct_entry *e)
{
    int family = e->family;
    uint64_t want = g->family[family == AF_INET6];
    uint64_t ls, ps, ld, pd, hit;

    if (g->active) {
        want &= __atomic_load_n(g->active, __ATOMIC_RELAXED);
    }
    if (!want) {
        return 0;
    }
    index_lookup(g, family, &e->orig.src, &ls, &ps);
    index_lookup(g, family, &e->orig.dst, &ld, &pd);
    hit = (ls & pd & g->way[MATCH_ORIG_EGRESS]) | (ld & ps & g->way[MATCH_ORIG_INGRESS]);
    if (e->has_reply) {
        uint64_t lrs = ld, prs = pd, lrd = ls, prd = ps;

        /* Without NAT the reply tuple is the original's mirror: its
         * addresses were looked up already. */
        if (!addr_eq(family, &e->reply.src, &e->orig.dst)) {
            index_lookup(g, family, &e->reply.src, &lrs, &prs);
        }
        if (!addr_eq(family, &e->reply.dst, &e->orig.src)) {
            index_lookup(g, family, &e->reply.dst, &lrd, &prd);
        }
        hit |= (lrs & prd & g->way[MATCH_REPLY_INGRESS])
               | (lrd & prs & g->way[MATCH_REPLY_EGRESS]);
    }
    hit &= want;
    for (uint64_t c = hit & g->confirm; c; c &= c - 1) {
        unsigned int i = (unsigned int) __builtin_ctzll(c);
        if (!member_confirms(&g->member[i], e)) {
            hit &= ~(UINT64_C(1) << i);
        }
    }
    return hit;
}

unsigned int
match_group_families(const struct match_group *g)
{
    unsigned int fams = 0;

    for (int f = 0; f < 2; f++) {
        /* A member matches family f if it admits it and both of its sides
         * can hold an address of it. */
        uint64_t l = g->local_any, p = g->peers_any;
        const struct match_index_table *tables[130];
        size_t nt = 0;

        tables[nt++] = &g->hosts;
        for (unsigned int i = 0; i < g->n_lens[f]; i++) {
            tables[nt++] = g->by_len[f][g->lens[f][i]];
        }
        for (size_t t = 0; t < nt; t++) {
            for (size_t k = 0; tables[t]->slots && k <= tables[t]->mask; k++) {
                const struct match_index_slot *s = &tables[t]->slots[k];
                if (s->used && s->family == (f ? AF_INET6 : AF_INET)) {
                    l |= s->local;
                    p |= s->peers;
                }
            }
        }
        if (l & p & g->family[f]) {
            fams |= f ? ADDRSET_HAS_V6 : ADDRSET_HAS_V4;
        }
    }
    return fams;
}
