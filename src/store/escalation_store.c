/*
 * escalation_store.c - raising and resolving escalations, and their log
 * apply (key layout in steme/escalations.h).
 *
 * Every change writes the escalation's NEW state: the log body is its
 * encoding, and the apply moves all its keys in one RocksDB batch:
 *
 *     delete \0ES:{open}{created_at}{id}
 *     put    \0ES:{status}{created_at}{id}       -> encoding
 *     put    \0ES:{0x80}{0}{id}                  -> [status][created_at LE]
 *     open:     put    \0ES:{0x81}{0}{target}    -> id
 *     resolved: delete \0ES:{0x81}{0}{target}
 *
 * That is idempotent (applying it twice leaves the same keys) and needs no
 * read. Deleting the target locator on resolve without checking whom it
 * names is right because a target has at most one open escalation, and an
 * escalation is resolved only while open; replay re-applies records in log
 * order, so the last state wins there too.
 *
 * Why one lock for all raises and resolves: the "one open per target" and
 * "id unused" checks read before they write; two raises for one target
 * must not both pass. Escalations are rare (a human reads each one), so a
 * single lock costs nothing; it is a fixed stripe of the db's lock table.
 * pg mode (several nodes): the lock does not reach other processes, so the
 * write also carries what the checks read as preconditions (id and target
 * locators absent for a raise; the by-id locator still "open" for a
 * resolve), and a loser retries its checks.
 */
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "steme/escalations.h"
#include "steme/hash.h"
#include "steme/keys.h"
#include "store/escalation_int.h"

#define ESC_BY_ID 0x80u
#define ESC_BY_TARGET 0x81u
#define BYID_LEN 9

steme_escalations *steme_db_escalations(steme_db *db) { return (steme_escalations *)db; }

/* The 16-byte id of an escalation's target (see escalations.h). */
static void target_id(const steme_escalation *e, steme_id16 *out)
{
    static const char ctx[] = "steme escalation target";
    steme_blake3 h;
    steme_blake3_init(&h);
    steme_blake3_update(&h, ctx, sizeof ctx);
    uint8_t kind = (uint8_t)e->target_kind;
    steme_blake3_update(&h, &kind, 1);
    if (e->target_kind == STEME_ESC_TARGET_ASSERTION) {
        steme_blake3_update(&h, e->target_hash.bytes, STEME_HASH_LEN);
    } else {
        uint8_t zero = 0;
        steme_blake3_update(&h, e->subject, e->subject_len);
        steme_blake3_update(&h, &zero, 1); /* subjects never hold NUL: unambiguous */
        steme_blake3_update(&h, e->predicate, e->predicate_len);
    }
    steme_blake3_finalize(&h, out->bytes, STEME_ID16_LEN);
}

int db_apply_escalation(steme_db *db, const uint8_t *body, size_t len,
                        const db_conds *conds)
{
    steme_escalation e;
    steme_error err;
    int rc = steme_escalation_decode(body, len, &e, &err);
    if (rc != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "escalation record: %s", err.message);
    uint8_t key[STEME_KEY_MAX], byid[BYID_LEN];
    size_t klen;
    steme_id16 tid;
    target_id(&e, &tid);
    byid[0] = (uint8_t)e.status;
    bytes_put_le(byid + 1, e.created_at, 8);

    steme_kv_batch *b = steme_kv_batch_new();
    if (!b)
        return db_fail(db, STEME_E_NOMEM, "escalation: out of memory");
    if ((rc = es_key(STEME_ESC_OPEN, e.created_at, &e.id, key, &klen)) == STEME_OK &&
        (rc = steme_kv_batch_delete(b, key, klen)) == STEME_OK &&
        (rc = es_key((uint8_t)e.status, e.created_at, &e.id, key, &klen)) == STEME_OK &&
        (rc = steme_kv_batch_put(b, key, klen, body, len)) == STEME_OK &&
        (rc = es_key(ESC_BY_ID, 0, &e.id, key, &klen)) == STEME_OK &&
        (rc = steme_kv_batch_put(b, key, klen, byid, sizeof byid)) == STEME_OK &&
        (rc = es_key(ESC_BY_TARGET, 0, &tid, key, &klen)) == STEME_OK) {
        rc = e.status == STEME_ESC_OPEN
                 ? steme_kv_batch_put(b, key, klen, e.id.bytes, STEME_ID16_LEN)
                 : steme_kv_batch_delete(b, key, klen);
    }
    if (rc != STEME_OK)
        db_fail(db, rc, "escalation: building the batch");
    else
        rc = db_kv_write(db, b, conds, "escalation");
    steme_kv_batch_free(b);
    return rc;
}

/* 1 in *found if key exists; its value (if wanted) in v. */
static int probe(steme_db *db, const uint8_t *key, size_t klen, steme_buf *v, int *found)
{
    int rc = steme_kv_get(db->db_kv, key, klen, v);
    *found = rc == STEME_OK;
    if (rc == STEME_E_NOTFOUND || rc == STEME_OK)
        return STEME_OK;
    return db_fail(db, rc, "escalation: %s", steme_kv_errmsg(db->db_kv));
}

/* Encode e and log it; the caller holds the escalation lock. conds: what
 * the checks read (pg mode: the write lands only if it still holds). */
static int log_state(steme_db *db, const steme_escalation *e, const char *what,
                     const db_conds *conds)
{
    steme_error err;
    size_t need = steme_escalation_encoded_size(e), len;
    uint8_t stackbuf[4096];
    uint8_t *enc = need && need <= sizeof stackbuf ? stackbuf : malloc(need ? need : 1);
    if (!enc)
        return db_fail(db, STEME_E_NOMEM, "%s: out of memory", what);
    int rc = steme_escalation_encode(e, enc, need, &len, &err);
    if (rc != STEME_OK)
        db_fail(db, rc, "%s: %s", what, err.message);
    else
        rc = db_log_and_apply_if(db, DB_LOG_ESCALATION, enc, len, conds);
    if (enc != stackbuf)
        free(enc);
    return rc;
}

static pthread_mutex_t *esc_lock(steme_db *db)
{
    static const char name[] = "\0ES:lock";
    return db_stripe(db, name, sizeof name - 1);
}

static int raise_locked(steme_db *db, const steme_escalation *e)
{
    uint8_t key[STEME_KEY_MAX], tkey[STEME_KEY_MAX];
    size_t klen = 0, tklen = 0;
    steme_buf v = STEME_BUF_INIT;
    int found = 0, rc = es_key(ESC_BY_ID, 0, &e->id, key, &klen);
    if (rc == STEME_OK && (rc = probe(db, key, klen, &v, &found)) == STEME_OK && found)
        rc = db_fail(db, STEME_E_EXISTS, "raise escalation: an escalation with this id exists");
    steme_id16 tid;
    target_id(e, &tid);
    if (rc == STEME_OK && (rc = es_key(ESC_BY_TARGET, 0, &tid, tkey, &tklen)) == STEME_OK &&
        (rc = probe(db, tkey, tklen, &v, &found)) == STEME_OK && found) {
        char hex[2 * STEME_ID16_LEN + 1] = "?";
        if (v.len == STEME_ID16_LEN)
            steme_hex_encode(v.data, v.len, hex, sizeof hex);
        rc = db_fail(db, STEME_E_EXISTS,
                     "raise escalation: its target already has open escalation %s", hex);
    }
    steme_buf_free(&v);
    /* pg mode: another node may raise for the same id or target between
     * our probes and our write; both must still be absent when it lands */
    if (rc == STEME_OK) {
        db_conds conds = {0};
        db_cond_add(&conds, key, klen, NULL, 0);
        db_cond_add(&conds, tkey, tklen, NULL, 0);
        rc = log_state(db, e, "raise escalation", &conds);
    }
    return rc;
}

int steme_escalation_raise(steme_escalations *s, const steme_escalation *e)
{
    steme_db *db = edb(s);
    if (!db)
        return STEME_E_INVALID;
    if (!e)
        return db_fail(db, STEME_E_INVALID, "raise escalation: NULL escalation");
    steme_escalation x = *e;
    if (x.status == 0)
        x.status = STEME_ESC_OPEN;
    if (x.status != STEME_ESC_OPEN)
        return db_fail(db, STEME_E_INVALID, "raise escalation: a new escalation must be open");
    steme_error err;
    int rc = steme_escalation_validate(&x, &err);
    if (rc != STEME_OK)
        return db_fail(db, rc, "raise escalation: %s", err.message);
    pthread_mutex_t *m = esc_lock(db);
    for (unsigned attempt = 0;; attempt++) {
        pthread_mutex_lock(m);
        rc = raise_locked(db, &x);
        pthread_mutex_unlock(m);
        /* pg mode: a raise on another node landed first: probe again (and
         * most likely report STEME_E_EXISTS) */
        if (rc != STEME_E_BUSY || !db_shared(db) || !db_retry_wait(db, attempt))
            return rc;
    }
}

static int resolve_locked(steme_db *db, const steme_id16 *id, const char *note, size_t note_len,
                          uint64_t resolved_at)
{
    steme_buf v = STEME_BUF_INIT;
    steme_escalation e;
    int rc = steme_escalation_get((steme_escalations *)db, id, &v, &e);
    if (rc == STEME_OK && e.status != STEME_ESC_OPEN)
        rc = db_fail(db, STEME_E_INVALID, "resolve escalation: it is already resolved");
    uint8_t key[STEME_KEY_MAX], byid[BYID_LEN];
    size_t klen;
    db_conds conds = {0};
    if (rc == STEME_OK && (rc = es_key(ESC_BY_ID, 0, id, key, &klen)) != STEME_OK)
        db_fail(db, rc, "resolve escalation: key");
    if (rc == STEME_OK) {
        /* pg mode: resolve only if it is still open (another node may be
         * resolving it too: exactly one wins, the other reports "already
         * resolved" after its retry) */
        byid[0] = STEME_ESC_OPEN;
        bytes_put_le(byid + 1, e.created_at, 8);
        db_cond_add(&conds, key, klen, byid, sizeof byid);
        e.status = STEME_ESC_RESOLVED;
        e.resolved_at = resolved_at;
        e.resolution_note = note;
        e.resolution_note_len = note_len;
        rc = log_state(db, &e, "resolve escalation", &conds);
    }
    steme_buf_free(&v);
    return rc;
}

int steme_escalation_resolve(steme_escalations *s, const steme_id16 *id, const char *note,
                             size_t note_len, uint64_t resolved_at)
{
    steme_db *db = edb(s);
    if (!db)
        return STEME_E_INVALID;
    if (!id || (!note && note_len))
        return db_fail(db, STEME_E_INVALID, "resolve escalation: NULL argument");
    pthread_mutex_t *m = esc_lock(db);
    for (unsigned attempt = 0;; attempt++) {
        pthread_mutex_lock(m);
        int rc = resolve_locked(db, id, note, note_len, resolved_at);
        pthread_mutex_unlock(m);
        if (rc != STEME_E_BUSY || !db_shared(db) || !db_retry_wait(db, attempt))
            return rc;
    }
}
