/*
 * test_ctlcmd.c: unit tests for ctlcmd.c, what each control command does.
 * Requests are parsed from JSON by the real ctlproto; the job queue, port
 * table, batch window and port-event path are real; the daemon's part is a
 * recording fake (ctlcmd_ops); the control socket's calls are link-time
 * wrappers (-Wl,--wrap=control_*) that keep each reply line, so what a
 * client would read is what is checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "control.h"
#include "ctlcmd.h"
#include "jobq.h"
#include "metrics.h"
#include "portevents.h"
#include "porttab.h"
#include "supervisor.h"
#include "unit_helpers.h"
#include "watchlink.h"

/* ---- The control socket, faked at link time. ---- */

#define MAX_LINES 16

struct control_client {
    char *lines[MAX_LINES];     /* Reply lines, oldest first. */
    size_t n_lines;
    uint64_t *watched;
    size_t n_watched;
    bool watching;
};

struct control {
    struct control_client *client;  /* The one client of these tests. */
    unsigned int clients;
};

static void
client_push(struct control_client *c, const char *line)
{
    assert_true(c->n_lines < MAX_LINES);
    c->lines[c->n_lines] = strdup(line);
    assert_non_null(c->lines[c->n_lines]);
    c->n_lines++;
}

static void
client_reset(struct control_client *c)
{
    for (size_t i = 0; i < c->n_lines; i++) {
        free(c->lines[i]);
    }
    c->n_lines = 0;
}

void __wrap_control_reply(struct control_client *, const char *);
void __wrap_control_reply_error(struct control_client *, const char *, const char *);
uid_t __wrap_control_client_uid(const struct control_client *);
pid_t __wrap_control_client_pid(const struct control_client *);
int __wrap_control_client_watch(struct control_client *, const uint64_t *, size_t);
void __wrap_control_client_unwatch(struct control_client *);
const uint64_t *__wrap_control_client_watched(const struct control_client *, size_t *);
void __wrap_control_foreach_watching(struct control *, control_client_fn *, void *);
void __wrap_control_get_stats(const struct control *, struct control_stats *);

void
__wrap_control_reply(struct control_client *c, const char *text)
{
    client_push(c, text);
}

void
__wrap_control_reply_error(struct control_client *c, const char *code, const char *msg)
{
    char line[512];

    snprintf(line, sizeof line, "{\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
             code, msg);
    client_push(c, line);
}

uid_t
__wrap_control_client_uid(const struct control_client *c)
{
    (void) c;
    return 0;
}

pid_t
__wrap_control_client_pid(const struct control_client *c)
{
    (void) c;
    return 4242;
}

int
__wrap_control_client_watch(struct control_client *c, const uint64_t *ids, size_t n)
{
    free(c->watched);
    c->watched = calloc(n ? n : 1, sizeof *ids);
    assert_non_null(c->watched);
    memcpy(c->watched, ids, n * sizeof *ids);
    c->n_watched = n;
    c->watching = true;
    return 0;
}

void
__wrap_control_client_unwatch(struct control_client *c)
{
    free(c->watched);
    c->watched = NULL;
    c->n_watched = 0;
    c->watching = false;
}

const uint64_t *
__wrap_control_client_watched(const struct control_client *c, size_t *n)
{
    *n = c->watching ? c->n_watched : 0;
    return c->watching ? c->watched : NULL;
}

void
__wrap_control_foreach_watching(struct control *ctl, control_client_fn *fn, void *aux)
{
    if (ctl->client->watching) {
        fn(ctl->client, aux);
    }
}

void
__wrap_control_get_stats(const struct control *ctl, struct control_stats *st)
{
    memset(st, 0, sizeof *st);
    st->clients = ctl->clients;
    st->requests = 7;
}

/* ---- The daemon, faked. ---- */

struct fake_daemon {
    bool paused;
    unsigned int dispatches;
    unsigned int state_changes;
    unsigned int stops;
    unsigned int cancels;
    uint64_t cancelled_id;
    struct config_reload reload;    /* What the next reload reports. */
    unsigned int reloads;
    struct watchlink watch;
    struct supervisor worker;
    struct ctf_config cfg;
    struct metrics_hist hist;
};

static void
fake_view(void *aux, struct ctlcmd_view *v)
{
    struct fake_daemon *d = aux;

    v->uptime_s = 12.5;
    v->paused = d->paused;
    v->watch = &d->watch;
    v->worker = &d->worker;
    v->state.writes = 3;
    v->state_at_start = "loaded 2 port(s) and 0 owed job(s)";
    v->job_duration = &d->hist;
}

static void
fake_dispatch(void *aux)
{
    ((struct fake_daemon *) aux)->dispatches++;
}

static void
fake_state_changed(void *aux)
{
    ((struct fake_daemon *) aux)->state_changes++;
}

static void
fake_stop_running(void *aux)
{
    ((struct fake_daemon *) aux)->stops++;
}

static void
fake_cancel_running(void *aux, uint64_t id)
{
    struct fake_daemon *d = aux;

    d->cancels++;
    d->cancelled_id = id;
}

static void
fake_set_paused(void *aux, bool paused)
{
    ((struct fake_daemon *) aux)->paused = paused;
}

static void
fake_reload(void *aux, struct config_reload *r)
{
    struct fake_daemon *d = aux;

    *r = d->reload;
    d->reloads++;
}

static const struct ctlcmd_ops fake_ops = {
    .view = fake_view,
    .dispatch = fake_dispatch,
    .state_changed = fake_state_changed,
    .stop_running = fake_stop_running,
    .cancel_running = fake_cancel_running,
    .set_paused = fake_set_paused,
    .reload = fake_reload,
};

static void
pe_nothing(void *aux)
{
    (void) aux;
}

static void
pe_deadline(void *aux, uint64_t ms)
{
    (void) aux;
    (void) ms;
}

static const struct portevents_ops pe_ops = {
    .state_changed = pe_nothing,
    .queued = pe_nothing,
    .batch_deadline = pe_deadline,
};

struct world {
    struct porttab ports;
    struct batch batch;
    struct jobq queue;
    struct portevents pe;
    struct fake_daemon d;
    struct control ctl;
    struct control_client client;
    struct ctlcmd cc;
};

static int
setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    struct jobq_limits l;

    if (!w) {
        return -1;
    }
    porttab_init(&w->ports);
    batch_init(&w->batch, 200);
    jobq_limits_default(&l);
    jobq_init(&w->queue, &l);
    portevents_init(&w->pe, &w->ports, &w->batch, &w->queue, &pe_ops, NULL);
    config_init(&w->d.cfg);
    /* The watcher's and worker's state as their modules keep it (plain
     * structs: neither child is started). */
    w->d.watch.cfg = &w->d.cfg;
    w->d.watch.events = &w->pe;
    w->d.watch.connected = true;
    w->d.watch.synced_once = true;
    w->d.watch.pid = 321;
    w->d.watch.starts = 3;
    w->d.worker.pid = 654;
    w->d.worker.state = SUPERVISOR_IDLE;
    snprintf(w->d.worker.caps, sizeof w->d.worker.caps, "zone-flush=yes");
    metrics_hist_init(&w->d.hist);
    w->ctl.client = &w->client;
    w->ctl.clients = 1;
    w->cc = (struct ctlcmd) { .queue = &w->queue, .ports = &w->ports, .events = &w->pe,
                              .batch = &w->batch, .control = &w->ctl, .ops = &fake_ops,
                              .aux = &w->d };
    *state = w;
    return 0;
}

static int
teardown(void **state)
{
    struct world *w = *state;

    client_reset(&w->client);
    free(w->client.watched);
    batch_destroy(&w->batch);
    jobq_destroy(&w->queue);
    porttab_destroy(&w->ports);
    config_destroy(&w->d.cfg);
    free(w);
    return 0;
}

/* Sends one request line as a client would; returns the number of reply
 * lines it produced. */
static size_t
request(struct world *w, const char *json)
{
    struct ctlproto_request req;
    const char *code = NULL;
    char msg[256];

    client_reset(&w->client);
    ctlproto_request_init(&req);
    if (ctlproto_request_parse(json, strlen(json), &req, &code, msg, sizeof msg)) {
        fail_msg("request %s does not parse: %s", json, msg);
    }
    ctlcmd_handle(&w->client, &req, &w->cc);
    ctlproto_request_destroy(&req);
    return w->client.n_lines;
}

static const char *
line(const struct world *w, size_t i)
{
    assert_true(i < w->client.n_lines);
    return w->client.lines[i];
}

/* The reply line contains every one of the given fragments. */
static void
expect_in(const char *text, const char *frag)
{
    if (!strstr(text, frag)) {
        fail_msg("'%s' not in: %s", frag, text);
    }
}

/* ---- Tests. ---- */

static void
test_flush_queues_and_dispatches(void **state)
{
    struct world *w = *state;

    assert_int_equal(request(w, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\"],\"zone\":7}"), 1);
    expect_in(line(w, 0), "{\"ok\":true,\"result\":{\"jobs\":[1],\"merged\":false,"
                          "\"live_holders\":[]}}");
    assert_int_equal(w->queue.n_queued, 1);
    const struct qjob *q = jobq_find(&w->queue, 1);
    assert_non_null(q);
    assert_int_equal(q->origin, JOB_ORIGIN_MANUAL);
    assert_true(q->job.has_zone);
    assert_int_equal(q->job.zone, 7);
    assert_true(q->job.peers_any);
    assert_int_equal(w->d.dispatches, 1);
    assert_true(w->d.state_changes >= 1);
    assert_false(w->client.watching);

    /* The same job again is merged into the queued one. */
    assert_int_equal(request(w, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\"],\"zone\":7}"), 1);
    expect_in(line(w, 0), "\"jobs\":[1],\"merged\":true");
    assert_int_equal(w->queue.n_queued, 1);
}

static void
test_flush_wait_follows_the_job(void **state)
{
    struct world *w = *state;
    struct engine_stats st;

    assert_int_equal(request(w, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.2\"],\"wait\":true}"),
                     1);
    assert_true(w->client.watching);
    assert_int_equal(w->client.n_watched, 1);

    /* The daemon starts it and it makes progress: a progress event. */
    client_reset(&w->client);
    jobq_start(&w->queue, w->queue.queue, 1e9);
    memset(&st, 0, sizeof st);
    st.scanned = 500;
    jobq_progress(&w->queue, 1, &st);
    ctlcmd_job_event(&w->cc, 1);
    assert_int_equal(w->client.n_lines, 1);
    expect_in(line(w, 0), "{\"event\":\"progress\",\"job\":{\"id\":1,");
    expect_in(line(w, 0), "\"state\":\"running\"");
    expect_in(line(w, 0), "\"scanned\":500");

    /* It ends: the end event lists it, and the client stops waiting. */
    client_reset(&w->client);
    st.deleted = 9;
    jobq_finish(&w->queue, 1, 0, false, "", "dump", &st, 0, 1e9 + 1);
    ctlcmd_job_event(&w->cc, 1);
    assert_int_equal(w->client.n_lines, 1);
    expect_in(line(w, 0), "{\"event\":\"end\",\"ok\":true,\"jobs\":[{\"id\":1,");
    expect_in(line(w, 0), "\"deleted\":9");
    assert_false(w->client.watching);

    /* Later events of that job reach nobody. */
    client_reset(&w->client);
    ctlcmd_job_event(&w->cc, 1);
    assert_int_equal(w->client.n_lines, 0);
}

static void
test_flush_refused_when_full(void **state)
{
    struct world *w = *state;

    w->queue.limits.max_jobs = 1;
    request(w, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\"]}");
    unsigned int before = w->d.dispatches;
    /* A manual job over the queue's limits is refused, not merged. */
    assert_int_equal(request(w, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.2\"]}"), 1);
    expect_in(line(w, 0), "\"ok\":false,\"error\":{\"code\":\"queue-full\"");
    assert_int_equal(w->queue.n_queued, 1);
    assert_int_equal(w->d.dispatches, before);
}

static void
test_cancel(void **state)
{
    struct world *w = *state;

    request(w, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\"]}");
    request(w, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.2\"]}");
    /* Queued: cancelled at once. */
    assert_int_equal(request(w, "{\"cmd\":\"cancel\",\"id\":2}"), 1);
    expect_in(line(w, 0), "{\"ok\":true,\"result\":{\"id\":2,\"state\":\"cancelled\"}}");
    assert_int_equal(jobq_find(&w->queue, 2)->state, JOB_CANCELLED);
    assert_int_equal(w->d.stops, 0);

    /* Running: the worker is told to stop that job, and is not killed. */
    jobq_start(&w->queue, w->queue.queue, 1e9);
    assert_int_equal(request(w, "{\"cmd\":\"cancel\",\"id\":1}"), 1);
    expect_in(line(w, 0), "\"state\":\"cancelled\"");
    assert_int_equal(w->d.stops, 0);
    assert_int_equal(w->d.cancels, 1);
    assert_int_equal(w->d.cancelled_id, 1);
    assert_null(w->queue.running);

    /* Already over, or unknown. */
    assert_int_equal(request(w, "{\"cmd\":\"cancel\",\"id\":1}"), 1);
    expect_in(line(w, 0), "\"code\":\"busy\",\"message\":\"job 1 is already cancelled\"");
    assert_int_equal(request(w, "{\"cmd\":\"cancel\",\"id\":99}"), 1);
    expect_in(line(w, 0), "\"code\":\"not-found\"");
}

static void
test_pause_now_and_resume(void **state)
{
    struct world *w = *state;

    request(w, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\"]}");
    jobq_start(&w->queue, w->queue.queue, 1e9);
    assert_int_equal(request(w, "{\"cmd\":\"pause\",\"now\":true}"), 1);
    expect_in(line(w, 0), "{\"ok\":true,\"result\":{\"paused\":true,\"requeued\":1}}");
    assert_true(w->d.paused);
    assert_int_equal(w->d.stops, 1);
    /* Back in the queue, its attempt not counted. */
    assert_null(w->queue.running);
    assert_int_equal(w->queue.n_queued, 1);
    assert_int_equal(w->queue.queue->attempts, 0);

    /* Status says so. */
    request(w, "{\"cmd\":\"status\"}");
    expect_in(line(w, 0), "\"paused\":true");

    unsigned int before = w->d.dispatches;
    assert_int_equal(request(w, "{\"cmd\":\"resume\"}"), 1);
    expect_in(line(w, 0), "{\"ok\":true,\"result\":{\"paused\":false}}");
    assert_false(w->d.paused);
    assert_int_equal(w->d.dispatches, before + 1);

    /* Pause without now leaves a running job alone. */
    jobq_start(&w->queue, w->queue.queue, 1e9);
    request(w, "{\"cmd\":\"pause\"}");
    expect_in(line(w, 0), "\"requeued\":null");
    assert_non_null(w->queue.running);
    assert_int_equal(w->d.stops, 1);
}

static void
test_set_ips_reaches_the_port_table(void **state)
{
    struct world *w = *state;
    struct port_info pi;

    port_make(&pi, "tap1", "vm1", "", 4);
    portevents_present(&w->pe, &pi, 1000);
    port_info_destroy(&pi);

    assert_int_equal(request(w, "{\"cmd\":\"set-ips\",\"port\":\"tap1\","
                                "\"ips\":[\"10.1.0.5\",\"fd00::5\"]}"), 1);
    expect_in(line(w, 0),
              "{\"ok\":true,\"result\":{\"port\":\"tap1\",\"ips\":[\"10.1.0.5\",\"fd00::5\"],"
              "\"zone\":null,\"migrating\":false}}");
    const struct porttab_entry *e = porttab_find(&w->ports, "tap1");
    assert_non_null(e);
    assert_int_equal(e->effective.ips.n, 2);
    assert_int_equal(e->effective.ip_source, PORT_IP_CONTROL);

    /* A zone and a live migration, from neutron's agent; null clears it. */
    request(w, "{\"cmd\":\"set-ips\",\"port\":\"tap1\",\"ips\":[\"10.1.0.5\"],"
               "\"zone\":4097,\"migrating\":true}");
    expect_in(line(w, 0), "\"zone\":4097,\"migrating\":true}}");
    e = porttab_find(&w->ports, "tap1");
    assert_true(e->migrating);
    assert_int_equal(e->effective.zone, 4097);
    assert_int_equal(e->effective.zone_source, PORT_ZONE_CONTROL);
    request(w, "{\"cmd\":\"set-ips\",\"port\":\"tap1\",\"ips\":[\"10.1.0.5\",\"fd00::5\"],"
               "\"zone\":null}");
    e = porttab_find(&w->ports, "tap1");
    assert_false(e->migrating);
    assert_int_equal(e->effective.zone, 4);

    /* ports shows them, and where they came from. */
    request(w, "{\"cmd\":\"ports\"}");
    expect_in(line(w, 0), "\"name\":\"tap1\",\"iface_id\":\"vm1\"");
    expect_in(line(w, 0), "\"ips\":[\"10.1.0.5\",\"fd00::5\"],\"ip_source\":\"control\"");
    expect_in(line(w, 0), "\"zone\":4");
    expect_in(line(w, 0), "\"control_ips\":[\"10.1.0.5\",\"fd00::5\"]");
}

static void
test_reload_reports_the_typed_result(void **state)
{
    struct world *w = *state;

    w->d.reload = (struct config_reload) { .ok = true, .watcher_restarted = true };
    snprintf(w->d.reload.restart_needed, sizeof w->d.reload.restart_needed, "control,state-dir");
    assert_int_equal(request(w, "{\"cmd\":\"reload\"}"), 1);
    expect_in(line(w, 0), "{\"ok\":true,\"result\":{\"reloaded\":true,\"message\":"
                          "\"configuration reloaded; OVSDB watcher restarted; needs a restart "
                          "to change: control,state-dir\",\"restart_needed\":"
                          "\"control,state-dir\"}}");

    w->d.reload = (struct config_reload) { .ok = false };
    snprintf(w->d.reload.error, sizeof w->d.reload.error, "line 3: batch-window-ms: bad");
    request(w, "{\"cmd\":\"reload\"}");
    expect_in(line(w, 0), "{\"reloaded\":false,\"message\":\"configuration not reloaded: "
                          "line 3: batch-window-ms: bad\",\"restart_needed\":\"\"}");
    assert_int_equal(w->d.reloads, 2);
}

static void
test_status_and_metrics_show_the_view(void **state)
{
    struct world *w = *state;
    struct port_info pi;

    port_make(&pi, "tap1", "vm1", "10.0.0.1", -1);
    portevents_present(&w->pe, &pi, 1000);
    port_info_destroy(&pi);
    request(w, "{\"cmd\":\"status\"}");
    const char *s = line(w, 0);
    expect_in(s, "\"uptime_s\":12.5");
    expect_in(s, "\"features\":[\"set-ips-zone\",\"set-ips-migrating\",\"shared-addresses\",\"flush-selectors\",\"datapaths\"]");
    expect_in(s, "\"ovsdb\":{\"remote\":\"unix:/run/openvswitch/db.sock\",\"connected\":true,"
                 "\"synced\":true");
    expect_in(s, "\"watcher_pid\":321,\"watcher_restarts\":2");
    expect_in(s, "\"ports\":1,");
    expect_in(s, "\"worker\":{\"pid\":654,\"state\":\"idle\"");
    expect_in(s, "\"caps\":\"zone-flush=yes\"");
    expect_in(s, "\"at_start\":\"loaded 2 port(s) and 0 owed job(s)\"");
    expect_in(s, "\"control_clients\":1");

    request(w, "{\"cmd\":\"metrics\"}");
    s = line(w, 0);
    expect_in(s, "ctflushd_ports 1");
    expect_in(s, "ctflushd_ovsdb_connected 1");
}

static void
test_shared_addresses_shown(void **state)
{
    struct world *w = *state;
    struct port_info pi;

    portevents_sync_begin(&w->pe);
    port_make(&pi, "a", "va", "10.1.0.1,10.1.0.100", 5);
    portevents_present(&w->pe, &pi, 1000);
    port_info_destroy(&pi);
    port_make(&pi, "b", "vb", "10.1.0.2,10.1.0.100", 5);
    portevents_present(&w->pe, &pi, 1000);
    port_info_destroy(&pi);
    port_make(&pi, "c", "vc", "10.1.0.100", 6);     /* Another tenant's. */
    portevents_present(&w->pe, &pi, 1000);
    port_info_destroy(&pi);
    portevents_sync_end(&w->pe, 1000);

    request(w, "{\"cmd\":\"ports\"}");
    expect_in(line(w, 0), "\"name\":\"a\"");
    expect_in(line(w, 0), "\"control_ips\":null,\"shared\":[\"10.1.0.100\"]}");
    expect_in(line(w, 0), "\"name\":\"c\"");
    /* c is in another zone: it shares nothing. */
    const char *c = strstr(line(w, 0), "\"name\":\"c\"");
    expect_in(c, "\"shared\":[]");

    /* A manual flush is not filtered, but says who holds what. */
    request(w, "{\"cmd\":\"flush\",\"local\":[\"10.1.0.100\",\"10.1.0.9\"],\"zone\":5}");
    expect_in(line(w, 0), "\"live_holders\":[{\"ip\":\"10.1.0.100\",\"ports\":[");
    expect_in(line(w, 0), "\"a\"");
    expect_in(line(w, 0), "\"b\"");
    assert_null(strstr(line(w, 0), "\"c\""));
    assert_null(strstr(line(w, 0), "10.1.0.9\",\"ports"));
    const struct qjob *q = jobq_find(&w->queue, 1);
    assert_non_null(q);
    assert_int_equal(q->job.local.n, 2);

    /* a leaves: the job names what it held back, and why. */
    port_make(&pi, "a", "va", "", -1);
    portevents_gone(&w->pe, &pi, 2000);
    port_info_destroy(&pi);
    portevents_batch_run(&w->pe, 2000 + w->batch.window_ms, 1e9, false);
    request(w, "{\"cmd\":\"jobs\"}");
    expect_in(line(w, 0), "\"origin\":\"port-remove\"");
    expect_in(line(w, 0), "\"held\":[{\"ip\":\"10.1.0.100\",\"zone\":5,\"reason\":\"live-port\","
                          "\"port\":\"b\"}],\"held_count\":1");
    request(w, "{\"cmd\":\"status\"}");
    expect_in(line(w, 0), "\"addresses_held_back\":1");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flush_queues_and_dispatches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_wait_follows_the_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_refused_when_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_now_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_ips_reaches_the_port_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_reports_the_typed_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_metrics_show_the_view, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shared_addresses_shown, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
