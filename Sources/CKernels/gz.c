#include "CKernels.h"
#include <zlib.h>

void *ck_gz_open(const char *path) { return gzopen(path, "rb"); }

long ck_gz_read(void *file, void *buffer, unsigned len) {
    int n = gzread((gzFile)file, buffer, len);
    return n < 0 ? -1 : (long)n;
}

const char *ck_gz_error(void *file) {
    int code = 0;
    const char *message = gzerror((gzFile)file, &code);
    return message ? message : "unknown zlib error";
}

void ck_gz_close(void *file) { gzclose((gzFile)file); }

uint32_t ck_crc32(uint32_t crc, const void *bytes, size_t count) {
    const unsigned char *p = (const unsigned char *)bytes;
    uLong c = crc;
    while (count > 0) {
        unsigned chunk = count > 0x40000000u ? 0x40000000u : (unsigned)count;
        c = crc32(c, p, chunk);
        p += chunk;
        count -= chunk;
    }
    return (uint32_t)c;
}
