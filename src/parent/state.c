/*
 * state.c: the state file (port table + owed jobs as one JSON document), its
 * schema, atomic writes, and the writer thread that keeps the disk off the
 * event loop.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
    json_prefixes(o, &p->ips, false, 0);
    json_key(o, "ip_source");
    json_str(o, port_ip_source_name(p->ip_source));
    json_key(o, "zone");
    json_u64_or_null(o, p->has_zone, p->zone);
    json_key(o, "zone_source");
    json_str(o, port_zone_source_name(p->zone_source));
    /* Only for a port whose table is not the kernel's: files written
     * before datapaths were known read the same. */
    if (p->datapath != FLUSH_DATAPATH_KERNEL) {
        json_key(o, "datapath");
        json_str(o, flush_datapath_name(p->datapath));
    }
    json_key(o, "in_ovsdb");
    json_bool(o, e->in_ovsdb);
    json_key(o, "control_ips");
    if (e->has_control_ips) {
        json_prefixes(o, &e->control_ips, false, 0);
    } else {
        json_null_value(o);
    }
    json_key(o, "control_zone");
    json_u64_or_null(o, e->has_control_zone, e->control_zone);
    json_key(o, "migrating");
    json_bool(o, e->migrating);
    json_object_end(o);
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
    json_key(o, "local");
    json_prefixes(o, &job->local, job->local_any, 0);
    json_key(o, "peers");
    json_prefixes(o, &job->peers, job->peers_any, 0);
    json_key(o, "zone");
    json_u64_or_null(o, job->has_zone, job->zone);
    json_key(o, "mark");
    json_u64_or_null(o, job->has_mark, job->mark);
    json_key(o, "mark_mask");
    json_u64_or_null(o, job->has_mark, job->mark_mask);
    /* Selectors only when the job has them: files of jobs without any read
     * the same as before they existed. */
    if (job->direction != FLUSH_DIRECTION_EITHER) {
        json_key(o, "direction");
        json_str(o, flush_direction_name(job->direction));
    }
    if (job->tuple != FLUSH_TUPLE_ANY) {
        json_key(o, "tuple");
        json_str(o, flush_tuple_name(job->tuple));
    }
    if (job->proto) {
        json_key(o, "proto");
        json_u64(o, job->proto);
    }
    if (job->has_dport) {
        char range[16];
        snprintf(range, sizeof range, "%u-%u", job->dport_lo, job->dport_hi);
        json_key(o, "dport");
        json_str(o, range);
    }
    if (job->family != FLUSH_FAMILY_BOTH) {
        json_key(o, "family");
        json_str(o, flush_family_name(job->family));
    }
    if (job->datapath != FLUSH_DATAPATH_KERNEL) {
        json_key(o, "datapath");
        json_str(o, flush_datapath_name(job->datapath));
    }
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

    /* The running jobs first: they were at the head of the queue, and after
     * a restart they run again. */
    json_key(o, "jobs");
    json_array_begin(o);
    for (const struct qjob *j = q->running; j; j = j->next) {
        state_put_job(o, j);
    }
    for (const struct qjob *j = q->queue; j; j = j->next) {
        state_put_job(o, j);
    }
    json_array_end(o);
    json_object_end(o);
}

/* ---- Parsing. ----
 *
 * Every member is read through json.h's typed lookups: a bad one is named,
 * with where it is ("ports[3] (\"tap1\"): zone: must be an integer
 * 0..65535 or null"). Members this version does not know are left alone
 * (a later minor addition). */

/* A required array of prefixes (or null, when nullable: *present false). */
static int
state_prefix_member(struct json_rd *rd, const json_t *obj, const char *key,
                    unsigned int flags, bool *present, struct ctf_prefix_list *l)
{
    const json_t *v;
    int err = json_rd_array(rd, obj, key, flags, &v);

    *present = v != NULL;
    return err || !v ? err : json_rd_prefixes(rd, key, v, l);
}

/* A job's selectors (job.h), each optional: absent means the default. */
static int
state_selectors(struct json_rd *rd, const json_t *obj, struct flush_job *job)
{
    static const char *const words[] = { "direction", "tuple", "family", "datapath", "dport" };
    char q[40];

    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        const char *s;
        int bad, err = json_rd_string(rd, obj, words[i], JSON_RD_OPTIONAL, &s);
        if (err) {
            return err;
        }
        if (!s) {
            continue;
        }
        switch (i) {
        case 0:
            bad = flush_direction_parse(s, &job->direction);
            break;
        case 1:
            bad = flush_tuple_parse(s, &job->tuple);
            break;
        case 2:
            bad = flush_family_parse(s, &job->family);
            break;
        case 3:
            bad = flush_datapath_parse(s, &job->datapath);
            break;
        default:
            bad = flush_dport_parse(s, &job->dport_lo, &job->dport_hi);
            job->has_dport = !bad;
            break;
        }
        if (bad) {
            return json_rd_fail(rd, words[i], "unknown value '%s'",
                                json_rd_quote(s, q, sizeof q));
        }
    }
    bool has_proto;
    int64_t proto = 0;
    int err = json_rd_int(rd, obj, "proto", JSON_RD_OPTIONAL, 1, 255, &has_proto, &proto);
    if (!err && has_proto) {
        job->proto = (uint8_t) proto;
    }
    return err;
}

/* Says that member key holds a value this version does not know. */
static int
state_unknown(struct json_rd *rd, const char *key, const char *s)
{
    char q[40];

    return json_rd_fail(rd, key, "unknown value '%s'", json_rd_quote(s, q, sizeof q));
}

/* Adds the port's name to 'where' ("ports[3]"), so that later messages say
 * which port it was. */
static void
state_name_port(struct json_rd *rd, const char *name)
{
    size_t len = strlen(rd->where);
    char q[28];

    snprintf(rd->where + len, sizeof rd->where - len, " (\"%s\")",
             json_rd_quote(name, q, sizeof q));
}

static int
state_parse_port(struct json_rd *rd, const json_t *v, struct porttab *tab)
{
    struct port_info pi;
    struct ctf_prefix_list ctl;
    const char *s;
    bool has_ctl, present, in_ovsdb = false, migrating = false, has_czone = false;
    int64_t i;
    int err;

    if (!json_is_object(v)) {
        return json_rd_fail(rd, NULL, "must be an object");
    }
    port_info_init(&pi);
    memset(&ctl, 0, sizeof ctl);

    err = json_rd_string(rd, v, "name", 0, &s);
    if (!err && !*s) {
        err = json_rd_fail(rd, "name", "is empty");
    }
    if (!err) {
        state_name_port(rd, s);                 /* From here on, messages name it. */
        pi.name = strdup(s);
        err = pi.name ? 0 : ENOMEM;
    }
    if (!err) {
        err = json_rd_string(rd, v, "iface_id", JSON_RD_NULLABLE, &s);
    }
    if (!err && s && !(pi.iface_id = strdup(s))) {
        err = ENOMEM;
    }
    if (!err) {
        err = json_rd_string(rd, v, "bridge", JSON_RD_NULLABLE, &s);
    }
    if (!err && s && !(pi.bridge = strdup(s))) {
        err = ENOMEM;
    }
    if (!err) {
        /* -1 (unassigned) is the only negative value OVSDB gives. */
        err = json_rd_int(rd, v, "ofport", 0, -1, INT64_MAX, NULL, &pi.ofport);
    }
    if (!err) {
        err = state_prefix_member(rd, v, "ips", 0, &present, &pi.ips);
    }
    if (!err) {
        err = json_rd_string(rd, v, "ip_source", 0, &s);
    }
    if (!err && port_ip_source_parse(s, &pi.ip_source)) {
        err = state_unknown(rd, "ip_source", s);
    }
    if (!err) {
        i = 0;
        err = json_rd_int(rd, v, "zone", JSON_RD_NULLABLE, 0, UINT16_MAX, &pi.has_zone, &i);
        pi.zone = (uint16_t) i;
    }
    if (!err) {
        err = json_rd_string(rd, v, "zone_source", 0, &s);
    }
    if (!err && port_zone_source_parse(s, &pi.zone_source)) {
        err = state_unknown(rd, "zone_source", s);
    }
    if (!err) {
        /* Written for netdev ports only; an older file has none: kernel. */
        err = json_rd_string(rd, v, "datapath", JSON_RD_OPTIONAL, &s);
    }
    if (!err && s && flush_datapath_parse(s, &pi.datapath)) {
        err = state_unknown(rd, "datapath", s);
    }
    if (!err) {
        err = json_rd_bool(rd, v, "in_ovsdb", 0, NULL, &in_ovsdb);
    }
    if (!err) {
        err = state_prefix_member(rd, v, "control_ips", JSON_RD_NULLABLE, &has_ctl, &ctl);
    }
    int64_t czone = 0;
    if (!err) {
        /* Written since set-ips took a zone: an older file has neither. */
        err = json_rd_int(rd, v, "control_zone", JSON_RD_OPTIONAL | JSON_RD_NULLABLE, 0,
                          UINT16_MAX, &has_czone, &czone);
    }
    if (!err) {
        err = json_rd_bool(rd, v, "migrating", JSON_RD_OPTIONAL, NULL, &migrating);
    }
    if (!err) {
        struct porttab_control c = { .ips = has_ctl ? &ctl : NULL, .has_zone = has_czone,
                                     .zone = (uint16_t) czone, .migrating = migrating };
        err = porttab_restore(tab, &pi, in_ovsdb, &c);
        if (err == EEXIST) {
            err = json_rd_fail(rd, NULL, "duplicate port");
        } else if (err && err != ENOMEM) {
            err = json_rd_fail(rd, NULL, "cannot restore the port: %s", strerror(err));
        }
    }
    port_info_destroy(&pi);
    ctf_prefix_list_destroy(&ctl);
    return err;
}

/* "any" or an array of prefixes. */
static int
state_side(struct json_rd *rd, const json_t *obj, const char *key, struct ctf_prefix_list *l,
           bool *any)
{
    const json_t *v;
    int err = json_rd_member(rd, obj, key, 0, &v);

    *any = false;
    if (err) {
        return err;
    }
    if (json_is_string(v) && !strcmp(json_string_value(v), "any")) {
        *any = true;
        return 0;
    }
    if (!json_is_array(v)) {
        return json_rd_fail(rd, key, "must be \"any\" or an array of prefixes");
    }
    return json_rd_prefixes(rd, key, v, l);
}

static int
state_parse_job(struct json_rd *rd, const json_t *v, struct jobq *q)
{
    struct flush_job job;
    const json_t *ports = NULL;
    const char **names = NULL;
    enum job_origin origin;
    int64_t id = 0, zone = 0, mark = 0, mask = 0, n_ports = 0, attempts = 0;
    bool has_mask = false;
    double created = 0;
    const char *s;
    size_t n_names = 0;
    int err;

    if (!json_is_object(v)) {
        return json_rd_fail(rd, NULL, "must be an object");
    }
    flush_job_init(&job);

    err = json_rd_int(rd, v, "id", 0, 1, INT64_MAX, NULL, &id);
    if (!err) {
        size_t len = strlen(rd->where);
        snprintf(rd->where + len, sizeof rd->where - len, " (id %" PRId64 ")", id);
        err = json_rd_string(rd, v, "origin", 0, &s);
    }
    if (!err && job_origin_parse(s, &origin)) {
        err = state_unknown(rd, "origin", s);
    }
    if (!err) {
        err = state_side(rd, v, "local", &job.local, &job.local_any);
    }
    if (!err) {
        err = state_side(rd, v, "peers", &job.peers, &job.peers_any);
    }
    if (!err) {
        err = json_rd_int(rd, v, "zone", JSON_RD_NULLABLE, 0, UINT16_MAX, &job.has_zone,
                          &zone);
    }
    if (!err) {
        err = json_rd_int(rd, v, "mark", JSON_RD_NULLABLE, 0, UINT32_MAX, &job.has_mark,
                          &mark);
    }
    if (!err) {
        err = json_rd_int(rd, v, "mark_mask", JSON_RD_NULLABLE, 0, UINT32_MAX, &has_mask,
                          &mask);
    }
    if (!err && job.has_mark != has_mask) {
        err = json_rd_fail(rd, NULL, "mark and mark_mask must both be set or both null");
    }
    job.zone = (uint16_t) zone;
    job.mark = (uint32_t) mark;
    job.mark_mask = (uint32_t) mask;
    /* Mark 0 with mask 0, which daemons before the one mark rule (job.c)
     * accepted over the control socket, matches every mark: it is a job
     * without a mark, and loading it as that loses nothing. */
    if (job.has_mark && !job.mark && !job.mark_mask) {
        job.has_mark = false;
    }
    if (!err) {
        err = state_selectors(rd, v, &job);
    }
    if (!err) {
        err = json_rd_array(rd, v, "ports", 0, &ports);
    }
    if (!err && (n_names = json_array_size(ports))) {
        names = calloc(n_names, sizeof *names);
        err = names ? 0 : ENOMEM;
        for (size_t i = 0; !err && i < n_names; i++) {
            names[i] = json_string_value(json_array_get(ports, i));
            if (!names[i]) {
                err = json_rd_fail(rd, NULL, "ports[%zu]: must be a string", i);
            }
        }
    }
    if (!err) {
        err = json_rd_int(rd, v, "n_ports", 0, 0, INT64_MAX, NULL, &n_ports);
    }
    if (!err) {
        err = json_rd_int(rd, v, "attempts", 0, 0, UINT_MAX, NULL, &attempts);
    }
    if (!err) {
        err = json_rd_number(rd, v, "created", 0, NULL, &created);
    }
    if (!err) {
        char why[192];

        if (flush_job_validate(&job, why, sizeof why)) {
            err = json_rd_fail(rd, NULL, "not a valid job: %s", why);
        }
    }
    if (!err) {
        err = jobq_restore(q, (uint64_t) id, origin, &job, names, n_names, (size_t) n_ports,
                           (unsigned int) attempts, created);
        if (err == EEXIST) {
            err = json_rd_fail(rd, NULL, "duplicate job id");
        } else if (err && err != ENOMEM) {
            err = json_rd_fail(rd, NULL, "cannot restore the job: %s", strerror(err));
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
    const json_t *ports = NULL, *jobs = NULL;
    struct json_rd rd;
    json_t *root;
    char jerr[160], unused[8];
    int64_t version = 0, next_id = 0;
    size_t i;
    int err;

    if (!errbuf || !errlen) {
        errbuf = unused;
        errlen = sizeof unused;
    }
    json_rd_init(&rd, errbuf, errlen);
    err = json_parse(text, len, &root, jerr, sizeof jerr);
    if (err == ENOMEM) {
        snprintf(errbuf, errlen, "out of memory parsing the state file");
        return ENOMEM;
    } else if (err) {
        json_rd_fail(&rd, NULL, "not valid JSON: %s", jerr);
        return EBADMSG;
    }
    if (!json_is_object(root)) {
        err = json_rd_fail(&rd, NULL, "the document must be an object");
        goto out;
    }
    /* The version first: a newer format should say so, not fail on some
     * field it renamed. */
    err = json_rd_int(&rd, root, "version", 0, 0, INT64_MAX, NULL, &version);
    if (!err && version != STATE_VERSION) {
        err = json_rd_fail(&rd, NULL, "unsupported version %" PRId64
                           " (this ctflushd reads %d)", version, STATE_VERSION);
    }
    if (!err) {
        err = json_rd_int(&rd, root, "next_job_id", 0, 0, INT64_MAX, NULL, &next_id);
    }
    if (!err) {
        err = json_rd_array(&rd, root, "ports", 0, &ports);
    }
    if (!err) {
        err = json_rd_array(&rd, root, "jobs", 0, &jobs);
    }
    for (i = 0; !err && i < json_array_size(ports); i++) {
        snprintf(rd.where, sizeof rd.where, "ports[%zu]", i);
        err = state_parse_port(&rd, json_array_get(ports, i), tab);
    }
    for (i = 0; !err && i < json_array_size(jobs); i++) {
        snprintf(rd.where, sizeof rd.where, "jobs[%zu]", i);
        err = state_parse_job(&rd, json_array_get(jobs, i), q);
    }
    if (!err && (uint64_t) next_id > q->next_id) {
        q->next_id = (uint64_t) next_id;
    }
out:
    json_decref(root);
    if (err == ENOMEM) {
        snprintf(errbuf, errlen, "out of memory loading the state file");
    }
    /* The file's fault, whatever json_rd said: callers move it aside. */
    return err == EINVAL ? EBADMSG : err;
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
    /* Held by the writer thread while it writes, allocates or logs, and by
     * a fork (state_writer_atfork_*): the children are forked without exec,
     * and a child must not inherit an allocator or stdio lock that the
     * writer held at that instant (AddressSanitizer's allocator has no fork
     * handlers of its own in GCC 12's libasan; a child then hung on its
     * first malloc). Taken before mutex, never while holding it. */
    pthread_mutex_t busy;
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

        pthread_mutex_lock(&w->busy);
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
        pthread_mutex_unlock(&w->mutex);
        pthread_mutex_unlock(&w->busy);
        pthread_mutex_lock(&w->mutex);
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

/* The one writer whose thread a fork must wait for. A pthread_atfork
 * handler takes no argument, so this is the only way to reach it; the
 * parent runs one writer at a time (state_writer_start/stop, from the
 * event loop's thread only). */
static struct state_writer *state_writer_forking;

static void
state_writer_atfork_prepare(void)
{
    if (state_writer_forking) {
        pthread_mutex_lock(&state_writer_forking->busy);
    }
}

static void
state_writer_atfork_release(void)
{
    if (state_writer_forking) {
        pthread_mutex_unlock(&state_writer_forking->busy);
    }
}

static void
state_writer_atfork_register(void)
{
    pthread_atfork(state_writer_atfork_prepare, state_writer_atfork_release,
                   state_writer_atfork_release);
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
    err = pthread_mutex_init(&w->busy, NULL);
    if (err) {
        free(w->dir);
        free(w);
        return err;
    }
    err = pthread_mutex_init(&w->mutex, NULL);
    if (err) {
        pthread_mutex_destroy(&w->busy);
        free(w->dir);
        free(w);
        return err;
    }
    err = pthread_cond_init(&w->cond, NULL);
    if (err) {
        pthread_mutex_destroy(&w->mutex);
        pthread_mutex_destroy(&w->busy);
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
        pthread_mutex_destroy(&w->busy);
        free(w->dir);
        free(w);
        return err;
    }
    static pthread_once_t registered = PTHREAD_ONCE_INIT;
    pthread_once(&registered, state_writer_atfork_register);
    state_writer_forking = w;
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
    if (state_writer_forking == w) {
        state_writer_forking = NULL;
    }

    free(w->text);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
    pthread_mutex_destroy(&w->busy);
    free(w->dir);
    free(w);
}
