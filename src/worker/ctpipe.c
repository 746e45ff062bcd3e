/*
 * ctpipe.c: a dump received on a helper thread and handled on the caller's.
 *
 * The two share a ring of datagram buffers. The receiver waits when the ring
 * is full, which pauses the kernel's dump (a netlink dump only builds the next
 * datagram when the previous one has been read), so nothing is lost and
 * memory stays at CTPIPE_SLOTS datagrams. The receiver stops at the dump's
 * last message, at an error, or when the handler gives up; after the handler
 * gives up at most one more datagram is read, since a running dump always
 * has one coming.
 */
#include "ctpipe.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* Deep enough that a send of deletes on the handling side (which the kernel
 * runs within the send) does not stall the receiver: a batch of 64 KiB of
 * deletes outlasts several datagrams of the dump. The buffers are mapped,
 * not touched, until the kernel fills them (32 KiB of each at most). */
#define CTPIPE_SLOTS 32

struct ctpipe {
    struct ctsock *sock;
    pthread_mutex_t lock;       /* Guards everything below. */
    pthread_cond_t changed;     /* A slot was filled or emptied, or stop. */
    char *buf[CTPIPE_SLOTS];
    ssize_t len[CTPIPE_SLOTS];  /* Bytes, or -errno: the receiver's last. */
    unsigned long filled;       /* Slots filled so far (head). */
    unsigned long emptied;      /* Slots handled so far (tail). */
    bool stop;                  /* The handler is done: receive no more. */
};

static void *
ctpipe_receiver(void *pipe_)
{
    struct ctpipe *p = pipe_;

    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->stop && p->filled - p->emptied == CTPIPE_SLOTS) {
            pthread_cond_wait(&p->changed, &p->lock);
        }
        bool stop = p->stop;
        size_t slot = p->filled % CTPIPE_SLOTS;
        pthread_mutex_unlock(&p->lock);
        if (stop) {
            break;
        }

        ssize_t n = ctsock_dump_recv(p->sock, p->buf[slot], CTSOCK_DUMP_DATAGRAM);
        bool last = n < 0 || ctsock_dump_ends(p->sock, p->buf[slot], (size_t) n);

        pthread_mutex_lock(&p->lock);
        p->len[slot] = n;
        p->filled++;
        pthread_cond_signal(&p->changed);
        pthread_mutex_unlock(&p->lock);
        if (last) {
            break;
        }
    }
    return NULL;
}

/* Handles datagrams as they come until the dump ends or cb gives up. */
static int
ctpipe_handle(struct ctpipe *p, ctsock_dump_cb *cb, void *aux)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->filled == p->emptied) {
            pthread_cond_wait(&p->changed, &p->lock);
        }
        size_t slot = p->emptied % CTPIPE_SLOTS;
        ssize_t n = p->len[slot];
        pthread_mutex_unlock(&p->lock);

        bool done = false;
        int err = n < 0 ? (int) -n
                        : ctsock_dump_parse(p->sock, p->buf[slot], (size_t) n, cb, aux, &done);

        pthread_mutex_lock(&p->lock);
        p->emptied++;
        if (n < 0 || done || err) {
            p->stop = true;
        }
        pthread_cond_signal(&p->changed);
        pthread_mutex_unlock(&p->lock);
        if (n < 0 || done || err) {
            return err;
        }
    }
}

int
ctpipe_dump(struct ctsock *s, const void *req, size_t req_len,
            ctsock_dump_cb *cb, void *aux)
{
    struct ctpipe p = { .sock = s };
    pthread_t tid;
    size_t slots;
    int err;

    for (slots = 0; slots < CTPIPE_SLOTS; slots++) {
        p.buf[slots] = malloc(CTSOCK_DUMP_DATAGRAM);
        if (!p.buf[slots]) {
            break;
        }
    }
    if (slots < CTPIPE_SLOTS) {
        /* No room for a ring: one thread does both halves. */
        err = ctsock_dump(s, req, req_len, cb, aux);
    } else {
        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.changed, NULL);
        err = ctsock_dump_start(s, req, req_len);
        if (err) {
            /* Nothing was sent. */
        } else if (pthread_create(&tid, NULL, ctpipe_receiver, &p)) {
            /* The request is out: receive it here after all. */
            err = ctsock_dump_finish(s, cb, aux);
        } else {
            err = ctpipe_handle(&p, cb, aux);
            pthread_join(tid, NULL);
        }
        pthread_cond_destroy(&p.changed);
        pthread_mutex_destroy(&p.lock);
    }
    for (size_t i = 0; i < slots; i++) {
        free(p.buf[i]);
    }
    return err;
}
