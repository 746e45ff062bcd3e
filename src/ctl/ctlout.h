/*
 * ctlout.h: ctflushctl's output. Turns a parsed reply (a jansson tree, from
 * json_parse) into what the operator reads: aligned "key: value" lines for
 * status, tables for jobs and ports, one line for the rest; and, for --json,
 * the value itself on one line. Text goes into any FILE *, so tests can read
 * it back from open_memstream.
 *
 * The daemon's replies are read defensively: a missing member, a null, or a
 * member of an unexpected type prints as "-" rather than failing, so an older
 * or newer daemon still gives readable output. Control characters in strings
 * (port names come from OVSDB) are printed as '?' so a reply cannot drive
 * the terminal; metrics text, which is the operator's to pipe on, is the one
 * thing printed verbatim.
 *
 * Owns: nothing beyond a call.
 */
#ifndef CTF_CTLOUT_H
#define CTF_CTLOUT_H

#include <stdbool.h>
#include <stdio.h>

#include "ctlproto.h"
#include "json.h"

/* The text for a successful reply's result to cmd. Returns 0, or ENOMEM if
 * part of the output could not be built. */
int ctlout_result(FILE *, enum ctl_cmd, const json_t *result);

/* --json: v as one line of JSON followed by a newline. Returns 0 or ENOMEM. */
int ctlout_json(FILE *, const json_t *);

/* --json after an error reply: {"error":ERROR} on one line. Returns 0 or
 * ENOMEM. */
int ctlout_json_error(FILE *, const json_t *error);

/* An error reply's "error" member as "ctflushctl: MESSAGE (CODE)". */
void ctlout_error(FILE *, const json_t *error);

/* The terminal progress line of a waited-on job (a JOB object): starts with
 * '\r' and clears to the end of the line, ends with no newline, so each call
 * overwrites the last: "[job 12] dump: scanned 120000 matched 3400 deleted
 * 3400 (25000/s)". */
void ctlout_progress(FILE *, const json_t *job);

/* The end of flush --wait (the "end" event): one line per job on out. */
void ctlout_wait_end(FILE *out, const json_t *end);

/* Whether the waited-on flush succeeded: "ok" true and every job "done".
 * Says on err why not, one "ctflushctl: job N failed: REASON" line per job
 * that failed or was cancelled. */
bool ctlout_wait_check(FILE *err, const json_t *end);

#endif
