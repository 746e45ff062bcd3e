/*
 * probecache.c: the probe's findings kept per boot (see probecache.h).
 */
#include "probecache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"

#define PROBE_CACHE_MAGIC "ctflushd-probe-cache"
#define PROBE_CACHE_FORMAT 1    /* Bump when a field is added or changes meaning. */

/* The findings, in file order. */
enum field_type { F_BOOL, F_MS };

static const struct field {
    const char *name;
    enum field_type type;
    size_t off;
} fields[] = {
#define B(name, member) { name, F_BOOL, offsetof(struct ct_caps, member) }
#define D(name, member) { name, F_MS, offsetof(struct ct_caps, member) }
    B("zone-flush", zone_flush),
    B("zone-flush-default", zone_flush_default),
    B("filtered-flush", filtered_flush),
    B("filtered-flush-v6", filtered_flush_v6),
    B("filtered-flush-zone", filtered_flush_zone),
    B("filtered-flush-zone-default", filtered_flush_zone_default),
    B("dump-zone-filter", dump_zone_filter),
    B("filtered-dump", filtered_dump),
    B("filtered-dump-v6", filtered_dump_v6),
    B("filtered-flush-proto", filtered_flush_proto),
    B("filtered-flush-proto-v6", filtered_flush_proto_v6),
    B("filtered-dump-proto", filtered_dump_proto),
    B("filtered-dump-proto-v6", filtered_dump_proto_v6),
    B("dump-proto-filter", dump_proto_filter),
    B("dump-proto-filter-v6", dump_proto_filter_v6),
    D("dump-fixed-ms", dump_fixed_ms),
    D("dump-ns-per-entry", dump_ns_per_entry),
    D("dump-piped-ratio", dump_piped_ratio),
    D("walk-fixed-ms", walk_fixed_ms),
    D("walk-ns-per-entry", walk_ns_per_entry),
    D("fdump-fixed-ms", fdump_fixed_ms),
    D("fdump-ns-per-entry", fdump_ns_per_entry),
#undef B
#undef D
};
#define N_FIELDS (sizeof fields / sizeof *fields)

/* No measured cost is above this (an hour per walk, a millisecond per
 * entry): a larger one is a corrupt file, not a slow host. */
#define MAX_COST 3.6e6

/* FNV-1a, 64 bits: enough to tell a torn or edited file. */
static uint64_t
fnv64(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char) p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Copies the first line of a small text file, without its newline. */
static int
read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");

    if (!f) {
        return errno;
    }
    bool ok = fgets(buf, (int) len, f) != NULL;
    fclose(f);
    if (!ok) {
        return EIO;
    }
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* A value a line can carry: printable, no newline. */
static void
clean(char *s)
{
    for (; *s; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            *s = '?';
        }
    }
}

int
probe_cache_key_now(struct probe_cache_key *key)
{
    struct utsname u;

    memset(key, 0, sizeof *key);
    int err = read_line("/proc/sys/kernel/random/boot_id", key->boot_id, sizeof key->boot_id);
    if (err) {
        return err;
    }
    if (!key->boot_id[0]) {
        return EIO;
    }
    if (uname(&u) < 0) {
        return errno;
    }
    snprintf(key->kernel, sizeof key->kernel, "%s %s", u.release, u.version);
    snprintf(key->version, sizeof key->version, "%s", CTF_VERSION);
    clean(key->boot_id);
    clean(key->kernel);
    clean(key->version);
    return 0;
}

size_t
probe_cache_format(char *buf, size_t len, const struct probe_cache_key *key,
                   const struct ct_caps *c, long long probed_at)
{
    size_t used = 0;
    int w;

#define PUT(...) \
    do { \
        w = snprintf(buf + used, len - used, __VA_ARGS__); \
        if (w < 0 || (size_t) w >= len - used) { \
            return 0; \
        } \
        used += (size_t) w; \
    } while (0)

    if (!len) {
        return 0;
    }
    PUT("%s %d\n", PROBE_CACHE_MAGIC, PROBE_CACHE_FORMAT);
    PUT("ctflushd %s\n", key->version);
    PUT("boot-id %s\n", key->boot_id);
    PUT("kernel %s\n", key->kernel);
    PUT("probed-at %lld\n", probed_at);
    for (size_t i = 0; i < N_FIELDS; i++) {
        const char *p = (const char *) c + fields[i].off;
        if (fields[i].type == F_BOOL) {
            PUT("%s %s\n", fields[i].name, *(const bool *) p ? "yes" : "no");
        } else {
            PUT("%s %.17g\n", fields[i].name, *(const double *) p);
        }
    }
    PUT("checksum %016llx\n", (unsigned long long) fnv64(buf, used));
#undef PUT
    return used;
}

/* The next line of [*p, end): its name and value (split at the first
 * space), both NUL-terminated in out. False at the end, or for a line
 * without a space or one too long. */
static bool
next_line(const char **p, const char *end, char *out, size_t outlen, char **value)
{
    const char *nl = memchr(*p, '\n', (size_t) (end - *p));

    if (!nl || (size_t) (nl - *p) >= outlen) {
        return false;
    }
    memcpy(out, *p, (size_t) (nl - *p));
    out[nl - *p] = '\0';
    *p = nl + 1;
    char *sp = strchr(out, ' ');
    if (!sp) {
        return false;
    }
    *sp = '\0';
    *value = sp + 1;
    return true;
}

static int bad(char *why, size_t whylen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
bad(char *why, size_t whylen, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return err;
}

int
probe_cache_parse(const char *text, size_t len, const struct probe_cache_key *key,
                  struct ct_caps *caps, char *why, size_t whylen)
{
    const char *p = text, *end = text + len;
    char line[PROBE_CACHE_MAX];
    char *v, *e;
    struct ct_caps c;
    char expect[32];

    if (whylen) {
        why[0] = '\0';
    }
    if (len > PROBE_CACHE_MAX || memchr(text, '\0', len)) {
        return bad(why, whylen, EINVAL, "%s", "not a text file of the expected size");
    }
    ct_caps_init_unproven(&c, NULL);
    snprintf(expect, sizeof expect, "%d", PROBE_CACHE_FORMAT);
    if (!next_line(&p, end, line, sizeof line, &v) || strcmp(line, PROBE_CACHE_MAGIC)) {
        return bad(why, whylen, EINVAL, "%s", "not a probe cache");
    }
    if (strcmp(v, expect)) {
        return bad(why, whylen, ESTALE, "format %s", v);
    }
    /* The key: every part must be this host's now. */
    static const char *const key_names[] = { "ctflushd", "boot-id", "kernel" };
    const char *const key_values[] = { key->version, key->boot_id, key->kernel };
    for (size_t i = 0; i < 3; i++) {
        if (!next_line(&p, end, line, sizeof line, &v) || strcmp(line, key_names[i])) {
            return bad(why, whylen, EINVAL, "no %s line", key_names[i]);
        }
        if (strcmp(v, key_values[i])) {
            return bad(why, whylen, ESTALE, "made for another %s",
                       i == 0 ? "ctflushd version" : i == 1 ? "boot" : "kernel");
        }
    }
    if (!next_line(&p, end, line, sizeof line, &v) || strcmp(line, "probed-at")) {
        return bad(why, whylen, EINVAL, "%s", "no probed-at line");
    }
    errno = 0;
    long long at = strtoll(v, &e, 10);
    if (errno || e == v || *e || at < 0) {
        return bad(why, whylen, EINVAL, "%s", "a bad probed-at");
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        char *f = (char *) &c + fields[i].off;
        if (!next_line(&p, end, line, sizeof line, &v) || strcmp(line, fields[i].name)) {
            return bad(why, whylen, EINVAL, "no %s line where expected", fields[i].name);
        }
        if (fields[i].type == F_BOOL) {
            if (strcmp(v, "yes") && strcmp(v, "no")) {
                return bad(why, whylen, EINVAL, "%s is not yes or no", fields[i].name);
            }
            *(bool *) f = !strcmp(v, "yes");
        } else {
            errno = 0;
            double d = strtod(v, &e);
            if (errno || e == v || *e || !isfinite(d) || d < 0 || d > MAX_COST) {
                return bad(why, whylen, EINVAL, "%s is not a cost", fields[i].name);
            }
            *(double *) f = d;
        }
    }
    size_t body = (size_t) (p - text);
    if (!next_line(&p, end, line, sizeof line, &v) || strcmp(line, "checksum")) {
        return bad(why, whylen, EINVAL, "%s", "no checksum line");
    }
    char sum[32];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long) fnv64(text, body));
    if (strcmp(v, sum)) {
        return bad(why, whylen, EINVAL, "%s", "a checksum that does not match");
    }
    if (p != end) {
        return bad(why, whylen, EINVAL, "%s", "bytes after the checksum");
    }
    /* A helper-thread ratio outside what calib_ratio allows is no
     * measurement of ours; nor are dependent flags without their base. */
    if (c.dump_piped_ratio < 0.1 || c.dump_piped_ratio > 4) {
        return bad(why, whylen, EINVAL, "%s", "a helper-thread ratio out of range");
    }
    if ((c.zone_flush_default && !c.zone_flush)
        || ((c.filtered_flush_v6 || c.filtered_flush_zone || c.filtered_flush_zone_default
             || c.filtered_flush_proto) && !c.filtered_flush)
        || (c.filtered_flush_proto_v6 && !(c.filtered_flush_v6 && c.filtered_flush_proto))
        || ((c.filtered_dump_v6 || c.filtered_dump_proto) && !c.filtered_dump)
        || (c.filtered_dump_proto_v6 && !(c.filtered_dump_v6 && c.filtered_dump_proto))) {
        return bad(why, whylen, EINVAL, "%s", "findings the probe never makes");
    }
    c.probed = true;
    struct tm tm;
    time_t t = (time_t) at;
    char when[32] = "?";
    if (localtime_r(&t, &tm)) {
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    }
    snprintf(c.note, sizeof c.note, "probed in a throwaway namespace at %s (kept for this boot)",
             when);
    *caps = c;
    return 0;
}

/* Nobody but root (or we) can have written path: the file, and the
 * directory it sits in. */
static int
check_owner(const struct stat *st, bool dir, char *why, size_t whylen)
{
    uid_t me = geteuid();

    if (st->st_uid != 0 && st->st_uid != me) {
        return bad(why, whylen, EPERM, "%s owned by another user", dir ? "a directory" : "a file");
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        return bad(why, whylen, EPERM, "%s others can write",
                   dir ? "in a directory" : "a file");
    }
    return 0;
}

static int
check_dir(const char *path, char *why, size_t whylen)
{
    char dir[PATH_MAX];
    struct stat st;

    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    if (stat(dir, &st) < 0) {
        return bad(why, whylen, errno, "%s", "its directory cannot be read");
    }
    if (!S_ISDIR(st.st_mode)) {
        return bad(why, whylen, ENOTDIR, "%s", "its directory is not one");
    }
    return check_owner(&st, true, why, whylen);
}

int
probe_cache_load(const char *path, const struct probe_cache_key *key, struct ct_caps *caps,
                 char *why, size_t whylen)
{
    char buf[PROBE_CACHE_MAX + 1];
    struct stat st;
    ssize_t n;
    size_t got = 0;

    snprintf(why, whylen, "%s", "");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;
        snprintf(why, whylen, "%s", strerror(err));
        return err == ELOOP ? EPERM : err;
    }
    int err = 0;
    if (fstat(fd, &st) < 0) {
        err = errno;
        snprintf(why, whylen, "%s", strerror(err));
    } else if (!S_ISREG(st.st_mode)) {
        err = bad(why, whylen, EINVAL, "%s", "not a regular file");
    } else if (st.st_size > PROBE_CACHE_MAX) {
        err = bad(why, whylen, EFBIG, "%s", "too big");
    } else {
        err = check_owner(&st, false, why, whylen);
    }
    if (!err) {
        err = check_dir(path, why, whylen);
    }
    while (!err && got < sizeof buf && (n = read(fd, buf + got, sizeof buf - got)) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = errno;
            snprintf(why, whylen, "%s", strerror(err));
            break;
        }
        got += (size_t) n;
    }
    close(fd);
    if (!err) {
        err = probe_cache_parse(buf, got, key, caps, why, whylen);
    }
    return err;
}

int
probe_cache_store(const char *path, const struct probe_cache_key *key, const struct ct_caps *caps)
{
    char buf[PROBE_CACHE_MAX], tmp[PATH_MAX];
    size_t n = probe_cache_format(buf, sizeof buf, key, caps, (long long) time(NULL));

    if (!n) {
        return ENOSPC;
    }
    if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long) getpid()) >= (int) sizeof tmp) {
        return ENAMETOOLONG;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == ENOENT) {
        /* The directory's last part may not exist yet (--oneshot on a host
         * without the daemon installed): made as the daemon's is. */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (mkdir(dir, 0700) == 0 || errno == EEXIST) {
                fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            }
        }
    }
    if (fd < 0) {
        return errno;
    }
    int err = 0;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = errno;
            break;
        }
        off += (size_t) w;
    }
    /* Readers after a crash see the old file or the whole new one. */
    if (!err && fsync(fd) < 0) {
        err = errno;
    }
    if (close(fd) < 0 && !err) {
        err = errno;
    }
    if (!err && rename(tmp, path) < 0) {
        err = errno;
    }
    if (err) {
        unlink(tmp);
    }
    return err;
}

int
probe_cached(const char *path, bool reprobe, struct ct_caps *caps, bool *cached)
{
    struct probe_cache_key key;
    char why[160];
    bool have_key = path && !probe_cache_key_now(&key);

    *cached = false;
    if (have_key && !reprobe) {
        int err = probe_cache_load(path, &key, caps, why, sizeof why);
        if (!err) {
            *cached = true;
            log_debug("probe: kept findings from %s", path);
            return 0;
        }
        if (err == ENOENT) {
            log_debug("probe: no findings kept in %s yet", path);
        } else {
            log_info("probe: not trusting %s (%s): proving the kernel again", path, why);
        }
    }
    int err = probe_run(caps, true);
    if (!err && caps->probed && have_key) {
        int serr = probe_cache_store(path, &key, caps);
        if (serr) {
            log_info("probe: cannot keep the findings in %s: %s", path, strerror(serr));
        }
    }
    return err;
}
