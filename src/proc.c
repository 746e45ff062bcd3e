/* proc.c: being written. */
