/*
 * ctsock.c: a ctnetlink socket with a send batch.
 *
 * Deletes are sent many per sendmsg and without NLM_F_ACK, so the kernel only
 * answers the ones that fail. The kernel runs every request of a sendmsg
 * before the call returns, so draining the socket right after each send finds
 * every report for that batch; the receive buffer only has to hold one
 * batch's worth, which the batch size bounds.
 */
#include "ctsock.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

#define CTSOCK_DEFAULT_BATCH  (64 * 1024)
#define CTSOCK_MAX_BATCH      (1024 * 1024)
#define CTSOCK_RXBUF          CTSOCK_DUMP_DATAGRAM
#define CTSOCK_RCVBUF_BYTES   (8 * 1024 * 1024)

int
ctsock_open(struct ctsock *s, size_t batch_bytes)
{
    int one = 1;
    int rcvbuf = CTSOCK_RCVBUF_BYTES;
    int fd;

    memset(s, 0, sizeof *s);
    if (!batch_bytes) {
        batch_bytes = CTSOCK_DEFAULT_BATCH;
    }
    if (batch_bytes < 4096) {
        batch_bytes = 4096;
    } else if (batch_bytes > CTSOCK_MAX_BATCH) {
        batch_bytes = CTSOCK_MAX_BATCH;
    }

    s->nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!s->nl) {
        return errno ? errno : EIO;
    }
    if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int err = errno;
        mnl_socket_close(s->nl);
        s->nl = NULL;
        return err;
    }
    s->portid = mnl_socket_get_portid(s->nl);
    fd = mnl_socket_get_fd(s->nl);

    /* Error reports for a whole batch must fit; SO_RCVBUFFORCE needs
     * CAP_NET_ADMIN, which we have, and falls back to the capped one. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    int sndbuf = (int) batch_bytes * 2;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    /* Error reports need not echo our request back. */
    mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof one);
    /* Extended acks only cost bytes here. */

    s->seq = (uint32_t) time(NULL);
    s->batch_cap = batch_bytes;
    s->batch = malloc(s->batch_cap);
    s->rxbuf_len = CTSOCK_RXBUF;
    s->rxbuf = malloc(s->rxbuf_len);
    if (!s->batch || !s->rxbuf) {
        ctsock_close(s);
        return ENOMEM;
    }
    return 0;
}

void
ctsock_close(struct ctsock *s)
{
    if (!s) {
        return;
    }
    if (s->nl) {
        mnl_socket_close(s->nl);
    }
    free(s->batch);
    free(s->rxbuf);
    free(s->tags);
    free(s->sent_tags);
    free(s->tag_seqs);
    free(s->sent_seqs);
    s->nl = NULL;
    s->batch = NULL;
    s->rxbuf = NULL;
    s->tags = s->sent_tags = NULL;
    s->tag_seqs = s->sent_seqs = NULL;
    s->n_tags = s->n_sent = s->tags_cap = 0;
}

void
ctsock_set_report(struct ctsock *s, ctsock_report_fn *fn, void *aux)
{
    s->report = fn;
    s->report_aux = aux;
}

/* The tag of the sent request with this sequence number, if it had one.
 * Sequence numbers of a batch are consecutive in practice (one socket, one
 * counter), so the index is tried first. */
static bool
ctsock_sent_tag(const struct ctsock *s, uint32_t seq, uint64_t *tag)
{
    if (!s->n_sent) {
        return false;
    }
    size_t i = (size_t) (uint32_t) (seq - s->sent_seqs[0]);
    if (i < s->n_sent && s->sent_seqs[i] == seq) {
        *tag = s->sent_tags[i];
        return true;
    }
    for (i = 0; i < s->n_sent; i++) {
        if (s->sent_seqs[i] == seq) {
            *tag = s->sent_tags[i];
            return true;
        }
    }
    return false;
}

static void
ctsock_report_one(struct ctsock *s, uint32_t seq, int err)
{
    uint64_t tag;

    if (s->report && ctsock_sent_tag(s, seq, &tag)) {
        s->report(s->report_aux, tag, err);
    }
}

uint32_t
ctsock_next_seq(struct ctsock *s)
{
    return ++s->seq;
}

/* Reads whatever error reports are queued without blocking. */
static int
ctsock_drain(struct ctsock *s)
{
    for (;;) {
        ssize_t n = recv(mnl_socket_get_fd(s->nl), s->rxbuf, s->rxbuf_len, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOBUFS) {
                /* Reports were dropped: we cannot know which requests
                 * failed. The engine re-verifies with another pass. */
                s->bstats.lost_reports++;
                continue;
            }
            return errno;
        }
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) s->rxbuf;
        size_t len = (size_t) n;
        for (; mnl_nlmsg_ok(nlh, (int) len); nlh = mnl_nlmsg_next(nlh, (int *) &len)) {
            if (nlh->nlmsg_type != NLMSG_ERROR) {
                continue;
            }
            if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr)) {
                continue;
            }
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            if (e->error == 0) {
                continue;       /* An ACK someone asked for. */
            } else if (e->error == -ENOENT) {
                s->bstats.enoent++;
            } else if (e->error == -EEXIST) {
                s->bstats.eexist++;
            } else {
                s->bstats.failed++;
                s->bstats.last_errno = -e->error;
            }
            ctsock_report_one(s, nlh->nlmsg_seq, -e->error);
        }
    }
}

int
ctsock_batch_flush(struct ctsock *s)
{
    int err = 0;

    if (!s->batch_len) {
        return 0;
    }
    /* The batch's tags become the ones its reports are looked up in. */
    uint64_t *t = s->sent_tags;
    uint32_t *q = s->sent_seqs;
    s->sent_tags = s->tags;
    s->sent_seqs = s->tag_seqs;
    s->n_sent = s->n_tags;
    s->tags = t;
    s->tag_seqs = q;
    s->n_tags = 0;
    for (;;) {
        ssize_t n = send(mnl_socket_get_fd(s->nl), s->batch, s->batch_len, 0);
        if (n >= 0) {
            s->bstats.sent += s->batch_msgs;
            for (size_t i = 0; s->report && i < s->n_sent; i++) {
                s->report(s->report_aux, s->sent_tags[i], 0);
            }
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == ENOBUFS || errno == EAGAIN) {
            /* The socket's queues are full of reports: read them and retry.
             * Nothing of the batch was consumed. */
            err = ctsock_drain(s);
            if (err) {
                break;
            }
            continue;
        }
        err = errno;
        break;
    }
    s->batch_len = 0;
    s->batch_msgs = 0;
    if (!err) {
        err = ctsock_drain(s);
    }
    s->n_sent = 0;
    return err;
}

void *
ctsock_batch_reserve(struct ctsock *s, size_t maxlen)
{
    if (s->batch_len + maxlen > s->batch_cap) {
        if (ctsock_batch_flush(s)) {
            return NULL;
        }
    }
    return s->batch + s->batch_len;
}

int
ctsock_batch_commit_tagged(struct ctsock *s, size_t len, uint64_t tag)
{
    const struct nlmsghdr *nlh = (const struct nlmsghdr *) (s->batch + s->batch_len);
    uint32_t seq = nlh->nlmsg_seq;

    ctsock_batch_commit(s, len);
    if (s->n_tags == s->tags_cap) {
        size_t cap = s->tags_cap ? s->tags_cap * 2 : 256;
        uint64_t *t = realloc(s->tags, cap * sizeof *t);
        if (t) {
            s->tags = t;
        }
        uint32_t *q = t ? realloc(s->tag_seqs, cap * sizeof *q) : NULL;
        if (q) {
            s->tag_seqs = q;
        }
        /* Both sides swap at every flush: grow both to the same size. */
        uint64_t *st = q ? realloc(s->sent_tags, cap * sizeof *st) : NULL;
        if (st) {
            s->sent_tags = st;
        }
        uint32_t *sq = st ? realloc(s->sent_seqs, cap * sizeof *sq) : NULL;
        if (sq) {
            s->sent_seqs = sq;
        }
        if (!sq) {
            return ENOMEM;
        }
        s->tags_cap = cap;
    }
    s->tags[s->n_tags] = tag;
    s->tag_seqs[s->n_tags] = seq;
    s->n_tags++;
    return 0;
}

void
ctsock_batch_commit(struct ctsock *s, size_t len)
{
    memset(s->batch + s->batch_len + len, 0, MNL_ALIGN(len) - len);
    s->batch_len += MNL_ALIGN(len);
    s->batch_msgs++;
}

/* One blocking read into rxbuf: its length, or -errno. */
static ssize_t
ctsock_recv(struct ctsock *s)
{
    for (;;) {
        ssize_t n = recv(mnl_socket_get_fd(s->nl), s->rxbuf, s->rxbuf_len, 0);
        if (n >= 0 || errno != EINTR) {
            return n < 0 ? -errno : n;
        }
    }
}

int
ctsock_request(struct ctsock *s, void *msg, size_t len)
{
    struct nlmsghdr *req = msg;

    /* Without it a success is silent and we would wait forever. */
    req->nlmsg_flags |= NLM_F_ACK;

    if (mnl_socket_sendto(s->nl, msg, len) < 0) {
        return errno;
    }
    for (;;) {
        ssize_t n = ctsock_recv(s);
        if (n < 0) {
            return (int) -n;
        }
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) s->rxbuf;
        int left = (int) n;
        for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
            if (nlh->nlmsg_type != NLMSG_ERROR) {
                continue;
            }
            if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr)) {
                return EPROTO;
            }
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            if (nlh->nlmsg_seq != req->nlmsg_seq) {
                /* A late report for an earlier batch. */
                if (e->error == -ENOENT) {
                    s->bstats.enoent++;
                } else if (e->error) {
                    s->bstats.failed++;
                }
                continue;
            }
            return e->error ? -e->error : 0;
        }
    }
}

int
ctsock_dump_start(struct ctsock *s, const void *req, size_t req_len)
{
    const struct nlmsghdr *rq = req;

    s->dump_seq = rq->nlmsg_seq;
    if (mnl_socket_sendto(s->nl, req, req_len) < 0) {
        return errno;
    }
    return 0;
}

ssize_t
ctsock_dump_recv(struct ctsock *s, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(mnl_socket_get_fd(s->nl), buf, len, 0);
        if (n >= 0) {
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        int err = errno;
        if (err == ENOBUFS) {
            /* The kernel dropped part of the dump. The dump itself is over
             * for the kernel; flush what might still be queued so the next
             * dump starts clean. */
            ctsock_drain(s);
        }
        return -err;
    }
}

/* Whether nlh belongs to the running dump (not a stray report). */
static bool
ctsock_dump_owns(const struct ctsock *s, const struct nlmsghdr *nlh)
{
    return nlh->nlmsg_seq == s->dump_seq && nlh->nlmsg_pid == s->portid;
}

bool
ctsock_dump_ends(const struct ctsock *s, const void *buf, size_t n)
{
    const struct nlmsghdr *nlh = buf;
    int left = (int) n;

    for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        if (ctsock_dump_owns(s, nlh)
            && (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR)) {
            return true;
        }
    }
    return false;
}

int
ctsock_dump_parse(const struct ctsock *s, const void *buf, size_t n,
                  ctsock_dump_cb *cb, void *aux, bool *done)
{
    const struct nlmsghdr *nlh = buf;
    int left = (int) n;

    *done = false;
    for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        if (!ctsock_dump_owns(s, nlh)) {
            continue;
        }
        if (nlh->nlmsg_type == NLMSG_DONE) {
            *done = true;
            return 0;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            *done = true;
            if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof *e) {
                return EPROTO;
            }
            return e->error ? -e->error : 0;
        }
        if ((nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW) {
            continue;
        }
        int rc = cb(nlh, nlh->nlmsg_len, aux);
        if (rc) {
            /* Stop reading; the rest of the dump is discarded when the
             * socket is closed or the next dump is started. */
            return rc;
        }
    }
    return 0;
}

int
ctsock_dump_finish(struct ctsock *s, ctsock_dump_cb *cb, void *aux)
{
    int err = 0;

    while (!err) {
        bool done;
        ssize_t n = ctsock_dump_recv(s, s->rxbuf, s->rxbuf_len);
        if (n < 0) {
            return (int) -n;
        }
        err = ctsock_dump_parse(s, s->rxbuf, (size_t) n, cb, aux, &done);
        if (done) {
            break;
        }
    }
    return err;
}

int
ctsock_dump(struct ctsock *s, const void *req, size_t req_len,
            ctsock_dump_cb *cb, void *aux)
{
    int err = ctsock_dump_start(s, req, req_len);

    return err ? err : ctsock_dump_finish(s, cb, aux);
}
