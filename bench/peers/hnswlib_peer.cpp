// bench/peers/hnswlib_peer.cpp - hnswlib (Debian's libhnswlib-dev headers)
// as a peer of bench/vector.c. Built with -O3 -march=native so hnswlib gets
// the widest kernels this CPU has (its header picks AVX-512 / AVX by the
// compiler's macros): the bar is hnswlib at its best, not Debian's SSE-only
// python3-hnswlib. Queries are answered one at a time, as steme's are.
#include <hnswlib/hnswlib.h>

#include "vector_peers.h"

namespace {
struct Peer {
    hnswlib::L2Space space;
    hnswlib::HierarchicalNSW<float> index;
    Peer(size_t dim, size_t n, int M, int efc) : space(dim), index(&space, n, M, efc, 100) {}
};
}  // namespace

extern "C" void *peer_hnswlib_build(const float *data, size_t n, size_t dim, int M, int efc)
{
    try {
        Peer *p = new Peer(dim, n, M, efc);
        for (size_t i = 0; i < n; i++)
            p->index.addPoint(data + i * dim, i);
        return p;
    } catch (...) {
        return nullptr;
    }
}

extern "C" void peer_hnswlib_search(void *index, const float *queries, size_t nq, size_t k, int ef,
                                    uint32_t *labels)
{
    Peer *p = static_cast<Peer *>(index);
    p->index.setEf(ef);
    size_t dim = *static_cast<size_t *>(p->space.get_dist_func_param());
    for (size_t q = 0; q < nq; q++) {
        auto res = p->index.searchKnn(queries + q * dim, k);
        size_t got = res.size();
        for (size_t j = got; j < k; j++)
            labels[q * k + j] = UINT32_MAX;
        while (!res.empty()) {  // a max-heap: farthest first
            labels[q * k + --got] = static_cast<uint32_t>(res.top().second);
            res.pop();
        }
    }
}

extern "C" void peer_hnswlib_free(void *index)
{
    delete static_cast<Peer *>(index);
}

extern "C" const char *peer_hnswlib_kernel(void)
{
#if defined(USE_AVX512)
    return "avx512";
#elif defined(USE_AVX)
    return "avx";
#else
    return "sse";
#endif
}
