/*
 * trust_pack.c - trust packs (spec 5): pack records, membership changes,
 * the O(1) membership test, and the applies of DB_LOG_PACK and
 * DB_LOG_PACK_MEMBER.
 *
 *     \0TP:{pack}          -> TrustPack encoding
 *     \0TM:{pack}{agent}   -> empty; present iff agent is a member
 *
 * Every change to a pack runs under the stripe lock of its \0TP: key: a
 * member add checks that the pack exists and logs the change inside the
 * same critical section, so log order equals apply order for the pack, and
 * replaying the log ends in the state the live store had. Applies carry the
 * resulting state (put the record; put or delete the member key), so
 * applying one twice changes nothing.
 */
#include <string.h>

#include "steme/keys.h"
#include "steme/packs.h"
#include "store/db_int.h"
#include "store/trust_pack_int.h"

#define MEMBER_BODY_LEN (1u + STEME_ID16_LEN + STEME_AGENT_ID_LEN)
#define OP_ADD 1u
#define OP_REMOVE 0u

static steme_db *pdb(steme_packs *p) { return (steme_db *)p; }

steme_packs *steme_db_packs(steme_db *db) { return (steme_packs *)db; }

int trust_pack_key(const steme_id16 *pack, uint8_t *buf, size_t cap, size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_TRUST_PACK;
    k.id = *pack;
    return steme_key_encode(&k, buf, cap, len, NULL);
}

int trust_pack_member_key(const steme_id16 *pack, const steme_agent_id *agent, uint8_t *buf,
                          size_t cap, size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_PACK_MEMBER;
    k.id = *pack;
    if (agent)
        k.agent = *agent;
    return agent ? steme_key_encode(&k, buf, cap, len, NULL)
                 : steme_key_encode_prefix(&k, 1, buf, cap, len, NULL);
}

/* *found = 1 if key is present (value discarded). */
static int key_exists(steme_db *db, const uint8_t *key, size_t klen, int *found)
{
    steme_buf v = STEME_BUF_INIT;
    int rc = steme_kv_get(db->db_kv, key, klen, &v);
    steme_buf_free(&v);
    *found = rc == STEME_OK;
    if (rc == STEME_E_NOTFOUND)
        return STEME_OK;
    return rc == STEME_OK ? rc : db_fail(db, rc, "trust pack: %s", steme_kv_errmsg(db->db_kv));
}

int db_apply_pack(steme_db *db, const uint8_t *body, size_t len,
                  const db_conds *conds)
{
    (void)conds; /* a blind, idempotent write: no precondition */
    steme_trust_pack p;
    steme_error e;
    int rc = steme_trust_pack_decode(body, len, &p, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "trust pack record: %s", e.message);
    uint8_t key[64];
    size_t klen;
    if ((rc = trust_pack_key(&p.id, key, sizeof key, &klen)) != STEME_OK)
        return db_fail(db, rc, "trust pack record: key");
    if ((rc = steme_kv_put(db->db_kv, key, klen, body, len, DB_APPLY_FLAGS)) != STEME_OK)
        return db_fail(db, rc, "storing trust pack: %s", steme_kv_errmsg(db->db_kv));
    return STEME_OK;
}

int db_apply_pack_member(steme_db *db, const uint8_t *body, size_t len,
                         const db_conds *conds)
{
    (void)conds; /* a blind, idempotent write: no precondition */
    if (len != MEMBER_BODY_LEN || (body[0] != OP_ADD && body[0] != OP_REMOVE))
        return db_fail(db, STEME_E_CORRUPT, "pack member record: bad length %zu or op", len);
    steme_id16 pack;
    steme_agent_id agent;
    memcpy(pack.bytes, body + 1, STEME_ID16_LEN);
    memcpy(agent.bytes, body + 1 + STEME_ID16_LEN, STEME_AGENT_ID_LEN);
    uint8_t key[96];
    size_t klen;
    int rc = trust_pack_member_key(&pack, &agent, key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "pack member record: key");
    rc = body[0] == OP_ADD ? steme_kv_put(db->db_kv, key, klen, NULL, 0, DB_APPLY_FLAGS)
                           : steme_kv_delete(db->db_kv, key, klen, DB_APPLY_FLAGS);
    if (rc != STEME_OK)
        return db_fail(db, rc, "storing pack member: %s", steme_kv_errmsg(db->db_kv));
    return STEME_OK;
}

int steme_packs_put(steme_packs *ps, const steme_trust_pack *pack, int *created)
{
    steme_db *db = pdb(ps);
    if (!db)
        return STEME_E_INVALID;
    if (!pack)
        return db_fail(db, STEME_E_INVALID, "put pack: NULL");
    uint8_t enc[STEME_PACK_NAME_MAX + STEME_TEXT_MAX + 128];
    size_t len;
    steme_error e;
    int rc = steme_trust_pack_encode(pack, enc, sizeof enc, &len, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "put pack: %s", e.message);
    uint8_t key[64];
    size_t klen;
    if ((rc = trust_pack_key(&pack->id, key, sizeof key, &klen)) != STEME_OK)
        return db_fail(db, rc, "put pack: key");
    pthread_mutex_t *m = db_stripe(db, key, klen);
    pthread_mutex_lock(m);
    int found = 0;
    if ((rc = key_exists(db, key, klen, &found)) == STEME_OK)
        rc = db_log_and_apply(db, DB_LOG_PACK, enc, len);
    pthread_mutex_unlock(m);
    if (rc == STEME_OK && created)
        *created = !found;
    return rc;
}

int steme_packs_get(steme_packs *ps, const steme_id16 *pack, steme_buf *buf,
                    steme_trust_pack *out)
{
    steme_db *db = pdb(ps);
    if (!db)
        return STEME_E_INVALID;
    if (!pack || !buf || !out)
        return db_fail(db, STEME_E_INVALID, "get pack: NULL argument");
    uint8_t key[64];
    size_t klen;
    int rc = trust_pack_key(pack, key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "get pack: key");
    if ((rc = steme_kv_get(db->db_kv, key, klen, buf)) != STEME_OK)
        return rc == STEME_E_NOTFOUND ? db_fail(db, rc, "no trust pack with that id")
                                      : db_fail(db, rc, "get pack: %s",
                                                steme_kv_errmsg(db->db_kv));
    steme_trust_pack p;
    steme_error e;
    if (steme_trust_pack_decode(buf->data, buf->len, &p, &e) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "stored trust pack: %s", e.message);
    if (memcmp(p.id.bytes, pack->bytes, STEME_ID16_LEN) != 0)
        return db_fail(db, STEME_E_CORRUPT, "stored trust pack has another id");
    *out = p;
    return STEME_OK;
}

/* Add (op 1) or remove (op 0) a member, under the pack's lock. */
static int change_member(steme_db *db, const steme_id16 *pack, const steme_agent_id *agent,
                         uint8_t op, int *changed)
{
    uint8_t pkey[64], mkey[96];
    size_t plen, mlen;
    int rc;
    if ((rc = trust_pack_key(pack, pkey, sizeof pkey, &plen)) != STEME_OK ||
        (rc = trust_pack_member_key(pack, agent, mkey, sizeof mkey, &mlen)) != STEME_OK)
        return db_fail(db, rc, "pack member: key");
    uint8_t body[MEMBER_BODY_LEN];
    body[0] = op;
    memcpy(body + 1, pack->bytes, STEME_ID16_LEN);
    memcpy(body + 1 + STEME_ID16_LEN, agent->bytes, STEME_AGENT_ID_LEN);

    pthread_mutex_t *m = db_stripe(db, pkey, plen);
    pthread_mutex_lock(m);
    int pack_found = 0, member = 0, change = 0;
    if ((rc = key_exists(db, pkey, plen, &pack_found)) == STEME_OK && !pack_found)
        rc = db_fail(db, STEME_E_NOTFOUND, "no trust pack with that id");
    if (rc == STEME_OK && (rc = key_exists(db, mkey, mlen, &member)) == STEME_OK) {
        change = member != (op == OP_ADD);
        if (change) /* a no-op spends no log record */
            rc = db_log_and_apply(db, DB_LOG_PACK_MEMBER, body, sizeof body);
    }
    pthread_mutex_unlock(m);
    if (rc == STEME_OK && changed)
        *changed = change;
    return rc;
}

int steme_packs_add_agent(steme_packs *ps, const steme_id16 *pack, const steme_agent_id *agent,
                          int *changed)
{
    steme_db *db = pdb(ps);
    if (!db)
        return STEME_E_INVALID;
    if (!pack || !agent)
        return db_fail(db, STEME_E_INVALID, "add agent to pack: NULL argument");
    return change_member(db, pack, agent, OP_ADD, changed);
}

int steme_packs_remove_agent(steme_packs *ps, const steme_id16 *pack,
                             const steme_agent_id *agent, int *changed)
{
    steme_db *db = pdb(ps);
    if (!db)
        return STEME_E_INVALID;
    if (!pack || !agent)
        return db_fail(db, STEME_E_INVALID, "remove agent from pack: NULL argument");
    return change_member(db, pack, agent, OP_REMOVE, changed);
}

int steme_packs_is_member(steme_packs *ps, const steme_id16 *pack, const steme_agent_id *agent,
                          int *member)
{
    steme_db *db = pdb(ps);
    if (!db)
        return STEME_E_INVALID;
    if (!pack || !agent || !member)
        return db_fail(db, STEME_E_INVALID, "is member: NULL argument");
    uint8_t key[96];
    size_t klen;
    int rc = trust_pack_member_key(pack, agent, key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "is member: key");
    int found = 0;
    if ((rc = key_exists(db, key, klen, &found)) != STEME_OK)
        return rc;
    *member = found;
    return STEME_OK;
}
