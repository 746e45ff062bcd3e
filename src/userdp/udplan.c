/*
 * udplan.c: flush jobs as dpctl/flush-conntrack calls (see udplan.h).
 */
#include "udplan.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

void
udplan_init(struct udplan *p)
{
    memset(p, 0, sizeof *p);
}

void
udplan_destroy(struct udplan *p)
{
    if (p) {
        free(p->calls);
        udplan_init(p);
    }
}

static struct udplan_call *
udplan_push(struct udplan *p)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct udplan_call *calls = realloc(p->calls, cap * sizeof *calls);
        if (!calls) {
            return NULL;
        }
        p->calls = calls;
        p->cap = cap;
    }
    struct udplan_call *c = &p->calls[p->n++];
    memset(c, 0, sizeof *c);
    return c;
}

/* "ct_nw_src" or "ct_ipv6_src" (end 's'), "..._dst" (end 'd'). */
static void
udplan_put_addr(char *buf, size_t len, const char *end, const struct ctf_prefix *a)
{
    char text[CTF_PREFIX_STRLEN];
    size_t used = strlen(buf);

    ctf_prefix_format(a, text);
    snprintf(buf + used, len - used, "%s%s_%s=%s", used ? "," : "",
             a->family == AF_INET ? "ct_nw" : "ct_ipv6", end, text);
}

/* One call's shape, before the addresses are filled in. */
struct udplan_shape {
    bool reply;                 /* The addresses go on the reply tuple. */
    const char *local_end;      /* "src" or "dst" of that tuple. */
    const char *peer_end;
};

static int
udplan_add(struct udplan *p, const struct flush_job *job, const struct udplan_shape *s,
           const struct ctf_prefix *local, const struct ctf_prefix *peer, bool has_port,
           unsigned int port)
{
    char orig[UDPLAN_ARG_LEN] = "", reply[UDPLAN_ARG_LEN] = "";
    char *tuple = s->reply ? reply : orig;

    if (p->n >= UDPLAN_MAX_CALLS) {
        return E2BIG;
    }
    if (job->proto) {
        snprintf(orig, sizeof orig, "ct_nw_proto=%u", job->proto);
    }
    if (has_port) {
        size_t used = strlen(orig);
        snprintf(orig + used, sizeof orig - used, ",ct_tp_dst=%u", port);
    }
    udplan_put_addr(tuple, UDPLAN_ARG_LEN, s->local_end, local);
    if (peer) {
        udplan_put_addr(tuple, UDPLAN_ARG_LEN, s->peer_end, peer);
    }

    struct udplan_call *c = udplan_push(p);
    if (!c) {
        return ENOMEM;
    }
    if (job->has_zone) {
        snprintf(c->args[c->n_args++], UDPLAN_ARG_LEN, "zone=%u", job->zone);
    }
    /* An empty original tuple is skipped by ovs-vswitchd's parser: "any". */
    snprintf(c->args[c->n_args++], UDPLAN_ARG_LEN, "%s", orig);
    if (reply[0]) {
        snprintf(c->args[c->n_args++], UDPLAN_ARG_LEN, "%s", reply);
    }
    return 0;
}

static bool
udplan_is_host(const struct ctf_prefix *a)
{
    return a->plen == (a->family == AF_INET ? 32 : 128);
}

static int
udplan_check_hosts(const struct ctf_prefix_list *l, const char *side, char *errbuf,
                   size_t errlen)
{
    char text[CTF_PREFIX_STRLEN];

    for (size_t i = 0; i < l->n; i++) {
        if (!udplan_is_host(&l->items[i])) {
            snprintf(errbuf, errlen,
                     "%s prefix %s: ovs-vswitchd's flush matches single addresses only "
                     "(a prefix needs the dump path, not built yet)",
                     side, ctf_prefix_format(&l->items[i], text));
            return ENOTSUP;
        }
    }
    return 0;
}

int
udplan_build(const struct flush_job *job, struct udplan *p, char *errbuf, size_t errlen)
{
    struct udplan_shape shapes[4];
    size_t n_shapes = 0;
    int err;

    udplan_init(p);
    if (job->has_mark) {
        snprintf(errbuf, errlen, "ovs-vswitchd 3.1 cannot flush by mark");
        return ENOTSUP;
    }
    if (job->local_any) {
        if (!flush_job_is_whole_zone(job)) {
            snprintf(errbuf, errlen, "local 'any' with selectors: not doable by "
                     "ovs-vswitchd's flush");
            return ENOTSUP;
        }
        struct udplan_call *c = udplan_push(p);
        if (!c) {
            return ENOMEM;
        }
        snprintf(c->args[c->n_args++], UDPLAN_ARG_LEN, "zone=%u", job->zone);
        return 0;
    }
    if ((err = udplan_check_hosts(&job->local, "local", errbuf, errlen)) != 0
        || (!job->peers_any
            && (err = udplan_check_hosts(&job->peers, "peer", errbuf, errlen)) != 0)) {
        return err;
    }
    unsigned int lo = 0, hi = 0;
    bool has_port = job->has_dport;
    if (has_port) {
        lo = job->dport_lo;
        hi = job->dport_hi;
        if (hi - lo + 1 > UDPLAN_MAX_DPORTS) {
            snprintf(errbuf, errlen, "a range of %u ports: ovs-vswitchd's flush takes one "
                     "port per call (at most %u here)", hi - lo + 1, UDPLAN_MAX_DPORTS);
            return ENOTSUP;
        }
    }

    bool in = job->direction != FLUSH_DIRECTION_EGRESS;
    bool out = job->direction != FLUSH_DIRECTION_INGRESS;
    if (in) {
        shapes[n_shapes++] = (struct udplan_shape) { false, "dst", "src" };
    }
    if (out) {
        shapes[n_shapes++] = (struct udplan_shape) { false, "src", "dst" };
    }
    if (job->tuple == FLUSH_TUPLE_ANY) {
        if (in) {
            shapes[n_shapes++] = (struct udplan_shape) { true, "src", "dst" };
        }
        if (out) {
            shapes[n_shapes++] = (struct udplan_shape) { true, "dst", "src" };
        }
    }

    err = 0;
    for (size_t i = 0; i < job->local.n && !err; i++) {
        const struct ctf_prefix *l = &job->local.items[i];
        if (!flush_job_family_ok(job, l->family)) {
            continue;
        }
        size_t n_peers = job->peers_any ? 1 : job->peers.n;
        for (size_t k = 0; k < n_peers && !err; k++) {
            const struct ctf_prefix *peer = job->peers_any ? NULL : &job->peers.items[k];
            if (peer && peer->family != l->family) {
                continue;
            }
            for (size_t s = 0; s < n_shapes && !err; s++) {
                unsigned int port = lo;
                do {
                    err = udplan_add(p, job, &shapes[s], l, peer, has_port, port);
                } while (!err && has_port && port++ < hi);
            }
        }
    }
    if (err == E2BIG) {
        snprintf(errbuf, errlen, "more than %u flush calls: ovs-vswitchd would walk its "
                 "table that many times (a dump matched here is not built yet)",
                 UDPLAN_MAX_CALLS);
    }
    if (err) {
        udplan_destroy(p);
    }
    return err;
}
