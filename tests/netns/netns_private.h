/*
 * netns_private.h: the C netns tests' first step, moving the test process
 * into a network namespace of its own, so its conntrack table is private and
 * goes away with the process on every exit path.
 */
#ifndef CTF_TEST_NETNS_PRIVATE_H
#define CTF_TEST_NETNS_PRIVATE_H

/* 0 once in a fresh namespace; 77 (ctest's "skipped", said why on stderr)
 * when not root or the namespace cannot be made. */
int netns_private_enter(void);

#endif
