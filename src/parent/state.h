/*
 * state.h: what survives a restart. The port table and the owed jobs (queued
 * and running) are written as one JSON document, DIR/state.json, so the two
 * are always consistent with each other: a port is never dropped from the
 * saved table without its removal job being saved beside it.
 *
 * Writes are atomic (temp file, fsync, rename, fsync of the directory) and
 * happen in a writer thread: the parent serialises a snapshot in memory
 * (fast) and hands it over, so a slow disk never stalls the event loop. A
 * newer snapshot replaces one not yet written.
 *
 * A state file that does not parse is moved aside (state.json.corrupt.<unix
 * time>) with a log line, and the daemon starts empty: never a crash.
 *
 * Owns: the writer thread and the snapshot it holds.
 */
#ifndef CTF_STATE_H
#define CTF_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobq.h"
#include "json.h"
#include "porttab.h"

#define STATE_FILE_NAME "state.json"
#define STATE_VERSION 1
/* Largest state file we will read (a table of ~100k ports). */
#define STATE_MAX_BYTES (256u << 20)

/* Serialises every port table entry and every queued or running job (a
 * running job is saved as queued: after a restart it runs again). */
void state_serialize(const struct porttab *, const struct jobq *, struct json_out *);

/* Parses a state document into an empty table and queue (jobq_restore,
 * porttab_restore). Returns 0 or EBADMSG/ENOMEM with the reason in err; on
 * error the table and queue may hold part of the file (callers reset them). */
int state_parse(const char *text, size_t len, struct porttab *, struct jobq *,
                char *err, size_t errlen);

/* Reads DIR/state.json. Returns 0, ENOENT (no file: a first start), EBADMSG
 * (corrupt: moved aside, the table and queue reset to empty, the reason and
 * new name in err), or another errno when the file cannot be read. */
int state_load(const char *dir, struct porttab *, struct jobq *, char *err, size_t errlen);

/* Atomic write of text to DIR/state.json. Returns 0 or a positive errno with
 * the failing step in err. */
int state_write_file(const char *dir, const char *text, size_t len, char *err, size_t errlen);

struct state_writer;

struct state_writer_status {
    uint64_t writes;            /* Snapshots written. */
    uint64_t failures;          /* Writes that failed. */
    int last_error;             /* 0 after a good write. */
    char last_error_msg[256];
    bool pending;               /* A snapshot is waiting or being written. */
};

/* Starts the writer thread for DIR (which must exist). Returns 0 or errno. */
int state_writer_start(struct state_writer **, const char *dir);
/* Hands over a snapshot (takes ownership of text, a malloc'd buffer). */
void state_writer_submit(struct state_writer *, char *text, size_t len);
void state_writer_get_status(struct state_writer *, struct state_writer_status *);
/* Writes what is pending, stops and frees the writer. Accepts NULL. */
void state_writer_stop(struct state_writer *);

#endif
