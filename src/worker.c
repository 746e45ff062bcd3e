/* worker.c: being written. */
