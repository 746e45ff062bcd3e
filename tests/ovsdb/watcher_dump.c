/*
 * watcher_dump: runs the OVSDB watcher (watcher_main) in a forked child, as
 * the daemon does, and prints every message it sends, one line each,
 * flushed at once, so that a test script can follow it with grep.
 *
 *     watcher_dump --db=REMOTE [--iface-ip-key=KEY]... [--port-ip-key=KEY]...
 *                  [--zone-key=KEY] [--vlan-zone] [--heartbeat-ms=MS]
 *
 * Lines:
 *     STATUS connected=0|1 remote=REMOTE error="TEXT"
 *     SYNC_BEGIN | SYNC_END
 *     PORT name=N iface=ID|- bridge=B|- ofport=N ips=A,B|- ipsrc=S zone=Z|- zonesrc=S
 *     GONE (the same fields as PORT)
 *
 * SIGUSR1 closes the channel (the parent going away) and waits for the
 * child: "CHILD_EXIT status=N" (or signal=N), then exits 0 if the child
 * exited 0.  SIGTERM/SIGINT stop the child and exit.  If the child closes
 * the channel first, "EOF ..." and CHILD_EXIT are printed and it exits 1.
 * The watcher's log lines go to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "portinfo.h"
#include "watcher.h"
#include "wire.h"

#define DUMP_MAX_KEYS 8
#define DUMP_CHILD_WAIT_MS 10000

static volatile sig_atomic_t dump_close_requested;  /* SIGUSR1 */
static volatile sig_atomic_t dump_quit;             /* SIGTERM, SIGINT */

static void
dump_on_signal(int sig)
{
    if (sig == SIGUSR1) {
        dump_close_requested = 1;
    } else {
        dump_quit = 1;
    }
}

static void
dump_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --db=REMOTE [--iface-ip-key=KEY]... [--port-ip-key=KEY]...\n"
            "          [--zone-key=KEY] [--vlan-zone] [--heartbeat-ms=MS]\n",
            prog);
}

static void
dump_print_port(const char *what, const struct port_info *pi)
{
    char buf[CTF_PREFIX_STRLEN];

    printf("%s name=%s iface=%s bridge=%s ofport=%lld ips=", what, pi->name,
           pi->iface_id ? pi->iface_id : "-", pi->bridge ? pi->bridge : "-",
           (long long) pi->ofport);
    for (size_t i = 0; i < pi->ips.n; i++) {
        printf("%s%s", i ? "," : "", ctf_prefix_format(&pi->ips.items[i], buf));
    }
    if (!pi->ips.n) {
        printf("-");
    }
    printf(" ipsrc=%s zone=", port_ip_source_name(pi->ip_source));
    if (pi->has_zone) {
        printf("%u", pi->zone);
    } else {
        printf("-");
    }
    printf(" zonesrc=%s", port_zone_source_name(pi->zone_source));
    /* Only when not the kernel's, so the older lines read as they did. */
    if (pi->datapath != FLUSH_DATAPATH_KERNEL) {
        printf(" dp=%s", flush_datapath_name(pi->datapath));
    }
    printf("\n");
}

/* Prints one message; false if it does not decode. */
static bool
dump_message(uint32_t type, const uint8_t *payload, size_t len)
{
    struct rbuf r;
    bool ok;

    rbuf_init(&r, payload, len);
    switch (type) {
    case WIRE_W_STATUS: {
        uint8_t connected = rbuf_get_u8(&r);
        char *remote = rbuf_get_str(&r);
        char *error = rbuf_get_str(&r);

        ok = rbuf_ok(&r);
        if (ok) {
            printf("STATUS connected=%u remote=%s error=\"%s\"\n", connected,
                   remote ? remote : "-", error ? error : "");
        }
        free(remote);
        free(error);
        break;
    }
    case WIRE_W_SYNC_BEGIN:
    case WIRE_W_SYNC_END:
        ok = rbuf_ok(&r);
        if (ok) {
            printf("%s\n", type == WIRE_W_SYNC_BEGIN ? "SYNC_BEGIN" : "SYNC_END");
        }
        break;
    case WIRE_W_PORT:
    case WIRE_W_PORT_GONE: {
        struct port_info pi;

        port_info_init(&pi);
        rbuf_get_port_info(&r, &pi);
        ok = rbuf_ok(&r);
        if (ok) {
            dump_print_port(type == WIRE_W_PORT ? "PORT" : "GONE", &pi);
        }
        port_info_destroy(&pi);
        break;
    }
    default:
        ok = false;
        break;
    }
    if (!ok) {
        printf("BAD type=%u len=%zu\n", type, len);
    }
    fflush(stdout);
    return ok;
}

/* Waits up to DUMP_CHILD_WAIT_MS for the child and prints how it ended;
 * returns its exit status, or -1 if it was killed or had to be. */
static int
dump_reap(pid_t child)
{
    struct timespec tick = { 0, 20 * 1000 * 1000 };
    int status;

    for (int waited = 0; waited < DUMP_CHILD_WAIT_MS; waited += 20) {
        pid_t pid = waitpid(child, &status, WNOHANG);

        if (pid == child) {
            if (WIFEXITED(status)) {
                printf("CHILD_EXIT status=%d\n", WEXITSTATUS(status));
                fflush(stdout);
                return WEXITSTATUS(status);
            }
            printf("CHILD_EXIT signal=%d\n", WTERMSIG(status));
            fflush(stdout);
            return -1;
        } else if (pid < 0 && errno != EINTR) {
            printf("CHILD_EXIT error=%s\n", strerror(errno));
            fflush(stdout);
            return -1;
        }
        nanosleep(&tick, NULL);
    }
    printf("CHILD_TIMEOUT\n");
    fflush(stdout);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    return -1;
}

int
main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"db", required_argument, NULL, 'd'},
        {"iface-ip-key", required_argument, NULL, 'i'},
        {"port-ip-key", required_argument, NULL, 'p'},
        {"zone-key", required_argument, NULL, 'z'},
        {"vlan-zone", no_argument, NULL, 'v'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *iface_keys[DUMP_MAX_KEYS], *port_keys[DUMP_MAX_KEYS];
    struct watcher_config cfg;
    int opt, sv[2];

    memset(&cfg, 0, sizeof cfg);
    cfg.heartbeat_ms = 1000;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        char *end;
        long v;

        switch (opt) {
        case 'd':
            cfg.remote = optarg;
            break;
        case 'i':
        case 'p': {
            const char **keys = opt == 'i' ? iface_keys : port_keys;
            size_t *n = opt == 'i' ? &cfg.rules.n_iface_ip_keys : &cfg.rules.n_port_ip_keys;

            if (*n == DUMP_MAX_KEYS) {
                fprintf(stderr, "%s: too many keys\n", argv[0]);
                return 2;
            }
            keys[(*n)++] = optarg;
            if (opt == 'i') {
                cfg.rules.iface_ip_keys = iface_keys;
            } else {
                cfg.rules.port_ip_keys = port_keys;
            }
            break;
        }
        case 'z':
            cfg.rules.zone_key = optarg;
            break;
        case 'v':
            cfg.rules.zone_from_vlan_tag = true;
            break;
        case 'b':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v <= 0 || v > INT_MAX) {
                fprintf(stderr, "%s: bad --heartbeat-ms '%s'\n", argv[0], optarg);
                return 2;
            }
            cfg.heartbeat_ms = (unsigned int) v;
            break;
        case 'h':
            dump_usage(argv[0]);
            return 0;
        default:
            dump_usage(argv[0]);
            return 2;
        }
    }
    if (!cfg.remote || optind != argc) {
        dump_usage(argv[0]);
        return 2;
    }
    log_init("watcher_dump", LOG_LVL_DEBUG, false);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        close(sv[0]);
        watcher_main(sv[1], &cfg);
    }
    close(sv[1]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = dump_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (;;) {
        if (dump_quit) {
            close(sv[0]);
            kill(child, SIGTERM);
            dump_reap(child);
            return 0;
        }
        if (dump_close_requested) {
            close(sv[0]);
            return dump_reap(child) == 0 ? 0 : 1;
        }

        struct pollfd pfd = { .fd = sv[0], .events = POLLIN };
        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("poll");
            break;
        }

        uint32_t type;
        uint8_t *payload;
        size_t len;
        int err = wire_recv(sv[0], &type, &payload, &len);
        if (err) {
            printf("EOF error=\"%s\"\n", strerror(err));
            fflush(stdout);
            break;
        }
        bool ok = dump_message(type, payload, len);
        free(payload);
        if (!ok) {
            break;
        }
    }
    close(sv[0]);
    dump_reap(child);
    return 1;
}
