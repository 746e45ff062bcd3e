/*
 * worker.c: the batch worker's main loop (see worker.h). Blocking I/O is
 * right here: the worker has exactly one thing to do at a time, and the
 * parent, not the worker, is the one that must stay responsive.
 */
#include "worker.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "probe.h"
#include "caps.h"
#include "wire.h"

struct worker_run {
    int fd;
    uint64_t job_id;
    bool channel_lost;
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
worker_progress(const struct engine_stats *stats, void *aux)
{
    struct worker_run *w = aux;
    struct wbuf b;

    wbuf_init(&b);
    wbuf_put_u64(&b, w->job_id);
    wbuf_put_engine_stats(&b, stats);
    worker_send(w, WIRE_K_PROGRESS, &b);
    wbuf_destroy(&b);
}

static void
worker_run_job(struct worker_run *w, const struct ct_caps *caps,
               const uint8_t *payload, size_t len)
{
    struct flush_job job;
    struct wire_job_params params;
    struct engine_opts opts;
    struct engine_stats stats;
    struct rbuf r;
    char err[256] = "";
    char names[64] = "";
    int rc;

    flush_job_init(&job);
    memset(&params, 0, sizeof params);
    memset(&stats, 0, sizeof stats);
    rbuf_init(&r, payload, len);
    w->job_id = rbuf_get_u64(&r);
    rbuf_get_job(&r, &job);
    rbuf_get_job_params(&r, &params);
    if (!rbuf_ok(&r)) {
        /* Both ends are the same binary: this is a bug, not bad input. */
        rc = EPROTO;
        snprintf(err, sizeof err, "worker: malformed job message");
    } else {
        engine_opts_init(&opts);
        opts.force = (enum ct_strategy) params.strategy;
        opts.caps = caps;
        opts.max_local = params.max_local;
        opts.max_peers = params.max_peers;
        opts.batch_bytes = params.batch_bytes;
        opts.max_delete_rate = params.max_delete_rate;
        opts.dump_threads = params.dump_threads;
        opts.progress = worker_progress;
        opts.progress_aux = w;
        if (params.progress_interval_ms) {
            opts.progress_interval_ms = params.progress_interval_ms;
        }
        rc = engine_run(&job, &opts, &stats, err, sizeof err);
        engine_strategies_name(&stats, names, sizeof names);
    }

    struct wbuf b;
    wbuf_init(&b);
    wbuf_put_u64(&b, w->job_id);
    wbuf_put_u32(&b, (uint32_t) rc);
    wbuf_put_str(&b, err);
    wbuf_put_str(&b, names);
    wbuf_put_engine_stats(&b, &stats);
    worker_send(w, WIRE_K_DONE, &b);
    wbuf_destroy(&b);
    flush_job_destroy(&job);
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
        int err = probe_run(&caps, true);
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
            worker_run_job(&w, &caps, payload, len);
        } else {
            log_warnx("worker: unexpected message type %u", type);
        }
        free(payload);
    }
    exit(1);
}
