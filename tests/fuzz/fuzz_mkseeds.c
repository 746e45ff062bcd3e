/*
 * fuzz_mkseeds: writes the seeds that only the code itself can make into
 * corpus/<target>/ of a directory: control requests as ctflushctl encodes
 * them, state documents as the daemon serialises them, external_ids inputs
 * in fuzz_extids' layout, and conntrack messages, both built by hand with
 * libmnl and (as root) dumped from the kernel in a private network
 * namespace filled through ctgen. Not a fuzzer and not run by fuzz.sh: run
 * it when a format changes, then review and commit the new seeds.
 *
 *   fuzz_mkseeds DIR          writes DIR/{ctlproto,state,json,extids,ctmsg}/mk-*
 *
 * Seeds written by hand (near-misses, odd spellings) live beside these.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctgen.h"
#include "ctlproto.h"
#include "ctmsg.h"
#include "ctsock.h"
#include "jobq.h"
#include "porttab.h"
#include "state.h"

static const char *mk_dir;

static void __attribute__((noreturn, format(printf, 1, 2)))
mk_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "fuzz_mkseeds: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void
mk_write(const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", mk_dir, target);
    if (mkdir(path, 0755) && errno != EEXIST) {
        mk_die("mkdir %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof path, "%s/%s/mk-%s", mk_dir, target, name);
    f = fopen(path, "we");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
        mk_die("write %s: %s", path, strerror(errno));
    }
}

static void
mk_prefixes(struct ctf_prefix_list *l, const char *text)
{
    char err[128];

    if (ctf_prefix_list_parse(l, text, err, sizeof err)) {
        mk_die("bad prefix list '%s': %s", text, err);
    }
}

/* ---- Control requests, as a client encodes them. ---- */

/* A few of the requests and state documents double as JSON seeds. */
static bool
mk_json_too(const char *name)
{
    return !strcmp(name, "flush-peers-mark-wait") || !strcmp(name, "set-ips")
           || !strcmp(name, "ports-jobs.json");
}

static void
mk_request(const char *name, const struct ctlproto_request *req)
{
    struct json_out o;

    json_init(&o);
    ctlproto_request_encode(req, &o);
    if (!json_text(&o)) {
        mk_die("encode %s: out of memory", name);
    }
    mk_write("ctlproto", name, o.buf, o.len);
    if (mk_json_too(name)) {
        mk_write("json", name, o.buf, o.len);
    }
    json_destroy(&o);
}

static void
mk_ctlproto(void)
{
    static const enum ctl_cmd plain[] = {
        CTL_CMD_STATUS, CTL_CMD_PORTS, CTL_CMD_RESUME, CTL_CMD_METRICS, CTL_CMD_RELOAD,
    };
    struct ctlproto_request req;

    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        ctlproto_request_init(&req);
        req.cmd = plain[i];
        mk_request(ctlproto_cmd_name(plain[i]), &req);
        ctlproto_request_destroy(&req);
    }

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_JOBS;
    req.limit = 5;
    mk_request("jobs", &req);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_FLUSH;
    mk_prefixes(&req.job.local, "10.16.0.5,fd00:10:16::5");
    req.job.peers_any = true;
    req.job.has_zone = true;
    req.job.zone = 3;
    mk_request("flush-local-zone", &req);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_FLUSH;
    mk_prefixes(&req.job.local, "10.0.0.0/24,192.168.1.7");
    mk_prefixes(&req.job.peers, "172.16.0.0/12,2001:db8::/32");
    req.job.has_mark = true;
    req.job.mark = 0x10;
    req.job.mark_mask = 0xf0;
    req.wait = true;
    mk_request("flush-peers-mark-wait", &req);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_FLUSH;
    req.job.local_any = true;
    req.job.peers_any = true;
    req.job.has_zone = true;
    req.job.zone = 7;
    mk_request("flush-whole-zone", &req);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_CANCEL;
    req.id = 42;
    mk_request("cancel", &req);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_PAUSE;
    req.now = true;
    mk_request("pause-now", &req);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_SET_IPS;
    req.port = strdup("tap0a1b2c3d-4e");
    mk_prefixes(&req.ips, "10.16.0.5,fd00:10:16::5");
    mk_request("set-ips", &req);
    ctlproto_request_destroy(&req);

    ctlproto_request_init(&req);
    req.cmd = CTL_CMD_SET_IPS;
    req.port = strdup("vnet3");
    mk_request("set-ips-clear", &req);
    ctlproto_request_destroy(&req);
}

/* ---- State documents, as the daemon writes them. ---- */

static void
mk_port(struct porttab *tab, const char *name, const char *iface_id, const char *ips,
        int zone, enum port_zone_source zsrc, int64_t ofport)
{
    struct porttab_change change;
    struct port_info pi;

    port_info_init(&pi);
    pi.name = strdup(name);
    pi.iface_id = iface_id ? strdup(iface_id) : NULL;
    pi.bridge = strdup("br-int");
    pi.ofport = ofport;
    if (ips) {
        mk_prefixes(&pi.ips, ips);
        pi.ip_source = PORT_IP_INTERFACE;
    }
    if (zone >= 0) {
        pi.has_zone = true;
        pi.zone = (uint16_t) zone;
        pi.zone_source = zsrc;
    }
    if (porttab_update(tab, &pi, &change)) {
        mk_die("porttab_update %s failed", name);
    }
    port_info_destroy(&change.old);
    port_info_destroy(&pi);
}

static void
mk_job(struct jobq *q, enum job_origin origin, const char *local, const char *peers,
       int zone, const char *const *ports, size_t n_ports)
{
    struct flush_job job;
    char err[192];
    uint64_t id;
    bool merged;

    flush_job_init(&job);
    if (flush_job_parse_side(&job.local, &job.local_any, local, err, sizeof err)
        || flush_job_parse_side(&job.peers, &job.peers_any, peers, err, sizeof err)) {
        mk_die("bad job side: %s", err);
    }
    if (zone >= 0) {
        job.has_zone = true;
        job.zone = (uint16_t) zone;
    }
    if (jobq_add(q, origin, &job, ports, n_ports, 1700000000.25, &id, &merged,
                 err, sizeof err)) {
        mk_die("jobq_add: %s", err);
    }
    flush_job_destroy(&job);
}

static void
mk_state_write(const char *name, const struct porttab *tab, const struct jobq *q)
{
    struct json_out o;

    json_init(&o);
    state_serialize(tab, q, &o);
    if (!json_text(&o)) {
        mk_die("serialise %s: out of memory", name);
    }
    mk_write("state", name, o.buf, o.len);
    if (mk_json_too(name)) {
        mk_write("json", name, o.buf, o.len);
    }
    json_destroy(&o);
}

static void
mk_state(void)
{
    static const char *const gone[] = { "tap-gone1", "tap-gone2" };
    static const char *const added[] = { "tap0a1b2c3d-4e" };
    struct jobq_limits limits;
    struct porttab tab;
    struct jobq q;

    jobq_limits_default(&limits);

    porttab_init(&tab);
    jobq_init(&q, &limits);
    mk_state_write("empty.json", &tab, &q);

    mk_port(&tab, "tap0a1b2c3d-4e", "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
            "10.16.0.5,fd00:10:16::5", 12, PORT_ZONE_OVN, 3);
    mk_port(&tab, "vnet3", NULL, "192.168.122.50", -1, PORT_ZONE_NONE, 7);
    mk_port(&tab, "qvo1234", "1234", NULL, 4, PORT_ZONE_VLAN_TAG, -1);
    {
        struct ctf_prefix_list ips = { 0 };
        struct porttab_control pc = { .ips = &ips };
        struct porttab_change change;

        mk_prefixes(&ips, "10.0.0.9,2001:db8::9");
        if (porttab_set_control(&tab, "vnet3", &pc, &change)) {
            mk_die("porttab_set_control failed");
        }
        port_info_destroy(&change.old);
        if (porttab_set_control(&tab, "tap-not-yet", &pc, &change)) {
            mk_die("porttab_set_control failed");
        }
        port_info_destroy(&change.old);
        ctf_prefix_list_destroy(&ips);
    }
    mk_state_write("ports.json", &tab, &q);

    mk_job(&q, JOB_ORIGIN_PORT_REMOVE, "10.16.0.7,fd00:10:16::7", "any", 12, gone, 2);
    mk_job(&q, JOB_ORIGIN_PORT_ADD, "10.16.0.5", "any", -1, added, 1);
    mk_job(&q, JOB_ORIGIN_MANUAL, "10.0.0.0/24", "172.16.0.0/12,2001:db8::/32", -1,
           NULL, 0);
    mk_job(&q, JOB_ORIGIN_MANUAL, "any", "any", 7, NULL, 0);
    mk_state_write("ports-jobs.json", &tab, &q);

    jobq_destroy(&q);
    porttab_destroy(&tab);
}

/* ---- external_ids, in fuzz_extids' layout. ---- */

static void
mk_extids_one(const char *name, uint8_t flags, uint8_t badlen, int64_t tag,
              const char *const *records, size_t n)
{
    char buf[1024];
    size_t len = 0;

    buf[len++] = (char) flags;
    buf[len++] = (char) badlen;
    for (int i = 0; i < 8; i++) {
        buf[len++] = (char) (((uint64_t) tag >> (8 * i)) & 0xff);
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(records[i]);
        if (len + k + 1 > sizeof buf) {
            mk_die("extids seed %s too long", name);
        }
        memcpy(buf + len, records[i], k);
        len += k;
        if (i + 1 < n) {
            buf[len++] = '\0';
        }
    }
    mk_write("extids", name, buf, len);
}

static void
mk_extids(void)
{
    static const char *const kubeovn[] = {
        "10.16.0.5,fd00:10:16::5", "",
        "iip=10.16.0.5,fd00:10:16::5", "iiface-id=pod1.default",
        "ipod_name=pod1", "pip-address=10.16.0.5",
    };
    static const char *const antrea[] = {
        "10.0.0.5/24", "",
        "pip-address=10.0.0.5/24,fd00::5/64", "icontainer-id=abc",
    };
    static const char *const ovn[] = {
        "7", "lsp-1",
        "bct-zone-lsp-1=7", "bct-zone-lsp-1_dnat=8", "bct-zone-other=9",
        "iiface-id=lsp-1", "iip=10.1.0.3",
    };
    static const char *const zonekey[] = {
        "65535", "vm-7",
        "izone=70000", "pzone=42", "iip=10.0.0.1 10.0.0.2\t10.0.0.1",
    };
    static const char *const bad[] = {
        "10.0.0.300, 224.0.0.1,0.0.0.0, ::, ff02::1, 10.0.0.5/33", "x",
        "iip=bogus,,10.9.9.9", "pip-address=fe80::1%eth0", "bct-zone-x=-1",
    };

    mk_extids_one("kubeovn", 0x00, 63, -1, kubeovn, sizeof kubeovn / sizeof *kubeovn);
    mk_extids_one("antrea", 0x08, 16, -1, antrea, sizeof antrea / sizeof *antrea);
    mk_extids_one("ovn", 0x02, 63, 5, ovn, sizeof ovn / sizeof *ovn);
    mk_extids_one("zone-key", 0x03, 10, 100, zonekey, sizeof zonekey / sizeof *zonekey);
    mk_extids_one("vlan-tag", 0x01, 63, 4094, zonekey, 2);
    mk_extids_one("bad", 0x23, 7, 70000, bad, sizeof bad / sizeof *bad);
}

/* ---- Conntrack messages. ---- */

/* Writes a message without its netlink header: fuzz_ctmsg adds its own. */
static void
mk_ctmsg_write(const char *name, const struct nlmsghdr *nlh)
{
    mk_write("ctmsg", name, (const char *) nlh + NLMSG_HDRLEN,
             nlh->nlmsg_len - NLMSG_HDRLEN);
}

static void
mk_put_tuple(struct nlmsghdr *nlh, uint16_t type, int family, const void *src,
             const void *dst, uint8_t proto, uint16_t sport, uint16_t dport)
{
    size_t alen = family == AF_INET ? 4 : 16;
    struct nlattr *tuple = mnl_attr_nest_start(nlh, type);
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);

    mnl_attr_put(nlh, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, alen, src);
    mnl_attr_put(nlh, family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen, dst);
    mnl_attr_nest_end(nlh, ip);
    struct nlattr *proto_nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
    mnl_attr_nest_end(nlh, proto_nest);
    mnl_attr_nest_end(nlh, tuple);
}

static void
mk_ctmsg_built(void)
{
    char buf[512];
    struct nlmsghdr *nlh;
    struct nfgenmsg *nfg;
    union ctf_inaddr a, b, c;

    /* v4 TCP, DNAT'd: the reply comes from the fixed IP; zone, mark, id. */
    memset(buf, 0, sizeof buf);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    nlh->nlmsg_flags = NLM_F_MULTI;
    nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = AF_INET;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    inet_pton(AF_INET, "198.51.100.7", &a.v4);
    inet_pton(AF_INET, "203.0.113.10", &b.v4);
    inet_pton(AF_INET, "10.16.0.5", &c.v4);
    mk_put_tuple(nlh, CTA_TUPLE_ORIG, AF_INET, &a, &b, IPPROTO_TCP, 40000, 443);
    mk_put_tuple(nlh, CTA_TUPLE_REPLY, AF_INET, &c, &a, IPPROTO_TCP, 443, 40000);
    mnl_attr_put_u32(nlh, CTA_STATUS, htonl(0x1be));
    mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(431999));
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(0x10));
    mnl_attr_put_u16(nlh, CTA_ZONE, htons(12));
    mnl_attr_put_u32(nlh, CTA_ID, htonl(0x12345678));
    mk_ctmsg_write("built-v4-dnat", nlh);

    /* v6 UDP without a reply tuple (the parser allows it). */
    memset(buf, 0, sizeof buf);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = AF_INET6;
    inet_pton(AF_INET6, "fd00:10:16::5", &a.v6);
    inet_pton(AF_INET6, "2001:db8::53", &b.v6);
    mk_put_tuple(nlh, CTA_TUPLE_ORIG, AF_INET6, &a, &b, IPPROTO_UDP, 5353, 53);
    mnl_attr_put_u32(nlh, CTA_ID, htonl(7));
    mk_ctmsg_write("built-v6-noreply", nlh);

    /* Near miss: an original tuple too long to copy into a delete request
     * (an attribute the parser does not know pads it out). */
    memset(buf, 0, sizeof buf);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = AF_INET6;
    struct nlattr *tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, &a);
    mnl_attr_put(nlh, CTA_IP_V6_DST, 16, &b);
    mnl_attr_nest_end(nlh, ip);
    char pad[160];
    memset(pad, 0xab, sizeof pad);
    mnl_attr_put(nlh, CTA_TUPLE_ZONE + 1, sizeof pad, pad);
    mnl_attr_nest_end(nlh, tuple);
    mk_ctmsg_write("near-v6-orig-too-long", nlh);
}

struct mk_dump {
    char seen[8][48];           /* Names written so far. */
    unsigned int n;
};

/* Keeps one message per kind of entry, named after the kind. */
static int
mk_dump_cb(const void *msg, size_t len, void *aux)
{
    struct mk_dump *d = aux;
    struct ct_entry e;
    char name[48];
    bool nat;

    if (ctmsg_parse_entry(msg, len, &e)) {
        mk_die("the kernel sent an entry ctmsg_parse_entry refuses");
    }
    nat = e.has_reply && memcmp(&e.reply.src, &e.orig.dst, sizeof e.reply.src);
    snprintf(name, sizeof name, "kernel-%s-%s%s%s", e.family == AF_INET ? "v4" : "v6",
             e.l4proto == IPPROTO_TCP ? "tcp" : "udp", e.zone ? "-zone" : "",
             nat ? "-nat" : "");
    for (unsigned int i = 0; i < d->n; i++) {
        if (!strcmp(d->seen[i], name)) {
            return 0;
        }
    }
    if (d->n < sizeof d->seen / sizeof d->seen[0]) {
        snprintf(d->seen[d->n++], sizeof d->seen[0], "%s", name);
        mk_ctmsg_write(name, msg);
    }
    return 0;
}

/* Real dump messages: a private namespace, a few entries, one dump. */
static void
mk_ctmsg_kernel(void)
{
    struct ctgen_entry ents[5];
    struct ctgen_stats st;
    struct mk_dump d = { 0 };
    struct ctsock sock;
    char req[CTMSG_MAX_LEN];
    size_t n;
    int err;

    if (unshare(CLONE_NEWNET)) {
        fprintf(stderr, "fuzz_mkseeds: no private namespace (%s): "
                "skipping the kernel's messages\n", strerror(errno));
        return;
    }
    memset(ents, 0, sizeof ents);
    for (int i = 0; i < 5; i++) {
        ents[i].family = AF_INET;
        ents[i].l4proto = i % 2 ? IPPROTO_UDP : IPPROTO_TCP;
        ents[i].sport = (uint16_t) (40000 + i);
        ents[i].dport = 443;
        inet_pton(AF_INET, "10.16.0.5", &ents[i].orig_src.v4);
        inet_pton(AF_INET, "198.51.100.7", &ents[i].orig_dst.v4);
    }
    ents[1].zone = 12;
    ents[1].mark = 0x10;
    ents[2].nat = 1;
    inet_pton(AF_INET, "203.0.113.10", &ents[2].orig_dst.v4);
    inet_pton(AF_INET, "10.16.0.9", &ents[2].reply_src.v4);
    ents[2].reply_dst = ents[2].orig_src;
    for (int i = 3; i < 5; i++) {
        ents[i].family = AF_INET6;
        memset(&ents[i].orig_src, 0, sizeof ents[i].orig_src);
        memset(&ents[i].orig_dst, 0, sizeof ents[i].orig_dst);
        inet_pton(AF_INET6, "fd00:10:16::5", &ents[i].orig_src.v6);
        inet_pton(AF_INET6, "2001:db8::53", &ents[i].orig_dst.v6);
    }
    ents[4].zone = 3;

    err = ctsock_open(&sock, 0);
    if (err) {
        fprintf(stderr, "fuzz_mkseeds: no ctnetlink socket (%s): "
                "skipping the kernel's messages\n", strerror(err));
        return;
    }
    err = ctgen_insert(&sock, ents, sizeof ents / sizeof ents[0], &st);
    if (err) {
        mk_die("ctgen_insert: %s", strerror(err));
    }
    n = ctmsg_build_dump(req, sizeof req, ctsock_next_seq(&sock), AF_UNSPEC, NULL, NULL,
                         NULL);
    err = ctsock_dump(&sock, req, n, mk_dump_cb, &d);
    if (err) {
        mk_die("dump: %s", strerror(err));
    }
    ctsock_close(&sock);
    if (!d.n) {
        mk_die("the dump returned no entries");
    }
    printf("fuzz_mkseeds: %u messages from the kernel\n", d.n);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_mkseeds DIR\n");
        return 2;
    }
    mk_dir = argv[1];
    mk_ctlproto();
    mk_state();
    mk_extids();
    mk_ctmsg_built();
    mk_ctmsg_kernel();
    return 0;
}
