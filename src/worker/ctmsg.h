/*
 * ctmsg.h: ctnetlink messages, built into and parsed from caller buffers.
 * Pure functions: no sockets, no allocation, so each one is unit-tested and
 * the parser is fuzzed.
 *
 * Builders return the message length, or 0 if it does not fit in the buffer.
 * Debian 12's libnetfilter_conntrack cannot express a tuple filter on a flush,
 * so every message here is put together with libmnl.
 */
#ifndef CTF_CTMSG_H
#define CTF_CTMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "match.h"

/* CTA_FILTER flag bits; the kernel keeps them out of its uapi headers. */
#define CTF_FILTER_IP_SRC     (1u << 0)
#define CTF_FILTER_IP_DST     (1u << 1)
#define CTF_FILTER_TUPLE_ZONE (1u << 2)
#define CTF_FILTER_PROTO_NUM  (1u << 3)
#define CTF_FILTER_PROTO_SRC_PORT (1u << 4)
#define CTF_FILTER_PROTO_DST_PORT (1u << 5)

/* The largest message we build (a v6 delete or filtered flush). */
#define CTMSG_MAX_LEN 256

/* IPCTNL_MSG_CT_GET dump of one family (AF_UNSPEC: all), optionally
 * kernel-filtered by zone and mark. The caller still re-checks every entry:
 * kernel-side filtering here is an optimisation, never the safety net. */
size_t ctmsg_build_dump(void *buf, size_t len, uint32_t seq, int family,
                        const uint16_t *zone, const uint32_t *mark,
                        const uint32_t *mark_mask);

/* Parses one IPCTNL_MSG_CT_NEW message from a dump into *e (which points into
 * the message). Returns 0, or EINVAL for anything malformed or not a
 * conntrack entry of a family we handle. */
int ctmsg_parse_entry(const void *nlh, size_t len, struct ct_entry *e);

/* IPCTNL_MSG_CT_DELETE of exactly the dumped entry: its original tuple copied
 * verbatim, its zone, and its id (so an entry re-created with the same tuple
 * after the dump is not hit by a stale request). No ACK is requested: only
 * failures come back. */
size_t ctmsg_build_delete(void *buf, size_t len, uint32_t seq, const struct ct_entry *e);

/* Kernel-side filtered flush (6.12+): deletes, in one table walk, every entry
 * of this family whose DIRECTION tuple (CTA_TUPLE_ORIG or CTA_TUPLE_REPLY)
 * has the given source and/or destination, optionally only in one zone, and
 * optionally only of one protocol (and one destination port of the original
 * tuple, for TCP and UDP: the kernel compares ports for those two only, so a
 * port filter with another protocol is refused here). */
struct ctmsg_filter {
    int family;
    bool reply;                     /* The addresses are the reply tuple's. */
    bool has_src, has_dst;
    union ctf_inaddr src, dst;
    bool has_zone;
    uint16_t zone;
    uint8_t proto;                  /* 0: any; on the original tuple. */
    bool has_dport;                 /* Needs proto TCP or UDP. */
    uint16_t dport;                 /* Original destination port, host order. */
};
size_t ctmsg_build_filtered_flush(void *buf, size_t len, uint32_t seq,
                                  const struct ctmsg_filter *, bool ack);

/* Kernel-filtered dump (CTA_FILTER on IPCTNL_MSG_CT_GET, 5.8+): only the
 * entries of this family whose DIRECTION tuple has the given source and/or
 * destination (and protocol and port, if given) are sent back. The kernel
 * walks the whole table but serialises only what matches, and a dump does
 * not hold the table lock a flush walk holds, so several can run at once.
 * A filter on the protocol alone, without an address, is a whole-family
 * dump of that protocol. f->has_zone is refused (returns 0): the zone is
 * checked in userspace, like everything else a dump returns. */
size_t ctmsg_build_filtered_dump(void *buf, size_t len, uint32_t seq,
                                 const struct ctmsg_filter *);

/* True if the entry's DIRECTION tuple satisfies the filter: what a correct
 * kernel selects for it (zone included when f->has_zone). */
bool ctmsg_filter_match(const struct ctmsg_filter *, const struct ct_entry *);

/* Flush carrying only a top-level CTA_ZONE (6.8+: one zone; older kernels:
 * THE WHOLE TABLE — only ever sent once the probe proved it safe). */
size_t ctmsg_build_zone_flush(void *buf, size_t len, uint32_t seq, uint16_t zone, bool ack);

/* Plain flush of one family; used by the benchmark's "limit" baseline and the
 * probe's throwaway namespace, never by a job. */
size_t ctmsg_build_flush(void *buf, size_t len, uint32_t seq, int family, bool ack);

#endif
