/*
 * ct_baseline: the two C baselines of the benchmark (bench/run.sh).
 *
 *   bench_ct_baseline per-entry --local LIST --peers LIST|any
 *       What per-entry agents (neutron's and most others) do: dump the whole
 *       table over ctnetlink, match every entry in userspace, then delete the
 *       matches one IPCTNL_MSG_CT_DELETE at a time, each with NLM_F_ACK and
 *       waiting for that ACK before sending the next. It is given every
 *       advantage we can: one dump of both families, a hash-set matcher,
 *       prebuilt requests, no fork/exec.
 *
 *   bench_ct_baseline flush
 *       "The limit": one plain IPCTNL_MSG_CT_DELETE flush (no filter, both
 *       families), timed from send to ACK. run.sh fills a fresh table with
 *       exactly the K entries a scenario matches first, so this is what the
 *       kernel needs to delete K entries when it has nothing to look for.
 *
 *   bench_ct_baseline dump-only
 *       A floor: one dump of both families, every datagram received and its
 *       entries counted, nothing parsed, matched or deleted. This is what the
 *       kernel charges to serialise the table, which any method that must
 *       look at every entry in userspace pays at least once.
 *
 *   bench_ct_baseline walk
 *       A floor: one kernel-filtered IPv4 dump (CTA_FILTER, 5.8+) for an
 *       address no entry has, so the kernel visits every entry and sends
 *       none. Any method that finds entries without knowing their tuples
 *       pays at least one such walk. Fails if anything comes back (a kernel
 *       that ignored the filter).
 *
 * All print one JSON object on stdout. Timings cover netlink work only;
 * start-up and argument parsing are outside them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "addr.h"
#include "ctmsg.h"
#include "ctsock.h"
#include "job.h"

#define BASELINE_COUNT_PATH "/proc/sys/net/netfilter/nf_conntrack_count"
#define BASELINE_DUMP_TRIES 5

/* Delete requests collected during the dump, packed back to back. */
struct reqbuf {
    char *buf;
    size_t len, cap;
    size_t n;
};

struct collect {
    struct job_matcher *matcher;
    struct reqbuf *reqs;
    uint64_t scanned;
    uint64_t unparsed;          /* Entries ctmsg could not parse. */
    int err;                    /* ENOMEM while collecting. */
};

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static uint64_t
table_count(void)
{
    FILE *fp = fopen(BASELINE_COUNT_PATH, "re");
    unsigned long long n = 0;

    if (fp) {
        if (fscanf(fp, "%llu", &n) != 1) {
            n = 0;
        }
        fclose(fp);
    }
    return n;
}

static int
collect_cb(const void *nlh, size_t len, void *aux)
{
    struct collect *c = aux;
    struct ct_entry e;

    c->scanned++;
    if (ctmsg_parse_entry(nlh, len, &e)) {
        c->unparsed++;
        return 0;
    }
    if (!job_matcher_match(c->matcher, &e)) {
        return 0;
    }

    struct reqbuf *r = c->reqs;
    if (r->cap - r->len < CTMSG_MAX_LEN) {
        size_t cap = r->cap ? r->cap * 2 : 1 << 20;
        char *bigger = realloc(r->buf, cap);
        if (!bigger) {
            c->err = ENOMEM;
            return EINTR;
        }
        r->buf = bigger;
        r->cap = cap;
    }
    size_t n = ctmsg_build_delete(r->buf + r->len, CTMSG_MAX_LEN, 0, &e);
    if (!n) {
        c->unparsed++;
        return 0;
    }
    /* The agent waits for every answer: ask for an ACK. */
    ((struct nlmsghdr *) (r->buf + r->len))->nlmsg_flags |= NLM_F_ACK;
    r->len += MNL_ALIGN(n);
    r->n++;
    return 0;
}

static int
run_per_entry(const char *local, const char *peers)
{
    char errbuf[256], req[CTMSG_MAX_LEN];
    struct flush_job job;
    struct job_matcher matcher;
    struct reqbuf reqs = { NULL, 0, 0, 0 };
    struct collect c;
    struct ctsock sock;
    uint64_t before, after, deleted = 0, enoent = 0, errors = 0;
    unsigned int tries;
    int err;

    flush_job_init(&job);
    err = ctf_prefix_list_parse(&job.local, local, errbuf, sizeof errbuf);
    if (!err && !strcmp(peers, "any")) {
        job.peers_any = true;
    } else if (!err) {
        err = ctf_prefix_list_parse(&job.peers, peers, errbuf, sizeof errbuf);
    }
    if (err) {
        fprintf(stderr, "bench_ct_baseline: %s\n", *errbuf ? errbuf : strerror(err));
        return 2;
    }
    if (flush_job_validate(&job, errbuf, sizeof errbuf)
        || job_matcher_init(&matcher, &job)) {
        fprintf(stderr, "bench_ct_baseline: bad job: %s\n", errbuf);
        return 2;
    }
    err = ctsock_open(&sock, 0);
    if (err) {
        fprintf(stderr, "bench_ct_baseline: ctnetlink socket: %s\n", strerror(err));
        return 1;
    }

    before = table_count();
    double t0 = now_ms();
    for (tries = 0; tries < BASELINE_DUMP_TRIES; tries++) {
        memset(&c, 0, sizeof c);
        c.matcher = &matcher;
        c.reqs = &reqs;
        reqs.len = 0;
        reqs.n = 0;
        size_t n = ctmsg_build_dump(req, sizeof req, ctsock_next_seq(&sock), AF_UNSPEC,
                                    NULL, NULL, NULL);
        err = ctsock_dump(&sock, req, n, collect_cb, &c);
        if (err != ENOBUFS) {
            break;
        }
    }
    if (c.err) {
        err = c.err;
    }
    if (err) {
        fprintf(stderr, "bench_ct_baseline: dump: %s\n", strerror(err));
        ctsock_close(&sock);
        return 1;
    }
    double t1 = now_ms();

    for (size_t off = 0, i = 0; i < reqs.n; i++) {
        struct nlmsghdr *nlh = (struct nlmsghdr *) (reqs.buf + off);
        nlh->nlmsg_seq = ctsock_next_seq(&sock);
        err = ctsock_request(&sock, nlh, nlh->nlmsg_len);
        if (!err) {
            deleted++;
        } else if (err == ENOENT) {
            enoent++;
        } else {
            errors++;
        }
        off += MNL_ALIGN(nlh->nlmsg_len);
    }
    double t2 = now_ms();
    after = table_count();

    printf("{\"method\":\"dump+per-entry\",\"scanned\":%" PRIu64 ",\"matched\":%zu,"
           "\"deleted\":%" PRIu64 ",\"enoent\":%" PRIu64 ",\"errors\":%" PRIu64 ","
           "\"unparsed\":%" PRIu64 ",\"dump_tries\":%u,"
           "\"table_before\":%" PRIu64 ",\"table_after\":%" PRIu64 ","
           "\"dump_ms\":%.3f,\"delete_ms\":%.3f,\"elapsed_ms\":%.3f}\n",
           c.scanned, reqs.n, deleted, enoent, errors, c.unparsed, tries + 1,
           before, after, t1 - t0, t2 - t1, t2 - t0);

    free(reqs.buf);
    ctsock_close(&sock);
    job_matcher_destroy(&matcher);
    flush_job_destroy(&job);
    return errors ? 1 : 0;
}

static int
run_flush(void)
{
    char req[CTMSG_MAX_LEN];
    struct ctsock sock;
    uint64_t before, after;
    int err;

    err = ctsock_open(&sock, 0);
    if (err) {
        fprintf(stderr, "bench_ct_baseline: ctnetlink socket: %s\n", strerror(err));
        return 1;
    }
    size_t n = ctmsg_build_flush(req, sizeof req, ctsock_next_seq(&sock), AF_UNSPEC, true);
    before = table_count();
    double t0 = now_ms();
    err = ctsock_request(&sock, req, n);
    double t1 = now_ms();
    after = table_count();
    ctsock_close(&sock);
    if (err) {
        fprintf(stderr, "bench_ct_baseline: flush: %s\n", strerror(err));
        return 1;
    }
    printf("{\"method\":\"limit\",\"deleted\":%" PRIu64 ",\"table_before\":%" PRIu64
           ",\"table_after\":%" PRIu64 ",\"elapsed_ms\":%.3f}\n",
           before >= after ? before - after : 0, before, after, t1 - t0);
    return 0;
}

static int
count_cb(const void *nlh, size_t len, void *aux)
{
    (void) nlh;
    (void) len;
    (*(uint64_t *) aux)++;
    return 0;
}

/* The two floors: a whole dump received and counted, or (walk) one
 * filtered dump that matches nothing. */
static int
run_floor(bool walk)
{
    const char *method = walk ? "walk" : "dump-only";
    char req[CTMSG_MAX_LEN];
    struct ctsock sock;
    uint64_t entries = 0;
    unsigned int tries;
    size_t n;
    int err;

    err = ctsock_open(&sock, 0);
    if (err) {
        fprintf(stderr, "bench_ct_baseline: ctnetlink socket: %s\n", strerror(err));
        return 1;
    }
    uint64_t before = table_count();
    double t0 = now_ms();
    for (tries = 0; tries < BASELINE_DUMP_TRIES; tries++) {
        if (walk) {
            /* 192.0.2.0/24 is TEST-NET-1: no benchmark table uses it. */
            struct ctmsg_filter f = { .family = AF_INET, .has_src = true };
            f.src.w[0] = htonl(0xc00002feu);
            n = ctmsg_build_filtered_dump(req, sizeof req, ctsock_next_seq(&sock), &f);
        } else {
            n = ctmsg_build_dump(req, sizeof req, ctsock_next_seq(&sock), AF_UNSPEC,
                                 NULL, NULL, NULL);
        }
        entries = 0;
        err = ctsock_dump(&sock, req, n, count_cb, &entries);
        if (err != ENOBUFS) {
            break;
        }
    }
    double t1 = now_ms();
    ctsock_close(&sock);
    if (err) {
        fprintf(stderr, "bench_ct_baseline: %s: %s\n", method, strerror(err));
        return 1;
    }
    if (walk && entries) {
        fprintf(stderr, "bench_ct_baseline: walk: the kernel returned %" PRIu64
                " entries for a filter nothing matches (CTA_FILTER ignored?)\n", entries);
        return 1;
    }
    printf("{\"method\":\"%s\",\"entries\":%" PRIu64 ",\"deleted\":0,"
           "\"dump_tries\":%u,\"table_before\":%" PRIu64 ",\"elapsed_ms\":%.3f}\n",
           method, entries, tries + 1, before, t1 - t0);
    return 0;
}

static void
usage(FILE *fp)
{
    fputs("usage: bench_ct_baseline per-entry --local LIST --peers LIST|any\n"
          "       bench_ct_baseline flush\n"
          "       bench_ct_baseline dump-only\n"
          "       bench_ct_baseline walk\n"
          "Runs one benchmark baseline in the current network namespace and prints\n"
          "a JSON object. LIST: comma separated addresses/prefixes or @FILE.\n", fp);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "local", required_argument, NULL, 'l' },
        { "peers", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *local = NULL, *peers = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "l:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': local = optarg; break;
        case 'p': peers = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[optind], "per-entry")) {
        if (!local || !peers) {
            usage(stderr);
            return 2;
        }
        return run_per_entry(local, peers);
    } else if (!strcmp(argv[optind], "flush")) {
        return run_flush();
    } else if (!strcmp(argv[optind], "dump-only")) {
        return run_floor(false);
    } else if (!strcmp(argv[optind], "walk")) {
        return run_floor(true);
    }
    usage(stderr);
    return 2;
}
