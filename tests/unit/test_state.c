/*
 * test_state.c: unit tests for state.c (serialise/parse round trip, strict
 * parsing of bad documents, corrupt files moved aside, atomic writes and
 * their failures, the writer thread).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobq.h"
#include "json.h"
#include "portinfo.h"
#include "porttab.h"
#include "state.h"
#include "unit_helpers.h"

/* ---- Helpers. ---- */

static char *
tmpdir_make(void)
{
    char tmpl[] = "/tmp/ctf-state-XXXXXX";

    if (!mkdtemp(tmpl)) {
        fail_msg("mkdtemp: %s", strerror(errno));
    }
    return strdup(tmpl);
}

/* Removes dir and what is in it, one level of subdirectories deep. */
static void
tmpdir_remove(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char path[PATH_MAX];
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) && errno == EISDIR) {
            tmpdir_remove(strdup(path));
        }
    }
    if (d) {
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static char *
path_in(const char *dir, const char *name)
{
    char *p = malloc(PATH_MAX);

    snprintf(p, PATH_MAX, "%s/%s", dir, name);
    return p;
}

/* The file's contents, or NULL if it cannot be read. */
static char *
file_read(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    if (fread(buf, 1, (size_t) n, f) != (size_t) n) {
        fail_msg("short read of %s", path);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
file_write(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* How many names in dir start with prefix; the last one in *name. */
static int
count_prefixed(const char *dir, const char *prefix, char *name, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d))) {
        if (!strncmp(de->d_name, prefix, strlen(prefix))) {
            n++;
            if (name) {
                snprintf(name, size, "%s", de->d_name);
            }
        }
    }
    closedir(d);
    return n;
}

static void
port_make_full(struct port_info *pi, const char *name, const char *iface_id,
          const char *bridge, int64_t ofport, const char *ips, int zone)
{
    char err[128];

    port_info_init(pi);
    pi->name = strdup(name);
    pi->iface_id = iface_id ? strdup(iface_id) : NULL;
    pi->bridge = bridge ? strdup(bridge) : NULL;
    pi->ofport = ofport;
    if (*ips) {
        if (ctf_prefix_list_parse(&pi->ips, ips, err, sizeof err)) {
            fail_msg("helper: %s", err);
        }
        pi->ip_source = PORT_IP_PORT;
    }
    if (zone >= 0) {
        pi->has_zone = true;
        pi->zone = (uint16_t) zone;
        pi->zone_source = PORT_ZONE_VLAN_TAG;
    }
}

static void
set_ips(struct porttab *tab, const char *name, const char *ips)
{
    struct ctf_prefix_list l;
    char err[128];

    memset(&l, 0, sizeof l);
    if (ctf_prefix_list_parse(&l, ips, err, sizeof err)) {
        fail_msg("helper: %s", err);
    }
    assert_int_equal(porttab_set_control(tab, name, &(struct porttab_control) { .ips = &l }, NULL), 0);
    ctf_prefix_list_destroy(&l);
}

static uint64_t
queue(struct jobq *q, enum job_origin origin, const char *local, const char *peers,
      int zone, const char *const *ports, size_t n_ports)
{
    struct flush_job job;
    uint64_t id;

    job_make(&job, local, peers);
    if (zone >= 0) {
        job.has_zone = true;
        job.zone = (uint16_t) zone;
    }
    assert_int_equal(jobq_add(q, origin, &job, ports, n_ports, 1700000000.25, &id,
                              NULL, NULL, 0), 0);
    flush_job_destroy(&job);
    return id;
}

/* A table and queue with every field in use. Returns the running job's id
 * and, in *done_id, one that finished. */
static uint64_t
fixture(struct porttab *tab, struct jobq *q, uint64_t *done_id)
{
    struct port_info pi;
    struct flush_job job;
    const char *ab[] = { "tap-a", "tap-b" };
    uint64_t running;

    porttab_init(tab);
    jobq_init(q, NULL);

    port_make_full(&pi, "tap-a", "vm-a", "br-int", 12, "10.0.0.1, fd00::1", 7);
    assert_int_equal(porttab_update(tab, &pi, NULL), 0);
    port_info_destroy(&pi);
    set_ips(tab, "tap-a", "192.168.0.1, 10.10.0.0/24");

    port_make_full(&pi, "tap-b", NULL, NULL, -1, "", -1);
    assert_int_equal(porttab_update(tab, &pi, NULL), 0);
    port_info_destroy(&pi);

    {
        /* neutron's agent: a zone and a live migration with the IPs. */
        struct ctf_prefix_list l;
        char err[128];
        memset(&l, 0, sizeof l);
        assert_int_equal(ctf_prefix_list_parse(&l, "172.16.0.5", err, sizeof err), 0);
        struct porttab_control c = { .ips = &l, .has_zone = true, .zone = 4097,
                                     .migrating = true };
        assert_int_equal(porttab_set_control(tab, "ctl-only", &c, NULL), 0);
        ctf_prefix_list_destroy(&l);
    }

    port_make_full(&pi, "odd \"name\"\\\t\xc3\xa9", "iface\n", "br", 0, "2001:db8::7", 0);
    pi.zone_source = PORT_ZONE_OVN;
    pi.ip_source = PORT_IP_INTERFACE;
    assert_int_equal(porttab_update(tab, &pi, NULL), 0);
    port_info_destroy(&pi);

    /* One finished job (not saved), one running (saved as queued). */
    *done_id = queue(q, JOB_ORIGIN_MANUAL, "10.9.0.1", "any", -1, NULL, 0);
    jobq_start(q, jobq_peek(q, 0), 1.0);
    jobq_finish(q, *done_id, 0, false, NULL, "dump", NULL, 0, 2.0);
    running = queue(q, JOB_ORIGIN_PORT_ADD, "fd00::1", "any", -1, ab, 2);
    jobq_start(q, jobq_peek(q, 0), 3.0);

    queue(q, JOB_ORIGIN_PORT_REMOVE, "10.0.0.1, 10.0.0.2", "any", 7, ab, 1);
    queue(q, JOB_ORIGIN_MANUAL, "10.1.0.1,10.1.0.2", "10.2.0.0/16, fd00::/8", 3, NULL, 0);

    job_make(&job, "any", "any");
    job.has_zone = true;
    job.zone = 9;
    job.has_mark = true;
    job.mark = 0x10;
    job.mark_mask = 0xffffffff;
    assert_int_equal(jobq_restore(q, 500, JOB_ORIGIN_MANUAL, &job, ab, 2, 40, 3, 42.5), 0);
    flush_job_destroy(&job);
    /* A job with every selector. */
    job_make(&job, "10.3.0.1,fd00:3::1", "10.4.0.0/16");
    job.direction = FLUSH_DIRECTION_INGRESS;
    job.tuple = FLUSH_TUPLE_ORIG;
    job.proto = 17;
    job.has_dport = true;
    job.dport_lo = 53;
    job.dport_hi = 54;
    job.family = FLUSH_FAMILY_IPV4;
    assert_int_equal(jobq_restore(q, 600, JOB_ORIGIN_MANUAL, &job, NULL, 0, 0, 0, 43.5), 0);
    flush_job_destroy(&job);
    return running;
}

static char *
serialize(const struct porttab *tab, const struct jobq *q)
{
    struct json_out o;
    char *s;

    json_init(&o);
    state_serialize(tab, q, &o);
    assert_non_null(json_text(&o));
    s = strdup(json_text(&o));
    json_destroy(&o);
    return s;
}

/* ---- Round trip. ---- */

static void
test_round_trip(void **state)
{
    struct porttab tab, tab2;
    struct jobq q, q2;
    uint64_t done_id, running;
    char err[256];
    char *s1, *s2;

    running = fixture(&tab, &q, &done_id);
    s1 = serialize(&tab, &q);

    assert_non_null(strstr(s1, "\"version\":1,"));
    assert_non_null(strstr(s1, "\"control_ips\":null"));
    assert_non_null(strstr(s1, "\"local\":\"any\""));
    assert_non_null(strstr(s1, "\"mark_mask\":null"));
    assert_non_null(strstr(s1, "\"mark_mask\":4294967295"));
    assert_non_null(strstr(s1, "\"ofport\":-1"));

    porttab_init(&tab2);
    jobq_init(&q2, NULL);
    assert_int_equal(state_parse(s1, strlen(s1), &tab2, &q2, err, sizeof err), 0);
    s2 = serialize(&tab2, &q2);
    assert_string_equal(s1, s2);

    /* The port table. */
    assert_int_equal(porttab_count(&tab2), 4);
    const struct porttab_entry *e = porttab_find(&tab2, "tap-a");
    assert_non_null(e);
    assert_true(e->in_ovsdb);
    assert_true(e->has_control_ips);
    assert_int_equal(e->control_ips.n, 2);
    assert_int_equal(e->ovsdb.ips.n, 2);
    assert_int_equal(e->ovsdb.ofport, 12);
    assert_string_equal(e->ovsdb.iface_id, "vm-a");
    assert_string_equal(e->ovsdb.bridge, "br-int");
    assert_int_equal(e->ovsdb.ip_source, PORT_IP_PORT);
    assert_true(e->ovsdb.has_zone);
    assert_int_equal(e->ovsdb.zone, 7);
    assert_int_equal(e->ovsdb.zone_source, PORT_ZONE_VLAN_TAG);
    assert_int_equal(e->effective.ip_source, PORT_IP_CONTROL);
    e = porttab_find(&tab2, "tap-b");
    assert_null(e->ovsdb.iface_id);
    assert_null(e->ovsdb.bridge);
    assert_int_equal(e->ovsdb.ofport, -1);
    assert_false(e->ovsdb.has_zone);
    assert_false(e->has_control_ips);
    e = porttab_find(&tab2, "ctl-only");
    assert_false(e->in_ovsdb);
    assert_true(e->has_control_ips);
    assert_true(e->has_control_zone);
    assert_int_equal(e->control_zone, 4097);
    assert_true(e->migrating);
    assert_int_equal(e->effective.zone, 4097);
    assert_int_equal(e->effective.zone_source, PORT_ZONE_CONTROL);
    assert_false(porttab_find(&tab2, "tap-a")->migrating);
    assert_false(porttab_find(&tab2, "tap-a")->has_control_zone);
    e = porttab_find(&tab2, "odd \"name\"\\\t\xc3\xa9");
    assert_non_null(e);
    assert_string_equal(e->ovsdb.iface_id, "iface\n");
    assert_true(e->ovsdb.has_zone);
    assert_int_equal(e->ovsdb.zone, 0);

    /* The queue: the running job is queued again, the finished one gone. */
    assert_null(q2.running);
    assert_int_equal(q2.n_queued, 5);
    assert_int_equal(q2.next_id, q.next_id);
    assert_null(jobq_find(&q2, done_id));
    const struct qjob *j = jobq_find(&q2, running);
    assert_non_null(j);
    assert_int_equal(j->state, JOB_QUEUED);
    assert_int_equal(j->origin, JOB_ORIGIN_PORT_ADD);
    assert_int_equal(j->attempts, 1);
    assert_int_equal(j->n_ports, 2);
    assert_string_equal(j->ports[1], "tap-b");
    assert_true(j->created == 1700000000.25);
    j = jobq_find(&q2, 500);
    assert_true(j->job.local_any);
    assert_true(j->job.peers_any);
    assert_true(j->job.has_mark);
    assert_int_equal(j->job.mark, 0x10);
    assert_int_equal(j->job.mark_mask, 0xffffffff);
    assert_int_equal(j->attempts, 3);
    assert_int_equal(j->n_ports, 40);
    assert_true(j->created == 42.5);
    assert_false(flush_job_has_selectors(&j->job));
    /* Selectors come back as they were. */
    assert_non_null(strstr(s1, "\"direction\":\"ingress\",\"tuple\":\"orig\",\"proto\":17,"
                               "\"dport\":\"53-54\",\"family\":\"ipv4\""));
    j = jobq_find(&q2, 600);
    assert_non_null(j);
    assert_int_equal(j->job.direction, FLUSH_DIRECTION_INGRESS);
    assert_int_equal(j->job.tuple, FLUSH_TUPLE_ORIG);
    assert_int_equal(j->job.proto, 17);
    assert_true(j->job.has_dport && j->job.dport_lo == 53 && j->job.dport_hi == 54);
    assert_int_equal(j->job.family, FLUSH_FAMILY_IPV4);
    /* New ids continue where the old process stopped. */
    assert_int_equal(q2.next_id, 601);
    assert_int_equal(queue(&q2, JOB_ORIGIN_MANUAL, "10.7.0.1", "any", -1, NULL, 0), 601);

    free(s1);
    free(s2);
    porttab_destroy(&tab);
    porttab_destroy(&tab2);
    jobq_destroy(&q);
    jobq_destroy(&q2);
}

static void
test_serialize_empty(void **state)
{
    struct porttab tab, tab2;
    struct jobq q, q2;
    char *s;

    porttab_init(&tab);
    jobq_init(&q, NULL);
    s = serialize(&tab, &q);
    assert_string_equal(s, "{\"version\":1,\"next_job_id\":1,\"ports\":[],\"jobs\":[]}");
    porttab_init(&tab2);
    jobq_init(&q2, NULL);
    assert_int_equal(state_parse(s, strlen(s), &tab2, &q2, NULL, 0), 0);
    free(s);
    porttab_destroy(&tab);
    porttab_destroy(&tab2);
    jobq_destroy(&q);
    jobq_destroy(&q2);
}

/* ---- Strict parsing. ---- */

#define PORT_OK "{\"name\":\"tap1\",\"iface_id\":null,\"bridge\":null,\"ofport\":-1," \
    "\"ips\":[\"10.0.0.1\"],\"ip_source\":\"interface\",\"zone\":null," \
    "\"zone_source\":\"none\",\"in_ovsdb\":true,\"control_ips\":null}"
#define JOB_OK "{\"id\":5,\"origin\":\"port-remove\",\"local\":[\"10.0.0.1\"]," \
    "\"peers\":\"any\",\"zone\":null,\"mark\":null,\"mark_mask\":null," \
    "\"ports\":[\"tap1\"],\"n_ports\":1,\"attempts\":0,\"created\":12.5}"

static char *
doc(const char *ports, const char *jobs)
{
    char *s = malloc(strlen(ports) + strlen(jobs) + 100);

    sprintf(s, "{\"version\":1,\"next_job_id\":6,\"ports\":[%s],\"jobs\":[%s]}",
            ports, jobs);
    return s;
}

/* s with its first 'from' replaced by 'to'. */
static char *
replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    char *r;

    if (!at) {
        fail_msg("helper: '%s' not in '%s'", from, s);
    }
    r = malloc(strlen(s) + strlen(to) + 1);
    memcpy(r, s, (size_t) (at - s));
    strcpy(r + (at - s), to);
    strcat(r, at + strlen(from));
    return r;
}

static int
parse_len(const char *text, size_t len, char *err, size_t errlen)
{
    struct porttab tab;
    struct jobq q;
    int rc;

    porttab_init(&tab);
    jobq_init(&q, NULL);
    rc = state_parse(text, len, &tab, &q, err, errlen);
    porttab_destroy(&tab);
    jobq_destroy(&q);
    return rc;
}

static void
expect_bad_len(const char *text, size_t len, const char *why)
{
    char err[256] = "";
    int rc = parse_len(text, len, err, sizeof err);

    if (rc != EBADMSG) {
        fail_msg("'%s': got %d (%s), wanted EBADMSG", text, rc, err);
    }
    if (!strstr(err, why)) {
        fail_msg("'%s': reason '%s' does not mention '%s'", text, err, why);
    }
}

static void
expect_bad(const char *text, const char *why)
{
    expect_bad_len(text, strlen(text), why);
}

/* A document whose one port has 'from' replaced by 'to'. */
static void
bad_port(const char *from, const char *to, const char *why)
{
    char *port = replace(PORT_OK, from, to);
    char *d = doc(port, "");

    expect_bad(d, why);
    free(d);
    free(port);
}

static void
bad_job(const char *from, const char *to, const char *why)
{
    char *job = replace(JOB_OK, from, to);
    char *d = doc(PORT_OK, job);

    expect_bad(d, why);
    free(d);
    free(job);
}

static void
test_parse_ok_minimal(void **state)
{
    char *d = doc(PORT_OK, JOB_OK);
    char err[256];
    struct porttab tab;
    struct jobq q;

    porttab_init(&tab);
    jobq_init(&q, NULL);
    assert_int_equal(state_parse(d, strlen(d), &tab, &q, err, sizeof err), 0);
    assert_int_equal(porttab_count(&tab), 1);
    assert_int_equal(q.n_queued, 1);
    assert_int_equal(q.next_id, 6);
    porttab_destroy(&tab);
    jobq_destroy(&q);
    free(d);

    /* Members we do not know are left alone (a later minor addition). */
    d = strdup("{\"version\":1,\"x\":[1],\"next_job_id\":1,\"ports\":[],\"jobs\":[]}");
    assert_int_equal(parse_len(d, strlen(d), err, sizeof err), 0);
    free(d);

    /* ofport 0 and positive, a zone of 65535, mark 0 with mask 0 (an older
     * daemon's job matching every mark: loaded as a job without a mark). */
    char *p = replace(PORT_OK, "\"ofport\":-1", "\"ofport\":65534");
    char *p2 = replace(p, "\"zone\":null", "\"zone\":65535");
    char *j = replace(JOB_OK, "\"mark\":null,\"mark_mask\":null",
                      "\"mark\":0,\"mark_mask\":0");
    d = doc(p2, j);
    assert_int_equal(parse_len(d, strlen(d), err, sizeof err), 0);
    porttab_init(&tab);
    jobq_init(&q, NULL);
    assert_int_equal(state_parse(d, strlen(d), &tab, &q, err, sizeof err), 0);
    assert_int_equal(q.n_queued, 1);
    assert_false(jobq_peek(&q, 0)->job.has_mark);
    porttab_destroy(&tab);
    jobq_destroy(&q);
    free(d);
    free(p);
    free(p2);
    free(j);
}

/* A netdev port and its job keep their datapath across a restart; the
 * kernel's is the default and is not written, so files from before read
 * the same (PORT_OK and JOB_OK have none: kernel), and an unknown one is
 * refused. */
static void
test_datapath_round_trip(void **state)
{
    struct porttab tab, tab2;
    struct jobq q, q2;
    struct port_info pi;
    struct flush_job job;
    char err[256];
    uint64_t id;

    porttab_init(&tab);
    jobq_init(&q, NULL);
    port_make_full(&pi, "dpdk0", "vm-d", "br-dpdk", 3, "10.5.0.1", 9);
    pi.datapath = FLUSH_DATAPATH_NETDEV;
    assert_int_equal(porttab_restore(&tab, &pi, true, NULL), 0);
    port_info_destroy(&pi);
    port_make_full(&pi, "tap0", NULL, "br-int", 4, "10.5.0.2", -1);
    assert_int_equal(porttab_restore(&tab, &pi, true, NULL), 0);
    port_info_destroy(&pi);
    job_make(&job, "10.5.0.3", "any");
    job.datapath = FLUSH_DATAPATH_NETDEV;
    assert_int_equal(jobq_add(&q, JOB_ORIGIN_PORT_REMOVE, &job, NULL, 0, 1.0, &id, NULL,
                              err, sizeof err), 0);
    flush_job_destroy(&job);

    char *s1 = serialize(&tab, &q);
    assert_non_null(strstr(s1, "\"zone_source\":\"vlan-tag\",\"datapath\":\"netdev\""));
    assert_non_null(strstr(s1, "\"datapath\":\"netdev\",\"ports\""));
    /* One port and one job say netdev; the kernel port says nothing. */
    const char *at = s1;
    int n = 0;
    while ((at = strstr(at, "\"datapath\""))) {
        n++;
        at++;
    }
    assert_int_equal(n, 2);

    porttab_init(&tab2);
    jobq_init(&q2, NULL);
    assert_int_equal(state_parse(s1, strlen(s1), &tab2, &q2, err, sizeof err), 0);
    assert_int_equal(porttab_find(&tab2, "dpdk0")->ovsdb.datapath, FLUSH_DATAPATH_NETDEV);
    assert_int_equal(porttab_find(&tab2, "dpdk0")->effective.datapath, FLUSH_DATAPATH_NETDEV);
    assert_int_equal(porttab_find(&tab2, "tap0")->ovsdb.datapath, FLUSH_DATAPATH_KERNEL);
    assert_int_equal(jobq_find(&q2, id)->job.datapath, FLUSH_DATAPATH_NETDEV);
    char *s2 = serialize(&tab2, &q2);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    porttab_destroy(&tab);
    porttab_destroy(&tab2);
    jobq_destroy(&q);
    jobq_destroy(&q2);

    /* A file written before datapaths: everything is the kernel's. */
    char *d = doc(PORT_OK, JOB_OK);
    porttab_init(&tab);
    jobq_init(&q, NULL);
    assert_int_equal(state_parse(d, strlen(d), &tab, &q, err, sizeof err), 0);
    assert_int_equal(porttab_find(&tab, "tap1")->ovsdb.datapath, FLUSH_DATAPATH_KERNEL);
    assert_int_equal(jobq_find(&q, 5)->job.datapath, FLUSH_DATAPATH_KERNEL);
    porttab_destroy(&tab);
    jobq_destroy(&q);
    free(d);

    /* An unknown datapath is refused, on a port and on a job. */
    char *p = replace(PORT_OK, "\"in_ovsdb\"", "\"datapath\":\"dpdk\",\"in_ovsdb\"");
    d = doc(p, JOB_OK);
    assert_int_not_equal(parse_len(d, strlen(d), err, sizeof err), 0);
    assert_non_null(strstr(err, "datapath"));
    free(d);
    free(p);
    char *j = replace(JOB_OK, "\"ports\"", "\"datapath\":\"system\",\"ports\"");
    d = doc(PORT_OK, j);
    assert_int_not_equal(parse_len(d, strlen(d), err, sizeof err), 0);
    assert_non_null(strstr(err, "datapath"));
    free(d);
    free(j);
    (void) state;
}

static void
test_parse_bad_documents(void **state)
{
    char *d;

    expect_bad("", "not valid JSON");
    expect_bad("   ", "not valid JSON");
    expect_bad("\x01\x02garbage\xff", "not valid JSON");
    expect_bad("[]", "must be an object");
    expect_bad("null", "must be an object");
    expect_bad("{}", "version: missing");
    expect_bad("{\"version\":2,\"next_job_id\":1,\"ports\":[],\"jobs\":[]}",
               "unsupported version 2");
    expect_bad("{\"version\":0}", "unsupported version 0");
    expect_bad("{\"version\":\"1\",\"next_job_id\":1,\"ports\":[],\"jobs\":[]}",
               "version: must be an integer >= 0");
    expect_bad("{\"version\":1.0,\"next_job_id\":1,\"ports\":[],\"jobs\":[]}",
               "version: must be an integer >= 0");
    expect_bad("{\"version\":1,\"next_job_id\":-1,\"ports\":[],\"jobs\":[]}",
               "next_job_id: must be an integer >= 0");
    expect_bad("{\"version\":1,\"ports\":[],\"jobs\":[]}", "next_job_id: missing");
    expect_bad("{\"version\":1,\"next_job_id\":1,\"ports\":{},\"jobs\":[]}",
               "ports: must be an array");
    expect_bad("{\"version\":1,\"next_job_id\":1,\"ports\":[]}", "jobs: missing");
    expect_bad("{\"version\":1,\"next_job_id\":1,\"ports\":[],\"jobs\":null}",
               "jobs: must be an array");

    /* Trailing bytes, a NUL inside, a repeated key. */
    d = doc(PORT_OK, JOB_OK);
    char *t = malloc(strlen(d) + 3);
    sprintf(t, "%s x", d);
    expect_bad(t, "not valid JSON");
    free(t);
    expect_bad_len(d, strlen(d) + 1, "not valid JSON");
    t = replace(d, "\"version\":1,", "\"version\":1,\"version\":1,");
    expect_bad(t, "not valid JSON");
    free(t);
    free(d);
}

static void
test_parse_bad_ports(void **state)
{
    char *d;

    d = doc("\"tap1\"", "");
    expect_bad(d, "ports[0]: must be an object");
    free(d);
    d = doc(PORT_OK "," PORT_OK, "");
    expect_bad(d, "ports[1] (\"tap1\"): duplicate port");
    free(d);

    bad_port("\"name\":\"tap1\"", "\"name\":7", "ports[0]: name: must be a string");
    bad_port("\"name\":\"tap1\"", "\"name\":\"\"", "ports[0]: name: is empty");
    bad_port("\"name\":\"tap1\",", "", "ports[0]: name: missing");
    bad_port("\"name\":\"tap1\"", "\"name\":null", "name: must be a string");
    bad_port("\"iface_id\":null", "\"iface_id\":[]",
             "ports[0] (\"tap1\"): iface_id: must be a string or null");
    bad_port("\"bridge\":null,", "", "bridge: missing");
    bad_port("\"ofport\":-1", "\"ofport\":-2", "ofport: must be an integer >= -1");
    bad_port("\"ofport\":-1", "\"ofport\":1.5", "ofport: must be an integer >= -1");
    bad_port("\"ofport\":-1", "\"ofport\":\"1\"", "ofport: must be an integer >= -1");
    bad_port("\"ofport\":-1", "\"ofport\":1e300", "ofport: must be an integer");
    /* Past int64_t: not even a number jansson holds. */
    bad_port("\"ofport\":-1", "\"ofport\":18446744073709551615", "too big integer");
    bad_port("[\"10.0.0.1\"]", "[\"10.0.0.500\"]", "bad address or prefix '10.0.0.500'");
    bad_port("[\"10.0.0.1\"]", "[\"10.0.0.1/8\"]", "bad address");
    bad_port("[\"10.0.0.1\"]", "[\"10.0.0.1\",1]", "ips[1]: must be a string");
    bad_port("[\"10.0.0.1\"]", "\"10.0.0.1\"", "ips: must be an array");
    bad_port("[\"10.0.0.1\"]", "null", "ips: must be an array");
    bad_port("\"ip_source\":\"interface\"", "\"ip_source\":\"dhcp\"",
             "ip_source: unknown value 'dhcp'");
    bad_port("\"ip_source\":\"interface\"", "\"ip_source\":true", "ip_source: must be a string");
    bad_port("\"zone\":null", "\"zone\":65536",
             "zone: must be an integer 0..65535 or null");
    bad_port("\"zone\":null", "\"zone\":\"3\"", "zone: must be an integer 0..65535 or null");
    bad_port("\"zone\":null", "\"zone\":-3", "zone: must be");
    bad_port("\"zone_source\":\"none\"", "\"zone_source\":\"x\"", "zone_source: unknown value");
    bad_port("\"in_ovsdb\":true", "\"in_ovsdb\":1", "in_ovsdb: must be true or false");
    bad_port("\"in_ovsdb\":true,", "", "in_ovsdb: missing");
    bad_port("\"control_ips\":null", "\"control_ips\":\"10.0.0.1\"",
             "control_ips: must be an array or null");
    bad_port("\"control_ips\":null", "\"control_ips\":[\"nope\"]",
             "control_ips[0]: bad address or prefix 'nope'");
}

static void
test_parse_bad_jobs(void **state)
{
    char *d;

    d = doc(PORT_OK, "[]");
    expect_bad(d, "jobs[0]: must be an object");
    free(d);
    d = doc(PORT_OK, JOB_OK "," JOB_OK);
    expect_bad(d, "jobs[1] (id 5): duplicate job id");
    free(d);

    bad_job("\"id\":5", "\"id\":0", "jobs[0]: id: must be an integer >= 1");
    bad_job("\"id\":5", "\"id\":\"5\"", "id: must be an integer >= 1");
    bad_job("\"id\":5", "\"id\":-5", "id: must be");
    bad_job("\"id\":5", "\"id\":18446744073709551615", "too big integer");
    bad_job("\"origin\":\"port-remove\"", "\"origin\":\"cron\"",
            "jobs[0] (id 5): origin: unknown value 'cron'");
    bad_job("\"origin\":\"port-remove\"", "\"origin\":3", "origin: must be a string");
    bad_job("\"local\":[\"10.0.0.1\"]", "\"local\":\"all\"", "local: must be \"any\"");
    bad_job("\"local\":[\"10.0.0.1\"]", "\"local\":7", "local: must be \"any\" or an array");
    bad_job("\"local\":[\"10.0.0.1\"]", "\"local\":[]", "not a valid job");
    bad_job("\"local\":[\"10.0.0.1\"]", "\"local\":\"any\"", "not a valid job");
    bad_job("\"local\":[\"10.0.0.1\"],", "", "local: missing");
    bad_job("\"peers\":\"any\"", "\"peers\":[\"x\"]", "peers[0]: bad address");
    bad_job("\"peers\":\"any\"", "\"peers\":null", "peers: must be");
    bad_job("\"mark\":null", "\"mark\":5", "both be set or both null");
    bad_job("\"mark\":null,\"mark_mask\":null", "\"mark\":4294967296,\"mark_mask\":1",
            "mark: must be an integer 0..4294967295 or null");
    bad_job("\"mark_mask\":null", "\"mark_mask\":[]", "mark_mask: must be");
    bad_job("\"zone\":null", "\"zone\":70000", "zone: must be an integer 0..65535");
    bad_job("\"ports\":[\"tap1\"]", "\"ports\":[1]", "jobs[0] (id 5): ports[0]: must be a string");
    bad_job("\"ports\":[\"tap1\"]", "\"ports\":null", "ports: must be an array");
    bad_job("\"n_ports\":1", "\"n_ports\":-1", "n_ports: must be");
    bad_job("\"attempts\":0", "\"attempts\":4294967296", "attempts: must be");
    bad_job("\"created\":12.5", "\"created\":\"yesterday\"", "created: must be a number");
    bad_job(",\"created\":12.5", "", "created: missing");
}

/* What json_parse refuses makes the document corrupt (and moved aside):
 * NUL in a string, bad UTF-8, nesting past 16, bytes after the document. */
static void
test_parse_strict_json(void **state)
{
    char *port, *d;

    port = replace(PORT_OK, "\"tap1\"", "\"tap\\u0000x\"");
    d = doc(port, "");
    expect_bad(d, "not valid JSON: offset");
    expect_bad(d, "\\u0000 is not allowed");
    free(d);
    free(port);
    port = replace(PORT_OK, "\"tap1\"", "\"tap\xc3\"");
    d = doc(port, "");
    expect_bad(d, "not valid JSON");
    free(d);
    free(port);
    /* An unknown member nested 16 deep with the document: 15 arrays. */
    port = replace(PORT_OK, "\"in_ovsdb\":true",
                   "\"x\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]],\"in_ovsdb\":true");
    d = doc(port, "");
    expect_bad(d, "not valid JSON: nested deeper than 16 levels");
    free(d);
    free(port);
    port = replace(PORT_OK, "\"in_ovsdb\":true",
                   "\"x\":[[[[[[[[[[[[[]]]]]]]]]]]]],\"in_ovsdb\":true");
    d = doc(port, "");
    char err[256];
    assert_int_equal(parse_len(d, strlen(d), err, sizeof err), 0);
    free(d);
    free(port);
}

/* A table of 100k ports (two addresses each, the size state.h promises)
 * reads back whole. The parser before jansson stopped at a million values
 * and so refused, as corrupt, the state file of any table past ~77k ports. */
static void
test_parse_large_table(void **state)
{
    enum { N_PORTS = 100000 };
    struct porttab tab, tab2;
    struct jobq q, q2;
    struct port_info pi;
    char name[32], iface[48], ips[64], err[256];
    char *s, *s2;

    porttab_init(&tab);
    jobq_init(&q, NULL);
    for (int i = 0; i < N_PORTS; i++) {
        snprintf(name, sizeof name, "tap%06d", i);
        snprintf(iface, sizeof iface, "%08x-1111-2222-3333-444455556666", i);
        snprintf(ips, sizeof ips, "10.%d.%d.%d, fd00::%x:%x", (i >> 16) & 255,
                 (i >> 8) & 255, i & 255, i >> 16, i & 0xffff);
        port_make(&pi, name, iface, ips, i % 4096);
        pi.ofport = i + 1;
        assert_int_equal(porttab_update(&tab, &pi, NULL), 0);
        port_info_destroy(&pi);
    }
    s = serialize(&tab, &q);

    porttab_init(&tab2);
    jobq_init(&q2, NULL);
    if (state_parse(s, strlen(s), &tab2, &q2, err, sizeof err)) {
        fail_msg("a %d-port state file refused: %s", N_PORTS, err);
    }
    assert_int_equal(porttab_count(&tab2), N_PORTS);
    s2 = serialize(&tab2, &q2);
    assert_string_equal(s, s2);
    free(s);
    free(s2);
    porttab_destroy(&tab);
    porttab_destroy(&tab2);
    jobq_destroy(&q);
    jobq_destroy(&q2);
}

/* Mutated copies of a real document: whatever they hold, the parser says 0
 * or EBADMSG and frees everything (run under valgrind and ASan). */
static void
test_parse_mutations(void **state)
{
    static const char interesting[] = "\"[]{},:-0123456789.eEaynul\\ \x00\xff";
    struct porttab tab;
    struct jobq q;
    uint64_t done_id;
    uint32_t rnd = 12345;
    char *s;
    size_t len;

    fixture(&tab, &q, &done_id);
    s = serialize(&tab, &q);
    len = strlen(s);
    porttab_destroy(&tab);
    jobq_destroy(&q);

    for (int iter = 0; iter < 3000; iter++) {
        char *m = malloc(len + 1);
        size_t mlen = len;
        int n_mut = 1 + iter % 4;

        memcpy(m, s, len + 1);
        for (int k = 0; k < n_mut && mlen; k++) {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 17;
            rnd ^= rnd << 5;
            size_t at = rnd % mlen;
            switch ((rnd >> 8) % 4) {
            case 0:
                m[at] = interesting[(rnd >> 12) % (sizeof interesting - 1)];
                break;
            case 1:
                m[at] = (char) (rnd >> 16);
                break;
            case 2:
                mlen = at;              /* Truncate. */
                break;
            case 3: {
                size_t cut = 1 + (rnd >> 20) % 16;
                if (at + cut > mlen) {
                    cut = mlen - at;
                }
                memmove(m + at, m + at + cut, mlen - at - cut);
                mlen -= cut;
                break;
            }
            }
        }
        char err[256];
        int rc = parse_len(m, mlen, err, sizeof err);
        if (rc != 0 && rc != EBADMSG) {
            fail_msg("mutation %d: rc %d (%s)", iter, rc, err);
        }
        free(m);
    }
    free(s);
}

/* ---- Loading. ---- */

static void
test_load_missing_and_good(void **state)
{
    char *dir = tmpdir_make();
    struct porttab tab, tab2;
    struct jobq q, q2;
    uint64_t done_id;
    char err[512];
    char *s, *s2;

    porttab_init(&tab2);
    jobq_init(&q2, NULL);
    assert_int_equal(state_load(dir, &tab2, &q2, err, sizeof err), ENOENT);
    assert_non_null(strstr(err, "state.json"));

    fixture(&tab, &q, &done_id);
    s = serialize(&tab, &q);
    assert_int_equal(state_write_file(dir, s, strlen(s), err, sizeof err), 0);
    assert_int_equal(state_load(dir, &tab2, &q2, err, sizeof err), 0);
    s2 = serialize(&tab2, &q2);
    assert_string_equal(s, s2);
    free(s);
    free(s2);

    porttab_destroy(&tab);
    porttab_destroy(&tab2);
    jobq_destroy(&q);
    jobq_destroy(&q2);
    tmpdir_remove(dir);
}

/* Loads 'text' as DIR/state.json: it must be moved aside, intact, with
 * EBADMSG and an empty table and queue. */
static void
expect_corrupt(const char *text, size_t len, const char *why)
{
    char *dir = tmpdir_make();
    char *path = path_in(dir, STATE_FILE_NAME);
    char err[1024], name[256];
    struct porttab tab;
    struct jobq q;
    struct port_info pi;

    file_write(path, text, len);
    porttab_init(&tab);
    jobq_init(&q, NULL);
    /* Something already there is dropped too: the caller starts empty. */
    port_make_full(&pi, "stale", NULL, NULL, 1, "10.0.0.1", -1);
    assert_int_equal(porttab_update(&tab, &pi, NULL), 0);
    port_info_destroy(&pi);

    int rc = state_load(dir, &tab, &q, err, sizeof err);
    if (rc != EBADMSG) {
        fail_msg("got %d (%s), wanted EBADMSG", rc, err);
    }
    if (!strstr(err, why) || !strstr(err, "moved to")) {
        fail_msg("reason '%s' does not mention '%s' and the new name", err, why);
    }
    assert_int_equal(porttab_count(&tab), 0);
    assert_int_equal(q.n_queued, 0);
    assert_null(q.queue);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_prefixed(dir, "state.json.corrupt.", name, sizeof name), 1);
    assert_non_null(strstr(err, name));

    /* Named for the time it was found, contents untouched. */
    long long when = atoll(name + strlen("state.json.corrupt."));
    assert_true(when > 1600000000LL && when <= (long long) time(NULL));
    char *moved = path_in(dir, name);
    struct stat st;
    assert_int_equal(stat(moved, &st), 0);
    assert_int_equal((size_t) st.st_size, len);
    if (len < 1000000) {
        char *back = file_read(moved);
        assert_memory_equal(back, text, len);
        free(back);
    }
    free(moved);

    porttab_destroy(&tab);
    jobq_destroy(&q);
    free(path);
    tmpdir_remove(dir);
}

static void
test_load_corrupt(void **state)
{
    struct porttab tab;
    struct jobq q;
    uint64_t done_id;
    char *s;
    size_t len;

    fixture(&tab, &q, &done_id);
    s = serialize(&tab, &q);
    len = strlen(s);
    porttab_destroy(&tab);
    jobq_destroy(&q);

    /* Truncated at several points, as after a crash without the rename. */
    const size_t cuts[] = { 0, 1, 2, 15, len / 4, len / 3, len / 2, 2 * len / 3, len - 2,
                            len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        expect_corrupt(s, cuts[i], "not valid JSON");
    }
    static const char elf[] = "\x7f" "ELF\x02\x01\x01garbage\n";
    expect_corrupt(elf, sizeof elf - 1, "not valid JSON");
    expect_corrupt("\0\0\0\0", 4, "not valid JSON");

    char *d = replace(s, "\"version\":1,", "\"version\":3,");
    expect_corrupt(d, strlen(d), "unsupported version 3");
    free(d);
    /* A wrong type after valid ports: the ports restored so far go too. */
    d = replace(s, "\"attempts\":1", "\"attempts\":\"1\"");
    expect_corrupt(d, strlen(d), "attempts: must be an integer");
    free(d);
    d = replace(s, "\"in_ovsdb\":false", "\"in_ovsdb\":\"no\"");
    expect_corrupt(d, strlen(d), "in_ovsdb: must be true or false");
    free(d);
    d = replace(s, "\"origin\":\"port-remove\"", "\"origin\":\"port-removed\"");
    expect_corrupt(d, strlen(d), "origin: unknown value");
    free(d);
    free(s);
}

static void
test_load_corrupt_twice_keeps_both(void **state)
{
    char *dir = tmpdir_make();
    char *path = path_in(dir, STATE_FILE_NAME);
    struct porttab tab;
    struct jobq q;
    char err[1024];

    porttab_init(&tab);
    jobq_init(&q, NULL);
    file_write(path, "first", 5);
    assert_int_equal(state_load(dir, &tab, &q, err, sizeof err), EBADMSG);
    file_write(path, "second", 6);
    assert_int_equal(state_load(dir, &tab, &q, err, sizeof err), EBADMSG);
    /* Within one second the second gets a suffix; either way, both stay. */
    assert_int_equal(count_prefixed(dir, "state.json.corrupt.", NULL, 0), 2);
    porttab_destroy(&tab);
    jobq_destroy(&q);
    free(path);
    tmpdir_remove(dir);
}

static void
test_load_too_big(void **state)
{
    char *dir = tmpdir_make();
    char *path = path_in(dir, STATE_FILE_NAME);
    char err[1024];
    struct porttab tab;
    struct jobq q;
    int fd;

    /* Sparse: nothing is read, the size alone condemns it. */
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t) STATE_MAX_BYTES + 1), 0);
    close(fd);
    porttab_init(&tab);
    jobq_init(&q, NULL);
    assert_int_equal(state_load(dir, &tab, &q, err, sizeof err), EBADMSG);
    assert_non_null(strstr(err, "larger than"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_prefixed(dir, "state.json.corrupt.", NULL, 0), 1);
    porttab_destroy(&tab);
    jobq_destroy(&q);
    free(path);
    tmpdir_remove(dir);
}

static void
test_load_read_error(void **state)
{
    char *dir = tmpdir_make();
    char *path = path_in(dir, STATE_FILE_NAME);
    char err[1024];
    struct porttab tab;
    struct jobq q;

    /* A directory where the file should be: an error, not corruption. */
    assert_int_equal(mkdir(path, 0700), 0);
    porttab_init(&tab);
    jobq_init(&q, NULL);
    assert_int_equal(state_load(dir, &tab, &q, err, sizeof err), EISDIR);
    assert_non_null(strstr(err, "state.json"));
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(count_prefixed(dir, "state.json.corrupt.", NULL, 0), 0);

    /* The directory itself is not there. */
    char *gone = path_in(dir, "nope");
    assert_int_equal(state_load(gone, &tab, &q, NULL, 0), ENOENT);
    free(gone);

    /* Its parent is a regular file. */
    char *file = path_in(dir, "plain");
    file_write(file, "x", 1);
    assert_int_equal(state_load(file, &tab, &q, err, sizeof err), ENOTDIR);
    free(file);

    porttab_destroy(&tab);
    jobq_destroy(&q);
    free(path);
    tmpdir_remove(dir);
}

/* ---- Writing. ---- */

static void
test_write_file(void **state)
{
    char *dir = tmpdir_make();
    char *path = path_in(dir, STATE_FILE_NAME);
    char *tmp = path_in(dir, STATE_FILE_NAME ".tmp");
    char err[1024];
    struct stat st;
    char *back;

    assert_int_equal(state_write_file(dir, "{\"a\":1}", 7, err, sizeof err), 0);
    back = file_read(path);
    assert_string_equal(back, "{\"a\":1}");
    free(back);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Replaces, and a shorter file leaves nothing of the longer one. */
    assert_int_equal(state_write_file(dir, "{}", 2, err, sizeof err), 0);
    back = file_read(path);
    assert_string_equal(back, "{}");
    free(back);

    /* A big one. */
    size_t big = 3u << 20;
    char *text = malloc(big);
    memset(text, 'x', big);
    assert_int_equal(state_write_file(dir, text, big, err, sizeof err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t) st.st_size, big);
    free(text);

    free(path);
    free(tmp);
    tmpdir_remove(dir);
}

static void
test_write_file_errors(void **state)
{
    char *dir = tmpdir_make();
    char err[1024];

    /* Root ignores permissions, so make the path itself impossible. */
    char *missing = path_in(dir, "missing");
    assert_int_equal(state_write_file(missing, "{}", 2, err, sizeof err), ENOENT);
    assert_non_null(strstr(err, "create"));
    assert_non_null(strstr(err, "missing/state.json.tmp"));
    assert_non_null(strstr(err, strerror(ENOENT)));
    free(missing);

    char *file = path_in(dir, "plain");
    file_write(file, "x", 1);
    assert_int_equal(state_write_file(file, "{}", 2, err, sizeof err), ENOTDIR);
    assert_non_null(strstr(err, "create"));
    free(file);

    /* The rename step: state.json is a non-empty directory. */
    char *path = path_in(dir, STATE_FILE_NAME);
    char *inner = path_in(path, "keep");
    assert_int_equal(mkdir(path, 0700), 0);
    file_write(inner, "x", 1);
    int rc = state_write_file(dir, "{}", 2, err, sizeof err);
    assert_true(rc == EISDIR || rc == ENOTEMPTY || rc == EEXIST);
    assert_non_null(strstr(err, "rename"));
    char *tmp = path_in(dir, STATE_FILE_NAME ".tmp");
    assert_int_equal(access(tmp, F_OK), -1);     /* Cleaned up. */
    free(tmp);
    unlink(inner);
    free(inner);
    free(path);

    /* A path too long to build. */
    char *longdir = malloc(PATH_MAX + 10);
    memset(longdir, 'a', PATH_MAX + 9);
    longdir[PATH_MAX + 9] = '\0';
    assert_int_equal(state_write_file(longdir, "{}", 2, err, sizeof err), ENAMETOOLONG);
    free(longdir);

    tmpdir_remove(dir);
}

/* ---- The writer thread. ---- */

static void
wait_idle(struct state_writer *w, struct state_writer_status *st)
{
    for (int i = 0; i < 1000; i++) {
        state_writer_get_status(w, st);
        if (!st->pending) {
            return;
        }
        usleep(5000);
    }
    fail_msg("the writer never became idle");
}

static char *
snapshot(int i)
{
    char *s = malloc(64);

    snprintf(s, 64, "{\"snapshot\":%d}", i);
    return s;
}

static void
test_writer_latest_wins(void **state)
{
    char *dir = tmpdir_make();
    char *path = path_in(dir, STATE_FILE_NAME);
    struct state_writer *w;
    struct state_writer_status st;
    char *back;

    assert_int_equal(state_writer_start(&w, dir), 0);
    state_writer_get_status(w, &st);
    assert_int_equal(st.writes, 0);
    assert_false(st.pending);

    for (int i = 0; i < 200; i++) {
        char *s = snapshot(i);
        state_writer_submit(w, s, strlen(s));
    }
    wait_idle(w, &st);
    assert_true(st.writes >= 1 && st.writes <= 200);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.last_error, 0);
    assert_string_equal(st.last_error_msg, "");
    back = file_read(path);
    assert_string_equal(back, "{\"snapshot\":199}");
    free(back);

    /* Stop writes what is still pending. */
    char *s = snapshot(1000);
    state_writer_submit(w, s, strlen(s));
    state_writer_stop(w);
    back = file_read(path);
    assert_string_equal(back, "{\"snapshot\":1000}");
    free(back);

    state_writer_stop(NULL);
    state_writer_submit(NULL, snapshot(1), 10);   /* Freed, not leaked. */
    free(path);
    tmpdir_remove(dir);
}

static void
test_writer_reports_failures(void **state)
{
    char *dir = tmpdir_make();
    char *sub = path_in(dir, "state");
    char *path = path_in(sub, STATE_FILE_NAME);
    struct state_writer *w;
    struct state_writer_status st;
    char *back;

    assert_int_equal(state_writer_start(&w, "/nonexistent/ctflushd"), ENOENT);
    assert_null(w);
    char *file = path_in(dir, "plain");
    file_write(file, "x", 1);
    assert_int_equal(state_writer_start(&w, file), ENOTDIR);
    free(file);

    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(state_writer_start(&w, sub), 0);

    /* The directory goes away under the writer. */
    assert_int_equal(rmdir(sub), 0);
    char *s = snapshot(1);
    state_writer_submit(w, s, strlen(s));
    wait_idle(w, &st);
    assert_int_equal(st.writes, 0);
    assert_int_equal(st.failures, 1);
    assert_int_equal(st.last_error, ENOENT);
    assert_non_null(strstr(st.last_error_msg, "create"));

    /* And comes back: the next snapshot is written, the error cleared. */
    assert_int_equal(mkdir(sub, 0700), 0);
    s = snapshot(2);
    state_writer_submit(w, s, strlen(s));
    wait_idle(w, &st);
    assert_int_equal(st.writes, 1);
    assert_int_equal(st.failures, 1);
    assert_int_equal(st.last_error, 0);
    assert_string_equal(st.last_error_msg, "");
    back = file_read(path);
    assert_string_equal(back, "{\"snapshot\":2}");
    free(back);

    state_writer_stop(w);
    free(path);
    free(sub);
    tmpdir_remove(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_datapath_round_trip),
        cmocka_unit_test(test_serialize_empty),
        cmocka_unit_test(test_parse_ok_minimal),
        cmocka_unit_test(test_parse_bad_documents),
        cmocka_unit_test(test_parse_bad_ports),
        cmocka_unit_test(test_parse_bad_jobs),
        cmocka_unit_test(test_parse_strict_json),
        cmocka_unit_test(test_parse_large_table),
        cmocka_unit_test(test_parse_mutations),
        cmocka_unit_test(test_load_missing_and_good),
        cmocka_unit_test(test_load_corrupt),
        cmocka_unit_test(test_load_corrupt_twice_keeps_both),
        cmocka_unit_test(test_load_too_big),
        cmocka_unit_test(test_load_read_error),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_write_file_errors),
        cmocka_unit_test(test_writer_latest_wins),
        cmocka_unit_test(test_writer_reports_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
