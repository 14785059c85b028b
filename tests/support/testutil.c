/* testutil.c - helpers shared by steme's tests (see testutil.h). */
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_tempdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    if (!path)
        return NULL;
    snprintf(path, n, "%s/steme-%s-XXXXXX", base, tag);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

void tu_rmtree_free(char *path)
{
    if (!path)
        return;
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void tu_rng_seed(tu_rng *r, uint64_t seed)
{
    /* splitmix64 expands the seed into the state */
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        r->s[i] = z ^ (z >> 31);
    }
}

uint64_t tu_rng_next(tu_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tu_rng_below(tu_rng *r, uint64_t n)
{
    return n ? tu_rng_next(r) % n : 0;
}

void tu_rng_bytes(tu_rng *r, void *out, size_t n)
{
    uint8_t *p = out;
    while (n) {
        uint64_t v = tu_rng_next(r);
        size_t k = n < 8 ? n : 8;
        memcpy(p, &v, k);
        p += k; n -= k;
    }
}

uint64_t tu_seed(uint64_t fallback)
{
    const char *e = getenv("STEME_TEST_SEED");
    uint64_t seed = e && *e ? strtoull(e, NULL, 0) : fallback;
    fprintf(stderr, "# seed %llu (replay with STEME_TEST_SEED)\n", (unsigned long long)seed);
    return seed;
}

char *tu_source_path(const char *rel)
{
    const char *root = getenv("STEME_SOURCE_DIR");
#ifdef STEME_SOURCE_DIR
    if (!root) root = STEME_SOURCE_DIR;
#endif
    if (!root) root = ".";
    size_t n = strlen(root) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", root, rel);
    return p;
}
