/* batch.c: being written; see include/batch.h. */
#include "batch.h"
