/*
 * udplan.h: a flush job as the dpctl/flush-conntrack calls that do it in
 * ovs-vswitchd's table (Open vSwitch 3.1's partial tuples).
 *
 * One call matches what all its fields say (they are ANDed): zone=N or
 * every zone, an original-tuple pattern and a reply-tuple pattern, each
 * with a source and/or destination address, the protocol and the original
 * destination port. "One end is L" is therefore several calls, per local
 * address L (and per peer P when the job has peers), after job.h's rule:
 *   ingress, original tuple:  orig dst=L [src=P]
 *   egress,  original tuple:  orig src=L [dst=P]
 *   ingress, reply backwards: reply src=L [dst=P]   (reply src = the
 *   egress,  reply backwards: reply dst=L [src=P]    original's dst)
 * (the reply calls only when tuple is "any"), times each destination port
 * of the job's range. Each call makes ovs-vswitchd walk its table once, so
 * the plan is bounded (UDPLAN_MAX_CALLS); bigger jobs need a dump matched
 * here, which is not built yet, and are refused.
 *
 * Refused as well (ENOTSUP, with the reason): a mark (3.1 cannot match
 * one), a prefix that is not one address (partial tuples match exact
 * addresses), "local any" (a whole-zone job: see udplan_build).
 *
 * Owns: the calls it builds.
 */
#ifndef CTF_UDPLAN_H
#define CTF_UDPLAN_H

#include <stddef.h>

#include "job.h"

#define UDPLAN_MAX_CALLS 4096
#define UDPLAN_MAX_DPORTS 64        /* Ports of a range spelled one by one. */
#define UDPLAN_ARG_LEN 192

/* One dpctl/flush-conntrack call: its arguments in order, as ovs-appctl
 * would pass them ("zone=N", the original tuple, the reply tuple; an empty
 * original tuple stands for "any" when only the reply is matched). */
struct udplan_call {
    char args[3][UDPLAN_ARG_LEN];
    size_t n_args;
};

struct udplan {
    struct udplan_call *calls;
    size_t n, cap;
};

void udplan_init(struct udplan *);
void udplan_destroy(struct udplan *);
/* Builds the calls for job. Returns 0, ENOTSUP or E2BIG (not doable this
 * way: the reason in errbuf), or ENOMEM. A whole-zone job (local and peers
 * any, in a zone, no selector) is one call: "zone=N". */
int udplan_build(const struct flush_job *, struct udplan *, char *errbuf, size_t errlen);

#endif
