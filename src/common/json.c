/*
 * json.c: the JSON writer, and the strict, bounded parser for what ctflushd
 * reads back (control requests, its state file).
 */
#include "json.h"

#include <errno.h>
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
json_str_or_null(struct json_out *j, const char *s)
{
    if (s) {
        json_str(j, s);
    } else {
        json_null(j);
    }
}

void
json_u64_or_null(struct json_out *j, bool present, uint64_t v)
{
    if (present) {
        json_u64(j, v);
    } else {
        json_null(j);
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


/* ---- Parser. ----
 *
 * A recursive descent parser whose recursion is bounded by JSON_MAX_DEPTH:
 * every '[' or '{' adds one level and a level past the limit is refused
 * before anything is allocated for it. The tree is kept consistent while it
 * is built (a slot is zeroed, i.e. a null, before it is filled), so on any
 * error the caller frees the whole tree and nothing else needs unwinding. */

/* Numbers are converted from a bounded copy; a literal longer than this is
 * not something ctflushd writes or needs to read. */
#define JSON_MAX_NUMBER 512

struct json_parser {
    const char *start;          /* The input, for error offsets. */
    const char *p;              /* The next byte to read. */
    const char *end;
    size_t nodes;               /* Values made so far. */
    char *errbuf;
    size_t errlen;
};

static int __attribute__((format(printf, 4, 5)))
json_fail(struct json_parser *jp, const char *at, int err, const char *fmt, ...)
{
    char why[160];
    va_list ap;

    if (jp->errbuf && jp->errlen) {
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        snprintf(jp->errbuf, jp->errlen, "offset %zu: %s", (size_t) (at - jp->start), why);
    }
    return err;
}

/* Says what the byte at `at` is, for "unexpected ..." errors. */
static int
json_fail_unexpected(struct json_parser *jp, const char *at, const char *wanted)
{
    unsigned char c;

    if (at >= jp->end) {
        return json_fail(jp, at, EINVAL, "unexpected end of input (%s)", wanted);
    }
    c = (unsigned char) *at;
    if (c > 0x20 && c < 0x7f) {
        return json_fail(jp, at, EINVAL, "unexpected character '%c' (%s)", c, wanted);
    }
    return json_fail(jp, at, EINVAL, "unexpected byte 0x%02x (%s)", c, wanted);
}

static void
json_skip_ws(struct json_parser *jp)
{
    while (jp->p < jp->end
           && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r')) {
        jp->p++;
    }
}

/* Length of the well-formed UTF-8 sequence at p (1..4), or 0 if it is not
 * one: overlong forms, UTF-16 surrogates and code points past U+10FFFF are
 * all refused, as RFC 3629 requires. */
static size_t
json_utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;

    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) {
            lo = 0xa0;          /* Overlong below U+0800. */
        } else if (c == 0xed) {
            hi = 0x9f;          /* U+D800..U+DFFF: surrogates. */
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) {
            lo = 0x90;          /* Overlong below U+10000. */
        } else if (c == 0xf4) {
            hi = 0x8f;          /* Past U+10FFFF. */
        }
    } else {
        return 0;
    }
    if ((size_t) (end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }
    return n;
}

/* Four hex digits at p (bounds already checked), or -1. */
static long
json_hex4(const char *p)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            return -1;
        }
    }
    return v;
}

static size_t
json_utf8_put(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (char) (0xc0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3f));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (char) (0xe0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char) (0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char) (0xf0 | (cp >> 18));
    out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char) (0x80 | (cp & 0x3f));
    return 4;
}

/* Parses the \u escape at p (pointing at the 'u'), surrogate pair included,
 * into a code point; advances p past it. Returns 0 or EINVAL. */
static int
json_parse_u_escape(struct json_parser *jp, const char **pp, const char *close,
                    unsigned long *cp)
{
    const char *p = *pp;
    const char *esc = p - 1;
    long hi, lo;

    if (close - p < 5 || (hi = json_hex4(p + 1)) < 0) {
        return json_fail(jp, esc, EINVAL, "\\u needs four hex digits");
    }
    p += 5;
    if (hi >= 0xdc00 && hi <= 0xdfff) {
        return json_fail(jp, esc, EINVAL, "lone low surrogate \\u%04lx", hi);
    }
    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (close - p < 6 || p[0] != '\\' || p[1] != 'u'
            || (lo = json_hex4(p + 2)) < 0 || lo < 0xdc00 || lo > 0xdfff) {
            return json_fail(jp, esc, EINVAL, "lone high surrogate \\u%04lx", hi);
        }
        p += 6;
        *cp = 0x10000 + (((unsigned long) hi - 0xd800) << 10)
              + ((unsigned long) lo - 0xdc00);
    } else if (hi == 0) {
        /* The tree hands out C strings: a NUL would silently cut one. */
        return json_fail(jp, esc, EINVAL, "\\u0000 in a string");
    } else {
        *cp = (unsigned long) hi;
    }
    *pp = p;
    return 0;
}

/* Parses the string at jp->p (at its opening quote) into a malloc'd,
 * NUL-terminated copy. */
static int
json_parse_string(struct json_parser *jp, char **out, size_t *outlen)
{
    const char *open = jp->p;
    const char *close;
    const char *p;
    char *s;
    size_t n = 0, cap;

    /* First find the closing quote, so the copy can be sized: the decoded
     * text is never longer than its source. */
    for (close = open + 1; close < jp->end && *close != '"'; close++) {
        if (*close == '\\' && ++close == jp->end) {
            break;              /* A backslash as the last byte. */
        }
    }
    if (close == jp->end) {
        return json_fail(jp, open, EINVAL, "unterminated string");
    }
    cap = (size_t) (close - open - 1);
    if (cap > JSON_MAX_STRING) {
        cap = JSON_MAX_STRING;
    }
    s = malloc(cap + 1);
    if (!s) {
        return json_fail(jp, open, ENOMEM, "out of memory");
    }

    for (p = open + 1; p < close; ) {
        unsigned char c = (unsigned char) *p;
        char enc[4];
        size_t k;
        const char *at = p;

        if (c < 0x20) {
            free(s);
            return json_fail(jp, p, EINVAL, "control character 0x%02x in a string", c);
        } else if (c == '\\') {
            p++;
            switch (*p) {
            case '"': enc[0] = '"'; k = 1; p++; break;
            case '\\': enc[0] = '\\'; k = 1; p++; break;
            case '/': enc[0] = '/'; k = 1; p++; break;
            case 'b': enc[0] = '\b'; k = 1; p++; break;
            case 'f': enc[0] = '\f'; k = 1; p++; break;
            case 'n': enc[0] = '\n'; k = 1; p++; break;
            case 'r': enc[0] = '\r'; k = 1; p++; break;
            case 't': enc[0] = '\t'; k = 1; p++; break;
            case 'u': {
                unsigned long cp = 0;
                int err = json_parse_u_escape(jp, &p, close, &cp);
                if (err) {
                    free(s);
                    return err;
                }
                k = json_utf8_put(enc, cp);
                break;
            }
            default:
                free(s);
                return json_fail(jp, at, EINVAL, "invalid escape");
            }
        } else {
            k = json_utf8_len((const unsigned char *) p, (const unsigned char *) close);
            if (!k) {
                free(s);
                return json_fail(jp, p, EINVAL, "invalid UTF-8 in a string");
            }
            memcpy(enc, p, k);
            p += k;
        }
        if (n + k > cap) {
            free(s);
            return json_fail(jp, open, E2BIG, "string longer than %u bytes",
                             JSON_MAX_STRING);
        }
        memcpy(s + n, enc, k);
        n += k;
    }
    s[n] = '\0';
    jp->p = close + 1;
    *out = s;
    *outlen = n;
    return 0;
}

static int
json_parse_number(struct json_parser *jp, struct json_value *v)
{
    const char *start = jp->p;
    const char *p = start;
    const char *end = jp->end;
    bool plain = true;          /* No sign, fraction or exponent. */
    char buf[JSON_MAX_NUMBER + 1];
    char *stop;

    if (*p == '-') {
        plain = false;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') {
        return json_fail(jp, start, EINVAL, "invalid number");
    }
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') {
            return json_fail(jp, start, EINVAL, "leading zero in a number");
        }
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (p < end && *p == '.') {
        plain = false;
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            return json_fail(jp, p, EINVAL, "digit expected after '.'");
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        plain = false;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || *p < '0' || *p > '9') {
            return json_fail(jp, p, EINVAL, "digit expected in exponent");
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    size_t len = (size_t) (p - start);
    if (len > JSON_MAX_NUMBER) {
        return json_fail(jp, start, E2BIG, "number longer than %d characters",
                         JSON_MAX_NUMBER);
    }
    memcpy(buf, start, len);
    buf[len] = '\0';

    v->type = JSON_T_NUMBER;
    v->u.num.is_uint = false;
    v->u.num.u = 0;
    if (plain) {
        uint64_t u = 0;
        bool fits = true;
        for (size_t i = 0; i < len; i++) {
            unsigned int digit = (unsigned int) (buf[i] - '0');
            if (u > (UINT64_MAX - digit) / 10) {
                fits = false;
                break;
            }
            u = u * 10 + digit;
        }
        v->u.num.is_uint = fits;
        v->u.num.u = fits ? u : 0;
    }
    v->u.num.d = strtod(buf, &stop);
    if (stop != buf + len) {
        return json_fail(jp, start, EINVAL, "invalid number");
    }
    if (isinf(v->u.num.d)) {
        /* It could only come back out as null. */
        v->u.num.d = 0;
        return json_fail(jp, start, EINVAL, "number out of range");
    }
    jp->p = p;
    return 0;
}

static int
json_parse_literal(struct json_parser *jp, struct json_value *v)
{
    static const struct {
        const char *text;
        size_t len;
        enum json_type type;
        bool b;
    } lits[] = {
        { "true", 4, JSON_T_BOOL, true },
        { "false", 5, JSON_T_BOOL, false },
        { "null", 4, JSON_T_NULL, false },
    };
    size_t avail = (size_t) (jp->end - jp->p);

    for (size_t i = 0; i < sizeof lits / sizeof *lits; i++) {
        if (avail >= lits[i].len && !memcmp(jp->p, lits[i].text, lits[i].len)) {
            v->type = lits[i].type;
            v->u.b = lits[i].b;
            jp->p += lits[i].len;
            return 0;
        }
    }
    return json_fail(jp, jp->p, EINVAL, "invalid literal");
}

static int json_parse_value(struct json_parser *, struct json_value *, unsigned int depth);

static int
json_parse_array(struct json_parser *jp, struct json_value *v, unsigned int depth)
{
    size_t cap = 0;

    v->type = JSON_T_ARRAY;
    v->u.arr.items = NULL;
    v->u.arr.n = 0;
    jp->p++;                    /* '[' */
    json_skip_ws(jp);
    if (jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        return 0;
    }
    for (;;) {
        if (v->u.arr.n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct json_value *items = realloc(v->u.arr.items, ncap * sizeof *items);
            if (!items) {
                return json_fail(jp, jp->p, ENOMEM, "out of memory");
            }
            v->u.arr.items = items;
            cap = ncap;
        }
        struct json_value *item = &v->u.arr.items[v->u.arr.n++];
        memset(item, 0, sizeof *item);
        int err = json_parse_value(jp, item, depth);
        if (err) {
            return err;
        }
        json_skip_ws(jp);
        if (jp->p < jp->end && *jp->p == ']') {
            jp->p++;
            return 0;
        }
        if (jp->p >= jp->end || *jp->p != ',') {
            return json_fail_unexpected(jp, jp->p, "expected ',' or ']'");
        }
        jp->p++;
        json_skip_ws(jp);
        if (jp->p < jp->end && *jp->p == ']') {
            return json_fail(jp, jp->p, EINVAL, "trailing comma");
        }
    }
}

/* A key and where it was, for the duplicate check. */
struct json_key_ref {
    const char *key;
    size_t off;
};

static int
json_key_ref_cmp(const void *a_, const void *b_)
{
    const struct json_key_ref *a = a_, *b = b_;
    int c = strcmp(a->key, b->key);

    return c ? c : a->off < b->off ? -1 : a->off > b->off;
}

/* Refuses an object with a key twice: which of the two a reader would see
 * differs between parsers, and a request is not allowed to mean two things.
 * Sorting makes this n log n, so a big object cannot make it quadratic. */
static int
json_check_dup_keys(struct json_parser *jp, const struct json_value *v, const size_t *offs)
{
    size_t n = v->u.obj.n;
    struct json_key_ref *refs;
    size_t dup_off = SIZE_MAX;
    const char *dup_key = NULL;

    if (n < 2) {
        return 0;
    }
    refs = malloc(n * sizeof *refs);
    if (!refs) {
        return json_fail(jp, jp->p, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        refs[i].key = v->u.obj.items[i].key;
        refs[i].off = offs[i];
    }
    qsort(refs, n, sizeof *refs, json_key_ref_cmp);
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(refs[i - 1].key, refs[i].key) && refs[i].off < dup_off) {
            dup_off = refs[i].off;
            dup_key = refs[i].key;
        }
    }
    int err = 0;
    if (dup_key) {
        err = json_fail(jp, jp->start + dup_off, EINVAL, "duplicate key \"%.64s\"", dup_key);
    }
    free(refs);
    return err;
}

static int
json_parse_object(struct json_parser *jp, struct json_value *v, unsigned int depth)
{
    size_t *offs = NULL;        /* Input offset of each key. */
    size_t cap = 0;
    int err = 0;

    v->type = JSON_T_OBJECT;
    v->u.obj.items = NULL;
    v->u.obj.n = 0;
    jp->p++;                    /* '{' */
    json_skip_ws(jp);
    if (jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        return 0;
    }
    for (;;) {
        if (jp->p >= jp->end || *jp->p != '"') {
            err = json_fail_unexpected(jp, jp->p, "expected a string key");
            break;
        }
        if (v->u.obj.n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct json_member *items = realloc(v->u.obj.items, ncap * sizeof *items);
            if (items) {
                v->u.obj.items = items;
            }
            size_t *noffs = items ? realloc(offs, ncap * sizeof *noffs) : NULL;
            if (!noffs) {
                err = json_fail(jp, jp->p, ENOMEM, "out of memory");
                break;
            }
            offs = noffs;
            cap = ncap;
        }
        struct json_member *m = &v->u.obj.items[v->u.obj.n];
        size_t klen;

        memset(m, 0, sizeof *m);
        offs[v->u.obj.n] = (size_t) (jp->p - jp->start);
        err = json_parse_string(jp, &m->key, &klen);
        if (err) {
            break;
        }
        v->u.obj.n++;
        json_skip_ws(jp);
        if (jp->p >= jp->end || *jp->p != ':') {
            err = json_fail_unexpected(jp, jp->p, "expected ':'");
            break;
        }
        jp->p++;
        err = json_parse_value(jp, &m->value, depth);
        if (err) {
            break;
        }
        json_skip_ws(jp);
        if (jp->p < jp->end && *jp->p == '}') {
            jp->p++;
            err = json_check_dup_keys(jp, v, offs);
            break;
        }
        if (jp->p >= jp->end || *jp->p != ',') {
            err = json_fail_unexpected(jp, jp->p, "expected ',' or '}'");
            break;
        }
        jp->p++;
        json_skip_ws(jp);
        if (jp->p < jp->end && *jp->p == '}') {
            err = json_fail(jp, jp->p, EINVAL, "trailing comma");
            break;
        }
    }
    free(offs);
    return err;
}

/* Parses one value at jp->p (after optional whitespace) into v, which is
 * zeroed. depth is the nesting level of v's container. */
static int
json_parse_value(struct json_parser *jp, struct json_value *v, unsigned int depth)
{
    json_skip_ws(jp);
    if (jp->p >= jp->end) {
        return json_fail(jp, jp->p, EINVAL, "unexpected end of input (expected a value)");
    }
    if (++jp->nodes > JSON_MAX_NODES) {
        return json_fail(jp, jp->p, E2BIG, "more than %u values", JSON_MAX_NODES);
    }
    switch (*jp->p) {
    case '{':
    case '[':
        if (depth >= JSON_MAX_DEPTH) {
            return json_fail(jp, jp->p, E2BIG, "nested deeper than %d levels",
                             JSON_MAX_DEPTH);
        }
        return *jp->p == '{' ? json_parse_object(jp, v, depth + 1)
                             : json_parse_array(jp, v, depth + 1);
    case '"': {
        char *s;
        size_t len;
        int err = json_parse_string(jp, &s, &len);
        if (!err) {
            v->type = JSON_T_STRING;
            v->u.str.s = s;
            v->u.str.len = len;
        }
        return err;
    }
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return json_parse_number(jp, v);
    case 't':
    case 'f':
    case 'n':
        return json_parse_literal(jp, v);
    default:
        return json_fail_unexpected(jp, jp->p, "expected a value");
    }
}

int
json_parse(const char *text, size_t len, struct json_value **out,
           char *errbuf, size_t errlen)
{
    struct json_parser jp = {
        .start = text,
        .p = text,
        .end = text + len,
        .errbuf = errbuf,
        .errlen = errlen,
    };
    struct json_value *root;
    int err;

    *out = NULL;
    if (errbuf && errlen) {
        errbuf[0] = '\0';
    }
    if (!text) {
        jp.start = jp.p = jp.end = "";
        return json_fail(&jp, jp.p, EINVAL, "no input");
    }
    root = calloc(1, sizeof *root);
    if (!root) {
        return json_fail(&jp, jp.p, ENOMEM, "out of memory");
    }
    err = json_parse_value(&jp, root, 0);
    if (!err) {
        json_skip_ws(&jp);
        if (jp.p < jp.end) {
            err = json_fail_unexpected(&jp, jp.p, "trailing characters after the value");
        }
    }
    if (err) {
        json_value_free(root);
        return err;
    }
    *out = root;
    return 0;
}

/* Frees what v owns, not v itself. */
static void
json_value_clear(struct json_value *v)
{
    switch (v->type) {
    case JSON_T_STRING:
        free(v->u.str.s);
        break;
    case JSON_T_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++) {
            json_value_clear(&v->u.arr.items[i]);
        }
        free(v->u.arr.items);
        break;
    case JSON_T_OBJECT:
        for (size_t i = 0; i < v->u.obj.n; i++) {
            free(v->u.obj.items[i].key);
            json_value_clear(&v->u.obj.items[i].value);
        }
        free(v->u.obj.items);
        break;
    case JSON_T_NULL:
    case JSON_T_BOOL:
    case JSON_T_NUMBER:
        break;
    }
    v->type = JSON_T_NULL;
}

void
json_value_free(struct json_value *v)
{
    if (v) {
        json_value_clear(v);
        free(v);
    }
}

const struct json_value *
json_get(const struct json_value *obj, const char *key)
{
    if (!obj || !key || obj->type != JSON_T_OBJECT) {
        return NULL;
    }
    for (size_t i = 0; i < obj->u.obj.n; i++) {
        if (!strcmp(obj->u.obj.items[i].key, key)) {
            return &obj->u.obj.items[i].value;
        }
    }
    return NULL;
}

const char *
json_get_string(const struct json_value *obj, const char *key)
{
    const struct json_value *v = json_get(obj, key);

    return v && v->type == JSON_T_STRING ? v->u.str.s : NULL;
}

bool
json_get_uint(const struct json_value *obj, const char *key, uint64_t *out)
{
    const struct json_value *v = json_get(obj, key);

    if (!v || v->type != JSON_T_NUMBER || !v->u.num.is_uint) {
        return false;
    }
    *out = v->u.num.u;
    return true;
}

bool
json_get_bool(const struct json_value *obj, const char *key, bool *out)
{
    const struct json_value *v = json_get(obj, key);

    if (!v || v->type != JSON_T_BOOL) {
        return false;
    }
    *out = v->u.b;
    return true;
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
json_write_value(struct json_out *j, const struct json_value *v)
{
    switch (v->type) {
    case JSON_T_NULL:
        json_null(j);
        break;
    case JSON_T_BOOL:
        json_bool(j, v->u.b);
        break;
    case JSON_T_NUMBER:
        if (v->u.num.is_uint) {
            json_u64(j, v->u.num.u);
        } else {
            json_number_exact(j, v->u.num.d);
        }
        break;
    case JSON_T_STRING:
        json_str(j, v->u.str.s);
        break;
    case JSON_T_ARRAY:
        json_array_begin(j);
        for (size_t i = 0; i < v->u.arr.n; i++) {
            json_write_value(j, &v->u.arr.items[i]);
        }
        json_array_end(j);
        break;
    case JSON_T_OBJECT:
        json_object_begin(j);
        for (size_t i = 0; i < v->u.obj.n; i++) {
            json_key(j, v->u.obj.items[i].key);
            json_write_value(j, &v->u.obj.items[i].value);
        }
        json_object_end(j);
        break;
    }
}
