/*
 * tests/wal/wal_testlib.h - helpers shared by the WAL tests (header-only:
 * each test program includes it once).
 */
#ifndef STEME_WAL_TESTLIB_H
#define STEME_WAL_TESTLIB_H

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "steme/wal.h"
#include "testutil.h"

/* Log callback that counts warnings and keeps the last line. */
typedef struct tw_log {
    int warnings, errors, infos;
    char last[512];
} tw_log;

static void tw_log_cb(void *ctx, int level, const char *msg)
{
    tw_log *l = ctx;
    if (level == STEME_WAL_LOG_WARNING)
        l->warnings++;
    else if (level == STEME_WAL_LOG_ERROR)
        l->errors++;
    else
        l->infos++;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

static inline steme_wal_options tw_opts(uint64_t seg_bytes, tw_log *log)
{
    steme_wal_options o;
    steme_wal_options_init(&o);
    if (seg_bytes)
        o.segment_bytes = seg_bytes;
    if (log) {
        o.log = tw_log_cb;
        o.log_ctx = log;
    }
    return o;
}

static inline steme_wal *tw_open(const char *dir, const steme_wal_options *o,
                                 steme_wal_recovery *rec)
{
    steme_wal *w = NULL;
    steme_error e = { 0 };
    int rc = steme_wal_open(dir, o, &w, rec, &e);
    if (rc != STEME_OK)
        fprintf(stderr, "open %s: %s\n", dir, e.message);
    assert_int_equal(rc, STEME_OK);
    assert_non_null(w);
    return w;
}

/* Deterministic payload of record i under a seed: length and bytes. */
static inline size_t tw_fill(uint8_t *buf, size_t maxlen, uint64_t seed, uint64_t i)
{
    tu_rng r;
    tu_rng_seed(&r, seed * 1000003u + i);
    size_t len = 1 + (size_t)tu_rng_below(&r, maxlen);
    tu_rng_bytes(&r, buf, len);
    return len;
}

/* Sorted segment start offsets present in dir ("*.wal" only). */
static inline size_t tw_segments(const char *dir, uint64_t *starts, size_t cap)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l == 24 && strcmp(de->d_name + 20, ".wal") == 0 && n < cap)
            starts[n++] = strtoull(de->d_name, NULL, 10);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)      /* insertion sort: few files */
        for (size_t j = i; j > 0 && starts[j - 1] > starts[j]; j--) {
            uint64_t t = starts[j];
            starts[j] = starts[j - 1];
            starts[j - 1] = t;
        }
    return n;
}

/* Count files in dir whose name ends with suffix. */
static inline int tw_count_suffix(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    size_t sl = strlen(suffix);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l >= sl && strstr(de->d_name, suffix) != NULL)
            n++;
    }
    closedir(d);
    return n;
}

#endif
