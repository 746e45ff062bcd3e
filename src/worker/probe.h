/*
 * probe.h: proves, once at start-up, what the running kernel's ctnetlink does
 * with a zone flush and a filtered flush, and calibrates their costs.
 *
 * Never trusts a version string: on kernels before 6.8 a flush carrying only
 * CTA_ZONE deletes the whole table, and before 6.12 a filtered flush may be
 * refused or ignored. So every probe runs in a forked child that first moves
 * into a new, empty network namespace (unshare(CLONE_NEWNET)), fills it with
 * entries in two zones and with several addresses, sends the message, and
 * checks that exactly the intended entries went. If the child cannot get its
 * own namespace, nothing is proven and only the dump path is used. The host
 * table is never touched by a probe.
 *
 * Owns: nothing beyond the call (the child and its namespace die with it).
 */
#ifndef CTF_PROBE_H
#define CTF_PROBE_H

#include <stdbool.h>

#include "planner.h"

/* Fills *caps. calibrate also times a dump and a filtered walk over a
 * synthetic table. Returns 0, or a positive errno if the probe could not run
 * (caps then says "unproven" with the reason). */
int probe_run(struct ct_caps *caps, bool calibrate);

/* Human-readable one-liner of what is proven. */
const char *probe_describe(const struct ct_caps *, char *buf, size_t len);

#endif
