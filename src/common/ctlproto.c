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

/* Allocation failures are the daemon's trouble, not the client's: they are
 * reported as ENOMEM with the "internal" code. */
static int
ctlproto_oom(struct json_rd *rd)
{
    json_rd_fail(rd, NULL, "out of memory");
    return ENOMEM;
}

/* "@FILE" is how operators pass long lists on ctflushd's own command line.
 * From the socket it would have the daemon (root) read any file a local
 * client names and echo parse errors quoting its contents, so it is refused;
 * clients read their files themselves (ctflushctl does). No address contains
 * '@', so refusing it anywhere costs nothing. */
static int
ctlproto_check_no_file(struct json_rd *rd, const char *key, const char *text)
{
    if (strchr(text, '@')) {
        return json_rd_fail(rd, key, "'@FILE' lists are not read on a client's behalf; "
                            "send the addresses");
    }
    return 0;
}

/* A list given as one string, "10.0.0.5, fd00::/64": read by the same
 * parsers as the command lines (flush sides know "any"). */
static int
ctlproto_get_list_text(struct json_rd *rd, const char *key, const char *text, bool side,
                       struct ctf_prefix_list *list, bool *any)
{
    char reason[256];
    int error = ctlproto_check_no_file(rd, key, text);

    if (error) {
        return error;
    }
    reason[0] = '\0';
    error = side ? flush_job_parse_side(list, any, text, reason, sizeof reason)
                 : ctf_prefix_list_parse(list, text, reason, sizeof reason);
    if (error == ENOMEM) {
        return ctlproto_oom(rd);
    } else if (error) {
        return json_rd_fail(rd, key, "%s", reason[0] ? reason : "bad address list");
    }
    return 0;
}

/* An address list given as an array of strings. */
static int
ctlproto_get_list_array(struct json_rd *rd, const char *key, const json_t *arr,
                        struct ctf_prefix_list *list)
{
    int error = json_rd_prefixes(rd, key, arr, list);

    return error == ENOMEM ? ctlproto_oom(rd) : error;
}

/* One side of a flush: "any", a comma list or an array. 'required' says
 * whether a missing member is an error; otherwise it means "any". */
static int
ctlproto_get_side(struct json_rd *rd, const json_t *obj, const char *key, bool required,
                  struct ctf_prefix_list *list, bool *any)
{
    const json_t *v;
    int error = json_rd_member(rd, obj, key, required ? 0 : JSON_RD_OPTIONAL, &v);

    *any = !error && !v;
    if (error || !v) {
        return error;
    }
    if (json_is_string(v)) {
        return ctlproto_get_list_text(rd, key, json_string_value(v), true, list, any);
    }
    if (json_is_array(v)) {
        error = ctlproto_get_list_array(rd, key, v, list);
        if (!error && !list->n) {
            error = json_rd_fail(rd, key, "no address given");
        }
        return error;
    }
    return json_rd_fail(rd, key, "must be \"any\", a comma-separated string or an array of "
                        "addresses");
}

/* The selectors of a flush (job.h): "direction", "tuple", "family" as
 * words, "proto" a name or a number, "dport" a port number or "LO-HI". */
static int
ctlproto_get_selectors(struct json_rd *rd, const json_t *obj, struct flush_job *job)
{
    const json_t *v;
    const char *s;
    int error;

    if ((error = json_rd_string(rd, obj, "direction", JSON_RD_OPTIONAL, &s))) {
        return error;
    }
    if (s && flush_direction_parse(s, &job->direction)) {
        return json_rd_fail(rd, "direction", "must be \"ingress\", \"egress\" or \"either\"");
    }
    if ((error = json_rd_string(rd, obj, "tuple", JSON_RD_OPTIONAL, &s))) {
        return error;
    }
    if (s && flush_tuple_parse(s, &job->tuple)) {
        return json_rd_fail(rd, "tuple", "must be \"orig\" or \"any\"");
    }
    if ((error = json_rd_string(rd, obj, "family", JSON_RD_OPTIONAL, &s))) {
        return error;
    }
    if (s && flush_family_parse(s, &job->family)) {
        return json_rd_fail(rd, "family", "must be \"ipv4\", \"ipv6\" or \"both\"");
    }
    if ((error = json_rd_string(rd, obj, "datapath", JSON_RD_OPTIONAL, &s))) {
        return error;
    }
    if (s && flush_datapath_parse(s, &job->datapath)) {
        return json_rd_fail(rd, "datapath", "must be \"kernel\" or \"netdev\"");
    }
    if ((error = json_rd_member(rd, obj, "proto", JSON_RD_OPTIONAL, &v))) {
        return error;
    }
    if (v) {
        bool ok;
        if (json_is_string(v)) {
            ok = !flush_proto_parse(json_string_value(v), &job->proto);
        } else {
            json_int_t i = json_is_integer(v) ? json_integer_value(v) : 0;
            ok = i >= 1 && i <= 255;
            if (ok) {
                job->proto = (uint8_t) i;
            }
        }
        if (!ok) {
            return json_rd_fail(rd, "proto", "must be a protocol name or an integer 1..255");
        }
    }
    if ((error = json_rd_member(rd, obj, "dport", JSON_RD_OPTIONAL, &v))) {
        return error;
    }
    if (v) {
        bool ok;
        if (json_is_integer(v)) {
            json_int_t i = json_integer_value(v);
            ok = i >= 0 && i <= 65535;
            job->dport_lo = job->dport_hi = (uint16_t) (ok ? i : 0);
        } else {
            ok = json_is_string(v)
                 && !flush_dport_parse(json_string_value(v), &job->dport_lo, &job->dport_hi);
        }
        if (!ok) {
            return json_rd_fail(rd, "dport", "must be an integer 0..65535 or \"LO-HI\"");
        }
        job->has_dport = true;
    }
    return 0;
}

/* The flush request's members, one call each. */
static int
ctlproto_parse_flush(struct json_rd *rd, const json_t *obj, struct ctlproto_request *req)
{
    struct flush_job *job = &req->job;
    int64_t zone = 0, mark = 0, mask = UINT32_MAX;
    bool has_mask = false;
    char reason[256];
    int error;

    error = ctlproto_get_side(rd, obj, "local", true, &job->local, &job->local_any);
    if (!error) {
        error = ctlproto_get_side(rd, obj, "peers", false, &job->peers, &job->peers_any);
    }
    if (!error) {
        error = json_rd_int(rd, obj, "zone", JSON_RD_OPTIONAL, 0, UINT16_MAX,
                            &job->has_zone, &zone);
    }
    if (!error) {
        error = json_rd_int(rd, obj, "mark", JSON_RD_OPTIONAL, 0, UINT32_MAX,
                            &job->has_mark, &mark);
    }
    if (!error) {
        error = json_rd_int(rd, obj, "mark_mask", JSON_RD_OPTIONAL, 0, UINT32_MAX,
                            &has_mask, &mask);
    }
    if (!error) {
        error = json_rd_bool(rd, obj, "wait", JSON_RD_OPTIONAL, NULL, &req->wait);
    }
    if (!error) {
        error = ctlproto_get_selectors(rd, obj, job);
    }
    if (error) {
        return error;
    }
    job->zone = (uint16_t) zone;
    job->mark = (uint32_t) mark;
    job->mark_mask = job->has_mark ? (uint32_t) mask : 0;
    if (has_mask && !job->has_mark) {
        return json_rd_fail(rd, "mark_mask", "given without mark");
    }
    /* The mark rule itself (mask not 0, no mark bits outside it) is
     * flush_job_validate's, as for both command lines. */
    reason[0] = '\0';
    if (flush_job_validate(job, reason, sizeof reason)) {
        return json_rd_fail(rd, NULL, "%s", reason);
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
ctlproto_parse_set_ips(struct json_rd *rd, const json_t *obj, struct ctlproto_request *req)
{
    const json_t *port, *ips;
    int64_t zone = 0;
    int error;

    error = json_rd_member(rd, obj, "port", 0, &port);
    if (error) {
        return error;
    }
    if (!json_is_string(port)
        || !ctlproto_port_name_ok(json_string_value(port), json_string_length(port))) {
        return json_rd_fail(rd, "port", "must be a name of 1..%d printable characters "
                            "without blanks", CTLPROTO_PORT_MAX);
    }
    error = json_rd_member(rd, obj, "ips", 0, &ips);
    if (error) {
        return error;
    }
    if (json_is_array(ips)) {
        error = ctlproto_get_list_array(rd, "ips", ips, &req->ips);
    } else if (json_is_string(ips)) {
        error = ctlproto_get_list_text(rd, "ips", json_string_value(ips), false, &req->ips,
                                       NULL);
    } else {
        error = json_rd_fail(rd, "ips", "must be a comma-separated string or an array of "
                             "addresses");
    }
    if (!error) {
        error = json_rd_int(rd, obj, "zone", JSON_RD_OPTIONAL | JSON_RD_NULLABLE, 0,
                            UINT16_MAX, &req->port_has_zone, &zone);
        req->port_zone = (uint16_t) zone;
    }
    if (!error) {
        error = json_rd_bool(rd, obj, "migrating", JSON_RD_OPTIONAL, NULL, &req->migrating);
    }
    if (error) {
        return error;
    }
    req->port = strdup(json_string_value(port));
    return req->port ? 0 : ctlproto_oom(rd);
}

static int
ctlproto_parse_members(struct json_rd *rd, const json_t *obj, struct ctlproto_request *req)
{
    int64_t v = 0;
    int error;

    switch (req->cmd) {
    case CTL_CMD_JOBS:
        v = CTLPROTO_JOBS_DEFAULT;
        error = json_rd_int(rd, obj, "limit", JSON_RD_OPTIONAL, 0, CTLPROTO_JOBS_MAX, NULL,
                            &v);
        req->limit = (unsigned int) v;
        return error;
    case CTL_CMD_FLUSH:
        return ctlproto_parse_flush(rd, obj, req);
    case CTL_CMD_CANCEL:
        error = json_rd_int(rd, obj, "id", 0, 0, CTLPROTO_JOB_ID_MAX, NULL, &v);
        req->id = (uint64_t) v;
        return error;
    case CTL_CMD_PAUSE:
        return json_rd_bool(rd, obj, "now", JSON_RD_OPTIONAL, NULL, &req->now);
    case CTL_CMD_SET_IPS:
        return ctlproto_parse_set_ips(rd, obj, req);
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
    const char *fail_code = CTL_E_BAD_REQUEST;
    struct json_rd rd;
    json_t *root = NULL;
    const char *cmd;
    char reason[192];
    char q[48];
    int error;
    int i;

    /* Whatever the caller passed is overwritten, so that a failed parse
     * leaves nothing behind whether or not the caller destroys it. */
    ctlproto_request_init(req);
    json_rd_init(&rd, msg, msglen);

    error = json_parse(line, len, &root, reason, sizeof reason);
    if (error == ENOMEM) {
        error = ctlproto_oom(&rd);
        goto out;
    } else if (error) {
        /* E2BIG (over the parser's bounds) is the client's fault too. */
        error = json_rd_fail(&rd, NULL, "not valid JSON: %s", reason);
        goto out;
    }
    if (!json_is_object(root)) {
        error = json_rd_fail(&rd, NULL, "request must be a JSON object");
        goto out;
    }
    error = json_rd_string(&rd, root, "cmd", 0, &cmd);
    if (error) {
        goto out;
    }
    for (i = 0; i < CTL_CMD_N; i++) {
        if (!strcmp(cmd, ctlproto_names[i])) {
            break;
        }
    }
    if (i == CTL_CMD_N) {
        fail_code = CTL_E_UNKNOWN_CMD;
        error = json_rd_fail(&rd, NULL, "unknown command '%s'",
                             json_rd_quote(cmd, q, sizeof q));
        goto out;
    }
    req->cmd = (enum ctl_cmd) i;
    error = ctlproto_parse_members(&rd, root, req);

out:
    json_decref(root);
    *code = error == ENOMEM ? CTL_E_INTERNAL : error ? fail_code : NULL;
    if (error) {
        ctlproto_request_destroy(req);
        ctlproto_request_init(req);
    }
    return error;
}

/* ---- Encoding. ---- */

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
        json_key(j, "local");
        json_prefixes(j, &req->job.local, req->job.local_any, 0);
        json_key(j, "peers");
        json_prefixes(j, &req->job.peers, req->job.peers_any, 0);
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
        if (req->job.direction != FLUSH_DIRECTION_EITHER) {
            json_key(j, "direction");
            json_str(j, flush_direction_name(req->job.direction));
        }
        if (req->job.tuple != FLUSH_TUPLE_ANY) {
            json_key(j, "tuple");
            json_str(j, flush_tuple_name(req->job.tuple));
        }
        if (req->job.proto) {
            json_key(j, "proto");
            json_u64(j, req->job.proto);
        }
        if (req->job.has_dport) {
            char range[16];
            snprintf(range, sizeof range, "%u-%u", req->job.dport_lo, req->job.dport_hi);
            json_key(j, "dport");
            json_str(j, range);
        }
        if (req->job.family != FLUSH_FAMILY_BOTH) {
            json_key(j, "family");
            json_str(j, flush_family_name(req->job.family));
        }
        if (req->job.datapath != FLUSH_DATAPATH_KERNEL) {
            json_key(j, "datapath");
            json_str(j, flush_datapath_name(req->job.datapath));
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
        json_prefixes(j, &req->ips, false, 0);
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
