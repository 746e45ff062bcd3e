/* supervisor.c: being written. */
