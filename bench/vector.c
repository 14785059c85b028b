/*
 * bench/vector.c - HNSW k-NN: steme against hnswlib and faiss, one thread.
 *
 * Sets (Fashion-MNIST from Debian's dataset-fashion-mnist, read through
 * `gzip -dc`; STEME_FASHION_DIR overrides the directory):
 *   "fmnist"          60,000 train images as the index, 10,000 test images
 *                     as queries, 784-d, L2;
 *   "fmnist-proj128"  the same images projected to 128 dimensions by a
 *                     fixed-seed Gaussian random matrix: float data that no
 *                     integer trick makes exact.
 * Every system builds with M 16, efConstruction 200 and answers k = 10 at
 * ef 10, 20, 40, 80, 160. Recall@10 is against exact float ground truth
 * (fmnist: exact integer distances, which are the exact float32 ones).
 *
 * Systems: steme (mode f32 always; mode u8 on fmnist: byte storage with
 * exact integer distances; each searched as the hot in-memory index and as
 * the cold file it saves, "form"), hnswlib (Debian's headers built in with
 * -O3 -march=native, bench/peers/hnswlib_peer.cpp) and faiss IndexHNSWFlat
 * (libfaiss.a, bench/peers/faiss_peer.cpp). The peers are weak symbols: a
 * build without them prints steme's lines only.
 *
 * Output, one JSON object per line:
 *   {"bench":"vector","set":S,"system":X,"mode":M,"case":"build","seconds":T}
 *   {"bench":"vector","set":S,"system":X,"mode":M,"form":F,"case":"search","ef":E,"recall":R,"qps":Q}
 *   {"bench":"vector","set":S,"system":"steme","mode":M,"case":"cold_open","ms":T,"file_mb":B}
 *   {"bench":"vector","set":S,"system":"steme","mode":M,"case":"memory","rss_mb":B}
 *   {"bench":"vector","set":S,"system":X,"mode":M,"form":F,"case":"at_recall","recall":R,"qps":Q,"vs_hnswlib":Z}
 * (at_recall: QPS interpolated on the ef curve at recall 0.95 and 0.99.)
 *
 * Searches: all systems are built first; then, for each ef, the queries
 * are answered in chunks of 500 with the systems interleaved chunk by
 * chunk, for STEME_BENCH_ROUNDS rounds (default 3); each system's QPS uses
 * its best time per chunk (see measure()). Builds run one after the other,
 * once each.
 * cold_open is the best of three opens of the saved file.
 *
 * Environment: STEME_BENCH_QUICK=1 uses 10,000 train vectors and 1,000
 * queries; STEME_BENCH_N / STEME_BENCH_NQ set them; STEME_BENCH_SETS=fmnist
 * or fmnist-proj128 runs one set; STEME_BENCH_ROUNDS as above.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../bench/peers/vector_peers.h"
#include "index/vector/vec_dist.h"
#include "steme/vector.h"

#pragma weak peer_hnswlib_build
#pragma weak peer_hnswlib_search
#pragma weak peer_hnswlib_free
#pragma weak peer_hnswlib_kernel
#pragma weak peer_faiss_build
#pragma weak peer_faiss_search
#pragma weak peer_faiss_free

#define K 10
#define NEF 5
static const int EFS[NEF] = {10, 20, 40, 80, 160};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static float *load_idx(const char *name, size_t want, size_t *got)
{
    const char *dir = getenv("STEME_FASHION_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/%s'", dir ? dir : "/usr/share/datasets/fashion-mnist",
             name);
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    unsigned char hdr[16];
    float *out = NULL;
    if (fread(hdr, 1, 16, f) == 16 && hdr[2] == 8 && hdr[3] == 3) {
        size_t n = ((size_t)hdr[4] << 24) | ((size_t)hdr[5] << 16) | ((size_t)hdr[6] << 8) | hdr[7];
        if (want > n)
            want = n;
        unsigned char *px = malloc(want * 784);
        if (px && fread(px, 784, want, f) == want) {
            out = malloc(sizeof(float) * want * 784);
            for (size_t i = 0; out && i < want * 784; i++)
                out[i] = px[i];
            *got = want;
        }
        free(px);
    }
    pclose(f);
    return out;
}

static steme_hash id_of(uint32_t i)
{
    steme_hash h;
    memset(h.bytes, 0x5a, sizeof h.bytes);
    memcpy(h.bytes, &i, sizeof i);
    return h;
}

/* Exact top-K of every query, by insertion into a sorted K-array. */
static uint32_t *ground_truth(const float *data, size_t n, const float *qs, size_t nq, size_t dim,
                              int bytes)
{
    const vec_kernels *kern = vec_kernels_get();
    uint32_t *gt = malloc(sizeof(uint32_t) * nq * K);
    uint8_t *bd = NULL, *bq = NULL;
    if (bytes) {
        bd = malloc(n * dim);
        bq = malloc(dim);
        for (size_t i = 0; i < n * dim; i++)
            bd[i] = (uint8_t)data[i];
    }
    for (size_t q = 0; q < nq; q++) {
        float best[K];
        uint32_t idx[K];
        size_t cnt = 0;
        if (bytes)
            for (size_t j = 0; j < dim; j++)
                bq[j] = (uint8_t)qs[q * dim + j];
        for (size_t i = 0; i < n; i++) {
            float d = bytes ? kern->l2_u8(bq, bd + i * dim, dim)
                            : kern->l2_f32(qs + q * dim, data + i * dim, dim);
            if (cnt == K && d >= best[K - 1])
                continue;
            size_t p = cnt < K ? cnt++ : K - 1;
            while (p > 0 && best[p - 1] > d) {
                best[p] = best[p - 1];
                idx[p] = idx[p - 1];
                p--;
            }
            best[p] = d;
            idx[p] = (uint32_t)i;
        }
        memcpy(gt + q * K, idx, sizeof idx);
    }
    free(bd);
    free(bq);
    return gt;
}

static double recall_of(const uint32_t *labels, const uint32_t *gt, size_t nq)
{
    size_t hit = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < K; i++)
            for (size_t j = 0; j < K; j++)
                if (labels[q * K + i] == gt[q * K + j]) {
                    hit++;
                    break;
                }
    return (double)hit / (double)(nq * K);
}

typedef void *(*peer_build)(const float *, size_t, size_t, int, int);
typedef void (*peer_search)(void *, const float *, size_t, size_t, int, uint32_t *);
typedef void (*peer_free)(void *);

/* One system under test: steme's hot or cold index, or a peer. */
typedef struct entry {
    const char *system, *mode, *form;
    steme_hnsw *hot;
    steme_vector_cold *cold;
    void *peer;
    peer_search psearch;
    peer_free pfree;
    double recall[NEF], qps[NEF];
} entry;

#define MAX_ENTRIES 8

typedef struct set_run {
    const char *name;
    const float *data, *qs;
    size_t n, nq, dim;
    const uint32_t *gt;
    entry e[MAX_ENTRIES];
    int ne;
} set_run;

static void print_build(set_run *s, const char *system, const char *mode, double sec)
{
    printf("{\"bench\":\"vector\",\"set\":\"%s\",\"system\":\"%s\",\"mode\":\"%s\",\"case\":\"build\","
           "\"seconds\":%.2f}\n", s->name, system, mode, sec);
    fflush(stdout);
}

/* Answer queries [q0, q1) at ef; labels[q*K + j]. */
static void run_queries(set_run *s, entry *e, int ef, size_t q0, size_t q1, uint32_t *labels)
{
    if (e->peer) {
        e->psearch(e->peer, s->qs + q0 * s->dim, q1 - q0, K, ef, labels + q0 * K);
        return;
    }
    for (size_t q = q0; q < q1; q++) {
        steme_vector_hit hits[K];
        size_t nh = 0;
        int rc = e->hot ? steme_hnsw_search(e->hot, s->qs + q * s->dim, K, (uint32_t)ef, hits, &nh)
                        : steme_vector_cold_search(e->cold, s->qs + q * s->dim, K, (uint32_t)ef, hits, &nh);
        if (rc != STEME_OK)
            nh = 0;
        for (size_t j = 0; j < K; j++) {
            uint32_t v = UINT32_MAX;
            if (j < nh)
                memcpy(&v, hits[j].id.bytes, sizeof v);
            labels[q * K + j] = v;
        }
    }
}

static void add_steme(set_run *s, steme_vector_storage st)
{
    const char *mode = st == STEME_VECTOR_U8 ? "u8" : "f32";
    steme_vector_options o;
    steme_vector_options_init(&o, (uint32_t)s->dim);
    o.storage = st;
    o.max_elements = s->n;
    steme_hnsw *h = NULL;
    steme_error err;
    if (steme_hnsw_create(&o, &h, &err) != STEME_OK) {
        fprintf(stderr, "vector bench: %s\n", err.message);
        return;
    }
    double m0 = rss_mb(), t0 = now();
    for (size_t i = 0; i < s->n; i++) {
        steme_hash id = id_of((uint32_t)i);
        if (steme_hnsw_add(h, &id, s->data + i * s->dim) != STEME_OK) {
            fprintf(stderr, "vector bench: add: %s\n", steme_hnsw_errmsg(h));
            steme_hnsw_free(h);
            return;
        }
    }
    print_build(s, "steme", mode, now() - t0);
    printf("{\"bench\":\"vector\",\"set\":\"%s\",\"system\":\"steme\",\"mode\":\"%s\",\"case\":\"memory\","
           "\"rss_mb\":%.1f}\n", s->name, mode, rss_mb() - m0);
    s->e[s->ne++] = (entry){.system = "steme", .mode = mode, .form = "hot", .hot = h};

    char path[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/steme-bench-vector-%d.vec", tmp ? tmp : "/tmp", (int)getpid());
    if (steme_hnsw_save(h, path, 0, &err) != STEME_OK) {
        fprintf(stderr, "vector bench: save: %s\n", err.message);
        return;
    }
    /* Best of three opens: the first one after the write may still be
     * waiting for writeback of the pages it maps. */
    steme_vector_cold *cold = NULL;
    double ms = 1e30;
    for (int r = 0; r < 3; r++) {
        steme_vector_cold *c = NULL;
        t0 = now();
        if (steme_vector_cold_open(path, &o, &c, &err) != STEME_OK) {
            fprintf(stderr, "vector bench: cold open: %s\n", err.message);
            break;
        }
        double t = (now() - t0) * 1e3;
        ms = t < ms ? t : ms;
        steme_vector_cold_close(cold);
        cold = c;
    }
    FILE *f = fopen(path, "rb");
    double mb = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        mb = (double)ftell(f) / 1048576.0;
        fclose(f);
    }
    unlink(path);
    if (!cold)
        return;
    printf("{\"bench\":\"vector\",\"set\":\"%s\",\"system\":\"steme\",\"mode\":\"%s\",\"case\":\"cold_open\","
           "\"ms\":%.1f,\"file_mb\":%.1f}\n", s->name, mode, ms, mb);
    s->e[s->ne++] = (entry){.system = "steme", .mode = mode, .form = "cold", .cold = cold};
}

static void add_peer(set_run *s, const char *system, peer_build b, peer_search sr, peer_free fr)
{
    if (!b || !sr || !fr) {
        fprintf(stderr, "vector bench: %s peer not linked in; skipped\n", system);
        return;
    }
    double t0 = now();
    void *idx = b(s->data, s->n, s->dim, 16, 200);
    if (!idx) {
        fprintf(stderr, "vector bench: %s build failed\n", system);
        return;
    }
    print_build(s, system, "f32", now() - t0);
    s->e[s->ne++] = (entry){.system = system, .mode = "f32", .form = "hot", .peer = idx,
                            .psearch = sr, .pfree = fr};
}

/* The queries are cut into chunks of CHUNK; for each ef, each round, each
 * chunk, every system answers the chunk in turn, and each keeps its best
 * time per chunk; its QPS is the query count over the sum of those best
 * times. The machines this runs on are shared: interleaving at this grain
 * puts every system in the same load windows, and the minimum per chunk
 * discards the windows where another process took the core. */
#define CHUNK 500

static void measure(set_run *s, int rounds)
{
    size_t nchunks = (s->nq + CHUNK - 1) / CHUNK;
    uint32_t *labels = malloc(sizeof(uint32_t) * s->nq * K);
    double *best = malloc(sizeof(double) * nchunks * MAX_ENTRIES);
    for (int e = 0; e < NEF; e++) {
        for (size_t i = 0; i < nchunks * MAX_ENTRIES; i++)
            best[i] = 1e30;
        for (int r = 0; r < rounds; r++)
            for (size_t c = 0; c < nchunks; c++) {
                size_t q0 = c * CHUNK, q1 = q0 + CHUNK < s->nq ? q0 + CHUNK : s->nq;
                for (int i = 0; i < s->ne; i++) {
                    double t0 = now();
                    run_queries(s, &s->e[i], EFS[e], q0, q1, labels);
                    double t = now() - t0;
                    if (t < best[i * nchunks + c])
                        best[i * nchunks + c] = t;
                }
            }
        for (int i = 0; i < s->ne; i++) {
            entry *x = &s->e[i];
            double total = 0;
            for (size_t c = 0; c < nchunks; c++)
                total += best[i * nchunks + c];
            x->qps[e] = (double)s->nq / total;
            /* Recall from one more full pass (results do not depend on
             * timing, so any pass will do). */
            run_queries(s, x, EFS[e], 0, s->nq, labels);
            x->recall[e] = recall_of(labels, s->gt, s->nq);
        }
    }
    free(best);
    free(labels);
    for (int i = 0; i < s->ne; i++)
        for (int e = 0; e < NEF; e++) {
            entry *x = &s->e[i];
            printf("{\"bench\":\"vector\",\"set\":\"%s\",\"system\":\"%s\",\"mode\":\"%s\",\"form\":\"%s\","
                   "\"case\":\"search\",\"ef\":%d,\"recall\":%.4f,\"qps\":%.0f}\n",
                   s->name, x->system, x->mode, x->form, EFS[e], x->recall[e], x->qps[e]);
        }
    fflush(stdout);
}

/* QPS at recall r, linear between the two ef points around it; -1 if the
 * curve never reaches r. At or above r already at ef 10: that point. */
static double qps_at(const entry *c, double r)
{
    if (c->recall[0] >= r)
        return c->qps[0];
    for (int e = 1; e < NEF; e++)
        if (c->recall[e] >= r) {
            double f = (r - c->recall[e - 1]) / (c->recall[e] - c->recall[e - 1]);
            return c->qps[e - 1] + f * (c->qps[e] - c->qps[e - 1]);
        }
    return -1;
}

static void summary(set_run *s)
{
    static const double targets[2] = {0.95, 0.99};
    const entry *ref = NULL;
    for (int i = 0; i < s->ne; i++)
        if (strcmp(s->e[i].system, "hnswlib") == 0)
            ref = &s->e[i];
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < s->ne; i++) {
            const entry *c = &s->e[i];
            double q = qps_at(c, targets[t]), rq = ref ? qps_at(ref, targets[t]) : -1;
            printf("{\"bench\":\"vector\",\"set\":\"%s\",\"system\":\"%s\",\"mode\":\"%s\",\"form\":\"%s\","
                   "\"case\":\"at_recall\",\"recall\":%.2f,\"qps\":%.0f,\"vs_hnswlib\":",
                   s->name, c->system, c->mode, c->form, targets[t], q);
            if (q > 0 && rq > 0)
                printf("%.2f}\n", q / rq);
            else
                printf("null}\n");
        }
    fflush(stdout);
}

static void run_set(set_run *s, int with_u8, int rounds)
{
    double t0 = now();
    s->gt = ground_truth(s->data, s->n, s->qs, s->nq, s->dim, with_u8);
    fprintf(stderr, "vector bench: %s ground truth in %.1f s\n", s->name, now() - t0);
    add_steme(s, STEME_VECTOR_F32);
    if (with_u8)
        add_steme(s, STEME_VECTOR_U8);
    add_peer(s, "hnswlib", peer_hnswlib_build, peer_hnswlib_search, peer_hnswlib_free);
    add_peer(s, "faiss", peer_faiss_build, peer_faiss_search, peer_faiss_free);
    measure(s, rounds);
    summary(s);
    for (int i = 0; i < s->ne; i++) {
        steme_hnsw_free(s->e[i].hot);
        steme_vector_cold_close(s->e[i].cold);
        if (s->e[i].peer)
            s->e[i].pfree(s->e[i].peer);
    }
    free((void *)s->gt);
}

/* Gaussian projection 784 -> 128 with a fixed seed (splitmix64 + Box-Muller). */
static float *project(const float *x, size_t n, const float *R)
{
    float *y = calloc(n * 128, sizeof *y);
    for (size_t v = 0; v < n; v++)
        for (size_t i = 0; i < 784; i++) {
            float xi = x[v * 784 + i];
            if (xi == 0)
                continue;
            for (size_t j = 0; j < 128; j++)
                y[v * 128 + j] += xi * R[i * 128 + j];
        }
    return y;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float *gaussian_matrix(void)
{
    float *R = malloc(sizeof(float) * 784 * 128);
    uint64_t s = 20240607;
    for (size_t i = 0; i < 784 * 128; i += 2) {
        double u1 = ((double)(splitmix(&s) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (double)(splitmix(&s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1)) / sqrt(128.0);
        R[i] = (float)(r * cos(2 * M_PI * u2));
        R[i + 1] = (float)(r * sin(2 * M_PI * u2));
    }
    return R;
}

int main(void)
{
    size_t want_n = 60000, want_q = 10000;
    if (getenv("STEME_BENCH_QUICK")) {
        want_n = 10000;
        want_q = 1000;
    }
    if (getenv("STEME_BENCH_N"))
        want_n = strtoul(getenv("STEME_BENCH_N"), NULL, 10);
    if (getenv("STEME_BENCH_NQ"))
        want_q = strtoul(getenv("STEME_BENCH_NQ"), NULL, 10);
    const char *sets = getenv("STEME_BENCH_SETS");
    int rounds = getenv("STEME_BENCH_ROUNDS") ? atoi(getenv("STEME_BENCH_ROUNDS")) : 3;
    if (rounds < 1)
        rounds = 1;
    size_t n = 0, nq = 0;
    float *train = load_idx("train-images-idx3-ubyte.gz", want_n, &n);
    float *test = load_idx("t10k-images-idx3-ubyte.gz", want_q, &nq);
    if (!train || !test) {
        fprintf(stderr, "vector bench: Fashion-MNIST not found (install dataset-fashion-mnist)\n");
        return 1;
    }
    fprintf(stderr, "vector bench: %zu vectors, %zu queries, kernels %s, hnswlib kernel %s\n", n, nq,
            vec_kernels_get()->name, peer_hnswlib_kernel ? peer_hnswlib_kernel() : "-");
    if (!sets || strcmp(sets, "fmnist") == 0) {
        set_run s = {.name = "fmnist", .data = train, .qs = test, .n = n, .nq = nq, .dim = 784};
        run_set(&s, 1, rounds);
    }
    if (!sets || strcmp(sets, "fmnist-proj128") == 0) {
        float *R = gaussian_matrix();
        float *ptrain = project(train, n, R), *ptest = project(test, nq, R);
        set_run s = {.name = "fmnist-proj128", .data = ptrain, .qs = ptest, .n = n, .nq = nq, .dim = 128};
        run_set(&s, 0, rounds);
        free(R);
        free(ptrain);
        free(ptest);
    }
    free(train);
    free(test);
    return 0;
}
