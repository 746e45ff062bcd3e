/*
 * test_oneshotargs.c: unit tests for oneshotargs.c, `ctflushd --oneshot`'s
 * command line: every option into the job and the engine options, the
 * shared number, zone and mark rules with their exact messages, and the
 * usage text's columns. No root needed: nothing runs.
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

#include "oneshotargs.h"

static struct oneshot_args A;
static char ERR[512];

static int
vparse(va_list ap)
{
    char *argv[32] = { "ctflushd", "--oneshot" };
    int argc = 2;

    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *)) {
        assert_true(argc < 31);
        argv[argc++] = (char *) a;
    }
    oneshot_args_destroy(&A);
    oneshot_args_init(&A);
    ERR[0] = '\0';
    return oneshot_args_parse(&A, argc, argv, ERR, sizeof ERR);
}

static int
parse(int dummy, ...)
{
    va_list ap;
    int rc;

    va_start(ap, dummy);
    rc = vparse(ap);
    va_end(ap);
    return rc;
}

#define PARSE(...) parse(0, __VA_ARGS__, (const char *) NULL)

/* Expects a usage error with exactly this message. */
#define BAD(want, ...) do { \
        assert_int_not_equal(PARSE(__VA_ARGS__), 0); \
        assert_string_equal(ERR, want); \
    } while (0)

static int
teardown(void **state)
{
    (void) state;
    oneshot_args_destroy(&A);
    oneshot_args_init(&A);
    return 0;
}

static void
test_defaults(void **state)
{
    (void) state;
    assert_int_equal(PARSE("--local", "10.0.0.1"), 0);
    assert_int_equal(A.job.local.n, 1);
    assert_true(A.job.peers_any);
    assert_false(A.job.has_zone);
    assert_false(A.job.has_mark);
    assert_true(A.probe);
    assert_false(A.json);
    assert_false(A.verbose);
    assert_false(A.help);
    assert_int_equal(A.opts.force, CT_STRATEGY_AUTO);
    assert_int_equal(A.opts.dump_threads, 0);
    assert_int_equal(A.opts.max_delete_rate, 0);
}

static void
test_every_option(void **state)
{
    (void) state;
    /* "--oneshot" may stand anywhere, as ctflushd's main finds it anywhere. */
    assert_int_equal(PARSE("--local", "10.0.0.0/24,fd00::1", "--peers=192.168.1.1",
                           "--zone", "7", "--mark", "0x10/0xff", "--strategy", "dump",
                           "--no-probe", "--max-local", "10", "--max-peers=20",
                           "--batch-bytes", "8192", "--rate", "1000", "--oneshot",
                           "--dump-threads", "2", "--json", "--verbose"), 0);
    assert_int_equal(A.job.local.n, 2);
    assert_false(A.job.peers_any);
    assert_int_equal(A.job.peers.n, 1);
    assert_true(A.job.has_zone);
    assert_int_equal(A.job.zone, 7);
    assert_true(A.job.has_mark);
    assert_int_equal(A.job.mark, 0x10);
    assert_int_equal(A.job.mark_mask, 0xff);
    assert_int_equal(A.opts.force, CT_STRATEGY_DUMP);
    assert_false(A.probe);
    assert_int_equal(A.opts.max_local, 10);
    assert_int_equal(A.opts.max_peers, 20);
    assert_int_equal(A.opts.batch_bytes, 8192);
    assert_int_equal(A.opts.max_delete_rate, 1000);
    assert_int_equal(A.opts.dump_threads, 2);
    assert_true(A.json);
    assert_true(A.verbose);

    assert_int_equal(PARSE("--local", "any", "--zone", "0"), 0);
    assert_true(A.job.local_any);
    assert_int_equal(A.job.zone, 0);

    assert_int_equal(PARSE("--local", "10.0.0.1", "--help", "--frobnicate"), 0);
    assert_true(A.help);
    assert_int_equal(PARSE("--help"), 0);
    assert_true(A.help);
}

/* The zone is refused with the words ctflushctl, the config file and the
 * watcher use (test_ctlargs.c, test_config.c, test_extids.c). Before the
 * shared parser, strtoull's base 0 took "0x10" as 16 and "010" as 8 here. */
static void
test_zone_one_rule(void **state)
{
    static const char *const bad[] = { "0x10", "010", "+5", " 5", "5 ", "65536", "-1", "",
                                       "1e3" };
    char want[128];

    (void) state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(PARSE("--local", "10.0.0.1", "--zone", bad[i]), EINVAL);
        snprintf(want, sizeof want, "--zone: '%s' is not a decimal number from 0 to 65535",
                 bad[i]);
        assert_string_equal(ERR, want);
    }
    BAD("--zone: '0x10' is not a decimal number from 0 to 65535",
        "--local", "10.0.0.1", "--zone=0x10");
    assert_int_equal(PARSE("--local", "10.0.0.1", "--zone", "65535"), 0);
    assert_int_equal(A.job.zone, 65535);
}

static void
test_mark(void **state)
{
    (void) state;
    assert_int_equal(PARSE("--local", "10.0.0.1", "--mark", "16"), 0);
    assert_int_equal(A.job.mark, 16);
    assert_int_equal(A.job.mark_mask, 0xffffffff);
    assert_int_equal(PARSE("--local", "10.0.0.1", "--mark", "0x100/0xF00"), 0);
    assert_int_equal(A.job.mark, 0x100);
    assert_int_equal(A.job.mark_mask, 0xf00);
    /* Octal is gone here too ("010" was 8), and a mark that no entry could
     * match is refused as ctflushctl refuses it. */
    BAD("--mark: '010' is not MARK[/MASK] (32-bit numbers, decimal or 0x hex; MASK not 0)",
        "--local", "10.0.0.1", "--mark", "010");
    BAD("--mark: '1/0' is not MARK[/MASK] (32-bit numbers, decimal or 0x hex; MASK not 0)",
        "--local", "10.0.0.1", "--mark", "1/0");
    BAD("--mark: '3/1' has bits outside the mask", "--local", "10.0.0.1", "--mark", "3/1");
}

static void
test_numbers(void **state)
{
    (void) state;
    BAD("--dump-threads: '0' is not a decimal number from 1 to 64",
        "--local", "10.0.0.1", "--dump-threads", "0");
    BAD("--dump-threads: '65' is not a decimal number from 1 to 64",
        "--local", "10.0.0.1", "--dump-threads=65");
    BAD("--rate: '5x' is not a decimal number from 0 to 4294967295",
        "--local", "10.0.0.1", "--rate", "5x");
    BAD("--max-local: '0x10' is not a decimal number from 0 to 4294967295",
        "--local", "10.0.0.1", "--max-local", "0x10");
    BAD("--max-peers: '-1' is not a decimal number from 0 to 4294967295",
        "--local", "10.0.0.1", "--max-peers", "-1");
    BAD("--batch-bytes: '4294967296' is not a decimal number from 0 to 4294967295",
        "--local", "10.0.0.1", "--batch-bytes", "4294967296");
    assert_int_equal(PARSE("--local", "10.0.0.1", "--dump-threads", "64", "--rate", "0"), 0);
    assert_int_equal(A.opts.dump_threads, 64);
}

static void
test_errors(void **state)
{
    (void) state;
    BAD("--oneshot needs --local LIST|any", "--peers", "any");
    BAD("unknown option '--frobnicate' (see ctflushd --oneshot --help)",
        "--local", "10.0.0.1", "--frobnicate");
    /* No abbreviations: "--loc" is not "--local". */
    BAD("unknown option '--loc' (see ctflushd --oneshot --help)", "--loc", "10.0.0.1");
    BAD("option '--local' needs a value (--local=VALUE for one that starts with '--')",
        "--local", "--peers", "any");
    BAD("option '--zone' needs a value (--zone=VALUE for one that starts with '--')",
        "--local", "10.0.0.1", "--zone");
    BAD("option '--json' takes no value", "--local", "10.0.0.1", "--json=yes");
    BAD("unexpected argument 'stray' (see ctflushd --oneshot --help)",
        "--local", "10.0.0.1", "stray");
    BAD("--strategy: unknown strategy 'fastest'", "--local", "10.0.0.1", "--strategy",
        "fastest");
    BAD("--local: bad address or prefix '10.1.2.300'", "--local", "10.1.2.300");
    BAD("refusing to flush every entry of every zone: name local addresses or a zone",
        "--local", "any");
}

/* Every option line of the help puts its description in one column. */
static void
test_usage_columns(void **state)
{
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    int column = -1, rows = 0;
    FILE *f = open_memstream(&text, &len);

    (void) state;
    assert_non_null(f);
    oneshot_usage(f);
    fclose(f);
    assert_non_null(strstr(text, "\n--dump-threads N "));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "--", 2)) {
            continue;
        }
        /* The option and its metavariable ("--rate N"), at least two blanks,
         * then the description. */
        const char *gap = strstr(line, "  ");
        if (!gap) {
            fail_msg("help line with its description too close or missing: '%s'", line);
        }
        int at = (int) (gap + strspn(gap, " ") - line);
        if (!line[at]) {
            fail_msg("help line with no description: '%s'", line);
        }
        if (column < 0) {
            column = at;
        }
        if (at != column) {
            fail_msg("'%s': description at column %d, others at %d", line, at, column);
        }
        assert_true(strlen(line) <= 79);
        rows++;
    }
    assert_true(rows >= 4);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_every_option, teardown),
        cmocka_unit_test_teardown(test_zone_one_rule, teardown),
        cmocka_unit_test_teardown(test_mark, teardown),
        cmocka_unit_test_teardown(test_numbers, teardown),
        cmocka_unit_test_teardown(test_errors, teardown),
        cmocka_unit_test(test_usage_columns),
    };

    oneshot_args_init(&A);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    oneshot_args_destroy(&A);
    return rc;
}
