/*
 * oneshot.h: `ctflushd --oneshot`: run one flush job in the foreground, in the
 * current network namespace, and report what it did.
 *
 * Owns: nothing beyond the call.
 */
#ifndef CTF_ONESHOT_H
#define CTF_ONESHOT_H

/* argv as given to ctflushd (argv[0] included). Returns the exit code:
 * 0 ok, 1 the job failed, 2 bad usage or input, 4 missing privileges. */
int oneshot_main(int argc, char *argv[]);

#endif
