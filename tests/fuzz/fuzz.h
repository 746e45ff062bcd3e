/*
 * fuzz.h: what the libFuzzer targets in tests/fuzz share: the entry point's
 * prototype, an invariant check that aborts (libFuzzer then keeps the input
 * as a crash artifact), and copies of the input in buffers of exactly the
 * right size, so that AddressSanitizer sees a read one byte past the end.
 *
 * Owns: nothing beyond the call.
 */
#ifndef CTF_FUZZ_H
#define CTF_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void __attribute__((noreturn, unused))
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
    abort();
}

/* An invariant of the code under test. A failure is a finding, exactly like
 * a sanitizer report. */
#define FUZZ_CHECK(cond)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            fuzz_fail(__FILE__, __LINE__, #cond);           \
        }                                                   \
    } while (0)

/* Allocation failure in the harness itself is not a finding; libFuzzer's
 * -malloc_limit_mb turns real runaway allocations into reports anyway. */
static void * __attribute__((unused))
fuzz_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p) {
        fprintf(stderr, "fuzz harness: out of memory\n");
        abort();
    }
    return p;
}

/* The input as a C string: size bytes and a NUL in a buffer of size + 1
 * (an embedded NUL simply ends the string early). */
static char * __attribute__((unused))
fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = fuzz_xmalloc(size + 1);

    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* The input as bytes, not NUL-terminated, in a buffer of exactly size bytes:
 * for parsers that take (text, len). */
static char * __attribute__((unused))
fuzz_bytes(const uint8_t *data, size_t size)
{
    char *s = fuzz_xmalloc(size);

    memcpy(s, data, size);
    return s;
}

/* True if buf (of size bytes) holds a NUL-terminated string without control
 * characters (nor, when ascii_only, any byte past 0x7e): text that may go
 * into a log line without forging one. */
static bool __attribute__((unused))
fuzz_is_log_safe(const char *buf, size_t size, bool ascii_only)
{
    const char *nul = memchr(buf, '\0', size);

    if (!nul) {
        return false;
    }
    for (const char *p = buf; p < nul; p++) {
        unsigned char c = (unsigned char) *p;
        if (c < 0x20 || c == 0x7f || (ascii_only && c > 0x7f)) {
            return false;
        }
    }
    return true;
}

/* True if buf (of size bytes) holds a NUL-terminated string. */
static bool __attribute__((unused))
fuzz_is_cstr(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

#endif
