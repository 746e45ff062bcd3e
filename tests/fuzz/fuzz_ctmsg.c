/*
 * fuzz_ctmsg.c: ctmsg_parse_entry, the parser the dump path runs on every
 * conntrack entry the kernel sends, on messages whose body is the input.
 *
 * Input layout: the struct nfgenmsg (4 bytes: family, version, res_id) and
 * then the attributes, exactly as they follow the netlink header in a dump
 * message. The harness puts a struct nlmsghdr in front (type
 * IPCTNL_MSG_CT_NEW, NLM_F_MULTI, nlmsg_len the whole message), pads the
 * body with zeros to NLMSG_ALIGNTO as the kernel does, and hands over a heap
 * buffer of exactly nlmsg_len bytes. Seeds in corpus/ctmsg are real dump
 * messages with their netlink header cut off (fuzz_mkseeds writes them).
 *
 * Oracles beyond the sanitizers: a parsed entry has a family we handle, its
 * CTA_TUPLE_ORIG lies inside the message and fits a delete request, and
 * ctmsg_build_delete turns it into one well-formed netlink message.
 *
 * libmnl itself is not instrumented (it is the system library): an
 * out-of-bounds read inside an mnl_* function is caught only when it leaves
 * the buffer's page, but every byte the parser reads itself is checked.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include "ctmsg.h"
#include "fuzz.h"

/* nlmsg_len is 32 bits, but nothing the kernel dumps comes near this. */
#define FUZZ_CTMSG_MAX_BODY 65536

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t hdrlen = NLMSG_HDRLEN;
    struct nlmsghdr *nlh;
    struct ct_entry e;
    uint8_t *buf;
    size_t len;

    if (size > FUZZ_CTMSG_MAX_BODY) {
        return 0;
    }
    len = NLMSG_ALIGN(hdrlen + size);
    buf = fuzz_xmalloc(len);
    memset(buf, 0, len);
    nlh = (struct nlmsghdr *) buf;
    nlh->nlmsg_len = (uint32_t) len;
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    nlh->nlmsg_flags = NLM_F_MULTI;
    nlh->nlmsg_seq = 1;
    nlh->nlmsg_pid = 0;
    memcpy(buf + hdrlen, data, size);

    if (ctmsg_parse_entry(buf, len, &e)) {
        free(buf);
        return 0;
    }

    const uint8_t *orig = e.orig_attr;
    FUZZ_CHECK(e.family == AF_INET || e.family == AF_INET6);
    FUZZ_CHECK(orig != NULL);
    FUZZ_CHECK(orig >= buf + hdrlen + sizeof(struct nfgenmsg));
    FUZZ_CHECK(e.orig_attr_len >= sizeof(struct nlattr));
    FUZZ_CHECK(orig + e.orig_attr_len <= buf + len);
    FUZZ_CHECK(e.orig_attr_len <= CTMSG_MAX_LEN - 64);
    FUZZ_CHECK(((const struct nlattr *) orig)->nla_len == e.orig_attr_len);
    FUZZ_CHECK((((const struct nlattr *) orig)->nla_type & NLA_TYPE_MASK) == CTA_TUPLE_ORIG);
    if (e.family == AF_INET) {
        /* A v4 address fills the first 4 bytes only. */
        FUZZ_CHECK(!e.orig.src.w[1] && !e.orig.src.w[2] && !e.orig.src.w[3]);
        FUZZ_CHECK(!e.orig.dst.w[1] && !e.orig.dst.w[2] && !e.orig.dst.w[3]);
        FUZZ_CHECK(!e.reply.src.w[1] && !e.reply.dst.w[1]);
    }

    /* What the dump path does next with a matching entry. */
    uint8_t out[CTMSG_MAX_LEN];
    size_t n = ctmsg_build_delete(out, sizeof out, 2, &e);
    FUZZ_CHECK(n >= NLMSG_HDRLEN + sizeof(struct nfgenmsg) + e.orig_attr_len);
    FUZZ_CHECK(n <= sizeof out);
    const struct nlmsghdr *del = (const struct nlmsghdr *) out;
    FUZZ_CHECK(del->nlmsg_len == n);
    FUZZ_CHECK(mnl_nlmsg_ok(del, (int) n));
    FUZZ_CHECK(!memcmp(out + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)), orig,
                       e.orig_attr_len));

    free(buf);
    return 0;
}
