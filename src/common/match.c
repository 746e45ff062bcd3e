/*
 * match.c: the entry matcher (see match.h).
 */
#include "match.h"

#include <string.h>

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
tuple_matches(const struct job_matcher *m, int family, const struct ct_tuple_addrs *t)
{
    return (addrset_contains(&m->local, family, &t->src)
            && addrset_contains(&m->peers, family, &t->dst))
        || (addrset_contains(&m->local, family, &t->dst)
            && addrset_contains(&m->peers, family, &t->src));
}

bool
job_matcher_match(const struct job_matcher *m, const struct ct_entry *e)
{
    if (m->has_zone && e->zone != m->zone) {
        return false;
    }
    if (m->has_mark && (e->mark & m->mark_mask) != m->mark) {
        return false;
    }
    return tuple_matches(m, e->family, &e->orig)
        || (e->has_reply && tuple_matches(m, e->family, &e->reply));
}

unsigned int
job_matcher_families(const struct job_matcher *m)
{
    return addrset_families(&m->local) & addrset_families(&m->peers);
}
