/*
 * index/visual/visual_verify.h - verifying runs of the multi-index hashing
 * tables (visual_verify.c), shared by the planners in visual_mih.c.
 *
 * Dedupe without a visited set. An entry is reported only from the first
 * table (in the plan's order) that catches it: a test on the candidate's
 * inline hash (a few popcounts), done only for candidates within the
 * radius. A visited array would cost a random write per candidate.
 */
#ifndef STEME_INDEX_VISUAL_VERIFY_H
#define STEME_INDEX_VISUAL_VERIFY_H

#include "index/visual/visual_int.h"

/* What one verification step needs: the tables in probe order and, per
 * position, the largest substring distance that means "already reported"
 * (-1: never). */
typedef struct vs_step {
    uint64_t st_mask[MIH_TABLES];
    int st_thr[MIH_TABLES];
    unsigned st_n;
    /* Pair mode (st_pair >= 0): report from table st_table an entry for
     * which pair(st_table, st_pair) holds and pair(u, st_pair) holds for no
     * earlier table u, nor pair(u, st_done) for any u (st_done >= 0: those
     * were handled by an earlier k-NN step). */
    int st_pair;
    int st_done;
    unsigned st_table;
} vs_step;

/*
 * A prefetch cursor over runs verified in array order (pair plans): it keeps
 * the memory reads VS_PF_AHEAD entries ahead of the kernel, across runs and
 * tables. A pair plan at r = 4 reads ~7k hashes (55 KB) in ~70 short runs
 * at random places in ~65 MB of tables; without the cursor the kernel
 * waited for each run's lines in turn (half the query time).
 */
typedef struct vs_pf {
    const mih_range *pf_ranges;
    size_t pf_i;       /* run being prefetched */
    size_t pf_end;     /* runs [.., pf_end) */
    uint32_t pf_pos;   /* next entry of run pf_i to request */
} vs_pf;

/* Start a cursor over ranges[rb, re) and request the first entries. */
void vs_pf_start(const steme_visual *v, vs_pf *pf, const mih_range *ranges, size_t rb,
                 size_t re);

/*
 * Verify the runs [rb, re) of `ranges` (all of table t) at radius r (k-NN:
 * at kn's tau): radius hits go to out with their ids deferred (the caller
 * runs vs_fill_ids), k-NN candidates to kn; each entry only if *step says
 * table t reports it. pf (optional): the cursor started over these runs
 * (and any verified after them). STEME_OK or STEME_E_NOMEM.
 */
int vs_verify(const steme_visual *v, uint64_t q, unsigned r, unsigned t,
              const mih_range *ranges, size_t rb, size_t re, const vs_step *step,
              steme_visual_hits *out, vs_knn *kn, vs_pf *pf);

/*
 * The level-plan rule for position i of order[0, n): earlier tables report
 * what lies within `before` bits on their substring, later ones what lies
 * within `after` (-1: none).
 */
void vs_step_levels(vs_step *st, const unsigned *order, unsigned n, unsigned i, int before,
                    int after);

/*
 * Start the memory reads of every range before verifying any: the runs lie
 * at random places in tables of tens of megabytes, and a run's first lines
 * otherwise cost a full memory latency each, one run after the other. Only
 * the first lines of each run are requested (the hardware prefetcher follows
 * a run once it is being read). A small gain (~3% at r = 4 on the 1M set).
 */
void vs_prefetch_ranges(const steme_visual *v, const mih_range *ranges, size_t rb, size_t re);

#endif
