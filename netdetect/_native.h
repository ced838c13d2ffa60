/* What the compiled modules share: the flow-key hash (it must equal flows._mix, in numpy) and the
 * big-endian store of 16-byte addresses. Included by netdetect/_flows.c and netdetect/decode/_events.c. */
#ifndef NETDETECT_NATIVE_H
#define NETDETECT_NATIVE_H

#include <stdint.h>

/* splitmix64's finaliser, as flows._mix: direction and flow keys hashed in C and in numpy agree. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Half of an S16 address column: 8 bytes, most significant first. */
static inline void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

#endif
