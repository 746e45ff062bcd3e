/*
 * test_neutron_netns.c: what neutron's conntrack commands delete, ctflushd's
 * jobs delete too, entry for entry.
 *
 * neutron's IpConntrackManager (neutron/agent/linux/ip_conntrack.py) runs,
 * per port IP and remote IP,
 *     conntrack -D [-p PROTO] -f FAMILY [-m MARK] -d|-s IP -w ZONE [-s|-d REMOTE]
 * where an ingress rule puts the port's IP in -d and the remote in -s, an
 * egress rule the reverse (docs in /work/shared/PLATFORM-FACTS.md). The
 * equivalent job is LOCAL = IP, PEERS = REMOTE (or any), the zone, the mark
 * (exact, as -m means), the protocol and family, direction ingress or
 * egress, tuple "orig" (conntrack -s/-d read the original tuple only).
 *
 * Each case fills a table (both families, per-port zones from 4097 as
 * iptables_hybrid allocates them, the same addresses in other zones, DNAT
 * to a port's fixed address, SNAT, marks, TCP and UDP) and, on identical
 * copies of it, runs the real conntrack(8) command and the ctflushd job;
 * the tables left must be equal, and not equal to the table before. The
 * port-removal shape (every command for one port, both directions, each
 * remote) also runs as one group of jobs in one pass. The tables are read
 * with libnetfilter_conntrack, not with the engine's dump.
 *
 * The test moves itself into a fresh network namespace first; conntrack(8)
 * runs as its child, in that namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ctgen.h"
#include "ctsock.h"
#include "engine.h"
#include "job.h"
#include "log.h"
#include "netns_private.h"
#include "planner.h"
#include "probe.h"

#define CONNTRACK_BIN "/usr/sbin/conntrack"

static struct ct_caps caps;
static struct ctgen_entry *table;
static size_t table_n;

/* ---- The table. ---- */

static union ctf_inaddr
ip(const char *s)
{
    union ctf_inaddr a;

    memset(&a, 0, sizeof a);
    assert_int_equal(inet_pton(strchr(s, ':') ? AF_INET6 : AF_INET, s, &a), 1);
    return a;
}

static void
add(const char *os, const char *od, const char *rs, const char *rd, uint8_t proto,
    uint16_t sport, uint16_t dport, uint16_t zone, uint32_t mark)
{
    struct ctgen_entry *e = &table[table_n++];

    memset(e, 0, sizeof *e);
    e->family = strchr(os, ':') ? AF_INET6 : AF_INET;
    e->l4proto = proto;
    e->orig_src = ip(os);
    e->orig_dst = ip(od);
    if (rs) {
        e->nat = 1;
        e->reply_src = ip(rs);
        e->reply_dst = ip(rd);
    }
    e->sport = sport;
    e->dport = dport;
    e->zone = zone;
    e->mark = mark;
    e->timeout = 1200;
}

/* Two ports (A in zone 4097, B in 4098), each dual-stack; remotes R1-R3. */
static const char *const port_ip[2][2] = {
    { "10.10.0.5", "fd00:10::5" }, { "10.10.0.6", "fd00:10::6" },
};
static const uint16_t port_zone[2] = { 4097, 4098 };
static const char *const remote[2][3] = {
    { "10.20.0.1", "10.20.0.2", "10.20.0.3" },
    { "fd00:20::1", "fd00:20::2", "fd00:20::3" },
};

static void
build_table(void)
{
    uint16_t sp = 10000;

    table = calloc(4096, sizeof *table);
    assert_non_null(table);
    for (int p = 0; p < 2; p++) {
        for (int f = 0; f < 2; f++) {
            const char *me = port_ip[p][f];
            for (int r = 0; r < 3; r++) {
                const char *them = remote[f][r];
                static const uint8_t protos[2] = { IPPROTO_TCP, IPPROTO_UDP };
                for (int k = 0; k < 2; k++) {
                    uint8_t pr = protos[k];
                    uint32_t mark = (r == 1 && k == 1) ? 1 : 0;   /* "invalid" */
                    /* Ingress and egress, in the port's zone. */
                    add(them, me, NULL, NULL, pr, sp++, pr == IPPROTO_TCP ? 22 : 53,
                        port_zone[p], mark);
                    add(me, them, NULL, NULL, pr, sp++, pr == IPPROTO_TCP ? 443 : 123,
                        port_zone[p], 0);
                    /* The same flows in the other port's zone and in zone 0:
                     * -w must keep them. */
                    add(them, me, NULL, NULL, pr, sp++, 8080, port_zone[!p], 0);
                    add(me, them, NULL, NULL, pr, sp++, 8081, 0, mark);
                }
            }
            /* Two local ports talking. */
            add(port_ip[!p][f], me, NULL, NULL, IPPROTO_TCP, sp++, 5432, port_zone[p], 0);
            if (f == 0) {
                /* DNAT: a remote reaches the port's floating IP; only the
                 * reply tuple names the fixed address. -d FIXED does not
                 * select it, nor does "orig". */
                const char *fip = p ? "172.24.4.6" : "172.24.4.5";
                add(remote[0][0], fip, me, remote[0][0], IPPROTO_TCP, sp++, 80,
                    port_zone[p], 0);
                /* SNAT: the port talks out through the router. */
                add(me, "198.51.100.7", "198.51.100.7", "172.24.4.1", IPPROTO_UDP, sp++, 53,
                    port_zone[p], 0);
            }
        }
    }
    /* Background. */
    for (unsigned int i = 0; i < 200; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, i % 2 ? "192.168.%u.%u" : "fd00:99::%x:%x", i / 50, i % 50 + 1);
        snprintf(b, sizeof b, i % 2 ? "192.168.200.%u" : "fd00:98::%x", i % 7 + 1);
        add(a, b, NULL, NULL, i % 3 ? IPPROTO_UDP : IPPROTO_TCP, (uint16_t) (30000 + i), 53,
            i % 4 ? 4097 : 0, 0);
    }
}

/* ---- The kernel table, read and written without the engine's code. ---- */

struct key {
    uint8_t family, proto;
    uint16_t zone, sport, dport;
    uint32_t mark;
    uint8_t os[16], od[16], rs[16], rd[16];
};

struct keys {
    struct key *k;
    size_t n, cap;
};

static int
key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct key));
}

static int
dump_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
    struct keys *s = data;
    struct key k;

    (void) type;
    memset(&k, 0, sizeof k);
    k.family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
    k.proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
    k.zone = nfct_attr_is_set(ct, ATTR_ZONE) ? nfct_get_attr_u16(ct, ATTR_ZONE) : 0;
    k.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
    k.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    k.mark = nfct_attr_is_set(ct, ATTR_MARK) ? nfct_get_attr_u32(ct, ATTR_MARK) : 0;
    if (k.family == AF_INET) {
        uint32_t a[4] = {
            nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC), nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST),
            nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC), nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST),
        };
        memcpy(k.os, &a[0], 4);
        memcpy(k.od, &a[1], 4);
        memcpy(k.rs, &a[2], 4);
        memcpy(k.rd, &a[3], 4);
    } else {
        memcpy(k.os, nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), 16);
        memcpy(k.od, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
        memcpy(k.rs, nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), 16);
        memcpy(k.rd, nfct_get_attr(ct, ATTR_REPL_IPV6_DST), 16);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->k = realloc(s->k, s->cap * sizeof *s->k);
        if (!s->k) {
            return NFCT_CB_STOP;
        }
    }
    s->k[s->n++] = k;
    return NFCT_CB_CONTINUE;
}

static void
kernel_dump(struct keys *s)
{
    struct nfct_handle *h = nfct_open(CONNTRACK, 0);
    uint32_t family = AF_UNSPEC;

    memset(s, 0, sizeof *s);
    assert_non_null(h);
    nfct_callback_register(h, NFCT_T_ALL, dump_cb, s);
    assert_int_equal(nfct_query(h, NFCT_Q_DUMP, &family), 0);
    nfct_close(h);
    assert_non_null(s->k);
    qsort(s->k, s->n, sizeof *s->k, key_cmp);
}

static void
reset_table(void)
{
    struct nfct_handle *h = nfct_open(CONNTRACK, 0);
    uint32_t family = AF_UNSPEC;
    struct ctsock sock;
    struct ctgen_stats st;

    assert_non_null(h);
    assert_int_equal(nfct_query(h, NFCT_Q_FLUSH, &family), 0);
    nfct_close(h);
    assert_int_equal(ctsock_open(&sock, 0), 0);
    assert_int_equal(ctgen_insert(&sock, table, table_n, &st), 0);
    ctsock_close(&sock);
    assert_int_equal(engine_table_count(), table_n);
}

/* Runs conntrack(8) with argv (NULL-terminated, without the program). */
static void
run_conntrack(const char *const *argv)
{
    const char *args[32];
    size_t n = 0;
    int status;

    args[n++] = CONNTRACK_BIN;
    for (size_t i = 0; argv[i]; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Its chatter ("N flow entries have been deleted") is not ours. */
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) {
            _exit(126);
        }
        execv(CONNTRACK_BIN, (char *const *) args);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* 0, or 1 when nothing matched: anything else is conntrack failing. */
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
}

/* ---- One neutron command and its job. ---- */

struct ncmd {
    const char *proto;          /* NULL: none (-p not given). */
    int family;                 /* Index into port_ip[][f]. */
    bool ingress;
    int port;                   /* 0: A, 1: B. */
    int remote;                 /* -1: none. */
    bool mark;                  /* -m 1 */
};

/* The argv neutron builds (ip_conntrack.py _get_conntrack_cmds). */
static void
ncmd_argv(const struct ncmd *c, const char **argv, char *zone, size_t zlen)
{
    size_t n = 0;

    argv[n++] = "-D";
    if (c->proto) {
        argv[n++] = "-p";
        argv[n++] = c->proto;
    }
    argv[n++] = "-f";
    argv[n++] = c->family ? "ipv6" : "ipv4";
    if (c->mark) {
        argv[n++] = "-m";
        argv[n++] = "1";
    }
    argv[n++] = c->ingress ? "-d" : "-s";
    argv[n++] = port_ip[c->port][c->family];
    snprintf(zone, zlen, "%u", port_zone[c->port]);
    argv[n++] = "-w";
    argv[n++] = zone;
    if (c->remote >= 0) {
        argv[n++] = c->ingress ? "-s" : "-d";
        argv[n++] = remote[c->family][c->remote];
    }
    argv[n] = NULL;
}

static void
ncmd_job(const struct ncmd *c, struct flush_job *j)
{
    char err[128];

    flush_job_init(j);
    assert_int_equal(flush_job_parse_side(&j->local, &j->local_any, port_ip[c->port][c->family],
                                          err, sizeof err), 0);
    assert_int_equal(flush_job_parse_side(&j->peers, &j->peers_any,
                                          c->remote >= 0 ? remote[c->family][c->remote] : "any",
                                          err, sizeof err), 0);
    j->has_zone = true;
    j->zone = port_zone[c->port];
    if (c->mark) {
        j->has_mark = true;
        j->mark = 1;
        j->mark_mask = UINT32_MAX;
    }
    if (c->proto) {
        assert_int_equal(flush_proto_parse(c->proto, &j->proto), 0);
    }
    j->family = c->family ? FLUSH_FAMILY_IPV6 : FLUSH_FAMILY_IPV4;
    j->direction = c->ingress ? FLUSH_DIRECTION_INGRESS : FLUSH_DIRECTION_EGRESS;
    j->tuple = FLUSH_TUPLE_ORIG;
    assert_int_equal(flush_job_validate(j, err, sizeof err), 0);
}

static void
expect_same(const struct keys *a, const struct keys *b, const char *what)
{
    if (a->n != b->n || memcmp(a->k, b->k, a->n * sizeof *a->k)) {
        fail_msg("%s: conntrack(8) left %zu entries, ctflushd %zu", what, a->n, b->n);
    }
}

/* Runs the commands with conntrack(8), and their jobs with the engine, on
 * identical tables; group: all the jobs in one run (one pass where that is
 * cheaper), else one engine_run each. */
static void
compare(const struct ncmd *cmds, size_t n, bool group, const struct ct_caps *c,
        enum ct_strategy force, const char *what)
{
    struct keys by_conntrack, by_ctflushd;
    struct flush_job jobs[16];
    struct engine_opts opts;
    char zone[16];

    assert_true(n <= 16);
    reset_table();
    for (size_t i = 0; i < n; i++) {
        const char *argv[24];
        ncmd_argv(&cmds[i], argv, zone, sizeof zone);
        run_conntrack(argv);
    }
    kernel_dump(&by_conntrack);
    /* The commands must have done something, or the comparison is empty. */
    assert_true(by_conntrack.n < table_n);

    reset_table();
    engine_opts_init(&opts);
    opts.caps = c;
    opts.force = force;
    for (size_t i = 0; i < n; i++) {
        ncmd_job(&cmds[i], &jobs[i]);
    }
    if (group) {
        struct engine_job ej[16];
        memset(ej, 0, sizeof ej);
        for (size_t i = 0; i < n; i++) {
            ej[i].id = i;
            ej[i].job = &jobs[i];
        }
        assert_int_equal(engine_run_jobs(ej, n, &opts), 0);
    } else {
        for (size_t i = 0; i < n; i++) {
            struct engine_stats st;
            char err[256];
            int rc = engine_run(&jobs[i], &opts, &st, err, sizeof err);
            if (rc) {
                fail_msg("%s: job %zu: %s", what, i, err);
            }
            assert_int_equal(st.errors, 0);
        }
    }
    kernel_dump(&by_ctflushd);
    expect_same(&by_conntrack, &by_ctflushd, what);
    for (size_t i = 0; i < n; i++) {
        flush_job_destroy(&jobs[i]);
    }
    free(by_conntrack.k);
    free(by_ctflushd.k);
}

/* Every single command shape, both families, both ports. */
static void
test_each_command(void **state)
{
    (void) state;
    static const char *const protos[] = { NULL, "tcp", "udp", "6" };

    for (int f = 0; f < 2; f++) {
        for (int p = 0; p < 2; p++) {
            for (int in = 0; in < 2; in++) {
                for (size_t k = 0; k < sizeof protos / sizeof *protos; k++) {
                    for (int r = -1; r < 3; r += 2) {
                        struct ncmd c = { protos[k], f, in, p, r, false };
                        char what[160];
                        snprintf(what, sizeof what, "%s -p %s %s port %d remote %d",
                                 f ? "ipv6" : "ipv4", protos[k] ? protos[k] : "-",
                                 in ? "ingress" : "egress", p, r);
                        compare(&c, 1, false, &caps, CT_STRATEGY_AUTO, what);
                    }
                }
                /* The OVS firewall's "invalid" mark (the table has marked
                 * entries ingress in the port's zone). */
                if (in) {
                    struct ncmd m = { NULL, f, in, p, -1, true };
                    compare(&m, 1, false, &caps, CT_STRATEGY_AUTO, "mark");
                }
            }
        }
    }
}

/* The same commands with each strategy forced, where it can run them. */
static void
test_strategies(void **state)
{
    (void) state;
    static const enum ct_strategy s[] = {
        CT_STRATEGY_DUMP, CT_STRATEGY_FILTERED_DUMP, CT_STRATEGY_FILTERED_FLUSH,
    };
    const struct ncmd cmds[] = {
        { NULL, 0, true, 0, -1, false },
        { "udp", 0, false, 1, 1, false },
        { "tcp", 1, true, 0, 0, false },
        { NULL, 1, false, 1, -1, false },
    };

    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++) {
            struct flush_job j;
            struct ct_plan plan;
            ncmd_job(&cmds[k], &j);
            /* Only what the kernel proved (6.18: no IPv6 filters). */
            bool ok = !planner_choose(&j, &caps, table_n, s[i], &plan);
            flush_job_destroy(&j);
            if (ok) {
                compare(&cmds[k], 1, false, &caps, s[i], ct_strategy_name(s[i]));
            }
        }
    }
}

/* A port removal as neutron does it (delete_conntrack_state_by_remote_ips:
 * both directions, each remote, each family) against one group of jobs. */
static void
test_port_removal_group(void **state)
{
    (void) state;
    struct ncmd cmds[16];
    size_t n = 0;

    for (int f = 0; f < 2; f++) {
        for (int in = 0; in < 2; in++) {
            for (int r = 0; r < 3; r++) {
                cmds[n++] = (struct ncmd) { NULL, f, in, 0, r, false };
            }
        }
    }
    cmds[n++] = (struct ncmd) { "udp", 0, true, 1, -1, false };
    cmds[n++] = (struct ncmd) { NULL, 1, true, 1, -1, true };
    compare(cmds, n, true, &caps, CT_STRATEGY_AUTO, "group, probed costs");
    /* Costs that make one shared dump the way. */
    struct ct_caps share = caps;
    share.walk_fixed_ms = share.fdump_fixed_ms = 1000;
    share.dump_fixed_ms = 0.01;
    share.dump_ns_per_entry = 0.01;
    compare(cmds, n, true, &share, CT_STRATEGY_AUTO, "group, one shared dump");
}

int
main(void)
{
    int skip = netns_private_enter();

    if (skip) {
        return skip;
    }
    if (access(CONNTRACK_BIN, X_OK)) {
        fprintf(stderr, "skipped: %s not found (conntrack-tools)\n", CONNTRACK_BIN);
        return 77;
    }
    log_init("test_neutron_netns", LOG_LVL_WARNING, false);
    if (probe_run(&caps, false) || !caps.probed) {
        char desc[512];
        fprintf(stderr, "probe: %s (the dump path only)\n",
                probe_describe(&caps, desc, sizeof desc));
    }
    build_table();

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_command),
        cmocka_unit_test(test_strategies),
        cmocka_unit_test(test_port_removal_group),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(table);
    return rc;
}
