/*
 * core/fsutil.h - durable file operations shared by every layer that writes
 * files: the atomic replace (temp file, write, fsync, rename, fsync the
 * directory, as Redis's rdbSave does), directory creation and fsync, and a
 * whole-file read. All report failures with the path and errno text.
 */
#ifndef STEME_CORE_FSUTIL_H
#define STEME_CORE_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include "steme/status.h"

/* mkdir -p with mode 0755 (0700 if private); existing directories are fine. */
int steme_mkdirs(const char *path, int private_mode, steme_error *err);

/* fsync a directory so a rename or create in it is durable. */
int steme_fsync_dir(const char *dir, steme_error *err);

/*
 * Replace path's contents with data[0..len) atomically: after a crash the
 * file holds either the old contents or the new, never a mix. Writes
 * path.tmp (mode 0644, or 0600 if private), fsyncs it, renames it over path
 * and fsyncs the directory. Returns STEME_OK, STEME_E_INVALID, STEME_E_IO,
 * STEME_E_FULL (ENOSPC).
 */
int steme_write_file_atomic(const char *path, const void *data, size_t len, int private_mode,
                            steme_error *err);

/*
 * Read a whole file (at most max bytes) into a malloc'd buffer (*data,
 * freed by the caller). Returns STEME_OK, STEME_E_NOTFOUND, STEME_E_TOO_BIG,
 * STEME_E_IO, STEME_E_NOMEM.
 */
int steme_read_file(const char *path, size_t max, uint8_t **data, size_t *len,
                    steme_error *err);

/* Join dir and name into a malloc'd path; NULL on OOM. */
char *steme_path_join(const char *dir, const char *name);

#endif
