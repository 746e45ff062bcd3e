/*
 * ctlcmd.c: what each control command does (see ctlcmd.h).
 */
#include "ctlcmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "control.h"
#include "jobq.h"
#include "jobrun.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "portevents.h"
#include "porttab.h"
#include "supervisor.h"
#include "watchlink.h"

/* What this daemon understands beyond the first protocol, for clients that
 * must not send a request an older daemon would carry out differently
 * (docs/protocol.md, "status"). */
static const char *const ctlcmd_features[] = {
    "set-ips-zone",             /* set-ips "zone" */
    "set-ips-migrating",        /* set-ips "migrating" */
    "shared-addresses",         /* held-back addresses, "shared", "live_holders" */
    "flush-selectors",          /* flush "direction", "tuple", "proto", "dport", "family" */
    "datapaths",                /* "datapath" on jobs, ports and flush; status "userdp" */
};

/* Prefixes shown per side of a job; the count says how many there are. */
#define CTLCMD_SHOWN_PREFIXES 16

static void
ctlcmd_time(struct json_out *o, const char *key, double t)
{
    json_key(o, key);
    if (t > 0) {
        json_double(o, t);
    } else {
        json_null_value(o);
    }
}

static void
ctlcmd_job(struct json_out *o, const struct qjob *q)
{
    const struct engine_stats *st = &q->stats;

    json_object_begin(o);
    json_key(o, "id");
    json_u64(o, q->id);
    json_key(o, "origin");
    json_str(o, job_origin_name(q->origin));
    json_key(o, "state");
    json_str(o, job_state_name(q->state));
    json_key(o, "local");
    json_prefixes(o, &q->job.local, q->job.local_any, CTLCMD_SHOWN_PREFIXES);
    json_key(o, "local_count");
    json_u64(o, q->job.local_any ? 0 : q->job.local.n);
    json_key(o, "peers");
    json_prefixes(o, &q->job.peers, q->job.peers_any, CTLCMD_SHOWN_PREFIXES);
    json_key(o, "peers_count");
    json_u64(o, q->job.peers_any ? 0 : q->job.peers.n);
    json_key(o, "zone");
    json_u64_or_null(o, q->job.has_zone, q->job.zone);
    json_key(o, "datapath");
    json_str(o, flush_datapath_name(q->job.datapath));
    json_key(o, "direction");
    json_str(o, flush_direction_name(q->job.direction));
    json_key(o, "tuple");
    json_str(o, flush_tuple_name(q->job.tuple));
    json_key(o, "proto");
    if (!q->job.proto || flush_proto_name(q->job.proto)) {
        json_str(o, flush_proto_name(q->job.proto));
    } else {
        json_u64(o, q->job.proto);
    }
    json_key(o, "dport");
    if (q->job.has_dport) {
        char range[16];
        snprintf(range, sizeof range, "%u-%u", q->job.dport_lo, q->job.dport_hi);
        json_str(o, range);
    } else {
        json_null_value(o);
    }
    json_key(o, "family");
    json_str(o, flush_family_name(q->job.family));
    json_key(o, "ports");
    json_array_begin(o);
    for (size_t i = 0; i < q->n_port_names; i++) {
        json_str(o, q->ports[i]);
    }
    json_array_end(o);
    json_key(o, "n_ports");
    json_u64(o, q->n_ports);
    json_key(o, "attempts");
    json_u64(o, q->attempts);
    ctlcmd_time(o, "created", q->created);
    ctlcmd_time(o, "started", q->started);
    ctlcmd_time(o, "finished", q->finished);
    json_key(o, "duration_s");
    if (q->started > 0 && q->finished > 0) {
        json_double(o, q->finished - q->started);
    } else if (q->state == JOB_RUNNING) {
        json_double(o, st->elapsed_ms / 1000.0);
    } else {
        json_null_value(o);
    }
    json_key(o, "strategy");
    json_str(o, q->strategy[0] ? q->strategy
             : (q->state == JOB_RUNNING && st->strategy ? ct_strategy_name(st->strategy) : ""));
    json_key(o, "scanned");
    json_u64(o, st->scanned);
    json_key(o, "matched");
    json_u64(o, st->matched);
    json_key(o, "deleted");
    json_u64(o, st->deleted);
    json_key(o, "already_gone");
    json_u64(o, st->already_gone);
    json_key(o, "errors");
    json_u64(o, st->errors);
    json_key(o, "shared");
    json_u64(o, st->shared > 1 ? st->shared : 1);
    json_key(o, "rate");
    json_double(o, st->elapsed_ms > 0 ? st->deleted * 1000.0 / st->elapsed_ms : 0.0);
    json_key(o, "error");
    json_str(o, q->error);
    json_key(o, "held");
    json_array_begin(o);
    for (size_t i = 0; i < q->n_held; i++) {
        const struct job_held *h = &q->held[i];
        char a[CTF_PREFIX_STRLEN];
        json_object_begin(o);
        json_key(o, "ip");
        json_str(o, ctf_prefix_format(&h->addr, a));
        json_key(o, "zone");
        json_u64_or_null(o, h->has_zone, h->zone);
        json_key(o, "reason");
        json_str(o, job_held_reason_name(h->reason));
        json_key(o, "port");
        json_str(o, h->port);
        json_object_end(o);
    }
    json_array_end(o);
    json_key(o, "held_count");
    json_u64(o, q->n_held_total);
    json_object_end(o);
}

/* The live ports that hold an address in a zone (docs/protocol.md: a port's
 * "shared" list and a flush's "live_holders"). */
struct ctlcmd_holders {
    struct json_out *o;
    size_t n;
};

static bool
ctlcmd_holder_name(const struct porttab_entry *e, void *aux)
{
    struct ctlcmd_holders *h = aux;

    json_str(h->o, e->effective.name);
    h->n++;
    return h->n < CTLCMD_SHOWN_PREFIXES;
}

static void
ctlcmd_send(struct control_client *c, struct json_out *o)
{
    const char *text = json_text(o);

    if (text) {
        control_reply(c, text);
    } else {
        control_reply_error(c, CTL_E_INTERNAL, "out of memory");
    }
    json_destroy(o);
}

/* A job-running child (the worker, the userdp child) in status. */
static void
ctlcmd_child(struct json_out *o, const struct supervisor *wk)
{
    json_object_begin(o);
    json_key(o, "pid");
    json_u64(o, (uint64_t) (wk->pid > 0 ? wk->pid : 0));
    json_key(o, "state");
    json_str(o, supervisor_state_name(wk->state));
    json_key(o, "starts");
    json_u64(o, wk->starts);
    json_key(o, "crashes");
    json_u64(o, wk->crashes);
    json_key(o, "hangs");
    json_u64(o, wk->hangs);
    json_key(o, "last_exit");
    json_str(o, wk->last_exit);
    json_key(o, "caps");
    json_str(o, wk->caps);
    json_object_end(o);
}

static void
ctlcmd_status(struct ctlcmd *cc, struct json_out *o)
{
    struct ctlcmd_view v;
    struct control_stats cs;

    memset(&v, 0, sizeof v);
    cc->ops->view(cc->aux, &v);
    control_get_stats(cc->control, &cs);
    const struct watchlink *w = v.watch;
    const struct supervisor *wk = v.worker;
    json_object_begin(o);
    json_key(o, "version");
    json_str(o, CTF_VERSION);
    json_key(o, "uptime_s");
    json_double(o, v.uptime_s);
    json_key(o, "features");
    json_array_begin(o);
    for (size_t i = 0; i < sizeof ctlcmd_features / sizeof *ctlcmd_features; i++) {
        json_str(o, ctlcmd_features[i]);
    }
    json_array_end(o);
    json_key(o, "pid");
    json_u64(o, (uint64_t) getpid());
    json_key(o, "ovsdb_connected");
    json_bool(o, w->connected);
    json_key(o, "ovsdb");
    json_object_begin(o);
    json_key(o, "remote");
    json_str(o, w->cfg ? w->cfg->ovsdb : "");
    json_key(o, "connected");
    json_bool(o, w->connected);
    json_key(o, "synced");
    json_bool(o, w->synced_once);
    json_key(o, "last_error");
    json_str(o, w->last_error);
    json_key(o, "reconnects");
    json_u64(o, w->reconnects);
    json_key(o, "watcher_pid");
    json_u64(o, (uint64_t) (w->pid > 0 ? w->pid : 0));
    json_key(o, "watcher_restarts");
    json_u64(o, w->starts ? w->starts - 1 : 0);
    json_object_end(o);
    json_key(o, "ports");
    json_u64(o, porttab_count(cc->ports));
    json_key(o, "queue_depth");
    json_u64(o, cc->queue->n_queued);
    json_key(o, "queue_prefixes");
    json_u64(o, cc->queue->n_prefixes);
    json_key(o, "batch_pending");
    json_u64(o, batch_pending(cc->batch));
    json_key(o, "paused");
    json_bool(o, v.paused);
    json_key(o, "running");
    if (cc->queue->running) {
        ctlcmd_job(o, cc->queue->running);
    } else {
        json_null_value(o);
    }
    json_key(o, "running_jobs");
    json_u64(o, cc->queue->n_running);
    json_key(o, "jobs_done");
    json_u64(o, cc->queue->counters.done);
    json_key(o, "jobs_failed");
    json_u64(o, cc->queue->counters.failed);
    json_key(o, "jobs_cancelled");
    json_u64(o, cc->queue->counters.cancelled);
    json_key(o, "entries_deleted");
    json_u64(o, cc->queue->counters.entries_deleted);
    json_key(o, "port_removals");
    json_u64(o, cc->events->counters.port_removals);
    json_key(o, "replugs_cancelled");
    json_u64(o, cc->batch->replugs_cancelled);
    json_key(o, "addresses_held_back");
    json_u64(o, cc->events->counters.held_back);
    json_key(o, "worker");
    ctlcmd_child(o, wk);
    /* ovs-vswitchd's table (netdev bridges): its own child, same shape. */
    json_key(o, "userdp");
    if (v.userdp) {
        ctlcmd_child(o, v.userdp);
    } else {
        json_null_value(o);
    }
    json_key(o, "state");
    json_object_begin(o);
    json_key(o, "ok");
    json_bool(o, v.state.last_error == 0);
    json_key(o, "error");
    json_str(o, v.state.last_error ? v.state.last_error_msg : "");
    json_key(o, "writes");
    json_u64(o, v.state.writes);
    json_key(o, "at_start");
    json_str(o, v.state_at_start ? v.state_at_start : "");
    json_object_end(o);
    json_key(o, "control_clients");
    json_u64(o, cs.clients);
    json_key(o, "metrics_http");
    if (v.http_listen) {
        json_object_begin(o);
        json_key(o, "listen");
        json_str(o, v.http_listen);
        json_key(o, "address");
        json_str(o, v.http.address);
        json_key(o, "connections");
        json_u64(o, v.http.connections);
        json_key(o, "scrapes");
        json_u64(o, v.http.scrapes);
        json_key(o, "not_found");
        json_u64(o, v.http.not_found);
        json_key(o, "bad_method");
        json_u64(o, v.http.bad_method);
        json_object_end(o);
    } else {
        json_null_value(o);
    }
    json_object_end(o);
}

static void
ctlcmd_jobs(struct ctlcmd *cc, struct json_out *o, unsigned int limit)
{
    unsigned int n = 0;

    json_object_begin(o);
    json_key(o, "queued");
    json_array_begin(o);
    for (const struct qjob *q = cc->queue->queue; q; q = q->next) {
        ctlcmd_job(o, q);
    }
    json_array_end(o);
    json_key(o, "running");
    if (cc->queue->running) {
        ctlcmd_job(o, cc->queue->running);
    } else {
        json_null_value(o);
    }
    /* A group of jobs runs at once: "running" is its first, this all. */
    json_key(o, "running_all");
    json_array_begin(o);
    for (const struct qjob *q = cc->queue->running; q; q = q->next) {
        ctlcmd_job(o, q);
    }
    json_array_end(o);
    json_key(o, "finished");
    json_array_begin(o);
    for (const struct qjob *q = cc->queue->history; q && n < limit; q = q->next, n++) {
        ctlcmd_job(o, q);
    }
    json_array_end(o);
    json_object_end(o);
}

static void
ctlcmd_ports(struct ctlcmd *cc, struct json_out *o)
{
    size_t n = 0;
    const struct porttab_entry **all = porttab_sorted(cc->ports, &n);

    json_object_begin(o);
    json_key(o, "ports");
    json_array_begin(o);
    for (size_t i = 0; i < n; i++) {
        const struct port_info *pi = &all[i]->effective;
        json_object_begin(o);
        json_key(o, "name");
        json_str(o, pi->name);
        json_key(o, "iface_id");
        json_str_or_null(o, pi->iface_id);
        json_key(o, "bridge");
        json_str_or_null(o, pi->bridge);
        json_key(o, "ofport");
        json_i64(o, pi->ofport);
        json_key(o, "ips");
        json_prefixes(o, &pi->ips, false, 0);
        json_key(o, "ip_source");
        json_str(o, port_ip_source_name(pi->ip_source));
        json_key(o, "zone");
        json_u64_or_null(o, pi->has_zone, pi->zone);
        json_key(o, "zone_source");
        json_str(o, port_zone_source_name(pi->zone_source));
        json_key(o, "datapath");
        json_str(o, flush_datapath_name(pi->datapath));
        json_key(o, "in_ovsdb");
        json_bool(o, all[i]->in_ovsdb);
        json_key(o, "migrating");
        json_bool(o, all[i]->migrating);
        json_key(o, "control_ips");
        if (all[i]->has_control_ips) {
            json_prefixes(o, &all[i]->control_ips, false, 0);
        } else {
            json_null_value(o);
        }
        /* Its addresses that another port holds where its own flush would
         * reach: they outlive this port's removal. */
        json_key(o, "shared");
        json_array_begin(o);
        for (size_t k = 0; k < pi->ips.n; k++) {
            if (porttab_holders(cc->ports, &pi->ips.items[k], pi->has_zone, pi->zone,
                                pi->name, NULL, NULL)) {
                char a[CTF_PREFIX_STRLEN];
                json_str(o, ctf_prefix_format(&pi->ips.items[k], a));
            }
        }
        json_array_end(o);
        json_object_end(o);
    }
    json_array_end(o);
    json_object_end(o);
    free(all);
}

char *
ctlcmd_metrics_text(struct ctlcmd *cc)
{
    struct metrics_view m;
    struct ctlcmd_view v;
    struct control_stats cs;

    memset(&v, 0, sizeof v);
    memset(&m, 0, sizeof m);
    cc->ops->view(cc->aux, &v);
    control_get_stats(cc->control, &cs);
    m.uptime_seconds = v.uptime_s;
    m.ports = porttab_count(cc->ports);
    m.queue_jobs = cc->queue->n_queued;
    m.queue_prefixes = cc->queue->n_prefixes;
    m.running = cc->queue->running != NULL;
    m.userdp_running = jobq_datapath_running(cc->queue, FLUSH_DATAPATH_NETDEV);
    m.paused = v.paused;
    m.ovsdb_connected = v.watch->connected;
    m.state_ok = v.state.last_error == 0;
    m.control_clients = cs.clients;
    m.jobs_done = cc->queue->counters.done;
    m.jobs_failed = cc->queue->counters.failed;
    m.jobs_cancelled = cc->queue->counters.cancelled;
    m.job_retries = cc->queue->counters.retries;
    m.jobs_merged = cc->queue->counters.merged;
    m.entries_deleted = cc->queue->counters.entries_deleted;
    m.entries_scanned = cc->queue->counters.entries_scanned;
    m.port_removals = cc->events->counters.port_removals;
    m.port_adds = cc->events->counters.port_adds;
    m.replugs_cancelled = cc->batch->replugs_cancelled;
    m.addresses_held_back = cc->events->counters.held_back;
    m.worker_starts = v.worker->starts;
    m.worker_crashes = v.worker->crashes;
    m.worker_hangs = v.worker->hangs;
    if (v.userdp) {
        m.userdp_starts = v.userdp->starts;
        m.userdp_crashes = v.userdp->crashes;
        m.userdp_hangs = v.userdp->hangs;
    }
    m.watcher_restarts = v.watch->starts ? v.watch->starts - 1 : 0;
    m.ovsdb_reconnects = v.watch->reconnects;
    m.control_requests = cs.requests;
    m.control_errors = cs.errors;
    m.state_writes = v.state.writes;
    m.state_write_failures = v.state.failures;
    m.job_duration = v.job_duration;
    return metrics_format(&m);
}

static void
ctlcmd_metrics(struct ctlcmd *cc, struct json_out *o)
{
    char *text = ctlcmd_metrics_text(cc);

    json_object_begin(o);
    json_key(o, "text");
    json_str(o, text ? text : "");
    json_object_end(o);
    free(text);
}

/* Writes {"event":"end",...} for a client whose jobs have all finished, or
 * a progress event; returns true when the client is done waiting. */
static bool
ctlcmd_watch_report(struct ctlcmd *cc, struct control_client *c, uint64_t changed_id)
{
    size_t n = 0;
    const uint64_t *ids = control_client_watched(c, &n);
    bool all_done = true, all_ok = true;
    struct json_out o;

    for (size_t i = 0; i < n; i++) {
        const struct qjob *q = jobq_find(cc->queue, ids[i]);
        if (!q) {
            all_ok = false;     /* Fell out of the history: cannot vouch. */
            continue;
        }
        if (q->state == JOB_QUEUED || q->state == JOB_RUNNING) {
            all_done = false;
        } else if (q->state != JOB_DONE) {
            all_ok = false;
        }
    }
    json_init(&o);
    json_object_begin(&o);
    json_key(&o, "event");
    if (all_done) {
        json_str(&o, "end");
        json_key(&o, "ok");
        json_bool(&o, all_ok);
        json_key(&o, "jobs");
        json_array_begin(&o);
        for (size_t i = 0; i < n; i++) {
            const struct qjob *q = jobq_find(cc->queue, ids[i]);
            if (q) {
                ctlcmd_job(&o, q);
            }
        }
        json_array_end(&o);
    } else {
        const struct qjob *q = jobq_find(cc->queue, changed_id);
        json_str(&o, "progress");
        json_key(&o, "job");
        if (q) {
            ctlcmd_job(&o, q);
        } else {
            json_null_value(&o);
        }
    }
    json_object_end(&o);
    ctlcmd_send(c, &o);
    if (all_done) {
        control_client_unwatch(c);
    }
    return all_done;
}

struct ctlcmd_event {
    struct ctlcmd *cc;
    uint64_t id;
};

static void
ctlcmd_event_client(struct control_client *c, void *aux)
{
    struct ctlcmd_event *ev = aux;
    size_t n = 0;
    const uint64_t *ids = control_client_watched(c, &n);

    for (size_t i = 0; i < n; i++) {
        if (ids[i] == ev->id) {
            ctlcmd_watch_report(ev->cc, c, ev->id);
            return;
        }
    }
}

void
ctlcmd_job_event(struct ctlcmd *cc, uint64_t job_id)
{
    struct ctlcmd_event ev = { cc, job_id };

    if (cc->control) {
        control_foreach_watching(cc->control, ctlcmd_event_client, &ev);
    }
}

/* A manual flush is the operator's word and is not filtered, but its reply
 * says which of its local addresses live ports hold in its zone. */
static void
ctlcmd_live_holders(struct ctlcmd *cc, struct json_out *o, const struct flush_job *job)
{
    size_t shown = 0;

    json_key(o, "live_holders");
    json_array_begin(o);
    for (size_t i = 0; !job->local_any && i < job->local.n && shown < CTLCMD_SHOWN_PREFIXES;
         i++) {
        const struct ctf_prefix *p = &job->local.items[i];
        if (!porttab_holders(cc->ports, p, job->has_zone, job->zone, NULL, NULL, NULL)) {
            continue;
        }
        struct ctlcmd_holders h = { o, 0 };
        char a[CTF_PREFIX_STRLEN];
        json_object_begin(o);
        json_key(o, "ip");
        json_str(o, ctf_prefix_format(p, a));
        json_key(o, "ports");
        json_array_begin(o);
        porttab_holders(cc->ports, p, job->has_zone, job->zone, NULL, ctlcmd_holder_name, &h);
        json_array_end(o);
        json_object_end(o);
        shown++;
    }
    json_array_end(o);
}

static void
ctlcmd_flush(struct ctlcmd *cc, struct control_client *c, struct ctlproto_request *req)
{
    char err[256] = "";
    uint64_t first = 0;
    bool merged = false;
    int rc = jobq_add(cc->queue, JOB_ORIGIN_MANUAL, &req->job, NULL, 0, ctf_time_wall(),
                      &first, &merged, err, sizeof err);

    if (rc == ENOSPC) {
        control_reply_error(c, CTL_E_QUEUE_FULL, err[0] ? err : "the job queue is full");
        return;
    }
    if (rc) {
        control_reply_error(c, rc == EINVAL ? CTL_E_BAD_REQUEST : CTL_E_INTERNAL,
                            err[0] ? err : strerror(rc));
        return;
    }
    /* Chunks of one job get consecutive ids from first on. */
    uint64_t ids[4096];
    size_t n = 0;
    if (merged) {
        ids[n++] = first;
    } else {
        for (uint64_t id = first; id < cc->queue->next_id && n < 4096; id++) {
            ids[n++] = id;
        }
    }
    log_info("control: pid %ld uid %ld queued manual job %llu%s", (long) control_client_pid(c),
             (long) control_client_uid(c), (unsigned long long) first,
             merged ? " (merged)" : "");

    struct json_out o;
    json_init(&o);
    ctlproto_reply_ok_begin(&o);
    json_object_begin(&o);
    json_key(&o, "jobs");
    json_array_begin(&o);
    for (size_t i = 0; i < n; i++) {
        json_u64(&o, ids[i]);
    }
    json_array_end(&o);
    json_key(&o, "merged");
    json_bool(&o, merged);
    ctlcmd_live_holders(cc, &o, &req->job);
    json_object_end(&o);
    ctlproto_reply_end(&o);
    ctlcmd_send(c, &o);

    cc->ops->state_changed(cc->aux);
    if (req->wait) {
        if (control_client_watch(c, ids, n)) {
            control_reply_error(c, CTL_E_INTERNAL, "out of memory");
        }
    }
    cc->ops->dispatch(cc->aux);
    if (req->wait && cc->control) {
        /* It may already be over (merged into a finished one, or refused). */
        size_t nw = 0;
        if (control_client_watched(c, &nw) && nw) {
            bool over = true;
            for (size_t i = 0; i < n; i++) {
                const struct qjob *q = jobq_find(cc->queue, ids[i]);
                if (q && (q->state == JOB_QUEUED || q->state == JOB_RUNNING)) {
                    over = false;
                }
            }
            if (over) {
                ctlcmd_watch_report(cc, c, first);
            }
        }
    }
}

static void
ctlcmd_cancel(struct ctlcmd *cc, struct control_client *c, uint64_t id)
{
    const char *state = "cancelled";
    int rc = jobq_cancel(cc->queue, id, ctf_time_wall());

    if (rc == EBUSY) {
        /* Running: record the cancel, then tell the worker to stop that
         * job (the others it runs go on). Its done() callback sees the job
         * is no longer running. */
        jobq_cancel_running(cc->queue, id, ctf_time_wall());
        cc->ops->cancel_running(cc->aux, id);
    } else if (rc == ENOENT) {
        const struct qjob *q = jobq_find(cc->queue, id);
        if (!q) {
            control_reply_error(c, CTL_E_NOT_FOUND, "no such job");
        } else {
            char msg[96];
            snprintf(msg, sizeof msg, "job %llu is already %s", (unsigned long long) id,
                     job_state_name(q->state));
            control_reply_error(c, CTL_E_BUSY, msg);
        }
        return;
    } else if (rc) {
        control_reply_error(c, CTL_E_INTERNAL, strerror(rc));
        return;
    }
    log_info("control: uid %ld cancelled job %llu", (long) control_client_uid(c),
             (unsigned long long) id);
    ctlcmd_job_event(cc, id);
    cc->ops->state_changed(cc->aux);

    struct json_out o;
    json_init(&o);
    ctlproto_reply_ok_begin(&o);
    json_object_begin(&o);
    json_key(&o, "id");
    json_u64(&o, id);
    json_key(&o, "state");
    json_str(&o, state);
    json_object_end(&o);
    ctlproto_reply_end(&o);
    ctlcmd_send(c, &o);
}

static void
ctlcmd_pause(struct ctlcmd *cc, struct control_client *c, bool now, struct json_out *o)
{
    bool requeued = false;
    uint64_t rid = 0;

    cc->ops->set_paused(cc->aux, true);
    if (now && cc->queue->running) {
        rid = cc->queue->running->id;
        requeued = true;
        /* Back at the head of the queue now, so the reply (and any status
         * after it) is already true; the worker's done(stopped) then finds
         * nothing running. */
        jobq_requeue_running(cc->queue);
        cc->ops->stop_running(cc->aux);
        cc->ops->state_changed(cc->aux);
    }
    log_info("control: uid %ld paused dispatching%s", (long) control_client_uid(c),
             requeued ? " and stopped the running job" : "");
    json_object_begin(o);
    json_key(o, "paused");
    json_bool(o, true);
    json_key(o, "requeued");
    if (requeued) {
        json_u64(o, rid);
    } else {
        json_null_value(o);
    }
    json_object_end(o);
}

static void
ctlcmd_reload(struct ctlcmd *cc, struct control_client *c, struct json_out *o)
{
    struct config_reload r;
    char msg[1024];

    memset(&r, 0, sizeof r);
    cc->ops->reload(cc->aux, &r);
    config_reload_describe(&r, msg, sizeof msg);
    log_info("control: uid %ld: %s", (long) control_client_uid(c), msg);
    json_object_begin(o);
    json_key(o, "reloaded");
    json_bool(o, r.ok);
    json_key(o, "message");
    json_str(o, msg);
    json_key(o, "restart_needed");
    json_str(o, r.restart_needed);
    json_object_end(o);
}

void
ctlcmd_handle(struct control_client *c, struct ctlproto_request *req, void *aux)
{
    struct ctlcmd *cc = aux;
    struct json_out o;

    json_init(&o);
    switch (req->cmd) {
    case CTL_CMD_STATUS:
        ctlproto_reply_ok_begin(&o);
        ctlcmd_status(cc, &o);
        break;
    case CTL_CMD_JOBS:
        ctlproto_reply_ok_begin(&o);
        ctlcmd_jobs(cc, &o, req->limit);
        break;
    case CTL_CMD_PORTS:
        ctlproto_reply_ok_begin(&o);
        ctlcmd_ports(cc, &o);
        break;
    case CTL_CMD_METRICS:
        ctlproto_reply_ok_begin(&o);
        ctlcmd_metrics(cc, &o);
        break;
    case CTL_CMD_FLUSH:
        json_destroy(&o);
        ctlcmd_flush(cc, c, req);
        return;
    case CTL_CMD_CANCEL:
        json_destroy(&o);
        ctlcmd_cancel(cc, c, req->id);
        return;
    case CTL_CMD_PAUSE:
        ctlproto_reply_ok_begin(&o);
        ctlcmd_pause(cc, c, req->now, &o);
        break;
    case CTL_CMD_RESUME:
        cc->ops->set_paused(cc->aux, false);
        log_info("control: uid %ld resumed dispatching", (long) control_client_uid(c));
        cc->ops->dispatch(cc->aux);
        ctlproto_reply_ok_begin(&o);
        json_object_begin(&o);
        json_key(&o, "paused");
        json_bool(&o, false);
        json_object_end(&o);
        break;
    case CTL_CMD_SET_IPS: {
        struct porttab_control pc = { .ips = &req->ips, .has_zone = req->port_has_zone,
                                      .zone = req->port_zone, .migrating = req->migrating };
        if (portevents_set_ips(cc->events, req->port, &pc, ctf_time_msec())) {
            json_destroy(&o);
            control_reply_error(c, CTL_E_INTERNAL, "out of memory");
            return;
        }
        log_info("control: uid %ld set %zu IP(s) on port %s", (long) control_client_uid(c),
                 req->ips.n, req->port);
        ctlproto_reply_ok_begin(&o);
        json_object_begin(&o);
        json_key(&o, "port");
        json_str(&o, req->port);
        json_key(&o, "ips");
        json_prefixes(&o, &req->ips, false, 0);
        json_key(&o, "zone");
        json_u64_or_null(&o, req->port_has_zone, req->port_zone);
        json_key(&o, "migrating");
        json_bool(&o, req->migrating);
        json_object_end(&o);
        break;
    }
    case CTL_CMD_RELOAD:
        ctlproto_reply_ok_begin(&o);
        ctlcmd_reload(cc, c, &o);
        break;
    default:
        json_destroy(&o);
        control_reply_error(c, CTL_E_UNKNOWN_CMD, "unknown command");
        return;
    }
    ctlproto_reply_end(&o);
    ctlcmd_send(c, &o);
}
