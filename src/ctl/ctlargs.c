/*
 * ctlargs.c: ctflushctl's command line -> control request.
 *
 * Two token tables drive the parse: the global options, and the commands,
 * each with the options it takes and a handler for its positional
 * arguments. Global options may come before or after the command word, so
 * both `ctflushctl --json status` and `ctflushctl status --json` work.
 */
#include "ctlargs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "job.h"
#include "num.h"

/* Limits the daemon enforces too (ctlproto.c): checking them here makes a
 * bad value a usage error, with the usage shown, rather than a refusal. */
#define CTLARGS_MAX_LIMIT 1000u

/* Most positional arguments any command takes (set-ips PORT LIST). */
#define CTLARGS_MAX_ARGS 2

struct ctlargs_opt {
    const char *name;           /* Without the leading "--". */
    bool has_value;             /* Takes "--name VALUE" or "--name=VALUE". */
    int (*set)(struct ctlargs *, const char *value, char *err, size_t errlen);
};

struct ctlargs_cmd {
    const char *name;
    enum ctl_cmd cmd;
    bool is_help;               /* "help": no request is sent. */
    const struct ctlargs_opt *opts;     /* NULL-name terminated, or NULL. */
    size_t min_args;
    size_t max_args;
    /* Positional arguments, already counted against min/max_args. */
    int (*args)(struct ctlargs *, const char *const pos[], size_t n,
                char *err, size_t errlen);
    /* Checks across options once all are seen; NULL if none needed. */
    int (*finish)(struct ctlargs *, char *err, size_t errlen);
    const char *synopsis;       /* Arguments after the command word. */
    const char *summary;        /* One line for the help text. */
};

static int __attribute__((format(printf, 3, 4)))
ctlargs_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return EINVAL;
}

/* Global options. */

static int
ctlargs_set_socket(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    if (!*value) {
        return ctlargs_error(err, errlen, "--socket: empty path");
    }
    a->socket_path = value;
    return 0;
}

static int
ctlargs_set_json(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    a->json = true;
    return 0;
}

/* SEC is seconds with up to three decimals ("10", "0.25"): a timeout finer
 * than a millisecond means nothing here, and refusing it beats rounding it
 * to zero. The whole seconds are a number like any other (num.h). */
static int
ctlargs_set_timeout(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    size_t whole = strcspn(value, ".");
    const char *frac = value[whole] ? value + whole + 1 : NULL;
    size_t n_frac = frac ? strlen(frac) : 0;
    char buf[16];
    uint64_t ms;

    if (whole >= sizeof buf || (frac && (!n_frac || n_frac > 3
                                         || strspn(frac, "0123456789") != n_frac))) {
        goto bad;
    }
    memcpy(buf, value, whole);
    buf[whole] = '\0';
    if (num_parse_u64(buf, NUM_DEC, 0, CTLARGS_MAX_TIMEOUT_MS / 1000, &ms, NULL, 0)) {
        goto bad;
    }
    ms *= 1000;
    for (size_t i = 0, scale = 100; i < n_frac; i++, scale /= 10) {
        ms += (uint64_t) (frac[i] - '0') * scale;
    }
    if (!ms || ms > CTLARGS_MAX_TIMEOUT_MS) {
        goto bad;
    }
    a->timeout_ms = (unsigned int) ms;
    return 0;

bad:
    return ctlargs_error(err, errlen, "--timeout: '%s' is not a number of seconds "
                         "(0.001 to %u, at most 3 decimals)", value,
                         CTLARGS_MAX_TIMEOUT_MS / 1000);
}

static int
ctlargs_set_help(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    a->action = CTLARGS_HELP;
    return 0;
}

static int
ctlargs_set_version(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    a->action = CTLARGS_VERSION;
    return 0;
}

static const struct ctlargs_opt ctlargs_global_opts[] = {
    { "socket", true, ctlargs_set_socket },
    { "json", false, ctlargs_set_json },
    { "timeout", true, ctlargs_set_timeout },
    { "help", false, ctlargs_set_help },
    { "version", false, ctlargs_set_version },
    { NULL, false, NULL },
};

/* jobs */

static int
ctlargs_set_limit(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    char why[256];
    uint64_t v;

    if (num_parse_u64(value, NUM_DEC, 0, CTLARGS_MAX_LIMIT, &v, why, sizeof why)) {
        return ctlargs_error(err, errlen, "--limit: %s", why);
    }
    a->req.limit = (unsigned int) v;
    return 0;
}

static const struct ctlargs_opt ctlargs_jobs_opts[] = {
    { "limit", true, ctlargs_set_limit },
    { NULL, false, NULL },
};

/* flush */

static int
ctlargs_set_side(const char *what, struct ctf_prefix_list *list, bool *any,
                 const char *value, char *err, size_t errlen)
{
    char why[256];
    int error = flush_job_parse_side(list, any, value, why, sizeof why);

    if (error) {
        ctlargs_error(err, errlen, "--%s: %s", what, why);
    }
    return error;
}

static int
ctlargs_set_local(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    return ctlargs_set_side("local", &a->req.job.local, &a->req.job.local_any,
                            value, err, errlen);
}

static int
ctlargs_set_peers(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    return ctlargs_set_side("peers", &a->req.job.peers, &a->req.job.peers_any,
                            value, err, errlen);
}

static int
ctlargs_set_zone(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    char why[256];

    if (flush_job_parse_zone(&a->req.job, value, why, sizeof why)) {
        return ctlargs_error(err, errlen, "--zone: %s", why);
    }
    return 0;
}

static int
ctlargs_set_mark(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    char why[256];

    if (flush_job_parse_mark(&a->req.job, value, why, sizeof why)) {
        return ctlargs_error(err, errlen, "--mark: %s", why);
    }
    return 0;
}

static int
ctlargs_set_wait(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    a->req.wait = true;
    return 0;
}

/* The selectors, in job.c's words (conntrack(8)'s). */
static int
ctlargs_set_direction(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    if (flush_direction_parse(value, &a->req.job.direction)) {
        return ctlargs_error(err, errlen, "--direction: '%s' is not ingress, egress or either",
                             value);
    }
    return 0;
}

static int
ctlargs_set_tuple(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    if (flush_tuple_parse(value, &a->req.job.tuple)) {
        return ctlargs_error(err, errlen, "--tuple: '%s' is not orig or any", value);
    }
    return 0;
}

static int
ctlargs_set_proto(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    if (flush_proto_parse(value, &a->req.job.proto)) {
        return ctlargs_error(err, errlen, "--proto: '%s' is not a protocol name or a number "
                             "from 1 to 255", value);
    }
    return 0;
}

static int
ctlargs_set_dport(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    if (flush_dport_parse(value, &a->req.job.dport_lo, &a->req.job.dport_hi)) {
        return ctlargs_error(err, errlen, "--dport: '%s' is not PORT or LO-HI (0-65535)", value);
    }
    a->req.job.has_dport = true;
    return 0;
}

static int
ctlargs_set_family(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    if (flush_family_parse(value, &a->req.job.family)) {
        return ctlargs_error(err, errlen, "--family: '%s' is not ipv4, ipv6 or both", value);
    }
    return 0;
}

static int
ctlargs_set_datapath(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    if (flush_datapath_parse(value, &a->req.job.datapath)) {
        return ctlargs_error(err, errlen, "--datapath: '%s' is not kernel or netdev", value);
    }
    return 0;
}

static const struct ctlargs_opt ctlargs_flush_opts[] = {
    { "local", true, ctlargs_set_local },
    { "peers", true, ctlargs_set_peers },
    { "zone", true, ctlargs_set_zone },
    { "mark", true, ctlargs_set_mark },
    { "direction", true, ctlargs_set_direction },
    { "tuple", true, ctlargs_set_tuple },
    { "proto", true, ctlargs_set_proto },
    { "dport", true, ctlargs_set_dport },
    { "family", true, ctlargs_set_family },
    { "datapath", true, ctlargs_set_datapath },
    { "wait", false, ctlargs_set_wait },
    { NULL, false, NULL },
};

static int
ctlargs_flush_finish(struct ctlargs *a, char *err, size_t errlen)
{
    struct flush_job *job = &a->req.job;
    char why[256];

    if (!job->local_any && !job->local.n) {
        return ctlargs_error(err, errlen, "flush needs --local LIST|any");
    }
    if (!job->peers_any && !job->peers.n) {
        job->peers_any = true;          /* No --peers: any peer. */
    }
    if (flush_job_validate(job, why, sizeof why)) {
        return ctlargs_error(err, errlen, "flush: %s", why);
    }
    return 0;
}

/* cancel */

static int
ctlargs_cancel_args(struct ctlargs *a, const char *const pos[], size_t n,
                    char *err, size_t errlen)
{
    char why[256];
    uint64_t id;

    if (num_parse_u64(pos[0], NUM_DEC, 0, CTLPROTO_JOB_ID_MAX, &id, why, sizeof why)) {
        return ctlargs_error(err, errlen, "cancel: job ID %s", why);
    }
    a->req.id = id;
    return 0;
}

/* pause */

static int
ctlargs_set_now(struct ctlargs *a, const char *value, char *err, size_t errlen)
{
    a->req.now = true;
    return 0;
}

static const struct ctlargs_opt ctlargs_pause_opts[] = {
    { "now", false, ctlargs_set_now },
    { NULL, false, NULL },
};

/* The daemon's rule for port names (OVSDB Interface names). */
/* set-ips PORT LIST. Only a literally empty LIST clears the port's IPs: a
 * list that merely parses to nothing (a file of comments, ",") is more
 * likely a mistake than a request to clear. */
static int
ctlargs_set_ips_args(struct ctlargs *a, const char *const pos[], size_t n,
                     char *err, size_t errlen)
{
    char why[256];
    int error;

    if (!ctlproto_port_name_ok(pos[0], strlen(pos[0]))) {
        return ctlargs_error(err, errlen, "set-ips: '%s' is not a port name (1-%d "
                             "printable characters, no blanks)", pos[0], CTLPROTO_PORT_MAX);
    }
    a->req.port = strdup(pos[0]);
    if (!a->req.port) {
        ctlargs_error(err, errlen, "out of memory");
        return ENOMEM;
    }
    if (!*pos[1]) {
        return 0;
    }
    error = ctf_prefix_list_parse(&a->req.ips, pos[1], why, sizeof why);
    if (error) {
        ctlargs_error(err, errlen, "set-ips: %s", why);
        return error;
    }
    if (!a->req.ips.n) {
        return ctlargs_error(err, errlen, "set-ips: no address in '%s' "
                             "(give \"\" to clear the port's IPs)", pos[1]);
    }
    return 0;
}

/* help [COMMAND] */

static const struct ctlargs_cmd *ctlargs_find_cmd(const char *name);

static int
ctlargs_help_args(struct ctlargs *a, const char *const pos[], size_t n,
                  char *err, size_t errlen)
{
    a->action = CTLARGS_HELP;
    if (n) {
        if (!ctlargs_find_cmd(pos[0])) {
            return ctlargs_error(err, errlen, "help: unknown command '%s'", pos[0]);
        }
        a->help_topic = pos[0];
    }
    return 0;
}

static const struct ctlargs_cmd ctlargs_cmds[] = {
    { "status", CTL_CMD_STATUS, false, NULL, 0, 0, NULL, NULL, "",
      "the daemon's state: OVSDB, queue, running job, worker" },
    { "jobs", CTL_CMD_JOBS, false, ctlargs_jobs_opts, 0, 0, NULL, NULL, "[--limit N]",
      "queued, running and the last N finished jobs" },
    { "ports", CTL_CMD_PORTS, false, NULL, 0, 0, NULL, NULL, "",
      "the ports the daemon tracks, with their IPs and zones" },
    { "flush", CTL_CMD_FLUSH, false, ctlargs_flush_opts, 0, 0, NULL, ctlargs_flush_finish,
      "--local LIST|any [--peers LIST|any] [--zone N] [--mark M[/MASK]] "
      "[--direction ingress|egress|either] [--tuple orig|any] [--proto NAME|NUMBER] "
      "[--dport PORT[-PORT]] [--family ipv4|ipv6|both] [--datapath kernel|netdev] [--wait]",
      "queue a flush; --wait follows it to its end" },
    { "cancel", CTL_CMD_CANCEL, false, NULL, 1, 1, ctlargs_cancel_args, NULL, "ID",
      "cancel a queued or running job" },
    { "pause", CTL_CMD_PAUSE, false, ctlargs_pause_opts, 0, 0, NULL, NULL, "[--now]",
      "start no more jobs; --now also stops and requeues the running one" },
    { "resume", CTL_CMD_RESUME, false, NULL, 0, 0, NULL, NULL, "",
      "start jobs again" },
    { "set-ips", CTL_CMD_SET_IPS, false, NULL, 2, 2, ctlargs_set_ips_args, NULL, "PORT LIST",
      "set a port's IPs by hand (\"\" clears them)" },
    { "metrics", CTL_CMD_METRICS, false, NULL, 0, 0, NULL, NULL, "",
      "the metrics, in the Prometheus text format" },
    { "reload", CTL_CMD_RELOAD, false, NULL, 0, 0, NULL, NULL, "",
      "re-read the configuration file" },
    { "help", CTL_CMD_N, true, NULL, 0, 1, ctlargs_help_args, NULL, "[COMMAND]",
      "this text, or one command's" },
};

#define CTLARGS_N_CMDS (sizeof ctlargs_cmds / sizeof ctlargs_cmds[0])

static const struct ctlargs_cmd *
ctlargs_find_cmd(const char *name)
{
    for (size_t i = 0; i < CTLARGS_N_CMDS; i++) {
        if (!strcmp(ctlargs_cmds[i].name, name)) {
            return &ctlargs_cmds[i];
        }
    }
    return NULL;
}

/* Finds "--name" or "--name=value" in a table; returns its index or -1. */
static int
ctlargs_find_opt(const struct ctlargs_opt *opts, const char *arg)
{
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");

    for (int i = 0; opts && opts[i].name; i++) {
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len)) {
            return i;
        }
    }
    return -1;
}

/* Applies the option at argv[*i] and moves *i past its value. seen is a
 * bitmap of the table's options already given: an option given twice is an
 * error, because "last one wins" would silently drop one of two address
 * lists. */
static int
ctlargs_apply_opt(struct ctlargs *a, const struct ctlargs_opt *opt, int idx,
                  uint32_t *seen, int argc, char *const argv[], int *i,
                  char *err, size_t errlen)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    const char *value = NULL;

    if (*seen & (UINT32_C(1) << idx)) {
        return ctlargs_error(err, errlen, "--%s given twice", opt->name);
    }
    *seen |= UINT32_C(1) << idx;
    if (!opt->has_value) {
        if (eq) {
            return ctlargs_error(err, errlen, "--%s takes no value", opt->name);
        }
    } else if (eq) {
        value = eq + 1;
    } else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2)) {
        value = argv[++*i];
    } else {
        return ctlargs_error(err, errlen, "--%s needs a value", opt->name);
    }
    return opt->set(a, value, err, errlen);
}

void
ctlargs_init(struct ctlargs *a)
{
    memset(a, 0, sizeof *a);
    a->action = CTLARGS_REQUEST;
    a->timeout_ms = CTLARGS_DEFAULT_TIMEOUT_MS;
    ctlproto_request_init(&a->req);
}

void
ctlargs_destroy(struct ctlargs *a)
{
    if (a) {
        ctlproto_request_destroy(&a->req);
    }
}

int
ctlargs_parse(struct ctlargs *a, int argc, char *const argv[], const char *env_socket,
              char *err, size_t errlen)
{
    const struct ctlargs_cmd *cmd = NULL;
    uint32_t seen_global = 0, seen_cmd = 0;
    const char *pos[CTLARGS_MAX_ARGS];
    size_t n_pos = 0;
    bool only_args = false;     /* After "--": everything is an argument. */
    int error;

    if (err && errlen) {
        err[0] = '\0';
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int idx;

        if (!only_args && !strcmp(arg, "--")) {
            if (!cmd) {
                return ctlargs_error(err, errlen, "'--' before the command");
            }
            only_args = true;
        } else if (!only_args && !strncmp(arg, "--", 2)) {
            if (cmd && (idx = ctlargs_find_opt(cmd->opts, arg)) >= 0) {
                error = ctlargs_apply_opt(a, &cmd->opts[idx], idx, &seen_cmd,
                                          argc, argv, &i, err, errlen);
            } else if ((idx = ctlargs_find_opt(ctlargs_global_opts, arg)) >= 0) {
                error = ctlargs_apply_opt(a, &ctlargs_global_opts[idx], idx, &seen_global,
                                          argc, argv, &i, err, errlen);
            } else if (cmd) {
                return ctlargs_error(err, errlen, "%s: unknown option '%.*s'", cmd->name,
                                     (int) strcspn(arg, "="), arg);
            } else {
                return ctlargs_error(err, errlen, "unknown option '%.*s'",
                                     (int) strcspn(arg, "="), arg);
            }
            if (error) {
                return error;
            }
        } else if (!cmd) {
            if (arg[0] == '-') {
                return ctlargs_error(err, errlen, "unknown option '%s'", arg);
            }
            cmd = ctlargs_find_cmd(arg);
            if (!cmd) {
                return ctlargs_error(err, errlen, "unknown command '%s'", arg);
            }
            a->command = cmd->name;
        } else {
            if (n_pos >= cmd->max_args) {
                return ctlargs_error(err, errlen, "%s: unexpected argument '%s'",
                                     cmd->name, arg);
            }
            pos[n_pos++] = arg;
        }
    }
    if (!cmd) {
        if (a->action != CTLARGS_REQUEST) {
            return 0;           /* --help or --version alone. */
        }
        return ctlargs_error(err, errlen, "no command given");
    }
    if (a->action == CTLARGS_VERSION) {
        return 0;
    }
    if (a->action == CTLARGS_HELP && !cmd->is_help) {
        /* "flush --help": that command's help, whatever else is missing. */
        a->help_topic = cmd->name;
        return 0;
    }

    if (n_pos < cmd->min_args) {
        return ctlargs_error(err, errlen, "%s: missing argument (%s %s)", cmd->name,
                             cmd->name, cmd->synopsis);
    }
    if (cmd->args) {
        error = cmd->args(a, pos, n_pos, err, errlen);
        if (error) {
            return error;
        }
    }
    if (cmd->finish) {
        error = cmd->finish(a, err, errlen);
        if (error) {
            return error;
        }
    }
    if (cmd->is_help) {
        return 0;
    }
    a->req.cmd = cmd->cmd;

    /* --socket beats the environment, which beats the default. */
    if (!a->socket_path) {
        a->socket_path = env_socket && *env_socket ? env_socket : CTLARGS_DEFAULT_SOCKET;
    }
    if (strlen(a->socket_path) >= sizeof ((struct sockaddr_un *) NULL)->sun_path) {
        return ctlargs_error(err, errlen, "socket path too long for a unix socket "
                             "(%zu bytes at most): %s",
                             sizeof ((struct sockaddr_un *) NULL)->sun_path - 1,
                             a->socket_path);
    }
    return 0;
}

static void
ctlargs_print_cmd(FILE *f, const struct ctlargs_cmd *cmd, bool summary)
{
    fprintf(f, "  %s%s%s\n", cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
    if (summary) {
        fprintf(f, "      %s\n", cmd->summary);
    }
}

void
ctlargs_usage(FILE *f, const char *command)
{
    const struct ctlargs_cmd *cmd = command ? ctlargs_find_cmd(command) : NULL;

    fprintf(f, "usage: ctflushctl [--socket PATH] [--json] [--timeout SEC] ");
    if (cmd && !cmd->is_help) {
        fprintf(f, "%s%s%s\n", cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
    } else {
        fprintf(f, "COMMAND [ARGS]\n");
        fprintf(f, "commands:");
        for (size_t i = 0; i < CTLARGS_N_CMDS; i++) {
            fprintf(f, " %s", ctlargs_cmds[i].name);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "'ctflushctl help' describes them all.\n");
}

void
ctlargs_help(FILE *f, const char *topic)
{
    const struct ctlargs_cmd *cmd = topic ? ctlargs_find_cmd(topic) : NULL;

    if (cmd) {
        fprintf(f, "usage: ctflushctl [OPTIONS] %s %s\n%s\n", cmd->name, cmd->synopsis,
                cmd->summary);
        return;
    }
    fprintf(f,
"usage: ctflushctl [--socket PATH] [--json] [--timeout SEC] COMMAND [ARGS]\n"
"\n"
"Talks to ctflushd over its control socket.\n"
"\n"
"Commands:\n");
    for (size_t i = 0; i < CTLARGS_N_CMDS; i++) {
        ctlargs_print_cmd(f, &ctlargs_cmds[i], true);
    }
    fprintf(f,
"\n"
"LIST: comma-separated addresses or CIDRs, or @FILE with one or more per line\n"
"('#' starts a comment); ctflushctl reads the file and sends the addresses.\n"
"\n"
"Options:\n"
"  --socket PATH   the control socket (default: $" CTLARGS_SOCKET_ENV ", else\n"
"                  " CTLARGS_DEFAULT_SOCKET ")\n"
"  --json          print the result as one JSON object on stdout (for\n"
"                  flush --wait, the final \"end\" event; for an error reply,\n"
"                  {\"error\":{\"code\",\"message\"}})\n"
"  --timeout SEC   wait at most SEC seconds for a reply (default %u); not\n"
"                  applied while following a job with flush --wait\n"
"\n"
"Exit status: 0 success; 1 the request failed (error reply, or a waited-on\n"
"job failed or was cancelled); 2 usage error; 3 the daemon could not be\n"
"reached (connect failed, connection lost, timeout, unreadable reply).\n",
            CTLARGS_DEFAULT_TIMEOUT_MS / 1000);
}
