/*
 * ctsock.h: one ctnetlink socket and what we do with it: batched sends of many
 * requests per sendmsg with failures collected asynchronously, dumps, and
 * single acknowledged requests.
 *
 * Owns: the mnl socket and its batch buffer.
 */
#ifndef CTF_CTSOCK_H
#define CTF_CTSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mnl_socket;

/* What came back for batched (unacknowledged) requests. */
struct ctsock_batch_stats {
    uint64_t sent;          /* Requests handed to the kernel. */
    uint64_t enoent;        /* Already gone: counted, not failed. */
    uint64_t eexist;        /* Already there (inserts): counted, not failed. */
    uint64_t failed;        /* Any other error. */
    uint64_t lost_reports;  /* ENOBUFS events: some error reports were lost
                             * (how many is unknown, so outcomes are too). */
    int last_errno;         /* Last "failed" errno, for the log. */
};

/* Called for each tagged request (ctsock_batch_commit_tagged) once the
 * kernel has taken it (err 0: sent), and again for its failure report, if
 * any (the kernel's positive errno, ENOENT included). */
typedef void ctsock_report_fn(void *aux, uint64_t tag, int err);

struct ctsock {
    struct mnl_socket *nl;
    unsigned int portid;
    uint32_t seq;
    char *batch;            /* Requests not yet sent. */
    size_t batch_len;
    size_t batch_cap;
    unsigned int batch_msgs;
    char *rxbuf;            /* Receive buffer (dumps and error reports). */
    size_t rxbuf_len;
    uint32_t dump_seq;      /* The running dump's request. */
    struct ctsock_batch_stats bstats;
    /* Tags of the batched requests (ctsock_batch_tag), and of the batch
     * whose reports are being read, with their sequence numbers. */
    ctsock_report_fn *report;
    void *report_aux;
    uint64_t *tags, *sent_tags;
    uint32_t *tag_seqs, *sent_seqs;
    size_t n_tags, n_sent, tags_cap;
};

/* Opens a NETLINK_NETFILTER socket in the current network namespace.
 * batch_bytes bounds one sendmsg (0: default). Returns 0 or a positive errno
 * (EPERM without CAP_NET_ADMIN). */
int ctsock_open(struct ctsock *, size_t batch_bytes);
void ctsock_close(struct ctsock *);

uint32_t ctsock_next_seq(struct ctsock *);

/* Room for one more request of up to maxlen bytes in the batch, sending the
 * batch first if it is full. Returns NULL only if the send failed hard. */
void *ctsock_batch_reserve(struct ctsock *, size_t maxlen);
void ctsock_batch_commit(struct ctsock *, size_t len);
/* Reports of failed requests go to fn with the tag their request was
 * committed with (ctsock_batch_commit_tagged). */
void ctsock_set_report(struct ctsock *, ctsock_report_fn *fn, void *aux);
/* ctsock_batch_commit, remembering tag for the request's failure report.
 * Returns 0, or ENOMEM (the request is committed, its report will go
 * untagged: counted in bstats only). */
int ctsock_batch_commit_tagged(struct ctsock *, size_t len, uint64_t tag);
/* Sends what is batched and collects the error reports it produced.
 * Returns 0 or a positive errno for a failed send. */
int ctsock_batch_flush(struct ctsock *);

/* Sends one request, setting NLM_F_ACK in it, and waits for its answer.
 * Returns 0 or the kernel's positive errno. */
int ctsock_request(struct ctsock *, void *msg, size_t len);

/* Runs a dump: cb is called for every message of type IPCTNL_MSG_CT_NEW.
 * Returns 0 when the dump is complete, ENOBUFS if the kernel dropped part of
 * it (the caller dumps again), EINTR if cb asked to stop, or another errno. */
typedef int ctsock_dump_cb(const void *nlh, size_t len, void *aux);
int ctsock_dump(struct ctsock *, const void *req, size_t req_len,
                ctsock_dump_cb *cb, void *aux);

/* ctsock_dump in parts, for a caller that receives on one thread and
 * handles what it received on another (ctpipe.h). The receiving side may
 * only call ctsock_dump_recv and ctsock_dump_ends while the dump runs.
 *
 * ctsock_dump_start sends the request: 0 or a positive errno.
 * ctsock_dump_recv reads one datagram of it into buf (at least
 * CTSOCK_DUMP_DATAGRAM bytes): its length, or a negative errno (-ENOBUFS:
 * part of the dump was lost).
 * ctsock_dump_ends says whether a datagram holds the dump's last message.
 * ctsock_dump_parse calls cb for each entry of a datagram, and sets *done at
 * the dump's end; it returns what ctsock_dump would.
 * ctsock_dump_finish is the rest of ctsock_dump after ctsock_dump_start, on
 * one thread. */
#define CTSOCK_DUMP_DATAGRAM (256 * 1024)   /* Above the kernel's 32 KiB dump skbs. */
int ctsock_dump_start(struct ctsock *, const void *req, size_t req_len);
ssize_t ctsock_dump_recv(struct ctsock *, void *buf, size_t len);
bool ctsock_dump_ends(const struct ctsock *, const void *buf, size_t n);
int ctsock_dump_parse(const struct ctsock *, const void *buf, size_t n,
                      ctsock_dump_cb *cb, void *aux, bool *done);
int ctsock_dump_finish(struct ctsock *, ctsock_dump_cb *cb, void *aux);

#endif
