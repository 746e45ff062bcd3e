/*
 * addr.c: parsing and formatting of addresses, prefixes and prefix lists.
 */
#include "addr.h"
#include "num.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* One list item may not be longer than this; longer input is garbage. */
#define ADDR_ITEM_MAX 64

void
ctf_inaddr_mask(int family, union ctf_inaddr *a, unsigned int plen)
{
    unsigned int bits = family == AF_INET ? 32 : 128;

    for (unsigned int i = 0; i < bits / 8; i++) {
        unsigned int lo = i * 8;
        if (plen >= lo + 8) {
            continue;
        } else if (plen <= lo) {
            a->b[i] = 0;
        } else {
            a->b[i] &= (uint8_t) (0xff << (8 - (plen - lo)));
        }
    }
    if (family == AF_INET) {
        memset(&a->b[4], 0, 12);
    }
}

int
ctf_prefix_parse(const char *s, struct ctf_prefix *out)
{
    char buf[ADDR_ITEM_MAX];
    const char *slash;
    size_t alen;
    uint64_t plen = 0;
    bool has_plen = false;

    memset(out, 0, sizeof *out);
    if (!s || !*s || strlen(s) >= sizeof buf) {
        return EINVAL;
    }
    slash = strchr(s, '/');
    alen = slash ? (size_t) (slash - s) : strlen(s);
    if (!alen) {
        return EINVAL;
    }
    memcpy(buf, s, alen);
    buf[alen] = '\0';

    if (slash) {
        /* num.h's rule: "+8", " 8", "08" and "0x8" are typos. */
        if (num_parse_u64(slash + 1, NUM_DEC, 0, 128, &plen, NULL, 0)) {
            return EINVAL;
        }
        has_plen = true;
    }

    if (inet_pton(AF_INET, buf, &out->addr.v4) == 1) {
        out->family = AF_INET;
        if (has_plen && plen > 32) {
            return EINVAL;
        }
        out->plen = has_plen ? (uint8_t) plen : 32;
    } else if (inet_pton(AF_INET6, buf, &out->addr.v6) == 1) {
        out->family = AF_INET6;
        if (has_plen && plen > 128) {
            return EINVAL;
        }
        out->plen = has_plen ? (uint8_t) plen : 128;
    } else {
        return EINVAL;
    }

    union ctf_inaddr masked = out->addr;
    ctf_inaddr_mask(out->family, &masked, out->plen);
    if (memcmp(&masked, &out->addr, sizeof masked)) {
        return EINVAL;          /* Host bits set: "10.0.0.5/24" is a typo. */
    }
    return 0;
}

int
ctf_prefix_list_add(struct ctf_prefix_list *l, const struct ctf_prefix *p)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct ctf_prefix *items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            return ENOMEM;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = *p;
    return 0;
}

void
ctf_prefix_list_clear(struct ctf_prefix_list *l)
{
    l->n = 0;
}

void
ctf_prefix_list_destroy(struct ctf_prefix_list *l)
{
    if (l) {
        free(l->items);
        l->items = NULL;
        l->n = l->cap = 0;
    }
}

int
ctf_prefix_list_copy(struct ctf_prefix_list *dst, const struct ctf_prefix_list *src)
{
    ctf_prefix_list_clear(dst);
    for (size_t i = 0; i < src->n; i++) {
        int err = ctf_prefix_list_add(dst, &src->items[i]);
        if (err) {
            return err;
        }
    }
    return 0;
}

static int
addr_list_parse_text(struct ctf_prefix_list *l, const char *s, const char *origin,
                     char *errbuf, size_t errlen)
{
    const char *p = s;
    unsigned int line = 1;

    while (*p) {
        if (*p == '#') {
            while (*p && *p != '\n') {
                p++;
            }
            continue;
        }
        if (*p == '\n') {
            line++;
            p++;
            continue;
        }
        if (*p == ',' || isspace((unsigned char) *p)) {
            p++;
            continue;
        }
        size_t n = strcspn(p, ", \t\r\n#");
        char item[ADDR_ITEM_MAX];
        struct ctf_prefix prefix;

        if (n >= sizeof item) {
            if (errbuf) {
                snprintf(errbuf, errlen, "%s%s%u: item too long", origin,
                         *origin ? ":" : "line ", line);
            }
            return EINVAL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (ctf_prefix_parse(item, &prefix)) {
            if (errbuf) {
                if (*origin) {
                    snprintf(errbuf, errlen, "%s:%u: bad address or prefix '%s'",
                             origin, line, item);
                } else {
                    snprintf(errbuf, errlen, "bad address or prefix '%s'", item);
                }
            }
            return EINVAL;
        }
        int err = ctf_prefix_list_add(l, &prefix);
        if (err) {
            return err;
        }
        p += n;
    }
    return 0;
}

/* Lists read from a file are bounded: a set of a million prefixes is already
 * far beyond any host, and the bound keeps a wrong path from eating memory. */
#define ADDR_FILE_MAX (64u * 1024 * 1024)

int
ctf_prefix_list_parse(struct ctf_prefix_list *l, const char *s,
                      char *errbuf, size_t errlen)
{
    if (errbuf && errlen) {
        errbuf[0] = '\0';
    }
    if (!s) {
        return EINVAL;
    }
    if (s[0] != '@') {
        return addr_list_parse_text(l, s, "", errbuf, errlen);
    }

    const char *path = s + 1;
    FILE *f = fopen(path, "re");
    if (!f) {
        int err = errno;
        if (errbuf) {
            snprintf(errbuf, errlen, "%s: %s", path, strerror(err));
        }
        return err;
    }
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    int err = 0;
    while (text) {
        if (len + 1 >= cap) {
            if (cap >= ADDR_FILE_MAX) {
                err = EFBIG;
                break;
            }
            char *bigger = realloc(text, cap * 2);
            if (!bigger) {
                err = ENOMEM;
                break;
            }
            text = bigger;
            cap *= 2;
        }
        size_t n = fread(text + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (!text) {
        fclose(f);
        return ENOMEM;
    }
    if (!err && ferror(f)) {
        err = EIO;
    }
    fclose(f);
    if (err) {
        if (errbuf) {
            snprintf(errbuf, errlen, "%s: %s", path, strerror(err));
        }
        free(text);
        return err;
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        if (errbuf) {
            snprintf(errbuf, errlen, "%s: contains a NUL byte", path);
        }
        free(text);
        return EINVAL;
    }
    err = addr_list_parse_text(l, text, path, errbuf, errlen);
    free(text);
    return err;
}

bool
ctf_prefix_is_host(const struct ctf_prefix *p)
{
    return p->plen == (p->family == AF_INET ? 32 : 128);
}

bool
ctf_prefix_contains(const struct ctf_prefix *p, int family, const union ctf_inaddr *a)
{
    union ctf_inaddr m;

    if (family != p->family) {
        return false;
    }
    m = *a;
    ctf_inaddr_mask(family, &m, p->plen);
    return !memcmp(&m, &p->addr, family == AF_INET ? 4 : 16);
}

bool
ctf_prefix_overlaps(const struct ctf_prefix *a, const struct ctf_prefix *b)
{
    const struct ctf_prefix *shorter = a->plen <= b->plen ? a : b;
    const struct ctf_prefix *longer = shorter == a ? b : a;

    return a->family == b->family
           && ctf_prefix_contains(shorter, longer->family, &longer->addr);
}

int
ctf_prefix_cmp(const struct ctf_prefix *a, const struct ctf_prefix *b)
{
    if (a->family != b->family) {
        return a->family < b->family ? -1 : 1;
    }
    int c = memcmp(&a->addr, &b->addr, 16);
    if (c) {
        return c;
    }
    return a->plen == b->plen ? 0 : a->plen < b->plen ? -1 : 1;
}

const char *
ctf_prefix_format(const struct ctf_prefix *p, char buf[CTF_PREFIX_STRLEN])
{
    char a[INET6_ADDRSTRLEN];

    if (!inet_ntop(p->family, &p->addr, a, sizeof a)) {
        snprintf(buf, CTF_PREFIX_STRLEN, "?");
    } else if (ctf_prefix_is_host(p)) {
        snprintf(buf, CTF_PREFIX_STRLEN, "%s", a);
    } else {
        snprintf(buf, CTF_PREFIX_STRLEN, "%s/%u", a, p->plen);
    }
    return buf;
}

static int
prefix_cmp_void(const void *a, const void *b)
{
    return ctf_prefix_cmp(a, b);
}

void
ctf_prefix_list_sort_unique(struct ctf_prefix_list *l)
{
    size_t kept = 0;

    if (l->n > 1) {
        qsort(l->items, l->n, sizeof *l->items, prefix_cmp_void);
    }
    for (size_t i = 0; i < l->n; i++) {
        if (!kept || ctf_prefix_cmp(&l->items[kept - 1], &l->items[i])) {
            l->items[kept++] = l->items[i];
        }
    }
    l->n = kept;
}

const struct ctf_prefix *
ctf_prefix_list_find(const struct ctf_prefix_list *l, const struct ctf_prefix *key)
{
    return l->n ? bsearch(key, l->items, l->n, sizeof *l->items, prefix_cmp_void) : NULL;
}

bool
ctf_prefix_list_has_family(const struct ctf_prefix_list *l, int family)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].family == family) {
            return true;
        }
    }
    return false;
}

bool
ctf_prefix_list_equal(const struct ctf_prefix_list *a, const struct ctf_prefix_list *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (ctf_prefix_cmp(&a->items[i], &b->items[i])) {
            return false;
        }
    }
    return true;
}

int
ctf_sockaddr_parse(const char *s, struct ctf_sockaddr *out, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN];
    const char *port, *h;
    size_t hlen;
    uint64_t pnum;
    char why[128];

    memset(out, 0, sizeof *out);
    if (!s || !*s) {
        snprintf(err, err ? errlen : 0, "needs ADDRESS:PORT");
        return EINVAL;
    }
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(err, err ? errlen : 0, "'%.64s' is not [IPV6]:PORT", s);
            return EINVAL;
        }
        h = s + 1;
        hlen = (size_t) (close - h);
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t) (colon - s))) {
            /* Several colons: an IPv6 address needs its brackets, or its
             * last group would be read as the port. */
            snprintf(err, err ? errlen : 0, "'%.64s' is not IPV4:PORT or [IPV6]:PORT", s);
            return EINVAL;
        }
        h = s;
        hlen = (size_t) (colon - s);
        port = colon + 1;
    }
    if (!hlen || hlen >= sizeof host) {
        snprintf(err, err ? errlen : 0, "'%.64s': no address before the port", s);
        return EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (num_parse_u64(port, NUM_DEC, 0, 65535, &pnum, why, sizeof why)) {
        snprintf(err, err ? errlen : 0, "port: %s", why);
        return EINVAL;
    }
    if (*s == '[') {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &out->ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            snprintf(err, err ? errlen : 0, "'%.64s' is not an IPv6 address", host);
            return EINVAL;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t) pnum);
        out->len = sizeof *sin6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *) &out->ss;
        /* inet_pton, not inet_aton: "127.1" and "0x7f.1" are typos. */
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            snprintf(err, err ? errlen : 0, "'%.64s' is not an IPv4 address "
                     "(host names are not looked up)", host);
            return EINVAL;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t) pnum);
        out->len = sizeof *sin;
    }
    return 0;
}

const char *
ctf_sockaddr_format(const struct sockaddr *sa, char buf[CTF_SOCKADDR_STRLEN])
{
    char a[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
        inet_ntop(AF_INET, &sin->sin_addr, a, sizeof a);
        snprintf(buf, CTF_SOCKADDR_STRLEN, "%s:%u", a, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof a);
        snprintf(buf, CTF_SOCKADDR_STRLEN, "[%s]:%u", a, ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, CTF_SOCKADDR_STRLEN, "?");
    }
    return buf;
}
