/*
 * wire.c: the message encoding between the parent and its children, and the
 * blocking send/receive loops the children use.
 *
 * Every decoder reads through struct rbuf, which never reads past its end:
 * a short or malformed payload only sets the sticky err flag, so a decoder
 * can read a whole message and check rbuf_ok() once at the end.
 */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* A NULL string on the wire. */
#define WIRE_STR_NULL UINT32_MAX

/* Smallest encoding of one prefix: family, plen, four address bytes. Used
 * to refuse a count that the bytes left cannot hold before allocating. */
#define WIRE_PREFIX_MIN_LEN 6u

/* ---- Writing. ---- */

void
wbuf_init(struct wbuf *b)
{
    memset(b, 0, sizeof *b);
}

void
wbuf_destroy(struct wbuf *b)
{
    if (b) {
        free(b->data);
        memset(b, 0, sizeof *b);
    }
}

/* Makes room for n more bytes and returns where they go, or NULL once the
 * buffer is void. */
static uint8_t *
wbuf_reserve(struct wbuf *b, size_t n)
{
    if (b->oom) {
        return NULL;
    }
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            cap *= 2;
        }
        uint8_t *data = realloc(b->data, cap);
        if (!data) {
            b->oom = true;
            return NULL;
        }
        b->data = data;
        b->cap = cap;
    }
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void
wbuf_put_bytes(struct wbuf *b, const void *data, size_t n)
{
    if (!n) {
        return;
    }
    uint8_t *p = wbuf_reserve(b, n);
    if (p) {
        memcpy(p, data, n);
    }
}

void
wbuf_put_u8(struct wbuf *b, uint8_t v)
{
    wbuf_put_bytes(b, &v, sizeof v);
}

void
wbuf_put_u16(struct wbuf *b, uint16_t v)
{
    wbuf_put_bytes(b, &v, sizeof v);
}

void
wbuf_put_u32(struct wbuf *b, uint32_t v)
{
    wbuf_put_bytes(b, &v, sizeof v);
}

void
wbuf_put_u64(struct wbuf *b, uint64_t v)
{
    wbuf_put_bytes(b, &v, sizeof v);
}

void
wbuf_put_double(struct wbuf *b, double v)
{
    wbuf_put_bytes(b, &v, sizeof v);
}

/* A string over WIRE_MAX_STR voids the buffer (as an allocation failure
 * does): the reader would refuse the message anyway, and failing here lets
 * wire_send report it before anything is sent. */
void
wbuf_put_str(struct wbuf *b, const char *s)
{
    if (!s) {
        wbuf_put_u32(b, WIRE_STR_NULL);
        return;
    }
    size_t n = strlen(s);
    if (n > WIRE_MAX_STR) {
        b->oom = true;
        return;
    }
    wbuf_put_u32(b, (uint32_t) n);
    wbuf_put_bytes(b, s, n);
}

void
wbuf_put_prefix_list(struct wbuf *b, const struct ctf_prefix_list *l)
{
    if (l->n > UINT32_MAX) {
        b->oom = true;
        return;
    }
    wbuf_put_u32(b, (uint32_t) l->n);
    for (size_t i = 0; i < l->n; i++) {
        const struct ctf_prefix *p = &l->items[i];
        wbuf_put_u8(b, (uint8_t) p->family);
        wbuf_put_u8(b, p->plen);
        wbuf_put_bytes(b, &p->addr, p->family == AF_INET ? 4 : 16);
    }
}

void
wbuf_put_job(struct wbuf *b, const struct flush_job *job)
{
    wbuf_put_prefix_list(b, &job->local);
    wbuf_put_prefix_list(b, &job->peers);
    wbuf_put_u8(b, job->local_any);
    wbuf_put_u8(b, job->peers_any);
    wbuf_put_u8(b, job->has_zone);
    wbuf_put_u16(b, job->zone);
    wbuf_put_u8(b, job->has_mark);
    wbuf_put_u32(b, job->mark);
    wbuf_put_u32(b, job->mark_mask);
    wbuf_put_u8(b, (uint8_t) job->direction);
    wbuf_put_u8(b, (uint8_t) job->tuple);
    wbuf_put_u8(b, job->proto);
    wbuf_put_u8(b, job->has_dport);
    wbuf_put_u16(b, job->dport_lo);
    wbuf_put_u16(b, job->dport_hi);
    wbuf_put_u8(b, (uint8_t) job->family);
    wbuf_put_u8(b, (uint8_t) job->datapath);
}

void
wbuf_put_job_params(struct wbuf *b, const struct wire_job_params *jp)
{
    wbuf_put_u32(b, jp->strategy);
    wbuf_put_u32(b, jp->max_local);
    wbuf_put_u32(b, jp->max_peers);
    wbuf_put_u32(b, jp->batch_bytes);
    wbuf_put_u64(b, jp->max_delete_rate);
    wbuf_put_u32(b, jp->dump_threads);
    wbuf_put_u32(b, jp->progress_interval_ms);
}

void
wbuf_put_engine_stats(struct wbuf *b, const struct engine_stats *st)
{
    wbuf_put_u32(b, (uint32_t) st->strategy);
    wbuf_put_u32(b, st->strategies_used);
    wbuf_put_u64(b, st->table_before);
    wbuf_put_u64(b, st->scanned);
    wbuf_put_u64(b, st->matched);
    wbuf_put_u64(b, st->deleted);
    wbuf_put_u64(b, st->already_gone);
    wbuf_put_u64(b, st->errors);
    wbuf_put_u32(b, st->chunks);
    wbuf_put_u32(b, st->passes);
    wbuf_put_u32(b, st->dump_restarts);
    wbuf_put_u32(b, st->shared);
    wbuf_put_double(b, st->elapsed_ms);
}

/* ---- Reading. ---- */

void
rbuf_init(struct rbuf *r, const void *data, size_t len)
{
    r->p = data;
    r->len = data ? len : 0;
    r->err = false;
}

bool
rbuf_ok(const struct rbuf *r)
{
    return !r->err && r->len == 0;
}

bool
rbuf_get_bytes(struct rbuf *r, void *out, size_t n)
{
    if (r->err || n > r->len) {
        r->err = true;
        memset(out, 0, n);
        return false;
    }
    if (n) {
        memcpy(out, r->p, n);
        r->p += n;
        r->len -= n;
    }
    return true;
}

uint8_t
rbuf_get_u8(struct rbuf *r)
{
    uint8_t v;

    rbuf_get_bytes(r, &v, sizeof v);
    return v;
}

uint16_t
rbuf_get_u16(struct rbuf *r)
{
    uint16_t v;

    rbuf_get_bytes(r, &v, sizeof v);
    return v;
}

uint32_t
rbuf_get_u32(struct rbuf *r)
{
    uint32_t v;

    rbuf_get_bytes(r, &v, sizeof v);
    return v;
}

uint64_t
rbuf_get_u64(struct rbuf *r)
{
    uint64_t v;

    rbuf_get_bytes(r, &v, sizeof v);
    return v;
}

double
rbuf_get_double(struct rbuf *r)
{
    double v;

    rbuf_get_bytes(r, &v, sizeof v);
    return v;
}

/* A bool is one byte, 0 or 1; anything else means the peer and we disagree
 * about the layout, which must not pass silently. */
static bool
rbuf_get_bool(struct rbuf *r)
{
    uint8_t v = rbuf_get_u8(r);

    if (v > 1) {
        r->err = true;
        return false;
    }
    return v;
}

char *
rbuf_get_str(struct rbuf *r)
{
    uint32_t n = rbuf_get_u32(r);

    if (r->err || n == WIRE_STR_NULL) {
        return NULL;
    }
    if (n > WIRE_MAX_STR || n > r->len || memchr(r->p, '\0', n)) {
        r->err = true;
        return NULL;
    }
    char *s = malloc((size_t) n + 1);
    if (!s) {
        r->err = true;
        return NULL;
    }
    memcpy(s, r->p, n);
    s[n] = '\0';
    r->p += n;
    r->len -= n;
    return s;
}

void
rbuf_get_prefix_list(struct rbuf *r, struct ctf_prefix_list *l)
{
    uint32_t n = rbuf_get_u32(r);

    /* Every item takes at least WIRE_PREFIX_MIN_LEN bytes, so a count the
     * rest of the payload cannot hold is a lie; refusing it here keeps a
     * corrupt count from growing the list to gigabytes. */
    if (r->err || n > r->len / WIRE_PREFIX_MIN_LEN) {
        r->err = true;
        return;
    }
    for (uint32_t i = 0; i < n && !r->err; i++) {
        struct ctf_prefix p;
        uint8_t family = rbuf_get_u8(r);

        memset(&p, 0, sizeof p);
        p.plen = rbuf_get_u8(r);
        if (family == AF_INET) {
            p.family = AF_INET;
            rbuf_get_bytes(r, &p.addr, 4);
        } else if (family == AF_INET6) {
            p.family = AF_INET6;
            rbuf_get_bytes(r, &p.addr, 16);
        } else {
            r->err = true;
            break;
        }
        if (r->err || p.plen > (p.family == AF_INET ? 32 : 128)) {
            r->err = true;
            break;
        }
        union ctf_inaddr masked = p.addr;
        ctf_inaddr_mask(p.family, &masked, p.plen);
        if (memcmp(&masked, &p.addr, sizeof masked)) {
            r->err = true;
            break;
        }
        if (ctf_prefix_list_add(l, &p)) {
            r->err = true;
            break;
        }
    }
}

void
rbuf_get_job(struct rbuf *r, struct flush_job *job)
{
    char why[160];

    ctf_prefix_list_clear(&job->local);
    ctf_prefix_list_clear(&job->peers);
    rbuf_get_prefix_list(r, &job->local);
    rbuf_get_prefix_list(r, &job->peers);
    job->local_any = rbuf_get_bool(r);
    job->peers_any = rbuf_get_bool(r);
    job->has_zone = rbuf_get_bool(r);
    job->zone = rbuf_get_u16(r);
    job->has_mark = rbuf_get_bool(r);
    job->mark = rbuf_get_u32(r);
    job->mark_mask = rbuf_get_u32(r);
    /* Range-checked as bytes, before they become enums. */
    uint8_t direction = rbuf_get_u8(r), tuple = rbuf_get_u8(r);
    job->proto = rbuf_get_u8(r);
    job->has_dport = rbuf_get_bool(r);
    job->dport_lo = rbuf_get_u16(r);
    job->dport_hi = rbuf_get_u16(r);
    uint8_t family = rbuf_get_u8(r);
    uint8_t datapath = rbuf_get_u8(r);
    if (r->err || direction >= FLUSH_DIRECTION_COUNT || tuple >= FLUSH_TUPLE_COUNT
        || family >= FLUSH_FAMILY_COUNT || datapath >= FLUSH_DATAPATH_COUNT) {
        r->err = true;
        return;
    }
    job->datapath = (enum flush_datapath) datapath;
    job->direction = (enum flush_direction) direction;
    job->tuple = (enum flush_tuple) tuple;
    job->family = (enum flush_family) family;
    /* An "any" side with addresses is a contradiction the matcher would
     * resolve one way and a human reading the job the other. */
    if ((job->local_any && job->local.n) || (job->peers_any && job->peers.n)
        || flush_job_validate(job, why, sizeof why)) {
        r->err = true;
    }
}

void
rbuf_get_job_params(struct rbuf *r, struct wire_job_params *jp)
{
    jp->strategy = rbuf_get_u32(r);
    jp->max_local = rbuf_get_u32(r);
    jp->max_peers = rbuf_get_u32(r);
    jp->batch_bytes = rbuf_get_u32(r);
    jp->max_delete_rate = rbuf_get_u64(r);
    jp->dump_threads = rbuf_get_u32(r);
    jp->progress_interval_ms = rbuf_get_u32(r);
    /* Both range-checked: a strategy indexes names, and the engine starts
     * up to dump_threads threads. */
    if (jp->strategy >= CT_STRATEGY_COUNT || jp->dump_threads > ENGINE_MAX_DUMP_THREADS) {
        r->err = true;
    }
}

void
wbuf_put_job_batch(struct wbuf *b, const struct wire_job_params *jp, size_t n,
                   const uint64_t *ids, const struct flush_job *const *jobs)
{
    if (!n || n > WIRE_MAX_JOBS) {
        b->oom = true;
        return;
    }
    wbuf_put_job_params(b, jp);
    wbuf_put_u32(b, (uint32_t) n);
    for (size_t i = 0; i < n; i++) {
        wbuf_put_u64(b, ids[i]);
        wbuf_put_job(b, jobs[i]);
    }
}

void
rbuf_get_job_batch(struct rbuf *r, struct wire_job_batch *batch)
{
    memset(batch, 0, sizeof *batch);
    rbuf_get_job_params(r, &batch->params);
    uint32_t n = rbuf_get_u32(r);
    if (r->err || !n || n > WIRE_MAX_JOBS) {
        r->err = true;
        return;
    }
    for (uint32_t i = 0; i < n && !r->err; i++) {
        batch->id[i] = rbuf_get_u64(r);
        flush_job_init(&batch->job[i]);
        batch->n = i + 1;
        rbuf_get_job(r, &batch->job[i]);
        for (uint32_t k = 0; k < i; k++) {
            if (batch->id[k] == batch->id[i]) {
                r->err = true;          /* Two DONEs for one id would lie. */
            }
        }
    }
}

void
wire_job_batch_destroy(struct wire_job_batch *batch)
{
    for (size_t i = 0; batch && i < batch->n; i++) {
        flush_job_destroy(&batch->job[i]);
    }
    if (batch) {
        batch->n = 0;
    }
}

void
rbuf_get_engine_stats(struct rbuf *r, struct engine_stats *st)
{
    uint32_t strategy = rbuf_get_u32(r);

    /* Range-checked before it becomes an enum: names are looked up by it. */
    if (strategy >= CT_STRATEGY_COUNT) {
        r->err = true;
        strategy = CT_STRATEGY_AUTO;
    }
    st->strategy = (enum ct_strategy) strategy;
    st->strategies_used = rbuf_get_u32(r);
    st->table_before = rbuf_get_u64(r);
    st->scanned = rbuf_get_u64(r);
    st->matched = rbuf_get_u64(r);
    st->deleted = rbuf_get_u64(r);
    st->already_gone = rbuf_get_u64(r);
    st->errors = rbuf_get_u64(r);
    st->chunks = rbuf_get_u32(r);
    st->passes = rbuf_get_u32(r);
    st->dump_restarts = rbuf_get_u32(r);
    st->shared = rbuf_get_u32(r);
    st->elapsed_ms = rbuf_get_double(r);
}

/* ---- Framing and I/O. ---- */

int
wire_frame_peek(const uint8_t *buf, size_t avail, uint32_t *type, size_t *payload_len)
{
    uint32_t len;

    if (avail < WIRE_HDR_LEN) {
        return 0;
    }
    memcpy(type, buf, sizeof *type);
    memcpy(&len, buf + 4, sizeof len);
    *payload_len = len;
    if (len > WIRE_MAX_PAYLOAD) {
        errno = EMSGSIZE;
        return -1;
    }
    return avail - WIRE_HDR_LEN >= len ? 1 : 0;
}

/* Waits until fd is ready for `events`; for a descriptor someone made
 * non-blocking, which the loops below would otherwise spin on. */
static int
wire_wait(int fd, short events)
{
    struct pollfd pfd = { .fd = fd, .events = events };

    for (;;) {
        int n = poll(&pfd, 1, -1);
        if (n >= 0) {
            return 0;
        } else if (errno != EINTR) {
            return errno;
        }
    }
}

int
wire_send(int fd, uint32_t type, const struct wbuf *payload)
{
    size_t plen = payload ? payload->len : 0;
    uint8_t hdr[WIRE_HDR_LEN];
    struct iovec iov[2];
    struct msghdr msg;
    size_t iov_i = 0;

    if (payload && payload->oom) {
        return ENOMEM;
    }
    if (plen > WIRE_MAX_PAYLOAD) {
        return EMSGSIZE;
    }
    uint32_t len32 = (uint32_t) plen;
    memcpy(hdr, &type, 4);
    memcpy(hdr + 4, &len32, 4);
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof hdr;
    iov[1].iov_base = plen ? payload->data : NULL;
    iov[1].iov_len = plen;

    while (iov_i < 2) {
        if (!iov[iov_i].iov_len) {
            iov_i++;
            continue;
        }
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov[iov_i];
        msg.msg_iovlen = 2 - iov_i;
        /* MSG_NOSIGNAL: a dead peer is an EPIPE to handle, not a SIGPIPE
         * that kills the child before it can say why. */
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int err = wire_wait(fd, POLLOUT);
                if (err) {
                    return err;
                }
                continue;
            }
            return errno;
        }
        /* A short write: skip what went out and send the rest. */
        size_t done = (size_t) n;
        while (iov_i < 2 && done >= iov[iov_i].iov_len) {
            done -= iov[iov_i].iov_len;
            iov_i++;
        }
        if (iov_i < 2) {
            iov[iov_i].iov_base = (uint8_t *) iov[iov_i].iov_base + done;
            iov[iov_i].iov_len -= done;
        }
    }
    return 0;
}

/* Reads exactly n bytes. Returns 0, ENOTCONN for an EOF before the first
 * byte, ECONNRESET for an EOF after it (the peer died mid-message), or the
 * read error. */
static int
wire_read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, (uint8_t *) buf + got, n - got);
        if (r > 0) {
            got += (size_t) r;
        } else if (r == 0) {
            return got ? ECONNRESET : ENOTCONN;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int err = wire_wait(fd, POLLIN);
            if (err) {
                return err;
            }
        } else {
            return errno;
        }
    }
    return 0;
}

int
wire_recv(int fd, uint32_t *type, uint8_t **payload, size_t *len)
{
    uint8_t hdr[WIRE_HDR_LEN];
    uint32_t plen;
    uint8_t *data = NULL;
    int err;

    *type = 0;
    *payload = NULL;
    *len = 0;
    err = wire_read_full(fd, hdr, sizeof hdr);
    if (err) {
        /* ENOTCONN here is the clean end of the stream; ECONNRESET means
         * the peer stopped inside a header. */
        return err;
    }
    memcpy(type, hdr, 4);
    memcpy(&plen, hdr + 4, 4);
    if (plen > WIRE_MAX_PAYLOAD) {
        return EMSGSIZE;
    }
    if (plen) {
        data = malloc(plen);
        if (!data) {
            return ENOMEM;
        }
        err = wire_read_full(fd, data, plen);
        if (err) {
            free(data);
            /* The header was read, so any EOF is mid-message. */
            return err == ENOTCONN ? ECONNRESET : err;
        }
    }
    *payload = data;
    *len = plen;
    return 0;
}
