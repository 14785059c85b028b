/*
 * tests/index/test_vector_lib.h - helpers shared by the vector index tests:
 * ids from numbers, random vectors, exact k-NN by brute force, recall.
 * Header-only (static functions), included by each test_vector*.c.
 */
#ifndef STEME_TEST_VECTOR_LIB_H
#define STEME_TEST_VECTOR_LIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steme/vector.h"
#include "testutil.h"

/* Id of item i: i little-endian, then a fixed pattern. */
static inline steme_hash vt_id(uint32_t i)
{
    steme_hash h;
    for (int b = 0; b < STEME_HASH_LEN; b++)
        h.bytes[b] = (uint8_t)(0xa5 ^ b);
    memcpy(h.bytes, &i, sizeof i);
    return h;
}

static inline uint32_t vt_id_num(const steme_hash *h)
{
    uint32_t i;
    memcpy(&i, h->bytes, sizeof i);
    return i;
}

/* Uniform floats in [-1, 1), or integers 0..255 when bytes is set. */
static inline float *vt_random_vectors(tu_rng *r, size_t n, uint32_t dim, int bytes)
{
    float *v = malloc(sizeof(float) * n * dim);
    for (size_t i = 0; i < n * dim; i++)
        v[i] = bytes ? (float)tu_rng_below(r, 256)
                     : (float)((double)(tu_rng_next(r) >> 11) / 4503599627370496.0 - 1.0);
    return v;
}

/* Reference distance in double precision, as the index defines it. */
static inline double vt_dist(steme_vector_metric m, const float *a, const float *b, uint32_t dim)
{
    double s = 0, na = 0, nb = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (m == STEME_VECTOR_L2) {
            double d = (double)a[i] - b[i];
            s += d * d;
        } else {
            s += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
    }
    if (m == STEME_VECTOR_L2)
        return s;
    if (m == STEME_VECTOR_COSINE)
        return 1.0 - s / sqrt(na * nb);
    return 1.0 - s;
}

typedef struct vt_pair {
    double d;
    uint32_t i;
} vt_pair;

static int vt_pair_cmp(const void *a, const void *b)
{
    const vt_pair *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* Exact k nearest among rows whose live[i] is set (live NULL: all). */
static inline size_t vt_exact(steme_vector_metric m, const float *data, size_t n, uint32_t dim,
                              const unsigned char *live, const float *q, size_t k, uint32_t *out)
{
    vt_pair *p = malloc(sizeof *p * (n ? n : 1));
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (!live || live[i]) {
            p[c].d = vt_dist(m, q, data + i * dim, dim);
            p[c].i = (uint32_t)i;
            c++;
        }
    qsort(p, c, sizeof *p, vt_pair_cmp);
    size_t r = c < k ? c : k;
    for (size_t i = 0; i < r; i++)
        out[i] = p[i].i;
    free(p);
    return r;
}

/* |found ∩ truth| for one query. */
static inline size_t vt_overlap(const steme_vector_hit *hits, size_t nh, const uint32_t *truth,
                                size_t nt)
{
    size_t c = 0;
    for (size_t i = 0; i < nh; i++) {
        uint32_t id = vt_id_num(&hits[i].id);
        for (size_t j = 0; j < nt; j++)
            if (truth[j] == id) {
                c++;
                break;
            }
    }
    return c;
}

#endif
