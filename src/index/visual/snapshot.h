/*
 * index/visual/snapshot.h - reading and writing a visual index snapshot
 * file (format at the top of snapshot.c).
 */
#ifndef STEME_INDEX_VISUAL_SNAPSHOT_H
#define STEME_INDEX_VISUAL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "steme/status.h"
#include "steme/types.h"

#define VSNAP_MAGIC "STVISNAP"
#define VSNAP_VERSION 1u
#define VSNAP_HEADER 32u
#define VSNAP_ENTRY 40u
#define VSNAP_TRAILER 4u

/*
 * Write n entries (public hashes + ids) covering log offsets < wal_offset to
 * `path`, atomically (path.tmp, fsync, rename, fsync dir).
 * Returns STEME_OK, STEME_E_IO, STEME_E_FULL, STEME_E_NOMEM.
 */
int vsnap_write(const char *path, const uint64_t *codes, const steme_hash *ids, size_t n,
                uint64_t wal_offset, steme_error *err);

/*
 * Read and verify a snapshot. On success *codes and *ids are malloc'd arrays
 * of *n entries (caller frees) and *wal_offset the offset covered.
 * Returns STEME_OK; STEME_E_NOTFOUND; STEME_E_CORRUPT (size, magic, flags
 * or checksum wrong); STEME_E_VERSION (a newer format); STEME_E_IO;
 * STEME_E_NOMEM; STEME_E_TOO_BIG (more than 2^31 entries).
 */
int vsnap_read(const char *path, uint64_t **codes, steme_hash **ids, size_t *n,
               uint64_t *wal_offset, steme_error *err);

#endif
