/*
 * test_json.c: unit tests for json.c: the JSON writer, json_parse (jansson
 * within ctflushd's bounds) and the typed lookups (json_rd_*).
 *
 * Every writer output is compared with the exact expected text and also run
 * through a small strict JSON validator (RFC 8259 grammar). Parser inputs
 * that must be refused are fed from exact-sized heap copies, so a read past
 * the end shows under valgrind and ASan. malloc is wrapped (-Wl,--wrap=malloc)
 * so that allocation failures inside jansson can be made on demand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- A strict validator. ---- */

static const char *v_value(const char *p, int depth);

static const char *
v_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    return p;
}

static const char *
v_string(const char *p)
{
    if (*p++ != '"') {
        return NULL;
    }
    while (*p != '"') {
        unsigned char c = (unsigned char) *p;
        if (c < 0x20) {                 /* Includes the terminating NUL. */
            return NULL;
        }
        if (c != '\\') {
            p++;
            continue;
        }
        p++;
        if (*p && strchr("\"\\/bfnrt", *p)) {
            p++;
        } else if (*p == 'u') {
            p++;
            for (int i = 0; i < 4; i++, p++) {
                if (!*p || !strchr("0123456789abcdefABCDEF", *p)) {
                    return NULL;
                }
            }
        } else {
            return NULL;
        }
    }
    return p + 1;
}

static const char *
v_digits(const char *p)
{
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    return p;
}

static const char *
v_number(const char *p)
{
    if (*p == '-') {
        p++;
    }
    if (*p == '0') {
        p++;
    } else if (!(p = v_digits(p))) {
        return NULL;
    }
    if (*p == '.' && !(p = v_digits(p + 1))) {
        return NULL;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!(p = v_digits(p))) {
            return NULL;
        }
    }
    return p;
}

static const char *
v_members(const char *p, char close, bool object, int depth)
{
    p = v_ws(p);
    if (*p == close) {
        return p + 1;
    }
    for (;;) {
        if (object) {
            if (!(p = v_string(p))) {
                return NULL;
            }
            p = v_ws(p);
            if (*p++ != ':') {
                return NULL;
            }
        }
        if (!(p = v_value(p, depth + 1))) {
            return NULL;
        }
        p = v_ws(p);
        if (*p == close) {
            return p + 1;
        }
        if (*p++ != ',') {
            return NULL;
        }
        p = v_ws(p);
    }
}

static const char *
v_value(const char *p, int depth)
{
    if (depth > 200) {
        return NULL;
    }
    p = v_ws(p);
    switch (*p) {
    case '{':
        return v_members(p + 1, '}', true, depth);
    case '[':
        return v_members(p + 1, ']', false, depth);
    case '"':
        return v_string(p);
    case 't':
        return strncmp(p, "true", 4) ? NULL : p + 4;
    case 'f':
        return strncmp(p, "false", 5) ? NULL : p + 5;
    case 'n':
        return strncmp(p, "null", 4) ? NULL : p + 4;
    default:
        return v_number(p);
    }
}

static bool
json_valid(const char *s)
{
    const char *p = v_value(s, 0);

    return p && *v_ws(p) == '\0';
}

static void
expect_json(const struct json_out *j, const char *want)
{
    const char *got = json_text(j);

    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(j->len, strlen(want));
    if (!json_valid(got)) {
        fail_msg("not valid JSON: %s", got);
    }
}

/* The validator itself must be able to say no. */
static void
test_validator(void **state)
{
    static const char *const good[] = {
        "{}", "[]", "0", "-0.5", "1e10", "\"a\\u00e9\"", "{\"a\":[1,{\"b\":null}]}", "true",
    };
    static const char *const bad[] = {
        "", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "[1 2]", "01", "1.", "\"\\x\"", "\"a\nb\"",
        "nul", "{a:1}", "[1]]", "\"abc", "NaN", "-", ".5",
    };

    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (!json_valid(good[i])) {
            fail_msg("validator refuses %s", good[i]);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (json_valid(bad[i])) {
            fail_msg("validator accepts %s", bad[i]);
        }
    }
}

/* ---- Writer. ---- */

static void
test_empty(void **state)
{
    struct json_out j;

    json_init(&j);
    assert_non_null(json_text(&j));
    assert_string_equal(json_text(&j), "");
    json_object_begin(&j);
    json_object_end(&j);
    expect_json(&j, "{}");
    json_destroy(&j);
    assert_string_equal(json_text(&j), "");
    json_array_begin(&j);
    json_array_end(&j);
    expect_json(&j, "[]");
    json_destroy(&j);
    json_destroy(NULL);
}

static void
test_scalars_in_object(void **state)
{
    struct json_out j;

    json_init(&j);
    json_object_begin(&j);
    json_key(&j, "u");
    json_u64(&j, 42);
    json_key(&j, "umax");
    json_u64(&j, UINT64_MAX);
    json_key(&j, "i");
    json_i64(&j, -7);
    json_key(&j, "imin");
    json_i64(&j, INT64_MIN);
    json_key(&j, "s");
    json_str(&j, "x");
    json_key(&j, "null_s");
    json_str(&j, NULL);
    json_key(&j, "t");
    json_bool(&j, true);
    json_key(&j, "f");
    json_bool(&j, false);
    json_key(&j, "n");
    json_null_value(&j);
    json_key(&j, "d");
    json_double(&j, 1.5);
    json_key(&j, "os");
    json_str_or_null(&j, "y");
    json_key(&j, "on");
    json_str_or_null(&j, NULL);
    json_key(&j, "ou");
    json_u64_or_null(&j, true, 0);
    json_key(&j, "ounull");
    json_u64_or_null(&j, false, 5);
    json_object_end(&j);
    expect_json(&j, "{\"u\":42,\"umax\":18446744073709551615,\"i\":-7,"
                    "\"imin\":-9223372036854775808,\"s\":\"x\",\"null_s\":\"\","
                    "\"t\":true,\"f\":false,\"n\":null,\"d\":1.500,"
                    "\"os\":\"y\",\"on\":null,\"ou\":0,\"ounull\":null}");
    json_destroy(&j);
}

static void
test_nested(void **state)
{
    struct json_out j;

    json_init(&j);
    json_object_begin(&j);
    json_key(&j, "jobs");
    json_array_begin(&j);
    for (int i = 1; i <= 2; i++) {
        json_object_begin(&j);
        json_key(&j, "id");
        json_u64(&j, (uint64_t) i);
        json_key(&j, "local");
        json_array_begin(&j);
        if (i == 1) {
            json_str(&j, "10.0.0.1");
            json_str(&j, "fd00::1");
        }
        json_array_end(&j);
        json_key(&j, "stats");
        json_object_begin(&j);
        json_object_end(&j);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_key(&j, "matrix");
    json_array_begin(&j);
    json_array_begin(&j);
    json_u64(&j, 1);
    json_u64(&j, 2);
    json_array_end(&j);
    json_array_begin(&j);
    json_array_end(&j);
    json_array_begin(&j);
    json_array_begin(&j);
    json_i64(&j, 3);
    json_array_end(&j);
    json_object_begin(&j);
    json_key(&j, "k");
    json_null_value(&j);
    json_object_end(&j);
    json_array_end(&j);
    json_array_end(&j);
    json_key(&j, "last");
    json_bool(&j, true);
    json_object_end(&j);
    expect_json(&j, "{\"jobs\":[{\"id\":1,\"local\":[\"10.0.0.1\",\"fd00::1\"],\"stats\":{}},"
                    "{\"id\":2,\"local\":[],\"stats\":{}}],"
                    "\"matrix\":[[1,2],[],[[3],{\"k\":null}]],\"last\":true}");
    json_destroy(&j);
}

static void
test_top_level_array(void **state)
{
    struct json_out j;

    json_init(&j);
    json_array_begin(&j);
    json_str(&j, "a");
    json_u64(&j, 0);
    json_bool(&j, false);
    json_null_value(&j);
    json_double(&j, -0.25);
    json_object_begin(&j);
    json_object_end(&j);
    json_array_end(&j);
    expect_json(&j, "[\"a\",0,false,null,-0.250,{}]");
    json_destroy(&j);
}

static void
test_value_ending_in_colon(void **state)
{
    /* A string value ending in ':' must not fool the separator logic. */
    struct json_out j;

    json_init(&j);
    json_array_begin(&j);
    json_str(&j, "a:");
    json_str(&j, ":");
    json_array_end(&j);
    expect_json(&j, "[\"a:\",\":\"]");
    json_destroy(&j);

    json_init(&j);
    json_object_begin(&j);
    json_key(&j, "k:");
    json_str(&j, "v:");
    json_key(&j, ":");
    json_u64(&j, 1);
    json_object_end(&j);
    expect_json(&j, "{\"k:\":\"v:\",\":\":1}");
    json_destroy(&j);
}

static void
test_escaping(void **state)
{
    struct json_out j;
    char ctl[40];

    json_init(&j);
    json_object_begin(&j);
    json_key(&j, "q\"b\\k\n");
    json_str(&j, "say \"hi\" \\ back\\slash");
    json_key(&j, "ws");
    json_str(&j, "a\nb\rc\td");
    json_key(&j, "ctl");
    for (int i = 0; i < 32; i++) {
        ctl[i] = (char) (i + 1);            /* 0x01 .. 0x1f, */
    }
    ctl[31] = 0x7f;                         /* and DEL. */
    ctl[32] = '\0';
    json_str(&j, ctl);
    json_key(&j, "utf8");
    json_str(&j, "caf\xc3\xa9 \xe2\x82\xac /");
    json_object_end(&j);
    expect_json(&j, "{\"q\\\"b\\\\k\\n\":\"say \\\"hi\\\" \\\\ back\\\\slash\","
                    "\"ws\":\"a\\nb\\rc\\td\","
                    "\"ctl\":\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\u0008"
                    "\\t\\n\\u000b\\u000c\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013"
                    "\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c"
                    "\\u001d\\u001e\\u001f\\u007f\","
                    "\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac /\"}");
    json_destroy(&j);
}

static void
test_doubles(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        { 0.0, "0.000" },
        { 1.5, "1.500" },
        { -2.25, "-2.250" },
        { 0.0004, "0.000" },
        { 0.0005, "0.001" },
        { 123456.789, "123456.789" },
        { 1e15, "1000000000000000.000" },
    };
    struct json_out j;

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_init(&j);
        json_double(&j, cases[i].v);
        expect_json(&j, cases[i].text);
        json_destroy(&j);
    }

    /* Not representable in JSON: null. */
    json_init(&j);
    json_array_begin(&j);
    json_double(&j, NAN);
    json_double(&j, INFINITY);
    json_double(&j, -INFINITY);
    json_double(&j, 2.0);
    json_array_end(&j);
    expect_json(&j, "[null,null,null,2.000]");
    json_destroy(&j);

    json_init(&j);
    json_object_begin(&j);
    json_key(&j, "rate");
    json_double(&j, NAN);
    json_object_end(&j);
    expect_json(&j, "{\"rate\":null}");
    json_destroy(&j);
}

static void
test_big_doubles(void **state)
{
    /* Large finite doubles must come out as the same number, not as the
     * first characters of it. */
    static const double vals[] = { 1e30, 1e62, 1e100, -1e300, DBL_MAX };
    struct json_out j;

    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        char t[400];
        json_init(&j);
        json_double(&j, vals[i]);
        assert_non_null(json_text(&j));
        snprintf(t, sizeof t, "%s", json_text(&j));
        json_destroy(&j);
        if (!json_valid(t)) {
            fail_msg("%g: not valid JSON: %s", vals[i], t);
        }
        double back = strtod(t, NULL);
        if (back != vals[i]) {
            fail_msg("%g written as %s (reads back as %g)", vals[i], t, back);
        }
    }
}

static void
test_growth(void **state)
{
    /* Far past the first buffer: 10000 items. */
    struct json_out j;
    char item[32];

    json_init(&j);
    json_array_begin(&j);
    for (unsigned int i = 0; i < 10000; i++) {
        snprintf(item, sizeof item, "10.0.%u.%u", i / 256, i % 256);
        json_str(&j, item);
    }
    json_array_end(&j);
    const char *t = json_text(&j);
    assert_non_null(t);
    assert_true(json_valid(t));
    assert_int_equal(strncmp(t, "[\"10.0.0.0\",\"10.0.0.1\",", 23), 0);
    assert_string_equal(t + strlen(t) - 14, ",\"10.0.39.15\"]");
    assert_int_equal(strlen(t), j.len);
    assert_true(j.cap > j.len);
    json_destroy(&j);
}

static void
test_max_depth(void **state)
{
    /* JSON_MAX_DEPTH levels work. */
    struct json_out j;
    char want[256] = "";

    json_init(&j);
    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        json_array_begin(&j);
        json_u64(&j, (uint64_t) i);
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? ",[" : "[", i);
    }
    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        json_array_end(&j);
        strcat(want, "]");
    }
    expect_json(&j, want);
    json_destroy(&j);
}

static void
test_too_deep(void **state)
{
    /* Deeper than JSON_MAX_DEPTH: the writer may give up (json_text NULL)
     * or write the right text, but it must never write past its struct. */
    struct guarded {
        struct json_out j;
        unsigned char canary[64];
    } g;
    static const unsigned char zero[64];
    const int depth = JSON_MAX_DEPTH + 8;
    char want[512] = "";

    assert_int_equal(offsetof(struct guarded, canary), sizeof(struct json_out));
    memset(&g, 0, sizeof g);
    json_init(&g.j);
    for (int i = 0; i < depth; i++) {
        json_array_begin(&g.j);
        json_u64(&g.j, (uint64_t) i);
        json_u64(&g.j, (uint64_t) i);
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d,%d",
                 i ? ",[" : "[", i, i);
    }
    for (int i = 0; i < depth; i++) {
        json_array_end(&g.j);
        strcat(want, "]");
    }
    bool overrun = memcmp(g.canary, zero, sizeof zero) != 0;
    const char *t = json_text(&g.j);
    bool right = !t || !strcmp(t, want);
    json_destroy(&g.j);
    if (overrun) {
        fail_msg("nesting %d deep wrote past struct json_out", depth);
    }
    if (!right) {
        fail_msg("nesting %d deep produced wrong text", depth);
    }
}

/* ---- Allocation failure on demand. ----
 *
 * json.c hands jansson an allocator that calls malloc, and this test is
 * linked with -Wl,--wrap=malloc: every allocation jansson makes for
 * json_parse comes through here. */

void *__real_malloc(size_t);
void *__wrap_malloc(size_t);

static bool malloc_armed;          /* Counting since malloc_arm. */
static size_t malloc_calls;        /* Allocations counted. */
static size_t malloc_fail_at;      /* First one to fail (1-based); 0: none. */

void *
__wrap_malloc(size_t n)
{
    if (malloc_armed && ++malloc_calls >= malloc_fail_at && malloc_fail_at) {
        return NULL;
    }
    return __real_malloc(n);
}

static void
malloc_arm(size_t fail_at)
{
    malloc_calls = 0;
    malloc_fail_at = fail_at;
    malloc_armed = true;
}

static size_t
malloc_disarm(void)
{
    malloc_armed = false;
    return malloc_calls;
}

/* ---- Parser. ---- */

/* Parses text (its strlen) that must be valid; fails the test otherwise. */
static json_t *
parse_ok(const char *text)
{
    json_t *v = NULL;
    char err[160];
    int rc = json_parse(text, strlen(text), &v, err, sizeof err);

    if (rc || !v) {
        fail_msg("refused %.80s: %d %s", text, rc, err);
    }
    return v;
}

/* Parses len bytes from an exact-sized heap copy, so that a read past the
 * end shows under valgrind and ASan; returns the error, with the message in
 * err. */
static int
parse_exact(const char *text, size_t len, json_t **out, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);

    assert_non_null(copy);
    memcpy(copy, text, len);
    int rc = json_parse(copy, len, out, err, errlen);
    free(copy);
    return rc;
}

/* err is a message fit for a log line and a reply: no control characters,
 * ASCII only (jansson quotes the input near an error). */
static void
expect_clean_message(const char *err)
{
    for (const char *p = err; *p; p++) {
        if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f) {
            fail_msg("message '%s' has byte 0x%02x", err, (unsigned char) *p);
        }
    }
}

/* text must be refused with the given error; a syntax error says where. */
static void
expect_refused(const char *text, size_t len, int want)
{
    json_t *v = (json_t *) &v;          /* Not NULL. */
    char err[160] = "";
    int rc = parse_exact(text, len, &v, err, sizeof err);

    if (rc != want) {
        fail_msg("%.*s: got %d (%s), want %d", (int) (len > 60 ? 60 : len), text, rc,
                 err, want);
    }
    if (v) {
        fail_msg("%.*s: refused but *out was set", (int) (len > 60 ? 60 : len), text);
    }
    if (want == EINVAL && strncmp(err, "offset ", 7)) {
        fail_msg("%.*s: error text '%s' has no offset", (int) (len > 60 ? 60 : len),
                 text, err);
    }
    if (!err[0]) {
        fail_msg("%.*s: refused without a message", (int) (len > 60 ? 60 : len), text);
    }
    expect_clean_message(err);
}

/* Parses text and writes it back out; the result must be want. */
static void
expect_rewrite(const char *text, const char *want)
{
    json_t *v = parse_ok(text);
    struct json_out j;

    json_init(&j);
    json_write_value(&j, v);
    assert_non_null(json_text(&j));
    if (strcmp(json_text(&j), want)) {
        fail_msg("%s rewritten as %s, want %s", text, json_text(&j), want);
    }
    json_destroy(&j);
    json_decref(v);
}

static void
test_parse_document(void **state)
{
    const char *doc =
        " {\n"
        "  \"cmd\": \"flush\",\n"
        "  \"id\": 42,\n"
        "  \"local\": [\"10.0.0.1\", \"fd00::1\"],\n"
        "  \"zone\": {\"id\": 7, \"default\": false},\n"
        "  \"dry_run\": true,\n"
        "  \"rate\": -1.5e3,\n"
        "  \"note\": null,\n"
        "  \"empty_a\": [], \"empty_o\": {}\r\n"
        "}\t\n";
    static const char *const order[] = {
        "cmd", "id", "local", "zone", "dry_run", "rate", "note", "empty_a", "empty_o",
    };
    json_t *v = parse_ok(doc);
    const json_t *x;
    const char *key;
    json_t *item;
    size_t k = 0;

    assert_true(json_is_object(v));
    assert_int_equal(json_object_size(v), 9);
    /* Members keep input order. */
    json_object_foreach(v, key, item) {
        assert_string_equal(key, order[k]);
        k++;
    }
    assert_string_equal(json_string_value(json_object_get(v, "cmd")), "flush");
    assert_true(json_integer_value(json_object_get(v, "id")) == 42);
    x = json_object_get(v, "local");
    assert_true(json_is_array(x));
    assert_int_equal(json_array_size(x), 2);
    assert_string_equal(json_string_value(json_array_get(x, 1)), "fd00::1");
    assert_int_equal(json_string_length(json_array_get(x, 1)), 7);
    x = json_object_get(v, "zone");
    assert_true(json_integer_value(json_object_get(x, "id")) == 7);
    assert_true(json_is_false(json_object_get(x, "default")));
    assert_true(json_is_true(json_object_get(v, "dry_run")));
    x = json_object_get(v, "rate");
    assert_true(json_is_real(x));
    assert_true(json_real_value(x) == -1500.0);
    assert_true(json_is_null(json_object_get(v, "note")));
    assert_int_equal(json_array_size(json_object_get(v, "empty_a")), 0);
    assert_true(json_is_object(json_object_get(v, "empty_o")));
    assert_int_equal(json_object_size(json_object_get(v, "empty_o")), 0);
    json_decref(v);
}

static void
test_parse_scalars(void **state)
{
    json_t *v;

    v = parse_ok("null");
    assert_true(json_is_null(v));
    json_decref(v);
    v = parse_ok(" true ");
    assert_true(json_is_true(v));
    json_decref(v);
    v = parse_ok("false");
    assert_true(json_is_false(v));
    json_decref(v);
    v = parse_ok("\"\"");
    assert_string_equal(json_string_value(v), "");
    assert_int_equal(json_string_length(v), 0);
    json_decref(v);
    v = parse_ok("\n\r\t 0 \n");
    assert_true(json_is_integer(v));
    assert_true(json_integer_value(v) == 0);
    json_decref(v);

    /* The input need not be NUL-terminated: only len bytes are read. */
    const char text[] = { '[', '1', ',', '2', ']', 'x', 'y' };
    assert_int_equal(parse_exact(text, 5, &v, NULL, 0), 0);
    assert_int_equal(json_array_size(v), 2);
    json_decref(v);
    assert_int_equal(parse_exact(text, 7, &v, NULL, 0), EINVAL);    /* No errbuf. */
    assert_null(v);
    char tiny[1] = { 'z' };
    assert_int_equal(parse_exact("", 0, &v, tiny, 0), EINVAL);       /* errlen 0. */
    assert_int_equal(tiny[0], 'z');
    char small[8];
    assert_int_equal(parse_exact("[1,]", 4, &v, small, sizeof small), EINVAL);
    assert_int_equal(strlen(small), sizeof small - 1);               /* Cut, ended. */
}

static void
test_parse_numbers(void **state)
{
    static const struct {
        const char *text;
        bool integer;
        int64_t i;
        double d;
    } cases[] = {
        { "0", true, 0, 0.0 },
        { "7", true, 7, 7.0 },
        { "4294967296", true, 4294967296LL, 4294967296.0 },
        { "9223372036854775807", true, INT64_MAX, 9223372036854775807.0 },
        { "-0", true, 0, 0.0 },
        { "-1", true, -1, -1.0 },
        { "-9223372036854775808", true, INT64_MIN, -9223372036854775808.0 },
        { "1.0", false, 0, 1.0 },
        { "1e2", false, 0, 100.0 },
        { "1E+2", false, 0, 100.0 },
        { "25e-1", false, 0, 2.5 },
        { "0.5", false, 0, 0.5 },
        { "-0.125", false, 0, -0.125 },
        { "1.7976931348623157e308", false, 0, DBL_MAX },
        { "1e-400", false, 0, 0.0 },                    /* Underflow: zero. */
        { "0e0", false, 0, 0.0 },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *v = parse_ok(cases[i].text);
        if (!json_is_number(v) || json_is_integer(v) != cases[i].integer
            || (cases[i].integer && json_integer_value(v) != cases[i].i)
            || json_number_value(v) != cases[i].d) {
            fail_msg("%s: integer %d value %.17g", cases[i].text, json_is_integer(v),
                     json_number_value(v));
        }
        json_decref(v);
    }

    /* A long literal is fine. */
    char num[600] = "0.";
    memset(num + 2, '0', 590);
    strcpy(num + 592, "1");
    json_t *v = parse_ok(num);
    assert_true(json_real_value(v) < 1e-300);
    json_decref(v);

    /* Integers past int64_t are refused, not rounded: no member ctflushd
     * reads goes past 2^63 - 1 (job ids, counters), and a value the tree
     * cannot hold exactly must not be taken for another one. */
    expect_refused("18446744073709551615", 20, EINVAL);
    expect_refused("9223372036854775808", 19, EINVAL);
    expect_refused("-9223372036854775809", 20, EINVAL);
    expect_refused("[99999999999999999999999]", 25, EINVAL);
    /* Out of a double's range. */
    expect_refused("1e309", 5, EINVAL);
    expect_refused("-1e400", 6, EINVAL);
    expect_refused("[1e99999]", 9, EINVAL);
}

static void
test_parse_strings(void **state)
{
    static const struct {
        const char *text;
        const char *want;
        size_t len;
    } cases[] = {
        { "\"abc\"", "abc", 3 },
        { "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8 },
        { "\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6 },
        { "\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
          "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 11 },
        { "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4 },          /* U+1F600. */
        { "\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80", 4 },          /* U+10000. */
        { "\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4 },          /* U+10FFFF. */
        { "\"\\u0001\\u001f\"", "\x01\x1f", 2 },
        { "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14 },
        { "\"\xef\xbb\xbf\"", "\xef\xbb\xbf", 3 },                /* U+FEFF. */
        { "\"\xed\x9f\xbf\xee\x80\x80\"", "\xed\x9f\xbf\xee\x80\x80", 6 },
        { "\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf", 4 },
        { "\"a\x7f\"", "a\x7f", 2 },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *v = parse_ok(cases[i].text);
        if (!json_is_string(v) || json_string_length(v) != cases[i].len
            || strlen(json_string_value(v)) != cases[i].len
            || memcmp(json_string_value(v), cases[i].want, cases[i].len)) {
            fail_msg("case %zu: %s decoded wrongly", i, cases[i].text);
        }
        json_decref(v);
    }

    /* The length bound, on decoded bytes. */
    size_t n = JSON_MAX_STRING;
    char *s = malloc(n + 3);
    assert_non_null(s);
    s[0] = '"';
    memset(s + 1, 'a', n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    json_t *v = parse_ok(s);
    assert_int_equal(json_string_length(v), n);
    json_decref(v);
    free(s);

    s = malloc(n + 4);
    assert_non_null(s);
    s[0] = '"';
    memset(s + 1, 'a', n + 1);
    s[n + 2] = '"';
    s[n + 3] = '\0';
    expect_refused(s, n + 3, E2BIG);
    /* Inside an array, and as a key. */
    char *k = malloc(n + 10);
    assert_non_null(k);
    snprintf(k, n + 10, "[1,%s]", s);
    expect_refused(k, strlen(k), E2BIG);
    s[n + 2] = '\0';
    snprintf(k, n + 10, "{%s\":1}", s);
    expect_refused(k, strlen(k), E2BIG);
    free(k);
    free(s);

    /* Escapes shrink: six characters of \u0041 decode to one byte, so a
     * source longer than the bound can still be within it. */
    size_t esc = JSON_MAX_STRING / 4;
    s = malloc(esc * 6 + 3);
    assert_non_null(s);
    s[0] = '"';
    for (size_t i = 0; i < esc; i++) {
        memcpy(s + 1 + i * 6, "\\u0041", 6);
    }
    s[esc * 6 + 1] = '"';
    s[esc * 6 + 2] = '\0';
    v = parse_ok(s);
    assert_int_equal(json_string_length(v), esc);
    json_decref(v);
    free(s);
}

static void
test_parse_malformed(void **state)
{
    static const char *const cases[] = {
        /* Empty, or not a value. */
        "", "   ", "\n", "]", "}", ",", ":", "'a'", "undefined", "/* c */ 1",
        "\xef\xbb\xbf{}",                                   /* A BOM. */
        /* Unfinished. */
        "[", "{", "[1", "[1,", "{\"a\"", "{\"a\":", "{\"a\":1", "\"abc", "\"abc\\",
        "\"\\\"",
        /* Trailing commas and missing separators. */
        "[1,]", "[1,\n ]", "{\"a\":1,}", "[,1]", "[,]", "{,}", "[1,,2]", "[1 2]",
        "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{\"a\":}", "{\"a\"::1}", "{1:1}", "{a:1}",
        "{null:1}", "[1:2]",
        /* Trailing garbage. */
        "[1]]", "[1] x", "{} {}", "1 2", "truex", "nullnull", "\"a\"\"b\"", "0x10", "1.5.5",
        "[1]\n,",
        /* Literals. */
        "nul", "tru", "True", "NULL", "fals",
        /* Numbers. */
        "01", "-01", "00", "[007]", "1.", "1.e5", ".5", "-.5", "-", "+1", "1e", "1e+",
        "1E-", "--1", "- 1", "NaN", "nan", "Infinity", "-Infinity", "[Infinity]", "inf",
        /* Escapes. */
        "\"\\x\"", "\"\\a\"", "\"\\U0041\"", "\"\\'\"", "\"\\u12\"", "\"\\u00zz\"",
        "\"\\u-123\"", "\"\\u 123\"",
        /* NUL in strings, escaped: C strings would be cut at it. */
        "\"\\u0000\"", "\"a\\u0000b\"", "[\"\\u0000\"]", "{\"\\u0000\":1}", "{\"a\\u0000\":1}",
        /* Surrogates. */
        "\"\\ud800\"", "\"\\udbff\"", "\"\\udc00\"", "\"\\udfff\"", "\"\\ud800\\u0041\"",
        "\"\\ud800\\ud800\"", "\"\\ude00\\ud83d\"", "\"\\ud800x\"", "\"\\ud800\\\"",
        "\"\\ud800\\n\"",
        /* Raw control characters. */
        "\"a\nb\"", "\"a\tb\"", "\"\r\"", "\"\x01\"", "\"\x1f\"",
        /* Invalid UTF-8. */
        "\"\x80\"", "\"\xbf\"", "\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"",
        "\"\xe0\x9f\xbf\"", "\"\xf0\x80\x80\xaf\"", "\"\xf0\x8f\xbf\xbf\"", "\"\xed\xa0\x80\"",
        "\"\xed\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"", "\"\xfe\"", "\"\xff\"", "\"\xe2\x82\"", "\"\xe2\x82x\"",
        "\"\xc3\"", "\"\xf0\x9f\x98\"", "\"\xc3\xa9\xa9\"", "\xc3\xa9",
        /* Duplicate keys, at any size of object. */
        "{\"a\":1,\"a\":2}", "{\"a\":1,\"b\":2,\"a\":1}", "{\"x\":{\"a\":1,\"a\":1}}",
        "[{\"k\":1,\"k\":[]}]", "{\"\\u0061\":1,\"a\":2}",          /* Equal once decoded. */
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        expect_refused(cases[i], strlen(cases[i]), EINVAL);
    }

    /* NUL bytes: in a string, between tokens, after the value; right
     * after a number or a literal too, which jansson alone would skip. */
    expect_refused("\"a\0b\"", 5, EINVAL);
    expect_refused("[1,\0 2]", 7, EINVAL);
    expect_refused("{}\0", 3, EINVAL);
    expect_refused("\0", 1, EINVAL);
    expect_refused("1\0", 2, EINVAL);
    expect_refused("[1\0]", 4, EINVAL);
    expect_refused("[1\0,2]", 6, EINVAL);
    expect_refused("{\"a\":true\0}", 11, EINVAL);
    json_t *v;
    char err[64];
    assert_int_equal(json_parse("[1\0]", 4, &v, err, sizeof err), EINVAL);
    assert_string_equal(err, "offset 2: NUL byte");

    /* Keys that only look alike are distinct. */
    v = parse_ok("{\"a\":1,\"A\":2,\"a \":3,\"\":4,\"\xc3\xa9\":5,\"e\":6}");
    assert_int_equal(json_object_size(v), 6);
    json_decref(v);

    /* No input at all. */
    assert_int_equal(json_parse(NULL, 0, &v, err, sizeof err), EINVAL);
    assert_null(v);
}

/* What a client or the log sees: where, and what jansson found there. */
static void
test_parse_messages(void **state)
{
    static const struct {
        const char *text;
        const char *offset;     /* The message's start. */
        const char *what;       /* Somewhere in it. */
    } cases[] = {
        { "", "offset 0: ", "end of file" },
        { "  x", "offset 3: ", "invalid token near 'x'" },
        { "[1,]", "offset 4: ", "near ']'" },
        { "{\"a\":1,\"b\":2,\"a\":3}", "offset 16: ", "duplicate object key near '\"a\"'" },
        { "[01]", "offset 2: ", "invalid token" },
        { "\"ab\ncd\"", "offset 3: ", "unexpected newline" },
        { "[\"\\ud800\"]", "offset 9: ", "invalid Unicode '\\uD800'" },
        { "\"a\xff\"", "offset 2: ", "unable to decode byte 0xff" },
        { "[1] x", "offset 5: ", "end of file expected near 'x'" },
        { "[\"abc", "offset 5: ", "premature end of input" },
        { "nul", "offset 3: ", "invalid token near 'nul'" },
        { "\"\\u0000\"", "offset 8: ", "\\u0000 is not allowed" },
        { "{\"\\u0000\":1}", "offset 9: ", "NUL byte in object key" },
        { "18446744073709551616", "offset 20: ", "too big integer" },
        { "1e400", "offset 5: ", "real number overflow" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *v;
        char err[160] = "";

        assert_int_equal(json_parse(cases[i].text, strlen(cases[i].text), &v, err,
                                    sizeof err), EINVAL);
        if (strncmp(err, cases[i].offset, strlen(cases[i].offset))
            || !strstr(err, cases[i].what)) {
            fail_msg("%s: error '%s', want '%s...%s...'", cases[i].text, err,
                     cases[i].offset, cases[i].what);
        }
    }

    /* jansson quotes the input near an error: a control character or a
     * non-ASCII byte of it never reaches the message. */
    static const char *const quoted[] = {
        "[\x01]", "[\x1b[2J]", "{\"a\":\x7f}", "[\"\xc3\xa9\" \xc3\xa9]", "[1,\x1b]",
        "[\"\x01\"]",
    };
    for (size_t i = 0; i < sizeof quoted / sizeof *quoted; i++) {
        expect_refused(quoted[i], strlen(quoted[i]), EINVAL);
    }
}

/* n arrays (or objects) nested, with a 1 in the innermost. */
static char *
nested(unsigned int n, char open, char close)
{
    size_t size = (open == '{' ? 6 : 2) * (size_t) n + 16;
    char *s = malloc(size);
    size_t k = 0;

    assert_non_null(s);
    for (unsigned int i = 0; i < n; i++) {
        s[k++] = open;
        if (open == '{') {
            memcpy(s + k, "\"k\":", 4);
            k += 4;
        }
    }
    s[k++] = '1';
    for (unsigned int i = 0; i < n; i++) {
        s[k++] = close;
    }
    s[k] = '\0';
    return s;
}

static void
test_parse_depth(void **state)
{
    char *s;

    /* JSON_MAX_DEPTH levels of arrays or objects are fine. */
    s = nested(JSON_MAX_DEPTH, '[', ']');
    json_t *v = parse_ok(s);
    const json_t *x = v;
    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        assert_true(json_is_array(x));
        x = json_array_get(x, 0);
    }
    assert_true(json_integer_value(x) == 1);
    json_decref(v);
    free(s);
    s = nested(JSON_MAX_DEPTH, '{', '}');
    v = parse_ok(s);
    json_decref(v);
    free(s);

    /* One more is refused, however it nests. */
    char err[160];
    s = nested(JSON_MAX_DEPTH + 1, '[', ']');
    expect_refused(s, strlen(s), E2BIG);
    assert_int_equal(json_parse(s, strlen(s), &v, err, sizeof err), E2BIG);
    assert_string_equal(err, "nested deeper than 16 levels");
    free(s);
    s = nested(JSON_MAX_DEPTH + 1, '{', '}');
    expect_refused(s, strlen(s), E2BIG);
    free(s);
    char mixed[256] = "[";
    for (int i = 1; i <= JSON_MAX_DEPTH; i++) {
        strcat(mixed, i % 2 ? "{\"a\":" : "[");
    }
    strcat(mixed, "[]");
    for (int i = JSON_MAX_DEPTH; i >= 1; i--) {
        strcat(mixed, i % 2 ? "}" : "]");
    }
    strcat(mixed, "]");
    expect_refused(mixed, strlen(mixed), E2BIG);
    /* Deep in one member, shallow in the others. */
    s = nested(JSON_MAX_DEPTH, '[', ']');
    char *wide = malloc(strlen(s) + 32);
    assert_non_null(wide);
    sprintf(wide, "[0,{},%s,\"x\"]", s);
    expect_refused(wide, strlen(wide), E2BIG);
    free(wide);
    free(s);

    /* Deep enough for jansson to build it (its own bound is 2048 levels),
     * refused by ours. */
    s = nested(2000, '[', ']');
    expect_refused(s, strlen(s), E2BIG);
    free(s);
    s = nested(2000, '{', '}');
    expect_refused(s, strlen(s), E2BIG);
    free(s);

    /* Very deep input, only opened: refused by jansson's bound, at the
     * same error, without recursing into all of it. */
    size_t deep = 1000000;
    s = malloc(deep);
    assert_non_null(s);
    memset(s, '[', deep);
    expect_refused(s, deep, E2BIG);
    assert_int_equal(json_parse(s, deep, &v, err, sizeof err), E2BIG);
    assert_non_null(strstr(err, "nested deeper than 16 levels"));
    free(s);
}

/* There is no bound on the number of values: the old parser's (a million)
 * refused the state file of a 77k-port table. */
static void
test_parse_many_values(void **state)
{
    size_t items = 1000001;
    char *s = malloc(2 * items + 2);
    json_t *v;
    char err[160];

    assert_non_null(s);
    s[0] = '[';
    for (size_t i = 0; i < items; i++) {
        s[1 + 2 * i] = '0';
        s[2 + 2 * i] = ',';
    }
    s[2 * items] = ']';
    assert_int_equal(json_parse(s, 2 * items + 1, &v, err, sizeof err), 0);
    assert_int_equal(json_array_size(v), items);
    json_decref(v);
    free(s);
}

static void
test_parse_truncated(void **state)
{
    /* Every proper prefix of an object is invalid; none may crash, leak or
     * read past its end. */
    const char *doc = "{\"a\":[1,-2.5e3,\"x\\u00e9\\ud83d\\ude00\xc3\xa9\",true,null,"
                      "{\"b\":false}],\"c\":{}}";
    size_t len = strlen(doc);
    json_t *v;
    char err[160];

    for (size_t n = 0; n < len; n++) {
        if (!parse_exact(doc, n, &v, err, sizeof err)) {
            fail_msg("prefix of %zu bytes accepted", n);
        }
        assert_null(v);
    }
    assert_int_equal(parse_exact(doc, len, &v, err, sizeof err), 0);
    json_decref(v);

    /* Every byte changed to a few troublesome values: accept or refuse, but
     * never crash or leak. */
    static const char subst[] = { '\0', '"', '\\', '[', '{', ',', '\x80', '\xff' };
    char *copy = malloc(len);
    assert_non_null(copy);
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof subst; k++) {
            memcpy(copy, doc, len);
            copy[i] = subst[k];
            if (!json_parse(copy, len, &v, err, sizeof err)) {
                json_decref(v);
            }
        }
    }
    free(copy);
}

/* An allocation that fails anywhere inside jansson is ENOMEM, never a
 * syntax error (jansson 2.14 itself says "invalid token" for some of them,
 * and a state file refused as corrupt for lack of memory would be moved
 * aside with the jobs it holds), and never a crash: jansson's lexer does not
 * check the allocations that keep a long token's text, and asserts (aborts)
 * when one has failed (akheron/jansson#362). The documents hold tokens
 * longer than its first 16 bytes of buffer: numbers, literals, strings. */
static void
test_parse_oom(void **state)
{
    static const char *const docs[] = {
        "{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\",\"fd00::5\"],\"zone\":3,"
        "\"a_long_key_name_here\":\"a string longer than sixteen bytes\","
        "\"rate\":-1.5e3,\"n\":[null,true,{\"x\":[]}]}",
        "-9223372036854775808",
        "[0.00000000000000000000000001,123456789012345678,-1.25e-300,false]",
        "{\"k\":-922337203685477580,\"l\":[9223372036854775807]}",
        "[\"0123456789abcdefghijklmnopqrstuvwxyz\\u00e9\\n0123456789\",true,null]",
    };
    json_t *v;
    char err[160];
    size_t n;
    int rc;

    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        size_t len = strlen(docs[d]);

        malloc_arm(0);
        rc = json_parse(docs[d], len, &v, err, sizeof err);
        n = malloc_disarm();
        assert_int_equal(rc, 0);
        json_decref(v);
        assert_true(n >= 2);            /* jansson's allocations are seen. */
        for (size_t k = 1; k <= n; k++) {
            v = (json_t *) &v;
            malloc_arm(k);
            rc = json_parse(docs[d], len, &v, err, sizeof err);
            malloc_disarm();
            if (rc != ENOMEM || v || strcmp(err, "out of memory")) {
                fail_msg("%s: allocation %zu of %zu failing: rc %d (%s)", docs[d], k, n, rc,
                         err);
            }
        }
        /* And the next parse, with memory back, is as good as ever. */
        v = parse_ok(docs[d]);
        json_decref(v);
    }
}

static void
test_write_value_round_trip(void **state)
{
    expect_rewrite(" { \"a\" : [ 1 , 2 ] , \"b\" : { } , \"c\" : [ ] } ",
                   "{\"a\":[1,2],\"b\":{},\"c\":[]}");
    expect_rewrite("[null,true,false,\"s\",0,9223372036854775807,-9223372036854775808]",
                   "[null,true,false,\"s\",0,9223372036854775807,-9223372036854775808]");
    /* Numbers come back as the same double, not json_double's three
     * decimals. */
    expect_rewrite("[0.1,-2.5e-7,1e300,-5,3.0,1E2,-0,-0.0,0.0001,123.456,"
                   "18446744073709551616.0]",
                   "[0.1,-2.5e-07,1e+300,-5,3,100,0,-0.0,0.0001,123.456,"
                   "1.8446744073709552e+19]");
    /* Escapes: written back in the writer's form. */
    expect_rewrite("\"\\u0041\\/\\b\\f\\u001F\\u00e9\\ud83d\\ude00\"",
                   "\"A/\\u0008\\u000c\\u001f\xc3\xa9\xf0\x9f\x98\x80\"");
    /* NULL (a member that is not there) is written as null. */
    struct json_out j;
    json_init(&j);
    json_write_value(&j, NULL);
    assert_string_equal(json_text(&j), "null");
    json_destroy(&j);

    /* Parse, write, parse again: the same tree and the same text. */
    const char *doc = "{\"jobs\":[{\"id\":1,\"local\":[\"10.0.0.1\",\"fd00::1\"],"
                      "\"rate\":0.3333333333333333,\"stats\":{\"n\":[[],[[{}]]]}}],"
                      "\"k\\\"q\\\\\":\"tab\\there\",\"big\":1.7976931348623157e308}";
    json_t *v1 = parse_ok(doc);
    struct json_out j1, j2;
    json_init(&j1);
    json_write_value(&j1, v1);
    assert_non_null(json_text(&j1));
    assert_true(json_valid(json_text(&j1)));
    json_t *v2 = parse_ok(json_text(&j1));
    assert_true(json_equal(v1, v2));
    json_init(&j2);
    json_write_value(&j2, v2);
    assert_string_equal(json_text(&j1), json_text(&j2));
    assert_true(json_real_value(json_object_get(v2, "big")) == DBL_MAX);
    assert_true(json_real_value(json_object_get(json_array_get(json_object_get(v2, "jobs"), 0),
                                                "rate")) == 1.0 / 3.0);
    assert_string_equal(json_string_value(json_object_get(v2, "k\"q\\")), "tab\there");
    json_destroy(&j1);
    json_destroy(&j2);
    json_decref(v1);
    json_decref(v2);

    /* The deepest tree the parser takes is one the writer can write. */
    char *s = nested(JSON_MAX_DEPTH, '[', ']');
    expect_rewrite(s, s);
    free(s);
}

static void
test_str_escaping_round_trip(void **state)
{
    /* Every byte 0x01..0xff the writer can be handed in valid UTF-8 text,
     * as a value and as a key, comes back unchanged through the parser. */
    char all[256 + 64];
    size_t k = 0;

    for (int c = 1; c < 0x80; c++) {
        all[k++] = (char) c;
    }
    memcpy(all + k, "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
                    "\xf4\x8f\xbf\xbf", 18);
    k += 18;
    all[k] = '\0';

    struct json_out j;
    json_init(&j);
    json_object_begin(&j);
    json_key(&j, all);
    json_str(&j, all);
    json_key(&j, "\"");
    json_str(&j, "\\");
    json_key(&j, "");
    json_str(&j, "");
    json_object_end(&j);
    assert_non_null(json_text(&j));

    json_t *v = parse_ok(json_text(&j));
    assert_int_equal(json_object_size(v), 3);
    assert_string_equal(json_object_iter_key(json_object_iter(v)), all);
    assert_string_equal(json_string_value(json_object_get(v, all)), all);
    assert_int_equal(json_string_length(json_object_get(v, all)), k);
    assert_string_equal(json_string_value(json_object_get(v, "\"")), "\\");
    assert_string_equal(json_string_value(json_object_get(v, "")), "");
    json_decref(v);
    json_destroy(&j);

    /* Each control character alone, with text around it. */
    for (int c = 1; c < 0x20; c++) {
        char in[8] = { 'a', (char) c, 'b', '\0' };
        json_init(&j);
        json_str(&j, in);
        v = parse_ok(json_text(&j));
        assert_string_equal(json_string_value(v), in);
        json_decref(v);
        json_destroy(&j);
    }
}

/* ---- The prefix-list encoder. ---- */

static void
test_prefixes(void **state)
{
    struct ctf_prefix_list l = { 0 };
    struct json_out j;

    assert_int_equal(ctf_prefix_list_parse(&l, "10.0.0.5,fd00::/64,192.0.2.0/24", NULL, 0), 0);
    json_init(&j);
    json_array_begin(&j);
    json_prefixes(&j, &l, false, 0);
    json_prefixes(&j, &l, false, 2);
    json_prefixes(&j, &l, true, 0);             /* "any" whatever the list. */
    json_prefixes(&j, &l, false, 3);
    ctf_prefix_list_clear(&l);
    json_prefixes(&j, &l, false, 0);
    json_array_end(&j);
    expect_json(&j, "[[\"10.0.0.5\",\"fd00::/64\",\"192.0.2.0/24\"],"
                    "[\"10.0.0.5\",\"fd00::/64\"],\"any\","
                    "[\"10.0.0.5\",\"fd00::/64\",\"192.0.2.0/24\"],[]]");
    json_destroy(&j);
    ctf_prefix_list_destroy(&l);
}

/* ---- Typed lookups. ---- */

/* The member lookups of one document, each with its message. */
static void
test_rd_lookups(void **state)
{
    json_t *v = parse_ok("{\"s\":\"str\",\"i\":42,\"neg\":-1,\"big\":9223372036854775807,"
                         "\"r\":-1.5e3,\"t\":true,\"f\":false,\"n\":null,\"a\":[1],"
                         "\"o\":{\"i\":7}}");
    struct json_rd rd;
    char msg[128];
    const json_t *m;
    const char *s;
    bool present = true, b = false;
    int64_t i = 99;
    double d = 0;

    json_rd_init(&rd, msg, sizeof msg);
    assert_string_equal(msg, "");

    /* Present, of the right type. */
    assert_int_equal(json_rd_string(&rd, v, "s", 0, &s), 0);
    assert_string_equal(s, "str");
    assert_int_equal(json_rd_int(&rd, v, "i", 0, 0, 100, &present, &i), 0);
    assert_true(present && i == 42);
    assert_int_equal(json_rd_int(&rd, v, "neg", 0, -1, 5, NULL, &i), 0);
    assert_true(i == -1);
    assert_int_equal(json_rd_int(&rd, v, "big", 0, 0, INT64_MAX, NULL, &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(json_rd_number(&rd, v, "r", 0, &present, &d), 0);
    assert_true(present && d == -1500.0);
    assert_int_equal(json_rd_number(&rd, v, "i", 0, NULL, &d), 0);     /* An integer too. */
    assert_true(d == 42.0);
    assert_int_equal(json_rd_bool(&rd, v, "t", 0, &present, &b), 0);
    assert_true(present && b);
    assert_int_equal(json_rd_bool(&rd, v, "f", 0, NULL, &b), 0);
    assert_false(b);
    assert_int_equal(json_rd_array(&rd, v, "a", 0, &m), 0);
    assert_int_equal(json_array_size(m), 1);
    assert_int_equal(json_rd_member(&rd, v, "o", 0, &m), 0);
    assert_int_equal(json_rd_int(&rd, m, "i", 0, 0, 10, NULL, &i), 0);
    assert_true(i == 7);
    assert_string_equal(msg, "");               /* No failure, no message. */

    /* Absent: missing with OPTIONAL, null with NULLABLE; *out left alone. */
    i = 5;
    b = true;
    assert_int_equal(json_rd_int(&rd, v, "nope", JSON_RD_OPTIONAL, 0, 9, &present, &i), 0);
    assert_false(present);
    assert_true(i == 5);
    assert_int_equal(json_rd_int(&rd, v, "n", JSON_RD_NULLABLE, 0, 9, &present, &i), 0);
    assert_false(present);
    assert_int_equal(json_rd_bool(&rd, v, "nope", JSON_RD_OPTIONAL, &present, &b), 0);
    assert_false(present);
    assert_true(b);
    assert_int_equal(json_rd_string(&rd, v, "n", JSON_RD_NULLABLE, &s), 0);
    assert_null(s);
    assert_int_equal(json_rd_array(&rd, v, "n", JSON_RD_NULLABLE, &m), 0);
    assert_null(m);
    assert_int_equal(json_rd_member(&rd, v, "nope", JSON_RD_OPTIONAL, &m), 0);
    assert_null(m);
    assert_int_equal(json_rd_member(&rd, v, "n", 0, &m), 0);           /* null is a value. */
    assert_true(json_is_null(m));
    assert_string_equal(msg, "");

    /* Failures name the member and say what it must be. */
#define EXPECT_FAIL(call, want)                                         \
    do {                                                                \
        msg[0] = '\0';                                                  \
        assert_int_equal((call), EINVAL);                               \
        assert_string_equal(msg, (want));                               \
    } while (0)
    EXPECT_FAIL(json_rd_int(&rd, v, "nope", 0, 0, 9, NULL, &i), "nope: missing");
    EXPECT_FAIL(json_rd_int(&rd, v, "nope", JSON_RD_NULLABLE, 0, 9, NULL, &i), "nope: missing");
    EXPECT_FAIL(json_rd_int(&rd, v, "n", JSON_RD_OPTIONAL, 0, 9, NULL, &i),
                "n: must be an integer 0..9");
    EXPECT_FAIL(json_rd_int(&rd, v, "i", 0, 0, 41, NULL, &i), "i: must be an integer 0..41");
    EXPECT_FAIL(json_rd_int(&rd, v, "neg", 0, 0, INT64_MAX, NULL, &i),
                "neg: must be an integer >= 0");
    EXPECT_FAIL(json_rd_int(&rd, v, "r", JSON_RD_NULLABLE, 0, 65535, NULL, &i),
                "r: must be an integer 0..65535 or null");
    EXPECT_FAIL(json_rd_int(&rd, v, "s", 0, -1, 1, NULL, &i), "s: must be an integer -1..1");
    EXPECT_FAIL(json_rd_int(&rd, v, "t", 0, 0, 1, NULL, &i), "t: must be an integer 0..1");
    EXPECT_FAIL(json_rd_bool(&rd, v, "i", 0, NULL, &b), "i: must be true or false");
    EXPECT_FAIL(json_rd_bool(&rd, v, "n", 0, NULL, &b), "n: must be true or false");
    EXPECT_FAIL(json_rd_bool(&rd, v, "s", JSON_RD_NULLABLE, NULL, &b),
                "s: must be true or false or null");
    EXPECT_FAIL(json_rd_number(&rd, v, "s", 0, NULL, &d), "s: must be a number");
    EXPECT_FAIL(json_rd_string(&rd, v, "i", 0, &s), "i: must be a string");
    EXPECT_FAIL(json_rd_string(&rd, v, "n", 0, &s), "n: must be a string");
    EXPECT_FAIL(json_rd_string(&rd, v, "a", JSON_RD_NULLABLE, &s), "a: must be a string or null");
    EXPECT_FAIL(json_rd_array(&rd, v, "o", 0, &m), "o: must be an array");
    EXPECT_FAIL(json_rd_array(&rd, v, "s", JSON_RD_NULLABLE, &m), "s: must be an array or null");
    assert_null(m);
    EXPECT_FAIL(json_rd_member(&rd, v, "S", 0, &m), "S: missing");     /* Case matters. */
    /* A value that is not an object has no members. */
    EXPECT_FAIL(json_rd_string(&rd, json_object_get(v, "a"), "s", 0, &s), "s: missing");
    EXPECT_FAIL(json_rd_string(&rd, NULL, "s", 0, &s), "s: missing");
    assert_int_equal(json_rd_string(&rd, NULL, "s", JSON_RD_OPTIONAL, &s), 0);

    /* 'where' says which item of a document the member is in. */
    snprintf(rd.where, sizeof rd.where, "ports[3] (\"tap1\")");
    EXPECT_FAIL(json_rd_int(&rd, v, "s", 0, 0, 65535, NULL, &i),
                "ports[3] (\"tap1\"): s: must be an integer 0..65535");
    EXPECT_FAIL(json_rd_fail(&rd, NULL, "duplicate port"), "ports[3] (\"tap1\"): duplicate port");
    rd.where[0] = '\0';
    EXPECT_FAIL(json_rd_fail(&rd, NULL, "plain %d", 1), "plain 1");
#undef EXPECT_FAIL

    /* No message buffer: the same answers. */
    json_rd_init(&rd, NULL, 0);
    assert_int_equal(json_rd_int(&rd, v, "s", 0, 0, 1, NULL, &i), EINVAL);
    assert_int_equal(json_rd_fail(&rd, "k", "x"), EINVAL);
    json_decref(v);
}

static void
test_rd_prefixes(void **state)
{
    json_t *v = parse_ok("{\"ok\":[\"10.0.0.5\",\"fd00::/64\"],\"empty\":[],"
                         "\"num\":[\"10.0.0.1\",5],\"bad\":[\"10.0.0.1\",\"10.0.0.500\"],"
                         "\"host\":[\"10.0.0.5/24\"],\"list\":[\"10.0.0.1,10.0.0.2\"],"
                         "\"ctl\":[\"\\u001b[2J\\n<0>forged\"],"
                         "\"long\":[\"10.0.0.1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17."
                         "18.19.20.21.22.23\"]}");
    struct ctf_prefix_list l = { 0 };
    struct json_rd rd;
    char msg[160], q[CTF_PREFIX_STRLEN];

    json_rd_init(&rd, msg, sizeof msg);
    assert_int_equal(json_rd_prefixes(&rd, "ok", json_object_get(v, "ok"), &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(ctf_prefix_format(&l.items[1], q), "fd00::/64");
    assert_int_equal(json_rd_prefixes(&rd, "empty", json_object_get(v, "empty"), &l), 0);
    assert_int_equal(l.n, 2);                   /* Appended to, never cleared. */

    assert_int_equal(json_rd_prefixes(&rd, "num", json_object_get(v, "num"), &l), EINVAL);
    assert_string_equal(msg, "num[1]: must be a string");
    assert_int_equal(l.n, 3);                   /* What came before the bad item. */
    assert_int_equal(json_rd_prefixes(&rd, "bad", json_object_get(v, "bad"), &l), EINVAL);
    assert_string_equal(msg, "bad[1]: bad address or prefix '10.0.0.500'");
    assert_int_equal(json_rd_prefixes(&rd, "host", json_object_get(v, "host"), &l), EINVAL);
    assert_string_equal(msg, "host[0]: bad address or prefix '10.0.0.5/24'");
    /* An item is one address, not a list. */
    assert_int_equal(json_rd_prefixes(&rd, "list", json_object_get(v, "list"), &l), EINVAL);
    assert_string_equal(msg, "list[0]: bad address or prefix '10.0.0.1,10.0.0.2'");
    /* Quoted input: control characters as '?', cut short. */
    assert_int_equal(json_rd_prefixes(&rd, "ctl", json_object_get(v, "ctl"), &l), EINVAL);
    assert_string_equal(msg, "ctl[0]: bad address or prefix '?[2J?<0>forged'");
    assert_int_equal(json_rd_prefixes(&rd, "long", json_object_get(v, "long"), &l), EINVAL);
    assert_string_equal(msg, "long[0]: bad address or prefix "
                             "'10.0.0.1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21...'");
    ctf_prefix_list_destroy(&l);
    json_decref(v);
}

static void
test_rd_quote(void **state)
{
    char buf[8];
    char big[64];

    assert_string_equal(json_rd_quote("abc", buf, sizeof buf), "abc");
    assert_string_equal(json_rd_quote("a\nb\x7f\x01", buf, sizeof buf), "a?b??");
    assert_string_equal(json_rd_quote("abcdefg", buf, sizeof buf), "abcdefg");
    assert_string_equal(json_rd_quote("abcdefgh", buf, sizeof buf), "abcd...");
    /* A cut never splits a UTF-8 sequence: "é" is two bytes, "€" three. */
    assert_string_equal(json_rd_quote("abc\xc3\xa9xyz", buf, sizeof buf), "abc...");
    assert_string_equal(json_rd_quote("ab\xe2\x82\xac" "xyz", buf, sizeof buf), "ab...");
    assert_string_equal(json_rd_quote("abcd\xc3\xa9", buf, sizeof buf), "abcd\xc3\xa9");
    assert_string_equal(json_rd_quote("x", buf, 1), "");
    assert_string_equal(json_rd_quote("x", buf, 0), "");

    /* A message cut by a short buffer ends before a split sequence. */
    struct json_rd rd;
    json_rd_init(&rd, big, 12);
    assert_int_equal(json_rd_fail(&rd, "k", "ab\xe2\x82\xac"), EINVAL);
    assert_string_equal(big, "k: ab\xe2\x82\xac");
    json_rd_init(&rd, big, 8);
    assert_int_equal(json_rd_fail(&rd, "k", "ab\xe2\x82\xac"), EINVAL);
    assert_string_equal(big, "k: ab");
    json_rd_init(&rd, big, 7);
    assert_int_equal(json_rd_fail(&rd, "k", "ab\xe2\x82\xac"), EINVAL);
    assert_string_equal(big, "k: ab");
    json_rd_init(&rd, big, 9);
    assert_int_equal(json_rd_fail(&rd, "k", "ab\xe2\x82\xac"), EINVAL);
    assert_string_equal(big, "k: ab\xe2\x82\xac");
    /* And carries no control character, wherever it came from. */
    json_rd_init(&rd, big, sizeof big);
    assert_int_equal(json_rd_fail(&rd, "k\n", "a\tb\x1b"), EINVAL);
    assert_string_equal(big, "k?: a?b?");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validator),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_scalars_in_object),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_top_level_array),
        cmocka_unit_test(test_value_ending_in_colon),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_big_doubles),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_max_depth),
        cmocka_unit_test(test_parse_document),
        cmocka_unit_test(test_parse_scalars),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_parse_strings),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_messages),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_parse_many_values),
        cmocka_unit_test(test_parse_truncated),
        cmocka_unit_test(test_parse_oom),
        cmocka_unit_test(test_write_value_round_trip),
        cmocka_unit_test(test_str_escaping_round_trip),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_rd_lookups),
        cmocka_unit_test(test_rd_prefixes),
        cmocka_unit_test(test_rd_quote),
        /* Last: under UBSan an out-of-bounds index ends the program. */
        cmocka_unit_test(test_too_deep),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
