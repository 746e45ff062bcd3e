/*
 * test_num.c: unit tests for num.c, the one rule for integers from text:
 * what each spelling accepts, the exact reason of every refusal, and a
 * comparison against a model over many generated strings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

/* ---- Helpers. ---- */

static void
check_u64(const char *s, unsigned int flags, uint64_t min, uint64_t max, int want_rc,
          uint64_t want)
{
    uint64_t v = 4242;
    char err[256] = "untouched";
    int rc = num_parse_u64(s, flags, min, max, &v, err, sizeof err);

    if (rc != want_rc || (!rc && v != want)) {
        fail_msg("'%s' (flags %u, %" PRIu64 "..%" PRIu64 "): got %d/%" PRIu64
                 ", want %d/%" PRIu64, s ? s : "(null)", flags, min, max, rc, v, want_rc,
                 want);
    }
    if (rc) {
        assert_int_equal(v, 4242);      /* Untouched on error. */
        assert_string_not_equal(err, "untouched");
    } else {
        assert_string_equal(err, "untouched");
    }
}

static void
check_i64(const char *s, int64_t min, int64_t max, int want_rc, int64_t want)
{
    int64_t v = 4242;
    int rc = num_parse_i64(s, NUM_DEC, min, max, &v, NULL, 0);

    if (rc != want_rc || (!rc && v != want)) {
        fail_msg("'%s' (%" PRId64 "..%" PRId64 "): got %d/%" PRId64 ", want %d/%" PRId64,
                 s ? s : "(null)", min, max, rc, v, want_rc, want);
    }
    if (rc) {
        assert_int_equal(v, 4242);
    }
}

static const char *
reason_u64(const char *s, unsigned int flags, uint64_t min, uint64_t max)
{
    static char err[256];
    uint64_t v;

    err[0] = '\0';
    assert_int_not_equal(num_parse_u64(s, flags, min, max, &v, err, sizeof err), 0);
    return err;
}

/* ---- Decimal. ---- */

static void
test_decimal_accepts(void **state)
{
    (void) state;
    check_u64("0", NUM_DEC, 0, 65535, 0, 0);
    check_u64("7", NUM_DEC, 0, 65535, 0, 7);
    check_u64("10", NUM_DEC, 0, 65535, 0, 10);
    check_u64("65535", NUM_DEC, 0, 65535, 0, 65535);
    check_u64("18446744073709551615", NUM_DEC, 0, UINT64_MAX, 0, UINT64_MAX);
    check_u64("5", NUM_DEC, 5, 5, 0, 5);
}

static void
test_decimal_refuses(void **state)
{
    /* What strtoul/strtoull would have taken, one way or another. */
    static const char *const syntax[] = {
        "", "0x10", "0X10", "010", "00", "007", "+5", "-1", "-0", " 5", "5 ", "\t5", "5\n",
        "1e3", "5x", "x5", "1,000", "1_000", "1.0", "five", "0x", "-", "+",
    };

    (void) state;
    for (size_t i = 0; i < sizeof syntax / sizeof *syntax; i++) {
        check_u64(syntax[i], NUM_DEC, 0, UINT64_MAX, EINVAL, 0);
    }
    check_u64(NULL, NUM_DEC, 0, 10, EINVAL, 0);
    /* Outside the range, and past 64 bits: no wrap-around. */
    check_u64("65536", NUM_DEC, 0, 65535, ERANGE, 0);
    check_u64("4", NUM_DEC, 5, 10, ERANGE, 0);
    check_u64("0", NUM_DEC, 1, 10, ERANGE, 0);
    check_u64("18446744073709551616", NUM_DEC, 0, UINT64_MAX, ERANGE, 0);
    check_u64("4294967301", NUM_DEC, 0, UINT16_MAX, ERANGE, 0);   /* 2^32 + 5. */
    check_u64("99999999999999999999999999", NUM_DEC, 0, UINT64_MAX, ERANGE, 0);
}

static void
test_decimal_or_zero(void **state)
{
    (void) state;
    check_u64("0", NUM_OR_ZERO, 4096, 1048576, 0, 0);
    check_u64("4096", NUM_OR_ZERO, 4096, 1048576, 0, 4096);
    check_u64("4095", NUM_OR_ZERO, 4096, 1048576, ERANGE, 0);
    check_u64("1", NUM_OR_ZERO, 4096, 1048576, ERANGE, 0);
    check_u64("00", NUM_OR_ZERO, 4096, 1048576, EINVAL, 0);
    assert_string_equal(reason_u64("4095", NUM_OR_ZERO, 4096, 1048576),
                        "'4095' is not 0 or a decimal number from 4096 to 1048576");
}

/* The same words for every way of being wrong, so that the config file,
 * the command lines and the watcher read alike. */
static void
test_decimal_reason(void **state)
{
    static const char *const bad[] = { "0x10", "010", "+5", " 5", "5 ", "65536", "-1" };
    char want[128];

    (void) state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(want, sizeof want, "'%s' is not a decimal number from 0 to 65535", bad[i]);
        assert_string_equal(reason_u64(bad[i], NUM_DEC, 0, 65535), want);
    }
    /* A range that is the whole type is not spelt out. */
    assert_string_equal(reason_u64("x", NUM_DEC, 0, UINT64_MAX), "'x' is not a decimal number");
    assert_string_equal(reason_u64("0", NUM_DEC, 1, UINT64_MAX),
                        "'0' is not a decimal number from 1 to 18446744073709551615");
    assert_string_equal(reason_u64(NULL, NUM_DEC, 0, 9), "'' is not a decimal number from 0 "
                        "to 9");
}

/* What the reason quotes is bounded and printable. */
static void
test_reason_echo(void **state)
{
    char long_text[200], want[200];
    uint64_t v;
    char small[8];

    (void) state;
    assert_string_equal(reason_u64("\033[2J", NUM_DEC, 0, 9),
                        "'?[2J' is not a decimal number from 0 to 9");
    assert_string_equal(reason_u64("caf\xc3\xa9", NUM_DEC, 0, 9),
                        "'caf?" "?' is not a decimal number from 0 to 9");
    memset(long_text, '7', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    snprintf(want, sizeof want, "'%.64s...' is not a decimal number from 0 to 9", long_text);
    assert_string_equal(reason_u64(long_text, NUM_DEC, 0, 9), want);

    /* A short buffer is cut, never overrun; no buffer is fine too. */
    memset(small, 'X', sizeof small);
    assert_int_equal(num_parse_u64("x", NUM_DEC, 0, 9, &v, small, sizeof small), EINVAL);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(num_parse_u64("x", NUM_DEC, 0, 9, &v, NULL, 0), EINVAL);
    assert_int_equal(num_parse_u64("x", NUM_DEC, 0, 9, &v, small, 0), EINVAL);
}

/* ---- Hex beside decimal (marks). ---- */

static void
test_hex(void **state)
{
    (void) state;
    check_u64("0x10", NUM_HEX, 0, UINT32_MAX, 0, 16);
    check_u64("0X10", NUM_HEX, 0, UINT32_MAX, 0, 16);
    check_u64("0xfF", NUM_HEX, 0, UINT32_MAX, 0, 255);
    check_u64("0x0000ff00", NUM_HEX, 0, UINT32_MAX, 0, 0xff00);   /* Zeros after 0x: fine. */
    check_u64("0xffffffff", NUM_HEX, 0, UINT32_MAX, 0, UINT32_MAX);
    check_u64("16", NUM_HEX, 0, UINT32_MAX, 0, 16);
    check_u64("0", NUM_HEX, 0, UINT32_MAX, 0, 0);
    check_u64("0x0", NUM_HEX, 0, UINT32_MAX, 0, 0);
    check_u64("010", NUM_HEX, 0, UINT32_MAX, EINVAL, 0);      /* Still no octal. */
    check_u64("0x", NUM_HEX, 0, UINT32_MAX, EINVAL, 0);
    check_u64("0x1g", NUM_HEX, 0, UINT32_MAX, EINVAL, 0);
    check_u64("0x-1", NUM_HEX, 0, UINT32_MAX, EINVAL, 0);
    check_u64("0x 1", NUM_HEX, 0, UINT32_MAX, EINVAL, 0);
    check_u64("x10", NUM_HEX, 0, UINT32_MAX, EINVAL, 0);
    check_u64("ff", NUM_HEX, 0, UINT32_MAX, EINVAL, 0);
    check_u64("0x100000000", NUM_HEX, 0, UINT32_MAX, ERANGE, 0);
    check_u64("0x10000000000000000", NUM_HEX, 0, UINT64_MAX, ERANGE, 0);
    check_u64("0x10", NUM_DEC, 0, UINT32_MAX, EINVAL, 0);     /* Only where asked. */
    assert_string_equal(reason_u64("0x1g", NUM_HEX, 0, UINT32_MAX),
                        "'0x1g' is not a decimal or 0x hex number from 0 to 0xffffffff");
}

/* ---- Octal (file modes). ---- */

static void
test_octal(void **state)
{
    (void) state;
    check_u64("0660", NUM_OCT, 0, 0777, 0, 0660);
    check_u64("660", NUM_OCT, 0, 0777, 0, 0660);
    check_u64("0", NUM_OCT, 0, 0777, 0, 0);
    check_u64("000", NUM_OCT, 0, 0777, 0, 0);
    check_u64("0000", NUM_OCT, 0, 0777, 0, 0);
    check_u64("777", NUM_OCT, 0, 0777, 0, 0777);
    check_u64("00660", NUM_OCT, 0, 0777, EINVAL, 0);  /* One digit more than 0777 needs. */
    check_u64("1777", NUM_OCT, 0, 0777, ERANGE, 0);
    check_u64("0668", NUM_OCT, 0, 0777, EINVAL, 0);
    check_u64("0x1a4", NUM_OCT, 0, 0777, EINVAL, 0);
    check_u64("", NUM_OCT, 0, 0777, EINVAL, 0);
    check_u64("-1", NUM_OCT, 0, 0777, EINVAL, 0);
    check_u64("+660", NUM_OCT, 0, 0777, EINVAL, 0);
    check_u64(" 660", NUM_OCT, 0, 0777, EINVAL, 0);
    assert_string_equal(reason_u64("0668", NUM_OCT, 0, 0777),
                        "'0668' is not an octal number from 0 to 0777");
}

/* ---- Signed. ---- */

static void
test_signed(void **state)
{
    char err[256];
    int64_t v;

    (void) state;
    check_i64("-20", -20, 19, 0, -20);
    check_i64("19", -20, 19, 0, 19);
    check_i64("0", -20, 19, 0, 0);
    check_i64("-21", -20, 19, ERANGE, 0);
    check_i64("20", -20, 19, ERANGE, 0);
    check_i64("-0", -20, 19, EINVAL, 0);
    check_i64("-05", -20, 19, EINVAL, 0);
    check_i64("--1", -20, 19, EINVAL, 0);
    check_i64("-", -20, 19, EINVAL, 0);
    check_i64("+1", -20, 19, EINVAL, 0);
    check_i64("- 1", -20, 19, EINVAL, 0);
    check_i64("-1", 0, 19, EINVAL, 0);          /* No '-' where no negatives are. */
    check_i64("-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN);
    check_i64("9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX);
    check_i64("-9223372036854775809", INT64_MIN, INT64_MAX, ERANGE, 0);
    check_i64("9223372036854775808", INT64_MIN, INT64_MAX, ERANGE, 0);
    check_i64("-5", -10, -2, 0, -5);
    check_i64("-1", -10, -2, ERANGE, 0);
    check_i64("1", 5, 1, EINVAL, 0);            /* An empty range takes nothing. */

    assert_int_equal(num_parse_i64("-21", NUM_DEC, -20, 19, &v, err, sizeof err), ERANGE);
    assert_string_equal(err, "'-21' is not a decimal number from -20 to 19");
    assert_int_equal(num_parse_i64("-1", NUM_DEC, -10, -2, &v, err, sizeof err), ERANGE);
    assert_string_equal(err, "'-1' is not a decimal number from -10 to -2");
    assert_int_equal(num_parse_i64("x", NUM_DEC, INT64_MIN, INT64_MAX, &v, err, sizeof err),
                     EINVAL);
    assert_string_equal(err, "'x' is not a decimal number");
}

/* ---- Against a model. ---- */

/* The rule written out the slow way: all digits, no leading zero, and the
 * value (computed with a wide type) within the range. */
static int
model_u64(const char *s, uint64_t max, uint64_t *out)
{
    size_t n = strlen(s);
    unsigned __int128 v = 0;

    if (!n || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0')) {
        return EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (unsigned) (s[i] - '0');
        if (v > (unsigned __int128) UINT64_MAX) {
            return ERANGE;
        }
    }
    if (v > max) {
        return ERANGE;
    }
    *out = (uint64_t) v;
    return 0;
}

static void
test_against_model(void **state)
{
    static const char alphabet[] = "0123456789 +-xX\tae9";
    static const uint64_t maxes[] = { 0, 9, 65535, UINT32_MAX, UINT64_MAX };
    unsigned int seed = 12345;
    char s[32];

    (void) state;
    /* Every value a zone can take, and a little past, round-trips. */
    for (uint64_t i = 0; i <= 70000; i++) {
        uint64_t v;
        snprintf(s, sizeof s, "%" PRIu64, i);
        assert_int_equal(num_parse_u64(s, NUM_DEC, 0, 65535, &v, NULL, 0),
                         i <= 65535 ? 0 : ERANGE);
        assert_true(i > 65535 || v == i);
    }
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = (size_t) (rand_r(&seed) % 24);
        uint64_t max = maxes[rand_r(&seed) % (sizeof maxes / sizeof *maxes)];
        uint64_t got = 0, want = 0;

        for (size_t i = 0; i < n; i++) {
            s[i] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
        }
        s[n] = '\0';
        int rc = num_parse_u64(s, NUM_DEC, 0, max, &got, NULL, 0);
        int wrc = model_u64(s, max, &want);
        if (rc != wrc || (!rc && got != want)) {
            fail_msg("'%s' max %" PRIu64 ": got %d/%" PRIu64 ", model %d/%" PRIu64, s, max,
                     rc, got, wrc, want);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_accepts),
        cmocka_unit_test(test_decimal_refuses),
        cmocka_unit_test(test_decimal_or_zero),
        cmocka_unit_test(test_decimal_reason),
        cmocka_unit_test(test_reason_echo),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_octal),
        cmocka_unit_test(test_signed),
        cmocka_unit_test(test_against_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
