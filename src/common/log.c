/*
 * log.c: stderr logging with syslog priority prefixes. The level and identity
 * are process-wide by nature: every module logs, and threading a logger
 * through every call would add noise without adding safety.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "ctflushd";         /* Set once at start-up. */
static enum log_level log_max = LOG_LVL_INFO;      /* Set once at start-up. */
static bool log_prefix = true;                     /* "<N>" syslog prefix. */

void
log_init(const char *ident, enum log_level max_level, bool syslog_prefix)
{
    log_ident = ident;
    log_max = max_level;
    log_prefix = syslog_prefix;
}

static void __attribute__((format(printf, 3, 0)))
log_vemit(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
    char msg[1024];

    if (lvl > log_max) {
        return;
    }
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (log_prefix) {
        if (errnum) {
            fprintf(stderr, "<%d>%s: %s: %s\n", lvl, log_ident, msg, strerror(errnum));
        } else {
            fprintf(stderr, "<%d>%s: %s\n", lvl, log_ident, msg);
        }
    } else if (errnum) {
        fprintf(stderr, "%s: %s: %s\n", log_ident, msg, strerror(errnum));
    } else {
        fprintf(stderr, "%s: %s\n", log_ident, msg);
    }
}

#define LOG_FN(NAME, LVL, WITH_ERRNO)                       \
    void NAME(const char *fmt, ...)                         \
    {                                                       \
        int saved = errno;                                  \
        va_list ap;                                         \
        va_start(ap, fmt);                                  \
        log_vemit(LVL, WITH_ERRNO ? saved : 0, fmt, ap);    \
        va_end(ap);                                         \
        errno = saved;                                      \
    }

LOG_FN(log_warn, LOG_LVL_WARNING, 1)
LOG_FN(log_warnx, LOG_LVL_WARNING, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_LVL_ERR, saved, fmt, ap);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_LVL_ERR, 0, fmt, ap);
    va_end(ap);
    exit(1);
}

uint64_t
ctf_time_msec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

double
ctf_time_sec_f(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

double
ctf_time_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct timeval
ctf_timeval_ms(uint64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t) (ms / 1000),
                          .tv_usec = (suseconds_t) ((ms % 1000) * 1000) };
    return tv;
}

bool
log_ratelimit_ok(struct log_ratelimit *rl)
{
    uint64_t now = ctf_time_msec();

    if (now - rl->window_start_ms >= 1000) {
        if (rl->suppressed) {
            log_warnx("%u similar log lines suppressed", rl->suppressed);
        }
        rl->window_start_ms = now;
        rl->used = 0;
        rl->suppressed = 0;
    }
    if (rl->used < rl->burst) {
        rl->used++;
        return true;
    }
    rl->suppressed++;
    return false;
}
