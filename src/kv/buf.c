/* buf.c - steme_buf, the growable buffer that reads fill (see steme/kv.h). */
#include <stdlib.h>
#include <string.h>

#include "steme/kv.h"

void steme_buf_free(steme_buf *buf)
{
    if (!buf)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

int steme_buf_reserve(steme_buf *buf, size_t cap)
{
    if (!buf)
        return STEME_E_INVALID;
    if (cap <= buf->cap)
        return STEME_OK;
    /* grow geometrically so repeated reads settle without reallocations */
    size_t ncap = buf->cap ? buf->cap : 64;
    while (ncap < cap)
        ncap = ncap > SIZE_MAX / 2 ? cap : ncap * 2;
    uint8_t *p = realloc(buf->data, ncap);
    if (!p)
        return STEME_E_NOMEM;
    buf->data = p;
    buf->cap = ncap;
    return STEME_OK;
}

int steme_buf_set(steme_buf *buf, const void *data, size_t len)
{
    if (!buf || (!data && len))
        return STEME_E_INVALID;
    int rc = steme_buf_reserve(buf, len ? len : 1);
    if (rc != STEME_OK)
        return rc;
    if (len)
        memcpy(buf->data, data, len);
    buf->len = len;
    return STEME_OK;
}
