/*
 * ctflushctl.c: the operator's client for ctflushd's control socket.
 *
 * The control socket arrives with the daemon; until then this client only
 * says so, with the exit code scripts expect for an unreachable daemon (3).
 */
#include <stdio.h>
#include <string.h>

int
main(int argc, char *argv[])
{
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("ctflushctl %s\n", CTF_VERSION);
        return 0;
    }
    fprintf(stderr, "ctflushctl: cannot reach ctflushd: this version of ctflushd has no "
                    "control socket yet\n");
    return 3;
}
