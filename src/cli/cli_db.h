/* cli/cli_db.h - helpers of the commands that work on a database. */
#ifndef STEME_CLI_DB_H
#define STEME_CLI_DB_H

#include <stdio.h>
#include "steme/db.h"

/* Open --db (required); prints the error and returns an exit code on failure. */
int cli_open_db(const char *cmd, const char *dir, int create, steme_db **db);
/* Print one assertion (text block, or one JSON line). */
void cli_print_assertion(FILE *f, const steme_hash *h, const steme_assertion *a, int json,
                         const char *sig_status);
/* Signature status of a stored assertion: "valid", "unsigned" or "INVALID". */
const char *cli_sig_status(const steme_assertion *a);

extern const struct cli_cmd cli_cmd_init;
extern const struct cli_cmd cli_cmd_assert;
extern const struct cli_cmd cli_cmd_get;
extern const struct cli_cmd cli_cmd_list;
extern const struct cli_cmd cli_cmd_verify;

#endif
