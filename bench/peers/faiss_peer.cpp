// bench/peers/faiss_peer.cpp - faiss IndexHNSWFlat (Debian's libfaiss-dev,
// the static library) as a peer of bench/vector.c, on one OpenMP thread.
// Searches go in one call for all queries, faiss's best case.
#include <faiss/IndexHNSW.h>
#include <omp.h>

#include <vector>

#include "vector_peers.h"

extern "C" void *peer_faiss_build(const float *data, size_t n, size_t dim, int M, int efc)
{
    try {
        omp_set_num_threads(1);
        auto *idx = new faiss::IndexHNSWFlat(static_cast<int>(dim), M);
        idx->hnsw.efConstruction = efc;
        idx->add(static_cast<faiss::Index::idx_t>(n), data);
        return idx;
    } catch (...) {
        return nullptr;
    }
}

extern "C" void peer_faiss_search(void *index, const float *queries, size_t nq, size_t k, int ef,
                                  uint32_t *labels)
{
    auto *idx = static_cast<faiss::IndexHNSWFlat *>(index);
    idx->hnsw.efSearch = ef;
    std::vector<float> d(nq * k);
    std::vector<faiss::Index::idx_t> l(nq * k);
    idx->search(static_cast<faiss::Index::idx_t>(nq), queries, static_cast<faiss::Index::idx_t>(k), d.data(), l.data());
    for (size_t i = 0; i < nq * k; i++)
        labels[i] = l[i] < 0 ? UINT32_MAX : static_cast<uint32_t>(l[i]);
}

extern "C" void peer_faiss_free(void *index)
{
    delete static_cast<faiss::IndexHNSWFlat *>(index);
}
