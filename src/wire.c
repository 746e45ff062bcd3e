/* wire.c: being written; see include/wire.h. */
#include "wire.h"
