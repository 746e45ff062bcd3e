/*
 * job.h: what a flush job is, how it is cut into chunks, and how a conntrack
 * entry is tested against it.
 *
 * A job deletes every entry E with zone(E) == job zone (if the job has one)
 * and mark(E) & mask == mark (if it has one) such that, for the original or
 * the reply tuple of E, one end is in LOCAL and the other end is in PEERS.
 * Looking at both tuples catches DNAT/SNAT'd flows to a VM's fixed IP.
 * LOCAL = any with PEERS = any and a zone means "everything in that zone".
 *
 * Owns: struct flush_job (its lists), struct job_matcher (its hash sets).
 */
#ifndef CTF_JOB_H
#define CTF_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "addrset.h"

struct flush_job {
    struct ctf_prefix_list local;   /* Empty when local_any. */
    struct ctf_prefix_list peers;   /* Empty when peers_any. */
    bool local_any;
    bool peers_any;
    bool has_zone;
    uint16_t zone;
    bool has_mark;
    uint32_t mark;
    uint32_t mark_mask;
};

void flush_job_init(struct flush_job *);
void flush_job_destroy(struct flush_job *);
int flush_job_copy(struct flush_job *dst, const struct flush_job *src);

/* Sets one side of a job from text as operators write it: "any", or an
 * address/CIDR list (comma separated, or @FILE). Returns 0, or EINVAL (and
 * others from ctf_prefix_list_parse) with the reason in errbuf. */
int flush_job_parse_side(struct ctf_prefix_list *, bool *any, const char *text,
                         char *errbuf, size_t errlen);

/* Checks a job is one ctflushd may run. "Everything, everywhere" (both sets
 * any and no zone) is refused: that is `conntrack -F`, not a targeted flush.
 * Returns 0 or EINVAL with a reason in errbuf. */
int flush_job_validate(const struct flush_job *, char *errbuf, size_t errlen);

/* True when the job is "every entry in one zone". */
bool flush_job_is_whole_zone(const struct flush_job *);

/* Cuts a job into sub-jobs of at most max_local local prefixes and at most
 * max_peers peer prefixes (0 = no limit); "any" sides are never cut. The
 * union of the sub-jobs matches exactly what the job matches. On success
 * *out is a malloc'd array of *n_out jobs to release with flush_job_array_free. */
int flush_job_split(const struct flush_job *, size_t max_local, size_t max_peers,
                    struct flush_job **out, size_t *n_out);
void flush_job_array_free(struct flush_job *, size_t n);

/* The part of a job that can match entries of one family: its local and
 * peer prefixes of that family ("any" sides stay "any"). Returns 0, or
 * ENOENT if that part matches nothing or the local side is "any" (then *out
 * is left unset), or ENOMEM. */
int flush_job_family_part(const struct flush_job *, int family, struct flush_job *out);

/* One conntrack entry as the matcher needs it. */
struct ct_tuple_addrs {
    union ctf_inaddr src;
    union ctf_inaddr dst;
};

struct ct_entry {
    int family;                     /* AF_INET or AF_INET6. */
    struct ct_tuple_addrs orig;
    struct ct_tuple_addrs reply;
    bool has_reply;
    uint16_t zone;                  /* 0 when the kernel sent none. */
    uint32_t mark;
    uint32_t id;                    /* CTA_ID, host order; 0 if absent. */
    bool has_id;
    uint8_t l4proto;
    /* Where the CTA_TUPLE_ORIG attribute sits in the dumped message, so the
     * delete request can carry it verbatim. */
    const void *orig_attr;
    uint16_t orig_attr_len;
};

struct job_matcher {
    struct addrset local;
    struct addrset peers;
    bool has_zone;
    uint16_t zone;
    bool has_mark;
    uint32_t mark;
    uint32_t mark_mask;
};

int job_matcher_init(struct job_matcher *, const struct flush_job *);
void job_matcher_destroy(struct job_matcher *);
bool job_matcher_match(const struct job_matcher *, const struct ct_entry *);
/* Families worth dumping for this job: ADDRSET_HAS_V4 / ADDRSET_HAS_V6 bits. */
unsigned int job_matcher_families(const struct job_matcher *);

#endif
