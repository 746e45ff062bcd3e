/*
 * fuzz_oom.c: the allocation wrappers behind fuzz_oom.h.
 */
#include "fuzz_oom.h"

#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
char *__real_strdup(const char *);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);
char *__wrap_strdup(const char *);

static bool fuzz_oom_armed;        /* Counting since fuzz_oom_arm. */
static size_t fuzz_oom_seen;       /* Allocations counted. */
static size_t fuzz_oom_fail_at;    /* First one to fail; 0: none. */
static bool fuzz_oom_did_fail;

void
fuzz_oom_arm(size_t fail_at)
{
    fuzz_oom_seen = 0;
    fuzz_oom_fail_at = fail_at;
    fuzz_oom_did_fail = false;
    fuzz_oom_armed = true;
}

size_t
fuzz_oom_disarm(void)
{
    fuzz_oom_armed = false;
    return fuzz_oom_seen;
}

bool
fuzz_oom_fired(void)
{
    return fuzz_oom_did_fail;
}

size_t
fuzz_oom_npoints(size_t n)
{
    return n < FUZZ_OOM_POINTS ? n : FUZZ_OOM_POINTS;
}

size_t
fuzz_oom_point(size_t n, size_t i)
{
    size_t k = fuzz_oom_npoints(n);

    /* 1..n; with k < n, points i * n / k rounded up: the last one is n. */
    return k == n ? i + 1 : ((i + 1) * n + k - 1) / k;
}

/* Counts one allocation; true if it is to fail. */
static bool
fuzz_oom_fail_now(void)
{
    if (!fuzz_oom_armed) {
        return false;
    }
    fuzz_oom_seen++;
    if (fuzz_oom_fail_at && fuzz_oom_seen >= fuzz_oom_fail_at) {
        fuzz_oom_did_fail = true;
        return true;
    }
    return false;
}

void *
__wrap_malloc(size_t n)
{
    return fuzz_oom_fail_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
    return fuzz_oom_fail_now() ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
    return fuzz_oom_fail_now() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
    return fuzz_oom_fail_now() ? NULL : __real_strdup(s);
}
