/*
 * test_udplan.c: unit tests for udplan.c (flush jobs as dpctl/flush-conntrack
 * calls). The calls are read back by a model of Open vSwitch 3.1's rule
 * (lib/ct-dpif.c ct_dpif_entry_cmp, lib/ofp-ct.c ofp_ct_tuple_parse: the
 * zone, if given, must equal; every field a tuple names must equal the
 * entry's; the protocol is the match's, the ports the original tuple's),
 * and on random entries the union of a plan's calls must match exactly
 * what the reference matcher (match.h) says the job matches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "job.h"
#include "match.h"
#include "udplan.h"

/* ---- A model of one call. ---- */

struct model_tuple {
    bool has_src, has_dst;
    union ctf_inaddr src, dst;
    int family;
    bool has_dport;
    uint16_t dport;
};

struct model_call {
    bool has_zone;
    uint16_t zone;
    uint8_t proto;
    struct model_tuple orig, reply;
};

/* Parses one tuple argument the way ofp_ct_tuple_parse does (the fields
 * udplan writes), failing the test on anything else. */
static void
model_tuple(const char *arg, struct model_tuple *t, uint8_t *proto)
{
    char buf[UDPLAN_ARG_LEN], *save = NULL;

    memset(t, 0, sizeof *t);
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        if (!strcmp(k, "ct_nw_src") || !strcmp(k, "ct_nw_dst") || !strcmp(k, "ct_ipv6_src")
            || !strcmp(k, "ct_ipv6_dst")) {
            int fam = k[3] == 'n' ? AF_INET : AF_INET6;
            bool src = k[strlen(k) - 3] == 's';
            union ctf_inaddr a;
            memset(&a, 0, sizeof a);
            assert_int_equal(inet_pton(fam, v, &a), 1);
            if (t->family) {
                assert_int_equal(t->family, fam);   /* OVS refuses a mix. */
            }
            t->family = fam;
            if (src) {
                assert_false(t->has_src);
                t->has_src = true;
                t->src = a;
            } else {
                assert_false(t->has_dst);
                t->has_dst = true;
                t->dst = a;
            }
        } else if (!strcmp(k, "ct_nw_proto")) {
            *proto = (uint8_t) atoi(v);
        } else if (!strcmp(k, "ct_tp_dst")) {
            assert_true(*proto != 0);   /* "port is set without protocol" */
            t->has_dport = true;
            t->dport = (uint16_t) atoi(v);
        } else {
            fail_msg("unexpected field %s", k);
        }
    }
}

static void
model_call(const struct udplan_call *c, struct model_call *m)
{
    size_t i = 0;

    memset(m, 0, sizeof *m);
    if (c->n_args && !strncmp(c->args[0], "zone=", 5)) {
        m->has_zone = true;
        m->zone = (uint16_t) atoi(c->args[0] + 5);
        i++;
    }
    assert_true(c->n_args - i <= 2);
    if (i < c->n_args) {
        model_tuple(c->args[i++], &m->orig, &m->proto);
    }
    if (i < c->n_args) {
        model_tuple(c->args[i++], &m->reply, &m->proto);
        assert_false(m->reply.has_dport);
    }
    /* A call that names nothing would be a zone flush (or a full one). */
    assert_true(m->orig.has_src || m->orig.has_dst || m->reply.has_src || m->reply.has_dst
                || (m->has_zone && !m->proto && c->n_args == 1));
}

static bool
model_addr_eq(const union ctf_inaddr *a, const union ctf_inaddr *b, int family)
{
    return !memcmp(a, b, family == AF_INET ? 4 : 16);
}

static bool
model_tuple_match(const struct model_tuple *t, int family, const struct ct_tuple_addrs *e)
{
    if (t->family && t->family != family) {
        return false;
    }
    return (!t->has_src || model_addr_eq(&t->src, &e->src, family))
           && (!t->has_dst || model_addr_eq(&t->dst, &e->dst, family));
}

static bool
model_match(const struct model_call *m, const struct ct_entry *e)
{
    if (m->has_zone && m->zone != e->zone) {
        return false;
    }
    if (m->proto && m->proto != e->l4proto) {
        return false;
    }
    if (m->orig.has_dport && (!e->has_ports || e->dport != m->orig.dport)) {
        return false;
    }
    return model_tuple_match(&m->orig, e->family, &e->orig)
           && model_tuple_match(&m->reply, e->family, &e->reply);
}

/* ---- Random jobs and entries over a small address pool. ---- */

static const char *const pool4[] = { "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9" };
static const char *const pool6[] = { "fd00::1", "fd00::2", "fd00::9" };

static unsigned int seed = 12345;

static unsigned int
rnd(unsigned int n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % n;
}

static void
add_host(struct ctf_prefix_list *l, const char *s)
{
    struct ctf_prefix p;

    memset(&p, 0, sizeof p);
    p.family = strchr(s, ':') ? AF_INET6 : AF_INET;
    p.plen = p.family == AF_INET ? 32 : 128;
    assert_int_equal(inet_pton(p.family, s, &p.addr), 1);
    assert_int_equal(ctf_prefix_list_add(l, &p), 0);
}

static void
pick(union ctf_inaddr *a, int family)
{
    const char *s = family == AF_INET ? pool4[rnd(4)] : pool6[rnd(3)];

    memset(a, 0, sizeof *a);
    assert_int_equal(inet_pton(family, s, a), 1);
}

static void
random_entry(struct ct_entry *e)
{
    memset(e, 0, sizeof *e);
    e->family = rnd(3) ? AF_INET : AF_INET6;
    pick(&e->orig.src, e->family);
    pick(&e->orig.dst, e->family);
    if (rnd(4)) {               /* No NAT: the reply mirrors the original. */
        e->reply.src = e->orig.dst;
        e->reply.dst = e->orig.src;
    } else {                    /* NAT: any addresses. */
        pick(&e->reply.src, e->family);
        pick(&e->reply.dst, e->family);
    }
    e->has_reply = true;
    e->zone = (uint16_t) rnd(3);
    e->l4proto = rnd(3) ? 6 : 17;
    e->has_ports = true;
    e->sport = (uint16_t) (1000 + rnd(3));
    e->dport = (uint16_t) (80 + rnd(3));
}

static void
random_job(struct flush_job *job)
{
    flush_job_init(job);
    size_t nl = 1 + rnd(2);
    for (size_t i = 0; i < nl; i++) {
        add_host(&job->local, rnd(3) ? pool4[rnd(4)] : pool6[rnd(3)]);
    }
    job->peers_any = rnd(2);
    if (!job->peers_any) {
        size_t np = 1 + rnd(2);
        for (size_t i = 0; i < np; i++) {
            add_host(&job->peers, rnd(3) ? pool4[rnd(4)] : pool6[rnd(3)]);
        }
    }
    ctf_prefix_list_sort_unique(&job->local);
    ctf_prefix_list_sort_unique(&job->peers);
    job->has_zone = rnd(2);
    job->zone = job->has_zone ? (uint16_t) rnd(3) : 0;
    job->direction = (enum flush_direction) rnd(FLUSH_DIRECTION_COUNT);
    job->tuple = (enum flush_tuple) rnd(FLUSH_TUPLE_COUNT);
    if (!rnd(3)) {
        job->proto = rnd(2) ? 6 : 17;
        if (rnd(2)) {
            job->has_dport = true;
            job->dport_lo = (uint16_t) (80 + rnd(2));
            job->dport_hi = (uint16_t) (job->dport_lo + rnd(2));
        }
    }
    if (!rnd(4)) {
        job->family = rnd(2) ? FLUSH_FAMILY_IPV4 : FLUSH_FAMILY_IPV6;
    }
    job->datapath = FLUSH_DATAPATH_NETDEV;
}

/* The property: on random jobs and entries, "some call of the plan
 * matches" == "the job matches". */
static void
test_plan_matches_like_the_job(void **state)
{
    size_t checked = 0, matched = 0;

    for (int round = 0; round < 3000; round++) {
        struct flush_job job;
        char why[256];

        random_job(&job);
        if (flush_job_validate(&job, why, sizeof why)) {
            flush_job_destroy(&job);
            continue;
        }
        struct udplan plan;
        int err = udplan_build(&job, &plan, why, sizeof why);
        if (err) {
            fail_msg("round %d: %s", round, why);
        }
        struct model_call *calls = calloc(plan.n ? plan.n : 1, sizeof *calls);
        assert_non_null(calls);
        for (size_t i = 0; i < plan.n; i++) {
            model_call(&plan.calls[i], &calls[i]);
        }
        struct job_matcher m;
        assert_int_equal(job_matcher_init(&m, &job), 0);
        for (int k = 0; k < 40; k++) {
            struct ct_entry e;
            random_entry(&e);
            bool want = job_matcher_match(&m, &e), got = false;
            for (size_t i = 0; i < plan.n && !got; i++) {
                got = model_match(&calls[i], &e);
            }
            if (want != got) {
                char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
                inet_ntop(e.family, &e.orig.src, a, sizeof a);
                inet_ntop(e.family, &e.orig.dst, b, sizeof b);
                fail_msg("round %d: entry %s -> %s zone %u proto %u dport %u: job %s, "
                         "plan %s (%zu calls)", round, a, b, e.zone, e.l4proto, e.dport,
                         want ? "matches" : "does not", got ? "does" : "does not", plan.n);
            }
            checked++;
            matched += want;
        }
        job_matcher_destroy(&m);
        free(calls);
        udplan_destroy(&plan);
        flush_job_destroy(&job);
    }
    /* Both outcomes were seen often enough to mean something. */
    assert_true(checked > 50000);
    assert_true(matched > checked / 50 && matched < checked / 2);
    (void) state;
}

static void
test_shapes(void **state)
{
    struct flush_job job;
    struct udplan plan;
    char why[256];

    /* A port removal: 1 address x any, in a zone: four calls. */
    flush_job_init(&job);
    add_host(&job.local, "10.0.0.5");
    job.peers_any = true;
    job.has_zone = true;
    job.zone = 7;
    assert_int_equal(udplan_build(&job, &plan, why, sizeof why), 0);
    assert_int_equal(plan.n, 4);
    assert_string_equal(plan.calls[0].args[0], "zone=7");
    assert_string_equal(plan.calls[0].args[1], "ct_nw_dst=10.0.0.5");
    assert_int_equal(plan.calls[0].n_args, 2);
    assert_string_equal(plan.calls[1].args[1], "ct_nw_src=10.0.0.5");
    assert_string_equal(plan.calls[2].args[1], "");    /* Any original tuple, */
    assert_string_equal(plan.calls[2].args[2], "ct_nw_src=10.0.0.5");  /* this reply. */
    assert_string_equal(plan.calls[3].args[2], "ct_nw_dst=10.0.0.5");
    udplan_destroy(&plan);

    /* No zone: every zone (no zone= argument); tuple orig: two calls. */
    job.has_zone = false;
    job.tuple = FLUSH_TUPLE_ORIG;
    assert_int_equal(udplan_build(&job, &plan, why, sizeof why), 0);
    assert_int_equal(plan.n, 2);
    assert_int_equal(plan.calls[0].n_args, 1);
    udplan_destroy(&plan);

    /* A peer, IPv6, protocol and port: pairs, the port on the original. */
    flush_job_destroy(&job);
    flush_job_init(&job);
    add_host(&job.local, "fd00::5");
    add_host(&job.peers, "fd00::9");
    job.direction = FLUSH_DIRECTION_INGRESS;
    job.proto = 6;
    job.has_dport = true;
    job.dport_lo = job.dport_hi = 443;
    assert_int_equal(udplan_build(&job, &plan, why, sizeof why), 0);
    assert_int_equal(plan.n, 2);
    assert_string_equal(plan.calls[0].args[0],
                        "ct_nw_proto=6,ct_tp_dst=443,ct_ipv6_dst=fd00::5,ct_ipv6_src=fd00::9");
    assert_string_equal(plan.calls[1].args[0], "ct_nw_proto=6,ct_tp_dst=443");
    assert_string_equal(plan.calls[1].args[1], "ct_ipv6_src=fd00::5,ct_ipv6_dst=fd00::9");
    udplan_destroy(&plan);
    flush_job_destroy(&job);

    /* Whole zone: one call. */
    flush_job_init(&job);
    job.local_any = job.peers_any = true;
    job.has_zone = true;
    job.zone = 3;
    assert_int_equal(udplan_build(&job, &plan, why, sizeof why), 0);
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.calls[0].n_args, 1);
    assert_string_equal(plan.calls[0].args[0], "zone=3");
    udplan_destroy(&plan);
    flush_job_destroy(&job);
    (void) state;
}

static void
test_refused(void **state)
{
    struct flush_job job;
    struct udplan plan;
    char why[256];
    struct ctf_prefix p;

    /* A mark: 3.1 cannot. */
    flush_job_init(&job);
    add_host(&job.local, "10.0.0.5");
    job.peers_any = true;
    job.has_mark = true;
    job.mark = job.mark_mask = 1;
    assert_int_equal(udplan_build(&job, &plan, why, sizeof why), ENOTSUP);
    assert_non_null(strstr(why, "mark"));
    assert_int_equal(plan.n, 0);
    flush_job_destroy(&job);

    /* A prefix: partial tuples match single addresses. */
    flush_job_init(&job);
    assert_int_equal(ctf_prefix_parse("10.0.0.0/24", &p), 0);
    assert_int_equal(ctf_prefix_list_add(&job.local, &p), 0);
    job.peers_any = true;
    assert_int_equal(udplan_build(&job, &plan, why, sizeof why), ENOTSUP);
    assert_non_null(strstr(why, "10.0.0.0/24"));
    flush_job_destroy(&job);

    /* A long port range. */
    flush_job_init(&job);
    add_host(&job.local, "10.0.0.5");
    job.peers_any = true;
    job.proto = 6;
    job.has_dport = true;
    job.dport_lo = 1;
    job.dport_hi = 1000;
    assert_int_equal(udplan_build(&job, &plan, why, sizeof why), ENOTSUP);
    flush_job_destroy(&job);

    /* Too many calls: 40 x 40 pairs x 4 shapes > UDPLAN_MAX_CALLS. */
    flush_job_init(&job);
    for (int i = 0; i < 40; i++) {
        char a[32];
        snprintf(a, sizeof a, "10.1.0.%d", i + 1);
        add_host(&job.local, a);
        snprintf(a, sizeof a, "10.2.0.%d", i + 1);
        add_host(&job.peers, a);
    }
    assert_int_equal(udplan_build(&job, &plan, why, sizeof why), E2BIG);
    assert_int_equal(plan.n, 0);
    assert_null(plan.calls);
    flush_job_destroy(&job);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_plan_matches_like_the_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
