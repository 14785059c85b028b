/*
 * blake3.c - the BLAKE3 hasher: chunk state, chaining-value stack, modes,
 * extendable output, and the run-time choice of kernel (see steme/hash.h
 * and blake3_int.h for the tree layout).
 *
 * Incremental hashing (paper, section 5.1). The hasher holds the chunk in
 * progress and a stack of chaining values (CVs) of completed subtrees, one
 * per 1-bit of the number of completed chunks, largest at the bottom. A
 * chunk is completed only when input past its end arrives, because the last
 * chunk of the message may be the root and needs the ROOT flag; that delay
 * is the "lazy" part of the merging. Pushing the CV of a subtree that ends
 * at chunk count t merges with the top of the stack while t has trailing
 * zero bits, which keeps the stack equal to the binary form of t.
 *
 * Bulk input (update with more than one chunk beyond the current one):
 * up to B3_BATCH whole chunks are hashed by the SIMD kernel in one call, one
 * chunk per lane. Their CVs are then cut into runs of 2^k chunks aligned to
 * 2^k (the same subtrees the tree has), each run is reduced level by level,
 * parents also hashed many at once, and each run's CV is pushed as above.
 */
#include "core/blake3_int.h"
#include "core/cpu.h"

/* Chunks hashed per kernel call: 64 KiB of input, 2 KiB of CVs on the stack. */
#define B3_BATCH 64

static const struct {
    b3_hash_many_fn fn;
    uint8_t degree;
    uint32_t need;
    const char *name;
} b3_impls[B3_IMPL_COUNT] = {
    [B3_IMPL_PORTABLE] = {b3_hash_many_portable, 1, 0, "portable"},
    [B3_IMPL_SSE41] = {b3_hash_many_sse41, 4, STEME_CPU_SSE41, "sse41"},
    [B3_IMPL_AVX2] = {b3_hash_many_avx2, 8, STEME_CPU_AVX2 | STEME_CPU_SSE41, "avx2"},
    [B3_IMPL_AVX512] = {b3_hash_many_avx512, 16,
                        STEME_CPU_AVX512F | STEME_CPU_AVX2 | STEME_CPU_SSE41, "avx512"},
};

b3_hash_many_fn b3_impl_hash_many(b3_impl impl)
{
    return (unsigned)impl < B3_IMPL_COUNT ? b3_impls[impl].fn : b3_hash_many_portable;
}

size_t b3_impl_degree(b3_impl impl)
{
    return (unsigned)impl < B3_IMPL_COUNT ? b3_impls[impl].degree : 1;
}

bool b3_impl_supported(b3_impl impl)
{
    return (unsigned)impl < B3_IMPL_COUNT && steme_cpu_has(b3_impls[impl].need);
}

b3_impl b3_impl_best(void)
{
    for (int i = B3_IMPL_COUNT - 1; i > 0; i--)
        if (b3_impl_supported((b3_impl)i))
            return (b3_impl)i;
    return B3_IMPL_PORTABLE;
}

const char *b3_impl_name(b3_impl impl)
{
    return (unsigned)impl < B3_IMPL_COUNT ? b3_impls[impl].name : "unknown";
}

/* ---- output: the last compression of a node, kept uncompressed ---------- */

/* Everything needed to compress a node once more: for its CV, or as root. */
typedef struct b3_output {
    uint32_t cv[8];
    uint8_t block[B3_BLOCK_LEN];
    uint8_t block_len;
    uint8_t flags;
    uint64_t counter;
} b3_output;

static void output_cv(const b3_output *o, uint8_t out[B3_OUT_LEN])
{
    uint32_t cv[8];
    memcpy(cv, o->cv, sizeof cv);
    b3_compress_in_place(cv, o->block, o->block_len, o->counter, o->flags);
    for (int i = 0; i < 8; i++)
        b3_store32(out + 4 * i, cv[i]);
}

/* Root output bytes from stream position seek: block counter = seek / 64. */
static void output_root_bytes(const b3_output *o, uint64_t seek, uint8_t *out, size_t len)
{
    uint64_t counter = seek / B3_BLOCK_LEN;
    size_t skip = (size_t)(seek % B3_BLOCK_LEN);
    uint8_t buf[B3_BLOCK_LEN];
    while (len > 0) {
        b3_compress_xof(o->cv, o->block, o->block_len, counter, o->flags | B3_ROOT, buf);
        size_t take = B3_BLOCK_LEN - skip;
        if (take > len)
            take = len;
        memcpy(out, buf + skip, take);
        out += take;
        len -= take;
        skip = 0;
        counter++;
    }
}

static void parent_output(b3_output *o, const uint8_t left[B3_OUT_LEN],
                          const uint8_t right[B3_OUT_LEN], const uint32_t key[8], uint8_t flags)
{
    memcpy(o->cv, key, sizeof o->cv);
    memcpy(o->block, left, B3_OUT_LEN);
    memcpy(o->block + B3_OUT_LEN, right, B3_OUT_LEN);
    o->block_len = B3_BLOCK_LEN;
    o->flags = flags | B3_PARENT;
    o->counter = 0;
}

/* ---- chunk state --------------------------------------------------------- */

static size_t chunk_len(const steme_blake3 *h)
{
    return (size_t)h->b3_blocks_done * B3_BLOCK_LEN + h->b3_buf_len;
}

static uint8_t chunk_start_flag(const steme_blake3 *h)
{
    return h->b3_blocks_done == 0 ? B3_CHUNK_START : 0;
}

static void chunk_reset(steme_blake3 *h, uint64_t counter)
{
    memcpy(h->b3_cv, h->b3_key, sizeof h->b3_cv);
    h->b3_chunk_counter = counter;
    h->b3_buf_len = 0;
    h->b3_blocks_done = 0;
}

/* Absorb len bytes into the chunk; the caller keeps the chunk <= 1 KiB. */
static void chunk_update(steme_blake3 *h, const uint8_t *in, size_t len)
{
    if (h->b3_buf_len > 0) {
        size_t take = B3_BLOCK_LEN - h->b3_buf_len;
        if (take > len)
            take = len;
        memcpy(h->b3_buf + h->b3_buf_len, in, take);
        h->b3_buf_len += (uint8_t)take;
        in += take;
        len -= take;
        if (len == 0)
            return;   /* a full buffer may be the chunk's last block: keep it */
        b3_compress_in_place(h->b3_cv, h->b3_buf, B3_BLOCK_LEN, h->b3_chunk_counter,
                             h->b3_flags | chunk_start_flag(h));
        h->b3_blocks_done++;
        h->b3_buf_len = 0;
    }
    /* Whole blocks straight from the input, except the last (it may end the chunk). */
    while (len > B3_BLOCK_LEN) {
        b3_compress_in_place(h->b3_cv, in, B3_BLOCK_LEN, h->b3_chunk_counter,
                             h->b3_flags | chunk_start_flag(h));
        h->b3_blocks_done++;
        in += B3_BLOCK_LEN;
        len -= B3_BLOCK_LEN;
    }
    memcpy(h->b3_buf, in, len);
    h->b3_buf_len = (uint8_t)len;
}

static void chunk_output(const steme_blake3 *h, b3_output *o)
{
    memcpy(o->cv, h->b3_cv, sizeof o->cv);
    memset(o->block, 0, sizeof o->block);
    memcpy(o->block, h->b3_buf, h->b3_buf_len);
    o->block_len = h->b3_buf_len;
    o->flags = h->b3_flags | chunk_start_flag(h) | B3_CHUNK_END;
    o->counter = h->b3_chunk_counter;
}

/* ---- chaining-value stack ------------------------------------------------ */

/*
 * Push the CV of a completed subtree. `total` is the number of completed
 * chunks counted in units of the subtree's size (so it is odd exactly when
 * the subtree has no left sibling waiting on the stack).
 */
static void stack_push(steme_blake3 *h, const uint8_t cv_in[B3_OUT_LEN], uint64_t total)
{
    uint8_t cv[B3_OUT_LEN];
    memcpy(cv, cv_in, sizeof cv);
    while ((total & 1) == 0 && h->b3_stack_len > 0) {
        b3_output o;
        h->b3_stack_len--;
        parent_output(&o, h->b3_stack + (size_t)h->b3_stack_len * B3_OUT_LEN, cv,
                      h->b3_key, h->b3_flags);
        output_cv(&o, cv);
        total >>= 1;
    }
    memcpy(h->b3_stack + (size_t)h->b3_stack_len * B3_OUT_LEN, cv, sizeof cv);
    h->b3_stack_len++;
}

/* Hash m whole chunks (m <= B3_BATCH), none of them the last of the input. */
static void hash_chunk_batch(steme_blake3 *h, const uint8_t *in, size_t m)
{
    const uint8_t *ptrs[B3_BATCH];
    uint8_t cvs[B3_BATCH * B3_OUT_LEN];
    uint8_t tmp[B3_BATCH / 2 * B3_OUT_LEN];
    b3_hash_many_fn hash_many = b3_impl_hash_many((b3_impl)h->b3_impl);
    uint64_t base = h->b3_chunk_counter;

    for (size_t j = 0; j < m; j++)
        ptrs[j] = in + j * B3_CHUNK_LEN;
    hash_many(ptrs, m, B3_CHUNK_LEN / B3_BLOCK_LEN, h->b3_key, base, true, h->b3_flags,
              B3_CHUNK_START, B3_CHUNK_END, cvs);

    size_t i = 0;
    while (i < m) {
        uint64_t pos = base + i;
        size_t n = 1;
        unsigned log2n = 0;
        /* Largest aligned power-of-two run: it is one subtree of the tree. */
        while (2 * n <= m - i && (pos & (2 * n - 1)) == 0) {
            n *= 2;
            log2n++;
        }
        uint8_t *run = cvs + i * B3_OUT_LEN;
        for (size_t cnt = n; cnt > 1; cnt /= 2) {
            for (size_t j = 0; j < cnt / 2; j++)
                ptrs[j] = run + j * 2 * B3_OUT_LEN;
            hash_many(ptrs, cnt / 2, 1, h->b3_key, 0, false, h->b3_flags | B3_PARENT, 0, 0,
                      tmp);
            memcpy(run, tmp, cnt / 2 * B3_OUT_LEN);
        }
        stack_push(h, run, (pos + n) >> log2n);
        i += n;
    }
    h->b3_chunk_counter = base + m;
}

/* ---- public API ----------------------------------------------------------- */

static void hasher_init(steme_blake3 *h, const uint32_t key[8], uint8_t flags)
{
    memcpy(h->b3_key, key, sizeof h->b3_key);
    h->b3_flags = flags;
    h->b3_impl = (uint8_t)b3_impl_best();
    h->b3_stack_len = 0;
    chunk_reset(h, 0);
}

void steme_blake3_init(steme_blake3 *h)
{
    if (h)
        hasher_init(h, b3_iv, 0);
}

int steme_blake3_init_keyed(steme_blake3 *h, const uint8_t key[STEME_BLAKE3_KEY_LEN])
{
    if (!h || !key)
        return STEME_E_INVALID;
    uint32_t words[8];
    for (int i = 0; i < 8; i++)
        words[i] = b3_load32(key + 4 * i);
    hasher_init(h, words, B3_KEYED_HASH);
    return STEME_OK;
}

int steme_blake3_init_derive_key(steme_blake3 *h, const char *context, size_t context_len)
{
    if (!h || !context)
        return STEME_E_INVALID;
    steme_blake3 ctx;
    uint8_t context_key[B3_OUT_LEN];
    hasher_init(&ctx, b3_iv, B3_DERIVE_KEY_CONTEXT);
    if (context_len > 0)
        steme_blake3_update(&ctx, context, context_len);
    steme_blake3_finalize(&ctx, context_key, sizeof context_key);
    uint32_t words[8];
    for (int i = 0; i < 8; i++)
        words[i] = b3_load32(context_key + 4 * i);
    hasher_init(h, words, B3_DERIVE_KEY_MATERIAL);
    return STEME_OK;
}

int b3_hasher_set_impl(steme_blake3 *h, b3_impl impl)
{
    if (!h || (unsigned)impl >= B3_IMPL_COUNT)
        return STEME_E_INVALID;
    if (!b3_impl_supported(impl))
        return STEME_E_UNSUPPORTED;
    h->b3_impl = (uint8_t)impl;
    return STEME_OK;
}

void steme_blake3_update(steme_blake3 *h, const void *data, size_t len)
{
    if (!h || !data || len == 0)
        return;
    const uint8_t *in = data;

    /* 1. Top up the chunk in progress; close it only if more input follows. */
    size_t have = chunk_len(h);
    if (have > 0) {
        size_t take = B3_CHUNK_LEN - have;
        if (take > len)
            take = len;
        chunk_update(h, in, take);
        in += take;
        len -= take;
        if (len == 0)
            return;
        b3_output o;
        uint8_t cv[B3_OUT_LEN];
        chunk_output(h, &o);
        output_cv(&o, cv);
        stack_push(h, cv, h->b3_chunk_counter + 1);
        chunk_reset(h, h->b3_chunk_counter + 1);
    }

    /* 2. Whole chunks that are certainly not the last: the SIMD kernels. */
    while (len > B3_CHUNK_LEN) {
        size_t m = (len - 1) / B3_CHUNK_LEN;
        if (m > B3_BATCH)
            m = B3_BATCH;
        hash_chunk_batch(h, in, m);
        in += m * B3_CHUNK_LEN;
        len -= m * B3_CHUNK_LEN;
    }

    /* 3. The rest (1..1024 bytes) starts a fresh chunk. */
    chunk_reset(h, h->b3_chunk_counter);
    chunk_update(h, in, len);
}

void steme_blake3_finalize_seek(const steme_blake3 *h, uint64_t seek, uint8_t *out,
                                size_t out_len)
{
    if (!h || !out || out_len == 0)
        return;
    /*
     * The chunk in progress is never empty when the stack is not (update
     * always leaves 1..1024 bytes in it), so it is the rightmost leaf.
     */
    b3_output o;
    chunk_output(h, &o);
    for (size_t n = h->b3_stack_len; n > 0; n--) {
        uint8_t cv[B3_OUT_LEN];
        output_cv(&o, cv);
        parent_output(&o, h->b3_stack + (n - 1) * B3_OUT_LEN, cv, h->b3_key, h->b3_flags);
    }
    output_root_bytes(&o, seek, out, out_len);
}

void steme_blake3_finalize(const steme_blake3 *h, uint8_t *out, size_t out_len)
{
    steme_blake3_finalize_seek(h, 0, out, out_len);
}

void steme_blake3_hash(const void *data, size_t len, steme_hash *out)
{
    if (!out)
        return;
    steme_blake3 h;
    steme_blake3_init(&h);
    steme_blake3_update(&h, data, len);
    steme_blake3_finalize(&h, out->bytes, sizeof out->bytes);
}
