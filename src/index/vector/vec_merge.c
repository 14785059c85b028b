/*
 * vec_merge.c - merging the result lists of the hot and cold indexes
 * (steme_vector_merge_results, the original's merge_search_results).
 *
 * Both lists are sorted by distance. An id found in both means the newer
 * index holds a replacement of the older one's vector, so the older entry
 * is dropped wherever it ranks. Lists hold at most a few hundred entries,
 * so duplicates are found by comparing against the newer list directly;
 * no allocation.
 */
#include <string.h>

#include "steme/vector.h"

static int in_list(const steme_vector_hit *list, size_t n, const steme_hash *id)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(list[i].id.bytes, id->bytes, STEME_HASH_LEN) == 0)
            return 1;
    return 0;
}

int steme_vector_merge_results(const steme_vector_hit *newer, size_t n_newer,
                               const steme_vector_hit *older, size_t n_older, size_t k,
                               steme_vector_hit *out, size_t *n_out)
{
    if (!n_out || (!out && k) || (!newer && n_newer) || (!older && n_older))
        return STEME_E_INVALID;
    size_t i = 0, j = 0, o = 0;
    while (o < k && (i < n_newer || j < n_older)) {
        if (j < n_older && in_list(newer, n_newer, &older[j].id)) {
            j++;
            continue;
        }
        const steme_vector_hit *pick;
        if (i < n_newer && (j >= n_older || newer[i].distance <= older[j].distance))
            pick = &newer[i++];
        else
            pick = &older[j++];
        /* A list may itself repeat an id (never from one index; be safe
         * with caller-made lists): keep the first, best-ranked copy. */
        if (in_list(out, o, &pick->id))
            continue;
        out[o++] = *pick;
    }
    *n_out = o;
    return STEME_OK;
}
