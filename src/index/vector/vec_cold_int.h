/*
 * index/vector/vec_cold_int.h - what the store's builder needs from a cold
 * file beyond the public calls: its nodes, one by one, to carry the live
 * ones into the next graph.
 */
#ifndef STEME_INDEX_VEC_COLD_INT_H
#define STEME_INDEX_VEC_COLD_INT_H

#include "steme/vector.h"

/* Nodes in the file, deleted ones included. */
uint64_t cold_node_count(const steme_vector_cold *c);
/* Node i's id and vector (as floats; dim entries into vec). Returns 1 if
 * the node is live, 0 if deleted (outputs then untouched). */
int cold_node_get(const steme_vector_cold *c, uint64_t i, steme_hash *id, float *vec);

/* The body digest of a cold file (see vec_cold_format.h), computed on up
 * to 4 threads. STEME_OK or STEME_E_NOMEM. */
int cold_body_digest(const uint8_t *body, size_t len, uint8_t out[32]);

#endif
