/*
 * watchlink.h: the parent's end of the OVSDB watcher. It forks the watcher
 * child (watcher.h) with the settings it needs, keeps it alive (restarts
 * with backoff, kills it on a malformed message), decodes its messages and
 * hands the port events to portevents.h; STATUS updates what status and
 * the watchdog report.
 *
 * Owns: the watcher process, its channel and its restart timer.
 */
#ifndef CTF_WATCHLINK_H
#define CTF_WATCHLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "portevents.h"

struct event_base;
struct event;
struct bufferevent;
struct ctf_config;

struct watchlink {
    struct event_base *base;
    const struct ctf_config *cfg;   /* The daemon's settings, read at each start. */
    struct portevents *events;
    bool stopping;              /* Set by watchlink_stop: no more restarts. */
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

void watchlink_init(struct watchlink *, struct event_base *, const struct ctf_config *,
                    struct portevents *);
/* Forks the watcher (a failure schedules a retry). Returns 0 or an errno. */
int watchlink_start(struct watchlink *);
/* Stops the watcher for good and frees everything. */
void watchlink_stop(struct watchlink *);
/* The SIGCHLD handler found pid exited: true if it was the watcher (a
 * restart is then scheduled). */
bool watchlink_reap(struct watchlink *, pid_t, int status);
/* Settings changed: the watcher is replaced and the new one resyncs. */
void watchlink_restart(struct watchlink *);
/* The watcher is alive (heard from recently). */
bool watchlink_healthy(const struct watchlink *);

#endif
