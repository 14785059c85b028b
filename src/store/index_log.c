/*
 * index_log.c - the index log (steme/index_log.h): vector and visual index
 * adds kept in the shared database so that every node can replay them.
 *
 * Key (28 bytes, global family "IL"; integers big-endian so that byte
 * order is (ts, node, seq) order):
 *
 *     off  size  field
 *       0     1  0x00 (global key)
 *       1     3  "IL:"
 *       4     8  ts    writer's Unix ms when it chose the key
 *      12     8  node  writer's node id
 *      20     8  seq   writer's counter
 *
 * Value, version 1 (integers and floats little-endian):
 *
 *     off  size  field
 *       0     2  magic "IL" (0x49 0x4C)
 *       2     1  version = 1
 *       3     1  kind: 1 vector, 2 visual
 *       4    32  id (assertion hash)
 *     vector:
 *      36     1  metric (1 l2, 2 cosine, 3 ip): the index's, as the writer saw it
 *      37     4  dim, 1 .. STEME_VECTOR_MAX_DIM
 *      41  4dim  the vector, float32 as sent by the client (not normalised)
 *     visual:
 *      36     8  phash
 *     then   4  CRC-32C of every byte before it
 *
 * Valid when the magic matches, the version is 1 (a larger one is
 * STEME_E_VERSION), the length is exactly what kind and dim give, the CRC
 * matches, and every float is finite. Anything else is STEME_E_CORRUPT.
 *
 * Append. The key's ts is taken before the put is sent, and the put's return
 * comes after its commit, so "return - ts <= budget" (on the writer's
 * clock) bounds commit - ts. An append that overran is written again under
 * a fresh key: readers rescan a window wider than the budget (see the
 * header), so the copy that kept to the budget is never missed, and the
 * overrunning one, if it committed, is the same add again.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/bytes.h"
#include "core/error.h"
#include "steme/hash.h"
#include "steme/index_log.h"
#include "steme/keys.h"
#include "steme/vector.h"
#include "store/db_int.h"
#include "store/index_log_int.h"

#define IL_MAGIC0 0x49u /* 'I' */
#define IL_MAGIC1 0x4Cu /* 'L' */
#define IL_VERSION 1u
#define IL_OFF_KIND 3
#define IL_OFF_ID 4
#define IL_OFF_BODY 36
#define IL_VISUAL_LEN (IL_OFF_BODY + 8 + 4)
#define IL_VECTOR_LEN(dim) (IL_OFF_BODY + 5 + 4 * (size_t)(dim) + 4)
#define IL_SCAN_PAGE 256

/* The family prefix "\0IL:" (steme_key_encode_prefix at depth 0). */
#define IL_PREFIX_LEN 4






static uint64_t realtime_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void steme_index_log_options_init(steme_index_log_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->budget_ms = STEME_INDEX_LOG_DEFAULT_BUDGET_MS;
    o->max_attempts = STEME_INDEX_LOG_DEFAULT_ATTEMPTS;
}

/* The key through the key codec (family INDEX_LOG: {ts}{id16}, the id
 * being node then seq, both big-endian so keys sort by ts, node, seq). */
static void pos_to_key(const steme_index_log_pos *p, steme_key *k)
{
    memset(k, 0, sizeof *k);
    k->family = STEME_FAM_INDEX_LOG;
    k->ts = p->ts;
    bytes_put_be64(k->id.bytes, p->node);
    bytes_put_be64(k->id.bytes + 8, p->seq);
}

void steme_index_log_encode_key(const steme_index_log_pos *p, uint8_t out[28])
{
    steme_key k;
    size_t len = 0;
    pos_to_key(p, &k);
    /* cannot fail: a fixed-size global family and a 28-byte buffer */
    (void)steme_key_encode(&k, out, STEME_INDEX_LOG_KEY_LEN, &len, NULL);
}

int steme_index_log_decode_key(const uint8_t *key, size_t klen, steme_index_log_pos *p)
{
    steme_key k;
    if (!key || !p || klen != STEME_INDEX_LOG_KEY_LEN ||
        steme_key_decode(key, klen, &k, NULL) != STEME_OK || k.family != STEME_FAM_INDEX_LOG)
        return STEME_E_INVALID;
    p->ts = k.ts;
    p->node = bytes_get_be64(k.id.bytes);
    p->seq = bytes_get_be64(k.id.bytes + 8);
    return STEME_OK;
}

static int entry_check(const steme_index_log_entry *e, steme_error *err)
{
    if (!e)
        return steme_err(err, STEME_E_INVALID, "index log: NULL entry");
    if (e->kind == STEME_INDEX_LOG_VISUAL)
        return STEME_OK;
    if (e->kind != STEME_INDEX_LOG_VECTOR)
        return steme_err(err, STEME_E_INVALID, "index log: unknown kind %d", (int)e->kind);
    if (e->dim == 0 || e->dim > STEME_VECTOR_MAX_DIM || !e->vec)
        return steme_err(err, STEME_E_INVALID, "index log: a vector needs 1..%u floats",
                         STEME_VECTOR_MAX_DIM);
    if (e->metric < STEME_VECTOR_L2 || e->metric > STEME_VECTOR_IP)
        return steme_err(err, STEME_E_INVALID, "index log: unknown metric %u", e->metric);
    for (uint32_t i = 0; i < e->dim; i++)
        if (!isfinite(e->vec[i]))
            return steme_err(err, STEME_E_INVALID, "index log: component %u is not finite", i);
    return STEME_OK;
}

int steme_index_log_encode_value(const steme_index_log_entry *e, uint8_t *buf, size_t cap,
                                 size_t *len, steme_error *err)
{
    int rc = entry_check(e, err);
    if (rc != STEME_OK)
        return rc;
    if (!len || (!buf && cap))
        return steme_err(err, STEME_E_INVALID, "index log: NULL argument");
    size_t need = e->kind == STEME_INDEX_LOG_VECTOR ? IL_VECTOR_LEN(e->dim) : IL_VISUAL_LEN;
    *len = need;
    if (cap < need)
        return steme_err(err, STEME_E_BUFFER_SMALL, "index log: needs %zu bytes", need);
    buf[0] = IL_MAGIC0;
    buf[1] = IL_MAGIC1;
    buf[2] = IL_VERSION;
    buf[IL_OFF_KIND] = (uint8_t)e->kind;
    memcpy(buf + IL_OFF_ID, e->id.bytes, 32);
    uint8_t *p = buf + IL_OFF_BODY;
    if (e->kind == STEME_INDEX_LOG_VECTOR) {
        *p++ = (uint8_t)e->metric;
        bytes_put_le(p, e->dim, 4);
        p += 4;
        for (uint32_t i = 0; i < e->dim; i++, p += 4) {
            uint32_t bits;
            memcpy(&bits, &e->vec[i], 4);
            bytes_put_le(p, bits, 4);
        }
    } else {
        bytes_put_le(p, e->phash, 8);
        p += 8;
    }
    bytes_put_le(p, steme_crc32c(0, buf, (size_t)(p - buf)), 4);
    return STEME_OK;
}

int steme_index_log_decode_value(const uint8_t *buf, size_t len, float *floats,
                                 steme_index_log_entry *e, steme_error *err)
{
    if (!buf || !e || !floats)
        return steme_err(err, STEME_E_INVALID, "index log decode: NULL argument");
    steme_index_log_pos pos = e->pos;   /* the caller's, from the key */
    memset(e, 0, sizeof *e);
    e->pos = pos;
    if (len < IL_VISUAL_LEN || buf[0] != IL_MAGIC0 || buf[1] != IL_MAGIC1)
        return STEME_CORRUPT(err, "index log value: bad magic or too short (%zu bytes)", len);
    if (buf[2] != IL_VERSION)
        return steme_err(err, buf[2] > IL_VERSION ? STEME_E_VERSION : STEME_E_CORRUPT,
                         "index log value: version %u (this build reads %u)", buf[2],
                         IL_VERSION);
    int kind = buf[IL_OFF_KIND];
    const uint8_t *p = buf + IL_OFF_BODY;
    size_t need;
    if (kind == STEME_INDEX_LOG_VISUAL) {
        need = IL_VISUAL_LEN;
    } else if (kind == STEME_INDEX_LOG_VECTOR && len >= IL_OFF_BODY + 5) {
        uint64_t dim = bytes_get_le(p + 1, 4);
        if (dim == 0 || dim > STEME_VECTOR_MAX_DIM)
            return STEME_CORRUPT(err, "index log value: dim %llu out of range",
                                 (unsigned long long)dim);
        need = IL_VECTOR_LEN(dim);
    } else {
        return STEME_CORRUPT(err, "index log value: unknown kind %d", kind);
    }
    if (len != need)
        return STEME_CORRUPT(err, "index log value: %zu bytes, expected %zu", len, need);
    if (bytes_get_le(buf + len - 4, 4) != steme_crc32c(0, buf, len - 4))
        return STEME_CORRUPT(err, "index log value: CRC mismatch");
    e->kind = (steme_index_log_kind)kind;
    memcpy(e->id.bytes, buf + IL_OFF_ID, 32);
    if (kind == STEME_INDEX_LOG_VISUAL) {
        e->phash = bytes_get_le(p, 8);
        return STEME_OK;
    }
    e->metric = p[0];
    e->dim = (uint32_t)bytes_get_le(p + 1, 4);
    if (e->metric < STEME_VECTOR_L2 || e->metric > STEME_VECTOR_IP)
        return STEME_CORRUPT(err, "index log value: unknown metric %u", e->metric);
    p += 5;
    for (uint32_t i = 0; i < e->dim; i++, p += 4) {
        uint32_t bits = (uint32_t)bytes_get_le(p, 4);
        memcpy(&floats[i], &bits, 4);
        if (!isfinite(floats[i]))
            return STEME_CORRUPT(err, "index log value: component %u is not finite", i);
    }
    e->vec = floats;
    return STEME_OK;
}

int steme_index_log_open(steme_kv *kv, const steme_index_log_options *o,
                         steme_index_log **out, steme_error *err)
{
    if (!kv || !out)
        return steme_err(err, STEME_E_INVALID, "index log open: NULL argument");
    *out = NULL;
    steme_index_log_options d;
    steme_index_log_options_init(&d);
    if (!o)
        o = &d;
    if (o->budget_ms == 0 || o->max_attempts == 0)
        return steme_err(err, STEME_E_INVALID, "index log open: budget_ms and max_attempts "
                         "must be positive");
    steme_index_log *l = calloc(1, sizeof *l);
    if (!l)
        return steme_err(err, STEME_E_NOMEM, "index log open: out of memory");
    l->kv = kv;
    l->node = o->node_id;
    /* A random node id: two handles (two processes, or a process restarted)
     * never share a (node, seq) space, so their keys never collide. */
    while (l->node == 0) {
        if (getrandom(&l->node, sizeof l->node, 0) != (ssize_t)sizeof l->node &&
            errno != EINTR) {
            free(l);
            return steme_err(err, STEME_E_IO, "index log open: getrandom: %s", strerror(errno));
        }
    }
    l->budget_ms = o->budget_ms;
    l->max_attempts = o->max_attempts;
    l->clock_ms = o->clock_ms ? o->clock_ms : realtime_ms;
    l->clock_ctx = o->clock_ctx;
    atomic_init(&l->seq, 0);
    if (steme_errslot_init(&l->err) != STEME_OK) {
        free(l);
        return steme_err(err, STEME_E_NOMEM, "index log open: cannot create the error slot");
    }
    *out = l;
    return STEME_OK;
}

int steme_index_log_open_db(steme_db *db, const steme_index_log_options *o,
                            steme_index_log **out, steme_error *err)
{
    if (!db || !out)
        return steme_err(err, STEME_E_INVALID, "index log open: NULL argument");
    if (!db->db_shared) {
        *out = NULL;
        return steme_err(err, STEME_E_UNSUPPORTED, "index log: only a shared (postgres://) "
                         "database has one");
    }
    return steme_index_log_open(db_kv(db), o, out, err);
}

void steme_index_log_close(steme_index_log *l)
{
    if (!l)
        return;
    steme_errslot_destroy(&l->err);
    free(l);
}

uint64_t steme_index_log_node(const steme_index_log *l)
{
    return l ? l->node : 0;
}

const char *steme_index_log_errmsg(steme_index_log *l)
{
    return l ? steme_errslot_message(&l->err) : "NULL index log handle";
}

int steme_index_log_append(steme_index_log *l, steme_index_log_entry *e)
{
    if (!l)
        return STEME_E_INVALID;
    steme_error *err = steme_errslot_get(&l->err);
    size_t len = 0;
    int rc = steme_index_log_encode_value(e, NULL, 0, &len, err);
    if (rc != STEME_E_BUFFER_SMALL)
        return rc == STEME_OK ? il_fail(l, STEME_E_INTERNAL, "index log: empty value") : rc;
    uint8_t *val = malloc(len);
    if (!val)
        return il_fail(l, STEME_E_NOMEM, "index log append: out of memory");
    rc = steme_index_log_encode_value(e, val, len, &len, err);
    uint64_t took = 0;
    for (unsigned attempt = 0; rc == STEME_OK && attempt < l->max_attempts; attempt++) {
        steme_index_log_pos pos = {l->clock_ms(l->clock_ctx), l->node,
                                   atomic_fetch_add(&l->seq, 1)};
        uint8_t key[STEME_INDEX_LOG_KEY_LEN];
        steme_index_log_encode_key(&pos, key);
        rc = steme_kv_put(l->kv, key, sizeof key, val, len, STEME_KV_SYNC);
        if (rc != STEME_OK) {
            il_fail(l, rc, "index log append: %s", steme_kv_errmsg(l->kv));
            break;
        }
        e->pos = pos;
        uint64_t now = l->clock_ms(l->clock_ctx);
        took = now > pos.ts ? now - pos.ts : 0;
        if (took <= l->budget_ms) {
            free(val);
            return STEME_OK;
        }
    }
    free(val);
    if (rc != STEME_OK)
        return rc;
    return il_fail(l, STEME_E_BUSY, "index log append: %u writes each took longer than the "
                   "%u ms commit budget (last %llu ms): the add may not reach every node",
                   l->max_attempts, l->budget_ms, (unsigned long long)took);
}

typedef struct scan_ctx {
    steme_index_log *l;
    steme_index_log_fn fn;
    void *ctx;
    float *floats;
    steme_index_log_scan_stats *st;
    uint8_t last[STEME_INDEX_LOG_KEY_LEN];
    int have_last, stopped;
} scan_ctx;

static int scan_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    scan_ctx *c = ctx;
    steme_index_log_entry e;
    memset(&e, 0, sizeof e);
    if (klen == sizeof c->last) {
        memcpy(c->last, key, klen);
        c->have_last = 1;
    }
    if (steme_index_log_decode_key(key, klen, &e.pos) != STEME_OK) {
        c->st->damaged++;   /* a stray key under our prefix: not ours to apply */
        return 0;
    }
    c->st->last_ts = e.pos.ts;
    steme_error derr;
    if (steme_index_log_decode_value(val, vlen, c->floats, &e, &derr) != STEME_OK) {
        c->st->damaged++;
        il_fail(c->l, STEME_E_CORRUPT, "index log entry ts %llu node %016llx seq %llu: %s",
                (unsigned long long)e.pos.ts, (unsigned long long)e.pos.node,
                (unsigned long long)e.pos.seq, derr.message);
        return 0;
    }
    c->st->visited++;
    if (c->fn(c->ctx, &e) != 0) {
        c->stopped = 1;
        return 1;
    }
    return 0;
}

int steme_index_log_scan(steme_index_log *l, uint64_t from_ts, steme_index_log_fn fn,
                         void *ctx, steme_index_log_scan_stats *stats)
{
    if (!l)
        return STEME_E_INVALID;
    if (!fn)
        return il_fail(l, STEME_E_INVALID, "index log scan: NULL callback");
    steme_index_log_scan_stats local;
    scan_ctx c = {l, fn, ctx, NULL, stats ? stats : &local, {0}, 0, 0};
    memset(c.st, 0, sizeof *c.st);
    c.floats = malloc(STEME_VECTOR_MAX_DIM * sizeof *c.floats);
    if (!c.floats)
        return il_fail(l, STEME_E_NOMEM, "index log scan: out of memory");
    /* Start strictly after the 12 bytes "\0IL:{from_ts}": every key with
     * ts >= from_ts extends them (so comes after), every smaller ts sorts
     * before. Later pages resume after the last key seen (copied: the scan
     * overwrites c.last while it runs). */
    uint8_t il_prefix[IL_PREFIX_LEN], cur[STEME_INDEX_LOG_KEY_LEN];
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_INDEX_LOG;
    k.ts = from_ts;
    size_t plen = 0, clen = 0;
    int rc = steme_key_encode_prefix(&k, 0, il_prefix, sizeof il_prefix, &plen, NULL);
    if (rc == STEME_OK)
        rc = steme_key_encode_prefix(&k, 1, cur, sizeof cur, &clen, NULL);
    if (rc != STEME_OK) {
        free(c.floats);
        return il_fail(l, STEME_E_INTERNAL, "index log scan: cannot build the prefix");
    }
    for (;;) {
        size_t visited = 0;
        c.have_last = 0;
        rc = steme_kv_scan(l->kv, il_prefix, sizeof il_prefix, cur, clen, IL_SCAN_PAGE, 0,
                           scan_one, &c, &visited);
        if (rc != STEME_OK) {
            il_fail(l, rc, "index log scan: %s", steme_kv_errmsg(l->kv));
            break;
        }
        if (c.stopped || visited < IL_SCAN_PAGE || !c.have_last)
            break;
        memcpy(cur, c.last, sizeof c.last);
        clen = sizeof c.last;
    }
    free(c.floats);
    return rc;
}
