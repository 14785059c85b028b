/* cli/cli_json.h - assertions and votes as JSON lines: the format of
 * `steme export` and `steme import` (docs/cli.md). */
#ifndef STEME_CLI_JSON_H
#define STEME_CLI_JSON_H

#include <jansson.h>
#include <stdio.h>

#include "steme/record.h"

/*
 * One exported line (no trailing newline is missing: each ends in "\n"):
 *   {"type":"assertion","hash":H,"subject":S,"predicate":P,"object":VALUE,
 *    "confidence":C,"source":{"kind":K,"ref":R},"agent":A,"timestamp":T
 *    [,"epoch":N][,"embedding":H][,"phash":"16 hex"][,"signature":"128 hex"]}
 *   {"type":"vote","assertion":H,"voter":A,"weight":W,"timestamp":T
 *    [,"signature":"128 hex"]}
 * VALUE is {"string":S} | {"int":N} | {"float":X} | {"bool":B} | {"bytes":HEX}.
 */
void cli_export_assertion(FILE *f, const steme_hash *h, const steme_assertion *a);
void cli_export_vote(FILE *f, const steme_vote *v);

/* Which record a JSON object is: "type", else guessed from its fields. */
typedef enum cli_json_kind { CLI_JSON_BAD = 0, CLI_JSON_ASSERTION, CLI_JSON_VOTE } cli_json_kind;
cli_json_kind cli_json_kind_of(json_t *j);

/*
 * Build a record from a JSON object. Text and bytes point into j (keep it
 * alive) or into bytes[0..cap) (decoded "bytes" values). *signed_out is 1 when
 * the object carried a signature. "hash" and "type" are not checked here.
 * Returns 0, or -1 with a message in why[0..whycap).
 */
int cli_json_to_assertion(json_t *j, steme_assertion *a, uint8_t *bytes, size_t cap,
                          int *signed_out, char *why, size_t whycap);
int cli_json_to_vote(json_t *j, steme_vote *v, int *signed_out, char *why, size_t whycap);

#endif
