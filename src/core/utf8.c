/* utf8.c - strict UTF-8 validation (see utf8.h). ASCII runs take the fast
 * path 8 bytes at a time, since subjects and predicates are mostly ASCII. */
#include "core/utf8.h"

#include <stdint.h>
#include <string.h>

size_t steme_utf8_check(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* all ASCII and no zero byte: skip 8 */
            uint64_t has_zero = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
            if (!(w & 0x8080808080808080ull) && !has_zero) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c == 0)
            return i + 1;
        if (c < 0x80) { i++; continue; }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) { need = 2; lo = 0xA0; }
        else if (c >= 0xE1 && c <= 0xEC) need = 2;
        else if (c == 0xED) { need = 2; hi = 0x9F; }   /* no surrogates */
        else if (c >= 0xEE && c <= 0xEF) need = 2;
        else if (c == 0xF0) { need = 3; lo = 0x90; }   /* no overlong */
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else if (c == 0xF4) { need = 3; hi = 0x8F; }   /* <= U+10FFFF */
        else return i + 1;
        if (len - i - 1 < need)
            return i + 1;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i + 1;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return i + 1;
        i += need + 1;
    }
    return 0;
}
