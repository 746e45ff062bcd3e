/*
 * test_jobq.c: unit tests for jobq.c (priorities, retries and backoff,
 * history, merging, chunking, limits, cancel, requeue, restore).
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

#include "jobq.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

static struct jobq_limits
limits(void)
{
    struct jobq_limits l;

    jobq_limits_default(&l);
    return l;
}

/* Queues local x peers (zone < 0: none); returns the first id. */
static uint64_t
add_full(struct jobq *q, enum job_origin origin, const char *local, const char *peers,
         int zone, const char *port, bool *merged_out)
{
    struct flush_job job;
    const char *ports[1] = { port };
    uint64_t id = 0;
    bool merged = true;
    char err[192];

    job_make(&job, local, peers);
    if (zone >= 0) {
        job.has_zone = true;
        job.zone = (uint16_t) zone;
    }
    int rc = jobq_add(q, origin, &job, ports, port ? 1 : 0, 1000.0, &id, &merged,
                      err, sizeof err);
    if (rc) {
        fail_msg("jobq_add: %s (%s)", strerror(rc), err);
    }
    flush_job_destroy(&job);
    if (merged_out) {
        *merged_out = merged;
    }
    return id;
}

static uint64_t
add(struct jobq *q, enum job_origin origin, const char *local, const char *peers)
{
    return add_full(q, origin, local, peers, -1, NULL, NULL);
}

/* A list of n distinct host addresses starting at 10.<base>.0.1. */
static char *
addr_list(int base, int n)
{
    char *s = malloc((size_t) n * 20 + 1);
    size_t len = 0;

    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        len += (size_t) sprintf(s + len, "%s10.%d.%d.%d", i ? "," : "", base,
                                i / 250, i % 250 + 1);
    }
    return s;
}

static size_t
queue_len(const struct jobq *q)
{
    size_t n = 0;

    for (const struct qjob *j = q->queue; j; j = j->next) {
        n++;
    }
    return n;
}

/* Runs the next job at now_ms and finishes it with err; returns its id. */
static uint64_t
run(struct jobq *q, uint64_t now_ms, int err, bool retryable, enum job_state *st)
{
    struct qjob *j = jobq_peek(q, now_ms);
    struct engine_stats stats;
    uint64_t id;

    assert_non_null(j);
    id = j->id;
    jobq_start(q, j, 2000.0);
    assert_ptr_equal(q->running, j);
    memset(&stats, 0, sizeof stats);
    stats.deleted = 10;
    stats.scanned = 100;
    enum job_state s = jobq_finish(q, id, err, retryable, err ? "boom" : NULL, "dump",
                                   &stats, now_ms, 2001.0);
    if (st) {
        *st = s;
    }
    return id;
}

/* ---- Tests. ---- */

static void
test_names(void **state)
{
    enum job_origin o;

    assert_string_equal(job_origin_name(JOB_ORIGIN_PORT_REMOVE), "port-remove");
    assert_string_equal(job_origin_name(JOB_ORIGIN_PORT_ADD), "port-add");
    assert_string_equal(job_origin_name(JOB_ORIGIN_MANUAL), "manual");
    assert_int_equal(job_origin_parse("port-add", &o), 0);
    assert_int_equal(o, JOB_ORIGIN_PORT_ADD);
    assert_int_equal(job_origin_parse("manual", &o), 0);
    assert_int_equal(o, JOB_ORIGIN_MANUAL);
    assert_int_equal(job_origin_parse("port-remove", &o), 0);
    assert_int_equal(o, JOB_ORIGIN_PORT_REMOVE);
    assert_int_equal(job_origin_parse("Manual", &o), EINVAL);
    assert_int_equal(job_origin_parse("", &o), EINVAL);
    assert_int_equal(job_origin_parse(NULL, &o), EINVAL);
    assert_string_equal(job_state_name(JOB_QUEUED), "queued");
    assert_string_equal(job_state_name(JOB_RUNNING), "running");
    assert_string_equal(job_state_name(JOB_DONE), "done");
    assert_string_equal(job_state_name(JOB_FAILED), "failed");
    assert_string_equal(job_state_name(JOB_CANCELLED), "cancelled");
}

static void
test_defaults_and_invalid(void **state)
{
    struct jobq q;
    struct flush_job job;
    uint64_t id = 99;
    bool merged = true;
    char err[192] = "x";

    jobq_init(&q, NULL);
    assert_int_equal(q.limits.max_jobs, 4096);
    assert_int_equal(q.limits.max_local, 1024);
    assert_int_equal(q.limits.max_peers, 1024);
    assert_int_equal(q.limits.history, 100);
    assert_int_equal(q.limits.max_attempts, 5);
    assert_int_equal(q.limits.backoff_base_ms, 1000);
    assert_int_equal(q.limits.backoff_max_ms, 60000);

    /* Everything everywhere is refused, with the reason. */
    job_make(&job, "any", "any");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, &merged,
                              err, sizeof err), EINVAL);
    assert_non_null(strstr(err, "every zone"));
    assert_int_equal(id, 0);
    assert_int_equal(q.n_queued, 0);
    /* A NULL errbuf is fine. */
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_PORT_REMOVE, &job, NULL, 0, 1.0, NULL, NULL,
                              NULL, 0), EINVAL);
    flush_job_destroy(&job);

    assert_null(jobq_peek(&q, 0));
    assert_int_equal(jobq_next_ready_ms(&q), 0);
    assert_null(jobq_find(&q, 1));
    jobq_destroy(&q);
    jobq_destroy(NULL);
}

static void
test_priority_and_fifo(void **state)
{
    struct jobq q;
    struct jobq_limits l = limits();
    uint64_t r1, m1, a1, r2, m2, a2;

    jobq_init(&q, &l);
    r1 = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.1", "any", 1, "t1", NULL);
    m1 = add(&q, JOB_ORIGIN_MANUAL, "10.0.1.1", "10.9.9.9");
    r2 = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.2", "any", 2, "t2", NULL);
    a1 = add(&q, JOB_ORIGIN_PORT_ADD, "10.0.2.1", "any");
    m2 = add(&q, JOB_ORIGIN_MANUAL, "10.0.1.2", "10.9.9.9");
    a2 = add(&q, JOB_ORIGIN_PORT_ADD, "10.0.2.2", "any");
    assert_int_equal(q.n_queued, 6);

    /* Ids increase in arrival order. */
    assert_true(r1 < m1 && m1 < r2 && r2 < a1 && a1 < m2 && m2 < a2);

    const uint64_t order[] = { a1, a2, m1, m2, r1, r2 };
    for (size_t i = 0; i < 6; i++) {
        enum job_state st;
        assert_int_equal(run(&q, 0, 0, false, &st), order[i]);
        assert_int_equal(st, JOB_DONE);
    }
    assert_null(jobq_peek(&q, 0));
    assert_int_equal(q.counters.done, 6);
    assert_int_equal(q.counters.entries_deleted, 60);
    assert_int_equal(q.counters.entries_scanned, 600);
    assert_int_equal(q.n_history, 6);
    assert_int_equal(q.n_prefixes, 0);

    const struct qjob *j = jobq_find(&q, a1);
    assert_non_null(j);
    assert_int_equal(j->state, JOB_DONE);
    assert_int_equal(j->attempts, 1);
    assert_string_equal(j->strategy, "dump");
    assert_string_equal(j->error, "");
    assert_true(j->finished > 0);
    /* History: newest first. */
    assert_int_equal(q.history->id, r2);
    jobq_destroy(&q);
}

static void
test_one_group_at_a_time(void **state)
{
    struct jobq q;
    struct engine_stats st;

    jobq_init(&q, NULL);
    uint64_t a = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1", "any");
    uint64_t b = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.2", "any");
    uint64_t c = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.3", "any");
    struct qjob *j = jobq_peek(&q, 0);
    assert_int_equal(j->id, a);
    /* Peek does not change anything. */
    assert_ptr_equal(jobq_peek(&q, 0), j);
    jobq_start(&q, j, 5.0);
    assert_int_equal(j->state, JOB_RUNNING);
    assert_int_equal(q.n_queued, 2);
    assert_int_equal(q.n_running, 1);
    /* While anything runs, nothing new is offered. */
    assert_null(jobq_peek(&q, 0));
    struct qjob *out[4];
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, 4), 0);

    /* A group's second job joins the running ones, after the first. */
    struct qjob *other = q.queue;
    assert_int_equal(other->id, b);
    jobq_start(&q, other, 5.0);
    assert_ptr_equal(q.running, j);
    assert_ptr_equal(q.running->next, other);
    assert_int_equal(other->state, JOB_RUNNING);
    assert_int_equal(q.n_running, 2);
    assert_int_equal(q.n_queued, 1);
    assert_int_equal(q.n_prefixes, 1);

    /* Progress reaches each running job by its id, and only those. */
    memset(&st, 0, sizeof st);
    st.scanned = 1234;
    jobq_progress(&q, b, &st);
    assert_int_equal(other->stats.scanned, 1234);
    assert_int_equal(j->stats.scanned, 0);
    jobq_progress(&q, c, &st);
    assert_int_equal(q.queue->stats.scanned, 0);
    st.scanned = 99;
    jobq_progress(&q, a, &st);
    assert_int_equal(j->stats.scanned, 99);

    /* Finishing a job that is not running changes nothing; each running
     * one finishes on its own. */
    assert_int_equal(jobq_finish(&q, c, 0, false, NULL, NULL, NULL, 0, 6.0), JOB_QUEUED);
    assert_int_equal(jobq_finish(&q, 999, 0, false, NULL, NULL, NULL, 0, 6.0), JOB_FAILED);
    assert_int_equal(q.n_running, 2);
    /* A pass shared by two scanned the table once. */
    st.scanned = 1000;
    st.shared = 2;
    assert_int_equal(jobq_finish(&q, b, 0, false, NULL, NULL, &st, 0, 6.0), JOB_DONE);
    assert_ptr_equal(q.running, j);
    assert_int_equal(q.n_running, 1);
    assert_null(jobq_peek(&q, 0));
    assert_int_equal(jobq_finish(&q, a, EIO, true, "boom", NULL, &st, 0, 6.0), JOB_QUEUED);
    assert_int_equal(q.counters.entries_scanned, 1000);
    assert_null(q.running);
    assert_int_equal(jobq_peek(&q, 0)->id, c);
    jobq_destroy(&q);
}

/* Which jobs go together: priority order then FIFO, ready ones only, none
 * being retried, within the bounds. */
static void
test_pick_group(void **state)
{
    struct jobq q;
    struct qjob *out[JOBQ_GROUP_MAX_JOBS];

    jobq_init(&q, NULL);
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, JOBQ_GROUP_MAX_JOBS), 0);
    uint64_t r1 = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.1", "any", 1, NULL, NULL);
    uint64_t m1 = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.2", "10.9.0.1");
    uint64_t r2 = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.3", "any", 2, NULL, NULL);
    uint64_t a1 = add(&q, JOB_ORIGIN_PORT_ADD, "10.0.0.4", "any");
    uint64_t m2 = add(&q, JOB_ORIGIN_MANUAL, "fd00::5", "any");

    size_t n = jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, JOBQ_GROUP_MAX_JOBS);
    const uint64_t want[] = { a1, m1, m2, r1, r2 };
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i]->id, want[i]);
    }
    /* Nothing changed. */
    assert_int_equal(q.n_queued, 5);
    assert_ptr_equal(jobq_peek(&q, 0), out[0]);
    /* Without sharing, the head alone; a bound of 2, the first two. */
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, false, out, JOBQ_GROUP_MAX_JOBS), 1);
    assert_int_equal(out[0]->id, a1);
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, 2), 2);
    assert_int_equal(out[1]->id, m1);

    /* A job being retried runs alone, and joins no group. */
    jobq_start(&q, jobq_peek(&q, 0), 1.0);
    assert_int_equal(jobq_finish(&q, a1, EIO, true, NULL, NULL, NULL, 100, 2.0), JOB_QUEUED);
    n = jobq_pick_group(&q, 100, FLUSH_DATAPATH_KERNEL, true, out, JOBQ_GROUP_MAX_JOBS);
    assert_int_equal(n, 4);                     /* a1 is backing off. */
    for (size_t i = 0; i < n; i++) {
        assert_int_not_equal(out[i]->id, a1);
    }
    n = jobq_pick_group(&q, 100000, FLUSH_DATAPATH_KERNEL, true, out, JOBQ_GROUP_MAX_JOBS);
    assert_int_equal(n, 1);                     /* a1 is ready: alone. */
    assert_int_equal(out[0]->id, a1);
    jobq_destroy(&q);

    /* The prefix bound: jobs of a third of JOBQ_GROUP_MAX_PREFIXES and one
     * go two at a time. */
    struct jobq_limits l;
    jobq_limits_default(&l);
    l.max_local = 0;
    l.max_prefixes = 10 * JOBQ_GROUP_MAX_PREFIXES;
    jobq_init(&q, &l);
    for (int k = 0; k < 3; k++) {
        char *list = addr_list(k + 1, (int) (JOBQ_GROUP_MAX_PREFIXES / 3 + 1));
        add(&q, JOB_ORIGIN_MANUAL, list, "any");
        free(list);
    }
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, JOBQ_GROUP_MAX_JOBS), 2);
    jobq_destroy(&q);

    /* The job bound. */
    jobq_init(&q, NULL);
    for (int k = 0; k < JOBQ_GROUP_MAX_JOBS + 5; k++) {
        char addr[32];
        snprintf(addr, sizeof addr, "10.1.%d.%d", k / 200, k % 200 + 1);
        add(&q, JOB_ORIGIN_MANUAL, addr, "any");
    }
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, JOBQ_GROUP_MAX_JOBS),
                     JOBQ_GROUP_MAX_JOBS);
    struct qjob *more[JOBQ_GROUP_MAX_JOBS + 5];
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, more, JOBQ_GROUP_MAX_JOBS + 5),
                     JOBQ_GROUP_MAX_JOBS);
    jobq_destroy(&q);
}

/* Selectors are part of what a job is: jobs that differ in them are not
 * merged. */
static void
test_merge_respects_selectors(void **state)
{
    struct jobq q;
    struct flush_job job;
    uint64_t first, id;
    bool merged;
    char err[192];

    jobq_init(&q, NULL);
    job_make(&job, "10.0.0.1", "10.9.9.9");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &first, &merged,
                              err, sizeof err), 0);
    job.direction = FLUSH_DIRECTION_INGRESS;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, &merged,
                              err, sizeof err), 0);
    assert_false(merged);
    job.direction = FLUSH_DIRECTION_EITHER;
    job.proto = 17;
    job.has_dport = true;
    job.dport_lo = job.dport_hi = 53;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, &merged,
                              err, sizeof err), 0);
    assert_false(merged);
    /* The same again merges. */
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &first, &merged,
                              err, sizeof err), 0);
    assert_true(merged);
    assert_int_equal(first, id);
    assert_int_equal(q.n_queued, 3);
    flush_job_destroy(&job);

    /* Port removals of one zone with different families stay apart. */
    job_make(&job, "10.0.0.5,fd00::5", "any");
    job.has_zone = true;
    job.zone = 4;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_PORT_REMOVE, &job, NULL, 0, 1.0, &first, &merged,
                              err, sizeof err), 0);
    flush_job_destroy(&job);
    job_make(&job, "10.0.0.6", "any");
    job.has_zone = true;
    job.zone = 4;
    job.family = FLUSH_FAMILY_IPV4;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_PORT_REMOVE, &job, NULL, 0, 1.0, &id, &merged,
                              err, sizeof err), 0);
    assert_false(merged);
    assert_int_equal(q.n_queued, 5);
    flush_job_destroy(&job);
    jobq_destroy(&q);
}

static void
test_backoff_and_max_attempts(void **state)
{
    struct jobq q;
    struct jobq_limits l = limits();
    enum job_state st;

    l.max_attempts = 5;
    l.backoff_base_ms = 1000;
    l.backoff_max_ms = 5000;
    jobq_init(&q, &l);
    uint64_t id = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1", "any");

    /* Attempt 1 fails at t=10000: retry 1 waits base. */
    assert_int_equal(run(&q, 10000, EIO, true, &st), id);
    assert_int_equal(st, JOB_QUEUED);
    const struct qjob *j = jobq_find(&q, id);
    assert_int_equal(j->state, JOB_QUEUED);
    assert_int_equal(j->not_before_ms, 11000);
    assert_string_equal(j->error, "boom");
    assert_int_equal(jobq_next_ready_ms(&q), 11000);
    assert_null(jobq_peek(&q, 10999));
    assert_non_null(jobq_peek(&q, 11000));

    /* Attempt 2 fails: 2000; attempt 3: 4000; attempt 4: 8000 capped to 5000. */
    run(&q, 11000, EIO, true, &st);
    assert_int_equal(jobq_find(&q, id)->not_before_ms, 13000);
    run(&q, 13000, EIO, true, &st);
    assert_int_equal(jobq_find(&q, id)->not_before_ms, 17000);
    run(&q, 17000, EIO, true, &st);
    assert_int_equal(jobq_find(&q, id)->not_before_ms, 22000);
    assert_int_equal(st, JOB_QUEUED);
    assert_int_equal(q.counters.retries, 3);

    /* Attempt 5 is the last. */
    run(&q, 22000, EIO, true, &st);
    assert_int_equal(st, JOB_FAILED);
    j = jobq_find(&q, id);
    assert_int_equal(j->state, JOB_FAILED);
    assert_int_equal(j->attempts, 5);
    assert_int_equal(q.counters.failed, 1);
    assert_int_equal(q.counters.retries, 4);
    assert_int_equal(q.n_queued, 0);
    assert_int_equal(jobq_next_ready_ms(&q), 0);
    jobq_destroy(&q);
}

static void
test_backoff_skips_to_other_jobs(void **state)
{
    struct jobq q;
    enum job_state st;

    jobq_init(&q, NULL);
    uint64_t a = add(&q, JOB_ORIGIN_PORT_ADD, "10.0.0.1", "any");
    uint64_t m = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.2", "any");
    assert_int_equal(run(&q, 100, EAGAIN, true, &st), a);
    /* The port-add job waits out its backoff: the manual job goes first. */
    assert_int_equal(jobq_peek(&q, 100)->id, m);
    assert_int_equal(jobq_peek(&q, 1100)->id, a);
    jobq_destroy(&q);
}

static void
test_not_retryable(void **state)
{
    struct jobq q;
    enum job_state st;

    jobq_init(&q, NULL);
    uint64_t id = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1", "any");
    jobq_start(&q, jobq_peek(&q, 0), 1.0);
    st = jobq_finish(&q, id, EPERM, false, "", NULL, NULL, 0, 2.0);
    assert_int_equal(st, JOB_FAILED);
    const struct qjob *j = jobq_find(&q, id);
    assert_int_equal(j->attempts, 1);
    /* No reason given: the errno's text. */
    assert_string_equal(j->error, strerror(EPERM));
    assert_int_equal(q.counters.failed, 1);
    assert_int_equal(q.counters.retries, 0);
    jobq_destroy(&q);
}

static void
test_history_bounded(void **state)
{
    struct jobq q;
    struct jobq_limits l = limits();

    l.history = 3;
    jobq_init(&q, &l);
    uint64_t ids[6];
    for (int i = 0; i < 6; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.0.0.%d", i + 1);
        ids[i] = add(&q, JOB_ORIGIN_MANUAL, ip, "any");
    }
    for (int i = 0; i < 6; i++) {
        run(&q, 0, i == 4 ? EIO : 0, false, NULL);
    }
    assert_int_equal(q.n_history, 3);
    const struct qjob *h = q.history;
    assert_int_equal(h->id, ids[5]);
    assert_int_equal(h->next->id, ids[4]);
    assert_int_equal(h->next->state, JOB_FAILED);
    assert_int_equal(h->next->next->id, ids[3]);
    assert_null(h->next->next->next);
    assert_null(jobq_find(&q, ids[0]));
    assert_int_equal(q.counters.done, 5);
    jobq_destroy(&q);

    /* No history at all. */
    l.history = 0;
    jobq_init(&q, &l);
    add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1", "any");
    run(&q, 0, 0, false, NULL);
    assert_int_equal(q.n_history, 0);
    assert_null(q.history);
    assert_int_equal(q.counters.done, 1);
    jobq_destroy(&q);
}

static void
test_merge_identical(void **state)
{
    struct jobq q;
    bool merged;

    jobq_init(&q, NULL);
    uint64_t a = add_full(&q, JOB_ORIGIN_MANUAL, "10.0.0.1,10.0.0.2", "10.9.0.1", 3,
                          NULL, &merged);
    assert_false(merged);
    /* Same sets in another order (and a duplicate): merged. */
    uint64_t b = add_full(&q, JOB_ORIGIN_MANUAL, "10.0.0.2,10.0.0.1,10.0.0.2",
                          "10.9.0.1", 3, NULL, &merged);
    assert_true(merged);
    assert_int_equal(b, a);
    assert_int_equal(q.n_queued, 1);
    assert_int_equal(q.counters.merged, 1);
    assert_int_equal(q.n_prefixes, 3);

    /* Another zone, another peer set, no zone, or a mark: not the same job. */
    add_full(&q, JOB_ORIGIN_MANUAL, "10.0.0.1,10.0.0.2", "10.9.0.1", 4, NULL, &merged);
    assert_false(merged);
    add_full(&q, JOB_ORIGIN_MANUAL, "10.0.0.1,10.0.0.2", "10.9.0.2", 3, NULL, &merged);
    assert_false(merged);
    add_full(&q, JOB_ORIGIN_MANUAL, "10.0.0.1,10.0.0.2", "10.9.0.1", -1, NULL, &merged);
    assert_false(merged);

    struct flush_job job;
    uint64_t id;
    job_make(&job, "10.0.0.1,10.0.0.2", "10.9.0.1");
    job.has_zone = true;
    job.zone = 3;
    job.has_mark = true;
    job.mark = 0x10;
    job.mark_mask = 0xff;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, &merged,
                              NULL, 0), 0);
    assert_false(merged);
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, &merged,
                              NULL, 0), 0);
    assert_true(merged);
    job.mark_mask = 0xf0;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, &merged,
                              NULL, 0), 0);
    assert_false(merged);
    flush_job_destroy(&job);
    assert_int_equal(q.n_queued, 6);

    /* Never into the running job. */
    struct qjob *j = jobq_peek(&q, 0);
    jobq_start(&q, j, 1.0);
    assert_int_equal(j->id, a);
    uint64_t c = add_full(&q, JOB_ORIGIN_MANUAL, "10.0.0.1,10.0.0.2", "10.9.0.1", 3,
                          NULL, &merged);
    assert_false(merged);
    assert_int_not_equal(c, a);
    jobq_destroy(&q);
}

static void
test_merge_port_remove(void **state)
{
    struct jobq q;
    struct jobq_limits l = limits();
    bool merged;

    l.max_local = 4;
    jobq_init(&q, &l);
    uint64_t a = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.1,10.0.0.2", "any", 7,
                          "tap1", &merged);
    assert_false(merged);
    uint64_t b = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.3", "any", 7, "tap2",
                          &merged);
    assert_true(merged);
    assert_int_equal(b, a);
    const struct qjob *j = jobq_find(&q, a);
    assert_int_equal(j->job.local.n, 3);
    assert_int_equal(j->n_ports, 2);
    assert_int_equal(j->n_port_names, 2);
    assert_string_equal(j->ports[0], "tap1");
    assert_string_equal(j->ports[1], "tap2");
    assert_int_equal(q.n_prefixes, 3);

    /* Overlapping addresses count once toward max_local. */
    b = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.3,10.0.0.4", "any", 7, "tap3",
                 &merged);
    assert_true(merged);
    assert_int_equal(j->job.local.n, 4);
    assert_int_equal(q.n_prefixes, 4);

    /* Full at max_local: a new job, which is now the newest for zone 7. */
    uint64_t c = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.5", "any", 7, "tap4",
                          &merged);
    assert_false(merged);
    assert_true(c > a);
    b = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.6", "any", 7, "tap5", &merged);
    assert_int_equal(b, c);

    /* Another zone, no zone, another origin: no merge across them. */
    add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.7", "any", 8, "tap6", &merged);
    assert_false(merged);
    add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.8", "any", -1, "tap7", &merged);
    assert_false(merged);
    add_full(&q, JOB_ORIGIN_PORT_ADD, "10.0.0.9", "any", 7, "tap8", &merged);
    assert_false(merged);
    uint64_t d = add_full(&q, JOB_ORIGIN_PORT_ADD, "10.0.0.10", "any", 7, "tap9",
                          &merged);
    assert_false(merged);                 /* Port-add jobs only merge when full. */
    add_full(&q, JOB_ORIGIN_MANUAL, "10.0.0.11", "any", 7, NULL, &merged);
    assert_false(merged);
    /* A removal with a peer list is not merged either. */
    add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.12", "10.1.1.1", 7, "tapp", &merged);
    assert_false(merged);
    assert_true(d > c);
    assert_int_equal(q.n_queued, 8);

    /* Never into the running job. */
    jobq_destroy(&q);
    jobq_init(&q, &l);
    a = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.1", "any", 7, "tap1", NULL);
    jobq_start(&q, jobq_peek(&q, 0), 1.0);
    b = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.2", "any", 7, "tap2", &merged);
    assert_false(merged);
    assert_int_not_equal(a, b);
    jobq_destroy(&q);

    /* Nor into one that already failed: fresh ports get fresh attempts. */
    jobq_init(&q, &l);
    a = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.1", "any", 7, "tap1", NULL);
    jobq_start(&q, jobq_peek(&q, 0), 1.0);
    jobq_finish(&q, a, EIO, true, NULL, NULL, NULL, 0, 2.0);
    assert_int_equal(jobq_find(&q, a)->state, JOB_QUEUED);
    b = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.2", "any", 7, "tap2", &merged);
    assert_false(merged);
    assert_int_not_equal(b, a);
    c = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.3", "any", 7, "tap3", &merged);
    assert_true(merged);
    assert_int_equal(c, b);
    jobq_destroy(&q);
}

static void
test_port_names_capped(void **state)
{
    struct jobq q;

    jobq_init(&q, NULL);
    uint64_t first = 0;
    for (int i = 0; i < 100; i++) {
        char name[16], ip[32];
        snprintf(name, sizeof name, "tap%d", i);
        snprintf(ip, sizeof ip, "10.0.0.%d", i + 1);
        uint64_t id = add_full(&q, JOB_ORIGIN_PORT_REMOVE, ip, "any", -1, name, NULL);
        if (!i) {
            first = id;
        }
        assert_int_equal(id, first);
    }
    const struct qjob *j = jobq_find(&q, first);
    assert_int_equal(j->n_ports, 100);
    assert_int_equal(j->n_port_names, JOBQ_MAX_PORT_NAMES);
    assert_int_equal(j->job.local.n, 100);

    /* Several names in one add; a name already kept is not kept twice. */
    struct flush_job job;
    const char *ports[] = { "x1", "x2", "x1" };
    job_make(&job, "10.1.0.1", "any");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_PORT_ADD, &job, ports, 3, 1.0, NULL, NULL,
                              NULL, 0), 0);
    flush_job_destroy(&job);
    j = q.queue->next;
    assert_int_equal(j->n_ports, 3);
    assert_int_equal(j->n_port_names, 2);
    jobq_destroy(&q);
}

static void
test_chunking(void **state)
{
    struct jobq q;
    struct jobq_limits l = limits();
    struct flush_job job;
    char *local = addr_list(1, 10), *peers = addr_list(2, 5);
    uint64_t id;
    bool merged;
    const char *ports[] = { "tap1" };

    l.max_local = 4;
    l.max_peers = 2;
    jobq_init(&q, &l);
    job_make(&job, local, peers);
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, ports, 1, 1.0, &id, &merged,
                              NULL, 0), 0);
    flush_job_destroy(&job);
    /* 10 local in 3 chunks x 5 peers in 3 chunks. */
    assert_int_equal(q.n_queued, 9);
    assert_int_equal(queue_len(&q), 9);
    assert_false(merged);
    assert_int_equal(id, q.queue->id);
    size_t total_local = 0;
    uint64_t prev = 0;
    for (const struct qjob *j = q.queue; j; j = j->next) {
        assert_true(j->job.local.n <= 4);
        assert_true(j->job.peers.n <= 2);
        assert_true(j->id > prev);
        assert_int_equal(j->n_ports, 1);
        prev = j->id;
        total_local += j->job.local.n;
    }
    assert_int_equal(total_local, 30);          /* 10 addresses x 3 peer chunks. */
    assert_int_equal(q.n_prefixes, 30 + 15);

    /* The same job again merges into every chunk. */
    job_make(&job, local, peers);
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, &merged,
                              NULL, 0), 0);
    flush_job_destroy(&job);
    assert_true(merged);
    assert_int_equal(id, q.queue->id);
    assert_int_equal(q.n_queued, 9);
    assert_int_equal(q.counters.merged, 9);

    /* A big removal is chunked by max_local, "any" never cut. */
    free(local);
    local = addr_list(3, 9);
    job_make(&job, local, "any");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_PORT_REMOVE, &job, NULL, 0, 1.0, &id,
                              &merged, NULL, 0), 0);
    flush_job_destroy(&job);
    assert_int_equal(q.n_queued, 12);
    free(local);
    free(peers);
    jobq_destroy(&q);
}

static void
test_limits_manual_refused(void **state)
{
    struct jobq q;
    struct jobq_limits l = limits();
    struct flush_job job;
    char err[192];
    uint64_t id;

    l.max_jobs = 3;
    l.max_prefixes = 10;
    jobq_init(&q, &l);
    add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1", "any");
    add(&q, JOB_ORIGIN_MANUAL, "10.0.0.2", "any");
    add(&q, JOB_ORIGIN_MANUAL, "10.0.0.3", "any");

    job_make(&job, "10.0.0.4", "any");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, NULL,
                              err, sizeof err), ENOSPC);
    assert_non_null(strstr(err, "queue full"));
    flush_job_destroy(&job);
    assert_int_equal(q.n_queued, 3);

    /* One identical to a queued job still merges. */
    job_make(&job, "10.0.0.2", "any");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, NULL,
                              err, sizeof err), 0);
    flush_job_destroy(&job);

    /* The prefix bound: 2 queued + 9 > 10. All or nothing. */
    run(&q, 0, 0, false, NULL);
    char *many = addr_list(4, 9);
    job_make(&job, many, "any");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, NULL,
                              err, sizeof err), ENOSPC);
    flush_job_destroy(&job);
    free(many);
    assert_int_equal(q.n_queued, 2);
    assert_int_equal(q.n_prefixes, 2);
    job_make(&job, "10.1.0.1,10.1.0.2", "10.2.0.1,10.2.0.2,10.2.0.3,10.2.0.4,10.2.0.5,"
             "10.2.0.6");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, NULL,
                              err, sizeof err), 0);   /* 2 + 8 = 10: fits. */
    flush_job_destroy(&job);
    assert_int_equal(q.n_prefixes, 10);
    jobq_destroy(&q);
}

static void
test_removal_never_refused(void **state)
{
    struct jobq q;
    struct jobq_limits l = limits();
    struct flush_job job;
    uint64_t id;
    bool merged;

    l.max_jobs = 2;
    l.max_local = 2;
    jobq_init(&q, &l);
    add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1", "any");
    add(&q, JOB_ORIGIN_MANUAL, "10.0.0.2", "any");
    assert_int_equal(q.n_queued, 2);

    /* The queue is full of manual jobs; the removal is still queued. */
    uint64_t r = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.1.0.1", "any", 5, "tap1",
                          &merged);
    assert_false(merged);
    assert_int_equal(q.n_queued, 3);

    /* Then everything of its zone merges into it, past max_local. */
    for (int i = 2; i <= 50; i++) {
        char ip[32], name[16];
        snprintf(ip, sizeof ip, "10.1.0.%d", i);
        snprintf(name, sizeof name, "tap%d", i);
        id = add_full(&q, JOB_ORIGIN_PORT_REMOVE, ip, "any", 5, name, &merged);
        assert_true(merged);
        assert_int_equal(id, r);
    }
    const struct qjob *j = jobq_find(&q, r);
    assert_int_equal(j->job.local.n, 50);
    assert_int_equal(j->n_ports, 50);
    assert_int_equal(q.n_queued, 3);

    /* A big removal (chunked in 2s) also folds into it. */
    char *big = addr_list(7, 20);
    job_make(&job, big, "any");
    job.has_zone = true;
    job.zone = 5;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_PORT_REMOVE, &job, NULL, 0, 1.0, &id,
                              &merged, NULL, 0), 0);
    flush_job_destroy(&job);
    free(big);
    assert_true(merged);
    assert_int_equal(j->job.local.n, 70);
    assert_int_equal(q.n_prefixes, 72);

    /* Another zone gets one job of its own, then merges too; and port-add
     * jobs behave the same. */
    uint64_t z6 = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.6.0.1", "any", 6, "a", NULL);
    assert_int_equal(add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.6.0.2", "any", 6, "b",
                              NULL), z6);
    uint64_t pa = add_full(&q, JOB_ORIGIN_PORT_ADD, "10.8.0.1", "any", 6, "c", NULL);
    assert_int_equal(add_full(&q, JOB_ORIGIN_PORT_ADD, "10.8.0.2", "any", 6, "d", NULL),
                     pa);
    assert_int_equal(q.n_queued, 5);

    /* Manual jobs are still refused. */
    job_make(&job, "10.0.0.3", "any");
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_MANUAL, &job, NULL, 0, 1.0, &id, NULL,
                              NULL, 0), ENOSPC);
    flush_job_destroy(&job);

    /* The prefix limit is handled the same way. */
    jobq_destroy(&q);
    l.max_jobs = 100;
    l.max_prefixes = 3;
    l.max_local = 1024;
    jobq_init(&q, &l);
    add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1,10.0.0.2,10.0.0.3", "any");
    r = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.1.0.1", "10.2.0.1", 5, "t", NULL);
    id = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.1.0.2", "10.2.0.1", 5, "u", &merged);
    assert_true(merged);
    assert_int_equal(id, r);
    assert_int_equal(q.n_prefixes, 6);
    jobq_destroy(&q);
}

static void
test_cancel(void **state)
{
    struct jobq q;

    jobq_init(&q, NULL);
    uint64_t a = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1", "any");
    uint64_t b = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.2", "any");
    uint64_t c = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.3", "any");
    jobq_start(&q, jobq_peek(&q, 0), 1.0);

    assert_int_equal(jobq_cancel(&q, a, 2.0), EBUSY);
    assert_int_equal(jobq_cancel(&q, 12345, 2.0), ENOENT);
    assert_int_equal(jobq_cancel(&q, b, 2.0), 0);
    const struct qjob *j = jobq_find(&q, b);
    assert_int_equal(j->state, JOB_CANCELLED);
    assert_true(j->finished == 2.0);
    assert_ptr_equal(q.history, j);
    assert_int_equal(q.n_queued, 1);
    assert_int_equal(q.n_prefixes, 1);
    assert_int_equal(q.counters.cancelled, 1);
    assert_int_equal(jobq_cancel(&q, b, 2.0), ENOENT);

    /* The running one: cancelled here, then the worker is told. */
    jobq_cancel_running(&q, c, 3.0);            /* Not running: no-op. */
    assert_int_equal(q.counters.cancelled, 1);
    jobq_cancel_running(&q, a, 3.0);
    assert_null(q.running);
    assert_int_equal(q.n_running, 0);
    assert_int_equal(jobq_find(&q, a)->state, JOB_CANCELLED);
    assert_int_equal(q.counters.cancelled, 2);
    jobq_cancel_running(&q, a, 3.0);            /* Nothing running: no-op. */
    assert_int_equal(q.counters.cancelled, 2);

    /* Or it reports ECANCELED, not retryable. */
    jobq_start(&q, jobq_peek(&q, 0), 4.0);
    assert_int_equal(jobq_finish(&q, c, ECANCELED, false, "stopped", NULL, NULL, 0, 5.0),
                     JOB_CANCELLED);
    assert_int_equal(q.counters.cancelled, 3);
    assert_int_equal(q.counters.failed, 0);
    jobq_destroy(&q);
}

/* A whole running group goes back, in order, at the head. */
static void
test_requeue_group(void **state)
{
    struct jobq q;
    struct qjob *out[4];

    jobq_init(&q, NULL);
    uint64_t a = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.1", "any");
    uint64_t b = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.2", "any");
    uint64_t c = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.3", "any");
    uint64_t d = add(&q, JOB_ORIGIN_MANUAL, "10.0.0.4", "any");
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, 3), 3);
    for (int i = 0; i < 3; i++) {
        jobq_start(&q, out[i], 1.0);
    }
    assert_int_equal(q.n_running, 3);
    /* One of them is cancelled, one finishes: the third is requeued. */
    jobq_cancel_running(&q, b, 2.0);
    assert_int_equal(jobq_find(&q, b)->state, JOB_CANCELLED);
    assert_int_equal(q.n_running, 2);
    jobq_requeue_running(&q);
    assert_int_equal(q.n_running, 0);
    assert_int_equal(q.n_queued, 3);
    const uint64_t want[] = { a, c, d };
    size_t i = 0;
    for (const struct qjob *j = q.queue; j; j = j->next, i++) {
        assert_int_equal(j->id, want[i]);
        assert_int_equal(j->state, JOB_QUEUED);
        assert_int_equal(j->attempts, 0);
    }
    assert_int_equal(i, 3);
    jobq_destroy(&q);
}

static void
test_requeue_running(void **state)
{
    struct jobq q;

    jobq_init(&q, NULL);
    uint64_t a = add(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.1", "any");
    uint64_t b = add(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.2", "10.1.1.1");
    (void) b;

    jobq_requeue_running(&q);                   /* Nothing running: no-op. */
    assert_int_equal(q.n_queued, 2);

    struct qjob *j = jobq_peek(&q, 0);
    assert_int_equal(j->id, a);
    jobq_start(&q, j, 1.0);
    assert_int_equal(j->attempts, 1);
    jobq_requeue_running(&q);
    assert_null(q.running);
    assert_int_equal(j->attempts, 0);
    assert_int_equal(j->state, JOB_QUEUED);
    assert_ptr_equal(q.queue, j);
    assert_int_equal(q.n_queued, 2);
    assert_int_equal(q.n_prefixes, 3);
    assert_int_equal(q.counters.retries, 0);

    /* A job on its second attempt: the retry it counted is taken back. */
    jobq_start(&q, jobq_peek(&q, 0), 1.0);
    jobq_finish(&q, a, EIO, true, NULL, NULL, NULL, 0, 2.0);
    jobq_start(&q, jobq_peek(&q, 5000), 3.0);
    assert_int_equal(q.running->id, a);
    assert_int_equal(q.running->attempts, 2);
    assert_int_equal(q.counters.retries, 1);
    jobq_requeue_running(&q);
    assert_int_equal(jobq_find(&q, a)->attempts, 1);
    assert_int_equal(q.counters.retries, 0);
    /* Ready at once, at the head. */
    assert_int_equal(jobq_find(&q, a)->not_before_ms, 0);
    assert_int_equal(jobq_peek(&q, 0)->id, a);
    jobq_destroy(&q);
}

static void
test_restore(void **state)
{
    struct jobq q;
    struct flush_job job;
    const char *ports[] = { "tap1", "tap2" };

    jobq_init(&q, NULL);
    job_make(&job, "10.0.0.1,10.0.0.2", "any");
    job.has_zone = true;
    job.zone = 9;
    assert_int_equal(jobq_restore(&q, 40, JOB_ORIGIN_PORT_REMOVE, &job, ports, 2, 17, 2,
                                  123.5), 0);
    assert_int_equal(jobq_restore(&q, 40, JOB_ORIGIN_PORT_REMOVE, &job, ports, 2, 17, 2,
                                  123.5), EEXIST);
    assert_int_equal(jobq_restore(&q, 0, JOB_ORIGIN_PORT_REMOVE, &job, NULL, 0, 0, 0,
                                  1.0), EINVAL);
    assert_int_equal(jobq_restore(&q, 41, (enum job_origin) 77, &job, NULL, 0, 0, 0,
                                  1.0), EINVAL);
    assert_int_equal(jobq_restore(&q, 7, JOB_ORIGIN_MANUAL, &job, NULL, 0, 0, 0, 100.0),
                     0);
    flush_job_destroy(&job);
    job_make(&job, "any", "any");
    assert_int_equal(jobq_restore(&q, 42, JOB_ORIGIN_MANUAL, &job, NULL, 0, 0, 0, 1.0),
                     EINVAL);
    flush_job_destroy(&job);

    assert_int_equal(q.next_id, 41);
    assert_int_equal(q.n_queued, 2);
    assert_int_equal(q.n_prefixes, 4);
    const struct qjob *j = jobq_find(&q, 40);
    assert_int_equal(j->origin, JOB_ORIGIN_PORT_REMOVE);
    assert_int_equal(j->state, JOB_QUEUED);
    assert_int_equal(j->n_ports, 17);
    assert_int_equal(j->n_port_names, 2);
    assert_string_equal(j->ports[1], "tap2");
    assert_int_equal(j->attempts, 2);
    assert_true(j->created == 123.5);
    assert_true(j->job.has_zone);
    assert_int_equal(j->job.zone, 9);
    /* In id order. */
    assert_int_equal(q.queue->id, 7);

    /* New ids continue above the restored ones. */
    uint64_t n = add(&q, JOB_ORIGIN_MANUAL, "10.5.0.1", "any");
    assert_int_equal(n, 41);
    /* The restored removal has failed twice: a new one gets its own job. */
    uint64_t m = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.3", "any", 9, "tap3", NULL);
    assert_int_equal(m, 42);
    /* An identical job is still merged into it. */
    m = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.2,10.0.0.1", "any", 9, "tap9", NULL);
    assert_int_equal(m, 40);
    jobq_destroy(&q);
}

static void
test_ids_increase(void **state)
{
    struct jobq q;
    uint64_t prev = 0;

    jobq_init(&q, NULL);
    for (int i = 0; i < 200; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.0.%d.%d", i / 200, i % 200 + 1);
        uint64_t id = add(&q, JOB_ORIGIN_MANUAL, ip, "any");
        assert_true(id > prev);
        prev = id;
        if (i % 3 == 0) {
            run(&q, 0, 0, false, NULL);
        }
    }
    jobq_destroy(&q);
}

/* Two tables, two children: a group per datapath at a time, never a job of
 * the other datapath in it; a removal is never merged across datapaths;
 * stopping one child requeues only its jobs. */
static void
test_datapaths(void **state)
{
    struct jobq_limits l = limits();
    struct jobq q;
    struct qjob *out[JOBQ_GROUP_MAX_JOBS];
    struct flush_job job;
    uint64_t k1, n1, k2, id;
    bool merged;
    char err[192];

    jobq_init(&q, &l);
    k1 = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.1", "any", 5, "k1", NULL);
    job_make(&job, "10.0.0.2", "any");
    job.has_zone = true;
    job.zone = 5;
    job.datapath = FLUSH_DATAPATH_NETDEV;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_PORT_REMOVE, &job, NULL, 0, 1000.0, &n1,
                              &merged, err, sizeof err), 0);
    assert_false(merged);       /* Same zone and kind, other table: its own job. */
    assert_int_not_equal(n1, k1);
    k2 = add_full(&q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.3", "any", 5, "k2", &merged);
    assert_true(merged);        /* Into k1, the kernel's. */
    assert_int_equal(k2, k1);
    flush_job_destroy(&job);
    assert_int_equal(jobq_find(&q, k1)->job.local.n, 2);
    assert_int_equal(jobq_find(&q, n1)->job.local.n, 1);
    assert_int_equal(jobq_find(&q, n1)->job.datapath, FLUSH_DATAPATH_NETDEV);

    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, 8), 1);
    assert_int_equal(out[0]->id, k1);
    jobq_start(&q, out[0], 1.0);
    assert_true(jobq_datapath_running(&q, FLUSH_DATAPATH_KERNEL));
    assert_false(jobq_datapath_running(&q, FLUSH_DATAPATH_NETDEV));
    /* The kernel's job runs: the netdev one still goes, alone. */
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_KERNEL, true, out, 8), 0);
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_NETDEV, true, out, 8), 1);
    assert_int_equal(out[0]->id, n1);
    jobq_start(&q, out[0], 1.0);
    assert_int_equal(q.n_running, 2);
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_NETDEV, true, out, 8), 0);

    /* The userdp child is stopped: only its job goes back. */
    jobq_requeue_running_datapath(&q, FLUSH_DATAPATH_NETDEV);
    assert_int_equal(q.n_running, 1);
    assert_int_equal(q.running->id, k1);
    assert_int_equal(jobq_find(&q, n1)->state, JOB_QUEUED);
    assert_int_equal(jobq_find(&q, n1)->attempts, 0);
    assert_int_equal(q.queue->id, n1);

    /* Each finishes on its own. */
    assert_int_equal(jobq_finish(&q, k1, 0, false, NULL, "dump", NULL, 0, 2.0), JOB_DONE);
    assert_int_equal(jobq_pick_group(&q, 0, FLUSH_DATAPATH_NETDEV, true, out, 8), 1);
    jobq_start(&q, out[0], 3.0);
    id = out[0]->id;
    assert_int_equal(jobq_finish(&q, id, ECONNREFUSED, true, "ovs-vswitchd gone", "", NULL,
                                 10, 4.0), JOB_QUEUED);
    assert_int_equal(jobq_find(&q, id)->attempts, 1);
    jobq_destroy(&q);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_defaults_and_invalid),
        cmocka_unit_test(test_priority_and_fifo),
        cmocka_unit_test(test_one_group_at_a_time),
        cmocka_unit_test(test_pick_group),
        cmocka_unit_test(test_merge_respects_selectors),
        cmocka_unit_test(test_backoff_and_max_attempts),
        cmocka_unit_test(test_backoff_skips_to_other_jobs),
        cmocka_unit_test(test_not_retryable),
        cmocka_unit_test(test_history_bounded),
        cmocka_unit_test(test_merge_identical),
        cmocka_unit_test(test_merge_port_remove),
        cmocka_unit_test(test_port_names_capped),
        cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_limits_manual_refused),
        cmocka_unit_test(test_removal_never_refused),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_requeue_running),
        cmocka_unit_test(test_requeue_group),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_ids_increase),
        cmocka_unit_test(test_datapaths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
