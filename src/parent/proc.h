/*
 * proc.h: starts the parent's children. Each child is forked with one end
 * of a SOCK_STREAM socketpair as its only channel to the parent (moved to fd
 * 3, every other descriptor but stdio closed), default signal handling, and
 * PR_SET_PDEATHSIG so it never outlives the parent. The child never returns
 * into the parent's event loop.
 *
 * Owns: nothing after the fork; the caller owns the pid and its fd.
 */
#ifndef CTF_PROC_H
#define CTF_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The child's body: runs until it exits. fd is its end of the channel. */
typedef void proc_main_fn(int fd, void *arg);

/* Forks a child running main_fn(3, arg). Returns 0 with the child's pid and
 * the parent's end of the channel (non-blocking, close-on-exec), or an errno. */
int proc_spawn(const char *name, proc_main_fn *main_fn, void *arg, pid_t *pid, int *parent_fd);

/* The parent's end of a channel, read and written through libevent's
 * buffers (wire.h framing). proc_channel_next returns 1 with the next whole
 * message (payload points into the buffer until proc_channel_drain), 0 when
 * more bytes are needed, or -1 when the peer announced an oversized
 * message. */
struct evbuffer;
struct bufferevent;
struct wbuf;
int proc_channel_next(struct evbuffer *, uint32_t *type, const uint8_t **payload, size_t *len);
void proc_channel_drain(struct evbuffer *, size_t len);
/* Hands every whole message in the buffer to msg_fn, draining each after it
 * is handled. Returns 0 when all went well, or -1 (with the type in
 * *bad_type) when a message was oversized or msg_fn found it malformed: a
 * child that sends such a thing is broken, and the caller replaces it.
 * msg_fn must not free the buffer. */
typedef bool proc_msg_fn(uint32_t type, const uint8_t *payload, size_t len, void *aux);
int proc_channel_dispatch(struct evbuffer *, proc_msg_fn *msg_fn, void *aux,
                          uint32_t *bad_type);

/* Restart backoff for a child that died 'failures' times in a row:
 * min_ms doubling per failure, capped at max_ms. */
unsigned int proc_backoff_ms(unsigned int failures, unsigned int min_ms, unsigned int max_ms);

/* Queues one message. Returns 0, EMSGSIZE or ENOMEM. */
int proc_channel_send(struct bufferevent *, uint32_t type, const struct wbuf *);

/* Stops a child so that it can exit on its own: shuts the parent's end of
 * its channel, fd, down (the child's cue to free what it holds and exit,
 * which is also what lets leak checkers look at it), then reaps it, with
 * SIGKILL if it has not exited within grace_ms (a worker deep in a job reads
 * its channel only between jobs). The caller still frees its end. */
void proc_stop(pid_t pid, int fd, unsigned int grace_ms);
#define PROC_STOP_GRACE_MS 3000

/* "exited 0", "exited 3", "killed by SIGKILL": for logs and status. */
const char *proc_status_str(int status, char *buf, size_t len);

#endif
