/*
 * gold_standard.c - gold standards (spec 5): set/get by (subject,
 * predicate), verifying an agent's answer, and the apply of DB_LOG_GOLD.
 *
 * One key per (subject, predicate): {subject}\0GS:{predicate} -> the
 * GoldStandard encoding (LMDB). A set is a put of a whole record; it is
 * logged and applied under the key's stripe lock so two concurrent sets of
 * one key reach the log in the order they reach the engine, and a replay
 * ends on the same record the live store ended on.
 */
#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "steme/trust.h"
#include "store/db_int.h"

static steme_db *gdb(steme_gold *g) { return (steme_db *)g; }

steme_gold *steme_db_gold(steme_db *db) { return (steme_gold *)db; }

static int gold_key(const char *subject, size_t slen, const char *predicate, size_t plen,
                    uint8_t *buf, size_t *len, steme_error *err)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_GOLD_STANDARD;
    k.subject = subject;
    k.subject_len = slen;
    k.predicate = predicate;
    k.predicate_len = plen;
    return steme_key_encode(&k, buf, STEME_KEY_MAX, len, err);
}

int db_apply_gold(steme_db *db, const uint8_t *body, size_t len,
                  const db_conds *conds)
{
    (void)conds; /* a blind, idempotent write: no precondition */
    steme_gold_standard g;
    steme_error e;
    int rc = steme_gold_standard_decode(body, len, &g, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "gold standard record: %s", e.message);
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    if ((rc = gold_key(g.subject, g.subject_len, g.predicate, g.predicate_len, key, &klen,
                       &e)) != STEME_OK)
        return db_fail(db, rc, "gold standard record: %s", e.message);
    if ((rc = steme_kv_put(db->db_kv, key, klen, body, len, DB_APPLY_FLAGS)) != STEME_OK)
        return db_fail(db, rc, "storing gold standard: %s", steme_kv_errmsg(db->db_kv));
    return STEME_OK;
}

int steme_gold_set(steme_gold *gs, const steme_gold_standard *gold)
{
    steme_db *db = gdb(gs);
    if (!db)
        return STEME_E_INVALID;
    if (!gold)
        return db_fail(db, STEME_E_INVALID, "set gold standard: NULL");
    steme_error e;
    int rc = steme_gold_standard_validate(gold, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "set gold standard: %s", e.message);
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    if ((rc = gold_key(gold->subject, gold->subject_len, gold->predicate, gold->predicate_len,
                       key, &klen, &e)) != STEME_OK)
        return db_fail(db, rc, "set gold standard: %s", e.message);
    size_t need = steme_gold_standard_encoded_size(gold);
    uint8_t stackbuf[4096];
    uint8_t *enc = need <= sizeof stackbuf ? stackbuf : malloc(need);
    if (!enc)
        return db_fail(db, STEME_E_NOMEM, "set gold standard: out of memory");
    size_t len;
    if ((rc = steme_gold_standard_encode(gold, enc, need, &len, &e)) != STEME_OK) {
        db_fail(db, rc, "set gold standard: %s", e.message);
    } else {
        pthread_mutex_t *m = db_stripe(db, key, klen);
        pthread_mutex_lock(m);
        rc = db_log_and_apply(db, DB_LOG_GOLD, enc, len);
        pthread_mutex_unlock(m);
    }
    if (enc != stackbuf)
        free(enc);
    return rc;
}

int steme_gold_get(steme_gold *gs, const char *subject, size_t subject_len,
                   const char *predicate, size_t predicate_len, steme_buf *buf,
                   steme_gold_standard *out)
{
    steme_db *db = gdb(gs);
    if (!db)
        return STEME_E_INVALID;
    if (!subject || !predicate || !buf || !out)
        return db_fail(db, STEME_E_INVALID, "get gold standard: NULL argument");
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    steme_error e;
    int rc = gold_key(subject, subject_len, predicate, predicate_len, key, &klen, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "get gold standard: %s", e.message);
    if ((rc = steme_kv_get(db->db_kv, key, klen, buf)) != STEME_OK)
        return rc == STEME_E_NOTFOUND
                   ? db_fail(db, rc, "no gold standard for that subject and predicate")
                   : db_fail(db, rc, "get gold standard: %s", steme_kv_errmsg(db->db_kv));
    steme_gold_standard g;
    if (steme_gold_standard_decode(buf->data, buf->len, &g, &e) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "stored gold standard: %s", e.message);
    if (g.subject_len != subject_len || memcmp(g.subject, subject, subject_len) != 0 ||
        g.predicate_len != predicate_len || memcmp(g.predicate, predicate, predicate_len) != 0)
        return db_fail(db, STEME_E_CORRUPT, "stored gold standard belongs to another key");
    *out = g;
    return STEME_OK;
}

int steme_gold_verify_answer(steme_gold *gs, const char *subject, size_t subject_len,
                             const char *predicate, size_t predicate_len,
                             const steme_agent_id *agent, const steme_value *answer,
                             uint64_t ts, int *matched, steme_trust_rank *rank)
{
    steme_db *db = gdb(gs);
    if (!db)
        return STEME_E_INVALID;
    if (!agent || !answer)
        return db_fail(db, STEME_E_INVALID, "verify answer: NULL argument");
    steme_error e;
    int rc = steme_value_validate(answer, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "verify answer: %s", e.message);
    steme_buf buf = STEME_BUF_INIT;
    steme_gold_standard g;
    int ok = 0;
    rc = steme_gold_get(gs, subject, subject_len, predicate, predicate_len, &buf, &g);
    if (rc == STEME_OK && (rc = steme_gold_matches(&g, answer, &ok, &e)) != STEME_OK)
        db_fail(db, rc, "verify answer: %s", e.message);
    steme_buf_free(&buf);
    if (rc != STEME_OK)
        return rc;
    rc = steme_trust_record_outcome(steme_db_trust(db), agent, ok != 0, ts, rank);
    if (rc == STEME_OK && matched)
        *matched = ok;
    return rc;
}
