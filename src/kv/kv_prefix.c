/* kv_prefix.c - which family a prefix pins; prefix range bounds (kv_prefix.h). */
#include <string.h>

#include "kv/kv_prefix.h"

/* Longest tag ("CUR") + 1: the ':' sits at most this far after the NUL. */
#define KV_TAG_SPAN 4u

steme_key_family kv_prefix_family(const uint8_t *p, size_t n)
{
    if (n == 0)
        return STEME_FAM_UNKNOWN;
    /* The first NUL ends the subject (subjects contain none); a global key
     * starts with it. Without it the prefix is still inside a subject. */
    const uint8_t *z = memchr(p, 0, n);
    if (!z)
        return STEME_FAM_UNKNOWN;
    size_t zi = (size_t)(z - p);
    for (size_t i = zi + 1; i < n && i <= zi + KV_TAG_SPAN; i++)
        if (p[i] == ':')
            return steme_key_family_of(p, i + 1);
    return STEME_FAM_UNKNOWN;
}

size_t kv_prefix_successor(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t m = n;
    while (m > 0 && p[m - 1] == 0xFF)
        m--;
    if (m == 0)
        return 0;
    memcpy(out, p, m);
    out[m - 1]++;
    return m;
}
