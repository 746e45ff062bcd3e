/*
 * ctlcmd.h: what each control command does. control.c has framed, parsed
 * and authorised the request; ctlcmd carries it out against the modules it
 * is given (the job queue, the port table through portevents, the batch
 * window) and writes the reply (schemas in docs/protocol.md). What belongs
 * to the daemon as a whole (dispatching, saving, stopping the worker,
 * reloading, what the children are doing) it reaches through ctlcmd_ops,
 * so the commands are tested without a daemon, root or children.
 *
 * Owns: nothing; it works on what it is given.
 */
#ifndef CTF_CTLCMD_H
#define CTF_CTLCMD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ctlproto.h"
#include "metricshttp.h"
#include "state.h"

struct batch;
struct control;
struct control_client;
struct jobq;
struct metrics_hist;
struct portevents;
struct porttab;
struct supervisor;
struct watchlink;

/* The daemon's parts that status and metrics show, as they are now. */
struct ctlcmd_view {
    double uptime_s;
    bool paused;
    const struct watchlink *watch;      /* The OVSDB watcher. */
    const struct supervisor *worker;    /* The worker (the kernel's table). */
    const struct supervisor *userdp;    /* The userdp child (ovs-vswitchd's
                                         * table), or NULL. */
    struct state_writer_status state;   /* The state file's writer. */
    const char *state_at_start;         /* What happened to the state file at start. */
    const struct metrics_hist *job_duration;
    const char *http_listen;            /* metrics-listen, or NULL: no endpoint. */
    struct metricshttp_stats http;      /* Its counters, when http_listen. */
};

struct ctlcmd_ops {
    void (*view)(void *aux, struct ctlcmd_view *);
    void (*dispatch)(void *aux);        /* Start the next job if possible. */
    void (*state_changed)(void *aux);   /* Schedule a state save. */
    /* The running jobs were requeued: stop the children running them
     * (their done() follows and finds nothing running). */
    void (*stop_running)(void *aux);
    /* Running job id was cancelled: tell its child to stop that one (its
     * done() follows and finds it no longer running; the others go on). */
    void (*cancel_running)(void *aux, uint64_t id);
    void (*set_paused)(void *aux, bool);
    void (*reload)(void *aux, struct config_reload *);
};

struct ctlcmd {
    struct jobq *queue;
    struct porttab *ports;
    struct portevents *events;          /* set-ips. */
    const struct batch *batch;
    struct control *control;            /* Set once the socket is open. */
    const struct ctlcmd_ops *ops;
    void *aux;
};

/* control.c's handler: aux is the struct ctlcmd. */
void ctlcmd_handle(struct control_client *, struct ctlproto_request *, void *aux);

/* The Prometheus exposition of the daemon as it is now (metrics.c's
 * format), malloc'd, or NULL when out of memory: the text of the metrics
 * command, and the body of GET /metrics. */
char *ctlcmd_metrics_text(struct ctlcmd *);

/* A job changed (started, progressed or ended): tell clients following it. */
void ctlcmd_job_event(struct ctlcmd *, uint64_t job_id);

#endif
