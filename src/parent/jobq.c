/*
 * jobq.c: the job queue, its merge and limit rules, retries and history.
 *
 * Every queued job keeps its local and peer lists sorted and without
 * duplicates, so "the same job" is a plain list comparison and a merge is a
 * merge of two sorted lists. Lists are short (max_local) and the queue is
 * bounded, so linear walks of the queue are fine.
 */
#include "jobq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
jobq_limits_default(struct jobq_limits *l)
{
    l->max_jobs = 4096;
    l->max_prefixes = 1000000;
    l->max_local = 1024;
    l->max_peers = 1024;
    l->history = 100;
    l->max_attempts = 5;
    l->backoff_base_ms = 1000;
    l->backoff_max_ms = 60000;
}

void
jobq_init(struct jobq *q, const struct jobq_limits *limits)
{
    memset(q, 0, sizeof *q);
    if (limits) {
        q->limits = *limits;
    } else {
        jobq_limits_default(&q->limits);
    }
    q->next_id = 1;
}

static void
jobq_qjob_free(struct qjob *j)
{
    if (j) {
        flush_job_destroy(&j->job);
        for (size_t i = 0; i < j->n_port_names; i++) {
            free(j->ports[i]);
        }
        free(j->ports);
        free(j->held);
        free(j);
    }
}

static void
jobq_list_free(struct qjob *j)
{
    while (j) {
        struct qjob *next = j->next;
        jobq_qjob_free(j);
        j = next;
    }
}

void
jobq_destroy(struct jobq *q)
{
    if (q) {
        jobq_list_free(q->queue);
        jobq_list_free(q->running);
        jobq_list_free(q->history);
        q->queue = q->running = q->history = NULL;
        q->n_queued = q->n_prefixes = q->n_history = q->n_running = 0;
    }
}

/* ---- Job contents. ---- */

static size_t
jobq_job_prefixes(const struct flush_job *job)
{
    return job->local.n + job->peers.n;
}

/* Same peers, zone, mark and selectors: two such jobs with local lists A
 * and B do together exactly what one job with local A u B does. */
static bool
jobq_same_but_local(const struct flush_job *a, const struct flush_job *b)
{
    if (!flush_job_same_selectors(a, b) || a->datapath != b->datapath) {
        return false;
    }
    if (a->peers_any != b->peers_any
        || (!a->peers_any && !ctf_prefix_list_equal(&a->peers, &b->peers))) {
        return false;
    }
    if (a->has_zone != b->has_zone || (a->has_zone && a->zone != b->zone)) {
        return false;
    }
    if (a->has_mark != b->has_mark
        || (a->has_mark && (a->mark != b->mark || a->mark_mask != b->mark_mask))) {
        return false;
    }
    return true;
}

static bool
jobq_identical(const struct flush_job *a, const struct flush_job *b)
{
    return jobq_same_but_local(a, b) && a->local_any == b->local_any
           && (a->local_any || ctf_prefix_list_equal(&a->local, &b->local));
}

/* Size of the union of two canonical lists. */
static size_t
jobq_union_count(const struct ctf_prefix_list *a, const struct ctf_prefix_list *b)
{
    size_t i = 0, k = 0, n = 0;

    while (i < a->n && k < b->n) {
        int c = ctf_prefix_cmp(&a->items[i], &b->items[k]);
        i += c <= 0;
        k += c >= 0;
        n++;
    }
    return n + (a->n - i) + (b->n - k);
}

/* dst = dst u src, both canonical. Returns 0 or ENOMEM (dst unchanged). */
static int
jobq_union_into(struct ctf_prefix_list *dst, const struct ctf_prefix_list *src)
{
    struct ctf_prefix_list u;
    size_t i = 0, k = 0, n = jobq_union_count(dst, src);

    if (n == dst->n) {
        return 0;
    }
    u.items = malloc(n * sizeof *u.items);
    if (!u.items) {
        return ENOMEM;
    }
    u.n = 0;
    u.cap = n;
    while (i < dst->n || k < src->n) {
        int c = i == dst->n ? 1 : k == src->n ? -1
                : ctf_prefix_cmp(&dst->items[i], &src->items[k]);
        u.items[u.n++] = c <= 0 ? dst->items[i] : src->items[k];
        i += c <= 0;
        k += c >= 0;
    }
    ctf_prefix_list_destroy(dst);
    *dst = u;
    return 0;
}

/* ---- Qjobs. ---- */

/* Adds display names, skipping ones already there, up to the cap. Names are
 * for people: failing to keep one is not worth failing a flush, so an
 * allocation failure just drops the name. */
static void
jobq_qjob_add_names(struct qjob *j, const char *const *ports, size_t n)
{
    for (size_t i = 0; i < n && j->n_port_names < JOBQ_MAX_PORT_NAMES; i++) {
        bool dup = false;

        if (!ports[i]) {
            continue;
        }
        for (size_t k = 0; k < j->n_port_names && !dup; k++) {
            dup = !strcmp(j->ports[k], ports[i]);
        }
        if (dup) {
            continue;
        }
        if (!j->ports) {
            j->ports = calloc(JOBQ_MAX_PORT_NAMES, sizeof *j->ports);
            if (!j->ports) {
                return;
            }
        }
        char *name = strdup(ports[i]);
        if (!name) {
            return;
        }
        j->ports[j->n_port_names++] = name;
    }
}

/* A new queued job that takes over *job (left empty). */
static struct qjob *
jobq_qjob_new(uint64_t id, enum job_origin origin, struct flush_job *job,
              const char *const *ports, size_t n_ports, double created)
{
    struct qjob *j = calloc(1, sizeof *j);

    if (!j) {
        return NULL;
    }
    j->id = id;
    j->origin = origin;
    j->state = JOB_QUEUED;
    j->job = *job;
    flush_job_init(job);
    j->created = created;
    jobq_qjob_add_names(j, ports, n_ports);
    j->n_ports = n_ports;
    return j;
}

/* ---- Lists. ---- */

static void
jobq_queue_account(struct jobq *q, const struct qjob *j, bool in)
{
    size_t p = jobq_job_prefixes(&j->job);

    if (in) {
        q->n_queued++;
        q->n_prefixes += p;
    } else {
        q->n_queued--;
        q->n_prefixes -= p;
    }
}

static void
jobq_queue_append(struct jobq *q, struct qjob *j)
{
    struct qjob **link = &q->queue;

    while (*link) {
        link = &(*link)->next;
    }
    j->next = NULL;
    *link = j;
    jobq_queue_account(q, j, true);
}

/* Inserts in id order, i.e. where the job stood when it arrived. */
static void
jobq_queue_insert_by_id(struct jobq *q, struct qjob *j)
{
    struct qjob **link = &q->queue;

    while (*link && (*link)->id < j->id) {
        link = &(*link)->next;
    }
    j->next = *link;
    *link = j;
    jobq_queue_account(q, j, true);
}

static bool
jobq_queue_unlink(struct jobq *q, struct qjob *j)
{
    for (struct qjob **link = &q->queue; *link; link = &(*link)->next) {
        if (*link == j) {
            *link = j->next;
            j->next = NULL;
            jobq_queue_account(q, j, false);
            return true;
        }
    }
    return false;
}

static void
jobq_history_push(struct jobq *q, struct qjob *j, enum job_state state, double now_wall)
{
    struct qjob **link = &q->history;
    size_t kept = 0;

    j->state = state;
    j->finished = now_wall;
    j->not_before_ms = 0;
    j->next = q->history;
    q->history = j;
    q->n_history++;

    while (*link && kept < q->limits.history) {
        link = &(*link)->next;
        kept++;
    }
    jobq_list_free(*link);
    *link = NULL;
    q->n_history = kept;
}

/* ---- Adding. ---- */

static bool
jobq_is_port_driven(enum job_origin origin)
{
    return origin == JOB_ORIGIN_PORT_REMOVE || origin == JOB_ORIGIN_PORT_ADD;
}

static struct qjob *
jobq_find_identical(const struct jobq *q, enum job_origin origin,
                    const struct flush_job *job)
{
    for (struct qjob *j = q->queue; j; j = j->next) {
        if (j->origin == origin && jobq_identical(&j->job, job)) {
            return j;
        }
    }
    return NULL;
}

/* The newest queued job of this origin whose local set can absorb job's. */
static struct qjob *
jobq_find_mergeable(const struct jobq *q, enum job_origin origin,
                    const struct flush_job *job)
{
    struct qjob *found = NULL;

    if (job->local_any) {
        return NULL;
    }
    for (struct qjob *j = q->queue; j; j = j->next) {
        if (j->origin == origin && !j->job.local_any
            && jobq_same_but_local(&j->job, job)) {
            found = j;
        }
    }
    return found;
}

static bool
jobq_is_full(const struct jobq *q, const struct flush_job *job)
{
    return q->n_queued >= q->limits.max_jobs
           || q->n_prefixes + jobq_job_prefixes(job) > q->limits.max_prefixes;
}

/* Where a chunk of a new job should go instead of a qjob of its own, or
 * NULL. *grow says whether its local set must be merged in. */
static struct qjob *
jobq_merge_target(const struct jobq *q, enum job_origin origin,
                  const struct flush_job *chunk, bool *grow)
{
    struct qjob *t;

    *grow = false;
    t = jobq_find_identical(q, origin, chunk);
    if (t) {
        return t;
    }
    if (!jobq_is_port_driven(origin)) {
        return NULL;
    }
    t = jobq_find_mergeable(q, origin, chunk);
    if (!t) {
        return NULL;
    }
    if (jobq_is_full(q, chunk)) {
        /* A port-driven flush is a debt: rather than refuse it, grow the
         * newest job of its kind and zone past max_local. */
        *grow = true;
        return t;
    }
    /* A job that has already failed is not a good place for fresh work: it
     * could make the new ports' flush share its last attempts. */
    if (origin == JOB_ORIGIN_PORT_REMOVE && chunk->peers_any && !t->attempts
        && (!q->limits.max_local
            || jobq_union_count(&t->job.local, &chunk->local) <= q->limits.max_local)) {
        *grow = true;
        return t;
    }
    return NULL;
}

int
jobq_add(struct jobq *q, enum job_origin origin, const struct flush_job *job,
         const char *const *ports, size_t n_ports, double now_wall,
         uint64_t *first_id, bool *merged, char *errbuf, size_t errlen)
{
    char tmp[192];
    struct flush_job canon, *chunks;
    size_t n_chunks;
    bool all_merged = true;
    int err;

    if (first_id) {
        *first_id = 0;
    }
    if (merged) {
        *merged = false;
    }
    if (!errbuf || !errlen) {
        errbuf = tmp;
        errlen = sizeof tmp;
    }
    errbuf[0] = '\0';
    if (origin != JOB_ORIGIN_PORT_REMOVE && origin != JOB_ORIGIN_PORT_ADD
        && origin != JOB_ORIGIN_MANUAL) {
        snprintf(errbuf, errlen, "unknown job origin %d", (int) origin);
        return EINVAL;
    }
    err = flush_job_validate(job, errbuf, errlen);
    if (err) {
        return err;
    }

    err = flush_job_copy(&canon, job);
    if (err) {
        return err;
    }
    ctf_prefix_list_sort_unique(&canon.local);
    ctf_prefix_list_sort_unique(&canon.peers);
    if (!canon.has_mark) {
        canon.mark = canon.mark_mask = 0;
    }
    if (!canon.has_zone) {
        canon.zone = 0;
    }
    if (!canon.has_dport) {
        canon.dport_lo = canon.dport_hi = 0;
    }
    err = flush_job_split(&canon, q->limits.max_local, q->limits.max_peers,
                          &chunks, &n_chunks);
    flush_job_destroy(&canon);
    if (err) {
        return err;
    }

    if (!jobq_is_port_driven(origin)) {
        /* All or nothing: count what would not merge before queueing any. */
        size_t new_jobs = 0, new_prefixes = 0;

        for (size_t i = 0; i < n_chunks; i++) {
            if (!jobq_find_identical(q, origin, &chunks[i])) {
                new_jobs++;
                new_prefixes += jobq_job_prefixes(&chunks[i]);
            }
        }
        size_t room_jobs = q->n_queued < q->limits.max_jobs
                           ? q->limits.max_jobs - q->n_queued : 0;
        size_t room_prefixes = q->n_prefixes < q->limits.max_prefixes
                               ? q->limits.max_prefixes - q->n_prefixes : 0;

        if (new_jobs > room_jobs || new_prefixes > room_prefixes) {
            snprintf(errbuf, errlen,
                     "queue full: %zu jobs and %zu prefixes queued (limits %zu and %zu), "
                     "this job needs %zu more jobs and %zu prefixes",
                     q->n_queued, q->n_prefixes, q->limits.max_jobs,
                     q->limits.max_prefixes, new_jobs, new_prefixes);
            flush_job_array_free(chunks, n_chunks);
            return ENOSPC;
        }
    }

    /* A chunk that fails (out of memory) leaves the ones before it queued:
     * for a removal, part of the debt recorded beats none of it. */
    for (size_t i = 0; i < n_chunks && !err; i++) {
        struct flush_job *chunk = &chunks[i];
        bool grow;
        struct qjob *t = jobq_merge_target(q, origin, chunk, &grow);
        uint64_t id;

        if (t) {
            size_t before = t->job.local.n;

            if (grow) {
                err = jobq_union_into(&t->job.local, &chunk->local);
                if (err) {
                    break;
                }
                q->n_prefixes += t->job.local.n - before;
            }
            jobq_qjob_add_names(t, ports, n_ports);
            t->n_ports += n_ports;
            q->counters.merged++;
            id = t->id;
        } else {
            struct qjob *j = jobq_qjob_new(q->next_id, origin, chunk, ports, n_ports,
                                           now_wall);
            if (!j) {
                err = ENOMEM;
                break;
            }
            q->next_id++;
            jobq_queue_append(q, j);
            all_merged = false;
            id = j->id;
        }
        if (i == 0 && first_id) {
            *first_id = id;
        }
    }
    flush_job_array_free(chunks, n_chunks);
    if (!err && merged) {
        *merged = all_merged;
    }
    return err;
}

/* ---- Held addresses. ---- */

static struct qjob *
jobq_find_mut(struct jobq *q, uint64_t id)
{
    return (struct qjob *) jobq_find(q, id);
}

static int
jobq_qjob_add_held(struct qjob *j, const struct job_held *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (j->n_held < JOBQ_MAX_HELD) {
            if (!j->held) {
                j->held = calloc(JOBQ_MAX_HELD, sizeof *j->held);
                if (!j->held) {
                    return ENOMEM;
                }
            }
            j->held[j->n_held++] = h[i];
        }
        j->n_held_total++;
    }
    return 0;
}

int
jobq_note_held(struct jobq *q, uint64_t id, const struct job_held *h, size_t n)
{
    struct qjob *j = jobq_find_mut(q, id);

    return j ? jobq_qjob_add_held(j, h, n) : ENOENT;
}

int
jobq_record_held(struct jobq *q, enum job_origin origin, bool has_zone, uint16_t zone,
                 const char *const *ports, size_t n_ports, const struct job_held *h,
                 size_t n, double now_wall, uint64_t *id)
{
    struct flush_job job;

    flush_job_init(&job);
    job.peers_any = true;
    job.has_zone = has_zone;
    job.zone = has_zone ? zone : 0;
    struct qjob *j = jobq_qjob_new(q->next_id, origin, &job, ports, n_ports, now_wall);
    if (!j) {
        return ENOMEM;
    }
    if (jobq_qjob_add_held(j, h, n)) {
        jobq_qjob_free(j);
        return ENOMEM;
    }
    snprintf(j->error, sizeof j->error, "nothing to flush: every address is held");
    q->next_id++;
    *id = j->id;
    jobq_history_push(q, j, JOB_HELD, now_wall);
    return 0;
}

/* ---- Dispatch. ---- */

/* Lower runs first. */
static int
jobq_priority(enum job_origin origin)
{
    switch (origin) {
    case JOB_ORIGIN_PORT_ADD:
        return 0;
    case JOB_ORIGIN_MANUAL:
        return 1;
    case JOB_ORIGIN_PORT_REMOVE:
    default:
        return 2;
    }
}

/* The next ready job among those of datapath dp (all of them when dp is
 * FLUSH_DATAPATH_COUNT), or NULL. */
static struct qjob *
jobq_peek_in(struct jobq *q, uint64_t now_ms, enum flush_datapath dp)
{
    struct qjob *best = NULL;

    for (struct qjob *j = q->queue; j; j = j->next) {
        if (j->not_before_ms > now_ms || (dp != FLUSH_DATAPATH_COUNT && j->job.datapath != dp)) {
            continue;
        }
        if (!best || jobq_priority(j->origin) < jobq_priority(best->origin)) {
            best = j;
        }
    }
    return best;
}

struct qjob *
jobq_peek(struct jobq *q, uint64_t now_ms)
{
    if (q->running) {
        return NULL;            /* One at a time. */
    }
    return jobq_peek_in(q, now_ms, FLUSH_DATAPATH_COUNT);
}

bool
jobq_datapath_running(const struct jobq *q, enum flush_datapath dp)
{
    for (const struct qjob *j = q->running; j; j = j->next) {
        if (j->job.datapath == dp) {
            return true;
        }
    }
    return false;
}

static size_t
jobq_job_prefix_count(const struct qjob *j)
{
    return jobq_job_prefixes(&j->job);
}

size_t
jobq_pick_group(struct jobq *q, uint64_t now_ms, enum flush_datapath dp, bool share,
                struct qjob **out, size_t max)
{
    /* One group at a time per table: each has its own child. */
    struct qjob *head = jobq_datapath_running(q, dp) ? NULL : jobq_peek_in(q, now_ms, dp);
    size_t n = 0, prefixes;

    if (!head || !max) {
        return 0;
    }
    out[n++] = head;
    if (!share || head->attempts) {
        return n;
    }
    prefixes = jobq_job_prefix_count(head);
    if (max > JOBQ_GROUP_MAX_JOBS) {
        max = JOBQ_GROUP_MAX_JOBS;
    }
    /* In the order jobq_peek would give them: by priority, then FIFO. */
    for (int prio = 0; prio <= 2 && n < max; prio++) {
        for (struct qjob *j = q->queue; j && n < max; j = j->next) {
            size_t p = jobq_job_prefix_count(j);
            if (j == head || j->job.datapath != dp || jobq_priority(j->origin) != prio
                || j->not_before_ms > now_ms || j->attempts || prefixes + p > JOBQ_GROUP_MAX_PREFIXES) {
                continue;
            }
            out[n++] = j;
            prefixes += p;
        }
    }
    return n;
}

uint64_t
jobq_next_ready_ms(const struct jobq *q)
{
    uint64_t next = 0;

    for (const struct qjob *j = q->queue; j; j = j->next) {
        if (j->not_before_ms && (!next || j->not_before_ms < next)) {
            next = j->not_before_ms;
        }
    }
    return next;
}

/* The running job with this id, and the link that points to it. */
static struct qjob **
jobq_running_link(struct jobq *q, uint64_t id)
{
    struct qjob **link = &q->running;

    while (*link && (*link)->id != id) {
        link = &(*link)->next;
    }
    return *link ? link : NULL;
}

void
jobq_start(struct jobq *q, struct qjob *j, double now_wall)
{
    if (!j || !jobq_queue_unlink(q, j)) {
        return;                 /* Not a queued job. */
    }
    struct qjob **link = &q->running;
    while (*link) {
        link = &(*link)->next;
    }
    j->next = NULL;
    *link = j;
    q->n_running++;
    j->state = JOB_RUNNING;
    j->attempts++;
    if (j->attempts > 1) {
        q->counters.retries++;
    }
    j->started = now_wall;
    j->not_before_ms = 0;
    memset(&j->stats, 0, sizeof j->stats);
}

void
jobq_progress(struct jobq *q, uint64_t id, const struct engine_stats *stats)
{
    struct qjob **link = jobq_running_link(q, id);

    if (link && stats) {
        (*link)->stats = *stats;
    }
}

/* Retry n (after attempt n) waits base * 2^(n-1), capped. */
static uint64_t
jobq_backoff_ms(const struct jobq_limits *l, unsigned int attempts)
{
    uint64_t d = l->backoff_base_ms;

    for (unsigned int i = 1; i < attempts && d < l->backoff_max_ms; i++) {
        d *= 2;
    }
    return d < l->backoff_max_ms ? d : l->backoff_max_ms;
}

enum job_state
jobq_finish(struct jobq *q, uint64_t id, int err, bool retryable, const char *reason,
            const char *strategy, const struct engine_stats *stats, uint64_t now_ms,
            double now_wall)
{
    struct qjob **link = jobq_running_link(q, id);

    if (!link) {
        /* Cancelled or requeued meanwhile: whatever we know stands. */
        const struct qjob *other = jobq_find(q, id);
        return other ? other->state : JOB_FAILED;
    }
    struct qjob *j = *link;
    *link = j->next;
    j->next = NULL;
    q->n_running--;
    if (stats) {
        j->stats = *stats;
        q->counters.entries_deleted += stats->deleted;
        /* A pass shared by several jobs scanned the table once, not once
         * each: each counts its share. */
        q->counters.entries_scanned += stats->shared > 1 ? stats->scanned / stats->shared
                                                         : stats->scanned;
    }
    if (strategy) {
        snprintf(j->strategy, sizeof j->strategy, "%s", strategy);
    }
    if (!err) {
        j->error[0] = '\0';
        q->counters.done++;
        jobq_history_push(q, j, JOB_DONE, now_wall);
        return JOB_DONE;
    }
    snprintf(j->error, sizeof j->error, "%s",
             reason && *reason ? reason : strerror(err));
    if (err == ECANCELED && !retryable) {
        q->counters.cancelled++;
        jobq_history_push(q, j, JOB_CANCELLED, now_wall);
        return JOB_CANCELLED;
    }
    if (retryable && j->attempts < q->limits.max_attempts) {
        j->state = JOB_QUEUED;
        j->not_before_ms = now_ms + jobq_backoff_ms(&q->limits, j->attempts);
        jobq_queue_insert_by_id(q, j);
        return JOB_QUEUED;
    }
    q->counters.failed++;
    jobq_history_push(q, j, JOB_FAILED, now_wall);
    return JOB_FAILED;
}

void
jobq_requeue_running_datapath(struct jobq *q, enum flush_datapath dp)
{
    struct qjob **from = &q->running, **link = &q->queue;

    /* Back at the head of the queue, in the order they ran. */
    while (*from) {
        struct qjob *j = *from;
        if (dp != FLUSH_DATAPATH_COUNT && j->job.datapath != dp) {
            from = &j->next;
            continue;
        }
        *from = j->next;
        q->n_running--;
        if (j->attempts) {
            j->attempts--;
            if (j->attempts) {
                q->counters.retries--;      /* jobq_start counted it as a retry. */
            }
        }
        j->state = JOB_QUEUED;
        j->not_before_ms = 0;
        j->next = *link;
        *link = j;
        link = &j->next;
        jobq_queue_account(q, j, true);
    }
}

void
jobq_requeue_running(struct jobq *q)
{
    jobq_requeue_running_datapath(q, FLUSH_DATAPATH_COUNT);
}

int
jobq_cancel(struct jobq *q, uint64_t id, double now_wall)
{
    if (jobq_running_link(q, id)) {
        return EBUSY;
    }
    for (struct qjob *j = q->queue; j; j = j->next) {
        if (j->id == id) {
            jobq_queue_unlink(q, j);
            snprintf(j->error, sizeof j->error, "cancelled");
            q->counters.cancelled++;
            jobq_history_push(q, j, JOB_CANCELLED, now_wall);
            return 0;
        }
    }
    return ENOENT;
}

void
jobq_cancel_running(struct jobq *q, uint64_t id, double now_wall)
{
    struct qjob **link = jobq_running_link(q, id);

    if (link) {
        struct qjob *j = *link;
        *link = j->next;
        j->next = NULL;
        q->n_running--;
        snprintf(j->error, sizeof j->error, "cancelled");
        q->counters.cancelled++;
        jobq_history_push(q, j, JOB_CANCELLED, now_wall);
    }
}

const struct qjob *
jobq_find(const struct jobq *q, uint64_t id)
{
    for (const struct qjob *j = q->running; j; j = j->next) {
        if (j->id == id) {
            return j;
        }
    }
    for (const struct qjob *j = q->queue; j; j = j->next) {
        if (j->id == id) {
            return j;
        }
    }
    for (const struct qjob *j = q->history; j; j = j->next) {
        if (j->id == id) {
            return j;
        }
    }
    return NULL;
}

int
jobq_restore(struct jobq *q, uint64_t id, enum job_origin origin,
             const struct flush_job *job, const char *const *ports, size_t n_ports,
             size_t n_ports_total, unsigned int attempts, double created)
{
    char errbuf[192];
    struct flush_job copy;
    struct qjob *j;
    int err;

    if (!id || id == UINT64_MAX
        || (origin != JOB_ORIGIN_PORT_REMOVE && origin != JOB_ORIGIN_PORT_ADD
            && origin != JOB_ORIGIN_MANUAL)
        || flush_job_validate(job, errbuf, sizeof errbuf)) {
        return EINVAL;
    }
    if (jobq_find(q, id)) {
        return EEXIST;
    }
    err = flush_job_copy(&copy, job);
    if (err) {
        return err;
    }
    ctf_prefix_list_sort_unique(&copy.local);
    ctf_prefix_list_sort_unique(&copy.peers);
    j = jobq_qjob_new(id, origin, &copy, ports, n_ports, created);
    if (!j) {
        flush_job_destroy(&copy);
        return ENOMEM;
    }
    j->n_ports = n_ports_total > j->n_port_names ? n_ports_total : j->n_port_names;
    j->attempts = attempts;
    jobq_queue_insert_by_id(q, j);
    if (q->next_id <= id) {
        q->next_id = id + 1;
    }
    return 0;
}

/* ---- Names. ---- */

const char *
job_origin_name(enum job_origin origin)
{
    switch (origin) {
    case JOB_ORIGIN_PORT_REMOVE:
        return "port-remove";
    case JOB_ORIGIN_PORT_ADD:
        return "port-add";
    case JOB_ORIGIN_MANUAL:
        return "manual";
    }
    return "unknown";
}

int
job_origin_parse(const char *s, enum job_origin *origin)
{
    static const enum job_origin all[] = {
        JOB_ORIGIN_PORT_REMOVE, JOB_ORIGIN_PORT_ADD, JOB_ORIGIN_MANUAL,
    };

    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++) {
        if (!strcmp(s, job_origin_name(all[i]))) {
            *origin = all[i];
            return 0;
        }
    }
    return EINVAL;
}

const char *
job_state_name(enum job_state state)
{
    switch (state) {
    case JOB_QUEUED:
        return "queued";
    case JOB_RUNNING:
        return "running";
    case JOB_DONE:
        return "done";
    case JOB_FAILED:
        return "failed";
    case JOB_CANCELLED:
        return "cancelled";
    case JOB_HELD:
        return "held";
    }
    return "unknown";
}

const char *
job_held_reason_name(enum job_held_reason r)
{
    switch (r) {
    case JOB_HELD_LIVE_PORT:
        return "live-port";
    case JOB_HELD_MOVED:
        return "moved";
    }
    return "unknown";
}
