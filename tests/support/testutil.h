/*
 * tests/support/testutil.h - small helpers shared by steme's tests:
 * temporary directories, a seeded PRNG, and seed selection from the
 * environment (STEME_TEST_SEED) so a failing property run can be replayed.
 */
#ifndef STEME_TESTUTIL_H
#define STEME_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Create a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_tempdir(const char *tag);
/* Remove a directory tree (best effort) and free the path. NULL is a no-op. */
void tu_rmtree_free(char *path);

/* xoshiro256** PRNG; deterministic for a seed. */
typedef struct tu_rng { uint64_t s[4]; } tu_rng;
void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(tu_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t tu_rng_below(tu_rng *r, uint64_t n);
void tu_rng_bytes(tu_rng *r, void *out, size_t n);

/* Seed from $STEME_TEST_SEED if set, else `fallback`; printed to stderr. */
uint64_t tu_seed(uint64_t fallback);

/* Path of a file in the source tree (tests/data/...); malloc'd. */
char *tu_source_path(const char *rel);

#endif
