/*
 * db_meta.c - the identity file DIR/STEME that marks a directory as a steme
 * database and records its format.
 *
 * Format (64 bytes, little-endian):
 *
 *     offset  size  field
 *     0       8     magic "STEMEDB\0"
 *     8       4     format version (1)
 *     12      4     KV engine (steme_kv_engine)
 *     16      8     created_at, Unix milliseconds
 *     24      8     reserved, zero
 *     32      32    BLAKE3-256 of bytes 0..32
 *
 * Valid iff the size is 64, the magic matches, the checksum matches and the
 * version is one this build reads. Written once, atomically (fsutil).
 */
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "core/bytes.h"
#include "core/fsutil.h"
#include "steme/hash.h"
#include "store/db_int.h"

#define META_NAME "STEME"
#define META_SIZE 64
#define META_VERSION 1u
static const uint8_t meta_magic[8] = {'S', 'T', 'E', 'M', 'E', 'D', 'B', 0};


int db_meta_create(const char *dir, steme_kv_engine engine, steme_error *err)
{
    uint8_t m[META_SIZE] = {0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    memcpy(m, meta_magic, 8);
    bytes_put_le(m + 8, META_VERSION, 4);
    bytes_put_le(m + 12, (uint64_t)engine, 4);
    bytes_put_le(m + 16, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u, 8);
    steme_hash h;
    steme_blake3_hash(m, 32, &h);
    memcpy(m + 32, h.bytes, 32);
    char *path = steme_path_join(dir, META_NAME);
    if (!path)
        return steme_err(err, STEME_E_NOMEM, "out of memory");
    int rc = steme_write_file_atomic(path, m, sizeof m, 0, err);
    free(path);
    return rc;
}

int db_meta_check(const char *dir, steme_kv_engine *engine, steme_error *err)
{
    char *path = steme_path_join(dir, META_NAME);
    if (!path)
        return steme_err(err, STEME_E_NOMEM, "out of memory");
    uint8_t *m = NULL;
    size_t len = 0;
    int rc = steme_read_file(path, 4096, &m, &len, err);
    if (rc == STEME_E_NOTFOUND)
        rc = steme_err(err, STEME_E_NOTFOUND, "%s is not a steme database (no %s file)", dir,
                       META_NAME);
    if (rc != STEME_OK)
        goto done;
    if (len != META_SIZE || memcmp(m, meta_magic, 8) != 0) {
        rc = STEME_CORRUPT(err, "%s: not a steme identity file (size %zu or magic)", path, len);
        goto done;
    }
    steme_hash h;
    steme_blake3_hash(m, 32, &h);
    if (memcmp(h.bytes, m + 32, 32) != 0) {
        rc = STEME_CORRUPT(err, "%s: checksum mismatch", path);
        goto done;
    }
    uint64_t version = bytes_get_le(m + 8, 4);
    if (version != META_VERSION) {
        rc = steme_err(err, STEME_E_VERSION, "%s: format version %llu, this build reads %u",
                       path, (unsigned long long)version, META_VERSION);
        goto done;
    }
    *engine = (steme_kv_engine)bytes_get_le(m + 12, 4);
done:
    free(m);
    free(path);
    return rc;
}
