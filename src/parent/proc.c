/*
 * proc.c: forking the parent's children (see proc.h).
 */
#include "proc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "wire.h"

/* The channel's number in the child: the first after stdio. */
#define PROC_CHILD_FD 3

static void
proc_child_setup(const char *name, int fd, pid_t parent)
{
    sigset_t all;
    int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2 };

    /* The parent's libevent handlers mean nothing here. SIGPIPE stays
     * ignored: a dead parent shows up as EPIPE from wire_send. */
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        signal(sigs[i], sigs[i] == SIGPIPE ? SIG_IGN : SIG_DFL);
    }
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    /* A child must never outlive the parent: it would hold netlink sockets
     * or an OVSDB connection nobody reads. The getppid() check closes the
     * race where the parent died before prctl. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(0);
    }
    prctl(PR_SET_NAME, name);

    if (fd != PROC_CHILD_FD) {
        if (dup2(fd, PROC_CHILD_FD) < 0) {
            _exit(127);
        }
    }
    /* Nothing of the parent's (control socket, state files, the other
     * child's channel) stays open in the child. */
    if (close_range(PROC_CHILD_FD + 1, ~0u, 0) < 0) {
        for (int i = PROC_CHILD_FD + 1; i < 1024; i++) {
            close(i);
        }
    }
    int flags = fcntl(PROC_CHILD_FD, F_GETFL);
    if (flags >= 0) {
        fcntl(PROC_CHILD_FD, F_SETFL, flags & ~O_NONBLOCK);
    }
    fcntl(PROC_CHILD_FD, F_SETFD, 0);
}

int
proc_spawn(const char *name, proc_main_fn *main_fn, void *arg, pid_t *pid, int *parent_fd)
{
    int sv[2];
    pid_t parent = getpid();

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return errno;
    }
    /* Output buffered in stdio would be written twice, once per process. */
    fflush(stdout);
    fflush(stderr);

    pid_t child = fork();
    if (child < 0) {
        int err = errno;
        close(sv[0]);
        close(sv[1]);
        return err;
    }
    if (child == 0) {
        close(sv[0]);
        proc_child_setup(name, sv[1], parent);
        main_fn(PROC_CHILD_FD, arg);
        _exit(0);
    }
    close(sv[1]);
    int flags = fcntl(sv[0], F_GETFL);
    if (flags < 0 || fcntl(sv[0], F_SETFL, flags | O_NONBLOCK) < 0) {
        int err = errno;
        close(sv[0]);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return err;
    }
    *pid = child;
    *parent_fd = sv[0];
    return 0;
}

const char *
proc_status_str(int status, char *buf, size_t len)
{
    if (WIFEXITED(status)) {
        snprintf(buf, len, "exited %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, len, "killed by SIG%s%s", sigabbrev_np(WTERMSIG(status))
                 ? sigabbrev_np(WTERMSIG(status)) : "?",
                 WCOREDUMP(status) ? " (core dumped)" : "");
    } else {
        snprintf(buf, len, "status 0x%x", (unsigned int) status);
    }
    return buf;
}

int
proc_channel_next(struct evbuffer *in, uint32_t *type, const uint8_t **payload, size_t *len)
{
    size_t avail = evbuffer_get_length(in);
    const uint8_t *buf;

    if (avail < WIRE_HDR_LEN) {
        return 0;
    }
    buf = evbuffer_pullup(in, WIRE_HDR_LEN);
    int rc = wire_frame_peek(buf, avail, type, len);
    if (rc <= 0) {
        return rc;
    }
    buf = evbuffer_pullup(in, (ev_ssize_t) (WIRE_HDR_LEN + *len));
    if (!buf) {
        return -1;
    }
    *payload = buf + WIRE_HDR_LEN;
    return 1;
}

void
proc_channel_drain(struct evbuffer *in, size_t len)
{
    evbuffer_drain(in, WIRE_HDR_LEN + len);
}

int
proc_channel_send(struct bufferevent *bev, uint32_t type, const struct wbuf *b)
{
    uint8_t hdr[WIRE_HDR_LEN];
    uint32_t len;

    if (b->oom) {
        return ENOMEM;
    }
    if (b->len > WIRE_MAX_PAYLOAD) {
        return EMSGSIZE;
    }
    len = (uint32_t) b->len;
    memcpy(hdr, &type, 4);
    memcpy(hdr + 4, &len, 4);
    if (bufferevent_write(bev, hdr, sizeof hdr) < 0
        || (b->len && bufferevent_write(bev, b->data, b->len) < 0)) {
        return ENOMEM;
    }
    return 0;
}

void
proc_stop(pid_t pid, int fd, unsigned int grace_ms)
{
    uint64_t deadline = ctf_time_msec() + grace_ms;

    if (pid <= 0) {
        return;
    }
    if (fd >= 0) {
        /* Not close(): libevent may still hold the descriptor until the
         * caller frees the bufferevent; the child must see EOF now. */
        shutdown(fd, SHUT_RDWR);
    }
    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            return;
        }
        if (ctf_time_msec() >= deadline) {
            break;
        }
        struct timespec ts = { 0, 10 * 1000000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        continue;
    }
}

int
proc_channel_dispatch(struct evbuffer *in, proc_msg_fn *msg_fn, void *aux, uint32_t *bad_type)
{
    const uint8_t *payload;
    uint32_t type = 0;
    size_t len = 0;
    int rc;

    while ((rc = proc_channel_next(in, &type, &payload, &len)) > 0) {
        if (!msg_fn(type, payload, len, aux)) {
            break;
        }
        proc_channel_drain(in, len);
    }
    if (rc != 0) {
        *bad_type = type;
        return -1;
    }
    return 0;
}

unsigned int
proc_backoff_ms(unsigned int failures, unsigned int min_ms, unsigned int max_ms)
{
    unsigned int ms = min_ms;

    for (unsigned int i = 0; i < failures && ms < max_ms; i++) {
        ms *= 2;
    }
    return ms < max_ms ? ms : max_ms;
}
