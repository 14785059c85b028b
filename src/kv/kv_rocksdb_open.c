/*
 * kv_rocksdb_open.c - open and close the RocksDB engine: options, column
 * families, status mapping, key -> column family routing.
 *
 * Tuning (a write-heavy workload: votes, audit, quota, escalation):
 *   - level compaction with dynamic level bytes (bounded space amplification
 *     whatever the data size);
 *   - LZ4 on every level when the library has it (Debian's 7.8.3 links
 *     liblz4), else no compression: we retry the open without it;
 *   - pipelined writes + concurrent memtable writes, so many writer threads
 *     overlap WAL append and memtable insert;
 *   - one LRU block cache (opts->rocksdb_cache_bytes) shared by every column
 *     family, so a busy family can use what an idle one does not;
 *   - whole-key bloom filters (opts->rocksdb_bloom_bits per key) on the
 *     groups read by point lookups (default, votes, audit, quota), none on
 *     escalation, which is only scanned;
 *   - write_buffer_size = opts->rocksdb_write_buffer per column family, with
 *     all memtables together capped at twice that, and the WAL capped at 4x
 *     so an idle column family is flushed and old WAL files can go.
 * The WAL is on; a write with STEME_KV_SYNC syncs it before returning.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_prefix.h"
#include "kv/kv_rocksdb_int.h"

static const char *const kv_rdb_cf_names[KV_RDB_NCF] = {
    [KV_RDB_CF_DEFAULT] = "default",
    [KV_RDB_CF_VOTES] = "votes",
    [KV_RDB_CF_AUDIT] = "audit",
    [KV_RDB_CF_QUOTA] = "quota",
    [KV_RDB_CF_ESCALATION] = "escalation",
};

int kv_rdb_cf_of_family(steme_key_family fam)
{
    switch (fam) {
    case STEME_FAM_VOTE:
    case STEME_FAM_VOTE_COUNT:
    case STEME_FAM_VOTE_WEIGHT:
        return KV_RDB_CF_VOTES;
    case STEME_FAM_AUDIT:
    case STEME_FAM_AUDIT_BY_ID:
        return KV_RDB_CF_AUDIT;
    case STEME_FAM_QUOTA_USAGE:
        return KV_RDB_CF_QUOTA;
    case STEME_FAM_ESCALATION:
        return KV_RDB_CF_ESCALATION;
    default:
        return KV_RDB_CF_DEFAULT;
    }
}

int kv_rdb_cf_of_key(const uint8_t *key, size_t klen)
{
    /* The same function that decides whether a scan prefix pins a family:
     * a key and every prefix of it that contains its tag agree. */
    return kv_rdb_cf_of_family(kv_prefix_family(key, klen));
}

int kv_rdb_classify(const char *msg)
{
    if (!msg)
        return STEME_E_ENGINE;
    if (strncmp(msg, "Corruption", 10) == 0)
        return STEME_E_CORRUPT;
    if (strstr(msg, "No space") || strstr(msg, "no space"))
        return STEME_E_FULL;
    /* Another process holds the LOCK file ("While lock file: .../LOCK:
     * Resource temporarily unavailable"), or this process already opened the
     * directory ("lock hold by current process ... No locks available"). */
    if (strstr(msg, "/LOCK") || strstr(msg, "lock hold") || strstr(msg, "While lock file") ||
        strstr(msg, "Resource temporarily unavailable") || strstr(msg, "No locks available"))
        return STEME_E_BUSY;
    return STEME_E_ENGINE;
}

int kv_rdb_fail(steme_kv *kv, char *errptr, const char *what)
{
    int code = kv_rdb_classify(errptr);
    kv_fail(kv, code, "rocksdb %s: %s", what, errptr ? errptr : "unknown error");
    rocksdb_free(errptr);
    return code;
}

static void kv_rdb_free_parts(kv_rdb *r)
{
    for (int i = 0; i < KV_RDB_NCF; i++) {
        if (r->rd_cf[i])
            rocksdb_column_family_handle_destroy(r->rd_cf[i]);
        r->rd_cf[i] = NULL;
    }
    if (r->rd_db)
        rocksdb_close(r->rd_db);
    r->rd_db = NULL;
    for (int i = 0; i < KV_RDB_NCF; i++) {
        if (r->rd_opts[i])
            rocksdb_options_destroy(r->rd_opts[i]);
        r->rd_opts[i] = NULL;
    }
    if (r->rd_cache)
        rocksdb_cache_destroy(r->rd_cache);
    if (r->rd_ropts)
        rocksdb_readoptions_destroy(r->rd_ropts);
    if (r->rd_wopts)
        rocksdb_writeoptions_destroy(r->rd_wopts);
    if (r->rd_wopts_sync)
        rocksdb_writeoptions_destroy(r->rd_wopts_sync);
    if (r->rd_wopts_nolog)
        rocksdb_writeoptions_destroy(r->rd_wopts_nolog);
    r->rd_cache = NULL;
    r->rd_ropts = NULL;
    r->rd_wopts = r->rd_wopts_sync = r->rd_wopts_nolog = NULL;
}

void kv_rdb_close(steme_kv *kv)
{
    kv_rdb *r = (kv_rdb *)kv;
    kv_rdb_free_parts(r);
    if (r->rd_expect_lock_ready)
        pthread_rwlock_destroy(&r->rd_expect_lock);
    kv_base_destroy(&r->rd_base);
    free(r);
}

/* Table options: block cache shared, bloom filter or not. Caller destroys
 * them once set (the table factory copies them). */
static rocksdb_block_based_table_options_t *kv_rdb_table(kv_rdb *r, int bloom_bits)
{
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    if (!t)
        return NULL;
    rocksdb_block_based_options_set_block_cache(t, r->rd_cache);
    rocksdb_block_based_options_set_format_version(t, 5);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
    if (bloom_bits > 0) {
        /* The table options own the policy from here on. */
        rocksdb_block_based_options_set_filter_policy(
            t, rocksdb_filterpolicy_create_bloom_full((double)bloom_bits));
        rocksdb_block_based_options_set_whole_key_filtering(t, 1);
    }
    return t;
}

static int kv_rdb_cf_has_bloom(int cf)
{
    return cf != KV_RDB_CF_ESCALATION;
}

/* Build r->rd_opts[]; returns STEME_OK or STEME_E_NOMEM. */
static int kv_rdb_build_options(kv_rdb *r, const steme_kv_options *o, int compression)
{
    rocksdb_block_based_table_options_t *with = kv_rdb_table(r, o->rocksdb_bloom_bits);
    rocksdb_block_based_table_options_t *without = kv_rdb_table(r, 0);
    int rc = STEME_OK;
    if (!with || !without) {
        rc = STEME_E_NOMEM;
        goto done;
    }
    size_t wb = o->rocksdb_write_buffer ? o->rocksdb_write_buffer : (size_t)64 << 20;
    for (int i = 0; i < KV_RDB_NCF; i++) {
        rocksdb_options_t *op = rocksdb_options_create();
        rocksdb_mergeoperator_t *m = op ? kv_rdb_merge_operator() : NULL;
        if (!op || !m) {
            if (op)
                rocksdb_options_destroy(op);
            rc = STEME_E_NOMEM;
            goto done;
        }
        r->rd_opts[i] = op;
        /* One operator object per options object: each takes ownership. */
        rocksdb_options_set_merge_operator(op, m);
        rocksdb_options_set_block_based_table_factory(op, kv_rdb_cf_has_bloom(i) ? with
                                                                                : without);
        if ((i == KV_RDB_CF_VOTES || i == KV_RDB_CF_AUDIT || i == KV_RDB_CF_QUOTA) &&
            o->rocksdb_votes_write_buffer) {
            /* Votes, and the audit and quota records every query writes:
             * small memtables (bench/server, 64 connections: ~5% more
             * queries/s with 4 MiB audit and quota memtables than with
             * 64 MiB). A vote's apply is three skip-list
             * inserts, and on this VM (nested paging, 32 MiB L3 shared)
             * their cost is cache misses that grow with the memtable:
             * measured per vote in the group apply, 64 MiB: 14-15 us,
             * 16 MiB: 9-10 us, 4 MiB: 6.6-7.3 us (the flushes and L0
             * compactions this adds run in the background). More
             * memtables absorb a flush that lags. */
            rocksdb_options_set_write_buffer_size(op, o->rocksdb_votes_write_buffer);
            rocksdb_options_set_max_write_buffer_number(op, 4);
        } else {
            rocksdb_options_set_write_buffer_size(op, wb);
        }
        rocksdb_options_set_compaction_style(op, rocksdb_level_compaction);
        rocksdb_options_set_level_compaction_dynamic_level_bytes(op, 1);
        rocksdb_options_set_compression(op, compression);
        /* A whole-key Bloom filter over the memtable: a point read of an
         * absent key (a first vote's "stored vote?") then skips the
         * memtable's skip-list search, which perf showed as the largest
         * cost of a vote (the filter takes 2% of the write buffer). */
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(op, 0.02);
        rocksdb_options_set_memtable_whole_key_filtering(op, 1);
        if (i == KV_RDB_CF_DEFAULT) {
            /* DB-wide options live in the default CF's options object. */
            rocksdb_options_set_create_if_missing(op, o->create_if_missing ? 1 : 0);
            rocksdb_options_set_create_missing_column_families(op, 1);
            rocksdb_options_set_enable_pipelined_write(op, 1);
            rocksdb_options_set_allow_concurrent_memtable_write(op, 1);
            rocksdb_options_set_max_background_jobs(op, 2);
            rocksdb_options_set_bytes_per_sync(op, 1u << 20);
            rocksdb_options_set_db_write_buffer_size(op, 2 * wb);
            rocksdb_options_set_max_total_wal_size(op, 4 * (uint64_t)wb);
            rocksdb_options_set_info_log_level(op, 2 /* WARN */);
            rocksdb_options_set_keep_log_file_num(op, 4);
            rocksdb_options_set_max_log_file_size(op, 8u << 20);
        }
    }
done:
    if (with)
        rocksdb_block_based_options_destroy(with);
    if (without)
        rocksdb_block_based_options_destroy(without);
    return rc;
}

/* Try one open with the given compression; on failure *errptr is set. */
static int kv_rdb_try_open(kv_rdb *r, const char *path, const steme_kv_options *o,
                           int compression, char **errptr)
{
    for (int i = 0; i < KV_RDB_NCF; i++) {
        if (r->rd_opts[i])
            rocksdb_options_destroy(r->rd_opts[i]);
        r->rd_opts[i] = NULL;
    }
    int rc = kv_rdb_build_options(r, o, compression);
    if (rc != STEME_OK)
        return rc;
    r->rd_db = rocksdb_open_column_families(r->rd_opts[0], path, KV_RDB_NCF, kv_rdb_cf_names,
                                            (const rocksdb_options_t *const *)r->rd_opts,
                                            r->rd_cf, errptr);
    return STEME_OK;
}

int kv_rocksdb_open(const char *path, const steme_kv_options *o, steme_kv **out,
                    steme_error *err)
{
    steme_kv_options defaults;
    char *errptr = NULL;
    int rc;
    *out = NULL;
    if (!path || !*path)
        return steme_err(err, STEME_E_INVALID, "rocksdb: a directory path is required");
    if (!o) {
        steme_kv_options_init(&defaults);
        o = &defaults;
    }
    kv_rdb *r = calloc(1, sizeof *r);
    if (!r)
        return steme_err(err, STEME_E_NOMEM, "rocksdb: out of memory");
    if (kv_base_init(&r->rd_base, &kv_rdb_vtable, STEME_KV_ROCKSDB) != STEME_OK) {
        free(r);
        return steme_err(err, STEME_E_NOMEM, "rocksdb: cannot create the error slot");
    }
    /* writer-preferring: a conditional batch must not starve behind a
     * stream of ordinary writes */
    pthread_rwlockattr_t la;
    pthread_rwlockattr_init(&la);
    pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lrc = pthread_rwlock_init(&r->rd_expect_lock, &la);
    pthread_rwlockattr_destroy(&la);
    if (lrc != 0) {
        rc = steme_err(err, STEME_E_NOMEM, "rocksdb: cannot create a lock");
        goto fail;
    }
    r->rd_expect_lock_ready = 1;
    size_t cache = o->rocksdb_cache_bytes ? o->rocksdb_cache_bytes : (size_t)64 << 20;
    r->rd_cache = rocksdb_cache_create_lru(cache);
    r->rd_ropts = rocksdb_readoptions_create();
    r->rd_wopts = rocksdb_writeoptions_create();
    r->rd_wopts_sync = rocksdb_writeoptions_create();
    r->rd_wopts_nolog = rocksdb_writeoptions_create();
    if (!r->rd_cache || !r->rd_ropts || !r->rd_wopts || !r->rd_wopts_sync || !r->rd_wopts_nolog) {
        rc = steme_err(err, STEME_E_NOMEM, "rocksdb: out of memory");
        goto fail;
    }
    rocksdb_writeoptions_set_sync(r->rd_wopts_sync, 1);
    rocksdb_writeoptions_disable_WAL(r->rd_wopts_nolog, 1);

    rc = kv_rdb_try_open(r, path, o, rocksdb_lz4_compression, &errptr);
    if (rc == STEME_OK && errptr && strstr(errptr, "not linked")) {
        /* This librocksdb was built without LZ4: run uncompressed. */
        rocksdb_free(errptr);
        errptr = NULL;
        rc = kv_rdb_try_open(r, path, o, rocksdb_no_compression, &errptr);
    }
    if (rc != STEME_OK) {
        rc = steme_err(err, rc, "rocksdb: out of memory building options");
        goto fail;
    }
    if (errptr) {
        /* A missing database with create_if_missing = 0 is "not found",
         * as for the other engines, not an engine failure. */
        int code = !o->create_if_missing && strstr(errptr, "does not exist")
                       ? STEME_E_NOTFOUND
                       : kv_rdb_classify(errptr);
        rc = steme_err(err, code, "rocksdb: cannot open %s: %s", path, errptr);
        rocksdb_free(errptr);
        goto fail;
    }
    *out = &r->rd_base;
    return STEME_OK;
fail:
    kv_rdb_close(&r->rd_base);
    return rc;
}
