/*
 * bench/visual.c - Hamming search over 64-bit perceptual hashes.
 *
 * Computes the dHash of each of the 70,000 Fashion-MNIST images (train +
 * t10k, read through `gzip -dc`), and builds two sets:
 *   "70k"  those hashes;
 *   "1M"   1,000,000 entries: hash i % 70000 with each bit flipped with
 *          probability 5% (a fixed seed).
 * Ids are 32 bytes (entry number, little-endian, then a fixed pattern).
 * Queries: 200 hashes drawn from the 70k originals (fixed seed).
 *
 * Systems, each answering the same queries one at a time on one thread:
 *   steme   the index, choosing its structure per query (AUTO)
 *   scan    the index forced to its SIMD linear scan
 *   bktree  the index forced to its BK-tree (the original system's structure)
 *   scalar  a plain loop of xor + hardware popcount (function built with
 *           target("popcnt"), the per-function form of -mpopcnt)
 *   faiss   IndexBinaryFlat via python3-faiss (bench/peers/faiss_visual.py)
 * Cases: radius2, radius4, radius8 (every entry within r), knn10.
 * Each (system, case) is the best of 5 passes over the 200 queries; the
 * passes of the index systems are interleaved (pass 1 of every system, then
 * pass 2, ...), so that load from other processes spreads over all of them,
 * and each timed block follows 10 untimed queries of the same system and
 * case (the previous block may have evicted its arrays from the cache).
 * Output: JSON lines {"bench":"visual","system":S,"set":X,"case":C,"qps":Q},
 * then build and snapshot timings. Every system's hit total is printed on
 * stderr and checked against the scalar loop's (the run fails on a mismatch).
 *
 * Environment: STEME_BENCH_QUICK=1 runs the 70k set only;
 * STEME_BENCH_SYSTEMS="steme scan" runs only the index systems named (the
 * scalar loop always runs: it is the reference for the hit checks);
 * STEME_BENCH_SETS="1M" / STEME_BENCH_CASES="radius4 knn10" run only the sets
 * and cases named (the scalar loop runs for the cases selected);
 * STEME_BENCH_NO_FAISS=1 skips the faiss peer;
 * STEME_FASHION_DIR overrides /usr/share/datasets/fashion-mnist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index/visual/snapshot.h"   /* snapshot timings: internal API */
#include "index/visual/visual_int.h"
#include "steme/visual.h"

#define NQUERIES 200
#define SET_1M 1000000u
#define FLIP_PER_MILLE 50u
/* Each batch of 200 queries runs PASSES times and the fastest pass counts:
 * the machines are shared, and a slow pass measures the neighbours. */
#define PASSES 5
/* Queries run untimed before each timed block of an index system. */
#define WARMUP 10

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- data --------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Append the dHashes of an idx3-ubyte.gz file to out; returns images read. */
static size_t load_idx(const char *dir, const char *name, uint64_t *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/%s'", dir, name);
    FILE *f = popen(cmd, "r");
    if (!f)
        return 0;
    uint8_t hdr[16];
    size_t n = 0;
    if (fread(hdr, 1, 16, f) == 16 && be32(hdr) == 0x803) {
        uint32_t count = be32(hdr + 4), rows = be32(hdr + 8), cols = be32(hdr + 12);
        uint8_t *img = malloc((size_t)rows * cols);
        while (img && n < count && n < cap && fread(img, 1, (size_t)rows * cols, f) ==
                                                  (size_t)rows * cols) {
            if (steme_visual_dhash(img, cols, rows, cols, &out[n], NULL) != STEME_OK)
                break;
            n++;
        }
        free(img);
    }
    pclose(f);
    return n;
}

static void make_id(uint64_t i, steme_hash *id)
{
    memset(id->bytes, 0xa5, STEME_HASH_LEN);
    for (int b = 0; b < 8; b++)
        id->bytes[b] = (uint8_t)(i >> (8 * b));
}

/* ---- the plain scalar loop ---------------------------------------------- */

typedef struct scalar_out {
    steme_visual_hit *hits;
    size_t n, cap;
} scalar_out;

__attribute__((target("popcnt")))
static void scalar_radius(const uint64_t *codes, const steme_hash *ids, size_t n, uint64_t q,
                          unsigned r, scalar_out *o)
{
    o->n = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)__builtin_popcountll(codes[i] ^ q);
        if (d <= r) {
            if (o->n == o->cap) {
                o->cap = o->cap ? o->cap * 2 : 1024;
                o->hits = realloc(o->hits, o->cap * sizeof *o->hits);
                if (!o->hits)
                    abort();
            }
            o->hits[o->n++] = (steme_visual_hit){codes[i], d, 0, ids[i]};
        }
    }
}

/* k nearest by (distance, id), kept in a small sorted array. */
__attribute__((target("popcnt")))
static void scalar_knn(const uint64_t *codes, const steme_hash *ids, size_t n, uint64_t q,
                       size_t k, scalar_out *o)
{
    if (o->cap < k + 1) {
        o->hits = realloc(o->hits, (k + 1) * sizeof *o->hits);
        o->cap = k + 1;
    }
    o->n = 0;
    unsigned worst = 65;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)__builtin_popcountll(codes[i] ^ q);
        if (d > worst)
            continue;
        size_t j = o->n;
        while (j > 0 && (o->hits[j - 1].distance > d ||
                         (o->hits[j - 1].distance == d &&
                          memcmp(o->hits[j - 1].id.bytes, ids[i].bytes, STEME_HASH_LEN) > 0))) {
            o->hits[j] = o->hits[j - 1];
            j--;
        }
        if (j >= k)
            continue;
        o->hits[j] = (steme_visual_hit){codes[i], d, 0, ids[i]};
        if (o->n < k)
            o->n++;
        if (o->n == k)
            worst = o->hits[k - 1].distance;
    }
}

/* ---- runs ---------------------------------------------------------------- */

static const char *case_names[] = {"radius2", "radius4", "radius8", "knn10"};
static const unsigned case_radius[] = {2, 4, 8, 0};

static int case_wanted(int c)
{
    const char *only = getenv("STEME_BENCH_CASES");
    return !only || strstr(only, case_names[c]) != NULL;
}

static int set_wanted(const char *set)
{
    const char *only = getenv("STEME_BENCH_SETS");
    return !only || strstr(only, set) != NULL;
}

static void emit(const char *sys, const char *set, const char *c, double qps)
{
    printf("{\"bench\":\"visual\",\"system\":\"%s\",\"set\":\"%s\",\"case\":\"%s\",\"qps\":%.1f}\n",
           sys, set, c, qps);
    fflush(stdout);
}

static uint64_t hits_check(const steme_visual_hit *h, size_t n, int knn)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += knn ? h[i].distance : 1;
    return s;
}

/*
 * Snapshot write and load, the two halves of steme_pvisual_checkpoint and
 * steme_pvisual_open (without the log): copy the entries out, write the
 * file (temp, fsync, rename, fsync dir); read + verify it, load a fresh
 * index and build its tables.
 */
static int bench_snapshot(const char *set, steme_visual *v)
{
    char dir[] = "/tmp/steme-visual-snap-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/visual.snap", dir);
    uint64_t *codes = NULL, off = 0;
    steme_hash *ids = NULL;
    size_t n = 0;
    double t = now();
    int rc = vs_export(v, &codes, &ids, &n);
    if (rc == STEME_OK)
        rc = vsnap_write(path, codes, ids, n, 0, NULL);
    double tw = now() - t;
    free(codes);
    free(ids);
    codes = NULL;
    ids = NULL;
    t = now();
    steme_visual *w = NULL;
    if (rc == STEME_OK)
        rc = vsnap_read(path, &codes, &ids, &n, &off, NULL);
    if (rc == STEME_OK)
        rc = steme_visual_create(NULL, &w, NULL);
    if (rc == STEME_OK)
        rc = steme_visual_insert_batch(w, codes, ids, n, NULL);
    if (rc == STEME_OK)
        rc = steme_visual_rebuild(w);
    double tl = now() - t;
    struct stat st;
    long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    if (rc == STEME_OK) {
        printf("{\"bench\":\"visual\",\"system\":\"steme\",\"set\":\"%s\","
               "\"case\":\"snapshot_write\",\"seconds\":%.3f,\"bytes\":%lld}\n", set, tw, bytes);
        printf("{\"bench\":\"visual\",\"system\":\"steme\",\"set\":\"%s\","
               "\"case\":\"snapshot_load\",\"seconds\":%.3f,\"entries\":%zu}\n", set, tl,
               steme_visual_count(w));
    } else {
        fprintf(stderr, "visual: snapshot round trip failed: %s\n", steme_strerror(rc));
    }
    steme_visual_destroy(w);
    free(codes);
    free(ids);
    unlink(path);
    rmdir(dir);
    return rc != STEME_OK;
}

static int run_set(const char *set, const uint64_t *codes, const steme_hash *ids, size_t n,
                   const uint64_t *queries)
{
    int bad = 0;
    double t0 = now();
    steme_visual *v;
    if (steme_visual_create(NULL, &v, NULL) != STEME_OK ||
        steme_visual_insert_batch(v, codes, ids, n, NULL) != STEME_OK ||
        steme_visual_rebuild(v) != STEME_OK) {
        fprintf(stderr, "visual: build failed\n");
        return 1;
    }
    printf("{\"bench\":\"visual\",\"system\":\"steme\",\"set\":\"%s\",\"case\":\"build\","
           "\"seconds\":%.3f,\"entries\":%zu}\n", set, now() - t0, n);
    uint64_t ref[4];
    scalar_out so = {0};
    for (int c = 0; c < 4; c++) {
        if (!case_wanted(c))
            continue;
        uint64_t check = 0;
        double best = 1e30;
        for (int pass = 0; pass < PASSES; pass++) {
            check = 0;
            double t = now();
            for (int i = 0; i < NQUERIES; i++) {
                if (c == 3)
                    scalar_knn(codes, ids, n, queries[i], 10, &so);
                else
                    scalar_radius(codes, ids, n, queries[i], case_radius[c], &so);
                check += hits_check(so.hits, so.n, c == 3);
            }
            t = now() - t;
            best = t < best ? t : best;
        }
        emit("scalar", set, case_names[c], NQUERIES / best);
        ref[c] = check;
        fprintf(stderr, "scalar %s %s check %llu\n", set, case_names[c], (unsigned long long)check);
    }
    free(so.hits);
    static const struct { const char *name; steme_visual_strategy st; } systems[] = {
        {"steme", STEME_VISUAL_AUTO}, {"scan", STEME_VISUAL_SCAN},
        {"mih", STEME_VISUAL_MIH}, {"bktree", STEME_VISUAL_BKTREE}};
    steme_visual_hits h;
    steme_visual_hits_init(&h);
    const char *only = getenv("STEME_BENCH_SYSTEMS");
    enum { NSYS = sizeof systems / sizeof *systems };
    double best[NSYS][4];
    uint64_t check[NSYS][4], used[NSYS][4][4], examined[NSYS][4];
    for (size_t s = 0; s < NSYS; s++)
        for (int c = 0; c < 4; c++)
            best[s][c] = 1e30;
    /* Passes outermost: each (system, case) gets its best of PASSES passes
     * taken at different moments, so a burst of load on the shared machine
     * does not land on one system only. */
    for (int pass = 0; pass < PASSES; pass++) {
        for (size_t s = 0; s < NSYS; s++) {
            if (only && !strstr(only, systems[s].name))
                continue;
            for (int c = 0; c < 4; c++) {
                if (!case_wanted(c))
                    continue;
                check[s][c] = examined[s][c] = 0;
                memset(used[s][c], 0, sizeof used[s][c]);
                /* Untimed warm-up: the previous block (another system or
                 * case) may have evicted this one's arrays from the cache. */
                for (int i = 0; i < WARMUP; i++)
                    (void)(c == 3 ? steme_visual_knn(v, queries[i], 10, systems[s].st, &h)
                                  : steme_visual_radius(v, queries[i], case_radius[c],
                                                        systems[s].st, &h));
                double t = now();
                for (int i = 0; i < NQUERIES; i++) {
                    int rc = c == 3 ? steme_visual_knn(v, queries[i], 10, systems[s].st, &h)
                                    : steme_visual_radius(v, queries[i], case_radius[c],
                                                          systems[s].st, &h);
                    if (rc != STEME_OK) {
                        fprintf(stderr, "visual: query failed: %s\n", steme_visual_errmsg(v));
                        return 1;
                    }
                    check[s][c] += hits_check(h.hits, h.count, c == 3);
                    used[s][c][h.strategy & 3]++;
                    examined[s][c] += h.examined;
                }
                t = now() - t;
                best[s][c] = t < best[s][c] ? t : best[s][c];
            }
        }
    }
    for (size_t s = 0; s < NSYS; s++) {
        if (only && !strstr(only, systems[s].name))
            continue;
        for (int c = 0; c < 4; c++) {
            if (!case_wanted(c))
                continue;
            emit(systems[s].name, set, case_names[c], NQUERIES / best[s][c]);
            fprintf(stderr, "%s %s %s check %llu examined/q %llu (scan %llu, mih %llu, bk %llu)%s\n",
                    systems[s].name, set, case_names[c], (unsigned long long)check[s][c],
                    (unsigned long long)(examined[s][c] / NQUERIES),
                    (unsigned long long)used[s][c][1], (unsigned long long)used[s][c][2],
                    (unsigned long long)used[s][c][3], check[s][c] == ref[c] ? "" : "  MISMATCH");
            bad |= check[s][c] != ref[c];
        }
    }
    steme_visual_hits_free(&h);
    bad |= bench_snapshot(set, v);
    steme_visual_destroy(v);
    return bad;
}

static void run_faiss(const char *set, const uint64_t *codes, size_t n, const uint64_t *queries)
{
    char dir[] = "/tmp/steme-visual-XXXXXX";
    if (getenv("STEME_BENCH_NO_FAISS") || !mkdtemp(dir))
        return;
    char cpath[64], qpath[64], cmd[1024];
    snprintf(cpath, sizeof cpath, "%s/codes", dir);
    snprintf(qpath, sizeof qpath, "%s/queries", dir);
    FILE *f = fopen(cpath, "wb"), *g = fopen(qpath, "wb");
    if (f && g) {
        fwrite(codes, sizeof *codes, n, f);
        fwrite(queries, sizeof *queries, NQUERIES, g);
    }
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    /* The script sits beside this file (CMake compiles it by absolute path). */
    char here[768];
    snprintf(here, sizeof here, "%s", __FILE__);
    char *slash = strrchr(here, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(here, sizeof here, "bench");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/peers/faiss_visual.py' %s %s %s", here, set, cpath,
             qpath);
    fflush(stdout);
    if (system(cmd) != 0)
        fprintf(stderr, "visual: faiss peer failed\n");
    unlink(cpath);
    unlink(qpath);
    rmdir(dir);
}

int main(void)
{
    const char *dir = getenv("STEME_FASHION_DIR");
    if (!dir)
        dir = "/usr/share/datasets/fashion-mnist";
    uint64_t *base = malloc(70000 * sizeof *base);
    size_t nb = load_idx(dir, "train-images-idx3-ubyte.gz", base, 70000);
    nb += load_idx(dir, "t10k-images-idx3-ubyte.gz", base + nb, 70000 - nb);
    if (nb != 70000) {
        fprintf(stderr, "visual: expected 70000 Fashion-MNIST images in %s, got %zu\n", dir, nb);
        return 1;
    }
    uint64_t seed = 42, queries[NQUERIES];
    for (int i = 0; i < NQUERIES; i++)
        queries[i] = base[splitmix(&seed) % nb];
    int quick = getenv("STEME_BENCH_QUICK") != NULL;
    size_t nbig = quick ? nb : SET_1M;
    uint64_t *codes = malloc(nbig * sizeof *codes);
    steme_hash *ids = malloc(nbig * sizeof *ids);
    if (!codes || !ids)
        return 1;
    for (size_t i = 0; i < nbig; i++)
        make_id(i, &ids[i]);
    int bad = 0;
    if (set_wanted("70k")) {
        bad |= run_set("70k", base, ids, nb, queries);
        run_faiss("70k", base, nb, queries);
    }
    if (!quick && set_wanted("1M")) {
        for (size_t i = 0; i < nbig; i++) {
            uint64_t c = base[i % nb];
            for (unsigned b = 0; b < 64; b++)
                if (splitmix(&seed) % 1000 < FLIP_PER_MILLE)
                    c ^= 1ull << b;
            codes[i] = c;
        }
        bad |= run_set("1M", codes, ids, nbig, queries);
        run_faiss("1M", codes, nbig, queries);
    }
    free(base);
    free(codes);
    free(ids);
    return bad;
}
