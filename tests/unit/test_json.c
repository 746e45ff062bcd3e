/*
 * test_json.c: unit tests for json.c (the JSON writer and the parser).
 *
 * Every writer output is compared with the exact expected text and also run
 * through a small strict JSON validator (RFC 8259 grammar). Parser inputs
 * that must be refused are fed from exact-sized heap copies, so a read past
 * the end shows under valgrind and ASan.
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
    json_null(&j);
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
    json_null(&j);
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
    json_null(&j);
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

/* ---- Parser. ---- */

/* Parses text (its strlen) that must be valid; fails the test otherwise. */
static struct json_value *
parse_ok(const char *text)
{
    struct json_value *v = NULL;
    char err[160];
    int rc = json_parse(text, strlen(text), &v, err, sizeof err);

    if (rc || !v) {
        fail_msg("refused %s: %d %s", text, rc, err);
    }
    return v;
}

/* Parses len bytes from an exact-sized heap copy, so that a read past the
 * end shows under valgrind and ASan; returns the error, with the message in
 * err. */
static int
parse_exact(const char *text, size_t len, struct json_value **out, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);

    assert_non_null(copy);
    memcpy(copy, text, len);
    int rc = json_parse(copy, len, out, err, errlen);
    free(copy);
    return rc;
}

/* text must be refused with the given error, and say so with an offset. */
static void
expect_refused(const char *text, size_t len, int want)
{
    struct json_value *v = (struct json_value *) &v;    /* Not NULL. */
    char err[160] = "";
    int rc = parse_exact(text, len, &v, err, sizeof err);

    if (rc != want) {
        fail_msg("%.*s: got %d (%s), want %d", (int) (len > 60 ? 60 : len), text, rc,
                 err, want);
    }
    if (v) {
        fail_msg("%.*s: refused but *out was set", (int) (len > 60 ? 60 : len), text);
    }
    if (strncmp(err, "offset ", 7)) {
        fail_msg("%.*s: error text '%s' has no offset", (int) (len > 60 ? 60 : len),
                 text, err);
    }
}

/* Parses text and writes it back out; the result must be want. */
static void
expect_rewrite(const char *text, const char *want)
{
    struct json_value *v = parse_ok(text);
    struct json_out j;

    json_init(&j);
    json_write_value(&j, v);
    assert_non_null(json_text(&j));
    if (strcmp(json_text(&j), want)) {
        fail_msg("%s rewritten as %s, want %s", text, json_text(&j), want);
    }
    json_destroy(&j);
    json_value_free(v);
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
    struct json_value *v = parse_ok(doc);
    const struct json_value *x;
    uint64_t u = 0;
    bool b = true;

    assert_int_equal(v->type, JSON_T_OBJECT);
    assert_int_equal(v->u.obj.n, 9);
    /* Members keep input order. */
    assert_string_equal(v->u.obj.items[0].key, "cmd");
    assert_string_equal(v->u.obj.items[8].key, "empty_o");

    assert_string_equal(json_get_string(v, "cmd"), "flush");
    assert_true(json_get_uint(v, "id", &u));
    assert_true(u == 42);

    x = json_get(v, "local");
    assert_non_null(x);
    assert_int_equal(x->type, JSON_T_ARRAY);
    assert_int_equal(x->u.arr.n, 2);
    assert_int_equal(x->u.arr.items[1].type, JSON_T_STRING);
    assert_string_equal(x->u.arr.items[1].u.str.s, "fd00::1");
    assert_int_equal(x->u.arr.items[1].u.str.len, 7);

    x = json_get(v, "zone");
    assert_true(json_get_uint(x, "id", &u));
    assert_true(u == 7);
    assert_true(json_get_bool(x, "default", &b));
    assert_false(b);
    assert_true(json_get_bool(v, "dry_run", &b));
    assert_true(b);

    x = json_get(v, "rate");
    assert_int_equal(x->type, JSON_T_NUMBER);
    assert_false(x->u.num.is_uint);
    assert_true(x->u.num.d == -1500.0);
    assert_int_equal(json_get(v, "note")->type, JSON_T_NULL);
    assert_int_equal(json_get(v, "empty_a")->u.arr.n, 0);
    assert_int_equal(json_get(v, "empty_o")->type, JSON_T_OBJECT);
    assert_int_equal(json_get(v, "empty_o")->u.obj.n, 0);

    /* Typed lookups say no to the wrong type or a missing key, and leave
     * the output alone. */
    u = 99;
    b = true;
    assert_null(json_get_string(v, "id"));
    assert_null(json_get_string(v, "nope"));
    assert_false(json_get_uint(v, "cmd", &u));
    assert_false(json_get_uint(v, "rate", &u));        /* Not an integer. */
    assert_false(json_get_uint(v, "nope", &u));
    assert_false(json_get_bool(v, "note", &b));
    assert_false(json_get_bool(v, "id", &b));
    assert_true(u == 99 && b);
    assert_null(json_get(v, "Cmd"));                    /* Case matters. */
    assert_null(json_get(v, NULL));
    assert_null(json_get(NULL, "cmd"));
    assert_null(json_get(json_get(v, "local"), "cmd"));  /* Not an object. */
    assert_null(json_get_string(NULL, "cmd"));
    json_value_free(v);
    json_value_free(NULL);
}

static void
test_parse_scalars(void **state)
{
    struct json_value *v;

    v = parse_ok("null");
    assert_int_equal(v->type, JSON_T_NULL);
    json_value_free(v);
    v = parse_ok(" true ");
    assert_int_equal(v->type, JSON_T_BOOL);
    assert_true(v->u.b);
    json_value_free(v);
    v = parse_ok("false");
    assert_false(v->u.b);
    json_value_free(v);
    v = parse_ok("\"\"");
    assert_int_equal(v->type, JSON_T_STRING);
    assert_string_equal(v->u.str.s, "");
    assert_int_equal(v->u.str.len, 0);
    json_value_free(v);
    v = parse_ok("\n\r\t 0 \n");
    assert_int_equal(v->type, JSON_T_NUMBER);
    assert_true(v->u.num.is_uint);
    assert_true(v->u.num.u == 0);
    json_value_free(v);

    /* The input need not be NUL-terminated: only len bytes are read. */
    const char text[] = { '[', '1', ',', '2', ']', 'x', 'y' };
    assert_int_equal(parse_exact(text, 5, &v, NULL, 0), 0);
    assert_int_equal(v->u.arr.n, 2);
    json_value_free(v);
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
        bool is_uint;
        uint64_t u;
        double d;
    } cases[] = {
        { "0", true, 0, 0.0 },
        { "7", true, 7, 7.0 },
        { "4294967296", true, 4294967296ULL, 4294967296.0 },
        { "18446744073709551615", true, UINT64_MAX, 18446744073709551615.0 },
        { "18446744073709551616", false, 0, 18446744073709551616.0 },
        { "99999999999999999999999", false, 0, 99999999999999999999999.0 },
        { "-0", false, 0, -0.0 },
        { "-1", false, 0, -1.0 },
        { "-9223372036854775808", false, 0, -9223372036854775808.0 },
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
        struct json_value *v = parse_ok(cases[i].text);
        assert_int_equal(v->type, JSON_T_NUMBER);
        if (v->u.num.is_uint != cases[i].is_uint
            || (cases[i].is_uint && v->u.num.u != cases[i].u)
            || v->u.num.d != cases[i].d) {
            fail_msg("%s: is_uint %d u %llu d %.17g", cases[i].text, v->u.num.is_uint,
                     (unsigned long long) v->u.num.u, v->u.num.d);
        }
        json_value_free(v);
    }
    struct json_value *v = parse_ok("-0");
    assert_true(signbit(v->u.num.d));
    json_value_free(v);

    /* A long literal is fine up to the bound. */
    char num[600] = "0.";
    memset(num + 2, '0', 500);
    strcpy(num + 502, "1");
    v = parse_ok(num);
    assert_true(v->u.num.d == 0.0 || v->u.num.d < 1e-300);
    json_value_free(v);
    memset(num + 2, '0', 590);
    strcpy(num + 592, "1");
    expect_refused(num, strlen(num), E2BIG);

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
        struct json_value *v = parse_ok(cases[i].text);
        assert_int_equal(v->type, JSON_T_STRING);
        if (v->u.str.len != cases[i].len || strlen(v->u.str.s) != cases[i].len
            || memcmp(v->u.str.s, cases[i].want, cases[i].len)) {
            fail_msg("case %zu: %s decoded wrongly", i, cases[i].text);
        }
        json_value_free(v);
    }

    /* The length limit, on decoded bytes. */
    size_t n = JSON_MAX_STRING;
    char *s = malloc(n + 3);
    assert_non_null(s);
    s[0] = '"';
    memset(s + 1, 'a', n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    struct json_value *v = parse_ok(s);
    assert_int_equal(v->u.str.len, n);
    json_value_free(v);
    free(s);

    s = malloc(n + 4);
    assert_non_null(s);
    s[0] = '"';
    memset(s + 1, 'a', n + 1);
    s[n + 2] = '"';
    s[n + 3] = '\0';
    expect_refused(s, n + 3, E2BIG);
    /* As a key too. */
    s[n + 2] = '\0';
    char *k = malloc(n + 10);
    assert_non_null(k);
    snprintf(k, n + 10, "{%s\":1}", s);
    expect_refused(k, strlen(k), E2BIG);
    free(k);
    free(s);

    /* Escapes shrink: six characters of \u0041 decode to one byte, so a
     * source longer than the limit can still be within it. */
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
    assert_int_equal(v->u.str.len, esc);
    json_value_free(v);
    free(s);
}

static void
test_parse_malformed(void **state)
{
    static const struct {
        const char *text;
        int err;
    } cases[] = {
        /* Empty, or not a value. */
        { "", EINVAL }, { "   ", EINVAL }, { "\n", EINVAL },
        { "]", EINVAL }, { "}", EINVAL }, { ",", EINVAL }, { ":", EINVAL },
        { "'a'", EINVAL }, { "undefined", EINVAL }, { "/* c */ 1", EINVAL },
        { "\xef\xbb\xbf{}", EINVAL },                       /* A BOM. */
        /* Unfinished. */
        { "[", EINVAL }, { "{", EINVAL }, { "[1", EINVAL }, { "[1,", EINVAL },
        { "{\"a\"", EINVAL }, { "{\"a\":", EINVAL }, { "{\"a\":1", EINVAL },
        { "\"abc", EINVAL }, { "\"abc\\", EINVAL }, { "\"\\\"", EINVAL },
        /* Trailing commas and missing separators. */
        { "[1,]", EINVAL }, { "[1,\n ]", EINVAL }, { "{\"a\":1,}", EINVAL },
        { "[,1]", EINVAL }, { "[,]", EINVAL }, { "{,}", EINVAL }, { "[1,,2]", EINVAL },
        { "[1 2]", EINVAL }, { "{\"a\" 1}", EINVAL }, { "{\"a\":1 \"b\":2}", EINVAL },
        { "{\"a\":}", EINVAL }, { "{\"a\"::1}", EINVAL }, { "{1:1}", EINVAL },
        { "{a:1}", EINVAL }, { "{null:1}", EINVAL }, { "[1:2]", EINVAL },
        /* Trailing garbage. */
        { "[1]]", EINVAL }, { "[1] x", EINVAL }, { "{} {}", EINVAL }, { "1 2", EINVAL },
        { "truex", EINVAL }, { "nullnull", EINVAL }, { "\"a\"\"b\"", EINVAL },
        { "0x10", EINVAL }, { "1.5.5", EINVAL }, { "[1]\n,", EINVAL },
        /* Literals. */
        { "nul", EINVAL }, { "tru", EINVAL }, { "True", EINVAL }, { "NULL", EINVAL },
        { "fals", EINVAL },
        /* Numbers. */
        { "01", EINVAL }, { "-01", EINVAL }, { "00", EINVAL }, { "[007]", EINVAL },
        { "1.", EINVAL }, { "1.e5", EINVAL }, { ".5", EINVAL }, { "-.5", EINVAL },
        { "-", EINVAL }, { "+1", EINVAL }, { "1e", EINVAL }, { "1e+", EINVAL },
        { "1E-", EINVAL }, { "--1", EINVAL }, { "- 1", EINVAL },
        { "NaN", EINVAL }, { "nan", EINVAL }, { "Infinity", EINVAL },
        { "-Infinity", EINVAL }, { "[Infinity]", EINVAL }, { "inf", EINVAL },
        /* Escapes. */
        { "\"\\x\"", EINVAL }, { "\"\\a\"", EINVAL }, { "\"\\U0041\"", EINVAL },
        { "\"\\'\"", EINVAL }, { "\"\\u12\"", EINVAL }, { "\"\\u00zz\"", EINVAL },
        { "\"\\u-123\"", EINVAL }, { "\"\\u 123\"", EINVAL },
        { "\"\\u0000\"", EINVAL }, { "\"a\\u0000b\"", EINVAL },
        /* Surrogates. */
        { "\"\\ud800\"", EINVAL }, { "\"\\udbff\"", EINVAL }, { "\"\\udc00\"", EINVAL },
        { "\"\\udfff\"", EINVAL }, { "\"\\ud800\\u0041\"", EINVAL },
        { "\"\\ud800\\ud800\"", EINVAL }, { "\"\\ude00\\ud83d\"", EINVAL },
        { "\"\\ud800x\"", EINVAL }, { "\"\\ud800\\\"", EINVAL }, { "\"\\ud800\\n\"", EINVAL },
        /* Raw control characters. */
        { "\"a\nb\"", EINVAL }, { "\"a\tb\"", EINVAL }, { "\"\r\"", EINVAL },
        { "\"\x01\"", EINVAL }, { "\"\x1f\"", EINVAL },
        /* Invalid UTF-8. */
        { "\"\x80\"", EINVAL }, { "\"\xbf\"", EINVAL }, { "\"\xc0\xaf\"", EINVAL },
        { "\"\xc1\xbf\"", EINVAL }, { "\"\xe0\x80\xaf\"", EINVAL },
        { "\"\xe0\x9f\xbf\"", EINVAL }, { "\"\xf0\x80\x80\xaf\"", EINVAL },
        { "\"\xf0\x8f\xbf\xbf\"", EINVAL }, { "\"\xed\xa0\x80\"", EINVAL },
        { "\"\xed\xbf\xbf\"", EINVAL }, { "\"\xf4\x90\x80\x80\"", EINVAL },
        { "\"\xf5\x80\x80\x80\"", EINVAL }, { "\"\xf8\x88\x80\x80\x80\"", EINVAL },
        { "\"\xfe\"", EINVAL }, { "\"\xff\"", EINVAL }, { "\"\xe2\x82\"", EINVAL },
        { "\"\xe2\x82x\"", EINVAL }, { "\"\xc3\"", EINVAL }, { "\"\xf0\x9f\x98\"", EINVAL },
        { "\"\xc3\xa9\xa9\"", EINVAL }, { "\xc3\xa9", EINVAL },
        /* Duplicate keys, at any size of object. */
        { "{\"a\":1,\"a\":2}", EINVAL }, { "{\"a\":1,\"b\":2,\"a\":1}", EINVAL },
        { "{\"x\":{\"a\":1,\"a\":1}}", EINVAL }, { "[{\"k\":1,\"k\":[]}]", EINVAL },
        { "{\"\\u0061\":1,\"a\":2}", EINVAL },              /* Equal once decoded. */
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        expect_refused(cases[i].text, strlen(cases[i].text), cases[i].err);
    }

    /* NUL bytes: in a string, between tokens, after the value. */
    expect_refused("\"a\0b\"", 5, EINVAL);
    expect_refused("[1,\0 2]", 7, EINVAL);
    expect_refused("{}\0", 3, EINVAL);
    expect_refused("\0", 1, EINVAL);

    /* Keys that only look alike are distinct. */
    struct json_value *v = parse_ok("{\"a\":1,\"A\":2,\"a \":3,\"\":4,\"\xc3\xa9\":5,\"e\":6}");
    assert_int_equal(v->u.obj.n, 6);
    json_value_free(v);

    /* No input at all. */
    char err[64];
    assert_int_equal(json_parse(NULL, 0, &v, err, sizeof err), EINVAL);
    assert_null(v);
}

static void
test_parse_error_offsets(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        { "", "offset 0: " },
        { "  x", "offset 2: unexpected character 'x'" },
        { "[1,]", "offset 3: trailing comma" },
        { "{\"a\":1,}", "offset 7: trailing comma" },
        { "[1 2]", "offset 3: unexpected character '2'" },
        { "{\"a\":1,\"b\":2,\"a\":3}", "offset 13: duplicate key \"a\"" },
        { "{\"b\":1,\"a\":2,\"a\":3,\"b\":4}", "offset 13: duplicate key \"a\"" },
        { "[01]", "offset 1: leading zero" },
        { "\"ab\ncd\"", "offset 3: control character 0x0a" },
        { "[\"\\ud800\"]", "offset 2: lone high surrogate" },
        { "\"a\xff\"", "offset 2: invalid UTF-8" },
        { "[1] x", "offset 4: unexpected character 'x'" },
        { "[1]\x80", "offset 3: unexpected byte 0x80" },
        { "[\"abc", "offset 1: unterminated string" },
        { "nul", "offset 0: invalid literal" },
        { "1.x", "offset 2: digit expected after '.'" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct json_value *v;
        char err[160] = "";

        assert_int_not_equal(json_parse(cases[i].text, strlen(cases[i].text), &v, err,
                                        sizeof err), 0);
        if (strncmp(err, cases[i].want, strlen(cases[i].want))) {
            fail_msg("%s: error '%s', want '%s...'", cases[i].text, err, cases[i].want);
        }
    }
}

/* n arrays nested, with a 1 in the innermost. */
static char *
nested(unsigned int n, char open, char close)
{
    char *s = malloc(2 * n + 16);

    assert_non_null(s);
    size_t k = 0;
    for (unsigned int i = 0; i < n; i++) {
        s[k++] = open;
        if (open == '{') {
            memcpy(s + k, "\"k\":", 4);
            k += 4;
            s = realloc(s, 2 * n + 16 + 4 * (i + 1));
            assert_non_null(s);
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
    struct json_value *v = parse_ok(s);
    const struct json_value *x = v;
    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        assert_int_equal(x->type, JSON_T_ARRAY);
        x = &x->u.arr.items[0];
    }
    assert_true(x->u.num.u == 1);
    json_value_free(v);
    free(s);
    s = nested(JSON_MAX_DEPTH, '{', '}');
    v = parse_ok(s);
    json_value_free(v);
    free(s);

    /* One more is refused. */
    s = nested(JSON_MAX_DEPTH + 1, '[', ']');
    expect_refused(s, strlen(s), E2BIG);
    free(s);
    s = nested(JSON_MAX_DEPTH + 1, '{', '}');
    expect_refused(s, strlen(s), E2BIG);
    free(s);

    /* Mixed, refused at the seventeenth opening bracket. */
    char mixed[128] = "";
    for (int i = 0; i <= JSON_MAX_DEPTH; i++) {
        strcat(mixed, i % 2 ? "{\"a\":" : "[");
    }
    struct json_value *out;
    char err[160];
    assert_int_equal(json_parse(mixed, strlen(mixed), &out, err, sizeof err), E2BIG);
    char want[64];
    snprintf(want, sizeof want, "offset %zu: nested deeper", strlen(mixed) - 1);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);

    /* Very deep input, only opened: refused without recursing into it. */
    size_t deep = 1000000;
    s = malloc(deep + 1);
    assert_non_null(s);
    memset(s, '[', deep);
    s[deep] = '\0';
    expect_refused(s, deep, E2BIG);
    free(s);
}

static void
test_parse_node_limit(void **state)
{
    /* "[0,0,...]": the array and its items are all values. */
    size_t items = JSON_MAX_NODES - 1;
    char *s = malloc(2 * (items + 1) + 2);
    struct json_value *v;
    char err[160];

    assert_non_null(s);
    s[0] = '[';
    for (size_t i = 0; i < items; i++) {
        s[1 + 2 * i] = '0';
        s[2 + 2 * i] = ',';
    }
    s[2 * items] = ']';
    assert_int_equal(json_parse(s, 2 * items + 1, &v, err, sizeof err), 0);
    assert_int_equal(v->u.arr.n, items);
    json_value_free(v);

    /* One value more. */
    s[2 * items] = ',';
    s[2 * items + 1] = '0';
    s[2 * items + 2] = ']';
    expect_refused(s, 2 * items + 3, E2BIG);
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
    struct json_value *v;
    char err[160];

    for (size_t n = 0; n < len; n++) {
        if (!parse_exact(doc, n, &v, err, sizeof err)) {
            fail_msg("prefix of %zu bytes accepted", n);
        }
    }
    assert_int_equal(parse_exact(doc, len, &v, err, sizeof err), 0);
    json_value_free(v);

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
                json_value_free(v);
            }
        }
    }
    free(copy);
}

static void
test_write_value_round_trip(void **state)
{
    expect_rewrite(" { \"a\" : [ 1 , 2 ] , \"b\" : { } , \"c\" : [ ] } ",
                   "{\"a\":[1,2],\"b\":{},\"c\":[]}");
    expect_rewrite("[null,true,false,\"s\",0,18446744073709551615]",
                   "[null,true,false,\"s\",0,18446744073709551615]");
    /* Numbers come back as the same double, not json_double's three
     * decimals. */
    expect_rewrite("[0.1,-2.5e-7,1e300,-5,3.0,1E2,-0,0.0001,123.456,"
                   "18446744073709551616]",
                   "[0.1,-2.5e-07,1e+300,-5,3,100,-0,0.0001,123.456,"
                   "1.8446744073709552e+19]");
    /* Escapes: written back in the writer's form. */
    expect_rewrite("\"\\u0041\\/\\b\\f\\u001F\\u00e9\\ud83d\\ude00\"",
                   "\"A/\\u0008\\u000c\\u001f\xc3\xa9\xf0\x9f\x98\x80\"");

    /* Parse, write, parse again: the same tree and the same text. */
    const char *doc = "{\"jobs\":[{\"id\":1,\"local\":[\"10.0.0.1\",\"fd00::1\"],"
                      "\"rate\":0.3333333333333333,\"stats\":{\"n\":[[],[[{}]]]}}],"
                      "\"k\\\"q\\\\\":\"tab\\there\",\"big\":1.7976931348623157e308}";
    struct json_value *v1 = parse_ok(doc);
    struct json_out j1, j2;
    json_init(&j1);
    json_write_value(&j1, v1);
    assert_non_null(json_text(&j1));
    assert_true(json_valid(json_text(&j1)));
    struct json_value *v2 = parse_ok(json_text(&j1));
    json_init(&j2);
    json_write_value(&j2, v2);
    assert_string_equal(json_text(&j1), json_text(&j2));
    assert_true(json_get(v2, "big")->u.num.d == DBL_MAX);
    assert_true(json_get(json_get(v2, "jobs")->u.arr.items, "rate")->u.num.d == 1.0 / 3.0);
    assert_string_equal(json_get_string(v2, "k\"q\\"), "tab\there");
    json_destroy(&j1);
    json_destroy(&j2);
    json_value_free(v1);
    json_value_free(v2);

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

    struct json_value *v = parse_ok(json_text(&j));
    assert_int_equal(v->u.obj.n, 3);
    assert_string_equal(v->u.obj.items[0].key, all);
    assert_string_equal(json_get_string(v, all), all);
    assert_int_equal(json_get(v, all)->u.str.len, k);
    assert_string_equal(json_get_string(v, "\""), "\\");
    assert_string_equal(json_get_string(v, ""), "");
    json_value_free(v);
    json_destroy(&j);

    /* Each control character alone, with text around it. */
    for (int c = 1; c < 0x20; c++) {
        char in[8] = { 'a', (char) c, 'b', '\0' };
        json_init(&j);
        json_str(&j, in);
        v = parse_ok(json_text(&j));
        assert_string_equal(v->u.str.s, in);
        json_value_free(v);
        json_destroy(&j);
    }
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
        cmocka_unit_test(test_parse_error_offsets),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_parse_node_limit),
        cmocka_unit_test(test_parse_truncated),
        cmocka_unit_test(test_write_value_round_trip),
        cmocka_unit_test(test_str_escaping_round_trip),
        /* Last: under UBSan an out-of-bounds index ends the program. */
        cmocka_unit_test(test_too_deep),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
