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
 * audit record under it. The charge and the audit record are written by the
 * committer with those of the other queries finishing at the same time
 * (srv_query.h); this file parses, prepares and answers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"
#include "server/srv_jw.h"
#include "server/srv_query.h"
#include "steme/query.h"

/* What a query costs at the Meter: query 5 + 1 lens (docs/query.md). */
#define SRV_QUERY_COST (STEME_QUOTA_COST_QUERY + 1u)

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

/* "key": value members: the answer is mostly these, one line each. */
#define MEMBER_REAL(w, key, v) (SRV_JW_KEY(w, key), srv_jw_real(w, v))
#define MEMBER_U64(w, key, v) (SRV_JW_KEY(w, key), srv_jw_u64(w, v))
#define MEMBER_HEX(w, key, p, n) (SRV_JW_KEY(w, key), srv_jw_hex(w, p, n))

static void value_jw(srv_jw *w, const steme_value *v)
{
    static const char *const types[] = {NULL, "string", "int", "float", "bool", "bytes"};
    srv_jw_open_object(w);
    SRV_JW_KEY(w, "type");
    unsigned t = (unsigned)v->type;
    srv_jw_cstring(w, t < 6 && types[t] ? types[t] : "?");
    SRV_JW_KEY(w, "value");
    switch (v->type) {
    case STEME_VALUE_STRING: srv_jw_string(w, v->v.str.ptr, v->v.str.len); break;
    case STEME_VALUE_INT: srv_jw_i64(w, v->v.i64); break;
    case STEME_VALUE_FLOAT: srv_jw_real(w, v->v.f64); break;
    case STEME_VALUE_BOOL: srv_jw_bool(w, v->v.boolean); break;
    case STEME_VALUE_BYTES: srv_jw_hex(w, v->v.bytes.ptr, v->v.bytes.len); break;
    default: srv_jw_null(w); break;
    }
    srv_jw_close_object(w);
}

static void candidate_jw(srv_jw *w, const steme_query_candidate *c)
{
    const char *kind = steme_source_kind_name(c->source_kind);
    srv_jw_open_object(w);
    MEMBER_HEX(w, "hash", c->hash.bytes, 32);
    SRV_JW_KEY(w, "object");
    value_jw(w, &c->object);
    MEMBER_HEX(w, "agent", c->agent.bytes, 32);
    MEMBER_U64(w, "timestamp", c->timestamp);
    SRV_JW_KEY(w, "source");
    srv_jw_cstring(w, kind ? kind : "?");
    MEMBER_REAL(w, "confidence", c->confidence);
    MEMBER_REAL(w, "effective_confidence", c->effective_confidence);
    MEMBER_REAL(w, "vote_weight", c->vote_weight);
    MEMBER_REAL(w, "trust", c->trust);
    MEMBER_REAL(w, "score", c->score);
    MEMBER_U64(w, "claim", c->claim);
    srv_jw_close_object(w);
}

static void claim_jw(srv_jw *w, const steme_query_claim *c)
{
    srv_jw_open_object(w);
    SRV_JW_KEY(w, "object");
    value_jw(w, &c->object);
    MEMBER_U64(w, "representative", c->representative);
    MEMBER_U64(w, "count", c->count);
    MEMBER_REAL(w, "weight", c->weight);
    MEMBER_REAL(w, "share", c->share);
    MEMBER_REAL(w, "score", c->score);
    srv_jw_close_object(w);
}

static void skeptic_jw(srv_jw *w, const steme_resolution *res)
{
    const char *st = steme_skeptic_status_name(res->status);
    SRV_JW_KEY(w, "status");
    if (st)
        srv_jw_cstring(w, st);
    else
        srv_jw_null(w);
    MEMBER_REAL(w, "conflict", res->conflict);
    SRV_JW_KEY(w, "escalation");
    if (res->escalation == STEME_QUERY_ESC_RAISED) {
        srv_jw_open_object(w);
        SRV_JW_KEY(w, "state");
        srv_jw_cstring(w, "raised");
        MEMBER_HEX(w, "id", res->escalation_id.bytes, 16);
        srv_jw_close_object(w);
    } else if (res->escalation == STEME_QUERY_ESC_ALREADY_OPEN) {
        srv_jw_open_object(w);
        SRV_JW_KEY(w, "state");
        srv_jw_cstring(w, "already_open");
        srv_jw_close_object(w);
    } else {
        srv_jw_null(w);
    }
}

/* The answer's body (docs/api.md), written straight into out->text: this is
 * the hottest answer of the server (see srv_jw.h for why not jansson). */
static void resolution_answer(const steme_resolution *res, srv_resp *out)
{
    srv_jw w;
    srv_jw_init(&w, 512 + 400 * res->n_candidates + 160 * res->n_claims);
    const char *lens = steme_lens_name(res->lens);
    srv_jw_open_object(&w);
    MEMBER_HEX(&w, "query_id", res->query_id.bytes, 16);
    SRV_JW_KEY(&w, "lens");
    srv_jw_cstring(&w, lens ? lens : "?");
    MEMBER_U64(&w, "timestamp", res->timestamp);
    MEMBER_U64(&w, "duration_us", res->duration_us);
    SRV_JW_KEY(&w, "winner");
    if (res->has_winner) {
        srv_jw_open_object(&w);
        MEMBER_HEX(&w, "hash", res->winner.bytes, 32);
        SRV_JW_KEY(&w, "object");
        value_jw(&w, &res->winner_value);
        srv_jw_close_object(&w);
    } else {
        srv_jw_null(&w);
    }
    MEMBER_REAL(&w, "confidence", res->confidence);
    SRV_JW_KEY(&w, "explanation");
    srv_jw_cstring(&w, res->explanation);
    SRV_JW_KEY(&w, "candidates");
    srv_jw_open_array(&w);
    for (size_t i = 0; i < res->n_candidates; i++)
        candidate_jw(&w, &res->candidates[i]);
    srv_jw_close_array(&w);
    SRV_JW_KEY(&w, "claims");
    srv_jw_open_array(&w);
    for (size_t i = 0; i < res->n_claims; i++)
        claim_jw(&w, &res->claims[i]);
    srv_jw_close_array(&w);
    SRV_JW_KEY(&w, "truncated");
    srv_jw_bool(&w, res->truncated);
    MEMBER_U64(&w, "hidden_superseded", res->hidden_superseded);
    MEMBER_U64(&w, "hidden_by_pack", res->hidden_by_pack);
    if (res->lens == STEME_LENS_SKEPTIC)
        skeptic_jw(&w, res);
    srv_jw_close_object(&w);
    size_t len;
    char *text = srv_jw_finish(&w, &len);
    if (!text) {
        srv_json(out, 500, NULL);   /* the generic out-of-memory answer */
        return;
    }
    out->status = 200;
    out->text = text;
    out->text_len = len;
    out->content_type = "application/json";
}

/* The answer of a query whose prepare or commit said rc (not STEME_OK). */
/* msg: the failure's message if it was made on another thread, else NULL
 * (then this thread's error slot has it). */
static void query_failed(srv *s, const steme_query_request *req, int rc,
                         const steme_resolution *res, const char *msg, srv_resp *out)
{
    if (rc == STEME_E_QUOTA && !res->quota_allowed) {
        atomic_fetch_add(&s->metrics.quota_refused, 1);
        srv_hint_note(s->hints, &req->agent, res->quota_reset_at, res->quota_remaining);
        srv_quota_refused(out, res->quota_limit, res->quota_remaining, res->quota_reset_at);
    } else if (msg) {
        srv_error_status(out, rc, "query", msg);
    } else {
        srv_error_db(out, s, rc, "query");
    }
}

int srv_query_begin(srv_req *r, srv_resp *out, srv_qjob *job)
{
    memset(job, 0, sizeof *job);
    job->conn = r->conn;
    if (!srv_auth_reader(r, out))
        return 0;
    steme_query_request_init(&job->req);
    if (!parse_request(r, out, &job->req))
        return 0;
    job->req.now_ms = srv_now_ms();
    /* the agent's last charge left enough: only the charge's own check */
    job->req.skip_meter_precheck =
        srv_hint_can_pay(r->s->hints, &job->req.agent, job->req.now_ms, SRV_QUERY_COST);
    int rc = steme_query_prepare(r->s->db, &job->req, &job->res);
    if (rc != STEME_OK) {
        query_failed(r->s, &job->req, rc, &job->res, NULL, out);
        steme_resolution_free(&job->res);
        return 0;
    }
    return 1;
}

void srv_query_end(srv *s, srv_qjob *job, srv_resp *out)
{
    steme_resolution *res = &job->res;
    int rc = job->rc;
    if (rc == STEME_OK) {
        srv_hint_note(s->hints, &job->req.agent, res->quota_reset_at, res->quota_remaining);
        rc = steme_query_finish(s->db, &job->req, res);
    }
    if (rc != STEME_OK) {
        query_failed(s, &job->req, rc, res, job->msg, out);
    } else {
        atomic_fetch_add(&s->metrics.queries, 1);
        uint64_t now = srv_now_ms();
        resolution_answer(res, out);
        srv_header_u64(out, "X-Quota-Remaining", res->quota_remaining);
        srv_header_u64(out, "X-Quota-Reset",
                       res->quota_reset_at > now ? (res->quota_reset_at - now + 999) / 1000 : 0);
    }
    steme_resolution_free(res);
}

/* The route table's handler: the same query, committed by this worker
 * alone (srv_http.c sends queries through the committer instead). */
void srv_h_query(srv_req *r, srv_resp *out)
{
    srv_qjob job;
    if (!srv_query_begin(r, out, &job))
        return;
    const steme_query_request *req = &job.req;
    steme_resolution *res = &job.res;
    job.rc = STEME_E_INTERNAL;
    int rc = steme_query_commit_many(r->s->db, 1, &req, &res, &job.rc);
    if (rc != STEME_OK && job.rc == STEME_OK)
        job.rc = rc;
    if (job.rc != STEME_OK)
        snprintf(job.msg, sizeof job.msg, "%s", steme_db_errmsg(r->s->db));
    srv_query_end(r->s, &job, out);
}
