/*
 * supervisor.c: the parent's side of the batch worker (see supervisor.h).
 *
 * The worker is long-lived rather than forked per job: the kernel probe it
 * runs at start (a throwaway namespace, a few hundred entries, calibration)
 * costs far more than a small job, and a long-lived worker keeps its probe
 * result. What a per-job fork would buy, a clean slate after a failure, we
 * get anyway: any failure kills the worker and a fresh one is forked.
 */
#include "supervisor.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

#define SUPERVISOR_RESTART_MIN_MS 100
#define SUPERVISOR_RESTART_MAX_MS 30000
/* The probe sends nothing until it is done, and on a busy host with a big
 * table its calibration walks take seconds: it gets its own allowance, or
 * a short worker-timeout-ms would kill every worker before READY. */
#define SUPERVISOR_PROBE_TIMEOUT_MS 120000

static struct log_ratelimit supervisor_rl = LOG_RATELIMIT_INIT(5);  /* Crash loops. */

static void supervisor_read_cb(struct bufferevent *, void *);
static void supervisor_event_cb(struct bufferevent *, short, void *);

const char *
supervisor_state_name(enum supervisor_state s)
{
    switch (s) {
    case SUPERVISOR_DOWN: return "down";
    case SUPERVISOR_STARTING: return "starting";
    case SUPERVISOR_IDLE: return "idle";
    case SUPERVISOR_RUNNING: return "running";
    case SUPERVISOR_RESTARTING: return "restarting";
    }
    return "?";
}

static unsigned int
supervisor_allowance_ms(const struct supervisor *s)
{
    if (s->state == SUPERVISOR_STARTING && s->timeout_ms < SUPERVISOR_PROBE_TIMEOUT_MS) {
        return SUPERVISOR_PROBE_TIMEOUT_MS;
    }
    return s->timeout_ms;
}

static void
supervisor_arm_hang_timer(struct supervisor *s)
{
    struct timeval tv = ctf_timeval_ms(supervisor_allowance_ms(s));

    evtimer_add(s->hang_timer, &tv);
}

static void
supervisor_kill(struct supervisor *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
    }
}

static void
supervisor_hang_cb(evutil_socket_t fd, short what, void *aux)
{
    struct supervisor *s = aux;

    (void) fd;
    (void) what;
    if (s->pid <= 0) {
        return;
    }
    s->hangs++;
    s->hang_killed = true;
    log_warnx("%s %ld: no progress for %u ms while %s: killing it", s->label,
              (long) s->pid, supervisor_allowance_ms(s), supervisor_state_name(s->state));
    supervisor_kill(s);
}

static void
supervisor_restart_cb(evutil_socket_t fd, short what, void *aux)
{
    (void) fd;
    (void) what;
    supervisor_start(aux);
}

int
supervisor_init(struct supervisor *s, struct event_base *base,
                const struct supervisor_ops *ops, void *aux,
                const struct worker_config *wcfg, unsigned int timeout_ms)
{
    memset(s, 0, sizeof *s);
    s->base = base;
    s->ops = ops;
    s->aux = aux;
    s->wcfg = *wcfg;
    s->timeout_ms = timeout_ms ? timeout_ms : 30000;
    s->hang_timer = evtimer_new(base, supervisor_hang_cb, s);
    s->restart_timer = evtimer_new(base, supervisor_restart_cb, s);
    if (!s->hang_timer || !s->restart_timer) {
        return ENOMEM;
    }
    s->label = "worker";
    s->proc_name = "ctflushd-work";
    s->main_fn = worker_main;
    s->main_arg = &s->wcfg;
    snprintf(s->caps, sizeof s->caps, "unknown (not started)");
    return 0;
}

void
supervisor_set_child(struct supervisor *s, const char *label, const char *proc_name,
                     proc_main_fn *main_fn, void *arg)
{
    s->label = label;
    s->proc_name = proc_name;
    s->main_fn = main_fn;
    s->main_arg = arg;
}

static void
supervisor_schedule_restart(struct supervisor *s)
{
    struct timeval tv = ctf_timeval_ms(proc_backoff_ms(s->quick_failures,
                                                       SUPERVISOR_RESTART_MIN_MS,
                                                       SUPERVISOR_RESTART_MAX_MS));

    s->state = SUPERVISOR_RESTARTING;
    evtimer_add(s->restart_timer, &tv);
}

int
supervisor_start(struct supervisor *s)
{
    pid_t pid;
    int fd;
    int err;

    if (s->pid > 0) {
        return EBUSY;
    }
    err = proc_spawn(s->proc_name, s->main_fn, s->main_arg, &pid, &fd);
    if (err) {
        log_warnx("%s: cannot fork: %s", s->label, strerror(err));
        s->quick_failures++;
        supervisor_schedule_restart(s);
        return err;
    }
    s->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!s->bev) {
        close(fd);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        s->quick_failures++;
        supervisor_schedule_restart(s);
        return ENOMEM;
    }
    bufferevent_setcb(s->bev, supervisor_read_cb, NULL, supervisor_event_cb, s);
    bufferevent_enable(s->bev, EV_READ);
    s->pid = pid;
    s->state = SUPERVISOR_STARTING;
    s->stopping = false;
    s->starts++;
    snprintf(s->caps, sizeof s->caps, "probing");
    /* The probe has its own allowance: supervisor_allowance_ms. */
    supervisor_arm_hang_timer(s);
    log_debug("%s %ld started", s->label, (long) pid);
    return 0;
}

bool
supervisor_is_idle(const struct supervisor *s)
{
    return s->state == SUPERVISOR_IDLE;
}

int
supervisor_run(struct supervisor *s, const uint64_t *job_ids, const struct flush_job *const *jobs,
               size_t n, const struct wire_job_params *params)
{
    struct wbuf b;
    int err;

    if (s->state != SUPERVISOR_IDLE) {
        return EBUSY;
    }
    if (!n || n > WIRE_MAX_JOBS) {
        return EINVAL;
    }
    wbuf_init(&b);
    wbuf_put_job_batch(&b, params, n, job_ids, jobs);
    err = proc_channel_send(s->bev, WIRE_K_JOB, &b);
    wbuf_destroy(&b);
    if (err) {
        return err;
    }
    s->state = SUPERVISOR_RUNNING;
    memcpy(s->job_ids, job_ids, n * sizeof *job_ids);
    memset(s->last, 0, sizeof s->last);
    memset(s->cancelling, 0, sizeof s->cancelling);
    s->n_jobs = n;
    supervisor_arm_hang_timer(s);
    return 0;
}

/* The index of a job out, or n_jobs. */
static size_t
supervisor_find(const struct supervisor *s, uint64_t id)
{
    size_t i = 0;

    while (i < s->n_jobs && s->job_ids[i] != id) {
        i++;
    }
    return i;
}

/* Forgets job i (it ended), keeping the others in order. */
static void
supervisor_forget(struct supervisor *s, size_t i)
{
    size_t rest = s->n_jobs - i - 1;

    memmove(&s->job_ids[i], &s->job_ids[i + 1], rest * sizeof *s->job_ids);
    memmove(&s->last[i], &s->last[i + 1], rest * sizeof *s->last);
    memmove(&s->cancelling[i], &s->cancelling[i + 1], rest * sizeof *s->cancelling);
    s->n_jobs--;
}

int
supervisor_cancel_job(struct supervisor *s, uint64_t job_id)
{
    size_t i = supervisor_find(s, job_id);
    struct wbuf b;

    if (s->state != SUPERVISOR_RUNNING || i == s->n_jobs) {
        return ENOENT;
    }
    if (s->cancelling[i]) {
        return 0;
    }
    wbuf_init(&b);
    wbuf_put_u64(&b, job_id);
    int err = proc_channel_send(s->bev, WIRE_K_CANCEL, &b);
    wbuf_destroy(&b);
    if (err) {
        /* The channel is broken: the worker is of no more use. */
        supervisor_stop_job(s);
        return 0;
    }
    s->cancelling[i] = true;
    return 0;
}

void
supervisor_stop_job(struct supervisor *s)
{
    if (s->state == SUPERVISOR_RUNNING && s->pid > 0) {
        s->stopping = true;
        supervisor_kill(s);
    }
}

/* One message from the worker. Returns false if it is malformed: the
 * channel is then torn down, as a worker we cannot understand is broken. */
static bool
supervisor_handle(struct supervisor *s, uint32_t type, const uint8_t *p, size_t len)
{
    struct rbuf r;

    rbuf_init(&r, p, len);
    if (type == WIRE_K_READY) {
        char *desc = rbuf_get_str(&r);
        if (!rbuf_ok(&r) || s->state != SUPERVISOR_STARTING) {
            free(desc);
            return false;
        }
        snprintf(s->caps, sizeof s->caps, "%s", desc ? desc : "");
        free(desc);
        evtimer_del(s->hang_timer);
        s->state = SUPERVISOR_IDLE;
        s->quick_failures = 0;
        /* Proven again once: the workers after it take its findings. */
        s->wcfg.reprobe = false;
        log_info("%s %ld ready: %s", s->label, (long) s->pid, s->caps);
        s->ops->idle(s->aux);
        return true;
    }
    if (type == WIRE_K_PROGRESS) {
        struct engine_stats st;
        uint64_t id = rbuf_get_u64(&r);
        rbuf_get_engine_stats(&r, &st);
        size_t i = supervisor_find(s, id);
        if (!rbuf_ok(&r) || s->state != SUPERVISOR_RUNNING || i == s->n_jobs) {
            return false;
        }
        s->last[i] = st;
        supervisor_arm_hang_timer(s);
        s->ops->progress(id, &st, s->aux);
        return true;
    }
    if (type == WIRE_K_DONE) {
        struct engine_stats st;
        uint64_t id = rbuf_get_u64(&r);
        int err = (int) rbuf_get_u32(&r);
        char *reason = rbuf_get_str(&r);
        char *names = rbuf_get_str(&r);
        rbuf_get_engine_stats(&r, &st);
        size_t i = supervisor_find(s, id);
        if (!rbuf_ok(&r) || s->state != SUPERVISOR_RUNNING || i == s->n_jobs) {
            free(reason);
            free(names);
            return false;
        }
        bool cancelled = s->cancelling[i];
        supervisor_forget(s, i);
        if (!s->n_jobs) {
            evtimer_del(s->hang_timer);
            s->state = SUPERVISOR_IDLE;
        } else {
            supervisor_arm_hang_timer(s);
        }
        /* The engine refusing a job (a forced strategy the kernel cannot
         * do, no privileges) will refuse it again; anything else may pass
         * on a later try. A job we cancelled was stopped, whatever the
         * worker says (it may have finished first). */
        bool retryable = !(err == EINVAL || err == ENOTSUP || err == EPERM);
        s->ops->done(id, cancelled ? ECANCELED : err, retryable || cancelled, cancelled,
                     reason ? reason : "", names ? names : "", &st, s->aux);
        free(reason);
        free(names);
        if (s->state == SUPERVISOR_IDLE) {
            s->ops->idle(s->aux);
        }
        return true;
    }
    return false;
}

static bool
supervisor_handle_cb(uint32_t type, const uint8_t *p, size_t len, void *aux)
{
    return supervisor_handle(aux, type, p, len);
}

static void
supervisor_read_cb(struct bufferevent *bev, void *aux)
{
    struct supervisor *s = aux;
    uint32_t type;

    if (proc_channel_dispatch(bufferevent_get_input(bev), supervisor_handle_cb, s, &type)) {
        /* A worker we cannot understand is broken: replace it. */
        log_warnx("%s %ld: malformed message (type %u): killing it", s->label,
                  (long) s->pid, type);
        bufferevent_disable(bev, EV_READ);
        supervisor_kill(s);
    }
}

static void
supervisor_event_cb(struct bufferevent *bev, short what, void *aux)
{
    struct supervisor *s = aux;

    (void) bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        /* The worker closed its end: it is exiting or broken. The reaper
         * does the accounting once the process is really gone. */
        bufferevent_disable(s->bev, EV_READ | EV_WRITE);
        supervisor_kill(s);
    }
}

bool
supervisor_reap(struct supervisor *s, pid_t pid, int status)
{
    char how[64];

    if (pid <= 0 || pid != s->pid) {
        return false;
    }
    bool hung = s->hang_killed;
    s->hang_killed = false;
    if (hung) {
        snprintf(how, sizeof how, "hung (silent for %u ms)", supervisor_allowance_ms(s));
    } else {
        proc_status_str(status, how, sizeof how);
    }
    snprintf(s->last_exit, sizeof s->last_exit, "%s", how);
    if (s->bev) {
        bufferevent_free(s->bev);
        s->bev = NULL;
    }
    s->pid = 0;
    evtimer_del(s->hang_timer);

    enum supervisor_state was = s->state;
    bool stopped = s->stopping;
    s->stopping = false;
    if (!stopped && !hung) {
        s->crashes++;
    }
    if (!stopped && log_ratelimit_ok(&supervisor_rl)) {
        log_warnx("%s %ld %s while %s", s->label, (long) pid, how,
                  supervisor_state_name(was));
    }
    if (stopped) {
        s->quick_failures = 0;
    } else {
        s->quick_failures++;
    }
    if (was == SUPERVISOR_DOWN) {
        return true;            /* Shutting down. */
    }
    supervisor_schedule_restart(s);
    if (was == SUPERVISOR_RUNNING) {
        char reason[128];
        if (stopped) {
            snprintf(reason, sizeof reason, "stopped by request");
        } else {
            snprintf(reason, sizeof reason, "%s %s", s->label, how);
        }
        /* Every job still out, in the order they were given; done() may
         * not hand the worker anything (it is restarting). */
        while (s->n_jobs) {
            uint64_t id = s->job_ids[0];
            struct engine_stats last = s->last[0];
            bool cancelled = s->cancelling[0];
            supervisor_forget(s, 0);
            s->ops->done(id, stopped || cancelled ? ECANCELED : ECHILD, true,
                         stopped || cancelled, reason, "", &last, s->aux);
        }
    }
    return true;
}

void
supervisor_set_timeout(struct supervisor *s, unsigned int timeout_ms)
{
    s->timeout_ms = timeout_ms ? timeout_ms : 30000;
}

void
supervisor_set_nice(struct supervisor *s, int nice)
{
    s->wcfg.nice = nice;
}

void
supervisor_shutdown(struct supervisor *s)
{
    s->state = SUPERVISOR_DOWN;
    if (s->pid > 0) {
        proc_stop(s->pid, s->bev ? bufferevent_getfd(s->bev) : -1, PROC_STOP_GRACE_MS);
        s->pid = 0;
    }
    if (s->bev) {
        bufferevent_free(s->bev);
        s->bev = NULL;
    }
    if (s->hang_timer) {
        event_free(s->hang_timer);
        s->hang_timer = NULL;
    }
    if (s->restart_timer) {
        event_free(s->restart_timer);
        s->restart_timer = NULL;
    }
}
