/*
 * fuzz_ctlproto.c: ctlproto_request_parse on arbitrary bytes, as one request
 * line from any local user who can connect to the control socket.
 *
 * Oracles beyond the sanitizers:
 * - a failure names a CTL_E_* code, leaves a message without control
 *   characters (it is logged) and a request with nothing in it, and gives
 *   the same answer with a 1-byte message buffer;
 * - a success is a request the daemon may act on (a flush job passes
 *   flush_job_validate, set-ips names a port), and
 *   parse(encode(request)) succeeds and encodes to the same text;
 * - a success parsed again with allocations failing (fuzz_oom.h) is ENOMEM
 *   with the "internal" code (the daemon's trouble, not the client's) and
 *   leaves nothing behind.
 */
#include <errno.h>

#include "ctlproto.h"
#include "fuzz.h"
#include "fuzz_oom.h"

static bool
fuzz_is_ctl_code(const char *code)
{
    static const char *const codes[] = {
        CTL_E_BAD_REQUEST, CTL_E_UNKNOWN_CMD, CTL_E_TOO_LARGE, CTL_E_FORBIDDEN,
        CTL_E_QUEUE_FULL, CTL_E_NOT_FOUND, CTL_E_BUSY, CTL_E_TIMEOUT, CTL_E_INTERNAL,
    };

    for (size_t i = 0; code && i < sizeof codes / sizeof codes[0]; i++) {
        if (!strcmp(code, codes[i])) {
            return true;
        }
    }
    return false;
}

/* A request after a failed parse: as ctlproto_request_init leaves it. */
static void
fuzz_check_empty(const struct ctlproto_request *req)
{
    FUZZ_CHECK(req->port == NULL);
    FUZZ_CHECK(req->ips.n == 0 && req->ips.items == NULL);
    FUZZ_CHECK(req->job.local.n == 0 && req->job.local.items == NULL);
    FUZZ_CHECK(req->job.peers.n == 0 && req->job.peers.items == NULL);
}

static void
fuzz_check_request(const struct ctlproto_request *req)
{
    char why[192];

    FUZZ_CHECK((unsigned int) req->cmd < CTL_CMD_N);
    FUZZ_CHECK(strcmp(ctlproto_cmd_name(req->cmd), "?"));
    switch (req->cmd) {
    case CTL_CMD_JOBS:
        FUZZ_CHECK(req->limit <= 1000);
        break;
    case CTL_CMD_FLUSH:
        FUZZ_CHECK(flush_job_validate(&req->job, why, sizeof why) == 0);
        FUZZ_CHECK(!req->job.has_mark || !(req->job.mark & ~req->job.mark_mask));
        break;
    case CTL_CMD_SET_IPS:
        FUZZ_CHECK(req->port && req->port[0]);
        FUZZ_CHECK(fuzz_is_log_safe(req->port, strlen(req->port) + 1, true));
        FUZZ_CHECK(!strchr(req->port, ' '));
        break;
    default:
        break;
    }
}

/* Encodes req; returns the malloc'd text (the caller frees it). */
static char *
fuzz_encode(const struct ctlproto_request *req, size_t *len)
{
    struct json_out o;
    char *text;

    json_init(&o);
    ctlproto_request_encode(req, &o);
    FUZZ_CHECK(json_text(&o) != NULL);
    text = strdup(json_text(&o));
    FUZZ_CHECK(text != NULL);
    *len = o.len;
    json_destroy(&o);
    return text;
}

static void
fuzz_ctlproto_oom(const char *line, size_t len)
{
    struct ctlproto_request req;
    const char *code;
    char msg[128];
    size_t n;
    int rc;

    fuzz_oom_arm(0);
    rc = ctlproto_request_parse(line, len, &req, &code, msg, sizeof msg);
    n = fuzz_oom_disarm();
    FUZZ_CHECK(rc == 0);
    ctlproto_request_destroy(&req);
    for (size_t i = 0; i < fuzz_oom_npoints(n); i++) {
        fuzz_oom_arm(fuzz_oom_point(n, i));
        rc = ctlproto_request_parse(line, len, &req, &code, msg, sizeof msg);
        fuzz_oom_disarm();
        if (rc != ENOMEM || strcmp(code, CTL_E_INTERNAL)) {
            fprintf(stderr, "allocation %zu of %zu failing: rc %d, %s: %s\n",
                    fuzz_oom_point(n, i), n, rc, code, msg);
        }
        FUZZ_CHECK(rc == ENOMEM && !strcmp(code, CTL_E_INTERNAL));
        fuzz_check_empty(&req);
        ctlproto_request_destroy(&req);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A request line is handed over as (bytes, length): no NUL after it. */
    char *line = fuzz_bytes(data, size);
    struct ctlproto_request req, again;
    const char *code = NULL, *code1 = NULL;
    char msg[256], tiny[1];
    int rc, rc1;

    rc = ctlproto_request_parse(line, size, &req, &code, msg, sizeof msg);
    FUZZ_CHECK(fuzz_is_log_safe(msg, sizeof msg, false));
    if (rc) {
        FUZZ_CHECK(rc == EINVAL || rc == ENOMEM);
        FUZZ_CHECK(fuzz_is_ctl_code(code));
        FUZZ_CHECK(msg[0] != '\0');
        fuzz_check_empty(&req);
        ctlproto_request_destroy(&req);

        /* The message buffer's size changes nothing but the message. */
        rc1 = ctlproto_request_parse(line, size, &again, &code1, tiny, sizeof tiny);
        FUZZ_CHECK(rc1 == rc && code1 && !strcmp(code1, code) && tiny[0] == '\0');
        ctlproto_request_destroy(&again);
        free(line);
        return 0;
    }
    fuzz_check_request(&req);

    /* What a client encodes, the daemon must accept, and mean the same. */
    size_t len1, len2;
    char *text1 = fuzz_encode(&req, &len1);
    char *enc = fuzz_bytes((const uint8_t *) text1, len1);

    rc1 = ctlproto_request_parse(enc, len1, &again, &code1, msg, sizeof msg);
    if (rc1) {
        fprintf(stderr, "encoded request does not parse: %s: %s\n%s\n",
                code1, msg, text1);
    }
    FUZZ_CHECK(rc1 == 0);
    FUZZ_CHECK(again.cmd == req.cmd);
    char *text2 = fuzz_encode(&again, &len2);
    if (len1 != len2 || memcmp(text1, text2, len1)) {
        fprintf(stderr, "re-encoding differs:\n%s\n%s\n", text1, text2);
    }
    FUZZ_CHECK(len1 == len2 && !memcmp(text1, text2, len1));

    fuzz_ctlproto_oom(line, size);

    free(text1);
    free(text2);
    free(enc);
    ctlproto_request_destroy(&again);
    ctlproto_request_destroy(&req);
    free(line);
    return 0;
}
