/*
 * steme/keyfile.h - an agent's Ed25519 secret key in a file (written by
 * `steme keygen`, read by an agent at start). The format is specified at
 * the top of src/core/keyfile.c: 84 bytes, magic "STEMEKEY", version 1,
 * the seed and the public key, and a BLAKE3-based checksum.
 *
 * The file holds the secret in the clear: it is created with mode 0600 and
 * its directory should be private too. Loading does not check the mode
 * (a key copied with looser permissions still loads).
 *
 * Threads: both functions are thread-safe; two processes saving the same
 * path at once each replace it atomically, and the last rename wins.
 * err is optional (may be NULL).
 */
#ifndef STEME_KEYFILE_H
#define STEME_KEYFILE_H

#include "steme/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Size in bytes of a version-1 key file. */
#define STEME_KEYFILE_SIZE 84

/*
 * Write sk to path, replacing any file there atomically: a temporary file
 * (mode 0600, created exclusively in path's directory) is written and
 * fsync'd, renamed over path, and the directory is fsync'd, so after a crash
 * path holds the old key or the new one, never a mix. The secret is wiped
 * from steme's buffers before return.
 * Returns STEME_OK, STEME_E_INVALID (NULL argument, empty or over-long path,
 * a key whose public half does not match its seed), STEME_E_IO,
 * STEME_E_FULL (no space), STEME_E_INTERNAL (libsodium failed to initialise).
 */
int steme_keyfile_save(const char *path, const steme_secret_key *sk, steme_error *err);

/*
 * Read the key file at path into *sk, and its public key into *pk (pk may be
 * NULL). On failure *sk and *pk are zeroed. The file must be exactly a valid
 * version-1 key file: magic, version, length, checksum, no unknown flags, and
 * a public key equal to the one derived from the seed.
 * Returns STEME_OK, STEME_E_INVALID (NULL argument, not a regular file),
 * STEME_E_NOTFOUND (no file at path), STEME_E_CORRUPT (bad magic, wrong
 * length, checksum mismatch, public key not matching the seed),
 * STEME_E_VERSION (another format version or unknown flags), STEME_E_IO,
 * STEME_E_INTERNAL.
 */
int steme_keyfile_load(const char *path, steme_secret_key *sk, steme_agent_id *pk,
                       steme_error *err);

#ifdef __cplusplus
}
#endif
#endif /* STEME_KEYFILE_H */
