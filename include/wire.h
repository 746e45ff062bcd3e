/*
 * wire.h: typed, length-checked messages between the parent and its two
 * children (the OVSDB watcher and the batch worker), over a SOCK_STREAM
 * socketpair. A message is a header {uint32 type, uint32 length} in host
 * byte order (both ends are the same binary on the same host) followed by
 * `length` bytes of payload. Payloads are built with struct wbuf and read
 * with struct rbuf, whose errors are sticky: decode everything, then check
 * rbuf_ok() once, as bgpd checks imsg lengths.
 *
 * Owns: the buffers it allocates; nothing else.
 */
#ifndef CTF_WIRE_H
#define CTF_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "jobrun.h"
#include "job.h"

/* Largest payload either side accepts: a job of ~3M prefixes. A peer that
 * announces more is broken, and the channel is torn down. */
#define WIRE_MAX_PAYLOAD (64u << 20)
#define WIRE_HDR_LEN 8u
/* Longest string field (port names, reasons, error texts). */
#define WIRE_MAX_STR 4096u

enum wire_type {
    /* Watcher -> parent. */
    WIRE_W_STATUS = 1,      /* u8 connected, str remote, str last_error. Sent on
                             * every change and at least once a second: it is
                             * also the watcher's heartbeat. */
    WIRE_W_SYNC_BEGIN,      /* (empty) A full snapshot of present ports follows,
                             * sent after every (re)connect. */
    WIRE_W_PORT,            /* port_info: the port is present (new or changed). */
    WIRE_W_PORT_GONE,       /* port_info: its row was deleted (last values). */
    WIRE_W_SYNC_END,        /* (empty) End of the snapshot: a port of the
                             * parent's table that was not in it is gone. */

    /* Parent -> worker. */
    WIRE_K_JOB = 100,       /* wire_job_params, u32 n (1..WIRE_MAX_JOBS), then n
                             * times u64 job id, flush_job: jobs the worker
                             * runs in one go (sharing a pass where that is
                             * cheaper); a DONE follows for each. */
    WIRE_K_CANCEL,          /* u64 job id: stop that job of the running ones;
                             * its DONE says ECANCELED, the others go on. */

    /* Worker -> parent. */
    WIRE_K_READY = 200,     /* str capability summary (after the probe). */
    WIRE_K_PROGRESS,        /* u64 job id, engine_stats. */
    WIRE_K_DONE,            /* u64 job id, u32 errno (0 ok), str reason,
                             * str strategies, engine_stats. */
};

/* Jobs in one WIRE_K_JOB: the engine's bound on a run. */
#define WIRE_MAX_JOBS 64

/* How the worker should run one job: the engine knobs the parent owns. */
struct wire_job_params {
    uint32_t strategy;          /* enum ct_strategy; AUTO lets the planner pick. */
    uint32_t max_local;         /* Engine chunking (0: no limit). */
    uint32_t max_peers;
    uint32_t batch_bytes;       /* 0: engine default. */
    uint64_t max_delete_rate;   /* Deletes per second, 0 = unlimited. */
    uint32_t dump_threads;      /* 0: what the probe found. */
    uint32_t progress_interval_ms;
};

struct wbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool oom;                   /* An allocation failed; the buffer is void. */
};

void wbuf_init(struct wbuf *);
void wbuf_destroy(struct wbuf *);
void wbuf_put_u8(struct wbuf *, uint8_t);
void wbuf_put_u16(struct wbuf *, uint16_t);
void wbuf_put_u32(struct wbuf *, uint32_t);
void wbuf_put_u64(struct wbuf *, uint64_t);
void wbuf_put_double(struct wbuf *, double);
void wbuf_put_bytes(struct wbuf *, const void *, size_t);
/* u32 length + bytes; NULL is written as length 0xffffffff. */
void wbuf_put_str(struct wbuf *, const char *);
void wbuf_put_prefix_list(struct wbuf *, const struct ctf_prefix_list *);
void wbuf_put_job(struct wbuf *, const struct flush_job *);
void wbuf_put_job_params(struct wbuf *, const struct wire_job_params *);
void wbuf_put_engine_stats(struct wbuf *, const struct engine_stats *);

struct rbuf {
    const uint8_t *p;
    size_t len;                 /* Bytes left. */
    bool err;                   /* Sticky: a read ran past the end or a value
                                 * was invalid. */
};

void rbuf_init(struct rbuf *, const void *data, size_t len);
/* True if nothing failed and every byte was consumed. */
bool rbuf_ok(const struct rbuf *);
uint8_t rbuf_get_u8(struct rbuf *);
uint16_t rbuf_get_u16(struct rbuf *);
uint32_t rbuf_get_u32(struct rbuf *);
uint64_t rbuf_get_u64(struct rbuf *);
double rbuf_get_double(struct rbuf *);
bool rbuf_get_bytes(struct rbuf *, void *, size_t);
/* A malloc'd NUL-terminated copy, NULL for a NULL string or on error (then
 * err is set). Strings with an embedded NUL or longer than WIRE_MAX_STR are
 * errors. */
char *rbuf_get_str(struct rbuf *);
/* Appends to the list; checks family, prefix length and host bits. */
void rbuf_get_prefix_list(struct rbuf *, struct ctf_prefix_list *);
/* Fills an initialised job (flush_job_init) and validates it. */
void rbuf_get_job(struct rbuf *, struct flush_job *);
void rbuf_get_job_params(struct rbuf *, struct wire_job_params *);

/* A WIRE_K_JOB payload. */
struct wire_job_batch {
    struct wire_job_params params;
    size_t n;
    uint64_t id[WIRE_MAX_JOBS];
    struct flush_job job[WIRE_MAX_JOBS];
};
/* Writes n (1..WIRE_MAX_JOBS) jobs and their ids; more or none voids the
 * buffer. */
void wbuf_put_job_batch(struct wbuf *, const struct wire_job_params *, size_t n,
                        const uint64_t *ids, const struct flush_job *const *jobs);
/* Fills b (call wire_job_batch_destroy after, even on error): a count out
 * of range, a repeated id or an invalid job is an error. */
void rbuf_get_job_batch(struct rbuf *, struct wire_job_batch *);
void wire_job_batch_destroy(struct wire_job_batch *);
void rbuf_get_engine_stats(struct rbuf *, struct engine_stats *);

/* Looks at the start of a receive buffer: returns 1 and the type and payload
 * length when a whole message is there, 0 when more bytes are needed, -1
 * (EMSGSIZE) when the announced length is over WIRE_MAX_PAYLOAD. */
int wire_frame_peek(const uint8_t *buf, size_t avail, uint32_t *type, size_t *payload_len);

/* Blocking I/O for the children, which have nothing else to do while they
 * wait. Both retry on EINTR and short transfers. Return 0 or a positive
 * errno (EPIPE/ECONNRESET when the parent is gone; 0-byte read at a message
 * boundary gives ENOTCONN). wire_recv's *payload is malloc'd (NULL when the
 * length is 0). */
int wire_send(int fd, uint32_t type, const struct wbuf *payload);
int wire_recv(int fd, uint32_t *type, uint8_t **payload, size_t *len);

#endif
