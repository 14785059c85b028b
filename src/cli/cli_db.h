/* cli/cli_db.h - helpers of the commands that work on a database. */
#ifndef STEME_CLI_DB_H
#define STEME_CLI_DB_H

#include <stdio.h>
#include "steme/db.h"
#include "steme/quota.h"

/* Open --db (required); prints the error and returns an exit code on failure. */
int cli_open_db(const char *cmd, const char *dir, int create, steme_db **db);
/*
 * DIR/sub (into out[cap]), the directory of a node-local index of the local
 * database DIR; refuses a postgres:// URL (usage error naming `route`, the
 * server's endpoint for it) and a directory without a database (CLI_FAIL).
 */
int cli_local_index_dir(const char *cmd, const char *dir, const char *sub, const char *route,
                        char *out, size_t cap);
/* Print "steme CMD: <db's last message>" and return the exit code of status. */
int cli_db_fail(steme_db *db, const char *cmd, int status);
/* Print one assertion (text block, or one JSON line). */
void cli_print_assertion(FILE *f, const steme_hash *h, const steme_assertion *a, int json,
                         const char *sig_status);
void cli_print_value_text(FILE *f, const steme_value *v);
void cli_print_value_json(FILE *f, const steme_value *v);
/* Signature status of a stored assertion: "valid", "unsigned" or "INVALID". */
const char *cli_sig_status(const steme_assertion *a);
/* The object value from --string/--int/--float/--bool/--bytes (exactly one;
 * `bytes` holds decoded --bytes). CLI_OK or CLI_USAGE. */
int cli_parse_value(const cli_opts *o, const char *cmd, steme_value *v, uint8_t *bytes,
                    size_t cap);

/* A trust pack given by its id (32 hex digits) or its (unique) name. */
int cli_resolve_pack(steme_db *db, const char *s, steme_id16 *id);

/*
 * Charge agent's operation to The Meter at now. CLI_OK when allowed;
 * CLI_REFUSED with a message (limit, reset time) when the budget is spent;
 * another exit code on error. Commands that act for an agent (assert,
 * vote) call it before writing, as a server would.
 */
int cli_charge(steme_db *db, const char *cmd, const steme_agent_id *agent, steme_quota_op op,
               size_t payload_bytes, uint64_t now);

extern const struct cli_cmd cli_cmd_init;
extern const struct cli_cmd cli_cmd_assert;
extern const struct cli_cmd cli_cmd_get;
extern const struct cli_cmd cli_cmd_list;
extern const struct cli_cmd cli_cmd_verify;
extern const struct cli_cmd cli_cmd_stats;
extern const struct cli_cmd cli_cmd_vote;
extern const struct cli_cmd cli_cmd_votes;
extern const struct cli_cmd cli_cmd_trust;
extern const struct cli_cmd cli_cmd_gold;
extern const struct cli_cmd cli_cmd_pack;
extern const struct cli_cmd cli_cmd_quota;
extern const struct cli_cmd cli_cmd_audit;
extern const struct cli_cmd cli_cmd_escalations;
extern const struct cli_cmd cli_cmd_supersede;
extern const struct cli_cmd cli_cmd_similar;
extern const struct cli_cmd cli_cmd_visual;
extern const struct cli_cmd cli_cmd_import;
extern const struct cli_cmd cli_cmd_export;
extern const struct cli_cmd cli_cmd_query;

#endif
