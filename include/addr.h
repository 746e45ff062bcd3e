/*
 * addr.h: IPv4/IPv6 addresses and prefixes as the rest of ctflushd sees them,
 * and the parsers for the forms an operator or OVSDB hands us
 * ("10.0.0.5", "10.0.0.0/24", "fd00::1/128", comma lists, "@FILE"), and
 * the one rule for a socket address to listen on ("127.0.0.1:9462",
 * "[::1]:9462").
 *
 * Owns: struct ctf_prefix and struct ctf_prefix_list (a growable array).
 */
#ifndef CTF_ADDR_H
#define CTF_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

/* An address in network byte order; v4 uses the first 4 bytes only. */
union ctf_inaddr {
    uint8_t b[16];
    uint32_t w[4];
    struct in_addr v4;
    struct in6_addr v6;
};

struct ctf_prefix {
    int family;                 /* AF_INET or AF_INET6. */
    uint8_t plen;               /* 0..32 or 0..128; host bits are zero. */
    union ctf_inaddr addr;
};

struct ctf_prefix_list {
    struct ctf_prefix *items;
    size_t n;
    size_t cap;
};

#define CTF_PREFIX_STRLEN (INET6_ADDRSTRLEN + 4)

/* Parses one address or CIDR. A CIDR with host bits set is rejected (it is
 * almost always a typo for a host address), as is any trailing garbage.
 * Returns 0 or EINVAL. */
int ctf_prefix_parse(const char *s, struct ctf_prefix *out);

/* Appends every item of a comma/space/newline separated list. "@PATH" reads
 * the list from a file, one or more per line, '#' starting a comment. On
 * error returns a positive errno and, if errbuf is given, says which item
 * was bad; the list keeps what was parsed before the bad item. */
int ctf_prefix_list_parse(struct ctf_prefix_list *, const char *s,
                          char *errbuf, size_t errlen);

int ctf_prefix_list_add(struct ctf_prefix_list *, const struct ctf_prefix *);
void ctf_prefix_list_clear(struct ctf_prefix_list *);
void ctf_prefix_list_destroy(struct ctf_prefix_list *);
/* Deep copy into dst (which is cleared first). Returns 0 or ENOMEM. */
int ctf_prefix_list_copy(struct ctf_prefix_list *dst, const struct ctf_prefix_list *src);

bool ctf_prefix_is_host(const struct ctf_prefix *);
bool ctf_prefix_contains(const struct ctf_prefix *, int family, const union ctf_inaddr *);
int ctf_prefix_cmp(const struct ctf_prefix *, const struct ctf_prefix *);
/* The two prefixes share at least one address (one contains the other). */
bool ctf_prefix_overlaps(const struct ctf_prefix *, const struct ctf_prefix *);
/* Sorts the list by ctf_prefix_cmp and drops duplicates. */
void ctf_prefix_list_sort_unique(struct ctf_prefix_list *);
/* The item equal to key in a list sorted by ctf_prefix_list_sort_unique,
 * or NULL. */
const struct ctf_prefix *ctf_prefix_list_find(const struct ctf_prefix_list *,
                                              const struct ctf_prefix *key);
/* Whether any item of the list is of this family. */
bool ctf_prefix_list_has_family(const struct ctf_prefix_list *, int family);
/* Same prefixes in the same order. */
bool ctf_prefix_list_equal(const struct ctf_prefix_list *, const struct ctf_prefix_list *);

/* "10.0.0.1" for a host prefix, "10.0.0.0/24" otherwise. */
const char *ctf_prefix_format(const struct ctf_prefix *, char buf[CTF_PREFIX_STRLEN]);

/* Applies a prefix length mask to an address in place. */
void ctf_inaddr_mask(int family, union ctf_inaddr *, unsigned int plen);

/* A TCP address to listen on. */
struct ctf_sockaddr {
    struct sockaddr_storage ss;     /* sockaddr_in or sockaddr_in6. */
    socklen_t len;
};

/* "[" + an IPv6 address + "]:65535" and the NUL. */
#define CTF_SOCKADDR_STRLEN (INET6_ADDRSTRLEN + 9)

/* Parses "IPV4:PORT" or "[IPV6]:PORT": a literal address (no host name,
 * which would make the daemon's start depend on DNS; no IPv6 zone) and a
 * port 0..65535 by num.h's rule (0: the kernel picks one). Returns 0, or
 * EINVAL with the reason in err (which may be NULL). */
int ctf_sockaddr_parse(const char *s, struct ctf_sockaddr *out, char *err, size_t errlen);

/* "127.0.0.1:9462" or "[::1]:9462"; "?" for another family. */
const char *ctf_sockaddr_format(const struct sockaddr *, char buf[CTF_SOCKADDR_STRLEN]);

#endif
