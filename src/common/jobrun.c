/*
 * jobrun.c: strategy names (see jobrun.h).
 */
#include "jobrun.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const strategy_names[] = {
    [CT_STRATEGY_AUTO] = "auto",
    [CT_STRATEGY_DUMP] = "dump",
    [CT_STRATEGY_FILTERED_FLUSH] = "filtered-flush",
    [CT_STRATEGY_ZONE_FLUSH] = "zone-flush",
    [CT_STRATEGY_FILTERED_DUMP] = "filtered-dump",
};

const char *
ct_strategy_name(enum ct_strategy s)
{
    return (unsigned int) s < sizeof strategy_names / sizeof *strategy_names
           ? strategy_names[s] : "?";
}

int
ct_strategy_parse(const char *s, enum ct_strategy *out)
{
    for (size_t i = 0; i < sizeof strategy_names / sizeof *strategy_names; i++) {
        if (!strcmp(s, strategy_names[i])) {
            *out = (enum ct_strategy) i;
            return 0;
        }
    }
    return EINVAL;
}

const char *
engine_strategies_name(const struct engine_stats *st, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int s = CT_STRATEGY_DUMP; s < CT_STRATEGY_COUNT; s++) {
        if (st->strategies_used & (1u << s)) {
            int n = snprintf(buf + used, len - used, "%s%s", used ? "+" : "",
                             ct_strategy_name((enum ct_strategy) s));
            if (n < 0 || (size_t) n >= len - used) {
                break;
            }
            used += (size_t) n;
        }
    }
    return used ? buf : ct_strategy_name(st->strategy);
}
