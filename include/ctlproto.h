/*
 * ctlproto.h: the control protocol's messages, shared by the daemon and
 * ctflushctl (and documented for other clients in docs/protocol.md).
 *
 * Framing: newline-delimited JSON over a unix stream socket. A request is one
 * JSON object on one line ({"cmd":"status"}); each request gets exactly one
 * reply line, {"ok":true,"result":...} or {"ok":false,"error":{"code":"...",
 * "message":"..."}}. A flush with "wait":true is followed by event lines
 * ({"event":"progress",...}) and ends with {"event":"end",...}.
 *
 * Owns: struct ctlproto_request and what it holds. Pure functions.
 */
#ifndef CTF_CTLPROTO_H
#define CTF_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "job.h"
#include "json.h"

enum ctl_cmd {
    CTL_CMD_STATUS,
    CTL_CMD_JOBS,
    CTL_CMD_PORTS,
    CTL_CMD_FLUSH,
    CTL_CMD_CANCEL,
    CTL_CMD_PAUSE,
    CTL_CMD_RESUME,
    CTL_CMD_SET_IPS,
    CTL_CMD_METRICS,
    CTL_CMD_RELOAD,
    CTL_CMD_N
};

/* Error codes: stable strings for scripts and integrations. */
#define CTL_E_BAD_REQUEST "bad-request"     /* Not JSON, wrong types, bad value. */
#define CTL_E_UNKNOWN_CMD "unknown-command"
#define CTL_E_TOO_LARGE "too-large"         /* Line over the request size limit. */
#define CTL_E_FORBIDDEN "forbidden"         /* Mutation from an unprivileged peer. */
#define CTL_E_QUEUE_FULL "queue-full"
#define CTL_E_NOT_FOUND "not-found"
#define CTL_E_BUSY "busy"                   /* Too many clients, or state forbids it. */
#define CTL_E_TIMEOUT "timeout"             /* Request not completed in time. */
#define CTL_E_INTERNAL "internal"

/* Job ids are 1..CTLPROTO_JOB_ID_MAX: JSON integers are read as int64_t,
 * and a larger one is not valid JSON here. */
#define CTLPROTO_JOB_ID_MAX INT64_MAX

struct ctlproto_request {
    enum ctl_cmd cmd;
    /* jobs */
    unsigned int limit;                 /* Finished jobs to list (default 20). */
    /* flush */
    struct flush_job job;               /* local/peers/zone/mark, validated. */
    bool wait;
    /* cancel */
    uint64_t id;
    /* pause */
    bool now;
    /* set-ips */
    char *port;
    struct ctf_prefix_list ips;         /* Empty: clear the operator's IPs. */
    bool port_has_zone;                 /* "zone": the port's zone (null or
                                         * absent: OVSDB's rules decide). */
    uint16_t port_zone;
    bool migrating;                     /* Arriving by live migration. */
};

const char *ctlproto_cmd_name(enum ctl_cmd);     /* "status", "set-ips", ... */
/* Commands that change state: refused for peers without write rights. */
bool ctlproto_cmd_mutates(enum ctl_cmd);

/* A port name the protocol accepts: 1..CTLPROTO_PORT_MAX printable ASCII
 * bytes, no blanks (names print unquoted in tables and logs). */
#define CTLPROTO_PORT_MAX 255
bool ctlproto_port_name_ok(const char *, size_t len);

void ctlproto_request_init(struct ctlproto_request *);
void ctlproto_request_destroy(struct ctlproto_request *);

/* Parses one request line (without its newline). Returns 0, or EINVAL (ENOMEM
 * on allocation failure, code "internal") with *code set to a CTL_E_* string
 * and a message in msg that names the member at fault. Unknown members are
 * ignored (forward compatibility); wrongly typed known members are errors. */
int ctlproto_request_parse(const char *line, size_t len, struct ctlproto_request *,
                      const char **code, char *msg, size_t msglen);

/* Writes a request as one JSON object (no newline), for clients. */
void ctlproto_request_encode(const struct ctlproto_request *, struct json_out *);

/* Reply helpers for the daemon: ok_begin writes {"ok":true,"result": and the
 * caller writes exactly one value, then ctlproto_reply_end closes the object. */
void ctlproto_reply_ok_begin(struct json_out *);
void ctlproto_reply_end(struct json_out *);
void ctlproto_reply_error(struct json_out *, const char *code, const char *msg);

#endif
