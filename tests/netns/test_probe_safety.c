/*
 * test_probe_safety.c: the two promises that make kernel-side flushes safe.
 *
 * (a) The start-up probe never touches the caller's table: it sends its zone
 *     flushes, filtered flushes, filtered dumps and plain flushes only in its
 *     own throwaway namespace. The test fills its own namespace with entries
 *     the probe's patterns would hit (its exact tuples, zones 0/7/8, its
 *     calibration addresses), runs probe_run with and without calibration,
 *     and checks that every entry is still there, identical down to CTA_ID
 *     and status; and that every ctnetlink message the probe sent went out
 *     on a socket of another namespace. Without CAP_SYS_ADMIN the probe must
 *     prove nothing and send nothing.
 *
 * (b) A kernel that failed a probe is never sent that kind of message: for
 *     capability records with one or all flags unproven, every job shape is
 *     run (auto and forced) while every outgoing netlink message is recorded;
 *     no message may be of a kind the record does not prove, and a forced
 *     unproven strategy must be refused without sending any delete. Positive
 *     controls check that the recorder does see each kind when it is proven,
 *     and that the rules flag those messages under unproven caps, so the test
 *     can fail.
 *
 * The recorder is a link-time seam (-Wl,--wrap=...) around every call the
 * engine could send with: send, sendto, sendmsg, sendmmsg, write, writev
 * (the engine's own calls) and mnl_socket_sendto (whose sendto runs inside
 * libmnl.so, out of --wrap's reach). It only looks at NETLINK_NETFILTER
 * sockets, notes each socket's namespace (SIOCGSKNS) and the sending pid,
 * and writes into a MAP_SHARED log, so the probe's forked child is seen too.
 *
 * The test moves itself into a fresh network namespace first: its table is
 * private and goes away with the process on every exit path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ctgen.h"
#include "ctmsg.h"
#include "ctsock.h"
#include "engine.h"
#include "job.h"
#include "log.h"
#include "netns_private.h"
#include "planner.h"
#include "probe.h"

/* ---- The recorder (link-time seam). ---- */

enum msg_kind {
    K_OTHER,            /* Not ctnetlink, or a ctnetlink type we do not expect. */
    K_NEW,              /* IPCTNL_MSG_CT_NEW: creates an entry. */
    K_GET,              /* IPCTNL_MSG_CT_GET (a dump or a single get). */
    K_GET_FILTER,       /* GET with CTA_FILTER: a kernel-filtered dump. */
    K_DEL_ENTRY,        /* DELETE with a tuple and no CTA_FILTER: one entry. */
    K_DEL_FILTER,       /* DELETE with CTA_FILTER: a filtered flush. */
    K_DEL_ZONE,         /* DELETE with only CTA_ZONE: a zone flush. */
    K_DEL_ALL,          /* DELETE with no attribute: flushes the table. */
    K_DEL_FLUSH_OTHER,  /* Any other tuple-less DELETE: some flush. */
    N_KINDS,
};

static const char *const kind_names[N_KINDS] = {
    "other", "new", "get", "filtered-dump", "delete-entry", "filtered-flush", "zone-flush",
    "flush-all", "flush-other",
};

struct rec {
    pid_t pid;                  /* Who sent it. */
    uint64_t netns;             /* Inode of the sending socket's namespace; 0 unknown. */
    uint16_t nl_type, nl_flags;
    uint8_t family, version;
    uint8_t kind;               /* enum msg_kind. */
    bool has_zone, has_id, has_mark;
    uint16_t zone;              /* Host order. */
    uint32_t fflags;            /* CTA_FILTER's orig | reply flags. */
};

#define F_ADDR (CTF_FILTER_IP_SRC | CTF_FILTER_IP_DST)
#define F_PROTO (CTF_FILTER_PROTO_NUM | CTF_FILTER_PROTO_SRC_PORT | CTF_FILTER_PROTO_DST_PORT)

#define LOG_CAP 65536

struct reclog {
    unsigned int n;             /* Records written (may exceed LOG_CAP). */
    unsigned int calls;         /* Send calls seen on netfilter sockets. */
    unsigned int malformed;     /* Buffers that did not parse as netlink. */
    struct rec r[LOG_CAP];
};

static struct reclog *rlog;             /* MAP_SHARED: the probe's child writes too. */
static volatile int recording;          /* Inherited by fork. */

ssize_t __real_send(int, const void *, size_t, int);
ssize_t __wrap_send(int, const void *, size_t, int);
ssize_t __real_sendto(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
ssize_t __wrap_sendto(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
ssize_t __real_sendmsg(int, const struct msghdr *, int);
ssize_t __wrap_sendmsg(int, const struct msghdr *, int);
int __real_sendmmsg(int, struct mmsghdr *, unsigned int, int);
int __wrap_sendmmsg(int, struct mmsghdr *, unsigned int, int);
ssize_t __real_write(int, const void *, size_t);
ssize_t __wrap_write(int, const void *, size_t);
ssize_t __real_writev(int, const struct iovec *, int);
ssize_t __wrap_writev(int, const struct iovec *, int);
ssize_t __real_mnl_socket_sendto(const struct mnl_socket *, const void *, size_t);
ssize_t __wrap_mnl_socket_sendto(const struct mnl_socket *, const void *, size_t);

static bool
is_netfilter_socket(int fd)
{
    int v = 0;
    socklen_t len = sizeof v;

    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_NETLINK) {
        return false;
    }
    len = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 && v == NETLINK_NETFILTER;
}

static uint64_t
socket_netns(int fd)
{
    struct stat st;
    int ns = ioctl(fd, SIOCGSKNS);

    if (ns < 0) {
        return 0;
    }
    uint64_t ino = fstat(ns, &st) == 0 ? (uint64_t) st.st_ino : 0;
    close(ns);
    return ino;
}

static void
rec_message(const struct nlmsghdr *nlh, pid_t pid, uint64_t netns)
{
    struct rec r;
    const struct nlattr *attr;
    bool has_tuple = false, has_filter = false;
    unsigned int n_attrs = 0;

    memset(&r, 0, sizeof r);
    r.pid = pid;
    r.netns = netns;
    r.nl_type = nlh->nlmsg_type;
    r.nl_flags = nlh->nlmsg_flags;
    r.kind = K_OTHER;
    if (nlh->nlmsg_type >> 8 == NFNL_SUBSYS_CTNETLINK
        && nlh->nlmsg_len >= NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg))) {
        const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
        r.family = nfg->nfgen_family;
        r.version = nfg->version;
        mnl_attr_for_each(attr, nlh, sizeof *nfg) {
            uint16_t type = mnl_attr_get_type(attr);
            n_attrs++;
            switch (type) {
            case CTA_TUPLE_ORIG:
            case CTA_TUPLE_REPLY:
                has_tuple = true;
                break;
            case CTA_FILTER: {
                const struct nlattr *fa;
                has_filter = true;
                mnl_attr_for_each_nested(fa, attr) {
                    if ((mnl_attr_get_type(fa) == CTA_FILTER_ORIG_FLAGS
                         || mnl_attr_get_type(fa) == CTA_FILTER_REPLY_FLAGS)
                        && mnl_attr_get_payload_len(fa) == 4) {
                        r.fflags |= mnl_attr_get_u32(fa);
                    }
                }
                break;
            }
            case CTA_ZONE:
                r.has_zone = true;
                if (mnl_attr_get_payload_len(attr) == 2) {
                    r.zone = ntohs(mnl_attr_get_u16(attr));
                }
                break;
            case CTA_ID:
                r.has_id = true;
                break;
            case CTA_MARK:
            case CTA_MARK_MASK:
                r.has_mark = true;
                break;
            default:
                break;
            }
        }
        switch (nlh->nlmsg_type & 0xff) {
        case IPCTNL_MSG_CT_NEW:
            r.kind = K_NEW;
            break;
        case IPCTNL_MSG_CT_GET:
            r.kind = has_filter ? K_GET_FILTER : K_GET;
            break;
        case IPCTNL_MSG_CT_DELETE:
            /* As the kernel reads it (ctnetlink_del_conntrack): a tuple
             * without CTA_FILTER deletes one entry, anything else walks the
             * table and flushes what the other attributes select. */
            if (has_filter) {
                r.kind = K_DEL_FILTER;
            } else if (has_tuple) {
                r.kind = K_DEL_ENTRY;
            } else if (!n_attrs) {
                r.kind = K_DEL_ALL;
            } else if (r.has_zone && n_attrs == 1) {
                r.kind = K_DEL_ZONE;
            } else {
                r.kind = K_DEL_FLUSH_OTHER;
            }
            break;
        default:
            break;
        }
    }
    unsigned int i = __atomic_fetch_add(&rlog->n, 1, __ATOMIC_RELAXED);
    if (i < LOG_CAP) {
        rlog->r[i] = r;
    }
}

/* Records every netlink message in buf, as sent on fd. */
static void
rec_buffer(int fd, const void *buf, size_t len)
{
    if (!recording || !rlog || fd < 0 || !is_netfilter_socket(fd)) {
        return;
    }
    pid_t pid = getpid();
    uint64_t netns = socket_netns(fd);
    const struct nlmsghdr *nlh = buf;
    int rest = len > INT32_MAX ? INT32_MAX : (int) len;

    __atomic_fetch_add(&rlog->calls, 1, __ATOMIC_RELAXED);
    while (mnl_nlmsg_ok(nlh, rest)) {
        rec_message(nlh, pid, netns);
        nlh = mnl_nlmsg_next(nlh, &rest);
    }
    if (rest > 0) {
        __atomic_fetch_add(&rlog->malformed, 1, __ATOMIC_RELAXED);
    }
}

static void
rec_iov(int fd, const struct iovec *iov, size_t n)
{
    size_t len = 0, off = 0;

    if (!recording || !rlog || !is_netfilter_socket(fd)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        len += iov[i].iov_len;
    }
    /* A netlink message may straddle iovecs: the kernel sees one buffer. */
    char *buf = malloc(len ? len : 1);
    if (!buf) {
        __atomic_fetch_add(&rlog->malformed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    rec_buffer(fd, buf, len);
    free(buf);
}

ssize_t
__wrap_send(int fd, const void *buf, size_t len, int flags)
{
    rec_buffer(fd, buf, len);
    return __real_send(fd, buf, len, flags);
}

ssize_t
__wrap_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
              socklen_t salen)
{
    rec_buffer(fd, buf, len);
    return __real_sendto(fd, buf, len, flags, sa, salen);
}

ssize_t
__wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    rec_iov(fd, msg->msg_iov, msg->msg_iovlen);
    return __real_sendmsg(fd, msg, flags);
}

int
__wrap_sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
    for (unsigned int i = 0; i < n; i++) {
        rec_iov(fd, vec[i].msg_hdr.msg_iov, vec[i].msg_hdr.msg_iovlen);
    }
    return __real_sendmmsg(fd, vec, n, flags);
}

ssize_t
__wrap_write(int fd, const void *buf, size_t len)
{
    rec_buffer(fd, buf, len);
    return __real_write(fd, buf, len);
}

ssize_t
__wrap_writev(int fd, const struct iovec *iov, int n)
{
    rec_iov(fd, iov, n > 0 ? (size_t) n : 0);
    return __real_writev(fd, iov, n);
}

ssize_t
__wrap_mnl_socket_sendto(const struct mnl_socket *nl, const void *buf, size_t len)
{
    rec_buffer(mnl_socket_get_fd(nl), buf, len);
    return __real_mnl_socket_sendto(nl, buf, len);
}

static void
rec_start(void)
{
    rlog->n = 0;
    rlog->calls = 0;
    rlog->malformed = 0;
    recording = 1;
}

static void
rec_stop(void)
{
    recording = 0;
    assert_true(rlog->n <= LOG_CAP);
    assert_int_equal(rlog->malformed, 0);
}

/* ---- The rules: which message kinds a capability record allows. ---- */

/* NULL if the engine may send r under caps c, else why not. */
static const char *
rule_violation(const struct rec *r, const struct ct_caps *c)
{
    switch ((enum msg_kind) r->kind) {
    case K_NEW:
        return "the engine created an entry";
    case K_DEL_ALL:
        return "a flush of the whole table";
    case K_DEL_FLUSH_OTHER:
        return "a tuple-less delete (a table flush) of a kind the engine never sends";
    case K_DEL_ENTRY:
        return r->has_id ? NULL : "an entry delete without CTA_ID";
    case K_DEL_FILTER:
        if (!c->filtered_flush) {
            return "a filtered flush, unproven";
        }
        if (r->family != AF_INET && r->family != AF_INET6) {
            return "a filtered flush of no single family";
        }
        if (!(r->fflags & F_ADDR)) {
            return "a filtered flush with no address (a flush of a whole protocol)";
        }
        if ((r->fflags & F_PROTO)
            && !(r->family == AF_INET6 ? c->filtered_flush_proto_v6 : c->filtered_flush_proto)) {
            return "a filtered flush by protocol, unproven for its family";
        }
        if (r->family == AF_INET6 && !c->filtered_flush_v6) {
            return "an IPv6 filtered flush, unproven for IPv6";
        }
        if (r->has_zone && r->zone && !c->filtered_flush_zone) {
            return "a filtered flush in a zone, unproven in a zone";
        }
        if (r->has_zone && !r->zone && !c->filtered_flush_zone_default) {
            return "a filtered flush in zone 0, unproven in zone 0";
        }
        return NULL;
    case K_DEL_ZONE:
        if (!c->zone_flush) {
            return "a zone flush, unproven (would flush everything on < 6.8)";
        }
        if (!r->zone && !c->zone_flush_default) {
            return "a zone-0 flush, unproven for zone 0";
        }
        return NULL;
    case K_GET:
        if (r->has_zone && !c->dump_zone_filter) {
            return "a zone-filtered dump, unproven";
        }
        return NULL;
    case K_GET_FILTER:
        /* A dump deletes nothing, but one whose filter the kernel gets
         * wrong (6.18's IPv6 returns the NON-matching entries) hides the
         * entries the job should delete. */
        if (r->family != AF_INET && r->family != AF_INET6) {
            return "a filtered dump of no single family";
        }
        if (!(r->fflags & F_ADDR)) {
            /* A whole family, by protocol. */
            if (!(r->fflags & F_PROTO)) {
                return "a filtered dump that filters on nothing";
            }
            if (!(r->family == AF_INET6 ? c->dump_proto_filter_v6 : c->dump_proto_filter)) {
                return "a dump filtered by protocol alone, unproven for its family";
            }
            return r->has_zone ? "a zone on a protocol-filtered dump, never proven" : NULL;
        }
        if (!c->filtered_dump) {
            return "a filtered dump, unproven";
        }
        if ((r->fflags & F_PROTO)
            && !(r->family == AF_INET6 ? c->filtered_dump_proto_v6 : c->filtered_dump_proto)) {
            return "a filtered dump by protocol, unproven for its family";
        }
        if (r->family == AF_INET6 && !c->filtered_dump_v6) {
            return "an IPv6 filtered dump, unproven for IPv6";
        }
        if (r->has_zone && !c->dump_zone_filter) {
            return "a zone-filtered dump, unproven";
        }
        return NULL;
    case K_OTHER:
    case N_KINDS:
    default:
        return (r->nl_type >> 8) == NFNL_SUBSYS_CTNETLINK ? "an unexpected ctnetlink message"
                                                           : "a non-ctnetlink netfilter message";
    }
}

static bool
is_delete(const struct rec *r)
{
    return r->kind >= K_DEL_ENTRY && r->kind <= K_DEL_FLUSH_OTHER;
}

/* ---- The test's own table (inserted with ctgen, read with nfct). ---- */

static uint64_t my_netns;       /* Inode of the namespace the test runs in. */

/* An entry as the kernel reports it, with what must not change. */
struct full {
    uint8_t family, proto, tcp_state, pad;
    uint16_t zone, sport, dport, rsport, rdport, pad2;
    uint32_t mark, id, status;
    uint8_t os[16], od[16], rs[16], rd[16];
};

struct fullset {
    struct full *e;
    size_t n, cap;
    size_t unparsed;
};

static int
full_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct full));
}

static int
full_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
    struct fullset *s = data;
    struct full f;

    (void) type;
    memset(&f, 0, sizeof f);
    f.family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
    f.proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
    if ((f.family != AF_INET && f.family != AF_INET6) || !nfct_attr_is_set(ct, ATTR_ID)) {
        s->unparsed++;
        return NFCT_CB_CONTINUE;
    }
    f.tcp_state = nfct_attr_is_set(ct, ATTR_TCP_STATE) ? nfct_get_attr_u8(ct, ATTR_TCP_STATE) : 0;
    f.zone = nfct_attr_is_set(ct, ATTR_ZONE) ? nfct_get_attr_u16(ct, ATTR_ZONE) : 0;
    f.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
    f.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    f.rsport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
    f.rdport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
    f.mark = nfct_attr_is_set(ct, ATTR_MARK) ? nfct_get_attr_u32(ct, ATTR_MARK) : 0;
    f.id = nfct_get_attr_u32(ct, ATTR_ID);
    f.status = nfct_attr_is_set(ct, ATTR_STATUS) ? nfct_get_attr_u32(ct, ATTR_STATUS) : 0;
    if (f.family == AF_INET) {
        uint32_t a[4] = {
            nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC), nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST),
            nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC), nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST),
        };
        memcpy(f.os, &a[0], 4);
        memcpy(f.od, &a[1], 4);
        memcpy(f.rs, &a[2], 4);
        memcpy(f.rd, &a[3], 4);
    } else {
        memcpy(f.os, nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), 16);
        memcpy(f.od, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
        memcpy(f.rs, nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), 16);
        memcpy(f.rd, nfct_get_attr(ct, ATTR_REPL_IPV6_DST), 16);
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        struct full *ne = realloc(s->e, cap * sizeof *ne);
        if (!ne) {
            s->unparsed++;
            return NFCT_CB_STOP;
        }
        s->e = ne;
        s->cap = cap;
    }
    s->e[s->n++] = f;
    return NFCT_CB_CONTINUE;
}

/* The whole table, read with libnetfilter_conntrack (not the engine's code). */
static void
kernel_dump(struct fullset *s)
{
    struct nfct_handle *h = nfct_open(CONNTRACK, 0);
    uint32_t family = AF_UNSPEC;

    memset(s, 0, sizeof *s);
    assert_non_null(h);
    nfct_callback_register(h, NFCT_T_ALL, full_cb, s);
    assert_int_equal(nfct_query(h, NFCT_Q_DUMP, &family), 0);
    nfct_close(h);
    assert_int_equal(s->unparsed, 0);
    if (s->n) {
        qsort(s->e, s->n, sizeof *s->e, full_cmp);
    }
}

static void
kernel_flush(void)
{
    struct nfct_handle *h = nfct_open(CONNTRACK, 0);
    uint32_t family = AF_UNSPEC;

    assert_non_null(h);
    assert_int_equal(nfct_query(h, NFCT_Q_FLUSH, &family), 0);
    nfct_close(h);
    assert_int_equal(engine_table_count(), 0);
}

static void
kernel_insert(const struct ctgen_entry *e, size_t n)
{
    struct ctsock sock;
    struct ctgen_stats st;

    assert_int_equal(ctsock_open(&sock, 0), 0);
    int rc = ctgen_insert(&sock, e, n, &st);
    ctsock_close(&sock);
    assert_int_equal(rc, 0);
    assert_int_equal(st.inserted, n);
}

static union ctf_inaddr
addr(const char *s)
{
    union ctf_inaddr a;

    memset(&a, 0, sizeof a);
    assert_int_equal(inet_pton(strchr(s, ':') ? AF_INET6 : AF_INET, s, &a), 1);
    return a;
}

/* prefix + i: "10.1.0." + decimal, or "fd00:1::" + hex. */
static union ctf_inaddr
addr_n(const char *prefix, unsigned int i)
{
    char buf[64];

    snprintf(buf, sizeof buf, strchr(prefix, ':') ? "%s%x" : "%s%u", prefix, i);
    return addr(buf);
}

struct table {
    struct ctgen_entry *e;
    size_t n, cap;
};

static void
table_add(struct table *t, int family, uint8_t proto, union ctf_inaddr os, union ctf_inaddr od,
          const union ctf_inaddr *rs, const union ctf_inaddr *rd, uint16_t sport,
          uint16_t dport, uint16_t zone, uint32_t mark)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->e = realloc(t->e, t->cap * sizeof *t->e);
        assert_non_null(t->e);
    }
    struct ctgen_entry *e = &t->e[t->n++];
    memset(e, 0, sizeof *e);
    e->family = family;
    e->l4proto = proto;
    e->orig_src = os;
    e->orig_dst = od;
    if (rs) {
        e->nat = 1;
        e->reply_src = *rs;
        e->reply_dst = *rd;
    }
    e->sport = sport;
    e->dport = dport;
    e->zone = zone;
    e->mark = mark;
    e->timeout = 3600;
}

/* ---- (a) The probe stays in its own namespace. ---- */

/* The probe's own cast (src/worker/probe.c): 10.255.0.N / fd00:ff00::N, N = 1..5,
 * A = 1 is what its filters aim at; zones 0, 7 and 8; UDP, sports
 * 1001-1008, dport 53. Its calibration table: 10.100.0.x -> 10.101.0.y:80,
 * and 10.254.254.254 as the address no entry has. */
static void
build_probe_bait(struct table *t)
{
    static const struct { int os, od, rs, rd; uint16_t sport, zone; } cast[] = {
        { 1, 2, 0, 0, 1001, 0 }, { 2, 1, 0, 0, 1002, 0 }, { 3, 4, 1, 3, 1003, 0 },
        { 3, 5, 5, 1, 1004, 0 }, { 3, 4, 0, 0, 1005, 0 }, { 1, 2, 0, 0, 1006, 7 },
        { 2, 3, 0, 0, 1007, 7 }, { 2, 3, 0, 0, 1008, 8 },
    };
    for (int fam = 0; fam < 2; fam++) {
        int f = fam ? AF_INET6 : AF_INET;
        const char *fmt = fam ? "fd00:ff00::" : "10.255.0.";
        for (size_t i = 0; i < sizeof cast / sizeof *cast; i++) {
            union ctf_inaddr os = addr_n(fmt, (unsigned int) cast[i].os);
            union ctf_inaddr od = addr_n(fmt, (unsigned int) cast[i].od);
            union ctf_inaddr rs = addr_n(fmt, (unsigned int) (cast[i].rs ? cast[i].rs : 1));
            union ctf_inaddr rd = addr_n(fmt, (unsigned int) (cast[i].rd ? cast[i].rd : 1));
            /* Exactly the probe's entry... */
            table_add(t, f, IPPROTO_UDP, os, od, cast[i].rs ? &rs : NULL,
                      cast[i].rs ? &rd : NULL, cast[i].sport, 53, cast[i].zone, 0);
            /* ...and its neighbours: TCP, other zones, marks. */
            table_add(t, f, IPPROTO_TCP, os, od, cast[i].rs ? &rs : NULL,
                      cast[i].rs ? &rd : NULL, cast[i].sport, 53, cast[i].zone, 0x7);
            table_add(t, f, IPPROTO_UDP, os, od, NULL, NULL, (uint16_t) (cast[i].sport + 100),
                      53, (uint16_t) (cast[i].zone == 7 ? 8 : 7), 0xdeadbeef);
        }
        /* The address each filter aims at, everywhere it can be. */
        union ctf_inaddr a = addr_n(fmt, 1), other = addr(fam ? "2001:db8::9" : "192.0.2.9");
        for (uint16_t z = 0; z < 10; z++) {
            table_add(t, f, IPPROTO_UDP, a, other, NULL, NULL, (uint16_t) (2000 + z), 53, z, z);
            table_add(t, f, IPPROTO_UDP, other, a, NULL, NULL, (uint16_t) (2100 + z), 53, z, 0);
            table_add(t, f, IPPROTO_UDP, other, addr(fam ? "2001:db8::8" : "192.0.2.8"), &a,
                      &other, (uint16_t) (2200 + z), 53, z, 0);
        }
    }
    /* The calibration table's first entries, and its "nobody" address. */
    for (uint32_t i = 0; i < 600; i++) {
        union ctf_inaddr s, d;
        memset(&s, 0, sizeof s);
        memset(&d, 0, sizeof d);
        s.w[0] = htonl(0x0a640000u | (i >> 8));
        d.w[0] = htonl(0x0a650000u | (i & 0xff));
        table_add(t, AF_INET, IPPROTO_UDP, s, d, NULL, NULL, (uint16_t) (1024 + i), 80,
                  (uint16_t) (i % 3 == 0 ? 7 : 0), 0);
    }
    table_add(t, AF_INET, IPPROTO_UDP, addr("10.254.254.254"), addr("10.255.0.1"), NULL, NULL,
              3000, 53, 0, 0);
    table_add(t, AF_INET, IPPROTO_TCP, addr("10.255.0.2"), addr("10.254.254.254"), NULL, NULL,
              3001, 443, 0, 0);
}

static void
assert_same_table(const struct fullset *before, const char *when)
{
    struct fullset after;

    kernel_dump(&after);
    size_t diffs = 0;
    if (after.n != before->n) {
        print_error("%s: %zu entries before, %zu after\n", when, before->n, after.n);
        diffs++;
    }
    for (size_t i = 0, j = 0; i < before->n || j < after.n;) {
        int c = i == before->n ? 1 : j == after.n ? -1 : full_cmp(&before->e[i], &after.e[j]);
        if (!c) {
            i++;
            j++;
            continue;
        }
        const struct full *f = c < 0 ? &before->e[i++] : &after.e[j++];
        char os[INET6_ADDRSTRLEN], od[INET6_ADDRSTRLEN];
        inet_ntop(f->family, f->os, os, sizeof os);
        inet_ntop(f->family, f->od, od, sizeof od);
        if (diffs++ < 12) {
            print_error("%s: %s %s:%u -> %s:%u zone %u mark 0x%x id %u\n", when,
                        c < 0 ? "gone or changed:" : "new or changed: ", os, f->sport, od,
                        f->dport, f->zone, f->mark, f->id);
        }
    }
    free(after.e);
    if (diffs) {
        fail_msg("%s: the caller's table changed (%zu differences)", when, diffs);
    }
}

/* Every message the probe sent went out in another namespace, from the
 * probe's child; and the seam saw the kinds the probe always sends. */
static void
assert_probe_messages_elsewhere(const char *when)
{
    unsigned int seen[N_KINDS] = { 0 };

    assert_true(rlog->n <= LOG_CAP);
    for (unsigned int i = 0; i < rlog->n; i++) {
        const struct rec *r = &rlog->r[i];
        if (r->netns == 0) {
            fail_msg("%s: could not tell the namespace of a %s message", when,
                     kind_names[r->kind]);
        }
        if (r->netns == my_netns) {
            fail_msg("%s: the probe sent a %s message (type 0x%x) in the caller's namespace",
                     when, kind_names[r->kind], r->nl_type);
        }
        if (r->pid == getpid()) {
            fail_msg("%s: the probe's parent sent a %s message itself", when,
                     kind_names[r->kind]);
        }
        seen[r->kind]++;
    }
    /* The probe always tries a zone flush, an IPv4 filtered flush, an IPv4
     * filtered dump, and flushes its own table: if the seam missed those it
     * saw nothing. */
    if (!seen[K_DEL_ZONE] || !seen[K_DEL_FILTER] || !seen[K_DEL_ALL] || !seen[K_NEW]
        || !seen[K_GET] || !seen[K_GET_FILTER]) {
        fail_msg("%s: the seam did not see the probe's messages (zone %u filter %u flush %u "
                 "new %u get %u filtered get %u)", when, seen[K_DEL_ZONE], seen[K_DEL_FILTER],
                 seen[K_DEL_ALL], seen[K_NEW], seen[K_GET], seen[K_GET_FILTER]);
    }
}

static void
test_probe_stays_in_its_namespace(void **state)
{
    (void) state;
    struct table t = { 0 };
    struct fullset before;
    struct ct_caps c;
    char desc[512];

    build_probe_bait(&t);
    kernel_flush();
    kernel_insert(t.e, t.n);
    kernel_dump(&before);
    assert_int_equal(before.n, t.n);

    for (int calibrate = 0; calibrate < 2; calibrate++) {
        const char *when = calibrate ? "probe_run(calibrate)" : "probe_run";
        rec_start();
        int rc = probe_run(&c, calibrate);
        rec_stop();
        if (rc || !c.probed) {
            fail_msg("%s did not complete: %s", when, probe_describe(&c, desc, sizeof desc));
        }
        assert_same_table(&before, when);
        assert_probe_messages_elsewhere(when);
    }
    free(before.e);
    free(t.e);
}

/* Without CAP_SYS_ADMIN there is no throwaway namespace: the probe must
 * prove nothing and send nothing, rather than probe where it stands. */
static void
test_probe_without_sys_admin(void **state)
{
    (void) state;
    struct table t = { 0 };
    struct fullset before;
    int fds[2];

    build_probe_bait(&t);
    kernel_flush();
    kernel_insert(t.e, t.n);
    kernel_dump(&before);

    assert_int_equal(pipe(fds), 0);
    rec_start();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct d[2];
        struct ct_caps c;
        close(fds[0]);
        memset(d, 0, sizeof d);
        if (syscall(SYS_capget, &h, d) < 0) {
            _exit(3);
        }
        d[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
        d[CAP_SYS_ADMIN / 32].permitted &= ~(1u << (CAP_SYS_ADMIN % 32));
        d[CAP_SYS_ADMIN / 32].inheritable &= ~(1u << (CAP_SYS_ADMIN % 32));
        if (syscall(SYS_capset, &h, d) < 0) {
            _exit(4);
        }
        int rc = probe_run(&c, true);
        if (__real_write(fds[1], &c, sizeof c) != (ssize_t) sizeof c) {
            _exit(5);
        }
        _exit(rc == 0 ? 0 : 6);
    }
    close(fds[1]);
    struct ct_caps c;
    ssize_t got = read(fds[0], &c, sizeof c);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    rec_stop();
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(got, sizeof c);
    assert_false(c.probed);
    assert_false(c.zone_flush || c.zone_flush_default || c.filtered_flush || c.filtered_flush_v6
                 || c.filtered_flush_zone || c.filtered_flush_zone_default
                 || c.dump_zone_filter || c.filtered_dump || c.filtered_dump_v6);
    /* Nothing sent anywhere: there was nowhere safe to send it. */
    if (rlog->n) {
        fail_msg("without CAP_SYS_ADMIN the probe still sent %u ctnetlink messages "
                 "(first: %s in %s namespace)", rlog->n, kind_names[rlog->r[0].kind],
                 rlog->r[0].netns == my_netns ? "the caller's" : "another");
    }
    assert_same_table(&before, "probe_run without CAP_SYS_ADMIN");
    free(before.e);
    free(t.e);
}

/* ---- (b) Unproven kinds are never sent. ---- */

static struct ct_caps probed;   /* What the probe proved on this kernel. */
static struct table jobs_table; /* The table every engine run starts from. */

static void
build_jobs_table(struct table *t)
{
    for (unsigned int l = 1; l <= 4; l++) {
        for (unsigned int p = 1; p <= 4; p++) {
            union ctf_inaddr L = addr_n("10.1.0.", l), P = addr_n("10.2.0.", p);
            union ctf_inaddr L6 = addr_n("fd00:1::", l), P6 = addr_n("fd00:2::", p);
            uint16_t sp = (uint16_t) (1000 + 10 * l + p);
            table_add(t, AF_INET, IPPROTO_UDP, L, P, NULL, NULL, sp, 53, 0, l % 4);
            table_add(t, AF_INET, IPPROTO_TCP, P, L, NULL, NULL, sp, 443, 7, 1);
            table_add(t, AF_INET6, IPPROTO_UDP, L6, P6, NULL, NULL, sp, 53, 0, 0);
            table_add(t, AF_INET6, IPPROTO_TCP, P6, L6, NULL, NULL, sp, 443, 7, 1);
        }
        /* DNAT to a local (reply source) and SNAT to a local (reply dst). */
        union ctf_inaddr c = addr_n("10.2.0.", l), fip = addr_n("10.4.0.", l);
        union ctf_inaddr fixed = addr_n("10.1.0.", l), out = addr("192.0.2.1");
        table_add(t, AF_INET, IPPROTO_TCP, c, fip, &fixed, &c, (uint16_t) (2000 + l), 80, 0, 0);
        table_add(t, AF_INET, IPPROTO_UDP, fixed, out, &out, &fixed, (uint16_t) (2100 + l), 53,
                  7, 0);
    }
    for (unsigned int i = 0; i < 120; i++) {
        table_add(t, i % 2 ? AF_INET : AF_INET6, IPPROTO_UDP,
                  i % 2 ? addr_n("172.16.0.", i % 200) : addr_n("2001:db8::", i),
                  i % 2 ? addr("192.0.2.7") : addr("2001:db8:1::7"), NULL, NULL,
                  (uint16_t) (3000 + i), 53, (uint16_t) (i % 3 == 0 ? 7 : 0), 0);
    }
}

struct shape {
    const char *name;
    const char *local, *peers;
    int zone;                   /* -1: none. */
    bool has_mark;
    uint32_t mark, mask;
    size_t max_local, max_peers;
    uint64_t rate;
    uint8_t proto;              /* 0: any. */
    int dport;                  /* -1: none. */
    enum flush_direction direction;
    enum flush_tuple tuple;
};

/* No selector beyond addresses, zone and mark. */
#define NOSEL 0, -1, FLUSH_DIRECTION_EITHER, FLUSH_TUPLE_ANY

static const struct shape shapes[] = {
    { "one v4 local, peers any", "10.1.0.1", "any", -1, false, 0, 0, 0, 0, 0, NOSEL },
    { "one v6 local, peers any", "fd00:1::1", "any", -1, false, 0, 0, 0, 0, 0, NOSEL },
    { "v4+v6 locals, peers any", "10.1.0.1,fd00:1::1", "any", -1, false, 0, 0, 0, 0, 0, NOSEL },
    { "v4 locals x v4 peers", "10.1.0.1,10.1.0.2", "10.2.0.1,10.2.0.2", -1, false, 0, 0, 0, 0,
      0, NOSEL },
    { "mixed locals x mixed peers", "10.1.0.1,fd00:1::2", "10.2.0.1,fd00:2::1", -1, false, 0,
      0, 0, 0, 0, NOSEL },
    { "CIDR local", "10.1.0.0/30", "any", -1, false, 0, 0, 0, 0, 0, NOSEL },
    { "v4 local in zone 7", "10.1.0.1", "any", 7, false, 0, 0, 0, 0, 0, NOSEL },
    { "v4 local in zone 0", "10.1.0.2", "any", 0, false, 0, 0, 0, 0, 0, NOSEL },
    { "v6 local in zone 7", "fd00:1::1", "any", 7, false, 0, 0, 0, 0, 0, NOSEL },
    { "v4 local with a mark", "10.1.0.1", "any", -1, true, 1, 3, 0, 0, 0, NOSEL },
    { "whole zone 7", "any", "any", 7, false, 0, 0, 0, 0, 0, NOSEL },
    { "whole zone 0", "any", "any", 0, false, 0, 0, 0, 0, 0, NOSEL },
    { "zone 7 with a mark", "any", "any", 7, true, 1, 0xffffffffu, 0, 0, 0, NOSEL },
    { "v4+v6 locals, chunked by one", "10.1.0.1,fd00:1::1,10.1.0.2", "any", -1, false, 0, 0, 1,
      0, 0, NOSEL },
    { "v4 local x mixed peers, chunked by one", "10.1.0.3", "10.2.0.1,fd00:2::1", -1, false, 0,
      0, 0, 1, 0, NOSEL },
    { "v4 local, rate cap", "10.1.0.4", "any", -1, false, 0, 0, 0, 0, 10000000, NOSEL },
    { "v4+v6 locals, udp/53", "10.1.0.1,fd00:1::1", "any", -1, false, 0, 0, 0, 0, 0,
      IPPROTO_UDP, 53, FLUSH_DIRECTION_EITHER, FLUSH_TUPLE_ANY },
    { "v4 local x v4 peer, ingress orig tcp", "10.1.0.2", "10.2.0.3", -1, false, 0, 0, 0, 0,
      0, IPPROTO_TCP, -1, FLUSH_DIRECTION_INGRESS, FLUSH_TUPLE_ORIG },
    { "whole zone 7, udp", "any", "any", 7, false, 0, 0, 0, 0, 0, IPPROTO_UDP, -1,
      FLUSH_DIRECTION_EITHER, FLUSH_TUPLE_ANY },
};
#define N_SHAPES (sizeof shapes / sizeof *shapes)

static void
shape_job(const struct shape *s, struct flush_job *j)
{
    char err[128];

    flush_job_init(j);
    assert_int_equal(flush_job_parse_side(&j->local, &j->local_any, s->local, err, sizeof err), 0);
    assert_int_equal(flush_job_parse_side(&j->peers, &j->peers_any, s->peers, err, sizeof err), 0);
    j->has_zone = s->zone >= 0;
    j->zone = s->zone >= 0 ? (uint16_t) s->zone : 0;
    j->has_mark = s->has_mark;
    j->mark = s->mark;
    j->mark_mask = s->mask;
    j->proto = s->proto;
    j->has_dport = s->dport >= 0;
    j->dport_lo = j->dport_hi = s->dport >= 0 ? (uint16_t) s->dport : 0;
    j->direction = s->direction;
    j->tuple = s->tuple;
}

static bool
job_has_v6_local(const struct flush_job *j)
{
    return ctf_prefix_list_has_family(&j->local, AF_INET6);
}

/* The side filtered dumps filter on (the shorter exact one) has an IPv6
 * address. */
static bool
job_has_v6_fdump_side(const struct flush_job *j)
{
    bool on_peers;

    return planner_filtered_dumps(j, &on_peers) > 0
           && ctf_prefix_list_has_family(on_peers ? &j->peers : &j->local, AF_INET6);
}

/* Whether forcing the strategy is both expressible and proven (from the
 * flags' meaning in planner.h). */
static bool
forced_ok(const struct flush_job *j, const struct ct_caps *c, enum ct_strategy s)
{
    switch (s) {
    case CT_STRATEGY_FILTERED_FLUSH:
        return planner_filtered_walks(j) > 0 && c->filtered_flush
               && (!job_has_v6_local(j) || c->filtered_flush_v6)
               && (!j->has_zone
                   || (j->zone ? c->filtered_flush_zone : c->filtered_flush_zone_default))
               && (!j->proto
                   || (c->filtered_flush_proto && (!job_has_v6_local(j)
                                                   || c->filtered_flush_proto_v6)));
    case CT_STRATEGY_ZONE_FLUSH:
        return j->local_any && j->peers_any && j->has_zone && !j->has_mark && !j->proto
               && c->zone_flush && (j->zone || c->zone_flush_default);
    case CT_STRATEGY_FILTERED_DUMP: {
        bool on_peers;
        return planner_filtered_dumps(j, &on_peers) > 0 && c->filtered_dump
               && (!job_has_v6_fdump_side(j) || c->filtered_dump_v6);
    }
    case CT_STRATEGY_DUMP:
    case CT_STRATEGY_AUTO:
    default:
        return true;
    }
}

struct variant {
    const char *name;
    struct ct_caps caps;
};

/* Costs that make every kernel walk look free: the planner is tempted into
 * a kernel flush whenever the caps allow one, and into filtered dumps
 * (nearly free too) where they do not. */
static void
tempt(struct ct_caps *c)
{
    c->walk_fixed_ms = 0.001;
    c->walk_ns_per_entry = 0.01;
    c->fdump_fixed_ms = 0.01;
    c->fdump_ns_per_entry = 0.1;
    c->dump_fixed_ms = 1000;
    c->dump_ns_per_entry = 100000;
}

static struct ct_caps
all_proven(void)
{
    struct ct_caps c;

    ct_caps_init_unproven(&c, "test: everything claimed proven");
    c.probed = true;
    c.zone_flush = c.zone_flush_default = true;
    c.filtered_flush = c.filtered_flush_v6 = true;
    c.filtered_flush_zone = c.filtered_flush_zone_default = true;
    c.dump_zone_filter = true;
    c.filtered_dump = c.filtered_dump_v6 = true;
    c.filtered_flush_proto = c.filtered_flush_proto_v6 = true;
    c.filtered_dump_proto = c.filtered_dump_proto_v6 = true;
    c.dump_proto_filter = c.dump_proto_filter_v6 = true;
    tempt(&c);
    return c;
}

static size_t
make_variants(struct variant *v)
{
    size_t n = 0;

    ct_caps_init_unproven(&v[n].caps, "test: unproven");
    v[n++].name = "nothing proven";
    v[n].caps = probed;
    tempt(&v[n].caps);
    v[n++].name = "as probed";
    v[n].caps = probed;
    v[n].caps.filtered_flush = false;
    tempt(&v[n].caps);
    v[n++].name = "as probed, filtered_flush=false";
    v[n].caps = probed;
    v[n].caps.zone_flush = false;
    tempt(&v[n].caps);
    v[n++].name = "as probed, zone_flush=false";
    v[n].caps = probed;
    v[n].caps.filtered_dump = false;
    tempt(&v[n].caps);
    v[n++].name = "as probed, filtered_dump=false";
#define ALL_BUT(field) \
    do { \
        v[n].caps = all_proven(); \
        v[n].caps.field = false; \
        v[n++].name = "all but " #field; \
    } while (0)
    ALL_BUT(filtered_flush);
    ALL_BUT(filtered_flush_v6);
    ALL_BUT(filtered_flush_zone);
    ALL_BUT(filtered_flush_zone_default);
    ALL_BUT(zone_flush);
    ALL_BUT(zone_flush_default);
    ALL_BUT(dump_zone_filter);
    ALL_BUT(filtered_dump);
    ALL_BUT(filtered_dump_v6);
    ALL_BUT(filtered_flush_proto);
    ALL_BUT(filtered_flush_proto_v6);
    ALL_BUT(filtered_dump_proto);
    ALL_BUT(dump_proto_filter);
    ALL_BUT(dump_proto_filter_v6);
#undef ALL_BUT
    v[n].caps = all_proven();
    v[n++].name = "all proven (positive control)";
    return n;
}

static void
restore_jobs_table(void)
{
    if (engine_table_count() != jobs_table.n) {
        kernel_flush();
        kernel_insert(jobs_table.e, jobs_table.n);
    }
}

/* What the positive control and the checker self-test look at. */
struct seen_kinds {
    unsigned int n[N_KINDS];
    unsigned int filter_v4, filter_v6, filter_zone, filter_zone0;
    unsigned int zone_flush_z, zone_flush_0, get_zone;
    unsigned int get_filter_v4, get_filter_v6;
    unsigned int filter_proto, get_filter_proto, get_proto;
    struct rec sample[N_KINDS];         /* One message of each kind. */
    struct rec sample_filter_v6, sample_filter_zone, sample_filter_zone0;
    struct rec sample_zone0, sample_get_zone, sample_get_filter_v6;
    struct rec sample_filter_proto, sample_get_filter_proto, sample_get_proto;
};

static void
note_seen(struct seen_kinds *s, const struct rec *r)
{
    s->n[r->kind]++;
    s->sample[r->kind] = *r;
    if (r->kind == K_DEL_FILTER && (r->fflags & F_PROTO) && r->family == AF_INET) {
        s->filter_proto++;
        s->sample_filter_proto = *r;
    } else if (r->kind == K_GET_FILTER && (r->fflags & F_PROTO) && r->family == AF_INET) {
        if (r->fflags & F_ADDR) {
            s->get_filter_proto++;
            s->sample_get_filter_proto = *r;
        } else {
            s->get_proto++;
            s->sample_get_proto = *r;
        }
    }
    if (r->kind == K_DEL_FILTER) {
        if (r->family == AF_INET6) {
            s->filter_v6++;
            s->sample_filter_v6 = *r;
        } else {
            s->filter_v4++;
        }
        if (r->has_zone && r->zone) {
            s->filter_zone++;
            s->sample_filter_zone = *r;
        } else if (r->has_zone) {
            s->filter_zone0++;
            s->sample_filter_zone0 = *r;
        }
    } else if (r->kind == K_DEL_ZONE) {
        if (r->zone) {
            s->zone_flush_z++;
        } else {
            s->zone_flush_0++;
            s->sample_zone0 = *r;
        }
    } else if (r->kind == K_GET && r->has_zone) {
        s->get_zone++;
        s->sample_get_zone = *r;
    } else if (r->kind == K_GET_FILTER) {
        if (r->family == AF_INET6) {
            s->get_filter_v6++;
            s->sample_get_filter_v6 = *r;
        } else {
            s->get_filter_v4++;
        }
    }
}

/* Runs every shape under one capability record, auto and forced. */
static void
run_variant(const struct variant *v, struct seen_kinds *seen)
{
    static const enum ct_strategy forces[] = {
        CT_STRATEGY_AUTO, CT_STRATEGY_FILTERED_FLUSH, CT_STRATEGY_ZONE_FLUSH, CT_STRATEGY_DUMP,
        CT_STRATEGY_FILTERED_DUMP,
    };

    for (size_t si = 0; si < N_SHAPES; si++) {
        const struct shape *sh = &shapes[si];
        struct flush_job job;
        shape_job(sh, &job);
        for (size_t fi = 0; fi < sizeof forces / sizeof *forces; fi++) {
            enum ct_strategy force = forces[fi];
            struct engine_opts opts;
            struct engine_stats st;
            char err[256];

            restore_jobs_table();
            engine_opts_init(&opts);
            opts.caps = &v->caps;
            opts.force = force;
            if (sh->max_local || sh->max_peers) {
                opts.max_local = sh->max_local;
                opts.max_peers = sh->max_peers;
            }
            opts.max_delete_rate = sh->rate;
            bool ok = forced_ok(&job, &v->caps, force);

            rec_start();
            int rc = engine_run(&job, &opts, &st, err, sizeof err);
            rec_stop();

            unsigned int deletes = 0, entry_deletes = 0;
            for (unsigned int i = 0; i < rlog->n; i++) {
                const struct rec *r = &rlog->r[i];
                const char *why = rule_violation(r, &v->caps);
                if (why) {
                    fail_msg("caps '%s', job '%s', %s: sent %s (%s family %u zone %s%u)",
                             v->name, sh->name, ct_strategy_name(force), why,
                             kind_names[r->kind], r->family, r->has_zone ? "" : "none/",
                             r->zone);
                }
                if (r->netns != my_netns) {
                    fail_msg("caps '%s', job '%s': a message went out in another namespace",
                             v->name, sh->name);
                }
                deletes += is_delete(r);
                entry_deletes += r->kind == K_DEL_ENTRY;
                note_seen(seen, r);
            }
            if (!ok) {
                if (rc != ENOTSUP && rc != EINVAL) {
                    fail_msg("caps '%s', job '%s': forcing %s (unproven or inexpressible) "
                             "returned %d (%s), not ENOTSUP/EINVAL", v->name, sh->name,
                             ct_strategy_name(force), rc, err);
                }
                if (deletes || st.deleted || engine_table_count() != jobs_table.n) {
                    fail_msg("caps '%s', job '%s': forcing %s was refused (%s) but %u delete "
                             "messages went out and %" PRIu64 " entries were deleted",
                             v->name, sh->name, ct_strategy_name(force), err, deletes,
                             st.deleted);
                }
                continue;
            }
            if (rc) {
                fail_msg("caps '%s', job '%s', %s: engine_run failed: %s", v->name, sh->name,
                         ct_strategy_name(force), err);
            }
            /* The seam sees every delete of the dump path (filtered dumps
             * included, whatever thread sent them): it cannot have been
             * bypassed. */
            unsigned int dump_bits = 1u << CT_STRATEGY_DUMP | 1u << CT_STRATEGY_FILTERED_DUMP;
            if (st.strategies_used && !(st.strategies_used & ~dump_bits)) {
                uint64_t sent = st.deleted + st.already_gone + st.errors;
                if (entry_deletes != sent) {
                    fail_msg("caps '%s', job '%s': the engine sent %" PRIu64 " deletes, the "
                             "seam saw %u", v->name, sh->name, sent, entry_deletes);
                }
            }
            /* Only the deletes we send can be paced: under a rate cap auto
             * never picks a kernel-side flush. */
            if (force == CT_STRATEGY_AUTO && sh->rate
                && (!st.strategies_used || (st.strategies_used & ~dump_bits))) {
                fail_msg("caps '%s': a rate cap must keep auto on dumps, not %s", v->name,
                         engine_strategies_name(&st, err, sizeof err));
            }
        }
        flush_job_destroy(&job);
    }
}

static void
test_unproven_never_sent(void **state)
{
    (void) state;
    struct variant v[24];
    size_t nv = make_variants(v);
    struct seen_kinds seen_all, seen_probed;

    memset(&seen_all, 0, sizeof seen_all);
    memset(&seen_probed, 0, sizeof seen_probed);
    for (size_t i = 0; i < nv; i++) {
        struct seen_kinds s;
        memset(&s, 0, sizeof s);
        run_variant(&v[i], &s);
        if (!strcmp(v[i].name, "as probed")) {
            seen_probed = s;
        } else if (i == nv - 1) {
            seen_all = s;
        }
    }

    /* Positive controls: each kind is seen when it is proven... */
    if (!seen_all.filter_v4 || !seen_all.filter_v6 || !seen_all.filter_zone
        || !seen_all.filter_zone0 || !seen_all.zone_flush_z || !seen_all.zone_flush_0
        || !seen_all.get_zone || !seen_all.n[K_DEL_ENTRY] || !seen_all.get_filter_v4
        || !seen_all.get_filter_v6 || !seen_all.filter_proto || !seen_all.get_filter_proto
        || !seen_all.get_proto) {
        fail_msg("positive control: with everything proven the seam saw filtered v4 %u v6 %u "
                 "zone %u zone0 %u, zone flush %u zone0 %u, zone dump %u, entry deletes %u, "
                 "filtered dumps v4 %u v6 %u, by protocol: filtered flush %u, filtered dump %u, "
                 "whole dump %u",
                 seen_all.filter_v4, seen_all.filter_v6, seen_all.filter_zone,
                 seen_all.filter_zone0, seen_all.zone_flush_z, seen_all.zone_flush_0,
                 seen_all.get_zone, seen_all.n[K_DEL_ENTRY], seen_all.get_filter_v4,
                 seen_all.get_filter_v6, seen_all.filter_proto, seen_all.get_filter_proto,
                 seen_all.get_proto);
    }
    if ((probed.filtered_flush && !seen_probed.filter_v4)
        || (probed.zone_flush && !seen_probed.zone_flush_z)
        || (probed.filtered_dump && !seen_probed.get_filter_v4)) {
        fail_msg("positive control: with the probed caps the seam saw filtered %u, zone "
                 "flush %u, filtered dumps %u", seen_probed.filter_v4, seen_probed.zone_flush_z,
                 seen_probed.get_filter_v4);
    }

    /* ...and the rules flag each of them under the matching unproven flag,
     * so a regression would make this test fail. */
    struct ct_caps none;
    ct_caps_init_unproven(&none, "test");
    assert_non_null(rule_violation(&seen_all.sample[K_DEL_FILTER], &none));
    assert_non_null(rule_violation(&seen_all.sample[K_DEL_ZONE], &none));
    assert_non_null(rule_violation(&seen_all.sample[K_GET_FILTER], &none));
    assert_null(rule_violation(&seen_all.sample[K_DEL_ENTRY], &none));
    for (size_t i = 0; i < nv; i++) {
        const struct ct_caps *c = &v[i].caps;
        const struct { bool proven; const struct rec *r; } checks[] = {
            { c->filtered_flush_v6, &seen_all.sample_filter_v6 },
            { c->filtered_flush_zone, &seen_all.sample_filter_zone },
            { c->filtered_flush_zone_default, &seen_all.sample_filter_zone0 },
            { c->zone_flush_default, &seen_all.sample_zone0 },
            { c->dump_zone_filter, &seen_all.sample_get_zone },
            { c->filtered_dump_v6, &seen_all.sample_get_filter_v6 },
            { c->filtered_flush_proto, &seen_all.sample_filter_proto },
            { c->filtered_dump_proto, &seen_all.sample_get_filter_proto },
            { c->dump_proto_filter, &seen_all.sample_get_proto },
        };
        for (size_t k = 0; k < sizeof checks / sizeof *checks; k++) {
            if (!checks[k].proven && c->filtered_flush && c->zone_flush) {
                assert_non_null(rule_violation(checks[k].r, c));
            }
        }
    }
}

int
main(void)
{
    struct stat st;
    int skip = netns_private_enter();

    if (skip) {
        return skip;
    }
    if (stat("/proc/self/ns/net", &st) < 0) {
        fprintf(stderr, "skipped: cannot read /proc/self/ns/net: %s\n", strerror(errno));
        return 77;
    }
    my_netns = st.st_ino;
    log_init("test_probe_safety", LOG_LVL_WARNING, false);

    rlog = mmap(NULL, sizeof *rlog, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rlog == MAP_FAILED) {
        fprintf(stderr, "mmap: %s\n", strerror(errno));
        return 1;
    }
    /* The seam must work here, or nothing below means anything. */
    {
        struct ctsock s;
        if (ctsock_open(&s, 0)) {
            fprintf(stderr, "skipped: no ctnetlink socket\n");
            return 77;
        }
        if (socket_netns(mnl_socket_get_fd(s.nl)) != my_netns) {
            fprintf(stderr, "cannot tell a socket's namespace (SIOCGSKNS)\n");
            return 1;
        }
        ctsock_close(&s);
    }
    if (probe_run(&probed, false) || !probed.probed) {
        char desc[512];
        fprintf(stderr, "skipped: the probe did not run: %s\n",
                probe_describe(&probed, desc, sizeof desc));
        return 77;
    }
    build_jobs_table(&jobs_table);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_stays_in_its_namespace),
        cmocka_unit_test(test_probe_without_sys_admin),
        cmocka_unit_test(test_unproven_never_sent),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(jobs_table.e);
    munmap(rlog, sizeof *rlog);
    return rc;
}
