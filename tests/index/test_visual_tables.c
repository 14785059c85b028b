/*
 * test_visual_tables.c - the visual index's building blocks against brute
 * force: every threshold kernel this CPU has (plain and with exclusions),
 * the substring masks and the bit permutation, the pair-key runs of the
 * hashing tables (exactly the entries they stand for, with and without the
 * side tables of big cells, u16 and u32), and the large-array allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "index/visual/bigalloc.h"
#include "index/visual/hamming.h"
#include "index/visual/mih.h"
#include "index/visual/permute.h"
#include "testutil.h"

static uint64_t flip_bits(tu_rng *rng, uint64_t c, unsigned max_flips)
{
    unsigned f = (unsigned)tu_rng_below(rng, max_flips + 1);
    for (unsigned i = 0; i < f; i++)
        c ^= 1ull << tu_rng_below(rng, 64);
    return c;
}

/* ---- kernels ------------------------------------------------------------ */

static void kernels_agree_with_portable(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(11));
    static uint64_t codes[VH_BLOCK];
    static uint32_t i0[VH_BLOCK + VH_PAD], i1[VH_BLOCK + VH_PAD];
    static uint8_t d0[VH_BLOCK + VH_PAD], d1[VH_BLOCK + VH_PAD];
    const vh_kernel *ref = vh_kernel_at(vh_kernel_count() - 1);
    assert_string_equal(ref->vk_name, "portable");
    size_t tested = 0;
    for (size_t ki = 0; ki < vh_kernel_count(); ki++) {
        const vh_kernel *k = vh_kernel_at(ki);
        if (!vh_kernel_usable(k))
            continue;
        tested++;
        for (int round = 0; round < 300; round++) {
            size_t n = round < 100 ? (size_t)round : (size_t)tu_rng_below(&rng, VH_BLOCK + 1);
            uint64_t q = tu_rng_next(&rng);
            for (size_t i = 0; i < n; i++)
                codes[i] = flip_bits(&rng, q, (unsigned)tu_rng_below(&rng, 40));
            unsigned r = (unsigned)tu_rng_below(&rng, 65);
            size_t a = ref->vk_scan(codes, n, q, r, i0, d0);
            size_t b = k->vk_scan(codes, n, q, r, i1, d1);
            assert_int_equal(a, b);
            assert_memory_equal(i0, i1, a * sizeof *i0);
            assert_memory_equal(d0, d1, a);
        }
    }
    fprintf(stderr, "kernels tested: %zu (best here: %s)\n", tested, vh_best()->vk_name);
    assert_true(tested >= 1);
}

/* Scans with exclusions equal a brute-force filter, for every kernel, with
 * the padding the kernels may write past the hits. */
static void exclusion_kernels_match(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(12));
    static uint64_t codes[VH_BLOCK];
    static uint32_t idx[VH_BLOCK + VH_PAD];
    static uint8_t dist[VH_BLOCK + VH_PAD];
    for (size_t ki = 0; ki < vh_kernel_count(); ki++) {
        const vh_kernel *k = vh_kernel_at(ki);
        if (!vh_kernel_usable(k))
            continue;
        for (int round = 0; round < 300; round++) {
            size_t n = round < 40 ? (size_t)round : (size_t)tu_rng_below(&rng, VH_BLOCK + 1);
            uint64_t q = tu_rng_next(&rng);
            for (size_t i = 0; i < n; i++)
                codes[i] = flip_bits(&rng, q, (unsigned)tu_rng_below(&rng, 12));
            unsigned r = (unsigned)tu_rng_below(&rng, 10);
            vh_excl ex;
            ex.ex_n = (unsigned)tu_rng_below(&rng, VH_MAX_EXCL + 1);
            for (unsigned j = 0; j < ex.ex_n; j++) {
                unsigned a = (unsigned)tu_rng_below(&rng, MIH_TABLES);
                ex.ex_ma[j] = mih_umask(a);
                ex.ex_mb[j] = j & 1 ? 0 : mih_umask(mih_partner(a));
                ex.ex_ta[j] = (uint8_t)tu_rng_below(&rng, 2);
                ex.ex_tb[j] = (uint8_t)tu_rng_below(&rng, 3);
            }
            /* Runs: the whole array, or pieces of it with gaps between
             * them (empty runs included), scanned in order. */
            vh_run runs[64];
            size_t nruns = 0;
            if (round % 2 == 0 || n == 0) {
                runs[nruns++] = (vh_run){0, (uint32_t)n};
            } else {
                uint32_t at = 0;
                while (at < n && nruns < 64) {
                    uint32_t b = at + (uint32_t)tu_rng_below(&rng, 20);
                    uint32_t e = b + (uint32_t)tu_rng_below(&rng, 300);
                    if (b > n)
                        b = (uint32_t)n;
                    if (e > n)
                        e = (uint32_t)n;
                    runs[nruns++] = (vh_run){b, e};
                    at = e;
                }
            }
            size_t got = k->vk_scan_excl(codes, runs, nruns, q, r, &ex, idx, dist), want = 0;
            for (size_t ri = 0; ri < nruns; ri++) {
                for (size_t i = runs[ri].vr_begin; i < runs[ri].vr_end; i++) {
                    uint64_t x = codes[i] ^ q;
                    unsigned d = (unsigned)__builtin_popcountll(x);
                    int skip = 0;
                    for (unsigned j = 0; j < ex.ex_n; j++)
                        skip |= (unsigned)__builtin_popcountll(x & ex.ex_ma[j]) <= ex.ex_ta[j] &&
                                (unsigned)__builtin_popcountll(x & ex.ex_mb[j]) <= ex.ex_tb[j];
                    if (d > r || skip)
                        continue;
                    assert_true(want < got);
                    assert_int_equal(idx[want], i);
                    assert_int_equal(dist[want], d);
                    want++;
                }
            }
            assert_int_equal(got, want);
        }
    }
}

/* The substrings partition the 64 bits; probe counts are binomials. */
static void substrings_and_probes(void **state)
{
    (void)state;
    uint64_t all = 0;
    unsigned bits = 0;
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        assert_int_equal(all & mih_mask(t), 0);
        all |= mih_mask(t);
        bits += mih_bits(t);
        assert_int_equal(mih_key(mih_mask(t), t), (1u << mih_bits(t)) - 1u);
    }
    assert_true(all == UINT64_MAX);
    assert_int_equal(bits, 64);
    /* Stored hashes are unpermuted: substring t is the bits i = t (mod 5),
     * which the permutation gathers into the contiguous key bits. */
    uint64_t uall = 0;
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        assert_int_equal(__builtin_popcountll(mih_umask(t)), mih_bits(t));
        assert_true(vp_forward(mih_umask(t)) == mih_mask(t));
        assert_true(vp_inverse(mih_mask(t)) == mih_umask(t));
        uall |= mih_umask(t);
    }
    assert_true(uall == UINT64_MAX);
    /* The permutation against its definition, bit by bit (input bit i goes
     * to bit 13 * (i mod 5) + i / 5), on single bits and random hashes,
     * and the inverse undoes it. */
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(17));
    for (unsigned n = 0; n < 64 + 2000; n++) {
        uint64_t h = n < 64 ? 1ull << n : tu_rng_next(&rng), want = 0;
        for (unsigned i = 0; i < 64; i++)
            if (h >> i & 1)
                want |= 1ull << (13 * (i % 5) + i / 5);
        assert_true(vp_forward(h) == want);
        assert_true(vp_inverse(want) == h);
    }
    assert_true(vp_forward(0) == 0 && vp_forward(UINT64_MAX) == UINT64_MAX);
    assert_int_equal(mih_probes_at_level(0, 0), 1);
    assert_int_equal(mih_probes_at_level(0, 1), 13);
    assert_int_equal(mih_probes_at_level(0, 2), 78);
    assert_int_equal(mih_probes_at_level(0, 13), 1);
    assert_int_equal(mih_probes_at_level(4, 12), 1);
    assert_int_equal(mih_probes_at_level(4, 13), 0);
}

/*
 * Build tables over codes[0, n) and check, for `rounds` queries (near
 * `centre` or stored hashes), that the pair probes return exactly the
 * entries equal to the query on substring t and within s2 of it on the
 * partner (no more, no fewer), and that the tables are sorted by pair key.
 */
static void check_pair_runs(tu_rng *rng, const uint64_t *codes, size_t n, uint64_t centre,
                            int rounds, size_t *biggest_cell)
{
    uint64_t *pc = malloc(n * sizeof *pc);
    uint32_t *order = malloc(n * sizeof *order);
    assert_true(pc && order);
    for (size_t i = 0; i < n; i++)
        pc[i] = vp_forward(codes[i]);
    /* Tables want their input sorted by table 0's pair key. */
    assert_int_equal(mih_sort(pc, n, 0, order), 0);
    uint64_t *sc = malloc(n * sizeof *sc), *sp = malloc(n * sizeof *sp);
    assert_true(sc && sp);
    for (size_t i = 0; i < n; i++) {
        sc[i] = codes[order[i]];
        sp[i] = pc[order[i]];
        if (i > 0)
            assert_true(mih_pkey(sp[i - 1], 0) <= mih_pkey(sp[i], 0));
    }
    mih_tables m;
    mih_init(&m);
    assert_int_equal(mih_build(&m, sc, sp, n), 0);
    *biggest_cell = 0;
    for (unsigned t = 0; t < MIH_TABLES; t++)
        for (uint32_t c = 0; c < mih_dir_size(t); c++)
            if (m.mh_off[t][c + 1] - m.mh_off[t][c] > *biggest_cell)
                *biggest_cell = m.mh_off[t][c + 1] - m.mh_off[t][c];
    mih_range *ranges = NULL;
    size_t cap = 0;
    uint8_t *seen = malloc(n);
    assert_non_null(seen);
    for (int round = 0; round < rounds; round++) {
        uint64_t q = round % 3 == 0   ? flip_bits(rng, centre, 3)
                     : round % 3 == 1 ? sc[tu_rng_below(rng, n)]
                                      : flip_bits(rng, sc[tu_rng_below(rng, n)], 1);
        uint64_t pq = vp_forward(q);
        for (unsigned s2 = 0; s2 <= 1; s2++) {
            size_t nr = 0, at[MIH_TABLES + 1];
            uint64_t total = 0, lookups = 0;
            assert_int_equal(mih_gather_pairs(&m, pq, s2, &ranges, &nr, &cap, at, &total,
                                              &lookups), 0);
            for (unsigned t = 0; t < MIH_TABLES; t++) {
                memset(seen, 0, n);
                size_t found = 0;
                for (size_t i = at[t]; i < at[t + 1]; i++) {
                    assert_int_equal(ranges[i].mr_table, t);
                    for (uint32_t e = ranges[i].mr_begin; e < ranges[i].mr_end; e++) {
                        uint32_t slot = t == 0 ? e : m.mh_slot[t][e];
                        uint64_t c = t == 0 ? sc[e] : m.mh_code[t][e];
                        assert_true(c == sc[slot]);
                        assert_int_equal(seen[slot], 0);
                        seen[slot] = 1;
                        found++;
                    }
                }
                size_t want = 0;
                for (size_t i = 0; i < n; i++) {
                    uint64_t x = sc[i] ^ q;
                    int in = __builtin_popcountll(x & mih_umask(t)) == 0 &&
                             (unsigned)__builtin_popcountll(x & mih_umask(mih_partner(t))) <= s2;
                    want += (size_t)in;
                    assert_int_equal(seen[i], in);
                }
                assert_int_equal(found, want);
            }
        }
    }
    free(seen);
    free(ranges);
    mih_free(&m);
    free(pc);
    free(order);
    free(sc);
    free(sp);
}

/* Clustered hashes with repeats: cells from a few entries to thousands
 * (those keep side tables in place of their tags, mih.h). */
static void pair_runs_are_exact(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(13));
    size_t n = 20000, biggest = 0;
    uint64_t *codes = malloc(n * sizeof *codes);
    assert_non_null(codes);
    uint64_t centre = tu_rng_next(&rng);
    for (size_t i = 0; i < n; i++) {
        codes[i] = i % 7 == 0 ? tu_rng_next(&rng) : flip_bits(&rng, centre, 6);
        if (i > 0 && i % 5 == 0)
            codes[i] = codes[i - 1];
    }
    check_pair_runs(&rng, codes, n, centre, 60, &biggest);
    assert_true(biggest >= MIH_SIDE_MIN && biggest <= UINT16_MAX);
    free(codes);
}

/* One cell of more than 65535 entries in every table (its side table
 * holds u32 counts), beside cells just under and over MIH_SIDE_MIN. */
static void pair_runs_in_huge_cells(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(14));
    size_t n = 80000, biggest = 0;
    uint64_t *codes = malloc(n * sizeof *codes);
    assert_non_null(codes);
    uint64_t centre = tu_rng_next(&rng), other = tu_rng_next(&rng);
    for (size_t i = 0; i < n; i++) {
        if (i < 76000)
            codes[i] = i % 16 == 0 ? flip_bits(&rng, centre, 2) : centre;
        else if (i < 76000 + MIH_SIDE_MIN - 1)
            codes[i] = other;                        /* one cell just under */
        else if (i < 76000 + 2 * MIH_SIDE_MIN)
            codes[i] = flip_bits(&rng, ~other, 1);   /* and cells around the bound */
        else
            codes[i] = tu_rng_next(&rng);
    }
    check_pair_runs(&rng, codes, n, centre, 8, &biggest);
    assert_true(biggest > UINT16_MAX);
    free(codes);
}

/* Large-array blocks: content kept across resizes over the mapping
 * threshold, both ways; zeroed blocks are zero. */
static void big_blocks_resize(void **state)
{
    (void)state;
    size_t small = 1000, big = (size_t)5 << 20;
    uint8_t *p = vb_alloc(small);
    assert_non_null(p);
    for (size_t i = 0; i < small; i++)
        p[i] = (uint8_t)i;
    p = vb_realloc(p, big);
    assert_non_null(p);
    for (size_t i = 0; i < small; i++)
        assert_int_equal(p[i], (uint8_t)i);
    memset(p, 7, big);
    p = vb_realloc(p, small);
    assert_non_null(p);
    for (size_t i = 0; i < small; i++)
        assert_int_equal(p[i], 7);
    vb_free(p);
    uint8_t *z = vb_calloc(big);
    assert_non_null(z);
    assert_int_equal(z[0] | z[big / 2] | z[big - 1], 0);
    vb_free(z);
    vb_free(NULL);
    assert_null(vb_alloc(SIZE_MAX - 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kernels_agree_with_portable),
        cmocka_unit_test(exclusion_kernels_match),
        cmocka_unit_test(substrings_and_probes),
        cmocka_unit_test(pair_runs_are_exact),
        cmocka_unit_test(pair_runs_in_huge_cells),
        cmocka_unit_test(big_blocks_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
