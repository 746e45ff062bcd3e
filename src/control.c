/* control.c: being written; see include/control.h. */
#include "control.h"
