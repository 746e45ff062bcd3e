/*
 * job.c: flush jobs and their chunking.
 */
#include "job.h"
#include "num.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void
flush_job_init(struct flush_job *job)
{
    memset(job, 0, sizeof *job);
}

void
flush_job_destroy(struct flush_job *job)
{
    if (job) {
        ctf_prefix_list_destroy(&job->local);
        ctf_prefix_list_destroy(&job->peers);
    }
}

int
flush_job_copy(struct flush_job *dst, const struct flush_job *src)
{
    flush_job_init(dst);
    *dst = *src;
    memset(&dst->local, 0, sizeof dst->local);
    memset(&dst->peers, 0, sizeof dst->peers);
    int err = ctf_prefix_list_copy(&dst->local, &src->local);
    if (!err) {
        err = ctf_prefix_list_copy(&dst->peers, &src->peers);
    }
    if (err) {
        flush_job_destroy(dst);
    }
    return err;
}

int
flush_job_parse_side(struct ctf_prefix_list *list, bool *any, const char *text,
                     char *errbuf, size_t errlen)
{
    if (!strcmp(text, "any")) {
        *any = true;
        return 0;
    }
    *any = false;
    int err = ctf_prefix_list_parse(list, text, errbuf, errlen);
    if (!err && !list->n) {
        snprintf(errbuf, errlen, "no address given");
        err = EINVAL;
    }
    return err;
}

int
flush_job_parse_zone(struct flush_job *job, const char *text, char *errbuf, size_t errlen)
{
    uint64_t v;

    if (num_parse_u64(text, NUM_DEC, 0, UINT16_MAX, &v, errbuf, errlen)) {
        return EINVAL;
    }
    job->has_zone = true;
    job->zone = (uint16_t) v;
    return 0;
}

int
flush_job_parse_mark(struct flush_job *job, const char *text, char *errbuf, size_t errlen)
{
    const char *slash = strchr(text, '/');
    size_t mlen = slash ? (size_t) (slash - text) : strlen(text);
    uint64_t mark, mask = UINT32_MAX;
    char buf[32];

    if (mlen >= sizeof buf) {
        goto bad;
    }
    memcpy(buf, text, mlen);
    buf[mlen] = '\0';
    if (num_parse_u64(buf, NUM_HEX, 0, UINT32_MAX, &mark, NULL, 0)
        || (slash && num_parse_u64(slash + 1, NUM_HEX, 1, UINT32_MAX, &mask, NULL, 0))) {
        goto bad;
    }
    if (mark & ~mask) {
        snprintf(errbuf, errlen, "'%.64s' has bits outside the mask", text);
        return EINVAL;
    }
    job->has_mark = true;
    job->mark = (uint32_t) mark;
    job->mark_mask = (uint32_t) mask;
    return 0;

bad:
    snprintf(errbuf, errlen, "'%.64s' is not MARK[/MASK] (32-bit numbers, decimal or 0x hex; "
             "MASK not 0)", text);
    return EINVAL;
}

int
flush_job_validate(const struct flush_job *job, char *errbuf, size_t errlen)
{
    if (!job->local_any && !job->local.n) {
        snprintf(errbuf, errlen, "the local set is empty");
        return EINVAL;
    }
    if (!job->peers_any && !job->peers.n) {
        snprintf(errbuf, errlen, "the peer set is empty (use 'any' for all peers)");
        return EINVAL;
    }
    if (job->local_any && !job->peers_any) {
        snprintf(errbuf, errlen, "local 'any' needs peers 'any' (swap the sets instead)");
        return EINVAL;
    }
    if (job->local_any && !job->has_zone) {
        snprintf(errbuf, errlen,
                 "refusing to flush every entry of every zone: name local addresses or a zone");
        return EINVAL;
    }
    return 0;
}

bool
flush_job_is_whole_zone(const struct flush_job *job)
{
    return job->local_any && job->peers_any && job->has_zone && !job->has_mark;
}

static size_t
n_chunks(size_t n, size_t max)
{
    if (!max || n <= max) {
        return 1;
    }
    return (n + max - 1) / max;
}

static int
list_slice(struct ctf_prefix_list *dst, const struct ctf_prefix_list *src,
           size_t start, size_t max)
{
    size_t end = max ? start + max : src->n;

    if (end > src->n) {
        end = src->n;
    }
    for (size_t i = start; i < end; i++) {
        int err = ctf_prefix_list_add(dst, &src->items[i]);
        if (err) {
            return err;
        }
    }
    return 0;
}

int
flush_job_split(const struct flush_job *job, size_t max_local, size_t max_peers,
                struct flush_job **out, size_t *n_out)
{
    size_t nl = job->local_any ? 1 : n_chunks(job->local.n, max_local);
    size_t np = job->peers_any ? 1 : n_chunks(job->peers.n, max_peers);
    struct flush_job *jobs;
    size_t k = 0;

    *out = NULL;
    *n_out = 0;
    if (nl > SIZE_MAX / np) {
        return EOVERFLOW;
    }
    jobs = calloc(nl * np, sizeof *jobs);
    if (!jobs) {
        return ENOMEM;
    }
    for (size_t i = 0; i < nl; i++) {
        for (size_t j = 0; j < np; j++) {
            struct flush_job *sub = &jobs[k++];
            int err = 0;

            *sub = *job;
            memset(&sub->local, 0, sizeof sub->local);
            memset(&sub->peers, 0, sizeof sub->peers);
            if (!job->local_any) {
                err = list_slice(&sub->local, &job->local, i * max_local, max_local);
            }
            if (!err && !job->peers_any) {
                err = list_slice(&sub->peers, &job->peers, j * max_peers, max_peers);
            }
            if (err) {
                flush_job_array_free(jobs, k);
                return err;
            }
        }
    }
    *out = jobs;
    *n_out = k;
    return 0;
}

void
flush_job_array_free(struct flush_job *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++) {
        flush_job_destroy(&jobs[i]);
    }
    free(jobs);
}

static int
list_family(struct ctf_prefix_list *dst, const struct ctf_prefix_list *src, int family)
{
    for (size_t i = 0; i < src->n; i++) {
        if (src->items[i].family == family) {
            int err = ctf_prefix_list_add(dst, &src->items[i]);
            if (err) {
                return err;
            }
        }
    }
    return 0;
}

int
flush_job_family_part(const struct flush_job *job, int family, struct flush_job *out)
{
    int err;

    if (job->local_any) {
        return ENOENT;
    }
    flush_job_init(out);
    *out = *job;
    memset(&out->local, 0, sizeof out->local);
    memset(&out->peers, 0, sizeof out->peers);
    err = list_family(&out->local, &job->local, family);
    if (!err && !job->peers_any) {
        err = list_family(&out->peers, &job->peers, family);
    }
    if (!err && (!out->local.n || (!job->peers_any && !out->peers.n))) {
        err = ENOENT;
    }
    if (err) {
        flush_job_destroy(out);
    }
    return err;
}
