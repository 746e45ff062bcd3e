/*
 * ctfill: fills the conntrack table of the current network namespace with
 * known contents, for the integration tests and the benchmark.
 *
 * Entries come from a file (one per line) or from a deterministic generator
 * that spreads them over "local" hosts, "peer" hosts, external addresses and
 * unrelated background traffic. The k-th generated entry depends only on the
 * seed and k, so one spec always gives the same table, and any subset of it
 * (say, only the entries a job matches, for the benchmark's "limit") can be
 * produced on its own.
 *
 * ctfill also counts, with a matcher of its own, how many entries a job
 * would match. It shares nothing with the engine's matcher on purpose: the
 * benchmark checks every method, ctflushd included, against this number.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "addr.h"
#include "ctgen.h"
#include "ctsock.h"
#include "num.h"

#define CTFILL_CHUNK 16384          /* Entries handed to ctgen per call. */
#define CTFILL_COUNT_PATH "/proc/sys/net/netfilter/nf_conntrack_count"

/* Generated ports encode the entry index, which makes every tuple unique:
 * sport = 1024 + k % 64000 and dport = 1 + k / 64000, so a reply tuple
 * (sport < 1024) can never equal an original one (sport >= 1024) either. */
#define GEN_SPORTS 64000u
#define GEN_DPORTS 1023u
#define GEN_MAX_TOTAL ((uint64_t) GEN_SPORTS * GEN_DPORTS)

/* What --gen builds. Percentages are integers 0..100. */
struct gen_spec {
    uint64_t total;             /* Entries, background included. */
    uint32_t locals;            /* Local hosts: index 0..locals-1. */
    uint32_t peers;             /* Peer hosts: index 0..peers-1. */
    union ctf_inaddr local_base, peer_base;     /* v4; host i is base+1+i. */
    union ctf_inaddr local6_base, peer6_base;   /* v6; host i is base+1+i. */
    uint64_t seed;
    unsigned int bg_pct;        /* Background: no local end at all. */
    unsigned int ext_pct;       /* Local entries whose remote end is no peer. */
    unsigned int nat_pct;       /* v4 local entries that are NATed. */
    unsigned int v6_pct;        /* Entries that are IPv6. */
    unsigned int hot_pct;       /* Local entries that belong to local 0. */
    unsigned int tcp_pct;       /* Entries that are TCP (others UDP). */
    uint32_t zones;             /* Local i's entries are in zone i % zones. */
    uint32_t timeout;           /* Seconds; 0: ctgen's default. */
};

/* A set of addresses for ctfill's own matcher: hosts in a sorted array,
 * anything shorter tested one by one (test lists hold few of those). */
struct hostkey {
    int family;
    union ctf_inaddr a;
};

struct addrmatch {
    bool any;
    struct hostkey *hosts;
    size_t n_hosts;
    struct ctf_prefix *nets;
    size_t n_nets;
};

struct pairkey {
    struct hostkey a, b;        /* a <= b, so a pair matches either order. */
};

struct filter {
    bool active;
    bool use_pairs;
    struct addrmatch local, peers;
    struct pairkey *pairs;
    size_t n_pairs;
};

/* Where entries come from: the generator or a file. */
struct source {
    const struct gen_spec *gen; /* NULL: read fp. */
    uint64_t next_k;
    FILE *fp;
    const char *name;
    unsigned long lineno;
    uint32_t timeout;           /* Default for lines without timeout=. */
};

static const char *usage_text =
"usage: ctfill [OPTIONS] --from FILE|-      insert entries listed in FILE\n"
"       ctfill [OPTIONS] --gen SPEC         insert generated entries\n"
"       ctfill --count                      print the namespace's entry count\n"
"\n"
"Fills the conntrack table of the current network namespace.\n"
"\n"
"Input:\n"
"  -f, --from FILE|-      one entry per line ('#' starts a comment):\n"
"                           PROTO OSRC ODST SPORT DPORT [zone=Z] [mark=M]\n"
"                           [nat=RSRC,RDST] [timeout=SEC]\n"
"                         PROTO is tcp (inserted ESTABLISHED) or udp; v4 or v6.\n"
"                         nat= gives the reply tuple's source and destination\n"
"                         (ports are always mirrored); without it the reply\n"
"                         tuple mirrors the original.\n"
"  -g, --gen SPEC         deterministic generator, SPEC is KEY=VALUE,...:\n"
"                           total=N        entries in all (default 1000)\n"
"                           locals=L       local hosts (10)\n"
"                           peers=P        peer hosts (10)\n"
"                           local-base=A   local i is A+1+i (10.1.0.0)\n"
"                           peer-base=A    peer j is A+1+j (10.2.0.0)\n"
"                           local6-base=A  (fd00:1::)   peer6-base=A (fd00:2::)\n"
"                           seed=S         (1)\n"
"                           bg-pct=X       background, no local end (20)\n"
"                           ext-pct=X      local entries with a non-peer\n"
"                                          remote end (30)\n"
"                           nat-pct=X      NATed v4 local entries (0)\n"
"                           v6-pct=X       IPv6 entries (0)\n"
"                           hot-pct=X      local entries of local 0 (0)\n"
"                           tcp-pct=X      TCP entries, others UDP (70)\n"
"                           zones=Z        local i in zone i%Z (1)\n"
"                           timeout=SEC    (3600)\n"
"\n"
"Selection (with --local/--peers, or --pairs):\n"
"  -l, --local LIST       addresses/prefixes, comma separated or @FILE\n"
"  -p, --peers LIST|any\n"
"      --pairs FILE       lines 'A B': match exactly these address pairs\n"
"      --only-matching    use only the entries that match\n"
"      --print-matching   print how many entries match, insert nothing\n"
"  An entry matches when one end of its original tuple is in LOCAL and the\n"
"  other in PEERS, or the same holds for its reply tuple.\n"
"\n"
"Other:\n"
"      --print            print the entries in --from format, insert nothing\n"
"      --print-locals R   print the addresses of generated local hosts R\n"
"      --print-peers R    ... of peer hosts R (R: N, N-M inclusive, or all)\n"
"      --count            print nf_conntrack_count of this namespace\n"
"      --timeout SEC      timeout for --from lines without timeout= (3600)\n"
"      --batch-bytes N    bytes of requests per sendmsg (default: ctsock's)\n"
"  -q, --quiet            no summary on stderr\n"
"  -h, --help\n"
"\n"
"Exit status: 0 ok, 1 an insert failed, 2 usage or input error.\n";

static void
usage(FILE *fp)
{
    fputs(usage_text, fp);
}

/* Generator. */

static uint64_t
splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A number in [0, n), n > 0, from the top bits (the best mixed ones). */
static uint32_t
gen_below(uint64_t *state, uint32_t n)
{
    return (uint32_t) (((splitmix64(state) >> 32) * (uint64_t) n) >> 32);
}

static bool
gen_chance(uint64_t *state, unsigned int pct)
{
    return gen_below(state, 100) < pct;
}

static void
gen_v4(union ctf_inaddr *out, uint32_t host_order)
{
    memset(out, 0, sizeof *out);
    out->w[0] = htonl(host_order);
}

static void
gen_host(union ctf_inaddr *out, int family, const union ctf_inaddr *base, uint32_t i)
{
    if (family == AF_INET) {
        gen_v4(out, ntohl(base->w[0]) + 1 + i);
    } else {
        *out = *base;
        out->w[3] = htonl(ntohl(base->w[3]) + 1 + i);
    }
}

/* An address from a v6 /64 (or /48, the difference does not matter here)
 * with a random interface id. */
static void
gen_v6_random(union ctf_inaddr *out, uint16_t w0, uint16_t w1, uint16_t w2,
              uint64_t *state)
{
    uint64_t r = splitmix64(state);

    memset(out, 0, sizeof *out);
    out->b[0] = (uint8_t) (w0 >> 8);
    out->b[1] = (uint8_t) w0;
    out->b[2] = (uint8_t) (w1 >> 8);
    out->b[3] = (uint8_t) w1;
    out->b[4] = (uint8_t) (w2 >> 8);
    out->b[5] = (uint8_t) w2;
    for (int i = 0; i < 8; i++) {
        out->b[8 + i] = (uint8_t) (r >> (8 * i));
    }
    out->b[15] |= 1;            /* Never the subnet-router anycast address. */
}

/* Entry k of the spec: a pure function of (spec, k). */
static void
gen_entry(const struct gen_spec *g, uint64_t k, struct ctgen_entry *e)
{
    uint64_t st = g->seed * 0xd1b54a32d192ed03ULL + k * 0x8cb92ba72f3d8dd7ULL;
    union ctf_inaddr local, remote;
    bool outbound;

    memset(e, 0, sizeof *e);
    splitmix64(&st);
    e->family = gen_chance(&st, g->v6_pct) ? AF_INET6 : AF_INET;
    e->l4proto = gen_chance(&st, g->tcp_pct) ? IPPROTO_TCP : IPPROTO_UDP;
    e->sport = (uint16_t) (1024 + k % GEN_SPORTS);
    e->dport = (uint16_t) (1 + (k / GEN_SPORTS) % GEN_DPORTS);
    e->timeout = g->timeout;

    if (gen_chance(&st, g->bg_pct) || !g->locals) {
        /* Background: 172.16/12 <-> 192.168/16, fd00:aaaa:: <-> fd00:bbbb::. */
        if (e->family == AF_INET) {
            gen_v4(&local, 0xac100000u | (uint32_t) (splitmix64(&st) & 0xfffff));
            gen_v4(&remote, 0xc0a80000u | (uint32_t) (splitmix64(&st) & 0xffff));
        } else {
            gen_v6_random(&local, 0xfd00, 0xaaaa, 0, &st);
            gen_v6_random(&remote, 0xfd00, 0xbbbb, 0, &st);
        }
        outbound = splitmix64(&st) & 1;
        e->orig_src = outbound ? local : remote;
        e->orig_dst = outbound ? remote : local;
        return;
    }

    uint32_t li = gen_chance(&st, g->hot_pct) ? 0 : gen_below(&st, g->locals);
    gen_host(&local, e->family, e->family == AF_INET ? &g->local_base : &g->local6_base, li);
    if (gen_chance(&st, g->ext_pct) || !g->peers) {
        /* The internet: 198.18.0.0/15 and 2001:db8:ffff::/48. */
        if (e->family == AF_INET) {
            gen_v4(&remote, 0xc6120000u | (uint32_t) (splitmix64(&st) & 0x1ffff));
        } else {
            gen_v6_random(&remote, 0x2001, 0x0db8, 0xffff, &st);
        }
    } else {
        uint32_t pi = gen_below(&st, g->peers);
        gen_host(&remote, e->family, e->family == AF_INET ? &g->peer_base : &g->peer6_base, pi);
    }
    e->zone = (uint16_t) (li % g->zones);
    outbound = splitmix64(&st) & 1;

    if (e->family == AF_INET && gen_chance(&st, g->nat_pct)) {
        e->nat = 1;
        if (outbound) {
            /* SNAT through one of four router gateways 100.100.0.1-4: the
             * local address is only in the original tuple. */
            e->orig_src = local;
            e->orig_dst = remote;
            e->reply_src = remote;
            gen_v4(&e->reply_dst, 0x64640001u + li % 4);
        } else {
            /* DNAT to local i's floating IP 100.64.0.0+1+i: the local
             * address is only in the reply tuple. */
            e->orig_src = remote;
            gen_v4(&e->orig_dst, 0x64400001u + li);
            e->reply_src = local;
            e->reply_dst = remote;
        }
        return;
    }
    e->orig_src = outbound ? local : remote;
    e->orig_dst = outbound ? remote : local;
}

/* num.h's rule, with 0x hex beside decimal (marks are written in hex). */
static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    return num_parse_u64(s, NUM_HEX, 0, max, out, NULL, 0);
}

static int
parse_addr(const char *s, int family, union ctf_inaddr *out)
{
    memset(out, 0, sizeof *out);
    return inet_pton(family, s, out) == 1 ? 0 : EINVAL;
}

static int
gen_spec_parse(const char *text, struct gen_spec *g, char *err, size_t errlen)
{
    char *copy = strdup(text), *save = NULL, *item;
    int rc = 0;

    if (!copy) {
        return ENOMEM;
    }
    memset(g, 0, sizeof *g);
    g->total = 1000;
    g->locals = 10;
    g->peers = 10;
    parse_addr("10.1.0.0", AF_INET, &g->local_base);
    parse_addr("10.2.0.0", AF_INET, &g->peer_base);
    parse_addr("fd00:1::", AF_INET6, &g->local6_base);
    parse_addr("fd00:2::", AF_INET6, &g->peer6_base);
    g->seed = 1;
    g->bg_pct = 20;
    g->ext_pct = 30;
    g->tcp_pct = 70;
    g->zones = 1;

    for (item = strtok_r(copy, ",", &save); item && !rc;
         item = strtok_r(NULL, ",", &save)) {
        char *val = strchr(item, '=');
        uint64_t v = 0;

        if (!val) {
            snprintf(err, errlen, "gen: '%s' is not KEY=VALUE", item);
            rc = EINVAL;
            break;
        }
        *val++ = '\0';
        if (!strcmp(item, "local-base")) {
            rc = parse_addr(val, AF_INET, &g->local_base);
        } else if (!strcmp(item, "peer-base")) {
            rc = parse_addr(val, AF_INET, &g->peer_base);
        } else if (!strcmp(item, "local6-base")) {
            rc = parse_addr(val, AF_INET6, &g->local6_base);
        } else if (!strcmp(item, "peer6-base")) {
            rc = parse_addr(val, AF_INET6, &g->peer6_base);
        } else if (!strcmp(item, "total")) {
            rc = parse_u64(val, GEN_MAX_TOTAL, &g->total);
        } else if (!strcmp(item, "seed")) {
            rc = parse_u64(val, UINT64_MAX, &g->seed);
        } else if (!strcmp(item, "locals") || !strcmp(item, "peers")
                   || !strcmp(item, "zones") || !strcmp(item, "timeout")) {
            /* Hosts are numbered inside a /16 worth of addresses. */
            uint64_t max = !strcmp(item, "zones") ? 65536
                           : !strcmp(item, "timeout") ? UINT32_MAX : 65000;
            rc = parse_u64(val, max, &v);
            if (!strcmp(item, "locals")) {
                g->locals = (uint32_t) v;
            } else if (!strcmp(item, "peers")) {
                g->peers = (uint32_t) v;
            } else if (!strcmp(item, "zones")) {
                g->zones = (uint32_t) v;
            } else {
                g->timeout = (uint32_t) v;
            }
        } else {
            unsigned int *pct = !strcmp(item, "bg-pct") ? &g->bg_pct
                                : !strcmp(item, "ext-pct") ? &g->ext_pct
                                : !strcmp(item, "nat-pct") ? &g->nat_pct
                                : !strcmp(item, "v6-pct") ? &g->v6_pct
                                : !strcmp(item, "hot-pct") ? &g->hot_pct
                                : !strcmp(item, "tcp-pct") ? &g->tcp_pct : NULL;
            if (!pct) {
                snprintf(err, errlen, "gen: unknown key '%s'", item);
                rc = EINVAL;
                break;
            }
            rc = parse_u64(val, 100, &v);
            *pct = (unsigned int) v;
        }
        if (rc) {
            snprintf(err, errlen, "gen: bad value '%s' for %s", val, item);
        }
    }
    if (!rc && !g->zones) {
        snprintf(err, errlen, "gen: zones must be at least 1");
        rc = EINVAL;
    }
    free(copy);
    return rc;
}

/* --from lines. */

static char *
next_token(char **p)
{
    char *s = *p, *start;

    while (*s && isspace((unsigned char) *s)) {
        s++;
    }
    if (!*s) {
        *p = s;
        return NULL;
    }
    start = s;
    while (*s && !isspace((unsigned char) *s)) {
        s++;
    }
    if (*s) {
        *s++ = '\0';
    }
    *p = s;
    return start;
}

static int
parse_any_addr(const char *s, int *family, union ctf_inaddr *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
    } else if (inet_pton(AF_INET6, s, out) == 1) {
        *family = AF_INET6;
    } else {
        return EINVAL;
    }
    return 0;
}

/* Parses one line into e. Returns 0, ENOENT for a blank or comment line, or
 * EINVAL with the reason in err. */
static int
parse_line(char *line, uint32_t timeout, struct ctgen_entry *e, char *err, size_t errlen)
{
    char *p, *tok, *proto, *fields[4];
    uint64_t v;
    int fam;

    p = strchr(line, '#');
    if (p) {
        *p = '\0';
    }
    p = line;
    proto = next_token(&p);
    if (!proto) {
        return ENOENT;
    }
    memset(e, 0, sizeof *e);
    e->timeout = timeout;
    if (!strcmp(proto, "tcp")) {
        e->l4proto = IPPROTO_TCP;
    } else if (!strcmp(proto, "udp")) {
        e->l4proto = IPPROTO_UDP;
    } else {
        snprintf(err, errlen, "protocol '%s' is not tcp or udp", proto);
        return EINVAL;
    }
    for (int i = 0; i < 4; i++) {
        fields[i] = next_token(&p);
        if (!fields[i]) {
            snprintf(err, errlen, "expected PROTO OSRC ODST SPORT DPORT");
            return EINVAL;
        }
    }
    if (parse_any_addr(fields[0], &e->family, &e->orig_src)
        || parse_any_addr(fields[1], &fam, &e->orig_dst) || fam != e->family) {
        snprintf(err, errlen, "bad address pair '%s' '%s'", fields[0], fields[1]);
        return EINVAL;
    }
    if (parse_u64(fields[2], 65535, &v)) {
        snprintf(err, errlen, "bad port '%s'", fields[2]);
        return EINVAL;
    }
    e->sport = (uint16_t) v;
    if (parse_u64(fields[3], 65535, &v)) {
        snprintf(err, errlen, "bad port '%s'", fields[3]);
        return EINVAL;
    }
    e->dport = (uint16_t) v;

    while ((tok = next_token(&p)) != NULL) {
        char *val = strchr(tok, '=');
        if (!val) {
            snprintf(err, errlen, "unexpected '%s'", tok);
            return EINVAL;
        }
        *val++ = '\0';
        if (!strcmp(tok, "zone") && !parse_u64(val, 65535, &v)) {
            e->zone = (uint16_t) v;
        } else if (!strcmp(tok, "mark") && !parse_u64(val, UINT32_MAX, &v)) {
            e->mark = (uint32_t) v;
        } else if (!strcmp(tok, "timeout") && !parse_u64(val, UINT32_MAX, &v)) {
            e->timeout = (uint32_t) v;
        } else if (!strcmp(tok, "nat")) {
            char *comma = strchr(val, ',');
            int f1 = 0, f2 = 0;
            if (!comma) {
                snprintf(err, errlen, "nat= wants RSRC,RDST");
                return EINVAL;
            }
            *comma = '\0';
            if (parse_any_addr(val, &f1, &e->reply_src)
                || parse_any_addr(comma + 1, &f2, &e->reply_dst)
                || f1 != e->family || f2 != e->family) {
                snprintf(err, errlen, "bad nat= addresses (family must match)");
                return EINVAL;
            }
            e->nat = 1;
        } else {
            snprintf(err, errlen, "bad option '%s=%s'", tok, val);
            return EINVAL;
        }
    }
    return 0;
}

/* Returns 0 with *e filled, ENOENT at the end, or EINVAL (reported). */
static int
source_next(struct source *src, struct ctgen_entry *e)
{
    if (src->gen) {
        if (src->next_k >= src->gen->total) {
            return ENOENT;
        }
        gen_entry(src->gen, src->next_k++, e);
        return 0;
    }

    char line[1024], err[160];
    while (fgets(line, sizeof line, src->fp)) {
        src->lineno++;
        if (!strchr(line, '\n') && !feof(src->fp)) {
            fprintf(stderr, "ctfill: %s:%lu: line too long\n", src->name, src->lineno);
            return EINVAL;
        }
        int rc = parse_line(line, src->timeout, e, err, sizeof err);
        if (rc == ENOENT) {
            continue;
        } else if (rc) {
            fprintf(stderr, "ctfill: %s:%lu: %s\n", src->name, src->lineno, err);
            return EINVAL;
        }
        return 0;
    }
    if (ferror(src->fp)) {
        fprintf(stderr, "ctfill: %s: read error\n", src->name);
        return EINVAL;
    }
    return ENOENT;
}

/* Matching. */

static int
hostkey_cmp(const void *a_, const void *b_)
{
    const struct hostkey *a = a_, *b = b_;

    if (a->family != b->family) {
        return a->family < b->family ? -1 : 1;
    }
    return memcmp(&a->a, &b->a, 16);
}

static void
hostkey_set(struct hostkey *k, int family, const union ctf_inaddr *a)
{
    memset(k, 0, sizeof *k);
    k->family = family;
    memcpy(&k->a, a, family == AF_INET ? 4 : 16);
}

static int
addrmatch_init(struct addrmatch *m, const char *text, char *err, size_t errlen)
{
    struct ctf_prefix_list list = { NULL, 0, 0 };
    int rc;

    memset(m, 0, sizeof *m);
    if (!strcmp(text, "any")) {
        m->any = true;
        return 0;
    }
    rc = ctf_prefix_list_parse(&list, text, err, errlen);
    if (rc) {
        ctf_prefix_list_destroy(&list);
        return rc;
    }
    m->hosts = calloc(list.n + 1, sizeof *m->hosts);
    m->nets = calloc(list.n + 1, sizeof *m->nets);
    if (!m->hosts || !m->nets) {
        ctf_prefix_list_destroy(&list);
        return ENOMEM;
    }
    for (size_t i = 0; i < list.n; i++) {
        const struct ctf_prefix *p = &list.items[i];
        if (ctf_prefix_is_host(p)) {
            hostkey_set(&m->hosts[m->n_hosts++], p->family, &p->addr);
        } else {
            m->nets[m->n_nets++] = *p;
        }
    }
    qsort(m->hosts, m->n_hosts, sizeof *m->hosts, hostkey_cmp);
    ctf_prefix_list_destroy(&list);
    return 0;
}

static void
addrmatch_destroy(struct addrmatch *m)
{
    free(m->hosts);
    free(m->nets);
}

static bool
addrmatch_has(const struct addrmatch *m, int family, const union ctf_inaddr *a)
{
    struct hostkey k;

    if (m->any) {
        return true;
    }
    hostkey_set(&k, family, a);
    if (m->n_hosts && bsearch(&k, m->hosts, m->n_hosts, sizeof k, hostkey_cmp)) {
        return true;
    }
    for (size_t i = 0; i < m->n_nets; i++) {
        if (ctf_prefix_contains(&m->nets[i], family, &k.a)) {
            return true;
        }
    }
    return false;
}

static int
pairkey_cmp(const void *a_, const void *b_)
{
    const struct pairkey *a = a_, *b = b_;
    int c = hostkey_cmp(&a->a, &b->a);

    return c ? c : hostkey_cmp(&a->b, &b->b);
}

static void
pairkey_set(struct pairkey *p, int family, const union ctf_inaddr *x,
            const union ctf_inaddr *y)
{
    hostkey_set(&p->a, family, x);
    hostkey_set(&p->b, family, y);
    if (hostkey_cmp(&p->a, &p->b) > 0) {
        struct hostkey t = p->a;
        p->a = p->b;
        p->b = t;
    }
}

static int
pairs_load(struct filter *f, const char *path)
{
    FILE *fp = fopen(path, "re");
    char line[256];
    size_t cap = 0;
    unsigned long lineno = 0;

    if (!fp) {
        fprintf(stderr, "ctfill: %s: %s\n", path, strerror(errno));
        return errno;
    }
    while (fgets(line, sizeof line, fp)) {
        char *p = line, *a, *b, *hash = strchr(line, '#');
        union ctf_inaddr x, y;
        int fa, fb;

        lineno++;
        if (hash) {
            *hash = '\0';
        }
        a = next_token(&p);
        if (!a) {
            continue;
        }
        b = next_token(&p);
        if (!b || next_token(&p) || parse_any_addr(a, &fa, &x)
            || parse_any_addr(b, &fb, &y) || fa != fb) {
            fprintf(stderr, "ctfill: %s:%lu: want 'ADDR ADDR' of one family\n",
                    path, lineno);
            fclose(fp);
            return EINVAL;
        }
        if (f->n_pairs == cap) {
            cap = cap ? cap * 2 : 256;
            struct pairkey *bigger = realloc(f->pairs, cap * sizeof *bigger);
            if (!bigger) {
                fclose(fp);
                return ENOMEM;
            }
            f->pairs = bigger;
        }
        pairkey_set(&f->pairs[f->n_pairs++], fa, &x, &y);
    }
    fclose(fp);
    qsort(f->pairs, f->n_pairs, sizeof *f->pairs, pairkey_cmp);
    return 0;
}

static bool
filter_tuple(const struct filter *f, int family, const union ctf_inaddr *src,
             const union ctf_inaddr *dst)
{
    if (f->use_pairs) {
        struct pairkey k;
        pairkey_set(&k, family, src, dst);
        return f->n_pairs
               && bsearch(&k, f->pairs, f->n_pairs, sizeof k, pairkey_cmp) != NULL;
    }
    return (addrmatch_has(&f->local, family, src) && addrmatch_has(&f->peers, family, dst))
        || (addrmatch_has(&f->local, family, dst) && addrmatch_has(&f->peers, family, src));
}

/* The job semantics: the original tuple, or the reply tuple (which, without
 * NAT, is the original mirrored and so matches exactly when it does). */
static bool
filter_entry(const struct filter *f, const struct ctgen_entry *e)
{
    return filter_tuple(f, e->family, &e->orig_src, &e->orig_dst)
        || (e->nat && filter_tuple(f, e->family, &e->reply_src, &e->reply_dst));
}

/* Output. */

static void
print_entry(FILE *fp, const struct ctgen_entry *e)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

    inet_ntop(e->family, &e->orig_src, a, sizeof a);
    inet_ntop(e->family, &e->orig_dst, b, sizeof b);
    fprintf(fp, "%s %s %s %u %u", e->l4proto == IPPROTO_TCP ? "tcp" : "udp",
            a, b, e->sport, e->dport);
    if (e->zone) {
        fprintf(fp, " zone=%u", e->zone);
    }
    if (e->mark) {
        fprintf(fp, " mark=%" PRIu32, e->mark);
    }
    if (e->nat) {
        inet_ntop(e->family, &e->reply_src, a, sizeof a);
        inet_ntop(e->family, &e->reply_dst, b, sizeof b);
        fprintf(fp, " nat=%s,%s", a, b);
    }
    if (e->timeout) {
        fprintf(fp, " timeout=%" PRIu32, e->timeout);
    }
    fputc('\n', fp);
}

/* Parses "all", "N" or "N-M" (inclusive) against n hosts. */
static int
parse_range(const char *s, uint32_t n, uint32_t *first, uint32_t *last)
{
    uint64_t a, b;
    char buf[64];
    char *dash;

    if (!strcmp(s, "all")) {
        if (!n) {
            return EINVAL;
        }
        *first = 0;
        *last = n - 1;
        return 0;
    }
    if (strlen(s) >= sizeof buf) {
        return EINVAL;
    }
    strcpy(buf, s);
    dash = strchr(buf, '-');
    if (dash) {
        *dash = '\0';
    }
    if (parse_u64(buf, UINT32_MAX, &a) || (dash && parse_u64(dash + 1, UINT32_MAX, &b))) {
        return EINVAL;
    }
    if (!dash) {
        b = a;
    }
    if (a > b || b >= n) {
        return EINVAL;
    }
    *first = (uint32_t) a;
    *last = (uint32_t) b;
    return 0;
}

static int
print_hosts(const struct gen_spec *g, bool locals, const char *range)
{
    uint32_t n = locals ? g->locals : g->peers, first, last;
    char buf[INET6_ADDRSTRLEN];

    if (parse_range(range, n, &first, &last)) {
        fprintf(stderr, "ctfill: bad range '%s' (there are %u %s)\n", range, n,
                locals ? "locals" : "peers");
        return 2;
    }
    for (uint32_t i = first; i <= last; i++) {
        union ctf_inaddr a;

        gen_host(&a, AF_INET, locals ? &g->local_base : &g->peer_base, i);
        printf("%s\n", inet_ntop(AF_INET, &a, buf, sizeof buf));
        if (g->v6_pct) {
            gen_host(&a, AF_INET6, locals ? &g->local6_base : &g->peer6_base, i);
            printf("%s\n", inet_ntop(AF_INET6, &a, buf, sizeof buf));
        }
    }
    return 0;
}

static int
print_count(void)
{
    FILE *fp = fopen(CTFILL_COUNT_PATH, "re");
    unsigned long long n;

    if (!fp) {
        fprintf(stderr, "ctfill: %s: %s\n", CTFILL_COUNT_PATH, strerror(errno));
        return 1;
    }
    if (fscanf(fp, "%llu", &n) != 1) {
        fprintf(stderr, "ctfill: %s: unreadable\n", CTFILL_COUNT_PATH);
        fclose(fp);
        return 1;
    }
    fclose(fp);
    printf("%llu\n", n);
    return 0;
}

static double
now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

enum ctfill_action { ACT_INSERT, ACT_PRINT, ACT_COUNT_MATCHING };

struct insert_totals {
    uint64_t inserted, exists, failed;
    int last_errno;
};

static int
insert_chunk(struct ctsock *sock, const struct ctgen_entry *v, size_t n,
             struct insert_totals *t)
{
    struct ctgen_stats st;
    int rc = ctgen_insert(sock, v, n, &st);

    t->inserted += st.inserted;
    t->exists += st.exists;
    t->failed += st.failed;
    if (st.last_errno) {
        t->last_errno = st.last_errno;
    }
    return rc;
}

enum {
    OPT_PAIRS = 256, OPT_ONLY_MATCHING, OPT_PRINT_MATCHING, OPT_PRINT,
    OPT_PRINT_LOCALS, OPT_PRINT_PEERS, OPT_COUNT, OPT_TIMEOUT, OPT_BATCH_BYTES,
};

static const struct option long_options[] = {
    { "from", required_argument, NULL, 'f' },
    { "gen", required_argument, NULL, 'g' },
    { "local", required_argument, NULL, 'l' },
    { "peers", required_argument, NULL, 'p' },
    { "pairs", required_argument, NULL, OPT_PAIRS },
    { "only-matching", no_argument, NULL, OPT_ONLY_MATCHING },
    { "print-matching", no_argument, NULL, OPT_PRINT_MATCHING },
    { "print", no_argument, NULL, OPT_PRINT },
    { "print-locals", required_argument, NULL, OPT_PRINT_LOCALS },
    { "print-peers", required_argument, NULL, OPT_PRINT_PEERS },
    { "count", no_argument, NULL, OPT_COUNT },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

int
main(int argc, char **argv)
{
    const char *from = NULL, *gen_text = NULL, *local = NULL, *peers = NULL;
    const char *pairs = NULL, *print_locals = NULL, *print_peers = NULL;
    bool only_matching = false, quiet = false, count = false;
    enum ctfill_action action = ACT_INSERT;
    uint64_t timeout = 0, batch_bytes = 0, n_seen = 0, n_matching = 0;
    struct gen_spec gen;
    struct filter filter;
    struct source src;
    char err[256];
    int c, rc = 0;

    memset(&filter, 0, sizeof filter);
    while ((c = getopt_long(argc, argv, "f:g:l:p:qh", long_options, NULL)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 'g': gen_text = optarg; break;
        case 'l': local = optarg; break;
        case 'p': peers = optarg; break;
        case OPT_PAIRS: pairs = optarg; break;
        case OPT_ONLY_MATCHING: only_matching = true; break;
        case OPT_PRINT_MATCHING: action = ACT_COUNT_MATCHING; break;
        case OPT_PRINT: action = ACT_PRINT; break;
        case OPT_PRINT_LOCALS: print_locals = optarg; break;
        case OPT_PRINT_PEERS: print_peers = optarg; break;
        case OPT_COUNT: count = true; break;
        case OPT_TIMEOUT:
            if (parse_u64(optarg, UINT32_MAX, &timeout)) {
                fprintf(stderr, "ctfill: bad --timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_BATCH_BYTES:
            if (parse_u64(optarg, 64u << 20, &batch_bytes)) {
                fprintf(stderr, "ctfill: bad --batch-bytes '%s'\n", optarg);
                return 2;
            }
            break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ctfill: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (count) {
        return print_count();
    }
    if (!!from + !!gen_text != 1) {
        fprintf(stderr, "ctfill: give exactly one of --from and --gen (see --help)\n");
        return 2;
    }
    if (gen_text && gen_spec_parse(gen_text, &gen, err, sizeof err)) {
        fprintf(stderr, "ctfill: %s\n", err);
        return 2;
    }
    if (print_locals || print_peers) {
        if (!gen_text) {
            fprintf(stderr, "ctfill: --print-locals/--print-peers need --gen\n");
            return 2;
        }
        return print_hosts(&gen, print_locals != NULL,
                           print_locals ? print_locals : print_peers);
    }

    /* The selection. */
    if (pairs && (local || peers)) {
        fprintf(stderr, "ctfill: --pairs excludes --local/--peers\n");
        return 2;
    }
    if (!pairs && !!local != !!peers) {
        fprintf(stderr, "ctfill: --local and --peers go together\n");
        return 2;
    }
    if (pairs) {
        filter.active = filter.use_pairs = true;
        if (pairs_load(&filter, pairs)) {
            return 2;
        }
    } else if (local) {
        filter.active = true;
        if (addrmatch_init(&filter.local, local, err, sizeof err)
            || addrmatch_init(&filter.peers, peers, err, sizeof err)) {
            fprintf(stderr, "ctfill: %s\n", *err ? err : "bad address list");
            return 2;
        }
        if (filter.local.any) {
            fprintf(stderr, "ctfill: --local cannot be any\n");
            return 2;
        }
    }
    if ((only_matching || action == ACT_COUNT_MATCHING) && !filter.active) {
        fprintf(stderr, "ctfill: --only-matching and --print-matching need "
                "--local/--peers or --pairs\n");
        return 2;
    }

    memset(&src, 0, sizeof src);
    src.timeout = (uint32_t) timeout;
    if (gen_text) {
        if (timeout && !gen.timeout) {
            gen.timeout = (uint32_t) timeout;
        }
        src.gen = &gen;
    } else if (!strcmp(from, "-")) {
        src.fp = stdin;
        src.name = "<stdin>";
    } else {
        src.fp = fopen(from, "re");
        src.name = from;
        if (!src.fp) {
            fprintf(stderr, "ctfill: %s: %s\n", from, strerror(errno));
            return 2;
        }
    }

    struct ctsock sock;
    bool sock_open = false;
    if (action == ACT_INSERT) {
        int err_no = ctsock_open(&sock, (size_t) batch_bytes);
        if (err_no) {
            fprintf(stderr, "ctfill: cannot open a ctnetlink socket: %s\n",
                    strerror(err_no));
            return 1;
        }
        sock_open = true;
    }

    struct ctgen_entry *chunk = malloc(CTFILL_CHUNK * sizeof *chunk);
    struct insert_totals totals = { 0, 0, 0, 0 };
    size_t n_chunk = 0;
    double t0 = now_sec();
    if (!chunk) {
        fprintf(stderr, "ctfill: out of memory\n");
        return 1;
    }
    for (;;) {
        struct ctgen_entry *e = &chunk[n_chunk];
        int r = source_next(&src, e);
        bool match;

        if (r == ENOENT) {
            break;
        } else if (r) {
            rc = 2;
            break;
        }
        n_seen++;
        match = filter.active && filter_entry(&filter, e);
        n_matching += match;
        if (action == ACT_COUNT_MATCHING || (only_matching && !match)) {
            continue;
        }
        if (action == ACT_PRINT) {
            print_entry(stdout, e);
            continue;
        }
        if (++n_chunk == CTFILL_CHUNK) {
            insert_chunk(&sock, chunk, n_chunk, &totals);
            n_chunk = 0;
        }
    }
    if (action == ACT_INSERT && n_chunk && rc == 0) {
        insert_chunk(&sock, chunk, n_chunk, &totals);
    }
    double elapsed = now_sec() - t0;

    if (action == ACT_COUNT_MATCHING && rc == 0) {
        printf("%" PRIu64 "\n", n_matching);
        if (!quiet) {
            fprintf(stderr, "ctfill: %" PRIu64 " of %" PRIu64 " entries match\n",
                    n_matching, n_seen);
        }
    } else if (action == ACT_INSERT) {
        if (!quiet || totals.failed) {
            fprintf(stderr, "ctfill: inserted %" PRIu64 " entries in %.3f s "
                    "(%.0f/s); %" PRIu64 " already there, %" PRIu64 " failed%s%s\n",
                    totals.inserted, elapsed,
                    elapsed > 0 ? (double) totals.inserted / elapsed : 0.0,
                    totals.exists, totals.failed,
                    totals.failed ? ": " : "",
                    totals.failed ? strerror(totals.last_errno ? totals.last_errno : EIO) : "");
        }
        if (totals.failed && rc == 0) {
            rc = 1;
        }
    }
    if (fflush(stdout) != 0 && rc == 0) {
        rc = 1;
    }

    free(chunk);
    if (sock_open) {
        ctsock_close(&sock);
    }
    if (src.fp && src.fp != stdin) {
        fclose(src.fp);
    }
    addrmatch_destroy(&filter.local);
    addrmatch_destroy(&filter.peers);
    free(filter.pairs);
    return rc;
}
