/* porttab.c: being written; see include/porttab.h. */
#include "porttab.h"
