/*
 * core/bytes.h - fixed-width integers to and from bytes, little- and
 * big-endian, for the small file and record formats that do not go through
 * the record codec (codec.h): state files, index-log entries, key parts.
 * Byte by byte, so alignment and host order never matter.
 */
#ifndef STEME_CORE_BYTES_H
#define STEME_CORE_BYTES_H

#include <stdint.h>

/* The low n bytes (1..8) of v at p, least significant first. */
static inline void bytes_put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* n bytes (1..8) at p, least significant first. */
static inline uint64_t bytes_get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* v as 8 bytes at p, most significant first (sorts as the number). */
static inline void bytes_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t bytes_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

#endif
