/* metrics.c: being written; see include/metrics.h. */
#include "metrics.h"
