/*
 * index/vector/vec_store_int.h - the persistent vector store's internals
 * (steme_vector_store in steme/vector.h), shared by vec_store.c (calls,
 * open, replay) and vec_store_build.c (the background builder).
 *
 * State and locks:
 *
 *   vs_wmu     serialises writers: a WAL append and its application to the
 *              hot index happen under it, so the hot index holds exactly
 *              the log's records in log order, and "frozen at offset F"
 *              is exact. (Group commit still batches within one call:
 *              steme_vector_store_insert appends a batch with one sync.)
 *   vs_state   rwlock over the pointers hot / frozen / cold / freeze
 *              offset: searches hold it shared for their whole run; the
 *              freeze and the swap take it exclusively for a few pointer
 *              writes, so an index is freed only when no search uses it.
 *   vs_shmu    guards the shadow map (id -> offset of its latest op).
 *
 *   WAL:  ...|records in cold.vec|records in frozen|records in hot|
 *                               ^cold offset       ^freeze offset   ^end
 *
 * A hit from an older index is stale if the shadow map holds a later
 * operation on its id: a cold hit if the id was touched at or after the
 * cold offset, a frozen hit if at or after the freeze offset.
 *
 * WAL record payload (little-endian), tag 'V' so that a log shared with
 * other record kinds can interleave (records with another tag are skipped):
 *   0   u8   'V'
 *   1   u8   op: 1 insert, 2 delete
 *   2   u16  0
 *   4   u32  dim (insert) or 0 (delete)
 *   8   32   id
 *   40  dim x f32 (insert only)
 */
#ifndef STEME_INDEX_VEC_STORE_INT_H
#define STEME_INDEX_VEC_STORE_INT_H

#include <pthread.h>

#include "core/error.h"
#include "index/vector/hnsw_hot.h"
#include "index/vector/vec_shadow.h"
#include "steme/vector.h"
#include "steme/wal.h"

#define VS_TAG 'V'
#define VS_OP_INSERT 1
#define VS_OP_DELETE 2
#define VS_REC_HEAD 40

struct steme_vector_store {
    steme_vector_options vs_opts;
    char *vs_dir, *vs_cold_path, *vs_tmp_path, *vs_corrupt_path;
    steme_wal *vs_wal;
    pthread_mutex_t vs_wmu;
    pthread_rwlock_t vs_state;
    pthread_mutex_t vs_shmu;
    steme_hnsw *vs_hot;
    steme_hnsw *vs_frozen;       /* being folded into the next cold file */
    steme_vector_cold *vs_cold;
    uint64_t vs_cold_off;        /* WAL offset covered by vs_cold (0 if none) */
    uint64_t vs_freeze_off;      /* WAL end when vs_frozen was frozen */
    vec_shadow vs_shadow;
    pthread_mutex_t vs_bmu;      /* guards the build fields below */
    pthread_t vs_thread;
    int vs_building;             /* a builder thread exists (not joined) */
    int vs_build_rc;
    int vs_stop;                 /* atomic: close asks the builder to stop */
    uint64_t vs_builds;
    double vs_cold_open_ms;
    steme_errslot vs_errs;
};

/* Apply one decoded WAL record at offset to index h (and the shadow map,
 * when shadow is non-NULL). Returns STEME_OK, or STEME_E_FULL/NOMEM. */
int vs_apply(steme_vector_store *s, steme_hnsw *h, vec_shadow *shadow, uint64_t offset,
             const uint8_t *rec, size_t len);

/* Check a WAL payload: 1 if it is a well-formed vector record for this
 * store, 0 if it belongs to someone else (other tag), -1 if damaged. */
int vs_record_check(const steme_vector_store *s, const uint8_t *rec, size_t len);

/* Replay records [from, to) of the WAL into h (to = UINT64_MAX: all). */
int vs_replay(steme_vector_store *s, steme_hnsw *h, vec_shadow *shadow, uint64_t from, uint64_t to,
              steme_error *err);

/* Map path as the cold file, timing it into vs_cold_open_ms. */
int vs_open_cold(steme_vector_store *s, const char *path, steme_vector_cold **out, steme_error *err);

/* The builder thread's body (vec_store_build.c). */
void *vs_build_main(void *arg);

#endif
