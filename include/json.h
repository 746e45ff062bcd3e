/*
 * json.h: a small JSON writer into a growable buffer, for --json outputs (and
 * the control protocol's replies). Writes only; ctflushd never parses JSON
 * from anyone.
 *
 * Owns: its buffer.
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
void json_string(struct json_out *, const char *);
void json_u64(struct json_out *, uint64_t);
void json_i64(struct json_out *, int64_t);
void json_double(struct json_out *, double);
void json_bool(struct json_out *, bool);
void json_null(struct json_out *);

/* The text so far, NUL-terminated, or NULL after an allocation failure. */
const char *json_text(const struct json_out *);

#endif
