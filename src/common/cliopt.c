/*
 * cliopt.c: getopt_long with whole names and no "--" values (cliopt.h).
 * Errors are written with snprintf, which takes (NULL, 0) for "no buffer".
 */
#include "cliopt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Option names are echoed at most this long. */
#define CLIOPT_ECHO_MAX 64

/* The option named exactly name[0..len), or NULL. */
static const struct option *
cliopt_find(const struct option *opts, const char *name, size_t len)
{
    for (; opts && opts->name; opts++) {
        if (strlen(opts->name) == len && !strncmp(opts->name, name, len)) {
            return opts;
        }
    }
    return NULL;
}

static int
cliopt_needs_value(char *err, size_t errlen, const char *name, int nlen)
{
    snprintf(err, errlen, "option '--%.*s' needs a value (--%.*s=VALUE for one that starts "
             "with '--')", nlen, name, nlen, name);
    return CLIOPT_ERROR;
}

void
cliopt_init(struct cliopt *c, int argc, char *argv[], const struct option *opts,
            const char *shortopts, const char *hint)
{
    memset(c, 0, sizeof *c);
    c->argc = argc;
    c->argv = argv;
    c->opts = opts;
    c->hint = hint ? hint : "";
    /* '+': stop at the first operand (and never permute argv); ':': tell a
     * missing value from an unknown option. */
    snprintf(c->optstring, sizeof c->optstring, "+:%s", shortopts ? shortopts : "");
    optind = 0;                 /* glibc: start afresh, even after a parse. */
    opterr = 0;
}

int
cliopt_next(struct cliopt *c, char *err, size_t errlen)
{
    int at = optind ? optind : 1;   /* The argument getopt_long reads now. */
    int idx = -1;
    int ch;

    c->name = NULL;
    c->value = NULL;
    ch = getopt_long(c->argc, c->argv, c->optstring, c->opts, &idx);

    const char *arg = at < c->argc ? c->argv[at] : "";
    bool is_long = !strncmp(arg, "--", 2);
    const char *name = is_long ? arg + 2 : *arg ? arg + 1 : arg;   /* "" at the end. */
    size_t len = strcspn(name, "=");
    bool has_eq = is_long && name[len] == '=';
    int nlen = len > CLIOPT_ECHO_MAX ? CLIOPT_ECHO_MAX : (int) len;     /* As echoed. */

    if (ch == -1) {
        if (optind < c->argc) {
            snprintf(err, errlen, "unexpected argument '%.*s'%s",
                     CLIOPT_ECHO_MAX, c->argv[optind], c->hint);
            return CLIOPT_ERROR;
        }
        return CLIOPT_END;
    }
    if (is_long && !cliopt_find(c->opts, name, len)) {
        /* Unknown, or an abbreviation getopt_long would have taken. */
        snprintf(err, errlen, "unknown option '--%.*s'%s", nlen, name, c->hint);
        return CLIOPT_ERROR;
    }
    if (ch == ':') {
        if (!is_long) {
            snprintf(err, errlen, "option '-%c' needs a value", optopt);
            return CLIOPT_ERROR;
        }
        return cliopt_needs_value(err, errlen, name, nlen);
    }
    if (ch == '?') {
        if (is_long) {          /* Known, so only "--flag=VALUE" is left. */
            snprintf(err, errlen, "option '--%.*s' takes no value", nlen, name);
            return CLIOPT_ERROR;
        }
        snprintf(err, errlen, "unknown option '-%c'%s", optopt, c->hint);
        return CLIOPT_ERROR;
    }
    if (idx < 0) {
        return ch;              /* A short option: getopt's own rules. */
    }
    const struct option *o = &c->opts[idx];
    if (o->has_arg == required_argument && !has_eq && !strncmp(optarg, "--", 2)) {
        return cliopt_needs_value(err, errlen, o->name, (int) strlen(o->name));
    }
    c->name = o->name;
    c->value = o->has_arg == no_argument ? NULL : optarg;
    return ch;
}
