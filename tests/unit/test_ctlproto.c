/*
 * test_ctlproto.c: unit tests for ctlproto.c (control requests to and from
 * JSON, reply envelopes).
 *
 * Every malformed request must fail with EINVAL, the right error code, and a
 * message naming the member at fault; every good one must survive
 * encode -> parse unchanged.
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
#include <sys/socket.h>
#include <unistd.h>

#include "ctlproto.h"
#include "json.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

static void
parse_ok(const char *text, struct ctlproto_request *req)
{
    const char *code = NULL;
    char msg[256] = "";

    int error = ctlproto_request_parse(text, strlen(text), req, &code, msg, sizeof msg);
    if (error) {
        fail_msg("'%s' was refused: %s: %s", text, code ? code : "(no code)", msg);
    }
}

/* The request must fail with 'code' and a message containing 'why'. */
static void
parse_bad(const char *text, const char *code, const char *why)
{
    struct ctlproto_request req;
    const char *got = NULL;
    char msg[256] = "";

    int error = ctlproto_request_parse(text, strlen(text), &req, &got, msg, sizeof msg);
    if (error != EINVAL) {
        fail_msg("'%s': expected EINVAL, got %d (%s)", text, error, msg);
    }
    if (!got || strcmp(got, code)) {
        fail_msg("'%s': expected code %s, got %s (%s)", text, code, got ? got : "NULL", msg);
    }
    if (!strstr(msg, why)) {
        fail_msg("'%s': message '%s' does not mention '%s'", text, msg, why);
    }
    for (const char *p = msg; *p; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            fail_msg("'%s': message has a control character", text);
        }
    }
    /* A failed parse leaves nothing to free, and destroying is harmless. */
    assert_null(req.port);
    assert_int_equal(req.job.local.n, 0);
    assert_int_equal(req.ips.n, 0);
    ctlproto_request_destroy(&req);
}

static void
bad_request(const char *text, const char *why)
{
    parse_bad(text, CTL_E_BAD_REQUEST, why);
}

static bool
list_equal(const struct ctf_prefix_list *a, const struct ctf_prefix_list *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (ctf_prefix_cmp(&a->items[i], &b->items[i])) {
            return false;
        }
    }
    return true;
}

/* Equal in everything the command uses. */
static void
assert_request_equal(const struct ctlproto_request *a, const struct ctlproto_request *b)
{
    assert_int_equal(a->cmd, b->cmd);
    switch (a->cmd) {
    case CTL_CMD_JOBS:
        assert_int_equal(a->limit, b->limit);
        break;
    case CTL_CMD_FLUSH:
        assert_int_equal(a->job.local_any, b->job.local_any);
        assert_int_equal(a->job.peers_any, b->job.peers_any);
        assert_true(list_equal(&a->job.local, &b->job.local));
        assert_true(list_equal(&a->job.peers, &b->job.peers));
        assert_int_equal(a->job.has_zone, b->job.has_zone);
        assert_int_equal(a->job.zone, b->job.zone);
        assert_int_equal(a->job.has_mark, b->job.has_mark);
        assert_int_equal(a->job.mark, b->job.mark);
        assert_int_equal(a->job.mark_mask, b->job.mark_mask);
        assert_int_equal(a->wait, b->wait);
        break;
    case CTL_CMD_CANCEL:
        assert_true(a->id == b->id);
        break;
    case CTL_CMD_PAUSE:
        assert_int_equal(a->now, b->now);
        break;
    case CTL_CMD_SET_IPS:
        assert_string_equal(a->port, b->port);
        assert_true(list_equal(&a->ips, &b->ips));
        break;
    default:
        break;
    }
}

/* encode(req) parses back to req. */
static void
assert_round_trip(const struct ctlproto_request *req)
{
    struct ctlproto_request back;
    struct json_out j;

    json_init(&j);
    ctlproto_request_encode(req, &j);
    assert_non_null(json_text(&j));
    assert_null(strchr(json_text(&j), '\n'));
    parse_ok(json_text(&j), &back);
    assert_request_equal(req, &back);
    ctlproto_request_destroy(&back);
    json_destroy(&j);
}

/* ---- Command table. ---- */

static void
test_cmd_names(void **state)
{
    static const struct {
        enum ctl_cmd cmd;
        const char *name;
        bool mutates;
    } table[] = {
        { CTL_CMD_STATUS, "status", false },
        { CTL_CMD_JOBS, "jobs", false },
        { CTL_CMD_PORTS, "ports", false },
        { CTL_CMD_FLUSH, "flush", true },
        { CTL_CMD_CANCEL, "cancel", true },
        { CTL_CMD_PAUSE, "pause", true },
        { CTL_CMD_RESUME, "resume", true },
        { CTL_CMD_SET_IPS, "set-ips", true },
        { CTL_CMD_METRICS, "metrics", false },
        { CTL_CMD_RELOAD, "reload", true },
    };

    assert_int_equal(sizeof table / sizeof table[0], CTL_CMD_N);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        assert_string_equal(ctlproto_cmd_name(table[i].cmd), table[i].name);
        assert_int_equal(ctlproto_cmd_mutates(table[i].cmd), table[i].mutates);
    }
    assert_string_equal(ctlproto_cmd_name(CTL_CMD_N), "?");
    assert_false(ctlproto_cmd_mutates(CTL_CMD_N));
}

/* ---- Good requests. ---- */

static void
test_simple_commands(void **state)
{
    static const struct {
        const char *text;
        enum ctl_cmd cmd;
    } table[] = {
        { "{\"cmd\":\"status\"}", CTL_CMD_STATUS },
        { " { \"cmd\" : \"ports\" } ", CTL_CMD_PORTS },
        { "{\"cmd\":\"resume\"}", CTL_CMD_RESUME },
        { "{\"cmd\":\"metrics\"}", CTL_CMD_METRICS },
        { "{\"cmd\":\"reload\"}\r", CTL_CMD_RELOAD },
        /* Unknown members are ignored, for newer clients. */
        { "{\"future\":{\"x\":[1,2]},\"cmd\":\"status\",\"verbose\":true}", CTL_CMD_STATUS },
        /* Members of other commands too, whatever their type. */
        { "{\"cmd\":\"status\",\"zone\":\"x\",\"limit\":-1}", CTL_CMD_STATUS },
    };

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        struct ctlproto_request req;

        parse_ok(table[i].text, &req);
        assert_int_equal(req.cmd, table[i].cmd);
        assert_round_trip(&req);
        ctlproto_request_destroy(&req);
    }
}

static void
test_jobs(void **state)
{
    struct ctlproto_request req;

    parse_ok("{\"cmd\":\"jobs\"}", &req);
    assert_int_equal(req.cmd, CTL_CMD_JOBS);
    assert_int_equal(req.limit, 20);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    parse_ok("{\"cmd\":\"jobs\",\"limit\":0}", &req);
    assert_int_equal(req.limit, 0);
    ctlproto_request_destroy(&req);

    parse_ok("{\"cmd\":\"jobs\",\"limit\":1000}", &req);
    assert_int_equal(req.limit, 1000);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    bad_request("{\"cmd\":\"jobs\",\"limit\":1001}", "limit: must be an integer 0..1000");
    bad_request("{\"cmd\":\"jobs\",\"limit\":4294967316}", "limit: must be an integer 0..1000");
    bad_request("{\"cmd\":\"jobs\",\"limit\":9223372036854775807}", "limit: must be");
    /* Past int64_t the parser refuses the number itself. */
    bad_request("{\"cmd\":\"jobs\",\"limit\":18446744073709551615}",
                "not valid JSON: offset 42: too big integer");
    bad_request("{\"cmd\":\"jobs\",\"limit\":99999999999999999999999}", "not valid JSON");
    bad_request("{\"cmd\":\"jobs\",\"limit\":-1}", "limit: must be");
    bad_request("{\"cmd\":\"jobs\",\"limit\":2.5}", "limit: must be");
    bad_request("{\"cmd\":\"jobs\",\"limit\":\"5\"}", "limit: must be");
    bad_request("{\"cmd\":\"jobs\",\"limit\":null}", "limit: must be");
    bad_request("{\"cmd\":\"jobs\",\"limit\":true}", "limit: must be");
}

static void
test_flush(void **state)
{
    struct ctlproto_request req;
    char q[CTF_PREFIX_STRLEN];

    /* Array form, peers default to any, no zone or mark. */
    parse_ok("{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\",\"fd00::/64\"]}", &req);
    assert_int_equal(req.cmd, CTL_CMD_FLUSH);
    assert_false(req.job.local_any);
    assert_int_equal(req.job.local.n, 2);
    assert_string_equal(ctf_prefix_format(&req.job.local.items[0], q), "10.0.0.5");
    assert_string_equal(ctf_prefix_format(&req.job.local.items[1], q), "fd00::/64");
    assert_true(req.job.peers_any);
    assert_int_equal(req.job.peers.n, 0);
    assert_false(req.job.has_zone);
    assert_false(req.job.has_mark);
    assert_false(req.wait);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    /* String forms, every option. */
    parse_ok("{\"cmd\":\"flush\",\"local\":\"10.0.0.5, 10.0.1.0/24\","
             "\"peers\":\"192.0.2.1,2001:db8::1\",\"zone\":65535,\"mark\":16,"
             "\"mark_mask\":240,\"wait\":true}", &req);
    assert_int_equal(req.job.local.n, 2);
    assert_int_equal(req.job.peers.n, 2);
    assert_false(req.job.peers_any);
    assert_true(req.job.has_zone);
    assert_int_equal(req.job.zone, 65535);
    assert_true(req.job.has_mark);
    assert_int_equal(req.job.mark, 16);
    assert_int_equal(req.job.mark_mask, 240);
    assert_true(req.wait);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    /* The mask defaults to all ones; zone 0 is a zone. */
    parse_ok("{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\"],\"peers\":\"any\","
             "\"zone\":0,\"mark\":4294967295,\"wait\":false}", &req);
    assert_true(req.job.has_zone);
    assert_int_equal(req.job.zone, 0);
    assert_int_equal(req.job.mark, 0xffffffffu);
    assert_int_equal(req.job.mark_mask, 0xffffffffu);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    /* A whole zone. */
    parse_ok("{\"cmd\":\"flush\",\"local\":\"any\",\"peers\":\"any\",\"zone\":7}", &req);
    assert_true(req.job.local_any);
    assert_true(req.job.peers_any);
    assert_true(flush_job_is_whole_zone(&req.job));
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    /* Reusing a request after destroy. */
    parse_ok("{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\"],\"peers\":[\"10.0.0.2\"]}", &req);
    ctlproto_request_destroy(&req);
    parse_ok("{\"cmd\":\"status\"}", &req);
    assert_int_equal(req.job.local.n, 0);
    ctlproto_request_destroy(&req);
}

/* The selectors: words, a protocol name or number, a port or a range. */
static void
test_flush_selectors(void **state)
{
    struct ctlproto_request req;
    struct json_out j;

    parse_ok("{\"cmd\":\"flush\",\"local\":\"10.0.0.5,fd00::5\",\"direction\":\"ingress\","
             "\"tuple\":\"orig\",\"proto\":\"udp\",\"dport\":\"53-60\",\"family\":\"ipv6\"}",
             &req);
    assert_int_equal(req.job.direction, FLUSH_DIRECTION_INGRESS);
    assert_int_equal(req.job.tuple, FLUSH_TUPLE_ORIG);
    assert_int_equal(req.job.proto, 17);
    assert_true(req.job.has_dport);
    assert_int_equal(req.job.dport_lo, 53);
    assert_int_equal(req.job.dport_hi, 60);
    assert_int_equal(req.job.family, FLUSH_FAMILY_IPV6);
    /* Encoded and parsed again: the same job. */
    json_init(&j);
    ctlproto_request_encode(&req, &j);
    struct ctlproto_request again;
    parse_ok(json_text(&j), &again);
    assert_true(flush_job_same_selectors(&req.job, &again.job));
    json_destroy(&j);
    ctlproto_request_destroy(&again);
    ctlproto_request_destroy(&req);

    parse_ok("{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\"],\"proto\":6,\"dport\":443,"
             "\"direction\":\"egress\",\"family\":\"both\",\"tuple\":\"any\"}", &req);
    assert_int_equal(req.job.proto, 6);
    assert_int_equal(req.job.dport_lo, 443);
    assert_int_equal(req.job.dport_hi, 443);
    assert_int_equal(req.job.direction, FLUSH_DIRECTION_EGRESS);
    ctlproto_request_destroy(&req);

    static const struct { const char *member, *why; } bad[] = {
        { "\"direction\":\"in\"", "direction: must be" },
        { "\"direction\":1", "direction: must be" },
        { "\"tuple\":\"reply\"", "tuple: must be" },
        { "\"family\":\"inet\"", "family: must be" },
        { "\"family\":null", "family: must be" },
        { "\"proto\":0", "proto: must be" },
        { "\"proto\":256", "proto: must be" },
        { "\"proto\":-1", "proto: must be" },
        { "\"proto\":\"tcpx\"", "proto: must be" },
        { "\"proto\":6.5", "proto: must be" },
        { "\"proto\":6,\"dport\":65536", "dport: must be" },
        { "\"proto\":6,\"dport\":\"9-8\"", "dport: must be" },
        { "\"proto\":6,\"dport\":true", "dport: must be" },
        { "\"dport\":53", "dport needs a protocol" },
        { "\"proto\":\"icmp\",\"family\":\"ipv6\"", "does not exist" },
        { "\"family\":\"ipv6\"", "family ipv6" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"cmd\":\"flush\",\"local\":\"10.0.0.5\",%s}",
                 bad[i].member);
        parse_bad(text, CTL_E_BAD_REQUEST, bad[i].why);
    }
}

static void
test_flush_malformed(void **state)
{
    /* local. */
    bad_request("{\"cmd\":\"flush\"}", "local: missing");
    bad_request("{\"cmd\":\"flush\",\"local\":5}", "local: must be");
    bad_request("{\"cmd\":\"flush\",\"local\":null}", "local: must be");
    bad_request("{\"cmd\":\"flush\",\"local\":{\"a\":1}}", "local: must be");
    bad_request("{\"cmd\":\"flush\",\"local\":true}", "local: must be");
    bad_request("{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\",5]}", "local[1]: must be a string");
    bad_request("{\"cmd\":\"flush\",\"local\":[[\"10.0.0.1\"]]}", "local[0]: must be a string");
    bad_request("{\"cmd\":\"flush\",\"local\":[]}", "local: no address given");
    bad_request("{\"cmd\":\"flush\",\"local\":\"\"}", "local: no address given");
    bad_request("{\"cmd\":\"flush\",\"local\":\" , \"}", "local: no address given");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.300\"}", "local: bad address or prefix");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1/33\"}", "10.0.0.1/33");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.5/24\"}", "local:");
    bad_request("{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\",\"nope\"]}",
                "local[1]: bad address or prefix 'nope'");
    /* An array item is one address, not a list. */
    bad_request("{\"cmd\":\"flush\",\"local\":[\"10.0.0.1,10.0.0.2\"]}", "local[0]: bad address");
    bad_request("{\"cmd\":\"flush\",\"local\":[\"any\"]}", "local[0]: bad address");
    bad_request("{\"cmd\":\"flush\",\"local\":[\"\"]}", "local[0]: bad address");
    /* Control characters in a quoted item do not reach the message. */
    bad_request("{\"cmd\":\"flush\",\"local\":[\"10.0.0.1\\n<3>forged\"]}", "local[0]: bad");
    bad_request("{\"cmd\":\"flush\",\"local\":\"\\u001b[31m\"}", "local: bad");

    /* peers. */
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"peers\":7}", "peers: must be");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"peers\":[]}", "peers: no address");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"peers\":[\"x\"]}",
                "peers[0]: bad address or prefix 'x'");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"peers\":\"10.0.0.2,y\"}",
                "peers: bad address or prefix 'y'");

    /* zone. */
    static const char *const zones[] = {
        "-1", "65536", "1.5", "\"5\"", "null", "true", "[1]", "4294967296", "-0.5",
    };
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        char text[128];

        snprintf(text, sizeof text, "{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"zone\":%s}",
                 zones[i]);
        bad_request(text, "zone: must be an integer 0..65535");
    }

    /* mark and mask. */
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"mark\":-1}",
                "mark: must be an integer 0..4294967295");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"mark\":4294967296}",
                "mark: must be an integer 0..4294967295");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"mark\":\"1\"}", "mark: must be");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"mark\":1,\"mark_mask\":4294967296}",
                "mark_mask: must be an integer 0..4294967295");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"mark\":1,\"mark_mask\":false}",
                "mark_mask: must be");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"mark_mask\":255}",
                "mark_mask: given without mark");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"mark\":256,\"mark_mask\":255}",
                "mark 0x100 has bits outside the mask 0xff");
    /* Refused as --mark 1/0 is on both command lines (one rule, job.c). */
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"mark\":0,\"mark_mask\":0}",
                "the mark mask is 0");

    /* wait. */
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"wait\":1}",
                "wait: must be true or false");
    bad_request("{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"wait\":\"yes\"}",
                "wait: must be true or false");

    /* flush_job_validate's refusals. */
    bad_request("{\"cmd\":\"flush\",\"local\":\"any\",\"peers\":\"any\"}",
                "refusing to flush every entry of every zone");
    bad_request("{\"cmd\":\"flush\",\"local\":\"any\"}", "refusing to flush every entry");
    bad_request("{\"cmd\":\"flush\",\"local\":\"any\",\"peers\":\"any\",\"mark\":1}",
                "refusing to flush every entry");
    bad_request("{\"cmd\":\"flush\",\"local\":\"any\",\"peers\":[\"10.0.0.1\"],\"zone\":1}",
                "local 'any' needs peers 'any'");
}

/* "@FILE" would have the daemon read a file a client names. The file here
 * holds a valid address, so success would mean it had been read. */
static void
test_file_lists_refused(void **state)
{
    char path[] = "/tmp/test_ctlproto.XXXXXX";
    char text[256];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "10.0.0.9\n", 9), 9);
    close(fd);

    snprintf(text, sizeof text, "{\"cmd\":\"flush\",\"local\":\"@%s\"}", path);
    bad_request(text, "local: '@FILE' lists are not read");
    snprintf(text, sizeof text, "{\"cmd\":\"flush\",\"local\":\"10.0.0.1\",\"peers\":\"@%s\"}",
             path);
    bad_request(text, "peers: '@FILE'");
    snprintf(text, sizeof text, "{\"cmd\":\"flush\",\"local\":\"10.0.0.1, @%s\"}", path);
    bad_request(text, "local: '@FILE'");
    snprintf(text, sizeof text, "{\"cmd\":\"flush\",\"local\":[\"@%s\"]}", path);
    bad_request(text, "local[0]: bad address");
    snprintf(text, sizeof text, "{\"cmd\":\"set-ips\",\"port\":\"tap0\",\"ips\":\"@%s\"}", path);
    bad_request(text, "ips: '@FILE'");
    snprintf(text, sizeof text, "{\"cmd\":\"set-ips\",\"port\":\"tap0\",\"ips\":[\"@%s\"]}",
             path);
    bad_request(text, "ips[0]: bad address");
    unlink(path);
}

static void
test_cancel(void **state)
{
    struct ctlproto_request req;

    parse_ok("{\"cmd\":\"cancel\",\"id\":42}", &req);
    assert_int_equal(req.cmd, CTL_CMD_CANCEL);
    assert_true(req.id == 42);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    parse_ok("{\"cmd\":\"cancel\",\"id\":9223372036854775807}", &req);
    assert_true(req.id == INT64_MAX);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    parse_ok("{\"cmd\":\"cancel\",\"id\":0}", &req);
    assert_true(req.id == 0);
    ctlproto_request_destroy(&req);

    bad_request("{\"cmd\":\"cancel\"}", "id: missing");
    bad_request("{\"cmd\":\"cancel\",\"id\":-1}", "id: must be an integer >= 0");
    bad_request("{\"cmd\":\"cancel\",\"id\":\"42\"}", "id: must be");
    bad_request("{\"cmd\":\"cancel\",\"id\":4.2}", "id: must be");
    bad_request("{\"cmd\":\"cancel\",\"id\":null}", "id: must be");
    /* Job ids are at most 2^63 - 1: jansson's integers are int64_t. */
    bad_request("{\"cmd\":\"cancel\",\"id\":9223372036854775808}", "too big integer");
    bad_request("{\"cmd\":\"cancel\",\"id\":18446744073709551615}", "too big integer");
    bad_request("{\"cmd\":\"cancel\",\"id\":18446744073709551616}", "not valid JSON");
}

static void
test_pause(void **state)
{
    struct ctlproto_request req;

    parse_ok("{\"cmd\":\"pause\"}", &req);
    assert_int_equal(req.cmd, CTL_CMD_PAUSE);
    assert_false(req.now);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    parse_ok("{\"cmd\":\"pause\",\"now\":true}", &req);
    assert_true(req.now);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    bad_request("{\"cmd\":\"pause\",\"now\":\"true\"}", "now: must be true or false");
    bad_request("{\"cmd\":\"pause\",\"now\":0}", "now: must be true or false");
    bad_request("{\"cmd\":\"pause\",\"now\":null}", "now: must be true or false");
}

static void
test_set_ips(void **state)
{
    struct ctlproto_request req;
    char name[300];
    char text[512];

    parse_ok("{\"cmd\":\"set-ips\",\"port\":\"tap1234-ab\",\"ips\":[\"10.0.0.5\",\"fd00::5\"]}",
             &req);
    assert_int_equal(req.cmd, CTL_CMD_SET_IPS);
    assert_string_equal(req.port, "tap1234-ab");
    assert_int_equal(req.ips.n, 2);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    parse_ok("{\"cmd\":\"set-ips\",\"port\":\"vhu0\",\"ips\":\"10.0.0.5,10.0.0.6 10.1.0.0/16\"}",
             &req);
    assert_int_equal(req.ips.n, 3);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    /* Empty clears, in both forms. */
    parse_ok("{\"cmd\":\"set-ips\",\"port\":\"vhu0\",\"ips\":[]}", &req);
    assert_int_equal(req.ips.n, 0);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);
    parse_ok("{\"cmd\":\"set-ips\",\"port\":\"vhu0\",\"ips\":\"\"}", &req);
    assert_int_equal(req.ips.n, 0);
    ctlproto_request_destroy(&req);

    /* Longest name. */
    memset(name, 'p', 255);
    name[255] = '\0';
    snprintf(text, sizeof text, "{\"cmd\":\"set-ips\",\"port\":\"%s\",\"ips\":[]}", name);
    parse_ok(text, &req);
    assert_int_equal(strlen(req.port), 255);
    assert_round_trip(&req);
    ctlproto_request_destroy(&req);

    /* Port. */
    bad_request("{\"cmd\":\"set-ips\",\"ips\":[]}", "port: missing");
    bad_request("{\"cmd\":\"set-ips\",\"port\":5,\"ips\":[]}", "port: must be a name");
    bad_request("{\"cmd\":\"set-ips\",\"port\":null,\"ips\":[]}", "port: must be a name");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"\",\"ips\":[]}", "port: must be a name");
    name[255] = 'p';
    name[256] = '\0';
    snprintf(text, sizeof text, "{\"cmd\":\"set-ips\",\"port\":\"%s\",\"ips\":[]}", name);
    bad_request(text, "port: must be a name of 1..255");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap\\u0001\",\"ips\":[]}", "port: must be");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap\\n0\",\"ips\":[]}", "port: must be");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap\\u007f\",\"ips\":[]}", "port: must be");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap 0\",\"ips\":[]}", "port: must be");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"t\\u00e4p\",\"ips\":[]}", "port: must be");

    /* ips. */
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap0\"}", "ips: missing");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap0\",\"ips\":5}", "ips: must be");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap0\",\"ips\":null}", "ips: must be");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap0\",\"ips\":[5]}", "ips[0]: must be a string");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap0\",\"ips\":\"any\"}",
                "ips: bad address or prefix 'any'");
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap0\",\"ips\":[\"10.0.0.1\",\"10.0.0.256\"]}",
                "ips[1]: bad address or prefix '10.0.0.256'");
}

/* ---- The envelope. ---- */

static void
test_malformed_envelope(void **state)
{
    /* Not JSON. */
    bad_request("", "not valid JSON");
    bad_request("status", "not valid JSON");
    bad_request("{", "not valid JSON");
    bad_request("{\"cmd\":\"status\"", "not valid JSON");
    bad_request("{\"cmd\":\"status\"} {}", "not valid JSON");
    bad_request("{\"cmd\":\"status\",}", "not valid JSON");
    bad_request("{'cmd':'status'}", "not valid JSON");
    bad_request("{\"cmd\":\"status\",\"cmd\":\"flush\"}", "not valid JSON");

    /* The strictness docs/protocol.md promises: no NUL in strings, valid
     * UTF-8, nesting at most 16 deep, even in members a command ignores. */
    bad_request("{\"cmd\":\"set-ips\",\"port\":\"tap\\u0000x\",\"ips\":[]}",
                "\\u0000 is not allowed");
    bad_request("{\"cmd\":\"status\",\"x\":\"\\u0000\"}", "not valid JSON");
    bad_request("{\"cmd\":\"status\",\"x\":\"\xff\"}", "not valid JSON");
    bad_request("{\"cmd\":\"status\",\"x\":\"\\udc00\"}", "not valid JSON");
    /* The request object is a level: 15 more under it is the most. */
    for (int levels = 15; levels <= 16; levels++) {
        char deep[128] = "{\"cmd\":\"status\",\"x\":";
        for (int i = 0; i < levels; i++) {
            strcat(deep, "[");
        }
        strcat(deep, "1");
        for (int i = 0; i < levels; i++) {
            strcat(deep, "]");
        }
        strcat(deep, "}");
        if (levels == 15) {
            struct ctlproto_request req;
            parse_ok(deep, &req);
            assert_int_equal(req.cmd, CTL_CMD_STATUS);
            ctlproto_request_destroy(&req);
        } else {
            bad_request(deep, "not valid JSON: nested deeper than 16 levels");
        }
    }

    /* Not an object. */
    bad_request("[]", "request must be a JSON object");
    bad_request("[{\"cmd\":\"status\"}]", "request must be a JSON object");
    bad_request("\"status\"", "request must be a JSON object");
    bad_request("1", "request must be a JSON object");
    bad_request("null", "request must be a JSON object");

    /* cmd. */
    bad_request("{}", "cmd: missing");
    bad_request("{\"Cmd\":\"status\"}", "cmd: missing");
    bad_request("{\"cmd\":1}", "cmd: must be a string");
    bad_request("{\"cmd\":null}", "cmd: must be a string");
    bad_request("{\"cmd\":[\"status\"]}", "cmd: must be a string");
    bad_request("{\"cmd\":{}}", "cmd: must be a string");
    parse_bad("{\"cmd\":\"STATUS\"}", CTL_E_UNKNOWN_CMD, "unknown command 'STATUS'");
    parse_bad("{\"cmd\":\"stat\"}", CTL_E_UNKNOWN_CMD, "unknown command 'stat'");
    parse_bad("{\"cmd\":\"\"}", CTL_E_UNKNOWN_CMD, "unknown command ''");
    parse_bad("{\"cmd\":\"set_ips\"}", CTL_E_UNKNOWN_CMD, "unknown command");
    /* A hostile name is neither echoed raw nor in full. */
    parse_bad("{\"cmd\":\"\\u001b[2J\\n<0>kernel panic "
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
              CTL_E_UNKNOWN_CMD, "...'");
}

/* The line is given by length: what follows it is not read. */
static void
test_length_bounded(void **state)
{
    const char *text = "{\"cmd\":\"status\"}{\"cmd\":\"flush\"}";
    struct ctlproto_request req;
    const char *code = NULL;
    char msg[128];

    assert_int_equal(ctlproto_request_parse(text, 16, &req, &code, msg, sizeof msg), 0);
    assert_int_equal(req.cmd, CTL_CMD_STATUS);
    ctlproto_request_destroy(&req);

    /* An embedded NUL is not the end of the line. */
    assert_int_equal(ctlproto_request_parse("{\"cmd\":\"status\"}\0x", 18, &req, &code,
                                            msg, sizeof msg), EINVAL);
    assert_string_equal(code, CTL_E_BAD_REQUEST);
    ctlproto_request_destroy(&req);

    /* A short message buffer truncates, and none at all is fine. */
    assert_int_equal(ctlproto_request_parse("{}", 2, &req, &code, msg, 5), EINVAL);
    assert_string_equal(msg, "cmd:");
    assert_int_equal(ctlproto_request_parse("{}", 2, &req, &code, NULL, 0), EINVAL);
    assert_string_equal(code, CTL_E_BAD_REQUEST);
}

/* Requests built by a client (not parsed) encode to what they mean. */
static void
test_encode_built(void **state)
{
    struct ctlproto_request req;
    struct json_out j;

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_FLUSH;
    job_make(&req.job, "10.0.0.5,fd00::/64", "192.0.2.0/24");
    req.job.has_zone = true;
    req.job.zone = 3;
    req.wait = true;
    json_init(&j);
    ctlproto_request_encode(&req, &j);
    assert_string_equal(json_text(&j),
                        "{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\",\"fd00::/64\"],"
                        "\"peers\":[\"192.0.2.0/24\"],\"zone\":3,\"wait\":true}");
    assert_round_trip(&req);
    json_destroy(&j);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_FLUSH;
    job_make(&req.job, "10.0.0.5", "any");
    req.job.has_mark = true;
    req.job.mark = 0x100;
    req.job.mark_mask = 0xff00;
    json_init(&j);
    ctlproto_request_encode(&req, &j);
    assert_string_equal(json_text(&j),
                        "{\"cmd\":\"flush\",\"local\":[\"10.0.0.5\"],\"peers\":\"any\","
                        "\"mark\":256,\"mark_mask\":65280,\"wait\":false}");
    assert_round_trip(&req);
    json_destroy(&j);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_SET_IPS;
    req.port = strdup("tap\"0");        /* Not a valid name, but encoded safely. */
    assert_non_null(req.port);
    json_init(&j);
    ctlproto_request_encode(&req, &j);
    assert_string_equal(json_text(&j), "{\"cmd\":\"set-ips\",\"port\":\"tap\\\"0\",\"ips\":[]}");
    json_destroy(&j);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_RESUME;
    json_init(&j);
    ctlproto_request_encode(&req, &j);
    assert_string_equal(json_text(&j), "{\"cmd\":\"resume\"}");
    json_destroy(&j);
    ctlproto_request_destroy(&req);

    ctlproto_request_destroy(NULL);
}

/* ---- Replies. ---- */

static void
test_replies(void **state)
{
    struct json_out j;

    json_init(&j);
    ctlproto_reply_ok_begin(&j);
    json_object_begin(&j);
    json_key(&j, "paused");
    json_bool(&j, false);
    json_object_end(&j);
    ctlproto_reply_end(&j);
    assert_string_equal(json_text(&j), "{\"ok\":true,\"result\":{\"paused\":false}}");
    json_destroy(&j);

    json_init(&j);
    ctlproto_reply_ok_begin(&j);
    json_null_value(&j);
    ctlproto_reply_end(&j);
    assert_string_equal(json_text(&j), "{\"ok\":true,\"result\":null}");
    json_destroy(&j);

    json_init(&j);
    ctlproto_reply_error(&j, CTL_E_NOT_FOUND, "no job \"7\"\n");
    assert_string_equal(json_text(&j),
                        "{\"ok\":false,\"error\":{\"code\":\"not-found\","
                        "\"message\":\"no job \\\"7\\\"\\n\"}}");
    json_destroy(&j);

    /* What the daemon writes, the parser reads back. */
    json_init(&j);
    ctlproto_reply_error(&j, CTL_E_BUSY, "x");
    json_t *v = NULL;
    char err[128];
    assert_int_equal(json_parse(json_text(&j), j.len, &v, err, sizeof err), 0);
    assert_true(json_is_false(json_object_get(v, "ok")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "code")),
                        "busy");
    json_decref(v);
    json_destroy(&j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_names),
        cmocka_unit_test(test_simple_commands),
        cmocka_unit_test(test_jobs),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_flush_malformed),
        cmocka_unit_test(test_flush_selectors),
        cmocka_unit_test(test_file_lists_refused),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_pause),
        cmocka_unit_test(test_set_ips),
        cmocka_unit_test(test_malformed_envelope),
        cmocka_unit_test(test_length_bounded),
        cmocka_unit_test(test_encode_built),
        cmocka_unit_test(test_replies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
