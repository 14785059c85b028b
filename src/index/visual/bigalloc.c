/*
 * bigalloc.c - large arrays on transparent huge pages (see bigalloc.h).
 *
 * Block layout: [header 64 B][data ...]. The header holds the mapping's
 * start and length (0 for a malloc'd block) and the data size.
 */
#include "index/visual/bigalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Below this a block is malloc'd: huge pages only pay off for arrays read
 * at random places, and a mapping costs a system call. 1 MiB takes in the
 * tables' directories (2 MiB each) and tag columns (1 byte per entry),
 * which every probe reads at random places: with 4 MiB they were on the
 * heap's 4 KiB pages, and moving them made radius-4 queries ~5% faster on
 * the 1M set. A block just over 1 MiB wastes up to one huge page. */
#define VB_HUGE_MIN (1u << 20)
#define VB_HUGE_PAGE ((size_t)2 << 20)
#define VB_HEAD 64u
/* Sanitized builds keep every block on the heap, where AddressSanitizer
 * sees overruns. */
#ifdef STEME_SANITIZED
#define VB_USE_MAPS 0
#else
#define VB_USE_MAPS 1
#endif

typedef struct vb_head {
    void *vh_map;     /* mapping start, or the malloc'd block */
    size_t vh_len;    /* mapping length; 0: malloc'd */
    size_t vh_size;   /* data bytes */
} vb_head;

static void *vb_map(size_t size)
{
    /* Map one huge page more than needed, then trim to a 2 MiB-aligned
     * mapping so that every huge page of the data lies inside it. */
    size_t len = (size + VB_HEAD + VB_HUGE_PAGE - 1) & ~(VB_HUGE_PAGE - 1);
    uint8_t *raw = mmap(NULL, len + VB_HUGE_PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + VB_HUGE_PAGE - 1) & ~(uintptr_t)(VB_HUGE_PAGE - 1);
    uint8_t *base = (uint8_t *)start;
    if (base > raw)
        munmap(raw, (size_t)(base - raw));
    if (raw + len + VB_HUGE_PAGE > base + len)
        munmap(base + len, (size_t)(raw + len + VB_HUGE_PAGE - (base + len)));
#ifdef MADV_HUGEPAGE
    /* Advice only: without huge pages the arrays still work. */
    (void)madvise(base, len, MADV_HUGEPAGE);
#endif
    vb_head *h = (vb_head *)base;
    h->vh_map = base;
    h->vh_len = len;
    h->vh_size = size;
    return base + VB_HEAD;
}

void *vb_alloc(size_t size)
{
    if (size > SIZE_MAX - VB_HEAD - 2 * VB_HUGE_PAGE)
        return NULL;
    if (VB_USE_MAPS && size >= VB_HUGE_MIN)
        return vb_map(size);
    uint8_t *raw = NULL;
    if (posix_memalign((void **)&raw, VB_HEAD, size + VB_HEAD) != 0)
        return NULL;
    vb_head *h = (vb_head *)raw;
    h->vh_map = raw;
    h->vh_len = 0;
    h->vh_size = size;
    return raw + VB_HEAD;
}

void *vb_calloc(size_t size)
{
    void *p = vb_alloc(size);
    /* Fresh mappings are zero already. */
    if (p && ((const vb_head *)((uint8_t *)p - VB_HEAD))->vh_len == 0)
        memset(p, 0, size);
    return p;
}

void *vb_realloc(void *p, size_t size)
{
    if (!p)
        return vb_alloc(size);
    const vb_head *h = (const vb_head *)((uint8_t *)p - VB_HEAD);
    void *n = vb_alloc(size);
    if (!n)
        return NULL;
    memcpy(n, p, h->vh_size < size ? h->vh_size : size);
    vb_free(p);
    return n;
}

void vb_free(void *p)
{
    if (!p)
        return;
    vb_head *h = (vb_head *)((uint8_t *)p - VB_HEAD);
    if (h->vh_len)
        munmap(h->vh_map, h->vh_len);
    else
        free(h->vh_map);
}
