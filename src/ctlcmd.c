/* ctlcmd.c: being written. */
