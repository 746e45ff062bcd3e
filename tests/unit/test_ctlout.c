/*
 * test_ctlout.c: unit tests for ctlout.c (ctflushctl's output), and the
 * ctflushctl binary end to end against a fake daemon.
 *
 * The first part feeds canned replies, as the daemon documents them, to the
 * text formatters and checks what the operator must see, and that missing,
 * null and wrongly typed members print as "-" instead of crashing.
 *
 * The second part runs the built ctflushctl (next to the tests in the build
 * tree, or $CTFLUSHCTL) against a child process that listens on a temp unix
 * socket, records the request line byte for byte and answers canned lines.
 * It checks the bytes on the socket, the exit codes 0/1/2/3, that --json
 * output parses, and the progress line on a terminal (a pty).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctlout.h"
#include "ctlproto.h"
#include "json.h"

/* ---- Helpers. ---- */

static json_t *
parse_or_fail(const char *text)
{
    json_t *v = NULL;
    char err[128];

    if (json_parse(text, strlen(text), &v, err, sizeof err)) {
        fail_msg("test JSON does not parse: %s: %s", err, text);
    }
    return v;
}

/* Output of fn on a memstream, as a malloc'd string. */
struct capture {
    FILE *f;
    char *text;
    size_t len;
};

static void
cap_open(struct capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static char *
cap_close(struct capture *c)
{
    fclose(c->f);
    return c->text;
}

/* ctlout_result on a canned result; the text, malloc'd. */
static char *
render(enum ctl_cmd cmd, const char *json)
{
    json_t *v = parse_or_fail(json);
    struct capture c;

    cap_open(&c);
    assert_int_equal(ctlout_result(c.f, cmd, v), 0);
    json_decref(v);
    return cap_close(&c);
}

static void
expect_has(const char *text, const char *want)
{
    if (!strstr(text, want)) {
        fail_msg("output lacks '%s':\n%s", want, text);
    }
}

static void
expect_lacks(const char *text, const char *bad)
{
    if (strstr(text, bad)) {
        fail_msg("output has '%s':\n%s", bad, text);
    }
}

/* The line of text that contains word (static copy). */
static const char *
line_with(const char *text, const char *word)
{
    static char line[1024];
    const char *p = strstr(text, word);

    if (!p) {
        fail_msg("no line with '%s' in:\n%s", word, text);
    }
    while (p > text && p[-1] != '\n') {
        p--;
    }
    size_t n = strcspn(p, "\n");
    snprintf(line, sizeof line, "%.*s", (int) n, p);
    return line;
}

/* Column of word in the line containing key. */
static long
column_of(const char *text, const char *key, const char *word)
{
    const char *line = line_with(text, key);
    const char *p = strstr(line, word);

    if (!p) {
        fail_msg("'%s' not in line '%s'", word, line);
    }
    return p - line;
}

/* ---- Canned replies. ---- */

#define JOB_RUNNING \
    "{\"id\":12,\"origin\":\"port-remove\",\"state\":\"running\"," \
    "\"local\":[\"10.0.0.5\",\"10.0.0.6\",\"10.0.0.7\",\"10.0.0.8\"],\"local_count\":4," \
    "\"peers\":\"any\",\"peers_count\":0,\"zone\":5,\"ports\":[\"vm1\",\"vm2\"],\"n_ports\":2," \
    "\"attempts\":1,\"created\":1700000000,\"started\":1700000001.5,\"finished\":null," \
    "\"duration_s\":null,\"strategy\":\"dump\",\"scanned\":120000,\"matched\":3400," \
    "\"deleted\":3400,\"already_gone\":0,\"errors\":0,\"rate\":25000.4,\"error\":\"\"}"

#define JOB_QUEUED \
    "{\"id\":14,\"origin\":\"manual\",\"state\":\"queued\",\"local\":[\"10.1.0.0/24\"]," \
    "\"local_count\":1,\"peers\":\"any\",\"peers_count\":0,\"zone\":null,\"ports\":[]," \
    "\"n_ports\":0,\"attempts\":0,\"created\":1700000100,\"started\":null," \
    "\"finished\":null,\"duration_s\":null,\"strategy\":\"\",\"scanned\":0,\"matched\":0," \
    "\"deleted\":0,\"already_gone\":0,\"errors\":0,\"rate\":0,\"error\":\"\"}"

#define JOB_FAILED \
    "{\"id\":11,\"origin\":\"port-add\",\"state\":\"failed\",\"local\":[\"10.0.0.9\"]," \
    "\"local_count\":1,\"peers\":[\"192.168.1.1\"],\"peers_count\":20,\"zone\":7," \
    "\"ports\":[\"vm9\"],\"n_ports\":1,\"attempts\":5,\"created\":1699999000," \
    "\"started\":1699999010,\"finished\":1699999085.2,\"duration_s\":75.2," \
    "\"strategy\":\"dump\",\"scanned\":50,\"matched\":5,\"deleted\":5,\"already_gone\":0," \
    "\"errors\":3,\"rate\":0.07,\"error\":\"netlink: Operation not permitted\"}"

#define JOB_DONE \
    "{\"id\":10,\"origin\":\"port-remove\",\"state\":\"done\",\"local\":[\"fd00::5\"]," \
    "\"local_count\":1,\"peers\":\"any\",\"peers_count\":0,\"zone\":0,\"ports\":[\"vm3\"]," \
    "\"n_ports\":1,\"attempts\":1,\"created\":1699998000,\"started\":1699998000," \
    "\"finished\":1699998004.8,\"duration_s\":4.8,\"strategy\":\"filtered-flush\"," \
    "\"scanned\":0,\"matched\":812,\"deleted\":812,\"already_gone\":2,\"errors\":0," \
    "\"rate\":169.2,\"error\":null}"

static const char STATUS_FULL[] =
    "{\"version\":\"0.1.0\",\"uptime_s\":93784,\"pid\":4242,\"ovsdb_connected\":true,"
    "\"ovsdb\":{\"remote\":\"unix:/run/openvswitch/db.sock\",\"connected\":true,"
    "\"last_error\":\"\",\"reconnects\":2},\"ports\":12,\"queue_depth\":3,"
    "\"queue_prefixes\":40,\"batch_pending\":1,\"paused\":true,\"running\":" JOB_RUNNING ","
    "\"jobs_done\":10,\"jobs_failed\":1,\"jobs_cancelled\":0,\"entries_deleted\":123456,"
    "\"worker\":{\"pid\":4243,\"state\":\"running\",\"starts\":2,\"crashes\":1,\"hangs\":0,"
    "\"caps\":\"filtered-flush zone-flush\"},"
    "\"state\":{\"ok\":false,\"error\":\"rename: No space left on device\",\"writes\":7},"
    "\"metrics_http\":{\"listen\":\"127.0.0.1:0\",\"address\":\"127.0.0.1:40123\","
    "\"connections\":1,\"scrapes\":17,\"not_found\":0,\"bad_method\":0}}";

static void
test_status_full(void **state)
{
    char *t = render(CTL_CMD_STATUS, STATUS_FULL);

    expect_has(t, "version: 0.1.0\n");
    expect_has(t, "pid: 4242\n");
    expect_has(t, "uptime: 1d 02:03:04\n");
    expect_has(t, "ovsdb connected: yes\n");
    expect_has(t, "ovsdb remote: unix:/run/openvswitch/db.sock\n");
    expect_has(t, "ovsdb last error: none\n");
    expect_has(t, "ovsdb reconnects: 2\n");
    expect_has(t, "ports: 12\n");
    expect_has(t, "queue depth: 3 jobs, 40 prefixes\n");
    expect_has(t, "batch pending: 1\n");
    expect_has(t, "paused: yes\n");
    expect_has(t, "running: job 12 (port-remove, zone 5, local 10.0.0.5(+3), peers any, "
                  "ports vm1,vm2)\n");
    expect_has(t, "progress: scanned 120000, matched 3400, deleted 3400, 25000/s, dump\n");
    expect_has(t, "jobs: 10 done, 1 failed, 0 cancelled\n");
    expect_has(t, "entries deleted: 123456\n");
    expect_has(t, "worker: running, pid 4243, 2 starts, 1 crashes, 0 hangs\n");
    expect_has(t, "worker caps: filtered-flush zone-flush\n");
    expect_has(t, "state file: error: rename: No space left on device, 7 writes\n");
    expect_has(t, "metrics http: http://127.0.0.1:40123/metrics, 17 scrapes, 1 connections\n");

    /* Aligned: every colon in the same column. */
    long col = strchr(t, ':') - t;
    for (const char *line = t; *line; line = strchr(line, '\n') + 1) {
        assert_int_equal(strchr(line, ':') - line, col);
    }
    free(t);
}

static void
test_status_variants(void **state)
{
    /* Idle, not paused, OVSDB down with an error, state file fine. */
    char *t = render(CTL_CMD_STATUS,
                     "{\"version\":\"0.2\",\"uptime_s\":59.9,\"pid\":1,\"ovsdb_connected\":false,"
                     "\"ovsdb\":{\"remote\":\"tcp:127.0.0.1:6640\",\"connected\":false,"
                     "\"last_error\":\"Connection refused\",\"reconnects\":9},"
                     "\"paused\":false,\"running\":null,"
                     "\"state\":{\"ok\":true,\"error\":null,\"writes\":3}}");
    expect_has(t, "uptime: 00:00:59\n");
    expect_has(t, "ovsdb connected: no\n");
    expect_has(t, "ovsdb last error: Connection refused\n");
    expect_has(t, "paused: no\n");
    expect_has(t, "running: none\n");
    expect_lacks(t, "progress:");
    expect_has(t, "state file: ok, 3 writes\n");
    /* A daemon older than the endpoint says nothing of it. */
    expect_lacks(t, "metrics http");
    free(t);
    t = render(CTL_CMD_STATUS, "{\"metrics_http\":null}");
    expect_has(t, "metrics http: off\n");
    free(t);

    /* Only the top-level OVSDB flag. */
    t = render(CTL_CMD_STATUS, "{\"ovsdb_connected\":true}");
    expect_has(t, "ovsdb connected: yes\n");
    free(t);

    /* A running job that has not chosen a strategy yet. */
    t = render(CTL_CMD_STATUS, "{\"running\":{\"id\":3,\"origin\":\"manual\",\"state\":"
                               "\"running\",\"local\":\"any\",\"peers\":\"any\",\"zone\":9}}");
    expect_has(t, "running: job 3 (manual, zone 9, local any, peers any)\n");
    expect_has(t, "progress: scanned -, matched -, deleted -, strategy not chosen yet\n");
    free(t);
}

static void
test_status_missing_and_wrong(void **state)
{
    static const char *const replies[] = {
        "{}",
        "null",
        "[]",
        "\"status\"",
        "{\"version\":null,\"uptime_s\":null,\"pid\":null,\"ovsdb\":null,\"worker\":null,"
        "\"state\":null,\"running\":null,\"paused\":null}",
        "{\"version\":5,\"uptime_s\":\"long\",\"pid\":-1,\"ovsdb\":[1,2],\"worker\":\"up\","
        "\"state\":{\"ok\":\"yes\"},\"running\":17,\"paused\":\"maybe\",\"ports\":{\"a\":1},"
        "\"queue_depth\":1.5e300}",
        "{\"running\":{\"local\":[],\"peers\":[1,{\"x\":null},[true]],\"peers_count\":\"x\","
        "\"rate\":\"fast\",\"id\":{}}}",
    };

    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        char *t = render(CTL_CMD_STATUS, replies[i]);
        expect_has(t, "version: ");
        expect_has(t, "paused: ");
        expect_has(t, "state file: ");
        free(t);
    }

    char *t = render(CTL_CMD_STATUS, "{}");
    expect_has(t, "version: -\n");
    expect_has(t, "uptime: -\n");
    expect_has(t, "ovsdb connected: -\n");
    expect_has(t, "running: none\n");
    expect_has(t, "worker: -, pid -, - starts, - crashes, - hangs\n");
    expect_has(t, "state file: -\n");
    free(t);

    t = render(CTL_CMD_STATUS, replies[5]);
    expect_has(t, "version: 5\n");
    expect_has(t, "pid: -1\n");
    expect_has(t, "paused: maybe\n");
    expect_has(t, "ports: {...}\n");
    expect_has(t, "queue depth: 1.5e+300 jobs");
    free(t);
}

/* Strings from the daemon may carry what OVSDB or the kernel said: no escape
 * sequence may reach the terminal. */
static void
test_control_characters(void **state)
{
    char *t = render(CTL_CMD_STATUS,
                     "{\"version\":\"1\\u001b[2J\",\"ovsdb\":{\"last_error\":\"bad\\nline\\r\"},"
                     "\"state\":{\"ok\":false,\"error\":\"\\u0007bell\\u007f\"}}");
    assert_null(strchr(t, '\033'));
    assert_null(strchr(t, '\r'));
    assert_null(strchr(t, '\a'));
    assert_null(strchr(t, 0x7f));
    expect_has(t, "version: 1?[2J\n");
    expect_has(t, "ovsdb last error: bad?line?\n");
    expect_has(t, "state file: error: ?bell?, - writes\n");
    free(t);

    t = render(CTL_CMD_PORTS, "{\"ports\":[{\"name\":\"vm\\u001b]0;x\\u0007\","
                              "\"ips\":[\"10.0.0.1\\n\"]}]}");
    assert_null(strchr(t, '\033'));
    assert_null(strchr(t, '\a'));
    expect_has(t, "vm?]0;x?");
    free(t);
}

static void
test_jobs_table(void **state)
{
    char *t = render(CTL_CMD_JOBS, "{\"queued\":[" JOB_QUEUED "],\"running\":" JOB_RUNNING
                                   ",\"finished\":[" JOB_FAILED "," JOB_DONE "]}");
    const char *header = "ID  ORIGIN       STATE    ZONE  LOCAL         PEERS             "
                         "DELETED  DURATION  STRATEGY        ERROR\n";

    /* Header first, then queued, running, finished (newest first, as sent). */
    assert_memory_equal(t, header, strlen(header));
    const char *q = strstr(t, "\n14 "), *r = strstr(t, "\n12 ");
    const char *f1 = strstr(t, "\n11 "), *f2 = strstr(t, "\n10 ");
    assert_non_null(q);
    assert_non_null(r);
    assert_non_null(f1);
    assert_non_null(f2);
    assert_true(q < r && r < f1 && f1 < f2);

    assert_string_equal(line_with(t, "10.1.0.0/24"),
                        "14  manual       queued   -     10.1.0.0/24   any               "
                        "0        -         -               -");
    assert_string_equal(line_with(t, "10.0.0.5(+3)"),
                        "12  port-remove  running  5     10.0.0.5(+3)  any               "
                        "3400     -         dump            -");
    assert_string_equal(line_with(t, "netlink"),
                        "11  port-add     failed   7     10.0.0.9      192.168.1.1(+19)  "
                        "5        1m15s     dump            netlink: Operation not permitted");
    assert_string_equal(line_with(t, "fd00::5"),
                        "10  port-remove  done     0     fd00::5       any               "
                        "812      4.8s      filtered-flush  -");
    /* Columns line up with the header. */
    assert_int_equal(column_of(t, "netlink", "1m15s"), column_of(t, "DURATION", "DURATION"));
    free(t);
}

static void
test_jobs_empty_and_odd(void **state)
{
    char *t = render(CTL_CMD_JOBS, "{\"queued\":[],\"running\":null,\"finished\":[]}");
    assert_string_equal(t, "ID  ORIGIN  STATE  ZONE  LOCAL  PEERS  DELETED  DURATION  "
                           "STRATEGY  ERROR\n");
    free(t);

    /* Wrong shapes are skipped or shown as "-", never fatal. */
    t = render(CTL_CMD_JOBS, "{\"queued\":{},\"running\":[1],\"finished\":[1,null,\"x\","
                             "{},{\"id\":99,\"duration_s\":3725,\"local\":[],"
                             "\"local_count\":3}]}");
    expect_has(t, "ID ");
    assert_string_equal(line_with(t, "99"),
                        "99  -       -      -     ?      -      -        1h02m05s  -         -");
    free(t);

    t = render(CTL_CMD_JOBS, "null");
    expect_has(t, "ID ");
    free(t);
}

static void
test_ports_table(void **state)
{
    char *t = render(CTL_CMD_PORTS,
                     "{\"ports\":["
                     "{\"name\":\"vm1\",\"iface_id\":\"1f0e-aa\",\"bridge\":\"br-int\","
                     "\"ofport\":3,\"ips\":[\"10.0.0.5\",\"fd00::5\"],\"ip_source\":\"ovsdb\","
                     "\"zone\":5,\"zone_source\":\"ct_zone\",\"in_ovsdb\":true,"
                     "\"control_ips\":null,\"shared\":[\"fd00::5\"]},"
                     "{\"name\":\"tap-b\",\"iface_id\":\"\",\"ips\":[],"
                     "\"ip_source\":\"operator\","
                     "\"zone\":null,\"zone_source\":null,\"in_ovsdb\":false,"
                     "\"control_ips\":[\"10.0.0.9\"]}]}");

    assert_string_equal(line_with(t, "NAME"),
                        "NAME   IFACE-ID  IPS               SOURCE    ZONE  ZSOURCE  SHARED");
    assert_string_equal(line_with(t, "vm1"),
                        "vm1    1f0e-aa   10.0.0.5,fd00::5  ovsdb     5     ct_zone  fd00::5");
    assert_string_equal(line_with(t, "tap-b"),
                        "tap-b  -         -                 operator  -     -        -");
    free(t);

    /* Many IPs are all shown: the list is what was asked for. */
    char big[8192] = "{\"ports\":[{\"name\":\"big\",\"ips\":[";
    for (int i = 0; i < 200; i++) {
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"10.0.%d.%d\"",
                 i ? "," : "", i / 250, i % 250 + 1);
    }
    strcat(big, "]}]}");
    t = render(CTL_CMD_PORTS, big);
    expect_has(t, "10.0.0.1,10.0.0.2,");
    expect_has(t, "10.0.0.200 ");
    free(t);

    t = render(CTL_CMD_PORTS, "{\"ports\":[null,3,{}]}");
    expect_has(t, "NAME");
    expect_has(t, "\n-     -         -    -       -     -        -\n");
    free(t);
}

static void
test_one_line_replies(void **state)
{
    static const struct {
        enum ctl_cmd cmd;
        const char *json;
        const char *want;
    } cases[] = {
        { CTL_CMD_FLUSH, "{\"jobs\":[12],\"merged\":false}", "queued job 12\n" },
        { CTL_CMD_FLUSH,
          "{\"jobs\":[12],\"merged\":false,\"live_holders\":[{\"ip\":\"10.1.0.100\","
          "\"ports\":[\"b\",\"c\"]}]}",
          "queued job 12\nnote: 10.1.0.100 is held by live port(s) b,c; flushed as asked\n" },
        { CTL_CMD_FLUSH, "{\"jobs\":[3,4,5],\"merged\":false}", "queued jobs 3, 4, 5\n" },
        { CTL_CMD_FLUSH, "{\"jobs\":[7],\"merged\":true}", "merged into queued job 7\n" },
        { CTL_CMD_FLUSH, "{}", "queued (no job id in the reply)\n" },
        { CTL_CMD_CANCEL, "{\"id\":12,\"state\":\"cancelled\"}", "job 12: cancelled\n" },
        { CTL_CMD_CANCEL, "{}", "job -: -\n" },
        { CTL_CMD_PAUSE, "{\"paused\":true,\"requeued\":null}", "paused\n" },
        { CTL_CMD_PAUSE, "{\"paused\":true,\"requeued\":12}",
          "paused; running job 12 stopped and requeued\n" },
        { CTL_CMD_RESUME, "{\"paused\":false}", "resumed\n" },
        { CTL_CMD_SET_IPS, "{\"port\":\"vm1\",\"ips\":[\"10.0.0.1\",\"fd00::1\"]}",
          "port vm1: IPs 10.0.0.1, fd00::1\n" },
        { CTL_CMD_SET_IPS, "{\"port\":\"vm1\",\"ips\":[]}", "port vm1: operator IPs cleared\n" },
        { CTL_CMD_RELOAD, "{\"reloaded\":true,\"restart_needed\":\"\"}", "reloaded\n" },
        { CTL_CMD_RELOAD, "{\"reloaded\":true,\"restart_needed\":null}", "reloaded\n" },
        { CTL_CMD_RELOAD, "{\"reloaded\":true,\"restart_needed\":\"socket-path\"}",
          "reloaded\nrestart needed for: socket-path\n" },
        { CTL_CMD_METRICS, "{\"text\":\"# TYPE a counter\\na 1\\n\"}",
          "# TYPE a counter\na 1\n" },
        { CTL_CMD_METRICS, "{\"text\":\"a 1\"}", "a 1\n" },
        { CTL_CMD_METRICS, "{\"text\":\"\"}", "" },
        { CTL_CMD_METRICS, "{}", "" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = render(cases[i].cmd, cases[i].json);
        if (strcmp(t, cases[i].want)) {
            fail_msg("case %zu (%s): got '%s', want '%s'", i, cases[i].json, t,
                     cases[i].want);
        }
        free(t);
    }
}

/* Metrics text is the one thing printed byte for byte, escapes included. */
static void
test_metrics_verbatim(void **state)
{
    static const char text[] =
        "# HELP ctflushd_jobs_total Jobs finished.\n"
        "# TYPE ctflushd_jobs_total counter\n"
        "ctflushd_jobs_total{state=\"done\"} 10\n"
        "ctflushd_jobs_total{state=\"failed\"} 1\n";
    struct json_out j;

    json_init(&j);
    json_object_begin(&j);
    json_key(&j, "text");
    json_str(&j, text);
    json_object_end(&j);
    char *t = render(CTL_CMD_METRICS, json_text(&j));
    assert_string_equal(t, text);
    free(t);
    json_destroy(&j);
}

/* Every command survives a null, empty or absurd result. */
static void
test_every_command_odd_results(void **state)
{
    static const char *const odd[] = { "null", "{}", "[]", "0", "\"x\"", "{\"a\":[[[[]]]]}" };

    for (int cmd = 0; cmd <= CTL_CMD_N; cmd++) {
        for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
            free(render((enum ctl_cmd) cmd, odd[i]));
        }
    }
}

/* --json re-serialises the result: it parses back to the same text. */
static void
test_json_output(void **state)
{
    static const char *const values[] = {
        STATUS_FULL,
        "{\"queued\":[" JOB_QUEUED "],\"running\":null,\"finished\":[" JOB_FAILED "]}",
        "{\"text\":\"a 1\\nb \\\"2\\\"\\n\"}",
        "{\"x\":-1,\"y\":0.1,\"z\":1e-7,\"big\":9223372036854775807,\"s\":\"\\u00e9\\t\"}",
        "null",
    };

    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        json_t *v = parse_or_fail(values[i]), *back = NULL;
        struct capture c;
        char err[128];

        cap_open(&c);
        assert_int_equal(ctlout_json(c.f, v), 0);
        char *t = cap_close(&c);

        /* One line, newline-terminated, nothing else. */
        assert_true(strlen(t) > 1);
        assert_int_equal(t[strlen(t) - 1], '\n');
        assert_ptr_equal(strchr(t, '\n'), t + strlen(t) - 1);
        if (json_parse(t, strlen(t), &back, err, sizeof err)) {
            fail_msg("--json output does not parse (%s): %s", err, t);
        }

        /* Same tree: serialise both and compare. */
        struct json_out a, b;
        json_init(&a);
        json_init(&b);
        json_write_value(&a, v);
        json_write_value(&b, back);
        assert_string_equal(json_text(&a), json_text(&b));
        json_destroy(&a);
        json_destroy(&b);
        assert_true(json_equal(v, back));
        json_decref(back);
        json_decref(v);
        free(t);
    }

    /* A missing result prints as null. */
    struct capture c;
    cap_open(&c);
    assert_int_equal(ctlout_json(c.f, NULL), 0);
    char *t = cap_close(&c);
    assert_string_equal(t, "null\n");
    free(t);
}

static void
test_error_output(void **state)
{
    json_t *v = parse_or_fail("{\"code\":\"not-found\",\"message\":\"no job 13\"}");
    struct capture c;

    cap_open(&c);
    ctlout_error(c.f, v);
    char *t = cap_close(&c);
    assert_string_equal(t, "ctflushctl: no job 13 (not-found)\n");
    free(t);

    cap_open(&c);
    assert_int_equal(ctlout_json_error(c.f, v), 0);
    t = cap_close(&c);
    assert_string_equal(t, "{\"error\":{\"code\":\"not-found\",\"message\":\"no job 13\"}}\n");
    free(t);
    json_decref(v);

    cap_open(&c);
    ctlout_error(c.f, NULL);
    t = cap_close(&c);
    assert_string_equal(t, "ctflushctl: request failed (no error code)\n");
    free(t);

    cap_open(&c);
    assert_int_equal(ctlout_json_error(c.f, NULL), 0);
    t = cap_close(&c);
    assert_string_equal(t, "{\"error\":null}\n");
    free(t);

    v = parse_or_fail("{\"code\":7,\"message\":\"a\\u001bb\"}");
    cap_open(&c);
    ctlout_error(c.f, v);
    t = cap_close(&c);
    assert_string_equal(t, "ctflushctl: a?b (no error code)\n");
    free(t);
    json_decref(v);
}

static void
test_progress_line(void **state)
{
    json_t *v = parse_or_fail(JOB_RUNNING);
    struct capture c;

    cap_open(&c);
    ctlout_progress(c.f, v);
    char *t = cap_close(&c);
    assert_string_equal(t, "\r[job 12] dump: scanned 120000 matched 3400 deleted 3400 "
                           "(25000/s)\033[K");
    free(t);
    json_decref(v);

    v = parse_or_fail(JOB_QUEUED);
    cap_open(&c);
    ctlout_progress(c.f, v);
    t = cap_close(&c);
    assert_string_equal(t, "\r[job 14] queued\033[K");
    free(t);
    json_decref(v);

    cap_open(&c);
    ctlout_progress(c.f, NULL);
    t = cap_close(&c);
    assert_string_equal(t, "\r[job -] running: scanned - matched - deleted -\033[K");
    free(t);
}

static bool
wait_check(const char *end_json, char **out, char **err)
{
    json_t *v = parse_or_fail(end_json);
    struct capture o, e;

    cap_open(&o);
    cap_open(&e);
    ctlout_wait_end(o.f, v);
    bool ok = ctlout_wait_check(e.f, v);
    *out = cap_close(&o);
    *err = cap_close(&e);
    json_decref(v);
    return ok;
}

static void
test_wait_end(void **state)
{
    char *out, *err;

    assert_true(wait_check("{\"event\":\"end\",\"ok\":true,\"jobs\":[" JOB_DONE "]}",
                           &out, &err));
    assert_string_equal(out, "job 10 done: filtered-flush, scanned 0, matched 812, "
                             "deleted 812, already gone 2, errors 0, 4.8s\n");
    assert_string_equal(err, "");
    free(out);
    free(err);

    /* A failed job: its error on stderr, and not ok even if "ok" says so. */
    assert_false(wait_check("{\"event\":\"end\",\"ok\":true,\"jobs\":[" JOB_DONE ","
                            JOB_FAILED "]}", &out, &err));
    expect_has(out, "job 10 done: ");
    expect_has(out, "job 11 failed: dump, scanned 50, matched 5, deleted 5, already gone 0, "
                    "errors 3, 1m15s\n");
    assert_string_equal(err, "ctflushctl: job 11 failed: netlink: Operation not permitted\n");
    free(out);
    free(err);

    assert_false(wait_check("{\"event\":\"end\",\"ok\":false,\"jobs\":[{\"id\":4,"
                            "\"state\":\"cancelled\",\"error\":\"\"}]}", &out, &err));
    assert_string_equal(err, "ctflushctl: job 4 cancelled\n");
    free(out);
    free(err);

    /* "ok": false with nothing to blame still fails, and says so. */
    assert_false(wait_check("{\"event\":\"end\",\"ok\":false,\"jobs\":[]}", &out, &err));
    assert_string_equal(out, "");
    assert_string_equal(err, "ctflushctl: the flush did not complete\n");
    free(out);
    free(err);

    assert_false(wait_check("{\"event\":\"end\"}", &out, &err));
    free(out);
    free(err);
    assert_false(wait_check("{\"event\":\"end\",\"ok\":true,\"jobs\":[1,null]}", &out, &err));
    free(out);
    free(err);
}

/* ---- End to end: the binary against a fake daemon. ---- */

/* How the fake daemon ends the conversation after its replies. */
enum fake_end {
    FAKE_CLOSE,                 /* Close at once. */
    FAKE_LINGER,                /* Keep the connection until the client goes. */
};

struct fake {
    char dir[64];               /* Temp directory for the socket and files. */
    char sock[96];              /* Fits sun_path. */
    char reqfile[128];          /* Where the child writes the request bytes. */
    pid_t pid;                  /* The fake daemon, or 0 if not started. */
};

/* The binary under test: $CTFLUSHCTL, or the build tree's, found from this
 * test's own path (BUILD/tests/unit/test_ctlout -> BUILD/ctflushctl). */
static const char *
ctl_binary(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("CTFLUSHCTL");

    if (env && *env) {
        return env;
    }
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) {
        return NULL;
    }
    path[n] = '\0';
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(path, '/');
        if (!slash) {
            return NULL;
        }
        *slash = '\0';
    }
    strncat(path, "/ctflushctl", sizeof path - strlen(path) - 1);
    return access(path, X_OK) ? NULL : path;
}

static void
fake_init(struct fake *fk)
{
    memset(fk, 0, sizeof *fk);
    snprintf(fk->dir, sizeof fk->dir, "/tmp/test_ctlout.XXXXXX");
    assert_non_null(mkdtemp(fk->dir));
    snprintf(fk->sock, sizeof fk->sock, "%s/ctl.sock", fk->dir);
    snprintf(fk->reqfile, sizeof fk->reqfile, "%s/request", fk->dir);
}

static bool
write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return false;
        }
        p += k;
        n -= (size_t) k;
    }
    return true;
}

/* The fake daemon's child: accepts one client, saves its request line
 * (newline included, so a missing terminator shows), answers each reply
 * line, then ends as told. A reply "@sleep MS" pauses instead, and
 * "@raw TEXT" sends TEXT without a newline. Never returns; exit status 0 if
 * all went as planned. No cmocka calls here: they would unwind into the
 * parent's copy of the test runner. */
static void __attribute__((noreturn))
fake_serve(struct fake *fk, int lfd, const char *const replies[], enum fake_end end)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int fd, rc = 0;

    alarm(30);                  /* Whatever happens, do not outlive the test. */
    fd = accept(lfd, NULL, NULL);
    close(lfd);
    if (fd < 0 || !buf) {
        free(buf);
        _exit(10);
    }
    while (!len || buf[len - 1] != '\n') {
        if (len == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                rc = 11;
                break;
            }
            buf = b;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0) {
            break;
        }
        len += (size_t) n;
    }
    int rf = open(fk->reqfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (rf < 0 || !write_all(rf, buf, len)) {
        rc = 12;
    }
    if (rf >= 0) {
        close(rf);
    }
    for (size_t i = 0; replies && replies[i]; i++) {
        const char *line = replies[i];
        bool raw = !strncmp(line, "@raw ", 5);

        if (!strncmp(line, "@sleep ", 7)) {
            long ms = atol(line + 7);
            struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        line += raw ? 5 : 0;
        if (!write_all(fd, line, strlen(line)) || (!raw && !write_all(fd, "\n", 1))) {
            rc = rc ? rc : 13;
            break;
        }
    }
    if (end == FAKE_LINGER) {
        while (read(fd, buf, cap) > 0) {
            continue;
        }
    }
    close(fd);
    free(buf);
    _exit(rc);
}

/* Starts the fake daemon. The socket listens before fork so that the client
 * cannot race it. */
static void
fake_start(struct fake *fk, const char *const replies[], enum fake_end end)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(lfd >= 0);
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fk->sock);
    assert_int_equal(bind(lfd, (struct sockaddr *) &sun, sizeof sun), 0);
    assert_int_equal(listen(lfd, 4), 0);
    fflush(NULL);
    fk->pid = fork();
    assert_true(fk->pid >= 0);
    if (!fk->pid) {
        fake_serve(fk, lfd, replies, end);
    }
    close(lfd);
}

/* Waits for pid at most 30 s; returns its wait status. */
static int
wait_child(pid_t pid)
{
    int status;

    for (int i = 0; i < 3000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        assert_true(r == 0 || (r < 0 && errno == EINTR));
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("child %d did not finish in 30 s", (int) pid);
    return -1;
}

/* Reaps the fake daemon, checks it was happy, and returns the request it
 * received (malloc'd; "" if none). */
static char *
fake_finish(struct fake *fk)
{
    char *req = NULL;

    if (fk->pid) {
        int status = wait_child(fk->pid);
        fk->pid = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fail_msg("fake daemon failed: status %#x", status);
        }
    }
    FILE *f = fopen(fk->reqfile, "re");
    if (f) {
        size_t cap = 0;
        ssize_t n = getdelim(&req, &cap, '\0', f);
        if (n < 0) {
            free(req);
            req = NULL;
        }
        fclose(f);
    }
    return req ? req : strdup("");
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *text = NULL;
    size_t cap = 0;

    assert_non_null(f);
    if (getdelim(&text, &cap, '\0', f) < 0) {
        free(text);
        text = strdup("");
    }
    fclose(f);
    return text;
}

static void
fake_cleanup(struct fake *fk)
{
    char path[192];

    if (fk->pid) {
        kill(fk->pid, SIGKILL);
        waitpid(fk->pid, NULL, 0);
    }
    static const char *const files[] = { "ctl.sock", "request", "out", "err", "list" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fk->dir, files[i]);
        unlink(path);
    }
    rmdir(fk->dir);
}

struct run {
    int code;                   /* Exit code. */
    char *out;                  /* stdout, malloc'd. */
    char *err;                  /* stderr, or what the terminal showed. */
};

/* Runs ctflushctl with args (NULL-terminated) and CTFLUSHD_SOCKET set to env
 * (unset if NULL). stderr goes to a pty when tty is set, else to a file. */
static void
run_ctl(struct run *r, const struct fake *fk, const char *env, bool tty,
        const char *const args[])
{
    const char *bin = ctl_binary();
    char out_path[192], err_path[192];
    char *argv[40];
    int argc = 0, master = -1;

    if (!bin) {
        skip();
    }
    snprintf(out_path, sizeof out_path, "%s/out", fk->dir);
    snprintf(err_path, sizeof err_path, "%s/err", fk->dir);
    argv[argc++] = (char *) bin;
    for (size_t i = 0; args[i]; i++) {
        assert_true(argc < 39);
        argv[argc++] = (char *) args[i];
    }
    argv[argc] = NULL;

    if (tty) {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        assert_true(master >= 0);
        assert_int_equal(grantpt(master), 0);
        assert_int_equal(unlockpt(master), 0);
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = tty ? open(ptsname(master), O_RDWR | O_NOCTTY)
                      : open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
            _exit(120);
        }
        if (env) {
            setenv("CTFLUSHD_SOCKET", env, 1);
        } else {
            unsetenv("CTFLUSHD_SOCKET");
        }
        execv(bin, argv);
        _exit(121);
    }
    int status = wait_child(pid);
    assert_true(WIFEXITED(status));
    r->code = WEXITSTATUS(status);
    if (r->code >= 120) {
        fail_msg("could not run %s (%d)", bin, r->code);
    }
    r->out = read_file(out_path);
    if (tty) {
        /* The slave is closed (the child is gone): read what it wrote, up
         * to EIO. The line discipline turns "\n" into "\r\n". */
        size_t cap = 4096, len = 0;
        r->err = malloc(cap);
        assert_non_null(r->err);
        int fl = fcntl(master, F_GETFL);
        fcntl(master, F_SETFL, fl | O_NONBLOCK);
        for (;;) {
            ssize_t n = read(master, r->err + len, cap - len - 1);
            if (n <= 0) {
                break;
            }
            len += (size_t) n;
            if (len + 1 == cap) {
                r->err = realloc(r->err, cap *= 2);
                assert_non_null(r->err);
            }
        }
        r->err[len] = '\0';
        close(master);
    } else {
        r->err = read_file(err_path);
    }
}

static void
run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* One exchange: start the fake daemon with replies, run the client with
 * args against it (through --socket), check the request bytes and the exit
 * code. */
static void
exchange(struct run *r, const char *const args[], const char *want_request,
         const char *const replies[], enum fake_end end, int want_code)
{
    struct fake fk;
    const char *full[40];
    size_t n = 0;

    if (!ctl_binary()) {
        skip();
    }
    fake_init(&fk);
    fake_start(&fk, replies, end);
    full[n++] = "--socket";
    full[n++] = fk.sock;
    for (size_t i = 0; args[i]; i++) {
        full[n++] = args[i];
    }
    full[n] = NULL;
    run_ctl(r, &fk, NULL, false, full);
    char *req = fake_finish(&fk);
    fake_cleanup(&fk);
    if (want_request && strcmp(req, want_request)) {
        fail_msg("request bytes: got '%s', want '%s'", req, want_request);
    }
    free(req);
    if (r->code != want_code) {
        fail_msg("exit %d, want %d; stdout '%s' stderr '%s'", r->code, want_code, r->out,
                 r->err);
    }
}

/* stdout must be exactly one JSON object on one line. Returns it parsed. */
static json_t *
expect_one_json_object(const char *out)
{
    json_t *v = NULL;
    char err[128];
    size_t len = strlen(out);

    if (!len || out[len - 1] != '\n' || strchr(out, '\n') != out + len - 1) {
        fail_msg("not one line: '%s'", out);
    }
    if (json_parse(out, len, &v, err, sizeof err)) {
        fail_msg("--json output does not parse (%s): %s", err, out);
    }
    assert_true(json_is_object(v));
    return v;
}

static void
test_e2e_status(void **state)
{
    static const char *const args[] = { "status", NULL };
    static const char *const replies[] = {
        "{\"ok\":true,\"result\":{\"version\":\"0.1.0\",\"paused\":false,\"running\":null}}",
        NULL,
    };
    struct run r;

    exchange(&r, args, "{\"cmd\":\"status\"}\n", replies, FAKE_CLOSE, 0);
    expect_has(r.out, "version: 0.1.0\n");
    expect_has(r.out, "paused: no\n");
    assert_string_equal(r.err, "");
    run_free(&r);
}

static void
test_e2e_status_json(void **state)
{
    static const char *const args[] = { "--json", "status", NULL };
    static const char *const replies[] = {
        "{\"ok\":true,\"result\":" "{\"version\":\"0.1.0\",\"uptime_s\":5,\"paused\":true,"
        "\"running\":" JOB_RUNNING ",\"rate\":0.5}}",
        NULL,
    };
    struct run r;

    exchange(&r, args, "{\"cmd\":\"status\"}\n", replies, FAKE_CLOSE, 0);
    json_t *v = expect_one_json_object(r.out);
    /* The result itself, not the envelope. */
    assert_null(json_object_get(v, "ok"));
    assert_string_equal(json_string_value(json_object_get(v, "version")), "0.1.0");
    assert_true(json_is_true(json_object_get(v, "paused")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "running"), "id")),
                     12);
    json_decref(v);
    run_free(&r);
}

static void
test_e2e_requests(void **state)
{
    static const char *const ok[] = { "{\"ok\":true,\"result\":{}}", NULL };
    static const struct {
        const char *args[10];
        const char *request;
    } cases[] = {
        { { "jobs", "--limit", "5" }, "{\"cmd\":\"jobs\",\"limit\":5}\n" },
        { { "ports" }, "{\"cmd\":\"ports\"}\n" },
        { { "flush", "--local", "10.0.0.5,fd00::/64", "--peers", "192.168.1.1", "--zone", "7",
            "--mark", "0x10/0xf0" },
          "{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\",\"fd00::/64\"],\"peers\":"
          "[\"192.168.1.1\"],\"zone\":7,\"mark\":16,\"mark_mask\":240,\"wait\":false}\n" },
        { { "cancel", "42" }, "{\"cmd\":\"cancel\",\"id\":42}\n" },
        { { "pause", "--now" }, "{\"cmd\":\"pause\",\"now\":true}\n" },
        { { "resume" }, "{\"cmd\":\"resume\"}\n" },
        { { "set-ips", "vm1", "10.0.0.1" },
          "{\"cmd\":\"set-ips\",\"port\":\"vm1\",\"ips\":[\"10.0.0.1\"]}\n" },
        { { "set-ips", "vm1", "" }, "{\"cmd\":\"set-ips\",\"port\":\"vm1\",\"ips\":[]}\n" },
        { { "metrics" }, "{\"cmd\":\"metrics\"}\n" },
        { { "reload" }, "{\"cmd\":\"reload\"}\n" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r;
        exchange(&r, cases[i].args, cases[i].request, ok, FAKE_CLOSE, 0);
        assert_string_equal(r.err, "");
        run_free(&r);
    }
}

/* @FILE is read by the client: the daemon gets addresses. */
static void
test_e2e_file_list(void **state)
{
    static const char *const replies[] = {
        "{\"ok\":true,\"result\":{\"jobs\":[7],\"merged\":false}}", NULL,
    };
    struct fake fk;
    struct run r;
    char list[192], at[200];

    if (!ctl_binary()) {
        skip();
    }
    fake_init(&fk);
    snprintf(list, sizeof list, "%s/list", fk.dir);
    FILE *f = fopen(list, "we");
    assert_non_null(f);
    fputs("# host 7\n10.0.0.1\n10.0.0.0/24\n", f);
    fclose(f);
    snprintf(at, sizeof at, "@%s", list);
    fake_start(&fk, replies, FAKE_CLOSE);

    /* Through the environment this time. */
    const char *const args[] = { "flush", "--local", at, NULL };
    run_ctl(&r, &fk, fk.sock, false, args);
    char *req = fake_finish(&fk);
    fake_cleanup(&fk);
    assert_string_equal(req, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\",\"10.0.0.0/24\"],"
                             "\"peers\":\"any\",\"wait\":false}\n");
    free(req);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "queued job 7\n");
    run_free(&r);
}

static void
test_e2e_error_reply(void **state)
{
    static const char *const replies[] = {
        "{\"ok\":false,\"error\":{\"code\":\"queue-full\",\"message\":\"the queue is full\"}}",
        NULL,
    };
    struct run r;

    static const char *const args[] = { "flush", "--local", "10.0.0.1", NULL };
    exchange(&r, args, NULL, replies, FAKE_CLOSE, 1);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "ctflushctl: the queue is full (queue-full)\n");
    run_free(&r);

    static const char *const jargs[] = { "--json", "cancel", "9", NULL };
    exchange(&r, jargs, "{\"cmd\":\"cancel\",\"id\":9}\n", replies, FAKE_CLOSE, 1);
    json_t *v = expect_one_json_object(r.out);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"),
                                                           "code")), "queue-full");
    json_decref(v);
    expect_has(r.err, "ctflushctl: the queue is full (queue-full)\n");
    run_free(&r);
}

static void
test_e2e_unreachable(void **state)
{
    struct fake fk;
    struct run r;

    if (!ctl_binary()) {
        skip();
    }
    fake_init(&fk);

    /* No socket at all. */
    const char *const args[] = { "--socket", fk.sock, "status", NULL };
    run_ctl(&r, &fk, NULL, false, args);
    assert_int_equal(r.code, 3);
    assert_string_equal(r.out, "");
    expect_has(r.err, "ctflushctl: ");
    expect_has(r.err, fk.sock);
    expect_has(r.err, strerror(ENOENT));
    run_free(&r);

    /* The environment names it; same result. */
    const char *const args2[] = { "status", NULL };
    run_ctl(&r, &fk, fk.sock, false, args2);
    assert_int_equal(r.code, 3);
    expect_has(r.err, fk.sock);
    run_free(&r);

    /* A stale socket file that nobody listens on. */
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fk.sock);
    assert_int_equal(bind(s, (struct sockaddr *) &sun, sizeof sun), 0);
    close(s);
    run_ctl(&r, &fk, NULL, false, args);
    assert_int_equal(r.code, 3);
    expect_has(r.err, strerror(ECONNREFUSED));
    run_free(&r);

    /* --socket beats a good environment value: the bad path is tried. */
    unlink(fk.sock);
    fake_start(&fk, NULL, FAKE_CLOSE);
    char bogus[192];
    snprintf(bogus, sizeof bogus, "%s/none.sock", fk.dir);
    const char *const args3[] = { "--socket", bogus, "status", NULL };
    run_ctl(&r, &fk, fk.sock, false, args3);
    assert_int_equal(r.code, 3);
    expect_has(r.err, bogus);
    run_free(&r);
    kill(fk.pid, SIGKILL);
    waitpid(fk.pid, NULL, 0);
    fk.pid = 0;
    fake_cleanup(&fk);
}

static void
test_e2e_timeout_and_drops(void **state)
{
    static const char *const args[] = { "--timeout", "0.3", "status", NULL };
    struct run r;

    /* Nothing comes back: the timeout ends it. */
    exchange(&r, args, "{\"cmd\":\"status\"}\n", NULL, FAKE_LINGER, 3);
    expect_has(r.err, "no reply within 0.3 s");
    run_free(&r);

    /* The daemon hangs up without a word. */
    exchange(&r, args, "{\"cmd\":\"status\"}\n", NULL, FAKE_CLOSE, 3);
    expect_has(r.err, "connection closed by ctflushd before the reply");
    run_free(&r);

    /* A reply cut short. */
    static const char *const cut[] = { "@raw {\"ok\":true,\"res", NULL };
    exchange(&r, args, NULL, cut, FAKE_CLOSE, 3);
    expect_has(r.err, "connection closed by ctflushd before the reply");
    run_free(&r);

    /* A slow reply within the timeout is fine. */
    static const char *const slow[] = { "@sleep 100", "{\"ok\":true,\"result\":{}}", NULL };
    exchange(&r, args, NULL, slow, FAKE_CLOSE, 0);
    run_free(&r);

    /* Not the protocol. */
    static const char *const junk[] = { "hello", NULL };
    exchange(&r, args, NULL, junk, FAKE_CLOSE, 3);
    expect_has(r.err, "not a JSON object");
    run_free(&r);
    static const char *const noenv[] = { "{\"result\":{}}", NULL };
    exchange(&r, args, NULL, noenv, FAKE_CLOSE, 3);
    expect_has(r.err, "no \"ok\" member");
    run_free(&r);
}

/* A reply line far bigger than any buffer: read whole, printed whole. */
static void
test_e2e_long_reply(void **state)
{
    const size_t n_ports = 40000;
    size_t cap = n_ports * 128 + 256, len = 0;
    char *reply = malloc(cap);

    assert_non_null(reply);
    len += (size_t) snprintf(reply + len, cap - len, "{\"ok\":true,\"result\":{\"ports\":[");
    for (size_t i = 0; i < n_ports; i++) {
        len += (size_t) snprintf(reply + len, cap - len,
                                 "%s{\"name\":\"vm%zu\",\"iface_id\":\"id-%zu\",\"ips\":"
                                 "[\"10.%zu.%zu.1\"],\"ip_source\":\"ovsdb\",\"zone\":%zu}",
                                 i ? "," : "", i, i, i / 256 % 256, i % 256, i % 65536);
    }
    len += (size_t) snprintf(reply + len, cap - len, "]}}");
    assert_true(len > 2 * 1024 * 1024);

    const char *const replies[] = { reply, NULL };
    static const char *const jargs[] = { "--json", "ports", NULL };
    struct run r;
    exchange(&r, jargs, "{\"cmd\":\"ports\"}\n", replies, FAKE_CLOSE, 0);
    json_t *v = expect_one_json_object(r.out);
    const json_t *ports = json_object_get(v, "ports");
    assert_true(json_is_array(ports));
    assert_int_equal(json_array_size(ports), n_ports);
    json_decref(v);
    run_free(&r);

    static const char *const args[] = { "ports", NULL };
    exchange(&r, args, "{\"cmd\":\"ports\"}\n", replies, FAKE_CLOSE, 0);
    expect_has(r.out, "\nvm39999 ");
    run_free(&r);
    free(reply);
}

#define FLUSH_OK "{\"ok\":true,\"result\":{\"jobs\":[12],\"merged\":false}}"
#define PROGRESS "{\"event\":\"progress\",\"job\":" JOB_RUNNING "}"
#define END_DONE "{\"event\":\"end\",\"ok\":true,\"jobs\":[" JOB_DONE "]}"
#define END_FAILED "{\"event\":\"end\",\"ok\":false,\"jobs\":[" JOB_FAILED "]}"
#define WAIT_REQUEST \
    "{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\"],\"peers\":\"any\",\"wait\":true}\n"

static void
test_e2e_wait(void **state)
{
    static const char *const args[] = { "flush", "--local", "10.0.0.5", "--wait", NULL };
    static const char *const jargs[] = { "--json", "flush", "--local", "10.0.0.5", "--wait",
                                         NULL };
    struct run r;

    /* Success; without a terminal nothing is drawn on stderr. */
    static const char *const done[] = {
        FLUSH_OK, PROGRESS, "{\"event\":\"something-new\"}", PROGRESS, END_DONE, NULL,
    };
    exchange(&r, args, WAIT_REQUEST, done, FAKE_CLOSE, 0);
    assert_string_equal(r.out, "job 10 done: filtered-flush, scanned 0, matched 812, "
                               "deleted 812, already gone 2, errors 0, 4.8s\n");
    assert_string_equal(r.err, "");
    run_free(&r);

    /* --json: exactly the end event. */
    exchange(&r, jargs, WAIT_REQUEST, done, FAKE_CLOSE, 0);
    json_t *v = expect_one_json_object(r.out);
    assert_string_equal(json_string_value(json_object_get(v, "event")), "end");
    json_decref(v);
    run_free(&r);

    /* A failed job: exit 1 and its error. */
    static const char *const failed[] = { FLUSH_OK, PROGRESS, END_FAILED, NULL };
    exchange(&r, args, WAIT_REQUEST, failed, FAKE_CLOSE, 1);
    expect_has(r.out, "job 11 failed: ");
    assert_string_equal(r.err, "ctflushctl: job 11 failed: netlink: Operation not permitted\n");
    run_free(&r);
    exchange(&r, jargs, WAIT_REQUEST, failed, FAKE_CLOSE, 1);
    v = expect_one_json_object(r.out);
    json_decref(v);
    expect_has(r.err, "netlink: Operation not permitted");
    run_free(&r);

    /* The daemon goes away mid-wait: 3, even though no timeout applies. */
    static const char *const dropped[] = { FLUSH_OK, PROGRESS, NULL };
    exchange(&r, args, WAIT_REQUEST, dropped, FAKE_CLOSE, 3);
    expect_has(r.err, "lost track of the job(s)");
    assert_string_equal(r.out, "");
    run_free(&r);

    /* Refused at once: no waiting. */
    static const char *const refused[] = {
        "{\"ok\":false,\"error\":{\"code\":\"bad-request\",\"message\":\"no\"}}", NULL,
    };
    exchange(&r, args, WAIT_REQUEST, refused, FAKE_CLOSE, 1);
    assert_string_equal(r.err, "ctflushctl: no (bad-request)\n");
    run_free(&r);

    /* Silence while the job waits in the queue, longer than --timeout, is
     * not a timeout: only the reply itself has a deadline. */
    static const char *const targs[] = { "--timeout", "0.2", "flush", "--local", "10.0.0.5",
                                         "--wait", NULL };
    static const char *const quiet[] = {
        FLUSH_OK, "@sleep 700", PROGRESS, "@sleep 300", END_DONE, NULL,
    };
    exchange(&r, targs, WAIT_REQUEST, quiet, FAKE_CLOSE, 0);
    expect_has(r.out, "job 10 done: ");
    run_free(&r);

    /* An event line that is not JSON: we no longer know what happens. */
    static const char *const junk[] = { FLUSH_OK, "progress 50%", NULL };
    exchange(&r, args, WAIT_REQUEST, junk, FAKE_LINGER, 3);
    expect_has(r.err, "not a JSON object");
    run_free(&r);
}

/* On a terminal the progress line is drawn and ended with a newline. */
static void
test_e2e_wait_tty(void **state)
{
    static const char *const done[] = { FLUSH_OK, PROGRESS, END_DONE, NULL };
    struct fake fk;
    struct run r;

    if (!ctl_binary()) {
        skip();
    }
    fake_init(&fk);
    fake_start(&fk, done, FAKE_CLOSE);
    const char *const args[] = { "--socket", fk.sock, "flush", "--local", "10.0.0.5",
                                 "--wait", NULL };
    run_ctl(&r, &fk, NULL, true, args);
    char *req = fake_finish(&fk);
    fake_cleanup(&fk);
    assert_string_equal(req, WAIT_REQUEST);
    free(req);
    assert_int_equal(r.code, 0);
    expect_has(r.err, "\r[job 12] waiting\033[K");
    expect_has(r.err, "\r[job 12] dump: scanned 120000 matched 3400 deleted 3400 (25000/s)"
                      "\033[K\r\n");
    expect_has(r.out, "job 10 done: ");
    run_free(&r);
}

static void
test_e2e_usage(void **state)
{
    struct fake fk;
    struct run r;

    if (!ctl_binary()) {
        skip();
    }
    fake_init(&fk);
    /* No daemon is started: a usage error must not need one. */
    static const char *const bad[][6] = {
        { "flush", "--zone", "65536", "--local", "10.0.0.1", NULL },
        { "frobnicate", NULL },
        { NULL },
        { "cancel", "abc", NULL },
        { "--timeout", "never", "status", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_ctl(&r, &fk, fk.sock, false, bad[i]);
        assert_int_equal(r.code, 2);
        assert_string_equal(r.out, "");
        assert_memory_equal(r.err, "ctflushctl: ", 12);
        expect_has(r.err, "\nusage: ctflushctl ");
        run_free(&r);
    }

    static const char *const help[] = { "help", NULL };
    run_ctl(&r, &fk, fk.sock, false, help);
    assert_int_equal(r.code, 0);
    expect_has(r.out, "set-ips PORT LIST");
    assert_string_equal(r.err, "");
    run_free(&r);

    static const char *const version[] = { "--version", NULL };
    run_ctl(&r, &fk, fk.sock, false, version);
    assert_int_equal(r.code, 0);
    expect_has(r.out, "ctflushctl ");
    run_free(&r);
    fake_cleanup(&fk);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_full),
        cmocka_unit_test(test_status_variants),
        cmocka_unit_test(test_status_missing_and_wrong),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_jobs_table),
        cmocka_unit_test(test_jobs_empty_and_odd),
        cmocka_unit_test(test_ports_table),
        cmocka_unit_test(test_one_line_replies),
        cmocka_unit_test(test_metrics_verbatim),
        cmocka_unit_test(test_every_command_odd_results),
        cmocka_unit_test(test_json_output),
        cmocka_unit_test(test_error_output),
        cmocka_unit_test(test_progress_line),
        cmocka_unit_test(test_wait_end),
        cmocka_unit_test(test_e2e_status),
        cmocka_unit_test(test_e2e_status_json),
        cmocka_unit_test(test_e2e_requests),
        cmocka_unit_test(test_e2e_file_list),
        cmocka_unit_test(test_e2e_error_reply),
        cmocka_unit_test(test_e2e_unreachable),
        cmocka_unit_test(test_e2e_timeout_and_drops),
        cmocka_unit_test(test_e2e_long_reply),
        cmocka_unit_test(test_e2e_wait),
        cmocka_unit_test(test_e2e_wait_tty),
        cmocka_unit_test(test_e2e_usage),
    };

    /* A client that dies on a closed socket must not take the test along. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
