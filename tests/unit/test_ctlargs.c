/*
 * test_ctlargs.c: unit tests for ctlargs.c (ctflushctl's command line).
 *
 * Every command and option, good and bad. A good command line is also
 * encoded (ctlproto_request_encode) and parsed back the way the daemon will
 * (ctlproto_request_parse): what the client accepts, the daemon must too.
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
#include <unistd.h>

#include "ctlargs.h"
#include "ctlproto.h"
#include "json.h"
#include "unit_helpers.h"

#define MAX_ARGV 32

/* The parse under test; each test destroys it in its teardown. */
static struct ctlargs A;
static char ERR[512];

static int
setup(void **state)
{
    ctlargs_init(&A);
    ERR[0] = '\0';
    return 0;
}

static int
teardown(void **state)
{
    ctlargs_destroy(&A);
    return 0;
}

/* Parses "ctflushctl" followed by the NULL-terminated arguments, with env
 * as the value of CTFLUSHD_SOCKET. */
static int
vparse(const char *env, va_list ap)
{
    char *argv[MAX_ARGV];
    int argc = 0;
    const char *s;

    argv[argc++] = (char *) "ctflushctl";
    while ((s = va_arg(ap, const char *)) != NULL) {
        assert_true(argc < MAX_ARGV - 1);
        argv[argc++] = (char *) s;
    }
    argv[argc] = NULL;
    return ctlargs_parse(&A, argc, argv, env, ERR, sizeof ERR);
}

static int
parse_env(const char *env, ...)
{
    va_list ap;
    int rc;

    va_start(ap, env);
    rc = vparse(env, ap);
    va_end(ap);
    return rc;
}

#define parse(...) parse_env(NULL, __VA_ARGS__, (const char *) NULL)

/* Fresh state for a second parse in the same test. */
static void
reset(void)
{
    ctlargs_destroy(&A);
    ctlargs_init(&A);
    ERR[0] = '\0';
}

/* Expects a usage error whose message contains want. */
static void
expect_bad(const char *want, ...)
{
    va_list ap;
    int rc;

    reset();
    va_start(ap, want);
    rc = vparse(NULL, ap);
    va_end(ap);
    if (!rc) {
        fail_msg("accepted; wanted an error containing '%s'", want);
    }
    if (!strstr(ERR, want)) {
        fail_msg("error '%s' does not contain '%s'", ERR, want);
    }
}

#define BAD(want, ...) expect_bad(want, __VA_ARGS__, (const char *) NULL)

/* The request as the daemon will see it: encoded, then parsed back. Returns
 * the encoded text (static buffer). */
static const char *
roundtrip(void)
{
    static char text[4096];
    struct ctlproto_request back;
    struct json_out j;
    const char *code = NULL;
    char msg[256];

    json_init(&j);
    ctlproto_request_encode(&A.req, &j);
    assert_non_null(json_text(&j));
    snprintf(text, sizeof text, "%s", json_text(&j));
    json_destroy(&j);

    ctlproto_request_init(&back);
    if (ctlproto_request_parse(text, strlen(text), &back, &code, msg, sizeof msg)) {
        fail_msg("daemon refuses '%s': %s (%s)", text, msg, code);
    }
    assert_int_equal(back.cmd, A.req.cmd);
    ctlproto_request_destroy(&back);
    return text;
}

static void
assert_prefix(const struct ctf_prefix *p, const char *want)
{
    char buf[CTF_PREFIX_STRLEN];

    assert_string_equal(ctf_prefix_format(p, buf), want);
}

/* A temp file holding text; returns "@PATH" in buf and the path in path. */
static void
temp_list(const char *text, char *path, size_t pathlen, char *at, size_t atlen)
{
    snprintf(path, pathlen, "/tmp/test_ctlargs.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    snprintf(at, atlen, "@%s", path);
}

/* ---- Global options. ---- */

static void
test_defaults(void **state)
{
    assert_int_equal(parse("status"), 0);
    assert_int_equal(A.action, CTLARGS_REQUEST);
    assert_int_equal(A.req.cmd, CTL_CMD_STATUS);
    assert_string_equal(A.socket_path, "/run/ctflushd/ctflushd.sock");
    assert_false(A.json);
    assert_int_equal(A.timeout_ms, 10000);
    assert_string_equal(A.command, "status");
    assert_string_equal(roundtrip(), "{\"cmd\":\"status\"}");
}

static void
test_socket_precedence(void **state)
{
    /* Environment over the default. */
    assert_int_equal(parse_env("/tmp/env.sock", "status", (const char *) NULL), 0);
    assert_string_equal(A.socket_path, "/tmp/env.sock");

    /* --socket over the environment, before or after the command, and in
     * the --opt=value form. */
    reset();
    assert_int_equal(parse_env("/tmp/env.sock", "--socket", "/tmp/opt.sock", "status",
                               (const char *) NULL), 0);
    assert_string_equal(A.socket_path, "/tmp/opt.sock");
    reset();
    assert_int_equal(parse_env("/tmp/env.sock", "status", "--socket=/tmp/opt2.sock",
                               (const char *) NULL), 0);
    assert_string_equal(A.socket_path, "/tmp/opt2.sock");

    /* An empty environment value counts as unset. */
    reset();
    assert_int_equal(parse_env("", "status", (const char *) NULL), 0);
    assert_string_equal(A.socket_path, CTLARGS_DEFAULT_SOCKET);

    BAD("--socket: empty path", "--socket", "", "status");
    BAD("--socket needs a value", "status", "--socket");
    BAD("--socket needs a value", "--socket", "--json", "status");
    BAD("--socket given twice", "--socket", "/a", "--socket", "/b", "status");

    /* Longer than sun_path: refused before any connect, from either
     * source. */
    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    BAD("too long", "--socket", longpath, "status");
    reset();
    assert_int_equal(parse_env(longpath, "status", (const char *) NULL), EINVAL);
    assert_non_null(strstr(ERR, "too long"));
    /* 107 bytes fit (sun_path is 108 with its NUL). */
    longpath[107] = '\0';
    reset();
    assert_int_equal(parse("--socket", longpath, "status"), 0);
}

static void
test_json_option(void **state)
{
    assert_int_equal(parse("--json", "status"), 0);
    assert_true(A.json);
    reset();
    assert_int_equal(parse("jobs", "--json"), 0);
    assert_true(A.json);
    BAD("--json takes no value", "--json=yes", "status");
    BAD("--json given twice", "--json", "status", "--json");
}

static void
test_timeout(void **state)
{
    static const struct {
        const char *text;
        unsigned int ms;
    } good[] = {
        { "2", 2000 }, { "0.25", 250 }, { "1.5", 1500 }, { "0.001", 1 },
        { "10.000", 10000 }, { "86400", 86400000 }, { "0.050", 50 },
    };
    static const char *const bad[] = {
        "0", "0.0", "0.0004", "abc", "-1", "+1", "1.", ".5", "1.2345", "86401",
        "86400.001", "1e3", "", "10s", " 1", "99999999999999999999",
        "007", "01.5", "0x10", "1.-5", "1.+5",
    };

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        reset();
        if (parse("--timeout", good[i].text, "status")) {
            fail_msg("--timeout %s refused: %s", good[i].text, ERR);
        }
        assert_int_equal(A.timeout_ms, good[i].ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        BAD("--timeout", "--timeout", bad[i], "status");
    }
    reset();
    assert_int_equal(parse("status", "--timeout=3"), 0);
    assert_int_equal(A.timeout_ms, 3000);
    BAD("--timeout needs a value", "status", "--timeout");
}

/* ---- Command words, help, version. ---- */

static void
test_command_words(void **state)
{
    BAD("unknown command ''", "");
    reset();
    char *argv[] = { (char *) "ctflushctl", NULL };
    assert_int_equal(ctlargs_parse(&A, 1, argv, NULL, ERR, sizeof ERR), EINVAL);
    assert_string_equal(ERR, "no command given");
    assert_null(A.command);

    BAD("no command given", "--json");
    BAD("unknown command 'stat'", "stat");
    BAD("unknown command 'STATUS'", "STATUS");
    BAD("unknown option '--frobnicate'", "--frobnicate", "status");
    BAD("unknown option '-j'", "-j", "status");
    BAD("status: unknown option '--limit'", "status", "--limit", "5");
    BAD("status: unknown option '--bogus'", "status", "--bogus=1");
    BAD("'--' before the command", "--", "status");
}

static void
test_simple_commands(void **state)
{
    static const struct {
        const char *word;
        enum ctl_cmd cmd;
    } cmds[] = {
        { "status", CTL_CMD_STATUS }, { "ports", CTL_CMD_PORTS },
        { "resume", CTL_CMD_RESUME }, { "metrics", CTL_CMD_METRICS },
        { "reload", CTL_CMD_RELOAD },
    };

    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char want[128];

        reset();
        assert_int_equal(parse(cmds[i].word), 0);
        assert_int_equal(A.req.cmd, cmds[i].cmd);
        snprintf(want, sizeof want, "{\"cmd\":\"%s\"}", cmds[i].word);
        assert_string_equal(roundtrip(), want);

        snprintf(want, sizeof want, "%s: unexpected argument 'extra'", cmds[i].word);
        BAD(want, cmds[i].word, "extra");
        assert_string_equal(A.command, cmds[i].word);  /* For its usage line. */
        BAD("unknown option '--now'", cmds[i].word, "--now");
    }
}

static void
test_help_and_version(void **state)
{
    assert_int_equal(parse("help"), 0);
    assert_int_equal(A.action, CTLARGS_HELP);
    assert_null(A.help_topic);

    reset();
    assert_int_equal(parse("help", "flush"), 0);
    assert_int_equal(A.action, CTLARGS_HELP);
    assert_string_equal(A.help_topic, "flush");

    reset();
    assert_int_equal(parse("--help"), 0);
    assert_int_equal(A.action, CTLARGS_HELP);

    /* "flush --help" is help on flush even though --local is missing. */
    reset();
    assert_int_equal(parse("flush", "--help"), 0);
    assert_int_equal(A.action, CTLARGS_HELP);
    assert_string_equal(A.help_topic, "flush");

    reset();
    assert_int_equal(parse("--version"), 0);
    assert_int_equal(A.action, CTLARGS_VERSION);

    BAD("help: unknown command 'frob'", "help", "frob");
    BAD("help: unexpected argument 'b'", "help", "a", "b");
}

/* ---- jobs ---- */

static void
test_jobs(void **state)
{
    assert_int_equal(parse("jobs"), 0);
    assert_int_equal(A.req.cmd, CTL_CMD_JOBS);
    assert_int_equal(A.req.limit, 20);
    assert_string_equal(roundtrip(), "{\"cmd\":\"jobs\",\"limit\":20}");

    reset();
    assert_int_equal(parse("jobs", "--limit", "5"), 0);
    assert_int_equal(A.req.limit, 5);
    assert_string_equal(roundtrip(), "{\"cmd\":\"jobs\",\"limit\":5}");

    reset();
    assert_int_equal(parse("jobs", "--limit=0"), 0);
    assert_int_equal(A.req.limit, 0);
    roundtrip();

    reset();
    assert_int_equal(parse("jobs", "--limit", "1000"), 0);
    assert_int_equal(A.req.limit, 1000);
    roundtrip();

    BAD("--limit: '1001' is not a decimal number from 0 to 1000", "jobs", "--limit", "1001");
    BAD("--limit: '-1' is not a decimal number from 0 to 1000", "jobs", "--limit", "-1");
    BAD("--limit: 'abc' is not a decimal number from 0 to 1000", "jobs", "--limit", "abc");
    BAD("--limit: '0x10' is not a decimal number from 0 to 1000", "jobs", "--limit", "0x10");
    BAD("--limit: '' is not a decimal number from 0 to 1000", "jobs", "--limit=");
    BAD("--limit needs a value", "jobs", "--limit");
    BAD("--limit given twice", "jobs", "--limit", "1", "--limit", "2");
    BAD("jobs: unexpected argument '5'", "jobs", "5");
}

/* ---- flush ---- */

static void
test_flush_minimal(void **state)
{
    assert_int_equal(parse("flush", "--local", "10.0.0.5"), 0);
    assert_int_equal(A.req.cmd, CTL_CMD_FLUSH);
    assert_int_equal(A.req.job.local.n, 1);
    assert_prefix(&A.req.job.local.items[0], "10.0.0.5");
    assert_false(A.req.job.local_any);
    assert_true(A.req.job.peers_any);         /* No --peers: any peer. */
    assert_false(A.req.job.has_zone);
    assert_false(A.req.job.has_mark);
    assert_false(A.req.wait);
    assert_string_equal(roundtrip(), "{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\"],"
                                     "\"peers\":\"any\",\"wait\":false}");
}

static void
test_flush_full(void **state)
{
    assert_int_equal(parse("--json", "flush", "--local", "10.0.0.0/24,fd00::1",
                           "--peers=192.168.1.1, 192.168.2.0/24", "--zone", "5",
                           "--mark", "0x10/0xff", "--wait"), 0);
    assert_true(A.json);
    assert_int_equal(A.req.job.local.n, 2);
    assert_prefix(&A.req.job.local.items[0], "10.0.0.0/24");
    assert_prefix(&A.req.job.local.items[1], "fd00::1");
    assert_false(A.req.job.peers_any);
    assert_int_equal(A.req.job.peers.n, 2);
    assert_prefix(&A.req.job.peers.items[1], "192.168.2.0/24");
    assert_true(A.req.job.has_zone);
    assert_int_equal(A.req.job.zone, 5);
    assert_true(A.req.job.has_mark);
    assert_int_equal(A.req.job.mark, 0x10);
    assert_int_equal(A.req.job.mark_mask, 0xff);
    assert_true(A.req.wait);
    assert_string_equal(roundtrip(),
                        "{\"cmd\":\"flush\",\"local\":[\"10.0.0.0/24\",\"fd00::1\"],"
                        "\"peers\":[\"192.168.1.1\",\"192.168.2.0/24\"],\"zone\":5,"
                        "\"mark\":16,\"mark_mask\":255,\"wait\":true}");

    /* Options in any order; "any" peers said outright. */
    reset();
    assert_int_equal(parse("flush", "--wait", "--peers", "any", "--zone=0", "--local",
                           "fd00::/64"), 0);
    assert_true(A.req.job.peers_any);
    assert_true(A.req.job.has_zone);
    assert_int_equal(A.req.job.zone, 0);
    roundtrip();
}

/* The selectors, as conntrack(8) words, and their refusals. */
static void
test_flush_selectors(void **state)
{
    assert_int_equal(parse("flush", "--local", "10.0.0.5,fd00::5", "--direction", "ingress",
                           "--tuple=orig", "--proto", "udp", "--dport", "53-54",
                           "--family", "ipv4"), 0);
    assert_int_equal(A.req.job.direction, FLUSH_DIRECTION_INGRESS);
    assert_int_equal(A.req.job.tuple, FLUSH_TUPLE_ORIG);
    assert_int_equal(A.req.job.proto, 17);
    assert_true(A.req.job.has_dport);
    assert_int_equal(A.req.job.dport_lo, 53);
    assert_int_equal(A.req.job.dport_hi, 54);
    assert_int_equal(A.req.job.family, FLUSH_FAMILY_IPV4);
    assert_string_equal(roundtrip(),
                        "{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\",\"fd00::5\"],"
                        "\"peers\":\"any\",\"direction\":\"ingress\",\"tuple\":\"orig\","
                        "\"proto\":17,\"dport\":\"53-54\",\"family\":\"ipv4\",\"wait\":false}");
    reset();
    assert_int_equal(parse("flush", "--local", "10.0.0.5", "--proto", "6", "--dport", "443",
                           "--direction", "egress"), 0);
    assert_int_equal(A.req.job.proto, 6);
    assert_int_equal(A.req.job.dport_lo, 443);
    assert_int_equal(A.req.job.dport_hi, 443);
    roundtrip();

    static const char *const bad[][3] = {
        { "--direction", "in", "--direction" }, { "--tuple", "reply", "--tuple" },
        { "--proto", "0", "--proto" }, { "--proto", "tcpp", "--proto" },
        { "--dport", "70000", "--dport" }, { "--dport", "9-8", "--dport" },
        { "--family", "inet", "--family" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        reset();
        assert_int_equal(parse("flush", "--local", "10.0.0.5", bad[i][0], bad[i][1]), EINVAL);
        assert_non_null(strstr(ERR, bad[i][2]));
    }
    /* Contradictions are the job's to refuse. */
    reset();
    assert_int_equal(parse("flush", "--local", "10.0.0.5", "--dport", "53"), EINVAL);
    assert_non_null(strstr(ERR, "dport needs a protocol"));
    reset();
    assert_int_equal(parse("flush", "--local", "10.0.0.5", "--family", "ipv6"), EINVAL);
    assert_non_null(strstr(ERR, "family ipv6"));
}

static void
test_flush_zone(void **state)
{
    assert_int_equal(parse("flush", "--local", "10.0.0.1", "--zone", "65535"), 0);
    assert_int_equal(A.req.job.zone, 65535);
    roundtrip();

    BAD("--zone: '65536' is not a decimal number from 0 to 65535", "flush", "--local", "10.0.0.1",
        "--zone", "65536");
    BAD("--zone: '-1' is not a decimal number from 0 to 65535", "flush", "--local", "10.0.0.1", "--zone", "-1");
    BAD("--zone: 'abc' is not a decimal number from 0 to 65535", "flush", "--local", "10.0.0.1", "--zone", "abc");
    BAD("--zone: '' is not a decimal number from 0 to 65535", "flush", "--local", "10.0.0.1", "--zone=");
    BAD("--zone: '5x' is not a decimal number from 0 to 65535", "flush", "--local", "10.0.0.1", "--zone", "5x");
    BAD("--zone: '0x5' is not a decimal number from 0 to 65535", "flush", "--local", "10.0.0.1", "--zone", "0x5");
    BAD("--zone: '99999999999999999999999' is not a decimal number from 0 to 65535", "flush", "--local", "10.0.0.1",
        "--zone", "99999999999999999999999");
    BAD("--zone needs a value", "flush", "--local", "10.0.0.1", "--zone");
    BAD("--zone given twice", "flush", "--local", "10.0.0.1", "--zone", "1", "--zone", "1");
}

/* The rule of every number ctflushd reads (num.h), in the same words as the
 * config file, `ctflushd --oneshot` and the watcher (test_config.c,
 * test_oneshotargs.c, test_extids.c): exact messages, not substrings. */
static void
test_flush_zone_one_rule(void **state)
{
    static const char *const bad[] = { "0x10", "010", "+5", " 5", "5 ", "65536", "-1" };
    char want[128];

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        reset();
        assert_int_equal(parse("flush", "--local", "10.0.0.1", "--zone", bad[i]), EINVAL);
        snprintf(want, sizeof want, "--zone: '%s' is not a decimal number from 0 to 65535",
                 bad[i]);
        assert_string_equal(ERR, want);
    }
    reset();
    assert_int_equal(parse("flush", "--local", "10.0.0.1", "--zone=0x10"), EINVAL);
    assert_string_equal(ERR, "--zone: '0x10' is not a decimal number from 0 to 65535");
    /* A terminal escape in the value is not echoed. */
    reset();
    assert_int_equal(parse("flush", "--local", "10.0.0.1", "--zone", "\033[2J"), EINVAL);
    assert_string_equal(ERR, "--zone: '?[2J' is not a decimal number from 0 to 65535");
}

/* --mark goes through flush_job_parse_mark, whose every case is in
 * test_job.c; here, that it is wired in and that marks survive the trip to
 * the daemon. */
static void
test_flush_mark(void **state)
{
    assert_int_equal(parse("flush", "--local", "10.0.0.1", "--mark", "0x100/0xF00"), 0);
    assert_true(A.req.job.has_mark);
    assert_int_equal(A.req.job.mark, 0x100);
    assert_int_equal(A.req.job.mark_mask, 0xf00);
    assert_string_equal(roundtrip(), "{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\"],"
                        "\"peers\":\"any\",\"mark\":256,\"mark_mask\":3840,\"wait\":false}");
    reset();
    assert_int_equal(parse("flush", "--local", "10.0.0.1", "--mark=4294967295"), 0);
    assert_int_equal(A.req.job.mark, 0xffffffff);
    assert_int_equal(A.req.job.mark_mask, 0xffffffff);
    roundtrip();
    reset();
    assert_int_equal(parse("flush", "--local", "10.0.0.1", "--mark", "010"), EINVAL);
    assert_string_equal(ERR, "--mark: '010' is not MARK[/MASK] (32-bit numbers, decimal or "
                             "0x hex; MASK not 0)");
    reset();
    assert_int_equal(parse("flush", "--local", "10.0.0.1", "--mark=0x100/0xff"), EINVAL);
    assert_string_equal(ERR, "--mark: '0x100/0xff' has bits outside the mask");
    BAD("--mark needs a value", "flush", "--local", "10.0.0.1", "--mark");
}

static void
test_flush_sides(void **state)
{
    /* "local any" is a whole-zone flush: it needs a zone. */
    assert_int_equal(parse("flush", "--local", "any", "--zone", "7"), 0);
    assert_true(A.req.job.local_any);
    assert_true(A.req.job.peers_any);
    assert_string_equal(roundtrip(), "{\"cmd\":\"flush\",\"local\":\"any\",\"peers\":\"any\","
                                     "\"zone\":7,\"wait\":false}");

    BAD("flush needs --local LIST|any", "flush");
    BAD("flush needs --local LIST|any", "flush", "--peers", "10.0.0.1");
    BAD("refusing to flush every entry", "flush", "--local", "any");
    BAD("local 'any' needs peers 'any'", "flush", "--local", "any", "--peers", "10.0.0.1",
        "--zone", "1");
    BAD("--local: no address given", "flush", "--local", "");
    BAD("--local: no address given", "flush", "--local", ",,");
    BAD("--local: bad address or prefix '10.0.0.300'", "flush", "--local", "10.0.0.300");
    BAD("--local: bad address or prefix '10.0.0.5/24'", "flush", "--local", "10.0.0.5/24");
    BAD("--local: bad address or prefix 'vm1'", "flush", "--local", "10.0.0.1,vm1");
    BAD("--peers: bad address or prefix 'fd00::/129'", "flush", "--local", "10.0.0.1",
        "--peers", "fd00::/129");
    BAD("--peers: no address given", "flush", "--local", "10.0.0.1", "--peers=");
    BAD("--local given twice", "flush", "--local", "10.0.0.1", "--local", "10.0.0.2");
    BAD("--local needs a value", "flush", "--local");
    BAD("--local needs a value", "flush", "--local", "--wait");
    BAD("--wait takes no value", "flush", "--local", "10.0.0.1", "--wait=yes");
    BAD("flush: unexpected argument '10.0.0.1'", "flush", "10.0.0.1");
    BAD("flush: unknown option '--now'", "flush", "--local", "10.0.0.1", "--now");
}

static void
test_flush_file(void **state)
{
    char path[64], at[80];

    /* The client reads the file and sends addresses: the daemon refuses
     * "@FILE" (roundtrip() checks that it accepts what is sent). */
    temp_list("# VMs on host 7\n10.0.0.1\n10.0.1.0/24, fd00::5 # web\n\n", path,
              sizeof path, at, sizeof at);
    assert_int_equal(parse("flush", "--local", at, "--peers", "any"), 0);
    assert_int_equal(A.req.job.local.n, 3);
    assert_prefix(&A.req.job.local.items[0], "10.0.0.1");
    assert_prefix(&A.req.job.local.items[1], "10.0.1.0/24");
    assert_prefix(&A.req.job.local.items[2], "fd00::5");
    const char *text = roundtrip();
    assert_null(strchr(text, '@'));
    assert_string_equal(text, "{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\",\"10.0.1.0/24\","
                              "\"fd00::5\"],\"peers\":\"any\",\"wait\":false}");

    /* As the peers side too. */
    reset();
    assert_int_equal(parse("flush", "--local", "192.168.0.1", "--peers", at), 0);
    assert_int_equal(A.req.job.peers.n, 3);
    roundtrip();
    unlink(path);

    /* A file with a bad line names the file and the line. */
    temp_list("10.0.0.1\nnot-an-ip\n", path, sizeof path, at, sizeof at);
    char want[128];
    snprintf(want, sizeof want, "--local: %s:2: bad address or prefix 'not-an-ip'", path);
    BAD(want, "flush", "--local", at);
    unlink(path);

    /* A file with no address is an empty set. */
    temp_list("# nothing yet\n", path, sizeof path, at, sizeof at);
    BAD("--local: no address given", "flush", "--local", at);
    unlink(path);

    /* A missing file: its errno comes back, and the message names it. */
    reset();
    assert_int_equal(parse("flush", "--local", "@/nonexistent/list"), ENOENT);
    assert_non_null(strstr(ERR, "/nonexistent/list"));
    assert_non_null(strstr(ERR, strerror(ENOENT)));
}

/* ---- cancel, pause ---- */

static void
test_cancel(void **state)
{
    assert_int_equal(parse("cancel", "12"), 0);
    assert_int_equal(A.req.cmd, CTL_CMD_CANCEL);
    assert_int_equal(A.req.id, 12);
    assert_string_equal(roundtrip(), "{\"cmd\":\"cancel\",\"id\":12}");

    reset();
    assert_int_equal(parse("cancel", "9223372036854775807"), 0);
    assert_true(A.req.id == CTLPROTO_JOB_ID_MAX);
    roundtrip();

    reset();
    assert_int_equal(parse("cancel", "0"), 0);
    assert_int_equal(A.req.id, 0);

    /* "--" lets an argument that looks like an option through (and then
     * the id parser judges it). */
    reset();
    assert_int_equal(parse("cancel", "--", "7"), 0);
    assert_int_equal(A.req.id, 7);

    BAD("cancel: missing argument (cancel ID)", "cancel");
    BAD("cancel: job ID 'abc' is not a decimal number", "cancel", "abc");
    BAD("cancel: job ID '-1' is not a decimal number", "cancel", "-1");
    BAD("cancel: job ID '' is not a decimal number", "cancel", "");
    BAD("cancel: job ID '1x' is not a decimal number", "cancel", "1x");
    BAD("cancel: job ID ' 1' is not a decimal number", "cancel", " 1");
    BAD("cancel: job ID '0x10' is not a decimal number", "cancel", "0x10");
    BAD("cancel: job ID '18446744073709551616' is not a decimal number", "cancel",
        "18446744073709551616");
    BAD("cancel: job ID '9223372036854775808' is not a decimal number", "cancel",
        "9223372036854775808");
    BAD("cancel: unexpected argument '13'", "cancel", "12", "13");
    BAD("cancel: unknown option '--all'", "cancel", "--all");
    BAD("cancel: job ID '--x' is not a decimal number", "cancel", "--", "--x");
}

static void
test_pause(void **state)
{
    assert_int_equal(parse("pause"), 0);
    assert_int_equal(A.req.cmd, CTL_CMD_PAUSE);
    assert_false(A.req.now);
    assert_string_equal(roundtrip(), "{\"cmd\":\"pause\",\"now\":false}");

    reset();
    assert_int_equal(parse("pause", "--now"), 0);
    assert_true(A.req.now);
    assert_string_equal(roundtrip(), "{\"cmd\":\"pause\",\"now\":true}");

    BAD("pause: unexpected argument 'now'", "pause", "now");
    BAD("--now takes no value", "pause", "--now=1");
    BAD("--now given twice", "pause", "--now", "--now");
}

/* ---- set-ips ---- */

static void
test_set_ips(void **state)
{
    assert_int_equal(parse("set-ips", "vm1", "10.0.0.1,fd00::1"), 0);
    assert_int_equal(A.req.cmd, CTL_CMD_SET_IPS);
    assert_string_equal(A.req.port, "vm1");
    assert_int_equal(A.req.ips.n, 2);
    assert_prefix(&A.req.ips.items[1], "fd00::1");
    assert_string_equal(roundtrip(), "{\"cmd\":\"set-ips\",\"port\":\"vm1\","
                                     "\"ips\":[\"10.0.0.1\",\"fd00::1\"]}");

    /* An empty LIST clears the port's IPs. */
    reset();
    assert_int_equal(parse("set-ips", "tap-0a1b", ""), 0);
    assert_string_equal(A.req.port, "tap-0a1b");
    assert_int_equal(A.req.ips.n, 0);
    assert_string_equal(roundtrip(), "{\"cmd\":\"set-ips\",\"port\":\"tap-0a1b\",\"ips\":[]}");

    /* @FILE */
    char path[64], at[80];
    temp_list("10.1.0.1\n10.1.0.2\n", path, sizeof path, at, sizeof at);
    reset();
    assert_int_equal(parse("--json", "set-ips", "vm2", at), 0);
    assert_int_equal(A.req.ips.n, 2);
    roundtrip();
    unlink(path);

    /* A port name that starts with '-' needs "--". */
    reset();
    assert_int_equal(parse("set-ips", "--", "-odd", "10.0.0.1"), 0);
    assert_string_equal(A.req.port, "-odd");

    BAD("set-ips: missing argument (set-ips PORT LIST)", "set-ips");
    BAD("set-ips: missing argument", "set-ips", "vm1");
    BAD("set-ips: unexpected argument 'x'", "set-ips", "vm1", "10.0.0.1", "x");
    BAD("set-ips: bad address or prefix 'any'", "set-ips", "vm1", "any");
    BAD("set-ips: bad address or prefix '10.0.0.256'", "set-ips", "vm1", "10.0.0.256");
    BAD("set-ips: no address in ','", "set-ips", "vm1", ",");
    BAD("set-ips: '' is not a port name", "set-ips", "", "10.0.0.1");
    BAD("set-ips: 'vm 1' is not a port name", "set-ips", "vm 1", "10.0.0.1");
    BAD("is not a port name", "set-ips", "vm\033[2J", "10.0.0.1");
    BAD("set-ips: unknown option '--clear'", "set-ips", "vm1", "--clear");

    char longname[300];
    memset(longname, 'p', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    BAD("is not a port name (1-255", "set-ips", longname, "10.0.0.1");
    longname[255] = '\0';
    reset();
    assert_int_equal(parse("set-ips", longname, ""), 0);
    roundtrip();
}

/* ---- Usage and help text. ---- */

static char *
capture(void (*fn)(FILE *, const char *), const char *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    fn(f, arg);
    fclose(f);
    return text;
}

static void
test_usage_text(void **state)
{
    char *t = capture(ctlargs_usage, NULL);
    assert_non_null(strstr(t, "usage: ctflushctl [--socket PATH] [--json] [--timeout SEC] "
                              "COMMAND [ARGS]\n"));
    assert_non_null(strstr(t, "set-ips"));
    free(t);

    t = capture(ctlargs_usage, "flush");
    assert_non_null(strstr(t, "usage: ctflushctl [--socket PATH] [--json] [--timeout SEC] "
                              "flush --local LIST|any [--peers LIST|any] [--zone N] "
                              "[--mark M[/MASK]] [--direction ingress|egress|either] "
                              "[--tuple orig|any] [--proto NAME|NUMBER] [--dport PORT[-PORT]] "
                              "[--family ipv4|ipv6|both] [--datapath kernel|netdev] [--wait]\n"));
    free(t);

    t = capture(ctlargs_help, NULL);
    static const char *const words[] = {
        "status", "jobs [--limit N]", "ports", "flush --local", "cancel ID", "pause [--now]",
        "resume", "set-ips PORT LIST", "metrics", "reload", "help", "@FILE",
        "CTFLUSHD_SOCKET", "/run/ctflushd/ctflushd.sock", "Exit status", "3 the daemon",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (!strstr(t, words[i])) {
            fail_msg("help does not mention '%s'", words[i]);
        }
    }
    free(t);

    t = capture(ctlargs_help, "cancel");
    assert_non_null(strstr(t, "cancel ID"));
    assert_null(strstr(t, "set-ips"));
    free(t);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_socket_precedence),
        T(test_json_option),
        T(test_timeout),
        T(test_command_words),
        T(test_simple_commands),
        T(test_help_and_version),
        T(test_jobs),
        T(test_flush_minimal),
        T(test_flush_full),
        T(test_flush_selectors),
        T(test_flush_zone),
        T(test_flush_zone_one_rule),
        T(test_flush_mark),
        T(test_flush_sides),
        T(test_flush_file),
        T(test_cancel),
        T(test_pause),
        T(test_set_ips),
        T(test_usage_text),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
