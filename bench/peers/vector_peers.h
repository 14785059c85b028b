/*
 * bench/peers/vector_peers.h - the C interface of the bench's C++ peers
 * (hnswlib_peer.cpp, faiss_peer.cpp). bench/vector.c declares these weak:
 * a build without the peers still links and prints only steme's lines.
 *
 * build  index n vectors of dim floats (row i labelled i) with HNSW
 *        parameters M and ef_construction on one thread; NULL on failure.
 * search the k nearest of each of nq queries at ef; labels[q*k + j].
 */
#ifndef STEME_BENCH_VECTOR_PEERS_H
#define STEME_BENCH_VECTOR_PEERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void *peer_hnswlib_build(const float *data, size_t n, size_t dim, int M, int ef_construction);
void peer_hnswlib_search(void *index, const float *queries, size_t nq, size_t k, int ef,
                         uint32_t *labels);
void peer_hnswlib_free(void *index);
const char *peer_hnswlib_kernel(void);

void *peer_faiss_build(const float *data, size_t n, size_t dim, int M, int ef_construction);
void peer_faiss_search(void *index, const float *queries, size_t nq, size_t k, int ef,
                       uint32_t *labels);
void peer_faiss_free(void *index);

#ifdef __cplusplus
}
#endif
#endif
