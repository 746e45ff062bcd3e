/*
 * json.h: JSON in and out of ctflushd.
 *
 * Reading is jansson's: json_parse takes one document (a control request, the
 * state file, a reply ctflushctl reads) strictly and within the bounds below,
 * and the json_rd_* lookups are the one typed layer every schema is read
 * through, naming the member at fault in their messages. Writing is a small
 * streaming writer into a growable buffer (control replies, the state file,
 * --json outputs).
 *
 * The writer stays: writing from the structs into one buffer took 101 ms for a
 * 70k-port state file, building a jansson tree and dumping it 410 ms (with its
 * free), and jansson's integers are signed where the counters are uint64_t.
 *
 * Owns: the writer's buffer. A parsed tree is the caller's (json_decref).
 */
#ifndef CTF_JSON_H
#define CTF_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Deepest nesting of arrays and objects json_parse accepts and the writer
 * writes (docs/protocol.md). */
#define JSON_MAX_DEPTH 16
/* Longest string, value or key, json_parse accepts (bytes, decoded). */
#define JSON_MAX_STRING (1u << 20)

/* ---- Writer. ---- */

struct json_out {
    char *buf;
    size_t len;
    size_t cap;
    bool oom;                       /* An allocation failed; output is void. */
    unsigned int depth;
    bool need_comma[JSON_MAX_DEPTH];
};

void json_init(struct json_out *);
void json_destroy(struct json_out *);

void json_object_begin(struct json_out *);
void json_object_end(struct json_out *);
void json_array_begin(struct json_out *);
void json_array_end(struct json_out *);
/* A key inside an object; the next value call writes its value. */
void json_key(struct json_out *, const char *key);
void json_str(struct json_out *, const char *);
void json_u64(struct json_out *, uint64_t);
void json_i64(struct json_out *, int64_t);
void json_double(struct json_out *, double);
void json_bool(struct json_out *, bool);
void json_null_value(struct json_out *);        /* jansson has json_null(). */
/* Optional values: null when absent. */
void json_str_or_null(struct json_out *, const char *);
void json_u64_or_null(struct json_out *, bool present, uint64_t);
/* A prefix list as an array of strings ("10.0.0.5", "fd00::/64"), at most
 * limit of them (0: all), or the string "any" when any is true: the one
 * encoder of control requests, replies and the state file. */
void json_prefixes(struct json_out *, const struct ctf_prefix_list *, bool any, size_t limit);
/* A parsed value written back out (ctflushctl --json): members in their
 * order, numbers as the same double (not json_double's three decimals). */
void json_write_value(struct json_out *, const json_t *);

/* The text so far, NUL-terminated, or NULL after an allocation failure. */
const char *json_text(const struct json_out *);

/* ---- Parser. ---- */

/* Parses exactly one JSON value (RFC 8259, surrounding whitespace allowed)
 * from text of length len, which need not be NUL-terminated. Refused: bytes
 * after the value, NUL bytes, duplicate keys, \u0000, invalid UTF-8 and lone
 * surrogates, integers outside int64_t, numbers outside a double, nesting
 * deeper than JSON_MAX_DEPTH and strings longer than JSON_MAX_STRING. Returns
 * 0 and the tree in *out, or EINVAL ("offset N: what"), E2BIG (over a bound)
 * or ENOMEM (never a syntax error for it, never an abort in jansson) with an
 * ASCII message in err without control characters; *out is then NULL.
 * There is no bound on the number of values: a tree has at most one per
 * input byte, and every reader bounds its input (max-request-bytes,
 * ctflushctl's line limit, STATE_MAX_BYTES). */
int json_parse(const char *text, size_t len, json_t **out, char *err, size_t errlen);

/* ---- Typed lookups, for the schemas ctflushd reads. ----
 *
 * Each call looks up one member of an object, checks its type and range, and
 * on failure writes "[WHERE: ]KEY: what it must be" to the reader's message
 * ("zone: must be an integer 0..65535", "ports[3] (\"tap1\"): ips[1]: bad
 * address or prefix '10.0.0.500'") and returns EINVAL. Members nobody asks
 * for are never looked at, so a schema ignores unknown members by itself. */
struct json_rd {
    char *msg;                  /* The first failure, described. */
    size_t msglen;
    char where[64];             /* Prefix of messages ("ports[3]"), or "". */
};

/* How a member may be given; 0: required, and not null. */
#define JSON_RD_OPTIONAL 1u     /* Missing is fine: as if absent. */
#define JSON_RD_NULLABLE 2u     /* null is fine: as if absent. */

void json_rd_init(struct json_rd *, char *msg, size_t msglen);
/* Describes a failure of member key (NULL: of the object at 'where');
 * returns EINVAL. */
int json_rd_fail(struct json_rd *, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The member key of obj, of any type; *out NULL when absent (missing with
 * JSON_RD_OPTIONAL, null with JSON_RD_NULLABLE). "KEY: missing" otherwise. */
int json_rd_member(struct json_rd *, const json_t *obj, const char *key, unsigned int flags,
                   const json_t **out);
/* Typed members; *present (may be NULL) says whether the member was there,
 * and *out is left alone when it was not. */
int json_rd_int(struct json_rd *, const json_t *obj, const char *key, unsigned int flags,
                int64_t min, int64_t max, bool *present, int64_t *out);
int json_rd_bool(struct json_rd *, const json_t *obj, const char *key, unsigned int flags,
                 bool *present, bool *out);
int json_rd_number(struct json_rd *, const json_t *obj, const char *key, unsigned int flags,
                   bool *present, double *out);
/* *out is the string (NUL-free, valid UTF-8), or NULL when absent. */
int json_rd_string(struct json_rd *, const json_t *obj, const char *key, unsigned int flags,
                   const char **out);
/* *out is the array, or NULL when absent. */
int json_rd_array(struct json_rd *, const json_t *obj, const char *key, unsigned int flags,
                  const json_t **out);
/* Appends every item of arr, one address or prefix string each, to list;
 * "KEY[i]: ..." names a bad item. Returns 0, EINVAL or ENOMEM (no message). */
int json_rd_prefixes(struct json_rd *, const char *key, const json_t *arr,
                     struct ctf_prefix_list *);
/* s as a message may quote it: cut to fit size, control characters as '?'
 * (messages are logged, and input must not forge log lines). */
const char *json_rd_quote(const char *s, char *buf, size_t size);

#endif
