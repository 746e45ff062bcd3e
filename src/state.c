/* state.c: being written; see include/state.h. */
#include "state.h"
