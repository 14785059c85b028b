/*
 * server/server.h - `steme serve`: the HTTP/JSON API (docs/api.md).
 *
 * The command lives in the `steme` program (src/cli/main.c lists it in its
 * command table); nothing here is part of libsteme.
 */
#ifndef STEME_SERVER_H
#define STEME_SERVER_H

#include "cli/cli.h"

extern const cli_cmd cli_cmd_serve;

#endif
