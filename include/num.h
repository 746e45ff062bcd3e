/*
 * num.h: the one rule for an integer written as text, wherever ctflushd
 * reads one: the config file and the daemon's command line, `--oneshot`,
 * ctflushctl, the watcher's external_ids, systemd's environment, the
 * kernel's /proc counters.
 *
 * Decimal is "0", or a digit 1-9 followed by digits, and nothing else: no
 * blank, no "+", no "0x", no leading zero ("010" is octal to strtol's base
 * 0 and decimal to a person, so it is neither), no unit. A '-' only where
 * the range has negatives. Two spellings are named exceptions, through the
 * same scanner: octal for file modes ("0660"), and "0x" hex beside decimal
 * for conntrack marks (iptables and conntrack(8) write them so).
 *
 * Every refusal gives the same one-line reason, "'TEXT' is not a decimal
 * number from MIN to MAX", so a value refused in the config file reads the
 * same as one refused by ctflushctl; callers put what was being read in
 * front ("--zone: ").
 *
 * Owns: nothing; pure functions.
 */
#ifndef CTF_NUM_H
#define CTF_NUM_H

#include <stddef.h>
#include <stdint.h>

enum num_flags {
    NUM_DEC = 0,                /* Decimal only: counts, sizes, zones, ids. */
    NUM_HEX = 1 << 0,           /* Decimal, or "0x"/"0X" and hex digits:
                                 * marks and masks. */
    NUM_OCT = 1 << 1,           /* Octal digits only, with at most one more
                                 * digit than max needs ("0660" for 0777):
                                 * file modes. Not with NUM_HEX. */
    NUM_OR_ZERO = 1 << 2,       /* 0 is accepted below min too ("0: off" or
                                 * "0: built-in default"). */
};

/* Parses all of s as an integer in [min, max] written as flags allow.
 * Returns 0 with *out set, EINVAL (not such a number, or s NULL) or ERANGE
 * (outside the range) with *out untouched, and the reason in err (which may
 * be NULL). */
int num_parse_u64(const char *s, unsigned int flags, uint64_t min, uint64_t max,
                  uint64_t *out, char *err, size_t errlen);

/* The same for a signed range; '-' is accepted only when min < 0, and
 * "-0" never. */
int num_parse_i64(const char *s, unsigned int flags, int64_t min, int64_t max,
                  int64_t *out, char *err, size_t errlen);

#endif
