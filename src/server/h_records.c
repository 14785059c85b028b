/*
 * h_records.c - assertions and votes over HTTP:
 *   POST /v1/assertions, GET /v1/assertions/{hash},
 *   POST /v1/votes,      GET /v1/assertions/{hash}/votes.
 *
 * Order of checks on a write, so that a refused request changes nothing
 * and costs nothing: signature over the body (401, done by the caller),
 * JSON shape (400), record validation and its own signature (400/401),
 * body agent == X-Agent-Id (403), then the Meter (429), then the durable
 * write; the 2xx is sent only after the write returned (WAL synced).
 */
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"
#include "steme/votes.h"

void srv_h_assert_post(srv_req *r, srv_resp *out)
{
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    steme_assertion a;
    uint8_t *scratch = NULL;
    char why[256];
    steme_error e;
    if (!srv_assertion_from_json(obj, &a, &scratch, why, sizeof why)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "assertion: %s", why);
        goto done;
    }
    if (memcmp(a.agent.bytes, r->agent.bytes, sizeof a.agent.bytes) != 0) {
        srv_error(out, 403, "HTTP_FORBIDDEN",
                  "the assertion's \"agent\" must be the signer (X-Agent-Id)");
        goto done;
    }
    /* Its own "signature" is verified once, by steme_db_put_assertion (401
     * STEME_E_BAD_SIGNATURE), as a vote's is (srv_h_votes_post). */
    int rc = steme_assertion_validate(&a, &e);
    if (rc != STEME_OK) {
        srv_error_status(out, rc, "assertion", e.message);
        goto done;
    }
    if (!srv_charge(r, out, STEME_QUOTA_ASSERT))
        goto done;
    steme_hash h;
    int created = 0;
    rc = steme_db_put_assertion(r->s->db, &a, &h, &created);
    if (rc != STEME_OK) {
        srv_error_db(out, r->s, rc, "storing the assertion");
        goto done;
    }
    if (created)
        atomic_fetch_add(&r->s->metrics.assertions_created, 1);
    srv_json(out, created ? 201 : 200,
             json_pack("{s:o,s:b,s:b}", "hash", srv_hex_json(h.bytes, 32), "created", created,
                       "signed", (int)a.has_signature));
done:
    free(scratch);
    json_decref(obj);
}

static int parse_hash_param(srv_resp *out, const char *p, steme_hash *h)
{
    if (srv_hex_parse(p, h->bytes, sizeof h->bytes))
        return 1;
    srv_error(out, 400, "HTTP_BAD_PARAM", "an assertion hash is 64 hex digits");
    return 0;
}

void srv_h_assert_get(srv_req *r, srv_resp *out)
{
    steme_hash h;
    if (!parse_hash_param(out, r->params[0], &h))
        return;
    steme_buf buf = STEME_BUF_INIT;
    steme_assertion a;
    int rc = steme_db_get_assertion(r->s->db, &h, &buf, &a);
    if (rc != STEME_OK) {
        srv_error_db(out, r->s, rc, "reading the assertion");
    } else {
        json_t *j = srv_assertion_to_json(&h, &a);
        if (j && a.has_signature) {
            steme_error e;
            int ok = steme_assertion_verify(&a, &e) == STEME_OK;
            json_object_set_new(j, "signature_status", json_string(ok ? "valid" : "INVALID"));
        } else if (j) {
            json_object_set_new(j, "signature_status", json_string("unsigned"));
        }
        srv_json(out, 200, j);
    }
    steme_buf_free(&buf);
}

void srv_h_votes_post(srv_req *r, srv_resp *out)
{
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    steme_vote v;
    char why[256];
    steme_error e;
    if (!srv_vote_from_json(obj, &r->agent, &v, why, sizeof why)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "vote: %s", why);
        goto done;
    }
    if (memcmp(v.voter.bytes, r->agent.bytes, sizeof v.voter.bytes) != 0) {
        srv_error(out, 403, "HTTP_FORBIDDEN", "the vote's \"voter\" must be the signer (X-Agent-Id)");
        goto done;
    }
    /* A vote's own "signature" (over its canonical form) is verified once,
     * by steme_votes_put below (401 STEME_E_BAD_SIGNATURE): Ed25519 is the
     * costliest step of a vote, and the request's X-Signature was verified
     * already. */
    int rc = steme_vote_validate(&v, &e);
    if (rc != STEME_OK) {
        srv_error_status(out, rc, "vote", e.message);
        goto done;
    }
    if (!srv_charge(r, out, STEME_QUOTA_VOTE))
        goto done;
    steme_votes *vs = steme_db_votes(r->s->db);
    steme_hash vh;
    rc = steme_votes_put(vs, &v, &vh);
    if (rc != STEME_OK) {
        srv_error_db(out, r->s, rc, "casting the vote");
        goto done;
    }
    atomic_fetch_add(&r->s->metrics.votes_cast, 1);
    uint64_t count = 0;
    double weight = 0;
    if (steme_votes_count(vs, &v.assertion, &count) != STEME_OK ||
        steme_votes_weight(vs, &v.assertion, &weight) != STEME_OK) {
        count = 0;   /* the vote is durable; totals are a courtesy */
        weight = 0;
    }
    srv_json(out, 200,
             json_pack("{s:o,s:o,s:o,s:f,s:{s:I,s:f}}", "vote_hash", srv_hex_json(vh.bytes, 32),
                       "assertion", srv_hex_json(v.assertion.bytes, 32), "voter",
                       srv_hex_json(v.voter.bytes, 32), "weight", v.weight, "totals", "count",
                       (json_int_t)count, "weight", weight));
done:
    json_decref(obj);
}

typedef struct vote_list {
    json_t *arr;
    steme_agent_id last;
    int failed;
} vote_list;

static int add_vote(void *ctx, const steme_vote *v)
{
    vote_list *l = ctx;
    json_t *j = srv_vote_to_json(v);
    if (!j || json_array_append_new(l->arr, j) != 0) {
        l->failed = 1;
        return 1;
    }
    l->last = v->voter;
    return 0;
}

void srv_h_votes_get(srv_req *r, srv_resp *out)
{
    steme_hash h;
    size_t limit;
    if (!parse_hash_param(out, r->params[0], &h) || !srv_arg_limit(r, out, 1000, 10000, &limit))
        return;
    steme_vote_cursor cur;
    memset(&cur, 0, sizeof cur);
    const char *after = srv_arg(r, "after");
    if (after) {
        if (!srv_hex_parse(after, cur.voter.bytes, sizeof cur.voter.bytes)) {
            srv_error(out, 400, "HTTP_BAD_PARAM", "after must be a voter id (64 hex digits)");
            return;
        }
        cur.started = 1;
    }
    steme_votes *vs = steme_db_votes(r->s->db);
    uint64_t count;
    double weight;
    int rc = steme_votes_count(vs, &h, &count);
    if (rc == STEME_OK)
        rc = steme_votes_weight(vs, &h, &weight);
    if (rc != STEME_OK) {
        srv_error_db(out, r->s, rc, "reading the vote totals");
        return;
    }
    vote_list l = {json_array(), {{0}}, 0};
    if (!l.arr) {
        srv_json(out, 500, NULL);
        return;
    }
    rc = steme_votes_list(vs, &h, limit, &cur, add_vote, &l);
    if (rc != STEME_OK || l.failed) {
        json_decref(l.arr);
        if (rc != STEME_OK)
            srv_error_db(out, r->s, rc, "listing the votes");
        else
            srv_json(out, 500, NULL);
        return;
    }
    json_t *next = json_array_size(l.arr) == limit ? srv_hex_json(l.last.bytes, 32) : json_null();
    srv_json(out, 200,
             json_pack("{s:o,s:I,s:f,s:o,s:o}", "assertion", srv_hex_json(h.bytes, 32), "count",
                       (json_int_t)count, "weight", weight, "votes", l.arr, "next", next));
}
