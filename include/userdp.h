/*
 * userdp.h: the userdp child, the parent's backend for the conntrack table
 * that ovs-vswitchd keeps itself for bridges with datapath_type=netdev
 * (OVS-DPDK, AF_XDP, plain netdev), which ctnetlink never sees. Forked
 * like the worker and spoken to in the same WIRE_K_* messages (READY,
 * JOB, PROGRESS, DONE, CANCEL), so the parent's queue and supervision
 * treat both alike; it runs each job as dpctl/flush-conntrack calls over
 * ovs-vswitchd's unixctl socket (src/userdp/). It needs no capability:
 * only the right to connect to that socket (CAP_DAC_OVERRIDE is kept when
 * the socket's directory is another user's, as for the watcher).
 *
 * Owns: its connection to ovs-vswitchd and what it probed of it.
 */
#ifndef CTF_USERDP_H
#define CTF_USERDP_H

struct userdp_config {
    char rundir[4096];          /* ovs-rundir: ovs-vswitchd.pid, .ctl socket. */
    unsigned int timeout_ms;    /* One call's limit, and how long a job
                                 * waits for ovs-vswitchd to come (back)
                                 * before its attempt fails (retryable). */
};

/* proc_main_fn: arg is a struct userdp_config. Exits 0 when the parent
 * closes the channel. */
void userdp_main(int fd, void *arg);

#endif
