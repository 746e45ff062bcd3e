/*
 * probecache.h: the probe's findings (what the kernel proved, and what it
 * costs) kept for the rest of the boot, so that neither the daemon's
 * workers nor `--oneshot` prove the kernel again at every start: the probe
 * walks the whole shared conntrack hash table a hundred times, which takes
 * seconds on a busy host and a minute on one with a million entries.
 *
 * The file (default /var/lib/ctflushd/probe.cache: the unit's
 * StateDirectory, which survives the daemon's restarts where its
 * RuntimeDirectory does not; the daemon keeps it in its state-dir) is text,
 * one "key value" per line, every field required in a fixed order, ending
 * with a checksum of what precedes it. It is keyed by the boot id, the
 * kernel's release and build, the ctflushd version and the file's format: a
 * different key means another kernel or another ctflushd, and the probe
 * runs again. A file that is not a regular file owned by root (or by us) and
 * writable by nobody else, in a directory nobody else can write, or that
 * does not parse, check and match exactly, is never trusted: a lie here
 * (an IPv6 filtered flush "proven" on 6.18, which deletes the entries it
 * should keep) would delete the wrong entries.
 *
 * Owns: the file's format and its checks. The parser and formatter are
 * pure (unit-tested, fuzzed); the file I/O is beside them.
 */
#ifndef CTF_PROBECACHE_H
#define CTF_PROBECACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "planner.h"

#define PROBE_CACHE_DEFAULT "/var/lib/ctflushd/probe.cache"
#define PROBE_CACHE_MAX 4096                /* Bytes; a longer file is refused. */

/* What the findings hold for. */
struct probe_cache_key {
    char boot_id[64];           /* /proc/sys/kernel/random/boot_id */
    char kernel[256];           /* uname -r, a space, uname -v */
    char version[32];           /* CTF_VERSION */
};

/* This boot's and this binary's key. Returns 0 or an errno (no boot id:
 * then nothing is cached). */
int probe_cache_key_now(struct probe_cache_key *);

/* The file's text for caps under key, into buf; returns its length, or 0
 * if it does not fit. */
size_t probe_cache_format(char *buf, size_t len, const struct probe_cache_key *,
                          const struct ct_caps *, long long probed_at);

/* Parses text[0..len) (not NUL-terminated). Returns 0 and fills *caps when
 * it is well-formed, its checksum holds and its key is key; else EINVAL (or
 * ESTALE: another key) with why. caps->dump_threads is this host's now, not
 * the file's; caps->note says the findings came from the cache. */
int probe_cache_parse(const char *text, size_t len, const struct probe_cache_key *,
                      struct ct_caps *, char *why, size_t whylen);

/* Reads and checks the file. Returns 0, ENOENT (none), or another errno
 * with why (not trusted: owner, mode, size, content, key). */
int probe_cache_load(const char *path, const struct probe_cache_key *, struct ct_caps *,
                     char *why, size_t whylen);

/* Writes the file atomically (a temporary file beside it, renamed), mode
 * 0600. Returns 0 or an errno. */
int probe_cache_store(const char *path, const struct probe_cache_key *, const struct ct_caps *);

/* The findings: from the file when it holds this boot's (path NULL: no
 * file; reprobe: ignore it), else from probe_run(calibrate), stored when
 * the probe ran to completion. Returns what probe_run returns (0 for a
 * cache hit); *cached says where the findings came from. */
int probe_cached(const char *path, bool reprobe, struct ct_caps *, bool *cached);

#endif
