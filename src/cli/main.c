/*
 * main.c - the steme command line: dispatches `steme COMMAND [options]` to
 * the command table. Every command accepts --help; exit codes are listed in
 * cli.h and printed by `steme --help`.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "server/server.h"

static const cli_cmd *const commands[] = {
    &cli_cmd_init,
    &cli_cmd_keygen,
    &cli_cmd_assert,
    &cli_cmd_vote,
    &cli_cmd_get,
    &cli_cmd_list,
    &cli_cmd_query,
    &cli_cmd_votes,
    &cli_cmd_trust,
    &cli_cmd_gold,
    &cli_cmd_pack,
    &cli_cmd_quota,
    &cli_cmd_audit,
    &cli_cmd_escalations,
    &cli_cmd_supersede,
    &cli_cmd_similar,
    &cli_cmd_visual,
    &cli_cmd_import,
    &cli_cmd_export,
    &cli_cmd_verify,
    &cli_cmd_stats,
    &cli_cmd_hash,
    &cli_cmd_serve,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *to)
{
    fprintf(to, "usage: steme COMMAND [options]   (steme COMMAND --help for details)\n\n"
                "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(to, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(to, "\nThe database directory is given by --db DIR or the STEME_DB variable.\n"
                "Every command accepts --json: one JSON object per line (see docs/cli.md).\n"
                "Agents are given as 64 hex digits (the public key) or as a key file.\n\n"
                "exit codes: 0 success, 1 failed or not found, 2 usage error,\n"
                "            3 damage detected, 4 I/O, engine or internal error,\n"
                "            5 refused by the Meter (quota spent)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i]->name) != 0)
            continue;
        for (int a = 2; a < argc; a++)
            if (strcmp(argv[a], "--help") == 0) {
                cli_usage(commands[i], stdout);
                return CLI_OK;
            }
        return commands[i]->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "steme: unknown command '%s' (see steme --help)\n", argv[1]);
    return CLI_USAGE;
}
