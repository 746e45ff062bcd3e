/*
 * fuzz_json.c: json_parse on arbitrary bytes. Everything ctflushd reads back
 * (control requests, the state file) goes through this parser first.
 *
 * Oracles beyond the sanitizers: a failure leaves no tree and says where;
 * a success writes back out (json_write_value) to text that parses again
 * into an equal tree, and writing that tree gives the same text (a fixed
 * point: what ctflushd writes, it reads back unchanged). A parsed input is
 * then parsed and written again with allocations failing (fuzz_oom.h): the
 * parse must answer ENOMEM with no tree, the writer no text or all of it.
 */
#include <errno.h>

#include "fuzz.h"
#include "fuzz_oom.h"
#include "json.h"

/* The same value: types, strings byte for byte, numbers by their double
 * (1.0 comes back as the integer 1), members in order. */
static bool
fuzz_json_equal(const struct json_value *a, const struct json_value *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case JSON_T_NULL:
        return true;
    case JSON_T_BOOL:
        return a->u.b == b->u.b;
    case JSON_T_NUMBER:
        if (a->u.num.is_uint && b->u.num.is_uint && a->u.num.u != b->u.num.u) {
            return false;
        }
        return a->u.num.d == b->u.num.d;
    case JSON_T_STRING:
        return a->u.str.len == b->u.str.len
               && !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
    case JSON_T_ARRAY:
        if (a->u.arr.n != b->u.arr.n) {
            return false;
        }
        for (size_t i = 0; i < a->u.arr.n; i++) {
            if (!fuzz_json_equal(&a->u.arr.items[i], &b->u.arr.items[i])) {
                return false;
            }
        }
        return true;
    case JSON_T_OBJECT:
        if (a->u.obj.n != b->u.obj.n) {
            return false;
        }
        for (size_t i = 0; i < a->u.obj.n; i++) {
            if (strcmp(a->u.obj.items[i].key, b->u.obj.items[i].key)
                || !fuzz_json_equal(&a->u.obj.items[i].value, &b->u.obj.items[i].value)) {
                return false;
            }
        }
        return true;
    }
    return false;
}

/* What the header promises about a tree: strings are C strings of their
 * length, an integer literal's double agrees with it, keys are unique (so
 * json_get finds each member at its own place). */
static void
fuzz_json_check_tree(const struct json_value *v)
{
    switch (v->type) {
    case JSON_T_NULL:
    case JSON_T_BOOL:
        break;
    case JSON_T_NUMBER:
        FUZZ_CHECK(!v->u.num.is_uint || v->u.num.d == (double) v->u.num.u);
        break;
    case JSON_T_STRING:
        FUZZ_CHECK(v->u.str.s && strlen(v->u.str.s) == v->u.str.len);
        FUZZ_CHECK(v->u.str.len <= JSON_MAX_STRING);
        break;
    case JSON_T_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++) {
            fuzz_json_check_tree(&v->u.arr.items[i]);
        }
        break;
    case JSON_T_OBJECT:
        for (size_t i = 0; i < v->u.obj.n; i++) {
            FUZZ_CHECK(v->u.obj.items[i].key);
            FUZZ_CHECK(json_get(v, v->u.obj.items[i].key) == &v->u.obj.items[i].value);
            fuzz_json_check_tree(&v->u.obj.items[i].value);
        }
        break;
    }
}

/* text (len bytes) parses; every allocation failure on the way is ENOMEM.
 * The writer, out of memory, gives no text or the whole of 'full'. */
static void
fuzz_json_oom(const char *text, size_t len, const struct json_value *tree,
              const struct json_out *full)
{
    struct json_value *v;
    struct json_out o;
    char err[128];
    size_t n;
    int rc;

    fuzz_oom_arm(0);
    rc = json_parse(text, len, &v, err, sizeof err);
    n = fuzz_oom_disarm();
    FUZZ_CHECK(rc == 0);
    json_value_free(v);
    for (size_t i = 0; i < fuzz_oom_npoints(n); i++) {
        fuzz_oom_arm(fuzz_oom_point(n, i));
        rc = json_parse(text, len, &v, err, sizeof err);
        fuzz_oom_disarm();
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
    static struct json_value sentinel;
    /* Exactly size bytes, no NUL after them: the parser takes a length. */
    char *text = fuzz_bytes(data, size);
    struct json_value *v = &sentinel, *v2 = NULL;
    struct json_out o1, o2;
    char err[128];
    int rc;

    rc = json_parse(text, size, &v, err, sizeof err);
    FUZZ_CHECK(fuzz_is_cstr(err, sizeof err));
    if (rc) {
        FUZZ_CHECK(rc == EINVAL || rc == E2BIG || rc == ENOMEM);
        FUZZ_CHECK(v == NULL);
        FUZZ_CHECK(!strncmp(err, "offset ", 7));
        free(text);
        return 0;
    }
    FUZZ_CHECK(v != NULL && err[0] == '\0');
    fuzz_json_check_tree(v);

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
    json_value_free(v);
    json_value_free(v2);
    free(text);
    return 0;
}
