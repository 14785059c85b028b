/*
 * h_query.c - GET /v1/query: the read path (steme/query.h) over HTTP.
 *
 *   ?subject=&predicate=      required
 *   &lens=                    recency|consensus|confidence|vote|authority|skeptic
 *                             (default recency)
 *   &as_of=                   Unix ms (default: now, no time filter)
 *   &pack=                    trust pack id (32 hex digits)
 *   &include_superseded=      true|false|1|0 (default false)
 *   &decay_half_life=         milliseconds, > 0 (default: no decay)
 *   &limit=                   most candidates (default and cap: the engine's)
 *
 * The asking agent is X-Agent-Id: the query engine charges it at the Meter
 * (429 with X-Quota-* when refused; nothing is written then) and writes the
 * audit record under it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"
#include "steme/query.h"

static int parse_lens(const char *s, steme_lens *out)
{
    for (int k = STEME_LENS_RECENCY; k <= STEME_LENS_SKEPTIC; k++) {
        const char *n = steme_lens_name((steme_lens)k);
        if (n && strcmp(n, s) == 0) {
            *out = (steme_lens)k;
            return 1;
        }
    }
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = false;
    else
        return 0;
    return 1;
}

/* Fill req from the query string; 0 with a 400 in out when malformed. */
static int parse_request(srv_req *r, srv_resp *out, steme_query_request *req)
{
    const char *subject = srv_arg(r, "subject"), *predicate = srv_arg(r, "predicate");
    const char *v;
    if (!subject || !predicate) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "subject and predicate are required");
        return 0;
    }
    req->subject = subject;
    req->subject_len = strlen(subject);
    req->predicate = predicate;
    req->predicate_len = strlen(predicate);
    req->lens = STEME_LENS_RECENCY;
    if ((v = srv_arg(r, "lens")) && !parse_lens(v, &req->lens)) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "lens is one of recency, consensus, confidence, "
                  "vote, authority, skeptic");
        return 0;
    }
    if ((v = srv_arg(r, "as_of")) && !srv_parse_u64(v, &req->as_of)) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "as_of is Unix milliseconds");
        return 0;
    }
    if ((v = srv_arg(r, "pack"))) {
        if (!srv_hex_parse(v, req->pack.bytes, sizeof req->pack.bytes)) {
            srv_error(out, 400, "HTTP_BAD_PARAM", "pack is a pack id (32 hex digits)");
            return 0;
        }
        req->has_pack = true;
    }
    if ((v = srv_arg(r, "include_superseded")) && !parse_bool(v, &req->include_superseded)) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "include_superseded is true or false");
        return 0;
    }
    if ((v = srv_arg(r, "decay_half_life"))) {
        char *end;
        double hl = strtod(v, &end);
        if (end == v || *end || !isfinite(hl) || hl <= 0) {
            srv_error(out, 400, "HTTP_BAD_PARAM", "decay_half_life is milliseconds, > 0");
            return 0;
        }
        req->decay_half_life_ms = hl;
    }
    size_t limit = STEME_QUERY_CANDIDATES_MAX;
    if (!srv_arg_limit(r, out, limit, limit, &limit))
        return 0;
    req->limit = limit;
    req->agent = r->agent;
    return 1;
}

static json_t *candidate_json(const steme_query_candidate *c)
{
    const char *kind = steme_source_kind_name(c->source_kind);
    return json_pack("{s:o,s:o,s:o,s:I,s:s,s:f,s:f,s:f,s:f,s:f,s:I}", "hash",
                     srv_hex_json(c->hash.bytes, 32), "object", srv_value_to_json(&c->object),
                     "agent", srv_hex_json(c->agent.bytes, 32), "timestamp",
                     (json_int_t)c->timestamp, "source", kind ? kind : "?", "confidence",
                     c->confidence, "effective_confidence", c->effective_confidence,
                     "vote_weight", c->vote_weight, "trust", c->trust, "score", c->score,
                     "claim", (json_int_t)c->claim);
}

static json_t *claim_json(const steme_query_claim *c)
{
    return json_pack("{s:o,s:I,s:I,s:f,s:f,s:f}", "object", srv_value_to_json(&c->object),
                     "representative", (json_int_t)c->representative, "count",
                     (json_int_t)c->count, "weight", c->weight, "share", c->share, "score",
                     c->score);
}

static json_t *resolution_json(const steme_resolution *res)
{
    json_t *cands = json_array(), *claims = json_array();
    for (size_t i = 0; cands && i < res->n_candidates; i++)
        json_array_append_new(cands, candidate_json(&res->candidates[i]));
    for (size_t i = 0; claims && i < res->n_claims; i++)
        json_array_append_new(claims, claim_json(&res->claims[i]));
    json_t *winner = res->has_winner
                         ? json_pack("{s:o,s:o}", "hash", srv_hex_json(res->winner.bytes, 32),
                                     "object", srv_value_to_json(&res->winner_value))
                         : json_null();
    const char *lens = steme_lens_name(res->lens);
    json_t *j = json_pack("{s:o,s:s,s:I,s:I,s:o,s:f,s:s,s:o,s:o,s:b,s:I,s:I}", "query_id",
                          srv_hex_json(res->query_id.bytes, 16), "lens", lens ? lens : "?",
                          "timestamp", (json_int_t)res->timestamp, "duration_us",
                          (json_int_t)res->duration_us, "winner", winner, "confidence",
                          res->confidence, "explanation", res->explanation, "candidates",
                          cands, "claims", claims, "truncated", (int)res->truncated,
                          "hidden_superseded", (json_int_t)res->hidden_superseded,
                          "hidden_by_pack", (json_int_t)res->hidden_by_pack);
    if (!j || res->lens != STEME_LENS_SKEPTIC)
        return j;
    const char *st = steme_skeptic_status_name(res->status);
    json_object_set_new(j, "status", st ? json_string(st) : json_null());
    json_object_set_new(j, "conflict", json_real(res->conflict));
    if (res->escalation == STEME_QUERY_ESC_RAISED)
        json_object_set_new(j, "escalation",
                            json_pack("{s:s,s:o}", "state", "raised", "id",
                                      srv_hex_json(res->escalation_id.bytes, 16)));
    else if (res->escalation == STEME_QUERY_ESC_ALREADY_OPEN)
        json_object_set_new(j, "escalation", json_pack("{s:s}", "state", "already_open"));
    else
        json_object_set_new(j, "escalation", json_null());
    return j;
}

void srv_h_query(srv_req *r, srv_resp *out)
{
    if (!srv_auth_reader(r, out))
        return;
    steme_query_request req;
    steme_query_request_init(&req);
    if (!parse_request(r, out, &req))
        return;
    req.now_ms = srv_now_ms();
    steme_resolution res;
    memset(&res, 0, sizeof res);
    int rc = steme_query(r->s->db, &req, &res);
    if (rc == STEME_E_QUOTA && !res.quota_allowed) {
        atomic_fetch_add(&r->s->metrics.quota_refused, 1);
        srv_quota_refused(out, res.quota_limit, res.quota_remaining, res.quota_reset_at);
    } else if (rc != STEME_OK) {
        srv_error_db(out, r->s, rc, "query");
    } else {
        atomic_fetch_add(&r->s->metrics.queries, 1);
        uint64_t now = srv_now_ms();
        srv_json(out, 200, resolution_json(&res));
        srv_header(out, "X-Quota-Remaining", "%llu", (unsigned long long)res.quota_remaining);
        srv_header(out, "X-Quota-Reset", "%llu",
                   (unsigned long long)(res.quota_reset_at > now
                                            ? (res.quota_reset_at - now + 999) / 1000 : 0));
    }
    steme_resolution_free(&res);
}
