/*
 * log.h: the one logging module. Lines go to stderr with a syslog priority
 * prefix ("<3>...") so that journald, which reads the daemon's stderr, keeps
 * the level. log_warn appends strerror(errno); log_warnx does not.
 *
 * Owns: the process-wide log level and identity (set once at start-up).
 */
#ifndef CTF_LOG_H
#define CTF_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_init(const char *ident, enum log_level max_level, bool syslog_prefix);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A token bucket for log lines that a flood of input could trigger. */
struct log_ratelimit {
    uint64_t window_start_ms;   /* Start of the current one-second window. */
    unsigned int burst;         /* Lines allowed per window. */
    unsigned int used;          /* Lines printed in this window. */
    unsigned int suppressed;    /* Lines dropped since the last report. */
};
#define LOG_RATELIMIT_INIT(BURST) { 0, (BURST), 0, 0 }

/* True if a line may be printed now; reports suppressed counts as it goes. */
bool log_ratelimit_ok(struct log_ratelimit *);

uint64_t ctf_time_msec(void);       /* CLOCK_MONOTONIC in milliseconds. */
double ctf_time_sec_f(void);        /* CLOCK_MONOTONIC in seconds, as a double. */
double ctf_time_wall(void);         /* CLOCK_REALTIME in seconds (for display). */
struct timeval ctf_timeval_ms(uint64_t ms);    /* For libevent timers. */

#endif
