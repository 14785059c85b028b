/*
 * dhash.c - the 64-bit difference hash of a grayscale image (see
 * steme_visual_dhash in steme/visual.h).
 *
 * Cell (row, col) of the 8 x 9 grid covers pixels x in [col*W/9,
 * (col+1)*W/9) and y in [row*H/8, (row+1)*H/8), integer division: every
 * pixel belongs to exactly one cell and cells differ in size by at most one
 * pixel per side. Means are compared without division (a/na > b/nb is
 * a*nb > b*na); images are limited to 2^24 pixels so that a cell sum
 * (< 2^32) times an area (<= 2^24) fits in 64 bits.
 */
#include <string.h>

#include "core/error.h"
#include "steme/visual.h"

#define DH_ROWS 8u
#define DH_COLS 9u

int steme_visual_dhash(const uint8_t *gray, size_t width, size_t height, size_t stride,
                       uint64_t *out, steme_error *err)
{
    if (!gray || !out)
        return steme_err(err, STEME_E_INVALID, "dhash: NULL image or output");
    if (width < DH_COLS || height < DH_ROWS)
        return steme_err(err, STEME_E_INVALID, "dhash: image %zux%zu smaller than 9x8", width,
                         height);
    if (stride < width)
        return steme_err(err, STEME_E_INVALID, "dhash: stride %zu < width %zu", stride, width);
    /* 2^24 pixels per image keeps every cross product below 2^63:
     * sum < 2^24 * 2^8 = 2^32, area < 2^24, product < 2^56. */
    if (width > (1u << 24) / height)
        return steme_err(err, STEME_E_INVALID, "dhash: image of %zux%zu pixels is too large",
                         width, height);
    uint64_t sum[DH_ROWS][DH_COLS];
    uint64_t area[DH_ROWS][DH_COLS];
    memset(sum, 0, sizeof sum);
    for (unsigned r = 0; r < DH_ROWS; r++) {
        size_t y0 = r * height / DH_ROWS, y1 = (r + 1) * height / DH_ROWS;
        for (unsigned c = 0; c < DH_COLS; c++) {
            size_t x0 = c * width / DH_COLS, x1 = (c + 1) * width / DH_COLS;
            uint64_t s = 0;
            for (size_t y = y0; y < y1; y++)
                for (size_t x = x0; x < x1; x++)
                    s += gray[y * stride + x];
            sum[r][c] = s;
            area[r][c] = (uint64_t)(y1 - y0) * (x1 - x0);
        }
    }
    uint64_t h = 0;
    for (unsigned r = 0; r < DH_ROWS; r++)
        for (unsigned c = 0; c + 1 < DH_COLS; c++)
            if (sum[r][c] * area[r][c + 1] > sum[r][c + 1] * area[r][c])
                h |= 1ull << (r * 8 + c);
    *out = h;
    return STEME_OK;
}
