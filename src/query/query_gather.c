/*
 * query_gather.c - the candidates of a query: the subject+predicate index
 * read newest first, filtered (trust pack, supersession), capped at the
 * limit, their values copied into the resolution's arena, decayed, and the
 * inputs of the vote and authority lenses read from their stores.
 *
 * as_of is not a filter on what is read but where the scan starts: the
 * listing cursor is placed just after (as_of + 1, hash 00..00) in newest-
 * first order, so the first entry read already has timestamp <= as_of and
 * newer assertions cost nothing, however many there are.
 *
 * The listing hands each assertion to a callback outside of any engine
 * scan (assertion_list.c), so the callback may read other stores.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "steme/packs.h"
#include "steme/supersession.h"
#include "steme/trust.h"
#include "steme/votes.h"

/* ------------------------------------------------------------ the arena */

/* Blocks grow from ARENA_FIRST to ARENA_BLOCK bytes: a query of a few
 * candidates (the common one) fits in the first; a 64 KiB block per query
 * was a large malloc/free pair on every query of a busy server. */
#define ARENA_FIRST 2048u
#define ARENA_BLOCK 65536u

typedef struct q_block {
    struct q_block *next;
    size_t used, cap;
    uint8_t data[];
} q_block;

int q_copy_bytes(steme_resolution *r, const void *p, size_t len, const void **out)
{
    static const uint8_t empty[1] = {0};
    if (len == 0) {
        *out = empty;   /* a non-NULL view: equal to every other empty value */
        return STEME_OK;
    }
    q_block *b = r->internal_;
    if (!b || b->cap - b->used < len) {
        size_t cap = b ? (b->cap < ARENA_BLOCK / 2 ? 2 * b->cap : ARENA_BLOCK) : ARENA_FIRST;
        if (cap < len)
            cap = len;
        q_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return STEME_E_NOMEM;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        r->internal_ = b = nb;
    }
    memcpy(b->data + b->used, p, len);
    *out = b->data + b->used;
    b->used += len;
    return STEME_OK;
}

void q_arena_free(steme_resolution *r)
{
    q_block *b = r->internal_;
    while (b) {
        q_block *next = b->next;
        free(b);
        b = next;
    }
    r->internal_ = NULL;
}

/* ------------------------------------------------------------ gathering */

/*
 * Filters run on batches of listed assertions, not one at a time: the
 * supersession check of a whole batch is one multi-get (a single round
 * trip on networked engines, instead of two point reads per assertion).
 * A batch is at most limit - kept + 1 assertions, so with nothing filtered
 * out no assertion past the one that sets `truncated` is read or checked;
 * it is then walked in listing order with exactly the one-at-a-time rules,
 * so counts, truncation and the kept set do not change.
 */
#define BATCH 128

typedef struct gather {
    steme_db *db;
    const steme_query_request *req;
    steme_resolution *r;
    size_t limit;
    size_t cap;          /* candidates allocated */
    size_t pending;      /* listed, not yet filtered: candidates[n_candidates..+pending) */
    int stop;            /* the limit was passed: list nothing more */
    int rc;
    steme_hash hashes[BATCH];   /* the batch's pack members, for the supersession check */
    bool member[BATCH];
    bool superseded[BATCH];
} gather;

static int reserve(gather *g, size_t n)
{
    if (n <= g->cap)
        return STEME_OK;
    size_t cap = g->cap ? g->cap * 2 : 16;
    steme_query_candidate *c = realloc(g->r->candidates, cap * sizeof *c);
    if (!c)
        return STEME_E_NOMEM;
    g->r->candidates = c;
    g->cap = cap;
    return STEME_OK;
}

/* Append a listed assertion to the pending batch (values into the arena). */
static int keep(gather *g, const steme_hash *h, const steme_assertion *a)
{
    steme_resolution *r = g->r;
    size_t at = r->n_candidates + g->pending;
    int rc = reserve(g, at + 1);
    if (rc != STEME_OK)
        return rc;
    steme_query_candidate *c = &r->candidates[at];
    memset(c, 0, sizeof *c);
    c->hash = *h;
    c->object = a->object;
    if (a->object.type == STEME_VALUE_STRING) {
        const void *p;
        if ((rc = q_copy_bytes(r, a->object.v.str.ptr, a->object.v.str.len, &p)) != STEME_OK)
            return rc;
        c->object.v.str.ptr = p;
    } else if (a->object.type == STEME_VALUE_BYTES) {
        const void *p;
        if ((rc = q_copy_bytes(r, a->object.v.bytes.ptr, a->object.v.bytes.len, &p)) !=
            STEME_OK)
            return rc;
        c->object.v.bytes.ptr = p;
    }
    c->agent = a->agent;
    c->timestamp = a->timestamp;
    c->source_kind = a->source_kind;
    c->confidence = a->confidence;
    c->effective_confidence = a->confidence;
    g->pending++;
    return STEME_OK;
}

/* Read the filters' inputs for the pending batch into member[], superseded[]. */
static int batch_filters(gather *g)
{
    const steme_query_request *req = g->req;
    const steme_query_candidate *p = &g->r->candidates[g->r->n_candidates];
    size_t m = g->pending, checked = 0;
    int rc;
    for (size_t i = 0; i < m; i++) {
        g->member[i] = true;
        g->superseded[i] = false;
        if (req->has_pack) {
            /* Consecutive assertions often share an agent: reuse the read. */
            if (i > 0 && memcmp(p[i].agent.bytes, p[i - 1].agent.bytes, STEME_AGENT_ID_LEN) == 0) {
                g->member[i] = g->member[i - 1];
            } else {
                int member = 0;
                rc = steme_packs_is_member(steme_db_packs(g->db), &req->pack, &p[i].agent,
                                           &member);
                if (rc != STEME_OK)
                    return rc;
                g->member[i] = member != 0;
            }
        }
        if (g->member[i])
            g->hashes[checked++] = p[i].hash;
    }
    if (req->include_superseded || checked == 0)
        return STEME_OK;
    bool sup[BATCH];
    /* Every candidate is about req->subject: its SS key needs no locator read. */
    rc = steme_supersession_are_superseded(steme_db_supersessions(g->db), req->subject,
                                           req->subject_len, checked, g->hashes, sup);
    if (rc != STEME_OK)
        return rc;
    for (size_t i = 0, j = 0; i < m; i++)
        if (g->member[i])
            g->superseded[i] = sup[j++];
    return STEME_OK;
}

/* Filter the pending batch in listing order: keep, hide, or stop at the limit. */
static int flush(gather *g)
{
    steme_resolution *r = g->r;
    size_t base = r->n_candidates, m = g->pending;
    if (m == 0)
        return STEME_OK;
    int rc = batch_filters(g);
    g->pending = 0;
    if (rc != STEME_OK)
        return rc;
    for (size_t i = 0; i < m; i++) {
        if (!g->member[i]) {
            r->hidden_by_pack++;
            continue;
        }
        if (g->superseded[i]) {
            r->hidden_superseded++;
            continue;
        }
        if (r->n_candidates == g->limit) {
            r->truncated = true;   /* one more passed the filters than we may keep */
            g->stop = 1;
            break;
        }
        if (r->n_candidates != base + i)
            r->candidates[r->n_candidates] = r->candidates[base + i];
        r->n_candidates++;
    }
    return STEME_OK;
}

static int on_assertion(void *ctx, const steme_hash *h, const steme_assertion *a)
{
    gather *g = ctx;
    const steme_query_request *req = g->req;
    if (req->as_of && a->timestamp > req->as_of)
        return 0;   /* defensive: the cursor already starts at as_of */
    if ((g->rc = keep(g, h, a)) != STEME_OK)
        return 1;
    size_t want = g->limit - g->r->n_candidates + 1;
    if (g->pending >= (want < BATCH ? want : BATCH))
        g->rc = flush(g);
    return g->rc != STEME_OK || g->stop;
}

/* Vote weights or trust ranks, for the lenses that need them. */
static int lens_inputs(steme_db *db, steme_lens lens, steme_resolution *r)
{
    int rc = STEME_OK;
    if (lens == STEME_LENS_VOTE) {
        steme_votes *v = steme_db_votes(db);
        for (size_t i = 0; i < r->n_candidates && rc == STEME_OK; i++)
            rc = steme_votes_weight(v, &r->candidates[i].hash, &r->candidates[i].vote_weight);
    } else if (lens == STEME_LENS_AUTHORITY) {
        steme_trust *t = steme_db_trust(db);
        for (size_t i = 0; i < r->n_candidates && rc == STEME_OK; i++) {
            steme_query_candidate *c = &r->candidates[i];
            /* Candidates often repeat an agent: reuse the previous read. */
            if (i > 0 && memcmp(c->agent.bytes, c[-1].agent.bytes, STEME_AGENT_ID_LEN) == 0) {
                c->trust = c[-1].trust;
                continue;
            }
            steme_trust_rank rank;
            rc = steme_trust_get(t, &c->agent, &rank, NULL);
            c->trust = rank.score;
        }
    }
    return rc;
}

int q_gather(steme_db *db, const steme_query_request *req, uint64_t ref_ms, size_t limit,
             steme_resolution *r)
{
    /* Scalars only: the batch arrays (4 KiB) are written before they are
     * read, and zeroing them showed in a query's profile. */
    gather g;
    g.db = db;
    g.req = req;
    g.r = r;
    g.limit = limit;
    g.cap = 0;
    g.pending = 0;
    g.stop = 0;
    g.rc = STEME_OK;
    steme_list_cursor cur;
    memset(&cur, 0, sizeof cur);
    if (req->as_of && req->as_of < UINT64_MAX) {
        cur.started = 1;
        cur.timestamp = req->as_of + 1;   /* hash 00..00: nothing at as_of+1 sorts after it */
    }
    int rc = steme_db_list_assertions(db, req->subject, req->subject_len, req->predicate,
                                      req->predicate_len, 0, &cur, on_assertion, &g, NULL);
    if (rc == STEME_OK)
        rc = g.rc;
    if (rc == STEME_OK && !g.stop)
        rc = flush(&g);   /* the listing ran out: the last, partial batch */
    if (rc != STEME_OK)
        return rc;
    for (size_t i = 0; i < r->n_candidates; i++) {
        steme_query_candidate *c = &r->candidates[i];
        c->effective_confidence =
            c->confidence * q_decay_factor(c->timestamp, ref_ms, req->decay_half_life_ms);
    }
    return lens_inputs(db, req->lens, r);
}
