/*
 * job.h: what a flush job is and how it is cut into chunks. How a conntrack
 * entry is tested against a job is match.h's.
 *
 * A job deletes every entry E with zone(E) == job zone (if the job has one),
 * mark(E) & mask == mark (if it has one), E's family among the job's
 * families, E's protocol the job's (if it names one) and the destination
 * port of E's original tuple within the job's range (if it has one), such
 * that one end of E is in LOCAL and the other in PEERS, read on
 *  - the original tuple (src -> dst), and
 *  - unless tuple is "orig", the reply tuple read backwards (its dst -> src:
 *    the direction of the original, with NAT's translated addresses),
 * where direction says which way round: "ingress" wants LOCAL at the
 * destination and PEERS at the source, "egress" the reverse, "either" takes
 * both. So a DNATed entry to a VM's fixed IP (the original tuple holds the
 * floating IP, the reply tuple's source the fixed one) is an ingress entry
 * of that VM with tuple "any", and no entry of it with tuple "orig", which
 * selects exactly what `conntrack -D -s/-d` does.
 * LOCAL = any with PEERS = any and a zone means "everything in that zone"
 * (of those families, protocol and ports).
 *
 * Owns: struct flush_job (its lists).
 */
#ifndef CTF_JOB_H
#define CTF_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Which way round LOCAL and PEERS sit on a tuple. */
enum flush_direction {
    FLUSH_DIRECTION_EITHER = 0,
    FLUSH_DIRECTION_INGRESS,        /* LOCAL the destination, PEERS the source. */
    FLUSH_DIRECTION_EGRESS,         /* LOCAL the source, PEERS the destination. */
    FLUSH_DIRECTION_COUNT
};

/* Which tuples are read. */
enum flush_tuple {
    FLUSH_TUPLE_ANY = 0,            /* The original, or the reply read backwards. */
    FLUSH_TUPLE_ORIG,               /* The original only (conntrack -D -s/-d). */
    FLUSH_TUPLE_COUNT
};

enum flush_family {
    FLUSH_FAMILY_BOTH = 0,
    FLUSH_FAMILY_IPV4,
    FLUSH_FAMILY_IPV6,
    FLUSH_FAMILY_COUNT
};

/* Which conntrack table a job is for: the kernel's (ctnetlink, the worker)
 * or the one ovs-vswitchd keeps for its userspace datapath (bridges with
 * datapath_type=netdev: OVS-DPDK, AF_XDP; the userdp child). The names are
 * "kernel" and "netdev", after the Bridge column that decides it. */
enum flush_datapath {
    FLUSH_DATAPATH_KERNEL = 0,
    FLUSH_DATAPATH_NETDEV,
    FLUSH_DATAPATH_COUNT
};

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
    enum flush_direction direction;
    enum flush_tuple tuple;
    uint8_t proto;                  /* IP protocol number; 0: any. */
    bool has_dport;                 /* Only with a protocol that has ports. */
    uint16_t dport_lo, dport_hi;    /* Original tuple's destination port,
                                     * inclusive, host order. */
    enum flush_family family;
    enum flush_datapath datapath;   /* The table; not a selector: two jobs
                                     * of different tables never merge. */
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

/* The selectors' words, as conntrack(8) and the command lines spell them
 * ("either", "ingress", "egress"; "any", "orig"; "both", "ipv4", "ipv6").
 * The parsers return 0 or EINVAL. */
const char *flush_direction_name(enum flush_direction);
int flush_direction_parse(const char *, enum flush_direction *);
const char *flush_tuple_name(enum flush_tuple);
int flush_tuple_parse(const char *, enum flush_tuple *);
const char *flush_family_name(enum flush_family);
int flush_family_parse(const char *, enum flush_family *);
/* "kernel", "netdev". */
const char *flush_datapath_name(enum flush_datapath);
int flush_datapath_parse(const char *, enum flush_datapath *);
/* A Bridge's datapath_type as OVSDB holds it: "netdev" is ovs-vswitchd's
 * own table; "", NULL and "system" are the kernel's. Any other type (a
 * datapath provider we do not know) is the kernel's too, which is what
 * ctflushd did before it knew datapaths. */
enum flush_datapath flush_datapath_from_ovs_type(const char *datapath_type);

/* An L4 protocol: a name (tcp, udp, sctp, dccp, udplite, icmp, icmpv6, gre,
 * esp, ah) or a number from 1 to 255; "any" gives 0. Returns 0 or EINVAL. */
int flush_proto_parse(const char *, uint8_t *);
/* "tcp" for 6, NULL for a number without a name (0 gives "any"). */
const char *flush_proto_name(uint8_t);
/* Whether entries of this protocol have ports a job can select on. */
bool flush_proto_has_ports(uint8_t);
/* PORT or LO-HI, each 0..65535, LO <= HI. Returns 0 or EINVAL. */
int flush_dport_parse(const char *, uint16_t *lo, uint16_t *hi);

/* True when the job selects by something other than addresses, zone and
 * mark: a direction, the original tuple only, a protocol, ports, a family. */
bool flush_job_has_selectors(const struct flush_job *);
/* Whether the job's family selector admits AF_INET or AF_INET6. */
bool flush_job_family_ok(const struct flush_job *, int af);
/* Same direction, tuple, protocol, ports and family. */
bool flush_job_same_selectors(const struct flush_job *, const struct flush_job *);

/* Checks a job is one ctflushd may run. "Everything, everywhere" (both sets
 * any and no zone) is refused: that is `conntrack -F`, not a targeted flush.
 * So are selectors that contradict each other or the addresses (ports
 * without a protocol that has them, an empty port range, icmp with IPv6, a
 * family none of a side's addresses has, a value out of range). Returns 0
 * or EINVAL with a reason in errbuf. */
int flush_job_validate(const struct flush_job *, char *errbuf, size_t errlen);

/* True when the job is "every entry in one zone", of every family,
 * protocol and port. */
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
 * ENOENT if that part matches nothing (the job's family excludes it, or no
 * prefix of a side is of it) or the local side is "any" (then *out is left
 * unset), or ENOMEM. */
int flush_job_family_part(const struct flush_job *, int family, struct flush_job *out);

#endif
