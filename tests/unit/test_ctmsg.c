/*
 * test_ctmsg.c: unit tests for ctmsg.c (ctnetlink message builders and the
 * dump-entry parser).
 *
 * Built messages are checked byte by byte with libmnl. Dump entries are put
 * together with libmnl the way the kernel lays them out (ctnetlink_fill_info:
 * tuples, zone, status, timeout, protoinfo, mark, id, use), then broken in
 * every way the parser must survive. Malformed input is always handed over in
 * a heap buffer of exactly its length, so that ASan and valgrind see any read
 * past it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctmsg.h"

#define CT_TYPE(t) ((uint16_t) ((NFNL_SUBSYS_CTNETLINK << 8) | (t)))
#define BUFSZ 1024

/* Message buffers, aligned for struct nlmsghdr. */
union msgbuf {
    struct nlmsghdr nlh;
    uint8_t b[BUFSZ];
};

/* ---- Helpers. ---- */

static union ctf_inaddr
ina(int family, const char *s)
{
    union ctf_inaddr a;

    memset(&a, 0, sizeof a);
    if (inet_pton(family, s, &a) != 1) {
        fail_msg("helper: bad address '%s'", s);
    }
    return a;
}

/* Walks the attributes in [start, start + len): each must be well formed and
 * inside the range, the range must be used up exactly, and no type may be
 * repeated. Fills tb[type]. */
static void
walk_strict(const void *start, size_t len, const struct nlattr **tb, unsigned int max)
{
    const char *p = start, *end = p + len;

    memset(tb, 0, (max + 1) * sizeof *tb);
    while (p < end) {
        const struct nlattr *a = (const struct nlattr *) p;
        if (end - p < (ptrdiff_t) sizeof *a) {
            fail_msg("%td stray bytes after the attributes", end - p);
        }
        if (a->nla_len < sizeof *a || a->nla_len > end - p) {
            fail_msg("attribute type %u has bad nla_len %u", a->nla_type, a->nla_len);
        }
        unsigned int type = a->nla_type & NLA_TYPE_MASK;
        if (type > max) {
            fail_msg("unexpected attribute type %u", type);
        }
        if (tb[type]) {
            fail_msg("attribute type %u repeated", type);
        }
        tb[type] = a;
        /* Padding is zero: no stale bytes leave the process. */
        for (size_t i = a->nla_len; i < (size_t) MNL_ALIGN(a->nla_len) && p + i < end; i++) {
            if (p[i]) {
                fail_msg("attribute type %u: padding byte %zu is 0x%02x", type, i,
                         (unsigned char) p[i]);
            }
        }
        p += MNL_ALIGN(a->nla_len);
    }
    assert_true(p == end);
}

static void
walk_nest(const struct nlattr *nest, const struct nlattr **tb, unsigned int max)
{
    walk_strict(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), tb, max);
}

static uint16_t
attr_be16(const struct nlattr *a)
{
    assert_non_null(a);
    assert_int_equal(mnl_attr_get_payload_len(a), 2);
    return ntohs(mnl_attr_get_u16(a));
}

static uint32_t
attr_be32(const struct nlattr *a)
{
    assert_non_null(a);
    assert_int_equal(mnl_attr_get_payload_len(a), 4);
    return ntohl(mnl_attr_get_u32(a));
}

static uint32_t
attr_u32(const struct nlattr *a)
{
    assert_non_null(a);
    assert_int_equal(mnl_attr_get_payload_len(a), 4);
    return mnl_attr_get_u32(a);
}

/* Checks the netlink and nfnetlink headers of a built message, and walks its
 * top-level attributes into tb. */
static void
check_msg(const union msgbuf *m, size_t n, uint8_t type, uint16_t flags, uint32_t seq,
          uint8_t family, uint8_t version, const struct nlattr **tb)
{
    const struct nlmsghdr *nlh = &m->nlh;
    const struct nfgenmsg *nfg;

    assert_true(n >= MNL_NLMSG_HDRLEN + sizeof *nfg);
    assert_true(n <= CTMSG_MAX_LEN);
    assert_int_equal(nlh->nlmsg_len, n);
    assert_int_equal(n % 4, 0);
    assert_int_equal(nlh->nlmsg_type, CT_TYPE(type));
    assert_int_equal(nlh->nlmsg_flags, flags);
    assert_int_equal(nlh->nlmsg_seq, seq);
    assert_int_equal(nlh->nlmsg_pid, 0);
    nfg = mnl_nlmsg_get_payload(nlh);
    assert_int_equal(nfg->nfgen_family, family);
    assert_int_equal(nfg->version, version);
    assert_int_equal(nfg->res_id, 0);
    walk_strict((const char *) nlh + MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof *nfg),
                n - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof *nfg), tb, CTA_MAX);
}

/* ---- Dump entries, put together the kernel's way. ---- */

struct tuple_spec {
    const char *src, *dst;
    uint8_t proto;
    uint16_t sport, dport;
};

/* Ways to break an entry. */
enum fault {
    F_NONE,
    F_NO_ORIG,              /* Only a reply tuple. */
    F_NO_TUPLE_IP,          /* Orig tuple without CTA_TUPLE_IP. */
    F_EMPTY_TUPLE_IP,       /* CTA_TUPLE_IP with nothing inside. */
    F_NO_SRC,
    F_NO_DST,
    F_REPLY_NO_SRC,
    F_REPLY_NO_TUPLE_IP,
    F_ADDR_LEN_OTHER,       /* v4 family with 16-byte addresses (or v6 with 4). */
    F_REPLY_ADDR_LEN_OTHER,
    F_ADDR_TYPES_OTHER,     /* v4 family with CTA_IP_V6_* attributes (or v.v.). */
    F_ADDR_LEN_5,
    F_ZONE_LEN_3,
    F_ZONE_LEN_4,
    F_MARK_LEN_2,
    F_MARK_LEN_8,
    F_ID_LEN_2,
    F_ID_LEN_8,
    F_JUNK_IN_ORIG,         /* 8 bytes that are not an attribute, in the orig nest. */
    F_JUNK_IN_TUPLE_IP,     /* Same, one level down. */
    F_JUNK_IN_REPLY,
    F_ORIG_CHILD_PAST_END,  /* A child of orig whose nla_len runs past the nest. */
    F_IP_CHILD_PAST_END,    /* A child of CTA_TUPLE_IP whose nla_len runs past it. */
    F_ORIG_TOO_BIG,         /* An orig tuple that cannot fit a delete request. */
    F_TRAILING_PAST_END,    /* A last top-level attribute running past nlmsg_len. */
    F_TRAILING_JUNK,        /* 8 bytes of non-attribute at the end of the message. */
};

struct entry_spec {
    int family;                     /* nfgen_family. */
    struct tuple_spec orig, reply;
    bool has_reply;
    bool has_zone;
    uint16_t zone;
    bool has_mark;
    uint32_t mark;
    bool has_id;
    uint32_t id;
    bool tuple_zone;                /* Directional CTA_TUPLE_ZONE in orig, */
    bool tuple_zone_unpadded;       /* ... and orig's nla_len stops right after it. */
    bool attrs_first;               /* Zone, mark, id before the tuples. */
    bool no_ports;                  /* The proto nests carry no ports (as for ICMP). */
    enum fault fault;
};

static void
put_junk(struct nlmsghdr *nlh)
{
    /* nla_len 2: shorter than an attribute header. */
    static const uint8_t junk[8] = { 2, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef };

    memcpy(mnl_nlmsg_get_payload_tail(nlh), junk, sizeof junk);
    nlh->nlmsg_len += sizeof junk;
}

/* An attribute header claiming 64 bytes with only 8 present. */
static void
put_past_end(struct nlmsghdr *nlh, uint16_t type)
{
    struct nlattr *a = mnl_nlmsg_get_payload_tail(nlh);

    a->nla_len = 64;
    a->nla_type = type;
    memset(a + 1, 0x11, 4);
    nlh->nlmsg_len += 8;
}

static void
put_tuple(struct nlmsghdr *nlh, uint16_t type, int family, const struct tuple_spec *t,
          bool reply, const struct entry_spec *s)
{
    enum fault f = s->fault;
    bool other_len = f == (reply ? F_REPLY_ADDR_LEN_OTHER : F_ADDR_LEN_OTHER);
    int afam = family == AF_INET6 ? AF_INET6 : AF_INET;
    uint16_t src_type = afam == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC;
    uint16_t dst_type = afam == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST;
    size_t alen = afam == AF_INET ? 4 : 16;
    union ctf_inaddr src = ina(afam, t->src), dst = ina(afam, t->dst);
    struct nlattr *tuple, *ip, *proto;

    if (!reply && f == F_ADDR_TYPES_OTHER) {
        src_type = afam == AF_INET ? CTA_IP_V6_SRC : CTA_IP_V4_SRC;
        dst_type = afam == AF_INET ? CTA_IP_V6_DST : CTA_IP_V4_DST;
    }
    if (other_len) {
        alen = alen == 4 ? 16 : 4;
    }
    if (!reply && f == F_ADDR_LEN_5) {
        alen = 5;
    }

    tuple = mnl_attr_nest_start(nlh, type);
    if (!(f == (reply ? F_REPLY_NO_TUPLE_IP : F_NO_TUPLE_IP))) {
        ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
        if (f != F_EMPTY_TUPLE_IP || reply) {
            if (f != (reply ? F_REPLY_NO_SRC : F_NO_SRC)) {
                mnl_attr_put(nlh, src_type, alen, &src);
            }
            if (reply || f != F_NO_DST) {
                mnl_attr_put(nlh, dst_type, alen, &dst);
            }
        }
        if (!reply && f == F_JUNK_IN_TUPLE_IP) {
            put_junk(nlh);
        }
        if (!reply && f == F_IP_CHILD_PAST_END) {
            put_past_end(nlh, dst_type);
        }
        mnl_attr_nest_end(nlh, ip);
    }
    proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, t->proto);
    if (!s->no_ports) {
        mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
        mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
    }
    mnl_attr_nest_end(nlh, proto);
    if (!reply && s->tuple_zone) {
        mnl_attr_put_u16(nlh, CTA_TUPLE_ZONE, htons(s->zone));
    }
    if (f == (reply ? F_JUNK_IN_REPLY : F_JUNK_IN_ORIG)) {
        put_junk(nlh);
    }
    if (!reply && f == F_ORIG_CHILD_PAST_END) {
        put_past_end(nlh, CTA_TUPLE_PROTO);
    }
    if (!reply && f == F_ORIG_TOO_BIG) {
        static const uint8_t big[180];
        mnl_attr_put(nlh, CTA_TUPLE_MAX + 1, sizeof big, big);
    }
    mnl_attr_nest_end(nlh, tuple);
    if (!reply && s->tuple_zone && s->tuple_zone_unpadded) {
        tuple->nla_len -= 2;        /* A 2-byte payload, its padding left out. */
    }
}

static void
put_scalars(struct nlmsghdr *nlh, const struct entry_spec *s)
{
    static const uint8_t eight[8] = { 0, 0, 0, 1, 0, 0, 0, 2 };

    if (s->has_zone) {
        if (s->fault == F_ZONE_LEN_3) {
            mnl_attr_put(nlh, CTA_ZONE, 3, eight);
        } else if (s->fault == F_ZONE_LEN_4) {
            mnl_attr_put_u32(nlh, CTA_ZONE, htonl(s->zone));
        } else {
            mnl_attr_put_u16(nlh, CTA_ZONE, htons(s->zone));
        }
    }
}

static void
put_mark_id(struct nlmsghdr *nlh, const struct entry_spec *s)
{
    static const uint8_t eight[8] = { 0, 0, 0, 1, 0, 0, 0, 2 };

    if (s->has_mark) {
        if (s->fault == F_MARK_LEN_2) {
            mnl_attr_put_u16(nlh, CTA_MARK, htons((uint16_t) s->mark));
        } else if (s->fault == F_MARK_LEN_8) {
            mnl_attr_put(nlh, CTA_MARK, 8, eight);
        } else {
            mnl_attr_put_u32(nlh, CTA_MARK, htonl(s->mark));
        }
    }
    if (s->has_id) {
        if (s->fault == F_ID_LEN_2) {
            mnl_attr_put_u16(nlh, CTA_ID, htons((uint16_t) s->id));
        } else if (s->fault == F_ID_LEN_8) {
            mnl_attr_put(nlh, CTA_ID, 8, eight);
        } else {
            mnl_attr_put_u32(nlh, CTA_ID, htonl(s->id));
        }
    }
}

/* Builds one IPCTNL_MSG_CT_NEW dump entry; returns its length. */
static size_t
build_entry(union msgbuf *m, const struct entry_spec *s)
{
    struct nlmsghdr *nlh;
    struct nfgenmsg *nfg;
    struct nlattr *pi, *tcp;

    memset(m, 0, sizeof *m);
    nlh = mnl_nlmsg_put_header(m->b);
    nlh->nlmsg_type = CT_TYPE(IPCTNL_MSG_CT_NEW);
    nlh->nlmsg_flags = NLM_F_MULTI;
    nlh->nlmsg_seq = 4242;
    nlh->nlmsg_pid = 777;
    nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = (uint8_t) s->family;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;

    if (s->attrs_first) {
        put_scalars(nlh, s);
        put_mark_id(nlh, s);
    }
    if (s->fault != F_NO_ORIG) {
        put_tuple(nlh, CTA_TUPLE_ORIG, s->family, &s->orig, false, s);
    }
    if (s->has_reply) {
        put_tuple(nlh, CTA_TUPLE_REPLY, s->family, &s->reply, true, s);
    }
    if (!s->attrs_first) {
        put_scalars(nlh, s);
    }
    mnl_attr_put_u32(nlh, CTA_STATUS, htonl(0x18e));          /* Confirmed, assured, ... */
    mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(431999));
    pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
    tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
    mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, 3);        /* ESTABLISHED */
    mnl_attr_nest_end(nlh, tcp);
    mnl_attr_nest_end(nlh, pi);
    if (!s->attrs_first) {
        put_mark_id(nlh, s);
    }
    mnl_attr_put_u32(nlh, CTA_USE, htonl(1));
    if (s->fault == F_TRAILING_PAST_END) {
        put_past_end(nlh, CTA_MARK);
    }
    if (s->fault == F_TRAILING_JUNK) {
        put_junk(nlh);
    }
    assert_true(nlh->nlmsg_len <= BUFSZ);
    return nlh->nlmsg_len;
}

static struct entry_spec
spec_v4(void)
{
    struct entry_spec s = {
        .family = AF_INET,
        .orig = { "10.0.0.1", "192.168.1.7", IPPROTO_TCP, 40000, 443 },
        .reply = { "192.168.1.7", "10.0.0.1", IPPROTO_TCP, 443, 40000 },
        .has_reply = true,
        .has_zone = true, .zone = 1234,
        .has_mark = true, .mark = 0xdeadbeef,
        .has_id = true, .id = 0x89abcdef,
    };
    return s;
}

static struct entry_spec
spec_v6(void)
{
    struct entry_spec s = {
        .family = AF_INET6,
        .orig = { "fd00::1", "2001:db8::99", IPPROTO_UDP, 5353, 53 },
        /* DNAT: the reply comes from the VM's fixed address. */
        .reply = { "fd00:1::10", "fd00::1", IPPROTO_UDP, 53, 5353 },
        .has_reply = true,
        .has_zone = true, .zone = 65535,
        .has_mark = true, .mark = 7,
        .has_id = true, .id = 1,
    };
    return s;
}

/* Parses a copy of msg[0..len) held in a heap block of exactly len bytes. An
 * accepted entry must be usable: the delete built from it copies the orig
 * tuple, which must lie inside the message (a read past the block is also
 * reported by ASan or valgrind, in ctmsg_build_delete's memcpy). */
static int
parse_exact(const void *msg, size_t len)
{
    void *copy = malloc(len ? len : 1);
    struct ct_entry e;
    union msgbuf out;
    bool family_ok = true, inside = true;
    size_t del = 1;
    int err;

    assert_non_null(copy);
    memcpy(copy, msg, len);
    err = ctmsg_parse_entry(copy, len, &e);
    if (!err) {
        family_ok = e.family == AF_INET || e.family == AF_INET6;
        del = ctmsg_build_delete(out.b, sizeof out.b, 1, &e);
        inside = e.orig_attr
                 && (const char *) e.orig_attr >= (const char *) copy
                 && (const char *) e.orig_attr + e.orig_attr_len <= (const char *) copy + len;
    }
    free(copy);
    if (!family_ok) {
        fail_msg("accepted an entry of family %d", e.family);
    }
    if (!inside) {
        fail_msg("accepted an entry whose orig tuple (%u bytes) runs past the %zu-byte message",
                 e.orig_attr_len, len);
    }
    if (!del) {
        fail_msg("accepted an entry that yields no delete request");
    }
    return err;
}

static void
expect_einval(const struct entry_spec *s, const char *what)
{
    union msgbuf m;
    size_t n = build_entry(&m, s);
    int err = parse_exact(m.b, n);

    if (err != EINVAL) {
        fail_msg("%s (%s): got %d, want EINVAL", what, s->family == AF_INET ? "v4" : "v6", err);
    }
}

/* ---- Builders. ---- */

static void
test_build_dump(void **state)
{
    union msgbuf m;
    const struct nlattr *tb[CTA_MAX + 1];
    static const int families[] = { AF_UNSPEC, AF_INET, AF_INET6 };
    uint16_t zone = 4321;
    uint32_t mark = 0x100, mask = 0xff00;

    for (size_t i = 0; i < 3; i++) {
        memset(&m, 0xaa, sizeof m);
        size_t n = ctmsg_build_dump(m.b, sizeof m.b, 17, families[i], NULL, NULL, NULL);
        check_msg(&m, n, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 17,
                  (uint8_t) families[i], NFNETLINK_V0, tb);
        assert_int_equal(n, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)));
    }

    size_t n = ctmsg_build_dump(m.b, sizeof m.b, 18, AF_INET, &zone, NULL, NULL);
    check_msg(&m, n, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 18, AF_INET,
              NFNETLINK_V0, tb);
    assert_int_equal(attr_be16(tb[CTA_ZONE]), 4321);
    assert_null(tb[CTA_MARK]);
    assert_null(tb[CTA_MARK_MASK]);

    n = ctmsg_build_dump(m.b, sizeof m.b, 19, AF_INET6, NULL, &mark, &mask);
    check_msg(&m, n, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 19, AF_INET6,
              NFNETLINK_V0, tb);
    assert_null(tb[CTA_ZONE]);
    assert_int_equal(attr_be32(tb[CTA_MARK]), 0x100);
    assert_int_equal(attr_be32(tb[CTA_MARK_MASK]), 0xff00);

    zone = 0;
    n = ctmsg_build_dump(m.b, sizeof m.b, 20, AF_UNSPEC, &zone, &mark, &mask);
    check_msg(&m, n, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 20, AF_UNSPEC,
              NFNETLINK_V0, tb);
    assert_int_equal(attr_be16(tb[CTA_ZONE]), 0);       /* Zone 0 is a real filter. */
    assert_int_equal(attr_be32(tb[CTA_MARK]), 0x100);
    assert_int_equal(attr_be32(tb[CTA_MARK_MASK]), 0xff00);

    /* Too small a buffer. */
    assert_int_equal(ctmsg_build_dump(m.b, CTMSG_MAX_LEN - 1, 1, AF_INET, &zone, &mark, &mask), 0);
}

/* The addresses of a filter's CTA_TUPLE_IP nest (tuple tt) are exactly f's. */
static void
check_filter_ip(const struct nlattr *const *tt, const struct ctmsg_filter *f)
{
    const struct nlattr *ti[CTA_IP_MAX + 1];
    size_t alen = f->family == AF_INET ? 4 : 16;

    assert_non_null(tt[CTA_TUPLE_IP]);
    walk_nest(tt[CTA_TUPLE_IP], ti, CTA_IP_MAX);
    uint16_t src_t = f->family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC;
    uint16_t dst_t = f->family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST;
    uint16_t other_src = f->family == AF_INET ? CTA_IP_V6_SRC : CTA_IP_V4_SRC;
    uint16_t other_dst = f->family == AF_INET ? CTA_IP_V6_DST : CTA_IP_V4_DST;
    assert_null(ti[other_src]);
    assert_null(ti[other_dst]);
    if (f->has_src) {
        assert_non_null(ti[src_t]);
        assert_int_equal(mnl_attr_get_payload_len(ti[src_t]), alen);
        assert_memory_equal(mnl_attr_get_payload(ti[src_t]), &f->src, alen);
    } else {
        assert_null(ti[src_t]);
    }
    if (f->has_dst) {
        assert_non_null(ti[dst_t]);
        assert_int_equal(mnl_attr_get_payload_len(ti[dst_t]), alen);
        assert_memory_equal(mnl_attr_get_payload(ti[dst_t]), &f->dst, alen);
    } else {
        assert_null(ti[dst_t]);
    }
}

/* A filtered flush (type DELETE) or filtered dump (type GET): the addresses
 * on their tuple, the protocol and port on the original one, and flags to
 * say so. */
static void
check_filter_msg(const union msgbuf *m, size_t n, uint16_t type, uint16_t nl_flags,
                 const struct ctmsg_filter *f, uint32_t seq)
{
    const struct nlattr *tb[CTA_MAX + 1], *to[CTA_TUPLE_MAX + 1], *tr[CTA_TUPLE_MAX + 1],
                        *tf[CTA_FILTER_MAX + 1];
    uint32_t ip_flags = (f->has_src ? CTF_FILTER_IP_SRC : 0)
                        | (f->has_dst ? CTF_FILTER_IP_DST : 0);
    uint32_t proto_flags = f->proto ? CTF_FILTER_PROTO_NUM
                                      | (f->has_dport ? CTF_FILTER_PROTO_DST_PORT : 0) : 0;
    bool has_ip = f->has_src || f->has_dst;
    uint32_t want_orig = (f->reply ? 0 : ip_flags) | proto_flags;
    uint32_t want_reply = f->reply ? ip_flags : 0;

    check_msg(m, n, type, NLM_F_REQUEST | nl_flags, seq, (uint8_t) f->family, NFNETLINK_V0, tb);
    /* The original tuple when it holds anything; the reply tuple only for
     * a reply filter's addresses. */
    if (want_orig) {
        assert_non_null(tb[CTA_TUPLE_ORIG]);
        walk_nest(tb[CTA_TUPLE_ORIG], to, CTA_TUPLE_MAX);
        if (has_ip && !f->reply) {
            check_filter_ip(to, f);
        } else {
            assert_null(to[CTA_TUPLE_IP]);
        }
        if (f->proto) {
            const struct nlattr *tp[CTA_PROTO_MAX + 1];
            assert_non_null(to[CTA_TUPLE_PROTO]);
            walk_nest(to[CTA_TUPLE_PROTO], tp, CTA_PROTO_MAX);
            assert_non_null(tp[CTA_PROTO_NUM]);
            assert_int_equal(mnl_attr_get_u8(tp[CTA_PROTO_NUM]), f->proto);
            assert_null(tp[CTA_PROTO_SRC_PORT]);
            if (f->has_dport) {
                assert_int_equal(attr_be16(tp[CTA_PROTO_DST_PORT]), f->dport);
            } else {
                assert_null(tp[CTA_PROTO_DST_PORT]);
            }
        } else {
            assert_null(to[CTA_TUPLE_PROTO]);
        }
        assert_null(to[CTA_TUPLE_ZONE]);
    } else {
        assert_null(tb[CTA_TUPLE_ORIG]);
    }
    if (want_reply) {
        assert_non_null(tb[CTA_TUPLE_REPLY]);
        walk_nest(tb[CTA_TUPLE_REPLY], tr, CTA_TUPLE_MAX);
        check_filter_ip(tr, f);
        assert_null(tr[CTA_TUPLE_PROTO]);
        assert_null(tr[CTA_TUPLE_ZONE]);
    } else {
        assert_null(tb[CTA_TUPLE_REPLY]);
    }

    /* CTA_FILTER: the flags (host order, as the kernel's NLA_U32 policy
     * reads them) of each tuple. */
    assert_non_null(tb[CTA_FILTER]);
    walk_nest(tb[CTA_FILTER], tf, CTA_FILTER_MAX);
    assert_int_equal(attr_u32(tf[CTA_FILTER_ORIG_FLAGS]), want_orig);
    assert_int_equal(attr_u32(tf[CTA_FILTER_REPLY_FLAGS]), want_reply);

    /* The zone is a top-level CTA_ZONE, never a tuple zone. */
    if (f->has_zone) {
        assert_int_equal(attr_be16(tb[CTA_ZONE]), f->zone);
    } else {
        assert_null(tb[CTA_ZONE]);
    }
    assert_null(tb[CTA_MARK]);
    assert_null(tb[CTA_ID]);
}

/* The filter for family index fam (0: v4, 1: v6), tuple and ends (bit 0:
 * source, bit 1: destination), on two fixed addresses. */
static struct ctmsg_filter
make_filter(int fam, int reply, int ends)
{
    static const char *const a4[2] = { "10.0.0.1", "192.168.9.8" };
    static const char *const a6[2] = { "fd00::1", "2001:db8::abcd:1" };
    const char *const *a = fam ? a6 : a4;
    struct ctmsg_filter f;

    memset(&f, 0, sizeof f);
    f.family = fam ? AF_INET6 : AF_INET;
    f.reply = reply;
    f.has_src = ends & 1;
    f.has_dst = ends & 2;
    if (f.has_src) {
        f.src = ina(f.family, a[0]);
    }
    if (f.has_dst) {
        f.dst = ina(f.family, a[1]);
    }
    return f;
}

static void
test_build_filtered_flush(void **state)
{
    unsigned int built = 0;

    for (int fam = 0; fam < 2; fam++) {
        for (int reply = 0; reply < 2; reply++) {
            for (int ends = 1; ends < 4; ends++) {          /* src, dst, both */
                for (int zone = 0; zone < 3; zone++) {      /* none, 0, 77 */
                    for (int ack = 0; ack < 2; ack++) {
                        for (int proto = 0; proto < 3; proto++) {   /* none, udp, udp/53 */
                            struct ctmsg_filter f = make_filter(fam, reply, ends);
                            union msgbuf m;
                            f.has_zone = zone > 0;
                            f.zone = zone == 2 ? 77 : 0;
                            f.proto = proto ? IPPROTO_UDP : 0;
                            f.has_dport = proto == 2;
                            f.dport = 53;
                            memset(&m, 0xaa, sizeof m);
                            uint32_t seq = 1000 + built;
                            size_t n = ctmsg_build_filtered_flush(m.b, sizeof m.b, seq, &f, ack);
                            check_filter_msg(&m, n, IPCTNL_MSG_CT_DELETE, ack ? NLM_F_ACK : 0,
                                             &f, seq);
                            built++;
                        }
                    }
                }
            }
        }
    }
    assert_int_equal(built, 2 * 2 * 3 * 3 * 2 * 3);
}

static void
test_build_filtered_flush_refuses(void **state)
{
    union msgbuf m;
    struct ctmsg_filter f = make_filter(0, 0, 1);       /* v4 source 10.0.0.1 */

    assert_int_not_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, true), 0);
    /* Too small a buffer. */
    assert_int_equal(ctmsg_build_filtered_flush(m.b, CTMSG_MAX_LEN - 1, 1, &f, true), 0);
    /* Neither end: that would be a flush of the whole family. */
    f.has_src = false;
    assert_int_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, true), 0);
    f.has_zone = true;
    f.zone = 5;
    assert_int_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, false), 0);
    /* Families other than v4/v6. */
    f.has_src = true;
    f.family = AF_UNSPEC;
    assert_int_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, true), 0);
    f.family = AF_BRIDGE;
    assert_int_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, true), 0);
    /* A protocol without an address would flush the protocol everywhere. */
    f.family = AF_INET;
    f.has_src = false;
    f.proto = IPPROTO_TCP;
    assert_int_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, true), 0);
    /* A port the kernel would not compare (only TCP's and UDP's are). */
    f.has_src = true;
    f.has_dport = true;
    f.dport = 80;
    assert_int_not_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, true), 0);
    f.proto = IPPROTO_SCTP;
    assert_int_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, true), 0);
    f.proto = 0;
    assert_int_equal(ctmsg_build_filtered_flush(m.b, sizeof m.b, 1, &f, true), 0);
}

static void
test_build_filtered_dump(void **state)
{
    unsigned int built = 0;

    for (int fam = 0; fam < 2; fam++) {
        for (int reply = 0; reply < 2; reply++) {
            for (int ends = 0; ends < 4; ends++) {          /* none, src, dst, both */
                for (int proto = 0; proto < 3; proto++) {   /* none, tcp, tcp/443 */
                    struct ctmsg_filter f = make_filter(fam, reply, ends);
                    union msgbuf m;
                    f.proto = proto ? IPPROTO_TCP : 0;
                    f.has_dport = proto == 2;
                    f.dport = 443;
                    if (!ends && !proto) {
                        continue;               /* Nothing to filter on. */
                    }
                    memset(&m, 0xaa, sizeof m);
                    uint32_t seq = 2000 + built;
                    size_t n = ctmsg_build_filtered_dump(m.b, sizeof m.b, seq, &f);
                    check_filter_msg(&m, n, IPCTNL_MSG_CT_GET, NLM_F_DUMP, &f, seq);
                    built++;
                }
            }
        }
    }
    assert_int_equal(built, 2 * 2 * (4 * 3 - 1));
}

static void
test_build_filtered_dump_refuses(void **state)
{
    union msgbuf m;
    struct ctmsg_filter f = make_filter(1, 0, 2);       /* v6 destination */

    assert_int_not_equal(ctmsg_build_filtered_dump(m.b, sizeof m.b, 1, &f), 0);
    assert_int_equal(ctmsg_build_filtered_dump(m.b, CTMSG_MAX_LEN - 1, 1, &f), 0);
    /* A zone is checked in userspace, never sent: refused, not dropped. */
    f.has_zone = true;
    assert_int_equal(ctmsg_build_filtered_dump(m.b, sizeof m.b, 1, &f), 0);
    f.has_zone = false;
    /* Neither end: that is a plain dump, which ctmsg_build_dump builds. */
    f.has_dst = false;
    assert_int_equal(ctmsg_build_filtered_dump(m.b, sizeof m.b, 1, &f), 0);
    f.has_src = true;
    f.family = AF_UNSPEC;
    assert_int_equal(ctmsg_build_filtered_dump(m.b, sizeof m.b, 1, &f), 0);
    /* A protocol alone is a filter (a whole family of it), but only with a
     * family: the kernel needs one to filter at all. */
    f.has_src = false;
    f.proto = IPPROTO_UDP;
    assert_int_equal(ctmsg_build_filtered_dump(m.b, sizeof m.b, 1, &f), 0);
    f.family = AF_INET6;
    assert_int_not_equal(ctmsg_build_filtered_dump(m.b, sizeof m.b, 1, &f), 0);
    f.has_dport = true;
    f.proto = IPPROTO_DCCP;             /* Ports the kernel would not compare. */
    assert_int_equal(ctmsg_build_filtered_dump(m.b, sizeof m.b, 1, &f), 0);
}

/* An entry with the given tuples (reply NULL: none). */
static struct ct_entry
filter_entry(int family, const char *osrc, const char *odst, const char *rsrc,
             const char *rdst, uint16_t zone)
{
    struct ct_entry e;

    memset(&e, 0, sizeof e);
    e.family = family;
    e.orig.src = ina(family, osrc);
    e.orig.dst = ina(family, odst);
    if (rsrc) {
        e.reply.src = ina(family, rsrc);
        e.reply.dst = ina(family, rdst);
        e.has_reply = true;
    }
    e.zone = zone;
    return e;
}

static void
test_filter_match(void **state)
{
    /* A DNAT'd entry: 10.0.0.9 -> floating 172.16.0.5, which is 10.1.1.5. */
    struct ct_entry e = filter_entry(AF_INET, "10.0.0.9", "172.16.0.5", "10.1.1.5",
                                     "10.0.0.9", 3);
    struct ctmsg_filter f;

    memset(&f, 0, sizeof f);
    f.family = AF_INET;
    f.has_src = true;
    f.src = ina(AF_INET, "10.0.0.9");
    assert_true(ctmsg_filter_match(&f, &e));            /* orig src */
    f.reply = true;
    assert_false(ctmsg_filter_match(&f, &e));           /* reply src is 10.1.1.5 */
    f.src = ina(AF_INET, "10.1.1.5");
    assert_true(ctmsg_filter_match(&f, &e));
    f.has_dst = true;                                   /* both ends */
    f.dst = ina(AF_INET, "10.0.0.9");
    assert_true(ctmsg_filter_match(&f, &e));
    f.dst = ina(AF_INET, "10.0.0.8");
    assert_false(ctmsg_filter_match(&f, &e));
    f.has_src = false;                                  /* dst only */
    f.dst = ina(AF_INET, "10.0.0.9");
    assert_true(ctmsg_filter_match(&f, &e));
    f.has_zone = true;
    f.zone = 3;
    assert_true(ctmsg_filter_match(&f, &e));
    f.zone = 0;
    assert_false(ctmsg_filter_match(&f, &e));
    f.has_zone = false;

    /* No reply tuple: a reply filter never matches (not even on zeros). */
    struct ct_entry noreply = filter_entry(AF_INET, "10.0.0.9", "0.0.0.0", NULL, NULL, 0);
    f.dst = ina(AF_INET, "0.0.0.0");
    assert_false(ctmsg_filter_match(&f, &noreply));
    f.reply = false;
    assert_true(ctmsg_filter_match(&f, &noreply));

    /* The family must agree: a v4 address is not the v6 ::a00:9. */
    struct ct_entry e6 = filter_entry(AF_INET6, "::a00:9", "fd00::1", "fd00::1", "::a00:9", 0);
    memset(&f, 0, sizeof f);
    f.family = AF_INET;
    f.has_src = true;
    f.src = ina(AF_INET, "10.0.0.9");
    assert_false(ctmsg_filter_match(&f, &e6));
    f.family = AF_INET6;
    f.src = ina(AF_INET6, "::a00:9");
    assert_true(ctmsg_filter_match(&f, &e6));
    /* All 16 bytes count for v6. */
    f.src = ina(AF_INET6, "1::a00:9");
    assert_false(ctmsg_filter_match(&f, &e6));

    /* Protocol and the original destination port, whichever tuple the
     * addresses are on. */
    e.l4proto = IPPROTO_UDP;
    e.has_ports = true;
    e.sport = 5000;
    e.dport = 53;
    memset(&f, 0, sizeof f);
    f.family = AF_INET;
    f.proto = IPPROTO_UDP;
    assert_true(ctmsg_filter_match(&f, &e));            /* Protocol alone. */
    f.has_dport = true;
    f.dport = 53;
    assert_true(ctmsg_filter_match(&f, &e));
    f.dport = 5000;                                     /* Not the source port. */
    assert_false(ctmsg_filter_match(&f, &e));
    f.dport = 53;
    f.reply = true;
    f.has_src = true;
    f.src = ina(AF_INET, "10.1.1.5");
    assert_true(ctmsg_filter_match(&f, &e));
    f.proto = IPPROTO_TCP;
    assert_false(ctmsg_filter_match(&f, &e));
    f.proto = IPPROTO_UDP;
    e.has_ports = false;
    assert_false(ctmsg_filter_match(&f, &e));
}

static void
test_build_zone_flush(void **state)
{
    static const uint16_t zones[] = { 0, 1, 4096, 65535 };
    const struct nlattr *tb[CTA_MAX + 1];
    union msgbuf m;

    for (size_t i = 0; i < sizeof zones / sizeof *zones; i++) {
        for (int ack = 0; ack < 2; ack++) {
            memset(&m, 0xaa, sizeof m);
            size_t n = ctmsg_build_zone_flush(m.b, sizeof m.b, 55, zones[i], ack);
            check_msg(&m, n, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | (ack ? NLM_F_ACK : 0), 55,
                      AF_UNSPEC, NFNETLINK_V0, tb);
            assert_int_equal(attr_be16(tb[CTA_ZONE]), zones[i]);
            /* Nothing else: no tuple, no filter. */
            for (unsigned int t = 0; t <= CTA_MAX; t++) {
                if (t != CTA_ZONE) {
                    assert_null(tb[t]);
                }
            }
        }
    }
    assert_int_equal(ctmsg_build_zone_flush(m.b, CTMSG_MAX_LEN - 1, 1, 5, true), 0);
}

static void
test_build_flush(void **state)
{
    const struct nlattr *tb[CTA_MAX + 1];
    union msgbuf m;
    size_t n;

    /* A family flush must say version 1, or the kernel flushes every family. */
    n = ctmsg_build_flush(m.b, sizeof m.b, 9, AF_INET, true);
    check_msg(&m, n, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 9, AF_INET, 1, tb);
    assert_int_equal(n, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)));
    n = ctmsg_build_flush(m.b, sizeof m.b, 10, AF_INET6, false);
    check_msg(&m, n, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST, 10, AF_INET6, 1, tb);
    assert_int_equal(n, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)));
    n = ctmsg_build_flush(m.b, sizeof m.b, 11, AF_UNSPEC, true);
    check_msg(&m, n, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 11, AF_UNSPEC,
              NFNETLINK_V0, tb);
    assert_int_equal(ctmsg_build_flush(m.b, CTMSG_MAX_LEN - 1, 1, AF_INET, true), 0);
}

/* ---- Parsing good entries, and deleting them. ---- */

static void
check_parsed(const union msgbuf *m, const struct entry_spec *s, const struct ct_entry *e)
{
    int afam = s->family;
    union ctf_inaddr a;

    assert_int_equal(e->family, afam);
    a = ina(afam, s->orig.src);
    assert_memory_equal(&e->orig.src, &a, sizeof a);
    a = ina(afam, s->orig.dst);
    assert_memory_equal(&e->orig.dst, &a, sizeof a);
    assert_int_equal(e->has_reply, s->has_reply);
    if (s->has_reply) {
        a = ina(afam, s->reply.src);
        assert_memory_equal(&e->reply.src, &a, sizeof a);
        a = ina(afam, s->reply.dst);
        assert_memory_equal(&e->reply.dst, &a, sizeof a);
    }
    assert_int_equal(e->zone, s->has_zone ? s->zone : 0);
    assert_int_equal(e->mark, s->has_mark ? s->mark : 0);
    assert_int_equal(e->has_id, s->has_id);
    assert_int_equal(e->id, s->has_id ? s->id : 0);
    assert_int_equal(e->l4proto, s->orig.proto);
    /* Ports are the original tuple's, never the reply's. */
    assert_int_equal(e->has_ports, !s->no_ports);
    assert_int_equal(e->sport, s->no_ports ? 0 : s->orig.sport);
    assert_int_equal(e->dport, s->no_ports ? 0 : s->orig.dport);

    /* orig_attr is the CTA_TUPLE_ORIG attribute inside the message. */
    const struct nlattr *tb[CTA_MAX + 1];
    walk_strict(m->b + MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)),
                m->nlh.nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(struct nfgenmsg)),
                tb, CTA_MAX);
    assert_ptr_equal(e->orig_attr, tb[CTA_TUPLE_ORIG]);
    assert_int_equal(e->orig_attr_len, tb[CTA_TUPLE_ORIG]->nla_len);
}

static void
check_delete(const struct ct_entry *e, uint32_t seq)
{
    const struct nlattr *tb[CTA_MAX + 1];
    union msgbuf out;

    memset(&out, 0xaa, sizeof out);
    size_t n = ctmsg_build_delete(out.b, sizeof out.b, seq, e);
    /* No ACK: only failures come back. */
    check_msg(&out, n, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST, seq, (uint8_t) e->family,
              NFNETLINK_V0, tb);
    assert_non_null(tb[CTA_TUPLE_ORIG]);
    assert_int_equal(tb[CTA_TUPLE_ORIG]->nla_len, e->orig_attr_len);
    assert_memory_equal(tb[CTA_TUPLE_ORIG], e->orig_attr, e->orig_attr_len);
    if (e->zone) {
        assert_int_equal(attr_be16(tb[CTA_ZONE]), e->zone);
    } else {
        assert_null(tb[CTA_ZONE]);
    }
    if (e->has_id) {
        assert_int_equal(attr_be32(tb[CTA_ID]), e->id);
    } else {
        assert_null(tb[CTA_ID]);
    }
    assert_null(tb[CTA_TUPLE_REPLY]);
    assert_null(tb[CTA_MARK]);
    assert_null(tb[CTA_FILTER]);
}

static void
parse_good(const struct entry_spec *s)
{
    union msgbuf m;
    struct ct_entry e;
    size_t n = build_entry(&m, s);

    memset(&e, 0x5a, sizeof e);
    assert_int_equal(ctmsg_parse_entry(m.b, n, &e), 0);
    check_parsed(&m, s, &e);
    check_delete(&e, 99);
    /* A buffer longer than the message (the rest of a recv) is fine too. */
    assert_int_equal(ctmsg_parse_entry(m.b, sizeof m.b, &e), 0);
    check_parsed(&m, s, &e);
}

static void
test_parse_v4(void **state)
{
    struct entry_spec s = spec_v4();

    parse_good(&s);
}

static void
test_parse_v6(void **state)
{
    struct entry_spec s = spec_v6();

    parse_good(&s);
}

static void
test_parse_optional_parts(void **state)
{
    struct entry_spec s;

    /* No zone, mark or id. */
    s = spec_v4();
    s.has_zone = s.has_mark = s.has_id = false;
    parse_good(&s);
    /* Zone 1, and the largest id. */
    s = spec_v4();
    s.zone = 1;
    s.id = UINT32_MAX;
    parse_good(&s);
    /* Zone 0 sent explicitly; id 0. */
    s = spec_v6();
    s.zone = 0;
    s.id = 0;
    parse_good(&s);
    /* No reply tuple. */
    s = spec_v4();
    s.has_reply = false;
    parse_good(&s);
    /* Scalars before the tuples. */
    s = spec_v6();
    s.attrs_first = true;
    parse_good(&s);
    /* A directional tuple zone in orig is carried verbatim by the delete. */
    s = spec_v4();
    s.tuple_zone = true;
    s.zone = 3;
    parse_good(&s);
    /* Same, with orig's length not a multiple of 4: the delete pads it,
     * with zeros (checked by walk_strict). */
    s = spec_v6();
    s.tuple_zone = true;
    s.tuple_zone_unpadded = true;
    parse_good(&s);
    /* v4 NAT. */
    s = spec_v4();
    s.orig = (struct tuple_spec) { "192.168.1.9", "203.0.113.10", IPPROTO_ICMP, 1, 0 };
    s.reply = (struct tuple_spec) { "10.0.0.1", "192.168.1.9", IPPROTO_ICMP, 1, 0 };
    parse_good(&s);
    /* No ports at all (ICMP as the kernel sends it: type, code, id). */
    s.no_ports = true;
    parse_good(&s);
    /* Extreme ports. */
    s = spec_v6();
    s.orig.sport = 0;
    s.orig.dport = 65535;
    parse_good(&s);
}

static void
test_parse_header_fields_ignored(void **state)
{
    /* nlmsg_flags, seq, pid and the nfgen version do not matter. */
    struct entry_spec s = spec_v4();
    union msgbuf m;
    struct ct_entry e;
    size_t n = build_entry(&m, &s);
    struct nfgenmsg *nfg = mnl_nlmsg_get_payload(&m.nlh);

    m.nlh.nlmsg_flags = 0;
    nfg->version = 1;
    nfg->res_id = htons(3);
    assert_int_equal(ctmsg_parse_entry(m.b, n, &e), 0);
    check_parsed(&m, &s, &e);
}

static void
test_build_delete_refuses(void **state)
{
    struct entry_spec s = spec_v4();
    union msgbuf m, out;
    struct ct_entry e;
    size_t n = build_entry(&m, &s);

    assert_int_equal(ctmsg_parse_entry(m.b, n, &e), 0);
    assert_int_equal(ctmsg_build_delete(out.b, CTMSG_MAX_LEN - 1, 1, &e), 0);
    assert_int_not_equal(ctmsg_build_delete(out.b, CTMSG_MAX_LEN, 1, &e), 0);
    e.orig_attr = NULL;
    assert_int_equal(ctmsg_build_delete(out.b, sizeof out.b, 1, &e), 0);
}

/* ---- Malformed entries. ---- */

static void
test_parse_truncated(void **state)
{
    /* Cut short at every length, nlmsg_len still saying the full size. */
    struct entry_spec specs[2] = { spec_v4(), spec_v6() };

    for (int k = 0; k < 2; k++) {
        union msgbuf m;
        size_t n = build_entry(&m, &specs[k]);
        for (size_t cut = 0; cut < n; cut++) {
            if (parse_exact(m.b, cut) != EINVAL) {
                fail_msg("entry %d cut at %zu of %zu accepted", k, cut, n);
            }
        }
        assert_int_equal(parse_exact(m.b, n), 0);
    }
}

/* Offsets at which a top-level attribute of the message ends. */
static size_t
attr_ends(const union msgbuf *m, size_t *ends, size_t max, size_t *orig_end)
{
    const struct nlattr *a;
    size_t k = 0;

    *orig_end = 0;
    mnl_attr_for_each(a, &m->nlh, sizeof(struct nfgenmsg)) {
        size_t end = (size_t) ((const uint8_t *) a - m->b) + MNL_ALIGN(a->nla_len);
        assert_true(k < max);
        ends[k++] = end;
        if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG) {
            *orig_end = end;
        }
    }
    return k;
}

static void
test_parse_truncated_consistent(void **state)
{
    /* Cut short at every 4-byte boundary with nlmsg_len saying the cut
     * length: only a cut between two top-level attributes, after the orig
     * tuple, leaves a well-formed (shorter) entry. A cut inside an attribute
     * must be refused: accepting it would read a zone, mark or id from a
     * half attribute, or silently drop them (and a delete without its zone
     * goes to zone 0). */
    struct entry_spec specs[2] = { spec_v4(), spec_v6() };

    for (int k = 0; k < 2; k++) {
        union msgbuf m, c;
        size_t ends[32], orig_end;
        size_t n = build_entry(&m, &specs[k]);
        size_t n_ends = attr_ends(&m, ends, 32, &orig_end);

        assert_int_equal(ends[n_ends - 1], n);
        for (size_t cut = 4; cut <= n; cut += 4) {
            bool boundary = false;
            for (size_t i = 0; i < n_ends; i++) {
                boundary |= ends[i] == cut && cut >= orig_end;
            }
            c = m;
            c.nlh.nlmsg_len = (uint32_t) cut;
            int err = parse_exact(c.b, cut);
            if (boundary && err) {
                fail_msg("entry %d cut at attribute end %zu refused (%d)", k, cut, err);
            }
            if (!boundary && err != EINVAL) {
                fail_msg("entry %d cut at %zu (inside an attribute) accepted", k, cut);
            }
        }
    }
}

static void
test_parse_unaligned_len_no_overread(void **state)
{
    /* nlmsg_len ends one byte into CTA_MARK's payload. libmnl's top-level
     * walk runs to MNL_ALIGN(nlmsg_len), so the parser must not take the
     * mark (read from bytes past the message) as valid. Under ASan or
     * valgrind the exact-size buffer also catches the over-read itself. */
    struct entry_spec s = spec_v4();
    union msgbuf m;
    size_t n, mark_at = 0;
    const struct nlattr *a;

    s.has_id = false;
    n = build_entry(&m, &s);
    mnl_attr_for_each(a, &m.nlh, sizeof(struct nfgenmsg)) {
        if (mnl_attr_get_type(a) == CTA_MARK) {
            mark_at = (size_t) ((const uint8_t *) a - m.b);
        }
    }
    assert_true(mark_at > 0 && mark_at + 8 <= n);
    for (size_t extra = 5; extra <= 7; extra++) {
        size_t cut = mark_at + extra;
        m.nlh.nlmsg_len = (uint32_t) cut;
        if (parse_exact(m.b, cut) != EINVAL) {
            fail_msg("nlmsg_len %zu (CTA_MARK cut after %zu payload bytes) accepted",
                     cut, extra - 4);
        }
    }
}

static void
test_parse_unaligned_cuts_every_length(void **state)
{
    /* Every length, with nlmsg_len equal to it: never a crash or a read past
     * the buffer (checked by ASan/valgrind), always 0 or EINVAL. */
    struct entry_spec specs[2] = { spec_v4(), spec_v6() };

    for (int k = 0; k < 2; k++) {
        union msgbuf m, c;
        size_t n = build_entry(&m, &specs[k]);
        for (size_t cut = 4; cut <= n; cut++) {
            c = m;
            c.nlh.nlmsg_len = (uint32_t) cut;
            int err = parse_exact(c.b, cut);
            assert_true(err == 0 || err == EINVAL);
        }
    }
}

static void
test_parse_bad_header(void **state)
{
    struct entry_spec s = spec_v4();
    union msgbuf m, c;
    size_t n = build_entry(&m, &s);
    struct nfgenmsg *nfg;

    /* nlmsg_len beyond the buffer. */
    c = m;
    c.nlh.nlmsg_len = (uint32_t) n + 4;
    assert_int_equal(parse_exact(c.b, n), EINVAL);
    c.nlh.nlmsg_len = UINT32_MAX;
    assert_int_equal(parse_exact(c.b, n), EINVAL);
    /* nlmsg_len too short for the headers. */
    static const uint32_t shorts[] = { 0, 4, 15, 16, 17, 19 };
    for (size_t i = 0; i < sizeof shorts / sizeof *shorts; i++) {
        c = m;
        c.nlh.nlmsg_len = shorts[i];
        assert_int_equal(parse_exact(c.b, n), EINVAL);
    }
    /* Headers only. */
    c = m;
    c.nlh.nlmsg_len = 20;
    assert_int_equal(parse_exact(c.b, 20), EINVAL);

    /* Wrong subsystem or message type. */
    static const uint16_t types[] = {
        (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_NEW,
        (NFNL_SUBSYS_NONE << 8) | IPCTNL_MSG_CT_NEW,
        (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
        (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
        (NFNL_SUBSYS_CTNETLINK << 8) | 0x80,
        (NFNL_SUBSYS_CTNETLINK_TIMEOUT << 8) | IPCTNL_MSG_CT_NEW,
        NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP,
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        c = m;
        c.nlh.nlmsg_type = types[i];
        if (parse_exact(c.b, n) != EINVAL) {
            fail_msg("nlmsg_type 0x%04x accepted", types[i]);
        }
    }

    /* Families we do not handle. */
    static const uint8_t fams[] = { AF_UNSPEC, AF_UNIX, AF_BRIDGE, AF_DECnet, 255 };
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++) {
        c = m;
        nfg = mnl_nlmsg_get_payload(&c.nlh);
        nfg->nfgen_family = fams[i];
        if (parse_exact(c.b, n) != EINVAL) {
            fail_msg("family %u accepted", fams[i]);
        }
    }
    /* The v4 entry relabelled v6 (its 4-byte v4 attributes are not v6 ones). */
    c = m;
    nfg = mnl_nlmsg_get_payload(&c.nlh);
    nfg->nfgen_family = AF_INET6;
    assert_int_equal(parse_exact(c.b, n), EINVAL);
}

static void
test_parse_bad_tuples(void **state)
{
    static const struct {
        enum fault f;
        const char *what;
    } faults[] = {
        { F_NO_ORIG, "no CTA_TUPLE_ORIG" },
        { F_NO_TUPLE_IP, "no CTA_TUPLE_IP" },
        { F_EMPTY_TUPLE_IP, "empty CTA_TUPLE_IP" },
        { F_NO_SRC, "no source address" },
        { F_NO_DST, "no destination address" },
        { F_REPLY_NO_SRC, "reply without source address" },
        { F_REPLY_NO_TUPLE_IP, "reply without CTA_TUPLE_IP" },
        { F_ADDR_LEN_OTHER, "addresses of the other family's length" },
        { F_REPLY_ADDR_LEN_OTHER, "reply addresses of the other family's length" },
        { F_ADDR_TYPES_OTHER, "address attributes of the other family" },
        { F_ADDR_LEN_5, "5-byte addresses" },
        { F_JUNK_IN_ORIG, "junk in the orig nest" },
        { F_JUNK_IN_TUPLE_IP, "junk in CTA_TUPLE_IP" },
        { F_JUNK_IN_REPLY, "junk in the reply nest" },
        { F_ORIG_CHILD_PAST_END, "orig child running past the nest" },
        { F_IP_CHILD_PAST_END, "CTA_TUPLE_IP child running past the nest" },
        { F_ORIG_TOO_BIG, "orig tuple too big for a delete" },
    };

    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
        struct entry_spec s = spec_v4();
        s.fault = faults[i].f;
        expect_einval(&s, faults[i].what);
        s = spec_v6();
        s.fault = faults[i].f;
        expect_einval(&s, faults[i].what);
    }
}

static void
test_parse_bad_scalar_lengths(void **state)
{
    static const struct {
        enum fault f;
        const char *what;
    } faults[] = {
        { F_ZONE_LEN_3, "3-byte CTA_ZONE" },
        { F_ZONE_LEN_4, "4-byte CTA_ZONE" },
        { F_MARK_LEN_2, "2-byte CTA_MARK" },
        { F_MARK_LEN_8, "8-byte CTA_MARK" },
        { F_ID_LEN_2, "2-byte CTA_ID" },
        { F_ID_LEN_8, "8-byte CTA_ID" },
    };

    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
        for (int first = 0; first < 2; first++) {
            struct entry_spec s = spec_v4();
            s.fault = faults[i].f;
            s.attrs_first = first;
            expect_einval(&s, faults[i].what);
            s = spec_v6();
            s.fault = faults[i].f;
            s.attrs_first = first;
            expect_einval(&s, faults[i].what);
        }
    }
}

static void
test_parse_top_level_past_end(void **state)
{
    /* The last top-level attribute claims more bytes than the message has. */
    struct entry_spec s = spec_v4();

    s.fault = F_TRAILING_PAST_END;
    expect_einval(&s, "top-level attribute running past the message");
    s = spec_v6();
    s.fault = F_TRAILING_PAST_END;
    expect_einval(&s, "top-level attribute running past the message");
}

static void
test_parse_top_level_junk(void **state)
{
    /* Bytes at the end of the message that are no attribute. */
    struct entry_spec s = spec_v4();

    s.fault = F_TRAILING_JUNK;
    expect_einval(&s, "junk after the top-level attributes");
}

static void
test_parse_zone_cut_off(void **state)
{
    /* The orig tuple is intact, but CTA_ZONE right after the tuples runs
     * past the end: taking the entry as zone 0 would aim the delete at
     * another zone's entry. */
    struct entry_spec s = spec_v4();
    union msgbuf m;

    s.has_reply = false;
    s.has_mark = s.has_id = false;
    build_entry(&m, &s);
    /* Cut the message right after CTA_ZONE's header: the header says 6
     * bytes, only 4 are left (nlmsg_len stays 4-aligned). */
    const struct nlattr *a, *orig = NULL;
    mnl_attr_for_each(a, &m.nlh, sizeof(struct nfgenmsg)) {
        if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG) {
            orig = a;
        }
    }
    assert_non_null(orig);
    size_t at = (size_t) ((const uint8_t *) orig - m.b) + MNL_ALIGN(orig->nla_len);
    struct nlattr *z = (struct nlattr *) (m.b + at);
    z->nla_len = 6;
    z->nla_type = CTA_ZONE;
    m.nlh.nlmsg_len = (uint32_t) at + 4;
    assert_int_equal(parse_exact(m.b, at + 4), EINVAL);
}

/* Deterministic pseudo-random numbers (xorshift32). */
static uint32_t
rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void
test_parse_fuzz(void **state)
{
    /* Random corruption of good entries: every outcome is 0 or EINVAL, and
     * an accepted entry yields a usable delete (checked in parse_exact). */
    struct entry_spec specs[4] = { spec_v4(), spec_v6(), spec_v4(), spec_v6() };
    uint32_t x = 0x12345678;
    unsigned int accepted = 0, refused = 0;

    specs[2].has_reply = false;
    specs[3].attrs_first = true;
    specs[3].tuple_zone = true;
    for (int k = 0; k < 4; k++) {
        union msgbuf m, c;
        size_t n = build_entry(&m, &specs[k]);
        for (int iter = 0; iter < 20000; iter++) {
            c = m;
            unsigned int flips = 1 + rnd(&x) % 4;
            for (unsigned int j = 0; j < flips; j++) {
                size_t at = MNL_NLMSG_HDRLEN + rnd(&x) % (n - MNL_NLMSG_HDRLEN);
                switch (rnd(&x) % 3) {
                case 0:
                    c.b[at] ^= (uint8_t) (1u << (rnd(&x) % 8));
                    break;
                case 1:
                    c.b[at] = (uint8_t) rnd(&x);
                    break;
                default:
                    c.b[at] = (uint8_t) (rnd(&x) % 2 ? 0 : 0xff);
                    break;
                }
            }
            size_t len = n;
            if (rnd(&x) % 4 == 0) {
                /* A shorter, still 4-aligned, message (unaligned lengths
                 * have their own tests). */
                len = (20 + rnd(&x) % (n - 20)) & ~(size_t) 3;
                c.nlh.nlmsg_len = (uint32_t) len;
            }
            int err = parse_exact(c.b, len);
            if (err == 0) {
                accepted++;
            } else if (err == EINVAL) {
                refused++;
            } else {
                fail_msg("parse returned %d", err);
            }
        }
    }
    /* Both outcomes happen (else the corruption is not reaching anything). */
    assert_true(accepted > 0);
    assert_true(refused > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_dump),
        cmocka_unit_test(test_build_filtered_flush),
        cmocka_unit_test(test_build_filtered_dump),
        cmocka_unit_test(test_build_filtered_dump_refuses),
        cmocka_unit_test(test_filter_match),
        cmocka_unit_test(test_build_filtered_flush_refuses),
        cmocka_unit_test(test_build_zone_flush),
        cmocka_unit_test(test_build_flush),
        cmocka_unit_test(test_parse_v4),
        cmocka_unit_test(test_parse_v6),
        cmocka_unit_test(test_parse_optional_parts),
        cmocka_unit_test(test_parse_header_fields_ignored),
        cmocka_unit_test(test_build_delete_refuses),
        cmocka_unit_test(test_parse_truncated),
        cmocka_unit_test(test_parse_truncated_consistent),
        cmocka_unit_test(test_parse_bad_header),
        cmocka_unit_test(test_parse_bad_tuples),
        cmocka_unit_test(test_parse_bad_scalar_lengths),
        cmocka_unit_test(test_parse_top_level_past_end),
        cmocka_unit_test(test_parse_top_level_junk),
        cmocka_unit_test(test_parse_zone_cut_off),
        cmocka_unit_test(test_parse_fuzz),
        /* Last: under ASan, an over-read ends the whole program. */
        cmocka_unit_test(test_parse_unaligned_len_no_overread),
        cmocka_unit_test(test_parse_unaligned_cuts_every_length),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
