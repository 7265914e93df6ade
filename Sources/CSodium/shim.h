#ifndef GOSSIPNODE_CSODIUM_SHIM_H
#define GOSSIPNODE_CSODIUM_SHIM_H
#include <sodium.h>
#endif
