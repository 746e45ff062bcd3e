/*
 * ctgen.c: synthetic conntrack entries, inserted in bulk.
 *
 * Every entry becomes one IPCTNL_MSG_CT_NEW built by libnetfilter_conntrack
 * straight into the ctsock batch buffer. No ACK is asked for: the kernel only
 * answers failures, so a whole batch costs one sendmsg and the error reports
 * are counted by ctsock. One nf_conntrack object is reused for all entries;
 * attributes that do not apply to the current entry are unset explicitly,
 * because the object remembers whatever the previous entry set.
 */
#include "ctgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "ctsock.h"

/* The largest message we build is a v6 TCP entry with both tuples, timeout,
 * zone, mark and protoinfo: about 250 bytes. nfct_nlmsg_build() writes its
 * attributes without bounds checks, so reserve with a wide margin. */
#define CTGEN_MSG_MAX 512

#define CTGEN_DEFAULT_TIMEOUT 3600

static void
ctgen_set_addrs(struct nf_conntrack *ct, const struct ctgen_entry *e)
{
    const union ctf_inaddr *rsrc = e->nat ? &e->reply_src : &e->orig_dst;
    const union ctf_inaddr *rdst = e->nat ? &e->reply_dst : &e->orig_src;

    if (e->family == AF_INET) {
        nfct_attr_unset(ct, ATTR_ORIG_IPV6_SRC);
        nfct_attr_unset(ct, ATTR_ORIG_IPV6_DST);
        nfct_attr_unset(ct, ATTR_REPL_IPV6_SRC);
        nfct_attr_unset(ct, ATTR_REPL_IPV6_DST);
        nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_SRC, e->orig_src.w[0]);
        nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_DST, e->orig_dst.w[0]);
        nfct_set_attr_u32(ct, ATTR_REPL_IPV4_SRC, rsrc->w[0]);
        nfct_set_attr_u32(ct, ATTR_REPL_IPV4_DST, rdst->w[0]);
    } else {
        nfct_attr_unset(ct, ATTR_ORIG_IPV4_SRC);
        nfct_attr_unset(ct, ATTR_ORIG_IPV4_DST);
        nfct_attr_unset(ct, ATTR_REPL_IPV4_SRC);
        nfct_attr_unset(ct, ATTR_REPL_IPV4_DST);
        nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, &e->orig_src.v6);
        nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, &e->orig_dst.v6);
        nfct_set_attr(ct, ATTR_REPL_IPV6_SRC, &rsrc->v6);
        nfct_set_attr(ct, ATTR_REPL_IPV6_DST, &rdst->v6);
    }
}

static void
ctgen_set_entry(struct nf_conntrack *ct, const struct ctgen_entry *e)
{
    nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, (uint8_t)e->family);
    nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, (uint8_t)e->family);
    nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, e->l4proto);
    nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, e->l4proto);
    ctgen_set_addrs(ct, e);

    /* Reply ports are always the mirror: we model address NAT only. */
    nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(e->sport));
    nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(e->dport));
    nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(e->dport));
    nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(e->sport));

    /* The kernel refuses a new entry without CTA_TIMEOUT. */
    nfct_set_attr_u32(ct, ATTR_TIMEOUT,
                      e->timeout ? e->timeout : CTGEN_DEFAULT_TIMEOUT);
    nfct_set_attr_u16(ct, ATTR_ZONE, e->zone);
    nfct_set_attr_u32(ct, ATTR_MARK, e->mark);

    /* A TCP entry without a state would be created in state NONE and
     * reaped almost at once; ESTABLISHED keeps the given timeout. */
    if (e->l4proto == IPPROTO_TCP) {
        nfct_set_attr_u8(ct, ATTR_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
    } else {
        nfct_attr_unset(ct, ATTR_TCP_STATE);
    }
}

/* Builds one request into the batch. Returns 0, ENOMEM if the batch could
 * not make room, or EINVAL if the entry cannot be expressed. */
static int
ctgen_put(struct ctsock *sock, struct nf_conntrack *ct, const struct ctgen_entry *e)
{
    struct nlmsghdr *nlh;
    struct nfgenmsg *nfh;
    void *buf;

    if ((e->family != AF_INET && e->family != AF_INET6)
        || (e->l4proto != IPPROTO_TCP && e->l4proto != IPPROTO_UDP)) {
        return EINVAL;
    }

    buf = ctsock_batch_reserve(sock, CTGEN_MSG_MAX);
    if (!buf) {
        return ENOMEM;
    }
    ctgen_set_entry(ct, e);

    /* nfct_nlmsg_build leaves some padding unwritten; none of it may leave
     * the process uninitialised. */
    memset(buf, 0, CTGEN_MSG_MAX);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    nlh->nlmsg_seq = ctsock_next_seq(sock);
    nfh = mnl_nlmsg_put_extra_header(nlh, sizeof *nfh);
    nfh->nfgen_family = (uint8_t)e->family;
    nfh->version = NFNETLINK_V0;
    nfh->res_id = 0;
    if (nfct_nlmsg_build(nlh, ct) < 0) {
        return EINVAL;
    }
    ctsock_batch_commit(sock, nlh->nlmsg_len);
    return 0;
}

static uint64_t
ctgen_delta(uint64_t after, uint64_t before)
{
    return after >= before ? after - before : 0;
}

int
ctgen_insert(struct ctsock *sock, const struct ctgen_entry *entries, size_t n,
             struct ctgen_stats *stats)
{
    struct ctsock_batch_stats before = sock->bstats;
    uint64_t committed = 0, unbuilt = 0, sent, unsent, kfailed, enoent, lost;
    struct nf_conntrack *ct;
    int first_err = 0;
    int error;
    size_t i;

    memset(stats, 0, sizeof *stats);
    ct = nfct_new();
    if (!ct) {
        return ENOMEM;
    }
    for (i = 0; i < n; i++) {
        error = ctgen_put(sock, ct, &entries[i]);
        if (error == ENOMEM) {
            /* The batch could not be sent: the rest would fail alike. */
            unbuilt += n - i;
            first_err = error;
            break;
        } else if (error) {
            unbuilt++;
            if (!first_err) {
                first_err = error;
            }
            continue;
        }
        committed++;
    }
    error = ctsock_batch_flush(sock);
    nfct_destroy(ct);

    /* Everything the kernel said comes from the socket's counters. ENOENT
     * is "already gone" for a delete but a plain failure for an insert, and
     * a lost error report means at least one insert of unknown outcome,
     * which we count as failed so the caller checks. */
    sent = ctgen_delta(sock->bstats.sent, before.sent);
    unsent = committed > sent ? committed - sent : 0;
    kfailed = ctgen_delta(sock->bstats.failed, before.failed);
    enoent = ctgen_delta(sock->bstats.enoent, before.enoent);
    lost = ctgen_delta(sock->bstats.lost_reports, before.lost_reports);
    stats->exists = ctgen_delta(sock->bstats.eexist, before.eexist);
    stats->failed = kfailed + enoent + lost + unsent + unbuilt;
    if (committed >= unsent + stats->exists + kfailed + enoent + lost) {
        stats->inserted = committed - unsent - stats->exists - kfailed - enoent - lost;
    }

    if (kfailed && sock->bstats.last_errno) {
        stats->last_errno = sock->bstats.last_errno;
    } else if (enoent) {
        stats->last_errno = ENOENT;
    } else if (lost) {
        stats->last_errno = ENOBUFS;
    } else if (error) {
        stats->last_errno = error;
    } else if (first_err) {
        stats->last_errno = first_err;
    }

    if (error) {
        return error;
    }
    if (stats->failed) {
        return stats->last_errno ? stats->last_errno : EIO;
    }
    return 0;
}
