/*
 * steme/vector_meta.h - the configuration of a vector index, kept in the
 * database (key \0VX:{name}, family STEME_FAM_VECTOR_META, LMDB).
 *
 * A vector index (steme/vector.h) fixes its dimension, metric, storage mode
 * and HNSW parameters when it is created; whoever reopens it must pass the
 * same ones. This record is where they live: one per named index (the CLI
 * and the server use STEME_VECTOR_META_DEFAULT for DIR/vectors). Writes go
 * through the database's log like every store: durable on return, replayed
 * after a crash; in pg mode (no local log) the engine's commit is the
 * durability point.
 *
 * Encoding (version 1): see src/store/vector_meta.c. A stored value that
 * does not decode is reported as STEME_E_CORRUPT, never guessed at.
 *
 * Threads: every call may be made from any thread while the db is open.
 * Failure messages: steme_db_errmsg(db), per thread.
 */
#ifndef STEME_VECTOR_META_H
#define STEME_VECTOR_META_H

#include <stddef.h>
#include <stdint.h>
#include "steme/db.h"
#include "steme/vector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The name of the database's own vector index (DIR/vectors). */
#define STEME_VECTOR_META_DEFAULT "default"

/* Bytes of a version 1 encoding. */
#define STEME_VECTOR_META_ENCODED_LEN 33u

/* What reopening an index needs. Every field is checked by put and by
 * decode with the ranges of steme_vector_options (vector.h). */
typedef struct steme_vector_meta {
    uint32_t dim;                  /* 1 .. STEME_VECTOR_MAX_DIM */
    steme_vector_metric metric;    /* L2, COSINE or IP */
    steme_vector_storage storage;  /* F32 or U8 (U8 not with COSINE) */
    uint32_t M;                    /* 2 .. STEME_VECTOR_MAX_M */
    uint32_t ef_construction;      /* 1 .. STEME_VECTOR_MAX_EF */
    uint32_t ef_search;            /* 1 .. STEME_VECTOR_MAX_EF */
    uint64_t created_at;           /* Unix ms, any value (set by the caller) */
} steme_vector_meta;

/*
 * Encode m into buf (capacity cap); *len receives the encoding's length
 * (STEME_VECTOR_META_ENCODED_LEN, also on BUFFER_SMALL). Pure.
 * Returns STEME_OK; STEME_E_INVALID (NULL m/len, NULL buf with cap > 0, a
 * field out of range); STEME_E_BUFFER_SMALL.
 */
int steme_vector_meta_encode(const steme_vector_meta *m, uint8_t *buf, size_t cap,
                             size_t *len, steme_error *err);

/*
 * Decode buf[0..len) into *out (zeroed on failure). Pure.
 * Returns STEME_OK; STEME_E_INVALID (NULL buf/out); STEME_E_VERSION (our
 * magic with a version this build does not know); STEME_E_CORRUPT (wrong
 * magic, wrong length, CRC mismatch, a field out of range).
 */
int steme_vector_meta_decode(const uint8_t *buf, size_t len, steme_vector_meta *out,
                             steme_error *err);

/*
 * Read the metadata of the index `name` (NUL-terminated, 1 ..
 * STEME_KEY_NAME_MAX bytes) into *out (zeroed unless STEME_OK).
 * Returns STEME_OK; STEME_E_NOTFOUND (no such index yet); STEME_E_INVALID
 * (NULL db/name/out, empty name); STEME_E_TOO_BIG (name too long);
 * STEME_E_CORRUPT / STEME_E_VERSION (the stored value, as decode);
 * an engine's status (STEME_E_IO, STEME_E_ENGINE, ...).
 */
int steme_db_vector_meta_get(steme_db *db, const char *name, steme_vector_meta *out);

/*
 * Write the metadata of index `name` (replacing any), durably through the
 * log. m is validated first: bad input changes nothing. Writes of one name
 * are applied in their log order.
 * Returns STEME_OK; STEME_E_INVALID (NULL db/name/m, empty name, a field
 * out of range); STEME_E_TOO_BIG (name too long); the log's or engine's
 * status (STEME_E_IO, STEME_E_FATAL, ...).
 */
int steme_db_vector_meta_put(steme_db *db, const char *name, const steme_vector_meta *m);

/*
 * Read the configuration file of databases made before the metadata record:
 * VECTORS_DIR/cli.conf, two text lines "dim N" and "metric l2|cosine|ip".
 * *out gets that dimension and metric, the index defaults for the rest and
 * the file's mtime as created_at (callers import it once with
 * steme_db_vector_meta_put and never read the file again).
 * Returns STEME_OK; STEME_E_NOTFOUND (no such file); STEME_E_CORRUPT (it
 * does not parse, or the dimension or metric is out of range);
 * STEME_E_INVALID (NULL arguments, path too long); STEME_E_IO.
 */
int steme_vector_meta_read_legacy(const char *vectors_dir, steme_vector_meta *out,
                                  steme_error *err);

#ifdef __cplusplus
}
#endif

#endif
