/* config.c: being written; see include/config.h. */
#include "config.h"
