/* extids.c: being written; see include/extids.h. */
#include "extids.h"
