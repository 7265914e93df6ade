#ifndef GOSSIPNODE_CKERNELS_H
#define GOSSIPNODE_CKERNELS_H

/// Sets flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR, arm64 FPCR.FZ).
/// Training with momentum otherwise fills weights with denormals and slows down severalfold.
void ck_enable_flush_to_zero(void);

#endif
