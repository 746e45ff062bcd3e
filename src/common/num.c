/*
 * num.c: integers from text, one rule for all of ctflushd (num.h).
 *
 * Hand-written rather than strtoull: strtoull skips leading blanks, takes a
 * sign (and "-1" as UINT64_MAX), reads base 0's "010" as 8 and "0x10" as 16,
 * and needs errno and an end pointer checked at every call. Each of those is
 * a way the copies this replaces had drifted apart.
 */
#include "num.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* How much of a refused value the reason quotes. */
#define NUM_ECHO_MAX 64

static int
num_digit(char c, unsigned int base)
{
    int d;

    if (c >= '0' && c <= '9') {
        d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
    } else {
        return -1;
    }
    return (unsigned int) d < base ? d : -1;
}

static unsigned int
num_octal_digits(uint64_t v)
{
    unsigned int n = 1;

    while (v >>= 3) {
        n++;
    }
    return n;
}

/* The digits of s (no sign) as flags allow, into *v. max bounds the octal
 * digit count only; the range is the caller's. EINVAL, or ERANGE (digits
 * only, but more than 64 bits). */
static int
num_scan(const char *s, unsigned int flags, uint64_t max, uint64_t *v)
{
    unsigned int base = 10;
    bool overflow = false;
    size_t n;

    if (flags & NUM_OCT) {
        base = 8;
        n = strlen(s);
        if (n > num_octal_digits(max) + 1) {
            return EINVAL;
        }
    } else if ((flags & NUM_HEX) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && s[1]) {
        return EINVAL;          /* A leading zero: octal to some readers. */
    }
    if (!*s) {
        return EINVAL;
    }
    *v = 0;
    for (; *s; s++) {
        int d = num_digit(*s, base);

        if (d < 0) {
            return EINVAL;
        }
        if (overflow || *v > (UINT64_MAX - (uint64_t) d) / base) {
            overflow = true;    /* Still read on: "99...9x" is not a number at all. */
        } else {
            *v = *v * base + (uint64_t) d;
        }
    }
    return overflow ? ERANGE : 0;
}

/* s as the reason quotes it: at most NUM_ECHO_MAX bytes, anything but
 * printable ASCII as '?', so that a terminal escape in an argument or an
 * OVSDB value cannot reach a terminal or a log through an error. */
static void
num_echo(char *buf, size_t len, const char *s)
{
    size_t n = 0;

    for (; s && *s && n < NUM_ECHO_MAX && n + 1 < len; s++) {
        unsigned char c = (unsigned char) *s;
        buf[n++] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    if (s && *s && n + 3 < len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
}

static void
num_bound(char *buf, size_t len, unsigned int flags, bool neg, uint64_t mag)
{
    const char *sign = neg ? "-" : "";

    if ((flags & NUM_OCT) && mag) {
        snprintf(buf, len, "%s0%" PRIo64, sign, mag);
    } else if ((flags & NUM_HEX) && mag) {
        snprintf(buf, len, "%s0x%" PRIx64, sign, mag);
    } else {
        snprintf(buf, len, "%s%" PRIu64, sign, mag);
    }
}

/* The one reason for every refusal; lo NULL: the range is all the type
 * holds, which is not worth spelling out. */
static void
num_reason(char *err, size_t errlen, const char *s, unsigned int flags, const char *lo,
           const char *hi)
{
    char text[NUM_ECHO_MAX + 4];
    const char *kind = (flags & NUM_OCT) ? "an octal number"
                       : (flags & NUM_HEX) ? "a decimal or 0x hex number"
                       : "a decimal number";

    if (!err || !errlen) {
        return;
    }
    num_echo(text, sizeof text, s);
    if (!lo) {
        snprintf(err, errlen, "'%s' is not %s", text, kind);
    } else {
        snprintf(err, errlen, "'%s' is not %s%s from %s to %s", text,
                 (flags & NUM_OR_ZERO) ? "0 or " : "", kind, lo, hi);
    }
}

int
num_parse_u64(const char *s, unsigned int flags, uint64_t min, uint64_t max,
              uint64_t *out, char *err, size_t errlen)
{
    uint64_t v = 0;
    int rc = s ? num_scan(s, flags, max, &v) : EINVAL;

    if (!rc && (v > max || (v < min && !(v == 0 && (flags & NUM_OR_ZERO))))) {
        rc = ERANGE;
    }
    if (rc) {
        char lo[32], hi[32];

        num_bound(lo, sizeof lo, flags, false, min);
        num_bound(hi, sizeof hi, flags, false, max);
        num_reason(err, errlen, s, flags, min == 0 && max == UINT64_MAX ? NULL : lo, hi);
        return rc;
    }
    *out = v;
    return 0;
}

/* |x| without overflow: -INT64_MIN does not fit an int64_t. */
static uint64_t
num_mag(int64_t x)
{
    return x < 0 ? (uint64_t) -(x + 1) + 1 : (uint64_t) x;
}

int
num_parse_i64(const char *s, unsigned int flags, int64_t min, int64_t max,
              int64_t *out, char *err, size_t errlen)
{
    bool neg = s && *s == '-' && min < 0;
    uint64_t v = 0;
    int64_t sv = 0;
    int rc = EINVAL;

    if (s && min <= max) {
        rc = num_scan(s + neg, flags, neg ? num_mag(min) : num_mag(max), &v);
    }
    if (!rc && neg && !v) {
        rc = EINVAL;            /* "-0": a typo, never a value. */
    }
    if (!rc && (neg ? v > num_mag(min) : v > (uint64_t) INT64_MAX)) {
        rc = ERANGE;
    }
    if (!rc) {
        sv = neg ? -(int64_t) (v - 1) - 1 : (int64_t) v;
        if (sv > max || (sv < min && !(sv == 0 && (flags & NUM_OR_ZERO)))) {
            rc = ERANGE;
        }
    }
    if (rc) {
        char lo[32], hi[32];

        num_bound(lo, sizeof lo, flags, min < 0, num_mag(min));
        num_bound(hi, sizeof hi, flags, max < 0, num_mag(max));
        num_reason(err, errlen, s, flags, min == INT64_MIN && max == INT64_MAX ? NULL : lo, hi);
        return rc;
    }
    *out = sv;
    return 0;
}
