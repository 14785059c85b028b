/*
 * keyfile.c - an agent's secret key on disk (see steme/keyfile.h).
 *
 * Format, version 1 (all integers little-endian):
 *
 *   offset  size  field
 *        0     8  magic "STEMEKEY"
 *        8     2  version: 1
 *       10     2  flags: 0 (none defined yet)
 *       12    32  Ed25519 seed (RFC 8032 secret key)
 *       44    32  Ed25519 public key of that seed
 *       76     8  checksum: the first 8 bytes of BLAKE3(bytes 0..75)
 *       84        end of file
 *
 * Checksum coverage: every byte before it. BLAKE3 rather than CRC32C so that
 * a damaged file is caught with 2^-64 odds of a miss whatever the damage.
 *
 * Validity rule, checked in this order so each failure gets the right code:
 * the file starts with the magic (else CORRUPT: not a key file); it has the
 * 12-byte header and its version is 1 (else VERSION: another format, whose
 * length may differ); it is exactly 84 bytes (else CORRUPT); the checksum
 * matches (else CORRUPT); flags are 0 (else VERSION: written by a newer
 * steme); the public key is the one the seed derives (else CORRUPT).
 *
 * Secrets: the 84-byte image and any derived key on the stack are wiped
 * with sodium_memzero before every return.
 */
#include "steme/keyfile.h"
#include "steme/hash.h"
#include "steme/sign.h"
#include "core/error.h"
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KF_MAGIC       "STEMEKEY"
#define KF_MAGIC_LEN   8
#define KF_VERSION     1
#define KF_OFF_VERSION 8
#define KF_OFF_FLAGS   10
#define KF_OFF_SEED    12
#define KF_OFF_PUBLIC  44
#define KF_OFF_SUM     76
#define KF_SUM_LEN     8

_Static_assert(KF_OFF_PUBLIC == KF_OFF_SEED + STEME_SEED_LEN, "layout");
_Static_assert(KF_OFF_SUM == KF_OFF_PUBLIC + STEME_AGENT_ID_LEN, "layout");
_Static_assert(STEME_KEYFILE_SIZE == KF_OFF_SUM + KF_SUM_LEN, "layout");

static void kf_checksum(const uint8_t *image, uint8_t out[KF_SUM_LEN])
{
    steme_hash h;
    steme_blake3_hash(image, KF_OFF_SUM, &h);
    memcpy(out, h.bytes, KF_SUM_LEN);
}

static unsigned kf_get_u16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

static int kf_io_err(steme_error *err, const char *what, const char *path)
{
    int e = errno;
    return steme_err(err, e == ENOSPC ? STEME_E_FULL : STEME_E_IO, "key file %s %s: %s", what,
                     path, strerror(e));
}

static int kf_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int steme_keyfile_save(const char *path, const steme_secret_key *sk, steme_error *err)
{
    if (!path || !sk)
        return steme_err(err, STEME_E_INVALID, "key file save: NULL %s", path ? "key" : "path");
    size_t plen = strlen(path);
    if (plen == 0 || plen + sizeof ".tmp.XXXXXX" > PATH_MAX)
        return steme_err(err, STEME_E_INVALID, "key file save: path is %s",
                         plen ? "too long" : "empty");

    int rc, fd = -1, closed;
    char tmp[PATH_MAX], dir[PATH_MAX], *slash;
    uint8_t image[STEME_KEYFILE_SIZE];
    steme_agent_id pk;
    steme_secret_key check;
    tmp[0] = 0;

    /* Refuse to write a key that steme_keyfile_load would refuse. */
    if ((rc = steme_keypair_from_seed(sk->bytes, &pk, &check, err)) != STEME_OK)
        goto done;
    if (sodium_memcmp(pk.bytes, sk->bytes + STEME_SEED_LEN, STEME_AGENT_ID_LEN) != 0) {
        rc = steme_err(err, STEME_E_INVALID,
                       "key file save: the key's public half does not match its seed");
        goto done;
    }

    memcpy(image, KF_MAGIC, KF_MAGIC_LEN);
    image[KF_OFF_VERSION] = KF_VERSION & 0xff;
    image[KF_OFF_VERSION + 1] = KF_VERSION >> 8;
    image[KF_OFF_FLAGS] = image[KF_OFF_FLAGS + 1] = 0;
    memcpy(image + KF_OFF_SEED, sk->bytes, STEME_SEED_LEN);
    memcpy(image + KF_OFF_PUBLIC, pk.bytes, STEME_AGENT_ID_LEN);
    kf_checksum(image, image + KF_OFF_SUM);

    /* mkostemp creates the file exclusively with mode 0600: no window in
     * which the secret sits in a file others can read, and no following a
     * planted symlink. fchmod states the mode whatever the libc does. */
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = kf_io_err(err, "create temporary for", path);
        tmp[0] = 0;
        goto done;
    }
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
        rc = kf_io_err(err, "chmod", tmp);
        goto done;
    }
    if (kf_write_all(fd, image, sizeof image) != 0) {
        rc = kf_io_err(err, "write", tmp);
        goto done;
    }
    if (fsync(fd) != 0) {
        rc = kf_io_err(err, "fsync", tmp);
        goto done;
    }
    closed = close(fd);
    fd = -1;
    if (closed != 0) {
        rc = kf_io_err(err, "close", tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = kf_io_err(err, "rename", tmp);
        goto done;
    }
    tmp[0] = 0; /* renamed: nothing to clean up */

    /* Make the rename durable: fsync the directory holding path. */
    memcpy(dir, path, plen + 1);
    slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    rc = steme_fsync_dir(dir, err);

done:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    sodium_memzero(image, sizeof image);
    sodium_memzero(&check, sizeof check);
    return rc;
}

/* Read up to cap bytes; *got receives how many (less at end of file). */
static int kf_read_all(int fd, uint8_t *buf, size_t cap, size_t *got)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return 0;
}

/* Check a file image (n bytes read, at most STEME_KEYFILE_SIZE + 1). */
static int kf_parse(const char *path, const uint8_t *image, size_t n, steme_secret_key *sk,
                    steme_agent_id *pk, steme_error *err)
{
    if (n < KF_MAGIC_LEN || memcmp(image, KF_MAGIC, KF_MAGIC_LEN) != 0)
        return STEME_CORRUPT(err, "key file %s: not a steme key file (bad magic)", path);
    if (n < KF_OFF_SEED)
        return STEME_CORRUPT(err, "key file %s: truncated to %zu bytes", path, n);
    unsigned version = kf_get_u16(image + KF_OFF_VERSION);
    if (version != KF_VERSION)
        return steme_err(err, STEME_E_VERSION,
                         "key file %s: format version %u, this steme reads version %u", path,
                         version, KF_VERSION);
    if (n > STEME_KEYFILE_SIZE)
        return STEME_CORRUPT(err, "key file %s: longer than the %d bytes of a version-1 key file",
                             path, STEME_KEYFILE_SIZE);
    if (n < STEME_KEYFILE_SIZE)
        return STEME_CORRUPT(err, "key file %s: truncated to %zu bytes of %d", path, n,
                             STEME_KEYFILE_SIZE);
    uint8_t sum[KF_SUM_LEN];
    kf_checksum(image, sum);
    if (memcmp(sum, image + KF_OFF_SUM, KF_SUM_LEN) != 0)
        return STEME_CORRUPT(err, "key file %s: checksum mismatch", path);
    unsigned flags = kf_get_u16(image + KF_OFF_FLAGS);
    if (flags != 0)
        return steme_err(err, STEME_E_VERSION, "key file %s: unknown flags 0x%04x", path, flags);
    int rc = steme_keypair_from_seed(image + KF_OFF_SEED, pk, sk, err);
    if (rc != STEME_OK)
        return rc;
    if (sodium_memcmp(pk->bytes, image + KF_OFF_PUBLIC, STEME_AGENT_ID_LEN) != 0)
        return STEME_CORRUPT(err, "key file %s: public key does not match the seed", path);
    return STEME_OK;
}

int steme_keyfile_load(const char *path, steme_secret_key *sk, steme_agent_id *pk,
                       steme_error *err)
{
    if (!path || !sk)
        return steme_err(err, STEME_E_INVALID, "key file load: NULL %s", path ? "key" : "path");
    uint8_t image[STEME_KEYFILE_SIZE + 1]; /* one more byte to notice a longer file */
    steme_agent_id pk_local;
    size_t n = 0;
    int rc;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = steme_err(err, STEME_E_NOTFOUND, "key file %s does not exist", path);
        else
            rc = kf_io_err(err, "open", path);
        goto done;
    }
    if (fstat(fd, &st) != 0) {
        rc = kf_io_err(err, "stat", path);
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = steme_err(err, STEME_E_INVALID, "key file %s is not a regular file", path);
        goto done;
    }
    if (kf_read_all(fd, image, sizeof image, &n) != 0) {
        rc = kf_io_err(err, "read", path);
        goto done;
    }
    rc = kf_parse(path, image, n, sk, &pk_local, err);

done:
    if (fd >= 0)
        close(fd);
    if (rc == STEME_OK) {
        if (pk)
            *pk = pk_local;
    } else {
        steme_secret_key_wipe(sk);
        if (pk)
            memset(pk, 0, sizeof *pk);
    }
    sodium_memzero(image, sizeof image);
    return rc;
}
