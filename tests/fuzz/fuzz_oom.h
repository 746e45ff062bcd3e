/*
 * fuzz_oom.h: allocation failure on demand, for the targets whose parsers
 * promise ENOMEM (json, ctlproto, state). Linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup, so it sees
 * the allocations of everything statically linked (the code under test),
 * not those inside libc. jansson is a shared library, but json.c hands it
 * an allocator (json_set_alloc_funcs) that calls malloc from json.c: every
 * allocation jansson makes while parsing is counted and failed here too.
 *
 * After a normal run has counted the allocations an input makes, the
 * target runs it again with the Nth allocation and every later one failing
 * (memory that stays exhausted), for a spread of N: each error path must
 * return ENOMEM (or cope and succeed), free what it built and not crash.
 *
 * Owns: the process-wide failure counter (the harness is single-threaded).
 */
#ifndef CTF_FUZZ_OOM_H
#define CTF_FUZZ_OOM_H

#include <stdbool.h>
#include <stddef.h>

/* Starts counting allocations; from the fail_at-th one on (1-based), every
 * allocation fails. fail_at 0: count only. */
void fuzz_oom_arm(size_t fail_at);
/* Stops counting and failing; returns the allocations seen since arming. */
size_t fuzz_oom_disarm(void);
/* True if an allocation failed since the last fuzz_oom_arm. */
bool fuzz_oom_fired(void);

/* The failure points worth trying for a run of n allocations: all of them
 * for small n, else FUZZ_OOM_POINTS spread evenly (the last one included). */
#define FUZZ_OOM_POINTS 24
size_t fuzz_oom_point(size_t n, size_t i);
size_t fuzz_oom_npoints(size_t n);

#endif
