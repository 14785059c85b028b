/*
 * vote_cache.c - the Ballot Box's in-process read cache: assertion hash ->
 * (subject, vote count, fixed-point weight sum), so that count and weight
 * reads cost a lock and a compare instead of two engine reads (an LMDB
 * locator read and a RocksDB read).
 *
 * Shape: VC_SETS sets of VC_WAYS entries (set-associative, so a few
 * assertions whose hashes share a set do not evict each other), one mutex
 * per set. The set is chosen by the hash's first bytes: content hashes are
 * uniformly distributed already. Replacement is round-robin per set.
 * Memory: about VC_SETS * VC_WAYS * 128 B = 2 MiB per database.
 *
 * Why it is never stale (the rule: a read that starts after a put was
 * acknowledged sees that put):
 *   - the subject of an assertion never changes (assertions are
 *     immutable), so a cached subject is always right;
 *   - count and weight change only in db_apply_vote, which calls
 *     vote_cache_begin() before its KV write (set inflight += 1) and
 *     vote_cache_end() after it (inflight -= 1, gen += 1, and the same
 *     deltas added to the cached entry if it holds totals), all before the
 *     put is acknowledged;
 *   - a reader that misses takes a ticket (the set's gen, and whether an
 *     apply is in flight) BEFORE reading the engines, and installs what it
 *     read only if, under the lock again, gen is unchanged and no apply was
 *     or is in flight. So no apply overlapped its read: the values it read
 *     include every finished apply, and every later apply will find the
 *     entry and add its deltas. Otherwise it returns what it read without
 *     caching it (still correct: the read started after every acknowledged
 *     put). A set under constant writes thus serves reads from the engines.
 * The deltas a cached entry receives are those of the KV batch, and
 * integer adds commute, so the cache equals the VC/VW keys exactly.
 * In pg mode (several nodes) other processes move the totals, so only
 * subjects are cached there and totals are always read from the engine.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/vote_store_int.h"

#define VC_SETS 4096u          /* power of two */
#define VC_WAYS 4
#define VC_SUBJECT_INLINE 76   /* subjects up to this long are cached */

typedef struct vc_entry {
    uint8_t hash[STEME_HASH_LEN];
    uint64_t count;
    int64_t wsum;
    uint16_t subject_len;      /* 0: subject not cached */
    uint8_t used;
    uint8_t totals_ok;         /* count and wsum are valid */
    char subject[VC_SUBJECT_INLINE];
} vc_entry;

typedef struct vc_set {
    pthread_mutex_t lock;
    uint32_t inflight;         /* applies between begin and end */
    uint32_t gen;              /* bumped by every apply's end */
    uint32_t clock;            /* round-robin victim */
    vc_entry e[VC_WAYS];
} vc_set;

struct vote_cache {
    /* pg mode: other nodes change the totals behind our back, so only the
     * (immutable) subjects are cached; every totals read is a miss that
     * never installs (see vote_cache_of). */
    int subjects_only;
    vc_set sets[VC_SETS];
};

static vc_set *set_of(vote_cache *c, const steme_hash *a)
{
    uint32_t x;
    memcpy(&x, a->bytes, sizeof x);
    return &c->sets[x & (VC_SETS - 1)];
}

/* Lock held. The entry of a in s, or NULL. */
static vc_entry *find(vc_set *s, const steme_hash *a)
{
    for (int i = 0; i < VC_WAYS; i++)
        if (s->e[i].used && memcmp(s->e[i].hash, a->bytes, STEME_HASH_LEN) == 0)
            return &s->e[i];
    return NULL;
}

/* Lock held. The entry of a, made (evicting round-robin) if absent. */
static vc_entry *find_or_make(vc_set *s, const steme_hash *a)
{
    vc_entry *e = find(s, a);
    if (e)
        return e;
    for (int i = 0; i < VC_WAYS && !e; i++)
        if (!s->e[i].used)
            e = &s->e[i];
    if (!e)
        e = &s->e[s->clock++ % VC_WAYS];
    memset(e, 0, offsetof(vc_entry, subject));
    memcpy(e->hash, a->bytes, STEME_HASH_LEN);
    e->used = 1;
    return e;
}

static void set_subject(vc_entry *e, const char *s, size_t len)
{
    if (e->subject_len == 0 && s && len > 0 && len <= VC_SUBJECT_INLINE) {
        memcpy(e->subject, s, len);
        e->subject_len = (uint16_t)len;
    }
}

static vote_cache *cache_new(void)
{
    vote_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    for (uint32_t i = 0; i < VC_SETS; i++) {
        if (pthread_mutex_init(&c->sets[i].lock, NULL) != 0) {
            while (i-- > 0)
                pthread_mutex_destroy(&c->sets[i].lock);
            free(c);
            return NULL;
        }
    }
    return c;
}

void vote_cache_free(vote_cache *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < VC_SETS; i++)
        pthread_mutex_destroy(&c->sets[i].lock);
    free(c);
}

vote_cache *vote_cache_of(steme_db *db, int create)
{
    vote_cache *c = atomic_load(&db->db_vote_cache);
    if (c || !create)
        return c;
    vote_cache *mine = cache_new();
    if (!mine)
        return NULL; /* run uncached: slower, same results */
    mine->subjects_only = db_shared(db);
    vote_cache *expected = NULL;
    if (atomic_compare_exchange_strong(&db->db_vote_cache, &expected, mine))
        return mine;
    vote_cache_free(mine); /* another thread won the race */
    return expected;
}

int vote_cache_subject(vote_cache *c, const steme_hash *a, char *out, size_t *len)
{
    vc_set *s = set_of(c, a);
    int hit = 0;
    pthread_mutex_lock(&s->lock);
    vc_entry *e = find(s, a);
    if (e && e->subject_len) {
        memcpy(out, e->subject, e->subject_len);
        *len = e->subject_len;
        hit = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

void vote_cache_put_subject(vote_cache *c, const steme_hash *a, const char *subj, size_t len)
{
    if (len == 0 || len > VC_SUBJECT_INLINE)
        return;
    vc_set *s = set_of(c, a);
    pthread_mutex_lock(&s->lock);
    set_subject(find_or_make(s, a), subj, len);
    pthread_mutex_unlock(&s->lock);
}

int vote_cache_totals(vote_cache *c, const steme_hash *a, uint64_t *count, int64_t *wsum,
                      vote_fill_ticket *t)
{
    if (c->subjects_only) {
        t->gen = 0;
        t->busy = 1; /* never install */
        return 0;
    }
    vc_set *s = set_of(c, a);
    int hit = 0;
    pthread_mutex_lock(&s->lock);
    vc_entry *e = find(s, a);
    if (e && e->totals_ok) {
        *count = e->count;
        *wsum = e->wsum;
        hit = 1;
    } else {
        t->gen = s->gen;
        t->busy = s->inflight > 0;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

void vote_cache_fill(vote_cache *c, const steme_hash *a, const vote_fill_ticket *t,
                     const char *subj, size_t slen, uint64_t count, int64_t wsum)
{
    if (t->busy)
        return;
    vc_set *s = set_of(c, a);
    pthread_mutex_lock(&s->lock);
    if (s->gen == t->gen && s->inflight == 0) {
        vc_entry *e = find_or_make(s, a);
        e->count = count;
        e->wsum = wsum;
        e->totals_ok = 1;
        set_subject(e, subj, slen);
    }
    pthread_mutex_unlock(&s->lock);
}

void vote_cache_begin(vote_cache *c, const steme_hash *a)
{
    vc_set *s = set_of(c, a);
    pthread_mutex_lock(&s->lock);
    s->inflight++;
    pthread_mutex_unlock(&s->lock);
}

void vote_cache_end(vote_cache *c, const steme_hash *a, const char *subj, size_t slen,
                    int64_t dcount, int64_t dwsum, int applied)
{
    vc_set *s = set_of(c, a);
    pthread_mutex_lock(&s->lock);
    s->inflight--;
    s->gen++;
    vc_entry *e = find(s, a);
    if (e && e->totals_ok) {
        if (applied) {
            /* Wrapping adds, exactly as the engine's u64 counters move. */
            e->count += (uint64_t)dcount;
            e->wsum = (int64_t)((uint64_t)e->wsum + (uint64_t)dwsum);
        } else {
            e->totals_ok = 0;
        }
    }
    if (!e && slen <= VC_SUBJECT_INLINE)
        e = find_or_make(s, a); /* the subject at least: the next read needs it */
    if (e)
        set_subject(e, subj, slen);
    pthread_mutex_unlock(&s->lock);
}

void vote_cache_invalidate(vote_cache *c, const steme_hash *a)
{
    vc_set *s = set_of(c, a);
    pthread_mutex_lock(&s->lock);
    s->gen++;
    vc_entry *e = find(s, a);
    if (e)
        e->totals_ok = 0;
    pthread_mutex_unlock(&s->lock);
}
