/*
 * state.c: the state file (port table + owed jobs as one JSON document), its
 * strict parser, atomic writes, and the writer thread that keeps the disk
 * off the event loop.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define STATE_TMP_NAME STATE_FILE_NAME ".tmp"

/* ---- Serialising. ---- */

static void
state_put_prefixes(struct json_out *o, const struct ctf_prefix_list *l)
{
    char buf[CTF_PREFIX_STRLEN];

    json_array_begin(o);
    for (size_t i = 0; i < l->n; i++) {
        json_str(o, ctf_prefix_format(&l->items[i], buf));
    }
    json_array_end(o);
}

static void
state_put_port(struct json_out *o, const struct porttab_entry *e)
{
    const struct port_info *p = &e->ovsdb;

    json_object_begin(o);
    json_key(o, "name");
    json_str_or_null(o, p->name);
    json_key(o, "iface_id");
    json_str_or_null(o, p->iface_id);
    json_key(o, "bridge");
    json_str_or_null(o, p->bridge);
    json_key(o, "ofport");
    json_i64(o, p->ofport);
    json_key(o, "ips");
    state_put_prefixes(o, &p->ips);
    json_key(o, "ip_source");
    json_str(o, port_ip_source_name(p->ip_source));
    json_key(o, "zone");
    json_u64_or_null(o, p->has_zone, p->zone);
    json_key(o, "zone_source");
    json_str(o, port_zone_source_name(p->zone_source));
    json_key(o, "in_ovsdb");
    json_bool(o, e->in_ovsdb);
    json_key(o, "control_ips");
    if (e->has_control_ips) {
        state_put_prefixes(o, &e->control_ips);
    } else {
        json_null(o);
    }
    json_object_end(o);
}

static void
state_put_side(struct json_out *o, const char *key, const struct ctf_prefix_list *l,
               bool any)
{
    json_key(o, key);
    if (any) {
        json_str(o, "any");
    } else {
        state_put_prefixes(o, l);
    }
}

static void
state_put_job(struct json_out *o, const struct qjob *j)
{
    const struct flush_job *job = &j->job;

    json_object_begin(o);
    json_key(o, "id");
    json_u64(o, j->id);
    json_key(o, "origin");
    json_str(o, job_origin_name(j->origin));
    state_put_side(o, "local", &job->local, job->local_any);
    state_put_side(o, "peers", &job->peers, job->peers_any);
    json_key(o, "zone");
    json_u64_or_null(o, job->has_zone, job->zone);
    json_key(o, "mark");
    json_u64_or_null(o, job->has_mark, job->mark);
    json_key(o, "mark_mask");
    json_u64_or_null(o, job->has_mark, job->mark_mask);
    json_key(o, "ports");
    json_array_begin(o);
    for (size_t i = 0; i < j->n_port_names; i++) {
        json_str(o, j->ports[i]);
    }
    json_array_end(o);
    json_key(o, "n_ports");
    json_u64(o, j->n_ports);
    json_key(o, "attempts");
    json_u64(o, j->attempts);
    json_key(o, "created");
    json_double(o, j->created);
    json_object_end(o);
}

void
state_serialize(const struct porttab *tab, const struct jobq *q, struct json_out *o)
{
    const struct porttab_entry **entries;
    size_t n;

    entries = porttab_sorted(tab, &n);
    if (!entries && porttab_count(tab)) {
        /* A document without the table would drop the ports' debts on the
         * next start: better no document at all. */
        o->oom = true;
        return;
    }

    json_object_begin(o);
    json_key(o, "version");
    json_u64(o, STATE_VERSION);
    json_key(o, "next_job_id");
    json_u64(o, q->next_id);
    json_key(o, "ports");
    json_array_begin(o);
    for (size_t i = 0; i < n; i++) {
        state_put_port(o, entries[i]);
    }
    json_array_end(o);
    free(entries);

    /* The running job first: it was at the head of the queue, and after a
     * restart it runs again. */
    json_key(o, "jobs");
    json_array_begin(o);
    if (q->running) {
        state_put_job(o, q->running);
    }
    for (const struct qjob *j = q->queue; j; j = j->next) {
        state_put_job(o, j);
    }
    json_array_end(o);
    json_object_end(o);
}

/* ---- Parsing. ---- */

/* Where the parser is, for error messages ("ports[3]", "jobs[0]"). */
struct state_ctx {
    char *err;
    size_t errlen;
    char where[48];
};

static int __attribute__((format(printf, 2, 3)))
state_bad(struct state_ctx *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errlen) {
        if (c->where[0]) {
            snprintf(c->err, c->errlen, "%s: %s", c->where, msg);
        } else {
            snprintf(c->err, c->errlen, "%s", msg);
        }
    }
    return EBADMSG;
}

static const char *
state_type_name(enum json_type t)
{
    switch (t) {
    case JSON_T_NULL:
        return "null";
    case JSON_T_BOOL:
        return "a boolean";
    case JSON_T_NUMBER:
        return "a number";
    case JSON_T_STRING:
        return "a string";
    case JSON_T_ARRAY:
        return "an array";
    case JSON_T_OBJECT:
        return "an object";
    }
    return "?";
}

/* A required member of type 'type' (or null, when nullable: then *out is
 * NULL). */
static int
state_member(struct state_ctx *c, const struct json_value *obj, const char *key,
             enum json_type type, bool nullable, const struct json_value **out)
{
    const struct json_value *v = json_get(obj, key);

    *out = NULL;
    if (!v) {
        return state_bad(c, "\"%s\" is missing", key);
    }
    if (v->type == JSON_T_NULL && nullable) {
        return 0;
    }
    if (v->type != type) {
        return state_bad(c, "\"%s\" must be %s%s, not %s", key, state_type_name(type),
                         nullable ? " or null" : "", state_type_name(v->type));
    }
    *out = v;
    return 0;
}

/* A required unsigned integer no greater than max; *present false for null
 * when nullable. */
static int
state_uint(struct state_ctx *c, const struct json_value *obj, const char *key,
           uint64_t max, bool nullable, bool *present, uint64_t *out)
{
    const struct json_value *v;
    int err = state_member(c, obj, key, JSON_T_NUMBER, nullable, &v);

    *out = 0;
    if (present) {
        *present = v != NULL;
    }
    if (err || !v) {
        return err;
    }
    if (!v->u.num.is_uint || v->u.num.u > max) {
        return state_bad(c, "\"%s\" must be an integer from 0 to %llu", key,
                         (unsigned long long) max);
    }
    *out = v->u.num.u;
    return 0;
}

static int
state_string(struct state_ctx *c, const struct json_value *obj, const char *key,
             bool nullable, const char **out)
{
    const struct json_value *v;
    int err = state_member(c, obj, key, JSON_T_STRING, nullable, &v);

    *out = v ? v->u.str.s : NULL;
    return err;
}

/* Appends every item of a JSON array of prefixes. */
static int
state_prefixes(struct state_ctx *c, const struct json_value *arr, const char *key,
               struct ctf_prefix_list *l)
{
    for (size_t i = 0; i < arr->u.arr.n; i++) {
        const struct json_value *item = &arr->u.arr.items[i];
        struct ctf_prefix p;

        if (item->type != JSON_T_STRING) {
            return state_bad(c, "\"%s\"[%zu] must be a string, not %s", key, i,
                             state_type_name(item->type));
        }
        if (ctf_prefix_parse(item->u.str.s, &p)) {
            return state_bad(c, "\"%s\"[%zu]: bad address or prefix '%.64s'", key, i,
                             item->u.str.s);
        }
        if (ctf_prefix_list_add(l, &p)) {
            return ENOMEM;
        }
    }
    return 0;
}

static int
state_prefix_member(struct state_ctx *c, const struct json_value *obj, const char *key,
                    bool nullable, bool *present, struct ctf_prefix_list *l)
{
    const struct json_value *v;
    int err = state_member(c, obj, key, JSON_T_ARRAY, nullable, &v);

    *present = v != NULL;
    return err || !v ? err : state_prefixes(c, v, key, l);
}

static int
state_parse_port(struct state_ctx *c, const struct json_value *v, struct porttab *tab)
{
    struct port_info pi;
    struct ctf_prefix_list ctl;
    const struct json_value *ofport;
    const char *s;
    bool has_ctl, present;
    uint64_t u;
    int err;

    if (v->type != JSON_T_OBJECT) {
        return state_bad(c, "must be an object, not %s", state_type_name(v->type));
    }
    port_info_init(&pi);
    memset(&ctl, 0, sizeof ctl);

    err = state_string(c, v, "name", false, &s);
    if (!err && !*s) {
        err = state_bad(c, "\"name\" is empty");
    }
    if (!err) {
        /* From here on, messages name the port. */
        size_t len = strlen(c->where);
        snprintf(c->where + len, sizeof c->where - len, " (\"%.24s\")", s);
        pi.name = strdup(s);
        err = pi.name ? 0 : ENOMEM;
    }
    if (!err) {
        err = state_string(c, v, "iface_id", true, &s);
    }
    if (!err && s && !(pi.iface_id = strdup(s))) {
        err = ENOMEM;
    }
    if (!err) {
        err = state_string(c, v, "bridge", true, &s);
    }
    if (!err && s && !(pi.bridge = strdup(s))) {
        err = ENOMEM;
    }
    if (!err) {
        err = state_member(c, v, "ofport", JSON_T_NUMBER, false, &ofport);
    }
    if (!err) {
        double d = ofport->u.num.d;

        /* -1 (unassigned) is the only negative value OVSDB gives. */
        if (ofport->u.num.is_uint && ofport->u.num.u <= INT64_MAX) {
            pi.ofport = (int64_t) ofport->u.num.u;
        } else if (d == -1.0) {
            pi.ofport = -1;
        } else {
            err = state_bad(c, "\"ofport\" must be -1 or a non-negative integer");
        }
    }
    if (!err) {
        err = state_prefix_member(c, v, "ips", false, &present, &pi.ips);
    }
    if (!err) {
        err = state_string(c, v, "ip_source", false, &s);
    }
    if (!err && port_ip_source_parse(s, &pi.ip_source)) {
        err = state_bad(c, "unknown \"ip_source\" '%.32s'", s);
    }
    if (!err) {
        err = state_uint(c, v, "zone", UINT16_MAX, true, &pi.has_zone, &u);
        pi.zone = (uint16_t) u;
    }
    if (!err) {
        err = state_string(c, v, "zone_source", false, &s);
    }
    if (!err && port_zone_source_parse(s, &pi.zone_source)) {
        err = state_bad(c, "unknown \"zone_source\" '%.32s'", s);
    }
    bool in_ovsdb = false;
    if (!err && !json_get_bool(v, "in_ovsdb", &in_ovsdb)) {
        err = json_get(v, "in_ovsdb") ? state_bad(c, "\"in_ovsdb\" must be a boolean")
                                      : state_bad(c, "\"in_ovsdb\" is missing");
    }
    if (!err) {
        err = state_prefix_member(c, v, "control_ips", true, &has_ctl, &ctl);
    }
    if (!err) {
        err = porttab_restore(tab, &pi, in_ovsdb, &ctl, has_ctl);
        if (err == EEXIST) {
            err = state_bad(c, "duplicate port");
        } else if (err && err != ENOMEM) {
            err = state_bad(c, "cannot restore the port: %s", strerror(err));
        }
    }
    port_info_destroy(&pi);
    ctf_prefix_list_destroy(&ctl);
    return err;
}

/* "any" or an array of prefixes. */
static int
state_side(struct state_ctx *c, const struct json_value *obj, const char *key,
           struct ctf_prefix_list *l, bool *any)
{
    const struct json_value *v = json_get(obj, key);

    *any = false;
    if (!v) {
        return state_bad(c, "\"%s\" is missing", key);
    }
    if (v->type == JSON_T_STRING) {
        if (strcmp(v->u.str.s, "any")) {
            return state_bad(c, "\"%s\" must be \"any\" or an array of prefixes", key);
        }
        *any = true;
        return 0;
    }
    if (v->type != JSON_T_ARRAY) {
        return state_bad(c, "\"%s\" must be \"any\" or an array, not %s", key,
                         state_type_name(v->type));
    }
    return state_prefixes(c, v, key, l);
}

static int
state_parse_job(struct state_ctx *c, const struct json_value *v, struct jobq *q)
{
    struct flush_job job;
    const struct json_value *ports = NULL, *created = NULL;
    const char **names = NULL;
    enum job_origin origin;
    uint64_t id = 0, u, mark = 0, mask = 0, n_ports = 0, attempts = 0;
    bool has_mask = false;
    const char *s;
    int err;

    if (v->type != JSON_T_OBJECT) {
        return state_bad(c, "must be an object, not %s", state_type_name(v->type));
    }
    flush_job_init(&job);

    err = state_uint(c, v, "id", UINT64_MAX - 1, false, NULL, &id);
    if (!err && !id) {
        err = state_bad(c, "\"id\" must not be 0");
    }
    if (!err) {
        size_t len = strlen(c->where);
        snprintf(c->where + len, sizeof c->where - len, " (id %llu)",
                 (unsigned long long) id);
        err = state_string(c, v, "origin", false, &s);
    }
    if (!err && job_origin_parse(s, &origin)) {
        err = state_bad(c, "unknown \"origin\" '%.32s'", s);
    }
    if (!err) {
        err = state_side(c, v, "local", &job.local, &job.local_any);
    }
    if (!err) {
        err = state_side(c, v, "peers", &job.peers, &job.peers_any);
    }
    if (!err) {
        err = state_uint(c, v, "zone", UINT16_MAX, true, &job.has_zone, &u);
        job.zone = (uint16_t) u;
    }
    if (!err) {
        err = state_uint(c, v, "mark", UINT32_MAX, true, &job.has_mark, &mark);
    }
    if (!err) {
        err = state_uint(c, v, "mark_mask", UINT32_MAX, true, &has_mask, &mask);
    }
    if (!err && job.has_mark != has_mask) {
        err = state_bad(c, "\"mark\" and \"mark_mask\" must both be set or both null");
    }
    job.mark = (uint32_t) mark;
    job.mark_mask = (uint32_t) mask;
    if (!err) {
        err = state_member(c, v, "ports", JSON_T_ARRAY, false, &ports);
    }
    if (!err && ports->u.arr.n) {
        names = calloc(ports->u.arr.n, sizeof *names);
        err = names ? 0 : ENOMEM;
        for (size_t i = 0; !err && i < ports->u.arr.n; i++) {
            const struct json_value *item = &ports->u.arr.items[i];
            if (item->type != JSON_T_STRING) {
                err = state_bad(c, "\"ports\"[%zu] must be a string", i);
            } else {
                names[i] = item->u.str.s;
            }
        }
    }
    if (!err) {
        err = state_uint(c, v, "n_ports", SIZE_MAX, false, NULL, &n_ports);
    }
    if (!err) {
        err = state_uint(c, v, "attempts", UINT_MAX, false, NULL, &attempts);
    }
    if (!err) {
        err = state_member(c, v, "created", JSON_T_NUMBER, false, &created);
    }
    if (!err) {
        char why[192];

        if (flush_job_validate(&job, why, sizeof why)) {
            err = state_bad(c, "not a valid job: %s", why);
        }
    }
    if (!err) {
        err = jobq_restore(q, id, origin, &job, names, ports->u.arr.n, (size_t) n_ports,
                           (unsigned int) attempts, created->u.num.d);
        if (err == EEXIST) {
            err = state_bad(c, "duplicate job id");
        } else if (err && err != ENOMEM) {
            err = state_bad(c, "cannot restore the job: %s", strerror(err));
        }
    }
    free(names);
    flush_job_destroy(&job);
    return err;
}

int
state_parse(const char *text, size_t len, struct porttab *tab, struct jobq *q,
            char *errbuf, size_t errlen)
{
    const struct json_value *ports = NULL, *jobs = NULL;
    struct json_value *root;
    char jerr[128], unused[8];
    uint64_t version, next_id = 0;
    int err;

    if (!errbuf || !errlen) {
        errbuf = unused;
        errlen = sizeof unused;
    }
    errbuf[0] = '\0';

    struct state_ctx c = { errbuf, errlen, "" };
    err = json_parse(text, len, &root, jerr, sizeof jerr);
    if (err == ENOMEM) {
        snprintf(c.err, c.errlen, "out of memory parsing the state file");
        return ENOMEM;
    } else if (err) {
        return state_bad(&c, "not valid JSON: %s", jerr);
    }
    if (root->type != JSON_T_OBJECT) {
        err = state_bad(&c, "the document must be an object, not %s",
                        state_type_name(root->type));
        goto out;
    }
    /* The version first: a newer format should say so, not fail on some
     * field it renamed. */
    err = state_uint(&c, root, "version", UINT64_MAX, false, NULL, &version);
    if (!err && version != STATE_VERSION) {
        err = state_bad(&c, "unsupported version %llu (this ctflushd reads %d)",
                        (unsigned long long) version, STATE_VERSION);
    }
    if (!err) {
        err = state_uint(&c, root, "next_job_id", UINT64_MAX, false, NULL, &next_id);
    }
    if (!err) {
        err = state_member(&c, root, "ports", JSON_T_ARRAY, false, &ports);
    }
    if (!err) {
        err = state_member(&c, root, "jobs", JSON_T_ARRAY, false, &jobs);
    }
    for (size_t i = 0; !err && i < ports->u.arr.n; i++) {
        snprintf(c.where, sizeof c.where, "ports[%zu]", i);
        err = state_parse_port(&c, &ports->u.arr.items[i], tab);
    }
    for (size_t i = 0; !err && i < jobs->u.arr.n; i++) {
        snprintf(c.where, sizeof c.where, "jobs[%zu]", i);
        err = state_parse_job(&c, &jobs->u.arr.items[i], q);
    }
    if (!err && next_id > q->next_id) {
        q->next_id = next_id;
    }
    if (err == ENOMEM) {
        snprintf(c.err, c.errlen, "out of memory loading the state file");
    }
out:
    json_value_free(root);
    return err;
}

/* ---- Files. ---- */

static int
state_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);

    return n < 0 || (size_t) n >= size ? ENAMETOOLONG : 0;
}

/* Empties the table and the queue, keeping the queue's limits and id. */
static void
state_reset(struct porttab *tab, struct jobq *q)
{
    struct jobq_limits limits = q->limits;
    uint64_t next_id = q->next_id;

    porttab_destroy(tab);
    porttab_init(tab);
    jobq_destroy(q);
    jobq_init(q, &limits);
    q->next_id = next_id;
}

/* Moves a corrupt file to state.json.corrupt.<unix time>, with a counter
 * suffix when one from the same second is there: each one is evidence. */
static int
state_move_aside(const char *dir, const char *path, char *newpath, size_t size)
{
    long long now = (long long) time(NULL);
    struct stat st;
    char name[80];

    for (unsigned int i = 0; i < 100; i++) {
        if (i) {
            snprintf(name, sizeof name, "%s.corrupt.%lld.%u", STATE_FILE_NAME, now, i);
        } else {
            snprintf(name, sizeof name, "%s.corrupt.%lld", STATE_FILE_NAME, now);
        }
        if (state_path(newpath, size, dir, name)) {
            return ENAMETOOLONG;
        }
        if (lstat(newpath, &st) && errno == ENOENT) {
            return rename(path, newpath) ? errno : 0;
        }
    }
    return EEXIST;
}

/* Reads the whole file into a malloc'd buffer (NUL-terminated for
 * convenience), sized from 'hint' and never past STATE_MAX_BYTES + 1 bytes
 * of content. Returns 0, EFBIG when there is more, ENOMEM or errno. */
static int
state_read_fd(int fd, size_t hint, char **text, size_t *len)
{
    const size_t limit = (size_t) STATE_MAX_BYTES + 2;  /* One byte over + NUL. */
    size_t cap = hint < 4096 ? 4096 : hint < limit - 2 ? hint + 2 : limit;
    size_t n = 0;
    char *buf = malloc(cap);

    *text = NULL;
    *len = 0;
    if (!buf) {
        return ENOMEM;
    }
    for (;;) {
        if (n == cap - 1) {
            if (cap >= limit) {
                free(buf);
                return EFBIG;
            }
            size_t bigger_cap = cap < limit / 2 ? cap * 2 : limit;
            char *bigger = realloc(buf, bigger_cap);
            if (!bigger) {
                free(buf);
                return ENOMEM;
            }
            buf = bigger;
            cap = bigger_cap;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            free(buf);
            return err;
        }
        if (r == 0) {
            break;
        }
        n += (size_t) r;
    }
    if (n > STATE_MAX_BYTES) {
        free(buf);
        return EFBIG;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

int
state_load(const char *dir, struct porttab *tab, struct jobq *q, char *errbuf,
           size_t errlen)
{
    char path[PATH_MAX], moved[PATH_MAX], reason[256], unused[8];
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int fd, err;

    if (!errbuf || !errlen) {
        errbuf = unused;
        errlen = sizeof unused;
    }
    errbuf[0] = '\0';
    err = state_path(path, sizeof path, dir, STATE_FILE_NAME);
    if (err) {
        snprintf(errbuf, errlen, "%s/%s: path too long", dir, STATE_FILE_NAME);
        return err;
    }
    /* O_NONBLOCK so that a FIFO in its place cannot hang the start-up. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        err = errno;
        snprintf(errbuf, errlen, "%s: %s", path, strerror(err));
        return err;
    }
    if (fstat(fd, &st)) {
        err = errno;
    } else if (S_ISDIR(st.st_mode)) {
        err = EISDIR;
    } else if (!S_ISREG(st.st_mode)) {
        err = EINVAL;
    } else if ((uint64_t) st.st_size > STATE_MAX_BYTES) {
        err = EFBIG;
    } else {
        err = state_read_fd(fd, (size_t) st.st_size, &text, &len);
    }
    close(fd);

    if (err == EFBIG) {
        snprintf(reason, sizeof reason, "larger than %u bytes", STATE_MAX_BYTES);
        err = EBADMSG;
    } else if (err) {
        snprintf(errbuf, errlen, "%s: %s", path,
                 err == EINVAL ? "not a regular file" : strerror(err));
        return err;
    } else {
        err = state_parse(text, len, tab, q, reason, sizeof reason);
    }
    free(text);

    if (err == ENOMEM) {
        state_reset(tab, q);
        snprintf(errbuf, errlen, "%s: %s", path, reason);
        return err;
    }
    if (err) {
        int merr;

        state_reset(tab, q);
        merr = state_move_aside(dir, path, moved, sizeof moved);
        if (merr) {
            snprintf(errbuf, errlen, "%s: %s (could not move it aside: %s)", path,
                     reason, strerror(merr));
        } else {
            snprintf(errbuf, errlen, "%s: %s (moved to %s)", path, reason, moved);
        }
        return EBADMSG;
    }
    return 0;
}

static int __attribute__((format(printf, 4, 5)))
state_write_fail(int err, char *errbuf, size_t errlen, const char *fmt, ...)
{
    char what[PATH_MAX + 64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (errbuf && errlen) {
        snprintf(errbuf, errlen, "%s: %s", what, strerror(err));
    }
    return err;
}

int
state_write_file(const char *dir, const char *text, size_t len, char *errbuf,
                 size_t errlen)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    size_t done = 0;
    int fd, err;

    if (errbuf && errlen) {
        errbuf[0] = '\0';
    }
    if (state_path(tmp, sizeof tmp, dir, STATE_TMP_NAME)
        || state_path(path, sizeof path, dir, STATE_FILE_NAME)) {
        return state_write_fail(ENAMETOOLONG, errbuf, errlen, "state directory %.200s",
                                dir);
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return state_write_fail(errno, errbuf, errlen, "create %s", tmp);
    }
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            return state_write_fail(err, errbuf, errlen, "write %s", tmp);
        }
        done += (size_t) n;
    }
    if (fsync(fd)) {
        err = errno;
        close(fd);
        unlink(tmp);
        return state_write_fail(err, errbuf, errlen, "fsync %s", tmp);
    }
    if (close(fd)) {
        err = errno;
        unlink(tmp);
        return state_write_fail(err, errbuf, errlen, "close %s", tmp);
    }
    if (rename(tmp, path)) {
        err = errno;
        unlink(tmp);
        return state_write_fail(err, errbuf, errlen, "rename %s to %s", tmp, path);
    }
    /* The rename is durable only once the directory is. */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return state_write_fail(errno, errbuf, errlen, "open directory %s", dir);
    }
    if (fsync(fd) && errno != EINVAL && errno != ENOTSUP) {
        /* EINVAL/ENOTSUP: a file system that cannot sync directories, where
         * there is nothing more we could do. */
        err = errno;
        close(fd);
        return state_write_fail(err, errbuf, errlen, "fsync directory %s", dir);
    }
    close(fd);
    return 0;
}

/* ---- The writer thread. ---- */

struct state_writer {
    pthread_t thread;
    pthread_mutex_t mutex;      /* Guards everything below. */
    pthread_cond_t cond;        /* Signalled on submit and stop. */
    char *dir;
    char *text;                 /* Pending snapshot, or NULL. */
    size_t len;
    bool writing;               /* A snapshot is being written. */
    bool stopping;
    struct state_writer_status status;
};

static void *
state_writer_main(void *w_)
{
    struct state_writer *w = w_;

    pthread_mutex_lock(&w->mutex);
    for (;;) {
        char msg[sizeof w->status.last_error_msg];
        char *text;
        size_t len;
        int err;

        while (!w->text && !w->stopping) {
            pthread_cond_wait(&w->cond, &w->mutex);
        }
        if (!w->text) {
            break;              /* Stopping, and nothing left to write. */
        }
        text = w->text;
        len = w->len;
        w->text = NULL;
        w->writing = true;
        pthread_mutex_unlock(&w->mutex);

        err = state_write_file(w->dir, text, len, msg, sizeof msg);
        free(text);

        pthread_mutex_lock(&w->mutex);
        w->writing = false;
        if (err) {
            /* Once per new error: a full disk would otherwise log on every
             * port change. */
            if (err != w->status.last_error) {
                log_warnx("state: %s", msg);
            }
            w->status.failures++;
            w->status.last_error = err;
            snprintf(w->status.last_error_msg, sizeof w->status.last_error_msg, "%s",
                     msg);
        } else {
            if (w->status.last_error) {
                log_info("state: writing %s/%s works again", w->dir, STATE_FILE_NAME);
            }
            w->status.writes++;
            w->status.last_error = 0;
            w->status.last_error_msg[0] = '\0';
        }
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

int
state_writer_start(struct state_writer **wp, const char *dir)
{
    struct state_writer *w;
    sigset_t all, old;
    struct stat st;
    int err;

    *wp = NULL;
    if (stat(dir, &st)) {
        return errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return ENOTDIR;
    }
    w = calloc(1, sizeof *w);
    if (!w) {
        return ENOMEM;
    }
    w->dir = strdup(dir);
    if (!w->dir) {
        free(w);
        return ENOMEM;
    }
    err = pthread_mutex_init(&w->mutex, NULL);
    if (err) {
        free(w->dir);
        free(w);
        return err;
    }
    err = pthread_cond_init(&w->cond, NULL);
    if (err) {
        pthread_mutex_destroy(&w->mutex);
        free(w->dir);
        free(w);
        return err;
    }
    /* Signals belong to the event loop's thread: the writer blocks them all
     * (it inherits the mask at creation). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&w->thread, NULL, state_writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mutex);
        free(w->dir);
        free(w);
        return err;
    }
    *wp = w;
    return 0;
}

void
state_writer_submit(struct state_writer *w, char *text, size_t len)
{
    if (!w) {
        free(text);
        return;
    }
    if (!text) {
        return;
    }
    pthread_mutex_lock(&w->mutex);
    free(w->text);              /* A newer snapshot replaces an unwritten one. */
    w->text = text;
    w->len = len;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

void
state_writer_get_status(struct state_writer *w, struct state_writer_status *st)
{
    if (!w) {
        memset(st, 0, sizeof *st);
        return;
    }
    pthread_mutex_lock(&w->mutex);
    *st = w->status;
    st->pending = w->text != NULL || w->writing;
    pthread_mutex_unlock(&w->mutex);
}

void
state_writer_stop(struct state_writer *w)
{
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->mutex);
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    pthread_join(w->thread, NULL);

    free(w->text);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
    free(w->dir);
    free(w);
}
