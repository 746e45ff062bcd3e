/*
 * probe.c: start-up capability probe, run in a throwaway network namespace.
 *
 * The parent forks; the child unshares a new network namespace (its conntrack
 * table is empty and private), runs every probe there, writes the result down
 * a pipe and exits, taking the namespace with it. The parent waits a bounded
 * time and kills a child that hangs. Nothing here runs in the caller's
 * namespace.
 */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctgen.h"
#include "ctmsg.h"
#include "ctpipe.h"
#include "ctsock.h"
#include "engine.h"
#include "log.h"

/* Every walk of the probe visits the whole shared hash table: on a host
 * holding a million entries it takes a minute or so. Its result is kept
 * (probecache.h), so it is paid once per boot. */
#define PROBE_TIMEOUT_MS 90000
#define PROBE_ZONE 7
#define PROBE_OTHER_ZONE 8
#define PROBE_CALIBRATION_ENTRIES 20000
#define CALIB_N 4               /* Timings per calib_measure (see there). */

/* The fixed cast of the probe's table (all in 10.255.0.0/16 of a namespace
 * nobody else sees). A is the address filters aim at. */
enum { P_A = 1, P_X, P_Y, P_Z, P_W };

static union ctf_inaddr
probe_addr(int family, int n)
{
    union ctf_inaddr a;

    memset(&a, 0, sizeof a);
    if (family == AF_INET) {
        a.w[0] = htonl(0x0aff0000u | (uint32_t) n);
    } else {
        a.w[0] = htonl(0xfd00ff00u);           /* fd00:ff00::N */
        a.w[3] = htonl((uint32_t) n);
    }
    return a;
}

struct probe_entry {
    int osrc, odst;             /* Original tuple. */
    int rsrc, rdst;             /* Reply tuple (0, 0: mirrored). */
    uint16_t sport;             /* Keeps tuples distinct. */
    uint16_t zone;
    uint8_t proto;              /* 0: UDP. */
    uint16_t dport;             /* 0: 53. */
};

#define PROBE_PORT 53           /* The port protocol filters aim at. */

static const struct probe_entry probe_table[] = {
    { P_A, P_X, 0, 0, 1001, 0, 0, 0 },             /* A as orig source. */
    { P_X, P_A, 0, 0, 1002, 0, 0, 0 },             /* A as orig destination. */
    { P_Y, P_Z, P_A, P_Y, 1003, 0, 0, 0 },         /* DNAT to A: A as reply source. */
    { P_Y, P_W, P_W, P_A, 1004, 0, 0, 0 },         /* SNAT to A: A as reply destination. */
    { P_Y, P_Z, 0, 0, 1005, 0, 0, 0 },             /* Unrelated. */
    { P_A, P_X, 0, 0, 1006, PROBE_ZONE, 0, 0 },    /* A as orig source, in zone 7. */
    { P_X, P_Y, 0, 0, 1007, PROBE_ZONE, 0, 0 },    /* Unrelated, zone 7. */
    { P_X, P_Y, 0, 0, 1008, PROBE_OTHER_ZONE, 0, 0 },
    /* For protocol and port filters: A at each end with the other protocol
     * on the probed port, and with the probed protocol on another port. */
    { P_A, P_X, 0, 0, 1009, 0, IPPROTO_TCP, PROBE_PORT },
    { P_X, P_A, 0, 0, 1010, 0, IPPROTO_TCP, PROBE_PORT },
    { P_A, P_X, 0, 0, 1011, 0, 0, PROBE_PORT + 1 },
    { P_X, P_A, 0, 0, 1012, 0, 0, PROBE_PORT + 1 },
    { P_Y, P_Z, P_A, P_Y, 1013, 0, IPPROTO_TCP, 80 },  /* DNAT to A, TCP 80. */
    { P_Y, P_W, P_W, P_A, 1014, 0, 0, 5353 },      /* SNAT to A, another port. */
    /* The source port, not the destination, is the probed one: a filter
     * on the destination must not select it. */
    { P_X, P_A, 0, 0, PROBE_PORT, 0, 0, 1015 },
};
#define PROBE_N (sizeof probe_table / sizeof *probe_table)

static void
probe_entry_to_gen(int family, const struct probe_entry *p, struct ctgen_entry *g)
{
    memset(g, 0, sizeof *g);
    g->family = family;
    g->l4proto = p->proto ? p->proto : IPPROTO_UDP;
    g->orig_src = probe_addr(family, p->osrc);
    g->orig_dst = probe_addr(family, p->odst);
    if (p->rsrc) {
        g->nat = 1;
        g->reply_src = probe_addr(family, p->rsrc);
        g->reply_dst = probe_addr(family, p->rdst);
    }
    g->sport = p->sport;
    g->dport = p->dport ? p->dport : PROBE_PORT;
    g->zone = p->zone;
    g->timeout = 600;
}

/* Both families are always in the table, so a probe of one also proves the
 * other family's entries are left alone. */
static int
probe_fill(struct ctsock *s)
{
    struct ctgen_entry g[2 * PROBE_N];
    struct ctgen_stats st;

    for (size_t i = 0; i < PROBE_N; i++) {
        probe_entry_to_gen(AF_INET, &probe_table[i], &g[i]);
        probe_entry_to_gen(AF_INET6, &probe_table[i], &g[PROBE_N + i]);
    }
    return ctgen_insert(s, g, 2 * PROBE_N, &st);
}

static int
probe_flush_all(struct ctsock *s)
{
    char msg[CTMSG_MAX_LEN];
    size_t n = ctmsg_build_flush(msg, sizeof msg, ctsock_next_seq(s), AF_UNSPEC, true);

    return ctsock_request(s, msg, n);
}

/* Which probe_table entries a dump returns, as a bit mask per family. */
struct probe_seen {
    unsigned int mask[2];       /* [0]: IPv4, [1]: IPv6. */
    unsigned int others;
};

static int
probe_seen_cb(const void *nlh, size_t len, void *aux)
{
    struct probe_seen *seen = aux;
    struct ct_entry e;

    if (ctmsg_parse_entry(nlh, len, &e)) {
        return 0;
    }
    for (size_t i = 0; i < PROBE_N; i++) {
        const struct probe_entry *p = &probe_table[i];
        int f = e.family;
        union ctf_inaddr os = probe_addr(f, p->osrc), od = probe_addr(f, p->odst);
        /* Several entries share addresses: compare both whole tuples. */
        union ctf_inaddr rs = p->rsrc ? probe_addr(f, p->rsrc) : od;
        union ctf_inaddr rd = p->rsrc ? probe_addr(f, p->rdst) : os;
        if (e.zone == p->zone && !memcmp(&e.orig.src, &os, sizeof os)
            && !memcmp(&e.orig.dst, &od, sizeof od) && !memcmp(&e.reply.src, &rs, sizeof rs)
            && !memcmp(&e.reply.dst, &rd, sizeof rd) && e.has_ports && e.sport == p->sport) {
            seen->mask[f == AF_INET6] |= 1u << i;
            return 0;
        }
    }
    seen->others++;
    return 0;
}

static int
probe_dump(struct ctsock *s, const uint16_t *zone, struct probe_seen *seen)
{
    char req[CTMSG_MAX_LEN];
    size_t n = ctmsg_build_dump(req, sizeof req, ctsock_next_seq(s), AF_UNSPEC, zone,
                                NULL, NULL);

    memset(seen, 0, sizeof *seen);
    return ctsock_dump(s, req, n, probe_seen_cb, seen);
}

/* Entries of probe_table that entries-matching-pred selects, as a mask. */
typedef bool probe_pred(const struct probe_entry *, const void *arg);

static unsigned int
probe_expect(probe_pred *pred, const void *arg)
{
    unsigned int mask = 0;

    for (size_t i = 0; i < PROBE_N; i++) {
        if (pred(&probe_table[i], arg)) {
            mask |= 1u << i;
        }
    }
    return mask;
}

static bool
pred_zone(const struct probe_entry *p, const void *arg)
{
    return p->zone == *(const uint16_t *) arg;
}

struct filter_arg {
    bool reply, src;
    bool has_zone;
    uint16_t zone;
    bool no_addr;               /* A filter on protocol (and port) alone. */
    uint8_t proto;              /* 0: none. */
    bool has_dport;
};

static bool
pred_filter(const struct probe_entry *p, const void *arg)
{
    const struct filter_arg *f = arg;
    uint8_t proto = p->proto ? p->proto : IPPROTO_UDP;
    uint16_t dport = p->dport ? p->dport : PROBE_PORT;
    int v;

    if (f->has_zone && p->zone != f->zone) {
        return false;
    }
    if (f->proto && (proto != f->proto || (f->has_dport && dport != PROBE_PORT))) {
        return false;
    }
    if (f->no_addr) {
        return true;
    }
    if (!f->reply) {
        v = f->src ? p->osrc : p->odst;
    } else if (p->rsrc) {
        v = f->src ? p->rsrc : p->rdst;
    } else {
        v = f->src ? p->odst : p->osrc;
    }
    return v == P_A;
}

/* Refills the table, sends msg, and checks that exactly `expect_gone` of
 * family `family` went (AF_UNSPEC: of both), and nothing else. */
static bool
probe_one(struct ctsock *s, void *msg, size_t len, int family,
          unsigned int expect_gone, const char *what)
{
    struct probe_seen seen;
    unsigned int all = (1u << PROBE_N) - 1;
    unsigned int want4 = family == AF_INET6 ? all : all & ~expect_gone;
    unsigned int want6 = family == AF_INET ? all : all & ~expect_gone;

    /* Put back whatever the previous probe deleted (what is still there
     * answers EEXIST, which ctgen counts and accepts: the table is complete
     * when it returns 0). Every flush or dump walks the whole shared hash
     * table, so the probe makes as few as it can. */
    if (probe_fill(s)) {
        log_debug("probe %s: could not set up the table", what);
        return false;
    }
    int err = ctsock_request(s, msg, len);
    if (err) {
        log_debug("probe %s: kernel said %s", what, strerror(err));
        return false;
    }
    if (probe_dump(s, NULL, &seen)) {
        return false;
    }
    if (seen.mask[0] != want4 || seen.mask[1] != want6 || seen.others) {
        log_debug("probe %s: left 0x%x/0x%x, expected 0x%x/0x%x", what, seen.mask[0],
                  seen.mask[1], want4, want6);
        return false;
    }
    return true;
}

/* What a proof of protocol filtering tries. The protocol and port sit on
 * the original tuple's flags whichever tuple the address is on, so the two
 * shapes of message are an address on the original tuple and one on the
 * reply tuple, each tried as source and as destination once: UDP with the
 * port, UDP alone, TCP with the port (each walk visits the whole shared hash
 * table, so the probe makes no more than it must). */
struct proto_variant {
    int reply, src;
    uint8_t proto;
    bool has_dport;
};

static const struct proto_variant proto_variants[] = {
    { 0, 1, IPPROTO_UDP, true }, { 1, 0, IPPROTO_UDP, true },
    { 0, 0, IPPROTO_UDP, false }, { 1, 1, IPPROTO_TCP, true },
};
#define N_PROTO_VARIANTS (sizeof proto_variants / sizeof *proto_variants)

static bool
probe_filtered_one(struct ctsock *s, int family, bool has_zone, uint16_t zone, int reply,
                   int src, const struct proto_variant *pv)
{
    if (pv) {
        reply = pv->reply;
        src = pv->src;
    }
    char msg[CTMSG_MAX_LEN];
    struct filter_arg fa = { reply, src, has_zone, zone, false, pv ? pv->proto : 0,
                             pv && pv->has_dport };
    struct ctmsg_filter f = {
        .family = family, .reply = reply,
        .has_src = src, .has_dst = !src,
        .has_zone = has_zone, .zone = zone,
        .proto = fa.proto, .has_dport = fa.has_dport, .dport = PROBE_PORT,
    };
    f.src = probe_addr(family, P_A);
    f.dst = probe_addr(family, P_A);
    size_t n = ctmsg_build_filtered_flush(msg, sizeof msg, ctsock_next_seq(s), &f, true);
    return n && probe_one(s, msg, n, family, probe_expect(pred_filter, &fa),
                          family == AF_INET ? "IPv4 filtered flush" : "IPv6 filtered flush");
}

static bool
probe_filtered(struct ctsock *s, int family, bool has_zone, uint16_t zone)
{
    for (int reply = 0; reply < 2; reply++) {
        for (int src = 0; src < 2; src++) {
            if (!probe_filtered_one(s, family, has_zone, zone, reply, src, NULL)) {
                return false;
            }
        }
    }
    return true;
}

/* A filtered flush also filtered on the protocol (and port) deletes exactly
 * what the filter selects. */
static bool
probe_filtered_proto(struct ctsock *s, int family)
{
    for (size_t i = 0; i < N_PROTO_VARIANTS; i++) {
        if (!probe_filtered_one(s, family, false, 0, 0, 0, &proto_variants[i])) {
            return false;
        }
    }
    return true;
}

/* A kernel-filtered dump must return exactly the entries its filter
 * selects: one that returns too few would leave entries behind (the
 * userspace match cannot see what never came back), one that returns the
 * wrong ones (6.18's IPv6) is no cheaper than a dump. Dumps delete nothing,
 * so one fill serves all four filters. */
/* One kernel-filtered dump (of the table as probe_fill made it) returns
 * exactly what fa selects. */
static bool
probe_dump_one(struct ctsock *s, int family, const struct filter_arg *fa, const char *what)
{
    char msg[CTMSG_MAX_LEN];
    struct ctmsg_filter f = {
        .family = family, .reply = fa->reply,
        .has_src = !fa->no_addr && fa->src, .has_dst = !fa->no_addr && !fa->src,
        .proto = fa->proto, .has_dport = fa->has_dport, .dport = PROBE_PORT,
    };
    struct probe_seen seen;

    f.src = probe_addr(family, P_A);
    f.dst = probe_addr(family, P_A);
    size_t n = ctmsg_build_filtered_dump(msg, sizeof msg, ctsock_next_seq(s), &f);
    unsigned int want = probe_expect(pred_filter, fa);

    memset(&seen, 0, sizeof seen);
    int err = n ? ctsock_dump(s, msg, n, probe_seen_cb, &seen) : EINVAL;
    if (err) {
        log_debug("probe %s: kernel said %s", what, strerror(err));
        return false;
    }
    if (seen.mask[family == AF_INET6] != want || seen.mask[family == AF_INET] || seen.others) {
        log_debug("probe %s: returned 0x%x/0x%x, expected 0x%x", what, seen.mask[0],
                  seen.mask[1], want);
        return false;
    }
    return true;
}

/* Dumps delete nothing, so one fill serves every filter: address filters
 * at the four positions, or (with_proto) address and protocol filters. */
static bool
probe_filtered_dump(struct ctsock *s, int family, bool with_proto)
{
    const char *what = family == AF_INET ? "IPv4 filtered dump" : "IPv6 filtered dump";

    if (probe_flush_all(s) || probe_fill(s)) {
        log_debug("probe %s: could not set up the table", what);
        return false;
    }
    for (int reply = 0; !with_proto && reply < 2; reply++) {
        for (int src = 0; src < 2; src++) {
            struct filter_arg fa = { reply, src, false, 0, false, 0, false };
            if (!probe_dump_one(s, family, &fa, what)) {
                return false;
            }
        }
    }
    for (size_t i = 0; with_proto && i < N_PROTO_VARIANTS; i++) {
        const struct proto_variant *pv = &proto_variants[i];
        struct filter_arg fa = { pv->reply, pv->src, false, 0, false, pv->proto, pv->has_dport };
        if (!probe_dump_one(s, family, &fa, what)) {
            return false;
        }
    }
    return true;
}

/* A whole-family dump filtered on the protocol (and port) alone. */
static bool
probe_proto_dump(struct ctsock *s, int family)
{
    static const struct proto_variant v[] = {
        { 0, 0, IPPROTO_UDP, false }, { 0, 0, IPPROTO_UDP, true }, { 0, 0, IPPROTO_TCP, true },
    };
    const char *what = family == AF_INET ? "IPv4 protocol dump" : "IPv6 protocol dump";

    if (probe_flush_all(s) || probe_fill(s)) {
        log_debug("probe %s: could not set up the table", what);
        return false;
    }
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        struct filter_arg fa = { false, false, false, 0, true, v[i].proto, v[i].has_dport };
        if (!probe_dump_one(s, family, &fa, what)) {
            return false;
        }
    }
    return true;
}

static int
calib_cb(const void *nlh, size_t len, void *aux)
{
    const struct job_matcher *m = aux;
    struct ct_entry e;

    if (!ctmsg_parse_entry(nlh, len, &e)) {
        (void) job_matcher_match(m, &e);
    }
    return 0;
}

/* Times one dump + match (the dump path's inner loop) of the current table,
 * received on a helper thread when the engine would (pipelined). */
static double
calib_dump_ms(struct ctsock *s, const struct job_matcher *m, bool pipelined)
{
    char msg[CTMSG_MAX_LEN];
    size_t len = ctmsg_build_dump(msg, sizeof msg, ctsock_next_seq(s), AF_INET, NULL, NULL, NULL);
    double t0 = ctf_time_sec_f();

    if ((pipelined ? ctpipe_dump : ctsock_dump)(s, msg, len, calib_cb, (void *) m)) {
        return -1;
    }
    return (ctf_time_sec_f() - t0) * 1e3;
}

/* Times one filtered kernel walk that matches nothing. */
static double
calib_walk_ms(struct ctsock *s, const union ctf_inaddr *nobody)
{
    char msg[CTMSG_MAX_LEN];
    struct ctmsg_filter f = { .family = AF_INET, .has_src = true, .src = *nobody };
    size_t len = ctmsg_build_filtered_flush(msg, sizeof msg, ctsock_next_seq(s), &f, true);
    double t0 = ctf_time_sec_f();

    if (ctsock_request(s, msg, len)) {
        return -1;
    }
    return (ctf_time_sec_f() - t0) * 1e3;
}

static int
calib_count_cb(const void *nlh, size_t len, void *aux)
{
    (void) nlh;
    (void) len;
    (*(unsigned int *) aux)++;
    return 0;
}

/* Times one kernel-filtered dump that returns nothing (-1 if it returned
 * something: then it timed more than a walk). */
static double
calib_fdump_ms(struct ctsock *s, const union ctf_inaddr *nobody)
{
    char msg[CTMSG_MAX_LEN];
    struct ctmsg_filter f = { .family = AF_INET, .has_src = true, .src = *nobody };
    size_t len = ctmsg_build_filtered_dump(msg, sizeof msg, ctsock_next_seq(s), &f);
    unsigned int got = 0;
    double t0 = ctf_time_sec_f();

    if (ctsock_dump(s, msg, len, calib_count_cb, &got) || got) {
        return -1;
    }
    return (ctf_time_sec_f() - t0) * 1e3;
}

static int
calib_fill(struct ctsock *s, size_t from, size_t to)
{
    struct ctgen_entry *g = calloc(to - from, sizeof *g);
    struct ctgen_stats st;

    if (!g) {
        return ENOMEM;
    }
    for (size_t i = from; i < to; i++) {
        struct ctgen_entry *e = &g[i - from];
        e->family = AF_INET;
        e->l4proto = IPPROTO_UDP;
        e->orig_src.w[0] = htonl(0x0a640000u | (uint32_t) (i >> 8));
        e->orig_dst.w[0] = htonl(0x0a650000u | (uint32_t) (i & 0xff));
        e->sport = (uint16_t) (1024 + i % 50000);
        e->dport = 80;
        e->timeout = 600;
    }
    int err = ctgen_insert(s, g, to - from, &st);
    free(g);
    return err;
}

/* Best of a few runs: timing noise only ever adds. ms[0]: dump + match on
 * one thread, ms[1]: filtered flush walk, ms[2]: filtered dump (each if
 * proven), ms[3]: dump + match received on a helper thread (if asked for
 * with piped and the engine may use two); -1 where not measured. */
static void
calib_measure(struct ctsock *s, const struct job_matcher *m, const union ctf_inaddr *nobody,
              const struct ct_caps *caps, bool piped, double ms[CALIB_N])
{
    for (int k = 0; k < CALIB_N; k++) {
        ms[k] = -1;
    }
    for (int i = 0; i < 3; i++) {
        double t[CALIB_N] = {
            calib_dump_ms(s, m, false),
            caps->filtered_flush ? calib_walk_ms(s, nobody) : -1,
            caps->filtered_dump ? calib_fdump_ms(s, nobody) : -1,
            piped && caps->dump_threads >= 2 ? calib_dump_ms(s, m, true) : -1,
        };
        for (int k = 0; k < CALIB_N; k++) {
            if (t[k] >= 0 && (ms[k] < 0 || t[k] < ms[k])) {
                ms[k] = t[k];
            }
        }
    }
}

/* Fixed and per-entry cost from times at two table sizes; left as they
 * were when the two make no sense (unmeasured, or the bigger table was
 * faster). */
static void
calib_fit(double t1, double t2, size_t n1, size_t n2, double *fixed_ms, double *ns_per_entry)
{
    if (t1 < 0 || t2 <= t1) {
        return;
    }
    *ns_per_entry = (t2 - t1) * 1e6 / (double) (n2 - n1);
    *fixed_ms = t1 - (double) n1 * *ns_per_entry / 1e6;
    if (*fixed_ms < 0) {
        *fixed_ms = 0;
    }
}

/* The share of a one-thread dump's time that a helper-thread dump takes,
 * timed on the bigger table; 1 (no difference) if either is unmeasured.
 * Bounded, so that one odd timing cannot make a dump look free or
 * hopeless. */
static double
calib_ratio(double piped_ms, double plain_ms)
{
    if (piped_ms <= 0 || plain_ms <= 0) {
        return 1;
    }
    double r = piped_ms / plain_ms;
    return r < 0.1 ? 0.1 : r > 4 ? 4 : r;
}

/* Costs of a dump, a filtered walk and a filtered dump, as a fixed part and
 * a part per entry. All walk the kernel's shared hash table, whose buckets and other
 * namespaces' entries (the host's included) cost the same at two table
 * sizes of ours: the difference between the two gives the per-entry cost,
 * and what is left is the fixed part as this host is now. */
static void
probe_calibrate(struct ctsock *s, struct ct_caps *caps)
{
    const size_t n1 = 2000, n2 = PROBE_CALIBRATION_ENTRIES;
    struct flush_job job;
    struct job_matcher m;
    struct ctf_prefix nobody;
    double t1[CALIB_N], t2[CALIB_N];

    flush_job_init(&job);
    ctf_prefix_parse("10.254.254.254", &nobody);
    ctf_prefix_list_add(&job.local, &nobody);
    job.peers_any = true;
    int err = job_matcher_init(&m, &job);
    flush_job_destroy(&job);
    if (err) {
        return;
    }
    probe_flush_all(s);
    if (!calib_fill(s, 0, n1)) {
        /* The helper-thread ratio is taken on the bigger table only. */
        calib_measure(s, &m, &nobody.addr, caps, false, t1);
        if (!calib_fill(s, n1, n2)) {
            calib_measure(s, &m, &nobody.addr, caps, true, t2);
            calib_fit(t1[0], t2[0], n1, n2, &caps->dump_fixed_ms, &caps->dump_ns_per_entry);
            calib_fit(t1[1], t2[1], n1, n2, &caps->walk_fixed_ms, &caps->walk_ns_per_entry);
            calib_fit(t1[2], t2[2], n1, n2, &caps->fdump_fixed_ms, &caps->fdump_ns_per_entry);
            caps->dump_piped_ratio = calib_ratio(t2[3], t2[0]);
        }
    }
    job_matcher_destroy(&m);
    probe_flush_all(s);
}

static void
probe_child(int fd, bool calibrate)
{
    struct ct_caps caps;
    struct ctsock s;
    char msg[CTMSG_MAX_LEN];
    uint16_t zone = PROBE_ZONE, zone0 = 0;
    struct probe_seen seen;

    ct_caps_init_unproven(&caps, "");
    if (unshare(CLONE_NEWNET) < 0) {
        snprintf(caps.note, sizeof caps.note, "no throwaway namespace (unshare: %s)",
                 strerror(errno));
        goto out;
    }
    if (ctsock_open(&s, 0)) {
        snprintf(caps.note, sizeof caps.note, "no ctnetlink socket in the probe namespace");
        goto out;
    }
    /* The table must start empty and take our entries, or nothing below
     * means anything. */
    if (probe_dump(&s, NULL, &seen) || seen.mask[0] || seen.mask[1] || seen.others) {
        snprintf(caps.note, sizeof caps.note, "probe namespace table not empty");
        goto close;
    }

    size_t n = ctmsg_build_zone_flush(msg, sizeof msg, ctsock_next_seq(&s), zone, true);
    caps.zone_flush = probe_one(&s, msg, n, AF_UNSPEC, probe_expect(pred_zone, &zone),
                                "zone flush");
    if (caps.zone_flush) {
        n = ctmsg_build_zone_flush(msg, sizeof msg, ctsock_next_seq(&s), zone0, true);
        caps.zone_flush_default = probe_one(&s, msg, n, AF_UNSPEC,
                                            probe_expect(pred_zone, &zone0), "zone 0 flush");
    }
    /* Each family on its own: kernels have got one right and not the
     * other. */
    caps.filtered_flush = probe_filtered(&s, AF_INET, false, 0);
    if (caps.filtered_flush) {
        caps.filtered_flush_zone = probe_filtered(&s, AF_INET, true, PROBE_ZONE);
        caps.filtered_flush_zone_default = probe_filtered(&s, AF_INET, true, 0);
        caps.filtered_flush_v6 = probe_filtered(&s, AF_INET6, false, 0)
                                 && probe_filtered(&s, AF_INET6, true, PROBE_ZONE)
                                 && probe_filtered(&s, AF_INET6, true, 0);
    }

    caps.filtered_dump = probe_filtered_dump(&s, AF_INET, false);
    caps.filtered_dump_v6 = caps.filtered_dump && probe_filtered_dump(&s, AF_INET6, false);

    /* Protocol and port filters, per family and kind, on top of what was
     * proven without them (an address filter that fails alone fails with a
     * protocol too: not worth the walks). */
    caps.filtered_flush_proto = caps.filtered_flush && probe_filtered_proto(&s, AF_INET);
    caps.filtered_flush_proto_v6 = caps.filtered_flush_v6 && probe_filtered_proto(&s, AF_INET6);
    caps.filtered_dump_proto = caps.filtered_dump && probe_filtered_dump(&s, AF_INET, true);
    caps.filtered_dump_proto_v6 = caps.filtered_dump_v6
                                  && probe_filtered_dump(&s, AF_INET6, true);
    caps.dump_proto_filter = probe_proto_dump(&s, AF_INET);
    caps.dump_proto_filter_v6 = probe_proto_dump(&s, AF_INET6);

    /* Dump filtered by zone: returns exactly the zone's entries. */
    if (!probe_flush_all(&s) && !probe_fill(&s) && !probe_dump(&s, &zone, &seen)) {
        unsigned int want = probe_expect(pred_zone, &zone);
        caps.dump_zone_filter = seen.mask[0] == want && seen.mask[1] == want && !seen.others;
    }
    probe_flush_all(&s);
    if (calibrate) {
        probe_calibrate(&s, &caps);
    }
    caps.probed = true;
    snprintf(caps.note, sizeof caps.note, "probed in a throwaway namespace");
close:
    ctsock_close(&s);
out:
    if (write(fd, &caps, sizeof caps) != (ssize_t) sizeof caps) {
        _exit(1);
    }
    _exit(0);
}

int
probe_run(struct ct_caps *caps, bool calibrate)
{
    int fds[2];
    pid_t pid;

    ct_caps_init_unproven(caps, "probe did not run");
    if (pipe2(fds, O_CLOEXEC) < 0) {
        return errno;
    }
    pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return err;
    }
    if (pid == 0) {
        close(fds[0]);
        probe_child(fds[1], calibrate);
    }
    close(fds[1]);

    struct ct_caps got;
    size_t have = 0;
    uint64_t deadline = ctf_time_msec() + PROBE_TIMEOUT_MS;
    int err = 0;
    while (have < sizeof got) {
        uint64_t now = ctf_time_msec();
        struct pollfd pfd = { fds[0], POLLIN, 0 };
        if (now >= deadline) {
            err = ETIMEDOUT;
            break;
        }
        int rc = poll(&pfd, 1, (int) (deadline - now));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            err = rc ? errno : ETIMEDOUT;
            break;
        }
        ssize_t r = read(fds[0], (char *) &got + have, sizeof got - have);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            err = r ? errno : EPIPE;
            break;
        }
        have += (size_t) r;
    }
    close(fds[0]);
    if (err) {
        kill(pid, SIGKILL);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        continue;
    }
    if (err) {
        ct_caps_init_unproven(caps, err == ETIMEDOUT ? "probe timed out" : "probe died");
        return err;
    }
    got.note[sizeof got.note - 1] = '\0';
    *caps = got;
    return 0;
}

static const char *
probe_fams(bool v4, bool v6)
{
    return v4 && v6 ? "v4+v6" : v4 ? "v4" : v6 ? "v6" : "no";
}

const char *
probe_describe(const struct ct_caps *c, char *buf, size_t len)
{
    snprintf(buf, len,
             "%s; zone-flush=%s zone0-flush=%s filtered-flush=%s filtered-flush-v6=%s "
             "filtered-flush-zone=%s filtered-dump=%s filtered-dump-v6=%s "
             "dump-zone-filter=%s proto-filter: flush=%s%s dump=%s%s whole-dump=%s%s; "
             "dump %.1f ms + %.0f ns/entry (x%.2f on a helper thread), "
             "walk %.1f ms + %.0f ns/entry, "
             "filtered dump %.1f ms + %.0f ns/entry, %u dump threads",
             c->note, c->zone_flush ? "yes" : "no", c->zone_flush_default ? "yes" : "no",
             c->filtered_flush ? "yes" : "no", c->filtered_flush_v6 ? "yes" : "no",
             c->filtered_flush_zone ? "yes" : "no", c->filtered_dump ? "yes" : "no",
             c->filtered_dump_v6 ? "yes" : "no",
             c->dump_zone_filter ? "yes" : "no",
             probe_fams(c->filtered_flush_proto, c->filtered_flush_proto_v6), "",
             probe_fams(c->filtered_dump_proto, c->filtered_dump_proto_v6), "",
             probe_fams(c->dump_proto_filter, c->dump_proto_filter_v6), "",
             c->dump_fixed_ms, c->dump_ns_per_entry,
             c->dump_piped_ratio, c->walk_fixed_ms, c->walk_ns_per_entry, c->fdump_fixed_ms,
             c->fdump_ns_per_entry, c->dump_threads);
    return buf;
}
