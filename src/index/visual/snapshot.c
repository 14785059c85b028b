/*
 * snapshot.c - the visual index snapshot file.
 *
 * Format, version 1 (all integers little-endian):
 *
 *   offset        size  field
 *   0             8     magic "STVISNAP"
 *   8             4     version = 1
 *   12            4     flags = 0 (reserved; a reader refuses other values)
 *   16            8     count: number of entries
 *   24            8     wal_offset: the snapshot holds the effect of every
 *                       log record at an offset below this one, and of none
 *                       at or above it (replay starts here)
 *   32            40 x count entries: phash u64 (public, unpermuted form),
 *                       then the 32-byte id
 *   32 + 40 count 4     CRC-32C of bytes [0, 32 + 40 count): header and body
 *
 * Validity rule: the file is exactly 36 + 40 count bytes, magic and flags
 * match, the version is 1 (a larger one is STEME_E_VERSION: written by a
 * newer steme, not damaged), and the CRC matches. Anything else is
 * STEME_E_CORRUPT and nothing in the file is used. The header is covered by
 * the checksum too, so a flipped bit in count or wal_offset is caught even
 * when the size still matches.
 *
 * Files are written whole to NAME.tmp, fsynced, renamed over NAME and the
 * directory fsynced (steme_write_file_atomic): after a crash a NAME is
 * either complete or absent.
 */
#include "core/bytes.h"
#include "index/visual/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "steme/hash.h"





int vsnap_write(const char *path, const uint64_t *codes, const steme_hash *ids, size_t n,
                uint64_t wal_offset, steme_error *err)
{
    size_t body = n * VSNAP_ENTRY, len = VSNAP_HEADER + body + VSNAP_TRAILER;
    uint8_t *buf = malloc(len);
    if (!buf)
        return steme_err(err, STEME_E_NOMEM, "snapshot %s: out of memory (%zu bytes)", path,
                         len);
    memcpy(buf, VSNAP_MAGIC, 8);
    bytes_put_le(buf + 8, VSNAP_VERSION, 4);
    bytes_put_le(buf + 12, 0, 4);
    bytes_put_le(buf + 16, n, 8);
    bytes_put_le(buf + 24, wal_offset, 8);
    uint8_t *p = buf + VSNAP_HEADER;
    for (size_t i = 0; i < n; i++, p += VSNAP_ENTRY) {
        bytes_put_le(p, codes[i], 8);
        memcpy(p + 8, ids[i].bytes, STEME_HASH_LEN);
    }
    bytes_put_le(p, steme_crc32c(0, buf, VSNAP_HEADER + body), 4);
    int rc = steme_write_file_atomic(path, buf, len, 0, err);
    free(buf);
    return rc;
}

int vsnap_read(const char *path, uint64_t **codes, steme_hash **ids, size_t *n,
               uint64_t *wal_offset, steme_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t *c = NULL;
    steme_hash *h = NULL;
    /* 2^31 entries of 40 bytes bound the file; larger is not ours. */
    int rc = steme_read_file(path, (size_t)VSNAP_HEADER + VSNAP_TRAILER +
                                       ((size_t)1 << 31) * VSNAP_ENTRY, &buf, &len, err);
    if (rc != STEME_OK)
        return rc;
    if (len < VSNAP_HEADER + VSNAP_TRAILER) {
        rc = STEME_CORRUPT(err, "snapshot %s: %zu bytes, shorter than a header", path, len);
        goto done;
    }
    if (memcmp(buf, VSNAP_MAGIC, 8) != 0) {
        rc = STEME_CORRUPT(err, "snapshot %s: bad magic", path);
        goto done;
    }
    uint32_t version = (uint32_t)bytes_get_le(buf + 8, 4);
    uint64_t count = bytes_get_le(buf + 16, 8);
    if ((len - VSNAP_HEADER - VSNAP_TRAILER) % VSNAP_ENTRY != 0 ||
        count != (len - VSNAP_HEADER - VSNAP_TRAILER) / VSNAP_ENTRY) {
        rc = STEME_CORRUPT(err, "snapshot %s: %zu bytes do not hold %llu entries", path, len,
                           (unsigned long long)count);
        goto done;
    }
    if ((uint32_t)bytes_get_le(buf + len - VSNAP_TRAILER, 4) != steme_crc32c(0, buf, len - VSNAP_TRAILER)) {
        rc = STEME_CORRUPT(err, "snapshot %s: checksum mismatch", path);
        goto done;
    }
    /* Version and flags are checked after the CRC: a damaged version field
     * is corruption, an intact larger one is a newer format. */
    if (version != VSNAP_VERSION) {
        rc = steme_err(err, STEME_E_VERSION, "snapshot %s: format version %u (this steme reads %u)",
                       path, version, VSNAP_VERSION);
        goto done;
    }
    if ((uint32_t)bytes_get_le(buf + 12, 4) != 0) {
        rc = STEME_CORRUPT(err, "snapshot %s: unknown flags %08x", path, (uint32_t)bytes_get_le(buf + 12, 4));
        goto done;
    }
    c = malloc((count ? count : 1) * sizeof *c);
    h = malloc((count ? count : 1) * sizeof *h);
    if (!c || !h) {
        rc = steme_err(err, STEME_E_NOMEM, "snapshot %s: out of memory", path);
        goto done;
    }
    const uint8_t *p = buf + VSNAP_HEADER;
    for (size_t i = 0; i < count; i++, p += VSNAP_ENTRY) {
        c[i] = bytes_get_le(p, 8);
        memcpy(h[i].bytes, p + 8, STEME_HASH_LEN);
    }
    *codes = c;
    *ids = h;
    *n = count;
    *wal_offset = bytes_get_le(buf + 24, 8);
    c = NULL;
    h = NULL;
done:
    free(buf);
    free(c);
    free(h);
    return rc;
}
