/*
 * ctmsg.c: building and parsing ctnetlink messages with libmnl.
 *
 * The parser only trusts what it has checked: every attribute is bounds- and
 * length-checked before use, because it runs on every entry of a dump and is
 * fuzzed with arbitrary bytes.
 */
#include "ctmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static struct nlmsghdr *
ctmsg_start(void *buf, size_t len, uint32_t seq, uint16_t type, uint16_t flags,
            int family, uint8_t version)
{
    struct nlmsghdr *nlh;
    struct nfgenmsg *nfg;

    if (len < CTMSG_MAX_LEN) {
        return NULL;
    }
    /* Whole: padding the kernel never reads still leaves the process. */
    memset(buf, 0, CTMSG_MAX_LEN);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    nlh->nlmsg_seq = seq;
    nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = (uint8_t) family;
    nfg->version = version;
    nfg->res_id = 0;
    return nlh;
}

size_t
ctmsg_build_dump(void *buf, size_t len, uint32_t seq, int family,
                 const uint16_t *zone, const uint32_t *mark, const uint32_t *mark_mask)
{
    struct nlmsghdr *nlh = ctmsg_start(buf, len, seq, IPCTNL_MSG_CT_GET, NLM_F_DUMP,
                                       family, NFNETLINK_V0);
    if (!nlh) {
        return 0;
    }
    if (zone) {
        mnl_attr_put_u16(nlh, CTA_ZONE, htons(*zone));
    }
    if (mark && mark_mask) {
        mnl_attr_put_u32(nlh, CTA_MARK, htonl(*mark));
        mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(*mark_mask));
    }
    return nlh->nlmsg_len;
}

/* Fills src/dst from a CTA_TUPLE_ORIG/REPLY nest, and for the original
 * tuple (e given) the protocol and ports. */
static int
parse_tuple(const struct nlattr *tuple, int family, struct ct_tuple_addrs *t,
            struct ct_entry *e)
{
    const struct nlattr *attr, *ip = NULL, *proto = NULL;
    bool has_src = false, has_dst = false;
    size_t alen = family == AF_INET ? 4 : 16;
    uint16_t src_type = family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC;
    uint16_t dst_type = family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST;

    mnl_attr_for_each_nested(attr, tuple) {
        uint16_t type = mnl_attr_get_type(attr);
        if (type == CTA_TUPLE_IP) {
            ip = attr;
        } else if (type == CTA_TUPLE_PROTO) {
            proto = attr;
        }
    }
    if (!ip) {
        return EINVAL;
    }
    memset(t, 0, sizeof *t);
    mnl_attr_for_each_nested(attr, ip) {
        uint16_t type = mnl_attr_get_type(attr);
        if (type != src_type && type != dst_type) {
            continue;
        }
        if (mnl_attr_get_payload_len(attr) != alen) {
            return EINVAL;
        }
        if (type == src_type) {
            memcpy(&t->src, mnl_attr_get_payload(attr), alen);
            has_src = true;
        } else {
            memcpy(&t->dst, mnl_attr_get_payload(attr), alen);
            has_dst = true;
        }
    }
    if (!has_src || !has_dst) {
        return EINVAL;
    }
    if (proto && e) {
        bool has_sport = false, has_dport = false;

        mnl_attr_for_each_nested(attr, proto) {
            uint16_t type = mnl_attr_get_type(attr);
            size_t plen = mnl_attr_get_payload_len(attr);

            if (type == CTA_PROTO_NUM && plen == 1) {
                e->l4proto = mnl_attr_get_u8(attr);
            } else if (type == CTA_PROTO_SRC_PORT && plen == 2) {
                e->sport = ntohs(mnl_attr_get_u16(attr));
                has_sport = true;
            } else if (type == CTA_PROTO_DST_PORT && plen == 2) {
                e->dport = ntohs(mnl_attr_get_u16(attr));
                has_dport = true;
            }
        }
        e->has_ports = has_sport && has_dport;
    }
    return 0;
}

/* True if a tuple nest (depth 0) and its IP/proto nests (depth 1) are made
 * of well-formed attributes. */
static bool
nest_ok(const struct nlattr *nest, int depth)
{
    const struct nlattr *attr;
    const char *end = (const char *) mnl_attr_get_payload(nest)
                      + mnl_attr_get_payload_len(nest);
    const char *p = mnl_attr_get_payload(nest);

    mnl_attr_for_each_nested(attr, nest) {
        p = (const char *) attr + MNL_ALIGN(attr->nla_len);
        if (depth == 0 && (mnl_attr_get_type(attr) == CTA_TUPLE_IP
                           || mnl_attr_get_type(attr) == CTA_TUPLE_PROTO)) {
            if (mnl_attr_get_payload_len(attr) && !nest_ok(attr, 1)) {
                return false;
            }
        }
    }
    /* mnl stops at the first malformed attribute; trailing bytes shorter than
     * an attribute header are padding, anything longer is garbage. */
    return end - p < (ptrdiff_t) sizeof(struct nlattr);
}

int
ctmsg_parse_entry(const void *msg, size_t len, struct ct_entry *e)
{
    const struct nlmsghdr *nlh = msg;
    const struct nfgenmsg *nfg;
    const struct nlattr *attr, *orig = NULL, *reply = NULL;
    int err;

    memset(e, 0, sizeof *e);
    if (len < MNL_NLMSG_HDRLEN + sizeof *nfg || nlh->nlmsg_len < MNL_NLMSG_HDRLEN
        || nlh->nlmsg_len > len || nlh->nlmsg_len % NLMSG_ALIGNTO) {
        return EINVAL;
    }
    if (nlh->nlmsg_type >> 8 != NFNL_SUBSYS_CTNETLINK
        || (nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW) {
        return EINVAL;
    }
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof *nfg)) {
        return EINVAL;
    }
    nfg = mnl_nlmsg_get_payload(nlh);
    if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6) {
        return EINVAL;
    }
    e->family = nfg->nfgen_family;

    mnl_attr_for_each(attr, nlh, sizeof *nfg) {
        uint16_t type = mnl_attr_get_type(attr);
        size_t plen = mnl_attr_get_payload_len(attr);

        switch (type) {
        case CTA_TUPLE_ORIG:
            orig = attr;
            break;
        case CTA_TUPLE_REPLY:
            reply = attr;
            break;
        case CTA_ZONE:
            if (plen != 2) {
                return EINVAL;
            }
            e->zone = ntohs(mnl_attr_get_u16(attr));
            break;
        case CTA_MARK:
            if (plen != 4) {
                return EINVAL;
            }
            e->mark = ntohl(mnl_attr_get_u32(attr));
            break;
        case CTA_ID:
            if (plen != 4) {
                return EINVAL;
            }
            e->id = ntohl(mnl_attr_get_u32(attr));
            e->has_id = true;
            break;
        default:
            break;
        }
    }
    if ((const void *) attr != mnl_nlmsg_get_payload_tail(nlh)) {
        return EINVAL;          /* A malformed or truncated attribute. */
    }
    if (!orig || !nest_ok(orig, 0)) {
        return EINVAL;
    }
    err = parse_tuple(orig, e->family, &e->orig, e);
    if (err) {
        return err;
    }
    if (reply) {
        if (!nest_ok(reply, 0)) {
            return EINVAL;
        }
        err = parse_tuple(reply, e->family, &e->reply, NULL);
        if (err) {
            return err;
        }
        e->has_reply = true;
    }
    if (orig->nla_len > CTMSG_MAX_LEN - 64) {
        return EINVAL;          /* Would not fit a delete request. */
    }
    e->orig_attr = orig;
    e->orig_attr_len = orig->nla_len;
    return 0;
}

size_t
ctmsg_build_delete(void *buf, size_t len, uint32_t seq, const struct ct_entry *e)
{
    struct nlmsghdr *nlh;

    if (!e->orig_attr || e->orig_attr_len > CTMSG_MAX_LEN - 64) {
        return 0;
    }
    nlh = ctmsg_start(buf, len, seq, IPCTNL_MSG_CT_DELETE, 0, e->family, NFNETLINK_V0);
    if (!nlh) {
        return 0;
    }
    /* The original tuple exactly as the kernel sent it (including a
     * directional CTA_TUPLE_ZONE if there was one). */
    memcpy(mnl_nlmsg_get_payload_tail(nlh), e->orig_attr, e->orig_attr_len);
    nlh->nlmsg_len += MNL_ALIGN(e->orig_attr_len);
    if (e->zone) {
        mnl_attr_put_u16(nlh, CTA_ZONE, htons(e->zone));
    }
    if (e->has_id) {
        mnl_attr_put_u32(nlh, CTA_ID, htonl(e->id));
    }
    return nlh->nlmsg_len;
}

/* The addresses of a filter, as a CTA_TUPLE_IP nest; returns their flags. */
static uint32_t
put_filter_ip(struct nlmsghdr *nlh, const struct ctmsg_filter *f)
{
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    size_t alen = f->family == AF_INET ? 4 : 16;
    uint32_t flags = 0;

    if (f->has_src) {
        mnl_attr_put(nlh, f->family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, alen, &f->src);
        flags |= CTF_FILTER_IP_SRC;
    }
    if (f->has_dst) {
        mnl_attr_put(nlh, f->family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen, &f->dst);
        flags |= CTF_FILTER_IP_DST;
    }
    mnl_attr_nest_end(nlh, ip);
    return flags;
}

/* The protocol (and port) of a filter, as a CTA_TUPLE_PROTO nest of the
 * original tuple; returns their flags. */
static uint32_t
put_filter_proto(struct nlmsghdr *nlh, const struct ctmsg_filter *f)
{
    struct nlattr *proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    uint32_t flags = CTF_FILTER_PROTO_NUM;

    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, f->proto);
    if (f->has_dport) {
        mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(f->dport));
        flags |= CTF_FILTER_PROTO_DST_PORT;
    }
    mnl_attr_nest_end(nlh, proto);
    return flags;
}

/* The tuple and CTA_FILTER attributes of a filtered flush or dump: the
 * addresses on their tuple, the protocol and port on the original one
 * (both tuples' flags must then hold: the kernel ANDs them). */
static void
put_tuple_filter(struct nlmsghdr *nlh, const struct ctmsg_filter *f)
{
    struct nlattr *tuple, *filter;
    uint32_t orig_flags = 0, reply_flags = 0;
    bool has_ip = f->has_src || f->has_dst;

    if ((has_ip && !f->reply) || f->proto) {
        tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
        if (has_ip && !f->reply) {
            orig_flags |= put_filter_ip(nlh, f);
        }
        if (f->proto) {
            orig_flags |= put_filter_proto(nlh, f);
        }
        mnl_attr_nest_end(nlh, tuple);
    }
    if (has_ip && f->reply) {
        tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_REPLY);
        reply_flags |= put_filter_ip(nlh, f);
        mnl_attr_nest_end(nlh, tuple);
    }
    filter = mnl_attr_nest_start(nlh, CTA_FILTER);
    mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, orig_flags);
    mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, reply_flags);
    mnl_attr_nest_end(nlh, filter);
}

/* A filter we can send: a family, a port only with TCP or UDP (the only
 * protocols whose ports the kernel compares), and something to select on:
 * an address (always, for a flush), or for a dump at least a protocol. */
static bool
filter_ok(const struct ctmsg_filter *f, bool flush)
{
    if (f->family != AF_INET && f->family != AF_INET6) {
        return false;
    }
    if (f->has_dport && f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP) {
        return false;
    }
    return f->has_src || f->has_dst || (!flush && f->proto);
}

size_t
ctmsg_build_filtered_flush(void *buf, size_t len, uint32_t seq,
                           const struct ctmsg_filter *f, bool ack)
{
    struct nlmsghdr *nlh;

    if (!filter_ok(f, true)) {
        return 0;
    }
    nlh = ctmsg_start(buf, len, seq, IPCTNL_MSG_CT_DELETE, ack ? NLM_F_ACK : 0,
                      f->family, NFNETLINK_V0);
    if (!nlh) {
        return 0;
    }
    put_tuple_filter(nlh, f);
    if (f->has_zone) {
        mnl_attr_put_u16(nlh, CTA_ZONE, htons(f->zone));
    }
    return nlh->nlmsg_len;
}

size_t
ctmsg_build_filtered_dump(void *buf, size_t len, uint32_t seq, const struct ctmsg_filter *f)
{
    struct nlmsghdr *nlh;

    if (!filter_ok(f, false) || f->has_zone) {
        return 0;
    }
    nlh = ctmsg_start(buf, len, seq, IPCTNL_MSG_CT_GET, NLM_F_DUMP, f->family, NFNETLINK_V0);
    if (!nlh) {
        return 0;
    }
    put_tuple_filter(nlh, f);
    return nlh->nlmsg_len;
}

bool
ctmsg_filter_match(const struct ctmsg_filter *f, const struct ct_entry *e)
{
    const struct ct_tuple_addrs *t = f->reply ? &e->reply : &e->orig;
    size_t alen = f->family == AF_INET ? 4 : 16;

    bool has_ip = f->has_src || f->has_dst;

    if (e->family != f->family || (has_ip && f->reply && !e->has_reply)
        || (f->has_zone && e->zone != f->zone)) {
        return false;
    }
    if (f->proto && (e->l4proto != f->proto
                     || (f->has_dport && (!e->has_ports || e->dport != f->dport)))) {
        return false;
    }
    return (!f->has_src || !memcmp(&t->src, &f->src, alen))
           && (!f->has_dst || !memcmp(&t->dst, &f->dst, alen));
}

size_t
ctmsg_build_zone_flush(void *buf, size_t len, uint32_t seq, uint16_t zone, bool ack)
{
    struct nlmsghdr *nlh = ctmsg_start(buf, len, seq, IPCTNL_MSG_CT_DELETE,
                                       ack ? NLM_F_ACK : 0, AF_UNSPEC, NFNETLINK_V0);
    if (!nlh) {
        return 0;
    }
    mnl_attr_put_u16(nlh, CTA_ZONE, htons(zone));
    return nlh->nlmsg_len;
}

size_t
ctmsg_build_flush(void *buf, size_t len, uint32_t seq, int family, bool ack)
{
    /* version 1 asks the kernel to honour the family; version 0 would flush
     * every family whatever nfgen_family says. */
    struct nlmsghdr *nlh = ctmsg_start(buf, len, seq, IPCTNL_MSG_CT_DELETE,
                                       ack ? NLM_F_ACK : 0, family,
                                       family == AF_UNSPEC ? NFNETLINK_V0 : 1);
    return nlh ? nlh->nlmsg_len : 0;
}
