/* sdnotify.c: being written; see include/sdnotify.h. */
#include "sdnotify.h"
