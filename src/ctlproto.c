/* ctlproto.c: being written; see include/ctlproto.h. */
#include "ctlproto.h"
