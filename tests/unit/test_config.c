/*
 * test_config.c: unit tests for config.c: every key with good and bad
 * values, the config file parser, the command line, their precedence, the
 * restart diff, copy/destroy, dump and usage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* ---- Helpers. ---- */

/* The value config_dump prints for key (static buffer). */
static const char *
dumped(const struct ctf_config *cfg, const char *key)
{
    static char value[8192];
    char *text = NULL, *line;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    size_t klen = strlen(key);

    assert_non_null(f);
    config_dump(cfg, f);
    fclose(f);
    value[0] = '\0';
    for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, key, klen) && !strncmp(line + klen, " =", 2)) {
            snprintf(value, sizeof value, "%s", line + klen + 2 + (line[klen + 2] == ' '));
            free(text);
            return value;
        }
    }
    free(text);
    fail_msg("key '%s' not in the dump", key);
    return NULL;
}

static char *
dump_all(const struct ctf_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    config_dump(cfg, f);
    fclose(f);
    return text;
}

/* A temp directory per test, emptied and removed in teardown. */
struct tmpdir {
    char path[64];
};

static int
tmp_setup(void **state)
{
    struct tmpdir *t = calloc(1, sizeof *t);

    if (!t) {
        return -1;
    }
    snprintf(t->path, sizeof t->path, "/tmp/test_config.XXXXXX");
    if (!mkdtemp(t->path)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int
tmp_teardown(void **state)
{
    struct tmpdir *t = *state;
    DIR *d = opendir(t->path);
    struct dirent *de;
    char p[512];

    while (d && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", t->path, de->d_name);
            if (unlink(p)) {
                rmdir(p);
            }
        }
    }
    if (d) {
        closedir(d);
    }
    rmdir(t->path);
    free(t);
    return 0;
}

static const char *
tmp_file(void **state, const char *name, const char *text, size_t len)
{
    struct tmpdir *t = *state;
    static char p[512];
    FILE *f;

    snprintf(p, sizeof p, "%s/%s", t->path, name);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return p;
}

#define TMP_FILE(STATE, NAME, TEXT) tmp_file(STATE, NAME, TEXT, strlen(TEXT))

/* ---- Defaults. ---- */

static void
test_defaults(void **state)
{
    struct ctf_config c;

    config_init(&c);
    assert_string_equal(c.ovsdb, "unix:/run/openvswitch/db.sock");
    assert_string_equal(c.control, "/run/ctflushd/ctflushd.sock");
    assert_null(c.control_group);
    assert_false(c.control_group_write);
    assert_int_equal(c.control_mode, 0660);
    assert_string_equal(c.state_dir, "/var/lib/ctflushd");
    assert_int_equal(c.n_iface_ip_keys, 1);
    assert_string_equal(c.iface_ip_keys[0], "ip");
    assert_int_equal(c.n_port_ip_keys, 1);
    assert_string_equal(c.port_ip_keys[0], "ip-address");
    assert_null(c.zone_key);
    assert_false(c.zone_from_vlan_tag);
    assert_true(c.flush_on_add);
    assert_int_equal(c.batch_window_ms, 200);
    assert_int_equal(c.max_local, 1024);
    assert_int_equal(c.max_peers, 1024);
    assert_int_equal(c.queue_max_jobs, 4096);
    assert_int_equal(c.queue_max_prefixes, 1048576);
    assert_int_equal(c.history, 100);
    assert_int_equal(c.max_attempts, 5);
    assert_int_equal(c.retry_base_ms, 1000);
    assert_int_equal(c.retry_max_ms, 60000);
    assert_int_equal(c.worker_timeout_ms, 30000);
    assert_int_equal(c.worker_nice, 10);
    assert_int_equal(c.max_delete_rate, 0);
    assert_int_equal(c.strategy, CT_STRATEGY_AUTO);
    assert_int_equal(c.batch_bytes, 0);
    assert_int_equal(c.dump_threads, 0);
    assert_int_equal(c.max_clients, 1024);
    assert_int_equal(c.max_request_bytes, 65536);
    assert_int_equal(c.client_timeout_ms, 30000);
    assert_int_equal(c.log_level, LOG_LVL_INFO);
    config_destroy(&c);
    (void) state;
}

/* ---- Every key: good values. ---- */

struct good_case {
    const char *key;
    const char *value;
    const char *dump;           /* What config_dump shows afterwards. */
};

static const struct good_case good_cases[] = {
    { "ovsdb", "unix:/var/run/openvswitch/db.sock", "unix:/var/run/openvswitch/db.sock" },
    { "ovsdb", "tcp:127.0.0.1:6640", "tcp:127.0.0.1:6640" },
    { "ovsdb", "ssl:10.0.0.1:6640,ssl:10.0.0.2:6640", "ssl:10.0.0.1:6640,ssl:10.0.0.2:6640" },
    { "control", "/tmp/x.sock", "/tmp/x.sock" },
    { "control", "/a/b c#d", "/a/b c#d" },
    { "control-group", "ctflushd", "ctflushd" },
    { "control-group", "1234", "1234" },
    { "control-group", "", "" },
    { "control-group-write", "yes", "yes" },
    { "control-group-write", "no", "no" },
    { "control-mode", "0600", "0600" },
    { "control-mode", "660", "0660" },
    { "control-mode", "0", "0000" },
    { "control-mode", "777", "0777" },
    { "state-dir", "/srv/ctflushd", "/srv/ctflushd" },
    { "ovs-rundir", "/var/run/openvswitch", "/var/run/openvswitch" },
    { "ovs-timeout-ms", "100", "100" },
    { "ovs-timeout-ms", "600000", "600000" },
    { "iface-ip-keys", "ip", "ip" },
    { "iface-ip-keys", "ip,ip_address", "ip,ip_address" },
    { "iface-ip-keys", " ip ,  neutron:ips ", "ip,neutron:ips" },
    { "iface-ip-keys", "a,b,c,d,e,f,g,h", "a,b,c,d,e,f,g,h" },
    { "iface-ip-keys", "", "" },
    { "port-ip-keys", "ip-address", "ip-address" },
    { "port-ip-keys", "x,y", "x,y" },
    { "port-ip-keys", "  ", "" },
    { "zone-key", "ct-zone", "ct-zone" },
    { "zone-key", "", "" },
    { "metrics-listen", "127.0.0.1:9462", "127.0.0.1:9462" },
    { "metrics-listen", "[::1]:9462", "[::1]:9462" },
    { "metrics-listen", "0.0.0.0:0", "0.0.0.0:0" },
    { "metrics-listen", "[::]:65535", "[::]:65535" },
    { "metrics-listen", "", "" },
    { "zone-from-vlan-tag", "yes", "yes" },
    { "zone-from-vlan-tag", "off", "no" },
    { "flush-on-add", "no", "no" },
    { "flush-on-add", "TRUE", "yes" },
    { "batch-window-ms", "0", "0" },
    { "batch-window-ms", "60000", "60000" },
    { "max-local", "1", "1" },
    { "max-local", "1048576", "1048576" },
    { "max-peers", "4096", "4096" },
    { "queue-max-jobs", "1", "1" },
    { "queue-max-prefixes", "67108864", "67108864" },
    { "history", "0", "0" },
    { "history", "100000", "100000" },
    { "max-attempts", "1", "1" },
    { "max-attempts", "1000", "1000" },
    { "retry-base-ms", "1", "1" },
    { "retry-max-ms", "86400000", "86400000" },
    { "worker-timeout-ms", "100", "100" },
    { "worker-timeout-ms", "3600000", "3600000" },
    { "worker-nice", "-20", "-20" },
    { "worker-nice", "19", "19" },
    { "worker-nice", "0", "0" },
    { "max-delete-rate", "0", "0" },
    { "max-delete-rate", "1000000000", "1000000000" },
    { "strategy", "auto", "auto" },
    { "strategy", "dump", "dump" },
    { "strategy", "filtered-flush", "filtered-flush" },
    { "strategy", "filtered-dump", "filtered-dump" },
    { "strategy", "zone-flush", "zone-flush" },
    { "batch-bytes", "0", "0" },
    { "batch-bytes", "4096", "4096" },
    { "batch-bytes", "1048576", "1048576" },
    { "dump-threads", "0", "0" },
    { "dump-threads", "1", "1" },
    { "dump-threads", "64", "64" },
    { "max-clients", "1", "1" },
    { "max-clients", "65536", "65536" },
    { "max-request-bytes", "1024", "1024" },
    { "max-request-bytes", "67108864", "67108864" },
    { "client-timeout-ms", "100", "100" },
    { "log-level", "err", "err" },
    { "log-level", "warning", "warning" },
    { "log-level", "info", "info" },
    { "log-level", "debug", "debug" },
};

static void
test_every_key_good(void **state)
{
    for (size_t i = 0; i < sizeof good_cases / sizeof *good_cases; i++) {
        const struct good_case *g = &good_cases[i];
        struct ctf_config c;
        char err[256] = "untouched";

        config_init(&c);
        if (config_set(&c, g->key, g->value, err, sizeof err)) {
            fail_msg("%s = '%s' refused: %s", g->key, g->value, err);
        }
        assert_string_equal(err, "");
        assert_string_equal(dumped(&c, g->key), g->dump);
        config_destroy(&c);
    }
    (void) state;
}

/* The members themselves, for the types a dump cannot tell apart. */
static void
test_members_set(void **state)
{
    struct ctf_config c;
    char err[256];

    config_init(&c);
    assert_int_equal(config_set(&c, "control-group", "wheel", err, sizeof err), 0);
    assert_string_equal(c.control_group, "wheel");
    assert_int_equal(config_set(&c, "control-group", "", err, sizeof err), 0);
    assert_null(c.control_group);
    assert_int_equal(config_set(&c, "zone-key", "ct-zone", err, sizeof err), 0);
    assert_string_equal(c.zone_key, "ct-zone");
    assert_int_equal(config_set(&c, "zone-key", "", err, sizeof err), 0);
    assert_null(c.zone_key);
    assert_int_equal(config_set(&c, "iface-ip-keys", "a, b", err, sizeof err), 0);
    assert_int_equal(c.n_iface_ip_keys, 2);
    assert_string_equal(c.iface_ip_keys[0], "a");
    assert_string_equal(c.iface_ip_keys[1], "b");
    assert_int_equal(config_set(&c, "iface-ip-keys", "", err, sizeof err), 0);
    assert_int_equal(c.n_iface_ip_keys, 0);
    assert_int_equal(config_set(&c, "control-mode", "0640", err, sizeof err), 0);
    assert_int_equal(c.control_mode, 0640);
    assert_int_equal(config_set(&c, "worker-nice", "-5", err, sizeof err), 0);
    assert_int_equal(c.worker_nice, -5);
    assert_int_equal(config_set(&c, "max-delete-rate", "123456789", err, sizeof err), 0);
    assert_int_equal(c.max_delete_rate, 123456789);
    assert_int_equal(config_set(&c, "dump-threads", "8", err, sizeof err), 0);
    assert_int_equal(c.dump_threads, 8);
    assert_int_equal(config_set(&c, "dump-threads", "0", err, sizeof err), 0);
    assert_int_equal(c.dump_threads, 0);
    assert_int_not_equal(config_set(&c, "dump-threads", "65", err, sizeof err), 0);
    assert_int_equal(c.dump_threads, 0);
    assert_int_equal(config_set(&c, "strategy", "zone-flush", err, sizeof err), 0);
    assert_int_equal(c.strategy, CT_STRATEGY_ZONE_FLUSH);
    assert_int_equal(config_set(&c, "log-level", "debug", err, sizeof err), 0);
    assert_int_equal(c.log_level, LOG_LVL_DEBUG);
    assert_int_equal(config_set(&c, "log-level", "err", err, sizeof err), 0);
    assert_int_equal(c.log_level, LOG_LVL_ERR);
    assert_int_equal(config_set(&c, "queue-max-prefixes", "2000000", err, sizeof err), 0);
    assert_int_equal(c.queue_max_prefixes, 2000000);
    config_destroy(&c);
    (void) state;
}

/* ---- Every key: bad values, and the exact reason. ---- */

struct bad_case {
    const char *key;
    const char *value;
    const char *err;            /* Exact message. */
};

static const struct bad_case bad_cases[] = {
    { "ovsdb", "", "ovsdb: must be unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT "
                   "(comma-separated for a cluster)" },
    { "ovsdb", "/run/openvswitch/db.sock", NULL },
    { "ovsdb", "unix:", NULL },
    { "ovsdb", "ptcp:6640", NULL },
    { "ovsdb", "tcp:1.2.3.4:6640,", NULL },
    { "ovsdb", "tcp:1.2.3.4:6640,,tcp:1.2.3.5:6640", NULL },
    { "control", "relative.sock", "control: must be an absolute path of at most 107 bytes" },
    { "control", "", NULL },
    { "control", "/" "0123456789012345678901234567890123456789012345678901234567890123456789"
                 "0123456789012345678901234567890123456789", NULL },
    { "control-group", "a b", "control-group: 'a b' is not a group name or number" },
    { "control-group", "-x", NULL },
    { "control-group", "a:b", NULL },
    { "control-group-write", "maybe", "control-group-write: must be yes or no "
                                      "(or true/false, on/off, 1/0)" },
    { "control-group-write", "", NULL },
    { "control-mode", "0668", "control-mode: '0668' is not an octal number from 0 to 0777" },
    { "control-mode", "1777", NULL },
    { "control-mode", "00660", NULL },
    { "control-mode", "", NULL },
    { "control-mode", "rw", NULL },
    { "state-dir", "var/lib", "state-dir: must be an absolute path" },
    { "ovs-rundir", "run/openvswitch", "ovs-rundir: must be an absolute path" },
    { "ovs-timeout-ms", "99", "ovs-timeout-ms: '99' is not a decimal number from 100 to 600000" },
    { "state-dir", "", NULL },
    { "iface-ip-keys", "a,,b", "iface-ip-keys: empty key in the list" },
    { "iface-ip-keys", "a,", "iface-ip-keys: empty key in the list" },
    { "iface-ip-keys", ",a", "iface-ip-keys: empty key in the list" },
    { "iface-ip-keys", "a=b", "iface-ip-keys: 'a=b' is not a key (printable, at most 256 "
                              "bytes, no space, '=' or ',')" },
    { "iface-ip-keys", "a b", NULL },
    { "iface-ip-keys", "a,b,c,d,e,f,g,h,i", "iface-ip-keys: at most 8 keys" },
    { "iface-ip-keys", "ip,ip", "iface-ip-keys: 'ip' is listed twice" },
    { "iface-ip-keys", "caf\xc3\xa9", NULL },
    { "port-ip-keys", "x,=", NULL },
    { "port-ip-keys", "a,,", NULL },
    { "zone-key", "a b", "zone-key: 'a b' is not a key (printable, at most 256 bytes, "
                         "no space, '=' or ',')" },
    { "zone-key", "a=1", NULL },
    { "zone-key", "a,b", NULL },
    /* The address rule is addr.c's; the key only puts its name first. */
    { "metrics-listen", "localhost:9462", "metrics-listen: 'localhost' is not an IPv4 "
                                          "address (host names are not looked up)" },
    { "metrics-listen", "::1:9462", "metrics-listen: '::1:9462' is not IPV4:PORT or "
                                    "[IPV6]:PORT" },
    { "metrics-listen", "127.0.0.1:09462", "metrics-listen: port: '09462' is not a decimal "
                                           "number from 0 to 65535" },
    { "metrics-listen", "127.0.0.1", NULL },
    { "metrics-listen", "127.0.0.1:65536", NULL },
    { "metrics-listen", "[::1]9462", NULL },
    { "metrics-listen", "[fe80::1%eth0]:9462", NULL },
    { "metrics-listen", ":9462", NULL },
    { "zone-from-vlan-tag", "2", "zone-from-vlan-tag: must be yes or no "
                                 "(or true/false, on/off, 1/0)" },
    { "flush-on-add", "y", NULL },
    { "batch-window-ms", "60001", "batch-window-ms: '60001' is not a decimal number from 0 to 60000" },
    { "batch-window-ms", "-1", "batch-window-ms: '-1' is not a decimal number from 0 to 60000" },
    { "batch-window-ms", "", "batch-window-ms: '' is not a decimal number from 0 to 60000" },
    { "batch-window-ms", "abc", NULL },
    { "batch-window-ms", "10ms", NULL },
    { "batch-window-ms", " 10", NULL },
    { "batch-window-ms", "10 ", NULL },
    { "batch-window-ms", "+10", NULL },
    { "batch-window-ms", "0x10", NULL },
    { "batch-window-ms", "1e3", NULL },
    { "batch-window-ms", "-0", NULL },
    /* A leading zero is octal to strtol's base 0: refused, as everywhere. */
    { "batch-window-ms", "0050", "batch-window-ms: '0050' is not a decimal number from 0 "
                                 "to 60000" },
    { "batch-window-ms", "010", NULL },
    { "batch-window-ms", "99999999999999999999999999", NULL },
    { "max-local", "0", "max-local: '0' is not a decimal number from 1 to 1048576" },
    { "max-local", "1048577", NULL },
    { "max-peers", "0", "max-peers: '0' is not a decimal number from 1 to 1048576" },
    { "queue-max-jobs", "0", "queue-max-jobs: '0' is not a decimal number from 1 to 1048576" },
    { "queue-max-prefixes", "67108865", "queue-max-prefixes: '67108865' is not a decimal "
                                        "number from 1 to 67108864" },
    { "history", "100001", "history: '100001' is not a decimal number from 0 to 100000" },
    { "max-attempts", "0", "max-attempts: '0' is not a decimal number from 1 to 1000" },
    { "retry-base-ms", "0", "retry-base-ms: '0' is not a decimal number from 1 to 3600000" },
    { "retry-max-ms", "86400001", "retry-max-ms: '86400001' is not a decimal number from 1 to 86400000" },
    { "worker-timeout-ms", "99", "worker-timeout-ms: '99' is not a decimal number from 100 to 3600000" },
    { "worker-timeout-ms", "0", NULL },
    { "worker-nice", "-21", "worker-nice: '-21' is not a decimal number from -20 to 19" },
    { "worker-nice", "20", NULL },
    { "worker-nice", "-", NULL },
    { "worker-nice", "--1", NULL },
    { "max-delete-rate", "1000000001", "max-delete-rate: '1000000001' is not a decimal number from 0 to 1000000000" },
    { "max-delete-rate", "18446744073709551616", NULL },
    { "strategy", "fast",
      "strategy: must be auto, dump, filtered-flush, zone-flush or filtered-dump" },
    { "strategy", "", NULL },
    { "strategy", "DUMP", NULL },
    { "batch-bytes", "4095", "batch-bytes: '4095' is not 0 or a decimal number from 4096 to 1048576" },
    { "dump-threads", "65", "dump-threads: '65' is not a decimal number from 0 to 64" },
    { "dump-threads", "-1", NULL },
    { "batch-bytes", "1", NULL },
    { "batch-bytes", "1048577", NULL },
    { "batch-bytes", "-0", NULL },
    { "batch-bytes", "00", "batch-bytes: '00' is not 0 or a decimal number from 4096 "
                           "to 1048576" },
    { "max-clients", "0", "max-clients: '0' is not a decimal number from 1 to 65536" },
    { "max-request-bytes", "1023", "max-request-bytes: '1023' is not a decimal number from 1024 to 67108864" },
    { "client-timeout-ms", "99", "client-timeout-ms: '99' is not a decimal number from 100 to 3600000" },
    { "log-level", "verbose", "log-level: must be err, warning, info or debug" },
    { "log-level", "INFO", NULL },
    { "log-level", "", NULL },
    /* Control characters are refused for every key. */
    { "state-dir", "/var/lib/x\ty", "state-dir: the value contains a control character" },
    { "ovsdb", "unix:/a\nb", NULL },
};

static void
test_every_key_bad(void **state)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const struct bad_case *b = &bad_cases[i];
        struct ctf_config c;
        char before[8192], err[512] = "";

        config_init(&c);
        snprintf(before, sizeof before, "%s", dumped(&c, b->key));
        if (config_set(&c, b->key, b->value, err, sizeof err) != EINVAL) {
            fail_msg("%s = '%s' accepted", b->key, b->value);
        }
        if (b->err) {
            assert_string_equal(err, b->err);
        } else {
            /* Every reason names its key. */
            assert_memory_equal(err, b->key, strlen(b->key));
            assert_memory_equal(err + strlen(b->key), ": ", 2);
        }
        /* A refused value changes nothing. */
        assert_string_equal(dumped(&c, b->key), before);
        config_destroy(&c);
    }
    (void) state;
}

/* Every key in the dump has at least one good and one bad case above, so a
 * key added to config.c without tests fails here. */
static void
test_cases_cover_every_key(void **state)
{
    struct ctf_config c;
    char *text, *line, *save = NULL;
    size_t keys = 0;

    config_init(&c);
    text = dump_all(&c);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t klen = strcspn(line, " ");
        bool good = false, bad = false;
        for (size_t i = 0; i < sizeof good_cases / sizeof *good_cases; i++) {
            good |= strlen(good_cases[i].key) == klen && !strncmp(good_cases[i].key, line, klen);
        }
        for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
            bad |= strlen(bad_cases[i].key) == klen && !strncmp(bad_cases[i].key, line, klen);
        }
        if (!good || !bad) {
            fail_msg("key '%.*s' lacks a %s case", (int) klen, line, good ? "bad" : "good");
        }
        keys++;
    }
    assert_int_equal(keys, 33);
    free(text);
    config_destroy(&c);
    (void) state;
}

static void
test_bool_forms(void **state)
{
    static const char *const yes[] = { "yes", "true", "on", "1", "YES", "True", "On" };
    static const char *const no[] = { "no", "false", "off", "0", "NO", "False", "OFF" };
    struct ctf_config c;
    char err[256];

    config_init(&c);
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        c.flush_on_add = false;
        assert_int_equal(config_set(&c, "flush-on-add", yes[i], err, sizeof err), 0);
        assert_true(c.flush_on_add);
        c.flush_on_add = true;
        assert_int_equal(config_set(&c, "flush-on-add", no[i], err, sizeof err), 0);
        assert_false(c.flush_on_add);
    }
    config_destroy(&c);
    (void) state;
}

static void
test_unknown_key_and_null(void **state)
{
    struct ctf_config c;
    char err[256];

    config_init(&c);
    assert_int_equal(config_set(&c, "batch-window", "5", err, sizeof err), ENOENT);
    assert_string_equal(err, "unknown key 'batch-window'");
    assert_int_equal(config_set(&c, "", "5", err, sizeof err), ENOENT);
    assert_int_equal(config_set(&c, "BATCH-WINDOW-MS", "5", err, sizeof err), ENOENT);
    assert_int_equal(config_set(&c, "config", "/x", err, sizeof err), ENOENT);
    assert_int_equal(config_set(&c, "x\ny", "5", err, sizeof err), ENOENT);
    assert_string_equal(err, "unknown key");
    assert_int_equal(config_set(&c, NULL, "5", err, sizeof err), ENOENT);
    assert_int_equal(config_set(&c, "history", NULL, err, sizeof err), EINVAL);
    assert_string_equal(err, "history: missing value");
    /* No error buffer at all is fine. */
    assert_int_equal(config_set(&c, "history", "x", NULL, 0), EINVAL);
    assert_int_equal(config_set(&c, "history", "7", NULL, 0), 0);
    assert_int_equal(c.history, 7);
    /* A short buffer is truncated, never overrun. */
    char small[8];
    memset(small, 'X', sizeof small);
    assert_int_equal(config_set(&c, "history", "x", small, sizeof small), EINVAL);
    assert_string_equal(small, "history");
    config_destroy(&c);
    (void) state;
}

static void
test_key_limits(void **state)
{
    struct ctf_config c;
    char err[512], key[300];

    config_init(&c);
    memset(key, 'k', 256);
    key[256] = '\0';
    assert_int_equal(config_set(&c, "zone-key", key, err, sizeof err), 0);
    assert_int_equal(strlen(c.zone_key), 256);
    assert_int_equal(config_set(&c, "iface-ip-keys", key, err, sizeof err), 0);
    key[256] = 'k';
    key[257] = '\0';
    assert_int_equal(config_set(&c, "zone-key", key, err, sizeof err), EINVAL);
    assert_int_equal(config_set(&c, "iface-ip-keys", key, err, sizeof err), EINVAL);
    assert_int_equal(strlen(c.zone_key), 256);

    char path[200] = "/";
    memset(path + 1, 'p', 106);         /* 107 bytes: the longest sun_path. */
    path[107] = '\0';
    assert_int_equal(config_set(&c, "control", path, err, sizeof err), 0);
    strcat(path, "p");
    assert_int_equal(config_set(&c, "control", path, err, sizeof err), EINVAL);
    config_destroy(&c);
    (void) state;
}

/* Replacing values many times frees what is replaced (valgrind checks). */
static void
test_replace_no_leak(void **state)
{
    struct ctf_config c;
    char err[256];

    config_init(&c);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(config_set(&c, "ovsdb", "tcp:1.2.3.4:6640", err, sizeof err), 0);
        assert_int_equal(config_set(&c, "control", "/tmp/a", err, sizeof err), 0);
        assert_int_equal(config_set(&c, "control-group", "adm", err, sizeof err), 0);
        assert_int_equal(config_set(&c, "state-dir", "/tmp/s", err, sizeof err), 0);
        assert_int_equal(config_set(&c, "zone-key", "z", err, sizeof err), 0);
        assert_int_equal(config_set(&c, "iface-ip-keys", "a,b,c", err, sizeof err), 0);
        assert_int_equal(config_set(&c, "port-ip-keys", "d,e", err, sizeof err), 0);
        assert_int_equal(config_set(&c, "iface-ip-keys", "f", err, sizeof err), 0);
        assert_int_equal(config_set(&c, "iface-ip-keys", "a,a", err, sizeof err), EINVAL);
    }
    assert_int_equal(c.n_iface_ip_keys, 1);
    assert_string_equal(c.iface_ip_keys[0], "f");
    config_destroy(&c);
    config_destroy(&c);         /* Twice: back to defaults, owns nothing. */
    config_destroy(NULL);
    (void) state;
}

/* ---- Copy. ---- */

static void
test_copy_destroy(void **state)
{
    struct ctf_config a, b, d;
    char err[256];
    char *ta, *tb;

    config_init(&a);
    assert_int_equal(config_copy(&d, &a), 0);   /* Defaults only: nothing owned. */
    config_destroy(&d);

    assert_int_equal(config_set(&a, "ovsdb", "tcp:1.2.3.4:6640", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "control-group", "adm", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "iface-ip-keys", "x,y,z", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "zone-key", "zz", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "history", "9", err, sizeof err), 0);
    assert_int_equal(config_copy(&b, &a), 0);
    ta = dump_all(&a);
    tb = dump_all(&b);
    assert_string_equal(ta, tb);
    /* Deep: the strings are the copy's own. */
    assert_ptr_not_equal(a.ovsdb, b.ovsdb);
    assert_ptr_not_equal(a.iface_ip_keys[1], b.iface_ip_keys[1]);
    config_destroy(&a);
    free(tb);
    tb = dump_all(&b);
    assert_string_equal(ta, tb);
    /* The copy changes alone. */
    assert_int_equal(config_set(&b, "iface-ip-keys", "q", err, sizeof err), 0);
    assert_string_equal(b.iface_ip_keys[0], "q");
    free(ta);
    free(tb);
    config_destroy(&b);
    (void) state;
}

/* ---- The config file. ---- */

static void
test_file_good(void **state)
{
    const char *text =
        "# ctflushd.conf\n"
        "\n"
        "   \t\n"
        "batch-window-ms = 500\n"
        "  history=7   \n"
        "\tzone-key\t=\tct-zone   # the zone lives here\n"
        "iface-ip-keys = ip, ip_address\n"
        "state-dir = /srv/a#b\n"
        "control-group =\n"
        "flush-on-add = off\r\n"
        "   # indented comment = with an equals sign\n"
        "history = 8\n"
        "worker-nice = -3";                 /* No final newline. */
    const char *path = TMP_FILE(state, "ctflushd.conf", text);
    struct ctf_config c;
    char err[512] = "x";

    config_init(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(c.batch_window_ms, 500);
    assert_int_equal(c.history, 8);             /* The last one wins. */
    assert_string_equal(c.zone_key, "ct-zone");
    assert_int_equal(c.n_iface_ip_keys, 2);
    assert_string_equal(c.iface_ip_keys[1], "ip_address");
    assert_string_equal(c.state_dir, "/srv/a#b");
    assert_null(c.control_group);
    assert_false(c.flush_on_add);
    assert_int_equal(c.worker_nice, -3);
    /* Untouched keys keep their values. */
    assert_int_equal(c.max_local, 1024);
    config_destroy(&c);
}

static void
test_file_empty(void **state)
{
    const char *path = TMP_FILE(state, "empty.conf", "");
    const char *path2 = TMP_FILE(state, "blank.conf", "\n\n# only comments\n\n");
    struct ctf_config c;
    char err[256];

    config_init(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(config_load_file(&c, path2, err, sizeof err), 0);
    assert_int_equal(c.batch_window_ms, 200);
    config_destroy(&c);
}

struct file_err_case {
    const char *text;
    const char *err;            /* After "PATH:". */
};

static void
test_file_errors(void **state)
{
    static const struct file_err_case cases[] = {
        { "history = 5\n# c\n\nbatch-window-ms = 70000\n",
          "4: batch-window-ms: '70000' is not a decimal number from 0 to 60000" },
        { "history = 5\nfoo = bar\n", "2: unknown key 'foo'" },
        { "just some words\n", "1: expected 'key = value'" },
        { "\n = 5\n", "2: missing key before '='" },
        { "history 5\n", "1: expected 'key = value'" },
        { "history = 5 # trailing comment\nhistory = 5 6\n",
          "2: history: '5 6' is not a decimal number from 0 to 100000" },
        { "batch window ms = 5\n", "1: unknown key 'batch window ms'" },
        { "history = \n", "1: history: '' is not a decimal number from 0 to 100000" },
        { "log-level = info\nlog-level = loud\n",
          "2: log-level: must be err, warning, info or debug" },
    };
    char err[512], want[1024];

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = TMP_FILE(state, "bad.conf", cases[i].text);
        struct ctf_config c;

        config_init(&c);
        assert_int_equal(config_load_file(&c, path, err, sizeof err), EINVAL);
        snprintf(want, sizeof want, "%s:%s", path, cases[i].err);
        assert_string_equal(err, want);
        /* A file with an error applies nothing, not even its good lines. */
        assert_int_equal(c.history, 100);
        assert_int_equal(c.log_level, LOG_LVL_INFO);
        config_destroy(&c);
    }
}

static void
test_file_nul_byte(void **state)
{
    static const char text[] = "history = 5\nhistory\0 = 6\n";
    const char *path = tmp_file(state, "nul.conf", text, sizeof text - 1);
    struct ctf_config c;
    char err[512], want[600];

    config_init(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), EINVAL);
    snprintf(want, sizeof want, "%s:2: the line contains a NUL byte", path);
    assert_string_equal(err, want);
    config_destroy(&c);
}

static void
test_file_long_lines(void **state)
{
    size_t big = 1 << 20;
    char *text = malloc(big + 64);
    struct ctf_config c;
    char err[512], want[600];
    const char *path;

    assert_non_null(text);
    /* A megabyte-long comment is skipped... */
    text[0] = '#';
    memset(text + 1, 'c', big);
    strcpy(text + 1 + big, "\nhistory = 3\n");
    path = TMP_FILE(state, "longcomment.conf", text);
    config_init(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(c.history, 3);

    /* ... a megabyte-long value is an error, not a crash or a huge key. */
    strcpy(text, "history = 4\nzone-key = ");
    size_t off = strlen(text);
    memset(text + off, 'k', big);
    strcpy(text + off + big, "\n");
    path = TMP_FILE(state, "longvalue.conf", text);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), EINVAL);
    snprintf(want, sizeof want, "%s:2: the line is longer than 65536 bytes", path);
    assert_string_equal(err, want);
    assert_int_equal(c.history, 3);

    /* A line just within the limit is read whole (and refused by the key's
     * own rule, which proves the value arrived intact). */
    strcpy(text, "zone-key = ");
    off = strlen(text);
    memset(text + off, 'k', 65536 - off);
    strcpy(text + 65536, "\n");
    path = TMP_FILE(state, "limit.conf", text);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), EINVAL);
    snprintf(want, sizeof want, "%s:1: zone-key: '", path);
    assert_memory_equal(err, want, strlen(want));
    config_destroy(&c);
    free(text);
}

static void
test_file_missing_and_dir(void **state)
{
    struct tmpdir *t = *state;
    struct ctf_config c;
    char err[512], path[256], want[600];

    config_init(&c);
    snprintf(path, sizeof path, "%s/nope.conf", t->path);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), ENOENT);
    snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
    assert_string_equal(err, want);
    /* A directory is an error, not an empty file. */
    assert_int_equal(config_load_file(&c, t->path, err, sizeof err), EISDIR);
    config_destroy(&c);
}

static void
test_dump_round_trip(void **state)
{
    struct ctf_config a, b;
    char err[512];
    char *ta, *tb;
    FILE *f;
    struct tmpdir *t = *state;
    char path[256];

    config_init(&a);
    for (size_t i = 0; i < sizeof good_cases / sizeof *good_cases; i++) {
        assert_int_equal(config_set(&a, good_cases[i].key, good_cases[i].value, err,
                                    sizeof err), 0);
    }
    /* Make sure every kind of value is in a non-default state. */
    assert_int_equal(config_set(&a, "control-group", "adm", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "zone-key", "z", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "iface-ip-keys", "a,b", err, sizeof err), 0);
    ta = dump_all(&a);

    snprintf(path, sizeof path, "%s/dump.conf", t->path);
    f = fopen(path, "w");
    assert_non_null(f);
    config_dump(&a, f);
    fclose(f);
    config_init(&b);
    if (config_load_file(&b, path, err, sizeof err)) {
        fail_msg("dump does not load back: %s", err);
    }
    tb = dump_all(&b);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    config_destroy(&a);
    config_destroy(&b);
}

/* ---- The command line. ---- */

#define ARGV(...) ((char *[]) { "ctflushd", __VA_ARGS__, NULL })
#define ARGC(...) ((int) (sizeof ((char *[]) { "ctflushd", __VA_ARGS__ }) / sizeof (char *)))
#define PARSE(CLI, ERR, ...) \
    config_parse_cli(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), CLI, ERR, sizeof ERR)

static void
test_cli_forms(void **state)
{
    struct config_cli cli;
    char err[512];

    assert_int_equal(PARSE(&cli, err, "--batch-window-ms", "50", "--history=9",
                           "--zone-key=", "--control-group", "", "--config", "/x.conf",
                           "--ovsdb=tcp:1.2.3.4:6640"), 0);
    assert_string_equal(cli.config_path, "/x.conf");
    assert_true(cli.config_given);
    assert_false(cli.help);
    assert_false(cli.version);
    assert_int_equal(cli.n, 5);
    assert_string_equal(cli.keys[0], "batch-window-ms");
    assert_string_equal(cli.values[0], "50");
    assert_string_equal(cli.keys[1], "history");
    assert_string_equal(cli.values[1], "9");
    assert_string_equal(cli.keys[2], "zone-key");
    assert_string_equal(cli.values[2], "");
    assert_string_equal(cli.keys[3], "control-group");
    assert_string_equal(cli.values[3], "");
    assert_string_equal(cli.keys[4], "ovsdb");
    assert_string_equal(cli.values[4], "tcp:1.2.3.4:6640");
    config_cli_destroy(&cli);
    config_cli_destroy(&cli);
    config_cli_destroy(NULL);

    assert_int_equal(PARSE(&cli, err, "--config=/y.conf"), 0);
    assert_string_equal(cli.config_path, "/y.conf");
    config_cli_destroy(&cli);

    /* No arguments: the default file, not required. */
    char *argv0[] = { "ctflushd", NULL };
    assert_int_equal(config_parse_cli(1, argv0, &cli, err, sizeof err), 0);
    assert_string_equal(cli.config_path, CONFIG_DEFAULT_PATH);
    assert_false(cli.config_given);
    assert_int_equal(cli.n, 0);
    config_cli_destroy(&cli);

    /* A value after '=' may start with "--". */
    assert_int_equal(PARSE(&cli, err, "--zone-key=--odd"), 0);
    assert_string_equal(cli.values[0], "--odd");
    config_cli_destroy(&cli);

    /* "--" ends the options. */
    assert_int_equal(PARSE(&cli, err, "--history", "1", "--"), 0);
    config_cli_destroy(&cli);
    (void) state;
}

static void
test_cli_every_key(void **state)
{
    /* Every good case works as --key VALUE and as --key=VALUE. */
    for (size_t i = 0; i < sizeof good_cases / sizeof *good_cases; i++) {
        const struct good_case *g = &good_cases[i];
        struct config_cli cli;
        char opt[128], eqopt[256], err[512];

        snprintf(opt, sizeof opt, "--%s", g->key);
        snprintf(eqopt, sizeof eqopt, "--%s=%s", g->key, g->value);
        char *a1[] = { "ctflushd", opt, (char *) g->value, NULL };
        char *a2[] = { "ctflushd", eqopt, NULL };
        if (config_parse_cli(3, a1, &cli, err, sizeof err)) {
            fail_msg("%s '%s': %s", opt, g->value, err);
        }
        assert_int_equal(cli.n, 1);
        assert_string_equal(cli.keys[0], g->key);
        config_cli_destroy(&cli);
        if (config_parse_cli(2, a2, &cli, err, sizeof err)) {
            fail_msg("%s: %s", eqopt, err);
        }
        assert_int_equal(cli.n, 1);
        assert_string_equal(cli.values[0], g->value);
        config_cli_destroy(&cli);
    }
    (void) state;
}

static void
test_cli_help_version(void **state)
{
    struct config_cli cli;
    char err[512];

    assert_int_equal(PARSE(&cli, err, "-h"), 0);
    assert_true(cli.help);
    config_cli_destroy(&cli);
    assert_int_equal(PARSE(&cli, err, "--history", "3", "--help", "--bogus"), 0);
    assert_true(cli.help);
    config_cli_destroy(&cli);
    assert_int_equal(PARSE(&cli, err, "--version"), 0);
    assert_true(cli.version);
    assert_false(cli.help);
    config_cli_destroy(&cli);
    (void) state;
}

struct cli_err_case {
    const char *args[4];
    const char *err;
};

static void
test_cli_errors(void **state)
{
    static const struct cli_err_case cases[] = {
        { { "--bogus", "1" }, "unknown option '--bogus' (see ctflushd --help)" },
        { { "--bogus=1" }, "unknown option '--bogus' (see ctflushd --help)" },
        { { "--batch-window" , "5" }, "unknown option '--batch-window' (see ctflushd --help)" },
        { { "-x" }, "unknown option '-x' (see ctflushd --help)" },
        { { "stray" }, "unexpected argument 'stray' (see ctflushd --help)" },
        { { "--" , "stray" }, "unexpected argument 'stray' (see ctflushd --help)" },
        { { "--history", "1", "stray" }, "unexpected argument 'stray' (see ctflushd --help)" },
        { { "--help=yes" }, "option '--help' takes no value" },
        { { "--hist", "5" }, "unknown option '--hist' (see ctflushd --help)" },
        { { "--max-local", "--" }, "option '--max-local' needs a value (--max-local=VALUE for "
                                   "one that starts with '--')" },
        { { "--worker-nice", "-5", "-y" }, "unknown option '-y' (see ctflushd --help)" },
        { { "--history" }, "option '--history' needs a value (--history=VALUE for one "
                           "that starts with '--')" },
        { { "--zone-key", "--history", "5" }, "option '--zone-key' needs a value "
                           "(--zone-key=VALUE for one that starts with '--')" },
        { { "--config" }, "option '--config' needs a value (--config=VALUE for one that "
                          "starts with '--')" },
        { { "--config=" }, "--config: needs a file name" },
        { { "--batch-window-ms", "70000" }, "--batch-window-ms: '70000' is not a decimal number "
                                            "from 0 to 60000" },
        { { "--batch-window-ms=x" }, "--batch-window-ms: 'x' is not a decimal number from 0 "
                                     "to 60000" },
        { { "--strategy", "fast" }, "--strategy: must be auto, dump, filtered-flush, "
                                    "zone-flush or filtered-dump" },
        { { "--oneshot" }, "--oneshot takes its own options: see ctflushd --oneshot --help" },
        { { "--" "-history", "5" }, "unknown option '---history' (see ctflushd --help)" },
        { { "--=5" }, "unknown option '--' (see ctflushd --help)" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *argv[6] = { "ctflushd" };
        int argc = 1;
        struct config_cli cli;
        char err[512] = "";

        for (size_t j = 0; j < 4 && cases[i].args[j]; j++) {
            argv[argc++] = (char *) cases[i].args[j];
        }
        assert_int_equal(config_parse_cli(argc, argv, &cli, err, sizeof err), EINVAL);
        assert_string_equal(err, cases[i].err);
        /* On error the struct is already released and reset. */
        assert_null(cli.keys);
        assert_int_equal(cli.n, 0);
        config_cli_destroy(&cli);
    }
    (void) state;
}

/* ---- config_build: defaults, then the file, then the command line. ---- */

static void
test_build_precedence(void **state)
{
    const char *path = TMP_FILE(state, "ctflushd.conf",
                                "history = 7\nbatch-window-ms = 500\nzone-key = f\n");
    char pbuf[512];
    struct config_cli cli;
    struct ctf_config c;
    char err[512];

    snprintf(pbuf, sizeof pbuf, "%s", path);
    assert_int_equal(PARSE(&cli, err, "--config", pbuf, "--history", "9", "--zone-key=",
                           "--history=11"), 0);
    assert_int_equal(config_build(&cli, &c, err, sizeof err), 0);
    assert_int_equal(c.history, 11);            /* CLI, last one. */
    assert_int_equal(c.batch_window_ms, 500);   /* File. */
    assert_null(c.zone_key);                    /* CLI cleared it. */
    assert_int_equal(c.max_local, 1024);        /* Default. */
    config_destroy(&c);
    config_cli_destroy(&cli);
}

static void
test_build_missing_files(void **state)
{
    struct tmpdir *t = *state;
    struct config_cli cli;
    struct ctf_config c;
    char err[512], path[256], want[600];

    snprintf(path, sizeof path, "%s/absent.conf", t->path);

    /* The default file may be missing: simulated by a cli that names a path
     * without --config. */
    assert_int_equal(PARSE(&cli, err, "--history", "4"), 0);
    cli.config_path = path;
    assert_int_equal(config_build(&cli, &c, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(c.history, 4);
    config_destroy(&c);
    config_cli_destroy(&cli);

    /* A file named with --config must exist. */
    assert_int_equal(PARSE(&cli, err, "--config", path), 0);
    assert_int_equal(config_build(&cli, &c, err, sizeof err), ENOENT);
    snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
    assert_string_equal(err, want);
    /* On failure out holds the defaults and may be destroyed. */
    assert_int_equal(c.history, 100);
    config_destroy(&c);
    config_cli_destroy(&cli);
}

static void
test_build_errors(void **state)
{
    const char *path = TMP_FILE(state, "bad.conf", "history = 7\nnope = 1\n");
    char pbuf[512], want[600];
    struct config_cli cli;
    struct ctf_config c;
    char err[512];

    snprintf(pbuf, sizeof pbuf, "%s", path);
    assert_int_equal(PARSE(&cli, err, "--config", pbuf), 0);
    assert_int_equal(config_build(&cli, &c, err, sizeof err), EINVAL);
    snprintf(want, sizeof want, "%s:2: unknown key 'nope'", pbuf);
    assert_string_equal(err, want);
    config_destroy(&c);
    config_cli_destroy(&cli);

    /* Checks between keys see the final values, from any source. */
    path = TMP_FILE(state, "retry.conf", "retry-base-ms = 5000\n");
    snprintf(pbuf, sizeof pbuf, "%s", path);
    assert_int_equal(PARSE(&cli, err, "--config", pbuf, "--retry-max-ms", "4000"), 0);
    assert_int_equal(config_build(&cli, &c, err, sizeof err), EINVAL);
    assert_string_equal(err, "retry-max-ms (4000) is below retry-base-ms (5000)");
    config_destroy(&c);
    config_cli_destroy(&cli);

    assert_int_equal(PARSE(&cli, err, "--config", pbuf, "--retry-max-ms", "5000"), 0);
    assert_int_equal(config_build(&cli, &c, err, sizeof err), 0);
    config_destroy(&c);
    config_cli_destroy(&cli);

    path = TMP_FILE(state, "grp.conf", "control-group-write = yes\n");
    snprintf(pbuf, sizeof pbuf, "%s", path);
    assert_int_equal(PARSE(&cli, err, "--config", pbuf), 0);
    assert_int_equal(config_build(&cli, &c, err, sizeof err), EINVAL);
    assert_string_equal(err, "control-group-write = yes needs a control-group");
    config_destroy(&c);
    config_cli_destroy(&cli);

    assert_int_equal(PARSE(&cli, err, "--config", pbuf, "--control-group", "adm"), 0);
    assert_int_equal(config_build(&cli, &c, err, sizeof err), 0);
    assert_string_equal(c.control_group, "adm");
    assert_true(c.control_group_write);
    config_destroy(&c);
    config_cli_destroy(&cli);

    /* A cli filled by hand with a bad value is still refused by build. */
    char *keys[] = { "history" }, *values[] = { "lots" };
    struct config_cli hand = { .config_path = "/nonexistent/ctflushd.conf", .keys = keys,
                               .values = values, .n = 1 };
    assert_int_equal(config_build(&hand, &c, err, sizeof err), EINVAL);
    assert_string_equal(err, "--history: 'lots' is not a decimal number from 0 to 100000");
    config_destroy(&c);

    /* No cli at all: the defaults and the default file. */
    if (access(CONFIG_DEFAULT_PATH, F_OK)) {
        assert_int_equal(config_build(NULL, &c, err, sizeof err), 0);
        assert_int_equal(c.history, 100);
        config_destroy(&c);
    }
}

/* ---- One rule for numbers (num.h): the file and the command line refuse
 * "0x10" and its kin with the same words as ctflushctl, --oneshot and the
 * watcher (test_ctlargs.c, test_oneshotargs.c, test_extids.c). ---- */

static void
test_numbers_one_rule(void **state)
{
    static const char *const bad[] = { "0x10", "010", "+5", " 5", "5 ", "70000", "-1" };
    char text[64], pbuf[512], want[700], err[512];
    struct config_cli cli;
    struct ctf_config c;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char reason[128];

        snprintf(reason, sizeof reason, "'%s' is not a decimal number from 0 to 60000", bad[i]);

        /* config_set, which the file and the command line both go through. */
        config_init(&c);
        assert_int_equal(config_set(&c, "batch-window-ms", bad[i], err, sizeof err), EINVAL);
        snprintf(want, sizeof want, "batch-window-ms: %s", reason);
        assert_string_equal(err, want);
        config_destroy(&c);

        /* The command line, both forms. */
        char *a1[] = { "ctflushd", "--batch-window-ms", (char *) bad[i], NULL };
        assert_int_equal(config_parse_cli(3, a1, &cli, err, sizeof err), EINVAL);
        snprintf(want, sizeof want, "--batch-window-ms: %s", reason);
        assert_string_equal(err, want);
        snprintf(text, sizeof text, "--batch-window-ms=%s", bad[i]);
        char *a2[] = { "ctflushd", text, NULL };
        assert_int_equal(config_parse_cli(2, a2, &cli, err, sizeof err), EINVAL);
        assert_string_equal(err, want);
    }

    /* The file: blanks around a value are the file's syntax, not the
     * number's, so " 5" and "5 " are fine there; the rest are refused. */
    const char *path = TMP_FILE(state, "hex.conf", "batch-window-ms = 0x10\n");
    snprintf(pbuf, sizeof pbuf, "%s", path);
    assert_int_equal(PARSE(&cli, err, "--config", pbuf), 0);
    assert_int_equal(config_build(&cli, &c, err, sizeof err), EINVAL);
    snprintf(want, sizeof want, "%s:1: batch-window-ms: '0x10' is not a decimal number from 0 "
             "to 60000", pbuf);
    assert_string_equal(err, want);
    config_destroy(&c);
    config_cli_destroy(&cli);

    /* Octal where the docs say octal, through the same module. */
    config_init(&c);
    assert_int_equal(config_set(&c, "control-mode", "0640", err, sizeof err), 0);
    assert_int_equal(c.control_mode, 0640);
    assert_int_equal(config_set(&c, "control-mode", "640", err, sizeof err), 0);
    assert_int_equal(c.control_mode, 0640);
    assert_int_equal(config_set(&c, "control-mode", "0x1a4", err, sizeof err), EINVAL);
    assert_string_equal(err, "control-mode: '0x1a4' is not an octal number from 0 to 0777");
    config_destroy(&c);
}

/* ---- Restart diff. ---- */

static void
test_restart_diff(void **state)
{
    static const struct {
        const char *key, *value, *diff;
    } cases[] = {
        { "control", "/tmp/c.sock", "control" },
        { "control-group", "adm", "control-group" },
        { "control-group-write", "yes", "control-group-write" },
        { "control-mode", "0600", "control-mode" },
        { "state-dir", "/tmp/st", "state-dir" },
        { "metrics-listen", "127.0.0.1:9462", "metrics-listen" },
        /* The watcher restarts to apply these: no daemon restart. */
        { "ovsdb", "tcp:1.2.3.4:6640", "" },
        { "iface-ip-keys", "x", "" },
        { "zone-key", "z", "" },
        { "batch-window-ms", "1", "" },
        { "log-level", "debug", "" },
        { "worker-nice", "0", "" },
        { "max-clients", "5", "" },
        /* The same value again is no change. */
        { "control-mode", "660", "" },
        { "control", "/run/ctflushd/ctflushd.sock", "" },
    };
    struct ctf_config old, new_;
    char err[256], buf[256];

    config_init(&old);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        config_init(&new_);
        assert_int_equal(config_set(&new_, cases[i].key, cases[i].value, err, sizeof err), 0);
        memset(buf, 'X', sizeof buf);
        config_restart_diff(&old, &new_, buf, sizeof buf);
        assert_string_equal(buf, cases[i].diff);
        config_destroy(&new_);
    }

    config_init(&new_);
    assert_int_equal(config_set(&new_, "state-dir", "/tmp/st", err, sizeof err), 0);
    assert_int_equal(config_set(&new_, "control", "/tmp/c", err, sizeof err), 0);
    assert_int_equal(config_set(&new_, "control-mode", "0600", err, sizeof err), 0);
    assert_int_equal(config_set(&new_, "history", "1", err, sizeof err), 0);
    config_restart_diff(&old, &new_, buf, sizeof buf);
    assert_string_equal(buf, "control,control-mode,state-dir");
    /* Short buffers are truncated, never overrun; zero length is a no-op. */
    char small[10];
    config_restart_diff(&old, &new_, small, sizeof small);
    assert_string_equal(small, "control,c");
    config_restart_diff(&old, &new_, small, 0);
    config_destroy(&new_);
    config_destroy(&old);
    (void) state;
}

/* ---- Usage. ---- */

static void
test_usage_lists_every_key(void **state)
{
    struct ctf_config c;
    char *usage = NULL, *dump, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&usage, &len);

    assert_non_null(f);
    config_usage(f);
    fclose(f);
    assert_non_null(strstr(usage, "usage: ctflushd [--config FILE]"));
    assert_non_null(strstr(usage, "--oneshot"));
    assert_non_null(strstr(usage, "--batch-window-ms N"));
    assert_non_null(strstr(usage, "default: 200; 0..60000\n"));
    assert_non_null(strstr(usage, "default: 0; 0 or 4096..1048576\n"));
    assert_non_null(strstr(usage, "default: unix:/run/openvswitch/db.sock"));
    assert_non_null(strstr(usage, "Where things are:"));
    assert_non_null(strstr(usage, "Control clients:"));

    config_init(&c);
    dump = dump_all(&c);
    for (line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char opt[128];
        snprintf(opt, sizeof opt, "  --%.*s ", (int) strcspn(line, " "), line);
        if (!strstr(usage, opt)) {
            fail_msg("usage lacks '%s'", opt);
        }
    }
    /* Restart keys are marked so, and only they. */
    assert_non_null(strstr(usage, "default: /var/lib/ctflushd; [restart]\n"));
    assert_non_null(strstr(usage, "default: 0660; [restart]\n"));
    assert_null(strstr(usage, "default: unix:/run/openvswitch/db.sock; [restart]"));
    /* It fits a terminal. */
    for (char *l = usage; *l; ) {
        size_t n = strcspn(l, "\n");
        if (n > 79) {
            fail_msg("usage line over 79 columns: %.*s", (int) n, l);
        }
        l += n + (l[n] == '\n');
    }
    free(dump);
    free(usage);
    config_destroy(&c);
    (void) state;
}

/* ---- The sample file shipped in systemd/. ---- */

/* systemd/ctflushd.conf shows every key with its default as "#key = value".
 * Loaded as is it must change nothing; with those lines uncommented it must
 * still load and still equal the defaults, and name every key once. */
static void
test_sample_conf(void **state)
{
    char path[1024], *text, *out, *def, *got;
    const char *slash = strrchr(__FILE__, '/');
    struct ctf_config c, d;
    char err[512];
    size_t len = 0, n_keys = 0;
    FILE *f;

    if (__FILE__[0] != '/' || !slash) {
        skip();
    }
    snprintf(path, sizeof path, "%.*s/../../systemd/ctflushd.conf",
             (int) (slash - __FILE__), __FILE__);
    f = fopen(path, "r");
    if (!f) {
        skip();
    }
    text = calloc(1, 1 << 16);
    out = calloc(1, 1 << 16);
    assert_non_null(text);
    assert_non_null(out);
    len = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    assert_true(len > 0 && len < (1 << 16) - 1);

    config_init(&d);
    def = dump_all(&d);

    config_init(&c);
    if (config_load_file(&c, path, err, sizeof err)) {
        fail_msg("%s", err);
    }
    got = dump_all(&c);
    assert_string_equal(got, def);
    free(got);
    config_destroy(&c);

    /* Uncomment "#key = value" lines (a '#' right before a lower-case key). */
    size_t o = 0;
    for (char *line = text; *line; ) {
        size_t l = strcspn(line, "\n");
        bool setting = line[0] == '#' && line[1] >= 'a' && line[1] <= 'z'
                       && memchr(line, '=', l);
        if (setting) {
            char key[64];
            size_t kl = strcspn(line + 1, " =");
            snprintf(key, sizeof key, "\n%.*s =", (int) kl, line + 1);
            if (!strstr(def, key) && strncmp(def, key + 1, strlen(key + 1))) {
                fail_msg("sample sets unknown key '%.*s'", (int) kl, line + 1);
            }
            n_keys++;
        }
        memcpy(out + o, line + setting, l - setting);
        o += l - setting;
        out[o++] = '\n';
        line += l + (line[l] == '\n');
    }
    assert_int_equal(n_keys, 33);       /* Every key, each once (see below). */
    const char *tmp = tmp_file(state, "sample.conf", out, o);
    config_init(&c);
    if (config_load_file(&c, tmp, err, sizeof err)) {
        fail_msg("uncommented sample: %s", err);
    }
    got = dump_all(&c);
    assert_string_equal(got, def);
    /* 33 lines and every key of the dump among them: each key once. */
    for (char *line = def; *line; ) {
        size_t l = strcspn(line, "\n");
        char key[80];
        snprintf(key, sizeof key, "\n#%.*s =", (int) strcspn(line, " "), line);
        if (!strstr(text, key)) {
            fail_msg("sample lacks '%s'", key + 1);
        }
        line += l + (line[l] == '\n');
    }
    free(got);
    free(def);
    free(text);
    free(out);
    config_destroy(&c);
    config_destroy(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key_good),
        cmocka_unit_test(test_members_set),
        cmocka_unit_test(test_every_key_bad),
        cmocka_unit_test(test_cases_cover_every_key),
        cmocka_unit_test(test_bool_forms),
        cmocka_unit_test(test_unknown_key_and_null),
        cmocka_unit_test(test_key_limits),
        cmocka_unit_test(test_replace_no_leak),
        cmocka_unit_test(test_copy_destroy),
        cmocka_unit_test_setup_teardown(test_file_good, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_empty, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_nul_byte, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_long_lines, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_missing_and_dir, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_dump_round_trip, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_cli_forms),
        cmocka_unit_test(test_cli_every_key),
        cmocka_unit_test(test_cli_help_version),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test_setup_teardown(test_build_precedence, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_build_missing_files, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_numbers_one_rule, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_build_errors, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_restart_diff),
        cmocka_unit_test(test_usage_lists_every_key),
        cmocka_unit_test_setup_teardown(test_sample_conf, tmp_setup, tmp_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
