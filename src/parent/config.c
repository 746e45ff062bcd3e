/*
 * config.c: ctflushd's settings. One table of keys drives the config file,
 * the command line, config_dump, the restart diff and the usage text, so a
 * key cannot be accepted in one place and missing from another.
 */
#include "config.h"
#include "addr.h"
#include "cliopt.h"
#include "jobrun.h"
#include "num.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

/* Bounds on text values. None is a real limit for a sane configuration; they
 * keep a wrong file (a binary, a pasted log) from producing huge values, and
 * let every value be formatted into one fixed buffer. */
#define CONFIG_PATH_MAX 4096        /* Paths and OVSDB remotes. */
#define CONFIG_NAME_MAX 256         /* external_ids keys and group names. */
#define CONFIG_LINE_MAX 65536       /* One line of the config file. */
#define CONFIG_VALUE_BUF (CONFIG_PATH_MAX + 64)

/* The default strings are static and shared: config_init returns void and so
 * must not allocate, and a configuration that was never changed needs nothing
 * freed. A string member is owned by its struct unless it is NULL or points
 * at one of these (config_owned). */
static char config_def_ovsdb[] = "unix:/run/openvswitch/db.sock";
static char config_def_control[] = "/run/ctflushd/ctflushd.sock";
static char config_def_state_dir[] = "/var/lib/ctflushd";
static char config_def_ovs_rundir[] = "/run/openvswitch";
static char config_def_iface_key[] = "ip";
static char config_def_port_key[] = "ip-address";

enum config_type {
    CONFIG_T_REMOTE,            /* OVSDB remote(s): unix:, tcp:, ssl:. */
    CONFIG_T_SOCKPATH,          /* Absolute path that fits in sun_path. */
    CONFIG_T_DIR,               /* Absolute path. */
    CONFIG_T_GROUP,             /* Group name or gid; "" = none (NULL). */
    CONFIG_T_BOOL,
    CONFIG_T_UINT,              /* unsigned int member. */
    CONFIG_T_SIZE,              /* size_t member. */
    CONFIG_T_U64,               /* uint64_t member. */
    CONFIG_T_INT,               /* int member. */
    CONFIG_T_MODE,              /* unsigned int member, written in octal. */
    CONFIG_T_KEYS,              /* Comma list of external_ids keys. */
    CONFIG_T_KEY_OPT,           /* One external_ids key; "" = none (NULL). */
    CONFIG_T_STRATEGY,
    CONFIG_T_LOG_LEVEL,
    CONFIG_T_LISTEN,            /* IPV4:PORT or [IPV6]:PORT; "" = off (NULL). */
};

struct config_key {
    const char *name;           /* File key and long option. */
    enum config_type type;
    size_t off;                 /* Of the member in struct ctf_config. */
    size_t off_n;               /* CONFIG_T_KEYS: of the count member. */
    int64_t min, max;           /* Integers: the accepted range. */
    bool zero_ok;               /* Integers: 0 is accepted too ("off" or
                                 * "built-in default") below min. */
    bool restart;               /* Kept until restart on reload. */
    const char *group;          /* Starts a group in the usage text. */
    const char *metavar;        /* Usage: what the value is. */
    const char *help;           /* Usage: one short line. */
};

#define M(FIELD) offsetof(struct ctf_config, FIELD)

/* Integer keys carry their range; text keys check their own shape in
 * config_set. The order is the order of the usage text and of config_dump. */
#define INT(TYPE, MIN, MAX) .type = (TYPE), .min = (MIN), .max = (MAX)

static const struct config_key config_keys[] = {
    { .name = "ovsdb", .type = CONFIG_T_REMOTE, .off = M(ovsdb),
      .group = "Where things are", .metavar = "REMOTE",
      .help = "OVSDB remote(s): unix:PATH, tcp:H:P or ssl:H:P" },
    { .name = "control", .type = CONFIG_T_SOCKPATH, .off = M(control), .restart = true,
      .metavar = "PATH", .help = "control socket" },
    { .name = "control-group", .type = CONFIG_T_GROUP, .off = M(control_group),
      .restart = true, .metavar = "GROUP",
      .help = "group allowed to connect; empty: root only" },
    { .name = "control-group-write", .type = CONFIG_T_BOOL, .off = M(control_group_write),
      .restart = true, .metavar = "BOOL", .help = "control-group may also change things" },
    { .name = "control-mode", .type = CONFIG_T_MODE, .off = M(control_mode), .restart = true,
      .metavar = "MODE", .help = "control socket permissions, octal" },
    { .name = "state-dir", .type = CONFIG_T_DIR, .off = M(state_dir), .restart = true,
      .metavar = "DIR", .help = "directory of state.json" },
    { .name = "ovs-rundir", .type = CONFIG_T_DIR, .off = M(ovs_rundir), .restart = true,
      .metavar = "DIR",
      .help = "ovs-vswitchd's pidfile and unixctl socket" },

    { .name = "iface-ip-keys", .type = CONFIG_T_KEYS, .off = M(iface_ip_keys),
      .off_n = M(n_iface_ip_keys),
      .group = "How ports are read (the watcher restarts on a change)",
      .metavar = "KEYS", .help = "Interface external_ids keys with the IPs" },
    { .name = "port-ip-keys", .type = CONFIG_T_KEYS, .off = M(port_ip_keys),
      .off_n = M(n_port_ip_keys), .metavar = "KEYS",
      .help = "then these Port external_ids keys" },
    { .name = "zone-key", .type = CONFIG_T_KEY_OPT, .off = M(zone_key), .metavar = "KEY",
      .help = "external_ids key with the zone; empty: none" },
    { .name = "zone-from-vlan-tag", .type = CONFIG_T_BOOL, .off = M(zone_from_vlan_tag),
      .metavar = "BOOL", .help = "the Port's VLAN tag is its zone" },

    { .name = "flush-on-add", .type = CONFIG_T_BOOL, .off = M(flush_on_add),
      .group = "Jobs", .metavar = "BOOL", .help = "flush stale entries of a new port's IPs" },
    { .name = "batch-window-ms", INT(CONFIG_T_UINT, 0, 60000), .off = M(batch_window_ms),
      .metavar = "N", .help = "coalesce port events over N ms" },
    { .name = "max-local", INT(CONFIG_T_SIZE, 1, 1048576), .off = M(max_local),
      .metavar = "N", .help = "local prefixes per merged job and chunk" },
    { .name = "max-peers", INT(CONFIG_T_SIZE, 1, 1048576), .off = M(max_peers),
      .metavar = "N", .help = "peer prefixes per chunk" },
    { .name = "queue-max-jobs", INT(CONFIG_T_SIZE, 1, 1048576), .off = M(queue_max_jobs),
      .metavar = "N", .help = "queued jobs (manual flushes refused above)" },
    { .name = "queue-max-prefixes", INT(CONFIG_T_SIZE, 1, 67108864),
      .off = M(queue_max_prefixes), .metavar = "N", .help = "prefixes over all queued jobs" },
    { .name = "history", INT(CONFIG_T_SIZE, 0, 100000), .off = M(history),
      .metavar = "N", .help = "finished jobs kept for `ctflushctl jobs`" },
    { .name = "max-attempts", INT(CONFIG_T_UINT, 1, 1000), .off = M(max_attempts),
      .metavar = "N", .help = "runs before a job fails for good" },
    { .name = "retry-base-ms", INT(CONFIG_T_UINT, 1, 3600000), .off = M(retry_base_ms),
      .metavar = "N", .help = "first retry delay, doubled per attempt" },
    { .name = "retry-max-ms", INT(CONFIG_T_UINT, 1, 86400000), .off = M(retry_max_ms),
      .metavar = "N", .help = "longest retry delay" },

    { .name = "worker-timeout-ms", INT(CONFIG_T_UINT, 100, 3600000),
      .off = M(worker_timeout_ms), .group = "Worker (from the next job)",
      .metavar = "N", .help = "kill a worker silent for N ms" },
    { .name = "ovs-timeout-ms", INT(CONFIG_T_UINT, 100, 600000), .off = M(ovs_timeout_ms),
      .restart = true, .metavar = "N",
      .help = "limit of one call to ovs-vswitchd" },
    { .name = "worker-nice", INT(CONFIG_T_INT, -20, 19), .off = M(worker_nice),
      .metavar = "N", .help = "the worker's nice value" },
    { .name = "max-delete-rate", INT(CONFIG_T_U64, 0, 1000000000), .off = M(max_delete_rate),
      .metavar = "N", .help = "deletes per second; 0: no cap" },
    { .name = "strategy", .type = CONFIG_T_STRATEGY, .off = M(strategy),
      .metavar = "NAME", .help = "auto or a strategy to force (ctflushd(8))" },
    /* Below 4096 a batch is too small to be worth a sendmsg; 0 leaves the
     * choice to ctsock. */
    { .name = "batch-bytes", INT(CONFIG_T_SIZE, 4096, 1048576), .zero_ok = true,
      .off = M(batch_bytes), .metavar = "N",
      .help = "delete bytes per sendmsg; 0: built-in 65536" },
    { .name = "dump-threads", INT(CONFIG_T_UINT, 0, ENGINE_MAX_DUMP_THREADS), .off = M(dump_threads),
      .metavar = "N", .help = "threads for a job's dumps; 0: CPUs, at most 4" },

    { .name = "max-clients", INT(CONFIG_T_UINT, 1, 65536), .off = M(max_clients),
      .group = "Control clients", .metavar = "N", .help = "connected clients at once" },
    { .name = "max-request-bytes", INT(CONFIG_T_SIZE, 1024, 67108864),
      .off = M(max_request_bytes), .metavar = "N", .help = "longest request line" },
    { .name = "client-timeout-ms", INT(CONFIG_T_UINT, 100, 3600000),
      .off = M(client_timeout_ms), .metavar = "N",
      .help = "close a stalled or idle client after N ms" },

    /* A restart, not a reload: under systemd the unit's address families
     * are fixed when it starts (docs/packaging.md), so a rebind on reload
     * could not reach a family the old setting did not need. */
    { .name = "metrics-listen", .type = CONFIG_T_LISTEN, .off = M(metrics_listen),
      .restart = true, .group = "Prometheus metrics over HTTP", .metavar = "ADDR:PORT",
      .help = "serve GET /metrics here; empty: off" },

    { .name = "log-level", .type = CONFIG_T_LOG_LEVEL, .off = M(log_level),
      .group = "Logging", .metavar = "LEVEL", .help = "err, warning, info or debug" },
};

#undef INT
#undef M

#define CONFIG_N_KEYS (sizeof config_keys / sizeof *config_keys)

static const struct {
    enum log_level level;
    const char *name;
} config_log_levels[] = {
    { LOG_LVL_ERR, "err" },
    { LOG_LVL_WARNING, "warning" },
    { LOG_LVL_INFO, "info" },
    { LOG_LVL_DEBUG, "debug" },
};

static void config_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
config_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool
config_owned(const char *s)
{
    return s && s != config_def_ovsdb && s != config_def_control
           && s != config_def_state_dir && s != config_def_ovs_rundir
           && s != config_def_iface_key
           && s != config_def_port_key;
}

/* Every string slot of a configuration, so that copy and destroy cannot
 * forget one. Returns the number of slots (at most 7 + 2 * CONFIG_MAX_KEYS). */
#define CONFIG_MAX_SLOTS (7 + 2 * CONFIG_MAX_KEYS)

static size_t
config_slots(struct ctf_config *cfg, char **slots[CONFIG_MAX_SLOTS])
{
    size_t n = 0;

    slots[n++] = &cfg->ovsdb;
    slots[n++] = &cfg->control;
    slots[n++] = &cfg->control_group;
    slots[n++] = &cfg->state_dir;
    slots[n++] = &cfg->ovs_rundir;
    slots[n++] = &cfg->zone_key;
    slots[n++] = &cfg->metrics_listen;
    for (size_t i = 0; i < cfg->n_iface_ip_keys && i < CONFIG_MAX_KEYS; i++) {
        slots[n++] = &cfg->iface_ip_keys[i];
    }
    for (size_t i = 0; i < cfg->n_port_ip_keys && i < CONFIG_MAX_KEYS; i++) {
        slots[n++] = &cfg->port_ip_keys[i];
    }
    return n;
}

void
config_init(struct ctf_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ovsdb = config_def_ovsdb;
    cfg->control = config_def_control;
    cfg->control_group = NULL;
    cfg->control_group_write = false;
    cfg->control_mode = 0660;
    cfg->state_dir = config_def_state_dir;
    cfg->ovs_rundir = config_def_ovs_rundir;
    cfg->ovs_timeout_ms = 10000;

    cfg->iface_ip_keys[0] = config_def_iface_key;
    cfg->n_iface_ip_keys = 1;
    cfg->port_ip_keys[0] = config_def_port_key;
    cfg->n_port_ip_keys = 1;
    cfg->zone_key = NULL;
    cfg->zone_from_vlan_tag = false;

    cfg->flush_on_add = true;
    cfg->batch_window_ms = 200;
    cfg->max_local = 1024;
    cfg->max_peers = 1024;
    cfg->queue_max_jobs = 4096;
    cfg->queue_max_prefixes = 1048576;
    cfg->history = 100;
    cfg->max_attempts = 5;
    cfg->retry_base_ms = 1000;
    cfg->retry_max_ms = 60000;

    cfg->worker_timeout_ms = 30000;
    cfg->worker_nice = 10;
    cfg->max_delete_rate = 0;
    cfg->strategy = CT_STRATEGY_AUTO;
    cfg->batch_bytes = 0;
    cfg->dump_threads = 0;

    cfg->max_clients = 1024;
    cfg->max_request_bytes = 65536;
    cfg->client_timeout_ms = 30000;

    cfg->metrics_listen = NULL;

    cfg->log_level = LOG_LVL_INFO;
}

void
config_destroy(struct ctf_config *cfg)
{
    char **slots[CONFIG_MAX_SLOTS];
    size_t n;

    if (!cfg) {
        return;
    }
    n = config_slots(cfg, slots);
    for (size_t i = 0; i < n; i++) {
        if (config_owned(*slots[i])) {
            free(*slots[i]);
        }
    }
    /* Back to the defaults, which own nothing: a second destroy is harmless. */
    config_init(cfg);
}

int
config_copy(struct ctf_config *dst, const struct ctf_config *src)
{
    char **slots[CONFIG_MAX_SLOTS];
    size_t n;

    *dst = *src;
    n = config_slots(dst, slots);
    for (size_t i = 0; i < n; i++) {
        if (!config_owned(*slots[i])) {
            continue;
        }
        char *dup = strdup(*slots[i]);
        if (!dup) {
            /* Slots from i on still point into src: disown them before
             * destroying what was copied so far. */
            for (size_t j = i; j < n; j++) {
                *slots[j] = NULL;
            }
            config_destroy(dst);
            return ENOMEM;
        }
        *slots[i] = dup;
    }
    return 0;
}

static const struct config_key *
config_find(const char *name, size_t len)
{
    for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
        if (strlen(config_keys[i].name) == len && !memcmp(config_keys[i].name, name, len)) {
            return &config_keys[i];
        }
    }
    return NULL;
}

static void *
config_member(struct ctf_config *cfg, const struct config_key *k)
{
    return (char *) cfg + k->off;
}

static const void *
config_cmember(const struct ctf_config *cfg, const struct config_key *k)
{
    return (const char *) cfg + k->off;
}

static int
config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return EINVAL;
}

/* An external_ids key as it may appear here: printable, no space, and no
 * '=' or ',' (which would be read as separators in lists and in "k=v"). */
static bool
config_key_name_ok(const char *s, size_t len)
{
    if (!len || len > CONFIG_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (!isgraph(c) || c == '=' || c == ',') {
            return false;
        }
    }
    return true;
}

static bool
config_has_ctl(const char *s)
{
    for (; *s; s++) {
        if (iscntrl((unsigned char) *s)) {
            return true;
        }
    }
    return false;
}

/* Replaces a string member; NULL value stores NULL. */
static int
config_store_str(char **slot, const char *value)
{
    char *dup = NULL;

    if (value) {
        dup = strdup(value);
        if (!dup) {
            return ENOMEM;
        }
    }
    if (config_owned(*slot)) {
        free(*slot);
    }
    *slot = dup;
    return 0;
}

static int
config_check_remote(const char *value)
{
    static const char *const kinds[] = { "unix:", "tcp:", "ssl:" };
    const char *p = value;

    if (!*value || strlen(value) >= CONFIG_PATH_MAX) {
        return EINVAL;
    }
    /* Several remotes (a clustered database) are comma-separated, as OVS
     * takes them. */
    while (true) {
        size_t n = strcspn(p, ",");
        bool ok = false;
        for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
            size_t kl = strlen(kinds[i]);
            if (n > kl && !strncmp(p, kinds[i], kl)) {
                ok = true;
            }
        }
        if (!ok) {
            return EINVAL;
        }
        if (!p[n]) {
            return 0;
        }
        p += n + 1;
    }
}

static int
config_set_keys(struct ctf_config *cfg, const struct config_key *k, const char *value,
                char *err, size_t errlen)
{
    char **list = config_member(cfg, k);
    size_t *np = (size_t *) ((char *) cfg + k->off_n);
    char *items[CONFIG_MAX_KEYS];
    size_t n = 0;
    const char *p = value;
    int rc = EINVAL;

    /* A blank value is an empty list: no keys of this kind are read. */
    while (p[strspn(p, " \t")]) {
        size_t len = strcspn(p, ",");
        const char *item = p;
        size_t ilen = len;

        /* "ip, ip_address": blanks around an item are not part of it. */
        while (ilen && isspace((unsigned char) *item)) {
            item++;
            ilen--;
        }
        while (ilen && isspace((unsigned char) item[ilen - 1])) {
            ilen--;
        }
        if (!ilen) {
            config_err(err, errlen, "%s: empty key in the list", k->name);
            goto fail;
        }
        if (!config_key_name_ok(item, ilen)) {
            config_err(err, errlen, "%s: '%.*s' is not a key (printable, at most %d "
                       "bytes, no space, '=' or ',')", k->name,
                       (int) (ilen > 64 ? 64 : ilen), item, CONFIG_NAME_MAX);
            goto fail;
        }
        if (n == CONFIG_MAX_KEYS) {
            config_err(err, errlen, "%s: at most %d keys", k->name, CONFIG_MAX_KEYS);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            if (strlen(items[i]) == ilen && !memcmp(items[i], item, ilen)) {
                config_err(err, errlen, "%s: '%s' is listed twice", k->name, items[i]);
                goto fail;
            }
        }
        items[n] = strndup(item, ilen);
        if (!items[n]) {
            config_err(err, errlen, "%s: out of memory", k->name);
            rc = ENOMEM;
            goto fail;
        }
        n++;
        if (!p[len]) {
            break;
        }
        p += len + 1;
        if (!p[strspn(p, " \t")]) {
            config_err(err, errlen, "%s: empty key in the list", k->name);
            goto fail;
        }
    }

    for (size_t i = 0; i < *np && i < CONFIG_MAX_KEYS; i++) {
        if (config_owned(list[i])) {
            free(list[i]);
        }
        list[i] = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        list[i] = items[i];
    }
    *np = n;
    return 0;

fail:
    for (size_t i = 0; i < n; i++) {
        free(items[i]);
    }
    return rc;
}

static int
config_set_int(struct ctf_config *cfg, const struct config_key *k, const char *value,
               char *err, size_t errlen)
{
    void *m = config_member(cfg, k);
    char why[256];
    int64_t v;

    if (num_parse_i64(value, k->zero_ok ? NUM_OR_ZERO : NUM_DEC, k->min, k->max, &v,
                      why, sizeof why)) {
        config_err(err, errlen, "%s: %s", k->name, why);
        return EINVAL;
    }
    switch (k->type) {
    case CONFIG_T_UINT:
        *(unsigned int *) m = (unsigned int) v;
        break;
    case CONFIG_T_SIZE:
        *(size_t *) m = (size_t) v;
        break;
    case CONFIG_T_U64:
        *(uint64_t *) m = (uint64_t) v;
        break;
    case CONFIG_T_INT:
        *(int *) m = (int) v;
        break;
    default:
        return EINVAL;
    }
    return 0;
}

static int
config_set_mode(struct ctf_config *cfg, const struct config_key *k, const char *value,
                char *err, size_t errlen)
{
    char why[256];
    uint64_t mode;

    if (num_parse_u64(value, NUM_OCT, 0, 0777, &mode, why, sizeof why)) {
        config_err(err, errlen, "%s: %s", k->name, why);
        return EINVAL;
    }
    *(unsigned int *) config_member(cfg, k) = (unsigned int) mode;
    return 0;
}

int
config_set(struct ctf_config *cfg, const char *key, const char *value,
           char *err, size_t errlen)
{
    const struct config_key *k = key ? config_find(key, strlen(key)) : NULL;
    void *m;
    int rc = 0;

    if (err && errlen) {
        *err = '\0';
    }
    if (!k) {
        if (key && !config_has_ctl(key)) {
            config_err(err, errlen, "unknown key '%.64s'", key);
        } else {
            config_err(err, errlen, "unknown key");
        }
        return ENOENT;
    }
    if (!value) {
        config_err(err, errlen, "%s: missing value", k->name);
        return EINVAL;
    }
    if (config_has_ctl(value)) {
        config_err(err, errlen, "%s: the value contains a control character", k->name);
        return EINVAL;
    }
    m = config_member(cfg, k);

    switch (k->type) {
    case CONFIG_T_REMOTE:
        if (config_check_remote(value)) {
            config_err(err, errlen, "%s: must be unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT "
                       "(comma-separated for a cluster)", k->name);
            return EINVAL;
        }
        rc = config_store_str(m, value);
        break;

    case CONFIG_T_SOCKPATH:
        if (value[0] != '/' || strlen(value) >= sizeof ((struct sockaddr_un *) 0)->sun_path) {
            config_err(err, errlen, "%s: must be an absolute path of at most %zu bytes",
                       k->name, sizeof ((struct sockaddr_un *) 0)->sun_path - 1);
            return EINVAL;
        }
        rc = config_store_str(m, value);
        break;

    case CONFIG_T_DIR:
        if (value[0] != '/' || strlen(value) >= CONFIG_PATH_MAX) {
            config_err(err, errlen, "%s: must be an absolute path", k->name);
            return EINVAL;
        }
        rc = config_store_str(m, value);
        break;

    case CONFIG_T_GROUP:
        /* The name is resolved when the socket is created: the group may be
         * created after this file is written, and a reload must not depend
         * on NSS. Here only its shape is checked. */
        if (*value && (strlen(value) > CONFIG_NAME_MAX || value[0] == '-'
                       || !config_key_name_ok(value, strlen(value))
                       || strchr(value, ':'))) {
            config_err(err, errlen, "%s: '%.64s' is not a group name or number", k->name,
                       value);
            return EINVAL;
        }
        rc = config_store_str(m, *value ? value : NULL);
        break;

    case CONFIG_T_BOOL:
        if (config_parse_bool(value, m)) {
            config_err(err, errlen, "%s: must be yes or no (or true/false, on/off, 1/0)",
                       k->name);
            return EINVAL;
        }
        break;

    case CONFIG_T_UINT:
    case CONFIG_T_SIZE:
    case CONFIG_T_U64:
    case CONFIG_T_INT:
        return config_set_int(cfg, k, value, err, errlen);

    case CONFIG_T_MODE:
        return config_set_mode(cfg, k, value, err, errlen);

    case CONFIG_T_KEYS:
        return config_set_keys(cfg, k, value, err, errlen);

    case CONFIG_T_KEY_OPT:
        if (*value && !config_key_name_ok(value, strlen(value))) {
            config_err(err, errlen, "%s: '%.64s' is not a key (printable, at most %d bytes, "
                       "no space, '=' or ',')", k->name, value, CONFIG_NAME_MAX);
            return EINVAL;
        }
        rc = config_store_str(m, *value ? value : NULL);
        break;

    case CONFIG_T_STRATEGY:
        if (ct_strategy_parse(value, m)) {
            config_err(err, errlen,
                       "%s: must be auto, dump, filtered-flush, zone-flush or filtered-dump",
                       k->name);
            return EINVAL;
        }
        break;

    case CONFIG_T_LISTEN: {
        struct ctf_sockaddr sa;
        char why[256];
        if (*value && ctf_sockaddr_parse(value, &sa, why, sizeof why)) {
            config_err(err, errlen, "%s: %s", k->name, why);
            return EINVAL;
        }
        rc = config_store_str(m, *value ? value : NULL);
        break;
    }

    case CONFIG_T_LOG_LEVEL: {
        size_t i;
        for (i = 0; i < sizeof config_log_levels / sizeof *config_log_levels; i++) {
            if (!strcmp(value, config_log_levels[i].name)) {
                *(enum log_level *) m = config_log_levels[i].level;
                break;
            }
        }
        if (i == sizeof config_log_levels / sizeof *config_log_levels) {
            config_err(err, errlen, "%s: must be err, warning, info or debug", k->name);
            return EINVAL;
        }
        break;
    }
    }
    if (rc) {
        config_err(err, errlen, "%s: out of memory", k->name);
    }
    return rc;
}

/* Formats one value as config_set takes it back. Values are bounded by
 * config_set, so buf (CONFIG_VALUE_BUF) always holds them. */
static void
config_format(const struct ctf_config *cfg, const struct config_key *k, char *buf,
              size_t len)
{
    const void *m = config_cmember(cfg, k);

    buf[0] = '\0';
    switch (k->type) {
    case CONFIG_T_REMOTE:
    case CONFIG_T_SOCKPATH:
    case CONFIG_T_DIR:
    case CONFIG_T_GROUP:
    case CONFIG_T_KEY_OPT:
    case CONFIG_T_LISTEN: {
        const char *s = *(char *const *) m;
        snprintf(buf, len, "%s", s ? s : "");
        break;
    }
    case CONFIG_T_BOOL:
        snprintf(buf, len, "%s", *(const bool *) m ? "yes" : "no");
        break;
    case CONFIG_T_UINT:
        snprintf(buf, len, "%u", *(const unsigned int *) m);
        break;
    case CONFIG_T_SIZE:
        snprintf(buf, len, "%zu", *(const size_t *) m);
        break;
    case CONFIG_T_U64:
        snprintf(buf, len, "%" PRIu64, *(const uint64_t *) m);
        break;
    case CONFIG_T_INT:
        snprintf(buf, len, "%d", *(const int *) m);
        break;
    case CONFIG_T_MODE:
        snprintf(buf, len, "%04o", *(const unsigned int *) m);
        break;
    case CONFIG_T_KEYS: {
        char *const *list = m;
        size_t n = *(const size_t *) ((const char *) cfg + k->off_n);
        size_t used = 0;
        for (size_t i = 0; i < n && i < CONFIG_MAX_KEYS && used < len; i++) {
            int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                             list[i] ? list[i] : "");
            used += w > 0 ? (size_t) w : 0;
        }
        break;
    }
    case CONFIG_T_STRATEGY:
        snprintf(buf, len, "%s", ct_strategy_name(*(const enum ct_strategy *) m));
        break;
    case CONFIG_T_LOG_LEVEL: {
        enum log_level lvl = *(const enum log_level *) m;
        const char *name = "info";
        for (size_t i = 0; i < sizeof config_log_levels / sizeof *config_log_levels; i++) {
            if (config_log_levels[i].level == lvl) {
                name = config_log_levels[i].name;
            }
        }
        snprintf(buf, len, "%s", name);
        break;
    }
    }
}

/* Reads one line of any length. At most CONFIG_LINE_MAX bytes are kept; the
 * rest of a longer line is consumed and *too_long set, so a line never grows
 * the buffer past the limit. Returns 1 (a line), 0 (end of file), -1 (read
 * error, errno set) or -2 (out of memory). */
static int
config_read_line(FILE *f, char **buf, size_t *cap, size_t *len, bool *too_long)
{
    int c;
    bool any = false;

    *len = 0;
    *too_long = false;
    while ((c = getc(f)) != EOF) {
        any = true;
        if (c == '\n') {
            break;
        }
        if (*len >= CONFIG_LINE_MAX) {
            *too_long = true;
            continue;
        }
        if (*len + 1 >= *cap) {
            size_t ncap = *cap ? *cap * 2 : 256;
            char *nbuf = realloc(*buf, ncap);
            if (!nbuf) {
                return -2;
            }
            *buf = nbuf;
            *cap = ncap;
        }
        (*buf)[(*len)++] = (char) c;
    }
    if (ferror(f)) {
        return -1;
    }
    if (!any) {
        return 0;
    }
    if (!*buf) {
        /* An empty last line ("\n" only): hand back "". */
        *buf = malloc(1);
        if (!*buf) {
            return -2;
        }
        *cap = 1;
    }
    (*buf)[*len] = '\0';
    return 1;
}

static char *
config_trim(char *s)
{
    char *end;

    while (isspace((unsigned char) *s)) {
        s++;
    }
    end = s + strlen(s);
    while (end > s && isspace((unsigned char) end[-1])) {
        *--end = '\0';
    }
    return s;
}

/* One "key = value" line (comment and whitespace not yet removed). Returns 0
 * or an errno with the reason (without the FILE:LINE prefix) in msg. */
static int
config_apply_line(struct ctf_config *cfg, char *line, size_t len, char *msg, size_t msglen)
{
    char *key, *value, *eq;

    if (strlen(line) != len) {
        config_err(msg, msglen, "the line contains a NUL byte");
        return EINVAL;
    }
    /* A comment starts at a '#' that begins the line or follows blank
     * space, so that "a#b" stays a value. */
    for (char *p = line; *p; p++) {
        if (*p == '#' && (p == line || *(p - 1) == ' ' || *(p - 1) == '\t')) {
            *p = '\0';
            break;
        }
    }
    key = config_trim(line);
    if (!*key) {
        return 0;
    }
    eq = strchr(key, '=');
    if (!eq) {
        config_err(msg, msglen, "expected 'key = value'");
        return EINVAL;
    }
    *eq = '\0';
    value = config_trim(eq + 1);
    key = config_trim(key);
    if (!*key) {
        config_err(msg, msglen, "missing key before '='");
        return EINVAL;
    }
    int rc = config_set(cfg, key, value, msg, msglen);
    return rc == ENOMEM ? ENOMEM : rc ? EINVAL : 0;
}

int
config_load_file(struct ctf_config *cfg, const char *path, char *err, size_t errlen)
{
    struct ctf_config tmp;
    char *line = NULL;
    size_t cap = 0, len;
    unsigned int lineno = 0;
    bool too_long;
    int rc = 0, r;
    FILE *f;

    if (err && errlen) {
        *err = '\0';
    }
    f = fopen(path, "re");
    if (!f) {
        rc = errno;
        config_err(err, errlen, "%s: %s", path, strerror(rc));
        return rc;
    }
    /* Applied to a copy: a file with an error changes nothing. */
    if (config_copy(&tmp, cfg)) {
        fclose(f);
        config_err(err, errlen, "%s: out of memory", path);
        return ENOMEM;
    }
    while ((r = config_read_line(f, &line, &cap, &len, &too_long)) == 1) {
        char msg[512];

        lineno++;
        if (too_long && line[strspn(line, " \t")] == '#') {
            continue;           /* A long comment is still only a comment. */
        }
        if (too_long) {
            config_err(err, errlen, "%s:%u: the line is longer than %d bytes", path, lineno,
                       CONFIG_LINE_MAX);
            rc = EINVAL;
            break;
        }
        rc = config_apply_line(&tmp, line, len, msg, sizeof msg);
        if (rc) {
            config_err(err, errlen, "%s:%u: %s", path, lineno, msg);
            break;
        }
    }
    if (r == -1) {
        rc = errno ? errno : EIO;
        config_err(err, errlen, "%s: %s", path, strerror(rc));
    } else if (r == -2) {
        rc = ENOMEM;
        config_err(err, errlen, "%s: out of memory", path);
    }
    free(line);
    fclose(f);
    if (rc) {
        config_destroy(&tmp);
        return rc;
    }
    config_destroy(cfg);
    *cfg = tmp;
    return 0;
}

/* getopt_long vals of the options that are not keys; a key's val is
 * CONFIG_OPT_KEY + its index in config_keys. */
enum {
    CONFIG_OPT_HELP = 'h',
    CONFIG_OPT_CONFIG = 256,
    CONFIG_OPT_VERSION,
    CONFIG_OPT_ONESHOT,
    CONFIG_OPT_PRINT_CONFIG,
    CONFIG_OPT_KEY,
};

/* The command line's long options: every key as --key VALUE, then the
 * options that are not keys, then the terminator. Built from the key table
 * on each parse, so a new key is an option with no second edit. */
#define CONFIG_N_OPTS (CONFIG_N_KEYS + 6)

static void
config_longopts(struct option opts[CONFIG_N_OPTS])
{
    size_t n = 0;

    for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
        opts[n++] = (struct option) { config_keys[i].name, required_argument, NULL,
                                      CONFIG_OPT_KEY + (int) i };
    }
    opts[n++] = (struct option) { "config", required_argument, NULL, CONFIG_OPT_CONFIG };
    opts[n++] = (struct option) { "help", no_argument, NULL, CONFIG_OPT_HELP };
    opts[n++] = (struct option) { "version", no_argument, NULL, CONFIG_OPT_VERSION };
    opts[n++] = (struct option) { "oneshot", no_argument, NULL, CONFIG_OPT_ONESHOT };
    opts[n++] = (struct option) { "print-config", no_argument, NULL,
                                  CONFIG_OPT_PRINT_CONFIG };
    opts[n] = (struct option) { NULL, 0, NULL, 0 };
}

int
config_parse_cli(int argc, char *argv[], struct config_cli *cli, char *err, size_t errlen)
{
    struct option opts[CONFIG_N_OPTS];
    struct ctf_config scratch;
    struct cliopt c;
    int rc = 0, opt;

    memset(cli, 0, sizeof *cli);
    cli->config_path = CONFIG_DEFAULT_PATH;
    if (err && errlen) {
        *err = '\0';
    }
    /* At most one pair per argument: sized once, never grown. */
    cli->keys = calloc((size_t) (argc > 0 ? argc : 1), sizeof *cli->keys);
    cli->values = calloc((size_t) (argc > 0 ? argc : 1), sizeof *cli->values);
    if (!cli->keys || !cli->values) {
        config_err(err, errlen, "out of memory");
        config_cli_destroy(cli);
        return ENOMEM;
    }
    config_longopts(opts);
    cliopt_init(&c, argc, argv, opts, "h", " (see ctflushd --help)");
    /* Values are checked now, against a scratch configuration, so that a
     * typo is reported with the option that carried it. */
    config_init(&scratch);
    while (!rc && !cli->help && !cli->version
           && (opt = cliopt_next(&c, err, errlen)) != CLIOPT_END) {
        char msg[512];

        switch (opt) {
        case CLIOPT_ERROR:
            rc = EINVAL;
            break;
        case CONFIG_OPT_HELP:
            cli->help = true;
            break;
        case CONFIG_OPT_VERSION:
            cli->version = true;
            break;
        case CONFIG_OPT_PRINT_CONFIG:
            cli->print_config = true;
            break;
        case CONFIG_OPT_ONESHOT:
            config_err(err, errlen, "--oneshot takes its own options: see "
                       "ctflushd --oneshot --help");
            rc = EINVAL;
            break;
        case CONFIG_OPT_CONFIG:
            if (!*c.value) {
                config_err(err, errlen, "--config: needs a file name");
                rc = EINVAL;
                break;
            }
            cli->config_path = c.value;
            cli->config_given = true;
            break;
        default:
            rc = config_set(&scratch, c.name, c.value, msg, sizeof msg);
            if (rc) {
                config_err(err, errlen, "--%s", msg);
                rc = rc == ENOMEM ? ENOMEM : EINVAL;
                break;
            }
            cli->keys[cli->n] = (char *) config_keys[opt - CONFIG_OPT_KEY].name;
            cli->values[cli->n] = (char *) c.value;
            cli->n++;
            break;
        }
    }
    config_destroy(&scratch);
    if (rc) {
        config_cli_destroy(cli);
    }
    return rc;
}

void
config_cli_destroy(struct config_cli *cli)
{
    if (!cli) {
        return;
    }
    free(cli->keys);
    free(cli->values);
    memset(cli, 0, sizeof *cli);
    cli->config_path = CONFIG_DEFAULT_PATH;
}

/* Checks between keys, once all are known: a single key cannot see them,
 * and checking as keys arrive would make the result depend on their order. */
static int
config_check(const struct ctf_config *cfg, char *err, size_t errlen)
{
    if (cfg->retry_max_ms < cfg->retry_base_ms) {
        config_err(err, errlen, "retry-max-ms (%u) is below retry-base-ms (%u)",
                   cfg->retry_max_ms, cfg->retry_base_ms);
        return EINVAL;
    }
    if (cfg->control_group_write && !cfg->control_group) {
        config_err(err, errlen, "control-group-write = yes needs a control-group");
        return EINVAL;
    }
    return 0;
}

int
config_build(const struct config_cli *cli, struct ctf_config *out, char *err, size_t errlen)
{
    const char *path = cli && cli->config_path ? cli->config_path : CONFIG_DEFAULT_PATH;
    struct ctf_config cfg;
    int rc;

    if (err && errlen) {
        *err = '\0';
    }
    config_init(&cfg);
    rc = config_load_file(&cfg, path, err, errlen);
    if (rc == ENOENT && !(cli && cli->config_given)) {
        /* No file at the default place: the defaults and options are a
         * complete configuration. */
        rc = 0;
        if (err && errlen) {
            *err = '\0';
        }
    }
    if (rc) {
        goto fail;
    }
    for (size_t i = 0; cli && i < cli->n; i++) {
        char msg[512];
        rc = config_set(&cfg, cli->keys[i], cli->values[i], msg, sizeof msg);
        if (rc) {
            config_err(err, errlen, "--%s", msg);
            rc = rc == ENOMEM ? ENOMEM : EINVAL;
            goto fail;
        }
    }
    rc = config_check(&cfg, err, errlen);
    if (rc) {
        goto fail;
    }
    *out = cfg;
    return 0;

fail:
    config_destroy(&cfg);
    /* The defaults own nothing: out is safe to use or destroy either way. */
    config_init(out);
    return rc;
}

void
config_restart_diff(const struct ctf_config *old, const struct ctf_config *new_,
                    char *buf, size_t len)
{
    char a[CONFIG_VALUE_BUF], b[CONFIG_VALUE_BUF];
    size_t used = 0;

    if (!len) {
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
        const struct config_key *k = &config_keys[i];
        if (!k->restart) {
            continue;
        }
        config_format(old, k, a, sizeof a);
        config_format(new_, k, b, sizeof b);
        if (strcmp(a, b) && used < len) {
            int w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", k->name);
            used += w > 0 ? (size_t) w : 0;
        }
    }
}

const char *
config_reload_describe(const struct config_reload *r, char *buf, size_t len)
{
    if (!r->ok) {
        snprintf(buf, len, "configuration not reloaded: %s", r->error);
    } else {
        snprintf(buf, len, "configuration reloaded%s%s%s",
                 r->watcher_restarted ? "; OVSDB watcher restarted" : "",
                 r->restart_needed[0] ? "; needs a restart to change: " : "",
                 r->restart_needed);
    }
    return buf;
}

void
config_dump(const struct ctf_config *cfg, FILE *f)
{
    char value[CONFIG_VALUE_BUF];

    for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
        config_format(cfg, &config_keys[i], value, sizeof value);
        fprintf(f, "%s =%s%s\n", config_keys[i].name, *value ? " " : "", value);
    }
}

void
config_usage(FILE *f)
{
    struct ctf_config def;
    char value[CONFIG_VALUE_BUF];

    config_init(&def);
    fprintf(f,
"usage: ctflushd [--config FILE] [--KEY VALUE | --KEY=VALUE ...]\n"
"       ctflushd --print-config [--config FILE] [--KEY VALUE ...]\n"
"       ctflushd --oneshot --local LIST|any ...  (see ctflushd --oneshot --help)\n"
"       ctflushd -h | --help | --version\n"
"\n"
"Watches OVSDB and deletes, in bulk, the conntrack entries of VM ports that\n"
"leave it. Every setting is a key of the config file (\"key = value\") and a\n"
"long option; options win over the file. SIGHUP re-reads both; settings\n"
"marked [restart] keep their old value until ctflushd restarts.\n"
"\n"
"  --config FILE              the config file (the default one may be absent)\n"
"                             default: %s\n"
"  --print-config             print the effective settings (file, then options)\n"
"                             as \"key = value\" lines and exit (2: bad ones)\n",
            CONFIG_DEFAULT_PATH);

    for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
        const struct config_key *k = &config_keys[i];
        char opt[64], range[64] = "";

        if (k->group) {
            fprintf(f, "\n%s:\n", k->group);
        }
        snprintf(opt, sizeof opt, "--%s %s", k->name, k->metavar);
        if (k->type == CONFIG_T_UINT || k->type == CONFIG_T_SIZE
            || k->type == CONFIG_T_U64 || k->type == CONFIG_T_INT) {
            snprintf(range, sizeof range, "; %s%" PRId64 "..%" PRId64,
                     k->zero_ok ? "0 or " : "", k->min, k->max);
        }
        config_format(&def, k, value, sizeof value);
        fprintf(f, "  %-26s %s\n", opt, k->help);
        fprintf(f, "  %-26s default: %s%s%s\n", "", *value ? value : "(none)", range,
                k->restart ? "; [restart]" : "");
    }
    fprintf(f,
"\n"
"BOOL: yes/no, true/false, on/off, 1/0. KEYS: comma-separated, at most %d.\n"
"Signals: SIGTERM/SIGINT stop, SIGHUP reloads. See ctflushd(8).\n", CONFIG_MAX_KEYS);
}
