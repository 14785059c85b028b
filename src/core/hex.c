/* hex.c - lowercase hex encoding of identifiers (see steme/types.h). */
#include "steme/types.h"
#include "core/error.h"

int steme_hex_encode(const uint8_t *in, size_t len, char *out, size_t out_cap)
{
    static const char digits[] = "0123456789abcdef";
    if ((!in && len) || !out)
        return STEME_E_INVALID;
    if (len > (SIZE_MAX - 1) / 2 || out_cap < 2 * len + 1)
        return STEME_E_BUFFER_SMALL;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
    return STEME_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int steme_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len,
                     steme_error *err)
{
    if (!hex || (!out && out_len))
        return steme_err(err, STEME_E_INVALID, "hex decode: NULL argument");
    if (hex_len != 2 * out_len)
        return steme_err(err, STEME_E_INVALID, "hex decode: expected %zu hex digits, got %zu",
                         2 * out_len, hex_len);
    for (size_t i = 0; i < out_len; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return steme_err(err, STEME_E_INVALID, "hex decode: bad digit at position %zu",
                             hi < 0 ? 2 * i : 2 * i + 1);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return STEME_OK;
}
