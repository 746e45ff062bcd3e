/*
 * watchlink.c: the parent's side of the OVSDB watcher. Port events from the
 * watcher update the port table; what changed becomes batch events; closed
 * batch windows become queued jobs.
 *
 * Which events flush what:
 *  - a port leaves OVSDB (live PORT_GONE, or missing from a resync
 *    snapshot): its IPs x any, in its zone;
 *  - a live port loses IPs or changes zone: the IPs it lost, as a removal;
 *  - a port appears, or gains IPs, in a live update (not in a snapshot):
 *    with flush-on-add, its new IPs x any, to clear what a previous owner
 *    of the IP left. Ports first seen in a snapshot may already be carrying
 *    traffic (they were added while we were not watching), so they are
 *    never flushed: killing a live VM's sessions is the worse mistake;
 *  - a port that comes back as the same VM inside the batch window cancels
 *    its pending removal (re-plug, agent restart).
 */
#include "ctflushd.h"

#include <errno.h>
#include <linux/capability.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "log.h"
#include "proc.h"
#include "watcher.h"
#include "wire.h"

#define WATCHLINK_HEARTBEAT_MS 1000
/* The watcher is unhealthy when silent for this long (several heartbeats). */
#define WATCHLINK_SILENT_MS 5000
#define WATCHLINK_RESTART_MIN_MS 100
#define WATCHLINK_RESTART_MAX_MS 10000

static struct log_ratelimit watchlink_rl = LOG_RATELIMIT_INIT(10);  /* Port event floods. */

static void watchlink_arm_batch_timer(struct ctfd *);

/* The watcher's configuration, built from ours before the fork; the child
 * reads its copy of it. */
struct watchlink_watch_args {
    struct watcher_config wc;
};

static struct watchlink_watch_args *
watchlink_watch_args(const struct ctfd *d)
{
    struct watchlink_watch_args *a = calloc(1, sizeof *a);

    if (!a) {
        return NULL;
    }
    a->wc.remote = d->cfg.ovsdb;
    a->wc.rules.iface_ip_keys = (const char *const *) d->cfg.iface_ip_keys;
    a->wc.rules.n_iface_ip_keys = d->cfg.n_iface_ip_keys;
    a->wc.rules.port_ip_keys = (const char *const *) d->cfg.port_ip_keys;
    a->wc.rules.n_port_ip_keys = d->cfg.n_port_ip_keys;
    a->wc.rules.zone_key = d->cfg.zone_key;
    a->wc.rules.zone_from_vlan_tag = d->cfg.zone_from_vlan_tag;
    a->wc.heartbeat_ms = WATCHLINK_HEARTBEAT_MS;
    return a;
}

/* Whether the OVSDB remote is a unix socket that another user owns (or, before
 * it exists, whose directory another user owns), as when ovsdb-server runs as
 * the openvswitch user: connecting then takes CAP_DAC_OVERRIDE, if the
 * operator granted it (systemd/ctflushd.service shows how). */
static bool
watchlink_ovsdb_socket_foreign(const char *remote)
{
    struct stat st;
    char dir[4096];

    if (strncmp(remote, "unix:", 5)) {
        return false;
    }
    remote += 5;
    if (!stat(remote, &st)) {
        return st.st_uid != geteuid();
    }
    const char *slash = strrchr(remote, '/');
    if (!slash || (size_t) (slash - remote) >= sizeof dir) {
        return false;
    }
    snprintf(dir, sizeof dir, "%.*s", (int) (slash - remote), remote);
    return !stat(dir[0] ? dir : "/", &st) && st.st_uid != geteuid();
}

static void
watchlink_watcher_main(int fd, void *arg)
{
    struct watchlink_watch_args *a = arg;
    uint64_t keep = 0;

    /* The watcher only talks to ovsdb-server over a socket: it keeps no
     * capability, so a bug in it (or in libopenvswitch) cannot touch the
     * conntrack table. The one exception only lets it open files. */
    if (watchlink_ovsdb_socket_foreign(a->wc.remote)) {
        keep = CAPS_BIT(CAP_DAC_OVERRIDE);
    }
    int err = caps_limit(keep, keep);
    if (err) {
        log_warnx("watcher: cannot drop privileges: %s", strerror(err));
        exit(1);
    }
    if (keep) {
        uint64_t eff, perm;
        bool kept = !caps_get(&eff, &perm) && (eff & keep);
        log_info("watcher: %s is another user's: %s", a->wc.remote,
                 kept ? "keeping CAP_DAC_OVERRIDE to connect"
                      : "no CAP_DAC_OVERRIDE to connect with");
    }
    watcher_main(fd, &a->wc);
}

/* Queues a batch event, counting re-plugs. */
static void
watchlink_batch_add(struct ctfd *d, enum batch_kind kind, const struct port_info *pi)
{
    bool replug = false;

    if (!pi->ips.n) {
        return;
    }
    if (batch_add(&d->batch, kind, pi, ctf_time_msec(), &replug)) {
        /* Out of memory: the port table already forgot the port, so this
         * removal would be lost; keeping the daemon alive matters less
         * than saying so loudly. */
        log_warnx("port %s: cannot queue its flush: out of memory", pi->name);
        return;
    }
    if (replug) {
        log_info("port %s: re-plugged as the same VM within the batch window: "
                 "its flush is cancelled", pi->name);
    }
    watchlink_arm_batch_timer(d);
}

/* The part of a's IPs that b lacks (all of them when the zones differ),
 * as a port_info named like a. */
static int
watchlink_ips_lost(const struct port_info *a, const struct port_info *b, struct port_info *out)
{
    port_info_init(out);
    if (port_info_copy(out, a)) {
        return ENOMEM;
    }
    bool same_zone = a->has_zone == b->has_zone && (!a->has_zone || a->zone == b->zone);
    if (same_zone) {
        ctf_prefix_list_clear(&out->ips);
        for (size_t i = 0; i < a->ips.n; i++) {
            bool kept = false;
            for (size_t j = 0; j < b->ips.n && !kept; j++) {
                kept = !ctf_prefix_cmp(&a->ips.items[i], &b->ips.items[j]);
            }
            if (!kept && ctf_prefix_list_add(&out->ips, &a->ips.items[i])) {
                port_info_destroy(out);
                return ENOMEM;
            }
        }
    }
    return 0;
}

/* A present port's flush target moved from old to new. */
static void
watchlink_target_changed(struct ctfd *d, const struct port_info *old, const struct port_info *new_,
                     bool live)
{
    struct port_info lost, gained;

    if (!watchlink_ips_lost(old, new_, &lost)) {
        if (lost.ips.n) {
            log_info("port %s: lost %zu IP(s) or changed zone: flushing them", old->name,
                     lost.ips.n);
            watchlink_batch_add(d, BATCH_REMOVE, &lost);
        }
        port_info_destroy(&lost);
    }
    if (live && d->cfg.flush_on_add && !watchlink_ips_lost(new_, old, &gained)) {
        watchlink_batch_add(d, BATCH_ADD, &gained);
        port_info_destroy(&gained);
    }
}

static void
watchlink_present(struct ctfd *d, const struct port_info *pi)
{
    struct porttab_change ch;
    bool live = !d->watch.in_sync;

    memset(&ch, 0, sizeof ch);
    if (porttab_update(&d->ports, pi, &ch)) {
        log_warnx("port %s: out of memory updating the port table", pi->name);
        return;
    }
    const struct porttab_entry *e = porttab_find(&d->ports, pi->name);
    if (ch.is_new) {
        if (live) {
            d->counters.port_adds++;
        }
        /* A pending removal of this same VM is a re-plug, in a live update
         * or in a snapshot after a reconnect alike. */
        if (e && batch_cancel_removal(&d->batch, &e->effective)) {
            log_info("port %s: back as the same VM within the batch window: "
                     "its removal is cancelled", pi->name);
        } else if (e && live && d->cfg.flush_on_add && e->effective.ips.n) {
            watchlink_batch_add(d, BATCH_ADD, &e->effective);
        }
    } else if (ch.target_changed && e) {
        watchlink_target_changed(d, &ch.old, &e->effective, live);
    }
    port_info_destroy(&ch.old);
    ctfd_state_changed(d);
}

static void
watchlink_gone_info(struct ctfd *d, struct port_info *old)
{
    d->counters.port_removals++;
    if (old->ips.n) {
        log_info("port %s (%s): removed, flushing %zu IP(s)%s", old->name,
                 old->iface_id ? old->iface_id : "no iface-id", old->ips.n,
                 old->has_zone ? " in its zone" : "");
    } else if (log_ratelimit_ok(&watchlink_rl)) {
        log_info("port %s: removed; no IPs known, nothing to flush", old->name);
    }
    watchlink_batch_add(d, BATCH_REMOVE, old);
}

static void
watchlink_gone(struct ctfd *d, const struct port_info *pi)
{
    struct port_info old;

    port_info_init(&old);
    if (!porttab_remove(&d->ports, pi->name, &old)) {
        watchlink_gone_info(d, &old);
        ctfd_state_changed(d);
    }
    port_info_destroy(&old);
}

static void
watchlink_sync_gone(struct port_info *gone, void *aux)
{
    struct ctfd *d = aux;

    watchlink_gone_info(d, gone);
    port_info_destroy(gone);
}

static bool
watchlink_handle(struct ctfd *d, uint32_t type, const uint8_t *p, size_t len)
{
    struct rbuf r;

    rbuf_init(&r, p, len);
    d->watch.last_heard_ms = ctf_time_msec();
    switch (type) {
    case WIRE_W_STATUS: {
        uint8_t connected = rbuf_get_u8(&r);
        char *remote = rbuf_get_str(&r);
        char *error = rbuf_get_str(&r);
        bool ok = rbuf_ok(&r);
        if (ok) {
            if (connected && !d->watch.connected) {
                if (d->watch.ever_connected) {
                    d->watch.reconnects++;
                }
                d->watch.ever_connected = true;
                log_info("OVSDB %s: connected", remote ? remote : "");
            } else if (!connected && d->watch.connected) {
                log_warnx("OVSDB %s: disconnected%s%s", remote ? remote : "",
                          error && *error ? ": " : "", error ? error : "");
            }
            d->watch.connected = connected;
            snprintf(d->watch.remote, sizeof d->watch.remote, "%s", remote ? remote : "");
            snprintf(d->watch.last_error, sizeof d->watch.last_error, "%s",
                     error ? error : "");
        }
        free(remote);
        free(error);
        return ok;
    }
    case WIRE_W_SYNC_BEGIN:
        if (!rbuf_ok(&r)) {
            return false;
        }
        porttab_sync_begin(&d->ports);
        d->watch.in_sync = true;
        return true;
    case WIRE_W_SYNC_END:
        if (!rbuf_ok(&r) || !d->watch.in_sync) {
            return false;
        }
        porttab_sync_end(&d->ports, watchlink_sync_gone, d);
        d->watch.in_sync = false;
        if (!d->watch.synced_once) {
            log_info("OVSDB: first snapshot: %zu port(s) known", porttab_count(&d->ports));
        }
        d->watch.synced_once = true;
        ctfd_state_changed(d);
        return true;
    case WIRE_W_PORT:
    case WIRE_W_PORT_GONE: {
        struct port_info pi;
        port_info_init(&pi);
        rbuf_get_port_info(&r, &pi);
        bool ok = rbuf_ok(&r);
        if (ok && type == WIRE_W_PORT) {
            watchlink_present(d, &pi);
        } else if (ok) {
            watchlink_gone(d, &pi);
        }
        port_info_destroy(&pi);
        return ok;
    }
    default:
        return false;
    }
}

static void
watchlink_kill(struct ctfd *d)
{
    if (d->watch.pid > 0) {
        kill(d->watch.pid, SIGKILL);
    }
}

static bool
watchlink_handle_cb(uint32_t type, const uint8_t *p, size_t len, void *aux)
{
    return watchlink_handle(aux, type, p, len);
}

static void
watchlink_read_cb(struct bufferevent *bev, void *aux)
{
    struct ctfd *d = aux;
    uint32_t type;

    if (proc_channel_dispatch(bufferevent_get_input(bev), watchlink_handle_cb, d, &type)) {
        log_warnx("watcher %ld: malformed message (type %u): restarting it",
                  (long) d->watch.pid, type);
        bufferevent_disable(bev, EV_READ);
        watchlink_kill(d);
    }
}

static void
watchlink_event_cb(struct bufferevent *bev, short what, void *aux)
{
    struct ctfd *d = aux;

    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        watchlink_kill(d);          /* The reaper restarts it. */
    }
}

static void
watchlink_restart_cb(evutil_socket_t fd, short what, void *aux)
{
    (void) fd;
    (void) what;
    watchlink_watcher_start(aux);
}

static void
watchlink_schedule_restart(struct ctfd *d)
{
    struct timeval tv = ctf_timeval_ms(proc_backoff_ms(d->watch.quick_failures,
                                                       WATCHLINK_RESTART_MIN_MS,
                                                       WATCHLINK_RESTART_MAX_MS));

    evtimer_add(d->watch.restart_timer, &tv);
}

int
watchlink_watcher_start(struct ctfd *d)
{
    struct watchlink_watch_args *args;
    pid_t pid;
    int fd, err;

    if (d->stopping || d->watch.pid > 0) {
        return 0;
    }
    if (!d->watch.restart_timer) {
        d->watch.restart_timer = evtimer_new(d->base, watchlink_restart_cb, d);
        if (!d->watch.restart_timer) {
            return ENOMEM;
        }
    }
    args = watchlink_watch_args(d);
    if (!args) {
        watchlink_schedule_restart(d);
        return ENOMEM;
    }
    err = proc_spawn("ctflushd-ovsdb", watchlink_watcher_main, args, &pid, &fd);
    free(args);
    if (err) {
        log_warnx("watcher: cannot fork: %s", strerror(err));
        d->watch.quick_failures++;
        watchlink_schedule_restart(d);
        return err;
    }
    d->watch.bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!d->watch.bev) {
        close(fd);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        d->watch.quick_failures++;
        watchlink_schedule_restart(d);
        return ENOMEM;
    }
    bufferevent_setcb(d->watch.bev, watchlink_read_cb, NULL, watchlink_event_cb, d);
    bufferevent_enable(d->watch.bev, EV_READ);
    d->watch.pid = pid;
    d->watch.in_sync = false;
    d->watch.connected = false;
    d->watch.last_heard_ms = ctf_time_msec();
    d->watch.starts++;
    log_debug("watcher %ld started for %s", (long) pid, d->cfg.ovsdb);
    return 0;
}

bool
watchlink_reap(struct ctfd *d, pid_t pid, int status)
{
    char how[64];

    if (pid <= 0 || pid != d->watch.pid) {
        return false;
    }
    if (d->watch.bev) {
        bufferevent_free(d->watch.bev);
        d->watch.bev = NULL;
    }
    d->watch.pid = 0;
    d->watch.connected = false;
    d->watch.in_sync = false;
    if (d->stopping) {
        return true;
    }
    proc_status_str(status, how, sizeof how);
    log_warnx("watcher %ld %s: restarting it", (long) pid, how);
    /* A watcher that lived a while earns a quick restart. */
    d->watch.quick_failures++;
    watchlink_schedule_restart(d);
    return true;
}

void
watchlink_watcher_stop(struct ctfd *d)
{
    if (d->watch.pid > 0) {
        proc_stop(d->watch.pid, d->watch.bev ? bufferevent_getfd(d->watch.bev) : -1,
                  PROC_STOP_GRACE_MS);
        d->watch.pid = 0;
    }
    if (d->watch.bev) {
        bufferevent_free(d->watch.bev);
        d->watch.bev = NULL;
    }
    if (d->watch.restart_timer) {
        event_free(d->watch.restart_timer);
        d->watch.restart_timer = NULL;
    }
}

bool
watchlink_watcher_healthy(const struct ctfd *d)
{
    return d->watch.pid > 0 && ctf_time_msec() - d->watch.last_heard_ms < WATCHLINK_SILENT_MS;
}

static void
watchlink_batch_cb(evutil_socket_t fd, short what, void *aux)
{
    (void) fd;
    (void) what;
    watchlink_batch_run(aux, false);
}

static void
watchlink_arm_batch_timer(struct ctfd *d)
{
    uint64_t deadline = batch_deadline(&d->batch);

    if (!deadline) {
        return;
    }
    if (!d->batch_timer) {
        d->batch_timer = evtimer_new(d->base, watchlink_batch_cb, d);
        if (!d->batch_timer) {
            return;
        }
    }
    uint64_t now = ctf_time_msec();
    struct timeval tv = ctf_timeval_ms(deadline > now ? deadline - now : 0);
    evtimer_add(d->batch_timer, &tv);
}

void
watchlink_batch_run(struct ctfd *d, bool force)
{
    struct batch_group *groups = NULL;
    size_t n = 0;
    double now_wall = ctf_time_wall();

    if (batch_take(&d->batch, ctf_time_msec(), force, &groups, &n)) {
        log_warnx("batch: out of memory; retrying");
        watchlink_arm_batch_timer(d);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct batch_group *g = &groups[i];
        enum job_origin origin = g->kind == BATCH_REMOVE ? JOB_ORIGIN_PORT_REMOVE
                                                          : JOB_ORIGIN_PORT_ADD;
        uint64_t id = 0;
        bool merged = false;
        char err[160] = "";
        int rc = jobq_add(&d->queue, origin, &g->job, (const char *const *) g->ports,
                          g->n_ports, now_wall, &id, &merged, err, sizeof err);
        if (rc) {
            log_warnx("batch: %zu port(s): cannot queue their flush: %s", g->n_ports,
                      err[0] ? err : strerror(rc));
            continue;
        }
        char zone[16] = "all zones";
        if (g->job.has_zone) {
            snprintf(zone, sizeof zone, "zone %u", g->job.zone);
        }
        log_info("job %llu: %s of %zu port(s), %zu IP(s), %s%s",
                 (unsigned long long) id, job_origin_name(origin), g->n_ports,
                 g->job.local.n, zone, merged ? " (merged into a queued job)" : "");
    }
    batch_groups_free(groups, n);
    if (n) {
        ctfd_state_changed(d);
        ctfd_dispatch(d);
    }
    watchlink_arm_batch_timer(d);
}

int
watchlink_set_ips(struct ctfd *d, const char *name, const struct ctf_prefix_list *ips)
{
    struct porttab_change ch;

    memset(&ch, 0, sizeof ch);
    int err = porttab_set_control_ips(&d->ports, name, ips, &ch);
    if (err) {
        return err;
    }
    const struct porttab_entry *e = porttab_find(&d->ports, name);
    if (e && e->in_ovsdb && !ch.is_new && ch.target_changed) {
        watchlink_target_changed(d, &ch.old, &e->effective, true);
    }
    port_info_destroy(&ch.old);
    ctfd_state_changed(d);
    return 0;
}
