/*
 * ctlout.c: ctflushctl's text (and --json) output.
 */
#include "ctlout.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Width of the keys in status output, right-aligned on the colon as
 * systemctl status does, so "paused: yes" reads (and greps) as one phrase. */
#define CTLOUT_KEY_WIDTH 16

/* A job's address list is shown as its first prefix and a count; the full
 * list is in --json. */
#define CTLOUT_CELL_MAX 256

/* Copies s into buf (of size len, > 0), control characters as '?'. */
static const char *
ctlout_sanitize(const char *s, char *buf, size_t len)
{
    size_t i;

    for (i = 0; s[i] && i + 1 < len; i++) {
        unsigned char c = (unsigned char) s[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char) c;
    }
    buf[i] = '\0';
    return buf;
}

/* A number as an integer when it is one, else with up to 6 digits. */
static const char *
ctlout_number(const json_t *v, char *buf, size_t len)
{
    double d = json_real_value(v);

    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (isfinite(d) && d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, len, "%.0f", d);
    } else {
        snprintf(buf, len, "%.6g", d);
    }
    return buf;
}

/* Any value as one short piece of text: "-" for missing or null, "yes"/"no"
 * for booleans, strings sanitized, arrays joined with ','. Objects, which no
 * caller expects, show as "{...}". The result is buf or a literal. */
static const char *
ctlout_text(const json_t *v, char *buf, size_t len)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_NULL:
        return "-";
    case JSON_TRUE:
        return "yes";
    case JSON_FALSE:
        return "no";
    case JSON_INTEGER:
    case JSON_REAL:
        return ctlout_number(v, buf, len);
    case JSON_STRING:
        return ctlout_sanitize(json_string_value(v), buf, len);
    case JSON_ARRAY: {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < json_array_size(v) && used + 1 < len; i++) {
            char item[CTLOUT_CELL_MAX];
            int n = snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                             ctlout_text(json_array_get(v, i), item, sizeof item));
            used += n > 0 ? (size_t) n : 0;
        }
        if (used >= len && len > 4) {
            strcpy(buf + len - 4, "...");   /* Say it was cut. */
        }
        return json_array_size(v) ? buf : "-";
    }
    case JSON_OBJECT:
    default:
        return "{...}";
    }
}

/* The daemon's replies are read with jansson's own accessors, which are as
 * lenient as this output wants: a missing member, a member of another type
 * or a NULL object give NULL, 0 or false, never a failure. What is left here
 * is how a value looks. */

static const char *
ctlout_get_text(const json_t *obj, const char *key, char *buf, size_t len)
{
    return ctlout_text(json_object_get(obj, key), buf, len);
}

/* A non-empty string member, sanitized; NULL if missing, empty or not a
 * string. */
static const char *
ctlout_get_str(const json_t *obj, const char *key, char *buf, size_t len)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s && *s ? ctlout_sanitize(s, buf, len) : NULL;
}

static void __attribute__((format(printf, 3, 4)))
ctlout_kv(FILE *f, const char *key, const char *fmt, ...)
{
    va_list ap;

    fprintf(f, "%*s: ", CTLOUT_KEY_WIDTH, key);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

/* Seconds as "1d 02:03:04" or "02:03:04". */
static const char *
ctlout_uptime(double s, char *buf, size_t len)
{
    uint64_t t = s > 0 && isfinite(s) ? (uint64_t) s : 0;
    uint64_t d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;

    if (d) {
        snprintf(buf, len, "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
                 d, h, m, sec);
    } else {
        snprintf(buf, len, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, h, m, sec);
    }
    return buf;
}

/* A job's duration: "4.8s", "2m05s", "1h02m05s"; "-" when unknown. */
static const char *
ctlout_duration(const json_t *job, char *buf, size_t len)
{
    const json_t *v = json_object_get(job, "duration_s");
    double s = json_number_value(v);

    if (!json_is_number(v) || !isfinite(s) || s < 0) {
        return "-";
    }
    if (s < 60) {
        snprintf(buf, len, "%.1fs", s);
    } else {
        uint64_t t = (uint64_t) (s + 0.5);
        if (t < 3600) {
            snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", t / 60, t % 60);
        } else {
            snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s",
                     t / 3600, t / 60 % 60, t % 60);
        }
    }
    return buf;
}

/* One side of a job: "any", or the first prefix and how many more, since
 * the daemon sends at most 16 of them and a table cell has room for one. */
static const char *
ctlout_side(const json_t *job, const char *key, const char *count_key, char *buf,
            size_t len)
{
    const json_t *v = json_object_get(job, key);
    const json_t *n = json_object_get(job, count_key);
    char first[64];             /* A prefix is < 50; longer is cut. */
    json_int_t count;

    if (!json_is_array(v)) {
        return ctlout_text(v, buf, len);        /* "any", or "-". */
    }
    count = json_is_integer(n) && json_integer_value(n) >= 0
            ? json_integer_value(n) : (json_int_t) json_array_size(v);
    if (!json_array_size(v)) {
        return count ? "?" : "-";
    }
    ctlout_text(json_array_get(v, 0), first, sizeof first);
    if (count > 1) {
        snprintf(buf, len, "%s(+%" JSON_INTEGER_FORMAT ")", first, count - 1);
    } else {
        snprintf(buf, len, "%s", first);
    }
    return buf;
}

/* "scanned 120000 matched 3400 deleted 3400" */
static void
ctlout_counts(FILE *f, const json_t *job, const char *sep)
{
    static const char *const keys[] = { "scanned", "matched", "deleted" };
    char buf[64];

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        fprintf(f, "%s%s %s", i ? sep : "", keys[i],
                ctlout_get_text(job, keys[i], buf, sizeof buf));
    }
}

/* Tables: cells are collected first so every column can be as wide as its
 * widest cell. */
struct ctlout_table {
    size_t n_cols;
    char **cells;               /* Row-major, n_rows * n_cols, malloc'd. */
    size_t n_rows;
    size_t cap_rows;
    bool oom;                   /* A row could not be kept; output is short. */
};

static void
ctlout_table_init(struct ctlout_table *t, size_t n_cols)
{
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
}

static void
ctlout_table_destroy(struct ctlout_table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
}

/* Adds a row of n_cols cells (copied). Empty cells become "-" so columns
 * stay countable with awk. */
static void
ctlout_table_add(struct ctlout_table *t, const char *const cols[])
{
    if (t->oom) {
        return;
    }
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **cells = realloc(t->cells, cap * t->n_cols * sizeof *cells);
        if (!cells) {
            t->oom = true;
            return;
        }
        t->cells = cells;
        t->cap_rows = cap;
    }
    char **row = &t->cells[t->n_rows * t->n_cols];
    for (size_t c = 0; c < t->n_cols; c++) {
        row[c] = strdup(cols[c] && *cols[c] ? cols[c] : "-");
        if (!row[c]) {
            for (size_t k = 0; k < c; k++) {
                free(row[k]);
            }
            t->oom = true;
            return;
        }
    }
    t->n_rows++;
}

/* Prints the table; the last column is not padded. */
static int
ctlout_table_print(FILE *f, const struct ctlout_table *t)
{
    size_t width[16] = { 0 };

    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols && c < 16; c++) {
            size_t n = strlen(t->cells[r * t->n_cols + c]);
            width[c] = n > width[c] ? n : width[c];
        }
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells[r * t->n_cols + c];
            if (c + 1 < t->n_cols) {
                fprintf(f, "%-*s  ", (int) width[c < 16 ? c : 15], cell);
            } else {
                fprintf(f, "%s\n", cell);
            }
        }
    }
    return t->oom ? ENOMEM : 0;
}

/* status */

static void
ctlout_status_running(FILE *f, const json_t *job)
{
    char id[32], origin[64], zone[32], local[CTLOUT_CELL_MAX], peers[CTLOUT_CELL_MAX];
    char ports[CTLOUT_CELL_MAX], strategy[64];
    const json_t *rate = json_object_get(job, "rate");

    if (!json_is_object(job)) {
        ctlout_kv(f, "running", "none");
        return;
    }
    fprintf(f, "%*s: job %s (%s", CTLOUT_KEY_WIDTH, "running",
            ctlout_get_text(job, "id", id, sizeof id),
            ctlout_get_text(job, "origin", origin, sizeof origin));
    if (json_is_number(json_object_get(job, "zone"))) {
        fprintf(f, ", zone %s", ctlout_get_text(job, "zone", zone, sizeof zone));
    }
    fprintf(f, ", local %s, peers %s",
            ctlout_side(job, "local", "local_count", local, sizeof local),
            ctlout_side(job, "peers", "peers_count", peers, sizeof peers));
    if (json_array_size(json_object_get(job, "ports"))) {
        fprintf(f, ", ports %s", ctlout_get_text(job, "ports", ports, sizeof ports));
    }
    fprintf(f, ")\n");

    fprintf(f, "%*s: ", CTLOUT_KEY_WIDTH, "progress");
    ctlout_counts(f, job, ", ");
    if (json_is_number(rate) && isfinite(json_number_value(rate))) {
        fprintf(f, ", %.0f/s", json_number_value(rate));
    }
    fprintf(f, ", %s\n", ctlout_get_str(job, "strategy", strategy, sizeof strategy)
                         ? strategy : "strategy not chosen yet");
}

static int
ctlout_status(FILE *f, const json_t *st)
{
    /* Members of something that is not an object read as missing. */
    const json_t *ovsdb = json_object_get(st, "ovsdb");
    const json_t *worker = json_object_get(st, "worker");
    const json_t *state = json_object_get(st, "state");
    const json_t *uptime = json_object_get(st, "uptime_s");
    const json_t *connected = json_object_get(ovsdb, "connected");
    const json_t *ok = json_object_get(state, "ok");
    char a[CTLOUT_CELL_MAX], b[CTLOUT_CELL_MAX], c[CTLOUT_CELL_MAX], d[CTLOUT_CELL_MAX];
    char e[CTLOUT_CELL_MAX];

    ctlout_kv(f, "version", "%s", ctlout_get_text(st, "version", a, sizeof a));
    ctlout_kv(f, "pid", "%s", ctlout_get_text(st, "pid", a, sizeof a));
    if (json_is_number(uptime)) {
        ctlout_kv(f, "uptime", "%s", ctlout_uptime(json_number_value(uptime), a, sizeof a));
    } else {
        ctlout_kv(f, "uptime", "-");
    }

    /* The ovsdb object is the detailed view; the top-level flag is what
     * older replies may carry alone. */
    if (!json_is_boolean(connected)) {
        connected = json_object_get(st, "ovsdb_connected");
    }
    if (!json_is_boolean(connected)) {
        ctlout_kv(f, "ovsdb connected", "-");
    } else {
        ctlout_kv(f, "ovsdb connected", "%s", json_is_true(connected) ? "yes" : "no");
    }
    ctlout_kv(f, "ovsdb remote", "%s", ctlout_get_text(ovsdb, "remote", a, sizeof a));
    ctlout_kv(f, "ovsdb last error", "%s",
              ctlout_get_str(ovsdb, "last_error", a, sizeof a) ? a : "none");
    ctlout_kv(f, "ovsdb reconnects", "%s", ctlout_get_text(ovsdb, "reconnects", a, sizeof a));

    ctlout_kv(f, "ports", "%s", ctlout_get_text(st, "ports", a, sizeof a));
    ctlout_kv(f, "queue depth", "%s jobs, %s prefixes",
              ctlout_get_text(st, "queue_depth", a, sizeof a),
              ctlout_get_text(st, "queue_prefixes", b, sizeof b));
    ctlout_kv(f, "batch pending", "%s", ctlout_get_text(st, "batch_pending", a, sizeof a));
    ctlout_kv(f, "paused", "%s", ctlout_get_text(st, "paused", a, sizeof a));
    ctlout_status_running(f, json_object_get(st, "running"));
    ctlout_kv(f, "jobs", "%s done, %s failed, %s cancelled",
              ctlout_get_text(st, "jobs_done", a, sizeof a),
              ctlout_get_text(st, "jobs_failed", b, sizeof b),
              ctlout_get_text(st, "jobs_cancelled", c, sizeof c));
    ctlout_kv(f, "entries deleted", "%s", ctlout_get_text(st, "entries_deleted", a, sizeof a));

    ctlout_kv(f, "worker", "%s, pid %s, %s starts, %s crashes, %s hangs",
              ctlout_get_text(worker, "state", a, sizeof a),
              ctlout_get_text(worker, "pid", b, sizeof b),
              ctlout_get_text(worker, "starts", c, sizeof c),
              ctlout_get_text(worker, "crashes", d, sizeof d),
              ctlout_get_text(worker, "hangs", e, sizeof e));
    if (json_object_get(worker, "caps") && !json_is_null(json_object_get(worker, "caps"))) {
        ctlout_kv(f, "worker caps", "%s", ctlout_get_text(worker, "caps", a, sizeof a));
    }

    if (!json_is_boolean(ok)) {
        ctlout_kv(f, "state file", "-");
    } else if (json_is_true(ok)) {
        ctlout_kv(f, "state file", "ok, %s writes",
                  ctlout_get_text(state, "writes", a, sizeof a));
    } else {
        ctlout_kv(f, "state file", "error: %s, %s writes",
                  ctlout_get_str(state, "error", a, sizeof a) ? a : "unknown",
                  ctlout_get_text(state, "writes", b, sizeof b));
    }

    /* Absent from a daemon older than the endpoint: nothing to say. */
    const json_t *http = json_object_get(st, "metrics_http");
    if (json_is_object(http)) {
        ctlout_kv(f, "metrics http", "http://%s/metrics, %s scrapes, %s connections",
                  ctlout_get_text(http, "address", a, sizeof a),
                  ctlout_get_text(http, "scrapes", b, sizeof b),
                  ctlout_get_text(http, "connections", c, sizeof c));
    } else if (json_is_null(http)) {
        ctlout_kv(f, "metrics http", "off");
    }
    return 0;
}

/* jobs */

enum { CTLOUT_JOB_COLS = 10 };

static void
ctlout_job_row(struct ctlout_table *t, const json_t *job)
{
    char id[32], origin[64], state[64], zone[32], local[CTLOUT_CELL_MAX];
    char peers[CTLOUT_CELL_MAX], deleted[32], duration[32], strategy[64];
    char error[CTLOUT_CELL_MAX];

    if (!json_is_object(job)) {
        return;
    }
    const char *row[CTLOUT_JOB_COLS] = {
        ctlout_get_text(job, "id", id, sizeof id),
        ctlout_get_text(job, "origin", origin, sizeof origin),
        ctlout_get_text(job, "state", state, sizeof state),
        ctlout_get_text(job, "zone", zone, sizeof zone),
        ctlout_side(job, "local", "local_count", local, sizeof local),
        ctlout_side(job, "peers", "peers_count", peers, sizeof peers),
        ctlout_get_text(job, "deleted", deleted, sizeof deleted),
        ctlout_duration(job, duration, sizeof duration),
        ctlout_get_text(job, "strategy", strategy, sizeof strategy),
        ctlout_get_str(job, "error", error, sizeof error),
    };
    ctlout_table_add(t, row);
}

static int
ctlout_jobs(FILE *f, const json_t *r)
{
    static const char *const header[CTLOUT_JOB_COLS] = {
        "ID", "ORIGIN", "STATE", "ZONE", "LOCAL", "PEERS", "DELETED", "DURATION",
        "STRATEGY", "ERROR",
    };
    static const char *const lists[] = { "queued", NULL, "finished" };
    struct ctlout_table t;
    int error;

    ctlout_table_init(&t, CTLOUT_JOB_COLS);
    ctlout_table_add(&t, header);
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (!lists[i]) {
            ctlout_job_row(&t, json_object_get(r, "running"));
            continue;
        }
        const json_t *a = json_object_get(r, lists[i]);
        for (size_t k = 0; k < json_array_size(a); k++) {
            ctlout_job_row(&t, json_array_get(a, k));
        }
    }
    error = ctlout_table_print(f, &t);
    ctlout_table_destroy(&t);
    return error;
}

/* ports */

enum { CTLOUT_PORT_COLS = 7 };

static int
ctlout_ports(FILE *f, const json_t *r)
{
    static const char *const header[CTLOUT_PORT_COLS] = {
        "NAME", "IFACE-ID", "IPS", "SOURCE", "ZONE", "ZSOURCE", "SHARED",
    };
    const json_t *ports = json_object_get(r, "ports");
    struct ctlout_table t;
    int error;

    ctlout_table_init(&t, CTLOUT_PORT_COLS);
    ctlout_table_add(&t, header);
    for (size_t i = 0; i < json_array_size(ports); i++) {
        const json_t *p = json_array_get(ports, i);
        char name[CTLOUT_CELL_MAX], iface[CTLOUT_CELL_MAX], src[64], zone[32], zsrc[64];
        char shared[CTLOUT_CELL_MAX];
        char *ips;
        size_t ips_len = 4096;  /* Every IP: a port's list is what is asked. */

        if (!json_is_object(p)) {
            continue;
        }
        ips = malloc(ips_len);
        if (!ips) {
            t.oom = true;
            break;
        }
        const char *row[CTLOUT_PORT_COLS] = {
            ctlout_get_text(p, "name", name, sizeof name),
            ctlout_get_text(p, "iface_id", iface, sizeof iface),
            ctlout_get_text(p, "ips", ips, ips_len),
            ctlout_get_text(p, "ip_source", src, sizeof src),
            ctlout_get_text(p, "zone", zone, sizeof zone),
            ctlout_get_text(p, "zone_source", zsrc, sizeof zsrc),
            /* Its addresses another live port holds: they outlive it. */
            ctlout_get_text(p, "shared", shared, sizeof shared),
        };
        ctlout_table_add(&t, row);
        free(ips);
    }
    error = ctlout_table_print(f, &t);
    ctlout_table_destroy(&t);
    return error;
}

/* The one-line replies. */

static void
ctlout_ids(FILE *f, const json_t *ids)
{
    char buf[32];

    for (size_t i = 0; i < json_array_size(ids); i++) {
        fprintf(f, "%s%s", i ? ", " : "", ctlout_text(json_array_get(ids, i), buf, sizeof buf));
    }
}

static void
ctlout_flush(FILE *f, const json_t *r)
{
    const json_t *ids = json_object_get(r, "jobs");
    size_t n = json_array_size(ids);

    if (!n) {
        fprintf(f, "queued (no job id in the reply)\n");
        return;
    }
    if (json_is_true(json_object_get(r, "merged"))) {
        fprintf(f, "merged into queued job%s ", n > 1 ? "s" : "");
    } else {
        fprintf(f, "queued job%s ", n > 1 ? "s" : "");
    }
    ctlout_ids(f, ids);
    fputc('\n', f);

    /* A manual flush is not filtered; say whose live addresses it takes. */
    const json_t *holders = json_object_get(r, "live_holders");
    for (size_t i = 0; i < json_array_size(holders); i++) {
        const json_t *h = json_array_get(holders, i);
        char ip[CTLOUT_CELL_MAX], ports[CTLOUT_CELL_MAX];

        fprintf(f, "note: %s is held by live port(s) %s; flushed as asked\n",
                ctlout_get_text(h, "ip", ip, sizeof ip),
                ctlout_get_text(h, "ports", ports, sizeof ports));
    }
}

static void
ctlout_cancel(FILE *f, const json_t *r)
{
    char id[32], state[64];

    fprintf(f, "job %s: %s\n", ctlout_get_text(r, "id", id, sizeof id),
            ctlout_get_text(r, "state", state, sizeof state));
}

static void
ctlout_pause(FILE *f, const json_t *r)
{
    const json_t *requeued = json_object_get(r, "requeued");
    char id[32];

    fprintf(f, "paused");
    if (json_is_number(requeued)) {
        fprintf(f, "; running job %s stopped and requeued", ctlout_text(requeued, id, sizeof id));
    }
    fputc('\n', f);
}

static void
ctlout_set_ips(FILE *f, const json_t *r)
{
    const json_t *ips = json_object_get(r, "ips");
    char port[CTLOUT_CELL_MAX], buf[CTLOUT_CELL_MAX];

    fprintf(f, "port %s: ", ctlout_get_text(r, "port", port, sizeof port));
    if (!json_array_size(ips)) {
        fprintf(f, "operator IPs cleared\n");
        return;
    }
    fprintf(f, "IPs ");
    for (size_t i = 0; i < json_array_size(ips); i++) {
        fprintf(f, "%s%s", i ? ", " : "", ctlout_text(json_array_get(ips, i), buf, sizeof buf));
    }
    fputc('\n', f);
}

static void
ctlout_metrics(FILE *f, const json_t *r)
{
    const json_t *text = json_object_get(r, "text");
    const char *s = json_string_value(text);
    size_t len = json_string_length(text);

    if (!s) {
        return;
    }
    fwrite(s, 1, len, f);
    if (len && s[len - 1] != '\n') {
        fputc('\n', f);
    }
}

static void
ctlout_reload(FILE *f, const json_t *r)
{
    char buf[CTLOUT_CELL_MAX * 2];

    fprintf(f, "reloaded\n");
    if (ctlout_get_str(r, "restart_needed", buf, sizeof buf)) {
        fprintf(f, "restart needed for: %s\n", buf);
    }
}

int
ctlout_result(FILE *f, enum ctl_cmd cmd, const json_t *result)
{
    switch (cmd) {
    case CTL_CMD_STATUS:
        return ctlout_status(f, result);
    case CTL_CMD_JOBS:
        return ctlout_jobs(f, result);
    case CTL_CMD_PORTS:
        return ctlout_ports(f, result);
    case CTL_CMD_FLUSH:
        ctlout_flush(f, result);
        break;
    case CTL_CMD_CANCEL:
        ctlout_cancel(f, result);
        break;
    case CTL_CMD_PAUSE:
        ctlout_pause(f, result);
        break;
    case CTL_CMD_RESUME:
        fprintf(f, "resumed\n");
        break;
    case CTL_CMD_SET_IPS:
        ctlout_set_ips(f, result);
        break;
    case CTL_CMD_METRICS:
        ctlout_metrics(f, result);
        break;
    case CTL_CMD_RELOAD:
        ctlout_reload(f, result);
        break;
    case CTL_CMD_N:
    default:
        break;
    }
    return 0;
}

static int
ctlout_json_out(FILE *f, struct json_out *j)
{
    const char *text = json_text(j);
    int error = 0;

    if (text) {
        fprintf(f, "%s\n", text);
    } else {
        error = ENOMEM;
    }
    json_destroy(j);
    return error;
}

int
ctlout_json(FILE *f, const json_t *v)
{
    struct json_out j;

    json_init(&j);
    json_write_value(&j, v);                    /* null for NULL */
    return ctlout_json_out(f, &j);
}

int
ctlout_json_error(FILE *f, const json_t *error)
{
    struct json_out j;

    json_init(&j);
    json_object_begin(&j);
    json_key(&j, "error");
    json_write_value(&j, error);
    json_object_end(&j);
    return ctlout_json_out(f, &j);
}

void
ctlout_error(FILE *f, const json_t *error)
{
    char msg[1024], code[64];

    fprintf(f, "ctflushctl: %s (%s)\n",
            ctlout_get_str(error, "message", msg, sizeof msg) ? msg : "request failed",
            ctlout_get_str(error, "code", code, sizeof code) ? code : "no error code");
}

void
ctlout_progress(FILE *f, const json_t *job)
{
    const json_t *rate = json_object_get(job, "rate");
    char id[32], strategy[64], state[64];

    fprintf(f, "\r[job %s] ", ctlout_get_text(job, "id", id, sizeof id));
    if (ctlout_get_str(job, "state", state, sizeof state) && strcmp(state, "running")) {
        fprintf(f, "%s", state);    /* Queued behind others: nothing to count. */
    } else {
        fprintf(f, "%s: ", ctlout_get_str(job, "strategy", strategy, sizeof strategy)
                           ? strategy : "running");
        ctlout_counts(f, job, " ");
        if (json_is_number(rate) && isfinite(json_number_value(rate))) {
            fprintf(f, " (%.0f/s)", json_number_value(rate));
        }
    }
    fputs("\033[K", f);         /* Clear what a longer line left behind. */
}

void
ctlout_wait_end(FILE *f, const json_t *end)
{
    const json_t *jobs = json_object_get(end, "jobs");

    for (size_t i = 0; i < json_array_size(jobs); i++) {
        const json_t *job = json_array_get(jobs, i);
        char id[32], state[64], strategy[64], n[32], duration[32];

        if (!json_is_object(job)) {
            continue;
        }
        fprintf(f, "job %s %s: %s, ", ctlout_get_text(job, "id", id, sizeof id),
                ctlout_get_text(job, "state", state, sizeof state),
                ctlout_get_text(job, "strategy", strategy, sizeof strategy));
        ctlout_counts(f, job, ", ");
        fprintf(f, ", already gone %s", ctlout_get_text(job, "already_gone", n, sizeof n));
        fprintf(f, ", errors %s", ctlout_get_text(job, "errors", n, sizeof n));
        fprintf(f, ", %s\n", ctlout_duration(job, duration, sizeof duration));
    }
}

bool
ctlout_wait_check(FILE *err, const json_t *end)
{
    const json_t *jobs = json_object_get(end, "jobs");
    bool ok = json_is_true(json_object_get(end, "ok")), said = false;

    for (size_t i = 0; i < json_array_size(jobs); i++) {
        const json_t *job = json_array_get(jobs, i);
        const char *state = json_string_value(json_object_get(job, "state"));
        char id[32], st[64], why[CTLOUT_CELL_MAX];

        if (state && !strcmp(state, "done")) {
            continue;
        }
        ok = false;
        said = true;
        fprintf(err, "ctflushctl: job %s %s", ctlout_get_text(job, "id", id, sizeof id),
                ctlout_get_text(job, "state", st, sizeof st));
        if (ctlout_get_str(job, "error", why, sizeof why)) {
            fprintf(err, ": %s", why);
        }
        fputc('\n', err);
    }
    if (!ok && !said) {
        fprintf(err, "ctflushctl: the flush did not complete\n");
    }
    return ok;
}
