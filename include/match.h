/*
 * match.h: how a conntrack entry is tested against a flush job (job.h says
 * what the job selects). The datapath workers build one matcher per job
 * and test every entry they dump with it; the tests use it as the model.
 *
 * Owns: struct job_matcher (its hash sets).
 */
#ifndef CTF_MATCH_H
#define CTF_MATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "addrset.h"
#include "job.h"

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
