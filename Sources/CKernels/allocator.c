#include "CKernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
int ck_retain_freed_memory(void) {
    // A node allocates and frees buffers of a model's size (0.8-2.4 MB) many times a round. By
    // default glibc serves such sizes with mmap and hands the heap's free top back with brk, so
    // every round faults the same pages in again. Keeping them costs resident memory up to the
    // thresholds; the node's dataset already dwarfs that.
    return mallopt(M_MMAP_THRESHOLD, 64 << 20) && mallopt(M_TRIM_THRESHOLD, 128 << 20) && mallopt(M_TOP_PAD, 16 << 20);
}
#else
int ck_retain_freed_memory(void) { return 0; }
#endif
