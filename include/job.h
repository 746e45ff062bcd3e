/*
 * job.h: what a flush job is and how it is cut into chunks. How a conntrack
 * entry is tested against a job is match.h's.
 *
 * A job deletes every entry E with zone(E) == job zone (if the job has one)
 * and mark(E) & mask == mark (if it has one) such that, for the original or
 * the reply tuple of E, one end is in LOCAL and the other end is in PEERS.
 * Looking at both tuples catches DNAT/SNAT'd flows to a VM's fixed IP.
 * LOCAL = any with PEERS = any and a zone means "everything in that zone".
 *
 * Owns: struct flush_job (its lists).
 */
#ifndef CTF_JOB_H
#define CTF_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

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

/* Sets the job's zone from text: decimal 0..65535 (num.h). Returns 0 or
 * EINVAL with the reason in errbuf. */
int flush_job_parse_zone(struct flush_job *, const char *text, char *errbuf, size_t errlen);

/* Sets the job's mark from "MARK[/MASK]": 32-bit numbers, decimal or 0x hex
 * (num.h's NUM_HEX); MASK defaults to 0xffffffff and may not be 0 (it would
 * match every entry whatever its mark), and MARK may have no bit outside
 * MASK (mark(E) & MASK could never equal it). Returns 0 or EINVAL with the
 * reason in errbuf. */
int flush_job_parse_mark(struct flush_job *, const char *text, char *errbuf, size_t errlen);

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

#endif
