/*
 * fuzz_json.c: json_parse on arbitrary bytes. Everything ctflushd reads back
 * (control requests, the state file, replies in ctflushctl) goes through it
 * first: jansson's parser under ctflushd's bounds, and json.c's allocator
 * that tells an allocation failure from a syntax error.
 *
 * Oracles beyond the sanitizers: a failure leaves no tree and an ASCII
 * message without control characters, which says where for a syntax error;
 * a success is a tree within the bounds (nesting, string length, no NUL in
 * a string), and written back out (json_write_value, what ctflushctl --json
 * prints) it is text that parses again into an equal tree, and writing that
 * tree gives the same text (a fixed point). A parsed input is then parsed
 * and written again with allocations failing (fuzz_oom.h, which jansson's
 * allocations reach through json.c): the parse must answer ENOMEM with no
 * tree, the writer no text or all of it.
 */
#include <errno.h>

#include "fuzz.h"
#include "fuzz_oom.h"
#include "json.h"

/* The same value: types, strings byte for byte, numbers by their double
 * (a real 3.0 is written "3" and comes back an integer), members by key. */
static bool
fuzz_json_equal(const json_t *a, const json_t *b)
{
    const char *key;
    json_t *item;
    size_t i;

    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b)) {
            return json_integer_value(a) == json_integer_value(b);
        }
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) {
        return false;
    }
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b)
               && !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) {
            return false;
        }
        json_array_foreach(a, i, item) {
            if (!fuzz_json_equal(item, json_array_get(b, i))) {
                return false;
            }
        }
        return true;
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b)) {
            return false;
        }
        json_object_foreach((json_t *) a, key, item) {
            const json_t *other = json_object_get(b, key);
            if (!other || !fuzz_json_equal(item, other)) {
                return false;
            }
        }
        return true;
    default:
        return true;            /* null, true, false: the type says it all. */
    }
}

/* What json_parse promises about a tree it returns: nesting at most
 * JSON_MAX_DEPTH (v is at 'depth' levels of containers), strings and keys
 * at most JSON_MAX_STRING bytes and without NUL (callers use them as C
 * strings). */
static void
fuzz_json_check_tree(const json_t *v, unsigned int depth)
{
    const char *key;
    json_t *item;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_STRING:
        FUZZ_CHECK(strlen(json_string_value(v)) == json_string_length(v));
        FUZZ_CHECK(json_string_length(v) <= JSON_MAX_STRING);
        break;
    case JSON_ARRAY:
        FUZZ_CHECK(depth < JSON_MAX_DEPTH);
        json_array_foreach(v, i, item) {
            fuzz_json_check_tree(item, depth + 1);
        }
        break;
    case JSON_OBJECT:
        FUZZ_CHECK(depth < JSON_MAX_DEPTH);
        json_object_foreach((json_t *) v, key, item) {
            FUZZ_CHECK(strlen(key) <= JSON_MAX_STRING);
            FUZZ_CHECK(json_object_get(v, key) == item);
            fuzz_json_check_tree(item, depth + 1);
        }
        break;
    default:
        break;
    }
}

/* text (len bytes) parses; every allocation failure on the way is ENOMEM.
 * The writer, out of memory, gives no text or the whole of 'full'. */
static void
fuzz_json_oom(const char *text, size_t len, const json_t *tree, const struct json_out *full)
{
    json_t *v;
    struct json_out o;
    char err[128];
    size_t n;
    int rc;

    fuzz_oom_arm(0);
    rc = json_parse(text, len, &v, err, sizeof err);
    n = fuzz_oom_disarm();
    FUZZ_CHECK(rc == 0);
    json_decref(v);
    for (size_t i = 0; i < fuzz_oom_npoints(n); i++) {
        v = (json_t *) &v;
        fuzz_oom_arm(fuzz_oom_point(n, i));
        rc = json_parse(text, len, &v, err, sizeof err);
        fuzz_oom_disarm();
        if (rc != ENOMEM) {
            fprintf(stderr, "allocation %zu of %zu failing: rc %d: %s\n",
                    fuzz_oom_point(n, i), n, rc, err);
        }
        FUZZ_CHECK(rc == ENOMEM && v == NULL);
    }

    json_init(&o);
    fuzz_oom_arm(0);
    json_write_value(&o, tree);
    n = fuzz_oom_disarm();
    json_destroy(&o);
    for (size_t i = 0; i < fuzz_oom_npoints(n); i++) {
        json_init(&o);
        fuzz_oom_arm(fuzz_oom_point(n, i));
        json_write_value(&o, tree);
        fuzz_oom_disarm();
        FUZZ_CHECK(json_text(&o) == NULL
                   || (o.len == full->len && !memcmp(o.buf, full->buf, o.len)));
        json_destroy(&o);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Not NULL, so that "a failure leaves *out NULL" is actually tested. */
    static int sentinel;
    /* Exactly size bytes, no NUL after them: the parser takes a length. */
    char *text = fuzz_bytes(data, size);
    json_t *v = (json_t *) &sentinel, *v2 = NULL;
    struct json_out o1, o2;
    char err[128];
    int rc;

    rc = json_parse(text, size, &v, err, sizeof err);
    FUZZ_CHECK(fuzz_is_log_safe(err, sizeof err, true));
    if (rc) {
        FUZZ_CHECK(rc == EINVAL || rc == E2BIG || rc == ENOMEM);
        FUZZ_CHECK(v == NULL);
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(rc != EINVAL || !strncmp(err, "offset ", 7));
        free(text);
        return 0;
    }
    FUZZ_CHECK(v != NULL && err[0] == '\0');
    fuzz_json_check_tree(v, 0);

    json_init(&o1);
    json_write_value(&o1, v);
    FUZZ_CHECK(json_text(&o1) != NULL);
    FUZZ_CHECK(strlen(json_text(&o1)) == o1.len);

    rc = json_parse(json_text(&o1), o1.len, &v2, err, sizeof err);
    if (rc) {
        fprintf(stderr, "written form does not parse: %s\n%s\n", err, json_text(&o1));
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(fuzz_json_equal(v, v2));

    json_init(&o2);
    json_write_value(&o2, v2);
    FUZZ_CHECK(json_text(&o2) != NULL);
    if (o1.len != o2.len || memcmp(o1.buf, o2.buf, o1.len)) {
        fprintf(stderr, "not a fixed point:\n%s\n%s\n", json_text(&o1), json_text(&o2));
    }
    FUZZ_CHECK(o1.len == o2.len && !memcmp(o1.buf, o2.buf, o1.len));

    fuzz_json_oom(text, size, v, &o1);

    json_destroy(&o1);
    json_destroy(&o2);
    json_decref(v);
    json_decref(v2);
    free(text);
    return 0;
}
