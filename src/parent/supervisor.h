/*
 * supervisor.h: the parent's side of a job-running child: the batch worker
 * (the kernel's table), or the userdp child (ovs-vswitchd's table), which
 * speak the same WIRE_K_* messages. It starts the child,
 * hands it a batch of jobs at a time (one, or several it may run in one
 * pass), relays progress and each job's end, cancels one job of a batch,
 * and notices a worker that dies (any signal, any exit) or hangs (no
 * message within the timeout: it is SIGKILLed). Either way the jobs still
 * out are reported as failed-retryable to the caller, which still owns
 * them (jobq.h), and a new worker is started with a backoff so a worker
 * that crashes at once cannot spin.
 *
 * Owns: the worker's pid, channel, timers and receive buffer.
 */
#ifndef CTF_SUPERVISOR_H
#define CTF_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobrun.h"
#include "job.h"
#include "proc.h"
#include "wire.h"
#include "worker.h"

struct event_base;
struct event;
struct bufferevent;

enum supervisor_state {
    SUPERVISOR_DOWN,            /* Not started, or shut down. */
    SUPERVISOR_STARTING,        /* Forked; waiting for READY (the probe). */
    SUPERVISOR_IDLE,            /* Ready for a job. */
    SUPERVISOR_RUNNING,         /* A batch of jobs is out. */
    SUPERVISOR_RESTARTING,      /* Waiting out the restart backoff. */
};

/* Called from the worker channel's read callback: they may hand the worker
 * a job (supervisor_run) or stop it, but must not supervisor_shutdown. */
struct supervisor_ops {
    /* The worker can take a job (after READY or after a job ended). */
    void (*idle)(void *aux);
    void (*progress)(uint64_t job_id, const struct engine_stats *, void *aux);
    /* A job ended: err 0 = done. retryable is false for errors the job
     * itself causes (the engine refused it); a crash, hang or stop is
     * retryable. stopped is true when supervisor_stop_job or
     * supervisor_cancel_job caused it. */
    void (*done)(uint64_t job_id, int err, bool retryable, bool stopped, const char *reason,
                 const char *strategies, const struct engine_stats *, void *aux);
};

struct supervisor {
    struct event_base *base;
    const struct supervisor_ops *ops;
    void *aux;
    struct worker_config wcfg;
    const char *label;          /* "worker", "userdp": for logs and status. */
    const char *proc_name;      /* The child's name (proc_spawn). */
    proc_main_fn *main_fn;      /* The child's body: worker_main by default, */
    void *main_arg;             /* with &wcfg. */
    unsigned int timeout_ms;    /* No message for this long: hang. */
    enum supervisor_state state;
    pid_t pid;                  /* 0 when no worker process exists. */
    struct bufferevent *bev;
    struct event *hang_timer;
    struct event *restart_timer;
    /* The jobs out, in the order they were given (valid in RUNNING). */
    uint64_t job_ids[WIRE_MAX_JOBS];
    struct engine_stats last[WIRE_MAX_JOBS];    /* Last progress of each. */
    bool cancelling[WIRE_MAX_JOBS];     /* supervisor_cancel_job asked. */
    size_t n_jobs;
    bool stopping;              /* supervisor_stop_job asked for the kill. */
    bool hang_killed;           /* The hang timer asked for it. */
    unsigned int quick_failures;    /* Consecutive deaths, for the backoff. */
    uint64_t starts;
    uint64_t crashes;           /* Died by a signal or exited non-zero, unasked. */
    uint64_t hangs;             /* Killed for silence. */
    char caps[512];             /* The worker's capability summary. */
    char last_exit[64];         /* How the last worker ended. */
};

int supervisor_init(struct supervisor *, struct event_base *, const struct supervisor_ops *,
                    void *aux, const struct worker_config *, unsigned int timeout_ms);
/* Makes the supervised child another one than the worker (before the first
 * supervisor_start): label names it in logs, proc_name is its process
 * name, main_fn(fd, arg) its body. arg must outlive the supervisor. */
void supervisor_set_child(struct supervisor *, const char *label, const char *proc_name,
                          proc_main_fn *main_fn, void *arg);
/* Forks the child. Returns 0 or an errno (then a restart is scheduled). */
int supervisor_start(struct supervisor *);
bool supervisor_is_idle(const struct supervisor *);
/* Sends n jobs (1..WIRE_MAX_JOBS) to an idle worker, which may run them in
 * one pass. Returns 0, EBUSY, EINVAL or an errno (nothing was sent; the
 * caller keeps them queued). */
int supervisor_run(struct supervisor *, const uint64_t *job_ids,
                   const struct flush_job *const *jobs, size_t n,
                   const struct wire_job_params *);
/* Asks the worker to stop one job of its batch; the others go on. Its
 * done() follows with stopped = true. Returns 0 or ENOENT (not out). */
int supervisor_cancel_job(struct supervisor *, uint64_t job_id);
/* Kills the worker and with it every job out (pause --now): done() follows
 * for each with stopped = true, and a new worker starts. */
void supervisor_stop_job(struct supervisor *);
/* The SIGCHLD handler found pid exited with status: true if it was ours. */
bool supervisor_reap(struct supervisor *, pid_t, int status);
void supervisor_set_timeout(struct supervisor *, unsigned int timeout_ms);
void supervisor_set_nice(struct supervisor *, int nice);
const char *supervisor_state_name(enum supervisor_state);
/* Kills the worker (if any) and releases everything. */
void supervisor_shutdown(struct supervisor *);

#endif
