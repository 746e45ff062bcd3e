/*
 * match.h: how a conntrack entry is tested against flush jobs (job.h says
 * what a job selects). Two matchers, one rule:
 *  - job_matcher: one job. The probe's calibration, the benchmark's
 *    baselines and the unit tests use it.
 *  - match_group: up to MATCH_GROUP_MAX jobs at once, for a pass that
 *    serves several (the worker's dump path, with a group of one for a lone
 *    job). One hash index maps each prefix of any member to two bitmaps
 *    (the members that have it as a local and as a peer prefix), so an
 *    entry costs one lookup per address and distinct prefix length however
 *    many members there are; the members an entry's addresses select are
 *    then confirmed on the rest (zone, mark, protocol, ports) one by one.
 *
 * Owns: struct job_matcher and struct match_group (their hash tables).
 */
#ifndef CTF_MATCH_H
#define CTF_MATCH_H

#include <stdbool.h>
#include <stddef.h>
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
    bool has_ports;                 /* The original tuple carried ports. */
    uint16_t sport, dport;          /* Original tuple's ports, host order. */
    /* Where the CTA_TUPLE_ORIG attribute sits in the dumped message, so the
     * delete request can carry it verbatim. */
    const void *orig_attr;
    uint16_t orig_attr_len;
};

/* The four ways an entry's ends can be read (job.h): which tuple, and
 * whether LOCAL is its source or its destination, the reply tuple read
 * backwards (its source is the original's destination). */
enum match_way {
    MATCH_ORIG_EGRESS,              /* LOCAL orig.src, PEERS orig.dst. */
    MATCH_ORIG_INGRESS,             /* LOCAL orig.dst, PEERS orig.src. */
    MATCH_REPLY_INGRESS,            /* LOCAL reply.src, PEERS reply.dst. */
    MATCH_REPLY_EGRESS,             /* LOCAL reply.dst, PEERS reply.src. */
    MATCH_WAYS
};

/* Bit (1 << way) for each way a job's direction and tuple read. */
unsigned int match_job_ways(const struct flush_job *);

struct job_matcher {
    struct addrset local;
    struct addrset peers;
    bool has_zone;
    uint16_t zone;
    bool has_mark;
    uint32_t mark;
    uint32_t mark_mask;
    unsigned int ways;              /* match_job_ways. */
    unsigned int families;          /* ADDRSET_HAS_V4/V6 the family selector admits. */
    uint8_t proto;                  /* 0: any. */
    bool has_dport;
    uint16_t dport_lo, dport_hi;
};

int job_matcher_init(struct job_matcher *, const struct flush_job *);
void job_matcher_destroy(struct job_matcher *);
bool job_matcher_match(const struct job_matcher *, const struct ct_entry *);
/* Families worth dumping for this job: ADDRSET_HAS_V4 / ADDRSET_HAS_V6 bits. */
unsigned int job_matcher_families(const struct job_matcher *);

/* ---- Several jobs at once. ---- */

#define MATCH_GROUP_MAX 64          /* Members: one bit each in a uint64_t. */

struct match_member {               /* What is confirmed member by member. */
    bool has_zone;
    uint16_t zone;
    bool has_mark;
    uint32_t mark;                  /* Already masked. */
    uint32_t mark_mask;
    uint8_t proto;
    bool has_dport;
    uint16_t dport_lo, dport_hi;
};

struct match_index_table {          /* Open addressing, linear probing. */
    struct match_index_slot *slots;
    size_t mask;                    /* Capacity - 1 (a power of 2). */
    size_t count;
};

struct match_group {
    unsigned int n;                 /* Members 0..n-1. */
    struct match_member member[MATCH_GROUP_MAX];
    uint64_t local_any, peers_any;  /* Members with that side "any". */
    uint64_t way[MATCH_WAYS];       /* Members that read each way. */
    uint64_t family[2];             /* Members admitting IPv4 [0], IPv6 [1]. */
    uint64_t confirm;               /* Members with a zone, mark, protocol or
                                     * ports: checked one by one. */
    /* Every member's prefixes: hosts in one table, shorter prefixes in one
     * table per (family, length) in use. */
    struct match_index_table hosts;
    struct match_index_table *by_len[2][129];
    uint8_t lens[2][129];
    unsigned int n_lens[2];
    /* Members still wanted, read on every entry (relaxed atomics: a member
     * cancelled mid-dump stops matching within a few entries). NULL: all. */
    const uint64_t *active;
};

/* Builds the index over jobs[0..n) (n <= MATCH_GROUP_MAX). Returns 0,
 * EINVAL or ENOMEM. */
int match_group_init(struct match_group *, const struct flush_job *const *jobs, size_t n);
void match_group_destroy(struct match_group *);
/* The members e matches, bit i for jobs[i]. */
uint64_t match_group_match(const struct match_group *, const struct ct_entry *);
/* ADDRSET_HAS_V4 / V6: the families some member can match. */
unsigned int match_group_families(const struct match_group *);

#endif
