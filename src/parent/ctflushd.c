/*
 * ctflushd.c: the parent process (see ctflushd.h): start-up, signals,
 * sd_notify, reload, state saving and dispatch. `--oneshot` runs one job in
 * the foreground instead (oneshot.c).
 *
 * Processes:
 *   parent   this file: one libevent loop; owns the port table, the batch
 *            window, the job queue, the control socket and the state file.
 *            It never touches netlink or OVSDB and never waits on either.
 *   watcher  watcher.c: the libopenvswitch IDL; posts port events.
 *   worker   worker.c: the engine; runs the kernel table's jobs.
 *   userdp   userdp.c: ovs-vswitchd's table (netdev bridges), over its
 *            unixctl socket.
 */
#include "ctflushd.h"

#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "caps.h"
#include "log.h"
#include "num.h"
#include "oneshot.h"
#include "proc.h"
#include "wire.h"

/* Coalesces state saves: at most one serialisation per this many ms. */
#define CTFD_SAVE_DELAY_MS 100

static void ctfd_save_cb(evutil_socket_t, short, void *);
static void ctfd_dispatch(struct ctfd *);
static void ctfd_state_changed(struct ctfd *);
static void ctfd_reload(struct ctfd *, struct config_reload *);

static void
ctfd_job_params(const struct ctfd *d, struct wire_job_params *p)
{
    memset(p, 0, sizeof *p);
    p->strategy = d->cfg.strategy;
    p->max_local = (uint32_t) d->cfg.max_local;
    p->max_peers = (uint32_t) d->cfg.max_peers;
    p->batch_bytes = (uint32_t) d->cfg.batch_bytes;
    p->max_delete_rate = d->cfg.max_delete_rate;
    p->dump_threads = d->cfg.dump_threads;
    p->progress_interval_ms = 200;
}

static void
ctfd_dispatch_cb(evutil_socket_t fd, short what, void *aux)
{
    (void) fd;
    (void) what;
    ctfd_dispatch(aux);
}

/* The child that runs a datapath's jobs. */
static struct supervisor *
ctfd_backend(struct ctfd *d, enum flush_datapath dp)
{
    return dp == FLUSH_DATAPATH_NETDEV ? &d->userdp : &d->worker;
}

/* Hands the next group of dp's jobs to its child, if it is idle. */
static void
ctfd_dispatch_datapath(struct ctfd *d, enum flush_datapath dp, uint64_t now)
{
    struct wire_job_params params;
    struct qjob *group[JOBQ_GROUP_MAX_JOBS];
    uint64_t ids[JOBQ_GROUP_MAX_JOBS];
    const struct flush_job *jobs[JOBQ_GROUP_MAX_JOBS];
    struct supervisor *child = ctfd_backend(d, dp);

    if (!supervisor_is_idle(child)) {
        return;
    }
    /* Jobs may share the worker's pass unless each must run its own way: a
     * forced strategy, or a delete-rate cap (one job's deletes to pace). */
    bool share = d->cfg.strategy == CT_STRATEGY_AUTO && !d->cfg.max_delete_rate;
    size_t n = jobq_pick_group(&d->queue, now, dp, share, group, JOBQ_GROUP_MAX_JOBS);
    if (!n) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = group[i]->id;
        jobs[i] = &group[i]->job;
    }
    ctfd_job_params(d, &params);
    int err = supervisor_run(child, ids, jobs, n, &params);
    if (err) {
        log_warnx("job %llu%s: cannot hand it to the %s: %s", (unsigned long long) ids[0],
                  n > 1 ? " and others" : "", child->label, strerror(err));
        return;
    }
    double wall = ctf_time_wall();
    for (size_t i = 0; i < n; i++) {
        jobq_start(&d->queue, group[i], wall);
    }
    for (size_t i = 0; i < n; i++) {
        ctlcmd_job_event(&d->ctl, ids[i]);
    }
}

static void
ctfd_dispatch(struct ctfd *d)
{
    if (d->stopping || d->paused) {
        return;
    }
    uint64_t now = ctf_time_msec();
    ctfd_dispatch_datapath(d, FLUSH_DATAPATH_KERNEL, now);
    ctfd_dispatch_datapath(d, FLUSH_DATAPATH_NETDEV, now);
    /* Jobs backing off (of either table) are looked at again when the
     * first of them is due. */
    uint64_t next = jobq_next_ready_ms(&d->queue);
    if (next) {
        struct timeval tv = ctf_timeval_ms(next > now ? next - now : 0);
        evtimer_add(d->dispatch_timer, &tv);
    }
}

/* Supervisor callbacks. */
static void
ctfd_worker_idle(void *aux)
{
    ctfd_dispatch(aux);
}

static void
ctfd_worker_progress(uint64_t id, const struct engine_stats *st, void *aux)
{
    struct ctfd *d = aux;

    jobq_progress(&d->queue, id, st);
    ctlcmd_job_event(&d->ctl, id);
}

static void
ctfd_worker_done(uint64_t id, int err, bool retryable, bool stopped, const char *reason,
                 const char *strategies, const struct engine_stats *st, void *aux)
{
    struct ctfd *d = aux;
    const struct qjob *q;

    if (stopped) {
        /* We killed it: ctlcmd already decided whether the job is cancelled
         * or goes back to the queue (pause --now) and did it. Whatever else
         * that child ran goes back too; the other child's jobs go on. */
        q = jobq_find(&d->queue, id);
        if (q && q->state == JOB_RUNNING) {
            jobq_requeue_running_datapath(&d->queue, q->job.datapath);
        }
    } else {
        enum job_state state = jobq_finish(&d->queue, id, err, retryable, reason,
                                           strategies, st, ctf_time_msec(),
                                           ctf_time_wall());
        q = jobq_find(&d->queue, id);
        switch (state) {
        case JOB_DONE:
            if (q) {
                metrics_hist_observe(&d->job_duration, q->finished - q->started);
            }
            log_info("job %llu done: %llu deleted, %llu scanned, %s, %.0f ms",
                     (unsigned long long) id, (unsigned long long) st->deleted,
                     (unsigned long long) st->scanned, strategies, st->elapsed_ms);
            break;
        case JOB_QUEUED:
            log_warnx("job %llu: attempt %u failed (%s): will retry",
                      (unsigned long long) id, q ? q->attempts : 0, reason);
            break;
        default:
            log_warnx("job %llu failed for good: %s", (unsigned long long) id, reason);
            if (q) {
                metrics_hist_observe(&d->job_duration, q->finished - q->started);
            }
            break;
        }
    }
    ctlcmd_job_event(&d->ctl, id);
    ctfd_state_changed(d);
    /* A crashed worker is restarting; a retried job may be backing off. */
    ctfd_dispatch(d);
}

static const struct supervisor_ops ctfd_worker_ops = {
    .idle = ctfd_worker_idle,
    .progress = ctfd_worker_progress,
    .done = ctfd_worker_done,
};

/* State. */
static void
ctfd_state_changed(struct ctfd *d)
{
    d->state_dirty = true;
    if (d->save_timer && !evtimer_pending(d->save_timer, NULL)) {
        struct timeval tv = ctf_timeval_ms(CTFD_SAVE_DELAY_MS);
        evtimer_add(d->save_timer, &tv);
    }
}

/* Serialises and hands the snapshot to the writer thread. Returns false
 * when it cannot be done yet. */
static bool
ctfd_save(struct ctfd *d)
{
    struct json_out out;

    /* A port in the batch window is gone from the table but its job is not
     * queued yet: a snapshot now would lose its flush. The batch run that
     * queues the job asks for a save again. */
    if (batch_pending(&d->batch) && !d->stopping) {
        return false;
    }
    json_init(&out);
    state_serialize(&d->ports, &d->queue, &out);
    const char *text = json_text(&out);
    if (!text) {
        json_destroy(&out);
        log_warnx("state: out of memory serialising the state");
        return false;
    }
    /* Hand the buffer over instead of copying it. */
    char *buf = out.buf;
    size_t len = out.len;
    out.buf = NULL;
    json_destroy(&out);
    state_writer_submit(d->state, buf, len);
    d->state_dirty = false;
    return true;
}

static void
ctfd_save_cb(evutil_socket_t fd, short what, void *aux)
{
    struct ctfd *d = aux;

    (void) fd;
    (void) what;
    if (d->state_dirty && !ctfd_save(d)) {
        struct timeval tv = ctf_timeval_ms(CTFD_SAVE_DELAY_MS);
        evtimer_add(d->save_timer, &tv);
    }
}

/* What the port-event path needs of the daemon. */
static void
ctfd_pe_state_changed(void *aux)
{
    ctfd_state_changed(aux);
}

static void
ctfd_pe_queued(void *aux)
{
    ctfd_dispatch(aux);
}

static void
ctfd_batch_cb(evutil_socket_t fd, short what, void *aux)
{
    struct ctfd *d = aux;

    (void) fd;
    (void) what;
    portevents_batch_run(&d->events, ctf_time_msec(), ctf_time_wall(), false);
}

static void
ctfd_pe_batch_deadline(void *aux, uint64_t deadline_ms)
{
    struct ctfd *d = aux;

    if (!d->batch_timer) {
        d->batch_timer = evtimer_new(d->base, ctfd_batch_cb, d);
        if (!d->batch_timer) {
            return;
        }
    }
    uint64_t now = ctf_time_msec();
    struct timeval tv = ctf_timeval_ms(deadline_ms > now ? deadline_ms - now : 0);
    evtimer_add(d->batch_timer, &tv);
}

static const struct portevents_ops ctfd_portevents_ops = {
    .state_changed = ctfd_pe_state_changed,
    .queued = ctfd_pe_queued,
    .batch_deadline = ctfd_pe_batch_deadline,
};

/* What control commands need of the daemon. */
static void
ctfd_cc_view(void *aux, struct ctlcmd_view *v)
{
    struct ctfd *d = aux;

    v->uptime_s = (ctf_time_msec() - d->start_ms) / 1000.0;
    v->paused = d->paused;
    v->watch = &d->watch;
    v->worker = &d->worker;
    v->userdp = &d->userdp;
    state_writer_get_status(d->state, &v->state);
    v->state_at_start = d->state_load_msg;
    v->job_duration = &d->job_duration;
    v->http_listen = d->http ? d->cfg.metrics_listen : NULL;
    metricshttp_get_stats(d->http, &v->http);
}

static void
ctfd_cc_stop_running(void *aux)
{
    struct ctfd *d = aux;

    supervisor_stop_job(&d->worker);
    supervisor_stop_job(&d->userdp);
}

static void
ctfd_cc_cancel_running(void *aux, uint64_t id)
{
    struct ctfd *d = aux;

    /* The child that does not run it answers ENOENT. */
    supervisor_cancel_job(&d->worker, id);
    supervisor_cancel_job(&d->userdp, id);
}

static void
ctfd_cc_set_paused(void *aux, bool paused)
{
    struct ctfd *d = aux;

    d->paused = paused;
}

static void
ctfd_cc_reload(void *aux, struct config_reload *r)
{
    ctfd_reload(aux, r);
}

static const struct ctlcmd_ops ctfd_ctlcmd_ops = {
    .view = ctfd_cc_view,
    .dispatch = ctfd_pe_queued,
    .state_changed = ctfd_pe_state_changed,
    .stop_running = ctfd_cc_stop_running,
    .cancel_running = ctfd_cc_cancel_running,
    .set_paused = ctfd_cc_set_paused,
    .reload = ctfd_cc_reload,
};

/* Signals. libevent runs these from the loop, not in signal context. */
static void
ctfd_stop(struct ctfd *d, const char *why)
{
    if (d->stopping) {
        return;
    }
    log_info("%s: stopping", why);
    d->stopping = true;
    sdnotify_send(&d->notify, "STOPPING=1");
    event_base_loopexit(d->base, NULL);
}

static void
ctfd_reap(struct ctfd *d)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (!supervisor_reap(&d->worker, pid, status) && !supervisor_reap(&d->userdp, pid, status)
            && !watchlink_reap(&d->watch, pid, status)) {
            log_debug("reaped unknown child %ld", (long) pid);
        }
    }
}

static void
ctfd_signal_cb(evutil_socket_t sig, short what, void *aux)
{
    struct ctfd *d = aux;
    struct config_reload r;
    char msg[1024];

    (void) what;
    switch (sig) {
    case SIGTERM:
        ctfd_stop(d, "SIGTERM");
        break;
    case SIGINT:
        ctfd_stop(d, "SIGINT");
        break;
    case SIGHUP:
        ctfd_reload(d, &r);
        log_info("SIGHUP: %s", config_reload_describe(&r, msg, sizeof msg));
        break;
    case SIGCHLD:
        ctfd_reap(d);
        break;
    default:
        break;
    }
}

static void
ctfd_watchdog_cb(evutil_socket_t fd, short what, void *aux)
{
    struct ctfd *d = aux;
    char status[256];

    (void) fd;
    (void) what;
    /* This runs from the loop, so the loop is alive; the watcher must be
     * alive too, or OVSDB removals would silently go unseen. Without a ping
     * systemd restarts us, which restarts both. */
    if (watchlink_healthy(&d->watch)) {
        sdnotify_send(&d->notify, "WATCHDOG=1");
    } else {
        log_warnx("watchdog: the OVSDB watcher is silent: not pinging systemd");
    }
    snprintf(status, sizeof status,
             "STATUS=%zu ports, %zu jobs queued, %s%s", porttab_count(&d->ports),
             d->queue.n_queued, d->queue.running ? "flushing" : "idle",
             d->paused ? ", paused" : "");
    sdnotify_send(&d->notify, status);
}

static void
ctfd_limits(const struct ctf_config *cfg, struct jobq_limits *l, struct control_limits *cl)
{
    jobq_limits_default(l);
    l->max_jobs = cfg->queue_max_jobs;
    l->max_prefixes = cfg->queue_max_prefixes;
    l->max_local = cfg->max_local;
    l->max_peers = cfg->max_peers;
    l->history = cfg->history;
    l->max_attempts = cfg->max_attempts;
    l->backoff_base_ms = cfg->retry_base_ms;
    l->backoff_max_ms = cfg->retry_max_ms;
    cl->max_clients = cfg->max_clients;
    cl->max_request_bytes = cfg->max_request_bytes;
    cl->client_timeout_ms = cfg->client_timeout_ms;
    cl->max_output_bytes = 4u << 20;  /* control.c also caps the total. */
}

static bool
ctfd_watcher_settings_differ(const struct ctf_config *a, const struct ctf_config *b)
{
    if (strcmp(a->ovsdb, b->ovsdb) || a->zone_from_vlan_tag != b->zone_from_vlan_tag
        || (!a->zone_key) != (!b->zone_key) || (a->zone_key && strcmp(a->zone_key, b->zone_key))
        || a->n_iface_ip_keys != b->n_iface_ip_keys || a->n_port_ip_keys != b->n_port_ip_keys) {
        return true;
    }
    for (size_t i = 0; i < a->n_iface_ip_keys; i++) {
        if (strcmp(a->iface_ip_keys[i], b->iface_ip_keys[i])) {
            return true;
        }
    }
    for (size_t i = 0; i < a->n_port_ip_keys; i++) {
        if (strcmp(a->port_ip_keys[i], b->port_ip_keys[i])) {
            return true;
        }
    }
    return false;
}

#define CTFD_SWAP(A, B) do { __typeof__(A) tmp_ = (A); (A) = (B); (B) = tmp_; } while (0)

static void
ctfd_reload(struct ctfd *d, struct config_reload *r)
{
    struct ctf_config fresh;
    struct control_limits cl;

    memset(r, 0, sizeof *r);
    config_init(&fresh);
    if (config_build(&d->cli, &fresh, r->error, sizeof r->error)) {
        log_warnx("reload: %s", r->error);
        config_destroy(&fresh);
        return;
    }
    r->ok = true;
    config_restart_diff(&d->cfg, &fresh, r->restart_needed, sizeof r->restart_needed);
    /* Where things are stays as it was until a restart. */
    CTFD_SWAP(fresh.control, d->cfg.control);
    CTFD_SWAP(fresh.control_group, d->cfg.control_group);
    CTFD_SWAP(fresh.state_dir, d->cfg.state_dir);
    CTFD_SWAP(fresh.ovs_rundir, d->cfg.ovs_rundir);
    fresh.ovs_timeout_ms = d->cfg.ovs_timeout_ms;
    CTFD_SWAP(fresh.metrics_listen, d->cfg.metrics_listen);
    fresh.control_group_write = d->cfg.control_group_write;
    fresh.control_mode = d->cfg.control_mode;
    r->watcher_restarted = ctfd_watcher_settings_differ(&d->cfg, &fresh);

    CTFD_SWAP(fresh, d->cfg);
    config_destroy(&fresh);

    log_init("ctflushd", d->cfg.log_level, true);
    ctfd_limits(&d->cfg, &d->queue.limits, &cl);
    control_set_limits(d->control, &cl);
    d->batch.window_ms = d->cfg.batch_window_ms;
    d->events.flush_on_add = d->cfg.flush_on_add;
    supervisor_set_timeout(&d->worker, d->cfg.worker_timeout_ms);
    supervisor_set_timeout(&d->userdp, d->cfg.worker_timeout_ms);
    supervisor_set_nice(&d->worker, d->cfg.worker_nice);
    if (r->watcher_restarted) {
        /* The new watcher resyncs with the new rules. */
        watchlink_restart(&d->watch);
    }
}

static int
ctfd_make_state_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        return errno;
    }
    if (stat(dir, &st) < 0) {
        return errno;
    }
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

static void
ctfd_load_state(struct ctfd *d)
{
    char err[200];
    int rc = state_load(d->cfg.state_dir, &d->ports, &d->queue, err, sizeof err);

    switch (rc) {
    case 0:
        snprintf(d->state_load_msg, sizeof d->state_load_msg,
                 "loaded %zu port(s) and %zu owed job(s)", porttab_count(&d->ports),
                 d->queue.n_queued);
        log_info("state: %s from %s", d->state_load_msg, d->cfg.state_dir);
        break;
    case ENOENT:
        snprintf(d->state_load_msg, sizeof d->state_load_msg, "no state file: first start");
        log_info("state: none in %s: first start", d->cfg.state_dir);
        break;
    default:
        snprintf(d->state_load_msg, sizeof d->state_load_msg, "%s", err);
        log_warnx("state: %s: starting empty", err);
        break;
    }
}

static int
ctfd_open_control(struct ctfd *d)
{
    struct control_auth auth = { .group = (gid_t) -1, .group_write = d->cfg.control_group_write,
                                 .mode = d->cfg.control_mode };
    struct control_limits cl;
    struct jobq_limits unused;
    char err[256];

    if (d->cfg.control_group && *d->cfg.control_group) {
        uint64_t gid;
        if (num_parse_u64(d->cfg.control_group, NUM_DEC, 0, UINT32_MAX - 1, &gid, NULL, 0)) {
            struct group *gr = getgrnam(d->cfg.control_group);
            if (!gr) {
                log_warnx("control-group %s: no such group", d->cfg.control_group);
                return ENOENT;
            }
            gid = gr->gr_gid;
        }
        auth.group = (gid_t) gid;
    }
    ctfd_limits(&d->cfg, &unused, &cl);
    int rc = control_open(&d->control, d->base, d->cfg.control, &auth, &cl, ctlcmd_handle,
                          &d->ctl, err, sizeof err);
    if (rc) {
        log_warnx("control socket %s: %s", d->cfg.control, err);
    }
    d->ctl.control = d->control;
    return rc;
}

/* GET /metrics serves what `ctflushctl metrics` prints. */
static char *
ctfd_metrics_render(void *aux)
{
    struct ctfd *d = aux;

    return ctlcmd_metrics_text(&d->ctl);
}

static int
ctfd_open_metrics(struct ctfd *d)
{
    struct ctf_sockaddr sa;
    struct metricshttp_stats st;
    char err[256];
    int rc;

    if (!d->cfg.metrics_listen) {
        return 0;
    }
    /* config_set took it by the same rule: this cannot fail, but the
     * parsed form is not kept in the configuration. */
    if (ctf_sockaddr_parse(d->cfg.metrics_listen, &sa, err, sizeof err)) {
        log_warnx("metrics-listen %s: %s", d->cfg.metrics_listen, err);
        return EINVAL;
    }
    rc = metricshttp_open(&d->http, d->base, &sa, NULL, ctfd_metrics_render, d, err,
                          sizeof err);
    if (rc) {
        log_warnx("metrics-listen %s: %s", d->cfg.metrics_listen, err);
        return rc;
    }
    metricshttp_get_stats(d->http, &st);
    log_info("metrics: serving http://%s/metrics", st.address);
    return 0;
}

static int
ctfd_events(struct ctfd *d)
{
    const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };

    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        d->sig_events[i] = evsignal_new(d->base, sigs[i], ctfd_signal_cb, d);
        if (!d->sig_events[i] || evsignal_add(d->sig_events[i], NULL)) {
            return ENOMEM;
        }
    }
    d->dispatch_timer = evtimer_new(d->base, ctfd_dispatch_cb, d);
    d->save_timer = evtimer_new(d->base, ctfd_save_cb, d);
    if (!d->dispatch_timer || !d->save_timer) {
        return ENOMEM;
    }
    if (d->notify.watchdog_usec) {
        uint64_t ms = d->notify.watchdog_usec / 2000;
        struct timeval tv = ctf_timeval_ms(ms ? ms : 1);
        d->watchdog_timer = event_new(d->base, -1, EV_PERSIST, ctfd_watchdog_cb, d);
        if (!d->watchdog_timer || evtimer_add(d->watchdog_timer, &tv)) {
            return ENOMEM;
        }
    }
    return 0;
}

static void
ctfd_free_event(struct event **ev)
{
    if (*ev) {
        event_free(*ev);
        *ev = NULL;
    }
}

static void
ctfd_shutdown(struct ctfd *d)
{
    d->stopping = true;
    metricshttp_close(d->http);
    d->http = NULL;
    control_close(d->control);
    d->control = NULL;
    d->ctl.control = NULL;
    supervisor_shutdown(&d->worker);
    supervisor_shutdown(&d->userdp);
    watchlink_stop(&d->watch);
    /* Removals still in the batch window become queued jobs, so the saved
     * state owes them; the last snapshot is written before we exit. */
    portevents_batch_run(&d->events, ctf_time_msec(), ctf_time_wall(), true);
    if (d->state) {
        ctfd_save(d);
        state_writer_stop(d->state);
        d->state = NULL;
    }
    for (size_t i = 0; i < sizeof d->sig_events / sizeof d->sig_events[0]; i++) {
        ctfd_free_event(&d->sig_events[i]);
    }
    ctfd_free_event(&d->batch_timer);
    ctfd_free_event(&d->dispatch_timer);
    ctfd_free_event(&d->save_timer);
    ctfd_free_event(&d->watchdog_timer);
    sdnotify_close(&d->notify);
    batch_destroy(&d->batch);
    jobq_destroy(&d->queue);
    porttab_destroy(&d->ports);
    config_destroy(&d->cfg);
    config_cli_destroy(&d->cli);
    event_base_free(d->base);
}

static int
ctfd_main(int argc, char *argv[])
{
    struct ctfd d;
    struct jobq_limits limits;
    struct control_limits cl;
    struct worker_config wcfg;
    char err[512];
    int rc;

    memset(&d, 0, sizeof d);
    if (config_parse_cli(argc, argv, &d.cli, err, sizeof err)) {
        fprintf(stderr, "ctflushd: %s\n", err);
        fprintf(stderr, "Try 'ctflushd --help'.\n");
        return 2;
    }
    if (d.cli.help) {
        config_usage(stdout);
        config_cli_destroy(&d.cli);
        return 0;
    }
    if (d.cli.version) {
        printf("ctflushd %s\n", CTF_VERSION);
        config_cli_destroy(&d.cli);
        return 0;
    }
    config_init(&d.cfg);
    if (config_build(&d.cli, &d.cfg, err, sizeof err)) {
        fprintf(stderr, "ctflushd: %s\n", err);
        config_destroy(&d.cfg);
        config_cli_destroy(&d.cli);
        return 2;
    }
    if (d.cli.print_config) {
        config_dump(&d.cfg, stdout);
        config_destroy(&d.cfg);
        config_cli_destroy(&d.cli);
        return fflush(stdout) ? 1 : 0;
    }
    log_init("ctflushd", d.cfg.log_level, true);
    if (!caps_have_net_admin()) {
        log_warnx("CAP_NET_ADMIN is needed to change the conntrack table");
        config_destroy(&d.cfg);
        config_cli_destroy(&d.cli);
        return 4;
    }
    /* The parent uses no capability itself. It keeps the ones its children
     * need as permitted only, to hand them over when it forks them again:
     * the worker's (worker.c) and the watcher's optional CAP_DAC_OVERRIDE
     * (watchlink.c). Before any thread exists: capabilities are per thread. */
    rc = caps_limit(CAPS_BIT(CAP_NET_ADMIN) | CAPS_BIT(CAP_SYS_ADMIN)
                         | CAPS_BIT(CAP_DAC_OVERRIDE), 0);
    if (rc) {
        log_warnx("cannot drop capabilities: %s", strerror(rc));
        config_destroy(&d.cfg);
        config_cli_destroy(&d.cli);
        return 1;
    }
    /* A client that hangs up must cost us an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);

    d.start_wall = ctf_time_wall();
    d.start_ms = ctf_time_msec();
    porttab_init(&d.ports);
    ctfd_limits(&d.cfg, &limits, &cl);
    jobq_init(&d.queue, &limits);
    batch_init(&d.batch, d.cfg.batch_window_ms);
    metrics_hist_init(&d.job_duration);
    portevents_init(&d.events, &d.ports, &d.batch, &d.queue, &ctfd_portevents_ops, &d);
    d.events.flush_on_add = d.cfg.flush_on_add;
    if ((rc = sdnotify_open(&d.notify)) != 0) {
        log_warnx("NOTIFY_SOCKET/WATCHDOG_*: %s: %s", strerror(rc),
                  d.notify.fd >= 0 ? "no watchdog" : "not notifying systemd");
    }

    d.base = event_base_new();
    if (!d.base) {
        fatalx("cannot create the event loop");
    }
    watchlink_init(&d.watch, d.base, &d.cfg, &d.events);
    d.ctl = (struct ctlcmd) { .queue = &d.queue, .ports = &d.ports, .events = &d.events,
                              .batch = &d.batch, .ops = &ctfd_ctlcmd_ops, .aux = &d };
    rc = ctfd_make_state_dir(d.cfg.state_dir);
    if (rc) {
        log_warnx("state-dir %s: %s", d.cfg.state_dir, strerror(rc));
        goto out;
    }
    ctfd_load_state(&d);
    if ((rc = state_writer_start(&d.state, d.cfg.state_dir)) != 0) {
        log_warnx("state writer: %s", strerror(rc));
        goto out;
    }
    if ((rc = ctfd_events(&d)) != 0 || (rc = ctfd_open_control(&d)) != 0
        || (rc = ctfd_open_metrics(&d)) != 0) {
        goto out;
    }
    memset(&wcfg, 0, sizeof wcfg);
    wcfg.nice = d.cfg.worker_nice;
    wcfg.probe = true;
    snprintf(wcfg.probe_cache, sizeof wcfg.probe_cache, "%s/%s", d.cfg.state_dir,
             WORKER_PROBE_CACHE_NAME);
    if ((rc = supervisor_init(&d.worker, d.base, &ctfd_worker_ops, &d, &wcfg,
                              d.cfg.worker_timeout_ms)) != 0) {
        goto out;
    }
    supervisor_start(&d.worker);
    /* ovs-vswitchd's table: the same supervision, another child. */
    snprintf(d.ucfg.rundir, sizeof d.ucfg.rundir, "%s", d.cfg.ovs_rundir);
    d.ucfg.timeout_ms = d.cfg.ovs_timeout_ms;
    if ((rc = supervisor_init(&d.userdp, d.base, &ctfd_worker_ops, &d, &wcfg,
                              d.cfg.worker_timeout_ms)) != 0) {
        goto out;
    }
    supervisor_set_child(&d.userdp, "userdp", "ctflushd-udp", userdp_main, &d.ucfg);
    supervisor_start(&d.userdp);
    watchlink_start(&d.watch);

    log_info("ctflushd %s: watching %s, control %s, state %s", CTF_VERSION, d.cfg.ovsdb,
             d.cfg.control, d.cfg.state_dir);
    sdnotify_send(&d.notify, "READY=1\nSTATUS=watching OVSDB");
    event_base_dispatch(d.base);
    rc = 0;
out:
    ctfd_shutdown(&d);
    return rc ? 1 : 0;
}

int
main(int argc, char *argv[])
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--oneshot")) {
            return oneshot_main(argc, argv);
        }
    }
    return ctfd_main(argc, argv);
}
