/* watcher.c: being written; see include/watcher.h. */
#include "watcher.h"
