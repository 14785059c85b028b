/*
 * h_audit.c - accountability over HTTP: GET /v1/audit, /v1/escalations
 * (GET list, POST /v1/escalations/{id}/resolve), POST /v1/supersede.
 *
 * Supersession rule (the server's, docs/api.md): only the agent that made
 * an assertion may supersede it; the successor may be anyone's.
 */
#include <string.h>

#include "server/srv_int.h"
#include "steme/audit.h"
#include "steme/escalations.h"
#include "steme/supersession.h"

static json_t *audit_json(const steme_query_audit *q)
{
    json_t *cands = json_array();
    for (size_t i = 0; cands && i < q->n_candidates; i++)
        json_array_append_new(cands, srv_hex_json(q->candidates[i].bytes, 32));
    const char *lens = steme_lens_name(q->lens);
    return json_pack("{s:o,s:o,s:I,s:s%,s:s%,s:s,s:o,s:o,s:f,s:I}", "query_id",
                     srv_hex_json(q->query_id.bytes, 16), "agent", srv_hex_json(q->agent.bytes, 32),
                     "timestamp", (json_int_t)q->timestamp, "subject", q->subject, q->subject_len,
                     "predicate", q->predicate, q->predicate_len, "lens", lens ? lens : "?",
                     "candidates", cands, "winner",
                     q->has_winner ? srv_hex_json(q->winner.bytes, 32) : json_null(),
                     "confidence", q->confidence, "duration_us", (json_int_t)q->duration_us);
}

typedef struct audit_list {
    json_t *arr;
    int failed;
    uint64_t ts;
    steme_id16 qid;
} audit_list;

static int add_audit(void *ctx, const steme_query_audit *q)
{
    audit_list *l = ctx;
    if (json_array_append_new(l->arr, audit_json(q)) != 0)
        return l->failed = 1;
    l->ts = q->timestamp;
    l->qid = q->query_id;
    return 0;
}

void srv_h_audit_get(srv_req *r, srv_resp *out)
{
    steme_audit *au = steme_db_audit(r->s->db);
    const char *qid = srv_arg(r, "query_id"), *agent = srv_arg(r, "agent");
    if (qid) {
        steme_id16 id;
        if (!srv_hex_parse(qid, id.bytes, 16)) {
            srv_error(out, 400, "HTTP_BAD_PARAM", "query_id is 32 hex digits");
            return;
        }
        steme_buf buf = STEME_BUF_INIT;
        steme_query_audit q;
        int rc = steme_audit_get(au, &id, &buf, &q);
        if (rc != STEME_OK)
            srv_error_db(out, r->s, rc, "reading the audit record");
        else
            srv_json(out, 200, audit_json(&q));
        steme_buf_free(&buf);
        return;
    }
    steme_agent_id a;
    uint64_t from = 0, to = UINT64_MAX;
    size_t limit;
    const char *fs = srv_arg(r, "from"), *ts = srv_arg(r, "to");
    if (!agent || !srv_hex_parse(agent, a.bytes, 32)) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "give query_id, or agent (64 hex digits) with "
                  "optional from, to (Unix ms)");
        return;
    }
    if ((fs && !srv_parse_u64(fs, &from)) || (ts && !srv_parse_u64(ts, &to))) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "from and to are Unix milliseconds");
        return;
    }
    if (!srv_arg_limit(r, out, 1000, 10000, &limit))
        return;
    /* Pagination: pass the last record's timestamp as from and its query id
     * as after (the listing is oldest first). */
    steme_audit_cursor cur;
    memset(&cur, 0, sizeof cur);
    const char *after = srv_arg(r, "after");
    if (after) {
        if (!srv_hex_parse(after, cur.query_id.bytes, 16)) {
            srv_error(out, 400, "HTTP_BAD_PARAM", "after is a query id (32 hex digits)");
            return;
        }
        cur.started = 1;
        cur.timestamp = from;
    }
    audit_list l = {json_array(), 0, 0, {{0}}};
    int rc = steme_audit_list_agent(au, &a, from, to, limit, &cur, add_audit, &l, NULL);
    if (rc != STEME_OK || l.failed) {
        json_decref(l.arr);
        if (rc != STEME_OK)
            srv_error_db(out, r->s, rc, "listing the audit trail");
        else
            srv_json(out, 500, NULL);
        return;
    }
    json_t *next = json_array_size(l.arr) == limit
                       ? json_pack("{s:I,s:o}", "from", (json_int_t)l.ts, "after",
                                   srv_hex_json(l.qid.bytes, 16))
                       : json_null();
    srv_json(out, 200, json_pack("{s:o,s:o}", "records", l.arr, "next", next));
}

static json_t *esc_json(const steme_escalation *e)
{
    json_t *j = json_pack("{s:o,s:f,s:s%,s:s,s:I,s:I,s:s%}", "id", srv_hex_json(e->id.bytes, 16),
                          "conflict_score", e->conflict_score, "reason",
                          e->reason ? e->reason : "", e->reason_len, "status",
                          e->status == STEME_ESC_OPEN ? "open" : "resolved", "created_at",
                          (json_int_t)e->created_at, "resolved_at", (json_int_t)e->resolved_at,
                          "resolution_note", e->resolution_note ? e->resolution_note : "",
                          e->resolution_note_len);
    if (!j)
        return NULL;
    if (e->target_kind == STEME_ESC_TARGET_ASSERTION)
        json_object_set_new(j, "target", json_pack("{s:s,s:o}", "kind", "assertion", "hash",
                                                   srv_hex_json(e->target_hash.bytes, 32)));
    else
        json_object_set_new(j, "target",
                            json_pack("{s:s,s:s%,s:s%}", "kind", "subject", "subject",
                                      e->subject, e->subject_len, "predicate", e->predicate,
                                      e->predicate_len));
    return j;
}

typedef struct esc_list {
    json_t *arr;
    int failed;
} esc_list;

static int add_esc(void *ctx, const steme_escalation *e)
{
    esc_list *l = ctx;
    if (json_array_append_new(l->arr, esc_json(e)) != 0)
        return l->failed = 1;
    return 0;
}

void srv_h_escalations_get(srv_req *r, srv_resp *out)
{
    const char *st = srv_arg(r, "status");
    steme_escalation_status status = STEME_ESC_OPEN;
    size_t limit;
    if (st && strcmp(st, "open") != 0) {
        if (strcmp(st, "resolved") != 0) {
            srv_error(out, 400, "HTTP_BAD_PARAM", "status is open or resolved");
            return;
        }
        status = STEME_ESC_RESOLVED;
    }
    if (!srv_arg_limit(r, out, 1000, 10000, &limit))
        return;
    steme_escalation_cursor cur;
    memset(&cur, 0, sizeof cur);
    esc_list l = {json_array(), 0};
    int rc = steme_escalation_list(steme_db_escalations(r->s->db), status, limit, &cur, add_esc,
                                   &l, NULL);
    if (rc != STEME_OK || l.failed) {
        json_decref(l.arr);
        if (rc != STEME_OK)
            srv_error_db(out, r->s, rc, "listing escalations");
        else
            srv_json(out, 500, NULL);
        return;
    }
    srv_json(out, 200, json_pack("{s:o}", "escalations", l.arr));
}

void srv_h_escalation_resolve(srv_req *r, srv_resp *out)
{
    steme_id16 id;
    json_t *obj;
    if (!srv_hex_parse(r->params[0], id.bytes, 16)) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "an escalation id is 32 hex digits");
        return;
    }
    if (!srv_body_object(r, out, &obj))
        return;
    const char *note;
    size_t note_len;
    char why[128];
    if (json_object_size(obj) != (json_object_get(obj, "note") != NULL) ||
        !srv_get_text(obj, "note", 0, &note, &note_len, why, sizeof why)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "resolve: the only member is \"note\" (a string)");
        json_decref(obj);
        return;
    }
    steme_escalations *es = steme_db_escalations(r->s->db);
    int rc = steme_escalation_resolve(es, &id, note, note_len, srv_now_ms());
    json_decref(obj);
    if (rc != STEME_OK) {
        srv_error_db(out, r->s, rc, "resolving the escalation");
        return;
    }
    steme_buf buf = STEME_BUF_INIT;
    steme_escalation e;
    rc = steme_escalation_get(es, &id, &buf, &e);
    if (rc != STEME_OK)
        srv_error_db(out, r->s, rc, "reading the escalation");
    else
        srv_json(out, 200, esc_json(&e));
    steme_buf_free(&buf);
}

void srv_h_supersede(srv_req *r, srv_resp *out)
{
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    steme_hash oldh, newh;
    const char *reason, *os, *ns;
    size_t reason_len, ol, nl;
    char why[128];
    size_t known = 2 + (json_object_get(obj, "reason") != NULL);
    if (json_object_size(obj) != known ||
        !srv_get_text(obj, "old", 1, &os, &ol, why, sizeof why) ||
        !srv_get_text(obj, "new", 1, &ns, &nl, why, sizeof why) ||
        !srv_get_text(obj, "reason", 0, &reason, &reason_len, why, sizeof why) ||
        !srv_hex_parse(os, oldh.bytes, 32) || !srv_hex_parse(ns, newh.bytes, 32)) {
        srv_error(out, 400, "HTTP_BAD_BODY",
                  "supersede: members are old, new (assertion hashes) and reason");
        json_decref(obj);
        return;
    }
    steme_buf buf = STEME_BUF_INIT;
    steme_assertion a;
    int rc = steme_db_get_assertion(r->s->db, &oldh, &buf, &a);
    if (rc != STEME_OK)
        srv_error_db(out, r->s, rc, "reading the superseded assertion");
    else if (memcmp(a.agent.bytes, r->agent.bytes, 32) != 0)
        srv_error(out, 403, "HTTP_FORBIDDEN", "only the assertion's own agent may supersede it");
    else if ((rc = steme_supersede(steme_db_supersessions(r->s->db), &oldh, &newh, reason,
                                   reason_len, &r->agent, srv_now_ms())) != STEME_OK)
        srv_error_db(out, r->s, rc, "superseding");
    else
        srv_json(out, 201, json_pack("{s:o,s:o}", "old", srv_hex_json(oldh.bytes, 32), "new",
                                     srv_hex_json(newh.bytes, 32)));
    steme_buf_free(&buf);
    json_decref(obj);
}
