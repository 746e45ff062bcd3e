/*
 * ctlargs.h: ctflushctl's command line, turned into a control request
 * (ctlproto.h) plus the client's own options. A token table in the manner of
 * bgpctl's parser: global options, then one command word, then the options
 * and arguments that command takes. Address lists are parsed here, so bad
 * input is a usage error before any connection is made, and "@FILE" is read
 * here: the daemon only ever sees addresses, never a client's path.
 *
 * Pure apart from reading @FILE lists: the environment is passed in, nothing
 * is printed, errors come back as text.
 *
 * Owns: the request in struct ctlargs (its lists and port name). The socket
 * path is borrowed from argv or the environment, which outlive the parse.
 */
#ifndef CTF_CTLARGS_H
#define CTF_CTLARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctlproto.h"

#define CTLARGS_DEFAULT_SOCKET "/run/ctflushd/ctflushd.sock"
#define CTLARGS_SOCKET_ENV "CTFLUSHD_SOCKET"
#define CTLARGS_DEFAULT_TIMEOUT_MS 10000u
#define CTLARGS_MAX_TIMEOUT_MS (86400u * 1000)

/* What the caller is to do once the command line is parsed. */
enum ctlargs_action {
    CTLARGS_REQUEST,            /* Send req to the daemon. */
    CTLARGS_HELP,               /* Print ctlargs_help(help_topic) on stdout. */
    CTLARGS_VERSION,            /* Print the version. */
};

struct ctlargs {
    enum ctlargs_action action;
    const char *socket_path;    /* --socket, else the environment, else the
                                 * default; borrowed, never NULL after a
                                 * successful parse. */
    bool json;                  /* --json: one JSON object on stdout. */
    unsigned int timeout_ms;    /* --timeout: wait for a reply at most this
                                 * long (not for job progress). */
    const char *command;        /* The command word seen, or NULL; names
                                 * the usage to show after an error. */
    const char *help_topic;     /* "help CMD": the command asked about. */
    struct ctlproto_request req;    /* Valid when action is CTLARGS_REQUEST. */
};

void ctlargs_init(struct ctlargs *);
void ctlargs_destroy(struct ctlargs *);     /* Accepts NULL. */

/* Parses argv as main() receives it (argv[0] is skipped). env_socket is the
 * value of CTLARGS_SOCKET_ENV or NULL; an empty value counts as unset. On a
 * usage error returns EINVAL (or the errno of an unreadable @FILE) with one
 * line in err saying what was wrong; args->command then says which usage to
 * show. */
int ctlargs_parse(struct ctlargs *, int argc, char *const argv[], const char *env_socket,
                  char *err, size_t errlen);

/* The short usage printed after a usage error: the global synopsis, and that
 * command's synopsis when command names one. */
void ctlargs_usage(FILE *, const char *command);
/* The full help ("ctflushctl help"), or one command's when topic names one. */
void ctlargs_help(FILE *, const char *topic);

#endif
