/*
 * supersession_store.c - supersede, its log apply, and chain walks (key
 * layout and rules in steme/supersession.h).
 *
 * Log body (kind DB_LOG_SUPERSESSION):
 *
 *     [old subject_len u16 LE][old subject][new subject_len u16 LE][new subject]
 *     [Supersession encoding]
 *
 * The subjects travel in the body so the apply needs no read: it puts
 * {s_old}\0SS:{old} -> encoding and {s_new}\0SB:{new} -> old hash in one LMDB
 * batch, which is idempotent.
 *
 * A walk step reads the locator \0HS:{h} (h's subject), then {s}\0SS:{h}:
 * two point reads in LMDB, with two buffers reused along the walk.
 */
#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "steme/supersession.h"
#include "store/db_int.h"

static steme_db *sdb(steme_supersessions *s) { return (steme_db *)s; }

steme_supersessions *steme_db_supersessions(steme_db *db) { return (steme_supersessions *)db; }

typedef struct walkbufs {
    steme_buf subj;   /* a subject, from the locator */
    steme_buf val;    /* an SS or SB value */
} walkbufs;

static void walkbufs_free(walkbufs *w)
{
    steme_buf_free(&w->subj);
    steme_buf_free(&w->val);
}

/* h's subject into w->subj. STEME_E_NOTFOUND (with a message) if h is not stored. */
static int subject_of(steme_db *db, const steme_hash *h, walkbufs *w)
{
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = db_locator_key(h, key, sizeof key, &klen);
    if (rc == STEME_OK)
        rc = steme_kv_get(db->db_kv, key, klen, &w->subj);
    if (rc == STEME_E_NOTFOUND)
        return db_fail(db, rc, "no assertion with that hash");
    if (rc != STEME_OK)
        return db_fail(db, rc, "supersession: %s", steme_kv_errmsg(db->db_kv));
    return STEME_OK;
}

/* Key {subject}\0{SS|SB}:{h}. */
static int link_key(steme_key_family fam, const char *subj, size_t slen, const steme_hash *h,
                    uint8_t *buf, size_t *len, steme_error *err)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = fam;
    k.subject = subj;
    k.subject_len = slen;
    k.hash = *h;
    return steme_key_encode(&k, buf, STEME_KEY_MAX, len, err);
}

/*
 * Follow h's link of family fam (SS: successor, SB: predecessor) into *out.
 * *found = 0 when there is none (also when h is unknown, if allow_unknown).
 */
static int follow(steme_db *db, steme_key_family fam, const steme_hash *h, walkbufs *w,
                  int allow_unknown, steme_hash *out, int *found)
{
    *found = 0;
    int rc = subject_of(db, h, w);
    if (rc == STEME_E_NOTFOUND && allow_unknown)
        return STEME_OK;
    if (rc != STEME_OK)
        return rc;
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    steme_error e;
    if ((rc = link_key(fam, (const char *)w->subj.data, w->subj.len, h, key, &klen, &e)) !=
        STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "hash locator holds a bad subject: %s", e.message);
    rc = steme_kv_get(db->db_kv, key, klen, &w->val);
    if (rc == STEME_E_NOTFOUND)
        return STEME_OK;
    if (rc != STEME_OK)
        return db_fail(db, rc, "supersession: %s", steme_kv_errmsg(db->db_kv));
    if (fam == STEME_FAM_SUPERSEDED_BY) {
        if (w->val.len != STEME_HASH_LEN)
            return db_fail(db, STEME_E_CORRUPT, "superseded-by entry is %zu bytes", w->val.len);
        memcpy(out->bytes, w->val.data, STEME_HASH_LEN);
    } else {
        steme_supersession s;
        if (steme_supersession_decode(w->val.data, w->val.len, &s, &e) != STEME_OK)
            return db_fail(db, STEME_E_CORRUPT, "stored supersession: %s", e.message);
        if (memcmp(s.old_hash.bytes, h->bytes, STEME_HASH_LEN) != 0)
            return db_fail(db, STEME_E_CORRUPT, "stored supersession does not match its key");
        *out = s.new_hash;
    }
    *found = 1;
    return STEME_OK;
}

int db_apply_supersession(steme_db *db, const uint8_t *body, size_t len,
                          const db_conds *conds)
{
    const char *subj[2];
    size_t slen[2], off = 0;
    for (int i = 0; i < 2; i++) {
        if (!body || len - off < 2)
            return db_fail(db, STEME_E_CORRUPT, "supersession record: short body");
        slen[i] = (size_t)body[off] | (size_t)body[off + 1] << 8;
        off += 2;
        if (len - off < slen[i])
            return db_fail(db, STEME_E_CORRUPT, "supersession record: subject past the end");
        subj[i] = (const char *)body + off;
        off += slen[i];
    }
    steme_supersession s;
    steme_error e;
    if (steme_supersession_decode(body + off, len - off, &s, &e) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "supersession record: %s", e.message);
    uint8_t ss[STEME_KEY_MAX], sb[STEME_KEY_MAX];
    size_t sslen, sblen;
    if (link_key(STEME_FAM_SUPERSEDES, subj[0], slen[0], &s.old_hash, ss, &sslen, &e) ||
        link_key(STEME_FAM_SUPERSEDED_BY, subj[1], slen[1], &s.new_hash, sb, &sblen, &e))
        return db_fail(db, STEME_E_CORRUPT, "supersession record: %s", e.message);
    steme_kv_batch *b = steme_kv_batch_new();
    if (!b)
        return db_fail(db, STEME_E_NOMEM, "supersession: out of memory");
    int rc;
    if ((rc = steme_kv_batch_put(b, ss, sslen, body + off, len - off)) != STEME_OK ||
        (rc = steme_kv_batch_put(b, sb, sblen, s.old_hash.bytes, STEME_HASH_LEN)) != STEME_OK)
        db_fail(db, rc, "supersession: building the batch");
    else
        rc = db_kv_write(db, b, conds, "supersession");
    steme_kv_batch_free(b);
    return rc;
}

/* Append [len u16 LE][subject] at *p. */
static uint8_t *put_subject(uint8_t *p, const steme_buf *subj)
{
    p[0] = (uint8_t)subj->len;
    p[1] = (uint8_t)(subj->len >> 8);
    memcpy(p + 2, subj->data, subj->len);
    return p + 2 + subj->len;
}

/* Checks and log; the caller holds the supersession lock. */
static int supersede_locked(steme_db *db, const steme_supersession *s, walkbufs *w)
{
    steme_buf s_old = STEME_BUF_INIT, s_new = STEME_BUF_INIT;
    steme_hash h, next;
    int found, rc;
    size_t back = 0, fwd = 0;
    /* both stored; their subjects for the keys */
    if ((rc = subject_of(db, &s->old_hash, w)) != STEME_OK ||
        (rc = steme_buf_set(&s_old, w->subj.data, w->subj.len)) != STEME_OK ||
        (rc = subject_of(db, &s->new_hash, w)) != STEME_OK ||
        (rc = steme_buf_set(&s_new, w->subj.data, w->subj.len)) != STEME_OK) {
        if (rc == STEME_E_NOTFOUND)
            db_fail(db, rc, "supersede: the %s assertion is not stored",
                    s_old.data ? "new" : "old");
        else if (rc == STEME_E_NOMEM)
            db_fail(db, rc, "supersede: out of memory");
        goto done;
    }
    if ((rc = follow(db, STEME_FAM_SUPERSEDES, &s->old_hash, w, 0, &next, &found)) != STEME_OK)
        goto done;
    if (found) {
        rc = db_fail(db, STEME_E_EXISTS, "supersede: the old assertion is already superseded");
        goto done;
    }
    if ((rc = follow(db, STEME_FAM_SUPERSEDED_BY, &s->new_hash, w, 0, &next, &found)) !=
        STEME_OK)
        goto done;
    if (found) {
        rc = db_fail(db, STEME_E_EXISTS,
                     "supersede: the new assertion already supersedes another one");
        goto done;
    }
    /* links before old, then after new: the joined chain is back + 1 + fwd */
    for (h = s->old_hash;; h = next, back++) {
        if ((rc = follow(db, STEME_FAM_SUPERSEDED_BY, &h, w, 0, &next, &found)) != STEME_OK)
            goto done;
        if (!found)
            break;
        if (back + 1 >= STEME_SUPERSESSION_CHAIN_MAX) {
            rc = db_fail(db, STEME_E_FULL, "supersede: the chain would pass %u links",
                         STEME_SUPERSESSION_CHAIN_MAX);
            goto done;
        }
    }
    for (h = s->new_hash;; h = next, fwd++) {
        if (memcmp(h.bytes, s->old_hash.bytes, STEME_HASH_LEN) == 0) {
            rc = db_fail(db, STEME_E_INVALID,
                         "supersede: the new assertion's chain leads back to the old one: "
                         "this would make a cycle");
            goto done;
        }
        if ((rc = follow(db, STEME_FAM_SUPERSEDES, &h, w, 0, &next, &found)) != STEME_OK)
            goto done;
        if (!found)
            break;
        if (back + 1 + fwd + 1 > STEME_SUPERSESSION_CHAIN_MAX) {
            rc = db_fail(db, STEME_E_FULL, "supersede: the chain would pass %u links",
                         STEME_SUPERSESSION_CHAIN_MAX);
            goto done;
        }
    }

    steme_error e;
    size_t need = steme_supersession_encoded_size(s), enclen;
    size_t total = 4 + s_old.len + s_new.len + need;
    uint8_t *body = malloc(total);
    if (!body) {
        rc = db_fail(db, STEME_E_NOMEM, "supersede: out of memory");
        goto done;
    }
    uint8_t *p = put_subject(put_subject(body, &s_old), &s_new);
    /* pg mode: another node may supersede old, or by new, between our
     * checks and our write: both links must still be absent when it lands
     * (the chain walks are not covered: see docs/scale-out.md) */
    uint8_t ss[STEME_KEY_MAX], sb[STEME_KEY_MAX];
    size_t sslen, sblen;
    db_conds conds = {0};
    if ((rc = link_key(STEME_FAM_SUPERSEDES, (const char *)s_old.data, s_old.len, &s->old_hash,
                       ss, &sslen, &e)) != STEME_OK ||
        (rc = link_key(STEME_FAM_SUPERSEDED_BY, (const char *)s_new.data, s_new.len,
                       &s->new_hash, sb, &sblen, &e)) != STEME_OK)
        db_fail(db, rc, "supersede: %s", e.message);
    else if ((rc = steme_supersession_encode(s, p, need, &enclen, &e)) != STEME_OK)
        db_fail(db, rc, "supersede: %s", e.message);
    if (rc == STEME_OK) {
        db_cond_add(&conds, ss, sslen, NULL, 0);
        db_cond_add(&conds, sb, sblen, NULL, 0);
        rc = db_log_and_apply_if(db, DB_LOG_SUPERSESSION, body, (size_t)(p - body) + enclen,
                                 &conds);
    }
    free(body);
done:
    steme_buf_free(&s_old);
    steme_buf_free(&s_new);
    return rc;
}

int steme_supersede(steme_supersessions *ss, const steme_hash *old_hash,
                    const steme_hash *new_hash, const char *reason, size_t reason_len,
                    const steme_agent_id *agent, uint64_t ts)
{
    steme_db *db = sdb(ss);
    if (!db)
        return STEME_E_INVALID;
    if (!old_hash || !new_hash || !agent || (!reason && reason_len))
        return db_fail(db, STEME_E_INVALID, "supersede: NULL argument");
    steme_supersession s;
    memset(&s, 0, sizeof s);
    s.old_hash = *old_hash;
    s.new_hash = *new_hash;
    s.reason = reason;
    s.reason_len = reason_len;
    s.agent = *agent;
    s.timestamp = ts;
    steme_error e;
    int rc = steme_supersession_validate(&s, &e); /* old != new, reason text */
    if (rc != STEME_OK)
        return db_fail(db, rc, "supersede: %s", e.message);
    static const char lock_name[] = "\0SS:lock";
    pthread_mutex_t *m = db_stripe(db, lock_name, sizeof lock_name - 1);
    walkbufs w = {STEME_BUF_INIT, STEME_BUF_INIT};
    for (unsigned attempt = 0;; attempt++) {
        pthread_mutex_lock(m);
        rc = supersede_locked(db, &s, &w);
        pthread_mutex_unlock(m);
        /* pg mode: a supersession through another node landed first: check
         * again (most likely STEME_E_EXISTS now) */
        if (rc != STEME_E_BUSY || !db_shared(db) || !db_retry_wait(db, attempt))
            break;
    }
    walkbufs_free(&w);
    return rc;
}

/* ---------------------------------------------------------------- reads */

int steme_supersession_get(steme_supersessions *ss, const steme_hash *old_hash, steme_buf *buf,
                           steme_supersession *out)
{
    steme_db *db = sdb(ss);
    if (!db)
        return STEME_E_INVALID;
    if (!old_hash || !buf || !out)
        return db_fail(db, STEME_E_INVALID, "supersession: NULL argument");
    walkbufs w = {STEME_BUF_INIT, STEME_BUF_INIT};
    steme_hash next;
    int found;
    int rc = follow(db, STEME_FAM_SUPERSEDES, old_hash, &w, 0, &next, &found);
    if (rc == STEME_OK && !found)
        rc = db_fail(db, STEME_E_NOTFOUND, "that assertion is not superseded");
    if (rc == STEME_OK) {
        /* hand the caller's buffer the value, then view it */
        steme_buf_free(buf);
        *buf = w.val;
        w.val = (steme_buf)STEME_BUF_INIT;
        if (steme_supersession_decode(buf->data, buf->len, out, NULL) != STEME_OK)
            rc = db_fail(db, STEME_E_CORRUPT, "stored supersession does not decode");
    }
    walkbufs_free(&w);
    return rc;
}

static int follow_public(steme_supersessions *ss, steme_key_family fam, const steme_hash *h,
                         steme_hash *out, const char *none)
{
    steme_db *db = sdb(ss);
    if (!db)
        return STEME_E_INVALID;
    if (!h || !out)
        return db_fail(db, STEME_E_INVALID, "supersession: NULL argument");
    walkbufs w = {STEME_BUF_INIT, STEME_BUF_INIT};
    int found;
    int rc = follow(db, fam, h, &w, 0, out, &found);
    walkbufs_free(&w);
    if (rc == STEME_OK && !found)
        rc = db_fail(db, STEME_E_NOTFOUND, "%s", none);
    return rc;
}

int steme_supersession_successor(steme_supersessions *ss, const steme_hash *h, steme_hash *next)
{
    return follow_public(ss, STEME_FAM_SUPERSEDES, h, next, "that assertion is not superseded");
}

int steme_supersession_predecessor(steme_supersessions *ss, const steme_hash *h,
                                   steme_hash *prev)
{
    return follow_public(ss, STEME_FAM_SUPERSEDED_BY, h, prev,
                         "that assertion supersedes nothing");
}

int steme_supersession_is_superseded(steme_supersessions *ss, const steme_hash *h, bool *yes)
{
    steme_db *db = sdb(ss);
    if (!db)
        return STEME_E_INVALID;
    if (yes)
        *yes = false;
    if (!h || !yes)
        return db_fail(db, STEME_E_INVALID, "supersession: NULL argument");
    walkbufs w = {STEME_BUF_INIT, STEME_BUF_INIT};
    steme_hash next;
    int found;
    int rc = follow(db, STEME_FAM_SUPERSEDES, h, &w, 1, &next, &found);
    walkbufs_free(&w);
    if (rc == STEME_OK)
        *yes = found != 0;
    return rc;
}

/* Below this many hashes per multi-get: bounded stack arrays, and still one
 * round trip for a whole page of a listing. */
#define BATCH 128

int steme_supersession_are_superseded(steme_supersessions *ss, const char *subject,
                                      size_t subject_len, size_t n, const steme_hash *hashes,
                                      bool *yes)
{
    steme_db *db = sdb(ss);
    if (!db)
        return STEME_E_INVALID;
    if (!subject || (n && (!hashes || !yes)))
        return db_fail(db, STEME_E_INVALID, "supersession: NULL argument");
    if (n == 0)
        return STEME_OK;
    /* Every key is {subject}\0SS:{h}, all of one length: one block of
     * chunk x klen holds a batch's keys (the first encoding checks the
     * subject and gives that length). */
    uint8_t first[STEME_KEY_MAX];
    size_t klen;
    steme_error e;
    int rc = link_key(STEME_FAM_SUPERSEDES, subject, subject_len, &hashes[0], first, &klen, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "supersession: %s", e.message);
    size_t chunk = n < BATCH ? n : BATCH;
    uint8_t *keys = malloc(chunk * klen);
    if (!keys)
        return db_fail(db, STEME_E_NOMEM, "supersession: out of memory");
    const void *keyp[BATCH];
    size_t klens[BATCH];
    int st[BATCH];
    steme_buf vals[BATCH];
    for (size_t i = 0; i < chunk; i++) {
        vals[i] = (steme_buf)STEME_BUF_INIT;
        keyp[i] = keys + i * klen;
        klens[i] = klen;
    }
    for (size_t off = 0; off < n && rc == STEME_OK; off += chunk) {
        size_t m = n - off < chunk ? n - off : chunk;
        for (size_t i = 0; i < m; i++) {
            uint8_t *k = keys + i * klen;
            size_t len;
            if ((rc = link_key(STEME_FAM_SUPERSEDES, subject, subject_len, &hashes[off + i], k,
                               &len, &e)) != STEME_OK || len != klen) {
                rc = db_fail(db, rc ? rc : STEME_E_INTERNAL, "supersession: key encoding");
                break;
            }
        }
        if (rc != STEME_OK)
            break;
        if ((rc = steme_kv_multi_get(db->db_kv, m, keyp, klens, vals, st)) != STEME_OK) {
            db_fail(db, rc, "supersession: %s", steme_kv_errmsg(db->db_kv));
            break;
        }
        for (size_t i = 0; i < m && rc == STEME_OK; i++) {
            yes[off + i] = false;
            if (st[i] == STEME_E_NOTFOUND)
                continue;
            if (st[i] != STEME_OK) {
                rc = db_fail(db, st[i], "supersession: %s", steme_kv_errmsg(db->db_kv));
                break;
            }
            steme_supersession s;
            if (steme_supersession_decode(vals[i].data, vals[i].len, &s, &e) != STEME_OK)
                rc = db_fail(db, STEME_E_CORRUPT, "stored supersession: %s", e.message);
            else if (memcmp(s.old_hash.bytes, hashes[off + i].bytes, STEME_HASH_LEN) != 0)
                rc = db_fail(db, STEME_E_CORRUPT, "stored supersession does not match its key");
            else
                yes[off + i] = true;
        }
    }
    for (size_t i = 0; i < chunk; i++)
        steme_buf_free(&vals[i]);
    free(keys);
    return rc;
}

int steme_supersession_head(steme_supersessions *ss, const steme_hash *h, steme_hash *head,
                            size_t *links)
{
    steme_db *db = sdb(ss);
    if (links)
        *links = 0;
    if (!db)
        return STEME_E_INVALID;
    if (!h || !head)
        return db_fail(db, STEME_E_INVALID, "supersession head: NULL argument");
    walkbufs w = {STEME_BUF_INIT, STEME_BUF_INIT};
    steme_hash cur = *h, next;
    size_t n = 0;
    int found, rc;
    for (;;) {
        if ((rc = follow(db, STEME_FAM_SUPERSEDES, &cur, &w, 0, &next, &found)) != STEME_OK) {
            if (rc == STEME_E_NOTFOUND && n > 0)
                rc = db_fail(db, STEME_E_CORRUPT,
                             "supersession chain links to a missing assertion");
            break;
        }
        if (!found) {
            *head = cur;
            if (links)
                *links = n;
            break;
        }
        if (++n > STEME_SUPERSESSION_CHAIN_MAX) {
            rc = db_fail(db, STEME_E_CORRUPT, "supersession chain longer than %u links",
                         STEME_SUPERSESSION_CHAIN_MAX);
            break;
        }
        cur = next;
    }
    walkbufs_free(&w);
    return rc;
}
