/*
 * job.c: flush jobs and their chunking.
 */
#include "job.h"
#include "num.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

void
flush_job_init(struct flush_job *job)
{
    memset(job, 0, sizeof *job);
}

void
flush_job_destroy(struct flush_job *job)
{
    if (job) {
        ctf_prefix_list_destroy(&job->local);
        ctf_prefix_list_destroy(&job->peers);
    }
}

int
flush_job_copy(struct flush_job *dst, const struct flush_job *src)
{
    flush_job_init(dst);
    *dst = *src;
    memset(&dst->local, 0, sizeof dst->local);
    memset(&dst->peers, 0, sizeof dst->peers);
    int err = ctf_prefix_list_copy(&dst->local, &src->local);
    if (!err) {
        err = ctf_prefix_list_copy(&dst->peers, &src->peers);
    }
    if (err) {
        flush_job_destroy(dst);
    }
    return err;
}

int
flush_job_parse_side(struct ctf_prefix_list *list, bool *any, const char *text,
                     char *errbuf, size_t errlen)
{
    if (!strcmp(text, "any")) {
        *any = true;
        return 0;
    }
    *any = false;
    int err = ctf_prefix_list_parse(list, text, errbuf, errlen);
    if (!err && !list->n) {
        snprintf(errbuf, errlen, "no address given");
        err = EINVAL;
    }
    return err;
}

/* ---- Selectors. ---- */

static const char *const direction_names[FLUSH_DIRECTION_COUNT] = { "either", "ingress", "egress" };
static const char *const tuple_names[FLUSH_TUPLE_COUNT] = { "any", "orig" };
static const char *const family_names[FLUSH_FAMILY_COUNT] = { "both", "ipv4", "ipv6" };
static const char *const datapath_names[FLUSH_DATAPATH_COUNT] = { "kernel", "netdev" };

static int
name_lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++) {
        if (!strcmp(s, names[i])) {
            return i;
        }
    }
    return -1;
}

const char *
flush_datapath_name(enum flush_datapath d)
{
    return (unsigned int) d < FLUSH_DATAPATH_COUNT ? datapath_names[d] : "?";
}

int
flush_datapath_parse(const char *s, enum flush_datapath *out)
{
    int i = name_lookup(datapath_names, FLUSH_DATAPATH_COUNT, s);

    if (i < 0) {
        return EINVAL;
    }
    *out = (enum flush_datapath) i;
    return 0;
}

enum flush_datapath
flush_datapath_from_ovs_type(const char *t)
{
    return t && !strcmp(t, "netdev") ? FLUSH_DATAPATH_NETDEV : FLUSH_DATAPATH_KERNEL;
}

const char *
flush_direction_name(enum flush_direction d)
{
    return (unsigned int) d < FLUSH_DIRECTION_COUNT ? direction_names[d] : "?";
}

int
flush_direction_parse(const char *s, enum flush_direction *out)
{
    int i = name_lookup(direction_names, FLUSH_DIRECTION_COUNT, s);

    if (i < 0) {
        return EINVAL;
    }
    *out = (enum flush_direction) i;
    return 0;
}

const char *
flush_tuple_name(enum flush_tuple t)
{
    return (unsigned int) t < FLUSH_TUPLE_COUNT ? tuple_names[t] : "?";
}

int
flush_tuple_parse(const char *s, enum flush_tuple *out)
{
    int i = name_lookup(tuple_names, FLUSH_TUPLE_COUNT, s);

    if (i < 0) {
        return EINVAL;
    }
    *out = (enum flush_tuple) i;
    return 0;
}

const char *
flush_family_name(enum flush_family f)
{
    return (unsigned int) f < FLUSH_FAMILY_COUNT ? family_names[f] : "?";
}

int
flush_family_parse(const char *s, enum flush_family *out)
{
    int i = name_lookup(family_names, FLUSH_FAMILY_COUNT, s);

    if (i < 0) {
        return EINVAL;
    }
    *out = (enum flush_family) i;
    return 0;
}

/* conntrack(8)'s names, and the two it spells differently elsewhere. */
static const struct {
    const char *name;
    uint8_t num;
} proto_names[] = {
    { "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { "sctp", IPPROTO_SCTP },
    { "dccp", IPPROTO_DCCP }, { "udplite", IPPROTO_UDPLITE }, { "icmp", IPPROTO_ICMP },
    { "icmpv6", IPPROTO_ICMPV6 }, { "ipv6-icmp", IPPROTO_ICMPV6 }, { "gre", IPPROTO_GRE },
    { "esp", IPPROTO_ESP }, { "ah", IPPROTO_AH },
};

int
flush_proto_parse(const char *s, uint8_t *out)
{
    if (!s || !*s) {
        return EINVAL;
    }
    if (!strcmp(s, "any")) {
        *out = 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof proto_names / sizeof *proto_names; i++) {
        if (!strcmp(s, proto_names[i].name)) {
            *out = proto_names[i].num;
            return 0;
        }
    }
    /* Decimal by num.h's rule: "0x11" for udp would be a surprise in a log. */
    uint64_t v;
    if (num_parse_u64(s, NUM_DEC, 1, 255, &v, NULL, 0)) {
        return EINVAL;
    }
    *out = (uint8_t) v;
    return 0;
}

const char *
flush_proto_name(uint8_t proto)
{
    if (!proto) {
        return "any";
    }
    for (size_t i = 0; i < sizeof proto_names / sizeof *proto_names; i++) {
        if (proto_names[i].num == proto) {
            return proto_names[i].name;
        }
    }
    return NULL;
}

bool
flush_proto_has_ports(uint8_t proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP
           || proto == IPPROTO_DCCP || proto == IPPROTO_UDPLITE;
}

/* A decimal port, 0..65535, by num.h's rule (no leading zero, no sign). */
static int
port_parse(const char *s, size_t len, uint16_t *out)
{
    char buf[8];
    uint64_t v;

    if (!len || len >= sizeof buf) {
        return EINVAL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (num_parse_u64(buf, NUM_DEC, 0, UINT16_MAX, &v, NULL, 0)) {
        return EINVAL;
    }
    *out = (uint16_t) v;
    return 0;
}

int
flush_dport_parse(const char *s, uint16_t *lo, uint16_t *hi)
{
    const char *dash;
    uint16_t a, b;

    if (!s) {
        return EINVAL;
    }
    dash = strchr(s, '-');
    if (!dash) {
        if (port_parse(s, strlen(s), &a)) {
            return EINVAL;
        }
        *lo = *hi = a;
        return 0;
    }
    if (port_parse(s, (size_t) (dash - s), &a) || port_parse(dash + 1, strlen(dash + 1), &b)
        || a > b) {
        return EINVAL;
    }
    *lo = a;
    *hi = b;
    return 0;
}

bool
flush_job_has_selectors(const struct flush_job *job)
{
    return job->direction != FLUSH_DIRECTION_EITHER || job->tuple != FLUSH_TUPLE_ANY
           || job->proto || job->has_dport || job->family != FLUSH_FAMILY_BOTH;
}

bool
flush_job_same_selectors(const struct flush_job *a, const struct flush_job *b)
{
    return a->direction == b->direction && a->tuple == b->tuple && a->proto == b->proto
           && a->has_dport == b->has_dport && a->family == b->family
           && (!a->has_dport || (a->dport_lo == b->dport_lo && a->dport_hi == b->dport_hi));
}

bool
flush_job_family_ok(const struct flush_job *job, int af)
{
    return job->family == FLUSH_FAMILY_BOTH
           || (job->family == FLUSH_FAMILY_IPV4 && af == AF_INET)
           || (job->family == FLUSH_FAMILY_IPV6 && af == AF_INET6);
}

/* Whether some prefix of the list is of a family the job admits. */
static bool
side_has_admitted(const struct flush_job *job, const struct ctf_prefix_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (flush_job_family_ok(job, l->items[i].family)) {
            return true;
        }
    }
    return false;
}

static int
flush_job_validate_selectors(const struct flush_job *job, char *errbuf, size_t errlen)
{
    if ((unsigned int) job->direction >= FLUSH_DIRECTION_COUNT
        || (unsigned int) job->tuple >= FLUSH_TUPLE_COUNT
        || (unsigned int) job->family >= FLUSH_FAMILY_COUNT
        || (unsigned int) job->datapath >= FLUSH_DATAPATH_COUNT) {
        snprintf(errbuf, errlen, "a selector is out of range");
        return EINVAL;
    }
    if (job->has_dport) {
        if (!flush_proto_has_ports(job->proto)) {
            snprintf(errbuf, errlen, "dport needs a protocol with ports (tcp, udp, sctp, dccp, "
                     "udplite)");
            return EINVAL;
        }
        if (job->dport_lo > job->dport_hi) {
            snprintf(errbuf, errlen, "dport range %u-%u is empty", job->dport_lo, job->dport_hi);
            return EINVAL;
        }
    }
    if ((job->proto == IPPROTO_ICMP && job->family == FLUSH_FAMILY_IPV6)
        || (job->proto == IPPROTO_ICMPV6 && job->family == FLUSH_FAMILY_IPV4)) {
        snprintf(errbuf, errlen, "proto %s does not exist in family %s",
                 flush_proto_name(job->proto), flush_family_name(job->family));
        return EINVAL;
    }
    if (job->family != FLUSH_FAMILY_BOTH) {
        if (!job->local_any && !side_has_admitted(job, &job->local)) {
            snprintf(errbuf, errlen, "family %s: no local address is of it",
                     flush_family_name(job->family));
            return EINVAL;
        }
        if (!job->peers_any && !side_has_admitted(job, &job->peers)) {
            snprintf(errbuf, errlen, "family %s: no peer address is of it",
                     flush_family_name(job->family));
            return EINVAL;
        }
    }
    return 0;
}

int
flush_job_parse_zone(struct flush_job *job, const char *text, char *errbuf, size_t errlen)
{
    uint64_t v;

    if (num_parse_u64(text, NUM_DEC, 0, UINT16_MAX, &v, errbuf, errlen)) {
        return EINVAL;
    }
    job->has_zone = true;
    job->zone = (uint16_t) v;
    return 0;
}

/* The one mark rule: an entry matches when mark(E) & mask == mark, so a
 * mask of 0 would match every mark (leave the mark out instead) and a mark
 * with bits outside the mask matches nothing: both are mistakes. */
static int
flush_job_check_mark(uint32_t mark, uint32_t mask, const char *text, char *errbuf,
                     size_t errlen)
{
    if (!mask) {
        snprintf(errbuf, errlen, "the mark mask is 0, which matches every mark "
                 "(leave the mark out instead)");
        return EINVAL;
    }
    if (mark & ~mask && text) {
        snprintf(errbuf, errlen, "'%.64s' has bits outside the mask", text);
        return EINVAL;
    }
    if (mark & ~mask) {
        snprintf(errbuf, errlen, "mark 0x%" PRIx32 " has bits outside the mask 0x%" PRIx32,
                 mark, mask);
        return EINVAL;
    }
    return 0;
}

int
flush_job_parse_mark(struct flush_job *job, const char *text, char *errbuf, size_t errlen)
{
    const char *slash = strchr(text, '/');
    size_t mlen = slash ? (size_t) (slash - text) : strlen(text);
    uint64_t mark, mask = UINT32_MAX;
    char buf[32];

    if (mlen >= sizeof buf) {
        goto bad;
    }
    memcpy(buf, text, mlen);
    buf[mlen] = '\0';
    if (num_parse_u64(buf, NUM_HEX, 0, UINT32_MAX, &mark, NULL, 0)
        || (slash && num_parse_u64(slash + 1, NUM_HEX, 1, UINT32_MAX, &mask, NULL, 0))) {
        goto bad;
    }
    if (flush_job_check_mark((uint32_t) mark, (uint32_t) mask, text, errbuf, errlen)) {
        return EINVAL;
    }
    job->has_mark = true;
    job->mark = (uint32_t) mark;
    job->mark_mask = (uint32_t) mask;
    return 0;

bad:
    snprintf(errbuf, errlen, "'%.64s' is not MARK[/MASK] (32-bit numbers, decimal or 0x hex; "
             "MASK not 0)", text);
    return EINVAL;
}

int
flush_job_validate(const struct flush_job *job, char *errbuf, size_t errlen)
{
    if (!job->local_any && !job->local.n) {
        snprintf(errbuf, errlen, "the local set is empty");
        return EINVAL;
    }
    if (!job->peers_any && !job->peers.n) {
        snprintf(errbuf, errlen, "the peer set is empty (use 'any' for all peers)");
        return EINVAL;
    }
    if (job->local_any && !job->peers_any) {
        snprintf(errbuf, errlen, "local 'any' needs peers 'any' (swap the sets instead)");
        return EINVAL;
    }
    if (job->local_any && !job->has_zone) {
        snprintf(errbuf, errlen,
                 "refusing to flush every entry of every zone: name local addresses or a zone");
        return EINVAL;
    }
    if (job->has_mark && flush_job_check_mark(job->mark, job->mark_mask, NULL, errbuf, errlen)) {
        return EINVAL;
    }
    return flush_job_validate_selectors(job, errbuf, errlen);
}

bool
flush_job_is_whole_zone(const struct flush_job *job)
{
    return job->local_any && job->peers_any && job->has_zone && !job->has_mark
           && !job->proto && !job->has_dport && job->family == FLUSH_FAMILY_BOTH;
}

static size_t
n_chunks(size_t n, size_t max)
{
    if (!max || n <= max) {
        return 1;
    }
    return (n + max - 1) / max;
}

static int
list_slice(struct ctf_prefix_list *dst, const struct ctf_prefix_list *src,
           size_t start, size_t max)
{
    size_t end = max ? start + max : src->n;

    if (end > src->n) {
        end = src->n;
    }
    for (size_t i = start; i < end; i++) {
        int err = ctf_prefix_list_add(dst, &src->items[i]);
        if (err) {
            return err;
        }
    }
    return 0;
}

int
flush_job_split(const struct flush_job *job, size_t max_local, size_t max_peers,
                struct flush_job **out, size_t *n_out)
{
    size_t nl = job->local_any ? 1 : n_chunks(job->local.n, max_local);
    size_t np = job->peers_any ? 1 : n_chunks(job->peers.n, max_peers);
    struct flush_job *jobs;
    size_t k = 0;

    *out = NULL;
    *n_out = 0;
    if (nl > SIZE_MAX / np) {
        return EOVERFLOW;
    }
    jobs = calloc(nl * np, sizeof *jobs);
    if (!jobs) {
        return ENOMEM;
    }
    for (size_t i = 0; i < nl; i++) {
        for (size_t j = 0; j < np; j++) {
            struct flush_job *sub = &jobs[k++];
            int err = 0;

            *sub = *job;
            memset(&sub->local, 0, sizeof sub->local);
            memset(&sub->peers, 0, sizeof sub->peers);
            if (!job->local_any) {
                err = list_slice(&sub->local, &job->local, i * max_local, max_local);
            }
            if (!err && !job->peers_any) {
                err = list_slice(&sub->peers, &job->peers, j * max_peers, max_peers);
            }
            if (err) {
                flush_job_array_free(jobs, k);
                return err;
            }
        }
    }
    *out = jobs;
    *n_out = k;
    return 0;
}

void
flush_job_array_free(struct flush_job *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++) {
        flush_job_destroy(&jobs[i]);
    }
    free(jobs);
}

static int
list_family(struct ctf_prefix_list *dst, const struct ctf_prefix_list *src, int family)
{
    for (size_t i = 0; i < src->n; i++) {
        if (src->items[i].family == family) {
            int err = ctf_prefix_list_add(dst, &src->items[i]);
            if (err) {
                return err;
            }
        }
    }
    return 0;
}

int
flush_job_family_part(const struct flush_job *job, int family, struct flush_job *out)
{
    int err;

    if (job->local_any || !flush_job_family_ok(job, family)) {
        return ENOENT;
    }
    flush_job_init(out);
    *out = *job;
    memset(&out->local, 0, sizeof out->local);
    memset(&out->peers, 0, sizeof out->peers);
    err = list_family(&out->local, &job->local, family);
    if (!err && !job->peers_any) {
        err = list_family(&out->peers, &job->peers, family);
    }
    if (!err && (!out->local.n || (!job->peers_any && !out->peers.n))) {
        err = ENOENT;
    }
    if (err) {
        flush_job_destroy(out);
    }
    return err;
}
