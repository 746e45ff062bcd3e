/*
 * test_metrics.c: unit tests for metrics.c. The exposition is parsed line by
 * line with a strict reader of the Prometheus text format 0.0.4 (HELP and
 * TYPE lines, metric and label name syntax, label value escapes, float
 * syntax, one TYPE per family before its samples, families not interleaved,
 * the histogram's _bucket/_sum/_count shape), then every expected metric is
 * looked up by name and checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* ---- A strict reader. ---- */

#define MAX_SAMPLES 256
#define MAX_FAMILIES 64

struct sample {
    char name[128];
    char labels[128];           /* Raw text between the braces, "" if none. */
    double value;
    char text[64];              /* The value as written. */
};

struct family {
    char name[128];
    char type[16];
    bool help;
    bool has_samples;
    bool closed;                /* Another family's line came after it. */
};

struct expo {
    struct sample samples[MAX_SAMPLES];
    size_t n_samples;
    struct family families[MAX_FAMILIES];
    size_t n_families;
    struct family *current;     /* The family of the last line. */
};

static bool
is_name_start(char c)
{
    return isalpha((unsigned char) c) || c == '_' || c == ':';
}

static bool
is_name_char(char c)
{
    return isalnum((unsigned char) c) || c == '_' || c == ':';
}

/* Length of a metric name at p (0 if none). */
static size_t
name_len(const char *p)
{
    size_t n = 0;

    if (!is_name_start(p[0])) {
        return 0;
    }
    while (is_name_char(p[n])) {
        n++;
    }
    return n;
}

/* Go's ParseFloat as Prometheus uses it, plus its special values. */
static bool
parse_value(const char *s, double *out)
{
    char *end;

    if (!strcmp(s, "+Inf")) {
        *out = INFINITY;
        return true;
    }
    if (!strcmp(s, "-Inf")) {
        *out = -INFINITY;
        return true;
    }
    if (!strcmp(s, "NaN")) {
        *out = NAN;
        return true;
    }
    if (!*s || strspn(s, "0123456789.eE+-") != strlen(s)) {
        return false;
    }
    *out = strtod(s, &end);
    return *end == '\0';
}

/* label="value" pairs separated by commas; values escape \\, \" and \n. */
static bool
check_labels(const char *p, size_t len)
{
    const char *end = p + len;

    while (p < end) {
        size_t n = 0;
        if (!(isalpha((unsigned char) *p) || *p == '_')) {
            return false;
        }
        while (p + n < end && (isalnum((unsigned char) p[n]) || p[n] == '_')) {
            n++;
        }
        p += n;
        if (p + 2 > end || p[0] != '=' || p[1] != '"') {
            return false;
        }
        p += 2;
        while (p < end && *p != '"') {
            if (*p == '\\') {
                if (p + 1 >= end || !strchr("\\\"n", p[1])) {
                    return false;
                }
                p++;
            } else if (*p == '\n') {
                return false;
            }
            p++;
        }
        if (p >= end) {
            return false;
        }
        p++;
        if (p < end) {
            if (*p != ',') {
                return false;
            }
            p++;
        }
    }
    return true;
}

static struct family *
family_find(struct expo *e, const char *name, size_t len)
{
    for (size_t i = 0; i < e->n_families; i++) {
        if (strlen(e->families[i].name) == len && !strncmp(e->families[i].name, name, len)) {
            return &e->families[i];
        }
    }
    return NULL;
}

/* The family a line belongs to; creating it is only allowed for a HELP or
 * TYPE line (a sample must follow its TYPE). */
static struct family *
family_enter(struct expo *e, const char *name, size_t len, bool create, int lineno)
{
    struct family *f = family_find(e, name, len);

    if (!f) {
        if (!create) {
            fail_msg("line %d: sample of '%.*s' before its TYPE", lineno, (int) len, name);
        }
        assert_true(e->n_families < MAX_FAMILIES);
        f = &e->families[e->n_families++];
        memset(f, 0, sizeof *f);
        assert_true(len < sizeof f->name);
        memcpy(f->name, name, len);
    }
    if (f != e->current) {
        if (f->closed) {
            fail_msg("line %d: family '%s' continues after another one", lineno, f->name);
        }
        if (e->current) {
            e->current->closed = true;
        }
        e->current = f;
    }
    return f;
}

/* The family a sample name belongs to: itself, or for a histogram the name
 * without _bucket, _sum or _count. */
static struct family *
sample_family(struct expo *e, const char *name, size_t len, int lineno)
{
    static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
    struct family *f = family_find(e, name, len);

    if (f) {
        if (!strcmp(f->type, "histogram")) {
            fail_msg("line %d: bare sample of histogram '%s'", lineno, f->name);
        }
        return family_enter(e, name, len, false, lineno);
    }
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(suffixes[i]);
        if (len > sl && !strncmp(name + len - sl, suffixes[i], sl)) {
            f = family_find(e, name, len - sl);
            if (f && !strcmp(f->type, "histogram")) {
                return family_enter(e, name, len - sl, false, lineno);
            }
        }
    }
    fail_msg("line %d: sample '%.*s' has no TYPE", lineno, (int) len, name);
    return NULL;
}

static void
expo_parse(struct expo *e, const char *text)
{
    const char *p = text;
    int lineno = 0;

    memset(e, 0, sizeof *e);
    assert_true(*text);
    assert_int_equal(text[strlen(text) - 1], '\n');
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t) (nl - p);
        char line[512];

        lineno++;
        assert_non_null(nl);
        if (len >= sizeof line) {
            fail_msg("line %d too long", lineno);
            return;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        if (!len) {
            fail_msg("line %d: empty", lineno);
        }

        if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
            const char *name = line + 7;
            size_t nl_ = name_len(name);
            if (!nl_ || name[nl_] != ' ' || !name[nl_ + 1]) {
                fail_msg("line %d: bad HELP/TYPE line '%s'", lineno, line);
            }
            struct family *f = family_enter(e, name, nl_, true, lineno);
            const char *rest = name + nl_ + 1;
            if (line[2] == 'H') {
                if (f->help) {
                    fail_msg("line %d: second HELP for '%s'", lineno, f->name);
                }
                f->help = true;
                for (const char *q = rest; *q; q++) {
                    if (*q == '\\' && q[1] != '\\' && q[1] != 'n') {
                        fail_msg("line %d: bad escape in HELP", lineno);
                    }
                    if (*q == '\\') {
                        q++;
                    }
                }
            } else {
                static const char *const types[] = {
                    "counter", "gauge", "histogram", "summary", "untyped",
                };
                bool ok = false;
                if (f->type[0]) {
                    fail_msg("line %d: second TYPE for '%s'", lineno, f->name);
                }
                for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
                    ok |= !strcmp(rest, types[i]);
                }
                if (!ok) {
                    fail_msg("line %d: unknown type '%s'", lineno, rest);
                }
                /* TYPE must come before any sample of the family. */
                if (f->has_samples) {
                    fail_msg("line %d: TYPE after samples of '%s'", lineno, f->name);
                }
                snprintf(f->type, sizeof f->type, "%s", rest);
            }
            continue;
        }
        if (line[0] == '#') {
            continue;                   /* A plain comment: allowed. */
        }

        /* A sample: name[{labels}] value. No timestamps from us. */
        struct sample *s;
        size_t nlen = name_len(line);
        const char *q = line + nlen;
        if (!nlen) {
            fail_msg("line %d: bad metric name in '%s'", lineno, line);
        }
        assert_true(e->n_samples < MAX_SAMPLES);
        s = &e->samples[e->n_samples++];
        memset(s, 0, sizeof *s);
        assert_true(nlen < sizeof s->name);
        memcpy(s->name, line, nlen);
        if (*q == '{') {
            const char *close = strchr(q, '}');
            if (!close || !check_labels(q + 1, (size_t) (close - q - 1))) {
                fail_msg("line %d: bad labels in '%s'", lineno, line);
            }
            snprintf(s->labels, sizeof s->labels, "%.*s", (int) (close - q - 1), q + 1);
            q = close + 1;
        }
        if (*q != ' ' || !q[1] || strchr(q + 1, ' ')) {
            fail_msg("line %d: expected one space and a value in '%s'", lineno, line);
        }
        snprintf(s->text, sizeof s->text, "%s", q + 1);
        if (!parse_value(q + 1, &s->value)) {
            fail_msg("line %d: bad value '%s'", lineno, q + 1);
        }
        struct family *sf = sample_family(e, s->name, nlen, lineno);
        if (!sf->type[0]) {
            fail_msg("line %d: sample of '%s' before its TYPE", lineno, sf->name);
        }
        sf->has_samples = true;
    }
    /* Every family has its HELP and its TYPE. */
    for (size_t i = 0; i < e->n_families; i++) {
        if (!e->families[i].help || !e->families[i].type[0]) {
            fail_msg("family '%s' lacks HELP or TYPE", e->families[i].name);
        }
    }
}

static const struct sample *
expo_get(const struct expo *e, const char *name, const char *labels)
{
    for (size_t i = 0; i < e->n_samples; i++) {
        if (!strcmp(e->samples[i].name, name) && !strcmp(e->samples[i].labels, labels)) {
            return &e->samples[i];
        }
    }
    fail_msg("no sample %s{%s}", name, labels);
    return NULL;
}

static const struct family *
expo_family(const struct expo *e, const char *name)
{
    for (size_t i = 0; i < e->n_families; i++) {
        if (!strcmp(e->families[i].name, name)) {
            return &e->families[i];
        }
    }
    fail_msg("no family %s", name);
    return NULL;
}

/* ---- The expected content. ---- */

static const char *const counter_names[] = {
    "jobs_done", "jobs_failed", "jobs_cancelled", "job_retries", "jobs_merged",
    "entries_deleted", "entries_scanned", "port_removals", "port_adds",
    "replugs_cancelled", "addresses_held_back", "worker_starts", "worker_crashes", "worker_hangs",
    "userdp_starts", "userdp_crashes", "userdp_hangs", "watcher_restarts", "ovsdb_reconnects", "control_requests", "control_errors",
    "state_writes", "state_write_failures",
};

/* Distinct values per counter, so that a swapped field shows. */
static void
fill_counters(struct metrics_view *v)
{
    uint64_t *fields[] = {
        &v->jobs_done, &v->jobs_failed, &v->jobs_cancelled, &v->job_retries,
        &v->jobs_merged, &v->entries_deleted, &v->entries_scanned, &v->port_removals,
        &v->port_adds, &v->replugs_cancelled, &v->addresses_held_back, &v->worker_starts, &v->worker_crashes,
        &v->worker_hangs, &v->userdp_starts, &v->userdp_crashes, &v->userdp_hangs,
        &v->watcher_restarts, &v->ovsdb_reconnects,
        &v->control_requests, &v->control_errors, &v->state_writes,
        &v->state_write_failures,
    };

    assert_int_equal(sizeof fields / sizeof *fields, sizeof counter_names / sizeof *counter_names);
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        *fields[i] = 1000 + i;
    }
}

static const char *const le_text[] = {
    "0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "120", "600",
};

static void
check_histogram(const struct expo *e, const uint64_t want_cum[METRICS_HIST_BUCKETS + 1],
                double want_sum)
{
    char labels[64];
    uint64_t prev = 0;

    assert_string_equal(expo_family(e, "ctflushd_job_duration_seconds")->type, "histogram");
    for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
        snprintf(labels, sizeof labels, "le=\"%s\"", le_text[i]);
        const struct sample *s = expo_get(e, "ctflushd_job_duration_seconds_bucket", labels);
        if ((uint64_t) s->value != want_cum[i]) {
            fail_msg("bucket le=%s: %s, want %llu", le_text[i], s->text,
                     (unsigned long long) want_cum[i]);
        }
        assert_true((uint64_t) s->value >= prev);       /* Cumulative. */
        prev = (uint64_t) s->value;
    }
    const struct sample *inf = expo_get(e, "ctflushd_job_duration_seconds_bucket",
                                        "le=\"+Inf\"");
    const struct sample *count = expo_get(e, "ctflushd_job_duration_seconds_count", "");
    const struct sample *sum = expo_get(e, "ctflushd_job_duration_seconds_sum", "");
    assert_true((uint64_t) inf->value >= prev);
    assert_true((uint64_t) inf->value == want_cum[METRICS_HIST_BUCKETS]);
    assert_true(count->value == inf->value);
    assert_true(fabs(sum->value - want_sum) <= 1e-9 * (1 + fabs(want_sum)));

    /* The buckets are in increasing order of le, +Inf last. */
    size_t seen = 0;
    double last = -1;
    for (size_t i = 0; i < e->n_samples; i++) {
        if (strcmp(e->samples[i].name, "ctflushd_job_duration_seconds_bucket")) {
            continue;
        }
        double le;
        char txt[32];
        assert_true(sscanf(e->samples[i].labels, "le=\"%31[^\"]\"", txt) == 1);
        assert_true(parse_value(txt, &le));
        assert_true(le > last);
        last = le;
        seen++;
    }
    assert_int_equal(seen, METRICS_HIST_BUCKETS + 1);
    assert_true(isinf(last));
}

/* ---- Tests. ---- */

static void
test_full_exposition(void **state)
{
    struct metrics_hist h;
    struct metrics_view v;
    struct expo *e = malloc(sizeof *e);
    char name[128];
    char *text;

    assert_non_null(e);
    metrics_hist_init(&h);
    /* Boundaries are inclusive ("le"). */
    static const double obs[] = {
        0.005, 0.01, 0.011, 0.3, 1, 7, 29.9, 600, 600.1, 1e6,
    };
    double sum = 0;
    for (size_t i = 0; i < sizeof obs / sizeof *obs; i++) {
        metrics_hist_observe(&h, obs[i]);
        sum += obs[i];
    }
    /* 0.005 0.01 | 0.011 | - | 0.3 | - | 1 | - | 7 | - | 29.9 | - | 600 | 600.1 1e6 */
    static const uint64_t cum[METRICS_HIST_BUCKETS + 1] = {
        2, 3, 3, 3, 4, 5, 5, 5, 6, 7, 7, 8, 10,
    };

    memset(&v, 0, sizeof v);
    v.uptime_seconds = 3725.25;
    v.ports = 17;
    v.queue_jobs = 3;
    v.queue_prefixes = 45;
    v.running = true;
    v.paused = false;
    v.ovsdb_connected = true;
    v.state_ok = true;
    v.control_clients = 2;
    fill_counters(&v);
    v.job_duration = &h;

    text = metrics_format(&v);
    assert_non_null(text);
    expo_parse(e, text);

    assert_string_equal(expo_get(e, "ctflushd_up", "")->text, "1");
    assert_true(expo_get(e, "ctflushd_uptime_seconds", "")->value == 3725.25);
    assert_string_equal(expo_get(e, "ctflushd_ports", "")->text, "17");
    assert_string_equal(expo_get(e, "ctflushd_queue_jobs", "")->text, "3");
    assert_string_equal(expo_get(e, "ctflushd_queue_prefixes", "")->text, "45");
    assert_string_equal(expo_get(e, "ctflushd_job_running", "")->text, "1");
    assert_string_equal(expo_get(e, "ctflushd_paused", "")->text, "0");
    assert_string_equal(expo_get(e, "ctflushd_ovsdb_connected", "")->text, "1");
    assert_string_equal(expo_get(e, "ctflushd_state_ok", "")->text, "1");
    assert_string_equal(expo_get(e, "ctflushd_control_clients", "")->text, "2");
    static const char *const gauges[] = {
        "ctflushd_up", "ctflushd_uptime_seconds", "ctflushd_ports", "ctflushd_queue_jobs",
        "ctflushd_queue_prefixes", "ctflushd_job_running", "ctflushd_userdp_job_running",
        "ctflushd_paused",
        "ctflushd_ovsdb_connected", "ctflushd_state_ok", "ctflushd_control_clients",
    };
    for (size_t i = 0; i < sizeof gauges / sizeof *gauges; i++) {
        assert_string_equal(expo_family(e, gauges[i])->type, "gauge");
    }

    for (size_t i = 0; i < sizeof counter_names / sizeof *counter_names; i++) {
        char want[32];
        snprintf(name, sizeof name, "ctflushd_%s_total", counter_names[i]);
        snprintf(want, sizeof want, "%zu", 1000 + i);
        assert_string_equal(expo_family(e, name)->type, "counter");
        const struct sample *s = expo_get(e, name, "");
        if (strcmp(s->text, want)) {
            fail_msg("%s = %s, want %s", name, s->text, want);
        }
    }
    check_histogram(e, cum, sum);

    /* Nothing unexpected: 11 gauges, the counters, one histogram. */
    assert_int_equal(e->n_families, 11 + sizeof counter_names / sizeof *counter_names + 1);
    assert_int_equal(e->n_samples, 11 + sizeof counter_names / sizeof *counter_names
                                   + METRICS_HIST_BUCKETS + 3);
    for (size_t i = 0; i < e->n_families; i++) {
        assert_memory_equal(e->families[i].name, "ctflushd_", 9);
        /* Counters, and only counters, end in _total. */
        size_t l = strlen(e->families[i].name);
        bool total = l > 6 && !strcmp(e->families[i].name + l - 6, "_total");
        assert_int_equal(total, !strcmp(e->families[i].type, "counter"));
    }
    free(text);
    free(e);
    (void) state;
}

static void
test_no_histogram_and_extremes(void **state)
{
    struct metrics_view v;
    struct expo *e = malloc(sizeof *e);
    char *text;
    static const uint64_t zeros[METRICS_HIST_BUCKETS + 1];

    assert_non_null(e);
    memset(&v, 0, sizeof v);
    v.entries_scanned = UINT64_MAX;
    v.ports = UINT64_MAX;
    v.uptime_seconds = 0.001;
    text = metrics_format(&v);
    assert_non_null(text);
    expo_parse(e, text);
    /* Exact, not through a double. */
    assert_string_equal(expo_get(e, "ctflushd_entries_scanned_total", "")->text,
                        "18446744073709551615");
    assert_string_equal(expo_get(e, "ctflushd_ports", "")->text, "18446744073709551615");
    assert_string_equal(expo_get(e, "ctflushd_uptime_seconds", "")->text, "0.001");
    assert_string_equal(expo_get(e, "ctflushd_job_running", "")->text, "0");
    assert_string_equal(expo_get(e, "ctflushd_state_ok", "")->text, "0");
    assert_string_equal(expo_get(e, "ctflushd_up", "")->text, "1");
    check_histogram(e, zeros, 0);
    free(text);

    /* A huge uptime stays valid float syntax. */
    v.uptime_seconds = 1e300;
    text = metrics_format(&v);
    assert_non_null(text);
    expo_parse(e, text);
    assert_true(expo_get(e, "ctflushd_uptime_seconds", "")->value == 1e300);
    free(text);
    free(e);
    (void) state;
}

static void
test_hist_observe(void **state)
{
    struct metrics_hist h;

    metrics_hist_init(&h);
    assert_int_equal(h.count, 0);
    assert_true(h.sum == 0);
    /* Each bound lands in its own bucket; just above, in the next. */
    for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
        metrics_hist_observe(&h, metrics_hist_bound(i));
        assert_int_equal(h.counts[i], 1);
        metrics_hist_observe(&h, metrics_hist_bound(i) * 1.0001);
        if (i + 1 < METRICS_HIST_BUCKETS) {
            assert_int_equal(h.counts[i + 1], 1);
            h.counts[i + 1] = 0;
        } else {
            assert_int_equal(h.inf, 1);
        }
    }
    assert_int_equal(h.count, 2 * METRICS_HIST_BUCKETS);

    /* Non-finite values are dropped; negative ones count as 0. */
    metrics_hist_init(&h);
    metrics_hist_observe(&h, NAN);
    metrics_hist_observe(&h, INFINITY);
    metrics_hist_observe(&h, -INFINITY);
    assert_int_equal(h.count, 0);
    assert_true(h.sum == 0);
    metrics_hist_observe(&h, -3);
    assert_int_equal(h.count, 1);
    assert_int_equal(h.counts[0], 1);
    assert_true(h.sum == 0);
    (void) state;
}

static void
test_hist_bounds(void **state)
{
    static const double want[METRICS_HIST_BUCKETS] = {
        0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600,
    };

    for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
        assert_true(metrics_hist_bound(i) == want[i]);
    }
    assert_true(isinf(metrics_hist_bound(METRICS_HIST_BUCKETS)));
    (void) state;
}

/* A histogram filled inconsistently by hand (count not matching buckets)
 * still exposes a valid, monotonic histogram with +Inf == _count. */
static void
test_hist_inconsistent(void **state)
{
    struct metrics_hist h;
    struct metrics_view v;
    struct expo *e = malloc(sizeof *e);
    char *text;
    static const uint64_t cum[METRICS_HIST_BUCKETS + 1] = {
        5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7,
    };

    assert_non_null(e);
    metrics_hist_init(&h);
    h.counts[0] = 5;
    h.inf = 2;
    h.count = 3;
    h.sum = 1.5;
    memset(&v, 0, sizeof v);
    v.job_duration = &h;
    text = metrics_format(&v);
    assert_non_null(text);
    expo_parse(e, text);
    check_histogram(e, cum, 1.5);
    free(text);
    free(e);
    (void) state;
}

/* The reader itself refuses what it should, so its passes mean something. */
static void
test_reader_rejects(void **state)
{
    assert_true(check_labels("le=\"0.1\"", 8));
    assert_false(check_labels("le=0.1", 6));
    assert_false(check_labels("1e=\"x\"", 6));
    assert_false(check_labels("le=\"x\\q\"", 8));
    assert_true(check_labels("a=\"x\",b=\"y\\\"\"", 13));
    double d;
    assert_true(parse_value("1e+300", &d));
    assert_true(parse_value("+Inf", &d));
    assert_false(parse_value("inf", &d));
    assert_false(parse_value("1 2", &d));
    assert_false(parse_value("0x10", &d));
    assert_false(parse_value("", &d));
    assert_int_equal(name_len("ctflushd_up 1"), 11);
    assert_int_equal(name_len("9x"), 0);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_exposition),
        cmocka_unit_test(test_no_histogram_and_extremes),
        cmocka_unit_test(test_hist_observe),
        cmocka_unit_test(test_hist_bounds),
        cmocka_unit_test(test_hist_inconsistent),
        cmocka_unit_test(test_reader_rejects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
