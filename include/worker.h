/*
 * worker.h: the batch worker, a forked child of the parent and the only part
 * of the daemon that talks ctnetlink. At start it proves what the kernel can
 * do (probe.h), or takes what an earlier worker of this boot proved
 * (probecache.h), and says READY; then it runs one job at a time (engine.h),
 * streaming PROGRESS and a final DONE back to the parent (wire.h WIRE_K_*).
 * It holds no job state that matters: if it dies, the parent still owns the
 * job and runs it again.
 *
 * Owns: its netlink sockets (inside the engine) and the probe result.
 */
#ifndef CTF_WORKER_H
#define CTF_WORKER_H

#include <stdbool.h>

/* The file the daemon keeps the probe's findings in, in its state-dir. */
#define WORKER_PROBE_CACHE_NAME "probe.cache"

struct worker_config {
    int nice;                   /* setpriority() value for the worker. */
    bool probe;                 /* Prove kernel features (else dump path only). */
    char probe_cache[4096];     /* Where the findings are kept for the boot
                                 * (probecache.h); "": nowhere. */
    bool reprobe;               /* Prove again whatever is kept. */
};

/* proc_main_fn: arg is a struct worker_config. Exits 0 when the parent
 * closes the channel. */
void worker_main(int fd, void *arg);

#endif
