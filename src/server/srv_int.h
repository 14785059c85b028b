/*
 * server/srv_int.h - what the files of `steme serve` share: the server
 * context, one request and its answer, the route table, metrics, and the
 * JSON <-> record helpers. See docs/api.md for the wire contract.
 *
 * Life of a request (srv_http.c): MHD calls the access handler once for the
 * headers, then with the body in pieces (collected up to --max-body), then a
 * last time; on that last call the route is matched (srv_route.c), a signed
 * route checks X-Agent-Id / X-Signature over the exact body bytes
 * (srv_auth.c), and the route's handler fills an srv_resp. Every answer, an
 * error too, is JSON (errors: {"error":{"code":..,"message":..}}), except
 * /v1/metrics (Prometheus text).
 */
#ifndef STEME_SRV_INT_H
#define STEME_SRV_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "steme/db.h"
#include "steme/quota.h"
#include "steme/records.h"
#include "steme/vector.h"
#include "steme/visual.h"

/* ------------------------------------------------------------- routes */

typedef enum srv_route_id {
    SRV_R_ASSERTIONS = 0,     /* /v1/assertions */
    SRV_R_ASSERTION,          /* /v1/assertions/{hash} */
    SRV_R_ASSERTION_VOTES,    /* /v1/assertions/{hash}/votes */
    SRV_R_VOTES,              /* /v1/votes */
    SRV_R_QUERY,              /* /v1/query */
    SRV_R_TRUST,              /* /v1/trust/{agent} */
    SRV_R_GOLD,               /* /v1/gold */
    SRV_R_PACKS,              /* /v1/packs */
    SRV_R_PACK_MEMBERS,       /* /v1/packs/{id}/members */
    SRV_R_AUDIT,              /* /v1/audit */
    SRV_R_ESCALATIONS,        /* /v1/escalations */
    SRV_R_ESCALATION_RESOLVE, /* /v1/escalations/{id}/resolve */
    SRV_R_SUPERSEDE,          /* /v1/supersede */
    SRV_R_VECTORS,            /* /v1/vectors */
    SRV_R_VECTORS_SEARCH,     /* /v1/vectors/search */
    SRV_R_VISUAL,             /* /v1/visual */
    SRV_R_VISUAL_SEARCH,      /* /v1/visual/search */
    SRV_R_HEALTH,             /* /v1/health */
    SRV_R_METRICS,            /* /v1/metrics */
    SRV_R_OPENAPI,            /* /v1/openapi.json */
    SRV_R_UNMATCHED,          /* no route: 404 (a metrics label only) */
    SRV_R_COUNT
} srv_route_id;

/* ------------------------------------------------------------ metrics */

/* Status codes the server answers with; anything else counts as "other". */
#define SRV_STATUS_CODES {200, 201, 400, 401, 403, 404, 405, 409, 413, 429, 500, 501, 503}
#define SRV_NSTATUS 14   /* the 13 above + other */
/* Latency histogram upper bounds, seconds (Prometheus le labels). */
#define SRV_LATENCY_BOUNDS {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5}
#define SRV_NBUCKETS 13  /* the 12 above + Inf */

typedef struct srv_metrics {
    atomic_ullong requests[SRV_R_COUNT][SRV_NSTATUS];
    atomic_ullong latency_bucket[SRV_R_COUNT][SRV_NBUCKETS];  /* not cumulative */
    atomic_ullong latency_sum_us[SRV_R_COUNT];
    atomic_ullong assertions_created, votes_cast, queries, quota_refused, bytes_in;
} srv_metrics;

void srv_metrics_observe(srv_metrics *m, srv_route_id route, int status, uint64_t micros);

/* ------------------------------------------------------------- server */

#define SRV_PATH_MAX 4096

/* The vector index (srv_index.c): NULL until the database has the vector
 * index's record (steme/vector_meta.h). */
typedef struct srv_vector_index {
    _Atomic(steme_vector_store *) store;  /* published with dim/metric set */
    uint32_t dim;                         /* fixed by the first add */
    int metric;                           /* steme_vector_metric */
    pthread_mutex_t create_lock;          /* serialises the first add */
    int lock_ready;
    char dir[SRV_PATH_MAX];               /* DB/vectors */
} srv_vector_index;

/* ------------------------------------------- Meter hints (srv_hint.c) */

/* What the server last learnt of each agent's Meter (see srv_hint.c): used
 * only to skip a query's Meter pre-check, never to charge or refuse. */
typedef struct srv_hints srv_hints;
/* STEME_OK, STEME_E_NOMEM or STEME_E_INTERNAL; *out NULL on failure. */
int srv_hints_new(srv_hints **out);
void srv_hints_free(srv_hints *h);   /* NULL: no-op */
/* After a charge of agent (allowed or not): remaining tokens until reset_at. */
void srv_hint_note(srv_hints *h, const steme_agent_id *agent, uint64_t reset_at,
                   uint64_t remaining);
/* 1 if agent's last charge this hour left at least cost tokens (h NULL: 0). */
int srv_hint_can_pay(srv_hints *h, const steme_agent_id *agent, uint64_t now_ms, uint64_t cost);

/* Charges of signed writes made together (srv_charge.c). */
typedef struct srv_charger srv_charger;
/* STEME_OK, STEME_E_NOMEM or STEME_E_INTERNAL; *out NULL on failure. */
int srv_charger_new(steme_db *db, srv_charger **out);
void srv_charger_free(srv_charger *g);   /* NULL: no-op; no charge may be running */

typedef struct srv {
    steme_db *db;
    const char *db_dir;
    /* Where this node keeps its derived indexes (vectors/, visual/): the
     * database directory by default; NULL for a pg database without
     * --index-dir, and then the index routes answer 503. */
    const char *index_dir;
    size_t max_body;
    unsigned threads;
    uint64_t started_ms;
    atomic_int draining;        /* set on SIGTERM/SIGINT: new requests get 503 */
    atomic_long inflight;       /* requests begun and not yet completed */
    srv_metrics metrics;
    srv_vector_index vec;       /* DB/vectors (shared with `steme similar`) */
    steme_pvisual *visual;      /* DB/visual (shared with `steme visual`) */
    struct srv_committer *committer; /* writes queries' charges + audits (srv_query.h) */
    struct srv_catchup *catchup; /* shared db: index catch-up (srv_catchup.c), else NULL */
    srv_hints *hints;           /* Meter hints (srv_hint.c); NULL: none */
    srv_charger *charger;       /* grouped charges (srv_charge.c); NULL: one by one */
} srv;

/* ------------------------------------------------ indexes (srv_index.c) */

/* Open DB/vectors (if the database has its record, or an old cli.conf to
 * import) and DB/visual (created if needed) as the CLI does. STEME_OK, or the
 * failing status with err filled (STEME_E_BUSY: a CLI command holds an index;
 * STEME_E_CORRUPT: the record, an old cli.conf or an index log is damaged). Call srv_indexes_close even after a failure. */
int srv_indexes_open(srv *s, steme_error *err);
/* Close both (after the HTTP workers stopped: not concurrent with requests). */
void srv_indexes_close(srv *s);
/* The vector store, or NULL while there is none (acquire: dim/metric valid). */
steme_vector_store *srv_vectors(srv *s);
/* Create the vector index (record in the database, then the store) unless one appeared
 * meanwhile; the caller then re-reads srv_vectors() and checks its dim. */
int srv_vectors_create(srv *s, uint32_t dim, int metric, steme_error *err);
/* Open the vector store from the database's record unless it is open
 * (the catch-up, for another node's first add). STEME_E_NOTFOUND: no record. */
int srv_vectors_open_db(srv *s, steme_error *err);
/* A handler's add: on a shared database logged for the other nodes first
 * (srv_catchup.c), then applied here; else straight into the index. Return
 * as steme_vector_store_insert / steme_pvisual_insert. */
int srv_index_vector_add(srv *s, steme_vector_store *vs, const steme_hash *id, const float *vec);
int srv_index_visual_add(srv *s, uint64_t phash, const steme_hash *id);
/* "l2" / "cosine" / "ip" <-> steme_vector_metric (0: unknown name). */
const char *srv_metric_name(int metric);
int srv_metric_parse(const char *name);

/* --------------------------------------------------- request, response */

#define SRV_MAX_PARAMS 2
#define SRV_PARAM_MAX 160
#define SRV_MAX_HEADERS 4

typedef struct srv_req {
    srv *s;
    struct MHD_Connection *conn;
    const char *method;                    /* "GET" or "POST" (HEAD is served as GET) */
    const uint8_t *body;                   /* exactly the bytes received */
    size_t body_len;
    char params[SRV_MAX_PARAMS][SRV_PARAM_MAX];  /* {hash}, {id}, ... of the path */
    int has_agent;                         /* signed route: verified X-Agent-Id */
    steme_agent_id agent;
} srv_req;

typedef struct srv_resp {
    int status;
    json_t *json;           /* the body (owned), or NULL with text */
    char *text;             /* malloc'd text body (metrics) */
    size_t text_len;
    const char *content_type;
    int nheaders;
    struct { const char *name; char value[48]; } headers[SRV_MAX_HEADERS];
} srv_resp;

typedef void (*srv_handler)(srv_req *r, srv_resp *out);

/* Answer with body j (taken over; NULL means out of memory -> 500). */
void srv_json(srv_resp *out, int status, json_t *j);
/* {"error":{"code":code,"message":...}} with HTTP status. */
void srv_error(srv_resp *out, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Error from a steme status: HTTP status by family, code = steme_errname. */
void srv_error_status(srv_resp *out, int rc, const char *what, const char *detail);
/* The same, the detail from steme_db_errmsg of this thread. */
void srv_error_db(srv_resp *out, srv *s, int rc, const char *what);
/* Add a response header (value formatted); silently ignored past SRV_MAX_HEADERS. */
void srv_header(srv_resp *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for a decimal number (no printf: on every query's answer). */
void srv_header_u64(srv_resp *out, const char *name, uint64_t v);
/* 429 with the X-Quota-* headers. */
void srv_quota_refused(srv_resp *out, uint64_t limit, uint64_t remaining, uint64_t reset_at);

/* Charge op at the Meter for the request's agent; 1 if allowed (and sets the
 * X-Quota-Remaining/Reset headers), else 0 with out filled (429 or 500). */
int srv_charge(srv_req *r, srv_resp *out, steme_quota_op op);

/* Query-string argument of the request, or NULL. */
const char *srv_arg(srv_req *r, const char *name);
/* Header of the request, or NULL. */
const char *srv_hdr(srv_req *r, const char *name);

/* The request body as a JSON object; 0 with a 400 in out otherwise. */
int srv_body_object(srv_req *r, srv_resp *out, json_t **obj);

/* Unix milliseconds now (CLOCK_REALTIME), and a monotonic microsecond clock. */
uint64_t srv_now_ms(void);
uint64_t srv_mono_us(void);

/* ----------------------------------------------------- route dispatch */

/* Match method + path. On a match returns the handler and fills *route, the
 * path params and *is_write; NULL with *status 404 (no such path) or 405
 * (path known, method not) and *allow listing the methods. */
srv_handler srv_route_match(const char *method, const char *path, srv_route_id *route,
                            char params[SRV_MAX_PARAMS][SRV_PARAM_MAX], int *is_write,
                            int *status, const char **allow);
/* The route's path template ("/v1/assertions/{hash}"), for metrics labels. */
const char *srv_route_name(srv_route_id id);

/* Signed write: checks X-Agent-Id and X-Signature over the body; 1 if good,
 * else 0 with a 401 in out. Sets r->agent, r->has_agent. */
int srv_auth_check(srv_req *r, srv_resp *out);
/* Reads: X-Agent-Id (unsigned) names who asks; 1 if present and valid. */
int srv_auth_reader(srv_req *r, srv_resp *out);

/* ----------------------------------------------------- JSON <-> records */

/* Hex helpers: 1 if s is exactly 2*n hex digits (decoded into out). */
int srv_hex_parse(const char *s, uint8_t *out, size_t n);
/* JSON string of the lowercase hex of n bytes (NULL on OOM). */
json_t *srv_hex_json(const uint8_t *p, size_t n);

/* Typed value <-> JSON (docs/api.md "Values"). from_json: bytes are
 * decoded into *scratch (malloc'd, caller frees); strings point into j. */
int srv_value_from_json(json_t *j, steme_value *out, uint8_t **scratch, char *why, size_t cap);
json_t *srv_value_to_json(const steme_value *v);

/* Assertion / vote bodies (docs/api.md). Text points into obj; *scratch
 * (caller frees) holds decoded bytes. Returns 1, or 0 with why filled. */
int srv_assertion_from_json(json_t *obj, steme_assertion *a, uint8_t **scratch, char *why,
                            size_t cap);
json_t *srv_assertion_to_json(const steme_hash *h, const steme_assertion *a);
int srv_vote_from_json(json_t *obj, const steme_agent_id *dflt_voter, steme_vote *v,
                       char *why, size_t cap);
json_t *srv_vote_to_json(const steme_vote *v);

/* Optional string member: 1 and (ptr,len) if present and a string (or absent
 * and !required: ptr = "", len 0), else 0 with why. */
int srv_get_text(json_t *obj, const char *key, int required, const char **ptr, size_t *len,
                 char *why, size_t cap);
/* A u64 from a decimal string (whole string), 1 on success. */
int srv_parse_u64(const char *s, uint64_t *out);
/* limit query argument: default dflt, capped at max; 0 and a 400 if malformed. */
int srv_arg_limit(srv_req *r, srv_resp *out, size_t dflt, size_t max, size_t *limit);

/* ----------------------------------------------------------- handlers */

void srv_h_assert_post(srv_req *r, srv_resp *out);
void srv_h_assert_get(srv_req *r, srv_resp *out);
void srv_h_votes_post(srv_req *r, srv_resp *out);
void srv_h_votes_get(srv_req *r, srv_resp *out);
void srv_h_query(srv_req *r, srv_resp *out);
void srv_h_trust_get(srv_req *r, srv_resp *out);
void srv_h_gold_post(srv_req *r, srv_resp *out);
void srv_h_gold_get(srv_req *r, srv_resp *out);
void srv_h_packs_post(srv_req *r, srv_resp *out);
void srv_h_packs_get(srv_req *r, srv_resp *out);
void srv_h_members_post(srv_req *r, srv_resp *out);
void srv_h_members_get(srv_req *r, srv_resp *out);
void srv_h_audit_get(srv_req *r, srv_resp *out);
void srv_h_escalations_get(srv_req *r, srv_resp *out);
void srv_h_escalation_resolve(srv_req *r, srv_resp *out);
void srv_h_supersede(srv_req *r, srv_resp *out);
void srv_h_vectors_add(srv_req *r, srv_resp *out);
void srv_h_vectors_search(srv_req *r, srv_resp *out);
void srv_h_visual_add(srv_req *r, srv_resp *out);
void srv_h_visual_search(srv_req *r, srv_resp *out);
void srv_h_health(srv_req *r, srv_resp *out);
void srv_h_metrics(srv_req *r, srv_resp *out);
void srv_h_openapi(srv_req *r, srv_resp *out);

#endif
