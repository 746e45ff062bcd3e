/*
 * unit_helpers.h: fixtures shared by the unit tests. Include after <cmocka.h>:
 * a helper that cannot build its fixture fails the calling test.
 */
#ifndef CTF_UNIT_HELPERS_H
#define CTF_UNIT_HELPERS_H

#include "addr.h"
#include "job.h"

/* A prefix from text that must parse. */
static inline struct ctf_prefix
pfx(const char *s)
{
    struct ctf_prefix p;

    if (ctf_prefix_parse(s, &p)) {
        fail_msg("helper: '%s' does not parse", s);
    }
    return p;
}

/* Fills a job from text: "any" or a list for each side. */
static inline void
job_make(struct flush_job *job, const char *local, const char *peers)
{
    char err[128];

    flush_job_init(job);
    if (flush_job_parse_side(&job->local, &job->local_any, local, err, sizeof err)
        || flush_job_parse_side(&job->peers, &job->peers_any, peers, err, sizeof err)) {
        fail_msg("helper: '%s' x '%s': %s", local, peers, err);
    }
}

#endif
