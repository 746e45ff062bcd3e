/*
 * ctgen.h: synthetic conntrack entries inserted with IPCTNL_MSG_CT_NEW, many
 * per sendmsg. Used by the start-up probe (in its throwaway namespace), the
 * integration tests and the benchmark to build tables with known contents.
 * Messages are built with libnetfilter_conntrack (nfct_nlmsg_build).
 *
 * Owns: nothing beyond the call.
 */
#ifndef CTF_CTGEN_H
#define CTF_CTGEN_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct ctsock;

struct ctgen_entry {
    int family;                 /* AF_INET or AF_INET6. */
    uint8_t l4proto;            /* IPPROTO_TCP (ESTABLISHED) or IPPROTO_UDP. */
    union ctf_inaddr orig_src, orig_dst;
    /* Reply tuple; when equal to the mirrored original (no NAT) leave
     * nat = 0 and these are ignored. */
    int nat;
    union ctf_inaddr reply_src, reply_dst;
    uint16_t sport, dport;      /* Host order; reply ports are mirrored. */
    uint16_t zone;
    uint32_t mark;
    uint32_t timeout;           /* Seconds; 0 means 3600. */
};

struct ctgen_stats {
    uint64_t inserted;
    uint64_t exists;            /* EEXIST: the same tuple was already there. */
    uint64_t failed;
    int last_errno;
};

/* Inserts n entries through sock (in the caller's network namespace).
 * Returns 0 if every entry was inserted or already existed, else a positive
 * errno (the stats say how many failed). */
int ctgen_insert(struct ctsock *, const struct ctgen_entry *, size_t n,
                 struct ctgen_stats *);

#endif
