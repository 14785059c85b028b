/* core/utf8.h - strict UTF-8 validation (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF; NUL bytes are reported separately. */
#ifndef STEME_CORE_UTF8_H
#define STEME_CORE_UTF8_H
#include <stddef.h>

/* Returns 0 if s[0..len) is valid UTF-8 without NUL, else 1 + the byte
 * offset of the first bad sequence (or of the NUL). */
size_t steme_utf8_check(const char *s, size_t len);

#endif
