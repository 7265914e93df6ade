#include "CKernels.h"
#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/resource.h>
int ck_forbid_core_dumps(void) {
    // No core file (RLIMIT_CORE 0, soft and hard) and not dumpable: the kernel then writes no core
    // and hands none to a core_pattern pipe (crash reporters ignore the limit), and other
    // processes of the same user cannot ptrace it. What `ssh-agent` does for the same reason.
    struct rlimit none = {0, 0};
    int limited = setrlimit(RLIMIT_CORE, &none) == 0;
    int undumpable = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
    return limited && undumpable;
}
int ck_is_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1; }
#else
#include <sys/resource.h>
int ck_forbid_core_dumps(void) {
    struct rlimit none = {0, 0};
    return setrlimit(RLIMIT_CORE, &none) == 0;
}
int ck_is_dumpable(void) { return 1; }
#endif
