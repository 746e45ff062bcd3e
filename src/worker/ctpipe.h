/*
 * ctpipe.h: one dump with its two halves on two threads. A helper thread
 * receives the dump (the kernel builds each datagram within that recv, so
 * this is where a dump's time goes) while the caller's thread parses,
 * matches and deletes what was received before.
 *
 * Owns: the helper thread and a ring of datagram buffers, for one dump.
 */
#ifndef CTF_CTPIPE_H
#define CTF_CTPIPE_H

#include <stddef.h>

#include "ctsock.h"

/* Runs a dump as ctsock_dump does, with the same callback (called on the
 * caller's thread) and the same results. Falls back to ctsock_dump if the
 * helper thread or its buffers cannot be had. */
int ctpipe_dump(struct ctsock *, const void *req, size_t req_len,
                ctsock_dump_cb *cb, void *aux);

#endif
