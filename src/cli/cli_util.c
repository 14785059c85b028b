/* cli_util.c - argument helpers shared by the commands: times, hashes, ids,
 * agents (hex or key file), key files, random ids, subcommands. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cli/cli.h"
#include "steme/keyfile.h"
#include "steme/sign.h"

uint64_t cli_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

int cli_get_time(const cli_opts *o, const char *name, uint64_t *out)
{
    if (!cli_get(o, name)) {
        *out = cli_now_ms();
        return CLI_OK;
    }
    unsigned long long v = 0;
    int rc = cli_get_u64(o, name, &v, 1);
    if (rc == CLI_OK)
        *out = v;
    return rc;
}

static int parse_hex(const char *cmd, const char *what, const char *s, uint8_t *out, size_t n)
{
    steme_error e;
    if (!s || strlen(s) != 2 * n || steme_hex_decode(s, 2 * n, out, n, &e) != STEME_OK)
        return cli_fail(CLI_USAGE, cmd, "%s: expected %zu hex digits, got '%s'", what, 2 * n,
                        s ? s : "");
    return CLI_OK;
}

int cli_parse_hash(const char *cmd, const char *s, steme_hash *h)
{
    return parse_hex(cmd, "hash", s, h->bytes, sizeof h->bytes);
}

int cli_parse_id16(const char *cmd, const char *s, steme_id16 *id)
{
    return parse_hex(cmd, "id", s, id->bytes, sizeof id->bytes);
}

int cli_parse_agent(const char *cmd, const char *s, steme_agent_id *a)
{
    if (!s || !*s)
        return cli_fail(CLI_USAGE, cmd, "missing agent (64 hex digits or a key file)");
    steme_error e;
    if (strlen(s) == 2 * STEME_AGENT_ID_LEN &&
        steme_hex_decode(s, strlen(s), a->bytes, sizeof a->bytes, &e) == STEME_OK)
        return CLI_OK;
    steme_secret_key sk;
    int rc = steme_keyfile_load(s, &sk, a, &e);
    steme_secret_key_wipe(&sk);
    if (rc == STEME_E_NOTFOUND)
        return cli_fail(CLI_USAGE, cmd, "agent '%s': neither 64 hex digits nor a key file", s);
    if (rc != STEME_OK)
        return cli_fail(cli_exit_for_status(rc), cmd, "agent key %s: %s", s, e.message);
    return CLI_OK;
}

int cli_load_key(const char *cmd, const char *path, steme_secret_key *sk, steme_agent_id *pk)
{
    steme_error e;
    int rc = steme_keyfile_load(path, sk, pk, &e);
    if (rc == STEME_OK)
        return CLI_OK;
    return cli_fail(rc == STEME_E_NOTFOUND ? CLI_USAGE : cli_exit_for_status(rc), cmd,
                    "key %s: %s", path, e.message);
}

int cli_random_id16(const char *cmd, steme_id16 *id)
{
    size_t got = 0;
    while (got < sizeof id->bytes) {
        ssize_t n = getrandom(id->bytes + got, sizeof id->bytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return cli_fail(CLI_ERROR, cmd, "getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    return CLI_OK;
}

int cli_subcommand(const cli_opts *o, const char *cmd, const char *const *names)
{
    if (o->npos > 0)
        for (int i = 0; names[i]; i++)
            if (strcmp(o->pos[0], names[i]) == 0)
                return i;
    char list[256] = "";
    for (int i = 0; names[i]; i++) {
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        if (names[i + 1])
            strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    if (o->npos == 0)
        cli_fail(CLI_USAGE, cmd, "missing subcommand: one of %s (see steme %s --help)", list, cmd);
    else
        cli_fail(CLI_USAGE, cmd, "unknown subcommand '%s': one of %s", o->pos[0], list);
    return -1;
}

char *cli_hex(const uint8_t *b, size_t n, char *out, size_t cap)
{
    if (steme_hex_encode(b, n, out, cap) != STEME_OK && cap)
        out[0] = 0;
    return out;
}

void cli_json_hex(FILE *f, const uint8_t *b, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
    fputc('"', f);
}
