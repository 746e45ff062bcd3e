/*
 * caps.h: this process's capabilities, narrowed the way every ctflushd
 * process does it: the parent keeps what its children need as permitted
 * only, each child keeps just what its own job needs (the worker
 * CAP_NET_ADMIN, the watcher nothing or CAP_DAC_OVERRIDE), and all of them
 * set no_new_privs. Used by the parent, the worker and --oneshot.
 *
 * Owns: nothing; calls into the kernel (capget/capset, no libcap).
 */
#ifndef CTF_CAPS_H
#define CTF_CAPS_H

#include <stdbool.h>
#include <stdint.h>

/* Capabilities as bit masks, bit n for capability number n (CAP_NET_ADMIN
 * is 12, so CAPS_BIT(CAP_NET_ADMIN) == 1 << 12). */
#define CAPS_BIT(cap) (UINT64_C(1) << (cap))

/* Narrows this process's capabilities: permitted becomes permitted & keep,
 * effective becomes effective_want & the new permitted (raising an effective
 * capability that is permitted is allowed), inheritable is cleared, and
 * no_new_privs is set. A capability dropped from permitted is gone for this
 * process and its children for good. Returns 0 or an errno. */
int caps_limit(uint64_t keep, uint64_t effective_want);

/* This process's effective and permitted sets. Returns 0 or an errno. */
int caps_get(uint64_t *effective, uint64_t *permitted);

/* CAP_NET_ADMIN is in the effective set (true when it cannot be told:
 * the kernel then says). */
bool caps_have_net_admin(void);

#endif
