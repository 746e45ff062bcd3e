/*
 * config.h: ctflushd's settings. Every setting has a key in the config file
 * (/etc/ctflushd/ctflushd.conf, "key = value" lines, '#' comments) and the
 * same name as a long command-line option (--key VALUE); the command line
 * wins over the file. SIGHUP re-reads the file and re-applies the command
 * line; settings marked "restart" below keep their old value until restart
 * (config_restart_diff says which changed).
 *
 * Owns: struct ctf_config and its strings. Defaults are static strings, so
 * never free() a member or assign one directly: use config_set and
 * config_destroy.
 */
#ifndef CTF_CONFIG_H
#define CTF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"
#include "jobrun.h"

#define CONFIG_DEFAULT_PATH "/etc/ctflushd/ctflushd.conf"
#define CONFIG_MAX_KEYS 8           /* Entries in each ip-keys list. */

struct ctf_config {
    /* Where things are ("restart", except ovsdb: the watcher restarts). */
    char *ovsdb;                    /* ovsdb: default unix:/run/openvswitch/db.sock. */
    char *control;                  /* control: default /run/ctflushd/ctflushd.sock. */
    char *control_group;            /* control-group: group allowed to connect
                                     * (read-only) and, with control-group-write,
                                     * to mutate; NULL: root only. */
    bool control_group_write;       /* control-group-write: default no. */
    unsigned int control_mode;      /* control-mode: octal, default 0660. */
    char *state_dir;                /* state-dir: default /var/lib/ctflushd. */
    char *ovs_rundir;               /* ovs-rundir: where ovs-vswitchd.pid and
                                     * ovs-vswitchd.PID.ctl are; default
                                     * /run/openvswitch. */

    /* How ports are read (reloadable; the watcher restarts). */
    char *iface_ip_keys[CONFIG_MAX_KEYS];   /* iface-ip-keys: default "ip". */
    size_t n_iface_ip_keys;
    char *port_ip_keys[CONFIG_MAX_KEYS];    /* port-ip-keys: default "ip-address". */
    size_t n_port_ip_keys;
    char *zone_key;                 /* zone-key: default none. */
    bool zone_from_vlan_tag;        /* zone-from-vlan-tag: default no. */

    /* Jobs (reloadable). */
    bool flush_on_add;              /* flush-on-add: default yes. */
    unsigned int batch_window_ms;   /* batch-window-ms: default 200. */
    size_t max_local;               /* max-local: default 1024. */
    size_t max_peers;               /* max-peers: default 1024. */
    size_t queue_max_jobs;          /* queue-max-jobs: default 4096. */
    size_t queue_max_prefixes;      /* queue-max-prefixes: default 1048576. */
    size_t history;                 /* history: default 100. */
    unsigned int max_attempts;      /* max-attempts: default 5. */
    unsigned int retry_base_ms;     /* retry-base-ms: default 1000. */
    unsigned int retry_max_ms;      /* retry-max-ms: default 60000. */

    /* Worker (reloadable; applies from the next job). */
    unsigned int worker_timeout_ms; /* worker-timeout-ms: no progress for this
                                     * long -> SIGKILL; default 30000. */
    unsigned int ovs_timeout_ms;    /* ovs-timeout-ms: one unixctl call's limit,
                                     * and how long a userdp job waits for
                                     * ovs-vswitchd; default 10000 (restart). */
    int worker_nice;                /* worker-nice: default 10. */
    uint64_t max_delete_rate;       /* max-delete-rate: per second, 0 = no cap. */
    enum ct_strategy strategy;      /* strategy: auto or one to force. */
    size_t batch_bytes;             /* batch-bytes: delete bytes per sendmsg, 0 = default. */
    unsigned int dump_threads;      /* dump-threads: a job's dump threads, 0 = auto. */

    /* Control clients (reloadable). */
    unsigned int max_clients;       /* max-clients: default 1024. */
    size_t max_request_bytes;       /* max-request-bytes: default 65536. */
    unsigned int client_timeout_ms; /* client-timeout-ms: idle client cut; default 30000. */

    /* Prometheus metrics over HTTP ("restart"). */
    char *metrics_listen;           /* metrics-listen: IPV4:PORT or [IPV6]:PORT;
                                     * NULL (default): no HTTP endpoint. */

    enum log_level log_level;       /* log-level: err|warning|info|debug; default info. */
};

void config_init(struct ctf_config *);          /* Defaults. */
void config_destroy(struct ctf_config *);
int config_copy(struct ctf_config *dst, const struct ctf_config *src);  /* 0/ENOMEM */

/* Sets one key from text. Returns 0, ENOENT (unknown key) or EINVAL (bad
 * value), with the reason in err. */
int config_set(struct ctf_config *, const char *key, const char *value,
               char *err, size_t errlen);

/* Applies a config file. Returns 0, ENOENT if it does not exist (callers
 * decide whether that matters), or EINVAL with "FILE:LINE: reason" in err. */
int config_load_file(struct ctf_config *, const char *path, char *err, size_t errlen);

/* Command line: every key as --key VALUE or --key=VALUE, plus --config FILE,
 * -h/--help, --version, --oneshot (handled elsewhere). Parsed by getopt_long
 * through cliopt.h (names matched whole), the long options built from the
 * key table. */
struct config_cli {
    const char *config_path;        /* --config, else CONFIG_DEFAULT_PATH. */
    bool config_given;              /* A missing file is then an error. */
    bool help;
    bool version;
    bool print_config;              /* --print-config: config_dump, then exit. */
    char **keys;                    /* Key/value pairs to apply after the file. */
    char **values;
    size_t n;
};
/* Returns 0 or EINVAL with the reason in err. The strings point into argv. */
int config_parse_cli(int argc, char *argv[], struct config_cli *, char *err, size_t errlen);
void config_cli_destroy(struct config_cli *);

/* Defaults, then the file, then the command line. Returns 0 or EINVAL/ENOENT
 * (or the errno of an unreadable file) with the reason in err. *out is
 * overwritten, not freed; on failure it holds the defaults. */
int config_build(const struct config_cli *, struct ctf_config *, char *err, size_t errlen);

/* Names of "restart" settings that differ between old and new, comma
 * separated, into buf ("" if none). */
void config_restart_diff(const struct ctf_config *old, const struct ctf_config *new_,
                         char *buf, size_t len);

/* What a reload (SIGHUP or `ctflushctl reload`) did. */
struct config_reload {
    bool ok;                        /* The new settings are in force. */
    bool watcher_restarted;         /* OVSDB settings changed: the watcher resyncs. */
    char error[512];                /* Why not, when !ok. */
    char restart_needed[256];       /* "restart" settings that changed (comma
                                     * separated), which keep their old value
                                     * until a restart; "" if none. */
};

/* The one sentence for logs and replies ("configuration reloaded; ..."). */
const char *config_reload_describe(const struct config_reload *, char *buf, size_t len);

/* Writes "key = value" for every key (the effective configuration). */
void config_dump(const struct ctf_config *, FILE *);

/* Usage text for ctflushd --help. */
void config_usage(FILE *);

#endif
