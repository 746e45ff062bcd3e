/*
 * json.h: a small JSON writer into a growable buffer (--json outputs, control
 * replies, the state file) and a strict, bounded parser for what ctflushd
 * reads back: control requests from local clients and its own state file.
 * The parser takes untrusted input: it limits depth, total nodes and string
 * lengths, rejects NUL in strings, invalid UTF-8 escapes, duplicate keys,
 * trailing garbage, and never recurses deeper than JSON_MAX_DEPTH.
 *
 * Owns: the writer's buffer; a parsed tree (freed with json_value_free).
 */
#ifndef CTF_JSON_H
#define CTF_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 16

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
void json_null(struct json_out *);
/* Optional values: null when absent. */
void json_str_or_null(struct json_out *, const char *);
void json_u64_or_null(struct json_out *, bool present, uint64_t);

/* The text so far, NUL-terminated, or NULL after an allocation failure. */
const char *json_text(const struct json_out *);


/* Parser. */
enum json_type {
    JSON_T_NULL,
    JSON_T_BOOL,
    JSON_T_NUMBER,
    JSON_T_STRING,
    JSON_T_ARRAY,
    JSON_T_OBJECT,
};

struct json_member;

struct json_value {
    enum json_type type;
    union {
        bool b;
        struct {
            double d;           /* Always set. */
            bool is_uint;       /* An integer literal in 0..UINT64_MAX. */
            uint64_t u;         /* Its value when is_uint. */
        } num;
        struct {
            char *s;            /* NUL-terminated, no NUL inside. */
            size_t len;
        } str;
        struct {
            struct json_value *items;
            size_t n;
        } arr;
        struct {
            struct json_member *items;  /* In input order. */
            size_t n;
        } obj;
    } u;
};

struct json_member {
    char *key;
    struct json_value value;
};

/* Parser limits: nesting depth is JSON_MAX_DEPTH; node count and string length
 * are bounded too so a small input cannot make a huge tree. */
#define JSON_MAX_NODES 1000000u
#define JSON_MAX_STRING (1u << 20)

/* Parses exactly one JSON value (surrounding whitespace allowed) from text
 * of length len (need not be NUL-terminated). Returns 0 and a tree in *out,
 * or EINVAL/E2BIG/ENOMEM with "offset N: what" in errbuf. */
int json_parse(const char *text, size_t len, struct json_value **out,
               char *errbuf, size_t errlen);
void json_value_free(struct json_value *);      /* Accepts NULL. */

/* Object member lookup; NULL if obj is not an object or has no such key. */
const struct json_value *json_get(const struct json_value *obj, const char *key);
/* Typed lookups: NULL / false when missing or of another type. */
const char *json_get_string(const struct json_value *obj, const char *key);
bool json_get_uint(const struct json_value *obj, const char *key, uint64_t *out);
bool json_get_bool(const struct json_value *obj, const char *key, bool *out);
/* Writes a parsed value back out (for tests and pass-through). */
void json_write_value(struct json_out *, const struct json_value *);

#endif
