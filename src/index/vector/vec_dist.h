/*
 * index/vector/vec_dist.h - distance kernels for the vector index, chosen
 * once per process from the CPU's features (core/cpu.h).
 *
 * Every kernel returns a float "distance" where smaller is closer:
 *   l2   sum of squared differences
 *   ip   1 - dot product (cosine uses ip on normalised vectors)
 * Operand forms: f32 (float), u8 (bytes 0..255). The u8/u8 kernels are
 * exact: they sum in int32 (4096 * 255^2 < 2^31) and convert once, so they
 * return the float nearest the true value, as good as any f32 kernel. The
 * f32/u8 kernels take a float query against byte data.
 */
#ifndef STEME_INDEX_VEC_DIST_H
#define STEME_INDEX_VEC_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef float (*vec_dist_fn)(const void *a, const void *b, size_t dim);

typedef struct vec_kernels {
    vec_dist_fn l2_f32;     /* a f32, b f32 */
    vec_dist_fn ip_f32;
    vec_dist_fn l2_u8;      /* a u8, b u8 */
    vec_dist_fn ip_u8;
    vec_dist_fn l2_f32u8;   /* a f32, b u8 */
    vec_dist_fn ip_f32u8;
    const char *name;       /* "avx512", "avx2", "scalar" */
} vec_kernels;

/* The best kernels for this CPU (after STEME_CPU_MASK). Never NULL. */
const vec_kernels *vec_kernels_get(void);

/* Per-level tables, for tests comparing every kernel with the scalar one.
 * NULL when the CPU lacks the level. */
const vec_kernels *vec_kernels_scalar(void);
const vec_kernels *vec_kernels_avx2(void);
const vec_kernels *vec_kernels_avx512(void);

#endif
