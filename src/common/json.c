/*
 * json.c: the JSON writer; json_parse, which puts ctflushd's bounds on
 * jansson's parser; and the typed lookups every schema reads through.
 */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
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
json_str_or_null(struct json_out *j, const char *s)
{
    if (s) {
        json_str(j, s);
    } else {
        json_null_value(j);
    }
}

void
json_u64_or_null(struct json_out *j, bool present, uint64_t v)
{
    if (present) {
        json_u64(j, v);
    } else {
        json_null_value(j);
    }
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
json_null_value(struct json_out *j)
{
    json_value_prefix(j);
    json_raw(j, "null", 4);
}

const char *
json_text(const struct json_out *j)
{
    return j->oom ? NULL : j->buf ? j->buf : "";
}


/* A parsed number written so that it reads back as the same double:
 * json_double's three decimals are for humans and would lose digits. */
static void
json_number_exact(struct json_out *j, double d)
{
    char tmp[40];

    json_value_prefix(j);
    if (!isfinite(d)) {
        json_raw(j, "null", 4);
        return;
    }
    if (d == 0 && signbit(d)) {
        /* "-0" would read back as the integer 0. */
        json_raw(j, "-0.0", 4);
        return;
    }
    if (d == floor(d) && fabs(d) < 1e17) {
        json_rawf(j, "%.0f", d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d || prec == 17) {
            break;
        }
    }
    json_raw(j, tmp, strlen(tmp));
}

void
json_prefixes(struct json_out *j, const struct ctf_prefix_list *l, bool any, size_t limit)
{
    char buf[CTF_PREFIX_STRLEN];

    if (any) {
        json_str(j, "any");
        return;
    }
    json_array_begin(j);
    for (size_t i = 0; i < l->n && (!limit || i < limit); i++) {
        json_str(j, ctf_prefix_format(&l->items[i], buf));
    }
    json_array_end(j);
}

void
json_write_value(struct json_out *j, const json_t *v)
{
    /* jansson's object iterator takes a json_t *; it changes nothing. */
    json_t *obj = (json_t *) v;
    const char *key;
    json_t *item;
    size_t i;

    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_NULL:
        json_null_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        json_bool(j, json_is_true(v));
        break;
    case JSON_INTEGER:
        json_i64(j, (int64_t) json_integer_value(v));
        break;
    case JSON_REAL:
        json_number_exact(j, json_real_value(v));
        break;
    case JSON_STRING:
        json_str(j, json_string_value(v));      /* No NUL: json_parse refuses it. */
        break;
    case JSON_ARRAY:
        json_array_begin(j);
        json_array_foreach(obj, i, item) {
            json_write_value(j, item);
        }
        json_array_end(j);
        break;
    case JSON_OBJECT:
        json_object_begin(j);
        json_object_foreach(obj, key, item) {
            json_key(j, key);
            json_write_value(j, item);
        }
        json_object_end(j);
        break;
    }
}


/* ---- Parser: jansson, within ctflushd's bounds. ---- */

/* jansson allocates through json_alloc and json_free (json_set_alloc_funcs),
 * for two reasons.
 *
 * json_parse must know when an allocation failed: jansson 2.14 reports some
 * failures as syntax errors ("invalid token" when a string's copy cannot be
 * made), and an out-of-memory taken for a corrupt state file would have the
 * file moved aside and the jobs it holds dropped.
 *
 * And jansson's lexer must not see a failure: it does not check the
 * allocations that keep a token's text (akheron/jansson#362, open), so one
 * that fails puts it out of step with its input, and it then aborts the
 * process on an assert or decodes past its buffer. So during json_parse a
 * failed allocation is served from a reserve, and json_parse_read ends the
 * input, so that jansson stops within a few bytes; the tree is thrown away.
 * Only a request the reserve cannot hold reaches jansson as NULL (a token of
 * more than half the reserve growing just then), and after one every later
 * request does too, so that no half-kept token is decoded.
 *
 * The state is global because jansson's hook takes no context, and
 * thread-local so that a parse on one thread never sees another's. */
#define JSON_RESERVE (32u * 1024)
#define JSON_PARSE_CHUNK 64     /* Bytes handed to jansson at a time. */

struct json_parse_state {
    bool parsing;               /* Inside json_parse's call to jansson. */
    bool failed;                /* An allocation failed: the parse is void. */
    bool refused;               /* One got NULL: so does every later one. */
    size_t used;                /* Bytes of the reserve handed out. */
    _Alignas(max_align_t) unsigned char reserve[JSON_RESERVE];
};
static _Thread_local struct json_parse_state json_ps;
static pthread_once_t json_alloc_once = PTHREAD_ONCE_INIT;

static void *
json_alloc(size_t n)
{
    struct json_parse_state *ps = &json_ps;
    size_t need = (n + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    void *p;

    if (!ps->parsing) {
        return malloc(n);
    }
    if (!ps->failed && (p = malloc(n))) {
        return p;
    }
    ps->failed = true;
    if (!ps->refused && need >= n && need <= JSON_RESERVE - ps->used) {
        p = ps->reserve + ps->used;
        ps->used += need;
        return p;
    }
    ps->refused = true;
    return NULL;
}

static void
json_free(void *p)
{
    uintptr_t at = (uintptr_t) p, reserve = (uintptr_t) json_ps.reserve;

    /* The reserve is never freed block by block: json_parse empties it. */
    if (at - reserve >= JSON_RESERVE) {
        free(p);
    }
}

static void
json_alloc_install(void)
{
    json_set_alloc_funcs(json_alloc, json_free);
}

/* The input, as json_load_callback reads it. */
struct json_parse_src {
    const char *p;
    size_t left;
};

static size_t
json_parse_read(void *buf, size_t buflen, void *src_)
{
    struct json_parse_src *src = src_;
    size_t n = src->left < buflen ? src->left : buflen;

    if (json_ps.failed) {
        return 0;               /* The end, as far as jansson knows. */
    }
    n = n < JSON_PARSE_CHUNK ? n : JSON_PARSE_CHUNK;
    memcpy(buf, src->p, n);
    src->p += n;
    src->left -= n;
    return n;
}

static int __attribute__((format(printf, 4, 5)))
json_parse_fail(char *err, size_t errlen, int error, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        /* jansson quotes the input near an error: ASCII only, so that no
         * control character reaches a log line and no cut UTF-8 sequence
         * a reply. */
        for (char *p = err; *p; p++) {
            unsigned char c = (unsigned char) *p;
            if (c < 0x20 || c >= 0x7f) {
                *p = '?';
            }
        }
    }
    return error;
}

/* Refuses v if it nests deeper than JSON_MAX_DEPTH (v is at 'depth' levels
 * of containers) or holds a longer string than JSON_MAX_STRING. Recursion
 * stops at the first level too deep. */
static int
json_check_bounds(json_t *v, unsigned int depth, char *err, size_t errlen)
{
    const char *key;
    json_t *item;
    size_t i;
    int error = 0;

    switch (json_typeof(v)) {
    case JSON_STRING:
        if (json_string_length(v) > JSON_MAX_STRING) {
            return json_parse_fail(err, errlen, E2BIG, "string longer than %u bytes",
                                   JSON_MAX_STRING);
        }
        return 0;
    case JSON_ARRAY:
    case JSON_OBJECT:
        if (depth >= JSON_MAX_DEPTH) {
            return json_parse_fail(err, errlen, E2BIG, "nested deeper than %d levels",
                                   JSON_MAX_DEPTH);
        }
        break;
    case JSON_NULL:
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_INTEGER:
    case JSON_REAL:
    default:
        return 0;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if ((error = json_check_bounds(item, depth + 1, err, errlen))) {
                break;
            }
        }
        return error;
    }
    json_object_foreach(v, key, item) {
        if (strlen(key) > JSON_MAX_STRING) {
            return json_parse_fail(err, errlen, E2BIG, "key longer than %u bytes",
                                   JSON_MAX_STRING);
        }
        if ((error = json_check_bounds(item, depth + 1, err, errlen))) {
            break;
        }
    }
    return error;
}

int
json_parse(const char *text, size_t len, json_t **out, char *err, size_t errlen)
{
    struct json_parse_src src = { text, len };
    json_error_t e;
    json_t *v;
    int error;

    *out = NULL;
    if (err && errlen) {
        err[0] = '\0';
    }
    if (!text) {
        return json_parse_fail(err, errlen, EINVAL, "offset 0: no input");
    }
    /* A NUL byte is never JSON text (in a string it is \u0000, refused
     * below), and jansson 2.14 skips one right after a number or a literal:
     * "[1\0]" would be [1]. */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        return json_parse_fail(err, errlen, EINVAL, "offset %zu: NUL byte",
                               (size_t) (nul - text));
    }
    pthread_once(&json_alloc_once, json_alloc_install);
    memset(&e, 0, sizeof e);
    memset(&json_ps, 0, offsetof(struct json_parse_state, reserve));
    json_ps.parsing = true;
    /* JSON_DECODE_ANY: a scalar is a document too, so that callers can say
     * "must be an object" themselves. */
    v = json_load_callback(json_parse_read, &src, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                           &e);
    if (json_ps.failed || (!v && !e.text[0])) {
        /* jansson gives up without a word only when an allocation fails. */
        json_decref(v);
        json_ps.parsing = false;
        return json_parse_fail(err, errlen, ENOMEM, "out of memory");
    }
    json_ps.parsing = false;
    if (!v) {
        if (json_error_code(&e) == json_error_stack_overflow) {
            /* Its own bound, far past ours: the same answer as ours. */
            return json_parse_fail(err, errlen, E2BIG, "offset %d: nested deeper than %d levels",
                                   e.position, JSON_MAX_DEPTH);
        }
        return json_parse_fail(err, errlen, EINVAL, "offset %d: %s", e.position, e.text);
    }
    error = json_check_bounds(v, 0, err, errlen);
    if (error) {
        json_decref(v);
        return error;
    }
    *out = v;
    return 0;
}


/* ---- Typed lookups. ---- */

void
json_rd_init(struct json_rd *rd, char *msg, size_t msglen)
{
    rd->msg = msg && msglen ? msg : NULL;
    rd->msglen = rd->msg ? msglen : 0;
    rd->where[0] = '\0';
    if (rd->msg) {
        rd->msg[0] = '\0';
    }
}

/* Ends s (of length len) before a UTF-8 sequence cut short by snprintf. */
static void
json_utf8_trim(char *s, size_t len)
{
    size_t cont = 0;
    unsigned char lead;

    while (len > cont && cont < 3 && ((unsigned char) s[len - 1 - cont] & 0xc0) == 0x80) {
        cont++;
    }
    if (len == cont) {
        return;
    }
    lead = (unsigned char) s[len - 1 - cont];
    if (lead >= 0xc0 && cont + 1 < (lead >= 0xf0 ? 4u : lead >= 0xe0 ? 3u : 2u)) {
        s[len - 1 - cont] = '\0';
    }
}

int
json_rd_fail(struct json_rd *rd, const char *key, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    if (!rd->msg) {
        return EINVAL;
    }
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(rd->msg, rd->msglen, "%s%s%s%s%s", rd->where, rd->where[0] ? ": " : "",
             key ? key : "", key ? ": " : "", why);
    /* Messages go to the daemon's log and back to clients: no control
     * characters, and no UTF-8 sequence cut in half. */
    for (char *p = rd->msg; *p; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    json_utf8_trim(rd->msg, strlen(rd->msg));
    return EINVAL;
}

const char *
json_rd_quote(const char *s, char *buf, size_t size)
{
    size_t i;

    if (!size) {
        return "";
    }
    for (i = 0; s[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char) s[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char) c;
    }
    buf[i] = '\0';
    if (s[i] && size > 4) {
        /* Cut: "..." in the last bytes, not inside a UTF-8 sequence. */
        size_t at = size - 4;
        while (at && ((unsigned char) buf[at] & 0xc0) == 0x80) {
            at--;
        }
        memcpy(buf + at, "...", 4);
    }
    return buf;
}

/* " or null", when null is allowed, for "must be ..." messages. */
static const char *
json_rd_or_null(unsigned int flags)
{
    return flags & JSON_RD_NULLABLE ? " or null" : "";
}

int
json_rd_member(struct json_rd *rd, const json_t *obj, const char *key, unsigned int flags,
               const json_t **out)
{
    const json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v) {
        return flags & JSON_RD_OPTIONAL ? 0 : json_rd_fail(rd, key, "missing");
    }
    if (!json_is_null(v) || !(flags & JSON_RD_NULLABLE)) {
        *out = v;
    }
    return 0;
}

int
json_rd_int(struct json_rd *rd, const json_t *obj, const char *key, unsigned int flags,
            int64_t min, int64_t max, bool *present, int64_t *out)
{
    const json_t *v;
    int error = json_rd_member(rd, obj, key, flags, &v);

    if (present) {
        *present = false;
    }
    if (error || !v) {
        return error;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        if (max == INT64_MAX) {
            return json_rd_fail(rd, key, "must be an integer >= %" PRId64 "%s", min,
                                json_rd_or_null(flags));
        }
        return json_rd_fail(rd, key, "must be an integer %" PRId64 "..%" PRId64 "%s", min,
                            max, json_rd_or_null(flags));
    }
    *out = (int64_t) json_integer_value(v);
    if (present) {
        *present = true;
    }
    return 0;
}

int
json_rd_bool(struct json_rd *rd, const json_t *obj, const char *key, unsigned int flags,
             bool *present, bool *out)
{
    const json_t *v;
    int error = json_rd_member(rd, obj, key, flags, &v);

    if (present) {
        *present = false;
    }
    if (error || !v) {
        return error;
    }
    if (!json_is_boolean(v)) {
        return json_rd_fail(rd, key, "must be true or false%s", json_rd_or_null(flags));
    }
    *out = json_is_true(v);
    if (present) {
        *present = true;
    }
    return 0;
}

int
json_rd_number(struct json_rd *rd, const json_t *obj, const char *key, unsigned int flags,
               bool *present, double *out)
{
    const json_t *v;
    int error = json_rd_member(rd, obj, key, flags, &v);

    if (present) {
        *present = false;
    }
    if (error || !v) {
        return error;
    }
    if (!json_is_number(v)) {
        return json_rd_fail(rd, key, "must be a number%s", json_rd_or_null(flags));
    }
    *out = json_number_value(v);
    if (present) {
        *present = true;
    }
    return 0;
}

int
json_rd_string(struct json_rd *rd, const json_t *obj, const char *key, unsigned int flags,
               const char **out)
{
    const json_t *v;
    int error = json_rd_member(rd, obj, key, flags, &v);

    *out = NULL;
    if (error || !v) {
        return error;
    }
    if (!json_is_string(v)) {
        return json_rd_fail(rd, key, "must be a string%s", json_rd_or_null(flags));
    }
    *out = json_string_value(v);
    return 0;
}

int
json_rd_array(struct json_rd *rd, const json_t *obj, const char *key, unsigned int flags,
              const json_t **out)
{
    int error = json_rd_member(rd, obj, key, flags, out);

    if (!error && *out && !json_is_array(*out)) {
        *out = NULL;
        return json_rd_fail(rd, key, "must be an array%s", json_rd_or_null(flags));
    }
    return error;
}

int
json_rd_prefixes(struct json_rd *rd, const char *key, const json_t *arr,
                 struct ctf_prefix_list *list)
{
    const json_t *item;
    size_t i;

    json_array_foreach(arr, i, item) {
        struct ctf_prefix p;
        char ikey[80], q[64];

        snprintf(ikey, sizeof ikey, "%s[%zu]", key, i);
        if (!json_is_string(item)) {
            return json_rd_fail(rd, ikey, "must be a string");
        }
        if (ctf_prefix_parse(json_string_value(item), &p)) {
            return json_rd_fail(rd, ikey, "bad address or prefix '%s'",
                                json_rd_quote(json_string_value(item), q, sizeof q));
        }
        if (ctf_prefix_list_add(list, &p)) {
            return ENOMEM;
        }
    }
    return 0;
}
