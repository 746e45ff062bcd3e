/* jobq.c: being written; see include/jobq.h. */
#include "jobq.h"
