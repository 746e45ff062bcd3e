/*
 * watchlink.c: the parent's end of the OVSDB watcher (see watchlink.h).
 * What the port events do is portevents.c's.
 */
#include "watchlink.h"

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
#include "config.h"
#include "log.h"
#include "proc.h"
#include "watcher.h"
#include "wire.h"

#define WATCHLINK_HEARTBEAT_MS 1000
/* The watcher is unhealthy when silent for this long (several heartbeats). */
#define WATCHLINK_SILENT_MS 5000
#define WATCHLINK_RESTART_MIN_MS 100
#define WATCHLINK_RESTART_MAX_MS 10000

/* The watcher's configuration, built from ours before the fork; the child
 * reads its copy of it. */
struct watchlink_args {
    struct watcher_config wc;
};

static struct watchlink_args *
watchlink_args(const struct ctf_config *cfg)
{
    struct watchlink_args *a = calloc(1, sizeof *a);

    if (!a) {
        return NULL;
    }
    a->wc.remote = cfg->ovsdb;
    a->wc.rules.iface_ip_keys = (const char *const *) cfg->iface_ip_keys;
    a->wc.rules.n_iface_ip_keys = cfg->n_iface_ip_keys;
    a->wc.rules.port_ip_keys = (const char *const *) cfg->port_ip_keys;
    a->wc.rules.n_port_ip_keys = cfg->n_port_ip_keys;
    a->wc.rules.zone_key = cfg->zone_key;
    a->wc.rules.zone_from_vlan_tag = cfg->zone_from_vlan_tag;
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
watchlink_child_main(int fd, void *arg)
{
    struct watchlink_args *a = arg;
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

void
watchlink_init(struct watchlink *wl, struct event_base *base, const struct ctf_config *cfg,
               struct portevents *events)
{
    memset(wl, 0, sizeof *wl);
    wl->base = base;
    wl->cfg = cfg;
    wl->events = events;
}

static bool
watchlink_status(struct watchlink *wl, struct rbuf *r)
{
    uint8_t connected = rbuf_get_u8(r);
    char *remote = rbuf_get_str(r);
    char *error = rbuf_get_str(r);
    bool ok = rbuf_ok(r);

    if (ok) {
        if (connected && !wl->connected) {
            if (wl->ever_connected) {
                wl->reconnects++;
            }
            wl->ever_connected = true;
            /* It got as far as a connection: its next death earns a quick
             * restart again. */
            wl->quick_failures = 0;
            log_info("OVSDB %s: connected", remote ? remote : "");
        } else if (!connected && wl->connected) {
            log_warnx("OVSDB %s: disconnected%s%s", remote ? remote : "",
                      error && *error ? ": " : "", error ? error : "");
        }
        wl->connected = connected;
        snprintf(wl->remote, sizeof wl->remote, "%s", remote ? remote : "");
        snprintf(wl->last_error, sizeof wl->last_error, "%s", error ? error : "");
    }
    free(remote);
    free(error);
    return ok;
}

static bool
watchlink_handle(struct watchlink *wl, uint32_t type, const uint8_t *p, size_t len)
{
    struct rbuf r;
    uint64_t now = ctf_time_msec();

    rbuf_init(&r, p, len);
    wl->last_heard_ms = now;
    switch (type) {
    case WIRE_W_STATUS:
        return watchlink_status(wl, &r);
    case WIRE_W_SYNC_BEGIN:
        if (!rbuf_ok(&r)) {
            return false;
        }
        portevents_sync_begin(wl->events);
        wl->in_sync = true;
        return true;
    case WIRE_W_SYNC_END:
        if (!rbuf_ok(&r) || !wl->in_sync) {
            return false;
        }
        portevents_sync_end(wl->events, now);
        wl->in_sync = false;
        if (!wl->synced_once) {
            log_info("OVSDB: first snapshot: %zu port(s) known",
                     porttab_count(wl->events->ports));
        }
        wl->synced_once = true;
        return true;
    case WIRE_W_PORT:
    case WIRE_W_PORT_GONE: {
        struct port_info pi;
        port_info_init(&pi);
        rbuf_get_port_info(&r, &pi);
        bool ok = rbuf_ok(&r);
        if (ok && type == WIRE_W_PORT) {
            portevents_present(wl->events, &pi, now);
        } else if (ok) {
            portevents_gone(wl->events, &pi, now);
        }
        port_info_destroy(&pi);
        return ok;
    }
    default:
        return false;
    }
}

static void
watchlink_kill(struct watchlink *wl)
{
    if (wl->pid > 0) {
        kill(wl->pid, SIGKILL);
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
    struct watchlink *wl = aux;
    uint32_t type;

    if (proc_channel_dispatch(bufferevent_get_input(bev), watchlink_handle_cb, wl, &type)) {
        log_warnx("watcher %ld: malformed message (type %u): restarting it", (long) wl->pid,
                  type);
        bufferevent_disable(bev, EV_READ);
        watchlink_kill(wl);
    }
}

static void
watchlink_event_cb(struct bufferevent *bev, short what, void *aux)
{
    struct watchlink *wl = aux;

    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        watchlink_kill(wl);         /* The reaper restarts it. */
    }
}

static void
watchlink_restart_cb(evutil_socket_t fd, short what, void *aux)
{
    (void) fd;
    (void) what;
    watchlink_start(aux);
}

static void
watchlink_schedule_restart(struct watchlink *wl)
{
    struct timeval tv = ctf_timeval_ms(proc_backoff_ms(wl->quick_failures,
                                                       WATCHLINK_RESTART_MIN_MS,
                                                       WATCHLINK_RESTART_MAX_MS));

    evtimer_add(wl->restart_timer, &tv);
}

int
watchlink_start(struct watchlink *wl)
{
    struct watchlink_args *args;
    pid_t pid;
    int fd, err;

    if (wl->stopping || wl->pid > 0) {
        return 0;
    }
    if (!wl->restart_timer) {
        wl->restart_timer = evtimer_new(wl->base, watchlink_restart_cb, wl);
        if (!wl->restart_timer) {
            return ENOMEM;
        }
    }
    args = watchlink_args(wl->cfg);
    if (!args) {
        watchlink_schedule_restart(wl);
        return ENOMEM;
    }
    err = proc_spawn("ctflushd-ovsdb", watchlink_child_main, args, &pid, &fd);
    free(args);
    if (err) {
        log_warnx("watcher: cannot fork: %s", strerror(err));
        wl->quick_failures++;
        watchlink_schedule_restart(wl);
        return err;
    }
    wl->bev = bufferevent_socket_new(wl->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!wl->bev) {
        close(fd);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        wl->quick_failures++;
        watchlink_schedule_restart(wl);
        return ENOMEM;
    }
    bufferevent_setcb(wl->bev, watchlink_read_cb, NULL, watchlink_event_cb, wl);
    bufferevent_enable(wl->bev, EV_READ);
    wl->pid = pid;
    wl->in_sync = false;
    wl->connected = false;
    wl->last_heard_ms = ctf_time_msec();
    wl->starts++;
    log_debug("watcher %ld started for %s", (long) pid, wl->cfg->ovsdb);
    return 0;
}

bool
watchlink_reap(struct watchlink *wl, pid_t pid, int status)
{
    char how[64];

    if (pid <= 0 || pid != wl->pid) {
        return false;
    }
    if (wl->bev) {
        bufferevent_free(wl->bev);
        wl->bev = NULL;
    }
    wl->pid = 0;
    wl->connected = false;
    if (wl->in_sync) {
        /* Its snapshot will never end: the next watcher's starts over. */
        porttab_sync_abort(wl->events->ports);
        wl->in_sync = false;
    }
    if (wl->stopping) {
        return true;
    }
    proc_status_str(status, how, sizeof how);
    log_warnx("watcher %ld %s: restarting it", (long) pid, how);
    wl->quick_failures++;
    watchlink_schedule_restart(wl);
    return true;
}

void
watchlink_restart(struct watchlink *wl)
{
    watchlink_kill(wl);         /* The reaper starts the new one. */
}

void
watchlink_stop(struct watchlink *wl)
{
    wl->stopping = true;
    if (wl->pid > 0) {
        proc_stop(wl->pid, wl->bev ? bufferevent_getfd(wl->bev) : -1, PROC_STOP_GRACE_MS);
        wl->pid = 0;
    }
    if (wl->bev) {
        bufferevent_free(wl->bev);
        wl->bev = NULL;
    }
    if (wl->restart_timer) {
        event_free(wl->restart_timer);
        wl->restart_timer = NULL;
    }
}

bool
watchlink_healthy(const struct watchlink *wl)
{
    return wl->pid > 0 && ctf_time_msec() - wl->last_heard_ms < WATCHLINK_SILENT_MS;
}
