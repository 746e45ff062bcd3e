/*
 * fuzz_state.c: state_parse on arbitrary bytes, into a fresh port table and
 * job queue, as the daemon does at start with DIR/state.json. The file is
 * the daemon's own, but a crash while reading it would be a crash loop, so
 * it is parsed as untrusted input.
 *
 * Oracles beyond the sanitizers: a failure says why in a terminated
 * message; a success serialises (state_serialize) to a document that parses
 * again into a table and queue of the same size, and serialising that gives
 * the same text (what the daemon writes, it reads back unchanged). With
 * allocations failing (fuzz_oom.h), parsing a good document answers ENOMEM
 * (or copes and succeeds), never EBADMSG: state_load moves a file that
 * does not parse aside and starts empty, so an allocation failure reported
 * as corruption would drop the jobs the daemon owes. Serialising, out of
 * memory, gives no document or the whole of it, never part of one.
 */
#include <errno.h>

#include "fuzz.h"
#include "fuzz_oom.h"
#include "jobq.h"
#include "porttab.h"
#include "state.h"

struct fuzz_world {
    struct porttab tab;
    struct jobq q;
};

static void
fuzz_world_init(struct fuzz_world *w)
{
    struct jobq_limits limits;

    jobq_limits_default(&limits);
    porttab_init(&w->tab);
    jobq_init(&w->q, &limits);
}

static void
fuzz_world_destroy(struct fuzz_world *w)
{
    jobq_destroy(&w->q);
    porttab_destroy(&w->tab);
}

/* Serialises w; returns the malloc'd text (the caller frees it). */
static char *
fuzz_serialize(const struct fuzz_world *w, size_t *len)
{
    struct json_out o;
    char *text;

    json_init(&o);
    state_serialize(&w->tab, &w->q, &o);
    FUZZ_CHECK(json_text(&o) != NULL);
    /* Exactly len bytes, as state_load hands a file over. */
    text = fuzz_bytes((const uint8_t *) o.buf, o.len);
    *len = o.len;
    json_destroy(&o);
    return text;
}

static void
fuzz_state_oom(const char *text, size_t len, const struct fuzz_world *w,
               const char *doc, size_t doclen)
{
    struct fuzz_world x;
    struct json_out o;
    char err[256];
    size_t n;
    int rc;

    fuzz_world_init(&x);
    fuzz_oom_arm(0);
    rc = state_parse(text, len, &x.tab, &x.q, err, sizeof err);
    n = fuzz_oom_disarm();
    FUZZ_CHECK(rc == 0);
    fuzz_world_destroy(&x);
    for (size_t i = 0; i < fuzz_oom_npoints(n); i++) {
        fuzz_world_init(&x);
        fuzz_oom_arm(fuzz_oom_point(n, i));
        rc = state_parse(text, len, &x.tab, &x.q, err, sizeof err);
        fuzz_oom_disarm();
        if (rc != 0 && rc != ENOMEM) {
            fprintf(stderr, "allocation %zu of %zu failing: rc %d: %s\n",
                    fuzz_oom_point(n, i), n, rc, err);
        }
        FUZZ_CHECK(rc == 0 || rc == ENOMEM);
        fuzz_world_destroy(&x);
    }

    json_init(&o);
    fuzz_oom_arm(0);
    state_serialize(&w->tab, &w->q, &o);
    n = fuzz_oom_disarm();
    json_destroy(&o);
    for (size_t i = 0; i < fuzz_oom_npoints(n); i++) {
        json_init(&o);
        fuzz_oom_arm(fuzz_oom_point(n, i));
        state_serialize(&w->tab, &w->q, &o);
        fuzz_oom_disarm();
        FUZZ_CHECK(json_text(&o) == NULL
                   || (o.len == doclen && !memcmp(o.buf, doc, doclen)));
        json_destroy(&o);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_bytes(data, size);
    struct fuzz_world w, w2;
    char err[256];
    int rc;

    fuzz_world_init(&w);
    memset(err, 'X', sizeof err);
    rc = state_parse(text, size, &w.tab, &w.q, err, sizeof err);
    FUZZ_CHECK(fuzz_is_cstr(err, sizeof err));
    if (rc) {
        FUZZ_CHECK(rc == EBADMSG || rc == ENOMEM);
        FUZZ_CHECK(err[0] != '\0');
        /* The table and queue may hold part of the file: destroying them
         * must free it all (the leak checker sees to that). */
        fuzz_world_destroy(&w);
        free(text);
        return 0;
    }
    FUZZ_CHECK(w.q.running == NULL && w.q.history == NULL);

    size_t len1, len2;
    char *doc1 = fuzz_serialize(&w, &len1);

    fuzz_world_init(&w2);
    rc = state_parse(doc1, len1, &w2.tab, &w2.q, err, sizeof err);
    if (rc) {
        fprintf(stderr, "serialised state does not parse: %s\n%.*s\n", err,
                (int) len1, doc1);
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(porttab_count(&w2.tab) == porttab_count(&w.tab));
    FUZZ_CHECK(w2.q.n_queued == w.q.n_queued);
    FUZZ_CHECK(w2.q.n_prefixes == w.q.n_prefixes);
    FUZZ_CHECK(w2.q.next_id == w.q.next_id);

    char *doc2 = fuzz_serialize(&w2, &len2);
    if (len1 != len2 || memcmp(doc1, doc2, len1)) {
        fprintf(stderr, "not a fixed point:\n%.*s\n%.*s\n", (int) len1, doc1,
                (int) len2, doc2);
    }
    FUZZ_CHECK(len1 == len2 && !memcmp(doc1, doc2, len1));

    fuzz_state_oom(text, size, &w, doc1, len1);

    free(doc2);
    free(doc1);
    fuzz_world_destroy(&w2);
    fuzz_world_destroy(&w);
    free(text);
    return 0;
}
