/*
 * worker.c: the batch worker's main loop (see worker.h). Blocking I/O is
 * right here: the worker has exactly one thing to do at a time, and the
 * parent, not the worker, is the one that must stay responsive.
 */
#include "worker.h"

#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "probe.h"
#include "probecache.h"
#include "caps.h"
#include "wire.h"

/* The jobs of one WIRE_K_JOB, while the engine runs them. */
struct worker_run {
    int fd;
    bool channel_lost;
    struct engine_job *jobs;    /* The running batch; NULL between batches. */
    size_t n;
};

static void
worker_send(struct worker_run *w, uint32_t type, const struct wbuf *b)
{
    if (w->channel_lost) {
        return;
    }
    int err = wire_send(w->fd, type, b);
    if (err) {
        /* The parent is gone or wedged; finishing the job is pointless as
         * nobody would learn of it, and PDEATHSIG will follow. */
        w->channel_lost = true;
    }
}

static void
worker_progress(uint64_t id, const struct engine_stats *stats, void *aux)
{
    struct worker_run *w = aux;
    struct wbuf b;

    wbuf_init(&b);
    wbuf_put_u64(&b, id);
    wbuf_put_engine_stats(&b, stats);
    worker_send(w, WIRE_K_PROGRESS, &b);
    wbuf_destroy(&b);
}

static void
worker_done(const struct engine_job *j, void *aux)
{
    struct worker_run *w = aux;
    char names[64] = "";
    struct wbuf b;

    engine_strategies_name(&j->stats, names, sizeof names);
    wbuf_init(&b);
    wbuf_put_u64(&b, j->id);
    wbuf_put_u32(&b, (uint32_t) j->err);
    wbuf_put_str(&b, j->err ? j->errbuf : "");
    wbuf_put_str(&b, names);
    wbuf_put_engine_stats(&b, &j->stats);
    worker_send(w, WIRE_K_DONE, &b);
    wbuf_destroy(&b);
}

/* Reads what the parent sent while the jobs run: only cancellations of
 * running jobs are expected. Called on the engine's thread at every
 * progress interval. */
static void
worker_poll(void *aux)
{
    struct worker_run *w = aux;

    while (!w->channel_lost) {
        struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
        uint32_t type;
        uint8_t *payload = NULL;
        size_t len = 0;

        if (poll(&pfd, 1, 0) <= 0) {
            return;
        }
        int err = wire_recv(w->fd, &type, &payload, &len);
        if (err) {
            /* The parent closed the channel: nobody wants the rest. */
            exit(err == ENOTCONN ? 0 : 1);
        }
        struct rbuf r;
        rbuf_init(&r, payload, len);
        uint64_t id = rbuf_get_u64(&r);
        if (type != WIRE_K_CANCEL || !rbuf_ok(&r)) {
            /* Both ends are the same binary: a bug. The parent sees the
             * worker die and runs the jobs again. */
            log_warnx("worker: unexpected message type %u while running jobs", type);
            exit(1);
        }
        for (size_t i = 0; i < w->n; i++) {
            if (w->jobs[i].id == id) {
                w->jobs[i].cancel = true;
            }
        }
        /* A job that finished meanwhile: its DONE is on its way. */
        free(payload);
    }
}

static void
worker_run_jobs(struct worker_run *w, const struct ct_caps *caps,
                const uint8_t *payload, size_t len)
{
    struct wire_job_batch *batch = calloc(1, sizeof *batch);
    struct engine_job jobs[WIRE_MAX_JOBS];
    struct engine_opts opts;
    struct rbuf r;

    if (!batch) {
        log_warnx("worker: out of memory for a batch of jobs");
        exit(1);
    }
    rbuf_init(&r, payload, len);
    rbuf_get_job_batch(&r, batch);
    if (!rbuf_ok(&r)) {
        /* Both ends are the same binary: this is a bug, not bad input. The
         * parent sees the worker die and runs the jobs again. */
        log_warnx("worker: malformed job message");
        exit(1);
    }
    memset(jobs, 0, sizeof jobs);
    for (size_t i = 0; i < batch->n; i++) {
        jobs[i].id = batch->id[i];
        jobs[i].job = &batch->job[i];
    }
    engine_opts_init(&opts);
    opts.force = (enum ct_strategy) batch->params.strategy;
    opts.caps = caps;
    opts.max_local = batch->params.max_local;
    opts.max_peers = batch->params.max_peers;
    opts.batch_bytes = batch->params.batch_bytes;
    opts.max_delete_rate = batch->params.max_delete_rate;
    opts.dump_threads = batch->params.dump_threads;
    opts.progress = worker_progress;
    opts.progress_aux = w;
    opts.poll = worker_poll;
    opts.done = worker_done;
    opts.hook_aux = w;
    if (batch->params.progress_interval_ms) {
        opts.progress_interval_ms = batch->params.progress_interval_ms;
    }
    w->jobs = jobs;
    w->n = batch->n;
    engine_run_jobs(jobs, batch->n, &opts);
    w->jobs = NULL;
    w->n = 0;
    wire_job_batch_destroy(batch);
    free(batch);
}

/* Keeps exactly caps (as far as they are permitted), effective. A worker that
 * cannot narrow its capabilities must not run with more than it should. */
static void
worker_limit_caps(uint64_t caps)
{
    int err = caps_limit(caps, caps);

    if (err) {
        log_warnx("worker: cannot set capabilities: %s", strerror(err));
        exit(1);
    }
}

void
worker_main(int fd, void *arg)
{
    const struct worker_config *cfg = arg;
    struct worker_run w = { .fd = fd };
    struct ct_caps caps;
    char desc[512];

    /* Bulk deletes can wait a little for the host's real work. */
    if (cfg->nice && setpriority(PRIO_PROCESS, 0, cfg->nice) < 0) {
        log_warn("worker: setpriority(%d)", cfg->nice);
    }
    /* The parent holds these as permitted only; make them effective here.
     * CAP_SYS_ADMIN is for the probe's throwaway namespace and nothing else. */
    worker_limit_caps(CAPS_BIT(CAP_NET_ADMIN) | (cfg->probe ? CAPS_BIT(CAP_SYS_ADMIN) : 0));
    if (cfg->probe) {
        bool cached;
        int err = probe_cached(cfg->probe_cache[0] ? cfg->probe_cache : NULL, cfg->reprobe,
                               &caps, &cached);
        if (err) {
            log_warnx("worker: kernel probe failed (%s): using the dump path only",
                      strerror(err));
            ct_caps_init_unproven(&caps, "probe failed");
        }
        worker_limit_caps(CAPS_BIT(CAP_NET_ADMIN));
    } else {
        ct_caps_init_unproven(&caps, "probe disabled");
    }
    probe_describe(&caps, desc, sizeof desc);

    struct wbuf b;
    wbuf_init(&b);
    wbuf_put_str(&b, desc);
    worker_send(&w, WIRE_K_READY, &b);
    wbuf_destroy(&b);

    while (!w.channel_lost) {
        uint32_t type;
        uint8_t *payload = NULL;
        size_t len = 0;
        int err = wire_recv(fd, &type, &payload, &len);

        if (err) {
            /* ENOTCONN: the parent closed the channel, our cue to go. */
            exit(err == ENOTCONN ? 0 : 1);
        }
        if (type == WIRE_K_JOB) {
            worker_run_jobs(&w, &caps, payload, len);
        } else if (type == WIRE_K_CANCEL) {
            /* For a job that finished before the cancel came: its DONE was
             * sent already. */
        } else {
            log_warnx("worker: unexpected message type %u", type);
        }
        free(payload);
    }
    exit(1);
}
