/*
 * test_json.c: unit tests for json.c (the JSON writer).
 *
 * Every output is compared with the exact expected text and also run
 * through a small strict JSON validator (RFC 8259 grammar).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

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
    json_object_end(&j);
    expect_json(&j, "{\"u\":42,\"umax\":18446744073709551615,\"i\":-7,"
                    "\"imin\":-9223372036854775808,\"s\":\"x\",\"null_s\":\"\","
                    "\"t\":true,\"f\":false,\"n\":null,\"d\":1.500}");
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
        /* Last: under UBSan an out-of-bounds index ends the program. */
        cmocka_unit_test(test_too_deep),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
