/*
 * userdp.c: the userdp child's main loop (see userdp.h): what ovs-vswitchd
 * can do is probed, then each job of a WIRE_K_JOB batch is planned
 * (udplan.h) and run as dpctl/flush-conntrack calls (ovsctl.h), one job
 * after the other, with PROGRESS after the calls and a DONE per job.
 *
 * The probe asks ovs-vswitchd its version and makes partial-tuple flushes
 * in a throwaway zone for addresses of the documentation ranges
 * (192.0.2.1, 2001:db8::1), which no real entry has: an original tuple,
 * a reply tuple alone, IPv6. What it finds stands for that ovs-vswitchd
 * process: a new pid (a restart, an upgrade) is probed again.
 *
 * ovs-vswitchd absent, restarting or silent: a job waits up to timeout_ms
 * for it (sending PROGRESS, so the parent's hang timer sees a live child),
 * reconnects and goes on from the call that failed (a flush is idempotent);
 * past that its DONE says why with a retryable error, and the parent's
 * queue retries it with backoff as it retries the worker's jobs.
 *
 * The counts: ovs-vswitchd says nothing of what one flush deleted, so a
 * job's "deleted" is its table's entry count (dpctl/ct-get-nconns) before
 * minus after, a lower bound when new connections arrive meanwhile.
 */
#include "userdp.h"

#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caps.h"
#include "log.h"
#include "num.h"
#include "ovsctl.h"
#include "udplan.h"
#include "wire.h"

/* The throwaway zone of the probe's flushes; any zone would do, since the
 * addresses are documentation ones. */
#define USERDP_PROBE_ZONE "zone=65535"
#define USERDP_WAIT_STEP_MS 200
#define USERDP_PROGRESS_MS 1000
/* Reconnections one job may make: ovs-vswitchd crashing at every call
 * must cost the job its attempt, not loop. */
#define USERDP_MAX_RECONNECTS 8

enum userdp_verdict {
    USERDP_UNREACHED,           /* Not probed (yet) for this pid. */
    USERDP_OK,                  /* Partial-tuple flushes work. */
    USERDP_NO_DATAPATH,         /* "no datapaths exist": no table to flush. */
    USERDP_UNSUPPORTED,         /* This ovs-vswitchd cannot do it (why says). */
};

struct userdp {
    int fd;                     /* The channel to the parent. */
    const struct userdp_config *cfg;
    bool channel_lost;
    struct ovsctl ctl;
    enum userdp_verdict verdict;
    pid_t probed_pid;           /* The ovs-vswitchd the verdict is of. */
    bool reply_ok;              /* A reply tuple alone is accepted. */
    bool ipv6_ok;
    char version[64];
    char why[256];              /* The verdict in words. */
    /* The batch being run. */
    const uint64_t *ids;
    bool cancel[WIRE_MAX_JOBS];
    size_t n;
};

static void
userdp_send(struct userdp *u, uint32_t type, const struct wbuf *b)
{
    if (!u->channel_lost && wire_send(u->fd, type, b)) {
        u->channel_lost = true; /* The parent is gone: PDEATHSIG follows. */
    }
}

static void
userdp_progress(struct userdp *u, uint64_t id, const struct engine_stats *st)
{
    struct wbuf b;

    wbuf_init(&b);
    wbuf_put_u64(&b, id);
    wbuf_put_engine_stats(&b, st);
    userdp_send(u, WIRE_K_PROGRESS, &b);
    wbuf_destroy(&b);
}

static void
userdp_done(struct userdp *u, uint64_t id, int err, const char *reason, const char *strategy,
            const struct engine_stats *st)
{
    struct wbuf b;

    wbuf_init(&b);
    wbuf_put_u64(&b, id);
    wbuf_put_u32(&b, (uint32_t) err);
    wbuf_put_str(&b, err ? reason : "");
    wbuf_put_str(&b, strategy);
    wbuf_put_engine_stats(&b, st);
    userdp_send(u, WIRE_K_DONE, &b);
    wbuf_destroy(&b);
}

/* Reads what the parent sent while a batch runs (cancellations only),
 * waiting up to wait_ms for the first message. */
static void
userdp_poll(struct userdp *u, int wait_ms)
{
    while (!u->channel_lost) {
        struct pollfd pfd = { .fd = u->fd, .events = POLLIN };
        uint32_t type;
        uint8_t *payload = NULL;
        size_t len = 0;

        if (poll(&pfd, 1, wait_ms) <= 0) {
            return;
        }
        wait_ms = 0;
        int err = wire_recv(u->fd, &type, &payload, &len);
        if (err) {
            exit(err == ENOTCONN ? 0 : 1);  /* The parent closed the channel. */
        }
        struct rbuf r;
        rbuf_init(&r, payload, len);
        uint64_t id = rbuf_get_u64(&r);
        if (type != WIRE_K_CANCEL || !rbuf_ok(&r)) {
            log_warnx("userdp: unexpected message type %u while running jobs", type);
            exit(1);            /* A bug: the parent replaces us. */
        }
        for (size_t i = 0; i < u->n; i++) {
            if (u->ids[i] == id) {
                u->cancel[i] = true;
            }
        }
        free(payload);
    }
}

/* ---- Probe. ---- */

/* One flush in the throwaway zone: 0 (done), or the error text's verdict. */
static int
userdp_probe_flush(struct userdp *u, const char *orig, const char *reply, char **error)
{
    const char *args[3] = { USERDP_PROBE_ZONE, orig, reply };
    char *result = NULL;
    int err = ovsctl_call(&u->ctl, "dpctl/flush-conntrack", args, reply ? 3 : 2,
                          u->cfg->timeout_ms, &result, error);
    free(result);
    return err;
}

static bool
userdp_no_datapath(const char *error)
{
    return error && strstr(error, "no datapaths exist");
}

/* Probes the connected ovs-vswitchd. Returns 0 (u->verdict set) or the
 * errno of a call that got no answer (the connection is then closed). */
static int
userdp_probe(struct userdp *u)
{
    char *result = NULL, *error = NULL;
    int err;

    u->verdict = USERDP_UNREACHED;
    u->reply_ok = u->ipv6_ok = false;
    err = ovsctl_call(&u->ctl, "version", NULL, 0, u->cfg->timeout_ms, &result, &error);
    if (err) {
        return err;
    }
    /* "ovs-vswitchd (Open vSwitch) 3.1.0\n": for the record, not for
     * deciding (the flushes below decide). */
    const char *v = result ? strstr(result, ") ") : NULL;
    snprintf(u->version, sizeof u->version, "%.*s", v ? (int) strcspn(v + 2, "\n") : 1,
             v ? v + 2 : "?");
    free(result);
    free(error);
    error = NULL;

    err = userdp_probe_flush(u, "ct_nw_src=192.0.2.1", NULL, &error);
    if (err) {
        return err;
    }
    if (userdp_no_datapath(error)) {
        u->verdict = USERDP_NO_DATAPATH;
        snprintf(u->why, sizeof u->why, "ovs-vswitchd %s has no datapath (no netdev bridge)",
                 u->version);
    } else if (error && strstr(error, "multiple datapaths")) {
        /* A kernel and a netdev datapath in one ovs-vswitchd: 3.1.0 cannot
         * be told which (its parser reads a datapath name as a tuple:
         * "field netdev@ovs-netdev missing value"). */
        u->verdict = USERDP_UNSUPPORTED;
        snprintf(u->why, sizeof u->why,
                 "ovs-vswitchd %s has several datapaths and dpctl/flush-conntrack "
                 "cannot be told which (docs/userdp.md)", u->version);
    } else if (error) {
        u->verdict = USERDP_UNSUPPORTED;
        snprintf(u->why, sizeof u->why,
                 "ovs-vswitchd %s refuses a partial-tuple flush (Open vSwitch 3.1 or later "
                 "is needed): %.*s", u->version, (int) strcspn(error, "\n"), error);
    } else {
        u->verdict = USERDP_OK;
    }
    free(error);
    error = NULL;
    if (u->verdict == USERDP_OK) {
        err = userdp_probe_flush(u, "", "ct_nw_src=192.0.2.1", &error);
        u->reply_ok = !err && !error;
        free(error);
        error = NULL;
        if (!err) {
            err = userdp_probe_flush(u, "ct_ipv6_src=2001:db8::1", NULL, &error);
            u->ipv6_ok = !err && !error;
            free(error);
        }
        if (err) {
            u->verdict = USERDP_UNREACHED;
            return err;
        }
        snprintf(u->why, sizeof u->why,
                 "ovs-vswitchd %s (pid %ld): partial-tuple flush%s%s", u->version,
                 (long) u->ctl.pid, u->reply_ok ? ", reply tuple" : ", no reply tuple",
                 u->ipv6_ok ? ", IPv6" : ", no IPv6");
    }
    u->probed_pid = u->ctl.pid;
    return 0;
}

/* Connected to an ovs-vswitchd that is probed: tries once. Returns 0 or an
 * errno, with the reason in why. */
static int
userdp_connect_once(struct userdp *u, char *why, size_t len)
{
    pid_t pid;

    /* A new pidfile is a restarted ovs-vswitchd: a connection to the old
     * one is dead even if it has not failed yet. */
    if (u->ctl.fd >= 0 && (ovsctl_read_pid(u->cfg->rundir, &pid) || pid != u->ctl.pid)) {
        ovsctl_close(&u->ctl);
    }
    if (u->ctl.fd < 0) {
        int err = ovsctl_connect(&u->ctl, u->cfg->rundir, why, len);
        if (err) {
            return err;
        }
    }
    if (u->verdict == USERDP_UNREACHED || u->verdict == USERDP_NO_DATAPATH
        || u->probed_pid != u->ctl.pid) {
        int err = userdp_probe(u);
        if (err) {
            snprintf(why, len, "ovs-vswitchd (pid %ld) did not answer the probe: %s",
                     (long) u->ctl.pid, strerror(err));
            ovsctl_close(&u->ctl);
            return err;
        }
        log_info("userdp: %s", u->why);
    }
    return 0;
}

/* Waits up to timeout_ms for a probed ovs-vswitchd, reading cancellations
 * and sending job i's progress meanwhile. Returns 0, ECANCELED, or the
 * last errno with the reason in why. */
static int
userdp_ensure(struct userdp *u, size_t i, const struct engine_stats *st, char *why,
              size_t len)
{
    uint64_t start = ctf_time_msec(), last = start;

    for (;;) {
        int err = userdp_connect_once(u, why, len);
        if (!err) {
            return 0;
        }
        uint64_t now = ctf_time_msec();
        if (now - start >= u->cfg->timeout_ms) {
            return err;
        }
        if (now - last >= USERDP_PROGRESS_MS) {
            userdp_progress(u, u->ids[i], st);
            last = now;
        }
        userdp_poll(u, USERDP_WAIT_STEP_MS);
        if (u->cancel[i]) {
            return ECANCELED;
        }
    }
}

/* dpctl/ct-get-nconns, or -1 when it cannot be told. */
static int64_t
userdp_nconns(struct userdp *u)
{
    char *result = NULL, *error = NULL;
    uint64_t v;
    int64_t n = -1;

    if (!ovsctl_call(&u->ctl, "dpctl/ct-get-nconns", NULL, 0, u->cfg->timeout_ms, &result,
                     &error) && result) {
        result[strcspn(result, "\n")] = '\0';
        if (!num_parse_u64(result, NUM_DEC, 0, INT64_MAX, &v, NULL, 0)) {
            n = (int64_t) v;
        }
    }
    free(result);
    free(error);
    return n;
}

/* ---- Jobs. ---- */

static const char *
userdp_needs(const struct userdp *u, const struct flush_job *job)
{
    if (job->tuple == FLUSH_TUPLE_ANY && !job->local_any && !u->reply_ok) {
        return "this ovs-vswitchd cannot match the reply tuple alone (tuple 'any' "
               "needs it; 'orig' does not)";
    }
    for (size_t i = 0; i < job->local.n; i++) {
        if (job->local.items[i].family == AF_INET6 && !u->ipv6_ok
            && flush_job_family_ok(job, AF_INET6)) {
            return "this ovs-vswitchd refuses IPv6 partial tuples";
        }
    }
    return NULL;
}

static void
userdp_run_job(struct userdp *u, size_t i, const struct flush_job *job)
{
    uint64_t id = u->ids[i], start = ctf_time_msec(), last = start;
    struct engine_stats st;
    struct udplan plan;
    char why[512] = "";
    const char *strategy = "ovs-partial-flush";
    unsigned int reconnects = 0;
    int err;

    memset(&st, 0, sizeof st);
    err = udplan_build(job, &plan, why, sizeof why);
    if (err == E2BIG) {
        err = ENOTSUP;          /* Refused for good: the parent does not retry. */
    }
    if (err) {
        st.elapsed_ms = (double) (ctf_time_msec() - start);
        userdp_done(u, id, err, why, "", &st);
        return;
    }
    err = userdp_ensure(u, i, &st, why, sizeof why);
    if (!err && u->verdict == USERDP_UNSUPPORTED) {
        err = ENOTSUP;
        snprintf(why, sizeof why, "%s", u->why);
    } else if (!err && u->verdict == USERDP_OK && userdp_needs(u, job)) {
        err = ENOTSUP;
        snprintf(why, sizeof why, "%s", userdp_needs(u, job));
    }
    if (!err && u->verdict == USERDP_NO_DATAPATH) {
        /* No netdev datapath in ovs-vswitchd: there is no table, and so
         * nothing of the job's left in one. */
        strategy = "none (no datapath)";
        plan.n = 0;
    }
    if (!err && plan.n) {
        int64_t before = userdp_nconns(u);
        st.table_before = before > 0 ? (uint64_t) before : 0;
        for (size_t c = 0; c < plan.n && !err;) {
            const struct udplan_call *call = &plan.calls[c];
            const char *args[3] = { call->args[0], call->args[1], call->args[2] };
            char *result = NULL, *error = NULL;

            if (u->cancel[i]) {
                err = ECANCELED;
                snprintf(why, sizeof why, "cancelled");
                break;
            }
            int rc = ovsctl_call(&u->ctl, "dpctl/flush-conntrack", args, call->n_args,
                                 u->cfg->timeout_ms, &result, &error);
            free(result);
            if (rc) {
                /* No answer: ovs-vswitchd is restarting, gone or stuck.
                 * Wait for it and make this call again. */
                log_warnx("userdp: job %llu: ovs-vswitchd (pid %ld) did not answer: %s",
                          (unsigned long long) id, (long) u->ctl.pid, strerror(rc));
                ovsctl_close(&u->ctl);
                if (++reconnects > USERDP_MAX_RECONNECTS) {
                    err = rc;
                    snprintf(why, sizeof why, "ovs-vswitchd went away %u times during the "
                             "job: %s", reconnects - 1, strerror(rc));
                } else if ((err = userdp_ensure(u, i, &st, why, sizeof why)) == 0
                           && u->verdict == USERDP_NO_DATAPATH) {
                    strategy = "none (no datapath)";
                    break;
                } else if (!err && u->verdict != USERDP_OK) {
                    err = ENOTSUP;
                    snprintf(why, sizeof why, "%s", u->why);
                }
                continue;
            }
            if (error && userdp_no_datapath(error)) {
                /* The last netdev bridge went during the job, with its table. */
                free(error);
                u->verdict = USERDP_NO_DATAPATH;
                strategy = "none (no datapath)";
                break;
            }
            if (error) {
                err = EIO;
                snprintf(why, sizeof why, "dpctl/flush-conntrack %s %s %s: %.*s",
                         args[0], call->n_args > 1 ? args[1] : "",
                         call->n_args > 2 ? args[2] : "", (int) strcspn(error, "\n"), error);
                free(error);
                break;
            }
            st.passes++;
            st.chunks++;
            c++;
            uint64_t now = ctf_time_msec();
            if (now - last >= USERDP_PROGRESS_MS) {
                st.elapsed_ms = (double) (now - start);
                userdp_progress(u, id, &st);
                last = now;
            }
            userdp_poll(u, 0);
        }
        if (!err && u->ctl.fd >= 0) {
            int64_t after = userdp_nconns(u);
            if (before >= 0 && after >= 0 && after < before) {
                st.deleted = (uint64_t) (before - after);
            }
        }
    }
    if (err == ECANCELED) {
        snprintf(why, sizeof why, "cancelled");
    } else if (err == E2BIG) {
        err = ENOTSUP;          /* Too big for this way: it will stay so. */
    } else if (err && !why[0]) {
        snprintf(why, sizeof why, "%s", strerror(err));
    }
    udplan_destroy(&plan);
    st.elapsed_ms = (double) (ctf_time_msec() - start);
    userdp_done(u, id, err, why, err ? "" : strategy, &st);
}

static void
userdp_run_batch(struct userdp *u, const uint8_t *payload, size_t len)
{
    struct wire_job_batch *batch = calloc(1, sizeof *batch);
    struct rbuf r;

    if (!batch) {
        log_warnx("userdp: out of memory for a batch of jobs");
        exit(1);
    }
    rbuf_init(&r, payload, len);
    rbuf_get_job_batch(&r, batch);
    if (!rbuf_ok(&r)) {
        log_warnx("userdp: malformed job message");
        exit(1);                /* A bug: the parent replaces us. */
    }
    u->ids = batch->id;
    u->n = batch->n;
    memset(u->cancel, 0, sizeof u->cancel);
    for (size_t i = 0; i < batch->n && !u->channel_lost; i++) {
        if (u->cancel[i]) {
            struct engine_stats st;
            memset(&st, 0, sizeof st);
            userdp_done(u, batch->id[i], ECANCELED, "cancelled", "", &st);
            continue;
        }
        userdp_run_job(u, i, &batch->job[i]);
    }
    u->ids = NULL;
    u->n = 0;
    wire_job_batch_destroy(batch);
    free(batch);
}

/* Whether the run directory is another user's (ovs-vswitchd running as
 * the openvswitch user): connecting then takes CAP_DAC_OVERRIDE. */
static bool
userdp_rundir_foreign(const char *rundir)
{
    struct stat st;

    return !stat(rundir, &st) && st.st_uid != geteuid();
}

void
userdp_main(int fd, void *arg)
{
    const struct userdp_config *cfg = arg;
    struct userdp u;
    char why[512] = "";

    memset(&u, 0, sizeof u);
    u.fd = fd;
    u.cfg = cfg;
    ovsctl_init(&u.ctl);

    /* A socket to talk to is all this child needs: no CAP_NET_ADMIN, so a
     * bug here cannot touch the kernel's table. */
    uint64_t keep = userdp_rundir_foreign(cfg->rundir) ? CAPS_BIT(CAP_DAC_OVERRIDE) : 0;
    int err = caps_limit(keep, keep);
    if (err) {
        log_warnx("userdp: cannot drop privileges: %s", strerror(err));
        exit(1);
    }

    /* One try: a host without ovs-vswitchd (or without netdev bridges)
     * must not keep a child crash-looping; jobs wait for it instead. */
    err = userdp_connect_once(&u, why, sizeof why);
    char desc[600];
    if (err) {
        snprintf(desc, sizeof desc, "ovs-vswitchd not reached (%s): probing at the first job",
                 why);
    } else {
        snprintf(desc, sizeof desc, "%s", u.why);
    }
    struct wbuf b;
    wbuf_init(&b);
    wbuf_put_str(&b, desc);
    userdp_send(&u, WIRE_K_READY, &b);
    wbuf_destroy(&b);

    while (!u.channel_lost) {
        uint32_t type;
        uint8_t *payload = NULL;
        size_t len = 0;

        err = wire_recv(fd, &type, &payload, &len);
        if (err) {
            ovsctl_close(&u.ctl);
            exit(err == ENOTCONN ? 0 : 1);
        }
        if (type == WIRE_K_JOB) {
            userdp_run_batch(&u, payload, len);
        } else if (type != WIRE_K_CANCEL) {
            log_warnx("userdp: unexpected message type %u", type);
        }
        free(payload);
    }
    ovsctl_close(&u.ctl);
    exit(1);
}
