/*
 * index_log_meta.c - creating a vector index's record (\0VX:{name},
 * steme/vector_meta.h) on a shared database when several nodes may create
 * it at once (steme_index_log_claim_vector_meta, steme/index_log.h).
 *
 * steme_db_vector_meta_put replaces the record: fine for one process, but
 * two nodes whose first vector adds race (one 3-dimensional, one
 * 4-dimensional) would each open an index of their own shape and the last
 * put would win in the database. Here the record is written only if the key
 * is still absent (a batch precondition, checked inside the transaction),
 * and whoever loses reads the winner's: every node then opens the same
 * shape, and the handler refuses the losing add as a dimension mismatch.
 * In pg mode a KV write is durable on return (no local log), so writing
 * the KV directly is what steme_db_vector_meta_put's apply does too.
 */
#include <string.h>

#include "steme/index_log.h"
#include "steme/keys.h"
#include "steme/vector_meta.h"
#include "store/db_int.h"

#define CLAIM_ATTEMPTS 3

int steme_index_log_claim_vector_meta(steme_db *db, const char *name,
                                      const steme_vector_meta *m, steme_vector_meta *out)
{
    if (!db)
        return STEME_E_INVALID;
    if (!name || !m || !out)
        return db_fail(db, STEME_E_INVALID, "vector meta claim: NULL argument");
    if (!db_shared(db))
        return db_fail(db, STEME_E_UNSUPPORTED, "vector meta claim: not a shared database");
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_VECTOR_META;
    k.name = (const uint8_t *)name;
    k.name_len = strlen(name);
    uint8_t key[STEME_KEY_MAX], val[STEME_VECTOR_META_ENCODED_LEN];
    size_t klen, vlen;
    steme_error e;
    int rc = steme_key_encode(&k, key, sizeof key, &klen, &e);
    if (rc == STEME_OK)
        rc = steme_vector_meta_encode(m, val, sizeof val, &vlen, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "vector meta claim: %s", e.message);
    for (int attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        rc = steme_db_vector_meta_get(db, name, out);
        if (rc != STEME_E_NOTFOUND)
            return rc;   /* there is one (or an error): it is the one in force */
        steme_kv_batch *b = steme_kv_batch_new();
        if (!b)
            return db_fail(db, STEME_E_NOMEM, "vector meta claim: out of memory");
        rc = steme_kv_batch_expect(b, key, klen, NULL, 0);
        if (rc == STEME_OK)
            rc = steme_kv_batch_put(b, key, klen, val, vlen);
        if (rc == STEME_OK)
            rc = steme_kv_write(db_kv(db), b, STEME_KV_SYNC);
        steme_kv_batch_free(b);
        if (rc == STEME_OK) {
            *out = *m;
            return STEME_OK;
        }
        if (rc != STEME_E_BUSY)   /* BUSY: another node created it; read theirs */
            return db_fail(db, rc, "vector meta claim: %s", steme_kv_errmsg(db_kv(db)));
    }
    return db_fail(db, STEME_E_BUSY, "vector meta claim: the record kept changing");
}
