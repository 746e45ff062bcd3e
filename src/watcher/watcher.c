/*
 * watcher.c: the OVSDB watcher child (see watcher.h).  The only file that
 * uses libopenvswitch: an IDL replica of three tables, turned into
 * port_info messages for the parent.
 *
 * What it replicates.  Interface(name, external_ids, ofport), Port(name,
 * tag, external_ids, interfaces) and Bridge(name, external_ids, ports,
 * datapath_type: which conntrack table the bridge's ports use), each
 * with change tracking, and nothing else: on a host with 10k ports every
 * replicated column costs memory and update traffic.
 *
 * Ports and what they are made of.  A port is an Interface row with a name.
 * Its IPs and zone also depend on its Port row (Antrea's ip-address, the
 * VLAN tag) and on its Bridge row (OVN's ct-zone-<iface-id>), and OVSDB has
 * no column pointing from an Interface to its Port or from a Port to its
 * Bridge.  Walking every Bridge and Port to find them would make each change
 * cost O(ports), so the watcher keeps the two reverse maps itself (by row
 * UUID), fed from the same tracked changes.
 *
 * How a change is found without rescanning.  From the tracked rows of one
 * ovsdb_idl_run():
 *  - an Interface inserted or modified is re-evaluated; one deleted is GONE;
 *  - a Port inserted or modified re-evaluates its interfaces (usually one);
 *  - a Bridge modified is looked at column by column.  Its 'ports' change on
 *    every add-port, and with OVN its external_ids change on every add-port
 *    too (ovn-controller writes the new ct-zone key), so re-evaluating all
 *    of its interfaces each time would be the O(N^2) trap.  Instead one pass
 *    over its ports does two O(1) checks per port: did this Port just move
 *    to this bridge (reverse map), and did the one ct-zone key this port
 *    uses change (compared with the value its last message was built from).
 *    Only ports that fail a check are re-evaluated.  The pass is O(ports of
 *    the bridge) per run, not per event, and cheaper than what the IDL
 *    itself does for the same update (it re-parses the whole 'ports' set and
 *    external_ids map of the row).
 * A re-evaluated port is sent only if its port_info differs from the one
 * last sent, which the watcher keeps by name.
 *
 * Connections, initial load and reloads in the OVS 3.1 IDL.  Read from
 * lib/ovsdb-idl.c, lib/ovsdb-cs.c and lib/jsonrpc.c:
 *  - ovsdb_idl_is_connected() is the jsonrpc session's state: true from the
 *    moment the socket is up, before the schema and monitor requests are
 *    answered, so it does not mean "the replica is loaded".
 *  - ovsdb_idl_get_seqno() changes whenever the replica changes, and always
 *    when a monitor reply (the initial load after every connect) is
 *    processed ("if (update->monitor_reply) idl->change_seqno++").  Nothing
 *    else moves it on a connection that has not been answered yet: we hold
 *    no lock (OVSDB_CS_EVENT_TYPE_LOCKED) and run no transactions.
 *    ovsdb_idl_has_ever_connected() is just "seqno != 0", i.e. the first
 *    load only, so it cannot see reloads.
 *  - The reconnect itself (OVSDB_CS_EVENT_TYPE_RECONNECT, driven by the
 *    session's connection seqno) is consumed inside ovsdb_idl_run() and not
 *    exposed.  But a dropped client session only gets a new connection in a
 *    later jsonrpc_session_run() than the one that dropped it (the new
 *    stream is opened, then completes on a following run), so after the
 *    ovsdb_idl_run() that saw the drop, ovsdb_idl_is_connected() is false.
 *    Checking it after every run therefore never misses a reconnect.
 *  - On the new connection the IDL asks for monitor_cond_since with the last
 *    transaction id.  If the server still has that history (found=true; a
 *    clustered or relay database, 3.1 keeps none for a standalone one like
 *    vswitchd's) the reply is a delta, and rows deleted meanwhile come as
 *    real deletions.  If not, the reply has clear=true: ovsdb_idl_clear()
 *    destroys every row and flushes their tracked deletions, and every row
 *    comes back as a tracked insert.
 *    Either way the tracked changes of that run are not a trustworthy delta
 *    of what the parent knows.
 * So: whenever a run ends disconnected, the watcher marks itself unsynced
 * and remembers the seqno; the first run that ends connected with a
 * different seqno has processed the monitor reply.  For that run the
 * tracked changes are ignored and a full snapshot is sent instead
 * (SYNC_BEGIN, PORT for each port, SYNC_END), which also replaces the map
 * of what was sent.  Deletions seen while reloading are never reported as
 * PORT_GONE: the parent finds ports that really went away by diffing the
 * snapshot against its table.  As a second line of defence, a tracked
 * insert of an Interface row whose UUID the watcher already holds can only
 * come from a reload it did not see, and also triggers a snapshot.
 *
 * OVS's own logging.  libopenvswitch logs through vlog, with its own line
 * format, and its INFO lines on every reconnect attempt would flood the
 * journal while ovsdb-server is down.  The console (stderr, which journald
 * reads) keeps WARN and above, prefixed "<4>" like ours so that journald
 * files them as warnings; syslog is off, as stderr already reaches the
 * journal and a second copy through /dev/log would double every line.
 * Connection state reaches the parent as STATUS, which it logs.  STATUS
 * carries ovsdb_idl_get_last_error() as OVS keeps it: the last error seen,
 * still reported after a successful reconnect ("last", not "current").
 */

/* OVS's config.h comes first: OVS headers choose atomics and struct layouts
 * from its HAVE_* macros, which must match how libopenvswitch.a was built.
 * It is named through its parent directory because a plain <config.h>
 * would resolve to ctflushd's own src/parent/config.h wherever that folder
 * is on the include path (-I directories are searched before OVS's -isystem
 * ones); the check below catches either mistake. */
#include <../config.h>
#if !defined(PACKAGE_NAME) || !defined(HAVE_STDATOMIC_H) || defined(CTF_CONFIG_H)
#error "watcher.c must see Open vSwitch's config.h before anything else"
#endif

#include "watcher.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hash.h"
#include "hmapx.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "smap.h"
#include "timeval.h"
#include "util.h"
#include "uuid.h"
#include "vswitch-idl.h"

#include "extids.h"
#include "log.h"
#include "portinfo.h"
#include "wire.h"

/* OVN's key in the integration bridge's external_ids (see extids.c). */
#define WATCHER_OVN_ZONE_PREFIX "ct-zone-"

#define WATCHER_HEARTBEAT_DEFAULT_MS 1000
/* After the server refused to serve the database (wrong schema, say), how
 * long to wait before asking again: the IDL does not retry that by itself. */
#define WATCHER_RETRY_MS 5000

/* Garbage in external_ids: one line per port per new value, and a bound on
 * lines per second for a flood of them. */
static struct log_ratelimit watcher_rl = LOG_RATELIMIT_INIT(20);

/* An external_ids smap, flattened for extids.c into arrays reused between
 * calls. */
struct watcher_kv {
    const char **keys;
    const char **values;
    size_t cap;
};

/* A port as last sent to the parent. */
struct watcher_port {
    struct hmap_node node;          /* In watcher.ports, by hash_string(name). */
    struct uuid uuid;               /* The Interface row it was built from. */
    struct port_info info;          /* Exactly what the parent was told. */
    char *ovn_zone;                 /* The bridge's ct-zone-<iface-id> value
                                     * it was built from, or NULL. */
    char *bad;                      /* Garbage last logged for it, or NULL. */
};

/* One edge of a reverse map: row 'from' is referenced by row 'to'. */
struct watcher_ref {
    struct hmap_node node;          /* By uuid_hash(&from). */
    struct uuid from;
    struct uuid to;
};

struct watcher {
    const struct watcher_config *cfg;
    int fd;                         /* The channel to the parent. */
    struct ovsdb_idl *idl;

    struct hmap ports;              /* struct watcher_port: what was sent. */
    struct hmap sync_ports;         /* The same, while a snapshot is built. */
    struct hmap iface_port;         /* struct watcher_ref: Interface -> Port. */
    struct hmap port_bridge;        /* struct watcher_ref: Port -> Bridge. */
    struct hmapx dirty;             /* Interface rows to re-evaluate now. */

    bool need_sync;                 /* The replica is (being) reloaded: the
                                     * next load is sent as a snapshot. */
    unsigned int sync_seqno;        /* IDL seqno while last disconnected. */

    bool status_sent;               /* At least one STATUS went out. */
    bool status_connected;          /* The last STATUS's 'connected'. */
    char *status_error;             /* The last STATUS's 'last_error'. */
    long long int next_status;      /* Heartbeat deadline (OVS time_msec). */
    long long int retry_at;         /* Reconnect after a refusal, or 0. */

    struct ds key;                  /* Scratch: "ct-zone-<iface-id>". */
    struct watcher_kv iface_kv;     /* Scratch: an Interface's external_ids. */
    struct watcher_kv port_kv;      /* Scratch: a Port's external_ids. */
};

static void watcher_exit(struct watcher *, int status) __attribute__((noreturn));

/* ---- Small helpers. ---- */

static bool
watcher_streq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static void
watcher_map_from_smap(struct watcher_kv *kv, const struct smap *smap,
                      struct extids_map *out)
{
    const struct smap_node *node;
    size_t n = smap_count(smap);
    size_t i = 0;

    if (n > kv->cap) {
        kv->keys = xrealloc(kv->keys, n * sizeof *kv->keys);
        kv->values = xrealloc(kv->values, n * sizeof *kv->values);
        kv->cap = n;
    }
    SMAP_FOR_EACH (node, smap) {
        kv->keys[i] = node->key;
        kv->values[i] = node->value;
        i++;
    }
    out->keys = kv->keys;
    out->values = kv->values;
    out->n = i;
}

static void
watcher_kv_destroy(struct watcher_kv *kv)
{
    free(kv->keys);
    free(kv->values);
    memset(kv, 0, sizeof *kv);
}

/* ---- Reverse maps. ---- */

static struct watcher_ref *
watcher_ref_find(const struct hmap *map, const struct uuid *from)
{
    struct watcher_ref *ref;

    HMAP_FOR_EACH_WITH_HASH (ref, node, uuid_hash(from), map) {
        if (uuid_equals(&ref->from, from)) {
            return ref;
        }
    }
    return NULL;
}

/* Records from -> to; true if that is news (a new or moved row). */
static bool
watcher_ref_set(struct hmap *map, const struct uuid *from, const struct uuid *to)
{
    struct watcher_ref *ref = watcher_ref_find(map, from);

    if (ref) {
        if (uuid_equals(&ref->to, to)) {
            return false;
        }
        ref->to = *to;
        return true;
    }
    ref = xmalloc(sizeof *ref);
    ref->from = *from;
    ref->to = *to;
    hmap_insert(map, &ref->node, uuid_hash(from));
    return true;
}

static void
watcher_ref_del(struct hmap *map, const struct uuid *from)
{
    struct watcher_ref *ref = watcher_ref_find(map, from);

    if (ref) {
        hmap_remove(map, &ref->node);
        free(ref);
    }
}

static void
watcher_refs_clear(struct hmap *map)
{
    struct watcher_ref *ref;

    HMAP_FOR_EACH_POP (ref, node, map) {
        free(ref);
    }
}

/* The Port row holding 'iface', checked against the row itself: the map
 * may name a Port that has just been deleted or emptied. */
static const struct ovsrec_port *
watcher_port_of(const struct watcher *w, const struct ovsrec_interface *iface)
{
    const struct watcher_ref *ref = watcher_ref_find(&w->iface_port, &iface->header_.uuid);
    const struct ovsrec_port *port;

    port = ref ? ovsrec_port_get_for_uuid(w->idl, &ref->to) : NULL;
    if (!port || ovsrec_port_is_deleted(port)) {
        return NULL;
    }
    for (size_t i = 0; i < port->n_interfaces; i++) {
        if (port->interfaces[i] == iface) {
            return port;
        }
    }
    return NULL;
}

/* The Bridge row holding 'port'.  Not checked against the bridge's 'ports'
 * (that is O(ports)); the map is right because every change to a bridge's
 * 'ports' passes through watcher_bridge_changed(). */
static const struct ovsrec_bridge *
watcher_bridge_of(const struct watcher *w, const struct ovsrec_port *port)
{
    const struct watcher_ref *ref = watcher_ref_find(&w->port_bridge, &port->header_.uuid);
    const struct ovsrec_bridge *br;

    br = ref ? ovsrec_bridge_get_for_uuid(w->idl, &ref->to) : NULL;
    if (!br || ovsrec_bridge_is_deleted(br) || !br->name) {
        return NULL;
    }
    return br;
}

/* Rebuilds both reverse maps from the whole replica, for a snapshot. */
static void
watcher_refs_rebuild(struct watcher *w)
{
    const struct ovsrec_bridge *br;
    const struct ovsrec_port *port;

    watcher_refs_clear(&w->iface_port);
    watcher_refs_clear(&w->port_bridge);
    OVSREC_BRIDGE_FOR_EACH (br, w->idl) {
        for (size_t i = 0; i < br->n_ports; i++) {
            watcher_ref_set(&w->port_bridge, &br->ports[i]->header_.uuid, &br->header_.uuid);
        }
    }
    OVSREC_PORT_FOR_EACH (port, w->idl) {
        for (size_t i = 0; i < port->n_interfaces; i++) {
            watcher_ref_set(&w->iface_port, &port->interfaces[i]->header_.uuid,
                            &port->header_.uuid);
        }
    }
}

/* ---- Ports as sent. ---- */

static struct watcher_port *
watcher_port_find(const struct hmap *map, const char *name)
{
    struct watcher_port *wp;

    HMAP_FOR_EACH_WITH_HASH (wp, node, hash_string(name, 0), map) {
        if (!strcmp(wp->info.name, name)) {
            return wp;
        }
    }
    return NULL;
}

static void
watcher_port_free(struct watcher_port *wp)
{
    if (wp) {
        port_info_destroy(&wp->info);
        free(wp->ovn_zone);
        free(wp->bad);
        free(wp);
    }
}

static void
watcher_ports_clear(struct hmap *map)
{
    struct watcher_port *wp;

    HMAP_FOR_EACH_POP (wp, node, map) {
        watcher_port_free(wp);
    }
}

/* Everything the parent sees, so that any difference is sent (the order of
 * IPs too: a reordered list is rare and a redundant PORT is harmless). */
static bool
watcher_info_equal(const struct port_info *a, const struct port_info *b)
{
    return (watcher_streq(a->name, b->name)
            && watcher_streq(a->iface_id, b->iface_id)
            && watcher_streq(a->bridge, b->bridge)
            && a->ofport == b->ofport
            && a->ip_source == b->ip_source
            && a->has_zone == b->has_zone
            && a->zone == b->zone
            && a->zone_source == b->zone_source
            && a->datapath == b->datapath
            && ctf_prefix_list_equal(&a->ips, &b->ips));
}

/* The current value of the one ct-zone key 'iface_id' uses, in 'br'. */
static const char *
watcher_ovn_zone_get(struct watcher *w, const struct ovsrec_bridge *br, const char *iface_id)
{
    if (!br || !iface_id) {
        return NULL;
    }
    ds_clear(&w->key);
    ds_put_cstr(&w->key, WATCHER_OVN_ZONE_PREFIX);
    ds_put_cstr(&w->key, iface_id);
    return smap_get(&br->external_ids, ds_cstr(&w->key));
}

/* Builds a fresh watcher_port for 'iface' from the replica. */
static struct watcher_port *
watcher_port_build(struct watcher *w, const struct ovsrec_interface *iface)
{
    const struct ovsrec_port *port = watcher_port_of(w, iface);
    const struct ovsrec_bridge *br = port ? watcher_bridge_of(w, port) : NULL;
    const char *iface_id = smap_get(&iface->external_ids, "iface-id");
    struct watcher_port *wp = xzalloc(sizeof *wp);
    struct port_info *info = &wp->info;
    struct extids_map imap, pmap;
    const char *bkey[1], *bvalue[1];
    struct extids_map bmap = { bkey, bvalue, 0 };
    char ipbad[128], zonebad[128];

    wp->uuid = iface->header_.uuid;
    port_info_init(info);
    info->name = xstrdup(iface->name);
    info->iface_id = iface_id && *iface_id ? xstrdup(iface_id) : NULL;
    info->bridge = br ? xstrdup(br->name) : NULL;
    /* Which conntrack table the port's traffic is tracked in: the bridge's
     * datapath decides (a netdev bridge's is inside ovs-vswitchd). */
    info->datapath = flush_datapath_from_ovs_type(br ? br->datapath_type : NULL);
    info->ofport = iface->n_ofport ? iface->ofport[0] : -1;

    watcher_map_from_smap(&w->iface_kv, &iface->external_ids, &imap);
    if (port) {
        watcher_map_from_smap(&w->port_kv, &port->external_ids, &pmap);
    }
    /* The bridge's map can hold a key per port on the host: hand extids.c
     * just the one key this port can use instead of flattening it all. */
    const char *ovn = watcher_ovn_zone_get(w, br, info->iface_id);
    if (ovn) {
        bkey[0] = ds_cstr(&w->key);
        bvalue[0] = ovn;
        bmap.n = 1;
        wp->ovn_zone = xstrdup(ovn);
    }

    size_t n_bad = extids_port_ips(&w->cfg->rules, &imap, port ? &pmap : NULL, info,
                                   ipbad, sizeof ipbad);
    int zone_err = extids_port_zone(&w->cfg->rules, br ? &bmap : NULL, &imap,
                                    port ? &pmap : NULL,
                                    port && port->n_tag ? port->tag[0] : -1, info,
                                    zonebad, sizeof zonebad);
    if (n_bad || zone_err) {
        wp->bad = xasprintf("%s%s%s", n_bad ? ipbad : "", n_bad && zone_err ? ", " : "",
                            zone_err ? zonebad : "");
    }
    return wp;
}

/* Logs the garbage in 'fresh' unless 'old' already had the same (a resync
 * or an ofport change would repeat it otherwise). */
static void
watcher_log_bad(const struct watcher_port *old, const struct watcher_port *fresh)
{
    if (fresh->bad && !(old && watcher_streq(old->bad, fresh->bad))
        && log_ratelimit_ok(&watcher_rl)) {
        log_warnx("port %s: skipping bad external_ids value: %s", fresh->info.name,
                  fresh->bad);
    }
}

/* ---- The channel. ---- */

static void
watcher_send(struct watcher *w, enum wire_type type, const struct wbuf *payload)
{
    int err = wire_send(w->fd, type, payload);

    if (err == EPIPE || err == ECONNRESET || err == ENOTCONN) {
        /* The parent is gone or closed the channel: nobody to work for. */
        watcher_exit(w, 0);
    } else if (err) {
        log_warnx("OVSDB watcher: cannot write to the parent: %s", strerror(err));
        watcher_exit(w, 1);
    }
}

static void
watcher_send_port(struct watcher *w, enum wire_type type, const struct port_info *info)
{
    struct wbuf b;

    wbuf_init(&b);
    wbuf_put_port_info(&b, info);
    watcher_send(w, type, &b);
    wbuf_destroy(&b);
}

static void
watcher_send_status(struct watcher *w, bool connected, const char *error)
{
    struct wbuf b;

    wbuf_init(&b);
    wbuf_put_u8(&b, connected);
    wbuf_put_str(&b, w->cfg->remote);
    wbuf_put_str(&b, error);
    watcher_send(w, WIRE_W_STATUS, &b);
    wbuf_destroy(&b);

    w->status_sent = true;
    w->status_connected = connected;
    if (!watcher_streq(w->status_error, error)) {
        free(w->status_error);
        w->status_error = xstrdup(error);
    }
    w->next_status = time_msec() + (w->cfg->heartbeat_ms
                                    ? w->cfg->heartbeat_ms : WATCHER_HEARTBEAT_DEFAULT_MS);
}

/* STATUS when the state changed, or as the heartbeat when it is due.
 * 'connected' means "the replica is live": connected and loaded, so the
 * parent sees connected=1 only after the snapshot that follows a connect. */
static void
watcher_report(struct watcher *w)
{
    bool connected = ovsdb_idl_is_connected(w->idl) && !w->need_sync;
    const char *error = ovs_retval_to_string(ovsdb_idl_get_last_error(w->idl));

    if (!w->status_sent || connected != w->status_connected
        || !watcher_streq(error, w->status_error) || time_msec() >= w->next_status) {
        watcher_send_status(w, connected, error);
    }
}

/* True once the parent has closed its end.  Nothing is expected from the
 * parent on this channel; stray bytes are read and dropped so that the
 * descriptor does not stay readable and spin the loop. */
static bool
watcher_parent_gone(struct watcher *w)
{
    struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
    char buf[512];

    if (poll(&pfd, 1, 0) <= 0) {
        return false;
    }
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) {
        return true;
    }
    if (pfd.revents & POLLIN) {
        ssize_t n = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);

        if (n == 0) {
            return true;
        } else if (n < 0) {
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
        }
        if (log_ratelimit_ok(&watcher_rl)) {
            log_warnx("OVSDB watcher: ignoring %zd unexpected byte(s) from the parent", n);
        }
    }
    return false;
}

/* ---- Snapshots and changes. ---- */

/* Sends every present port between SYNC_BEGIN and SYNC_END and makes that
 * the map of what was sent.  Nothing is ever GONE here: the parent diffs. */
static void
watcher_sync(struct watcher *w)
{
    const struct ovsrec_interface *iface;
    size_t n = 0;

    watcher_refs_rebuild(w);
    watcher_send(w, WIRE_W_SYNC_BEGIN, NULL);
    OVSREC_INTERFACE_FOR_EACH (iface, w->idl) {
        if (!iface->name || !iface->name[0]
            || watcher_port_find(&w->sync_ports, iface->name)) {
            continue;
        }
        struct watcher_port *wp = watcher_port_build(w, iface);

        watcher_log_bad(watcher_port_find(&w->ports, iface->name), wp);
        hmap_insert(&w->sync_ports, &wp->node, hash_string(wp->info.name, 0));
        watcher_send_port(w, WIRE_W_PORT, &wp->info);
        n++;
    }
    watcher_send(w, WIRE_W_SYNC_END, NULL);
    watcher_ports_clear(&w->ports);
    hmap_swap(&w->ports, &w->sync_ports);
    hmapx_clear(&w->dirty);
    log_debug("OVSDB %s: snapshot of %zu port(s) sent", w->cfg->remote, n);
}

/* Re-evaluates one live Interface and sends it if it is new or changed. */
static void
watcher_port_refresh(struct watcher *w, const struct ovsrec_interface *iface)
{
    struct watcher_port *old, *wp;

    if (!iface->name || !iface->name[0]) {
        return;
    }
    old = watcher_port_find(&w->ports, iface->name);
    wp = watcher_port_build(w, iface);
    watcher_log_bad(old, wp);
    if (old && watcher_info_equal(&old->info, &wp->info)) {
        /* Nothing the parent sees changed; keep what the next comparisons
         * need (the row, the ct-zone value, the garbage last logged). */
        old->uuid = wp->uuid;
        free(old->ovn_zone);
        old->ovn_zone = wp->ovn_zone;
        wp->ovn_zone = NULL;
        free(old->bad);
        old->bad = wp->bad;
        wp->bad = NULL;
        watcher_port_free(wp);
        return;
    }
    if (old) {
        hmap_remove(&w->ports, &old->node);
        watcher_port_free(old);
    }
    hmap_insert(&w->ports, &wp->node, hash_string(wp->info.name, 0));
    watcher_send_port(w, WIRE_W_PORT, &wp->info);
}

/* A deleted Interface: PORT_GONE with what the parent was last told, which
 * still has the IPs and zone that came from a Port or Bridge row deleted in
 * the same transaction. */
static void
watcher_port_deleted(struct watcher *w, const struct ovsrec_interface *iface)
{
    struct watcher_port *wp;

    watcher_ref_del(&w->iface_port, &iface->header_.uuid);
    if (!iface->name) {
        return;
    }
    wp = watcher_port_find(&w->ports, iface->name);
    /* Another row of that name (the port was re-created in the same
     * transaction) or a row never sent (inserted and deleted between two
     * runs): nothing to say. */
    if (!wp || !uuid_equals(&wp->uuid, &iface->header_.uuid)) {
        return;
    }
    hmap_remove(&w->ports, &wp->node);
    watcher_send_port(w, WIRE_W_PORT_GONE, &wp->info);
    watcher_port_free(wp);
}

/* See the file comment: one pass over the bridge's ports, O(1) per port,
 * marking only those whose bridge or ct-zone value changed. */
static void
watcher_bridge_changed(struct watcher *w, const struct ovsrec_bridge *br)
{
    bool all = (ovsrec_bridge_is_new(br)
                || ovsrec_bridge_is_updated(br, OVSREC_BRIDGE_COL_NAME)
                || ovsrec_bridge_is_updated(br, OVSREC_BRIDGE_COL_DATAPATH_TYPE));
    bool ids = ovsrec_bridge_is_updated(br, OVSREC_BRIDGE_COL_EXTERNAL_IDS);

    for (size_t i = 0; i < br->n_ports; i++) {
        const struct ovsrec_port *port = br->ports[i];
        bool moved = watcher_ref_set(&w->port_bridge, &port->header_.uuid,
                                     &br->header_.uuid);

        for (size_t j = 0; j < port->n_interfaces; j++) {
            const struct ovsrec_interface *iface = port->interfaces[j];
            const struct watcher_port *wp;

            if (all || moved) {
                hmapx_add(&w->dirty, (void *) iface);
            } else if (ids && iface->name) {
                wp = watcher_port_find(&w->ports, iface->name);
                if (!wp || !watcher_streq(wp->ovn_zone,
                                          watcher_ovn_zone_get(w, br, wp->info.iface_id))) {
                    hmapx_add(&w->dirty, (void *) iface);
                }
            }
        }
    }
}

/* True if the tracked changes hold an insert of an Interface row that was
 * already sent: the replica was reloaded without the connection ever being
 * seen down, so the changes are not a delta. */
static bool
watcher_reload_unnoticed(const struct watcher *w)
{
    const struct ovsrec_interface *iface;

    OVSREC_INTERFACE_FOR_EACH_TRACKED (iface, w->idl) {
        if (ovsrec_interface_is_new(iface) && !ovsrec_interface_is_deleted(iface)
            && iface->name) {
            const struct watcher_port *wp = watcher_port_find(&w->ports, iface->name);

            if (wp && uuid_equals(&wp->uuid, &iface->header_.uuid)) {
                return true;
            }
        }
    }
    return false;
}

/* Turns one run's tracked changes into PORT and PORT_GONE messages. */
static void
watcher_apply_changes(struct watcher *w)
{
    const struct ovsrec_interface *iface;
    const struct ovsrec_port *port;
    const struct ovsrec_bridge *br;
    struct hmapx_node *node;

    if (watcher_reload_unnoticed(w)) {
        log_info("OVSDB %s: the replica was reloaded: resyncing", w->cfg->remote);
        watcher_sync(w);
        return;
    }

    /* The reverse maps first, so that every port below resolves its Port
     * and Bridge as they are after this run. */
    OVSREC_PORT_FOR_EACH_TRACKED (port, w->idl) {
        if (ovsrec_port_is_deleted(port)) {
            watcher_ref_del(&w->port_bridge, &port->header_.uuid);
            continue;
        }
        for (size_t i = 0; i < port->n_interfaces; i++) {
            watcher_ref_set(&w->iface_port, &port->interfaces[i]->header_.uuid,
                            &port->header_.uuid);
            hmapx_add(&w->dirty, (void *) port->interfaces[i]);
        }
    }
    OVSREC_BRIDGE_FOR_EACH_TRACKED (br, w->idl) {
        if (!ovsrec_bridge_is_deleted(br)) {
            watcher_bridge_changed(w, br);
        }
    }

    /* Deletions before updates: a port deleted and re-created under the
     * same name in one transaction is GONE, then PORT. */
    OVSREC_INTERFACE_FOR_EACH_TRACKED (iface, w->idl) {
        if (ovsrec_interface_is_deleted(iface)) {
            watcher_port_deleted(w, iface);
        } else {
            hmapx_add(&w->dirty, (void *) iface);
        }
    }
    HMAPX_FOR_EACH (node, &w->dirty) {
        iface = node->data;
        if (!ovsrec_interface_is_deleted(iface)) {
            watcher_port_refresh(w, iface);
        }
    }
    hmapx_clear(&w->dirty);
}

/* After each ovsdb_idl_run(): decides between waiting, a snapshot and a
 * delta (see the file comment for why this is sound). */
static void
watcher_process(struct watcher *w)
{
    unsigned int seqno = ovsdb_idl_get_seqno(w->idl);

    if (!ovsdb_idl_is_connected(w->idl)) {
        if (!w->need_sync) {
            log_debug("OVSDB %s: disconnected; a snapshot follows the reconnect",
                      w->cfg->remote);
        }
        w->need_sync = true;
        w->sync_seqno = seqno;
    } else if (w->need_sync) {
        if (seqno != w->sync_seqno) {
            w->need_sync = false;
            watcher_sync(w);
        }
        /* Else connected, the monitor reply not in yet: nothing to do. */
    } else {
        watcher_apply_changes(w);
    }
}

/* The server answered the connection but refused to serve our tables (an
 * Open_vSwitch schema without them, for one): the IDL stops there, so ask
 * again now and then, the way it retries a connection. */
static void
watcher_check_alive(struct watcher *w)
{
    if (ovsdb_idl_is_alive(w->idl)) {
        w->retry_at = 0;
    } else if (!w->retry_at) {
        log_warnx("OVSDB %s: the server will not serve the Open_vSwitch tables "
                  "we need (%s); retrying in %d s", w->cfg->remote,
                  ovs_retval_to_string(ovsdb_idl_get_last_error(w->idl)),
                  WATCHER_RETRY_MS / 1000);
        w->retry_at = time_msec() + WATCHER_RETRY_MS;
    } else if (time_msec() >= w->retry_at) {
        w->retry_at = 0;
        ovsdb_idl_force_reconnect(w->idl);
    }
}

/* ---- Life cycle. ---- */

static void
watcher_idl_create(struct watcher *w)
{
    struct ovsdb_idl *idl;

    /* Nothing by default: only the columns read below are replicated. */
    idl = ovsdb_idl_create(w->cfg->remote, &ovsrec_idl_class, false, true);

    ovsdb_idl_add_table(idl, &ovsrec_table_interface);
    ovsdb_idl_track_add_column(idl, &ovsrec_interface_col_name);
    ovsdb_idl_track_add_column(idl, &ovsrec_interface_col_external_ids);
    ovsdb_idl_track_add_column(idl, &ovsrec_interface_col_ofport);

    ovsdb_idl_add_table(idl, &ovsrec_table_port);
    ovsdb_idl_track_add_column(idl, &ovsrec_port_col_name);
    ovsdb_idl_track_add_column(idl, &ovsrec_port_col_tag);
    ovsdb_idl_track_add_column(idl, &ovsrec_port_col_external_ids);
    ovsdb_idl_track_add_column(idl, &ovsrec_port_col_interfaces);

    ovsdb_idl_add_table(idl, &ovsrec_table_bridge);
    ovsdb_idl_track_add_column(idl, &ovsrec_bridge_col_name);
    ovsdb_idl_track_add_column(idl, &ovsrec_bridge_col_external_ids);
    ovsdb_idl_track_add_column(idl, &ovsrec_bridge_col_ports);
    ovsdb_idl_track_add_column(idl, &ovsrec_bridge_col_datapath_type);

    /* The probe interval stays OVS's default: none on unix: sockets, where
     * a dead server is an immediate EOF, and 5 s on tcp: and ssl:.
     * Reconnection backoff (1 s doubling to 8 s) is the IDL's own. */
    w->idl = idl;
}

static void
watcher_init(struct watcher *w, int fd, const struct watcher_config *cfg)
{
    memset(w, 0, sizeof *w);
    w->cfg = cfg;
    w->fd = fd;
    hmap_init(&w->ports);
    hmap_init(&w->sync_ports);
    hmap_init(&w->iface_port);
    hmap_init(&w->port_bridge);
    hmapx_init(&w->dirty);
    ds_init(&w->key);
    w->need_sync = true;        /* The first load is a snapshot too. */
    w->sync_seqno = 0;          /* The seqno of a never-loaded IDL. */
    watcher_idl_create(w);
}

static void
watcher_destroy(struct watcher *w)
{
    ovsdb_idl_destroy(w->idl);
    w->idl = NULL;
    watcher_ports_clear(&w->ports);
    hmap_destroy(&w->ports);
    watcher_ports_clear(&w->sync_ports);
    hmap_destroy(&w->sync_ports);
    watcher_refs_clear(&w->iface_port);
    hmap_destroy(&w->iface_port);
    watcher_refs_clear(&w->port_bridge);
    hmap_destroy(&w->port_bridge);
    hmapx_destroy(&w->dirty);
    ds_destroy(&w->key);
    watcher_kv_destroy(&w->iface_kv);
    watcher_kv_destroy(&w->port_kv);
    free(w->status_error);
    w->status_error = NULL;
}

/* Frees everything first, so that the leak checkers the tests run under
 * see a clean exit whichever way the child ends. */
static void
watcher_exit(struct watcher *w, int status)
{
    watcher_destroy(w);
    if (w->fd >= 0) {
        close(w->fd);
    }
    exit(status);
}

/* Keeps libopenvswitch's vlog out of the way (see the file comment). */
static void
watcher_vlog_setup(void)
{
    set_program_name("ctflushd-watcher");
    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);
    vlog_set_levels(NULL, VLF_CONSOLE, VLL_WARN);
    vlog_set_pattern(VLF_CONSOLE, "<4>ovs|%c|%p|%m");
}

void
watcher_main(int fd, const struct watcher_config *cfg)
{
    struct watcher w;

    /* A parent that dies mid-write must be an EPIPE, not a signal (wire_send
     * uses MSG_NOSIGNAL; this covers anything that writes otherwise). */
    signal(SIGPIPE, SIG_IGN);
    if (!cfg->remote || !cfg->remote[0]) {
        log_warnx("OVSDB watcher: no database to watch (empty remote)");
        close(fd);
        exit(1);
    }
    watcher_vlog_setup();
    watcher_init(&w, fd, cfg);
    watcher_report(&w);         /* Alive, not connected yet. */

    for (;;) {
        ovsdb_idl_run(w.idl);
        if (watcher_parent_gone(&w)) {
            watcher_exit(&w, 0);
        }
        watcher_process(&w);
        ovsdb_idl_track_clear(w.idl);
        watcher_check_alive(&w);
        watcher_report(&w);

        ovsdb_idl_wait(w.idl);
        poll_fd_wait(w.fd, POLLIN);
        poll_timer_wait_until(w.next_status);
        if (w.retry_at) {
            poll_timer_wait_until(w.retry_at);
        }
        poll_block();
    }
}
