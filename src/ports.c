/* ports.c: being written. */
