/*
 * ctlproto.c: control requests from and to JSON, and the reply envelopes.
 *
 * Requests come from any local user who can connect to the socket, so every
 * member is checked for type and range here, once, and every failure names
 * the member and what it must be. Nothing here reads files or touches the
 * daemon's state.
 */
#include "ctlproto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits that are part of the protocol (docs/protocol.md). */
#define CTLPROTO_JOBS_DEFAULT 20
#define CTLPROTO_JOBS_MAX 1000

static const char *const ctlproto_names[CTL_CMD_N] = {
    [CTL_CMD_STATUS] = "status",
    [CTL_CMD_JOBS] = "jobs",
    [CTL_CMD_PORTS] = "ports",
    [CTL_CMD_FLUSH] = "flush",
    [CTL_CMD_CANCEL] = "cancel",
    [CTL_CMD_PAUSE] = "pause",
    [CTL_CMD_RESUME] = "resume",
    [CTL_CMD_SET_IPS] = "set-ips",
    [CTL_CMD_METRICS] = "metrics",
    [CTL_CMD_RELOAD] = "reload",
};

const char *
ctlproto_cmd_name(enum ctl_cmd cmd)
{
    return (unsigned int) cmd < CTL_CMD_N ? ctlproto_names[cmd] : "?";
}

bool
ctlproto_cmd_mutates(enum ctl_cmd cmd)
{
    switch (cmd) {
    case CTL_CMD_FLUSH:
    case CTL_CMD_CANCEL:
    case CTL_CMD_PAUSE:
    case CTL_CMD_RESUME:
    case CTL_CMD_SET_IPS:
    case CTL_CMD_RELOAD:
        return true;
    case CTL_CMD_STATUS:
    case CTL_CMD_JOBS:
    case CTL_CMD_PORTS:
    case CTL_CMD_METRICS:
    case CTL_CMD_N:
    default:
        return false;
    }
}

void
ctlproto_request_init(struct ctlproto_request *req)
{
    memset(req, 0, sizeof *req);
    req->cmd = CTL_CMD_STATUS;
    req->limit = CTLPROTO_JOBS_DEFAULT;
    flush_job_init(&req->job);
}

void
ctlproto_request_destroy(struct ctlproto_request *req)
{
    if (req) {
        flush_job_destroy(&req->job);
        free(req->port);
        req->port = NULL;
        ctf_prefix_list_destroy(&req->ips);
    }
}

/* ---- Parsing. ---- */

/* Where a parse failure is reported. */
struct ctlproto_err {
    const char **code;
    char *msg;
    size_t msglen;
};

static int __attribute__((format(printf, 3, 4)))
ctlproto_fail(struct ctlproto_err *e, const char *code, const char *fmt, ...)
{
    va_list ap;

    *e->code = code;
    if (e->msglen) {
        va_start(ap, fmt);
        vsnprintf(e->msg, e->msglen, fmt, ap);
        va_end(ap);
    }
    return EINVAL;
}

/* Client text quoted in a message is cut short and stripped of control
 * characters: the message goes to the daemon's log as well as back to the
 * client, and a request must not be able to forge log lines. */
static const char *
ctlproto_quote(const char *s, char *buf, size_t size)
{
    size_t i;

    for (i = 0; s[i] && i + 1 < size; i++) {
        unsigned char ch = (unsigned char) s[i];
        buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
    }
    buf[i] = '\0';
    if (s[i] && size > 4) {
        memcpy(&buf[size - 4], "...", 4);
    }
    return buf;
}

/* Allocation failures are the daemon's trouble, not the client's: they are
 * reported as ENOMEM with the "internal" code. */
static int
ctlproto_oom(struct ctlproto_err *e)
{
    ctlproto_fail(e, CTL_E_INTERNAL, "out of memory");
    return ENOMEM;
}

/* The same for messages that quote input through other modules (the JSON
 * parser's "unexpected character", addr.c's "bad address"). */
static void
ctlproto_sanitize(char *msg)
{
    for (; *msg; msg++) {
        if ((unsigned char) *msg < 0x20 || *msg == 0x7f) {
            *msg = '?';
        }
    }
}

/* An optional unsigned integer no larger than max. *present tells whether it
 * was there; 'what' completes "KEY: must be ..." */
static int
ctlproto_get_uint(struct ctlproto_err *e, const struct json_value *obj, const char *key,
                  uint64_t max, const char *what, bool *present, uint64_t *out)
{
    const struct json_value *v = json_get(obj, key);

    *present = v != NULL;
    if (!v) {
        return 0;
    }
    if (v->type != JSON_T_NUMBER || !v->u.num.is_uint || v->u.num.u > max) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST, "%s: must be %s", key, what);
    }
    *out = v->u.num.u;
    return 0;
}

/* An optional boolean; *out is left alone when the member is missing. */
static int
ctlproto_get_bool(struct ctlproto_err *e, const struct json_value *obj, const char *key,
                  bool *out)
{
    const struct json_value *v = json_get(obj, key);

    if (!v) {
        return 0;
    }
    if (v->type != JSON_T_BOOL) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST, "%s: must be true or false", key);
    }
    *out = v->u.b;
    return 0;
}

/* "@FILE" is how operators pass long lists on ctflushd's own command line.
 * From the socket it would have the daemon (root) read any file a local
 * client names and echo parse errors quoting its contents, so it is refused;
 * clients read their files themselves (ctflushctl does). No address contains
 * '@', so refusing it anywhere costs nothing. */
static int
ctlproto_check_no_file(struct ctlproto_err *e, const char *key, const char *text)
{
    if (strchr(text, '@')) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST,
                             "%s: '@FILE' lists are not read on a client's behalf; "
                             "send the addresses", key);
    }
    return 0;
}

/* An address list as an array of strings, one address or CIDR each. */
static int
ctlproto_get_prefix_array(struct ctlproto_err *e, const char *key,
                          const struct json_value *arr, struct ctf_prefix_list *list)
{
    for (size_t i = 0; i < arr->u.arr.n; i++) {
        const struct json_value *item = &arr->u.arr.items[i];
        struct ctf_prefix prefix;
        char q[64];

        if (item->type != JSON_T_STRING) {
            return ctlproto_fail(e, CTL_E_BAD_REQUEST, "%s[%zu]: must be a string", key, i);
        }
        if (ctf_prefix_parse(item->u.str.s, &prefix)) {
            return ctlproto_fail(e, CTL_E_BAD_REQUEST, "%s[%zu]: bad address or prefix '%s'",
                                 key, i, ctlproto_quote(item->u.str.s, q, sizeof q));
        }
        if (ctf_prefix_list_add(list, &prefix)) {
            return ctlproto_oom(e);
        }
    }
    return 0;
}

/* One side of a flush: "any", a comma list or an array. 'required' says
 * whether a missing member is an error; otherwise it means "any". */
static int
ctlproto_get_side(struct ctlproto_err *e, const struct json_value *obj, const char *key,
                  bool required, struct ctf_prefix_list *list, bool *any)
{
    const struct json_value *v = json_get(obj, key);
    char reason[256];
    int error;

    if (!v) {
        if (required) {
            return ctlproto_fail(e, CTL_E_BAD_REQUEST, "%s: missing", key);
        }
        *any = true;
        return 0;
    }
    *any = false;
    if (v->type == JSON_T_STRING) {
        error = ctlproto_check_no_file(e, key, v->u.str.s);
        if (error) {
            return error;
        }
        reason[0] = '\0';
        error = flush_job_parse_side(list, any, v->u.str.s, reason, sizeof reason);
        if (error == ENOMEM) {
            return ctlproto_oom(e);
        } else if (error) {
            return ctlproto_fail(e, CTL_E_BAD_REQUEST, "%s: %s", key,
                                 reason[0] ? reason : "bad address list");
        }
        return 0;
    }
    if (v->type == JSON_T_ARRAY) {
        error = ctlproto_get_prefix_array(e, key, v, list);
        if (!error && !list->n) {
            error = ctlproto_fail(e, CTL_E_BAD_REQUEST, "%s: no address given", key);
        }
        return error;
    }
    return ctlproto_fail(e, CTL_E_BAD_REQUEST,
                         "%s: must be \"any\", a comma-separated string or an array of "
                         "addresses", key);
}

static int
ctlproto_parse_flush(struct ctlproto_err *e, const struct json_value *obj,
                     struct ctlproto_request *req)
{
    struct flush_job *job = &req->job;
    bool has_mask = false;
    char reason[256];
    uint64_t u = 0;
    int error;

    error = ctlproto_get_side(e, obj, "local", true, &job->local, &job->local_any);
    if (!error) {
        error = ctlproto_get_side(e, obj, "peers", false, &job->peers, &job->peers_any);
    }
    if (!error) {
        error = ctlproto_get_uint(e, obj, "zone", UINT16_MAX, "an integer 0..65535",
                                  &job->has_zone, &u);
        job->zone = job->has_zone ? (uint16_t) u : 0;
    }
    if (!error) {
        error = ctlproto_get_uint(e, obj, "mark", UINT32_MAX, "an integer 0..4294967295",
                                  &job->has_mark, &u);
        job->mark = job->has_mark ? (uint32_t) u : 0;
    }
    if (!error) {
        u = UINT32_MAX;
        error = ctlproto_get_uint(e, obj, "mark_mask", UINT32_MAX,
                                  "an integer 0..4294967295", &has_mask, &u);
        job->mark_mask = job->has_mark ? (uint32_t) u : 0;
    }
    if (!error) {
        error = ctlproto_get_bool(e, obj, "wait", &req->wait);
    }
    if (error) {
        return error;
    }
    if (has_mask && !job->has_mark) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST, "mark_mask: given without mark");
    }
    /* An entry matches when mark(E) & mask == mark: a mark with bits
     * outside the mask can match nothing, which is surely a mistake. */
    if (job->has_mark && (job->mark & ~job->mark_mask)) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST, "mark: has bits outside mark_mask");
    }
    reason[0] = '\0';
    if (flush_job_validate(job, reason, sizeof reason)) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST, "%s", reason);
    }
    return 0;
}

/* Port names are OVSDB Interface names: short, printable, no blanks (so
 * they print unquoted in ctflushctl's tables and log lines). */
bool
ctlproto_port_name_ok(const char *s, size_t len)
{
    if (!len || len > CTLPROTO_PORT_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) s[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            return false;
        }
    }
    return true;
}

static int
ctlproto_parse_set_ips(struct ctlproto_err *e, const struct json_value *obj,
                       struct ctlproto_request *req)
{
    const struct json_value *port = json_get(obj, "port");
    const struct json_value *ips = json_get(obj, "ips");
    char reason[256];
    int error;

    if (!port) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST, "port: missing");
    }
    if (port->type != JSON_T_STRING || !ctlproto_port_name_ok(port->u.str.s, port->u.str.len)) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST,
                             "port: must be a name of 1..%d printable characters "
                             "without blanks", CTLPROTO_PORT_MAX);
    }
    if (!ips) {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST, "ips: missing");
    }
    if (ips->type == JSON_T_ARRAY) {
        error = ctlproto_get_prefix_array(e, "ips", ips, &req->ips);
    } else if (ips->type == JSON_T_STRING) {
        error = ctlproto_check_no_file(e, "ips", ips->u.str.s);
        if (error) {
            return error;
        }
        reason[0] = '\0';
        error = ctf_prefix_list_parse(&req->ips, ips->u.str.s, reason, sizeof reason);
        if (error == ENOMEM) {
            return ctlproto_oom(e);
        } else if (error) {
            return ctlproto_fail(e, CTL_E_BAD_REQUEST, "ips: %s",
                                 reason[0] ? reason : "bad address list");
        }
    } else {
        return ctlproto_fail(e, CTL_E_BAD_REQUEST,
                             "ips: must be a comma-separated string or an array of "
                             "addresses");
    }
    const struct json_value *zone = json_get(obj, "zone");
    if (!error && zone && zone->type != JSON_T_NULL) {
        uint64_t u = 0;
        error = ctlproto_get_uint(e, obj, "zone", UINT16_MAX, "an integer 0..65535 or null",
                                  &req->port_has_zone, &u);
        req->port_zone = (uint16_t) u;
    }
    if (!error) {
        error = ctlproto_get_bool(e, obj, "migrating", &req->migrating);
    }
    if (error) {
        return error;
    }
    req->port = strdup(port->u.str.s);
    if (!req->port) {
        return ctlproto_oom(e);
    }
    return 0;
}

static int
ctlproto_parse_members(struct ctlproto_err *e, const struct json_value *obj,
                       struct ctlproto_request *req)
{
    uint64_t u = 0;
    bool present;
    int error;

    switch (req->cmd) {
    case CTL_CMD_JOBS:
        u = CTLPROTO_JOBS_DEFAULT;
        error = ctlproto_get_uint(e, obj, "limit", CTLPROTO_JOBS_MAX,
                                  "an integer 0..1000", &present, &u);
        req->limit = (unsigned int) u;
        return error;
    case CTL_CMD_FLUSH:
        return ctlproto_parse_flush(e, obj, req);
    case CTL_CMD_CANCEL:
        error = ctlproto_get_uint(e, obj, "id", UINT64_MAX, "a job id (an integer >= 0)",
                                  &present, &u);
        if (!error && !present) {
            error = ctlproto_fail(e, CTL_E_BAD_REQUEST, "id: missing");
        }
        req->id = u;
        return error;
    case CTL_CMD_PAUSE:
        return ctlproto_get_bool(e, obj, "now", &req->now);
    case CTL_CMD_SET_IPS:
        return ctlproto_parse_set_ips(e, obj, req);
    case CTL_CMD_STATUS:
    case CTL_CMD_PORTS:
    case CTL_CMD_RESUME:
    case CTL_CMD_METRICS:
    case CTL_CMD_RELOAD:
    case CTL_CMD_N:
    default:
        return 0;
    }
}

int
ctlproto_request_parse(const char *line, size_t len, struct ctlproto_request *req,
                       const char **code, char *msg, size_t msglen)
{
    struct ctlproto_err e = { code, msg, msglen };
    struct json_value *root = NULL;
    const struct json_value *cmd;
    char reason[192];
    char q[48];
    int error;
    int i;

    /* Whatever the caller passed is overwritten, so that a failed parse
     * leaves nothing behind whether or not the caller destroys it. */
    ctlproto_request_init(req);
    *code = CTL_E_INTERNAL;
    if (msglen) {
        msg[0] = '\0';
    }

    reason[0] = '\0';
    error = json_parse(line, len, &root, reason, sizeof reason);
    if (error == ENOMEM) {
        return ctlproto_oom(&e);
    } else if (error) {
        /* E2BIG (over the parser's limits) is the client's fault too. */
        error = ctlproto_fail(&e, CTL_E_BAD_REQUEST, "not valid JSON: %s",
                              reason[0] ? reason : "parse error");
        goto out;
    }
    if (root->type != JSON_T_OBJECT) {
        error = ctlproto_fail(&e, CTL_E_BAD_REQUEST, "request must be a JSON object");
        goto out;
    }
    cmd = json_get(root, "cmd");
    if (!cmd) {
        error = ctlproto_fail(&e, CTL_E_BAD_REQUEST, "cmd: missing");
        goto out;
    }
    if (cmd->type != JSON_T_STRING) {
        error = ctlproto_fail(&e, CTL_E_BAD_REQUEST, "cmd: must be a string");
        goto out;
    }
    for (i = 0; i < CTL_CMD_N; i++) {
        if (!strcmp(cmd->u.str.s, ctlproto_names[i])) {
            break;
        }
    }
    if (i == CTL_CMD_N) {
        error = ctlproto_fail(&e, CTL_E_UNKNOWN_CMD, "unknown command '%s'",
                              ctlproto_quote(cmd->u.str.s, q, sizeof q));
        goto out;
    }
    req->cmd = (enum ctl_cmd) i;
    error = ctlproto_parse_members(&e, root, req);

out:
    json_value_free(root);
    if (error) {
        if (msglen) {
            ctlproto_sanitize(msg);
        }
        ctlproto_request_destroy(req);
        ctlproto_request_init(req);
    }
    return error;
}

/* ---- Encoding. ---- */

static void
ctlproto_encode_list(struct json_out *j, const struct ctf_prefix_list *list)
{
    char buf[CTF_PREFIX_STRLEN];

    json_array_begin(j);
    for (size_t i = 0; i < list->n; i++) {
        json_str(j, ctf_prefix_format(&list->items[i], buf));
    }
    json_array_end(j);
}

static void
ctlproto_encode_side(struct json_out *j, const char *key, const struct ctf_prefix_list *list,
                     bool any)
{
    json_key(j, key);
    if (any) {
        json_str(j, "any");
    } else {
        ctlproto_encode_list(j, list);
    }
}

void
ctlproto_request_encode(const struct ctlproto_request *req, struct json_out *j)
{
    json_object_begin(j);
    json_key(j, "cmd");
    json_str(j, ctlproto_cmd_name(req->cmd));
    switch (req->cmd) {
    case CTL_CMD_JOBS:
        json_key(j, "limit");
        json_u64(j, req->limit);
        break;
    case CTL_CMD_FLUSH:
        ctlproto_encode_side(j, "local", &req->job.local, req->job.local_any);
        ctlproto_encode_side(j, "peers", &req->job.peers, req->job.peers_any);
        if (req->job.has_zone) {
            json_key(j, "zone");
            json_u64(j, req->job.zone);
        }
        if (req->job.has_mark) {
            json_key(j, "mark");
            json_u64(j, req->job.mark);
            json_key(j, "mark_mask");
            json_u64(j, req->job.mark_mask);
        }
        json_key(j, "wait");
        json_bool(j, req->wait);
        break;
    case CTL_CMD_CANCEL:
        json_key(j, "id");
        json_u64(j, req->id);
        break;
    case CTL_CMD_PAUSE:
        json_key(j, "now");
        json_bool(j, req->now);
        break;
    case CTL_CMD_SET_IPS:
        json_key(j, "port");
        json_str(j, req->port);
        json_key(j, "ips");
        ctlproto_encode_list(j, &req->ips);
        if (req->port_has_zone) {
            json_key(j, "zone");
            json_u64(j, req->port_zone);
        }
        if (req->migrating) {
            json_key(j, "migrating");
            json_bool(j, true);
        }
        break;
    case CTL_CMD_STATUS:
    case CTL_CMD_PORTS:
    case CTL_CMD_RESUME:
    case CTL_CMD_METRICS:
    case CTL_CMD_RELOAD:
    case CTL_CMD_N:
    default:
        break;
    }
    json_object_end(j);
}

/* ---- Replies. ---- */

void
ctlproto_reply_ok_begin(struct json_out *j)
{
    json_object_begin(j);
    json_key(j, "ok");
    json_bool(j, true);
    json_key(j, "result");
}

void
ctlproto_reply_end(struct json_out *j)
{
    json_object_end(j);
}

void
ctlproto_reply_error(struct json_out *j, const char *code, const char *msg)
{
    json_object_begin(j);
    json_key(j, "ok");
    json_bool(j, false);
    json_key(j, "error");
    json_object_begin(j);
    json_key(j, "code");
    json_str(j, code);
    json_key(j, "message");
    json_str(j, msg);
    json_object_end(j);
    json_object_end(j);
}
