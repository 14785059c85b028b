/*
 * h_trust.c - reputation over HTTP: GET /v1/trust/{agent}, /v1/gold (POST
 * set, GET read), /v1/packs (POST create, GET list) and
 * /v1/packs/{id}/members (POST add/remove, GET list).
 *
 * Authority rules (the library has none; these are the server's, see
 * docs/api.md): a pack's record and members are changed only by its
 * maintainer (the agent that created it); gold standards may be set by any
 * signed agent and carry the setter in set_by.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "server/srv_int.h"
#include "steme/packs.h"
#include "steme/trust.h"

void srv_h_trust_get(srv_req *r, srv_resp *out)
{
    steme_agent_id agent;
    if (!srv_hex_parse(r->params[0], agent.bytes, sizeof agent.bytes)) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "an agent id is 64 hex digits");
        return;
    }
    steme_trust_rank tr;
    int dflt = 0;
    int rc = steme_trust_get(steme_db_trust(r->s->db), &agent, &tr, &dflt);
    if (rc != STEME_OK) {
        srv_error_db(out, r->s, rc, "reading the TrustRank");
        return;
    }
    srv_json(out, 200,
             json_pack("{s:o,s:f,s:I,s:I,s:I,s:b}", "agent", srv_hex_json(agent.bytes, 32),
                       "score", tr.score, "last_updated", (json_int_t)tr.last_updated,
                       "assertions_count", (json_int_t)tr.assertions_count, "accuracy_count",
                       (json_int_t)tr.accuracy_count, "default", dflt));
}

static json_t *gold_json(const steme_gold_standard *g)
{
    return json_pack("{s:o,s:s%,s:s%,s:o,s:I,s:o}", "assertion", srv_hex_json(g->assertion.bytes, 32),
                     "subject", g->subject, g->subject_len, "predicate", g->predicate,
                     g->predicate_len, "expected", srv_value_to_json(&g->expected), "set_at",
                     (json_int_t)g->set_at, "set_by", srv_hex_json(g->set_by.bytes, 32));
}

void srv_h_gold_post(srv_req *r, srv_resp *out)
{
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    steme_gold_standard g;
    memset(&g, 0, sizeof g);
    uint8_t *scratch = NULL;
    char why[256];
    json_t *exp = json_object_get(obj, "expected"), *ah = json_object_get(obj, "assertion");
    size_t known = (json_object_get(obj, "subject") != NULL) +
                   (json_object_get(obj, "predicate") != NULL) + (exp != NULL) + (ah != NULL);
    if (json_object_size(obj) != known) {
        srv_error(out, 400, "HTTP_BAD_BODY",
                  "gold standard: the members are subject, predicate, expected, assertion");
        goto done;
    }
    if (!srv_get_text(obj, "subject", 1, &g.subject, &g.subject_len, why, sizeof why) ||
        !srv_get_text(obj, "predicate", 1, &g.predicate, &g.predicate_len, why, sizeof why)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "gold standard: %s", why);
        goto done;
    }
    if (!exp || !srv_value_from_json(exp, &g.expected, &scratch, why, sizeof why)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "gold standard: %s",
                  exp ? why : "missing member \"expected\"");
        goto done;
    }
    if (ah && (!json_is_string(ah) ||
               !srv_hex_parse(json_string_value(ah), g.assertion.bytes, 32))) {
        srv_error(out, 400, "HTTP_BAD_BODY", "gold standard: \"assertion\" is 64 hex digits");
        goto done;
    }
    g.set_at = srv_now_ms();
    g.set_by = r->agent;
    int rc = steme_gold_set(steme_db_gold(r->s->db), &g);
    if (rc != STEME_OK)
        srv_error_db(out, r->s, rc, "setting the gold standard");
    else
        srv_json(out, 200, gold_json(&g));
done:
    free(scratch);
    json_decref(obj);
}

void srv_h_gold_get(srv_req *r, srv_resp *out)
{
    const char *s = srv_arg(r, "subject"), *p = srv_arg(r, "predicate");
    if (!s || !p) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "subject and predicate are required");
        return;
    }
    steme_buf buf = STEME_BUF_INIT;
    steme_gold_standard g;
    int rc = steme_gold_get(steme_db_gold(r->s->db), s, strlen(s), p, strlen(p), &buf, &g);
    if (rc != STEME_OK)
        srv_error_db(out, r->s, rc, "reading the gold standard");
    else
        srv_json(out, 200, gold_json(&g));
    steme_buf_free(&buf);
}

static json_t *pack_json(const steme_trust_pack *p)
{
    return json_pack("{s:o,s:s%,s:o,s:s%,s:I}", "id", srv_hex_json(p->id.bytes, 16), "name",
                     p->name, p->name_len, "maintainer", srv_hex_json(p->maintainer.bytes, 32),
                     "description", p->description ? p->description : "", p->description_len,
                     "created_at", (json_int_t)p->created_at);
}

/* 1 if the pack exists and r's agent maintains it; else 0 with out filled. */
static int check_maintainer(srv_req *r, srv_resp *out, const steme_id16 *id, int missing_ok,
                            uint64_t *created_at)
{
    steme_buf buf = STEME_BUF_INIT;
    steme_trust_pack p;
    int rc = steme_packs_get(steme_db_packs(r->s->db), id, &buf, &p), ok = 0;
    if (rc == STEME_E_NOTFOUND && missing_ok)
        ok = 1;
    else if (rc != STEME_OK)
        srv_error_db(out, r->s, rc, "reading the pack");
    else if (memcmp(p.maintainer.bytes, r->agent.bytes, 32) != 0)
        srv_error(out, 403, "HTTP_FORBIDDEN", "only the pack's maintainer may change it");
    else {
        ok = 1;
        *created_at = p.created_at;
    }
    steme_buf_free(&buf);
    return ok;
}

void srv_h_packs_post(srv_req *r, srv_resp *out)
{
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    steme_trust_pack p;
    memset(&p, 0, sizeof p);
    char why[256];
    json_t *id = json_object_get(obj, "id");
    size_t known = 1 + (id != NULL) + (json_object_get(obj, "description") != NULL);
    if (json_object_size(obj) != known) {
        srv_error(out, 400, "HTTP_BAD_BODY", "pack: members are name, description, id");
        goto done;
    }
    if (!srv_get_text(obj, "name", 1, &p.name, &p.name_len, why, sizeof why) ||
        !srv_get_text(obj, "description", 0, &p.description, &p.description_len, why,
                      sizeof why)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "pack: %s", why);
        goto done;
    }
    if (id && (!json_is_string(id) || !srv_hex_parse(json_string_value(id), p.id.bytes, 16))) {
        srv_error(out, 400, "HTTP_BAD_BODY", "pack: \"id\" is 32 hex digits");
        goto done;
    }
    if (!id && getrandom(p.id.bytes, sizeof p.id.bytes, 0) != (ssize_t)sizeof p.id.bytes) {
        srv_error(out, 500, "HTTP_INTERNAL", "no random bytes for a pack id");
        goto done;
    }
    p.created_at = srv_now_ms();
    if (id && !check_maintainer(r, out, &p.id, 1, &p.created_at))
        goto done;
    p.maintainer = r->agent;
    int created = 0;
    int rc = steme_packs_put(steme_db_packs(r->s->db), &p, &created);
    if (rc != STEME_OK)
        srv_error_db(out, r->s, rc, "storing the pack");
    else
        srv_json(out, created ? 201 : 200, pack_json(&p));
done:
    json_decref(obj);
}

typedef struct list_ctx {
    json_t *arr;
    int failed;
    uint8_t last[32];
} list_ctx;

static int add_pack(void *ctx, const steme_trust_pack *p)
{
    list_ctx *l = ctx;
    if (json_array_append_new(l->arr, pack_json(p)) != 0)
        return l->failed = 1;
    memcpy(l->last, p->id.bytes, 16);
    return 0;
}

static int add_member(void *ctx, const steme_agent_id *a)
{
    list_ctx *l = ctx;
    if (json_array_append_new(l->arr, srv_hex_json(a->bytes, 32)) != 0)
        return l->failed = 1;
    memcpy(l->last, a->bytes, 32);
    return 0;
}

static void list_done(srv_req *r, srv_resp *out, int rc, list_ctx *l, size_t limit,
                      size_t idlen, const char *key, json_t *extra_id)
{
    if (rc != STEME_OK || l->failed) {
        json_decref(l->arr);
        json_decref(extra_id);
        if (rc != STEME_OK)
            srv_error_db(out, r->s, rc, "listing");
        else
            srv_json(out, 500, NULL);
        return;
    }
    json_t *next = json_array_size(l->arr) == limit ? srv_hex_json(l->last, idlen) : json_null();
    json_t *j = json_pack("{s:o,s:o}", key, l->arr, "next", next);
    if (j && extra_id)
        json_object_set_new(j, "pack", extra_id);
    srv_json(out, 200, j);
}

void srv_h_packs_get(srv_req *r, srv_resp *out)
{
    size_t limit;
    if (!srv_arg_limit(r, out, 1000, 10000, &limit))
        return;
    steme_pack_cursor cur;
    memset(&cur, 0, sizeof cur);
    const char *after = srv_arg(r, "after");
    if (after && !(cur.started = srv_hex_parse(after, cur.last.bytes, 16))) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "after must be a pack id (32 hex digits)");
        return;
    }
    list_ctx l = {json_array(), 0, {0}};
    int rc = steme_packs_list(steme_db_packs(r->s->db), limit, &cur, add_pack, &l, NULL);
    list_done(r, out, rc, &l, limit, 16, "packs", NULL);
}

static int pack_param(srv_req *r, srv_resp *out, steme_id16 *id)
{
    if (srv_hex_parse(r->params[0], id->bytes, 16))
        return 1;
    srv_error(out, 400, "HTTP_BAD_PARAM", "a pack id is 32 hex digits");
    return 0;
}

void srv_h_members_get(srv_req *r, srv_resp *out)
{
    steme_id16 id;
    size_t limit;
    if (!pack_param(r, out, &id) || !srv_arg_limit(r, out, 1000, 10000, &limit))
        return;
    steme_member_cursor cur;
    memset(&cur, 0, sizeof cur);
    const char *after = srv_arg(r, "after");
    if (after && !(cur.started = srv_hex_parse(after, cur.last.bytes, 32))) {
        srv_error(out, 400, "HTTP_BAD_PARAM", "after must be an agent id (64 hex digits)");
        return;
    }
    list_ctx l = {json_array(), 0, {0}};
    int rc = steme_packs_list_members(steme_db_packs(r->s->db), &id, limit, &cur, add_member,
                                      &l, NULL);
    list_done(r, out, rc, &l, limit, 32, "members", srv_hex_json(id.bytes, 16));
}

/* Every element of arr (may be NULL) an agent id? */
static int check_agents(json_t *arr, srv_resp *out, const char *key)
{
    size_t i;
    json_t *v;
    if (!arr)
        return 1;
    if (!json_is_array(arr)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "\"%s\" must be an array of agent ids", key);
        return 0;
    }
    steme_agent_id a;
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || !srv_hex_parse(json_string_value(v), a.bytes, 32)) {
            srv_error(out, 400, "HTTP_BAD_BODY", "\"%s\"[%zu] is not an agent id", key, i);
            return 0;
        }
    }
    return 1;
}

void srv_h_members_post(srv_req *r, srv_resp *out)
{
    steme_id16 id;
    json_t *obj;
    if (!pack_param(r, out, &id) || !srv_body_object(r, out, &obj))
        return;
    json_t *add = json_object_get(obj, "add"), *rem = json_object_get(obj, "remove");
    uint64_t created_at;
    if (json_object_size(obj) != (size_t)((add != NULL) + (rem != NULL))) {
        srv_error(out, 400, "HTTP_BAD_BODY", "members: the members are \"add\" and \"remove\"");
        goto done;
    }
    /* Everything is checked before anything changes. */
    if (!check_agents(add, out, "add") || !check_agents(rem, out, "remove") ||
        !check_maintainer(r, out, &id, 0, &created_at))
        goto done;
    steme_packs *ps = steme_db_packs(r->s->db);
    size_t added = 0, removed = 0, i;
    json_t *v;
    steme_agent_id a;
    int rc = STEME_OK, changed;
    json_array_foreach(add, i, v) {
        srv_hex_parse(json_string_value(v), a.bytes, 32);
        if ((rc = steme_packs_add_agent(ps, &id, &a, &changed)) != STEME_OK)
            break;
        added += (size_t)changed;
    }
    if (rc == STEME_OK)
        json_array_foreach(rem, i, v) {
            srv_hex_parse(json_string_value(v), a.bytes, 32);
            if ((rc = steme_packs_remove_agent(ps, &id, &a, &changed)) != STEME_OK)
                break;
            removed += (size_t)changed;
        }
    if (rc != STEME_OK)
        srv_error_db(out, r->s, rc, "changing the members");
    else
        srv_json(out, 200, json_pack("{s:o,s:I,s:I}", "pack", srv_hex_json(id.bytes, 16), "added",
                                     (json_int_t)added, "removed", (json_int_t)removed));
done:
    json_decref(obj);
}
