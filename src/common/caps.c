/*
 * caps.c: this process's capability sets (see caps.h).
 */
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The raw syscalls: libcap is one more dependency for a few lines. */
int
caps_get(uint64_t *effective, uint64_t *permitted)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    *effective = *permitted = 0;
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) < 0) {
        return errno ? errno : EPERM;
    }
    *effective = data[0].effective | (uint64_t) data[1].effective << 32;
    *permitted = data[0].permitted | (uint64_t) data[1].permitted << 32;
    return 0;
}

int
caps_limit(uint64_t keep, uint64_t effective_want)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    uint64_t effective, permitted;
    int err = caps_get(&effective, &permitted);

    if (err) {
        return err;
    }
    permitted &= keep;
    effective = effective_want & permitted;
    memset(data, 0, sizeof data);
    data[0].permitted = (uint32_t) permitted;
    data[1].permitted = (uint32_t) (permitted >> 32);
    data[0].effective = (uint32_t) effective;
    data[1].effective = (uint32_t) (effective >> 32);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
        || syscall(SYS_capset, &hdr, data) < 0) {
        return errno;
    }
    return 0;
}

bool
caps_have_net_admin(void)
{
    uint64_t eff, perm;

    /* Cannot tell: let the kernel say when it is asked. */
    return caps_get(&eff, &perm) || (eff & CAPS_BIT(CAP_NET_ADMIN));
}
