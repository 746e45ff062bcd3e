/* port.c: being written; see include/port.h. */
#include "port.h"
