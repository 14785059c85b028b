/*
 * vec_cold_digest.c - the cold file's body digest (vec_cold_format.h): a
 * BLAKE3 of the BLAKE3s of its 16 MiB stripes.
 *
 * Why a two-level tree: opening must check every byte, and one BLAKE3 pass
 * runs at ~3 GB/s on one core here, so a 190 MB file (60k x 784 floats)
 * would spend ~60 ms hashing. Stripes are independent, so they are hashed
 * by up to COLD_DIGEST_THREADS threads (one per online CPU): the open cost
 * divides by the cores that are free. Falls back to the calling thread
 * alone when threads cannot be started.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/vector/vec_cold_format.h"
#include "index/vector/vec_cold_int.h"
#include "steme/hash.h"

#define COLD_DIGEST_THREADS 4

typedef struct stripe_job {
    const uint8_t *body;
    size_t len;
    size_t first, step, count;  /* stripes first, first+step, ... < count */
    uint8_t *digests;           /* count x 32 */
} stripe_job;

static void *hash_stripes(void *arg)
{
    stripe_job *j = arg;
    for (size_t s = j->first; s < j->count; s += j->step) {
        size_t off = s * (size_t)COLD_STRIPE_BYTES;
        size_t n = j->len - off < COLD_STRIPE_BYTES ? j->len - off : COLD_STRIPE_BYTES;
        steme_hash h;
        steme_blake3_hash(j->body + off, n, &h);
        memcpy(j->digests + s * 32, h.bytes, 32);
    }
    return NULL;
}

int cold_body_digest(const uint8_t *body, size_t len, uint8_t out[32])
{
    size_t count = (len + COLD_STRIPE_BYTES - 1) / COLD_STRIPE_BYTES;
    uint8_t *digests = malloc(count ? count * 32 : 1);
    if (!digests)
        return STEME_E_NOMEM;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = cpus < 1 ? 1 : (size_t)cpus;
    if (threads > COLD_DIGEST_THREADS)
        threads = COLD_DIGEST_THREADS;
    if (threads > count)
        threads = count ? count : 1;
    stripe_job jobs[COLD_DIGEST_THREADS];
    pthread_t tids[COLD_DIGEST_THREADS];
    int started[COLD_DIGEST_THREADS] = {0};
    for (size_t t = 0; t < threads; t++)
        jobs[t] = (stripe_job){body, len, t, threads, count, digests};
    for (size_t t = 1; t < threads; t++)
        started[t] = pthread_create(&tids[t], NULL, hash_stripes, &jobs[t]) == 0;
    hash_stripes(&jobs[0]);
    for (size_t t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            hash_stripes(&jobs[t]);
    }
    steme_blake3 h;
    steme_blake3_init(&h);
    steme_blake3_update(&h, digests, count * 32);
    steme_blake3_finalize(&h, out, 32);
    free(digests);
    return STEME_OK;
}
