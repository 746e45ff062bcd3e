/*
 * json.c: JSON writer.
 */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
json_init(struct json_out *j)
{
    memset(j, 0, sizeof *j);
}

void
json_destroy(struct json_out *j)
{
    if (j) {
        free(j->buf);
        memset(j, 0, sizeof *j);
    }
}

static void
json_raw(struct json_out *j, const char *s, size_t n)
{
    if (j->oom) {
        return;
    }
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1) {
            cap *= 2;
        }
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->oom = true;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
json_rawf(struct json_out *j, const char *fmt, ...)
{
    char tmp[320];              /* "%.3f" of -DBL_MAX: 314 characters. */
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) {
        json_raw(j, tmp, (size_t) n < sizeof tmp ? (size_t) n : sizeof tmp - 1);
    }
}

/* Separator before a value or key at the current level. A value right after
 * a key takes none. */
static void
json_sep(struct json_out *j)
{
    if (j->depth && j->need_comma[j->depth - 1]) {
        json_raw(j, ",", 1);
    }
    if (j->depth) {
        j->need_comma[j->depth - 1] = true;
    }
}

static void
json_value_prefix(struct json_out *j)
{
    if (j->len && j->buf[j->len - 1] == ':') {
        return;                 /* Value of a key: no separator. */
    }
    json_sep(j);
}

static void
json_open(struct json_out *j, char c)
{
    if (j->depth >= JSON_MAX_DEPTH) {
        j->oom = true;          /* Too deep: the output is void. */
        return;
    }
    json_value_prefix(j);
    json_raw(j, &c, 1);
    if (j->depth < JSON_MAX_DEPTH) {
        j->need_comma[j->depth] = false;
    }
    j->depth++;
}

static void
json_close(struct json_out *j, char c)
{
    if (j->depth) {
        j->depth--;
    }
    json_raw(j, &c, 1);
}

void json_object_begin(struct json_out *j) { json_open(j, '{'); }
void json_object_end(struct json_out *j) { json_close(j, '}'); }
void json_array_begin(struct json_out *j) { json_open(j, '['); }
void json_array_end(struct json_out *j) { json_close(j, ']'); }

static void
json_quoted(struct json_out *j, const char *s)
{
    json_raw(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        switch (*p) {
        case '"': json_raw(j, "\\\"", 2); break;
        case '\\': json_raw(j, "\\\\", 2); break;
        case '\n': json_raw(j, "\\n", 2); break;
        case '\r': json_raw(j, "\\r", 2); break;
        case '\t': json_raw(j, "\\t", 2); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                json_rawf(j, "\\u%04x", *p);
            } else {
                json_raw(j, (const char *) p, 1);
            }
        }
    }
    json_raw(j, "\"", 1);
}

void
json_key(struct json_out *j, const char *key)
{
    json_sep(j);
    json_quoted(j, key);
    json_raw(j, ":", 1);
}

void
json_str(struct json_out *j, const char *s)
{
    json_value_prefix(j);
    json_quoted(j, s ? s : "");
}

void
json_u64(struct json_out *j, uint64_t v)
{
    json_value_prefix(j);
    json_rawf(j, "%llu", (unsigned long long) v);
}

void
json_i64(struct json_out *j, int64_t v)
{
    json_value_prefix(j);
    json_rawf(j, "%lld", (long long) v);
}

void
json_double(struct json_out *j, double v)
{
    json_value_prefix(j);
    if (!isfinite(v)) {
        json_raw(j, "null", 4);
    } else {
        json_rawf(j, "%.3f", v);
    }
}

void
json_bool(struct json_out *j, bool v)
{
    json_value_prefix(j);
    json_raw(j, v ? "true" : "false", v ? 4 : 5);
}

void
json_null(struct json_out *j)
{
    json_value_prefix(j);
    json_raw(j, "null", 4);
}

const char *
json_text(const struct json_out *j)
{
    return j->oom ? NULL : j->buf ? j->buf : "";
}
