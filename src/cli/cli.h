/*
 * cli/cli.h - what the steme command line's files share: the command table,
 * option parsing and output helpers, and the documented exit codes.
 *
 * Exit codes (documented in `steme --help`):
 *   0  success
 *   1  the operation failed or found nothing (e.g. hash not found)
 *   2  usage error: unknown command or option, missing or malformed argument
 *   3  damage detected (verify found a bad checksum or signature)
 *   4  I/O, engine or internal error
 *   5  refused by The Meter (the agent's hourly token budget is spent)
 *
 * Output: human-readable text by default; with --json every command prints
 * JSON lines (one object per line, each line a complete document), also when
 * it lists many things. Errors always go to stderr as "steme CMD: message".
 */
#ifndef STEME_CLI_H
#define STEME_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "steme/types.h"

#define CLI_OK      0
#define CLI_FAIL    1
#define CLI_USAGE   2
#define CLI_DAMAGED 3
#define CLI_ERROR   4
#define CLI_REFUSED 5

typedef struct cli_cmd {
    const char *name;
    const char *summary;
    const char *usage;    /* options, one per line, shown by --help */
    int (*run)(int argc, char **argv);
} cli_cmd;

/*
 * Parsed options: "--name value" pairs and bare "--flag"s, plus positional
 * arguments. `flags` lists the option names that take no value (e.g.
 * "json"); every other --option takes the next argument as its value.
 * STEME_DB in the environment supplies --db when it is not given.
 */
#define CLI_MAX_OPTS 32
#define CLI_MAX_POS 16
typedef struct cli_opts {
    const char *names[CLI_MAX_OPTS];
    const char *values[CLI_MAX_OPTS];  /* NULL for flags */
    int n;
    const char *pos[CLI_MAX_POS];
    int npos;
    int json;                          /* --json given */
    int help;                          /* --help given */
} cli_opts;

/* Parse argv[1..argc); returns CLI_OK or CLI_USAGE (message printed). */
int cli_parse(int argc, char **argv, const char *const *flags, cli_opts *o);
/* Value of --name, or NULL. */
const char *cli_get(const cli_opts *o, const char *name);
/* 1 if --name was given (flag or option). */
int cli_has(const cli_opts *o, const char *name);
/* Check that every given option is in `known` (NULL-terminated). */
int cli_check_known(const cli_opts *o, const char *cmd, const char *const *known);
/* --name as a number; CLI_OK, or CLI_USAGE with a message. */
int cli_get_u64(const cli_opts *o, const char *name, unsigned long long *out, int required);
int cli_get_double(const cli_opts *o, const char *name, double *out, int required);
/* Required string option: prints "missing --name" and returns NULL if absent. */
const char *cli_require(const cli_opts *o, const char *cmd, const char *name);

/* Print "steme CMD: message" to stderr; returns code. */
int cli_fail(int code, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Map a steme status to an exit code. */
int cli_exit_for_status(int status);
/* Print the usage of one command. */
void cli_usage(const cli_cmd *c, FILE *to);

/* JSON string output (escaped, quoted) of len bytes. */
void cli_json_str(FILE *f, const char *s, size_t len);

/* Shortest "%g" form of x that reads back to the same double. */
void cli_print_double(FILE *f, double x);
/* Quoted lowercase hex of n bytes (a JSON string). */
void cli_json_hex(FILE *f, const uint8_t *b, size_t n);
/* Lowercase hex of n bytes into out (capacity >= 2n + 1); returns out. */
char *cli_hex(const uint8_t *b, size_t n, char *out, size_t cap);

/* ---- argument parsing helpers (cli_util.c); each prints its message ---- */

/* Unix milliseconds now. */
uint64_t cli_now_ms(void);
/* --name as Unix ms (digits), default now when absent. CLI_OK or CLI_USAGE. */
int cli_get_time(const cli_opts *o, const char *name, uint64_t *out);
/* 64 hex digits -> hash; CLI_OK or CLI_USAGE. */
int cli_parse_hash(const char *cmd, const char *s, steme_hash *h);
/* 32 hex digits -> 16-byte id; CLI_OK or CLI_USAGE. */
int cli_parse_id16(const char *cmd, const char *s, steme_id16 *id);
/* An agent given as 64 hex digits (its public key) or as the path of its
 * key file (only the public half is used). CLI_OK, CLI_USAGE or an error. */
int cli_parse_agent(const char *cmd, const char *s, steme_agent_id *a);
/* Load a key file (secret and public key); wipe sk when done. */
int cli_load_key(const char *cmd, const char *path, steme_secret_key *sk, steme_agent_id *pk);
/* A fresh random 16-byte id (OS CSPRNG). CLI_OK or CLI_ERROR. */
int cli_random_id16(const char *cmd, steme_id16 *id);
/* Subcommand dispatch: pos[0] must be one of names (NULL-terminated);
 * returns its index, or -1 after printing a usage error. */
int cli_subcommand(const cli_opts *o, const char *cmd, const char *const *names);

/* Commands (cmd_*.c). */
extern const cli_cmd cli_cmd_keygen;
extern const cli_cmd cli_cmd_hash;

#endif
