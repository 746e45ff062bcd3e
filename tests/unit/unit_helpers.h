/*
 * unit_helpers.h: fixtures shared by the unit tests. Include after <cmocka.h>:
 * a helper that cannot build its fixture fails the calling test.
 */
#ifndef CTF_UNIT_HELPERS_H
#define CTF_UNIT_HELPERS_H

#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "job.h"
#include "portinfo.h"

/* A prefix from text that must parse. */
static inline struct ctf_prefix
pfx(const char *s)
{
    struct ctf_prefix p;

    if (ctf_prefix_parse(s, &p)) {
        fail_msg("helper: '%s' does not parse", s);
    }
    return p;
}

/* Fills a job from text: "any" or a list for each side. */
static inline void
job_make(struct flush_job *job, const char *local, const char *peers)
{
    char err[128];

    flush_job_init(job);
    if (flush_job_parse_side(&job->local, &job->local_any, local, err, sizeof err)
        || flush_job_parse_side(&job->peers, &job->peers_any, peers, err, sizeof err)) {
        fail_msg("helper: '%s' x '%s': %s", local, peers, err);
    }
}

/* A port from text, as the watcher would send it: ips is a list as
 * ctf_prefix_list_parse takes it ("" or NULL: none), zone < 0 means none.
 * On br-int, ofport 7. */
static inline void
port_make(struct port_info *pi, const char *name, const char *iface_id, const char *ips,
          int zone)
{
    char err[128];

    port_info_init(pi);
    pi->name = name ? strdup(name) : NULL;
    pi->iface_id = iface_id ? strdup(iface_id) : NULL;
    pi->bridge = strdup("br-int");
    if ((name && !pi->name) || (iface_id && !pi->iface_id) || !pi->bridge) {
        fail_msg("helper: out of memory");
    }
    pi->ofport = 7;
    if (ips && *ips && ctf_prefix_list_parse(&pi->ips, ips, err, sizeof err)) {
        fail_msg("helper: ips '%s': %s", ips, err);
    }
    pi->ip_source = ips && *ips ? PORT_IP_INTERFACE : PORT_IP_NONE;
    if (zone >= 0) {
        pi->has_zone = true;
        pi->zone = (uint16_t) zone;
        pi->zone_source = PORT_ZONE_EXTERNAL_ID;
    }
}

#endif
