/*
 * vector_meta.c - a vector index's configuration as a database record
 * (steme/vector_meta.h).
 *
 *     \0VX:{name}  ->  encoding below          LMDB, through the log
 *
 * Encoding, version 1 (33 bytes, integers little-endian):
 *
 *     off  size  field
 *       0     2  magic "VM" (0x56 0x4D)
 *       2     1  version = 1
 *       3     1  metric: 1 L2, 2 cosine, 3 inner product
 *       4     1  storage: 0 f32, 1 u8
 *       5     4  dim                1 .. STEME_VECTOR_MAX_DIM
 *       9     4  M                  2 .. STEME_VECTOR_MAX_M
 *      13     4  ef_construction    1 .. STEME_VECTOR_MAX_EF
 *      17     4  ef_search          1 .. STEME_VECTOR_MAX_EF
 *      21     8  created_at         Unix ms, any value
 *      29     4  CRC-32C of bytes 0..28
 *
 * Valid when: the magic matches, the version is 1 (a larger one is
 * STEME_E_VERSION: written by a newer steme), the length is exactly 33, the
 * CRC matches, and every field is in range (u8 storage is not allowed with
 * cosine, as steme_vector_options). Anything else is STEME_E_CORRUPT: the
 * CRC is there so that a damaged value that happens to keep the magic is
 * not taken for a configuration (opening an index with a wrong dimension
 * would misread every vector).
 *
 * Log record DB_LOG_VECTOR_META (db_int.h):
 *     [name_len u16 LE][name][encoding]
 * Its apply puts the encoding under \0VX:{name}: the resulting state, so a
 * second apply changes nothing. Writes of one name hold that key's stripe
 * lock from log append to apply, so their log order is their apply order.
 */
#include <string.h>

#include "core/bytes.h"
#include "steme/hash.h"
#include "steme/keys.h"
#include "steme/vector_meta.h"
#include "store/db_int.h"

#define META_MAGIC0 0x56u /* 'V' */
#define META_MAGIC1 0x4Du /* 'M' */
#define META_VERSION 1u
#define META_OFF_VERSION 2
#define META_OFF_METRIC 3
#define META_OFF_STORAGE 4
#define META_OFF_DIM 5
#define META_OFF_M 9
#define META_OFF_EFC 13
#define META_OFF_EFS 17
#define META_OFF_CREATED 21
#define META_OFF_CRC 29
#define META_LEN STEME_VECTOR_META_ENCODED_LEN

_Static_assert(META_OFF_CRC + 4 == STEME_VECTOR_META_ENCODED_LEN, "encoding layout");



/* The field ranges of steme_vector_options (hnsw_check_options): a record
 * that passes opens an index, or names one that could have been made. */
static const char *meta_out_of_range(const steme_vector_meta *m)
{
    if (m->dim == 0 || m->dim > STEME_VECTOR_MAX_DIM)
        return "dim not in 1..4096";
    if (m->metric != STEME_VECTOR_L2 && m->metric != STEME_VECTOR_COSINE &&
        m->metric != STEME_VECTOR_IP)
        return "unknown metric";
    if (m->storage != STEME_VECTOR_F32 && m->storage != STEME_VECTOR_U8)
        return "unknown storage";
    if (m->storage == STEME_VECTOR_U8 && m->metric == STEME_VECTOR_COSINE)
        return "u8 storage cannot hold cosine (normalised) vectors";
    if (m->M < 2 || m->M > STEME_VECTOR_MAX_M)
        return "M not in 2..128";
    if (m->ef_construction == 0 || m->ef_construction > STEME_VECTOR_MAX_EF)
        return "ef_construction not in 1..65536";
    if (m->ef_search == 0 || m->ef_search > STEME_VECTOR_MAX_EF)
        return "ef_search not in 1..65536";
    return NULL;
}

int steme_vector_meta_encode(const steme_vector_meta *m, uint8_t *buf, size_t cap,
                             size_t *len, steme_error *err)
{
    if (!m || !len || (!buf && cap))
        return steme_err(err, STEME_E_INVALID, "vector meta encode: NULL argument");
    const char *why = meta_out_of_range(m);
    if (why)
        return steme_err(err, STEME_E_INVALID, "vector meta: %s", why);
    *len = META_LEN;
    if (cap < META_LEN)
        return steme_err(err, STEME_E_BUFFER_SMALL, "vector meta: needs %u bytes", META_LEN);
    buf[0] = META_MAGIC0;
    buf[1] = META_MAGIC1;
    buf[META_OFF_VERSION] = META_VERSION;
    buf[META_OFF_METRIC] = (uint8_t)m->metric;
    buf[META_OFF_STORAGE] = (uint8_t)m->storage;
    bytes_put_le(buf + META_OFF_DIM, m->dim, 4);
    bytes_put_le(buf + META_OFF_M, m->M, 4);
    bytes_put_le(buf + META_OFF_EFC, m->ef_construction, 4);
    bytes_put_le(buf + META_OFF_EFS, m->ef_search, 4);
    bytes_put_le(buf + META_OFF_CREATED, m->created_at, 8);
    bytes_put_le(buf + META_OFF_CRC, steme_crc32c(0, buf, META_OFF_CRC), 4);
    return STEME_OK;
}

int steme_vector_meta_decode(const uint8_t *buf, size_t len, steme_vector_meta *out,
                             steme_error *err)
{
    if (!out)
        return steme_err(err, STEME_E_INVALID, "vector meta decode: NULL output");
    memset(out, 0, sizeof *out);
    if (!buf)
        return steme_err(err, STEME_E_INVALID, "vector meta decode: NULL input");
    if (len < 3 || buf[0] != META_MAGIC0 || buf[1] != META_MAGIC1)
        return STEME_CORRUPT(err, "vector meta: not a vector index record (bad magic)");
    if (buf[META_OFF_VERSION] > META_VERSION)
        return steme_err(err, STEME_E_VERSION, "vector meta: version %u is newer than this "
                         "build reads (%u)", buf[META_OFF_VERSION], META_VERSION);
    if (buf[META_OFF_VERSION] != META_VERSION)
        return STEME_CORRUPT(err, "vector meta: version 0");
    if (len != META_LEN)
        return STEME_CORRUPT(err, "vector meta: %zu bytes, not %u", len, META_LEN);
    if (bytes_get_le(buf + META_OFF_CRC, 4) != steme_crc32c(0, buf, META_OFF_CRC))
        return STEME_CORRUPT(err, "vector meta: checksum mismatch");
    steme_vector_meta m;
    m.metric = (steme_vector_metric)buf[META_OFF_METRIC];
    m.storage = (steme_vector_storage)buf[META_OFF_STORAGE];
    m.dim = (uint32_t)bytes_get_le(buf + META_OFF_DIM, 4);
    m.M = (uint32_t)bytes_get_le(buf + META_OFF_M, 4);
    m.ef_construction = (uint32_t)bytes_get_le(buf + META_OFF_EFC, 4);
    m.ef_search = (uint32_t)bytes_get_le(buf + META_OFF_EFS, 4);
    m.created_at = bytes_get_le(buf + META_OFF_CREATED, 8);
    const char *why = meta_out_of_range(&m);
    if (why)
        return STEME_CORRUPT(err, "vector meta: %s", why);
    *out = m;
    return STEME_OK;
}

/* \0VX:{name[0..n)} into key (STEME_KEY_MAX bytes). */
static int meta_key(const uint8_t *name, size_t n, uint8_t *key, size_t *klen, steme_error *err)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_VECTOR_META;
    k.name = name;
    k.name_len = n;
    return steme_key_encode(&k, key, STEME_KEY_MAX, klen, err);
}

int steme_db_vector_meta_get(steme_db *db, const char *name, steme_vector_meta *out)
{
    if (!db)
        return STEME_E_INVALID;
    if (out)
        memset(out, 0, sizeof *out);
    if (!name || !out)
        return db_fail(db, STEME_E_INVALID, "vector meta get: NULL argument");
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    steme_error e;
    int rc = meta_key((const uint8_t *)name, strlen(name), key, &klen, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "vector meta: index name: %s", e.message);
    steme_buf v = STEME_BUF_INIT;
    rc = steme_kv_get(db_kv(db), key, klen, &v);
    if (rc == STEME_E_NOTFOUND)
        db_fail(db, rc, "vector index \"%s\": no metadata", name);
    else if (rc != STEME_OK)
        db_fail(db, rc, "vector index \"%s\": reading its metadata: %s", name,
                steme_kv_errmsg(db_kv(db)));
    else if ((rc = steme_vector_meta_decode(v.data, v.len, out, &e)) != STEME_OK)
        db_fail(db, rc, "vector index \"%s\": stored metadata: %s", name, e.message);
    steme_buf_free(&v);
    return rc;
}

int steme_db_vector_meta_put(steme_db *db, const char *name, const steme_vector_meta *m)
{
    if (!db)
        return STEME_E_INVALID;
    if (!name || !m)
        return db_fail(db, STEME_E_INVALID, "vector meta put: NULL argument");
    /* Validate everything before logging anything. */
    size_t n = strlen(name);
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    steme_error e;
    int rc = meta_key((const uint8_t *)name, n, key, &klen, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "vector meta: index name: %s", e.message);
    uint8_t body[2 + STEME_KEY_NAME_MAX + META_LEN];
    size_t elen;
    bytes_put_le(body, n, 2);
    memcpy(body + 2, name, n);
    if ((rc = steme_vector_meta_encode(m, body + 2 + n, META_LEN, &elen, &e)) != STEME_OK)
        return db_fail(db, rc, "vector index \"%s\": %s", name, e.message);
    pthread_mutex_t *lock = db_stripe(db, key, klen);
    pthread_mutex_lock(lock);
    rc = db_log_and_apply(db, DB_LOG_VECTOR_META, body, 2 + n + elen);
    pthread_mutex_unlock(lock);
    return rc;
}

int db_apply_vector_meta(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds)
{
    (void)conds; /* a blind write of the resulting state: no precondition */
    if (!body || len < 2)
        return db_fail(db, STEME_E_CORRUPT, "vector meta record: %zu bytes", len);
    size_t n = (size_t)bytes_get_le(body, 2);
    if (n > len - 2)
        return db_fail(db, STEME_E_CORRUPT, "vector meta record: name of %zu bytes in %zu", n,
                       len);
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    steme_vector_meta m;
    steme_error e;
    int rc = meta_key(body + 2, n, key, &klen, &e);
    if (rc == STEME_OK)
        rc = steme_vector_meta_decode(body + 2 + n, len - 2 - n, &m, &e);
    if (rc != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "vector meta record: %s", e.message);
    rc = steme_kv_put(db_kv(db), key, klen, body + 2 + n, len - 2 - n, DB_APPLY_FLAGS);
    if (rc != STEME_OK)
        return db_fail(db, rc, "vector meta: %s", steme_kv_errmsg(db_kv(db)));
    return STEME_OK;
}

