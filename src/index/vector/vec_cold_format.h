/*
 * index/vector/vec_cold_format.h - the cold vector file, format version 1.
 *
 * A complete HNSW graph laid out so it can be searched straight from a
 * read-only memory map: every array the search touches is a section of the
 * file, at a 64-byte-aligned offset, in node order. Nothing is decoded or
 * copied at open.
 *
 *   offset  size  field (all integers little-endian)
 *   0       8     magic "STEMEVEC"
 *   8       4     version = 1
 *   12      4     header bytes = 256
 *   16      4     dim (1..4096)
 *   20      4     metric (1 L2, 2 cosine, 3 inner product)
 *   24      4     storage (0 f32, 1 u8)
 *   28      4     M (2..128; level-0 rows hold 2M links)
 *   32      4     ef_construction
 *   36      4     ef_search (default of searches on this file)
 *   40      4     top level (the entry node's level)
 *   44      4     entry node (0xffffffff when count = 0)
 *   48      8     count: nodes, deleted ones included (< 2^31)
 *   56      8     live: nodes not deleted
 *   64      8     WAL offset: the log records below it are in this file
 *   72      8     body bytes (file size - 256)
 *   80      8     upper words: u32 words in the upper-level pool
 *   88      64    8 section offsets from the file start, in this order:
 *                   ids     count x 32 B
 *                   dead    count x u8 (0 live, 1 deleted)
 *                   levels  count x u8 (<= top level)
 *                   by_id   count x u32 node numbers, sorted by id bytes
 *                   up_off  count x u64 word offset of a node's upper rows
 *                           in the pool (0 for level-0 nodes)
 *                   up_pool upper words x u32: per node of level L >= 1,
 *                           L rows of [count][M links] for levels 1..L
 *                   l0      count rows of [count][2M links] (u32)
 *                   vecs    count vectors, vstride = round_up(dim x 4 or
 *                           dim x 1, 64) bytes apart
 *   152     32    body digest: the body (bytes 256 .. end of file) is cut
 *                 into stripes of 16 MiB (the last one shorter); the digest
 *                 is BLAKE3-256 of the concatenated BLAKE3-256 digests of
 *                 the stripes (a two-level BLAKE3 tree, so that opening can
 *                 verify stripes on several cores)
 *   184     68    zero
 *   252     4     CRC-32C of header bytes 0..251
 *
 * Sections follow each other in the order above, each starting at the
 * first multiple of 64 after the previous one ends (the first at 256);
 * padding bytes are zero; the body ends where vecs ends.
 *
 * Validity rule (checked by steme_vector_cold_open before any use): the
 * size is 256 + body bytes; magic, version, header bytes and CRC match;
 * every field is in range and the section offsets equal the ones computed
 * from the fields; the body digest matches; every link names a node
 * below count, every row count is <= its capacity, every upper row lies in
 * the pool and names nodes whose level reaches the row's level, dead bytes
 * are 0 or 1 and live equals their zeros, by_id is sorted, and the entry
 * node has the top level. A file failing any check is refused as CORRUPT.
 *
 * Node numbers are the hot index's renumbered in breadth-first order from
 * the entry node over level 0 (unreached nodes after, in insertion order),
 * so nodes explored together by a search sit close in every section.
 */
#ifndef STEME_INDEX_VEC_COLD_FORMAT_H
#define STEME_INDEX_VEC_COLD_FORMAT_H

#include <stdint.h>

#define COLD_MAGIC "STEMEVEC"
#define COLD_VERSION 1u
#define COLD_HEADER_BYTES 256u
#define COLD_SECTIONS 8
#define COLD_STRIPE_BYTES (16u << 20)

enum { SEC_IDS, SEC_DEAD, SEC_LEVELS, SEC_BY_ID, SEC_UP_OFF, SEC_UP_POOL, SEC_L0, SEC_VECS };

/* Header field offsets. */
#define COLD_OFF_DIM 16
#define COLD_OFF_METRIC 20
#define COLD_OFF_STORAGE 24
#define COLD_OFF_M 28
#define COLD_OFF_EFC 32
#define COLD_OFF_EFS 36
#define COLD_OFF_TOP 40
#define COLD_OFF_ENTRY 44
#define COLD_OFF_COUNT 48
#define COLD_OFF_LIVE 56
#define COLD_OFF_WAL 64
#define COLD_OFF_BODY 72
#define COLD_OFF_UPWORDS 80
#define COLD_OFF_SECTIONS 88
#define COLD_OFF_BLAKE3 152
#define COLD_OFF_CRC 252

/* Section offsets (from the file start) and the end of the body. */
typedef struct cold_layout {
    uint64_t off[COLD_SECTIONS];
    uint64_t size[COLD_SECTIONS];
    uint64_t end;
} cold_layout;

static inline uint64_t cold_align64(uint64_t x)
{
    return (x + 63) & ~(uint64_t)63;
}

static inline void cold_layout_compute(uint64_t count, uint32_t M, uint64_t vstride,
                                       uint64_t up_words, cold_layout *l)
{
    l->size[SEC_IDS] = count * 32;
    l->size[SEC_DEAD] = count;
    l->size[SEC_LEVELS] = count;
    l->size[SEC_BY_ID] = count * 4;
    l->size[SEC_UP_OFF] = count * 8;
    l->size[SEC_UP_POOL] = up_words * 4;
    l->size[SEC_L0] = count * (1 + 2 * (uint64_t)M) * 4;
    l->size[SEC_VECS] = count * vstride;
    uint64_t at = COLD_HEADER_BYTES;
    for (int s = 0; s < COLD_SECTIONS; s++) {
        l->off[s] = cold_align64(at);
        at = l->off[s] + l->size[s];
    }
    l->end = at;
}

static inline void cold_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void cold_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t cold_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t cold_get64(const uint8_t *p)
{
    return (uint64_t)cold_get32(p) | (uint64_t)cold_get32(p + 4) << 32;
}

#endif
