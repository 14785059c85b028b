/*
 * index/visual/bigalloc.h - allocation of the visual index's large arrays
 * (hashes, ids, table columns) on transparent huge pages where the kernel
 * offers them.
 *
 * Why: a query's hits, and the runs it probes, lie at random places in
 * ~100 MB of arrays; with 4 KiB pages nearly every such read also misses
 * the TLB (the second-level TLB covers ~12 MiB). Measured on the 1M set:
 * fetching the ids of a radius-4 query's ~1.1k hits takes 4.4 us on 4 KiB
 * pages and 2.8 us on 2 MiB pages.
 *
 * Why not malloc + madvise: glibc serves blocks below its (dynamic, up to
 * 32 MiB) mmap threshold from heap memory that earlier blocks already
 * faulted in with 4 KiB pages, and advice does not change those. So blocks
 * of VB_HUGE_MIN bytes or more are their own 2 MiB-aligned mappings; smaller
 * ones are malloc'd. Both carry a 64-byte header (so the data stays 64-byte
 * aligned) that tells vb_free which. Every block from vb_* must be released
 * with vb_free and resized with vb_realloc, never free/realloc.
 */
#ifndef STEME_INDEX_VISUAL_BIGALLOC_H
#define STEME_INDEX_VISUAL_BIGALLOC_H

#include <stddef.h>

/* `size` bytes (uninitialised), NULL on failure. */
void *vb_alloc(size_t size);
/* `size` zeroed bytes, NULL on failure. */
void *vb_calloc(size_t size);
/* Resize p (NULL: allocate) keeping min(old, size) bytes; NULL on failure
 * with p untouched. */
void *vb_realloc(void *p, size_t size);
/* Release p (NULL: no-op). */
void vb_free(void *p);

#endif
