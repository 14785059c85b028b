/*
 * store/store_page.h - one page of a listing by time and id, copied out of a
 * single KV scan.
 *
 * The audit and escalation listings scan keys that carry a timestamp and an
 * id ({...}{ts}{id}) and hand the records to a caller's callback. Scan
 * callbacks may not call back into the engine, and the caller's callback may
 * want to, so a listing copies a page (the key's ts and id, the value into
 * one arena) in one scan, then delivers it outside the scan and scans again
 * after the last key delivered.
 */
#ifndef STEME_STORE_PAGE_H
#define STEME_STORE_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "steme/keys.h"
#include "store/db_int.h"

/* Entries per page: bounds the copy held at a time, not the listing. */
#define STORE_PAGE_MAX 64

typedef struct store_page {
    steme_key_family family; /* a key of another family is damage */
    uint64_t to_ts;          /* a key with ts > to_ts ends the listing */
    size_t n;                /* entries in the page */
    int past;                /* reached a key after to_ts */
    int bad;                 /* malformed key */
    int nomem;
    uint64_t ts[STORE_PAGE_MAX];
    steme_id16 id[STORE_PAGE_MAX];
    size_t off[STORE_PAGE_MAX], len[STORE_PAGE_MAX]; /* value i in the arena */
    steme_buf arena;                                 /* the values, back to back */
    size_t used;
} store_page;

/* A page for keys of `family`, listing up to to_ts (UINT64_MAX: no bound);
 * NULL when out of memory. */
store_page *store_page_new(steme_key_family family, uint64_t to_ts);
void store_page_free(store_page *p);

/*
 * Empty p, then scan up to `want` (1..STORE_PAGE_MAX) entries of prefix
 * after `after` (NULL: from the start) with the scan flags into it.
 * Returns STEME_OK, or the scan's status, STEME_E_CORRUPT (a malformed key)
 * or STEME_E_NOMEM, with db's message "<what>: ..." set.
 */
int store_page_fill(steme_db *db, store_page *p, const uint8_t *prefix, size_t plen,
                    const uint8_t *after, size_t alen, size_t want, unsigned flags,
                    const char *what);

/* The size of the next page: what is left of limit (0: no limit), at most a page. */
static inline size_t store_page_want(size_t limit, size_t listed)
{
    return limit && limit - listed < STORE_PAGE_MAX ? limit - listed : STORE_PAGE_MAX;
}

/* Value i of the page. */
static inline const uint8_t *store_page_value(const store_page *p, size_t i)
{
    return p->arena.data + p->off[i];
}

#endif
