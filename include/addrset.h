/*
 * addrset.h: a set of IPv4/IPv6 prefixes with O(1)-ish membership tests, used
 * to match millions of dumped conntrack entries against a job's local and
 * peer sets.
 *
 * Host addresses (/32, /128) live in one open-addressing hash table. Shorter
 * prefixes are kept in one hash table per distinct prefix length, so a lookup
 * costs one probe per distinct length present (few in practice), never a scan
 * over the set's members. An "any" set matches every address of every family.
 *
 * Owns: its tables; nothing else.
 */
#ifndef CTF_ADDRSET_H
#define CTF_ADDRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "addr.h"

struct addrset_table {          /* Open addressing, linear probing. */
    struct addrset_slot *slots;
    size_t mask;                /* Capacity - 1; capacity is a power of 2. */
    size_t count;
};

struct addrset {
    bool any;                   /* Matches everything. */
    size_t n_members;           /* Distinct prefixes added. */
    unsigned int families;      /* Bit 0: has v4 members, bit 1: has v6. */
    struct addrset_table hosts; /* /32 and /128 members. */
    /* Non-host prefixes, by family and length; lens[] lists the lengths in
     * use so lookups skip empty ones. */
    struct addrset_table *by_len[2][129];
    uint8_t lens[2][129];
    unsigned int n_lens[2];
};

/* The hash the sets (and match.h's index) place an address with. */
static inline uint64_t
ctf_inaddr_hash(int family, const union ctf_inaddr *a)
{
    uint64_t h;

    if (family == AF_INET) {
        h = a->w[0] * 0x9e3779b97f4a7c15ULL;
    } else {
        h = ((uint64_t) a->w[0] << 32 | a->w[1]) * 0x9e3779b97f4a7c15ULL;
        h ^= ((uint64_t) a->w[2] << 32 | a->w[3]) * 0xc2b2ae3d27d4eb4fULL;
        h ^= 0x5bd1e995;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

#define ADDRSET_HAS_V4 1u
#define ADDRSET_HAS_V6 2u

void addrset_init(struct addrset *);
void addrset_init_any(struct addrset *);
void addrset_destroy(struct addrset *);
int addrset_add(struct addrset *, const struct ctf_prefix *);   /* 0 or ENOMEM. */
int addrset_add_list(struct addrset *, const struct ctf_prefix_list *);

bool addrset_contains(const struct addrset *, int family, const union ctf_inaddr *);

/* Families a member of the set can match (ANY: both). */
unsigned int addrset_families(const struct addrset *);

#endif
