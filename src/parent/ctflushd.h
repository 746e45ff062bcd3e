/*
 * ctflushd.h: the parent process. One struct ctfd holds everything the
 * parent owns; main() creates it and every callback gets it as its aux
 * pointer, so there is no global daemon state. Each part is a module of its
 * own that gets only what it uses, and ctflushd.c wires them together:
 *
 *   ctflushd.c    start-up, signals, sd_notify, reload, state saving, and
 *                 dispatch (queue -> worker); the callbacks the modules
 *                 below call back through.
 *   watchlink.c   the watcher child and its channel -> portevents.c: port
 *                 events -> port table -> batch window -> jobs.
 *   supervisor.c  the job-running children and their channels: the worker
 *                 (the kernel's table) and the userdp child (ovs-vswitchd's,
 *                 for netdev bridges); a job goes to its datapath's.
 *   control.c     the control socket -> ctlcmd.c: what each command does.
 *   metricshttp.c GET /metrics, the body from ctlcmd.c.
 *
 * Only ctflushd.c includes this header: the modules do not know the daemon.
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
#include "ctlcmd.h"
#include "jobq.h"
#include "metrics.h"
#include "metricshttp.h"
#include "portevents.h"
#include "porttab.h"
#include "sdnotify.h"
#include "state.h"
#include "supervisor.h"
#include "userdp.h"
#include "watchlink.h"

struct event_base;
struct event;
struct bufferevent;

struct ctfd {
    struct event_base *base;
    struct config_cli cli;      /* Kept for SIGHUP: file, then these again. */
    struct ctf_config cfg;
    double start_wall;
    uint64_t start_ms;

    struct porttab ports;
    struct batch batch;
    struct jobq queue;
    struct portevents events;   /* Port events -> batch -> queue. */
    struct supervisor worker;   /* Jobs for the kernel's table. */
    struct supervisor userdp;   /* Jobs for ovs-vswitchd's table. */
    struct userdp_config ucfg;  /* The userdp child's settings (it reads
                                 * them after the fork: kept here). */
    struct watchlink watch;
    struct control *control;
    struct metricshttp *http;   /* GET /metrics, when metrics-listen is set. */
    struct ctlcmd ctl;          /* What control commands do. */
    struct state_writer *state;
    struct sdnotify notify;

    bool paused;                /* pause: nothing new is dispatched. */
    bool stopping;              /* SIGTERM seen. */
    bool state_dirty;           /* A save is owed. */
    char state_load_msg[256];   /* What happened to the state file at start. */

    struct metrics_hist job_duration;

    struct event *batch_timer;
    struct event *dispatch_timer;
    struct event *save_timer;
    struct event *watchdog_timer;
    struct event *sig_events[5];
};

#endif
