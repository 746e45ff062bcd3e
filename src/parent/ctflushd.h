/*
 * ctflushd.h: the parent process. One struct ctfd holds everything the
 * parent owns; main() creates it and every callback gets it as its aux
 * pointer, so there is no global daemon state. The parent's modules:
 *
 *   ctflushd.c   start-up, signals, sd_notify, reload, state saving, and
 *                dispatch (queue -> worker).
 *   watchlink.c  the watcher child's channel: port events -> port table ->
 *                batch window -> jobs.
 *   supervisor.c the worker child's channel (see supervisor.h).
 *   ctlcmd.c     what each control command does (control.c frames them).
 *
 * Owns: struct ctfd.
 */
#ifndef CTF_CTFLUSHD_H
#define CTF_CTFLUSHD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "batch.h"
#include "config.h"
#include "control.h"
#include "jobq.h"
#include "metrics.h"
#include "porttab.h"
#include "sdnotify.h"
#include "state.h"
#include "supervisor.h"

struct event_base;
struct event;
struct bufferevent;

/* The parent's view of the OVSDB watcher child. */
struct watchlink {
    pid_t pid;                  /* 0: not running. */
    struct bufferevent *bev;
    struct event *restart_timer;
    bool connected;             /* The watcher's IDL is connected. */
    bool ever_connected;        /* Since the daemon started. */
    char remote[256];
    char last_error[256];
    uint64_t last_heard_ms;     /* Any message (STATUS is the heartbeat). */
    bool in_sync;               /* Between SYNC_BEGIN and SYNC_END. */
    bool synced_once;           /* A full snapshot arrived since start. */
    uint64_t reconnects;        /* Connected transitions after the first. */
    uint64_t starts;            /* Watcher processes started (restarts: starts - 1). */
    unsigned int quick_failures;
};

struct ctfd_counters {
    uint64_t port_removals;
    uint64_t port_adds;
};

struct ctfd {
    struct event_base *base;
    struct config_cli cli;      /* Kept for SIGHUP: file, then these again. */
    struct ctf_config cfg;
    double start_wall;
    uint64_t start_ms;

    struct porttab ports;
    struct batch batch;
    struct jobq queue;
    struct supervisor worker;
    struct watchlink watch;
    struct control *control;
    struct state_writer *state;
    struct sdnotify notify;

    bool paused;                /* pause: nothing new is dispatched. */
    bool stopping;              /* SIGTERM seen. */
    bool state_dirty;           /* A save is owed. */
    char state_load_msg[256];   /* What happened to the state file at start. */

    struct metrics_hist job_duration;
    struct ctfd_counters counters;

    struct event *batch_timer;
    struct event *dispatch_timer;
    struct event *save_timer;
    struct event *watchdog_timer;
    struct event *sig_events[5];
};

/* ctflushd.c */
void ctfd_dispatch(struct ctfd *);          /* Start the next job if possible. */
void ctfd_state_changed(struct ctfd *);     /* Schedule a state save. */
void ctfd_reload(struct ctfd *, char *msg, size_t len); /* SIGHUP or `reload`. */

/* watchlink.c */
int watchlink_watcher_start(struct ctfd *);
void watchlink_watcher_stop(struct ctfd *);
bool watchlink_reap(struct ctfd *, pid_t, int status);
/* Closed batch windows -> jobs; re-arms the batch timer. */
void watchlink_batch_run(struct ctfd *, bool force);
/* set-ips from the control API. Returns 0 or ENOMEM. */
int watchlink_set_ips(struct ctfd *, const char *name, const struct ctf_prefix_list *);
/* The watcher is alive (heard from recently). */
bool watchlink_watcher_healthy(const struct ctfd *);

/* ctlcmd.c */
void ctlcmd_handle(struct control_client *, struct ctlproto_request *, void *ctfd);
/* A job changed (started, progressed or ended): tell clients following it. */
void ctlcmd_job_event(struct ctfd *, uint64_t job_id);

#endif
