/*
 * cliopt.h: how ctflushd's two command lines take their options, the
 * daemon's (whose long options are built from config.c's key table) and
 * `--oneshot`'s: getopt_long, plus the three rules it lacks.
 *
 *  - A name is matched whole. getopt_long also takes any unambiguous
 *    abbreviation, so adding a key could break a command line that worked
 *    ("--batch-window" would stop meaning "--batch-window-ms").
 *  - A value given as the next argument may not start with "--":
 *    "--zone-key --history 5" is a forgotten value, not a key named
 *    "--history". "--zone-key=--odd" says it is meant.
 *  - Errors come back as one line of text; nothing is printed.
 *
 * Options end at the first argument that is not one, or at "--"; anything
 * after them is an error (neither command line takes operands).
 *
 * getopt_long's state (optind, optarg) is the C library's, global by its
 * design: one parse at a time, which is all a command line needs.
 *
 * Owns: nothing; the strings it hands back point into argv and the table.
 */
#ifndef CTF_CLIOPT_H
#define CTF_CLIOPT_H

#include <getopt.h>
#include <stddef.h>

#define CLIOPT_END 0            /* No more options. */
#define CLIOPT_ERROR (-1)       /* See err. */

struct cliopt {
    int argc;
    char **argv;
    const struct option *opts;  /* getopt_long's table; every val > 0. */
    char optstring[32];         /* "+:" and the short options. */
    const char *hint;           /* Put after "unknown option" and
                                 * "unexpected argument", e.g.
                                 * " (see ctflushd --help)"; may be "". */
    const char *name;           /* The long option just returned, or NULL
                                 * for a short one. */
    const char *value;          /* Its value, or NULL. */
};

/* shortopts: getopt's short options without the leading "+:" (at most 29
 * characters), or "". */
void cliopt_init(struct cliopt *, int argc, char *argv[], const struct option *opts,
                 const char *shortopts, const char *hint);

/* The next option's val (name and value set), CLIOPT_END, or CLIOPT_ERROR
 * with the reason in err. */
int cliopt_next(struct cliopt *, char *err, size_t errlen);

#endif
