/*
 * srv_openapi.c - GET /v1/openapi.json: an OpenAPI 3.0 description of every
 * route, generated from one table of operations (so a route added to the
 * server and to this table cannot disagree on its parameters) plus the
 * shared schemas, written once as JSON text below. docs/api.md is the prose
 * version of the same contract.
 */
#include <stdio.h>
#include <string.h>

#include "server/srv_int.h"

typedef struct op {
    const char *path, *method, *summary;
    int signed_write;          /* needs X-Agent-Id + X-Signature */
    int reader;                /* needs X-Agent-Id (charged, audited) */
    const char *params;        /* "name:in:type:req,..." (in = path|query) */
    const char *body;          /* request schema name or NULL */
    const char *resp;          /* 2xx schema name or NULL (text) */
    int code;                  /* 2xx status */
} op;

static const op ops[] = {
    {"/v1/assertions", "post", "Store an assertion (idempotent by content hash)", 1, 0, "",
     "AssertionIn", "AssertionStored", 201},
    {"/v1/assertions/{hash}", "get", "Read an assertion", 0, 0, "hash:path:string:1", NULL,
     "Assertion", 200},
    {"/v1/assertions/{hash}/votes", "get", "Standing votes on an assertion, by voter id", 0, 0,
     "hash:path:string:1,limit:query:integer:0,after:query:string:0", NULL, "VoteList", 200},
    {"/v1/votes", "post", "Cast (or replace) the signer's vote", 1, 0, "", "VoteIn", "VoteCast",
     200},
    {"/v1/query", "get", "Resolve (subject, predicate) with a lens (charged, audited)", 0, 1,
     "subject:query:string:1,predicate:query:string:1,lens:query:string:0,"
     "as_of:query:integer:0,pack:query:string:0,include_superseded:query:boolean:0,"
     "decay_half_life:query:number:0,limit:query:integer:0",
     NULL, "Resolution", 200},
    {"/v1/trust/{agent}", "get", "An agent's TrustRank", 0, 0, "agent:path:string:1", NULL,
     "TrustRank", 200},
    {"/v1/gold", "post", "Set the gold standard of (subject, predicate)", 1, 0, "", "GoldIn",
     "Gold", 200},
    {"/v1/gold", "get", "Read a gold standard", 0, 0,
     "subject:query:string:1,predicate:query:string:1", NULL, "Gold", 200},
    {"/v1/packs", "post", "Create (or, as its maintainer, update) a trust pack", 1, 0, "",
     "PackIn", "Pack", 201},
    {"/v1/packs", "get", "List trust packs", 0, 0, "limit:query:integer:0,after:query:string:0",
     NULL, "PackList", 200},
    {"/v1/packs/{id}/members", "post", "Add / remove members (maintainer only)", 1, 0,
     "id:path:string:1", "MembersIn", "MembersChanged", 200},
    {"/v1/packs/{id}/members", "get", "List a pack's members", 0, 0,
     "id:path:string:1,limit:query:integer:0,after:query:string:0", NULL, "MemberList", 200},
    {"/v1/audit", "get", "Audit record by query_id, or an agent's records in a time range", 0, 0,
     "query_id:query:string:0,agent:query:string:0,from:query:integer:0,to:query:integer:0,"
     "limit:query:integer:0,after:query:string:0",
     NULL, "AuditAnswer", 200},
    {"/v1/escalations", "get", "List escalations by status", 0, 0,
     "status:query:string:0,limit:query:integer:0", NULL, "EscalationList", 200},
    {"/v1/escalations/{id}/resolve", "post", "Resolve an open escalation", 1, 0,
     "id:path:string:1", "ResolveIn", "Escalation", 200},
    {"/v1/supersede", "post", "Supersede one of the signer's assertions", 1, 0, "",
     "SupersedeIn", "Superseded", 201},
    {"/v1/vectors", "post", "Index one of the signer's assertions under an embedding (the "
     "first add fixes dimension and metric; re-adding replaces)", 1, 0, "", "VectorIn",
     "VectorStored", 201},
    {"/v1/vectors/search", "post", "The k assertions whose embeddings are nearest (HNSW)", 0, 0,
     "", "VectorQuery", "VectorHits", 200},
    {"/v1/visual", "post", "Index one of the signer's assertions under a 64-bit perceptual hash",
     1, 0, "", "VisualIn", "VisualStored", 201},
    {"/v1/visual/search", "post", "Near duplicates by Hamming distance: within radius, or the k "
     "nearest", 0, 0, "", "VisualQuery", "VisualHits", 200},
    {"/v1/health", "get", "Liveness", 0, 0, "", NULL, "Health", 200},
    {"/v1/metrics", "get", "Prometheus metrics (text/plain; version=0.0.4)", 0, 0, "", NULL,
     NULL, 200},
    {"/v1/openapi.json", "get", "This document", 0, 0, "", NULL, NULL, 200},
};

/* Shared schemas (components.schemas), as JSON text. */
static const char schemas[] =
    "{"
    "\"Error\":{\"type\":\"object\",\"required\":[\"error\"],\"properties\":{\"error\":{"
    "\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\",\"example\":"
    "\"HTTP_UNAUTHORIZED\"},\"message\":{\"type\":\"string\"}}}}},"
    "\"Hex32\":{\"type\":\"string\",\"pattern\":\"^[0-9a-f]{64}$\"},"
    "\"Value\":{\"description\":\"string, integer, number, boolean, or {type,value} with type "
    "string|int|float|bool|bytes (bytes as hex)\",\"oneOf\":[{\"type\":\"string\"},{\"type\":"
    "\"integer\"},{\"type\":\"number\"},{\"type\":\"boolean\"},{\"type\":\"object\","
    "\"properties\":{\"type\":{\"type\":\"string\"},\"value\":{}}}]},"
    "\"AssertionIn\":{\"type\":\"object\",\"required\":[\"subject\",\"predicate\",\"object\","
    "\"confidence\",\"agent\"],\"additionalProperties\":false,\"properties\":{\"subject\":{"
    "\"type\":\"string\"},\"predicate\":{\"type\":\"string\"},\"object\":{\"$ref\":"
    "\"#/components/schemas/Value\"},\"confidence\":{\"type\":\"number\",\"minimum\":0,"
    "\"maximum\":1},\"source\":{\"description\":\"kind name or {kind,ref}; default agent\"},"
    "\"agent\":{\"$ref\":\"#/components/schemas/Hex32\"},\"timestamp\":{\"type\":\"integer\","
    "\"description\":\"Unix ms; default now\"},\"epoch\":{\"type\":\"integer\"},\"embedding\":"
    "{\"$ref\":\"#/components/schemas/Hex32\"},\"phash\":{\"type\":\"string\",\"pattern\":"
    "\"^[0-9a-f]{16}$\"},\"signature\":{\"type\":\"string\",\"description\":\"optional record "
    "signature (128 hex) over the canonical encoding\"}}},"
    "\"Assertion\":{\"type\":\"object\",\"description\":\"AssertionIn's fields with the "
    "stored timestamp, plus hash and signature_status (valid|unsigned|INVALID)\"},"
    "\"AssertionStored\":{\"type\":\"object\",\"properties\":{\"hash\":{\"$ref\":"
    "\"#/components/schemas/Hex32\"},\"created\":{\"type\":\"boolean\"},\"signed\":{\"type\":"
    "\"boolean\"}}},"
    "\"VoteIn\":{\"type\":\"object\",\"required\":[\"assertion\",\"weight\"],"
    "\"additionalProperties\":false,\"properties\":{\"assertion\":{\"$ref\":"
    "\"#/components/schemas/Hex32\"},\"voter\":{\"$ref\":\"#/components/schemas/Hex32\"},"
    "\"weight\":{\"type\":\"number\",\"minimum\":-1,\"maximum\":1},\"timestamp\":{\"type\":"
    "\"integer\"},\"signature\":{\"type\":\"string\"}}},"
    "\"VoteCast\":{\"type\":\"object\",\"properties\":{\"vote_hash\":{},\"assertion\":{},"
    "\"voter\":{},\"weight\":{\"type\":\"number\"},\"totals\":{\"type\":\"object\","
    "\"properties\":{\"count\":{\"type\":\"integer\"},\"weight\":{\"type\":\"number\"}}}}},"
    "\"VoteList\":{\"type\":\"object\",\"properties\":{\"assertion\":{},\"count\":{\"type\":"
    "\"integer\"},\"weight\":{\"type\":\"number\"},\"votes\":{\"type\":\"array\"},\"next\":{"
    "\"description\":\"voter id to pass as after, or null\"}}},"
    "\"Resolution\":{\"type\":\"object\",\"properties\":{\"query_id\":{},\"lens\":{},"
    "\"winner\":{\"description\":\"{hash,object} or null\"},\"confidence\":{\"type\":"
    "\"number\"},\"explanation\":{\"type\":\"string\"},\"candidates\":{\"type\":\"array\"},"
    "\"claims\":{\"type\":\"array\"},\"status\":{\"description\":\"skeptic only\"},"
    "\"conflict\":{\"type\":\"number\"},\"escalation\":{}}},"
    "\"TrustRank\":{\"type\":\"object\",\"properties\":{\"agent\":{},\"score\":{\"type\":"
    "\"number\"},\"last_updated\":{},\"assertions_count\":{},\"accuracy_count\":{},"
    "\"default\":{\"type\":\"boolean\"}}},"
    "\"GoldIn\":{\"type\":\"object\",\"required\":[\"subject\",\"predicate\",\"expected\"],"
    "\"properties\":{\"subject\":{},\"predicate\":{},\"expected\":{\"$ref\":"
    "\"#/components/schemas/Value\"},\"assertion\":{\"$ref\":\"#/components/schemas/Hex32\"}}},"
    "\"Gold\":{\"type\":\"object\"},"
    "\"PackIn\":{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{},"
    "\"description\":{},\"id\":{\"type\":\"string\",\"pattern\":\"^[0-9a-f]{32}$\"}}},"
    "\"Pack\":{\"type\":\"object\"},\"PackList\":{\"type\":\"object\"},"
    "\"MembersIn\":{\"type\":\"object\",\"properties\":{\"add\":{\"type\":\"array\"},"
    "\"remove\":{\"type\":\"array\"}}},"
    "\"MembersChanged\":{\"type\":\"object\"},\"MemberList\":{\"type\":\"object\"},"
    "\"AuditAnswer\":{\"type\":\"object\"},\"EscalationList\":{\"type\":\"object\"},"
    "\"Escalation\":{\"type\":\"object\"},"
    "\"ResolveIn\":{\"type\":\"object\",\"properties\":{\"note\":{\"type\":\"string\"}}},"
    "\"SupersedeIn\":{\"type\":\"object\",\"required\":[\"old\",\"new\"],\"properties\":{"
    "\"old\":{},\"new\":{},\"reason\":{\"type\":\"string\"}}},"
    "\"Superseded\":{\"type\":\"object\"},\"Health\":{\"type\":\"object\"},"
    "\"Vector\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":4096,\"items\":{\"type\":"
    "\"number\"}},"
    "\"Phash\":{\"type\":\"string\",\"pattern\":\"^[0-9a-fA-F]{16}$\"},"
    "\"VectorIn\":{\"type\":\"object\",\"required\":[\"id\",\"vector\"],"
    "\"additionalProperties\":false,\"properties\":{\"id\":{\"$ref\":"
    "\"#/components/schemas/Hex32\"},\"vector\":{\"$ref\":\"#/components/schemas/Vector\"},"
    "\"metric\":{\"type\":\"string\",\"enum\":[\"l2\",\"cosine\",\"ip\"],\"description\":"
    "\"used by the first add (default cosine); later it must match\"}}},"
    "\"VectorStored\":{\"type\":\"object\",\"description\":\"201 new, 200 replaced\","
    "\"properties\":{\"id\":{},\"dim\":{\"type\":\"integer\"},\"metric\":{\"type\":"
    "\"string\"},\"replaced\":{\"type\":\"boolean\"}}},"
    "\"VectorQuery\":{\"type\":\"object\",\"required\":[\"vector\"],"
    "\"additionalProperties\":false,\"properties\":{\"vector\":{\"$ref\":"
    "\"#/components/schemas/Vector\"},\"k\":{\"type\":\"integer\",\"minimum\":1,"
    "\"maximum\":1000,\"default\":10},\"ef\":{\"type\":\"integer\",\"minimum\":0,"
    "\"maximum\":65536,\"description\":\"candidate list size; 0 or absent: the index's\"}}},"
    "\"VectorHits\":{\"type\":\"object\",\"properties\":{\"hits\":{\"type\":\"array\","
    "\"items\":{\"type\":\"object\",\"properties\":{\"id\":{\"$ref\":"
    "\"#/components/schemas/Hex32\"},\"distance\":{\"type\":\"number\"}}}},\"dim\":{"
    "\"description\":\"integer, or null while there is no index\"},\"metric\":{}}},"
    "\"VisualIn\":{\"type\":\"object\",\"required\":[\"id\",\"phash\"],"
    "\"additionalProperties\":false,\"properties\":{\"id\":{\"$ref\":"
    "\"#/components/schemas/Hex32\"},\"phash\":{\"$ref\":\"#/components/schemas/Phash\"}}},"
    "\"VisualStored\":{\"type\":\"object\",\"description\":\"201 added, 200 already there\","
    "\"properties\":{\"id\":{},\"phash\":{},\"added\":{\"type\":\"boolean\"}}},"
    "\"VisualQuery\":{\"type\":\"object\",\"required\":[\"phash\"],"
    "\"additionalProperties\":false,\"description\":\"radius (+ limit) or k, not both\","
    "\"properties\":{\"phash\":{\"$ref\":\"#/components/schemas/Phash\"},\"radius\":{"
    "\"type\":\"integer\",\"minimum\":0,\"maximum\":64,\"default\":10},\"limit\":{"
    "\"type\":\"integer\",\"minimum\":1,\"maximum\":10000,\"default\":1000},\"k\":{"
    "\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}}},"
    "\"VisualHits\":{\"type\":\"object\",\"properties\":{\"hits\":{\"type\":\"array\","
    "\"items\":{\"type\":\"object\",\"properties\":{\"id\":{},\"phash\":{},\"distance\":{"
    "\"type\":\"integer\"}}}},\"truncated\":{\"type\":\"boolean\"}}}"
    "}";

static json_t *ref(const char *name)
{
    char buf[96];
    snprintf(buf, sizeof buf, "#/components/schemas/%s", name);
    return json_pack("{s:s}", "$ref", buf);
}

static json_t *json_body(const char *schema)
{
    return json_pack("{s:{s:o}}", "application/json", "schema", ref(schema));
}

static json_t *params_of(const op *o)
{
    json_t *arr = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", o->params);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char *f[4] = {p, NULL, NULL, NULL};
        for (int i = 1; i < 4 && f[i - 1]; i++) {
            char *c = strchr(f[i - 1], ':');
            if (c) {
                *c = 0;
                f[i] = c + 1;
            }
        }
        if (!f[3])
            continue;
        json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", f[0], "in", f[1],
                                             "required", f[3][0] == '1', "schema", "type", f[2]));
    }
    if (o->signed_write || o->reader)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", "X-Agent-Id", "in",
                                             "header", "required", 1, "schema", "type", "string"));
    if (o->signed_write)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:s,s:{s:s}}", "name", "X-Signature",
                                             "in", "header", "required", 1, "description",
                                             "Ed25519 signature (hex) of the exact body bytes",
                                             "schema", "type", "string"));
    return arr;
}

static json_t *operation(const op *o)
{
    json_t *resps = json_object();
    char code[8];
    snprintf(code, sizeof code, "%d", o->code);
    json_t *ok = json_pack("{s:s}", "description", "success");
    if (o->resp)
        json_object_set_new(ok, "content", json_body(o->resp));
    json_object_set_new(resps, code, ok);
    static const char *const errs[][2] = {
        {"400", "malformed request (HTTP_BAD_JSON, HTTP_BAD_BODY, HTTP_BAD_PARAM, STEME_E_*)"},
        {"401", "missing or bad X-Agent-Id / X-Signature (HTTP_UNAUTHORIZED)"},
        {"404", "not found"},
        {"413", "body larger than --max-body (HTTP_BODY_TOO_LARGE)"},
        {"429", "The Meter refused (HTTP_QUOTA_EXCEEDED; X-Quota-Limit/Remaining/Reset)"},
        {"503", "shutting down (HTTP_SHUTTING_DOWN)"}};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        json_object_set_new(resps, errs[i][0],
                            json_pack("{s:s,s:o}", "description", errs[i][1], "content",
                                      json_body("Error")));
    }
    json_t *j = json_pack("{s:s,s:o,s:o}", "summary", o->summary, "parameters", params_of(o),
                          "responses", resps);
    if (j && o->body)
        json_object_set_new(j, "requestBody",
                            json_pack("{s:b,s:o}", "required", 1, "content", json_body(o->body)));
    return j;
}

void srv_h_openapi(srv_req *r, srv_resp *out)
{
    json_t *comps = json_loads(schemas, 0, NULL);
    json_t *paths = json_object();
    for (size_t i = 0; paths && i < sizeof ops / sizeof ops[0]; i++) {
        json_t *item = json_object_get(paths, ops[i].path);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, ops[i].path, item);
        }
        json_object_set_new(item, ops[i].method, operation(&ops[i]));
    }
    srv_json(out, 200,
             json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:o}}", "openapi", "3.0.3", "info", "title",
                       "steme HTTP/JSON API", "version", "1", "description",
                       "Writes are signed: X-Agent-Id (hex Ed25519 public key) and X-Signature "
                       "(hex Ed25519 signature of the exact body bytes). See docs/api.md.",
                       "paths", paths, "components", "schemas", comps));
}
