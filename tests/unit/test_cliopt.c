/*
 * test_cliopt.c: unit tests for cliopt.c, getopt_long as ctflushd's two
 * command lines take it: whole names only, no "--" values, every error as
 * text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cliopt.h"

enum { O_ALPHA = 256, O_ALPHABET, O_BETA, O_FLAG, O_HELP = 'h' };

static const struct option opts[] = {
    { "alpha", required_argument, NULL, O_ALPHA },
    { "alphabet", required_argument, NULL, O_ALPHABET },
    { "beta", required_argument, NULL, O_BETA },
    { "flag", no_argument, NULL, O_FLAG },
    { "help", no_argument, NULL, O_HELP },
    { NULL, 0, NULL, 0 },
};

/* Runs a parse over args (NULL-terminated after "prog") and writes what it
 * saw into out: "name=value;" per option, "h;" for -h, then "END" or
 * "ERR:<reason>". */
static const char *
run(const char *first, ...)
{
    static char out[1024];
    char *argv[16] = { "prog" };
    int argc = 1;
    va_list ap;
    struct cliopt c;
    char err[256];
    size_t used = 0;
    int rc;

    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        argv[argc++] = (char *) a;
    }
    va_end(ap);
    char *copy[16];
    memcpy(copy, argv, sizeof copy);

    out[0] = '\0';
    cliopt_init(&c, argc, argv, opts, "h", " (see prog --help)");
    while ((rc = cliopt_next(&c, err, sizeof err)) > 0) {
        if (c.name) {
            used += (size_t) snprintf(out + used, sizeof out - used, "%s=%s;", c.name,
                                      c.value ? c.value : "(none)");
        } else {
            used += (size_t) snprintf(out + used, sizeof out - used, "%c;", rc);
        }
    }
    snprintf(out + used, sizeof out - used, "%s%s", rc == CLIOPT_END ? "END" : "ERR:",
             rc == CLIOPT_END ? "" : err);
    /* argv is never permuted. */
    assert_memory_equal(copy, argv, sizeof copy);
    return out;
}

#define RUN(...) run(__VA_ARGS__, (const char *) NULL)

static void
test_forms(void **state)
{
    (void) state;
    assert_string_equal(run(NULL), "END");
    assert_string_equal(RUN("--alpha", "1", "--beta=2", "--flag"),
                        "alpha=1;beta=2;flag=(none);END");
    assert_string_equal(RUN("--alpha="), "alpha=;END");
    assert_string_equal(RUN("--alpha=--odd"), "alpha=--odd;END");   /* '=' says it is meant. */
    assert_string_equal(RUN("--alpha", "-5"), "alpha=-5;END");      /* One dash is a value. */
    assert_string_equal(RUN("--alpha", "1", "--alpha", "2"), "alpha=1;alpha=2;END");
    assert_string_equal(RUN("-h"), "h;END");
    assert_string_equal(RUN("--help"), "help=(none);END");
    assert_string_equal(RUN("--alpha", "1", "--"), "alpha=1;END");
    /* An exact name that is also a prefix of another is itself. */
    assert_string_equal(RUN("--alpha", "x", "--alphabet", "y"), "alpha=x;alphabet=y;END");
}

static void
test_whole_names_only(void **state)
{
    (void) state;
    /* getopt_long alone would take these as "--alphabet" and "--beta". */
    assert_string_equal(RUN("--alphab", "1"), "ERR:unknown option '--alphab' (see prog --help)");
    assert_string_equal(RUN("--bet=1"), "ERR:unknown option '--bet' (see prog --help)");
    assert_string_equal(RUN("--fl"), "ERR:unknown option '--fl' (see prog --help)");
    assert_string_equal(RUN("--be"), "ERR:unknown option '--be' (see prog --help)");
    /* Ambiguous to getopt_long, unknown here. */
    assert_string_equal(RUN("--alph", "1"), "ERR:unknown option '--alph' (see prog --help)");
    assert_string_equal(RUN("--=1"), "ERR:unknown option '--' (see prog --help)");
    assert_string_equal(RUN("---alpha", "1"), "ERR:unknown option '---alpha' (see prog --help)");
    assert_string_equal(RUN("--nope"), "ERR:unknown option '--nope' (see prog --help)");
    assert_string_equal(RUN("-x"), "ERR:unknown option '-x' (see prog --help)");
    /* Options before the error are still reported. */
    assert_string_equal(RUN("--flag", "--nope"),
                        "flag=(none);ERR:unknown option '--nope' (see prog --help)");

    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[0] = longname[1] = '-';
    longname[sizeof longname - 1] = '\0';
    char want[300];
    snprintf(want, sizeof want, "ERR:unknown option '--%.64s' (see prog --help)",
             longname + 2);
    assert_string_equal(RUN(longname), want);
}

static void
test_values(void **state)
{
    (void) state;
    assert_string_equal(RUN("--alpha"), "ERR:option '--alpha' needs a value (--alpha=VALUE "
                                        "for one that starts with '--')");
    /* A forgotten value, not a value named "--beta". */
    assert_string_equal(RUN("--alpha", "--beta", "5"), "ERR:option '--alpha' needs a value "
                        "(--alpha=VALUE for one that starts with '--')");
    assert_string_equal(RUN("--alpha", "--"), "ERR:option '--alpha' needs a value "
                        "(--alpha=VALUE for one that starts with '--')");
    assert_string_equal(RUN("--flag=yes"), "ERR:option '--flag' takes no value");
    assert_string_equal(RUN("--help=1"), "ERR:option '--help' takes no value");
}

static void
test_operands(void **state)
{
    (void) state;
    assert_string_equal(RUN("stray"), "ERR:unexpected argument 'stray' (see prog --help)");
    assert_string_equal(RUN("--flag", "stray", "--alpha", "1"),
                        "flag=(none);ERR:unexpected argument 'stray' (see prog --help)");
    assert_string_equal(RUN("--", "--flag"),
                        "ERR:unexpected argument '--flag' (see prog --help)");
    assert_string_equal(RUN("-"), "ERR:unexpected argument '-' (see prog --help)");
    assert_string_equal(RUN(""), "ERR:unexpected argument '' (see prog --help)");
    assert_string_equal(RUN("--flag", ""),
                        "flag=(none);ERR:unexpected argument '' (see prog --help)");
}

/* A second parse starts afresh: getopt's state is reset by cliopt_init. */
static void
test_parse_twice(void **state)
{
    (void) state;
    assert_string_equal(RUN("--alpha", "1", "--nope"),
                        "alpha=1;ERR:unknown option '--nope' (see prog --help)");
    assert_string_equal(RUN("--beta", "2"), "beta=2;END");
    assert_string_equal(RUN("-hh"), "h;h;END");
    assert_string_equal(RUN("--flag"), "flag=(none);END");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_whole_names_only),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_operands),
        cmocka_unit_test(test_parse_twice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
